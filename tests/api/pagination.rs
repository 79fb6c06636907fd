//! Connections: `first` (default 20, at most 100), cursors, pageInfo,
//! totalCount, and walks that stay exact while rows are inserted.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, error_fields, slugs};

const ARTICLES: &str = "query($first: Int, $after: String, $filter: ArticleFilter, $orderBy: ArticleOrder) { \
    articles(first: $first, after: $after, filter: $filter, orderBy: $orderBy) { totalCount \
    edges { cursor node { slug } } nodes { slug } \
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

fn titles(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix} {i}")).collect()
}

/// One page of `articles`.
async fn articles_page(app: &TestApp, variables: Value) -> Value {
    app.gql_ok(None, ARTICLES, variables).await["articles"].clone()
}

e2e! {
    async fn first_defaults_to_20_and_may_be_100_but_no_more(app) {
        // Arrange: 101 articles.
        let jane = app.sign_up("jane").await;
        let created = app.create_articles(&jane, &titles("Article", 101)).await;
        let newest: Vec<String> = created.iter().rev().cloned().collect();

        // Act and assert: the default page.
        let default = articles_page(&app, json!({})).await;
        assert_eq!(slugs(&default), newest[..20]);
        assert_eq!(default["totalCount"], 101);
        assert_eq!(default["pageInfo"]["hasNextPage"], true);
        assert_eq!(default["pageInfo"]["hasPreviousPage"], false);

        let hundred = articles_page(&app, json!({ "first": 100 })).await;
        assert_eq!(slugs(&hundred), newest[..100]);
        assert_eq!(hundred["pageInfo"]["hasNextPage"], true);
        assert_eq!(hundred["totalCount"], 101);
        let last = articles_page(&app, json!({ "first": 100, "after": hundred["pageInfo"]["endCursor"] })).await;
        assert_eq!(slugs(&last), [created[0].clone()]);
        assert_eq!(last["pageInfo"]["hasNextPage"], false);

        let zero = articles_page(&app, json!({ "first": 0 })).await;
        assert_eq!(zero["nodes"], json!([]));
        assert_eq!(zero["pageInfo"]["startCursor"], Value::Null);
        assert_eq!(zero["totalCount"], 101);

        for first in [101, -1, 1_000] {
            let response = app.gql(None, ARTICLES, json!({ "first": first })).await;
            assert_eq!(error_code(&response), "BAD_USER_INPUT", "first: {first}: {response:#}");
            assert!(error_fields(&response)["first"][0].is_string(), "first: {first}: {response:#}");
            assert_eq!(response["data"], Value::Null);
        }
    }
}

e2e! {
    async fn every_connection_checks_first(app) {
        let jane = app.sign_up("jane").await;
        let slug = app.create_article(&jane, "Checked", &["tag"]).await;
        app.favorite(&jane, &slug).await;
        let nested = [
            "{ user(username: \"jane\") { followers(first: FIRST) { totalCount } } }",
            "{ user(username: \"jane\") { following(first: FIRST) { totalCount } } }",
            "{ user(username: \"jane\") { articles(first: FIRST) { totalCount } } }",
            "{ user(username: \"jane\") { favorites(first: FIRST) { totalCount } } }",
            "{ article(slug: \"checked\") { comments(first: FIRST) { totalCount } } }",
            "{ feed(first: FIRST) { totalCount } }",
            "{ popularTags(first: FIRST) { name } }",
        ];

        for query in nested {
            for first in ["101", "-1"] {
                let response = app.gql(Some(&jane), &query.replace("FIRST", first), json!({})).await;
                assert_eq!(error_code(&response), "BAD_USER_INPUT", "{query} with {first}: {response:#}");
                assert!(error_fields(&response)["first"][0].is_string(), "{query}: {response:#}");
            }
            let ok = app.gql(Some(&jane), &query.replace("FIRST", "100"), json!({})).await;
            assert!(ok.get("errors").is_none(), "{query} with 100: {ok:#}");
        }
    }
}

