//! Hand-written SQL for the reads an ORM query builder says badly: keyset
//! pages and "first N per parent" batches. Written once with `?`
//! placeholders; `statement` numbers them for PostgreSQL.

use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::sqlx;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, QueryResult, Statement, Value};

use super::pagination::{Cursor, Edge, Order, Page, PageRequest};
use super::{ById, IdSet, Result};
use crate::db::Reader;

/// A statement for `db`'s backend from SQL with `?` placeholders.
pub(crate) fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => {
            let mut numbered = String::with_capacity(sql.len() + 16);
            let mut n = 0;
            for ch in sql.chars() {
                if ch == '?' {
                    n += 1;
                    numbered.push('$');
                    numbered.push_str(&n.to_string());
                } else {
                    numbered.push(ch);
                }
            }
            numbered
        }
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// The row lock of a queue's claim: on PostgreSQL `FOR UPDATE SKIP LOCKED`
/// (of the table aliased `of`, when the claim joins another), so claims
/// from several instances take disjoint rows without waiting on each
/// other; nothing on SQLite, which has one writer at a time anyway.
pub(crate) fn skip_locked(backend: DbBackend, of: Option<&str>) -> String {
    match (backend, of) {
        (DbBackend::Postgres, Some(alias)) => format!(" FOR UPDATE OF {alias} SKIP LOCKED"),
        (DbBackend::Postgres, None) => " FOR UPDATE SKIP LOCKED".to_owned(),
        _ => String::new(),
    }
}

/// `?, ?, ?` for `n` values.
pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// The condition "`column` is one of `ids`", with its values.
///
/// The ids go as one parameter, so a batch of any size is the same
/// statement text: one prepared statement per connection, where `IN (?, ?,
/// ...)` would prepare (and plan, and evict from sqlx's 100-entry cache)
/// one statement per batch size. PostgreSQL takes an array; SQLite, which
/// has none, a JSON array walked by `json_each` (its preparing is in-process,
/// but parsing 500 placeholders on every new size is not free either).
///
/// # One id
/// PostgreSQL plans a prepared statement anew on every run while its plan
/// for the parameters at hand looks cheaper than its generic plan, and the
/// generic plan of `= ANY($1)` or `unnest($1)` is costed for an array of
/// ten. A batch of one (`article`'s comments and author) always looked
/// cheaper, so it was planned on every request: with the comments' authors
/// joined in, planning the join was a third of the database's time on
/// `article`. For one id PostgreSQL's statements say `= $1` (here and in
/// `Keyset::pages_per_parent`), whose generic plan costs what each run's
/// does, so PostgreSQL keeps it after five runs. (`plan_cache_mode =
/// force_generic_plan` would do that for every statement, and give a list
/// by a rare tag the plan made for a common one.)
pub(crate) fn any_of(backend: DbBackend, column: &str, ids: &[i64]) -> (String, Vec<Value>) {
    match (backend, ids) {
        (DbBackend::Postgres, &[id]) => (format!("{column} = ?"), vec![Value::from(id)]),
        (DbBackend::Postgres, _) => (
            format!("{column} = ANY(?::bigint[])"),
            vec![Value::from(ids.to_vec())],
        ),
        (_, _) => (
            format!("{column} IN (SELECT value FROM json_each(?))"),
            vec![json_ids(ids).into()],
        ),
    }
}

/// `ids` as a JSON array, for SQLite's `json_each`.
fn json_ids(ids: &[i64]) -> String {
    use std::fmt::Write as _;
    let mut json = String::with_capacity(2 + ids.len() * 7);
    json.push('[');
    for (n, id) in ids.iter().enumerate() {
        if n > 0 {
            json.push(',');
        }
        write!(json, "{id}").expect("writing to a String cannot fail");
    }
    json.push(']');
    json
}

/// `select` (a `SELECT ... FROM ...` with no `WHERE`) kept to the rows
/// whose `column` is one of `ids`, with its values.
fn select_any_of(
    backend: DbBackend,
    select: &str,
    column: &str,
    ids: &[i64],
) -> (String, Vec<Value>) {
    let (ids_in, values) = any_of(backend, column, ids);
    (format!("{select} WHERE {ids_in}"), values)
}

/// The rows of `select_any_of`.
pub(crate) async fn where_any_of(
    db: &impl ConnectionTrait,
    select: &str,
    column: &str,
    ids: &[i64],
) -> Result<Vec<QueryResult>> {
    let (sql, values) = select_any_of(db.get_database_backend(), select, column, ids);
    query_all(db, &sql, values).await
}

/// The rows of `select_any_of`, read as `T` (see `rows`).
pub(crate) async fn rows_any_of<T: Rows>(
    db: &impl Reader,
    select: &str,
    column: &str,
    ids: &[i64],
) -> Result<Vec<T>> {
    let (sql, values) = select_any_of(db.get_database_backend(), select, column, ids);
    rows(db, &sql, values).await
}

/// `rows`, each under the id `id` gives it.
pub(crate) fn by_id<T>(rows: Vec<T>, id: impl Fn(&T) -> i64) -> ById<T> {
    rows.into_iter().map(|item| (id(&item), item)).collect()
}

/// The rows of `sql` with `values` read as `T`: straight from SQLite where
/// `db` can (`db::Direct`) and `T` says how (`Rows::SQLITE`), else through
/// sea-orm.
pub(crate) async fn rows<T: Rows>(
    db: &impl Reader,
    sql: &str,
    values: Vec<Value>,
) -> Result<Vec<T>> {
    if let (Some(direct), Some(read)) = (db.direct(), T::SQLITE) {
        let rows = direct.query(sql, &values, |mut rows| {
            let maybe_at = (read.positions)(rows.as_ref().expect("rows of a statement"), 0, "");
            let mut read_rows = Vec::new();
            while let Some(row) = rows.next()? {
                read_rows.push((read.row)(row, 0, &maybe_at)?);
            }
            Ok(read_rows)
        })?;
        if let Some(rows) = rows {
            return Ok(rows);
        }
    }
    Ok(T::from_rows(&query_all(db, sql, values).await?)?)
}

/// A list's row: the item, its cursor, and its parent when the statement
/// selects one (`pages_per_parent`).
struct Keyed<T> {
    edge: Edge<T>,
    parent_id: Option<i64>,
}

/// How a list's rows are read from one SQLite statement: the row type's
/// reading, and where the statement has its optional columns and keys.
struct SqliteKeyed<T> {
    read: SqliteRead<T>,
    maybe_at: Vec<Option<usize>>,
    at: Positions,
}

impl<T> SqliteKeyed<T> {
    fn of(
        statement: &rusqlite::Statement<'_>,
        read: SqliteRead<T>,
        keys: KeyNames,
    ) -> rusqlite::Result<Self> {
        Ok(Self {
            maybe_at: (read.positions)(statement, 0, ""),
            at: Positions::in_columns(&statement.column_names(), keys)
                .map_err(rusqlite::Error::InvalidColumnName)?,
            read,
        })
    }

