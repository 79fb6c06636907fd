//! Email as rows: what is to be sent, written in the transaction that
//! causes it, and what became of each. The mail runner (`jobs::mail`)
//! claims due rows, renders and sends them, and records the outcome here.
//!
//! Rows hold what to send, not the message: a password reset's link is
//! made when it is sent (its token exists only in the email and, hashed,
//! in `password_resets`), a notification's text from the notification.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::{Result, sql, time};

pub const PASSWORD_RESET: &str = "password_reset";
pub const NOTIFICATION: &str = "notification";

/// One email to send now.
#[derive(Clone, Debug)]
pub struct Due {
    pub id: i64,
    pub kind: String,
    pub address: Option<String>,
    pub notification_id: Option<i64>,
    /// Including the one about to be made.
    pub attempts: i32,
}

/// What is waiting, for `/readyz`.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Backlog {
    pub pending: i64,
}

/// Queues a reset email to `address`, whether or not an account has it:
/// the request costs the same either way, and the runner sends nothing to
/// an address no account has.
pub async fn queue_password_reset(db: &impl ConnectionTrait, address: &str) -> Result<()> {
    let now = time::now();
    sql::execute(
        db,
        "INSERT INTO emails (kind, address, attempts, next_attempt_at, created_at) VALUES (?, ?, 0, ?, ?)",
        vec![PASSWORD_RESET.into(), address.into(), now.into(), now.into()],
    )
    .await?;
    Ok(())
}

/// Queues an email for each of `notified` (`(notification, recipient)`)
/// whose recipient chose email notifications: one statement for a whole
/// fan-out batch, in the transaction that wrote the notifications.
pub async fn queue_notifications(
    db: &impl ConnectionTrait,
    notified: &[(i64, i64)],
) -> Result<u64> {
    if notified.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = notified.iter().map(|(id, _)| *id).collect();
    let (ids_in, ids) = sql::any_of(db.get_database_backend(), "n.id", &ids);
    let now = time::now();
    let mut values = vec![NOTIFICATION.into(), now.into(), now.into()];
    values.extend(ids);
    sql::execute(
        db,
        &format!(
            "INSERT INTO emails (kind, notification_id, attempts, next_attempt_at, created_at) \
             SELECT ?, n.id, 0, ?, ? FROM notifications n JOIN users u ON u.id = n.recipient_id \
             WHERE u.email_notifications AND {ids_in}"
        ),
        values,
    )
    .await
}

/// Takes up to `limit` due emails, each leased for `lease` (an instance
/// that dies while sending leaves them to be taken again after it), with
/// their attempt counted.
pub async fn claim(db: &impl ConnectionTrait, limit: u64, lease: Duration) -> Result<Vec<Due>> {
    let now = time::now();
    let until = now + chrono::TimeDelta::from_std(lease).unwrap_or(chrono::TimeDelta::MAX);
    let lock = sql::skip_locked(db.get_database_backend(), None);
    let rows = sql::query_all(
        db,
        &format!(
            "UPDATE emails SET next_attempt_at = ?, attempts = attempts + 1 WHERE id IN (\
               SELECT id FROM emails WHERE sent_at IS NULL AND failed_at IS NULL \
               AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?{lock}) \
             RETURNING id, kind, address, notification_id, attempts"
        ),
        vec![
            until.into(),
            now.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Due {
                id: row.try_get("", "id")?,
                kind: row.try_get("", "kind")?,
                address: row.try_get("", "address")?,
                notification_id: row.try_get("", "notification_id")?,
                attempts: row.try_get("", "attempts")?,
            })
        })
        .collect()
}

/// Sent (or, for an address no account has, nothing to send).
pub async fn done(db: &impl ConnectionTrait, id: i64) -> Result<()> {
    sql::execute(
        db,
        "UPDATE emails SET sent_at = ?, last_error = NULL WHERE id = ?",
        vec![time::now().into(), id.into()],
    )
    .await?;
    Ok(())
}

/// Failed this time; tried again at `next`.
pub async fn retry_at(
    db: &impl ConnectionTrait,
    id: i64,
    next: DateTime<Utc>,
    error: &str,
) -> Result<()> {
    sql::execute(
        db,
        "UPDATE emails SET next_attempt_at = ?, last_error = ? WHERE id = ?",
        vec![next.into(), error.into(), id.into()],
    )
    .await?;
    Ok(())
}

/// Failed for good: refused by the server, or out of attempts.
pub async fn failed(db: &impl ConnectionTrait, id: i64, error: &str) -> Result<()> {
    sql::execute(
        db,
        "UPDATE emails SET failed_at = ?, last_error = ? WHERE id = ?",
        vec![time::now().into(), error.into(), id.into()],
    )
    .await?;
    Ok(())
}

pub async fn backlog(db: &impl ConnectionTrait) -> Result<Backlog> {
    let pending = sql::count(
        db,
        "SELECT COUNT(*) FROM emails WHERE sent_at IS NULL AND failed_at IS NULL",
        vec![],
    )
    .await?;
    Ok(Backlog { pending })
}

/// What a notification email says: who did what, on which article.
#[derive(Clone, Debug)]
pub struct NotificationMail {
    pub recipient_email: String,
    pub recipient_username: String,
    pub kind: String,
    pub actor: String,
    pub article_title: Option<String>,
    pub article_slug: Option<String>,
    pub comment_body: Option<String>,
}

/// The facts of notification `id` for its email, or `None` when it (or
/// its recipient) is gone.
pub async fn notification_mail(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<NotificationMail>> {
    let rows = sql::query_all(
        db,
        "SELECT r.email AS recipient_email, r.username AS recipient_username, n.kind, \
                actor.username AS actor, a.title, a.slug, c.body \
         FROM notifications n \
         JOIN users r ON r.id = n.recipient_id \
         JOIN users actor ON actor.id = n.actor_id \
         LEFT JOIN articles a ON a.id = n.article_id \
         LEFT JOIN comments c ON c.id = n.comment_id \
         WHERE n.id = ?",
        vec![id.into()],
    )
    .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(NotificationMail {
        recipient_email: row.try_get("", "recipient_email")?,
        recipient_username: row.try_get("", "recipient_username")?,
        kind: row.try_get("", "kind")?,
        actor: row.try_get("", "actor")?,
        article_title: row.try_get("", "title")?,
        article_slug: row.try_get("", "slug")?,
        comment_body: row.try_get("", "body")?,
    }))
}
