//! The outbox: what the domain's writes leave to do after they commit,
//! written inside the caller's transaction, and how much of it waits.
//!
//! # Implementation notes
//! The queue's primitives live here, below the domain's actions, and not in
//! `jobs`: the actions (`articles`, `comments`, `profiles`) queue jobs, and
//! the jobs run domain code, so with `Job` and `enqueue` in `jobs` the two
//! layers imported each other. Now `domain` says *what* is queued and knows
//! nothing of how it runs; `jobs` (above it, beside `graphql`) says what
//! each job does and runs them.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Value};
use serde::{Deserialize, Serialize};

use super::{Result, sql, time};

/// A job and its arguments; stored as JSON in `outbox.payload`. What each
/// one does is `jobs::handlers`' business.
///
/// The variants are stored by name: rename one and the jobs queued under
/// the old name no longer read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Job {
    /// A follow: NEW_FOLLOWER for the followed user, USER_FOLLOWED for
    /// their webhooks.
    NotifyFollower { follower_id: i64, followee_id: i64 },
    /// A favorite: ARTICLE_FAVORITED for the article's author and for
    /// their webhooks.
    NotifyFavorite { user_id: i64, article_id: i64 },
    /// A comment: NEW_COMMENT for the article's author, COMMENT_ADDED for
    /// their webhooks.
    NotifyComment { comment_id: i64 },
    /// A new article: NEW_ARTICLE for every follower of the author, one
    /// batch per run (the next batch is a new job starting after the last
    /// follower done); the first batch also queues ARTICLE_PUBLISHED for
    /// the author's webhooks.
    FanOutNewArticle {
        article_id: i64,
        after_follower: i64,
    },
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::NotifyFollower { .. } => "NotifyFollower",
            Job::NotifyFavorite { .. } => "NotifyFavorite",
            Job::NotifyComment { .. } => "NotifyComment",
            Job::FanOutNewArticle { .. } => "FanOutNewArticle",
        }
    }
}

/// Queues `jobs` in the caller's transaction: they exist exactly when the
/// change that causes them commits.
pub async fn enqueue(txn: &impl ConnectionTrait, jobs: &[Job]) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let now = time::now();
    let mut values: Vec<Value> = Vec::with_capacity(jobs.len() * 4);
    for job in jobs {
        let payload = serde_json::to_string(job).map_err(anyhow::Error::from)?;
        values.extend([job.kind().into(), payload.into(), now.into(), now.into()]);
    }
    sql::execute(
        txn,
        &format!(
            "INSERT INTO outbox (kind, payload, attempts, run_at, created_at) VALUES {}",
            vec!["(?, ?, 0, ?, ?)"; jobs.len()].join(", ")
        ),
        values,
    )
    .await?;
    Ok(())
}

/// How much work is waiting: for `/readyz`, `/metrics` and the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Depth {
    /// Jobs waiting to run (not parked).
    pub pending: i64,
    /// Jobs that failed too often and wait for a person.
    pub parked: i64,
    /// Seconds the oldest pending job has waited.
    pub oldest_age_seconds: i64,
}

pub async fn depth(db: &impl ConnectionTrait) -> Result<Depth> {
    let rows = sql::query_all(
        db,
        "SELECT \
           SUM(CASE WHEN parked_at IS NULL THEN 1 ELSE 0 END) AS pending, \
           SUM(CASE WHEN parked_at IS NULL THEN 0 ELSE 1 END) AS parked, \
           MIN(CASE WHEN parked_at IS NULL THEN created_at END) AS oldest \
         FROM outbox",
        vec![],
    )
    .await?;
    let Some(row) = rows.first() else {
        return Ok(Depth::default());
    };
    let pending: Option<i64> = row.try_get("", "pending")?;
    let parked: Option<i64> = row.try_get("", "parked")?;
    let oldest: Option<DateTime<Utc>> = row.try_get("", "oldest").ok().flatten();
    Ok(Depth {
        pending: pending.unwrap_or(0),
        parked: parked.unwrap_or(0),
        oldest_age_seconds: oldest.map_or(0, |at| (time::now() - at).num_seconds().max(0)),
    })
}
