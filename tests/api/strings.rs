//! No string is a 500 (issue 13, item 6): every string input of the schema,
//! on SQLite and on PostgreSQL alike, gets its value stored as sent or a
//! BAD_USER_INPUT naming it (a lookup may also answer "not found"), whatever
//! the string holds.
//!
//! The inputs come from introspection of the running server: every argument
//! of every field of every object type (the roots `Query` and `Mutation`,
//! and the nested ones such as `Article.comments(after:)`), and every field
//! of the input objects they take, whose type is `String` or `ID` or a list
//! of them. `CASES` says how to make a valid call of each such field and what
//! each input is for; a field or input it does not know fails the test, so a
//! new one is covered the day it appears. (`Subscription` fields run over a
//! WebSocket and are not walked here; their string arguments go through the
//! same lookups, `articles::by_slug` and `users::find_by_username`.)
//!
//! Each hostile value goes into one input at a time, once as a variable and
//! once written into the document, and the answer must be:
//! - never an HTTP 5xx, never INTERNAL_SERVER_ERROR, never an error without
//!   a code;
//! - BAD_USER_INPUT with `extensions.fields` naming that input; or
//! - for a stored input, success, and reading it back gives exactly what was
//!   sent (`Stored`), or a lookup by what was sent finds it (`Findable`:
//!   usernames, emails and tags are stored in a canonical form, passwords as
//!   a hash); a taken username or email may be CONFLICT naming the input;
//! - for a lookup, any answer (null, an empty list), NOT_FOUND, or
//!   UNAUTHENTICATED (a sign-in with unknown credentials).
//!
//! What holds on both backends alike, whatever the outcome:
//! - U+0000 and the other control characters but tab, LF and CR are refused
//!   in every stored string (BAD_USER_INPUT); passwords, kept only as a
//!   hash, take any character. A lookup by a key holding U+0000 finds
//!   nothing.
//! - A lone surrogate (`"\ud800"`) is no Unicode text, so no server string
//!   can hold it. In the variables it makes the body invalid JSON text for a
//!   GraphQL request: HTTP 400, GRAPHQL_PARSE_FAILED. Written into the
//!   document (`"\ud800"` escape) the parser refuses it: HTTP 200,
//!   GRAPHQL_PARSE_FAILED.
//!
//! With `TEST_DATABASE_URL` set, the test runs everything on both backends
//! and also requires the two to give every call the same outcome.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::helpers::TestApp;

/// Stands for a lone surrogate while a request is built: no Rust string can
/// hold one, so the JSON (or document) text gets `\ud800` in its place.
const SURROGATE: &str = "\u{e000}lone-surrogate\u{e000}";

/// Every fixture user's password, and the one `signUp` sends.
const PASSWORD: &str = "password-fixture";

fn hostile_values() -> Vec<(&'static str, String)> {
    vec![
        ("nul", "a\u{0}b".to_owned()),
        ("escape sequence", "\u{1b}[31mred".to_owned()),
        ("lone surrogate", SURROGATE.to_owned()),
        ("100 KB ascii", "x".repeat(100 * 1024)),
        ("100 KB two-byte", "é".repeat(50 * 1024)),
        ("right-to-left override", "\u{202e}gnp.exe".to_owned()),
        (
            "combining marks",
            "Z\u{351}\u{300}a\u{364}\u{301}l\u{308}g\u{20dd}o".to_owned(),
        ),
        (
            "emoji",
            "\u{1f600}\u{1f469}\u{200d}\u{1f469}\u{200d}\u{1f467}\u{1f3f3}\u{fe0f}\u{200d}\u{1f308}"
                .to_owned(),
        ),
        ("sql", "'; DROP TABLE users; --".to_owned()),
        ("percent", "%".to_owned()),
        ("underscore", "_".to_owned()),
        ("backslashes", r#"\'\"\\ \0 \u0000 \x00"#.to_owned()),
        ("tab and newlines", "a\tb\nc\r\nd".to_owned()),
        ("noncharacters", "\u{fffe}\u{ffff}\u{10ffff}".to_owned()),
    ]
}

/// Values that no stored string may hold (see `validate::plain_text`).
fn is_control_value(name: &str) -> bool {
    matches!(name, "nul" | "escape sequence")
}

/// What an input is for, and so what a success must show.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// Kept as sent: reading it back gives exactly what was sent.
    Stored(Read),
    /// Kept in a canonical form or as a hash: a lookup by what was sent
    /// finds it.
    Findable(Find),
    /// A key to look something up by.
    Lookup,
}

