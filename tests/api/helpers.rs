//! `TestApp`: a running server with a database of its own, and a client.

use std::net::SocketAddr;

use clap::Parser as _;
use conduit_gateway::auth::token::{Deployment, Tokens};
use conduit_gateway::config::Config;
use conduit_gateway::startup::App;
use serde_json::{Value, json};

use crate::postgres_database::PostgresDatabase;

/// The token secret every test server uses, so tests can mint tokens.
pub(crate) const TEST_SECRET: &str = "test-secret-test-secret-test-secret!";

/// The issuer (and audience) every test server's tokens carry, unless a
/// test gives `--token-issuer` itself.
pub(crate) const TEST_ISSUER: &str = "conduit-test";

/// The deployment test servers name in their tokens.
pub(crate) fn test_deployment() -> Deployment {
    Deployment {
        issuer: TEST_ISSUER.to_owned(),
        audience: TEST_ISSUER.to_owned(),
    }
}

/// Defines one end-to-end scenario as two tests, `sqlite` and `postgres`.
/// The PostgreSQL one runs when `TEST_DATABASE_URL` is set (as `.ci/run`
/// sets it) and says so on stderr when it is skipped.
macro_rules! e2e {
    ($(#[$meta:meta])* async fn $name:ident($app:ident) $body:block) => {
        e2e! { with []; $(#[$meta])* async fn $name($app) $body }
    };
    (with [$($arg:expr),*]; $(#[$meta:meta])* async fn $name:ident($app:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn scenario($app: $crate::helpers::TestApp) $body

            #[tokio::test]
            async fn sqlite() {
                scenario($crate::helpers::TestApp::spawn_sqlite_with(&[$($arg),*]).await).await;
            }

            #[tokio::test]
            async fn postgres() {
                match $crate::helpers::TestApp::spawn_postgres_with(&[$($arg),*]).await {
                    Some(app) => scenario(app).await,
                    None => eprintln!("skipped: TEST_DATABASE_URL is not set"),
                }
            }
        }
    };
}

pub(crate) struct TestApp {
    pub(crate) addr: SocketAddr,
    /// The database this server uses, for starting another instance on it.
    pub(crate) database_url: String,
    pub(crate) http: reqwest::Client,
    /// What this server's `/metrics` serves, read in process (the SQL log).
    metrics: std::sync::Arc<conduit_gateway::metrics::Metrics>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    // Last, so it drops after everything that uses the database.
    _database: DbGuard,
}

impl TestApp {
    /// A SQLite-backed app with extra `serve` flags.
    pub(crate) async fn spawn_sqlite_with(extra_args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        Self::spawn_with(&url, DbGuard::Sqlite(dir), extra_args).await
    }

    pub(crate) async fn spawn_postgres_with(extra_args: &[&str]) -> Option<Self> {
        let database = PostgresDatabase::create().await?;
        let url = database.url.clone();
        Some(Self::spawn_with(&url, DbGuard::Postgres(database), extra_args).await)
    }

    async fn spawn_with(url: &str, guard: DbGuard, extra_args: &[&str]) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            conduit_gateway::telemetry::init(Default::default());
        }
        let mut args = vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            url,
            "--jwt-secret",
            TEST_SECRET,
        ];
        if !extra_args.contains(&"--token-issuer") {
            args.extend(["--token-issuer", TEST_ISSUER]);
        }
        if !extra_args.contains(&"--db-max-connections") {
            args.extend(["--db-max-connections", "4"]);
        }
        let config =
            Config::try_parse_from(args.iter().chain(extra_args)).expect("a valid test config");
        let app = App::build(Box::new(config)).await.expect("the app builds");
        let addr = app.local_addr();
        let metrics = app.metrics();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            database_url: url.to_owned(),
            http: reqwest::Client::new(),
            metrics,
            shutdown: Some(shutdown),
            _database: guard,
        }
    }

    /// A second server process on this one's database, as when several
    /// instances run behind a load balancer. It must drop before `self`.
    pub(crate) async fn another_instance(&self) -> TestApp {
        self.another_instance_with(&[]).await
    }

    /// `another_instance` with extra `serve` flags.
    pub(crate) async fn another_instance_with(&self, extra_args: &[&str]) -> TestApp {
        Self::spawn_with(&self.database_url, DbGuard::Borrowed, extra_args).await
    }

    /// A counter from `/metrics`.
    pub(crate) async fn metric(&self, name: &str) -> u64 {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("the server answers")
            .text()
            .await
            .expect("a text body");
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no counter {name} in {text}"))
    }

    /// The SQL the server ran for the requests `requests` sends, each
    /// statement's text in the order they finished: what
    /// `conduit_sql_statements_total` counts, kept by the server's own
    /// connection hook. Nothing else may use this app meanwhile.
    pub(crate) async fn statements_of<T>(
        &self,
        requests: impl Future<Output = T>,
    ) -> (Vec<String>, T) {
        self.metrics.log_statements();
        let _ = self.metrics.take_statements();
        let output = requests.await;
        (self.metrics.take_statements(), output)
    }

    pub(crate) fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs a GraphQL request and returns the whole JSON response. It
    /// sends no `Accept`, so the answer is `application/json`, 200 even
    /// for a request refused before execution (see `graphql_over_http`).
    pub(crate) async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .http
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        assert_eq!(response.status(), 200, "GraphQL requests answer 200");
        response.json().await.expect("a JSON body")
    }

    /// Like `gql`, asserting there are no errors; returns `data`.
    pub(crate) async fn gql_ok(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let response = self.gql(token, query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response:#}"
        );
        response["data"].clone()
    }

    /// Signs up `username` (email `<username>@example.com`, password
    /// `password-<username>`) and returns its token.
    /// Each field of the object type `name` with a selection that reads
    /// it: scalars (and lists of them) bare, a connection by its
    /// `totalCount`, other objects by `__typename`.
    pub(crate) async fn field_selections(&self, name: &str) -> Vec<(String, String)> {
        let data = self
            .gql_ok(
                None,
                "query($n: String!) { __type(name: $n) { fields { name type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }",
                json!({ "n": name }),
            )
            .await;
        let mut fields = Vec::new();
        for field in data["__type"]["fields"]
            .as_array()
            .expect("the type's fields")
        {
            let name = field["name"].as_str().expect("a name").to_owned();
            let mut inner = &field["type"];
            while matches!(inner["kind"].as_str(), Some("NON_NULL" | "LIST")) {
                inner = &inner["ofType"];
            }
            let selection = match (inner["kind"].as_str(), inner["name"].as_str()) {
                (Some("OBJECT"), Some(connection)) if connection.ends_with("Connection") => {
                    format!("{name} {{ totalCount }}")
                }
                (Some("OBJECT" | "INTERFACE"), _) => format!("{name} {{ __typename }}"),
                _ => name.clone(),
            };
            fields.push((name, selection));
        }
        fields
    }

    pub(crate) async fn sign_up(&self, username: &str) -> String {
        let data = self
            .gql_ok(
                None,
                "mutation($input: SignUpInput!) { signUp(input: $input) { token } }",
                json!({ "input": {
                    "username": username,
                    "email": format!("{username}@example.com"),
                    "password": format!("password-{username}"),
                }}),
            )
            .await;
        data["signUp"]["token"]
            .as_str()
            .expect("a token")
            .to_owned()
    }

    /// Tokens signed with the server's secret, for its deployment, with its
    /// default lifetime.
    pub(crate) fn tokens(&self) -> Tokens {
        Tokens::new(
            TEST_SECRET.as_bytes(),
            std::time::Duration::from_secs(24 * 3600),
            test_deployment(),
        )
    }

    /// Publishes an article titled `title` with `tags` as `token`'s user
    /// and returns its slug.
    pub(crate) async fn create_article(&self, token: &str, title: &str, tags: &[&str]) -> String {
        let data = self
            .gql_ok(
                Some(token),
                "mutation($input: CreateArticleInput!) { createArticle(input: $input) { slug } }",
                json!({ "input": {
                    "title": title,
                    "description": format!("About {title}"),
                    "body": format!("The body of {title}."),
                    "tags": tags,
                }}),
            )
            .await;
        data["createArticle"]["slug"]
            .as_str()
            .expect("a slug")
            .to_owned()
    }

    /// Publishes `titles` in order, in one request (mutations run one after
    /// another), and returns their slugs in the same order.
    pub(crate) async fn create_articles(&self, token: &str, titles: &[String]) -> Vec<String> {
        let fields: String = titles
            .iter()
            .enumerate()
            .map(|(i, title)| {
                format!(
                    "a{i}: createArticle(input: {{ title: {title}, description: \"d\", body: \"b\" }}) {{ slug }} ",
                    title = Value::String(title.clone())
                )
            })
            .collect();
        let data = self
            .gql_ok(Some(token), &format!("mutation {{ {fields}}}"), json!({}))
            .await;
        (0..titles.len())
            .map(|i| {
                data[format!("a{i}")]["slug"]
                    .as_str()
                    .expect("a slug")
                    .to_owned()
            })
            .collect()
    }

    /// Comments `body` on the article at `slug` as `token`'s user and
    /// returns the comment's id.
    pub(crate) async fn add_comment(&self, token: &str, slug: &str, body: &str) -> String {
        let data = self
            .gql_ok(
                Some(token),
                "mutation($slug: String!, $body: String!) { addComment(articleSlug: $slug, body: $body) { id } }",
                json!({ "slug": slug, "body": body }),
            )
            .await;
        data["addComment"]["id"].as_str().expect("an id").to_owned()
    }

    /// `token`'s user follows `username`.
    pub(crate) async fn follow(&self, token: &str, username: &str) {
        self.gql_ok(
            Some(token),
            "mutation($username: String!) { followUser(username: $username) { id } }",
            json!({ "username": username }),
        )
        .await;
    }

    /// `token`'s user favorites the article at `slug`.
    pub(crate) async fn favorite(&self, token: &str, slug: &str) {
        self.gql_ok(
            Some(token),
            "mutation($slug: String!) { favoriteArticle(slug: $slug) { id } }",
            json!({ "slug": slug }),
        )
        .await;
    }

    /// The global id of the article at `slug`.
    pub(crate) async fn article_id(&self, slug: &str) -> String {
        let data = self
            .gql_ok(
                None,
                "query($slug: String!) { article(slug: $slug) { id } }",
                json!({ "slug": slug }),
            )
            .await;
        data["article"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no article at {slug:?}"))
            .to_owned()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Sends a request built by hand and reads its JSON answer, whatever its
/// status.
pub(crate) async fn read_json(request: reqwest::RequestBuilder) -> Value {
    request
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("a JSON body")
}

/// The `extensions.code` of the first error.
pub(crate) fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code: {response:#}"))
}

/// The `extensions.fields` of the first error.
pub(crate) fn error_fields(response: &Value) -> &Value {
    &response["errors"][0]["extensions"]["fields"]
}

/// The slugs of a connection's nodes (selected as `nodes { slug }`).
pub(crate) fn slugs(connection: &Value) -> Vec<String> {
    connection["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("a connection with nodes: {connection:#}"))
        .iter()
        .map(|node| node["slug"].as_str().expect("a slug").to_owned())
        .collect()
}

enum DbGuard {
    /// Another instance's database: that instance cleans up.
    Borrowed,
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    // Held for its Drop, which drops the database.
    Postgres(#[allow(dead_code)] PostgresDatabase),
}
