//! Subscribers who asked for the same thing share one execution: per event,
//! one resolution of the selection and one JSON encoding of the `next`
//! payload, which every subscriber's socket then writes (after its own
//! `id`). Hasura's multiplexed live queries are the model: an event costs
//! one encoding per distinct subscription, not one per subscriber.
//!
//! What "the same" means is `Key`: the document, the operation, the
//! variables and the viewer. Everything a subscriber's own (its budget, its
//! caps, a refusal before it runs) is settled per subscriber before it
//! joins; only the execution is shared.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_graphql::Response;
use async_graphql::futures_util::stream::BoxStream;
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::task::AbortHandle;

use super::{Outgoing, SubscriptionGuard};
use crate::graphql::{Viewer, batching::Batches};
use crate::metrics::Metrics;

/// What makes two subscriptions the same one.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(super) struct Key {
    /// The SHA-256 of the document's text: the same document by text, APQ
    /// hash or stored id is one.
    document: String,
    operation: Option<String>,
    /// The variables as canonical JSON (keys sorted), so that key order in
    /// the client's JSON does not split a group.
    variables: String,
    /// Keyed by the viewer always, rather than only when the selection
    /// reaches a viewer-dependent field (`followedByViewer`, `email`,
    /// `notificationReceived`, ...): deciding that from the document would
    /// be one more list to keep right, and one miss would show one user's
    /// private fields to another. Anonymous subscribers, the many, all
    /// share one key. The session is part of it because `Session.current`
    /// reads it; one user in two tabs costs two executions, which is cheap.
    ///
    /// The connection's address and user agent are not part of it: only
    /// mutations read them (the sign-in lockout, a new session's agent),
    /// and a subscription runs none.
    viewer: ViewerKey,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum ViewerKey {
    Anonymous,
    User { id: i64, session: i64 },
}

impl Key {
    pub(super) fn new(
        document: &str,
        operation: Option<&str>,
        variables: &async_graphql::Variables,
        viewer: Viewer,
    ) -> Self {
        let viewer = match viewer {
            Viewer::User { id, session } => ViewerKey::User { id, session },
            // A refused token never gets a connection this far (`init`
            // closes it); were it to, it would share with nobody signed in.
            Viewer::Anonymous | Viewer::Refused(_) => ViewerKey::Anonymous,
        };
        let variables = serde_json::to_value(variables).unwrap_or(Value::Null);
        Self {
            document: document.to_owned(),
            operation: operation.map(str::to_owned),
            variables: canonical(variables).to_string(),
            viewer,
        }
    }
}

/// `value` with every object's keys in sorted order, whatever the map type
/// keeps (serde_json's may keep insertion order).
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// One subscriber: where its messages go and how they start.
pub(super) struct Member {
    outgoing: mpsc::Sender<Outgoing>,
    /// The subscriber's id, for its `complete` and `error`.
    id: Box<str>,
    /// `{"type":"next","id":<id>,"payload":` (or `data` in the legacy
    /// protocol): what goes before the shared payload.
    head: Arc<str>,
    /// Events dropped because its connection's queue was full, told to it
    /// with the next one that fits.
    missed: u64,
    /// Its place under the subscription caps, freed when it leaves or the
    /// execution ends.
    _place: SubscriptionGuard,
}

impl Member {
    pub(super) fn new(
        outgoing: mpsc::Sender<Outgoing>,
        id: &str,
        kind: &str,
        place: SubscriptionGuard,
    ) -> Self {
        let head = format!(
            "{{\"type\":\"{kind}\",\"id\":{},\"payload\":",
            Value::from(id)
        );
        Self {
            outgoing,
            id: id.into(),
            head: head.into(),
            missed: 0,
            _place: place,
        }
    }

    fn shared(&self, payload: &Arc<str>) -> Outgoing {
        Outgoing::Shared {
            head: Arc::clone(&self.head),
            payload: Arc::clone(payload),
        }
    }

