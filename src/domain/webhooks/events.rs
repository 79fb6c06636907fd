//! The events a webhook listens to, the body each delivery carries, and
//! queuing one event for the owner's webhooks (inside the job's
//! transaction, so the deliveries exist exactly when the job's work does).

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ConnectionTrait, Value};
use serde_json::json;

use super::super::{Result, global_ids, sql};
use super::{PENDING, new_message_id};

/// What a webhook can listen to, as the contract's `WebhookEvent` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    ArticlePublished,
    CommentAdded,
    ArticleFavorited,
    UserFollowed,
}

impl EventKind {
    pub const ALL: [EventKind; 4] = [
        EventKind::ArticlePublished,
        EventKind::CommentAdded,
        EventKind::ArticleFavorited,
        EventKind::UserFollowed,
    ];

    /// The name stored in `webhooks.events` and `webhook_deliveries.event`.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::ArticlePublished => "ARTICLE_PUBLISHED",
            EventKind::CommentAdded => "COMMENT_ADDED",
            EventKind::ArticleFavorited => "ARTICLE_FAVORITED",
            EventKind::UserFollowed => "USER_FOLLOWED",
        }
    }

    /// The body's `type`.
    pub fn wire_type(self) -> &'static str {
        match self {
            EventKind::ArticlePublished => "article.published",
            EventKind::CommentAdded => "comment.added",
            EventKind::ArticleFavorited => "article.favorited",
            EventKind::UserFollowed => "user.followed",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// Something that happened to an owner's content or account, by ids: the
/// data the body names is read when the delivery rows are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    ArticlePublished { article_id: i64 },
    CommentAdded { comment_id: i64 },
    ArticleFavorited { article_id: i64, user_id: i64 },
    UserFollowed { follower_id: i64 },
}

impl Event {
    pub fn kind(self) -> EventKind {
        match self {
            Event::ArticlePublished { .. } => EventKind::ArticlePublished,
            Event::CommentAdded { .. } => EventKind::CommentAdded,
            Event::ArticleFavorited { .. } => EventKind::ArticleFavorited,
            Event::UserFollowed { .. } => EventKind::UserFollowed,
        }
    }

    /// The body's `data`, as WebhookEvent's descriptions list it; `None`
    /// when what it is about is gone by now (nothing to tell).
    async fn data(self, db: &impl ConnectionTrait) -> Result<Option<serde_json::Value>> {
        let one = |sql: &'static str, id: i64| async move {
            Ok::<_, super::super::Error>(
                sql::query_all(db, sql, vec![id.into()])
                    .await?
                    .into_iter()
                    .next(),
            )
        };
        Ok(match self {
            Event::ArticlePublished { article_id } => {
                let Some(row) = one(
                    "SELECT a.id, a.slug, a.title, u.username FROM articles a \
                     JOIN users u ON u.id = a.author_id WHERE a.id = ?",
                    article_id,
                )
                .await?
                else {
                    return Ok(None);
                };
                let (id, slug, title, username): (i64, String, String, String) = (
                    row.try_get("", "id")?,
                    row.try_get("", "slug")?,
                    row.try_get("", "title")?,
                    row.try_get("", "username")?,
                );
                Some(json!({ "article": {
                    "id": global_ids::encode("Article", id),
                    "slug": slug,
                    "title": title,
                    "author": { "username": username },
                }}))
            }
            Event::CommentAdded { comment_id } => {
                let Some(row) = one(
                    "SELECT c.id, c.body, u.username, a.id AS article_id, a.slug FROM comments c \
                     JOIN users u ON u.id = c.author_id JOIN articles a ON a.id = c.article_id \
                     WHERE c.id = ?",
                    comment_id,
                )
                .await?
                else {
                    return Ok(None);
                };
                let (id, body, username, article_id, slug): (i64, String, String, i64, String) = (
                    row.try_get("", "id")?,
                    row.try_get("", "body")?,
                    row.try_get("", "username")?,
                    row.try_get("", "article_id")?,
                    row.try_get("", "slug")?,
                );
                Some(json!({
                    "comment": {
                        "id": global_ids::encode("Comment", id),
                        "body": body,
                        "author": { "username": username },
                    },
                    "article": { "id": global_ids::encode("Article", article_id), "slug": slug },
                }))
            }
            Event::ArticleFavorited {
                article_id,
                user_id,
            } => {
                let article = one("SELECT id, slug FROM articles WHERE id = ?", article_id).await?;
                let user = one("SELECT username FROM users WHERE id = ?", user_id).await?;
                let (Some(article), Some(user)) = (article, user) else {
                    return Ok(None);
                };
                let (id, slug, username): (i64, String, String) = (
                    article.try_get("", "id")?,
                    article.try_get("", "slug")?,
                    user.try_get("", "username")?,
                );
                Some(json!({
                    "article": { "id": global_ids::encode("Article", id), "slug": slug },
                    "user": { "username": username },
                }))
            }
            Event::UserFollowed { follower_id } => {
                let Some(row) = one("SELECT username FROM users WHERE id = ?", follower_id).await?
                else {
                    return Ok(None);
                };
                let username: String = row.try_get("", "username")?;
                Some(json!({ "follower": { "username": username } }))
            }
        })
    }
}

