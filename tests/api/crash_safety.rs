//! Nothing a client was told succeeded is lost: writes that queued jobs
//! survive the process being killed before the jobs ran.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::TEST_SECRET;

/// The real binary, serving on a free port of its own.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    async fn start(database_url: &str, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_conduit-gateway"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                database_url,
            ])
            .args(["--jwt-secret", TEST_SECRET])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http
                .get(format!("{}/healthz", server.url))
                .send()
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server never answered");
    }

    async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = reqwest::Client::new()
            .post(format!("{}/graphql", self.url))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let body: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(body.get("errors").is_none(), "{body:#}");
        body["data"].clone()
    }

    /// What `/readyz` says, the outbox's state included.
    async fn readiness(&self) -> Value {
        reqwest::get(format!("{}/readyz", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// SIGKILL: no shutdown, no draining, nothing flushed.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the process ends");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn sign_up(server: &Server, name: &str) -> String {
    let data = server
        .gql(
            None,
            "mutation($i: SignUpInput!) { signUp(input: $i) { token } }",
            json!({ "i": { "username": name, "email": format!("{name}@example.com"), "password": "password-1" } }),
        )
        .await;
    data["signUp"]["token"].as_str().unwrap().to_owned()
}

async fn crash_and_recover(database_url: &str) {
    // Arrange: a server whose worker never runs, so every job waits.
    let first = Server::start(database_url, &["--no-worker"]).await;
    let jane = sign_up(&first, "jane").await;
    let bob = sign_up(&first, "bob").await;
    let carol = sign_up(&first, "carol").await;
    first
        .gql(
            Some(&bob),
            "mutation { followUser(username: \"jane\") { id } }",
            json!({}),
        )
        .await;
    first
        .gql(
            Some(&carol),
            "mutation { followUser(username: \"jane\") { id } }",
            json!({}),
        )
        .await;
    let data = first
        .gql(Some(&jane), "mutation { createArticle(input: { title: \"Before the crash\", description: \"d\", body: \"b\" }) { slug } }", json!({}))
        .await;
    let slug = data["createArticle"]["slug"].as_str().unwrap().to_owned();
    first
        .gql(Some(&bob), "mutation($s: String!) { favoriteArticle(slug: $s) { id } addComment(articleSlug: $s, body: \"hi\") { id } }", json!({ "s": slug }))
        .await;
    let ready = first.readiness().await;
    assert_eq!(ready["outbox"]["pending"], 5, "five jobs wait: {ready:#}");

    // Act: kill it before any job ran, then start again on the same data.
    first.kill();
    let second = Server::start(database_url, &[]).await;

    // Assert: every notification, exactly once.
    let query = "{ notifications { totalCount nodes { kind actor { username } } } }";
    let mut jane_sees = Value::Null;
    // Generous: the whole suite runs in parallel on two cores.
    for _ in 0..600 {
        jane_sees = second.gql(Some(&jane), query, json!({})).await;
        if jane_sees["notifications"]["totalCount"] == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut kinds: Vec<String> = jane_sees["notifications"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "{} by {}",
                n["kind"].as_str().unwrap(),
                n["actor"]["username"].as_str().unwrap()
            )
        })
        .collect();
    kinds.sort();
    // On failure, the outbox as the restarted server sees it: a job still
    // pending (late, retrying) is a different fault from one gone.
    let outbox = second.readiness().await;
    assert_eq!(
        kinds,
        [
            "ARTICLE_FAVORITED by bob",
            "NEW_COMMENT by bob",
            "NEW_FOLLOWER by bob",
            "NEW_FOLLOWER by carol"
        ],
        "outbox after the restart: {outbox:#}"
    );
    for follower in [&bob, &carol] {
        let theirs = second.gql(Some(follower), query, json!({})).await;
        assert_eq!(theirs["notifications"]["totalCount"], 1, "{theirs:#}");
        assert_eq!(theirs["notifications"]["nodes"][0]["kind"], "NEW_ARTICLE");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = second.gql(Some(&jane), query, json!({})).await;
    assert_eq!(
        again["notifications"]["totalCount"], 4,
        "no duplicates appear later"
    );
    let ready: Value = reqwest::get(format!("{}/readyz", second.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["outbox"]["pending"], 0);
}

#[tokio::test]
async fn jobs_queued_before_a_sigkill_run_exactly_once_after_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("crash.db").display()
    );
    crash_and_recover(&url).await;
}

#[tokio::test]
async fn jobs_queued_before_a_sigkill_run_exactly_once_after_restart_on_postgres() {
    let Some(app) = crate::helpers::TestApp::spawn_postgres_with(&["--no-worker"]).await else {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    // The harness made (and will drop) a fresh database; the real binary
    // runs on it, the in-process app only keeps it alive.
    crash_and_recover(&app.database_url).await;
}
