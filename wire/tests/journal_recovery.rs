//! The corruption matrix (issue 10): recovery may only drop what was never acknowledged.
//!
//! Journals of several segments are written under `EveryRecord` and under `Batched`, the
//! writer is dropped without `close` (a crash), and then one thing is damaged: a flipped
//! byte in each region (segment header, record header, payload, CRC, commit mark) of each
//! segment, each segment deleted, the last segment truncated at every frame boundary and
//! at every byte of its last batch. After each, opening must either recover every
//! acknowledged (appended and synced) record, or refuse with a report naming the damaged
//! file and the last good sequence number. `verify` must agree with the open and change
//! nothing; `repair` must make the journal open again with a copy of every byte it cut.

mod journal_util;

use std::path::{Path, PathBuf};
use std::time::Duration;

use journal_util::*;
use tickwarp_wire::journal::{
    Damage, DropReason, Frame, FsyncPolicy, JournalError, JournalWriter, MARK_LEN, Problem,
    SEGMENT_HEADER_LEN, SegmentHeader, parse_frame, repair, verify,
};
use tickwarp_wire::units::{Nanos, SeqNo, UnixNanos};

/// Segment size: about fifteen records per segment.
const SEGMENT_BYTES: u64 = 1600;
/// Records appended by each fixture at least (it goes on until its last segment holds
/// several synced batches and, under `Batched`, an unsynced tail).
const MIN_RECORDS: u64 = 30;

/// One frame in a segment file.
#[derive(Clone, Copy, Debug)]
struct FrameAt {
    start: usize,
    end: usize,
    /// The record's seq, or for a mark the seq it confirms.
    seq: u64,
    mark: bool,
}

/// A crashed journal and where everything in it lies.
struct Fixture {
    dir: tempfile::TempDir,
    policy: FsyncPolicy,
    /// Highest acknowledged (synced) sequence number.
    acked: u64,
    /// Records appended.
    total: u64,
    /// Segment files, oldest first, with their frames.
    segments: Vec<(PathBuf, Vec<FrameAt>)>,
}

fn batched() -> FsyncPolicy {
    FsyncPolicy::Batched {
        max_records: 4,
        max_delay: Duration::from_secs(3600),
    }
}

impl Fixture {
    fn new(policy: FsyncPolicy) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, _) =
            JournalWriter::open(dir.path(), config(SEGMENT_BYTES, policy)).unwrap();
        let mut total = 0;
        loop {
            total += 1;
            append_until(&mut writer, total);
            let last_first = writer.current_segment().1.get();
            let durable = writer.durable_seq().get();
            let enough = match policy {
                FsyncPolicy::EveryRecord => total + 1 - last_first >= 4,
                _ => durable + 1 >= last_first + 5 && total > durable,
            };
            if total >= MIN_RECORDS && enough && segment_files(dir.path()).len() >= 4 {
                break;
            }
            assert!(
                total < 1000,
                "{policy:?}: no fixture shape after {total} records"
            );
        }
        let acked = writer.durable_seq().get();
        if policy == FsyncPolicy::EveryRecord {
            assert_eq!(acked, total);
        }
        drop(writer);
        let segments = segment_files(dir.path())
            .into_iter()
            .map(|path| {
                let bytes = std::fs::read(&path).unwrap();
                let mut frames = Vec::new();
                let mut at = SEGMENT_HEADER_LEN;
                while at < bytes.len() {
                    let (frame, used) = parse_frame(&bytes[at..]).unwrap();
                    let (seq, mark) = match frame {
                        Frame::Record(r) => (r.seq.get(), false),
                        Frame::Mark(s) => (s.get(), true),
                    };
                    frames.push(FrameAt {
                        start: at,
                        end: at + used,
                        seq,
                        mark,
                    });
                    at += used;
                }
                (path, frames)
            })
            .collect::<Vec<_>>();
        assert!(segments.len() >= 4, "{} segments", segments.len());
        Fixture {
            dir,
            policy,
            acked,
            total,
            segments,
        }
    }

    /// A copy of the journal directory to damage.
    fn copy(&self) -> tempfile::TempDir {
        let out = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), out.path().join(entry.file_name())).unwrap();
        }
        out
    }

    fn in_copy(&self, copy: &Path, seg: usize) -> PathBuf {
        copy.join(self.segments[seg].0.file_name().unwrap())
    }

    fn first_seq(&self, seg: usize) -> u64 {
        self.segments[seg]
            .1
            .iter()
            .find(|f| !f.mark)
            .map_or(0, |f| f.seq)
    }
}

