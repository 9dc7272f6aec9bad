//! What does a journal append cost under each fsync policy, against raw file writes?
//!
//! Run: `cargo run --release -p tickwarp-bench --bin journal_append [-- --count N --dir D]`
//!
//! For each payload size the benchmark appends to a fresh journal in a temporary
//! directory under `--dir` with `FsyncPolicy::Never`, `Batched { 64 records, 1 ms }` and
//! `EveryRecord`, and runs the baselines in the same process run: a raw `write_all` loop
//! of the same number of bytes per record (the journal's encoded length), and
//! `write_all + sync_data`. It prints records/s and per-append latency percentiles, the
//! ratio of each policy to its baseline, and writes every distribution to an `.hlog`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tickwarp_bench::report::{Run, Unit, measure, print_ratio, print_table, warm_up, write_hlog};
use tickwarp_wire::journal::{FsyncPolicy, JournalConfig, JournalWriter, encoded_len};
use tickwarp_wire::units::UnixNanos;

/// Journal append rate and latency per fsync policy, with raw-write baselines.
#[derive(Debug, Parser)]
struct Args {
    /// Appends per run for the policies that do not sync every record.
    #[arg(long, default_value_t = 200_000)]
    count: u64,
    /// Appends per run for `EveryRecord` and `write_all + sync_data` (one fsync each).
    #[arg(long, default_value_t = 5_000)]
    sync_count: u64,
    /// Untimed appends before each run.
    #[arg(long, default_value_t = 2_000)]
    warm_up: u64,
    /// Payload sizes in bytes.
    #[arg(long, value_delimiter = ',', default_value = "64,256")]
    payloads: Vec<usize>,
    /// Directory in which the temporary journals are created (on the disk to measure).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Segment size of the journals in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    segment_bytes: u64,
    /// Where to write the interval log of every run.
    #[arg(long, default_value = "target/bench/journal_append.hlog")]
    hlog: PathBuf,
}

/// The record type the benchmark appends.
const RECORD_TYPE: u16 = 1;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = match &args.dir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .context("creating the benchmark directory")?;
    println!(
        "journal_append: {} appends ({} with a sync per record), {} warm-up, in {}",
        args.count,
        args.sync_count,
        args.warm_up,
        base.path().display()
    );
    let mut all_runs = Vec::new();
    for &size in &args.payloads {
        let payload = vec![0xA5u8; size];
        let batched = FsyncPolicy::Batched {
            max_records: 64,
            max_delay: Duration::from_millis(1),
        };
        let dir = |name: &str| base.path().join(format!("{name}-{size}"));
        let raw = raw_writes(
            &dir("raw"),
            "write_all",
            encoded_len(size),
            args.count,
            args.warm_up,
            false,
        )?;
        let never = journal(
            &dir("never"),
            "journal Never",
            FsyncPolicy::Never,
            &payload,
            &args,
            args.count,
        )?;
        let batch = journal(
            &dir("batched"),
            "journal Batched{64,1ms}",
            batched,
            &payload,
            &args,
            args.count,
        )?;
        let raw_sync = raw_writes(
            &dir("raw-sync"),
            "write_all+sync_data",
            encoded_len(size),
            args.sync_count,
            args.warm_up.min(args.sync_count),
            true,
        )?;
        let every = journal(
            &dir("every"),
            "journal EveryRecord",
            FsyncPolicy::EveryRecord,
            &payload,
            &args,
            args.sync_count,
        )?;
        println!();
        let runs = [raw, never, batch, raw_sync, every];
        print_table(
            &format!("journal append, {size} B payload"),
            Unit::Micros,
            &runs,
        )?;
        let [raw, never, batch, raw_sync, every] = &runs;
        print_ratio(never, raw)?;
        print_ratio(batch, raw)?;
        print_ratio(every, raw_sync)?;
        all_runs.extend(runs.into_iter().map(|mut r| {
            r.name = format!("{}-{size}B", r.name);
            r
        }));
    }
    write_hlog(
        &args.hlog,
        "tickwarp journal_append latencies (ns)",
        &all_runs,
    )?;
    println!("\nwrote {}", args.hlog.display());
    Ok(())
}

/// Appends `count` records of `payload` to a new journal in `dir` under `policy`.
fn journal(
    dir: &Path,
    name: &str,
    policy: FsyncPolicy,
    payload: &[u8],
    args: &Args,
    count: u64,
) -> anyhow::Result<Run> {
    let config = JournalConfig {
        segment_bytes: args.segment_bytes,
        fsync: policy,
    };
    let (mut writer, _) =
        JournalWriter::open(dir, config).with_context(|| format!("opening {}", dir.display()))?;
    warm_up(args.warm_up.min(count), |i| {
        Ok(writer.append(
            RECORD_TYPE,
            UnixNanos(i),
            payload,
            tickwarp_runtime::Nanos(i),
        )?)
    })?;
    let run = measure(name, count, |i, now| {
        Ok(writer.append(RECORD_TYPE, UnixNanos(i), payload, now)?)
    })?;
    writer.sync()?;
    Ok(run)
}

/// Writes `count` blocks of `record_len` bytes to a plain file, each with one
/// `write_all` (and one `sync_data` with `sync`).
fn raw_writes(
    dir: &Path,
    name: &str,
    record_len: usize,
    count: u64,
    warm: u64,
    sync: bool,
) -> anyhow::Result<Run> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("raw.bin");
    let mut file: File = OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    let block = vec![0x5Au8; record_len];
    let write = |file: &mut File| -> anyhow::Result<()> {
        file.write_all(&block)?;
        if sync {
            file.sync_data()?;
        }
        Ok(())
    };
    warm_up(warm, |_| write(&mut file))?;
    measure(name, count, |_, _| write(&mut file))
}
