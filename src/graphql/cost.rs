//! What a request may cost, computed before it runs.
//!
//! Every field costs 1 (or its weight, below), plus what it selects; a field
//! that answers a page (it has a `first` argument) multiplies what it
//! selects by its page size, and one that answers an entry per id (an `ids`
//! argument) by the number of ids, duplicates included. The fields that hash
//! a password (argon2 keeps a core busy for ~10 ms) weigh
//! [`PASSWORD_HASH_COST`], so a request holds only a handful of them. A
//! batch is costed as one request (see `pipeline`).
//!
//! # Implementation notes
//! async-graphql's own complexity count added `usize`s unchecked (a
//! `first: 2147483647` in a branch that never runs steered the total to any
//! value modulo 2^64) and knew nothing of batches or list arguments, so it
//! is off and this model is the only one. Arithmetic saturates; `first`
//! is clamped to the range the resolvers accept (1..=100) before it
//! multiplies anything, so a value the resolver will refuse costs what the
//! largest page would. Fragments are costed once each and counted at every
//! spread, so `A { ...B ...B } B { ...C ...C }` costs what its expansion
//! would (which is what validation and execution would walk).
//! The types come from the schema's own SDL, read once at start.

use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, FragmentDefinition, OperationType, Selection,
    SelectionSet, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, Positioned, Variables};
// The parser's values, which may be variables (async-graphql re-exports
// only the constant ones).
use async_graphql_value::{ConstValue, Value};

use super::bounds::MAX_NESTING;
use crate::domain::pagination::{DEFAULT_PAGE, MAX_PAGE};
use crate::domain::{articles, comments, validate, webhooks};

/// What one argon2 hash costs: `signUp`, `signIn`, `resetPassword` and an
/// `updateViewer` that changes the password. With the default limit of
/// 50,000 a request (a batch included) holds at most nine.
pub const PASSWORD_HASH_COST: u64 = 5_000;

/// Characters of stored text that one unit of cost pays for. A text field
/// weighs its longest allowed value in these units (at least 1), so the
/// default limit of 50,000 answers at most about 10 million characters,
/// whatever clients have written: a page of article bodies of the seed's
/// 2 KB each is cheap to serve, but the same page of 100,000-character
/// bodies is not, and the cost must hold for both.
pub const TEXT_PER_COST: u64 = 200;

/// The weight of a text field whose values are at most `max_chars` long.
const fn text(max_chars: usize) -> u64 {
    let weight = max_chars as u64 / TEXT_PER_COST;
    if weight == 0 { 1 } else { weight }
}

/// Fields that carry a weight of their own, by parent type and name.
const WEIGHTS: &[(&str, &str, u64)] = &[
    ("Article", "body", text(articles::BODY_MAX)),
    ("Article", "description", text(articles::DESCRIPTION_MAX)),
    ("Article", "title", text(articles::TITLE_MAX)),
    ("Comment", "body", text(comments::BODY_MAX)),
    ("User", "bio", text(validate::BIO_MAX)),
    ("User", "image", text(validate::URL_MAX)),
    ("Webhook", "url", text(webhooks::URL_MAX)),
    // The longest body is a comment.added's: the comment's whole body
    // beside the article's slug and the author's username.
    (
        "WebhookDelivery",
        "payload",
        text(comments::BODY_MAX + 1_000),
    ),
    ("Mutation", "signUp", PASSWORD_HASH_COST),
    ("Mutation", "signIn", PASSWORD_HASH_COST),
    ("Mutation", "resetPassword", PASSWORD_HASH_COST),
];

/// Fields that answer a plain list (no `first`), with the most entries it
/// can hold: their selection is answered that many times.
const BOUNDED_LISTS: &[(&str, &str, u64)] = &[
    ("User", "webhooks", webhooks::MAX_PER_USER as u64),
    ("User", "sessions", crate::domain::sessions::LIST_MAX),
];

/// Why a request cannot run.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Fragments spread within fragments deeper than any selection may nest.
    TooDeep,
}

/// The schema's types, as far as costing needs them.
pub struct CostModel {
    types: HashMap<Name, HashMap<Name, FieldInfo>>,
    roots: [Name; 3],
}

