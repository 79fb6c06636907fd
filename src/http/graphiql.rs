//! GraphiQL at `/`, self-contained: the page, its start-up script and
//! every bundle, stylesheet and font it uses are compiled into the binary
//! (`assets/graphiql/`) and served under `/graphiql/`, so a browser that
//! opens it fetches nothing from anywhere but this server. The page's
//! Content-Security-Policy says as much.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::Rng as _;
use sha2::{Digest as _, Sha256};

/// The page, with `{{nonce}}` where each response's nonce goes.
const PAGE: &str = include_str!("../../assets/graphiql/index.html");

/// What the page may load and where it may connect: this origin only.
///
/// - `connect-src 'self'` covers the WebSocket too: under CSP Level 3
///   `'self'` matches `ws:`/`wss:` to the page's own host and port
///   (Chromium, Firefox and Safari do so), and nothing else is needed.
/// - `style-src` adds this response's nonce: GraphiQL's dialogs lock the
///   page's scroll with a `<style>` element they create at run time
///   (react-remove-scroll, which puts `window.__webpack_nonce__` on it;
///   `start.js` sets that from its own tag's nonce). The styles GraphiQL
///   and CodeMirror set through `element.style` are not inline styles in
///   CSP's sense and need nothing.
/// - `font-src data:`: GraphiQL's stylesheet carries its fonts (Roboto,
///   Fira Code) inline as `data:` URLs, so they arrive with the stylesheet
///   from this server; nothing is fetched for them.
/// - `img-src data:`: the page's empty `data:` favicon, which spares the
///   browser a request for `/favicon.ico`.
fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; \
         connect-src 'self'; img-src 'self' data:; font-src 'self' data:; \
         object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// One file under `/graphiql/`.
struct Asset {
    path: &'static str,
    body: &'static [u8],
    content_type: &'static str,
    /// Third-party bundles sit under their exact version, so a URL never
    /// changes meaning and may be cached for good; the gateway's own files
    /// change with it and are revalidated (by their ETag).
    versioned: bool,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

macro_rules! asset {
    ($path:literal, $content_type:expr, versioned: $versioned:literal) => {
        Asset {
            path: $path,
            body: include_bytes!(concat!("../../assets/graphiql/", $path)),
            content_type: $content_type,
            versioned: $versioned,
        }
    };
}

static ASSETS: &[Asset] = &[
    asset!("start.js", JS, versioned: false),
    asset!("page.css", CSS, versioned: false),
    asset!("vendor/graphiql-3.9.0/graphiql.min.js", JS, versioned: true),
    asset!("vendor/graphiql-3.9.0/graphiql.min.css", CSS, versioned: true),
    asset!("vendor/react-18.3.1/react.production.min.js", JS, versioned: true),
    asset!("vendor/react-dom-18.3.1/react-dom.production.min.js", JS, versioned: true),
];

/// The URL path of an asset under `/graphiql/`: its file path without the
/// `vendor/` folder.
fn url_path(asset: &Asset) -> &'static str {
    asset.path.strip_prefix("vendor/").unwrap_or(asset.path)
}

/// Each asset's ETag, a digest of its bytes, computed once.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = Sha256::digest(asset.body);
            let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header value")
        })
        .collect()
});

/// `GET /`: the page, with a fresh nonce in its policy and on its tag.
pub(super) async fn page() -> Response {
    let nonce = STANDARD.encode(rand::rng().random::<[u8; 16]>());
    let csp = HeaderValue::from_str(&content_security_policy(&nonce))
        .expect("the policy is a valid header value");
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CONTENT_SECURITY_POLICY, csp),
            // The nonce is this response's alone.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        PAGE.replace("{{nonce}}", &nonce),
    )
        .into_response()
}

/// `GET /graphiql/{*path}`: one of the page's assets, 404 for anything else.
pub(super) async fn asset(Path(path): Path<String>, request_headers: HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|asset| url_path(asset) == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let asset = &ASSETS[index];
    let etag = ETAGS[index].clone();
    let cache_control = HeaderValue::from_static(if asset.versioned {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    });
    let headers: [(HeaderName, HeaderValue); 4] = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ),
        (header::CACHE_CONTROL, cache_control),
        (header::ETAG, etag.clone()),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if super::caching::matches(request_headers.get_all(header::IF_NONE_MATCH), &etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, asset.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every script and stylesheet the page names is one this module
    /// serves, and each asset is named by the page.
    #[test]
    fn the_page_names_exactly_the_served_assets() {
        let named: Vec<&str> = PAGE
            .split(['"', '\''])
            .filter_map(|part| part.strip_prefix("/graphiql/"))
            .collect();
        let served: Vec<&str> = ASSETS.iter().map(url_path).collect();
        let mut named_sorted = named.clone();
        named_sorted.sort_unstable();
        let mut served_sorted = served.clone();
        served_sorted.sort_unstable();
        assert_eq!(named_sorted, served_sorted);
    }

    #[test]
    fn the_policy_allows_only_this_origin() {
        let policy = content_security_policy("abc");
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(policy.contains("style-src 'self' 'nonce-abc';"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
        assert!(!policy.contains("http"), "{policy}");
        assert!(!policy.contains('*'), "{policy}");
    }
}
