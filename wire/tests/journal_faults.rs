//! Write errors, the sync-counting seam, `reopen`, and file modes.
//!
//! The disk-full tests mount a 256 KiB tmpfs (the test runs as root in CI); where mount is
//! not permitted they print a visible SKIP line to stderr and return.

mod journal_util;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use journal_util::*;
use tickwarp_wire::journal::{FsyncPolicy, JournalWriter};
use tickwarp_wire::units::{Nanos, SeqNo, UnixNanos};

/// A tmpfs mounted on a temporary directory; unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "256k"), or `None` when mounting is not permitted.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs { dir }),
            Ok(out) => {
                eprintln!(
                    "SKIP: cannot mount a tmpfs for the disk-full test ({}); run as root",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIP: cannot run mount for the disk-full test ({e})");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system at `dir` with a filler file until a write fails; returns it.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = [0xAAu8; 4096];
    loop {
        if let Err(e) = file.write_all(&chunk) {
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
            return path;
        }
    }
}

/// Appends until an error; checks it is a disk-full error that left no record behind and
/// did not poison the writer; frees the space and appends again.
fn disk_full_round(policy: FsyncPolicy) {
    let Some(fs) = Tmpfs::mount("256k") else {
        return;
    };
    let dir = fs.path().join("journal");
    let cfg = config(64 << 10, policy);
    let (mut writer, _) = JournalWriter::open(&dir, cfg).unwrap();
    // Leave about 40 KiB free: the journal runs out in its first or second segment.
    let filler = fill(fs.path());
    let filler_len = std::fs::metadata(&filler).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(filler_len - (40 << 10))
        .unwrap();
    let payload = vec![0x5Au8; 1000];
    let mut acked = Vec::new();
    let err = loop {
        let before = writer.next_seq();
        match writer.append(7, UnixNanos(0), &payload, Nanos(0)) {
            Ok(seq) => {
                assert_eq!(seq, before);
                acked.push(seq.get());
                assert!(acked.len() < 1000, "the disk never filled");
            }
            Err(e) => break e,
        }
    };
    assert!(err.is_disk_full(), "{policy:?}: {err}");
    assert!(
        !err.to_string()
            .contains("No space left on device: No space"),
        "each cause once: {err}"
    );
    assert!(
        !writer.is_poisoned(),
        "{policy:?}: a write error must not poison"
    );
    // The failed record consumed no sequence number (a failed sync inside the append
    // also discards the unsynced batch before it).
    let next = writer.next_seq();
    assert!(
        next.get() <= acked.last().map_or(1, |s| s + 1),
        "{policy:?}"
    );
    if policy == FsyncPolicy::EveryRecord {
        assert_eq!(next, writer.durable_seq().next());
    }
    // Still full: the next append fails the same way, and again leaves nothing.
    let again = writer.append(7, UnixNanos(0), &payload, Nanos(0));
    assert!(again.is_err_and(|e| e.is_disk_full()));
    assert!(writer.next_seq() <= next);
    let next = writer.next_seq();
    let durable = writer.durable_seq();
    // Space returns: the writer carries on by itself.
    std::fs::remove_file(&filler).unwrap();
    let seq = writer.append(7, UnixNanos(0), b"after", Nanos(0)).unwrap();
    assert_eq!(seq, next);
    writer.sync().unwrap();
    writer.close().unwrap();
    drop(writer);
    let (_, report) = JournalWriter::open(&dir, cfg).unwrap();
    assert_eq!(report.dropped, None, "{report:?}");
    let records = read_all(&dir, SeqNo(1));
    let seqs: Vec<u64> = records.iter().map(|r| r.seq.get()).collect();
    assert_eq!(seqs, (1..=seq.get()).collect::<Vec<_>>(), "{policy:?}");
    assert!(seq > durable, "every synced record survived");
    assert_eq!(records.last().unwrap().payload, b"after");
}

#[test]
fn disk_full_under_every_record_rejects_and_recovers_when_space_returns() {
    disk_full_round(FsyncPolicy::EveryRecord);
}

#[test]
fn disk_full_under_batched_rejects_and_recovers_when_space_returns() {
    disk_full_round(FsyncPolicy::Batched {
        max_records: 8,
        max_delay: Duration::from_secs(3600),
    });
}

#[test]
fn sync_count_and_durable_seq_move_together() {
    let dir = tempfile::tempdir().unwrap();
    let policy = FsyncPolicy::Batched {
        max_records: 3,
        max_delay: Duration::from_micros(50),
    };
    let (mut writer, _) = JournalWriter::open(dir.path(), config(1 << 20, policy)).unwrap();
    assert_eq!((writer.sync_count(), writer.durable_seq()), (0, SeqNo(0)));
    let mut syncs = Vec::new();
    for i in 1..=10u64 {
        let seq = writer
            .append(1, UnixNanos(0), b"x", Nanos(i))
            .unwrap()
            .get();
        syncs.push((seq, writer.sync_count(), writer.durable_seq().get()));
    }
    // Synced by count after seqs 3, 6 and 9.
    let want: Vec<(u64, u64, u64)> = (1..=10).map(|s| (s, s / 3, s / 3 * 3)).collect();
    assert_eq!(syncs, want);
    assert!(
        writer.poll(Nanos(1_000_000)).unwrap(),
        "the delay syncs seq 10"
    );
    assert_eq!((writer.sync_count(), writer.durable_seq()), (4, SeqNo(10)));
    writer.sync().unwrap();
    assert_eq!(writer.sync_count(), 4, "nothing new: no sync");
}

#[test]
fn reopen_cuts_unsynced_records_and_keeps_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(1 << 20, FsyncPolicy::Never)).unwrap();
    append_until(&mut writer, 5);
    writer.sync().unwrap();
    append_until(&mut writer, 8);
    let (segment, _) = writer.current_segment();
    let segment = segment.to_path_buf();
    let report = writer.reopen().unwrap();
    assert_eq!(report.last_seq, SeqNo(5));
    assert_eq!(writer.next_seq(), SeqNo(6));
    assert_standard(&read_all(dir.path(), SeqNo(1)), 1, 5);
    let copy = PathBuf::from(format!("{}.cut-6", segment.display()));
    let cut = std::fs::read(&copy).unwrap();
    let want: usize = (6..=8).map(|s| 28 + payload_for(s).len()).sum();
    assert_eq!(cut.len(), want, "the copy holds records 6..=8");
    append_until(&mut writer, 7);
    assert_standard(&read_all(dir.path(), SeqNo(1)), 1, 7);
}

#[test]
fn new_journal_is_private_and_an_open_directory_is_reported() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("j");
    drop(JournalWriter::open(&dir, config(1 << 20, FsyncPolicy::EveryRecord)).unwrap());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (_, report) = JournalWriter::open(&dir, config(1 << 20, FsyncPolicy::EveryRecord)).unwrap();
    assert_eq!(report.dir_mode_too_open, Some(0o755));
    assert_eq!(mode(&dir), 0o755, "left as the operator set it");
}
