//! Users: the `User` type, accounts (`signUp`, `signIn`, `viewer`,
//! `updateViewer`) and profiles (`user`).

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use entity::user;

use super::articles::Article;
use super::connection::{Connection, Total};
use super::ids::{self, Kind};
use super::loaders::{
    FollowedByViewer, UserArticles, UserEmail, UserFavorites, UserFollowers, UserFollowing,
};
use super::sessions::{AuthPayload, Session};
use super::viewer::ContextExt as _;
use crate::domain::Seen;
use crate::domain::profiles::{self, Profile};
use crate::domain::users::{self as domain_users, NewUser, UserPatch};
use crate::limits::ClientAddress;

/// A person on Conduit: an author, a reader, or both.
#[derive(Clone)]
pub struct User {
    pub row: Profile,
    /// The email, when the row was read from the account itself (`viewer`,
    /// `signIn`, ...); else `email` reads it, for the one caller who may.
    email: Option<String>,
    /// Whether the viewer follows this user, when the statement that read
    /// the row said so too (see `Seen`); else `followedByViewer` asks the
    /// loader.
    followed_by_viewer: Option<bool>,
    /// The account that just proved its password (`signUp`, `signIn`): its
    /// email is shown to this request, whatever token it came with.
    signed_in: bool,
}

impl User {
    pub fn new(row: Profile) -> Self {
        Self {
            row,
            email: None,
            followed_by_viewer: None,
            signed_in: false,
        }
    }

    pub fn seen(seen: Seen<Profile>) -> Self {
        Self::followed(seen.row, seen.flag)
    }

    /// The user from their account row, email included.
    pub fn account(account: user::Model) -> Self {
        Self {
            email: Some(account.email.clone()),
            ..Self::new(account.into())
        }
    }

    /// The account a request has just signed in as.
    pub(crate) fn signed_in(account: user::Model) -> Self {
        Self {
            signed_in: true,
            ..Self::account(account)
        }
    }

    /// A user whom the viewer follows or not, as `followed` says.
    fn followed(row: Profile, followed: bool) -> Self {
        Self {
            followed_by_viewer: Some(followed),
            ..Self::new(row)
        }
    }
}

