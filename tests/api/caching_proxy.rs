//! A real caching proxy in front of a test server: Debian's nginx with
//! `proxy_cache`, honouring the server's `Cache-Control` as nginx does by
//! default, and saying `X-Cache-Status: HIT` (or MISS, EXPIRED, ...) for
//! what it served from its cache.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct CachingProxy {
    pub(crate) addr: SocketAddr,
    nginx: Child,
    dir: tempfile::TempDir,
}

impl CachingProxy {
    /// nginx in a temp dir of its own (config, pid, logs, cache), on a free
    /// loopback port, in front of `upstream`; it is stopped on drop.
    pub(crate) fn start(upstream: SocketAddr) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let addr = free_port();
        let root = dir.path().display().to_string();
        let config = format!(
            r#"daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format cache '$upstream_cache_status $status $request_uri';
    access_log {root}/access.log cache;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    proxy_cache_path {root}/cache levels=1:2 keys_zone=graphql:1m max_size=64m;
    server {{
        listen {addr};
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache graphql;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
}}
"#
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config).expect("the config is written");
        let nginx = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .spawn()
            .expect("nginx runs (apt-get install nginx)");
        let mut proxy = Self { addr, nginx, dir };
        proxy.wait_until_listening();
        proxy
    }

    fn wait_until_listening(&mut self) {
        let started = Instant::now();
        while TcpStream::connect(self.addr).is_err() {
            if let Ok(Some(status)) = self.nginx.try_wait() {
                panic!("nginx exited with {status}: {}", self.error_log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nginx did not listen on {}: {}",
                self.addr,
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for CachingProxy {
    fn drop(&mut self) {
        let _ = self.nginx.kill();
        let _ = self.nginx.wait();
    }
}

/// A loopback address no one listens on now.
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}
