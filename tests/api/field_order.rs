//! A response's fields come in the order the query selects them (the
//! spec's CollectFields), at the root and below, through fragments, whatever
//! order the fields finish in.

use serde_json::json;

use crate::helpers::TestApp;

/// The raw body of a POSTed query: serde_json's `Value` would sort keys.
async fn body(app: &TestApp, query: &str) -> String {
    let response = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 200);
    response.text().await.expect("a body")
}

/// Asserts the aliases `keys` (each unique in the body) appear in this
/// order.
fn assert_in_order(body: &str, keys: &[&str]) {
    let at: Vec<usize> = keys
        .iter()
        .map(|key| {
            body.find(&format!("\"{key}\":"))
                .unwrap_or_else(|| panic!("{key} is missing from {body}"))
        })
        .collect();
    assert!(
        at.windows(2).all(|pair| pair[0] < pair[1]),
        "expected {keys:?} in that order: {body}"
    );
    assert!(!body.contains("\"errors\""), "{body}");
}

e2e! {
    async fn fields_answer_in_selection_order_at_the_root_and_below(app) {
        // Arrange: an article with a tag and a comment, so every list has
        // rows and every field a value.
        let jane = app.sign_up("jane").await;
        let slug = app.create_article(&jane, "Ordered", &["order"]).await;
        app.add_comment(&jane, &slug, "First").await;

        // Act and assert: the same fields in two orders; each answer keeps
        // its query's order. `totalCount` waits for a COUNT and `pageInfo`
        // does not; the root fields each wait for their own statement.
        let list = "{ z_total: totalCount z_info: pageInfo { z_next: hasNextPage } \
            z_nodes: nodes { z_title: title z_author: author { z_name: username } z_count: commentsCount } }";
        let forward = body(&app, &format!("{{ z_articles: articles(first: 5) {list} z_tags: popularTags {{ z_tag: name }} }}")).await;
        assert_in_order(&forward, &["z_articles", "z_total", "z_info", "z_next", "z_nodes", "z_title", "z_author", "z_name", "z_count", "z_tags", "z_tag"]);

        let list = "{ z_nodes: nodes { z_count: commentsCount z_author: author { z_name: username } z_title: title } \
            z_info: pageInfo { z_next: hasNextPage } z_total: totalCount }";
        let backward = body(&app, &format!("{{ z_tags: popularTags {{ z_tag: name }} z_articles: articles(first: 5) {list} }}")).await;
        assert_in_order(&backward, &["z_tags", "z_tag", "z_articles", "z_nodes", "z_count", "z_author", "z_name", "z_title", "z_info", "z_next", "z_total"]);

        // Fragments are expanded where they stand, inline or named, at the
        // root too; a key selected twice keeps its first place.
        let fragments = body(&app, &format!(
            "query {{ ...Root z_article: article(slug: \"{slug}\") {{ z_slug: slug ...Parts \
                ... on Article {{ z_comments: comments {{ z_total: totalCount }} }} z_slug: slug }} }} \
             fragment Root on Query {{ z_tags: popularTags {{ z_tag: name }} }} \
             fragment Parts on Article {{ z_author: author {{ z_name: username }} z_favorites: favoritesCount }}"
        )).await;
        assert_in_order(&fragments, &["z_tags", "z_tag", "z_article", "z_slug", "z_author", "z_name", "z_favorites", "z_comments", "z_total"]);
        assert_eq!(fragments.matches("\"z_slug\":").count(), 1, "{fragments}");
    }
}
