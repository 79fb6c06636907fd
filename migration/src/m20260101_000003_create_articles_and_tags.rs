use super::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("articles")
                    .col(id_column())
                    .col(ColumnDef::new("slug").string().not_null().unique_key())
                    .col(ColumnDef::new("title").string().not_null())
                    .col(ColumnDef::new("description").text().not_null())
                    .col(ColumnDef::new("body").text().not_null())
                    .col(ColumnDef::new("author_id").big_integer().not_null())
                    .col(counter("favorites_count"))
                    .col(counter("comments_count"))
                    .col(utc_timestamp("created_at"))
                    .col(utc_timestamp("updated_at"))
                    .foreign_key(&mut cascade(("articles", "author_id"), "users"))
                    .take(),
            )
            .await?;
        // Newest-first listing of everything, and keyset pages of it: the
        // cursor is (created_at, id).
        manager
            .create_index(
                Index::create()
                    .name("idx_articles_created")
                    .table("articles")
                    .col("created_at")
                    .col("id")
                    .take(),
            )
            .await?;
        // One author's articles, newest first (profiles, the feed).
        manager
            .create_index(
                Index::create()
                    .name("idx_articles_author_created")
                    .table("articles")
                    .col("author_id")
                    .col("created_at")
                    .col("id")
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("tags")
                    .col(id_column())
                    .col(ColumnDef::new("name").string().not_null().unique_key())
                    .col(counter("articles_count"))
                    .take(),
            )
            .await?;
        // popularTags reads the top of this index and nothing else.
        manager
            .create_index(
                Index::create()
                    .name("idx_tags_articles_count")
                    .table("tags")
                    .col("articles_count")
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("article_tags")
                    .col(ColumnDef::new("article_id").big_integer().not_null())
                    .col(ColumnDef::new("tag_id").big_integer().not_null())
                    .col(ColumnDef::new("position").integer().not_null())
                    .primary_key(Index::create().col("article_id").col("tag_id"))
                    .foreign_key(&mut cascade(("article_tags", "article_id"), "articles"))
                    .foreign_key(&mut cascade(("article_tags", "tag_id"), "tags"))
                    .take(),
            )
            .await?;
        // Articles carrying one tag; joined to articles for the order.
        manager
            .create_index(
                Index::create()
                    .name("idx_article_tags_tag")
                    .table("article_tags")
                    .col("tag_id")
                    .col("article_id")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["article_tags", "tags", "articles"] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
