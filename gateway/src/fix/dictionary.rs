//! The FIX 4.4 data dictionary and message validation against it (FIX 4.4 Vol. 2
//! "Message Validation", Vol. 1 "Repeating Groups").
//!
//! The tables are generated at build time by `build.rs` from the FIX Trading Community's
//! FIX Orchestra repository for FIX 4.4 (through the `ironfix-dictionary` crate; licence
//! and provenance in `DICTIONARY-NOTICE.md` beside this file); nothing here is hand-typed.
//! Components are flattened into the messages and groups that use them (a field of an
//! optional component is optional); repeating groups keep their nesting.
//!
//! [`validate`] checks one decoded [`Message`]: every tag defined (SessionRejectReason 0),
//! defined for the message type (2), with a value (4) of the right data format (6) and an
//! enumerated value (5), no tag twice (13), header before body before trailer (14),
//! repeating groups with the count their NumInGroup announces (16), each entry starting
//! with the group's delimiter and its fields in dictionary order (15), nested groups, and
//! every required field present in the header, body, trailer and each group entry (1).
//! [`Dictionary::group`] reads a repeating group's entries.
//!
//! What this module must not do: allocate, read a clock, keep state between messages, or
//! decide anything about orders. Data (`Data`/`XmlData`) fields are not checked: the codec
//! splits at SOH, so a data value that contains SOH is not supported.

use super::codec::{Message, parse_uint};
use super::fields::{MsgType, SessionRejectReason, parse_timestamp, tag};

/// A FIX data type (FIX 4.4 Vol. 1 "Data Types"), as the dictionary names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// `int`.
    Int,
    /// `Length`.
    Length,
    /// `SeqNum`.
    SeqNum,
    /// `NumInGroup`.
    NumInGroup,
    /// `TagNum`.
    TagNum,
    /// `DayOfMonth`.
    DayOfMonth,
    /// `float`.
    Float,
    /// `Qty`.
    Qty,
    /// `Price`.
    Price,
    /// `PriceOffset`.
    PriceOffset,
    /// `Amt`.
    Amt,
    /// `Percentage`.
    Percentage,
    /// `char`.
    Char,
    /// `Boolean`.
    Boolean,
    /// `String`.
    String,
    /// `MultipleCharValue`.
    MultipleCharValue,
    /// `MultipleStringValue` (`MultipleValueString` in FIX 4.4).
    MultipleStringValue,
    /// `Country`.
    Country,
    /// `Currency`.
    Currency,
    /// `Exchange`.
    Exchange,
    /// `MonthYear`.
    MonthYear,
    /// `UTCTimestamp`.
    UtcTimestamp,
    /// `UTCTimeOnly`.
    UtcTimeOnly,
    /// `UTCDateOnly`.
    UtcDateOnly,
    /// `LocalMktDate`.
    LocalMktDate,
    /// `LocalMktTime`.
    LocalMktTime,
    /// `TZTimeOnly`.
    TzTimeOnly,
    /// `TZTimestamp`.
    TzTimestamp,
    /// `data`.
    Data,
    /// `XMLData`.
    XmlData,
    /// `Language`.
    Language,
    /// `Pattern`.
    Pattern,
    /// `Tenor`.
    Tenor,
    /// `Reserved`.
    Reserved,
}

/// One field of the dictionary.
#[derive(Clone, Copy, Debug)]
pub struct FieldDef {
    /// Tag number.
    pub tag: u32,
    /// Field name.
    pub name: &'static str,
    /// Data type.
    pub ty: FieldType,
    /// Enumerated values, sorted; empty if the field is not enumerated.
    pub values: &'static [&'static str],
}

/// One member of a header, trailer, message body or group entry.
#[derive(Clone, Copy, Debug)]
pub struct Member {
    /// Tag (the NumInGroup tag for a group).
    pub tag: u32,
    /// Whether it must be present.
    pub required: bool,
    /// The group this NumInGroup field counts, if it is one.
    pub group: Option<&'static GroupDef>,
}

