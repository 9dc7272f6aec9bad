//! The journal: an append-only, segmented file of CRC32c-checked records.
//!
//! The gateway writes each order here before acknowledging it and the feed records market
//! data here; replay reads the same files. One [`JournalWriter`] per directory assigns
//! sequence numbers (consecutive from 1, continuing after recovery), frames records,
//! syncs them by [`FsyncPolicy`] and rolls to a new segment file by size. Any number of
//! [`JournalReader`]s position at a sequence number and follow the tail.
//!
//! The rule: recovery may only drop what was never acknowledged. Opening a writer reads
//! every segment; it cuts only an unacknowledged tail (keeping a copy) and reports it
//! ([`RecoveryReport`]); any damage to acknowledged data, a missing segment or a bad
//! header stops the open with [`JournalError::Damaged`], whose message names the file,
//! the offset, the sequence numbers at risk and the operator's next step: [`verify`]
//! (`tickwarp journal verify DIR`) and, if the loss is accepted, [`repair`]
//! (`tickwarp journal repair DIR --truncate-after SEQ`).
//!
//! What this module must not do: read a clock (time is an argument), spawn threads,
//! allocate per append in steady state, or discard anything but an unacknowledged tail.
//!
//! # Files
//!
//! A journal is a directory (created 0700; an existing one that is more open is reported
//! in [`RecoveryReport::dir_mode_too_open`] and logged, not changed) holding:
//!
//! - `JOURNAL`, the identity file, written once at creation (0600): without it, segment
//!   files are refused; with it and no segment, the open is refused (every segment was
//!   deleted) instead of silently starting empty. It names the first sequence number.
//! - segment files (0600) named by the sequence number of their first record,
//!   zero-padded to 20 digits so names sort numerically: `00000000000000000001.twj`,
//!   `00000000000000004097.twj`, … A record never spans two segments; each segment's
//!   first seq is the previous one's last + 1.
//! - `<segment>.cut-<seq>`: bytes recovery or repair removed, kept for the operator.
//!
//! Other files are ignored.
//!
//! # Byte layout (format version 2)
//!
//! All integers are little-endian; nothing is padded or aligned. Each segment starts with
//! a 64-byte header, rewritten in place after each sync (its CRC stays valid):
//!
//! ```text
//!  0               8       10      12      16              24              32
//! +---------------+-------+-------+-------+---------------+---------------+
//! | magic         |version| hdrlen| flags | first_seq u64 | durable_seq   |
//! | "TWJOURNL"    |  = 2  |  = 64 |  u32  |               |   u64         |
//! +---------------+-------+-------+-------+---------------+---------------+
//!  32              40                      60      64
//! +---------------+-----------------------+-------+
//! | durable_end   | reserved (20 bytes 0) | crc32c|   crc32c over bytes 0..60
//! +---------------+-----------------------+-------+
//! flags: 1 = rolled (sealed: ends at durable_end with record durable_seq, and segment
//!        durable_seq + 1 exists), 2 = closed cleanly.
//! ```
//!
//! followed by frames, back to back:
//!
//! ```text
//!  0       4     6     8               16              24          24+n      28+n
//! +-------+-----+-----+---------------+---------------+-----------+---------+
//! |  len  |type | kind|  seq (u64)    | timestamp u64 |  payload  | crc32c  |
//! |  u32  | u16 | u16 |               |  UnixNanos    |  n = len  |  u32    |
//! +-------+-----+-----+---------------+---------------+-----------+---------+
//!   crc32c (Castagnoli) covers bytes 0..24+n: the header and the payload.
//! ```
//!
//! `kind` 0 is a record: `len` is at most [`MAX_PAYLOAD`], `type` is application-defined
//! and `seq` is one more than the previous record's (the first equals the segment's
//! `first_seq`). `kind` 1 is a commit mark ([`MARK_LEN`] bytes, `len`, `type` and
//! `timestamp` zero): "every record through `seq` was written before the sync that
//! follows"; `seq` must equal the last record before it. Marks take no sequence number
//! and readers skip them.
//!
//! # Durability and recovery
//!
//! A sync writes a mark, `fdatasync`s, then stores the durable boundary (`durable_seq`,
//! `durable_end` = the end of that record) in the header. The header update reaches the
//! disk with the next sync, so after a power cut the boundary on disk may lag, but it
//! never claims unsynced bytes. On open, a defect in the newest segment (partial or
//! invalid frame, sequence break) is a torn tail, cut with a copy kept, only if it lies
//! at or after the boundary and no valid mark for a later seq follows it (a mark proves
//! a sync covered the defect; records after a defect with no mark were never synced).
//! Everything else refuses: see [`Problem`]. Intact records with no mark after them are
//! kept. A commit mark whose CRC fails but whose length and kind are intact, followed by
//! the next record or the end of the file, is skipped and counted
//! ([`SegmentSummary::damaged_marks`], logged): it holds no data. Limits: one header copy,
//! so a torn header write (a sub-sector write, which disks make atomic) or a flipped
//! header byte refuses the open; a flip in a mark's length or kind field refuses unless it
//! is the journal's last mark.

mod error;
mod identity;
mod reader;
mod record;
mod recovery;
mod segment;
mod sync_pool;
mod tools;
mod writer;

pub use error::{Damage, JournalError, Problem};
pub use identity::exists;
pub use reader::{JournalReader, durable_seq};
pub use record::{
    Frame, MARK_LEN, MAX_PAYLOAD, RECORD_HEADER_LEN, RECORD_OVERHEAD, RECORD_TRAILER_LEN, Record,
    RecordError, RecordRef, SEGMENT_HEADER_LEN, SEGMENT_MAGIC, SEGMENT_VERSION, SegmentHeader,
    emit_mark, emit_record, encoded_len, parse_frame, parse_record,
};
pub use recovery::{DropReason, DroppedTail, RecoveryReport, SegmentSummary};
pub use sync_pool::SyncPool;
pub use tools::{CutFile, RepairReport, VerifyReport, repair, verify};
pub use writer::{FsyncPolicy, JournalConfig, JournalWriter, SyncTicket};
