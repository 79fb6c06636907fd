//! A GraphQL request as clients send it, in every form of asking for a
//! stored document by id:
//!
//! - the GraphQL-over-HTTP persisted documents form, `documentId`
//!   (`sha256:<hex>`, or bare hex);
//! - Relay's `doc_id`;
//! - Apollo's `extensions.persistedQuery.sha256Hash` with no `query`
//!   (Apollo Client's `PersistedQueryLink`, Apollo iOS and Kotlin).
//!
//! The first two become the third, so one path in `pipeline` serves all:
//! an id is an id, whoever spelled it. Otherwise the fields are
//! async-graphql's `Request`'s, read the same way.

use async_graphql::{BatchRequest, Extensions, Request, Value, Variables};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum WireBatch {
    Single(WireRequest),
    Batch(Vec<WireRequest>),
}

#[derive(Deserialize)]
pub(crate) struct WireRequest {
    #[serde(default)]
    query: String,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Variables,
    #[serde(default)]
    extensions: Extensions,
    #[serde(default, rename = "documentId")]
    document_id: Option<String>,
    #[serde(default)]
    doc_id: Option<String>,
}

impl WireBatch {
    pub(super) fn into_batch(self) -> BatchRequest {
        match self {
            WireBatch::Single(request) => BatchRequest::Single(request.into_request()),
            WireBatch::Batch(requests) => BatchRequest::Batch(
                requests
                    .into_iter()
                    .map(WireRequest::into_request)
                    .collect(),
            ),
        }
    }
}

impl WireRequest {
    pub(crate) fn into_request(self) -> Request {
        let mut request = Request::new(self.query).variables(self.variables);
        request.operation_name = self.operation_name;
        request.extensions = self.extensions;
        if let Some(id) = self.document_id.or(self.doc_id) {
            // An Apollo hash sent beside it wins: it is the more specific.
            request
                .extensions
                .entry("persistedQuery".to_owned())
                .or_insert_with(|| persisted_query(id));
        }
        request
    }
}

/// `extensions.persistedQuery` naming `id`.
fn persisted_query(id: String) -> Value {
    let mut fields = async_graphql::indexmap::IndexMap::new();
    fields.insert(async_graphql::Name::new("version"), Value::from(1));
    fields.insert(async_graphql::Name::new("sha256Hash"), Value::String(id));
    Value::Object(fields)
}
