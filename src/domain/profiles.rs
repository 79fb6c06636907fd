//! Following: who follows whom, and the lists both ways. The users'
//! `followers_count` and `following_count` move in the same transaction as
//! the follow itself.

use chrono::{DateTime, Utc};
use entity::user;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::db::Reader;
use crate::events::{Event, EventBus};

use super::outbox::{self, Job};
use super::pagination::{Order, Page, PageRequest};
use super::sql::{self, KeyNames, Keyset, Seen};
use super::{ById, Error, IdSet, Result, begin_write, time, users};

/// A user as anyone may see them: what lists of users and authors read.
///
/// Not the account row (`user::Model`): an email address is the user's own
/// business and the password hash nobody's, so neither travels with every
/// author and follower. Narrower rows are also cheaper: the followers page
/// of `deep` (460 users) ran in 4.1 ms with the whole row and 2.8 ms with
/// these columns (EXPLAIN ANALYZE), and the server decodes less.
///
/// Past `id` and `username`, a statement reads the columns its query asks
/// for (`ProfileColumns`): the private fields are `None` where it left
/// them out, and their accessors say so as an error rather than answer a
/// default, as `ArticleRow`'s do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub id: i64,
    pub username: String,
    bio: Option<Option<String>>,
    image: Option<Option<String>>,
    followers_count: Option<i64>,
    following_count: Option<i64>,
    created_at: Option<DateTime<Utc>>,
}

// In `ProfileColumns` order; the fields after `;` are its choice.
sql::read_by_position!(Profile {
    id,
    username;
    bio,
    image,
    followers_count,
    following_count,
    created_at,
});

sql::column_choice! {
    /// Which of a user's columns beyond `id` and `username` a statement
    /// reads. In `Profile`'s field order.
    ///
    /// On `deep`, 460 followers and the authors of 50 articles and 500
    /// comments are asked for their username alone; read whole, each was
    /// seven values decoded (a time among them) and five dropped unread.
    pub struct ProfileColumns {
        always: "u.id, u.username",
        BIO: "u.bio",
        IMAGE: "u.image",
        FOLLOWERS_COUNT: "u.followers_count",
        FOLLOWING_COUNT: "u.following_count",
        CREATED_AT: "u.created_at",
    }
}

impl Profile {
    pub fn bio(&self) -> Result<Option<&str>> {
        sql::chosen(self.bio.as_ref(), "user", self.id, "bio").map(Option::as_deref)
    }

    pub fn image(&self) -> Result<Option<&str>> {
        sql::chosen(self.image.as_ref(), "user", self.id, "image").map(Option::as_deref)
    }

    pub fn followers_count(&self) -> Result<i64> {
        sql::chosen(self.followers_count, "user", self.id, "followers_count")
    }

    pub fn following_count(&self) -> Result<i64> {
        sql::chosen(self.following_count, "user", self.id, "following_count")
    }

    pub fn created_at(&self) -> Result<DateTime<Utc>> {
        sql::chosen(self.created_at, "user", self.id, "created_at")
    }

    /// The two counters, each where its statement read it: a connection's
    /// total needs one only when the query asks for the total. Not through
    /// the accessors: the error they make for an unread column captures a
    /// backtrace where `RUST_BACKTRACE` is set (anyhow), ~20,000
    /// instructions that a follower list paid per user (callgrind, `deep`).
    pub fn counters_read(&self) -> (Option<i64>, Option<i64>) {
        (self.followers_count, self.following_count)
    }
}

impl From<user::Model> for Profile {
    fn from(user: user::Model) -> Self {
        Self {
            id: user.id,
            username: user.username,
            bio: Some(user.bio),
            image: Some(user.image),
            followers_count: Some(user.followers_count),
            following_count: Some(user.following_count),
            created_at: Some(user.created_at),
        }
    }
}

/// The follow's own columns in `FOLLOWERS`' and `FOLLOWING`'s rows, after
/// the user's.
const FOLLOWER_KEYS: &str = "f.created_at AS sort_at, f.followee_id AS parent_id";
const FOLLOWEE_KEYS: &str = "f.created_at AS sort_at, f.follower_id AS parent_id";

/// A user's followers, most recent first. Its `columns` are
/// `ProfileColumns`' choice, then `FOLLOWER_KEYS`.
const FOLLOWERS: Keyset<'static> = Keyset {
    columns: FOLLOWER_KEYS,
    // The follower's id is `u.id` (the join's condition); the follow's
    // time needs its alias beside the user's own `created_at`.
    keys: KeyNames {
        sort_id: "id",
        ..KeyNames::ALIASES
    },
    from: "follows f JOIN users u ON u.id = f.follower_id",
    sort_at: "f.created_at",
    sort_id: "f.follower_id",
    item: "f",
};

/// Whom a user follows, most recent first. Its `columns` are
/// `ProfileColumns`' choice, then `FOLLOWEE_KEYS`.
const FOLLOWING: Keyset<'static> = Keyset {
    columns: FOLLOWEE_KEYS,
    // As `FOLLOWERS`: the followee's id is `u.id`.
    keys: KeyNames {
        sort_id: "id",
        ..KeyNames::ALIASES
    },
    from: "follows f JOIN users u ON u.id = f.followee_id",
    sort_at: "f.created_at",
    sort_id: "f.followee_id",
    item: "f",
};

/// Follows `username` (again is fine: nothing changes). Answers the
/// followed user.
///
/// # Errors
/// NOT_FOUND for an unknown username; BAD_USER_INPUT for following yourself.
#[tracing::instrument(skip_all, fields(user_id, username))]
pub async fn follow(
    db: &DatabaseConnection,
    events: &EventBus,
    user_id: i64,
    username: &str,
) -> Result<user::Model> {
    set_follow(db, events, user_id, username, true).await
}

