//! SQLite reads of query requests straight from the statement (rusqlite),
//! on read-only connections of their own.
//!
//! # Implementation notes
//! Through sqlx, a SQLite statement runs on its connection's worker thread,
//! which copies every value of every row (`sqlite3_value_dup`: an
//! allocation each, a second for text), boxes the row and sends it over a
//! channel; sea-orm wraps each row once more, and every read checks the
//! value's type. On `deep` that was about as many instructions as the
//! database engine's own work (callgrind, BENCHMARKS.md). Here the asking
//! task steps the statement itself and each column goes from SQLite's
//! buffer into the row type (`domain::sql::Rows::SQLITE`).
//!
//! The connections are opened on the pool's database file, read-only:
//! in WAL mode a reader sees every committed write and never waits for
//! the writer. They are kept in a free list, not a pool: a statement takes
//! one, runs to its last row without an `await`, and gives it back, so
//! there are only ever as many as threads reading at one moment and no
//! statement waits for a connection. Each keeps its prepared statements
//! (rusqlite's cache): a statement text is parsed and planned once per
//! connection.
//!
//! The statement runs on the tokio worker that asked for it: the CPU work
//! sqlx's worker thread did before, while the asking task waited for it,
//! without the two threads' hand-offs. An in-memory database has no file a
//! second connection could open: there `open` gives `None` and every read
//! goes through sqlx.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::SecondsFormat;
use rusqlite::types::{ToSqlOutput, Value as Sqlite, ValueRef};
use rusqlite::{Connection, OpenFlags};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, RuntimeErr, Statement, Value,
};

use crate::metrics::Metrics;

/// Prepared statements kept per connection: a query request runs a few
/// dozen statement texts at most, and all of them fit.
const STATEMENTS_KEPT: usize = 128;

/// As long as sqlx's connections wait for a lock (`db::connect`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Each connection's page cache, at most (SQLite's `cache_size` in KiB
/// when negative; its default is 2 MiB). A page not in it is a `pread` of
/// the file: on the benchmark's 400 MB database a `deep` request made
/// ~1,600 of them with the default, each a system call and a 4 KiB copy.
/// There are only as many connections as threads reading at once, and the
/// cache grows only as far as pages are read.
const PAGE_CACHE_KIB: i64 = 64 * 1024;

/// Read-only connections on the database file (see the module notes).
pub struct Direct {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    metrics: Arc<Metrics>,
}

