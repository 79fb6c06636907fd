//! `conduit-gateway seed` and `serve --demo`, run as the built binary against
//! a fresh SQLite file, and against a fresh PostgreSQL database too when
//! `TEST_DATABASE_URL` names a server where the user may create databases.

use std::process::{Output, Stdio};
use std::time::Duration;

use chrono::{DateTime, Timelike as _, Utc};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, QueryResult, Statement};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

#[path = "common/announced_address.rs"]
mod announced_address;
#[path = "common/postgres_database.rs"]
mod postgres_database;
use postgres_database::PostgresDatabase;

const BIN: &str = env!("CARGO_BIN_EXE_conduit-gateway");
const SECRET: &str = "seed-test-secret-seed-test-secret!!";

/// Small, but enough for every kind of row and some skew.
const USERS: i64 = 60;
const ARTICLES: i64 = 150;
const COMMENTS: i64 = 900;
const FAVORITES: i64 = 700;
const FOLLOWS: i64 = 500;
const TAGS: i64 = 25;

/// A database of the test's own, removed when dropped.
struct TestDb {
    url: String,
    // Held for its Drop: it removes the database.
    _guard: Guard,
}

enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    // Held for its Drop, which drops the database.
    Postgres(#[allow(dead_code)] PostgresDatabase),
}

impl TestDb {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("seed.db").display());
        Self {
            url,
            _guard: Guard::Sqlite(dir),
        }
    }

    /// None (and a note on stderr) when `TEST_DATABASE_URL` is unset.
    async fn postgres() -> Option<Self> {
        let Some(database) = PostgresDatabase::create().await else {
            eprintln!("skipped: TEST_DATABASE_URL is not set");
            return None;
        };
        Some(Self {
            url: database.url.clone(),
            _guard: Guard::Postgres(database),
        })
    }

    async fn connect(&self) -> DatabaseConnection {
        Database::connect(&self.url)
            .await
            .expect("connect to the test database")
    }

    /// Runs `conduit-gateway seed` with the test sizes and `--seed seed`.
    async fn seed(&self, seed: u64) -> Output {
        let sizes = [
            ("--users", USERS),
            ("--articles", ARTICLES),
            ("--comments", COMMENTS),
            ("--favorites", FAVORITES),
            ("--follows", FOLLOWS),
            ("--tags", TAGS),
        ];
        let mut command = Command::new(BIN);
        command
            .args([
                "seed",
                "--database-url",
                &self.url,
                "--seed",
                &seed.to_string(),
            ])
            .args(
                sizes
                    .iter()
                    .flat_map(|(flag, n)| [flag.to_string(), n.to_string()]),
            );
        command.output().await.expect("the binary runs")
    }

    async fn seed_ok(&self, seed: u64) {
        let output = self.seed(seed).await;
        assert!(
            output.status.success(),
            "seed failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<QueryResult> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
}

async fn number(db: &DatabaseConnection, sql: &str) -> i64 {
    rows(db, sql).await[0]
        .try_get_by_index::<i64>(0)
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
}

fn time(row: &QueryResult, index: usize) -> DateTime<Utc> {
    row.try_get_by_index::<DateTime<Utc>>(index)
        .expect("a timestamp")
}

/// The server binary, killed when dropped.
struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Server {
    async fn start(database_url: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(["serve", "--database-url", database_url])
            .args(announced_address::FLAGS)
            .env("RUST_LOG", announced_address::LOG_FILTER)
            .args(["--jwt-secret", SECRET])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
        // tokio's pipe, as the blocking reader the log thread wants.
        let log = child
            .stderr
            .take()
            .expect("a piped standard error")
            .into_owned_fd()
            .expect("the pipe's descriptor");
        let address = announced_address::await_address(std::fs::File::from(log)).await;
        let base = format!("http://{address}");
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if let Some(status) = child.try_wait().expect("the child's status") {
                panic!("the server exited early with {status}");
            }
            let healthy = http
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if healthy {
                return Self { child, base, http };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server did not answer /healthz within 30 s");
    }

    async fn gql(&self, query: &str, variables: Value) -> Value {
        self.http
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("the server answers")
            .json()
            .await
            .expect("a JSON body")
    }

    async fn stop(mut self) {
        self.child.kill().await.ok();
    }
}

async fn table_counts(db: &DatabaseConnection) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "users",
        "tags",
        "articles",
        "article_tags",
        "follows",
        "favorites",
        "comments",
    ] {
        counts.push(number(db, &format!("SELECT COUNT(*) FROM {table}")).await);
    }
    counts
}

