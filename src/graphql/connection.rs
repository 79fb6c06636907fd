//! Relay connections: `edges`, `nodes`, `pageInfo` and a `totalCount` that
//! costs nothing unless selected.

use async_graphql::{Context, Object, OutputType, Result, SimpleObject};

use super::articles::Article;
use super::comments::Comment;
use super::loaders::{Key, PageOf, Relation};
use super::notifications::Notification;
use super::users::User;
use super::viewer::ContextExt as _;
use super::webhooks::WebhookDelivery;
use crate::domain::articles::{self, Scope};
use crate::domain::pagination::{Cursor, Page, PageRequest};

/// Where a connection's `totalCount` comes from.
#[derive(Clone, Copy, Debug)]
pub enum Total {
    /// Known already: a counter on the parent row, or an empty result.
    Known(i64),
    /// A counter on the parent row that its statement did not read, since
    /// the query did not ask for the total: asked anyway, a bug in the
    /// choice of columns (see `asked`), never the client's.
    Unread,
    /// The articles a scope holds: one COUNT, run only when selected.
    Articles(Scope),
    /// A per-user count through the loader.
    UserArticles(i64),
    UserFavorites(i64),
    /// The caller's notifications: one COUNT, run only when selected.
    Notifications {
        recipient: i64,
        unread_only: bool,
    },
    /// A webhook's delivery log: one COUNT, run only when selected.
    WebhookDeliveries(i64),
}

pub struct Connection<N> {
    edges: Vec<Edge<N>>,
    has_next: bool,
    has_previous: bool,
    total: Total,
}

impl<N> Connection<N> {
    /// Wraps a domain page, turning each row into its GraphQL node.
    pub fn from_page<T>(page: Page<T>, total: Total, node: impl Fn(T) -> N) -> Self {
        Self {
            has_next: page.has_next,
            has_previous: page.has_previous,
            edges: page
                .edges
                .into_iter()
                .map(|edge| Edge {
                    cursor: edge.cursor,
                    node: node(edge.node),
                })
                .collect(),
            total,
        }
    }

    pub fn empty() -> Self {
        Self {
            edges: Vec::new(),
            has_next: false,
            has_previous: false,
            total: Total::Known(0),
        }
    }
}

#[Object(
    crate = "crate::graphql::ordered",
    concrete(name = "ArticleConnection", params(Article)),
    concrete(name = "CommentConnection", params(Comment)),
    concrete(name = "UserConnection", params(User)),
    concrete(name = "NotificationConnection", params(Notification)),
    concrete(name = "WebhookDeliveryConnection", params(WebhookDelivery)),
    cache_control(max_age = 5)
)]
impl<N: OutputType> Connection<N>
where
    Edge<N>: OutputType,
{
    async fn edges(&self) -> &[Edge<N>] {
        &self.edges
    }

    async fn nodes(&self) -> Vec<&N> {
        self.edges.iter().map(|edge| &edge.node).collect()
    }

    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.has_next,
            has_previous_page: self.has_previous,
            start_cursor: self.edges.first().map(|edge| edge.cursor.encode()),
            end_cursor: self.edges.last().map(|edge| edge.cursor.encode()),
        }
    }

    /// How many items the whole (filtered) list holds, across all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(match self.total {
            Total::Known(n) => n,
            Total::Unread => {
                return Err(crate::domain::Error::Internal(anyhow::anyhow!(
                    "a connection's total was asked for but its counter was not read"
                ))
                .into());
            }
            Total::Articles(scope) => articles::count(ctx.reads(), &scope).await?,
            Total::UserArticles(user_id) => ctx
                .load_one(super::loaders::UserArticleCount(user_id))
                .await?
                .unwrap_or(0),
            Total::UserFavorites(user_id) => ctx
                .load_one(super::loaders::UserFavoriteCount(user_id))
                .await?
                .unwrap_or(0),
            Total::Notifications {
                recipient,
                unread_only,
            } => crate::domain::notifications::count(ctx.reads(), recipient, unread_only).await?,
            Total::WebhookDeliveries(webhook_id) => {
                crate::domain::webhooks::deliveries::count(ctx.reads(), webhook_id).await?
            }
        })
    }
}

/// A connection nested under a parent (a user's followers, an article's
/// comments): its page is loaded in one batch with its siblings' pages.
pub(super) async fn nested<R: Relation, N>(
    ctx: &Context<'_>,
    parent: i64,
    first: Option<i32>,
    after: Option<String>,
    total: Total,
    node: impl Fn(R::Row) -> N,
) -> Result<Connection<N>>
where
    PageOf<R>: Key<Value = Page<R::Row>>,
{
    let asks_next = ctx
        .look_ahead()
        .field("pageInfo")
        .field("hasNextPage")
        .exists();
    let page = PageRequest::parse(first, after.as_deref())?.probing_next(asks_next);
    let key = PageOf::<R>::new(parent, page, R::columns(ctx));
    Ok(match ctx.load_one(key).await? {
        Some(found) => Connection::from_page(found, total, node),
        None => Connection::empty(),
    })
}

pub struct Edge<N> {
    cursor: Cursor,
    node: N,
}

#[Object(
    crate = "crate::graphql::ordered",
    concrete(name = "ArticleEdge", params(Article)),
    concrete(name = "CommentEdge", params(Comment)),
    concrete(name = "UserEdge", params(User)),
    concrete(name = "NotificationEdge", params(Notification)),
    concrete(name = "WebhookDeliveryEdge", params(WebhookDelivery)),
    cache_control(max_age = 60)
)]
impl<N: OutputType> Edge<N> {
    async fn cursor(&self) -> String {
        self.cursor.encode()
    }

    async fn node(&self) -> &N {
        &self.node
    }
}

#[derive(SimpleObject)]
#[graphql(cache_control(max_age = 60))]
pub struct PageInfo {
    has_next_page: bool,
    has_previous_page: bool,
    start_cursor: Option<String>,
    end_cursor: Option<String>,
}
