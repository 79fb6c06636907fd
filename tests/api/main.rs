//! End-to-end tests: each spawns the real server on an ephemeral port with a
//! fresh database of its own and talks to it over HTTP, as a client does.
//! Every test runs on SQLite, and again on PostgreSQL when
//! `TEST_DATABASE_URL` points at a server.

#[macro_use]
mod helpers;
#[path = "../common/announced_address.rs"]
mod announced_address;
#[path = "../common/postgres_database.rs"]
mod postgres_database;

mod accounts;
mod article_columns;
mod articles;
mod authorization;
mod caching_proxy;
mod cancelled_writes;
mod comments;
mod crash_safety;
mod email;
mod favorites;
mod feed;
mod field_order;
mod graphiql;
mod graphql_over_http;
mod http;
mod http_caching;
mod limits;
mod node;
mod notifications;
mod pagination;
mod persisted_queries;
mod postgres_sockets;
mod process;
mod profiles;
mod query_connection;
mod rate_limits;
mod schema;
mod sessions;
mod shared_subscriptions;
mod sql_snapshots;
mod sql_statements;
mod strings;
mod subscriptions;
mod tags;
mod trusted_documents;
mod user_columns;
mod webhooks;
