//! Live updates over WebSocket, with a real client speaking each subprotocol.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, http::HeaderValue};

use crate::helpers::TestApp;

pub(crate) const TRANSPORT: &str = "graphql-transport-ws";
const LEGACY: &str = "graphql-ws";

/// How long an event may take to arrive.
const DELIVERY: Duration = Duration::from_secs(1);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A GraphQL WebSocket client, as graphql-ws or subscriptions-transport-ws
/// would speak it.
pub(crate) struct Client {
    socket: Socket,
    protocol: &'static str,
}

impl Client {
    pub(crate) async fn connect(app: &TestApp, protocol: &'static str) -> Self {
        let mut request = format!("ws://{}/graphql", app.addr)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the upgrade succeeds");
        assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
        Self { socket, protocol }
    }

    /// Connects and completes `connection_init` with `token`.
    pub(crate) async fn ready(app: &TestApp, protocol: &'static str, token: Option<&str>) -> Self {
        let mut client = Self::connect(app, protocol).await;
        client.init(token).await;
        assert_eq!(client.next().await["type"], "connection_ack");
        client
    }

    pub(crate) async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }

    pub(crate) async fn init(&mut self, token: Option<&str>) {
        let payload = token.map_or(
            json!({}),
            |t| json!({ "authorization": format!("Bearer {t}") }),
        );
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
    }

    pub(crate) async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.protocol == TRANSPORT {
            "subscribe"
        } else {
            "start"
        };
        self.send(json!({ "type": kind, "id": id, "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The next protocol message that is not a keep-alive, within `DELIVERY`.
    pub(crate) async fn next(&mut self) -> Value {
        loop {
            let message = self.next_raw(DELIVERY).await;
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] != "ka" && value["type"] != "ping" {
                        return value;
                    }
                }
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => {}
            }
        }
    }

    /// The next non-keep-alive message within `within`, or `None`.
    pub(crate) async fn try_next(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()??
                .ok()?;
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(&text).ok()?;
                if value["type"] != "ka" && value["type"] != "ping" {
                    return Some(value);
                }
            }
        }
    }

    pub(crate) async fn next_raw(&mut self, within: Duration) -> Message {
        tokio::time::timeout(within, self.socket.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .expect("a valid frame")
    }

    /// The close code the server ends with.
    pub(crate) async fn close_code(&mut self, within: Duration) -> u16 {
        loop {
            match self.next_raw(within).await {
                Message::Close(Some(frame)) => return u16::from(frame.code),
                Message::Close(None) => return u16::from(CloseCode::Status),
                _ => {}
            }
        }
    }

    /// The payload of the next `next` (or legacy `data`) message for `id`.
    pub(crate) async fn data(&mut self, id: &str) -> Value {
        let message = self.next().await;
        let kind = if self.protocol == TRANSPORT {
            "next"
        } else {
            "data"
        };
        assert_eq!(message["type"], kind, "{message:#}");
        assert_eq!(message["id"], id);
        message["payload"].clone()
    }
}

async fn publish_article(app: &TestApp, token: &str, title: &str, tags: &[&str]) -> String {
    let data = app
        .gql_ok(
            Some(token),
            "mutation($input: CreateArticleInput!) { createArticle(input: $input) { slug } }",
            json!({ "input": { "title": title, "description": "d", "body": "b", "tags": tags } }),
        )
        .await;
    data["createArticle"]["slug"].as_str().unwrap().to_owned()
}

const COMMENT_ADDED: &str = "subscription($slug: String!) { commentAdded(articleSlug: $slug) { body author { username } article { title } } }";

async fn comments_arrive_live(app: TestApp, protocol: &'static str) {
    // Arrange
    let jane = app.sign_up("jane").await;
    let bob = app.sign_up("bob").await;
    let watched = publish_article(&app, &jane, "Watched", &[]).await;
    let other = publish_article(&app, &jane, "Other", &[]).await;
    let mut client = Client::ready(&app, protocol, None).await;
    client
        .subscribe("1", COMMENT_ADDED, json!({ "slug": watched }))
        .await;
    // The subscription is live once the server has read the message; a
    // query on the same socket is answered after it, which proves that.
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Act: a comment elsewhere, then one on the watched article.
    app.add_comment(&bob, &other, "not for you").await;
    app.add_comment(&bob, &watched, "First!").await;

    // Assert: only the watched article's comment, as a full object.
    let payload = client.data("1").await;
    assert_eq!(
        payload["data"]["commentAdded"]["body"], "First!",
        "{payload:#}"
    );
    assert_eq!(payload["data"]["commentAdded"]["author"]["username"], "bob");
    assert_eq!(
        payload["data"]["commentAdded"]["article"]["title"],
        "Watched"
    );
}

e2e! {
    async fn comments_arrive_over_graphql_transport_ws(app) {
        comments_arrive_live(app, TRANSPORT).await;
    }
}

