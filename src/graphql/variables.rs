//! Checking a request's variables against its operation's definitions: the
//! part of validation that depends on the request, for documents whose
//! validation is otherwise done once (`validate_once`).
//!
//! What async-graphql's validation checks of variables (their values in
//! the argument positions they fill) this checks against each variable's
//! declared type, which is what GraphQL's CoerceVariableValues does, and
//! validation has already proven each declared type fits where it is used.
//! The input types come from the schema's SDL, read once at start.

use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, OperationDefinition, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, ServerError, Value, Variables};

use super::error::{self, with_code};

/// The schema's input types, as far as checking values needs them.
pub struct InputTypes {
    types: HashMap<Name, Input>,
}

enum Input {
    Scalar,
    Enum(Vec<Name>),
    Object(Vec<InputField>),
}

struct InputField {
    name: Name,
    ty: Type,
    has_default: bool,
}

impl InputTypes {
    pub fn from_sdl(sdl: &str) -> Self {
        let document =
            async_graphql::parser::parse_schema(sdl).expect("BUG: the schema's own SDL parses");
        let mut types = HashMap::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(definition) = definition else {
                continue;
            };
            let definition = definition.node;
            let input = match definition.kind {
                TypeKind::Scalar => Input::Scalar,
                TypeKind::Enum(enumeration) => Input::Enum(
                    enumeration
                        .values
                        .into_iter()
                        .map(|value| value.node.value.node)
                        .collect(),
                ),
                TypeKind::InputObject(object) => Input::Object(
                    object
                        .fields
                        .into_iter()
                        .map(|field| InputField {
                            name: field.node.name.node,
                            ty: field.node.ty.node,
                            has_default: field.node.default_value.is_some(),
                        })
                        .collect(),
                ),
                _ => continue,
            };
            types.insert(definition.name.node, input);
        }
        Self { types }
    }

    /// `Ok` when every variable `operation` declares has a value its type
    /// accepts (or may be left out), else a validation error naming it.
    pub fn check(
        &self,
        operation: &OperationDefinition,
        variables: &Variables,
    ) -> Result<(), ServerError> {
        for definition in &operation.variable_definitions {
            let definition = &definition.node;
            let name = &definition.name.node;
            let value = variables.get(name);
            let problem = match value {
                None | Some(Value::Null)
                    if !definition.var_type.node.nullable && definition.default_value.is_none() =>
                {
                    Some(format!(
                        "is of required type \"{}\" but was not provided",
                        definition.var_type.node
                    ))
                }
                None => None,
                Some(value) => self
                    .problem(&definition.var_type.node, value)
                    .map(|problem| format!("got an invalid value: {problem}")),
            };
            if let Some(problem) = problem {
                return Err(with_code(
                    ServerError::new(format!("Variable \"${name}\" {problem}"), None),
                    error::GRAPHQL_VALIDATION_FAILED,
                ));
            }
        }
        Ok(())
    }

    /// What is wrong with `value` as a `ty`, if anything.
    fn problem(&self, ty: &Type, value: &Value) -> Option<String> {
        if *value == Value::Null {
            return (!ty.nullable).then(|| format!("null where \"{ty}\" is required"));
        }
        match &ty.base {
            BaseType::List(item) => match value {
                Value::List(items) => items
                    .iter()
                    .find_map(|item_value| self.problem(item, item_value)),
                // A single value stands for a list of one.
                single => self.problem(item, single),
            },
            BaseType::Named(name) => self.named_problem(name, value),
        }
    }

    fn named_problem(&self, name: &Name, value: &Value) -> Option<String> {
        let expected = |what: &str| Some(format!("expected {what} for \"{name}\", got {value}"));
        match name.as_str() {
            "Int" => match value {
                Value::Number(n) if n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()) => None,
                _ => expected("a 32-bit integer"),
            },
            "Float" => match value {
                Value::Number(_) => None,
                _ => expected("a number"),
            },
            "String" => match value {
                Value::String(_) => None,
                _ => expected("a string"),
            },
            "Boolean" => match value {
                Value::Boolean(_) => None,
                _ => expected("a boolean"),
            },
            "ID" => match value {
                Value::String(_) => None,
                Value::Number(n) if n.is_i64() || n.is_u64() => None,
                _ => expected("a string or an integer"),
            },
            _ => match self.types.get(name) {
                // A custom scalar (`DateTime`) checks itself when parsed.
                Some(Input::Scalar) | None => None,
                Some(Input::Enum(values)) => match value {
                    Value::Enum(given) if values.contains(given) => None,
                    Value::String(given) if values.iter().any(|v| v.as_str() == given) => None,
                    _ => expected("one of its values"),
                },
                Some(Input::Object(fields)) => {
                    let Value::Object(given) = value else {
                        return expected("an object");
                    };
                    if let Some(unknown) = given
                        .keys()
                        .find(|key| fields.iter().all(|f| &f.name != *key))
                    {
                        return Some(format!("\"{name}\" has no field \"{unknown}\""));
                    }
                    fields
                        .iter()
                        .find_map(|field| match given.get(&field.name) {
                            None if !field.ty.nullable && !field.has_default => Some(format!(
                                "\"{name}.{}\" of type \"{}\" is required",
                                field.name, field.ty
                            )),
                            None => None,
                            Some(field_value) => self
                                .problem(&field.ty, field_value)
                                .map(|problem| format!("in \"{name}.{}\": {problem}", field.name)),
                        })
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation(text: &str) -> OperationDefinition {
        let document = async_graphql::parser::parse_query(text).unwrap();
        document.operations.iter().next().unwrap().1.node.clone()
    }

    fn variables(json: serde_json::Value) -> Variables {
        Variables::from_json(json)
    }

    #[test]
    fn values_are_checked_against_their_declared_types() {
        let types = InputTypes::from_sdl(&crate::graphql::sdl());
        let page = operation(
            "query($first: Int, $after: String) { articles(first: $first, after: $after) { totalCount } }",
        );
        assert!(
            types
                .check(&page, &variables(serde_json::json!({ "first": 5 })))
                .is_ok()
        );
        assert!(
            types
                .check(&page, &variables(serde_json::json!({})))
                .is_ok()
        );
        assert!(
            types
                .check(&page, &variables(serde_json::json!({ "first": "five" })))
                .is_err()
        );
        assert!(
            types
                .check(
                    &page,
                    &variables(serde_json::json!({ "first": 3_000_000_000u64 }))
                )
                .is_err()
        );

        let sign_up =
            operation("mutation($input: SignUpInput!) { signUp(input: $input) { token } }");
        let valid =
            serde_json::json!({ "input": { "username": "a", "email": "a@b.c", "password": "p" } });
        assert!(types.check(&sign_up, &variables(valid)).is_ok());
        assert!(
            types
                .check(&sign_up, &variables(serde_json::json!({})))
                .is_err()
        );
        let missing = serde_json::json!({ "input": { "username": "a", "email": "a@b.c" } });
        assert!(types.check(&sign_up, &variables(missing)).is_err());
        let extra = serde_json::json!({ "input": { "username": "a", "email": "a@b.c", "password": "p", "admin": true } });
        assert!(types.check(&sign_up, &variables(extra)).is_err());
    }
}
