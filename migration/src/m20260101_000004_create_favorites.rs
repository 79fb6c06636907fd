use super::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("favorites")
                    .col(ColumnDef::new("user_id").big_integer().not_null())
                    .col(ColumnDef::new("article_id").big_integer().not_null())
                    .col(utc_timestamp("created_at"))
                    .primary_key(Index::create().col("user_id").col("article_id"))
                    .foreign_key(&mut cascade(("favorites", "user_id"), "users"))
                    .foreign_key(&mut cascade(("favorites", "article_id"), "articles"))
                    .take(),
            )
            .await?;
        // A user's favorites, most recently favorited first.
        manager
            .create_index(
                Index::create()
                    .name("idx_favorites_user_created")
                    .table("favorites")
                    .col("user_id")
                    .col("created_at")
                    .take(),
            )
            .await?;
        // Who favorited an article (and the cascade when it is deleted).
        manager
            .create_index(
                Index::create()
                    .name("idx_favorites_article")
                    .table("favorites")
                    .col("article_id")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("favorites").take())
            .await
    }
}
