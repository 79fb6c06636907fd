//! Password guessing is slow: attempts at a secret (`signIn`; a password
//! reset later) are counted per account and per client address, and after
//! `max_failures` of them within a window every further attempt is
//! RATE_LIMITED until the window ends, the right password included (as the
//! OWASP Authentication Cheat Sheet describes account lockout).
//!
//! The counts are rows in `sign_in_failures`, so every instance on one
//! database counts together. An account is named by its normalized email
//! whether or not it exists, so the answers say nothing about which
//! accounts do.
//!
//! # Implementation notes
//! An attempt is counted before its password is checked and taken back if
//! the password was right: counted after, a burst of parallel guesses would
//! all be checked before any of them counted. The count is one upsert for
//! all of an attempt's keys (one round trip, atomic per row on SQLite and
//! PostgreSQL alike), which also starts a new window for a key whose window
//! has ended; a new window deletes the rows of the windows that ended, so
//! the table holds about the keys of one window.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::sign_in_failure;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, Value};

use super::{Error, Result, sql, time};
use crate::limits::ClientAddress;

/// How many failures, within how long.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub max_failures: u32,
    pub window: Duration,
}

/// What attempts are counted against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// An account, by its normalized email (see `validate::email`).
    Account(String),
    /// A client address.
    Address(ClientAddress),
}

impl Key {
    fn text(&self) -> String {
        match self {
            Key::Account(email) => format!("account:{email}"),
            Key::Address(address) => format!("address:{address}"),
        }
    }
}

/// An attempt that was counted and may go on.
#[must_use = "an attempt that succeeded must be taken back"]
pub struct Attempt {
    keys: Vec<String>,
}

#[derive(FromQueryResult)]
struct Counted {
    failures: i32,
    window_started_at: DateTime<Utc>,
}

/// Counts one attempt against every key.
///
/// # Errors
/// RATE_LIMITED, with the seconds left of the longest window that is
/// locked, when any key has had `max_failures` already.
pub async fn attempt(db: &impl ConnectionTrait, policy: Policy, keys: &[Key]) -> Result<Attempt> {
    attempt_at(db, policy, keys, time::now()).await
}

async fn attempt_at(
    db: &impl ConnectionTrait,
    policy: Policy,
    keys: &[Key],
    now: DateTime<Utc>,
) -> Result<Attempt> {
    let window = chrono::Duration::from_std(policy.window)
        .map_err(|error| Error::Internal(anyhow::Error::new(error)))?;
    let ended = now - window;
    let keys: Vec<String> = keys.iter().map(Key::text).collect();
    let mut values: Vec<Value> = Vec::with_capacity(keys.len() * 2 + 2);
    for key in &keys {
        values.push(key.clone().into());
        values.push(now.into());
    }
    values.push(ended.into());
    values.push(ended.into());
    let rows = vec!["(?, 1, ?)"; keys.len()].join(", ");
    let statement = sql::statement(
        db.get_database_backend(),
        &format!(
            "INSERT INTO sign_in_failures (key, failures, window_started_at) VALUES {rows} \
             ON CONFLICT (key) DO UPDATE SET \
             failures = CASE WHEN sign_in_failures.window_started_at <= ? THEN 1 \
                        ELSE sign_in_failures.failures + 1 END, \
             window_started_at = CASE WHEN sign_in_failures.window_started_at <= ? \
                        THEN excluded.window_started_at \
                        ELSE sign_in_failures.window_started_at END \
             RETURNING failures, window_started_at"
        ),
        values,
    );
    let counted = Counted::find_by_statement(statement).all(db).await?;
    if counted.iter().any(|row| row.failures == 1) {
        forget_ended(db, ended).await?;
    }
    let locked_until = counted
        .iter()
        .filter(|row| i64::from(row.failures) > i64::from(policy.max_failures))
        .map(|row| row.window_started_at + window)
        .max();
    match locked_until {
        Some(until) => {
            let left = (until - now).to_std().unwrap_or_default();
            Err(Error::RateLimited {
                message: "too many failed attempts: try again later".into(),
                retry_after_secs: crate::limits::whole_seconds(left).max(1),
            })
        }
        None => Ok(Attempt { keys }),
    }
}

