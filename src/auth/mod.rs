//! Password hashing and bearer tokens: the two secrets-handling pieces, kept
//! apart from the rules that use them.

pub mod password;
pub mod token;
