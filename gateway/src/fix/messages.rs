//! The application messages this acceptor speaks (FIX 4.4 Vol. 4 "Order Handling"):
//! NewOrderSingle (D), OrderCancelRequest (F) and OrderCancelReplaceRequest (G) in, with
//! their required-field checks and their mapping to `tickwarp-wire` commands;
//! ExecutionReport (8), OrderCancelReject (9) and BusinessMessageReject (j) out.
//!
//! A request refused for a business reason (unknown symbol, another account, an order
//! type, time in force or any other FIX 4.4 field this gateway does not implement, such as
//! ExecInst 6 post-only, MinQty or MaxFloor) is answered by [`write_refusal`]: an
//! ExecutionReport reject (ExecType 8, OrdStatus 8, OrdRejReason, Text) for a
//! NewOrderSingle, an OrderCancelReject for F and G. No field that changes what an order
//! does is ever dropped silently; BusinessMessageReject is for message types the gateway
//! does not handle.
//!
//! Message bodies only: the session writes the header and owns sequencing. Nothing here
//! allocates, reads a clock or decides anything about the order (risk and order state
//! live in `orders`/`risk`).

use tickwarp_runtime::UnixNanos;
use tickwarp_wire::exec::CxlRejResponseTo;
use tickwarp_wire::{
    AccountId, CancelOrder, ClientOrderId, InstrumentId, InstrumentTable, NewOrder, OrderSpec,
    OrderType, Price, Qty, RejectReason, ReplaceOrder, Side, TickCause, TimeInForce,
};

use super::codec::{Message, MessageWriter, parse_price, parse_qty};
use super::fields::{BusinessRejectReason, MsgType, SessionRejectReason, parse_timestamp, tag};

/// Identifies one FIX session of the gateway (assigned by configuration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u32);

/// A NewOrderSingle (35=D) that passed the session's field checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewOrderSingle {
    /// The session it arrived on.
    pub session: SessionId,
    /// Its MsgSeqNum (34).
    pub msg_seq: u64,
    /// ClOrdID (11).
    pub cl_ord_id: ClientOrderId,
    /// Symbol (55) mapped to an instrument, Side (54), OrdType (40), TimeInForce (59,
    /// default Day), Price (44, zero for market orders), OrderQty (38); the account is the
    /// session's.
    pub spec: OrderSpec,
    /// ExecInst (18) = 6, "participate don't initiate": the order may only add liquidity
    /// (a limit order resting Day or GTC; rejected by the venue if it would cross).
    pub post_only: bool,
    /// TransactTime (60).
    pub transact_time: UnixNanos,
}

/// An OrderCancelRequest (35=F) that passed the session's field checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderCancelRequest {
    /// The session it arrived on.
    pub session: SessionId,
    /// Its MsgSeqNum (34).
    pub msg_seq: u64,
    /// ClOrdID (11) of this request.
    pub cl_ord_id: ClientOrderId,
    /// OrigClOrdID (41) of the order to cancel.
    pub orig_cl_ord_id: ClientOrderId,
    /// Symbol (55) mapped to an instrument.
    pub instrument: InstrumentId,
    /// The session's account.
    pub account: AccountId,
    /// Side (54).
    pub side: Side,
    /// OrderQty (38), if given.
    pub order_qty: Option<Qty>,
    /// TransactTime (60).
    pub transact_time: UnixNanos,
}

/// An OrderCancelReplaceRequest (35=G) that passed the session's field checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderCancelReplaceRequest {
    /// The session it arrived on.
    pub session: SessionId,
    /// Its MsgSeqNum (34).
    pub msg_seq: u64,
    /// ClOrdID (11) of this request.
    pub cl_ord_id: ClientOrderId,
    /// OrigClOrdID (41) of the order to replace.
    pub orig_cl_ord_id: ClientOrderId,
    /// The order as it should be after the replace.
    pub spec: OrderSpec,
    /// TransactTime (60).
    pub transact_time: UnixNanos,
}

/// Why an inbound application message is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppRejectError {
    /// A field is missing or malformed: answer with a session Reject (35=3).
    #[error("field {tag}: {reason}")]
    Session {
        /// RefTagID (371).
        tag: u32,
        /// SessionRejectReason (373).
        reason: SessionRejectReason,
    },
    /// The request is well formed but refused for a business reason (unknown symbol,
    /// another account, an instruction this gateway does not implement): answer with
    /// [`write_refusal`] (an ExecutionReport reject for D, an OrderCancelReject for F/G).
    #[error("refused ({reason:?}) on field {tag}: {text}")]
    Refused {
        /// The field that caused it.
        tag: u32,
        /// Why, written as OrdRejReason (103) or CxlRejReason (102).
        reason: RejectReason,
        /// Text (58); [`write_refusal`] appends the tag.
        text: &'static str,
    },
}

impl From<(u32, SessionRejectReason)> for AppRejectError {
    fn from((tag, reason): (u32, SessionRejectReason)) -> Self {
        AppRejectError::Session { tag, reason }
    }
}

