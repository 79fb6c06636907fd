//! The sessions that ended lately, in memory, so that checking an access
//! token stays a signature check and a map lookup: no database read per
//! request.
//!
//! Only sessions that ended within a token's lifetime are kept: a token of
//! one that ended earlier has expired anyway (tokens are issued only while
//! a session is open, and live at most `ttl`). The set is fed three ways:
//! this instance records what it ends at once; the event bus brings what
//! other instances ended; and a load from the database fills it at start
//! and after the bus lost events. Until such a load has completed the set
//! is not `ready`, and whoever checks a token must ask the database
//! instead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::broadcast;

/// Ended sessions announced to open WebSockets, which close when theirs is
/// among them. Lagging behind only makes a connection look its session up.
const NOTICES: usize = 256;

pub struct EndedSessions {
    /// Session id -> when it ended (Unix seconds).
    ended: RwLock<HashMap<i64, i64>>,
    ready: AtomicBool,
    notices: broadcast::Sender<Arc<[i64]>>,
    /// Seconds an entry must be kept: the token lifetime and some leeway.
    keep_for: i64,
}

impl EndedSessions {
    /// An empty set, not ready until its first `load`.
    pub fn new(token_ttl: Duration) -> Self {
        let keep_for = i64::try_from(token_ttl.as_secs())
            .unwrap_or(i64::MAX)
            .saturating_add(super::token::LEEWAY as i64 + 60);
        Self {
            ended: RwLock::default(),
            ready: AtomicBool::new(false),
            notices: broadcast::channel(NOTICES).0,
            keep_for,
        }
    }

    /// How far back a load must reach.
    pub fn window(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.keep_for).unwrap_or(u64::MAX))
    }

    /// Whether the set is complete; when not, `is_ended` may miss a session
    /// ended elsewhere.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The bus lost events: until the next `load`, ask the database.
    pub fn mark_incomplete(&self) {
        self.ready.store(false, Ordering::Release);
    }

    pub fn is_ended(&self, session_id: i64) -> bool {
        self.read().contains_key(&session_id)
    }

    /// Sessions that ended now (this instance ended them, or the bus says
    /// another did). Open WebSockets hear of them.
    pub fn record(&self, session_ids: &[i64]) {
        if session_ids.is_empty() {
            return;
        }
        let now = Utc::now().timestamp();
        {
            let mut ended = self.write();
            self.prune(&mut ended, now);
            for &id in session_ids {
                ended.entry(id).or_insert(now);
            }
        }
        // Nobody listening (no WebSocket open) is fine.
        let _ = self.notices.send(Arc::from(session_ids));
    }

    /// What the database says ended within `window()`, merged in (never
    /// replacing: what was recorded meanwhile stays); the set is ready.
    pub fn load(&self, sessions: impl IntoIterator<Item = (i64, i64)>) {
        let now = Utc::now().timestamp();
        let mut ended = self.write();
        for (id, at) in sessions {
            ended.entry(id).or_insert(at);
        }
        self.prune(&mut ended, now);
        drop(ended);
        self.ready.store(true, Ordering::Release);
    }

    /// Ended sessions as they are announced.
    pub fn notices(&self) -> broadcast::Receiver<Arc<[i64]>> {
        self.notices.subscribe()
    }

    fn prune(&self, ended: &mut HashMap<i64, i64>, now: i64) {
        let horizon = now.saturating_sub(self.keep_for);
        ended.retain(|_, at| *at >= horizon);
    }

    // A panic while holding the lock leaves a map that is still whole
    // (every write is one insert or retain), so a poisoned lock is used on.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<i64, i64>> {
        self.ended
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<i64, i64>> {
        self.ended
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_sessions_are_kept_for_a_token_lifetime_only() {
        let set = EndedSessions::new(Duration::from_secs(60));
        assert!(!set.is_ready());
        let now = Utc::now().timestamp();
        set.load([(1, now - 10), (2, now - 3600)]);
        assert!(set.is_ready());
        assert!(set.is_ended(1));
        assert!(!set.is_ended(2), "older than a token lives");
        let mut notices = set.notices();
        set.record(&[3]);
        assert!(set.is_ended(3));
        assert_eq!(&*notices.try_recv().unwrap(), &[3]);
        set.mark_incomplete();
        assert!(!set.is_ready());
        assert!(set.is_ended(1), "incomplete, not forgotten");
    }
}
