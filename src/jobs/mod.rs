//! Work after the response, in two kinds of runner:
//!
//! - `worker` runs the outbox's jobs (rows written by `domain::outbox` in
//!   the same transaction as the change that causes them): it claims one,
//!   runs it in the transaction that deletes it, and retries failures.
//!   What each job does is written once, in `handlers`.
//! - `deliveries` sends webhook deliveries (rows the jobs write) to the
//!   outside world, concurrently and apart from the worker: a slow
//!   endpoint holds no transaction, no database connection and no job.
//!
//! # Implementation notes
//! The layers run one way: `domain` says what is queued and owns every
//! query, `jobs` sits above it (beside `graphql`) and runs things. Before,
//! `Job` and `enqueue` lived here while the domain queued jobs and the
//! worker ran domain code: each layer imported the other. Both runners are
//! crash-safe the same way: a row stays until its work has committed (a
//! job) or its outcome is recorded (a delivery, whose lease runs out if
//! its runner dies), so a `kill -9` at any point loses nothing, and work
//! may run twice; everything it does is idempotent or deduplicated.

pub mod deliveries;
pub mod handlers;
pub mod mail;
pub mod signature;
pub mod worker;

pub use crate::domain::outbox::Job;