/// What parsing needs from the session: who sent it and how symbols map to instruments.
#[derive(Clone, Copy, Debug)]
pub struct ParseContext<'a> {
    /// The session id put on the events.
    pub session: SessionId,
    /// The session's trading account; Account (1), if sent, must name it.
    pub account: AccountId,
    /// Symbol (55) to instrument id.
    pub instruments: &'a InstrumentTable,
}

/// A required field, or `RequiredTagMissing`.
fn required<'a>(msg: &Message<'a>, t: u32) -> Result<&'a [u8], AppRejectError> {
    msg.get(t).ok_or(AppRejectError::Session {
        tag: t,
        reason: SessionRejectReason::RequiredTagMissing,
    })
}

/// Maps a parse failure of a present field to `IncorrectDataFormat`/`ValueIncorrect`.
fn bad(t: u32, reason: SessionRejectReason) -> AppRejectError {
    AppRejectError::Session { tag: t, reason }
}

fn cl_ord_id(msg: &Message<'_>, t: u32) -> Result<ClientOrderId, AppRejectError> {
    ClientOrderId::from_bytes(required(msg, t)?)
        .map_err(|_| bad(t, SessionRejectReason::ValueIncorrect))
}

fn side(msg: &Message<'_>) -> Result<Side, AppRejectError> {
    match required(msg, tag::SIDE)? {
        [b] => Side::from_wire(*b).ok_or(bad(tag::SIDE, SessionRejectReason::ValueIncorrect)),
        _ => Err(bad(tag::SIDE, SessionRejectReason::IncorrectDataFormat)),
    }
}

fn transact_time(msg: &Message<'_>) -> Result<UnixNanos, AppRejectError> {
    parse_timestamp(required(msg, tag::TRANSACT_TIME)?).ok_or(bad(
        tag::TRANSACT_TIME,
        SessionRejectReason::IncorrectDataFormat,
    ))
}

fn qty(msg: &Message<'_>) -> Result<Option<Qty>, AppRejectError> {
    msg.get(tag::ORDER_QTY)
        .map(|v| {
            parse_qty(v).ok_or(bad(
                tag::ORDER_QTY,
                SessionRejectReason::IncorrectDataFormat,
            ))
        })
        .transpose()
}

/// Checks Account (1) if present and maps Symbol (55) to an instrument.
fn instrument(msg: &Message<'_>, ctx: &ParseContext<'_>) -> Result<InstrumentId, AppRejectError> {
    if let Some(account) = msg.get(tag::ACCOUNT) {
        let matches =
            super::codec::parse_uint(account).is_some_and(|a| a == u64::from(ctx.account.get()));
        if !matches {
            return Err(AppRejectError::Refused {
                tag: tag::ACCOUNT,
                reason: RejectReason::UnknownAccount,
                text: "Account (1) is not this session's account",
            });
        }
    }
    let symbol = required(msg, tag::SYMBOL)?;
    core::str::from_utf8(symbol)
        .ok()
        .and_then(|s| ctx.instruments.id_of_str(s))
        .ok_or(AppRejectError::Refused {
            tag: tag::SYMBOL,
            reason: RejectReason::UnknownInstrument,
            text: "unknown Symbol (55)",
        })
}

/// Body fields each request type interprets, or may carry without changing what the order
/// does (Text, HandlInst, identifiers, the Parties group). Any other body field asks for
/// something this gateway does not implement, so the request is refused rather than the
/// field dropped.
fn supported_field(msg_type: MsgType, t: u32) -> bool {
    const COMMON: &[u32] = &[
        tag::ACCOUNT,
        tag::CL_ORD_ID,
        tag::SYMBOL,
        tag::SIDE,
        tag::TRANSACT_TIME,
        tag::ORDER_QTY,
        tag::TEXT,
        21,  // HandlInst: how a broker handles the order; this gateway is the market.
        526, // SecondaryClOrdID.
        583, // ClOrdLinkID.
        453, // NoPartyIDs and its entries: who the order is for, reported back as given.
        448,
        447,
        452,
        802,
        523,
        803,
    ];
    let specific: &[u32] = match msg_type {
        MsgType::NEW_ORDER_SINGLE => &[tag::ORD_TYPE, tag::PRICE, tag::TIME_IN_FORCE],
        MsgType::ORDER_CANCEL_REQUEST => &[tag::ORIG_CL_ORD_ID, tag::ORDER_ID],
        _ => &[
            tag::ORIG_CL_ORD_ID,
            tag::ORDER_ID,
            tag::ORD_TYPE,
            tag::PRICE,
            tag::TIME_IN_FORCE,
        ],
    };
    COMMON.contains(&t) || specific.contains(&t)
}