    /// A message that must arrive (the last one): queued at once when there
    /// is room, else by a task that waits for room.
    fn send_last(&self, message: Value) {
        let message = Outgoing::text(&message);
        if let Err(TrySendError::Full(message)) = self.outgoing.try_send(message) {
            let outgoing = self.outgoing.clone();
            tokio::spawn(async move { outgoing.send(message).await });
        }
    }
}

/// The shared subscriptions running now.
#[derive(Default)]
pub struct Subscriptions {
    groups: Mutex<HashMap<Key, Arc<Group>>>,
}

/// One execution and the subscribers it answers.
struct Group {
    key: Key,
    members: Mutex<Members>,
    /// Set once: by the execution's end, or when its last subscriber left.
    ended: AtomicBool,
    task: OnceLock<AbortHandle>,
}

#[derive(Default)]
struct Members {
    next: u64,
    by_number: HashMap<u64, Member>,
}

/// What starts an execution for a new group.
pub(super) struct Execution {
    pub(super) responses: BoxStream<'static, Response>,
    /// Its DataLoader batches, driven as over HTTP (see `batching`).
    pub(super) batches: Batches,
    pub(super) metrics: Arc<Metrics>,
}

/// A subscriber's place in a group; dropping it unsubscribes.
pub(super) struct Membership {
    subscriptions: Arc<Subscriptions>,
    group: Arc<Group>,
    number: u64,
}

impl Membership {
    /// Whether the execution has ended (its `complete` or `error` is sent).
    pub(super) fn is_finished(&self) -> bool {
        self.group.ended.load(Ordering::Acquire)
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.subscriptions.leave(&self.group, self.number);
    }
}

impl Subscriptions {
    /// Adds `member` to the group of `key`, starting its execution with
    /// `start` when there is none yet.
    pub(super) fn join(
        self: &Arc<Self>,
        key: Key,
        member: Member,
        start: impl FnOnce() -> Execution,
    ) -> Membership {
        let mut groups = self.groups.lock().expect("BUG: poisoned");
        let group = match groups.get(&key) {
            Some(group) => Arc::clone(group),
            None => {
                let group = Arc::new(Group {
                    key: key.clone(),
                    members: Mutex::default(),
                    ended: AtomicBool::new(false),
                    task: OnceLock::new(),
                });
                let task = tokio::spawn(run(Arc::clone(self), Arc::clone(&group), start()));
                let _ = group.task.set(task.abort_handle());
                groups.insert(key, Arc::clone(&group));
                group
            }
        };
        let mut members = group.members.lock().expect("BUG: poisoned");
        let number = members.next;
        members.next += 1;
        members.by_number.insert(number, member);
        drop(members);
        Membership {
            subscriptions: Arc::clone(self),
            group,
            number,
        }
    }

    /// Removes a member; the last one out stops the execution.
    fn leave(&self, group: &Arc<Group>, number: u64) {
        let mut groups = self.groups.lock().expect("BUG: poisoned");
        let mut members = group.members.lock().expect("BUG: poisoned");
        members.by_number.remove(&number);
        if members.by_number.is_empty() && !group.ended.swap(true, Ordering::AcqRel) {
            forget(&mut groups, group);
            if let Some(task) = group.task.get() {
                task.abort();
            }
        }
    }

    /// The execution is over: nobody joins it any more, and each member
    /// gets its last message.
    fn end(&self, group: &Arc<Group>, last: impl Fn(&Member) -> Value) {
        let members = {
            let mut groups = self.groups.lock().expect("BUG: poisoned");
            forget(&mut groups, group);
            group.ended.store(true, Ordering::Release);
            std::mem::take(&mut group.members.lock().expect("BUG: poisoned").by_number)
        };
        for member in members.values() {
            member.send_last(last(member));
        }
    }

    /// How many executions run now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.groups.lock().expect("BUG: poisoned").len()
    }
}

