//! Writing a `Plan` into the database: many rows per `INSERT`, as many as
//! the backend's bind-parameter limit allows, with each row's text made just
//! before it is sent so the big columns never sit in memory all at once.

use std::collections::HashSet;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use rand::Rng;
use rand::seq::IndexedRandom as _;
use rand_chacha::ChaCha8Rng;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ConnectionTrait, DbBackend, Value};

use super::plan::{Pair, Plan};
use super::text;
use crate::domain::slugs;

/// Most rows in one statement, whatever the limit on parameters: past a few
/// thousand rows a statement gets bigger without getting faster.
const MAX_ROWS: usize = 5_000;

/// One random stream per kind of text, so that one table's text does not
/// shift when another table's size changes.
pub(super) struct TextRngs {
    pub(super) users: ChaCha8Rng,
    pub(super) articles: ChaCha8Rng,
    pub(super) comments: ChaCha8Rng,
}

/// What the caller may want to show about what was written.
pub(super) struct Written {
    pub(super) first_username: Option<String>,
}

pub(super) async fn write(
    db: &impl ConnectionTrait,
    plan: &Plan,
    mut rngs: TextRngs,
    password_hash: &str,
    progress: &ProgressBar,
) -> anyhow::Result<Written> {
    let tag_names: Vec<String> = (0..plan.tags.len()).map(text::tag_name).collect();
    // A bio is about something: any tag will do.
    let any_topic = |rng: &mut ChaCha8Rng| -> String {
        text::TAGS.choose(rng).copied().unwrap_or("code").to_owned()
    };

    progress.set_message("tags");
    insert(
        db,
        "tags",
        &["id", "name", "articles_count"],
        plan.tags.len(),
        |i| {
            Ok(vec![
                id(i),
                tag_names[i].clone().into(),
                plan.tags[i].into(),
            ])
        },
        progress,
    )
    .await?;

    progress.set_message("users");
    let mut taken = HashSet::with_capacity(plan.users.len());
    let mut usernames = Vec::with_capacity(plan.users.len());
    for i in 0..plan.users.len() {
        let mut name = text::username(&mut rngs.users);
        // Generated names have no digits, so the id on the end is unique
        // (compared as keys: `rn` and `m` are one name to a reader).
        if !taken.insert(entity::user::username_key(&name)) {
            name = format!("{name}{}", i + 1);
            taken.insert(entity::user::username_key(&name));
        }
        usernames.push(name);
    }
    let rng = &mut rngs.users;
    insert(
        db,
        "users",
        &[
            "id",
            "username",
            "username_key",
            "email",
            "password_hash",
            "bio",
            "image",
            "followers_count",
            "following_count",
            "created_at",
            "updated_at",
        ],
        plan.users.len(),
        |i| {
            let user = &plan.users[i];
            let name = &usernames[i];
            let bio = rng.random_bool(0.7).then(|| {
                let topic = any_topic(rng);
                text::bio(rng, &topic)
            });
            let image = rng
                .random_bool(0.6)
                .then(|| format!("https://images.example.com/avatars/{name}.jpg"));
            Ok(vec![
                id(i),
                name.clone().into(),
                entity::user::username_key(name).into(),
                format!("{name}@example.com").into(),
                password_hash.into(),
                bio.into(),
                image.into(),
                user.followers.into(),
                user.following.into(),
                time(user.created)?,
                time(user.updated)?,
            ])
        },
        progress,
    )
    .await?;

    progress.set_message("articles");
    let rng = &mut rngs.articles;
    insert(
        db,
        "articles",
        &[
            "id",
            "slug",
            "title",
            "description",
            "body",
            "author_id",
            "favorites_count",
            "comments_count",
            "created_at",
            "updated_at",
            "tag_list",
        ],
        plan.articles.len(),
        |i| {
            let article = &plan.articles[i];
            let names: Vec<&str> = article
                .tags
                .iter()
                .map(|&t| tag_names[t as usize].as_str())
                .collect();
            let topic = article
                .tags
                .first()
                .map_or("code", |&t| tag_names[t as usize].as_str());
            let other = match article.tags.get(1) {
                Some(&t) => tag_names[t as usize].clone(),
                None => any_topic(rng),
            };
            let title = text::title(rng, topic, &other);
            // The id makes the slug unique, as the app's own suffix would.
            let slug = format!("{}-{}", slugs::base(&title), i + 1);
            Ok(vec![
                id(i),
                slug.into(),
                title.into(),
                text::description(rng, topic).into(),
                text::body(rng, topic).into(),
                id(article.author as usize),
                article.favorites.into(),
                article.comments.into(),
                time(article.created)?,
                time(article.updated)?,
                crate::domain::articles::tag_list(&names).into(),
            ])
        },
        progress,
    )
    .await?;

    progress.set_message("article_tags");
    let tagging: Vec<(usize, usize, usize)> = plan
        .articles
        .iter()
        .enumerate()
        .flat_map(|(a, article)| {
            article
                .tags
                .iter()
                .enumerate()
                .map(move |(position, &t)| (a, t as usize, position))
        })
        .collect();
    insert(
        db,
        "article_tags",
        &["article_id", "tag_id", "position"],
        tagging.len(),
        |i| {
            let (article, tag, position) = tagging[i];
            Ok(vec![
                id(article),
                id(tag),
                Value::Int(Some(position as i32)),
            ])
        },
        progress,
    )
    .await?;

    progress.set_message("follows");
    insert_pairs(
        db,
        "follows",
        ["follower_id", "followee_id"],
        &plan.follows,
        progress,
    )
    .await?;
    progress.set_message("favorites");
    insert_pairs(
        db,
        "favorites",
        ["user_id", "article_id"],
        &plan.favorites,
        progress,
    )
    .await?;

    progress.set_message("comments");
    let rng = &mut rngs.comments;
    insert(
        db,
        "comments",
        &[
            "id",
            "article_id",
            "author_id",
            "body",
            "created_at",
            "updated_at",
        ],
        plan.comments.len(),
        |i| {
            let comment = &plan.comments[i];
            let article = &plan.articles[comment.article as usize];
            let topic = article
                .tags
                .first()
                .map_or("code", |&t| tag_names[t as usize].as_str());
            Ok(vec![
                id(i),
                id(comment.article as usize),
                id(comment.author as usize),
                text::comment(rng, topic).into(),
                time(comment.created)?,
                time(comment.updated)?,
            ])
        },
        progress,
    )
    .await?;

    Ok(Written {
        first_username: usernames.into_iter().next(),
    })
}

