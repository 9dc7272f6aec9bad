//! `tickwarp stat [--dir DIR | --pid PID] [--json] [--interval MS] [--once]`: reads the
//! counters file of a running (or finished) process and prints its metrics, refreshing
//! like AeronStat: name, labels, value and rate per second since the last refresh;
//! histograms as count, mean and the p50/p99 bucket bounds. `--json` prints one
//! snapshot and exits. A writer that is gone is said so ("not running, last values").
//! A missing or garbled file is an error (exit 1). CLI and printing only: the reading
//! is `tickwarp_metrics`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;
use tickwarp_metrics::{CountersReader, Liveness, Snapshot, Value, find, liveness};
use tickwarp_runtime::{Nanos, clock};

/// Options of `tickwarp stat`.
#[derive(Debug, Args)]
pub(crate) struct StatArgs {
    /// The run directory holding `tickwarp.counters` (a gateway's `[metrics] dir`,
    /// by default `<journal.dir>/metrics`), or the file itself.
    #[arg(long, conflicts_with = "pid")]
    dir: Option<PathBuf>,
    /// The PID of a running process: its counters file is found in /proc/PID/maps.
    #[arg(long)]
    pid: Option<u32>,
    /// Print one snapshot as JSON and exit.
    #[arg(long)]
    json: bool,
    /// Refresh period, milliseconds (100..=3600000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    interval: u64,
    /// Print one table and exit.
    #[arg(long)]
    once: bool,
}

/// Runs `tickwarp stat`.
pub(crate) fn run(args: &StatArgs) -> Result<bool> {
    if args.dir.is_none() && args.pid.is_none() {
        bail!("give --dir DIR (the run directory) or --pid PID");
    }
    let path = find(args.dir.as_deref(), args.pid)?;
    let reader = CountersReader::open(&path)?;
    if args.json {
        let snap = reader.snapshot()?;
        let running = liveness(snap.header.pid, &path) == Liveness::Running;
        let text = serde_json::to_string_pretty(&to_json(&reader, &snap, running))?;
        let mut out = std::io::stdout().lock();
        return reader_gone_is_fine(writeln!(out, "{text}").and_then(|()| out.flush()));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let terminal = std::io::stdout().is_terminal();
    let mut reader = reader;
    let mut previous: Option<(Nanos, HashMap<String, u64>)> = None;
    loop {
        let mut snap = reader.snapshot()?;
        let mut running = liveness(snap.header.pid, &path) == Liveness::Running;
        if !running && args.dir.is_some() {
            // A restarted process put a new file in the directory: follow it.
            if let Ok(fresh) = CountersReader::open(&path) {
                let fresh_snap = fresh.snapshot()?;
                if fresh_snap.header.pid != snap.header.pid
                    || fresh_snap.header.start_unix_nanos != snap.header.start_unix_nanos
                {
                    (reader, snap, previous) = (fresh, fresh_snap, None);
                    running = liveness(snap.header.pid, &path) == Liveness::Running;
                }
            }
        }
        let now = clock::monotonic_now();
        let text = table(
            &reader,
            &snap,
            running,
            previous.as_ref().map(|(t, v)| (now, *t, v)),
        );
        let mut out = std::io::stdout().lock();
        let written = if terminal && !args.once {
            // Clear and home, as AeronStat does.
            write!(out, "\x1b[2J\x1b[H{text}")
        } else {
            write!(out, "{text}")
        };
        drop(out);
        if args.once || written.is_err() {
            return reader_gone_is_fine(written.and_then(|()| std::io::stdout().flush()));
        }
        previous = Some((now, values(&snap)));
        let mut waited = 0;
        while waited < args.interval {
            if stop.load(Ordering::Acquire) {
                return Ok(true);
            }
            let step = (args.interval - waited).min(100);
            thread::sleep(Duration::from_millis(step));
            waited += step;
        }
    }
}

/// A write to stdout: a reader that went away (`stat | head`) ends the command quietly
/// with success; any other write error is an error.
fn reader_gone_is_fine(written: std::io::Result<()>) -> Result<bool> {
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(true),
    }
}

/// A metric's key in the rate table.
fn key(name: &str, labels: &str) -> String {
    format!("{name}{{{labels}}}")
}

/// Counter and gauge values (histograms by their count), by key.
fn values(snap: &Snapshot) -> HashMap<String, u64> {
    snap.metrics
        .iter()
        .map(|m| {
            let v = match &m.value {
                Value::Counter(v) | Value::Gauge(v) => *v,
                Value::Histogram(h) => h.bucket_total(),
            };
            (key(&m.name, &m.label_text()), v)
        })
        .collect()
}

