//! FIX 4.4 tag numbers, enumerated field values and the UTCTimestamp text form.
//!
//! Values only: no parsing of whole messages and no session state live here. Nothing in
//! this module allocates, reads a clock or panics on any input.

use core::fmt;

use tickwarp_runtime::UnixNanos;

/// FIX tag numbers used by the session and the order messages (FIX 4.4 Vol. 6 field list).
pub mod tag {
    /// Account (1).
    pub const ACCOUNT: u32 = 1;
    /// AvgPx (6).
    pub const AVG_PX: u32 = 6;
    /// BeginSeqNo (7).
    pub const BEGIN_SEQ_NO: u32 = 7;
    /// BeginString (8).
    pub const BEGIN_STRING: u32 = 8;
    /// BodyLength (9).
    pub const BODY_LENGTH: u32 = 9;
    /// CheckSum (10).
    pub const CHECK_SUM: u32 = 10;
    /// ClOrdID (11).
    pub const CL_ORD_ID: u32 = 11;
    /// CumQty (14).
    pub const CUM_QTY: u32 = 14;
    /// EndSeqNo (16).
    pub const END_SEQ_NO: u32 = 16;
    /// ExecID (17).
    pub const EXEC_ID: u32 = 17;
    /// ExecInst (18).
    pub const EXEC_INST: u32 = 18;
    /// LastPx (31).
    pub const LAST_PX: u32 = 31;
    /// LastQty (32).
    pub const LAST_QTY: u32 = 32;
    /// MsgSeqNum (34).
    pub const MSG_SEQ_NUM: u32 = 34;
    /// MsgType (35).
    pub const MSG_TYPE: u32 = 35;
    /// NewSeqNo (36).
    pub const NEW_SEQ_NO: u32 = 36;
    /// OrderID (37).
    pub const ORDER_ID: u32 = 37;
    /// OrderQty (38).
    pub const ORDER_QTY: u32 = 38;
    /// OrdStatus (39).
    pub const ORD_STATUS: u32 = 39;
    /// OrdType (40).
    pub const ORD_TYPE: u32 = 40;
    /// OrigClOrdID (41).
    pub const ORIG_CL_ORD_ID: u32 = 41;
    /// PossDupFlag (43).
    pub const POSS_DUP_FLAG: u32 = 43;
    /// Price (44).
    pub const PRICE: u32 = 44;
    /// RefSeqNum (45).
    pub const REF_SEQ_NUM: u32 = 45;
    /// SenderCompID (49).
    pub const SENDER_COMP_ID: u32 = 49;
    /// SendingTime (52).
    pub const SENDING_TIME: u32 = 52;
    /// Side (54).
    pub const SIDE: u32 = 54;
    /// Symbol (55).
    pub const SYMBOL: u32 = 55;
    /// TargetCompID (56).
    pub const TARGET_COMP_ID: u32 = 56;
    /// Text (58).
    pub const TEXT: u32 = 58;
    /// TimeInForce (59).
    pub const TIME_IN_FORCE: u32 = 59;
    /// TransactTime (60).
    pub const TRANSACT_TIME: u32 = 60;
    /// PossResend (97).
    pub const POSS_RESEND: u32 = 97;
    /// EncryptMethod (98).
    pub const ENCRYPT_METHOD: u32 = 98;
    /// CxlRejReason (102).
    pub const CXL_REJ_REASON: u32 = 102;
    /// OrdRejReason (103).
    pub const ORD_REJ_REASON: u32 = 103;
    /// HeartBtInt (108).
    pub const HEART_BT_INT: u32 = 108;
    /// TestReqID (112).
    pub const TEST_REQ_ID: u32 = 112;
    /// OrigSendingTime (122).
    pub const ORIG_SENDING_TIME: u32 = 122;
    /// GapFillFlag (123).
    pub const GAP_FILL_FLAG: u32 = 123;
    /// ResetSeqNumFlag (141).
    pub const RESET_SEQ_NUM_FLAG: u32 = 141;
    /// ExecType (150).
    pub const EXEC_TYPE: u32 = 150;
    /// LeavesQty (151).
    pub const LEAVES_QTY: u32 = 151;
    /// RefTagID (371).
    pub const REF_TAG_ID: u32 = 371;
    /// RefMsgType (372).
    pub const REF_MSG_TYPE: u32 = 372;
    /// SessionRejectReason (373).
    pub const SESSION_REJECT_REASON: u32 = 373;
    /// BusinessRejectRefID (379).
    pub const BUSINESS_REJECT_REF_ID: u32 = 379;
    /// BusinessRejectReason (380).
    pub const BUSINESS_REJECT_REASON: u32 = 380;
    /// CxlRejResponseTo (434).
    pub const CXL_REJ_RESPONSE_TO: u32 = 434;
    /// Username (553).
    pub const USERNAME: u32 = 553;
    /// Password (554).
    pub const PASSWORD: u32 = 554;
}

