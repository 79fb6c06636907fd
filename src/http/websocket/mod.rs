//! GraphQL over WebSocket at `/graphql`, speaking both subprotocols:
//! `graphql-transport-ws` (the graphql-ws library that Apollo Client and
//! urql use today) and the legacy `graphql-ws` (subscriptions-transport-ws).
//!
//! Written here rather than taken from async-graphql-axum because its
//! driver closes a refused `connection_init` with 1002 instead of the
//! protocol's 4403, has no initialisation timeout, sends no keep-alive
//! pings, and has no limit on subscriptions per connection.
//!
//! Subscribers of the same subscription share its execution and its
//! encoded responses (`shared`); a query or mutation sent over the socket
//! runs on its own.

mod shared;
mod writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::AppState;
use crate::db::Reads;
use crate::graphql::asked::Asked;
use crate::graphql::pipeline::PreparedStream;
use crate::graphql::viewer::{Authenticated, UserAgent};
use crate::graphql::{Viewer, batching, loaders};
use crate::limits::{Caller, ClientAddress};

pub(super) use shared::Subscriptions;
use writer::Outgoing;

/// The subprotocols, in the order the server prefers them.
const PROTOCOLS: [&str; 2] = ["graphql-transport-ws", "graphql-ws"];

/// Messages waiting to go out to one client. When a client reads slower
/// than events arrive, its subscriptions wait here, their event buffers
/// fill, and they are told they fell behind: memory stays bounded.
const OUTGOING: usize = 64;

/// A subscription of one connection: its own task (a query or mutation
/// sent over the socket), or a place in a shared execution.
enum Running {
    Alone(JoinHandle<()>),
    Shared(shared::Membership),
}

impl Running {
    fn is_finished(&self) -> bool {
        match self {
            Running::Alone(task) => task.is_finished(),
            Running::Shared(membership) => membership.is_finished(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Running::Alone(task) = self {
            task.abort();
        }
    }
}

/// How long a client has to answer the server's Close.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(1);

/// Limits for one connection, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct WsLimits {
    pub init_timeout: Duration,
    pub keepalive: Duration,
    pub max_subscriptions: usize,
    pub max_message_bytes: usize,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    pub max_total_subscriptions: usize,
}

/// The connections (and subscriptions) open now: what the caps count.
#[derive(Debug, Default)]
pub struct Connections {
    per_client: Mutex<HashMap<ClientAddress, usize>>,
    total: AtomicUsize,
    subscriptions: AtomicUsize,
}

impl Connections {
    /// A place for one more connection from `client`, held until the guard
    /// drops; `Err` is the answer to the upgrade (503 when the process is
    /// full, 429 when this client is).
    fn admit(
        self: &Arc<Self>,
        client: ClientAddress,
        limits: &WsLimits,
    ) -> Result<ConnectionGuard, Refused> {
        let mut per_client = self.per_client.lock().expect("BUG: poisoned");
        if self.total.load(Ordering::Relaxed) >= limits.max_connections {
            return Err(Refused::Full);
        }
        let count = per_client.entry(client).or_insert(0);
        if *count >= limits.max_connections_per_client {
            return Err(Refused::ClientFull);
        }
        *count += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(ConnectionGuard {
            connections: self.clone(),
            client,
        })
    }

    /// A place for one more subscription, held while it runs.
    fn subscribe(self: &Arc<Self>, limits: &WsLimits) -> Option<SubscriptionGuard> {
        let taken = self.subscriptions.fetch_add(1, Ordering::Relaxed);
        let guard = SubscriptionGuard(self.clone());
        (taken < limits.max_total_subscriptions).then_some(guard)
    }
}

/// Why an upgrade is refused.
enum Refused {
    /// The process holds as many connections as it may.
    Full,
    /// This client address does.
    ClientFull,
}

impl Refused {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Refused::Full => (
                StatusCode::SERVICE_UNAVAILABLE,
                "this server holds as many WebSocket connections as it may; try again later",
            ),
            Refused::ClientFull => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many WebSocket connections from this address",
            ),
        };
        let body = json!({ "errors": [{
            "message": message,
            "extensions": { "code": "RATE_LIMITED", "retryAfter": CAP_RETRY_AFTER_SECS },
        }] });
        let mut response = (status, axum::Json(body)).into_response();
        super::rate_limit::retry_after(response.headers_mut(), CAP_RETRY_AFTER_SECS);
        response
    }
}

