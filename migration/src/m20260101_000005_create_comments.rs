use super::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("comments")
                    .col(id_column())
                    .col(ColumnDef::new("article_id").big_integer().not_null())
                    .col(ColumnDef::new("author_id").big_integer().not_null())
                    .col(ColumnDef::new("body").text().not_null())
                    .col(utc_timestamp("created_at"))
                    .col(utc_timestamp("updated_at"))
                    .foreign_key(&mut cascade(("comments", "article_id"), "articles"))
                    .foreign_key(&mut cascade(("comments", "author_id"), "users"))
                    .take(),
            )
            .await?;
        // An article's comments, newest first, in keyset pages.
        manager
            .create_index(
                Index::create()
                    .name("idx_comments_article_created")
                    .table("comments")
                    .col("article_id")
                    .col("created_at")
                    .col("id")
                    .take(),
            )
            .await?;
        // The cascade when a user is deleted.
        manager
            .create_index(
                Index::create()
                    .name("idx_comments_author")
                    .table("comments")
                    .col("author_id")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("comments").take())
            .await
    }
}
