//! GraphQL over HTTP, as the GraphQL-over-HTTP specification says: POST for
//! everything, GET for queries only (a mutation by GET is 405, so a link or
//! a prefetch can never change data). Batches (a JSON array) work on POST
//! and answer a JSON array.
//!
//! What a request is refused with, before anything runs:
//! - a POST whose `Content-Type` is not JSON: 415 (CSRF prevention, see
//!   `negotiation::is_graphql_content_type`);
//! - an `Accept` that allows neither response media type: 406;
//! - a body or a query string that is not a GraphQL request (not JSON, no
//!   `query`, a `variables` that is not a map, ...): 400.
//!
//! A request that fails before execution (a document that does not parse
//! or validate, variables that do not coerce, an unknown operation name) is
//! answered without `data`: with 400 in `application/graphql-response+json`,
//! with 200 in `application/json` (as the specification says for that
//! legacy type). Anything that reached execution is 200, with `data`. A
//! batch is 200, each of its answers as a single one's body would be.

use std::collections::BTreeMap;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use async_graphql::{BatchRequest, BatchResponse, ParseRequestError, ServerError};
use axum::extract::ConnectInfo;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts as _, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::caching;
use super::negotiation::{self, MediaType};
use super::response_json;
use super::wire::{WireBatch, WireRequest};
use super::{AppState, rate_limit};
use crate::graphql::viewer::UserAgent;
use crate::graphql::{Viewer, error, pipeline};
use crate::limits::ClientAddress;

pub(super) async fn post(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Response {
    if !negotiation::is_graphql_content_type(request.headers()) {
        return unsupported_media_type();
    }
    let Ok(media_type) = negotiation::negotiate(request.headers()) else {
        return not_acceptable();
    };
    let client = client_of(&state, &request);
    let (parts, body) = request.into_parts();
    let batch = match read_batch(body).await {
        Ok(batch) => batch,
        Err(rejection) => return rejection.into_response_as(media_type),
    };
    let headers = parts.headers;
    let requests = match &batch {
        BatchRequest::Single(request) => std::slice::from_ref(request),
        BatchRequest::Batch(requests) => requests.as_slice(),
    };
    if let Err(refusal) = requests.iter().try_for_each(has_query) {
        return refusal.into_response_as(media_type);
    }
    let prepared = state.pipeline.prepare_batch(batch);
    let executed = execute(&state, &headers, client, prepared).await;
    respond(&state, executed, media_type, caching::NOT_STORED)
}

/// The body as a GraphQL request or batch (see `wire` for the forms).
async fn read_batch(body: axum::body::Body) -> Result<BatchRequest, Rejection> {
    // The body limit layer cuts an oversized body off; its error reads
    // "length limit exceeded", which `Rejection` answers with 413.
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|error| ParseRequestError::Io(std::io::Error::other(error.into_inner())))?;
    let batch: WireBatch = serde_json::from_slice(&bytes)
        .map_err(|error| ParseRequestError::InvalidRequest(Box::new(error)))?;
    Ok(batch.into_batch())
}

/// GET is a query, or the opening of a WebSocket for subscriptions. Every
/// answer to a query has its validators (see `caching`).
pub(super) async fn get(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Response {
    let wants_websocket = request
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let client = client_of(&state, &request);
    if wants_websocket {
        let (mut parts, _) = request.into_parts();
        return match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(ws) => super::websocket::upgrade(
                state,
                ws,
                client,
                user_agent(&parts.headers),
                client_name(&parts.headers).map(Arc::from),
            ),
            Err(rejection) => rejection.into_response(),
        };
    }
    let if_none_match = caching::if_none_match(request.headers());
    let response = query_by_get(&state, client, request).await;
    caching::with_validators(&if_none_match, response).await
}

