//! Articles: the `Article` type, the lists (`articles`, `feed`), lookups,
//! writing and favoriting.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};

use super::asked::article_columns;
use super::comments::Comment;
use super::connection::{Connection, Total};
use super::ids::{self, Kind};
use super::loaders::{ArticleBody, ArticleComments, FavoritedByViewer, UserById, UserSeenById};
use super::users::User;
use super::viewer::ContextExt as _;
use crate::domain::articles::{
    self as domain_articles, ArticlePatch, ArticleRow, NewArticle, Scope,
};
use crate::domain::pagination::{Order, PageRequest};
use crate::domain::{Error, Seen};

/// A published piece of writing.
#[derive(Clone)]
pub struct Article {
    pub row: ArticleRow,
    /// Whether the viewer favorited it, when the statement that read the
    /// row said so too (see `Seen`); else `favoritedByViewer` asks the
    /// loader.
    favorited_by_viewer: Option<bool>,
    /// The body, when the statement that read the row read it too; else
    /// `body` asks the loader.
    body: Option<String>,
}

impl Article {
    pub fn new(row: ArticleRow) -> Self {
        Self {
            row,
            favorited_by_viewer: None,
            body: None,
        }
    }

    pub fn seen(seen: Seen<ArticleRow>) -> Self {
        Self::favorited(seen.row, seen.flag)
    }

    /// An article that the viewer has favorited or not, as `favorited` says.
    fn favorited(row: ArticleRow, favorited: bool) -> Self {
        Self {
            row,
            favorited_by_viewer: Some(favorited),
            body: None,
        }
    }
}

#[Object(crate = "crate::graphql::ordered", cache_control(max_age = 30))]
impl Article {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Article, self.row.id)
    }

    /// Unique, URL-safe, derived from the title.
    async fn slug(&self) -> Result<&str> {
        Ok(self.row.slug()?)
    }

    async fn title(&self) -> Result<&str> {
        Ok(self.row.title()?)
    }

    async fn description(&self) -> Result<&str> {
        Ok(self.row.description()?)
    }

    async fn body(&self, ctx: &Context<'_>) -> Result<String> {
        if let Some(body) = &self.body {
            return Ok(body.clone());
        }
        ctx.load_one(ArticleBody(self.row.id))
            .await?
            .ok_or_else(|| vanished("article", self.row.id))
    }

    /// Lower-case tag names, in the order the author gave them.
    async fn tags(&self) -> Result<Vec<String>> {
        Ok(self.row.tags()?)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }

    async fn updated_at(&self) -> Result<DateTime<Utc>> {
        Ok(self.row.updated_at()?)
    }

    async fn author(&self, ctx: &Context<'_>) -> Result<User> {
        let id = self.row.author_id;
        // The author and whether the viewer follows them, in one statement
        // when both are wanted. The viewer is asked for only then: with a
        // refused token, the author alone is still anyone's to read.
        let asked = super::asked::of_user(ctx);
        if asked.followed_by_viewer && ctx.viewer().id()?.is_some() {
            return ctx
                .load_one(UserSeenById(id, asked.columns))
                .await?
                .map(User::seen)
                .ok_or_else(|| vanished("user", id));
        }
        ctx.load_one(UserById(id, asked.columns))
            .await?
            .map(User::new)
            .ok_or_else(|| vanished("user", id))
    }

    #[graphql(cache_control(max_age = 5))]
    async fn favorites_count(&self) -> Result<i64> {
        Ok(self.row.favorites_count()?)
    }

    /// False for anonymous callers.
    async fn favorited_by_viewer(&self, ctx: &Context<'_>) -> Result<bool> {
        if let Some(known) = self.favorited_by_viewer {
            return Ok(known);
        }
        if ctx.viewer().id()?.is_none() {
            return Ok(false);
        }
        Ok(ctx
            .load_one(FavoritedByViewer(self.row.id))
            .await?
            .unwrap_or(false))
    }

    #[graphql(cache_control(max_age = 5))]
    async fn comments_count(&self) -> Result<i64> {
        Ok(self.row.comments_count()?)
    }

    /// The article's comments, newest first.
    #[graphql(cache_control(max_age = 5))]
    async fn comments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Comment>> {
        let total = Total::Known(self.row.comments_count()?);
        super::connection::nested::<ArticleComments, _>(
            ctx,
            self.row.id,
            first,
            after,
            total,
            Comment::from_row,
        )
        .await
    }
}

