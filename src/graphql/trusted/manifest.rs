//! The manifests client tools write, read as they are:
//!
//! - Apollo's persisted query manifest (`@apollo/generate-persisted-query-manifest`):
//!   `{"format": "apollo-persisted-query-manifest", "version": 1,
//!   "operations": [{"id", "name", "type", "body"}]}`;
//! - graphql-codegen's client preset `persisted-documents.json`:
//!   `{"sha256:<hex>": "<document>"}` (bare hex accepted too);
//! - a plain map of id to document (Relay's persisted queries, with
//!   `persistConfig.algorithm` set to `SHA256`).
//!
//! Each tool hashes the exact text it writes beside the id (Apollo its
//! printed body with `__typename` added, codegen one normalized line), so
//! the text is kept byte for byte and its SHA-256 must be the id.

use serde_json::Value;

use super::super::documents::sha256;
use crate::domain::trusted_documents::NewDocument;

/// Why a manifest cannot be stored (nothing of it is).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("not a manifest: {0}")]
    Shape(String),
    #[error("document {id}: its id is not the SHA-256 of its text (that is {actual})")]
    WrongId { id: String, actual: String },
    #[error("document {id}: {message}")]
    Unparsable { id: String, message: String },
}

/// The documents of a manifest, checked: every id the SHA-256 of its text,
/// every text a GraphQL document.
pub fn read(text: &str) -> Result<Vec<NewDocument>, ManifestError> {
    let json: Value =
        serde_json::from_str(text).map_err(|error| ManifestError::Shape(error.to_string()))?;
    let Value::Object(fields) = json else {
        return Err(ManifestError::Shape("expected a JSON object".into()));
    };
    let pairs: Vec<(String, String)> = if fields.get("format").and_then(Value::as_str)
        == Some("apollo-persisted-query-manifest")
    {
        let version = fields.get("version").and_then(Value::as_i64);
        if version != Some(1) {
            return Err(ManifestError::Shape(format!(
                "Apollo manifest version {version:?}; only 1 is known"
            )));
        }
        let operations = fields
            .get("operations")
            .and_then(Value::as_array)
            .ok_or_else(|| ManifestError::Shape("an Apollo manifest needs `operations`".into()))?;
        operations
            .iter()
            .map(|operation| {
                let id = operation.get("id").and_then(Value::as_str);
                let body = operation.get("body").and_then(Value::as_str);
                match (id, body) {
                    (Some(id), Some(body)) => Ok((id.to_owned(), body.to_owned())),
                    _ => Err(ManifestError::Shape(
                        "each operation needs an `id` and a `body` string".into(),
                    )),
                }
            })
            .collect::<Result<_, _>>()?
    } else {
        fields
            .into_iter()
            .map(|(id, body)| match body {
                Value::String(body) => Ok((id, body)),
                _ => Err(ManifestError::Shape(format!(
                    "{id}: expected the document as a string"
                ))),
            })
            .collect::<Result<_, _>>()?
    };
    pairs
        .into_iter()
        .map(|(id, body)| checked(&id, body))
        .collect()
}

/// The id as stored: lower-case hex, without a `sha256:` prefix.
pub fn normalize_id(id: &str) -> String {
    id.strip_prefix("sha256:")
        .unwrap_or(id)
        .to_ascii_lowercase()
}

fn checked(id: &str, body: String) -> Result<NewDocument, ManifestError> {
    let normalized = normalize_id(id);
    let actual = sha256(&body);
    if normalized != actual {
        return Err(ManifestError::WrongId {
            id: id.to_owned(),
            actual,
        });
    }
    let document =
        async_graphql::parser::parse_query(&body).map_err(|error| ManifestError::Unparsable {
            id: id.to_owned(),
            message: error.to_string(),
        })?;
    let operation_name = match &document.operations {
        async_graphql::parser::types::DocumentOperations::Single(_) => None,
        async_graphql::parser::types::DocumentOperations::Multiple(operations) => {
            let names: Vec<&str> = operations.keys().map(|name| name.as_str()).collect();
            Some(names.join(", "))
        }
    };
    Ok(NewDocument {
        id: normalized,
        body,
        operation_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUERY: &str = "query Tags { popularTags(first: 5) { name } }";

    #[test]
    fn the_three_formats_are_read() {
        let id = sha256(QUERY);
        let apollo = serde_json::json!({
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [{ "id": id, "name": "Tags", "type": "query", "body": QUERY }],
        });
        let codegen = serde_json::json!({ format!("sha256:{id}"): QUERY });
        let plain = serde_json::json!({ id.to_uppercase(): QUERY });
        for manifest in [apollo, codegen, plain] {
            let documents = read(&manifest.to_string()).unwrap();
            assert_eq!(
                documents,
                [NewDocument {
                    id: id.clone(),
                    body: QUERY.to_owned(),
                    operation_name: Some("Tags".into()),
                }]
            );
        }
    }

    #[test]
    fn a_wrong_id_is_named() {
        let manifest = serde_json::json!({ "sha256:abc": QUERY });
        let error = read(&manifest.to_string()).unwrap_err();
        assert!(error.to_string().contains("sha256:abc"), "{error}");
        let manifest = serde_json::json!({ sha256("{ x"): "{ x" });
        assert!(matches!(
            read(&manifest.to_string()),
            Err(ManifestError::Unparsable { .. })
        ));
    }
}
