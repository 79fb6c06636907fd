//! createArticle, updateArticle, deleteArticle, article, articles (filters
//! and order), User.articles, and the slugs derived from titles.

use serde_json::{Value, json};

use crate::helpers::{error_code, error_fields, slugs};

const CREATE: &str = "mutation($input: CreateArticleInput!) { createArticle(input: $input) { \
    id slug title description body tags createdAt updatedAt favoritesCount favoritedByViewer commentsCount \
    author { username } } }";
const UPDATE: &str = "mutation($slug: String!, $input: UpdateArticleInput!) { updateArticle(slug: $slug, input: $input) { \
    id slug title description body tags createdAt updatedAt } }";
const DELETE: &str = "mutation($slug: String!) { deleteArticle(slug: $slug) }";
const ARTICLE: &str = "query($slug: String!) { article(slug: $slug) { \
    id slug title description body tags createdAt updatedAt favoritesCount favoritedByViewer commentsCount \
    author { username } } }";
const LIST: &str = "query($filter: ArticleFilter, $orderBy: ArticleOrder, $first: Int) { \
    articles(filter: $filter, orderBy: $orderBy, first: $first) { totalCount nodes { slug } } }";

fn input(title: &str, tags: &[&str]) -> Value {
    json!({ "title": title, "description": "A description.", "body": "A body.", "tags": tags })
}

/// The article at `slug` as `token` sees it, or null.
async fn article(app: &crate::helpers::TestApp, token: Option<&str>, slug: &str) -> Value {
    app.gql_ok(token, ARTICLE, json!({ "slug": slug })).await["article"].clone()
}

/// The slugs `articles` lists for a filter and order, with its totalCount.
async fn list(app: &crate::helpers::TestApp, filter: Value, order: &str) -> (Vec<String>, i64) {
    let data = app
        .gql_ok(None, LIST, json!({ "filter": filter, "orderBy": order }))
        .await;
    let total = data["articles"]["totalCount"]
        .as_i64()
        .expect("a totalCount");
    (slugs(&data["articles"]), total)
}

e2e! {
    async fn create_article_returns_the_article_and_it_can_be_fetched_by_slug(app) {
        // Arrange
        let jane = app.sign_up("jane").await;

        // Act
        let created = app
            .gql_ok(Some(&jane), CREATE, json!({ "input": {
                "title": "  How to Train Your Dragon!  ",
                "description": " Dragons, explained. ",
                "body": "First, find a dragon.",
                "tags": [" Dragons ", "TRAINING", "dragons", "how-to", "Training"],
            }}))
            .await["createArticle"]
            .clone();

        // Assert
        assert_eq!(created["slug"], "how-to-train-your-dragon");
        assert_eq!(created["title"], "How to Train Your Dragon!", "the title is trimmed");
        assert_eq!(created["description"], "Dragons, explained.");
        assert_eq!(created["body"], "First, find a dragon.");
        assert_eq!(
            created["tags"],
            json!(["dragons", "training", "how-to"]),
            "lower-cased, trimmed, de-duplicated, in the author's order"
        );
        assert_eq!(created["author"]["username"], "jane");
        assert_eq!(created["favoritesCount"], 0);
        assert_eq!(created["favoritedByViewer"], false);
        assert_eq!(created["commentsCount"], 0);
        assert_eq!(created["createdAt"], created["updatedAt"]);
        let created_at = chrono::DateTime::parse_from_rfc3339(created["createdAt"].as_str().unwrap()).unwrap();
        assert!((chrono::Utc::now() - created_at.to_utc()).num_seconds().abs() < 60);

        let fetched = article(&app, None, "how-to-train-your-dragon").await;
        assert_eq!(fetched, created, "the lookup shows what the mutation answered");
    }
}

e2e! {
    async fn create_article_without_tags_or_description_has_empty_ones(app) {
        let jane = app.sign_up("jane").await;

        let created = app
            .gql_ok(Some(&jane), CREATE, json!({ "input": {
                "title": "Untagged", "description": "   ", "body": "Text." } }))
            .await["createArticle"]
            .clone();

        assert_eq!(created["tags"], json!([]));
        assert_eq!(created["description"], "");
        let empty_list = app
            .gql_ok(Some(&jane), CREATE, json!({ "input": {
                "title": "Empty list", "description": "", "body": "Text.", "tags": [] } }))
            .await["createArticle"]
            .clone();
        assert_eq!(empty_list["tags"], json!([]));
    }
}

