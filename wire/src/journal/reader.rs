//! The reading side: positions at a sequence number and follows the tail.
//!
//! A reader never writes, never truncates and never waits: at the current end of the
//! journal [`JournalReader::next`] returns `Ok(None)` and a later call sees records
//! appended since, across segment rolls. A partially written record at the tail is "not
//! yet"; a complete record that fails its checks is an error. Commit marks are skipped.
//! Many readers may follow one writer (in this or another process).

use std::path::{Path, PathBuf};

use super::error::{JournalError, io_err};
use super::record::{RecordRef, SEGMENT_HEADER_LEN, SegmentHeader};
use super::segment::{Opened, SegmentCursor, Step, list_segments, segment_file_name};
use crate::units::SeqNo;

/// The journal's durable boundary as its writer last published it: every record through
/// the returned seq was on stable storage (`fdatasync` returned) when the writer said so.
///
/// Reads the header of the newest segment, which the writer rewrites after each sync
/// (its page-cache copy is current for a reader on the same host); every record before
/// that segment is durable, since a roll syncs first. A header being rewritten or created
/// at the moment of the read (short, or its CRC fails) yields that lower bound instead, so
/// the result may lag but never runs ahead of the sync. `SeqNo(0)` for a journal without
/// segments. Under `FsyncPolicy::Never` the boundary moves only at opens, rolls and
/// closes. Reads 64 bytes and the directory listing; never writes.
pub fn durable_seq(dir: impl AsRef<Path>) -> Result<SeqNo, JournalError> {
    let dir = dir.as_ref();
    let Some(newest) = list_segments(dir)?.pop() else {
        return Ok(SeqNo(0));
    };
    let before = SeqNo(newest.first_seq.get().saturating_sub(1));
    let mut buf = [0u8; SEGMENT_HEADER_LEN];
    let file = match std::fs::File::open(&newest.path) {
        Ok(file) => file,
        // Removed between the listing and the open (only `repair` does that): nothing new.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(before),
        Err(e) => return Err(io_err("open", &newest.path)(e)),
    };
    let mut have = 0;
    while have < buf.len() {
        let Some(rest) = buf.get_mut(have..) else {
            break;
        };
        match std::os::unix::fs::FileExt::read_at(&file, rest, have as u64) {
            Ok(0) => break,
            Ok(n) => have += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err("read", &newest.path)(e)),
        }
    }
    Ok(
        match SegmentHeader::parse(buf.get(..have).unwrap_or_default()) {
            Ok(h) if h.first_seq == newest.first_seq => h.durable_seq.max(before),
            _ => before,
        },
    )
}

/// Reads a journal directory in sequence order, from a chosen sequence number on.
#[derive(Debug)]
pub struct JournalReader {
    dir: PathBuf,
    from: SeqNo,
    /// The open segment, or `None` while waiting for segment `waiting_for` to appear.
    cursor: Option<SegmentCursor>,
    waiting_for: SeqNo,
    /// Read buffer kept while no segment is open.
    spare: Vec<u8>,
    /// Reusable file name and path for probing the next segment.
    name: String,
    probe: PathBuf,
}

impl JournalReader {
    /// Opens the journal in `dir`, positioned at the first record with seq ≥ `from`.
    ///
    /// Finds the segment by binary search over the sorted segment names, then scans it.
    /// An empty directory is fine: the reader waits for the writer's first segment.
    pub fn open(dir: impl AsRef<Path>, from: SeqNo) -> Result<JournalReader, JournalError> {
        let dir = dir.as_ref().to_path_buf();
        let segments = list_segments(&dir)?;
        let start = segments
            .partition_point(|s| s.first_seq <= from)
            .saturating_sub(1);
        let waiting_for = segments.get(start).map_or(SeqNo(1), |s| s.first_seq);
        let mut reader = JournalReader {
            probe: dir.clone(),
            dir,
            from,
            cursor: None,
            waiting_for,
            spare: Vec::new(),
            name: String::new(),
        };
        reader.try_open_waiting()?;
        Ok(reader)
    }

    /// The next record with seq ≥ `from`, or `Ok(None)` at the current end of the journal.
    // Not `Iterator::next`: the record borrows the reader's buffer (a lending iterator).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<RecordRef<'_>>, JournalError> {
        let Some(meta) = self.advance()? else {
            return Ok(None);
        };
        Ok(self.cursor.as_ref().map(|c| c.record(&meta)))
    }

    /// The sequence number the next record read will carry (if it is at or after `from`).
    pub fn next_seq(&self) -> SeqNo {
        self.cursor
            .as_ref()
            .map_or(self.waiting_for, SegmentCursor::next_seq)
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Steps to the next wanted record; leaves its cursor open when it returns `Some`.
    fn advance(&mut self) -> Result<Option<super::segment::RecordMeta>, JournalError> {
        loop {
            let Some(cursor) = self.cursor.as_mut() else {
                if self.try_open_waiting()? {
                    continue;
                }
                return Ok(None);
            };
            match cursor.step()? {
                Step::Record(meta) if meta.seq() < self.from => {}
                Step::Record(meta) => return Ok(Some(meta)),
                Step::Mark { .. } | Step::DamagedMark { .. } => {}
                Step::Invalid { offset, reason } => {
                    return Err(reason.into_error(cursor.path(), offset));
                }
                Step::End { .. } => {
                    // The writer never rolls away from an empty segment.
                    if !cursor.passed_a_record() {
                        return Ok(None);
                    }
                    let next_first = cursor.next_seq();
                    if !self.segment_exists(next_first)? {
                        return Ok(None);
                    }
                    // The writer rolled, so everything it will ever write to this segment
                    // was written before the next segment appeared: read once more.
                    let Some(cursor) = self.cursor.as_mut() else {
                        return Ok(None);
                    };
                    match cursor.step()? {
                        Step::Record(meta) if meta.seq() < self.from => {}
                        Step::Record(meta) => return Ok(Some(meta)),
                        Step::Mark { .. } | Step::DamagedMark { .. } => {}
                        Step::Invalid { offset, reason } => {
                            return Err(reason.into_error(cursor.path(), offset));
                        }
                        Step::End {
                            torn: Some(_),
                            offset,
                        } => {
                            return Err(JournalError::TornSegment {
                                path: cursor.path().to_path_buf(),
                                offset,
                            });
                        }
                        Step::End { torn: None, .. } => {
                            if let Some(done) = self.cursor.take() {
                                self.spare = done.into_buffer();
                            }
                            self.waiting_for = next_first;
                        }
                    }
                }
            }
        }
    }

    /// Opens segment `waiting_for` if it exists with a complete header; true if it did.
    fn try_open_waiting(&mut self) -> Result<bool, JournalError> {
        if !self.segment_exists(self.waiting_for)? {
            return Ok(false);
        }
        let buf = std::mem::take(&mut self.spare);
        match SegmentCursor::open(self.probe.clone(), self.waiting_for, buf)? {
            Opened::Ready(cursor) => {
                self.cursor = Some(cursor);
                Ok(true)
            }
            Opened::ShortHeader { .. } => Ok(false),
            Opened::BadHeader(error) => Err(JournalError::Corrupt {
                path: self.probe.clone(),
                offset: 0,
                error,
            }),
        }
    }

    /// Whether the segment starting at `first` exists (leaves its path in `probe`).
    fn segment_exists(&mut self, first: SeqNo) -> Result<bool, JournalError> {
        segment_file_name(first, &mut self.name);
        self.probe.clone_from(&self.dir);
        self.probe.push(&self.name);
        self.probe.try_exists().map_err(io_err("stat", &self.probe))
    }
}
