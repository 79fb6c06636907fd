//! The PostgreSQL half of the bus: one dedicated LISTEN connection per
//! process that forwards every notification into the local broadcast.

use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::{Delivered, Delivery, Event};

pub(super) const CHANNEL: &str = "conduit_events";

/// The listening task; stops when the bus that owns it is dropped.
pub(super) struct ListenerTask(JoinHandle<()>);

impl Drop for ListenerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl ListenerTask {
    pub(super) async fn start(
        url: &str,
        local: broadcast::Sender<Delivery>,
    ) -> anyhow::Result<Self> {
        let listener = listen(url).await?;
        Ok(Self(tokio::spawn(forward(url.to_owned(), listener, local))))
    }
}

async fn listen(url: &str) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Forwards notifications; when the connection drops, says so (what was
/// notified until LISTEN works again is lost to this instance), opens a
/// new one, and says that too, so that whoever keeps state from events
/// (the ended sessions) reads what it missed from the database.
///
/// The reconnection is done here rather than left to `PgListener`'s own,
/// which is silent: "listening again" is the moment a reload must follow.
async fn forward(url: String, mut listener: PgListener, local: broadcast::Sender<Delivery>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => match serde_json::from_str::<Event>(notification.payload()) {
                Ok(event) => {
                    let _ = local.send(Delivered::new(event));
                }
                Err(error) => {
                    tracing::warn!(%error, payload = notification.payload(), "unreadable event")
                }
            },
            Ok(None) | Err(_) => {
                tracing::warn!(
                    "event listener lost its connection; reconnecting, events in the gap were not delivered"
                );
                let _ = local.send(Delivered::new(Event::ListenerLost));
                listener = reconnect(&url).await;
                tracing::info!("event listener is listening again");
                let _ = local.send(Delivered::new(Event::ListenerRestored));
            }
        }
    }
}

async fn reconnect(url: &str) -> PgListener {
    let mut failures: u32 = 0;
    loop {
        match listen(url).await {
            Ok(listener) => return listener,
            Err(error) => {
                failures = failures.saturating_add(1);
                let backoff = Duration::from_millis(100 * 2u64.pow(failures.min(6)));
                tracing::error!(%error, ?backoff, "event listener cannot reach PostgreSQL; retrying");
                tokio::time::sleep(backoff).await;
            }
        }
    }
}
