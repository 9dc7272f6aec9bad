//! [`Endpoint`]: a session [`Connection`] with its [`Application`], the one type a
//! driver holds for either role.
//!
//! What it must not do: add session rules (they are the [`Connection`]'s) or know an
//! application (its constructors live beside each application layer).

use std::time::Duration;

use tickwarp_runtime::Nanos;

use super::{Application, Connection, MessageCounts, Now, SessionState};
use crate::fix::store::{SeqNums, SessionStore};

/// A session connection with its application layer: what a driver holds. The
/// acceptor ([`crate::fix::Session`]) and the venue initiator
/// ([`crate::venue::FixVenue`]) are both an `Endpoint`; their own constructors and
/// senders live beside their application layers.
#[derive(Debug)]
pub struct Endpoint<S: SessionStore, A: Application<S>> {
    /// The session core.
    pub(crate) conn: Connection<S>,
    /// The application layer.
    pub(crate) app: A,
}

impl<S: SessionStore, A: Application<S>> Endpoint<S, A> {
    /// The current state.
    pub fn state(&self) -> SessionState {
        self.conn.state()
    }

    /// The next inbound and outbound MsgSeqNum.
    pub fn seq_nums(&self) -> SeqNums {
        self.conn.seq_nums()
    }

    /// The messages counted since the last call (see [`Connection::take_counts`]).
    pub fn take_counts(&mut self) -> MessageCounts {
        self.conn.take_counts()
    }

    /// The heartbeat interval (see [`Connection::heartbeat_interval`]).
    pub fn heartbeat_interval(&self) -> Duration {
        self.conn.heartbeat_interval()
    }

    /// The session store.
    pub fn store(&self) -> &S {
        self.conn.store()
    }

    /// The session store, for a driver's sync round only (see
    /// [`Connection::store_mut`]).
    pub(crate) fn store_mut(&mut self) -> &mut S {
        self.conn.store_mut()
    }

    /// Ends this connection's session and returns its store (see
    /// [`Connection::into_store`]).
    pub fn into_store(self) -> S {
        self.conn.into_store()
    }

    /// Feeds bytes received from the connection (any split).
    pub fn handle_bytes(&mut self, now: impl Into<Now>, bytes: &[u8]) {
        self.conn.handle_bytes(now.into(), bytes, &mut self.app);
    }

    /// Runs the timers due at `now`: heartbeat, TestRequest, logon and logout timeouts.
    pub fn handle_timeout(&mut self, now: impl Into<Now>) {
        self.conn.handle_timeout(now.into());
    }

    /// When [`Endpoint::handle_timeout`] next has work, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Nanos> {
        self.conn.poll_timeout()
    }

    /// One store sync releasing what it covers (see [`Connection::flush`]); once per
    /// duty cycle, after all input and sends, before writing.
    pub fn flush(&mut self) {
        self.conn.flush();
    }

    /// Flushes, then copies pending outbound bytes into `buf`; returns how many.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> usize {
        self.conn.poll_transmit(buf)
    }

    /// The outbound bytes a flush has covered, for a driver that writes them in place.
    pub fn transmit_queue(&self) -> &[u8] {
        self.conn.transmit_queue()
    }

    /// Whether outbound bytes wait for an [`Endpoint::flush`].
    pub fn needs_flush(&self) -> bool {
        self.conn.needs_flush()
    }

    /// Marks `n` bytes of [`Endpoint::transmit_queue`] as sent.
    pub fn consume_transmit(&mut self, n: usize) {
        self.conn.consume_transmit(n);
    }

    /// The next event, in the order events happened.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<A::Event> {
        self.app.poll_event(&mut self.conn)
    }

    /// Starts the Logout handshake (see [`Connection::initiate_logout`]).
    pub fn initiate_logout(&mut self, now: impl Into<Now>, text: Option<&str>) {
        self.conn.initiate_logout(now.into(), text);
    }
}
