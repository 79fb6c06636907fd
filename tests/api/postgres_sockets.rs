//! What the connections to PostgreSQL are set to, read off their sockets.
//!
//! sqlx 0.9.0 stopped turning Nagle's algorithm off on them. A statement
//! whose messages left in two writes then waited for PostgreSQL's delayed
//! ACK: on this project's benchmark, one event in fifteen to twenty took
//! ~90 ms more to reach its subscribers (BENCHMARKS.md, issue 17 session
//! 15). sqlx 0.9.1 sets TCP_NODELAY again; this keeps it so.

use std::collections::HashSet;

use crate::helpers::TestApp;

#[tokio::test]
async fn every_connection_to_postgres_sends_without_waiting() {
    let Some(app) = TestApp::spawn_postgres_with(&[]).await else {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    // Its pools and its LISTEN connection, each used.
    let jane = app.sign_up("jane").await;
    app.gql(
        Some(&jane),
        "{ viewer { username } }",
        serde_json::json!({}),
    )
    .await;
    let port = reqwest::Url::parse(&app.database_url)
        .ok()
        .and_then(|url| url.port_or_known_default())
        .expect("a PostgreSQL URL with a port");

    // Every test of this process talks to the same PostgreSQL, through the
    // same library: all of its connections must say so.
    let sockets = sockets_to(port);
    assert!(
        !sockets.is_empty(),
        "no connection to port {port} found in /proc/self"
    );
    let waiting: Vec<_> = sockets
        .iter()
        .filter(|(_, nodelay)| *nodelay == Some(false))
        .collect();
    assert!(
        waiting.is_empty(),
        "connections to PostgreSQL with Nagle's algorithm on (fd, TCP_NODELAY): {waiting:?} of {}",
        sockets.len()
    );
}

/// This process's established TCP connections to `port`, by descriptor,
/// with TCP_NODELAY (None when the descriptor closed meanwhile).
fn sockets_to(port: u16) -> Vec<(i32, Option<bool>)> {
    let inodes = established_to(port);
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let fd: i32 = entry.file_name().to_str()?.parse().ok()?;
            let link = std::fs::read_link(entry.path()).ok()?;
            let inode: u64 = link
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()?;
            inodes.contains(&inode).then(|| (fd, nodelay(fd)))
        })
        .collect()
}

/// Inodes of the established connections to `port` (/proc/self/net/tcp
/// and tcp6: `local rem st ... inode`, addresses as hex `addr:port`).
fn established_to(port: u16) -> HashSet<u64> {
    let port = format!(":{port:04X}");
    ["/proc/self/net/tcp", "/proc/self/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let established = fields.get(3) == Some(&"01");
                    (established && fields.get(2)?.ends_with(&port))
                        .then(|| fields.get(9)?.parse().ok())
                        .flatten()
                })
                .collect::<Vec<u64>>()
        })
        .collect()
}

fn nodelay(fd: i32) -> Option<bool> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `value`, which is
    // that size. `fd` is a number, not a Rust-owned descriptor: if another
    // test's connection closed it meanwhile the call fails (EBADF), and if
    // the number was reused it reads that socket's option, nothing more.
    let status = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&raw mut value).cast(),
            &mut len,
        )
    };
    (status == 0).then_some(value != 0)
}
