//! Settings from flags, the environment, or a `.env` file, in that order of
//! precedence. Every setting has a default that makes the first run work:
//! a SQLite file in the working directory, 127.0.0.1:8080, a generated secret.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderValue;
use clap::{ArgAction, Args, Parser, Subcommand};
use secrecy::SecretString;

use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "conduit-gateway",
    version,
    about = "GraphQL API gateway for the Conduit publishing platform"
)]
pub struct Cli {
    /// Log lines as readable text or as JSON objects.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (GraphQL at /graphql, GraphiQL at /), migrating first.
    Serve(Box<Config>),
    /// Apply pending database migrations, then exit.
    Migrate(DatabaseArgs),
    /// Print the GraphQL schema (SDL) to standard output.
    Schema,
    /// Fill a fresh database with realistic, deterministic demo data
    /// (migrating first). Every demo user's password is `password`.
    Seed(SeedArgs),
    /// Store, list or remove trusted documents (the operations clients
    /// ship), which every instance on the database serves by id.
    Documents(DocumentsArgs),
}

#[derive(Clone, Debug, Args)]
pub struct DocumentsArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(subcommand)]
    pub action: DocumentsAction,
}

#[derive(Clone, Debug, Subcommand)]
pub enum DocumentsAction {
    /// Stores the documents of manifests: Apollo's persisted query
    /// manifest, graphql-codegen's `persisted-documents.json`, or a map of
    /// SHA-256 id to document. A manifest with a wrong id stores nothing.
    Add {
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Lists the stored documents: id, operation, when added, uses.
    List,
    /// Removes stored documents by id.
    Remove {
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Clone, Debug, Args)]
pub struct DatabaseArgs {
    /// Where the data lives: `sqlite://FILE?mode=rwc` (created when missing)
    /// or `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://conduit.db?mode=rwc",
        value_parser = parse_database_url
    )]
    pub database_url: String,

    /// The most database connections this process keeps open; by default
    /// four per CPU core plus two on PostgreSQL, two per core plus one on
    /// SQLite (see `db::pool_size`).
    #[arg(long, env = "DB_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: Option<u32>,
}

/// What `seed` writes. The defaults are the benchmark size.
#[derive(Clone, Debug, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Seed of the random generator: the same seed and sizes give the same rows.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// How many users.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(..=10_000_000))]
    pub users: u64,

    /// How many articles.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(..=10_000_000))]
    pub articles: u64,

    /// How many comments.
    #[arg(long, default_value_t = 500_000, value_parser = clap::value_parser!(u64).range(..=100_000_000))]
    pub comments: u64,

    /// How many favorites (distinct user-article pairs).
    #[arg(long, default_value_t = 300_000, value_parser = clap::value_parser!(u64).range(..=100_000_000))]
    pub favorites: u64,

    /// How many follows (distinct pairs of two different users).
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(..=100_000_000))]
    pub follows: u64,

    /// How many tags.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(..=1_000_000))]
    pub tags: u64,
}

/// Everything `serve` needs. Tests build it with `Config::try_parse_from`,
/// with port 0 and a database of their own.
#[derive(Clone, Debug, Parser)]
#[command(name = "serve")]
pub struct Config {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long, env = "LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Secret that signs bearer tokens. When unset, one is generated once and
    /// kept in the database, so tokens survive restarts and every instance on
    /// the same database accepts them.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub jwt_secret: Option<SecretString>,

    /// The `iss` that tokens carry and must carry to be accepted. When
    /// unset, a deployment id generated once and kept in the database (all
    /// instances on one database share it), so a deployment never accepts
    /// another's tokens even when both were given the same secret.
    #[arg(long, env = "TOKEN_ISSUER")]
    pub token_issuer: Option<String>,

    /// The `aud` that tokens carry and must carry; the issuer when unset.
    #[arg(long, env = "TOKEN_AUDIENCE")]
    pub token_audience: Option<String>,

    /// How long an access token stays valid, in minutes. Short, because a
    /// token cannot be recalled from a client that keeps it: the refresh
    /// token (see `--session-ttl-days`) gets a new one.
    #[arg(long, env = "TOKEN_TTL_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=24 * 60))]
    pub token_ttl_minutes: u64,

    /// How long a session lasts after its last refresh, in days (sliding:
    /// each `refreshSession` starts the time again).
    #[arg(long, env = "SESSION_TTL_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub session_ttl_days: u64,

