//! `webhook_deliveries`: one event for one webhook, with every attempt's
//! outcome.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub webhook_id: i64,
    /// The `webhook-id` header, the same on every attempt.
    #[sea_orm(unique)]
    pub message_id: String,
    pub event: String,
    /// The body exactly as signed and sent.
    pub payload: String,
    /// PENDING, SUCCEEDED or FAILED.
    pub status: String,
    pub attempts: i32,
    pub last_response_status: Option<i32>,
    pub last_error: Option<String>,
    /// Due time (or lease end) while PENDING; null otherwise.
    pub next_attempt_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
