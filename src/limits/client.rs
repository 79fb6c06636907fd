//! Who a limit is counted for: the signed-in user, or the client's address.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// The address a request came from (the socket's, or the one a trusted
/// proxy named), as limits count it: an IPv4 address as it is, an IPv6
/// address by its /64 network.
///
/// # Implementation notes
/// One IPv6 subscriber usually gets a whole /64 and can pick a new address
/// in it for every request; counting the network is counting the client.
/// An IPv4 address seen as IPv6 (`::ffff:a.b.c.d`, a dual-stack socket) is
/// the IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddress(IpAddr);

impl ClientAddress {
    pub fn new(address: IpAddr) -> Self {
        let address = match address {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let network = u128::from(v6) & !u128::from(u64::MAX);
                    IpAddr::V6(Ipv6Addr::from(network))
                }
            },
            v4 => v4,
        };
        Self(address)
    }

    pub fn ip(&self) -> IpAddr {
        self.0
    }
}

impl fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Whose budget a request spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Caller {
    /// A request with an accepted token: its user, from wherever it comes.
    User(i64),
    /// Any other request (anonymous, or with a refused token).
    Address(ClientAddress),
}

impl Caller {
    /// The user when `user_id` is known, else the address.
    pub fn new(user_id: Option<i64>, address: ClientAddress) -> Self {
        match user_id {
            Some(id) => Caller::User(id),
            None => Caller::Address(address),
        }
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::User(id) => write!(f, "user:{id}"),
            Caller::Address(address) => write!(f, "address:{address}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_count_by_their_network() {
        let one = ClientAddress::new("2001:db8:1:2:aaaa::1".parse().unwrap());
        let other = ClientAddress::new("2001:db8:1:2:ffff::9".parse().unwrap());
        let elsewhere = ClientAddress::new("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(one, other);
        assert_ne!(one, elsewhere);
        assert_eq!(one.to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn mapped_ipv4_is_ipv4() {
        let mapped = ClientAddress::new("::ffff:192.0.2.7".parse().unwrap());
        assert_eq!(mapped, ClientAddress::new("192.0.2.7".parse().unwrap()));
        assert_eq!(mapped.to_string(), "192.0.2.7");
    }

    #[test]
    fn callers_are_keyed_apart() {
        let address = ClientAddress::new("192.0.2.7".parse().unwrap());
        assert_eq!(Caller::new(Some(7), address).to_string(), "user:7");
        assert_eq!(Caller::new(None, address).to_string(), "address:192.0.2.7");
    }
}
