//! Retail order-entry requests beyond D, F and G (FIX 4.4 Vol. 4 "Order Status Request",
//! "Order Mass Status Request", "Order Mass Cancel Request" and "Order Mass Cancel
//! Report"): OrderStatusRequest (H), OrderMassStatusRequest (AF) and
//! OrderMassCancelRequest (q) in, with their field checks; the status ExecutionReport
//! (ExecType I) and OrderMassCancelReport (r) out.
//!
//! Decisions: a request names only the session's own account; an Account (1) that names
//! another is answered as if the order did not exist (unknown order, or no orders), so a
//! session learns nothing about another account. Request ids (OrdStatusReqID 790,
//! MassStatusReqID 584) are echoed; like ClOrdID they are at most 16 characters.
//! A mass status with no matching order is answered with one ExecutionReport (ExecType I,
//! OrdStatus 8, OrdRejReason 5 unknown order, TotNumReports 0, LastRptRequested Y,
//! OrderID and ClOrdID `NONE`, Side as requested or 7 undisclosed), so a client waiting
//! for LastRptRequested always gets it. Unsupported MassStatusReqType values (2–6) are
//! answered with a BusinessMessageReject (FIX 4.4 gives AF no reject message of its
//! own); unsupported MassCancelRequestType values (2–6) with an OrderMassCancelReport
//! carrying MassCancelResponse 0 and MassCancelRejectReason.
//!
//! Message bodies only: the session writes the header and owns sequencing. Nothing here
//! allocates, reads a clock or decides anything about orders.

use tickwarp_runtime::UnixNanos;
use tickwarp_wire::{ClientOrderId, InstrumentId, Side};

use super::codec::{Message, MessageWriter, parse_uint};
use super::fields::{BusinessRejectReason, MsgType, SessionRejectReason, parse_timestamp, tag};
use super::messages::{AppRejectError, ExecType, OrdStatus, ParseContext, SessionId};

/// Tags of these messages that `fields::tag` does not name.
pub mod tags {
    /// MassCancelRequestType.
    pub const MASS_CANCEL_REQUEST_TYPE: u32 = 530;
    /// MassCancelResponse.
    pub const MASS_CANCEL_RESPONSE: u32 = 531;
    /// MassCancelRejectReason.
    pub const MASS_CANCEL_REJECT_REASON: u32 = 532;
    /// TotalAffectedOrders.
    pub const TOTAL_AFFECTED_ORDERS: u32 = 533;
    /// MassStatusReqID.
    pub const MASS_STATUS_REQ_ID: u32 = 584;
    /// MassStatusReqType.
    pub const MASS_STATUS_REQ_TYPE: u32 = 585;
    /// OrdStatusReqID.
    pub const ORD_STATUS_REQ_ID: u32 = 790;
    /// TotNumReports.
    pub const TOT_NUM_REPORTS: u32 = 911;
    /// LastRptRequested.
    pub const LAST_RPT_REQUESTED: u32 = 912;
    /// NoPartyIDs.
    pub const NO_PARTY_IDS: u32 = 453;
    /// PartyID.
    pub const PARTY_ID: u32 = 448;
}

/// OrderStatusRequest (H).
pub const ORDER_STATUS_REQUEST: &[u8] = b"H";
/// OrderMassStatusRequest (AF).
pub const ORDER_MASS_STATUS_REQUEST: &[u8] = b"AF";
/// OrderMassCancelRequest (q).
pub const ORDER_MASS_CANCEL_REQUEST: &[u8] = b"q";
/// OrderMassCancelReport (r).
pub const ORDER_MASS_CANCEL_REPORT: &[u8] = b"r";

/// The MsgType for one of the constants above.
pub fn msg_type(value: &[u8]) -> MsgType {
    MsgType::from_bytes(value).unwrap_or(MsgType::UNKNOWN)
}