struct FieldInfo {
    /// The named type it answers (lists and non-null unwrapped).
    ty: Name,
    /// `Some(default)` for a page: the default of its `first` argument.
    first: Option<u64>,
    /// Answers one entry per id of its `ids` argument.
    per_id: bool,
    /// For a plain list of bounded length: the bound.
    bounded_list: Option<u64>,
    weight: u64,
}

impl CostModel {
    /// Reads the schema from its SDL (`AppSchema::sdl`).
    pub fn from_sdl(sdl: &str) -> Self {
        let document =
            async_graphql::parser::parse_schema(sdl).expect("BUG: the schema's own SDL parses");
        let mut types = HashMap::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(definition) = definition else {
                continue;
            };
            let definition = definition.node;
            let fields = match definition.kind {
                TypeKind::Object(object) => object.fields,
                TypeKind::Interface(interface) => interface.fields,
                _ => continue,
            };
            let parent = definition.name.node;
            let fields = fields
                .into_iter()
                .map(|field| {
                    let field = field.node;
                    let argument = |name: &str| {
                        field
                            .arguments
                            .iter()
                            .find(|argument| argument.node.name.node == name)
                    };
                    let first = argument("first").map(|first| {
                        match first.node.default_value.as_ref().map(|v| &v.node) {
                            Some(ConstValue::Number(n)) => n.as_u64().unwrap_or(DEFAULT_PAGE),
                            _ => DEFAULT_PAGE,
                        }
                    });
                    let weight = WEIGHTS
                        .iter()
                        .find(|(ty, name, _)| *ty == parent.as_str() && *name == field.name.node)
                        .map_or(1, |(_, _, weight)| *weight);
                    let bounded_list = BOUNDED_LISTS
                        .iter()
                        .find(|(ty, name, _)| *ty == parent.as_str() && *name == field.name.node)
                        .map(|(_, _, bound)| *bound);
                    let info = FieldInfo {
                        ty: named_type(&field.ty.node).clone(),
                        first,
                        per_id: argument("ids").is_some(),
                        bounded_list,
                        weight,
                    };
                    (field.name.node, info)
                })
                .collect();
            types.insert(parent, fields);
        }
        Self {
            types,
            roots: [
                Name::new("Query"),
                Name::new("Mutation"),
                Name::new("Subscription"),
            ],
        }
    }

    /// What running `document`'s chosen operation costs. Every other
    /// operation and fragment of the document must also stay within
    /// `limit` (validation walks them all), or the whole is refused as
    /// costing more than the limit.
    pub fn cost(
        &self,
        document: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Variables,
        limit: u64,
    ) -> Result<u64, Refusal> {
        let mut walk = Walk {
            model: self,
            document,
            variables,
            fragments: HashMap::new(),
            defaults: HashMap::new(),
        };
        for (name, fragment) in &document.fragments {
            if walk.fragment(name, &fragment.node, 0)? > limit {
                return Ok(u64::MAX);
            }
        }
        let operations: Vec<_> = match &document.operations {
            DocumentOperations::Single(operation) => vec![(None, operation)],
            DocumentOperations::Multiple(operations) => operations
                .iter()
                .map(|(name, operation)| (Some(name.as_str()), operation))
                .collect(),
        };
        let mut chosen = 0;
        for (index, (name, operation)) in operations.iter().enumerate() {
            let operation = &operation.node;
            walk.defaults = operation
                .variable_definitions
                .iter()
                .filter_map(|definition| {
                    let default = definition.node.default_value.as_ref()?;
                    Some((definition.node.name.node.clone(), default.node.clone()))
                })
                .collect();
            let root = &self.roots[match operation.ty {
                OperationType::Query => 0,
                OperationType::Mutation => 1,
                OperationType::Subscription => 2,
            }];
            let cost = walk.selection_set(root, &operation.selection_set.node, 0)?;
            let is_chosen = match operation_name {
                Some(wanted) => name == &Some(wanted),
                None => index == 0,
            };
            if is_chosen {
                chosen = cost;
            } else if cost > limit {
                return Ok(u64::MAX);
            }
        }
        Ok(chosen)
    }
}

struct Walk<'a> {
    model: &'a CostModel,
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    /// Each fragment's cost once known; `None` while it is being costed (a
    /// cycle, which validation refuses, costs nothing here).
    fragments: HashMap<Name, Option<u64>>,
    /// The operation's variable defaults.
    defaults: HashMap<Name, ConstValue>,
}

