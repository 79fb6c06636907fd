//! Webhooks: the `Webhook` and `WebhookDelivery` types and the mutations
//! that manage them. Only the owner ever gets one: `User.webhooks` is empty
//! for everyone else, `node` answers null, and the mutations are FORBIDDEN.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{webhook, webhook_delivery};

use super::connection::{Connection, Total};
use super::ids::{self, Kind};
use super::viewer::ContextExt as _;
use crate::domain::webhooks::{
    self as domain_webhooks, EventKind, FAILED, NewWebhook, PENDING, SUCCEEDED, WebhookPatch,
    deliveries,
};
use crate::domain::{self, webhooks::deliveries as domain_deliveries};

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum WebhookEvent {
    /// type article.published; data: { article { id slug title author { username } } }: the owner published an article
    ArticlePublished,
    /// type comment.added; data: { comment { id body author { username } } article { id slug } }: someone commented on the owner's article
    CommentAdded,
    /// type article.favorited; data: { article { id slug } user { username } }: someone favorited the owner's article
    ArticleFavorited,
    /// type user.followed; data: { follower { username } }: someone followed the owner
    UserFollowed,
}

impl From<WebhookEvent> for EventKind {
    fn from(event: WebhookEvent) -> Self {
        match event {
            WebhookEvent::ArticlePublished => EventKind::ArticlePublished,
            WebhookEvent::CommentAdded => EventKind::CommentAdded,
            WebhookEvent::ArticleFavorited => EventKind::ArticleFavorited,
            WebhookEvent::UserFollowed => EventKind::UserFollowed,
        }
    }
}

impl From<EventKind> for WebhookEvent {
    fn from(kind: EventKind) -> Self {
        match kind {
            EventKind::ArticlePublished => WebhookEvent::ArticlePublished,
            EventKind::CommentAdded => WebhookEvent::CommentAdded,
            EventKind::ArticleFavorited => WebhookEvent::ArticleFavorited,
            EventKind::UserFollowed => WebhookEvent::UserFollowed,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum WebhookDeliveryStatus {
    /// not attempted yet, or waiting for its next attempt
    Pending,
    /// an attempt was answered 2xx
    Succeeded,
    /// no more attempts: out of retries, or the endpoint answered 410 Gone
    Failed,
}

/// An endpoint of the owner's that receives the events it lists, signed as Standard Webhooks says.
#[derive(Clone)]
pub struct Webhook(pub webhook::Model);

#[Object(crate = "crate::graphql::ordered", cache_control(private))]
impl Webhook {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Webhook, self.0.id)
    }

    async fn url(&self) -> &str {
        &self.0.url
    }

    async fn events(&self) -> Vec<WebhookEvent> {
        domain_webhooks::events_of(&self.0)
            .into_iter()
            .map(WebhookEvent::from)
            .collect()
    }

    /// False once the owner pauses it, or the server disables it (410 Gone, or every delivery failing).
    async fn active(&self) -> bool {
        self.0.active
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// Newest first.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<WebhookDelivery>> {
        super::connection::nested::<super::loaders::WebhookDeliveries, _>(
            ctx,
            self.0.id,
            first,
            after,
            Total::WebhookDeliveries(self.0.id),
            WebhookDelivery,
        )
        .await
    }
}

/// One event for one webhook, with every attempt to deliver it.
#[derive(Clone)]
pub struct WebhookDelivery(pub webhook_delivery::Model);

#[Object(crate = "crate::graphql::ordered", cache_control(private))]
impl WebhookDelivery {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::WebhookDelivery, self.0.id)
    }

    /// Sent as the webhook-id header: the same on every attempt and on a redelivery.
    async fn message_id(&self) -> &str {
        &self.0.message_id
    }

    async fn event(&self) -> Result<WebhookEvent> {
        EventKind::from_name(&self.0.event)
            .map(WebhookEvent::from)
            .ok_or_else(|| {
                domain::Error::Internal(anyhow::anyhow!("unknown webhook event {:?}", self.0.event))
                    .into()
            })
    }

    async fn status(&self) -> Result<WebhookDeliveryStatus> {
        Ok(match self.0.status.as_str() {
            PENDING => WebhookDeliveryStatus::Pending,
            SUCCEEDED => WebhookDeliveryStatus::Succeeded,
            FAILED => WebhookDeliveryStatus::Failed,
            other => {
                return Err(domain::Error::Internal(anyhow::anyhow!(
                    "unknown delivery status {other:?}"
                ))
                .into());
            }
        })
    }

    async fn attempts(&self) -> i32 {
        self.0.attempts
    }

    /// The HTTP status of the last attempt; null before one, or when no answer came (timeout, refused).
    async fn last_response_status(&self) -> Option<i32> {
        self.0.last_response_status
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the next attempt is due; null unless PENDING.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        if self.0.status == PENDING {
            self.0.next_attempt_at
        } else {
            None
        }
    }

    /// The JSON body exactly as signed and sent.
    async fn payload(&self) -> &str {
        &self.0.payload
    }
}

