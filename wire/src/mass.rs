//! Mass cancel over binary order entry: the command [`MassCancelRequest`] (FIX
//! OrderMassCancelRequest, 35=q) and its answer [`MassCancelReport`] (FIX
//! OrderMassCancelReport, 35=r). The cancels themselves are reported as ordinary
//! [`crate::OrderCanceled`] records, one per order, after the report.
//!
//! A request names an account and optionally narrows it to one instrument and one side;
//! on the wire "all instruments" is instrument 0 ([`InstrumentId::NONE`]) and "both
//! sides" is side byte 0. The request id is the client's own `u64`, echoed in the report
//! so it can match the answer to its request.
//!
//! Panic contract: constructors and getters never panic; a record borrowed through
//! [`Record::decode`] has a valid side byte and response, zero reserved bytes, and a
//! report that is either accepted with reason 0 or rejected with no orders affected.
//! No order state, no I/O, no clocks.

use core::mem::{offset_of, size_of};

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{Immutable, IntoBytes, KnownLayout, TryFromBytes, Unaligned};

use crate::exec::RejectReason;
use crate::header::{DecodeError, Header, MessageType, Record, check_reserved, first_bad_byte};
use crate::order::TickCause;
use crate::units::{AccountId, InstrumentId, Nanos, SeqNo, Side, UnixNanos};

/// Which open orders of an account a mass cancel takes (not a wire struct).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MassCancelScope {
    /// The account whose orders are canceled.
    pub account: AccountId,
    /// Only this instrument; `None` for all.
    pub instrument: Option<InstrumentId>,
    /// Only this side; `None` for both.
    pub side: Option<Side>,
}

impl MassCancelScope {
    fn wire_instrument(&self) -> U32 {
        U32::new(self.instrument.map_or(InstrumentId::NONE.0, |i| i.0))
    }

    fn wire_side(&self) -> u8 {
        self.side.map_or(0, |s| s as u8)
    }
}

/// The instrument of a scope: 0 means all.
fn scope_instrument(raw: U32) -> Option<InstrumentId> {
    let id = InstrumentId(raw.get());
    (id != InstrumentId::NONE).then_some(id)
}

/// `Err(BadField("side"))` unless `b` is 0 (both sides) or a valid [`Side`].
fn check_scope_side(b: u8) -> Result<(), DecodeError> {
    if b == 0 || Side::from_wire(b).is_some() {
        Ok(())
    } else {
        Err(DecodeError::BadField { field: "side" })
    }
}

/// Cancel every open order of `account` (on `instrument`, on `side`, when given); this
/// request is `request_id`. 128 bytes, the tick cause at the same offsets as in every
/// order command.
///
/// ```text
/// 0 header | 8 instrument u32 (0 = all) | 12 account u32 | 16 side u8 (0 = both)
/// 17 reserved[7] | 24 request_id u64 | 32 reserved[24]
/// 56 tick_feed_seq | 64 tick_venue_ts | 72 tick_recv_ts | 80 send_ts | 88 reserved[40] | 128
/// ```
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    TryFromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[repr(C)]
pub struct MassCancelRequest {
    header: Header,
    instrument: U32,
    account: U32,
    side: u8,
    reserved: [u8; 7],
    request_id: U64,
    reserved1: [u8; 24],
    tick_feed_seq: U64,
    tick_venue_ts: U64,
    tick_recv_ts: U64,
    send_ts: U64,
    reserved2: [u8; 40],
}

const _: () = assert!(size_of::<MassCancelRequest>() == 128);
const _: () = assert!(offset_of!(MassCancelRequest, side) == 16);
const _: () = assert!(offset_of!(MassCancelRequest, request_id) == 24);
const _: () = assert!(offset_of!(MassCancelRequest, tick_feed_seq) == 56);

impl MassCancelRequest {
    /// Request `request_id` to cancel the open orders of `scope`, caused by `cause`.
    pub fn new(request_id: u64, scope: MassCancelScope, cause: TickCause) -> MassCancelRequest {
        MassCancelRequest {
            header: Header::for_record::<Self>(),
            instrument: scope.wire_instrument(),
            account: U32::new(scope.account.0),
            side: scope.wire_side(),
            reserved: [0; 7],
            request_id: U64::new(request_id),
            reserved1: [0; 24],
            tick_feed_seq: U64::new(cause.feed_seq.0),
            tick_venue_ts: U64::new(cause.venue_ts.0),
            tick_recv_ts: U64::new(cause.recv_ts.0),
            send_ts: U64::new(cause.send_ts.0),
            reserved2: [0; 40],
        }
    }

    /// The client's id for this request.
    pub fn request_id(&self) -> u64 {
        self.request_id.get()
    }

    /// The account whose orders are to be canceled.
    pub fn account(&self) -> AccountId {
        AccountId(self.account.get())
    }

