//! Which addresses a request that leaves the building may go to: the one
//! place that says so. A webhook URL is a request the server makes on a
//! user's behalf, so without this rule anyone could aim it at the cloud's
//! metadata service, the database, or an admin port on the private network
//! (server-side request forgery).
//!
//! A host name is resolved here, every address it resolves to is checked,
//! and only the addresses that pass are handed to the connector, so what is
//! checked is what is connected to (a second lookup could answer otherwise).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The longest a name lookup may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// What outbound requests may reach.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Any address, plain `http://` included: for development and the
    /// tests, whose receivers listen on 127.0.0.1.
    pub allow_private_networks: bool,
}

/// Why an outbound request was refused or could not find its host.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{host} is {why}, not a public address")]
    NotPublic { host: String, why: &'static str },
    #[error("{host} does not resolve")]
    Unresolved { host: String },
}

/// Why `ip` is not a public unicast address, or `None` when it is one.
pub fn why_not_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => why_not_public_v4(ip),
        IpAddr::V6(ip) => why_not_public_v6(ip),
    }
}

fn why_not_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let why = if a == 0 {
        "an unspecified address (0.0.0.0/8)"
    } else if ip.is_loopback() {
        "a loopback address"
    } else if ip.is_private() {
        "a private address"
    } else if ip.is_link_local() {
        // 169.254.169.254 is the metadata service of AWS, GCP and Azure.
        "a link-local address (cloud metadata)"
    } else if a == 100 && (64..128).contains(&b) {
        "a shared address (100.64.0.0/10, carrier-grade NAT)"
    } else if a == 192 && b == 0 && c == 0 {
        // 192.0.0.192 is Oracle Cloud's metadata service.
        "an IETF protocol address (192.0.0.0/24)"
    } else if ip.is_documentation() {
        "a documentation address"
    } else if a == 198 && (b == 18 || b == 19) {
        "a benchmarking address (198.18.0.0/15)"
    } else if a == 192 && b == 88 && c == 99 {
        "a 6to4 relay address"
    } else if ip.is_multicast() {
        "a multicast address"
    } else if ip.is_broadcast() {
        "the broadcast address"
    } else if a >= 240 {
        "a reserved address (240.0.0.0/4)"
    } else {
        return None;
    };
    Some(why)
}

fn why_not_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("the unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // IPv6 forms that carry an IPv4 address reach that IPv4 address:
    // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible, deprecated),
    // 64:ff9b::a.b.c.d (NAT64) and 2002:AABB:CCDD:: (6to4).
    let mapped_or_compatible = s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0);
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    let embedded = if mapped_or_compatible || nat64 {
        Some(v4_of(s[6], s[7]))
    } else if s[0] == 0x2002 {
        Some(v4_of(s[1], s[2]))
    } else {
        None
    };
    if let Some(v4) = embedded {
        return why_not_public_v4(v4);
    }
    let why = if s[0] & 0xff00 == 0xff00 {
        "a multicast address"
    } else if s[0] & 0xfe00 == 0xfc00 {
        // fd00:ec2::254 is AWS's metadata service over IPv6.
        "a unique-local address (fc00::/7)"
    } else if s[0] & 0xffc0 == 0xfe80 {
        "a link-local address"
    } else if s[0] & 0xffc0 == 0xfec0 {
        "a site-local address"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        "a documentation address"
    } else if s[0] == 0x2001 && s[1] == 0 {
        // Teredo hides an IPv4 address (obfuscated) behind a relay.
        "a Teredo address"
    } else if s[..4] == [0x100, 0, 0, 0] {
        "a discard address (100::/64)"
    } else if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        "a local NAT64 address"
    } else {
        return None;
    };
    Some(why)
}

/// The IPv4 address two 16-bit groups carry.
fn v4_of(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

/// Checks an address the URL names literally (`https://10.0.0.1/`), which
/// the connector uses without asking the resolver.
pub fn check_literal(ip: IpAddr, policy: Policy) -> Result<(), Refused> {
    match why_not_public(ip) {
        Some(why) if !policy.allow_private_networks => Err(Refused::NotPublic {
            host: ip.to_string(),
            why,
        }),
        _ => Ok(()),
    }
}

/// Resolves `host` and answers the addresses `policy` allows (with `port`,
/// which the connector replaces when it is 0). A name whose every address
/// is refused is refused; one that resolves to public and private
/// addresses alike answers only the public ones.
pub async fn resolve(host: &str, port: u16, policy: Policy) -> Result<Vec<SocketAddr>, Refused> {
    // A bracketed IPv6 literal, or a literal the caller did not catch.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        check_literal(ip, policy)?;
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    // A resolver that does not answer is a host that does not resolve,
    // not a request (createWebhook, say) that waits for it.
    let lookup = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((bare, port))).await;
    let found: Vec<SocketAddr> = match lookup {
        Ok(Ok(found)) => found.collect(),
        _ => {
            return Err(Refused::Unresolved {
                host: host.to_owned(),
            });
        }
    };
    if found.is_empty() {
        return Err(Refused::Unresolved {
            host: host.to_owned(),
        });
    }
    if policy.allow_private_networks {
        return Ok(found);
    }
    let mut first_refusal = None;
    let allowed: Vec<SocketAddr> = found
        .into_iter()
        .filter(|addr| match why_not_public(addr.ip()) {
            Some(why) => {
                first_refusal.get_or_insert(why);
                false
            }
            None => true,
        })
        .collect();
    match (allowed.is_empty(), first_refusal) {
        (true, Some(why)) => Err(Refused::NotPublic {
            host: host.to_owned(),
            why,
        }),
        _ => Ok(allowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> bool {
        why_not_public(text.parse().unwrap()).is_some()
    }

    #[test]
    fn private_and_special_ipv4_addresses_are_refused() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "192.0.0.192",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
        ] {
            assert!(refused(ip), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "100.128.0.1", "172.32.0.1"] {
            assert!(!refused(ip), "{ip}");
        }
    }

    #[test]
    fn private_and_special_ipv6_addresses_are_refused() {
        for ip in [
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
        ] {
            assert!(refused(ip), "{ip}");
        }
        for ip in ["2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"] {
            assert!(!refused(ip), "{ip}");
        }
    }

    #[tokio::test]
    async fn names_are_resolved_and_checked() {
        let strict = Policy::default();
        assert!(matches!(
            resolve("localhost", 80, strict).await,
            Err(Refused::NotPublic { .. })
        ));
        assert!(matches!(
            resolve("[::1]", 80, strict).await,
            Err(Refused::NotPublic { .. })
        ));
        let open = Policy {
            allow_private_networks: true,
        };
        let addrs = resolve("127.0.0.1", 8080, open).await.unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:8080".parse().unwrap()]);
    }
}
