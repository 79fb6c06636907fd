//! The HTTP surface: GET and POST, GraphiQL, health, limits, error shapes.

use serde_json::{Value, json};

use crate::helpers::error_code;

e2e! {
    async fn get_runs_queries_and_refuses_mutations_with_405(app) {
        let query = app
            .http
            .get(app.url("/graphql"))
            .query(&[("query", "{ viewer { id } }")])
            .send()
            .await
            .unwrap();
        assert_eq!(query.status(), 200);
        let body: Value = query.json().await.unwrap();
        assert_eq!(body["data"]["viewer"], Value::Null);

        let mutation = app
            .http
            .get(app.url("/graphql"))
            .query(&[(
                "query",
                "mutation { signUp(input: {username: \"x\", email: \"x@example.com\", password: \"password-x\"}) { token } }",
            )])
            .send()
            .await
            .unwrap();
        assert_eq!(mutation.status(), 405);
        assert_eq!(mutation.headers()["allow"], "POST");
        let missing = app.gql_ok(None, "{ user(username: \"x\") { id } }", json!({})).await;
        assert_eq!(missing["user"], Value::Null, "the GET mutation did not run");
    }
}

e2e! {
    async fn graphiql_and_health_endpoints_answer(app) {
        let page = app.http.get(app.url("/")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().to_lowercase().contains("graphiql"));

        let alive = app.http.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(alive.status(), 200);

        let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        let body: Value = ready.json().await.unwrap();
        assert_eq!(body["database"], "ok");
    }
}

e2e! {
    async fn malformed_requests_get_graphql_shaped_errors(app) {
        let not_json = app
            .http
            .post(app.url("/graphql"))
            .header("content-type", "application/json")
            .body("{ this is not json")
            .send()
            .await
            .unwrap();
        assert_eq!(not_json.status(), 400);
        let body: Value = not_json.json().await.unwrap();
        assert_eq!(error_code(&body), "GRAPHQL_PARSE_FAILED");

        let syntax = app.gql(None, "{ viewer { id ", json!({})).await;
        assert_eq!(error_code(&syntax), "GRAPHQL_PARSE_FAILED");

        let unknown_field = app.gql(None, "{ viewer { shoeSize } }", json!({})).await;
        assert_eq!(error_code(&unknown_field), "GRAPHQL_VALIDATION_FAILED");

        // Variables that do not coerce are refused before execution, like
        // a document that does not validate (BAD_USER_INPUT is for input
        // that reached a resolver, and carries `fields`).
        let wrong_variable = app
            .gql(None, "query($u: String!) { user(username: $u) { id } }", json!({ "u": 5 }))
            .await;
        assert_eq!(error_code(&wrong_variable), "GRAPHQL_VALIDATION_FAILED", "{wrong_variable:#}");
        for refused in [&syntax, &unknown_field, &wrong_variable] {
            assert!(refused.get("data").is_none(), "no data entry before execution: {refused:#}");
        }
    }
}

e2e! {
    async fn oversized_bodies_are_refused_with_413(app) {
        let huge = "x".repeat(2 * 1024 * 1024);
        let response = app
            .http
            .post(app.url("/graphql"))
            .json(&json!({ "query": "{ viewer { id } }", "variables": { "pad": huge } }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413);
    }
}

e2e! {
    async fn queries_nested_past_the_depth_limit_are_refused(app) {
        // Deeper than the default limit of 16, through introspection types.
        let depth = 20;
        let query = format!(
            "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
            "ofType { ".repeat(depth),
            "} ".repeat(depth)
        );
        let response = app.gql(None, &query, json!({})).await;
        assert_eq!(error_code(&response), "GRAPHQL_VALIDATION_FAILED", "{response:#}");
    }
}

#[tokio::test]
async fn cors_allows_the_configured_origins_only() {
    let app =
        crate::helpers::TestApp::spawn_sqlite_with(&["--cors-origin", "https://app.example.com"])
            .await;

    let allowed = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let allowed_headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );

    let other = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("Origin", "https://evil.example.com")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn bad_settings_stop_the_server_with_a_one_line_error() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_conduit-gateway"))
        .args(["serve", "--listen", "not-an-address"])
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--listen"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let short_secret = std::process::Command::new(env!("CARGO_BIN_EXE_conduit-gateway"))
        .args(["serve", "--jwt-secret", "short"])
        .output()
        .expect("the binary runs");
    assert!(!short_secret.status.success());
    assert!(String::from_utf8_lossy(&short_secret.stderr).contains("at least 32"));
}
