//! Refresh tokens: 32 random bytes, shown once to the client and stored only
//! as their SHA-256. A plain (unsalted, fast) hash is enough here: the
//! token has 256 bits of entropy, so there is nothing to guess or to look
//! up in a table, and the hash lets the database find the session by it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// A new refresh token and its hash.
pub fn generate() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    (token, hash)
}

/// What the database keeps of `token`: its SHA-256, in hex.
pub fn hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_to_what_is_kept() {
        let (first, first_hash) = generate();
        let (second, _) = generate();
        assert_ne!(first, second);
        assert_eq!(hash(&first), first_hash);
        assert_eq!(first_hash.len(), 64);
    }
}
