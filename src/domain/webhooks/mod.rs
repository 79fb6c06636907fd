//! Webhooks: a user's endpoints for events about their own content and
//! account, and the rules for them. Only the owner sees, changes, pauses,
//! deletes or redelivers a webhook; for anyone else it does not exist in
//! lists and `node`, and a mutation naming it is FORBIDDEN.
//!
//! What is sent, and when, is in `events` (the bodies, queued by the jobs
//! in their own transaction) and `deliveries` (claiming, recording every
//! attempt, redelivering); the sending itself is `jobs::deliveries`'.

pub mod deliveries;
pub mod events;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use entity::webhook;
use rand::RngCore as _;
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, ConnectionTrait, DatabaseConnection};
use sea_orm::{EntityTrait as _, IntoActiveModel as _};

use super::validate::{self, Checks};
use super::{ById, Error, Result, begin_write, sql, time};
use crate::outbound::{self, Policy, Refused};

pub use events::EventKind;

/// The longest webhook URL accepted, in characters.
pub const URL_MAX: usize = 2_000;
/// Webhooks one user may have: each event fans out to all of them, and
/// `User.webhooks` (a plain list) costs this many times what it selects.
pub const MAX_PER_USER: i64 = 50;

/// The delivery states, as stored in `webhook_deliveries.status`.
pub const PENDING: &str = "PENDING";
pub const SUCCEEDED: &str = "SUCCEEDED";
pub const FAILED: &str = "FAILED";

pub struct NewWebhook {
    pub url: String,
    pub events: Vec<EventKind>,
}

/// Fields left out stay as they are.
#[derive(Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub events: Option<Vec<EventKind>>,
    /// False pauses; true resumes, and gives a webhook the server disabled
    /// a fresh start.
    pub active: Option<bool>,
}

/// The events a webhook listens to.
pub fn events_of(webhook: &webhook::Model) -> Vec<EventKind> {
    webhook
        .events
        .split(',')
        .filter_map(EventKind::from_name)
        .collect()
}

