//! signUp, signIn, viewer, updateViewer: the account parts of the contract.

use serde_json::json;

use crate::helpers::error_code;

const VIEWER: &str =
    "{ viewer { id username email bio image createdAt followersCount followingCount } }";
const SIGN_UP: &str =
    "mutation($input: SignUpInput!) { signUp(input: $input) { token user { username email } } }";
const SIGN_IN: &str =
    "mutation($input: SignInInput!) { signIn(input: $input) { token user { username } } }";
const UPDATE: &str = "mutation($input: UpdateViewerInput!) { updateViewer(input: $input) { username email bio image } }";

e2e! {
    async fn sign_up_returns_a_token_that_identifies_the_viewer(app) {
        // Act
        let data = app
            .gql_ok(None, SIGN_UP, json!({ "input": {
                "username": "jane", "email": " Jane@Example.COM ", "password": "correct horse" } }))
            .await;
        let token = data["signUp"]["token"].as_str().unwrap();

        // Assert: the payload shows the user, and the token signs them in.
        assert_eq!(data["signUp"]["user"]["username"], "jane");
        assert_eq!(data["signUp"]["user"]["email"], "jane@example.com", "the new account sees its own email");
        let viewer = app.gql_ok(Some(token), VIEWER, json!({})).await["viewer"].clone();
        assert_eq!(viewer["username"], "jane");
        assert_eq!(viewer["email"], "jane@example.com", "emails are trimmed and lower-cased");
        assert_eq!(viewer["bio"], serde_json::Value::Null);
        assert_eq!(viewer["followersCount"], 0);
        assert!(viewer["createdAt"].as_str().unwrap().contains('T'));
    }
}

e2e! {
    async fn sign_up_reports_every_invalid_field_and_creates_nothing(app) {
        let response = app
            .gql(None, SIGN_UP, json!({ "input": { "username": "no spaces", "email": "nope", "password": "short" } }))
            .await;

        assert_eq!(error_code(&response), "BAD_USER_INPUT");
        let fields = &response["errors"][0]["extensions"]["fields"];
        for field in ["username", "email", "password"] {
            assert!(fields[field][0].is_string(), "a message for {field}: {response:#}");
        }
        assert_eq!(response["data"], serde_json::Value::Null);
        let users = app
            .gql_ok(None, "{ user(username: \"no spaces\") { id } }", json!({}))
            .await;
        assert_eq!(users["user"], serde_json::Value::Null);
    }
}

e2e! {
    async fn sign_up_refuses_a_taken_username_or_email_with_conflict(app) {
        app.sign_up("jane").await;

        let same_name = app
            .gql(None, SIGN_UP, json!({ "input": {
                "username": "jane", "email": "other@example.com", "password": "password-x" } }))
            .await;
        assert_eq!(error_code(&same_name), "CONFLICT");
        assert!(same_name["errors"][0]["extensions"]["fields"]["username"].is_array());

        let same_email = app
            .gql(None, SIGN_UP, json!({ "input": {
                "username": "jane2", "email": "JANE@example.com", "password": "password-x" } }))
            .await;
        assert_eq!(error_code(&same_email), "CONFLICT");
        assert!(same_email["errors"][0]["extensions"]["fields"]["email"].is_array());
    }
}

e2e! {
    async fn racing_sign_ups_for_one_username_create_exactly_one_account(app) {
        // Arrange: eight clients at once, same username, different emails.
        let attempts = (0..8).map(|i| {
            let app = &app;
            async move {
                app.gql(None, SIGN_UP, json!({ "input": {
                    "username": "racer", "email": format!("racer{i}@example.com"), "password": "password-race" } }))
                    .await
            }
        });

        // Act
        let responses = futures_util::future::join_all(attempts).await;

        // Assert
        let won = responses.iter().filter(|r| r.get("errors").is_none()).count();
        assert_eq!(won, 1, "{responses:#?}");
        for lost in responses.iter().filter(|r| r.get("errors").is_some()) {
            assert_eq!(error_code(lost), "CONFLICT", "{lost:#}");
        }
    }
}

