//! The receive half of a [`Connection`]: reassembles FPDUs from a TCP byte stream split
//! anywhere (RFC 5044 §4), verifies the CRC, parses DDP/RDMAP headers, checks every
//! access and only then places data (RFC 5041 §5, RFC 5040 §5, RFC 5042 §5).
//!
//! A whole FPDU is held (in the caller's slice when it arrives whole, else in one
//! preallocated buffer) until its CRC has been checked, so a corrupted or refused
//! segment places nothing. Any violation queues a Terminate and fails the QP; nothing
//! here panics on peer input.

use crate::soft::wire::mpa::{self, FpduFrame};
use crate::soft::wire::rdmap::{
    self, DdpTaggedCode, DdpUntaggedCode, MpaErrorCode, ReadRequestRepr,
};
use crate::soft::wire::{ddp, rdmap::READ_REQUEST_LEN};

use super::memory::{LocalAccess, MemoryAccess, RemoteAccess};
use super::terminate::{
    CANNOT_INVALIDATE, TermCause, TermOut, UNSPECIFIED_OPERATION, is_tagged, read_fault_cause,
    status_for_received, write_fault_cause,
};
use super::{
    Completion, CompletionStatus, ConnError, ConnEvent, Connection, IrqEntry, QN_READ_REQUEST,
    QN_SEND, RqSlot, RtrKind, SlotState, State, WcOpcode,
};

/// Why an incoming segment was refused: the Terminate cause plus the statuses of the
/// local work requests it fails.
#[derive(Clone, Copy, Debug)]
struct Reject {
    cause: TermCause,
    /// Status of the receive being filled, if it fails with something other than flush.
    rq_status: Option<CompletionStatus>,
    /// Status of the oldest outstanding send request (a Read whose response failed).
    sq_status: Option<CompletionStatus>,
    /// The offending Read Request header, copied into the Terminate (`R`).
    read_request: Option<ReadRequestRepr>,
}

impl Reject {
    /// A refusal that fails no particular work request.
    fn new(cause: TermCause) -> Reject {
        Reject {
            cause,
            rq_status: None,
            sq_status: None,
            read_request: None,
        }
    }

    /// The same refusal, failing the receive in progress with `status`.
    fn recv(self, status: CompletionStatus) -> Reject {
        Reject {
            rq_status: Some(status),
            ..self
        }
    }

    /// The same refusal, failing the oldest outstanding send request with `status`.
    fn send(self, status: CompletionStatus) -> Reject {
        Reject {
            sq_status: Some(status),
            ..self
        }
    }

    /// The same refusal, copying the Read Request header into the Terminate.
    fn read(self, request: ReadRequestRepr) -> Reject {
        Reject {
            read_request: Some(request),
            ..self
        }
    }
}

/// The DDP/RDMAP fields of one Send segment.
#[derive(Clone, Copy, Debug)]
struct SendSegment {
    solicited: bool,
    invalidate: Option<u32>,
    msn: u32,
    mo: u32,
    last: bool,
}

/// Why processing of the stream stopped.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// This side refuses the segment and answers with a Terminate.
    Reject(Reject),
    /// The peer sent a Terminate with this cause.
    Terminated(TermCause),
}

impl From<Reject> for Stop {
    fn from(reject: Reject) -> Stop {
        Stop::Reject(reject)
    }
}

impl From<TermCause> for Reject {
    fn from(cause: TermCause) -> Reject {
        Reject::new(cause)
    }
}

impl Connection {
    /// Feeds bytes of the TCP stream; returns how many were consumed (all of them
    /// unless an error stops processing).
    ///
    /// Whole FPDUs in `data` are processed in place; a partial one is kept in the
    /// reassembly buffer until the rest arrives. A violation queues a Terminate,
    /// moves the QP to Error and returns [`ConnError::Violation`].
    pub fn handle_bytes<M: MemoryAccess + ?Sized>(
        &mut self,
        mem: &M,
        data: &[u8],
    ) -> Result<usize, ConnError> {
        if self.state != State::Rts {
            return Err(ConnError::InError);
        }
        let mut consumed = 0;
        while let Some(rest) = data.get(consumed..).filter(|r| !r.is_empty()) {
            let whole = match mpa::peek_fpdu_len(rest) {
                Some(total) if self.rx_len == 0 => rest.get(..total),
                _ => None,
            };
            if let Some(fpdu) = whole {
                consumed += fpdu.len();
                self.handle_fpdu(mem, fpdu)?;
                continue;
            }
            consumed += self.buffer_partial(rest);
            let filled = self.rx_buf.get(..self.rx_len).unwrap_or_default();
            if mpa::peek_fpdu_len(filled) == Some(self.rx_len) {
                let buf = core::mem::take(&mut self.rx_buf);
                let result = match buf.get(..self.rx_len) {
                    Some(fpdu) => self.handle_fpdu(mem, fpdu),
                    None => Ok(()),
                };
                self.rx_buf = buf;
                self.rx_len = 0;
                result?;
            }
        }
        Ok(consumed)
    }

