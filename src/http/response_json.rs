//! A GraphQL response's JSON, written straight from its tree: the same
//! bytes `serde_json` writes for it (unit tests hold the two equal).
//!
//! # Implementation notes
//! Through serde, every string of a response, each object key among them,
//! goes through `serde_json`'s escaping, a table look-up per byte; on
//! `deep` (121 KB, 6,000 strings) that was ~0.9 M instructions of a
//! request, the largest single function of the server's (callgrind,
//! BENCHMARKS.md). Here a string is first looked at eight bytes at a time
//! and, when nothing in it needs an escape (nearly always), copied whole.
//! Serializing `deep` went from 1.67 M to 1.48 M instructions: most of its
//! strings are short keys, where the fixed cost per string dominates.
//! Numbers, bytes and the response's errors and extensions still go
//! through `serde_json`: they are few, and that keeps their text exactly
//! as before.

use async_graphql::{Response, Value};

/// `response` as JSON at the end of `out`: `data`, then `extensions` and
/// `errors` when there are any, as async-graphql's own `Serialize` orders
/// them.
pub(super) fn write_executed(out: &mut Vec<u8>, response: &Response) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"data\":");
    value(out, &response.data)?;
    if !response.extensions.is_empty() {
        out.extend_from_slice(b",\"extensions\":");
        serde_json::to_writer(&mut *out, &response.extensions)?;
    }
    if !response.errors.is_empty() {
        out.extend_from_slice(b",\"errors\":");
        serde_json::to_writer(&mut *out, &response.errors)?;
    }
    out.push(b'}');
    Ok(())
}

fn value(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::String(text) => string(out, text),
        Value::Enum(name) => string(out, name),
        Value::Number(number) => serde_json::to_writer(&mut *out, number)?,
        Value::Binary(bytes) => serde_json::to_writer(&mut *out, &bytes[..])?,
        Value::List(items) => {
            out.push(b'[');
            for (at, item) in items.iter().enumerate() {
                if at > 0 {
                    out.push(b',');
                }
                self::value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            out.push(b'{');
            for (at, (name, field)) in fields.iter().enumerate() {
                if at > 0 {
                    out.push(b',');
                }
                // A key is escaped too: a parsed name needs none, but a
                // value can be built in code.
                string(out, name);
                out.push(b':');
                self::value(out, field)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// `text` as a JSON string, escaped as `serde_json` escapes it: `"` and
/// `\` and the control characters below U+0020, nothing else. Nearly every
/// string has none of them and is copied whole.
fn string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if needs_no_escape(bytes) {
        out.extend_from_slice(bytes);
    } else {
        let mut copied = 0;
        for (at, &byte) in bytes.iter().enumerate() {
            if let Some(escape) = escape(byte) {
                out.extend_from_slice(&bytes[copied..at]);
                escape.write(out);
                copied = at + 1;
            }
        }
        out.extend_from_slice(&bytes[copied..]);
    }
    out.push(b'"');
}

/// Whether no byte of `bytes` needs an escape: eight bytes at a time, then
/// the few left one by one.
fn needs_no_escape(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        if needs_escape(u64::from_le_bytes(word.try_into().expect("eight bytes"))) {
            return false;
        }
    }
    words
        .remainder()
        .iter()
        .all(|&byte| byte >= 0x20 && byte != b'"' && byte != b'\\')
}

/// Whether any of the eight bytes of `word` is `"`, `\` or below 0x20:
/// the classic test for a byte below n, `(x - n * ONES) & !x & HIGH`, on
/// `word` and on `word` with each byte xor-ed with the quote and the
/// backslash (where those become zero). Exact for "any": a false mark can
/// only follow a true one in the same word.
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, n: u64| x.wrapping_sub(n * ONES) & !x & HIGH;
    below(word, 0x20)
        | below(word ^ (b'"' as u64 * ONES), 1)
        | below(word ^ (b'\\' as u64 * ONES), 1)
        != 0
}

enum Escape {
    Short(u8),
    Unicode(u8),
}

impl Escape {
    fn write(self, out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        match self {
            Escape::Short(letter) => out.extend_from_slice(&[b'\\', letter]),
            Escape::Unicode(byte) => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]),
        }
    }
}

fn escape(byte: u8) -> Option<Escape> {
    Some(match byte {
        b'"' => Escape::Short(b'"'),
        b'\\' => Escape::Short(b'\\'),
        0x08 => Escape::Short(b'b'),
        0x0c => Escape::Short(b'f'),
        b'\n' => Escape::Short(b'n'),
        b'\r' => Escape::Short(b'r'),
        b'\t' => Escape::Short(b't'),
        0x00..=0x1f => Escape::Unicode(byte),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use async_graphql::indexmap::IndexMap;
    use async_graphql::{ErrorExtensionValues, Name, Pos, ServerError};

    use super::*;

    fn serde(response: &Response) -> String {
        serde_json::to_string(response).unwrap()
    }

    fn ours(response: &Response) -> String {
        let mut out = Vec::new();
        write_executed(&mut out, response).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Every byte below 0x80 in every position of an eight-byte word and
    /// around it, and text beyond ASCII: escaped as serde_json escapes it.
    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut texts: Vec<String> = vec![
            String::new(),
            "plain".into(),
            "exactly8".into(),
            "sixteen bytes ok".into(),
            "Zoë, naïve café — “quoted” 🦀".into(),
            "tab\there, newline\nthere, a \"quote\" and a \\ backslash".into(),
        ];
        for byte in 0u8..0x80 {
            for at in 0..18 {
                let mut text = "a".repeat(at);
                text.push(char::from(byte));
                text.push_str(&"b".repeat(17 - at));
                texts.push(text);
            }
        }
        for text in texts {
            let response = Response::new(Value::String(text.clone()));
            assert_eq!(ours(&response), serde(&response), "{text:?}");
        }
    }

    #[test]
    fn a_whole_response_is_what_serde_json_writes() {
        let mut author = IndexMap::new();
        author.insert(Name::new("username"), Value::String("jake".into()));
        author.insert(Name::new("score"), Value::Number((-42).into()));
        author.insert(
            Name::new("ratio"),
            Value::Number(serde_json::Number::from_f64(0.1).unwrap()),
        );
        let mut node = IndexMap::new();
        node.insert(Name::new("__typename"), Value::String("Article".into()));
        node.insert(Name::new("title"), Value::String("How to \"train\"".into()));
        node.insert(Name::new("author"), Value::Object(author));
        node.insert(Name::new("kind"), Value::Enum(Name::new("PUBLISHED")));
        node.insert(Name::new("bytes"), Value::Binary(vec![0, 1, 255].into()));
        node.insert(Name::new("tags"), Value::List(vec![]));
        node.insert(Name::new("nothing"), Value::Null);
        node.insert(Name::new("yes"), Value::Boolean(true));
        node.insert(Name::new("no"), Value::Boolean(false));
        node.insert(Name::new("an odd key \u{1}"), Value::Null);
        let mut data = IndexMap::new();
        data.insert(
            Name::new("articles"),
            Value::List(vec![Value::Object(node.clone()), Value::Object(node)]),
        );
        let mut error = ServerError::new("not found", Some(Pos { line: 1, column: 3 }));
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", "NOT_FOUND");
        error.extensions = Some(extensions);
        let mut response = Response::new(Value::Object(data))
            .extension("cost", Value::Number(12.into()))
            .extension("budget", Value::Object(IndexMap::new()));
        response.errors.push(error);
        assert_eq!(ours(&response), serde(&response));
        assert_eq!(ours(&Response::default()), serde(&Response::default()));
    }
}