/// SessionRejectReason (373) values of FIX 4.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionRejectReason {
    /// 0: Invalid tag number.
    InvalidTagNumber,
    /// 1: Required tag missing.
    RequiredTagMissing,
    /// 2: Tag not defined for this message type.
    TagNotDefinedForMsgType,
    /// 3: Undefined tag.
    UndefinedTag,
    /// 4: Tag specified without a value.
    TagWithoutValue,
    /// 5: Value is incorrect (out of range) for this tag.
    ValueIncorrect,
    /// 6: Incorrect data format for value.
    IncorrectDataFormat,
    /// 9: CompID problem.
    CompIdProblem,
    /// 10: SendingTime accuracy problem.
    SendingTimeAccuracy,
    /// 11: Invalid MsgType.
    InvalidMsgType,
    /// 13: Tag appears more than once.
    TagAppearsMoreThanOnce,
    /// 14: Tag specified out of required order.
    TagOutOfOrder,
    /// 15: Repeating group fields out of order.
    RepeatingGroupFieldsOutOfOrder,
    /// 16: Incorrect NumInGroup count for repeating group.
    IncorrectNumInGroupCount,
    /// 99: Other.
    Other,
}

impl SessionRejectReason {
    /// The wire value of tag 373.
    pub const fn code(self) -> u32 {
        match self {
            SessionRejectReason::InvalidTagNumber => 0,
            SessionRejectReason::RequiredTagMissing => 1,
            SessionRejectReason::TagNotDefinedForMsgType => 2,
            SessionRejectReason::UndefinedTag => 3,
            SessionRejectReason::TagWithoutValue => 4,
            SessionRejectReason::ValueIncorrect => 5,
            SessionRejectReason::IncorrectDataFormat => 6,
            SessionRejectReason::CompIdProblem => 9,
            SessionRejectReason::SendingTimeAccuracy => 10,
            SessionRejectReason::InvalidMsgType => 11,
            SessionRejectReason::TagAppearsMoreThanOnce => 13,
            SessionRejectReason::TagOutOfOrder => 14,
            SessionRejectReason::RepeatingGroupFieldsOutOfOrder => 15,
            SessionRejectReason::IncorrectNumInGroupCount => 16,
            SessionRejectReason::Other => 99,
        }
    }

    /// The reason for a wire value of tag 373, if this engine names it.
    pub const fn from_code(code: u32) -> Option<SessionRejectReason> {
        Some(match code {
            0 => SessionRejectReason::InvalidTagNumber,
            1 => SessionRejectReason::RequiredTagMissing,
            2 => SessionRejectReason::TagNotDefinedForMsgType,
            3 => SessionRejectReason::UndefinedTag,
            4 => SessionRejectReason::TagWithoutValue,
            5 => SessionRejectReason::ValueIncorrect,
            6 => SessionRejectReason::IncorrectDataFormat,
            9 => SessionRejectReason::CompIdProblem,
            10 => SessionRejectReason::SendingTimeAccuracy,
            11 => SessionRejectReason::InvalidMsgType,
            13 => SessionRejectReason::TagAppearsMoreThanOnce,
            14 => SessionRejectReason::TagOutOfOrder,
            15 => SessionRejectReason::RepeatingGroupFieldsOutOfOrder,
            16 => SessionRejectReason::IncorrectNumInGroupCount,
            99 => SessionRejectReason::Other,
            _ => return None,
        })
    }
}

