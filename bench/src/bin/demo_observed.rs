//! The demo's tick-to-trade with issue 15's observability on vs off, in the same run:
//! `tickwarp demo` (the release binary, one child process per run) plain, and with the
//! counters file, a Prometheus `/metrics` listener (not scraped) and a SQLite drop copy
//! (`--metrics-dir`, `--metrics-listen 127.0.0.1:0`, `--drop-copy-sqlite`).
//!
//! Run: `cargo build --release && cargo build --release -p tickwarp-bench --bin
//! demo_observed && target/release/demo_observed [--rounds 5] [--duration 10]`, or
//! `--quick` for a smoke test (2 rounds of 3 s).
//!
//! Each round runs the demo twice, off then on in even rounds and on then off in odd
//! ones (so a drift of the machine during a round charges both alike), each in a fresh
//! run directory under `--dir` (on the disk to measure), followed by an untimed `sync` so
//! the next run pays for none of its write-back. The demo's gateway journals with
//! `fsync = "never"`: during the run the drop copy sees no durable record and only polls
//! the journal's header; it copies everything when the journal closes at the end,
//! outside the timed window. A sample is the demo's own tick-to-trade (tick received by
//! the feed → order handed to the venue session), from its summary JSON.
//!
//! Prints every run's tick-to-trade percentiles, the median and range over rounds of
//! p50, p99, p99.9 and max per configuration, the per-round on/off ratio of each (median
//! and range), and issue 15's target (p50 on / off ≤ 1.05×) judged on the median ratio.
//! Every run is bounded (`--timeout-secs` beyond its duration; killed after that, which
//! fails the benchmark). It asserts nothing about timing: it reports.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use clap::Parser;
use serde_json::Value;
use tickwarp_bench::report::{Spread, Target, print_target};
use tickwarp_runtime::clock::monotonic_now;

/// Issue 15's target: p50 with observability on at most this share of off.
const P50_TARGET: f64 = 1.05;
/// How often a running child is checked.
const POLL: Duration = Duration::from_millis(100);

/// The demo's tick-to-trade with metrics and drop copy on vs off.
#[derive(Debug, Parser)]
struct Args {
    /// Rounds; each runs the demo once off and once on.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Seconds each demo runs.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Smoke test: 2 rounds of 3 s (overrides --rounds and --duration).
    #[arg(long)]
    quick: bool,
    /// House order events per second at the venue (the demo's `--rate`).
    #[arg(long, default_value_t = 5_000)]
    rate: u32,
    /// The demo's `--threading` (default: the demo's choice for this machine).
    #[arg(long)]
    threading: Option<String>,
    /// The demo's `--idle` (default: the demo's choice for this machine).
    #[arg(long)]
    idle: Option<String>,
    /// Directory on the disk to measure; run directories are created under it.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench/demo_observed"))]
    dir: PathBuf,
    /// The `tickwarp` binary (build it with `cargo build --release`).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/tickwarp"))]
    tickwarp: PathBuf,
    /// Give up on a run this many seconds after its duration.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

/// One demo's tick-to-trade percentiles, µs.
#[derive(Clone, Copy, Debug)]
struct Sample {
    orders: u64,
    p50: f64,
    p99: f64,
    p99_9: f64,
    max: f64,
}

/// Labels of [`Sample::values`].
const COLUMNS: [&str; 4] = ["p50 µs", "p99 µs", "p99.9 µs", "max µs"];

impl Sample {
    /// p50, p99, p99.9 and max.
    fn values(&self) -> [f64; 4] {
        [self.p50, self.p99, self.p99_9, self.max]
    }

    /// The tick-to-trade of the summary JSON in `path`; fails if the run found problems
    /// or timed no order.
    fn read(path: &Path) -> anyhow::Result<Sample> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let summary: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let problems = summary.get("problems").and_then(Value::as_array);
        ensure!(
            problems.is_some_and(Vec::is_empty),
            "the demo reported problems in {}: {:?}",
            path.display(),
            problems
        );
        let ns = |key: &str| -> anyhow::Result<u64> {
            summary
                .pointer(&format!("/latency/tick_to_trade/{key}"))
                .and_then(Value::as_u64)
                .with_context(|| format!("{} has no tick_to_trade {key}", path.display()))
        };
        let us = |v: u64| v as f64 / 1_000.0;
        let orders = ns("count")?;
        ensure!(orders > 0, "the demo timed no order ({})", path.display());
        Ok(Sample {
            orders,
            p50: us(ns("p50")?),
            p99: us(ns("p99")?),
            p99_9: us(ns("p99_9")?),
            max: us(ns("max")?),
        })
    }
}

/// Waits for `child` at most `bound`; kills it (an error) after that.
fn wait_bounded(child: &mut Child, bound: Duration, what: &str) -> anyhow::Result<ExitStatus> {
    let deadline = monotonic_now().saturating_add(bound);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if monotonic_now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish within {bound:?}: killed");
        }
        thread::sleep(POLL);
    }
}

