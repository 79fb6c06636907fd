//! Objects answered field by field, in the order the query asks for them.
//!
//! Every `#[Object]` of the schema says `crate = "crate::graphql::ordered"`,
//! so the code the macro writes reaches async-graphql through this module:
//! all of it is async-graphql's own (the glob below) except
//! `resolver_utils::resolve_container`, which is `resolve_container` here.
//! The root object is async-graphql's own wrapper (`QueryRoot`, for
//! `__schema`), so its fields are put in order afterwards (`root_in_order`).
//!
//! # Implementation notes
//! async-graphql 7.2 resolves an object by boxing each selected field's
//! future and driving them in a `FuturesUnordered`, keeping each answer as
//! it finishes. Two costs follow:
//! 1. A response's fields come in the order they finished, not the order
//!    of the selection set (upstream issue #612; the spec says a response
//!    should keep it): `{ articles { totalCount pageInfo {...} } }` answered
//!    `pageInfo` first, since `totalCount` waits for its COUNT.
//! 2. Per field, a heap copy of a future as large as the type's largest
//!    field resolver, a task node and its wake-ups through an atomic queue:
//!    on `deep` (4,000 objects) those were the single biggest share of
//!    allocations (callgrind, BENCHMARKS.md).
//!
//! Here an object's field futures share one allocation (`InOrder`, which
//! polls them in order) and the answers are placed in selection order,
//! fragments expanded where they stand. A selection with a custom
//! directive goes async-graphql's way (the schema has none). Nor has it
//! extensions (`build_schema`), so no field here skips an extension chain.

pub use async_graphql::*;

/// async-graphql's `resolver_utils`, with this module's `resolve_container`.
pub mod resolver_utils {
    pub use super::resolve_container;
    pub use async_graphql::resolver_utils::*;
}

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

/// An object's fields, resolved side by side and answered in selection
/// order; what async-graphql's `resolve_container` does otherwise.
///
/// The one box per object is where the types end: a field's future holds
/// its value's `resolve`, and a `User`'s followers are `User`s again.
pub fn resolve_container<'a, 'b, T: ContainerType + ?Sized>(
    ctx: &'b ContextSelectionSet<'a>,
    root: &'a T,
) -> futures_util::future::BoxFuture<'b, ServerResult<Value>>
where
    'a: 'b,
{
    Box::pin(resolve_in_order(ctx, root))
}

async fn resolve_in_order<'a, T: ContainerType + ?Sized>(
    ctx: &ContextSelectionSet<'a>,
    root: &'a T,
) -> ServerResult<Value> {
    let mut selected = Vec::with_capacity(ctx.item.node.items.len());
    if !collect(ctx, root, &ctx.item.node, &mut selected, 0) {
        return async_graphql::resolver_utils::resolve_container(ctx, root).await;
    }
    let ctx = ctx.clone();
    let ctx = &ctx;
    let answers = InOrder::new(selected.iter().map(|&field| async move {
        if field.node.name.node == "__typename" {
            return Ok(Some(Value::String(
                root.introspection_type_name().into_owned(),
            )));
        }
        root.resolve_field(&ctx.with_field(field)).await
    }))
    .await;
    let mut object = IndexMap::with_capacity(selected.len());
    for (field, answer) in selected.iter().zip(answers) {
        match answer {
            Ok(value) => merge(
                &mut object,
                field.node.response_key().node.clone(),
                value.unwrap_or_default(),
            ),
            Err(error) => ctx.add_error(error),
        }
    }
    Ok(if object.is_empty() {
        Value::Null
    } else {
        Value::Object(object)
    })
}

/// Futures driven side by side and answered in order: what `join_all`
/// does for a few futures, less one copy of each.
///
/// `join_all` keeps a future and then its answer in one slot (`MaybeDone`)
/// and takes each answer out by swapping the whole slot onto the stack; a
/// slot is as large as the type's largest field future (about 1.5 KB), so
/// on `deep` that copy alone was ~0.5 M instructions a request (callgrind,
/// BENCHMARKS.md). Here a future is dropped where it stands when it is done
/// and its answer waits in a slot of its own. Like `join_all` below 30
/// futures, every wake-up polls each future not yet done, in order: what
/// the loaders count on (`batch::LoadOne`). An object's fields are bounded
/// by the query's cost (`limits`), so that walk stays short.
struct InOrder<F: Future> {
    pending: Pin<Box<[Option<F>]>>,
    answers: Vec<Option<F::Output>>,
}

