//! Recovery: torn and corrupt tails are cut exactly at the last intact record and
//! reported; defects in older segments are errors.

mod journal_util;

use std::path::{Path, PathBuf};

use journal_util::*;
use tickwarp_wire::journal::{
    DropReason, DroppedTail, FsyncPolicy, JournalError, JournalWriter, RecordError, parse_record,
};
use tickwarp_wire::units::SeqNo;

/// A journal of at least two segments whose last segment holds at least three records.
struct Fixture {
    dir: tempfile::TempDir,
    /// Segment files, oldest first.
    files: Vec<PathBuf>,
    /// Contents of the last segment.
    last_bytes: Vec<u8>,
    /// First sequence number of the last segment.
    last_first: u64,
    /// (start, end) byte offsets of each record in the last segment.
    records: Vec<(usize, usize)>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, _) =
            JournalWriter::open(dir.path(), config(600, FsyncPolicy::Never)).unwrap();
        loop {
            let next = writer.next_seq().get();
            append_until(&mut writer, next);
            let (_, first) = writer.current_segment();
            if first.get() > 1 && writer.next_seq().get() - first.get() >= 4 {
                break;
            }
        }
        let last_first = writer.current_segment().1.get();
        drop(writer);
        let files = segment_files(dir.path());
        let last_bytes = std::fs::read(files.last().unwrap()).unwrap();
        let mut records = Vec::new();
        let mut at = 32;
        while at < last_bytes.len() {
            let (_, used) = parse_record(&last_bytes[at..]).unwrap();
            records.push((at, at + used));
            at += used;
        }
        Fixture {
            dir,
            files,
            last_bytes,
            last_first,
            records,
        }
    }

    /// Byte offset where the last three records start.
    fn tail_start(&self) -> usize {
        self.records[self.records.len() - 3].0
    }

    /// A copy of the journal whose last segment holds `last` instead.
    fn copy_with_last(&self, last: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let copy = tempfile::tempdir().unwrap();
        for file in &self.files[..self.files.len() - 1] {
            std::fs::copy(file, copy.path().join(file.file_name().unwrap())).unwrap();
        }
        let last_path = copy
            .path()
            .join(self.files.last().unwrap().file_name().unwrap());
        std::fs::write(&last_path, last).unwrap();
        (copy, last_path)
    }

    /// Records of the last segment that end at or before `offset`.
    fn complete_before(&self, offset: usize) -> usize {
        self.records
            .iter()
            .filter(|(_, end)| *end <= offset)
            .count()
    }
}

/// Opens the writer, checks that exactly `kept` records survive and a new append works.
fn reopen_and_check(dir: &Path, kept_last_seq: u64) -> Option<DroppedTail> {
    let (mut writer, report) = JournalWriter::open(dir, config(600, FsyncPolicy::Never)).unwrap();
    assert_eq!(report.last_seq, SeqNo(kept_last_seq));
    assert_eq!(writer.next_seq(), SeqNo(kept_last_seq + 1));
    assert_standard(&read_all(dir, SeqNo(1)), 1, kept_last_seq);
    append_until(&mut writer, kept_last_seq + 1);
    assert_standard(&read_all(dir, SeqNo(1)), 1, kept_last_seq + 1);
    report.dropped
}

#[test]
fn truncation_at_every_offset_keeps_the_intact_prefix() {
    let fx = Fixture::new();
    for cut in fx.tail_start()..=fx.last_bytes.len() {
        let (copy, last_path) = fx.copy_with_last(&fx.last_bytes[..cut]);
        let kept = fx.complete_before(cut);
        let boundary = if kept == 0 {
            32
        } else {
            fx.records[kept - 1].1
        };
        let last_seq = fx.last_first + kept as u64 - 1;
        let dropped = reopen_and_check(copy.path(), last_seq);
        if cut == boundary {
            assert_eq!(dropped, None, "cut {cut} is at a record boundary");
        } else {
            let dropped = dropped.unwrap_or_else(|| panic!("cut {cut}: nothing reported"));
            assert_eq!(dropped.segment, last_path);
            assert_eq!(dropped.offset, boundary as u64, "cut {cut}");
            assert_eq!(dropped.bytes, (cut - boundary) as u64, "cut {cut}");
            assert_eq!(dropped.last_good_seq, SeqNo(last_seq));
            assert!(
                matches!(dropped.reason, DropReason::Torn { have, .. } if have == cut - boundary),
                "cut {cut}: {:?}",
                dropped.reason
            );
        }
    }
}

