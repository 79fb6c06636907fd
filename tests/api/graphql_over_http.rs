//! The GraphQL-over-HTTP specification: the response media type follows
//! `Accept`, a request that fails before execution is 4xx without `data`
//! in `application/graphql-response+json` (200 without `data` in
//! `application/json`), and only JSON bodies are run (CSRF prevention).

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

const GQL: &str = "application/graphql-response+json";
const JSON: &str = "application/json";
const SIGN_UP: &str = "mutation { signUp(input: { username: \"mallory\", email: \"mallory@example.com\", password: \"password-mallory\" }) { token } }";

/// A POST of `body` as JSON with `accept` (none when `None`): its status,
/// `Content-Type` and JSON body.
async fn post(app: &TestApp, accept: Option<&str>, body: &Value) -> (u16, String, Value) {
    let mut request = app
        .http
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    answer(request).await
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, String, Value) {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("a JSON body ({error}): {status} {text}"));
    (status, content_type, body)
}

/// Whether the user `username` exists.
async fn user_exists(app: &TestApp, username: &str) -> bool {
    let data = app
        .gql_ok(
            None,
            "query($u: String!) { user(username: $u) { id } }",
            json!({ "u": username }),
        )
        .await;
    !data["user"].is_null()
}

e2e! {
    async fn the_response_media_type_follows_accept_and_its_q_values(app) {
        let query = json!({ "query": "{ __typename }" });
        for (accept, expected) in [
            (None, JSON),
            (Some(JSON), JSON),
            (Some(GQL), GQL),
            (Some("*/*"), JSON),
            (Some("application/*"), JSON),
            (Some("application/graphql-response+json, application/json;q=0.9"), GQL),
            (Some("application/json;q=0.5, application/graphql-response+json"), GQL),
            (Some("application/graphql-response+json;q=0.5, application/json"), JSON),
            (Some("text/html, application/json;q=0.1"), JSON),
            (Some("application/json;q=0, */*"), GQL),
        ] {
            let (status, content_type, body) = post(&app, accept, &query).await;
            assert_eq!(status, 200, "Accept {accept:?}: {body}");
            assert!(
                content_type.starts_with(expected),
                "Accept {accept:?} answers {expected}, not {content_type}"
            );
            assert_eq!(body["data"]["__typename"], "Query");
        }

        // GET negotiates the same way, and takes operationName.
        let (status, content_type, body) = answer(
            app.http
                .get(app.url("/graphql"))
                .query(&[
                    ("query", "query A { __typename } query B { viewer { id } }"),
                    ("operationName", "B"),
                ])
                .header("accept", GQL),
        )
        .await;
        assert_eq!((status, content_type.as_str()), (200, "application/graphql-response+json; charset=utf-8"));
        assert_eq!(body, json!({ "data": { "viewer": null } }));
    }
}

e2e! {
    async fn an_accept_that_allows_no_json_is_406_and_nothing_runs(app) {
        let (status, _, body) = post(&app, Some("text/html"), &json!({ "query": SIGN_UP })).await;
        assert_eq!(status, 406, "{body}");
        assert_eq!(error_code(&body), "BAD_REQUEST");
        assert!(!user_exists(&app, "mallory").await, "the mutation did not run");

        let (status, _, _) = answer(
            app.http
                .get(app.url("/graphql"))
                .query(&[("query", "{ __typename }")])
                .header("accept", "application/xml, application/json;q=0"),
        )
        .await;
        assert_eq!(status, 406);
    }
}

e2e! {
    async fn requests_that_fail_before_execution_are_400_without_data(app) {
        let failures = [
            ("parse", json!({ "query": "{ viewer { id " }), "GRAPHQL_PARSE_FAILED"),
            ("validation", json!({ "query": "{ viewer { shoeSize } }" }), "GRAPHQL_VALIDATION_FAILED"),
            (
                "variables",
                json!({ "query": "query($u: String!) { user(username: $u) { id } }", "variables": { "u": 5 } }),
                "GRAPHQL_VALIDATION_FAILED",
            ),
            (
                "missing variable",
                json!({ "query": "query($id: ID!) { __typename }", "variables": { "id": null } }),
                "GRAPHQL_VALIDATION_FAILED",
            ),
            (
                "operation name",
                json!({ "query": "query A { __typename }", "operationName": "B" }),
                "GRAPHQL_VALIDATION_FAILED",
            ),
        ];
        for (what, request, code) in &failures {
            let (status, content_type, body) = post(&app, Some(GQL), request).await;
            assert_eq!(status, 400, "{what}: {body}");
            assert!(content_type.starts_with(GQL), "{what}: {content_type}");
            assert!(body.get("data").is_none(), "{what}: no data entry: {body}");
            assert_eq!(error_code(&body), *code, "{what}: {body}");

            // application/json, the legacy type: 200, still without data.
            let (status, content_type, body) = post(&app, Some(JSON), request).await;
            assert_eq!(status, 200, "{what}: {body}");
            assert!(content_type.starts_with(JSON), "{what}: {content_type}");
            assert!(body.get("data").is_none(), "{what}: no data entry: {body}");
            assert_eq!(error_code(&body), *code, "{what}: {body}");
        }

        // A body that is not JSON, or not a GraphQL request, is 400 whatever
        // the Accept.
        for accept in [GQL, JSON] {
            for body in ["{ \"not a JSON", "{\"qeury\": \"{ __typename }\"}", "{\"query\": 5}",
                         "{\"query\": \"{ __typename }\", \"variables\": \"a string\"}"] {
                let (status, _, answer) = answer(
                    app.http
                        .post(app.url("/graphql"))
                        .header("content-type", JSON)
                        .header("accept", accept)
                        .body(body),
                )
                .await;
                assert_eq!(status, 400, "{body} with Accept {accept}: {answer}");
                assert!(answer.get("data").is_none());
                assert!(answer["errors"][0]["extensions"]["code"].is_string(), "{answer}");
            }
        }

        // A mutation by GET: 405, no data, and nothing ran.
        let (status, _, body) = answer(
            app.http
                .get(app.url("/graphql"))
                .query(&[("query", SIGN_UP)])
                .header("accept", GQL),
        )
        .await;
        assert_eq!(status, 405, "{body}");
        assert!(body.get("data").is_none(), "{body}");
        assert!(!user_exists(&app, "mallory").await);
    }
}

