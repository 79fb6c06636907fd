//! Bounds a document must fit before any recursive code sees it.
//!
//! async-graphql's parser (a pest grammar) and every visitor after it recurse
//! once per level of nesting, of selection sets and of values alike; the
//! parser bounds only selection sets, so `[[[[...]]]]` 2,000 deep overflowed
//! a worker's stack and aborted the process. This module looks at the text
//! with a flat scan (no recursion, no allocation) and at the variables with
//! an explicit stack, and refuses what nests deeper than [`MAX_NESTING`] or
//! has more tokens than the configured bound.
//!
//! # Why 64 is safe
//! The test `the_deepest_admitted_document_fits_a_small_stack` runs documents
//! at the bounds (lists, objects, selections, fragments, variables) through
//! this module, the parser, costing, validation and the executor on a thread
//! with a tokio worker's 2 MiB stack, in a debug build; a release build
//! (what runs) passes the same test on 256 KiB, an eighth of a worker's
//! stack. Before the bounds, 2,000 levels overflowed a release worker.

use async_graphql::{ServerError, Value, Variables};

use super::error::{GRAPHQL_PARSE_FAILED, with_code};

/// How deep lists, objects, argument lists and selection sets may nest, in
/// a document and in its variables: far above any real client (the
/// contract's deepest queries nest about 12).
pub const MAX_NESTING: usize = 64;

/// How many tokens a document may have by default (names, punctuation,
/// numbers and strings, each one). A generated client query has a few
/// hundred; the bound keeps parse time and the parsed tree small whatever
/// the body limit.
pub const DEFAULT_MAX_TOKENS: usize = 10_000;

/// Checks a document's text and variables.
pub fn check(text: &str, variables: &Variables, max_tokens: usize) -> Result<(), ServerError> {
    check_text(text, max_tokens)?;
    check_variables(variables)
}

/// Scans the text as GraphQL's lexer would (strings, block strings and
/// comments are skipped whole), counting tokens and the nesting of `{`, `[`
/// and `(`. Text the lexer would refuse is left for the parser to report.
pub fn check_text(text: &str, max_tokens: usize) -> Result<(), ServerError> {
    let bytes = text.as_bytes();
    let (mut depth, mut tokens, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                i = find_line_end(bytes, i);
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => i = skip_block_string(bytes, i + 3),
            b'"' => i = skip_string(bytes, i + 1),
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(refusal(format!(
                        "the document nests more than {MAX_NESTING} levels of selections, lists, objects or arguments"
                    )));
                }
                i += 1;
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => i += 3,
            _ if is_word(byte) => {
                while i < bytes.len() && is_word(bytes[i]) {
                    i += 1;
                }
            }
            // Punctuation (`:`, `$`, `!`, `=`, `@`, `|`, `&`) and anything
            // the parser will refuse: one token each.
            _ => i += utf8_len(byte),
        }
        tokens += 1;
        if tokens > max_tokens {
            return Err(refusal(format!(
                "the document has more than {max_tokens} tokens"
            )));
        }
    }
    Ok(())
}

/// Checks the nesting of the variables' values, without recursion.
pub fn check_variables(variables: &Variables) -> Result<(), ServerError> {
    let mut stack: Vec<(&Value, usize)> = variables.values().map(|value| (value, 1)).collect();
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::List(items) => Box::new(items.iter()),
            Value::Object(fields) => Box::new(fields.values()),
            _ => continue,
        };
        if depth > MAX_NESTING {
            return Err(refusal(format!(
                "the variables nest more than {MAX_NESTING} levels of lists or objects"
            )));
        }
        stack.extend(children.map(|child| (child, depth + 1)));
    }
    Ok(())
}

fn refusal(message: String) -> ServerError {
    with_code(ServerError::new(message, None), GRAPHQL_PARSE_FAILED)
}

fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'+' | b'.')
}

/// A multi-byte character counts once; continuation bytes are skipped.
fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

fn find_line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map_or(bytes.len(), |n| from + n)
}

