//! The webhook delivery runner: claims due deliveries, sends each (signed
//! as Standard Webhooks says) through the one outbound client, and records
//! every attempt. It runs beside the job worker, not inside it: an attempt
//! may take the whole timeout, and holds no transaction, no database
//! connection and no job while it waits.
//!
//! Concurrency is bounded twice: at most `concurrency` deliveries held in
//! all, and at most `per_endpoint` in flight to any one webhook. A webhook
//! the runner holds enough of is left out of the general claim and
//! supplied from its own queue, so a slow or dead endpoint fills its own
//! slots and nobody else's, and its backlog is not read to find others'.

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
    /// webhook's slot (one attempt's time at most, since no more than twice
    /// a webhook's slots are held: one round in flight, one waiting) and
    /// then take the whole
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
    /// Sent (or failed to be) but not yet recorded: still held.
    unrecorded: usize,
    /// The last claim of its deliveries came back full: its queue may
    /// hold more that are due.
    more: bool,
    /// A claim of its own queue is out.
    claiming: bool,
}

impl Endpoint {
    /// Deliveries that are to be sent or are being sent.
    fn unanswered(&self) -> usize {
        self.in_flight + self.waiting.len()
    }
}

/// What attempts and claims tell the runner's loop, which awaits nothing
/// but these: a claim or a record never holds up the start of an attempt.
enum Signal {
    /// A receiver answered (or did not, in time) one of this webhook's
    /// deliveries: its slot is free.
    Answered(i64),
    /// An attempt of this webhook's is recorded: the runner holds it no
    /// more.
    Recorded(i64),
    /// A claim came back, for `asked` slots set aside when it went out: a
    /// refill of one webhook's queue, or (`webhook: None`) the general
    /// claim, with how long to wait before the next one when it was not
    /// full.
    Claimed {
        webhook: Option<i64>,
        asked: usize,
        result: crate::domain::Result<Vec<Claimed>>,
        look_again: Duration,
    },
}

/// One attempt's result, on its way to be recorded.
struct Answer {
    delivery: Claimed,
    attempt: Attempt,
    took: Duration,
}

/// Where attempts and claims report.
#[derive(Clone)]
struct Reports {
    signals: mpsc::UnboundedSender<Signal>,
    answers: mpsc::UnboundedSender<Answer>,
}

pub struct Runner {
    db: DatabaseConnection,
    client: HttpClient,
    settings: Settings,
    metrics: Arc<Metrics>,
    events: EventBus,
}

/// What the runner holds, by webhook.
#[derive(Default)]
struct Held {
    endpoints: HashMap<i64, Endpoint>,
    /// Deliveries held (claimed and not yet recorded) and slots set aside
    /// for claims that are out.
    total: usize,
    general_claim_out: bool,
    /// Shutting down: nothing new is sent.
    stopping: bool,
}

