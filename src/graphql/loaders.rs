//! Batching: every relation, list and count behind a resolver goes through
//! the request's `Loaders`, so a request costs a number of statements that
//! depends on the shape of the query, not on how many rows it returns.
//!
//! One loader value implements `Load<K>` for many key types, each key type
//! naming a relation (`UserById`, `ArticleBody`, ...). It is built per request
//! because some answers depend on the viewer (`FavoritedByViewer`), so one
//! caller's answers can never reach another.

use std::hash::Hash;
use std::sync::Arc;

use async_graphql::Context;
use entity::{comment, webhook, webhook_delivery};
use rustc_hash::FxHashMap;

use super::batch::{Load, LoadOne, Slot};
use super::batching::Batches;
use crate::db::Reads;
use crate::domain::ById;
use crate::domain::articles::{self, ArticleColumns, ArticleRow};
use crate::domain::pagination::{Page, PageRequest};
use crate::domain::profiles::{self, Profile, ProfileColumns};
use crate::domain::{self, Seen, comments, users, webhooks};

pub struct SqlLoader {
    db: Reads,
    viewer: Option<i64>,
}

/// The loader for one request (or one subscription) by `viewer`: its
/// batches wait in `Batches` until `batching::drive` sees the request idle
/// (see there).
pub fn for_request(db: Reads, viewer: Option<i64>) -> (Arc<Loaders>, Batches) {
    let batches = Batches::default();
    let loaders = Loaders::new(SqlLoader { db, viewer }, batches.clone());
    (Arc::new(loaders), batches)
}

type LoadResult<K, V> = Result<FxHashMap<K, V>, Arc<domain::Error>>;

/// A kind of key the request's loaders batch: where its batches go.
pub trait Key: Copy + Eq + Hash + Send + Sync + 'static {
    type Value: Send + Sync + 'static;

    fn slot(loaders: &Loaders) -> &Slot<Self, Self::Value>;
}

/// A request's loaders: one slot per kind of key, named after it.
macro_rules! loaders {
    ($($slot:ident: $key:ty,)*) => {
        pub struct Loaders {
            sql: Arc<SqlLoader>,
            batches: Batches,
            $($slot: Slot<$key, <SqlLoader as Load<$key>>::Value>,)*
        }

        impl Loaders {
            fn new(sql: SqlLoader, batches: Batches) -> Self {
                Self {
                    sql: Arc::new(sql),
                    batches,
                    $($slot: Slot::default(),)*
                }
            }
        }

        $(impl Key for $key {
            type Value = <SqlLoader as Load<$key>>::Value;

            fn slot(loaders: &Loaders) -> &Slot<Self, Self::Value> {
                &loaders.$slot
            }
        })*
    };
}

loaders! {
    user_by_id: UserById,
    user_email: UserEmail,
    user_seen_by_id: UserSeenById,
    article_by_id: ArticleById,
    article_body: ArticleBody,
    favorited_by_viewer: FavoritedByViewer,
    followed_by_viewer: FollowedByViewer,
    comment_by_id: CommentById,
    user_article_count: UserArticleCount,
    user_favorite_count: UserFavoriteCount,
    webhooks_of: WebhooksOf,
    article_comments: PageOf<ArticleComments>,
    user_articles: PageOf<UserArticles>,
    user_favorites: PageOf<UserFavorites>,
    user_followers: PageOf<UserFollowers>,
    user_following: PageOf<UserFollowing>,
    webhook_deliveries: PageOf<WebhookDeliveries>,
}

impl Loaders {
    /// `key`'s value, loaded in a batch with every other key of its kind
    /// the request asks for before it next waits on the database.
    pub fn load_one<K: Key>(&self, key: K) -> LoadOne<K, K::Value>
    where
        SqlLoader: Load<K, Value = K::Value>,
    {
        K::slot(self).load_one(key, &self.sql, &self.batches)
    }
}

macro_rules! keys {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub i64);
    )*};
}

/// A user by id, read with the columns the query asks of them (see
/// `ProfileColumns`): a batch reads every column one of its keys asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserById(pub i64, pub ProfileColumns);

/// A user and whether the viewer follows them, read as `UserById` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserSeenById(pub i64, pub ProfileColumns);

keys! {
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

/// By parent alone: hashing the whole page request (its cursor, limit and
/// flags) was, under the `DataLoader` that hashed each key some ten times,
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
    /// whole, `ArticleColumns` for articles, `ProfileColumns` for users,
    /// the authors' `ProfileColumns` for comments (`None`: no author read).
    type Columns: Copy + Eq + Hash + std::fmt::Debug + Send + Sync + 'static;

    /// The columns the connection field in `ctx` asks its nodes for.
    fn columns(ctx: &Context<'_>) -> Self::Columns;

    fn pages(
        db: &Reads,
        parents: &[i64],
        page: &PageRequest,
        columns: Self::Columns,
    ) -> impl Future<Output = domain::Result<ById<Page<Self::Row>>>> + Send;
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
            ) -> impl Future<Output = domain::Result<ById<Page<$row>>>> + Send {
                $pages(db, parents, page)
            }
        }
    };
}

