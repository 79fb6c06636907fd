//! Parsed documents by the SHA-256 of their text: the parse cache that
//! plain requests and Apollo's automatic persisted queries share.
//!
//! # Implementation notes
//! Bounded by bytes, not entries: the old cache kept 2,000 documents of any
//! size, valid or not, and 60 distinct 900 KB texts took 800 MiB. Each entry
//! here weighs an estimate of its parsed tree ([`weight`]), the whole is kept
//! under a byte budget, and only documents that passed validation are
//! offered (see `pipeline`), so junk never takes a place. moka's admission
//! policy (TinyLFU) keeps often-used documents when a burst of new ones
//! arrives, so distinct one-off texts cannot push the clients' queries out.

use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;
use sha2::{Digest as _, Sha256};

/// The default budget: about 4 MB of document text, thousands of real
/// client queries.
pub const DEFAULT_BUDGET_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct DocumentCache {
    cache: moka::sync::Cache<String, Arc<ExecutableDocument>>,
}

impl DocumentCache {
    pub fn new(budget_bytes: u64) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(budget_bytes)
            // moka weighs an entry once, when it is inserted.
            .weigher(|_hash: &String, document: &Arc<ExecutableDocument>| weight_of_tree(document))
            .build();
        Self { cache }
    }

    /// The document parsed from the text with this hash, when kept (shared:
    /// a caller that only looks at it clones nothing).
    pub fn get(&self, hash: &str) -> Option<Arc<ExecutableDocument>> {
        self.cache.get(hash)
    }

    /// Keeps a document that validated.
    pub fn insert(&self, hash: String, document: ExecutableDocument) {
        self.cache.insert(hash, Arc::new(document));
    }

    /// The bytes the kept documents are estimated to take.
    pub fn weighted_size(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.weighted_size()
    }
}

/// The lower-case hex SHA-256 of a text, as Apollo's persisted queries name
/// documents.
pub fn sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// An estimate of a parsed tree's heap size: every selection, argument and
/// value is a few dozen bytes of nodes and positions, and each string or
/// name owns its text. Counted by walking the tree, which is bounded in
/// depth (`bounds`) and visited once, at insertion.
fn weight_of_tree(document: &ExecutableDocument) -> u32 {
    use async_graphql::parser::types::{DocumentOperations, Selection, SelectionSet};

    /// Bytes per node of the tree (a `Positioned<Selection>` with its
    /// vectors and name is ~150 bytes; values and arguments less).
    const NODE: u64 = 192;

    fn set(selections: &SelectionSet, stack: &mut Vec<u64>) {
        for selection in &selections.items {
            let size = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let arguments: u64 = field
                        .arguments
                        .iter()
                        .map(|(name, value)| {
                            NODE + name.node.len() as u64 + value.node.to_string().len() as u64
                        })
                        .sum();
                    set(&field.selection_set.node, stack);
                    NODE + field.name.node.len() as u64 + arguments
                }
                Selection::FragmentSpread(_) => NODE,
                Selection::InlineFragment(inline) => {
                    set(&inline.node.selection_set.node, stack);
                    NODE
                }
            };
            stack.push(size);
        }
    }

    let mut sizes = Vec::new();
    match &document.operations {
        DocumentOperations::Single(operation) => {
            set(&operation.node.selection_set.node, &mut sizes)
        }
        DocumentOperations::Multiple(operations) => {
            for operation in operations.values() {
                set(&operation.node.selection_set.node, &mut sizes);
            }
        }
    }
    for fragment in document.fragments.values() {
        set(&fragment.node.selection_set.node, &mut sizes);
    }
    let total: u64 = NODE * 4 + sizes.iter().sum::<u64>();
    u32::try_from(total).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(text).unwrap()
    }

    #[test]
    fn the_budget_bounds_the_kept_bytes() {
        let cache = DocumentCache::new(1024 * 1024);
        for i in 0..2_000 {
            let text = format!("{{ a{i}: popularTags {{ name articlesCount }} }}");
            cache.insert(sha256(&text), parse(&text));
        }
        assert!(cache.weighted_size() <= 1024 * 1024);
        assert!(cache.weighted_size() > 0);
    }

    #[test]
    fn big_string_arguments_weigh_what_they_hold() {
        let small = parse("{ user(username: \"a\") { id } }");
        let big = parse(&format!(
            "{{ user(username: \"{}\") {{ id }} }}",
            "a".repeat(100_000)
        ));
        assert!(weight_of_tree(&big) > 100_000);
        assert!(weight_of_tree(&small) < 2_000);
    }
}
