use super::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("totals")
                    .col(ColumnDef::new("name").string().not_null().primary_key())
                    .col(ColumnDef::new("value").big_integer().not_null().default(0))
                    .take(),
            )
            .await?;
        // Starts from what the table holds now; the writers keep it from here.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO totals (name, value) SELECT 'articles', COUNT(*) FROM articles",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("totals").take())
            .await
    }
}