/// Stops following `username` (when not following, nothing changes).
#[tracing::instrument(skip_all, fields(user_id, username))]
pub async fn unfollow(
    db: &DatabaseConnection,
    events: &EventBus,
    user_id: i64,
    username: &str,
) -> Result<user::Model> {
    set_follow(db, events, user_id, username, false).await
}

async fn set_follow(
    db: &DatabaseConnection,
    events: &EventBus,
    user_id: i64,
    username: &str,
    on: bool,
) -> Result<user::Model> {
    let txn = begin_write(db).await?;
    users::ensure_exists(&txn, user_id).await?;
    let target = users::find_by_username(&txn, username)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no user is named {username:?}")))?;
    if target.id == user_id {
        return Err(Error::invalid("username", "you cannot follow yourself"));
    }
    let changed = if on {
        sql::execute(
            &txn,
            "INSERT INTO follows (follower_id, followee_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            vec![user_id.into(), target.id.into(), time::now().into()],
        )
        .await?
    } else {
        sql::execute(
            &txn,
            "DELETE FROM follows WHERE follower_id = ? AND followee_id = ?",
            vec![user_id.into(), target.id.into()],
        )
        .await?
    };
    let delta: i64 = if on { 1 } else { -1 };
    if changed > 0 {
        // In id order: two users following each other at once would
        // otherwise lock the two rows in opposite orders and deadlock on
        // PostgreSQL.
        let mut counters = [("followers_count", target.id), ("following_count", user_id)];
        counters.sort_by_key(|&(_, id)| id);
        for (column, id) in counters {
            sql::execute(
                &txn,
                &format!("UPDATE users SET {column} = {column} + ? WHERE id = ?"),
                vec![delta.into(), id.into()],
            )
            .await?;
        }
    }
    let queued = on && changed > 0;
    if queued {
        outbox::enqueue(
            &txn,
            &[Job::NotifyFollower {
                follower_id: user_id,
                followee_id: target.id,
            }],
        )
        .await?;
    }
    // Read back rather than computed from the lookup above: on PostgreSQL
    // concurrent follows may have moved the counters since.
    let target = users::find_by_id(&txn, target.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("user {} vanished inside a follow", target.id))?;
    txn.commit().await?;
    if queued {
        events.publish(Event::JobsQueued).await;
    }
    Ok(target)
}

/// Which of `ids` the user follows.
pub async fn followed_by(db: &impl ConnectionTrait, user_id: i64, ids: &[i64]) -> Result<IdSet> {
    sql::paired(db, "follows", "follower_id", user_id, "followee_id", ids).await
}

pub async fn follower_pages(
    db: &impl Reader,
    user_ids: &[i64],
    page: &PageRequest,
    columns: ProfileColumns,
) -> Result<ById<Page<Profile>>> {
    let columns = format!("{}, {FOLLOWER_KEYS}", columns.select_list());
    FOLLOWERS
        .reading(&columns)
        .pages_per_parent(db, "f.followee_id", user_ids, Order::NewestFirst, page)
        .await
}

pub async fn following_pages(
    db: &impl Reader,
    user_ids: &[i64],
    page: &PageRequest,
    columns: ProfileColumns,
) -> Result<ById<Page<Profile>>> {
    let columns = format!("{}, {FOLLOWEE_KEYS}", columns.select_list());
    FOLLOWING
        .reading(&columns)
        .pages_per_parent(db, "f.follower_id", user_ids, Order::NewestFirst, page)
        .await
}

pub async fn users_by_ids(
    db: &impl Reader,
    ids: &[i64],
    columns: ProfileColumns,
) -> Result<ById<Profile>> {
    let rows = select_by_ids(db, None, ids, columns).await?;
    Ok(sql::by_id(rows, |user: &Profile| user.id))
}

/// Whether the viewer follows the user in `follows.follower_id = ?`.
const FOLLOWED_BY_VIEWER: &str =
    "EXISTS (SELECT 1 FROM follows fv WHERE fv.follower_id = ? AND fv.followee_id = u.id)";

/// `users_by_ids`, each with whether `viewer` follows them, in one statement.
pub async fn users_seen_by(
    db: &impl Reader,
    viewer: i64,
    ids: &[i64],
    columns: ProfileColumns,
) -> Result<ById<Seen<Profile>>> {
    let rows = select_by_ids(db, Some(viewer), ids, columns).await?;
    Ok(sql::by_id(rows, |seen: &Seen<Profile>| seen.row.id))
}

/// The rows of the users with `ids`, `columns` of each, with the follow
/// flag for `viewer` when one is given.
async fn select_by_ids<T: sql::Rows>(
    db: &impl Reader,
    viewer: Option<i64>,
    ids: &[i64],
    columns: ProfileColumns,
) -> Result<Vec<T>> {
    let (ids_in, id_values) = sql::any_of(db.get_database_backend(), "u.id", ids);
    let (flag, mut values) = match viewer {
        // The flag's `?` comes first in the text, so its value does too.
        Some(viewer) => (
            format!(", {}", sql::flag_column(FOLLOWED_BY_VIEWER)),
            vec![viewer.into()],
        ),
        None => (String::new(), Vec::new()),
    };
    values.extend(id_values);
    let columns = columns.select_list();
    sql::rows(
        db,
        &format!("SELECT {columns}{flag} FROM users u WHERE {ids_in}"),
        values,
    )
    .await
}
