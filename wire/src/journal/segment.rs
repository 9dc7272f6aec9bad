//! Segment files: naming, listing, and a chunked cursor that walks a segment's records.
//!
//! A segment is named by the sequence number of its first record, zero-padded to 20
//! digits so that names sort like numbers (`00000000000000000001.twj`). The cursor reads a
//! segment in chunks through a reusable buffer and reports each record, the clean or torn
//! end of the data written so far, or the first defect; deciding what a defect means
//! (truncate, error, "not yet") is the caller's job. Commit marks are reported as
//! [`Step::Mark`] (a mark must confirm exactly the last record before it); a mark with a
//! bad CRC followed by the next record or the end of the file is [`Step::DamagedMark`]. This module
//! never writes.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::error::{JournalError, io_err};
use super::record::{
    Frame, MARK_LEN, RECORD_HEADER_LEN, RecordError, RecordRef, SEGMENT_HEADER_LEN, SegmentHeader,
    parse_frame,
};
use super::recovery::DropReason;
use crate::units::{SeqNo, UnixNanos};

/// File name suffix of segment files.
pub(crate) const SEGMENT_SUFFIX: &str = ".twj";
/// Digits in a segment file name (enough for any `u64`).
const NAME_DIGITS: usize = 20;
/// Initial read buffer size of a cursor.
const READ_CHUNK: usize = 64 * 1024;

/// Writes the file name of the segment starting at `first` into `out` (cleared first).
pub(crate) fn segment_file_name(first: SeqNo, out: &mut String) {
    out.clear();
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        "{:0width$}{SEGMENT_SUFFIX}",
        first.get(),
        width = NAME_DIGITS
    );
}

/// The path of the segment starting at `first` in `dir`.
pub(crate) fn segment_path(dir: &Path, first: SeqNo) -> PathBuf {
    let mut name = String::with_capacity(NAME_DIGITS + SEGMENT_SUFFIX.len());
    segment_file_name(first, &mut name);
    dir.join(name)
}

/// The first sequence number encoded in a segment file name, if it is one.
pub(crate) fn parse_segment_name(name: &OsStr) -> Option<SeqNo> {
    let digits = name.to_str()?.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(SeqNo)
}

/// A segment file found in a journal directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentEntry {
    /// First sequence number, from the file name.
    pub(crate) first_seq: SeqNo,
    /// Full path of the file.
    pub(crate) path: PathBuf,
}

/// The segment files in `dir`, sorted by first sequence number. Other files are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<SegmentEntry>, JournalError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("read directory", dir))? {
        let entry = entry.map_err(io_err("read directory", dir))?;
        if let Some(first_seq) = parse_segment_name(&entry.file_name()) {
            out.push(SegmentEntry {
                first_seq,
                path: entry.path(),
            });
        }
    }
    out.sort_by_key(|e| e.first_seq);
    Ok(out)
}

/// How a segment's header looked when a cursor tried to open it.
#[derive(Debug)]
pub(crate) enum Opened {
    /// The header is valid; the cursor is positioned at the first record.
    Ready(SegmentCursor),
    /// The file is shorter than a header (being created, or torn at creation).
    ShortHeader {
        /// Bytes present.
        have: usize,
    },
    /// The header is complete but invalid.
    BadHeader(RecordError),
}

/// One step of a cursor walk.
#[derive(Debug)]
pub(crate) enum Step {
    /// A valid record with the expected sequence number.
    Record(RecordMeta),
    /// A commit mark with a bad CRC (length and kind intact) followed by the next record
    /// or the end of the file: skipped, since a mark carries no data.
    DamagedMark {
        /// File offset of the mark.
        offset: u64,
    },
    /// A valid commit mark confirming the records through the last one passed.
    Mark {
        /// File offset just past the mark.
        end_offset: u64,
    },
    /// The end of the data in the file. `torn` is set when a partial record follows.
    End {
        /// File offset of the end of the last valid record.
        offset: u64,
        /// The partial record after it, if any: (bytes needed, bytes present).
        torn: Option<(usize, usize)>,
    },
    /// The bytes at `offset` are not the next valid record.
    Invalid {
        /// File offset of the defective record.
        offset: u64,
        /// What is wrong.
        reason: DropReason,
    },
}

