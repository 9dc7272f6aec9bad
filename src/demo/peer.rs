//! Who is at the other end of a component's connections, and the error a component
//! stops with when that peer is gone ([`PeerLost`]): a closed or failed channel, a ring
//! whose connection closed, a feed that fell silent, or a connection that could not be
//! made at all.
//!
//! `tickwarp run` looks for a [`PeerLost`] in the cause of a stop ([`peer_lost`]) to
//! tell a dead peer (tear down, reconnect with backoff) from a failure of the node
//! itself (exit naming the cause). This module only names and classifies; it must not
//! log, retry or touch a connection.

use std::fmt;
use std::net::SocketAddr;

/// The other end of a connection: its role, the node that runs it, the address the
/// connection goes to (the listener's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Peer {
    /// `venue`, `feed`, `gateway` or `engine NAME`.
    pub(crate) role: String,
    /// The topology node running it.
    pub(crate) node: String,
    /// The listen address of the connection.
    pub(crate) addr: SocketAddr,
}

impl Peer {
    /// A peer in `role` on `node`, reached through `addr`.
    pub(crate) fn new(role: impl Into<String>, node: &str, addr: SocketAddr) -> Peer {
        Peer {
            role: role.into(),
            node: node.to_owned(),
            addr,
        }
    }

    /// This peer lost because of `cause`.
    pub(crate) fn lost(&self, cause: impl fmt::Display) -> PeerLost {
        PeerLost {
            peer: self.clone(),
            cause: cause.to_string(),
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (node {}, {})", self.role, self.node, self.addr)
    }
}

/// A component stopped because a peer is gone or unreachable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("lost peer {peer}: {cause}")]
pub(crate) struct PeerLost {
    /// Who.
    pub(crate) peer: Peer,
    /// What showed it (the channel error, the silence, the failed connect).
    pub(crate) cause: String,
}

/// The [`PeerLost`] somewhere in `error`'s chain of causes, if any.
pub(crate) fn peer_lost(error: &anyhow::Error) -> Option<&PeerLost> {
    error.chain().find_map(|e| e.downcast_ref::<PeerLost>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_peer_is_found_through_contexts_and_named() {
        let peer = Peer::new("gateway", "gw", SocketAddr::from(([127, 0, 0, 1], 7421)));
        let error = anyhow::Error::new(peer.lost("channel disconnected"))
            .context("agent alpha failed")
            .context("node strategies");
        let found = peer_lost(&error).map(ToString::to_string);
        assert_eq!(
            found.as_deref(),
            Some("lost peer gateway (node gw, 127.0.0.1:7421): channel disconnected")
        );
        assert!(peer_lost(&anyhow::anyhow!("journal corrupt")).is_none());
    }
}
