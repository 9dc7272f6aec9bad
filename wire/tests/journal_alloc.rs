//! Steady-state appends and reads allocate nothing (counted per thread); a segment roll
//! allocates a bounded amount, once per segment.

mod journal_util;

use std::time::Duration;

use journal_util::*;
use tickwarp_testkit::{CountingAllocator, count_allocations};
use tickwarp_wire::journal::{FsyncPolicy, JournalReader, JournalWriter};
use tickwarp_wire::units::{Nanos, SeqNo, UnixNanos};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

fn appends_allocate_nothing(policy: FsyncPolicy, count: u64) {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) = JournalWriter::open(dir.path(), config(64 << 20, policy)).unwrap();
    let payloads: Vec<Vec<u8>> = (0..count).map(payload_for).collect();
    append_until(&mut writer, 10);
    let (last, allocations) = count_allocations(|| {
        let mut last = SeqNo::NONE;
        for (i, payload) in payloads.iter().enumerate() {
            let now = Nanos(i as u64 * 100_000);
            last = writer.append(3, UnixNanos(i as u64), payload, now).unwrap();
            writer.poll(now).unwrap();
        }
        last
    });
    assert_eq!(last, SeqNo(10 + count));
    assert_eq!(
        allocations, 0,
        "{policy:?}: {allocations} allocations in {count} appends"
    );
}

#[test]
fn append_never_policy_allocates_nothing() {
    appends_allocate_nothing(FsyncPolicy::Never, 2_000);
}

#[test]
fn append_batched_policy_allocates_nothing() {
    let policy = FsyncPolicy::Batched {
        max_records: 64,
        max_delay: Duration::from_millis(1),
    };
    appends_allocate_nothing(policy, 500);
}

#[test]
fn append_every_record_policy_allocates_nothing() {
    appends_allocate_nothing(FsyncPolicy::EveryRecord, 50);
}

#[test]
fn reading_and_polling_the_tail_allocate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(64 << 20, FsyncPolicy::Never)).unwrap();
    append_until(&mut writer, 2_000);
    let mut reader = JournalReader::open(dir.path(), SeqNo(1)).unwrap();
    assert!(reader.next().unwrap().is_some());
    let (read, allocations) = count_allocations(|| {
        let mut read = 1u64;
        while let Some(rec) = reader.next().unwrap() {
            read += u64::from(rec.seq.get() == read + 1);
        }
        for _ in 0..100 {
            assert!(reader.next().unwrap().is_none());
        }
        read
    });
    assert_eq!(read, 2_000);
    assert_eq!(allocations, 0, "{allocations} allocations while reading");
}

/// Allocations a segment roll may make (measured: 5, for naming and creating the new
/// segment, and the `Arc` that shares its file with sync rounds). A roll happens once per segment
/// (64 MiB by default), so at 1 million records per second of 64 bytes that is about one
/// roll a second.
const ROLL_ALLOCATIONS: u64 = 5;

#[test]
fn a_segment_roll_allocates_a_bounded_amount_and_appends_between_rolls_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(16 << 10, FsyncPolicy::Never)).unwrap();
    let payloads: Vec<Vec<u8>> = (0..2_000).map(payload_for).collect();
    append_until(&mut writer, 10);
    let first_segment = writer.current_segment().1;
    let mut rolls = 0;
    let mut worst_roll = 0;
    let mut between_rolls = 0;
    for (i, payload) in payloads.iter().enumerate() {
        let now = Nanos(i as u64 * 100_000);
        let before = writer.current_segment().1;
        let (seq, allocations) =
            count_allocations(|| writer.append(3, UnixNanos(i as u64), payload, now).unwrap());
        if writer.current_segment().1 == before {
            between_rolls += allocations;
        } else {
            rolls += 1;
            worst_roll = worst_roll.max(allocations);
            assert_eq!(
                writer.current_segment().1,
                seq,
                "a roll starts at the new record"
            );
        }
    }
    assert!(
        rolls >= 3,
        "only {rolls} rolls from segment {first_segment:?}: the test needs several"
    );
    assert_eq!(
        between_rolls, 0,
        "{between_rolls} allocations in appends that did not roll"
    );
    eprintln!("{rolls} rolls, at most {worst_roll} allocations each");
    assert!(
        worst_roll <= ROLL_ALLOCATIONS,
        "a roll made {worst_roll} allocations (bound {ROLL_ALLOCATIONS})"
    );
}