    /// Copies from `rest` into the reassembly buffer up to the end of the current FPDU
    /// (or of its length field); returns the bytes taken.
    fn buffer_partial(&mut self, rest: &[u8]) -> usize {
        let filled = self.rx_buf.get(..self.rx_len).unwrap_or_default();
        let want = mpa::peek_fpdu_len(filled).unwrap_or(2);
        let take = want.saturating_sub(self.rx_len).min(rest.len());
        let end = self.rx_len + take;
        match (self.rx_buf.get_mut(self.rx_len..end), rest.get(..take)) {
            (Some(dst), Some(src)) => {
                dst.copy_from_slice(src);
                self.rx_len = end;
                take
            }
            // Unreachable: the buffer holds the largest FPDU a 16-bit length allows.
            _ => rest.len(),
        }
    }

    /// Processes one whole FPDU (length field through CRC).
    fn handle_fpdu<M: MemoryAccess + ?Sized>(
        &mut self,
        mem: &M,
        fpdu: &[u8],
    ) -> Result<(), ConnError> {
        let frame = FpduFrame::new_unchecked(fpdu);
        if frame.check_len().is_err() {
            return Ok(());
        }
        let segment_len = frame.ulpdu_len();
        let ulpdu = frame.ulpdu_ref();
        let outcome = if self.cfg.crc && frame.check_crc().is_err() {
            // RFC 5044 §8: a CRC error is an LLP error; nothing of the FPDU is used.
            Err(Stop::Reject(Reject::new(TermCause::Mpa(
                MpaErrorCode::CrcError,
            ))))
        } else {
            self.handle_segment(mem, ulpdu)
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(Stop::Reject(reject)) => Err(self.reject(reject, segment_len, ulpdu)),
            Err(Stop::Terminated(cause)) => Err(self.terminated(cause)),
        }
    }

    /// Parses and dispatches one DDP segment.
    fn handle_segment<M: MemoryAccess + ?Sized>(
        &mut self,
        mem: &M,
        ulpdu: &[u8],
    ) -> Result<(), Stop> {
        let frame = ddp::Frame::new_unchecked(ulpdu);
        let msg = rdmap::Repr::parse(&frame)
            .map_err(|e| Reject::new(TermCause::for_parse_error(e, is_tagged(ulpdu))))?;
        let first = !self.rx_seen;
        self.rx_seen = true;
        let payload = frame.payload_ref();
        let placed = match msg {
            rdmap::Repr::Write { stag, to, .. } => self.on_write(mem, stag, to, payload, first),
            rdmap::Repr::ReadResponse { stag, to, last } => {
                self.on_read_response(mem, stag, to, last, payload)
            }
            rdmap::Repr::Send {
                solicited,
                invalidate,
                msn,
                mo,
                last,
            } => {
                let seg = SendSegment {
                    solicited,
                    invalidate,
                    msn,
                    mo,
                    last,
                };
                self.on_send(mem, seg, payload)
            }
            rdmap::Repr::ReadRequest { msn, request } => {
                self.on_read_request(mem, msn, request, payload.len(), first)
            }
            rdmap::Repr::Terminate { terminate, .. } => {
                return Err(Stop::Terminated(terminate.cause));
            }
        };
        placed.map_err(Stop::Reject)
    }

    /// RDMA Write (RFC 5040 §5.1, RFC 5041 §5.2): check the tagged buffer, then place.
    /// A zero-length Write places nothing and accesses no buffer, so its STag is not
    /// checked; as the first FPDU it is an RFC 6581 RTR.
    fn on_write<M: MemoryAccess + ?Sized>(
        &mut self,
        mem: &M,
        stag: u32,
        to: u64,
        data: &[u8],
        first: bool,
    ) -> Result<(), Reject> {
        if data.is_empty() {
            if first {
                self.push_event(ConnEvent::RtrReceived(RtrKind::Write));
            }
            return Ok(());
        }
        if to.checked_add(data.len() as u64).is_none() {
            return Err(TermCause::DdpTagged(DdpTaggedCode::ToWrap).into());
        }
        let pd = self.cfg.pd;
        mem.check_remote(stag, to, data.len(), RemoteAccess::Write, pd)
            .map_err(|f| Reject::new(write_fault_cause(f)))?;
        mem.write_remote(stag, to, data)
            .map_err(|f| Reject::new(write_fault_cause(f)))
    }

