//! favoriteArticle, unfavoriteArticle, favoritesCount, favoritedByViewer
//! and User.favorites.

use serde_json::{Value, json};

use crate::helpers::slugs;

const FAVORITE: &str = "mutation($slug: String!) { favoriteArticle(slug: $slug) { slug favoritesCount favoritedByViewer } }";
const UNFAVORITE: &str = "mutation($slug: String!) { unfavoriteArticle(slug: $slug) { slug favoritesCount favoritedByViewer } }";
const ARTICLE: &str =
    "query($slug: String!) { article(slug: $slug) { favoritesCount favoritedByViewer } }";
const FAVORITES: &str = "query($name: String!) { user(username: $name) { \
    favorites { totalCount nodes { slug } } } }";

async fn favorites_of(app: &crate::helpers::TestApp, username: &str) -> (Vec<String>, i64) {
    let data = app
        .gql_ok(None, FAVORITES, json!({ "name": username }))
        .await;
    let favorites = &data["user"]["favorites"];
    (slugs(favorites), favorites["totalCount"].as_i64().unwrap())
}

e2e! {
    async fn favorite_article_counts_and_marks_it_for_the_viewer_only(app) {
        // Arrange
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let slug = app.create_article(&jane, "Worth It", &[]).await;

        // Act
        let data = app.gql_ok(Some(&bob), FAVORITE, json!({ "slug": slug })).await;

        // Assert
        assert_eq!(data["favoriteArticle"], json!({ "slug": slug, "favoritesCount": 1, "favoritedByViewer": true }));
        let as_bob = app.gql_ok(Some(&bob), ARTICLE, json!({ "slug": slug })).await;
        assert_eq!(as_bob["article"], json!({ "favoritesCount": 1, "favoritedByViewer": true }));
        let as_jane = app.gql_ok(Some(&jane), ARTICLE, json!({ "slug": slug })).await;
        assert_eq!(as_jane["article"], json!({ "favoritesCount": 1, "favoritedByViewer": false }));
        let anonymous = app.gql_ok(None, ARTICLE, json!({ "slug": slug })).await;
        assert_eq!(anonymous["article"], json!({ "favoritesCount": 1, "favoritedByViewer": false }));
    }
}

e2e! {
    async fn favorite_and_unfavorite_are_idempotent(app) {
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let slug = app.create_article(&jane, "Again and Again", &[]).await;

        // Unfavoriting what was never favorited changes nothing.
        let never = app.gql_ok(Some(&bob), UNFAVORITE, json!({ "slug": slug })).await;
        assert_eq!(never["unfavoriteArticle"]["favoritesCount"], 0);
        assert_eq!(never["unfavoriteArticle"]["favoritedByViewer"], false);

        for _ in 0..3 {
            let data = app.gql_ok(Some(&bob), FAVORITE, json!({ "slug": slug })).await;
            assert_eq!(data["favoriteArticle"]["favoritesCount"], 1);
            assert_eq!(data["favoriteArticle"]["favoritedByViewer"], true);
        }
        assert_eq!(favorites_of(&app, "bob").await, (vec![slug.clone()], 1));

        for _ in 0..3 {
            let data = app.gql_ok(Some(&bob), UNFAVORITE, json!({ "slug": slug })).await;
            assert_eq!(data["unfavoriteArticle"]["favoritesCount"], 0);
            assert_eq!(data["unfavoriteArticle"]["favoritedByViewer"], false);
        }
        let article = app.gql_ok(Some(&bob), ARTICLE, json!({ "slug": slug })).await;
        assert_eq!(article["article"], json!({ "favoritesCount": 0, "favoritedByViewer": false }));
        assert_eq!(favorites_of(&app, "bob").await, (vec![], 0));
    }
}

e2e! {
    async fn favorites_from_many_users_add_up_even_when_they_race(app) {
        // Arrange: six readers, each favoriting twice at the same moment.
        let jane = app.sign_up("jane").await;
        let slug = app.create_article(&jane, "Popular", &[]).await;
        let mut readers = Vec::new();
        for i in 0..6 {
            readers.push(app.sign_up(&format!("reader{i}")).await);
        }
        let attempts = readers.iter().chain(readers.iter()).map(|token| {
            let (app, slug) = (&app, &slug);
            async move { app.gql(Some(token), FAVORITE, json!({ "slug": slug })).await }
        });

        // Act
        let responses = futures_util::future::join_all(attempts).await;

        // Assert
        for response in &responses {
            assert!(response.get("errors").is_none(), "{response:#}");
        }
        let anonymous = app.gql_ok(None, ARTICLE, json!({ "slug": slug })).await;
        assert_eq!(anonymous["article"]["favoritesCount"], 6);
        let by_reader = app
            .gql_ok(None, "{ articles(filter: { favoritedBy: \"reader3\" }) { totalCount } }", json!({}))
            .await;
        assert_eq!(by_reader["articles"]["totalCount"], 1);

        app.gql_ok(Some(&readers[0]), UNFAVORITE, json!({ "slug": slug })).await;
        let after = app.gql_ok(None, ARTICLE, json!({ "slug": slug })).await;
        assert_eq!(after["article"]["favoritesCount"], 5);
    }
}

