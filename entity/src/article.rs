//! `articles`: what an author publishes.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "articles")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub slug: String,
    pub title: String,
    pub description: String,
    pub body: String,
    pub author_id: i64,
    /// Kept in the same transaction as each favorite and unfavorite.
    pub favorites_count: i64,
    /// Kept in the same transaction as each comment added or deleted.
    pub comments_count: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The tag names in the author's order, as a JSON array: a copy of the
    /// `article_tags` links, written in the same transaction, so a list of
    /// articles needs no second statement for its tags.
    pub tag_list: String,
}

impl ActiveModelBehavior for ActiveModel {}
