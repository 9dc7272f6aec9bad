//! Journal behaviour: round trip, positioning, tail following, fsync policies, errors.

mod journal_util;

use std::fs::OpenOptions;
use std::io::Write;
use std::time::Duration;

use journal_util::*;
use tickwarp_wire::journal::{
    FsyncPolicy, JournalConfig, JournalError, JournalReader, JournalWriter, MAX_PAYLOAD,
    RecordError, RecordRef, durable_seq, emit_record,
};
use tickwarp_wire::units::{Nanos, SeqNo, UnixNanos};

#[test]
fn round_trip_and_reopen_continues_the_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, report) = JournalWriter::open(dir.path(), JournalConfig::default()).unwrap();
    assert_eq!(report.segments, 1);
    assert_eq!(report.last_seq, SeqNo::NONE);
    assert_eq!(report.dropped, None);
    append_until(&mut writer, 40);
    assert_eq!(writer.durable_seq(), SeqNo(40));
    drop(writer);
    assert_standard(&read_all(dir.path(), SeqNo(1)), 1, 40);

    let (mut writer, report) = JournalWriter::open(dir.path(), JournalConfig::default()).unwrap();
    assert_eq!(report.last_seq, SeqNo(40));
    assert_eq!(report.records_verified, 40);
    assert_eq!(report.dropped, None);
    assert_eq!(writer.next_seq(), SeqNo(41));
    assert_eq!(writer.durable_seq(), SeqNo(40));
    append_until(&mut writer, 45);
    assert_standard(&read_all(dir.path(), SeqNo(1)), 1, 45);
}

#[test]
fn segments_roll_by_size_and_names_sort() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) = JournalWriter::open(dir.path(), config(400, FsyncPolicy::Never)).unwrap();
    append_until(&mut writer, 100);
    let files = segment_files(dir.path());
    assert!(
        files.len() > 10,
        "expected many segments, got {}",
        files.len()
    );
    let mut first_seqs = Vec::new();
    for file in &files {
        let name = file.file_stem().unwrap().to_str().unwrap();
        assert_eq!(name.len(), 20);
        first_seqs.push(name.parse::<u64>().unwrap());
        let len = std::fs::metadata(file).unwrap().len();
        assert!(len <= 400, "{} is {len} bytes", file.display());
    }
    assert_eq!(first_seqs[0], 1);
    assert!(first_seqs.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        writer.current_segment().1,
        SeqNo(*first_seqs.last().unwrap())
    );
    assert_standard(&read_all(dir.path(), SeqNo(1)), 1, 100);
}

#[test]
fn oversized_record_gets_a_segment_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) = JournalWriter::open(dir.path(), config(100, FsyncPolicy::Never)).unwrap();
    let big = vec![7u8; 1000];
    assert_eq!(
        writer.append(1, UnixNanos(1), &big, Nanos(0)).unwrap(),
        SeqNo(1)
    );
    assert_eq!(
        writer.append(1, UnixNanos(2), &big, Nanos(0)).unwrap(),
        SeqNo(2)
    );
    assert_eq!(segment_files(dir.path()).len(), 2);
    let mut reader = JournalReader::open(dir.path(), SeqNo(2)).unwrap();
    assert_eq!(reader.next().unwrap().unwrap().payload, &big[..]);
    assert!(reader.next().unwrap().is_none());
}

#[test]
fn reader_positions_at_any_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) = JournalWriter::open(dir.path(), config(300, FsyncPolicy::Never)).unwrap();
    append_until(&mut writer, 60);
    let boundaries: Vec<u64> = segment_files(dir.path())
        .iter()
        .map(|f| f.file_stem().unwrap().to_str().unwrap().parse().unwrap())
        .collect();
    let mut froms = vec![0, 1, 2, 30, 59, 60];
    for b in &boundaries {
        froms.extend([b - 1, *b, b + 1]);
    }
    for from in froms {
        let first = from.clamp(1, 61);
        assert_standard(&read_all(dir.path(), SeqNo(from)), first, 60);
    }
    let mut reader = JournalReader::open(dir.path(), SeqNo(61)).unwrap();
    assert!(reader.next().unwrap().is_none());
    append_until(&mut writer, 61);
    assert_eq!(reader.next().unwrap().unwrap().to_record(), expected(61));
    let mut beyond = JournalReader::open(dir.path(), SeqNo(1000)).unwrap();
    assert!(beyond.next().unwrap().is_none());
}