e2e! {
    async fn sign_in_accepts_the_right_password_only(app) {
        app.sign_up("jane").await;

        let ok = app
            .gql_ok(None, SIGN_IN, json!({ "input": { "email": "JANE@example.com", "password": "password-jane" } }))
            .await;
        let token = ok["signIn"]["token"].as_str().unwrap();
        let viewer = app.gql_ok(Some(token), VIEWER, json!({})).await;
        assert_eq!(viewer["viewer"]["username"], "jane");

        let wrong_password = app
            .gql(None, SIGN_IN, json!({ "input": { "email": "jane@example.com", "password": "password-john" } }))
            .await;
        assert_eq!(error_code(&wrong_password), "UNAUTHENTICATED");

        let unknown_email = app
            .gql(None, SIGN_IN, json!({ "input": { "email": "john@example.com", "password": "password-jane" } }))
            .await;
        assert_eq!(error_code(&unknown_email), "UNAUTHENTICATED");
        assert_eq!(
            wrong_password["errors"][0]["message"], unknown_email["errors"][0]["message"],
            "the message does not tell which emails exist"
        );

        let malformed = app
            .gql(None, SIGN_IN, json!({ "input": { "email": "not-an-email", "password": "" } }))
            .await;
        assert_eq!(error_code(&malformed), "BAD_USER_INPUT");
        let fields = &malformed["errors"][0]["extensions"]["fields"];
        assert!(fields["email"].is_array() && fields["password"].is_array(), "{malformed:#}");
    }
}

