//! Logon handling of the session core (FIX 4.4 Vol. 2 "Logon", and ResetSeqNumFlag on
//! a logged-on session): the initiator's Logon, the checks of the peer's, and the
//! acceptor's answer.
//!
//! What it must not do: decide anything about sequence gaps or application messages
//! after the Logon (the rest of [`Connection`] does).

use std::time::Duration;

use tickwarp_runtime::Nanos;

use super::text::TextBuf;
use super::{Connection, ConnectionEvent, DisconnectReason, Now, Role, SessionState, skew};
use crate::fix::codec::{Message, parse_uint};
use crate::fix::fields::{MsgType, SessionRejectReason, parse_timestamp, tag};
use crate::fix::store::{SeqNums, SessionStore};

impl<S: SessionStore> Connection<S> {
    /// The initiator's Logon, after resetting the store if `reset_on_logon`.
    pub(super) fn send_logon(&mut self, now: Now) {
        let reset = self.config.reset_on_logon;
        if reset {
            if let Err(e) = self.store.reset(now.wall, now.mono) {
                self.store_failed(&e);
                return;
            }
            self.seq = SeqNums::INITIAL;
            self.reset_requested = true;
        }
        self.send_logon_message(now, reset);
    }

    /// Sends our Logon: EncryptMethod 0, HeartBtInt as agreed (an initiator's before
    /// the answer: as proposed), ResetSeqNumFlag=Y if `reset`, and an initiator's
    /// Username/Password.
    fn send_logon_message(&mut self, now: Now, reset: bool) {
        let (username, password) = match &self.config.role {
            Role::Initiator {
                username, password, ..
            } => (username.clone(), password.clone()),
            Role::Acceptor { .. } => (None, None),
        };
        let hb_secs = self.liveness.heartbeat().as_secs();
        self.send_admin(now, MsgType::LOGON, |w| {
            w.uint(tag::ENCRYPT_METHOD, 0)
                .uint(tag::HEART_BT_INT, hb_secs);
            if reset {
                w.flag(tag::RESET_SEQ_NUM_FLAG, true);
            }
            if let Some(u) = &username {
                w.str(tag::USERNAME, u);
            }
            if let Some(p) = &password {
                w.str(tag::PASSWORD, p);
            }
        });
    }

    /// Whether the CompIDs of `msg` name this session from the peer's side.
    fn comp_ids_match(&self, msg: &Message<'_>) -> bool {
        msg.get(tag::SENDER_COMP_ID) == Some(self.config.target_comp_id.as_bytes())
            && msg.get(tag::TARGET_COMP_ID) == Some(self.config.sender_comp_id.as_bytes())
    }

    /// HeartBtInt (108) of a Logon, if within what the role accepts; else the Logout
    /// text saying what is.
    fn logon_heartbeat(&self, msg: &Message<'_>) -> Result<Duration, TextBuf> {
        let (min, max) = self.config.role.heartbeats();
        msg.get(tag::HEART_BT_INT)
            .and_then(parse_uint)
            .map(Duration::from_secs)
            .filter(|d| (min..=max).contains(d))
            .ok_or_else(|| {
                let (min, max) = (min.as_secs(), max.as_secs());
                if min == max {
                    TextBuf::from_fmt(format_args!("HeartBtInt (108) must be {min} seconds"))
                } else {
                    let args = format_args!("HeartBtInt (108) must be {min} to {max} seconds");
                    TextBuf::from_fmt(args)
                }
            })
    }

    /// A Logon with ResetSeqNumFlag=Y on a logged-on session (FIX 4.4 Vol. 2 "Sequence
    /// Reset", ResetSeqNumFlag): both sides start again at 1; we answer with a Logon
    /// carrying 141=Y and MsgSeqNum 1.
    pub(super) fn on_reset_logon(&mut self, now: Now, msg: &Message<'_>, seq: u64) {
        if !self.comp_ids_match(msg) {
            self.send_reject(
                now,
                seq,
                MsgType::LOGON,
                tag::SENDER_COMP_ID,
                SessionRejectReason::CompIdProblem,
            );
            self.logout_and_disconnect(now, "CompID problem", DisconnectReason::BadCompId);
            return;
        }
        let Some((hb, _)) = self.logon_terms(now, msg, seq) else {
            return;
        };
        if let Err(e) = self.store.reset(now.wall, now.mono) {
            self.store_failed(&e);
            return;
        }
        self.seq = SeqNums::INITIAL;
        self.resend_until = None;
        self.resend.clear();
        self.queue.clear();
        self.queued_bytes = 0;
        self.liveness.set_heartbeat(hb);
        self.send_logon_message(now, true);
        self.advance_in(now, 2);
        self.events
            .push_back(ConnectionEvent::LoggedOn { reset: true });
    }