/// An OrderID (37) as a request gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderIdRef {
    /// A number: this gateway's OrderIDs are journal sequence numbers.
    Number(u64),
    /// Anything else: no order of this gateway has it.
    Unmatched,
}

/// A Symbol (55) filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolFilter {
    /// No Symbol given.
    Any,
    /// A traded instrument.
    Instrument(InstrumentId),
    /// A symbol this gateway does not trade: matches no order.
    Unknown,
}

impl SymbolFilter {
    /// Whether an order of `instrument` passes.
    pub fn matches(self, instrument: InstrumentId) -> bool {
        match self {
            SymbolFilter::Any => true,
            SymbolFilter::Instrument(i) => i == instrument,
            SymbolFilter::Unknown => false,
        }
    }
}

/// An OrderStatusRequest (35=H) that passed the field checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderStatusRequest {
    /// The session it arrived on.
    pub session: SessionId,
    /// Its MsgSeqNum (34).
    pub msg_seq: u64,
    /// ClOrdID (11) of the order.
    pub cl_ord_id: ClientOrderId,
    /// OrderID (37), if given: it takes precedence over ClOrdID.
    pub order_id: Option<OrderIdRef>,
    /// Side (54): an order on the other side is not the one asked for.
    pub side: Side,
    /// Symbol (55).
    pub symbol: SymbolFilter,
    /// Account (1) named another account: the order is unknown to this session.
    pub foreign_account: bool,
    /// OrdStatusReqID (790), echoed.
    pub req_id: Option<ClientOrderId>,
}

/// What an OrderMassStatusRequest (35=AF) selects (MassStatusReqType 585).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MassStatusScope {
    /// 1: orders for a security.
    Security(SymbolFilter),
    /// 7: all orders of the session's account.
    All,
    /// 8: orders of a PartyID (448); only the session's account number names its orders.
    Party {
        /// Whether a PartyID names the session's account.
        ours: bool,
    },
}

/// An OrderMassStatusRequest (35=AF) that passed the field checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderMassStatusRequest {
    /// The session it arrived on.
    pub session: SessionId,
    /// Its MsgSeqNum (34).
    pub msg_seq: u64,
    /// MassStatusReqID (584), echoed on every report.
    pub req_id: ClientOrderId,
    /// Which orders.
    pub scope: MassStatusScope,
    /// Side (54) qualifier.
    pub side: Option<Side>,
    /// Account (1) named another account: no order matches.
    pub foreign_account: bool,
}

/// MassCancelRequestType (530) this gateway carries out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MassCancelScope {
    /// 1: orders for a security.
    Security(InstrumentId),
    /// 7: all orders of the session's account.
    All,
}

impl MassCancelScope {
    /// The wire value of MassCancelRequestType (530) and of MassCancelResponse (531).
    pub const fn to_wire(self) -> u8 {
        match self {
            MassCancelScope::Security(_) => b'1',
            MassCancelScope::All => b'7',
        }
    }
}

/// MassCancelRejectReason (532) values of FIX 4.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MassCancelRejectReason {
    /// 0: mass cancel not supported (for this MassCancelRequestType).
    NotSupported,
    /// 1: invalid or unknown security.
    UnknownSecurity,
    /// 99: other (the gateway refuses: rate limit, journal unavailable).
    Other,
}

impl MassCancelRejectReason {
    /// The wire value.
    pub const fn code(self) -> u64 {
        match self {
            MassCancelRejectReason::NotSupported => 0,
            MassCancelRejectReason::UnknownSecurity => 1,
            MassCancelRejectReason::Other => 99,
        }
    }
}