/// The members of a header, trailer, message body or group entry.
#[derive(Clone, Copy, Debug)]
pub struct Section {
    /// Members in dictionary order.
    pub members: &'static [Member],
    /// `(tag, index into members)`, sorted by tag.
    pub by_tag: &'static [(u32, usize)],
    /// Tags of the required members.
    pub required: &'static [u32],
}

impl Section {
    /// The index and definition of member `tag`.
    pub fn member(&self, tag: u32) -> Option<(usize, &'static Member)> {
        let at = self.by_tag.binary_search_by_key(&tag, |&(t, _)| t).ok()?;
        let ix = self.by_tag.get(at)?.1;
        Some((ix, self.members.get(ix)?))
    }
}

/// A repeating group.
#[derive(Debug)]
pub struct GroupDef {
    /// Group name.
    pub name: &'static str,
    /// The NumInGroup tag that counts its entries.
    pub count_tag: u32,
    /// The tag every entry starts with.
    pub delimiter: u32,
    /// The members of one entry.
    pub body: Section,
    /// Every tag an entry may hold, nested groups included, sorted.
    pub all_tags: &'static [u32],
}

/// A message type of the dictionary.
#[derive(Clone, Copy, Debug)]
pub struct MessageDef {
    /// MsgType (35) value.
    pub msg_type: &'static str,
    /// Message name.
    pub name: &'static str,
    /// Body members.
    pub body: Section,
}

include!(concat!(env!("OUT_DIR"), "/fix44_dictionary.rs"));

/// A FIX data dictionary: fields, messages, header and trailer.
#[derive(Debug)]
pub struct Dictionary {
    fields: &'static [FieldDef],
    messages: &'static [MessageDef],
    header: &'static Section,
    trailer: &'static Section,
}

/// FIX 4.4 as compiled by `build.rs`.
static FIX44: Dictionary = Dictionary {
    fields: FIELDS,
    messages: MESSAGES,
    header: &HEADER,
    trailer: &TRAILER,
};

impl Dictionary {
    /// The FIX 4.4 dictionary (FIX Orchestra `OrchestraFIX44.xml`).
    pub fn fix44() -> &'static Dictionary {
        &FIX44
    }

    /// The definition of field `tag`.
    pub fn field(&self, tag: u32) -> Option<&'static FieldDef> {
        let at = self.fields.binary_search_by_key(&tag, |f| f.tag).ok()?;
        self.fields.get(at)
    }

    /// The definition of message type `msg_type`.
    pub fn message(&self, msg_type: MsgType) -> Option<&'static MessageDef> {
        let key = msg_type.as_bytes();
        let at = self
            .messages
            .binary_search_by(|m| m.msg_type.as_bytes().cmp(key))
            .ok()?;
        self.messages.get(at)
    }

    /// The standard header.
    pub fn header(&self) -> &'static Section {
        self.header
    }

    /// The standard trailer.
    pub fn trailer(&self) -> &'static Section {
        self.trailer
    }

    /// The entries of the top-level repeating group counted by `count_tag` in `msg`, if
    /// the message type has that group and the message carries it. Call after
    /// [`validate`] accepted the message; entries are read as the dictionary lays them out.
    pub fn group<'m, 'a>(
        &self,
        msg: &'m Message<'a>,
        count_tag: u32,
    ) -> Option<GroupEntries<'m, 'a>> {
        let def = self
            .message(msg.msg_type())?
            .body
            .member(count_tag)?
            .1
            .group?;
        let at =
            (0..msg.field_count()).find(|&i| msg.field_at(i).map(|f| f.0) == Some(count_tag))?;
        Some(GroupEntries::new(msg, def, at + 1, msg.field_count()))
    }
}

/// The entries of one repeating group in a message.
#[derive(Clone, Debug)]
pub struct GroupEntries<'m, 'a> {
    msg: &'m Message<'a>,
    def: &'static GroupDef,
    pos: usize,
    end: usize,
}

