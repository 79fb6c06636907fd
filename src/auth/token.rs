//! Access tokens: short-lived HS256 JWTs whose subject is the user's id and
//! whose `sid` names the session they belong to, bound to one deployment by
//! their issuer and audience.
//!
//! Stateless on purpose: any instance that shares the secret (given, or kept
//! in the database) and the deployment's issuer accepts any other's tokens
//! without a lookup. What a signature cannot say (that the session has
//! ended since) is `auth::ended`'s, in memory.

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Seconds of clock difference tolerated between instances: enough for
/// servers with synchronized clocks, without stretching every token's life.
pub(crate) const LEEWAY: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user's id.
    sub: String,
    /// The session's id.
    sid: i64,
    iss: String,
    aud: String,
    iat: i64,
    nbf: i64,
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
    #[error("the session has ended; sign in again")]
    Ended,
}

/// What an accepted token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    pub user_id: i64,
    pub session_id: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Who tokens are from and for.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub issuer: String,
    pub audience: String,
}

/// Signs and checks tokens with one secret.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    deployment: Deployment,
    ttl: Duration,
}

impl Tokens {
    pub fn new(secret: &[u8], ttl: Duration, deployment: Deployment) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud", "nbf"]);
        validation.set_issuer(&[&deployment.issuer]);
        validation.set_audience(&[&deployment.audience]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            deployment,
            ttl,
        }
    }

    /// How long a token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A token for `user_id` in `session_id`, valid for the configured time
    /// from now, and when it expires (Unix seconds).
    pub fn issue(&self, user_id: i64, session_id: i64) -> (String, i64) {
        let now = Utc::now().timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let expires_at = now.saturating_add(ttl);
        let token = self.issue_with_times(user_id, session_id, now, expires_at);
        (token, expires_at)
    }

    /// A token with explicit times (not before = issued at); tests use it
    /// for expired and not-yet-valid tokens.
    pub fn issue_with_times(
        &self,
        user_id: i64,
        session_id: i64,
        issued_at: i64,
        expires_at: i64,
    ) -> String {
        let claims = Claims {
            sub: user_id.to_string(),
            sid: session_id,
            iss: self.deployment.issuer.clone(),
            aud: self.deployment.audience.clone(),
            iat: issued_at,
            nbf: issued_at,
            exp: expires_at,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("BUG: HS256 encoding of plain claims cannot fail")
    }

    /// What a valid token names.
    ///
    /// Beyond the signature, expiry, `nbf`, issuer and audience (checked by
    /// jsonwebtoken): a token issued in the future, or one that lives longer
    /// than this deployment's token lifetime, was not made by it.
    pub fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let claims = data.claims;
        let now = Utc::now().timestamp();
        let leeway = LEEWAY as i64;
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        if claims.iat > now.saturating_add(leeway)
            || claims.exp.saturating_sub(claims.iat) > ttl.saturating_add(leeway)
        {
            return Err(TokenError::Invalid);
        }
        let user_id = claims.sub.parse().map_err(|_| TokenError::Invalid)?;
        Ok(Verified {
            user_id,
            session_id: claims.sid,
            expires_at: claims.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(name: &str) -> Deployment {
        Deployment {
            issuer: name.to_owned(),
            audience: name.to_owned(),
        }
    }

    fn tokens() -> Tokens {
        Tokens::new(
            b"0123456789abcdef0123456789abcdef",
            Duration::from_secs(60),
            deployment("here"),
        )
    }

    fn issue(tokens: &Tokens, user_id: i64) -> String {
        tokens.issue(user_id, 7).0
    }

    #[test]
    fn a_token_names_its_user_and_session() {
        let tokens = tokens();
        let (token, expires_at) = tokens.issue(42, 7);
        assert_eq!(
            tokens.verify(&token),
            Ok(Verified {
                user_id: 42,
                session_id: 7,
                expires_at
            })
        );
    }

    #[test]
    fn expired_and_tampered_tokens_are_refused() {
        let tokens = tokens();
        let now = Utc::now().timestamp();
        assert_eq!(
            tokens.verify(&tokens.issue_with_times(1, 7, now - 120, now - 60)),
            Err(TokenError::Expired)
        );
        let mut tampered = issue(&tokens, 1);
        tampered.pop();
        assert_eq!(tokens.verify(&tampered), Err(TokenError::Invalid));
        let other = Tokens::new(
            b"another secret of at least 32 bytes!",
            Duration::from_secs(60),
            deployment("here"),
        );
        assert_eq!(tokens.verify(&issue(&other, 1)), Err(TokenError::Invalid));
    }

    #[test]
    fn tokens_of_another_deployment_are_refused() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let there = Tokens::new(secret, Duration::from_secs(60), deployment("there"));
        assert_eq!(tokens().verify(&issue(&there, 1)), Err(TokenError::Invalid));
        let audience_only = Tokens::new(
            secret,
            Duration::from_secs(60),
            Deployment {
                issuer: "here".to_owned(),
                audience: "elsewhere".to_owned(),
            },
        );
        assert_eq!(
            tokens().verify(&issue(&audience_only, 1)),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn future_and_overlong_tokens_are_refused() {
        let tokens = tokens();
        let now = Utc::now().timestamp();
        // Not valid before a minute from now (nbf = iat in the future).
        assert_eq!(
            tokens.verify(&tokens.issue_with_times(1, 7, now + 60, now + 100)),
            Err(TokenError::Invalid)
        );
        // Valid now, but for longer than the 60 s lifetime.
        assert_eq!(
            tokens.verify(&tokens.issue_with_times(1, 7, now, now + 3600)),
            Err(TokenError::Invalid)
        );
    }
}
