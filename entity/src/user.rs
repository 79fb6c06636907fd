//! `users`: an account, and the public profile that goes with it.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub username: String,
    /// `username_key(username)`: what makes two usernames the same one.
    #[sea_orm(unique)]
    pub username_key: String,
    #[sea_orm(unique)]
    pub email: String,
    pub password_hash: String,
    pub bio: Option<String>,
    pub image: Option<String>,
    /// Kept in the same transaction as each follow and unfollow.
    pub followers_count: i64,
    /// Kept in the same transaction as each follow and unfollow.
    pub following_count: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The user's choice to get their notifications by email too.
    pub email_notifications: bool,
}

impl ActiveModelBehavior for ActiveModel {}

/// The form in which two usernames that a reader cannot tell apart are
/// equal: compatibility-normalized (NFKC: full-width `ａ` is `a`), lower-cased,
/// then reduced to its UTS #39 confusable skeleton (Cyrillic `а` is Latin
/// `a`). A unique index on it makes `Alice1`, `аlice1` and `ａｌｉｃｅ1` one
/// name with `alice1`.
pub fn username_key(username: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    let folded: String = username.nfkc().collect::<String>().to_lowercase();
    unicode_security::confusable_detection::skeleton(&folded).collect()
}

#[cfg(test)]
mod tests {
    use super::username_key;

    #[test]
    fn look_alikes_share_a_key() {
        let key = username_key("alice1");
        for name in [
            "Alice1",
            "\u{430}lice1",
            "\u{ff41}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}1",
        ] {
            assert_eq!(username_key(name), key, "{name}");
        }
        assert_ne!(username_key("bob"), key);
    }
}