impl Attempt {
    /// The secret was right: this attempt is not a failure.
    pub async fn succeeded(self, db: &impl ConnectionTrait) -> Result<()> {
        sign_in_failure::Entity::update_many()
            .col_expr(
                sign_in_failure::Column::Failures,
                sea_orm::sea_query::ExprTrait::sub(Expr::col(sign_in_failure::Column::Failures), 1),
            )
            .filter(sign_in_failure::Column::Key.is_in(self.keys))
            .filter(sign_in_failure::Column::Failures.gt(0))
            .exec(db)
            .await?;
        Ok(())
    }
}

/// Deletes the rows whose window ended.
async fn forget_ended(db: &impl ConnectionTrait, ended: DateTime<Utc>) -> Result<()> {
    sign_in_failure::Entity::delete_many()
        .filter(sign_in_failure::Column::WindowStartedAt.lte(ended))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectOptions, Database, PaginatorTrait as _};

    use super::*;

    async fn database() -> sea_orm::DatabaseConnection {
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1).sqlx_logging(false);
        let db = Database::connect(options).await.expect("a database");
        crate::db::migrate(&db).await.expect("migrated");
        db
    }

    const POLICY: Policy = Policy {
        max_failures: 2,
        window: Duration::from_secs(60),
    };

    fn retry_after(result: Result<Attempt>) -> u64 {
        match result {
            Err(Error::RateLimited {
                retry_after_secs, ..
            }) => retry_after_secs,
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("not locked"),
        }
    }

    #[tokio::test]
    async fn a_lock_lasts_the_rest_of_the_window_then_a_new_one_starts() {
        let db = database().await;
        let alice = [Key::Account("alice@example.com".into())];
        let t0 = time::now();
        let seconds = |n| t0 + chrono::Duration::seconds(n);
        let _ = attempt_at(&db, POLICY, &alice, t0).await.unwrap();
        let _ = attempt_at(&db, POLICY, &alice, seconds(20)).await.unwrap();
        // The window started with the first failure: 60 - 45 s are left.
        assert_eq!(
            retry_after(attempt_at(&db, POLICY, &alice, seconds(45)).await),
            15
        );
        assert_eq!(
            retry_after(attempt_at(&db, POLICY, &alice, seconds(59)).await),
            1
        );
        // Past it, a new window, whatever was tried during the lock.
        let _ = attempt_at(&db, POLICY, &alice, seconds(60)).await.unwrap();
    }

    #[tokio::test]
    async fn ended_windows_are_deleted_as_new_ones_start() {
        let db = database().await;
        let t0 = time::now();
        for n in 0..50 {
            let key = [Key::Account(format!("user{n}@example.com"))];
            let _ = attempt_at(&db, POLICY, &key, t0).await.unwrap();
        }
        assert_eq!(
            sign_in_failure::Entity::find().count(&db).await.unwrap(),
            50
        );
        let later = t0 + chrono::Duration::seconds(61);
        let bob = [Key::Account("bob@example.com".into())];
        let _ = attempt_at(&db, POLICY, &bob, later).await.unwrap();
        assert_eq!(sign_in_failure::Entity::find().count(&db).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_success_takes_its_attempt_back() {
        let db = database().await;
        let keys = [
            Key::Account("alice@example.com".into()),
            Key::Address(ClientAddress::new([192, 0, 2, 1].into())),
        ];
        for _ in 0..5 {
            attempt(&db, POLICY, &keys)
                .await
                .unwrap()
                .succeeded(&db)
                .await
                .unwrap();
        }
        let _ = attempt(&db, POLICY, &keys).await.unwrap();
        let _ = attempt(&db, POLICY, &keys).await.unwrap();
        assert!(retry_after(attempt(&db, POLICY, &keys).await) > 0);
    }
}
