//! `trusted_documents`: an operation a client ships, stored by the SHA-256
//! of its exact text.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trusted_documents")]
pub struct Model {
    /// Lower-case hex SHA-256 of `body`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub body: String,
    pub operation_name: Option<String>,
    pub added_at: DateTimeUtc,
    pub uses: i64,
    pub last_used_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
