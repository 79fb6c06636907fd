//! No request can take the server down: the hostile requests of issue 12,
//! each as a client would send it, and the server still answering after.

use std::time::{Duration, Instant};

use proptest::strategy::{Strategy as _, ValueTree as _};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, error_fields, read_json};
use crate::process::{Data, Server};
use crate::subscriptions::{Client, TRANSPORT};

/// `[[[ ... "x" ... ]]]`, `levels` deep.
fn nested_list(levels: usize) -> String {
    format!("{}\"x\"{}", "[".repeat(levels), "]".repeat(levels))
}

/// `{a: {a: ... 1 ... }}`, `levels` deep.
fn nested_object(levels: usize) -> String {
    format!("{}1{}", "{a: ".repeat(levels), "}".repeat(levels))
}

/// The server still serves a plain query.
async fn still_serves(app: &TestApp) {
    let data = app
        .gql_ok(None, "{ popularTags { name } }", json!({}))
        .await;
    assert!(data["popularTags"].is_array());
}

e2e! {
    async fn values_nested_past_the_bound_are_refused_before_parsing(app) {
        let deep_list = format!("{{ nodes(ids: {}) {{ id }} }}", nested_list(2_000));
        let deep_object = format!(
            "mutation {{ createArticle(input: {}) {{ slug }} }}",
            nested_object(2_000)
        );
        // Over GET: the request a cross-site <img src> can send.
        let response: Value = read_json(app
            .http
            .get(app.url("/graphql"))
            .query(&[("query", deep_list.as_str())])).await;
        assert_eq!(error_code(&response), "GRAPHQL_PARSE_FAILED", "{response:#}");
        // Over POST, alone and in a batch.
        for document in [&deep_list, &deep_object] {
            let response = app.gql(None, document, json!({})).await;
            assert_eq!(error_code(&response), "GRAPHQL_PARSE_FAILED", "{response:#}");
        }
        let batch: Value = read_json(app
            .http
            .post(app.url("/graphql"))
            .json(&json!([{ "query": "{ popularTags { name } }" }, { "query": deep_list }]))).await;
        assert_eq!(error_code(&batch[1]), "GRAPHQL_PARSE_FAILED", "{batch:#}");
        // Variables: JSON nested 100 deep (serde_json itself stops at 128).
        let mut value = json!("x");
        for _ in 0..100 {
            value = json!([value]);
        }
        let response = app
            .gql(None, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", json!({ "ids": value }))
            .await;
        assert_eq!(error_code(&response), "GRAPHQL_PARSE_FAILED", "{response:#}");
        // Over a WebSocket.
        let mut client = Client::ready(&app, TRANSPORT, None).await;
        client
            .subscribe("1", &format!("subscription {{ commentAdded(articleSlug: {}) {{ id }} }}", nested_list(2_000)), json!({}))
            .await;
        let refusal = client.next().await;
        assert_eq!(refusal["type"], "error", "{refusal:#}");
        assert_eq!(refusal["payload"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED");

        // At the bound, the bound does not refuse (the list is just the
        // wrong type for an id).
        let at_bound = format!("{{ nodes(ids: {}) {{ id }} }}", nested_list(60));
        let response = app.gql(None, &at_bound, json!({})).await;
        assert_ne!(error_code(&response), "GRAPHQL_PARSE_FAILED", "{response:#}");
        still_serves(&app).await;
    }
}

e2e! {
    async fn documents_past_the_token_bound_are_refused(app) {
        let wide = format!("{{ {} }}", "popularTags { name } ".repeat(3_000));
        let response = app.gql(None, &wide, json!({})).await;
        assert_eq!(error_code(&response), "GRAPHQL_PARSE_FAILED", "{response:#}");
        assert!(response["errors"][0]["message"].as_str().unwrap().contains("tokens"));
    }
}

e2e! {
    async fn the_cost_cannot_wrap_or_be_dodged(app) {
        // A branch that never runs, with the largest Int as page size.
        let mut steered = String::from("id");
        for _ in 0..7 {
            steered = format!("followers(first: 2147483647) {{ nodes {{ {steered} }} }}");
        }
        let steered = format!("{{ node(id: \"x\") {{ ... on User {{ {steered} }} }} }}");
        // Seven real nested pages of 100: 2 x 10^14.
        let mut real = String::from("username");
        for _ in 0..7 {
            real = format!("followers(first: 100) {{ nodes {{ {real} }} }}");
        }
        let real = format!("{{ articles(first: 100) {{ nodes {{ author {{ {real} }} }} }} }}");
        // 10,000 copies of an id under two pages of 100.
        let ids: Vec<&str> = vec!["VXNlcjox"; 10_000];
        let many_ids = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on User { followers(first: 100) { nodes { followers(first: 100) { nodes { id } } } } } } }";
        for (what, query, variables) in [
            ("steered", steered.as_str(), json!({})),
            ("real", real.as_str(), json!({})),
            ("many ids", many_ids, json!({ "ids": ids })),
        ] {
            let response = app.gql(None, query, variables).await;
            assert_eq!(error_code(&response), "GRAPHQL_VALIDATION_FAILED", "{what}: {response:#}");
            assert!(response["data"].is_null(), "{what}: nothing ran");
        }
        // Text weighs its longest allowed value: a page of 100 article
        // bodies (up to 100,000 characters each) is over the limit, 99 are
        // not.
        let bodies = |n: u32| format!("{{ articles(first: {n}) {{ nodes {{ body }} }} }}");
        let response = app.gql(None, &bodies(100), json!({})).await;
        assert_eq!(error_code(&response), "GRAPHQL_VALIDATION_FAILED", "{response:#}");
        app.gql_ok(None, &bodies(99), json!({})).await;
        // More than 100 ids is refused by the field, whatever it selects.
        let ids: Vec<&str> = vec!["VXNlcjox"; 101];
        let response = app
            .gql(None, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", json!({ "ids": ids }))
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response:#}");
        assert!(error_fields(&response)["ids"][0].is_string());
    }
}

e2e! {
    async fn a_batch_is_costed_as_one_request_and_bounded(app) {
        // Each alone is under the limit (1 + 100 x (1 + 1 + 1 + 100 x 2) =
        // 20,301); two of them are not.
        let query = "{ articles(first: 100) { nodes { title author { followers(first: 100) { nodes { username } } } } } }";
        let one = app.gql(None, query, json!({})).await;
        assert!(one.get("errors").is_none(), "{one:#}");
        let batch = |n: usize| json!((0..n).map(|_| json!({ "query": query })).collect::<Vec<_>>());
        let answer: Value = read_json(app.http.post(app.url("/graphql")).json(&batch(3))).await;
        for entry in answer.as_array().expect("a batch answer") {
            assert_eq!(error_code(entry), "GRAPHQL_VALIDATION_FAILED", "{entry:#}");
        }
        // Past 20 operations a batch is refused whole.
        let cheap: Vec<Value> = (0..21).map(|_| json!({ "query": "{ popularTags { name } }" })).collect();
        let answer: Value = read_json(app.http.post(app.url("/graphql")).json(&cheap)).await;
        assert_eq!(error_code(&answer), "GRAPHQL_VALIDATION_FAILED", "{answer:#}");
        // Password hashes: 200 signIns in a batch, or 100 aliased in one
        // mutation, are refused before any hash is computed.
        let sign_in = "mutation { signIn(input: { email: \"a@example.com\", password: \"password-a\" }) { token } }";
        let signs: Vec<Value> = (0..200).map(|_| json!({ "query": sign_in })).collect();
        let started = Instant::now();
        let answer: Value = read_json(app.http.post(app.url("/graphql")).json(&signs)).await;
        assert_eq!(error_code(&answer), "GRAPHQL_VALIDATION_FAILED", "{answer:#}");
        let aliased: String = (0..100)
            .map(|i| format!("a{i}: signIn(input: {{ email: \"a@example.com\", password: \"password-a\" }}) {{ token }} "))
            .collect();
        let answer = app.gql(None, &format!("mutation {{ {aliased} }}"), json!({})).await;
        assert_eq!(error_code(&answer), "GRAPHQL_VALIDATION_FAILED", "{answer:#}");
        assert!(started.elapsed() < Duration::from_secs(2), "no hashes ran: {:?}", started.elapsed());
        // Nine fit.
        app.sign_up("a").await;
        let nine: String = (0..9)
            .map(|i| format!("a{i}: signIn(input: {{ email: \"a@example.com\", password: \"password-a\" }}) {{ token }} "))
            .collect();
        let answer = app.gql(None, &format!("mutation {{ {nine} }}"), json!({})).await;
        assert!(answer.get("errors").is_none(), "{answer:#}");
    }
}

/// Distinct documents, each ~900 KB of comment around a valid query, do not
/// grow the parse cache past its budget.
async fn distinct_big_documents_keep_memory_flat(postgres: bool) {
    let Some((_data, url)) = Data::fresh(postgres).await else {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    let server = Server::start(&url, &[]).await;
    let padding = format!("# {}\n", "x".repeat(900 * 1024));
    let http = reqwest::Client::new();
    let send = |i: usize| {
        let body = json!({ "query": format!("{padding}{{ t{i}: popularTags {{ name }} }}") });
        let request = http.post(format!("{}/graphql", server.url)).json(&body);
        async move { request.send().await.unwrap().status() }
    };
    for i in 0..20 {
        assert_eq!(send(i).await, 200);
    }
    let before = server.resident_kib();
    for i in 20..220 {
        assert_eq!(send(i).await, 200);
    }
    let grown = server.resident_kib().saturating_sub(before);
    assert!(
        grown < 100 * 1024,
        "200 distinct 900 KB documents grew the server by {grown} KiB"
    );
    assert!(server.alive().await);
}

#[tokio::test]
async fn distinct_big_documents_keep_memory_flat_on_sqlite() {
    distinct_big_documents_keep_memory_flat(false).await;
}

#[tokio::test]
async fn distinct_big_documents_keep_memory_flat_on_postgres() {
    distinct_big_documents_keep_memory_flat(true).await;
}

/// The exact GET of the issue, against the real binary: it used to abort
/// the process.
async fn one_get_does_not_kill_the_process(postgres: bool) {
    let Some((_data, url)) = Data::fresh(postgres).await else {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    let server = Server::start(&url, &[]).await;
    let query = format!("{{ nodes(ids: {}) {{ id }} }}", nested_list(2_000));
    let object = format!(
        "{{ articles(filter: {}) {{ totalCount }} }}",
        nested_object(2_000)
    );
    for document in [query, object] {
        let response = reqwest::Client::new()
            .get(format!("{}/graphql", server.url))
            .query(&[("query", document.as_str())])
            .send()
            .await
            .expect("the server answers");
        assert!(response.status().as_u16() < 500, "{}", response.status());
    }
    assert!(server.alive().await, "the process still answers /healthz");
}

#[tokio::test]
async fn one_get_does_not_kill_the_process_on_sqlite() {
    one_get_does_not_kill_the_process(false).await;
}

#[tokio::test]
async fn one_get_does_not_kill_the_process_on_postgres() {
    one_get_does_not_kill_the_process(true).await;
}

e2e! {
    with ["--token-ttl-minutes", "60"];
    async fn a_websocket_ends_when_its_token_expires(app) {
        let token = app.sign_up("jane").await;
        let id = app.tokens().verify(&token).unwrap();
        let session = id.session_id;
        let id = id.user_id;
        let now = chrono::Utc::now().timestamp();
        let short = app.tokens().issue_with_times(id, session, now, now + 2);
        let mut client = Client::ready(&app, TRANSPORT, Some(&short)).await;
        client.subscribe("1", "subscription { notificationReceived { id } }", json!({})).await;
        let started = Instant::now();
        assert_eq!(client.close_code(Duration::from_secs(5)).await, 4403);
        assert!(started.elapsed() < Duration::from_secs(4), "closed at expiry: {:?}", started.elapsed());
    }
}

/// An upgrade's HTTP status.
async fn upgrade_status(app: &TestApp) -> u16 {
    upgrade_refusal(app).await.0
}

/// The status of a WebSocket upgrade, and its `Retry-After` if refused.
async fn upgrade_refusal(app: &TestApp) -> (u16, Option<String>) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = format!("ws://{}/graphql", app.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", TRANSPORT.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => (101, None),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => (
            response.status().as_u16(),
            response
                .headers()
                .get("retry-after")
                .map(|value| value.to_str().unwrap().to_owned()),
        ),
        Err(other) => panic!("{other}"),
    }
}

e2e! {
    with ["--ws-max-connections-per-client", "2"];
    async fn connections_per_client_are_capped(app) {
        let _first = Client::ready(&app, TRANSPORT, None).await;
        let _second = Client::ready(&app, TRANSPORT, None).await;
        assert_eq!(upgrade_refusal(&app).await, (429, Some("5".to_owned())));
    }
}

e2e! {
    with ["--ws-max-connections", "2", "--ws-max-total-subscriptions", "1"];
    async fn connections_and_subscriptions_in_all_are_capped(app) {
        let mut first = Client::ready(&app, TRANSPORT, None).await;
        let mut second = Client::ready(&app, TRANSPORT, None).await;
        assert_eq!(upgrade_status(&app).await, 503);
        first.subscribe("1", "subscription { articlePublished { slug } }", json!({})).await;
        assert!(first.try_next(Duration::from_millis(300)).await.is_none(), "the first subscription runs");
        second.subscribe("1", "subscription { articlePublished { slug } }", json!({})).await;
        let refusal = second.next().await;
        assert_eq!(refusal["type"], "error");
        assert_eq!(refusal["payload"][0]["extensions"]["code"], "RATE_LIMITED");
        assert_eq!(refusal["payload"][0]["extensions"]["retryAfter"], 5);
    }
}

/// Two deployments given the same secret, each with its own database (and
/// so its own generated deployment id): neither accepts the other's tokens,
/// though each has a user with the same row id.
async fn tokens_stay_in_their_deployment(postgres: bool) {
    let (Some((_a, a_url)), Some((_b, b_url))) =
        (Data::fresh(postgres).await, Data::fresh(postgres).await)
    else {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    let (a, b) = (
        Server::start(&a_url, &[]).await,
        Server::start(&b_url, &[]).await,
    );
    let a_token = a.sign_up("alice").await;
    let b_token = b.sign_up("bob").await;
    let viewer = "{ viewer { username } }";
    assert_eq!(
        a.gql(Some(&a_token), viewer, json!({})).await["viewer"]["username"],
        "alice"
    );
    assert_eq!(
        b.gql(Some(&b_token), viewer, json!({})).await["viewer"]["username"],
        "bob"
    );
    let foreign = b.post(Some(&a_token), viewer, json!({})).await;
    assert_eq!(error_code(&foreign), "UNAUTHENTICATED", "{foreign:#}");
}

#[tokio::test]
async fn tokens_stay_in_their_deployment_on_sqlite() {
    tokens_stay_in_their_deployment(false).await;
}

#[tokio::test]
async fn tokens_stay_in_their_deployment_on_postgres() {
    tokens_stay_in_their_deployment(true).await;
}

e2e! {
    async fn tokens_from_the_future_or_living_too_long_are_refused(app) {
        let token = app.sign_up("jane").await;
        let id = app.tokens().verify(&token).unwrap();
        let session = id.session_id;
        let id = id.user_id;
        let now = chrono::Utc::now().timestamp();
        let viewer = "{ viewer { username } }";
        for (what, token) in [
            ("issued in an hour", app.tokens().issue_with_times(id, session, now + 3600, now + 7200)),
            ("living a year", app.tokens().issue_with_times(id, session, now, now + 365 * 86_400)),
        ] {
            let response = app.gql(Some(&token), viewer, json!({})).await;
            assert_eq!(error_code(&response), "UNAUTHENTICATED", "{what}: {response:#}");
        }
    }
}

e2e! {
    async fn the_small_ones(app) {
        use base64::Engine as _;
        // Cursors whose time neither database can hold.
        for micros in ["-210000000000000000", "253402300800000001"] {
            let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{micros}:1"));
            let response = app
                .gql(None, "query($a: String) { articles(after: $a) { nodes { slug } } }", json!({ "a": cursor }))
                .await;
            assert_eq!(error_code(&response), "BAD_USER_INPUT", "{micros}: {response:#}");
            assert!(error_fields(&response)["after"][0].is_string());
        }
        // markNotificationsRead: capped and de-duplicated.
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        app.follow(&bob, "jane").await;
        let mut notification = Value::Null;
        for _ in 0..50 {
            let data = app.gql_ok(Some(&jane), "{ notifications { nodes { id } } }", json!({})).await;
            if let Some(first) = data["notifications"]["nodes"].get(0) {
                notification = first["id"].clone();
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(notification.is_string(), "the follow notified jane");
        let mark = "mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }";
        let many: Vec<Value> = vec![notification.clone(); 40_000];
        let response = app.gql(Some(&jane), mark, json!({ "ids": many })).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response:#}");
        assert!(error_fields(&response)["ids"][0].is_string());
        let thrice = vec![notification.clone(); 3];
        let data = app.gql_ok(Some(&jane), mark, json!({ "ids": thrice })).await;
        assert_eq!(data["markNotificationsRead"], 1);

        // Usernames a reader cannot tell apart are one name.
        app.sign_up("alice1").await;
        let sign_up = "mutation($u: String!, $e: String!) { signUp(input: { username: $u, email: $e, password: \"password-1\" }) { token } }";
        for (i, name) in ["Alice1", "\u{430}lice1", "\u{ff41}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}1"].iter().enumerate() {
            let response = app.gql(None, sign_up, json!({ "u": name, "e": format!("x{i}@example.com") })).await;
            assert_eq!(error_code(&response), "CONFLICT", "{name}: {response:#}");
            assert!(error_fields(&response)["username"][0].is_string());
        }
        // A new name that mixes scripts (Cyrillic o in bob) is refused.
        let response = app.gql(None, sign_up, json!({ "u": "r\u{43e}bert", "e": "r@example.com" })).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response:#}");
        // A single-script name in another script is fine.
        app.gql_ok(None, sign_up, json!({ "u": "\u{43e}\u{43b}\u{44f}", "e": "olya@example.com" })).await;

        // signIn answers the viewer's own email.
        let data = app
            .gql_ok(None, "mutation { signIn(input: { email: \"jane@example.com\", password: \"password-jane\" }) { user { email } } }", json!({}))
            .await;
        assert_eq!(data["signIn"]["user"]["email"], "jane@example.com");
    }
}

/// Hostile documents of every shape, generated: none gets a 5xx, none takes
/// long, and the server answers after each.
#[tokio::test]
async fn generated_hostile_documents_never_break_the_server() {
    let app = TestApp::spawn_sqlite_with(&[]).await;
    let strategy = proptest::prop_oneof![
        (1usize..3_000).prop_map(|n| format!("{{ nodes(ids: {}) {{ id }} }}", nested_list(n))),
        (1usize..3_000).prop_map(|n| format!(
            "{{ articles(filter: {}) {{ totalCount }} }}",
            nested_object(n)
        )),
        (1usize..200).prop_map(|n| format!(
            "{}popularTags{}",
            "{ a { ".repeat(n),
            " }".repeat(n + 1)
        )),
        (1usize..20_000).prop_map(|n| format!(
            "{{ nodes(ids: [{}]) {{ id }} }}",
            vec!["\"VXNlcjox\""; n].join(",")
        )),
        "[0-9]{1,400}"
            .prop_map(|digits| format!("{{ articles(first: {digits}) {{ totalCount }} }}")),
        (1usize..500).prop_map(|n| format!(
            "{{ {} }}",
            (0..n)
                .map(|i| format!("a{i}: articles(first: 100) {{ nodes {{ body }} }}"))
                .collect::<Vec<_>>()
                .join(" ")
        )),
        (1usize..60).prop_map(|n| {
            let mut text = String::from("{ viewer { ...F0 } }\n");
            for i in 0..n {
                text.push_str(&format!(
                    "fragment F{i} on User {{ ...F{} ...F{} }}\n",
                    i + 1,
                    i + 1
                ));
            }
            text + &format!("fragment F{n} on User {{ id }}")
        }),
        (0usize..1_500).prop_map(|n| format!("{}{{ popularTags {{ name }} }}", "(".repeat(n))),
    ];
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..48 {
        let document = strategy.new_tree(&mut runner).unwrap().current();
        let batched = document.len() % 3 == 0;
        let body = if batched {
            json!(vec![json!({ "query": document }); 30])
        } else {
            json!({ "query": document })
        };
        let started = Instant::now();
        let response = app
            .http
            .post(app.url("/graphql"))
            .json(&body)
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        let _ = response.bytes().await;
        let head: String = document.chars().take(80).collect();
        assert!(status.as_u16() < 500, "{status} for {head}...");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?} for {head}...",
            started.elapsed()
        );
        still_serves(&app).await;
    }
}
