//! The mail runner: claims due emails (`domain::emails`), renders and
//! sends each through the SMTP server, and records what came of it. Beside
//! the job worker, like webhook deliveries: a slow SMTP server holds no
//! transaction and no job, and delays no notification.
//!
//! A message the server refuses for good (5xx: no such mailbox) is logged,
//! counted and not tried again; anything else is retried with the webhook
//! backoff (`--webhook-retry-ms`, doubling, jittered) until
//! `--webhook-max-attempts`, then logged and counted as failed. A runner
//! that dies mid-send leaves its claims to run out (at least once).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt as _;
use rand::Rng as _;
use sea_orm::DatabaseConnection;

use super::deliveries::{Settings, backoff};
use crate::domain::{Result, emails, password_resets};
use crate::events::EventBus;
use crate::mail::{Mailer, SendError};
use crate::metrics::{MailOutcome, Metrics};

/// Emails taken per claim, and sent at once.
const BATCH: u64 = 16;
const CONCURRENCY: usize = 4;
/// How long a claim holds an email: one SMTP conversation and then some.
const LEASE: Duration = Duration::from_secs(120);

pub struct MailRunner {
    db: DatabaseConnection,
    mailer: Mailer,
    settings: Settings,
    events: EventBus,
    metrics: Arc<Metrics>,
}

impl MailRunner {
    pub fn new(
        db: DatabaseConnection,
        mailer: Mailer,
        settings: Settings,
        events: EventBus,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            db,
            mailer,
            settings,
            events,
            metrics,
        }
    }

    /// Sends until `shutdown` completes; woken by any event (a reset asked
    /// for, notifications written), polling as the fallback.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut wakeups = self.events.subscribe();
        loop {
            let claimed = tokio::select! {
                () = &mut shutdown => return,
                claimed = self.run_once() => claimed,
            };
            match claimed {
                Ok(n) if n as u64 >= BATCH => continue,
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(error = ?error, "the mail runner cannot reach the database")
                }
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.settings.poll) => {}
                _ = wakeups.recv() => {}
            }
        }
    }

    /// Claims and sends one batch; how many it claimed.
    pub async fn run_once(&self) -> Result<usize> {
        let due = emails::claim(&self.db, BATCH, LEASE).await?;
        let count = due.len();
        futures_util::stream::iter(due)
            .for_each_concurrent(CONCURRENCY, |email| async move {
                if let Err(error) = self.send(&email).await {
                    tracing::error!(error = ?error, email = email.id, "cannot record an email's outcome");
                }
            })
            .await;
        Ok(count)
    }

    async fn send(&self, email: &emails::Due) -> Result<()> {
        let sent = match email.kind.as_str() {
            emails::PASSWORD_RESET => {
                let address = email.address.as_deref().unwrap_or_default();
                match password_resets::account_with(&self.db, address).await? {
                    // No account has this address: nothing is sent, and
                    // the request that asked said the same as for one.
                    None => return self.finish(email, MailOutcome::NoRecipient).await,
                    Some(user) => {
                        let token = password_resets::issue(&self.db, user.id).await?;
                        self.mailer
                            .send_password_reset(&user.email, &user.username, &token)
                            .await
                    }
                }
            }
            _ => match email.notification_id {
                Some(id) => match emails::notification_mail(&self.db, id).await? {
                    Some(mail) => self.mailer.send_notification(&mail).await,
                    None => return self.finish(email, MailOutcome::NoRecipient).await,
                },
                None => return self.finish(email, MailOutcome::NoRecipient).await,
            },
        };
        match sent {
            Ok(()) => self.finish(email, MailOutcome::Sent).await,
            Err(SendError::Refused(reason)) => {
                tracing::warn!(email = email.id, kind = email.kind, %reason, "the mail server refused an email; not retried");
                self.metrics.record_mail(MailOutcome::Refused);
                emails::failed(&self.db, email.id, &reason).await
            }
            Err(SendError::Transient(reason)) => {
                let attempts = u32::try_from(email.attempts).unwrap_or(u32::MAX);
                if attempts >= self.settings.max_attempts {
                    tracing::warn!(email = email.id, kind = email.kind, attempts, %reason, "an email failed for good");
                    self.metrics.record_mail(MailOutcome::Failed);
                    return emails::failed(&self.db, email.id, &reason).await;
                }
                self.metrics.record_mail(MailOutcome::Retrying);
                let wait = backoff(&self.settings, attempts, rand::rng().random::<f64>());
                let next = Utc::now()
                    + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::MAX);
                emails::retry_at(&self.db, email.id, next, &reason).await
            }
        }
    }

    async fn finish(&self, email: &emails::Due, outcome: MailOutcome) -> Result<()> {
        self.metrics.record_mail(outcome);
        emails::done(&self.db, email.id).await
    }
}
