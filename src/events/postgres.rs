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
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        Ok(Self(tokio::spawn(forward(listener, local))))
    }
}

async fn forward(mut listener: PgListener, local: broadcast::Sender<Delivery>) {
    let mut failures: u32 = 0;
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                failures = 0;
                match serde_json::from_str::<Event>(notification.payload()) {
                    Ok(event) => {
                        let _ = local.send(Delivered::new(event));
                    }
                    Err(error) => {
                        tracing::warn!(%error, payload = notification.payload(), "unreadable event")
                    }
                }
            }
            // The connection dropped; the listener reconnects and LISTENs
            // again on the next call. What was notified in between is lost
            // to this instance's subscribers: say so.
            Ok(None) => {
                tracing::warn!(
                    "event listener lost its connection; reconnecting, events in the gap were not delivered"
                );
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let backoff = Duration::from_millis(100 * 2u64.pow(failures.min(6)));
                tracing::error!(%error, ?backoff, "event listener cannot reach PostgreSQL; retrying");
                tokio::time::sleep(backoff).await;
            }
        }
    }
}
