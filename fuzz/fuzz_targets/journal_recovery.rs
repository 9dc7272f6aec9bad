//! Fuzz target: journal recovery with arbitrary bytes as the segment file of a journal
//! (its identity file intact), in /dev/shm. `verify` and the writer's recovering `open`
//! must return a report or a typed error, never panic, and agree: `verify` says clean
//! exactly when `open` succeeds, and after a successful open every record reads back
//! through `JournalReader`, `last_seq` of them.
#![no_main]
use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use tickwarp_wire::SeqNo;
use tickwarp_wire::journal::{FsyncPolicy, JournalConfig, JournalReader, JournalWriter, verify};

fn config() -> JournalConfig {
    JournalConfig {
        fsync: FsyncPolicy::EveryRecord,
        ..JournalConfig::default()
    }
}

fn journal_dir() -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    base.join(format!("tickwarp-fuzz-journal-{}", std::process::id()))
}

fuzz_target!(|segment: &[u8]| {
    let dir = journal_dir();
    let _ = std::fs::remove_dir_all(&dir);
    let (mut writer, _) = JournalWriter::open(&dir, config()).expect("create a journal");
    let path = writer.current_segment().0.to_path_buf();
    writer.close().expect("close");
    drop(writer);
    std::fs::write(&path, segment).expect("write the segment");
    let report = verify(&dir).expect("verify reads the directory");
    match JournalWriter::open(&dir, config()) {
        Ok((writer, recovered)) => {
            assert!(
                report.is_clean(),
                "open succeeded on a journal verify calls damaged: {report:?}"
            );
            let last = recovered.last_seq;
            drop(writer);
            let mut reader =
                JournalReader::open(&dir, SeqNo(1)).expect("a recovered journal opens for reading");
            let mut read = 0u64;
            while let Some(record) = reader.next().expect("a recovered journal reads back") {
                read += 1;
                assert_eq!(record.seq, SeqNo(read), "records out of sequence");
            }
            assert_eq!(
                SeqNo(read),
                last,
                "records read back vs recovery's last_seq"
            );
        }
        Err(e) => assert!(
            !report.is_clean(),
            "open failed ({e}) on a journal verify calls clean: {report:?}"
        ),
    }
    let _ = std::fs::remove_dir_all(&dir);
});
