//! Limits no client can dodge (issue 14, items 3-5): the query budget per
//! caller, over HTTP and WebSocket, per user or per address (through
//! trusted proxies), shared by instances through Redis and surviving its
//! loss; and the sign-in lockout per account and per address, shared by
//! instances through their database.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};
use crate::subscriptions::{Client, TRANSPORT};

/// A cheap query: what each request spends in these tests.
const CHEAP: &str = "{ popularTags(first: 2) { name articlesCount } }";

/// The Redis every test may share (each under its own key prefix).
const REDIS: &str = "redis://127.0.0.1:6379";

/// One HTTP answer, whatever its status.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    /// The `r` of `RateLimit: "cost";r=R;t=T`.
    fn remaining(&self) -> u64 {
        self.rate_limit_parameter("r")
    }

    /// The `t` of `RateLimit`.
    fn window(&self) -> u64 {
        self.rate_limit_parameter("t")
    }

    fn rate_limit_parameter(&self, name: &str) -> u64 {
        let field = self.header("ratelimit");
        let rest = field
            .strip_prefix("\"cost\";")
            .unwrap_or_else(|| panic!("a cost policy item: {field}"));
        rest.split(';')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {field}"))
    }

    fn retry_after(&self) -> u64 {
        self.header("retry-after").parse().expect("whole seconds")
    }
}

/// POSTs `query` as `token`'s user (or anonymously), through proxies that
/// wrote `forwarded_for` (or none).
async fn post(
    app: &TestApp,
    token: Option<&str>,
    forwarded_for: Option<&str>,
    query: &str,
) -> Answer {
    let mut request = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(hops) = forwarded_for {
        request = request.header("x-forwarded-for", hops);
    }
    let response = request.send().await.expect("the server answers");
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.json().await.expect("a JSON body"),
    }
}

/// Sends `CHEAP` until the budget refuses it, asserting every answer
/// before says what is left; returns the refusal. Fails past `at_most`.
async fn spend_all(
    app: &TestApp,
    token: Option<&str>,
    forwarded_for: Option<&str>,
    at_most: usize,
) -> Answer {
    let mut last_remaining = u64::MAX;
    for _ in 0..at_most {
        let answer = post(app, token, forwarded_for, CHEAP).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            return answer;
        }
        assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
        assert!(answer.body.get("errors").is_none(), "{:#}", answer.body);
        let remaining = answer.remaining();
        assert!(
            remaining < last_remaining,
            "{remaining} after {last_remaining}"
        );
        last_remaining = remaining;
    }
    panic!("still not limited after {at_most} requests");
}

/// A refusal by the budget: 429, `Retry-After` equal to the error's
/// `retryAfter`, and the fields that describe the budget.
fn assert_over_budget(answer: &Answer, per_minute: u64) {
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        error_code(&answer.body),
        "RATE_LIMITED",
        "{:#}",
        answer.body
    );
    assert!(answer.body.get("data").is_none(), "{:#}", answer.body);
    let retry_after = answer.retry_after();
    assert!(retry_after >= 1);
    assert_eq!(
        answer.body["errors"][0]["extensions"]["retryAfter"],
        json!(retry_after),
        "{:#}",
        answer.body
    );
    assert_eq!(
        answer.header("ratelimit-policy"),
        format!("\"cost\";q={per_minute};w=60")
    );
    // No later than Retry-After may the client spend what is left.
    assert_eq!(answer.window(), retry_after);
}

async fn is_limited(app: &TestApp, token: Option<&str>, forwarded_for: Option<&str>) -> bool {
    let answer = post(app, token, forwarded_for, CHEAP).await;
    match answer.status {
        StatusCode::TOO_MANY_REQUESTS => true,
        StatusCode::OK => false,
        other => panic!("{other}: {:#}", answer.body),
    }
}

