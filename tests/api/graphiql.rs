//! GraphiQL at `/`: a page that needs nothing but this server, under a
//! same-origin Content-Security-Policy. (`tests/browser/` runs it in a real
//! Chromium.)

use reqwest::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    X_CONTENT_TYPE_OPTIONS,
};

/// The values of every `name="..."` attribute in `html`.
fn attribute_values<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let marker = format!(" {name}=\"");
    html.match_indices(&marker)
        .map(|(at, _)| {
            let rest = &html[at + marker.len()..];
            &rest[..rest.find('"').expect("a closed attribute")]
        })
        .collect()
}

/// The policy's directives, by name.
fn directives(policy: &str) -> Vec<(&str, Vec<&str>)> {
    policy
        .split(';')
        .map(str::trim)
        .filter(|directive| !directive.is_empty())
        .map(|directive| {
            let mut words = directive.split_whitespace();
            (words.next().unwrap(), words.collect())
        })
        .collect()
}

e2e! {
    async fn the_page_comes_with_a_same_origin_policy_and_a_fresh_nonce(app) {
        let page = app.http.get(app.url("/")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(page.headers()[CACHE_CONTROL], "no-store");
        assert_eq!(page.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
        let policy = page.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        let html = page.text().await.unwrap();

        let directives = directives(&policy);
        let get = |name: &str| {
            directives
                .iter()
                .find(|(directive, _)| *directive == name)
                .map(|(_, values)| values.clone())
                .unwrap_or_else(|| panic!("no {name} in {policy}"))
        };
        assert_eq!(get("default-src"), ["'self'"]);
        assert_eq!(get("script-src"), ["'self'"]);
        assert_eq!(get("connect-src"), ["'self'"]);
        assert_eq!(get("font-src"), ["'self'", "data:"]);
        assert_eq!(get("img-src"), ["'self'", "data:"]);
        assert_eq!(get("object-src"), ["'none'"]);
        assert_eq!(get("base-uri"), ["'none'"]);
        assert_eq!(get("frame-ancestors"), ["'none'"]);
        let style = get("style-src");
        assert_eq!(style[0], "'self'");
        assert_eq!(style.len(), 2, "{policy}");
        let nonce = style[1]
            .strip_prefix("'nonce-")
            .and_then(|rest| rest.strip_suffix('\''))
            .unwrap_or_else(|| panic!("a nonce in {policy}"));
        assert!(nonce.len() >= 22, "a nonce of 16 bytes or more: {nonce}");
        for word in ["unsafe", "http", "*"] {
            assert!(!policy.contains(word), "{word} in {policy}");
        }

        // The nonce is on the start-up script's tag, and the page's alone.
        assert_eq!(attribute_values(&html, "nonce"), [nonce]);
        let again = app.http.get(app.url("/")).send().await.unwrap();
        let other = again.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        assert!(!other.contains(nonce), "each response has a nonce of its own");
    }
}

e2e! {
    async fn every_asset_the_page_names_is_served_here(app) {
        let html = app.http.get(app.url("/")).send().await.unwrap().text().await.unwrap();
        assert!(!html.contains("http://") && !html.contains("https://"), "{html}");
        assert!(!html.contains("<style"), "no inline style: {html}");

        let scripts = attribute_values(&html, "src");
        let links: Vec<&str> = attribute_values(&html, "href")
            .into_iter()
            .filter(|href| !href.starts_with("data:"))
            .collect();
        assert!(scripts.len() >= 4, "React, ReactDOM, GraphiQL and start.js: {scripts:?}");
        assert!(links.len() >= 2, "GraphiQL's stylesheet and the page's: {links:?}");
        // No inline script: every <script> has a src.
        assert_eq!(html.matches("<script").count(), scripts.len(), "{html}");

        for (path, content_type) in scripts
            .iter()
            .map(|path| (path, "text/javascript; charset=utf-8"))
            .chain(links.iter().map(|path| (path, "text/css; charset=utf-8")))
        {
            assert!(path.starts_with("/graphiql/"), "{path} is under /graphiql/");
            let asset = app.http.get(app.url(path)).send().await.unwrap();
            assert_eq!(asset.status(), 200, "{path}");
            assert_eq!(asset.headers()[CONTENT_TYPE], content_type, "{path}");
            assert_eq!(asset.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
            let cache = asset.headers()[CACHE_CONTROL].to_str().unwrap().to_owned();
            if path["/graphiql/".len()..].contains('/') {
                // In a folder named for its package's exact version
                // (`graphiql-3.9.0/`): cached for good.
                assert!(cache.contains("immutable"), "{path}: {cache}");
            } else {
                assert_eq!(cache, "no-cache", "{path}");
            }
            let etag = asset.headers()[ETAG].clone();
            let body = asset.bytes().await.unwrap();
            assert!(!body.is_empty(), "{path}");

            if content_type.starts_with("text/css") {
                // Fonts and images come inline with the stylesheet, never
                // from another address.
                let css = String::from_utf8_lossy(&body);
                for (at, _) in css.match_indices("url(") {
                    let target = css[at + 4..].trim_start_matches(['"', '\'']);
                    assert!(target.starts_with("data:"), "{path} loads {}", &target[..40.min(target.len())]);
                }
            }

            let unchanged = app
                .http
                .get(app.url(path))
                .header(IF_NONE_MATCH, etag)
                .send()
                .await
                .unwrap();
            assert_eq!(unchanged.status(), 304, "{path} revalidates by its ETag");
        }

        let missing = app.http.get(app.url("/graphiql/nothing.js")).send().await.unwrap();
        assert_eq!(missing.status(), 404);
    }
}