impl<'m, 'a> GroupEntries<'m, 'a> {
    fn new(msg: &'m Message<'a>, def: &'static GroupDef, pos: usize, end: usize) -> Self {
        GroupEntries { msg, def, pos, end }
    }

    /// The group's definition.
    pub fn def(&self) -> &'static GroupDef {
        self.def
    }
}

impl<'m, 'a> Iterator for GroupEntries<'m, 'a> {
    type Item = GroupEntry<'m, 'a>;

    fn next(&mut self) -> Option<GroupEntry<'m, 'a>> {
        let start = self.pos;
        if start >= self.end || self.msg.field_at(start).map(|f| f.0) != Some(self.def.delimiter) {
            return None;
        }
        let mut end = start + 1;
        while end < self.end {
            match self.msg.field_at(end) {
                Some((t, _))
                    if t != self.def.delimiter && self.def.all_tags.binary_search(&t).is_ok() =>
                {
                    end += 1;
                }
                _ => break,
            }
        }
        self.pos = end;
        Some(GroupEntry {
            msg: self.msg,
            def: self.def,
            start,
            end,
        })
    }
}

/// One entry of a repeating group: the fields from its delimiter to the next entry.
#[derive(Clone, Copy, Debug)]
pub struct GroupEntry<'m, 'a> {
    msg: &'m Message<'a>,
    def: &'static GroupDef,
    start: usize,
    end: usize,
}

impl<'m, 'a> GroupEntry<'m, 'a> {
    /// The value of `tag` in this entry (not inside its nested groups' entries).
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        self.fields().find(|&(t, _)| t == tag).map(|(_, v)| v)
    }

    /// The entry's fields in order, nested groups included.
    pub fn fields(&self) -> impl Iterator<Item = (u32, &'a [u8])> + '_ {
        (self.start..self.end).filter_map(|i| self.msg.field_at(i))
    }

    /// The entries of the nested group counted by `count_tag` in this entry.
    pub fn group(&self, count_tag: u32) -> Option<GroupEntries<'m, 'a>> {
        let def = self.def.body.member(count_tag)?.1.group?;
        let at = (self.start..self.end)
            .find(|&i| self.msg.field_at(i).map(|f| f.0) == Some(count_tag))?;
        Some(GroupEntries::new(self.msg, def, at + 1, self.end))
    }
}

/// Per-session validation switches, as QuickFIX names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidationOptions {
    /// `ValidateUserDefinedFields`: reject tags 5000–9999 that the dictionary does not
    /// define (when off they pass unchecked).
    pub validate_user_defined_fields: bool,
    /// `AllowUnknownMsgFields`: let tags below 5000 that the dictionary does not define,
    /// or that it does not define for this message type, pass unchecked.
    pub allow_unknown_fields: bool,
    /// `ValidateFieldsOutOfOrder`: reject header fields after the body, body fields after
    /// the trailer, and group entry fields out of dictionary order.
    pub validate_fields_out_of_order: bool,
}

impl Default for ValidationOptions {
    /// QuickFIX's defaults: user-defined fields checked, unknown fields rejected, order
    /// checked.
    fn default() -> Self {
        ValidationOptions {
            validate_user_defined_fields: true,
            allow_unknown_fields: false,
            validate_fields_out_of_order: true,
        }
    }
}

/// Why a message failed validation: what a session Reject (35=3) carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text} (tag {ref_tag_id}, MsgType {ref_msg_type:?}, seq {ref_seq_num})")]
pub struct Reject {
    /// RefSeqNum (45): MsgSeqNum of the message, 0 if it has none.
    pub ref_seq_num: u64,
    /// RefTagID (371): the offending tag.
    pub ref_tag_id: u32,
    /// RefMsgType (372).
    pub ref_msg_type: MsgType,
    /// SessionRejectReason (373).
    pub reason: SessionRejectReason,
    /// Text (58): FIX 4.4's description of the reason.
    pub text: &'static str,
}