#[derive(Clone, Copy, Debug)]
enum Read {
    /// A field of the article whose slug the call answered.
    Article(&'static str),
    /// A field of the caller's own account.
    Viewer(&'static str),
    /// The body of the comment whose id the call answered.
    Comment,
    /// The URL of the caller's webhook whose id the call answered
    /// (`createWebhook` answers it under `webhook`).
    Webhook,
}

#[derive(Clone, Copy, Debug)]
enum Find {
    /// `user(username:)` finds the caller.
    User,
    /// `signIn` with the email and the fixture password works.
    SignInEmail,
    /// `signIn` with the caller's email and the password works.
    SignInPassword,
    /// `articles(filter: { tag })` lists the article the call answered.
    ArticlesByTag,
}

/// What each call needs created first, fresh.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fixture {
    None,
    /// An article by the caller: `$slug`, `$article_id`.
    Article,
    /// An article by the caller with a comment by the caller: also `$comment_id`.
    Comment,
    /// A new session of the caller: `$refresh` (its refresh token) and
    /// `$session_id`.
    Session,
    /// A password reset token of the caller's account, as its email would
    /// carry it: `$reset` (written to the database here; the email path is
    /// `email`'s to test).
    Reset,
    /// A webhook of the caller's: `$webhook_id`.
    Webhook,
    /// A webhook of the caller's with a delivery: also `$delivery_id`.
    Delivery,
}

/// For a field of a nested type: the root field that reaches it.
#[derive(Clone, Copy, Debug)]
enum Parent {
    /// `article(slug: <the fixture article>)`
    Article,
    /// `user(username: <the caller>)`
    User,
    /// `user(username: <the caller>) { webhooks }`, signed in as the caller.
    Webhooks,
}

struct Case {
    /// `Type.field`.
    coordinate: &'static str,
    /// Whether the call is made as the fixture user.
    signed_in: bool,
    fixture: Fixture,
    parent: Option<Parent>,
    /// A valid call's arguments, as JSON; `$slug`, `$article_id`,
    /// `$comment_id`, `$username`, `$email`, `$other` (another user's name)
    /// and `$unique` (fresh for each call) are filled in.
    args: &'static str,
    /// The selection; empty for `{ __typename }` (or none for a scalar).
    select: &'static str,
    /// Every string input by its path from the arguments, what it is for,
    /// and what is sent (`{}` is the hostile value; placeholders as in
    /// `args`): an email or a URL around it, say, so that the value is what
    /// decides.
    inputs: &'static [(&'static str, Check, &'static str)],
}

const CASES: &[Case] = &[
    // Query
    Case {
        coordinate: "Query.node",
        signed_in: false,
        fixture: Fixture::Article,
        parent: None,
        args: r#"{ "id": "$article_id" }"#,
        select: "",
        inputs: &[("id", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "Query.nodes",
        signed_in: false,
        fixture: Fixture::Article,
        parent: None,
        args: r#"{ "ids": ["$article_id"] }"#,
        select: "",
        inputs: &[("ids", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "Query.user",
        signed_in: false,
        fixture: Fixture::None,
        parent: None,
        args: r#"{ "username": "$other" }"#,
        select: "",
        inputs: &[("username", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "Query.article",
        signed_in: false,
        fixture: Fixture::Article,
        parent: None,
        args: r#"{ "slug": "$slug" }"#,
        select: "",
        inputs: &[("slug", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "Query.articles",
        signed_in: false,
        fixture: Fixture::None,
        parent: None,
        args: "{}",
        select: "",
        inputs: &[
            ("after", Check::Lookup, "{}"),
            ("filter.tag", Check::Lookup, "{}"),
            ("filter.author", Check::Lookup, "{}"),
            ("filter.favoritedBy", Check::Lookup, "{}"),
        ],
    },
    Case {
        coordinate: "Query.feed",
        signed_in: true,
        fixture: Fixture::None,
        parent: None,
        args: "{}",
        select: "",
        inputs: &[("after", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "Query.notifications",
        signed_in: true,
        fixture: Fixture::None,
        parent: None,
        args: "{}",
        select: "",
        inputs: &[("after", Check::Lookup, "{}")],
    },
    // Nested connections
    Case {
        coordinate: "Article.comments",
        signed_in: false,
        fixture: Fixture::Article,
        parent: Some(Parent::Article),
        args: "{}",
        select: "",
        inputs: &[("after", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "User.followers",
        signed_in: false,
        fixture: Fixture::None,
        parent: Some(Parent::User),
        args: "{}",
        select: "",
        inputs: &[("after", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "User.following",
        signed_in: false,
        fixture: Fixture::None,
        parent: Some(Parent::User),
        args: "{}",
        select: "",
        inputs: &[("after", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "User.articles",
        signed_in: false,
        fixture: Fixture::None,
        parent: Some(Parent::User),
        args: "{}",
        select: "",
        inputs: &[("after", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "Webhook.deliveries",
        signed_in: true,
        fixture: Fixture::Webhook,
        parent: Some(Parent::Webhooks),
        args: "{}",
        select: "",
        inputs: &[("after", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "User.favorites",
        signed_in: false,
        fixture: Fixture::None,
        parent: Some(Parent::User),
        args: "{}",
        select: "",
        inputs: &[("after", Check::Lookup, "{}")],
    },
    // Mutation
    Case {
        coordinate: "Mutation.signUp",
        signed_in: false,
        fixture: Fixture::None,
        parent: None,
        args: r#"{ "input": { "username": "$unique", "email": "$unique@example.com", "password": "password-fixture" } }"#,
        select: "{ token }",
        inputs: &[
            ("input.username", Check::Findable(Find::User), "{}"),
            (
                "input.email",
                Check::Findable(Find::SignInEmail),
                "$unique{}@example.com",
            ),
            (
                "input.password",
                Check::Findable(Find::SignInPassword),
                "{}-password",
            ),
        ],
    },
    Case {
        coordinate: "Mutation.requestPasswordReset",
        signed_in: false,
        fixture: Fixture::None,
        parent: None,
        args: r#"{ "email": "$email" }"#,
        select: "",
        inputs: &[("email", Check::Lookup, "$unique{}@example.com")],
    },
    Case {
        coordinate: "Mutation.resetPassword",
        signed_in: false,
        fixture: Fixture::Reset,
        parent: None,
        args: r#"{ "token": "$reset", "newPassword": "password-fixture" }"#,
        // Not the token: it differs from call to call.
        select: "",
        inputs: &[
            ("token", Check::Lookup, "{}"),
            ("newPassword", Check::Lookup, "{}-password"),
        ],
    },
    Case {
        coordinate: "Mutation.signIn",
        signed_in: false,
        fixture: Fixture::None,
        parent: None,
        args: r#"{ "input": { "email": "$email", "password": "password-fixture" } }"#,
        select: "{ token }",
        inputs: &[
            ("input.email", Check::Lookup, "$unique{}@example.com"),
            ("input.password", Check::Lookup, "{}-password"),
        ],
    },
    Case {
        coordinate: "Mutation.refreshSession",
        signed_in: false,
        fixture: Fixture::Session,
        parent: None,
        args: r#"{ "refreshToken": "$refresh" }"#,
        select: "{ token }",
        inputs: &[("refreshToken", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "Mutation.endSessions",
        signed_in: true,
        fixture: Fixture::Session,
        parent: None,
        args: r#"{ "id": "$session_id" }"#,
        select: "",
        inputs: &[("id", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "Mutation.updateViewer",
        signed_in: true,
        fixture: Fixture::None,
        parent: None,
        args: r#"{ "input": {} }"#,
        select: "",
        inputs: &[
            (
                "input.email",
                Check::Findable(Find::SignInEmail),
                "$unique{}@example.com",
            ),
            ("input.username", Check::Findable(Find::User), "$unique{}"),
            (
                "input.password",
                Check::Findable(Find::SignInPassword),
                "{}-password",
            ),
            ("input.bio", Check::Stored(Read::Viewer("bio")), "{}"),
            (
                "input.image",
                Check::Stored(Read::Viewer("image")),
                "https://img.example.com/{}",
            ),
        ],
    },
    Case {
        coordinate: "Mutation.followUser",
        signed_in: true,
        fixture: Fixture::None,
        parent: None,
        args: r#"{ "username": "$other" }"#,
        select: "",
        inputs: &[("username", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "Mutation.unfollowUser",
        signed_in: true,
        fixture: Fixture::None,
        parent: None,
        args: r#"{ "username": "$other" }"#,
        select: "",
        inputs: &[("username", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "Mutation.createArticle",
        signed_in: true,
        fixture: Fixture::None,
        parent: None,
        args: r#"{ "input": { "title": "A title", "description": "A description", "body": "A body", "tags": ["fixture"] } }"#,
        select: "{ slug }",
        inputs: &[
            ("input.title", Check::Stored(Read::Article("title")), "{}"),
            (
                "input.description",
                Check::Stored(Read::Article("description")),
                "{}",
            ),
            ("input.body", Check::Stored(Read::Article("body")), "{}"),
            ("input.tags", Check::Findable(Find::ArticlesByTag), "{}"),
        ],
    },
    Case {
        coordinate: "Mutation.updateArticle",
        signed_in: true,
        fixture: Fixture::Article,
        parent: None,
        args: r#"{ "slug": "$slug", "input": {} }"#,
        select: "{ slug }",
        inputs: &[
            ("slug", Check::Lookup, "{}"),
            ("input.title", Check::Stored(Read::Article("title")), "{}"),
            (
                "input.description",
                Check::Stored(Read::Article("description")),
                "{}",
            ),
            ("input.body", Check::Stored(Read::Article("body")), "{}"),
            ("input.tags", Check::Findable(Find::ArticlesByTag), "{}"),
        ],
    },
    Case {
        coordinate: "Mutation.deleteArticle",
        signed_in: true,
        fixture: Fixture::Article,
        parent: None,
        args: r#"{ "slug": "$slug" }"#,
        select: "",
        inputs: &[("slug", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "Mutation.favoriteArticle",
        signed_in: true,
        fixture: Fixture::Article,
        parent: None,
        args: r#"{ "slug": "$slug" }"#,
        select: "",
        inputs: &[("slug", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "Mutation.unfavoriteArticle",
        signed_in: true,
        fixture: Fixture::Article,
        parent: None,
        args: r#"{ "slug": "$slug" }"#,
        select: "",
        inputs: &[("slug", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "Mutation.addComment",
        signed_in: true,
        fixture: Fixture::Article,
        parent: None,
        args: r#"{ "articleSlug": "$slug", "body": "A comment" }"#,
        select: "{ id }",
        inputs: &[
            ("articleSlug", Check::Lookup, "{}"),
            ("body", Check::Stored(Read::Comment), "{}"),
        ],
    },
    Case {
        coordinate: "Mutation.deleteComment",
        signed_in: true,
        fixture: Fixture::Comment,
        parent: None,
        args: r#"{ "id": "$comment_id" }"#,
        select: "",
        inputs: &[("id", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "Mutation.createWebhook",
        signed_in: true,
        fixture: Fixture::None,
        parent: None,
        args: r#"{ "input": { "url": "http://127.0.0.1:9/$unique", "events": ["USER_FOLLOWED"] } }"#,
        select: "{ webhook { id } }",
        inputs: &[(
            "input.url",
            Check::Stored(Read::Webhook),
            "http://127.0.0.1:9/{}",
        )],
    },
    Case {
        coordinate: "Mutation.updateWebhook",
        signed_in: true,
        fixture: Fixture::Webhook,
        parent: None,
        args: r#"{ "id": "$webhook_id", "input": {} }"#,
        select: "{ id }",
        inputs: &[
            ("id", Check::Lookup, "{}"),
            (
                "input.url",
                Check::Stored(Read::Webhook),
                "http://127.0.0.1:9/{}",
            ),
        ],
    },
    Case {
        coordinate: "Mutation.deleteWebhook",
        signed_in: true,
        fixture: Fixture::Webhook,
        parent: None,
        args: r#"{ "id": "$webhook_id" }"#,
        select: "",
        inputs: &[("id", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "Mutation.redeliverWebhook",
        signed_in: true,
        fixture: Fixture::Delivery,
        parent: None,
        args: r#"{ "deliveryId": "$delivery_id" }"#,
        select: "{ id }",
        inputs: &[("deliveryId", Check::Lookup, "{}")],
    },
    Case {
        coordinate: "Mutation.markNotificationsRead",
        signed_in: true,
        fixture: Fixture::None,
        parent: None,
        args: r#"{ "ids": [] }"#,
        select: "",
        inputs: &[("ids", Check::Lookup, "{}")],
    },
];

#[tokio::test]
async fn every_string_input_is_stored_as_sent_or_refused_alike_on_both_backends() {
    // Signing in with every kind of wrong email and password from one
    // address is what the sign-in lockout stops; this walk needs them all.
    // Webhook URLs on loopback (a port nothing listens on), which the
    // address rule would refuse, whatever the string holds.
    let flags = [
        "--sign-in-max-failures",
        "100000",
        "--webhook-allow-private-networks",
        "--worker-poll-ms",
        "50",
    ];
    let sqlite = TestApp::spawn_sqlite_with(&flags).await;
    let postgres = TestApp::spawn_postgres_with(&flags).await;
    let (on_sqlite, on_postgres) = tokio::join!(walk(&sqlite, "sqlite"), async {
        match &postgres {
            Some(app) => Some(walk(app, "postgres").await),
            None => None,
        }
    });

    let mut failures = on_sqlite.failures.clone();
    match &on_postgres {
        Some(on_postgres) => {
            failures.extend(on_postgres.failures.iter().cloned());
            for (call, outcome) in &on_sqlite.outcomes {
                let other = on_postgres.outcomes.get(call);
                if other != Some(outcome) {
                    failures.push(format!(
                        "{call}: SQLite answers {}, PostgreSQL {}",
                        short(outcome),
                        other.map_or("nothing".to_owned(), |o| short(o))
                    ));
                }
            }
        }
        None => eprintln!("PostgreSQL half skipped: TEST_DATABASE_URL is not set"),
    }
    assert!(
        on_sqlite.outcomes.len() > 500,
        "the walk made only {} calls",
        on_sqlite.outcomes.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} calls went wrong:\n{}",
        failures.len(),
        on_sqlite.outcomes.len(),
        failures.join("\n")
    );
}

/// What one backend answered: an outcome per call, and what was wrong.
struct Walk {
    outcomes: BTreeMap<String, String>,
    failures: Vec<String>,
}

/// One string input that introspection found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Input {
    path: String,
    list: bool,
}

/// A field with string inputs, as introspection shows it.
struct Field {
    /// Argument name to its type as a variable declares it (`String!`).
    arg_types: BTreeMap<String, String>,
    returns_object: bool,
    inputs: BTreeSet<Input>,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Variables,
    Inline,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Variables => "as a variable",
            Mode::Inline => "in the document",
        }
    }
}

/// The fixture user of one input's calls, and what the calls use.
struct Fixtures {
    token: String,
    username: String,
    email: String,
    other: String,
}

async fn walk(app: &TestApp, backend: &str) -> Walk {
    let mut report = Walk {
        outcomes: BTreeMap::new(),
        failures: Vec::new(),
    };
    let fields = string_inputs(app).await;
    let known: BTreeSet<&str> = CASES.iter().map(|case| case.coordinate).collect();
    for (coordinate, field) in &fields {
        if !known.contains(coordinate.as_str()) {
            report.failures.push(format!(
                "{coordinate} takes strings ({}) but CASES has no entry for it: add one",
                field
                    .inputs
                    .iter()
                    .map(|i| i.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let mut unique = 0_usize;
    let other = "other".to_owned();
    app.sign_up(&other).await;
    for (case_number, case) in CASES.iter().enumerate() {
        let Some(field) = fields.get(case.coordinate) else {
            report.failures.push(format!(
                "CASES has {} but the schema has no such field with string inputs",
                case.coordinate
            ));
            continue;
        };
        let declared: BTreeSet<&str> = case.inputs.iter().map(|(path, ..)| *path).collect();
        let found: BTreeSet<&str> = field.inputs.iter().map(|i| i.path.as_str()).collect();
        if declared != found {
            report.failures.push(format!(
                "{}: CASES lists the inputs {declared:?}, the schema has {found:?}",
                case.coordinate
            ));
        }
        for (input_number, input) in field.inputs.iter().enumerate() {
            let Some(&(_, check, template)) = case.inputs.iter().find(|(p, ..)| *p == input.path)
            else {
                continue;
            };
            let username = format!("p{case_number}x{input_number}");
            let fixtures = Fixtures {
                token: sign_up(app, &username).await,
                email: format!("{username}@example.com"),
                username,
                other: other.clone(),
            };
            let call = Call {
                app,
                case,
                field,
                fixtures: &fixtures,
            };
            // The base call must work, or a refusal says nothing.
            let base = call.prepare(&mut unique).await;
            let (status, body) = call.send(&base, None, Mode::Variables).await;
            if status != 200 || body.get("errors").is_some() {
                report.failures.push(format!(
                    "{}: the base call of CASES fails: {status} {body}",
                    case.coordinate
                ));
                continue;
            }
            for (value_name, value) in hostile_values() {
                for mode in [Mode::Variables, Mode::Inline] {
                    let key = format!(
                        "{}({}) = {value_name} {}",
                        case.coordinate,
                        input.path,
                        mode.name()
                    );
                    let mut args = call.prepare(&mut unique).await;
                    let sent = fill(template, &args.placeholders).replace("{}", &value);
                    set(&mut args.args, &input.path, &sent, input.list);
                    let (status, body) = call.send(&args, Some(&input.path), mode).await;
                    let result =
                        judge(&call, input, check, value_name, &sent, mode, status, &body).await;
                    match result {
                        Ok(outcome) => {
                            report.outcomes.insert(key, outcome);
                        }
                        Err(problem) => {
                            report
                                .outcomes
                                .insert(key.clone(), format!("failed: {problem}"));
                            report.failures.push(format!("{backend}: {key}: {problem}"));
                        }
                    }
                }
            }
        }
    }
    report
}

/// Every object type's fields that take string inputs, by `Type.field`.
async fn string_inputs(app: &TestApp) -> BTreeMap<String, Field> {
    let data = app
        .gql_ok(
            None,
            "{ __schema {
                 queryType { name } mutationType { name } subscriptionType { name }
                 types { kind name
                   fields { name type { ...T } args { name type { ...T } } }
                   inputFields { name type { ...T } } } } }
             fragment T on __Type {
               kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }",
            json!({}),
        )
        .await;
    let schema = &data["__schema"];
    let types: BTreeMap<&str, &Value> = schema["types"]
        .as_array()
        .expect("types")
        .iter()
        .map(|t| (t["name"].as_str().expect("a type name"), t))
        .collect();
    let subscription = schema["subscriptionType"]["name"].as_str();
    let mut fields = BTreeMap::new();
    for (name, ty) in &types {
        if ty["kind"] != "OBJECT" || name.starts_with("__") || Some(*name) == subscription {
            continue;
        }
        for field in ty["fields"].as_array().into_iter().flatten() {
            let mut inputs = BTreeSet::new();
            let mut arg_types = BTreeMap::new();
            for arg in field["args"].as_array().into_iter().flatten() {
                let arg_name = arg["name"].as_str().expect("an argument name");
                arg_types.insert(arg_name.to_owned(), type_ref(&arg["type"]));
                collect(&types, &arg["type"], arg_name, &mut inputs, 0);
            }
            if inputs.is_empty() {
                continue;
            }
            let returns = named(&field["type"]).0;
            let returns_kind = types[returns]["kind"].as_str().unwrap_or_default();
            fields.insert(
                format!("{name}.{}", field["name"].as_str().expect("a field name")),
                Field {
                    arg_types,
                    returns_object: !matches!(returns_kind, "SCALAR" | "ENUM"),
                    inputs,
                },
            );
        }
    }
    fields
}

/// The named type under the wrappers, and whether a list is among them.
fn named(ty: &Value) -> (&str, bool) {
    let (mut ty, mut list) = (ty, false);
    while let Some(inner) = ty.get("ofType").filter(|t| !t.is_null()) {
        list |= ty["kind"] == "LIST";
        ty = inner;
    }
    (ty["name"].as_str().expect("a named type"), list)
}

/// `ty` as a variable definition writes it.
fn type_ref(ty: &Value) -> String {
    match ty["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", type_ref(&ty["ofType"])),
        Some("LIST") => format!("[{}]", type_ref(&ty["ofType"])),
        _ => ty["name"].as_str().expect("a type name").to_owned(),
    }
}

fn collect(
    types: &BTreeMap<&str, &Value>,
    ty: &Value,
    path: &str,
    inputs: &mut BTreeSet<Input>,
    depth: usize,
) {
    assert!(depth < 8, "input objects nested too deep at {path}");
    let (name, list) = named(ty);
    match types[name]["kind"].as_str() {
        Some("SCALAR") if matches!(name, "String" | "ID") => {
            inputs.insert(Input {
                path: path.to_owned(),
                list,
            });
        }
        Some("INPUT_OBJECT") => {
            assert!(
                !list,
                "{path}: a list of input objects; teach `set` about it"
            );
            for field in types[name]["inputFields"].as_array().into_iter().flatten() {
                let field_name = field["name"].as_str().expect("an input field name");
                collect(
                    types,
                    &field["type"],
                    &format!("{path}.{field_name}"),
                    inputs,
                    depth + 1,
                );
            }
        }
        _ => {}
    }
}

async fn sign_up(app: &TestApp, username: &str) -> String {
    let data = app
        .gql_ok(
            None,
            "mutation($input: SignUpInput!) { signUp(input: $input) { token } }",
            json!({ "input": {
                "username": username,
                "email": format!("{username}@example.com"),
                "password": PASSWORD,
            }}),
        )
        .await;
    data["signUp"]["token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

/// One case's calls for one input.
struct Call<'a> {
    app: &'a TestApp,
    case: &'a Case,
    field: &'a Field,
    fixtures: &'a Fixtures,
}

/// A call's arguments, with what its placeholders stood for.
struct Args {
    args: Map<String, Value>,
    placeholders: Vec<(&'static str, String)>,
}

impl Call<'_> {
    fn token(&self) -> Option<&str> {
        self.case.signed_in.then_some(self.fixtures.token.as_str())
    }

    fn field_name(&self) -> &str {
        self.case.coordinate.split_once('.').expect("Type.field").1
    }

    /// Creates the case's fixtures and fills in its base arguments.
    async fn prepare(&self, unique: &mut usize) -> Args {
        *unique += 1;
        let mut placeholders = vec![
            ("$unique", format!("u{unique}")),
            ("$username", self.fixtures.username.clone()),
            ("$email", self.fixtures.email.clone()),
            ("$other", self.fixtures.other.clone()),
        ];
        if self.case.fixture == Fixture::Reset {
            let token = format!("strings-reset-{unique}");
            use sha2::Digest as _;
            let hash = format!("{:x}", sha2::Sha256::digest(token.as_bytes()));
            let db = sea_orm::Database::connect(&self.app.database_url)
                .await
                .expect("the test database");
            use sea_orm::ConnectionTrait as _;
            let backend = db.get_database_backend();
            let sql = match backend {
                sea_orm::DbBackend::Postgres => {
                    "INSERT INTO password_resets (user_id, token_hash, created_at, expires_at) \
                     SELECT id, $1, now(), now() + interval '1 hour' FROM users WHERE email = $2"
                }
                _ => {
                    "INSERT INTO password_resets (user_id, token_hash, created_at, expires_at) \
                     SELECT id, ?, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '+1 hour') FROM users WHERE email = ?"
                }
            };
            db.execute_raw(sea_orm::Statement::from_sql_and_values(
                backend,
                sql,
                [hash.into(), self.fixtures.email.clone().into()],
            ))
            .await
            .expect("a reset token");
            placeholders.push(("$reset", token));
        } else if self.case.fixture == Fixture::Session {
            let data = self
                .app
                .gql_ok(
                    None,
                    "mutation($e: String!) { signIn(input: { email: $e, password: \"password-fixture\" }) { token refreshToken } }",
                    json!({ "e": self.fixtures.email }),
                )
                .await;
            let token = data["signIn"]["token"].as_str().expect("a token");
            let sessions = self
                .app
                .gql_ok(
                    Some(token),
                    "{ viewer { sessions { id current } } }",
                    json!({}),
                )
                .await;
            let current = sessions["viewer"]["sessions"]
                .as_array()
                .expect("sessions")
                .iter()
                .find(|session| session["current"] == true)
                .expect("the current session");
            placeholders.push((
                "$session_id",
                current["id"].as_str().expect("an id").to_owned(),
            ));
            let refresh = data["signIn"]["refreshToken"]
                .as_str()
                .expect("a refresh token");
            placeholders.push(("$refresh", refresh.to_owned()));
        } else if matches!(self.case.fixture, Fixture::Webhook | Fixture::Delivery) {
            let (webhook_id, delivery_id) = webhook_fixture(
                self.app,
                &self.fixtures.token,
                self.case.fixture == Fixture::Delivery,
            )
            .await;
            placeholders.push(("$webhook_id", webhook_id));
            if let Some(delivery_id) = delivery_id {
                placeholders.push(("$delivery_id", delivery_id));
            }
        } else if self.case.fixture != Fixture::None {
            let token = &self.fixtures.token;
            let slug = self
                .app
                .create_article(token, "Fixture", &["fixture"])
                .await;
            placeholders.push(("$article_id", self.app.article_id(&slug).await));
            if self.case.fixture == Fixture::Comment {
                let comment = self.app.add_comment(token, &slug, "A comment").await;
                placeholders.push(("$comment_id", comment));
            }
            placeholders.push(("$slug", slug));
        }
        let mut args: Value = serde_json::from_str(self.case.args).expect("CASES args are JSON");
        fill_all(&mut args, &placeholders);
        let Value::Object(args) = args else {
            panic!("{}: args must be a JSON object", self.case.coordinate);
        };
        Args { args, placeholders }
    }

    /// Sends the call: every argument as a variable, or (`Mode::Inline`)
    /// the argument that holds `hostile` written into the document.
    async fn send(&self, args: &Args, hostile: Option<&str>, mode: Mode) -> (u16, Value) {
        let hostile_arg = hostile.map(|path| path.split('.').next().expect("a path"));
        let mut definitions = Vec::new();
        let mut arguments = Vec::new();
        let mut variables = Map::new();
        for (name, value) in &args.args {
            if mode == Mode::Inline && hostile_arg == Some(name.as_str()) {
                arguments.push(format!("{name}: {}", literal(value)));
            } else {
                let ty = self
                    .field
                    .arg_types
                    .get(name)
                    .unwrap_or_else(|| panic!("{}: no argument {name}", self.case.coordinate));
                definitions.push(format!("${name}: {ty}"));
                arguments.push(format!("{name}: ${name}"));
                variables.insert(name.clone(), value.clone());
            }
        }
        let select = match self.case.select {
            "" if self.field.returns_object => "{ __typename }",
            select => select,
        };
        let arguments = if arguments.is_empty() {
            String::new()
        } else {
            format!("({})", arguments.join(", "))
        };
        let mut selection = format!("{}{arguments} {select}", self.field_name());
        if let Some(parent) = self.case.parent {
            let (root, key) = match parent {
                Parent::Article => ("article(slug: $parent)", self.placeholder(args, "$slug")),
                Parent::User => ("user(username: $parent)", self.fixtures.username.clone()),
                Parent::Webhooks => (
                    "user(username: $parent) { webhooks",
                    self.fixtures.username.clone(),
                ),
            };
            definitions.push("$parent: String!".to_owned());
            variables.insert("parent".to_owned(), Value::String(key));
            selection = format!("{root} {{ {selection} }}");
            if matches!(parent, Parent::Webhooks) {
                selection.push_str(" }");
            }
        }
        let operation = if self.case.coordinate.starts_with("Mutation.") {
            "mutation"
        } else {
            "query"
        };
        let definitions = if definitions.is_empty() {
            String::new()
        } else {
            format!("({})", definitions.join(", "))
        };
        let document = format!("{operation}{definitions} {{ {selection} }}")
            // In the document, as a GraphQL string escape.
            .replace(SURROGATE, r"\ud800");
        let body = serde_json::to_string(&json!({ "query": document, "variables": variables }))
            .expect("JSON")
            // In the variables, as a JSON string escape.
            .replace(SURROGATE, r"\ud800");
        post(self.app, self.token(), body).await
    }

    fn placeholder(&self, args: &Args, name: &str) -> String {
        args.placeholders
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{}: no {name} fixture", self.case.coordinate))
            .1
            .clone()
    }

    /// The field's answer in a response's data.
    fn answer<'v>(&self, data: &'v Value) -> &'v Value {
        match self.case.parent {
            Some(Parent::Article) => &data["article"][self.field_name()],
            Some(Parent::User) => &data["user"][self.field_name()],
            Some(Parent::Webhooks) => &data["user"]["webhooks"][0][self.field_name()],
            None => &data[self.field_name()],
        }
    }

    /// The token of the account a call acted on: the one it created, else
    /// the fixture user's.
    fn account_token(&self, answer: &Value) -> String {
        answer["token"]
            .as_str()
            .map_or_else(|| self.fixtures.token.clone(), str::to_owned)
    }
}

async fn post(app: &TestApp, token: Option<&str>, body: String) -> (u16, Value) {
    let mut request = app
        .http
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// The outcome of one call, or what is wrong with it.
#[allow(clippy::too_many_arguments)]
async fn judge(
    call: &Call<'_>,
    input: &Input,
    check: Check,
    value_name: &str,
    sent: &str,
    mode: Mode,
    status: u16,
    body: &Value,
) -> Result<String, String> {
    if status >= 500 {
        return Err(format!("HTTP {status}: {}", short(&body.to_string())));
    }
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    for error in &errors {
        match error["extensions"]["code"].as_str() {
            None => return Err(format!("an error without a code: {error}")),
            Some("INTERNAL_SERVER_ERROR") => {
                return Err(format!(
                    "INTERNAL_SERVER_ERROR: {}",
                    short(&error.to_string())
                ));
            }
            Some(_) => {}
        }
    }
    let first_code = errors
        .first()
        .and_then(|e| e["extensions"]["code"].as_str())
        .unwrap_or_default();

    if value_name == "lone surrogate" {
        let expected = match mode {
            Mode::Variables => 400,
            Mode::Inline => 200,
        };
        if status != expected || first_code != "GRAPHQL_PARSE_FAILED" {
            return Err(format!(
                "a lone surrogate should be HTTP {expected} GRAPHQL_PARSE_FAILED, got {status} {}",
                short(&body.to_string())
            ));
        }
        return Ok(format!("unreadable: HTTP {status} {first_code}"));
    }
    if status != 200 {
        return Err(format!("HTTP {status}: {}", short(&body.to_string())));
    }

    let leaf = input.path.rsplit('.').next().expect("a path");
    let must_refuse = is_control_value(value_name)
        && !matches!(check, Check::Lookup | Check::Findable(Find::SignInPassword));
    if let Some(error) = errors.first() {
        let fields = &error["extensions"]["fields"];
        let names_input = fields.get(leaf).is_some();
        let allowed = match (first_code, check) {
            ("BAD_USER_INPUT", _) => names_input,
            ("CONFLICT", Check::Findable(Find::User | Find::SignInEmail)) => {
                names_input && !must_refuse
            }
            ("NOT_FOUND" | "UNAUTHENTICATED", Check::Lookup) => true,
            _ => false,
        };
        if !allowed {
            return Err(format!(
                "{first_code} is not an answer for {} (fields {fields}): {}",
                input.path,
                short(&error.to_string())
            ));
        }
        return Ok(format!("refused: {first_code} {fields}"));
    }
    if must_refuse {
        return Err("a control character was taken, not refused with BAD_USER_INPUT".into());
    }

    let answer = call.answer(&body["data"]);
    match check {
        Check::Lookup => Ok(format!("answered: {answer}")),
        Check::Stored(read) => {
            let stored = read_back(call, read, answer).await;
            if stored.as_str() == Some(sent) {
                Ok("stored".into())
            } else {
                Err(format!(
                    "sent {}, read back {}",
                    short(&format!("{sent:?}")),
                    short(&stored.to_string())
                ))
            }
        }
        Check::Findable(find) => {
            if found(call, find, sent, answer).await {
                Ok("stored".into())
            } else {
                Err(format!(
                    "accepted {}, but {find:?} does not find it",
                    short(&format!("{sent:?}"))
                ))
            }
        }
    }
}

async fn read_back(call: &Call<'_>, read: Read, answer: &Value) -> Value {
    let app = call.app;
    match read {
        Read::Article(field) => {
            let data = app
                .gql_ok(
                    None,
                    "query($slug: String!) { article(slug: $slug) { title description body } }",
                    json!({ "slug": answer["slug"] }),
                )
                .await;
            data["article"][field].clone()
        }
        Read::Viewer(field) => {
            let token = call.account_token(answer);
            let data = app
                .gql_ok(Some(&token), "{ viewer { bio image } }", json!({}))
                .await;
            data["viewer"][field].clone()
        }
        Read::Comment => {
            let data = app
                .gql_ok(
                    None,
                    "query($id: ID!) { node(id: $id) { ... on Comment { body } } }",
                    json!({ "id": answer["id"] }),
                )
                .await;
            data["node"]["body"].clone()
        }
        Read::Webhook => {
            let id = answer["webhook"]["id"].as_str().or(answer["id"].as_str());
            let data = app
                .gql_ok(
                    Some(&call.fixtures.token),
                    "query($id: ID!) { node(id: $id) { ... on Webhook { url } } }",
                    json!({ "id": id }),
                )
                .await;
            data["node"]["url"].clone()
        }
    }
}

/// A webhook of `token`'s user (on a port nothing listens on) and, when
/// asked, one delivery of it: the user publishes an article and the worker
/// queues its `ARTICLE_PUBLISHED`.
async fn webhook_fixture(app: &TestApp, token: &str, delivery: bool) -> (String, Option<String>) {
    let data = app
        .gql_ok(
            Some(token),
            "mutation { createWebhook(input: { url: \"http://127.0.0.1:9/fixture\", events: [ARTICLE_PUBLISHED] }) { webhook { id } } }",
            json!({}),
        )
        .await;
    let webhook_id = data["createWebhook"]["webhook"]["id"]
        .as_str()
        .expect("a webhook id")
        .to_owned();
    if !delivery {
        return (webhook_id, None);
    }
    app.create_article(token, "Delivered", &[]).await;
    for _ in 0..400 {
        let data = app
            .gql_ok(
                Some(token),
                "{ viewer { webhooks { deliveries(first: 1) { nodes { id } } } } }",
                json!({}),
            )
            .await;
        if let Some(id) = data["viewer"]["webhooks"][0]["deliveries"]["nodes"][0]["id"].as_str() {
            return (webhook_id, Some(id.to_owned()));
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the worker queued no delivery for the fixture webhook");
}

async fn found(call: &Call<'_>, find: Find, sent: &str, answer: &Value) -> bool {
    let app = call.app;
    let sign_in = |email: String, password: String| async move {
        app.gql(
            None,
            "mutation($input: SignInInput!) { signIn(input: $input) { token } }",
            json!({ "input": { "email": email, "password": password } }),
        )
        .await
        .get("errors")
        .is_none()
    };
    match find {
        Find::User => {
            let token = call.account_token(answer);
            let data = app
                .gql_ok(
                    Some(&token),
                    "query($username: String!) { user(username: $username) { id } viewer { id } }",
                    json!({ "username": sent }),
                )
                .await;
            !data["user"].is_null() && data["user"]["id"] == data["viewer"]["id"]
        }
        Find::SignInEmail => sign_in(sent.to_owned(), PASSWORD.to_owned()).await,
        Find::SignInPassword => {
            let token = call.account_token(answer);
            let data = app
                .gql_ok(Some(&token), "{ viewer { email } }", json!({}))
                .await;
            let email = data["viewer"]["email"]
                .as_str()
                .expect("an email")
                .to_owned();
            sign_in(email, sent.to_owned()).await
        }
        Find::ArticlesByTag => {
            let data = app
                .gql_ok(
                    None,
                    "query($tag: String!) { articles(first: 100, filter: { tag: $tag }) { nodes { slug } } }",
                    json!({ "tag": sent }),
                )
                .await;
            data["articles"]["nodes"]
                .as_array()
                .is_some_and(|nodes| nodes.iter().any(|n| n["slug"] == answer["slug"]))
        }
    }
}

/// `value` as a GraphQL literal. JSON's string escapes are all GraphQL
/// escapes too.
fn literal(value: &Value) -> String {
    match value {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(literal).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(name, value)| format!("{name}: {}", literal(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// Puts `sent` (in a list, for a list input) at `path`.
fn set(args: &mut Map<String, Value>, path: &str, sent: &str, list: bool) {
    let mut segments: Vec<&str> = path.split('.').collect();
    let last = segments.pop().expect("a path");
    let mut object = args;
    for segment in segments {
        object = object
            .entry(segment)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("an input object");
    }
    let value = Value::String(sent.to_owned());
    object.insert(
        last.to_owned(),
        if list {
            Value::Array(vec![value])
        } else {
            value
        },
    );
}

fn fill(text: &str, placeholders: &[(&'static str, String)]) -> String {
    placeholders
        .iter()
        .fold(text.to_owned(), |text, (name, value)| {
            text.replace(name, value)
        })
}

fn fill_all(value: &mut Value, placeholders: &[(&'static str, String)]) {
    match value {
        Value::String(text) => *text = fill(text, placeholders),
        Value::Array(items) => items.iter_mut().for_each(|v| fill_all(v, placeholders)),
        Value::Object(fields) => fields.values_mut().for_each(|v| fill_all(v, placeholders)),
        _ => {}
    }
}

/// A long text cut to what a failure message can show.
fn short(text: &str) -> String {
    let count = text.chars().count();
    if count <= 160 {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(160).collect();
    let _ = write!(cut, "… ({count} characters)");
    cut
}
