//! The GraphQL schema: one module per domain type, each with its `#[Object]`
//! and its Query and Mutation pieces, merged here.

pub mod error;
pub mod ids;
pub mod users;
pub mod viewer;

use async_graphql::{EmptySubscription, MergedObject, Schema};
use sea_orm::DatabaseConnection;

use crate::auth::token::Tokens;

pub use viewer::Viewer;

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(users::UserQuery);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(users::UserMutation);

pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Query limits; the defaults fit the contract's deepest reasonable queries.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_depth: usize,
    pub max_complexity: usize,
}

/// What every resolver can reach through `ctx.data_unchecked`.
pub struct Services {
    pub db: DatabaseConnection,
    pub tokens: Tokens,
}

pub fn build_schema(services: Services, limits: Limits) -> AppSchema {
    schema_builder()
        .data(services)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .finish()
}

fn schema_builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .extension(error::ErrorCodes)
}

/// The schema in SDL, as `conduit-gateway schema` prints it and
/// `schema.graphql` holds it.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}
