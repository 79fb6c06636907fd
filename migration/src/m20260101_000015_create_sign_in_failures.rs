use super::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("sign_in_failures")
                    // What is limited: `account:<normalized email>` or
                    // `address:<client address>` (see `domain::lockout`).
                    .col(ColumnDef::new("key").string().not_null().primary_key())
                    // Attempts counted in the current window (a correct
                    // password takes its own back).
                    .col(ColumnDef::new("failures").integer().not_null())
                    .col(utc_timestamp("window_started_at"))
                    .take(),
            )
            .await?;
        // Expired windows are deleted by their start.
        manager
            .create_index(
                Index::create()
                    .name("idx_sign_in_failures_window_started_at")
                    .table("sign_in_failures")
                    .col("window_started_at")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("sign_in_failures").take())
            .await
    }
}