/// What an open of a damaged copy did.
#[derive(Debug)]
enum Outcome {
    /// Opened; the records read back end at this seq.
    Recovered(u64),
    /// Refused with this damage report.
    Refused(Box<Damage>),
}

/// Opens `dir` and checks the rule: every acknowledged record recovered, or a refusal.
/// Also checks that `verify` agrees and leaves every byte as it was.
fn open_and_check(fx: &Fixture, dir: &Path, case: &str) -> Outcome {
    let before = snapshot(dir);
    let report = verify(dir).unwrap();
    assert_eq!(snapshot(dir), before, "{case}: verify modified the journal");
    match JournalWriter::open(dir, config(SEGMENT_BYTES, fx.policy)) {
        Ok((writer, rec)) => {
            assert!(report.is_clean(), "{case}: verify reported {report:?}");
            let records = read_all(dir, SeqNo(1));
            let last = records.last().map_or(0, |r| r.seq.get());
            assert!(
                last >= fx.acked,
                "{case}: acknowledged seq {} lost, journal ends at {last} ({rec:?})",
                fx.acked
            );
            assert_standard(&records, 1, last);
            assert_eq!(writer.next_seq(), SeqNo(last + 1), "{case}");
            if let Some(dropped) = &rec.dropped {
                let copy = dropped.copy.as_ref().expect("a cut keeps a copy");
                assert_eq!(
                    std::fs::metadata(copy).unwrap().len(),
                    dropped.bytes,
                    "{case}: the copy holds every cut byte"
                );
            }
            Outcome::Recovered(last)
        }
        Err(JournalError::Damaged(damage)) => {
            assert_eq!(
                snapshot(dir),
                before,
                "{case}: a refused open modified the journal"
            );
            assert_eq!(
                report.damage.as_ref(),
                Some(&*damage),
                "{case}: verify and open disagree"
            );
            let text = damage.to_string();
            for needle in [
                damage.path.display().to_string(),
                format!("offset {}", damage.offset),
                format!("tickwarp journal verify {}", dir.display()),
                format!("--truncate-after {}", damage.last_good_seq.get()),
            ] {
                assert!(text.contains(&needle), "{case}: {needle:?} not in {text}");
            }
            Outcome::Refused(damage)
        }
        Err(other) => panic!("{case}: unexpected error {other}"),
    }
}

/// Every file in `dir` and its contents.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

fn flip(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x21;
    std::fs::write(path, bytes).unwrap();
}

fn truncate(path: &Path, len: usize) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(len as u64).unwrap();
}

/// Asserts a refusal names `path` and the expected last good seq.
fn assert_refused(outcome: Outcome, path: &Path, last_good: u64, case: &str) -> Box<Damage> {
    match outcome {
        Outcome::Refused(damage) => {
            assert_eq!(damage.path, path, "{case}: {damage}");
            assert_eq!(damage.last_good_seq, SeqNo(last_good), "{case}: {damage}");
            damage
        }
        Outcome::Recovered(last) => panic!("{case}: must refuse, recovered through {last}"),
    }
}

