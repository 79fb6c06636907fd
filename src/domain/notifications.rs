//! Notifications: writing them (the jobs do), listing a user's own, and
//! marking them read. A user never reaches another user's notifications:
//! every read here is scoped to the recipient.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult, Value};

use crate::db::Reader;

use super::pagination::{Order, Page, PageRequest};
use super::sql::{self, KeyNames, Keyset};
use super::{ById, Result, time};

/// The kinds, as stored in `notifications.kind`.
pub const NEW_FOLLOWER: &str = "NEW_FOLLOWER";
pub const ARTICLE_FAVORITED: &str = "ARTICLE_FAVORITED";
pub const NEW_COMMENT: &str = "NEW_COMMENT";
pub const NEW_ARTICLE: &str = "NEW_ARTICLE";

#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct NotificationRow {
    pub id: i64,
    pub recipient_id: i64,
    pub actor_id: i64,
    pub kind: String,
    pub article_id: Option<i64>,
    pub comment_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl sql::Rows for NotificationRow {}

const COLUMNS: &str =
    "n.id, n.recipient_id, n.actor_id, n.kind, n.article_id, n.comment_id, n.created_at, n.read_at";

const BY_RECIPIENT: Keyset<'static> = Keyset {
    columns: "n.id, n.recipient_id, n.actor_id, n.kind, n.article_id, n.comment_id, n.created_at, n.read_at",
    keys: KeyNames {
        sort_at: "created_at",
        sort_id: "id",
        parent_id: "recipient_id",
    },
    from: "notifications n",
    sort_at: "n.created_at",
    sort_id: "n.id",
    item: "n",
};

/// One notification to write.
#[derive(Clone, Debug)]
pub struct NewNotification {
    pub recipient_id: i64,
    pub actor_id: i64,
    pub kind: &'static str,
    pub article_id: Option<i64>,
    pub comment_id: Option<i64>,
    /// What makes it unique: writing the same key twice writes it once.
    pub dedupe_key: String,
}

/// Writes notifications in one multi-row statement, skipping any whose key
/// exists. Answers `(id, recipient)` of the ones really written.
pub async fn insert(
    db: &impl ConnectionTrait,
    notifications: &[NewNotification],
) -> Result<Vec<(i64, i64)>> {
    if notifications.is_empty() {
        return Ok(Vec::new());
    }
    let now = time::now();
    let mut values: Vec<Value> = Vec::with_capacity(notifications.len() * 7);
    for n in notifications {
        values.extend([
            n.recipient_id.into(),
            n.actor_id.into(),
            n.kind.into(),
            n.article_id.into(),
            n.comment_id.into(),
            now.into(),
            n.dedupe_key.clone().into(),
        ]);
    }
    let rows = sql::query_all(
        db,
        &format!(
            "INSERT INTO notifications (recipient_id, actor_id, kind, article_id, comment_id, created_at, dedupe_key) \
             VALUES {} ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, recipient_id",
            vec!["(?, ?, ?, ?, ?, ?, ?)"; notifications.len()].join(", ")
        ),
        values,
    )
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("", "id")?, row.try_get("", "recipient_id")?)))
        .collect()
}

fn scope(recipient_id: i64, unread_only: bool) -> Vec<(String, Vec<Value>)> {
    let mut conditions = vec![("n.recipient_id = ?".to_owned(), vec![recipient_id.into()])];
    if unread_only {
        conditions.push(("n.read_at IS NULL".to_owned(), vec![]));
    }
    conditions
}

/// The recipient's notifications, newest first.
pub async fn list(
    db: &impl Reader,
    recipient_id: i64,
    unread_only: bool,
    page: &PageRequest,
) -> Result<Page<NotificationRow>> {
    BY_RECIPIENT
        .page(
            db,
            scope(recipient_id, unread_only),
            Order::NewestFirst,
            page,
        )
        .await
}

pub async fn count(db: &impl ConnectionTrait, recipient_id: i64, unread_only: bool) -> Result<i64> {
    let unread = if unread_only {
        " AND read_at IS NULL"
    } else {
        ""
    };
    sql::count(
        db,
        &format!("SELECT COUNT(*) FROM notifications WHERE recipient_id = ?{unread}"),
        vec![recipient_id.into()],
    )
    .await
}

/// Marks the recipient's notifications read: those in `ids`, or all of them.
/// Ids that are not the recipient's change nothing. Answers how many changed.
pub async fn mark_read(
    db: &impl ConnectionTrait,
    recipient_id: i64,
    ids: Option<&[i64]>,
) -> Result<u64> {
    let mut values: Vec<Value> = vec![time::now().into(), recipient_id.into()];
    let only = match ids {
        Some([]) => return Ok(0),
        Some(ids) => {
            let (ids_in, ids) = sql::any_of(db.get_database_backend(), "id", ids);
            values.extend(ids);
            format!(" AND {ids_in}")
        }
        None => String::new(),
    };
    sql::execute(
        db,
        &format!(
            "UPDATE notifications SET read_at = ? WHERE recipient_id = ? AND read_at IS NULL{only}"
        ),
        values,
    )
    .await
}

/// Notifications by id, whoever they belong to: callers check the recipient.
pub async fn by_ids(db: &impl Reader, ids: &[i64]) -> Result<ById<NotificationRow>> {
    let rows = sql::rows_any_of(
        db,
        &format!("SELECT {COLUMNS} FROM notifications n"),
        "n.id",
        ids,
    )
    .await?;
    Ok(sql::by_id(rows, |notification: &NotificationRow| {
        notification.id
    }))
}
