//! Comments: the `Comment` type, adding and deleting.

use async_graphql::futures_util::Stream;
use async_graphql::{Context, ID, Object, Result, Subscription};
use chrono::{DateTime, Utc};
use entity::comment;
use futures_util::StreamExt as _;

use super::articles::{Article, vanished};
use super::event_stream;
use super::ids::{self, Kind};
use super::loaders::{ArticleById, UserById};
use super::users::User;
use super::viewer::ContextExt as _;
use crate::domain::{self, articles as domain_articles, comments as domain_comments};
use crate::events::Event;

/// What a reader said under an article.
#[derive(Clone)]
pub struct Comment(pub comment::Model);

#[Object]
impl Comment {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Comment, self.0.id)
    }

    async fn body(&self) -> &str {
        &self.0.body
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    async fn author(&self, ctx: &Context<'_>) -> Result<User> {
        ctx.load_one(UserById(self.0.author_id))
            .await?
            .map(User)
            .ok_or_else(|| vanished("user", self.0.author_id))
    }

    async fn article(&self, ctx: &Context<'_>) -> Result<Article> {
        ctx.load_one(ArticleById(self.0.article_id))
            .await?
            .map(Article)
            .ok_or_else(|| vanished("article", self.0.article_id))
    }
}

#[derive(Default)]
pub struct CommentMutation;

#[Object]
impl CommentMutation {
    async fn add_comment(
        &self,
        ctx: &Context<'_>,
        article_slug: String,
        body: String,
    ) -> Result<Comment> {
        let viewer = ctx.viewer().require()?;
        Ok(Comment(
            domain_comments::add(
                &ctx.services().db,
                &ctx.services().events,
                viewer,
                &article_slug,
                &body,
            )
            .await?,
        ))
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
            event_stream::events(&services.events).filter_map(move |event| {
                let db = db.clone();
                async move {
                    match event {
                        Ok(Event::CommentAdded {
                            comment_id,
                            article_id,
                        }) if article_id == article.id => {
                            // Gone again already (deleted): nothing to deliver.
                            match domain_comments::by_ids(&db, &[comment_id]).await {
                                Ok(mut found) => found.remove(&comment_id).map(|c| Ok(Comment(c))),
                                Err(error) => Some(Err(error.into())),
                            }
                        }
                        Ok(_) => None,
                        Err(lagged) => Some(Err(lagged)),
                    }
                }
            }),
        )
    }
}
