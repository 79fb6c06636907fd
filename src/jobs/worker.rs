//! The worker: claims due jobs after commit, runs each (as `handlers`
//! says) in the transaction that deletes it, retries failures with
//! backoff, and parks what keeps failing. Woken at once by `JobsQueued`
//! events (which PostgreSQL carries from every instance), with polling as
//! the fallback.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::{Job, handlers};
use crate::domain::{Result, begin_write, outbox, sql, time};
use crate::events::{Event, EventBus};

pub use handlers::FAN_OUT_BATCH;
/// Runs before a job is parked.
pub const MAX_ATTEMPTS: i32 = 10;
/// Notifications named per event (PostgreSQL NOTIFY carries 8000 bytes).
const NOTIFICATIONS_PER_EVENT: usize = 200;

#[derive(Clone)]
pub struct Worker {
    db: DatabaseConnection,
    events: EventBus,
    poll: Duration,
    /// Whether notifications are also emailed (an SMTP server is set).
    mailing: bool,
}

/// What one step of the worker did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A job ran (and is gone) or failed (and waits for its retry).
    Ran,
    /// Nothing is due.
    Idle,
}

impl Worker {
    pub fn new(db: DatabaseConnection, events: EventBus, poll: Duration) -> Self {
        Self {
            db,
            events,
            poll,
            mailing: false,
        }
    }

    /// Queues an email for each notification whose recipient wants them.
    pub fn mailing(mut self) -> Self {
        self.mailing = true;
        self
    }

    /// Runs jobs until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut wakeups = self.events.subscribe();
        loop {
            // Drain everything due, then wait for a wake-up or the poll.
            loop {
                tokio::select! {
                    () = &mut shutdown => return,
                    outcome = self.run_once() => match outcome {
                        Ok(Outcome::Ran) => continue,
                        Ok(Outcome::Idle) => break,
                        Err(error) => {
                            tracing::error!(error = ?error, "the job worker cannot reach the database");
                            break;
                        }
                    },
                }
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.poll) => {}
                event = wakeups.recv() => {
                    // Any event may mean work (and a lagged receiver surely
                    // does): look at the queue either way.
                    let _ = event;
                }
            }
        }
    }

    /// Claims one due job and runs it.
    ///
    /// # Implementation notes
    /// The job runs in the transaction that claimed it and deletes it, so
    /// its writes and its removal commit together. On PostgreSQL the claim
    /// is `FOR UPDATE SKIP LOCKED`, so instances share the queue without
    /// waiting on each other; SQLite has one writer at a time anyway.
    pub async fn run_once(&self) -> Result<Outcome> {
        let txn = begin_write(&self.db).await?;
        let lock = sql::skip_locked(txn.get_database_backend(), None);
        let rows = sql::query_all(
            &txn,
            &format!(
                "SELECT id, payload, attempts, created_at FROM outbox WHERE parked_at IS NULL AND run_at <= ? \
                 ORDER BY run_at, id LIMIT 1{lock}"
            ),
            vec![time::now().into()],
        )
        .await?;
        let Some(row) = rows.first() else {
            txn.commit().await?;
            return Ok(Outcome::Idle);
        };
        let id: i64 = row.try_get("", "id")?;
        let payload: String = row.try_get("", "payload")?;
        let attempts: i32 = row.try_get("", "attempts")?;
        let queued_at: DateTime<Utc> = row.try_get("", "created_at")?;

        let result = match serde_json::from_str::<Job>(&payload) {
            Ok(job) => handlers::execute(&txn, &job, queued_at).await,
            Err(error) => Err(anyhow::anyhow!("unreadable job payload: {error}").into()),
        };
        match result {
            Ok(done) => {
                if self.mailing {
                    crate::domain::emails::queue_notifications(&txn, &done.notified).await?;
                }
                sql::execute(&txn, "DELETE FROM outbox WHERE id = ?", vec![id.into()]).await?;
                outbox::enqueue(&txn, &done.follow_ups).await?;
                txn.commit().await?;
                for chunk in done.notified.chunks(NOTIFICATIONS_PER_EVENT) {
                    self.events
                        .publish(Event::NotificationsCreated {
                            notifications: chunk.to_vec(),
                        })
                        .await;
                }
                if !done.follow_ups.is_empty() {
                    self.events.publish(Event::JobsQueued).await;
                }
                if done.deliveries > 0 {
                    self.events.publish(Event::DeliveriesQueued).await;
                }
            }
            Err(error) => {
                txn.rollback().await?;
                self.retry_later(id, attempts + 1, &error).await?;
            }
        }
        Ok(Outcome::Ran)
    }

    /// Backs a failed job off exponentially; parks it after `MAX_ATTEMPTS`.
    async fn retry_later(
        &self,
        id: i64,
        attempts: i32,
        error: &crate::domain::Error,
    ) -> Result<()> {
        let message: String = format!("{error:?}").chars().take(2_000).collect();
        if attempts >= MAX_ATTEMPTS {
            tracing::error!(job = id, attempts, error = %message, "job failed too often; parked for a person to look at");
            sql::execute(
                &self.db,
                "UPDATE outbox SET attempts = ?, last_error = ?, parked_at = ? WHERE id = ?",
                vec![
                    attempts.into(),
                    message.into(),
                    time::now().into(),
                    id.into(),
                ],
            )
            .await?;
        } else {
            let backoff = chrono::Duration::seconds(2i64.pow(attempts.clamp(0, 12) as u32));
            tracing::warn!(job = id, attempts, error = %message, retry_in_s = backoff.num_seconds(), "job failed; will retry");
            sql::execute(
                &self.db,
                "UPDATE outbox SET attempts = ?, last_error = ?, run_at = ? WHERE id = ?",
                vec![
                    attempts.into(),
                    message.into(),
                    (time::now() + backoff).into(),
                    id.into(),
                ],
            )
            .await?;
        }
        Ok(())
    }
}