/// Every check on a seeded database that does not depend on the backend.
async fn check_seeded(db: &DatabaseConnection) {
    let counts = table_counts(db).await;
    assert_eq!(
        [
            counts[0], counts[1], counts[2], counts[4], counts[5], counts[6]
        ],
        [USERS, TAGS, ARTICLES, FOLLOWS, FAVORITES, COMMENTS],
        "users, tags, articles, follows, favorites, comments"
    );

    // Every counter equals what it counts.
    for (what, sql) in [
        (
            "users.followers_count",
            "SELECT COUNT(*) FROM users u WHERE u.followers_count <> \
             (SELECT COUNT(*) FROM follows f WHERE f.followee_id = u.id)",
        ),
        (
            "users.following_count",
            "SELECT COUNT(*) FROM users u WHERE u.following_count <> \
             (SELECT COUNT(*) FROM follows f WHERE f.follower_id = u.id)",
        ),
        (
            "articles.favorites_count",
            "SELECT COUNT(*) FROM articles a WHERE a.favorites_count <> \
             (SELECT COUNT(*) FROM favorites f WHERE f.article_id = a.id)",
        ),
        (
            "articles.comments_count",
            "SELECT COUNT(*) FROM articles a WHERE a.comments_count <> \
             (SELECT COUNT(*) FROM comments c WHERE c.article_id = a.id)",
        ),
        (
            "tags.articles_count",
            "SELECT COUNT(*) FROM tags t WHERE t.articles_count <> \
             (SELECT COUNT(*) FROM article_tags x WHERE x.tag_id = t.id)",
        ),
        (
            "totals.articles",
            "SELECT COUNT(*) FROM totals WHERE name = 'articles' \
             AND value <> (SELECT COUNT(*) FROM articles)",
        ),
        (
            "self-follows",
            "SELECT COUNT(*) FROM follows WHERE follower_id = followee_id",
        ),
    ] {
        assert_eq!(number(db, sql).await, 0, "rows where {what} is wrong");
    }
    assert!(
        number(db, "SELECT MAX(followers_count) FROM users").await > 0,
        "some users have followers"
    );

    // 1 to 5 tags per article, at positions 0, 1, ... in order.
    let tagging = rows(
        db,
        "SELECT article_id, COUNT(*), COUNT(DISTINCT position), MIN(position), MAX(position) \
         FROM article_tags GROUP BY article_id",
    )
    .await;
    assert_eq!(tagging.len() as i64, ARTICLES, "every article has tags");
    for row in &tagging {
        let n = row.try_get_by_index::<i64>(1).expect("a count");
        let distinct = row.try_get_by_index::<i64>(2).expect("a count");
        let min = row.try_get_by_index::<i32>(3).expect("a position");
        let max = row.try_get_by_index::<i32>(4).expect("a position");
        assert!((1..=5).contains(&n), "{n} tags on an article");
        assert_eq!((distinct, min, i64::from(max)), (n, 0, n - 1));
    }
    // Each article's copy of its tag names is its links, in order.
    let mut linked: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
    for row in rows(
        db,
        "SELECT x.article_id, t.name FROM article_tags x JOIN tags t ON t.id = x.tag_id \
         ORDER BY x.article_id, x.position",
    )
    .await
    {
        let article: i64 = row.try_get_by_index(0).expect("an id");
        linked
            .entry(article)
            .or_default()
            .push(row.try_get_by_index(1).expect("a name"));
    }
    for row in rows(db, "SELECT id, tag_list FROM articles").await {
        let id: i64 = row.try_get_by_index(0).expect("an id");
        let list: String = row.try_get_by_index(1).expect("a tag list");
        let names: Vec<String> = serde_json::from_str(&list).expect("a JSON list");
        assert_eq!(names, linked[&id], "article {id}'s tag_list");
    }

    // Names, emails and slugs follow the app's rules.
    for row in rows(db, "SELECT username, email FROM users").await {
        let username: String = row.try_get_by_index(0).expect("a username");
        let email: String = row.try_get_by_index(1).expect("an email");
        assert!(
            (1..=32).contains(&username.chars().count())
                && username
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-'),
            "{username:?} breaks the username rule"
        );
        assert_eq!(email, format!("{username}@example.com"));
    }
    for row in rows(db, "SELECT id, slug, title, body FROM articles").await {
        let id: i64 = row.try_get_by_index(0).expect("an id");
        let slug: String = row.try_get_by_index(1).expect("a slug");
        let title: String = row.try_get_by_index(2).expect("a title");
        let body: String = row.try_get_by_index(3).expect("a body");
        let base = conduit_gateway::domain::slugs::base(&title);
        assert_eq!(slug, format!("{base}-{id}"));
        assert!(
            (1_500..3_000).contains(&body.len()),
            "a {} byte body",
            body.len()
        );
    }

    // Time runs forward, in whole microseconds.
    let mut times = Vec::new();
    for (sql, must_follow) in [
        ("SELECT created_at, updated_at FROM users", false),
        ("SELECT created_at, updated_at FROM articles", false),
        ("SELECT created_at, updated_at FROM comments", false),
        (
            "SELECT a.created_at, c.created_at FROM comments c JOIN articles a ON a.id = c.article_id",
            true,
        ),
        (
            "SELECT a.created_at, f.created_at FROM favorites f JOIN articles a ON a.id = f.article_id",
            true,
        ),
        (
            "SELECT u.created_at, a.created_at FROM articles a JOIN users u ON u.id = a.author_id",
            true,
        ),
    ] {
        for row in rows(db, sql).await {
            let (first, second) = (time(&row, 0), time(&row, 1));
            assert!(
                if must_follow {
                    second > first
                } else {
                    second >= first
                },
                "{sql}: {first} then {second}"
            );
            times.extend([first, second]);
        }
    }
    assert!(times.iter().all(|t| t.nanosecond() % 1_000 == 0));
    let (oldest, newest) = (
        times.iter().min().expect("times"),
        times.iter().max().expect("times"),
    );
    assert!(*newest <= Utc::now());
    assert!(
        (*newest - *oldest).num_days() > 180,
        "spread over months, not {oldest}..{newest}"
    );
}

