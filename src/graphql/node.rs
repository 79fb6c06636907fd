//! Relay's `node` and `nodes`: refetch anything by its global id.

use async_graphql::{Context, ID, Interface, Object, Result};

use super::articles::Article;
use super::comments::Comment;
use super::ids::{self, Kind};
use super::loaders::{ArticleById, CommentById, UserById};
use super::notifications::Notification;
use super::sessions::Session;
use super::users::User;
use super::viewer::ContextExt as _;
use super::webhooks::{Webhook, WebhookDelivery};

/// Anything that can be fetched again by its global id.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    User(User),
    Article(Article),
    Comment(Comment),
    Notification(Notification),
    Session(Session),
    Webhook(Webhook),
    WebhookDelivery(WebhookDelivery),
}

#[derive(Default)]
pub struct NodeQuery;

#[Object(crate = "crate::graphql::ordered", cache_control(max_age = 60))]
impl NodeQuery {
    #[graphql(cache_control(max_age = 30))]
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        load(ctx, &id).await
    }

    /// One entry per id, in order; null where nothing has that id.
    #[graphql(cache_control(max_age = 30))]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<Vec<Option<Node>>> {
        crate::domain::validate::id_count(ids.len())
            .map_err(|message| crate::domain::Error::invalid("ids", message))?;
        // Each lookup goes through the loader, so the ids of one kind are
        // fetched in one statement.
        futures_util::future::try_join_all(ids.iter().map(|id| load(ctx, id))).await
    }
}

/// The object an id names, or `None` when the id is not ours or names
/// nothing (lookups by key answer null, per the contract).
async fn load(ctx: &Context<'_>, id: &ID) -> Result<Option<Node>> {
    let Some((kind, id)) = ids::decode(id) else {
        return Ok(None);
    };
    Ok(match kind {
        Kind::User => ctx
            .load_one(UserById(id, super::asked::of_user(ctx).columns))
            .await?
            .map(|u| Node::User(User::new(u))),
        Kind::Article => ctx
            .load_one(ArticleById(id))
            .await?
            .map(|a| Node::Article(Article::new(a))),
        Kind::Comment => ctx
            .load_one(CommentById(id))
            .await?
            .map(|c| Node::Comment(Comment::new(c))),
        // Only the recipient may refetch a notification; for anyone else
        // it does not exist.
        Kind::Notification => match ctx.viewer().id()? {
            Some(viewer) => crate::domain::notifications::by_ids(ctx.reads(), &[id])
                .await?
                .remove(&id)
                .filter(|n| n.recipient_id == viewer)
                .map(|n| Node::Notification(Notification(n))),
            None => None,
        },
        // Only its own user may refetch a session.
        Kind::Session => match ctx.viewer().id()? {
            Some(viewer) => crate::domain::sessions::find(ctx.reads(), id)
                .await?
                .filter(|session| session.user_id == viewer)
                .map(|session| Node::Session(Session(session))),
            None => None,
        },
        // Only the owner may refetch a webhook or one of its deliveries.
        Kind::Webhook | Kind::WebhookDelivery => {
            return super::webhooks::owned_node(ctx, kind, id).await;
        }
    })
}