fn flip_matrix(policy: FsyncPolicy) {
    let fx = Fixture::new(policy);
    let n = fx.segments.len();
    let mut refused = 0;
    let mut recovered = 0;
    for seg in 0..n {
        let is_last = seg + 1 == n;
        // Segment header: magic, version, flags, first_seq, durable boundary, reserved, crc.
        for offset in [0, 8, 12, 16, 24, 32, 40, 60] {
            let copy = fx.copy();
            let path = fx.in_copy(copy.path(), seg);
            flip(&path, offset);
            let case = format!("{policy:?} segment {seg} header byte {offset}");
            let damage = assert_refused(
                open_and_check(&fx, copy.path(), &case),
                &path,
                fx.first_seq(seg) - 1,
                &case,
            );
            assert!(matches!(damage.problem, Problem::BadHeader(_)), "{case}");
            refused += 1;
        }
        for frame in fx.segments[seg].1.clone() {
            let regions: &[(&str, usize)] = if frame.mark {
                &[
                    ("mark kind", 6),
                    ("mark seq", 8),
                    ("mark crc", MARK_LEN - 1),
                ]
            } else {
                &[
                    ("record len", 0),
                    ("record seq", 8),
                    ("payload", 24),
                    ("record crc", frame.end - frame.start - 1),
                ]
            };
            for &(region, rel) in regions {
                let copy = fx.copy();
                let path = fx.in_copy(copy.path(), seg);
                flip(&path, frame.start + rel);
                let case = format!("{policy:?} segment {seg} {region} of seq {}", frame.seq);
                let outcome = open_and_check(&fx, copy.path(), &case);
                let acked_frame = frame.seq <= fx.acked;
                // The last mark of the journal: only it and the unsynced records after it
                // are lost, the records it confirms are covered by the header's boundary.
                let final_mark = is_last
                    && frame.mark
                    && !fx.segments[seg]
                        .1
                        .iter()
                        .any(|f| f.mark && f.start > frame.start);
                if region == "mark seq" || region == "mark crc" {
                    // A mark with a bad CRC holds no data: skipped, nothing lost.
                    match outcome {
                        Outcome::Recovered(last) => assert_eq!(last, fx.total, "{case}"),
                        Outcome::Refused(d) => panic!("{case}: a damaged mark refused: {d}"),
                    }
                    recovered += 1;
                } else if !is_last || (acked_frame && !final_mark) {
                    let last_good = if frame.mark { frame.seq } else { frame.seq - 1 };
                    assert_refused(outcome, &path, last_good, &case);
                    refused += 1;
                } else {
                    match outcome {
                        Outcome::Recovered(_) => recovered += 1,
                        Outcome::Refused(d) => panic!("{case}: unacknowledged tail refused: {d}"),
                    }
                }
            }
        }
    }
    eprintln!("{policy:?}: {refused} refused, {recovered} recovered");
    assert!(refused > 0);
    if policy != FsyncPolicy::EveryRecord {
        assert!(recovered > 0, "the unsynced tail is recoverable");
    }
}

fn fx_len(fx: &Fixture, seg: usize) -> usize {
    fx.segments[seg]
        .1
        .last()
        .map_or(SEGMENT_HEADER_LEN, |f| f.end)
}

#[test]
fn flipped_bytes_under_every_record() {
    flip_matrix(FsyncPolicy::EveryRecord);
}

#[test]
fn flipped_bytes_under_batched() {
    flip_matrix(batched());
}

fn deletion_matrix(policy: FsyncPolicy) {
    let fx = Fixture::new(policy);
    for seg in 0..fx.segments.len() {
        let copy = fx.copy();
        let path = fx.in_copy(copy.path(), seg);
        std::fs::remove_file(&path).unwrap();
        let case = format!("{policy:?} segment {seg} deleted");
        let damage = assert_refused(
            open_and_check(&fx, copy.path(), &case),
            &path,
            fx.first_seq(seg) - 1,
            &case,
        );
        assert_eq!(
            damage.problem,
            Problem::MissingSegment {
                from: SeqNo(fx.first_seq(seg))
            },
            "{case}"
        );
    }
    // Every segment deleted: the identity file says a journal lived here.
    let copy = fx.copy();
    for seg in 0..fx.segments.len() {
        std::fs::remove_file(fx.in_copy(copy.path(), seg)).unwrap();
    }
    let outcome = open_and_check(&fx, copy.path(), "all segments deleted");
    let damage = assert_refused(outcome, &copy.path().join("JOURNAL"), 0, "all deleted");
    assert_eq!(damage.problem, Problem::NoSegments);
    // The identity file deleted.
    let copy = fx.copy();
    std::fs::remove_file(copy.path().join("JOURNAL")).unwrap();
    let outcome = open_and_check(&fx, copy.path(), "identity deleted");
    let damage = assert_refused(outcome, &copy.path().join("JOURNAL"), 0, "identity");
    assert_eq!(damage.problem, Problem::NoIdentity);
}

#[test]
fn deleted_segments_under_every_record() {
    deletion_matrix(FsyncPolicy::EveryRecord);
}

#[test]
fn deleted_segments_under_batched() {
    deletion_matrix(batched());
}

