//! The webhook delivery runner: claims due deliveries, sends each (signed
//! as Standard Webhooks says) through the one outbound client, and records
//! every attempt. It runs beside the job worker, not inside it: an attempt
//! may take the whole timeout, and holds no transaction, no database
//! connection and no job while it waits.
//!
//! Concurrency is bounded twice: at most `concurrency` deliveries held in
//! all, and at most `per_endpoint` in flight to any one webhook. A webhook
//! whose deliveries are all in flight is left out of the next claim, so a
//! slow or dead endpoint fills its own slots and nobody else's.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng as _;
use sea_orm::DatabaseConnection;
use tokio::sync::{broadcast, mpsc};

use super::signature;
use crate::domain::time;
use crate::domain::webhooks::deliveries::{self, Attempt, Claimed, Next, Recorded};
use crate::events::{Delivery, Event, EventBus};
use crate::metrics::{AttemptOutcome, Metrics};
use crate::outbound::{Answered, HttpClient, NoAnswer};

/// The longest wait between two attempts, however many came before.
const BACKOFF_MAX: Duration = Duration::from_secs(6 * 3600);

/// How deliveries are sent and retried.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// One attempt, connecting to the answer.
    pub timeout: Duration,
    /// The wait after the first failed attempt; it doubles after each.
    pub first_retry: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Deliveries this runner holds at once.
    pub concurrency: usize,
    /// Deliveries in flight to one webhook at once.
    pub per_endpoint: usize,
    /// The longest the runner sleeps without looking at the table.
    pub poll: Duration,
}

impl Settings {
    /// How long a claim holds a delivery: an attempt may wait for its
    /// webhook's slot (one attempt's time at most, since a webhook is never
    /// claimed for more than it can run at once) and then take the whole
    /// timeout, plus room for recording it. A runner that dies holds its
    /// deliveries this long at most.
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(5)
    }
}

/// When the next attempt is, after attempt number `attempts` (1-based)
/// failed: `first_retry` doubled per attempt before, capped, jittered
/// down by up to half (`jitter` in 0..1) so that deliveries which failed
/// together do not all come back together.
pub fn backoff(settings: &Settings, attempts: u32, jitter: f64) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    let full = settings
        .first_retry
        .saturating_mul(1u32 << doublings)
        .min(BACKOFF_MAX);
    full.mul_f64(1.0 - jitter.clamp(0.0, 1.0) / 2.0)
}

/// What an attempt's result means for the delivery: 2xx is done, 410 is
/// done for good, anything else is tried again (after the receiver's
/// `Retry-After` on 429 and 503, else the backoff) until the attempts run
/// out.
pub fn judge(
    settings: &Settings,
    result: &Result<Answered, NoAnswer>,
    attempts: u32,
    jitter: f64,
) -> Attempt {
    let (status, error) = match result {
        Ok(answered) => (
            Some(answered.status),
            (!(200..300).contains(&answered.status))
                .then(|| format!("answered {}", answered.status)),
        ),
        Err(no_answer) => (None, Some(no_answer.to_string())),
    };
    let next = match result {
        Ok(answered) if (200..300).contains(&answered.status) => Next::Succeeded,
        Ok(answered) if answered.status == 410 => Next::Gone,
        _ if attempts >= settings.max_attempts => Next::Failed,
        result => {
            let wait = match result {
                Ok(Answered {
                    retry_after: Some(wait),
                    ..
                }) => *wait,
                _ => backoff(settings, attempts, jitter),
            };
            Next::RetryAt(time::now() + chrono::Duration::from_std(wait).unwrap_or_default())
        }
    };
    Attempt {
        status,
        error,
        next,
    }
}

/// One webhook's deliveries that this runner holds.
#[derive(Default)]
struct Endpoint {
    in_flight: usize,
    waiting: VecDeque<Claimed>,
}

pub struct Runner {
    db: DatabaseConnection,
    client: HttpClient,
    settings: Settings,
    metrics: Arc<Metrics>,
    events: EventBus,
}

