//! FIX drop-copy sessions in the acceptor: a session configured with
//! `role = "drop_copy"` is read-only ([`crate::fix::drop_copy`]) and receives a copy of
//! every ExecutionReport of the accounts it covers, from every origin (FIX sessions,
//! RDMA clients, the gateway's own cancels), in journal order.
//!
//! **Design: the copy is journaled in the drop copy's own store when its execution is
//! routed, connected or not.** Each report the core releases (in order-journal order)
//! is written, for every covering drop-copy session, as an ExecutionReport with that
//! session's next MsgSeqNum into that session's store, in the same duty cycle as the
//! order session's report and before anything leaves: a logged-on drop copy sends it
//! after the duty cycle's sync round like any outbound message; an offline drop copy's
//! store is synced in the same round (never inline: a burst of executions costs it one
//! sync in the parallel round, not one per copy) and the copy goes out when the client
//! logs on again and asks for the gap with a ResendRequest (FIX 4.4 Vol. 2 "Message
//! Recovery": the client sees MsgSeqNum past its expected one and asks; the copies come
//! again with PossDupFlag=Y). So each execution takes exactly one MsgSeqNum of each
//! covering drop copy, and from the client's view the copies are gap-free (every
//! MsgSeqNum is served from the store) and exactly-once (a copy resent is marked
//! PossDup and has the same ExecID (17), so a client that processed it can tell). A
//! copy is never generated twice: nothing replays the order journal into the stores;
//! the start-up check that cuts a store ahead of the order journal (an interrupted
//! sync round) covers drop-copy stores like every session store. A drop copy logging
//! on with ResetSeqNumFlag=Y (or reset_on_* configured, which the configuration
//! refuses for drop copies) forgets what it had not received: the client's choice.
//!
//! **Bounded memory, order sessions never wait.** A copy is one append to a store and
//! one share of the sync round; a drop-copy client that does not read fills its
//! bounded outbound queue and is logged out and disconnected by the acceptor's
//! slow-consumer rule ([`super::FrontDoor::max_outbound_bytes`]), after which its
//! copies go to its store only. Nothing waits for a drop-copy client.
//!
//! **A failed store write stops that drop copy, never the order path.** When a copy
//! cannot be appended (or an offline store's sync fails), the drop copy stops: an
//! ERROR names the session and the first ExecID it misses, a connected client gets a
//! Logout saying so and is disconnected, no later copy goes to that store (so the
//! client never sees a later copy across a hole), and every Logon is answered with a
//! Logout naming the ExecID, until the gateway restarts with a working store. The
//! copies from that ExecID to the restart are not regenerated (they are in the order
//! journal and in the database drop copy). A logged-on drop copy whose round sync
//! fails is ended by the session core like any session; its next copy then finds the
//! store failed and stops it as above.
//!
//! What this module must not do: read a clock, block, delay or fail the order path, or
//! send a copy of a report that is not an ExecutionReport of a covered account
//! (OrderCancelReject (35=9) and status answers are not copied).

use mio::Token;
use tickwarp_wire::AccountId;

use super::report::{execution_report, header};
use super::{FixAcceptor, logout};
use crate::fix::codec::MessageWriter;
use crate::fix::drop_copy::write_copy_body;
use crate::fix::{
    ExecutionReport, MsgType, Now, SendError, SeqNums, SessionConfig, SessionState, SessionStore,
    SharedStore, StoreError,
};
use crate::service::core::Report;
use crate::venue::Execution;

/// Why a copy could not be journaled.
#[derive(Debug, thiserror::Error)]
enum CopyError {
    /// The logged-on session could not send (and store) it.
    #[error(transparent)]
    Send(#[from] SendError),
    /// The report's instrument has no symbol.
    #[error("instrument {0} has no symbol")]
    UnknownInstrument(u32),
    /// The offline store refused it.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A drop-copy session's copy state (nothing for an order session).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Copies {
    /// ExecID of the first copy appended to the offline store since its last sync.
    unsynced: Option<u64>,
    /// ExecID of the first copy this session misses (its store failed): it takes no
    /// more copies and refuses Logons.
    failed: Option<u64>,
}

impl FixAcceptor {
    /// Copies `report` to every drop-copy session covering its account (see the module
    /// docs); call it for every report the core releases, in order, before
    /// [`FixAcceptor::sync_round`].
    pub fn copy_report(&mut self, now: Now, report: &Report) {
        let Some(order) = report.order else {
            return;
        };
        if matches!(report.event, Execution::CancelRejected(_)) {
            return;
        }
        let account = order.account();
        // Built for the first drop copy that covers the account: most gateways have none.
        let mut er = None;
        for ix in 0..self.slots.len() {
            let Some(slot) = self.slots.get(ix) else {
                continue;
            };
            let covered = slot
                .config
                .drop_copy
                .as_ref()
                .is_some_and(|scope| scope.covers(account));
            if !covered || slot.copies.failed.is_some() {
                continue;
            }
            let er = er.get_or_insert_with(|| execution_report(report, &report.event, &order));
            if let Err(e) = self.copy_to(now, ix, er, account) {
                self.copies_failed(now, ix, report.exec_id, &e);
            }
        }
        if er.is_some() {
            self.check_outbound(now);
        }
    }

