//! The rules of Conduit: validation, authorization, transactions, and what
//! happens on each action. Functions take `&impl ConnectionTrait`, so the same
//! code runs on the pool and inside a transaction. No GraphQL, no HTTP here.

pub mod articles;
pub mod comments;
pub mod emails;
pub mod error;
pub mod global_ids;
pub mod lockout;
pub mod notifications;
pub mod outbox;
pub mod pagination;
pub mod password_resets;
pub mod profiles;
pub mod sessions;
pub mod settings;
pub mod slugs;
pub(crate) mod sql;
pub mod tags;
pub mod time;
pub mod totals;
pub mod trusted_documents;
pub mod users;
pub mod validate;
pub mod webhooks;

pub use error::{Error, FieldErrors, Result};
pub use sql::Seen;

/// Rows or answers by id, as the loaders ask for them. FxHash rather than
/// SipHash: the ids come out of the database, a batch holds at most 1,000,
/// and SipHash on them was a few percent of a deep query.
pub type ById<V> = rustc_hash::FxHashMap<i64, V>;
/// Ids, as the viewer-flag reads return them (see `ById`).
pub type IdSet = rustc_hash::FxHashSet<i64>;

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

/// Starts a transaction for a write.
///
/// # Implementation notes
/// On SQLite the transaction takes the write lock at `BEGIN IMMEDIATE`: a
/// deferred transaction that reads first and writes later can find another
/// writer in its way and fail at once with "database is locked", which the
/// busy timeout does not cover. PostgreSQL ignores the SQLite mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction> {
    Ok(db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?)
}