e2e! {
    with ["--rate-limit-cost-per-minute", "60"];
    async fn a_low_budget_is_refused_with_429_and_the_rate_limit_fields(app) {
        let first = post(&app, None, None, CHEAP).await;
        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(first.header("ratelimit-policy"), "\"cost\";q=60;w=60");
        let cost = 60 - first.remaining();
        assert!((1..=10).contains(&cost), "{cost}");
        // One unit comes back per second: the whole of it after `cost` s.
        assert!((cost - 1..=cost).contains(&first.window()), "{}", first.window());
        assert!(first.headers.get("retry-after").is_none());

        // A request that costs more than the whole budget could never run:
        // it is refused as too costly, not told to wait.
        let costly = post(&app, None, None, "{ articles(first: 100) { nodes { body } } }").await;
        assert_eq!(error_code(&costly.body), "GRAPHQL_VALIDATION_FAILED", "{:#}", costly.body);

        let refused = spend_all(&app, None, None, 100).await;
        assert_over_budget(&refused, 60);
        assert!(refused.remaining() < cost, "{}", refused.remaining());
        // What is missing comes back at one unit a second.
        assert!(refused.retry_after() <= cost, "{}", refused.retry_after());

        // GET answers the same way.
        let response = app
            .http
            .get(app.url("/graphql"))
            .query(&[("query", CHEAP)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429);
        assert!(response.headers().contains_key("retry-after"));
    }
}

e2e! {
    with ["--rate-limit-cost-per-minute", "0"];
    async fn a_budget_of_zero_is_off(app) {
        for _ in 0..50 {
            let answer = post(&app, None, None, "{ articles(first: 100) { nodes { body } } }").await;
            assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
            assert!(answer.headers.get("ratelimit").is_none());
            assert!(answer.headers.get("ratelimit-policy").is_none());
        }
    }
}

e2e! {
    async fn the_default_budget_describes_itself_and_fits_the_benchmark(app) {
        let answer = post(&app, None, None, CHEAP).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.header("ratelimit-policy"), "\"cost\";q=2000000000;w=60");
    }
}

e2e! {
    with ["--rate-limit-cost-per-minute", "60"];
    async fn subscriptions_spend_the_same_budget(app) {
        let published = "subscription { articlePublished { slug } }";
        // Within the budget a subscription starts (and HTTP answers say
        // what it spent).
        let before = post(&app, None, None, CHEAP).await.remaining();
        let mut client = Client::ready(&app, TRANSPORT, None).await;
        client.subscribe("1", published, json!({})).await;
        assert!(client.try_next(Duration::from_millis(300)).await.is_none());
        let after = post(&app, None, None, CHEAP).await.remaining();
        assert!(after + 2 < before, "{before} then {after}");

        // The address spends the rest over HTTP, to the last unit; the next
        // subscription is refused with an `error` for its id.
        spend_all(&app, None, None, 100).await;
        while post(&app, None, None, "{ __typename }").await.status == StatusCode::OK {}
        client.subscribe("2", published, json!({})).await;
        let refusal = client.next().await;
        assert_eq!(refusal["type"], "error", "{refusal:#}");
        assert_eq!(refusal["id"], "2");
        let error = &refusal["payload"][0];
        assert_eq!(error["extensions"]["code"], "RATE_LIMITED", "{refusal:#}");
        let retry_after = error["extensions"]["retryAfter"].as_u64().expect("whole seconds");
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        // The connection stays open and the first subscription with it.
        client.send(json!({ "type": "ping" })).await;
        assert_eq!(client.next().await["type"], "pong");
    }
}

