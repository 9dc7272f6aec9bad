//! The journal's error type.
//!
//! Every I/O error carries the path it concerns; every corruption names the segment file
//! and byte offset. Damage found by recovery ([`Damage`]) also names the sequence numbers
//! at risk and the operator's next step. This module defines types only and performs no
//! I/O.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use super::record::RecordError;
use super::recovery::DropReason;
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
    /// [`finish_sync`](super::JournalWriter::finish_sync) got a ticket that does not
    /// cover exactly the records appended (a record appended after `begin_sync`, or
    /// another writer's ticket); the writer is poisoned, as after a failed sync.
    #[error("journal sync ticket does not match the writer (records appended during its sync?)")]
    StaleTicket,
    /// An earlier sync failed; the writer refuses further work until
    /// [`reopen`](super::JournalWriter::reopen).
    #[error("journal writer is unusable after a failed sync; reopen it")]
    Poisoned,
    /// `repair` cannot do what was asked without losing more than the operator chose.
    #[error("repair refused: {0}")]
    RepairRefused(String),
    /// Recovery found damage it may not repair on its own (acknowledged data at risk).
    #[error("{0}")]
    Damaged(Box<Damage>),
}

impl JournalError {
    /// The `io::ErrorKind` of an I/O error, if this is one.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            JournalError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }

    /// The operating system's error number of an I/O error, if this is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            JournalError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// True when the disk (or quota) is full: the write can succeed once space returns.
    pub fn is_disk_full(&self) -> bool {
        /// `ENOSPC` and `EDQUOT` on Linux.
        const FULL: [i32; 2] = [28, 122];
        self.io_kind() == Some(io::ErrorKind::StorageFull)
            || self.io_kind() == Some(io::ErrorKind::QuotaExceeded)
            || self.raw_os_error().is_some_and(|e| FULL.contains(&e))
    }

    /// The damage report, if recovery refused the journal.
    pub fn damage(&self) -> Option<&Damage> {
        match self {
            JournalError::Damaged(damage) => Some(damage),
            _ => None,
        }
    }
}

/// Damage in a journal directory that only the operator may resolve.
///
/// Its `Display` names the file, the byte offset, the sequence numbers at risk, and the
/// commands to inspect (`tickwarp journal verify`) and, if the loss is accepted, repair
/// (`tickwarp journal repair --truncate-after`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// The journal directory.
    pub dir: PathBuf,
    /// The file concerned (for a missing segment: the path it should have).
    pub path: PathBuf,
    /// Byte offset of the damage within `path`.
    pub offset: u64,
    /// What is wrong.
    pub problem: Problem,
    /// The last record that is intact and continuous from the start of the journal
    /// ([`SeqNo::NONE`] when none is): the point a repair would truncate after.
    pub last_good_seq: SeqNo,
    /// The highest sequence number the journal shows evidence of beyond the damage, when
    /// known (so records `last_good_seq + 1 ..= claimed_through` are at risk).
    pub claimed_through: Option<SeqNo>,
}

