//! Trusted documents: the operations a team's clients ship, registered with
//! `conduit-gateway documents add` (see `manifest` for the formats) and
//! served by id. Every instance holds them all in memory, parsed once, and
//! reloads them when they change: at once on PostgreSQL (the event bus
//! carries `DocumentsChanged` from the command), within a second on SQLite
//! (polled: a command is another process, and SQLite has no bus between
//! processes).
//!
//! With `--trusted-documents only` they are the only documents served;
//! automatic persisted queries (Apollo's APQ) stay a cache of what clients
//! sent, never trusted.

pub mod manifest;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_graphql::parser::types::ExecutableDocument;
use sea_orm::DatabaseConnection;
use tokio::sync::broadcast;

use super::validate_once::ValidatedOnce;
use crate::domain::trusted_documents;
use crate::events::{Delivery, Event};

/// Which documents a request may run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Stored documents by id, APQ registrations and free-form documents.
    #[default]
    Allow,
    /// Only stored documents (by id, or their exact text).
    Only,
}

/// One stored document, parsed.
pub struct Trusted {
    pub id: String,
    pub document: Arc<ExecutableDocument>,
    /// Its validation, once its first request has done it.
    pub validation: ValidatedOnce,
    uses: AtomicU64,
}

impl Trusted {
    /// Counts one use (written to the database once a minute).
    pub fn used(&self) {
        self.uses.fetch_add(1, Ordering::Relaxed);
    }
}

pub struct TrustedDocuments {
    pub mode: Mode,
    documents: RwLock<Arc<HashMap<String, Arc<Trusted>>>>,
}

impl TrustedDocuments {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            documents: RwLock::default(),
        }
    }

    /// The stored document with this id (lower-case hex SHA-256).
    pub fn get(&self, id: &str) -> Option<Arc<Trusted>> {
        self.snapshot().get(id).cloned()
    }

    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces the set with what the database holds. A document that was
    /// already here keeps its parse (and its uses not yet written).
    pub async fn load(&self, db: &DatabaseConnection) -> crate::domain::Result<()> {
        let rows = trusted_documents::all(db).await?;
        let current = self.snapshot();
        let mut next = HashMap::with_capacity(rows.len());
        for row in rows {
            if let Some(kept) = current.get(&row.id) {
                next.insert(row.id, kept.clone());
                continue;
            }
            // Checked at `add`; a row written some other way that does not
            // parse is left out, and said so.
            match async_graphql::parser::parse_query(&row.body) {
                Ok(document) => {
                    let trusted = Trusted {
                        id: row.id.clone(),
                        document: Arc::new(document),
                        validation: ValidatedOnce::default(),
                        uses: AtomicU64::new(0),
                    };
                    next.insert(row.id, Arc::new(trusted));
                }
                Err(error) => {
                    tracing::error!(id = row.id, %error, "a stored document does not parse; not served");
                }
            }
        }
        let count = next.len();
        *self
            .documents
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
        tracing::debug!(count, "trusted documents loaded");
        Ok(())
    }

    /// The uses counted since the last call, per id.
    pub fn take_uses(&self) -> HashMap<String, u64> {
        self.snapshot()
            .values()
            .filter_map(|trusted| {
                let uses = trusted.uses.swap(0, Ordering::Relaxed);
                (uses > 0).then(|| (trusted.id.clone(), uses))
            })
            .collect()
    }

    fn snapshot(&self) -> Arc<HashMap<String, Arc<Trusted>>> {
        self.documents
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Keeps `trusted` in step with the database until the bus closes: reloads
/// on `DocumentsChanged`, after the bus lost events, and (`poll`, for
/// SQLite) every second.
pub async fn follow(
    db: DatabaseConnection,
    mut events: broadcast::Receiver<Delivery>,
    trusted: Arc<TrustedDocuments>,
    poll: Option<Duration>,
) {
    use broadcast::error::RecvError;
    loop {
        let reload = tokio::select! {
            event = events.recv() => match event {
                Ok(delivery) => matches!(
                    delivery.event,
                    Event::DocumentsChanged | Event::ListenerRestored
                ),
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => return,
            },
            () = tokio::time::sleep(poll.unwrap_or_default()), if poll.is_some() => true,
        };
        if reload && let Err(error) = trusted.load(&db).await {
            tracing::error!(error = ?error, "cannot reload the trusted documents");
        }
    }
}
