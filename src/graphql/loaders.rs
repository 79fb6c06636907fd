//! Batching: every relation, list and count behind a resolver goes through
//! one per-request `DataLoader`, so a request costs a number of statements
//! that depends on the shape of the query, not on how many rows it returns.
//!
//! One loader value implements `Loader<K>` for many key types, each key type
//! naming a relation (`UserById`, `ArticleBody`, ...). It is built per request
//! because some answers depend on the viewer (`FavoritedByViewer`), so one
//! caller's answers can never reach another.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};
use entity::{comment, webhook, webhook_delivery};

use super::batching::Batches;
use crate::db::Reads;
use crate::domain::articles::{self, ArticleColumns, ArticleRow};
use crate::domain::pagination::{Page, PageRequest};
use crate::domain::profiles::{self, Profile};
use crate::domain::{self, Seen, comments, users, webhooks};

pub type Loaders = DataLoader<SqlLoader>;

pub struct SqlLoader {
    db: Reads,
    viewer: Option<i64>,
}

/// The loader for one request (or one subscription) by `viewer`: its
/// batches wait in `Batches` until `batching::drive` sees the request idle
/// (see there), so they need no time window: the delay is zero.
pub fn for_request(db: Reads, viewer: Option<i64>) -> (Arc<Loaders>, Batches) {
    let batches = Batches::default();
    let loader = DataLoader::new(SqlLoader { db, viewer }, batches.spawner())
        .delay(std::time::Duration::ZERO);
    (Arc::new(loader), batches)
}

type LoadResult<K, V> = Result<HashMap<K, Shared<V>>, Arc<domain::Error>>;

/// A loaded value, as the loader hands it to each caller of its key.
///
/// async-graphql's `DataLoader` clones a value once for every caller
/// (`value.clone()` per requester in `do_load`): for a page of articles
/// that is every row's strings again, 2,500 rows on `deep` (callgrind: the
/// clones were a sixth of its allocations). Shared, a clone is a reference
/// count, and a key's one caller, the usual case, takes the value itself
/// once the loader has let go of it (`take`).
#[derive(Debug)]
pub struct Shared<T>(Arc<T>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: Clone> Shared<T> {
    fn new(value: T) -> Self {
        Self(Arc::new(value))
    }

    /// The value: moved out when no one else holds it, else a copy.
    pub fn take(self) -> T {
        Arc::unwrap_or_clone(self.0)
    }
}

macro_rules! keys {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub i64);
    )*};
}

keys! {
    /// A user by id.
    UserById;
    /// A user's email (only ever asked for the viewer's own).
    UserEmail;
    /// An article (without body) by id.
    ArticleById;
    /// An article's body.
    ArticleBody;
    /// Whether the viewer favorited the article.
    FavoritedByViewer;
    /// Whether the viewer follows the user.
    FollowedByViewer;
    /// A user and whether the viewer follows them.
    UserSeenById;
    /// A comment by id.
    CommentById;
    /// How many articles the user wrote.
    UserArticleCount;
    /// How many articles the user favorited.
    UserFavoriteCount;
    /// A user's webhooks (only ever asked for the viewer's own).
    WebhooksOf;
}

/// A page of a list under a parent. Keys asking for the same page of
/// different parents go out as one statement (see `Keyset::pages_per_parent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageOf<R: Relation> {
    pub parent: i64,
    pub page: PageRequest,
    /// What the page's rows read, as the query asks (see `Relation`).
    pub columns: R::Columns,
}

/// By parent alone: the DataLoader hashes each key some ten times, and
/// SipHash over the whole page request (its cursor, limit and flags) was
/// 5 % of `deep`'s instructions. Siblings share their page request, so
/// keys that differ only there are rare and merely share a bucket.
impl<R: Relation> Hash for PageOf<R> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parent.hash(state);
    }
}

impl<R: Relation> PageOf<R> {
    pub fn new(parent: i64, page: PageRequest, columns: R::Columns) -> Self {
        Self {
            parent,
            page,
            columns,
        }
    }
}

/// A list under a parent that `PageOf` pages through: its rows, and how
/// one statement reads the same page of many parents.
pub trait Relation: Copy + Eq + Hash + std::fmt::Debug + Send + Sync + 'static {
    type Row: Clone + Send + Sync + 'static;
    /// Which of a row's columns a page reads: `()` where rows are read
    /// whole, `ArticleColumns` for articles.
    type Columns: Copy + Eq + Hash + std::fmt::Debug + Send + Sync + 'static;

    /// The columns the connection field in `ctx` asks its nodes for.
    fn columns(ctx: &Context<'_>) -> Self::Columns;

    fn pages(
        db: &Reads,
        parents: &[i64],
        page: &PageRequest,
        columns: Self::Columns,
    ) -> impl Future<Output = domain::Result<HashMap<i64, Page<Self::Row>>>> + Send;
}