e2e! {
    async fn errors_raised_during_execution_are_200_with_data(app) {
        app.sign_up("jane").await;
        let request = json!({
            "query": "mutation { signIn(input: { email: \"jane@example.com\", password: \"wrong password\" }) { token } }",
        });
        for accept in [GQL, JSON] {
            let (status, _, body) = post(&app, Some(accept), &request).await;
            assert_eq!(status, 200, "{body}");
            assert!(body.get("data").is_some(), "the data entry stays (null): {body}");
            assert_eq!(body["errors"][0]["path"], json!(["signIn"]), "{body}");
        }
        // A partial result: the failing field is null, the others answer.
        let (status, _, body) = post(
            &app,
            Some(GQL),
            &json!({ "query": "{ __typename viewer { id } user(username: \"jane\") { username } }" }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["user"]["username"], "jane");
    }
}

e2e! {
    async fn parse_errors_are_one_line_with_the_position(app) {
        let (_, _, body) = post(&app, Some(GQL), &json!({ "query": "{ }" })).await;
        assert_eq!(body["errors"][0]["message"], "Syntax Error: Expected Name, found \"}\" at 1:3");
        assert_eq!(body["errors"][0]["locations"], json!([{ "line": 1, "column": 3 }]));
        assert_eq!(error_code(&body), "GRAPHQL_PARSE_FAILED");

        let (_, _, body) = post(&app, Some(GQL), &json!({ "query": "query {\n  user(username: ) { id }\n}" })).await;
        assert_eq!(body["errors"][0]["message"], "Syntax Error: Expected a value, found \")\" at 2:18");
    }
}

e2e! {
    async fn a_post_that_is_not_json_runs_nothing_415(app) {
        // A browser may send these cross-origin without a preflight: a
        // JSON sign-up as text/plain must not run.
        let body = json!({ "query": SIGN_UP }).to_string();
        for content_type in [
            Some("text/plain"),
            Some("text/plain;charset=UTF-8"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=----x"),
            None,
        ] {
            let mut request = app.http.post(app.url("/graphql")).body(body.clone());
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let (status, _, answer) = answer(request).await;
            assert_eq!(status, 415, "{content_type:?}: {answer}");
            assert_eq!(error_code(&answer), "BAD_REQUEST");
        }
        assert!(!user_exists(&app, "mallory").await, "no sign-up ran");
        let sign_in = app
            .gql(
                None,
                "mutation { signIn(input: { email: \"mallory@example.com\", password: \"password-mallory\" }) { token } }",
                json!({}),
            )
            .await;
        assert!(sign_in["errors"].is_array(), "mallory cannot sign in: {sign_in}");

        // JSON with a charset, or as the GraphQL response type, runs.
        for content_type in ["application/json; charset=utf-8", "application/graphql-response+json"] {
            let (status, _, answer) = answer(
                app.http
                    .post(app.url("/graphql"))
                    .header("content-type", content_type)
                    .body(json!({ "query": "{ __typename }" }).to_string()),
            )
            .await;
            assert_eq!(status, 200, "{content_type}: {answer}");
            assert_eq!(answer["data"]["__typename"], "Query");
        }
    }
}

e2e! {
    async fn a_batch_answers_a_json_array_each_as_a_single_one_would(app) {
        let batch = json!([
            { "query": "{ __typename }" },
            { "query": "{ }" },
            { "query": "{ viewer { shoeSize } }" },
        ]);
        for accept in [GQL, JSON] {
            let (status, content_type, body) = post(&app, Some(accept), &batch).await;
            assert_eq!(status, 200, "{body}");
            assert!(content_type.starts_with(accept), "{content_type}");
            let answers = body.as_array().expect("an array");
            assert_eq!(answers.len(), 3);
            assert_eq!(answers[0], json!({ "data": { "__typename": "Query" } }));
            assert_eq!(error_code(&answers[1]), "GRAPHQL_PARSE_FAILED");
            assert!(answers[1].get("data").is_none(), "{body}");
            assert_eq!(error_code(&answers[2]), "GRAPHQL_VALIDATION_FAILED");
            assert!(answers[2].get("data").is_none(), "{body}");
        }
    }
}
