//! The transmit half of a [`Connection`]: turns the queued Terminate, an RTR, Read
//! Responses and send-queue work into complete FPDUs (RFC 5044 §4 framing of RFC 5041
//! §4 DDP segments carrying RFC 5040 §4 RDMAP messages), segmented at MULPDU.
//!
//! It writes only into the caller's buffer and reads payload only through
//! [`MemoryAccess`]; it never blocks and never allocates.

use crate::soft::wire::ddp;
use crate::soft::wire::mpa::{self, FpduFrame};
use crate::soft::wire::rdmap::{self, ReadRequestRepr};

use super::memory::{LocalAccess, LocalFault, MemoryAccess, ProtectionFault, Sge};
use super::terminate::{TermCause, TermOut, read_fault_cause};
use super::{
    CompletionStatus, ConnEvent, Connection, OrqEntry, QN_READ_REQUEST, QN_SEND, QN_TERMINATE,
    RtrKind, SendOp, SlotState, SqSlot, State, TxCur,
};

/// STag of our Write RTR and Read RTR (RFC 6581 §3: any value; kernel `siw` uses 1 and
/// an STag of 0 is reserved, so never 0).
pub(super) const RTR_STAG: u32 = 1;

/// What one attempt to produce an FPDU did.
enum Step {
    /// Wrote an FPDU of this many bytes.
    Wrote(usize),
    /// Changed state without writing; try again.
    Again,
    /// Nothing more can be written now.
    Stop,
}

/// Writes one FPDU for `msg` with `payload_len` payload bytes produced by `fill` into
/// the front of `room`: length, headers, payload, zeroed pad, CRC32c or 0
/// (RFC 5044 §4.1, §4.4). `Ok(None)` when `room` is too small.
fn emit_fpdu<E>(
    crc: bool,
    room: &mut [u8],
    msg: &rdmap::Repr,
    payload_len: usize,
    fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
) -> Result<Option<usize>, E> {
    let header_len = msg.header_len();
    let ulpdu_len = header_len + payload_len;
    let total = mpa::fpdu_len(ulpdu_len);
    let (Some(fpdu), Ok(len_field)) = (room.get_mut(..total), u16::try_from(ulpdu_len)) else {
        return Ok(None);
    };
    let mut frame = FpduFrame::new_unchecked(&mut *fpdu);
    if frame.set_ulpdu_len(len_field).is_err() {
        return Ok(None);
    }
    let ulpdu = frame.ulpdu_mut();
    let (header, payload) = ulpdu.split_at_mut(header_len);
    msg.emit(&mut ddp::Frame::new_unchecked(header));
    fill(payload)?;
    FpduFrame::new_unchecked(fpdu).fill_trailer(crc);
    Ok(Some(total))
}

/// Copies `dst.len()` bytes of the slot's payload, starting `offset` bytes into the
/// message, from its inline buffer or its SGEs.
fn gather<M: MemoryAccess + ?Sized>(
    mem: &M,
    slot: &SqSlot,
    offset: usize,
    dst: &mut [u8],
) -> Result<(), LocalFault> {
    if slot.is_inline {
        let src = slot
            .inline
            .get(offset..offset + dst.len())
            .ok_or(LocalFault::OutOfBounds)?;
        dst.copy_from_slice(src);
        return Ok(());
    }
    let mut skip = offset;
    let mut rest = dst;
    for sge in slot.sges.iter().take(slot.nsge) {
        if rest.is_empty() {
            break;
        }
        let sge_len = sge.len as usize;
        if skip >= sge_len {
            skip -= sge_len;
            continue;
        }
        let take = (sge_len - skip).min(rest.len());
        let (now, later) = rest.split_at_mut(take);
        mem.read_local(sge, skip, now)?;
        rest = later;
        skip = 0;
    }
    if rest.is_empty() {
        Ok(())
    } else {
        Err(LocalFault::OutOfBounds)
    }
}

impl Connection {
    /// Bytes of the largest FPDU this connection sends: a `poll_transmit` buffer at
    /// least this long always makes progress when there is something to send.
    pub fn max_fpdu_len(&self) -> usize {
        mpa::fpdu_len(self.cfg.mulpdu)
    }