e2e! {
    async fn comments_arrive_over_the_legacy_graphql_ws(app) {
        comments_arrive_live(app, LEGACY).await;
    }
}

e2e! {
    async fn article_published_filters_by_author_and_tag(app) {
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let mut client = Client::ready(&app, TRANSPORT, None).await;
        let query = "subscription($a: String, $t: String) { articlePublished(author: $a, tag: $t) { title tags author { username } } }";
        client.subscribe("by-jane", query, json!({ "a": "jane" })).await;
        client.subscribe("rust", query, json!({ "t": "Rust" })).await;
        client.subscribe("all", query, json!({})).await;
        tokio::time::sleep(Duration::from_millis(100)).await;

        publish_article(&app, &bob, "Bob on Rust", &["rust"]).await;
        publish_article(&app, &jane, "Jane on Go", &["go"]).await;

        let mut seen: Vec<(String, String)> = Vec::new();
        for _ in 0..4 {
            let message = client.next().await;
            assert_eq!(message["type"], "next", "{message:#}");
            seen.push((
                message["id"].as_str().unwrap().to_owned(),
                message["payload"]["data"]["articlePublished"]["title"].as_str().unwrap().to_owned(),
            ));
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                ("all".to_owned(), "Bob on Rust".to_owned()),
                ("all".to_owned(), "Jane on Go".to_owned()),
                ("by-jane".to_owned(), "Jane on Go".to_owned()),
                ("rust".to_owned(), "Bob on Rust".to_owned()),
            ]
        );
    }
}

e2e! {
    async fn subscribing_to_a_missing_article_is_an_error(app) {
        let mut client = Client::ready(&app, TRANSPORT, None).await;

        client.subscribe("1", COMMENT_ADDED, json!({ "slug": "no-such-article" })).await;

        let message = client.next().await;
        assert_eq!(message["type"], "error", "{message:#}");
        assert_eq!(message["payload"][0]["extensions"]["code"], "NOT_FOUND");
    }
}

e2e! {
    // `strings.rs` walks queries and mutations; subscriptions look their
    // arguments up the same way, and a U+0000 in one (which PostgreSQL
    // cannot even compare) names nothing on either backend.
    async fn subscribing_by_a_key_holding_nul_is_not_found(app) {
        let mut client = Client::ready(&app, TRANSPORT, None).await;
        let article_published = "subscription($a: String) { articlePublished(author: $a) { title } }";

        client.subscribe("1", COMMENT_ADDED, json!({ "slug": "a\u{0}b" })).await;
        client.subscribe("2", article_published, json!({ "a": "a\u{0}b" })).await;

        for _ in 0..2 {
            let message = client.next().await;
            assert_eq!(message["type"], "error", "{message:#}");
            assert_eq!(message["payload"][0]["extensions"]["code"], "NOT_FOUND", "{message:#}");
        }
    }
}

e2e! {
    async fn a_bad_token_closes_the_socket_with_4403(app) {
        for protocol in [TRANSPORT, LEGACY] {
            let mut client = Client::connect(&app, protocol).await;
            client.init(Some("not-a-token")).await;
            assert_eq!(client.close_code(DELIVERY).await, 4403, "{protocol}");
        }
    }
}

e2e! {
    async fn a_valid_token_makes_the_connection_the_viewers(app) {
        let jane = app.sign_up("jane").await;
        let mut client = Client::ready(&app, TRANSPORT, Some(&jane)).await;

        client.subscribe("q", "{ viewer { username } }", json!({})).await;

        let payload = client.data("q").await;
        assert_eq!(payload["data"]["viewer"]["username"], "jane");
        assert_eq!(client.next().await["type"], "complete");
    }
}

e2e! {
    with ["--ws-init-timeout-secs", "1"];
    async fn a_client_that_never_initialises_is_closed_with_4408(app) {
        let mut client = Client::connect(&app, TRANSPORT).await;
        assert_eq!(client.close_code(Duration::from_secs(3)).await, 4408);
    }
}

e2e! {
    async fn subscribing_before_initialising_closes_with_4401(app) {
        let mut client = Client::connect(&app, TRANSPORT).await;
        client.subscribe("1", COMMENT_ADDED, json!({ "slug": "x" })).await;
        assert_eq!(client.close_code(DELIVERY).await, 4401);
    }
}

e2e! {
    with ["--ws-max-subscriptions", "2"];
    async fn subscriptions_per_connection_are_limited(app) {
        let jane = app.sign_up("jane").await;
        let slug = publish_article(&app, &jane, "Watched", &[]).await;
        let mut client = Client::ready(&app, TRANSPORT, None).await;

        for id in ["1", "2", "3"] {
            client.subscribe(id, COMMENT_ADDED, json!({ "slug": slug })).await;
        }

        let refused = client.next().await;
        assert_eq!(refused["type"], "error");
        assert_eq!(refused["id"], "3");
        assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    }
}

