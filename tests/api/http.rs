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
    async fn oversized_bodies_get_a_413_the_client_can_read(app) {
        // 5 MB against the default limit of 1 MiB, sent by a client that
        // writes the whole body before it reads a byte of the answer (as
        // Node's fetch does): a server that answered and closed at once
        // would reset the connection under it (EPIPE) instead.
        let body = json!({ "query": "{ viewer { id } }", "variables": { "pad": "x".repeat(5_000_000) } })
            .to_string()
            .into_bytes();
        // Three times each: a reset is a race the server loses only mostly.
        for chunked in [false, false, false, true, true, true] {
            let (status, answer) = write_all_then_read(&app, &body, chunked)
                .await
                .unwrap_or_else(|error| panic!("chunked {chunked}: the 413 reaches the client: {error}"));
            assert_eq!(status, 413, "chunked {chunked}: {answer}");
            assert_eq!(error_code(&answer), "BAD_REQUEST", "chunked {chunked}: {answer}");
            assert!(answer["errors"][0]["message"].as_str().unwrap().contains("too large"), "{answer}");
        }

        // reqwest, which reads while it writes, gets the same answers.
        for chunked in [false, true] {
            let request = app.http.post(app.url("/graphql")).header("content-type", "application/json");
            let request = if chunked {
                let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                    body.chunks(64 * 1024).map(|chunk| Ok(chunk.to_vec())).collect();
                request.body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
            } else {
                request.body(body.clone())
            };
            let response = request.send().await.expect("the 413 reaches the client");
            assert_eq!(response.status(), 413, "chunked {chunked}");
            assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
            let answer: Value = response.json().await.expect("a JSON body");
            assert_eq!(error_code(&answer), "BAD_REQUEST", "chunked {chunked}: {answer}");
        }

        // The server is still there for the next request.
        let data = app.gql_ok(None, "{ __typename }", json!({})).await;
        assert_eq!(data["__typename"], "Query");
    }
}

/// POSTs `body` to `/graphql` over a connection of its own, writing all of
/// it (with `Content-Length`, or chunked) before reading the answer: its
/// status and JSON body.
async fn write_all_then_read(
    app: &crate::helpers::TestApp,
    body: &[u8],
    chunked: bool,
) -> std::io::Result<(u16, Value)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let mut stream = tokio::net::TcpStream::connect(app.addr).await?;
    let framing = if chunked {
        "transfer-encoding: chunked".to_owned()
    } else {
        format!("content-length: {}", body.len())
    };
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n{framing}\r\n\r\n",
        app.addr
    );
    stream.write_all(head.as_bytes()).await?;
    if chunked {
        for chunk in body.chunks(64 * 1024) {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            stream.write_all(chunk).await?;
            stream.write_all(b"\r\n").await?;
        }
        stream.write_all(b"0\r\n\r\n").await?;
    } else {
        stream.write_all(body).await?;
    }
    stream.flush().await?;

    // The answer has a Content-Length: read up to its end.
    let mut answer = Vec::new();
    let mut buffer = [0; 8192];
    loop {
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buffer))
                .await
                .map_err(|_| std::io::Error::other("no answer within 10 s"))??;
        answer.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .expect("the answer has a Content-Length");
            if rest.len() >= length {
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .expect("a status");
                let json = serde_json::from_str(&rest[..length]).expect("a JSON body");
                return Ok((status, json));
            }
        }
        if read == 0 {
            return Err(std::io::Error::other(format!(
                "the connection closed before the answer was whole: {text}"
            )));
        }
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