/// The body of a delivery: `{"type", "timestamp", "data"}`, in that order.
pub fn body(kind: EventKind, at: DateTime<Utc>, data: &serde_json::Value) -> String {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        r#type: &'a str,
        timestamp: String,
        data: &'a serde_json::Value,
    }
    serde_json::to_string(&Body {
        r#type: kind.wire_type(),
        timestamp: at.to_rfc3339_opts(SecondsFormat::Micros, true),
        data,
    })
    .expect("BUG: a JSON value serializes")
}

/// Writes one PENDING delivery of `event` (which happened at `at`) for each
/// of `owner_id`'s active webhooks that listens to it; answers how many.
/// Cheap for an owner with no webhooks: one indexed read.
pub async fn queue(
    txn: &impl ConnectionTrait,
    owner_id: i64,
    event: Event,
    at: DateTime<Utc>,
) -> Result<usize> {
    let kind = event.kind();
    let rows = sql::query_all(
        txn,
        "SELECT id, events FROM webhooks WHERE owner_id = ? AND active = ?",
        vec![owner_id.into(), true.into()],
    )
    .await?;
    let mut listening = Vec::new();
    for row in &rows {
        let events: String = row.try_get("", "events")?;
        if events.split(',').any(|name| name == kind.name()) {
            listening.push(row.try_get::<i64>("", "id")?);
        }
    }
    if listening.is_empty() {
        return Ok(0);
    }
    let Some(data) = event.data(txn).await? else {
        return Ok(0);
    };
    let payload = body(kind, at, &data);
    let now = super::super::time::now();
    let mut values: Vec<Value> = Vec::with_capacity(listening.len() * 7);
    for webhook_id in &listening {
        values.extend([
            (*webhook_id).into(),
            new_message_id().into(),
            kind.name().into(),
            payload.clone().into(),
            PENDING.into(),
            now.into(),
            now.into(),
        ]);
    }
    sql::execute(
        txn,
        &format!(
            "INSERT INTO webhook_deliveries \
             (webhook_id, message_id, event, payload, status, attempts, next_attempt_at, created_at) \
             VALUES {}",
            vec!["(?, ?, ?, ?, ?, 0, ?, ?)"; listening.len()].join(", ")
        ),
        values,
    )
    .await?;
    Ok(listening.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_round_trip_and_bodies_keep_their_order() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_name(kind.name()), Some(kind));
        }
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            body(
                EventKind::UserFollowed,
                at,
                &json!({ "follower": { "username": "bob" } })
            ),
            r#"{"type":"user.followed","timestamp":"2026-01-02T03:04:05.123456Z","data":{"follower":{"username":"bob"}}}"#
        );
    }
}
