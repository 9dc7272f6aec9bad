//! Steady-state appends and reads allocate nothing (counted per thread).

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
