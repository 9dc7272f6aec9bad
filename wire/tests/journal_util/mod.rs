//! Helpers shared by the journal integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use tickwarp_wire::journal::{FsyncPolicy, JournalConfig, JournalReader, JournalWriter, Record};
use tickwarp_wire::units::{Nanos, SeqNo, UnixNanos};

/// The payload every test writes for `seq`: length and bytes derived from it.
pub fn payload_for(seq: u64) -> Vec<u8> {
    let len = (seq.wrapping_mul(37) % 120) as usize;
    (0..len)
        .map(|i| (seq as u8).wrapping_add(i as u8))
        .collect()
}

/// The record type every test writes for `seq`.
pub fn type_for(seq: u64) -> u16 {
    (seq % 5) as u16
}

/// The timestamp every test writes for `seq`.
pub fn ts_for(seq: u64) -> UnixNanos {
    UnixNanos(1_700_000_000_000_000_000 + seq * 1_000)
}

/// The full record every test expects for `seq`.
pub fn expected(seq: u64) -> Record {
    Record {
        record_type: type_for(seq),
        seq: SeqNo(seq),
        timestamp: ts_for(seq),
        payload: payload_for(seq),
    }
}

/// A config with the given segment size and policy.
pub fn config(segment_bytes: u64, fsync: FsyncPolicy) -> JournalConfig {
    JournalConfig {
        segment_bytes,
        fsync,
    }
}

/// Appends the standard records until `next_seq` passes `last`.
pub fn append_until(writer: &mut JournalWriter, last: u64) {
    while writer.next_seq().get() <= last {
        let seq = writer.next_seq().get();
        let got = writer
            .append(type_for(seq), ts_for(seq), &payload_for(seq), Nanos(seq))
            .unwrap();
        assert_eq!(got, SeqNo(seq));
    }
}

/// Reads every record from `from` to the current end.
pub fn read_all(dir: &Path, from: SeqNo) -> Vec<Record> {
    let mut reader = JournalReader::open(dir, from).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = reader.next().unwrap() {
        out.push(rec.to_record());
    }
    out
}

/// Asserts that `records` are exactly the standard records `first..=last`.
pub fn assert_standard(records: &[Record], first: u64, last: u64) {
    let seqs: Vec<u64> = records.iter().map(|r| r.seq.get()).collect();
    let want: Vec<u64> = (first..=last).collect();
    assert_eq!(seqs, want, "sequence numbers");
    for rec in records {
        assert_eq!(*rec, expected(rec.seq.get()));
    }
}

/// Segment files in `dir`, sorted by name.
pub fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "twj"))
        .collect();
    files.sort();
    files
}