    fn row(&self, row: &rusqlite::Row<'_>) -> rusqlite::Result<Keyed<T>> {
        Ok(Keyed {
            edge: Edge {
                cursor: Cursor {
                    at: SqliteColumn::read(row, self.at.sort_at)?,
                    id: SqliteColumn::read(row, self.at.sort_id)?,
                },
                node: (self.read.row)(row, 0, &self.maybe_at)?,
            },
            parent_id: self.at.parent_id.map(|at| row.get(at)).transpose()?,
        })
    }
}

/// `rows` for a list: each row, with what `keys` names in it, handed to
/// `each` in order (handed over, not collected: a page per parent groups
/// them as they come).
async fn each_keyed_row<T: Rows>(
    db: &impl Reader,
    sql: &str,
    values: Vec<Value>,
    keys: KeyNames,
    mut each: impl FnMut(Keyed<T>),
) -> Result<()> {
    if let (Some(direct), Some(read)) = (db.direct(), T::SQLITE) {
        let ran = direct.query(sql, &values, |mut rows| {
            let statement = rows.as_ref().expect("rows of a statement");
            let reading = SqliteKeyed::of(statement, read, keys)?;
            while let Some(row) = rows.next()? {
                each(reading.row(row)?);
            }
            Ok(())
        })?;
        if ran.is_some() {
            return Ok(());
        }
    }
    let rows = query_all(db, sql, values).await?;
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let at =
        Positions::in_columns(&first.column_names(), keys).map_err(|why| anyhow::anyhow!(why))?;
    for (row, node) in rows.iter().zip(T::from_rows(&rows)?) {
        each(Keyed {
            edge: at.edge(row, node)?,
            parent_id: at
                .parent_id
                .map(|at| row.try_get_by_index(at))
                .transpose()?,
        });
    }
    Ok(())
}

/// A row type read from all the rows of one statement at once.
///
/// The default reads each row as `FromQueryResult` does. `read_by_position`
/// types do better on PostgreSQL: sqlx checks a value's column type against
/// the Rust type on every read (a clone of the column's type information
/// and a comparison of the two), which was 8 % of `deep`'s instructions
/// (callgrind); every row of one statement has the same columns, so those
/// types read the rows with the checks made once, on the statement's
/// column list, and each value decoded without them.
///
/// `SQLITE` says how to read the type straight from a SQLite statement
/// (`db::Direct`); a type without it is read through sea-orm there too.
pub(crate) trait Rows: FromQueryResult {
    fn from_rows(rows: &[QueryResult]) -> std::result::Result<Vec<Self>, DbErr> {
        // Sized once (`collect` into a `Result` grows as it goes).
        let mut read = Vec::with_capacity(rows.len());
        for row in rows {
            read.push(Self::from_query_result(row, "")?);
        }
        Ok(read)
    }

    const SQLITE: Option<SqliteRead<Self>> = None;
}

