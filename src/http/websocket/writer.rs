//! A connection's writing half, in a task of its own.
//!
//! One loop that both read and wrote polled everything the connection
//! waits for (the socket's reads, the keep-alive timer, the token's
//! expiry, session notices) every time it was woken to write an event, and
//! each poll of the reads zeroed tungstenite's read buffer before finding
//! nothing to read. With 10,000 subscribers of one subscription an event
//! wakes 10,000 connections: this task waits on its queue alone, so an
//! event costs a socket its frame and its write. Measured at 10,000
//! (BENCHMARKS.md, issue 17 session 15): 140-174 -> 128-138 ms of server
//! CPU a write.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::SinkExt as _;
use futures_util::stream::SplitSink;
use serde_json::Value;
use tokio::sync::mpsc;

/// What a connection's writer writes: a message of its own, a response a
/// shared subscription encoded once for all its subscribers (which only
/// needs this subscriber's `head`, its type and id, put before it), or the
/// end.
pub(super) enum Outgoing {
    Message(Message),
    Shared {
        head: Arc<str>,
        payload: Arc<str>,
    },
    /// The last message: the server's Close with its code (none when the
    /// client went first), then the closing of the sink.
    End(Option<CloseFrame>),
}

impl Outgoing {
    pub(super) fn text(message: &Value) -> Self {
        Self::Message(super::text(message))
    }

    /// The message to write (`End`'s is its Close).
    pub(super) fn into_message(self) -> Message {
        match self {
            Outgoing::Message(message) => message,
            Outgoing::Shared { head, payload } => {
                let mut frame = String::with_capacity(head.len() + payload.len() + 1);
                frame.push_str(&head);
                frame.push_str(&payload);
                frame.push('}');
                Message::Text(frame.into())
            }
            Outgoing::End(frame) => Message::Close(frame),
        }
    }
}

/// Writes what arrives on `outgoing` until `End` or until the socket
/// fails; the connection's reader learns of either by this task ending.
pub(super) async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut outgoing: mpsc::Receiver<Outgoing>,
) {
    while let Some(message) = outgoing.recv().await {
        let (message, last) = match message {
            // No Close of ours: the client's came first (tungstenite
            // refuses to send one after it) or the connection is gone;
            // only the sink is left to close.
            Outgoing::End(None) => break,
            end @ Outgoing::End(Some(_)) => (end.into_message(), true),
            message => (message.into_message(), false),
        };
        if sink.send(message).await.is_err() {
            return;
        }
        if last {
            break;
        }
    }
    let _ = sink.close().await;
}
