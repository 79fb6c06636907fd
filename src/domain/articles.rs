//! Articles: listing (with filters, the feed, per author, per favoriter),
//! writing, and favoriting. Lists select the columns their query asks for
//! (`ArticleColumns`), never `body`, which is large and loaded only when a
//! query asks for it.

use chrono::{DateTime, Utc};
use entity::article;
use rand::Rng as _;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend,
    FromQueryResult, QueryResult, Value,
};

use crate::db::Reader;
use crate::events::{Event, EventBus, Staged};

use super::error::OnConstraint as _;
use super::outbox::{self, Job};
use super::pagination::{Order, Page, PageRequest};
use super::sql::{self, KeyNames, Keyset, Seen};
use super::validate::{self, Checks};
use super::{ById, Error, IdSet, Result, begin_write, slugs, tags, time, totals, users};

/// An article without its body.
///
/// A list reads only the columns its query asks for (`ArticleColumns`):
/// the private fields are `None` where the statement left them out, and
/// their accessors say so as an error rather than answer a default. A
/// lookup by id or slug reads them all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArticleRow {
    pub id: i64,
    pub author_id: i64,
    pub created_at: DateTime<Utc>,
    slug: Option<String>,
    title: Option<String>,
    description: Option<String>,
    favorites_count: Option<i64>,
    comments_count: Option<i64>,
    updated_at: Option<DateTime<Utc>>,
    /// The tag names as a JSON array (see `entity::article`); `tags` reads it.
    tag_list: Option<String>,
}

// In `COLUMNS` order; the fields after `;` are `ArticleColumns`' choice.
sql::read_by_position!(ArticleRow {
    id,
    author_id,
    created_at;
    slug,
    title,
    description,
    favorites_count,
    comments_count,
    updated_at,
    tag_list,
});

sql::column_choice! {
    /// Which of an article's columns beyond `id`, `author_id` and
    /// `created_at` (what every read needs: the node's id, its author, its
    /// cursor) a list reads. In `ArticleRow`'s field order.
    ///
    /// On `deep`, 2,500 follower articles ask for a title and a count; read
    /// whole, each was thirteen values, every one a copy in sqlx (on SQLite
    /// an allocation per value), decoded, and dropped unread.
    pub struct ArticleColumns {
        always: "a.id, a.author_id, a.created_at",
        SLUG: "a.slug",
        TITLE: "a.title",
        DESCRIPTION: "a.description",
        FAVORITES_COUNT: "a.favorites_count",
        COMMENTS_COUNT: "a.comments_count",
        UPDATED_AT: "a.updated_at",
        TAG_LIST: "a.tag_list",
    }
}

impl ArticleRow {
    pub fn slug(&self) -> Result<&str> {
        sql::chosen(self.slug.as_deref(), "article", self.id, "slug")
    }

    pub fn title(&self) -> Result<&str> {
        sql::chosen(self.title.as_deref(), "article", self.id, "title")
    }

    pub fn description(&self) -> Result<&str> {
        sql::chosen(
            self.description.as_deref(),
            "article",
            self.id,
            "description",
        )
    }

    pub fn favorites_count(&self) -> Result<i64> {
        sql::chosen(self.favorites_count, "article", self.id, "favorites_count")
    }

    pub fn comments_count(&self) -> Result<i64> {
        sql::chosen(self.comments_count, "article", self.id, "comments_count")
    }

    pub fn updated_at(&self) -> Result<DateTime<Utc>> {
        sql::chosen(self.updated_at, "article", self.id, "updated_at")
    }

    /// The tag names, in the author's order.
    pub fn tags(&self) -> Result<Vec<String>> {
        let list = sql::chosen(self.tag_list.as_deref(), "article", self.id, "tag_list")?;
        serde_json::from_str(list).map_err(|error| {
            Error::Internal(anyhow::anyhow!(
                "article {}'s tag_list is not a JSON list of names: {error}",
                self.id
            ))
        })
    }

    /// This row with its counters moved by what a write just did.
    pub(crate) fn counted(mut self, favorites: i64, comments: i64) -> Result<Self> {
        self.favorites_count = Some(self.favorites_count()? + favorites);
        self.comments_count = Some(self.comments_count()? + comments);
        Ok(self)
    }
}