e2e! {
    async fn create_article_reports_every_invalid_field_and_creates_nothing(app) {
        let jane = app.sign_up("jane").await;

        let response = app
            .gql(Some(&jane), CREATE, json!({ "input": {
                "title": "   ",
                "description": "d".repeat(1_001),
                "body": "",
                "tags": ["has space"],
            }}))
            .await;

        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response:#}");
        let fields = error_fields(&response);
        for field in ["title", "description", "body", "tags"] {
            assert!(fields[field][0].is_string(), "a message for {field}: {response:#}");
        }
        assert_eq!(response["data"], Value::Null);
        let (listed, total) = list(&app, json!(null), "NEWEST").await;
        assert_eq!((listed.len(), total), (0, 0));
        let tags = app.gql_ok(None, "{ popularTags { name } }", json!({})).await;
        assert_eq!(tags["popularTags"], json!([]));
    }
}

e2e! {
    async fn create_article_enforces_each_limit_exactly(app) {
        let jane = app.sign_up("jane").await;
        // Multi-byte characters: limits count characters, not bytes.
        let at_limit = json!({ "input": {
            "title": "é".repeat(200),
            "description": "ü".repeat(1_000),
            "body": "b".repeat(100_000),
            // Eleven given, ten once de-duplicated.
            "tags": ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "T9", "t9"],
        }});
        let ok = app.gql_ok(Some(&jane), CREATE, at_limit).await["createArticle"].clone();
        assert_eq!(ok["title"].as_str().unwrap().chars().count(), 200);
        assert_eq!(ok["description"].as_str().unwrap().chars().count(), 1_000);
        assert_eq!(ok["body"].as_str().unwrap().len(), 100_000);
        assert_eq!(ok["tags"].as_array().unwrap().len(), 10);
        let long_tag = "x".repeat(32);
        let ok = app
            .gql_ok(Some(&jane), CREATE, json!({ "input": {
                "title": "Tags", "description": "", "body": "b", "tags": [long_tag, "c++", "c#", "node.js", "a_b"] } }))
            .await;
        assert_eq!(ok["createArticle"]["tags"], json!([long_tag, "c++", "c#", "node.js", "a_b"]));

        for (field, input) in [
            ("title", json!({ "title": "é".repeat(201), "description": "", "body": "b" })),
            ("description", json!({ "title": "t", "description": "ü".repeat(1_001), "body": "b" })),
            ("body", json!({ "title": "t", "description": "", "body": "b".repeat(100_001) })),
            ("tags", json!({ "title": "t", "description": "", "body": "b",
                "tags": (0..11).map(|i| format!("t{i}")).collect::<Vec<_>>() })),
            ("tags", json!({ "title": "t", "description": "", "body": "b", "tags": ["x".repeat(33)] })),
            ("tags", json!({ "title": "t", "description": "", "body": "b", "tags": ["ok", "  "] })),
            ("tags", json!({ "title": "t", "description": "", "body": "b", "tags": ["a/b"] })),
        ] {
            let response = app.gql(Some(&jane), CREATE, json!({ "input": input })).await;
            assert_eq!(error_code(&response), "BAD_USER_INPUT", "{field}: {response:#}");
            assert!(error_fields(&response)[field][0].is_string(), "{field}: {response:#}");
            assert_eq!(error_fields(&response).as_object().unwrap().len(), 1, "{response:#}");
        }
        let (_, total) = list(&app, json!(null), "NEWEST").await;
        assert_eq!(total, 2, "only the two valid articles exist");
    }
}