    /// Browser origins allowed to call the API (comma-separated, e.g.
    /// `https://app.example.com,http://localhost:3000`), or `*` for any.
    /// Empty: same-origin only.
    #[arg(long = "cors-origin", env = "CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<HeaderValue>,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=64 * 1024 * 1024))]
    pub max_body_bytes: u64,

    /// Deepest selection nesting a query may have.
    #[arg(long, env = "MAX_QUERY_DEPTH", default_value_t = 16, value_parser = clap::value_parser!(u32).range(2..=100))]
    pub max_query_depth: u32,

    /// Highest cost a request may have (a batch's operations together):
    /// each field costs 1 plus what it selects, a page multiplies that by
    /// its size and an id list by its length, and each password hash
    /// (`signUp`, `signIn`, a password change) costs 5,000.
    #[arg(long, env = "MAX_QUERY_COMPLEXITY", default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(10..=1_000_000_000))]
    pub max_query_complexity: u64,

    /// Most tokens (names, punctuation, numbers, strings) one document may have.
    #[arg(long, env = "MAX_DOCUMENT_TOKENS", default_value_t = crate::graphql::bounds::DEFAULT_MAX_TOKENS as u64, value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    pub max_document_tokens: u64,

    /// Most operations one batch (a JSON array) may hold.
    #[arg(long, env = "MAX_BATCH_OPERATIONS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub max_batch_operations: u64,

    /// Bytes the cache of parsed documents may take (an estimate of the
    /// parsed trees; only documents that validated are kept).
    #[arg(long, env = "DOCUMENT_CACHE_BYTES", default_value_t = crate::graphql::documents::DEFAULT_BUDGET_BYTES, value_parser = clap::value_parser!(u64).range(0..=64 * 1024 * 1024 * 1024))]
    pub document_cache_bytes: u64,

    /// Seconds a request may take before it is answered with a timeout.
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,

    /// Seconds a WebSocket client has to send `connection_init`.
    #[arg(long, env = "WS_INIT_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub ws_init_timeout_secs: u64,

    /// Seconds between keep-alive pings on an idle WebSocket.
    #[arg(long, env = "WS_KEEPALIVE_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub ws_keepalive_secs: u64,

    /// Most subscriptions one WebSocket connection may hold at once.
    #[arg(long, env = "WS_MAX_SUBSCRIPTIONS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub ws_max_subscriptions: u64,

    /// Most WebSocket connections this process holds at once; past it an
    /// upgrade is answered 503.
    #[arg(long, env = "WS_MAX_CONNECTIONS", default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub ws_max_connections: u64,

    /// Most WebSocket connections from one client address; past it an
    /// upgrade is answered 429.
    #[arg(long, env = "WS_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub ws_max_connections_per_client: u64,

    /// Most subscriptions all WebSocket connections of this process hold
    /// together (each holds bounded buffers, so this bounds their memory).
    #[arg(long, env = "WS_MAX_TOTAL_SUBSCRIPTIONS", default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub ws_max_total_subscriptions: u64,

    /// Largest WebSocket message accepted, in bytes.
    #[arg(long, env = "WS_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024, value_parser = clap::value_parser!(u64).range(1024..=16 * 1024 * 1024))]
    pub ws_max_message_bytes: u64,

    /// Query cost each caller may spend per minute (the cost of
    /// `--max-query-complexity`, charged before a request runs, WebSocket
    /// subscriptions included); over it, RATE_LIMITED (HTTP 429). A caller
    /// is the user of an accepted token, else the client address. It
    /// refills continuously and may be spent at once. 0 turns the budget
    /// off (never the sign-in lockout).
    ///
    /// The default leaves the benchmark (bench/run.sh: 32 clients behind
    /// ONE address, as many users behind one NAT or proxy would be) alone:
    /// its costliest use is `article` (cost 3,789) at up to 4,368 req/s,
    /// 993 million per minute; `deep` (35,801) at 134 req/s is 288 million,
    /// `articles` (641) at 2,663 req/s 102 million, `homepage` (662) at
    /// 2,094 req/s 83 million (BENCHMARKS.md, "The query budget"). Two billion is twice the most any one caller was
    /// seen to spend with this two-core server to itself: a cap on what a
    /// caller can take of a bigger deployment, not on a single client of
    /// this one. Set it lower where callers are mostly signed in.
    #[arg(long, env = "RATE_LIMIT_COST_PER_MINUTE", default_value_t = 2_000_000_000, value_parser = clap::value_parser!(u64).range(0..=u64::from(u32::MAX)))]
    pub rate_limit_cost_per_minute: u64,

