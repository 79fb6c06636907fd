//! Which media type a GraphQL response is sent as (`Accept`, with its
//! q-values), and which request bodies a POST may carry (`Content-Type`).
//!
//! The GraphQL-over-HTTP specification defines two response media types:
//! `application/graphql-response+json`, whose status codes say whether the
//! request was well-formed (4xx when it failed before execution), and
//! `application/json`, the legacy one, always 200 once the request reached
//! GraphQL. A client without `Accept` gets `application/json`; one that
//! accepts neither gets 406.

use axum::http::{HeaderMap, HeaderValue, header};

/// A media type this server answers GraphQL requests in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MediaType {
    /// `application/graphql-response+json`
    GraphQLResponseJson,
    /// `application/json`
    Json,
}

impl MediaType {
    const GRAPHQL_RESPONSE_JSON: &'static str = "application/graphql-response+json";
    const JSON: &'static str = "application/json";

    fn essence(self) -> &'static str {
        match self {
            Self::GraphQLResponseJson => Self::GRAPHQL_RESPONSE_JSON,
            Self::Json => Self::JSON,
        }
    }

    /// The `Content-Type` of a response in this media type.
    pub(super) fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::GraphQLResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        })
    }
}

/// The request accepts none of the media types this server answers in.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct NotAcceptable;

/// The media type to answer in: of those the request's `Accept` headers
/// allow, the one with the highest q-value. A media type takes the q-value
/// of the most specific range that matches it (`application/json` before
/// `application/*` before `*/*`, as RFC 9110 says); between equal q-values
/// the one named more specifically wins, then the one named first, and a
/// wildcard alone (`*/*`) means `application/json`. No `Accept` at all is
/// `application/json`, as the specification says for legacy clients.
pub(super) fn negotiate(headers: &HeaderMap) -> Result<MediaType, NotAcceptable> {
    let mut ranges = Vec::new();
    let mut any_header = false;
    for value in headers.get_all(header::ACCEPT) {
        any_header = true;
        // A header that is not even text accepts nothing we can tell.
        let Ok(value) = value.to_str() else { continue };
        ranges.extend(parse_accept(value));
    }
    if !any_header || (ranges.is_empty() && headers_are_blank(headers)) {
        return Ok(MediaType::Json);
    }
    // Json first, so that a tie on the same range goes to it.
    let candidates = [MediaType::Json, MediaType::GraphQLResponseJson];
    let mut best: Option<(MediaType, Preference)> = None;
    for candidate in candidates {
        let Some(preference) = preference(candidate, &ranges) else {
            continue;
        };
        if preference.quality == 0 {
            continue;
        }
        if best.as_ref().is_none_or(|(_, b)| preference.beats(b)) {
            best = Some((candidate, preference));
        }
    }
    best.map(|(media_type, _)| media_type).ok_or(NotAcceptable)
}

/// `Accept:` with nothing in it says nothing, like no header.
fn headers_are_blank(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .all(|value| value.as_bytes().iter().all(u8::is_ascii_whitespace))
}

/// Whether a POST's `Content-Type` is one a GraphQL request may come in:
/// `application/json` or `application/graphql-response+json`, with any
/// parameters (`charset=utf-8`). Everything else (`text/plain`, forms,
/// multipart, none) is what a browser may send cross-origin without a
/// preflight, so refusing it is the CSRF prevention Apollo Server does.
pub(super) fn is_graphql_content_type(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    [MediaType::Json, MediaType::GraphQLResponseJson]
        .iter()
        .any(|media_type| essence.eq_ignore_ascii_case(media_type.essence()))
}

/// One media range of an `Accept` header.
#[derive(Debug, PartialEq)]
struct MediaRange {
    /// Lowercase; `*` for a wildcard.
    kind: String,
    subtype: String,
    /// Thousandths, 0 to 1000.
    quality: u16,
    /// Where in the headers it stands.
    position: usize,
}

/// How much a request wants one media type.
#[derive(Debug)]
struct Preference {
    quality: u16,
    /// 2 for the type itself, 1 for `type/*`, 0 for `*/*`.
    specificity: u8,
    position: usize,
}

impl Preference {
    fn beats(&self, other: &Self) -> bool {
        (
            self.quality,
            self.specificity,
            std::cmp::Reverse(self.position),
        ) > (
            other.quality,
            other.specificity,
            std::cmp::Reverse(other.position),
        )
    }
}

/// The q-value of the most specific range matching `media_type`.
fn preference(media_type: MediaType, ranges: &[MediaRange]) -> Option<Preference> {
    let (kind, subtype) = media_type
        .essence()
        .split_once('/')
        .expect("BUG: a media type has a slash");
    ranges
        .iter()
        .filter_map(|range| {
            let specificity = match (range.kind.as_str(), range.subtype.as_str()) {
                (k, s) if k == kind && s == subtype => 2,
                (k, "*") if k == kind => 1,
                ("*", "*") => 0,
                _ => return None,
            };
            Some(Preference {
                quality: range.quality,
                specificity,
                position: range.position,
            })
        })
        .max_by_key(|p| (p.specificity, std::cmp::Reverse(p.position)))
}

