//! The event bus: after a write commits, the domain publishes what happened,
//! and subscriptions listen. One process: an in-process broadcast. Many
//! processes on PostgreSQL: LISTEN/NOTIFY carries each event to every
//! instance, so a subscriber on one sees what was written through another.

mod postgres;

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Events a subscriber keeps before it counts as fallen behind. A subscriber
/// that lags further is told how many it missed; memory stays bounded.
pub const BUFFER: usize = 1024;

/// Something that happened, as small as can be: ids, which subscribers load
/// fresh through the same loaders as queries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    CommentAdded {
        comment_id: i64,
        article_id: i64,
    },
    ArticlePublished {
        article_id: i64,
        author_id: i64,
        tags: Vec<String>,
    },
    /// New notifications as `(id, recipient)` pairs.
    NotificationsCreated {
        notifications: Vec<(i64, i64)>,
    },
    /// Jobs were queued: every instance's worker looks at the outbox.
    JobsQueued,
    /// Webhook deliveries were queued or requeued: every instance's
    /// delivery runner looks at them.
    DeliveriesQueued,
    /// These sessions ended: every instance refuses their tokens.
    SessionsEnded {
        sessions: Vec<i64>,
    },
    /// `documents add` or `remove` changed the trusted documents: every
    /// instance reloads them.
    DocumentsChanged,
    /// This instance's LISTEN connection dropped: events published until
    /// `ListenerRestored` may never arrive. Never sent between instances.
    #[serde(skip)]
    ListenerLost,
    /// LISTEN works again; what was missed must be read from the database.
    #[serde(skip)]
    ListenerRestored,
}

/// One event as subscribers receive it, with a slot where the first of them
/// leaves what it loaded to answer it, so ten thousand subscribers cost one
/// load per event, not ten thousand.
pub struct Delivered {
    pub event: Event,
    shared: tokio::sync::OnceCell<Arc<dyn std::any::Any + Send + Sync>>,
}

pub type Delivery = Arc<Delivered>;

impl Delivered {
    fn new(event: Event) -> Delivery {
        Arc::new(Self {
            event,
            shared: tokio::sync::OnceCell::new(),
        })
    }

    /// What `load` answers, run once per event whoever asks first; everyone
    /// else waits for that answer. `T` must be the same for every caller of
    /// one event (a subscription kind loads one kind of thing per event).
    pub async fn shared<T, E, F>(&self, load: impl FnOnce() -> F) -> Result<Arc<T>, E>
    where
        T: Send + Sync + 'static,
        F: Future<Output = Result<T, E>>,
    {
        let value = self
            .shared
            .get_or_try_init(|| async {
                load()
                    .await
                    .map(|v| Arc::new(v) as Arc<dyn std::any::Any + Send + Sync>)
            })
            .await?;
        Ok(Arc::clone(value)
            .downcast::<T>()
            .unwrap_or_else(|_| panic!("BUG: one event's shared load has two types")))
    }
}

#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    local: broadcast::Sender<Delivery>,
    transport: Transport,
}

enum Transport {
    InProcess,
    /// Events go out by NOTIFY and come back (to this instance too) through
    /// the listener task, so every instance sees one order of events.
    Postgres {
        db: DatabaseConnection,
        _listener: postgres::ListenerTask,
    },
}

impl EventBus {
    /// A bus for one process.
    pub fn in_process() -> Self {
        Self::with(Transport::InProcess, broadcast::channel(BUFFER).0)
    }

    /// A bus shared by every instance on the PostgreSQL database at `url`.
    ///
    /// # Errors
    /// When the listening connection cannot be opened.
    pub async fn postgres(url: &str, db: DatabaseConnection) -> anyhow::Result<Self> {
        let local = broadcast::channel(BUFFER).0;
        let listener = postgres::ListenerTask::start(url, local.clone()).await?;
        Ok(Self::with(
            Transport::Postgres {
                db,
                _listener: listener,
            },
            local,
        ))
    }

    /// The bus that fits `db`: PostgreSQL's when it is PostgreSQL.
    pub async fn for_database(url: &str, db: &DatabaseConnection) -> anyhow::Result<Self> {
        match db.get_database_backend() {
            DbBackend::Postgres => Self::postgres(url, db.clone()).await,
            _ => Ok(Self::in_process()),
        }
    }

    fn with(transport: Transport, local: broadcast::Sender<Delivery>) -> Self {
        Self {
            inner: Arc::new(Inner { local, transport }),
        }
    }

