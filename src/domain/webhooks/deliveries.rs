//! Deliveries: one event for one webhook, with every attempt recorded.
//!
//! The runner (`jobs::deliveries`) claims due deliveries by moving their
//! `next_attempt_at` to the end of a lease, sends them with no transaction
//! open, and records the outcome only if the lease is still its own. A
//! runner that dies mid-attempt leaves the lease to run out: the delivery
//! is due again and another runner sends it (at least once; receivers drop
//! duplicates by `webhook-id`, the same on every attempt).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::webhook_delivery;
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult, Value};

use super::super::pagination::{Order, Page, PageRequest};
use super::super::sql::{self, KeyNames, Keyset};
use super::super::{ById, Result, begin_write, time};
use super::{FAILED, PENDING, SUCCEEDED};

/// A webhook whose every attempt has failed for this long is disabled.
pub const DISABLE_AFTER_FAILING_FOR: chrono::Duration = chrono::Duration::hours(24);

/// A delivery a runner holds until `lease` (its `next_attempt_at`), with
/// what sending it takes.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: i64,
    pub webhook_id: i64,
    pub message_id: String,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i32,
    pub url: String,
    pub secret: String,
    /// Whether the webhook's last attempt failed (a success then resets it).
    pub webhook_failing: bool,
    pub lease: DateTime<Utc>,
}

/// What comes after an attempt, as the runner judged its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Answered 2xx.
    Succeeded,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// No more attempts (out of them).
    Failed,
    /// 410 Gone: FAILED, and the webhook is disabled.
    Gone,
}

/// One attempt: the status it was answered with, if any, what went wrong,
/// and what comes next.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub next: Next,
}

/// What recording an attempt did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The lease was no longer this runner's (redelivered, deleted, or
    /// taken over after it ran out): nothing written.
    Stale,
    Succeeded,
    Retrying,
    /// FAILED for good; `disabled` says why the webhook was switched off,
    /// when this failure did it.
    Failed {
        disabled: Option<&'static str>,
    },
}

/// Claims up to `limit` due deliveries of active webhooks not in
/// `skip_webhooks`, at most `per_webhook` of any one webhook, leasing each
/// until now + `lease`.
///
/// # Implementation notes
/// One statement: `UPDATE ... WHERE id IN (...) RETURNING`. The inner
/// select walks the partial index `idx_webhook_deliveries_due` (its
/// `status = 'PENDING'` is written out so the planner can match it) for a
/// window of the soonest due rows, numbers them per webhook and keeps the
/// first `per_webhook` of each, round-robin across webhooks: one webhook's
/// backlog cannot fill a claim meant for all of them. On PostgreSQL the
/// window's rows are taken `FOR UPDATE SKIP LOCKED`, so runners on several
/// instances take disjoint rows without waiting on each other; SQLite has
/// one writer at a time anyway.
pub async fn claim(
    db: &DatabaseConnection,
    limit: usize,
    per_webhook: usize,
    skip_webhooks: &[i64],
    lease: Duration,
) -> Result<Vec<Claimed>> {
    if limit == 0 || per_webhook == 0 {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let now = time::now();
    let until = now + chrono::Duration::from_std(lease).map_err(anyhow::Error::from)?;
    let mut values: Vec<Value> = vec![until.into(), now.into(), true.into()];
    let mut skip = String::new();
    if !skip_webhooks.is_empty() {
        let (busy, busy_values) = sql::any_of(backend, "d.webhook_id", skip_webhooks);
        skip = format!(" AND NOT ({busy})");
        values.extend(busy_values);
    }
    let lock = sql::skip_locked(backend, Some("d"));
    let window = (limit * 4).clamp(limit, 2_000);
    let rows = sql::query_all(
        db,
        &format!(
            "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id IN (\
               SELECT id FROM (\
                 SELECT due.id, ROW_NUMBER() OVER (\
                   PARTITION BY due.webhook_id ORDER BY due.next_attempt_at, due.id) AS n \
                 FROM (\
                   SELECT d.id, d.webhook_id, d.next_attempt_at \
                   FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
                   WHERE d.status = 'PENDING' AND d.next_attempt_at <= ? AND w.active = ?{skip} \
                   ORDER BY d.next_attempt_at, d.id LIMIT {window}{lock}) due\
               ) ranked WHERE n <= {per_webhook} ORDER BY n, id LIMIT {limit}) \
             RETURNING id, webhook_id, message_id, payload, attempts"
        ),
        values,
    )
    .await?;
    leased(db, rows, until).await
}