/// The media ranges of one `Accept` value: `type/subtype` with parameters,
/// comma-separated; a `q` parameter is the quality (1 when absent). Ranges
/// that do not parse are skipped, as are the parameters after `q` (accept
/// extensions).
fn parse_accept(value: &str) -> Vec<MediaRange> {
    split_outside_quotes(value, ',')
        .into_iter()
        .enumerate()
        .filter_map(|(position, range)| {
            let mut parts = split_outside_quotes(range, ';').into_iter();
            let (kind, subtype) = parts.next()?.trim().split_once('/')?;
            let (kind, subtype) = (kind.trim(), subtype.trim());
            let is_token = |s: &str| !s.is_empty() && s.bytes().all(is_token_byte);
            if !is_token(kind) || !is_token(subtype) || (kind == "*" && subtype != "*") {
                return None;
            }
            let mut quality = 1000;
            for parameter in parts {
                let Some((name, value)) = parameter.split_once('=') else {
                    continue;
                };
                if name.trim().eq_ignore_ascii_case("q") {
                    quality = parse_quality(value.trim())?;
                    break;
                }
            }
            Some(MediaRange {
                kind: kind.to_ascii_lowercase(),
                subtype: subtype.to_ascii_lowercase(),
                quality,
                position,
            })
        })
        .collect()
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in
/// thousandths.
fn parse_quality(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Splits at `separator` where it is not inside a quoted string.
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&str]) -> Result<MediaType, NotAcceptable> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        }
        negotiate(&headers)
    }

    use MediaType::{GraphQLResponseJson as Gql, Json};

    #[test]
    fn no_accept_or_a_blank_one_is_json() {
        assert_eq!(accept(&[]), Ok(Json));
        assert_eq!(accept(&[""]), Ok(Json));
    }

    #[test]
    fn the_named_type_is_chosen() {
        assert_eq!(accept(&["application/json"]), Ok(Json));
        assert_eq!(accept(&["application/graphql-response+json"]), Ok(Gql));
        assert_eq!(accept(&["Application/GraphQL-Response+JSON"]), Ok(Gql));
        assert_eq!(accept(&["application/json; charset=utf-8"]), Ok(Json));
    }

    #[test]
    fn wildcards_alone_are_json() {
        assert_eq!(accept(&["*/*"]), Ok(Json));
        assert_eq!(accept(&["application/*"]), Ok(Json));
        assert_eq!(
            accept(&["text/html,application/xhtml+xml,*/*;q=0.8"]),
            Ok(Json)
        );
    }

    #[test]
    fn the_highest_q_value_wins() {
        assert_eq!(
            accept(&["application/graphql-response+json, application/json;q=0.9"]),
            Ok(Gql)
        );
        assert_eq!(
            accept(&["application/graphql-response+json;q=0.5, application/json"]),
            Ok(Json)
        );
        assert_eq!(
            accept(&[
                "application/json;q=0.4",
                "application/graphql-response+json;q=0.41"
            ]),
            Ok(Gql)
        );
        // A named type beats a wildcard of the same q; `*/*;q=0.1` does not
        // lift `application/json` over the named one.
        assert_eq!(
            accept(&["*/*;q=0.1, application/graphql-response+json;q=0.1"]),
            Ok(Gql)
        );
        assert_eq!(
            accept(&["application/graphql-response+json;q=0.2, */*;q=0.9"]),
            Ok(Json)
        );
    }

    #[test]
    fn equal_q_values_go_to_the_first_named() {
        assert_eq!(
            accept(&["application/json, application/graphql-response+json"]),
            Ok(Json)
        );
        assert_eq!(
            accept(&["application/graphql-response+json, application/json"]),
            Ok(Gql)
        );
    }

    #[test]
    fn the_most_specific_range_sets_the_q_value() {
        // application/json is refused by name, even though */* allows it.
        assert_eq!(accept(&["application/json;q=0, */*"]), Ok(Gql));
        assert_eq!(
            accept(&["application/*;q=0, application/graphql-response+json;q=0.3"]),
            Ok(Gql)
        );
    }

    #[test]
    fn nothing_acceptable_is_refused() {
        assert_eq!(accept(&["text/html"]), Err(NotAcceptable));
        assert_eq!(accept(&["application/xml, text/*"]), Err(NotAcceptable));
        assert_eq!(
            accept(&["application/json;q=0, application/graphql-response+json;q=0.000"]),
            Err(NotAcceptable)
        );
        assert_eq!(accept(&["garbage"]), Err(NotAcceptable));
    }

    #[test]
    fn parameters_and_quotes_are_parsed() {
        assert_eq!(
            parse_accept(r#"text/html;level="1,2";q=0.3, application/json ; q=1.000"#),
            vec![
                MediaRange {
                    kind: "text".into(),
                    subtype: "html".into(),
                    quality: 300,
                    position: 0
                },
                MediaRange {
                    kind: "application".into(),
                    subtype: "json".into(),
                    quality: 1000,
                    position: 1
                },
            ]
        );
        // Bad q-values make the range unusable.
        assert_eq!(parse_accept("application/json;q=2"), vec![]);
        assert_eq!(parse_accept("application/json;q=0.1234"), vec![]);
        assert_eq!(parse_accept("*/json"), vec![]);
    }

    #[test]
    fn only_json_bodies_are_graphql_requests() {
        let with = |value: Option<&str>| {
            let mut headers = HeaderMap::new();
            if let Some(value) = value {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            }
            is_graphql_content_type(&headers)
        };
        assert!(with(Some("application/json")));
        assert!(with(Some("application/json; charset=utf-8")));
        assert!(with(Some("Application/JSON;charset=UTF-8")));
        assert!(with(Some("application/graphql-response+json")));
        assert!(!with(None));
        assert!(!with(Some("text/plain")));
        assert!(!with(Some("text/plain;charset=UTF-8")));
        assert!(!with(Some("application/x-www-form-urlencoded")));
        assert!(!with(Some("multipart/form-data; boundary=x")));
        assert!(!with(Some("application/jsonp")));
    }
}
