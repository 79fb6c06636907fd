//! The worker: claims due jobs after commit, runs each in the transaction
//! that deletes it, retries failures with backoff, and parks what keeps
//! failing. Woken at once by `JobsQueued` events (which PostgreSQL carries
//! from every instance), with polling as the fallback.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};

use super::{Job, outbox};
use crate::domain::notifications::{
    self, ARTICLE_FAVORITED, NEW_ARTICLE, NEW_COMMENT, NEW_FOLLOWER, NewNotification,
};
use crate::domain::{Result, begin_write, sql, time};
use crate::events::{Event, EventBus};

/// Followers notified per run of a fan-out job: one multi-row statement.
pub const FAN_OUT_BATCH: i64 = 1_000;
/// Runs before a job is parked.
pub const MAX_ATTEMPTS: i32 = 10;
/// Notifications named per event (PostgreSQL NOTIFY carries 8000 bytes).
const NOTIFICATIONS_PER_EVENT: usize = 200;

#[derive(Clone)]
pub struct Worker {
    db: DatabaseConnection,
    events: EventBus,
    poll: Duration,
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
        Self { db, events, poll }
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
        let lock = match txn.get_database_backend() {
            DbBackend::Postgres => " FOR UPDATE SKIP LOCKED",
            _ => "",
        };
        let rows = sql::query_all(
            &txn,
            &format!(
                "SELECT id, payload, attempts FROM outbox WHERE parked_at IS NULL AND run_at <= ? \
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

        let result = match serde_json::from_str::<Job>(&payload) {
            Ok(job) => execute(&txn, &job).await,
            Err(error) => Err(anyhow::anyhow!("unreadable job payload: {error}").into()),
        };
        match result {
            Ok(done) => {
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

/// What a job did: the notifications it wrote and the jobs that continue it.
#[derive(Default)]
struct Done {
    notified: Vec<(i64, i64)>,
    follow_ups: Vec<Job>,
}

async fn execute(txn: &impl ConnectionTrait, job: &Job) -> Result<Done> {
    match *job {
        Job::NotifyFollower {
            follower_id,
            followee_id,
        } => {
            // Unfollowed before the job ran: nothing to tell.
            let still = sql::count(
                txn,
                "SELECT COUNT(*) FROM follows WHERE follower_id = ? AND followee_id = ?",
                vec![follower_id.into(), followee_id.into()],
            )
            .await?;
            let notified = if still > 0 {
                notifications::insert(
                    txn,
                    &[NewNotification {
                        recipient_id: followee_id,
                        actor_id: follower_id,
                        kind: NEW_FOLLOWER,
                        article_id: None,
                        comment_id: None,
                        dedupe_key: format!("follow:{follower_id}:{followee_id}"),
                    }],
                )
                .await?
            } else {
                Vec::new()
            };
            Ok(Done {
                notified,
                ..Done::default()
            })
        }
        Job::NotifyFavorite {
            user_id,
            article_id,
        } => {
            let author = author_of(txn, article_id).await?;
            let notified = match author {
                Some(author_id) if author_id != user_id => {
                    notifications::insert(
                        txn,
                        &[NewNotification {
                            recipient_id: author_id,
                            actor_id: user_id,
                            kind: ARTICLE_FAVORITED,
                            article_id: Some(article_id),
                            comment_id: None,
                            dedupe_key: format!("favorite:{user_id}:{article_id}"),
                        }],
                    )
                    .await?
                }
                _ => Vec::new(),
            };
            Ok(Done {
                notified,
                ..Done::default()
            })
        }
        Job::NotifyComment { comment_id } => {
            let rows = sql::query_all(
                txn,
                "SELECT c.author_id AS actor, c.article_id, a.author_id AS recipient \
                 FROM comments c JOIN articles a ON a.id = c.article_id WHERE c.id = ?",
                vec![comment_id.into()],
            )
            .await?;
            let mut notified = Vec::new();
            if let Some(row) = rows.first() {
                let (actor, article_id, recipient): (i64, i64, i64) = (
                    row.try_get("", "actor")?,
                    row.try_get("", "article_id")?,
                    row.try_get("", "recipient")?,
                );
                if actor != recipient {
                    notified = notifications::insert(
                        txn,
                        &[NewNotification {
                            recipient_id: recipient,
                            actor_id: actor,
                            kind: NEW_COMMENT,
                            article_id: Some(article_id),
                            comment_id: Some(comment_id),
                            dedupe_key: format!("comment:{comment_id}"),
                        }],
                    )
                    .await?;
                }
            }
            Ok(Done {
                notified,
                ..Done::default()
            })
        }
        Job::FanOutNewArticle {
            article_id,
            after_follower,
        } => {
            let Some(author_id) = author_of(txn, article_id).await? else {
                return Ok(Done::default());
            };
            let rows = sql::query_all(
                txn,
                &format!(
                    "SELECT follower_id FROM follows WHERE followee_id = ? AND follower_id > ? \
                     ORDER BY follower_id LIMIT {FAN_OUT_BATCH}"
                ),
                vec![author_id.into(), after_follower.into()],
            )
            .await?;
            let followers: Vec<i64> = rows
                .iter()
                .map(|row| row.try_get("", "follower_id"))
                .collect::<std::result::Result<_, _>>()?;
            let batch: Vec<NewNotification> = followers
                .iter()
                .map(|&follower| NewNotification {
                    recipient_id: follower,
                    actor_id: author_id,
                    kind: NEW_ARTICLE,
                    article_id: Some(article_id),
                    comment_id: None,
                    dedupe_key: format!("article:{article_id}:{follower}"),
                })
                .collect();
            let notified = notifications::insert(txn, &batch).await?;
            let follow_ups = match followers.last() {
                Some(&last) if followers.len() as i64 == FAN_OUT_BATCH => {
                    vec![Job::FanOutNewArticle {
                        article_id,
                        after_follower: last,
                    }]
                }
                _ => Vec::new(),
            };
            Ok(Done {
                notified,
                follow_ups,
            })
        }
    }
}

async fn author_of(txn: &impl ConnectionTrait, article_id: i64) -> Result<Option<i64>> {
    let rows = sql::query_all(
        txn,
        "SELECT author_id FROM articles WHERE id = ?",
        vec![article_id.into()],
    )
    .await?;
    rows.first()
        .map(|row| Ok(row.try_get("", "author_id")?))
        .transpose()
}
