//! Trusted documents: manifests stored with `conduit-gateway documents`,
//! asked for by id in every form clients use, `--trusted-documents only`,
//! and changes reaching running instances within a second.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::helpers::{TestApp, error_code};
use crate::subscriptions::{Client, TRANSPORT};

const TAGS: &str = "query Tags { popularTags(first: 3) { name } }";
const VIEWER: &str = "query Me { viewer { username } }";
const ARTICLES: &str = "query Articles($first: Int) { articles(first: $first) { totalCount } }";
const NOT_STORED: &str = "{ articles(first: 1) { totalCount } }";
const COMMENTS: &str =
    "subscription Comments($slug: String!) { commentAdded(articleSlug: $slug) { id } }";

fn sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// Runs `conduit-gateway documents ARGS` against `app`'s database, off the
/// test's runtime: the server runs on it, and blocking it while the
/// server's worker holds SQLite's write lock would lock the command out.
pub(crate) async fn documents(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_conduit-gateway"));
    command
        .arg("documents")
        .args(args)
        .env("DATABASE_URL", &app.database_url);
    tokio::task::spawn_blocking(move || command.output().expect("the command runs"))
        .await
        .expect("the command's thread")
}

/// Writes the manifests clients' tools write: Apollo's (two documents),
/// codegen's and a plain map (one each).
fn manifests(dir: &std::path::Path) -> Vec<String> {
    let apollo = json!({
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            { "id": sha256(TAGS), "name": "Tags", "type": "query", "body": TAGS },
            { "id": sha256(COMMENTS), "name": "Comments", "type": "subscription", "body": COMMENTS },
        ],
    });
    let codegen = json!({ format!("sha256:{}", sha256(VIEWER)): VIEWER });
    let plain = json!({ sha256(ARTICLES): ARTICLES });
    [
        ("apollo.json", apollo),
        ("codegen.json", codegen),
        ("relay.json", plain),
    ]
    .into_iter()
    .map(|(name, manifest)| {
        let path = dir.join(name);
        std::fs::write(&path, manifest.to_string()).expect("written");
        path.display().to_string()
    })
    .collect()
}

/// Stores the manifests, and waits (a second at most) until `app` serves them.
async fn add_manifests(app: &TestApp) -> tempfile::TempDir {
    let dir = store_manifests(app).await;
    let by_id = json!({ "documentId": sha256(TAGS) });
    within_a_second(|| async {
        post(app, by_id.clone(), None).await["data"]["popularTags"].is_array()
    })
    .await;
    dir
}

async fn store_manifests(app: &TestApp) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    let files = manifests(dir.path());
    let mut args = vec!["add"];
    args.extend(files.iter().map(String::as_str));
    let output = documents(app, &args).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("4 added"));
    dir
}

async fn post(app: &TestApp, body: Value, client: Option<&str>) -> Value {
    let mut request = app.http.post(app.url("/graphql")).json(&body);
    if let Some(client) = client {
        request = request.header("apollographql-client-name", client);
    }
    crate::helpers::read_json(request).await
}

async fn get(app: &TestApp, query: &[(&str, &str)]) -> Value {
    crate::helpers::read_json(app.http.get(app.url("/graphql")).query(query)).await
}

