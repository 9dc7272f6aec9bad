//! Outgoing order commands and where they go: [`OrderCommand`] (a wire `NewOrder`,
//! `CancelOrder` or `ReplaceOrder` held by value), the [`OrderSink`] trait the caller
//! implements (an RDMA message channel live, a `Vec` or a journal in replay), and the
//! deterministic client order id scheme ([`ClOrdIdGen`]).
//!
//! # Client order ids
//!
//! Every id an engine generates is `{tag}{slot}-{seq}`: `tag` is the engine's id tag
//! (0 to 4 ASCII letters or digits, from configuration, so that two sessions never reuse
//! ids), `slot` is the strategy's index in the engine in base 36 (1 or 2 characters), and
//! `seq` is that strategy's request counter in base 36, from 1, shared by new orders,
//! cancels and replaces. Ids depend only on the order in which a strategy sends requests,
//! so a replay generates the same ids as the recording. The engine routes an execution to
//! its strategy by parsing `slot` back out of the id ([`ClOrdIdGen::parse_slot`]).
//!
//! This module does no I/O and reads no clock; formatting an id does not allocate.

use core::fmt;

use tickwarp_wire::{
    CancelOrder, ClientOrderId, DecodeError, InstrumentId, IntoBytes, Message, MessageType,
    NewOrder, OrderType, ReplaceOrder, Side, TickCause, TimeInForce, decode,
};

/// Largest number of strategies one engine can hold: two base-36 digits of slot.
pub const MAX_STRATEGIES: usize = 36 * 36;

/// Longest engine id tag.
pub const MAX_ID_TAG: usize = 4;

/// Base-36 digits, most significant first.
const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// An order command on its way out, held by value (a 128-byte wire record).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderCommand {
    /// A new order.
    New(NewOrder),
    /// A cancel request.
    Cancel(CancelOrder),
    /// A cancel/replace request.
    Replace(ReplaceOrder),
}

/// Why bytes are not an order command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandDecodeError {
    /// The bytes are not a valid record.
    #[error("bad record: {0}")]
    Decode(#[from] DecodeError),
    /// A valid record of a type that is not an order command.
    #[error("record type {0:?} is not an order command")]
    NotACommand(MessageType),
}

impl OrderCommand {
    /// The command encoded at the start of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<OrderCommand, CommandDecodeError> {
        match decode(bytes)? {
            Message::NewOrder(r) => Ok(OrderCommand::New(*r)),
            Message::CancelOrder(r) => Ok(OrderCommand::Cancel(*r)),
            Message::ReplaceOrder(r) => Ok(OrderCommand::Replace(*r)),
            other => Err(CommandDecodeError::NotACommand(other.msg_type())),
        }
    }

    /// The record's bytes (128).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            OrderCommand::New(r) => r.as_bytes(),
            OrderCommand::Cancel(r) => r.as_bytes(),
            OrderCommand::Replace(r) => r.as_bytes(),
        }
    }

    /// The wire message type.
    pub fn msg_type(&self) -> MessageType {
        match self {
            OrderCommand::New(_) => MessageType::NewOrder,
            OrderCommand::Cancel(_) => MessageType::CancelOrder,
            OrderCommand::Replace(_) => MessageType::ReplaceOrder,
        }
    }

    /// This request's client order id.
    pub fn cl_ord_id(&self) -> ClientOrderId {
        match self {
            OrderCommand::New(r) => r.cl_ord_id(),
            OrderCommand::Cancel(r) => r.cl_ord_id(),
            OrderCommand::Replace(r) => r.cl_ord_id(),
        }
    }

    /// The order a cancel or replace refers to.
    pub fn orig_cl_ord_id(&self) -> Option<ClientOrderId> {
        match self {
            OrderCommand::New(_) => None,
            OrderCommand::Cancel(r) => Some(r.orig_cl_ord_id()),
            OrderCommand::Replace(r) => Some(r.orig_cl_ord_id()),
        }
    }

    /// The instrument.
    pub fn instrument(&self) -> InstrumentId {
        match self {
            OrderCommand::New(r) => r.instrument(),
            OrderCommand::Cancel(r) => r.instrument(),
            OrderCommand::Replace(r) => r.instrument(),
        }
    }

    /// The tick that caused the command and its send time.
    pub fn cause(&self) -> TickCause {
        match self {
            OrderCommand::New(r) => r.cause(),
            OrderCommand::Cancel(r) => r.cause(),
            OrderCommand::Replace(r) => r.cause(),
        }
    }
}

