//! GraphQL over HTTP: POST for everything, GET for queries only (a mutation
//! by GET is 405, as the GraphQL-over-HTTP spec says, so a link or a prefetch
//! can never change data). Batches (a JSON array) work on POST.

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, ParseRequestError};
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequest as _, FromRequestParts as _, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::graphql::{Viewer, pipeline};

pub(super) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: GraphQLBatchRequest<Rejection>,
) -> Response {
    execute(&state, &headers, request.into_inner()).await
}

/// GET is a query, or the opening of a WebSocket for subscriptions.
pub(super) async fn get(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Response {
    let wants_websocket = request
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if wants_websocket {
        let (mut parts, _) = request.into_parts();
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |info| info.0.ip());
        return match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(ws) => super::websocket::upgrade(state, ws, client),
            Err(rejection) => rejection.into_response(),
        };
    }
    let headers = request.headers().clone();
    let request = match GraphQLBatchRequest::<Rejection>::from_request(request, &state).await {
        Ok(request) => request,
        Err(rejection) => return rejection.into_response(),
    };
    let mut batch = request.into_inner();
    let requests: Vec<&mut async_graphql::Request> = match &mut batch {
        BatchRequest::Single(request) => vec![request],
        BatchRequest::Batch(requests) => requests.iter_mut().collect(),
    };
    let mut refused = false;
    for request in requests {
        refused |= is_mutation(&state, request);
    }
    if refused {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "mutations must be sent with POST",
            "BAD_REQUEST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return response;
    }
    execute(&state, &headers, batch).await
}

async fn execute(state: &AppState, headers: &HeaderMap, batch: BatchRequest) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let viewer = match headers.get(header::AUTHORIZATION) {
        // A header that is not even text is as bad as a bad token.
        Some(_) if authorization.is_none() => {
            Viewer::Refused(crate::auth::token::TokenError::Invalid)
        }
        _ => Viewer::from_authorization(authorization, &state.tokens),
    };
    let scope = pipeline::Scope {
        db: state.db.clone(),
        metrics: state.metrics.clone(),
        viewer,
    };
    let responses = state.pipeline.execute_batch(batch, scope).await;
    GraphQLResponse::from(responses).into_response()
}

/// Whether a request's chosen operation is a mutation. A document that does
/// not parse (or does not fit the bounds) is not one: executing it reports
/// why. A persisted query sent by hash alone is looked up first, so a hash
/// cannot smuggle a mutation through GET.
fn is_mutation(state: &AppState, request: &mut async_graphql::Request) -> bool {
    state.pipeline.operation_type_of(request) == Some(OperationType::Mutation)
}

/// A GraphQL-shaped error outside of execution (bad body, panic, 405).
pub(super) fn error_response(status: StatusCode, message: &str, code: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, axum::Json(body)).into_response()
}

/// A request body that is not a GraphQL request: a JSON error, not the
/// library's debug dump.
pub(super) struct Rejection(ParseRequestError);

impl From<ParseRequestError> for Rejection {
    fn from(error: ParseRequestError) -> Self {
        Self(error)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self.0 {
            ParseRequestError::PayloadTooLarge => error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body is too large",
                "BAD_REQUEST",
            ),
            // The body limit cuts a chunked body off mid-stream.
            ParseRequestError::Io(error) if error.to_string().contains("length limit exceeded") => {
                error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request body is too large",
                    "BAD_REQUEST",
                )
            }
            ParseRequestError::InvalidRequest(_) | ParseRequestError::Io(_) => error_response(
                StatusCode::BAD_REQUEST,
                "the body is not a GraphQL request: expected JSON with a \"query\" string",
                "GRAPHQL_PARSE_FAILED",
            ),
            ParseRequestError::UnsupportedBatch => error_response(
                StatusCode::BAD_REQUEST,
                "batches are not supported here",
                "BAD_REQUEST",
            ),
            _ => error_response(
                StatusCode::BAD_REQUEST,
                "the request could not be read",
                "BAD_REQUEST",
            ),
        }
    }
}
