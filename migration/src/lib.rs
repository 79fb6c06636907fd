//! The database schema, as migrations that run on SQLite and PostgreSQL alike.
//!
//! Never edit a migration that has run somewhere: add a new one.

// `MigrationTrait` is an `async_trait` whose signatures elide `SchemaManager`'s
// lifetime; spelling it out makes the impls stop matching the trait.
#![allow(elided_lifetimes_in_paths)]

pub use sea_orm_migration::prelude::*;

mod m20260101_000001_create_users;
mod m20260101_000002_create_follows;
mod m20260101_000003_create_articles_and_tags;
mod m20260101_000004_create_favorites;
mod m20260101_000005_create_comments;
mod m20260101_000006_create_settings;
mod m20260101_000007_create_notifications_and_outbox;
mod m20260101_000008_create_totals;
mod m20260101_000009_cover_author_article_pages;
mod m20260101_000010_index_ready_jobs;
mod m20260101_000011_carry_tag_names_on_articles;
mod m20260101_000012_order_follow_pages_fully;
mod m20260101_000013_key_usernames;
mod m20260101_000014_create_sessions;
mod m20260101_000015_create_sign_in_failures;
mod m20260101_000016_create_webhooks;
mod m20260101_000017_create_trusted_documents;
mod m20260101_000018_create_emails_and_password_resets;
mod m20260101_000019_index_webhook_queues;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_create_users::Migration),
            Box::new(m20260101_000002_create_follows::Migration),
            Box::new(m20260101_000003_create_articles_and_tags::Migration),
            Box::new(m20260101_000004_create_favorites::Migration),
            Box::new(m20260101_000005_create_comments::Migration),
            Box::new(m20260101_000006_create_settings::Migration),
            Box::new(m20260101_000007_create_notifications_and_outbox::Migration),
            Box::new(m20260101_000008_create_totals::Migration),
            Box::new(m20260101_000009_cover_author_article_pages::Migration),
            Box::new(m20260101_000010_index_ready_jobs::Migration),
            Box::new(m20260101_000011_carry_tag_names_on_articles::Migration),
            Box::new(m20260101_000012_order_follow_pages_fully::Migration),
            Box::new(m20260101_000013_key_usernames::Migration),
            Box::new(m20260101_000014_create_sessions::Migration),
            Box::new(m20260101_000015_create_sign_in_failures::Migration),
            Box::new(m20260101_000016_create_webhooks::Migration),
            Box::new(m20260101_000017_create_trusted_documents::Migration),
            Box::new(m20260101_000018_create_emails_and_password_resets::Migration),
            Box::new(m20260101_000019_index_webhook_queues::Migration),
        ]
    }
}

/// A `timestamp with time zone` column: `timestamptz` on PostgreSQL, an
/// RFC 3339 text on SQLite (whose fixed `+00:00` offset sorts as time does).
fn utc_timestamp(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

/// A 64-bit surrogate key: `bigserial` on PostgreSQL, the rowid on SQLite.
fn id_column() -> ColumnDef {
    ColumnDef::new("id")
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .take()
}

/// A foreign key that goes away with the row it points at.
fn cascade(from: (&'static str, &'static str), to: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{}_{}", from.0, from.1))
        .from(from.0, from.1)
        .to(to, "id")
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

/// A counter kept in the same transaction as the rows it counts.
fn counter(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .default(0)
        .take()
}
