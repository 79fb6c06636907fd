//! Lists of articles read only the columns their query asks for (see
//! `ArticleColumns`): every field of `Article`, asked alone through every
//! list and both ways to a list's nodes, answers what the article itself
//! answers, never an error for a column its statement left out.

use serde_json::{Value, json};

e2e! {
    async fn every_article_field_reads_through_every_list(app) {
        // Arrange: jane's tagged article, followed, favorited and commented
        // on by bob, so every list holds it and every field has a value.
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let slug = app.create_article(&jane, "Columns", &["one", "two"]).await;
        app.follow(&bob, "jane").await;
        app.favorite(&bob, &slug).await;
        app.add_comment(&bob, &slug, "Read").await;
        let lists = [
            ("articles", "articles(first: 5) { nodes { F } }", "/articles/nodes/0"),
            ("articles' edges", "articles(first: 5) { edges { node { F } } }", "/articles/edges/0/node"),
            ("a fragment", "articles(first: 5) { nodes { ... on Article { F } } }", "/articles/nodes/0"),
            ("feed", "feed(first: 5) { nodes { F } }", "/feed/nodes/0"),
            ("an author's", "user(username: \"jane\") { articles(first: 5) { nodes { F } } }", "/user/articles/nodes/0"),
            ("a user's favorites", "user(username: \"bob\") { favorites(first: 5) { edges { node { F } } } }", "/user/favorites/edges/0/node"),
        ];

        let fields = app.field_selections("Article").await;
        assert!(fields.len() >= 13, "{fields:?}");
        for (name, selection) in fields {
            // The article itself, read whole.
            let whole = app
                .gql_ok(Some(&bob), &format!("query($s: String!) {{ article(slug: $s) {{ {selection} }} }}"), json!({ "s": slug }))
                .await;
            let expected = &whole["article"][&name];
            assert!(!expected.is_null(), "{name}: {whole:#}");

            // Act and assert: the same field alone through each list.
            for (list, query, at) in lists {
                let query = format!("{{ {} }}", query.replace('F', &selection));
                let data = app.gql_ok(Some(&bob), &query, json!({})).await;
                let node = data.pointer(at).unwrap_or(&Value::Null);
                assert_eq!(&node[&name], expected, "{name} through {list}: {data:#}");
            }
        }
    }
}
