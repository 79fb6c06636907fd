//! Email through a real SMTP server (tests/smtp/server.py, aiosmtpd):
//! password reset links that work once, nothing for unknown addresses,
//! notification mail for those who chose it, refusals not retried.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, error_fields};

/// The SMTP server of one test, stopped when dropped.
pub(crate) struct Smtp {
    port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Smtp {
    pub(crate) fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("a temp dir");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/server.py");
        // Debian's Python, where python3-aiosmtpd installs (a `python3`
        // earlier on the PATH may be another one).
        let python = if std::path::Path::new("/usr/bin/python3").exists() {
            "/usr/bin/python3"
        } else {
            "python3"
        };
        let mut child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs tests/smtp/server.py (apt install python3-aiosmtpd)");
        let mut line = String::new();
        use std::io::BufRead as _;
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the SMTP server starts");
        assert_eq!(line.trim(), "ready", "the SMTP server says it listens");
        Self { port, dir, child }
    }

    pub(crate) fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, oldest first.
    fn messages(&self) -> Vec<Value> {
        let mut paths: Vec<_> = std::fs::read_dir(self.dir.path())
            .expect("the mail dir")
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|path| serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
            .collect()
    }

    /// Waits (five seconds at most) for the messages to `address`.
    pub(crate) async fn wait_for(&self, address: &str, count: usize) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let to: Vec<Value> = self
                .messages()
                .into_iter()
                .filter(|message| {
                    message["rcpt"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r == address)
                })
                .collect();
            if to.len() >= count {
                return to;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "no mail for {address}: {:#?}",
                self.messages()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn app_with(smtp: &Smtp, postgres: bool, extra: &[&str]) -> Option<TestApp> {
    let url = smtp.url();
    let mut args = vec![
        "--smtp-url",
        url.as_str(),
        "--mail-from",
        "Conduit <no-reply@conduit.test>",
        "--password-reset-url",
        "https://app.conduit.test/reset",
        "--webhook-retry-ms",
        "100",
        "--worker-poll-ms",
        "100",
    ];
    args.extend(extra);
    if postgres {
        TestApp::spawn_postgres_with(&args).await
    } else {
        Some(TestApp::spawn_sqlite_with(&args).await)
    }
}

/// Waits until `/metrics` says `count` emails had `outcome`.
async fn wait_for_outcome(app: &TestApp, outcome: &str, count: u64) {
    let started = Instant::now();
    let line = format!("conduit_emails_total{{outcome=\"{outcome}\"}} {count}");
    loop {
        let metrics = app
            .http
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.lines().any(|l| l == line) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no {line}: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn token_in(message: &Value) -> String {
    let text = message["text"].as_str().expect("a plain-text part");
    let start = text
        .find("https://app.conduit.test/reset?token=")
        .expect("the link")
        + "https://app.conduit.test/reset?token=".len();
    text[start..].split_whitespace().next().unwrap().to_owned()
}

const REQUEST: &str = "mutation($e: String!) { requestPasswordReset(email: $e) }";
const RESET: &str = "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { token refreshToken user { username email } } }";
const VIEWER: &str = "{ viewer { username } }";

async fn a_reset_link_arrives_and_works_once(postgres: bool) {
    let smtp = Smtp::start();
    let Some(app) = app_with(&smtp, postgres, &[]).await else {
        return eprintln!("skipped: TEST_DATABASE_URL is not set");
    };
    let jane = app.sign_up("jane").await;
    let other_device = jane.clone();
    let asked = app
        .gql_ok(None, REQUEST, json!({ "e": "jane@example.com" }))
        .await;
    assert_eq!(asked["requestPasswordReset"], true);
    let mail = smtp.wait_for("jane@example.com", 1).await;
    assert_eq!(mail[0]["from"], "Conduit <no-reply@conduit.test>");
    assert!(mail[0]["subject"].as_str().unwrap().contains("password"));
    assert!(
        mail[0]["html"]
            .as_str()
            .unwrap()
            .contains("https://app.conduit.test/reset?token=")
    );
    let token = token_in(&mail[0]);

    // A password signUp would refuse does not use the token up.
    let weak = app
        .gql(None, RESET, json!({ "t": token, "p": "short" }))
        .await;
    assert_eq!(error_code(&weak), "BAD_USER_INPUT", "{weak:#}");
    assert!(error_fields(&weak)["newPassword"].is_array(), "{weak:#}");

    let reset = app
        .gql_ok(
            None,
            RESET,
            json!({ "t": token, "p": "a brand new password" }),
        )
        .await;
    let new_token = reset["resetPassword"]["token"].as_str().unwrap().to_owned();
    assert_eq!(reset["resetPassword"]["user"]["email"], "jane@example.com");
    // Every earlier session ended; the new one works; so does the password.
    let old = app.gql(Some(&other_device), VIEWER, json!({})).await;
    assert_eq!(error_code(&old), "UNAUTHENTICATED", "{old:#}");
    let now = app.gql_ok(Some(&new_token), VIEWER, json!({})).await;
    assert_eq!(now["viewer"]["username"], "jane");
    let signed_in = app
        .gql(None, "mutation { signIn(input: { email: \"jane@example.com\", password: \"a brand new password\" }) { token } }", json!({}))
        .await;
    assert!(signed_in.get("errors").is_none(), "{signed_in:#}");

    // Used once: refused after.
    let again = app
        .gql(
            None,
            RESET,
            json!({ "t": token, "p": "yet another password" }),
        )
        .await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT", "{again:#}");
    assert!(error_fields(&again)["token"].is_array(), "{again:#}");
    let wrong = app
        .gql(
            None,
            RESET,
            json!({ "t": "not-a-token", "p": "yet another password" }),
        )
        .await;
    assert!(error_fields(&wrong)["token"].is_array(), "{wrong:#}");
}

#[tokio::test]
async fn a_reset_link_arrives_and_works_once_on_sqlite() {
    a_reset_link_arrives_and_works_once(false).await;
}

#[tokio::test]
async fn a_reset_link_arrives_and_works_once_on_postgres() {
    a_reset_link_arrives_and_works_once(true).await;
}

async fn an_expired_link_and_an_unknown_address(postgres: bool) {
    let smtp = Smtp::start();
    let Some(app) = app_with(&smtp, postgres, &[]).await else {
        return eprintln!("skipped: TEST_DATABASE_URL is not set");
    };
    app.sign_up("jane").await;
    // An address no account has: the same answer, and nothing is sent.
    let unknown = app
        .gql_ok(None, REQUEST, json!({ "e": "nobody@example.com" }))
        .await;
    assert_eq!(unknown["requestPasswordReset"], true);
    wait_for_outcome(&app, "no_recipient", 1).await;
    assert!(smtp.messages().is_empty(), "{:#?}", smtp.messages());

    app.gql_ok(None, REQUEST, json!({ "e": "jane@example.com" }))
        .await;
    let token = token_in(&smtp.wait_for("jane@example.com", 1).await[0]);
    // An hour later (the clock moved in the database).
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    use sea_orm::ConnectionTrait as _;
    db.execute_unprepared("UPDATE password_resets SET expires_at = created_at")
        .await
        .unwrap();
    let expired = app
        .gql(
            None,
            RESET,
            json!({ "t": token, "p": "a brand new password" }),
        )
        .await;
    assert!(error_fields(&expired)["token"].is_array(), "{expired:#}");
}

#[tokio::test]
async fn an_expired_link_and_an_unknown_address_on_sqlite() {
    an_expired_link_and_an_unknown_address(false).await;
}

#[tokio::test]
async fn an_expired_link_and_an_unknown_address_on_postgres() {
    an_expired_link_and_an_unknown_address(true).await;
}

async fn notifications_are_emailed_to_those_who_chose_it(postgres: bool) {
    let smtp = Smtp::start();
    let Some(app) = app_with(&smtp, postgres, &[]).await else {
        return eprintln!("skipped: TEST_DATABASE_URL is not set");
    };
    let jane = app.sign_up("jane").await;
    let john = app.sign_up("john").await;
    let bob = app.sign_up("bob").await;
    let choice = app
        .gql_ok(
            Some(&jane),
            "mutation { updateViewer(input: { emailNotifications: true }) { emailNotifications } }",
            json!({}),
        )
        .await;
    assert_eq!(choice["updateViewer"]["emailNotifications"], true);
    // Private: null for everyone else, false by default for the owner.
    let seen = app
        .gql_ok(
            Some(&john),
            "{ user(username: \"jane\") { emailNotifications } viewer { emailNotifications } }",
            json!({}),
        )
        .await;
    assert!(seen["user"]["emailNotifications"].is_null(), "{seen:#}");
    assert_eq!(seen["viewer"]["emailNotifications"], false);

    app.follow(&bob, "jane").await;
    app.follow(&bob, "john").await;
    let slug = app.create_article(&jane, "Rust at Work", &[]).await;
    app.add_comment(&bob, &slug, "Great read").await;
    let mail = smtp.wait_for("jane@example.com", 2).await;
    let texts: Vec<&str> = mail.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("bob started following you")),
        "{texts:#?}"
    );
    assert!(
        texts.iter().any(
            |t| t.contains("bob commented on your article \"Rust at Work\"")
                && t.contains("Great read")
        ),
        "{texts:#?}"
    );
    // John did not choose email: his notification is in the app only.
    wait_for_outcome(&app, "sent", 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        smtp.messages()
            .iter()
            .all(|m| m["rcpt"][0] == "jane@example.com"),
        "{:#?}",
        smtp.messages()
    );
}

#[tokio::test]
async fn notifications_are_emailed_to_those_who_chose_it_on_sqlite() {
    notifications_are_emailed_to_those_who_chose_it(false).await;
}

#[tokio::test]
async fn notifications_are_emailed_to_those_who_chose_it_on_postgres() {
    notifications_are_emailed_to_those_who_chose_it(true).await;
}

/// A refused (bounced) message is counted and not retried; one deferred
/// (451) is retried until it runs out of attempts.
#[tokio::test]
async fn refused_mail_is_not_retried_and_deferred_mail_runs_out() {
    let smtp = Smtp::start();
    let app = app_with(&smtp, false, &["--webhook-max-attempts", "3"])
        .await
        .unwrap();
    for name in ["bounce", "defer"] {
        app.gql_ok(
            None,
            "mutation($i: SignUpInput!) { signUp(input: $i) { token } }",
            json!({ "i": { "username": name, "email": format!("{name}@example.com"), "password": "password-long" } }),
        )
        .await;
        app.gql_ok(None, REQUEST, json!({ "e": format!("{name}@example.com") }))
            .await;
    }
    wait_for_outcome(&app, "refused", 1).await;
    wait_for_outcome(&app, "retrying", 2).await;
    wait_for_outcome(&app, "failed", 1).await;
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    use sea_orm::ConnectionTrait as _;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT address, attempts FROM emails ORDER BY address",
        ))
        .await
        .unwrap();
    let attempts: Vec<(String, i32)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get("", "address").unwrap(),
                row.try_get("", "attempts").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            ("bounce@example.com".into(), 1),
            ("defer@example.com".into(), 3)
        ]
    );
    assert!(smtp.messages().is_empty());
}