/// A fingerprint of every seeded row, in a fixed order, read through typed
/// values so that SQLite and PostgreSQL can be compared too.
async fn fingerprint(db: &DatabaseConnection) -> (usize, u64) {
    use std::fmt::Write as _;
    // (query, kind of each column): i = integer, s = text, o = optional text, t = time.
    let queries = [
        (
            "SELECT id, username, email, bio, image, followers_count, following_count, created_at, updated_at FROM users ORDER BY id",
            "issooiitt",
        ),
        (
            "SELECT id, name, articles_count FROM tags ORDER BY id",
            "isi",
        ),
        (
            "SELECT id, slug, title, description, body, author_id, favorites_count, comments_count, created_at, updated_at FROM articles ORDER BY id",
            "issssiiitt",
        ),
        (
            "SELECT article_id, tag_id, position FROM article_tags ORDER BY article_id, position",
            "iii",
        ),
        (
            "SELECT follower_id, followee_id, created_at FROM follows ORDER BY follower_id, followee_id",
            "iit",
        ),
        (
            "SELECT user_id, article_id, created_at FROM favorites ORDER BY user_id, article_id",
            "iit",
        ),
        (
            "SELECT id, article_id, author_id, body, created_at, updated_at FROM comments ORDER BY id",
            "iiistt",
        ),
    ];
    let mut text = String::new();
    for (sql, kinds) in queries {
        for row in rows(db, sql).await {
            for (index, kind) in kinds.chars().enumerate() {
                let value = match kind {
                    'i' => row
                        .try_get_by_index::<i64>(index)
                        .map(|v| v.to_string())
                        // `position` is a 32-bit column.
                        .or_else(|_| row.try_get_by_index::<i32>(index).map(|v| v.to_string())),
                    's' => row.try_get_by_index::<String>(index),
                    'o' => row
                        .try_get_by_index::<Option<String>>(index)
                        .map(|v| v.unwrap_or_else(|| "<null>".into())),
                    _ => row
                        .try_get_by_index::<DateTime<Utc>>(index)
                        .map(|v| v.to_rfc3339()),
                }
                .unwrap_or_else(|error| panic!("{sql}, column {index}: {error}"));
                write!(text, "{value}\u{1f}").expect("writing to a String");
            }
            text.push('\u{1e}');
        }
    }
    // FNV-1a: a stable 64-bit hash, unlike std's randomly seeded one.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    (text.len(), hash)
}

#[tokio::test]
async fn seeding_sqlite_writes_the_rows_asked_for_with_every_counter_true() {
    let db = TestDb::sqlite();
    db.seed_ok(42).await;
    check_seeded(&db.connect().await).await;
}

