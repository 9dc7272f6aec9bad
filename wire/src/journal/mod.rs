//! The journal: an append-only, segmented file of CRC32c-checked records.
//!
//! The gateway writes each order here before acknowledging it and the feed records market
//! data here; replay reads the same files. One [`JournalWriter`] per directory assigns
//! sequence numbers (consecutive from 1, continuing after recovery), frames records,
//! syncs them by [`FsyncPolicy`] and rolls to a new segment file by size. Any number of
//! [`JournalReader`]s position at a sequence number and follow the tail. Opening a writer
//! runs recovery, which truncates a torn tail and reports exactly what it dropped
//! ([`RecoveryReport`]); it never drops a record whose append returned under
//! [`FsyncPolicy::EveryRecord`].
//!
//! What this module must not do: read a clock (time is an argument), spawn threads,
//! allocate per append in steady state, or silently discard data anywhere but the torn
//! tail of the last segment.
//!
//! # Files
//!
//! A journal is a directory of segment files named by the sequence number of their first
//! record, zero-padded to 20 digits so names sort numerically:
//! `00000000000000000001.twj`, `00000000000000004097.twj`, … A record never spans two
//! segments. Files with other names are ignored.
//!
//! # Byte layout
//!
//! All integers are little-endian; nothing is padded or aligned. Each segment starts with
//! a 32-byte header:
//!
//! ```text
//!  0               8       10      12              16
//! +---------------+-------+-------+---------------+
//! | magic         |version| hdrlen| reserved (0)  |
//! | "TWJOURNL"    |  = 1  |  = 32 |               |
//! +---------------+-------+-------+---------------+
//!  16              24      28      32
//! +---------------+-------+-------+
//! | first_seq u64 | rsvd 0| crc32c|   crc32c over bytes 0..28
//! +---------------+-------+-------+
//! ```
//!
//! followed by records, back to back:
//!
//! ```text
//!  0       4     6     8               16              24          24+n      28+n
//! +-------+-----+-----+---------------+---------------+-----------+---------+
//! |  len  |type | rsvd|  seq (u64)    | timestamp u64 |  payload  | crc32c  |
//! |  u32  | u16 | = 0 |               |  UnixNanos    |  n = len  |  u32    |
//! +-------+-----+-----+---------------+---------------+-----------+---------+
//!   crc32c (Castagnoli) covers bytes 0..24+n: the header and the payload.
//! ```
//!
//! `len` is at most [`MAX_PAYLOAD`]; `type` is application-defined; `seq` is one more than
//! the previous record's (the first record's equals the segment's `first_seq`).
//!
//! # Durability and recovery
//!
//! A crash can leave the last segment ending in a partial record, or (without a sync)
//! with garbage in place of records. On open the writer verifies every record of the last
//! segment, and of the one before it, and cuts the last segment at the first defect. A
//! defect anywhere else, or one a reader meets inside a complete record, is an error.

mod error;
mod identity;
mod reader;
mod record;
mod recovery;
mod segment;
mod tools;
mod writer;

pub use error::{Damage, JournalError, Problem};
pub use reader::JournalReader;
pub use record::{
    Frame, MARK_LEN, MAX_PAYLOAD, RECORD_HEADER_LEN, RECORD_OVERHEAD, RECORD_TRAILER_LEN, Record,
    RecordError, RecordRef, SEGMENT_HEADER_LEN, SEGMENT_MAGIC, SEGMENT_VERSION, SegmentHeader,
    emit_mark, emit_record, encoded_len, parse_frame, parse_record,
};
pub use recovery::{DropReason, DroppedTail, RecoveryReport, SegmentSummary};
pub use tools::{CutFile, RepairReport, VerifyReport, repair, verify};
pub use writer::{FsyncPolicy, JournalConfig, JournalWriter};
