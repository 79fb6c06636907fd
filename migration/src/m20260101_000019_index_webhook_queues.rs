use super::*;

/// Each webhook's own queue, "its PENDING deliveries due now, soonest
/// first", as one short walk down a partial index.
///
/// The runner keeps an endpoint it already holds deliveries for supplied
/// from this queue alone. Through `idx_webhook_deliveries_due` only, every
/// claim read past the due rows of webhooks it had to skip (a slow
/// endpoint's 1,000-row backlog: 5.9 ms per claim, EXPLAIN ANALYZE), and a
/// fast endpoint beside a slow one lost 20-40 % of its rate to that.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A partial index reads the same on SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_webhook_deliveries_queue ON webhook_deliveries \
                 (webhook_id, next_attempt_at, id) WHERE status = 'PENDING'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_webhook_deliveries_queue")
                    .table("webhook_deliveries")
                    .to_owned(),
            )
            .await
    }
}
