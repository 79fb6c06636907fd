//! Keyset pagination: pages are cut on the sort key and the id, never on an
//! offset, so a client paging newest-first sees no duplicates and no gaps
//! while rows are inserted between its pages.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use super::{Error, Result};

pub const DEFAULT_PAGE: u64 = 20;
pub const MAX_PAGE: u64 = 100;

/// A position in a list: the sort timestamp and the id that breaks ties.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: i64,
}

impl Cursor {
    /// The opaque string a client holds: base64url of `micros:id`.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.at.timestamp_micros(), self.id))
    }

    /// The cursor a client sent back, when this server could have made it:
    /// its time within years 1 to 9999, which both databases store and
    /// compare (PostgreSQL refuses times before 4713 BC, and SQLite's text
    /// times past 9999 sort wrong).
    pub fn decode(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let (micros, id) = std::str::from_utf8(&bytes).ok()?.split_once(':')?;
        let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        if !(1..=9999).contains(&chrono::Datelike::year(&at)) {
            return None;
        }
        Some(Self {
            at,
            id: id.parse().ok()?,
        })
    }
}

/// Which way a list runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Order {
    #[default]
    NewestFirst,
    OldestFirst,
}

impl Order {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Order::NewestFirst => "DESC",
            Order::OldestFirst => "ASC",
        }
    }

    /// The comparison that keeps rows after the cursor.
    pub(crate) fn after(self) -> &'static str {
        match self {
            Order::NewestFirst => "<",
            Order::OldestFirst => ">",
        }
    }
}

/// A checked `first` / `after` pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub first: u64,
    pub after: Option<Cursor>,
    /// Whether to read one row past the page to learn if there is a next
    /// one. A nested list whose query does not select `hasNextPage` skips
    /// it: in `deep`, 500 lists of 5 would otherwise read 3,000 rows for 2,500.
    pub probe_next: bool,
}

impl PageRequest {
    /// # Errors
    /// BAD_USER_INPUT when `first` is negative or above 100, or when `after`
    /// is not a cursor this server made.
    pub fn parse(first: Option<i32>, after: Option<&str>) -> Result<Self> {
        let first = match first {
            None => DEFAULT_PAGE,
            Some(n) if n < 0 => return Err(Error::invalid("first", "must not be negative")),
            Some(n) if n as u64 > MAX_PAGE => {
                return Err(Error::invalid(
                    "first",
                    format!("must be at most {MAX_PAGE}"),
                ));
            }
            Some(n) => n as u64,
        };
        let after = match after {
            None => None,
            Some(text) => Some(
                Cursor::decode(text)
                    .ok_or_else(|| Error::invalid("after", "is not a valid cursor"))?,
            ),
        };
        Ok(Self {
            first,
            after,
            probe_next: true,
        })
    }

    /// The same request, reading past the page only if `probe`.
    pub fn probing_next(self, probe: bool) -> Self {
        Self {
            probe_next: probe,
            ..self
        }
    }

    /// Rows to fetch: one more than asked when it must be known whether a
    /// next page exists.
    pub(crate) fn limit(&self) -> u64 {
        self.first + u64::from(self.probe_next)
    }
}

/// One row of a page, with the cursor that points at it.
#[derive(Clone, Debug)]
pub struct Edge<T> {
    pub cursor: Cursor,
    pub node: T,
}

#[derive(Clone, Debug)]
pub struct Page<T> {
    pub edges: Vec<Edge<T>>,
    pub has_next: bool,
    pub has_previous: bool,
}

impl<T> Page<T> {
    /// Cuts `limit()` fetched rows down to the page.
    pub(crate) fn from_rows(mut edges: Vec<Edge<T>>, request: &PageRequest) -> Self {
        let has_next = request.probe_next && edges.len() as u64 > request.first;
        edges.truncate(request.first as usize);
        Self {
            edges,
            has_next,
            // Forward paging only: a page reached through a cursor has
            // something before it.
            has_previous: request.after.is_some(),
        }
    }

    pub fn empty(request: &PageRequest) -> Self {
        Self::from_rows(Vec::new(), request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: 7,
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("nope"), None);
        for micros in [i64::MIN, -62_135_596_800_000_001, 253_402_300_800_000_000] {
            assert_eq!(
                Cursor::decode(&URL_SAFE_NO_PAD.encode(format!("{micros}:1"))),
                None
            );
        }
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("1:x")), None);
    }

    #[test]
    fn first_is_bounded() {
        assert_eq!(PageRequest::parse(None, None).unwrap().first, 20);
        assert_eq!(PageRequest::parse(Some(100), None).unwrap().first, 100);
        assert!(PageRequest::parse(Some(101), None).is_err());
        assert!(PageRequest::parse(Some(-1), None).is_err());
        assert!(PageRequest::parse(Some(5), Some("garbage")).is_err());
    }

    #[test]
    fn a_page_reads_past_its_end_only_when_asked_whether_more_follow() {
        let request = PageRequest::parse(Some(2), None).unwrap();
        assert_eq!(request.limit(), 3);
        assert_eq!(request.probing_next(false).limit(), 2);
        let rows = |n: i64| {
            (0..n)
                .map(|id| Edge {
                    cursor: Cursor {
                        at: DateTime::from_timestamp_micros(id).unwrap(),
                        id,
                    },
                    node: id,
                })
                .collect::<Vec<_>>()
        };
        assert!(Page::from_rows(rows(3), &request).has_next);
        assert!(!Page::from_rows(rows(2), &request).has_next);
        assert!(!Page::from_rows(rows(2), &request.probing_next(false)).has_next);
    }
}
