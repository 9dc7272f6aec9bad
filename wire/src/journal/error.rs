//! The journal's error type.
//!
//! Every I/O error carries the path it concerns; every corruption names the segment file
//! and byte offset. This module defines types only and performs no I/O.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use super::record::RecordError;
use crate::units::SeqNo;

/// Errors from opening, writing or reading a journal.
#[derive(Debug, Error)]
pub enum JournalError {
    /// An I/O operation on a journal file or directory failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation that failed (for example "write", "fsync").
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A complete record (or segment header) failed to parse where it must be valid.
    #[error("corrupt journal at {path} offset {offset}: {error}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the bad record within the file.
        offset: u64,
        /// What is wrong with it.
        error: RecordError,
    },
    /// A record carries a sequence number other than the next one expected.
    #[error("sequence break at {path} offset {offset}: expected {expected:?}, found {found:?}")]
    SeqMismatch {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the record within the file.
        offset: u64,
        /// The sequence number the previous record implies.
        expected: SeqNo,
        /// The sequence number stored.
        found: SeqNo,
    },
    /// An older (non-last) segment ends in the middle of a record.
    #[error("segment {path} is torn at offset {offset} but is followed by a newer segment")]
    TornSegment {
        /// The segment file.
        path: PathBuf,
        /// Byte offset where the partial record starts.
        offset: u64,
    },
    /// A segment file's header disagrees with its name.
    #[error("segment {path} is named for seq {named:?} but its header says {stored:?}")]
    SegmentNameMismatch {
        /// The segment file.
        path: PathBuf,
        /// First sequence number from the file name.
        named: SeqNo,
        /// First sequence number from the header.
        stored: SeqNo,
    },
    /// The payload is larger than [`MAX_PAYLOAD`](super::MAX_PAYLOAD).
    #[error("payload of {len} bytes exceeds the maximum of {max}")]
    PayloadTooLarge {
        /// The payload length offered.
        len: usize,
        /// The maximum accepted.
        max: usize,
    },
    /// The configuration cannot be used.
    #[error("invalid journal configuration: {0}")]
    InvalidConfig(&'static str),
    /// An earlier write or sync failed; the writer refuses further work. Reopen to recover.
    #[error("journal writer is unusable after an earlier I/O error; reopen it")]
    Poisoned,
}

/// Wraps an `io::Error` with the operation and path (for `map_err`).
pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(io::Error) -> JournalError + 'a {
    move |source| JournalError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}