e2e! {
    async fn a_token_spends_its_users_budget_wherever_it_comes_from(app) {
        // Signing up costs a password hash, more than the small budget:
        // the account is made on an instance with the default one.
        let alice = app.sign_up("alice").await;
        let bob = app.sign_up("bob").await;
        let limited = app.another_instance_with(&["--rate-limit-cost-per-minute", "60"]).await;

        spend_all(&limited, Some(&alice), None, 100).await;
        assert!(is_limited(&limited, Some(&alice), None).await);
        // The same address, anonymous or as another user, has its own.
        assert!(!is_limited(&limited, None, None).await);
        assert!(!is_limited(&limited, Some(&bob), None).await);

        // And the address spent to the end does not hold the users back.
        spend_all(&limited, None, None, 100).await;
        assert!(!is_limited(&limited, Some(&bob), None).await);
        // A refused token is not a user: it spends the address' budget.
        let refused = post(&limited, Some("not-a-token"), None, CHEAP).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{:#}", refused.body);
        drop(limited);
    }
}

e2e! {
    with ["--rate-limit-cost-per-minute", "60", "--trust-proxy", "1"];
    async fn one_trusted_proxy_names_the_client_in_its_last_hop(app) {
        // A client behind the proxy writes what it likes on the left; the
        // proxy appends the address it saw.
        spend_all(&app, None, Some("6.6.6.6, 203.0.113.1"), 100).await;
        assert!(is_limited(&app, None, Some("7.7.7.7, 8.8.8.8, 203.0.113.1")).await);
        assert!(is_limited(&app, None, Some("203.0.113.1")).await);
        // Another client behind the same proxy has its own budget, forged
        // left part or not.
        assert!(!is_limited(&app, None, Some("203.0.113.2")).await);
        assert!(!is_limited(&app, None, Some("203.0.113.1, 203.0.113.3")).await);
    }
}

e2e! {
    with ["--rate-limit-cost-per-minute", "60", "--trust-proxy", "2"];
    async fn two_trusted_proxies_name_the_client_second_from_the_right(app) {
        spend_all(&app, None, Some("6.6.6.6, 203.0.113.1, 10.1.1.1"), 100).await;
        // The same client through another inner proxy hop.
        assert!(is_limited(&app, None, Some("203.0.113.1, 10.2.2.2")).await);
        assert!(!is_limited(&app, None, Some("203.0.113.2, 10.1.1.1")).await);
    }
}

e2e! {
    with ["--rate-limit-cost-per-minute", "60"];
    async fn without_trusted_proxies_forwarded_for_is_ignored(app) {
        spend_all(&app, None, Some("203.0.113.1"), 100).await;
        // Whatever it claims, the client is the socket's peer.
        assert!(is_limited(&app, None, Some("203.0.113.2")).await);
        assert!(is_limited(&app, None, None).await);
    }
}

/// A key prefix of its own, so tests sharing the Redis keep apart.
fn unique_prefix() -> String {
    format!("test-{}:", uuid::Uuid::new_v4().simple())
}

e2e! {
    async fn instances_with_redis_share_one_budget(app) {
        let prefix = unique_prefix();
        // A busy machine (the whole suite at once on two cores) may take
        // longer than 50 ms to hear Redis: this test is about sharing.
        let flags = [
            "--rate-limit-cost-per-minute", "60",
            "--redis-url", REDIS,
            "--redis-key-prefix", &prefix,
            "--redis-timeout-ms", "2000",
        ];
        let one = app.another_instance_with(&flags).await;
        let two = app.another_instance_with(&flags).await;
        until_shared_limiter(&one, "ok").await;
        until_shared_limiter(&two, "ok").await;
        let first = post(&one, None, None, CHEAP).await;
        let cost = 60 - first.remaining();
        // The other instance sees what the first one spent.
        let second = post(&two, None, None, CHEAP).await;
        assert!(second.remaining() <= 60 - 2 * cost + 1, "{} then {}", first.remaining(), second.remaining());
        // Spent on one: refused on the other.
        spend_all(&one, None, None, 100).await;
        let refused = post(&two, None, None, CHEAP).await;
        assert_over_budget(&refused, 60);
        drop((one, two));
    }
}

e2e! {
    async fn without_redis_each_instance_keeps_its_own_budget(app) {
        let flags = ["--rate-limit-cost-per-minute", "60"];
        let one = app.another_instance_with(&flags).await;
        let two = app.another_instance_with(&flags).await;
        assert_eq!(shared_limiter(&one).await, "none");
        spend_all(&one, None, None, 100).await;
        assert!(!is_limited(&two, None, None).await);
        drop((one, two));
    }
}

/// What `/readyz` says of the shared limiter (and that it is ready).
async fn shared_limiter(app: &TestApp) -> String {
    let response = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200, "ready whatever Redis does");
    let body: Value = response.json().await.unwrap();
    body["sharedLimiter"]
        .as_str()
        .expect("a shared limiter status")
        .to_owned()
}