fn truncation_matrix(policy: FsyncPolicy) {
    let fx = Fixture::new(policy);
    let last = fx.segments.len() - 1;
    let frames = &fx.segments[last].1;
    let mut cuts: Vec<usize> = std::iter::once(SEGMENT_HEADER_LEN)
        .chain(frames.iter().map(|f| f.end))
        .collect();
    // Every byte of the last synced batch (from the mark before it to its own mark).
    let marks: Vec<&FrameAt> = frames.iter().filter(|f| f.mark).collect();
    let batch_end = marks.last().map_or(SEGMENT_HEADER_LEN, |m| m.end);
    let batch_start = marks
        .len()
        .checked_sub(2)
        .map_or(SEGMENT_HEADER_LEN, |i| marks[i].end);
    cuts.extend(batch_start..batch_end);
    // And every byte of the unsynced tail.
    cuts.extend(batch_end..fx_len(&fx, last));
    cuts.sort_unstable();
    cuts.dedup();
    for cut in cuts {
        let copy = fx.copy();
        let path = fx.in_copy(copy.path(), last);
        truncate(&path, cut);
        let case = format!("{policy:?} last segment truncated to {cut}");
        // Acknowledged records whose bytes the cut removes.
        let loses_acked = frames
            .iter()
            .any(|f| !f.mark && f.seq <= fx.acked && f.end > cut);
        let outcome = open_and_check(&fx, copy.path(), &case);
        if loses_acked {
            let last_good = frames
                .iter()
                .filter(|f| !f.mark && f.end <= cut)
                .map(|f| f.seq)
                .max()
                .unwrap_or(fx.first_seq(last) - 1);
            assert_refused(outcome, &path, last_good, &case);
        } else {
            assert!(matches!(outcome, Outcome::Recovered(_)), "{case}");
        }
    }
}

#[test]
fn truncated_last_segment_under_every_record() {
    truncation_matrix(FsyncPolicy::EveryRecord);
}

#[test]
fn truncated_last_segment_under_batched() {
    truncation_matrix(batched());
}

#[test]
fn power_cut_torn_tail_after_the_last_sync_is_dropped_and_reported() {
    let fx = Fixture::new(batched());
    let last = fx.segments.len() - 1;
    let frames = &fx.segments[last].1;
    let torn = frames.last().unwrap();
    assert!(!torn.mark && torn.seq > fx.acked, "the tail is unsynced");
    let copy = fx.copy();
    let path = fx.in_copy(copy.path(), last);
    let original = std::fs::read(&path).unwrap();
    truncate(&path, torn.start + 5);
    let (_, report) = JournalWriter::open(copy.path(), config(SEGMENT_BYTES, batched())).unwrap();
    let dropped = report.dropped.expect("the torn tail is reported");
    assert_eq!(dropped.segment, path);
    assert_eq!(dropped.offset, torn.start as u64);
    assert_eq!(dropped.bytes, 5);
    assert_eq!(dropped.last_good_seq, SeqNo(torn.seq - 1));
    assert!(matches!(dropped.reason, DropReason::Torn { have: 5, .. }));
    let copy_path = dropped.copy.unwrap();
    assert_eq!(
        copy_path.file_name().unwrap().to_str().unwrap(),
        format!(
            "{}.cut-{}",
            path.file_name().unwrap().to_str().unwrap(),
            torn.seq
        )
    );
    assert_eq!(
        std::fs::read(&copy_path).unwrap(),
        original[torn.start..torn.start + 5]
    );
    assert_standard(&read_all(copy.path(), SeqNo(1)), 1, torn.seq - 1);
}

#[test]
fn older_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(JournalWriter::open(dir.path(), config(SEGMENT_BYTES, batched())).unwrap());
    let path = segment_files(dir.path()).remove(0);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8] = 1;
    bytes.truncate(32);
    std::fs::write(&path, &bytes).unwrap();
    let err = JournalWriter::open(dir.path(), config(SEGMENT_BYTES, batched())).unwrap_err();
    let damage = err.damage().expect("a damage report");
    assert_eq!(damage.path, path);
    assert!(
        err.to_string().contains("unsupported segment version 1"),
        "{err}"
    );
}