/// What a client refused by a connection or subscription cap is told to
/// wait: a guess (the cap frees when others leave, which nobody knows in
/// advance), but the contract's RATE_LIMITED always says how long.
const CAP_RETRY_AFTER_SECS: u64 = 5;

struct ConnectionGuard {
    connections: Arc<Connections>,
    client: ClientAddress,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut per_client = self.connections.per_client.lock().expect("BUG: poisoned");
        if let Some(count) = per_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                per_client.remove(&self.client);
            }
        }
        self.connections.total.fetch_sub(1, Ordering::Relaxed);
    }
}

struct SubscriptionGuard(Arc<Connections>);

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        self.0.subscriptions.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// `graphql-transport-ws`.
    Transport,
    /// `graphql-ws`, the older subscriptions-transport-ws.
    Legacy,
}

impl Protocol {
    /// The type of the message that carries a response.
    fn next(self) -> &'static str {
        match self {
            Protocol::Transport => "next",
            Protocol::Legacy => "data",
        }
    }
}

pub(super) fn upgrade(
    state: AppState,
    ws: WebSocketUpgrade,
    client: ClientAddress,
    user_agent: UserAgent,
    client_name: Option<Arc<str>>,
) -> Response {
    let limits = state.ws_limits;
    let guard = match state.ws_connections.admit(client, &limits) {
        Ok(guard) => guard,
        Err(refusal) => return refusal.into_response(),
    };
    let ws = ws
        .protocols(PROTOCOLS)
        .max_message_size(limits.max_message_bytes)
        .max_frame_size(limits.max_message_bytes)
        // Small buffers: most connections sit idle waiting for rare events,
        // and the default 128 KiB each would dominate their memory.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    let protocol = match ws.selected_protocol().map(|p| p.as_bytes()) {
        Some(b"graphql-ws") => Protocol::Legacy,
        _ => Protocol::Transport,
    };
    ws.on_upgrade(move |socket| async move {
        let (outgoing, outgoing_rx) = mpsc::channel(OUTGOING);
        Connection::new(state, protocol, client, user_agent, client_name, outgoing)
            .run(socket, outgoing_rx)
            .await;
        drop(guard);
    })
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Ping {
        #[serde(default)]
        payload: Option<Value>,
    },
    Pong {},
    /// `subscribe` (graphql-transport-ws) or `start` (graphql-ws).
    #[serde(alias = "start")]
    Subscribe {
        id: String,
        // Boxed: a request is large and this enum is short-lived anyway.
        payload: Box<super::wire::WireRequest>,
    },
    /// `complete` (graphql-transport-ws) or `stop` (graphql-ws).
    #[serde(alias = "stop")]
    Complete {
        id: String,
    },
    ConnectionTerminate {},
}

