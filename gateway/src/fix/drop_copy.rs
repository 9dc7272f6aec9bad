//! The FIX drop-copy session's application rules, sans-IO: which accounts a drop-copy
//! session covers ([`DropCopyScope`]), how a copy of an ExecutionReport is written (the
//! report exactly as the order session got it, behind the drop-copy session's own
//! header and CopyMsgIndicator (797) = Y), and the refusal of every application message
//! a drop-copy client sends (it is read-only).
//!
//! **CopyMsgIndicator (797).** FIX 4.4 defines the field but not in the standard header
//! (the FIX 4.4 Orchestra dictionary, `Dictionary::fix44`, has it only in the bodies of
//! TradeCaptureReport, Confirmation and AllocationReport; FIX 5.0 SP1 moved it into the
//! header). A copy carries it right after the standard header fields, where FIX 5.0 SP1
//! puts it and where a resend keeps it (a resend rewrites the header tags and copies the
//! other fields in order). A strictly validating FIX 4.4 client must add 797 to its
//! dictionary's header (QuickFIX: `<field name="CopyMsgIndicator" required="N"/>` in
//! `<header>`), as drop-copy clients of FIX 4.4 venues do.
//!
//! **Read-only.** Every application message on a drop-copy session (NewOrderSingle,
//! cancels, status and position requests, anything) is answered with a
//! BusinessMessageReject (35=j): BusinessRejectReason 3 (unsupported message type: no
//! application message type is supported on this session), RefMsgType (372) and
//! RefSeqNum (45) of the message, BusinessRejectRefID (379) its ClOrdID when it has one,
//! Text (58) [`READ_ONLY_TEXT`]. Nothing of it reaches the order core. (A malformed
//! one fails the session core's dictionary validation first and gets a session-level
//! Reject (35=3), an undefined MsgType a Reject with reason 11.) Session messages
//! (Heartbeat, TestRequest, ResendRequest, SequenceReset, Reject, Logout) are the
//! session core's and work as on any session.
//!
//! What this module must not do: read a clock, touch a socket or a store of its own, or
//! decide which executions exist (the caller hands it each report).

use tickwarp_wire::AccountId;

use super::codec::{Message, MessageWriter};
use super::fields::{BusinessRejectReason, MsgType, tag};
use super::messages::{BusinessMessageReject, ExecutionReport};
use super::session::{Connection, Now, SendError};
use super::store::SessionStore;
use super::{AcceptorApp, Endpoint};

/// CopyMsgIndicator (797): Y on every message a drop-copy session sends as a copy.
pub const COPY_MSG_INDICATOR: u32 = 797;

/// Text (58) of the BusinessMessageReject answering an application message on a
/// drop-copy session.
pub const READ_ONLY_TEXT: &str = "drop copy session is read-only";

/// The accounts whose executions a drop-copy session receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropCopyScope {
    /// Every account's (RDMA clients' and the gateway's own cancels included).
    All,
    /// Only these accounts' (sorted, no duplicates).
    Accounts(Vec<AccountId>),
}

impl DropCopyScope {
    /// The scope of `accounts` (sorted and deduplicated here); `None` means all.
    pub fn new(accounts: Option<&[AccountId]>) -> DropCopyScope {
        match accounts {
            None => DropCopyScope::All,
            Some(list) => {
                let mut list = list.to_vec();
                list.sort_unstable();
                list.dedup();
                DropCopyScope::Accounts(list)
            }
        }
    }

    /// Whether the executions of `account` are copied.
    pub fn covers(&self, account: AccountId) -> bool {
        match self {
            DropCopyScope::All => true,
            DropCopyScope::Accounts(list) => list.binary_search(&account).is_ok(),
        }
    }
}

/// Writes the body of a copy of `report` of an order of `account`: CopyMsgIndicator
/// first (it directly follows the standard header), then the ExecutionReport's body
/// exactly as the order session's.
pub fn write_copy_body(
    w: &mut MessageWriter<'_>,
    report: &ExecutionReport<'_>,
    account: AccountId,
    symbol: &[u8],
) {
    w.flag(COPY_MSG_INDICATOR, true);
    report.write_body(w, account, symbol);
}

/// Answers application message `msg` (MsgSeqNum `seq`) on a drop-copy session with the
/// read-only BusinessMessageReject (see the module docs).
pub(crate) fn refuse<S: SessionStore>(
    conn: &mut Connection<S>,
    now: Now,
    seq: u64,
    msg: &Message<'_>,
) {
    let reject = BusinessMessageReject {
        ref_seq_num: seq,
        ref_msg_type: msg.msg_type(),
        ref_id: msg.get(tag::CL_ORD_ID),
        reason: BusinessRejectReason::UnsupportedMsgType,
        text: Some(READ_ONLY_TEXT),
    };
    if let Err(e) = conn.send_app(now, MsgType::BUSINESS_MESSAGE_REJECT, |w| {
        reject.write_body(w);
    }) {
        tracing::warn!(error = %e, "drop copy: read-only reject not sent");
    }
}

impl<S: SessionStore> Endpoint<S, AcceptorApp> {
    /// Sends (and stores) a copy of `report`, an ExecutionReport of an order of
    /// `account`, on this drop-copy session; returns its MsgSeqNum.
    pub fn send_copy(
        &mut self,
        now: Now,
        report: &ExecutionReport<'_>,
        account: AccountId,
    ) -> Result<u64, SendError> {
        let symbol = self
            .instruments()
            .symbol_of(report.instrument)
            .ok_or(SendError::UnknownInstrument(report.instrument))?;
        self.conn.send_app(now, MsgType::EXECUTION_REPORT, |w| {
            write_copy_body(w, report, account, symbol.as_bytes());
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_covers_its_accounts_only() {
        let some = DropCopyScope::new(Some(&[AccountId(7), AccountId(3), AccountId(7)]));
        assert_eq!(
            some,
            DropCopyScope::Accounts(vec![AccountId(3), AccountId(7)])
        );
        assert!(some.covers(AccountId(3)) && some.covers(AccountId(7)));
        assert!(!some.covers(AccountId(4)));
        assert!(DropCopyScope::new(None).covers(AccountId(4)));
        assert!(!DropCopyScope::new(Some(&[])).covers(AccountId(0)));
    }
}
