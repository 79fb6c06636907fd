//! Accounts: signing up, signing in, changing one's own profile, and finding
//! users by id or name.

use entity::user;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, QueryFilter};
use sea_orm::{ColumnTrait, DatabaseConnection, IntoActiveModel};

use super::error::OnConstraint;
use super::lockout::{self, Key};
use super::sessions::{Issued, Sessions};
use super::validate::{self, Checks};
use super::{ById, Error, Result, begin_write, sql, time};
use crate::auth::password;
use crate::limits::ClientAddress;

/// What `signUp` receives, unchecked.
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password: String,
}

/// What `updateViewer` receives, unchecked: `None` leaves a field as it is.
#[derive(Default)]
pub struct UserPatch {
    pub email: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub bio: Option<String>,
    pub image: Option<String>,
    pub email_notifications: Option<bool>,
}

/// Creates an account.
///
/// # Errors
/// BAD_USER_INPUT for invalid fields (all of them at once); CONFLICT when the
/// username or email is taken, also when two sign-ups race for it (the
/// unique index decides, not the pre-check).
#[tracing::instrument(skip_all, fields(username = %input.username))]
pub async fn sign_up(
    db: &DatabaseConnection,
    sessions: &Sessions,
    input: NewUser,
    user_agent: Option<&str>,
) -> Result<(user::Model, Issued)> {
    let mut checks = Checks::default();
    let username = checks.check("username", validate::username(&input.username));
    let email = checks.check("email", validate::email(&input.email));
    let password = checks.check("password", validate::password(&input.password));
    checks.finish()?;
    let (username, email, password) = (
        username.expect("BUG: checked"),
        email.expect("BUG: checked"),
        password.expect("BUG: checked"),
    );

    ensure_available(db, Some(&username), Some(&email), None).await?;
    single_script(&username)?;
    let password_hash = password::hash(password).await?;
    let now = time::now();
    // The account and its first session commit together.
    let txn = begin_write(db).await?;
    let user = user::ActiveModel {
        username_key: Set(user::username_key(&username)),
        username: Set(username),
        email: Set(email),
        password_hash: Set(password_hash),
        bio: Set(None),
        image: Set(None),
        followers_count: Set(0),
        following_count: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        email_notifications: Set(false),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .on_unique_violation(taken)?;
    let issued = sessions.open(&txn, user.id, user_agent).await?;
    txn.commit().await?;
    Ok((user, issued))
}

/// The account whose email and password match, unless the account (by its
/// email, existing or not) or the client's address has failed too often
/// lately (`lockout`).
///
/// # Errors
/// UNAUTHENTICATED when either is wrong, with one message for both, and in
/// the same time for both, so the answer does not reveal which emails exist;
/// RATE_LIMITED while the account or the address is locked, whatever the
/// password.
#[tracing::instrument(skip_all)]
pub async fn sign_in(
    db: &impl ConnectionTrait,
    limit: lockout::Policy,
    client: Option<ClientAddress>,
    email: &str,
    password: &str,
) -> Result<user::Model> {
    let mut checks = Checks::default();
    let email = checks.check("email", validate::email(email));
    if password.is_empty() {
        checks.check::<()>("password", Err("must not be empty".into()));
    }
    checks.finish()?;
    let email = email.expect("BUG: checked");

    let mut keys = vec![Key::Account(email.clone())];
    keys.extend(client.map(Key::Address));
    let attempt = lockout::attempt(db, limit, &keys).await?;

    let found = user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await?;
    let stored_hash = found.as_ref().map_or_else(
        || password::decoy_hash().to_owned(),
        |user| user.password_hash.clone(),
    );
    let matches = password::verify(password.to_owned(), stored_hash).await?;
    match found {
        Some(user) if matches => {
            attempt.succeeded(db).await?;
            Ok(user)
        }
        _ => Err(Error::Unauthenticated(
            "email or password is incorrect".into(),
        )),
    }
}

/// Changes the caller's own account. A new password ends every session of
/// the account but `current`, in the same transaction.
///
/// # Errors
/// BAD_USER_INPUT for invalid fields; CONFLICT for a username or email that
/// someone else has; UNAUTHENTICATED if the account no longer exists.
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn update(
    db: &DatabaseConnection,
    sessions: &Sessions,
    user_id: i64,
    current: i64,
    patch: UserPatch,
) -> Result<user::Model> {
    let mut checks = Checks::default();
    let username = checks.check_opt("username", patch.username, |v| validate::username(&v));
    let email = checks.check_opt("email", patch.email, |v| validate::email(&v));
    let password = checks.check_opt("password", patch.password, |v| validate::password(&v));
    let bio = checks.check_opt("bio", patch.bio, |v| {
        validate::optional_text(&v, validate::BIO_MAX)
    });
    let image = checks.check_opt("image", patch.image, |v| validate::optional_url(&v));
    checks.finish()?;

    let account = find_by_id(db, user_id)
        .await?
        .ok_or_else(Error::unauthenticated)?;
    ensure_available(db, username.as_deref(), email.as_deref(), Some(user_id)).await?;
    if let Some(username) = &username {
        single_script(username)?;
    }
    let password_hash = match password {
        Some(password) => Some(password::hash(password).await?),
        None => None,
    };

    let password_changed = password_hash.is_some();
    let mut model = account.into_active_model();
    if let Some(username) = username {
        model.username_key = Set(user::username_key(&username));
        model.username = Set(username);
    }
    if let Some(email) = email {
        model.email = Set(email);
    }
    if let Some(hash) = password_hash {
        model.password_hash = Set(hash);
    }
    if let Some(bio) = bio {
        model.bio = Set(bio);
    }
    if let Some(image) = image {
        model.image = Set(image);
    }
    if let Some(email_notifications) = patch.email_notifications {
        model.email_notifications = Set(email_notifications);
    }
    model.updated_at = Set(time::now());
    if !password_changed {
        // One UPDATE statement: it applies whole or not at all.
        return model.update(db).await.on_unique_violation(taken);
    }
    let txn = begin_write(db).await?;
    let user = model.update(&txn).await.on_unique_violation(taken)?;
    let ended = sessions.end_others_in(&txn, user_id, Some(current)).await?;
    txn.commit().await?;
    sessions.announce(ended).await;
    Ok(user)
}

pub async fn find_by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id).one(db).await?)
}

