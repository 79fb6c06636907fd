//! A request costs what its shape costs, not its size: the SQL statements one
//! request executes, counted at the database connection (`/metrics`), do not
//! grow with `first`.

use serde_json::{Value, json};

use crate::helpers::TestApp;

const HOMEPAGE: &str = "query($first: Int) {
  articles(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      slug title description tags createdAt favoritesCount favoritedByViewer commentsCount
      author { username image followedByViewer }
    } }
  }
  popularTags(first: 10) { name articlesCount }
}";

const DEEP: &str = "query($first: Int) {
  articles(first: $first) { nodes {
    title
    author { username followers(first: 10) { nodes { username articles(first: 5) { nodes { title favoritesCount } } } } }
    comments(first: 10) { nodes { body author { username } } }
  } }
}";

async fn statements(app: &TestApp) -> u64 {
    app.metric("conduit_sql_statements_total").await
}

/// Statements one request executes, and its data.
async fn measure(app: &TestApp, token: Option<&str>, query: &str, first: i64) -> (u64, Value) {
    let before = statements(app).await;
    let data = app.gql_ok(token, query, json!({ "first": first })).await;
    (statements(app).await - before, data)
}

/// Three users who follow each other, 110 articles with tags, comments on
/// and favorites of many of them.
async fn publishing_platform(app: &TestApp) -> String {
    let jane = app.sign_up("jane").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    for (token, whom) in [
        (&bob, "jane"),
        (&carol, "jane"),
        (&carol, "bob"),
        (&jane, "bob"),
    ] {
        app.gql_ok(
            Some(token),
            "mutation($u: String!) { followUser(username: $u) { id } }",
            json!({ "u": whom }),
        )
        .await;
    }
    for i in 0..110 {
        let author = if i % 2 == 0 { &jane } else { &bob };
        let data = app
            .gql_ok(
                Some(author),
                "mutation($input: CreateArticleInput!) { createArticle(input: $input) { slug } }",
                json!({ "input": {
                    "title": format!("Article number {i}"),
                    "description": "About things",
                    "body": "Long text.",
                    "tags": [format!("topic{}", i % 7), "common"],
                } }),
            )
            .await;
        let slug = data["createArticle"]["slug"].as_str().unwrap().to_owned();
        if i % 3 == 0 {
            app.gql_ok(
                Some(&carol),
                "mutation($s: String!) { addComment(articleSlug: $s, body: \"Nice\") { id } favoriteArticle(slug: $s) { id } }",
                json!({ "s": slug }),
            )
            .await;
        }
    }
    carol
}

// No batch window is widened for these tests: over HTTP a level's batch goes
// out when the request has nothing left to run (graphql::batching), so even
// this unoptimized build, slow to resolve a 100-item level, batches it whole.
e2e! {
    async fn the_homepage_costs_the_same_statements_for_5_articles_as_for_100(app) {
        // Arrange
        let viewer = publishing_platform(&app).await;

        // Act
        let (small, small_data) = measure(&app, Some(&viewer), HOMEPAGE, 5).await;
        let (large, large_data) = measure(&app, Some(&viewer), HOMEPAGE, 100).await;

        // Assert: the answers really differ in size, the cost does not.
        assert_eq!(small_data["articles"]["edges"].as_array().unwrap().len(), 5);
        assert_eq!(large_data["articles"]["edges"].as_array().unwrap().len(), 100);
        assert!(
            large_data["articles"]["edges"].as_array().unwrap().iter().any(|e| e["node"]["favoritedByViewer"] == true),
            "the viewer-specific fields were really loaded"
        );
        assert_eq!(small, large, "statements at first: 5 and first: 100");
        assert!(large <= 8, "homepage took {large} statements");
        // What they are: the page (with the viewer's favorites and the tag
        // names on its rows), totalCount's counter, popularTags, and the
        // authors (with the viewer's follows).
        assert_eq!(large, 4, "homepage statements");
    }
}

e2e! {
    async fn a_viewers_flags_cost_no_statements_of_their_own(app) {
        // Arrange
        let viewer = publishing_platform(&app).await;

        // Act
        let (anonymous, anonymous_data) = measure(&app, None, HOMEPAGE, 20).await;
        let (seen, seen_data) = measure(&app, Some(&viewer), HOMEPAGE, 20).await;

        // Assert: the flags really are the viewer's (carol follows both
        // authors and favorited every third article) ...
        let nodes = |data: &Value| -> Vec<Value> {
            data["articles"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
        };
        assert!(nodes(&anonymous_data).iter().all(|n| n["favoritedByViewer"] == false
            && n["author"]["followedByViewer"] == false));
        let seen_nodes = nodes(&seen_data);
        assert!(seen_nodes.iter().all(|n| n["author"]["followedByViewer"] == true));
        let favorited = seen_nodes.iter().filter(|n| n["favoritedByViewer"] == true).count();
        assert!(favorited > 0 && favorited < seen_nodes.len(), "{favorited} of {} favorited", seen_nodes.len());
        // ... and are read by the statements that read the rows.
        assert_eq!(seen, anonymous, "statements with a viewer and without");
    }
}

e2e! {
    async fn the_deep_query_costs_the_same_statements_for_5_articles_as_for_50(app) {
        let viewer = publishing_platform(&app).await;

        let (small, _) = measure(&app, Some(&viewer), DEEP, 5).await;
        let (large, data) = measure(&app, Some(&viewer), DEEP, 50).await;

        let articles = data["articles"]["nodes"].as_array().unwrap();
        assert_eq!(articles.len(), 50);
        let nested_articles: usize = articles
            .iter()
            .flat_map(|a| a["author"]["followers"]["nodes"].as_array().unwrap())
            .map(|f| f["articles"]["nodes"].as_array().unwrap().len())
            .sum();
        assert!(nested_articles > 0, "the followers' articles were loaded");
        assert_eq!(small, large, "statements at first: 5 and first: 50");
        assert!(large <= 12, "deep took {large} statements");
    }
}

e2e! {
    async fn concurrent_requests_each_cost_what_one_alone_costs(app) {
        let viewer = publishing_platform(&app).await;
        let (alone, _) = measure(&app, Some(&viewer), DEEP, 50).await;

        // Sixteen at once keep both cores busy: a batch that went out on a
        // timer would leave with part of a level and cost more statements.
        let before = statements(&app).await;
        let requests = (0..16).map(|_| app.gql_ok(Some(&viewer), DEEP, json!({ "first": 50 })));
        let answers = futures_util::future::join_all(requests).await;
        let together = statements(&app).await - before;

        assert!(answers.iter().all(|data| data["articles"]["nodes"].as_array().unwrap().len() == 50));
        assert_eq!(together, 16 * alone, "16 concurrent deep requests, {alone} statements each alone");
    }
}
