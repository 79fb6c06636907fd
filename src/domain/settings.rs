//! Values the service keeps in its own database.

use base64::Engine as _;
use entity::setting;
use rand::RngCore as _;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use super::Result;

const JWT_SECRET: &str = "jwt_secret";
const DEPLOYMENT_ID: &str = "deployment_id";

/// The token-signing secret kept in the database, created on first use;
/// `true` when this call created it.
pub async fn jwt_secret(db: &impl ConnectionTrait) -> Result<(String, bool)> {
    kept(db, JWT_SECRET, random(48)).await
}

/// This deployment's id, created on first use: what its tokens name as
/// issuer and audience unless a setting says otherwise.
pub async fn deployment_id(db: &impl ConnectionTrait) -> Result<String> {
    let (id, _) = kept(db, DEPLOYMENT_ID, format!("conduit-{}", random(16))).await?;
    Ok(id)
}

fn random(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer)
}

/// The value kept under `key`, or `candidate` kept now.
///
/// # Implementation notes
/// Insert-if-absent, then read: when several instances start at once on an
/// empty database, exactly one candidate wins and all of them read it.
async fn kept(db: &impl ConnectionTrait, key: &str, candidate: String) -> Result<(String, bool)> {
    let inserted = setting::Entity::insert(setting::ActiveModel {
        key: Set(key.to_owned()),
        value: Set(candidate),
    })
    .on_conflict(
        OnConflict::column(setting::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let stored = setting::Entity::find_by_id(key.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the {key} setting vanished after it was written"))?;
    Ok((stored.value, inserted > 0))
}
