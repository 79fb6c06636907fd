//! Validating a stored document once per process instead of once per
//! request: async-graphql validates every request it executes, walking the
//! whole document against ~20 rules, though a stored document's text never
//! changes. The first request of a stored document runs on the schema
//! that validates in full; once one has passed, later ones run on a twin
//! schema in async-graphql's `Fast` mode (which keeps only the rules that
//! guard execution and still gathers the cache hints), after `variables`
//! has checked their variables, the one part of validation that differs
//! between requests.
//!
//! # Implementation notes
//! A twin schema rather than an extension that answers the validation
//! hook from a cache: with any extension registered, async-graphql sends
//! every field through the extension chain and a registry lookup, which
//! cost the token homepage 14 % of its throughput (bench/sessions.sh).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a stored document has passed full validation once.
#[derive(Clone, Default)]
pub struct ValidatedOnce(Arc<AtomicBool>);

impl ValidatedOnce {
    pub fn is_done(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    pub fn done(&self) {
        self.0.store(true, Ordering::Release);
    }
}
