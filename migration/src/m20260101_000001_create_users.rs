use super::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(id_column())
                    .col(ColumnDef::new("username").string().not_null().unique_key())
                    .col(ColumnDef::new("email").string().not_null().unique_key())
                    .col(ColumnDef::new("password_hash").string().not_null())
                    // Null until the user writes one: "no bio" is not "empty bio".
                    .col(ColumnDef::new("bio").text().null())
                    .col(ColumnDef::new("image").string().null())
                    // Counters kept by follow/unfollow, so a profile's counts
                    // cost no GROUP BY over `follows`.
                    .col(counter("followers_count"))
                    .col(counter("following_count"))
                    .col(utc_timestamp("created_at"))
                    .col(utc_timestamp("updated_at"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("users").take())
            .await
    }
}
