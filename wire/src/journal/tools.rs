//! Operator tools: [`verify`] (read-only report) and [`repair`] (explicit truncation).
//!
//! `verify` reads every segment completely with the same analysis as recovery and
//! reports what an open would do: accept, cut an unacknowledged tail, or refuse. It never
//! modifies anything. `repair` is the operator's decision to lose every record after a
//! sequence number: it cuts the segment holding that record right after it and renames
//! every later segment out of the way, keeping a copy of every byte it removes beside the
//! segment (`<segment>.cut-<seq>`; later segments are renamed to that form), and logs
//! each step at WARN. It refuses when a record at or before that sequence number is
//! damaged or missing. It cannot bring back a deleted oldest segment.

use std::path::{Path, PathBuf};

use super::error::{Damage, JournalError, io_err};
use super::identity::{Identity, begin_create, finish_create, read_identity, sync_dir};
use super::record::{SEGMENT_HEADER_LEN, SegmentHeader};
use super::recovery::{DroppedTail, SegmentSummary, analyze, cut_with_copy, write_header};
use super::segment::{Opened, SegmentCursor, Step, list_segments, segment_path};
use crate::units::SeqNo;

/// What [`verify`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct VerifyReport {
    /// The journal directory.
    pub dir: PathBuf,
    /// False when the directory holds no journal (no identity file, no segment).
    pub exists: bool,
    /// Every segment examined, oldest first (up to the damage, if any).
    pub segments: Vec<SegmentSummary>,
    /// Records read and verified.
    pub records: u64,
    /// The last intact record.
    pub last_seq: SeqNo,
    /// An unacknowledged tail an open would cut (`copy` is `None`: nothing was cut).
    pub torn_tail: Option<DroppedTail>,
    /// An open would seal the previous segment (a crash interrupted a roll).
    pub unsealed_previous: bool,
    /// Damage that makes an open refuse.
    pub damage: Option<Damage>,
}

impl VerifyReport {
    /// True when an open would succeed (possibly after cutting an unacknowledged tail).
    pub fn is_clean(&self) -> bool {
        self.damage.is_none()
    }
}

/// Checks every record of the journal in `dir`; never modifies anything.
///
/// An I/O error (for example a missing directory) is an `Err`; damage is in the report.
pub fn verify(dir: impl AsRef<Path>) -> Result<VerifyReport, JournalError> {
    let dir = dir.as_ref();
    std::fs::metadata(dir).map_err(io_err("stat", dir))?;
    let a = analyze(dir)?;
    let torn_tail = a.tail.as_ref().and_then(|t| {
        t.cut.map(|(offset, reason)| DroppedTail {
            segment: t.path.clone(),
            offset,
            bytes: t.file_len.saturating_sub(offset),
            last_good_seq: t.last_seq,
            reason,
            copy: None,
        })
    });
    Ok(VerifyReport {
        dir: dir.to_path_buf(),
        exists: !a.create,
        records: a.records_verified,
        last_seq: a
            .tail
            .as_ref()
            .map_or(SeqNo::NONE, |t| t.last_seq)
            .max(a.segments.last().map_or(SeqNo::NONE, |s| s.last_seq)),
        segments: a.segments,
        torn_tail,
        unsealed_previous: a.seal_prev.is_some(),
        damage: a.damage,
    })
}

/// One file [`repair`] cut or moved aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutFile {
    /// The segment file.
    pub path: PathBuf,
    /// Where it was cut (0 when the whole file was moved aside).
    pub offset: u64,
    /// Bytes removed from the journal.
    pub bytes: u64,
    /// Where those bytes are kept.
    pub copy: PathBuf,
}

/// What [`repair`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct RepairReport {
    /// The last record kept.
    pub last_seq: SeqNo,
    /// Files cut or moved aside, with the copies of what was removed.
    pub cut: Vec<CutFile>,
    /// Older segments whose missing seal was written.
    pub sealed: Vec<PathBuf>,
    /// The identity file was missing or invalid and was written.
    pub identity_restored: bool,
}

