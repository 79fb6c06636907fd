//! conduit-gateway: one GraphQL endpoint for the Conduit publishing platform.
//!
//! Data flows down one way: `http` → `graphql` → `domain` → `entity`; nothing
//! below knows about what is above it.

/// The server binary's global allocator.
pub mod allocator;
/// Password hashing, access and refresh tokens, ended sessions.
pub mod auth;
/// Settings from flags and the environment.
pub mod config;
/// Connecting to SQLite or PostgreSQL and migrating it.
pub mod db;
/// The `documents` command: trusted documents in and out of the database.
pub mod documents;
/// The rules: validation, authorization, transactions. No GraphQL, no HTTP.
pub mod domain;
/// The event bus: in-process, or PostgreSQL LISTEN/NOTIFY across instances.
pub mod events;
/// The GraphQL schema: types, resolvers, errors, limits.
pub mod graphql;
/// The axum router: GraphQL over HTTP, GraphiQL, health checks, middleware.
pub mod http;
/// Work after the response: the outbox and its worker.
pub mod jobs;
/// The query budget per caller: per instance, or shared through Redis.
pub mod limits;
/// Sending email over SMTP: the transport and the messages.
pub mod mail;
/// Counters about the service itself, for `/metrics`.
pub mod metrics;
/// Requests that leave the building: one HTTP client, the address rule.
pub mod outbound;
/// Deterministic demo data: the `seed` command and `serve --demo`.
pub mod seed;
/// Building the application and running it until it is told to stop.
pub mod startup;
/// Structured logs with `tracing`.
pub mod telemetry;
