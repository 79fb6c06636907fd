use std::collections::HashSet;

use sea_orm_migration::sea_orm::{ConnectionTrait, Statement, Value};

use super::*;

/// `users.username_key`: the username as `entity::user::username_key`
/// folds it (NFKC, lower case, confusable skeleton), unique, so that names
/// a reader cannot tell apart cannot belong to two accounts.
///
/// Filled here in Rust, with the same function the writers use; SQL has no
/// NFKC or skeleton of its own. Accounts that already clash (made before
/// this rule) keep their names: the later ones get their id appended to
/// the key, so the index holds and only new look-alikes are refused.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .add_column(ColumnDef::new("username_key").text().null())
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT id, username FROM users ORDER BY id",
            ))
            .await?;
        let mut taken = HashSet::with_capacity(rows.len());
        let update = match backend {
            sea_orm_migration::sea_orm::DbBackend::Postgres => {
                "UPDATE users SET username_key = $1 WHERE id = $2"
            }
            _ => "UPDATE users SET username_key = ? WHERE id = ?",
        };
        for row in rows {
            let id: i64 = row.try_get("", "id")?;
            let username: String = row.try_get("", "username")?;
            let mut key = entity::user::username_key(&username);
            if !taken.insert(key.clone()) {
                key = format!("{key}#{id}");
            }
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                update,
                [Value::from(key), Value::from(id)],
            ))
            .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_users_username_key")
                    .table("users")
                    .col("username_key")
                    .unique()
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_users_username_key")
                    .table("users")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .drop_column("username_key")
                    .take(),
            )
            .await
    }
}