/// An OrderMassCancelRequest (35=q) that passed the field checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderMassCancelRequest {
    /// The session it arrived on.
    pub session: SessionId,
    /// Its MsgSeqNum (34).
    pub msg_seq: u64,
    /// ClOrdID (11) of the request, echoed on the report.
    pub cl_ord_id: ClientOrderId,
    /// MassCancelRequestType (530) as sent.
    pub request_type: u8,
    /// What to cancel, or why the request is refused.
    pub scope: Result<MassCancelScope, MassCancelRejectReason>,
    /// Side (54) qualifier.
    pub side: Option<Side>,
    /// Account (1) named another account: nothing of that account is canceled.
    pub foreign_account: bool,
    /// TransactTime (60).
    pub transact_time: UnixNanos,
}

/// Why a retail request is refused before it reaches the order path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RetailRejectError {
    /// A field is missing or malformed: a session Reject (35=3).
    #[error(transparent)]
    Field(#[from] AppRejectError),
    /// Well formed but not supported: a BusinessMessageReject (35=j).
    #[error("{reason:?}: {text}")]
    Business {
        /// BusinessRejectReason (380).
        reason: BusinessRejectReason,
        /// Text (58).
        text: &'static str,
    },
}

fn field(t: u32, reason: SessionRejectReason) -> AppRejectError {
    AppRejectError::Session { tag: t, reason }
}

fn required<'a>(msg: &Message<'a>, t: u32) -> Result<&'a [u8], AppRejectError> {
    msg.get(t)
        .ok_or(field(t, SessionRejectReason::RequiredTagMissing))
}

fn id(msg: &Message<'_>, t: u32) -> Result<Option<ClientOrderId>, AppRejectError> {
    msg.get(t)
        .map(|v| {
            ClientOrderId::from_bytes(v).map_err(|_| field(t, SessionRejectReason::ValueIncorrect))
        })
        .transpose()
}

fn side(msg: &Message<'_>) -> Result<Option<Side>, AppRejectError> {
    match msg.get(tag::SIDE) {
        None => Ok(None),
        Some([b]) => Side::from_wire(*b)
            .map(Some)
            .ok_or(field(tag::SIDE, SessionRejectReason::ValueIncorrect)),
        Some(_) => Err(field(tag::SIDE, SessionRejectReason::IncorrectDataFormat)),
    }
}

fn symbol(msg: &Message<'_>, ctx: &ParseContext<'_>) -> SymbolFilter {
    match msg.get(tag::SYMBOL) {
        None => SymbolFilter::Any,
        Some(s) => core::str::from_utf8(s)
            .ok()
            .and_then(|s| ctx.instruments.id_of_str(s))
            .map_or(SymbolFilter::Unknown, SymbolFilter::Instrument),
    }
}

fn foreign_account(msg: &Message<'_>, ctx: &ParseContext<'_>) -> bool {
    msg.get(tag::ACCOUNT)
        .is_some_and(|a| parse_uint(a) != Some(u64::from(ctx.account.get())))
}

fn one_char(msg: &Message<'_>, t: u32) -> Result<u8, AppRejectError> {
    match required(msg, t)? {
        [b] => Ok(*b),
        _ => Err(field(t, SessionRejectReason::ValueIncorrect)),
    }
}

impl OrderStatusRequest {
    /// Parses a 35=H (required: 11, 54).
    pub fn parse(
        msg: &Message<'_>,
        msg_seq: u64,
        ctx: &ParseContext<'_>,
    ) -> Result<OrderStatusRequest, AppRejectError> {
        let cl_ord_id = id(msg, tag::CL_ORD_ID)?.ok_or(field(
            tag::CL_ORD_ID,
            SessionRejectReason::RequiredTagMissing,
        ))?;
        let side = side(msg)?.ok_or(field(tag::SIDE, SessionRejectReason::RequiredTagMissing))?;
        let order_id = msg.get(tag::ORDER_ID).map(|v| match parse_uint(v) {
            Some(n) if n > 0 => OrderIdRef::Number(n),
            _ => OrderIdRef::Unmatched,
        });
        Ok(OrderStatusRequest {
            session: ctx.session,
            msg_seq,
            cl_ord_id,
            order_id,
            side,
            symbol: symbol(msg, ctx),
            foreign_account: foreign_account(msg, ctx),
            req_id: id(msg, tags::ORD_STATUS_REQ_ID)?,
        })
    }
}

