//! Where a child server listens, as it says itself.
//!
//! A test that picks a free port (bind to port 0, read it, let it go) and
//! hands it to the child leaves a moment in which another test's server
//! can take that port: this child then fails to bind and exits, while
//! `/healthz` on the port answers from the other server, and the test goes
//! on against someone else's database. Started with `--listen
//! 127.0.0.1:0`, the child binds a port nobody else holds and logs it
//! (`--log-format json`, the "serving GraphQL" line's `address`).

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

/// The flags that make the child choose its port and log it readably.
pub(crate) const FLAGS: [&str; 4] = ["--listen", "127.0.0.1:0", "--log-format", "json"];

/// The log filter the child needs for its address line to be written.
pub(crate) const LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

/// Reads the child's log (its standard error) on a thread of its own until
/// it ends, echoing it when `TEST_LOG` is set, and answers the address the
/// child announced.
pub(crate) async fn await_address(log: impl Read + Send + 'static) -> String {
    let (sender, announced) = tokio::sync::oneshot::channel();
    let mut sender = Some(sender);
    let echo = std::env::var_os("TEST_LOG").is_some();
    std::thread::spawn(move || {
        // Read to the end either way: a child blocked on a full pipe
        // would stop serving.
        for line in BufReader::new(log).lines() {
            let Ok(line) = line else { break };
            if echo {
                eprintln!("{line}");
            }
            if let Some(address) = address_in(&line)
                && let Some(sender) = sender.take()
            {
                let _ = sender.send(address);
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(60), announced)
        .await
        .expect("the server announces its address within 60 s")
        .expect("the server announces its address before it exits")
}

fn address_in(line: &str) -> Option<String> {
    let event: serde_json::Value = serde_json::from_str(line).ok()?;
    if !event["message"].as_str()?.starts_with("serving GraphQL") {
        return None;
    }
    event["address"].as_str().map(str::to_owned)
}
