//! What each job does: the one place that says it. Each runs inside the
//! transaction that claimed its outbox row and deletes it, so its writes
//! (notifications, webhook deliveries, follow-up jobs) commit with the
//! removal or not at all.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::Job;
use crate::domain::notifications::{
    self, ARTICLE_FAVORITED, NEW_ARTICLE, NEW_COMMENT, NEW_FOLLOWER, NewNotification,
};
use crate::domain::webhooks::events::{self as webhook_events, Event as WebhookEvent};
use crate::domain::{Result, sql};

/// Followers notified per run of a fan-out job: one multi-row statement.
pub const FAN_OUT_BATCH: i64 = 1_000;

/// What a job did: the notifications it wrote, whether it queued webhook
/// deliveries, and the jobs that continue it.
#[derive(Default)]
pub struct Done {
    pub notified: Vec<(i64, i64)>,
    pub deliveries: usize,
    pub follow_ups: Vec<Job>,
}

/// Runs `job`, queued at `queued_at` (the time of the write that caused
/// it, which its webhook deliveries name as the event's time).
pub async fn execute(
    txn: &impl ConnectionTrait,
    job: &Job,
    queued_at: DateTime<Utc>,
) -> Result<Done> {
    match *job {
        Job::NotifyFollower {
            follower_id,
            followee_id,
        } => {
            // Unfollowed before the job ran: nothing to tell.
            let still = sql::count(
                txn,
                "SELECT COUNT(*) FROM follows WHERE follower_id = ? AND followee_id = ?",
                vec![follower_id.into(), followee_id.into()],
            )
            .await?;
            if still == 0 {
                return Ok(Done::default());
            }
            tell(
                txn,
                NewNotification {
                    recipient_id: followee_id,
                    actor_id: follower_id,
                    kind: NEW_FOLLOWER,
                    article_id: None,
                    comment_id: None,
                    dedupe_key: format!("follow:{follower_id}:{followee_id}"),
                },
                WebhookEvent::UserFollowed { follower_id },
                queued_at,
            )
            .await
        }
        Job::NotifyFavorite {
            user_id,
            article_id,
        } => {
            // Nobody hears of their own action.
            let Some(author_id) = author_of(txn, article_id)
                .await?
                .filter(|&author| author != user_id)
            else {
                return Ok(Done::default());
            };
            tell(
                txn,
                NewNotification {
                    recipient_id: author_id,
                    actor_id: user_id,
                    kind: ARTICLE_FAVORITED,
                    article_id: Some(article_id),
                    comment_id: None,
                    dedupe_key: format!("favorite:{user_id}:{article_id}"),
                },
                WebhookEvent::ArticleFavorited {
                    article_id,
                    user_id,
                },
                queued_at,
            )
            .await
        }
        Job::NotifyComment { comment_id } => {
            let rows = sql::query_all(
                txn,
                "SELECT c.author_id AS actor, c.article_id, a.author_id AS recipient \
                 FROM comments c JOIN articles a ON a.id = c.article_id WHERE c.id = ?",
                vec![comment_id.into()],
            )
            .await?;
            let Some(row) = rows.first() else {
                return Ok(Done::default());
            };
            let (actor, article_id, recipient): (i64, i64, i64) = (
                row.try_get("", "actor")?,
                row.try_get("", "article_id")?,
                row.try_get("", "recipient")?,
            );
            if actor == recipient {
                return Ok(Done::default());
            }
            tell(
                txn,
                NewNotification {
                    recipient_id: recipient,
                    actor_id: actor,
                    kind: NEW_COMMENT,
                    article_id: Some(article_id),
                    comment_id: Some(comment_id),
                    dedupe_key: format!("comment:{comment_id}"),
                },
                WebhookEvent::CommentAdded { comment_id },
                queued_at,
            )
            .await
        }
        Job::FanOutNewArticle {
            article_id,
            after_follower,
        } => {
            let Some(author_id) = author_of(txn, article_id).await? else {
                return Ok(Done::default());
            };
            // The author's own webhooks hear of it once, with the first batch.
            let deliveries = if after_follower == 0 {
                webhook_events::queue(
                    txn,
                    author_id,
                    WebhookEvent::ArticlePublished { article_id },
                    queued_at,
                )
                .await?
            } else {
                0
            };
            let rows = sql::query_all(
                txn,
                &format!(
                    "SELECT follower_id FROM follows WHERE followee_id = ? AND follower_id > ? \
                     ORDER BY follower_id LIMIT {FAN_OUT_BATCH}"
                ),
                vec![author_id.into(), after_follower.into()],
            )
            .await?;
            let followers: Vec<i64> = rows
                .iter()
                .map(|row| row.try_get("", "follower_id"))
                .collect::<std::result::Result<_, _>>()?;
            let batch: Vec<NewNotification> = followers
                .iter()
                .map(|&follower| NewNotification {
                    recipient_id: follower,
                    actor_id: author_id,
                    kind: NEW_ARTICLE,
                    article_id: Some(article_id),
                    comment_id: None,
                    dedupe_key: format!("article:{article_id}:{follower}"),
                })
                .collect();
            let notified = notifications::insert(txn, &batch).await?;
            let follow_ups = match followers.last() {
                Some(&last) if followers.len() as i64 == FAN_OUT_BATCH => {
                    vec![Job::FanOutNewArticle {
                        article_id,
                        after_follower: last,
                    }]
                }
                _ => Vec::new(),
            };
            Ok(Done {
                notified,
                deliveries,
                follow_ups,
            })
        }
    }
}

/// Tells one user of something: their notification, and the same event to
/// their webhooks that listen for it.
async fn tell(
    txn: &impl ConnectionTrait,
    notification: NewNotification,
    event: WebhookEvent,
    queued_at: DateTime<Utc>,
) -> Result<Done> {
    let recipient = notification.recipient_id;
    let notified = notifications::insert(txn, &[notification]).await?;
    let deliveries = webhook_events::queue(txn, recipient, event, queued_at).await?;
    Ok(Done {
        notified,
        deliveries,
        ..Done::default()
    })
}

async fn author_of(txn: &impl ConnectionTrait, article_id: i64) -> Result<Option<i64>> {
    let rows = sql::query_all(
        txn,
        "SELECT author_id FROM articles WHERE id = ?",
        vec![article_id.into()],
    )
    .await?;
    rows.first()
        .map(|row| Ok(row.try_get("", "author_id")?))
        .transpose()
}
