//! What the acceptor tells the gateway's metrics: messages in and out and ResendRequests
//! of every session, and how many sessions are logged on.
//!
//! What it must not do: allocate, or change any session.

use super::FixAcceptor;
use crate::fix::{MessageCounts, SessionState};

impl FixAcceptor {
    /// Messages every session handled since the last call, those of connections closed
    /// meanwhile included.
    pub fn take_message_counts(&mut self) -> MessageCounts {
        let mut total = std::mem::take(&mut self.closed_counts);
        for slot in &mut self.slots {
            if let Some((_, session)) = slot.live.as_mut() {
                total += session.take_counts();
            }
        }
        total
    }

    /// Sessions logged on now (their Logon accepted, not yet logged out).
    pub fn sessions_logged_on(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| {
                s.live.as_ref().is_some_and(|(_, session)| {
                    matches!(
                        session.state(),
                        SessionState::Active | SessionState::LoggingOut
                    )
                })
            })
            .count()
    }
}