    /// Writes as many complete FPDUs as fit into `out` and returns the bytes written.
    ///
    /// Order: a queued Terminate (after which nothing else is sent), an RTR, the
    /// message in progress, then Read Responses before new send-queue work. Each
    /// message is segmented at MULPDU; a segment is written only when it fits whole.
    /// Sends and Writes complete when their last segment is written here.
    #[must_use]
    pub fn poll_transmit<M: MemoryAccess + ?Sized>(&mut self, mem: &M, out: &mut [u8]) -> usize {
        let mut written = 0;
        while let Some(room) = out.get_mut(written..) {
            match self.next_fpdu(mem, room) {
                Step::Wrote(n) => written += n,
                Step::Again => {}
                Step::Stop => break,
            }
        }
        written
    }

    /// Produces at most one FPDU.
    fn next_fpdu<M: MemoryAccess + ?Sized>(&mut self, mem: &M, room: &mut [u8]) -> Step {
        if let Some(term) = self.term_tx {
            return self.emit_terminate(term, room);
        }
        if self.state != State::Rts {
            return Step::Stop;
        }
        if let Some(kind) = self.rtr_tx {
            return self.emit_rtr(kind, room);
        }
        match self.tx_cur {
            TxCur::ReadResponse => self.emit_read_response(mem, room),
            TxCur::Sq => self.emit_sq(mem, room),
            TxCur::Idle => {
                if !self.irq.is_empty() {
                    self.tx_cur = TxCur::ReadResponse;
                    Step::Again
                } else if self.sq_tx < self.sq.len() && !self.read_blocked_by_ord() {
                    self.tx_cur = TxCur::Sq;
                    Step::Again
                } else {
                    Step::Stop
                }
            }
        }
    }

    /// The Terminate message (RFC 5040 §4.8: untagged, QN 2, MO 0, L set).
    fn emit_terminate(&mut self, term: TermOut, room: &mut [u8]) -> Step {
        let msg = rdmap::Repr::Terminate {
            msn: self.tx_msn[QN_TERMINATE],
            terminate: term.repr,
        };
        match emit_fpdu::<()>(self.cfg.crc, room, &msg, 0, |_| Ok(())) {
            Ok(Some(n)) => {
                self.tx_msn[QN_TERMINATE] = self.tx_msn[QN_TERMINATE].wrapping_add(1);
                self.term_tx = None;
                self.term_sent = Some(term.cause);
                self.push_event(ConnEvent::TerminateSent(term.cause));
                Step::Wrote(n)
            }
            Ok(None) | Err(()) => Step::Stop,
        }
    }

    /// An RFC 6581 RTR: a zero-length RDMA Write or a zero-length Read Request.
    fn emit_rtr(&mut self, kind: RtrKind, room: &mut [u8]) -> Step {
        let msg = match kind {
            RtrKind::Write => rdmap::Repr::Write {
                stag: RTR_STAG,
                to: 0,
                last: true,
            },
            RtrKind::Read => rdmap::Repr::ReadRequest {
                msn: self.tx_msn[QN_READ_REQUEST],
                request: ReadRequestRepr {
                    sink_stag: RTR_STAG,
                    sink_to: 0,
                    size: 0,
                    src_stag: RTR_STAG,
                    src_to: 0,
                },
            },
        };
        if kind == RtrKind::Read && self.orq.is_full() {
            return Step::Stop;
        }
        match emit_fpdu::<()>(self.cfg.crc, room, &msg, 0, |_| Ok(())) {
            Ok(Some(n)) => {
                self.rtr_tx = None;
                if kind == RtrKind::Read {
                    self.tx_msn[QN_READ_REQUEST] = self.tx_msn[QN_READ_REQUEST].wrapping_add(1);
                    let _ = self.orq.push(OrqEntry {
                        sq_seq: None,
                        sink: Sge {
                            lkey: RTR_STAG,
                            addr: 0,
                            len: 0,
                        },
                        received: 0,
                    });
                }
                Step::Wrote(n)
            }
            Ok(None) | Err(()) => Step::Stop,
        }
    }