e2e! {
    async fn user_favorites_run_most_recently_favorited_first(app) {
        // Arrange: a, b, c written in that order.
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let a = app.create_article(&jane, "Article A", &[]).await;
        let b = app.create_article(&jane, "Article B", &[]).await;
        let c = app.create_article(&jane, "Article C", &[]).await;

        // Act: favorited c, a, b.
        for slug in [&c, &a, &b] {
            app.favorite(&bob, slug).await;
        }

        // Assert
        assert_eq!(favorites_of(&app, "bob").await, (vec![b.clone(), a.clone(), c.clone()], 3));
        // The articles filter keeps its own order: newest article first.
        let filtered = app
            .gql_ok(None, "{ articles(filter: { favoritedBy: \"bob\" }) { nodes { slug } } }", json!({}))
            .await;
        assert_eq!(slugs(&filtered["articles"]), [c.clone(), b.clone(), a.clone()]);

        // Taking a favorite back and giving it again moves it to the top.
        app.gql_ok(Some(&bob), UNFAVORITE, json!({ "slug": a })).await;
        assert_eq!(favorites_of(&app, "bob").await, (vec![b.clone(), c.clone()], 2));
        app.favorite(&bob, &a).await;
        assert_eq!(favorites_of(&app, "bob").await, (vec![a.clone(), b.clone(), c.clone()], 3));

        // Paging through them.
        let page = app
            .gql_ok(None, "{ user(username: \"bob\") { favorites(first: 2) { nodes { slug } pageInfo { hasNextPage endCursor } } } }", json!({}))
            .await;
        let favorites = &page["user"]["favorites"];
        assert_eq!(slugs(favorites), [a.clone(), b.clone()]);
        assert_eq!(favorites["pageInfo"]["hasNextPage"], true);
        let rest = app
            .gql_ok(None, "query($after: String) { user(username: \"bob\") { favorites(first: 2, after: $after) { nodes { slug } pageInfo { hasNextPage hasPreviousPage } } } }",
                json!({ "after": favorites["pageInfo"]["endCursor"] }))
            .await;
        let rest = &rest["user"]["favorites"];
        assert_eq!(slugs(rest), [c.as_str()]);
        assert_eq!(rest["pageInfo"]["hasNextPage"], false);
        assert_eq!(rest["pageInfo"]["hasPreviousPage"], true);

        // Nobody else's list changed.
        assert_eq!(favorites_of(&app, "jane").await, (vec![], 0));
    }
}

e2e! {
    async fn favorited_by_viewer_is_per_article_in_a_list(app) {
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let liked = app.create_article(&jane, "Liked", &[]).await;
        let skipped = app.create_article(&jane, "Skipped", &[]).await;
        app.favorite(&bob, &liked).await;
        let query = "{ articles { nodes { slug favoritedByViewer favoritesCount } } }";

        let as_bob = app.gql_ok(Some(&bob), query, json!({})).await;
        assert_eq!(
            as_bob["articles"]["nodes"],
            json!([
                { "slug": skipped, "favoritedByViewer": false, "favoritesCount": 0 },
                { "slug": liked, "favoritedByViewer": true, "favoritesCount": 1 },
            ])
        );
        let anonymous = app.gql_ok(None, query, json!({})).await;
        let flags: Vec<&Value> = anonymous["articles"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| &n["favoritedByViewer"])
            .collect();
        assert_eq!(flags, [&json!(false), &json!(false)]);
    }
}

e2e! {
    async fn racing_favorites_each_answer_the_count_their_favorite_made(app) {
        // Arrange: eight readers favorite at the same moment.
        let jane = app.sign_up("jane").await;
        let slug = app.create_article(&jane, "Rush", &[]).await;
        let mut readers = Vec::new();
        for i in 0..8 {
            readers.push(app.sign_up(&format!("reader{i}")).await);
        }
        let attempts = readers.iter().map(|token| {
            let (app, slug) = (&app, &slug);
            async move { app.gql(Some(token), FAVORITE, json!({ "slug": slug })).await }
        });

        // Act
        let responses = futures_util::future::join_all(attempts).await;

        // Assert: the favorites happened one after another, so each answer
        // shows a different count, the last one all eight.
        let mut counts: Vec<i64> = responses
            .iter()
            .map(|r| {
                assert!(r.get("errors").is_none(), "{r:#}");
                r["data"]["favoriteArticle"]["favoritesCount"].as_i64().unwrap()
            })
            .collect();
        counts.sort_unstable();
        assert_eq!(counts, (1..=8).collect::<Vec<_>>());
    }
}