impl Walk<'_> {
    fn fragment(
        &mut self,
        name: &Name,
        fragment: &FragmentDefinition,
        depth: usize,
    ) -> Result<u64, Refusal> {
        match self.fragments.get(name) {
            Some(Some(cost)) => return Ok(*cost),
            Some(None) => return Ok(0),
            None => {}
        }
        self.fragments.insert(name.clone(), None);
        let on = fragment.type_condition.node.on.node.clone();
        let cost = self.selection_set(&on, &fragment.selection_set.node, depth + 1)?;
        self.fragments.insert(name.clone(), Some(cost));
        Ok(cost)
    }

    fn selection_set(
        &mut self,
        parent: &Name,
        set: &SelectionSet,
        depth: usize,
    ) -> Result<u64, Refusal> {
        // Selections nest at most MAX_NESTING deep in the text; spreads of
        // fragments within fragments could go deeper, and this walk (like
        // validation) recurses.
        if depth > 2 * MAX_NESTING {
            return Err(Refusal::TooDeep);
        }
        let mut total = 0u64;
        for selection in &set.items {
            let cost = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let info = self
                        .model
                        .types
                        .get(parent)
                        .and_then(|fields| fields.get(&field.name.node));
                    let Some(info) = info else {
                        // `__typename` and introspection: 1 each, and what
                        // they select.
                        let ty = Name::new("");
                        let children =
                            self.selection_set(&ty, &field.selection_set.node, depth + 1)?;
                        total = total.saturating_add(1).saturating_add(children);
                        continue;
                    };
                    let children =
                        self.selection_set(&info.ty, &field.selection_set.node, depth + 1)?;
                    let times = self.multiplier(info, &field.arguments);
                    let weight = if parent == "Mutation"
                        && field.name.node == "updateViewer"
                        && self.sets_password(&field.arguments)
                    {
                        PASSWORD_HASH_COST
                    } else {
                        info.weight
                    };
                    weight.saturating_add(times.saturating_mul(children))
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    let cost = match self.document.fragments.get(name) {
                        Some(fragment) => self.fragment(name, &fragment.node, depth)?,
                        None => 0,
                    };
                    cost.saturating_add(1)
                }
                Selection::InlineFragment(inline) => {
                    let on = inline.node.type_condition.as_ref().map_or_else(
                        || parent.clone(),
                        |condition| condition.node.on.node.clone(),
                    );
                    self.selection_set(&on, &inline.node.selection_set.node, depth + 1)?
                        .saturating_add(1)
                }
            };
            total = total.saturating_add(cost);
        }
        Ok(total)
    }

    /// How many times a field's selection is answered.
    fn multiplier(
        &self,
        info: &FieldInfo,
        arguments: &[(Positioned<Name>, Positioned<Value>)],
    ) -> u64 {
        let argument = |name: &str| {
            arguments
                .iter()
                .find(|(argument, _)| argument.node == name)
                .and_then(|(_, value)| self.resolve(&value.node))
        };
        if let Some(default) = info.first {
            let first = match argument("first") {
                Some(ConstValue::Number(n)) => n.as_i64().unwrap_or(i64::MAX),
                Some(_) => default as i64,
                None => default as i64,
            };
            return first.clamp(1, MAX_PAGE as i64) as u64;
        }
        if let Some(bound) = info.bounded_list {
            return bound;
        }
        if info.per_id {
            return match argument("ids") {
                Some(ConstValue::List(ids)) => ids.len() as u64,
                _ => 1,
            };
        }
        1
    }

    fn sets_password(&self, arguments: &[(Positioned<Name>, Positioned<Value>)]) -> bool {
        arguments.iter().any(|(name, value)| {
            name.node == "input"
                && match self.resolve(&value.node) {
                    Some(ConstValue::Object(fields)) => fields
                        .get("password")
                        .is_some_and(|password| *password != ConstValue::Null),
                    _ => false,
                }
        })
    }

    /// An argument's value with its variables filled in (from the request,
    /// or the operation's defaults). `None` when a variable has no value.
    fn resolve(&self, value: &Value) -> Option<ConstValue> {
        value
            .clone()
            .into_const_with(|name| {
                self.variables
                    .get(&name)
                    .or_else(|| self.defaults.get(&name))
                    .cloned()
                    .ok_or(())
            })
            .ok()
    }
}