e2e! {
    async fn viewer_is_null_when_anonymous_and_refused_for_bad_tokens(app) {
        let token = app.sign_up("jane").await;
        let user_id = app.tokens().verify(&token).unwrap();
        let session = user_id.session_id;
        let user_id = user_id.user_id;

        let anonymous = app.gql_ok(None, VIEWER, json!({})).await;
        assert_eq!(anonymous["viewer"], serde_json::Value::Null);

        let now = chrono::Utc::now().timestamp();
        let expired = app.tokens().issue_with_times(user_id, session, now - 7200, now - 3600);
        let mut tampered = token.clone();
        tampered.replace_range(tampered.len() - 3.., "abc");
        let foreign = conduit_gateway::auth::token::Tokens::new(
            b"some other secret, at least 32 bytes long",
            std::time::Duration::from_secs(60),
            crate::helpers::test_deployment(),
        )
        .issue(user_id, session)
        .0;
        for (what, header) in [
            ("expired", format!("Bearer {expired}")),
            ("tampered", format!("Bearer {tampered}")),
            ("signed elsewhere", format!("Bearer {foreign}")),
            ("garbage", "Bearer not-a-jwt".to_owned()),
            ("unknown scheme", format!("Basic {token}")),
            ("no token", "Bearer".to_owned()),
        ] {
            let response: serde_json::Value = app
                .http
                .post(app.url("/graphql"))
                .header("Authorization", header)
                .json(&json!({ "query": VIEWER }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(error_code(&response), "UNAUTHENTICATED", "{what}: {response:#}");
        }
    }
}

e2e! {
    async fn both_authorization_schemes_are_accepted(app) {
        let token = app.sign_up("jane").await;
        for header in [format!("Bearer {token}"), format!("Token {token}"), format!("bearer {token}")] {
            let response: serde_json::Value = app
                .http
                .post(app.url("/graphql"))
                .header("Authorization", &header)
                .json(&json!({ "query": "{ viewer { username } }" }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(response["data"]["viewer"]["username"], "jane", "{header}: {response:#}");
        }
    }
}

e2e! {
    async fn sign_in_works_while_an_expired_token_is_still_sent(app) {
        let token = app.sign_up("jane").await;
        let user_id = app.tokens().verify(&token).unwrap();
        let session = user_id.session_id;
        let user_id = user_id.user_id;
        let now = chrono::Utc::now().timestamp();
        let expired = app.tokens().issue_with_times(user_id, session, now - 7200, now - 3600);

        let data = app
            .gql_ok(Some(&expired), SIGN_IN, json!({ "input": { "email": "jane@example.com", "password": "password-jane" } }))
            .await;

        assert_eq!(data["signIn"]["user"]["username"], "jane");
    }
}

e2e! {
    async fn email_is_shown_to_its_owner_only(app) {
        let jane = app.sign_up("jane").await;
        let bob = app.sign_up("bob").await;
        let query = "{ user(username: \"jane\") { username email } }";

        let as_jane = app.gql_ok(Some(&jane), query, json!({})).await;
        let as_bob = app.gql_ok(Some(&bob), query, json!({})).await;
        let as_nobody = app.gql_ok(None, query, json!({})).await;

        assert_eq!(as_jane["user"]["email"], "jane@example.com");
        assert_eq!(as_bob["user"]["email"], serde_json::Value::Null);
        assert_eq!(as_nobody["user"]["email"], serde_json::Value::Null);
        let missing = app.gql_ok(None, "{ user(username: \"nobody\") { id } }", json!({})).await;
        assert_eq!(missing["user"], serde_json::Value::Null);

        // In lists too (authors, followers), where rows carry no emails and
        // the owner's own is read for them alone.
        app.create_article(&jane, "By jane", &[]).await;
        app.create_article(&bob, "By bob", &[]).await;
        app.follow(&jane, "bob").await;
        let lists = "{ articles(first: 5) { nodes { author { username email } } }
                       user(username: \"bob\") { followers(first: 5) { nodes { username email } } } }";
        let as_jane = app.gql_ok(Some(&jane), lists, json!({})).await;
        let authors = as_jane["articles"]["nodes"].as_array().unwrap();
        assert_eq!(authors.len(), 2);
        for node in authors {
            let author = &node["author"];
            let expected = match author["username"].as_str() {
                Some("jane") => json!("jane@example.com"),
                _ => serde_json::Value::Null,
            };
            assert_eq!(author["email"], expected, "{as_jane:#}");
        }
        let followers = &as_jane["user"]["followers"]["nodes"];
        assert_eq!(followers, &json!([{ "username": "jane", "email": "jane@example.com" }]));
        let as_bob = app.gql_ok(Some(&bob), lists, json!({})).await;
        assert_eq!(as_bob["user"]["followers"]["nodes"][0]["email"], serde_json::Value::Null);
    }
}

e2e! {
    async fn update_viewer_changes_only_the_given_fields(app) {
        let token = app.sign_up("jane").await;

        let data = app
            .gql_ok(Some(&token), UPDATE, json!({ "input": {
                "bio": "I write about Rust.", "image": "https://img.example.com/jane.png" } }))
            .await;
        assert_eq!(data["updateViewer"]["bio"], "I write about Rust.");
        assert_eq!(data["updateViewer"]["image"], "https://img.example.com/jane.png");
        assert_eq!(data["updateViewer"]["username"], "jane", "left out, so unchanged");
        assert_eq!(data["updateViewer"]["email"], "jane@example.com");

        let renamed = app
            .gql_ok(Some(&token), UPDATE, json!({ "input": { "username": "jane_doe", "bio": null, "image": "" } }))
            .await;
        assert_eq!(renamed["updateViewer"]["username"], "jane_doe");
        assert_eq!(renamed["updateViewer"]["bio"], "I write about Rust.", "null leaves it as it is");
        assert_eq!(renamed["updateViewer"]["image"], serde_json::Value::Null, "empty clears it");
    }
}

e2e! {
    async fn update_viewer_changes_the_password(app) {
        let token = app.sign_up("jane").await;

        app.gql_ok(Some(&token), UPDATE, json!({ "input": { "password": "a brand new password" } }))
            .await;

        let old = app
            .gql(None, SIGN_IN, json!({ "input": { "email": "jane@example.com", "password": "password-jane" } }))
            .await;
        assert_eq!(error_code(&old), "UNAUTHENTICATED");
        app.gql_ok(None, SIGN_IN, json!({ "input": { "email": "jane@example.com", "password": "a brand new password" } }))
            .await;
    }
}

e2e! {
    async fn a_refused_update_viewer_changes_nothing(app) {
        let jane = app.sign_up("jane").await;
        app.sign_up("bob").await;

        let anonymous = app.gql(None, UPDATE, json!({ "input": { "bio": "hi" } })).await;
        assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");

        let invalid = app
            .gql(Some(&jane), UPDATE, json!({ "input": { "bio": "new bio", "image": "ftp://x", "email": "bad" } }))
            .await;
        assert_eq!(error_code(&invalid), "BAD_USER_INPUT");
        let fields = &invalid["errors"][0]["extensions"]["fields"];
        assert!(fields["image"].is_array() && fields["email"].is_array(), "{invalid:#}");

        let taken = app
            .gql(Some(&jane), UPDATE, json!({ "input": { "bio": "new bio", "username": "bob" } }))
            .await;
        assert_eq!(error_code(&taken), "CONFLICT");

        let viewer = app.gql_ok(Some(&jane), VIEWER, json!({})).await;
        assert_eq!(viewer["viewer"]["username"], "jane");
        assert_eq!(viewer["viewer"]["bio"], serde_json::Value::Null, "no part of a refused update applies");
    }
}
