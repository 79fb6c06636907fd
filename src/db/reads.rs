//! Where a request's reads go: one connection for all of a query's
//! statements on PostgreSQL, the pool for everything else.
//!
//! # Implementation notes
//! sqlx tests every connection on its way back to the pool with a round
//! trip (a `Sync` answered by `ReadyForQuery`; sqlx-core 0.9's
//! `return_to_pool`, with no setting to skip it). Through the pool each
//! statement is an acquisition and such a release, so the homepage's four
//! statements cost four extra round trips, each a wake-up of the server's
//! task and of a PostgreSQL backend. A query request instead takes one
//! connection at its first statement and returns it when the request is
//! done. The statements of one request that could have run side by side
//! now queue on its connection (a tokio mutex, fair in arrival order);
//! under load the other requests keep the database busy meanwhile.
//!
//! Only queries: a mutation's transactions each take a connection of their
//! own from the pool. A request already holding one would want two, and
//! enough such requests at once would hold the whole pool while each waited
//! for a second. A query only reads, every read of a query goes through
//! here (`ContextExt::reads`), so a query request never holds more than
//! one. Subscriptions live for as long as a client listens; their reads
//! take the pool's connections one statement at a time.
//!
//! SQLite works the same way. There a statement runs in-process, but on a
//! connection's own worker thread (sqlx's design): through the pool each
//! statement was also an acquisition and a release, and the release's
//! check is a message to that thread and its answer back, which under load
//! is two more waits for a core.

use std::sync::Arc;
use std::time::Instant;

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, Database, Executor, IntoArguments, Postgres, Sqlite};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult,
    RuntimeErr, Statement, Values,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{Mutex, MutexGuard};

use super::{Direct, Reader};
use crate::metrics::Metrics;

/// A request's reads (see the module notes). Cheap to clone: clones share
/// the connection.
#[derive(Clone)]
pub struct Reads {
    db: DatabaseConnection,
    held: Option<HeldOn>,
    /// A query's SQLite reads that go straight to the file.
    direct: Option<Arc<Direct>>,
}

/// A query request's connection, on its backend.
#[derive(Clone)]
enum HeldOn {
    Postgres(Arc<Held<Postgres>>),
    Sqlite(Arc<Held<Sqlite>>),
}

/// The one connection of a query request, taken at its first statement.
struct Held<DB: Database> {
    pool: sqlx::Pool<DB>,
    connection: Mutex<Option<PoolConnection<DB>>>,
    metrics: Arc<Metrics>,
}

impl Reads {
    /// Every statement on a connection from the pool, returned after it.
    pub fn pooled(db: DatabaseConnection) -> Self {
        Self {
            db,
            held: None,
            direct: None,
        }
    }

    /// The reads of one query request: all on one connection, counted in
    /// `metrics` as `db`'s own statements are; on SQLite, those the domain
    /// reads row by row through `direct` when there is one.
    pub fn for_query(
        db: DatabaseConnection,
        metrics: Arc<Metrics>,
        direct: Option<Arc<Direct>>,
    ) -> Self {
        let held = match db.get_database_backend() {
            DbBackend::Postgres => Some(HeldOn::Postgres(Arc::new(Held::on(
                db.get_postgres_connection_pool().clone(),
                metrics,
            )))),
            DbBackend::Sqlite => Some(HeldOn::Sqlite(Arc::new(Held::on(
                db.get_sqlite_connection_pool().clone(),
                metrics,
            )))),
            _ => None,
        };
        Self { db, held, direct }
    }
}

impl HeldOn {
    async fn fetch_all(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Self::Postgres(held) => held.fetch_all(statement).await,
            Self::Sqlite(held) => held.fetch_all(statement).await,
        }
    }

    async fn execute(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Self::Postgres(held) => held.execute(statement).await,
            Self::Sqlite(held) => held.execute(statement).await,
        }
    }
}

impl<DB> Held<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
    QueryResult: From<DB::Row>,
    ExecResult: From<DB::QueryResult>,
{
    fn on(pool: sqlx::Pool<DB>, metrics: Arc<Metrics>) -> Self {
        Self {
            pool,
            connection: Mutex::new(None),
            metrics,
        }
    }

    /// The request's connection, taken from the pool if it has none yet.
    async fn connection(&self) -> Result<MutexGuard<'_, Option<PoolConnection<DB>>>, DbErr> {
        let mut slot = self.connection.lock().await;
        if slot.is_none() {
            *slot = Some(self.pool.acquire().await.map_err(acquire_error)?);
            self.metrics.record_query_connection();
        }
        Ok(slot)
    }

    async fn fetch_all(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut slot = self.connection().await?;
        let connection = slot.as_mut().expect("taken above");
        let started = Instant::now();
        let rows = query(&statement.sql, statement.values)
            .fetch_all(&mut **connection)
            .await;
        self.finish(&mut slot, &statement.sql, started, rows)
            .map(|rows| rows.into_iter().map(QueryResult::from).collect())
    }

    async fn execute(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        let mut slot = self.connection().await?;
        let connection = slot.as_mut().expect("taken above");
        let started = Instant::now();
        let done = query(&statement.sql, statement.values)
            .execute(&mut **connection)
            .await;
        self.finish(&mut slot, &statement.sql, started, done)
            .map(ExecResult::from)
    }

    /// Counts the statement; after a failure, lets the connection go.
    fn finish<T>(
        &self,
        slot: &mut Option<PoolConnection<DB>>,
        sql: &str,
        started: Instant,
        outcome: Result<T, sqlx::Error>,
    ) -> Result<T, DbErr> {
        self.metrics
            .record(sql, started.elapsed(), outcome.is_err());
        outcome.map_err(|error| {
            // The connection may be broken or mid-way through a reply: the
            // pool tests it (or closes it), and the request's next
            // statement takes another.
            *slot = None;
            DbErr::Query(RuntimeErr::SqlxError(Arc::new(error)))
        })
    }
}

/// `sql` with `values` bound as sea-orm binds them.
fn query<DB: Database>(sql: &str, values: Option<Values>) -> sqlx::query::Query<'_, DB, SqlxValues>
where
    SqlxValues: IntoArguments<DB>,
{
    let values = values.unwrap_or(Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(sql), SqlxValues(values))
}

/// sea-orm's reading of a failed acquisition, so that a pool timeout reads
/// the same whichever way the statement went.
fn acquire_error(error: sqlx::Error) -> DbErr {
    match error {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        other => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(other))),
    }
}

impl Reader for Reads {
    fn direct(&self) -> Option<&Direct> {
        self.direct.as_deref()
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Reads {
    fn get_database_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        match &self.held {
            Some(held) => held.execute(statement).await,
            None => self.db.execute_raw(statement).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.held {
            Some(held) => {
                held.execute(Statement::from_string(self.db.get_database_backend(), sql))
                    .await
            }
            None => self.db.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        match &self.held {
            Some(held) => Ok(held.fetch_all(statement).await?.into_iter().next()),
            None => self.db.query_one_raw(statement).await,
        }
    }

    async fn query_all_raw(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match &self.held {
            Some(held) => held.fetch_all(statement).await,
            None => self.db.query_all_raw(statement).await,
        }
    }
}
