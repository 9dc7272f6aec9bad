//! Recovery on open, and the analysis that `verify` shares: tell a torn tail (never
//! acknowledged) from damage inside acknowledged data.
//!
//! The rule: recovery may only drop what was never acknowledged. Every sync writes a
//! commit mark after the records it covers and then records the durable boundary in the
//! segment header, so on open:
//!
//! - a defect (partial record, bad CRC or length, sequence break) in the last segment is
//!   a torn tail, cut off (a copy of the cut bytes is kept beside the segment as
//!   `<segment>.cut-<seq>`) and reported in [`RecoveryReport::dropped`], only when it lies
//!   at or after the header's durable boundary *and* no valid commit mark follows it (a
//!   mark after it proves a sync covered it);
//! - anything else — a defect before the boundary or before a mark, data ending before
//!   the boundary, a defect in an older segment, a sealed segment that does not end where
//!   its seal says, a missing first, middle or last segment, a bad header, a missing
//!   identity file — refuses the open with [`JournalError::Damaged`], naming the file, the
//!   offset, the sequence numbers at risk and the operator's commands. Nothing is changed.
//!
//! Intact records after the last mark are kept (keeping intact data is always safe).
//! Every segment is read completely (one sequential read of the journal per open), so
//! damage anywhere stops the open rather than a later reader.
//! Besides the cut, recovery only ever rewrites a header: a torn header of an empty newest
//! segment, and the seal of the previous segment when a crash came between the two steps
//! of a roll.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::error::{Damage, JournalError, Problem, io_err};
use super::identity::{FILE_MODE, IDENTITY_FILE, Identity, read_identity, sync_dir};
use super::record::{Frame, MARK_LEN, RecordError, SEGMENT_HEADER_LEN, SegmentHeader, parse_frame};
use super::segment::{Opened, SegmentCursor, SegmentEntry, Step, list_segments, segment_path};
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

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Torn { need, have } => {
                write!(f, "partial frame ({have} of {need} bytes)")
            }
            DropReason::Corrupt(error) => write!(f, "invalid frame ({error})"),
            DropReason::SeqMismatch { expected, found } => write!(
                f,
                "sequence break (expected seq {}, found {})",
                expected.get(),
                found.get()
            ),
            DropReason::TornSegmentHeader { have } => {
                write!(f, "partial segment header ({have} bytes)")
            }
            DropReason::BadSegmentHeader(error) => write!(f, "bad segment header ({error})"),
        }
    }
}

/// What recovery cut off the last segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedTail {
    /// The segment file that was truncated.
    pub segment: PathBuf,
    /// Byte offset the file was truncated to (the end of the last good frame).
    pub offset: u64,
    /// Bytes removed.
    pub bytes: u64,
    /// The last intact record kept ([`SeqNo::NONE`] when none precedes the cut).
    pub last_good_seq: SeqNo,
    /// Why the bytes were dropped.
    pub reason: DropReason,
    /// Where a copy of the removed bytes was kept (`None` when nothing was removed).
    pub copy: Option<PathBuf>,
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
    /// The unacknowledged tail that was cut off, if any.
    pub dropped: Option<DroppedTail>,
    /// The previous segment was sealed by recovery (a crash interrupted a roll).
    pub sealed_previous: bool,
    /// The directory's permission bits when it is open to group or others (it is left
    /// as is; the journal creates its directory 0700 and its files 0600).
    pub dir_mode_too_open: Option<u32>,
}

/// One segment as seen by the analysis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    /// The segment file.
    pub path: PathBuf,
    /// First sequence number (from the file name).
    pub first_seq: SeqNo,
    /// The last intact record.
    pub last_seq: SeqNo,
    /// Records read and verified.
    pub records: u64,
    /// Commit marks read.
    pub marks: u64,
    /// Commit marks with a bad CRC that were skipped (no record is affected).
    pub damaged_marks: u64,
    /// File length in bytes.
    pub bytes: u64,
    /// The segment header (`None` when it is torn or invalid).
    pub header: Option<SegmentHeader>,
}

/// What to do to the newest segment.
#[derive(Clone, Debug)]
pub(crate) struct TailPlan {
    /// First sequence number of the newest segment.
    pub(crate) first_seq: SeqNo,
    /// Its path.
    pub(crate) path: PathBuf,
    /// Cut here (and why); offset 0 means the header is rewritten.
    pub(crate) cut: Option<(u64, DropReason)>,
    /// Length of the valid data (after the cut).
    pub(crate) valid_len: u64,
    /// The last intact record.
    pub(crate) last_seq: SeqNo,
    /// File offset just past that record.
    pub(crate) last_record_end: u64,
    /// Bytes in the file before any cut.
    pub(crate) file_len: u64,
}