/// Claims up to `limit` due deliveries of one active webhook, soonest
/// first, leasing each until now + `lease`: how the runner keeps an
/// endpoint it already serves supplied, reading that webhook's own queue
/// (`idx_webhook_deliveries_queue`) and no one else's.
///
/// # Implementation notes
/// `webhook_id BETWEEN ? AND ?` and `ORDER BY d.webhook_id, ...` mean
/// `webhook_id = ?` and `ORDER BY next_attempt_at, id`, but leave the
/// planner one index that gives this order: with the equality, PostgreSQL
/// took the webhook as a constant, walked `idx_webhook_deliveries_due`
/// instead and read past another webhook's 1,000 due rows on every claim
/// (EXPLAIN ANALYZE, "Rows Removed by Filter: 1000"), which cost the fast
/// receiver beside a slow one a quarter of its rate.
pub async fn claim_for_webhook(
    db: &DatabaseConnection,
    webhook_id: i64,
    limit: usize,
    lease: Duration,
) -> Result<Vec<Claimed>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let now = time::now();
    let until = now + chrono::Duration::from_std(lease).map_err(anyhow::Error::from)?;
    let lock = sql::skip_locked(db.get_database_backend(), None);
    let rows = sql::query_all(
        db,
        &format!(
            "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id IN (\
               SELECT d.id FROM webhook_deliveries d \
               WHERE d.webhook_id BETWEEN ? AND ? AND d.status = 'PENDING' AND d.next_attempt_at <= ? \
                 AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id AND w.active = ?) \
               ORDER BY d.webhook_id, d.next_attempt_at, d.id LIMIT {limit}{lock}) \
             RETURNING id, webhook_id, message_id, payload, attempts"
        ),
        vec![
            until.into(),
            webhook_id.into(),
            webhook_id.into(),
            now.into(),
            true.into(),
        ],
    )
    .await?;
    leased(db, rows, until).await
}

/// The claimed rows with their webhooks' URL and secret, in id order.
async fn leased(
    db: &DatabaseConnection,
    rows: Vec<sea_orm::QueryResult>,
    until: DateTime<Utc>,
) -> Result<Vec<Claimed>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut webhook_ids: Vec<i64> = rows
        .iter()
        .map(|row| row.try_get("", "webhook_id"))
        .collect::<std::result::Result<_, _>>()?;
    webhook_ids.sort_unstable();
    webhook_ids.dedup();
    let webhooks = super::by_ids(db, &webhook_ids).await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let webhook_id: i64 = row.try_get("", "webhook_id")?;
        // Deleted between the claim and this read: its deliveries are gone.
        let Some(webhook) = webhooks.get(&webhook_id) else {
            continue;
        };
        claimed.push(Claimed {
            id: row.try_get("", "id")?,
            webhook_id,
            message_id: row.try_get("", "message_id")?,
            payload: row.try_get("", "payload")?,
            attempts: row.try_get("", "attempts")?,
            url: webhook.url.clone(),
            secret: webhook.secret.clone(),
            webhook_failing: webhook.consecutive_failures > 0,
            lease: until,
        });
    }
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// Hands claimed deliveries back unsent (a runner stopping): due again at
/// once, for another runner.
pub async fn release(db: &impl ConnectionTrait, claimed: &[Claimed]) -> Result<()> {
    for delivery in claimed {
        sql::execute(
            db,
            "UPDATE webhook_deliveries SET next_attempt_at = ? \
             WHERE id = ? AND status = 'PENDING' AND next_attempt_at = ?",
            vec![
                time::now().into(),
                delivery.id.into(),
                delivery.lease.into(),
            ],
        )
        .await?;
    }
    Ok(())
}

