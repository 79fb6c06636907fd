use super::*;

/// `sessions`: what signing in opened, one per browser or device, and
/// `spent_refresh_tokens`: the refresh tokens a session has already
/// rotated away from, so that one presented again is recognised as reused
/// (and ends its session) rather than merely unknown.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .col(id_column())
                    .col(ColumnDef::new("user_id").big_integer().not_null())
                    // SHA-256 of the current refresh token, hex: the token
                    // itself is never stored.
                    .col(
                        ColumnDef::new("refresh_hash")
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new("user_agent").text().null())
                    .col(utc_timestamp("created_at"))
                    .col(utc_timestamp("last_used_at"))
                    // Slides forward at every refresh.
                    .col(utc_timestamp("expires_at"))
                    // Set once: signOut, endSessions, a reused refresh token,
                    // a password change or reset.
                    .col(ColumnDef::new("ended_at").timestamp_with_time_zone().null())
                    .foreign_key(&mut cascade(("sessions", "user_id"), "users"))
                    .take(),
            )
            .await?;
        // A user's sessions, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_user_created")
                    .table("sessions")
                    .col("user_id")
                    .col("created_at")
                    .take(),
            )
            .await?;
        // What an instance loads at start: the sessions ended lately.
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_ended")
                    .table("sessions")
                    .col("ended_at")
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("spent_refresh_tokens")
                    .col(
                        ColumnDef::new("refresh_hash")
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("session_id").big_integer().not_null())
                    .col(utc_timestamp("spent_at"))
                    .foreign_key(&mut cascade(
                        ("spent_refresh_tokens", "session_id"),
                        "sessions",
                    ))
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("spent_refresh_tokens").take())
            .await?;
        manager
            .drop_table(Table::drop().table("sessions").take())
            .await
    }
}
