//! The market data recorder: every record the publisher puts on the rings goes into a
//! [`tickwarp_wire::journal`] journal, so `tickwarp replay` can run strategies over the
//! session later.
//!
//! # Convention
//!
//! Identical to `tickwarp_strategies::replay::journal` (which reads it back; that crate
//! depends on this one, so the convention is restated here rather than shared):
//!
//! - `record_type` is the wire [`MessageType`] as its `u16` value;
//! - the payload is the record's bytes exactly as encoded, header included;
//! - the journal timestamp is the record's venue timestamp.
//!
//! Only market data records are accepted ([`RecorderError::NotMarketData`]). The fsync
//! policy is the caller's ([`FsyncPolicy::Never`] or [`FsyncPolicy::Batched`] suit market
//! data: it can be re-fetched, orders cannot).
//!
//! This module does file I/O only through the journal, reads no clock (`now` drives the
//! batched fsync) and allocates nothing per record.

use std::path::Path;

use thiserror::Error;
use tickwarp_runtime::Nanos;
use tickwarp_wire::journal::{FsyncPolicy, JournalConfig, JournalError, JournalWriter};
use tickwarp_wire::{DecodeError, MessageType, SeqNo, decode};

use crate::publisher::md_meta;

/// Why a record was not recorded.
#[derive(Debug, Error)]
pub enum RecorderError {
    /// The journal failed (the recorder is unusable afterwards).
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// The bytes are not a wire record.
    #[error("bad record: {0}")]
    Decode(#[from] DecodeError),
    /// A valid record that is not market data.
    #[error("record type {0:?} is not market data")]
    NotMarketData(MessageType),
}

/// Appends published market data to a journal under the replay convention.
#[derive(Debug)]
pub struct Recorder {
    writer: JournalWriter,
    recorded: u64,
}

impl Recorder {
    /// Opens (creating or recovering) the journal in `dir` with `fsync` and segments of
    /// `segment_bytes`.
    pub fn open(
        dir: impl AsRef<Path>,
        fsync: FsyncPolicy,
        segment_bytes: u64,
    ) -> Result<Recorder, RecorderError> {
        let config = JournalConfig {
            segment_bytes,
            fsync,
        };
        let (writer, _) = JournalWriter::open(dir, config)?;
        Ok(Recorder::new(writer))
    }

    /// A recorder appending to `writer`.
    pub fn new(writer: JournalWriter) -> Recorder {
        Recorder {
            writer,
            recorded: 0,
        }
    }

    /// Records one encoded market data record; returns its journal sequence number.
    /// `now` drives a batched fsync policy.
    pub fn record(&mut self, record: &[u8], now: Nanos) -> Result<SeqNo, RecorderError> {
        let msg = decode(record)?;
        let meta = md_meta(&msg).ok_or(RecorderError::NotMarketData(msg.msg_type()))?;
        let seq = self.writer.append(
            record_type(msg.msg_type()),
            meta.venue_ts,
            msg.as_bytes(),
            now,
        )?;
        self.recorded += 1;
        Ok(seq)
    }

    /// Syncs if a batched fsync is due at `now`; true if it synced.
    pub fn poll(&mut self, now: Nanos) -> Result<bool, RecorderError> {
        Ok(self.writer.poll(now)?)
    }

    /// Records written.
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    /// Syncs everything and returns the writer.
    pub fn finish(mut self) -> Result<JournalWriter, RecorderError> {
        self.writer.sync()?;
        Ok(self.writer)
    }
}

/// The journal record type of a wire message type (the convention above).
pub const fn record_type(ty: MessageType) -> u16 {
    ty.to_u16()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwarp_wire::journal::JournalReader;
    use tickwarp_wire::{
        AccountId, ClientOrderId, InstrumentId, IntoBytes, MdMeta, MdTrade, NewOrder, OrderSpec,
        OrderType, Price, Qty, Side, TickCause, TimeInForce, UnixNanos,
    };

    #[test]
    fn records_under_the_convention() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("md");
        let mut rec = Recorder::open(&dir, FsyncPolicy::Never, 1 << 20).unwrap();
        let meta = MdMeta {
            instrument: InstrumentId(3),
            feed_seq: SeqNo(9),
            venue_ts: UnixNanos(77),
            recv_ts: Nanos(5),
        };
        let trade = MdTrade::new(meta, 1, Some(Side::Buy), Price::from_ticks(10), Qty(2));
        assert_eq!(rec.record(trade.as_bytes(), Nanos(5)).unwrap(), SeqNo(1));
        let spec = OrderSpec {
            instrument: InstrumentId(3),
            account: AccountId(1),
            side: Side::Buy,
            ord_type: OrderType::Limit,
            tif: TimeInForce::Day,
            price: Price::from_ticks(10),
            qty: Qty(1),
        };
        let order = NewOrder::new(ClientOrderId::new("A-1").unwrap(), &spec, TickCause::NONE);
        assert!(matches!(
            rec.record(order.as_bytes(), Nanos(6)),
            Err(RecorderError::NotMarketData(MessageType::NewOrder))
        ));
        assert!(matches!(
            rec.record(&[1, 2, 3], Nanos(6)),
            Err(RecorderError::Decode(_))
        ));
        assert_eq!(rec.recorded(), 1);
        rec.finish().unwrap();
        let mut reader = JournalReader::open(&dir, SeqNo(1)).unwrap();
        let r = reader.next().unwrap().unwrap();
        assert_eq!(r.record_type, 0x0113);
        assert_eq!(r.payload, trade.as_bytes());
        assert_eq!(r.timestamp, UnixNanos(77));
        assert!(reader.next().unwrap().is_none());
    }
}
