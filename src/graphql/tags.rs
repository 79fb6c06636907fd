//! Tags: `popularTags`.

use async_graphql::{Context, Object, Result, SimpleObject};

use super::viewer::ContextExt as _;
use crate::domain::{self, tags as domain_tags};

#[derive(SimpleObject)]
#[graphql(cache_control(max_age = 60))]
pub struct Tag {
    name: String,
    articles_count: i64,
}

#[derive(Default)]
pub struct TagQuery;

#[Object(crate = "crate::graphql::ordered", cache_control(max_age = 60))]
impl TagQuery {
    /// Tags by how many articles carry them, most first.
    #[graphql(cache_control(max_age = 60))]
    async fn popular_tags(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(20)")] first: Option<i32>,
    ) -> Result<Vec<Tag>> {
        let page = domain::pagination::PageRequest::parse(first, None)?;
        Ok(domain_tags::popular(ctx.reads(), page.first)
            .await?
            .into_iter()
            .map(|tag| Tag {
                name: tag.name,
                articles_count: tag.articles_count,
            })
            .collect())
    }
}