/// Short text for a side.
fn side_str(side: Side) -> &'static str {
    match side {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

/// Short text for a time in force.
fn tif_str(tif: TimeInForce) -> &'static str {
    match tif {
        TimeInForce::Day => "DAY",
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::Fok => "FOK",
    }
}

impl fmt::Display for OrderCommand {
    /// One line: kind, ids, side, quantity, price, type, instrument and causing tick.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cause = self.cause();
        match self {
            OrderCommand::New(r) => {
                write!(
                    f,
                    "NEW {} {} {} ",
                    r.cl_ord_id(),
                    side_str(r.side()),
                    r.qty()
                )?;
                match r.ord_type() {
                    OrderType::Market => f.write_str("MKT")?,
                    OrderType::Limit => write!(f, "@ {}", r.price())?,
                }
                write!(f, " {}", tif_str(r.tif()))?;
            }
            OrderCommand::Cancel(r) => write!(
                f,
                "CANCEL {} of {} {}",
                r.cl_ord_id(),
                r.orig_cl_ord_id(),
                side_str(r.side())
            )?,
            OrderCommand::Replace(r) => write!(
                f,
                "REPLACE {} of {} {} {} @ {} {}",
                r.cl_ord_id(),
                r.orig_cl_ord_id(),
                side_str(r.side()),
                r.qty(),
                r.price(),
                tif_str(r.tif())
            )?,
        }
        write!(
            f,
            " instr {} tick seq {} recv {} sent {}",
            self.instrument(),
            cause.feed_seq.get(),
            cause.recv_ts.get(),
            cause.send_ts.get()
        )
    }
}

/// Why a sink refused a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// No room right now (no credit, queue full); the command was not sent.
    #[error("order sink is full")]
    Full,
    /// The sink is closed for good.
    #[error("order sink is closed")]
    Closed,
}

/// Where the engine sends order commands. Implemented by the caller: the live engine
/// agent sends them over an RDMA message channel, replay collects them.
pub trait OrderSink {
    /// Sends one command; on error the command was not sent and the engine forgets it.
    fn send(&mut self, order: &OrderCommand) -> Result<(), SinkError>;
}

impl OrderSink for Vec<OrderCommand> {
    fn send(&mut self, order: &OrderCommand) -> Result<(), SinkError> {
        self.push(*order);
        Ok(())
    }
}

impl<K: OrderSink + ?Sized> OrderSink for &mut K {
    fn send(&mut self, order: &OrderCommand) -> Result<(), SinkError> {
        (**self).send(order)
    }
}

/// Why an engine id tag was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdTagError {
    /// Longer than [`MAX_ID_TAG`].
    #[error("id tag of {len} bytes, at most 4 allowed")]
    TooLong {
        /// Length of the tag.
        len: usize,
    },
    /// A byte other than an ASCII letter or digit.
    #[error("id tag byte {byte:#04x} at {pos} is not an ASCII letter or digit")]
    BadChar {
        /// Offset of the byte.
        pos: usize,
        /// The byte.
        byte: u8,
    },
}

/// Checks an engine id tag: 0 to 4 ASCII letters or digits.
pub fn check_id_tag(tag: &str) -> Result<(), IdTagError> {
    if tag.len() > MAX_ID_TAG {
        return Err(IdTagError::TooLong { len: tag.len() });
    }
    match tag.bytes().position(|b| !b.is_ascii_alphanumeric()) {
        Some(pos) => Err(IdTagError::BadChar {
            pos,
            byte: tag.as_bytes().get(pos).copied().unwrap_or(0),
        }),
        None => Ok(()),
    }
}