e2e! {
    async fn the_same_title_twice_gets_two_distinct_slugs(app) {
        let jane = app.sign_up("jane").await;

        let first = app.create_article(&jane, "Hello World", &[]).await;
        let second = app.create_article(&jane, "Hello, World!", &[]).await;

        assert_eq!(first, "hello-world");
        let suffix = second.strip_prefix("hello-world-").unwrap_or_else(|| panic!("{second}"));
        assert_eq!(suffix.len(), 6, "{second}");
        assert!(suffix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{second}");
        assert_eq!(article(&app, None, &first).await["title"], "Hello World");
        assert_eq!(article(&app, None, &second).await["title"], "Hello, World!");
    }
}

e2e! {
    async fn punctuation_only_and_non_latin_titles_get_url_safe_slugs(app) {
        let jane = app.sign_up("jane").await;

        let punctuation = app.create_article(&jane, "?!… —", &[]).await;
        let punctuation_again = app.create_article(&jane, "!!!", &[]).await;
        let cyrillic = app.create_article(&jane, "Привет мир", &[]).await;
        let japanese = app.create_article(&jane, "東京の夏", &[]).await;
        let emoji = app.create_article(&jane, "🦀 Rust", &[]).await;

        assert_eq!(punctuation, "article");
        assert!(punctuation_again.starts_with("article-") && punctuation_again.len() == "article-".len() + 6);
        assert_eq!(cyrillic, "privet-mir");
        for (title, slug) in [
            ("?!… —", &punctuation),
            ("!!!", &punctuation_again),
            ("Привет мир", &cyrillic),
            ("東京の夏", &japanese),
            ("🦀 Rust", &emoji),
        ] {
            assert!(!slug.is_empty());
            assert!(
                slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{title} → {slug}"
            );
            assert!(!slug.starts_with('-') && !slug.ends_with('-'), "{slug}");
            assert_eq!(article(&app, None, slug).await["title"], title, "{slug}");
        }
    }
}

e2e! {
    async fn racing_creates_with_one_title_all_succeed_with_distinct_slugs(app) {
        // Arrange: eight writers publish the same title at once.
        let jane = app.sign_up("jane").await;
        let attempts = (0..8).map(|_| {
            let (app, jane) = (&app, &jane);
            async move { app.gql(Some(jane), CREATE, json!({ "input": input("Breaking News", &[]) })).await }
        });

        // Act
        let responses = futures_util::future::join_all(attempts).await;

        // Assert
        let mut created: Vec<String> = responses
            .iter()
            .map(|r| {
                assert!(r.get("errors").is_none(), "every create succeeds: {r:#}");
                r["data"]["createArticle"]["slug"].as_str().unwrap().to_owned()
            })
            .collect();
        created.sort();
        created.dedup();
        assert_eq!(created.len(), 8, "{created:?}");
        assert!(created.contains(&"breaking-news".to_owned()), "{created:?}");
        let (_, total) = list(&app, json!(null), "NEWEST").await;
        assert_eq!(total, 8);
    }
}

e2e! {
    async fn racing_renames_to_one_title_all_succeed_with_distinct_slugs(app) {
        // Arrange: six articles, renamed to the same title at once.
        let jane = app.sign_up("jane").await;
        let titles: Vec<String> = (0..6).map(|i| format!("Draft {i}")).collect();
        let created = app.create_articles(&jane, &titles).await;
        let renames = created.iter().map(|slug| {
            let (app, jane) = (&app, &jane);
            async move {
                app.gql(Some(jane), UPDATE, json!({ "slug": slug, "input": { "title": "Final Title" } }))
                    .await
            }
        });

        // Act
        let responses = futures_util::future::join_all(renames).await;

        // Assert
        let mut renamed: Vec<String> = responses
            .iter()
            .map(|r| {
                assert!(r.get("errors").is_none(), "every rename succeeds: {r:#}");
                r["data"]["updateArticle"]["slug"].as_str().unwrap().to_owned()
            })
            .collect();
        renamed.sort();
        renamed.dedup();
        assert_eq!(renamed.len(), 6, "{renamed:?}");
        assert!(renamed.iter().all(|s| s.starts_with("final-title")), "{renamed:?}");
        for slug in &renamed {
            assert_eq!(article(&app, None, slug).await["title"], "Final Title");
        }
    }
}

e2e! {
    async fn update_article_changes_only_the_given_fields(app) {
        // Arrange
        let jane = app.sign_up("jane").await;
        let slug = app.create_article(&jane, "Original Title", &["rust", "web"]).await;
        let before = article(&app, None, &slug).await;

        // Act
        let updated = app
            .gql_ok(Some(&jane), UPDATE, json!({ "slug": slug, "input": {
                "description": " New description ", "title": null } }))
            .await["updateArticle"]
            .clone();

        // Assert
        assert_eq!(updated["description"], "New description");
        assert_eq!(updated["slug"], "original-title");
        assert_eq!(updated["title"], "Original Title");
        assert_eq!(updated["body"], before["body"]);
        assert_eq!(updated["tags"], json!(["rust", "web"]));
        assert_eq!(updated["id"], before["id"]);
        assert_eq!(updated["createdAt"], before["createdAt"]);
        let instant = |value: &Value| chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap();
        assert!(instant(&updated["updatedAt"]) > instant(&before["updatedAt"]), "updatedAt moves: {updated:#}");
        let after = article(&app, None, &slug).await;
        assert_eq!(after["description"], "New description");
        assert_eq!(after["updatedAt"], updated["updatedAt"]);

        let body = app
            .gql_ok(Some(&jane), UPDATE, json!({ "slug": slug, "input": { "body": "New body." } }))
            .await;
        assert_eq!(body["updateArticle"]["body"], "New body.");
        assert_eq!(body["updateArticle"]["description"], "New description");
    }
}

e2e! {
    async fn the_slug_follows_a_changed_title(app) {
        let jane = app.sign_up("jane").await;
        let slug = app.create_article(&jane, "First Draft", &[]).await;

        let renamed = app
            .gql_ok(Some(&jane), UPDATE, json!({ "slug": slug, "input": { "title": "Final Version" } }))
            .await["updateArticle"]
            .clone();

        assert_eq!(renamed["slug"], "final-version");
        assert_eq!(renamed["title"], "Final Version");
        assert_eq!(article(&app, None, "first-draft").await, Value::Null, "the old slug is gone");
        assert_eq!(article(&app, None, "final-version").await["title"], "Final Version");

        // A title that asks for the same slug keeps it.
        let recased = app
            .gql_ok(Some(&jane), UPDATE, json!({ "slug": "final-version", "input": { "title": "FINAL version!" } }))
            .await;
        assert_eq!(recased["updateArticle"]["slug"], "final-version");
        assert_eq!(recased["updateArticle"]["title"], "FINAL version!");

        // The old slug is free again for a new article.
        let reused = app.create_article(&jane, "First Draft", &[]).await;
        assert_eq!(reused, "first-draft");
    }
}

e2e! {
    async fn a_title_whose_slug_is_taken_gets_a_suffix_and_keeps_it(app) {
        let jane = app.sign_up("jane").await;
        app.create_article(&jane, "Taken", &[]).await;
        let other = app.create_article(&jane, "Other", &[]).await;

        let renamed = app
            .gql_ok(Some(&jane), UPDATE, json!({ "slug": other, "input": { "title": "Taken" } }))
            .await["updateArticle"]["slug"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(renamed.starts_with("taken-") && renamed.len() == "taken-".len() + 6, "{renamed}");

        // Saving the same title again does not move the article.
        let again = app
            .gql_ok(Some(&jane), UPDATE, json!({ "slug": renamed, "input": { "title": "Taken", "body": "Edited." } }))
            .await;
        assert_eq!(again["updateArticle"]["slug"], renamed.as_str());
        assert_eq!(article(&app, None, "taken").await["title"], "Taken");
        assert_eq!(article(&app, None, &renamed).await["body"], "Edited.");
    }
}

e2e! {
    async fn a_slug_that_looks_suffixed_still_follows_a_shorter_title(app) {
        // "Hello abcdef" asks for hello-abcdef, which looks like "hello" plus a
        // random suffix; renamed to "Hello", the article must become hello.
        let jane = app.sign_up("jane").await;
        let slug = app.create_article(&jane, "Hello abcdef", &[]).await;
        assert_eq!(slug, "hello-abcdef");

        let renamed = app
            .gql_ok(Some(&jane), UPDATE, json!({ "slug": slug, "input": { "title": "Hello" } }))
            .await;

        assert_eq!(renamed["updateArticle"]["slug"], "hello");
        assert_eq!(article(&app, None, "hello").await["title"], "Hello");
    }
}

e2e! {
    async fn update_article_replaces_tags_in_the_new_order(app) {
        let jane = app.sign_up("jane").await;
        let slug = app.create_article(&jane, "Tagged", &["rust", "web", "async"]).await;

        let retagged = app
            .gql_ok(Some(&jane), UPDATE, json!({ "slug": slug, "input": { "tags": ["Async", " NEW ", "rust", "new"] } }))
            .await;
        assert_eq!(retagged["updateArticle"]["tags"], json!(["async", "new", "rust"]));

        let untouched = app
            .gql_ok(Some(&jane), UPDATE, json!({ "slug": slug, "input": { "title": "Tagged", "tags": null } }))
            .await;
        assert_eq!(untouched["updateArticle"]["tags"], json!(["async", "new", "rust"]), "null leaves tags");

        let cleared = app
            .gql_ok(Some(&jane), UPDATE, json!({ "slug": slug, "input": { "tags": [] } }))
            .await;
        assert_eq!(cleared["updateArticle"]["tags"], json!([]));
        assert_eq!(article(&app, None, &slug).await["tags"], json!([]));
        let (by_tag, total) = list(&app, json!({ "tag": "rust" }), "NEWEST").await;
        assert_eq!((by_tag, total), (vec![], 0));
    }
}

e2e! {
    async fn an_invalid_update_changes_nothing(app) {
        let jane = app.sign_up("jane").await;
        let slug = app.create_article(&jane, "Stable", &["keep"]).await;
        let before = article(&app, None, &slug).await;

        let response = app
            .gql(Some(&jane), UPDATE, json!({ "slug": slug, "input": {
                "title": " ", "body": "", "description": "fine", "tags": ["ok", "not ok"] } }))
            .await;

        assert_eq!(error_code(&response), "BAD_USER_INPUT");
        let fields = error_fields(&response);
        for field in ["title", "body", "tags"] {
            assert!(fields[field][0].is_string(), "a message for {field}: {response:#}");
        }
        assert_eq!(fields.get("description"), None);
        assert_eq!(article(&app, None, &slug).await, before);
    }
}

e2e! {
    async fn delete_article_answers_its_id_and_the_article_is_gone(app) {
        let jane = app.sign_up("jane").await;
        let keep = app.create_article(&jane, "Keep", &[]).await;
        let doomed = app.create_article(&jane, "Doomed", &[]).await;
        let id = app.article_id(&doomed).await;

        let deleted = app.gql_ok(Some(&jane), DELETE, json!({ "slug": doomed })).await;

        assert_eq!(deleted["deleteArticle"], id.as_str());
        assert_eq!(article(&app, None, &doomed).await, Value::Null);
        assert_eq!(list(&app, json!(null), "NEWEST").await, (vec![keep.clone()], 1));
        let profile = app
            .gql_ok(None, "{ user(username: \"jane\") { articles { totalCount nodes { slug } } } }", json!({}))
            .await;
        assert_eq!(profile["user"]["articles"]["totalCount"], 1);
        assert_eq!(slugs(&profile["user"]["articles"]), [keep]);
        let again = app.gql(Some(&jane), DELETE, json!({ "slug": doomed })).await;
        assert_eq!(error_code(&again), "NOT_FOUND");
    }
}

e2e! {
    async fn article_is_null_for_an_unknown_slug(app) {
        let data = app.gql_ok(None, ARTICLE, json!({ "slug": "no-such-article" })).await;
        assert_eq!(data["article"], Value::Null);
        let data = app.gql_ok(None, ARTICLE, json!({ "slug": "" })).await;
        assert_eq!(data["article"], Value::Null);
    }
}

e2e! {
    async fn articles_run_newest_first_by_default_and_oldest_first_on_request(app) {
        let jane = app.sign_up("jane").await;
        let created = app
            .create_articles(&jane, &["One", "Two", "Three", "Four"].map(String::from))
            .await;
        let newest_first: Vec<String> = created.iter().rev().cloned().collect();

        let default = app.gql_ok(None, "{ articles { totalCount nodes { slug } } }", json!({})).await;
        assert_eq!(slugs(&default["articles"]), newest_first);
        assert_eq!(default["articles"]["totalCount"], 4);
        assert_eq!(list(&app, json!(null), "NEWEST").await, (newest_first.clone(), 4));
        assert_eq!(list(&app, json!(null), "OLDEST").await, (created.clone(), 4));
        let explicit_null = app
            .gql_ok(None, "{ articles(orderBy: null) { nodes { slug } } }", json!({}))
            .await;
        assert_eq!(slugs(&explicit_null["articles"]), newest_first, "null means the default");
    }
}

e2e! {
    async fn articles_filters_by_tag_author_and_favorited_by_alone_and_combined(app) {
        // Arrange: jane and john write, bob and ann favorite.
        let jane = app.sign_up("jane").await;
        let john = app.sign_up("john").await;
        let bob = app.sign_up("bob").await;
        let ann = app.sign_up("ann").await;
        let jane_rust = app.create_article(&jane, "Jane on Rust", &["rust"]).await;
        let jane_go = app.create_article(&jane, "Jane on Go", &["go"]).await;
        let john_rust = app.create_article(&john, "John on Rust", &["Rust", "web"]).await;
        let john_web = app.create_article(&john, "John on the Web", &["web"]).await;
        let jane_both = app.create_article(&jane, "Jane on Rust and Go", &["go", "rust"]).await;
        for slug in [&jane_rust, &john_rust, &john_web] {
            app.favorite(&bob, slug).await;
        }
        app.favorite(&ann, &jane_go).await;

        let s = |slugs: &[&String]| slugs.iter().map(|s| (*s).clone()).collect::<Vec<_>>();
        // Act and assert: each filter alone, newest first.
        assert_eq!(
            list(&app, json!({ "tag": "rust" }), "NEWEST").await,
            (s(&[&jane_both, &john_rust, &jane_rust]), 3)
        );
        assert_eq!(
            list(&app, json!({ "tag": " RUST " }), "NEWEST").await,
            (s(&[&jane_both, &john_rust, &jane_rust]), 3),
            "a tag filter is normalized like tags are"
        );
        assert_eq!(
            list(&app, json!({ "author": "jane" }), "NEWEST").await,
            (s(&[&jane_both, &jane_go, &jane_rust]), 3)
        );
        assert_eq!(
            list(&app, json!({ "favoritedBy": "bob" }), "NEWEST").await,
            (s(&[&john_web, &john_rust, &jane_rust]), 3)
        );
        // Combined: every condition holds.
        assert_eq!(
            list(&app, json!({ "tag": "rust", "author": "jane" }), "OLDEST").await,
            (s(&[&jane_rust, &jane_both]), 2)
        );
        assert_eq!(
            list(&app, json!({ "tag": "web", "favoritedBy": "bob" }), "NEWEST").await,
            (s(&[&john_web, &john_rust]), 2)
        );
        assert_eq!(
            list(&app, json!({ "tag": "rust", "author": "john", "favoritedBy": "bob" }), "NEWEST").await,
            (s(&[&john_rust]), 1)
        );
        assert_eq!(
            list(&app, json!({ "author": "jane", "favoritedBy": "bob" }), "NEWEST").await,
            (s(&[&jane_rust]), 1)
        );
        assert_eq!(list(&app, json!({ "author": "john", "tag": "go" }), "NEWEST").await, (vec![], 0));
        // Names that match nothing.
        for filter in [
            json!({ "tag": "nope" }),
            json!({ "author": "nobody" }),
            json!({ "favoritedBy": "nobody" }),
            json!({ "favoritedBy": "jane" }),
            json!({ "tag": "rust", "author": "nobody" }),
        ] {
            assert_eq!(list(&app, filter.clone(), "NEWEST").await, (vec![], 0), "{filter}");
        }
        // An empty filter is no filter.
        assert_eq!(list(&app, json!({}), "NEWEST").await.1, 5);
    }
}

e2e! {
    async fn user_articles_lists_what_the_user_wrote_newest_first(app) {
        let jane = app.sign_up("jane").await;
        let john = app.sign_up("john").await;
        let first = app.create_article(&jane, "Jane One", &[]).await;
        app.create_article(&john, "John One", &[]).await;
        let second = app.create_article(&jane, "Jane Two", &[]).await;
        let query = "query($name: String!) { user(username: $name) { articles { totalCount nodes { slug author { username } } } } }";

        let data = app.gql_ok(None, query, json!({ "name": "jane" })).await;
        let articles = &data["user"]["articles"];
        assert_eq!(articles["totalCount"], 2);
        assert_eq!(slugs(articles), [second, first]);
        assert!(articles["nodes"].as_array().unwrap().iter().all(|n| n["author"]["username"] == "jane"));

        app.sign_up("quiet").await;
        let none = app.gql_ok(None, query, json!({ "name": "quiet" })).await;
        assert_eq!(none["user"]["articles"]["totalCount"], 0);
        assert_eq!(none["user"]["articles"]["nodes"], json!([]));
        assert_eq!(none["user"]["articles"]["pageInfo"], Value::Null, "not selected");
    }
}
