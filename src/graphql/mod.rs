//! The GraphQL schema: one module per domain type, each with its `#[Object]`
//! and its Query and Mutation pieces, merged here.

pub mod articles;
pub mod asked;
pub mod batch;
pub mod batching;
pub mod bounds;
pub mod cache_hints;
pub mod comments;
pub mod connection;
pub mod cost;
pub mod documents;
pub mod error;
mod event_stream;
pub mod ids;
pub mod loaders;
pub mod node;
pub mod notifications;
pub mod ordered;
pub mod pipeline;
pub mod sessions;
pub mod tags;
pub mod trusted;
pub mod users;
pub mod validate_once;
pub mod variables;
pub mod viewer;
pub mod webhooks;

use async_graphql::{MergedObject, MergedSubscription, Schema};
use sea_orm::DatabaseConnection;

use crate::auth::token::Tokens;

pub use viewer::Viewer;

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    node::NodeQuery,
    users::UserQuery,
    articles::ArticleQuery,
    tags::TagQuery,
    notifications::NotificationQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    users::UserMutation,
    sessions::SessionMutation,
    articles::ArticleMutation,
    comments::CommentMutation,
    notifications::NotificationMutation,
    webhooks::WebhookMutation,
);

#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(
    comments::CommentSubscription,
    articles::ArticleSubscription,
    notifications::NotificationSubscription,
);

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Query limits the schema itself enforces (the rest are `pipeline`'s).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_depth: usize,
}

/// What every resolver can reach through `ctx.data_unchecked`.
#[derive(Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    pub tokens: Tokens,
    pub events: crate::events::EventBus,
    pub sessions: crate::domain::sessions::Sessions,
    /// How many failed sign-ins lock an account or an address, for how long.
    pub lockout: crate::domain::lockout::Policy,
    /// Whether email is sent (an SMTP server is set).
    pub mail: bool,
    /// The address rule webhook URLs are checked against.
    pub outbound: crate::outbound::Policy,
}

/// The schema, without extensions: what they would do is in `pipeline`.
/// (Any extension at all makes async-graphql look every resolved field up
/// in its registry and run it through the extension chain: 14 % of the
/// token homepage's throughput, measured.)
pub fn build_schema(services: Services, limits: Limits) -> AppSchema {
    build_schema_validating(services, limits, async_graphql::ValidationMode::Strict)
}

/// The schema, validating as `mode` says: `Fast` is for the stored
/// documents that have passed `Strict` once (see `validate_once`).
pub fn build_schema_validating(
    services: Services,
    limits: Limits,
    mode: async_graphql::ValidationMode,
) -> AppSchema {
    schema_builder()
        .data(services)
        .limit_depth(limits.max_depth)
        .validation_mode(mode)
        .finish()
}

fn schema_builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
}

/// The schema in SDL, as `conduit-gateway schema` prints it and
/// `schema.graphql` holds it.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}