/// The relations `PageOf` pages through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArticleComments {}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserArticles {}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserFavorites {}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserFollowers {}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserFollowing {}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WebhookDeliveries {}

/// A relation whose rows are read whole, by `$pages`.
macro_rules! whole_rows {
    ($relation:ty, $row:ty, $pages:path) => {
        impl Relation for $relation {
            type Row = $row;
            type Columns = ();

            fn columns(_: &Context<'_>) {}

            fn pages(
                db: &Reads,
                parents: &[i64],
                page: &PageRequest,
                (): (),
            ) -> impl Future<Output = domain::Result<HashMap<i64, Page<$row>>>> + Send {
                $pages(db, parents, page)
            }
        }
    };
}

whole_rows!(ArticleComments, comment::Model, comments::pages_by_article);
whole_rows!(UserFollowers, Profile, profiles::follower_pages);
whole_rows!(UserFollowing, Profile, profiles::following_pages);
whole_rows!(
    WebhookDeliveries,
    webhook_delivery::Model,
    webhooks::deliveries::pages_by_webhook
);

/// A relation of articles, paged by `$pages` with the columns the query
/// asks for.
macro_rules! article_rows {
    ($relation:ty, $pages:path) => {
        impl Relation for $relation {
            type Row = ArticleRow;
            type Columns = ArticleColumns;

            fn columns(ctx: &Context<'_>) -> ArticleColumns {
                super::articles::columns_asked(ctx)
            }

            fn pages(
                db: &Reads,
                parents: &[i64],
                page: &PageRequest,
                columns: ArticleColumns,
            ) -> impl Future<Output = domain::Result<HashMap<i64, Page<ArticleRow>>>> + Send {
                $pages(db, parents, page, columns)
            }
        }
    };
}

article_rows!(UserArticles, articles::pages_by_author);
article_rows!(UserFavorites, articles::pages_favorited_by);

fn ids<K: Copy>(keys: &[K], id: impl Fn(K) -> i64) -> Vec<i64> {
    keys.iter().map(|&k| id(k)).collect()
}

/// Maps answers keyed by id back to the loader's key type.
fn rekey<K: Eq + Hash, V: Clone>(
    found: HashMap<i64, V>,
    key: impl Fn(i64) -> K,
) -> HashMap<K, Shared<V>> {
    found
        .into_iter()
        .map(|(id, value)| (key(id), Shared::new(value)))
        .collect()
}

impl Loader<UserById> for SqlLoader {
    type Value = Shared<Profile>;
    type Error = Arc<domain::Error>;

    async fn load(&self, keys: &[UserById]) -> LoadResult<UserById, Profile> {
        Ok(rekey(
            profiles::users_by_ids(&self.db, &ids(keys, |k| k.0)).await?,
            UserById,
        ))
    }
}

impl Loader<UserEmail> for SqlLoader {
    type Value = Shared<String>;
    type Error = Arc<domain::Error>;

    async fn load(&self, keys: &[UserEmail]) -> LoadResult<UserEmail, String> {
        Ok(rekey(
            users::emails(&self.db, &ids(keys, |k| k.0)).await?,
            UserEmail,
        ))
    }
}

impl Loader<UserSeenById> for SqlLoader {
    type Value = Shared<Seen<Profile>>;
    type Error = Arc<domain::Error>;

    async fn load(&self, keys: &[UserSeenById]) -> LoadResult<UserSeenById, Seen<Profile>> {
        let ids = ids(keys, |k| k.0);
        let found = match self.viewer {
            Some(viewer) => profiles::users_seen_by(&self.db, viewer, &ids).await?,
            // Nobody follows anyone on an anonymous caller's behalf.
            None => profiles::users_by_ids(&self.db, &ids)
                .await?
                .into_iter()
                .map(|(id, row)| (id, Seen { row, flag: false }))
                .collect(),
        };
        Ok(rekey(found, UserSeenById))
    }
}

impl Loader<ArticleById> for SqlLoader {
    type Value = Shared<ArticleRow>;
    type Error = Arc<domain::Error>;

    async fn load(&self, keys: &[ArticleById]) -> LoadResult<ArticleById, ArticleRow> {
        Ok(rekey(
            articles::by_ids(&self.db, &ids(keys, |k| k.0)).await?,
            ArticleById,
        ))
    }
}

impl Loader<ArticleBody> for SqlLoader {
    type Value = Shared<String>;
    type Error = Arc<domain::Error>;

    async fn load(&self, keys: &[ArticleBody]) -> LoadResult<ArticleBody, String> {
        Ok(rekey(
            articles::bodies(&self.db, &ids(keys, |k| k.0)).await?,
            ArticleBody,
        ))
    }
}

impl Loader<FavoritedByViewer> for SqlLoader {
    type Value = Shared<bool>;
    type Error = Arc<domain::Error>;

    async fn load(&self, keys: &[FavoritedByViewer]) -> LoadResult<FavoritedByViewer, bool> {
        let Some(viewer) = self.viewer else {
            return Ok(keys.iter().map(|&k| (k, Shared::new(false))).collect());
        };
        let favorited = articles::favorited_by(&self.db, viewer, &ids(keys, |k| k.0)).await?;
        Ok(keys
            .iter()
            .map(|&k| (k, Shared::new(favorited.contains(&k.0))))
            .collect())
    }
}

impl Loader<FollowedByViewer> for SqlLoader {
    type Value = Shared<bool>;
    type Error = Arc<domain::Error>;

    async fn load(&self, keys: &[FollowedByViewer]) -> LoadResult<FollowedByViewer, bool> {
        let Some(viewer) = self.viewer else {
            return Ok(keys.iter().map(|&k| (k, Shared::new(false))).collect());
        };
        let followed = profiles::followed_by(&self.db, viewer, &ids(keys, |k| k.0)).await?;
        Ok(keys
            .iter()
            .map(|&k| (k, Shared::new(followed.contains(&k.0))))
            .collect())
    }
}

impl Loader<CommentById> for SqlLoader {
    type Value = Shared<comment::Model>;
    type Error = Arc<domain::Error>;

    async fn load(&self, keys: &[CommentById]) -> LoadResult<CommentById, comment::Model> {
        Ok(rekey(
            comments::by_ids(&self.db, &ids(keys, |k| k.0)).await?,
            CommentById,
        ))
    }
}

impl Loader<UserArticleCount> for SqlLoader {
    type Value = Shared<i64>;
    type Error = Arc<domain::Error>;

    async fn load(&self, keys: &[UserArticleCount]) -> LoadResult<UserArticleCount, i64> {
        let counts = articles::counts_by_author(&self.db, &ids(keys, |k| k.0)).await?;
        Ok(keys
            .iter()
            .map(|&k| (k, Shared::new(counts.get(&k.0).copied().unwrap_or(0))))
            .collect())
    }
}

impl Loader<UserFavoriteCount> for SqlLoader {
    type Value = Shared<i64>;
    type Error = Arc<domain::Error>;

    async fn load(&self, keys: &[UserFavoriteCount]) -> LoadResult<UserFavoriteCount, i64> {
        let counts = articles::favorite_counts_by_user(&self.db, &ids(keys, |k| k.0)).await?;
        Ok(keys
            .iter()
            .map(|&k| (k, Shared::new(counts.get(&k.0).copied().unwrap_or(0))))
            .collect())
    }
}

/// Parents grouped by the page and columns they ask for: one statement per
/// group (in practice one group, since siblings ask for the same).
fn by_request<R: Relation>(keys: &[PageOf<R>]) -> HashMap<(PageRequest, R::Columns), Vec<i64>> {
    let mut groups: HashMap<(PageRequest, R::Columns), Vec<i64>> = HashMap::new();
    for key in keys {
        groups
            .entry((key.page, key.columns))
            .or_default()
            .push(key.parent);
    }
    groups
}

impl<R: Relation> Loader<PageOf<R>> for SqlLoader {
    type Value = Shared<Page<R::Row>>;
    type Error = Arc<domain::Error>;

    async fn load(&self, keys: &[PageOf<R>]) -> LoadResult<PageOf<R>, Page<R::Row>> {
        let mut found = HashMap::with_capacity(keys.len());
        for ((request, columns), parents) in by_request(keys) {
            for (parent, page) in R::pages(&self.db, &parents, &request, columns).await? {
                found.insert(PageOf::new(parent, request, columns), Shared::new(page));
            }
        }
        Ok(found)
    }
}

impl Loader<WebhooksOf> for SqlLoader {
    type Value = Shared<Vec<webhook::Model>>;
    type Error = Arc<domain::Error>;

    async fn load(&self, keys: &[WebhooksOf]) -> LoadResult<WebhooksOf, Vec<webhook::Model>> {
        Ok(rekey(
            webhooks::of_owners(&self.db, &ids(keys, |k| k.0)).await?,
            WebhooksOf,
        ))
    }
}
