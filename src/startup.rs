//! Building the application from a `Config` and running it until a signal.
//! `main` and the tests use the same code, so tests exercise what ships.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret as _;
use tokio::net::TcpListener;

use crate::auth::token::{Deployment, Tokens};
use crate::config::Config;
use crate::events::EventBus;
use crate::graphql::documents::DocumentCache;
use crate::graphql::pipeline::Pipeline;
use crate::graphql::{self, Limits, Services};
use crate::http::{self, AppState};
use crate::jobs::deliveries::Runner;
use crate::jobs::worker::Worker;
use crate::metrics::Metrics;
use crate::{db, domain, seed};

pub struct App {
    listener: TcpListener,
    router: axum::Router,
    db: DatabaseConnection,
    worker: Option<Worker>,
    deliveries: Option<Runner>,
}

impl App {
    /// Connects to the database, migrates it (unless told not to), and binds
    /// the listener, so that a bad setting fails here, before serving.
    pub async fn build(config: Box<Config>) -> anyhow::Result<Self> {
        let db = db::connect(&config.database).await?;
        // Requests run on an observed clone of the pool, so `/metrics` counts
        // exactly the statements that serving clients costs; the worker,
        // health checks and start-up work run on the plain one.
        let metrics = Arc::new(Metrics::default());
        let mut request_db = db.clone();
        metrics.observe(&mut request_db);
        if config.no_migrate {
            tracing::info!("skipping migrations (--no-migrate)");
        } else {
            db::migrate(&db).await?;
        }
        if config.demo {
            seed::demo(&db).await?;
        }

        let secret = match &config.jwt_secret {
            Some(secret) => secret.expose_secret().to_owned(),
            None => {
                let (secret, created) = domain::settings::jwt_secret(&db)
                    .await
                    .map_err(|error| anyhow::anyhow!("cannot read the token secret: {error:?}"))?;
                if created {
                    tracing::info!(
                        "JWT_SECRET is unset: generated a token secret and kept it in the database"
                    );
                } else {
                    tracing::info!(
                        "JWT_SECRET is unset: using the token secret kept in the database"
                    );
                }
                secret
            }
        };
        let deployment = match &config.token_issuer {
            Some(issuer) => issuer.clone(),
            None => domain::settings::deployment_id(&db)
                .await
                .map_err(|error| anyhow::anyhow!("cannot read the deployment id: {error:?}"))?,
        };
        let deployment = Deployment {
            audience: config
                .token_audience
                .clone()
                .unwrap_or_else(|| deployment.clone()),
            issuer: deployment,
        };
        let tokens = Arc::new(Tokens::new(
            secret.as_bytes(),
            config.token_ttl(),
            deployment,
        ));

        let events = EventBus::for_database(&config.database.database_url, &db)
            .await
            .context("cannot start the event bus")?;
        let poll = std::time::Duration::from_millis(config.worker_poll_ms);
        let outbound =
            crate::outbound::HttpClient::new(config.webhooks.policy(), config.webhooks.timeout())
                .context("cannot build the outbound HTTP client")?;
        if config.webhooks.webhook_allow_private_networks {
            tracing::warn!(
                "WEBHOOK_ALLOW_PRIVATE_NETWORKS is set: webhooks may reach loopback, private networks and cloud metadata"
            );
        }
        let deliveries = (!config.no_worker).then(|| {
            Runner::new(
                db.clone(),
                events.clone(),
                outbound,
                config.webhooks.settings(poll),
                Arc::clone(&metrics),
            )
        });
        let worker = (!config.no_worker).then(|| Worker::new(db.clone(), events.clone(), poll));
        let schema = graphql::build_schema(
            Services {
                db: request_db.clone(),
                tokens: (*tokens).clone(),
                events: events.clone(),
                outbound: config.webhooks.policy(),
            },
            Limits {
                max_depth: config.max_query_depth as usize,
            },
        );
        let pipeline = Pipeline::new(
            schema,
            DocumentCache::new(config.document_cache_bytes),
            config.request_limits(),
        );
        let state = AppState {
            pipeline,
            ws_connections: Default::default(),
            metrics,
            ws_limits: config.ws_limits(),
            db: request_db,
            ops_db: db.clone(),
            tokens,
        };
        let router = http::router(state, &config);
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        Ok(Self {
            listener,
            router,
            db,
            worker,
            deliveries,
        })
    }

    /// Where the server listens (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("BUG: a bound listener has an address")
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves until SIGTERM or Ctrl-C, then lets requests in flight finish.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then drains gracefully.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(address = %self.local_addr(), "serving GraphQL at /graphql, GraphiQL at /");
        // One signal stops both: the server drains its requests, the worker
        // finishes the job in hand (an interrupted one would run again).
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = self.worker.map(|worker| {
            let mut stopped = stopped.clone();
            tokio::spawn(worker.run(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }))
        });
        let deliveries = self.deliveries.map(|runner| {
            let mut stopped = stopped.clone();
            tokio::spawn(runner.run(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }))
        });
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            signal.await;
            let _ = stop.send(true);
        })
        .await
        .context("the server stopped with an error")?;
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        if let Some(deliveries) = deliveries {
            let _ = deliveries.await;
        }
        self.db.close_by_ref().await.ok();
        tracing::info!("stopped");
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