    /// RDMA Read Response (RFC 5040 §4.5, §5.2): must continue the oldest outstanding
    /// Read exactly (its sink STag, the next TO, within its length).
    fn on_read_response<M: MemoryAccess + ?Sized>(
        &mut self,
        mem: &M,
        stag: u32,
        to: u64,
        last: bool,
        data: &[u8],
    ) -> Result<(), Reject> {
        let invalid_stag = Reject::new(TermCause::DdpTagged(DdpTaggedCode::InvalidStag));
        let bounds = Reject::new(TermCause::DdpTagged(DdpTaggedCode::BaseOrBounds));
        let Some(head) = self.orq.front().copied() else {
            return Err(invalid_stag);
        };
        if stag != head.sink.lkey {
            return Err(invalid_stag.send(CompletionStatus::RemoteOperationError));
        }
        let expected_to = head.sink.addr.wrapping_add(u64::from(head.received));
        let len = u32::try_from(data.len()).map_err(|_| bounds)?;
        let end = head.received.checked_add(len).ok_or(bounds)?;
        if to != expected_to || end > head.sink.len {
            return Err(bounds.send(CompletionStatus::RemoteOperationError));
        }
        if last && end != head.sink.len {
            return Err(
                Reject::new(UNSPECIFIED_OPERATION).send(CompletionStatus::RemoteOperationError)
            );
        }
        if !data.is_empty() {
            mem.write_local(&head.sink, head.received as usize, data)
                .map_err(|_| {
                    Reject::new(TermCause::RdmapCatastrophic)
                        .send(CompletionStatus::LocalProtectionError)
                })?;
        }
        if let Some(h) = self.orq.front_mut() {
            h.received = end;
        }
        if last {
            self.orq.pop_front();
            if let Some(seq) = head.sq_seq {
                let index = usize::try_from(seq.wrapping_sub(self.sq_seq)).unwrap_or(usize::MAX);
                if let Some(slot) = self.sq.get_mut(index) {
                    slot.state = SlotState::Done(CompletionStatus::Success);
                }
                self.drain_sq();
            }
        }
        Ok(())
    }

    /// Send of any flavour (RFC 5040 §5.3, RFC 5041 §5.3): placed at `MO` into the
    /// head posted receive; completes on `L`; Send with Invalidate invalidates its STag
    /// (RFC 5040 §5.4) before the receive completes.
    fn on_send<M: MemoryAccess + ?Sized>(
        &mut self,
        mem: &M,
        seg: SendSegment,
        data: &[u8],
    ) -> Result<(), Reject> {
        let SendSegment {
            solicited,
            invalidate,
            msn,
            mo,
            last,
        } = seg;
        if msn != self.rx_msn[QN_SEND] {
            return Err(TermCause::DdpUntagged(DdpUntaggedCode::InvalidMsnRange).into());
        }
        let Some(slot) = self.rq.front().copied() else {
            return Err(TermCause::DdpUntagged(DdpUntaggedCode::InvalidMsnNoBuffer).into());
        };
        let local_failure =
            Reject::new(TermCause::RdmapCatastrophic).recv(CompletionStatus::LocalProtectionError);
        if !self.rx_send_started {
            let pd = self.cfg.pd;
            let bad = slot
                .sges
                .iter()
                .take(slot.nsge)
                .any(|sge| mem.check_local(sge, LocalAccess::Write, pd).is_err());
            if bad {
                return Err(local_failure);
            }
            self.rx_send_started = true;
        }
        let start = u64::from(mo);
        let end = start + data.len() as u64;
        if start > slot.len {
            return Err(
                Reject::new(TermCause::DdpUntagged(DdpUntaggedCode::InvalidMo))
                    .recv(CompletionStatus::LocalLengthError),
            );
        }
        if end > slot.len || end > u64::from(self.cfg.max_message_size) {
            return Err(
                Reject::new(TermCause::DdpUntagged(DdpUntaggedCode::MessageTooLong))
                    .recv(CompletionStatus::LocalLengthError),
            );
        }
        scatter(mem, &slot, start, data).map_err(|()| local_failure)?;
        if !last {
            return Ok(());
        }
        let mut completion = Completion {
            wr_id: slot.wr_id,
            opcode: WcOpcode::Recv,
            status: CompletionStatus::Success,
            byte_len: u32::try_from(end).unwrap_or(u32::MAX),
            solicited,
            invalidated_stag: None,
        };
        if let Some(stag) = invalidate {
            mem.invalidate(stag, self.cfg.pd).map_err(|_| {
                Reject::new(CANNOT_INVALIDATE).recv(CompletionStatus::RemoteInvalidateError)
            })?;
            completion.opcode = WcOpcode::RecvWithInvalidate;
            completion.invalidated_stag = Some(stag);
        }
        self.cq.push(completion);
        self.rq.pop_front();
        self.rx_send_started = false;
        self.rx_msn[QN_SEND] = self.rx_msn[QN_SEND].wrapping_add(1);
        Ok(())
    }

