//! Work after the response: the outbox, notifications and their live feed.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

const NOTIFICATIONS: &str = "query($unread: Boolean) {
  notifications(unreadOnly: $unread) {
    totalCount
    nodes { id kind read actor { username } article { title } comment { body } }
  }
}";

/// Polls `check` until it answers `Some`, for up to thirty seconds (the
/// suite runs in parallel on two cores): jobs run after the response, so
/// their results appear a moment later.
pub(crate) async fn eventually<T, F: Future<Output = Option<T>>>(
    mut check: impl FnMut() -> F,
) -> T {
    for _ in 0..600 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the expected state never came");
}

async fn notifications_of(app: &TestApp, token: &str) -> Value {
    app.gql_ok(Some(token), NOTIFICATIONS, json!({})).await["notifications"].clone()
}

/// The caller's notifications once there are `n` of them.
async fn wait_for(app: &TestApp, token: &str, n: usize) -> Vec<Value> {
    eventually(|| async {
        let found = notifications_of(app, token).await;
        let nodes = found["nodes"].as_array().unwrap().clone();
        (nodes.len() >= n).then_some(nodes)
    })
    .await
}

async fn publish(app: &TestApp, token: &str, title: &str) -> String {
    let data = app
        .gql_ok(
            Some(token),
            "mutation($t: String!) { createArticle(input: { title: $t, description: \"d\", body: \"b\" }) { slug } }",
            json!({ "t": title }),
        )
        .await;
    data["createArticle"]["slug"].as_str().unwrap().to_owned()
}

async fn follow(app: &TestApp, token: &str, username: &str) {
    app.gql_ok(
        Some(token),
        "mutation($u: String!) { followUser(username: $u) { id } }",
        json!({ "u": username }),
    )
    .await;
}

