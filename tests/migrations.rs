//! Migrations that rewrite data, run over data: a database migrated to just
//! before the migration is given rows, then migrated to the end (and back
//! down and up again). On a fresh SQLite file, and on a fresh PostgreSQL
//! database too when `TEST_DATABASE_URL` names a server.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

#[path = "common/postgres_database.rs"]
mod postgres_database;
use postgres_database::PostgresDatabase;

/// Migrations before `carry_tag_names_on_articles`.
const BEFORE_TAG_LISTS: u32 = 10;

async fn execute(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

async fn tag_lists(db: &DatabaseConnection) -> Vec<(i64, Vec<String>)> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT id, tag_list FROM articles ORDER BY id",
        ))
        .await
        .expect("the tag lists");
    rows.iter()
        .map(|row| {
            let list: String = row.try_get("", "tag_list").expect("a tag list");
            let names = serde_json::from_str(&list).expect("a JSON list of names");
            (row.try_get("", "id").expect("an id"), names)
        })
        .collect()
}

async fn existing_articles_get_their_tag_names_in_order(url: &str) {
    let db = Database::connect(url).await.expect("the database");
    Migrator::up(&db, Some(BEFORE_TAG_LISTS))
        .await
        .expect("the earlier migrations");
    let at = "'2026-01-01T00:00:00Z'";
    execute(
        &db,
        &format!(
            "INSERT INTO users (id, username, email, password_hash, created_at, updated_at) \
             VALUES (1, 'jane', 'jane@example.com', 'x', {at}, {at})"
        ),
    )
    .await;
    for id in 1..=3 {
        execute(
            &db,
            &format!(
                "INSERT INTO articles (id, slug, title, description, body, author_id, created_at, updated_at) \
                 VALUES ({id}, 'a-{id}', 'A {id}', '', 'Body', 1, {at}, {at})"
            ),
        )
        .await;
    }
    execute(
        &db,
        "INSERT INTO tags (id, name, articles_count) VALUES (1, 'rust', 2), (2, 'async', 1), (3, 'zig', 1)",
    )
    .await;
    // Positions in an order other than the tags' ids or names.
    execute(
        &db,
        "INSERT INTO article_tags (article_id, tag_id, position) \
         VALUES (1, 1, 2), (1, 2, 0), (1, 3, 1), (2, 1, 0)",
    )
    .await;

    Migrator::up(&db, None)
        .await
        .expect("the tag-list migration");

    let expected = vec![
        (
            1,
            vec!["async".to_owned(), "zig".to_owned(), "rust".to_owned()],
        ),
        (2, vec!["rust".to_owned()]),
        (3, vec![]),
    ];
    assert_eq!(tag_lists(&db).await, expected);
    Migrator::down(&db, Some(1)).await.expect("down");
    Migrator::up(&db, None).await.expect("up again");
    assert_eq!(tag_lists(&db).await, expected);
}

#[tokio::test]
async fn tag_lists_are_filled_from_the_links_on_sqlite() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    existing_articles_get_their_tag_names_in_order(&url).await;
}

#[tokio::test]
async fn tag_lists_are_filled_from_the_links_on_postgres() {
    let Some(database) = PostgresDatabase::create().await else {
        eprintln!("TEST_DATABASE_URL is not set: skipped");
        return;
    };
    existing_articles_get_their_tag_names_in_order(&database.url).await;
}
