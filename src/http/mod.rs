//! The axum router: GraphQL over HTTP at `/graphql`, GraphiQL at `/` (its
//! assets under `/graphiql/`), health at `/healthz` and `/readyz`, and the
//! middleware every request passes.

mod body_limit;
mod caching;
mod client_address;
mod graphiql;
mod graphql;
mod health;
mod negotiation;
mod rate_limit;
mod response_json;
mod websocket;
mod wire;

pub use client_address::{ForwardedHeader, Proxies, client_address};
pub use websocket::WsLimits;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use sea_orm::DatabaseConnection;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::graphql::pipeline::Pipeline;
use crate::graphql::viewer::Authenticator;
use crate::limits::Budget;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub pipeline: Pipeline,
    /// The pool that serves requests (its statements are counted).
    pub db: DatabaseConnection,
    /// A query's SQLite reads straight from the file (`None` on PostgreSQL
    /// and for a database in memory).
    pub direct: Option<Arc<crate::db::Direct>>,
    /// The same pool, uncounted: health checks and metrics themselves.
    pub ops_db: DatabaseConnection,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub ws_limits: WsLimits,
    /// The WebSocket connections open now, in all and per client address.
    pub ws_connections: Arc<websocket::Connections>,
    /// The subscriptions that share one execution among their subscribers.
    pub ws_subscriptions: Arc<websocket::Subscriptions>,
    /// Checks bearer tokens (and whether their session has ended).
    pub auth: Arc<Authenticator>,
    /// The proxies in front, whose word on the client's address is taken.
    pub proxies: Proxies,
    /// The query budget the pipeline charges (`None`: off), for the
    /// headers that describe it and for `/readyz`.
    pub budget: Option<Arc<Budget>>,
}

pub fn router(state: AppState, config: &Config) -> Router {
    Router::new()
        .route("/", get(graphiql::page))
        .route("/graphiql/{*path}", get(graphiql::asset))
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(health::metrics))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            usize::try_from(config.max_body_bytes).unwrap_or(usize::MAX),
            body_limit::limit,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout(),
        ))
        .layer(cors(config))
        .layer(axum::middleware::map_response(caching::one_vary_line))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http())
}

/// Cross-origin access for browser clients. Tokens travel in the
/// `Authorization` header, never in cookies, so credentials mode is off.
fn cors(config: &Config) -> CorsLayer {
    let origins = &config.cors_origins;
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::from(Any)
    } else {
        AllowOrigin::list(origins.iter().cloned())
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            // Apollo Client's CSRF-prevention and client-awareness headers.
            HeaderName::from_static("apollo-require-preflight"),
            HeaderName::from_static("apollographql-client-name"),
            HeaderName::from_static("apollographql-client-version"),
        ])
        .max_age(Duration::from_secs(3600))
}

/// A panic becomes a GraphQL-shaped 500 with no detail; the detail goes to
/// the log.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = detail, "request handler panicked");
    graphql::error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error",
        "INTERNAL_SERVER_ERROR",
    )
}