/// Refuses a request that carries a body field of FIX 4.4 this gateway does not implement
/// (ExecInst, MinQty, MaxFloor, StopPx, ExpireTime, …). Tags the dictionary does not
/// define reach this point only when the session's validation switches let them pass
/// (`allow_unknown_fields`, `validate_user_defined_fields` off): the operator chose to
/// have them ignored.
fn supported_fields_only(msg: &Message<'_>) -> Result<(), AppRejectError> {
    let dict = super::dictionary::Dictionary::fix44();
    for (t, v) in msg.fields() {
        let framing = dict.header().member(t).is_some() || dict.trailer().member(t).is_some();
        let undefined = dict.field(t).is_none();
        if framing || undefined || supported_field(msg.msg_type(), t) {
            continue;
        }
        if msg.msg_type() == MsgType::NEW_ORDER_SINGLE && (t, v) == (tag::EXEC_INST, b"6") {
            continue;
        }
        let text = match t {
            tag::EXEC_INST if msg.msg_type() == MsgType::NEW_ORDER_SINGLE => {
                "ExecInst (18) not supported: 6 (post-only) only"
            }
            tag::EXEC_INST => "ExecInst (18) not supported on this request",
            110 => "MinQty not supported",
            111 => "MaxFloor not supported",
            _ => "field not supported by this gateway",
        };
        return Err(AppRejectError::Refused {
            tag: t,
            reason: RejectReason::Other(0),
            text,
        });
    }
    Ok(())
}

/// OrdType (40), TimeInForce (59), Price (44) and OrderQty (38) of D and G.
fn order_spec(
    msg: &Message<'_>,
    ctx: &ParseContext<'_>,
    instrument: InstrumentId,
    side: Side,
) -> Result<OrderSpec, AppRejectError> {
    let ord_type = match required(msg, tag::ORD_TYPE)? {
        [b] => OrderType::from_wire(*b).ok_or(AppRejectError::Refused {
            tag: tag::ORD_TYPE,
            reason: RejectReason::Other(0),
            text: "OrdType (40) not supported: market (1) and limit (2) only",
        })?,
        _ => return Err(bad(tag::ORD_TYPE, SessionRejectReason::IncorrectDataFormat)),
    };
    let tif = match msg.get(tag::TIME_IN_FORCE) {
        None => TimeInForce::Day,
        Some([b]) => TimeInForce::from_wire(*b).ok_or(AppRejectError::Refused {
            tag: tag::TIME_IN_FORCE,
            reason: RejectReason::Other(0),
            text: "TimeInForce (59) not supported: Day (0), GTC (1), IOC (3) and FOK (4) only",
        })?,
        Some(_) => {
            return Err(bad(
                tag::TIME_IN_FORCE,
                SessionRejectReason::IncorrectDataFormat,
            ));
        }
    };
    let qty = qty(msg)?.ok_or(bad(tag::ORDER_QTY, SessionRejectReason::RequiredTagMissing))?;
    if qty.is_zero() {
        return Err(bad(tag::ORDER_QTY, SessionRejectReason::ValueIncorrect));
    }
    let price = match (ord_type, msg.get(tag::PRICE)) {
        (OrderType::Limit, None) => {
            return Err(bad(tag::PRICE, SessionRejectReason::RequiredTagMissing));
        }
        (OrderType::Limit, Some(p)) => {
            parse_price(p).ok_or(bad(tag::PRICE, SessionRejectReason::IncorrectDataFormat))?
        }
        (OrderType::Market, _) => Price::ZERO,
    };
    Ok(OrderSpec {
        instrument,
        account: ctx.account,
        side,
        ord_type,
        tif,
        price,
        qty,
    })
}

impl NewOrderSingle {
    /// Parses a 35=D (required: 11, 55, 54, 60, 38, 40; 44 when OrdType is Limit).
    pub fn parse(
        msg: &Message<'_>,
        msg_seq: u64,
        ctx: &ParseContext<'_>,
    ) -> Result<NewOrderSingle, AppRejectError> {
        let cl_ord_id = cl_ord_id(msg, tag::CL_ORD_ID)?;
        let side = side(msg)?;
        let transact_time = transact_time(msg)?;
        let instrument = instrument(msg, ctx)?;
        let spec = order_spec(msg, ctx, instrument, side)?;
        supported_fields_only(msg)?;
        let post_only = msg.get(tag::EXEC_INST) == Some(b"6");
        let rests = spec.ord_type == OrderType::Limit
            && matches!(spec.tif, TimeInForce::Day | TimeInForce::Gtc);
        if post_only && !rests {
            return Err(AppRejectError::Refused {
                tag: tag::EXEC_INST,
                reason: RejectReason::Other(0),
                text: "ExecInst 6 (post-only) needs a limit order with TimeInForce Day or GTC",
            });
        }
        Ok(NewOrderSingle {
            session: ctx.session,
            msg_seq,
            cl_ord_id,
            spec,
            post_only,
            transact_time,
        })
    }

    /// The wire command for the order path.
    pub fn to_wire(&self, cause: TickCause) -> NewOrder {
        NewOrder::new(self.cl_ord_id, &self.spec, cause).with_post_only(self.post_only)
    }

    /// Writes the body of this request (the initiator's side; used by tests and tools).
    pub fn write_body(&self, w: &mut MessageWriter<'_>, symbol: &[u8]) {
        w.bytes(tag::CL_ORD_ID, self.cl_ord_id.as_str().as_bytes());
        write_spec_fields(w, &self.spec, symbol);
        if self.post_only {
            w.byte(tag::EXEC_INST, b'6');
        }
        w.timestamp(tag::TRANSACT_TIME, self.transact_time);
    }
}

