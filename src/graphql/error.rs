//! The one place where errors get their `extensions.code`.
//!
//! Resolvers use `?` on `domain::Error`; async-graphql's blanket conversion
//! keeps the message and stores the value as the error's `source`. For
//! queries, mutations and subscriptions alike (`pipeline` calls
//! `classify_all` on every response), this:
//! - sets `code` (and `fields`) from the `domain::Error` in the source;
//! - labels validation failures (parse failures are labeled by `pipeline`,
//!   which parses before execution);
//! - logs internal errors with their cause chain and shows the client only
//!   "internal error", so no SQL, path or panic text ever leaves the server.

use std::sync::Arc;

use async_graphql::{ErrorExtensionValues, Response, ServerError, Value};

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

/// Gives every error of a response its code (see the module notes).
pub fn classify_all(response: &mut Response) {
    response.errors.iter_mut().for_each(classify);
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
    // No source and no code. Without a path it was refused before any
    // resolver ran: the document does not fit the schema, the variables do
    // not fit the document, or it is too deep or too complex.
    let code = if error.path.is_empty() {
        GRAPHQL_VALIDATION_FAILED
    } else {
        // With one, async-graphql refused an argument while executing (a
        // wrong type, an out-of-range Int).
        BAD_USER_INPUT
    };
    *error = with_code(std::mem::replace(error, ServerError::new("", None)), code);
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
