//! A write cut off mid-transaction (its request timed out while the
//! database made it wait) leaves nothing behind: no row, and no connection
//! that goes back to the pool still inside its transaction.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement, TransactionTrait};
use serde_json::json;

const ADD_COMMENT: &str =
    "mutation($s: String!, $b: String!) { addComment(articleSlug: $s, body: $b) { id } }";

e2e! {
    with ["--request-timeout-secs", "1"];
    async fn a_write_cut_off_by_the_timeout_changes_nothing_and_leaves_the_pool_clean(app) {
        // Arrange: an article, and another client's transaction holding the
        // lock the next comment on it must wait for (PostgreSQL: the
        // article's row; SQLite: the database's one write lock).
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let slug = app.create_article(&jane, "Held", &[]).await;
        let other = Database::connect(&app.database_url).await.unwrap();
        let backend = other.get_database_backend();
        let holding = other.begin().await.unwrap();
        let touch = match backend {
            DbBackend::Postgres => "UPDATE articles SET title = title WHERE slug = $1",
            _ => "UPDATE articles SET title = title WHERE slug = ?",
        };
        holding
            .execute_raw(Statement::from_sql_and_values(backend, touch, [slug.clone().into()]))
            .await
            .unwrap();

        // Act: a comment that waits past the request timeout; then the lock
        // goes away while the server's statement may still be waiting.
        let response = app
            .http
            .post(app.url("/graphql"))
            .bearer_auth(&bob)
            .json(&json!({ "query": ADD_COMMENT, "variables": { "s": slug, "b": "cut off" } }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503, "the request timed out");
        tokio::time::sleep(Duration::from_millis(300)).await;
        holding.rollback().await.unwrap();

        // Assert: more writes than the pool has connections (4) go through,
        // each in time, so none met a connection left inside a
        // transaction (on SQLite one would hold the write lock, and every
        // other write would wait for it and fail).
        for n in 0..8 {
            let started = tokio::time::Instant::now();
            app.gql_ok(Some(&bob), ADD_COMMENT, json!({ "s": slug, "b": format!("after {n}") }))
                .await;
            assert!(started.elapsed() < Duration::from_secs(1), "write {n} waited");
        }
        let data = app
            .gql_ok(
                None,
                "query($s: String!) { article(slug: $s) { commentsCount comments(first: 20) { nodes { body } } } }",
                json!({ "s": slug }),
            )
            .await;
        let bodies: Vec<_> = data["article"]["comments"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|node| node["body"].as_str().unwrap().to_owned())
            .collect();
        assert!(!bodies.contains(&"cut off".to_owned()), "{bodies:?}");
        assert_eq!(data["article"]["commentsCount"], 8, "{data:#}");
        if backend == DbBackend::Postgres {
            // Nothing of the server's stays idle inside a transaction. The
            // cut-off connection's rollback runs on its way back to the
            // pool, a task of its own: on a loaded machine it can still be
            // on its way when the writes above are done, so this waits for
            // it a while before calling it left behind.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            let mut open = Vec::new();
            while tokio::time::Instant::now() < deadline {
                open = other
                    .query_all_raw(Statement::from_string(
                        backend,
                        "SELECT query FROM pg_stat_activity \
                         WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
                    ))
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| row.try_get::<String>("", "query").unwrap())
                    .collect::<Vec<_>>();
                if open.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(open.is_empty(), "left in their transactions: {open:?}");
        }
    }
}
