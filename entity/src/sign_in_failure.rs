//! `sign_in_failures`: sign-in attempts counted per account and per client
//! address within a window, shared by every instance on the database.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sign_in_failures")]
pub struct Model {
    /// `account:<normalized email>` or `address:<client address>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub failures: i32,
    pub window_started_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
