//! followUser, unfollowUser, user, followersCount, followingCount,
//! followedByViewer, User.followers and User.following.

use serde_json::{Value, json};

use crate::helpers::{error_code, error_fields};

const FOLLOW: &str = "mutation($name: String!) { followUser(username: $name) { \
    username followersCount followingCount followedByViewer } }";
const UNFOLLOW: &str = "mutation($name: String!) { unfollowUser(username: $name) { \
    username followersCount followingCount followedByViewer } }";
const PROFILE: &str = "query($name: String!) { user(username: $name) { \
    username followersCount followingCount followedByViewer \
    followers { totalCount nodes { username } } following { totalCount nodes { username } } } }";

/// (followersCount, followingCount, followers, following) of `username`.
async fn profile(
    app: &crate::helpers::TestApp,
    username: &str,
) -> (i64, i64, Vec<String>, Vec<String>) {
    let data = app.gql_ok(None, PROFILE, json!({ "name": username })).await;
    let user = &data["user"];
    let names = |connection: &Value| -> Vec<String> {
        connection["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        user["followers"]["totalCount"], user["followersCount"],
        "{user:#}"
    );
    assert_eq!(
        user["following"]["totalCount"], user["followingCount"],
        "{user:#}"
    );
    (
        user["followersCount"].as_i64().unwrap(),
        user["followingCount"].as_i64().unwrap(),
        names(&user["followers"]),
        names(&user["following"]),
    )
}

e2e! {
    async fn follow_user_counts_both_sides_and_marks_the_follow_for_the_viewer(app) {
        // Arrange
        app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;

        // Act
        let data = app.gql_ok(Some(&bob), FOLLOW, json!({ "name": "jane" })).await;

        // Assert
        assert_eq!(
            data["followUser"],
            json!({ "username": "jane", "followersCount": 1, "followingCount": 0, "followedByViewer": true })
        );
        assert_eq!(profile(&app, "jane").await, (1, 0, vec!["bob".to_owned()], vec![]));
        assert_eq!(profile(&app, "bob").await, (0, 1, vec![], vec!["jane".to_owned()]));
        let query = "query($name: String!) { user(username: $name) { followedByViewer } }";
        let as_bob = app.gql_ok(Some(&bob), query, json!({ "name": "jane" })).await;
        assert_eq!(as_bob["user"]["followedByViewer"], true);
        let anonymous = app.gql_ok(None, query, json!({ "name": "jane" })).await;
        assert_eq!(anonymous["user"]["followedByViewer"], false);
        let john = app.sign_up("john").await;
        let as_other = app.gql_ok(Some(&john), query, json!({ "name": "jane" })).await;
        assert_eq!(as_other["user"]["followedByViewer"], false);
        let viewer = app.gql_ok(Some(&bob), "{ viewer { followingCount following { nodes { username followedByViewer } } } }", json!({})).await;
        assert_eq!(viewer["viewer"], json!({ "followingCount": 1, "following": { "nodes": [{ "username": "jane", "followedByViewer": true }] } }));
    }
}

e2e! {
    async fn follow_user_is_idempotent(app) {
        app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;

        for _ in 0..3 {
            let data = app.gql_ok(Some(&bob), FOLLOW, json!({ "name": "jane" })).await;
            assert_eq!(data["followUser"]["followersCount"], 1);
            assert_eq!(data["followUser"]["followedByViewer"], true);
        }

        assert_eq!(profile(&app, "jane").await, (1, 0, vec!["bob".to_owned()], vec![]));
        assert_eq!(profile(&app, "bob").await, (0, 1, vec![], vec!["jane".to_owned()]));
    }
}

e2e! {
    async fn unfollow_user_is_idempotent_and_undoes_the_follow(app) {
        app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;

        let never = app.gql_ok(Some(&bob), UNFOLLOW, json!({ "name": "jane" })).await;
        assert_eq!(
            never["unfollowUser"],
            json!({ "username": "jane", "followersCount": 0, "followingCount": 0, "followedByViewer": false })
        );
        app.follow(&bob, "jane").await;
        for _ in 0..3 {
            let data = app.gql_ok(Some(&bob), UNFOLLOW, json!({ "name": "jane" })).await;
            assert_eq!(data["unfollowUser"]["followersCount"], 0);
            assert_eq!(data["unfollowUser"]["followedByViewer"], false);
        }

        assert_eq!(profile(&app, "jane").await, (0, 0, vec![], vec![]));
        assert_eq!(profile(&app, "bob").await, (0, 0, vec![], vec![]));
    }
}

e2e! {
    async fn following_yourself_is_bad_user_input(app) {
        let jane = app.sign_up("jane").await;

        for mutation in [FOLLOW, UNFOLLOW] {
            let response = app.gql(Some(&jane), mutation, json!({ "name": "jane" })).await;
            assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response:#}");
            assert!(error_fields(&response)["username"][0].is_string(), "{response:#}");
        }

        assert_eq!(profile(&app, "jane").await, (0, 0, vec![], vec![]));
    }
}

e2e! {
    async fn an_unknown_username_is_not_found_for_mutations_and_null_for_lookups(app) {
        let jane = app.sign_up("jane").await;

        for mutation in [FOLLOW, UNFOLLOW] {
            let response = app.gql(Some(&jane), mutation, json!({ "name": "nobody" })).await;
            assert_eq!(error_code(&response), "NOT_FOUND", "{response:#}");
        }
        let lookup = app.gql_ok(None, PROFILE, json!({ "name": "nobody" })).await;
        assert_eq!(lookup["user"], Value::Null);
        let case = app.gql_ok(None, PROFILE, json!({ "name": "JANE" })).await;
        assert_eq!(case["user"], Value::Null, "usernames are exact");
        assert_eq!(profile(&app, "jane").await, (0, 0, vec![], vec![]));
    }
}

e2e! {
    async fn followers_and_following_run_most_recent_first_and_page(app) {
        // Arrange: ann, ben, cat, dan follow jane in that order; jane follows
        // dan then ann.
        let jane = app.sign_up("jane").await;
        let mut tokens = Vec::new();
        for name in ["ann", "ben", "cat", "dan"] {
            let token = app.sign_up(name).await;
            app.follow(&token, "jane").await;
            tokens.push(token);
        }
        app.follow(&jane, "dan").await;
        app.follow(&jane, "ann").await;

        // Assert: whole lists.
        let s = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        assert_eq!(profile(&app, "jane").await, (4, 2, s(&["dan", "cat", "ben", "ann"]), s(&["ann", "dan"])));
        assert_eq!(profile(&app, "dan").await, (1, 1, s(&["jane"]), s(&["jane"])));

        // Pages of followers.
        let query = "query($after: String) { user(username: \"jane\") { followers(first: 3, after: $after) { \
            totalCount nodes { username } pageInfo { hasNextPage hasPreviousPage endCursor } } } }";
        let first = app.gql_ok(None, query, json!({ "after": null })).await;
        let first = &first["user"]["followers"];
        assert_eq!(first["nodes"], json!([{ "username": "dan" }, { "username": "cat" }, { "username": "ben" }]));
        assert_eq!(first["pageInfo"]["hasNextPage"], true);
        assert_eq!(first["pageInfo"]["hasPreviousPage"], false);
        assert_eq!(first["totalCount"], 4);
        let second = app.gql_ok(None, query, json!({ "after": first["pageInfo"]["endCursor"] })).await;
        let second = &second["user"]["followers"];
        assert_eq!(second["nodes"], json!([{ "username": "ann" }]));
        assert_eq!(second["pageInfo"]["hasNextPage"], false);
        assert_eq!(second["pageInfo"]["hasPreviousPage"], true);

        // An unfollow leaves the list and the counts.
        app.gql_ok(Some(&tokens[1]), UNFOLLOW, json!({ "name": "jane" })).await;
        assert_eq!(profile(&app, "jane").await, (3, 2, s(&["dan", "cat", "ann"]), s(&["ann", "dan"])));
        assert_eq!(profile(&app, "ben").await, (0, 0, vec![], vec![]));
    }
}

e2e! {
    async fn follows_race_without_losing_a_count(app) {
        // Arrange: six users follow jane at once, each twice.
        app.sign_up("jane").await;
        let mut tokens = Vec::new();
        for i in 0..6 {
            tokens.push(app.sign_up(&format!("fan{i}")).await);
        }
        let attempts = tokens.iter().chain(tokens.iter()).map(|token| {
            let app = &app;
            async move { app.gql(Some(token), FOLLOW, json!({ "name": "jane" })).await }
        });

        // Act
        let responses = futures_util::future::join_all(attempts).await;

        // Assert
        for response in &responses {
            assert!(response.get("errors").is_none(), "{response:#}");
        }
        let (followers, following, list, _) = profile(&app, "jane").await;
        assert_eq!((followers, following, list.len()), (6, 0, 6));
        assert_eq!(profile(&app, "fan0").await.1, 1);
    }
}

e2e! {
    async fn racing_follows_each_answer_the_count_their_follow_made(app) {
        app.sign_up("jane").await;
        let mut tokens = Vec::new();
        for i in 0..8 {
            tokens.push(app.sign_up(&format!("fan{i}")).await);
        }
        let attempts = tokens.iter().map(|token| {
            let app = &app;
            async move { app.gql(Some(token), FOLLOW, json!({ "name": "jane" })).await }
        });

        let responses = futures_util::future::join_all(attempts).await;

        let mut counts: Vec<i64> = responses
            .iter()
            .map(|r| {
                assert!(r.get("errors").is_none(), "{r:#}");
                r["data"]["followUser"]["followersCount"].as_i64().unwrap()
            })
            .collect();
        counts.sort_unstable();
        assert_eq!(counts, (1..=8).collect::<Vec<_>>());
    }
}

e2e! {
    async fn two_users_following_each_other_at_the_same_moment_both_succeed(app) {
        // Arrange: pairs that follow each other at once, then unfollow at once.
        let mut pairs = Vec::new();
        for i in 0..4 {
            let left = format!("left{i}");
            let right = format!("right{i}");
            let left_token = app.sign_up(&left).await;
            let right_token = app.sign_up(&right).await;
            pairs.push((left, left_token, right, right_token));
        }

        for mutation in [FOLLOW, UNFOLLOW] {
            // Act
            let requests = pairs.iter().flat_map(|(left, left_token, right, right_token)| {
                [(left_token, right), (right_token, left)].map(|(token, name)| {
                    let app = &app;
                    async move { app.gql(Some(token), mutation, json!({ "name": name })).await }
                })
            });
            let responses = futures_util::future::join_all(requests).await;

            // Assert
            for response in &responses {
                assert!(response.get("errors").is_none(), "{response:#}");
            }
            let expected = if mutation == FOLLOW { 1 } else { 0 };
            for (left, _, right, _) in &pairs {
                for name in [left, right] {
                    let (followers, following, _, _) = profile(&app, name).await;
                    assert_eq!((followers, following), (expected, expected), "{name}");
                }
            }
        }
    }
}

e2e! {
    async fn followed_by_viewer_is_per_author_in_a_list(app) {
        // Arrange: bob follows jane, not carol; each wrote an article.
        let jane = app.sign_up("jane").await;
        let carol = app.sign_up("carol").await;
        let bob = app.sign_up("bob").await;
        app.create_article(&jane, "By jane", &[]).await;
        app.create_article(&carol, "By carol", &[]).await;
        app.follow(&bob, "jane").await;
        // The flag asked for in a fragment, through edges, beside a plain
        // author selection that does not ask for it.
        let query = "{ articles { edges { node { ...Card } } nodes { plain: author { username } } } }
            fragment Card on Article { author { username followedByViewer } }";

        // Act
        let as_bob = app.gql_ok(Some(&bob), query, json!({})).await;
        let as_carol = app.gql_ok(Some(&carol), query, json!({})).await;

        // Assert
        let authors = |data: &Value| -> Value {
            data["articles"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["author"].clone()).collect()
        };
        assert_eq!(
            authors(&as_bob),
            json!([
                { "username": "carol", "followedByViewer": false },
                { "username": "jane", "followedByViewer": true },
            ])
        );
        assert_eq!(
            authors(&as_carol),
            json!([
                { "username": "carol", "followedByViewer": false },
                { "username": "jane", "followedByViewer": false },
            ])
        );
        assert_eq!(as_bob["articles"]["nodes"], json!([
            { "plain": { "username": "carol" } },
            { "plain": { "username": "jane" } },
        ]));
    }
}