/// A row the database just named is gone: deleted between two statements of
/// one request. Internal: the client cannot act on it.
pub(super) fn vanished(what: &str, id: i64) -> async_graphql::Error {
    Error::Internal(anyhow::anyhow!("{what} {id} vanished mid-request")).into()
}

#[derive(InputObject, Default)]
pub struct ArticleFilter {
    tag: Option<String>,
    /// username of the author
    author: Option<String>,
    /// username of a user who favorited the article
    favorited_by: Option<String>,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArticleOrder {
    #[default]
    Newest,
    Oldest,
}

#[derive(InputObject)]
pub struct CreateArticleInput {
    title: String,
    description: String,
    body: String,
    tags: Option<Vec<String>>,
}

/// Fields left out (or null) stay as they are.
#[derive(InputObject)]
pub struct UpdateArticleInput {
    title: Option<String>,
    description: Option<String>,
    body: Option<String>,
    tags: Option<Vec<String>>,
}

#[derive(Default)]
pub struct ArticleQuery;

#[Object(crate = "crate::graphql::ordered", cache_control(max_age = 60))]
impl ArticleQuery {
    #[graphql(cache_control(max_age = 30))]
    async fn article(&self, ctx: &Context<'_>, slug: String) -> Result<Option<Article>> {
        // An article page shows its body: read in the same statement, it
        // is one statement (and one wait) fewer than through the loader.
        if ctx.look_ahead().field("body").exists() {
            return Ok(domain_articles::by_slug_with_body(ctx.reads(), &slug)
                .await?
                .map(|(row, body)| Article {
                    body: Some(body),
                    ..Article::new(row)
                }));
        }
        Ok(domain_articles::by_slug(ctx.reads(), &slug)
            .await?
            .map(Article::new))
    }

    #[graphql(cache_control(max_age = 5))]
    async fn articles(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ArticleFilter>,
        #[graphql(default_with = "Some(ArticleOrder::Newest)")] order_by: Option<ArticleOrder>,
    ) -> Result<Connection<Article>> {
        let page = PageRequest::parse(first, after.as_deref())?;
        let filter = filter.unwrap_or_default();
        let db = ctx.reads();
        let filter = domain_articles::ArticleFilter {
            tag: filter.tag,
            author: filter.author,
            favorited_by: filter.favorited_by,
        };
        let Some(scope) = domain_articles::resolve(db, &filter).await? else {
            return Ok(Connection::empty());
        };
        // An explicit null means the default, as for a left-out argument.
        let order = match order_by.unwrap_or_default() {
            ArticleOrder::Newest => Order::NewestFirst,
            ArticleOrder::Oldest => Order::OldestFirst,
        };
        list(ctx, scope, order, &page).await
    }

    /// Articles by the users the caller follows. UNAUTHENTICATED when anonymous.
    #[graphql(cache_control(private))]
    async fn feed(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Article>> {
        let viewer = ctx.viewer().require()?;
        let page = PageRequest::parse(first, after.as_deref())?;
        // A valid token for an account that is gone is refused, as for writes.
        crate::domain::users::ensure_exists(ctx.reads(), viewer).await?;
        list(ctx, Scope::feed(viewer), Order::NewestFirst, &page).await
    }
}

/// A page of the articles in `scope`, with the viewer's favorites read in
/// the same statement when the query asks for them.
async fn list(
    ctx: &Context<'_>,
    scope: Scope,
    order: Order,
    page: &PageRequest,
) -> Result<Connection<Article>> {
    let db = ctx.reads();
    let total = Total::Articles(scope);
    // The viewer is asked for only when the flag is: with a refused token,
    // the list itself is still anyone's to read.
    if super::asked::nodes_ask(ctx, "favoritedByViewer")
        && let Some(viewer) = ctx.viewer().id()?
    {
        let found =
            domain_articles::list_seen_by(db, viewer, &scope, order, page, article_columns(ctx))
                .await?;
        return Ok(Connection::from_page(found, total, Article::seen));
    }
    let found = domain_articles::list(db, &scope, order, page, article_columns(ctx)).await?;
    Ok(Connection::from_page(found, total, Article::new))
}

#[derive(Default)]
pub struct ArticleMutation;

#[Object(crate = "crate::graphql::ordered")]
impl ArticleMutation {
    async fn create_article(
        &self,
        ctx: &Context<'_>,
        input: CreateArticleInput,
    ) -> Result<Article> {
        let viewer = ctx.viewer().require()?;
        let input = NewArticle {
            title: input.title,
            description: input.description,
            body: input.body,
            tags: input.tags,
        };
        Ok(Article::new(
            domain_articles::create(&ctx.services().db, &ctx.services().events, viewer, input)
                .await?,
        ))
    }

