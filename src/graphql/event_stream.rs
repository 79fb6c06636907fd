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

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use crate::events::{Event, EventBus};

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_told_how_much_it_missed() {
        let bus = EventBus::in_process();
        let mut stream = Box::pin(super::events(&bus));
        let overflow = crate::events::BUFFER + 3;
        for comment_id in 0..overflow as i64 {
            bus.publish(Event::CommentAdded {
                comment_id,
                article_id: 1,
            })
            .await;
        }

        let first = stream.next().await.expect("an item");
        let error = first.err().expect("the lag is an error, not a silent skip");
        assert!(
            error.message.contains("missed 3 events"),
            "{}",
            error.message
        );
        // Then it goes on with what it still has.
        assert!(stream.next().await.expect("an item").is_ok());
    }
}
