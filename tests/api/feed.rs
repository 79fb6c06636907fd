//! feed: the articles of the users the caller follows.

use serde_json::{Value, json};

use crate::helpers::{error_code, slugs};

const FEED: &str = "query($first: Int, $after: String) { feed(first: $first, after: $after) { \
    totalCount nodes { slug author { username followedByViewer } } \
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

e2e! {
    async fn the_feed_holds_only_followed_authors_articles_newest_first(app) {
        // Arrange: bob follows jane and john, not ann; everyone writes.
        let jane = app.sign_up("jane").await;
        let john = app.sign_up("john").await;
        let ann = app.sign_up("ann").await;
        let bob = app.sign_up("bob").await;
        app.follow(&bob, "jane").await;
        app.follow(&bob, "john").await;
        app.follow(&ann, "bob").await;
        let jane_1 = app.create_article(&jane, "Jane One", &[]).await;
        app.create_article(&ann, "Ann One", &[]).await;
        let john_1 = app.create_article(&john, "John One", &[]).await;
        app.create_article(&bob, "Bob's Own", &[]).await;
        let jane_2 = app.create_article(&jane, "Jane Two", &[]).await;

        // Act
        let data = app.gql_ok(Some(&bob), FEED, json!({})).await;

        // Assert
        let feed = &data["feed"];
        assert_eq!(slugs(feed), [jane_2.clone(), john_1.clone(), jane_1.clone()]);
        assert_eq!(feed["totalCount"], 3);
        assert_eq!(feed["pageInfo"]["hasNextPage"], false);
        assert_eq!(feed["pageInfo"]["hasPreviousPage"], false);
        assert!(feed["nodes"].as_array().unwrap().iter().all(|n| n["author"]["followedByViewer"] == true));

        // Unfollowing john takes his articles out.
        app.gql_ok(Some(&bob), "mutation { unfollowUser(username: \"john\") { id } }", json!({})).await;
        let data = app.gql_ok(Some(&bob), FEED, json!({})).await;
        assert_eq!(slugs(&data["feed"]), [jane_2, jane_1]);
        assert_eq!(data["feed"]["totalCount"], 2);

        // Ann's feed is bob's own article only.
        let data = app.gql_ok(Some(&ann), FEED, json!({})).await;
        assert_eq!(slugs(&data["feed"]), ["bob-s-own"]);
    }
}

e2e! {
    async fn the_feed_is_empty_for_someone_who_follows_nobody(app) {
        let jane = app.sign_up("jane").await;
        app.create_article(&jane, "Unseen", &[]).await;

        let data = app.gql_ok(Some(&jane), FEED, json!({})).await;

        assert_eq!(
            data["feed"],
            json!({ "totalCount": 0, "nodes": [], "pageInfo": {
                "hasNextPage": false, "hasPreviousPage": false, "startCursor": null, "endCursor": null } })
        );
    }
}

e2e! {
    async fn the_feed_is_unauthenticated_when_anonymous_or_with_a_bad_token(app) {
        let jane = app.sign_up("jane").await;
        app.create_article(&jane, "Private?", &[]).await;

        let anonymous = app.gql(None, FEED, json!({})).await;
        assert_eq!(error_code(&anonymous), "UNAUTHENTICATED", "{anonymous:#}");
        assert_eq!(anonymous["data"], Value::Null);

        let bad = app.gql(Some("not-a-token"), FEED, json!({})).await;
        assert_eq!(error_code(&bad), "UNAUTHENTICATED", "{bad:#}");
    }
}

e2e! {
    async fn the_feed_pages_with_cursors(app) {
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        app.follow(&bob, "jane").await;
        let titles: Vec<String> = (1..=5).map(|i| format!("Post {i}")).collect();
        let created = app.create_articles(&jane, &titles).await;

        let first = app.gql_ok(Some(&bob), FEED, json!({ "first": 2 })).await;
        let second = app
            .gql_ok(Some(&bob), FEED, json!({ "first": 2, "after": first["feed"]["pageInfo"]["endCursor"] }))
            .await;
        let third = app
            .gql_ok(Some(&bob), FEED, json!({ "first": 2, "after": second["feed"]["pageInfo"]["endCursor"] }))
            .await;

        assert_eq!(slugs(&first["feed"]), [created[4].clone(), created[3].clone()]);
        assert_eq!(slugs(&second["feed"]), [created[2].clone(), created[1].clone()]);
        assert_eq!(slugs(&third["feed"]), [created[0].clone()]);
        assert_eq!(third["feed"]["pageInfo"]["hasNextPage"], false);
        assert_eq!(second["feed"]["pageInfo"]["hasPreviousPage"], true);
        for page in [&first, &second, &third] {
            assert_eq!(page["feed"]["totalCount"], 5);
        }
    }
}
