//! addComment, deleteComment, Comment.author and Comment.article,
//! Article.commentsCount and Article.comments.

use serde_json::{Value, json};

use crate::helpers::{error_code, error_fields};

const ADD: &str = "mutation($slug: String!, $body: String!) { addComment(articleSlug: $slug, body: $body) { \
    id body createdAt updatedAt author { username } article { slug commentsCount } } }";
const DELETE: &str = "mutation($id: ID!) { deleteComment(id: $id) }";
const COMMENTS: &str = "query($slug: String!) { article(slug: $slug) { commentsCount \
    comments { totalCount nodes { id body author { username } } } } }";

/// The article's commentsCount, comments.totalCount and comment bodies.
async fn comments_of(app: &crate::helpers::TestApp, slug: &str) -> (i64, i64, Vec<String>) {
    let data = app.gql_ok(None, COMMENTS, json!({ "slug": slug })).await;
    let article = &data["article"];
    let bodies = article["comments"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap().to_owned())
        .collect();
    (
        article["commentsCount"].as_i64().unwrap(),
        article["comments"]["totalCount"].as_i64().unwrap(),
        bodies,
    )
}

e2e! {
    async fn add_comment_answers_the_comment_with_its_author_and_article(app) {
        // Arrange
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let slug = app.create_article(&jane, "Discuss", &[]).await;

        // Act
        let data = app
            .gql_ok(Some(&bob), ADD, json!({ "slug": slug, "body": "  Great read!  " }))
            .await;

        // Assert
        let comment = &data["addComment"];
        assert_eq!(comment["body"], "Great read!", "the body is trimmed");
        assert_eq!(comment["author"]["username"], "bob");
        assert_eq!(comment["article"], json!({ "slug": slug, "commentsCount": 1 }));
        assert_eq!(comment["createdAt"], comment["updatedAt"]);
        assert!(comment["id"].as_str().is_some_and(|id| !id.is_empty()));
        assert_eq!(comments_of(&app, &slug).await, (1, 1, vec!["Great read!".to_owned()]));
        let refetched = app
            .gql_ok(None, "query($id: ID!) { node(id: $id) { ... on Comment { body author { username } article { slug } } } }",
                json!({ "id": comment["id"] }))
            .await;
        assert_eq!(refetched["node"], json!({ "body": "Great read!", "author": { "username": "bob" }, "article": { "slug": slug } }));
    }
}

e2e! {
    async fn article_comments_run_newest_first_and_are_counted(app) {
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let slug = app.create_article(&jane, "Thread", &[]).await;
        let other = app.create_article(&jane, "Quiet", &[]).await;

        app.add_comment(&bob, &slug, "first").await;
        app.add_comment(&jane, &slug, "second").await;
        app.add_comment(&bob, &slug, "third").await;

        assert_eq!(
            comments_of(&app, &slug).await,
            (3, 3, vec!["third".to_owned(), "second".to_owned(), "first".to_owned()])
        );
        assert_eq!(comments_of(&app, &other).await, (0, 0, vec![]));
        // Several articles' comments in one query, each its own list.
        let data = app
            .gql_ok(None, "{ articles(orderBy: OLDEST) { nodes { slug commentsCount comments(first: 2) { totalCount nodes { body author { username } } pageInfo { hasNextPage } } } } }", json!({}))
            .await;
        assert_eq!(
            data["articles"]["nodes"],
            json!([
                { "slug": slug, "commentsCount": 3, "comments": { "totalCount": 3,
                    "nodes": [{ "body": "third", "author": { "username": "bob" } }, { "body": "second", "author": { "username": "jane" } }],
                    "pageInfo": { "hasNextPage": true } } },
                { "slug": other, "commentsCount": 0, "comments": { "totalCount": 0, "nodes": [],
                    "pageInfo": { "hasNextPage": false } } },
            ])
        );
    }
}

