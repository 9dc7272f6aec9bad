//! Recovery on open: verify the newest segments, truncate a torn or corrupt tail, report.
//!
//! Run by [`JournalWriter::open`](super::JournalWriter::open) before it appends. The last
//! segment is read completely and every record's CRC and sequence number is checked; the
//! first defect and everything after it is cut off and described in a [`RecoveryReport`].
//! The segment before it is verified too (a crash right after a roll leaves the new
//! segment empty); a defect there, or in any record a reader meets in an older segment,
//! is an error, never a silent truncation. Only the last segment is ever modified.
//!
//! A record whose append returned under [`FsyncPolicy::EveryRecord`](super::FsyncPolicy)
//! was complete and synced, so a crash can only tear records after it: recovery never
//! drops it (only media corruption inside it would).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::{JournalError, io_err};
use super::record::{RecordError, SEGMENT_HEADER_LEN, SegmentHeader};
use super::segment::{Opened, SegmentCursor, SegmentEntry, Step, list_segments};
use crate::units::SeqNo;

/// Why bytes at the tail of the last segment were dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The tail holds only part of a record (a write torn by a crash).
    Torn {
        /// Bytes the record would need.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// A complete record failed its checks (bad CRC, length or reserved field).
    Corrupt(RecordError),
    /// A valid record carries the wrong sequence number.
    SeqMismatch {
        /// The sequence number expected.
        expected: SeqNo,
        /// The sequence number found.
        found: SeqNo,
    },
    /// The segment file is shorter than its header (torn while being created).
    TornSegmentHeader {
        /// Bytes present.
        have: usize,
    },
    /// The segment header is invalid and no record follows it (torn at creation).
    BadSegmentHeader(RecordError),
}

impl DropReason {
    /// The error this defect is when found where it may not be truncated.
    pub(crate) fn into_error(self, path: &Path, offset: u64) -> JournalError {
        let path = path.to_path_buf();
        match self {
            DropReason::Torn { .. } => JournalError::TornSegment { path, offset },
            DropReason::Corrupt(error) | DropReason::BadSegmentHeader(error) => {
                JournalError::Corrupt {
                    path,
                    offset,
                    error,
                }
            }
            DropReason::SeqMismatch { expected, found } => JournalError::SeqMismatch {
                path,
                offset,
                expected,
                found,
            },
            DropReason::TornSegmentHeader { have } => JournalError::Corrupt {
                path,
                offset,
                error: RecordError::Truncated {
                    need: SEGMENT_HEADER_LEN,
                    have,
                },
            },
        }
    }
}

/// What recovery cut off the last segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedTail {
    /// The segment file that was truncated.
    pub segment: PathBuf,
    /// Byte offset the file was truncated to (the end of the last good record).
    pub offset: u64,
    /// Bytes removed.
    pub bytes: u64,
    /// The last intact record kept ([`SeqNo::NONE`] when none precedes the cut).
    pub last_good_seq: SeqNo,
    /// Why the bytes were dropped.
    pub reason: DropReason,
}

/// What [`JournalWriter::open`](super::JournalWriter::open) found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct RecoveryReport {
    /// Segment files in the directory (after recovery, including one it created).
    pub segments: usize,
    /// Records whose CRC and sequence number were verified.
    pub records_verified: u64,
    /// The last intact record ([`SeqNo::NONE`] for an empty journal).
    pub last_seq: SeqNo,
    /// The tail that was cut off, if any.
    pub dropped: Option<DroppedTail>,
}

/// The writable end of a recovered journal.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// The last segment (first sequence number, path, valid length), if any exists.
    pub(crate) tail: Option<(SeqNo, PathBuf, u64)>,
    /// The sequence number the next append gets.
    pub(crate) next_seq: SeqNo,
    /// The report for the caller.
    pub(crate) report: RecoveryReport,
}

