//! When a request's DataLoader batches go out: as soon as the request can
//! make no more progress without them, and not before.
//!
//! # Implementation notes
//! async-graphql's DataLoader collects keys for a fixed window (a timer
//! started by the first key) and then loads them on a spawned task. That
//! counts on every resolver of one level asking for its key within the
//! window. Under load it does not hold: resolving a list yields to the
//! scheduler every few dozen items (futures' `FuturesUnordered` does, to be
//! fair to other tasks), the request then waits its turn behind 31 others,
//! and the window closes on part of the level. The `deep` benchmark at 32
//! clients sent ~60 statements per request where one quiet request sends 6.
//!
//! Here the loader's tasks are not spawned: they queue up in `Batches` and
//! `drive` polls them on the request's own task, only at the moment the
//! request's execution returns `Pending` without having woken itself, that
//! is, when every resolver that can run has run and all that is left is
//! waiting for data. A level's keys are then all in, whatever the load on
//! the machine, and one statement per relation and level goes out.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use async_graphql::futures_util::future::BoxFuture;
use async_graphql::futures_util::stream::{FuturesUnordered, StreamExt as _};

/// The loader tasks a request has asked for and not yet started.
#[derive(Clone, Default)]
pub struct Batches {
    queued: Arc<Mutex<Vec<BoxFuture<'static, ()>>>>,
}

impl Batches {
    /// Keeps a loader's task for `drive` to run.
    pub fn queue(&self, task: BoxFuture<'static, ()>) {
        self.queued.lock().expect("batch queue poisoned").push(task);
    }

    fn take(&self) -> Vec<BoxFuture<'static, ()>> {
        std::mem::take(&mut *self.queued.lock().expect("batch queue poisoned"))
    }
}

/// Runs `work` (a request's execution) together with the batches it queues.
pub async fn drive<F: Future>(work: F, batches: Batches) -> F::Output {
    Driven {
        work: Box::pin(work),
        batches,
        running: FuturesUnordered::new(),
        wakes: Arc::new(Wakes::default()),
    }
    .await
}

struct Driven<F: Future> {
    work: Pin<Box<F>>,
    batches: Batches,
    running: FuturesUnordered<BoxFuture<'static, ()>>,
    wakes: Arc<Wakes>,
}

/// The waker `work` sees: it wakes the task and remembers that it did.
#[derive(Default)]
struct Wakes {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Some(task) = &*self.task.lock().expect("waker poisoned") {
            task.wake_by_ref();
        }
    }
}

impl<F: Future> Future for Driven<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        *this.wakes.task.lock().expect("waker poisoned") = Some(cx.waker().clone());
        let waker = Waker::from(this.wakes.clone());
        loop {
            this.wakes.woken.store(false, Ordering::Release);
            if let Poll::Ready(output) = this.work.as_mut().poll(&mut Context::from_waker(&waker)) {
                return Poll::Ready(output);
            }
            if this.wakes.woken.load(Ordering::Acquire) {
                // It yielded with resolvers still to run: more keys may
                // come. The wake already rescheduled this task.
                return Poll::Pending;
            }
            this.running.extend(this.batches.take());
            // Runs the batches until they all wait on the database; one
            // that finishes wakes `work`, which then goes on at once.
            while let Poll::Ready(Some(())) = this.running.poll_next_unpin(cx) {}
            if !this.wakes.woken.load(Ordering::Acquire) {
                return Poll::Pending;
            }
        }
    }
}