/// Takes `group` off the map, unless its key already names a newer one.
fn forget(groups: &mut HashMap<Key, Arc<Group>>, group: &Arc<Group>) {
    if groups
        .get(&group.key)
        .is_some_and(|current| Arc::ptr_eq(current, group))
    {
        groups.remove(&group.key);
    }
}

impl Group {
    /// Queues one encoded response to every member; answers how many took
    /// it. A member whose connection is full misses it (waiting for one
    /// slow reader would hold up everyone) and is told how many it missed.
    fn deliver(&self, payload: &Arc<str>) -> usize {
        let mut members = self.members.lock().expect("BUG: poisoned");
        let mut delivered = 0;
        for member in members.by_number.values_mut() {
            if member.missed > 0 {
                let notice = missed_notice(member.missed);
                match member.outgoing.try_send(member.shared(&notice)) {
                    Ok(()) => member.missed = 0,
                    Err(_) => {
                        member.missed += 1;
                        continue;
                    }
                }
            }
            match member.outgoing.try_send(member.shared(payload)) {
                Ok(()) => delivered += 1,
                Err(TrySendError::Full(_)) => member.missed += 1,
                // The connection is closing; its membership leaves with it.
                Err(TrySendError::Closed(_)) => {}
            }
        }
        delivered
    }
}

/// The payload that tells a subscriber it missed events.
fn missed_notice(missed: u64) -> Arc<str> {
    json!({
        "data": null,
        "errors": [{
            "message": format!("this subscription fell behind and missed {missed} events; refetch to catch up"),
            "extensions": { "code": "INTERNAL_SERVER_ERROR" },
        }],
    })
    .to_string()
    .into()
}

