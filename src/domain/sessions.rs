//! Sessions: what signing in opens, a refresh token keeps going, and signing
//! out (or a stolen refresh token, or a new password) ends.
//!
//! A session is a row; its access tokens are JWTs naming it (see
//! `auth::token`) and its refresh token is single-use: each refresh
//! rotates it, and the spent one is remembered, so presenting it again is
//! recognised as reuse. Reuse means two parties hold the token (one of them
//! stole it), and there is no telling which is the owner, so the whole
//! session ends (OAuth 2.0 Security Best Current Practice, refresh token
//! rotation).
//!
//! Ending is a write, then an announcement: this instance's ended set
//! (`auth::ended`) hears at once, every other instance through the event
//! bus, so a token of an ended session is refused everywhere without a
//! read per request.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{session, user};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::{Error, Result, begin_write, sql, time};
use crate::auth::ended::EndedSessions;
use crate::auth::refresh;
use crate::events::{Event, EventBus};

/// Most sessions `User.sessions` lists (the newest): a client that signs
/// in again and again without signing out leaves sessions open until they
/// expire, and one list must not grow with that.
pub const LIST_MAX: u64 = 100;
/// Longest User-Agent kept, in bytes (cut at a character boundary).
const USER_AGENT_MAX: usize = 512;
/// Session ids per "sessions ended" event (PostgreSQL NOTIFY carries 8000
/// bytes).
const ENDED_PER_EVENT: usize = 500;
/// How long rows of ended or expired sessions are kept before the sweep
/// deletes them (their tokens died long before).
const KEEP_ENDED: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// A session just opened or refreshed, with the refresh token that only
/// this answer will ever show.
pub struct Issued {
    pub session: session::Model,
    pub refresh_token: String,
}

/// Opens, refreshes and ends sessions, and says so to every instance.
#[derive(Clone)]
pub struct Sessions {
    /// How long a session lasts after its last refresh.
    ttl: Duration,
    ended: Arc<EndedSessions>,
    events: EventBus,
}

impl Sessions {
    pub fn new(ttl: Duration, ended: Arc<EndedSessions>, events: EventBus) -> Self {
        Self { ttl, ended, events }
    }

    /// Opens a session for `user_id` in the caller's transaction (the sign
    /// up or sign in that opens it commits with it).
    pub async fn open(
        &self,
        txn: &impl ConnectionTrait,
        user_id: i64,
        user_agent: Option<&str>,
    ) -> Result<Issued> {
        let (refresh_token, refresh_hash) = refresh::generate();
        let now = time::now();
        let session = session::ActiveModel {
            user_id: Set(user_id),
            refresh_hash: Set(refresh_hash),
            user_agent: Set(user_agent.map(clip_user_agent)),
            created_at: Set(now),
            last_used_at: Set(now),
            expires_at: Set(now + self.lifetime()),
            ended_at: Set(None),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        Ok(Issued {
            session,
            refresh_token,
        })
    }

    /// Trades a refresh token for a new one (and the caller, for a new
    /// access token). The old token stops working; presenting it again
    /// ends the session.
    ///
    /// # Errors
    /// UNAUTHENTICATED for a token that is unknown, spent (the session then
    /// ends), or of a session that has ended or expired.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(
        &self,
        db: &DatabaseConnection,
        refresh_token: &str,
    ) -> Result<(Issued, user::Model)> {
        let presented = refresh::hash(refresh_token);
        let now = time::now();
        let txn = begin_write(db).await?;
        let current = session::Entity::find()
            .filter(session::Column::RefreshHash.eq(&presented))
            .one(&txn)
            .await?;
        let Some(current) = current else {
            let spent = sql::query_all(
                &txn,
                "SELECT session_id FROM spent_refresh_tokens WHERE refresh_hash = ?",
                vec![presented.into()],
            )
            .await?;
            let Some(row) = spent.first() else {
                return Err(refused("this refresh token is not valid; sign in again"));
            };
            let session_id: i64 = row.try_get("", "session_id")?;
            let ended = end_where(&txn, "id = ?", vec![session_id.into()]).await?;
            txn.commit().await?;
            tracing::warn!(
                session_id,
                "a spent refresh token was presented again; the session has ended"
            );
            self.announce(ended).await;
            return Err(refused(
                "this refresh token was already used, so the session has ended; sign in again",
            ));
        };
        if current.ended_at.is_some() || current.expires_at <= now {
            return Err(refused("this session has ended; sign in again"));
        }
        let (refresh_token, refresh_hash) = refresh::generate();
        // Conditional on the token still being the current one: of two
        // refreshes racing with one token, the second changes nothing here
        // and is treated as the reuse it is.
        let rotated = sql::execute(
            &txn,
            "UPDATE sessions SET refresh_hash = ?, last_used_at = ?, expires_at = ? \
             WHERE id = ? AND refresh_hash = ? AND ended_at IS NULL",
            vec![
                refresh_hash.clone().into(),
                now.into(),
                (now + self.lifetime()).into(),
                current.id.into(),
                presented.clone().into(),
            ],
        )
        .await?;
        if rotated != 1 {
            let ended = end_where(&txn, "id = ?", vec![current.id.into()]).await?;
            txn.commit().await?;
            self.announce(ended).await;
            return Err(refused(
                "this refresh token was already used, so the session has ended; sign in again",
            ));
        }
        sql::execute(
            &txn,
            "INSERT INTO spent_refresh_tokens (refresh_hash, session_id, spent_at) VALUES (?, ?, ?)",
            vec![presented.into(), current.id.into(), now.into()],
        )
        .await?;
        let user = user::Entity::find_by_id(current.user_id)
            .one(&txn)
            .await?
            .ok_or_else(|| refused("this account no longer exists"))?;
        txn.commit().await?;
        let session = session::Model {
            refresh_hash,
            last_used_at: now,
            expires_at: now + self.lifetime(),
            ..current
        };
        Ok((
            Issued {
                session,
                refresh_token,
            },
            user,
        ))
    }

