//! sea-orm entities, one module per table. Plain data, no rules: the rules
//! live in the gateway's `domain` layer.
//!
//! Table names are the plural ones the data model fixes (`users`, `articles`,
//! ...) so tools outside the project can read the same database; the modules
//! are singular, one row's worth of meaning each.

pub mod article;
pub mod article_tag;
pub mod comment;
pub mod favorite;
pub mod follow;
pub mod notification;
pub mod outbox;
pub mod prelude;
pub mod session;
pub mod setting;
pub mod sign_in_failure;
pub mod tag;
pub mod total;
pub mod trusted_document;
pub mod user;
pub mod webhook;
pub mod webhook_delivery;
