//! `schema.graphql` is exactly what the code prints.

#[test]
fn schema_graphql_matches_the_code() {
    let printed = conduit_gateway::graphql::sdl();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if printed != committed {
        // Rewrite it, so the next run passes and the diff shows in review.
        std::fs::write(path, &printed).expect("write schema.graphql");
        panic!("schema.graphql was not up to date; it has been rewritten, commit it");
    }
}