/// Verifies and repairs the tail of the journal in `dir` (which must exist).
pub(crate) fn recover(dir: &Path) -> Result<Recovered, JournalError> {
    let segments = list_segments(dir)?;
    let mut report = RecoveryReport {
        segments: segments.len(),
        ..RecoveryReport::default()
    };
    let Some(last) = segments.last() else {
        return Ok(Recovered {
            tail: None,
            next_seq: SeqNo(1),
            report,
        });
    };
    let mut buf = Vec::new();
    if let Some(prev) = segments.len().checked_sub(2).and_then(|i| segments.get(i)) {
        let (verified, reused) = verify_sealed(prev, last.first_seq, buf)?;
        report.records_verified += verified;
        buf = reused;
    }
    let before_first = SeqNo(last.first_seq.get().saturating_sub(1));
    let file_len = std::fs::metadata(&last.path)
        .map_err(io_err("stat", &last.path))?
        .len();
    let (last_seq, cut) = match SegmentCursor::open(last.path.clone(), last.first_seq, buf)? {
        Opened::ShortHeader { have } => (
            before_first,
            Some((0, DropReason::TornSegmentHeader { have })),
        ),
        Opened::BadHeader(error) if file_len <= SEGMENT_HEADER_LEN as u64 => {
            (before_first, Some((0, DropReason::BadSegmentHeader(error))))
        }
        Opened::BadHeader(error) => {
            return Err(JournalError::Corrupt {
                path: last.path.clone(),
                offset: 0,
                error,
            });
        }
        Opened::Ready(mut cursor) => {
            let mut last_good = before_first;
            loop {
                match cursor.step()? {
                    Step::Record(meta) => {
                        last_good = meta.seq();
                        report.records_verified += 1;
                    }
                    Step::End { torn: None, .. } => break (last_good, None),
                    Step::End {
                        offset,
                        torn: Some((need, have)),
                    } => break (last_good, Some((offset, DropReason::Torn { need, have }))),
                    Step::Invalid { offset, reason } => break (last_good, Some((offset, reason))),
                }
            }
        }
    };
    let valid_len = match cut {
        None => file_len,
        Some((offset, reason)) => {
            truncate_segment(&last.path, offset, last.first_seq)?;
            report.dropped = Some(DroppedTail {
                segment: last.path.clone(),
                offset,
                bytes: file_len.saturating_sub(offset),
                last_good_seq: last_seq,
                reason,
            });
            offset.max(SEGMENT_HEADER_LEN as u64)
        }
    };
    report.last_seq = last_seq;
    Ok(Recovered {
        tail: Some((last.first_seq, last.path.clone(), valid_len)),
        next_seq: last_seq.next(),
        report,
    })
}

/// Verifies an older segment completely; it must end exactly where `next_first` begins.
///
/// Returns the records verified and the read buffer for reuse.
fn verify_sealed(
    seg: &SegmentEntry,
    next_first: SeqNo,
    buf: Vec<u8>,
) -> Result<(u64, Vec<u8>), JournalError> {
    let mut cursor = match SegmentCursor::open(seg.path.clone(), seg.first_seq, buf)? {
        Opened::Ready(cursor) => cursor,
        Opened::ShortHeader { have } => {
            return Err(DropReason::TornSegmentHeader { have }.into_error(&seg.path, 0));
        }
        Opened::BadHeader(error) => return Err(DropReason::Corrupt(error).into_error(&seg.path, 0)),
    };
    let mut verified = 0;
    loop {
        match cursor.step()? {
            Step::Record(_) => verified += 1,
            Step::End { torn: None, offset } => {
                if cursor.next_seq() != next_first {
                    return Err(JournalError::SeqMismatch {
                        path: seg.path.clone(),
                        offset,
                        expected: cursor.next_seq(),
                        found: next_first,
                    });
                }
                return Ok((verified, cursor.into_buffer()));
            }
            Step::End {
                torn: Some((need, have)),
                offset,
            } => return Err(DropReason::Torn { need, have }.into_error(&seg.path, offset)),
            Step::Invalid { offset, reason } => return Err(reason.into_error(&seg.path, offset)),
        }
    }
}

/// Cuts the last segment at `offset`, rewriting its header when the cut is inside it.
fn truncate_segment(path: &Path, offset: u64, first_seq: SeqNo) -> Result<(), JournalError> {
    let mut file: File = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err("open for truncation", path))?;
    if offset < SEGMENT_HEADER_LEN as u64 {
        file.set_len(0).map_err(io_err("truncate", path))?;
        file.write_all(&SegmentHeader { first_seq }.emit())
            .map_err(io_err("write segment header", path))?;
    } else {
        file.set_len(offset).map_err(io_err("truncate", path))?;
    }
    file.sync_all().map_err(io_err("fsync", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defects_map_to_the_matching_error() {
        let path = Path::new("/j/00000000000000000001.twj");
        assert!(matches!(
            DropReason::Torn { need: 30, have: 3 }.into_error(path, 64),
            JournalError::TornSegment { offset: 64, .. }
        ));
        let bad_crc = RecordError::BadCrc {
            stored: 1,
            computed: 2,
        };
        assert!(matches!(
            DropReason::Corrupt(bad_crc).into_error(path, 32),
            JournalError::Corrupt { offset: 32, error, .. } if error == bad_crc
        ));
        let mismatch = DropReason::SeqMismatch {
            expected: SeqNo(5),
            found: SeqNo(9),
        };
        assert!(matches!(
            mismatch.into_error(path, 90),
            JournalError::SeqMismatch {
                expected: SeqNo(5),
                found: SeqNo(9),
                ..
            }
        ));
        assert!(matches!(
            DropReason::TornSegmentHeader { have: 7 }.into_error(path, 0),
            JournalError::Corrupt {
                error: RecordError::Truncated {
                    need: SEGMENT_HEADER_LEN,
                    have: 7
                },
                ..
            }
        ));
    }

    #[test]
    fn empty_directory_starts_at_one() {
        let dir = tempfile::tempdir().unwrap();
        let recovered = recover(dir.path()).unwrap();
        assert_eq!(recovered.next_seq, SeqNo(1));
        assert!(recovered.tail.is_none());
        assert_eq!(recovered.report, RecoveryReport::default());
    }
}
