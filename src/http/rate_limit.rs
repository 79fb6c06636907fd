//! The query budget over HTTP: every answer tells the caller its budget and
//! what is left of it, and an answer over budget is a 429 with
//! `Retry-After`.
//!
//! The fields are those of the IETF httpapi working group's draft "RateLimit
//! header fields for HTTP" (draft-ietf-httpapi-ratelimit-headers-11, the
//! latest), as Structured Field lists of one item named after the policy:
//!
//! ```text
//! RateLimit-Policy: "cost";q=2000000000;w=60
//! RateLimit: "cost";r=1999999338;t=1
//! ```
//!
//! `q` is the budget per window `w` (seconds); `r` what is left now; `t` the
//! seconds within which no more than `r` may be spent: until the budget is
//! full again, or, over budget, until the request fits (the draft wants
//! `Retry-After` no earlier than the end of `t`: they are equal). The
//! unit (`qu`) is left at its default: the draft registers only `requests`,
//! `content-bytes` and `concurrent-requests`, and a cost is none of them;
//! the policy's name says what is counted.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::limits::{Outcome, WINDOW};

const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Sets `RateLimit-Policy` and `RateLimit` for a budget of `per_minute`,
/// and `Retry-After` when the request was over it.
pub(super) fn describe(headers: &mut HeaderMap, per_minute: u64, spent: &Outcome) {
    let policy = format!("\"cost\";q={per_minute};w={}", WINDOW.as_secs());
    let state = format!("\"cost\";r={};t={}", spent.remaining(), spent.window_secs());
    for (name, value) in [(POLICY, policy), (RATE_LIMIT, state)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    if let Some(seconds) = spent.retry_after_secs() {
        retry_after(headers, seconds);
    }
}

/// `Retry-After: seconds`.
pub(super) fn retry_after(headers: &mut HeaderMap, seconds: u64) {
    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_fields_under_and_over_budget() {
        let mut headers = HeaderMap::new();
        let spent = Outcome::Spent {
            remaining: 338,
            full_in: Duration::from_millis(1_500),
        };
        describe(&mut headers, 1_000, &spent);
        assert_eq!(headers["ratelimit-policy"], r#""cost";q=1000;w=60"#);
        assert_eq!(headers["ratelimit"], r#""cost";r=338;t=2"#);
        assert!(headers.get("retry-after").is_none());

        let refused = Outcome::Refused {
            remaining: 12,
            retry_after: Duration::from_millis(2_100),
        };
        describe(&mut headers, 1_000, &refused);
        assert_eq!(headers["ratelimit"], r#""cost";r=12;t=3"#);
        assert_eq!(headers["retry-after"], "3");
    }
}
