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
pub const RATE_LIMITED: &str = "RATE_LIMITED";
pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
pub const PERSISTED_QUERY_NOT_IN_LIST: &str = "PERSISTED_QUERY_NOT_IN_LIST";
pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";

/// The extension of a RATE_LIMITED error: whole seconds to wait (over HTTP
/// the same number is the `Retry-After` header).
pub const RETRY_AFTER: &str = "retryAfter";

/// A RATE_LIMITED error raised outside of a resolver (the query budget).
pub fn rate_limited(message: impl Into<String>, retry_after_secs: u64) -> ServerError {
    let mut error = ServerError::new(message, None);
    let extensions = error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    extensions.set("code", RATE_LIMITED);
    extensions.set(RETRY_AFTER, retry_after_secs);
    error
}

/// The `retryAfter` of every RATE_LIMITED error of `response`.
pub fn retry_after_secs(response: &Response) -> impl Iterator<Item = u64> + '_ {
    response.errors.iter().filter_map(|error| {
        let extensions = error.extensions.as_ref()?;
        if extensions.get("code") != Some(&Value::from(RATE_LIMITED)) {
            return None;
        }
        match extensions.get(RETRY_AFTER)? {
            Value::Number(seconds) => seconds.as_u64(),
            _ => None,
        }
    })
}

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
            Error::RateLimited { .. } => (RATE_LIMITED, None),
            Error::Internal(cause) => {
                tracing::error!(error = ?cause, path = ?error.path, "internal error");
                (INTERNAL_SERVER_ERROR, None)
            }
        };
        let retry_after = match domain_error {
            Error::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let extensions = error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default);
        extensions.set("code", code);
        if let Some(fields) = fields {
            extensions.set("fields", fields);
        }
        if let Some(seconds) = retry_after {
            extensions.set(RETRY_AFTER, seconds);
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

/// Whether `response` answers a request that failed before execution began:
/// a document that does not parse or validate, variables that do not
/// coerce, an unknown operation name, a persisted query that cannot be
/// used. Such a response has no data (the GraphQL specification leaves the
/// `data` entry out) and only errors without a path; an error a resolver
/// raised always has one.
pub fn failed_before_execution(response: &Response) -> bool {
    response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
}

/// Whether the first error of `response` has `code`.
pub fn has_code(response: &Response, code: &str) -> bool {
    response.errors.first().is_some_and(|error| {
        error
            .extensions
            .as_ref()
            .and_then(|extensions| extensions.get("code"))
            .is_some_and(|value| matches!(value, Value::String(c) if c == code))
    })
}

/// A document of `query` that did not parse, labeled, with the parser's
/// diagram (several lines, a caret under the place) made one line that
/// says what was expected, what was found and where:
/// `Syntax Error: Expected Name, found "}" at 1:3`.
pub fn parse_failed(mut error: ServerError, query: &str) -> ServerError {
    if error.message.contains('\n')
        && let Some(&position) = error.locations.first()
    {
        error.message = syntax_error_line(&error.message, query, position);
    }
    with_code(error, GRAPHQL_PARSE_FAILED)
}

fn syntax_error_line(diagram: &str, query: &str, position: async_graphql::Pos) -> String {
    let found = token_at(query, position);
    let at = format!("{}:{}", position.line, position.column);
    // The diagram's last line: `= expected a, b, or c`, `= unexpected a`
    // or `= unexpected a; expected b`.
    let note = diagram
        .lines()
        .rev()
        .find_map(|line| line.trim_start().strip_prefix("= "))
        .unwrap_or_default();
    let expected = note
        .split("; ")
        .find_map(|part| part.strip_prefix("expected "))
        .map(|list| {
            let list = list.replace(", or ", ", ").replace(" or ", ", ");
            let mut names: Vec<&str> = Vec::new();
            for rule in list.split(", ") {
                let name = readable_rule(rule.trim());
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            match names.split_last() {
                Some((last, [])) => (*last).to_owned(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                None => String::new(),
            }
        })
        .filter(|list| !list.is_empty());
    match expected {
        Some(expected) => format!("Syntax Error: Expected {expected}, found {found} at {at}"),
        None => format!("Syntax Error: Unexpected {found} at {at}"),
    }
}

/// What a rule of async-graphql's grammar stands for, in the words of the
/// GraphQL specification.
fn readable_rule(rule: &str) -> &str {
    match rule {
        "selection" | "field" | "name" | "name_start" | "alias" | "fragment_name"
        | "enum_value" => "Name",
        "selection_set" | "object_value" => "\"{\"",
        "arguments" | "variable_definitions" => "\"(\"",
        "directive" | "directives" => "\"@\"",
        "variable" => "\"$\"",
        "value" | "const_value" | "default_value" => "a value",
        "type_" | "named_type" | "list_type" => "a type",
        "type_condition" => "\"on\"",
        "executable_definition" => "an operation or fragment",
        "operation_type" => "query, mutation or subscription",
        "EOI" => "<EOF>",
        "string" | "block_string" => "a string",
        "int" | "float" => "a number",
        other => other,
    }
}

/// The token of `query` at `position` (1-based line and column, in
/// characters), quoted; `<EOF>` past the end.
fn token_at(query: &str, position: async_graphql::Pos) -> String {
    let line_start: usize = query
        .split_inclusive('\n')
        .take(position.line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = query.get(line_start..).unwrap_or_default();
    let rest: String = rest
        .chars()
        .skip(position.column.saturating_sub(1))
        .skip_while(|c| c.is_whitespace() || *c == ',' || *c == '\u{feff}')
        .take(40)
        .collect();
    if rest.is_empty() {
        return "<EOF>".to_owned();
    }
    if rest.starts_with("...") {
        return "\"...\"".to_owned();
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '+'))
        .collect();
    let token = if word.is_empty() {
        rest.chars().take(1).collect()
    } else {
        word
    };
    format!("{token:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(query: &str) -> String {
        let error = async_graphql::parser::parse_query(query).expect_err("a syntax error");
        parse_failed(ServerError::from(error), query).message
    }

    #[test]
    fn syntax_errors_are_one_line_with_the_position() {
        assert_eq!(
            message("{ }"),
            r#"Syntax Error: Expected Name, found "}" at 1:3"#
        );
        assert_eq!(
            message("{"),
            "Syntax Error: Expected Name, found <EOF> at 1:2"
        );
        assert_eq!(
            message("query {\n  a(x: )\n}"),
            r#"Syntax Error: Expected a value, found ")" at 2:8"#
        );
        assert_eq!(
            message("{ a } }"),
            r#"Syntax Error: Expected <EOF> or an operation or fragment, found "}" at 1:7"#
        );
        assert_eq!(
            message("{ 8f31403dfe404bccbb0e835f2629c6a7 }"),
            r#"Syntax Error: Expected Name, found "8f31403dfe404bccbb0e835f2629c6a7" at 1:3"#
        );
        assert_eq!(
            message("{ viewer { id "),
            r#"Syntax Error: Expected "{", Name, "@" or "(", found <EOF> at 1:15"#
        );
        assert_eq!(
            message(""),
            "Syntax Error: Expected an operation or fragment, found <EOF> at 1:1"
        );
    }

    #[test]
    fn other_document_errors_keep_their_message() {
        assert_eq!(
            message("{ a } { b }"),
            "document contains multiple operations"
        );
    }
}
