//! Serving a ResendRequest (FIX 4.4 Vol. 2 "Resend Request", "Message Recovery"),
//! shared by both roles: stored application messages go again with PossDupFlag=Y and
//! OrigSendingTime, admin messages and anything not stored are covered by
//! SequenceReset-GapFill.
//!
//! Bounded: requests merge into one cursor, and each [`ResendCursor::serve`] covers at
//! most [`RESEND_CHUNK`] sequence numbers, so a huge range or a flood of requests grows
//! no buffer beyond one chunk per duty cycle. A stored frame whose MsgSeqNum or
//! TargetCompID is not the one asked for is never sent (another session's or an earlier
//! sequence's message): serving stops with [`ResendError::Foreign`].
//!
//! What it must not do: read a clock, touch a socket, or decide what the session does
//! about an error (its caller disconnects).

use tickwarp_runtime::UnixNanos;

use crate::fix::codec::{Message, MessageWriter, is_header_tag, parse_uint};
use crate::fix::fields::{MsgType, tag};
use crate::fix::store::{SessionStore, StoreError};

/// Sequence numbers served per step.
pub(crate) const RESEND_CHUNK: u64 = 256;

/// Our CompID and the peer's, as they go on every message we send.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CompIds<'a> {
    /// SenderCompID (49) of what we send.
    pub(crate) sender: &'a str,
    /// TargetCompID (56) of what we send.
    pub(crate) target: &'a str,
}

/// Why a resend step stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResendError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored frame for `msg_seq` is not ours under that MsgSeqNum.
    #[error("stored message {msg_seq} does not match its MsgSeqNum or TargetCompID")]
    Foreign {
        /// The MsgSeqNum asked for.
        msg_seq: u64,
    },
}

/// The ResendRequest being served: next MsgSeqNum to resend and the last one.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ResendCursor {
    pending: Option<(u64, u64)>,
}

impl ResendCursor {
    /// Adds the request `begin..=end` (EndSeqNo 0: everything sent), clamped to what
    /// was sent before `next_out`, to what is being served.
    pub(crate) fn request(&mut self, begin: u64, end: u64, next_out: u64) {
        let last = next_out.saturating_sub(1);
        let end = if end == 0 || end > last { last } else { end };
        let begin = begin.max(1);
        if begin > end {
            return;
        }
        self.pending = Some(match self.pending {
            Some((next, until)) => (next.min(begin), until.max(end)),
            None => (begin, end),
        });
    }

    /// Whether a resend is in progress.
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Forgets the resend in progress (reset, disconnect).
    pub(crate) fn clear(&mut self) {
        self.pending = None;
    }

    /// Writes the next chunk into `tx`. On an error the cursor is cleared.
    pub(crate) fn serve<S: SessionStore>(
        &mut self,
        store: &mut S,
        tx: &mut Vec<u8>,
        ids: CompIds<'_>,
        wall: UnixNanos,
    ) -> Result<(), ResendError> {
        let Some((begin, until)) = self.pending.take() else {
            return Ok(());
        };
        let end = until.min(begin.saturating_add(RESEND_CHUNK - 1));
        let mut gap_start = begin;
        let mut foreign = None;
        let mut resend = |msg_seq: u64, frame: &[u8]| {
            if foreign.is_some() {
                return;
            }
            let stored = match Message::decode(frame) {
                Ok(m)
                    if m.get(tag::MSG_SEQ_NUM).and_then(parse_uint) == Some(msg_seq)
                        && m.get(tag::TARGET_COMP_ID) == Some(ids.target.as_bytes()) =>
                {
                    m
                }
                _ => {
                    foreign = Some(msg_seq);
                    return;
                }
            };
            if msg_seq > gap_start {
                write_gap_fill(tx, ids, wall, gap_start, msg_seq);
            }
            let orig = stored.get(tag::SENDING_TIME).unwrap_or_default();
            let mut w = MessageWriter::begin(tx, stored.msg_type());
            write_header(&mut w, ids, msg_seq, wall);
            w.flag(tag::POSS_DUP_FLAG, true)
                .bytes(tag::ORIG_SENDING_TIME, orig);
            for (t, v) in stored.fields() {
                if t != tag::MSG_TYPE && !is_header_tag(t) {
                    w.bytes(t, v);
                }
            }
            let _ = w.finish();
            gap_start = msg_seq + 1;
        };
        store.for_each_outbound(begin, end, &mut resend)?;
        if let Some(msg_seq) = foreign {
            return Err(ResendError::Foreign { msg_seq });
        }
        if gap_start <= end {
            write_gap_fill(tx, ids, wall, gap_start, end + 1);
        }
        self.pending = (end < until).then_some((end + 1, until));
        Ok(())
    }
}

