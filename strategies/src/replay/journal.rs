//! The journal conventions of recorded market data and orders, in one place.
//!
//! # Convention
//!
//! A journal ([`tickwarp_wire::journal`]) records wire records one per journal record:
//!
//! - `record_type` is the wire [`MessageType`] as its `u16` value (`0x0113` for an
//!   `MdTrade`, `0x0200` for a `NewOrder`, ...);
//! - the payload is the record's bytes exactly as encoded, header included, so
//!   [`tickwarp_wire::decode`] reads it back without outside knowledge;
//! - the journal timestamp is the record's venue timestamp for market data, and the
//!   causing tick's venue timestamp for orders (0 for an order no tick caused).
//!
//! The feed's recorder writes market data this way ([`append_md`]); replay reads it back
//! with [`JournalMdSource`], skipping (and counting) records of other types, so one
//! journal may hold market data and orders together. Orders are written with
//! [`JournalOrderSink`] and read back with [`read_commands`].
//!
//! This module does file I/O only through `tickwarp_wire::journal`; it reads no clock
//! (the `now` for batched fsync is an argument or the order's send time).

use std::path::Path;

use tickwarp_wire::journal::{JournalError, JournalReader, JournalWriter};
use tickwarp_wire::{Header, MessageType, Nanos, SeqNo, decode};

use crate::agent::{MdSource, SourceError};
use crate::event::Tick;
use crate::order::{CommandDecodeError, OrderCommand, OrderSink, SinkError};

/// Why a record could not be recorded or read back under the convention.
#[derive(Debug, thiserror::Error)]
pub enum JournalConventionError {
    /// The journal failed.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// The bytes are not a valid wire record.
    #[error("bad record: {0}")]
    Decode(#[from] tickwarp_wire::DecodeError),
    /// A valid record of the wrong kind (an order where market data belongs, ...).
    #[error("record type {0:?} is not allowed here")]
    WrongKind(MessageType),
    /// A journal record whose type field disagrees with its payload's header.
    #[error("journal record {seq:?}: type {record_type:#06x} but payload is {payload_type:#06x}")]
    TypeMismatch {
        /// The journal sequence number.
        seq: SeqNo,
        /// The journal record type.
        record_type: u16,
        /// The payload header's message type.
        payload_type: u16,
    },
}

/// Whether `ty` is a market data type.
pub fn is_md_type(ty: u16) -> bool {
    MessageType::from_u16(ty).is_some_and(|t| {
        matches!(
            t,
            MessageType::MdHeartbeat
                | MessageType::MdSequenceReset
                | MessageType::MdAddOrder
                | MessageType::MdModifyOrder
                | MessageType::MdCancelOrder
                | MessageType::MdTrade
                | MessageType::MdBboUpdate
                | MessageType::MdBookSnapshotChunk
        )
    })
}

/// Appends one encoded market data record under the convention; returns its sequence
/// number. `now` drives a batched fsync policy.
pub fn append_md(
    writer: &mut JournalWriter,
    record: &[u8],
    now: Nanos,
) -> Result<SeqNo, JournalConventionError> {
    let msg = decode(record)?;
    let tick = Tick::from_message(msg).ok_or(JournalConventionError::WrongKind(msg.msg_type()))?;
    let ty = msg.msg_type() as u16;
    Ok(writer.append(ty, tick.meta().venue_ts, msg.as_bytes(), now)?)
}

/// Reads the market data records of a journal, in sequence order, as an [`MdSource`].
///
/// Returns `None` at the current end of the journal. Records of other types are skipped
/// and counted; a record whose type field disagrees with its payload is an error.
#[derive(Debug)]
pub struct JournalMdSource {
    reader: JournalReader,
    buf: [u8; 256],
    skipped: u64,
}

impl JournalMdSource {
    /// Opens the journal in `dir` from its first record.
    pub fn open(dir: impl AsRef<Path>) -> Result<JournalMdSource, JournalConventionError> {
        JournalMdSource::open_from(dir, SeqNo(1))
    }

