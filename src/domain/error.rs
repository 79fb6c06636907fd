//! The errors a client can see, one variant per `extensions.code` of the
//! contract. `graphql::error` turns them into GraphQL errors.

use std::collections::BTreeMap;

use sea_orm::DbErr;

/// Messages per input field, as `extensions.fields` shows them.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// UNAUTHENTICATED: no token where one is needed, or a bad or expired one.
    #[error("{0}")]
    Unauthenticated(String),
    /// FORBIDDEN: signed in, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// NOT_FOUND: a mutation names something that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// BAD_USER_INPUT, with `extensions.fields` = { field: [message] }.
    #[error("invalid input: {}", summary(.0))]
    Invalid(FieldErrors),
    /// CONFLICT: a unique value (username, email) is taken; also carries
    /// `extensions.fields`, so a form can show it under the field.
    #[error("{}", summary(.0))]
    Conflict(FieldErrors),
    /// RATE_LIMITED, with `extensions.retryAfter`: too many attempts (or
    /// too much spent) for now; the same request may succeed after that
    /// many whole seconds.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    /// INTERNAL_SERVER_ERROR: logged with its cause chain, never shown.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn unauthenticated() -> Self {
        Self::Unauthenticated("sign in first".into())
    }

    /// BAD_USER_INPUT about one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(BTreeMap::from([(field.to_owned(), vec![message.into()])]))
    }

    /// CONFLICT about one field.
    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        Self::Conflict(BTreeMap::from([(field.to_owned(), vec![message.into()])]))
    }
}

// Not `#[from]`: a database error is always internal, and saying so here
// keeps `?` on sea-orm calls from ever showing SQL to a client.
impl From<DbErr> for Error {
    fn from(error: DbErr) -> Self {
        Self::Internal(anyhow::Error::new(error))
    }
}

fn summary(fields: &FieldErrors) -> String {
    fields
        .iter()
        .flat_map(|(field, messages)| messages.iter().map(move |m| format!("{field}: {m}")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Turns a unique-constraint violation into a client error at the call site;
/// every other database error stays internal.
pub trait OnConstraint<T> {
    fn on_unique_violation(self, map: impl FnOnce(&str) -> Error) -> Result<T>;
}

impl<T> OnConstraint<T> for std::result::Result<T, DbErr> {
    fn on_unique_violation(self, map: impl FnOnce(&str) -> Error) -> Result<T> {
        self.map_err(|error| match error.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(message)) => map(&message),
            _ => error.into(),
        })
    }
}
