use super::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("notifications")
                    .col(id_column())
                    .col(ColumnDef::new("recipient_id").big_integer().not_null())
                    .col(ColumnDef::new("actor_id").big_integer().not_null())
                    // NEW_FOLLOWER, ARTICLE_FAVORITED, NEW_COMMENT, NEW_ARTICLE.
                    .col(ColumnDef::new("kind").string().not_null())
                    // What the notification is about, where it is about one;
                    // it goes with the article or comment it points at.
                    .col(ColumnDef::new("article_id").big_integer().null())
                    .col(ColumnDef::new("comment_id").big_integer().null())
                    .col(utc_timestamp("created_at"))
                    // Null while unread.
                    .col(ColumnDef::new("read_at").timestamp_with_time_zone().null())
                    // The job and recipient that made it: a job that runs
                    // twice (at-least-once delivery) cannot notify twice.
                    .col(
                        ColumnDef::new("dedupe_key")
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .foreign_key(&mut cascade(("notifications", "recipient_id"), "users"))
                    .foreign_key(&mut cascade(("notifications", "actor_id"), "users"))
                    .foreign_key(&mut cascade(("notifications", "article_id"), "articles"))
                    .foreign_key(&mut cascade(("notifications", "comment_id"), "comments"))
                    .take(),
            )
            .await?;
        // A user's notifications, newest first, in keyset pages.
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_recipient_created")
                    .table("notifications")
                    .col("recipient_id")
                    .col("created_at")
                    .col("id")
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("outbox")
                    .col(id_column())
                    // What to do (`NotifyFollower`, `FanOutNewArticle`, ...)
                    // and its arguments as JSON.
                    .col(ColumnDef::new("kind").string().not_null())
                    .col(ColumnDef::new("payload").text().not_null())
                    .col(ColumnDef::new("attempts").integer().not_null().default(0))
                    // Not before this time: the backoff after a failure.
                    .col(utc_timestamp("run_at"))
                    .col(ColumnDef::new("last_error").text().null())
                    // Set when a job failed too often: kept for a person to
                    // look at, never retried on its own, never lost.
                    .col(
                        ColumnDef::new("parked_at")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(utc_timestamp("created_at"))
                    .take(),
            )
            .await?;
        // The worker's claim: the due, unparked jobs, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_due")
                    .table("outbox")
                    .col("parked_at")
                    .col("run_at")
                    .col("id")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["outbox", "notifications"] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
