//! Comments: the `Comment` type, adding and deleting.

use async_graphql::futures_util::Stream;
use async_graphql::{Context, ID, Object, Result, Subscription};
use chrono::{DateTime, Utc};
use std::sync::Arc;

use entity::comment;
use futures_util::StreamExt as _;

use super::articles::{Article, vanished};
use super::event_stream;
use super::ids::{self, Kind};
use super::loaders::{ArticleById, UserById};
use super::users::User;
use super::viewer::ContextExt as _;
use crate::domain::articles::ArticleRow;
use crate::domain::comments::CommentRow;
use crate::domain::profiles::{self, Profile, ProfileColumns};
use crate::domain::{self, articles as domain_articles, comments as domain_comments};
use crate::events::Event;

/// What a reader said under an article.
#[derive(Clone)]
pub struct Comment {
    model: comment::Model,
    /// Its author, where the page it is on read them (`CommentRow`).
    author: Option<Profile>,
    /// Its author and article, when they were loaded already: a subscription
    /// event loads them once for all its subscribers.
    preloaded: Option<Arc<CommentContext>>,
}

/// A comment with what its fields most often lead to.
pub(super) struct CommentContext {
    comment: comment::Model,
    author: Profile,
    article: ArticleRow,
}

impl Comment {
    pub fn new(model: comment::Model) -> Self {
        Self {
            model,
            author: None,
            preloaded: None,
        }
    }

    /// A comment of a page, with its author if the page read them.
    pub fn from_row(row: CommentRow) -> Self {
        Self {
            model: row.row,
            author: row.joined,
            preloaded: None,
        }
    }

    fn with_context(context: Arc<CommentContext>) -> Self {
        Self {
            model: context.comment.clone(),
            author: None,
            preloaded: Some(context),
        }
    }
}

#[Object(crate = "crate::graphql::ordered", cache_control(max_age = 30))]
impl Comment {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Comment, self.model.id)
    }

    async fn body(&self) -> &str {
        &self.model.body
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }

    async fn author(&self, ctx: &Context<'_>) -> Result<User> {
        if let Some(preloaded) = &self.preloaded {
            return Ok(User::new(preloaded.author.clone()));
        }
        // Read with the page, with every column this field asks for
        // (`asked::comment_authors`).
        if let Some(author) = &self.author {
            return Ok(User::new(author.clone()));
        }
        ctx.load_one(UserById(
            self.model.author_id,
            super::asked::of_user(ctx).columns,
        ))
        .await?
        .map(User::new)
        .ok_or_else(|| vanished("user", self.model.author_id))
    }

    async fn article(&self, ctx: &Context<'_>) -> Result<Article> {
        if let Some(preloaded) = &self.preloaded {
            return Ok(Article::new(preloaded.article.clone()));
        }
        ctx.load_one(ArticleById(self.model.article_id))
            .await?
            .map(Article::new)
            .ok_or_else(|| vanished("article", self.model.article_id))
    }
}

#[derive(Default)]
pub struct CommentMutation;

#[Object(crate = "crate::graphql::ordered")]
impl CommentMutation {
    async fn add_comment(
        &self,
        ctx: &Context<'_>,
        article_slug: String,
        body: String,
    ) -> Result<Comment> {
        let viewer = ctx.viewer().require()?;
        let added = domain_comments::add(
            &ctx.services().db,
            &ctx.services().events,
            viewer,
            &article_slug,
            &body,
        )
        .await?;
        // Its author and article as the write read them: the answer's
        // `author` and `article` cost no statement.
        Ok(Comment::with_context(Arc::new(CommentContext {
            comment: added.comment,
            author: added.author.into(),
            article: added.article,
        })))
    }

    /// Only the comment's author may delete. Answers the deleted comment's id.
    async fn delete_comment(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let viewer = ctx.viewer().require()?;
        let comment_id = match ids::decode(&id) {
            Some((Kind::Comment, comment_id)) => comment_id,
            // Some other type's id names no comment.
            Some(_) => return Err(domain::Error::NotFound("no such comment".into()).into()),
            None => {
                return Err(domain::Error::invalid("id", "is not an id this server made").into());
            }
        };
        let deleted = domain_comments::delete(&ctx.services().db, viewer, comment_id).await?;
        Ok(ids::encode(Kind::Comment, deleted))
    }
}

#[derive(Default)]
pub struct CommentSubscription;

#[Subscription]
impl CommentSubscription {
    /// Comments added to one article, by anyone.
    async fn comment_added(
        &self,
        ctx: &Context<'_>,
        article_slug: String,
    ) -> Result<impl Stream<Item = Result<Comment>> + use<>> {
        let services = ctx.services();
        let article = domain_articles::by_slug(&services.db, &article_slug)
            .await?
            .ok_or_else(|| domain_articles::not_found(&article_slug))?;
        let db = services.db.clone();
        Ok(
            event_stream::events(&services.events).filter_map(move |delivery| {
                let db = db.clone();
                async move {
                    let delivery = match delivery {
                        Ok(delivery) => delivery,
                        Err(lagged) => return Some(Err(lagged)),
                    };
                    let Event::CommentAdded {
                        comment_id,
                        article_id,
                    } = delivery.event
                    else {
                        return None;
                    };
                    if article_id != article.id {
                        return None;
                    }
                    // One load per event for every subscriber; None when the
                    // comment is already gone again.
                    let loaded = delivery.shared(|| comment_context(db, comment_id)).await;
                    match loaded {
                        Ok(context) => context
                            .as_ref()
                            .as_ref()
                            .map(|c| Ok(Comment::with_context(Arc::clone(c)))),
                        Err(error) => Some(Err(error.into())),
                    }
                }
            }),
        )
    }
}

/// A comment with its author and article, in three statements.
async fn comment_context(
    db: sea_orm::DatabaseConnection,
    comment_id: i64,
) -> crate::domain::Result<Option<Arc<CommentContext>>> {
    let Some(comment) = domain_comments::by_ids(&db, &[comment_id])
        .await?
        .remove(&comment_id)
    else {
        return Ok(None);
    };
    // Whole: each subscriber's query asks of the author what it will.
    let author = profiles::users_by_ids(&db, &[comment.author_id], ProfileColumns::ALL)
        .await?
        .remove(&comment.author_id);
    let article = domain_articles::by_ids(&db, &[comment.article_id])
        .await?
        .remove(&comment.article_id);
    Ok(match (author, article) {
        (Some(author), Some(article)) => Some(Arc::new(CommentContext {
            comment,
            author,
            article,
        })),
        _ => None,
    })
}
