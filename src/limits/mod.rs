//! The query budget: each caller may spend so much query cost per minute
//! (`--rate-limit-cost-per-minute`), where the cost is what `graphql::cost`
//! computes for a request before it runs.
//!
//! The algorithm is GCRA (the generic cell rate algorithm): a budget of `q`
//! per minute refills continuously, one unit every `60 s / q`, and holds at
//! most `q`, so a caller may spend the whole minute's budget at once and then
//! as fast as it refills. Per instance it is `governor`'s keyed limiter
//! (`local`); with `--redis-url` the same algorithm runs in Redis (`shared`),
//! so every instance draws on one budget per caller. When Redis does not
//! answer, requests go on under the per-instance budget: nothing fails
//! closed.

mod client;
mod local;
mod shared;

pub use client::{Caller, ClientAddress};
pub use shared::SharedStatus;

use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The window the budget is stated in (`RateLimit-Policy`'s `w`).
pub const WINDOW: Duration = Duration::from_secs(60);

/// How often the per-instance state forgets callers whose budget is full
/// again (they are then indistinguishable from new ones): the keyed state
/// holds only the callers of about the last minute.
const FORGET_IDLE_EVERY: Duration = WINDOW;

/// Where the shared budget lives, from the configuration.
#[derive(Clone, Debug)]
pub struct RedisSettings {
    pub url: String,
    /// Put before every key, so deployments (or tests) sharing one Redis
    /// keep apart.
    pub key_prefix: String,
    /// The longest a request waits for Redis.
    pub timeout: Duration,
}

/// What charging a request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Spent: `remaining` is left now; all of the budget is back after
    /// `full_in` if nothing more is spent.
    Spent { remaining: u64, full_in: Duration },
    /// Over budget: nothing was spent; `remaining` is there now and the same
    /// cost fits after `retry_after`.
    Refused {
        remaining: u64,
        retry_after: Duration,
    },
}

impl Outcome {
    /// Whole seconds to wait before the same request fits, at least 1: what
    /// `Retry-After` and `extensions.retryAfter` say.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Outcome::Spent { .. } => None,
            Outcome::Refused { retry_after, .. } => Some(whole_seconds(*retry_after).max(1)),
        }
    }

    /// What is left of the budget now.
    pub fn remaining(&self) -> u64 {
        match self {
            Outcome::Spent { remaining, .. } | Outcome::Refused { remaining, .. } => *remaining,
        }
    }

    /// Whole seconds within which no more than `remaining` may be spent:
    /// until the budget is full again, or, when refused, the retry delay
    /// (the `t` of the `RateLimit` header field).
    pub fn window_secs(&self) -> u64 {
        match self {
            Outcome::Spent { full_in, .. } => whole_seconds(*full_in),
            Outcome::Refused { .. } => self.retry_after_secs().unwrap_or(1),
        }
    }
}

/// `duration` rounded up to whole seconds.
pub(crate) fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// The budget every caller has: per instance, or shared through Redis.
pub struct Budget {
    per_minute: NonZeroU32,
    local: local::Local,
    shared: Option<shared::Shared>,
}

impl Budget {
    /// The budget of `per_minute` cost per caller, or `None` when it is 0
    /// (off). A bad Redis URL is an error; a Redis that does not answer is
    /// not (requests use the per-instance budget until it does).
    ///
    /// # Errors
    /// When `redis` names a URL that is not one.
    pub async fn start(
        per_minute: u32,
        redis: Option<RedisSettings>,
    ) -> anyhow::Result<Option<Arc<Self>>> {
        let Some(per_minute) = NonZeroU32::new(per_minute) else {
            tracing::info!("--rate-limit-cost-per-minute is 0: no query budget");
            return Ok(None);
        };
        let shared = match redis {
            Some(settings) => Some(shared::Shared::connect(&settings, per_minute).await?),
            None => {
                tracing::info!(
                    per_minute = per_minute.get(),
                    "REDIS_URL is unset: the query budget is per instance \
                     (each instance gives every caller the whole budget)"
                );
                None
            }
        };
        let budget = Arc::new(Self {
            per_minute,
            local: local::Local::new(per_minute),
            shared,
        });
        tokio::spawn(forget_idle_callers(Arc::downgrade(&budget)));
        if budget.shared.is_some() {
            tokio::spawn(shared::watch(Arc::downgrade(&budget)));
        }
        Ok(Some(budget))
    }

    /// The cost a caller may spend per minute (`RateLimit-Policy`'s `q`).
    pub fn per_minute(&self) -> u64 {
        u64::from(self.per_minute.get())
    }

    /// Spends `cost` of `caller`'s budget, if it has that much (a cost of 0
    /// is charged as 1: every request costs something to answer).
    ///
    /// # Implementation notes
    /// With Redis, its answer decides, and the per-instance limiter is
    /// charged as well when Redis let the request through: should Redis go
    /// away, this instance's limiter already knows what its callers spent.
    pub async fn charge(&self, caller: &Caller, cost: u64) -> Outcome {
        let cells = u32::try_from(cost.max(1)).unwrap_or(u32::MAX);
        let cells = NonZeroU32::new(cells).unwrap_or(NonZeroU32::MIN);
        if cells > self.per_minute {
            // Never fits (the pipeline refuses such a request before it is
            // charged: `Pipeline::check_cost`).
            return Outcome::Refused {
                remaining: 0,
                retry_after: WINDOW,
            };
        }
        if let Some(shared) = &self.shared
            && let Some(outcome) = shared.charge(caller, cells).await
        {
            if matches!(outcome, Outcome::Spent { .. }) {
                let _ = self.local.charge(caller, cells);
            }
            return outcome;
        }
        self.local.charge(caller, cells)
    }

    /// Whether the shared budget is in use, down, or not configured.
    pub fn shared_status(&self) -> SharedStatus {
        self.shared
            .as_ref()
            .map_or(SharedStatus::None, shared::Shared::status)
    }

    fn shared(&self) -> Option<&shared::Shared> {
        self.shared.as_ref()
    }
}

/// Drops the per-instance state of callers whose budget is full again, once
/// a minute, for as long as the budget exists.
async fn forget_idle_callers(budget: Weak<Budget>) {
    let mut every = tokio::time::interval(FORGET_IDLE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        let Some(budget) = budget.upgrade() else {
            return;
        };
        budget.local.forget_idle();
    }
}