    /// The peer's Logon (FIX 4.4 Vol. 2 "Logon"): CompIDs, credentials (acceptor),
    /// SendingTime, EncryptMethod, HeartBtInt, ResetSeqNumFlag and MsgSeqNum. An
    /// acceptor answers with its own Logon.
    pub(super) fn on_logon(&mut self, now: Now, msg: &Message<'_>, seq: u64) {
        if !self.comp_ids_match(msg) {
            self.logout_and_disconnect(now, "unknown CompID", DisconnectReason::BadCompId);
            return;
        }
        let acceptor = match &self.config.role {
            Role::Acceptor {
                username, password, ..
            } => {
                let matches = |want: &Option<String>, t| {
                    want.as_deref()
                        .is_none_or(|v| msg.get(t) == Some(v.as_bytes()))
                };
                if !(matches(username, tag::USERNAME) && matches(password, tag::PASSWORD)) {
                    let reason = DisconnectReason::BadCredentials;
                    self.logout_and_disconnect(now, "invalid username or password", reason);
                    return;
                }
                true
            }
            Role::Initiator { .. } => false,
        };
        let Some((hb, reset)) = self.logon_terms(now, msg, seq) else {
            return;
        };
        if acceptor && (reset || self.config.reset_on_logon) {
            if let Err(e) = self.store.reset(now.wall, now.mono) {
                self.store_failed(&e);
                return;
            }
            self.seq = SeqNums::INITIAL;
        } else if reset {
            // The acceptor reset its outbound numbers (we asked, or it resets on every
            // Logon): its Logon is MsgSeqNum 1.
            self.seq.next_in = 1;
        }
        let expected = self.seq.next_in;
        if seq < expected {
            self.seq_too_low(now, expected, seq);
            return;
        }
        self.liveness.set_heartbeat(hb);
        self.state = SessionState::Active;
        self.logged_on = true;
        if acceptor {
            self.send_logon_message(now, reset);
            if self.state == SessionState::Disconnected {
                return;
            }
        }
        self.events.push_back(ConnectionEvent::LoggedOn {
            reset: reset || self.reset_requested,
        });
        if seq > expected {
            self.request_resend(now, seq);
        } else {
            self.advance_in(now, seq + 1);
        }
    }

    /// The terms of a Logon (FIX 4.4 Vol. 2 "Logon"): SendingTime accuracy (Vol. 2
    /// case 1d), EncryptMethod 0, HeartBtInt within what the role accepts, and
    /// ResetSeqNumFlag (Y only on MsgSeqNum 1). The agreed heartbeat and the flag, or
    /// `None` once a bad Logon is answered with a Logout.
    fn logon_terms(&mut self, now: Now, msg: &Message<'_>, seq: u64) -> Option<(Duration, bool)> {
        let problem = if let Err(text) = self.sending_time(now, msg) {
            Err((TextBuf::from_fmt(format_args!("{text}")), true))
        } else if msg.get(tag::ENCRYPT_METHOD) != Some(b"0") {
            Err((
                TextBuf::from_fmt(format_args!("EncryptMethod (98) must be 0")),
                false,
            ))
        } else {
            match (
                self.logon_heartbeat(msg),
                msg.get_flag(tag::RESET_SEQ_NUM_FLAG),
            ) {
                (Err(text), _) => Err((text, false)),
                (Ok(_), Err(_)) => {
                    let text = "ResetSeqNumFlag (141) must be Y or N";
                    Err((TextBuf::from_fmt(format_args!("{text}")), false))
                }
                (Ok(_), Ok(true)) if seq != 1 => {
                    let text = "ResetSeqNumFlag=Y requires MsgSeqNum 1";
                    Err((TextBuf::from_fmt(format_args!("{text}")), false))
                }
                (Ok(hb), Ok(reset)) => Ok((hb, reset)),
            }
        };
        match problem {
            Ok(terms) => Some(terms),
            Err((text, time)) => {
                let reason = if time {
                    DisconnectReason::SendingTimeAccuracy
                } else {
                    DisconnectReason::BadLogon
                };
                self.logout_and_disconnect(now, text.as_str(), reason);
                None
            }
        }
    }

    /// Checks SendingTime (52) of a Logon against our clock: the Logout text if wrong.
    fn sending_time(&self, now: Now, msg: &Message<'_>) -> Result<(), &'static str> {
        let sent = match msg.get(tag::SENDING_TIME).map(parse_timestamp) {
            None => return Err("SendingTime (52) missing"),
            Some(None) => return Err("SendingTime (52) has an incorrect data format"),
            Some(Some(t)) => t,
        };
        match self.config.sending_time_tolerance {
            Some(tolerance) if skew(sent, now.wall) > Nanos::from(tolerance) => {
                Err("SendingTime accuracy problem")
            }
            _ => Ok(()),
        }
    }

    pub(super) fn seq_too_low(&mut self, now: Now, expected: u64, received: u64) {
        let text = TextBuf::from_fmt(format_args!(
            "MsgSeqNum too low, expecting {expected} but received {received}"
        ));
        let reason = DisconnectReason::SeqTooLow { expected, received };
        self.logout_and_disconnect(now, text.as_str(), reason);
    }
}
