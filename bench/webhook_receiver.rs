//! A webhook receiver for `bench/webhooks.sh`: answers 204 at once, or
//! after 5 s on `/slow`, and prints how many requests it got per path when
//! asked at `GET /count`.
//!
//! Usage: cargo run --release --example webhook-receiver -- 127.0.0.1:18096

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};

type Counts = Arc<Mutex<HashMap<String, u64>>>;

async fn answer(State(counts): State<Counts>, method: Method, uri: Uri) -> (StatusCode, String) {
    if method == Method::GET && uri.path() == "/count" {
        let counts = counts.lock().unwrap();
        let text = serde_json::to_string(&*counts).unwrap();
        return (StatusCode::OK, text);
    }
    *counts
        .lock()
        .unwrap()
        .entry(uri.path().to_owned())
        .or_default() += 1;
    if uri.path() == "/slow" {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    (StatusCode::NO_CONTENT, String::new())
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18096".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(Counts::default());
    axum::serve(listener, app).await.unwrap();
}