/// Asking for resets is limited like signing in.
#[tokio::test]
async fn reset_requests_are_limited_per_address() {
    let smtp = Smtp::start();
    let app = app_with(&smtp, false, &["--sign-in-max-failures", "2"])
        .await
        .unwrap();
    for _ in 0..2 {
        let asked = app
            .gql_ok(None, REQUEST, json!({ "e": "someone@example.com" }))
            .await;
        assert_eq!(asked["requestPasswordReset"], true);
    }
    let response = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({ "query": REQUEST, "variables": { "e": "someone@example.com" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let limited: Value = response.json().await.unwrap();
    assert_eq!(error_code(&limited), "RATE_LIMITED", "{limited:#}");
    assert!(
        limited["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            > 0
    );
}

/// Without an SMTP server nothing is emailed, and asking still answers true.
#[tokio::test]
async fn without_smtp_nothing_is_sent() {
    let app = TestApp::spawn_sqlite_with(&[]).await;
    app.sign_up("jane").await;
    let asked = app
        .gql_ok(None, REQUEST, json!({ "e": "jane@example.com" }))
        .await;
    assert_eq!(asked["requestPasswordReset"], true);
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    use sea_orm::ConnectionTrait as _;
    let queued = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM emails",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(queued.try_get::<i64>("", "n").unwrap(), 0);
}