#[test]
fn repair_truncates_after_the_chosen_seq_and_keeps_every_cut_byte() {
    let fx = Fixture::new(FsyncPolicy::EveryRecord);
    let seg = 1;
    let victim = fx.segments[seg]
        .1
        .iter()
        .filter(|f| !f.mark)
        .nth(2)
        .copied()
        .unwrap();
    let copy = fx.copy();
    let path = fx.in_copy(copy.path(), seg);
    flip(&path, victim.start + 24);
    let before = snapshot(copy.path());
    let damage = assert_refused(
        open_and_check(&fx, copy.path(), "repair fixture"),
        &path,
        victim.seq - 1,
        "repair fixture",
    );
    let keep = damage.last_good_seq;
    assert!(matches!(
        repair(copy.path(), SeqNo(keep.get() + 1)),
        Err(JournalError::RepairRefused(_))
    ));
    assert_eq!(
        snapshot(copy.path()),
        before,
        "a refused repair changes nothing"
    );
    let report = repair(copy.path(), keep).unwrap();
    assert_eq!(report.cut.len(), fx.segments.len() - seg);
    let total_cut: usize = before
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "twj"))
        .map(|(p, b)| {
            let i = fx
                .segments
                .iter()
                .position(|s| s.0.file_name() == p.file_name())
                .unwrap();
            if i < seg {
                0
            } else if i == seg {
                b.len() - victim.start
            } else {
                b.len()
            }
        })
        .sum();
    let kept_copies: u64 = report
        .cut
        .iter()
        .map(|c| std::fs::metadata(&c.copy).unwrap().len())
        .sum();
    assert_eq!(kept_copies as usize, total_cut, "{report:?}");
    // The cut of the damaged segment is byte for byte what was removed.
    let cut = &report.cut[0];
    assert_eq!(cut.path, path);
    let original = &before.iter().find(|(p, _)| *p == path).unwrap().1;
    assert_eq!(std::fs::read(&cut.copy).unwrap(), original[victim.start..]);
    assert!(verify(copy.path()).unwrap().is_clean());
    let (mut writer, _) =
        JournalWriter::open(copy.path(), config(SEGMENT_BYTES, FsyncPolicy::EveryRecord)).unwrap();
    assert_eq!(writer.next_seq(), keep.next());
    assert_standard(&read_all(copy.path(), SeqNo(1)), 1, keep.get());
    append_until(&mut writer, keep.get() + 3);
    drop(writer);
    assert_standard(&read_all(copy.path(), SeqNo(1)), 1, keep.get() + 3);
}

#[test]
fn close_seals_and_reopen_continues() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(SEGMENT_BYTES, FsyncPolicy::Never)).unwrap();
    append_until(&mut writer, 30);
    writer.close().unwrap();
    assert_eq!(writer.durable_seq(), SeqNo(30));
    drop(writer);
    let last = segment_files(dir.path()).pop().unwrap();
    let header = SegmentHeader::parse(&std::fs::read(&last).unwrap()).unwrap();
    assert!(header.closed && !header.rolled);
    assert_eq!(header.durable_seq, SeqNo(30));
    let report = verify(dir.path()).unwrap();
    assert!(
        report.is_clean() && report.torn_tail.is_none(),
        "{report:?}"
    );
    assert_eq!(report.last_seq, SeqNo(30));
    assert_eq!(report.records, 30);
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(SEGMENT_BYTES, FsyncPolicy::Never)).unwrap();
    writer.close().unwrap();
    writer
        .append(1, UnixNanos(0), b"after close", Nanos(0))
        .unwrap();
    writer.sync().unwrap();
    let header = SegmentHeader::parse(&std::fs::read(&last).unwrap()).unwrap();
    assert!(
        !header.closed,
        "a sync after close clears the clean-close flag"
    );
    assert_eq!(header.durable_seq, SeqNo(31));
}

#[test]
fn with_a_stale_header_the_commit_marks_still_catch_damage_in_synced_batches() {
    // After a power cut the header's durable boundary may lag (it reaches the disk with
    // the next sync): the marks alone must then tell synced batches from the torn tail.
    let fx = Fixture::new(batched());
    let last = fx.segments.len() - 1;
    let stale = |path: &Path| {
        let mut bytes = std::fs::read(path).unwrap();
        let header = SegmentHeader::parse(&bytes).unwrap();
        bytes[..SEGMENT_HEADER_LEN].copy_from_slice(&SegmentHeader::new(header.first_seq).emit());
        std::fs::write(path, bytes).unwrap();
    };
    let frames = &fx.segments[last].1;
    for frame in frames.iter().filter(|f| !f.mark) {
        let copy = fx.copy();
        let path = fx.in_copy(copy.path(), last);
        stale(&path);
        flip(&path, frame.start + 24);
        let case = format!("stale header, payload of seq {}", frame.seq);
        let outcome = open_and_check(&fx, copy.path(), &case);
        if frame.seq <= fx.acked {
            let damage = assert_refused(outcome, &path, frame.seq - 1, &case);
            assert!(
                matches!(damage.problem, Problem::BeforeCommitMark { .. }),
                "{case}: {damage}"
            );
        } else {
            assert!(matches!(outcome, Outcome::Recovered(_)), "{case}");
        }
    }
}