impl<F: Future> InOrder<F> {
    fn new(futures: impl IntoIterator<Item = F>) -> Self {
        let pending: Box<[Option<F>]> = futures.into_iter().map(Some).collect();
        let answers = pending.iter().map(|_| None).collect();
        Self {
            pending: Box::into_pin(pending),
            answers,
        }
    }
}

// The answers are never pinned: only the futures are, in their own box.
impl<F: Future> Unpin for InOrder<F> {}

impl<F: Future> Future for InOrder<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut waiting = false;
        for (at, answer) in this.answers.iter_mut().enumerate() {
            // SAFETY: a future in `pending` is never moved: it is polled in
            // place and dropped in place (the slot set to `None`), and the
            // box itself is only ever reached through this `Pin`.
            let mut slot = unsafe {
                this.pending
                    .as_mut()
                    .map_unchecked_mut(|slots| &mut slots[at])
            };
            let Some(future) = slot.as_mut().as_pin_mut() else {
                continue;
            };
            match future.poll(cx) {
                Poll::Ready(done) => {
                    *answer = Some(done);
                    slot.set(None);
                }
                Poll::Pending => waiting = true,
            }
        }
        if waiting {
            return Poll::Pending;
        }
        Poll::Ready(
            std::mem::take(&mut this.answers)
                .into_iter()
                .map(|answer| answer.expect("a future not done leaves the join pending"))
                .collect(),
        )
    }
}

/// The fields `set` selects on `root`, in order, through the fragments
/// whose type condition `root` meets (its type, or an interface it
/// implements), as async-graphql's `Fields::add_set` collects them. False
/// when something is left for async-graphql: a field with a directive
/// (`@skip` and `@include` are gone by now: async-graphql strips them
/// before execution, so any left is a custom one) or an unknown fragment.
fn collect<'a, T: ContainerType + ?Sized>(
    ctx: &ContextSelectionSet<'a>,
    root: &T,
    set: &'a SelectionSet,
    fields: &mut Vec<&'a Positioned<Field>>,
    depth: usize,
) -> bool {
    // Validation refuses spread cycles; the depth is a second line.
    if depth > 64 {
        return false;
    }
    for selection in &set.items {
        let (condition, inner) = match &selection.node {
            Selection::Field(field) => {
                if !field.node.directives.is_empty() {
                    return false;
                }
                fields.push(field);
                continue;
            }
            Selection::InlineFragment(inline) => (
                inline.node.type_condition.as_ref(),
                &inline.node.selection_set.node,
            ),
            Selection::FragmentSpread(spread) => {
                match ctx.query_env.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) => (
                        Some(&fragment.node.type_condition),
                        &fragment.node.selection_set.node,
                    ),
                    None => return false,
                }
            }
        };
        if !selection.node.directives().is_empty() {
            return false;
        }
        let applies = condition.is_none_or(|condition| {
            let condition = condition.node.on.node.as_str();
            let type_name = root.introspection_type_name();
            type_name == condition
                || ctx
                    .schema_env
                    .registry
                    .implements
                    .get(&*type_name)
                    .is_some_and(|interfaces| interfaces.contains(condition))
        });
        if applies && !collect(ctx, root, inner, fields, depth + 1) {
            return false;
        }
    }
    true
}

/// Puts `value` under `key`; a key asked for twice (`{ a { x } a { y } }`)
/// gets one value with both answers' fields, as async-graphql merges them.
fn merge(object: &mut IndexMap<Name, Value>, key: Name, value: Value) {
    let Some(earlier) = object.get_mut(&key) else {
        object.insert(key, value);
        return;
    };
    match (earlier, value) {
        (Value::Object(earlier), Value::Object(later)) => {
            for (key, value) in later {
                merge(earlier, key, value);
            }
        }
        (Value::List(earlier), Value::List(later)) => {
            for (earlier, later) in earlier.iter_mut().zip(later) {
                if let (Value::Object(earlier), Value::Object(later)) = (earlier, later) {
                    for (key, value) in later {
                        merge(earlier, key, value);
                    }
                }
            }
        }
        _ => {}
    }
}

/// The response keys of an operation's root fields, in the order its
/// selection set names them (through its fragments): what `root_in_order`
/// puts them back in once the operation has run.
pub fn root_keys(
    document: &ExecutableDocument,
    selection_set: &SelectionSet,
    variables: &Variables,
) -> Vec<Name> {
    let mut keys = Vec::new();
    response_keys(document, selection_set, variables, &mut keys, 0);
    keys.into_iter().map(Name::new).collect()
}

