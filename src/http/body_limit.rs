//! The request body limit (`--max-body-bytes`) with a 413 the client can
//! read.
//!
//! A body over the limit is refused at once when its `Content-Length` says
//! so, or when reading it passes the limit (a chunked one). Either way the
//! client may still be sending, and most clients (Node's `fetch`, reqwest,
//! any that writes the whole body before it reads) read the answer only
//! afterwards. A server that answers and closes with unread bytes in its
//! receive buffer resets the connection, and the client sees EPIPE or
//! ECONNRESET instead of the 413. So a body that is dropped unread goes on
//! being read and discarded, up to `LINGER_BYTES` or `LINGER_TIME`, while
//! the answer goes out: nginx's lingering close.
//!
//! # Implementation notes
//! hyper, when a handler drops the request body before its end, reads what
//! is already buffered and then closes the connection after the response.
//! Keeping the body alive in a task of its own keeps hyper reading; once
//! the task reaches the end, the connection is kept alive as usual, and once
//! it gives up, hyper closes it.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt as _;
use http_body::{Frame, SizeHint};
use http_body_util::Limited;

/// The most a dropped body is read for, to let the client finish sending.
const LINGER_BYTES: usize = 16 * 1024 * 1024;
/// The longest a dropped body is read for.
const LINGER_TIME: Duration = Duration::from_secs(5);

/// The middleware: `max` is `--max-body-bytes`.
pub(super) async fn limit(State(max): State<usize>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let expects_continue = headers
        .get(header::EXPECT)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let (parts, body) = request.into_parts();
    let body = Lingering {
        inner: Some(body),
        polled: false,
        expects_continue,
    };
    if declared.is_some_and(|length| length > max as u64) {
        // Dropping the body starts its draining.
        drop(body);
        return too_large(max);
    }
    let body = Body::new(Limited::new(body, max));
    next.run(Request::from_parts(parts, body)).await
}

/// The 413, GraphQL-shaped.
pub(super) fn too_large(max: usize) -> Response {
    super::graphql::error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the request body is too large: the limit is {max} bytes"),
        "BAD_REQUEST",
    )
}

/// A request body that, dropped before its end, is read to its end (up to
/// the bounds) by a task of its own.
struct Lingering {
    inner: Option<Body>,
    /// Whether anything asked for the body (and so hyper may have sent
    /// `100 Continue`).
    polled: bool,
    /// A client that sent `Expect: 100-continue` sends the body only once
    /// asked to: if nothing asked, there is nothing to drain.
    expects_continue: bool,
}

impl HttpBody for Lingering {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        this.polled = true;
        let frame = Pin::new(inner).poll_frame(cx);
        if let Poll::Ready(None | Some(Err(_))) = frame {
            // Done, or broken: nothing more will come.
            this.inner = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(body) = self.inner.take() else {
            return;
        };
        if body.is_end_stream() || (self.expects_continue && !self.polled) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(discard(body));
        }
    }
}

/// Reads `body` to its end, discarding it, for at most `LINGER_BYTES` and
/// `LINGER_TIME`.
async fn discard(body: Body) {
    let mut stream = body.into_data_stream();
    let mut discarded = 0;
    let read = async {
        while let Some(Ok(chunk)) = stream.next().await {
            discarded += chunk.len();
            if discarded > LINGER_BYTES {
                return false;
            }
        }
        true
    };
    let finished = tokio::time::timeout(LINGER_TIME, read)
        .await
        .unwrap_or(false);
    tracing::debug!(discarded, finished, "discarded the rest of a refused body");
}