/// What the analysis of a directory found.
#[derive(Clone, Debug, Default)]
pub(crate) struct Analysis {
    /// No journal here yet: create one.
    pub(crate) create: bool,
    /// Creation was interrupted after the first segment: finish the identity file.
    pub(crate) finish_identity: bool,
    /// Segments in order, as far as the analysis got.
    pub(crate) segments: Vec<SegmentSummary>,
    /// Records read and verified.
    pub(crate) records_verified: u64,
    /// The damage that stops an open.
    pub(crate) damage: Option<Damage>,
    /// A previous segment to seal (its path and sealed header).
    pub(crate) seal_prev: Option<(PathBuf, SegmentHeader)>,
    /// The newest segment and what to do to it.
    pub(crate) tail: Option<TailPlan>,
    /// The sequence number the next append gets.
    pub(crate) next_seq: SeqNo,
}

/// The result of reading one segment completely.
struct Scan {
    header: SegmentHeader,
    file_len: u64,
    records: u64,
    marks: u64,
    damaged_marks: u64,
    last_seq: SeqNo,
    last_record_end: u64,
    /// End of the last valid frame.
    end: u64,
    defect: Option<(u64, DropReason)>,
}

/// A segment whose header could not be used.
enum Unreadable {
    Header(DropReason, u64),
    Name(SeqNo),
}

/// Reads `seg` completely; gives the read buffer back through `buf`.
fn scan_segment(
    seg: &SegmentEntry,
    buf: &mut Vec<u8>,
) -> Result<Result<Scan, Unreadable>, JournalError> {
    let file_len = std::fs::metadata(&seg.path)
        .map_err(io_err("stat", &seg.path))?
        .len();
    let opened = match SegmentCursor::open(seg.path.clone(), seg.first_seq, std::mem::take(buf)) {
        Ok(opened) => opened,
        Err(JournalError::SegmentNameMismatch { stored, .. }) => {
            return Ok(Err(Unreadable::Name(stored)));
        }
        Err(e) => return Err(e),
    };
    let mut cursor = match opened {
        Opened::Ready(cursor) => cursor,
        Opened::ShortHeader { have } => {
            return Ok(Err(Unreadable::Header(
                DropReason::TornSegmentHeader { have },
                file_len,
            )));
        }
        Opened::BadHeader(error) => {
            return Ok(Err(Unreadable::Header(
                DropReason::BadSegmentHeader(error),
                file_len,
            )));
        }
    };
    let header = *cursor.header();
    let mut scan = Scan {
        header,
        file_len,
        records: 0,
        marks: 0,
        damaged_marks: 0,
        last_seq: SeqNo(seg.first_seq.get().saturating_sub(1)),
        last_record_end: SEGMENT_HEADER_LEN as u64,
        end: SEGMENT_HEADER_LEN as u64,
        defect: None,
    };
    loop {
        match cursor.step()? {
            Step::Record(meta) => {
                scan.records += 1;
                scan.last_seq = meta.seq();
                scan.last_record_end = meta.end_offset;
                scan.end = meta.end_offset;
            }
            Step::DamagedMark { offset } => {
                tracing::warn!(
                    segment = %seg.path.display(),
                    offset,
                    "commit mark with a bad CRC skipped (it holds no data)"
                );
                scan.damaged_marks += 1;
            }
            Step::Mark { end_offset, .. } => {
                scan.marks += 1;
                scan.end = end_offset;
            }
            Step::End { torn: None, .. } => break,
            Step::End {
                offset,
                torn: Some((need, have)),
            } => {
                scan.defect = Some((offset, DropReason::Torn { need, have }));
                break;
            }
            Step::Invalid { offset, reason } => {
                scan.defect = Some((offset, reason));
                break;
            }
        }
    }
    *buf = cursor.into_buffer();
    Ok(Ok(scan))
}