fn named_type(ty: &Type) -> &Name {
    match &ty.base {
        BaseType::Named(name) => name,
        BaseType::List(inner) => named_type(inner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(query: &str, variables: serde_json::Value) -> u64 {
        let model = CostModel::from_sdl(&crate::graphql::sdl());
        let document = async_graphql::parser::parse_query(query).unwrap();
        model
            .cost(&document, None, &Variables::from_json(variables), 50_000)
            .unwrap()
    }

    #[test]
    fn a_page_multiplies_what_it_selects_by_its_size() {
        assert_eq!(
            cost("{ popularTags { name } }", serde_json::json!({})),
            1 + 20
        );
        assert_eq!(
            cost(
                "{ articles(first: 5) { nodes { title } } }",
                serde_json::json!({})
            ),
            1 + 5 * 2
        );
        assert_eq!(
            cost(
                "query($n: Int) { articles(first: $n) { nodes { title } } }",
                serde_json::json!({ "n": 7 })
            ),
            1 + 7 * 2
        );
    }

    #[test]
    fn a_users_webhooks_count_as_many_as_a_user_may_have() {
        let one = cost("{ viewer { webhooks { id } } }", serde_json::json!({}));
        assert_eq!(one, 2 + webhooks::MAX_PER_USER as u64);
        let logs = cost(
            "{ viewer { webhooks { deliveries(first: 10) { nodes { payload } } } } }",
            serde_json::json!({}),
        );
        assert!(logs > webhooks::MAX_PER_USER as u64 * 10 * 50, "{logs}");
    }

    #[test]
    fn first_is_clamped_before_it_multiplies() {
        let huge = "{ articles(first: 2147483647) { nodes { title } } }";
        assert_eq!(cost(huge, serde_json::json!({})), 1 + 100 * 2);
        let negative = "{ articles(first: -5) { nodes { title } } }";
        assert_eq!(cost(negative, serde_json::json!({})), 1 + 2);
    }

    #[test]
    fn ids_count_with_their_duplicates() {
        let ids: Vec<_> = (0..250).map(|_| "x").collect();
        assert_eq!(
            cost(
                "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
                serde_json::json!({ "ids": ids })
            ),
            1 + 250
        );
    }

    #[test]
    fn fragments_count_at_every_spread_and_saturate() {
        let mut query = String::from("{ viewer { ...F0 } }\n");
        for i in 0..70 {
            query.push_str(&format!(
                "fragment F{i} on User {{ ...F{} ...F{} }}\n",
                i + 1,
                i + 1
            ));
        }
        query.push_str("fragment F70 on User { id }");
        assert_eq!(cost(&query, serde_json::json!({})), u64::MAX);
    }

    #[test]
    fn text_weighs_its_longest_value() {
        // 100,000 characters of body: 500 units.
        assert_eq!(
            cost(
                "{ articles(first: 10) { nodes { body } } }",
                serde_json::json!({})
            ),
            1 + 10 * (1 + 500)
        );
        assert_eq!(text(10), 1);
    }

    /// The operations the benchmarks (and so the clients they stand for)
    /// send stay well within the default limit.
    #[test]
    fn the_benchmark_operations_fit() {
        let ops = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peers/ops");
        let Ok(entries) = std::fs::read_dir(&ops) else {
            panic!(
                "{} is missing: ../shared must sit beside the project",
                ops.display()
            );
        };
        let mut seen = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "graphql") {
                let text = std::fs::read_to_string(&path)
                    .unwrap()
                    .replace("ARTICLE_SLUG", "s");
                let cost = cost(&text, serde_json::json!({}));
                println!("{}: {cost}", path.display());
                assert!(cost <= 40_000, "{}: {cost}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 4);
    }

    #[test]
    fn password_hashes_weigh_more() {
        let sign_in = "mutation { a: signIn(input: { email: \"a\", password: \"b\" }) { token } }";
        assert_eq!(cost(sign_in, serde_json::json!({})), PASSWORD_HASH_COST + 1);
    }
}