whole_rows!(
    WebhookDeliveries,
    webhook_delivery::Model,
    webhooks::deliveries::pages_by_webhook
);

/// A relation of `$row`s, paged by `$pages` with the `$columns` the query
/// asks for (`$asked`).
macro_rules! chosen_rows {
    ($relation:ty, $row:ty, $columns:ty, $asked:expr, $pages:path) => {
        impl Relation for $relation {
            type Row = $row;
            type Columns = $columns;

            fn columns(ctx: &Context<'_>) -> $columns {
                $asked(ctx)
            }

            fn pages(
                db: &Reads,
                parents: &[i64],
                page: &PageRequest,
                columns: $columns,
            ) -> impl Future<Output = domain::Result<ById<Page<$row>>>> + Send {
                $pages(db, parents, page, columns)
            }
        }
    };
}

chosen_rows!(
    ArticleComments,
    comments::CommentRow,
    Option<ProfileColumns>,
    super::asked::comment_authors,
    comments::pages_by_article
);
chosen_rows!(
    UserArticles,
    ArticleRow,
    ArticleColumns,
    super::asked::article_columns,
    articles::pages_by_author
);
chosen_rows!(
    UserFavorites,
    ArticleRow,
    ArticleColumns,
    super::asked::article_columns,
    articles::pages_favorited_by
);
chosen_rows!(
    UserFollowers,
    Profile,
    ProfileColumns,
    users_asked,
    profiles::follower_pages
);
chosen_rows!(
    UserFollowing,
    Profile,
    ProfileColumns,
    users_asked,
    profiles::following_pages
);

/// The columns a connection of users asks of its nodes.
fn users_asked(ctx: &Context<'_>) -> ProfileColumns {
    super::asked::of_user_nodes(ctx).columns
}

fn ids<K: Copy>(keys: &[K], id: impl Fn(K) -> i64) -> Vec<i64> {
    keys.iter().map(|&k| id(k)).collect()
}

/// Maps answers keyed by id back to the loader's key type.
fn rekey<K: Eq + Hash, V>(found: ById<V>, key: impl Fn(i64) -> K) -> FxHashMap<K, V> {
    found
        .into_iter()
        .map(|(id, value)| (key(id), value))
        .collect()
}

/// The union of the columns `keys` ask for: what their batch reads.
fn union_of<K: Copy>(keys: &[K], columns: impl Fn(K) -> ProfileColumns) -> ProfileColumns {
    keys.iter()
        .fold(ProfileColumns::NONE, |all, &key| all.with(columns(key)))
}

/// Answers keyed by id for keys that also name columns: each key gets its
/// id's answer. One key per id is the rule (the fields that ask for a user
/// ask the same of each), so answers move; a second key of an id, asking
/// other columns, gets a copy.
fn answer_each<K: Copy + Eq + Hash, V: Clone>(
    keys: &[K],
    mut found: ById<V>,
    id: impl Fn(K) -> i64,
) -> FxHashMap<K, V> {
    let mut answers = FxHashMap::with_capacity_and_hasher(keys.len(), Default::default());
    for (at, &key) in keys.iter().enumerate() {
        let answer = match found.remove(&id(key)) {
            Some(value) => value,
            None => match keys[..at]
                .iter()
                .find(|&&earlier| id(earlier) == id(key))
                .and_then(|earlier| answers.get(earlier))
            {
                Some(value) => V::clone(value),
                None => continue,
            },
        };
        answers.insert(key, answer);
    }
    answers
}

impl Load<UserById> for SqlLoader {
    type Value = Profile;

    async fn load(&self, keys: &[UserById]) -> LoadResult<UserById, Profile> {
        let columns = union_of(keys, |k| k.1);
        let found = profiles::users_by_ids(&self.db, &ids(keys, |k| k.0), columns).await?;
        Ok(answer_each(keys, found, |k| k.0))
    }
}

impl Load<UserEmail> for SqlLoader {
    type Value = String;

    async fn load(&self, keys: &[UserEmail]) -> LoadResult<UserEmail, String> {
        Ok(rekey(
            users::emails(&self.db, &ids(keys, |k| k.0)).await?,
            UserEmail,
        ))
    }
}

impl Load<UserSeenById> for SqlLoader {
    type Value = Seen<Profile>;

    async fn load(&self, keys: &[UserSeenById]) -> LoadResult<UserSeenById, Seen<Profile>> {
        let ids = ids(keys, |k| k.0);
        let columns = union_of(keys, |k| k.1);
        let found = match self.viewer {
            Some(viewer) => profiles::users_seen_by(&self.db, viewer, &ids, columns).await?,
            // Nobody follows anyone on an anonymous caller's behalf.
            None => profiles::users_by_ids(&self.db, &ids, columns)
                .await?
                .into_iter()
                .map(|(id, row)| (id, Seen { row, flag: false }))
                .collect(),
        };
        Ok(answer_each(keys, found, |k| k.0))
    }
}