#[tokio::test]
async fn seeding_postgres_writes_the_rows_asked_for_with_every_counter_true() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    db.seed_ok(42).await;
    check_seeded(&db.connect().await).await;
}

#[tokio::test]
async fn the_same_seed_writes_the_same_rows_and_another_seed_does_not() {
    let (first, second, other) = (TestDb::sqlite(), TestDb::sqlite(), TestDb::sqlite());
    first.seed_ok(42).await;
    second.seed_ok(42).await;
    other.seed_ok(7).await;
    let first = fingerprint(&first.connect().await).await;
    assert!(first.0 > 100_000, "the fingerprint covers the content");
    assert_eq!(first, fingerprint(&second.connect().await).await);
    assert_ne!(first, fingerprint(&other.connect().await).await);
}

#[tokio::test]
async fn postgres_gets_the_same_rows_as_sqlite_from_the_same_seed() {
    let Some(postgres) = TestDb::postgres().await else {
        return;
    };
    let sqlite = TestDb::sqlite();
    sqlite.seed_ok(42).await;
    postgres.seed_ok(42).await;
    assert_eq!(
        fingerprint(&sqlite.connect().await).await,
        fingerprint(&postgres.connect().await).await
    );
}

#[tokio::test]
async fn seeding_a_database_that_has_users_fails_and_says_to_use_a_fresh_one() {
    let db = TestDb::sqlite();
    db.seed_ok(42).await;
    let conn = db.connect().await;
    let before = table_counts(&conn).await;
    let output = db.seed(42).await;
    assert!(!output.status.success(), "a second seed must fail");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("already has users") && stderr.contains("fresh"),
        "unclear message: {stderr}"
    );
    assert_eq!(table_counts(&conn).await, before, "nothing was added");
}

/// Signs in as the first seeded user, then signs up someone new: on
/// PostgreSQL that insert needs the id sequence moved past the seeded ids.
async fn seeded_users_sign_in_and_new_ones_sign_up(db: TestDb) {
    db.seed_ok(42).await;
    let conn = db.connect().await;
    let email: String = rows(&conn, "SELECT email FROM users ORDER BY id LIMIT 1").await[0]
        .try_get_by_index(0)
        .expect("an email");
    let server = Server::start(&db.url, &[]).await;
    let response = server
        .gql(
            "mutation($email: String!, $password: String!) { signIn(input: {email: $email, password: $password}) { token user { email } } }",
            json!({ "email": email, "password": conduit_gateway::seed::DEMO_PASSWORD }),
        )
        .await;
    assert!(
        response["data"]["signIn"]["token"].is_string(),
        "sign-in failed: {response:#}"
    );
    let response = server
        .gql(
            "mutation { signUp(input: {username: \"newcomer\", email: \"newcomer@example.com\", password: \"correct horse\"}) { user { username } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        response["data"]["signUp"]["user"]["username"], "newcomer",
        "sign-up after seeding failed: {response:#}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_seeded_sqlite_user_signs_in_with_the_demo_password() {
    seeded_users_sign_in_and_new_ones_sign_up(TestDb::sqlite()).await;
}

#[tokio::test]
async fn a_seeded_postgres_user_signs_in_with_the_demo_password() {
    if let Some(db) = TestDb::postgres().await {
        seeded_users_sign_in_and_new_ones_sign_up(db).await;
    }
}

async fn demo_fills_an_empty_database_once(db: TestDb) {
    let server = Server::start(&db.url, &["--demo"]).await;
    let conn = db.connect().await;
    let counts = table_counts(&conn).await;
    assert_eq!(
        [
            counts[0], counts[1], counts[2], counts[4], counts[5], counts[6]
        ],
        [50, 30, 200, 400, 600, 1_000],
        "users, tags, articles, follows, favorites, comments"
    );
    let username: String = rows(&conn, "SELECT username FROM users ORDER BY id DESC LIMIT 1").await
        [0]
    .try_get_by_index(0)
    .expect("a username");
    let response = server
        .gql(
            "query($username: String!) { user(username: $username) { username } }",
            json!({ "username": username }),
        )
        .await;
    assert_eq!(
        response["data"]["user"]["username"], username,
        "{response:#}"
    );
    server.stop().await;

    // A database with users is left as it is.
    let server = Server::start(&db.url, &["--demo"]).await;
    assert_eq!(table_counts(&conn).await, counts);
    server.stop().await;
}

#[tokio::test]
async fn serve_with_demo_fills_an_empty_sqlite_database_once() {
    demo_fills_an_empty_database_once(TestDb::sqlite()).await;
}

#[tokio::test]
async fn serve_with_demo_fills_an_empty_postgres_database_once() {
    if let Some(db) = TestDb::postgres().await {
        demo_fills_an_empty_database_once(db).await;
    }
}

/// The slugs, usernames or bodies of a connection's nodes, in order.
fn names(connection: &Value, field: &str) -> Vec<String> {
    connection["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection}"))
        .iter()
        .map(|node| node[field].as_str().expect("a string").to_owned())
        .collect()
}