/// First user-defined tag (FIX 4.4 Vol. 1 "User Defined Fields").
const USER_DEFINED_MIN: u32 = 5000;
/// Last user-defined tag.
const USER_DEFINED_MAX: u32 = 9999;
/// Tags below this are tracked in a bitset; higher ones by scanning.
const BITSET_TAGS: u32 = 4096;

/// Tags seen so far at the top level of a message.
struct Seen {
    bits: [u64; (BITSET_TAGS / 64) as usize],
}

impl Seen {
    /// Marks `tag`; `false` if it was already marked. Tags beyond the bitset are checked
    /// against the message's fields before `upto`.
    fn insert(&mut self, tag: u32, msg: &Message<'_>, upto: usize) -> bool {
        if tag >= BITSET_TAGS {
            return !(0..upto).any(|i| msg.field_at(i).map(|f| f.0) == Some(tag));
        }
        let word = self.bits.get_mut((tag / 64) as usize);
        match word {
            Some(w) => {
                let bit = 1u64 << (tag % 64);
                let fresh = *w & bit == 0;
                *w |= bit;
                fresh
            }
            None => true,
        }
    }

    fn contains(&self, tag: u32, msg: &Message<'_>) -> bool {
        if tag >= BITSET_TAGS {
            return msg.get(tag).is_some();
        }
        self.bits
            .get((tag / 64) as usize)
            .is_some_and(|w| w & (1u64 << (tag % 64)) != 0)
    }
}

/// Which part of the message the walk is in.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Header,
    Body,
    Trailer,
}

/// The walk over one message's fields.
struct Walk<'m, 'a> {
    msg: &'m Message<'a>,
    dict: &'m Dictionary,
    opts: &'m ValidationOptions,
    pos: usize,
}

/// Validates `msg` against `dict` (FIX 4.4 Vol. 2 "Message Validation"). Allocation-free.
pub fn validate(
    msg: &Message<'_>,
    dict: &Dictionary,
    opts: &ValidationOptions,
) -> Result<(), Reject> {
    let reject = |tag: u32, reason: SessionRejectReason| Reject {
        ref_seq_num: msg.get(tag::MSG_SEQ_NUM).and_then(parse_uint).unwrap_or(0),
        ref_tag_id: tag,
        ref_msg_type: msg.msg_type(),
        reason,
        text: reason.spec_text(),
    };
    let Some(def) = dict.message(msg.msg_type()) else {
        return Err(reject(tag::MSG_TYPE, SessionRejectReason::InvalidMsgType));
    };
    let mut walk = Walk {
        msg,
        dict,
        opts,
        pos: 0,
    };
    walk.top(def).map_err(|(t, r)| reject(t, r))
}

impl Walk<'_, '_> {
    /// The header, body and trailer, then their required fields.
    fn top(&mut self, def: &MessageDef) -> Result<(), (u32, SessionRejectReason)> {
        let mut seen = Seen {
            bits: [0; (BITSET_TAGS / 64) as usize],
        };
        let mut part = Part::Header;
        while let Some((t, v)) = self.msg.field_at(self.pos) {
            let at = self.pos;
            self.pos += 1;
            let Some(field) = self.dict.field(t) else {
                if self.unknown_passes(t) {
                    continue;
                }
                return Err((t, SessionRejectReason::InvalidTagNumber));
            };
            if !seen.insert(t, self.msg, at) {
                return Err((t, SessionRejectReason::TagAppearsMoreThanOnce));
            }
            let (member, now_in) = if let Some((_, m)) = self.dict.header.member(t) {
                (m, Part::Header)
            } else if let Some((_, m)) = def.body.member(t) {
                (m, Part::Body)
            } else if let Some((_, m)) = self.dict.trailer.member(t) {
                (m, Part::Trailer)
            } else {
                if self.opts.allow_unknown_fields {
                    continue;
                }
                return Err((t, SessionRejectReason::TagNotDefinedForMsgType));
            };
            if now_in < part && self.opts.validate_fields_out_of_order {
                return Err((t, SessionRejectReason::TagOutOfOrder));
            }
            part = part.max(now_in);
            check_value(field, v).map_err(|r| (t, r))?;
            if let Some(group) = member.group {
                self.group(group, v)?;
            }
        }
        for section in [self.dict.header, &def.body, self.dict.trailer] {
            for &t in section.required {
                let framed = matches!(t, tag::BEGIN_STRING | tag::BODY_LENGTH | tag::CHECK_SUM);
                if !framed && !seen.contains(t, self.msg) {
                    return Err((t, SessionRejectReason::RequiredTagMissing));
                }
            }
        }
        Ok(())
    }