impl Load<ArticleById> for SqlLoader {
    type Value = ArticleRow;

    async fn load(&self, keys: &[ArticleById]) -> LoadResult<ArticleById, ArticleRow> {
        Ok(rekey(
            articles::by_ids(&self.db, &ids(keys, |k| k.0)).await?,
            ArticleById,
        ))
    }
}

impl Load<ArticleBody> for SqlLoader {
    type Value = String;

    async fn load(&self, keys: &[ArticleBody]) -> LoadResult<ArticleBody, String> {
        Ok(rekey(
            articles::bodies(&self.db, &ids(keys, |k| k.0)).await?,
            ArticleBody,
        ))
    }
}

impl Load<FavoritedByViewer> for SqlLoader {
    type Value = bool;

    async fn load(&self, keys: &[FavoritedByViewer]) -> LoadResult<FavoritedByViewer, bool> {
        let Some(viewer) = self.viewer else {
            return Ok(keys.iter().map(|&k| (k, false)).collect());
        };
        let favorited = articles::favorited_by(&self.db, viewer, &ids(keys, |k| k.0)).await?;
        Ok(keys
            .iter()
            .map(|&k| (k, favorited.contains(&k.0)))
            .collect())
    }
}

impl Load<FollowedByViewer> for SqlLoader {
    type Value = bool;

    async fn load(&self, keys: &[FollowedByViewer]) -> LoadResult<FollowedByViewer, bool> {
        let Some(viewer) = self.viewer else {
            return Ok(keys.iter().map(|&k| (k, false)).collect());
        };
        let followed = profiles::followed_by(&self.db, viewer, &ids(keys, |k| k.0)).await?;
        Ok(keys.iter().map(|&k| (k, followed.contains(&k.0))).collect())
    }
}

impl Load<CommentById> for SqlLoader {
    type Value = comment::Model;

    async fn load(&self, keys: &[CommentById]) -> LoadResult<CommentById, comment::Model> {
        Ok(rekey(
            comments::by_ids(&self.db, &ids(keys, |k| k.0)).await?,
            CommentById,
        ))
    }
}

impl Load<UserArticleCount> for SqlLoader {
    type Value = i64;

    async fn load(&self, keys: &[UserArticleCount]) -> LoadResult<UserArticleCount, i64> {
        let counts = articles::counts_by_author(&self.db, &ids(keys, |k| k.0)).await?;
        Ok(keys
            .iter()
            .map(|&k| (k, counts.get(&k.0).copied().unwrap_or(0)))
            .collect())
    }
}

impl Load<UserFavoriteCount> for SqlLoader {
    type Value = i64;

    async fn load(&self, keys: &[UserFavoriteCount]) -> LoadResult<UserFavoriteCount, i64> {
        let counts = articles::favorite_counts_by_user(&self.db, &ids(keys, |k| k.0)).await?;
        Ok(keys
            .iter()
            .map(|&k| (k, counts.get(&k.0).copied().unwrap_or(0)))
            .collect())
    }
}

/// The parents asking for one page request with one set of columns.
type Group<R> = ((PageRequest, <R as Relation>::Columns), Vec<i64>);

/// Parents grouped by the page and columns they ask for: one statement per
/// group. In practice there is one group, since siblings ask for the same:
/// a list looked through beats hashing every key's page request.
fn by_request<R: Relation>(keys: &[PageOf<R>]) -> Vec<Group<R>> {
    let mut groups: Vec<Group<R>> = Vec::new();
    for key in keys {
        let asked = (key.page, key.columns);
        match groups.iter_mut().find(|(group, _)| *group == asked) {
            Some((_, parents)) => parents.push(key.parent),
            None => groups.push((asked, vec![key.parent])),
        }
    }
    groups
}

impl<R: Relation> Load<PageOf<R>> for SqlLoader {
    type Value = Page<R::Row>;

    async fn load(&self, keys: &[PageOf<R>]) -> LoadResult<PageOf<R>, Page<R::Row>> {
        let mut found = FxHashMap::with_capacity_and_hasher(keys.len(), Default::default());
        for ((request, columns), parents) in by_request(keys) {
            for (parent, page) in R::pages(&self.db, &parents, &request, columns).await? {
                found.insert(PageOf::new(parent, request, columns), page);
            }
        }
        Ok(found)
    }
}

impl Load<WebhooksOf> for SqlLoader {
    type Value = Vec<webhook::Model>;

    async fn load(&self, keys: &[WebhooksOf]) -> LoadResult<WebhooksOf, Vec<webhook::Model>> {
        Ok(rekey(
            webhooks::of_owners(&self.db, &ids(keys, |k| k.0)).await?,
            WebhooksOf,
        ))
    }
}
