//! popularTags: order, counts, `first`, and how it follows article changes.

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// popularTags as (name, articlesCount) pairs.
async fn popular(app: &TestApp, first: Option<i64>) -> Vec<(String, i64)> {
    let data = match first {
        Some(first) => {
            app.gql_ok(
                None,
                "query($first: Int) { popularTags(first: $first) { name articlesCount } }",
                json!({ "first": first }),
            )
            .await
        }
        None => {
            app.gql_ok(None, "{ popularTags { name articlesCount } }", json!({}))
                .await
        }
    };
    data["popularTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["articlesCount"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, i64)]) -> Vec<(String, i64)> {
    expected
        .iter()
        .map(|(n, c)| ((*n).to_owned(), *c))
        .collect()
}

e2e! {
    async fn popular_tags_run_by_count_then_by_name(app) {
        // Arrange
        let jane = app.sign_up("jane").await;
        let john = app.sign_up("john").await;
        app.create_article(&jane, "A", &["rust", "web", "zig"]).await;
        app.create_article(&john, "B", &["Rust", "Web"]).await;
        app.create_article(&jane, "C", &["rust", "go", "RUST"]).await;
        app.create_article(&john, "D", &["alpha"]).await;

        // Act
        let tags = popular(&app, None).await;

        // Assert: ties (1 each) by name.
        assert_eq!(tags, pairs(&[("rust", 3), ("web", 2), ("alpha", 1), ("go", 1), ("zig", 1)]));
        assert_eq!(popular(&app, Some(2)).await, pairs(&[("rust", 3), ("web", 2)]));
        assert_eq!(popular(&app, Some(0)).await, vec![]);
    }
}

e2e! {
    async fn popular_tags_returns_20_by_default_and_up_to_100(app) {
        // 25 tags on one article each, and tag-00 to tag-04 on a second one.
        let jane = app.sign_up("jane").await;
        let names: Vec<String> = (0..25).map(|i| format!("tag-{i:02}")).collect();
        for chunk in names.chunks(10) {
            let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
            app.create_article(&jane, "Many Tags", &chunk).await;
        }
        let top: Vec<&str> = names[..5].iter().map(String::as_str).collect();
        app.create_article(&jane, "Top Tags", &top).await;

        let default = popular(&app, None).await;
        assert_eq!(default.len(), 20);
        let mut expected: Vec<(String, i64)> = names[..5].iter().map(|n| (n.clone(), 2)).collect();
        expected.extend(names[5..20].iter().map(|n| (n.clone(), 1)));
        assert_eq!(default, expected);
        assert_eq!(popular(&app, Some(100)).await.len(), 25);
        let null = app.gql_ok(None, "{ popularTags(first: null) { name } }", json!({})).await;
        assert_eq!(null["popularTags"].as_array().unwrap().len(), 20, "null means the default");
    }
}

e2e! {
    async fn popular_tags_follow_article_updates_and_deletes(app) {
        // Arrange
        let jane = app.sign_up("jane").await;
        let first = app.create_article(&jane, "First", &["rust", "web"]).await;
        let second = app.create_article(&jane, "Second", &["rust", "cli"]).await;
        assert_eq!(popular(&app, None).await, pairs(&[("rust", 2), ("cli", 1), ("web", 1)]));

        // Act and assert: retagging moves counts both ways.
        app.gql_ok(Some(&jane), "mutation($slug: String!) { updateArticle(slug: $slug, input: { tags: [\"web\", \"new\"] }) { tags } }",
            json!({ "slug": first }))
            .await;
        assert_eq!(popular(&app, None).await, pairs(&[("cli", 1), ("new", 1), ("rust", 1), ("web", 1)]));

        // An update that leaves tags out leaves the counts.
        app.gql_ok(Some(&jane), "mutation($slug: String!) { updateArticle(slug: $slug, input: { body: \"x\" }) { tags } }",
            json!({ "slug": first }))
            .await;
        assert_eq!(popular(&app, None).await, pairs(&[("cli", 1), ("new", 1), ("rust", 1), ("web", 1)]));

        // Re-saving the same tags counts each once.
        app.gql_ok(Some(&jane), "mutation($slug: String!) { updateArticle(slug: $slug, input: { tags: [\"cli\", \"rust\"] }) { tags } }",
            json!({ "slug": second }))
            .await;
        assert_eq!(popular(&app, None).await, pairs(&[("cli", 1), ("new", 1), ("rust", 1), ("web", 1)]));

        // Deleting drops the article's tags; a tag no article carries is gone.
        app.gql_ok(Some(&jane), "mutation($slug: String!) { deleteArticle(slug: $slug) }", json!({ "slug": second }))
            .await;
        assert_eq!(popular(&app, None).await, pairs(&[("new", 1), ("web", 1)]));
        let by_rust = app.gql_ok(None, "{ articles(filter: { tag: \"rust\" }) { totalCount } }", json!({})).await;
        assert_eq!(by_rust["articles"]["totalCount"], 0);

        // A tag used again comes back.
        app.create_article(&jane, "Third", &["rust", "web"]).await;
        assert_eq!(popular(&app, None).await, pairs(&[("web", 2), ("new", 1), ("rust", 1)]));
    }
}

e2e! {
    async fn popular_tags_is_empty_without_articles(app) {
        assert_eq!(popular(&app, None).await, vec![]);
        let data = app.gql_ok(None, "{ popularTags { name } }", json!({})).await;
        assert_eq!(data["popularTags"], Value::Array(vec![]));
    }
}

e2e! {
    async fn racing_retags_of_one_article_keep_the_counts_exact(app) {
        // Arrange: one article, retagged by several requests at once (a
        // double-clicked save, two open tabs).
        let jane = app.sign_up("jane").await;
        let slug = app.create_article(&jane, "Contested", &["start"]).await;
        let tag_sets: Vec<Vec<String>> = (0..6)
            .map(|i| vec![format!("set{i}"), "shared".to_owned()])
            .collect();
        let retags = tag_sets.iter().map(|tags| {
            let (app, jane, slug) = (&app, &jane, &slug);
            async move {
                app.gql(Some(jane), "mutation($slug: String!, $tags: [String!]!) { updateArticle(slug: $slug, input: { tags: $tags }) { tags } }",
                    json!({ "slug": slug, "tags": tags }))
                    .await
            }
        });

        // Act
        let responses = futures_util::future::join_all(retags).await;

        // Assert: one of the sets won, and the counts say exactly that.
        for response in &responses {
            assert!(response.get("errors").is_none(), "{response:#}");
        }
        let article = app
            .gql_ok(None, "query($slug: String!) { article(slug: $slug) { tags } }", json!({ "slug": slug }))
            .await;
        let tags: Vec<String> = serde_json::from_value(article["article"]["tags"].clone()).unwrap();
        assert!(tag_sets.contains(&tags), "{tags:?}");
        let mut expected: Vec<(String, i64)> = tags.iter().map(|t| (t.clone(), 1)).collect();
        expected.sort();
        assert_eq!(popular(&app, None).await, expected);
    }
}