#[Object(crate = "crate::graphql::ordered", cache_control(max_age = 30))]
impl User {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::User, self.row.id)
    }

    async fn username(&self) -> &str {
        &self.row.username
    }

    /// The user's own email: null for every caller but the user.
    #[graphql(cache_control(private))]
    async fn email(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        if !self.signed_in && ctx.viewer().id()? != Some(self.row.id) {
            return Ok(None);
        }
        match &self.email {
            Some(email) => Ok(Some(email.clone())),
            None => ctx.load_one(UserEmail(self.row.id)).await,
        }
    }

    async fn bio(&self) -> Result<Option<&str>> {
        Ok(self.row.bio()?)
    }

    async fn image(&self) -> Result<Option<&str>> {
        Ok(self.row.image()?)
    }

    async fn created_at(&self) -> Result<DateTime<Utc>> {
        Ok(self.row.created_at()?)
    }

    #[graphql(cache_control(max_age = 5))]
    async fn followers_count(&self) -> Result<i64> {
        Ok(self.row.followers_count()?)
    }

    #[graphql(cache_control(max_age = 5))]
    async fn following_count(&self) -> Result<i64> {
        Ok(self.row.following_count()?)
    }

    /// False for anonymous callers.
    async fn followed_by_viewer(&self, ctx: &Context<'_>) -> Result<bool> {
        if let Some(known) = self.followed_by_viewer {
            return Ok(known);
        }
        if ctx.viewer().id()?.is_none() {
            return Ok(false);
        }
        Ok(ctx
            .load_one(FollowedByViewer(self.row.id))
            .await?
            .unwrap_or(false))
    }

    /// Who follows this user, most recent first.
    #[graphql(cache_control(max_age = 5))]
    async fn followers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<User>> {
        super::connection::nested::<UserFollowers, _>(
            ctx,
            self.row.id,
            first,
            after,
            counted(self.row.counters_read().0),
            User::new,
        )
        .await
    }

    /// Whom this user follows, most recent first.
    #[graphql(cache_control(max_age = 5))]
    async fn following(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<User>> {
        super::connection::nested::<UserFollowing, _>(
            ctx,
            self.row.id,
            first,
            after,
            counted(self.row.counters_read().1),
            User::new,
        )
        .await
    }

    /// Articles this user wrote.
    #[graphql(cache_control(max_age = 5))]
    async fn articles(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Article>> {
        super::connection::nested::<UserArticles, _>(
            ctx,
            self.row.id,
            first,
            after,
            Total::UserArticles(self.row.id),
            Article::new,
        )
        .await
    }

    /// The user's own choice to get notifications by email too: null for every caller but the user.
    #[graphql(cache_control(private))]
    async fn email_notifications(&self, ctx: &Context<'_>) -> Result<Option<bool>> {
        if ctx.viewer().id()? != Some(self.row.id) {
            return Ok(None);
        }
        Ok(domain_users::find_by_id(ctx.reads(), self.row.id)
            .await?
            .map(|user| user.email_notifications))
    }

    /// The user's own open sessions, newest first: empty for every caller but the user.
    #[graphql(cache_control(private))]
    async fn sessions(&self, ctx: &Context<'_>) -> Result<Vec<Session>> {
        if ctx.viewer().id()? != Some(self.row.id) {
            return Ok(Vec::new());
        }
        let sessions = crate::domain::sessions::open_sessions(ctx.reads(), self.row.id).await?;
        Ok(sessions.into_iter().map(Session).collect())
    }

    /// The user's own webhooks, newest first: empty for every caller but the user.
    #[graphql(cache_control(private))]
    async fn webhooks(&self, ctx: &Context<'_>) -> Result<Vec<super::webhooks::Webhook>> {
        if ctx.viewer().id()? != Some(self.row.id) {
            return Ok(Vec::new());
        }
        Ok(ctx
            .load_one(super::loaders::WebhooksOf(self.row.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(super::webhooks::Webhook)
            .collect())
    }

    /// Articles this user favorited, most recently favorited first.
    #[graphql(cache_control(max_age = 5))]
    async fn favorites(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Article>> {
        super::connection::nested::<UserFavorites, _>(
            ctx,
            self.row.id,
            first,
            after,
            Total::UserFavorites(self.row.id),
            Article::new,
        )
        .await
    }
}

/// A connection's total from a counter on the user's row: not read where
/// the query does not ask for the total (`asked::of_user`).
fn counted(counter: Option<i64>) -> Total {
    counter.map_or(Total::Unread, Total::Known)
}

#[derive(InputObject)]
pub struct SignUpInput {
    /// 1 to 32 letters, digits, '_' or '-'.
    username: String,
    email: String,
    /// At least 8 characters.
    password: String,
}

#[derive(InputObject)]
pub struct SignInInput {
    email: String,
    password: String,
}

/// Fields left out (or null) stay as they are.
#[derive(InputObject)]
pub struct UpdateViewerInput {
    email: Option<String>,
    username: Option<String>,
    password: Option<String>,
    /// An empty string removes the bio.
    bio: Option<String>,
    /// An http(s) URL; an empty string removes the image.
    image: Option<String>,
    /// Get each notification by email too.
    email_notifications: Option<bool>,
}

#[derive(Default)]
pub struct UserQuery;

#[Object(crate = "crate::graphql::ordered", cache_control(max_age = 60))]
impl UserQuery {
    /// The caller, or null when anonymous.
    #[graphql(cache_control(private))]
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = ctx.viewer().id()? else {
            return Ok(None);
        };
        // A valid token for an account that no longer exists is refused,
        // not anonymous.
        let user = domain_users::find_by_id(ctx.reads(), id)
            .await?
            .ok_or_else(crate::domain::Error::unauthenticated)?;
        Ok(Some(User::account(user)))
    }

    #[graphql(cache_control(max_age = 30))]
    async fn user(&self, ctx: &Context<'_>, username: String) -> Result<Option<User>> {
        Ok(domain_users::find_by_username(ctx.reads(), &username)
            .await?
            .map(User::account))
    }
}

#[derive(Default)]
pub struct UserMutation;

#[Object(crate = "crate::graphql::ordered")]
impl UserMutation {
    async fn sign_up(&self, ctx: &Context<'_>, input: SignUpInput) -> Result<AuthPayload> {
        let services = ctx.services();
        let (user, issued) = domain_users::sign_up(
            &services.db,
            &services.sessions,
            NewUser {
                username: input.username,
                email: input.email,
                password: input.password,
            },
            ctx.user_agent(),
        )
        .await?;
        Ok(AuthPayload::new(ctx, user, issued))
    }

    async fn sign_in(&self, ctx: &Context<'_>, input: SignInInput) -> Result<AuthPayload> {
        let services = ctx.services();
        let client = ctx.data_opt::<ClientAddress>().copied();
        let user = domain_users::sign_in(
            &services.db,
            services.lockout,
            client,
            &input.email,
            &input.password,
        )
        .await?;
        let issued = services
            .sessions
            .open(&services.db, user.id, ctx.user_agent())
            .await?;
        Ok(AuthPayload::new(ctx, user, issued))
    }

    /// A new password also ends every other session of the caller.
    async fn update_viewer(&self, ctx: &Context<'_>, input: UpdateViewerInput) -> Result<User> {
        let (user_id, session) = ctx.viewer().require_session()?;
        let patch = UserPatch {
            email: input.email,
            username: input.username,
            password: input.password,
            bio: input.bio,
            image: input.image,
            email_notifications: input.email_notifications,
        };
        let services = ctx.services();
        Ok(User::account(
            domain_users::update(&services.db, &services.sessions, user_id, session, patch).await?,
        ))
    }

    async fn follow_user(&self, ctx: &Context<'_>, username: String) -> Result<User> {
        let viewer = ctx.viewer().require()?;
        let followed = profiles::follow(
            &ctx.services().db,
            &ctx.services().events,
            viewer,
            &username,
        )
        .await?;
        Ok(User::followed(followed.into(), true))
    }

    async fn unfollow_user(&self, ctx: &Context<'_>, username: String) -> Result<User> {
        let viewer = ctx.viewer().require()?;
        let unfollowed = profiles::unfollow(
            &ctx.services().db,
            &ctx.services().events,
            viewer,
            &username,
        )
        .await?;
        Ok(User::followed(unfollowed.into(), false))
    }
}