e2e! {
    with ["--ws-keepalive-secs", "1"];
    async fn idle_connections_get_keep_alive_pings(app) {
        for (protocol, kind) in [(TRANSPORT, "ping"), (LEGACY, "ka")] {
            let mut client = Client::ready(&app, protocol, None).await;
            let message = client.next_raw(Duration::from_secs(3)).await;
            let value: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
            assert_eq!(value["type"], kind, "{protocol}");
        }
    }
}

e2e! {
    async fn completing_a_subscription_stops_its_events(app) {
        let jane = app.sign_up("jane").await;
        let slug = publish_article(&app, &jane, "Watched", &[]).await;
        let mut client = Client::ready(&app, TRANSPORT, None).await;
        client.subscribe("gone", COMMENT_ADDED, json!({ "slug": slug })).await;
        client.subscribe("kept", COMMENT_ADDED, json!({ "slug": slug })).await;
        tokio::time::sleep(Duration::from_millis(100)).await;

        client.send(json!({ "type": "complete", "id": "gone" })).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.add_comment(&jane, &slug, "hello").await;

        let message = client.next().await;
        assert_eq!(message["id"], "kept", "{message:#}");
        let quiet = client.try_next(Duration::from_millis(300)).await;
        assert!(quiet.is_none(), "no event for the completed subscription: {quiet:?}");
    }
}

#[tokio::test]
async fn an_event_written_through_one_instance_reaches_a_subscriber_on_another() {
    let Some(first) = TestApp::spawn_postgres_with(&[]).await else {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    let second = first.another_instance().await;
    let jane = first.sign_up("jane").await;
    let slug = publish_article(&first, &jane, "Across instances", &[]).await;
    let mut client = Client::ready(&first, TRANSPORT, None).await;
    client
        .subscribe("1", COMMENT_ADDED, json!({ "slug": slug }))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Written through the second instance, which the subscriber never saw.
    second
        .add_comment(&jane, &slug, "via the other instance")
        .await;

    let payload = client.data("1").await;
    assert_eq!(
        payload["data"]["commentAdded"]["body"],
        "via the other instance"
    );
    drop(second);
}

e2e! {
    async fn notifications_arrive_live_to_their_recipient_alone(app) {
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let carol = app.sign_up("carol").await;
        let query = "subscription { notificationReceived { kind actor { username } } }";
        let mut for_jane = Client::ready(&app, TRANSPORT, Some(&jane)).await;
        for_jane.subscribe("1", query, json!({})).await;
        let mut for_carol = Client::ready(&app, LEGACY, Some(&carol)).await;
        for_carol.subscribe("1", query, json!({})).await;
        tokio::time::sleep(Duration::from_millis(100)).await;

        app.gql_ok(Some(&bob), "mutation { followUser(username: \"jane\") { id } }", json!({})).await;

        let payload = for_jane.data("1").await;
        assert_eq!(payload["data"]["notificationReceived"]["kind"], "NEW_FOLLOWER", "{payload:#}");
        assert_eq!(payload["data"]["notificationReceived"]["actor"]["username"], "bob");
        let quiet = for_carol.try_next(Duration::from_millis(500)).await;
        assert!(quiet.is_none(), "carol hears nothing of jane's: {quiet:?}");
    }
}

e2e! {
    async fn notification_received_needs_a_signed_in_caller(app) {
        let mut client = Client::ready(&app, TRANSPORT, None).await;
        client
            .subscribe("1", "subscription { notificationReceived { kind } }", json!({}))
            .await;
        let message = client.next().await;
        assert_eq!(message["type"], "error", "{message:#}");
        assert_eq!(message["payload"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn a_lost_listen_connection_is_reestablished() {
    let Some(app) = TestApp::spawn_postgres_with(&[]).await else {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    let jane = app.sign_up("jane").await;
    let slug = publish_article(&app, &jane, "Still listening", &[]).await;
    let mut client = Client::ready(&app, TRANSPORT, None).await;
    client
        .subscribe("1", COMMENT_ADDED, json!({ "slug": slug }))
        .await;

    // Act: PostgreSQL drops the instance's LISTEN connection.
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    use sea_orm::ConnectionTrait as _;
    let killed = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        ))
        .await
        .unwrap();
    assert_eq!(killed.len(), 1, "one listening connection per instance");

    // Assert: events flow again once it is back (what was notified in the
    // gap itself is lost, and the log says so).
    let mut delivered = false;
    for attempt in 0..10 {
        app.add_comment(&jane, &slug, &format!("after the drop {attempt}"))
            .await;
        if let Some(message) = client.try_next(DELIVERY).await {
            assert_eq!(message["type"], "next", "{message:#}");
            delivered = true;
            break;
        }
    }
    assert!(
        delivered,
        "no event arrived after the LISTEN connection came back"
    );
}