/// Nanoseconds for people.
fn duration(ns: u64) -> String {
    if ns == u64::MAX {
        return "+Inf".to_owned();
    }
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

/// The header line.
fn status(reader: &CountersReader, snap: &Snapshot, running: bool) -> String {
    let state = match (running, snap.header.closed) {
        (true, _) => "running".to_owned(),
        (false, true) => "not running (closed cleanly), last values".to_owned(),
        (false, false) => "not running, last values".to_owned(),
    };
    format!(
        "{} pid {}: {state}; {} ({} of {} slots)\n",
        if snap.header.process.is_empty() {
            "tickwarp"
        } else {
            &snap.header.process
        },
        snap.header.pid,
        reader.path().display(),
        snap.header.registered,
        snap.header.capacity
    )
}

/// The table: one row per metric, with the rate since the previous refresh
/// (`(now, then, values then)`).
fn table(
    reader: &CountersReader,
    snap: &Snapshot,
    running: bool,
    previous: Option<(Nanos, Nanos, &HashMap<String, u64>)>,
) -> String {
    let mut out = status(reader, snap, running);
    out.push_str(&format!(
        "{:<44} {:<34} {:>14} {:>12}\n",
        "NAME", "LABELS", "VALUE", "RATE/s"
    ));
    for m in &snap.metrics {
        let labels = m.label_text();
        let (value, current) = match &m.value {
            Value::Counter(v) | Value::Gauge(v) => (v.to_string(), *v),
            Value::Histogram(h) => {
                let n = h.bucket_total();
                let mean = h.sum_nanos.checked_div(h.count).unwrap_or(0);
                let q = |q: f64| h.quantile_bound(q).map_or("-".to_owned(), duration);
                (
                    format!(
                        "n={n} mean={} p50<={} p99<={}",
                        duration(mean),
                        q(0.5),
                        q(0.99)
                    ),
                    n,
                )
            }
        };
        let rate = match (previous, &m.value) {
            (_, Value::Gauge(_)) => String::new(),
            (Some((now, then, before)), _) => {
                let secs = now.0.saturating_sub(then.0) as f64 / 1e9;
                match before.get(&key(&m.name, &labels)) {
                    Some(b) if secs > 0.0 => {
                        format!("{:.1}", current.saturating_sub(*b) as f64 / secs)
                    }
                    _ => String::new(),
                }
            }
            (None, _) => String::new(),
        };
        if matches!(m.value, Value::Histogram(_)) {
            out.push_str(&format!("{:<44} {:<34} {value} {rate}\n", m.name, labels));
        } else {
            out.push_str(&format!(
                "{:<44} {:<34} {value:>14} {rate:>12}\n",
                m.name, labels
            ));
        }
    }
    out
}

/// The snapshot as JSON (histograms in seconds, cumulative buckets, as Prometheus has
/// them).
fn to_json(reader: &CountersReader, snap: &Snapshot, running: bool) -> serde_json::Value {
    let metrics: Vec<serde_json::Value> = snap
        .metrics
        .iter()
        .map(|m| {
            let labels: serde_json::Map<String, serde_json::Value> = m
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            match &m.value {
                Value::Counter(v) => {
                    json!({"name": m.name, "labels": labels, "type": "counter", "value": v})
                }
                Value::Gauge(v) => {
                    json!({"name": m.name, "labels": labels, "type": "gauge", "value": v})
                }
                Value::Histogram(h) => {
                    let mut cumulative = 0u64;
                    let buckets: Vec<serde_json::Value> = h
                        .buckets
                        .iter()
                        .map(|&(le, n)| {
                            cumulative = cumulative.saturating_add(n);
                            let le = if le == u64::MAX {
                                json!("+Inf")
                            } else {
                                json!(le as f64 / 1e9)
                            };
                            json!({"le": le, "count": cumulative})
                        })
                        .collect();
                    json!({
                        "name": m.name,
                        "labels": labels,
                        "type": "histogram",
                        "count": h.bucket_total(),
                        "sum_seconds": h.sum_nanos as f64 / 1e9,
                        "buckets": buckets,
                    })
                }
            }
        })
        .collect();
    json!({
        "path": reader.path().display().to_string(),
        "pid": snap.header.pid,
        "process": snap.header.process,
        "running": running,
        "closed": snap.header.closed,
        "start_unix_nanos": snap.header.start_unix_nanos,
        "metrics": metrics,
    })
}