/// What [`SegmentCursor::damaged_mark`] decided.
enum MarkCheck {
    /// Not a damaged mark followed by the next record: the defect stands.
    NotAMark,
    /// A damaged mark followed by the next record: skip it.
    Skip,
    /// Read more and decide again; at end of file, skip the mark if nothing follows it.
    NeedMore {
        /// Bytes from the mark's start that must be buffered.
        need: usize,
        /// Bytes after the mark buffered now.
        have: usize,
    },
}

/// Where a record returned by [`SegmentCursor::step`] lies.
#[derive(Clone, Debug)]
pub(crate) struct RecordMeta {
    record_type: u16,
    seq: SeqNo,
    timestamp: UnixNanos,
    payload: Range<usize>,
    /// File offset just past the record.
    pub(crate) end_offset: u64,
}

impl RecordMeta {
    /// The record's sequence number.
    pub(crate) fn seq(&self) -> SeqNo {
        self.seq
    }
}

/// Walks the records of one segment file through a reusable buffer.
#[derive(Debug)]
pub(crate) struct SegmentCursor {
    file: File,
    path: PathBuf,
    header: SegmentHeader,
    first_seq: SeqNo,
    next_seq: SeqNo,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
}

impl SegmentCursor {
    /// Opens `path` (named for `named_first`) and checks its header.
    ///
    /// `buf` is the read buffer to reuse (its contents are discarded).
    pub(crate) fn open(
        path: PathBuf,
        named_first: SeqNo,
        mut buf: Vec<u8>,
    ) -> Result<Opened, JournalError> {
        let mut file = File::open(&path).map_err(io_err("open", &path))?;
        let mut header = [0u8; SEGMENT_HEADER_LEN];
        let have = read_full(&mut file, &mut header).map_err(io_err("read", &path))?;
        let parsed = match SegmentHeader::parse(header.get(..have).unwrap_or_default()) {
            Ok(parsed) => parsed,
            Err(RecordError::Truncated { .. }) => return Ok(Opened::ShortHeader { have }),
            Err(error) => return Ok(Opened::BadHeader(error)),
        };
        if parsed.first_seq != named_first {
            return Err(JournalError::SegmentNameMismatch {
                path,
                named: named_first,
                stored: parsed.first_seq,
            });
        }
        if buf.len() < READ_CHUNK {
            buf.resize(READ_CHUNK, 0);
        }
        Ok(Opened::Ready(SegmentCursor {
            file,
            path,
            header: parsed,
            first_seq: parsed.first_seq,
            next_seq: parsed.first_seq,
            buf,
            start: 0,
            end: 0,
            offset: SEGMENT_HEADER_LEN as u64,
        }))
    }

    /// The segment's header as read when the cursor was opened.
    pub(crate) fn header(&self) -> &SegmentHeader {
        &self.header
    }

    /// The segment file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// True once the cursor has passed at least one record of this segment.
    pub(crate) fn passed_a_record(&self) -> bool {
        self.next_seq != self.first_seq
    }

    /// The sequence number the next record must carry.
    pub(crate) fn next_seq(&self) -> SeqNo {
        self.next_seq
    }