/// Generates one strategy's client order ids (scheme in the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClOrdIdGen {
    /// `{tag}{slot}-`.
    prefix: [u8; ClientOrderId::LEN],
    /// Bytes of `prefix` in use.
    prefix_len: usize,
    /// The last counter value handed out.
    last: u64,
    /// Added to the counter in the id (an engine incarnation's id space, see
    /// [`ClOrdIdGen::with_epoch`]).
    base: u64,
}

impl ClOrdIdGen {
    /// The generator for strategy `slot` under engine tag `tag`.
    pub fn new(tag: &str, slot: usize) -> Result<ClOrdIdGen, IdTagError> {
        check_id_tag(tag)?;
        let mut prefix = [0u8; ClientOrderId::LEN];
        let mut len = 0;
        for &b in tag.as_bytes() {
            put(&mut prefix, &mut len, b);
        }
        let slot = slot % MAX_STRATEGIES;
        if slot >= 36 {
            put(&mut prefix, &mut len, digit(slot / 36));
        }
        put(&mut prefix, &mut len, digit(slot % 36));
        put(&mut prefix, &mut len, b'-');
        Ok(ClOrdIdGen {
            prefix,
            prefix_len: len,
            last: 0,
            base: 0,
        })
    }

    /// The same generator in id space `epoch`: the id's `seq` is `epoch * 2^32 +
    /// counter`, so an engine restarted under the same tag with a new epoch never
    /// repeats an id of an earlier run (epoch 0 is the plain scheme). The counter values
    /// returned by [`ClOrdIdGen::next_id`] still start at 1.
    pub fn with_epoch(mut self, epoch: u32) -> ClOrdIdGen {
        self.base = u64::from(epoch) << 32;
        self
    }

    /// The next id and its counter value, or `None` once the counter no longer fits.
    pub fn next_id(&mut self) -> Option<(ClientOrderId, u64)> {
        let n = self.last.checked_add(1)?;
        let mut digits = [0u8; 16];
        let mut count = 0;
        let mut v = self.base.checked_add(n)?;
        while v > 0 {
            put(&mut digits, &mut count, digit((v % 36) as usize));
            v /= 36;
        }
        if self.prefix_len + count > ClientOrderId::LEN {
            return None;
        }
        let mut raw = self.prefix;
        let mut len = self.prefix_len;
        for &d in digits.get(..count).unwrap_or_default().iter().rev() {
            put(&mut raw, &mut len, d);
        }
        let id = ClientOrderId::from_wire(&raw).ok()?;
        self.last = n;
        Some((id, n))
    }

    /// How many ids were handed out.
    pub fn issued(&self) -> u64 {
        self.last
    }

    /// The strategy slot encoded in an id generated under engine tag `tag`, if it is one.
    pub fn parse_slot(tag: &str, id: &ClientOrderId) -> Option<usize> {
        let rest = id.as_str().strip_prefix(tag)?;
        let (slot, seq) = rest.split_once('-')?;
        if slot.is_empty() || slot.len() > 2 || seq.is_empty() {
            return None;
        }
        slot.bytes()
            .try_fold(0usize, |acc, b| Some(acc * 36 + undigit(b)?))
    }
}

/// Writes `b` at `buf[*len]` if there is room and advances `len`.
fn put(buf: &mut [u8], len: &mut usize, b: u8) {
    if let Some(slot) = buf.get_mut(*len) {
        *slot = b;
        *len += 1;
    }
}

/// The base-36 digit for `v` (`v < 36`).
fn digit(v: usize) -> u8 {
    DIGITS.get(v).copied().unwrap_or(b'0')
}