/// `article.tag_list` for `names`: what the writers store, and the seed.
pub(crate) fn tag_list(names: &[impl AsRef<str>]) -> String {
    let names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    serde_json::to_string(&names).expect("a list of strings is JSON")
}

/// Every column of `ArticleRow` (`ArticleColumns::ALL`, a unit test says
/// so): what lookups read. A macro, so `concat!` can extend it.
macro_rules! all_columns {
    () => {
        "a.id, a.author_id, a.created_at, a.slug, a.title, a.description, a.favorites_count, \
         a.comments_count, a.updated_at, a.tag_list"
    };
}

/// The favorite's own columns in `BY_FAVORITING`'s rows.
macro_rules! favoriting_keys {
    () => {
        "f.created_at AS sort_at, f.user_id AS parent_id"
    };
}

const COLUMNS: &str = all_columns!();

/// Newest-first (or oldest-first) articles, optionally under a parent.
/// Its `columns` are `ArticleColumns`' choice (`BY_CREATION.reading`).
const BY_CREATION: Keyset<'static> = Keyset {
    columns: COLUMNS,
    keys: KeyNames {
        sort_at: "created_at",
        sort_id: "id",
        parent_id: "author_id",
    },
    from: "articles a",
    sort_at: "a.created_at",
    sort_id: "a.id",
    item: "a",
};

/// A user's favorites, most recently favorited first.
/// Its `columns` are `ArticleColumns`' choice, then `favoriting_keys!`.
const BY_FAVORITING: Keyset<'static> = Keyset {
    columns: concat!(all_columns!(), ", ", favoriting_keys!()),
    // The favorite's time needs its alias beside the article's own.
    keys: KeyNames {
        sort_id: "id",
        ..KeyNames::ALIASES
    },
    from: "favorites f JOIN articles a ON a.id = f.article_id",
    sort_at: "f.created_at",
    sort_id: "f.article_id",
    item: "f",
};

pub const TITLE_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 1_000;
pub const BODY_MAX: usize = 100_000;

/// The contract's `ArticleFilter`, by names.
#[derive(Clone, Debug, Default)]
pub struct ArticleFilter {
    pub tag: Option<String>,
    pub author: Option<String>,
    pub favorited_by: Option<String>,
}

/// A filter with its names resolved to ids; all conditions hold at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    pub author_id: Option<i64>,
    pub tag_id: Option<i64>,
    pub favorited_by: Option<i64>,
    /// Articles by the users this one follows (the feed).
    pub followed_by: Option<i64>,
}

impl Scope {
    pub fn feed(user_id: i64) -> Self {
        Self {
            followed_by: Some(user_id),
            ..Self::default()
        }
    }

    fn conditions(&self) -> Vec<(String, Vec<Value>)> {
        let mut conditions = Vec::new();
        if let Some(author_id) = self.author_id {
            conditions.push(("a.author_id = ?".to_owned(), vec![author_id.into()]));
        }
        if let Some(tag_id) = self.tag_id {
            conditions.push((
                "a.id IN (SELECT article_id FROM article_tags WHERE tag_id = ?)".to_owned(),
                vec![tag_id.into()],
            ));
        }
        if let Some(user_id) = self.favorited_by {
            conditions.push((
                "a.id IN (SELECT article_id FROM favorites WHERE user_id = ?)".to_owned(),
                vec![user_id.into()],
            ));
        }
        if let Some(user_id) = self.followed_by {
            conditions.push((
                "a.author_id IN (SELECT followee_id FROM follows WHERE follower_id = ?)".to_owned(),
                vec![user_id.into()],
            ));
        }
        conditions
    }
}

/// The scope a filter names, or `None` when a name matches nothing (so no
/// article can match and no list query is needed).
pub async fn resolve(db: &impl ConnectionTrait, filter: &ArticleFilter) -> Result<Option<Scope>> {
    let mut scope = Scope::default();
    if let Some(username) = &filter.author {
        match users::find_by_username(db, username).await? {
            Some(user) => scope.author_id = Some(user.id),
            None => return Ok(None),
        }
    }
    if let Some(username) = &filter.favorited_by {
        match users::find_by_username(db, username).await? {
            Some(user) => scope.favorited_by = Some(user.id),
            None => return Ok(None),
        }
    }
    if let Some(name) = &filter.tag {
        match tags::find_id(db, &name.trim().to_lowercase()).await? {
            Some(id) => scope.tag_id = Some(id),
            None => return Ok(None),
        }
    }
    Ok(Some(scope))
}