    /// Gives back the read buffer for reuse by the next cursor.
    pub(crate) fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// Advances to the next record, reading more of the file as needed.
    ///
    /// At the end of the data this returns `End`; a later call reads again, so records
    /// appended since are seen.
    pub(crate) fn step(&mut self) -> Result<Step, JournalError> {
        loop {
            let avail = self.buf.get(self.start..self.end).unwrap_or_default();
            match parse_frame(avail) {
                Ok((Frame::Mark(seq), used)) => {
                    let last = SeqNo(self.next_seq.get().wrapping_sub(1));
                    if seq != last || !self.passed_a_record() {
                        return Ok(Step::Invalid {
                            offset: self.offset,
                            reason: DropReason::SeqMismatch {
                                expected: last,
                                found: seq,
                            },
                        });
                    }
                    self.start += used;
                    self.offset += used as u64;
                    return Ok(Step::Mark {
                        end_offset: self.offset,
                    });
                }
                Ok((Frame::Record(record), used)) => {
                    if record.seq != self.next_seq {
                        return Ok(Step::Invalid {
                            offset: self.offset,
                            reason: DropReason::SeqMismatch {
                                expected: self.next_seq,
                                found: record.seq,
                            },
                        });
                    }
                    let payload_start = self.start + RECORD_HEADER_LEN;
                    let meta = RecordMeta {
                        record_type: record.record_type,
                        seq: record.seq,
                        timestamp: record.timestamp,
                        payload: payload_start..payload_start + record.payload.len(),
                        end_offset: self.offset + used as u64,
                    };
                    self.start += used;
                    self.offset = meta.end_offset;
                    self.next_seq = self.next_seq.next();
                    return Ok(Step::Record(meta));
                }
                Err(RecordError::Truncated { need, have }) => {
                    if !self.fill(need)? {
                        return Ok(Step::End {
                            offset: self.offset,
                            torn: (have > 0).then_some((need, have)),
                        });
                    }
                }
                Err(error) => {
                    match self.damaged_mark(error) {
                        MarkCheck::NotAMark => {}
                        MarkCheck::Skip => {
                            let offset = self.offset;
                            self.start += MARK_LEN;
                            self.offset += MARK_LEN as u64;
                            return Ok(Step::DamagedMark { offset });
                        }
                        MarkCheck::NeedMore { need, have } => {
                            if self.fill(need)? {
                                continue;
                            }
                            if have == 0 {
                                // The damaged mark ends the file: skip it too.
                                let offset = self.offset;
                                self.start += MARK_LEN;
                                self.offset += MARK_LEN as u64;
                                return Ok(Step::DamagedMark { offset });
                            }
                        }
                    }
                    return Ok(Step::Invalid {
                        offset: self.offset,
                        reason: DropReason::Corrupt(error),
                    });
                }
            }
        }
    }

    /// Whether the invalid frame at the cursor is a commit mark with a bad CRC (its
    /// length and kind intact) followed by the next record or by the end of the file: a
    /// mark carries no data, so it can be skipped without losing any.
    fn damaged_mark(&self, error: RecordError) -> MarkCheck {
        let avail = self.buf.get(self.start..self.end).unwrap_or_default();
        let looks_like_mark = matches!(error, RecordError::BadCrc { .. })
            && avail.get(..4) == Some(&[0, 0, 0, 0])
            && avail.get(6..8) == Some(&[1, 0])
            && self.passed_a_record();
        if !looks_like_mark {
            return MarkCheck::NotAMark;
        }
        match parse_frame(avail.get(MARK_LEN..).unwrap_or_default()) {
            Ok((Frame::Record(next), _)) if next.seq == self.next_seq => MarkCheck::Skip,
            Err(RecordError::Truncated { need, have }) => MarkCheck::NeedMore {
                need: MARK_LEN + need,
                have,
            },
            _ => MarkCheck::NotAMark,
        }
    }

    /// The record described by `meta`, which must come from the latest `step`.
    pub(crate) fn record(&self, meta: &RecordMeta) -> RecordRef<'_> {
        RecordRef {
            record_type: meta.record_type,
            seq: meta.seq,
            timestamp: meta.timestamp,
            payload: self.buf.get(meta.payload.clone()).unwrap_or_default(),
        }
    }

    /// Reads more bytes so that `need` bytes from `start` could fit; false at end of file.
    fn fill(&mut self, need: usize) -> Result<bool, JournalError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        let spare = self.buf.get_mut(self.end..).unwrap_or_default();
        loop {
            match self.file.read(spare) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err("read", &self.path)(e)),
            }
        }
    }
}

/// Reads until `buf` is full or end of file; returns the bytes read.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(spare) = buf.get_mut(filled..).filter(|s| !s.is_empty()) {
        match file.read(spare) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_like_numbers_and_parse_back() {
        let mut a = String::new();
        let mut b = String::new();
        segment_file_name(SeqNo(9), &mut a);
        segment_file_name(SeqNo(10), &mut b);
        assert_eq!(a, "00000000000000000009.twj");
        assert!(a < b);
        assert_eq!(parse_segment_name(OsStr::new(&b)), Some(SeqNo(10)));
        segment_file_name(SeqNo(u64::MAX), &mut a);
        assert_eq!(parse_segment_name(OsStr::new(&a)), Some(SeqNo(u64::MAX)));
        for bad in [
            "1.twj",
            "0000000000000000000a.twj",
            "00000000000000000001.log",
            "99999999999999999999.twj",
        ] {
            assert_eq!(parse_segment_name(OsStr::new(bad)), None, "{bad}");
        }
    }
}
