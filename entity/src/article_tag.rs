//! `article_tags`: which tags an article carries, in the author's order.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "article_tags")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub article_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tag_id: i64,
    /// 0-based place of the tag in the list the author gave.
    pub position: i32,
}

impl ActiveModelBehavior for ActiveModel {}