/// Keeps records up to `truncate_after` and removes everything after it (copies kept).
///
/// Refuses (`RepairRefused`) when a record at or before `truncate_after` is damaged or
/// missing: choose the last good sequence number that `verify` reports.
pub fn repair(dir: impl AsRef<Path>, truncate_after: SeqNo) -> Result<RepairReport, JournalError> {
    let dir = dir.as_ref();
    let keep = truncate_after;
    let refuse = |reason: String| Err(JournalError::RepairRefused(reason));
    let identity = read_identity(dir)?;
    let segments = list_segments(dir)?;
    let first = match identity {
        Identity::Present { first_seq } => first_seq,
        _ => SeqNo(1),
    };
    let mut report = RepairReport {
        last_seq: keep,
        ..RepairReport::default()
    };
    let Some(oldest) = segments.first() else {
        return refuse(format!(
            "{} holds no segment files; there is nothing to keep (remove the directory to \
             start a new journal)",
            dir.display()
        ));
    };
    if oldest.first_seq != first {
        return refuse(format!(
            "the oldest segment starts at seq {} but the journal starts at seq {}: records \
             {}..={} are gone and repair cannot restore them",
            oldest.first_seq.get(),
            first.get(),
            first.get(),
            oldest.first_seq.get().saturating_sub(1)
        ));
    }
    let target = segments
        .iter()
        .rposition(|s| s.first_seq <= keep)
        .unwrap_or(0);
    let mut expected = first;
    let mut buf = Vec::new();
    let mut cut_at = None;
    for (i, seg) in segments.iter().enumerate().take(target + 1) {
        if seg.first_seq != expected {
            return refuse(format!(
                "records {}..={} are missing (segment {} is gone); choose --truncate-after {} \
                 or lower",
                expected.get(),
                seg.first_seq.get().saturating_sub(1),
                segment_path(dir, expected).display(),
                expected.get().saturating_sub(1)
            ));
        }
        let mut cursor = match SegmentCursor::open(seg.path.clone(), seg.first_seq, buf)? {
            Opened::Ready(cursor) => cursor,
            Opened::ShortHeader { .. } | Opened::BadHeader(_) => {
                return refuse(format!(
                    "{} has a bad header; choose --truncate-after {} or lower",
                    seg.path.display(),
                    seg.first_seq.get().saturating_sub(1)
                ));
            }
        };
        let header = *cursor.header();
        let is_target = i == target;
        let mut last = SeqNo(seg.first_seq.get().saturating_sub(1));
        let mut last_end = SEGMENT_HEADER_LEN as u64;
        let mut cut_offset = last_end;
        if !(is_target && keep <= last) {
            loop {
                match cursor.step()? {
                    Step::Record(meta) => {
                        last = meta.seq();
                        last_end = meta.end_offset;
                        cut_offset = last_end;
                        if is_target && last == keep {
                            // Keep the commit mark that confirms `keep`, if one follows.
                            if let Step::Mark { end_offset } = cursor.step()? {
                                cut_offset = end_offset;
                            }
                            break;
                        }
                    }
                    Step::Mark { .. } | Step::DamagedMark { .. } => {}
                    Step::End { torn: None, .. } if !is_target => break,
                    Step::End { offset, .. } | Step::Invalid { offset, .. } => {
                        return refuse(format!(
                            "{} offset {offset}: the last intact record is seq {}; choose \
                             --truncate-after {} or lower",
                            seg.path.display(),
                            last.get(),
                            last.get()
                        ));
                    }
                }
            }
        }
        buf = cursor.into_buffer();
        if is_target {
            cut_at = Some((seg, cut_offset, last_end, header));
        } else if !header.rolled {
            let sealed = SegmentHeader {
                durable_seq: last,
                durable_end: last_end,
                rolled: true,
                closed: false,
                ..header
            };
            write_header(&seg.path, &sealed)?;
            tracing::warn!(segment = %seg.path.display(), "repair sealed an unsealed older segment");
            report.sealed.push(seg.path.clone());
        }
        expected = last.next();
    }
    let Some((seg, offset, last_end, header)) = cut_at else {
        return refuse("no segment holds the requested sequence number".to_owned());
    };
    let len = std::fs::metadata(&seg.path)
        .map_err(io_err("stat", &seg.path))?
        .len();
    if let Some(copy) = cut_with_copy(&seg.path, offset, keep.next())? {
        report.cut.push(CutFile {
            path: seg.path.clone(),
            offset,
            bytes: len.saturating_sub(offset),
            copy,
        });
    }
    let kept = SegmentHeader {
        durable_seq: SeqNo(keep.get().max(seg.first_seq.get().saturating_sub(1))),
        durable_end: last_end,
        rolled: false,
        closed: false,
        ..header
    };
    write_header(&seg.path, &kept)?;
    for later in segments.iter().skip(target + 1) {
        let bytes = std::fs::metadata(&later.path)
            .map_err(io_err("stat", &later.path))?
            .len();
        let copy = free_name(&later.path, keep.next())?;
        std::fs::rename(&later.path, &copy).map_err(io_err("rename", &later.path))?;
        tracing::warn!(
            segment = %later.path.display(),
            copy = %copy.display(),
            "repair moved a later segment aside"
        );
        report.cut.push(CutFile {
            path: later.path.clone(),
            offset: 0,
            bytes,
            copy,
        });
    }
    if !matches!(identity, Identity::Present { .. }) {
        begin_create(dir)?;
        finish_create(dir)?;
        report.identity_restored = true;
    }
    sync_dir(dir)?;
    tracing::warn!(
        dir = %dir.display(),
        last_seq = keep.get(),
        files = report.cut.len(),
        "journal repaired: every record after last_seq removed (copies kept)"
    );
    Ok(report)
}

/// A name `<path>.cut-<seq>` (or `….cut-<seq>.<n>`) that does not exist yet.
fn free_name(path: &Path, seq: SeqNo) -> Result<PathBuf, JournalError> {
    let base = format!("{}.cut-{}", path.display(), seq.get());
    for n in 0..1000u32 {
        let name = if n == 0 {
            PathBuf::from(&base)
        } else {
            PathBuf::from(format!("{base}.{n}"))
        };
        if !name.try_exists().map_err(io_err("stat", &name))? {
            return Ok(name);
        }
    }
    Err(JournalError::RepairRefused(format!(
        "every name for the copy of {} is taken",
        path.display()
    )))
}