impl SessionRejectReason {
    /// The description FIX 4.4 gives this value of SessionRejectReason (373), used as the
    /// Reject's Text (58).
    pub const fn spec_text(self) -> &'static str {
        match self {
            SessionRejectReason::InvalidTagNumber => "Invalid tag number",
            SessionRejectReason::RequiredTagMissing => "Required tag missing",
            SessionRejectReason::TagNotDefinedForMsgType => "Tag not defined for this message type",
            SessionRejectReason::UndefinedTag => "Undefined Tag",
            SessionRejectReason::TagWithoutValue => "Tag specified without a value",
            SessionRejectReason::ValueIncorrect => "Value is incorrect (out of range) for this tag",
            SessionRejectReason::IncorrectDataFormat => "Incorrect data format for value",
            SessionRejectReason::CompIdProblem => "CompID problem",
            SessionRejectReason::SendingTimeAccuracy => "SendingTime accuracy problem",
            SessionRejectReason::InvalidMsgType => "Invalid MsgType",
            SessionRejectReason::TagAppearsMoreThanOnce => "Tag appears more than once",
            SessionRejectReason::TagOutOfOrder => "Tag specified out of required order",
            SessionRejectReason::RepeatingGroupFieldsOutOfOrder => {
                "Repeating group fields out of order"
            }
            SessionRejectReason::IncorrectNumInGroupCount => {
                "Incorrect NumInGroup count for repeating group"
            }
            SessionRejectReason::Other => "Other",
        }
    }
}

impl fmt::Display for SessionRejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec_text())
    }
}

/// BusinessRejectReason (380) values of FIX 4.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BusinessRejectReason {
    /// 0: Other.
    Other,
    /// 1: Unknown ID.
    UnknownId,
    /// 2: Unknown security.
    UnknownSecurity,
    /// 3: Unsupported message type.
    UnsupportedMsgType,
    /// 4: Application not available.
    ApplicationNotAvailable,
    /// 5: Conditionally required field missing.
    ConditionallyRequiredFieldMissing,
    /// 6: Not authorized.
    NotAuthorized,
}

impl BusinessRejectReason {
    /// The wire value of tag 380.
    pub const fn code(self) -> u32 {
        match self {
            BusinessRejectReason::Other => 0,
            BusinessRejectReason::UnknownId => 1,
            BusinessRejectReason::UnknownSecurity => 2,
            BusinessRejectReason::UnsupportedMsgType => 3,
            BusinessRejectReason::ApplicationNotAvailable => 4,
            BusinessRejectReason::ConditionallyRequiredFieldMissing => 5,
            BusinessRejectReason::NotAuthorized => 6,
        }
    }
}

/// A MsgType (35) value: one or two bytes, stored inline so it is `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsgType {
    bytes: [u8; 2],
    len: u8,
}

