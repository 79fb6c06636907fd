//! Sessions: refresh rotation and reuse detection, signing out, ending
//! sessions (here and on another instance, over HTTP and WebSocket), a
//! password change, expiry, and privacy.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};
use crate::subscriptions::{Client, TRANSPORT};

const AUTH_FIELDS: &str = "token refreshToken tokenExpiresAt user { username }";
const VIEWER: &str = "{ viewer { username } }";

/// A session's credentials.
#[derive(Clone, Debug)]
struct Credentials {
    token: String,
    refresh: String,
}

impl Credentials {
    fn of(payload: &Value) -> Self {
        Self {
            token: payload["token"].as_str().expect("a token").to_owned(),
            refresh: payload["refreshToken"]
                .as_str()
                .expect("a refresh token")
                .to_owned(),
        }
    }
}

/// Signs `username` up, as the test helper does, and answers the
/// session's credentials.
async fn sign_up(app: &TestApp, username: &str) -> Credentials {
    let data = app
        .gql_ok(
            None,
            &format!(
                "mutation($input: SignUpInput!) {{ signUp(input: $input) {{ {AUTH_FIELDS} }} }}"
            ),
            json!({ "input": {
                "username": username,
                "email": format!("{username}@example.com"),
                "password": format!("password-{username}"),
            }}),
        )
        .await;
    Credentials::of(&data["signUp"])
}

