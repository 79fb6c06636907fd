//! A query's reads share one connection on PostgreSQL (`db::Reads`), and no
//! request ever waits on itself for a second one: with a pool of a single
//! connection, queries, mutations of many fields and batches mixing both
//! still answer.

use serde_json::{Value, json};

use crate::helpers::TestApp;

const MANY_READS: &str = "{
  viewer { username followersCount articles(first: 2) { totalCount nodes { title } } }
  user(username: \"jane\") { username followedByViewer followers(first: 3) { totalCount nodes { username } } }
  articles(first: 5) {
    totalCount
    nodes {
      slug tags favoritesCount favoritedByViewer commentsCount
      author { username followedByViewer }
      comments(first: 3) { totalCount nodes { body author { username } } }
    }
  }
  feed(first: 3) { totalCount nodes { slug } }
  popularTags(first: 3) { name articlesCount }
  notifications(first: 3) { totalCount nodes { id } }
}";

/// Two writes in one request, each read back with relations through the
/// loaders before the next one's transaction starts.
const TWO_WRITES: &str = "mutation($a: String!, $b: String!) {
  a: favoriteArticle(slug: $a) { favoritesCount favoritedByViewer author { username articles(first: 2) { totalCount } } }
  b: favoriteArticle(slug: $b) { favoritesCount favoritedByViewer author { username followers(first: 2) { totalCount } } }
}";

/// jane wrote two articles that bob comments on; bob follows jane.
async fn two_articles(app: &TestApp) -> (String, [String; 2]) {
    let jane = app.sign_up("jane").await;
    let bob = app.sign_up("bob").await;
    let first = app.create_article(&jane, "First words", &["rust"]).await;
    let second = app
        .create_article(&jane, "Second words", &["graphql"])
        .await;
    app.add_comment(&bob, &first, "Nice").await;
    app.follow(&bob, "jane").await;
    (bob, [first, second])
}

e2e! {
    async fn a_query_takes_one_connection_for_all_its_statements(app) {
        let (bob, _) = two_articles(&app).await;
        let statements = app.metric("conduit_sql_statements_total").await;
        let taken = app.metric("conduit_query_connections_total").await;

        let data = app.gql_ok(Some(&bob), MANY_READS, json!({})).await;
        assert_eq!(data["articles"]["totalCount"], 2);
        assert_eq!(data["feed"]["totalCount"], 2);

        let ran = app.metric("conduit_sql_statements_total").await - statements;
        assert!(ran > 5, "the query ran {ran} statements");
        // One connection on either backend (on SQLite, each statement from
        // the pool cost a release check on its connection's worker thread).
        assert_eq!(app.metric("conduit_query_connections_total").await - taken, 1);

        // A mutation's reads take no request connection: its transaction
        // takes its own from the pool.
        let taken = app.metric("conduit_query_connections_total").await;
        app.follow(&bob, "jane").await;
        assert_eq!(app.metric("conduit_query_connections_total").await, taken);
    }
}

e2e! {
    with ["--db-max-connections", "1"];
    async fn with_a_pool_of_one_connection_queries_mutations_and_mixed_batches_answer(app) {
        let (bob, [first, second]) = two_articles(&app).await;

        let data = app.gql_ok(Some(&bob), MANY_READS, json!({})).await;
        assert_eq!(data["viewer"]["username"], "bob");
        assert_eq!(data["user"]["followedByViewer"], true);

        let data = app
            .gql_ok(Some(&bob), TWO_WRITES, json!({ "a": first, "b": second }))
            .await;
        assert_eq!(data["a"]["favoritedByViewer"], true);
        assert_eq!(data["b"]["favoritesCount"], 1);
        assert_eq!(data["b"]["author"]["followers"]["totalCount"], 1);

        let batch: Value = app
            .http
            .post(app.url("/graphql"))
            .bearer_auth(&bob)
            .json(&json!([
                { "query": MANY_READS },
                { "query": "mutation($s: String!) { unfavoriteArticle(slug: $s) { favoritesCount author { username } } }",
                  "variables": { "s": first } },
            ]))
            .send()
            .await
            .expect("the server answers")
            .json()
            .await
            .expect("a JSON body");
        assert!(batch[0].get("errors").is_none(), "{batch:#}");
        assert!(batch[1].get("errors").is_none(), "{batch:#}");
        assert_eq!(batch[1]["data"]["unfavoriteArticle"]["favoritesCount"], 0);
    }
}

e2e! {
    async fn on_sqlite_a_querys_lists_and_lookups_read_straight_from_the_file(app) {
        two_articles(&app).await;
        let statements = app.metric("conduit_sql_statements_total").await;
        let taken = app.metric("conduit_query_connections_total").await;

        let data = app
            .gql_ok(
                None,
                "{ articles(first: 5) { nodes { title author { username followers(first: 2) { nodes { username } } }
                   comments(first: 3) { nodes { body author { username } } } } } }",
                json!({}),
            )
            .await;
        let nodes = data["articles"]["nodes"].as_array().expect("a list");
        assert_eq!(nodes[0]["title"], "Second words");
        assert_eq!(nodes[1]["comments"]["nodes"][0]["body"], "Nice");
        assert_eq!(nodes[1]["comments"]["nodes"][0]["author"]["username"], "bob");
        assert_eq!(nodes[1]["author"]["followers"]["nodes"][0]["username"], "bob");

        // A list, a page of comments and of followers per parent, users by id.
        let ran = app.metric("conduit_sql_statements_total").await - statements;
        assert!(ran >= 4, "the query ran {ran} statements");
        // On SQLite every one of them went to the file on a read-only
        // connection of its own (`db::Direct`), none through sqlx's pool.
        let pooled = app.metric("conduit_query_connections_total").await - taken;
        let expected = if app.database_url.starts_with("sqlite:") { 0 } else { 1 };
        assert_eq!(pooled, expected, "connections taken from the pool");
    }
}