impl MsgType {
    /// Heartbeat (0).
    pub const HEARTBEAT: MsgType = MsgType::one(b'0');
    /// TestRequest (1).
    pub const TEST_REQUEST: MsgType = MsgType::one(b'1');
    /// ResendRequest (2).
    pub const RESEND_REQUEST: MsgType = MsgType::one(b'2');
    /// Reject (3).
    pub const REJECT: MsgType = MsgType::one(b'3');
    /// SequenceReset (4).
    pub const SEQUENCE_RESET: MsgType = MsgType::one(b'4');
    /// Logout (5).
    pub const LOGOUT: MsgType = MsgType::one(b'5');
    /// Logon (A).
    pub const LOGON: MsgType = MsgType::one(b'A');
    /// ExecutionReport (8).
    pub const EXECUTION_REPORT: MsgType = MsgType::one(b'8');
    /// OrderCancelReject (9).
    pub const ORDER_CANCEL_REJECT: MsgType = MsgType::one(b'9');
    /// NewOrderSingle (D).
    pub const NEW_ORDER_SINGLE: MsgType = MsgType::one(b'D');
    /// OrderCancelRequest (F).
    pub const ORDER_CANCEL_REQUEST: MsgType = MsgType::one(b'F');
    /// OrderCancelReplaceRequest (G).
    pub const ORDER_CANCEL_REPLACE_REQUEST: MsgType = MsgType::one(b'G');
    /// BusinessMessageReject (j).
    pub const BUSINESS_MESSAGE_REJECT: MsgType = MsgType::one(b'j');
    /// No MsgType known (empty), used as RefMsgType when tag 35 could not be read.
    pub const UNKNOWN: MsgType = MsgType {
        bytes: [0; 2],
        len: 0,
    };

    const fn one(b: u8) -> MsgType {
        MsgType {
            bytes: [b, 0],
            len: 1,
        }
    }

    /// The MsgType for a tag 35 value of one or two graphic ASCII bytes.
    pub fn from_bytes(value: &[u8]) -> Option<MsgType> {
        match *value {
            [a] if a.is_ascii_graphic() => Some(MsgType::one(a)),
            [a, b] if a.is_ascii_graphic() && b.is_ascii_graphic() => Some(MsgType {
                bytes: [a, b],
                len: 2,
            }),
            _ => None,
        }
    }

    /// The value bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// Whether this is a session-level (administrative) message type (FIX 4.4 Vol. 2).
    pub fn is_admin(&self) -> bool {
        matches!(
            self.as_bytes(),
            b"0" | b"1" | b"2" | b"3" | b"4" | b"5" | b"A"
        )
    }

    /// Whether FIX 4.4 defines this MsgType: `0`–`9`, `A`–`Z`, `a`–`z`, `AA`–`AZ`, `BA`–`BH`.
    pub fn is_defined(&self) -> bool {
        match self.as_bytes() {
            [a] => a.is_ascii_alphanumeric(),
            [b'A', b] => b.is_ascii_uppercase(),
            [b'B', b] => (b'A'..=b'H').contains(b),
            _ => false,
        }
    }
}

impl fmt::Debug for MsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MsgType({:?})",
            self.as_bytes().escape_ascii().to_string()
        )
    }
}

