//! `webhooks`: a user's endpoint for events about their own content.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub owner_id: i64,
    pub url: String,
    /// `whsec_` + base64: what every delivery is signed with.
    pub secret: String,
    /// Event names, comma-separated.
    pub events: String,
    pub active: bool,
    /// Why the server disabled it; null while active or when paused.
    pub disabled_reason: Option<String>,
    /// Failed attempts since the last success.
    pub consecutive_failures: i32,
    /// When the first of those failures happened.
    pub failing_since: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