    /// Only the author may update; FORBIDDEN for anyone else.
    async fn update_article(
        &self,
        ctx: &Context<'_>,
        slug: String,
        input: UpdateArticleInput,
    ) -> Result<Article> {
        let viewer = ctx.viewer().require()?;
        let patch = ArticlePatch {
            title: input.title,
            description: input.description,
            body: input.body,
            tags: input.tags,
        };
        Ok(Article::new(
            domain_articles::update(&ctx.services().db, viewer, &slug, patch).await?,
        ))
    }

    /// Only the author may delete. Answers the deleted article's id.
    async fn delete_article(&self, ctx: &Context<'_>, slug: String) -> Result<ID> {
        let viewer = ctx.viewer().require()?;
        let id = domain_articles::delete(&ctx.services().db, viewer, &slug).await?;
        Ok(ids::encode(Kind::Article, id))
    }

    async fn favorite_article(&self, ctx: &Context<'_>, slug: String) -> Result<Article> {
        let viewer = ctx.viewer().require()?;
        let favorited =
            domain_articles::favorite(&ctx.services().db, &ctx.services().events, viewer, &slug)
                .await?;
        Ok(Article::favorited(favorited, true))
    }

    async fn unfavorite_article(&self, ctx: &Context<'_>, slug: String) -> Result<Article> {
        let viewer = ctx.viewer().require()?;
        let unfavorited =
            domain_articles::unfavorite(&ctx.services().db, &ctx.services().events, viewer, &slug)
                .await?;
        Ok(Article::favorited(unfavorited, false))
    }
}

#[derive(Default)]
pub struct ArticleSubscription;

#[async_graphql::Subscription]
impl ArticleSubscription {
    /// Newly published articles, optionally only one author's or one tag's.
    async fn article_published(
        &self,
        ctx: &Context<'_>,
        author: Option<String>,
        tag: Option<String>,
    ) -> Result<impl async_graphql::futures_util::Stream<Item = Result<Article>> + use<>> {
        use futures_util::StreamExt as _;

        let services = ctx.services();
        let author_id = match author {
            Some(username) => Some(
                crate::domain::users::find_by_username(&services.db, &username)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("no user is named {username:?}")))?
                    .id,
            ),
            None => None,
        };
        // Tags come into being with their first article, so a tag nobody
        // has used yet is a fine filter, not an error.
        let tag = tag.map(|tag| tag.trim().to_lowercase());
        let db = services.db.clone();
        Ok(
            super::event_stream::events(&services.events).filter_map(move |delivery| {
                let db = db.clone();
                let tag = tag.clone();
                async move {
                    let delivery = match delivery {
                        Ok(delivery) => delivery,
                        Err(lagged) => return Some(Err(lagged)),
                    };
                    let crate::events::Event::ArticlePublished {
                        article_id,
                        author_id: by,
                        tags,
                    } = &delivery.event
                    else {
                        return None;
                    };
                    let wanted = author_id.is_none_or(|id| id == *by)
                        && tag.as_ref().is_none_or(|tag| tags.contains(tag));
                    if !wanted {
                        return None;
                    }
                    // One load per event, shared by every subscriber.
                    let article_id = *article_id;
                    let loaded = delivery
                        .shared(|| async move {
                            domain_articles::by_ids(&db, &[article_id])
                                .await
                                .map(|mut found| found.remove(&article_id))
                        })
                        .await;
                    match loaded {
                        Ok(article) => article.as_ref().clone().map(|a| Ok(Article::new(a))),
                        Err(error) => Some(Err(error.into())),
                    }
                }
            }),
        )
    }
}