/// A query sent by GET: refused as a POST's would be, or run, and cached
/// by what it selected (see `caching::for_get`).
async fn query_by_get(
    state: &AppState,
    client: ClientAddress,
    request: axum::extract::Request,
) -> Response {
    let Ok(media_type) = negotiation::negotiate(request.headers()) else {
        return not_acceptable();
    };
    let graphql_request =
        match query_string_request(request.uri()).and_then(|r| has_query(&r).map(|()| r)) {
            Ok(graphql_request) => graphql_request,
            Err(rejection) => return rejection.into_response_as(media_type),
        };
    // A persisted query sent by hash alone is looked up here too, so a
    // hash cannot smuggle a mutation through GET.
    let prepared = state
        .pipeline
        .prepare_batch(BatchRequest::Single(graphql_request));
    if prepared.has_mutation() {
        let mut response = refusal(
            media_type,
            StatusCode::METHOD_NOT_ALLOWED,
            "mutations must be sent with POST",
            "BAD_REQUEST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let executed = execute(state, request.headers(), client, prepared).await;
    let anonymous = !request.headers().contains_key(header::AUTHORIZATION);
    let cache_control = caching::for_get(&executed.responses, anonymous);
    respond(state, executed, media_type, cache_control)
}

/// Where `request` came from: its socket's peer, or what the trusted
/// proxies say (`client_address`).
fn client_of(state: &AppState, request: &axum::extract::Request) -> ClientAddress {
    // Every connection has its peer's address (`startup` serves with
    // `ConnectInfo`); a router driven without one is a local caller.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |info| info.0.ip());
    super::client_address(peer, request.headers(), state.proxies)
}

/// A GET's parameters, as the specification names them; `variables` and
/// `extensions` are JSON text.
#[derive(Deserialize)]
struct QueryString {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
    #[serde(rename = "documentId")]
    document_id: Option<String>,
    doc_id: Option<String>,
}

/// The GraphQL request of a GET's query string, checked as a POST's body
/// is (a `variables` that is not a map is as bad here as there).
fn query_string_request(uri: &axum::http::Uri) -> Result<async_graphql::Request, Rejection> {
    let invalid = |error: &dyn std::fmt::Display| {
        Rejection::Unreadable(ParseRequestError::InvalidRequest(Box::new(
            std::io::Error::other(error.to_string()),
        )))
    };
    let Query(parameters) =
        Query::<QueryString>::try_from_uri(uri).map_err(|error| invalid(&error))?;
    let json_parameter = |text: Option<String>| match text {
        Some(text) => serde_json::from_str(&text).map_err(|error| invalid(&error)),
        None => Ok(serde_json::Value::Null),
    };
    let request = json!({
        "query": parameters.query.unwrap_or_default(),
        "operationName": parameters.operation_name,
        "variables": json_parameter(parameters.variables)?,
        "extensions": json_parameter(parameters.extensions)?,
        "documentId": parameters.document_id,
        "doc_id": parameters.doc_id,
    });
    serde_json::from_value::<WireRequest>(request)
        .map(WireRequest::into_request)
        .map_err(|error| invalid(&error))
}

/// A request must have a document: its text, or a persisted query's hash.
fn has_query(request: &async_graphql::Request) -> Result<(), Rejection> {
    if request.query.is_empty() && request.extensions.get("persistedQuery").is_none() {
        return Err(Rejection::NoQuery);
    }
    Ok(())
}

/// Runs prepared requests as the `Authorization` header's viewer.
async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    client: ClientAddress,
    prepared: pipeline::PreparedBatch,
) -> pipeline::Executed {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let viewer = match headers.get(header::AUTHORIZATION) {
        // A header that is not even text is as bad as a bad token.
        Some(_) if authorization.is_none() => {
            Viewer::Refused(crate::auth::token::TokenError::Invalid)
        }
        _ => state.auth.authenticate(authorization).await.viewer,
    };
    let scope = pipeline::Scope {
        db: state.db.clone(),
        direct: state.direct.clone(),
        metrics: state.metrics.clone(),
        viewer,
        user_agent: user_agent(headers),
        client,
    };
    let executed = state.pipeline.execute_prepared(prepared, scope).await;
    count_not_in_list(state, headers, &executed.responses);
    executed
}

/// The HTTP answer: `graphql_response`, and 429 with `Retry-After` when
/// the budget (or the sign-in lockout) refused it, and the `RateLimit`
/// fields whenever there is a budget.
fn respond(
    state: &AppState,
    executed: pipeline::Executed,
    media_type: MediaType,
    cache_control: HeaderValue,
) -> Response {
    let retry_after = executed
        .spent
        .and_then(|spent| spent.retry_after_secs())
        .or_else(|| rate_limited(&executed.responses));
    let mut response = graphql_response(executed.responses, media_type, cache_control);
    if let Some(seconds) = retry_after {
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        rate_limit::retry_after(response.headers_mut(), seconds);
    }
    if let (Some(budget), Some(spent)) = (&state.budget, &executed.spent) {
        rate_limit::describe(response.headers_mut(), budget.per_minute(), spent);
    }
    response
}

/// The seconds to wait when the answer is RATE_LIMITED (by the budget or,
/// in a resolver, by the sign-in lockout), which over HTTP is a 429 as the
/// contract says: a single response with such an error, or a batch all of
/// whose responses have one.
fn rate_limited(responses: &BatchResponse) -> Option<u64> {
    let responses = match responses {
        BatchResponse::Single(response) => std::slice::from_ref(response),
        BatchResponse::Batch(responses) => responses.as_slice(),
    };
    responses
        .iter()
        .map(|response| error::retry_after_secs(response).max())
        .collect::<Option<Vec<u64>>>()?
        .into_iter()
        .max()
}

/// Counts (and logs) the documents refused for not being stored, by the
/// client's name for itself.
fn count_not_in_list(state: &AppState, headers: &HeaderMap, responses: &BatchResponse) {
    let refused = |response: &async_graphql::Response| {
        error::has_code(response, error::PERSISTED_QUERY_NOT_IN_LIST)
    };
    let count = match responses {
        BatchResponse::Single(response) => usize::from(refused(response)),
        BatchResponse::Batch(responses) => responses.iter().filter(|r| refused(r)).count(),
    };
    let client = client_name(headers);
    for _ in 0..count {
        state.metrics.record_not_in_list(client);
    }
}

/// What a client calls itself (Apollo's client awareness header).
pub(super) fn client_name(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("apollographql-client-name")
        .and_then(|value| value.to_str().ok())
}

/// The request's `User-Agent`, when it is text.
pub(super) fn user_agent(headers: &HeaderMap) -> UserAgent {
    UserAgent(
        headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(Arc::from),
    )
}

/// The HTTP answer to GraphQL responses: its status and body as the module
/// notes say, its `Content-Type` the negotiated one, its `Cache-Control` the
/// caller's (see `caching`), and the HTTP headers the responses asked for.
fn graphql_response(
    responses: BatchResponse,
    media_type: MediaType,
    cache_control: HeaderValue,
) -> Response {
    let (status, body) = match &responses {
        BatchResponse::Single(response) => {
            // An unknown persisted query is how Apollo's clients learn to
            // send the text: they expect it in a 200.
            let refused = error::failed_before_execution(response)
                && !error::has_code(response, error::PERSISTED_QUERY_NOT_FOUND);
            let status = match media_type {
                MediaType::GraphQLResponseJson if refused => StatusCode::BAD_REQUEST,
                _ => StatusCode::OK,
            };
            (status, json_of(std::slice::from_ref(response), false))
        }
        BatchResponse::Batch(responses) => (StatusCode::OK, json_of(responses, true)),
    };
    let body = match body {
        Ok(body) => body,
        Err(serialization) => {
            tracing::error!(error = %serialization, "a response could not be serialized");
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
                error::INTERNAL_SERVER_ERROR,
            );
        }
    };
    let mut http_response = (status, body).into_response();
    let headers = http_response.headers_mut();
    headers.insert(header::CONTENT_TYPE, media_type.content_type());
    headers.insert(header::CACHE_CONTROL, cache_control);
    headers.extend(responses.http_headers());
    http_response
}

