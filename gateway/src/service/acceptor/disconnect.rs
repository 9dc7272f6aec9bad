//! Cancel-on-disconnect: per session, when its logged-on connection ends (Logout or a
//! dropped connection) and it does not log on again within the grace period, its open
//! orders are canceled through [`OrderCore::mass_cancel`] (journaled like any cancel).
//! The cancels' ExecutionReports reach a session without a connection through its session
//! store, so the client gets them by resend after its next Logon (the Logon answer's
//! MsgSeqNum shows the gap; QuickFIX asks for it at once). After a restart every such
//! session counts as disconnected at start: its recovered orders are canceled one grace
//! period after the first duty cycle unless it logs on before.
//!
//! The grace period starts at the first duty cycle after the connection ended (the
//! caller's clock, once per duty cycle); nothing here allocates or reads a clock.
//!
//! What this module must not do: cancel an order of another account, or cancel while the
//! session is logged on.

use std::time::Duration;

use tickwarp_runtime::Nanos;

use super::super::core::{CoreError, MassCancel, OrderCore, Origin};
use crate::fix::{Now, SessionConfig};
use crate::venue::{VenueSession, VenueTime};

/// How long a cancel-on-disconnect the journal refused waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// Where a session's cancel-on-disconnect is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Watch {
    /// Not configured, or nothing to cancel.
    Idle,
    /// Logged on: its orders stay.
    LoggedOn,
    /// Its logged-on connection ended (or the gateway started); the grace period starts
    /// at the next duty cycle.
    Dropped,
    /// Cancel at this time unless the session logs on again.
    Due(Nanos),
}

impl Watch {
    /// The state at start: sessions with cancel-on-disconnect count as disconnected.
    pub(super) fn at_start(config: &SessionConfig) -> Watch {
        if config.cancel_on_disconnect.is_some() {
            Watch::Dropped
        } else {
            Watch::Idle
        }
    }

    /// The session logged on.
    pub(super) fn logged_on(&mut self, config: &SessionConfig) {
        if config.cancel_on_disconnect.is_some() {
            *self = Watch::LoggedOn;
        }
    }

    /// Its connection ended.
    pub(super) fn connection_ended(&mut self) {
        if *self == Watch::LoggedOn {
            *self = Watch::Dropped;
        }
    }

    /// Starts the grace period of a dropped session and cancels the open orders of one
    /// whose grace period is over. Returns the work done.
    pub(super) fn run<V: VenueSession>(
        &mut self,
        config: &SessionConfig,
        now: Now,
        core: &mut OrderCore<V>,
    ) -> Result<usize, CoreError> {
        let Some(grace) = config.cancel_on_disconnect else {
            return Ok(0);
        };
        match *self {
            Watch::Idle | Watch::LoggedOn => Ok(0),
            Watch::Dropped => {
                *self = Watch::Due(now.mono.saturating_add(grace));
                Ok(1)
            }
            Watch::Due(at) if at > now.mono => Ok(0),
            Watch::Due(_) => {
                let vt = VenueTime {
                    wall: now.wall,
                    mono: now.mono,
                };
                let scope = MassCancel {
                    account: config.account,
                    instrument: None,
                    side: None,
                };
                let session = config.session_id.0;
                match core.mass_cancel(vt, Origin::Gateway, scope)? {
                    Ok(done) => {
                        if done.affected > 0 {
                            tracing::info!(
                                session,
                                canceled = done.affected,
                                "cancel-on-disconnect: the session's open orders are canceled"
                            );
                        }
                        *self = Watch::Idle;
                    }
                    Err(refused) => {
                        tracing::warn!(session, text = %refused.text, "cancel-on-disconnect refused; retrying");
                        *self = Watch::Due(now.mono.saturating_add(RETRY));
                    }
                }
                Ok(1)
            }
        }
    }
}
