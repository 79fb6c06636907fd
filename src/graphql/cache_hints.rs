//! Which answers may be cached, and for how long: the `cache_control`
//! hints on the schema's objects and fields, which async-graphql merges
//! over the fields a query selects (the smallest max-age; private wins)
//! into `Response::cache_control`, and `http::caching` turns into headers.
//!
//! | what | hint |
//! | --- | --- |
//! | `popularTags`, `Tag` | 60 s |
//! | `article`, `user`, `node`, `nodes`; `Article`, `User`, `Comment` | 30 s |
//! | every list (`articles`, connections, `User.followers`, ...) and count (`favoritesCount`, `totalCount`, ...) | 5 s |
//! | `viewer`, `feed`, `notifications`, `User.email`, `User.sessions`, `User.webhooks`, `User.emailNotifications`; `Session`, `Notification`, `Webhook`, `WebhookDelivery`, `AuthPayload` | private |
//!
//! The `*ByViewer` fields carry no private hint: they are false for every
//! anonymous caller, so an anonymous answer holding them is the same for
//! everyone (the homepage selects them), and a request with a token is
//! never cached whatever it selects.
//!
//! # Implementation notes
//! async-graphql counts a field without a hint as no bound at all (max-age
//! 0, merged as "no opinion"), so a field nobody annotated would take the
//! max-age of whatever is selected beside it. Hence every object type has
//! a hint of its own (merged wherever it is selected, a ceiling for all
//! its fields) and every root field one too; the test below holds every
//! type and root field a query can reach to that.

#[cfg(test)]
mod tests {
    use async_graphql::registry::{MetaType, Registry};
    use async_graphql::{CacheControl, OutputType as _};

    use crate::graphql::QueryRoot;

    fn query_registry() -> Registry {
        let mut registry = Registry::default();
        QueryRoot::create_type_info(&mut registry);
        registry
    }

    #[test]
    fn every_object_and_root_field_a_query_reaches_has_a_hint() {
        let registry = query_registry();
        // The registry also holds helpers of the derive macros that the
        // schema leaves out (`MergedObjectTail`).
        let sdl = crate::graphql::sdl();
        let unhinted = |hint: &CacheControl| *hint == CacheControl::default();
        let mut missing = Vec::new();
        for (name, ty) in &registry.types {
            let MetaType::Object {
                cache_control,
                fields,
                ..
            } = ty
            else {
                continue;
            };
            if name.starts_with("__") || !sdl.contains(&format!("type {name} ")) {
                continue;
            }
            if unhinted(cache_control) {
                missing.push(name.clone());
            }
            if name == "Query" {
                missing.extend(
                    fields
                        .values()
                        .filter(|field| !field.name.starts_with("__"))
                        .filter(|field| unhinted(&field.cache_control))
                        .map(|field| format!("Query.{}", field.name)),
                );
            }
        }
        assert!(missing.is_empty(), "no cache hint: {missing:?}");
    }

    #[test]
    fn the_private_fields_are_private() {
        let registry = query_registry();
        let field = |ty: &str, name: &str| {
            registry.types[ty]
                .field_by_name(name)
                .unwrap_or_else(|| panic!("{ty}.{name}"))
                .cache_control
        };
        for (ty, name) in [
            ("Query", "viewer"),
            ("Query", "feed"),
            ("Query", "notifications"),
            ("User", "email"),
            ("User", "sessions"),
            ("User", "webhooks"),
            ("User", "emailNotifications"),
        ] {
            assert!(!field(ty, name).public, "{ty}.{name}");
        }
        for ty in ["Session", "Notification", "Webhook", "WebhookDelivery"] {
            let MetaType::Object { cache_control, .. } = &registry.types[ty] else {
                panic!("{ty} is an object");
            };
            assert!(!cache_control.public, "{ty}");
        }
        assert_eq!(field("Query", "popularTags").max_age, 60);
        assert_eq!(field("Query", "articles").max_age, 5);
        assert_eq!(field("Query", "article").max_age, 30);
    }
}