    /// How many proxies stand in front of the server (0: none, the socket's
    /// peer is the client). With N, the client is the N-th address from the
    /// right of the header `--trust-proxy-header` names: the one the
    /// outermost trusted proxy saw (those left of it anyone can write).
    #[arg(long, env = "TRUST_PROXY", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=32))]
    pub trust_proxy: u64,

    /// The header the trusted proxies append the client to:
    /// `x-forwarded-for` or `forwarded` (RFC 7239, its `for=`). Only that
    /// one is read: a client can send the other as it likes.
    #[arg(long, env = "TRUST_PROXY_HEADER", value_enum, default_value_t)]
    pub trust_proxy_header: crate::http::ForwardedHeader,

    /// Redis that holds the query budget for every instance (e.g.
    /// `redis://127.0.0.1:6379`). Unset: each instance keeps its own.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Milliseconds a request waits for Redis before it goes on with the
    /// per-instance budget (Redis then counts as down until it answers the
    /// once-a-second probe).
    #[arg(long, env = "REDIS_TIMEOUT_MS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub redis_timeout_ms: u64,

    /// Put before every key this server writes to Redis.
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "conduit:budget:")]
    pub redis_key_prefix: String,

    /// Sign-in attempts that fail, per account (by email, whether it
    /// exists or not) and per client address, before `signIn` answers
    /// RATE_LIMITED for the rest of the window; shared by every instance on
    /// the database.
    #[arg(long, env = "SIGN_IN_MAX_FAILURES", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub sign_in_max_failures: u32,

    /// The window of `--sign-in-max-failures`, in minutes: it starts at the
    /// first failure and a lock lasts until it ends.
    #[arg(long, env = "SIGN_IN_LOCKOUT_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=24 * 60))]
    pub sign_in_lockout_minutes: u64,

    /// Do not run the job worker in this process (jobs wait in the outbox
    /// for an instance that does).
    #[arg(long, env = "NO_WORKER", action = ArgAction::SetTrue)]
    pub no_worker: bool,

    /// Milliseconds between the worker's looks at the outbox when nothing
    /// wakes it (a commit on any instance wakes it at once).
    #[arg(long, env = "WORKER_POLL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub worker_poll_ms: u64,

    /// Which documents may run: `allow` (stored documents by id, automatic
    /// persisted queries and any document's text) or `only` (only the
    /// documents `conduit-gateway documents add` stored, by id or by their
    /// exact text; anything else is PERSISTED_QUERY_NOT_IN_LIST).
    #[arg(long, env = "TRUSTED_DOCUMENTS", value_enum, default_value_t)]
    pub trusted_documents: crate::graphql::trusted::Mode,

    #[command(flatten)]
    pub webhooks: WebhookArgs,

    /// The SMTP server email goes through: `smtp://HOST:PORT` (plain),
    /// `smtp://HOST:PORT?tls=starttls`, `smtps://HOST:PORT`, with
    /// `USER:PASSWORD@` before the host to log in. Unset: nothing is
    /// emailed (password resets included).
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// The sender of every email, `address` or `Name <address>`.
    #[arg(
        long,
        env = "MAIL_FROM",
        default_value = "Conduit <no-reply@localhost>"
    )]
    pub mail_from: String,

    /// The web app's page that sets a new password: reset emails link to
    /// it with `?token=<token>`.
    #[arg(
        long,
        env = "PASSWORD_RESET_URL",
        default_value = "http://localhost:3000/reset-password"
    )]
    pub password_reset_url: String,

    /// Do not apply pending migrations on start.
    #[arg(long, env = "NO_MIGRATE", action = ArgAction::SetTrue)]
    pub no_migrate: bool,

    /// Fill an empty database with a small set of demo users and articles
    /// (password `password`) after migrating; a database with users is left alone.
    #[arg(long, env = "DEMO", action = ArgAction::SetTrue)]
    pub demo: bool,
}

/// How webhook deliveries are sent (see `jobs::deliveries`).
#[derive(Clone, Debug, Args)]
pub struct WebhookArgs {
    /// Milliseconds one delivery attempt may take, connecting to the answer.
    #[arg(long, env = "WEBHOOK_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(10..=300_000))]
    pub webhook_timeout_ms: u64,

    /// Milliseconds before the first retry of a failed delivery; the wait
    /// doubles after each attempt (with jitter).
    #[arg(long, env = "WEBHOOK_RETRY_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub webhook_retry_ms: u64,

    /// Attempts per delivery in all, the first included.
    #[arg(long, env = "WEBHOOK_MAX_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub webhook_max_attempts: u32,