pub async fn list(
    db: &impl Reader,
    scope: &Scope,
    order: Order,
    page: &PageRequest,
    columns: ArticleColumns,
) -> Result<Page<ArticleRow>> {
    let columns = columns.select_list();
    BY_CREATION
        .reading(&columns)
        .page(db, scope.conditions(), order, page)
        .await
}

/// Whether the viewer favorited the article in `a`, for `flag_column`.
const FAVORITED_BY_VIEWER: &str =
    "EXISTS (SELECT 1 FROM favorites fv WHERE fv.user_id = ? AND fv.article_id = a.id)";

/// `list`, each article with whether `viewer` favorited it, in one statement.
pub async fn list_seen_by(
    db: &impl Reader,
    viewer: i64,
    scope: &Scope,
    order: Order,
    page: &PageRequest,
    columns: ArticleColumns,
) -> Result<Page<Seen<ArticleRow>>> {
    let columns = columns.select_list();
    BY_CREATION
        .reading(&columns)
        .page_seen(
            db,
            FAVORITED_BY_VIEWER,
            viewer,
            scope.conditions(),
            order,
            page,
        )
        .await
}

/// How many articles a scope holds (`totalCount`). The two most common
/// scopes read a counter: every article (`totals`) and one tag
/// (`tags.articles_count`); the rest count through their indexes.
pub async fn count(db: &impl ConnectionTrait, scope: &Scope) -> Result<i64> {
    match *scope {
        Scope {
            author_id: None,
            tag_id: None,
            favorited_by: None,
            followed_by: None,
        } => return totals::get(db, totals::ARTICLES).await,
        Scope {
            author_id: None,
            tag_id: Some(tag_id),
            favorited_by: None,
            followed_by: None,
        } => return tags::articles_count(db, tag_id).await,
        _ => {}
    }
    let (filters, values) = sql::unzip_conditions(scope.conditions(), Vec::new());
    sql::count(
        db,
        &format!(
            "SELECT COUNT(*) FROM articles a{}",
            sql::where_clause(&filters)
        ),
        values,
    )
    .await
}

pub async fn by_ids(db: &impl Reader, ids: &[i64]) -> Result<ById<ArticleRow>> {
    let rows = sql::rows_any_of(
        db,
        &format!("SELECT {COLUMNS} FROM articles a"),
        "a.id",
        ids,
    )
    .await?;
    Ok(sql::by_id(rows, |article: &ArticleRow| article.id))
}

pub async fn by_slug(db: &impl ConnectionTrait, slug: &str) -> Result<Option<ArticleRow>> {
    select_by_slug(db, slug, "", "")
        .await?
        .map(|row| read(&row))
        .transpose()
}

/// `by_slug` with the article's body, in the same statement.
pub async fn by_slug_with_body(
    db: &impl ConnectionTrait,
    slug: &str,
) -> Result<Option<(ArticleRow, String)>> {
    let Some(row) = select_by_slug(db, slug, ", a.body", "").await? else {
        return Ok(None);
    };
    let body_at = COLUMNS.split(", ").count();
    Ok(Some((read(&row)?, row.try_get_by_index(body_at)?)))
}

/// The article at `slug`, for a write: locked until the transaction ends.
///
/// # Implementation notes
/// On PostgreSQL the row is read `FOR UPDATE`, so writes to one article
/// take turns: a write that races a delete either finishes before it or
/// finds nothing (NOT_FOUND), never a row that vanishes under its insert
/// (a foreign-key error), and the counters read here are current. SQLite
/// has no row locks and needs none: its write transactions are serial.
pub(crate) async fn by_slug_for_update(
    db: &impl ConnectionTrait,
    slug: &str,
) -> Result<Option<ArticleRow>> {
    let lock = match db.get_database_backend() {
        DbBackend::Postgres => " FOR UPDATE",
        _ => "",
    };
    select_by_slug(db, slug, "", lock)
        .await?
        .map(|row| read(&row))
        .transpose()
}

