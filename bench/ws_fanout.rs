//! WebSocket fan-out benchmark: opens many idle `commentAdded` subscribers
//! on one server, writes one comment (through the same server or another
//! instance), and reports how long each subscriber waited for it, plus the
//! server's memory per connection.
//!
//! Past ~28,000 connections one source address runs out of ephemeral
//! ports; `--source-addresses 127.0.0.2,127.0.0.3,...` spreads the
//! subscribers over several (any 127.0.0.0/8 address is loopback on Linux).
//!
//! `cargo run --release --example ws-fanout -- --help` lists the options;
//! `bench/ws.sh` runs the scenarios recorded in BENCHMARKS.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(Parser)]
struct Args {
    /// The server the subscribers connect to (WebSocket and HTTP).
    #[arg(long, default_value = "127.0.0.1:8080")]
    subscribe_to: String,
    /// The server the comment is written through (another instance to
    /// measure the PostgreSQL hop).
    #[arg(long, default_value = "127.0.0.1:8080")]
    write_to: String,
    /// How many subscribers.
    #[arg(long, default_value_t = 10_000)]
    subscribers: usize,
    /// How many writes, one after another, once everyone is subscribed.
    #[arg(long, default_value_t = 5)]
    writes: usize,
    /// The subscribing server's pid, to read its memory (VmRSS).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Local addresses the subscribers' sockets are bound to, in turn
    /// (comma-separated); none: whatever the system picks.
    #[arg(long, value_delimiter = ',')]
    source_addresses: Vec<std::net::IpAddr>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::new();
    let token = sign_up(&http, &args.write_to).await?;
    let slug = create_article(&http, &args.write_to, &token).await?;
    let rss_before = args.server_pid.and_then(rss_kib);

