//! Hand-written SQL for the reads an ORM query builder says badly: keyset
//! pages and windowed "first N per parent" batches. Written once with `?`
//! placeholders; `statement` numbers them for PostgreSQL.

use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, QueryResult, Statement, Value};

use super::Result;
use super::pagination::{Cursor, Edge, Order, Page, PageRequest};

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

/// `?, ?, ?` for `n` values.
pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
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
) -> Result<std::collections::HashSet<i64>> {
    let mut values: Vec<Value> = vec![owner.into()];
    values.extend(ids.iter().map(|&id| Value::from(id)));
    let rows = query_all(
        db,
        &format!(
            "SELECT {member_column} AS member FROM {table} WHERE {owner_column} = ? AND {member_column} IN ({})",
            placeholders(ids.len())
        ),
        values,
    )
    .await?;
    rows.iter()
        .map(|row| Ok(row.try_get("", "member")?))
        .collect()
}

/// What a keyset list selects from and how it sorts. `columns` must include
/// the sort columns under the names `sort_at` and `sort_id`.
pub(crate) struct Keyset<'a> {
    /// `SELECT` list, e.g. `a.id, a.title, a.created_at AS sort_at, a.id AS sort_id`.
    pub columns: &'a str,
    /// `FROM` clause with joins.
    pub from: &'a str,
    /// The timestamp column rows sort on, e.g. `a.created_at`.
    pub sort_at: &'a str,
    /// The id column that breaks ties, e.g. `a.id`.
    pub sort_id: &'a str,
}

impl Keyset<'_> {
    /// One page of a single list, filtered by `conditions` (ANDed).
    pub(crate) async fn page<T: FromQueryResult>(
        &self,
        db: &impl ConnectionTrait,
        conditions: Vec<(String, Vec<Value>)>,
        order: Order,
        request: &PageRequest,
    ) -> Result<Page<T>> {
        let (mut filters, mut values): (Vec<String>, Vec<Value>) = (Vec::new(), Vec::new());
        for (condition, condition_values) in conditions {
            filters.push(condition);
            values.extend(condition_values);
        }
        if let Some(cursor) = request.after {
            filters.push(self.after_condition(order));
            values.extend([cursor.at.into(), cursor.id.into()]);
        }
        let sql = format!(
            "SELECT {columns} FROM {from}{filter} ORDER BY {at} {dir}, {id} {dir} LIMIT {limit}",
            columns = self.columns,
            from = self.from,
            filter = where_clause(&filters),
            at = self.sort_at,
            id = self.sort_id,
            dir = order.sql(),
            limit = request.limit(),
        );
        let rows = query_all(db, &sql, values).await?;
        let edges = rows.iter().map(edge::<T>).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(edges, request))
    }

    /// The same page of the list under each parent, in one statement:
    /// `ROW_NUMBER() OVER (PARTITION BY parent ...)` keeps the first
    /// `first + 1` rows of each. `parent` is the column that names the
    /// parent; it must also be selected as `parent_id`.
    pub(crate) async fn pages_per_parent<T: FromQueryResult>(
        &self,
        db: &impl ConnectionTrait,
        parent: &str,
        parents: &[i64],
        order: Order,
        request: &PageRequest,
    ) -> Result<std::collections::HashMap<i64, Page<T>>> {
        let mut values: Vec<Value> = parents.iter().map(|&id| id.into()).collect();
        let mut filters = vec![format!("{parent} IN ({})", placeholders(parents.len()))];
        if let Some(cursor) = request.after {
            filters.push(self.after_condition(order));
            values.extend([cursor.at.into(), cursor.id.into()]);
        }
        let sql = format!(
            "SELECT * FROM (SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY {parent} ORDER BY {at} {dir}, {id} {dir}) AS row_number \
             FROM {from}{filter}) windowed WHERE row_number <= {limit} ORDER BY parent_id, row_number",
            columns = self.columns,
            from = self.from,
            filter = where_clause(&filters),
            at = self.sort_at,
            id = self.sort_id,
            dir = order.sql(),
            limit = request.limit(),
        );
        let rows = query_all(db, &sql, values).await?;
        let mut grouped: std::collections::HashMap<i64, Vec<Edge<T>>> =
            std::collections::HashMap::new();
        for row in &rows {
            let parent_id: i64 = row.try_get("", "parent_id")?;
            grouped.entry(parent_id).or_default().push(edge::<T>(row)?);
        }
        Ok(parents
            .iter()
            .map(|&id| {
                (
                    id,
                    Page::from_rows(grouped.remove(&id).unwrap_or_default(), request),
                )
            })
            .collect())
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

fn where_clause(filters: &[String]) -> String {
    if filters.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", filters.join(" AND "))
    }
}

fn edge<T: FromQueryResult>(row: &QueryResult) -> Result<Edge<T>> {
    Ok(Edge {
        cursor: Cursor {
            at: row.try_get("", "sort_at")?,
            id: row.try_get("", "sort_id")?,
        },
        node: T::from_query_result(row, "")?,
    })
}