/// The first valid commit mark after offset `from` confirming a seq above `last_seq`.
fn find_mark_after(
    path: &Path,
    from: u64,
    last_seq: SeqNo,
) -> Result<Option<(u64, SeqNo)>, JournalError> {
    let mut file = File::open(path).map_err(io_err("open", path))?;
    let mut bytes = Vec::new();
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(from + 1))
        .map_err(io_err("seek", path))?;
    file.read_to_end(&mut bytes).map_err(io_err("read", path))?;
    for at in 0..bytes.len().saturating_sub(MARK_LEN - 1) {
        if let Some(rest) = bytes.get(at..)
            && let Ok((Frame::Mark(seq), _)) = parse_frame(rest)
            && seq > last_seq
        {
            return Ok(Some((from + 1 + at as u64, seq)));
        }
    }
    Ok(None)
}

/// Analyses the journal in `dir` without changing anything.
pub(crate) fn analyze(dir: &Path) -> Result<Analysis, JournalError> {
    let identity = read_identity(dir)?;
    let segments = list_segments(dir)?;
    let mut a = Analysis::default();
    let damage = |path: PathBuf, offset, problem, last_good_seq, claimed_through| Damage {
        dir: dir.to_path_buf(),
        path,
        offset,
        problem,
        last_good_seq,
        claimed_through,
    };
    let first_seq = match (identity, segments.first()) {
        (Identity::Absent | Identity::Pending, None) => {
            a.create = true;
            a.next_seq = SeqNo(1);
            return Ok(a);
        }
        (Identity::Present { .. }, None) => {
            a.damage = Some(damage(
                dir.join(IDENTITY_FILE),
                0,
                Problem::NoSegments,
                SeqNo::NONE,
                None,
            ));
            return Ok(a);
        }
        (Identity::Bad, _) => {
            a.damage = Some(damage(
                dir.join(IDENTITY_FILE),
                0,
                Problem::BadIdentity,
                SeqNo::NONE,
                None,
            ));
            return Ok(a);
        }
        (Identity::Absent, Some(_)) => {
            a.damage = Some(damage(
                dir.join(IDENTITY_FILE),
                0,
                Problem::NoIdentity,
                SeqNo::NONE,
                None,
            ));
            return Ok(a);
        }
        (Identity::Pending, Some(_)) => {
            a.finish_identity = true;
            SeqNo(1)
        }
        (Identity::Present { first_seq }, Some(_)) => first_seq,
    };
    let mut expected = first_seq;
    let mut buf = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let last_good = SeqNo(expected.get().saturating_sub(1));
        let is_last = i + 1 == segments.len();
        let next_first = segments
            .get(i + 1)
            .map(|s| SeqNo(s.first_seq.get().saturating_sub(1)));
        if seg.first_seq != expected {
            let (path, problem) = if seg.first_seq > expected {
                (
                    segment_path(dir, expected),
                    Problem::MissingSegment { from: expected },
                )
            } else {
                (
                    seg.path.clone(),
                    Problem::Overlap {
                        expected,
                        found: seg.first_seq,
                    },
                )
            };
            let claimed = SeqNo(seg.first_seq.get().saturating_sub(1));
            a.damage = Some(damage(path, 0, problem, last_good, Some(claimed)));
            return Ok(a);
        }
        let scan = match scan_segment(seg, &mut buf)? {
            Ok(scan) => scan,
            Err(Unreadable::Name(stored)) => {
                let problem = Problem::NameMismatch {
                    named: seg.first_seq,
                    stored,
                };
                a.damage = Some(damage(seg.path.clone(), 0, problem, last_good, next_first));
                return Ok(a);
            }
            Err(Unreadable::Header(reason, file_len)) => {
                let recoverable = is_last
                    && file_len <= SEGMENT_HEADER_LEN as u64
                    && !matches!(
                        reason,
                        DropReason::BadSegmentHeader(RecordError::UnsupportedVersion(_))
                    );
                if !recoverable {
                    let error = match reason {
                        DropReason::BadSegmentHeader(error) => error,
                        _ => RecordError::Truncated {
                            need: SEGMENT_HEADER_LEN,
                            have: file_len as usize,
                        },
                    };
                    a.damage = Some(damage(
                        seg.path.clone(),
                        0,
                        Problem::BadHeader(error),
                        last_good,
                        next_first,
                    ));
                    return Ok(a);
                }
                a.segments.push(SegmentSummary {
                    path: seg.path.clone(),
                    first_seq: seg.first_seq,
                    last_seq: last_good,
                    records: 0,
                    marks: 0,
                    damaged_marks: 0,
                    bytes: file_len,
                    header: None,
                });
                a.tail = Some(TailPlan {
                    first_seq: seg.first_seq,
                    path: seg.path.clone(),
                    cut: Some((0, reason)),
                    valid_len: SEGMENT_HEADER_LEN as u64,
                    last_seq: last_good,
                    last_record_end: SEGMENT_HEADER_LEN as u64,
                    file_len,
                });
                a.next_seq = seg.first_seq;
                break;
            }
        };
        a.records_verified += scan.records;
        let h = scan.header;
        a.segments.push(SegmentSummary {
            path: seg.path.clone(),
            first_seq: seg.first_seq,
            last_seq: scan.last_seq,
            records: scan.records,
            marks: scan.marks,
            damaged_marks: scan.damaged_marks,
            bytes: scan.file_len,
            header: Some(h),
        });
        let mut problem = None;
        let mut claimed = next_first.max(Some(h.durable_seq));
        if let Some((at, defect)) = scan.defect {
            if !is_last {
                problem = Some((at, Problem::InOlderSegment(defect)));
            } else if at < h.durable_end || scan.last_seq < h.durable_seq {
                problem = Some((
                    at,
                    Problem::InsideDurable {
                        defect,
                        durable_seq: h.durable_seq,
                        durable_end: h.durable_end,
                    },
                ));
            } else if let Some((mark_offset, mark_seq)) =
                find_mark_after(&seg.path, at, scan.last_seq)?
            {
                claimed = Some(mark_seq);
                problem = Some((
                    at,
                    Problem::BeforeCommitMark {
                        defect,
                        mark_offset,
                        mark_seq,
                    },
                ));
            }
        } else if scan.last_record_end < h.durable_end || scan.last_seq < h.durable_seq {
            problem = Some((
                scan.end,
                Problem::TruncatedBelowDurable {
                    last_seq: scan.last_seq,
                    data_end: scan.end,
                    durable_seq: h.durable_seq,
                    durable_end: h.durable_end,
                },
            ));
        } else if h.rolled
            && (scan.last_seq != h.durable_seq || scan.last_record_end != h.durable_end)
        {
            problem = Some((
                h.durable_end,
                Problem::SealMismatch {
                    sealed_seq: h.durable_seq,
                    sealed_end: h.durable_end,
                    last_seq: scan.last_seq,
                    data_end: scan.end,
                },
            ));
        }
        if problem.is_none() && h.rolled && is_last {
            let from = h.durable_seq.next();
            a.damage = Some(damage(
                segment_path(dir, from),
                0,
                Problem::MissingSegment { from },
                scan.last_seq,
                None,
            ));
            return Ok(a);
        }
        if problem.is_none() && !h.rolled && !is_last {
            if i + 2 == segments.len() {
                let sealed = SegmentHeader {
                    durable_seq: scan.last_seq,
                    durable_end: scan.last_record_end,
                    rolled: true,
                    closed: false,
                    ..h
                };
                a.seal_prev = Some((seg.path.clone(), sealed));
            } else {
                problem = Some((0, Problem::Unsealed));
            }
        }
        if let Some((offset, problem)) = problem {
            a.damage = Some(damage(
                seg.path.clone(),
                offset,
                problem,
                scan.last_seq,
                claimed,
            ));
            return Ok(a);
        }
        expected = scan.last_seq.next();
        if is_last {
            a.tail = Some(TailPlan {
                first_seq: seg.first_seq,
                path: seg.path.clone(),
                valid_len: scan.defect.map_or(scan.file_len, |(at, _)| at),
                cut: scan.defect,
                last_seq: scan.last_seq,
                last_record_end: scan.last_record_end,
                file_len: scan.file_len,
            });
            a.next_seq = expected;
        }
    }
    if a.finish_identity && (segments.len() != 1 || a.next_seq != SeqNo(1)) {
        a.damage = Some(damage(
            dir.join(IDENTITY_FILE),
            0,
            Problem::NoIdentity,
            SeqNo::NONE,
            None,
        ));
    }
    Ok(a)
}

