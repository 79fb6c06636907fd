//! `totals`: whole-table counts kept in the transactions that change them,
//! so an unfiltered `totalCount` reads one row instead of counting them all.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "totals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub value: i64,
}

impl ActiveModelBehavior for ActiveModel {}