async fn database(app: &TestApp) -> DatabaseConnection {
    Database::connect(&app.database_url)
        .await
        .expect("the test database")
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

e2e! {
    async fn each_action_notifies_the_right_user_and_nobody_of_their_own(app) {
        // Arrange
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;

        // Act: bob follows jane, jane publishes, bob favorites and comments;
        // jane also favorites and comments on her own article.
        follow(&app, &bob, "jane").await;
        let slug = publish(&app, &jane, "Jane's news").await;
        app.gql_ok(Some(&bob), "mutation($s: String!) { favoriteArticle(slug: $s) { id } }", json!({ "s": slug })).await;
        app.gql_ok(Some(&bob), "mutation($s: String!) { addComment(articleSlug: $s, body: \"Great\") { id } }", json!({ "s": slug })).await;
        app.gql_ok(Some(&jane), "mutation($s: String!) { favoriteArticle(slug: $s) { id } addComment(articleSlug: $s, body: \"Mine\") { id } }", json!({ "s": slug })).await;

        // Assert: jane hears of bob's three actions, newest first; bob of
        // jane's article; nobody of their own.
        let for_jane = wait_for(&app, &jane, 3).await;
        let kinds: Vec<&str> = for_jane.iter().map(|n| n["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["NEW_COMMENT", "ARTICLE_FAVORITED", "NEW_FOLLOWER"]);
        assert!(for_jane.iter().all(|n| n["actor"]["username"] == "bob" && n["read"] == false));
        assert_eq!(for_jane[0]["comment"]["body"], "Great");
        assert_eq!(for_jane[0]["article"]["title"], "Jane's news");
        assert_eq!(for_jane[1]["article"]["title"], "Jane's news");
        assert_eq!(for_jane[2]["article"], Value::Null);

        let for_bob = wait_for(&app, &bob, 1).await;
        assert_eq!(for_bob.len(), 1);
        assert_eq!(for_bob[0]["kind"], "NEW_ARTICLE");
        assert_eq!(for_bob[0]["actor"]["username"], "jane");
        assert_eq!(for_bob[0]["article"]["title"], "Jane's news");

        // Nothing more arrives later (jane's own actions queued nothing).
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(notifications_of(&app, &jane).await["totalCount"], 3);
    }
}

e2e! {
    async fn notifications_are_read_marked_and_private(app) {
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let carol = app.sign_up("carol").await;
        follow(&app, &bob, "jane").await;
        follow(&app, &carol, "jane").await;
        let mine = wait_for(&app, &jane, 2).await;
        let (newest, oldest) = (mine[0]["id"].clone(), mine[1]["id"].clone());

        // Someone else can neither see nor mark jane's notifications.
        let peek = app.gql_ok(Some(&bob), "query($id: ID!) { node(id: $id) { id } }", json!({ "id": newest })).await;
        assert_eq!(peek["node"], Value::Null);
        let theirs = app
            .gql_ok(Some(&bob), "mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }", json!({ "ids": [newest] }))
            .await;
        assert_eq!(theirs["markNotificationsRead"], 0);
        let own = app.gql_ok(Some(&jane), "query($id: ID!) { node(id: $id) { ... on Notification { kind } } }", json!({ "id": newest })).await;
        assert_eq!(own["node"]["kind"], "NEW_FOLLOWER");

        // Marking one, then all.
        let one = app
            .gql_ok(Some(&jane), "mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }", json!({ "ids": [oldest] }))
            .await;
        assert_eq!(one["markNotificationsRead"], 1);
        let unread = app.gql_ok(Some(&jane), NOTIFICATIONS, json!({ "unread": true })).await;
        assert_eq!(unread["notifications"]["totalCount"], 1);
        assert_eq!(unread["notifications"]["nodes"][0]["id"], newest);
        let rest = app.gql_ok(Some(&jane), "mutation { markNotificationsRead }", json!({})).await;
        assert_eq!(rest["markNotificationsRead"], 1);
        let again = app.gql_ok(Some(&jane), "mutation { markNotificationsRead }", json!({})).await;
        assert_eq!(again["markNotificationsRead"], 0);
        let all = notifications_of(&app, &jane).await;
        assert!(all["nodes"].as_array().unwrap().iter().all(|n| n["read"] == true));

        // Anonymous callers and bad ids.
        let anonymous = app.gql(None, NOTIFICATIONS, json!({})).await;
        assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
        let anonymous_mark = app.gql(None, "mutation { markNotificationsRead }", json!({})).await;
        assert_eq!(error_code(&anonymous_mark), "UNAUTHENTICATED");
        let not_an_id = app
            .gql(Some(&jane), "mutation { markNotificationsRead(ids: [\"nope\"]) }", json!({}))
            .await;
        assert_eq!(error_code(&not_an_id), "BAD_USER_INPUT");
    }
}

e2e! {
    async fn a_job_that_runs_twice_notifies_once(app) {
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let slug = publish(&app, &jane, "Twice").await;
        // Favorite, take it back, favorite again: the same fact, told once.
        for mutation in ["favoriteArticle", "unfavoriteArticle", "favoriteArticle"] {
            app.gql_ok(Some(&bob), &format!("mutation($s: String!) {{ {mutation}(slug: $s) {{ id }} }}"), json!({ "s": slug }))
                .await;
        }
        wait_for(&app, &jane, 1).await;

        // Deliver a job a second time, as at-least-once delivery may.
        let db = database(&app).await;
        let favorite_job = json!({ "kind": "NotifyFavorite", "user_id": 2, "article_id": 1 }).to_string();
        db.execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            if db.get_database_backend() == sea_orm::DbBackend::Postgres {
                "INSERT INTO outbox (kind, payload, attempts, run_at, created_at) VALUES ('NotifyFavorite', $1, 0, now(), now())"
            } else {
                "INSERT INTO outbox (kind, payload, attempts, run_at, created_at) VALUES ('NotifyFavorite', ?, 0, '2000-01-01 00:00:00+00:00', '2000-01-01 00:00:00+00:00')"
            },
            [favorite_job.into()],
        ))
        .await
        .unwrap();
        eventually(|| async { (count(&db, "SELECT COUNT(*) FROM outbox").await == 0).then_some(()) }).await;

        assert_eq!(count(&db, "SELECT COUNT(*) FROM notifications WHERE kind = 'ARTICLE_FAVORITED'").await, 1);
    }
}

e2e! {
    async fn a_new_article_reaches_every_follower_in_batches(app) {
        // Arrange: 2,500 followers, written straight into the database (signing
        // each up over HTTP would take minutes of password hashing).
        let jane = app.sign_up("jane").await;
        let db = database(&app).await;
        let followers = 2_500;
        for chunk in (0..followers).collect::<Vec<i64>>().chunks(500) {
            let users: Vec<String> = chunk
                .iter()
                .map(|i| format!("('fan{i}', 'fan{i}@example.com', 'x', 0, 1, '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')"))
                .collect();
            db.execute_unprepared(&format!(
                "INSERT INTO users (username, email, password_hash, followers_count, following_count, created_at, updated_at) VALUES {}",
                users.join(", ")
            ))
            .await
            .unwrap();
        }
        db.execute_unprepared(
            "INSERT INTO follows (follower_id, followee_id, created_at) \
             SELECT id, 1, '2026-01-01 00:00:00+00:00' FROM users WHERE username LIKE 'fan%'",
        )
        .await
        .unwrap();

        // Act
        let slug = publish(&app, &jane, "For all my fans").await;

        // Assert: every follower, exactly once, and the queue drains.
        let article_id = count(&db, &format!("SELECT id FROM articles WHERE slug = '{slug}'")).await;
        let sql = format!("SELECT COUNT(*) FROM notifications WHERE kind = 'NEW_ARTICLE' AND article_id = {article_id}");
        eventually(|| async { (count(&db, &sql).await == followers).then_some(()) }).await;
        eventually(|| async { (count(&db, "SELECT COUNT(*) FROM outbox").await == 0).then_some(()) }).await;
        let distinct = count(
            &db,
            &format!("SELECT COUNT(DISTINCT recipient_id) FROM notifications WHERE article_id = {article_id}"),
        )
        .await;
        assert_eq!(distinct, followers);
    }
}

e2e! {
    async fn the_outbox_depth_is_visible(app) {
        let body: Value = app.http.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
        assert_eq!(body["outbox"]["pending"], 0);
        assert_eq!(body["outbox"]["parked"], 0);
        let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("conduit_outbox_pending 0"), "{metrics}");
        assert!(metrics.contains("conduit_outbox_oldest_age_seconds"), "{metrics}");
    }
}