/// Nanoseconds per day.
const NANOS_PER_DAY: u64 = 86_400 * NANOS_PER_SEC;
/// Nanoseconds per second.
const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Length of `YYYYMMDD-HH:MM:SS.sss`.
pub const TIMESTAMP_LEN: usize = 21;

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
///
/// The "days from civil" inverse described by H. Hinnant, `chrono`-compatible algorithms.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01 (proleptic Gregorian).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Writes `t` as a FIX UTCTimestamp with milliseconds, `YYYYMMDD-HH:MM:SS.sss`.
pub fn format_timestamp(t: UnixNanos) -> [u8; TIMESTAMP_LEN] {
    let days = t.get() / NANOS_PER_DAY;
    let in_day = t.get() % NANOS_PER_DAY;
    let (year, month, day) = civil_from_days(days as i64);
    let year = year.clamp(0, 9999) as u32;
    let secs = in_day / NANOS_PER_SEC;
    let millis = (in_day % NANOS_PER_SEC) / 1_000_000;
    let mut out = *b"00000000-00:00:00.000";
    let mut put = |range: core::ops::Range<usize>, mut v: u64| {
        if let Some(slot) = out.get_mut(range) {
            for b in slot.iter_mut().rev() {
                *b = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
    };
    put(0..4, u64::from(year));
    put(4..6, u64::from(month));
    put(6..8, u64::from(day));
    put(9..11, secs / 3600);
    put(12..14, (secs / 60) % 60);
    put(15..17, secs % 60);
    put(18..21, millis);
    out
}

/// Parses a FIX UTCTimestamp `YYYYMMDD-HH:MM:SS[.s{3,6,9}]`; `None` if malformed or
/// outside what [`UnixNanos`] holds (1970 to 2554).
pub fn parse_timestamp(value: &[u8]) -> Option<UnixNanos> {
    fn digits(value: &[u8], range: core::ops::Range<usize>) -> Option<u64> {
        let slot = value.get(range)?;
        let mut v = 0u64;
        for &b in slot {
            if !b.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u64::from(b - b'0');
        }
        Some(v)
    }
    if value.len() < 17
        || value.get(8) != Some(&b'-')
        || value.get(11) != Some(&b':')
        || value.get(14) != Some(&b':')
    {
        return None;
    }
    let year = digits(value, 0..4)?;
    let month = digits(value, 4..6)?;
    let day = digits(value, 6..8)?;
    let hour = digits(value, 9..11)?;
    let minute = digits(value, 12..14)?;
    let second = digits(value, 15..17)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Leap second 60 is allowed by the UTCTimestamp definition.
    if second > 60 || year < 1970 {
        return None;
    }
    let frac_nanos = match value.get(17..) {
        Some([]) => 0,
        Some([b'.', frac @ ..]) if matches!(frac.len(), 3 | 6 | 9) => {
            let v = digits(frac, 0..frac.len())?;
            v * 10u64.pow(9 - frac.len() as u32)
        }
        _ => return None,
    };
    let days = days_from_civil(year as i64, month as u32, day as u32);
    let (y2, m2, d2) = civil_from_days(days);
    if (y2, u64::from(m2), u64::from(d2)) != (year as i64, month, day) {
        return None;
    }
    let secs = (days as u64) * 86_400 + hour * 3600 + minute * 60 + second;
    let nanos = secs.checked_mul(NANOS_PER_SEC)?.checked_add(frac_nanos)?;
    Some(UnixNanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_known_values() {
        // 2025-11-25 10:23:53.123 UTC.
        let t = UnixNanos(1_764_066_233_123_000_000);
        assert_eq!(&format_timestamp(t), b"20251125-10:23:53.123");
        assert_eq!(parse_timestamp(b"20251125-10:23:53.123"), Some(t));
        assert_eq!(&format_timestamp(UnixNanos(0)), b"19700101-00:00:00.000");
        assert_eq!(
            parse_timestamp(b"20000229-23:59:59"),
            Some(UnixNanos(951_868_799 * NANOS_PER_SEC))
        );
        assert_eq!(parse_timestamp(b"20010229-00:00:00"), None);
        assert_eq!(parse_timestamp(b"20010101-00:00:00.12"), None);
        assert_eq!(parse_timestamp(b"2001010100:00:00"), None);
        assert_eq!(parse_timestamp(b"20011301-00:00:00"), None);
        assert_eq!(parse_timestamp(b"99991231-23:59:59"), None);
    }

    #[test]
    fn msg_type_classes() {
        assert!(MsgType::LOGON.is_admin());
        assert!(!MsgType::NEW_ORDER_SINGLE.is_admin());
        assert!(MsgType::from_bytes(b"AE").is_some_and(|m| m.is_defined()));
        assert!(MsgType::from_bytes(b"ZZ").is_some_and(|m| !m.is_defined()));
        assert_eq!(MsgType::from_bytes(b""), None);
        assert_eq!(MsgType::from_bytes(b"ABC"), None);
        for code in 0..100 {
            if let Some(r) = SessionRejectReason::from_code(code) {
                assert_eq!(r.code(), code);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn timestamp_round_trip(ms in 0u64..18_000_000_000_000) {
            let t = UnixNanos(ms * 1_000_000);
            proptest::prop_assert_eq!(parse_timestamp(&format_timestamp(t)), Some(t));
        }

        #[test]
        fn timestamp_parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..32)) {
            let _ = parse_timestamp(&bytes);
        }
    }
}
