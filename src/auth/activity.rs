//! Which sessions were used lately, gathered in memory and written once a
//! minute: `Session.lastUsedAt` may lag by that much, and a request pays an
//! insert into a set instead of a write.

use std::collections::HashSet;
use std::sync::Mutex;

#[derive(Default)]
pub struct Activity {
    seen: Mutex<HashSet<i64>>,
}

impl Activity {
    pub fn saw(&self, session_id: i64) {
        self.lock().insert(session_id);
    }

    /// The sessions seen since the last call.
    pub fn take(&self) -> Vec<i64> {
        self.lock().drain().collect()
    }

    // A panic while holding the lock leaves a set that is still whole.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
