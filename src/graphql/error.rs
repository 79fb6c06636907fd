//! The one place where errors get their `extensions.code`.
//!
//! Resolvers use `?` on `domain::Error`; async-graphql's blanket conversion
//! keeps the message and stores the value as the error's `source`. This
//! extension then, for queries, mutations and subscriptions alike:
//! - sets `code` (and `fields`) from the `domain::Error` in the source;
//! - labels parse and validation failures;
//! - logs internal errors with their cause chain and shows the client only
//!   "internal error", so no SQL, path or panic text ever leaves the server.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextSubscribe,
    NextValidation,
};
use async_graphql::futures_util::StreamExt as _;
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    ErrorExtensionValues, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};

use crate::domain::Error;

pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
pub const FORBIDDEN: &str = "FORBIDDEN";
pub const NOT_FOUND: &str = "NOT_FOUND";
pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
pub const CONFLICT: &str = "CONFLICT";
pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";

/// The extension factory to register on the schema.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        response.errors.iter_mut().for_each(classify);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut response| {
                response.errors.iter_mut().for_each(classify);
                response
            })
            .boxed()
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|error| with_code(error, GRAPHQL_PARSE_FAILED))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|error| with_code(error, GRAPHQL_VALIDATION_FAILED))
                .collect()
        })
    }
}

/// Sets `code` on an error that has none yet.
pub fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}

fn classify(error: &mut ServerError) {
    if error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some())
    {
        return;
    }
    if let Some(domain_error) = domain_error(error) {
        let (code, fields) = match domain_error {
            Error::Unauthenticated(_) => (UNAUTHENTICATED, None),
            Error::Forbidden(_) => (FORBIDDEN, None),
            Error::NotFound(_) => (NOT_FOUND, None),
            Error::Invalid(fields) => (BAD_USER_INPUT, Some(fields_value(fields))),
            Error::Conflict(fields) => (CONFLICT, Some(fields_value(fields))),
            Error::Internal(cause) => {
                tracing::error!(error = ?cause, path = ?error.path, "internal error");
                (INTERNAL_SERVER_ERROR, None)
            }
        };
        let extensions = error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default);
        extensions.set("code", code);
        if let Some(fields) = fields {
            extensions.set("fields", fields);
        }
        return;
    }
    if error.source.is_some() {
        // A value of some other type reached the client path: a bug, never
        // shown as is.
        tracing::error!(message = %error.message, path = ?error.path, "unclassified error");
        error.message = "internal error".to_owned();
        *error = with_code(
            std::mem::replace(error, ServerError::new("", None)),
            INTERNAL_SERVER_ERROR,
        );
        return;
    }
    // The persisted-query extension's own refusal: Apollo clients answer
    // this code by sending the full query text.
    if error.message == "PersistedQueryNotFound" {
        *error = with_code(
            std::mem::replace(error, ServerError::new("", None)),
            PERSISTED_QUERY_NOT_FOUND,
        );
        return;
    }
    // No source and no code: async-graphql itself refused an argument or
    // variable while executing (a wrong type, an out-of-range Int).
    *error = with_code(
        std::mem::replace(error, ServerError::new("", None)),
        BAD_USER_INPUT,
    );
}

fn domain_error(error: &ServerError) -> Option<&Error> {
    error
        .source::<Error>()
        .or_else(|| error.source::<Arc<Error>>().map(AsRef::as_ref))
}

fn fields_value(fields: &crate::domain::FieldErrors) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|(field, messages)| {
                (
                    async_graphql::Name::new(field),
                    Value::List(messages.iter().map(|m| Value::String(m.clone())).collect()),
                )
            })
            .collect(),
    )
}