impl Held {
    fn claims_out(&self) -> bool {
        self.general_claim_out || self.endpoints.values().any(|e| e.claiming)
    }
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
    ///
    /// # Implementation notes
    /// Two kinds of claim, each a task of its own. The general one looks
    /// at every webhook's due deliveries (leaving out the webhooks this
    /// runner already keeps busy); it runs at start, when the bus says
    /// deliveries were queued, when the last one came back full, and else
    /// when the next delivery falls due (at most `poll` apart). Between
    /// them, a webhook whose last claim came back full is kept supplied
    /// from its own queue: up to twice its slots are held (a round in
    /// flight, a round waiting), topped up when a quarter are free. So a
    /// busy endpoint costs one short indexed claim per few deliveries,
    /// however long another webhook's backlog is, and its slots never wait
    /// for the database. Attempts are recorded by one task, in batches
    /// (`record_all`).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut wakeups = self.events.subscribe();
        let settings = self.settings;
        let (signals_tx, mut signals) = mpsc::unbounded_channel::<Signal>();
        let (answers_tx, answered) = mpsc::unbounded_channel::<Answer>();
        tokio::spawn(record_all(
            self.db.clone(),
            Arc::clone(&self.metrics),
            answered,
            signals_tx.clone(),
        ));
        let reports = Reports {
            signals: signals_tx,
            answers: answers_tx,
        };
        let mut held = Held::default();
        // Claim in batches: waiting for a quarter of the slots to free up
        // costs nothing in latency under load and saves a statement per
        // delivery.
        let batch = (settings.concurrency / 4).max(1);
        let mut look_at = tokio::time::Instant::now();
        loop {
            while let Ok(signal) = signals.try_recv() {
                self.on_signal(&mut held, signal, &reports, &mut look_at);
            }
            self.refill(&mut held, &reports);
            let room = settings.concurrency - held.total;
            let can_claim =
                !held.general_claim_out && (room >= batch || (held.total == 0 && room > 0));
            if can_claim && tokio::time::Instant::now() >= look_at {
                self.claim_generally(&mut held, room, &reports);
                continue;
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = queued(&mut wakeups) => look_at = tokio::time::Instant::now(),
                Some(signal) = signals.recv() => {
                    self.on_signal(&mut held, signal, &reports, &mut look_at);
                }
                () = tokio::time::sleep_until(look_at), if can_claim => {}
            }
        }
        // Stopping: the claims still out come back first; what waits for a
        // slot goes back to the table for any runner; what is in flight
        // gets its timeout to finish.
        held.stopping = true;
        let deadline = tokio::time::Instant::now() + settings.timeout + Duration::from_secs(1);
        while held.claims_out() {
            match tokio::time::timeout_at(deadline, signals.recv()).await {
                Ok(Some(signal)) => self.on_signal(&mut held, signal, &reports, &mut look_at),
                _ => break,
            }
        }
        let unsent: Vec<Claimed> = held
            .endpoints
            .values_mut()
            .flat_map(|endpoint| endpoint.waiting.drain(..))
            .collect();
        held.total -= unsent.len();
        if let Err(error) = deliveries::release(&self.db, &unsent).await {
            tracing::warn!(error = ?error, "cannot hand back unsent webhook deliveries; their lease will run out");
        }
        while held.total > 0 {
            match tokio::time::timeout_at(deadline, signals.recv()).await {
                Ok(Some(Signal::Recorded(_))) => held.total -= 1,
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    }

    /// Sends the general claim out for `room` deliveries.
    fn claim_generally(&self, held: &mut Held, room: usize, reports: &Reports) {
        let per_endpoint = self.settings.per_endpoint;
        // A webhook kept supplied from its own queue is left out.
        let busy: Vec<i64> = held
            .endpoints
            .iter()
            .filter(|(_, e)| e.claiming || e.unanswered() >= per_endpoint)
            .map(|(&id, _)| id)
            .collect();
        held.general_claim_out = true;
        held.total += room;
        let (db, settings, signals) = (self.db.clone(), self.settings, reports.signals.clone());
        tokio::spawn(async move {
            let result = deliveries::claim(&db, room, per_endpoint, &busy, settings.lease()).await;
            let look_again = match &result {
                Ok(claimed) if claimed.len() < room => until_next_due(&db, settings.poll).await,
                Ok(_) => Duration::ZERO,
                Err(_) => settings.poll,
            };
            let _ = signals.send(Signal::Claimed {
                webhook: None,
                asked: room,
                result,
                look_again,
            });
        });
    }

    /// Tops up each webhook whose queue may hold more, once a quarter of
    /// the twice-its-slots it may hold are free.
    fn refill(&self, held: &mut Held, reports: &Reports) {
        if held.stopping {
            return;
        }
        let per_endpoint = self.settings.per_endpoint;
        let most = 2 * per_endpoint;
        let top_up_below = most - (most / 4).max(1);
        for (&webhook_id, endpoint) in &mut held.endpoints {
            let room = self.settings.concurrency - held.total;
            if room == 0 {
                return;
            }
            if !endpoint.more || endpoint.claiming || endpoint.unanswered() > top_up_below {
                continue;
            }
            let asked = (most - endpoint.unanswered()).min(room);
            endpoint.claiming = true;
            held.total += asked;
            let (db, lease, signals) = (
                self.db.clone(),
                self.settings.lease(),
                reports.signals.clone(),
            );
            tokio::spawn(async move {
                let result = deliveries::claim_for_webhook(&db, webhook_id, asked, lease).await;
                let _ = signals.send(Signal::Claimed {
                    webhook: Some(webhook_id),
                    asked,
                    result,
                    look_again: Duration::ZERO,
                });
            });
        }
    }

    fn on_signal(
        &self,
        held: &mut Held,
        signal: Signal,
        reports: &Reports,
        look_at: &mut tokio::time::Instant,
    ) {
        match signal {
            Signal::Answered(webhook_id) => {
                if let Some(endpoint) = held.endpoints.get_mut(&webhook_id) {
                    endpoint.in_flight -= 1;
                    endpoint.unrecorded += 1;
                }
                self.start_waiting(held, webhook_id, reports);
            }
            Signal::Recorded(webhook_id) => {
                held.total -= 1;
                if let Some(endpoint) = held.endpoints.get_mut(&webhook_id) {
                    endpoint.unrecorded -= 1;
                }
                self.start_waiting(held, webhook_id, reports);
            }
            Signal::Claimed {
                webhook,
                asked,
                result,
                look_again,
            } => {
                held.total -= asked;
                let claimed = result.unwrap_or_else(|error| {
                    tracing::error!(error = ?error, "the webhook runner cannot claim deliveries");
                    Vec::new()
                });
                let full = claimed.len() == asked;
                match webhook {
                    None => {
                        held.general_claim_out = false;
                        // A webhook that got all a claim gives one may have
                        // more: its own queue supplies it from now on, and
                        // the next general claim, at once, leaves it out,
                        // so a long backlog (all of one window) cannot
                        // hide another webhook's due deliveries for a poll.
                        let capped = self.take(held, claimed, self.settings.per_endpoint, reports);
                        *look_at = tokio::time::Instant::now()
                            + if capped { Duration::ZERO } else { look_again };
                    }
                    Some(webhook_id) => {
                        self.take(held, claimed, usize::MAX, reports);
                        let endpoint = held.endpoints.entry(webhook_id).or_default();
                        endpoint.claiming = false;
                        endpoint.more = full;
                        self.start_waiting(held, webhook_id, reports);
                    }
                }
            }
        }
    }

    /// Holds what a claim returned, and starts what has a free slot. A
    /// webhook that got `full` deliveries may have more due; answers
    /// whether any did.
    fn take(&self, held: &mut Held, claimed: Vec<Claimed>, full: usize, reports: &Reports) -> bool {
        held.total += claimed.len();
        let mut got: HashMap<i64, usize> = HashMap::new();
        for delivery in claimed {
            *got.entry(delivery.webhook_id).or_default() += 1;
            held.endpoints
                .entry(delivery.webhook_id)
                .or_default()
                .waiting
                .push_back(delivery);
        }
        let mut any_full = false;
        for (webhook_id, count) in got {
            if count >= full
                && let Some(endpoint) = held.endpoints.get_mut(&webhook_id)
            {
                endpoint.more = true;
                any_full = true;
            }
            self.start_waiting(held, webhook_id, reports);
        }
        any_full
    }

    /// Starts what waits for `webhook_id` while it has free slots, and
    /// forgets a webhook it holds nothing of and expects nothing more from.
    fn start_waiting(&self, held: &mut Held, webhook_id: i64, reports: &Reports) {
        let Some(endpoint) = held.endpoints.get_mut(&webhook_id) else {
            return;
        };
        while !held.stopping && endpoint.in_flight < self.settings.per_endpoint {
            let Some(delivery) = endpoint.waiting.pop_front() else {
                break;
            };
            endpoint.in_flight += 1;
            let (client, settings, reports) = (self.client.clone(), self.settings, reports.clone());
            tokio::spawn(async move {
                let (attempt, took) = attempt(&client, &settings, &delivery).await;
                let _ = reports.signals.send(Signal::Answered(delivery.webhook_id));
                let _ = reports.answers.send(Answer {
                    delivery,
                    attempt,
                    took,
                });
            });
        }
        if endpoint.unanswered() + endpoint.unrecorded == 0 && !endpoint.more && !endpoint.claiming
        {
            held.endpoints.remove(&webhook_id);
        }
    }
}

/// How long to sleep when the general claim found less than it could
/// take: until the next delivery is due, at most `poll`; `poll` when a due
/// delivery was left (its webhook is busy: its own queue supplies it).
async fn until_next_due(db: &DatabaseConnection, poll: Duration) -> Duration {
    match deliveries::next_due(db).await {
        Ok(Some(at)) => {
            let now = Utc::now();
            if at > now {
                (at - now).to_std().unwrap_or_default().min(poll)
            } else {
                poll
            }
        }
        Ok(None) => poll,
        Err(error) => {
            tracing::error!(error = ?error, "the webhook runner cannot reach the database");
            poll
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

/// Sends one delivery once and judges the answer.
#[tracing::instrument(skip_all, fields(delivery = delivery.id, webhook = delivery.webhook_id))]
async fn attempt(
    client: &HttpClient,
    settings: &Settings,
    delivery: &Claimed,
) -> (Attempt, Duration) {
    let attempts = u32::try_from(delivery.attempts).unwrap_or(0) + 1;
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
        let no_answer = Err(NoAnswer::Other(
            "the webhook's secret is not whsec_ and base64".to_owned(),
        ));
        return (
            judge(settings, &no_answer, attempts, rand::rng().random()),
            Duration::ZERO,
        );
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
    (
        judge(settings, &result, attempts, rand::rng().random()),
        took,
    )
}

/// Records attempts as they come, in batches: whatever arrived while the
/// last batch was being written goes in the next, so under load one
/// statement records many successes and with none a success is recorded
/// at once. Failures, rare and each touching its webhook, are recorded one
/// by one.
async fn record_all(
    db: DatabaseConnection,
    metrics: Arc<Metrics>,
    mut answered: mpsc::UnboundedReceiver<Answer>,
    signals: mpsc::UnboundedSender<Signal>,
) {
    const BATCH: usize = 256;
    let mut batch = Vec::with_capacity(BATCH);
    while answered.recv_many(&mut batch, BATCH).await > 0 {
        let successes: Vec<(&Claimed, u16)> = batch
            .iter()
            .filter(|a| a.attempt.next == Next::Succeeded)
            .map(|a| (&a.delivery, a.attempt.status.unwrap_or(200)))
            .collect();
        let recorded = if successes.is_empty() {
            Ok(Default::default())
        } else {
            deliveries::record_successes(&db, &successes).await
        };
        let recorded = recorded.unwrap_or_else(|error| {
            // Unrecorded: the leases run out and the deliveries are sent again.
            tracing::error!(error = ?error, "cannot record webhook delivery attempts");
            Default::default()
        });
        for answer in batch.drain(..) {
            let outcome = if answer.attempt.next == Next::Succeeded {
                if recorded.contains(&answer.delivery.id) {
                    AttemptOutcome::Succeeded
                } else {
                    AttemptOutcome::Stale
                }
            } else {
                record_failure(&db, &answer).await
            };
            metrics.record_webhook_attempt(outcome, answer.took);
            let _ = signals.send(Signal::Recorded(answer.delivery.webhook_id));
        }
    }
}

/// Records an attempt that did not succeed, with the one log line of a
/// delivery that failed for good.
async fn record_failure(db: &DatabaseConnection, answer: &Answer) -> AttemptOutcome {
    let Answer {
        delivery, attempt, ..
    } = answer;
    match deliveries::record(db, delivery, attempt).await {
        Ok(Recorded::Succeeded) => AttemptOutcome::Succeeded,
        Ok(Recorded::Retrying) => AttemptOutcome::Retrying,
        Ok(Recorded::Stale) => AttemptOutcome::Stale,
        Ok(Recorded::Failed { disabled }) => {
            tracing::warn!(
                message_id = %delivery.message_id,
                delivery = delivery.id,
                webhook = delivery.webhook_id,
                attempts = delivery.attempts + 1,
                status = attempt.status,
                error = attempt.error.as_deref().unwrap_or(""),
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
    }
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