/// The newest segment after recovery, ready for appending.
#[derive(Debug)]
pub(crate) struct Tail {
    /// First sequence number of the segment.
    pub(crate) first_seq: SeqNo,
    /// Its path.
    pub(crate) path: PathBuf,
    /// Length of its valid data.
    pub(crate) len: u64,
    /// The last record it holds (`first_seq - 1` when none).
    pub(crate) last_seq: SeqNo,
    /// File offset just past that record.
    pub(crate) last_record_end: u64,
}

/// The writable end of a recovered journal.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// The first segment exists but the identity file must still be put in place.
    pub(crate) finish_identity: bool,
    /// The newest segment (`None` when no journal existed: the caller creates one).
    pub(crate) tail: Option<Tail>,
    /// The sequence number the next append gets.
    pub(crate) next_seq: SeqNo,
    /// The report for the caller.
    pub(crate) report: RecoveryReport,
}

/// Verifies the journal in `dir` (which must exist), cuts an unacknowledged tail and
/// refuses damage.
pub(crate) fn recover(dir: &Path) -> Result<Recovered, JournalError> {
    let a = analyze(dir)?;
    if let Some(damage) = a.damage {
        return Err(JournalError::Damaged(Box::new(damage)));
    }
    let mut report = RecoveryReport {
        segments: a.segments.len(),
        records_verified: a.records_verified,
        last_seq: SeqNo(a.next_seq.get().saturating_sub(1)),
        ..RecoveryReport::default()
    };
    if let Some((path, header)) = &a.seal_prev {
        write_header(path, header)?;
        report.sealed_previous = true;
    }
    let tail = match a.tail {
        None => None,
        Some(plan) => {
            if let Some((offset, reason)) = plan.cut {
                let copy = cut_with_copy(&plan.path, offset, plan.last_seq.next())?;
                if offset < SEGMENT_HEADER_LEN as u64 {
                    write_header(&plan.path, &SegmentHeader::new(plan.first_seq))?;
                }
                report.dropped = Some(DroppedTail {
                    segment: plan.path.clone(),
                    offset,
                    bytes: plan.file_len.saturating_sub(offset),
                    last_good_seq: plan.last_seq,
                    reason,
                    copy,
                });
            }
            Some(Tail {
                first_seq: plan.first_seq,
                path: plan.path,
                len: plan.valid_len,
                last_seq: plan.last_seq,
                last_record_end: plan.last_record_end,
            })
        }
    };
    Ok(Recovered {
        finish_identity: a.finish_identity,
        tail,
        next_seq: a.next_seq,
        report,
    })
}

