//! Keys collected into batches and their answers handed back: what a
//! request's loaders (see `loaders`) are made of, one `Slot` per kind of key.
//!
//! # Implementation notes
//! This replaces async-graphql's `DataLoader`, which did the same job with
//! more bookkeeping per key than the statement behind it cost on SQLite: each
//! `load_one` built a `HashSet` of its one key, a `HashMap` for its answer and
//! a oneshot channel, every map hashed with SipHash, and every answer was
//! cloned once per caller (callgrind on `deep`: some ten hashes a key, and
//! SipHash alone 4 % of the request). Here a key is counted into its batch
//! (one FxHash), the batch's answers wait in one map, and each caller takes
//! its own: the last caller of a key gets the value itself, not a copy.
//! Batches go out as `batching` drives them, exactly as the `DataLoader`'s
//! tasks did: when the request can make no progress without them.

use std::future::Future;
use std::hash::Hash;
use std::mem;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use rustc_hash::FxHashMap;

use super::batching::Batches;
use crate::domain;

/// How many distinct keys one statement asks for at most, as the
/// `DataLoader` batched them (its default `max_batch_size`): a level with
/// more goes out as several statements.
const MAX_KEYS: usize = 1_000;

/// Answers one batch of keys of one kind.
pub trait Load<K>: Send + Sync + 'static {
    type Value: Send + Sync + 'static;

    /// The values found, by key; a key without one has none.
    fn load(
        &self,
        keys: &[K],
    ) -> impl Future<Output = Result<FxHashMap<K, Self::Value>, Arc<domain::Error>>> + Send;
}

/// Where the keys of one kind go: the batch that is still open to them.
pub struct Slot<K, V> {
    open: Mutex<Option<Arc<Batch<K, V>>>>,
}

impl<K, V> Default for Slot<K, V> {
    fn default() -> Self {
        Self {
            open: Mutex::new(None),
        }
    }
}

impl<K: Copy + Eq + Hash + Send + Sync + 'static, V: Send + Sync + 'static> Slot<K, V> {
    /// Counts `key` into the open batch, opening one (and queueing its load
    /// in `batches`) when there is none or it has started or is full. The
    /// returned future waits for the batch's answer for `key`.
    pub fn load_one<L>(&self, key: K, loader: &Arc<L>, batches: &Batches) -> LoadOne<K, V>
    where
        L: Load<K, Value = V>,
    {
        let mut open = self.open.lock().expect("loader slot poisoned");
        if let Some(batch) = open.as_ref()
            && batch.add(key)
        {
            return LoadOne::new(batch.clone(), key);
        }
        let batch = Arc::new(Batch::with(key));
        *open = Some(batch.clone());
        drop(open);
        let (loader, loading) = (loader.clone(), batch.clone());
        batches.queue(Box::pin(async move {
            let callers = loading.start();
            let keys: Vec<K> = callers.keys().copied().collect();
            let found = loader.load(&keys).await;
            loading.finish(callers, found);
        }));
        LoadOne::new(batch, key)
    }
}

/// One batch: its keys until it starts, then its answers until every
/// caller has taken theirs.
pub struct Batch<K, V> {
    keys: Mutex<Keys<K>>,
    outcome: Mutex<Outcome<K, V>>,
}

/// A batch's distinct keys and how many callers asked for each.
struct Keys<K> {
    callers: FxHashMap<K, u32>,
    started: bool,
}

enum Outcome<K, V> {
    /// Not answered yet: the callers to wake when it is.
    Waiting(Vec<Waker>),
    /// Each key's value (if one was found) and how many callers have yet
    /// to take it.
    Answered(FxHashMap<K, (Option<Arc<V>>, u32)>),
    Failed(Arc<domain::Error>),
}

impl<K: Copy + Eq + Hash, V> Batch<K, V> {
    fn with(key: K) -> Self {
        let mut callers = FxHashMap::default();
        callers.insert(key, 1);
        Self {
            keys: Mutex::new(Keys {
                callers,
                started: false,
            }),
            outcome: Mutex::new(Outcome::Waiting(Vec::new())),
        }
    }

    /// Counts one more caller of `key`, unless the batch has started or
    /// has no room for another key.
    fn add(&self, key: K) -> bool {
        let mut keys = self.keys.lock().expect("loader batch poisoned");
        if keys.started {
            return false;
        }
        let full = keys.callers.len() >= MAX_KEYS;
        match keys.callers.get_mut(&key) {
            Some(callers) => *callers += 1,
            None if full => return false,
            None => {
                keys.callers.insert(key, 1);
            }
        }
        true
    }

    /// Closes the batch to new keys and returns them, each with how many
    /// callers asked for it.
    fn start(&self) -> FxHashMap<K, u32> {
        let mut keys = self.keys.lock().expect("loader batch poisoned");
        keys.started = true;
        mem::take(&mut keys.callers)
    }

    fn finish(
        &self,
        callers: FxHashMap<K, u32>,
        found: Result<FxHashMap<K, V>, Arc<domain::Error>>,
    ) {
        let outcome = match found {
            Ok(mut found) => Outcome::Answered(
                callers
                    .into_iter()
                    .map(|(key, callers)| (key, (found.remove(&key).map(Arc::new), callers)))
                    .collect(),
            ),
            Err(error) => Outcome::Failed(error),
        };
        let waiting = mem::replace(
            &mut *self.outcome.lock().expect("loader batch poisoned"),
            outcome,
        );
        if let Outcome::Waiting(wakers) = waiting {
            wakers.into_iter().for_each(Waker::wake);
        }
    }
}

