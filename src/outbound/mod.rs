//! Requests that leave the building (webhook deliveries) go through one
//! HTTP client, made here: its timeouts, no redirects, no proxy from the
//! environment, and the address rule of [`address`] applied to every
//! connection it opens.

pub mod address;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};

pub use address::{Policy, Refused};

/// The most of a receiver's answer that is read (and thrown away) so the
/// connection can be used again; past it the connection is dropped.
const ANSWER_READ_BYTES: usize = 64 * 1024;

/// The longest `Retry-After` honoured: a receiver cannot park a delivery
/// for a week.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);

/// The one outbound HTTP client. Cheap to clone (connections are pooled).
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    policy: Policy,
}

/// An answer: its status, and how long it asked us to wait (429, 503).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answered {
    pub status: u16,
    pub retry_after: Option<Duration>,
}

/// Why no answer came.
#[derive(Debug, thiserror::Error)]
pub enum NoAnswer {
    #[error("refused by the address rule: {0}")]
    Refused(#[from] Refused),
    #[error("no answer within the timeout")]
    Timeout,
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("{0}")]
    Other(String),
}

impl HttpClient {
    /// `timeout` bounds a whole request: connecting, sending, and reading
    /// the answer.
    pub fn new(policy: Policy, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // A redirect would be a second request to an address nobody
            // checked, and a receiver that moved should say so to its owner.
            .redirect(reqwest::redirect::Policy::none())
            // HTTP_PROXY and friends would send every request (and the
            // address check's meaning) through somebody else.
            .no_proxy()
            .https_only(!policy.allow_private_networks)
            .dns_resolver(Arc::new(CheckedResolver { policy }))
            .user_agent(concat!("conduit-gateway/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self { client, policy })
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// POSTs `body` as `application/json` with `headers`.
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: String,
    ) -> Result<Answered, NoAnswer> {
        let url = reqwest::Url::parse(url).map_err(|error| NoAnswer::Other(error.to_string()))?;
        // The connector takes a literal address as it is, without the
        // resolver: check it here.
        match url.host() {
            Some(url::Host::Ipv4(ip)) => address::check_literal(IpAddr::V4(ip), self.policy)?,
            Some(url::Host::Ipv6(ip)) => address::check_literal(IpAddr::V6(ip), self.policy)?,
            Some(url::Host::Domain(_)) => {}
            None => return Err(NoAnswer::Other("the URL names no host".into())),
        }
        let mut request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = request.send().await.map_err(no_answer)?;
        let status = response.status().as_u16();
        let retry_after = match status {
            429 | 503 => retry_after(response.headers(), std::time::SystemTime::now()),
            _ => None,
        };
        // Read a little of the answer so the connection can be reused; an
        // error here changes nothing, the status is what counts.
        let mut read = 0;
        while read < ANSWER_READ_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        Ok(Answered {
            status,
            retry_after,
        })
    }
}

fn no_answer(error: reqwest::Error) -> NoAnswer {
    // The resolver's refusal comes back wrapped in the connect error.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return NoAnswer::Refused(match refused {
                Refused::NotPublic { host, why } => Refused::NotPublic {
                    host: host.clone(),
                    why,
                },
                Refused::Unresolved { host } => Refused::Unresolved { host: host.clone() },
            });
        }
        source = cause.source();
    }
    if error.is_timeout() {
        NoAnswer::Timeout
    } else if error.is_connect() {
        NoAnswer::Connect(error_chain(&error))
    } else {
        NoAnswer::Other(error_chain(&error))
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After` as a wait from `now`: whole seconds or an HTTP date,
/// capped at [`RETRY_AFTER_MAX`]; `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .unwrap_or(Duration::ZERO),
    };
    Some(wait.min(RETRY_AFTER_MAX))
}

/// The resolver the client connects through: every name is resolved and
/// checked by [`address::resolve`], and only the addresses that passed are
/// connected to.
struct CheckedResolver {
    policy: Policy,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            // Port 0: the connector puts the URL's port in.
            let addrs = address::resolve(name.as_str(), 0, policy).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_dates_and_is_capped() {
        let now = std::time::SystemTime::now();
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("999999"));
        assert_eq!(retry_after(&headers, now), Some(RETRY_AFTER_MAX));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(120));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let wait = retry_after(&headers, now).unwrap();
        assert!(wait <= Duration::from_secs(120) && wait >= Duration::from_secs(119));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }
}