    /// One segment of the Read Response at the head of the IRQ (RFC 5040 §4.5: tagged,
    /// the requester's sink STag, TO advancing per segment).
    fn emit_read_response<M: MemoryAccess + ?Sized>(&mut self, mem: &M, room: &mut [u8]) -> Step {
        let Some(entry) = self.irq.front().copied() else {
            self.tx_cur = TxCur::Idle;
            return Step::Again;
        };
        let remaining = entry.len - entry.sent;
        let chunk = remaining.min(self.max_payload(ddp::TAGGED_HEADER_LEN));
        let last = chunk == remaining;
        let msg = rdmap::Repr::ReadResponse {
            stag: entry.sink_stag,
            to: entry.sink_to.wrapping_add(u64::from(entry.sent)),
            last,
        };
        let src_to = entry.src_to.wrapping_add(u64::from(entry.sent));
        // A zero-length Read touches no buffer (its STag was not checked either).
        let fill = |dst: &mut [u8]| {
            if dst.is_empty() {
                Ok(())
            } else {
                mem.read_remote(entry.src_stag, src_to, dst)
            }
        };
        match emit_fpdu::<ProtectionFault>(self.cfg.crc, room, &msg, chunk as usize, fill) {
            Ok(Some(n)) => {
                if last {
                    self.irq.pop_front();
                    self.tx_cur = TxCur::Idle;
                } else {
                    if let Some(e) = self.irq.front_mut() {
                        e.sent += chunk;
                    }
                    self.tx_cur = TxCur::ReadResponse;
                }
                Step::Wrote(n)
            }
            Ok(None) => Step::Stop,
            Err(fault) => {
                // The source was checked when the request arrived; it changed since.
                self.fail_local(TermOut::local(read_fault_cause(fault)), None);
                Step::Again
            }
        }
    }

    /// The next segment (or the Read Request) of the send-queue slot at `sq_tx`.
    fn emit_sq<M: MemoryAccess + ?Sized>(&mut self, mem: &M, room: &mut [u8]) -> Step {
        let index = self.sq_tx;
        let pd = self.cfg.pd;
        let Some(slot) = self.sq.get(index) else {
            self.tx_cur = TxCur::Idle;
            return Step::Again;
        };
        if !slot.checked {
            let access = match slot.op {
                SendOp::Read { .. } => LocalAccess::Write,
                _ => LocalAccess::Read,
            };
            let bad = !slot.is_inline
                && slot
                    .sges
                    .iter()
                    .take(slot.nsge)
                    .any(|sge| mem.check_local(sge, access, pd).is_err());
            if bad {
                self.fail_local(
                    TermOut::local(TermCause::RdmapCatastrophic),
                    Some((index, CompletionStatus::LocalProtectionError)),
                );
                return Step::Again;
            }
            if let Some(slot) = self.sq.get_mut(index) {
                slot.checked = true;
            }
            return Step::Again;
        }
        if let SendOp::Read {
            remote_stag,
            remote_to,
        } = slot.op
        {
            return self.emit_read_request(index, remote_stag, remote_to, room);
        }
        let header_len = match slot.op {
            SendOp::Write { .. } => ddp::TAGGED_HEADER_LEN,
            _ => ddp::UNTAGGED_HEADER_LEN,
        };
        let remaining = slot.len - slot.sent;
        let chunk = remaining.min(self.max_payload(header_len));
        let last = chunk == remaining;
        let sent = slot.sent;
        let msg = match slot.op {
            SendOp::Write {
                remote_stag,
                remote_to,
            } => rdmap::Repr::Write {
                stag: remote_stag,
                to: remote_to.wrapping_add(u64::from(sent)),
                last,
            },
            op => {
                let (solicited, invalidate) = match op {
                    SendOp::SendSe => (true, None),
                    SendOp::SendInv { inv_stag } => (false, Some(inv_stag)),
                    SendOp::SendSeInv { inv_stag } => (true, Some(inv_stag)),
                    _ => (false, None),
                };
                rdmap::Repr::Send {
                    solicited,
                    invalidate,
                    msn: self.tx_msn[QN_SEND],
                    mo: sent,
                    last,
                }
            }
        };
        let fill = |dst: &mut [u8]| gather(mem, slot, sent as usize, dst);
        match emit_fpdu(self.cfg.crc, room, &msg, chunk as usize, fill) {
            Ok(Some(n)) => {
                let is_send = !matches!(msg, rdmap::Repr::Write { .. });
                if let Some(slot) = self.sq.get_mut(index) {
                    slot.sent += chunk;
                    if last {
                        slot.state = SlotState::Done(CompletionStatus::Success);
                    }
                }
                if last {
                    if is_send {
                        self.tx_msn[QN_SEND] = self.tx_msn[QN_SEND].wrapping_add(1);
                    }
                    self.sq_tx += 1;
                    self.tx_cur = TxCur::Idle;
                    self.drain_sq();
                } else {
                    self.tx_cur = TxCur::Sq;
                }
                Step::Wrote(n)
            }
            Ok(None) => Step::Stop,
            Err(_) => {
                // The SGEs were checked before the first segment; the region changed.
                self.fail_local(
                    TermOut::local(TermCause::RdmapCatastrophic),
                    Some((index, CompletionStatus::LocalProtectionError)),
                );
                Step::Again
            }
        }
    }

