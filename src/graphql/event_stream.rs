//! Turning the event bus into subscription streams.

use async_graphql::{ErrorExtensions as _, futures_util::Stream};
use futures_util::StreamExt as _;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::events::{Delivery, EventBus};

/// Every event from now on, or how many were missed when the subscriber fell
/// behind: a lagging subscriber is told, never silently skipped.
pub(super) fn events(
    bus: &EventBus,
) -> impl Stream<Item = Result<Delivery, async_graphql::Error>> + Send + use<> {
    BroadcastStream::new(bus.subscribe()).map(|item| {
        item.map_err(|BroadcastStreamRecvError::Lagged(missed)| {
            async_graphql::Error::new(format!(
                "this subscription fell behind and missed {missed} events; refetch to catch up"
            ))
            .extend_with(|_, extensions| extensions.set("code", "INTERNAL_SERVER_ERROR"))
        })
    })
}
