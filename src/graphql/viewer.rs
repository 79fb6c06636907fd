//! Who is asking: read from the `Authorization` header (HTTP) or the
//! `authorization` field of `connection_init` (WebSocket), once per request.

use std::hash::Hash;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::Loader;

use super::loaders::{Loaders, SqlLoader};

use crate::auth::token::{TokenError, Tokens};
use crate::db::Reads;
use crate::domain;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewer {
    Anonymous,
    User(i64),
    /// A token was sent and refused. Kept instead of failing the request, so
    /// `signIn` still works for a client holding an expired token; every
    /// field that asks who the caller is answers UNAUTHENTICATED.
    Refused(TokenError),
}

impl Viewer {
    /// Reads `Bearer <token>` or `Token <token>` (schemes are case-blind).
    /// No header, or an empty one, is anonymous; anything else that is not a
    /// valid token is refused, never silently anonymous.
    pub fn from_authorization(value: Option<&str>, tokens: &Tokens) -> Self {
        Self::from_authorization_until(value, tokens).0
    }

    /// The viewer, and when its token expires (Unix seconds) if it sent one
    /// that was accepted: a WebSocket ends its rights then.
    pub fn from_authorization_until(value: Option<&str>, tokens: &Tokens) -> (Self, Option<i64>) {
        let value = value.map(str::trim).unwrap_or_default();
        if value.is_empty() {
            return (Viewer::Anonymous, None);
        }
        let token = value.split_once(' ').and_then(|(scheme, token)| {
            let scheme_ok =
                scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
            scheme_ok.then(|| token.trim())
        });
        match token.map(|token| tokens.verify_until(token)) {
            Some(Ok((user_id, expires_at))) => (Viewer::User(user_id), Some(expires_at)),
            Some(Err(error)) => (Viewer::Refused(error), None),
            None => (Viewer::Refused(TokenError::Invalid), None),
        }
    }

    /// The caller's id, or `None` when anonymous.
    ///
    /// # Errors
    /// UNAUTHENTICATED when the caller sent a token that was refused.
    pub fn id(&self) -> domain::Result<Option<i64>> {
        match self {
            Viewer::Anonymous => Ok(None),
            Viewer::User(id) => Ok(Some(*id)),
            Viewer::Refused(error) => Err(domain::Error::Unauthenticated(error.to_string())),
        }
    }

    /// The caller's id, where signing in is required.
    pub fn require(&self) -> domain::Result<i64> {
        self.id()?.ok_or_else(domain::Error::unauthenticated)
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

    /// Loads one value through the request's loader.
    fn load_one<K>(
        &self,
        key: K,
    ) -> impl Future<Output = async_graphql::Result<Option<<SqlLoader as Loader<K>>::Value>>> + Send
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        SqlLoader: Loader<K, Error = Arc<domain::Error>>;
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

    fn load_one<K>(
        &self,
        key: K,
    ) -> impl Future<Output = async_graphql::Result<Option<<SqlLoader as Loader<K>>::Value>>> + Send
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        SqlLoader: Loader<K, Error = Arc<domain::Error>>,
    {
        let loaders = self.loaders();
        async move { Ok(loaders.load_one(key).await?) }
    }
}
