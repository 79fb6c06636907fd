//! Values the service keeps in its own database.

use base64::Engine as _;
use entity::setting;
use rand::RngCore as _;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use super::Result;

const JWT_SECRET: &str = "jwt_secret";

/// The token-signing secret kept in the database, created on first use.
///
/// # Implementation notes
/// Insert-if-absent, then read: when several instances start at once on an
/// empty database, exactly one candidate wins and all of them read it.
pub async fn jwt_secret(db: &impl ConnectionTrait) -> Result<(String, bool)> {
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let candidate = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let inserted = setting::Entity::insert(setting::ActiveModel {
        key: Set(JWT_SECRET.to_owned()),
        value: Set(candidate),
    })
    .on_conflict(
        OnConflict::column(setting::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let stored = setting::Entity::find_by_id(JWT_SECRET.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the jwt_secret setting vanished after it was written"))?;
    Ok((stored.value, inserted > 0))
}