    /// Publishes an event. Call it only after the transaction that made it
    /// true has committed. Never fails the caller, whose write already
    /// succeeded: a failure to publish is logged.
    pub async fn publish(&self, event: Event) {
        self.publish_all(vec![event]).await;
    }

    /// Publishes `events` in order, as `publish` does each.
    ///
    /// # Implementation notes
    /// On PostgreSQL all of them go in one statement (`SELECT pg_notify(..),
    /// pg_notify(..)`): a write that publishes two events costs one round
    /// trip (and one connection taken from the pool and given back) for
    /// them, not two. One statement is one transaction, so they are
    /// delivered together and in this order.
    pub async fn publish_all(&self, events: Vec<Event>) {
        match &self.inner.transport {
            Transport::InProcess => {
                for event in events {
                    // No receivers is fine: nobody subscribed.
                    let _ = self.inner.local.send(Delivered::new(event));
                }
            }
            Transport::Postgres { db, .. } => {
                let Some(notify) = notify_statement(&events) else {
                    return;
                };
                if let Err(error) = db.execute_raw(notify).await {
                    tracing::error!(%error, ?events, "cannot publish events");
                }
            }
        }
    }

    /// Publishes `events` when `txn` commits, and only if it does: on
    /// PostgreSQL, NOTIFY inside `txn` (which PostgreSQL delivers at its
    /// commit); in one process, held until `Staged::committed`, which the
    /// caller calls right after the commit.
    ///
    /// # Implementation notes
    /// A write that publishes after its commit takes a second connection
    /// from the pool for it, a round trip, and the pool's check of the
    /// connection when it goes back; in the transaction it is one more
    /// statement on the connection the write holds anyway.
    ///
    /// # Errors
    /// When the NOTIFY fails, like any statement of the write: the write
    /// fails with it.
    pub async fn publish_on_commit(
        &self,
        txn: &impl ConnectionTrait,
        events: Vec<Event>,
    ) -> Result<Staged, sea_orm::DbErr> {
        match &self.inner.transport {
            Transport::InProcess => Ok(Staged {
                local: Some((self.inner.local.clone(), events)),
            }),
            Transport::Postgres { .. } => {
                if let Some(notify) = notify_statement(&events) {
                    txn.execute_raw(notify).await?;
                }
                Ok(Staged { local: None })
            }
        }
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Delivery> {
        self.inner.local.subscribe()
    }
}

/// Events `EventBus::publish_on_commit` holds for the commit.
#[must_use = "call `committed` once the transaction has committed"]
pub struct Staged {
    /// The in-process bus and what to send on it; `None` on PostgreSQL,
    /// which sends them itself at the commit.
    local: Option<(broadcast::Sender<Delivery>, Vec<Event>)>,
}

impl Staged {
    /// The transaction committed: the events go out (in one process).
    pub fn committed(self) {
        if let Some((local, events)) = self.local {
            for event in events {
                // No receivers is fine: nobody subscribed.
                let _ = local.send(Delivered::new(event));
            }
        }
    }
}

/// One statement that NOTIFYs `events` in order (`SELECT pg_notify($1, $2),
/// pg_notify($1, $3)`), or `None` when none of them could be encoded.
fn notify_statement(events: &[Event]) -> Option<Statement> {
    let mut calls = Vec::with_capacity(events.len());
    let mut values = vec![postgres::CHANNEL.into()];
    for event in events {
        match serde_json::to_string(event) {
            Ok(payload) => {
                values.push(payload.into());
                calls.push(format!("pg_notify($1, ${})", values.len()));
            }
            Err(error) => tracing::error!(%error, ?event, "cannot encode an event"),
        }
    }
    (!calls.is_empty()).then(|| {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT {}", calls.join(", ")),
            values,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_in_process_bus_delivers_to_every_subscriber() {
        let bus = EventBus::in_process();
        let mut first = bus.subscribe();
        let mut second = bus.subscribe();
        let event = Event::CommentAdded {
            comment_id: 1,
            article_id: 2,
        };
        bus.publish(event.clone()).await;
        assert_eq!(first.recv().await.unwrap().event, event);
        assert_eq!(second.recv().await.unwrap().event, event);
    }

    #[test]
    fn events_survive_the_json_round_trip() {
        let event = Event::ArticlePublished {
            article_id: 1,
            author_id: 2,
            tags: vec!["rust".into()],
        };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
    }
}