/// Puts the root fields of `data` in the order of `keys` (`root_keys`), as
/// `resolve_container` answers every object below the root.
pub fn root_in_order(data: &mut Value, keys: &[Name]) {
    let Value::Object(fields) = data else {
        return;
    };
    if fields
        .keys()
        .eq(keys.iter().filter(|key| fields.contains_key(*key)))
    {
        return;
    }
    let mut ordered = IndexMap::with_capacity(fields.len());
    for key in keys {
        if let Some((key, value)) = fields.swap_remove_entry(key) {
            ordered.insert(key, value);
        }
    }
    // Nothing should be left; if anything is, it keeps its place at the end.
    ordered.extend(fields.drain(..));
    *fields = ordered;
}

/// The response keys of `set` in order, fragments expanded in place, the
/// selections `@skip` or `@include` leave out left out.
fn response_keys<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    variables: &Variables,
    keys: &mut Vec<&'a str>,
    depth: usize,
) {
    // A spread cycle is refused by validation; the depth cuts one anyway.
    if depth > 64 {
        return;
    }
    for selection in &set.items {
        if !included(selection.node.directives(), variables) {
            continue;
        }
        match &selection.node {
            Selection::Field(field) => {
                let key = field.node.response_key().node.as_str();
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            Selection::InlineFragment(inline) => response_keys(
                document,
                &inline.node.selection_set.node,
                variables,
                keys,
                depth + 1,
            ),
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    response_keys(
                        document,
                        &fragment.node.selection_set.node,
                        variables,
                        keys,
                        depth + 1,
                    );
                }
            }
        }
    }
}

/// Whether `@skip(if:)` and `@include(if:)` keep a selection.
fn included(
    directives: &[Positioned<async_graphql::parser::types::Directive>],
    variables: &Variables,
) -> bool {
    directives.iter().all(|directive| {
        let condition = directive
            .node
            .get_argument("if")
            .and_then(|value| {
                value
                    .node
                    .clone()
                    .into_const_with(|name| variables.get(&name).cloned().ok_or(()))
                    .ok()
            })
            .map(|value| matches!(value, Value::Boolean(true)));
        !matches!(
            (directive.node.name.node.as_str(), condition),
            ("skip", Some(true)) | ("include", Some(false))
        )
    })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use futures_util::FutureExt as _;

    use super::*;

    /// Pending `left` times (waking itself each time), then `answer`; says
    /// in `dropped` when it is dropped.
    struct After {
        left: usize,
        answer: &'static str,
        dropped: Rc<RefCell<Vec<&'static str>>>,
    }

    impl Future for After {
        type Output = &'static str;

        fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<&'static str> {
            if self.left == 0 {
                return Poll::Ready(self.answer);
            }
            self.left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    impl Drop for After {
        fn drop(&mut self) {
            self.dropped.borrow_mut().push(self.answer);
        }
    }

    /// Answers come in the order the futures were given, whatever order
    /// they finish in, and a finished future is dropped at once, not when
    /// the last one finishes.
    #[test]
    fn answers_in_order_and_drops_each_future_when_done() {
        let dropped = Rc::new(RefCell::new(Vec::new()));
        let after = |left, answer| After {
            left,
            answer,
            dropped: dropped.clone(),
        };
        let mut join = InOrder::new([after(3, "slow"), after(0, "now"), after(1, "soon")]);
        let waker = futures_util::task::noop_waker();
        let mut cx = TaskContext::from_waker(&waker);
        assert!(join.poll_unpin(&mut cx).is_pending());
        assert_eq!(*dropped.borrow(), ["now"]);
        assert!(join.poll_unpin(&mut cx).is_pending());
        assert_eq!(*dropped.borrow(), ["now", "soon"]);
        assert!(join.poll_unpin(&mut cx).is_pending());
        assert_eq!(
            join.poll_unpin(&mut cx),
            Poll::Ready(vec!["slow", "now", "soon"])
        );
        assert_eq!(*dropped.borrow(), ["now", "soon", "slow"]);
    }

    #[test]
    fn no_futures_is_an_empty_answer_at_once() {
        let mut join = InOrder::new(Vec::<futures_util::future::Ready<u8>>::new());
        let waker = futures_util::task::noop_waker();
        let mut cx = TaskContext::from_waker(&waker);
        assert_eq!(join.poll_unpin(&mut cx), Poll::Ready(vec![]));
    }
}
