//! Writing jobs (inside the caller's transaction) and reading the queue.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Value};

use super::Job;
use crate::domain::{Result, sql, time};

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