/// Records one attempt of a claimed delivery, and what it says of its
/// webhook: a success clears the webhook's failures; a failure counts,
/// and 410 Gone or a day of nothing but failures disables the webhook.
pub async fn record(
    db: &DatabaseConnection,
    delivery: &Claimed,
    attempt: &Attempt,
) -> Result<Recorded> {
    let (status, next_at) = match attempt.next {
        Next::Succeeded => {
            let answered = attempt.status.unwrap_or(200);
            let recorded = record_successes(db, &[(delivery, answered)]).await?;
            return Ok(if recorded.contains(&delivery.id) {
                Recorded::Succeeded
            } else {
                Recorded::Stale
            });
        }
        Next::RetryAt(at) => (PENDING, Some(at)),
        Next::Failed | Next::Gone => (FAILED, None),
    };
    let error: Option<String> = attempt
        .error
        .as_ref()
        .map(|e| e.chars().take(2_000).collect());
    let txn = begin_write(db).await?;
    let changed = sql::execute(
        &txn,
        "UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, \
         last_response_status = ?, last_error = ?, next_attempt_at = ? \
         WHERE id = ? AND status = 'PENDING' AND next_attempt_at = ?",
        vec![
            status.into(),
            attempt.status.map(i32::from).into(),
            error.into(),
            next_at.into(),
            delivery.id.into(),
            delivery.lease.into(),
        ],
    )
    .await?;
    if changed == 0 {
        txn.rollback().await?;
        return Ok(Recorded::Stale);
    }
    let now = time::now();
    sql::execute(
        &txn,
        "UPDATE webhooks SET consecutive_failures = consecutive_failures + 1, \
         failing_since = COALESCE(failing_since, ?) WHERE id = ?",
        vec![now.into(), delivery.webhook_id.into()],
    )
    .await?;
    let disabled = if attempt.next == Next::Gone {
        let reason = "the endpoint answered 410 Gone";
        let changed = sql::execute(
            &txn,
            "UPDATE webhooks SET active = ?, disabled_reason = ?, updated_at = ? WHERE id = ? AND active = ?",
            vec![
                false.into(),
                reason.into(),
                now.into(),
                delivery.webhook_id.into(),
                true.into(),
            ],
        )
        .await?;
        (changed > 0).then_some(reason)
    } else {
        let reason = "every delivery failed for 24 hours";
        let changed = sql::execute(
            &txn,
            "UPDATE webhooks SET active = ?, disabled_reason = ?, updated_at = ? \
             WHERE id = ? AND active = ? AND failing_since <= ?",
            vec![
                false.into(),
                reason.into(),
                now.into(),
                delivery.webhook_id.into(),
                true.into(),
                (now - DISABLE_AFTER_FAILING_FOR).into(),
            ],
        )
        .await?;
        (changed > 0).then_some(reason)
    };
    txn.commit().await?;
    Ok(match status {
        PENDING => Recorded::Retrying,
        _ => Recorded::Failed { disabled },
    })
}

/// Records attempts that were answered 2xx, with the status each got, and
/// answers the ids recorded; the others' leases were no longer their
/// runner's (as in `record`). Successes of webhooks that were failing
/// clear their failures.
///
/// # Implementation notes
/// One `UPDATE ... RETURNING id` per (status, lease) pair, so usually one
/// for the whole batch: every delivery of one claim shares its lease, and
/// receivers answer one status. One statement, one commit, where a
/// delivery each cost the runner half its rate to one fast receiver.
pub async fn record_successes(
    db: &DatabaseConnection,
    answered: &[(&Claimed, u16)],
) -> Result<HashSet<i64>> {
    let mut groups: HashMap<(u16, DateTime<Utc>), Vec<i64>> = HashMap::new();
    for (delivery, status) in answered {
        groups
            .entry((*status, delivery.lease))
            .or_default()
            .push(delivery.id);
    }
    let backend = db.get_database_backend();
    let mut recorded = HashSet::with_capacity(answered.len());
    for ((status, lease), ids) in groups {
        let (ids_in, ids_values) = sql::any_of(backend, "id", &ids);
        let mut values: Vec<Value> = vec![SUCCEEDED.into(), i32::from(status).into()];
        values.extend(ids_values);
        values.push(lease.into());
        let rows = sql::query_all(
            db,
            &format!(
                "UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, \
                 last_response_status = ?, last_error = NULL, next_attempt_at = NULL \
                 WHERE {ids_in} AND status = 'PENDING' AND next_attempt_at = ? RETURNING id"
            ),
            values,
        )
        .await?;
        for row in rows {
            recorded.insert(row.try_get::<i64>("", "id")?);
        }
    }
    let mut recovered: Vec<i64> = answered
        .iter()
        .filter(|(d, _)| d.webhook_failing && recorded.contains(&d.id))
        .map(|(d, _)| d.webhook_id)
        .collect();
    recovered.sort_unstable();
    recovered.dedup();
    if !recovered.is_empty() {
        let (ids_in, values) = sql::any_of(backend, "id", &recovered);
        sql::execute(
            db,
            &format!(
                "UPDATE webhooks SET consecutive_failures = 0, failing_since = NULL WHERE {ids_in}"
            ),
            values,
        )
        .await?;
    }
    Ok(recorded)
}

