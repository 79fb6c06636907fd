//! The API's global ids, `base64url("Type:id")`, as the domain writes them
//! into what leaves the building (webhook payloads). `graphql::ids` reads
//! and writes them through this, so both say the same.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The global id of row `id` of GraphQL type `type_name`.
pub fn encode(type_name: &str, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{type_name}:{id}"))
}
