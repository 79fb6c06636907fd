//! Webhooks end to end: real receivers (axum servers on 127.0.0.1, scripted
//! per path), the real server delivering to them, both databases. Checks
//! the Standard Webhooks signature by the algorithm, the body, the retries
//! (same `webhook-id` on each), 410, Retry-After, timeouts, the delivery
//! log over GraphQL, ownership and privacy, the address rule, a slow
//! receiver beside a fast one, and a `kill -9` with deliveries in flight.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit as _, Mac as _};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, error_fields};

/// Flags every webhook test server gets: receivers are on loopback, and
/// retries come quickly.
pub(crate) const FAST: [&str; 8] = [
    "--webhook-allow-private-networks",
    "--webhook-retry-ms",
    "100",
    "--webhook-timeout-ms",
    "1000",
    "--worker-poll-ms",
    "50",
    "--webhook-max-attempts=4",
];

/// One request a receiver got.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: String,
    pub(crate) at: Instant,
}

/// A real HTTP server that answers by path:
/// `/ok` 200; `/flaky` 500 twice, then 200; `/busy` 429 with
/// `Retry-After: 1` once, then 200; `/gone` 410; `/hang` never within the
/// timeout; `/slow` 200 after 2 s; `/hold` waits until `release`, then 200.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    log: Arc<Mutex<Vec<Received>>>,
    released: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Self {
            addr: listener.local_addr().unwrap(),
            log: Arc::default(),
            released: Arc::new(tokio::sync::watch::channel(false).0),
        };
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn received(&self, path: &str) -> Vec<Received> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    pub(crate) fn release(&self) {
        self.released.send_replace(true);
    }

    /// Waits (up to `within`) until `path` got `n` requests; answers them.
    pub(crate) async fn wait_for(&self, path: &str, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received(path);
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn answer(
    State(receiver): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let path = uri.path().to_owned();
    let seen = {
        let mut log = receiver.log.lock().unwrap();
        log.push(Received {
            path: path.clone(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body,
            at: Instant::now(),
        });
        log.iter().filter(|r| r.path == path).count()
    };
    match path.as_str() {
        "/flaky" if seen <= 2 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        "/busy" if seen == 1 => {
            (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response()
        }
        "/gone" => StatusCode::GONE.into_response(),
        "/hang" => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::OK.into_response()
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            StatusCode::OK.into_response()
        }
        "/hold" => {
            let mut released = receiver.released.subscribe();
            let _ = released.wait_for(|r| *r).await;
            StatusCode::OK.into_response()
        }
        _ => StatusCode::OK.into_response(),
    }
}

/// A port that accepts a connection, reads the request and closes it
/// without answering.
async fn closing_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await;
            drop(socket);
        }
    });
    addr
}

/// Verifies a delivery as the Standard Webhooks specification says, written
/// here from the specification (not the server's code): HMAC-SHA256 over
/// `{id}.{timestamp}.{body}` keyed by the base64 part of the secret, sent
/// as one of the space-separated `v1,<base64>` signatures, with a timestamp
/// within five minutes.
pub(crate) fn verify(secret: &str, received: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64");
    let (Some(id), Some(timestamp), Some(signatures)) = (
        received.headers.get("webhook-id"),
        received.headers.get("webhook-timestamp"),
        received.headers.get("webhook-signature"),
    ) else {
        return false;
    };
    let Ok(seconds) = timestamp.parse::<i64>() else {
        return false;
    };
    if (chrono::Utc::now().timestamp() - seconds).abs() > 300 {
        return false;
    }
    let mut mac = hmac::Hmac::<sha2_hmac::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{}", received.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    signatures.split(' ').any(|s| s == expected)
}

const CREATE: &str = "mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { secret webhook { id url events active createdAt } } }";

const LOG: &str = "query { viewer { webhooks { id active deliveries(first: 10) { totalCount nodes { id messageId event status attempts lastResponseStatus nextAttemptAt payload createdAt } } } } }";

