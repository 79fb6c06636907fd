//! What a field of the query asks of the rows behind it: which columns its
//! articles or users read (`ArticleColumns`, `ProfileColumns`), and whether
//! it asks the viewer's flag on them.
//!
//! Each answer is found once per field of the document and kept for the
//! request (`Asked`): siblings share their field, so the 460 followers'
//! `articles` on `deep` ask one walk, not 460. Walking a selection through
//! async-graphql's look-ahead cost ~1,000 instructions a time (callgrind:
//! 0.5 M of `deep`'s 19.7 M on PostgreSQL for the articles alone).

use std::sync::Mutex;

use async_graphql::{Context, SelectionField};

use crate::domain::articles::ArticleColumns;
use crate::domain::profiles::ProfileColumns;

/// What the query asks of the users at one of its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfUsers {
    pub columns: ProfileColumns,
    pub followed_by_viewer: bool,
}

/// A request's answers, by field: one per request (and per subscription),
/// in its data. A document has a handful of such fields, so a list looked
/// through beats a map.
#[derive(Default)]
pub struct Asked {
    articles: Memo<ArticleColumns>,
    users: Memo<OfUsers>,
    authors: Memo<Option<ProfileColumns>>,
}

struct Memo<T>(Mutex<Vec<(usize, T)>>);

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Self(Mutex::new(Vec::new()))
    }
}

impl<T: Copy> Memo<T> {
    /// The answer for the field of `ctx`, found by `find` the first time.
    /// Keyed by the field's address in the document, which lives as long
    /// as the request. Without an `Asked` (a schema run without the
    /// pipeline's data) every call finds its answer anew.
    fn get(
        memo: impl Fn(&Asked) -> &Self,
        ctx: &Context<'_>,
        find: impl FnOnce(&Context<'_>) -> T,
    ) -> T {
        let Some(asked) = ctx.data_opt::<Asked>() else {
            return find(ctx);
        };
        let memo = &memo(asked).0;
        let field = std::ptr::from_ref(ctx.item).addr();
        let known = memo
            .lock()
            .expect("no code panics holding it")
            .iter()
            .find(|(at, _)| *at == field)
            .map(|&(_, answer)| answer);
        known.unwrap_or_else(|| {
            let answer = find(ctx);
            memo.lock()
                .expect("no code panics holding it")
                .push((field, answer));
            answer
        })
    }
}

/// The columns a connection of articles (the field of `ctx`) reads: those
/// the fields the query asks of its nodes need. A field missing here that
/// reads one of them answers an internal error, never a default (see
/// `ArticleRow`); `tests/api/article_columns.rs` asks every field through
/// every list.
pub fn article_columns(ctx: &Context<'_>) -> ArticleColumns {
    Memo::get(
        |asked| &asked.articles,
        ctx,
        |ctx| {
            node_fields(ctx).fold(ArticleColumns::NONE, |columns, field| {
                columns.with(match field.name() {
                    "slug" => ArticleColumns::SLUG,
                    "title" => ArticleColumns::TITLE,
                    "description" => ArticleColumns::DESCRIPTION,
                    "favoritesCount" => ArticleColumns::FAVORITES_COUNT,
                    // `comments { totalCount }` is the counter.
                    "commentsCount" | "comments" => ArticleColumns::COMMENTS_COUNT,
                    "updatedAt" => ArticleColumns::UPDATED_AT,
                    "tags" => ArticleColumns::TAG_LIST,
                    _ => ArticleColumns::NONE,
                })
            })
        },
    )
}

/// What a field of type `User` (the field of `ctx`) asks of its user.
pub fn of_user(ctx: &Context<'_>) -> OfUsers {
    Memo::get(
        |asked| &asked.users,
        ctx,
        |ctx| of_users(ctx.field().selection_set()),
    )
}

/// What a connection of users (the field of `ctx`) asks of its nodes.
pub fn of_user_nodes(ctx: &Context<'_>) -> OfUsers {
    Memo::get(|asked| &asked.users, ctx, |ctx| of_users(node_fields(ctx)))
}

/// The columns a connection of comments (the field of `ctx`) reads of
/// their authors, read in the same statement (`comments::pages_by_article`):
/// what every `author` field of its nodes asks, or `None` where no node
/// asks for its author.
pub fn comment_authors(ctx: &Context<'_>) -> Option<ProfileColumns> {
    Memo::get(
        |asked| &asked.authors,
        ctx,
        |ctx| {
            node_fields(ctx)
                .filter(|field| field.name() == "author")
                .map(|author| of_users(author.selection_set()).columns)
                .reduce(ProfileColumns::with)
        },
    )
}

/// Whether a connection (the field of `ctx`) asks `field` of its nodes.
pub fn nodes_ask(ctx: &Context<'_>, field: &str) -> bool {
    node_fields(ctx).any(|asked| asked.name() == field)
}

/// The columns `fields` (asked of a user) read, and whether they ask the
/// viewer's flag. A field missing here that reads a column answers an
/// internal error, never a default (see `Profile`);
/// `tests/api/user_columns.rs` asks every field through every way to a
/// user.
fn of_users<'a>(fields: impl Iterator<Item = SelectionField<'a>>) -> OfUsers {
    let mut asked = OfUsers {
        columns: ProfileColumns::NONE,
        followed_by_viewer: false,
    };
    for field in fields {
        asked.columns = asked.columns.with(match field.name() {
            "bio" => ProfileColumns::BIO,
            "image" => ProfileColumns::IMAGE,
            "followersCount" => ProfileColumns::FOLLOWERS_COUNT,
            "followingCount" => ProfileColumns::FOLLOWING_COUNT,
            // The connections' `totalCount` is the counter.
            "followers" if asks_total(field) => ProfileColumns::FOLLOWERS_COUNT,
            "following" if asks_total(field) => ProfileColumns::FOLLOWING_COUNT,
            "createdAt" => ProfileColumns::CREATED_AT,
            "followedByViewer" => {
                asked.followed_by_viewer = true;
                ProfileColumns::NONE
            }
            _ => ProfileColumns::NONE,
        });
    }
    asked
}

/// Whether a connection field asks its `totalCount`.
fn asks_total(connection: SelectionField<'_>) -> bool {
    connection
        .selection_set()
        .any(|field| field.name() == "totalCount")
}

/// The fields the query asks of a connection's nodes (the connection field
/// in `ctx`), through `edges { node }` or `nodes`, fragments included.
fn node_fields<'a>(ctx: &'a Context<'_>) -> impl Iterator<Item = SelectionField<'a>> {
    let connection = ctx.look_ahead();
    let mut nodes = connection.field("nodes").selection_fields();
    nodes.extend(connection.field("edges").field("node").selection_fields());
    // Collected: each node's `selection_set` borrows the node.
    let mut fields = Vec::new();
    for node in &nodes {
        fields.extend(node.selection_set());
    }
    fields.into_iter()
}