    /// Whether an undefined tag passes under the options.
    fn unknown_passes(&self, t: u32) -> bool {
        if (USER_DEFINED_MIN..=USER_DEFINED_MAX).contains(&t) {
            !self.opts.validate_user_defined_fields
        } else {
            self.opts.allow_unknown_fields
        }
    }

    /// The entries of `group`, whose NumInGroup value is `count`, from `self.pos`.
    fn group(&mut self, group: &GroupDef, count: &[u8]) -> Result<(), (u32, SessionRejectReason)> {
        let count =
            parse_uint(count).ok_or((group.count_tag, SessionRejectReason::IncorrectDataFormat))?;
        let wrong_count = (
            group.count_tag,
            SessionRejectReason::IncorrectNumInGroupCount,
        );
        for _ in 0..count {
            match self.msg.field_at(self.pos) {
                Some((t, _)) if t == group.delimiter => self.entry(group)?,
                Some((t, _)) if group.body.member(t).is_some() => {
                    return Err((t, SessionRejectReason::RepeatingGroupFieldsOutOfOrder));
                }
                _ => return Err(wrong_count),
            }
        }
        match self.msg.field_at(self.pos) {
            Some((t, _)) if t == group.delimiter => Err(wrong_count),
            _ => Ok(()),
        }
    }

    /// One entry of `group`, starting at its delimiter at `self.pos`.
    fn entry(&mut self, group: &GroupDef) -> Result<(), (u32, SessionRejectReason)> {
        let mut seen = [0u64; 4];
        let mut last = 0usize;
        let mut first = true;
        while let Some((t, v)) = self.msg.field_at(self.pos) {
            if t == group.delimiter && !first {
                break;
            }
            let Some((ix, member)) = group.body.member(t) else {
                break;
            };
            first = false;
            self.pos += 1;
            let mark = seen.get_mut(ix / 64).map(|w| {
                let bit = 1u64 << (ix % 64);
                let fresh = *w & bit == 0;
                *w |= bit;
                fresh
            });
            if mark == Some(false) {
                return Err((t, SessionRejectReason::TagAppearsMoreThanOnce));
            }
            if ix < last && self.opts.validate_fields_out_of_order {
                return Err((t, SessionRejectReason::RepeatingGroupFieldsOutOfOrder));
            }
            last = ix;
            let field = self
                .dict
                .field(t)
                .ok_or((t, SessionRejectReason::InvalidTagNumber))?;
            check_value(field, v).map_err(|r| (t, r))?;
            if let Some(nested) = member.group {
                self.group(nested, v)?;
            }
        }
        for &t in group.body.required {
            let present = group.body.member(t).is_some_and(|(ix, _)| {
                seen.get(ix / 64)
                    .is_none_or(|w| w & (1u64 << (ix % 64)) != 0)
            });
            if !present {
                return Err((t, SessionRejectReason::RequiredTagMissing));
            }
        }
        Ok(())
    }
}

