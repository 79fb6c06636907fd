//! Who may do what: every mutation anonymously, by the wrong user, and on
//! something that does not exist; and what deleting an article takes along.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

/// Everything the mutations below could change, as one snapshot.
const STATE: &str = "{ \
    article(slug: \"janes-article\") { id slug title description body tags createdAt updatedAt favoritesCount commentsCount \
        comments { totalCount nodes { id body author { username } } } } \
    articles { totalCount nodes { slug } } \
    popularTags { name articlesCount } \
    jane: user(username: \"jane\") { username bio image followersCount followingCount \
        followers { nodes { username } } articles { totalCount } } \
    bob: user(username: \"bob\") { username bio followersCount followingCount \
        following { nodes { username } } favorites { totalCount nodes { slug } } } }";

/// jane wrote "Jane's Article" (tags rust, web); bob follows her, favorited
/// it and commented on it. Answers (jane, bob, bob's comment id).
async fn arrange(app: &TestApp) -> (String, String, String) {
    let jane = app.sign_up("jane").await;
    let bob = app.sign_up("bob").await;
    let slug = app
        .create_article(&jane, "Janes Article", &["rust", "web"])
        .await;
    assert_eq!(slug, "janes-article");
    app.follow(&bob, "jane").await;
    app.favorite(&bob, &slug).await;
    let comment = app.add_comment(&bob, &slug, "Nice one.").await;
    (jane, bob, comment)
}

async fn state(app: &TestApp) -> Value {
    app.gql_ok(None, STATE, json!({})).await
}

/// Every mutation that needs a signed-in caller, with arguments that would
/// succeed for the right one.
fn signed_in_mutations(comment: &str) -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "updateViewer",
            "mutation { updateViewer(input: { bio: \"hacked\" }) { id } }",
            json!({}),
        ),
        (
            "followUser",
            "mutation { followUser(username: \"jane\") { id } }",
            json!({}),
        ),
        (
            "unfollowUser",
            "mutation { unfollowUser(username: \"jane\") { id } }",
            json!({}),
        ),
        (
            "createArticle",
            "mutation { createArticle(input: { title: \"Sneaky\", description: \"\", body: \"b\", tags: [\"rust\"] }) { id } }",
            json!({}),
        ),
        (
            "updateArticle",
            "mutation { updateArticle(slug: \"janes-article\", input: { title: \"Hacked\", tags: [] }) { id } }",
            json!({}),
        ),
        (
            "deleteArticle",
            "mutation { deleteArticle(slug: \"janes-article\") }",
            json!({}),
        ),
        (
            "favoriteArticle",
            "mutation { favoriteArticle(slug: \"janes-article\") { id } }",
            json!({}),
        ),
        (
            "unfavoriteArticle",
            "mutation { unfavoriteArticle(slug: \"janes-article\") { id } }",
            json!({}),
        ),
        (
            "addComment",
            "mutation { addComment(articleSlug: \"janes-article\", body: \"spam\") { id } }",
            json!({}),
        ),
        (
            "deleteComment",
            "mutation($id: ID!) { deleteComment(id: $id) }",
            json!({ "id": comment }),
        ),
    ]
}

e2e! {
    async fn every_mutation_refuses_an_anonymous_caller_and_changes_nothing(app) {
        // Arrange
        let (_, _, comment) = arrange(&app).await;
        let before = state(&app).await;

        for (name, mutation, variables) in signed_in_mutations(&comment) {
            // Act
            let anonymous = app.gql(None, mutation, variables.clone()).await;
            let bad_token = app.gql(Some("not.a.token"), mutation, variables).await;

            // Assert
            assert_eq!(error_code(&anonymous), "UNAUTHENTICATED", "{name}: {anonymous:#}");
            assert_eq!(anonymous["data"], Value::Null, "{name}");
            assert_eq!(error_code(&bad_token), "UNAUTHENTICATED", "{name}: {bad_token:#}");
        }
        assert_eq!(state(&app).await, before, "nothing changed");
    }
}

