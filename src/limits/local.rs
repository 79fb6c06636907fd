//! The per-instance budget: `governor`'s keyed GCRA limiter, one state per
//! caller.

use std::num::NonZeroU32;

use governor::clock::{Clock, QuantaClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use super::{Caller, Outcome, WINDOW};

type Limiter<C> = RateLimiter<Caller, DashMapStateStore<Caller>, C, StateInformationMiddleware>;

pub(super) struct Local<C: Clock = QuantaClock> {
    limiter: Limiter<C>,
    per_minute: NonZeroU32,
}

impl Local {
    pub(super) fn new(per_minute: NonZeroU32) -> Self {
        Self::with_clock(per_minute, QuantaClock::default())
    }
}

impl<C: Clock> Local<C> {
    fn with_clock(per_minute: NonZeroU32, clock: C) -> Self {
        // `per_minute` refills over the window and is also the most that
        // can be spent at once.
        let quota = Quota::per_minute(per_minute);
        let limiter = Limiter::new(quota, DashMapStateStore::default(), clock);
        Self {
            limiter,
            per_minute,
        }
    }

    pub(super) fn charge(&self, caller: &Caller, cost: NonZeroU32) -> Outcome {
        let per_minute = u64::from(self.per_minute.get());
        let refill = Quota::per_minute(self.per_minute).replenish_interval();
        match self.limiter.check_key_n(caller, cost) {
            Ok(Ok(state)) => {
                let remaining = u64::from(state.remaining_burst_capacity());
                Outcome::Spent {
                    remaining,
                    full_in: refill.saturating_mul(to_u32(per_minute - remaining.min(per_minute))),
                }
            }
            Ok(Err(not_until)) => {
                let retry_after = not_until.wait_time_from(self.limiter.clock().now());
                // The cost fits after `retry_after`, one unit coming back per
                // `refill`: what is there now is the cost less those.
                let coming = retry_after.as_nanos().div_ceil(refill.as_nanos().max(1));
                let remaining = u128::from(cost.get()).saturating_sub(coming);
                Outcome::Refused {
                    remaining: u64::try_from(remaining).unwrap_or(0),
                    retry_after,
                }
            }
            // More than the whole budget: never fits. The pipeline refuses
            // such a request before it is charged (see `Pipeline::check_cost`).
            Err(_) => Outcome::Refused {
                remaining: 0,
                retry_after: WINDOW,
            },
        }
    }

    /// Forgets the callers whose state is that of a new caller (their
    /// budget is full again), and gives the memory back.
    pub(super) fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    #[cfg(test)]
    fn callers(&self) -> usize {
        self.limiter.len()
    }
}

fn to_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;

    use super::*;
    use crate::limits::ClientAddress;

    fn caller(n: u8) -> Caller {
        Caller::Address(ClientAddress::new([192, 0, 2, n].into()))
    }

    fn cost(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn a_caller_spends_its_budget_then_waits_for_it_to_refill() {
        let clock = FakeRelativeClock::default();
        let local = Local::with_clock(cost(600), clock.clone());
        assert_eq!(
            local.charge(&caller(1), cost(500)),
            Outcome::Spent {
                remaining: 100,
                full_in: Duration::from_secs(50)
            }
        );
        // 200 more: 100 are there, the other 100 come back in 10 s.
        let Outcome::Refused {
            remaining,
            retry_after,
        } = local.charge(&caller(1), cost(200))
        else {
            panic!("over budget");
        };
        assert_eq!(remaining, 100);
        assert_eq!(retry_after, Duration::from_secs(10));
        // Another caller has its own budget.
        assert!(matches!(
            local.charge(&caller(2), cost(600)),
            Outcome::Spent { remaining: 0, .. }
        ));
        clock.advance(Duration::from_secs(10));
        assert!(matches!(
            local.charge(&caller(1), cost(200)),
            Outcome::Spent { remaining: 0, .. }
        ));
    }

    #[test]
    fn idle_callers_are_forgotten() {
        let clock = FakeRelativeClock::default();
        let local = Local::with_clock(cost(60), clock.clone());
        for n in 0..100 {
            local.charge(&caller(n), cost(30));
        }
        local.charge(&caller(200), cost(60));
        assert_eq!(local.callers(), 101);
        // After 31 s the callers that spent half the budget have it all
        // back; the one that spent all of it has not.
        clock.advance(Duration::from_secs(32));
        local.forget_idle();
        assert_eq!(local.callers(), 1);
        clock.advance(Duration::from_secs(30));
        local.forget_idle();
        assert_eq!(local.callers(), 0);
    }
}
