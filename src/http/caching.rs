//! HTTP caching of GraphQL answers: what a browser or a shared cache (a
//! CDN, nginx's `proxy_cache`) may keep, and for how long.
//!
//! - A query answered by GET is `Cache-Control: public, max-age=N` when the
//!   request has no `Authorization` header, the answer has no error, and
//!   every field it selected is public; N is the smallest max-age of those
//!   fields. The hints are the schema's own (`cache_control` on objects and
//!   fields, see `graphql::cache_hints`), which async-graphql merges during
//!   validation into `Response::cache_control`. Anything else is
//!   `private, no-store`.
//! - Every GET answer has an `ETag` (a digest of its media type and body)
//!   and `Vary: Authorization, Accept` (a token or another media type is
//!   another answer); a matching `If-None-Match` is `304 Not Modified`.
//! - A POST answer is never cacheable: `private, no-store`.

use async_graphql::BatchResponse;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

/// What no cache may keep.
pub(super) const NOT_STORED: HeaderValue = HeaderValue::from_static("private, no-store");

/// The request headers a GET answer depends on, besides its URL.
const VARY: HeaderValue = HeaderValue::from_static("Authorization, Accept");

/// The `Cache-Control` of the GraphQL answer to a GET.
pub(super) fn for_get(responses: &BatchResponse, anonymous: bool) -> HeaderValue {
    let BatchResponse::Single(response) = responses else {
        return NOT_STORED;
    };
    let hint = response.cache_control;
    // A max-age of 0 is "no field said": async-graphql merges it as no
    // bound at all, so it must not become a long public answer here.
    if anonymous && response.errors.is_empty() && hint.public && hint.max_age > 0 {
        HeaderValue::from_str(&format!("public, max-age={}", hint.max_age)).unwrap_or(NOT_STORED)
    } else {
        NOT_STORED
    }
}

/// A GET answer with its validators: `ETag` and `Vary`, `private, no-store`
/// unless it says otherwise already, and `304 Not Modified` (no body, the
/// same headers) when `if_none_match` names its ETag.
pub(super) async fn with_validators(if_none_match: &[HeaderValue], response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    // Every answer here is built in memory (nothing streams), so this
    // only hands the bytes over.
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "an answer's body could not be read back");
            return super::graphql::error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
                crate::graphql::error::INTERNAL_SERVER_ERROR,
            );
        }
    };
    let etag = etag(parts.headers.get(header::CONTENT_TYPE), &body);
    let headers = &mut parts.headers;
    headers.entry(header::CACHE_CONTROL).or_insert(NOT_STORED);
    headers.append(header::VARY, VARY);
    headers.insert(header::ETAG, etag.clone());
    if parts.status == StatusCode::OK && matches(if_none_match, &etag) {
        headers.remove(header::CONTENT_TYPE);
        headers.remove(header::CONTENT_LENGTH);
        return (StatusCode::NOT_MODIFIED, parts.headers).into_response();
    }
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Folds a response's `Vary` lines into one. The CORS layer adds its own
/// line after the handler's, and nginx before 1.23 (Debian 12 has 1.22)
/// keys its cache by only one of them, so a token's answer would have
/// been served the anonymous one from the cache.
pub(super) async fn one_vary_line(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if headers.get_all(header::VARY).iter().nth(1).is_some() {
        let joined = headers
            .get_all(header::VARY)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ");
        if let Ok(value) = HeaderValue::from_str(&joined) {
            headers.insert(header::VARY, value);
        }
    }
    response
}

/// A strong ETag for a body in a media type: the same bytes as another
/// type are another representation.
fn etag(content_type: Option<&HeaderValue>, body: &[u8]) -> HeaderValue {
    let mut digest = Sha256::new();
    digest.update(content_type.map_or(&b""[..], HeaderValue::as_bytes));
    digest.update([0]);
    digest.update(body);
    let hex: String = digest.finalize()[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

/// Whether `If-None-Match` values (each a list, or `*`) name `etag`, by
/// the weak comparison RFC 9110 asks for there: `W/` is ignored.
pub(super) fn matches<'a>(
    if_none_match: impl IntoIterator<Item = &'a HeaderValue>,
    etag: &HeaderValue,
) -> bool {
    let ours = strip_weak(etag.to_str().unwrap_or_default());
    if_none_match
        .into_iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || strip_weak(tag) == ours)
}

fn strip_weak(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// The `If-None-Match` values of a request.
pub(super) fn if_none_match(headers: &HeaderMap) -> Vec<HeaderValue> {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::CacheControl;

    fn answer(public: bool, max_age: i32, errors: bool) -> BatchResponse {
        let mut response = async_graphql::Response::new(async_graphql::Value::Null);
        response.cache_control = CacheControl { public, max_age };
        if errors {
            response
                .errors
                .push(async_graphql::ServerError::new("no", None));
        }
        BatchResponse::Single(response)
    }

    #[test]
    fn only_an_anonymous_public_answer_without_errors_is_public() {
        assert_eq!(for_get(&answer(true, 5, false), true), "public, max-age=5");
        assert_eq!(for_get(&answer(true, 5, false), false), NOT_STORED);
        assert_eq!(for_get(&answer(false, 5, false), true), NOT_STORED);
        assert_eq!(for_get(&answer(true, 5, true), true), NOT_STORED);
        // No hint at all, and async-graphql's no-cache.
        assert_eq!(for_get(&answer(true, 0, false), true), NOT_STORED);
        assert_eq!(for_get(&answer(true, -1, false), true), NOT_STORED);
    }

    #[test]
    fn if_none_match_compares_weakly_through_lists_and_star() {
        let etag = HeaderValue::from_static("\"abc\"");
        let names = |value: &'static str| matches([&HeaderValue::from_static(value)], &etag);
        assert!(names("\"abc\""));
        assert!(names("W/\"abc\""));
        assert!(names("\"x\", W/\"abc\""));
        assert!(names("*"));
        assert!(!names("\"abcd\""));
        assert!(!names("abc"));
        assert!(!matches([], &etag));
    }

    #[test]
    fn the_etag_depends_on_the_media_type_and_the_body() {
        let json = HeaderValue::from_static("application/json");
        let graphql = HeaderValue::from_static("application/graphql-response+json");
        assert_eq!(etag(Some(&json), b"{}"), etag(Some(&json), b"{}"));
        assert_ne!(etag(Some(&json), b"{}"), etag(Some(&graphql), b"{}"));
        assert_ne!(etag(Some(&json), b"{}"), etag(Some(&json), b"[]"));
    }
}