/// What a response's JSON usually fits in at first: it grows by doubling.
const FIRST_CAPACITY: usize = 4 * 1024;

/// `responses` as JSON, as an array when `batch`: each all of it, or, when
/// its request failed before execution, all but `data`.
fn json_of(responses: &[async_graphql::Response], batch: bool) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(FIRST_CAPACITY);
    if batch {
        out.push(b'[');
    }
    for (at, response) in responses.iter().enumerate() {
        if at > 0 {
            out.push(b',');
        }
        if error::failed_before_execution(response) {
            let refused = Refused {
                errors: &response.errors,
                extensions: &response.extensions,
            };
            serde_json::to_writer(&mut out, &refused)?;
        } else {
            response_json::write_executed(&mut out, response)?;
        }
    }
    if batch {
        out.push(b']');
    }
    Ok(out)
}

/// A response refused before execution, as JSON: it has no `data`.
#[derive(Serialize)]
struct Refused<'a> {
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, async_graphql::Value>,
}

/// A GraphQL-shaped error outside of execution (bad body, panic, 413), as
/// `application/json`.
pub(super) fn error_response(status: StatusCode, message: &str, code: &str) -> Response {
    refusal(MediaType::Json, status, message, code)
}

/// A GraphQL-shaped error outside of execution, in `media_type`.
fn refusal(media_type: MediaType, status: StatusCode, message: &str, code: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, media_type.content_type());
    response
}