/// Symbol, Side, OrderQty, OrdType, Price (limit only) and TimeInForce.
fn write_spec_fields(w: &mut MessageWriter<'_>, spec: &OrderSpec, symbol: &[u8]) {
    w.uint(tag::ACCOUNT, u64::from(spec.account.get()))
        .bytes(tag::SYMBOL, symbol)
        .byte(tag::SIDE, spec.side.to_wire())
        .qty(tag::ORDER_QTY, spec.qty)
        .byte(tag::ORD_TYPE, spec.ord_type.to_wire());
    if spec.ord_type == OrderType::Limit {
        w.price(tag::PRICE, spec.price);
    }
    w.byte(tag::TIME_IN_FORCE, spec.tif.to_wire());
}

impl OrderCancelRequest {
    /// Parses a 35=F (required: 41, 11, 55, 54, 60).
    pub fn parse(
        msg: &Message<'_>,
        msg_seq: u64,
        ctx: &ParseContext<'_>,
    ) -> Result<OrderCancelRequest, AppRejectError> {
        let orig_cl_ord_id = cl_ord_id(msg, tag::ORIG_CL_ORD_ID)?;
        let cl_ord_id = cl_ord_id(msg, tag::CL_ORD_ID)?;
        let side = side(msg)?;
        let transact_time = transact_time(msg)?;
        let order_qty = qty(msg)?;
        let instrument = instrument(msg, ctx)?;
        supported_fields_only(msg)?;
        Ok(OrderCancelRequest {
            session: ctx.session,
            msg_seq,
            cl_ord_id,
            orig_cl_ord_id,
            instrument,
            account: ctx.account,
            side,
            order_qty,
            transact_time,
        })
    }

    /// The wire command for the order path.
    pub fn to_wire(&self, cause: TickCause) -> CancelOrder {
        CancelOrder::new(
            self.cl_ord_id,
            self.orig_cl_ord_id,
            self.instrument,
            self.account,
            self.side,
            cause,
        )
    }

    /// Writes the body of this request (the initiator's side; used by tests and tools).
    pub fn write_body(&self, w: &mut MessageWriter<'_>, symbol: &[u8]) {
        w.bytes(tag::ORIG_CL_ORD_ID, self.orig_cl_ord_id.as_str().as_bytes())
            .bytes(tag::CL_ORD_ID, self.cl_ord_id.as_str().as_bytes())
            .uint(tag::ACCOUNT, u64::from(self.account.get()))
            .bytes(tag::SYMBOL, symbol)
            .byte(tag::SIDE, self.side.to_wire());
        if let Some(q) = self.order_qty {
            w.qty(tag::ORDER_QTY, q);
        }
        w.timestamp(tag::TRANSACT_TIME, self.transact_time);
    }
}

impl OrderCancelReplaceRequest {
    /// Parses a 35=G (required: 41, 11, 55, 54, 60, 38, 40; 44 when OrdType is Limit).
    pub fn parse(
        msg: &Message<'_>,
        msg_seq: u64,
        ctx: &ParseContext<'_>,
    ) -> Result<OrderCancelReplaceRequest, AppRejectError> {
        let orig_cl_ord_id = cl_ord_id(msg, tag::ORIG_CL_ORD_ID)?;
        let cl_ord_id = cl_ord_id(msg, tag::CL_ORD_ID)?;
        let side = side(msg)?;
        let transact_time = transact_time(msg)?;
        let instrument = instrument(msg, ctx)?;
        let spec = order_spec(msg, ctx, instrument, side)?;
        supported_fields_only(msg)?;
        Ok(OrderCancelReplaceRequest {
            session: ctx.session,
            msg_seq,
            cl_ord_id,
            orig_cl_ord_id,
            spec,
            transact_time,
        })
    }

    /// The wire command for the order path.
    pub fn to_wire(&self, cause: TickCause) -> ReplaceOrder {
        ReplaceOrder::new(self.cl_ord_id, self.orig_cl_ord_id, &self.spec, cause)
    }

    /// Writes the body of this request (the initiator's side; used by tests and tools).
    pub fn write_body(&self, w: &mut MessageWriter<'_>, symbol: &[u8]) {
        w.bytes(tag::ORIG_CL_ORD_ID, self.orig_cl_ord_id.as_str().as_bytes())
            .bytes(tag::CL_ORD_ID, self.cl_ord_id.as_str().as_bytes());
        write_spec_fields(w, &self.spec, symbol);
        w.timestamp(tag::TRANSACT_TIME, self.transact_time);
    }
}

/// ExecType (150) values of FIX 4.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecType {
    /// 0: New.
    New,
    /// 3: Done for day.
    DoneForDay,
    /// 4: Canceled.
    Canceled,
    /// 5: Replaced.
    Replaced,
    /// 6: Pending cancel.
    PendingCancel,
    /// 8: Rejected.
    Rejected,
    /// A: Pending new.
    PendingNew,
    /// C: Expired.
    Expired,
    /// E: Pending replace.
    PendingReplace,
    /// F: Trade (partial or full fill).
    Trade,
    /// I: Order status.
    OrderStatus,
}

