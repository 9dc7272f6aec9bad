//! RequestForPositions (AN) in; RequestForPositionsAck (AO) and PositionReport (AP) out
//! (FIX 4.4 Vol. 5 "Position Maintenance": request for positions).
//!
//! Supported: PosReqType 0 (positions), as a snapshot (SubscriptionRequestType absent or
//! 0), for the session's own account, optionally one Symbol. Anything else is answered
//! with an AO: PosReqResult 4 (request unsupported) for another PosReqType or a
//! subscription, 3 (not authorized) for another account, 2 (no positions found) when the
//! account has no fills; PosReqStatus 2 (rejected) for 3 and 4.
//!
//! A PositionReport carries one Positions entry, PosType TQ (transaction quantity):
//! LongQty is the quantity bought and ShortQty the quantity sold (the net position is
//! their difference); SettlPrice (and PriorSettlPrice, both required by the dictionary)
//! is the average price of the open position with SettlPriceType 2 (theoretical: the
//! gateway has no settlement price); the realized profit and loss is a PosAmt with
//! PosAmtType CASH (FIX 4.4 has no realized-PnL amount type). The
//! Parties group names the account (PartyIDSource D, PartyRole 24 customer account).
//!
//! Message bodies only; nothing here allocates or reads a clock.

use tickwarp_runtime::UnixNanos;
use tickwarp_wire::{AccountId, ClientOrderId, Price};

use super::codec::{Message, MessageWriter, parse_uint};
use super::fields::{SessionRejectReason, parse_timestamp, tag};
use super::messages::{AppRejectError, ParseContext, SessionId};
use super::retail::{SymbolFilter, write_prefixed_number};

/// RequestForPositions (AN).
pub const REQUEST_FOR_POSITIONS: &[u8] = b"AN";
/// RequestForPositionsAck (AO).
pub const REQUEST_FOR_POSITIONS_ACK: &[u8] = b"AO";
/// PositionReport (AP).
pub const POSITION_REPORT: &[u8] = b"AP";

/// Tags of these messages.
pub mod tags {
    /// PosReqID.
    pub const POS_REQ_ID: u32 = 710;
    /// PosReqType.
    pub const POS_REQ_TYPE: u32 = 724;
    /// SubscriptionRequestType.
    pub const SUBSCRIPTION_REQUEST_TYPE: u32 = 263;
    /// AccountType.
    pub const ACCOUNT_TYPE: u32 = 581;
    /// ClearingBusinessDate.
    pub const CLEARING_BUSINESS_DATE: u32 = 715;
    /// PosMaintRptID.
    pub const POS_MAINT_RPT_ID: u32 = 721;
    /// TotalNumPosReports.
    pub const TOTAL_NUM_POS_REPORTS: u32 = 727;
    /// PosReqResult.
    pub const POS_REQ_RESULT: u32 = 728;
    /// PosReqStatus.
    pub const POS_REQ_STATUS: u32 = 729;
    /// SettlPrice.
    pub const SETTL_PRICE: u32 = 730;
    /// SettlPriceType.
    pub const SETTL_PRICE_TYPE: u32 = 731;
    /// PriorSettlPrice.
    pub const PRIOR_SETTL_PRICE: u32 = 734;
    /// NoPositions.
    pub const NO_POSITIONS: u32 = 702;
    /// PosType.
    pub const POS_TYPE: u32 = 703;
    /// LongQty.
    pub const LONG_QTY: u32 = 704;
    /// ShortQty.
    pub const SHORT_QTY: u32 = 705;
    /// NoPosAmt.
    pub const NO_POS_AMT: u32 = 753;
    /// PosAmtType.
    pub const POS_AMT_TYPE: u32 = 707;
    /// PosAmt.
    pub const POS_AMT: u32 = 708;
}

/// PosReqResult (728) values of FIX 4.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PosReqResult {
    /// 0: valid request.
    Valid,
    /// 2: no positions found that match the criteria.
    NoPositions,
    /// 3: not authorized to request positions.
    NotAuthorized,
    /// 4: request for position not supported.
    Unsupported,
}

