//! The real binary as a child process: for what an in-process server cannot
//! show (a crash, a SIGKILL, the resident memory of the server alone).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::announced_address;
use crate::helpers::TEST_SECRET;
use crate::postgres_database::PostgresDatabase;

/// The real binary, serving on a free port of its own (see
/// `announced_address`).
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
}

/// Where a child server keeps its data, dropped after the server.
pub(crate) enum Data {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] PostgresDatabase),
}

impl Data {
    /// A fresh SQLite file, or (`postgres`) a fresh PostgreSQL database
    /// when `TEST_DATABASE_URL` is set; with its URL.
    pub(crate) async fn fresh(postgres: bool) -> Option<(Self, String)> {
        if postgres {
            let database = PostgresDatabase::create().await?;
            let url = database.url.clone();
            return Some((Data::Postgres(database), url));
        }
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        Some((Data::Sqlite(dir), url))
    }
}

impl Server {
    pub(crate) async fn start(database_url: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_conduit-gateway"))
            .args(["serve", "--database-url", database_url])
            .args(announced_address::FLAGS)
            .env("RUST_LOG", announced_address::LOG_FILTER)
            .args(["--jwt-secret", TEST_SECRET])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let log = child.stderr.take().expect("a piped standard error");
        let address = announced_address::await_address(log).await;
        let server = Self {
            child,
            url: format!("http://{address}"),
        };
        for _ in 0..400 {
            if server.alive().await {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server never answered");
    }

    /// Whether `/healthz` answers 200 (and the process has not exited).
    pub(crate) async fn alive(&self) -> bool {
        reqwest::get(format!("{}/healthz", self.url))
            .await
            .is_ok_and(|response| response.status() == 200)
    }

    /// The server's resident memory, from `/proc/<pid>/status`.
    pub(crate) fn resident_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server process is running");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line")
    }

    /// A GraphQL request's whole answer.
    pub(crate) async fn post(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = reqwest::Client::new()
            .post(format!("{}/graphql", self.url))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    /// `data` of a request that must succeed.
    pub(crate) async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let body = self.post(token, query, variables).await;
        assert!(body.get("errors").is_none(), "{body:#}");
        body["data"].clone()
    }

    /// Signs `name` up and returns the token.
    pub(crate) async fn sign_up(&self, name: &str) -> String {
        let data = self
            .gql(
                None,
                "mutation($i: SignUpInput!) { signUp(input: $i) { token } }",
                json!({ "i": { "username": name, "email": format!("{name}@example.com"), "password": "password-1" } }),
            )
            .await;
        data["signUp"]["token"].as_str().unwrap().to_owned()
    }

    /// What `/readyz` says, the outbox's state included.
    pub(crate) async fn readiness(&self) -> Value {
        reqwest::get(format!("{}/readyz", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// SIGKILL: no shutdown, no draining, nothing flushed.
    pub(crate) fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the process ends");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