    /// The RDMA Read Request of the slot at `index` (RFC 5040 §4.4: untagged, QN 1,
    /// sink = the slot's SGE), if ORD allows another outstanding Read.
    fn emit_read_request(
        &mut self,
        index: usize,
        remote_stag: u32,
        remote_to: u64,
        room: &mut [u8],
    ) -> Step {
        if self.orq_user_reads() >= self.cfg.ord || self.orq.is_full() {
            self.tx_cur = TxCur::Idle;
            return Step::Stop;
        }
        let Some(slot) = self.sq.get(index) else {
            return Step::Stop;
        };
        let sink = match slot.nsge {
            1 => slot.sges.first().copied().unwrap_or_default(),
            _ => Sge::default(),
        };
        let msg = rdmap::Repr::ReadRequest {
            msn: self.tx_msn[QN_READ_REQUEST],
            request: ReadRequestRepr {
                sink_stag: sink.lkey,
                sink_to: sink.addr,
                size: slot.len,
                src_stag: remote_stag,
                src_to: remote_to,
            },
        };
        match emit_fpdu::<()>(self.cfg.crc, room, &msg, 0, |_| Ok(())) {
            Ok(Some(n)) => {
                self.tx_msn[QN_READ_REQUEST] = self.tx_msn[QN_READ_REQUEST].wrapping_add(1);
                let _ = self.orq.push(OrqEntry {
                    sq_seq: Some(self.sq_seq + index as u64),
                    sink,
                    received: 0,
                });
                if let Some(slot) = self.sq.get_mut(index) {
                    slot.state = SlotState::AwaitingResponse;
                }
                self.sq_tx += 1;
                self.tx_cur = TxCur::Idle;
                Step::Wrote(n)
            }
            Ok(None) | Err(()) => Step::Stop,
        }
    }

    /// Payload bytes per segment with a DDP header of `header_len`.
    fn max_payload(&self, header_len: usize) -> u32 {
        u32::try_from(self.cfg.mulpdu.saturating_sub(header_len)).unwrap_or(u32::MAX)
    }

    /// A local failure while transmitting: the failing send slot (if any) gets its
    /// status, everything else is flushed, and `term` tells the peer.
    fn fail_local(&mut self, term: TermOut, slot: Option<(usize, CompletionStatus)>) {
        if let Some(s) =
            slot.and_then(|(index, status)| self.sq.get_mut(index).map(|s| (s, status)))
        {
            s.0.state = SlotState::Done(s.1);
        }
        if self.state == State::Rts {
            self.term_tx = Some(term);
        }
        self.enter_error(None);
    }
}