#[test]
fn tail_following_across_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let mut reader = JournalReader::open(dir.path(), SeqNo(1)).unwrap();
    assert!(reader.next().unwrap().is_none(), "empty directory");
    let (mut writer, _) = JournalWriter::open(dir.path(), config(256, FsyncPolicy::Never)).unwrap();
    assert!(reader.next().unwrap().is_none(), "segment without records");
    for seq in 1..=80u64 {
        append_until(&mut writer, seq);
        assert_eq!(reader.next().unwrap().unwrap().to_record(), expected(seq));
        assert!(reader.next().unwrap().is_none());
        assert!(reader.next().unwrap().is_none());
    }
    assert!(segment_files(dir.path()).len() > 5);
    append_until(&mut writer, 90);
    let mut got = Vec::new();
    while let Some(rec) = reader.next().unwrap() {
        got.push(rec.to_record());
    }
    assert_standard(&got, 81, 90);
}

#[test]
fn partial_tail_is_not_yet_but_bad_crc_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) = JournalWriter::open(dir.path(), JournalConfig::default()).unwrap();
    append_until(&mut writer, 3);
    let (path, _) = writer.current_segment();
    let path = path.to_path_buf();
    drop(writer);

    let mut encoded = Vec::new();
    emit_record(&mut encoded, &expected(4).as_ref()).unwrap();
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    let mut reader = JournalReader::open(dir.path(), SeqNo(1)).unwrap();
    for _ in 1..=3 {
        assert!(reader.next().unwrap().is_some());
    }
    for chunk in encoded.chunks(7) {
        assert!(
            reader.next().unwrap().is_none(),
            "partial record must read as not yet"
        );
        file.write_all(chunk).unwrap();
    }
    assert_eq!(reader.next().unwrap().unwrap().to_record(), expected(4));

    let mut bad = Vec::new();
    emit_record(&mut bad, &expected(5).as_ref()).unwrap();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    file.write_all(&bad).unwrap();
    match reader.next() {
        Err(JournalError::Corrupt {
            offset,
            error: RecordError::BadCrc { .. },
            ..
        }) => assert_eq!(
            offset,
            std::fs::metadata(&path).unwrap().len() - bad.len() as u64
        ),
        other => panic!("expected a CRC error, got {other:?}"),
    }
}

#[test]
fn every_record_policy_makes_each_append_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(512, FsyncPolicy::EveryRecord)).unwrap();
    for seq in 1..=20 {
        append_until(&mut writer, seq);
        assert_eq!(writer.durable_seq(), SeqNo(seq));
        assert_eq!(writer.poll_timeout(), None);
    }
}

#[test]
fn batched_policy_syncs_by_count_and_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let policy = FsyncPolicy::Batched {
        max_records: 4,
        max_delay: Duration::from_millis(1),
    };
    let (mut writer, _) = JournalWriter::open(dir.path(), config(1 << 20, policy)).unwrap();
    let t0 = Nanos(5_000_000);
    for i in 1..=3 {
        writer.append(1, UnixNanos(i), b"x", t0).unwrap();
        assert_eq!(writer.durable_seq(), SeqNo::NONE);
    }
    assert_eq!(writer.poll_timeout(), Some(Nanos(6_000_000)));
    writer.append(1, UnixNanos(4), b"x", t0).unwrap();
    assert_eq!(
        writer.durable_seq(),
        SeqNo(4),
        "fourth record fills the batch"
    );
    assert_eq!(writer.poll_timeout(), None);

    writer
        .append(1, UnixNanos(5), b"x", Nanos(10_000_000))
        .unwrap();
    assert!(!writer.poll(Nanos(10_999_999)).unwrap());
    assert_eq!(writer.durable_seq(), SeqNo(4));
    assert!(writer.poll(Nanos(11_000_000)).unwrap());
    assert_eq!(writer.durable_seq(), SeqNo(5));
    assert!(!writer.poll(Nanos(20_000_000)).unwrap(), "nothing pending");

    writer
        .append(1, UnixNanos(6), b"x", Nanos(30_000_000))
        .unwrap();
    writer
        .append(1, UnixNanos(7), b"x", Nanos(31_000_000))
        .unwrap();
    assert_eq!(
        writer.durable_seq(),
        SeqNo(7),
        "an append after the delay syncs"
    );
}