impl Runner {
    /// A runner woken by `DeliveriesQueued` events (which the job worker
    /// and redeliveries publish, on PostgreSQL from every instance).
    pub fn new(
        db: DatabaseConnection,
        events: EventBus,
        client: HttpClient,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            db,
            client,
            settings,
            metrics,
            events,
        }
    }

    /// Delivers until `shutdown` completes; then lets the attempts in
    /// flight finish (within the timeout) and hands back what it held
    /// unsent.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut wakeups = self.events.subscribe();
        let settings = self.settings;
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<i64>();
        let mut endpoints: HashMap<i64, Endpoint> = HashMap::new();
        let mut held = 0usize;
        // Claim in batches: waiting for a quarter of the slots to free up
        // costs nothing in latency under load and saves a statement per
        // delivery.
        let batch = (settings.concurrency / 4).max(1);
        loop {
            while let Ok(webhook_id) = done_rx.try_recv() {
                held -= 1;
                self.finished(&mut endpoints, webhook_id, &done_tx);
            }
            let room = settings.concurrency - held;
            let mut claimed_all = false;
            if room >= batch || (held == 0 && room > 0) {
                let busy: Vec<i64> = endpoints
                    .iter()
                    .filter(|(_, e)| e.in_flight + e.waiting.len() >= settings.per_endpoint)
                    .map(|(&id, _)| id)
                    .collect();
                match deliveries::claim(
                    &self.db,
                    room,
                    settings.per_endpoint,
                    &busy,
                    settings.lease(),
                )
                .await
                {
                    Ok(claimed) => {
                        claimed_all = claimed.len() == room;
                        held += claimed.len();
                        for delivery in claimed {
                            let webhook_id = delivery.webhook_id;
                            endpoints
                                .entry(webhook_id)
                                .or_default()
                                .waiting
                                .push_back(delivery);
                            self.start_waiting(&mut endpoints, webhook_id, &done_tx);
                        }
                    }
                    Err(error) => {
                        tracing::error!(error = ?error, "the webhook runner cannot claim deliveries");
                    }
                }
            }
            if claimed_all {
                continue;
            }
            let wait = self.until_next_due().await;
            tokio::select! {
                () = &mut shutdown => break,
                () = queued(&mut wakeups) => {}
                Some(webhook_id) = done_rx.recv() => {
                    held -= 1;
                    self.finished(&mut endpoints, webhook_id, &done_tx);
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
        // Stopping: what waits for a slot goes back to the table for any
        // runner; what is in flight gets its timeout to finish.
        let unsent: Vec<Claimed> = endpoints
            .values_mut()
            .flat_map(|endpoint| endpoint.waiting.drain(..))
            .collect();
        held -= unsent.len();
        if let Err(error) = deliveries::release(&self.db, &unsent).await {
            tracing::warn!(error = ?error, "cannot hand back unsent webhook deliveries; their lease will run out");
        }
        let deadline = tokio::time::Instant::now() + settings.timeout + Duration::from_secs(1);
        while held > 0 {
            match tokio::time::timeout_at(deadline, done_rx.recv()).await {
                Ok(Some(_)) => held -= 1,
                _ => break,
            }
        }
    }

    /// How long to sleep when nothing can be claimed now: until the next
    /// delivery is due, at most the poll interval; the poll interval when
    /// a due delivery could not be claimed (its webhook is busy: a slot
    /// freeing up wakes the runner).
    async fn until_next_due(&self) -> Duration {
        match deliveries::next_due(&self.db).await {
            Ok(Some(at)) => {
                let now = Utc::now();
                if at > now {
                    (at - now)
                        .to_std()
                        .unwrap_or_default()
                        .min(self.settings.poll)
                } else {
                    self.settings.poll
                }
            }
            Ok(None) => self.settings.poll,
            Err(error) => {
                tracing::error!(error = ?error, "the webhook runner cannot reach the database");
                self.settings.poll
            }
        }
    }

    fn finished(
        &self,
        endpoints: &mut HashMap<i64, Endpoint>,
        webhook_id: i64,
        done: &mpsc::UnboundedSender<i64>,
    ) {
        if let Some(endpoint) = endpoints.get_mut(&webhook_id) {
            endpoint.in_flight -= 1;
        }
        self.start_waiting(endpoints, webhook_id, done);
    }

    /// Starts what waits for `webhook_id` while it has free slots.
    fn start_waiting(
        &self,
        endpoints: &mut HashMap<i64, Endpoint>,
        webhook_id: i64,
        done: &mpsc::UnboundedSender<i64>,
    ) {
        let Some(endpoint) = endpoints.get_mut(&webhook_id) else {
            return;
        };
        while endpoint.in_flight < self.settings.per_endpoint {
            let Some(delivery) = endpoint.waiting.pop_front() else {
                break;
            };
            endpoint.in_flight += 1;
            let (db, client, settings, metrics, done) = (
                self.db.clone(),
                self.client.clone(),
                self.settings,
                Arc::clone(&self.metrics),
                done.clone(),
            );
            tokio::spawn(async move {
                attempt(&db, &client, &settings, &metrics, &delivery).await;
                let _ = done.send(delivery.webhook_id);
            });
        }
        if endpoint.in_flight == 0 && endpoint.waiting.is_empty() {
            endpoints.remove(&webhook_id);
        }
    }
}

/// Until the bus says deliveries were queued (or that this subscriber fell
/// behind, and so may have missed it).
async fn queued(wakeups: &mut broadcast::Receiver<Delivery>) {
    loop {
        match wakeups.recv().await {
            Ok(delivery) if delivery.event == Event::DeliveriesQueued => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

/// Sends one delivery once and records what came of it.
#[tracing::instrument(skip_all, fields(delivery = delivery.id, webhook = delivery.webhook_id))]
async fn attempt(
    db: &DatabaseConnection,
    client: &HttpClient,
    settings: &Settings,
    metrics: &Metrics,
    delivery: &Claimed,
) {
    // The timestamp is the attempt's own: receivers refuse old ones (five
    // minutes, in the reference libraries), and a retry may come hours
    // after the first attempt.
    let timestamp = Utc::now().timestamp();
    let Some(signature) = signature::sign(
        &delivery.secret,
        &delivery.message_id,
        timestamp,
        &delivery.payload,
    ) else {
        tracing::error!("a webhook's secret is not whsec_ and base64; nothing sent");
        return;
    };
    let headers = [
        ("webhook-id", delivery.message_id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ];
    let started = Instant::now();
    let result = client
        .post_json(&delivery.url, &headers, delivery.payload.clone())
        .await;
    let took = started.elapsed();
    let attempts = u32::try_from(delivery.attempts).unwrap_or(0) + 1;
    let outcome = judge(settings, &result, attempts, rand::rng().random());
    let outcome_label = match deliveries::record(db, delivery, &outcome).await {
        Ok(Recorded::Succeeded) => AttemptOutcome::Succeeded,
        Ok(Recorded::Retrying) => AttemptOutcome::Retrying,
        Ok(Recorded::Stale) => AttemptOutcome::Stale,
        Ok(Recorded::Failed { disabled }) => {
            // The one log line of a delivery that failed for good.
            tracing::warn!(
                message_id = %delivery.message_id,
                attempts,
                status = outcome.status,
                error = outcome.error.as_deref().unwrap_or(""),
                webhook_disabled = disabled.unwrap_or("no"),
                "webhook delivery failed for good"
            );
            AttemptOutcome::Failed
        }
        Err(error) => {
            // Unrecorded: the lease runs out and the delivery is sent again.
            tracing::error!(error = ?error, "cannot record a webhook delivery attempt");
            AttemptOutcome::Stale
        }
    };
    metrics.record_webhook_attempt(outcome_label, took);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            timeout: Duration::from_secs(10),
            first_retry: Duration::from_secs(5),
            max_attempts: 10,
            concurrency: 64,
            per_endpoint: 8,
            poll: Duration::from_secs(1),
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let s = settings();
        assert_eq!(backoff(&s, 1, 0.0), Duration::from_secs(5));
        assert_eq!(backoff(&s, 2, 0.0), Duration::from_secs(10));
        assert_eq!(backoff(&s, 4, 0.0), Duration::from_secs(40));
        assert_eq!(backoff(&s, 4, 1.0), Duration::from_secs(20));
        assert_eq!(backoff(&s, 60, 0.0), BACKOFF_MAX);
    }

    #[test]
    fn answers_decide_what_comes_next() {
        let s = settings();
        let answered = |status, retry_after| {
            Ok(Answered {
                status,
                retry_after,
            })
        };
        assert_eq!(
            judge(&s, &answered(204, None), 1, 0.5).next,
            Next::Succeeded
        );
        assert_eq!(judge(&s, &answered(410, None), 1, 0.5).next, Next::Gone);
        assert_eq!(judge(&s, &answered(500, None), 10, 0.5).next, Next::Failed);
        let timeout = judge(&s, &Err(NoAnswer::Timeout), 1, 0.0);
        assert_eq!(timeout.status, None);
        assert!(matches!(timeout.next, Next::RetryAt(_)));
        // Retry-After wins over the backoff.
        let before = time::now();
        let Next::RetryAt(at) =
            judge(&s, &answered(429, Some(Duration::from_secs(2))), 1, 0.0).next
        else {
            panic!("429 is retried");
        };
        let wait = at - before;
        assert!(wait >= chrono::Duration::seconds(2) && wait < chrono::Duration::seconds(3));
        assert_eq!(
            judge(&s, &answered(302, None), 1, 0.0).error.as_deref(),
            Some("answered 302")
        );
    }
}
