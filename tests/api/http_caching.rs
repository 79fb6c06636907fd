//! HTTP caching of GET answers: `Cache-Control` from the schema's hints
//! (public only for anonymous answers without errors that select public
//! fields alone), `ETag` and `304 Not Modified`, `Vary`; POST never
//! cacheable; and all of it through a real caching proxy (nginx).

use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CACHE_CONTROL, ETAG, IF_NONE_MATCH, VARY};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::caching_proxy::CachingProxy;
use crate::helpers::TestApp;

const NOT_STORED: &str = "private, no-store";

/// The homepage the benchmarks load: 20 articles (5 s) and the popular
/// tags (60 s), with the `*ByViewer` fields an anonymous caller gets false.
const HOMEPAGE: &str = include_str!("../../../shared/peers/ops/homepage.graphql");

async fn get_with(
    app: &TestApp,
    query: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app.http.get(app.url("/graphql")).query(&[("query", query)]);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the server answers")
}

/// The `Cache-Control` of an anonymous GET of `query`.
async fn cache_control(app: &TestApp, query: &str) -> String {
    header(&get_with(app, query, None, &[]).await, CACHE_CONTROL)
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    response
        .headers()
        .get_all(&name)
        .iter()
        .map(|value| value.to_str().expect("text"))
        .collect::<Vec<_>>()
        .join(", ")
}

e2e! {
    async fn anonymous_public_queries_are_public_for_their_smallest_max_age(app) {
        let token = app.sign_up("author").await;
        let slug = app.create_article(&token, "Cached", &["rust"]).await;
        assert_eq!(cache_control(&app, "{ popularTags { name articlesCount } }").await, "public, max-age=60");
        let article = format!("{{ article(slug: \"{slug}\") {{ title author {{ username }} }} }}");
        assert_eq!(cache_control(&app, &article).await, "public, max-age=30");
        // A count is 5 s, wherever it is.
        let counted = format!("{{ article(slug: \"{slug}\") {{ title favoritesCount }} }}");
        assert_eq!(cache_control(&app, &counted).await, "public, max-age=5");
        assert_eq!(cache_control(&app, "{ popularTags { name } articles(first: 1) { totalCount } }").await, "public, max-age=5");
        assert_eq!(cache_control(&app, HOMEPAGE).await, "public, max-age=5");
        // Through fragments too.
        let fragment = "query { ...Tags } fragment Tags on Query { popularTags { name } }";
        assert_eq!(cache_control(&app, fragment).await, "public, max-age=60");
    }
}

e2e! {
    async fn private_fields_a_token_and_errors_are_never_public(app) {
        let token = app.sign_up("reader").await;
        for query in [
            "{ viewer { username } }",
            "{ feed { totalCount } }",
            "{ notifications { totalCount } }",
            "{ user(username: \"reader\") { email } }",
            "{ user(username: \"reader\") { sessions { id } } popularTags { name } }",
            // Private wins over any public field beside it.
            "{ popularTags { name } viewer { username } }",
        ] {
            assert_eq!(cache_control(&app, query).await, NOT_STORED, "{query}");
        }
        // A public query with a token (or a bad one) is the caller's alone.
        for token in [token.as_str(), "not-a-token"] {
            let response = get_with(&app, "{ popularTags { name } }", Some(token), &[]).await;
            assert_eq!(header(&response, CACHE_CONTROL), NOT_STORED);
        }
        // Errors: validation, a bad argument at execution, a parse error.
        for query in [
            "{ popularTags { name } nope }",
            "{ popularTags(first: -1) { name } }",
            "{ popularTags {",
        ] {
            assert_eq!(cache_control(&app, query).await, NOT_STORED, "{query}");
        }
        // Refused before anything ran: a mutation by GET (405).
        let response = get_with(&app, "mutation { signOut }", None, &[]).await;
        assert_eq!(response.status(), 405);
        assert_eq!(header(&response, CACHE_CONTROL), NOT_STORED);
    }
}