impl ExecType {
    /// The wire value.
    pub const fn to_wire(self) -> u8 {
        match self {
            ExecType::New => b'0',
            ExecType::DoneForDay => b'3',
            ExecType::Canceled => b'4',
            ExecType::Replaced => b'5',
            ExecType::PendingCancel => b'6',
            ExecType::Rejected => b'8',
            ExecType::PendingNew => b'A',
            ExecType::Expired => b'C',
            ExecType::PendingReplace => b'E',
            ExecType::Trade => b'F',
            ExecType::OrderStatus => b'I',
        }
    }
}

/// OrdStatus (39) values of FIX 4.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrdStatus {
    /// 0: New.
    New,
    /// 1: Partially filled.
    PartiallyFilled,
    /// 2: Filled.
    Filled,
    /// 3: Done for day.
    DoneForDay,
    /// 4: Canceled.
    Canceled,
    /// 6: Pending cancel.
    PendingCancel,
    /// 8: Rejected.
    Rejected,
    /// A: Pending new.
    PendingNew,
    /// C: Expired.
    Expired,
    /// E: Pending replace.
    PendingReplace,
}

impl OrdStatus {
    /// The wire value.
    pub const fn to_wire(self) -> u8 {
        match self {
            OrdStatus::New => b'0',
            OrdStatus::PartiallyFilled => b'1',
            OrdStatus::Filled => b'2',
            OrdStatus::DoneForDay => b'3',
            OrdStatus::Canceled => b'4',
            OrdStatus::PendingCancel => b'6',
            OrdStatus::Rejected => b'8',
            OrdStatus::PendingNew => b'A',
            OrdStatus::Expired => b'C',
            OrdStatus::PendingReplace => b'E',
        }
    }
}

/// OrdRejReason (103) for a gateway reject reason.
pub const fn ord_rej_reason(reason: RejectReason) -> u64 {
    match reason {
        RejectReason::Unspecified
        | RejectReason::KillSwitch
        | RejectReason::RateLimited
        | RejectReason::RestrictedInstrument => 0,
        RejectReason::UnknownInstrument => 1,
        RejectReason::MarketClosed => 2,
        RejectReason::MaxQtyExceeded
        | RejectReason::MaxNotionalExceeded
        | RejectReason::PriceOutsideCollar
        | RejectReason::InsufficientCredit
        | RejectReason::PositionLimit
        | RejectReason::MaxOrdersPerDay => 3,
        RejectReason::TooLateToCancel => 4,
        RejectReason::UnknownOrder => 5,
        RejectReason::DuplicateClOrdId => 6,
        RejectReason::InvalidQty => 13,
        RejectReason::UnknownAccount => 15,
        RejectReason::InvalidPrice
        | RejectReason::VenueRejected
        | RejectReason::NoReferencePrice
        | RejectReason::WouldCross
        | RejectReason::Other(_) => 99,
    }
}

/// CxlRejReason (102) for a gateway reject reason.
pub const fn cxl_rej_reason(reason: RejectReason) -> u64 {
    match reason {
        RejectReason::TooLateToCancel => 0,
        RejectReason::UnknownOrder => 1,
        RejectReason::DuplicateClOrdId => 6,
        RejectReason::Unspecified
        | RejectReason::KillSwitch
        | RejectReason::RateLimited
        | RejectReason::MarketClosed => 2,
        _ => 99,
    }
}

/// An ExecutionReport (35=8) for the session to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecutionReport<'a> {
    /// OrderID (37); 0 is written as `NONE` (no order was created).
    pub order_id: u64,
    /// ExecID (17), unique per execution report.
    pub exec_id: u64,
    /// ExecType (150).
    pub exec_type: ExecType,
    /// OrdStatus (39).
    pub ord_status: OrdStatus,
    /// ClOrdID (11).
    pub cl_ord_id: ClientOrderId,
    /// OrigClOrdID (41), for cancel and replace reports.
    pub orig_cl_ord_id: Option<ClientOrderId>,
    /// The instrument, written as its Symbol (55).
    pub instrument: InstrumentId,
    /// Side (54).
    pub side: Side,
    /// OrdType (40), if known.
    pub ord_type: Option<OrderType>,
    /// Price (44), for limit orders.
    pub price: Option<Price>,
    /// TimeInForce (59), if known.
    pub tif: Option<TimeInForce>,
    /// OrderQty (38).
    pub order_qty: Qty,
    /// LastQty (32), for trades.
    pub last_qty: Option<Qty>,
    /// LastPx (31), for trades.
    pub last_px: Option<Price>,
    /// LeavesQty (151).
    pub leaves_qty: Qty,
    /// CumQty (14).
    pub cum_qty: Qty,
    /// AvgPx (6).
    pub avg_px: Price,
    /// TransactTime (60).
    pub transact_time: UnixNanos,
    /// OrdRejReason (103), for rejects.
    pub reject_reason: Option<RejectReason>,
    /// Text (58).
    pub text: Option<&'a str>,
}