/// Runs one demo in a fresh directory under `root`, observed or not; its output goes to
/// files there.
fn run_demo(args: &Args, root: &Path, duration: f64, observed: bool) -> anyhow::Result<Sample> {
    let dir = tempfile::Builder::new()
        .prefix(if observed { "on-" } else { "off-" })
        .tempdir_in(root)
        .with_context(|| format!("creating a run directory in {}", root.display()))?;
    let run = dir.path().join("run");
    let mut cmd = Command::new(&args.tickwarp);
    cmd.arg("demo")
        .args(["--duration", &duration.to_string()])
        .args(["--rate", &args.rate.to_string()])
        .arg("--dir")
        .arg(&run);
    if let Some(t) = &args.threading {
        cmd.args(["--threading", t]);
    }
    if let Some(i) = &args.idle {
        cmd.args(["--idle", i]);
    }
    if observed {
        cmd.arg("--metrics-dir")
            .arg(dir.path().join("metrics"))
            .args(["--metrics-listen", "127.0.0.1:0"])
            .arg("--drop-copy-sqlite")
            .arg(dir.path().join("dropcopy.sqlite"));
    }
    let out = File::create(dir.path().join("stdout.txt"))?;
    let err_path = dir.path().join("stderr.txt");
    let err = File::create(&err_path)?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {}", args.tickwarp.display()))?;
    let bound = Duration::from_secs_f64(duration) + Duration::from_secs(args.timeout_secs);
    let status = wait_bounded(&mut child, bound, "tickwarp demo")?;
    if !status.success() {
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        bail!("tickwarp demo failed ({status}); stderr:\n{stderr}");
    }
    let sample = Sample::read(&run.join("summary-demo.json"))?;
    // Untimed: no write-back of this run lands in the next.
    let mut sync = Command::new("sync").spawn().context("starting sync")?;
    let synced = wait_bounded(&mut sync, Duration::from_secs(args.timeout_secs), "sync")?;
    ensure!(synced.success(), "sync failed: {synced}");
    Ok(sample)
}

/// The system's load average line, for the header.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Prints one sample as a row.
fn print_sample(label: &str, s: &Sample) {
    print!("{label:<28} {:>8}", s.orders);
    for v in s.values() {
        print!(" {v:>10.1}");
    }
    println!();
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (rounds, duration) = if args.quick {
        (2, 3.0)
    } else {
        (args.rounds, args.duration)
    };
    ensure!(rounds >= 1, "--rounds must be at least 1");
    ensure!(
        duration.is_finite() && duration > 0.0,
        "--duration must be positive"
    );
    ensure!(
        args.tickwarp.exists(),
        "{} not found: build it with `cargo build --release` (or pass --tickwarp)",
        args.tickwarp.display()
    );
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    println!(
        "demo tick-to-trade, metrics and drop copy off vs on: {rounds} rounds of {duration} s \
         per run, rate {}, binary {}, load average {} at start",
        args.rate,
        args.tickwarp.display(),
        load_average()
    );
    println!(
        "{:<28} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "run", "orders", "p50 µs", "p99 µs", "p99.9 µs", "max µs"
    );
    let mut off = Vec::new();
    let mut on = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for observed in order {
            let sample = run_demo(&args, &args.dir, duration, observed)?;
            let label = format!(
                "round {}/{rounds} {}",
                round + 1,
                if observed { "on" } else { "off" }
            );
            print_sample(&label, &sample);
            if observed {
                on.push(sample);
            } else {
                off.push(sample);
            }
        }
    }
    println!();
    println!("per round, median [min–max]:");
    print!("{:<8}", "run");
    for label in COLUMNS {
        print!(" {label:>26}");
    }
    println!();
    for (label, samples) in [("off", &off), ("on", &on)] {
        print!("{label:<8}");
        for m in 0..COLUMNS.len() {
            let spread = Spread::of(samples.iter().map(|s| s.values()[m]));
            print!(" {:>26}", spread.show(1, ""));
        }
        println!();
    }
    println!("ratio on / off in the same round, median [min–max]:");
    print!("{:<8}", "on/off");
    let ratios = |m: usize| {
        on.iter()
            .zip(&off)
            .filter(move |(_, b)| b.values()[m] > 0.0)
            .map(move |(a, b)| a.values()[m] / b.values()[m])
    };
    for (m, label) in COLUMNS.iter().enumerate() {
        let spread = Spread::of(ratios(m));
        print!(
            " {:>26}",
            format!("{} {}", label.trim_end_matches(" µs"), spread.show(2, "×"))
        );
    }
    println!();
    println!();
    let p50 = Spread::of(ratios(0));
    print_target(
        &format!(
            "issue 15: demo tick-to-trade p50 on / off, spread {}",
            p50.show(3, "×")
        ),
        (!on.is_empty()).then_some(p50.median),
        Target::AtMost(P50_TARGET),
    )?;
    if rounds < 5 {
        println!("note: fewer than 5 rounds: a smoke test, not a measurement");
    }
    Ok(())
}