/// What kind of damage recovery found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A defect before the durable boundary recorded in the segment header.
    InsideDurable {
        /// The defect.
        defect: DropReason,
        /// The durable boundary's last sequence number.
        durable_seq: SeqNo,
        /// The durable boundary's byte offset.
        durable_end: u64,
    },
    /// A defect followed by a valid commit mark: the bytes were synced (acknowledged).
    BeforeCommitMark {
        /// The defect.
        defect: DropReason,
        /// Offset of the commit mark found after the defect.
        mark_offset: u64,
        /// The sequence number that mark confirms.
        mark_seq: SeqNo,
    },
    /// A defect in a segment that a newer segment follows (complete, acknowledged data).
    InOlderSegment(DropReason),
    /// The segment's data ends before the durable boundary its header records.
    TruncatedBelowDurable {
        /// The last record present.
        last_seq: SeqNo,
        /// Where the data ends.
        data_end: u64,
        /// The durable boundary's last sequence number.
        durable_seq: SeqNo,
        /// The durable boundary's byte offset.
        durable_end: u64,
    },
    /// A sealed (rolled) segment does not end where its seal says.
    SealMismatch {
        /// The last sequence number in the seal.
        sealed_seq: SeqNo,
        /// The end offset in the seal.
        sealed_end: u64,
        /// The last record present.
        last_seq: SeqNo,
        /// The end of its data (the file length when not scanned).
        data_end: u64,
    },
    /// A segment file is missing: its records from `from` on are gone.
    MissingSegment {
        /// The first sequence number of the missing segment.
        from: SeqNo,
    },
    /// A segment starts before the previous one ends.
    Overlap {
        /// The sequence number expected at its start.
        expected: SeqNo,
        /// The sequence number it starts at.
        found: SeqNo,
    },
    /// The segment header is invalid (or of an unsupported format version).
    BadHeader(RecordError),
    /// The segment header's first sequence number disagrees with the file name.
    NameMismatch {
        /// First sequence number from the file name.
        named: SeqNo,
        /// First sequence number from the header.
        stored: SeqNo,
    },
    /// An older segment was never sealed although newer ones follow it.
    Unsealed,
    /// The identity file exists but no segment file does.
    NoSegments,
    /// Segment files exist but the identity file is missing.
    NoIdentity,
    /// The identity file cannot be parsed.
    BadIdentity,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::InsideDurable {
                defect,
                durable_seq,
                durable_end,
            } => write!(
                f,
                "{defect}, inside the durable boundary (seq {} ends at offset {durable_end})",
                durable_seq.get()
            ),
            Problem::BeforeCommitMark {
                defect,
                mark_offset,
                mark_seq,
            } => write!(
                f,
                "{defect}, but a commit mark for seq {} follows at offset {mark_offset}",
                mark_seq.get()
            ),
            Problem::InOlderSegment(defect) => {
                write!(f, "{defect} in a segment that a newer segment follows")
            }
            Problem::TruncatedBelowDurable {
                last_seq,
                data_end,
                durable_seq,
                durable_end,
            } => write!(
                f,
                "data ends at offset {data_end} with seq {}, but seq {} was durable at offset                  {durable_end}",
                last_seq.get(),
                durable_seq.get()
            ),
            Problem::SealMismatch {
                sealed_seq,
                sealed_end,
                last_seq,
                data_end,
            } => write!(
                f,
                "sealed with seq {} ending at offset {sealed_end}, but holds seq {} ending at                  offset {data_end}",
                sealed_seq.get(),
                last_seq.get()
            ),
            Problem::MissingSegment { from } => {
                write!(
                    f,
                    "segment file missing (records from seq {} on)",
                    from.get()
                )
            }
            Problem::Overlap { expected, found } => write!(
                f,
                "segment starts at seq {} but seq {} was expected",
                found.get(),
                expected.get()
            ),
            Problem::BadHeader(error) => write!(f, "bad segment header ({error})"),
            Problem::NameMismatch { named, stored } => write!(
                f,
                "header says first seq {} but the file name says {}",
                stored.get(),
                named.get()
            ),
            Problem::Unsealed => write!(f, "segment was never sealed but newer segments follow"),
            Problem::NoSegments => write!(f, "journal identity exists but every segment is gone"),
            Problem::NoIdentity => write!(f, "segments exist but the identity file is missing"),
            Problem::BadIdentity => write!(f, "identity file is not a tickwarp journal identity"),
        }
    }
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dir = self.dir.display();
        let good = self.last_good_seq.get();
        write!(
            f,
            "journal damaged: {} offset {}: {}; ",
            self.path.display(),
            self.offset,
            self.problem
        )?;
        match self.claimed_through {
            Some(last) if last.get() > good => write!(
                f,
                "records {}..={} (and any after) are at risk",
                good + 1,
                last.get()
            )?,
            _ => write!(f, "records after seq {good} are at risk")?,
        }
        write!(
            f,
            ". Inspect with `tickwarp journal verify {dir}`; to accept losing every record \
             after seq {good}, run `tickwarp journal repair {dir} --truncate-after {good}`"
        )
    }
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
