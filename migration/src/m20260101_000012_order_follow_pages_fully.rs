use super::*;

/// Follower and following pages ordered entirely by their index.
///
/// A page is `ORDER BY f.created_at DESC, <the other user's id> DESC`; the
/// indexes it replaces held `(user, created_at)` only, so PostgreSQL read
/// each parent's rows from the heap for the id and sorted them before the
/// `LIMIT` (an Incremental Sort per parent). With the id as the third
/// column the walk is an index-only scan that stops at the limit: the
/// `deep` benchmark's followers of 49 authors went from 4.1 to about 2 ms
/// (EXPLAIN ANALYZE, with the narrower user rows of `profiles::Profile`).
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// (old index, new index, the user the list belongs to, the other user)
const PAGES: [(&str, &str, &str, &str); 2] = [
    (
        "idx_follows_followee_created",
        "idx_follows_followee_page",
        "followee_id",
        "follower_id",
    ),
    (
        "idx_follows_follower_created",
        "idx_follows_follower_page",
        "follower_id",
        "followee_id",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (old, new, owner, other) in PAGES {
            manager
                .create_index(
                    Index::create()
                        .name(new)
                        .table("follows")
                        .col(owner)
                        .col("created_at")
                        .col(other)
                        .take(),
                )
                .await?;
            manager
                .drop_index(Index::drop().name(old).table("follows").to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (old, new, owner, _) in PAGES {
            manager
                .create_index(
                    Index::create()
                        .name(old)
                        .table("follows")
                        .col(owner)
                        .col("created_at")
                        .take(),
                )
                .await?;
            manager
                .drop_index(Index::drop().name(new).table("follows").to_owned())
                .await?;
        }
        Ok(())
    }
}