impl Direct {
    /// Direct reads of `db`'s database file, or `None` when `db` is not
    /// SQLite or its database lives in memory. Statements are counted in
    /// `metrics`, as `db`'s own are.
    pub async fn open(
        db: &DatabaseConnection,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Option<Arc<Self>>> {
        if db.get_database_backend() != DbBackend::Sqlite {
            return Ok(None);
        }
        // SQLite's own word on where the database is: an empty name for one
        // in memory (or a temporary one).
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT file FROM pragma_database_list WHERE name = 'main'",
            ))
            .await?;
        let file: String = match row {
            Some(row) => row.try_get_by_index(0)?,
            None => String::new(),
        };
        if file.is_empty() {
            return Ok(None);
        }
        let direct = Self {
            path: PathBuf::from(file),
            idle: Mutex::new(Vec::new()),
            metrics,
        };
        // A file that cannot be opened read-only says so at start-up.
        let first = direct.connect()?;
        direct.give_back(first);
        Ok(Some(Arc::new(direct)))
    }

    fn connect(&self) -> anyhow::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)?;
        connection.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
        Ok(connection)
    }

    fn take(&self) -> Result<Connection, DbErr> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        match idle {
            Some(connection) => Ok(connection),
            None => self.connect().map_err(|error| internal(error.to_string())),
        }
    }

    fn give_back(&self, connection: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(connection);
    }

    /// Runs `sql` with `values` bound and hands its rows to `read`; `None`
    /// (and nothing run) when a value has no SQLite form here, for the
    /// caller to go through sqlx instead. Counted as one statement.
    pub fn query<T>(
        &self,
        sql: &str,
        values: &[Value],
        read: impl FnOnce(rusqlite::Rows<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, DbErr> {
        let Some(values) = values.iter().map(sqlite_value).collect::<Option<Vec<_>>>() else {
            return Ok(None);
        };
        self.on_connection(sql, |connection| {
            let mut statement = connection.prepare_cached(sql)?;
            for (at, value) in values.iter().enumerate() {
                statement.raw_bind_parameter(at + 1, value)?;
            }
            read(statement.raw_query())
        })
        .map(Some)
    }

    /// `sql` run once for each of `keys`, the key bound to its first `?`
    /// and `rest` to those after, each run's rows handed to `read` with its
    /// key; `false` (and nothing run) when a value of `rest` has no SQLite
    /// form here.
    ///
    /// One prepared statement on one connection, stepped for each key:
    /// counted as the one statement it is. In-process, a run is a reset
    /// and a bind, not a round trip (sqlite.org's "Many Small Queries Are
    /// Efficient In SQLite").
    pub fn query_each(
        &self,
        sql: &str,
        keys: &[i64],
        rest: &[Value],
        mut read: impl FnMut(i64, rusqlite::Rows<'_>) -> rusqlite::Result<()>,
    ) -> Result<bool, DbErr> {
        let Some(rest) = rest.iter().map(sqlite_value).collect::<Option<Vec<_>>>() else {
            return Ok(false);
        };
        self.on_connection(sql, |connection| {
            // One read transaction for all the runs: one snapshot for every
            // parent, and one WAL read lock taken and let go rather than
            // one per run (BENCHMARKS.md, session 10).
            connection.prepare_cached("BEGIN")?.raw_execute()?;
            let mut statement = connection.prepare_cached(sql)?;
            for (at, value) in rest.iter().enumerate() {
                statement.raw_bind_parameter(at + 2, value)?;
            }
            for &key in keys {
                statement.raw_bind_parameter(1, key)?;
                read(key, statement.raw_query())?;
            }
            drop(statement);
            connection.prepare_cached("COMMIT")?.raw_execute()?;
            Ok(true)
        })
    }

    /// `work` (the statement `sql`) on a connection of the free list,
    /// counted as one statement.
    fn on_connection<T>(
        &self,
        sql: &str,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, DbErr> {
        let connection = self.take()?;
        let started = Instant::now();
        let outcome = work(&connection);
        self.metrics
            .record(sql, started.elapsed(), outcome.is_err());
        // A connection whose statement failed is closed rather than kept
        // (which also ends a transaction left open): an error is rare
        // enough not to bet on the state it left.
        if outcome.is_ok() {
            self.give_back(connection);
        }
        outcome.map_err(|error| internal(error.to_string()))
    }
}

/// `value` as sqlx binds it to SQLite (so that text compares equal to what
/// sqlx wrote): integers and booleans as integers, a time as RFC 3339 text
/// with as many fraction digits as it needs. `None` for a kind of value no
/// read here binds.
fn sqlite_value(value: &Value) -> Option<ToSqlOutput<'_>> {
    let owned = |value: Sqlite| ToSqlOutput::Owned(value);
    Some(match value {
        Value::BigInt(v) => owned(v.map_or(Sqlite::Null, Sqlite::Integer)),
        Value::Int(v) => owned(v.map_or(Sqlite::Null, |v| Sqlite::Integer(v.into()))),
        Value::Bool(v) => owned(v.map_or(Sqlite::Null, |v| Sqlite::Integer(v.into()))),
        // Borrowed: a batch's JSON array of ids is bound without a copy.
        Value::String(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
        Value::String(None) => owned(Sqlite::Null),
        Value::ChronoDateTimeUtc(v) => owned(v.as_ref().map_or(Sqlite::Null, |v| {
            Sqlite::Text(v.to_rfc3339_opts(SecondsFormat::AutoSi, false))
        })),
        _ => return None,
    })
}

fn internal(message: String) -> DbErr {
    DbErr::Query(RuntimeErr::Internal(message))
}

#[cfg(test)]
mod tests {
    use sea_orm::Database;

    use super::*;

    #[tokio::test]
    async fn a_database_in_memory_reads_through_the_pool() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let direct = Direct::open(&db, Arc::default()).await.unwrap();
        assert!(direct.is_none());
    }

    /// Direct connections see what the pool committed, and cannot write.
    #[tokio::test]
    async fn a_file_reads_what_the_pool_wrote_and_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Database::connect(&url).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL); INSERT INTO t VALUES (1, 'one')")
            .await
            .unwrap();
        let direct = Direct::open(&db, Arc::default())
            .await
            .unwrap()
            .expect("a file");
        let names = direct
            .query(
                "SELECT name FROM t WHERE id = ?",
                &[1i64.into()],
                |mut rows| {
                    let mut names = Vec::new();
                    while let Some(row) = rows.next()? {
                        names.push(row.get::<_, String>(0)?);
                    }
                    Ok(names)
                },
            )
            .unwrap();
        assert_eq!(names, Some(vec!["one".to_owned()]));

        let write = direct.query("INSERT INTO t VALUES (2, 'two')", &[], |mut rows| {
            rows.next().map(|_| ())
        });
        assert!(write.is_err(), "a read-only connection wrote: {write:?}");
        // A value it has no SQLite form for: nothing runs, the caller uses sqlx.
        let unbound = direct
            .query("SELECT ?", &[Value::Float(Some(1.5))], |_| Ok(()))
            .unwrap();
        assert!(unbound.is_none());
    }
}
