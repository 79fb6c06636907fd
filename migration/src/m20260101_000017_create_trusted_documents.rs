use super::*;

/// `trusted_documents`: the operations a team's clients ship, registered
/// with `conduit-gateway documents add`, by the SHA-256 of their text.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("trusted_documents")
                    // Lower-case hex SHA-256 of `body`, without a prefix.
                    .col(ColumnDef::new("id").string().not_null().primary_key())
                    // Exactly as the manifest gave it: the text its tool hashed.
                    .col(ColumnDef::new("body").text().not_null())
                    .col(ColumnDef::new("operation_name").string().null())
                    .col(utc_timestamp("added_at"))
                    // Written from memory once a minute, not per request.
                    .col(counter("uses"))
                    .col(
                        ColumnDef::new("last_used_at")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("trusted_documents").take())
            .await
    }
}