#[test]
fn a_flipped_byte_anywhere_in_the_tail_drops_that_record_and_after() {
    let fx = Fixture::new();
    for offset in fx.tail_start()..fx.last_bytes.len() {
        let mut bytes = fx.last_bytes.clone();
        bytes[offset] ^= 0xFF;
        let (copy, last_path) = fx.copy_with_last(&bytes);
        let bad = fx
            .records
            .iter()
            .position(|(s, e)| (*s..*e).contains(&offset))
            .unwrap();
        let start = fx.records[bad].0;
        let last_seq = fx.last_first + bad as u64 - 1;
        let dropped = reopen_and_check(copy.path(), last_seq)
            .unwrap_or_else(|| panic!("flip at {offset}: nothing reported"));
        assert_eq!(dropped.segment, last_path);
        assert_eq!(dropped.offset, start as u64, "flip at {offset}");
        assert_eq!(
            dropped.bytes,
            (bytes.len() - start) as u64,
            "flip at {offset}"
        );
        assert_eq!(dropped.last_good_seq, SeqNo(last_seq));
        assert!(
            matches!(
                dropped.reason,
                DropReason::Corrupt(_) | DropReason::Torn { .. } | DropReason::SeqMismatch { .. }
            ),
            "flip at {offset}: {:?}",
            dropped.reason
        );
    }
}

#[test]
fn torn_segment_header_after_a_roll_is_rewritten() {
    let fx = Fixture::new();
    let last_seq = fx.last_first + fx.records.len() as u64 - 1;
    let next = fx.dir.path().join(format!("{:020}.twj", last_seq + 1));
    std::fs::write(&next, [b'T', b'W', b'J']).unwrap();
    let (mut writer, report) =
        JournalWriter::open(fx.dir.path(), config(600, FsyncPolicy::Never)).unwrap();
    assert_eq!(report.last_seq, SeqNo(last_seq));
    let dropped = report.dropped.unwrap();
    assert_eq!(dropped.segment, next);
    assert_eq!((dropped.offset, dropped.bytes), (0, 3));
    assert_eq!(dropped.reason, DropReason::TornSegmentHeader { have: 3 });
    assert_eq!(std::fs::metadata(&next).unwrap().len(), 32);
    append_until(&mut writer, last_seq + 1);
    assert_eq!(writer.current_segment().0, next.as_path());
    assert_standard(&read_all(fx.dir.path(), SeqNo(1)), 1, last_seq + 1);
}

#[test]
fn empty_last_segment_is_clean() {
    let fx = Fixture::new();
    let last_seq = fx.last_first + fx.records.len() as u64 - 1;
    let next = fx.dir.path().join(format!("{:020}.twj", last_seq + 1));
    let header = tickwarp_wire::journal::SegmentHeader {
        first_seq: SeqNo(last_seq + 1),
    };
    std::fs::write(&next, header.emit()).unwrap();
    assert_eq!(reopen_and_check(fx.dir.path(), last_seq), None);
}

#[test]
fn corruption_in_the_previous_segment_is_an_error() {
    let fx = Fixture::new();
    let prev = &fx.files[fx.files.len() - 2];
    let mut bytes = std::fs::read(prev).unwrap();
    let at = bytes.len() - 2;
    bytes[at] ^= 0x10;
    std::fs::write(prev, &bytes).unwrap();
    match JournalWriter::open(fx.dir.path(), config(600, FsyncPolicy::Never)) {
        Err(JournalError::Corrupt {
            path,
            error: RecordError::BadCrc { .. },
            ..
        }) => assert_eq!(&path, prev),
        other => panic!("expected a corruption error, got {other:?}"),
    }
    assert_eq!(
        std::fs::read(prev).unwrap(),
        bytes,
        "an older segment is never modified"
    );
}

#[test]
fn torn_previous_segment_is_an_error() {
    let fx = Fixture::new();
    let prev = &fx.files[fx.files.len() - 2];
    let bytes = std::fs::read(prev).unwrap();
    std::fs::write(prev, &bytes[..bytes.len() - 5]).unwrap();
    assert!(matches!(
        JournalWriter::open(fx.dir.path(), config(600, FsyncPolicy::Never)),
        Err(JournalError::TornSegment { .. })
    ));
}

#[test]
fn bad_header_on_a_segment_with_records_is_an_error() {
    let fx = Fixture::new();
    let mut bytes = fx.last_bytes.clone();
    bytes[3] ^= 0x01;
    let (copy, _) = fx.copy_with_last(&bytes);
    assert!(matches!(
        JournalWriter::open(copy.path(), config(600, FsyncPolicy::Never)),
        Err(JournalError::Corrupt {
            offset: 0,
            error: RecordError::BadMagic,
            ..
        })
    ));
}

#[test]
fn segment_renamed_away_from_its_header_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(1 << 20, FsyncPolicy::Never)).unwrap();
    append_until(&mut writer, 3);
    drop(writer);
    let renamed = dir.path().join(format!("{:020}.twj", 5));
    std::fs::rename(&segment_files(dir.path())[0], &renamed).unwrap();
    match JournalWriter::open(dir.path(), config(1 << 20, FsyncPolicy::Never)) {
        Err(JournalError::SegmentNameMismatch {
            path,
            named,
            stored,
        }) => {
            assert_eq!((path, named, stored), (renamed, SeqNo(5), SeqNo(1)));
        }
        other => panic!("expected a name mismatch, got {other:?}"),
    }
}
