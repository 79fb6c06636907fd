//! Counters the service keeps about itself, served at `/metrics` in the
//! Prometheus text format.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::DatabaseConnection;

/// Statements slower than this are logged with their SQL (no values).
const SLOW_STATEMENT: Duration = Duration::from_millis(500);

/// Distinct client names counted apart; the rest count as `other` (the
/// name is whatever a client sends, so the set must stay bounded).
const CLIENT_NAMES: usize = 100;

#[derive(Debug, Default)]
pub struct Metrics {
    sql_statements: AtomicU64,
    sql_failures: AtomicU64,
    sql_micros: AtomicU64,
    query_connections: AtomicU64,
    /// Responses shared subscriptions computed and encoded (one per event
    /// and distinct subscription, however many subscribe to it).
    subscription_executions: AtomicU64,
    /// Those responses queued to a subscriber's connection.
    subscription_deliveries: AtomicU64,
    /// Documents refused for not being stored (`--trusted-documents only`),
    /// by client name.
    not_in_list: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    webhooks: WebhookMetrics,
    /// Emails by what came of them, indexed by `MailOutcome`.
    mail: [AtomicU64; MailOutcome::ALL.len()],
    statement_log: StatementLog,
}

/// The text of every statement counted, in the order they finished, kept
/// only while someone asked for it (`Metrics::log_statements`): the tests
/// that pin down the SQL each request runs read it there. Off, it costs
/// one relaxed load per statement.
#[derive(Debug, Default)]
struct StatementLog {
    on: std::sync::atomic::AtomicBool,
    statements: std::sync::Mutex<Vec<String>>,
}

/// What came of one email, as `/metrics` labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailOutcome {
    /// The SMTP server took it.
    Sent,
    /// No account has the address (a reset), or the notification is gone:
    /// nothing to send.
    NoRecipient,
    /// Failed; tried again later.
    Retrying,
    /// Refused for good by the server (bounced): not retried.
    Refused,
    /// Out of attempts.
    Failed,
}

impl MailOutcome {
    const ALL: [MailOutcome; 5] = [
        MailOutcome::Sent,
        MailOutcome::NoRecipient,
        MailOutcome::Retrying,
        MailOutcome::Refused,
        MailOutcome::Failed,
    ];

    fn label(self) -> &'static str {
        match self {
            MailOutcome::Sent => "sent",
            MailOutcome::NoRecipient => "no_recipient",
            MailOutcome::Retrying => "retrying",
            MailOutcome::Refused => "refused",
            MailOutcome::Failed => "failed",
        }
    }
}

/// Upper bounds (seconds) of the webhook latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// What the webhook delivery runner counts: attempts by what came of them,
/// and how long each took (from connecting to the answer, or to giving up).
#[derive(Debug, Default)]
struct WebhookMetrics {
    succeeded: AtomicU64,
    retrying: AtomicU64,
    failed: AtomicU64,
    stale: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_micros: AtomicU64,
}

/// What came of one webhook delivery attempt, as `/metrics` labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Answered 2xx: the delivery is done.
    Succeeded,
    /// Failed; another attempt is scheduled.
    Retrying,
    /// Failed for good (out of attempts, or 410 Gone).
    Failed,
    /// Its lease was no longer this runner's (redelivered, deleted, or
    /// taken over): not recorded.
    Stale,
}

impl Metrics {
    /// Counts every statement `db` executes, observed at the connection
    /// itself (sea-orm's metric hook), not estimated from resolvers.
    pub fn observe(self: &Arc<Self>, db: &mut DatabaseConnection) {
        let metrics = Arc::clone(self);
        db.set_metric_callback(move |info| {
            metrics.record(&info.statement.sql, info.elapsed, info.failed);
        });
    }

    /// One statement run: what `observe` counts, and `db::reads` for the
    /// statements it runs on a connection of its own.
    pub fn record(&self, sql: &str, elapsed: Duration, failed: bool) {
        self.sql_statements.fetch_add(1, Ordering::Relaxed);
        self.sql_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        tracing::trace!(sql, "statement");
        if self.statement_log.on.load(Ordering::Relaxed) {
            self.logged().push(sql.to_owned());
        }
        if failed {
            self.sql_failures.fetch_add(1, Ordering::Relaxed);
        }
        if elapsed > SLOW_STATEMENT {
            tracing::warn!(
                elapsed_ms = elapsed.as_millis() as u64,
                sql,
                "slow SQL statement"
            );
        }
    }

    /// From now on, keeps the text of every statement counted, for
    /// `take_statements`. For tests: the log grows until taken.
    pub fn log_statements(&self) {
        self.statement_log.on.store(true, Ordering::Relaxed);
    }

