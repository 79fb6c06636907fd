//! Users are read with only the columns their query asks for (see
//! `ProfileColumns`): every field of `User`, asked alone through every way
//! to a user (an author, a comment's author (read with its page),
//! followers, following, a node, a notification's actor, a fragment),
//! answers what the user's own profile answers, never an error for a
//! column its statement left out.

use serde_json::{Value, json};

use crate::notifications::eventually;

e2e! {
    async fn every_user_field_reads_through_every_way_to_a_user(app) {
        // Arrange: jane, with a bio and an image, wrote the one article and
        // its one comment, follows bob (so bob has a notification by her)
        // and is followed by him.
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        app.gql_ok(
            Some(&jane),
            "mutation { updateViewer(input: { bio: \"Writes\", image: \"https://example.com/j.png\" }) { id } }",
            json!({}),
        )
        .await;
        let slug = app.create_article(&jane, "Columns", &["one"]).await;
        app.add_comment(&jane, &slug, "First").await;
        app.follow(&jane, "bob").await;
        app.follow(&bob, "jane").await;
        let jane_id = app
            .gql_ok(None, "{ user(username: \"jane\") { id } }", json!({}))
            .await["user"]["id"]
            .as_str()
            .expect("jane's id")
            .to_owned();
        // The follow's notification comes from the worker, a moment later.
        eventually(|| async {
            let data = app
                .gql_ok(Some(&bob), "{ notifications { nodes { actor { username } } } }", json!({}))
                .await;
            (data["notifications"]["nodes"][0]["actor"]["username"] == "jane").then_some(())
        })
        .await;

        let slug_arg = format!("\"{slug}\"");
        let ways = [
            ("an article's author", "articles(first: 5) { nodes { author { SELECTION } } }".to_owned(), "/articles/nodes/0/author"),
            ("a lookup's author", format!("article(slug: {slug_arg}) {{ author {{ SELECTION }} }}"), "/article/author"),
            ("a comment's author", format!("article(slug: {slug_arg}) {{ comments(first: 5) {{ nodes {{ author {{ SELECTION }} }} }} }}"), "/article/comments/nodes/0/author"),
            // Read with the comments' page: it reads every column any of
            // the nodes' `author` fields asks for.
            ("a comment's author, by its edge", format!("article(slug: {slug_arg}) {{ comments(first: 5) {{ edges {{ node {{ author {{ SELECTION }} }} }} }} }}"), "/article/comments/edges/0/node/author"),
            ("a comment's author beside another", format!("article(slug: {slug_arg}) {{ comments(first: 5) {{ nodes {{ other: author {{ username }} author {{ SELECTION }} }} edges {{ node {{ author {{ image }} }} }} }} }}"), "/article/comments/nodes/0/author"),
            ("a follower", "user(username: \"bob\") { followers(first: 5) { nodes { SELECTION } } }".to_owned(), "/user/followers/nodes/0"),
            ("a followee, by its edge", "user(username: \"bob\") { following(first: 5) { edges { node { SELECTION } } } }".to_owned(), "/user/following/edges/0/node"),
            ("a node", format!("node(id: \"{jane_id}\") {{ ... on User {{ SELECTION }} }}"), "/node"),
            ("nodes", format!("nodes(ids: [\"{jane_id}\"]) {{ ... on User {{ SELECTION }} }}"), "/nodes/0"),
            ("a notification's actor", "notifications { nodes { actor { SELECTION } } }".to_owned(), "/notifications/nodes/0/actor"),
            ("a fragment", "articles(first: 5) { nodes { author { ...U } } }".to_owned(), "/articles/nodes/0/author"),
        ];

        let fields = app.field_selections("User").await;
        assert!(fields.len() >= 14, "{fields:?}");
        for (name, selection) in fields {
            // The user's own profile, read whole, as bob sees it and as an
            // anonymous caller does.
            let profile = format!("{{ user(username: \"jane\") {{ {selection} }} }}");
            let whole = app.gql_ok(Some(&bob), &profile, json!({})).await;
            let expected = &whole["user"][&name];
            let anonymous_whole = app.gql_ok(None, &profile, json!({})).await;
            // Only the user's own fields are null to bob.
            if !matches!(name.as_str(), "email" | "emailNotifications") {
                assert!(!expected.is_null(), "{name}: {whole:#}");
            }

            // Act and assert: the same field alone through each way, with
            // bob's token and without.
            for (way, query, at) in &ways {
                let fragment = if way == &"a fragment" {
                    format!(" fragment U on User {{ {selection} }}")
                } else {
                    String::new()
                };
                let query = format!("{{ {} }}{fragment}", query.replace("SELECTION", &selection));
                let data = app.gql_ok(Some(&bob), &query, json!({})).await;
                let node = data.pointer(at).unwrap_or(&Value::Null);
                assert_eq!(&node[&name], expected, "{name} through {way}: {data:#}");
                if *way != "a notification's actor" {
                    let anonymous = app.gql_ok(None, &query, json!({})).await;
                    let node = anonymous.pointer(at).unwrap_or(&Value::Null);
                    assert_eq!(&node[&name], &anonymous_whole["user"][&name], "{name} through {way}, anonymous: {anonymous:#}");
                }
            }
        }
    }
}