/// Past the closing quote of a string whose opening quote ends at `from`.
/// A string ends at its line's end too: the parser refuses it there.
fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Past the closing `"""` of a block string (where `\"""` is an escape).
fn skip_block_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\\"\"\"") {
            i += 4;
        } else if bytes[i..].starts_with(b"\"\"\"") {
            return i + 3;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, close: &str, levels: usize) -> String {
        format!("{}1{}", open.repeat(levels), close.repeat(levels))
    }

    #[test]
    fn nesting_is_counted_for_every_bracket() {
        for (open, close) in [("[", "]"), ("{a:", "}"), ("(", ")"), ("{", "}")] {
            let at_bound = format!("{{ f(x: {}) }}", nested(open, close, MAX_NESTING - 2));
            assert!(check_text(&at_bound, 100_000).is_ok(), "{open}");
            let past = format!("{{ f(x: {}) }}", nested(open, close, MAX_NESTING - 1));
            assert!(check_text(&past, 100_000).is_err(), "{open}");
        }
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let deep = "[".repeat(1_000);
        for text in [
            format!("{{ f(x: \"{deep}\") }}"),
            format!("{{ f(x: \"\"\"{deep} \\\"\"\" {deep}\"\"\") }}"),
            format!("# {deep}\n{{ f }}"),
            format!("{{ f(x: \"a\\\"{deep}\") }}"),
        ] {
            assert!(check_text(&text, 100).is_ok(), "{text}");
        }
    }

    #[test]
    fn tokens_are_counted() {
        let fields = "a ".repeat(50);
        assert!(check_text(&format!("{{ {fields} }}"), 52).is_ok());
        assert!(check_text(&format!("{{ {fields} }}"), 51).is_err());
        // A string is one token however long.
        let long = format!("{{ f(x: \"{}\") }}", "x".repeat(10_000));
        assert!(check_text(&long, 10).is_ok());
    }

    #[test]
    fn variables_nest_within_the_bound() {
        let mut value = Value::Null;
        for _ in 0..MAX_NESTING {
            value = Value::List(vec![value]);
        }
        let variables = Variables::from_json(serde_json::json!({}));
        assert!(check_variables(&variables).is_ok());
        let mut ok = Variables::default();
        ok.insert(async_graphql::Name::new("v"), value.clone());
        assert!(check_variables(&ok).is_ok());
        let mut past = Variables::default();
        past.insert(async_graphql::Name::new("v"), Value::List(vec![value]));
        assert!(check_variables(&past).is_err());
    }

    /// The proof the module notes promise: every recursive pass over client
    /// input (this module, the parser, costing, validation, the executor's
    /// refusal) on the deepest documents the bounds admit, on a thread with
    /// a tokio worker's 2 MiB stack. Debug frames are several times release
    /// ones: `cargo test --release --lib the_deepest` passes with 256 KiB.
    #[test]
    fn the_deepest_admitted_document_fits_a_small_stack() {
        let below = MAX_NESTING - 4;
        let documents = vec![
            format!("{{ nodes(ids: {}) {{ id }} }}", nested("[", "]", below)),
            format!(
                "{{ articles(filter: {}) {{ totalCount }} }}",
                nested("{a: ", "}", below)
            ),
            format!(
                "{{ {}popularTags {{ name }}{} }}",
                "viewer { ".repeat(below),
                " }".repeat(below)
            ),
            format!(
                "{{ viewer {{ {}id{} }} }}",
                "... on User { ".repeat(below),
                " }".repeat(below)
            ),
        ];
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let schema = super::super::schema_builder().finish();
                    let model = super::super::cost::CostModel::from_sdl(&schema.sdl());
                    let mut deep = Value::Null;
                    for _ in 0..MAX_NESTING {
                        deep = Value::List(vec![deep]);
                    }
                    let mut variables = Variables::default();
                    variables.insert(async_graphql::Name::new("v"), deep);
                    for document in documents {
                        check_text(&document, DEFAULT_MAX_TOKENS).unwrap();
                        let parsed = async_graphql::parser::parse_query(&document).unwrap();
                        let _ = model.cost(&parsed, None, &Variables::default(), u64::MAX);
                        let response = schema.execute(document.as_str()).await;
                        assert!(response.is_err(), "refused by validation, not run");
                    }
                    check_variables(&variables).unwrap();
                    let request =
                        async_graphql::Request::new("query($v: [ID!]!) { nodes(ids: $v) { id } }")
                            .variables(variables);
                    assert!(schema.execute(request).await.is_err());
                });
            })
            .unwrap()
            .join()
            .expect("no stack overflow");
    }
}