/// Checks a value's data format (6), then its enumerated values (5).
fn check_value(field: &FieldDef, v: &[u8]) -> Result<(), SessionRejectReason> {
    if v.is_empty() {
        return Err(SessionRejectReason::TagWithoutValue);
    }
    if !format_ok(field.ty, v) {
        return Err(SessionRejectReason::IncorrectDataFormat);
    }
    if field.values.is_empty() {
        return Ok(());
    }
    let known = |token: &[u8]| {
        field
            .values
            .binary_search_by(|probe| probe.as_bytes().cmp(token))
            .is_ok()
    };
    let ok = match field.ty {
        FieldType::MultipleCharValue | FieldType::MultipleStringValue => {
            v.split(|&b| b == b' ').all(known)
        }
        _ => known(v),
    };
    if ok {
        Ok(())
    } else {
        Err(SessionRejectReason::ValueIncorrect)
    }
}

/// Whether `v` has the text form of `ty` (FIX 4.4 Vol. 1 "Data Types").
fn format_ok(ty: FieldType, v: &[u8]) -> bool {
    match ty {
        FieldType::Int => int_ok(v.strip_prefix(b"-").unwrap_or(v)),
        FieldType::Length | FieldType::SeqNum | FieldType::NumInGroup | FieldType::TagNum => {
            int_ok(v)
        }
        FieldType::DayOfMonth => parse_uint(v).is_some_and(|d| (1..=31).contains(&d)),
        FieldType::Float
        | FieldType::Qty
        | FieldType::Price
        | FieldType::PriceOffset
        | FieldType::Amt
        | FieldType::Percentage => decimal_ok(v),
        FieldType::Char => v.len() == 1,
        FieldType::Boolean => matches!(v, b"Y" | b"N"),
        FieldType::MultipleCharValue => v.split(|&b| b == b' ').all(|t| t.len() == 1),
        FieldType::MultipleStringValue => v.split(|&b| b == b' ').all(|t| !t.is_empty()),
        FieldType::MonthYear => month_year_ok(v),
        FieldType::UtcTimestamp => parse_timestamp(v).is_some(),
        FieldType::UtcTimeOnly => time_ok(v),
        FieldType::UtcDateOnly | FieldType::LocalMktDate => date_ok(v),
        FieldType::String
        | FieldType::Country
        | FieldType::Currency
        | FieldType::Exchange
        | FieldType::LocalMktTime
        | FieldType::TzTimeOnly
        | FieldType::TzTimestamp
        | FieldType::Data
        | FieldType::XmlData
        | FieldType::Language
        | FieldType::Pattern
        | FieldType::Tenor
        | FieldType::Reserved => true,
    }
}

/// One or more ASCII digits.
fn int_ok(v: &[u8]) -> bool {
    !v.is_empty() && v.iter().all(u8::is_ascii_digit)
}

/// An optional `-`, digits with at most one `.`, at least one digit.
fn decimal_ok(v: &[u8]) -> bool {
    let v = v.strip_prefix(b"-").unwrap_or(v);
    let mut digits = 0usize;
    let mut points = 0usize;
    for &b in v {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => points += 1,
            _ => return false,
        }
    }
    digits > 0 && points <= 1
}

/// `YYYYMMDD`, a real calendar date.
fn date_ok(v: &[u8]) -> bool {
    if v.len() != 8 || !int_ok(v) {
        return false;
    }
    let mut ts = [0u8; 17];
    if let Some(slot) = ts.get_mut(..8) {
        slot.copy_from_slice(v);
    }
    if let Some(slot) = ts.get_mut(8..) {
        slot.copy_from_slice(b"-00:00:00");
    }
    // The Gregorian calendar repeats every 400 years: check the same date in 2000–2399,
    // which the timestamp parser covers, so that any year 0000–9999 is judged.
    let year = parse_uint(v.get(..4).unwrap_or_default()).unwrap_or(0);
    let mut y = 2000 + year % 400;
    for slot in ts.get_mut(..4).unwrap_or_default().iter_mut().rev() {
        *slot = b'0' + (y % 10) as u8;
        y /= 10;
    }
    parse_timestamp(&ts).is_some()
}