    // Connect and subscribe everyone, a few hundred at a time.
    let ready = Arc::new(Barrier::new(args.subscribers + 1));
    let arrivals = Arc::new(Arrivals::new(args.writes, args.subscribers));
    let started = Instant::now();
    let connect_slots = Arc::new(tokio::sync::Semaphore::new(256));
    let server: std::net::SocketAddr = args.subscribe_to.parse()?;
    for i in 0..args.subscribers {
        let (ready, arrivals, slots) = (ready.clone(), arrivals.clone(), connect_slots.clone());
        let slug = slug.clone();
        let source = (!args.source_addresses.is_empty())
            .then(|| args.source_addresses[i % args.source_addresses.len()]);
        tokio::spawn(async move {
            let permit = slots.acquire_owned().await.expect("semaphore");
            let mut socket = match subscribe(server, source, &slug).await {
                Ok(socket) => socket,
                Err(error) => {
                    eprintln!("subscriber {i}: {error}");
                    std::process::exit(1);
                }
            };
            drop(permit);
            ready.wait().await;
            let mut write = 0;
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message
                    && serde_json::from_str::<Kind<'_>>(&text).is_ok_and(|m| m.kind == "next")
                {
                    arrivals.arrived(write, i);
                    write += 1;
                }
            }
        });
    }
    ready.wait().await;
    println!(
        "{} subscribers connected in {:.1}s",
        args.subscribers,
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = args.server_pid.and_then(rss_kib);
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        println!(
            "server memory: {before} KiB before, {after} KiB with all connected: {:.1} KiB per connection",
            (after.saturating_sub(before)) as f64 / args.subscribers as f64
        );
    }

    let mut everyone_got_everything = true;
    let cpu_before = args.server_pid.and_then(cpu_ms);
    let own_cpu_before = cpu_ms(std::process::id());
    for write in 0..args.writes {
        let sent = Instant::now();
        add_comment(&http, &args.write_to, &token, &slug, write).await?;
        let answered = sent.elapsed();
        let deadline = sent + Duration::from_secs(30);
        while arrivals.count(write) < args.subscribers && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut latencies = arrivals.latencies(write, sent);
        everyone_got_everything &= latencies.len() == args.subscribers;
        if latencies.is_empty() {
            println!("write {write}: 0 of {} received", args.subscribers);
            continue;
        }
        latencies.sort();
        let pct =
            |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        println!(
            "write {write}: {} of {} received; p50 {:.1} ms, p99 {:.1} ms, last {:.1} ms (the write answered in {:.1} ms)",
            latencies.len(),
            args.subscribers,
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            answered.as_secs_f64() * 1e3,
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The wall clock depends on what else the machine runs; the server's
    // own CPU time for the writes (and their fan-out) much less so.
    if let (Some(before), Some(after)) = (cpu_before, args.server_pid.and_then(cpu_ms)) {
        println!(
            "server CPU for the writes: {} ms, {:.1} ms per write",
            after - before,
            (after - before) as f64 / args.writes.max(1) as f64
        );
    }
    if let (Some(before), Some(after)) = (own_cpu_before, cpu_ms(std::process::id())) {
        println!(
            "client CPU for the writes: {} ms, {:.1} ms per write",
            after - before,
            (after - before) as f64 / args.writes.max(1) as f64
        );
    }
    println!(
        "every subscriber got every write: {}",
        if everyone_got_everything { "yes" } else { "NO" }
    );
    Ok(())
}

/// When each subscriber got each write, kept by the subscribers' own tasks:
/// a message to one collecting task would be 10,000 wake-ups (many of them
/// across threads) per write, CPU taken from the server being measured.
struct Arrivals {
    start: Instant,
    /// Per write, per subscriber: nanoseconds after `start`, 0 until it came.
    at: Vec<Vec<AtomicU64>>,
    count: Vec<AtomicUsize>,
}

impl Arrivals {
    fn new(writes: usize, subscribers: usize) -> Self {
        Self {
            start: Instant::now(),
            at: (0..writes)
                .map(|_| (0..subscribers).map(|_| AtomicU64::new(0)).collect())
                .collect(),
            count: (0..writes).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    fn arrived(&self, write: usize, subscriber: usize) {
        let Some(slots) = self.at.get(write) else {
            return;
        };
        let nanos = self.start.elapsed().as_nanos().max(1) as u64;
        slots[subscriber].store(nanos, Ordering::Relaxed);
        self.count[write].fetch_add(1, Ordering::Release);
    }

    fn count(&self, write: usize) -> usize {
        self.count[write].load(Ordering::Acquire)
    }

    /// How long after `sent` each subscriber that got `write` got it.
    fn latencies(&self, write: usize, sent: Instant) -> Vec<Duration> {
        self.at[write]
            .iter()
            .map(|at| at.load(Ordering::Relaxed))
            .filter(|&nanos| nanos > 0)
            .map(|nanos| (self.start + Duration::from_nanos(nanos)).saturating_duration_since(sent))
            .collect()
    }
}

/// A server message's type; the rest is checked to be JSON and skipped.
#[derive(serde::Deserialize)]
struct Kind<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn subscribe(
    server: std::net::SocketAddr,
    source: Option<std::net::IpAddr>,
    slug: &str,
) -> anyhow::Result<Socket> {
    let mut request = format!("ws://{server}/graphql").into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let tcp = if server.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    if let Some(source) = source {
        tcp.bind(std::net::SocketAddr::new(source, 0))?;
    }
    let stream = tcp.connect(server).await?;
    // A small read buffer: tungstenite zeroes the free part of it before
    // every read. At its 128 KiB default that (with the reallocations it
    // brings) was 43 % of this client's CPU, taken from the two cores the
    // server being measured runs on; at 4 KiB still 8 %. The server's
    // messages here are ~150 bytes: a larger one takes more reads.
    let config = WebSocketConfig::default().read_buffer_size(512);
    let (mut socket, _) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await?;
    socket
        .send(text(json!({ "type": "connection_init" })))
        .await?;
    while let Some(message) = socket.next().await {
        if let Message::Text(reply) = message?
            && reply.contains("connection_ack")
        {
            break;
        }
    }
    socket
        .send(text(json!({
            "type": "subscribe",
            "id": "1",
            "payload": {
                "query": "subscription($s: String!) { commentAdded(articleSlug: $s) { body author { username } } }",
                "variables": { "s": slug },
            },
        })))
        .await?;
    Ok(socket)
}

fn text(value: Value) -> Message {
    Message::Text(value.to_string().into())
}

async fn gql(
    http: &reqwest::Client,
    server: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let mut request = http
        .post(format!("http://{server}/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let body: Value = request.send().await?.json().await?;
    anyhow::ensure!(body.get("errors").is_none(), "GraphQL errors: {body}");
    Ok(body["data"].clone())
}

async fn sign_up(http: &reqwest::Client, server: &str) -> anyhow::Result<String> {
    let name = format!("bench{}", std::process::id());
    let data = gql(
        http,
        server,
        None,
        "mutation($i: SignUpInput!) { signUp(input: $i) { token } }",
        json!({ "i": { "username": name, "email": format!("{name}@example.com"), "password": "password-bench" } }),
    )
    .await?;
    Ok(data["signUp"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

async fn create_article(
    http: &reqwest::Client,
    server: &str,
    token: &str,
) -> anyhow::Result<String> {
    let data = gql(
        http,
        server,
        Some(token),
        "mutation { createArticle(input: { title: \"Fan-out benchmark\", description: \"d\", body: \"b\" }) { slug } }",
        json!({}),
    )
    .await?;
    Ok(data["createArticle"]["slug"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

async fn add_comment(
    http: &reqwest::Client,
    server: &str,
    token: &str,
    slug: &str,
    n: usize,
) -> anyhow::Result<()> {
    gql(
        http,
        server,
        Some(token),
        "mutation($s: String!, $b: String!) { addComment(articleSlug: $s, body: $b) { id } }",
        json!({ "s": slug, "b": format!("comment {n}") }),
    )
    .await?;
    Ok(())
}

/// CPU time (user and system) a process has used, in milliseconds, from
/// /proc (10 ms ticks).
fn cpu_ms(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10)
}

/// Resident memory of a process, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
