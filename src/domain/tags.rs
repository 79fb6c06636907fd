//! Tags: normalizing what authors type, linking tags to articles, and the
//! most-used list. `tags.articles_count` moves in the same transaction as
//! every link and unlink.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, Value};

use super::Result;
use super::sql::{self, placeholders};

pub const TAGS_MAX: usize = 10;
pub const TAG_MAX: usize = 32;

/// Lower-cased, trimmed, de-duplicated, in the author's order.
pub fn normalize(raw: Vec<String>) -> std::result::Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::with_capacity(raw.len());
    for tag in raw {
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() {
            return Err("a tag must not be empty".into());
        }
        if tag.chars().count() > TAG_MAX {
            return Err(format!("a tag must be at most {TAG_MAX} characters"));
        }
        if !tag
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.+#".contains(c))
        {
            return Err(format!(
                "{tag:?}: a tag may contain only letters, digits and - _ . + #"
            ));
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > TAGS_MAX {
        return Err(format!("at most {TAGS_MAX} tags"));
    }
    Ok(tags)
}

pub async fn find_id(db: &impl ConnectionTrait, name: &str) -> Result<Option<i64>> {
    if !super::validate::may_name_something(name) {
        return Ok(None);
    }
    let rows = sql::query_all(db, "SELECT id FROM tags WHERE name = ?", vec![name.into()]).await?;
    rows.first()
        .map(|row| Ok(row.try_get("", "id")?))
        .transpose()
}

/// How many articles carry the tag, from its counter.
pub(crate) async fn articles_count(db: &impl ConnectionTrait, tag_id: i64) -> Result<i64> {
    sql::count(
        db,
        "SELECT articles_count FROM tags WHERE id = ?",
        vec![tag_id.into()],
    )
    .await
}

/// Links `names` (normalized) to an article in their order, creating the
/// tags that do not exist yet.
pub(crate) async fn attach(
    db: &impl ConnectionTrait,
    article_id: i64,
    names: &[String],
) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let values: Vec<Value> = names.iter().map(|name| name.clone().into()).collect();
    sql::execute(
        db,
        &format!(
            "INSERT INTO tags (name, articles_count) VALUES {} ON CONFLICT (name) DO NOTHING",
            vec!["(?, 0)"; names.len()].join(", ")
        ),
        values.clone(),
    )
    .await?;
    let rows = sql::query_all(
        db,
        &format!(
            "SELECT id, name FROM tags WHERE name IN ({})",
            placeholders(names.len())
        ),
        values,
    )
    .await?;
    let ids: HashMap<String, i64> = rows
        .iter()
        .map(|row| Ok((row.try_get("", "name")?, row.try_get("", "id")?)))
        .collect::<Result<_>>()?;

    let mut link_values: Vec<Value> = Vec::with_capacity(names.len() * 3);
    for (position, name) in names.iter().enumerate() {
        let tag_id = *ids
            .get(name)
            .ok_or_else(|| anyhow::anyhow!("tag {name:?} missing right after its upsert"))?;
        link_values.extend([article_id.into(), tag_id.into(), (position as i32).into()]);
    }
    sql::execute(
        db,
        &format!(
            "INSERT INTO article_tags (article_id, tag_id, position) VALUES {}",
            vec!["(?, ?, ?)"; names.len()].join(", ")
        ),
        link_values,
    )
    .await?;
    let tag_ids: Vec<i64> = ids.values().copied().collect();
    let (ids_in, values) = sql::any_of(db.get_database_backend(), "id", &tag_ids);
    sql::execute(
        db,
        &format!("UPDATE tags SET articles_count = articles_count + 1 WHERE {ids_in}"),
        values,
    )
    .await?;
    Ok(())
}

/// Unlinks every tag of an article, keeping the counters right.
pub(crate) async fn detach_all(db: &impl ConnectionTrait, article_id: i64) -> Result<()> {
    sql::execute(
        db,
        "UPDATE tags SET articles_count = articles_count - 1 \
         WHERE id IN (SELECT tag_id FROM article_tags WHERE article_id = ?)",
        vec![article_id.into()],
    )
    .await?;
    sql::execute(
        db,
        "DELETE FROM article_tags WHERE article_id = ?",
        vec![article_id.into()],
    )
    .await?;
    Ok(())
}

/// A tag and how many articles carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagCount {
    pub name: String,
    pub articles_count: i64,
}

/// Tags by how many articles carry them, most first (ties by name).
pub async fn popular(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<TagCount>> {
    let rows = sql::query_all(
        db,
        &format!(
            "SELECT name, articles_count FROM tags WHERE articles_count > 0 \
             ORDER BY articles_count DESC, name ASC LIMIT {limit}"
        ),
        vec![],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(TagCount {
                name: row.try_get("", "name")?,
                articles_count: row.try_get("", "articles_count")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn tags_are_lowercased_trimmed_and_deduplicated_in_order() {
        let tags = normalize(vec![
            " Rust ".into(),
            "GraphQL".into(),
            "rust".into(),
            "c++".into(),
        ])
        .unwrap();
        assert_eq!(tags, ["rust", "graphql", "c++"]);
        assert!(normalize(vec!["".into()]).is_err());
        assert!(normalize(vec!["has space".into()]).is_err());
        assert!(normalize((0..11).map(|i| format!("t{i}")).collect()).is_err());
    }
}