/// One caller's wait for its key's answer.
pub struct LoadOne<K, V> {
    batch: Arc<Batch<K, V>>,
    key: K,
    /// Where its waker is in the batch's list, once it has waited.
    waker: Option<usize>,
}

impl<K, V> LoadOne<K, V> {
    fn new(batch: Arc<Batch<K, V>>, key: K) -> Self {
        Self {
            batch,
            key,
            waker: None,
        }
    }
}

impl<K, V> Unpin for LoadOne<K, V> {}

impl<K: Copy + Eq + Hash, V> Future for LoadOne<K, V> {
    type Output = Result<Option<Arc<V>>, Arc<domain::Error>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut outcome = this.batch.outcome.lock().expect("loader batch poisoned");
        match &mut *outcome {
            // A future inside `join_all` is polled again whenever a sibling
            // wakes: it keeps one place in the list rather than adding one
            // on every poll.
            Outcome::Waiting(wakers) => {
                match this.waker {
                    Some(at) if wakers[at].will_wake(cx.waker()) => {}
                    Some(at) => wakers[at] = cx.waker().clone(),
                    None => {
                        this.waker = Some(wakers.len());
                        wakers.push(cx.waker().clone());
                    }
                }
                Poll::Pending
            }
            Outcome::Failed(error) => Poll::Ready(Err(error.clone())),
            Outcome::Answered(answers) => {
                let Some((value, callers)) = answers.get_mut(&this.key) else {
                    return Poll::Ready(Ok(None));
                };
                *callers -= 1;
                let value = if *callers == 0 {
                    answers.remove(&this.key).and_then(|(value, _)| value)
                } else {
                    value.clone()
                };
                Poll::Ready(Ok(value))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_graphql::futures_util::future::join_all;

    use super::*;
    use crate::graphql::batching;

    /// Squares its keys, remembering each batch it was asked; key 7 has no
    /// value, and a batch holding 13 fails.
    #[derive(Default)]
    struct Squares {
        asked: Mutex<Vec<Vec<i64>>>,
    }

    impl Load<i64> for Squares {
        type Value = String;

        async fn load(&self, keys: &[i64]) -> Result<FxHashMap<i64, String>, Arc<domain::Error>> {
            let mut sorted = keys.to_vec();
            sorted.sort_unstable();
            self.asked.lock().unwrap().push(sorted);
            if keys.contains(&13) {
                return Err(Arc::new(domain::Error::NotFound("thirteen".into())));
            }
            // The answer arrives later, as a statement's would.
            tokio::task::yield_now().await;
            Ok(keys
                .iter()
                .filter(|&&k| k != 7)
                .map(|&k| (k, (k * k).to_string()))
                .collect())
        }
    }

    type Found = Vec<Result<Option<Arc<String>>, Arc<domain::Error>>>;

    /// What each caller of `keys` got, what the loader was asked, and how
    /// many hold each answer while the slot still lives.
    fn load_all(keys: &[i64]) -> (Found, Vec<Vec<i64>>, Vec<usize>) {
        let loader = Arc::new(Squares::default());
        let slot = Slot::default();
        let batches = Batches::default();
        let loads = keys
            .iter()
            .map(|&key| slot.load_one(key, &loader, &batches));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let found = runtime.block_on(batching::drive(join_all(loads), batches));
        let asked = loader.asked.lock().unwrap().clone();
        let holders = found
            .iter()
            .map(|found| {
                found
                    .as_ref()
                    .map_or(0, |v| v.as_ref().map_or(0, Arc::strong_count))
            })
            .collect();
        drop(slot);
        (found, asked, holders)
    }

    #[test]
    fn one_batch_answers_every_caller_and_keeps_no_copy_of_what_they_took() {
        let (found, asked, holders) = load_all(&[3, 2, 3, 7, 3]);
        assert_eq!(asked, vec![vec![2, 3, 7]], "distinct keys, one batch");
        let values: Vec<_> = found
            .iter()
            .map(|found| found.as_ref().unwrap().as_deref().cloned())
            .collect();
        assert_eq!(
            values,
            [Some("9"), Some("4"), Some("9"), None, Some("9")].map(|v| v.map(str::to_owned))
        );
        // Only 3's three callers hold its value, 2's one caller its own: the
        // batch kept none, so the last caller to let go can move it out.
        assert_eq!(holders, [3, 1, 3, 0, 3]);
    }

    #[test]
    fn a_failed_batch_fails_each_of_its_callers() {
        let (found, asked, _) = load_all(&[13, 1, 13]);
        assert_eq!(asked, vec![vec![1, 13]]);
        assert!(found.iter().all(Result::is_err), "{found:?}");
    }

    #[test]
    fn more_distinct_keys_than_a_batch_holds_go_out_as_several() {
        let keys: Vec<i64> = (0..2_500).chain(0..10).collect();
        let (found, asked, _) = load_all(&keys);
        let mut sizes: Vec<_> = asked.iter().map(Vec::len).collect();
        sizes.sort_unstable();
        // 0..10 again find the first batch full: they go in the last.
        assert_eq!(sizes, [510, 1_000, 1_000]);
        assert_eq!(found.len(), 2_510);
        assert_eq!(found[2_500].as_ref().unwrap().as_deref().unwrap(), "0");
        assert_eq!(
            found[1_999].as_ref().unwrap().as_deref().unwrap(),
            "3996001"
        );
    }
}