/// Registers a webhook for `owner_id`; answers it and its signing secret,
/// which is shown this once.
///
/// # Errors
/// BAD_USER_INPUT on `url` (not an absolute http(s) URL, credentials in
/// it, too long, or its host not a public address under `policy`) or on
/// `events` (none).
#[tracing::instrument(skip_all, fields(owner_id))]
pub async fn create(
    db: &DatabaseConnection,
    policy: Policy,
    owner_id: i64,
    input: NewWebhook,
) -> Result<(webhook::Model, String)> {
    let mut checks = Checks::default();
    let url = checks.check("url", check_url(&input.url, policy).await);
    let events = checks.check("events", check_events(input.events));
    checks.finish()?;
    let (url, events) = (url.expect("BUG: checked"), events.expect("BUG: checked"));

    let txn = begin_write(db).await?;
    super::users::ensure_exists(&txn, owner_id).await?;
    let owned = sql::count(
        &txn,
        "SELECT COUNT(*) FROM webhooks WHERE owner_id = ?",
        vec![owner_id.into()],
    )
    .await?;
    if owned >= MAX_PER_USER {
        return Err(Error::invalid(
            "url",
            format!("you have {MAX_PER_USER} webhooks already; delete one first"),
        ));
    }
    let secret = new_secret();
    let now = time::now();
    let webhook = webhook::ActiveModel {
        owner_id: Set(owner_id),
        url: Set(url),
        secret: Set(secret.clone()),
        events: Set(events),
        active: Set(true),
        disabled_reason: Set(None),
        consecutive_failures: Set(0),
        failing_since: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok((webhook, secret))
}

/// Changes a webhook; only its owner may.
///
/// # Errors
/// As `create` for the fields given; NOT_FOUND for no such webhook,
/// FORBIDDEN for anyone but the owner.
#[tracing::instrument(skip_all, fields(user_id, webhook_id))]
pub async fn update(
    db: &DatabaseConnection,
    policy: Policy,
    user_id: i64,
    webhook_id: i64,
    patch: WebhookPatch,
) -> Result<webhook::Model> {
    let mut checks = Checks::default();
    let url = match patch.url {
        Some(url) => checks.check("url", check_url(&url, policy).await),
        None => None,
    };
    let events = checks.check_opt("events", patch.events, check_events);
    checks.finish()?;

    let txn = begin_write(db).await?;
    let webhook = owned(&txn, user_id, webhook_id).await?;
    let mut row = webhook.clone().into_active_model();
    if let Some(url) = url {
        row.url = Set(url);
    }
    if let Some(events) = events {
        row.events = Set(events);
    }
    match patch.active {
        Some(true) if !webhook.active => {
            row.active = Set(true);
            row.disabled_reason = Set(None);
            row.consecutive_failures = Set(0);
            row.failing_since = Set(None);
        }
        Some(false) if webhook.active => {
            row.active = Set(false);
            row.disabled_reason = Set(None);
        }
        _ => {}
    }
    row.updated_at = Set(time::now());
    let webhook = row.update(&txn).await?;
    txn.commit().await?;
    Ok(webhook)
}

/// Deletes a webhook and its delivery log; only its owner may. Answers
/// its id.
#[tracing::instrument(skip_all, fields(user_id, webhook_id))]
pub async fn delete(db: &DatabaseConnection, user_id: i64, webhook_id: i64) -> Result<i64> {
    let txn = begin_write(db).await?;
    owned(&txn, user_id, webhook_id).await?;
    // The deliveries go first (the foreign key also cascades, but SQLite
    // enforces that only with `PRAGMA foreign_keys`).
    sql::execute(
        &txn,
        "DELETE FROM webhook_deliveries WHERE webhook_id = ?",
        vec![webhook_id.into()],
    )
    .await?;
    webhook::Entity::delete_by_id(webhook_id).exec(&txn).await?;
    txn.commit().await?;
    Ok(webhook_id)
}

/// The webhook `webhook_id`, when `user_id` owns it.
///
/// # Errors
/// NOT_FOUND when there is none, FORBIDDEN when it is someone else's.
async fn owned(db: &impl ConnectionTrait, user_id: i64, webhook_id: i64) -> Result<webhook::Model> {
    let webhook = webhook::Entity::find_by_id(webhook_id)
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    if webhook.owner_id != user_id {
        return Err(forbidden());
    }
    Ok(webhook)
}

pub fn not_found() -> Error {
    Error::NotFound("no such webhook".into())
}

pub fn forbidden() -> Error {
    Error::Forbidden("only the webhook's owner may do this".into())
}

/// Each owner's webhooks, newest first.
pub async fn of_owners(
    db: &impl ConnectionTrait,
    owner_ids: &[i64],
) -> Result<ById<Vec<webhook::Model>>> {
    let mut found: ById<Vec<webhook::Model>> = ById::default();
    if owner_ids.is_empty() {
        return Ok(found);
    }
    let (owners_in, values) = sql::any_of(db.get_database_backend(), "owner_id", owner_ids);
    let rows = sql::query_all(
        db,
        &format!(
            "SELECT * FROM webhooks WHERE {owners_in} ORDER BY owner_id, created_at DESC, id DESC"
        ),
        values,
    )
    .await?;
    for row in rows {
        let webhook = <webhook::Model as sea_orm::FromQueryResult>::from_query_result(&row, "")?;
        found.entry(webhook.owner_id).or_default().push(webhook);
    }
    Ok(found)
}

/// Webhooks by id, whoever owns them (callers check).
pub async fn by_ids(db: &impl ConnectionTrait, ids: &[i64]) -> Result<ById<webhook::Model>> {
    if ids.is_empty() {
        return Ok(ById::default());
    }
    let rows = sql::where_any_of(db, "SELECT * FROM webhooks", "id", ids).await?;
    Ok(sql::by_id(
        <webhook::Model as sql::Rows>::from_rows(&rows)?,
        |w| w.id,
    ))
}

/// A webhook URL as the rules allow it: absolute `https://` (`http://` too
/// when private networks are allowed), no credentials, at most
/// [`URL_MAX`] characters, and a host that resolves to addresses the
/// address rule allows (checked again at every delivery: DNS changes).
async fn check_url(raw: &str, policy: Policy) -> std::result::Result<String, String> {
    let url = raw.trim();
    if url.chars().count() > URL_MAX {
        return Err(format!("must be at most {URL_MAX} characters"));
    }
    validate::plain_text(url)?;
    // A URL parser drops tabs and newlines, so what would be called is not
    // what was stored; and no URL needs whitespace.
    if url.chars().any(char::is_whitespace) {
        return Err("must not contain whitespace".into());
    }
    let parsed = url::Url::parse(url).map_err(|_| "must be an absolute http(s) URL".to_owned())?;
    match parsed.scheme() {
        "https" => {}
        "http" if policy.allow_private_networks => {}
        "http" => return Err("must be an https:// URL".into()),
        _ => return Err("must be an absolute http(s) URL".into()),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not hold a user name or password".into());
    }
    let host = match parsed.host() {
        Some(url::Host::Domain(name)) => name.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err("must name a host".into()),
    };
    if !policy.allow_private_networks {
        let port = parsed.port_or_known_default().unwrap_or(443);
        outbound::address::resolve(&host, port, policy)
            .await
            .map_err(|refused| match refused {
                Refused::NotPublic { .. } => {
                    format!("{refused}: webhooks go to public addresses only")
                }
                Refused::Unresolved { .. } => refused.to_string(),
            })?;
    }
    Ok(url.to_owned())
}

fn check_events(events: Vec<EventKind>) -> std::result::Result<String, String> {
    let mut events = events;
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err("must name at least one event".into());
    }
    Ok(events
        .iter()
        .map(|kind| kind.name())
        .collect::<Vec<_>>()
        .join(","))
}

/// `whsec_` + base64 of 32 random bytes, as Standard Webhooks writes a
/// secret (the thread-local generator is a CSPRNG seeded by the OS).
fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("whsec_{}", STANDARD.encode(key))
}

/// A delivery's `webhook-id`: `msg_` + 128 random bits.
pub(crate) fn new_message_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("msg_{}", URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> Policy {
        Policy {
            allow_private_networks: true,
        }
    }

    #[tokio::test]
    async fn urls_must_be_absolute_http_without_credentials() {
        assert!(check_url("https://example.com/hook", open()).await.is_ok());
        assert!(check_url("http://127.0.0.1:9/hook", open()).await.is_ok());
        for bad in [
            "",
            "example.com/hook",
            "/hook",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://user@example.com/",
            "https://exa\u{1}mple.com/",
            "https://example.com/a\tb",
        ] {
            assert!(check_url(bad, open()).await.is_err(), "{bad:?}");
        }
        let long = format!("https://example.com/{}", "a".repeat(URL_MAX));
        assert!(check_url(&long, open()).await.is_err());
        // Without the setting: https only, public addresses only.
        let strict = Policy::default();
        for bad in [
            "http://example.com/",
            "https://127.0.0.1/",
            "https://10.0.0.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost/",
            "https://2130706433/",
        ] {
            assert!(check_url(bad, strict).await.is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secrets_and_message_ids_look_as_the_spec_says() {
        let secret = new_secret();
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(key.len(), 32);
        assert_ne!(new_secret(), secret);
        assert!(new_message_id().starts_with("msg_"));
    }
}
