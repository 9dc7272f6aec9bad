//! `tickwarp journal verify DIR` and `tickwarp journal repair DIR --truncate-after SEQ`:
//! the operator's tools for a journal that refused to open.
//!
//! Printing only: the checks and the repair are `tickwarp_wire::journal::{verify,
//! repair}`. `verify` never modifies anything; `repair` runs only with an explicit
//! `--truncate-after` and keeps a copy of every byte it removes. Exit status: 0 clean
//! (or repaired), 1 damage found (or repair refused), 2 usage or I/O error.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use tickwarp_gateway::fix::session_log::{RECORD_SESSION, inspect};
use tickwarp_gateway::service::manifest::{MANIFEST_FILE, inventory};
use tickwarp_wire::SeqNo;
use tickwarp_wire::journal::{JournalError, JournalReader, VerifyReport, repair, verify};

/// Options of `tickwarp journal`.
#[derive(Debug, Args)]
pub(crate) struct JournalArgs {
    #[command(subcommand)]
    command: JournalCommand,
}

#[derive(Debug, Subcommand)]
enum JournalCommand {
    /// Check every record of a journal directory and report segments, sequence ranges,
    /// the durable boundary and any damage (file, offset, sequence numbers). Given a
    /// gateway's `journal.dir`, checks every journal under it (the order journal and the
    /// FIX session log, whose sessions it lists with their sequence numbers). Changes
    /// nothing. Exit status 0 clean, 1 damage, 2 usage or
    /// I/O error.
    Verify {
        /// The journal directory.
        dir: PathBuf,
    },
    /// Keep the records up to SEQ and remove every record after it (copies of the removed
    /// bytes are kept beside the segments as `<segment>.cut-<seq>`).
    Repair {
        /// The journal directory.
        dir: PathBuf,
        /// The last record to keep (the "last good seq" that `verify` reports).
        #[arg(long, value_name = "SEQ")]
        truncate_after: u64,
    },
}

/// Runs the subcommand; returns the process exit status.
pub(crate) fn run(args: &JournalArgs) -> ExitCode {
    match &args.command {
        JournalCommand::Verify { dir } => match verify(dir) {
            Ok(report) if !report.exists => verify_gateway_dir(dir),
            Ok(report) => {
                print!("{}", render(&report));
                if report.is_clean() {
                    ExitCode::from(sessions(dir))
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("tickwarp: {e}");
                ExitCode::from(2)
            }
        },
        JournalCommand::Repair {
            dir,
            truncate_after,
        } => match repair(dir, SeqNo(*truncate_after)) {
            Ok(report) => {
                for cut in &report.cut {
                    println!(
                        "cut {} at offset {} ({} bytes), copy kept in {}",
                        cut.path.display(),
                        cut.offset,
                        cut.bytes,
                        cut.copy.display()
                    );
                }
                for sealed in &report.sealed {
                    println!("sealed {}", sealed.display());
                }
                if report.identity_restored {
                    println!("identity file restored");
                }
                println!("journal now ends at seq {}", report.last_seq.get());
                ExitCode::SUCCESS
            }
            Err(e @ JournalError::RepairRefused(_)) => {
                eprintln!("tickwarp: {e}");
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("tickwarp: {e}");
                ExitCode::from(2)
            }
        },
    }
}

/// `verify` of a gateway's `journal.dir`: every journal under it (the order journal
/// and each FIX session store), and any its manifest lists that is missing. The worst
/// status wins: 2 for an unreadable directory or a journal that cannot be read, 1 for
/// damage or a missing journal.
fn verify_gateway_dir(dir: &Path) -> ExitCode {
    let journals = match inventory(dir) {
        Ok(journals) if journals.is_empty() => {
            eprintln!("tickwarp: {} holds no journal", dir.display());
            return ExitCode::from(2);
        }
        Ok(journals) => journals,
        Err(e) => {
            eprintln!("tickwarp: {e}");
            return ExitCode::from(2);
        }
    };
    let mut worst = 0;
    for (name, exists) in journals {
        let path = dir.join(&name);
        println!("== {}", path.display());
        if !exists {
            println!(
                "missing: {MANIFEST_FILE} lists it as created by an earlier run, or session \
                 stores exist without it; the gateway refuses to start until it is restored"
            );
            worst = worst.max(1);
            continue;
        }
        match verify(&path) {
            Ok(report) => {
                print!("{}", render(&report));
                if !report.is_clean() {
                    worst = worst.max(1);
                } else {
                    worst = worst.max(sessions(&path));
                }
            }
            Err(e) => {
                println!("unreadable: {e}");
                worst = 2;
            }
        }
    }
    ExitCode::from(worst)
}

/// For a FIX session log (its first record names a session): prints each session's
/// key, sequence numbers and stored messages, or what in the log is not a session
/// record; returns the exit status (0 clean or not a session log, 1 damaged).
fn sessions(dir: &Path) -> u8 {
    let first_type = JournalReader::open(dir, SeqNo(1))
        .ok()
        .and_then(|mut r| r.next().ok().flatten().map(|rec| rec.record_type));
    if first_type != Some(RECORD_SESSION) {
        return 0;
    }
    match inspect(dir) {
        Ok(all) => {
            print!("{}", render_sessions(&all));
            0
        }
        Err(e) => {
            println!("damaged: {e}");
            1
        }
    }
}

/// One line per session of a FIX session log.
fn render_sessions(all: &[tickwarp_gateway::fix::session_log::SessionSummary]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "FIX session log: {} sessions", all.len());
    for s in all {
        let _ = writeln!(
            out,
            "  session {} (id {}): next inbound MsgSeqNum {}, next outbound {}, {} messages stored for resend",
            s.key, s.id, s.seq.next_in, s.seq.next_out, s.messages
        );
    }
    out
}

