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
    /// Documents refused for not being stored (`--trusted-documents only`),
    /// by client name.
    not_in_list: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
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

    /// A query request took its connection from the pool (see `db::reads`).
    pub fn record_query_connection(&self) {
        self.query_connections.fetch_add(1, Ordering::Relaxed);
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
        out
    }
}
