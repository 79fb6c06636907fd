//! A fresh PostgreSQL database for one test, created on the server that
//! `TEST_DATABASE_URL` names and dropped when the value is dropped. Shared by
//! the test binaries (`tests/api`, `tests/seed.rs`) through `#[path]`.

use sea_orm::{ConnectionTrait, Database};

pub(crate) struct PostgresDatabase {
    /// The URL of the new database.
    pub(crate) url: String,
    admin_url: String,
    name: String,
}

impl PostgresDatabase {
    /// `None` when `TEST_DATABASE_URL` is unset or empty.
    pub(crate) async fn create() -> Option<Self> {
        let admin_url = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())?;
        let name = format!("conduit_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        admin.close().await.ok();
        Some(Self {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        })
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot block on itself:
        // a short-lived thread with a runtime of its own does the cleanup.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    admin.close().await.ok();
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}