/// The verify report: one line per segment, then the tail and the verdict.
fn render(report: &VerifyReport) -> String {
    let mut out = String::new();
    for seg in &report.segments {
        let state = match &seg.header {
            None => "header torn".to_owned(),
            Some(h) => {
                let kind = if h.rolled {
                    "sealed"
                } else if h.closed {
                    "closed"
                } else {
                    "open"
                };
                format!(
                    "{kind}, durable through seq {} at offset {}",
                    h.durable_seq.get(),
                    h.durable_end
                )
            }
        };
        let damaged = match seg.damaged_marks {
            0 => String::new(),
            n => format!(" ({n} with a bad CRC, skipped: they hold no data)"),
        };
        let _ = writeln!(
            out,
            "{}  seqs {}..={}  {} records  {} marks{damaged}  {} bytes  ({state})",
            seg.path.display(),
            seg.first_seq.get(),
            seg.last_seq.get(),
            seg.records,
            seg.marks,
            seg.bytes
        );
    }
    if let Some(tail) = &report.torn_tail {
        let _ = writeln!(
            out,
            "unacknowledged tail: {} offset {}: {} ({} bytes after seq {}); opening the \
             journal cuts it and keeps a copy",
            tail.segment.display(),
            tail.offset,
            tail.reason,
            tail.bytes,
            tail.last_good_seq.get()
        );
    }
    if report.unsealed_previous {
        let _ = writeln!(
            out,
            "a roll was interrupted; opening the journal seals the previous segment"
        );
    }
    match &report.damage {
        None => {
            let _ = writeln!(
                out,
                "ok: {} records verified, last seq {}",
                report.records,
                report.last_seq.get()
            );
        }
        Some(damage) => {
            let _ = writeln!(out, "{damage}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwarp_wire::Nanos;
    use tickwarp_wire::UnixNanos;
    use tickwarp_wire::journal::{FsyncPolicy, JournalConfig, JournalWriter};

    /// A closed journal of `records` records in two or more segments; returns its dir.
    fn journal(records: u64) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let config = JournalConfig {
            segment_bytes: 300,
            fsync: FsyncPolicy::EveryRecord,
        };
        let (mut writer, _) = JournalWriter::open(dir.path(), config).unwrap();
        for i in 0..records {
            writer
                .append(1, UnixNanos(i), &[7u8; 40], Nanos(i))
                .unwrap();
        }
        writer.close().unwrap();
        dir
    }

    #[test]
    fn verify_prints_segments_and_damage_and_sets_the_exit_status() {
        let dir = journal(12);
        let report = verify(dir.path()).unwrap();
        let text = render(&report);
        assert!(text.contains("seqs 1..="), "{text}");
        assert!(
            text.ends_with("ok: 12 records verified, last seq 12\n"),
            "{text}"
        );
        let args = |dir: &std::path::Path| JournalArgs {
            command: JournalCommand::Verify {
                dir: dir.to_path_buf(),
            },
        };
        assert_eq!(run(&args(dir.path())), ExitCode::SUCCESS);

        let second = report.segments[1].path.clone();
        let mut bytes = std::fs::read(&second).unwrap();
        bytes[64 + 30] ^= 1;
        std::fs::write(&second, bytes).unwrap();
        let text = render(&verify(dir.path()).unwrap());
        let damage = text.lines().last().unwrap();
        assert!(damage.starts_with("journal damaged: "), "{text}");
        assert!(damage.contains(&second.display().to_string()), "{damage}");
        assert!(damage.contains("offset 64"), "{damage}");
        assert_eq!(run(&args(dir.path())), ExitCode::from(1));
        let missing = dir.path().join("nothing-here");
        assert_eq!(run(&args(&missing)), ExitCode::from(2));
    }

    #[test]
    fn repair_needs_a_seq_below_the_damage() {
        let dir = journal(12);
        let report = verify(dir.path()).unwrap();
        let second = report.segments[1].path.clone();
        std::fs::remove_file(&second).unwrap();
        let damage = verify(dir.path()).unwrap().damage.unwrap();
        let keep = damage.last_good_seq.get();
        let repair_args = |seq| JournalArgs {
            command: JournalCommand::Repair {
                dir: dir.path().to_path_buf(),
                truncate_after: seq,
            },
        };
        assert_eq!(run(&repair_args(keep + 1)), ExitCode::from(1));
        assert_eq!(run(&repair_args(keep)), ExitCode::SUCCESS);
        let after = verify(dir.path()).unwrap();
        assert!(after.is_clean(), "{after:?}");
        assert_eq!(after.last_seq.get(), keep);
    }

    #[test]
    fn verify_lists_the_sessions_of_a_gateway_session_log() {
        use tickwarp_gateway::fix::session_log::{SESSION_LOG_DIR, SessionLog, session_key};
        use tickwarp_gateway::fix::{SeqNums, SessionStore};
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(SESSION_LOG_DIR);
        {
            let log = SessionLog::open(&dir, JournalConfig::default()).unwrap();
            for (k, client) in ["C1", "C2"].iter().enumerate() {
                let mut store = log.session(&session_key("GW", client)).unwrap();
                let after = SeqNums {
                    next_in: 4,
                    next_out: 2 + k as u64,
                };
                for msg_seq in 1..=(k as u64 + 1) {
                    store
                        .append_outbound(msg_seq, b"8=FIX.4.4|", after, UnixNanos(1), Nanos(1))
                        .unwrap();
                }
                store.flush().unwrap();
            }
        }
        let summaries = inspect(&dir).unwrap();
        let text = render_sessions(&summaries);
        assert!(text.starts_with("FIX session log: 2 sessions\n"), "{text}");
        assert!(
            text.contains("session FIX.4.4:GW->C2 (id 1): next inbound MsgSeqNum 4, next outbound 3, 2 messages"),
            "{text}"
        );
        assert_eq!(sessions(&dir), 0);
        let args = JournalArgs {
            command: JournalCommand::Verify { dir: dir.clone() },
        };
        assert_eq!(run(&args), ExitCode::SUCCESS);
    }
}