#[derive(InputObject)]
pub struct CreateWebhookInput {
    url: String,
    events: Vec<WebhookEvent>,
}

/// Fields left out (or null) stay as they are.
#[derive(InputObject)]
pub struct UpdateWebhookInput {
    url: Option<String>,
    events: Option<Vec<WebhookEvent>>,
    active: Option<bool>,
}

#[derive(SimpleObject)]
pub struct CreateWebhookPayload {
    webhook: Webhook,
    /// The signing secret, whsec_ and base64; shown only here.
    secret: String,
}

/// The row id `id` names if it is a `kind`'s; NOT_FOUND for another
/// type's id, BAD_USER_INPUT on `field` for anything that is not an id.
fn row_id(id: &ID, kind: Kind, field: &str, not_found: domain::Error) -> Result<i64> {
    match ids::decode(id) {
        Some((k, row)) if k == kind => Ok(row),
        Some(_) => Err(not_found.into()),
        None => Err(domain::Error::invalid(field, "is not an id this server made").into()),
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object(crate = "crate::graphql::ordered")]
impl WebhookMutation {
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookInput,
    ) -> Result<CreateWebhookPayload> {
        let viewer = ctx.viewer().require()?;
        let services = ctx.services();
        let (webhook, secret) = domain_webhooks::create(
            &services.db,
            services.outbound,
            viewer,
            NewWebhook {
                url: input.url,
                events: input.events.into_iter().map(EventKind::from).collect(),
            },
        )
        .await?;
        Ok(CreateWebhookPayload {
            webhook: Webhook(webhook),
            secret,
        })
    }

    /// Only the owner; FORBIDDEN for anyone else.
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateWebhookInput,
    ) -> Result<Webhook> {
        let viewer = ctx.viewer().require()?;
        let webhook_id = row_id(&id, Kind::Webhook, "id", domain_webhooks::not_found())?;
        let services = ctx.services();
        let webhook = domain_webhooks::update(
            &services.db,
            services.outbound,
            viewer,
            webhook_id,
            WebhookPatch {
                url: input.url,
                events: input
                    .events
                    .map(|events| events.into_iter().map(EventKind::from).collect()),
                active: input.active,
            },
        )
        .await?;
        Ok(Webhook(webhook))
    }

    /// Only the owner. Answers the deleted webhook's id.
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let viewer = ctx.viewer().require()?;
        let webhook_id = row_id(&id, Kind::Webhook, "id", domain_webhooks::not_found())?;
        let deleted = domain_webhooks::delete(&ctx.services().db, viewer, webhook_id).await?;
        Ok(ids::encode(Kind::Webhook, deleted))
    }

    /// Queues a delivery again, as a new PENDING series with the same messageId. Only the owner.
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        delivery_id: ID,
    ) -> Result<WebhookDelivery> {
        let viewer = ctx.viewer().require()?;
        let delivery_id = row_id(
            &delivery_id,
            Kind::WebhookDelivery,
            "deliveryId",
            domain::Error::NotFound("no such delivery".into()),
        )?;
        let delivery = deliveries::redeliver(&ctx.services().db, viewer, delivery_id).await?;
        // Wake every instance's runner (the event bus carries it across).
        ctx.services()
            .events
            .publish(crate::events::Event::DeliveriesQueued)
            .await;
        Ok(WebhookDelivery(delivery))
    }
}

/// For `node`: the webhook or delivery `id`, when the viewer owns it.
pub(super) async fn owned_node(
    ctx: &Context<'_>,
    kind: Kind,
    id: i64,
) -> Result<Option<super::node::Node>> {
    let Some(viewer) = ctx.viewer().id()? else {
        return Ok(None);
    };
    Ok(match kind {
        Kind::Webhook => domain_webhooks::by_ids(ctx.reads(), &[id])
            .await?
            .remove(&id)
            .filter(|w| w.owner_id == viewer)
            .map(|w| super::node::Node::Webhook(Webhook(w))),
        _ => domain_deliveries::owned_by_ids(ctx.reads(), viewer, &[id])
            .await?
            .remove(&id)
            .map(|d| super::node::Node::WebhookDelivery(WebhookDelivery(d))),
    })
}