/// The row of the article at `slug`: `COLUMNS`, then `more`.
async fn select_by_slug(
    db: &impl ConnectionTrait,
    slug: &str,
    more: &str,
    lock: &str,
) -> Result<Option<QueryResult>> {
    if !validate::may_name_something(slug) {
        return Ok(None);
    }
    let rows = sql::query_all(
        db,
        &format!("SELECT {COLUMNS}{more} FROM articles a WHERE a.slug = ?{lock}"),
        vec![slug.into()],
    )
    .await?;
    Ok(rows.into_iter().next())
}

fn read(row: &QueryResult) -> Result<ArticleRow> {
    Ok(ArticleRow::from_query_result(row, "")?)
}

pub async fn bodies(db: &impl ConnectionTrait, ids: &[i64]) -> Result<ById<String>> {
    let rows = sql::where_any_of(db, "SELECT id, body FROM articles", "id", ids).await?;
    rows.iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect()
}

/// Which of `ids` the user has favorited.
pub async fn favorited_by(db: &impl ConnectionTrait, user_id: i64, ids: &[i64]) -> Result<IdSet> {
    sql::paired(db, "favorites", "user_id", user_id, "article_id", ids).await
}

/// The same page of each author's articles, newest first.
pub async fn pages_by_author(
    db: &impl Reader,
    author_ids: &[i64],
    page: &PageRequest,
    columns: ArticleColumns,
) -> Result<ById<Page<ArticleRow>>> {
    let columns = columns.select_list();
    BY_CREATION
        .reading(&columns)
        .pages_per_parent(db, "a.author_id", author_ids, Order::NewestFirst, page)
        .await
}

/// The same page of each user's favorites, most recently favorited first.
pub async fn pages_favorited_by(
    db: &impl Reader,
    user_ids: &[i64],
    page: &PageRequest,
    columns: ArticleColumns,
) -> Result<ById<Page<ArticleRow>>> {
    let columns = format!("{}, {}", columns.select_list(), favoriting_keys!());
    BY_FAVORITING
        .reading(&columns)
        .pages_per_parent(db, "f.user_id", user_ids, Order::NewestFirst, page)
        .await
}

/// How many articles each author wrote.
pub async fn counts_by_author(db: &impl ConnectionTrait, author_ids: &[i64]) -> Result<ById<i64>> {
    grouped_counts(db, "articles", "author_id", author_ids).await
}

/// How many articles each user favorited.
pub async fn favorite_counts_by_user(
    db: &impl ConnectionTrait,
    user_ids: &[i64],
) -> Result<ById<i64>> {
    grouped_counts(db, "favorites", "user_id", user_ids).await
}

async fn grouped_counts(
    db: &impl ConnectionTrait,
    table: &str,
    column: &str,
    ids: &[i64],
) -> Result<ById<i64>> {
    let (ids_in, values) = sql::any_of(db.get_database_backend(), column, ids);
    let rows = sql::query_all(
        db,
        &format!(
            "SELECT {column} AS key, COUNT(*) AS n FROM {table} WHERE {ids_in} GROUP BY {column}"
        ),
        values,
    )
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("", "key")?, row.try_get("", "n")?)))
        .collect()
}

/// What `createArticle` receives, unchecked.
pub struct NewArticle {
    pub title: String,
    pub description: String,
    pub body: String,
    pub tags: Option<Vec<String>>,
}

/// What `updateArticle` receives, unchecked: `None` leaves a field as it is.
#[derive(Default)]
pub struct ArticlePatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub body: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// Publishes an article by `author_id`.
///
/// # Errors
/// BAD_USER_INPUT for invalid fields, with every message at once; CONFLICT
/// when concurrent writers took every slug it tried (see `free_slug`).
#[tracing::instrument(skip_all, fields(author_id))]
pub async fn create(
    db: &DatabaseConnection,
    events: &EventBus,
    author_id: i64,
    input: NewArticle,
) -> Result<ArticleRow> {
    let mut checks = Checks::default();
    let title = checks.check("title", required_text(&input.title, TITLE_MAX));
    let description = checks.check("description", text(&input.description, DESCRIPTION_MAX));
    let body = checks.check("body", required_text(&input.body, BODY_MAX));
    let tag_names = checks.check("tags", tags::normalize(input.tags.unwrap_or_default()));
    checks.finish()?;
    let (title, description, body, tag_names) = (
        title.expect("BUG: checked"),
        description.expect("BUG: checked"),
        body.expect("BUG: checked"),
        tag_names.expect("BUG: checked"),
    );

    let (article, staged) = retry_on_slug_race(|| {
        insert(
            db,
            events,
            author_id,
            &title,
            &description,
            &body,
            &tag_names,
        )
    })
    .await?;
    staged.committed();
    Ok(article)
}