/// How a row type reads itself from a SQLite statement's rows
/// (`read_from_sqlite`).
pub(crate) struct SqliteRead<T> {
    /// Where the statement has the type's optional columns (once per
    /// statement; see `read_by_position`), for the type's columns from
    /// position `first` on with their names after `prefix` (`""` and 0 but
    /// for a row joined to another's: `Joined`).
    pub positions: fn(&rusqlite::Statement<'_>, usize, &str) -> Vec<Option<usize>>,
    /// One row, its columns from `first` on, with the optional columns
    /// where `positions` found them.
    pub row: fn(&rusqlite::Row<'_>, usize, &[Option<usize>]) -> rusqlite::Result<T>,
}

// Two function pointers whatever `T` is (a derive would ask `T: Copy`).
impl<T> Clone for SqliteRead<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SqliteRead<T> {}

/// A value as a SQLite column holds it, decoded as sqlx decodes it.
pub(crate) trait SqliteColumn: Sized {
    fn read(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Self>;
}

impl SqliteColumn for i64 {
    fn read(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Self> {
        row.get(at)
    }
}

impl SqliteColumn for String {
    fn read(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Self> {
        row.get(at)
    }
}

impl SqliteColumn for bool {
    fn read(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Self> {
        row.get(at)
    }
}

impl<T: SqliteColumn> SqliteColumn for Option<T> {
    fn read(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Self> {
        match row.get_ref(at)? {
            rusqlite::types::ValueRef::Null => Ok(None),
            _ => T::read(row, at).map(Some),
        }
    }
}

/// Times are text in SQLite: RFC 3339 as sqlx writes them (`T`, an offset),
/// or SQLite's own `YYYY-MM-DD HH:MM:SS[.fff]` (`CURRENT_TIMESTAMP`, UTC).
impl SqliteColumn for DateTime<Utc> {
    fn read(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Self> {
        let value = row.get_ref(at)?;
        let text = value.as_str().map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(at, value.data_type(), Box::new(error))
        })?;
        if let Some(time) = utc_as_sqlx_writes_it(text.as_bytes()) {
            return Ok(time);
        }
        DateTime::parse_from_rfc3339(text)
            .map(|time| time.with_timezone(&Utc))
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%F %T%.f").map(|time| time.and_utc()))
            .map_err(|error| {
                rusqlite::Error::FromSqlConversionFailure(at, value.data_type(), Box::new(error))
            })
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]+00:00`, the one form sqlx writes a UTC
/// time in (`to_rfc3339_opts(AutoSi, false)`); `None` for anything else,
/// which chrono's parsers then read. Every list row has a time for its
/// cursor: on `deep` chrono's general RFC 3339 parser was ~0.9 M
/// instructions a request (callgrind), this a fraction of that.
fn utc_as_sqlx_writes_it(text: &[u8]) -> Option<DateTime<Utc>> {
    let (time, offset) = text.split_at_checked(text.len().checked_sub(6)?)?;
    if offset != b"+00:00" || time.len() < 19 {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        time[range].iter().try_fold(0, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let layout = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if layout.iter().any(|&(at, b)| time[at] != b) {
        return None;
    }
    let nanos = match &time[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(20..time.len())? * 10u32.pow(9 - u32::try_from(fraction.len()).ok()?)
        }
        _ => return None,
    };
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(digits(0..4)?).ok()?,
        digits(5..7)?,
        digits(8..10)?,
    )?;
    let clock = chrono::NaiveTime::from_hms_nano_opt(
        digits(11..13)?,
        digits(14..16)?,
        digits(17..19)?,
        nanos,
    )?;
    Some(date.and_time(clock).and_utc())
}

/// `Rows::SQLITE` for a row type whose columns come first in its
/// statements, in field order, with optional fields after a `;` found by
/// name (the reading `read_by_position` describes).
macro_rules! read_from_sqlite {
    ($($field:ident),+ ; $($maybe:ident),*) => {
        const SQLITE: Option<$crate::domain::sql::SqliteRead<Self>> =
            Some($crate::domain::sql::SqliteRead {
                positions: |statement, first, prefix| {
                    $crate::domain::sql::check_sqlite_positions(
                        statement,
                        first,
                        prefix,
                        &[$(stringify!($field)),+],
                    );
                    $crate::domain::sql::sqlite_positions(
                        statement,
                        prefix,
                        &[$(stringify!($maybe)),*],
                    )
                },
                row: |row, first, maybe_at| {
                    use $crate::domain::sql::SqliteColumn;
                    // Unused by a row type without optional fields.
                    #[allow(unused_mut, unused_variables)]
                    let mut maybe_at = maybe_at.iter();
                    let mut at = first..;
                    Ok(Self {
                        $($field: SqliteColumn::read(row, at.next().expect("an endless range"))?,)+
                        $($maybe: match maybe_at.next().expect("one position per field") {
                            Some(at) => Some(SqliteColumn::read(row, *at)?),
                            None => None,
                        },)*
                    })
                },
            });
    };
}
pub(crate) use read_from_sqlite;

/// Where `statement` has a column of each of `names` after `prefix`.
pub(crate) fn sqlite_positions(
    statement: &rusqlite::Statement<'_>,
    prefix: &str,
    names: &[&str],
) -> Vec<Option<usize>> {
    names
        .iter()
        .map(|name| statement.column_index(&prefixed(prefix, name)).ok())
        .collect()
}

/// `check_positions`, on a SQLite statement.
pub(crate) fn check_sqlite_positions(
    statement: &rusqlite::Statement<'_>,
    first: usize,
    prefix: &str,
    fields: &[&str],
) {
    if cfg!(debug_assertions) {
        check_names(&statement.column_names(), first, prefix, fields);
    }
}

/// A column's name as a row type joined to another's has it (`Joined`):
/// after the prefix that keeps it apart from the other type's columns.
fn prefixed<'a>(prefix: &str, name: &'a str) -> std::borrow::Cow<'a, str> {
    if prefix.is_empty() {
        name.into()
    } else {
        format!("{prefix}{name}").into()
    }
}

/// That `names`, a statement's columns, have `fields` (after `prefix`) in
/// order from position `first` on: a select list that drifts from its row
/// type fails the tests instead of swapping values.
fn check_names(names: &[impl AsRef<str>], first: usize, prefix: &str, fields: &[&str]) {
    let found = names.get(first..first + fields.len());
    assert!(
        found.is_some_and(|found| found
            .iter()
            .zip(fields)
            .all(|(name, field)| name.as_ref() == prefixed(prefix, field))),
        "a row read by position selects {:?}, not {fields:?} (prefix {prefix:?}) from {first} on",
        names.iter().map(AsRef::as_ref).collect::<Vec<_>>()
    );
}

// In the column order of `comments::by_ids` and `BY_ARTICLE`.
impl Rows for entity::comment::Model {
    read_from_sqlite!(id, article_id, author_id, body, created_at, updated_at;);
}
impl Rows for entity::webhook::Model {}
impl Rows for entity::webhook_delivery::Model {}

impl<T: Rows> Rows for Seen<T> {
    fn from_rows(rows: &[QueryResult]) -> std::result::Result<Vec<Self>, DbErr> {
        T::from_rows(rows)?
            .into_iter()
            .zip(rows)
            .map(|(row, read)| {
                Ok(Self {
                    row,
                    flag: read.try_get("", FLAG_COLUMN)?,
                })
            })
            .collect()
    }

    // `T`'s reading, and the flag after its optional columns.
    const SQLITE: Option<SqliteRead<Self>> = match T::SQLITE {
        Some(_) => Some(SqliteRead {
            positions: seen_positions::<T>,
            row: seen_row::<T>,
        }),
        None => None,
    };
}

fn seen_positions<T: Rows>(
    statement: &rusqlite::Statement<'_>,
    first: usize,
    prefix: &str,
) -> Vec<Option<usize>> {
    let mut at = (T::SQLITE
        .expect("Seen reads SQLite only when T does")
        .positions)(statement, first, prefix);
    at.push(statement.column_index(FLAG_COLUMN).ok());
    at
}

fn seen_row<T: Rows>(
    row: &rusqlite::Row<'_>,
    first: usize,
    maybe_at: &[Option<usize>],
) -> rusqlite::Result<Seen<T>> {
    let (flag_at, own) = maybe_at
        .split_last()
        .expect("seen_positions ends with the flag");
    let flag_at =
        flag_at.ok_or_else(|| rusqlite::Error::InvalidColumnName(FLAG_COLUMN.to_owned()))?;
    Ok(Seen {
        row: (T::SQLITE.expect("Seen reads SQLite only when T does").row)(row, first, own)?,
        flag: row.get(flag_at)?,
    })
}

/// A row type that reads itself from any column of a statement on
/// (`read_by_position` types): how `Joined` reads the row joined to another.
pub(crate) trait RowsAt: Rows {
    /// The name of its first column, where a joined reading starts.
    const FIRST: &'static str;
    /// How many optional columns it has (`read_by_position`'s after `;`).
    const OPTIONAL: usize;

    /// Each row's value from column `from` on, with its optional columns
    /// found under their names after `prefix`.
    fn from_rows_at(
        rows: &[QueryResult],
        from: usize,
        prefix: &str,
    ) -> std::result::Result<Vec<Self>, DbErr>;
}

/// A row and, where its statement joins it, a row of another table read
/// by the same statement (a comment's author): one statement and one round
/// trip fewer than asking for the second by id after the first.
///
/// The joined row's columns come after the row's own, each named after
/// `JOINED_PREFIX` (`joined_list`), which keeps them apart
/// from the row's (both have an `id`). A statement without them reads
/// `joined: None`.
#[derive(Clone, Debug)]
pub struct Joined<T, U> {
    pub row: T,
    pub joined: Option<U>,
}

/// What a joined row's columns are named after (see `Joined`).
pub(crate) const JOINED_PREFIX: &str = "joined_";

/// `list` (`t.a, t.b`) with each column named after `JOINED_PREFIX`
/// (`t.a AS joined_a, t.b AS joined_b`): a joined row's select list.
pub(crate) fn joined_list(list: &str) -> String {
    list.split(", ")
        .map(|column| {
            let name = column.rsplit('.').next().unwrap_or(column);
            format!("{column} AS {JOINED_PREFIX}{name}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the joined row's first column is among `names`, if it was read.
fn joined_at<U: RowsAt>(names: &[impl AsRef<str>]) -> Option<usize> {
    let first = prefixed(JOINED_PREFIX, U::FIRST);
    names.iter().position(|name| name.as_ref() == first)
}

impl<T: FromQueryResult, U: RowsAt> FromQueryResult for Joined<T, U> {
    fn from_query_result(row: &QueryResult, prefix: &str) -> std::result::Result<Self, DbErr> {
        let joined = match joined_at::<U>(&row.column_names()) {
            Some(at) => U::from_rows_at(std::slice::from_ref(row), at, JOINED_PREFIX)?.pop(),
            None => None,
        };
        Ok(Self {
            row: T::from_query_result(row, prefix)?,
            joined,
        })
    }
}

impl<T: Rows, U: RowsAt> Rows for Joined<T, U> {
    fn from_rows(rows: &[QueryResult]) -> std::result::Result<Vec<Self>, DbErr> {
        let own = T::from_rows(rows)?;
        let at = rows
            .first()
            .and_then(|first| joined_at::<U>(&first.column_names()));
        Ok(match at {
            Some(at) => own
                .into_iter()
                .zip(U::from_rows_at(rows, at, JOINED_PREFIX)?)
                .map(|(row, joined)| Self {
                    row,
                    joined: Some(joined),
                })
                .collect(),
            None => own
                .into_iter()
                .map(|row| Self { row, joined: None })
                .collect(),
        })
    }

    // Positions: where the joined row starts, its optional columns
    // (`U::OPTIONAL` of them), then the row's own.
    const SQLITE: Option<SqliteRead<Self>> = match (T::SQLITE, U::SQLITE) {
        (Some(_), Some(_)) => Some(SqliteRead {
            positions: joined_positions::<T, U>,
            row: joined_row::<T, U>,
        }),
        _ => None,
    };
}

fn joined_positions<T: Rows, U: RowsAt>(
    statement: &rusqlite::Statement<'_>,
    first: usize,
    prefix: &str,
) -> Vec<Option<usize>> {
    let at = joined_at::<U>(&statement.column_names());
    let mut positions = vec![at];
    match at {
        Some(at) => positions.extend((U::SQLITE
            .expect("Joined reads SQLite only when U does")
            .positions)(statement, at, JOINED_PREFIX)),
        None => positions.extend(std::iter::repeat_n(None, U::OPTIONAL)),
    }
    positions.extend((T::SQLITE
        .expect("Joined reads SQLite only when T does")
        .positions)(statement, first, prefix));
    positions
}

fn joined_row<T: Rows, U: RowsAt>(
    row: &rusqlite::Row<'_>,
    first: usize,
    positions: &[Option<usize>],
) -> rusqlite::Result<Joined<T, U>> {
    let (&at, rest) = positions
        .split_first()
        .expect("joined_positions starts with the joined row's");
    let (joined, own) = rest.split_at(U::OPTIONAL);
    Ok(Joined {
        row: (T::SQLITE.expect("Joined reads SQLite only when T does").row)(row, first, own)?,
        joined: match at {
            Some(at) => Some((U::SQLITE
                .expect("Joined reads SQLite only when U does")
                .row)(row, at, joined)?),
            None => None,
        },
    })
}

/// Whether the type of the column at `at` of a PostgreSQL statement's rows
/// (`row` is any one of them) is one sqlx decodes as `T`, the type of the
/// field `_field` projects (it names the type for inference).
pub(crate) fn fits<R, T: sqlx::Type<sqlx::Postgres>>(
    row: &sqlx::postgres::PgRow,
    at: usize,
    _field: fn(&R) -> &T,
) -> bool {
    use sqlx::{Column as _, Row as _};
    row.columns()
        .get(at)
        .is_some_and(|column| T::compatible(column.type_info()))
}

/// The value at `at`, decoded without sqlx's type check: only for a column
/// whose type `fits`.
pub(crate) fn unchecked<T>(row: &sqlx::postgres::PgRow, at: usize) -> std::result::Result<T, DbErr>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres>,
{
    use sqlx::Row as _;
    row.try_get_unchecked(at)
        .map_err(|error| DbErr::Type(format!("column {at}: {error}")))
}

pub(crate) async fn query_all(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<Value>,
) -> Result<Vec<QueryResult>> {
    Ok(db
        .query_all_raw(statement(db.get_database_backend(), sql, values))
        .await?)
}

pub(crate) async fn execute(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<Value>,
) -> Result<u64> {
    Ok(db
        .execute_raw(statement(db.get_database_backend(), sql, values))
        .await?
        .rows_affected())
}

pub(crate) async fn count(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Result<i64> {
    let row = db
        .query_one_raw(statement(db.get_database_backend(), sql, values))
        .await?
        .ok_or_else(|| anyhow::anyhow!("a COUNT returned no row"))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// Which of `ids` stand beside `owner` in a pair table: which articles a
/// user favorited, which users a user follows.
pub(crate) async fn paired(
    db: &impl ConnectionTrait,
    table: &str,
    owner_column: &str,
    owner: i64,
    member_column: &str,
    ids: &[i64],
) -> Result<IdSet> {
    let (member_in, members) = any_of(db.get_database_backend(), member_column, ids);
    let mut values: Vec<Value> = vec![owner.into()];
    values.extend(members);
    let rows = query_all(
        db,
        &format!(
            "SELECT {member_column} AS member FROM {table} WHERE {owner_column} = ? AND {member_in}"
        ),
        values,
    )
    .await?;
    rows.iter()
        .map(|row| Ok(row.try_get("", "member")?))
        .collect()
}

/// A row with one yes-or-no about the viewer, read by the same statement
/// (has the viewer favorited this article, do they follow this user).
///
/// A list and its viewer flags would otherwise be two statements, the
/// second waiting for the first's ids: on the homepage with a token that
/// is two of seven statements and one more round trip. The flag is an
/// `EXISTS` probe of the pair table's primary key per row, asked for only
/// when the query selects it.
#[derive(Clone, Debug)]
pub struct Seen<T> {
    pub row: T,
    pub flag: bool,
}

/// The name `Seen` reads its flag under.
const FLAG_COLUMN: &str = "viewer_flag";

impl<T: FromQueryResult> FromQueryResult for Seen<T> {
    fn from_query_result(row: &QueryResult, prefix: &str) -> std::result::Result<Self, DbErr> {
        Ok(Self {
            row: T::from_query_result(row, prefix)?,
            flag: row.try_get(prefix, FLAG_COLUMN)?,
        })
    }
}

/// A select-list item giving `Seen` its flag: `probe` is an SQL boolean
/// with one `?`, which stands for the viewer.
pub(crate) fn flag_column(probe: &str) -> String {
    format!("{probe} AS {FLAG_COLUMN}")
}

/// What a keyset list selects from and how it sorts. `columns` must include
/// the sort columns (and for `pages_per_parent` the parent), under the
/// names `keys` gives.
pub(crate) struct Keyset<'a> {
    /// `SELECT` list, e.g. `a.id, a.title, a.created_at AS sort_at, a.id AS sort_id`.
    pub columns: &'a str,
    /// The names under which `columns` has the sort columns and the parent.
    pub keys: KeyNames,
    /// `FROM` clause with joins.
    pub from: &'a str,
    /// The timestamp column rows sort on, e.g. `a.created_at`.
    pub sort_at: &'a str,
    /// The id column that breaks ties, e.g. `a.id`.
    pub sort_id: &'a str,
    /// The alias (in `from`) of the table with one row per list item, e.g.
    /// `f` for a list of follows: on SQLite, `pages_per_parent` finds a
    /// page's rows again by that table's `rowid`.
    pub item: &'a str,
}

/// A row of another table beside each of a list's rows (`Joined`): the row
/// of `table` (with its alias) whose `key` is the list row's `column`,
/// selecting `columns` (named after `JOINED_PREFIX`: `joined_list`).
#[derive(Clone, Copy)]
pub(crate) struct Join<'a> {
    pub table: &'a str,
    pub key: &'a str,
    pub column: &'a str,
    pub columns: &'a str,
}

impl Join<'_> {
    /// The join to the rows of `alias` (the list's table, or its page).
    fn on(&self, alias: &str) -> String {
        format!(
            " JOIN {table} ON {key} = {alias}.{column}",
            table = self.table,
            key = self.key,
            column = self.column,
        )
    }
}

/// Where a list's statement has its cursor columns and its parent: under
/// the row's own column names when the row reads them anyway (an
/// article's `created_at`, `id`, `author_id`), so no value is read twice;
/// under aliases (`ALIASES`) when the row has none or a column of the same
/// name from another table (a follow's `created_at` beside the user's).
#[derive(Clone, Copy)]
pub(crate) struct KeyNames {
    pub sort_at: &'static str,
    pub sort_id: &'static str,
    pub parent_id: &'static str,
}

impl KeyNames {
    /// `... AS sort_at`, `... AS sort_id`, `... AS parent_id`.
    pub(crate) const ALIASES: Self = Self {
        sort_at: "sort_at",
        sort_id: "sort_id",
        parent_id: "parent_id",
    };
}

impl<'a> Keyset<'a> {
    /// This list, selecting `columns` (which must still hold `keys`).
    pub(crate) fn reading<'b>(&self, columns: &'b str) -> Keyset<'b>
    where
        'a: 'b,
    {
        Keyset { columns, ..*self }
    }

    /// One page of a single list, filtered by `conditions` (ANDed).
    pub(crate) async fn page<T: Rows>(
        &self,
        db: &impl Reader,
        conditions: Vec<(String, Vec<Value>)>,
        order: Order,
        request: &PageRequest,
    ) -> Result<Page<T>> {
        self.page_with(db, Vec::new(), conditions, order, request)
            .await
    }

    /// `page`, each row with what `probe` (see `flag_column`) says of it
    /// for `viewer`.
    pub(crate) async fn page_seen<T: Rows>(
        &self,
        db: &impl Reader,
        probe: &str,
        viewer: i64,
        conditions: Vec<(String, Vec<Value>)>,
        order: Order,
        request: &PageRequest,
    ) -> Result<Page<Seen<T>>> {
        let columns = format!("{}, {}", self.columns, flag_column(probe));
        let seen = Keyset {
            columns: &columns,
            ..*self
        };
        // The probe's `?` comes first in the text, so its value does too.
        seen.page_with(db, vec![viewer.into()], conditions, order, request)
            .await
    }

    /// `page`, with `leading` the values of any `?` in the select list.
    async fn page_with<T: Rows>(
        &self,
        db: &impl Reader,
        leading: Vec<Value>,
        conditions: Vec<(String, Vec<Value>)>,
        order: Order,
        request: &PageRequest,
    ) -> Result<Page<T>> {
        let (mut filters, mut values) = unzip_conditions(conditions, leading);
        if request.after.is_some() {
            filters.push(self.after_condition(order));
            values.extend(Self::cursor_values(request));
        }
        // At most `limit` rows.
        let mut edges = Vec::with_capacity(usize::try_from(request.limit()).unwrap_or(0));
        let select = self.select(&filters, order, request);
        each_keyed_row(db, &select, values, self.keys, |row: Keyed<T>| {
            edges.push(row.edge)
        })
        .await?;
        Ok(Page::from_rows(edges, request))
    }

    /// The same page of the list under each parent, in one statement.
    /// `parent` is the column that names the parent; it must also be
    /// selected (as `keys.parent_id`).
    ///
    /// # Implementation notes
    /// Each parent's page is its own `ORDER BY ... LIMIT` walk down the
    /// `(parent, sort_at)` index, so a parent costs `first + 1` index entries
    /// however many rows it has. A `ROW_NUMBER() OVER (PARTITION BY parent)`
    /// window reads and numbers every row of every parent first: on the
    /// benchmark data (authors with ~5,000 followers), EXPLAIN ANALYZE put
    /// the followers page for 50 authors at 29.9 ms windowed against 5.3 ms
    /// this way. PostgreSQL says it with `CROSS JOIN LATERAL`; SQLite has no
    /// LATERAL, so there each parent's page is a correlated subquery (see
    /// `correlated_pages`).
    pub(crate) async fn pages_per_parent<T: Rows>(
        &self,
        db: &impl Reader,
        parent: &str,
        parents: &[i64],
        order: Order,
        request: &PageRequest,
    ) -> Result<ById<Page<T>>> {
        self.pages_per_parent_joined(db, parent, parents, order, request, None)
            .await
    }

    /// `pages_per_parent`, each row with the row `join` names beside it
    /// (read as `Joined`) when there is one.
    pub(crate) async fn pages_per_parent_joined<T: Rows>(
        &self,
        db: &impl Reader,
        parent: &str,
        parents: &[i64],
        order: Order,
        request: &PageRequest,
        join: Option<Join<'_>>,
    ) -> Result<ById<Page<T>>> {
        // A parent's page is at most `limit` rows: one allocation each.
        let limit = usize::try_from(request.limit()).unwrap_or(0);
        if let (Some(direct), Some(read)) = (db.direct(), T::SQLITE) {
            // In-process, one cached statement run per parent walks each
            // parent's index range and nothing else; each run's rows are
            // that parent's page, in order (a joined row is looked up by
            // its key for each row, as the rows come).
            let sql = match join {
                Some(join) => {
                    let columns = format!("{}, {}", self.columns, join.columns);
                    let from = format!("{}{}", self.from, join.on(self.item));
                    Keyset {
                        from: &from,
                        ..*self
                    }
                    .page_of_one(&columns, parent, "?", order, request)
                }
                None => self.page_of_one(self.columns, parent, "?", order, request),
            };
            let mut pages = ById::with_capacity_and_hasher(parents.len(), Default::default());
            let mut reading = None;
            let ran = direct.query_each(
                &sql,
                parents,
                &Self::cursor_values(request),
                |parent_id, mut rows| {
                    let statement = rows.as_ref().expect("rows of a statement");
                    let reading = match &mut reading {
                        Some(reading) => reading,
                        None => reading.insert(SqliteKeyed::of(statement, read, self.keys)?),
                    };
                    let mut edges = Vec::with_capacity(limit);
                    while let Some(row) = rows.next()? {
                        edges.push(reading.row(row)?.edge);
                    }
                    pages.insert(parent_id, Page::from_rows(edges, request));
                    Ok(())
                },
            )?;
            if ran {
                return Ok(pages);
            }
        }
        let mut grouped: ById<Vec<Edge<T>>> =
            ById::with_capacity_and_hasher(parents.len(), Default::default());
        if !parents.is_empty() {
            let (sql, values) = match db.get_database_backend() {
                DbBackend::Postgres => self.lateral_pages(parent, parents, order, request, join),
                _ => self.correlated_pages(parent, parents, order, request, join),
            };
            let mut without_parent = false;
            each_keyed_row(db, &sql, values, self.keys, |row: Keyed<T>| {
                match row.parent_id {
                    Some(parent_id) => grouped
                        .entry(parent_id)
                        .or_insert_with(|| Vec::with_capacity(limit))
                        .push(row.edge),
                    None => without_parent = true,
                }
            })
            .await?;
            if without_parent {
                return Err(anyhow::anyhow!(
                    "a page per parent selects no {}",
                    self.keys.parent_id
                )
                .into());
            }
        }
        Ok(parents
            .iter()
            .map(|&id| {
                let mut edges = grouped.remove(&id).unwrap_or_default();
                // Row order across a join is not promised by SQL (SQLite's
                // comes in rowid order); a page of at most 101 rows is
                // sorted here for certain.
                edges.sort_by(|a, b| {
                    let by_key = (a.cursor.at, a.cursor.id).cmp(&(b.cursor.at, b.cursor.id));
                    match order {
                        Order::NewestFirst => by_key.reverse(),
                        Order::OldestFirst => by_key,
                    }
                });
                (id, Page::from_rows(edges, request))
            })
            .collect())
    }

    /// One parent's page, with `?` standing for the parent id (`key`) and,
    /// when there is a cursor, the cursor after it.
    /// `columns` are what it selects.
    fn page_of_one(
        &self,
        columns: &str,
        parent: &str,
        key: &str,
        order: Order,
        request: &PageRequest,
    ) -> String {
        let mut filters = vec![format!("{parent} = {key}")];
        if request.after.is_some() {
            filters.push(self.after_condition(order));
        }
        self.select_columns(columns, &filters, order, request)
    }

    /// The rows that pass `filters`, in order: `request.limit()` of them.
    fn select(&self, filters: &[String], order: Order, request: &PageRequest) -> String {
        self.select_columns(self.columns, filters, order, request)
    }

    /// `select`, selecting `columns`.
    fn select_columns(
        &self,
        columns: &str,
        filters: &[String],
        order: Order,
        request: &PageRequest,
    ) -> String {
        format!(
            "SELECT {columns} FROM {from}{filter} ORDER BY {at} {dir}, {id} {dir} LIMIT {limit}",
            from = self.from,
            filter = where_clause(filters),
            at = self.sort_at,
            id = self.sort_id,
            dir = order.sql(),
            limit = request.limit(),
        )
    }

    fn cursor_values(request: &PageRequest) -> Vec<Value> {
        request
            .after
            .map(|cursor| vec![cursor.at.into(), cursor.id.into()])
            .unwrap_or_default()
    }

    /// PostgreSQL's pages per parent: a `LATERAL` page for each parent of
    /// an array; one parent's page alone (see `any_of`).
    ///
    /// A joined row is joined to the page's rows after the page's `LIMIT`:
    /// with the join inside the page, PostgreSQL found its generic plan
    /// dearer than the plan for a much-commented article and planned the
    /// join anew on every run (pg_stat_statements on `article`: 121 µs of
    /// planning and 137 µs running a run; outside, the page plans as it
    /// does alone and the join has at most `limit` rows to go through).
    fn lateral_pages(
        &self,
        parent: &str,
        parents: &[i64],
        order: Order,
        request: &PageRequest,
        join: Option<Join<'_>>,
    ) -> (String, Vec<Value>) {
        let (page, mut values) = match parents {
            &[only] => (
                self.page_of_one(self.columns, parent, "?", order, request),
                vec![Value::from(only)],
            ),
            _ => {
                let page = self.page_of_one(self.columns, parent, "parent.key", order, request);
                (
                    format!(
                        "SELECT page.* FROM unnest(?::bigint[]) AS parent(key) CROSS JOIN LATERAL ({page}) page"
                    ),
                    vec![Value::from(parents.to_vec())],
                )
            }
        };
        values.extend(Self::cursor_values(request));
        let sql = match join {
            Some(join) => format!(
                "SELECT page.*, {columns} FROM ({page}) page{on}",
                columns = join.columns,
                on = join.on("page"),
            ),
            None => page,
        };
        (sql, values)
    }

    /// SQLite's way to the same pages: for each parent id of a JSON array,
    /// a correlated `rowid IN (SELECT rowid ... ORDER BY ... LIMIT n)` walks
    /// that parent's index for its page, and the outer query reads each of
    /// the page's rows by rowid.
    ///
    /// # Implementation notes
    /// This replaced a `UNION ALL` of one `LIMIT` query per parent: its
    /// text grew with the batch (500 terms on `deep`), so SQLite parsed and
    /// planned a new statement for every batch size, and a plan of 500
    /// subqueries at that. This text is the same for any batch, prepared
    /// once per connection. The outer query goes by rowid rather than by
    /// `parent = parent.value AND sort_id IN (...)`: given that, SQLite's
    /// planner walks the parent's whole index range (every follower of an
    /// author with 5,000) and tests each row against the page.
    fn correlated_pages(
        &self,
        parent: &str,
        parents: &[i64],
        order: Order,
        request: &PageRequest,
        join: Option<Join<'_>>,
    ) -> (String, Vec<Value>) {
        let rowid = format!("{}.rowid", self.item);
        let page = self.page_of_one(&rowid, parent, "parent.value", order, request);
        let mut values = vec![Value::from(json_ids(parents))];
        values.extend(Self::cursor_values(request));
        let (joined, on) = match join {
            Some(join) => (format!(", {}", join.columns), join.on(self.item)),
            None => (String::new(), String::new()),
        };
        (
            format!(
                "SELECT {columns}{joined} FROM json_each(?) AS parent CROSS JOIN {from}{on} WHERE {rowid} IN ({page})",
                columns = self.columns,
                from = self.from,
            ),
            values,
        )
    }

    fn after_condition(&self, order: Order) -> String {
        // Row-value comparison: one index range scan on (sort_at, sort_id),
        // on PostgreSQL and SQLite (3.15+) alike.
        format!(
            "({}, {}) {} (?, ?)",
            self.sort_at,
            self.sort_id,
            order.after()
        )
    }
}

/// Conditions (SQL with `?`, and their values) as the filters to AND and
/// the values in text order, after `leading` (values of earlier `?`s).
pub(crate) fn unzip_conditions(
    conditions: Vec<(String, Vec<Value>)>,
    leading: Vec<Value>,
) -> (Vec<String>, Vec<Value>) {
    let mut values = leading;
    let filters = conditions
        .into_iter()
        .map(|(condition, condition_values)| {
            values.extend(condition_values);
            condition
        })
        .collect();
    (filters, values)
}

/// ` WHERE a AND b ...`, or nothing for no filters.
pub(crate) fn where_clause(filters: &[String]) -> String {
    if filters.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", filters.join(" AND "))
    }
}

/// Where a list's own columns are in its rows, found once per statement.
///
/// Finding a value by column name costs a SipHash lookup in sqlx's name
/// table (and sea-orm formats the name first); a `deep` response reads
/// ~3,000 list rows, three of these columns each.
struct Positions {
    sort_at: usize,
    sort_id: usize,
    /// Only `pages_per_parent` selects it.
    parent_id: Option<usize>,
}

impl Positions {
    /// The positions among a statement's column `names` of the columns
    /// `keys` names.
    fn in_columns(names: &[impl AsRef<str>], keys: KeyNames) -> std::result::Result<Self, String> {
        let find = |name: &str| names.iter().position(|column| column.as_ref() == name);
        let missing = |name: &str| format!("a list selects no {name}");
        Ok(Self {
            sort_at: find(keys.sort_at).ok_or_else(|| missing(keys.sort_at))?,
            sort_id: find(keys.sort_id).ok_or_else(|| missing(keys.sort_id))?,
            parent_id: find(keys.parent_id),
        })
    }

    /// `node` (read from `row`) with its cursor.
    fn edge<T>(&self, row: &QueryResult, node: T) -> Result<Edge<T>> {
        Ok(Edge {
            cursor: Cursor {
                at: row.try_get_by_index(self.sort_at)?,
                id: row.try_get_by_index(self.sort_id)?,
            },
            node,
        })
    }
}

/// `FromQueryResult` and `Rows` for a row type whose columns come first in
/// its statements, in field order: each value is read by position.
///
/// sea-orm's derive finds every value by name (see `Positions`); on `deep`
/// the name lookups were 15-20 % of the server's instructions (callgrind).
/// In debug builds, which the tests run, every row's column names are
/// checked against the fields, so a select list that drifts from its row
/// type fails the tests instead of swapping values.
///
/// Fields after a `;` are `Option`s a statement may leave out (a list that
/// reads only the columns its query asks for): each is read from the
/// column of its name, found once per statement, and is `None` when the
/// statement has no such column, `Some(value)` when it has. A nullable
/// column is an `Option<Option<_>>`, so NULL (`Some(None)`) stays apart
/// from "not read".
macro_rules! read_by_position {
    ($row:ident { $($field:ident),+ $(,)? }) => {
        $crate::domain::sql::read_by_position!($row { $($field),+ ; });
    };
    ($row:ident { $($field:ident),+ ; $($maybe:ident),* $(,)? }) => {
        impl $row {
            /// `row` from column `first` on, its optional fields at
            /// `maybe_at` (`named_positions`), each value checked by sqlx.
            fn read_checked(
                row: &sea_orm::QueryResult,
                first: usize,
                prefix: &str,
                maybe_at: &[Option<usize>],
            ) -> std::result::Result<Self, sea_orm::DbErr> {
                $crate::domain::sql::check_positions(row, first, prefix, &[$(stringify!($field)),+]);
                // Unused by a row type without optional fields.
                #[allow(unused_mut, unused_variables)]
                let mut maybe_at = maybe_at.iter();
                let mut at = first..;
                Ok(Self {
                    $($field: row.try_get_by_index(at.next().expect("an endless range"))?,)+
                    $($maybe: match maybe_at.next().expect("one position per field") {
                        Some(at) => Some(row.try_get_by_index(*at)?),
                        None => None,
                    },)*
                })
            }
        }

        impl sea_orm::FromQueryResult for $row {
            fn from_query_result(
                row: &sea_orm::QueryResult,
                prefix: &str,
            ) -> std::result::Result<Self, sea_orm::DbErr> {
                let maybe_at =
                    $crate::domain::sql::named_positions(row, prefix, &[$(stringify!($maybe)),*]);
                Self::read_checked(row, 0, prefix, &maybe_at)
            }
        }

        impl $crate::domain::sql::Rows for $row {
            $crate::domain::sql::read_from_sqlite!($($field),+ ; $($maybe),*);

            fn from_rows(
                rows: &[sea_orm::QueryResult],
            ) -> std::result::Result<Vec<Self>, sea_orm::DbErr> {
                <Self as $crate::domain::sql::RowsAt>::from_rows_at(rows, 0, "")
            }
        }

        impl $crate::domain::sql::RowsAt for $row {
            const FIRST: &'static str = $crate::domain::sql::first_of!($($field),+);
            const OPTIONAL: usize = [$(stringify!($maybe)),*].len();

            fn from_rows_at(
                rows: &[sea_orm::QueryResult],
                from: usize,
                prefix: &str,
            ) -> std::result::Result<Vec<Self>, sea_orm::DbErr> {
                let Some(first) = rows.first() else {
                    return Ok(Vec::new());
                };
                // Found once per statement, not once per row.
                let maybe_at =
                    $crate::domain::sql::named_positions(first, prefix, &[$(stringify!($maybe)),*]);
                // Collected into a vector sized once: `collect` into a
                // `Result` cannot know the length and grows as it goes.
                let mut read = Vec::with_capacity(rows.len());
                let checked = |mut read: Vec<Self>| {
                    for row in rows {
                        read.push(Self::read_checked(row, from, prefix, &maybe_at)?);
                    }
                    Ok(read)
                };
                let Some(first_pg) = first.try_as_pg_row() else {
                    return checked(read);
                };
                let mut at = from..;
                #[allow(unused_mut, unused_variables)]
                let mut maybe = maybe_at.iter();
                let all_fit = true
                    $(&& $crate::domain::sql::fits(
                        first_pg,
                        at.next().expect("an endless range"),
                        |row: &Self| &row.$field,
                    ))+
                    $(&& match maybe.next().expect("one position per field") {
                        Some(at) => $crate::domain::sql::fits(first_pg, *at, |row: &Self| &row.$maybe),
                        None => true,
                    })*;
                if !all_fit {
                    // The checked reading says which column did not fit.
                    return checked(read);
                }
                for result in rows {
                    $crate::domain::sql::check_positions(result, from, prefix, &[$(stringify!($field)),+]);
                    let row = result
                        .try_as_pg_row()
                        .expect("the rows of one statement come from one database");
                    let mut at = from..;
                    #[allow(unused_mut, unused_variables)]
                    let mut maybe = maybe_at.iter();
                    read.push(Self {
                        $($field: $crate::domain::sql::unchecked(
                            row,
                            at.next().expect("an endless range"),
                        )?,)+
                        $($maybe: match maybe.next().expect("one position per field") {
                            Some(at) => Some($crate::domain::sql::unchecked(row, *at)?),
                            None => None,
                        },)*
                    });
                }
                Ok(read)
            }
        }
    };
}
pub(crate) use read_by_position;

/// The first of a list of fields, as a name (`RowsAt::FIRST`).
macro_rules! first_of {
    ($first:ident $(, $rest:ident)*) => {
        stringify!($first)
    };
}
pub(crate) use first_of;

/// A set of a row type's optional columns (its `read_by_position` fields
/// after `;`), one bit each, and the select list it makes: `always` (the
/// columns every read has), then the chosen ones in the order given.
///
/// A list reads only what its query asks for; a lookup by id reads `ALL`.
macro_rules! column_choice {
    (
        $(#[$doc:meta])*
        pub struct $name:ident { always: $always:literal, $($flag:ident: $column:literal),+ $(,)? }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(u8);

        impl $name {
            $crate::domain::sql::column_choice!(@flags 0, $($flag)+);
            /// Just the columns every read has.
            pub const NONE: Self = Self(0);
            pub const ALL: Self = Self(((1u16 << Self::OPTIONAL.len()) - 1) as u8);

            const OPTIONAL: &'static [(Self, &'static str)] = &[$((Self::$flag, $column)),+];

            #[must_use]
            pub fn with(self, other: Self) -> Self {
                Self(self.0 | other.0)
            }

            /// The select list: the columns every read has, then the chosen
            /// ones.
            pub(crate) fn select_list(self) -> String {
                let mut list = String::from($always);
                for &(column, name) in Self::OPTIONAL {
                    if self.0 & column.0 == column.0 {
                        list.push_str(", ");
                        list.push_str(name);
                    }
                }
                list
            }
        }

        const _: () = assert!($name::OPTIONAL.len() <= 8, "one bit of a u8 per column");
    };
    (@flags $at:expr, $flag:ident $($rest:ident)*) => {
        pub const $flag: Self = Self(1 << $at);
        $crate::domain::sql::column_choice!(@flags $at + 1, $($rest)*);
    };
    (@flags $at:expr,) => {};
}
pub(crate) use column_choice;

/// The value of a column a statement may have left out (`column_choice`),
/// or, where it did, an internal error naming the row and the column: a bug
/// in the choice of columns, never the client's.
pub(crate) fn chosen<T>(value: Option<T>, row: &str, id: i64, column: &str) -> Result<T> {
    value.ok_or_else(|| {
        super::Error::Internal(anyhow::anyhow!(
            "{row} {id}'s {column} was not read by its statement"
        ))
    })
}

/// Where `row`'s statement has a column of each of `names` (see
/// `read_by_position`); asks for the names only when there are any.
pub(crate) fn named_positions(
    row: &QueryResult,
    prefix: &str,
    names: &[&str],
) -> Vec<Option<usize>> {
    if names.is_empty() {
        return Vec::new();
    }
    let columns = row.column_names();
    names
        .iter()
        .map(|name| {
            let name = prefixed(prefix, name);
            columns.iter().position(|column| *column == name)
        })
        .collect()
}

/// See `read_by_position`.
pub(crate) fn check_positions(row: &QueryResult, first: usize, prefix: &str, fields: &[&str]) {
    if cfg!(debug_assertions) {
        check_names(&row.column_names(), first, prefix, fields);
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectOptions, Database, DatabaseConnection, FromQueryResult};

    use super::*;

    #[derive(Debug, FromQueryResult)]
    struct Item {
        id: i64,
    }

    impl Rows for Item {}

    const ITEMS: Keyset<'static> = Keyset {
        columns: "i.id, i.parent AS parent_id, i.at AS sort_at, i.id AS sort_id",
        keys: KeyNames::ALIASES,
        from: "items i",
        sort_at: "i.at",
        sort_id: "i.id",
        item: "i",
    };

    /// 600 parents with three items each: item `x` belongs to parent
    /// `x % 600` and is `x` seconds newer than the epoch of the test.
    async fn items() -> DatabaseConnection {
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1).sqlx_logging(false);
        let db = Database::connect(options)
            .await
            .expect("an in-memory database");
        for sql in [
            "CREATE TABLE items (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL, at TEXT NOT NULL)",
            "CREATE INDEX items_parent_at ON items (parent, at, id)",
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1800) \
             INSERT INTO items SELECT x, x % 600, strftime('%Y-%m-%dT%H:%M:%S+00:00', 1700000000 + x, 'unixepoch') FROM n",
        ] {
            execute(&db, sql, Vec::new()).await.expect(sql);
        }
        db
    }

    fn ids(page: &Page<Item>) -> Vec<i64> {
        page.edges.iter().map(|edge| edge.node.id).collect()
    }

    /// The times sqlx writes read back as they were, and anything else is
    /// left to chrono.
    #[test]
    fn times_as_sqlx_writes_them_read_back_exactly() {
        use chrono::{SecondsFormat, TimeZone as _};
        let whole = Utc.with_ymd_and_hms(2026, 12, 2, 1, 9, 35).unwrap();
        for time in [
            whole,
            whole + chrono::Duration::microseconds(123_456),
            whole + chrono::Duration::milliseconds(120),
            whole + chrono::Duration::nanoseconds(7),
        ] {
            let text = time.to_rfc3339_opts(SecondsFormat::AutoSi, false);
            assert_eq!(utc_as_sqlx_writes_it(text.as_bytes()), Some(time), "{text}");
        }
        for other in [
            "2026-12-02 01:09:35",
            "2026-12-02T01:09:35Z",
            "2026-12-02T01:09:35+01:00",
            "2026-12-02T01:09:35.+00:00",
            "2026-02-30T01:09:35+00:00",
            "2026-12-02T01:09:3x+00:00",
            "+00:00",
        ] {
            assert_eq!(utc_as_sqlx_writes_it(other.as_bytes()), None, "{other}");
        }
    }

    /// A batch of 600 parents (more than one SQLite compound SELECT may
    /// hold, which an earlier form of the SQLite statement had to split)
    /// goes out as one statement, each parent with its own page.
    #[tokio::test]
    async fn a_batch_past_the_compound_select_limit_pages_every_parent() {
        let db = items().await;
        let parents: Vec<i64> = (0..600).collect();
        let first_two = PageRequest::parse(Some(2), None).unwrap();
        let pages = ITEMS
            .pages_per_parent::<Item>(&db, "i.parent", &parents, Order::NewestFirst, &first_two)
            .await
            .unwrap();
        assert_eq!(pages.len(), 600);
        for p in [0, 1, 249, 250, 499, 500, 599] {
            let page = &pages[&p];
            let newest = if p == 0 { 1800 } else { p + 1200 };
            assert_eq!(ids(page), vec![newest, newest - 600], "parent {p}");
            assert!(page.has_next);
        }

        let after = PageRequest {
            after: Some(pages[&7].edges[1].cursor),
            ..first_two
        };
        let rest = ITEMS
            .pages_per_parent::<Item>(&db, "i.parent", &[7, 8], Order::NewestFirst, &after)
            .await
            .unwrap();
        assert_eq!(ids(&rest[&7]), vec![7]);
        assert!(!rest[&7].has_next && rest[&7].has_previous);
    }

    /// A joined row comes with each row of each page, read from its
    /// prefixed columns after the row's own; without the join, none.
    #[tokio::test]
    async fn a_joined_row_is_read_beside_each_row_of_each_page() {
        use super::super::profiles::{Profile, ProfileColumns};
        let db = items().await;
        execute(
            &db,
            "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT NOT NULL)",
            Vec::new(),
        )
        .await
        .unwrap();
        execute(
            &db,
            "INSERT INTO users SELECT DISTINCT parent, 'user-' || parent FROM items",
            Vec::new(),
        )
        .await
        .unwrap();
        let columns = joined_list(&ProfileColumns::NONE.select_list());
        assert_eq!(columns, "u.id AS joined_id, u.username AS joined_username");
        let join = Join {
            table: "users u",
            key: "u.id",
            column: "parent",
            columns: &columns,
        };
        let first_two = PageRequest::parse(Some(2), None).unwrap();
        let pages = ITEMS
            .pages_per_parent_joined::<Joined<Item, Profile>>(
                &db,
                "i.parent",
                &[3, 4],
                Order::NewestFirst,
                &first_two,
                Some(join),
            )
            .await
            .unwrap();
        for parent in [3, 4] {
            let page = &pages[&parent];
            assert_eq!(page.edges.len(), 2);
            for edge in &page.edges {
                assert_eq!(edge.node.row.id % 600, parent);
                let user = edge.node.joined.as_ref().expect("the joined user");
                assert_eq!(
                    (user.id, user.username.as_str()),
                    (parent, &*format!("user-{parent}"))
                );
            }
        }

        let alone = ITEMS
            .pages_per_parent::<Joined<Item, Profile>>(
                &db,
                "i.parent",
                &[3],
                Order::NewestFirst,
                &first_two,
            )
            .await
            .unwrap();
        assert!(
            alone[&3]
                .edges
                .iter()
                .all(|edge| edge.node.joined.is_none())
        );
    }
}