impl PosReqResult {
    /// The wire value.
    pub const fn code(self) -> u64 {
        match self {
            PosReqResult::Valid => 0,
            PosReqResult::NoPositions => 2,
            PosReqResult::NotAuthorized => 3,
            PosReqResult::Unsupported => 4,
        }
    }
}

/// A RequestForPositions (35=AN) that passed the field checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestForPositions {
    /// The session it arrived on.
    pub session: SessionId,
    /// Its MsgSeqNum (34).
    pub msg_seq: u64,
    /// PosReqID (710), echoed.
    pub pos_req_id: ClientOrderId,
    /// `Ok(())` for a supported request, else the answer's PosReqResult.
    pub supported: Result<(), PosReqResult>,
    /// Symbol (55) filter.
    pub symbol: SymbolFilter,
    /// AccountType (581), echoed.
    pub account_type: u8,
    /// ClearingBusinessDate (715, YYYYMMDD), echoed.
    pub clearing_date: [u8; 8],
    /// TransactTime (60).
    pub transact_time: UnixNanos,
}

fn field(t: u32, reason: SessionRejectReason) -> AppRejectError {
    AppRejectError::Session { tag: t, reason }
}

fn required<'a>(msg: &Message<'a>, t: u32) -> Result<&'a [u8], AppRejectError> {
    msg.get(t)
        .ok_or(field(t, SessionRejectReason::RequiredTagMissing))
}

impl RequestForPositions {
    /// Parses a 35=AN (required: 710, 724, 453, 1, 581, 715, 60).
    pub fn parse(
        msg: &Message<'_>,
        msg_seq: u64,
        ctx: &ParseContext<'_>,
    ) -> Result<RequestForPositions, AppRejectError> {
        let pos_req_id = ClientOrderId::from_bytes(required(msg, tags::POS_REQ_ID)?)
            .map_err(|_| field(tags::POS_REQ_ID, SessionRejectReason::ValueIncorrect))?;
        let pos_req_type = required(msg, tags::POS_REQ_TYPE)?;
        let account = required(msg, tag::ACCOUNT)?;
        let account_type = match required(msg, tags::ACCOUNT_TYPE)? {
            [b] if b.is_ascii_digit() => *b,
            _ => {
                return Err(field(
                    tags::ACCOUNT_TYPE,
                    SessionRejectReason::ValueIncorrect,
                ));
            }
        };
        let clearing_date: [u8; 8] = required(msg, tags::CLEARING_BUSINESS_DATE)?
            .try_into()
            .map_err(|_| {
                field(
                    tags::CLEARING_BUSINESS_DATE,
                    SessionRejectReason::IncorrectDataFormat,
                )
            })?;
        let transact_time = parse_timestamp(required(msg, tag::TRANSACT_TIME)?).ok_or(field(
            tag::TRANSACT_TIME,
            SessionRejectReason::IncorrectDataFormat,
        ))?;
        let ours = parse_uint(account) == Some(u64::from(ctx.account.get()));
        let snapshot = matches!(msg.get(tags::SUBSCRIPTION_REQUEST_TYPE), None | Some(b"0"));
        let supported = if !ours {
            Err(PosReqResult::NotAuthorized)
        } else if pos_req_type != b"0" || !snapshot {
            Err(PosReqResult::Unsupported)
        } else {
            Ok(())
        };
        let symbol = match msg.get(tag::SYMBOL) {
            None => SymbolFilter::Any,
            Some(s) => core::str::from_utf8(s)
                .ok()
                .and_then(|s| ctx.instruments.id_of_str(s))
                .map_or(SymbolFilter::Unknown, SymbolFilter::Instrument),
        };
        Ok(RequestForPositions {
            session: ctx.session,
            msg_seq,
            pos_req_id,
            supported,
            symbol,
            account_type,
            clearing_date,
            transact_time,
        })
    }
}

