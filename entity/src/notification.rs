//! `notifications`: something that happened which one user should hear of.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub recipient_id: i64,
    pub actor_id: i64,
    pub kind: String,
    pub article_id: Option<i64>,
    pub comment_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub read_at: Option<DateTimeUtc>,
    #[sea_orm(unique)]
    pub dedupe_key: String,
}

impl ActiveModelBehavior for ActiveModel {}
