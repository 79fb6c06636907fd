//! Sessions: the `Session` type, `AuthPayload` (what opening or refreshing
//! one answers), and `refreshSession`, `signOut` and `endSessions`.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{session, user};

use super::ids::{self, Kind};
use super::users::User;
use super::viewer::ContextExt as _;
use crate::domain::sessions::Issued;
use crate::limits::ClientAddress;

/// A signed-in browser or device: what signUp, signIn or resetPassword opened.
pub struct Session(pub session::Model);

#[Object(crate = "crate::graphql::ordered", cache_control(private))]
impl Session {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Session, self.0.id)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When a token or refresh token of this session was last used (may lag by a minute).
    async fn last_used_at(&self) -> DateTime<Utc> {
        self.0.last_used_at
    }

    /// The User-Agent of the request that opened it.
    async fn user_agent(&self) -> Option<&str> {
        self.0.user_agent.as_deref()
    }

    /// True for the session whose token made this request.
    async fn current(&self, ctx: &Context<'_>) -> bool {
        ctx.viewer().session() == Some(self.0.id)
    }
}

/// A session's credentials: the access token to send as `Authorization:
/// Bearer <token>` until `tokenExpiresAt`, and the refresh token that gets
/// the next pair.
#[derive(SimpleObject)]
#[graphql(cache_control(private))]
pub struct AuthPayload {
    /// Short-lived; sent as the bearer token.
    token: String,
    user: User,
    /// Works once, with refreshSession, for a new token and refresh token.
    refresh_token: String,
    /// When token stops being accepted.
    token_expires_at: DateTime<Utc>,
}

impl AuthPayload {
    /// The answer for `account`, which has just opened or refreshed
    /// `issued`.
    pub fn new(ctx: &Context<'_>, account: user::Model, issued: Issued) -> Self {
        let (token, expires_at) = ctx.services().tokens.issue(account.id, issued.session.id);
        Self {
            token,
            user: User::signed_in(account),
            refresh_token: issued.refresh_token,
            token_expires_at: DateTime::from_timestamp(expires_at, 0)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }
}

#[derive(Default)]
pub struct SessionMutation;

#[Object(crate = "crate::graphql::ordered")]
impl SessionMutation {
    /// Trades a refresh token for a new token and refresh token. The one
    /// presented stops working; presented again, it ends the session.
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> Result<AuthPayload> {
        let services = ctx.services();
        let (issued, account) = services
            .sessions
            .refresh(&services.db, &refresh_token)
            .await?;
        Ok(AuthPayload::new(ctx, account, issued))
    }

    /// Emails the account with this address a link to set a new password, good once and for an hour. Answers true whether or not the account exists.
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        let services = ctx.services();
        let client = ctx.data_opt::<ClientAddress>().copied();
        crate::domain::password_resets::request(
            &services.db,
            services.lockout,
            client,
            &email,
            services.mail,
        )
        .await?;
        if services.mail {
            services
                .events
                .publish(crate::events::Event::JobsQueued)
                .await;
        }
        Ok(true)
    }

    /// Sets a new password with the token from that link, ends every session of the account and opens a new one.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> Result<AuthPayload> {
        let services = ctx.services();
        let (account, issued) = crate::domain::password_resets::reset(
            &services.db,
            &services.sessions,
            &token,
            &new_password,
            ctx.user_agent(),
        )
        .await?;
        Ok(AuthPayload::new(ctx, account, issued))
    }

    /// Ends the caller's current session. Answers true.
    async fn sign_out(&self, ctx: &Context<'_>) -> Result<bool> {
        let (user_id, session) = ctx.viewer().require_session()?;
        let services = ctx.services();
        services
            .sessions
            .end_one(&services.db, user_id, session)
            .await?;
        Ok(true)
    }

    /// Ends one of the caller's sessions, or every one but the current when id is null. Answers how many ended.
    async fn end_sessions(&self, ctx: &Context<'_>, id: Option<ID>) -> Result<i32> {
        let (user_id, current) = ctx.viewer().require_session()?;
        let services = ctx.services();
        let ended = match id {
            None => {
                services
                    .sessions
                    .end_others(&services.db, user_id, Some(current))
                    .await?
            }
            Some(id) => {
                // Another user's session, like one that never existed, is
                // not found: ids do not reveal what others have.
                let not_found = || crate::domain::Error::NotFound("no such session".into());
                let session_id = ids::decode_as(Kind::Session, &id).ok_or_else(not_found)?;
                let session = crate::domain::sessions::find(&services.db, session_id)
                    .await?
                    .filter(|session| session.user_id == user_id)
                    .ok_or_else(not_found)?;
                services
                    .sessions
                    .end_one(&services.db, user_id, session.id)
                    .await?
            }
        };
        Ok(i32::try_from(ended).unwrap_or(i32::MAX))
    }
}
