//! Every entity under a distinct name, for `use entity::prelude::*`.

pub use super::article::Entity as Article;
pub use super::article_tag::Entity as ArticleTag;
pub use super::comment::Entity as Comment;
pub use super::favorite::Entity as Favorite;
pub use super::follow::Entity as Follow;
pub use super::notification::Entity as Notification;
pub use super::outbox::Entity as Outbox;
pub use super::session::Entity as Session;
pub use super::setting::Entity as Setting;
pub use super::sign_in_failure::Entity as SignInFailure;
pub use super::tag::Entity as Tag;
pub use super::total::Entity as Total;
pub use super::trusted_document::Entity as TrustedDocument;
pub use super::user::Entity as User;
pub use super::webhook::Entity as Webhook;
pub use super::webhook_delivery::Entity as WebhookDelivery;
