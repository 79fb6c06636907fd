//! Password hashing, access and refresh tokens, and the ended-session set:
//! the secrets-handling pieces, kept apart from the rules that use them.

pub mod activity;
pub mod ended;
pub mod password;
pub mod refresh;
pub mod token;