    /// Ends `session_id` if it is one of `user_id`'s open sessions; how
    /// many ended (0 or 1).
    pub async fn end_one(
        &self,
        db: &DatabaseConnection,
        user_id: i64,
        session_id: i64,
    ) -> Result<usize> {
        let txn = begin_write(db).await?;
        let ended = end_where(
            &txn,
            "id = ? AND user_id = ?",
            vec![session_id.into(), user_id.into()],
        )
        .await?;
        txn.commit().await?;
        Ok(self.announce(ended).await)
    }

    /// Ends every open session of `user_id` but `keep`; how many ended.
    pub async fn end_others(
        &self,
        db: &DatabaseConnection,
        user_id: i64,
        keep: Option<i64>,
    ) -> Result<usize> {
        let txn = begin_write(db).await?;
        let ended = self.end_others_in(&txn, user_id, keep).await?;
        txn.commit().await?;
        Ok(self.announce(ended).await)
    }

    /// `end_others` inside the caller's transaction (a password change ends
    /// the other sessions with it). Call `announce` with the answer after
    /// the commit.
    pub async fn end_others_in(
        &self,
        txn: &impl ConnectionTrait,
        user_id: i64,
        keep: Option<i64>,
    ) -> Result<Vec<i64>> {
        match keep {
            Some(keep) => {
                end_where(
                    txn,
                    "user_id = ? AND id <> ?",
                    vec![user_id.into(), keep.into()],
                )
                .await
            }
            None => end_where(txn, "user_id = ?", vec![user_id.into()]).await,
        }
    }

    /// Tells this instance (at once) and every other (by the bus) that
    /// `session_ids` have ended; how many that is. Call after the commit.
    pub async fn announce(&self, session_ids: Vec<i64>) -> usize {
        self.ended.record(&session_ids);
        for chunk in session_ids.chunks(ENDED_PER_EVENT) {
            self.events
                .publish(Event::SessionsEnded {
                    sessions: chunk.to_vec(),
                })
                .await;
        }
        session_ids.len()
    }

    fn lifetime(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::from_std(self.ttl).unwrap_or(chrono::TimeDelta::MAX)
    }
}

/// Fills `ended` from the database: what ended within its window.
pub async fn load_ended(db: &impl ConnectionTrait, ended: &EndedSessions) -> Result<()> {
    let window = chrono::TimeDelta::from_std(ended.window()).unwrap_or(chrono::TimeDelta::MAX);
    ended.load(ended_since(db, time::now() - window).await?);
    Ok(())
}