e2e! {
    async fn anonymous_callers_learn_nothing_about_what_exists(app) {
        // Missing and existing things alike: UNAUTHENTICATED, not NOT_FOUND.
        let missing = URL_SAFE_NO_PAD.encode("Comment:999");
        for mutation in [
            "mutation { updateArticle(slug: \"missing\", input: { title: \"x\" }) { id } }",
            "mutation { deleteArticle(slug: \"missing\") }",
            "mutation { favoriteArticle(slug: \"missing\") { id } }",
            "mutation { addComment(articleSlug: \"missing\", body: \"x\") { id } }",
            "mutation { followUser(username: \"missing\") { id } }",
            "mutation { createArticle(input: { title: \"\", description: \"\", body: \"\" }) { id } }",
        ] {
            let response = app.gql(None, mutation, json!({})).await;
            assert_eq!(error_code(&response), "UNAUTHENTICATED", "{mutation}: {response:#}");
        }
        let response = app.gql(None, "mutation($id: ID!) { deleteComment(id: $id) }", json!({ "id": missing })).await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED", "{response:#}");
    }
}

e2e! {
    async fn only_the_author_may_update_an_article(app) {
        let (_, bob, _) = arrange(&app).await;
        let before = state(&app).await;

        let response = app
            .gql(Some(&bob), "mutation { updateArticle(slug: \"janes-article\", input: { title: \"Bob's now\", body: \"mine\", tags: [\"bob\"] }) { id } }", json!({}))
            .await;

        assert_eq!(error_code(&response), "FORBIDDEN", "{response:#}");
        assert_eq!(response["data"], Value::Null);
        assert_eq!(state(&app).await, before);
    }
}

e2e! {
    async fn only_the_author_may_delete_an_article(app) {
        let (_, bob, _) = arrange(&app).await;
        let before = state(&app).await;

        let response = app.gql(Some(&bob), "mutation { deleteArticle(slug: \"janes-article\") }", json!({})).await;

        assert_eq!(error_code(&response), "FORBIDDEN", "{response:#}");
        assert_eq!(response["data"], Value::Null);
        assert_eq!(state(&app).await, before);
    }
}

e2e! {
    async fn only_the_comment_author_may_delete_a_comment(app) {
        let (jane, _, comment) = arrange(&app).await;
        let eve = app.sign_up("eve").await;
        let before = state(&app).await;

        for (who, token) in [("the article's author", &jane), ("a stranger", &eve)] {
            let response = app.gql(Some(token), "mutation($id: ID!) { deleteComment(id: $id) }", json!({ "id": comment })).await;
            assert_eq!(error_code(&response), "FORBIDDEN", "{who}: {response:#}");
        }

        assert_eq!(state(&app).await, before);
    }
}

e2e! {
    async fn mutations_on_a_missing_slug_username_or_id_are_not_found(app) {
        // Arrange: a deleted comment's id, and ids that never existed.
        let (jane, bob, _) = arrange(&app).await;
        let gone = app.add_comment(&bob, "janes-article", "Deleted soon.").await;
        app.gql_ok(Some(&bob), "mutation($id: ID!) { deleteComment(id: $id) }", json!({ "id": gone })).await;
        let before = state(&app).await;

        for (mutation, variables) in [
            ("mutation { updateArticle(slug: \"missing\", input: { title: \"x\" }) { id } }", json!({})),
            ("mutation { deleteArticle(slug: \"missing\") }", json!({})),
            ("mutation { favoriteArticle(slug: \"missing\") { id } }", json!({})),
            ("mutation { unfavoriteArticle(slug: \"missing\") { id } }", json!({})),
            ("mutation { addComment(articleSlug: \"missing\", body: \"x\") { id } }", json!({})),
            ("mutation($id: ID!) { deleteComment(id: $id) }", json!({ "id": gone })),
            ("mutation($id: ID!) { deleteComment(id: $id) }", json!({ "id": URL_SAFE_NO_PAD.encode("Comment:999") })),
            ("mutation { followUser(username: \"missing\") { id } }", json!({})),
            ("mutation { unfollowUser(username: \"missing\") { id } }", json!({})),
        ] {
            // Act
            let response = app.gql(Some(&jane), mutation, variables).await;

            // Assert
            assert_eq!(error_code(&response), "NOT_FOUND", "{mutation}: {response:#}");
            assert_eq!(response["data"], Value::Null, "{mutation}");
        }
        assert_eq!(state(&app).await, before);
    }
}

e2e! {
    async fn deleting_an_article_removes_its_comments_tag_links_and_favorites(app) {
        // Arrange: a second article keeps "rust" alive and has its own
        // favorite and comment, which must survive.
        let (jane, bob, comment) = arrange(&app).await;
        let ann = app.sign_up("ann").await;
        let other = app.create_article(&ann, "Anns Article", &["rust"]).await;
        app.favorite(&bob, &other).await;
        app.favorite(&ann, "janes-article").await;
        let kept = app.add_comment(&bob, &other, "Also nice.").await;
        let tags = app.gql_ok(None, "{ popularTags { name articlesCount } }", json!({})).await;
        assert_eq!(tags["popularTags"], json!([{ "name": "rust", "articlesCount": 2 }, { "name": "web", "articlesCount": 1 }]));

        // Act
        let deleted = app.gql_ok(Some(&jane), "mutation { deleteArticle(slug: \"janes-article\") }", json!({})).await;

        // Assert
        assert!(deleted["deleteArticle"].is_string());
        let after = state(&app).await;
        assert_eq!(after["article"], Value::Null);
        assert_eq!(after["articles"], json!({ "totalCount": 1, "nodes": [{ "slug": other }] }));
        assert_eq!(after["popularTags"], json!([{ "name": "rust", "articlesCount": 1 }]), "tag counts drop");
        assert_eq!(after["bob"]["favorites"], json!({ "totalCount": 1, "nodes": [{ "slug": other }] }));
        assert_eq!(after["jane"]["articles"]["totalCount"], 0);
        assert_eq!(after["bob"]["followingCount"], 1, "follows are not the article's");
        let ann_favorites = app.gql_ok(None, "{ user(username: \"ann\") { favorites { totalCount } } }", json!({})).await;
        assert_eq!(ann_favorites["user"]["favorites"]["totalCount"], 0);
        let by_bob = app.gql_ok(None, "{ articles(filter: { favoritedBy: \"bob\" }) { totalCount } }", json!({})).await;
        assert_eq!(by_bob["articles"]["totalCount"], 1);
        let nodes = app
            .gql_ok(None, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", json!({ "ids": [comment, kept] }))
            .await;
        assert_eq!(nodes["nodes"], json!([null, { "id": kept }]), "its comment is gone, the other stays");
        let refused = app.gql(Some(&bob), "mutation($id: ID!) { deleteComment(id: $id) }", json!({ "id": comment })).await;
        assert_eq!(error_code(&refused), "NOT_FOUND");
        let survivor = app.gql_ok(None, "query($slug: String!) { article(slug: $slug) { favoritesCount commentsCount tags } }", json!({ "slug": other })).await;
        assert_eq!(survivor["article"], json!({ "favoritesCount": 1, "commentsCount": 1, "tags": ["rust"] }));
    }
}

e2e! {
    async fn writes_racing_a_delete_either_succeed_or_find_nothing(app) {
        // Arrange: articles that get deleted while others write to them.
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let ann = app.sign_up("ann").await;
        for round in 0..4 {
            let slug = app.create_article(&jane, &format!("Short Lived {round}"), &["fleeting"]).await;
            let vars = json!({ "slug": slug });
            let writes = [
                (Some(&jane), "mutation($slug: String!) { deleteArticle(slug: $slug) }"),
                (Some(&bob), "mutation($slug: String!) { addComment(articleSlug: $slug, body: \"first!\") { id } }"),
                (Some(&ann), "mutation($slug: String!) { favoriteArticle(slug: $slug) { favoritesCount } }"),
                (Some(&jane), "mutation($slug: String!) { updateArticle(slug: $slug, input: { body: \"edited\", tags: [\"edited\"] }) { tags } }"),
                (Some(&bob), "mutation($slug: String!) { favoriteArticle(slug: $slug) { favoritesCount } }"),
                (Some(&ann), "mutation($slug: String!) { addComment(articleSlug: $slug, body: \"second\") { id } }"),
            ]
            .map(|(token, mutation)| {
                let (app, vars) = (&app, &vars);
                async move { app.gql(token.map(String::as_str), mutation, vars.clone()).await }
            });

            // Act
            let responses = futures_util::future::join_all(writes).await;

            // Assert
            assert!(responses[0].get("errors").is_none(), "the delete succeeds: {:#}", responses[0]);
            for response in &responses[1..] {
                if response.get("errors").is_some() {
                    assert_eq!(error_code(response), "NOT_FOUND", "round {round}: {response:#}");
                }
            }
        }
        let after = app
            .gql_ok(None, "{ articles { totalCount } popularTags { name } \
                bob: user(username: \"bob\") { favorites { totalCount } } \
                ann: user(username: \"ann\") { favorites { totalCount } } }", json!({}))
            .await;
        assert_eq!(
            after,
            json!({ "articles": { "totalCount": 0 }, "popularTags": [],
                "bob": { "favorites": { "totalCount": 0 } }, "ann": { "favorites": { "totalCount": 0 } } })
        );
    }
}

e2e! {
    async fn an_article_deleted_by_several_requests_at_once_is_deleted_once(app) {
        let jane = app.sign_up("jane").await;
        app.create_article(&jane, "Survivor", &["kept", "shared"]).await;
        let slug = app.create_article(&jane, "Double Click", &["shared", "gone"]).await;
        let deletes = (0..4).map(|_| {
            let (app, jane, slug) = (&app, &jane, &slug);
            async move { app.gql(Some(jane), "mutation($slug: String!) { deleteArticle(slug: $slug) }", json!({ "slug": slug })).await }
        });

        let responses = futures_util::future::join_all(deletes).await;

        let succeeded = responses.iter().filter(|r| r.get("errors").is_none()).count();
        assert_eq!(succeeded, 1, "{responses:#?}");
        for refused in responses.iter().filter(|r| r.get("errors").is_some()) {
            assert_eq!(error_code(refused), "NOT_FOUND", "{refused:#}");
        }
        let tags = app.gql_ok(None, "{ popularTags { name articlesCount } }", json!({})).await;
        assert_eq!(tags["popularTags"], json!([{ "name": "kept", "articlesCount": 1 }, { "name": "shared", "articlesCount": 1 }]));
    }
}

e2e! {
    async fn a_valid_token_for_an_account_that_does_not_exist_is_unauthenticated(app) {
        // A token signed with the right secret for a user id no account has
        // (say, after the database was reset under a fixed JWT_SECRET).
        let jane = app.sign_up("jane").await;
        let slug = app.create_article(&jane, "Still Here", &[]).await;
        let comment = app.add_comment(&jane, &slug, "hello").await;
        let ghost = app.tokens().issue(999_999, 1).0;
        let mut wrong = Vec::new();
        let before = app.gql_ok(None, "{ articles { totalCount nodes { favoritesCount commentsCount } } user(username: \"jane\") { followersCount } }", json!({})).await;

        for (mutation, variables) in [
            ("mutation { createArticle(input: { title: \"Ghost\", description: \"\", body: \"b\" }) { id } }", json!({})),
            ("mutation { followUser(username: \"jane\") { id } }", json!({})),
            ("mutation { unfollowUser(username: \"jane\") { id } }", json!({})),
            ("mutation($slug: String!) { favoriteArticle(slug: $slug) { id } }", json!({ "slug": slug })),
            ("mutation($slug: String!) { unfavoriteArticle(slug: $slug) { id } }", json!({ "slug": slug })),
            ("mutation($slug: String!) { addComment(articleSlug: $slug, body: \"boo\") { id } }", json!({ "slug": slug })),
            ("mutation($slug: String!) { updateArticle(slug: $slug, input: { body: \"boo\" }) { id } }", json!({ "slug": slug })),
            ("mutation($slug: String!) { deleteArticle(slug: $slug) }", json!({ "slug": slug })),
            ("mutation($id: ID!) { deleteComment(id: $id) }", json!({ "id": comment })),
            ("mutation { updateViewer(input: { bio: \"boo\" }) { id } }", json!({})),
            ("{ viewer { id } }", json!({})),
        ] {
            let response = app.gql(Some(&ghost), mutation, variables).await;
            let code = response["errors"][0]["extensions"]["code"].as_str().unwrap_or("none");
            if code != "UNAUTHENTICATED" {
                wrong.push(format!("{mutation}: {code}"));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
        let after = app.gql_ok(None, "{ articles { totalCount nodes { favoritesCount commentsCount } } user(username: \"jane\") { followersCount } }", json!({})).await;
        assert_eq!(after, before);
    }
}

e2e! {
    async fn a_refused_token_hears_so_whatever_it_asks(app) {
        // Arrange
        let jane = app.sign_up("jane").await;
        let id = app.tokens().verify(&jane).unwrap();
        let session = id.session_id;
        let id = id.user_id;
        app.create_article(&jane, "Public", &["rust"]).await;
        let now = chrono::Utc::now().timestamp();
        let expired = app.tokens().issue_with_times(id, session, now - 7200, now - 3600);
        let mut tampered = jane.clone();
        tampered.replace_range(tampered.len() - 3.., "abc");

        for token in ["garbage", expired.as_str(), tampered.as_str()] {
            // Act: public data, with and without fields about the caller.
            for query in [
                "{ popularTags { name } }",
                "{ articles { nodes { title tags author { username } } } }",
                "{ articles { nodes { title favoritedByViewer } } }",
                "query Q { ...Tags } fragment Tags on Query { popularTags { name } }",
            ] {
                let response = app.gql(Some(token), query, json!({})).await;
                // Assert: the client is told its token is no good, and gets
                // no data to mistake for its own.
                assert_eq!(error_code(&response), "UNAUTHENTICATED", "{query}: {response:#}");
                assert!(response["data"].is_null(), "{query}: {response:#}");
            }
            // Signing in again works, also through a fragment.
            let sign_in = "mutation { ...S } fragment S on Mutation { signIn(input: { email: \"jane@example.com\", password: \"password-jane\" }) { token } }";
            let data = app.gql_ok(Some(token), sign_in, json!({})).await;
            assert!(data["signIn"]["token"].is_string());
        }
        // A request mixing a sign-in with anything else is refused whole.
        let mixed = "mutation { signIn(input: { email: \"jane@example.com\", password: \"password-jane\" }) { token } createArticle(input: { title: \"t\", description: \"d\", body: \"b\" }) { slug } }";
        let response = app.gql(Some("garbage"), mixed, json!({})).await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED", "{response:#}");
    }
}
