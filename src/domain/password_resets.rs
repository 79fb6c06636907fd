//! Password resets: a random token, good once and for an hour, stored only
//! as its SHA-256; using it sets a new password, ends every session of the
//! account and opens a new one.

use chrono::TimeDelta;
use entity::user;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};

use super::emails;
use super::lockout::{self, Key};
use super::sessions::{Issued, Sessions};
use super::validate::{self, Checks};
use super::{Error, Result, begin_write, sql, time};
use crate::auth::{password, refresh};
use crate::limits::ClientAddress;

/// How long a reset link works.
pub const LIFETIME: TimeDelta = TimeDelta::hours(1);

/// Asks for a reset link to `address`: counted against the address and the
/// client like a sign-in (`lockout`: too many and it is RATE_LIMITED), and
/// queued when email is sent. The same work whether or not an account has
/// the address (the mail runner looks), so neither the answer nor its time
/// tells.
///
/// # Errors
/// BAD_USER_INPUT for a malformed address; RATE_LIMITED while locked.
pub async fn request(
    db: &DatabaseConnection,
    limit: lockout::Policy,
    client: Option<ClientAddress>,
    address: &str,
    mail: bool,
) -> Result<()> {
    let mut checks = Checks::default();
    let address = checks.check("email", validate::email(address));
    checks.finish()?;
    let address = address.expect("BUG: checked");
    let mut keys = vec![Key::Account(address.clone())];
    keys.extend(client.map(Key::Address));
    // Every request counts (none is taken back): asking is the attempt.
    let _attempt = lockout::attempt(db, limit, &keys).await?;
    if mail {
        emails::queue_password_reset(db, &address).await?;
    }
    Ok(())
}

/// The account that has `address`, if one does.
pub async fn account_with(db: &impl ConnectionTrait, address: &str) -> Result<Option<user::Model>> {
    use sea_orm::{ColumnTrait, QueryFilter};
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(address))
        .one(db)
        .await?)
}

/// A new reset token for `user_id`, stored as its hash: the one answer
/// that holds the token itself (it goes into the email).
pub async fn issue(db: &impl ConnectionTrait, user_id: i64) -> Result<String> {
    let (token, hash) = refresh::generate();
    let now = time::now();
    sql::execute(
        db,
        "INSERT INTO password_resets (user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?)",
        vec![user_id.into(), hash.into(), now.into(), (now + LIFETIME).into()],
    )
    .await?;
    Ok(token)
}

/// Sets `new_password` with `token`, ends every session of the account and
/// opens a new one, all in one transaction.
///
/// # Errors
/// BAD_USER_INPUT with `fields.newPassword` for a password signUp would
/// refuse (the token stays good), with `fields.token` for a token that is
/// wrong, used or expired.
pub async fn reset(
    db: &DatabaseConnection,
    sessions: &Sessions,
    token: &str,
    new_password: &str,
    user_agent: Option<&str>,
) -> Result<(user::Model, Issued)> {
    let mut checks = Checks::default();
    let checked = checks.check("newPassword", validate::password(new_password));
    checks.finish()?;
    let new_password = checked.expect("BUG: checked");
    let hash = password::hash(new_password).await?;

    let presented = refresh::hash(token);
    let now = time::now();
    let txn = begin_write(db).await?;
    // Used up by this statement, so of two racing resets one wins.
    let rows = sql::query_all(
        &txn,
        "UPDATE password_resets SET used_at = ? \
         WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? RETURNING user_id",
        vec![now.into(), presented.into(), now.into()],
    )
    .await?;
    let Some(row) = rows.first() else {
        return Err(Error::invalid(
            "token",
            "this reset link is not valid, was used already, or has expired",
        ));
    };
    let user_id: i64 = row.try_get("", "user_id")?;
    sql::execute(
        &txn,
        "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?",
        vec![hash.into(), now.into(), user_id.into()],
    )
    .await?;
    // Any other link sent before is spent too.
    sql::execute(
        &txn,
        "UPDATE password_resets SET used_at = ? WHERE user_id = ? AND used_at IS NULL",
        vec![now.into(), user_id.into()],
    )
    .await?;
    let ended = sessions.end_others_in(&txn, user_id, None).await?;
    let issued = sessions.open(&txn, user_id, user_agent).await?;
    let user = user::Entity::find_by_id(user_id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::invalid("token", "this account no longer exists"))?;
    txn.commit().await?;
    sessions.announce(ended).await;
    Ok((user, issued))
}