/// Creates a webhook for `token`'s user; answers (id, secret).
pub(crate) async fn create_webhook(
    app: &TestApp,
    token: &str,
    url: &str,
    events: &[&str],
) -> (String, String) {
    let data = app
        .gql_ok(
            Some(token),
            CREATE,
            json!({ "input": { "url": url, "events": events } }),
        )
        .await;
    let created = &data["createWebhook"];
    (
        created["webhook"]["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// `token`'s user's first webhook's deliveries, newest first.
async fn delivery_log(app: &TestApp, token: &str) -> Vec<Value> {
    let data = app.gql_ok(Some(token), LOG, json!({})).await;
    data["viewer"]["webhooks"][0]["deliveries"]["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until `token`'s first webhook has `n` deliveries, none PENDING.
pub(crate) async fn settled_log(app: &TestApp, token: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = delivery_log(app, token).await;
        if (log.len() >= n && log.iter().all(|d| d["status"] != "PENDING"))
            || Instant::now() > deadline
        {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

e2e! { with [FAST[0], FAST[1], FAST[2], FAST[3], FAST[4], FAST[5], FAST[6], FAST[7]];
    /// A favorite reaches the author's webhook: a signed POST whose body
    /// is the contract's, logged over GraphQL exactly as sent.
    async fn a_delivery_is_signed_and_logged_as_standard_webhooks_says(app) {
        // Arrange
        let receiver = Receiver::start().await;
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let slug = app.create_article(&jane, "Hooked", &[]).await;
        let (webhook_id, secret) =
            create_webhook(&app, &jane, &receiver.url("/ok"), &["ARTICLE_FAVORITED"]).await;
        assert!(secret.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&secret[6..]).unwrap().len(), 32);

        // Act
        app.favorite(&bob, &slug).await;

        // Assert: the request
        let got = receiver.wait_for("/ok", 1, Duration::from_secs(20)).await;
        assert_eq!(got.len(), 1, "one delivery");
        let delivery = &got[0];
        assert_eq!(delivery.headers["content-type"], "application/json");
        assert!(verify(&secret, delivery), "the signature verifies: {delivery:?}");
        let mut tampered = delivery.clone();
        tampered.body.push(' ');
        assert!(!verify(&secret, &tampered), "a changed body does not");
        let body: Value = serde_json::from_str(&delivery.body).unwrap();
        assert_eq!(body["type"], "article.favorited");
        assert_eq!(body["data"]["article"]["id"], app.article_id(&slug).await.as_str());
        assert_eq!(body["data"]["article"]["slug"], slug.as_str());
        assert_eq!(body["data"]["user"]["username"], "bob");
        chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).unwrap();

        // Assert: the log
        let log = settled_log(&app, &jane, 1).await;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0]["status"], "SUCCEEDED");
        assert_eq!(log[0]["attempts"], 1);
        assert_eq!(log[0]["lastResponseStatus"], 200);
        assert_eq!(log[0]["nextAttemptAt"], Value::Null);
        assert_eq!(log[0]["event"], "ARTICLE_FAVORITED");
        assert_eq!(log[0]["payload"], delivery.body.as_str());
        assert_eq!(log[0]["messageId"], delivery.headers["webhook-id"].as_str());
        // The secret is shown once: no field of the webhook carries it.
        let again = app.gql_ok(Some(&jane), "{ viewer { webhooks { id url } } }", json!({})).await;
        assert_eq!(again["viewer"]["webhooks"][0]["id"], webhook_id.as_str());
        assert!(!again.to_string().contains(&secret[6..]));
        let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("conduit_webhook_attempts_total{outcome=\"succeeded\"} 1"), "{metrics}");
        assert!(metrics.contains("conduit_webhook_attempt_seconds_count 1"));
    }
}

e2e! { with [FAST[0], FAST[1], FAST[2], FAST[3], FAST[4], FAST[5], FAST[6], FAST[7]];
    /// Each event goes to the webhooks of the user it is about that listen
    /// to it, and to no one else; a paused webhook gets nothing, and
    /// nobody hears of their own action.
    async fn each_event_reaches_the_webhooks_that_listen_to_it(app) {
        // Arrange
        let receiver = Receiver::start().await;
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let all = ["ARTICLE_PUBLISHED", "COMMENT_ADDED", "ARTICLE_FAVORITED", "USER_FOLLOWED"];
        create_webhook(&app, &jane, &receiver.url("/jane"), &all).await;
        create_webhook(&app, &jane, &receiver.url("/jane-follows"), &["USER_FOLLOWED"]).await;
        let (paused, _) = create_webhook(&app, &jane, &receiver.url("/paused"), &all).await;
        create_webhook(&app, &bob, &receiver.url("/bob"), &["ARTICLE_PUBLISHED"]).await;
        let data = app
            .gql_ok(
                Some(&jane),
                "mutation($id: ID!) { updateWebhook(id: $id, input: { active: false }) { active } }",
                json!({ "id": paused }),
            )
            .await;
        assert_eq!(data["updateWebhook"]["active"], false);

        // Act
        let slug = app.create_article(&jane, "Events", &[]).await;
        app.follow(&bob, "jane").await;
        let comment_id = app.add_comment(&bob, &slug, "Nice one").await;
        app.favorite(&bob, &slug).await;
        // Her own comment and favorite tell her webhooks nothing.
        app.add_comment(&jane, &slug, "Thanks").await;
        app.favorite(&jane, &slug).await;

        // Assert
        let got = receiver.wait_for("/jane", 4, Duration::from_secs(20)).await;
        let bodies: HashMap<String, Value> = got
            .iter()
            .map(|r| {
                let body: Value = serde_json::from_str(&r.body).unwrap();
                (body["type"].as_str().unwrap().to_owned(), body["data"].clone())
            })
            .collect();
        let article_id = app.article_id(&slug).await;
        assert_eq!(bodies.len(), 4, "{got:#?}");
        assert_eq!(
            bodies["article.published"],
            json!({ "article": { "id": article_id, "slug": slug, "title": "Events", "author": { "username": "jane" } } })
        );
        assert_eq!(
            bodies["comment.added"],
            json!({ "comment": { "id": comment_id, "body": "Nice one", "author": { "username": "bob" } }, "article": { "id": article_id, "slug": slug } })
        );
        assert_eq!(
            bodies["article.favorited"],
            json!({ "article": { "id": article_id, "slug": slug }, "user": { "username": "bob" } })
        );
        assert_eq!(bodies["user.followed"], json!({ "follower": { "username": "bob" } }));
        assert_eq!(receiver.wait_for("/jane-follows", 1, Duration::from_secs(5)).await.len(), 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(receiver.received("/jane").len(), 4, "nothing of her own actions");
        assert_eq!(receiver.received("/jane-follows").len(), 1);
        assert!(receiver.received("/paused").is_empty());
        assert!(receiver.received("/bob").is_empty(), "jane's article is not bob's event");
    }
}

e2e! { with [FAST[0], FAST[1], FAST[2], FAST[3], FAST[4], FAST[5], FAST[6], FAST[7]];
    /// 500 twice then 200: three attempts, one message id, each signed.
    async fn failed_attempts_are_retried_with_the_same_message_id(app) {
        let receiver = Receiver::start().await;
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let (_, secret) = create_webhook(&app, &jane, &receiver.url("/flaky"), &["USER_FOLLOWED"]).await;

        app.follow(&bob, "jane").await;

        let got = receiver.wait_for("/flaky", 3, Duration::from_secs(20)).await;
        assert_eq!(got.len(), 3);
        let id = &got[0].headers["webhook-id"];
        assert!(got.iter().all(|r| &r.headers["webhook-id"] == id), "{got:#?}");
        assert!(got.iter().all(|r| r.body == got[0].body));
        assert!(got.iter().all(|r| verify(&secret, r)));
        // Backoff: the second retry waits longer than the first (100 ms
        // doubling, jittered down by at most half).
        assert!(got[1].at - got[0].at >= Duration::from_millis(50));
        assert!(got[2].at - got[1].at >= Duration::from_millis(100));
        let log = settled_log(&app, &jane, 1).await;
        assert_eq!(log[0]["status"], "SUCCEEDED");
        assert_eq!(log[0]["attempts"], 3);
        assert_eq!(log[0]["lastResponseStatus"], 200);
        assert_eq!(log[0]["messageId"], id.as_str());
    }
}

e2e! { with [FAST[0], FAST[1], FAST[2], FAST[3], FAST[4], FAST[5], FAST[6], FAST[7]];
    /// 429 with Retry-After: 1 waits a second, though the backoff is 100 ms.
    async fn retry_after_is_honoured(app) {
        let receiver = Receiver::start().await;
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        create_webhook(&app, &jane, &receiver.url("/busy"), &["USER_FOLLOWED"]).await;

        app.follow(&bob, "jane").await;

        let got = receiver.wait_for("/busy", 2, Duration::from_secs(20)).await;
        assert_eq!(got.len(), 2);
        assert!(got[1].at - got[0].at >= Duration::from_millis(950), "{:?}", got[1].at - got[0].at);
        let log = settled_log(&app, &jane, 1).await;
        assert_eq!(log[0]["status"], "SUCCEEDED");
        assert_eq!(log[0]["attempts"], 2);
    }
}

e2e! { with [FAST[0], FAST[1], FAST[2], FAST[3], FAST[4], FAST[5], FAST[6], FAST[7]];
    /// 410 Gone: FAILED at once, and the webhook is disabled, so the next
    /// event is not queued for it.
    async fn gone_fails_at_once_and_disables_the_webhook(app) {
        let receiver = Receiver::start().await;
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let carol = app.sign_up("carol").await;
        create_webhook(&app, &jane, &receiver.url("/gone"), &["USER_FOLLOWED"]).await;

        app.follow(&bob, "jane").await;
        let log = settled_log(&app, &jane, 1).await;
        app.follow(&carol, "jane").await;

        assert_eq!(log[0]["status"], "FAILED");
        assert_eq!(log[0]["attempts"], 1);
        assert_eq!(log[0]["lastResponseStatus"], 410);
        assert_eq!(log[0]["nextAttemptAt"], Value::Null);
        let data = app.gql_ok(Some(&jane), "{ viewer { webhooks { active } } }", json!({})).await;
        assert_eq!(data["viewer"]["webhooks"][0]["active"], false);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(receiver.received("/gone").len(), 1);
        assert_eq!(delivery_log(&app, &jane).await.len(), 1, "no delivery for a disabled webhook");
        // Switched on again, it starts afresh.
        let data = app
            .gql_ok(
                Some(&jane),
                "mutation($id: ID!) { updateWebhook(id: $id, input: { active: true }) { active } }",
                json!({ "id": app.gql_ok(Some(&jane), "{ viewer { webhooks { id } } }", json!({})).await["viewer"]["webhooks"][0]["id"] }),
            )
            .await;
        assert_eq!(data["updateWebhook"]["active"], true);
    }
}

e2e! { with [FAST[0], FAST[1], FAST[2], FAST[3], FAST[4], FAST[5], FAST[6], FAST[7]];
    /// An endpoint that never answers within the timeout, or closes the
    /// connection, or refuses it: every attempt is recorded with no status,
    /// and after the fourth (`--webhook-max-attempts=4`) it is FAILED.
    async fn no_answer_is_retried_until_the_attempts_run_out(app) {
        let receiver = Receiver::start().await;
        let closing = closing_port().await;
        let refusing = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let carol = app.sign_up("carol").await;
        let dave = app.sign_up("dave").await;
        create_webhook(&app, &jane, &receiver.url("/hang"), &["USER_FOLLOWED"]).await;
        create_webhook(&app, &bob, &format!("http://{closing}/close"), &["USER_FOLLOWED"]).await;
        create_webhook(&app, &carol, &format!("http://{refusing}/refused"), &["USER_FOLLOWED"]).await;

        app.follow(&dave, "jane").await;
        app.follow(&dave, "bob").await;
        app.follow(&dave, "carol").await;

        for token in [&jane, &bob, &carol] {
            let log = settled_log(&app, token, 1).await;
            assert_eq!(log[0]["status"], "FAILED", "{log:#?}");
            assert_eq!(log[0]["attempts"], 4);
            assert_eq!(log[0]["lastResponseStatus"], Value::Null);
        }
        assert_eq!(receiver.received("/hang").len(), 4);
        let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("conduit_webhook_attempts_total{outcome=\"failed\"} 3"), "{metrics}");
        assert!(metrics.contains("conduit_webhook_attempts_total{outcome=\"retrying\"} 9"), "{metrics}");
    }
}

e2e! { with [FAST[0], FAST[1], FAST[2], FAST[3], FAST[4], FAST[5], FAST[6], FAST[7]];
    /// redeliverWebhook queues the delivery again: a new PENDING series
    /// with the same message id, delivered again.
    async fn a_redelivery_keeps_its_message_id(app) {
        let receiver = Receiver::start().await;
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        create_webhook(&app, &jane, &receiver.url("/ok"), &["USER_FOLLOWED"]).await;
        app.follow(&bob, "jane").await;
        let log = settled_log(&app, &jane, 1).await;
        let first = &log[0];

        let data = app
            .gql_ok(
                Some(&jane),
                "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id messageId status attempts lastResponseStatus nextAttemptAt payload } }",
                json!({ "id": first["id"] }),
            )
            .await;

        let again = &data["redeliverWebhook"];
        assert_eq!(again["id"], first["id"]);
        assert_eq!(again["messageId"], first["messageId"]);
        assert_eq!(again["status"], "PENDING");
        assert_eq!(again["attempts"], 0);
        assert_eq!(again["lastResponseStatus"], Value::Null);
        assert!(again["nextAttemptAt"].is_string());
        assert_eq!(again["payload"], first["payload"]);
        let got = receiver.wait_for("/ok", 2, Duration::from_secs(20)).await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
        assert_eq!(got[0].body, got[1].body);
        let log = settled_log(&app, &jane, 1).await;
        assert_eq!(log[0]["status"], "SUCCEEDED");
        assert_eq!(log[0]["attempts"], 1);
    }
}

e2e! { with [FAST[0], FAST[1], FAST[2], FAST[3], FAST[4], FAST[5], FAST[6], FAST[7]];
    /// Only the owner sees or touches a webhook and its deliveries.
    async fn only_the_owner_sees_or_changes_a_webhook(app) {
        // Arrange
        let receiver = Receiver::start().await;
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let (webhook_id, _) = create_webhook(&app, &jane, &receiver.url("/ok"), &["USER_FOLLOWED"]).await;
        app.follow(&bob, "jane").await;
        let log = settled_log(&app, &jane, 1).await;
        let delivery_id = log[0]["id"].as_str().unwrap().to_owned();
        let update = "mutation($id: ID!) { updateWebhook(id: $id, input: { active: false }) { id } }";
        let delete = "mutation($id: ID!) { deleteWebhook(id: $id) }";
        let redeliver = "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id } }";
        let node = "query($id: ID!) { node(id: $id) { id ... on Webhook { url } ... on WebhookDelivery { payload } } }";

        // Act + Assert: someone else
        for (query, id) in [(update, &webhook_id), (delete, &webhook_id), (redeliver, &delivery_id)] {
            let response = app.gql(Some(&bob), query, json!({ "id": id })).await;
            assert_eq!(error_code(&response), "FORBIDDEN", "{query}: {response:#}");
            let response = app.gql(None, query, json!({ "id": id })).await;
            assert_eq!(error_code(&response), "UNAUTHENTICATED", "{query}: {response:#}");
        }
        let create = app
            .gql(None, CREATE, json!({ "input": { "url": receiver.url("/ok"), "events": ["USER_FOLLOWED"] } }))
            .await;
        assert_eq!(error_code(&create), "UNAUTHENTICATED");
        for id in [&webhook_id, &delivery_id] {
            for token in [Some(bob.as_str()), None] {
                let data = app.gql_ok(token, node, json!({ "id": id })).await;
                assert_eq!(data["node"], Value::Null, "node({id}) for {token:?}");
            }
            let data = app.gql_ok(Some(&jane), node, json!({ "id": id })).await;
            assert_eq!(data["node"]["id"], id.as_str());
        }
        let lists = "query { user(username: \"jane\") { webhooks { id } } }";
        for token in [Some(bob.as_str()), None] {
            let data = app.gql_ok(token, lists, json!({})).await;
            assert_eq!(data["user"]["webhooks"], json!([]));
        }
        let data = app.gql_ok(Some(&jane), lists, json!({})).await;
        assert_eq!(data["user"]["webhooks"][0]["id"], webhook_id.as_str());

        // What does not exist is NOT_FOUND; a bad id is BAD_USER_INPUT.
        let missing = json!({ "id": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("Webhook:999999") });
        for query in [update, delete] {
            let response = app.gql(Some(&jane), query, missing.clone()).await;
            assert_eq!(error_code(&response), "NOT_FOUND", "{response:#}");
        }
        let response = app.gql(Some(&jane), redeliver, json!({ "id": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("WebhookDelivery:999999") })).await;
        assert_eq!(error_code(&response), "NOT_FOUND");
        let response = app.gql(Some(&jane), delete, json!({ "id": "nonsense" })).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT");

        // Nothing changed; the owner deletes it, and its log goes with it.
        let data = app.gql_ok(Some(&jane), LOG, json!({})).await;
        assert_eq!(data["viewer"]["webhooks"][0]["active"], true);
        let data = app.gql_ok(Some(&jane), delete, json!({ "id": webhook_id })).await;
        assert_eq!(data["deleteWebhook"], webhook_id.as_str());
        let data = app.gql_ok(Some(&jane), node, json!({ "id": delivery_id })).await;
        assert_eq!(data["node"], Value::Null);
    }
}

e2e! { with [FAST[0], FAST[1], FAST[2], FAST[3], FAST[4], FAST[5], FAST[6], FAST[7]];
    /// What a URL must be, on createWebhook and updateWebhook alike.
    async fn bad_urls_and_events_are_refused(app) {
        let jane = app.sign_up("jane").await;
        let long = format!("https://example.com/{}", "a".repeat(2_000));
        for url in ["", "not a url", "/relative", "ftp://example.com/", "https://user:secret@example.com/", long.as_str()] {
            let response = app.gql(Some(&jane), CREATE, json!({ "input": { "url": url, "events": ["USER_FOLLOWED"] } })).await;
            assert_eq!(error_code(&response), "BAD_USER_INPUT", "{url}: {response:#}");
            assert!(error_fields(&response)["url"].is_array(), "{response:#}");
        }
        let response = app.gql(Some(&jane), CREATE, json!({ "input": { "url": "http://127.0.0.1:9/", "events": [] } })).await;
        assert!(error_fields(&response)["events"].is_array(), "{response:#}");
        let (id, _) = create_webhook(&app, &jane, "http://127.0.0.1:9/", &["USER_FOLLOWED"]).await;
        let response = app
            .gql(Some(&jane), "mutation($id: ID!) { updateWebhook(id: $id, input: { url: \"https://u:p@example.com/\" }) { url } }", json!({ "id": id }))
            .await;
        assert!(error_fields(&response)["url"].is_array(), "{response:#}");
        let data = app.gql_ok(Some(&jane), "{ viewer { webhooks { url events } } }", json!({})).await;
        assert_eq!(data["viewer"]["webhooks"][0]["url"], "http://127.0.0.1:9/", "a failed mutation changes nothing");
    }
}

e2e! {
    /// Without --webhook-allow-private-networks, a URL whose host is or
    /// resolves to a loopback, private, link-local or metadata address is
    /// refused, and so is plain http.
    async fn private_addresses_are_refused_without_the_setting(app) {
        let jane = app.sign_up("jane").await;
        for url in [
            "https://127.0.0.1/hook",
            "https://10.0.0.1/hook",
            "https://[::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fd00:ec2::254]/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://localhost/hook",
            "https://localhost./hook",
            "https://2130706433/",
            "http://93.184.216.34/",
        ] {
            let response = app.gql(Some(&jane), CREATE, json!({ "input": { "url": url, "events": ["USER_FOLLOWED"] } })).await;
            assert_eq!(error_code(&response), "BAD_USER_INPUT", "{url}: {response:#}");
            assert!(error_fields(&response)["url"].is_array(), "{url}: {response:#}");
        }
        let data = app.gql_ok(Some(&jane), "{ viewer { webhooks { id } } }", json!({})).await;
        assert_eq!(data["viewer"]["webhooks"], json!([]));
    }
}

e2e! { with ["--webhook-retry-ms", "100", "--worker-poll-ms", "50", "--webhook-max-attempts=2"];
    /// The address rule holds at delivery too: a webhook whose URL (as its
    /// DNS might have changed to) is loopback is not connected to; the
    /// attempt fails and is recorded.
    async fn deliveries_to_private_addresses_are_refused_when_they_connect(app) {
        let receiver = Receiver::start().await;
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        // Arrange: a webhook whose URL passed the check once, now loopback
        // (written past the API, as a DNS change would make it).
        let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
        let jane_id: i64 = sea_orm::ConnectionTrait::query_one_raw(
            &db,
            sea_orm::Statement::from_string(db.get_database_backend(), "SELECT id FROM users WHERE username = 'jane'"),
        )
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
        for url in [receiver.url("/ok"), format!("https://localhost:{}/ok", receiver.addr.port())] {
            sea_orm::ConnectionTrait::execute_raw(
                &db,
                sea_orm::Statement::from_sql_and_values(
                    db.get_database_backend(),
                    if app.is_postgres() {
                        "INSERT INTO webhooks (owner_id, url, secret, events, active, consecutive_failures, created_at, updated_at) VALUES ($1, $2, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'USER_FOLLOWED', TRUE, 0, NOW(), NOW())"
                    } else {
                        "INSERT INTO webhooks (owner_id, url, secret, events, active, consecutive_failures, created_at, updated_at) VALUES (?, ?, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'USER_FOLLOWED', 1, 0, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))"
                    },
                    [jane_id.into(), url.into()],
                ),
            )
            .await
            .unwrap();
        }

        // Act
        app.follow(&bob, "jane").await;

        // Assert
        let data = loop {
            let data = app.gql_ok(Some(&jane), "{ viewer { webhooks { deliveries { nodes { status attempts lastResponseStatus } } } } }", json!({})).await;
            let done = data["viewer"]["webhooks"].as_array().unwrap().iter().all(|w| w["deliveries"]["nodes"][0]["status"] == "FAILED");
            if done { break data; }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for webhook in data["viewer"]["webhooks"].as_array().unwrap() {
            let delivery = &webhook["deliveries"]["nodes"][0];
            assert_eq!(delivery["attempts"], 2);
            assert_eq!(delivery["lastResponseStatus"], Value::Null);
        }
        assert!(receiver.received("/ok").is_empty(), "nothing reached the loopback receiver");
        db.close().await.unwrap();
    }
}

e2e! { with [FAST[0], FAST[1], FAST[2], "--webhook-timeout-ms", "5000", FAST[5], FAST[6], FAST[7], "--webhook-per-endpoint-concurrency", "2"];
    /// A receiver that takes 2 s a request, with ten deliveries queued
    /// ahead, does not hold back a fast receiver's deliveries, nor the
    /// notifications the same events cause.
    async fn a_slow_receiver_does_not_delay_a_fast_one(app) {
        // Arrange
        let receiver = Receiver::start().await;
        let slow = app.sign_up("slow").await;
        let fast = app.sign_up("fast").await;
        create_webhook(&app, &slow, &receiver.url("/slow"), &["USER_FOLLOWED"]).await;
        create_webhook(&app, &fast, &receiver.url("/fast"), &["USER_FOLLOWED"]).await;
        let mut fans = Vec::new();
        for i in 0..10 {
            fans.push(app.sign_up(&format!("fan{i}")).await);
        }

        // Act: ten follows of the slow one first, then ten of the fast one.
        for fan in &fans {
            app.follow(fan, "slow").await;
        }
        let started = Instant::now();
        for fan in &fans {
            app.follow(fan, "fast").await;
        }

        // Assert: the fast one has all ten long before the slow one could
        // have answered its ten (2 at a time, 2 s each: 10 s).
        let got = receiver.wait_for("/fast", 10, Duration::from_secs(20)).await;
        let took = started.elapsed();
        assert_eq!(got.len(), 10);
        assert!(took < Duration::from_secs(4), "the fast receiver waited {took:?}");
        assert!(receiver.received("/slow").len() < 10);
        let data = app.gql_ok(Some(&fast), "{ notifications { totalCount } }", json!({})).await;
        assert_eq!(data["notifications"]["totalCount"], 10, "notifications kept flowing");
        // The backlog shows on /readyz while the slow one works through it.
        let ready: Value = app.http.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
        assert!(ready["webhooks"]["pending"].as_i64().unwrap() > 0, "{ready:#}");
    }
}

/// `kill -9` with deliveries in flight and queued: after a restart, every
/// one of them arrives (at least once), and the log says SUCCEEDED.
async fn deliveries_survive_a_sigkill(postgres: bool) {
    use crate::process::{Data, Server};
    let Some((_data, url)) = Data::fresh(postgres).await else {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    let receiver = Receiver::start().await;
    let flags = [
        "--webhook-allow-private-networks",
        "--webhook-retry-ms=100",
        "--webhook-timeout-ms=1000",
        "--worker-poll-ms=50",
        "--webhook-per-endpoint-concurrency=2",
    ];
    let first = Server::start(&url, &flags).await;
    let jane = first.sign_up("jane").await;
    first
        .gql(
            Some(&jane),
            CREATE,
            json!({ "input": { "url": receiver.url("/hold"), "events": ["USER_FOLLOWED"] } }),
        )
        .await;
    for i in 0..6 {
        let fan = first.sign_up(&format!("fan{i}")).await;
        first
            .gql(
                Some(&fan),
                "mutation { followUser(username: \"jane\") { id } }",
                json!({}),
            )
            .await;
    }
    // Two in flight (held by the receiver), four waiting. (An attempt held
    // past the 1 s timeout is tried again, so a loaded machine may show a
    // few more arrivals by the time this looks.)
    let held = receiver.wait_for("/hold", 2, Duration::from_secs(20)).await;
    assert!(held.len() >= 2, "in flight at the kill: {}", held.len());

    first.kill();
    receiver.release();
    let second = Server::start(&url, &flags).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    let log = loop {
        let data = second
            .gql(
                Some(&jane),
                "{ viewer { webhooks { deliveries { nodes { messageId status } } } } }",
                json!({}),
            )
            .await;
        let log = data["viewer"]["webhooks"][0]["deliveries"]["nodes"]
            .as_array()
            .unwrap()
            .clone();
        if log.len() == 6 && log.iter().all(|d| d["status"] == "SUCCEEDED")
            || Instant::now() > deadline
        {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(log.len(), 6);
    assert!(log.iter().all(|d| d["status"] == "SUCCEEDED"), "{log:#?}");
    let arrived: std::collections::HashSet<String> = receiver
        .received("/hold")
        .iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    for delivery in &log {
        assert!(
            arrived.contains(delivery["messageId"].as_str().unwrap()),
            "{delivery} arrived"
        );
    }
}

#[tokio::test]
async fn deliveries_in_flight_and_queued_survive_a_sigkill_on_sqlite() {
    deliveries_survive_a_sigkill(false).await;
}

#[tokio::test]
async fn deliveries_in_flight_and_queued_survive_a_sigkill_on_postgres() {
    deliveries_survive_a_sigkill(true).await;
}