/// Writes `id`, or `NONE` for 0 (the FIX convention for "no order id").
fn write_order_id(w: &mut MessageWriter<'_>, id: u64) {
    if id == 0 {
        w.bytes(tag::ORDER_ID, b"NONE");
    } else {
        w.uint(tag::ORDER_ID, id);
    }
}

impl ExecutionReport<'_> {
    /// Writes the body (after the standard header) for `account` and `symbol`.
    pub fn write_body(&self, w: &mut MessageWriter<'_>, account: AccountId, symbol: &[u8]) {
        self.write_ids(w);
        w.uint(tag::EXEC_ID, self.exec_id);
        self.write_rest(w, account, symbol);
    }

    /// Writes the body of a status answer (ExecType I): the request ids of `status`, and
    /// ExecID `S<out_seq>` instead of `exec_id`.
    pub fn write_status_body(
        &self,
        w: &mut MessageWriter<'_>,
        account: AccountId,
        symbol: &[u8],
        status: &super::retail::StatusFields,
        out_seq: u64,
    ) {
        self.write_ids(w);
        status.write(w);
        super::retail::write_status_exec_id(w, out_seq);
        self.write_rest(w, account, symbol);
    }

    /// OrderID (37), ClOrdID (11), OrigClOrdID (41).
    fn write_ids(&self, w: &mut MessageWriter<'_>) {
        write_order_id(w, self.order_id);
        w.bytes(tag::CL_ORD_ID, self.cl_ord_id.as_str().as_bytes());
        if let Some(orig) = self.orig_cl_ord_id {
            w.bytes(tag::ORIG_CL_ORD_ID, orig.as_str().as_bytes());
        }
    }

    /// Everything after ExecID (17).
    fn write_rest(&self, w: &mut MessageWriter<'_>, account: AccountId, symbol: &[u8]) {
        w.byte(tag::EXEC_TYPE, self.exec_type.to_wire())
            .byte(tag::ORD_STATUS, self.ord_status.to_wire());
        if let Some(r) = self.reject_reason {
            w.uint(tag::ORD_REJ_REASON, ord_rej_reason(r));
        }
        w.uint(tag::ACCOUNT, u64::from(account.get()))
            .bytes(tag::SYMBOL, symbol)
            .byte(tag::SIDE, self.side.to_wire())
            .qty(tag::ORDER_QTY, self.order_qty);
        if let Some(t) = self.ord_type {
            w.byte(tag::ORD_TYPE, t.to_wire());
        }
        if let Some(p) = self.price {
            w.price(tag::PRICE, p);
        }
        if let Some(t) = self.tif {
            w.byte(tag::TIME_IN_FORCE, t.to_wire());
        }
        if let Some(q) = self.last_qty {
            w.qty(tag::LAST_QTY, q);
        }
        if let Some(p) = self.last_px {
            w.price(tag::LAST_PX, p);
        }
        w.qty(tag::LEAVES_QTY, self.leaves_qty)
            .qty(tag::CUM_QTY, self.cum_qty)
            .price(tag::AVG_PX, self.avg_px)
            .timestamp(tag::TRANSACT_TIME, self.transact_time);
        if let Some(text) = self.text {
            w.str(tag::TEXT, text);
        }
    }
}

/// An OrderCancelReject (35=9) for the session to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderCancelReject<'a> {
    /// OrderID (37); 0 is written as `NONE`.
    pub order_id: u64,
    /// ClOrdID (11) of the cancel/replace request.
    pub cl_ord_id: ClientOrderId,
    /// OrigClOrdID (41).
    pub orig_cl_ord_id: ClientOrderId,
    /// OrdStatus (39) of the order after the rejected request.
    pub ord_status: OrdStatus,
    /// CxlRejResponseTo (434).
    pub response_to: CxlRejResponseTo,
    /// Why, written as CxlRejReason (102).
    pub reason: RejectReason,
    /// Text (58).
    pub text: Option<&'a str>,
}

impl OrderCancelReject<'_> {
    /// Writes the body (after the standard header).
    pub fn write_body(&self, w: &mut MessageWriter<'_>) {
        write_order_id(w, self.order_id);
        w.bytes(tag::CL_ORD_ID, self.cl_ord_id.as_str().as_bytes())
            .bytes(tag::ORIG_CL_ORD_ID, self.orig_cl_ord_id.as_str().as_bytes())
            .byte(tag::ORD_STATUS, self.ord_status.to_wire())
            .byte(tag::CXL_REJ_RESPONSE_TO, self.response_to as u8)
            .uint(tag::CXL_REJ_REASON, cxl_rej_reason(self.reason));
        if let Some(text) = self.text {
            w.str(tag::TEXT, text);
        }
    }
}

/// A BusinessMessageReject (35=j) for the session to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusinessMessageReject<'a> {
    /// RefSeqNum (45): MsgSeqNum of the rejected message.
    pub ref_seq_num: u64,
    /// RefMsgType (372).
    pub ref_msg_type: MsgType,
    /// BusinessRejectRefID (379), such as the ClOrdID.
    pub ref_id: Option<&'a [u8]>,
    /// BusinessRejectReason (380).
    pub reason: BusinessRejectReason,
    /// Text (58).
    pub text: Option<&'a str>,
}

