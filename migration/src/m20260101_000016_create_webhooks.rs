use super::*;

/// Webhooks (a user's endpoints for events about their own content) and
/// their deliveries (one row per event per webhook, with every attempt's
/// outcome), which the delivery runner works through after the commit.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("webhooks")
                    .col(id_column())
                    .col(ColumnDef::new("owner_id").big_integer().not_null())
                    // At most 2,000 characters, checked by the domain.
                    .col(ColumnDef::new("url").text().not_null())
                    // `whsec_` + base64 of 32 random bytes. Kept as it is,
                    // not hashed: every delivery is signed with it.
                    .col(ColumnDef::new("secret").string().not_null())
                    // The event names it listens to, comma-separated
                    // (`ARTICLE_PUBLISHED,COMMENT_ADDED`): a user's handful
                    // of webhooks is read whole and filtered in code.
                    .col(ColumnDef::new("events").string().not_null())
                    .col(ColumnDef::new("active").boolean().not_null().default(true))
                    // Why the server switched it off (410 Gone, a day of
                    // failures); null while active or when its owner paused it.
                    .col(ColumnDef::new("disabled_reason").string().null())
                    // Failed attempts since its last success, and when the
                    // first of them happened: a webhook whose deliveries
                    // have all failed for 24 hours is disabled.
                    .col(
                        ColumnDef::new("consecutive_failures")
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new("failing_since")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(utc_timestamp("created_at"))
                    .col(utc_timestamp("updated_at"))
                    .foreign_key(&mut cascade(("webhooks", "owner_id"), "users"))
                    .take(),
            )
            .await?;
        // `User.webhooks`, newest first, and the owner's active webhooks
        // that an event looks up.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhooks_owner_created")
                    .table("webhooks")
                    .col("owner_id")
                    .col("created_at")
                    .col("id")
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("webhook_deliveries")
                    .col(id_column())
                    .col(ColumnDef::new("webhook_id").big_integer().not_null())
                    // The `webhook-id` header: the same on every attempt and
                    // on a redelivery, so receivers can drop duplicates.
                    .col(
                        ColumnDef::new("message_id")
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new("event").string().not_null())
                    // The JSON body exactly as signed and sent, every time.
                    .col(ColumnDef::new("payload").text().not_null())
                    // PENDING, SUCCEEDED or FAILED.
                    .col(ColumnDef::new("status").string().not_null())
                    .col(ColumnDef::new("attempts").integer().not_null().default(0))
                    // Null before the first answer, and after an attempt
                    // that got none (timeout, refused connection).
                    .col(ColumnDef::new("last_response_status").integer().null())
                    // What went wrong last, for people reading the table.
                    .col(ColumnDef::new("last_error").text().null())
                    // While PENDING: when the next attempt is due. A runner
                    // that claims a delivery moves this to the end of its
                    // lease, so a delivery whose runner died comes back.
                    // Null once SUCCEEDED or FAILED.
                    .col(
                        ColumnDef::new("next_attempt_at")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(utc_timestamp("created_at"))
                    .foreign_key(&mut cascade(
                        ("webhook_deliveries", "webhook_id"),
                        "webhooks",
                    ))
                    .take(),
            )
            .await?;
        // The runner's scan, "the PENDING deliveries due now, soonest
        // first", as a walk down a partial index (as idx_outbox_ready).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries \
                 (next_attempt_at, id) WHERE status = 'PENDING'",
            )
            .await?;
        // A webhook's delivery log, newest first, in keyset pages.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_webhook_created")
                    .table("webhook_deliveries")
                    .col("webhook_id")
                    .col("created_at")
                    .col("id")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["webhook_deliveries", "webhooks"] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