/// `create`'s writing part, on checked input.
async fn insert(
    db: &DatabaseConnection,
    events: &EventBus,
    author_id: i64,
    title: &str,
    description: &str,
    body: &str,
    tag_names: &[String],
) -> Result<(ArticleRow, Staged)> {
    let txn = begin_write(db).await?;
    users::ensure_exists(&txn, author_id).await?;
    let slug = free_slug(&txn, title, None).await?;
    let now = time::now();
    let article = article::ActiveModel {
        slug: Set(slug),
        title: Set(title.to_owned()),
        description: Set(description.to_owned()),
        body: Set(body.to_owned()),
        author_id: Set(author_id),
        favorites_count: Set(0),
        comments_count: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        tag_list: Set(tag_list(tag_names)),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .on_unique_violation(|_| slug_taken())?;
    // Every follower hears of it, after the response: the fan-out runs in
    // batches, so this write costs the same for 10 followers or 100,000.
    outbox::enqueue(
        &txn,
        &[Job::FanOutNewArticle {
            article_id: article.id,
            after_follower: 0,
        }],
    )
    .await?;
    // The counters after the outbox row: every article takes the row of
    // `totals` and of its tags (a popular tag is every other article's)
    // and holds them to the commit, so the fewer statements after them,
    // the more articles can be published at once.
    tags::attach(&txn, article.id, tag_names).await?;
    totals::add(&txn, totals::ARTICLES, 1).await?;
    let staged = events
        .publish_on_commit(
            &txn,
            vec![
                Event::ArticlePublished {
                    article_id: article.id,
                    author_id,
                    tags: tag_names.to_vec(),
                },
                Event::JobsQueued,
            ],
        )
        .await?;
    txn.commit().await?;
    Ok((row_of(article), staged))
}

/// Changes an article; only its author may.
///
/// # Errors
/// BAD_USER_INPUT, NOT_FOUND for an unknown slug, FORBIDDEN for anyone but
/// the author; CONFLICT as for `create`.
#[tracing::instrument(skip_all, fields(user_id, slug))]
pub async fn update(
    db: &DatabaseConnection,
    user_id: i64,
    slug: &str,
    patch: ArticlePatch,
) -> Result<ArticleRow> {
    let mut checks = Checks::default();
    let title = checks.check_opt("title", patch.title, |v| required_text(&v, TITLE_MAX));
    let description = checks.check_opt("description", patch.description, |v| {
        text(&v, DESCRIPTION_MAX)
    });
    let body = checks.check_opt("body", patch.body, |v| required_text(&v, BODY_MAX));
    let tag_names = checks.check_opt("tags", patch.tags, tags::normalize);
    checks.finish()?;
    let checked = ArticlePatch {
        title,
        description,
        body,
        tags: tag_names,
    };

    retry_on_slug_race(|| apply(db, user_id, slug, &checked)).await
}

/// `update`'s writing part, on a patch already checked.
async fn apply(
    db: &DatabaseConnection,
    user_id: i64,
    slug: &str,
    patch: &ArticlePatch,
) -> Result<ArticleRow> {
    let txn = begin_write(db).await?;
    users::ensure_exists(&txn, user_id).await?;
    let current = authored(&txn, user_id, slug).await?;
    let mut model = article::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(current.id),
        updated_at: Set(time::now()),
        ..Default::default()
    };
    if let Some(title) = patch.title.clone() {
        // The slug follows the title, unless the title still asks for the
        // slug the article already has: that slug itself, or that slug with
        // the suffix that made it unique. A slug that only looks suffixed
        // ("hello-abcdef" of "Hello abcdef", retitled "Hello") moves.
        let wanted = slugs::base(&title);
        let (slug, current_title) = (current.slug()?, current.title()?);
        let keeps_slug =
            slug == wanted || (is_slug_for(slug, &wanted) && slugs::base(current_title) == wanted);
        if !keeps_slug {
            model.slug = Set(free_slug(&txn, &title, Some(current.id)).await?);
        }
        model.title = Set(title);
    }
    if let Some(description) = patch.description.clone() {
        model.description = Set(description);
    }
    if let Some(body) = patch.body.clone() {
        model.body = Set(body);
    }
    if let Some(tag_names) = &patch.tags {
        model.tag_list = Set(tag_list(tag_names));
    }
    model
        .update(&txn)
        .await
        .on_unique_violation(|_| slug_taken())?;
    if let Some(tag_names) = &patch.tags {
        tags::detach_all(&txn, current.id).await?;
        tags::attach(&txn, current.id, tag_names).await?;
    }
    let updated = by_ids(&txn, &[current.id])
        .await?
        .remove(&current.id)
        .ok_or_else(|| anyhow::anyhow!("article {} vanished inside its own update", current.id))?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes an article with its comments, tag links and favorites; only its
/// author may. Answers the deleted article's id.
#[tracing::instrument(skip_all, fields(user_id, slug))]
pub async fn delete(db: &DatabaseConnection, user_id: i64, slug: &str) -> Result<i64> {
    let txn = begin_write(db).await?;
    users::ensure_exists(&txn, user_id).await?;
    let article = authored(&txn, user_id, slug).await?;
    tags::detach_all(&txn, article.id).await?;
    // Comments and favorites go by ON DELETE CASCADE.
    sql::execute(
        &txn,
        "DELETE FROM articles WHERE id = ?",
        vec![article.id.into()],
    )
    .await?;
    totals::add(&txn, totals::ARTICLES, -1).await?;
    txn.commit().await?;
    Ok(article.id)
}

/// Favorites an article (again is fine: nothing changes).
#[tracing::instrument(skip_all, fields(user_id, slug))]
pub async fn favorite(
    db: &DatabaseConnection,
    events: &EventBus,
    user_id: i64,
    slug: &str,
) -> Result<ArticleRow> {
    set_favorite(db, events, user_id, slug, true).await
}

/// Takes a favorite back (when there is none, nothing changes).
#[tracing::instrument(skip_all, fields(user_id, slug))]
pub async fn unfavorite(
    db: &DatabaseConnection,
    events: &EventBus,
    user_id: i64,
    slug: &str,
) -> Result<ArticleRow> {
    set_favorite(db, events, user_id, slug, false).await
}

async fn set_favorite(
    db: &DatabaseConnection,
    events: &EventBus,
    user_id: i64,
    slug: &str,
    on: bool,
) -> Result<ArticleRow> {
    let txn = begin_write(db).await?;
    users::ensure_exists(&txn, user_id).await?;
    let article = by_slug_for_update(&txn, slug)
        .await?
        .ok_or_else(|| not_found(slug))?;
    let changed = if on {
        sql::execute(
            &txn,
            "INSERT INTO favorites (user_id, article_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            vec![user_id.into(), article.id.into(), time::now().into()],
        )
        .await?
    } else {
        sql::execute(
            &txn,
            "DELETE FROM favorites WHERE user_id = ? AND article_id = ?",
            vec![user_id.into(), article.id.into()],
        )
        .await?
    };
    let delta: i64 = if on { 1 } else { -1 };
    // The counter moves only when a row really came or went, so repeating
    // the mutation is harmless.
    if changed > 0 {
        sql::execute(
            &txn,
            "UPDATE articles SET favorites_count = favorites_count + ? WHERE id = ?",
            vec![delta.into(), article.id.into()],
        )
        .await?;
    }
    // Nobody is notified of their own action.
    let queued = on && changed > 0 && article.author_id != user_id;
    let mut published = Vec::new();
    if queued {
        outbox::enqueue(
            &txn,
            &[Job::NotifyFavorite {
                user_id,
                article_id: article.id,
            }],
        )
        .await?;
        published.push(Event::JobsQueued);
    }
    let staged = events.publish_on_commit(&txn, published).await?;
    txn.commit().await?;
    staged.committed();
    article.counted(if changed > 0 { delta } else { 0 }, 0)
}

/// The article at `slug`, if `user_id` wrote it.
async fn authored(db: &impl ConnectionTrait, user_id: i64, slug: &str) -> Result<ArticleRow> {
    let article = by_slug_for_update(db, slug)
        .await?
        .ok_or_else(|| not_found(slug))?;
    if article.author_id != user_id {
        return Err(Error::Forbidden(
            "only the author may change this article".into(),
        ));
    }
    Ok(article)
}

pub(crate) fn not_found(slug: &str) -> Error {
    Error::NotFound(format!("no article has the slug {slug:?}"))
}

/// How many times a write is tried when concurrent writers keep taking the
/// slug it picked.
const SLUG_ATTEMPTS: usize = 4;

/// Runs `write` (one whole transaction) again when a concurrent writer took
/// the slug it picked: the new attempt sees that writer's slug and picks
/// another. See `free_slug`.
async fn retry_on_slug_race<T, F>(mut write: impl FnMut() -> F) -> Result<T>
where
    F: Future<Output = Result<T>>,
{
    let mut attempt = 1;
    loop {
        match write().await {
            Err(Error::Conflict(_)) if attempt < SLUG_ATTEMPTS => attempt += 1,
            result => return result,
        }
    }
}

/// The unique index on `articles.slug` refused a slug `free_slug` found free.
fn slug_taken() -> Error {
    Error::conflict(
        "title",
        "another article took this title's slug at the same moment; try again",
    )
}

/// A slug for `title` that no other article has: the title's own slug when
/// free, else that slug with a short random suffix.
///
/// # Implementation notes
/// Runs inside the writing transaction. On SQLite that transaction holds the
/// write lock, so the check cannot race; on PostgreSQL two writers can pick
/// the same free slug at once, and the unique index refuses the loser's
/// write, which `retry_on_slug_race` then runs again. The suffix is random
/// rather than a counter both would compute alike.
async fn free_slug(db: &impl ConnectionTrait, title: &str, except: Option<i64>) -> Result<String> {
    let base = slugs::base(title);
    let mut candidate = base.clone();
    for _ in 0..8 {
        let taken = sql::query_all(
            db,
            "SELECT id FROM articles WHERE slug = ?",
            vec![candidate.clone().into()],
        )
        .await?;
        let taken_by_other = taken
            .iter()
            .map(|row| row.try_get::<i64>("", "id"))
            .collect::<std::result::Result<Vec<_>, _>>()?
            .into_iter()
            .any(|id| Some(id) != except);
        if !taken_by_other {
            return Ok(candidate);
        }
        candidate = format!("{base}-{}", random_suffix());
    }
    Err(anyhow::anyhow!("no free slug for {base:?} after 8 tries").into())
}

/// Whether `slug` is `base` itself or `base` with a suffix `free_slug` adds.
fn is_slug_for(slug: &str, base: &str) -> bool {
    slug == base
        || slug
            .strip_prefix(base)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|suffix| {
                suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_alphanumeric())
            })
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn required_text(raw: &str, max: usize) -> std::result::Result<String, String> {
    match validate::optional_text(raw, max)? {
        Some(text) => Ok(text),
        None => Err("must not be empty".into()),
    }
}