/// Writes `header` over the start of `path` and syncs it.
pub(crate) fn write_header(path: &Path, header: &SegmentHeader) -> Result<(), JournalError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err("open", path))?;
    file.write_all_at(&header.emit(), 0)
        .map_err(io_err("write segment header", path))?;
    file.sync_data().map_err(io_err("fsync", path))
}

/// Cuts `path` at `offset`, first copying the bytes removed to `<path>.cut-<from_seq>`
/// (synced); returns the copy's path, or `None` when nothing was removed.
pub(crate) fn cut_with_copy(
    path: &Path,
    offset: u64,
    from_seq: SeqNo,
) -> Result<Option<PathBuf>, JournalError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err("open for truncation", path))?;
    let len = file.metadata().map_err(io_err("stat", path))?.len();
    if len <= offset {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))
        .map_err(io_err("seek", path))?;
    file.read_to_end(&mut bytes).map_err(io_err("read", path))?;
    let copy = save_copy(path, from_seq, &bytes)?;
    file.set_len(offset).map_err(io_err("truncate", path))?;
    file.sync_all().map_err(io_err("fsync", path))?;
    tracing::warn!(
        segment = %path.display(),
        offset,
        bytes = bytes.len(),
        copy = %copy.display(),
        "journal segment truncated; the removed bytes were copied"
    );
    Ok(Some(copy))
}

/// Names tried for the copy of cut bytes before giving up.
const MAX_COPIES: u32 = 1000;

/// Writes `bytes` to a new file `<path>.cut-<from_seq>` (or `….cut-<seq>.<n>` if taken),
/// syncs it and the directory; returns its path.
fn save_copy(path: &Path, from_seq: SeqNo, bytes: &[u8]) -> Result<PathBuf, JournalError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let base = format!("{}.cut-{}", path.display(), from_seq.get());
    for n in 0..MAX_COPIES {
        let copy = if n == 0 {
            PathBuf::from(&base)
        } else {
            PathBuf::from(format!("{base}.{n}"))
        };
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&copy);
        match file {
            Ok(file) => {
                file.write_all_at(bytes, 0)
                    .map_err(io_err("write", &copy))?;
                file.sync_all().map_err(io_err("fsync", &copy))?;
                sync_dir(dir)?;
                return Ok(copy);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("create", &copy)(e)),
        }
    }
    Err(io_err("create", Path::new(&base))(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "every name for the copy of the cut bytes is taken",
    )))
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
