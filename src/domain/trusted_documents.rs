//! Trusted documents as rows: what `conduit-gateway documents add` stores
//! and every instance serves by id. Which text a manifest holds and how
//! its ids are checked is `graphql::trusted::manifest`'s.

use std::collections::HashMap;

use entity::trusted_document;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use super::{Result, sql, time};

/// A document to store: its id (lower-case hex SHA-256 of `body`), its
/// text exactly as its tool wrote it, and its operation's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDocument {
    pub id: String,
    pub body: String,
    pub operation_name: Option<String>,
}

/// Stores `documents`; those already stored stay as they are. How many
/// were new.
pub async fn add(db: &impl ConnectionTrait, documents: &[NewDocument]) -> Result<u64> {
    let mut added = 0;
    let now = time::now();
    // One statement per document: manifests are small (hundreds), and this
    // runs at deploy time, not per request.
    for document in documents {
        let inserted = trusted_document::Entity::insert(trusted_document::ActiveModel {
            id: Set(document.id.clone()),
            body: Set(document.body.clone()),
            operation_name: Set(document.operation_name.clone()),
            added_at: Set(now),
            uses: Set(0),
            last_used_at: Set(None),
        })
        .on_conflict(
            OnConflict::column(trusted_document::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        added += inserted;
    }
    Ok(added)
}

/// Removes the documents with `ids`; how many there were.
pub async fn remove(db: &impl ConnectionTrait, ids: &[String]) -> Result<u64> {
    Ok(trusted_document::Entity::delete_many()
        .filter(trusted_document::Column::Id.is_in(ids.iter().cloned()))
        .exec(db)
        .await?
        .rows_affected)
}

/// Every stored document, oldest first.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<trusted_document::Model>> {
    Ok(trusted_document::Entity::find()
        .order_by_asc(trusted_document::Column::AddedAt)
        .order_by_asc(trusted_document::Column::Id)
        .all(db)
        .await?)
}

/// Adds `uses` (per id) to the stored counts.
pub async fn record_uses(db: &impl ConnectionTrait, uses: &HashMap<String, u64>) -> Result<()> {
    let now = time::now();
    for (id, count) in uses {
        sql::execute(
            db,
            "UPDATE trusted_documents SET uses = uses + ?, last_used_at = ? WHERE id = ?",
            vec![
                i64::try_from(*count).unwrap_or(i64::MAX).into(),
                now.into(),
                id.clone().into(),
            ],
        )
        .await?;
    }
    Ok(())
}
