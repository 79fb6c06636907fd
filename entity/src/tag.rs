//! `tags`: a lower-case label shared by many articles.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tags")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    /// How many articles carry the tag; kept with each article write.
    pub articles_count: i64,
}

impl ActiveModelBehavior for ActiveModel {}