e2e! {
    async fn a_failing_job_is_retried_later_then_parked_not_lost(app) {
        let db = database(&app).await;
        let postgres = db.get_database_backend() == sea_orm::DbBackend::Postgres;
        let long_ago = if postgres { "now() - interval '1 day'" } else { "'2000-01-01 00:00:00+00:00'" };
        // A job that cannot run: its payload names no job. One is fresh,
        // one has already failed all but its last allowed time.
        for attempts in [0, 9] {
            db.execute_unprepared(&format!(
                "INSERT INTO outbox (kind, payload, attempts, run_at, created_at) \
                 VALUES ('Broken', '{{\"kind\":\"NoSuchJob\",\"attempt\":{attempts}}}', {attempts}, {long_ago}, {long_ago})"
            ))
            .await
            .unwrap();
        }
        // Wake the worker (it polls anyway).
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        follow(&app, &bob, "jane").await;
        wait_for(&app, &jane, 1).await;

        // The fresh one waits for a retry in the future, with its error kept.
        eventually(|| async {
            (count(&db, "SELECT COUNT(*) FROM outbox WHERE attempts = 1 AND last_error IS NOT NULL AND parked_at IS NULL").await == 1)
                .then_some(())
        })
        .await;
        let retry_at: chrono::DateTime<chrono::Utc> = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT run_at FROM outbox WHERE attempts = 1",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get("", "run_at")
            .unwrap();
        assert!(retry_at > chrono::Utc::now(), "backed off, not retried at once: {retry_at}");
        // The other reached the limit: parked, kept, visible.
        eventually(|| async {
            (count(&db, "SELECT COUNT(*) FROM outbox WHERE attempts = 10 AND parked_at IS NOT NULL").await == 1).then_some(())
        })
        .await;
        let body: Value = app.http.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
        assert_eq!(body["outbox"]["parked"], 1, "{body:#}");
        assert_eq!(body["outbox"]["pending"], 1, "{body:#}");
    }
}