/// Keeps `ended` up to date from the bus until the bus closes. Subscribe
/// `events` before the first `load_ended`, so nothing falls between.
pub async fn follow_ended(
    db: DatabaseConnection,
    mut events: tokio::sync::broadcast::Receiver<crate::events::Delivery>,
    ended: Arc<EndedSessions>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match events.recv().await {
            Ok(delivery) => match &delivery.event {
                Event::SessionsEnded { sessions } => ended.record(sessions),
                Event::ListenerLost => ended.mark_incomplete(),
                Event::ListenerRestored => reload(&db, &ended).await,
                _ => {}
            },
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "the ended-session set fell behind the bus; reloading"
                );
                ended.mark_incomplete();
                reload(&db, &ended).await;
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// `load_ended` until it works; meanwhile tokens are checked against the
/// database.
async fn reload(db: &DatabaseConnection, ended: &EndedSessions) {
    let mut delay = Duration::from_millis(100);
    while let Err(error) = load_ended(db, ended).await {
        tracing::error!(error = ?error, "cannot load the ended sessions; retrying");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// The open sessions of `user_id`, newest first.
pub async fn open_sessions(db: &impl ConnectionTrait, user_id: i64) -> Result<Vec<session::Model>> {
    Ok(session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::EndedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(time::now()))
        .order_by_desc(session::Column::CreatedAt)
        .order_by_desc(session::Column::Id)
        .limit(LIST_MAX)
        .all(db)
        .await?)
}

/// One session, open or not.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<session::Model>> {
    Ok(session::Entity::find_by_id(id).one(db).await?)
}

/// Whether `session_id` can no longer be used (ended, or gone): the read
/// that replaces the in-memory set while that is incomplete.
pub async fn has_ended(db: &impl ConnectionTrait, session_id: i64) -> Result<bool> {
    let session = find(db, session_id).await?;
    Ok(session.is_none_or(|session| session.ended_at.is_some()))
}

/// The sessions that ended since `since`, with when (Unix seconds): what
/// an instance loads into its ended set.
pub async fn ended_since(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
) -> Result<Vec<(i64, i64)>> {
    let rows = sql::query_all(
        db,
        "SELECT id, ended_at FROM sessions WHERE ended_at >= ?",
        vec![since.into()],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let ended_at: DateTime<Utc> = row.try_get("", "ended_at")?;
            Ok((row.try_get("", "id")?, ended_at.timestamp()))
        })
        .collect()
}

/// Records that `session_ids` were used (a request carried one of their
/// tokens) now; sessions show it as `lastUsedAt`.
pub async fn touch(db: &impl ConnectionTrait, session_ids: &[i64]) -> Result<()> {
    if session_ids.is_empty() {
        return Ok(());
    }
    let now = time::now();
    let (ids_in, ids) = sql::any_of(db.get_database_backend(), "id", session_ids);
    let mut values = vec![now.into(), now.into()];
    values.extend(ids);
    sql::execute(
        db,
        &format!("UPDATE sessions SET last_used_at = ? WHERE last_used_at < ? AND {ids_in}"),
        values,
    )
    .await?;
    Ok(())
}

/// Deletes sessions that ended or expired more than a day ago (with their
/// spent refresh tokens); how many.
pub async fn sweep(db: &impl ConnectionTrait) -> Result<u64> {
    let horizon = time::now() - KEEP_ENDED;
    sql::execute(
        db,
        "DELETE FROM sessions WHERE ended_at < ? OR expires_at < ?",
        vec![horizon.into(), horizon.into()],
    )
    .await
}

/// Ends the open sessions `condition` names; their ids. One statement
/// (`RETURNING`, on SQLite 3.35+ too), so the ids announced are exactly
/// the sessions this ended, whatever opens or ends concurrently.
async fn end_where(
    txn: &impl ConnectionTrait,
    condition: &str,
    mut values: Vec<sea_orm::Value>,
) -> Result<Vec<i64>> {
    values.insert(0, time::now().into());
    let rows = sql::query_all(
        txn,
        &format!(
            "UPDATE sessions SET ended_at = ? WHERE ended_at IS NULL AND {condition} RETURNING id"
        ),
        values,
    )
    .await?;
    rows.iter().map(|row| Ok(row.try_get("", "id")?)).collect()
}

fn refused(message: &str) -> Error {
    Error::Unauthenticated(message.to_owned())
}

fn clip_user_agent(user_agent: &str) -> String {
    let mut end = user_agent.len().min(USER_AGENT_MAX);
    while !user_agent.is_char_boundary(end) {
        end -= 1;
    }
    user_agent[..end].to_owned()
}