/// Waits (a few seconds at most) for `/readyz` to say `status`.
async fn until_shared_limiter(app: &TestApp, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = shared_limiter(app).await;
        if now == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the shared limiter stays {now}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Redis of this test's own, on a free port, stopped when dropped.
struct OwnRedis {
    port: u16,
    process: Option<Child>,
}

impl OwnRedis {
    async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self {
            port,
            process: None,
        };
        redis.restart().await;
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn restart(&mut self) {
        let process = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

e2e! {
    async fn requests_go_on_when_redis_stops_and_share_again_when_it_is_back(app) {
        let mut redis = OwnRedis::start().await;
        let url = redis.url();
        let limited = app
            .another_instance_with(&[
                "--rate-limit-cost-per-minute", "60",
                "--redis-url", &url,
            ])
            .await;
        // Up at once, or (on a busy machine) within a probe's second.
        until_shared_limiter(&limited, "ok").await;
        let shared = post(&limited, None, None, CHEAP).await;
        assert_eq!(shared.status, StatusCode::OK);

        redis.stop();
        // Nothing fails closed: the requests go on, each charged to this
        // instance's own budget, which knows what was spent through Redis.
        let started = Instant::now();
        let alone = post(&limited, None, None, CHEAP).await;
        assert_eq!(alone.status, StatusCode::OK, "{:#}", alone.body);
        assert!(alone.remaining() < shared.remaining(), "{} then {}", shared.remaining(), alone.remaining());
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        until_shared_limiter(&limited, "down").await;
        let refused = spend_all(&limited, None, None, 100).await;
        assert_over_budget(&refused, 60);

        // Back: shared again (a fresh Redis knows nothing of what was
        // spent, so the address has a full budget there).
        redis.restart().await;
        until_shared_limiter(&limited, "ok").await;
        let again = post(&limited, None, None, CHEAP).await;
        assert_eq!(again.status, StatusCode::OK, "{:#}", again.body);
        drop(limited);
    }
}

const SIGN_IN: &str = "mutation($email: String!, $password: String!) { signIn(input: { email: $email, password: $password }) { token } }";

/// `signIn` over HTTP from the client `forwarded_for` names (the servers
/// here trust one proxy).
async fn sign_in(app: &TestApp, email: &str, password: &str, forwarded_for: &str) -> Answer {
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "query": SIGN_IN, "variables": { "email": email, "password": password } }))
        .send()
        .await
        .expect("the server answers");
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.json().await.expect("a JSON body"),
    }
}

fn assert_refused(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
    assert_eq!(
        error_code(&answer.body),
        "UNAUTHENTICATED",
        "{:#}",
        answer.body
    );
}

fn assert_locked(answer: &Answer, window_secs: u64) {
    assert_eq!(
        error_code(&answer.body),
        "RATE_LIMITED",
        "{:#}",
        answer.body
    );
    assert!(answer.body["data"].is_null(), "{:#}", answer.body);
    let retry_after = answer.body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .expect("whole seconds");
    assert!(
        (window_secs - 30..=window_secs).contains(&retry_after),
        "{retry_after}"
    );
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.retry_after(), retry_after);
}

/// Three failures in two minutes, behind one proxy (so that tests can
/// sign in from many addresses).
const LOCKOUT: [&str; 6] = [
    "--sign-in-max-failures",
    "3",
    "--sign-in-lockout-minutes",
    "2",
    "--trust-proxy",
    "1",
];