e2e! {
    async fn a_cursor_this_server_did_not_make_is_bad_user_input(app) {
        use base64::Engine as _;
        let jane = app.sign_up("jane").await;
        let slug = app.create_article(&jane, "Cursor", &[]).await;
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("soon:1");

        for after in ["garbage", "", "!!!", forged.as_str()] {
            let response = app.gql(None, ARTICLES, json!({ "after": after })).await;
            assert_eq!(error_code(&response), "BAD_USER_INPUT", "{after:?}: {response:#}");
            assert!(error_fields(&response)["after"][0].is_string(), "{after:?}: {response:#}");

            let nested = app
                .gql(None, "query($slug: String!, $after: String) { article(slug: $slug) { comments(after: $after) { totalCount } } }",
                    json!({ "slug": slug, "after": after }))
                .await;
            assert_eq!(error_code(&nested), "BAD_USER_INPUT", "{after:?}: {nested:#}");
            assert!(error_fields(&nested)["after"][0].is_string(), "{nested:#}");
        }
    }
}

e2e! {
    async fn edges_and_page_info_agree_and_pages_chain_without_gaps(app) {
        let jane = app.sign_up("jane").await;
        let created = app.create_articles(&jane, &titles("Chained", 8)).await;
        let newest: Vec<String> = created.iter().rev().cloned().collect();

        let mut seen = Vec::new();
        let mut after = Value::Null;
        let mut pages = 0;
        loop {
            let page = articles_page(&app, json!({ "first": 3, "after": after })).await;
            let edges = page["edges"].as_array().unwrap();
            let edge_slugs: Vec<&str> = edges.iter().map(|e| e["node"]["slug"].as_str().unwrap()).collect();
            assert_eq!(edge_slugs, slugs(&page), "edges and nodes agree");
            assert_eq!(page["pageInfo"]["startCursor"], edges[0]["cursor"]);
            assert_eq!(page["pageInfo"]["endCursor"], edges[edges.len() - 1]["cursor"]);
            assert_eq!(page["pageInfo"]["hasPreviousPage"], pages > 0);
            assert_eq!(page["totalCount"], 8);
            pages += 1;
            seen.extend(slugs(&page));
            if page["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }

        assert_eq!(pages, 3);
        assert_eq!(seen, newest);

        // The same walk oldest first.
        let first = articles_page(&app, json!({ "first": 5, "orderBy": "OLDEST" })).await;
        let rest = articles_page(&app, json!({ "first": 5, "orderBy": "OLDEST", "after": first["pageInfo"]["endCursor"] })).await;
        let mut oldest = slugs(&first);
        oldest.extend(slugs(&rest));
        assert_eq!(oldest, created);
        assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    }
}

e2e! {
    async fn a_newest_first_walk_sees_each_article_once_while_new_ones_arrive(app) {
        // Arrange: ten articles exist when the walk starts.
        let jane = app.sign_up("jane").await;
        let john = app.sign_up("john").await;
        let existing = app.create_articles(&jane, &titles("Existing", 10)).await;
        let expected: Vec<String> = existing.iter().rev().cloned().collect();

        // Act: page with first 3, publishing two more before every request.
        let mut seen = Vec::new();
        let mut after = Value::Null;
        for round in 0.. {
            app.create_articles(&john, &titles(&format!("Arrival {round}"), 2)).await;
            let page = articles_page(&app, json!({ "first": 3, "after": after })).await;
            seen.extend(slugs(&page));
            if page["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
            assert!(round < 20, "the walk ends");
        }

        // Assert: the first page holds the newest arrivals; after it, exactly
        // the articles that existed, in order, each once.
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "no duplicates: {seen:?}");
        let walked_existing: Vec<String> = seen.iter().filter(|s| existing.contains(s)).cloned().collect();
        assert_eq!(walked_existing, expected, "no gaps: {seen:?}");
        assert_eq!(
            seen[2..],
            expected[..],
            "only the first page, asked after the first two arrivals, shows new ones"
        );
    }
}

e2e! {
    async fn an_oldest_first_walk_sees_each_article_once_and_the_new_ones_at_the_end(app) {
        let jane = app.sign_up("jane").await;
        let existing = app.create_articles(&jane, &titles("Old", 7)).await;

        let mut seen = Vec::new();
        let mut arrivals = Vec::new();
        let mut after = Value::Null;
        for round in 0..20 {
            let page = articles_page(&app, json!({ "first": 3, "after": after, "orderBy": "OLDEST" })).await;
            seen.extend(slugs(&page));
            if page["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
            if round < 2 {
                arrivals.extend(app.create_articles(&jane, &titles(&format!("New {round}"), 2)).await);
            }
        }

        let mut expected = existing.clone();
        expected.extend(arrivals);
        assert_eq!(seen, expected);
    }
}

e2e! {
    async fn a_walk_continues_after_the_article_at_its_cursor_is_deleted(app) {
        let jane = app.sign_up("jane").await;
        let created = app.create_articles(&jane, &titles("Volatile", 6)).await;

        let first = articles_page(&app, json!({ "first": 3 })).await;
        assert_eq!(slugs(&first), [created[5].clone(), created[4].clone(), created[3].clone()]);
        app.gql_ok(Some(&jane), "mutation($slug: String!) { deleteArticle(slug: $slug) }", json!({ "slug": created[3] }))
            .await;
        let second = articles_page(&app, json!({ "first": 3, "after": first["pageInfo"]["endCursor"] })).await;

        assert_eq!(slugs(&second), [created[2].clone(), created[1].clone(), created[0].clone()]);
        assert_eq!(second["pageInfo"]["hasNextPage"], false);
        assert_eq!(second["totalCount"], 5);
    }
}

e2e! {
    async fn a_comments_walk_sees_each_comment_once_while_new_ones_arrive(app) {
        // Arrange: an article with eight comments, and a second article whose
        // comments must never leak into the first's pages.
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let slug = app.create_article(&jane, "Busy Thread", &[]).await;
        let other = app.create_article(&jane, "Other Thread", &[]).await;
        let mut existing = Vec::new();
        for i in 0..8 {
            existing.push(app.add_comment(&bob, &slug, &format!("comment {i}")).await);
            app.add_comment(&bob, &other, &format!("elsewhere {i}")).await;
        }
        existing.reverse();
        let query = "query($after: String) { articles(orderBy: OLDEST) { nodes { slug comments(first: 3, after: $after) { \
            totalCount nodes { id } pageInfo { hasNextPage endCursor } } } } }";

        // Act: page the nested connection, commenting between pages.
        let mut seen: Vec<String> = Vec::new();
        let mut after = Value::Null;
        let mut pages = 0;
        loop {
            let data = app.gql_ok(None, query, json!({ "after": after })).await;
            let comments = &data["articles"]["nodes"][0]["comments"];
            assert_eq!(data["articles"]["nodes"][0]["slug"], slug.as_str());
            seen.extend(comments["nodes"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()));
            pages += 1;
            if comments["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = comments["pageInfo"]["endCursor"].clone();
            app.add_comment(&jane, &slug, "late").await;
            app.add_comment(&jane, &other, "late elsewhere").await;
            assert!(pages < 20, "the walk ends");
        }

        // Assert
        assert_eq!(pages, 3);
        assert_eq!(seen, existing, "exactly the comments that existed, newest first");
        let count = app
            .gql_ok(None, "query($slug: String!) { article(slug: $slug) { comments { totalCount } } }", json!({ "slug": slug }))
            .await;
        assert_eq!(count["article"]["comments"]["totalCount"], 10);
    }
}

e2e! {
    async fn total_count_counts_the_whole_filtered_set_not_the_page(app) {
        let jane = app.sign_up("jane").await;
        let john = app.sign_up("john").await;
        for i in 0..7 {
            app.create_article(&jane, &format!("Tagged {i}"), &["counted"]).await;
        }
        for i in 0..5 {
            app.create_article(&john, &format!("Plain {i}"), &[]).await;
        }
        app.create_article(&john, "John Tagged", &["counted"]).await;

        let tagged = articles_page(&app, json!({ "first": 2, "filter": { "tag": "counted" } })).await;
        assert_eq!(tagged["totalCount"], 8);
        assert_eq!(tagged["nodes"].as_array().unwrap().len(), 2);
        let page_two = articles_page(&app, json!({ "first": 2, "filter": { "tag": "counted" }, "after": tagged["pageInfo"]["endCursor"] })).await;
        assert_eq!(page_two["totalCount"], 8, "the same on every page");
        let by_both = articles_page(&app, json!({ "first": 1, "filter": { "tag": "counted", "author": "john" } })).await;
        assert_eq!(by_both["totalCount"], 1);
        assert_eq!(by_both["pageInfo"]["hasNextPage"], false);
        let all = articles_page(&app, json!({ "first": 1 })).await;
        assert_eq!(all["totalCount"], 13);
        let profile = app
            .gql_ok(None, "{ user(username: \"jane\") { articles(first: 1) { totalCount } } }", json!({}))
            .await;
        assert_eq!(profile["user"]["articles"]["totalCount"], 7);
    }
}
