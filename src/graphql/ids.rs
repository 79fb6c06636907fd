//! Relay global ids: `base64("Type:id")`. Opaque to clients, stable across
//! restarts, and typed: an Article's id never resolves as a User.

use async_graphql::ID;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::domain::global_ids;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    User,
    Article,
    Comment,
    Notification,
    Session,
    Webhook,
    WebhookDelivery,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Article => "Article",
            Kind::Comment => "Comment",
            Kind::Notification => "Notification",
            Kind::Session => "Session",
            Kind::Webhook => "Webhook",
            Kind::WebhookDelivery => "WebhookDelivery",
        }
    }
}

pub fn encode(kind: Kind, id: i64) -> ID {
    ID(global_ids::encode(kind.name(), id))
}

/// The kind and row id an id names, or `None` for anything that is not one
/// of ours.
pub fn decode(id: &str) -> Option<(Kind, i64)> {
    let bytes = URL_SAFE_NO_PAD.decode(id).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let (name, raw) = text.split_once(':')?;
    let kind = [
        Kind::User,
        Kind::Article,
        Kind::Comment,
        Kind::Notification,
        Kind::Session,
        Kind::Webhook,
        Kind::WebhookDelivery,
    ]
    .into_iter()
    .find(|kind| kind.name() == name)?;
    Some((kind, raw.parse().ok()?))
}

/// The row id if `id` names a `kind`.
pub fn decode_as(kind: Kind, id: &str) -> Option<i64> {
    decode(id).filter(|(k, _)| *k == kind).map(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_keep_their_kind() {
        let id = encode(Kind::Article, 42);
        assert_eq!(decode(&id), Some((Kind::Article, 42)));
        assert_eq!(decode_as(Kind::User, &id), None);
        assert_eq!(decode("not an id"), None);
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("Article:x")), None);
    }
}