#[test]
fn never_policy_is_durable_only_on_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(1 << 20, FsyncPolicy::Never)).unwrap();
    append_until(&mut writer, 10);
    assert_eq!(writer.durable_seq(), SeqNo::NONE);
    assert!(!writer.poll(Nanos(u64::MAX)).unwrap());
    writer.sync().unwrap();
    assert_eq!(writer.durable_seq(), SeqNo(10));
}

#[test]
fn durable_seq_follows_the_writers_syncs_never_its_appends() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(durable_seq(dir.path()).unwrap(), SeqNo(0), "no segment yet");
    let (mut writer, _) = JournalWriter::open(dir.path(), config(400, FsyncPolicy::Never)).unwrap();
    assert_eq!(durable_seq(dir.path()).unwrap(), SeqNo(0));
    append_until(&mut writer, 2);
    assert_eq!(
        durable_seq(dir.path()).unwrap(),
        SeqNo(0),
        "appended, not synced"
    );
    writer.sync().unwrap();
    assert_eq!(durable_seq(dir.path()).unwrap(), SeqNo(2));
    // Rolls sync: every record before the newest segment is durable.
    append_until(&mut writer, 40);
    let (_, first) = writer.current_segment();
    assert!(first.get() > 3, "expected rolls");
    assert_eq!(durable_seq(dir.path()).unwrap(), writer.durable_seq());
    assert!(writer.durable_seq() < SeqNo(40));
    writer.sync().unwrap();
    assert_eq!(durable_seq(dir.path()).unwrap(), SeqNo(40));
    // A reopen syncs what recovery kept.
    append_until(&mut writer, 43);
    drop(writer);
    assert_eq!(durable_seq(dir.path()).unwrap(), SeqNo(40));
    let (writer, _) = JournalWriter::open(dir.path(), config(400, FsyncPolicy::Never)).unwrap();
    assert_eq!(durable_seq(dir.path()).unwrap(), SeqNo(43));
    drop(writer);
}

#[test]
fn rejects_bad_config_and_oversized_payload() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        JournalWriter::open(dir.path(), config(0, FsyncPolicy::Never)),
        Err(JournalError::InvalidConfig(_))
    ));
    let batched = FsyncPolicy::Batched {
        max_records: 0,
        max_delay: Duration::ZERO,
    };
    assert!(matches!(
        JournalWriter::open(dir.path(), config(1024, batched)),
        Err(JournalError::InvalidConfig(_))
    ));
    let (mut writer, _) = JournalWriter::open(dir.path(), JournalConfig::default()).unwrap();
    let huge = vec![0u8; MAX_PAYLOAD + 1];
    assert!(matches!(
        writer.append(1, UnixNanos(0), &huge, Nanos(0)),
        Err(JournalError::PayloadTooLarge { .. })
    ));
    assert_eq!(
        writer.append(1, UnixNanos(0), b"ok", Nanos(0)).unwrap(),
        SeqNo(1)
    );
}

#[test]
fn reader_reports_corruption_in_an_older_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) = JournalWriter::open(dir.path(), config(300, FsyncPolicy::Never)).unwrap();
    append_until(&mut writer, 40);
    drop(writer);
    let files = segment_files(dir.path());
    let victim = &files[1];
    let mut bytes = std::fs::read(victim).unwrap();
    bytes[70] ^= 0x01;
    std::fs::write(victim, &bytes).unwrap();

    let mut reader = JournalReader::open(dir.path(), SeqNo(1)).unwrap();
    let err = loop {
        match reader.next() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("corruption was not reported"),
            Err(e) => break e,
        }
    };
    match err {
        JournalError::Corrupt { path, offset, .. } => {
            assert_eq!(&path, victim);
            assert_eq!(offset, 64);
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn record_ref_round_trips_through_emit() {
    let rec = RecordRef {
        record_type: 0xBEEF,
        seq: SeqNo(u64::MAX),
        timestamp: UnixNanos(u64::MAX),
        payload: &[],
    };
    let mut out = Vec::new();
    let n = emit_record(&mut out, &rec).unwrap();
    let (parsed, used) = tickwarp_wire::journal::parse_record(&out).unwrap();
    assert_eq!((parsed, used), (rec, n));
}
