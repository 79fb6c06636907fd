//! Input rules, each a function from raw input to a clean value or a message,
//! and `Checks`, which gathers every message of one input so a client learns
//! all that is wrong at once, not one field per round trip.

use super::{Error, FieldErrors, Result};

pub const USERNAME_MAX: usize = 32;
pub const EMAIL_MAX: usize = 254;
pub const PASSWORD_MIN: usize = 8;
// argon2 hashes any length, but a megabyte password is a cheap way to burn
// server CPU; 128 is far above any real passphrase.
pub const PASSWORD_MAX: usize = 128;
pub const BIO_MAX: usize = 2_000;
pub const URL_MAX: usize = 2_048;
/// The most ids one list argument may carry (`nodes`, `markNotificationsRead`):
/// a page's worth.
pub const IDS_MAX: usize = 100;

/// A list of ids no longer than [`IDS_MAX`].
pub fn id_count(count: usize) -> std::result::Result<(), String> {
    if count > IDS_MAX {
        return Err(format!("at most {IDS_MAX} ids, not {count}"));
    }
    Ok(())
}

/// Collects the messages of one input.
#[derive(Debug, Default)]
pub struct Checks(FieldErrors);

impl Checks {
    /// Records `result`'s message under `field`, or hands back its value.
    pub fn check<T>(&mut self, field: &str, result: std::result::Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.0.entry(field.to_owned()).or_default().push(message);
                None
            }
        }
    }

    /// Like `check`, for an optional input: `None` stays `None`.
    pub fn check_opt<T, U>(
        &mut self,
        field: &str,
        value: Option<T>,
        rule: impl FnOnce(T) -> std::result::Result<U, String>,
    ) -> Option<U> {
        value.and_then(|value| self.check(field, rule(value)))
    }

    /// BAD_USER_INPUT with every message, if there is any.
    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.0))
        }
    }
}

/// 1 to 32 letters, digits, `_` or `-`: safe in URLs and @-mentions.
pub fn username(raw: &str) -> std::result::Result<String, String> {
    let length = raw.chars().count();
    if length == 0 {
        return Err("must not be empty".into());
    }
    if length > USERNAME_MAX {
        return Err(format!("must be at most {USERNAME_MAX} characters"));
    }
    if !raw
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err("may contain only letters, digits, '_' and '-'".into());
    }
    Ok(raw.to_owned())
}

/// An address of the form local@domain.tld, trimmed and lower-cased so that
/// `Jane@Example.com` and `jane@example.com` are one account.
pub fn email(raw: &str) -> std::result::Result<String, String> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err("must not be empty".into());
    }
    if email.len() > EMAIL_MAX {
        return Err(format!("must be at most {EMAIL_MAX} characters"));
    }
    plain_text(&email)?;
    let well_formed = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if well_formed {
        Ok(email)
    } else {
        Err("must be an email address like name@example.com".into())
    }
}

pub fn password(raw: &str) -> std::result::Result<String, String> {
    let length = raw.chars().count();
    if length < PASSWORD_MIN {
        return Err(format!("must be at least {PASSWORD_MIN} characters"));
    }
    if length > PASSWORD_MAX {
        return Err(format!("must be at most {PASSWORD_MAX} characters"));
    }
    Ok(raw.to_owned())
}

/// Refuses the characters no stored string may hold: U+0000 and the other
/// control characters (Unicode `Cc`: C0, DEL, C1) except tab, line feed and
/// carriage return. Everything else (any script, combining marks, emoji,
/// bidirectional controls, quotes, `%`, backslashes) is text like any other.
///
/// # Implementation notes
/// NUL is refused, not escaped or dropped, and on SQLite as on PostgreSQL.
/// PostgreSQL's `text` cannot hold U+0000 at all (the statement fails), and
/// an escape or stripping would store something other than what was sent;
/// refusing it on both backends gives one input one answer on either. The
/// other control characters are never meant as text: they are how
/// terminal-escape and log-forging payloads travel.
pub fn plain_text(raw: &str) -> std::result::Result<(), String> {
    match raw
        .chars()
        .find(|&c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        Some(c) => Err(format!(
            "must not contain the control character U+{:04X}",
            u32::from(c)
        )),
        None => Ok(()),
    }
}

/// Whether `key` could name a stored row. Nothing stored holds U+0000 (see
/// `plain_text`), so a lookup by a key that does is answered "not found"
/// without asking the database, as for any unknown key: PostgreSQL would
/// refuse the statement (an internal error) where SQLite finds nothing.
pub fn may_name_something(key: &str) -> bool {
    !key.contains('\0')
}

/// Free text up to `max` characters, without control characters (see
/// `plain_text`); empty (after trimming) means "none".
pub fn optional_text(raw: &str, max: usize) -> std::result::Result<Option<String>, String> {
    let text = raw.trim();
    if text.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    plain_text(text)?;
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// An http(s) URL, or empty for "none".
pub fn optional_url(raw: &str) -> std::result::Result<Option<String>, String> {
    let Some(url) = optional_text(raw, URL_MAX)? else {
        return Ok(None);
    };
    let has_host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if has_host && !url.chars().any(char::is_whitespace) {
        Ok(Some(url))
    } else {
        Err("must be an http:// or https:// URL".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_url_safe_and_bounded() {
        assert!(username("jane_doe-2").is_ok());
        assert!(username("").is_err());
        assert!(username("jane doe").is_err());
        assert!(username("a/b").is_err());
        assert!(username(&"x".repeat(USERNAME_MAX + 1)).is_err());
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(email(" Jane@Example.COM ").unwrap(), "jane@example.com");
        for bad in [
            "",
            "jane",
            "jane@",
            "@example.com",
            "jane@example",
            "ja ne@example.com",
            "a@b@c.d",
        ] {
            assert!(email(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn empty_optional_text_means_none() {
        assert_eq!(optional_text("  ", 10).unwrap(), None);
        assert_eq!(optional_text(" hi ", 10).unwrap(), Some("hi".into()));
        assert!(optional_text("12345678901", 10).is_err());
        assert_eq!(optional_url("").unwrap(), None);
        assert!(optional_url("https://img.example.com/a.png").is_ok());
        assert!(optional_url("javascript:alert(1)").is_err());
    }

    #[test]
    fn control_characters_are_refused_but_tabs_and_newlines_are_text() {
        for bad in [
            "a\0b",
            "\u{1b}[31mred",
            "bell\u{7}",
            "del\u{7f}",
            "c1\u{9b}",
        ] {
            assert!(
                optional_text(bad, 100).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(email("ja\0ne@example.com").is_err());
        for good in [
            "a\tb\nc\r\nd",
            "\u{202e}txt",
            "e\u{301}",
            "\u{1f600}",
            "'; --",
        ] {
            assert_eq!(optional_text(good, 100).unwrap().as_deref(), Some(good));
        }
        assert!(!may_name_something("a\0b"));
        assert!(may_name_something("a%_\\b"));
    }

    #[test]
    fn checks_gather_every_message() {
        let mut checks = Checks::default();
        checks.check("username", username(""));
        checks.check("email", email("nope"));
        checks.check("password", password("ok-password"));
        match checks.finish() {
            Err(Error::Invalid(fields)) => {
                assert_eq!(fields.keys().collect::<Vec<_>>(), ["email", "username"]);
            }
            other => panic!("expected BAD_USER_INPUT, got {other:?}"),
        }
    }
}
