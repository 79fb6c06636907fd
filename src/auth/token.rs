//! Bearer tokens: HS256 JWTs whose subject is the user's id.
//!
//! Stateless on purpose: any instance that shares the secret (given, or kept
//! in the database) accepts any other's tokens without a lookup.

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user's id.
    sub: String,
    iat: i64,
    exp: i64,
}

/// Why a token was refused. Clients see one code (UNAUTHENTICATED); the
/// reason helps the message and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired; sign in again")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
}

/// Signs and checks tokens with one secret.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl Tokens {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // All instances run on servers with synchronized clocks; a few
        // seconds cover the rest without stretching every token's life.
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// A token for `user_id`, valid for the configured time from now.
    pub fn issue(&self, user_id: i64) -> String {
        let now = Utc::now().timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        self.issue_with_times(user_id, now, now.saturating_add(ttl))
    }

    /// A token with explicit times; tests use it for expired tokens.
    pub fn issue_with_times(&self, user_id: i64, issued_at: i64, expires_at: i64) -> String {
        let claims = Claims {
            sub: user_id.to_string(),
            iat: issued_at,
            exp: expires_at,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("BUG: HS256 encoding of plain claims cannot fail")
    }

    /// The user id a valid token names.
    pub fn verify(&self, token: &str) -> Result<i64, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        data.claims.sub.parse().map_err(|_| TokenError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60))
    }

    #[test]
    fn a_token_names_its_user() {
        let tokens = tokens();
        assert_eq!(tokens.verify(&tokens.issue(42)), Ok(42));
    }

    #[test]
    fn expired_and_tampered_tokens_are_refused() {
        let tokens = tokens();
        let now = Utc::now().timestamp();
        assert_eq!(
            tokens.verify(&tokens.issue_with_times(1, now - 120, now - 60)),
            Err(TokenError::Expired)
        );
        let mut tampered = tokens.issue(1);
        tampered.pop();
        assert_eq!(tokens.verify(&tampered), Err(TokenError::Invalid));
        let other = Tokens::new(
            b"another secret of at least 32 bytes!",
            Duration::from_secs(60),
        );
        assert_eq!(tokens.verify(&other.issue(1)), Err(TokenError::Invalid));
    }
}
