//! Comments: adding, deleting (the comment's author only), and each
//! article's comments newest first. `articles.comments_count` moves in the
//! same transaction.

use entity::comment;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait};

use crate::db::Reader;
use crate::events::{Event, EventBus};

use super::articles::{self, ArticleRow};
use super::outbox::{self, Job};
use super::pagination::{Order, Page, PageRequest};
use super::profiles::{Profile, ProfileColumns};
use super::sql::{self, Join, Joined, KeyNames, Keyset};
use super::validate::{self, Checks};
use super::{ById, Error, Result, begin_write, time, users};

pub const BODY_MAX: usize = 10_000;

const BY_ARTICLE: Keyset<'static> = Keyset {
    columns: "c.id, c.article_id, c.author_id, c.body, c.created_at, c.updated_at",
    keys: KeyNames {
        sort_at: "created_at",
        sort_id: "id",
        parent_id: "article_id",
    },
    from: "comments c",
    sort_at: "c.created_at",
    sort_id: "c.id",
    item: "c",
};

/// A comment of a page, and its author where the page's statement read
/// them too (`pages_by_article`).
pub type CommentRow = Joined<comment::Model, Profile>;

/// A comment just written, with its author and article as the transaction
/// that wrote it read them (the article's `comments_count` counting it):
/// the answer needs no statement of its own for them.
pub struct Added {
    pub comment: comment::Model,
    pub author: entity::user::Model,
    pub article: ArticleRow,
}

/// Comments `body` on the article at `slug`.
///
/// # Errors
/// BAD_USER_INPUT for an empty or too long body; NOT_FOUND for an unknown slug.
#[tracing::instrument(skip_all, fields(user_id, slug))]
pub async fn add(
    db: &DatabaseConnection,
    events: &EventBus,
    user_id: i64,
    slug: &str,
    body: &str,
) -> Result<Added> {
    let mut checks = Checks::default();
    let body = checks.check(
        "body",
        validate::optional_text(body, BODY_MAX)
            .and_then(|text| text.ok_or_else(|| "must not be empty".to_owned())),
    );
    checks.finish()?;
    let body = body.expect("BUG: checked");

    let txn = begin_write(db).await?;
    let author = users::find_by_id(&txn, user_id)
        .await?
        .ok_or_else(Error::unauthenticated)?;
    let article = articles::by_slug_for_update(&txn, slug)
        .await?
        .ok_or_else(|| articles::not_found(slug))?;
    let now = time::now();
    let comment = comment::ActiveModel {
        article_id: Set(article.id),
        author_id: Set(user_id),
        body: Set(body),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    sql::execute(
        &txn,
        "UPDATE articles SET comments_count = comments_count + 1 WHERE id = ?",
        vec![article.id.into()],
    )
    .await?;
    // Nobody is notified of their own action.
    let queued = article.author_id != user_id;
    let mut published = vec![Event::CommentAdded {
        comment_id: comment.id,
        article_id: comment.article_id,
    }];
    if queued {
        outbox::enqueue(
            &txn,
            &[Job::NotifyComment {
                comment_id: comment.id,
            }],
        )
        .await?;
        published.push(Event::JobsQueued);
    }
    let staged = events.publish_on_commit(&txn, published).await?;
    txn.commit().await?;
    staged.committed();
    Ok(Added {
        article: article.counted(0, 1)?,
        comment,
        author,
    })
}

/// Deletes a comment; only its author may. Answers its id.
///
/// # Errors
/// NOT_FOUND when there is no such comment; FORBIDDEN for anyone else.
#[tracing::instrument(skip_all, fields(user_id, comment_id))]
pub async fn delete(db: &DatabaseConnection, user_id: i64, comment_id: i64) -> Result<i64> {
    let txn = begin_write(db).await?;
    users::ensure_exists(&txn, user_id).await?;
    let comment = comment::Entity::find_by_id(comment_id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::NotFound("no such comment".into()))?;
    if comment.author_id != user_id {
        return Err(Error::Forbidden(
            "only the comment's author may delete it".into(),
        ));
    }
    let deleted = sql::execute(
        &txn,
        "DELETE FROM comments WHERE id = ?",
        vec![comment.id.into()],
    )
    .await?;
    if deleted == 0 {
        // A concurrent delete got there first (on PostgreSQL) and moved the
        // counter already.
        return Err(Error::NotFound("no such comment".into()));
    }
    sql::execute(
        &txn,
        "UPDATE articles SET comments_count = comments_count - 1 WHERE id = ?",
        vec![comment.article_id.into()],
    )
    .await?;
    txn.commit().await?;
    Ok(comment.id)
}

pub async fn by_ids(db: &impl Reader, ids: &[i64]) -> Result<ById<comment::Model>> {
    let rows = sql::rows_any_of(
        db,
        "SELECT id, article_id, author_id, body, created_at, updated_at FROM comments",
        "id",
        ids,
    )
    .await?;
    Ok(sql::by_id(rows, |comment: &comment::Model| comment.id))
}

/// The same page of each article's comments, newest first, with their
/// authors' `authors` columns when given.
///
/// # Implementation notes
/// A page whose query asks for the comments' authors reads them in the
/// same statement (a join on the users' primary key), not in a second
/// statement by id after it: `article` went from four statements (four
/// round trips on PostgreSQL) to three (BENCHMARKS.md, session 14).
pub async fn pages_by_article(
    db: &impl Reader,
    article_ids: &[i64],
    page: &PageRequest,
    authors: Option<ProfileColumns>,
) -> Result<ById<Page<CommentRow>>> {
    let columns = authors.map(|authors| sql::joined_list(&authors.select_list()));
    let join = columns.as_deref().map(|columns| Join {
        table: "users u",
        key: "u.id",
        column: "author_id",
        columns,
    });
    BY_ARTICLE
        .pages_per_parent_joined(
            db,
            "c.article_id",
            article_ids,
            Order::NewestFirst,
            page,
            join,
        )
        .await
}
