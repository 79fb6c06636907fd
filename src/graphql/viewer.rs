//! Who is asking: read from the `Authorization` header (HTTP) or the
//! `authorization` field of `connection_init` (WebSocket), once per request.

use std::sync::Arc;

use async_graphql::Context;

use super::batch::Load;
use super::loaders::{Key, Loaders, SqlLoader};

use sea_orm::DatabaseConnection;

use crate::auth::activity::Activity;
use crate::auth::ended::EndedSessions;
use crate::auth::token::{TokenError, Tokens};
use crate::db::Reads;
use crate::domain;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewer {
    Anonymous,
    /// A user, through a token of one of their sessions.
    User {
        id: i64,
        session: i64,
    },
    /// A token was sent and refused. Kept instead of failing the request, so
    /// `signIn` still works for a client holding an expired token; every
    /// field that asks who the caller is answers UNAUTHENTICATED.
    Refused(TokenError),
}

/// The `User-Agent` of the request (or of the WebSocket's upgrade): what a
/// session opened by it shows.
#[derive(Clone, Debug, Default)]
pub struct UserAgent(pub Option<Arc<str>>);

/// Who is asking, and until when their token holds.
#[derive(Clone, Copy, Debug)]
pub struct Authenticated {
    pub viewer: Viewer,
    /// When the token expires (Unix seconds), if one was accepted: a
    /// WebSocket ends its rights then.
    pub expires_at: Option<i64>,
}

/// Checks tokens: the signature and claims (`Tokens`), then whether the
/// session has ended since, from the in-memory set; from the database only
/// while that set is incomplete (at start, or after the event bus lost its
/// connection), so a token of an ended session is never let through.
pub struct Authenticator {
    pub tokens: Arc<Tokens>,
    pub ended: Arc<EndedSessions>,
    pub activity: Arc<Activity>,
    /// For the fallback read.
    pub db: DatabaseConnection,
}

impl Authenticator {
    /// Reads `Bearer <token>` or `Token <token>` (schemes are case-blind).
    /// No header, or an empty one, is anonymous; anything else that is not a
    /// valid token of an open session is refused, never silently anonymous.
    pub async fn authenticate(&self, value: Option<&str>) -> Authenticated {
        let refused = |error| Authenticated {
            viewer: Viewer::Refused(error),
            expires_at: None,
        };
        let value = value.map(str::trim).unwrap_or_default();
        if value.is_empty() {
            return Authenticated {
                viewer: Viewer::Anonymous,
                expires_at: None,
            };
        }
        let token = value.split_once(' ').and_then(|(scheme, token)| {
            let scheme_ok =
                scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
            scheme_ok.then(|| token.trim())
        });
        let Some(token) = token else {
            return refused(TokenError::Invalid);
        };
        let verified = match self.tokens.verify(token) {
            Ok(verified) => verified,
            Err(error) => return refused(error),
        };
        if self.has_ended(verified.session_id).await {
            return refused(TokenError::Ended);
        }
        self.activity.saw(verified.session_id);
        Authenticated {
            viewer: Viewer::User {
                id: verified.user_id,
                session: verified.session_id,
            },
            expires_at: Some(verified.expires_at),
        }
    }

    /// Whether a session has ended, as this instance knows it; a session
    /// that cannot be looked up counts as ended (fail closed).
    pub async fn has_ended(&self, session_id: i64) -> bool {
        if self.ended.is_ready() {
            return self.ended.is_ended(session_id);
        }
        match domain::sessions::has_ended(&self.db, session_id).await {
            Ok(ended) => ended,
            Err(error) => {
                tracing::error!(error = ?error, "cannot check a session; refusing its token");
                true
            }
        }
    }
}

impl Viewer {
    /// The caller's id, or `None` when anonymous.
    ///
    /// # Errors
    /// UNAUTHENTICATED when the caller sent a token that was refused.
    pub fn id(&self) -> domain::Result<Option<i64>> {
        match self {
            Viewer::Anonymous => Ok(None),
            Viewer::User { id, .. } => Ok(Some(*id)),
            Viewer::Refused(error) => Err(domain::Error::Unauthenticated(error.to_string())),
        }
    }

    /// The caller's id, where signing in is required.
    pub fn require(&self) -> domain::Result<i64> {
        self.id()?.ok_or_else(domain::Error::unauthenticated)
    }

    /// The caller's id and session, where signing in is required.
    pub fn require_session(&self) -> domain::Result<(i64, i64)> {
        match self {
            Viewer::User { id, session } => Ok((*id, *session)),
            Viewer::Anonymous => Err(domain::Error::unauthenticated()),
            Viewer::Refused(error) => Err(domain::Error::Unauthenticated(error.to_string())),
        }
    }

    /// The session whose token made this request, if any.
    pub fn session(&self) -> Option<i64> {
        match self {
            Viewer::User { session, .. } => Some(*session),
            _ => None,
        }
    }
}

/// Shortcuts for resolvers.
pub trait ContextExt {
    fn viewer(&self) -> Viewer;
    fn services(&self) -> &super::Services;
    fn loaders(&self) -> &Loaders;
    /// Where this request's reads go (see `db::Reads`); writes use
    /// `services().db`.
    fn reads(&self) -> &Reads;
    /// The request's `User-Agent`, if it sent one.
    fn user_agent(&self) -> Option<&str>;

    /// Loads one value through the request's loader.
    fn load_one<K, V>(
        &self,
        key: K,
    ) -> impl Future<Output = async_graphql::Result<Option<V>>> + Send
    where
        K: Key<Value = V>,
        V: Clone + Send + Sync + 'static,
        SqlLoader: Load<K, Value = V>;
}

impl ContextExt for Context<'_> {
    fn viewer(&self) -> Viewer {
        // Every request gets a viewer from the HTTP or WebSocket layer; a
        // request built elsewhere (the schema printer) is anonymous.
        self.data_opt::<Viewer>()
            .copied()
            .unwrap_or(Viewer::Anonymous)
    }

    fn services(&self) -> &super::Services {
        self.data_unchecked::<super::Services>()
    }

    fn loaders(&self) -> &Loaders {
        self.data_unchecked::<Arc<Loaders>>()
    }

    fn reads(&self) -> &Reads {
        self.data_unchecked::<Reads>()
    }

    fn user_agent(&self) -> Option<&str> {
        self.data_opt::<UserAgent>()
            .and_then(|agent| agent.0.as_deref())
    }

    fn load_one<K, V>(
        &self,
        key: K,
    ) -> impl Future<Output = async_graphql::Result<Option<V>>> + Send
    where
        K: Key<Value = V>,
        V: Clone + Send + Sync + 'static,
        SqlLoader: Load<K, Value = V>,
    {
        let loading = self.loaders().load_one(key);
        // The last caller of a key takes the value itself; the others a copy.
        async move { Ok(loading.await?.map(Arc::unwrap_or_clone)) }
    }
}