/// Whether a PartyID (448) of the Parties group names `account`.
fn party_names(msg: &Message<'_>, account: u32) -> bool {
    msg.fields()
        .any(|(t, v)| t == tags::PARTY_ID && parse_uint(v) == Some(u64::from(account)))
}

impl OrderMassStatusRequest {
    /// Parses a 35=AF (required: 584, 585; 55 for type 1, a PartyID for type 8).
    pub fn parse(
        msg: &Message<'_>,
        msg_seq: u64,
        ctx: &ParseContext<'_>,
    ) -> Result<OrderMassStatusRequest, RetailRejectError> {
        let req_id = id(msg, tags::MASS_STATUS_REQ_ID)?.ok_or(field(
            tags::MASS_STATUS_REQ_ID,
            SessionRejectReason::RequiredTagMissing,
        ))?;
        let scope = match one_char(msg, tags::MASS_STATUS_REQ_TYPE)? {
            b'1' if msg.get(tag::SYMBOL).is_none() => {
                return Err(RetailRejectError::Business {
                    reason: BusinessRejectReason::ConditionallyRequiredFieldMissing,
                    text: "MassStatusReqType 1 needs Symbol (55)",
                });
            }
            b'1' => MassStatusScope::Security(symbol(msg, ctx)),
            b'7' => MassStatusScope::All,
            b'8' if msg.get(tags::PARTY_ID).is_none() => {
                return Err(RetailRejectError::Business {
                    reason: BusinessRejectReason::ConditionallyRequiredFieldMissing,
                    text: "MassStatusReqType 8 needs PartyID (448)",
                });
            }
            b'8' => MassStatusScope::Party {
                ours: party_names(msg, ctx.account.get()),
            },
            b'2'..=b'6' => {
                return Err(RetailRejectError::Business {
                    reason: BusinessRejectReason::Other,
                    text: "MassStatusReqType not supported: 1 (security), 7 (all) and 8 (party) only",
                });
            }
            _ => {
                return Err(field(
                    tags::MASS_STATUS_REQ_TYPE,
                    SessionRejectReason::ValueIncorrect,
                )
                .into());
            }
        };
        Ok(OrderMassStatusRequest {
            session: ctx.session,
            msg_seq,
            req_id,
            scope,
            side: side(msg)?,
            foreign_account: foreign_account(msg, ctx),
        })
    }

    /// Whether an order of `instrument` on `side` is selected (the account is checked
    /// by the caller).
    pub fn matches(&self, instrument: InstrumentId, side: Side) -> bool {
        let scoped = match self.scope {
            MassStatusScope::Security(filter) => filter.matches(instrument),
            MassStatusScope::All => true,
            MassStatusScope::Party { ours } => ours,
        };
        !self.foreign_account && scoped && self.side.is_none_or(|s| s == side)
    }
}

