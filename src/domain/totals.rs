//! Whole-table counts (`totals`), moved in the same transaction as the rows
//! they count.
//!
//! # Implementation notes
//! `COUNT(*)` over every article is the one statement of the homepage whose
//! cost grows with the data: an index-only scan of 50,000 entries (~5 ms on
//! the benchmark data, 98 ms before a VACUUM) on every request. The counter
//! is one row read by primary key. The price is that concurrent
//! `createArticle`s take turns on this row until they commit, which a
//! publishing platform's write rate affords.

use sea_orm::ConnectionTrait;

use super::{Result, sql};

/// Every article.
pub(crate) const ARTICLES: &str = "articles";

pub(crate) async fn add(db: &impl ConnectionTrait, name: &str, delta: i64) -> Result<()> {
    let changed = sql::execute(
        db,
        "UPDATE totals SET value = value + ? WHERE name = ?",
        vec![delta.into(), name.into()],
    )
    .await?;
    if changed != 1 {
        return Err(
            anyhow::anyhow!("the {name:?} total is missing: the migrations did not run").into(),
        );
    }
    Ok(())
}

pub(crate) async fn get(db: &impl ConnectionTrait, name: &str) -> Result<i64> {
    sql::count(
        db,
        "SELECT value FROM totals WHERE name = ?",
        vec![name.into()],
    )
    .await
}

/// Sets a total to what its table holds, after a bulk load that bypassed
/// the writers (`seed`).
pub async fn recount_articles(db: &impl ConnectionTrait) -> Result<()> {
    sql::execute(
        db,
        "UPDATE totals SET value = (SELECT COUNT(*) FROM articles) WHERE name = ?",
        vec![ARTICLES.into()],
    )
    .await?;
    Ok(())
}
