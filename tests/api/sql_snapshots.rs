//! Every statement readable whole: the exact SQL the server runs for the
//! benchmark's reads (`../shared/peers/ops/*.graphql`, and bench/run.sh's
//! homepage with a viewer's token), its writes (`bench/writes/*.graphql`)
//! and every mutation of `schema.graphql`, one snapshot file per backend:
//! `tests/api/snapshots/sql_statements@sqlite.snap` and `@postgres.snap`.
//! The SQL is composed from named pieces in the source; here it reads as
//! the database receives it, and a change to any of it shows in review.
//!
//! Each request goes over HTTP to the real server; its statements are the
//! ones its database connections executed, as `conduit_sql_statements_total`
//! counts them (`Metrics::log_statements`): a mutation's in the order they
//! ran, a query's sorted (its loads of one level run side by side, so they
//! finish in an order that varies from run to run).
//! Regenerating both files after a change to the SQL is one command:
//!
//! ```sh
//! INSTA_UPDATE=always TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo test --test api sql_snapshots
//! ```
//!
//! (or, with cargo-insta, `cargo insta test --accept` with the same
//! variable; without `INSTA_UPDATE` a difference fails and leaves a
//! `.snap.new` beside the file for `cargo insta review`).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::email::{Smtp, token_in};
use crate::helpers::TestApp;
use crate::webhooks::{FAST, Receiver, create_webhook, settled_log};

const HOMEPAGE: &str = include_str!("../../../shared/peers/ops/homepage.graphql");
const ARTICLES: &str = include_str!("../../../shared/peers/ops/articles.graphql");
const ARTICLE: &str = include_str!("../../../shared/peers/ops/article.graphql");
const DEEP: &str = include_str!("../../../shared/peers/ops/deep.graphql");
const ADD_COMMENT: &str = include_str!("../../bench/writes/addComment.graphql");
const FAVORITE_ARTICLE: &str = include_str!("../../bench/writes/favoriteArticle.graphql");
const CREATE_ARTICLE: &str = include_str!("../../bench/writes/createArticle.graphql");
const SCHEMA: &str = include_str!("../../schema.graphql");

/// What the snapshot says of itself, above the statements.
const DESCRIPTION: &str = "The SQL each request runs (tests/api/sql_snapshots.rs): a mutation's \
in the order it ran, a query's in text order (its loads of one level run side by side). \
Shapes, not sizes: an IN list of placeholders reads IN (?, …) whatever its length, \
PostgreSQL's later placeholders renumbered to match, and a UNION ALL of identical arms \
(SQLite's first N per parent, an arm per parent) reads as its first arm and UNION ALL …. \
On SQLite a query's page per parent is one statement (the parent as `= ?`) run once for each \
parent, listed once as it is prepared once. \
Not seen by the connection hook, so not listed: the BEGIN and COMMIT around a write's \
statements, and on PostgreSQL the event bus's SELECT pg_notify($1, $2) of the writes that \
publish after their commit (those that publish in their transaction show it).";

/// `sql` as a shape, so that a batch of 3 parents and one of 30 read the
/// same: `placeholder_lists`, then a `UNION ALL` of identical arms (SQLite's
/// "first N per parent", one arm per parent) as its first arm and
/// `UNION ALL …`.
fn shape(sql: &str) -> String {
    let sql = placeholder_lists(sql);
    let arms: Vec<&str> = sql.split(" UNION ALL ").collect();
    if arms.len() > 1 && arms.iter().all(|arm| *arm == arms[0]) {
        format!("{} UNION ALL …", arms[0])
    } else {
        sql
    }
}