/// The value of a base-36 digit.
fn undigit(b: u8) -> Option<usize> {
    DIGITS.iter().position(|&d| d == b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tickwarp_wire::{AccountId, OrderSpec, Price, Qty};

    #[test]
    fn id_scheme() {
        let mut g = ClOrdIdGen::new("R1", 0).unwrap_or_else(|e| panic!("{e}"));
        let (id, n) = g.next_id().unwrap_or_else(|| panic!("no id"));
        assert_eq!((id.as_str(), n), ("R10-1", 1));
        let mut g = ClOrdIdGen::new("", 37).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..35 {
            let _ = g.next_id();
        }
        let (id, _) = g.next_id().unwrap_or_else(|| panic!("no id"));
        assert_eq!(id.as_str(), "11-10");
        assert_eq!(ClOrdIdGen::parse_slot("", &id), Some(37));
        assert_eq!(ClOrdIdGen::parse_slot("X", &id), None);
        assert_eq!(check_id_tag("TOOLONG"), Err(IdTagError::TooLong { len: 7 }));
        assert_eq!(
            check_id_tag("a-b"),
            Err(IdTagError::BadChar { pos: 1, byte: b'-' })
        );
    }

    #[test]
    fn epochs_never_repeat_an_id_of_another_epoch() {
        let first = |epoch| {
            let mut g = ClOrdIdGen::new("A", 0)
                .unwrap_or_else(|e| panic!("{e}"))
                .with_epoch(epoch);
            let (id, n) = g.next_id().unwrap_or_else(|| panic!("no id"));
            (id.as_str().to_owned(), n)
        };
        assert_eq!(first(0), ("A0-1".to_owned(), 1));
        // 2^32 + 1 in base 36.
        assert_eq!(first(1), ("A0-1Z141Z5".to_owned(), 1));
        assert_ne!(first(1).0, first(2).0);
        let mut g = ClOrdIdGen::new("A", 0)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_epoch(u32::MAX);
        assert!(g.next_id().is_some(), "a short tag fits every epoch");
        let mut g = ClOrdIdGen::new("ABCD", 1295)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_epoch(20_000);
        assert!(
            g.next_id().is_some(),
            "the longest prefix fits 20,000 epochs"
        );
    }

    #[test]
    fn ids_run_out_instead_of_overflowing() {
        let mut g = ClOrdIdGen::new("ABCD", 1295).unwrap_or_else(|e| panic!("{e}"));
        g.last = 36u64.pow(9) - 2;
        let (id, _) = g.next_id().unwrap_or_else(|| panic!("no id"));
        assert_eq!(id.len(), 16);
        assert_eq!(g.next_id(), None);
    }

    #[test]
    fn command_round_trip_and_display() {
        let spec = OrderSpec {
            instrument: InstrumentId(3),
            account: AccountId(1),
            side: Side::Sell,
            ord_type: OrderType::Limit,
            tif: TimeInForce::Ioc,
            price: Price::from_ticks(1_234_500),
            qty: Qty(10),
        };
        let id = ClientOrderId::new("0-1").unwrap_or_else(|e| panic!("{e}"));
        let cmd = OrderCommand::New(NewOrder::new(id, &spec, TickCause::NONE));
        assert_eq!(OrderCommand::from_bytes(cmd.as_bytes()), Ok(cmd));
        assert_eq!(
            cmd.to_string(),
            "NEW 0-1 SELL 10 @ 123.4500 IOC instr 3 tick seq 0 recv 0 sent 0"
        );
        let hb = tickwarp_wire::MdHeartbeat::new(tickwarp_wire::MdMeta::default());
        assert_eq!(
            OrderCommand::from_bytes(hb.as_bytes()),
            Err(CommandDecodeError::NotACommand(MessageType::MdHeartbeat))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn parse_slot_inverts_generation(slot in 0usize..MAX_STRATEGIES, skip in 0u64..5000, tag in "[A-Z0-9]{0,4}") {
            let mut g = ClOrdIdGen::new(&tag, slot).unwrap_or_else(|e| panic!("{e}"));
            g.last = skip;
            let (id, n) = g.next_id().unwrap_or_else(|| panic!("no id"));
            prop_assert_eq!(n, skip + 1);
            prop_assert_eq!(ClOrdIdGen::parse_slot(&tag, &id), Some(slot));
        }

        #[test]
        fn parse_slot_never_panics(raw in "[!-~]{1,16}") {
            if let Ok(id) = ClientOrderId::new(&raw) {
                let _ = ClOrdIdGen::parse_slot("", &id);
            }
        }

        #[test]
        fn command_from_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = OrderCommand::from_bytes(&bytes);
        }
    }
}