    /// The statements counted since `log_statements` or the last take, in
    /// the order they finished.
    pub fn take_statements(&self) -> Vec<String> {
        std::mem::take(&mut *self.logged())
    }

    fn logged(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.statement_log
            .statements
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A query request took its connection from the pool (see `db::reads`).
    pub fn record_query_connection(&self) {
        self.query_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// A shared subscription computed and encoded one response, and queued
    /// it to `delivered` subscribers.
    pub fn record_subscription_response(&self, delivered: usize) {
        self.subscription_executions.fetch_add(1, Ordering::Relaxed);
        self.subscription_deliveries
            .fetch_add(delivered as u64, Ordering::Relaxed);
    }

    /// A document refused for not being stored, from the client that named
    /// itself `client` (`apollographql-client-name`), if it did.
    pub fn record_not_in_list(&self, client: Option<&str>) {
        let client = client.unwrap_or("unknown");
        tracing::warn!(
            client,
            "refused a document that is not stored (trusted documents only)"
        );
        let mut counts = self
            .not_in_list
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = if counts.contains_key(client) || counts.len() < CLIENT_NAMES {
            client
        } else {
            "other"
        };
        *counts.entry(key.to_owned()).or_insert(0) += 1;
    }

    /// What came of one email.
    pub fn record_mail(&self, outcome: MailOutcome) {
        self.mail[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// One webhook delivery attempt and how long it took.
    pub fn record_webhook_attempt(&self, outcome: AttemptOutcome, took: Duration) {
        let w = &self.webhooks;
        match outcome {
            AttemptOutcome::Succeeded => &w.succeeded,
            AttemptOutcome::Retrying => &w.retrying,
            AttemptOutcome::Failed => &w.failed,
            AttemptOutcome::Stale => &w.stale,
        }
        .fetch_add(1, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&w.latency_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        w.latency_count.fetch_add(1, Ordering::Relaxed);
        w.latency_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub fn sql_statements(&self) -> u64 {
        self.sql_statements.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = [
            (
                "conduit_sql_statements_total",
                "SQL statements executed",
                &self.sql_statements,
            ),
            (
                "conduit_sql_failures_total",
                "SQL statements that failed",
                &self.sql_failures,
            ),
            (
                "conduit_sql_time_microseconds_total",
                "time spent in SQL statements",
                &self.sql_micros,
            ),
            (
                "conduit_query_connections_total",
                "connections query requests took from the pool, one each for all their statements",
                &self.query_connections,
            ),
            (
                "conduit_subscription_executions_total",
                "subscription responses computed and encoded, once per event for all subscribers of the same subscription",
                &self.subscription_executions,
            ),
            (
                "conduit_subscription_deliveries_total",
                "subscription responses queued to subscribers' connections",
                &self.subscription_deliveries,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let name = "conduit_trusted_document_refusals_total";
        let _ = writeln!(
            out,
            "# HELP {name} documents refused because they are not stored, by client name\n# TYPE {name} counter"
        );
        let counts = self
            .not_in_list
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (client, count) in counts.iter() {
            let client = client.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(out, "{name}{{client=\"{client}\"}} {count}");
        }
        self.render_webhooks(&mut out);
        let name = "conduit_emails_total";
        let _ = writeln!(
            out,
            "# HELP {name} emails by outcome: sent, no_recipient (nothing to send), retrying, refused (bounced, not retried), failed (out of attempts)\n# TYPE {name} counter"
        );
        for outcome in MailOutcome::ALL {
            let _ = writeln!(
                out,
                "{name}{{outcome=\"{}\"}} {}",
                outcome.label(),
                self.mail[outcome as usize].load(Ordering::Relaxed)
            );
        }
        out
    }

    fn render_webhooks(&self, out: &mut String) {
        let w = &self.webhooks;
        let name = "conduit_webhook_attempts_total";
        let _ = writeln!(
            out,
            "# HELP {name} webhook delivery attempts by outcome: succeeded, retrying (failed, tried again later), failed (for good), stale (lease lost, not recorded)\n# TYPE {name} counter"
        );
        for (outcome, value) in [
            ("succeeded", &w.succeeded),
            ("retrying", &w.retrying),
            ("failed", &w.failed),
            ("stale", &w.stale),
        ] {
            let _ = writeln!(
                out,
                "{name}{{outcome=\"{outcome}\"}} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let name = "conduit_webhook_attempt_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} how long webhook delivery attempts took, to the answer or to giving up\n# TYPE {name} histogram"
        );
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&w.latency_buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = w.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            w.latency_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}