fn text(raw: &str, max: usize) -> std::result::Result<String, String> {
    Ok(validate::optional_text(raw, max)?.unwrap_or_default())
}

fn row_of(model: article::Model) -> ArticleRow {
    ArticleRow {
        id: model.id,
        author_id: model.author_id,
        created_at: model.created_at,
        slug: Some(model.slug),
        title: Some(model.title),
        description: Some(model.description),
        favorites_count: Some(model.favorites_count),
        comments_count: Some(model.comments_count),
        updated_at: Some(model.updated_at),
        tag_list: Some(model.tag_list),
    }
}

#[cfg(test)]
mod tests {
    use super::{ArticleColumns, COLUMNS, is_slug_for};

    /// Lookups and lists name the same columns in the same order: all of
    /// `ArticleColumns` is what a lookup selects.
    #[test]
    fn every_column_chosen_is_what_a_lookup_reads() {
        let spaced = |list: &str| list.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(spaced(&ArticleColumns::ALL.select_list()), spaced(COLUMNS));
        assert_eq!(
            ArticleColumns::NONE.select_list(),
            "a.id, a.author_id, a.created_at"
        );
    }

    #[test]
    fn a_suffixed_slug_still_belongs_to_its_title() {
        assert!(is_slug_for("hello-world", "hello-world"));
        assert!(is_slug_for("hello-world-x1y2z3", "hello-world"));
        assert!(!is_slug_for("hello-world-again", "hello-world"));
        assert!(!is_slug_for("hello", "hello-world"));
    }
}
