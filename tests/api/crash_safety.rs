//! Nothing a client was told succeeded is lost: writes that queued jobs
//! survive the process being killed before the jobs ran.

use std::time::Duration;

use serde_json::{Value, json};

use crate::process::Server;

async fn crash_and_recover(database_url: &str) {
    // Arrange: a server whose worker never runs, so every job waits.
    let first = Server::start(database_url, &["--no-worker"]).await;
    let jane = first.sign_up("jane").await;
    let bob = first.sign_up("bob").await;
    let carol = first.sign_up("carol").await;
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
    // Generous: the whole suite runs in parallel on two cores, and a job
    // that failed once waits 2 s, 4 s, ... for its retry.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while tokio::time::Instant::now() < deadline {
        jane_sees = second.gql(Some(&jane), query, json!({})).await;
        // Both: the count and the page are statements of their own, so an
        // answer read while the last job commits can count 4 and list 3.
        let listed = jane_sees["notifications"]["nodes"].as_array().map(Vec::len);
        if jane_sees["notifications"]["totalCount"] == 4 && listed == Some(4) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // On failure, the outbox as the restarted server saw it when the wait
    // ended: a job still pending (late, retrying) is a different fault
    // from one gone.
    let outbox = second.readiness().await;
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