/// Writes the standard header (FIX 4.4 Vol. 1 "Standard Message Header"): MsgSeqNum,
/// SenderCompID, SendingTime, TargetCompID.
pub(crate) fn write_header(w: &mut MessageWriter<'_>, ids: CompIds<'_>, seq: u64, wall: UnixNanos) {
    w.uint(tag::MSG_SEQ_NUM, seq)
        .str(tag::SENDER_COMP_ID, ids.sender)
        .timestamp(tag::SENDING_TIME, wall)
        .str(tag::TARGET_COMP_ID, ids.target);
}

/// A SequenceReset-GapFill with MsgSeqNum `from` and NewSeqNo `to`.
fn write_gap_fill(tx: &mut Vec<u8>, ids: CompIds<'_>, wall: UnixNanos, from: u64, to: u64) {
    let mut w = MessageWriter::begin(tx, MsgType::SEQUENCE_RESET);
    write_header(&mut w, ids, from, wall);
    w.flag(tag::POSS_DUP_FLAG, true)
        .timestamp(tag::ORIG_SENDING_TIME, wall)
        .flag(tag::GAP_FILL_FLAG, true)
        .uint(tag::NEW_SEQ_NO, to);
    let _ = w.finish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::store::{MemoryStore, SeqNums};
    use tickwarp_runtime::Nanos;

    const IDS: CompIds<'static> = CompIds {
        sender: "GW",
        target: "CLIENT",
    };

    fn stored(store: &mut MemoryStore, msg_seq: u64, target: &str, seq_in_frame: u64) {
        let mut frame = Vec::new();
        let mut w = MessageWriter::begin(&mut frame, MsgType::EXECUTION_REPORT);
        write_header(
            &mut w,
            CompIds {
                sender: "GW",
                target,
            },
            seq_in_frame,
            UnixNanos(1),
        );
        w.str(tag::TEXT, "x");
        let _ = w.finish();
        let seq = SeqNums {
            next_in: 1,
            next_out: msg_seq + 1,
        };
        store
            .append_outbound(msg_seq, &frame, seq, UnixNanos(1), Nanos(1))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn a_frame_of_another_session_or_sequence_is_never_resent() {
        for (target, seq_in_frame) in [("OTHER", 2), ("CLIENT", 7)] {
            let mut store = MemoryStore::new();
            stored(&mut store, 2, target, seq_in_frame);
            let mut cursor = ResendCursor::default();
            cursor.request(1, 0, 3);
            let mut tx = Vec::new();
            let result = cursor.serve(&mut store, &mut tx, IDS, UnixNanos(5));
            assert!(
                matches!(result, Err(ResendError::Foreign { msg_seq: 2 })),
                "{result:?}"
            );
            assert!(!cursor.is_pending());
        }
    }

    #[test]
    fn requests_merge_into_one_cursor() {
        let mut cursor = ResendCursor::default();
        cursor.request(5, 9, 100);
        cursor.request(2, 0, 100);
        cursor.request(50, 40, 100);
        assert_eq!(cursor.pending, Some((2, 99)));
        let mut store = MemoryStore::new();
        stored(&mut store, 3, "CLIENT", 3);
        let mut tx = Vec::new();
        cursor
            .serve(&mut store, &mut tx, IDS, UnixNanos(5))
            .unwrap_or_else(|e| panic!("{e}"));
        // GapFill 2→3, message 3 again, GapFill 4→100: the whole range in one chunk.
        assert!(!cursor.is_pending());
        assert_eq!(tx.windows(5).filter(|w| w == b"\x0135=4").count(), 2);
    }
}