e2e! {
    async fn add_comment_refuses_an_empty_or_too_long_body(app) {
        let jane = app.sign_up("jane").await;
        let slug = app.create_article(&jane, "Strict", &[]).await;

        for body in [String::new(), "  \n ".to_owned(), "x".repeat(10_001)] {
            let response = app.gql(Some(&jane), ADD, json!({ "slug": slug, "body": body })).await;
            assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response:#}");
            assert!(error_fields(&response)["body"][0].is_string(), "{response:#}");
            assert_eq!(response["data"], Value::Null);
        }
        assert_eq!(comments_of(&app, &slug).await, (0, 0, vec![]));

        let longest = app
            .gql_ok(Some(&jane), ADD, json!({ "slug": slug, "body": "ж".repeat(10_000) }))
            .await;
        assert_eq!(longest["addComment"]["body"].as_str().unwrap().chars().count(), 10_000);
        assert_eq!(comments_of(&app, &slug).await.0, 1);
    }
}

e2e! {
    async fn delete_comment_by_its_author_removes_it_and_answers_its_id(app) {
        // Arrange
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let slug = app.create_article(&jane, "Regrets", &[]).await;
        app.add_comment(&bob, &slug, "keep").await;
        let doomed = app.add_comment(&bob, &slug, "oops").await;

        // Act
        let data = app.gql_ok(Some(&bob), DELETE, json!({ "id": doomed })).await;

        // Assert
        assert_eq!(data["deleteComment"], doomed.as_str());
        assert_eq!(comments_of(&app, &slug).await, (1, 1, vec!["keep".to_owned()]));
        let node = app.gql_ok(None, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": doomed })).await;
        assert_eq!(node["node"], Value::Null);
        let again = app.gql(Some(&bob), DELETE, json!({ "id": doomed })).await;
        assert_eq!(error_code(&again), "NOT_FOUND", "{again:#}");
        assert_eq!(comments_of(&app, &slug).await.0, 1, "the count did not move twice");
    }
}

e2e! {
    async fn only_the_comment_author_may_delete_it_not_even_the_article_author(app) {
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let eve = app.sign_up("eve").await;
        let slug = app.create_article(&jane, "Mine", &[]).await;
        let comment = app.add_comment(&bob, &slug, "bob was here").await;

        for (who, token) in [("article author", &jane), ("stranger", &eve)] {
            let response = app.gql(Some(token), DELETE, json!({ "id": comment })).await;
            assert_eq!(error_code(&response), "FORBIDDEN", "{who}: {response:#}");
            assert_eq!(response["data"], Value::Null);
        }

        assert_eq!(comments_of(&app, &slug).await, (1, 1, vec!["bob was here".to_owned()]));
    }
}

e2e! {
    async fn delete_comment_with_an_id_that_names_no_comment(app) {
        let jane = app.sign_up("jane").await;
        let slug = app.create_article(&jane, "Ids", &[]).await;
        let article_id = app.article_id(&slug).await;
        app.add_comment(&jane, &slug, "real").await;

        let other_type = app.gql(Some(&jane), DELETE, json!({ "id": article_id })).await;
        assert_eq!(error_code(&other_type), "NOT_FOUND", "an article's id names no comment");
        let garbage = app.gql(Some(&jane), DELETE, json!({ "id": "not-an-id" })).await;
        assert_eq!(error_code(&garbage), "BAD_USER_INPUT", "{garbage:#}");
        assert!(error_fields(&garbage)["id"][0].is_string(), "{garbage:#}");
        assert_eq!(comments_of(&app, &slug).await, (1, 1, vec!["real".to_owned()]));
    }
}

e2e! {
    async fn a_comment_deleted_by_several_requests_at_once_is_counted_once(app) {
        // Arrange: a double-clicked delete, four times over.
        let jane = app.sign_up("jane").await;
        let slug = app.create_article(&jane, "Clicky", &[]).await;
        app.add_comment(&jane, &slug, "stays").await;
        let doomed = app.add_comment(&jane, &slug, "goes").await;
        let deletes = (0..4).map(|_| {
            let (app, jane, doomed) = (&app, &jane, &doomed);
            async move { app.gql(Some(jane), DELETE, json!({ "id": doomed })).await }
        });

        // Act
        let responses = futures_util::future::join_all(deletes).await;

        // Assert: one delete, the others find nothing; the count moved once.
        let succeeded = responses.iter().filter(|r| r.get("errors").is_none()).count();
        assert_eq!(succeeded, 1, "{responses:#?}");
        for refused in responses.iter().filter(|r| r.get("errors").is_some()) {
            assert_eq!(error_code(refused), "NOT_FOUND", "{refused:#}");
        }
        assert_eq!(comments_of(&app, &slug).await, (1, 1, vec!["stays".to_owned()]));
    }
}
