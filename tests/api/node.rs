//! node and nodes: refetching by global id.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::TestApp;

const NODE: &str = "query($id: ID!) { node(id: $id) { __typename id \
    ... on User { username } ... on Article { slug } ... on Comment { body } } }";
const NODES: &str = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id \
    ... on User { username } ... on Article { slug } ... on Comment { body } } }";

/// jane (the first user), her article (the first article) and her comment
/// on it (the first comment): three rows that all have row id 1.
async fn one_of_each(app: &TestApp) -> (String, String, String, String) {
    let jane = app.sign_up("jane").await;
    let user = app
        .gql_ok(Some(&jane), "{ viewer { id } }", json!({}))
        .await["viewer"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let slug = app.create_article(&jane, "Refetch Me", &[]).await;
    let article = app.article_id(&slug).await;
    let comment = app.add_comment(&jane, &slug, "me too").await;
    (jane, user, article, comment)
}

e2e! {
    async fn node_refetches_a_user_an_article_and_a_comment_by_id(app) {
        // Arrange
        let (_, user, article, comment) = one_of_each(&app).await;

        // Act
        let refetch = |id: String| {
            let app = &app;
            async move { app.gql_ok(None, NODE, json!({ "id": id })).await["node"].clone() }
        };

        // Assert
        assert_eq!(refetch(user.clone()).await, json!({ "__typename": "User", "id": user, "username": "jane" }));
        assert_eq!(refetch(article.clone()).await, json!({ "__typename": "Article", "id": article, "slug": "refetch-me" }));
        assert_eq!(refetch(comment.clone()).await, json!({ "__typename": "Comment", "id": comment, "body": "me too" }));
        // Three rows with the same row id still have three distinct ids.
        let unique: std::collections::HashSet<&String> = [&user, &article, &comment].into_iter().collect();
        assert_eq!(unique.len(), 3);
    }
}

e2e! {
    async fn an_article_id_never_resolves_as_anything_but_an_article(app) {
        let (jane, _, article, _) = one_of_each(&app).await;

        let as_node = app
            .gql_ok(None, "query($id: ID!) { node(id: $id) { __typename ... on User { username } ... on Comment { body } } }",
                json!({ "id": article }))
            .await;
        assert_eq!(as_node["node"], json!({ "__typename": "Article" }));

        // A comment cannot be deleted through an article's id either.
        let refused = app.gql(Some(&jane), "mutation($id: ID!) { deleteComment(id: $id) }", json!({ "id": article })).await;
        assert_eq!(crate::helpers::error_code(&refused), "NOT_FOUND");
        let still = app.gql_ok(None, NODE, json!({ "id": article })).await;
        assert_eq!(still["node"]["__typename"], "Article");
        let comments = app.gql_ok(None, "{ article(slug: \"refetch-me\") { commentsCount } }", json!({})).await;
        assert_eq!(comments["article"]["commentsCount"], 1);
    }
}

e2e! {
    async fn unknown_and_garbage_ids_give_null(app) {
        let jane = app.sign_up("jane").await;
        let slug = app.create_article(&jane, "Deleted Soon", &[]).await;
        let deleted = app.article_id(&slug).await;
        app.gql_ok(Some(&jane), "mutation($slug: String!) { deleteArticle(slug: $slug) }", json!({ "slug": slug })).await;
        let encode = |text: &str| URL_SAFE_NO_PAD.encode(text);

        for id in [
            deleted,
            "garbage".to_owned(),
            String::new(),
            "!!!".to_owned(),
            encode("Article:999"),
            encode("User:999"),
            encode("Comment:999"),
            encode("Notification:1"),
            encode("Tag:1"),
            encode("User:abc"),
            encode("User:"),
            encode("User:99999999999999999999999"),
            encode("User:-1"),
        ] {
            let data = app.gql_ok(None, NODE, json!({ "id": id })).await;
            assert_eq!(data["node"], Value::Null, "{id:?}");
        }
    }
}

e2e! {
    async fn nodes_keeps_the_order_of_the_ids_with_nulls_in_place(app) {
        let (_, user, article, comment) = one_of_each(&app).await;

        let data = app
            .gql_ok(None, NODES, json!({ "ids": [comment, "garbage", user, article, URL_SAFE_NO_PAD.encode("Article:42"), user] }))
            .await;

        assert_eq!(
            data["nodes"],
            json!([
                { "__typename": "Comment", "id": comment, "body": "me too" },
                null,
                { "__typename": "User", "id": user, "username": "jane" },
                { "__typename": "Article", "id": article, "slug": "refetch-me" },
                null,
                { "__typename": "User", "id": user, "username": "jane" },
            ])
        );
        let empty = app.gql_ok(None, NODES, json!({ "ids": [] })).await;
        assert_eq!(empty["nodes"], json!([]));
    }
}

e2e! {
    async fn a_refetched_node_answers_like_its_direct_lookup(app) {
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let slug = app.create_article(&jane, "Same Answer", &["x"]).await;
        app.favorite(&bob, &slug).await;
        let id = app.article_id(&slug).await;
        let fields = "id slug title tags favoritesCount favoritedByViewer commentsCount author { username followedByViewer }";

        let direct = app
            .gql_ok(Some(&bob), &format!("query($slug: String!) {{ article(slug: $slug) {{ {fields} }} }}"), json!({ "slug": slug }))
            .await;
        let node = app
            .gql_ok(Some(&bob), &format!("query($id: ID!) {{ node(id: $id) {{ ... on Article {{ {fields} }} }} }}"), json!({ "id": id }))
            .await;

        assert_eq!(node["node"], direct["article"]);
        assert_eq!(node["node"]["favoritedByViewer"], true);
    }
}
