//! The one clock the domain reads.

use chrono::{DateTime, SubsecRound, Utc};

/// Now, at microsecond precision: what PostgreSQL stores, so a value read
/// back (and a cursor made from it) equals the value written, on SQLite too.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
