//! Subscribers of the same subscription share one execution per event
//! (issue 17): each still gets every event, subscribers with other
//! variables get their own results, and what depends on the viewer is
//! never shared between viewers. `/metrics` counts the executions.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::subscriptions::{Client, TRANSPORT};

const LEGACY: &str = "graphql-ws";

const EXECUTIONS: &str = "conduit_subscription_executions_total";
const DELIVERIES: &str = "conduit_subscription_deliveries_total";

const COMMENT_ADDED: &str = "subscription($slug: String!) { commentAdded(articleSlug: $slug) { body author { username } } }";

/// What a subscriber sees of the writer and the article: the author's
/// email is their own business, the other two depend on who asks.
const VIEWER_DEPENDENT: &str = "subscription($slug: String!) { commentAdded(articleSlug: $slug) { body author { username email followedByViewer } article { favoritedByViewer } } }";

/// Subscribes `clients` and waits until the server has surely read it.
async fn subscribe_all(clients: &mut [Client], query: &str, variables: Value) {
    for client in clients.iter_mut() {
        client.subscribe("s", query, variables.clone()).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
}

async fn counters(app: &TestApp) -> (u64, u64) {
    (app.metric(EXECUTIONS).await, app.metric(DELIVERIES).await)
}

e2e! {
    async fn many_subscribers_of_one_subscription_share_one_execution_per_event(app) {
        // Arrange: 12 subscribers of one article (both protocols), 3 of another.
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let watched = app.create_article(&jane, "Watched", &[]).await;
        let other = app.create_article(&jane, "Other", &[]).await;
        let mut on_watched = Vec::new();
        for i in 0..12 {
            let protocol = if i % 3 == 0 { LEGACY } else { TRANSPORT };
            on_watched.push(Client::ready(&app, protocol, None).await);
        }
        let mut on_other = Vec::new();
        for _ in 0..3 {
            on_other.push(Client::ready(&app, TRANSPORT, None).await);
        }
        subscribe_all(&mut on_watched, COMMENT_ADDED, json!({ "slug": watched })).await;
        subscribe_all(&mut on_other, COMMENT_ADDED, json!({ "slug": other })).await;
        let (executions, deliveries) = counters(&app).await;

        // Act: one comment on each article.
        app.add_comment(&bob, &watched, "on watched").await;
        app.add_comment(&bob, &other, "on other").await;

        // Assert: every subscriber has its own article's comment, once.
        for client in on_watched.iter_mut().chain(on_other.iter_mut()) {
            let payload = client.data("s").await;
            assert_eq!(payload["data"]["commentAdded"]["author"]["username"], "bob", "{payload:#}");
        }
        for client in &mut on_watched[..] {
            let quiet = client.try_next(Duration::from_millis(100)).await;
            assert!(quiet.is_none(), "one event each: {quiet:?}");
        }
        let (executions_after, deliveries_after) = counters(&app).await;
        assert_eq!(
            executions_after - executions,
            2,
            "one execution per event and distinct subscription, not one per subscriber"
        );
        assert_eq!(deliveries_after - deliveries, 15);
    }
}

e2e! {
    async fn subscribers_with_other_variables_get_their_own_results(app) {
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let first = app.create_article(&jane, "First", &[]).await;
        let second = app.create_article(&jane, "Second", &[]).await;
        let mut a = [Client::ready(&app, TRANSPORT, None).await, Client::ready(&app, TRANSPORT, None).await];
        let mut b = [Client::ready(&app, TRANSPORT, None).await];
        subscribe_all(&mut a, COMMENT_ADDED, json!({ "slug": first })).await;
        subscribe_all(&mut b, COMMENT_ADDED, json!({ "slug": second })).await;

        app.add_comment(&bob, &second, "for b").await;
        app.add_comment(&bob, &first, "for a").await;

        for client in &mut a {
            assert_eq!(client.data("s").await["data"]["commentAdded"]["body"], "for a");
        }
        assert_eq!(b[0].data("s").await["data"]["commentAdded"]["body"], "for b");
        assert!(b[0].try_next(Duration::from_millis(200)).await.is_none(), "b hears only its own article");
    }
}

e2e! {
    async fn viewer_dependent_fields_are_never_shared_between_viewers(app) {
        // Arrange: carol follows bob and favorited the article, dave did
        // neither; bob himself sees his own email. Carol has two sockets
        // on one session, the rest of the viewers one each, anonymous two.
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let carol = app.sign_up("carol").await;
        let dave = app.sign_up("dave").await;
        let slug = app.create_article(&jane, "Watched", &[]).await;
        app.gql_ok(Some(&carol), "mutation { followUser(username: \"bob\") { id } }", json!({})).await;
        app.gql_ok(Some(&carol), "mutation($s: String!) { favoriteArticle(slug: $s) { id } }", json!({ "s": slug })).await;
        let mut carols = [Client::ready(&app, TRANSPORT, Some(&carol)).await, Client::ready(&app, LEGACY, Some(&carol)).await];
        let mut daves = [Client::ready(&app, TRANSPORT, Some(&dave)).await];
        let mut bobs = [Client::ready(&app, TRANSPORT, Some(&bob)).await];
        let mut anonymous = [Client::ready(&app, TRANSPORT, None).await, Client::ready(&app, TRANSPORT, None).await];
        let variables = json!({ "slug": slug });
        subscribe_all(&mut anonymous, VIEWER_DEPENDENT, variables.clone()).await;
        subscribe_all(&mut carols, VIEWER_DEPENDENT, variables.clone()).await;
        subscribe_all(&mut daves, VIEWER_DEPENDENT, variables.clone()).await;
        subscribe_all(&mut bobs, VIEWER_DEPENDENT, variables).await;
        let (executions, _) = counters(&app).await;

        // Act
        app.add_comment(&bob, &slug, "hello").await;

        // Assert: each viewer sees the event as it is for them.
        let seen = |payload: Value| {
            let added = &payload["data"]["commentAdded"];
            assert_eq!(added["body"], "hello", "{payload:#}");
            (
                added["author"]["email"].clone(),
                added["author"]["followedByViewer"].clone(),
                added["article"]["favoritedByViewer"].clone(),
            )
        };
        for client in &mut carols {
            assert_eq!(seen(client.data("s").await), (Value::Null, json!(true), json!(true)), "carol");
        }
        assert_eq!(seen(daves[0].data("s").await), (Value::Null, json!(false), json!(false)), "dave");
        assert_eq!(seen(bobs[0].data("s").await), (json!("bob@example.com"), json!(false), json!(false)), "bob");
        for client in &mut anonymous {
            assert_eq!(seen(client.data("s").await), (Value::Null, json!(false), json!(false)), "anonymous");
        }
        // One execution per viewer: carol's two sockets share hers, and
        // the two anonymous ones theirs.
        assert_eq!(app.metric(EXECUTIONS).await - executions, 4);
    }
}