e2e! {
    async fn post_answers_are_never_cacheable(app) {
        let response = app
            .http
            .post(app.url("/graphql"))
            .json(&json!({ "query": "{ popularTags { name } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, CACHE_CONTROL), NOT_STORED);
        assert!(response.headers().get(ETAG).is_none());
    }
}

e2e! {
    async fn get_answers_have_an_etag_and_a_matching_if_none_match_is_304(app) {
        let query = "{ popularTags { name } }";
        let first = get_with(&app, query, None, &[]).await;
        let etag = header(&first, ETAG);
        assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2, "{etag}");
        let vary = first.headers().get_all(VARY).iter().count();
        assert_eq!(vary, 1, "one Vary line, as every cache reads it");
        assert!(header(&first, VARY).contains("Authorization, Accept"), "{}", header(&first, VARY));
        let body = first.bytes().await.unwrap();
        let again = get_with(&app, query, None, &[]).await;
        assert_eq!(header(&again, ETAG), etag, "the same answer, the same ETag");

        let weak = format!("W/{etag}");
        let listed = format!("\"other\", {etag}");
        for if_none_match in [etag.as_str(), weak.as_str(), listed.as_str(), "*"] {
            let response = get_with(&app, query, None, &[(IF_NONE_MATCH.as_str(), if_none_match)]).await;
            assert_eq!(response.status(), 304, "{if_none_match}");
            assert_eq!(header(&response, ETAG), etag);
            assert_eq!(header(&response, CACHE_CONTROL), "public, max-age=60");
            assert!(header(&response, VARY).contains("Authorization, Accept"));
            assert!(response.bytes().await.unwrap().is_empty());
        }
        let other = get_with(&app, query, None, &[(IF_NONE_MATCH.as_str(), "\"other\"")]).await;
        assert_eq!(other.status(), 200);
        assert_eq!(other.bytes().await.unwrap(), body);

        // Another media type is another representation.
        let typed = get_with(&app, query, None, &[(ACCEPT.as_str(), "application/graphql-response+json")]).await;
        assert_ne!(header(&typed, ETAG), etag);

        // A new tag changes the answer, and so its ETag.
        let token = app.sign_up("tagger").await;
        app.create_article(&token, "Tagged", &["new-tag"]).await;
        let changed = get_with(&app, query, None, &[(IF_NONE_MATCH.as_str(), &etag)]).await;
        assert_eq!(changed.status(), 200);
        assert_ne!(header(&changed, ETAG), etag);

        // Refusals have one too; only a 200 is ever 304.
        let refused = get_with(&app, "mutation { signOut }", None, &[]).await;
        let refused_etag = header(&refused, ETAG);
        assert!(!refused_etag.is_empty());
        let again = get_with(&app, "mutation { signOut }", None, &[(IF_NONE_MATCH.as_str(), &refused_etag)]).await;
        assert_eq!(again.status(), 405);
    }
}

fn sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// Stores the homepage as a trusted document, as a deploy would.
async fn store_homepage(app: &TestApp) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    let manifest = dir.path().join("manifest.json");
    std::fs::write(&manifest, json!({ sha256(HOMEPAGE): HOMEPAGE }).to_string()).unwrap();
    let output =
        crate::trusted_documents::documents(app, &["add", &manifest.display().to_string()]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

/// One GET through the proxy: its `X-Cache-Status` and its JSON.
async fn through(
    app: &TestApp,
    proxy: &CachingProxy,
    path: &str,
    token: Option<&str>,
) -> (String, Value) {
    let mut request = app.http.get(proxy.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("nginx answers");
    assert_eq!(response.status(), 200);
    let status = response
        .headers()
        .get("x-cache-status")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, response.json().await.expect("a JSON body"))
}

fn titles(homepage: &Value) -> Vec<String> {
    homepage["data"]["articles"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("a homepage: {homepage:#}"))
        .iter()
        .map(|edge| edge["node"]["title"].as_str().unwrap().to_owned())
        .collect()
}

e2e! {
    async fn a_caching_proxy_serves_the_anonymous_homepage_from_its_cache(app) {
        let token = app.sign_up("writer").await;
        app.create_article(&token, "First", &["rust"]).await;
        let _manifest = store_homepage(&app).await;
        let proxy = CachingProxy::start(app.addr);
        let path = format!("/graphql?documentId=sha256:{}", sha256(HOMEPAGE));
        // The document reaches the server within a second (a poll on SQLite).
        let started = Instant::now();
        let (first, page) = loop {
            let (status, page) = through(&app, &proxy, &path, None).await;
            if page.get("errors").is_none() {
                break (status, page);
            }
            assert!(started.elapsed() < Duration::from_secs(2), "not stored: {page:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(first, "MISS");
        assert_eq!(titles(&page), ["First"]);
        let (second, cached) = through(&app, &proxy, &path, None).await;
        assert_eq!(second, "HIT");
        assert_eq!(cached, page);

        // A token is never answered from the cache, nor stored in it.
        for _ in 0..3 {
            let (status, mine) = through(&app, &proxy, &path, Some(&token)).await;
            assert_ne!(status, "HIT");
            assert_eq!(titles(&mine), ["First"]);
        }

        // A write: the cache goes on serving the page it has until its
        // max-age (5 s, the article list's) has passed, then the new one.
        app.create_article(&token, "Second", &[]).await;
        let written = Instant::now();
        let (status, stale) = through(&app, &proxy, &path, None).await;
        if status == "HIT" {
            assert_eq!(titles(&stale), ["First"]);
        }
        loop {
            let (status, page) = through(&app, &proxy, &path, None).await;
            if titles(&page) == ["Second", "First"] {
                assert_ne!(status, "HIT", "a new page is fetched, then cached");
                break;
            }
            assert!(written.elapsed() < Duration::from_secs(7), "the write never showed");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let (status, page) = through(&app, &proxy, &path, None).await;
        assert_eq!(status, "HIT");
        assert_eq!(titles(&page), ["Second", "First"]);

        // Plain query text is cached the same way.
        let text = format!("/graphql?query={}", urlencode(HOMEPAGE));
        assert_eq!(through(&app, &proxy, &text, None).await.0, "MISS");
        assert_eq!(through(&app, &proxy, &text, None).await.0, "HIT");
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