    /// Deliveries this process holds at once, all webhooks together.
    #[arg(long, env = "WEBHOOK_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub webhook_concurrency: u64,

    /// Deliveries in flight to one webhook at once.
    #[arg(long, env = "WEBHOOK_PER_ENDPOINT_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub webhook_per_endpoint_concurrency: u64,

    /// Let webhooks reach any address (loopback, private networks, cloud
    /// metadata) over plain http:// too: for development and tests only.
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE_NETWORKS", action = ArgAction::SetTrue)]
    pub webhook_allow_private_networks: bool,
}

impl WebhookArgs {
    pub fn policy(&self) -> crate::outbound::Policy {
        crate::outbound::Policy {
            allow_private_networks: self.webhook_allow_private_networks,
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.webhook_timeout_ms)
    }

    pub fn settings(&self, poll: Duration) -> crate::jobs::deliveries::Settings {
        let concurrency = self.webhook_concurrency as usize;
        crate::jobs::deliveries::Settings {
            timeout: self.timeout(),
            first_retry: Duration::from_millis(self.webhook_retry_ms),
            max_attempts: self.webhook_max_attempts,
            concurrency,
            per_endpoint: (self.webhook_per_endpoint_concurrency as usize).min(concurrency),
            poll,
        }
    }
}

impl Config {
    pub fn ws_limits(&self) -> crate::http::WsLimits {
        crate::http::WsLimits {
            init_timeout: Duration::from_secs(self.ws_init_timeout_secs),
            keepalive: Duration::from_secs(self.ws_keepalive_secs),
            max_subscriptions: self.ws_max_subscriptions as usize,
            max_message_bytes: self.ws_max_message_bytes as usize,
            max_connections: self.ws_max_connections as usize,
            max_connections_per_client: self.ws_max_connections_per_client as usize,
            max_total_subscriptions: self.ws_max_total_subscriptions as usize,
        }
    }

    pub fn request_limits(&self) -> crate::graphql::pipeline::RequestLimits {
        crate::graphql::pipeline::RequestLimits {
            max_tokens: self.max_document_tokens as usize,
            max_cost: self.max_query_complexity,
            max_batch: self.max_batch_operations as usize,
        }
    }

    pub fn redis(&self) -> Option<crate::limits::RedisSettings> {
        self.redis_url
            .clone()
            .map(|url| crate::limits::RedisSettings {
                url,
                key_prefix: self.redis_key_prefix.clone(),
                timeout: Duration::from_millis(self.redis_timeout_ms),
            })
    }

    pub fn proxies(&self) -> crate::http::Proxies {
        crate::http::Proxies {
            trusted: self.trust_proxy as usize,
            header: self.trust_proxy_header,
        }
    }

    pub fn lockout(&self) -> crate::domain::lockout::Policy {
        crate::domain::lockout::Policy {
            max_failures: self.sign_in_max_failures,
            window: Duration::from_secs(self.sign_in_lockout_minutes * 60),
        }
    }

    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_minutes * 60)
    }

    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_days * 86_400)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

fn parse_database_url(value: &str) -> Result<String, String> {
    if value.starts_with("sqlite:")
        || value.starts_with("postgres://")
        || value.starts_with("postgresql://")
    {
        Ok(value.to_owned())
    } else {
        Err("expected sqlite://FILE?mode=rwc or postgres://USER@HOST/DATABASE".to_owned())
    }
}

fn parse_secret(value: &str) -> Result<SecretString, String> {
    // HS256 wants at least as many key bytes as the hash has (RFC 7518 §3.2).
    if value.len() < 32 {
        return Err("must be at least 32 characters".to_owned());
    }
    Ok(SecretString::from(value.to_owned()))
}

fn parse_origin(value: &str) -> Result<HeaderValue, String> {
    let value = value.trim().trim_end_matches('/');
    let valid = value == "*"
        || ((value.starts_with("http://") || value.starts_with("https://"))
            && !value["https://".len().min(value.len())..].contains('/'));
    if !valid {
        return Err(format!(
            "{value:?} is not an origin like https://app.example.com or *"
        ));
    }
    HeaderValue::from_str(value).map_err(|_| format!("{value:?} is not a valid origin"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert!(parse_origin("https://app.example.com").is_ok());
        assert!(parse_origin("http://localhost:3000/").is_ok());
        assert!(parse_origin("*").is_ok());
        assert!(parse_origin("app.example.com").is_err());
        assert!(parse_origin("https://app.example.com/path").is_err());
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(parse_secret("short").is_err());
        assert!(parse_secret(&"x".repeat(32)).is_ok());
    }
}
