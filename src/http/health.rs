//! `/healthz`: the process is up. `/readyz`: it can reach its database, so a
//! load balancer may send it traffic, with the outbox's depth beside it and
//! whether the shared query budget (Redis) answers: when it does not, the
//! instance is still ready (each caller's budget is then per instance).
//! `/metrics`: counters and gauges for Prometheus.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, StatusCode, header};
use serde_json::{Value, json};

use super::AppState;
use crate::domain::outbox;
use crate::domain::webhooks::deliveries;
use crate::limits::SharedStatus;

pub(super) async fn alive() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub(super) async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let shared_limiter = state
        .budget
        .as_ref()
        .map_or(SharedStatus::None, |budget| budget.shared_status());
    let depths = async {
        Ok::<_, crate::domain::Error>((
            outbox::depth(&state.ops_db).await?,
            deliveries::backlog(&state.ops_db).await?,
            crate::domain::emails::backlog(&state.ops_db).await?,
        ))
    };
    match depths.await {
        Ok((depth, webhooks, emails)) => (
            StatusCode::OK,
            Json(json!({
                "status": "ready",
                "database": "ok",
                "outbox": depth,
                "webhooks": webhooks,
                "emails": emails,
                "sharedLimiter": shared_limiter.as_str(),
            })),
        ),
        Err(error) => {
            tracing::warn!(error = ?error, "readiness check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": "unreachable" })),
            )
        }
    }
}

/// Counters and the outbox gauges in the Prometheus text format.
pub(super) async fn metrics(
    State(state): State<AppState>,
) -> ([(HeaderName, &'static str); 1], String) {
    let mut text = state.metrics.render();
    if let Ok(depth) = outbox::depth(&state.ops_db).await {
        for (name, help, value) in [
            (
                "conduit_outbox_pending",
                "jobs waiting to run",
                depth.pending,
            ),
            (
                "conduit_outbox_parked",
                "jobs that failed too often",
                depth.parked,
            ),
            (
                "conduit_outbox_oldest_age_seconds",
                "age of the oldest waiting job",
                depth.oldest_age_seconds,
            ),
        ] {
            let _ = writeln!(
                text,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
    }
    if let Ok(backlog) = deliveries::backlog(&state.ops_db).await {
        for (name, help, value) in [
            (
                "conduit_webhook_deliveries_pending",
                "webhook deliveries waiting for an attempt (due, retrying or in flight)",
                backlog.pending,
            ),
            (
                "conduit_webhook_deliveries_oldest_age_seconds",
                "age of the oldest webhook delivery still pending",
                backlog.oldest_age_seconds,
            ),
        ] {
            let _ = writeln!(
                text,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