impl OrderMassCancelRequest {
    /// Parses a 35=q (required: 11, 530, 60; 55 for type 1).
    pub fn parse(
        msg: &Message<'_>,
        msg_seq: u64,
        ctx: &ParseContext<'_>,
    ) -> Result<OrderMassCancelRequest, AppRejectError> {
        let cl_ord_id = id(msg, tag::CL_ORD_ID)?.ok_or(field(
            tag::CL_ORD_ID,
            SessionRejectReason::RequiredTagMissing,
        ))?;
        let request_type = one_char(msg, tags::MASS_CANCEL_REQUEST_TYPE)?;
        let transact_time = parse_timestamp(required(msg, tag::TRANSACT_TIME)?).ok_or(field(
            tag::TRANSACT_TIME,
            SessionRejectReason::IncorrectDataFormat,
        ))?;
        let scope = match request_type {
            b'1' => match symbol(msg, ctx) {
                SymbolFilter::Instrument(i) => Ok(MassCancelScope::Security(i)),
                SymbolFilter::Any | SymbolFilter::Unknown => {
                    Err(MassCancelRejectReason::UnknownSecurity)
                }
            },
            b'7' => Ok(MassCancelScope::All),
            b'2'..=b'6' => Err(MassCancelRejectReason::NotSupported),
            _ => {
                return Err(field(
                    tags::MASS_CANCEL_REQUEST_TYPE,
                    SessionRejectReason::ValueIncorrect,
                ));
            }
        };
        Ok(OrderMassCancelRequest {
            session: ctx.session,
            msg_seq,
            cl_ord_id,
            request_type,
            scope,
            side: side(msg)?,
            foreign_account: foreign_account(msg, ctx),
            transact_time,
        })
    }
}

/// The fields that make an ExecutionReport an answer to a status request (ExecType I).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusFields {
    /// OrdStatusReqID (790), for an answer to H.
    pub ord_status_req_id: Option<ClientOrderId>,
    /// MassStatusReqID (584), TotNumReports (911) and whether this is the last report
    /// (LastRptRequested 912), for an answer to AF.
    pub mass: Option<(ClientOrderId, u64, bool)>,
}

impl StatusFields {
    /// Writes 790, or 584, 911 and 912.
    pub fn write(&self, w: &mut MessageWriter<'_>) {
        if let Some(id) = self.ord_status_req_id {
            w.bytes(tags::ORD_STATUS_REQ_ID, id.as_str().as_bytes());
        }
        if let Some((id, total, last)) = self.mass {
            w.bytes(tags::MASS_STATUS_REQ_ID, id.as_str().as_bytes())
                .uint(tags::TOT_NUM_REPORTS, total)
                .flag(tags::LAST_RPT_REQUESTED, last);
        }
    }
}

/// The status ExecutionReport for an order this session does not have (FIX 4.4: OrdStatus
/// 8 Rejected, OrdRejReason 5 unknown order, ExecType I).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownOrderStatus<'a> {
    /// OrderID (37) as requested (`NONE` when none).
    pub order_id: Option<&'a [u8]>,
    /// ClOrdID (11) as requested (`NONE` for a mass status).
    pub cl_ord_id: Option<ClientOrderId>,
    /// Symbol (55) as requested, if it names a traded instrument.
    pub symbol: Option<&'a [u8]>,
    /// Side (54) as requested (7, undisclosed, when none).
    pub side: Option<Side>,
    /// The request ids.
    pub status: StatusFields,
    /// MsgSeqNum of the answer: the ExecID is `S` and this number.
    pub out_seq: u64,
    /// TransactTime (60).
    pub now: UnixNanos,
}

/// Writes `S<seq>`, the ExecID of a status answer (the order path's ExecIDs are numbers).
pub fn write_status_exec_id(w: &mut MessageWriter<'_>, out_seq: u64) {
    write_prefixed_number(w, tag::EXEC_ID, b'S', out_seq);
}

/// Writes field `t` as `prefix` followed by `n` in decimal, formatted on the stack.
pub fn write_prefixed_number(w: &mut MessageWriter<'_>, t: u32, prefix: u8, n: u64) {
    let mut buf = [0u8; 21];
    let mut start = buf.len();
    let mut n = n;
    loop {
        start -= 1;
        if let Some(d) = buf.get_mut(start) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || start == 1 {
            break;
        }
    }
    start -= 1;
    if let Some(p) = buf.get_mut(start) {
        *p = prefix;
    }
    w.bytes(t, buf.get(start..).unwrap_or_default());
}

