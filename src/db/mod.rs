//! Connecting to the database and migrating it. One code path for SQLite and
//! PostgreSQL; the few settings that differ are here and nowhere else.
//! `Reads` is where a request's reads go.

mod direct;
mod reads;

pub use direct::Direct;
pub use reads::Reads;

use std::time::Duration;

use anyhow::Context as _;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction};

use crate::config::DatabaseArgs;

/// A connection the domain reads through: a query request's `Reads` may
/// read straight from SQLite (`Direct`); anything else reads through
/// sea-orm, and so does a read `Direct` cannot bind.
pub trait Reader: ConnectionTrait {
    fn direct(&self) -> Option<&Direct> {
        None
    }
}

impl Reader for DatabaseConnection {}
impl Reader for DatabaseTransaction {}

/// Opens a connection pool.
///
/// # Implementation notes
/// SQLite runs in WAL mode so readers never wait for the writer, with a busy
/// timeout so concurrent writers queue instead of failing; `synchronous =
/// NORMAL` is the documented safe pairing with WAL (a power cut may lose the
/// last commits, never corrupt the file).
pub async fn connect(args: &DatabaseArgs) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(args.database_url.clone());
    options
        .max_connections(pool_size(args))
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings every connection when it goes back to the pool (a
        // round trip it always makes; `Reads` makes that once per query
        // request rather than once per statement) and, by default, again
        // when it is taken out: a second round trip, to check what was
        // checked a moment ago (the homepage profile spent a fifth of the
        // server's CPU in socket writes; without it, homepage with a token
        // went from ~700 to ~930 req/s). Only a connection idle long enough
        // for a server, proxy or firewall to have dropped it is pinged.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // How many rows a connection's worker thread may run ahead
                // of the reader (sqlx's default is 50): a statement of
                // `deep` returns ~2,500, and at 50 the worker stopped and
                // waited to be woken every 50 rows. The buffer grows only
                // as far as a statement's rows, which the reader collects
                // anyway.
                .row_buffer_size(4_096)
        });
    Database::connect(options)
        .await
        .with_context(|| format!("cannot open the database at {}", redact(&args.database_url)))
}

/// The pool size: as set, or the default for the database.
///
/// # Implementation notes
/// PostgreSQL gets twice the old rule of thumb (cores x 2 + 1, for a
/// database's own concurrency): a write's transaction holds its connection
/// across some eight round trips, and between them the connection waits on
/// this process, which the rule does not count. On this 2-core machine, at
/// 32 clients, 10 connections rather than 5 gave `favoriteArticle`
/// 0.88-0.98x its SQL floor against 0.61-0.76x (addComment 0.65-0.96x
/// against 0.61-0.77x), reads the same within the noise (BENCHMARKS.md,
/// session 11). Beyond that reads only queue inside the database: a pool of
/// 16 gave `deep` a p99 of 570-650 ms against 360-440 ms with 4 or 8, at
/// the same throughput.
///
/// SQLite keeps the rule: a query reads from the file on connections of its
/// own (`Direct`), so the pool serves writes, which take the one write lock
/// in turn. More connections only make more writers wait in SQLite's busy
/// handler, which sleeps between tries, rather than in the pool's queue: 10
/// rather than 5 took addComment's p99 from 507-637 ms to 821-948 ms.
fn pool_size(args: &DatabaseArgs) -> u32 {
    if let Some(set) = args.db_max_connections {
        return set;
    }
    let cores = std::thread::available_parallelism().map_or(4, std::num::NonZero::get);
    let pool = if args.database_url.starts_with("postgres") {
        cores * 4 + 2
    } else {
        cores * 2 + 1
    };
    u32::try_from(pool).unwrap_or(16)
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("cannot migrate the database")?;
    tracing::info!("database schema is up to date");
    Ok(())
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("sqlite://conduit.db?mode=rwc"),
            "sqlite://conduit.db?mode=rwc"
        );
    }
}