/// The execution: each response encoded once and queued to every member.
async fn run(subscriptions: Arc<Subscriptions>, group: Arc<Group>, execution: Execution) {
    let Execution {
        mut responses,
        batches,
        metrics,
    } = execution;
    let mut first = true;
    while let Some(response) =
        crate::graphql::batching::drive(responses.next(), batches.clone()).await
    {
        // Refused before it ran (validation, a subscription that cannot
        // start): an `error` message, and the end. The same document,
        // variables and viewer are refused alike, so it is everyone's.
        if first && response.data == async_graphql::Value::Null && response.is_err() {
            let errors = serde_json::to_value(&response.errors).unwrap_or(Value::Null);
            subscriptions.end(
                &group,
                |member| json!({ "type": "error", "id": &*member.id, "payload": errors }),
            );
            return;
        }
        first = false;
        let payload: Arc<str> = serde_json::to_string(&response)
            .expect("BUG: a response always encodes")
            .into();
        let delivered = group.deliver(&payload);
        metrics.record_subscription_response(delivered);
    }
    subscriptions.end(
        &group,
        |member| json!({ "type": "complete", "id": &*member.id }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::futures_util::stream;

    fn key(variables: Value, viewer: Viewer) -> Key {
        let variables = async_graphql::Variables::from_json(variables);
        Key::new("hash", None, &variables, viewer)
    }

    #[test]
    fn variables_in_another_order_are_the_same_key() {
        let a = key(
            json!({ "a": 1, "b": { "x": 1, "y": 2 } }),
            Viewer::Anonymous,
        );
        let b = key(
            json!({ "b": { "y": 2, "x": 1 }, "a": 1 }),
            Viewer::Anonymous,
        );
        assert_eq!(a, b);
        assert_ne!(a, key(json!({ "a": 2, "b": {} }), Viewer::Anonymous));
    }

    #[test]
    fn viewers_are_never_the_same_key() {
        let jane = Viewer::User { id: 1, session: 1 };
        let bob = Viewer::User { id: 2, session: 2 };
        assert_ne!(key(json!({}), jane), key(json!({}), bob));
        assert_ne!(key(json!({}), jane), key(json!({}), Viewer::Anonymous));
    }

    /// A place under caps nobody counts.
    fn place() -> SubscriptionGuard {
        let connections = Arc::new(super::super::Connections::default());
        connections.subscriptions.fetch_add(1, Ordering::Relaxed);
        SubscriptionGuard(connections)
    }

    fn execution(responses: Vec<Response>) -> Execution {
        Execution {
            responses: stream::iter(responses).chain(stream::pending()).boxed(),
            batches: Batches::default(),
            metrics: Arc::default(),
        }
    }

    fn text(outgoing: Outgoing) -> String {
        match outgoing.into_message() {
            axum::extract::ws::Message::Text(text) => text.as_str().to_owned(),
            other => panic!("not text: {other:?}"),
        }
    }

    #[tokio::test]
    async fn members_of_one_key_get_one_encoding_each_with_their_own_id() {
        let subscriptions = Arc::new(Subscriptions::default());
        let (tx_a, mut rx_a) = mpsc::channel(4);
        let (tx_b, mut rx_b) = mpsc::channel(4);
        let response = Response::new(async_graphql::Value::from_json(json!({ "n": 1 })).unwrap());
        let mut started = 0;
        let a = subscriptions.join(
            key(json!({}), Viewer::Anonymous),
            Member::new(tx_a, "1", "next", place()),
            || {
                started += 1;
                execution(vec![response])
            },
        );
        let b = subscriptions.join(
            key(json!({}), Viewer::Anonymous),
            Member::new(tx_b, "x\"y", "data", place()),
            || {
                started += 1;
                execution(Vec::new())
            },
        );
        assert_eq!(started, 1, "the second joins the first's execution");

        let a_text: Value = serde_json::from_str(&text(rx_a.recv().await.unwrap())).unwrap();
        let b_text: Value = serde_json::from_str(&text(rx_b.recv().await.unwrap())).unwrap();
        assert_eq!(
            a_text,
            json!({ "type": "next", "id": "1", "payload": { "data": { "n": 1 } } })
        );
        assert_eq!(
            b_text,
            json!({ "type": "data", "id": "x\"y", "payload": { "data": { "n": 1 } } })
        );

        drop(a);
        assert_eq!(subscriptions.len(), 1);
        drop(b);
        assert_eq!(subscriptions.len(), 0, "the last one out stops it");
    }

    #[tokio::test]
    async fn a_member_whose_queue_is_full_is_told_what_it_missed() {
        let subscriptions = Arc::new(Subscriptions::default());
        let (events, queued) = mpsc::unbounded_channel();
        let (tx, mut rx) = mpsc::channel(2);
        let _member = subscriptions.join(
            key(json!({}), Viewer::Anonymous),
            Member::new(tx, "1", "next", place()),
            || Execution {
                responses: tokio_stream::wrappers::UnboundedReceiverStream::new(queued).boxed(),
                batches: Batches::default(),
                metrics: Arc::default(),
            },
        );
        let event =
            |n: i32| Response::new(async_graphql::Value::from_json(json!({ "n": n })).unwrap());
        let settle = || tokio::time::sleep(std::time::Duration::from_millis(20));
        let mut next =
            async || -> Value { serde_json::from_str(&text(rx.recv().await.unwrap())).unwrap() };

        // Arrange: three events while nobody reads; two fit.
        for n in 1..=3 {
            events.send(event(n)).unwrap();
        }
        settle().await;
        assert_eq!(next().await["payload"]["data"]["n"], 1);
        assert_eq!(next().await["payload"]["data"]["n"], 2);

        // Act: the next event, with room again.
        events.send(event(4)).unwrap();
        settle().await;

        // Assert: first what was missed, then the event.
        let notice = next().await;
        let message = notice["payload"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains("missed 1 events"), "{notice:#}");
        assert_eq!(next().await["payload"]["data"]["n"], 4);
    }
}
