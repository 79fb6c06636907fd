//! Sending email over SMTP (lettre): the transport `--smtp-url` names, and
//! the messages the server writes (a password reset link, a notification),
//! each with a plain-text part and an HTML one.
//!
//! `--smtp-url` forms: `smtp://host:port` (plain, for a relay on the same
//! host or network), `smtp://host:port?tls=starttls` (upgraded, required),
//! `smtps://host:port` (TLS from the start); `user:password@` before the
//! host logs in.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::domain::emails::NotificationMail;

/// How long one SMTP conversation may take before it counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server refused it for good (a 5xx: no such mailbox, rejected):
    /// sending it again would be refused again.
    #[error("refused: {0}")]
    Refused(String),
    /// Anything else (no connection, a timeout, a 4xx): worth a retry.
    #[error("{0}")]
    Transient(String),
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reset_url: String,
}

impl Mailer {
    /// The mailer for `smtp_url`, sending as `from`, linking resets to
    /// `reset_url`.
    ///
    /// # Errors
    /// A URL or address that cannot be used.
    pub fn new(smtp_url: &str, from: &str, reset_url: &str) -> anyhow::Result<Self> {
        let url = url::Url::parse(smtp_url)?;
        let host = url
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("--smtp-url needs a host"))?
            .to_owned();
        let starttls = url
            .query_pairs()
            .any(|(key, value)| key == "tls" && value.eq_ignore_ascii_case("starttls"));
        let mut builder = match (url.scheme(), starttls) {
            ("smtps", _) => AsyncSmtpTransport::<Tokio1Executor>::relay(&host)?,
            ("smtp", true) => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)?,
            ("smtp", false) => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host),
            (scheme, _) => anyhow::bail!("--smtp-url: unknown scheme {scheme}: use smtp or smtps"),
        };
        if let Some(port) = url.port() {
            builder = builder.port(port);
        }
        if !url.username().is_empty() {
            let user = percent_decode(url.username());
            let password = percent_decode(url.password().unwrap_or_default());
            builder = builder.credentials(Credentials::new(user, password));
        }
        let transport = builder.timeout(Some(SMTP_TIMEOUT)).build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|error| anyhow::anyhow!("--mail-from {from:?}: {error}"))?;
        Ok(Self {
            transport,
            from,
            reset_url: reset_url.to_owned(),
        })
    }

    /// The link a reset email carries for `token`.
    pub fn reset_link(&self, token: &str) -> String {
        let separator = if self.reset_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{separator}token={token}", self.reset_url)
    }

    pub async fn send_password_reset(
        &self,
        to: &str,
        username: &str,
        token: &str,
    ) -> Result<(), SendError> {
        let link = self.reset_link(token);
        let text = format!(
            "Hello {username},\n\nsomeone (we hope you) asked to reset the password of your Conduit account.\n\
             Set a new one here; the link works once, for an hour:\n\n{link}\n\n\
             If it was not you, ignore this email: your password stays as it is.\n"
        );
        let html = format!(
            "<p>Hello {},</p><p>someone (we hope you) asked to reset the password of your Conduit account. \
             Set a new one here; the link works once, for an hour:</p><p><a href=\"{}\">{}</a></p>\
             <p>If it was not you, ignore this email: your password stays as it is.</p>",
            escape(username),
            escape(&link),
            escape(&link)
        );
        self.send(to, "Reset your Conduit password", text, html)
            .await
    }

    pub async fn send_notification(&self, mail: &NotificationMail) -> Result<(), SendError> {
        let title = mail.article_title.as_deref().unwrap_or("an article");
        let (subject, line) = match mail.kind.as_str() {
            "NEW_FOLLOWER" => (
                format!("{} followed you", mail.actor),
                format!("{} started following you on Conduit.", mail.actor),
            ),
            "ARTICLE_FAVORITED" => (
                format!("{} favorited \"{title}\"", mail.actor),
                format!("{} favorited your article \"{title}\".", mail.actor),
            ),
            "NEW_COMMENT" => (
                format!("{} commented on \"{title}\"", mail.actor),
                format!(
                    "{} commented on your article \"{title}\":\n\n{}",
                    mail.actor,
                    mail.comment_body.as_deref().unwrap_or_default()
                ),
            ),
            _ => (
                format!("{} published \"{title}\"", mail.actor),
                format!("{}, whom you follow, published \"{title}\".", mail.actor),
            ),
        };
        let slug = mail
            .article_slug
            .as_deref()
            .map(|slug| format!("\n\nThe article: {slug}"))
            .unwrap_or_default();
        let text = format!(
            "Hello {},\n\n{line}{slug}\n\nYou get these emails because you turned on email notifications.\n",
            mail.recipient_username
        );
        let html = format!(
            "<p>Hello {},</p><p>{}</p><p><small>You get these emails because you turned on email notifications.</small></p>",
            escape(&mail.recipient_username),
            escape(&format!("{line}{slug}")).replace('\n', "<br>")
        );
        self.send(&mail.recipient_email, &subject, text, html).await
    }

    async fn send(
        &self,
        to: &str,
        subject: &str,
        text: String,
        html: String,
    ) -> Result<(), SendError> {
        let to = to
            .parse::<Mailbox>()
            .map_err(|error| SendError::Refused(format!("not an address: {error}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|error| SendError::Refused(error.to_string()))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_permanent() => Err(SendError::Refused(error.to_string())),
            Err(error) => Err(SendError::Transient(error.to_string())),
        }
    }
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