    /// Only this instrument; `None` for all.
    pub fn instrument(&self) -> Option<InstrumentId> {
        scope_instrument(self.instrument)
    }

    /// Only this side; `None` for both (also for a side byte a raw cast let through).
    pub fn side(&self) -> Option<Side> {
        Side::from_wire(self.side)
    }

    /// Account, instrument and side together.
    pub fn scope(&self) -> MassCancelScope {
        MassCancelScope {
            account: self.account(),
            instrument: self.instrument(),
            side: self.side(),
        }
    }

    /// The causing tick and the sender's send time (all zero if none).
    pub fn cause(&self) -> TickCause {
        TickCause {
            feed_seq: SeqNo(self.tick_feed_seq.get()),
            venue_ts: UnixNanos(self.tick_venue_ts.get()),
            recv_ts: Nanos(self.tick_recv_ts.get()),
            send_ts: Nanos(self.send_ts.get()),
        }
    }
}

impl Record for MassCancelRequest {
    const TYPE: MessageType = MessageType::MassCancelRequest;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_scope_side(self.side)?;
        check_reserved(&self.reserved, "reserved")?;
        check_reserved(&self.reserved1, "reserved")?;
        check_reserved(&self.reserved2, "reserved")
    }

    fn bad_enum_field(_bytes: &[u8]) -> Option<&'static str> {
        None
    }
}

/// Whether a mass cancel was carried out (this schema's values).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    TryFromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[repr(u8)]
pub enum MassCancelResponse {
    /// Refused: nothing was canceled; the report's reason says why (`R`).
    Rejected = b'R',
    /// Carried out: the report counts the orders canceled (`A`).
    Accepted = b'A',
}

impl MassCancelResponse {
    /// The response for a wire byte, if valid.
    pub const fn from_wire(b: u8) -> Option<MassCancelResponse> {
        match b {
            b'R' => Some(MassCancelResponse::Rejected),
            b'A' => Some(MassCancelResponse::Accepted),
            _ => None,
        }
    }
}

/// The answer to [`MassCancelRequest`] `request_id`: how many orders were canceled, or
/// why nothing was. 64 bytes; `transact_time` and `gateway_ts` at the same offsets as in
/// the execution events.
///
/// ```text
/// 0 header | 8 instrument u32 (0 = all) | 12 account u32 | 16 request_id u64
/// 24 affected u64 | 32 reason u16 (0 when accepted) | 34 side u8 (0 = both)
/// 35 response u8 | 36 reserved[4] | 40 transact_time u64 | 48 gateway_ts u64
/// 56 reserved[8] | 64
/// ```
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    TryFromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[repr(C)]
pub struct MassCancelReport {
    header: Header,
    instrument: U32,
    account: U32,
    request_id: U64,
    affected: U64,
    reason: U16,
    side: u8,
    response: MassCancelResponse,
    reserved: [u8; 4],
    transact_time: U64,
    gateway_ts: U64,
    reserved2: [u8; 8],
}

const _: () = assert!(size_of::<MassCancelReport>() == 64);
const _: () = assert!(offset_of!(MassCancelReport, response) == 35);
const _: () = assert!(offset_of!(MassCancelReport, transact_time) == 40);
const _: () = assert!(offset_of!(MassCancelReport, gateway_ts) == 48);

impl MassCancelReport {
    /// The answer to request `request_id` about `scope`: `Ok(affected)` orders canceled,
    /// or `Err(reason)` when nothing was, at `transact_time` (wall) and `gateway_ts`
    /// (monotonic).
    pub fn new(
        request_id: u64,
        scope: MassCancelScope,
        outcome: Result<u64, RejectReason>,
        transact_time: UnixNanos,
        gateway_ts: Nanos,
    ) -> MassCancelReport {
        let (response, affected, reason) = match outcome {
            Ok(affected) => (MassCancelResponse::Accepted, affected, 0),
            Err(reason) => (MassCancelResponse::Rejected, 0, reason.to_u16()),
        };
        MassCancelReport {
            header: Header::for_record::<Self>(),
            instrument: scope.wire_instrument(),
            account: U32::new(scope.account.0),
            request_id: U64::new(request_id),
            affected: U64::new(affected),
            reason: U16::new(reason),
            side: scope.wire_side(),
            response,
            reserved: [0; 4],
            transact_time: U64::new(transact_time.0),
            gateway_ts: U64::new(gateway_ts.0),
            reserved2: [0; 8],
        }
    }

    /// The request this answers.
    pub fn request_id(&self) -> u64 {
        self.request_id.get()
    }

    /// The account the request named.
    pub fn account(&self) -> AccountId {
        AccountId(self.account.get())
    }

    /// The instrument the request named; `None` for all.
    pub fn instrument(&self) -> Option<InstrumentId> {
        scope_instrument(self.instrument)
    }