/// 415: the CSRF prevention of `negotiation::is_graphql_content_type`.
fn unsupported_media_type() -> Response {
    let mut response = error_response(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "a POST to /graphql must have Content-Type: application/json \
         (or application/graphql-response+json)",
        "BAD_REQUEST",
    );
    response.headers_mut().insert(
        header::ACCEPT,
        HeaderValue::from_static("application/json, application/graphql-response+json"),
    );
    response
}

/// 406: the request accepts no media type this server answers in.
fn not_acceptable() -> Response {
    error_response(
        StatusCode::NOT_ACCEPTABLE,
        "the Accept header allows neither application/graphql-response+json \
         nor application/json",
        "BAD_REQUEST",
    )
}

/// A request that is not a GraphQL request: a JSON error, not the
/// library's debug dump.
pub(super) enum Rejection {
    /// The body or query string is not a GraphQL request.
    Unreadable(ParseRequestError),
    /// It is, but has neither a document nor a persisted query's hash.
    NoQuery,
}

impl From<ParseRequestError> for Rejection {
    fn from(error: ParseRequestError) -> Self {
        Self::Unreadable(error)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        self.into_response_as(MediaType::Json)
    }
}

impl Rejection {
    fn into_response_as(self, media_type: MediaType) -> Response {
        let error = match self {
            Self::NoQuery => {
                return refusal(
                    media_type,
                    StatusCode::BAD_REQUEST,
                    "a GraphQL request needs a \"query\" (or a persisted query's hash)",
                    "BAD_REQUEST",
                );
            }
            Self::Unreadable(error) => error,
        };
        let (status, message, code) = match &error {
            ParseRequestError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large",
                "BAD_REQUEST",
            ),
            // The body limit cuts a chunked body off mid-stream.
            ParseRequestError::Io(error) if error.to_string().contains("length limit exceeded") => {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request body is too large",
                    "BAD_REQUEST",
                )
            }
            ParseRequestError::InvalidRequest(_) | ParseRequestError::Io(_) => (
                StatusCode::BAD_REQUEST,
                "the body is not a GraphQL request: expected JSON with a \"query\" string, \
                 and \"operationName\", \"variables\" and \"extensions\" that are null or \
                 a string, a map and a map",
                error::GRAPHQL_PARSE_FAILED,
            ),
            ParseRequestError::UnsupportedBatch => (
                StatusCode::BAD_REQUEST,
                "batches are not supported here",
                "BAD_REQUEST",
            ),
            _ => (
                StatusCode::BAD_REQUEST,
                "the request could not be read",
                "BAD_REQUEST",
            ),
        };
        refusal(media_type, status, message, code)
    }
}