    /// Opens the journal in `dir` at the first record with sequence number ≥ `from`.
    pub fn open_from(
        dir: impl AsRef<Path>,
        from: SeqNo,
    ) -> Result<JournalMdSource, JournalConventionError> {
        Ok(JournalMdSource {
            reader: JournalReader::open(dir, from)?,
            buf: [0; 256],
            skipped: 0,
        })
    }

    /// Records of other types skipped so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The next market data record, copied into the source's buffer; its length.
    fn next_md(&mut self) -> Result<Option<usize>, JournalConventionError> {
        loop {
            let Some(rec) = self.reader.next()? else {
                return Ok(None);
            };
            if !is_md_type(rec.record_type) {
                self.skipped += 1;
                continue;
            }
            let payload_type = Header::peek(rec.payload)?.msg_type();
            if payload_type != rec.record_type || rec.payload.len() > self.buf.len() {
                return Err(JournalConventionError::TypeMismatch {
                    seq: rec.seq,
                    record_type: rec.record_type,
                    payload_type,
                });
            }
            let len = rec.payload.len();
            if let Some(dst) = self.buf.get_mut(..len) {
                dst.copy_from_slice(rec.payload);
            }
            return Ok(Some(len));
        }
    }
}

impl MdSource for JournalMdSource {
    fn poll_md(&mut self) -> Result<Option<&[u8]>, SourceError> {
        match self.next_md() {
            Ok(Some(len)) => Ok(self.buf.get(..len)),
            Ok(None) => Ok(None),
            Err(e) => Err(SourceError::Failed(Box::new(e))),
        }
    }
}

/// An [`OrderSink`] that journals every command under the convention.
///
/// A journal error closes the sink (later sends fail with [`SinkError::Closed`]); the
/// error is kept for [`JournalOrderSink::error`].
#[derive(Debug)]
pub struct JournalOrderSink {
    writer: JournalWriter,
    error: Option<JournalError>,
    written: u64,
}

impl JournalOrderSink {
    /// A sink appending to `writer`.
    pub fn new(writer: JournalWriter) -> JournalOrderSink {
        JournalOrderSink {
            writer,
            error: None,
            written: 0,
        }
    }

    /// Commands written.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The journal error that closed the sink, if any.
    pub fn error(&self) -> Option<&JournalError> {
        self.error.as_ref()
    }

    /// Syncs and returns the writer.
    pub fn finish(mut self) -> Result<JournalWriter, JournalError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.writer.sync()?;
        Ok(self.writer)
    }
}

impl OrderSink for JournalOrderSink {
    fn send(&mut self, order: &OrderCommand) -> Result<(), SinkError> {
        if self.error.is_some() {
            return Err(SinkError::Closed);
        }
        let cause = order.cause();
        let ty = order.msg_type() as u16;
        match self
            .writer
            .append(ty, cause.venue_ts, order.as_bytes(), cause.send_ts)
        {
            Ok(_) => {
                self.written += 1;
                Ok(())
            }
            Err(e) => {
                self.error = Some(e);
                Err(SinkError::Closed)
            }
        }
    }
}

/// Every order command in the journal in `dir`, in sequence order (other records are
/// skipped).
pub fn read_commands(dir: impl AsRef<Path>) -> Result<Vec<OrderCommand>, JournalConventionError> {
    let mut reader = JournalReader::open(dir, SeqNo(1))?;
    let mut out = Vec::new();
    while let Some(rec) = reader.next()? {
        let is_command = MessageType::from_u16(rec.record_type).is_some_and(|t| {
            matches!(
                t,
                MessageType::NewOrder | MessageType::CancelOrder | MessageType::ReplaceOrder
            )
        });
        if !is_command {
            continue;
        }
        let cmd = OrderCommand::from_bytes(rec.payload).map_err(|e| match e {
            CommandDecodeError::Decode(d) => JournalConventionError::Decode(d),
            CommandDecodeError::NotACommand(t) => JournalConventionError::TypeMismatch {
                seq: rec.seq,
                record_type: rec.record_type,
                payload_type: t as u16,
            },
        })?;
        if cmd.msg_type() as u16 != rec.record_type {
            return Err(JournalConventionError::TypeMismatch {
                seq: rec.seq,
                record_type: rec.record_type,
                payload_type: cmd.msg_type() as u16,
            });
        }
        out.push(cmd);
    }
    Ok(out)
}