async fn insert_pairs(
    db: &impl ConnectionTrait,
    table: &'static str,
    [from, to]: [&'static str; 2],
    pairs: &[Pair],
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    insert(
        db,
        table,
        &[from, to, "created_at"],
        pairs.len(),
        |i| {
            let pair = &pairs[i];
            Ok(vec![
                id(pair.from as usize),
                id(pair.to as usize),
                time(pair.created)?,
            ])
        },
        progress,
    )
    .await
}

/// Inserts `count` rows, made by `row(index)`, in as few statements as the
/// backend's limit on bind parameters allows.
async fn insert<F>(
    db: &impl ConnectionTrait,
    table: &'static str,
    columns: &[&'static str],
    count: usize,
    mut row: F,
    progress: &ProgressBar,
) -> anyhow::Result<()>
where
    F: FnMut(usize) -> anyhow::Result<Vec<Value>>,
{
    // PostgreSQL numbers parameters with 16 bits; SQLite's compiled-in limit
    // has been 32766 since 3.32. Anything else gets the old SQLite 999.
    let max_parameters = match db.get_database_backend() {
        DbBackend::Postgres => 65_535,
        DbBackend::Sqlite => 32_766,
        _ => 999,
    };
    let per_statement = (max_parameters / columns.len()).min(MAX_ROWS);
    let started = std::time::Instant::now();
    let mut start = 0;
    while start < count {
        let end = (start + per_statement).min(count);
        let mut statement = Query::insert();
        statement.into_table(table).columns(columns.iter().copied());
        for index in start..end {
            let values = row(index)?;
            statement
                .values(values.into_iter().map(Expr::Value))
                .with_context(|| format!("BUG: a {table} row does not match its columns"))?;
        }
        db.execute(&statement)
            .await
            .with_context(|| format!("cannot insert rows {}..{end} of {table}", start + 1))?;
        progress.inc((end - start) as u64);
        start = end;
    }
    tracing::debug!(
        table,
        rows = count,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "inserted"
    );
    Ok(())
}

/// The id of the row at 0-based `index`.
fn id(index: usize) -> Value {
    Value::BigInt(Some(index as i64 + 1))
}

fn time(micros: i64) -> anyhow::Result<Value> {
    let at: DateTime<Utc> = DateTime::from_timestamp_micros(micros)
        .with_context(|| format!("BUG: {micros} µs is out of chrono's range"))?;
    Ok(at.into())
}