/// Signs `username` in again (another device), with `user_agent`.
async fn sign_in(app: &TestApp, username: &str, user_agent: &str) -> Credentials {
    let response: Value = app
        .http
        .post(app.url("/graphql"))
        .header("user-agent", user_agent)
        .json(&json!({
            "query": format!("mutation($input: SignInInput!) {{ signIn(input: $input) {{ {AUTH_FIELDS} }} }}"),
            "variables": { "input": {
                "email": format!("{username}@example.com"),
                "password": format!("password-{username}"),
            }},
        }))
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("a JSON answer");
    assert!(response.get("errors").is_none(), "{response:#}");
    Credentials::of(&response["data"]["signIn"])
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Value {
    app.gql(
        None,
        &format!(
            "mutation($r: String!) {{ refreshSession(refreshToken: $r) {{ {AUTH_FIELDS} }} }}"
        ),
        json!({ "r": refresh_token }),
    )
    .await
}

/// Whether `token` is accepted (a viewer) or refused (UNAUTHENTICATED).
async fn accepted(app: &TestApp, token: &str) -> bool {
    let response = app.gql(Some(token), VIEWER, json!({})).await;
    if response.get("errors").is_some() {
        assert_eq!(error_code(&response), "UNAUTHENTICATED", "{response:#}");
        return false;
    }
    assert!(
        response["data"]["viewer"]["username"].is_string(),
        "{response:#}"
    );
    true
}

/// Waits up to a second for `token` to be refused by `app`; how long it took.
async fn refused_within_a_second(app: &TestApp, token: &str) -> Duration {
    let started = Instant::now();
    while accepted(app, token).await {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "still accepted after a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let data = app
        .gql_ok(
            Some(token),
            "{ viewer { sessions { id createdAt lastUsedAt userAgent current } } }",
            json!({}),
        )
        .await;
    data["viewer"]["sessions"]
        .as_array()
        .expect("a list")
        .clone()
}

e2e! {
    async fn a_refresh_rotates_and_a_reused_refresh_token_ends_the_session(app) {
        let first = sign_up(&app, "jane").await;
        assert!(accepted(&app, &first.token).await);

        let rotated = refresh(&app, &first.refresh).await;
        assert!(rotated.get("errors").is_none(), "{rotated:#}");
        let second = Credentials::of(&rotated["data"]["refreshSession"]);
        assert_ne!(second.refresh, first.refresh);
        assert_eq!(rotated["data"]["refreshSession"]["user"]["username"], "jane");
        assert!(accepted(&app, &second.token).await, "the new token works");

        // The old refresh token again: reuse, so the session ends.
        let reused = refresh(&app, &first.refresh).await;
        assert_eq!(error_code(&reused), "UNAUTHENTICATED", "{reused:#}");
        assert!(reused["data"].is_null(), "{reused:#}");
        assert!(!accepted(&app, &second.token).await, "the session ended");
        let after = refresh(&app, &second.refresh).await;
        assert_eq!(error_code(&after), "UNAUTHENTICATED", "{after:#}");

        // A refresh token that was never issued is refused, and ends nothing.
        let other = sign_in(&app, "jane", "phone").await;
        let unknown = refresh(&app, "not-a-refresh-token").await;
        assert_eq!(error_code(&unknown), "UNAUTHENTICATED", "{unknown:#}");
        assert!(accepted(&app, &other.token).await);
    }
}

e2e! {
    async fn the_token_expires_when_the_payload_says(app) {
        let data = app
            .gql_ok(
                None,
                &format!("mutation {{ signUp(input: {{ username: \"jane\", email: \"jane@example.com\", password: \"password-jane\" }}) {{ {AUTH_FIELDS} }} }}"),
                json!({}),
            )
            .await;
        let expires: chrono::DateTime<chrono::Utc> = data["signUp"]["tokenExpiresAt"]
            .as_str()
            .expect("a time")
            .parse()
            .expect("RFC 3339");
        let token = data["signUp"]["token"].as_str().unwrap();
        let verified = app.tokens().verify(token).expect("a valid token");
        assert_eq!(verified.expires_at, expires.timestamp());
        let lifetime = expires - chrono::Utc::now();
        assert!(
            lifetime <= chrono::TimeDelta::minutes(15) && lifetime > chrono::TimeDelta::minutes(14),
            "15 minutes by default: {lifetime}"
        );
    }
}

e2e! {
    async fn an_expired_token_is_refused_and_the_refresh_token_then_works(app) {
        let credentials = sign_up(&app, "jane").await;
        let verified = app.tokens().verify(&credentials.token).unwrap();
        let now = chrono::Utc::now().timestamp();
        let expired = app.tokens().issue_with_times(
            verified.user_id,
            verified.session_id,
            now - 1200,
            now - 300,
        );
        assert!(!accepted(&app, &expired).await);
        let refreshed = refresh(&app, &credentials.refresh).await;
        assert!(refreshed.get("errors").is_none(), "{refreshed:#}");
        let fresh = Credentials::of(&refreshed["data"]["refreshSession"]);
        assert!(accepted(&app, &fresh.token).await);
    }
}

e2e! {
    async fn signing_out_ends_the_current_session_only(app) {
        let laptop = sign_up(&app, "jane").await;
        let phone = sign_in(&app, "jane", "phone").await;
        let signed_out = app.gql_ok(Some(&laptop.token), "mutation { signOut }", json!({})).await;
        assert_eq!(signed_out["signOut"], true);
        assert!(!accepted(&app, &laptop.token).await);
        assert_eq!(error_code(&refresh(&app, &laptop.refresh).await), "UNAUTHENTICATED");
        assert!(accepted(&app, &phone.token).await, "the other session goes on");

        let anonymous = app.gql(None, "mutation { signOut }", json!({})).await;
        assert_eq!(error_code(&anonymous), "UNAUTHENTICATED", "{anonymous:#}");
        let again = app.gql(Some(&laptop.token), "mutation { signOut }", json!({})).await;
        assert_eq!(error_code(&again), "UNAUTHENTICATED", "{again:#}");
    }
}

e2e! {
    async fn end_sessions_ends_one_or_every_other(app) {
        let laptop = sign_up(&app, "jane").await;
        let phone = sign_in(&app, "jane", "Conduit-iOS/1.0").await;
        let tablet = sign_in(&app, "jane", "Conduit-Android/2.0").await;

        let listed = sessions(&app, &laptop.token).await;
        assert_eq!(listed.len(), 3, "{listed:#?}");
        assert_eq!(listed[0]["userAgent"], "Conduit-Android/2.0", "newest first");
        assert_eq!(listed[1]["userAgent"], "Conduit-iOS/1.0");
        let current: Vec<bool> = listed.iter().map(|s| s["current"].as_bool().unwrap()).collect();
        assert_eq!(current, [false, false, true]);
        for session in &listed {
            assert!(session["createdAt"].is_string() && session["lastUsedAt"].is_string());
        }

        let phone_id = listed[1]["id"].clone();
        let ended = app
            .gql_ok(Some(&laptop.token), "mutation($id: ID) { endSessions(id: $id) }", json!({ "id": phone_id }))
            .await;
        assert_eq!(ended["endSessions"], 1);
        assert!(!accepted(&app, &phone.token).await);
        assert!(accepted(&app, &tablet.token).await);
        let again = app
            .gql_ok(Some(&laptop.token), "mutation($id: ID) { endSessions(id: $id) }", json!({ "id": phone_id }))
            .await;
        assert_eq!(again["endSessions"], 0, "already ended");

        let others = app.gql_ok(Some(&laptop.token), "mutation { endSessions }", json!({})).await;
        assert_eq!(others["endSessions"], 1);
        assert!(!accepted(&app, &tablet.token).await);
        assert!(accepted(&app, &laptop.token).await, "all but the current");
        let left = sessions(&app, &laptop.token).await;
        assert_eq!(left.len(), 1);
        assert_eq!(left[0]["current"], true);

        let unknown = app
            .gql(Some(&laptop.token), "mutation { endSessions(id: \"bm90aGluZw\") }", json!({}))
            .await;
        assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown:#}");
    }
}

e2e! {
    async fn sessions_are_private(app) {
        let jane = sign_up(&app, "jane").await;
        let john = sign_up(&app, "john").await;
        let janes = sessions(&app, &jane.token).await;
        let jane_session = janes[0]["id"].clone();

        // Another user, and anonymous, see no sessions of jane's.
        let query = "{ user(username: \"jane\") { sessions { id } } }";
        for token in [Some(john.token.as_str()), None] {
            let data = app.gql_ok(token, query, json!({})).await;
            assert_eq!(data["user"]["sessions"], json!([]), "{token:?}");
        }
        let node = "query($id: ID!) { node(id: $id) { ... on Session { id current } } }";
        let own = app.gql_ok(Some(&jane.token), node, json!({ "id": jane_session })).await;
        assert_eq!(own["node"]["id"], jane_session);
        assert_eq!(own["node"]["current"], true);
        for token in [Some(john.token.as_str()), None] {
            let data = app.gql_ok(token, node, json!({ "id": jane_session })).await;
            assert!(data["node"].is_null(), "{token:?}: {data:#}");
        }

        // John cannot end jane's session: it does not exist for him.
        let ending = app
            .gql(Some(&john.token), "mutation($id: ID) { endSessions(id: $id) }", json!({ "id": jane_session }))
            .await;
        assert_eq!(error_code(&ending), "NOT_FOUND", "{ending:#}");
        assert!(accepted(&app, &jane.token).await);
        let anonymous = app.gql(None, "mutation { endSessions }", json!({})).await;
        assert_eq!(error_code(&anonymous), "UNAUTHENTICATED", "{anonymous:#}");
    }
}

e2e! {
    async fn a_password_change_ends_every_other_session(app) {
        let laptop = sign_up(&app, "jane").await;
        let phone = sign_in(&app, "jane", "phone").await;
        let changed = app
            .gql(
                Some(&laptop.token),
                "mutation { updateViewer(input: { password: \"a-new-password\" }) { username } }",
                json!({}),
            )
            .await;
        assert!(changed.get("errors").is_none(), "{changed:#}");
        assert!(accepted(&app, &laptop.token).await, "the session that changed it goes on");
        assert!(!accepted(&app, &phone.token).await);
        assert_eq!(error_code(&refresh(&app, &phone.refresh).await), "UNAUTHENTICATED");

        // Changing anything else ends nothing.
        let tablet = sign_in_with(&app, "jane@example.com", "a-new-password").await;
        app.gql_ok(Some(&laptop.token), "mutation { updateViewer(input: { bio: \"hi\" }) { username } }", json!({}))
            .await;
        assert!(accepted(&app, &tablet.token).await);
    }
}

async fn sign_in_with(app: &TestApp, email: &str, password: &str) -> Credentials {
    let data = app
        .gql_ok(
            None,
            &format!("mutation($e: String!, $p: String!) {{ signIn(input: {{ email: $e, password: $p }}) {{ {AUTH_FIELDS} }} }}"),
            json!({ "e": email, "p": password }),
        )
        .await;
    Credentials::of(&data["signIn"])
}

e2e! {
    async fn signing_out_closes_the_sessions_websocket(app) {
        let laptop = sign_up(&app, "jane").await;
        let phone = sign_in(&app, "jane", "phone").await;
        let mut laptop_socket = Client::ready(&app, TRANSPORT, Some(&laptop.token)).await;
        laptop_socket.subscribe("1", "subscription { notificationReceived { id } }", json!({})).await;
        let mut phone_socket = Client::ready(&app, TRANSPORT, Some(&phone.token)).await;
        phone_socket.subscribe("1", "subscription { notificationReceived { id } }", json!({})).await;

        let started = Instant::now();
        app.gql_ok(Some(&laptop.token), "mutation { signOut }", json!({})).await;
        assert_eq!(laptop_socket.close_code(Duration::from_secs(1)).await, 4403);
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        // The other session's connection stays open.
        assert!(phone_socket.try_next(Duration::from_millis(300)).await.is_none());

        // A WebSocket cannot open with an ended session's token.
        let mut refused = Client::connect(&app, TRANSPORT).await;
        refused.init(Some(&laptop.token)).await;
        assert_eq!(refused.close_code(Duration::from_secs(2)).await, 4403);
    }
}

/// Two instances on one PostgreSQL database: a session ended through one
/// is refused by the other within a second, over HTTP and WebSocket.
#[tokio::test]
async fn ending_a_session_reaches_every_instance_within_a_second() {
    let Some(app) = TestApp::spawn_postgres_with(&[]).await else {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    let other = app.another_instance().await;
    let laptop = sign_up(&app, "jane").await;
    let phone = sign_in(&app, "jane", "phone").await;
    assert!(accepted(&other, &laptop.token).await);
    let mut socket = Client::ready(&other, TRANSPORT, Some(&phone.token)).await;
    socket
        .subscribe(
            "1",
            "subscription { notificationReceived { id } }",
            json!({}),
        )
        .await;

    // signOut on the first instance.
    app.gql_ok(Some(&laptop.token), "mutation { signOut }", json!({}))
        .await;
    refused_within_a_second(&other, &laptop.token).await;

    // endSessions on the first: the second's open WebSocket closes.
    let fresh = sign_in(&app, "jane", "desktop").await;
    let started = Instant::now();
    let ended = app
        .gql_ok(Some(&fresh.token), "mutation { endSessions }", json!({}))
        .await;
    assert_eq!(ended["endSessions"], 1);
    assert_eq!(socket.close_code(Duration::from_secs(1)).await, 4403);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    refused_within_a_second(&other, &phone.token).await;
    assert!(accepted(&other, &fresh.token).await);

    // An instance that starts later knows what ended before it.
    let late = app.another_instance().await;
    assert!(!accepted(&late, &laptop.token).await);
    assert!(!accepted(&late, &phone.token).await);
    assert!(accepted(&late, &fresh.token).await);
    drop(late);
    drop(other);
}

/// An instance whose LISTEN connection drops misses the notifications sent
/// meanwhile; it must still refuse what ended in the gap.
#[tokio::test]
async fn an_instance_that_lost_its_listener_still_refuses_ended_sessions() {
    let Some(app) = TestApp::spawn_postgres_with(&[]).await else {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    let other = app.another_instance().await;
    let laptop = sign_up(&app, "jane").await;
    let phone = sign_in(&app, "jane", "phone").await;
    assert!(accepted(&other, &laptop.token).await);

    // Cut every LISTEN connection on this test's database, then end a
    // session before (or while) they reconnect.
    let admin = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("a connection");
    use sea_orm::ConnectionTrait as _;
    let cut = admin
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
        )
        .await
        .expect("terminated");
    let _ = cut;
    app.gql_ok(Some(&laptop.token), "mutation { signOut }", json!({}))
        .await;
    refused_within_a_second(&other, &laptop.token).await;
    // And once it listens again, sessions ended later still reach it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.gql_ok(Some(&phone.token), "mutation { signOut }", json!({}))
        .await;
    refused_within_a_second(&other, &phone.token).await;
    let fresh = sign_in(&app, "jane", "desktop").await;
    assert!(
        accepted(&other, &fresh.token).await,
        "open sessions still work"
    );
    drop(other);
}