/// The refusals `/metrics` counts for `client`.
async fn refusals(app: &TestApp, client: &str) -> u64 {
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("conduit_trusted_document_refusals_total{{client=\"{client}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |count| count.parse().expect("a count"))
}

/// Waits up to a second for `check` to hold.
async fn within_a_second<F: Future<Output = bool>>(mut check: impl FnMut() -> F) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not within a second"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

e2e! {
    async fn stored_documents_are_served_by_id_in_every_form(app) {
        let _dir = add_manifests(&app).await;
        let tags = sha256(TAGS);
        let forms = [
            json!({ "documentId": format!("sha256:{tags}") }),
            json!({ "documentId": tags }),
            json!({ "doc_id": tags }),
            json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": tags } } }),
        ];
        for form in forms {
            let answer = post(&app, form.clone(), None).await;
            assert!(answer["data"]["popularTags"].is_array(), "{form}: {answer:#}");
        }
        let by_get = get(&app, &[("documentId", &format!("sha256:{tags}"))]).await;
        assert!(by_get["data"]["popularTags"].is_array(), "{by_get:#}");
        let variables = get(
            &app,
            &[("documentId", &sha256(ARTICLES)), ("variables", r#"{"first": 2}"#)],
        )
        .await;
        assert_eq!(variables["data"]["articles"]["totalCount"], 0, "{variables:#}");

        // Unknown ids: not found, so an APQ client sends the text.
        let unknown = post(&app, json!({ "documentId": sha256(NOT_STORED) }), None).await;
        assert_eq!(error_code(&unknown), "PERSISTED_QUERY_NOT_FOUND", "{unknown:#}");
        // In the default mode, free text still works.
        let text = post(&app, json!({ "query": NOT_STORED }), None).await;
        assert_eq!(text["data"]["articles"]["totalCount"], 0, "{text:#}");

        // `documents list` shows them, with their uses once written.
        let listed = documents(&app, &["list"]).await;
        let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
        for (id, name) in [(sha256(TAGS), "Tags"), (sha256(VIEWER), "Me"), (sha256(ARTICLES), "Articles")] {
            assert!(listed.lines().any(|line| line.starts_with(&id) && line.contains(name)), "{listed}");
        }
    }
}

e2e! {
    async fn a_manifest_with_a_wrong_id_stores_nothing(app) {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(&good, json!({ sha256(TAGS): TAGS }).to_string()).unwrap();
        let bad = dir.path().join("bad.json");
        let wrong = format!("sha256:{}", sha256("something else"));
        std::fs::write(&bad, json!({ wrong.clone(): VIEWER }).to_string()).unwrap();
        let output = documents(&app, &["add", &good.display().to_string(), &bad.display().to_string()]).await;
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&wrong), "names the id: {stderr}");
        let listed = documents(&app, &["list"]).await;
        assert_eq!(String::from_utf8_lossy(&listed.stdout).lines().count(), 1, "only the header");
    }
}

e2e! {
    with ["--trusted-documents", "only"];
    async fn only_stored_documents_run_in_only_mode(app) {
        let _dir = add_manifests(&app).await;
        // Waiting for the documents may have been refused a few times.
        let unknown_before = refusals(&app, "unknown").await;
        let tags = sha256(TAGS);
        let stored = post(&app, json!({ "documentId": format!("sha256:{tags}") }), Some("ios")).await;
        assert!(stored["data"]["popularTags"].is_array(), "{stored:#}");
        // A stored document sent as its text runs too.
        let as_text = post(&app, json!({ "query": TAGS }), Some("web")).await;
        assert!(as_text["data"]["popularTags"].is_array(), "{as_text:#}");

        let refused_documents = [
            ("free text", json!({ "query": NOT_STORED })),
            ("an APQ registration", json!({ "query": NOT_STORED, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256(NOT_STORED) } } })),
            ("an unknown id", json!({ "documentId": sha256(NOT_STORED) })),
            ("text that does not even parse", json!({ "query": "{ articles(" })),
        ];
        for (what, body) in refused_documents {
            let answer = post(&app, body, Some("ios")).await;
            assert_eq!(error_code(&answer), "PERSISTED_QUERY_NOT_IN_LIST", "{what}: {answer:#}");
            assert!(answer.get("data").is_none(), "{what}: {answer:#}");
        }
        // What was "registered" above is still refused by hash.
        let after = post(&app, json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256(NOT_STORED) } } }), None).await;
        assert_eq!(error_code(&after), "PERSISTED_QUERY_NOT_IN_LIST", "{after:#}");
        let by_get = get(&app, &[("query", NOT_STORED)]).await;
        assert_eq!(error_code(&by_get), "PERSISTED_QUERY_NOT_IN_LIST", "{by_get:#}");

        // Over a WebSocket too: a stored subscription starts, another does not.
        let mut client = Client::ready(&app, TRANSPORT, None).await;
        client
            .send(json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { commentAdded(articleSlug: \"x\") { id } }" } }))
            .await;
        let refused = client.next().await;
        assert_eq!(refused["type"], "error", "{refused:#}");
        assert_eq!(refused["payload"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_IN_LIST");
        client
            .send(json!({ "id": "2", "type": "subscribe", "payload": { "documentId": sha256(COMMENTS), "variables": { "slug": "x" } } }))
            .await;
        // It runs: and says there is no such article (not that it may not run).
        let ran = client.next().await;
        assert_eq!(ran["id"], "2", "{ran:#}");
        assert_eq!(ran["payload"][0]["extensions"]["code"], "NOT_FOUND", "{ran:#}");

        assert_eq!(refusals(&app, "ios").await, 4);
        assert_eq!(refusals(&app, "unknown").await - unknown_before, 3);
    }
}

e2e! {
    with ["--trusted-documents", "only"];
    async fn added_and_removed_documents_reach_a_running_server_within_a_second(app) {
        let id = sha256(TAGS);
        let by_id = json!({ "documentId": id });
        let refused = post(&app, by_id.clone(), None).await;
        assert_eq!(error_code(&refused), "PERSISTED_QUERY_NOT_IN_LIST");
        let _dir = add_manifests(&app).await;

        let output = documents(&app, &["remove", &format!("sha256:{id}")]).await;
        assert!(String::from_utf8_lossy(&output.stdout).contains("1 removed"));
        within_a_second(|| async {
            post(&app, by_id.clone(), None).await["errors"][0]["extensions"]["code"]
                == "PERSISTED_QUERY_NOT_IN_LIST"
        })
        .await;
    }
}

/// `documents add` through one instance's database reaches every instance
/// on it within a second.
#[tokio::test]
async fn documents_reach_every_instance_on_postgres() {
    let Some(app) = TestApp::spawn_postgres_with(&["--trusted-documents", "only"]).await else {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    let other = app
        .another_instance_with(&["--trusted-documents", "only"])
        .await;
    let by_id = json!({ "documentId": sha256(VIEWER) });
    assert_eq!(
        error_code(&post(&other, by_id.clone(), None).await),
        "PERSISTED_QUERY_NOT_IN_LIST"
    );
    let _dir = store_manifests(&app).await;
    within_a_second(|| async {
        post(&other, by_id.clone(), None)
            .await
            .get("errors")
            .is_none()
    })
    .await;
    drop(other);
}

e2e! {
    async fn a_stored_document_validated_once_still_checks_each_requests_variables(app) {
        let _dir = add_manifests(&app).await;
        let id = sha256(ARTICLES);
        let ask = |variables: Value| post(&app, json!({ "documentId": id, "variables": variables }), None);
        // The first request validates the document; the next ones reuse that.
        for first in [1, 2, 3] {
            let answer = ask(json!({ "first": first })).await;
            assert_eq!(answer["data"]["articles"]["totalCount"], 0, "{answer:#}");
        }
        for bad in [json!({ "first": "three" }), json!({ "first": 1.5 }), json!({ "first": [1, 2] })] {
            let answer = ask(bad.clone()).await;
            assert_eq!(error_code(&answer), "GRAPHQL_VALIDATION_FAILED", "{bad}: {answer:#}");
            assert!(answer.get("data").is_none(), "{bad}: {answer:#}");
        }
        let after = ask(json!({})).await;
        assert_eq!(after["data"]["articles"]["totalCount"], 0, "{after:#}");
    }
}