/// The first `n` of a list, asked of the database one parent at a time:
/// the plainest SQL there is, as the oracle for the batched statements.
async fn first_of(db: &DatabaseConnection, sql: &str, parent: i64, n: usize) -> Vec<String> {
    let sql = sql.replace("$parent", &parent.to_string());
    rows(db, &format!("{sql} LIMIT {n}"))
        .await
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("a string"))
        .collect()
}

async fn id_of(db: &DatabaseConnection, table: &str, column: &str, value: &str) -> i64 {
    number(
        db,
        &format!("SELECT id FROM {table} WHERE {column} = '{value}'"),
    )
    .await
}

/// Every nested page of a wide query over skewed data, batched per level
/// into one statement, holds what asking the database parent by parent holds.
async fn nested_pages_hold_what_the_database_holds(db: TestDb) {
    db.seed_ok(7).await;
    let conn = db.connect().await;
    let server = Server::start(&db.url, &[]).await;
    let body = server
        .gql(
            "{ articles(first: 100) { nodes { slug
                 comments(first: 3) { pageInfo { hasNextPage } nodes { body } }
                 author { username
                   favorites(first: 2) { nodes { slug } }
                   followers(first: 4) { nodes { username articles(first: 2) { nodes { slug } } } } } } } }",
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let articles = body["data"]["articles"]["nodes"].as_array().expect("nodes");
    assert_eq!(articles.len(), 100);
    let mut followers_seen = 0;
    for article in articles {
        let article_id = id_of(&conn, "articles", "slug", article["slug"].as_str().unwrap()).await;
        let comments = first_of(
            &conn,
            "SELECT body FROM comments WHERE article_id = $parent ORDER BY created_at DESC, id DESC",
            article_id,
            4,
        )
        .await;
        let shown = names(&article["comments"], "body");
        assert_eq!(shown, comments.iter().take(3).cloned().collect::<Vec<_>>());
        assert_eq!(
            article["comments"]["pageInfo"]["hasNextPage"],
            json!(comments.len() > 3)
        );

        let author = &article["author"];
        let author_id = id_of(
            &conn,
            "users",
            "username",
            author["username"].as_str().unwrap(),
        )
        .await;
        let favorites = first_of(
            &conn,
            "SELECT a.slug FROM favorites f JOIN articles a ON a.id = f.article_id \
             WHERE f.user_id = $parent ORDER BY f.created_at DESC, f.article_id DESC",
            author_id,
            2,
        )
        .await;
        assert_eq!(names(&author["favorites"], "slug"), favorites);
        let followers = first_of(
            &conn,
            "SELECT u.username FROM follows f JOIN users u ON u.id = f.follower_id \
             WHERE f.followee_id = $parent ORDER BY f.created_at DESC, f.follower_id DESC",
            author_id,
            4,
        )
        .await;
        assert_eq!(names(&author["followers"], "username"), followers);
        for follower in author["followers"]["nodes"].as_array().unwrap() {
            followers_seen += 1;
            let follower_id = id_of(
                &conn,
                "users",
                "username",
                follower["username"].as_str().unwrap(),
            )
            .await;
            let articles = first_of(
                &conn,
                "SELECT slug FROM articles WHERE author_id = $parent ORDER BY created_at DESC, id DESC",
                follower_id,
                2,
            )
            .await;
            assert_eq!(names(&follower["articles"], "slug"), articles);
        }
    }
    assert!(followers_seen > 0, "the seeded authors have followers");
    server.stop().await;
}

#[tokio::test]
async fn nested_sqlite_pages_hold_what_the_database_holds() {
    nested_pages_hold_what_the_database_holds(TestDb::sqlite()).await;
}

#[tokio::test]
async fn nested_postgres_pages_hold_what_the_database_holds() {
    if let Some(db) = TestDb::postgres().await {
        nested_pages_hold_what_the_database_holds(db).await;
    }
}