impl BusinessMessageReject<'_> {
    /// Writes the body (after the standard header).
    pub fn write_body(&self, w: &mut MessageWriter<'_>) {
        w.uint(tag::REF_SEQ_NUM, self.ref_seq_num)
            .bytes(tag::REF_MSG_TYPE, self.ref_msg_type.as_bytes());
        if let Some(id) = self.ref_id {
            w.bytes(tag::BUSINESS_REJECT_REF_ID, id);
        }
        w.uint(tag::BUSINESS_REJECT_REASON, u64::from(self.reason.code()));
        if let Some(text) = self.text {
            w.str(tag::TEXT, text);
        }
    }
}

/// The MsgType answering a refused request: ExecutionReport (8) for a NewOrderSingle,
/// OrderCancelReject (9) for a cancel or cancel/replace request.
pub fn refusal_msg_type(request: MsgType) -> MsgType {
    if request == MsgType::NEW_ORDER_SINGLE {
        MsgType::EXECUTION_REPORT
    } else {
        MsgType::ORDER_CANCEL_REJECT
    }
}

/// Text (58) of a refusal, formatted on the stack; cut at its capacity.
struct RefusalText {
    buf: [u8; 128],
    len: usize,
}

impl core::fmt::Write for RefusalText {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

/// What [`write_refusal`] answers.
#[derive(Clone, Copy, Debug)]
pub struct Refusal<'m, 'a> {
    /// The refused request (D, F or G), already validated.
    pub request: &'m Message<'a>,
    /// The session's account.
    pub account: AccountId,
    /// MsgSeqNum of the answer; the ExecID of an ExecutionReport is `R` and this number,
    /// which the order path's numeric ExecIDs never equal.
    pub out_seq: u64,
    /// TransactTime (60) of the answer.
    pub now: UnixNanos,
    /// The field that caused it.
    pub tag: u32,
    /// Why: OrdRejReason (103) or CxlRejReason (102).
    pub reason: RejectReason,
    /// Text (58), written with the tag appended.
    pub text: &'a str,
}

/// Writes the body answering a request refused for a business reason (FIX 4.4 Vol. 4):
/// for a NewOrderSingle an ExecutionReport with ExecType 8, OrdStatus 8, OrdRejReason and
/// Text that echoes the request's order fields; for F and G an OrderCancelReject with
/// CxlRejResponseTo 1 or 2. Nothing is created or journaled for the refused request.
pub fn write_refusal(w: &mut MessageWriter<'_>, r: &Refusal<'_, '_>) {
    let mut text_buf = RefusalText {
        buf: [0; 128],
        len: 0,
    };
    let _ = core::fmt::Write::write_fmt(&mut text_buf, format_args!("{} (tag {})", r.text, r.tag));
    let text = text_buf.buf.get(..text_buf.len).unwrap_or_default();
    let echo = |w: &mut MessageWriter<'_>, t: u32| {
        if let Some(v) = r.request.get(t) {
            w.bytes(t, v);
        }
    };
    if r.request.msg_type() != MsgType::NEW_ORDER_SINGLE {
        match r.request.get(tag::ORDER_ID) {
            Some(id) => w.bytes(tag::ORDER_ID, id),
            None => w.bytes(tag::ORDER_ID, b"NONE"),
        };
        echo(w, tag::CL_ORD_ID);
        echo(w, tag::ORIG_CL_ORD_ID);
        let response_to = if r.request.msg_type() == MsgType::ORDER_CANCEL_REQUEST {
            CxlRejResponseTo::Cancel
        } else {
            CxlRejResponseTo::Replace
        };
        w.byte(tag::ORD_STATUS, OrdStatus::Rejected.to_wire())
            .byte(tag::CXL_REJ_RESPONSE_TO, response_to as u8)
            .uint(tag::CXL_REJ_REASON, cxl_rej_reason(r.reason))
            .bytes(tag::TEXT, text);
        return;
    }
    w.bytes(tag::ORDER_ID, b"NONE");
    echo(w, tag::CL_ORD_ID);
    let mut exec_id = RefusalText {
        buf: [0; 128],
        len: 0,
    };
    let _ = core::fmt::Write::write_fmt(&mut exec_id, format_args!("R{}", r.out_seq));
    w.bytes(
        tag::EXEC_ID,
        exec_id.buf.get(..exec_id.len).unwrap_or_default(),
    )
    .byte(tag::EXEC_TYPE, ExecType::Rejected.to_wire())
    .byte(tag::ORD_STATUS, OrdStatus::Rejected.to_wire())
    .uint(tag::ORD_REJ_REASON, ord_rej_reason(r.reason))
    .uint(tag::ACCOUNT, u64::from(r.account.get()));
    for t in [
        tag::SYMBOL,
        tag::SIDE,
        tag::ORDER_QTY,
        tag::ORD_TYPE,
        tag::PRICE,
        tag::TIME_IN_FORCE,
    ] {
        echo(w, t);
    }
    w.uint(tag::LEAVES_QTY, 0)
        .uint(tag::CUM_QTY, 0)
        .uint(tag::AVG_PX, 0)
        .timestamp(tag::TRANSACT_TIME, r.now)
        .bytes(tag::TEXT, text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::codec::Message;
    use proptest::prelude::*;

    fn table() -> InstrumentTable {
        let mut t = InstrumentTable::new();
        for (s, id) in [("ACME", 1), ("INIT", 2)] {
            t.insert_str(s, InstrumentId(id))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        t
    }

    fn encode(msg_type: MsgType, body: impl FnOnce(&mut MessageWriter<'_>)) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut w = MessageWriter::begin(&mut buf, msg_type);
        w.uint(tag::MSG_SEQ_NUM, 3);
        body(&mut w);
        let _ = w.finish();
        buf
    }

    fn spec_strategy() -> impl Strategy<Value = OrderSpec> {
        (
            1u32..=2,
            any::<bool>(),
            any::<bool>(),
            prop::sample::select(vec![
                TimeInForce::Day,
                TimeInForce::Gtc,
                TimeInForce::Ioc,
                TimeInForce::Fok,
            ]),
            -10_000_000_000i64..10_000_000_000,
            1u64..u64::MAX,
        )
            .prop_map(|(inst, buy, limit, tif, ticks, qty)| {
                let ord_type = if limit {
                    OrderType::Limit
                } else {
                    OrderType::Market
                };
                OrderSpec {
                    instrument: InstrumentId(inst),
                    account: AccountId(42),
                    side: if buy { Side::Buy } else { Side::Sell },
                    ord_type,
                    tif,
                    price: if limit {
                        Price::from_ticks(ticks)
                    } else {
                        Price::ZERO
                    },
                    qty: Qty(qty),
                }
            })
    }

    fn id_strategy() -> impl Strategy<Value = ClientOrderId> {
        "[!-~]{1,16}".prop_map(|s| ClientOrderId::new(&s).unwrap_or_else(|e| panic!("{e}")))
    }

    fn symbol(t: &InstrumentTable, id: InstrumentId) -> Vec<u8> {
        t.symbol_of(id)
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn new_order_single_round_trips(cl in id_strategy(), spec in spec_strategy(), post in any::<bool>(), ms in 0u64..10_000_000_000_000) {
            let t = table();
            let ctx = ParseContext { session: SessionId(1), account: AccountId(42), instruments: &t };
            let rests = spec.ord_type == OrderType::Limit
                && matches!(spec.tif, TimeInForce::Day | TimeInForce::Gtc);
            let order = NewOrderSingle {
                session: SessionId(1), msg_seq: 3, cl_ord_id: cl, spec,
                post_only: post && rests,
                transact_time: UnixNanos(ms * 1_000_000),
            };
            let bytes = encode(MsgType::NEW_ORDER_SINGLE, |w| order.write_body(w, &symbol(&t, spec.instrument)));
            let msg = Message::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(NewOrderSingle::parse(&msg, 3, &ctx), Ok(order));
        }

        #[test]
        fn cancel_round_trips(cl in id_strategy(), orig in id_strategy(), qty in proptest::option::of(0u64..1_000_000)) {
            let t = table();
            let ctx = ParseContext { session: SessionId(1), account: AccountId(42), instruments: &t };
            let cancel = OrderCancelRequest {
                session: SessionId(1), msg_seq: 3, cl_ord_id: cl, orig_cl_ord_id: orig,
                instrument: InstrumentId(2), account: AccountId(42), side: Side::Sell,
                order_qty: qty.map(Qty), transact_time: UnixNanos(5_000_000),
            };
            let bytes = encode(MsgType::ORDER_CANCEL_REQUEST, |w| cancel.write_body(w, b"INIT"));
            let msg = Message::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(OrderCancelRequest::parse(&msg, 3, &ctx), Ok(cancel));
        }

        #[test]
        fn replace_round_trips(cl in id_strategy(), orig in id_strategy(), spec in spec_strategy()) {
            let t = table();
            let ctx = ParseContext { session: SessionId(1), account: AccountId(42), instruments: &t };
            let replace = OrderCancelReplaceRequest {
                session: SessionId(1), msg_seq: 3, cl_ord_id: cl, orig_cl_ord_id: orig, spec,
                transact_time: UnixNanos(0),
            };
            let bytes = encode(MsgType::ORDER_CANCEL_REPLACE_REQUEST, |w| replace.write_body(w, &symbol(&t, spec.instrument)));
            let msg = Message::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(OrderCancelReplaceRequest::parse(&msg, 3, &ctx), Ok(replace));
        }
    }

    #[test]
    fn reject_reason_codes() {
        assert_eq!(ord_rej_reason(RejectReason::UnknownInstrument), 1);
        assert_eq!(ord_rej_reason(RejectReason::DuplicateClOrdId), 6);
        assert_eq!(ord_rej_reason(RejectReason::Other(77)), 99);
        assert_eq!(cxl_rej_reason(RejectReason::TooLateToCancel), 0);
        assert_eq!(cxl_rej_reason(RejectReason::UnknownOrder), 1);
        assert_eq!(cxl_rej_reason(RejectReason::InvalidPrice), 99);
    }
}