/// Queues a delivery again, as a new PENDING series (attempts from 0) with
/// the same message id; only the webhook's owner may. A delivery of a
/// paused or disabled webhook waits until it is active again.
///
/// # Errors
/// NOT_FOUND for no such delivery, FORBIDDEN for anyone but the owner.
#[tracing::instrument(skip_all, fields(user_id, delivery_id))]
pub async fn redeliver(
    db: &DatabaseConnection,
    user_id: i64,
    delivery_id: i64,
) -> Result<webhook_delivery::Model> {
    let txn = begin_write(db).await?;
    let rows = sql::query_all(
        &txn,
        "SELECT w.owner_id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
         WHERE d.id = ?",
        vec![delivery_id.into()],
    )
    .await?;
    let Some(row) = rows.first() else {
        return Err(super::super::Error::NotFound("no such delivery".into()));
    };
    let owner: i64 = row.try_get("", "owner_id")?;
    if owner != user_id {
        return Err(super::forbidden());
    }
    sql::execute(
        &txn,
        "UPDATE webhook_deliveries SET status = ?, attempts = 0, last_response_status = NULL, \
         last_error = NULL, next_attempt_at = ? WHERE id = ?",
        vec![PENDING.into(), time::now().into(), delivery_id.into()],
    )
    .await?;
    let rows = sql::query_all(
        &txn,
        "SELECT * FROM webhook_deliveries WHERE id = ?",
        vec![delivery_id.into()],
    )
    .await?;
    let delivery = rows
        .first()
        .map(|row| webhook_delivery::Model::from_query_result(row, ""))
        .transpose()?
        .ok_or_else(|| anyhow::anyhow!("delivery {delivery_id} vanished inside a redelivery"))?;
    txn.commit().await?;
    Ok(delivery)
}

/// A webhook's deliveries, newest first.
const BY_WEBHOOK: Keyset<'static> = Keyset {
    columns: "d.id, d.webhook_id, d.message_id, d.event, d.payload, d.status, d.attempts, \
              d.last_response_status, d.last_error, d.next_attempt_at, d.created_at",
    keys: KeyNames {
        sort_at: "created_at",
        sort_id: "id",
        parent_id: "webhook_id",
    },
    from: "webhook_deliveries d",
    sort_at: "d.created_at",
    sort_id: "d.id",
    item: "d",
};

/// The same page of each webhook's delivery log.
pub async fn pages_by_webhook(
    db: &impl crate::db::Reader,
    webhook_ids: &[i64],
    page: &PageRequest,
) -> Result<ById<Page<webhook_delivery::Model>>> {
    BY_WEBHOOK
        .pages_per_parent(db, "d.webhook_id", webhook_ids, Order::NewestFirst, page)
        .await
}

pub async fn count(db: &impl ConnectionTrait, webhook_id: i64) -> Result<i64> {
    sql::count(
        db,
        "SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = ?",
        vec![webhook_id.into()],
    )
    .await
}

/// The deliveries among `ids` of webhooks `owner_id` owns; for anyone else
/// they do not exist.
pub async fn owned_by_ids(
    db: &impl ConnectionTrait,
    owner_id: i64,
    ids: &[i64],
) -> Result<ById<webhook_delivery::Model>> {
    if ids.is_empty() {
        return Ok(ById::default());
    }
    let (ids_in, mut values) = sql::any_of(db.get_database_backend(), "d.id", ids);
    values.push(owner_id.into());
    let rows = sql::query_all(
        db,
        &format!(
            "SELECT d.* FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE {ids_in} AND w.owner_id = ?"
        ),
        values,
    )
    .await?;
    Ok(sql::by_id(
        <webhook_delivery::Model as sql::Rows>::from_rows(&rows)?,
        |d| d.id,
    ))
}

/// The deliveries waiting, for `/readyz` and `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Backlog {
    /// PENDING deliveries, whether due, waiting for a retry or in flight.
    pub pending: i64,
    /// Seconds the oldest PENDING delivery has existed.
    pub oldest_age_seconds: i64,
}

pub async fn backlog(db: &impl ConnectionTrait) -> Result<Backlog> {
    let rows = sql::query_all(
        db,
        "SELECT COUNT(*) AS pending, MIN(created_at) AS oldest FROM webhook_deliveries \
         WHERE status = 'PENDING'",
        vec![],
    )
    .await?;
    let Some(row) = rows.first() else {
        return Ok(Backlog::default());
    };
    let pending: i64 = row.try_get("", "pending")?;
    let oldest: Option<DateTime<Utc>> = row.try_get("", "oldest").ok().flatten();
    Ok(Backlog {
        pending,
        oldest_age_seconds: oldest.map_or(0, |at| (time::now() - at).num_seconds().max(0)),
    })
}

/// When the next PENDING delivery of an active webhook (or a lease) is
/// due, if any.
pub async fn next_due(db: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>> {
    let rows = sql::query_all(
        db,
        "SELECT d.next_attempt_at FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
         WHERE d.status = 'PENDING' AND w.active = ? ORDER BY d.next_attempt_at LIMIT 1",
        vec![true.into()],
    )
    .await?;
    Ok(match rows.first() {
        Some(row) => row.try_get("", "next_attempt_at")?,
        None => None,
    })
}