/// The Parties group naming `account`, Account (1) and AccountType (581).
fn write_account(w: &mut MessageWriter<'_>, account: AccountId, account_type: u8) {
    w.uint(453, 1)
        .uint(448, u64::from(account.get()))
        .byte(447, b'D')
        .uint(452, 24)
        .uint(tag::ACCOUNT, u64::from(account.get()))
        .byte(tags::ACCOUNT_TYPE, account_type);
}

/// A RequestForPositionsAck (35=AO).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PositionsAck<'a> {
    /// The request.
    pub request: &'a RequestForPositions,
    /// TotalNumPosReports (727).
    pub total: u64,
    /// PosReqResult (728).
    pub result: PosReqResult,
    /// MsgSeqNum of this message: PosMaintRptID is `P` and this number.
    pub out_seq: u64,
    /// Text (58).
    pub text: Option<&'a str>,
}

impl PositionsAck<'_> {
    /// Writes the body for `account`.
    pub fn write_body(&self, w: &mut MessageWriter<'_>, account: AccountId) {
        write_prefixed_number(w, tags::POS_MAINT_RPT_ID, b'P', self.out_seq);
        w.bytes(
            tags::POS_REQ_ID,
            self.request.pos_req_id.as_str().as_bytes(),
        )
        .uint(tags::TOTAL_NUM_POS_REPORTS, self.total)
        .uint(tags::POS_REQ_RESULT, self.result.code());
        let status = match self.result {
            PosReqResult::Valid | PosReqResult::NoPositions => 0,
            PosReqResult::NotAuthorized | PosReqResult::Unsupported => 2,
        };
        w.uint(tags::POS_REQ_STATUS, status);
        write_account(w, account, self.request.account_type);
        if let Some(text) = self.text {
            w.str(tag::TEXT, text);
        }
    }
}

/// One PositionReport (35=AP): one instrument of the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PositionReport<'a> {
    /// The request.
    pub request: &'a RequestForPositions,
    /// TotalNumPosReports (727).
    pub total: u64,
    /// Symbol (55).
    pub symbol: &'a [u8],
    /// Quantity bought (LongQty 704).
    pub bought: u64,
    /// Quantity sold (ShortQty 705).
    pub sold: u64,
    /// Average price of the open position (SettlPrice 730, PriorSettlPrice 734).
    pub avg_px: Price,
    /// Realized profit and loss (PosAmt 708, PosAmtType CASH).
    pub realized: Price,
    /// MsgSeqNum of this message: PosMaintRptID is `P` and this number.
    pub out_seq: u64,
}

impl PositionReport<'_> {
    /// Writes the body for `account`.
    pub fn write_body(&self, w: &mut MessageWriter<'_>, account: AccountId) {
        write_prefixed_number(w, tags::POS_MAINT_RPT_ID, b'P', self.out_seq);
        w.bytes(
            tags::POS_REQ_ID,
            self.request.pos_req_id.as_str().as_bytes(),
        )
        .byte(tags::POS_REQ_TYPE, b'0')
        .uint(tags::TOTAL_NUM_POS_REPORTS, self.total)
        .uint(tags::POS_REQ_RESULT, PosReqResult::Valid.code())
        .bytes(tags::CLEARING_BUSINESS_DATE, &self.request.clearing_date);
        write_account(w, account, self.request.account_type);
        w.bytes(tag::SYMBOL, self.symbol)
            .price(tags::SETTL_PRICE, self.avg_px)
            .uint(tags::SETTL_PRICE_TYPE, 2)
            .price(tags::PRIOR_SETTL_PRICE, self.avg_px)
            .uint(tags::NO_POSITIONS, 1)
            .bytes(tags::POS_TYPE, b"TQ")
            .uint(tags::LONG_QTY, self.bought)
            .uint(tags::SHORT_QTY, self.sold)
            .uint(tags::NO_POS_AMT, 1)
            .bytes(tags::POS_AMT_TYPE, b"CASH")
            .price(tags::POS_AMT, self.realized);
    }
}
