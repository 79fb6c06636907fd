//! Apollo automatic persisted queries: a client sends a hash instead of the
//! query text once the server has seen the text.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, error_code};

fn hash(query: &str) -> String {
    format!("{:x}", Sha256::digest(query.as_bytes()))
}

fn persisted(query: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash(query) } })
}

async fn post(app: &TestApp, body: Value) -> Value {
    app.http
        .post(app.url("/graphql"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

e2e! {
    async fn an_unknown_hash_asks_for_the_query_then_the_hash_alone_works(app) {
        app.sign_up("jane").await;
        let query = "query Profile { user(username: \"jane\") { username } }";

        // Act 1: the hash alone, before the server has seen the text.
        let unknown = post(&app, json!({ "extensions": persisted(query) })).await;
        assert_eq!(error_code(&unknown), "PERSISTED_QUERY_NOT_FOUND");

        // Act 2: the text with its hash registers it.
        let registered = post(&app, json!({ "query": query, "extensions": persisted(query) })).await;
        assert_eq!(registered["data"]["user"]["username"], "jane");

        // Act 3: now the hash alone runs it, by POST and by GET.
        let by_hash = post(&app, json!({ "extensions": persisted(query) })).await;
        assert_eq!(by_hash["data"]["user"]["username"], "jane", "{by_hash:#}");
        let by_get: Value = app
            .http
            .get(app.url("/graphql"))
            .query(&[("extensions", persisted(query).to_string())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(by_get["data"]["user"]["username"], "jane", "{by_get:#}");
    }
}

e2e! {
    async fn a_hash_that_does_not_match_its_text_is_refused(app) {
        let response = post(
            &app,
            json!({ "query": "{ viewer { id } }", "extensions": persisted("{ something else }") }),
        )
        .await;
        assert!(response["errors"][0]["message"].as_str().unwrap().contains("sha"), "{response:#}");
        assert_eq!(response["data"], Value::Null);
    }
}

e2e! {
    async fn a_persisted_mutation_cannot_run_by_get(app) {
        let mutation = "mutation { signUp(input: {username: \"x\", email: \"x@example.com\", password: \"password-x\"}) { token } }";
        // Registering by POST runs it once, as a client's first send does.
        post(&app, json!({ "query": mutation, "extensions": persisted(mutation) })).await;

        let by_get = app
            .http
            .get(app.url("/graphql"))
            .query(&[("extensions", persisted(mutation).to_string())])
            .send()
            .await
            .unwrap();

        assert_eq!(by_get.status(), 405);
    }
}

e2e! {
    async fn a_document_parsed_once_serves_later_requests_with_their_own_variables(app) {
        // Arrange: the same text, twice in full, then by hash alone.
        app.sign_up("jane").await;
        app.sign_up("bob").await;
        let query = "query Profile($name: String!) { user(username: $name) { username } } \
                     query Other { popularTags { name } }";
        let ask = |name: &str| json!({ "query": query, "operationName": "Profile", "variables": { "name": name } });

        // Act
        let first = post(&app, ask("jane")).await;
        let second = post(&app, ask("bob")).await;
        let by_hash = post(&app, json!({
            "operationName": "Profile",
            "variables": { "name": "jane" },
            "extensions": persisted(query),
        }))
        .await;
        let broken = post(&app, json!({ "query": "query Profile { user(" })).await;
        let broken_again = post(&app, json!({ "query": "query Profile { user(" })).await;

        // Assert: each answer is its own request's, and a text sent in full
        // is known by its hash afterwards; a text that does not parse is
        // refused each time.
        assert_eq!(first["data"]["user"]["username"], "jane", "{first:#}");
        assert_eq!(second["data"]["user"]["username"], "bob", "{second:#}");
        assert_eq!(by_hash["data"]["user"]["username"], "jane", "{by_hash:#}");
        assert_eq!(error_code(&broken), "GRAPHQL_PARSE_FAILED");
        assert_eq!(error_code(&broken_again), "GRAPHQL_PARSE_FAILED");
    }
}