    /// The side the request named; `None` for both.
    pub fn side(&self) -> Option<Side> {
        Side::from_wire(self.side)
    }

    /// Account, instrument and side of the request.
    pub fn scope(&self) -> MassCancelScope {
        MassCancelScope {
            account: self.account(),
            instrument: self.instrument(),
            side: self.side(),
        }
    }

    /// Accepted or rejected.
    pub fn response(&self) -> MassCancelResponse {
        self.response
    }

    /// `Ok(orders canceled)` (FIX TotalAffectedOrders), or `Err(why nothing was)`.
    pub fn outcome(&self) -> Result<u64, RejectReason> {
        match self.response {
            MassCancelResponse::Accepted => Ok(self.affected.get()),
            MassCancelResponse::Rejected => Err(RejectReason::from_u16(self.reason.get())),
        }
    }

    /// When the gateway answered (FIX TransactTime).
    pub fn transact_time(&self) -> UnixNanos {
        UnixNanos(self.transact_time.get())
    }

    /// When the gateway emitted the report (monotonic).
    pub fn gateway_ts(&self) -> Nanos {
        Nanos(self.gateway_ts.get())
    }
}

impl Record for MassCancelReport {
    const TYPE: MessageType = MessageType::MassCancelReport;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_scope_side(self.side)?;
        match self.response {
            MassCancelResponse::Accepted if self.reason.get() != 0 => {
                return Err(DecodeError::BadField { field: "reason" });
            }
            MassCancelResponse::Rejected if self.affected.get() != 0 => {
                return Err(DecodeError::BadField { field: "affected" });
            }
            _ => {}
        }
        check_reserved(&self.reserved, "reserved")?;
        check_reserved(&self.reserved2, "reserved")
    }

    fn bad_enum_field(bytes: &[u8]) -> Option<&'static str> {
        first_bad_byte(
            bytes,
            &[("response", 35, |b| {
                MassCancelResponse::from_wire(b).is_some()
            })],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> MassCancelScope {
        MassCancelScope {
            account: AccountId(9),
            instrument: Some(InstrumentId(3)),
            side: Some(Side::Sell),
        }
    }

    #[test]
    fn request_scope_zero_means_all_and_a_bad_side_is_refused() {
        let all = MassCancelScope {
            account: AccountId(9),
            instrument: None,
            side: None,
        };
        let r = MassCancelRequest::new(5, all, TickCause::NONE);
        let bytes = r.as_bytes();
        assert_eq!(bytes[8..12], [0; 4]);
        assert_eq!(bytes[16], 0);
        assert_eq!(MassCancelRequest::decode(bytes).map(|d| d.scope()), Ok(all));
        let mut bytes = MassCancelRequest::new(5, scope(), TickCause::NONE)
            .as_bytes()
            .to_vec();
        assert_eq!(bytes[16], b'2');
        bytes[16] = b'3';
        assert_eq!(
            MassCancelRequest::decode(&bytes),
            Err(DecodeError::BadField { field: "side" })
        );
        bytes[16] = b'1';
        bytes[40] = 1;
        assert_eq!(
            MassCancelRequest::decode(&bytes),
            Err(DecodeError::BadField { field: "reserved" })
        );
    }

    #[test]
    fn report_is_accepted_with_a_count_or_rejected_with_a_reason() {
        let ok = MassCancelReport::new(7, scope(), Ok(2), UnixNanos(1), Nanos(2));
        assert_eq!(ok.outcome(), Ok(2));
        assert_eq!(ok.response(), MassCancelResponse::Accepted);
        // An Unspecified refusal is still a refusal: the response byte says so.
        let no = MassCancelReport::new(
            7,
            scope(),
            Err(RejectReason::Unspecified),
            UnixNanos(1),
            Nanos(2),
        );
        assert_eq!(
            MassCancelReport::decode(no.as_bytes()).map(|r| r.outcome()),
            Ok(Err(RejectReason::Unspecified))
        );
        let mut bytes = ok.as_bytes().to_vec();
        bytes[32] = 2;
        assert_eq!(
            MassCancelReport::decode(&bytes),
            Err(DecodeError::BadField { field: "reason" })
        );
        let mut bytes = no.as_bytes().to_vec();
        bytes[24] = 1;
        assert_eq!(
            MassCancelReport::decode(&bytes),
            Err(DecodeError::BadField { field: "affected" })
        );
        bytes[24] = 0;
        bytes[35] = b'X';
        assert_eq!(
            MassCancelReport::decode(&bytes),
            Err(DecodeError::BadField { field: "response" })
        );
        bytes[35] = b'R';
        bytes[34] = 7;
        assert_eq!(
            MassCancelReport::decode(&bytes),
            Err(DecodeError::BadField { field: "side" })
        );
    }
}