    /// RDMA Read Request (RFC 5040 §4.4, §5.2): at most IRD outstanding, source checked
    /// for remote read before it is queued for a Read Response. A zero-length Read
    /// touches no buffer (no check); as the first FPDU it is an RFC 6581 RTR.
    fn on_read_request<M: MemoryAccess + ?Sized>(
        &mut self,
        mem: &M,
        msn: u32,
        request: ReadRequestRepr,
        payload_len: usize,
        first: bool,
    ) -> Result<(), Reject> {
        if payload_len != READ_REQUEST_LEN {
            let cause = TermCause::DdpUntagged(DdpUntaggedCode::MessageTooLong);
            return Err(Reject::new(cause).read(request));
        }
        if msn != self.rx_msn[QN_READ_REQUEST] {
            let cause = TermCause::DdpUntagged(DdpUntaggedCode::InvalidMsnRange);
            return Err(Reject::new(cause).read(request));
        }
        self.rx_msn[QN_READ_REQUEST] = self.rx_msn[QN_READ_REQUEST].wrapping_add(1);
        if self.irq.is_full() {
            // More Reads outstanding than the IRD we granted: no buffer on QN 1.
            let cause = TermCause::DdpUntagged(DdpUntaggedCode::InvalidMsnNoBuffer);
            return Err(Reject::new(cause).read(request));
        }
        let size = request.size as usize;
        if size == 0 {
            if first {
                self.push_event(ConnEvent::RtrReceived(RtrKind::Read));
            }
        } else {
            if request
                .src_to
                .checked_add(u64::from(request.size))
                .is_none()
            {
                let cause = read_fault_cause(super::ProtectionFault::ToWrap);
                return Err(Reject::new(cause).read(request));
            }
            mem.check_remote(
                request.src_stag,
                request.src_to,
                size,
                RemoteAccess::Read,
                self.cfg.pd,
            )
            .map_err(|f| Reject::new(read_fault_cause(f)).read(request))?;
        }
        let _ = self.irq.push(IrqEntry {
            sink_stag: request.sink_stag,
            sink_to: request.sink_to,
            len: request.size,
            src_stag: request.src_stag,
            src_to: request.src_to,
            sent: 0,
        });
        Ok(())
    }

    /// A Terminate from the peer (RFC 5040 §6): the stream is dead; the request it
    /// most likely refers to fails, the rest is flushed. No Terminate is sent back.
    fn terminated(&mut self, cause: TermCause) -> ConnError {
        if self.state == State::Rts {
            self.term_received = Some(cause);
            self.push_event(ConnEvent::TerminateReceived(cause));
            self.enter_error(Some(status_for_received(cause)));
        }
        ConnError::TerminateReceived(cause)
    }

    /// Applies a refusal: queue the Terminate, fail the affected requests, flush
    /// everything and report.
    fn reject(&mut self, reject: Reject, segment_len: u16, ulpdu: &[u8]) -> ConnError {
        if self.state != State::Rts {
            return ConnError::InError;
        }
        if reject.rq_status.is_some() {
            self.flush_rq(reject.rq_status);
        }
        self.term_tx = Some(TermOut::for_segment(
            reject.cause,
            segment_len,
            ulpdu,
            reject.read_request,
        ));
        self.enter_error(reject.sq_status);
        ConnError::Violation(reject.cause)
    }
}

/// Copies `data` into the receive's SGEs starting `start` bytes into the message.
fn scatter<M: MemoryAccess + ?Sized>(
    mem: &M,
    slot: &RqSlot,
    start: u64,
    data: &[u8],
) -> Result<(), ()> {
    let mut skip = start;
    let mut rest = data;
    for sge in slot.sges.iter().take(slot.nsge) {
        if rest.is_empty() {
            break;
        }
        let sge_len = u64::from(sge.len);
        if skip >= sge_len {
            skip -= sge_len;
            continue;
        }
        let room = usize::try_from(sge_len - skip).unwrap_or(usize::MAX);
        let (now, later) = rest.split_at(room.min(rest.len()));
        mem.write_local(sge, skip as usize, now).map_err(|_| ())?;
        rest = later;
        skip = 0;
    }
    if rest.is_empty() { Ok(()) } else { Err(()) }
}