impl UnknownOrderStatus<'_> {
    /// Writes the body for `account`.
    pub fn write_body(&self, w: &mut MessageWriter<'_>, account: u32) {
        w.bytes(tag::ORDER_ID, self.order_id.unwrap_or(b"NONE"));
        match self.cl_ord_id {
            Some(id) => w.bytes(tag::CL_ORD_ID, id.as_str().as_bytes()),
            None => w.bytes(tag::CL_ORD_ID, b"NONE"),
        };
        self.status.write(w);
        write_status_exec_id(w, self.out_seq);
        w.byte(tag::EXEC_TYPE, ExecType::OrderStatus.to_wire())
            .byte(tag::ORD_STATUS, OrdStatus::Rejected.to_wire())
            .uint(tag::ORD_REJ_REASON, 5)
            .uint(tag::ACCOUNT, u64::from(account));
        if let Some(s) = self.symbol {
            w.bytes(tag::SYMBOL, s);
        }
        w.byte(tag::SIDE, self.side.map_or(b'7', Side::to_wire))
            .uint(tag::LEAVES_QTY, 0)
            .uint(tag::CUM_QTY, 0)
            .uint(tag::AVG_PX, 0)
            .timestamp(tag::TRANSACT_TIME, self.now)
            .str(tag::TEXT, "unknown order");
    }
}

/// An OrderMassCancelReport (35=r).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderMassCancelReport<'a> {
    /// ClOrdID (11) of the request.
    pub cl_ord_id: ClientOrderId,
    /// OrderID (37): the journal sequence number of the request's record, or 0 (`NONE`)
    /// when nothing was journaled.
    pub order_id: u64,
    /// MassCancelRequestType (530) as requested.
    pub request_type: u8,
    /// `Ok(affected)` (MassCancelResponse = the request type, TotalAffectedOrders) or the
    /// reject reason (MassCancelResponse 0).
    pub outcome: Result<u64, MassCancelRejectReason>,
    /// Symbol (55), for a request by security.
    pub symbol: Option<&'a [u8]>,
    /// Side (54) qualifier.
    pub side: Option<Side>,
    /// TransactTime (60).
    pub transact_time: UnixNanos,
    /// Text (58).
    pub text: Option<&'a str>,
}