/// Why the server closes a connection, with the protocol's codes.
struct Close(u16, &'static str);

struct Connection {
    state: AppState,
    protocol: Protocol,
    /// Where the connection came from: whose budget an anonymous
    /// subscription spends, and the resolvers' `ClientAddress`.
    client: ClientAddress,
    /// The queue to this connection's writer (`writer::write`).
    outgoing: mpsc::Sender<Outgoing>,
    viewer: Option<Viewer>,
    /// When the token sent at `connection_init` expires (Unix seconds):
    /// the connection is closed with 4403 then.
    expires_at: Option<i64>,
    /// Sessions as they end, once signed in: when the token's session is
    /// among them, the connection is closed with 4403.
    ended: Option<broadcast::Receiver<Arc<[i64]>>>,
    user_agent: UserAgent,
    /// `apollographql-client-name` of the upgrade, for the refusal count.
    client_name: Option<Arc<str>>,
    subscriptions: HashMap<String, Running>,
    /// Answers to the message being handled, queued once it is: `handle`
    /// itself never waits on a client's full queue.
    replies: Vec<Message>,
}

impl Connection {
    fn new(
        state: AppState,
        protocol: Protocol,
        client: ClientAddress,
        user_agent: UserAgent,
        client_name: Option<Arc<str>>,
        outgoing: mpsc::Sender<Outgoing>,
    ) -> Self {
        Self {
            state,
            protocol,
            client,
            outgoing,
            viewer: None,
            expires_at: None,
            ended: None,
            user_agent,
            client_name,
            subscriptions: HashMap::new(),
            replies: Vec::new(),
        }
    }

    async fn run(mut self, socket: WebSocket, outgoing_rx: mpsc::Receiver<Outgoing>) {
        let limits = self.state.ws_limits;
        let (sink, mut incoming) = socket.split();
        let mut writer = tokio::spawn(writer::write(sink, outgoing_rx));
        let init_deadline = tokio::time::sleep(limits.init_timeout);
        tokio::pin!(init_deadline);
        let mut keepalive = tokio::time::interval(limits.keepalive);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        keepalive.reset();

        let close = loop {
            let expiry = self.expires_at.map(until);
            tokio::select! {
                message = incoming.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        // Boxed: handling a message (authenticating, preparing
                        // and charging a subscription) is a large future; in
                        // place it would size every idle connection's task.
                        let handled = Box::pin(self.handle(&text)).await;
                        let mut sent = true;
                        for reply in std::mem::take(&mut self.replies) {
                            sent &= self.outgoing.send(Outgoing::Message(reply)).await.is_ok();
                        }
                        if let Err(close) = handled {
                            break Some(close);
                        }
                        if !sent {
                            break None;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => break Some(Close(4400, "Binary messages are not supported")),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                },
                // The socket failed under the writer.
                _ = &mut writer => break None,
                () = sleep_or_never(expiry) => {
                    break Some(Close(4403, "Forbidden: the token has expired"));
                }
                ended = next_ended(self.ended.as_mut()) => {
                    if self.session_ended(ended).await {
                        break Some(Close(4403, "Forbidden: the session has ended"));
                    }
                }
                () = &mut init_deadline, if self.viewer.is_none() => {
                    break Some(Close(4408, "Connection initialisation timeout"));
                }
                _ = keepalive.tick(), if self.viewer.is_some() => {
                    let ping = match self.protocol {
                        Protocol::Transport => json!({ "type": "ping" }),
                        Protocol::Legacy => json!({ "type": "ka" }),
                    };
                    // A client with a full queue has messages to read
                    // already; it needs no ping on top.
                    let _ = self.outgoing.try_send(Outgoing::text(&ping));
                }
            }
        };

        // Leaves shared executions and stops this connection's own tasks.
        self.subscriptions.clear();
        // Ended before its `End`: the socket failed, and there is nothing
        // left to close (nor may its handle be awaited again).
        if writer.is_finished() {
            return;
        }
        let frame = close.map(|Close(code, reason)| CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        });
        let handshake = frame.is_some();
        if self.outgoing.send(Outgoing::End(frame)).await.is_ok() && handshake {
            // The closing handshake: wait (briefly) for the client's
            // answering Close before dropping the connection, or the
            // client may see a reset instead of our close code.
            let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
                while let Some(Ok(message)) = incoming.next().await {
                    if matches!(message, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        // A client that reads nothing would hold the writer on its last
        // frames for ever; it gets as long as the handshake.
        if tokio::time::timeout(CLOSE_HANDSHAKE, &mut writer)
            .await
            .is_err()
        {
            writer.abort();
        }
    }

    /// Whether this connection's session is among `ended` (or, when the
    /// notices ran ahead of this connection, has ended at all).
    async fn session_ended(&self, ended: Result<Arc<[i64]>, RecvError>) -> bool {
        let Some(session) = self.viewer.and_then(|viewer| viewer.session()) else {
            return false;
        };
        match ended {
            Ok(sessions) => sessions.contains(&session),
            Err(RecvError::Lagged(_)) => self.state.auth.has_ended(session).await,
            Err(RecvError::Closed) => false,
        }
    }

    async fn handle(&mut self, text: &str) -> Result<(), Close> {
        let message: ClientMessage =
            serde_json::from_str(text).map_err(|_| Close(4400, "Invalid message received"))?;
        match message {
            ClientMessage::ConnectionInit { payload } => self.init(payload).await,
            ClientMessage::Ping { payload } => {
                let mut pong = json!({ "type": "pong" });
                if let Some(payload) = payload {
                    pong["payload"] = payload;
                }
                self.send(pong);
                Ok(())
            }
            ClientMessage::Pong {} => Ok(()),
            ClientMessage::Subscribe { id, payload } => {
                self.subscribe(id, payload.into_request()).await
            }
            ClientMessage::Complete { id } => {
                // Dropping it leaves its shared execution (or stops its task).
                if self.subscriptions.remove(&id).is_some() && self.protocol == Protocol::Legacy {
                    self.send(json!({ "type": "complete", "id": id }));
                }
                Ok(())
            }
            ClientMessage::ConnectionTerminate {} => Err(Close(1000, "Normal closure")),
        }
    }

    /// `connection_init`: the caller's token is `authorization` in the
    /// payload, as `Bearer <token>`, `Token <token>` or the bare token.
    async fn init(&mut self, payload: Option<Value>) -> Result<(), Close> {
        if self.viewer.is_some() {
            return Err(Close(4429, "Too many initialisation requests"));
        }
        let authorization = payload.as_ref().and_then(|payload| {
            ["authorization", "Authorization"]
                .iter()
                .find_map(|key| payload.get(key))
                .and_then(Value::as_str)
                .map(|value| {
                    if value.trim().contains(' ') || value.trim().is_empty() {
                        value.to_owned()
                    } else {
                        format!("Bearer {value}")
                    }
                })
        });
        // Listening before the check, so an end between the two is heard.
        let ended = self.state.auth.ended.notices();
        let Authenticated { viewer, expires_at } =
            self.state.auth.authenticate(authorization.as_deref()).await;
        if let Viewer::Refused(error) = viewer {
            if self.protocol == Protocol::Legacy {
                self.send(json!({ "type": "connection_error", "payload": { "message": error.to_string() } }))
            }
            return Err(Close(4403, "Forbidden"));
        }
        self.viewer = Some(viewer);
        self.expires_at = expires_at;
        self.ended = viewer.session().map(|_| ended);
        self.send(json!({ "type": "connection_ack" }));
        Ok(())
    }

    async fn subscribe(
        &mut self,
        id: String,
        request: async_graphql::Request,
    ) -> Result<(), Close> {
        let Some(viewer) = self.viewer else {
            return Err(Close(4401, "Unauthorized"));
        };
        self.subscriptions.retain(|_, task| !task.is_finished());
        if self.subscriptions.contains_key(&id) {
            return Err(Close(4409, "Subscriber for this id already exists"));
        }
        let limits = self.state.ws_limits;
        let place = if self.subscriptions.len() >= limits.max_subscriptions {
            Err(format!(
                "at most {} subscriptions per connection",
                limits.max_subscriptions
            ))
        } else {
            self.state
                .ws_connections
                .subscribe(&limits)
                .ok_or_else(|| "this server holds as many subscriptions as it may".to_owned())
        };
        let place = match place {
            Ok(place) => place,
            Err(message) => {
                let refusal = json!([{ "message": message, "extensions": { "code": "RATE_LIMITED", "retryAfter": CAP_RETRY_AFTER_SECS } }]);
                self.send(json!({ "type": "error", "id": id, "payload": refusal }));
                return Ok(());
            }
        };

        // Looked up, parsed, costed and charged to this subscriber's budget
        // before it joins anything, like a request over HTTP; a refusal is
        // an `error` message (over budget, RATE_LIMITED).
        let caller = Caller::new(viewer.id().ok().flatten(), self.client);
        let mut prepared = match self.state.pipeline.prepare_stream(request, caller).await {
            Ok(prepared) => prepared,
            Err(refusal) => {
                if crate::graphql::error::has_code(
                    &refusal,
                    crate::graphql::error::PERSISTED_QUERY_NOT_IN_LIST,
                ) {
                    self.state
                        .metrics
                        .record_not_in_list(self.client_name.as_deref());
                }
                self.send(json!({ "type": "error", "id": id, "payload": refusal.errors }));
                return Ok(());
            }
        };
        let running = if prepared.is_subscription() {
            let key = shared::Key::new(
                prepared.document_hash(),
                prepared.operation_name(),
                prepared.variables(),
                viewer,
            );
            let member =
                shared::Member::new(self.outgoing.clone(), &id, self.protocol.next(), place);
            let membership = self.state.ws_subscriptions.join(key, member, || {
                let (responses, batches) = self.with_data(prepared, viewer);
                shared::Execution {
                    responses,
                    batches,
                    metrics: self.state.metrics.clone(),
                }
            });
            Running::Shared(membership)
        } else {
            let (responses, batches) = self.with_data(prepared, viewer);
            Running::Alone(tokio::spawn(run_alone(
                responses,
                batches,
                self.outgoing.clone(),
                id.clone(),
                self.protocol,
                place,
            )))
        };
        self.subscriptions.insert(id, running);
        Ok(())
    }

    /// Starts `prepared` with what its resolvers reach: the viewer, the
    /// connection's address and user agent, loaders and reads of its own.
    fn with_data(
        &self,
        prepared: PreparedStream,
        viewer: Viewer,
    ) -> (
        BoxStream<'static, async_graphql::Response>,
        batching::Batches,
    ) {
        // A subscription lives as long as the client listens: its reads
        // take the pool's connections one statement at a time.
        let reads = Reads::pooled(self.state.db.clone());
        let (loaders, batches) = loaders::for_request(reads.clone(), viewer.id().ok().flatten());
        let responses = prepared
            .data(viewer)
            .data(self.user_agent.clone())
            .data(self.client)
            .data(loaders)
            .data(Asked::default())
            .data(reads)
            .run();
        (responses, batches)
    }

    fn send(&mut self, message: Value) {
        self.replies.push(text(&message));
    }
}

/// A query or mutation sent over the socket, run on its own: its answer
/// (a `next`, or an `error` when it was refused before it ran), then
/// `complete`.
async fn run_alone(
    mut responses: BoxStream<'static, async_graphql::Response>,
    batches: batching::Batches,
    outgoing: mpsc::Sender<Outgoing>,
    id: String,
    protocol: Protocol,
    _place: SubscriptionGuard,
) {
    let mut first = true;
    while let Some(response) = batching::drive(responses.next(), batches.clone()).await {
        let refused = first && response.data == async_graphql::Value::Null && response.is_err();
        let message = if refused {
            json!({ "type": "error", "id": id, "payload": response.errors })
        } else {
            json!({ "type": protocol.next(), "id": id, "payload": response })
        };
        if outgoing.send(Outgoing::text(&message)).await.is_err() || refused {
            return;
        }
        first = false;
    }
    let _ = outgoing
        .send(Outgoing::text(&json!({ "type": "complete", "id": id })))
        .await;
}

/// The time left until a Unix timestamp.
fn until(timestamp: i64) -> Duration {
    let now = chrono::Utc::now().timestamp_millis();
    let millis = timestamp.saturating_mul(1000).saturating_sub(now);
    Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

/// The next ended-session notice, or never for a connection without a
/// session.
async fn next_ended(
    notices: Option<&mut broadcast::Receiver<Arc<[i64]>>>,
) -> Result<Arc<[i64]>, RecvError> {
    match notices {
        Some(notices) => notices.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_or_never(duration: Option<Duration>) {
    match duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => std::future::pending().await,
    }
}

fn text(message: &Value) -> Message {
    Message::Text(message.to_string().into())
}
