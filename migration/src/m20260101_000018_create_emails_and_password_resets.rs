use super::*;

/// Email: `users.email_notifications` (the user's choice), `emails` (what
/// the mail runner sends, written in the transaction that causes it) and
/// `password_resets` (reset tokens, as SHA-256 hashes only).
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .add_column(
                        ColumnDef::new("email_notifications")
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("emails")
                    .col(id_column())
                    // `password_reset` or `notification`.
                    .col(ColumnDef::new("kind").string().not_null())
                    // A reset is asked for by address, whether or not an
                    // account has it: the runner looks, not the request.
                    .col(ColumnDef::new("address").string().null())
                    .col(ColumnDef::new("notification_id").big_integer().null())
                    .col(ColumnDef::new("attempts").integer().not_null().default(0))
                    // Due then; while one is being sent, the end of its lease.
                    .col(utc_timestamp("next_attempt_at"))
                    .col(ColumnDef::new("last_error").text().null())
                    .col(ColumnDef::new("sent_at").timestamp_with_time_zone().null())
                    .col(
                        ColumnDef::new("failed_at")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(utc_timestamp("created_at"))
                    .foreign_key(&mut cascade(("emails", "notification_id"), "notifications"))
                    .take(),
            )
            .await?;
        // The runner's claim: what is due and not done, soonest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_emails_due")
                    .table("emails")
                    .col("sent_at")
                    .col("failed_at")
                    .col("next_attempt_at")
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("password_resets")
                    .col(id_column())
                    .col(ColumnDef::new("user_id").big_integer().not_null())
                    .col(
                        ColumnDef::new("token_hash")
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(utc_timestamp("created_at"))
                    .col(utc_timestamp("expires_at"))
                    .col(ColumnDef::new("used_at").timestamp_with_time_zone().null())
                    .foreign_key(&mut cascade(("password_resets", "user_id"), "users"))
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("password_resets").take())
            .await?;
        manager
            .drop_table(Table::drop().table("emails").take())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .drop_column("email_notifications")
                    .take(),
            )
            .await
    }
}