/// `sql` with each `IN (...)` list of placeholders becomes
/// `IN (<first>, …)`, and on PostgreSQL each placeholder after one is
/// renumbered as if the list had one element. Everything else is left
/// exactly as it was sent.
fn placeholder_lists(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut dropped = 0;
    let mut rest = sql;
    while let Some(ch) = rest.chars().next() {
        let word_start = !out.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        if word_start
            && rest.starts_with("IN (")
            && let Some((first, consumed, count)) = placeholder_list(&rest[4..])
        {
            out.push_str("IN (");
            out.push_str(&renumbered(first, dropped));
            out.push_str(", …)");
            dropped += count - 1;
            rest = &rest[4 + consumed..];
        } else if let Some(number) = placeholder_number(rest) {
            out.push_str(&renumbered(&rest[..=number.len()], dropped));
            rest = &rest[1 + number.len()..];
        } else {
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
    }
    out
}

/// The digits of a `$N` placeholder at the start of `s`.
fn placeholder_number(s: &str) -> Option<&str> {
    let digits = s.strip_prefix('$')?;
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    (end > 0).then(|| &digits[..end])
}

/// `s` starting with `p, p, ..., p)` where each `p` is `?` or `$N`: the
/// first placeholder, the length up to and with the `)`, and how many.
fn placeholder_list(s: &str) -> Option<(&str, usize, usize)> {
    let mut at = 0;
    let mut first = None;
    let mut count = 0;
    loop {
        let rest = &s[at..];
        let len = if rest.starts_with('?') {
            1
        } else {
            1 + placeholder_number(rest)?.len()
        };
        first.get_or_insert(&rest[..len]);
        count += 1;
        at += len;
        if s[at..].starts_with(", ") {
            at += 2;
        } else if s[at..].starts_with(')') {
            return Some((first.expect("one read"), at + 1, count));
        } else {
            return None;
        }
    }
}

/// A placeholder with `dropped` fewer before it.
fn renumbered(placeholder: &str, dropped: usize) -> String {
    match placeholder.strip_prefix('$') {
        Some(number) => {
            let n: usize = number.parse().expect("BUG: digits");
            format!("${}", n - dropped)
        }
        None => placeholder.to_owned(),
    }
}

/// The statements of each request, in the order they were sent, as the
/// snapshot prints them.
struct Report {
    app: TestApp,
    text: String,
    mutations: BTreeSet<String>,
}

impl Report {
    /// Runs one query as `token`'s user, asserting it had no errors, and
    /// writes down its statements under `title`, in text order: a query's
    /// loads of one level run side by side and finish in any order.
    async fn query(
        &mut self,
        title: &str,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Value {
        let (mut statements, data) = self
            .app
            .statements_of(self.app.gql_ok(token, query, variables))
            .await;
        statements.sort();
        self.write(title, &statements);
        data
    }

    /// Writes down `statements` as the section `title`.
    fn write(&mut self, title: &str, statements: &[String]) {
        assert!(!statements.is_empty(), "{title} ran no SQL at all");
        self.text.push_str(&format!(
            "## {title}: {} statement{}\n\n",
            statements.len(),
            if statements.len() == 1 { "" } else { "s" }
        ));
        for statement in statements {
            self.text.push_str(&shape(statement));
            self.text.push_str(";\n");
        }
        self.text.push('\n');
    }

    /// Runs one mutation as `token`'s user, asserting it had no errors,
    /// and writes down its statements in the order they ran (one after
    /// another, in its transaction and then for its answer, whose
    /// selections here load one relation at a time). Answers the field.
    async fn mutation(
        &mut self,
        field: &str,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Value {
        let (statements, data) = self
            .app
            .statements_of(self.app.gql_ok(token, query, variables))
            .await;
        self.mutations.insert(field.to_owned());
        self.write(&format!("mutation {field}"), &statements);
        data[field].clone()
    }
}

/// The fields of `type Mutation` in `schema.graphql`.
fn schema_mutations() -> BTreeSet<String> {
    let body = SCHEMA
        .split_once("type Mutation {")
        .expect("schema.graphql has a Mutation type")
        .1
        .split_once("\n}")
        .expect("the Mutation type ends")
        .0;
    let mut in_description = false;
    body.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.starts_with("\"\"\"") {
                in_description = !(in_description || line.len() > 3 && line.ends_with("\"\"\""));
                return None;
            }
            if in_description || line.is_empty() {
                return None;
            }
            let end = line.find(['(', ':'])?;
            Some(line[..end].to_owned())
        })
        .collect()
}

async fn every_statement_of_the_benchmark_and_of_each_mutation(postgres: bool) {
    // Arrange: a server with a worker (notifications and webhook deliveries
    // come from it, on a pool of its own that the log does not see), mail,
    // and a webhook receiver on loopback.
    let smtp = Smtp::start();
    let receiver = Receiver::start().await;
    let smtp_url = smtp.url();
    let mut args = FAST.to_vec();
    args.extend([
        "--smtp-url",
        &smtp_url,
        "--mail-from",
        "Conduit <no-reply@conduit.test>",
        "--password-reset-url",
        "https://app.conduit.test/reset",
    ]);
    let app = if postgres {
        match TestApp::spawn_postgres_with(&args).await {
            Some(app) => app,
            None => return eprintln!("skipped: TEST_DATABASE_URL is not set"),
        }
    } else {
        TestApp::spawn_sqlite_with(&args).await
    };
    let jane = app.sign_up("jane").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    for (token, whom) in [
        (&bob, "jane"),
        (&carol, "jane"),
        (&carol, "bob"),
        (&jane, "bob"),
    ] {
        app.follow(token, whom).await;
    }
    let mut slugs = Vec::new();
    for i in 0..12 {
        let author = if i % 2 == 0 { &jane } else { &bob };
        let topic = format!("topic{}", i % 3);
        let slug = app
            .create_article(author, &format!("Article number {i}"), &[&topic, "common"])
            .await;
        if i % 2 == 0 {
            app.add_comment(&carol, &slug, "Nice").await;
            app.add_comment(&bob, &slug, "Agreed").await;
        }
        if i % 3 == 0 {
            app.favorite(&carol, &slug).await;
        }
        slugs.push(slug);
    }
    let doomed = app.create_article(&jane, "To be deleted", &[]).await;
    let mut report = Report {
        app,
        text: String::new(),
        mutations: BTreeSet::new(),
    };

    // Act: the benchmark's reads ...
    report
        .query("homepage (peers/ops), anonymous", None, HOMEPAGE, json!({}))
        .await;
    report
        .query(
            "homepage (peers/ops), with a viewer's token (bench/run.sh)",
            Some(&carol),
            HOMEPAGE,
            json!({}),
        )
        .await;
    report
        .query("articles (peers/ops), anonymous", None, ARTICLES, json!({}))
        .await;
    let article = ARTICLE.replace("ARTICLE_SLUG", &slugs[0]);
    let read = report
        .query("article (peers/ops), anonymous", None, &article, json!({}))
        .await;
    assert_eq!(
        read["article"]["comments"]["totalCount"], 2,
        "the article with comments"
    );
    report
        .query("deep (peers/ops), anonymous", None, DEEP, json!({}))
        .await;

    // ... its writes (bench/writes/), by a reader on someone else's
    // article, so each queues its notification job in the outbox ...
    let comment = report
        .mutation(
            "addComment",
            Some(&carol),
            ADD_COMMENT,
            json!({ "s": slugs[0] }),
        )
        .await;
    let favorited = report
        .mutation(
            "favoriteArticle",
            Some(&carol),
            FAVORITE_ARTICLE,
            json!({ "s": slugs[1] }),
        )
        .await;
    assert_eq!(favorited["favoritedByViewer"], true);
    report
        .mutation(
            "createArticle",
            Some(&carol),
            CREATE_ARTICLE,
            json!({ "title": "A benchmark article 1" }),
        )
        .await;

    // ... and every other mutation.
    let dave = report
        .mutation(
            "signUp",
            None,
            "mutation($input: SignUpInput!) { signUp(input: $input) { token refreshToken tokenExpiresAt user { username } } }",
            json!({ "input": { "username": "dave", "email": "dave@example.com", "password": "password-dave" } }),
        )
        .await;
    let second_device = report
        .mutation(
            "signIn",
            None,
            "mutation { signIn(input: { email: \"dave@example.com\", password: \"password-dave\" }) { token user { username } } }",
            json!({}),
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let dave_token = dave["token"].as_str().unwrap();
    report
        .mutation(
            "updateViewer",
            Some(dave_token),
            "mutation { updateViewer(input: { bio: \"Writes benchmarks.\", emailNotifications: true }) { username bio } }",
            json!({}),
        )
        .await;
    let follow = "mutation($u: String!) { followUser(username: $u) { username followedByViewer followersCount } }";
    report
        .mutation(
            "followUser",
            Some(dave_token),
            follow,
            json!({ "u": "jane" }),
        )
        .await;
    report
        .mutation(
            "unfollowUser",
            Some(dave_token),
            "mutation($u: String!) { unfollowUser(username: $u) { username followedByViewer followersCount } }",
            json!({ "u": "jane" }),
        )
        .await;
    let refreshed = report
        .mutation(
            "refreshSession",
            None,
            "mutation($r: String!) { refreshSession(refreshToken: $r) { token refreshToken } }",
            json!({ "r": dave["refreshToken"] }),
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    report
        .mutation(
            "requestPasswordReset",
            None,
            "mutation($e: String!) { requestPasswordReset(email: $e) }",
            json!({ "e": "bob@example.com" }),
        )
        .await;
    let mail = smtp.wait_for("bob@example.com", 1).await;
    report
        .mutation(
            "resetPassword",
            None,
            "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { token user { username } } }",
            json!({ "t": token_in(&mail[0]), "p": "a brand new password" }),
        )
        .await;
    report
        .mutation(
            "signOut",
            Some(&second_device),
            "mutation { signOut }",
            json!({}),
        )
        .await;
    report
        .mutation(
            "endSessions",
            Some(&refreshed),
            "mutation { endSessions(id: null) }",
            json!({}),
        )
        .await;
    report
        .mutation(
            "updateArticle",
            Some(&jane),
            "mutation($s: String!) { updateArticle(slug: $s, input: { body: \"Updated.\", tags: [\"common\", \"updated\"] }) { slug tags updatedAt } }",
            json!({ "s": slugs[0] }),
        )
        .await;
    report
        .mutation(
            "deleteArticle",
            Some(&jane),
            "mutation($s: String!) { deleteArticle(slug: $s) }",
            json!({ "s": doomed }),
        )
        .await;
    report
        .mutation(
            "unfavoriteArticle",
            Some(&carol),
            "mutation($s: String!) { unfavoriteArticle(slug: $s) { id favoritesCount favoritedByViewer } }",
            json!({ "s": slugs[1] }),
        )
        .await;
    report
        .mutation(
            "deleteComment",
            Some(&carol),
            "mutation($id: ID!) { deleteComment(id: $id) }",
            json!({ "id": comment["id"] }),
        )
        .await;
    // Jane has notifications to mark once the worker wrote them.
    let unread = "{ notifications(unreadOnly: true) { totalCount } }";
    for _ in 0..600 {
        let data = report.app.gql_ok(Some(&jane), unread, json!({})).await;
        if data["notifications"]["totalCount"].as_i64() > Some(0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let marked = report
        .mutation(
            "markNotificationsRead",
            Some(&jane),
            "mutation { markNotificationsRead(ids: null) }",
            json!({}),
        )
        .await;
    assert!(
        marked.as_i64() > Some(0),
        "notifications were marked: {marked}"
    );
    let url = receiver.url("/ok");
    let (statements, (webhook, _)) = report
        .app
        .statements_of(create_webhook(&report.app, &jane, &url, &["USER_FOLLOWED"]))
        .await;
    report.mutations.insert("createWebhook".to_owned());
    report.write("mutation createWebhook", &statements);
    report
        .mutation(
            "updateWebhook",
            Some(&jane),
            "mutation($id: ID!) { updateWebhook(id: $id, input: { active: true, events: [USER_FOLLOWED, COMMENT_ADDED] }) { id events active } }",
            json!({ "id": webhook }),
        )
        .await;
    report.app.follow(&refreshed, "jane").await;
    let log = settled_log(&report.app, &jane, 1).await;
    assert_eq!(log[0]["status"], "SUCCEEDED", "{log:#?}");
    report
        .mutation(
            "redeliverWebhook",
            Some(&jane),
            "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id status } }",
            json!({ "id": log[0]["id"] }),
        )
        .await;
    report
        .mutation(
            "deleteWebhook",
            Some(&jane),
            "mutation($id: ID!) { deleteWebhook(id: $id) }",
            json!({ "id": webhook }),
        )
        .await;

    // Assert: every mutation of the schema has its statements here ...
    assert_eq!(
        report.mutations,
        schema_mutations(),
        "a mutation without a snapshot section"
    );
    // ... and they are what the snapshot says.
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_suffix(if postgres { "postgres" } else { "sqlite" });
    settings.set_description(DESCRIPTION);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!("sql_statements", report.text));
}

#[tokio::test]
async fn every_statement_of_the_benchmark_and_of_each_mutation_on_sqlite() {
    every_statement_of_the_benchmark_and_of_each_mutation(false).await;
}

#[tokio::test]
async fn every_statement_of_the_benchmark_and_of_each_mutation_on_postgres() {
    every_statement_of_the_benchmark_and_of_each_mutation(true).await;
}

#[test]
fn a_shape_reads_the_same_for_any_number_of_ids() {
    assert_eq!(
        shape("SELECT a FROM t WHERE id IN (?, ?, ?) AND x = ?"),
        "SELECT a FROM t WHERE id IN (?, …) AND x = ?"
    );
    assert_eq!(
        shape("SELECT a FROM t WHERE id IN ($1) AND x = $2"),
        shape("SELECT a FROM t WHERE id IN ($1, $2, $3) AND x = $4"),
    );
    assert_eq!(
        shape("SELECT a FROM t WHERE y = $1 AND id IN ($2, $3) AND x = $4 LIMIT $5"),
        "SELECT a FROM t WHERE y = $1 AND id IN ($2, …) AND x = $3 LIMIT $4"
    );
    let arm = "SELECT * FROM (SELECT a FROM t WHERE p = ? LIMIT 5)";
    assert_eq!(
        shape(&[arm; 3].join(" UNION ALL ")),
        format!("{arm} UNION ALL …")
    );
    assert_eq!(
        shape(&[arm; 2].join(" UNION ALL ")),
        shape(&[arm; 7].join(" UNION ALL "))
    );
    // Only placeholder lists and identical arms: a subquery, a JOIN, an array stay as sent.
    for sql in [
        "SELECT a FROM t WHERE id IN (SELECT b FROM u WHERE c = ?)",
        "SELECT a FROM t JOIN (VALUES ($1)) v ON true",
        "SELECT a FROM t WHERE id = ANY($1::bigint[]) AND x = $2",
        "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)",
        "SELECT a FROM t WHERE p = ? UNION ALL SELECT b FROM u WHERE q = ?",
    ] {
        assert_eq!(shape(sql), sql);
    }
}

#[test]
fn every_mutation_of_the_schema_is_found() {
    let mutations = schema_mutations();
    assert!(
        mutations.contains("signUp") && mutations.contains("redeliverWebhook"),
        "{mutations:?}"
    );
    assert_eq!(mutations.len(), 22, "{mutations:?}");
}
