//! The budget shared by every instance: GCRA in a Redis script
//! (`gcra.lua`), one EVALSHA per request.
//!
//! Redis is asked with a short timeout and never twice for one request: a
//! request whose charge fails, or that comes while Redis is known to be
//! down, is charged to the per-instance budget instead. A probe asks Redis
//! once a second whether it answers (so `/readyz` tells the truth even
//! without traffic) and puts the shared budget back in use when it does.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Weak;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Budget, Caller, Outcome, RedisSettings, WINDOW};

/// How often the probe asks Redis whether it answers.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Whether the shared budget is in use, as `/readyz` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedStatus {
    /// No `--redis-url`: the budget is per instance.
    None,
    /// Redis answers: the budget is shared.
    Up,
    /// Redis does not answer: the per-instance budget stands in.
    Down,
}

impl SharedStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SharedStatus::None => "none",
            SharedStatus::Up => "ok",
            SharedStatus::Down => "down",
        }
    }
}

impl fmt::Display for SharedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(super) struct Shared {
    connection: ConnectionManager,
    script: redis::Script,
    key_prefix: String,
    /// `t` of the script: microseconds per unit, as the shortest decimal
    /// that reads back as the same number.
    refill_micros: String,
    per_minute: u32,
    /// The longest a request (or the probe) waits for Redis: by default
    /// 50 ms, about what a request costs to serve, so a Redis that hangs
    /// slows requests down, but not by much.
    timeout: Duration,
    up: AtomicBool,
    /// Where Redis is, for the log (the URL may hold a password).
    address: String,
}

impl Shared {
    /// A client of the Redis at `settings.url`, whether or not it answers
    /// now (see the module notes).
    pub(super) async fn connect(
        settings: &RedisSettings,
        per_minute: NonZeroU32,
    ) -> anyhow::Result<Self> {
        let client = redis::Client::open(settings.url.as_str())
            .context("--redis-url is not a Redis URL (redis://HOST[:PORT][/DB])")?;
        let address = client.get_connection_info().addr().to_string();
        // One connection attempt per try, each as short as a request's
        // wait: the probe, not a retry loop, brings it back.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(0);
        let connection = client
            .get_connection_manager_lazy(config)
            .context("cannot set up the Redis client")?;
        let refill_micros = WINDOW.as_secs_f64() * 1e6 / f64::from(per_minute.get());
        let shared = Self {
            connection,
            script: redis::Script::new(include_str!("gcra.lua")),
            key_prefix: settings.key_prefix.clone(),
            refill_micros: refill_micros.to_string(),
            per_minute: per_minute.get(),
            timeout: settings.timeout,
            up: AtomicBool::new(false),
            address,
        };
        let answers = shared.ping().await.is_ok();
        shared.up.store(answers, Ordering::Relaxed);
        if answers {
            tracing::info!(
                redis = %shared.address,
                per_minute = per_minute.get(),
                "the query budget is shared by every instance on this Redis"
            );
        } else {
            tracing::warn!(
                redis = %shared.address,
                "Redis does not answer: the query budget is per instance until it does"
            );
        }
        Ok(shared)
    }

    /// Spends `cost` of `caller`'s shared budget; `None` when Redis did not
    /// answer (or is known to be down), so the caller uses its own.
    pub(super) async fn charge(&self, caller: &Caller, cost: NonZeroU32) -> Option<Outcome> {
        if !self.up.load(Ordering::Relaxed) {
            return None;
        }
        let mut connection = self.connection.clone();
        let key = format!("{}{caller}", self.key_prefix);
        let mut invocation = self.script.key(key);
        invocation
            .arg(&self.refill_micros)
            .arg(self.per_minute)
            .arg(cost.get());
        let answer = tokio::time::timeout(
            self.timeout,
            invocation.invoke_async::<(i64, i64, i64)>(&mut connection),
        )
        .await;
        match answer {
            Ok(Ok((spent, remaining, millis))) => {
                let remaining = u64::try_from(remaining).unwrap_or(0);
                let after = Duration::from_millis(u64::try_from(millis).unwrap_or(0));
                Some(if spent == 1 {
                    Outcome::Spent {
                        remaining,
                        full_in: after,
                    }
                } else {
                    Outcome::Refused {
                        remaining,
                        retry_after: after,
                    }
                })
            }
            Ok(Err(error)) => {
                self.went_down(&error);
                None
            }
            Err(_) => {
                self.went_down(&format_args!("no answer within {:?}", self.timeout));
                None
            }
        }
    }

    pub(super) fn status(&self) -> SharedStatus {
        if self.up.load(Ordering::Relaxed) {
            SharedStatus::Up
        } else {
            SharedStatus::Down
        }
    }

    /// Asks Redis whether it answers, and says so when that changed.
    async fn probe(&self) {
        match self.ping().await {
            Ok(()) => {
                if !self.up.swap(true, Ordering::Relaxed) {
                    tracing::info!(redis = %self.address, "Redis answers: the query budget is shared again");
                }
            }
            Err(why) => self.went_down(&why),
        }
    }

    /// One PING, within the timeout.
    async fn ping(&self) -> Result<(), String> {
        let mut connection = self.connection.clone();
        let ping = redis::cmd("PING");
        match tokio::time::timeout(self.timeout, ping.query_async::<String>(&mut connection)).await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }

    fn went_down(&self, why: &dyn fmt::Display) {
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                redis = %self.address,
                error = %why,
                "Redis does not answer: the query budget is per instance until it does"
            );
        }
    }
}

/// Probes Redis once a second, for as long as the budget exists.
pub(super) async fn watch(budget: Weak<Budget>) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(budget) = budget.upgrade() else {
            return;
        };
        if let Some(shared) = budget.shared() {
            shared.probe().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::ClientAddress;
    use crate::limits::local::Local;

    /// The script decides as `governor` does (the Redis of the tests at
    /// 127.0.0.1:6379, under a key prefix of this test's own).
    #[tokio::test]
    async fn the_script_spends_and_refuses_as_governor_does() {
        let per_minute = NonZeroU32::new(600).unwrap();
        let settings = RedisSettings {
            url: "redis://127.0.0.1:6379".into(),
            key_prefix: format!("unit-{}:", std::process::id()),
            timeout: Duration::from_secs(2),
        };
        let shared = Shared::connect(&settings, per_minute).await.unwrap();
        assert_eq!(
            shared.status(),
            SharedStatus::Up,
            "Redis runs at 127.0.0.1:6379"
        );
        let local = Local::new(per_minute);
        let caller = Caller::Address(ClientAddress::new([192, 0, 2, 1].into()));
        for cost in [500, 100, 1, 200, 600] {
            let cost = NonZeroU32::new(cost).unwrap();
            let expected = local.charge(&caller, cost);
            let got = shared.charge(&caller, cost).await.expect("Redis answers");
            match (expected, got) {
                (
                    Outcome::Spent {
                        remaining: a,
                        full_in: x,
                    },
                    Outcome::Spent {
                        remaining: b,
                        full_in: y,
                    },
                )
                | (
                    Outcome::Refused {
                        remaining: a,
                        retry_after: x,
                    },
                    Outcome::Refused {
                        remaining: b,
                        retry_after: y,
                    },
                ) => {
                    // The two clocks run apart by the round trips.
                    assert!(a.abs_diff(b) <= 1, "{cost}: {expected:?} / {got:?}");
                    assert!(
                        x.abs_diff(y) < Duration::from_millis(200),
                        "{cost}: {expected:?} / {got:?}"
                    );
                }
                _ => panic!("{cost}: {expected:?} / {got:?}"),
            }
        }
    }
}