    /// The ExecID of the first copy drop copy `id` misses because its store failed (it
    /// stopped there), if it did.
    pub fn drop_copy_stopped(&self, id: u32) -> Option<u64> {
        let slot = self.slots.get(*self.by_id.get(&id)?)?;
        slot.copies.failed
    }

    /// Sends the copy on slot `ix`'s logged-on session, else appends it to its store.
    fn copy_to(
        &mut self,
        now: Now,
        ix: usize,
        er: &ExecutionReport<'_>,
        account: AccountId,
    ) -> Result<(), CopyError> {
        let live = self
            .slots
            .get(ix)
            .and_then(|s| s.live.as_ref())
            .map(|(token, session)| (*token, session.state()));
        match live {
            Some((_, SessionState::Active | SessionState::LoggingOut)) => {
                if let Some((_, session)) = self.slots.get_mut(ix).and_then(|s| s.live.as_mut()) {
                    session
                        .send_copy(now, er, account)
                        .map_err(CopyError::Send)?;
                }
                return Ok(());
            }
            // Not logged on (its Logon is pending or failed, or it is ending): the
            // store takes the copy, as for an order session's report.
            Some((token, _)) => {
                self.flush_once(token);
                self.close(token);
            }
            None => {}
        }
        let Some(slot) = self.slots.get_mut(ix) else {
            return Ok(());
        };
        let Some(store) = slot.store.as_mut() else {
            return Ok(());
        };
        let symbol = self
            .instruments
            .symbol_of(er.instrument)
            .ok_or(CopyError::UnknownInstrument(er.instrument.0))?;
        append_copy(
            store,
            &slot.config,
            now,
            er,
            account,
            symbol.as_bytes(),
            &mut self.scratch,
        )?;
        slot.copies.unsynced.get_or_insert(er.exec_id);
        Ok(())
    }

    /// Stops drop copy `ix` at ExecID `exec_id` (see the module docs).
    fn copies_failed(&mut self, now: Now, ix: usize, exec_id: u64, error: &dyn std::fmt::Display) {
        let Some(slot) = self.slots.get_mut(ix) else {
            return;
        };
        slot.copies.failed = Some(exec_id);
        slot.copies.unsynced = None;
        tracing::error!(
            session = slot.config.session_id.0,
            exec_id,
            %error,
            "FIX drop copy stopped: its store failed; the copies from this ExecID on are not \
             in it (they are in the order journal); its Logons are refused until the gateway \
             restarts with a working store"
        );
        let Some(token) = slot.live.as_ref().map(|(t, _)| *t) else {
            return;
        };
        let text = failed_text(exec_id);
        let answer = logout(&slot.config, slot.next_out(), now, &text, &mut self.scratch);
        self.flush_once(token);
        self.answer_and_close(token, &answer);
    }

    /// After the sync round: takes the outcome of each offline drop-copy store's share
    /// of it (a failure stops that drop copy).
    pub(super) fn settle_copies(&mut self, now: Now) {
        for ix in 0..self.slots.len() {
            let Some(slot) = self.slots.get_mut(ix) else {
                continue;
            };
            let Some(first) = slot.copies.unsynced else {
                continue;
            };
            let Some(store) = slot.store.as_mut() else {
                // Connected since: its session's flush releases (or fails) the copies.
                slot.copies.unsynced = None;
                continue;
            };
            match store.flush() {
                Ok(()) => slot.copies.unsynced = None,
                Err(e) => self.copies_failed(now, ix, first, &e),
            }
        }
    }

    /// Answers the Logon of a stopped drop copy `ix` with a Logout naming the ExecID it
    /// misses and closes `token`; false when `ix` is not a stopped drop copy.
    pub(super) fn refuse_stopped_drop_copy(&mut self, now: Now, token: Token, ix: usize) -> bool {
        let Some(slot) = self.slots.get(ix) else {
            return false;
        };
        let Some(exec_id) = slot.copies.failed else {
            return false;
        };
        tracing::warn!(
            session = slot.config.session_id.0,
            exec_id,
            "Logon of a stopped FIX drop copy refused"
        );
        let text = failed_text(exec_id);
        let answer = logout(&slot.config, slot.next_out(), now, &text, &mut self.scratch);
        self.answer_and_close(token, &answer);
        true
    }
}

/// The Text (58) of a stopped drop copy's Logout.
fn failed_text(exec_id: u64) -> String {
    format!(
        "drop copy stopped: its store failed at ExecID {exec_id}; copies from there are \
         missing until the gateway restarts"
    )
}

/// Appends the copy of `er` to an offline drop copy's `store` under its next MsgSeqNum,
/// without syncing (the sync round does).
fn append_copy(
    store: &mut SharedStore,
    config: &SessionConfig,
    now: Now,
    er: &ExecutionReport<'_>,
    account: AccountId,
    symbol: &[u8],
    scratch: &mut Vec<u8>,
) -> Result<(), CopyError> {
    let before = store.seq_nums();
    let seq = before.next_out;
    scratch.clear();
    let mut w = MessageWriter::begin(scratch, MsgType::EXECUTION_REPORT);
    header(&mut w, config, seq, now);
    write_copy_body(&mut w, er, account, symbol);
    let range = w.finish();
    let frame = scratch.get(range).unwrap_or_default();
    let after = SeqNums {
        next_out: seq + 1,
        ..before
    };
    store.append_outbound(seq, frame, after, now.wall, now.mono)?;
    Ok(())
}
