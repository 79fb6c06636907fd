//! `conduit-gateway documents add|list|remove`: trusted documents at deploy
//! time. Whatever changes is announced on the event bus, so the instances
//! on a PostgreSQL database reload at once (on SQLite they poll).

use anyhow::Context as _;

use crate::config::{DocumentsAction, DocumentsArgs};
use crate::domain::trusted_documents;
use crate::events::{Event, EventBus};
use crate::graphql::trusted::manifest;

pub async fn command(args: DocumentsArgs) -> anyhow::Result<()> {
    let db = crate::db::connect(&args.database).await?;
    crate::db::migrate(&db).await?;
    let internal = |error: crate::domain::Error| anyhow::anyhow!("{error:?}");
    match args.action {
        DocumentsAction::Add { files } => {
            // Every manifest is read and checked before anything is stored.
            let mut documents = Vec::new();
            for file in &files {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let read = manifest::read(&text).with_context(|| file.display().to_string())?;
                documents.extend(read);
            }
            let added = trusted_documents::add(&db, &documents)
                .await
                .map_err(internal)?;
            announce(&args.database.database_url, &db).await?;
            println!(
                "{added} added, {} already stored",
                documents.len() as u64 - added.min(documents.len() as u64)
            );
        }
        DocumentsAction::List => {
            println!("id\toperation\tadded\tuses");
            for document in trusted_documents::all(&db).await.map_err(internal)? {
                println!(
                    "{}\t{}\t{}\t{}",
                    document.id,
                    document.operation_name.as_deref().unwrap_or("-"),
                    document.added_at.to_rfc3339(),
                    document.uses
                );
            }
        }
        DocumentsAction::Remove { ids } => {
            let ids: Vec<String> = ids.iter().map(|id| manifest::normalize_id(id)).collect();
            let removed = trusted_documents::remove(&db, &ids)
                .await
                .map_err(internal)?;
            announce(&args.database.database_url, &db).await?;
            println!("{removed} removed");
        }
    }
    Ok(())
}

async fn announce(url: &str, db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    let events = EventBus::for_database(url, db).await?;
    events.publish(Event::DocumentsChanged).await;
    Ok(())
}
