//! Building the application from a `Config` and running it until a signal.
//! `main` and the tests use the same code, so tests exercise what ships.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret as _;
use tokio::net::TcpListener;

use crate::auth::activity::Activity;
use crate::auth::ended::EndedSessions;
use crate::auth::token::{Deployment, Tokens};
use crate::config::Config;
use crate::domain::sessions::Sessions;
use crate::events::EventBus;
use crate::graphql::documents::DocumentCache;
use crate::graphql::pipeline::Pipeline;
use crate::graphql::trusted::TrustedDocuments;
use crate::graphql::viewer::Authenticator;
use crate::graphql::{self, Limits, Services};
use crate::http::{self, AppState};
use crate::jobs::deliveries::Runner;
use crate::jobs::mail::MailRunner;
use crate::jobs::worker::Worker;
use crate::limits::Budget;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::{db, domain, seed};

pub struct App {
    listener: TcpListener,
    router: axum::Router,
    db: DatabaseConnection,
    worker: Option<Worker>,
    /// Sessions used since the last write of their `last_used_at`.
    activity: Arc<Activity>,
    /// Stored documents, whose uses are written once a minute.
    trusted: Arc<TrustedDocuments>,
    deliveries: Option<Runner>,
    mail_runner: Option<MailRunner>,
    metrics: Arc<Metrics>,
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
        let direct = db::Direct::open(&db, Arc::clone(&metrics))
            .await
            .context("cannot open the SQLite file for direct reads")?;

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
        // Listening before loading, so a session that ends in between is
        // heard of; loaded before serving, so no token of an ended session
        // is accepted after a restart.
        let ended = Arc::new(EndedSessions::new(tokens.ttl()));
        let ended_events = events.subscribe();
        domain::sessions::load_ended(&db, &ended)
            .await
            .map_err(|error| anyhow::anyhow!("cannot load the ended sessions: {error:?}"))?;
        tokio::spawn(domain::sessions::follow_ended(
            db.clone(),
            ended_events,
            ended.clone(),
        ));
        let activity = Arc::new(Activity::default());
        let sessions = Sessions::new(config.session_ttl(), ended.clone(), events.clone());
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
        let mailer = match &config.smtp_url {
            Some(url) => Some(
                Mailer::new(url, &config.mail_from, &config.password_reset_url)
                    .context("cannot use --smtp-url")?,
            ),
            None => {
                tracing::info!("SMTP_URL is unset: no email is sent (password resets included)");
                None
            }
        };
        let mail_runner = match (&mailer, config.no_worker) {
            (Some(mailer), false) => Some(MailRunner::new(
                db.clone(),
                mailer.clone(),
                config.webhooks.settings(poll),
                events.clone(),
                Arc::clone(&metrics),
            )),
            _ => None,
        };
        let worker = (!config.no_worker).then(|| {
            let mut worker = Worker::new(db.clone(), events.clone(), poll);
            if mailer.is_some() {
                worker = worker.mailing();
            }
            worker
        });
        let services = Services {
            db: request_db.clone(),
            tokens: (*tokens).clone(),
            events: events.clone(),
            sessions,
            lockout: config.lockout(),
            mail: mailer.is_some(),
            outbound: config.webhooks.policy(),
        };
        let limits = Limits {
            max_depth: config.max_query_depth as usize,
        };
        let schema = graphql::build_schema(services.clone(), limits);
        let fast_schema =
            graphql::build_schema_validating(services, limits, async_graphql::ValidationMode::Fast);
        let trusted = Arc::new(TrustedDocuments::new(config.trusted_documents));
        let trusted_events = events.subscribe();
        trusted
            .load(&db)
            .await
            .map_err(|error| anyhow::anyhow!("cannot load the trusted documents: {error:?}"))?;
        // On SQLite, `documents add` in another process has no bus to say
        // so: look every second.
        let poll = (db.get_database_backend() == sea_orm::DbBackend::Sqlite)
            .then_some(std::time::Duration::from_secs(1));
        tokio::spawn(graphql::trusted::follow(
            db.clone(),
            trusted_events,
            trusted.clone(),
            poll,
        ));
        tracing::info!(
            mode = ?config.trusted_documents,
            stored = trusted.len(),
            "trusted documents"
        );
        let budget = Budget::start(
            u32::try_from(config.rate_limit_cost_per_minute).unwrap_or(u32::MAX),
            config.redis(),
        )
        .await?;
        let pipeline = Pipeline::new(
            schema,
            fast_schema,
            DocumentCache::new(config.document_cache_bytes),
            trusted.clone(),
            config.request_limits(),
        )
        .with_budget(budget.clone());
        let state = AppState {
            pipeline,
            ws_connections: Default::default(),
            ws_subscriptions: Default::default(),
            metrics: Arc::clone(&metrics),
            ws_limits: config.ws_limits(),
            db: request_db,
            direct,
            ops_db: db.clone(),
            auth: Arc::new(Authenticator {
                tokens,
                ended,
                activity: activity.clone(),
                db: db.clone(),
            }),
            proxies: config.proxies(),
            budget,
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
            activity,
            trusted,
            deliveries,
            mail_runner,
            metrics,
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

    /// What `/metrics` serves, kept by this app.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
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
        let housekeeping = tokio::spawn(housekeeping(
            self.db.clone(),
            self.activity.clone(),
            self.trusted.clone(),
            stopped.clone(),
        ));
        let mail_runner = self.mail_runner.map(|runner| {
            let mut stopped = stopped.clone();
            tokio::spawn(runner.run(async move {
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
        let _ = housekeeping.await;
        if let Some(mail_runner) = mail_runner {
            let _ = mail_runner.await;
        }
        if let Some(deliveries) = deliveries {
            let _ = deliveries.await;
        }
        self.db.close_by_ref().await.ok();
        tracing::info!("stopped");
        Ok(())
    }
}

/// Once a minute, and once more at shutdown: writes which sessions and
/// stored documents were used, and deletes the rows of sessions long ended
/// or expired.
async fn housekeeping(
    db: DatabaseConnection,
    activity: Arc<Activity>,
    trusted: Arc<TrustedDocuments>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(HOUSEKEEPING);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            _ = stopped.wait_for(|stop| *stop) => true,
        };
        if let Err(error) = domain::sessions::touch(&db, &activity.take()).await {
            tracing::warn!(error = ?error, "cannot record when sessions were last used");
        }
        let uses = trusted.take_uses();
        if let Err(error) = domain::trusted_documents::record_uses(&db, &uses).await {
            tracing::warn!(error = ?error, "cannot record the uses of stored documents");
        }
        if stopping {
            return;
        }
        if let Err(error) = domain::sessions::sweep(&db).await {
            tracing::warn!(error = ?error, "cannot delete old sessions");
        }
    }
}

/// How often `housekeeping` runs: `Session.lastUsedAt` lags by this much.
const HOUSEKEEPING: std::time::Duration = std::time::Duration::from_secs(60);

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