/// The emails of the users with `ids`.
pub async fn emails(db: &impl ConnectionTrait, ids: &[i64]) -> Result<ById<String>> {
    let rows = sql::where_any_of(db, "SELECT u.id, u.email FROM users u", "u.id", ids).await?;
    rows.iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect()
}

/// Fails unless `user_id` names an account. A token can outlive its
/// account's row (a database reset under a fixed secret); a write in its
/// name would otherwise break a foreign key.
///
/// # Errors
/// UNAUTHENTICATED when no account has `user_id`.
pub(crate) async fn ensure_exists(db: &impl ConnectionTrait, user_id: i64) -> Result<()> {
    find_by_id(db, user_id)
        .await?
        .map(|_| ())
        .ok_or_else(Error::unauthenticated)
}

pub async fn find_by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<user::Model>> {
    if !validate::may_name_something(username) {
        return Ok(None);
    }
    Ok(user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?)
}

/// BAD_USER_INPUT for a name that mixes scripts (`аlice`: Cyrillic `а`,
/// Latin `lice`), the look-alikes UTS #39 warns of. Checked after
/// availability, so a look-alike of a taken name is told it is taken.
fn single_script(username: &str) -> Result<()> {
    use unicode_security::MixedScript as _;
    if username.is_single_script() {
        Ok(())
    } else {
        Err(Error::invalid(
            "username",
            "may not mix letters of different scripts",
        ))
    }
}

/// CONFLICT naming every requested value that another account already has
/// (a username when another has the same `username_key`).
async fn ensure_available(
    db: &impl ConnectionTrait,
    username: Option<&str>,
    email: Option<&str>,
    except: Option<i64>,
) -> Result<()> {
    let mut taken_fields = Vec::new();
    if let Some(username) = username {
        let owner = user::Entity::find()
            .filter(user::Column::UsernameKey.eq(user::username_key(username)))
            .one(db)
            .await?;
        if owner.is_some_and(|u| Some(u.id) != except) {
            taken_fields.push("username");
        }
    }
    if let Some(email) = email {
        let owner = user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .one(db)
            .await?;
        if owner.is_some_and(|u| Some(u.id) != except) {
            taken_fields.push("email");
        }
    }
    if taken_fields.is_empty() {
        return Ok(());
    }
    Err(Error::Conflict(
        taken_fields
            .into_iter()
            .map(|field| (field.to_owned(), vec![format!("this {field} is taken")]))
            .collect(),
    ))
}

/// Which unique value a violation is about. Both backends name the column
/// in the message (PostgreSQL as `users_email_key`, SQLite as `users.email`).
fn taken(message: &str) -> Error {
    let field = if message.contains("email") {
        "email"
    } else {
        "username"
    };
    Error::conflict(field, format!("this {field} is taken"))
}
