//! Passwords hashed with argon2id (the PHC string keeps salt and parameters),
//! on the blocking pool: a hash takes tens of milliseconds of CPU, which must
//! not stall the async workers that serve everyone else.

use anyhow::Context as _;
use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};

/// Hashes a password into a PHC string.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| anyhow::anyhow!("argon2 hashing failed: {error}"))
    })
    .await
    .context("password hashing task failed")?
}

/// Whether `password` matches `phc`. A malformed stored hash is an error,
/// not a mismatch: it means the data is broken.
pub async fn verify(password: String, phc: String) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&phc)
            .map_err(|error| anyhow::anyhow!("stored password hash is malformed: {error}"))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .context("password verification task failed")?
}

/// A hash of a password nobody has, verified against when an email is
/// unknown, so that signing in takes as long for a missing account as for a
/// wrong password and does not reveal which emails are registered.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"decoy password that matches nothing", &salt)
            .expect("BUG: argon2 hashing a constant cannot fail")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let phc = super::hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(
            super::verify("correct horse".into(), phc.clone())
                .await
                .unwrap()
        );
        assert!(!super::verify("wrong horse".into(), phc).await.unwrap());
    }
}