e2e! {
    with ["--sign-in-max-failures", "3", "--sign-in-lockout-minutes", "2", "--trust-proxy", "1"];
    async fn failed_sign_ins_lock_the_account_on_every_instance(app) {
        app.sign_up("alice").await;
        let other = app.another_instance_with(&LOCKOUT).await;
        // Three wrong passwords, from three addresses, on two instances.
        assert_refused(&sign_in(&app, "alice@example.com", "wrong-1", "203.0.113.1").await);
        assert_refused(&sign_in(&other, "ALICE@example.com ", "wrong-2", "203.0.113.2").await);
        assert_refused(&sign_in(&app, "alice@example.com", "wrong-3", "203.0.113.3").await);
        // Locked: the right password too, from anywhere, on either.
        assert_locked(&sign_in(&other, "alice@example.com", "password-alice", "203.0.113.4").await, 120);
        assert_locked(&sign_in(&app, "alice@example.com", "password-alice", "203.0.113.5").await, 120);

        // An email nobody has is locked the same way: no account discovery.
        for n in 1..=3 {
            assert_refused(&sign_in(&app, "nobody@example.com", "wrong", &format!("198.51.100.{n}")).await);
        }
        assert_locked(&sign_in(&other, "nobody@example.com", "wrong", "198.51.100.9").await, 120);

        // Another account is not locked by these.
        app.sign_up("bob").await;
        let bob = sign_in(&other, "bob@example.com", "password-bob", "192.0.2.1").await;
        assert!(bob.body["data"]["signIn"]["token"].is_string(), "{:#}", bob.body);
        drop(other);
    }
}

e2e! {
    with ["--sign-in-max-failures", "3", "--sign-in-lockout-minutes", "2", "--trust-proxy", "1"];
    async fn a_right_password_is_not_a_failure(app) {
        app.sign_up("alice").await;
        let client = "203.0.113.1";
        assert_refused(&sign_in(&app, "alice@example.com", "wrong-1", client).await);
        assert_refused(&sign_in(&app, "alice@example.com", "wrong-2", client).await);
        let right = sign_in(&app, "alice@example.com", "password-alice", client).await;
        assert!(right.body["data"]["signIn"]["token"].is_string(), "{:#}", right.body);
        // The third failure is the third: the next is refused.
        assert_refused(&sign_in(&app, "alice@example.com", "wrong-3", client).await);
        assert_locked(&sign_in(&app, "alice@example.com", "password-alice", client).await, 120);
    }
}

e2e! {
    with ["--sign-in-max-failures", "3", "--sign-in-lockout-minutes", "2", "--trust-proxy", "1"];
    async fn failed_sign_ins_lock_the_address_on_every_instance(app) {
        app.sign_up("alice").await;
        let other = app.another_instance_with(&LOCKOUT).await;
        let guesser = "203.0.113.66";
        // Three accounts guessed from one address, on two instances.
        assert_refused(&sign_in(&app, "one@example.com", "wrong", guesser).await);
        assert_refused(&sign_in(&other, "two@example.com", "wrong", guesser).await);
        assert_refused(&sign_in(&app, "three@example.com", "wrong", guesser).await);
        // That address may not try another, even with the right password.
        assert_locked(&sign_in(&other, "alice@example.com", "password-alice", guesser).await, 120);
        // Alice, from her own address, may.
        let alice = sign_in(&app, "alice@example.com", "password-alice", "192.0.2.10").await;
        assert!(alice.body["data"]["signIn"]["token"].is_string(), "{:#}", alice.body);
        drop(other);
    }
}

e2e! {
    with ["--rate-limit-cost-per-minute", "0", "--sign-in-max-failures", "2"];
    async fn no_query_budget_still_locks_sign_in(app) {
        app.sign_up("alice").await;
        for _ in 0..2 {
            let response = app.gql(None, SIGN_IN, json!({ "email": "alice@example.com", "password": "wrong" })).await;
            assert_eq!(error_code(&response), "UNAUTHENTICATED", "{response:#}");
        }
        let response = app
            .http
            .post(app.url("/graphql"))
            .json(&json!({ "query": SIGN_IN, "variables": { "email": "alice@example.com", "password": "password-alice" } }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429);
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_code(&body), "RATE_LIMITED", "{body:#}");
    }
}