/// `HH:MM:SS` with optional `.sss`, `.ssssss` or `.sssssssss`.
fn time_ok(v: &[u8]) -> bool {
    let mut ts = [0u8; 27];
    let len = 9 + v.len();
    let Some(slot) = ts.get_mut(..len) else {
        return false;
    };
    let (date, time) = slot.split_at_mut(9);
    date.copy_from_slice(b"20000101-");
    time.copy_from_slice(v);
    v.len() >= 8 && parse_timestamp(ts.get(..len).unwrap_or_default()).is_some()
}

/// `YYYYMM`, `YYYYMMDD` or `YYYYMMwN` (week 1–5).
fn month_year_ok(v: &[u8]) -> bool {
    let month_ok = |m: &[u8]| parse_uint(m).is_some_and(|m| (1..=12).contains(&m));
    match v.len() {
        6 => int_ok(v) && month_ok(v.get(4..6).unwrap_or_default()),
        8 if v.get(6) == Some(&b'w') => {
            int_ok(v.get(..6).unwrap_or_default())
                && month_ok(v.get(4..6).unwrap_or_default())
                && matches!(v.get(7), Some(b'1'..=b'5'))
        }
        8 => date_ok(v),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_hold_fix44() {
        let d = Dictionary::fix44();
        let handl_inst = d.field(21).unwrap_or_else(|| panic!("HandlInst missing"));
        assert_eq!(handl_inst.name, "HandlInst");
        assert_eq!(handl_inst.ty, FieldType::Char);
        assert_eq!(handl_inst.values, &["1", "2", "3"]);
        let nos = d
            .message(MsgType::NEW_ORDER_SINGLE)
            .unwrap_or_else(|| panic!("D missing"));
        assert_eq!(nos.name, "NewOrderSingle");
        let parties = nos
            .body
            .member(453)
            .and_then(|(_, m)| m.group)
            .unwrap_or_else(|| panic!("Parties missing"));
        assert_eq!(parties.delimiter, 448);
        assert!(
            parties
                .body
                .member(802)
                .is_some_and(|(_, m)| m.group.is_some())
        );
        assert!(parties.all_tags.binary_search(&523).is_ok());
        for t in [11, 54, 60, 40] {
            assert!(nos.body.required.contains(&t), "{t} required");
        }
        assert!(d.header().required.contains(&tag::SENDING_TIME));
        assert!(
            d.message(MsgType::from_bytes(b"ZZ").unwrap_or(MsgType::UNKNOWN))
                .is_none()
        );
    }

    #[test]
    fn data_formats() {
        assert!(format_ok(FieldType::Int, b"-12"));
        assert!(!format_ok(FieldType::Int, b"1.5"));
        assert!(format_ok(FieldType::Price, b"-0.25"));
        assert!(!format_ok(FieldType::Price, b"1.2.3"));
        assert!(!format_ok(FieldType::Qty, b"."));
        assert!(format_ok(FieldType::UtcTimestamp, b"20240131-23:59:59.999"));
        assert!(!format_ok(FieldType::UtcTimestamp, b"20240131 23:59:59"));
        assert!(format_ok(FieldType::UtcTimeOnly, b"23:59:59.123"));
        assert!(!format_ok(FieldType::UtcTimeOnly, b"24:00:00"));
        assert!(format_ok(FieldType::LocalMktDate, b"19600229"));
        assert!(!format_ok(FieldType::LocalMktDate, b"20230229"));
        assert!(format_ok(FieldType::LocalMktDate, b"99991231"));
        assert!(!format_ok(FieldType::LocalMktDate, b"21000229"));
        assert!(format_ok(FieldType::MonthYear, b"202403"));
        assert!(format_ok(FieldType::MonthYear, b"202403w2"));
        assert!(!format_ok(FieldType::MonthYear, b"202413"));
        assert!(format_ok(FieldType::Boolean, b"Y"));
        assert!(!format_ok(FieldType::Boolean, b"y"));
        assert!(format_ok(FieldType::MultipleCharValue, b"6 E"));
        assert!(!format_ok(FieldType::MultipleCharValue, b"6  E"));
    }
}
