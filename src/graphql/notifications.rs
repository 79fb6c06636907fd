//! Notifications: the `Notification` type, the caller's list, marking read,
//! and the live feed. Every path is scoped to the caller: a user never sees
//! another user's notifications, `node` included.

use async_graphql::futures_util::Stream;
use async_graphql::{Context, Enum, ID, Object, Result, Subscription};
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;

use super::articles::{Article, vanished};
use super::comments::Comment;
use super::connection::{Connection, Total};
use super::event_stream;
use super::ids::{self, Kind};
use super::loaders::{ArticleById, CommentById, UserById};
use super::users::User;
use super::viewer::ContextExt as _;
use crate::domain::notifications::{self as domain_notifications, NotificationRow};
use crate::domain::notifications::{NEW_COMMENT, NEW_FOLLOWER};
use crate::domain::pagination::PageRequest;
use crate::domain::{self, notifications::ARTICLE_FAVORITED, notifications::NEW_ARTICLE};
use crate::events::Event;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    /// actor followed the recipient
    NewFollower,
    /// actor favorited the recipient's article
    ArticleFavorited,
    /// actor commented on the recipient's article
    NewComment,
    /// actor, whom the recipient follows, published an article
    NewArticle,
}

/// Something that happened which the caller should hear of.
#[derive(Clone)]
pub struct Notification(pub NotificationRow);

#[Object(crate = "crate::graphql::ordered", cache_control(private))]
impl Notification {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Notification, self.0.id)
    }

    async fn kind(&self) -> Result<NotificationKind> {
        Ok(match self.0.kind.as_str() {
            NEW_FOLLOWER => NotificationKind::NewFollower,
            ARTICLE_FAVORITED => NotificationKind::ArticleFavorited,
            NEW_COMMENT => NotificationKind::NewComment,
            NEW_ARTICLE => NotificationKind::NewArticle,
            other => {
                return Err(domain::Error::Internal(anyhow::anyhow!(
                    "unknown notification kind {other:?}"
                ))
                .into());
            }
        })
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn read(&self) -> bool {
        self.0.read_at.is_some()
    }

    async fn actor(&self, ctx: &Context<'_>) -> Result<User> {
        ctx.load_one(UserById(
            self.0.actor_id,
            super::asked::of_user(ctx).columns,
        ))
        .await?
        .map(User::new)
        .ok_or_else(|| vanished("user", self.0.actor_id))
    }

    async fn article(&self, ctx: &Context<'_>) -> Result<Option<Article>> {
        match self.0.article_id {
            Some(id) => Ok(ctx.load_one(ArticleById(id)).await?.map(Article::new)),
            None => Ok(None),
        }
    }

    async fn comment(&self, ctx: &Context<'_>) -> Result<Option<Comment>> {
        match self.0.comment_id {
            Some(id) => Ok(ctx.load_one(CommentById(id)).await?.map(Comment::new)),
            None => Ok(None),
        }
    }
}

#[derive(Default)]
pub struct NotificationQuery;

#[Object(crate = "crate::graphql::ordered", cache_control(max_age = 60))]
impl NotificationQuery {
    /// The caller's notifications. UNAUTHENTICATED when anonymous.
    #[graphql(cache_control(private))]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(default_with = "Some(false)")] unread_only: Option<bool>,
    ) -> Result<Connection<Notification>> {
        let viewer = ctx.viewer().require()?;
        let page = PageRequest::parse(first, after.as_deref())?;
        let unread_only = unread_only.unwrap_or(false);
        let found = domain_notifications::list(ctx.reads(), viewer, unread_only, &page).await?;
        Ok(Connection::from_page(
            found,
            Total::Notifications {
                recipient: viewer,
                unread_only,
            },
            Notification,
        ))
    }
}

#[derive(Default)]
pub struct NotificationMutation;

#[Object(crate = "crate::graphql::ordered")]
impl NotificationMutation {
    /// Marks the caller's notifications read (all of them when ids is null); answers how many changed.
    async fn mark_notifications_read(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
    ) -> Result<i64> {
        let viewer = ctx.viewer().require()?;
        let ids = match ids {
            None => None,
            Some(ids) => {
                domain::validate::id_count(ids.len())
                    .map_err(|message| domain::Error::invalid("ids", message))?;
                // An id that names no notification of any kind is a
                // mistake; one that names someone else's changes nothing.
                let mut rows = Vec::with_capacity(ids.len());
                for id in &ids {
                    match ids::decode(id) {
                        Some((Kind::Notification, row)) => rows.push(row),
                        _ => {
                            return Err(domain::Error::invalid(
                                "ids",
                                format!("{} is not a notification id", id.as_str()),
                            )
                            .into());
                        }
                    }
                }
                // The same id twice changes one row once.
                rows.sort_unstable();
                rows.dedup();
                Some(rows)
            }
        };
        let changed =
            domain_notifications::mark_read(&ctx.services().db, viewer, ids.as_deref()).await?;
        Ok(changed as i64)
    }
}

#[derive(Default)]
pub struct NotificationSubscription;

#[Subscription]
impl NotificationSubscription {
    /// The caller's new notifications. UNAUTHENTICATED when anonymous.
    async fn notification_received(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<Notification>> + use<>> {
        let viewer = ctx.viewer().require()?;
        let db = ctx.services().db.clone();
        Ok(event_stream::events(&ctx.services().events)
            .filter_map(move |delivery| {
                let mine: Vec<i64> = match &delivery {
                    Ok(delivery) => match &delivery.event {
                        Event::NotificationsCreated { notifications } => notifications
                            .iter()
                            .filter(|(_, recipient)| *recipient == viewer)
                            .map(|(id, _)| *id)
                            .collect(),
                        _ => Vec::new(),
                    },
                    Err(_) => Vec::new(),
                };
                let db = db.clone();
                async move {
                    match delivery {
                        Err(lagged) => Some(vec![Err(lagged)]),
                        // Recipients differ per notification: each loads its own.
                        Ok(_) if mine.is_empty() => None,
                        Ok(_) => match domain_notifications::by_ids(&db, &mine).await {
                            Ok(mut found) => Some(
                                mine.iter()
                                    .filter_map(|id| found.remove(id))
                                    .filter(|n| n.recipient_id == viewer)
                                    .map(|n| Ok(Notification(n)))
                                    .collect(),
                            ),
                            Err(error) => Some(vec![Err(error.into())]),
                        },
                    }
                }
            })
            .flat_map(futures_util::stream::iter))
    }
}