impl OrderMassCancelReport<'_> {
    /// Writes the body (after the standard header).
    pub fn write_body(&self, w: &mut MessageWriter<'_>) {
        w.bytes(tag::CL_ORD_ID, self.cl_ord_id.as_str().as_bytes());
        if self.order_id == 0 {
            w.bytes(tag::ORDER_ID, b"NONE");
        } else {
            w.uint(tag::ORDER_ID, self.order_id);
        }
        w.byte(tags::MASS_CANCEL_REQUEST_TYPE, self.request_type);
        match self.outcome {
            Ok(affected) => {
                w.byte(tags::MASS_CANCEL_RESPONSE, self.request_type)
                    .uint(tags::TOTAL_AFFECTED_ORDERS, affected);
            }
            Err(reason) => {
                w.byte(tags::MASS_CANCEL_RESPONSE, b'0')
                    .uint(tags::MASS_CANCEL_REJECT_REASON, reason.code())
                    .uint(tags::TOTAL_AFFECTED_ORDERS, 0);
            }
        }
        if let Some(s) = self.symbol {
            w.bytes(tag::SYMBOL, s);
        }
        if let Some(s) = self.side {
            w.byte(tag::SIDE, s.to_wire());
        }
        w.timestamp(tag::TRANSACT_TIME, self.transact_time);
        if let Some(text) = self.text {
            w.str(tag::TEXT, text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwarp_wire::{AccountId, InstrumentTable};

    fn table() -> InstrumentTable {
        let mut t = InstrumentTable::new();
        t.insert_str("ACME", InstrumentId(1))
            .unwrap_or_else(|e| panic!("{e}"));
        t
    }

    fn decode(msg_type: &[u8], body: &str) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut w = MessageWriter::begin(&mut buf, super::msg_type(msg_type));
        w.uint(tag::MSG_SEQ_NUM, 3);
        for pair in body.split('|').filter(|p| !p.is_empty()) {
            let (t, v) = pair.split_once('=').unwrap_or((pair, ""));
            w.str(t.parse().unwrap_or(0), v);
        }
        let range = w.finish();
        buf.get(range).unwrap_or_default().to_vec()
    }

    #[test]
    fn status_request_fields() {
        let t = table();
        let ctx = ParseContext {
            session: SessionId(1),
            account: AccountId(42),
            instruments: &t,
        };
        let bytes = decode(b"H", "37=X9|11=A|1=43|55=ZZZ|54=2|790=Q1");
        let msg = Message::decode(&bytes).unwrap_or_else(|e| panic!("{e:?}"));
        let req = OrderStatusRequest::parse(&msg, 3, &ctx).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(req.order_id, Some(OrderIdRef::Unmatched));
        assert!(req.foreign_account);
        assert_eq!(req.symbol, SymbolFilter::Unknown);
        assert_eq!(req.side, Side::Sell);
        let bytes = decode(b"H", "11=A");
        let msg = Message::decode(&bytes).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            OrderStatusRequest::parse(&msg, 3, &ctx),
            Err(field(tag::SIDE, SessionRejectReason::RequiredTagMissing))
        );
    }

    #[test]
    fn mass_requests_map_their_types() {
        let t = table();
        let ctx = ParseContext {
            session: SessionId(1),
            account: AccountId(42),
            instruments: &t,
        };
        let parse_af = |body: &str| {
            let bytes = decode(b"AF", body);
            let msg = Message::decode(&bytes).unwrap_or_else(|e| panic!("{e:?}"));
            OrderMassStatusRequest::parse(&msg, 3, &ctx).map(|r| r.scope)
        };
        assert_eq!(parse_af("584=M|585=7"), Ok(MassStatusScope::All));
        assert_eq!(
            parse_af("584=M|585=1|55=ACME"),
            Ok(MassStatusScope::Security(SymbolFilter::Instrument(
                InstrumentId(1)
            )))
        );
        assert_eq!(
            parse_af("584=M|585=8|453=1|448=42|447=D|452=24"),
            Ok(MassStatusScope::Party { ours: true })
        );
        assert!(matches!(
            parse_af("584=M|585=3"),
            Err(RetailRejectError::Business { .. })
        ));
        let parse_q = |body: &str| {
            let bytes = decode(b"q", body);
            let msg = Message::decode(&bytes).unwrap_or_else(|e| panic!("{e:?}"));
            OrderMassCancelRequest::parse(&msg, 3, &ctx).map(|r| r.scope)
        };
        let ts = "60=20251125-10:00:00.000";
        assert_eq!(
            parse_q(&format!("11=C|530=7|{ts}")),
            Ok(Ok(MassCancelScope::All))
        );
        assert_eq!(
            parse_q(&format!("11=C|530=1|55=ZZZ|{ts}")),
            Ok(Err(MassCancelRejectReason::UnknownSecurity))
        );
        assert_eq!(
            parse_q(&format!("11=C|530=5|{ts}")),
            Ok(Err(MassCancelRejectReason::NotSupported))
        );
    }

    #[test]
    fn status_exec_id_is_s_and_the_sequence_number() {
        for (seq, want) in [
            (0u64, "S0"),
            (7, "S7"),
            (1234, "S1234"),
            (u64::MAX, "S18446744073709551615"),
        ] {
            let mut buf = Vec::new();
            let mut w = MessageWriter::begin(&mut buf, MsgType::EXECUTION_REPORT);
            write_status_exec_id(&mut w, seq);
            let range = w.finish();
            let frame = buf.get(range).unwrap_or_default().to_vec();
            let msg = Message::decode(&frame).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(msg.get(tag::EXEC_ID), Some(want.as_bytes()));
        }
    }
}
