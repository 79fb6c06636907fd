use super::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("follows")
                    .col(ColumnDef::new("follower_id").big_integer().not_null())
                    .col(ColumnDef::new("followee_id").big_integer().not_null())
                    .col(utc_timestamp("created_at"))
                    .primary_key(Index::create().col("follower_id").col("followee_id"))
                    .foreign_key(&mut cascade(("follows", "follower_id"), "users"))
                    .foreign_key(&mut cascade(("follows", "followee_id"), "users"))
                    .take(),
            )
            .await?;
        // A user's followers, newest first (the primary key already serves
        // "whom does X follow" by its leading column; this one adds the order).
        manager
            .create_index(
                Index::create()
                    .name("idx_follows_followee_created")
                    .table("follows")
                    .col("followee_id")
                    .col("created_at")
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_follows_follower_created")
                    .table("follows")
                    .col("follower_id")
                    .col("created_at")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("follows").take())
            .await
    }
}
