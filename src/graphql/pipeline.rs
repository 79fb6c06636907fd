//! What happens to a request around the schema: persisted queries are
//! looked up, the document parsed (once per distinct text, see
//! `parse_once`), the request given what it runs with (viewer, loaders,
//! `Reads`), and every error of the response given its `extensions.code`.
//!
//! # Implementation notes
//! This is done here rather than as async-graphql extensions on purpose: a
//! schema with any extension runs every field of every response through
//! the extension chain and looks the field up in the registry by name (to
//! build the `ResolveInfo` the chain receives); with none it calls the
//! resolver directly. On the `deep` benchmark (~3,500 objects per response)
//! taking the two extensions off raised throughput by a quarter.

use std::sync::Arc;

use async_graphql::extensions::apollo_persisted_queries::CacheStorage as _;
use async_graphql::futures_util::StreamExt as _;
use async_graphql::futures_util::future::join_all;
use async_graphql::futures_util::stream::{self, BoxStream};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{BatchRequest, BatchResponse, Request, Response, ServerError};
use sea_orm::DatabaseConnection;
use sha2::{Digest as _, Sha256};

use super::error::{self, classify_all, with_code};
use super::{AppSchema, PersistedQueries, Viewer, batching, loaders};
use crate::db::Reads;
use crate::metrics::Metrics;

/// What one HTTP request's operations run with.
pub struct Scope {
    /// The pool: `Reads` decides how the operations use it.
    pub db: DatabaseConnection,
    pub metrics: Arc<Metrics>,
    pub viewer: Viewer,
}

/// Runs one request, or a batch of them side by side, with their DataLoader
/// batches driven (see `batching`).
///
/// The operations are parsed first: when every one is a query, all their
/// reads share one connection (`Reads::for_query`; see there why mutations
/// may not).
pub async fn execute_batch(
    schema: &AppSchema,
    persisted: &PersistedQueries,
    batch: BatchRequest,
    scope: Scope,
) -> BatchResponse {
    let (single, requests) = match batch {
        BatchRequest::Single(request) => (true, vec![request]),
        BatchRequest::Batch(requests) => (false, requests),
    };
    let mut prepared = Vec::with_capacity(requests.len());
    for request in requests {
        prepared.push(prepare(persisted, request).await);
    }
    let only_queries = prepared.iter_mut().all(|request| match request {
        Ok(request) => {
            let name = request.operation_name.clone();
            let document = request.parsed_query().ok();
            document.and_then(|document| operation_type(document, name.as_deref()))
                == Some(OperationType::Query)
        }
        Err(_) => true,
    });
    let reads = if only_queries {
        Reads::for_query(scope.db, scope.metrics)
    } else {
        Reads::pooled(scope.db)
    };
    let (loaders, batches) = loaders::for_request(reads.clone(), scope.viewer.id().ok().flatten());
    let runs = prepared.into_iter().map(|request| {
        let request = request.map(|request| {
            request
                .data(scope.viewer)
                .data(loaders.clone())
                .data(reads.clone())
        });
        run(schema, request)
    });
    let mut responses = batching::drive(join_all(runs), batches).await;
    if single {
        BatchResponse::Single(responses.remove(0))
    } else {
        BatchResponse::Batch(responses)
    }
}

async fn run(schema: &AppSchema, request: Result<Request, ServerError>) -> Response {
    let mut response = match request {
        Ok(request) => schema.execute(request).await,
        Err(refusal) => Response::from_errors(vec![refusal]),
    };
    classify_all(&mut response);
    response
}

/// The type of the operation `document` runs for `operation_name` (the one
/// it names, or else the first), when the document has it.
pub(crate) fn operation_type(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<OperationType> {
    let chosen = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) => operations.values().next(),
    };
    chosen.map(|operation| operation.node.ty)
}

/// A subscription (or any operation sent over a WebSocket) as a stream of
/// responses.
pub async fn execute_stream(
    schema: &AppSchema,
    persisted: &PersistedQueries,
    request: Request,
) -> BoxStream<'static, Response> {
    match prepare(persisted, request).await {
        Ok(request) => schema
            .execute_stream(request)
            .map(|mut response| {
                classify_all(&mut response);
                response
            })
            .boxed(),
        Err(refusal) => stream::once(async move { Response::from_errors(vec![refusal]) }).boxed(),
    }
}

/// The request with its document parsed: from the text, or from the
/// persisted-query cache when the client sent only a hash (Apollo's
/// `extensions.persistedQuery`, version 1). An `Err` is the whole answer.
async fn prepare(
    persisted: &PersistedQueries,
    mut request: Request,
) -> Result<Request, ServerError> {
    if let Some(extension) = request.extensions.remove("persistedQuery") {
        let (version, hash) = persisted_query(&extension).ok_or_else(|| {
            with_code(
                ServerError::new(
                    "extensions.persistedQuery must be { version: 1, sha256Hash: String }",
                    None,
                ),
                error::BAD_USER_INPUT,
            )
        })?;
        if version != 1 {
            return Err(with_code(
                ServerError::new(
                    format!("persisted query version {version} is not supported; use 1"),
                    None,
                ),
                error::BAD_USER_INPUT,
            ));
        }
        if request.query.is_empty() {
            let document = persisted.get(hash).await.ok_or_else(|| {
                with_code(
                    ServerError::new("PersistedQueryNotFound", None),
                    error::PERSISTED_QUERY_NOT_FOUND,
                )
            })?;
            request.set_parsed_query(document);
            return Ok(request);
        }
        if sha256(&request.query) != hash {
            return Err(with_code(
                ServerError::new("provided sha does not match query", None),
                error::BAD_USER_INPUT,
            ));
        }
        return parse_once(persisted, request, hash).await;
    }
    let hash = sha256(&request.query);
    parse_once(persisted, request, hash).await
}

/// Parses the request's text, or takes the document parsed the last time
/// the same text came (the persisted-query cache, keyed by the text's
/// SHA-256 as Apollo's hashes are).
///
/// # Implementation notes
/// Clients send the same few documents over and over, and parsing one (a
/// pest grammar) took 6 % of the server's CPU on the token homepage; a
/// SHA-256 and a clone of the cached tree cost a fraction of that. A text
/// sent in full is thereby also known by its hash alone afterwards, which
/// is what a persisted-query client would register anyway.
async fn parse_once(
    persisted: &PersistedQueries,
    mut request: Request,
    hash: String,
) -> Result<Request, ServerError> {
    if let Some(document) = persisted.get(hash.clone()).await {
        request.set_parsed_query(document);
        return Ok(request);
    }
    let document = parse(&mut request)?.clone();
    persisted.set(hash, document).await;
    Ok(request)
}

fn sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

fn parse(
    request: &mut Request,
) -> Result<&async_graphql::parser::types::ExecutableDocument, ServerError> {
    if let Err(error) = request.parsed_query() {
        return Err(error::parse_failed(error, &request.query));
    }
    request.parsed_query()
}

fn persisted_query(extension: &async_graphql::Value) -> Option<(i64, String)> {
    let async_graphql::Value::Object(fields) = extension else {
        return None;
    };
    let version = match fields.get("version")? {
        async_graphql::Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    Some((version, persisted_hash(extension)?.to_owned()))
}

/// The `sha256Hash` of an `extensions.persistedQuery` value.
pub(crate) fn persisted_hash(extension: &async_graphql::Value) -> Option<&str> {
    let async_graphql::Value::Object(fields) = extension else {
        return None;
    };
    match fields.get("sha256Hash")? {
        async_graphql::Value::String(hash) => Some(hash),
        _ => None,
    }
}
