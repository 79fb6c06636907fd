//! Where a request came from: the socket's peer, or, behind proxies the
//! server was told to trust (`--trust-proxy N`), the address the outermost
//! of them saw.
//!
//! Each proxy appends the address it was connected from to the header
//! (`X-Forwarded-For: client, proxy1` as proxy 2 forwards it), and the last
//! proxy is the socket's peer. So with N trusted proxies the client is the
//! N-th entry from the right; everything left of it came from the client,
//! which may write anything there. Only the one header the proxies are
//! said to write is read: a client can send the other one as it likes.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, header};

use crate::limits::ClientAddress;

/// The header trusted proxies append the client's address to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, cloud
    /// load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

/// The proxies in front of this server, from the configuration.
#[derive(Clone, Copy, Debug, Default)]
pub struct Proxies {
    /// How many (0: the socket's peer is the client).
    pub trusted: usize,
    pub header: ForwardedHeader,
}

/// The client of a request that came over a socket from `peer`.
///
/// # Implementation notes
/// Entries are split at every comma, quoted or not: the entries the
/// trusted proxies appended are well-formed, and a quote a client left
/// open on the left must not swallow them. An entry that is not an
/// address (`unknown`, an obfuscated `_name`), or a header with fewer
/// entries than proxies, falls back on what the proxies did write: the
/// leftmost entry they can have written, else the peer.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, proxies: Proxies) -> ClientAddress {
    if proxies.trusted == 0 {
        return ClientAddress::new(peer);
    }
    let name = match proxies.header {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => header::FORWARDED.as_str(),
    };
    // Several fields of one name are one list, in order (RFC 9110 §5.3).
    let entries: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    let Some(chosen) = entries
        .len()
        .checked_sub(proxies.trusted)
        .map_or(entries.first(), |index| entries.get(index))
    else {
        return ClientAddress::new(peer);
    };
    let address = match proxies.header {
        ForwardedHeader::XForwardedFor => Some(*chosen),
        ForwardedHeader::Forwarded => forwarded_for(chosen),
    };
    ClientAddress::new(address.and_then(parse_address).unwrap_or(peer))
}

/// The `for=` of one element of a `Forwarded` header (`for=...;proto=...`),
/// unquoted.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]` or
/// `[2001:db8::1]:4711`.
fn parse_address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| {
            text.strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<IpAddr>()
                .ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: [u8; 4] = [10, 0, 0, 1];

    fn client(trusted: usize, header: ForwardedHeader, fields: &[(&str, &str)]) -> String {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        client_address(PEER.into(), &headers, Proxies { trusted, header }).to_string()
    }

    use ForwardedHeader::{Forwarded, XForwardedFor};

    #[test]
    fn without_trusted_proxies_the_headers_are_ignored() {
        let fields = [
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ];
        assert_eq!(client(0, XForwardedFor, &fields), "10.0.0.1");
        assert_eq!(client(0, Forwarded, &fields), "10.0.0.1");
    }

    #[test]
    fn the_nth_entry_from_the_right_is_the_client() {
        let xff = [("x-forwarded-for", "6.6.6.6, 203.0.113.9, 198.51.100.2")];
        assert_eq!(client(1, XForwardedFor, &xff), "198.51.100.2");
        assert_eq!(client(2, XForwardedFor, &xff), "203.0.113.9");
        assert_eq!(client(3, XForwardedFor, &xff), "6.6.6.6");
        // Two fields are one list.
        let split = [
            ("x-forwarded-for", "6.6.6.6, 203.0.113.9"),
            ("x-forwarded-for", "198.51.100.2"),
        ];
        assert_eq!(client(2, XForwardedFor, &split), "203.0.113.9");
    }

    #[test]
    fn fewer_entries_than_proxies_take_the_leftmost() {
        let xff = [("x-forwarded-for", "203.0.113.9")];
        assert_eq!(client(2, XForwardedFor, &xff), "203.0.113.9");
        assert_eq!(client(1, XForwardedFor, &[]), "10.0.0.1");
    }

    #[test]
    fn only_the_named_header_is_read() {
        // The proxy writes X-Forwarded-For; the client forged Forwarded.
        let fields = [
            ("forwarded", "for=6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9"),
        ];
        assert_eq!(client(1, XForwardedFor, &fields), "203.0.113.9");
        assert_eq!(
            client(1, Forwarded, &[("x-forwarded-for", "6.6.6.6")]),
            "10.0.0.1"
        );
    }

    #[test]
    fn forwarded_elements_and_their_forms() {
        let fields = [(
            "forwarded",
            r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, For=192.0.2.60;by=203.0.113.43"#,
        )];
        assert_eq!(client(1, Forwarded, &fields), "192.0.2.60");
        assert_eq!(client(2, Forwarded, &fields), "2001:db8:cafe::/64");
        // An open quote on the left does not swallow what proxies appended.
        let forged = [("forwarded", r#"for="6.6.6.6, for=192.0.2.60"#)];
        assert_eq!(client(1, Forwarded, &forged), "192.0.2.60");
        // Not an address: the peer.
        assert_eq!(
            client(1, Forwarded, &[("forwarded", "for=unknown")]),
            "10.0.0.1"
        );
        assert_eq!(
            client(1, Forwarded, &[("forwarded", "proto=https")]),
            "10.0.0.1"
        );
    }

    #[test]
    fn addresses_with_ports_and_brackets() {
        for (entry, expected) in [
            ("192.0.2.1:4711", "192.0.2.1"),
            ("[2001:db8::1]", "2001:db8::/64"),
            ("[2001:db8::1]:80", "2001:db8::/64"),
            ("garbage", "10.0.0.1"),
        ] {
            assert_eq!(
                client(1, XForwardedFor, &[("x-forwarded-for", entry)]),
                expected,
                "{entry}"
            );
        }
    }
}
