//! Comments: the `Comment` type, adding and deleting.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::comment;

use super::articles::{Article, vanished};
use super::ids::{self, Kind};
use super::loaders::{ArticleById, UserById};
use super::users::User;
use super::viewer::ContextExt as _;
use crate::domain::{self, comments as domain_comments};

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
            domain_comments::add(&ctx.services().db, viewer, &article_slug, &body).await?,
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
