//! Shared benchmark reporting: timed runs into HdrHistograms, percentile tables, ratios
//! against a baseline, `.hlog` files, and warm-up.
//!
//! A benchmark builds one [`Run`] per configuration (with [`measure`] or by recording
//! into [`new_histogram`] itself), prints them with [`print_table`], compares each with
//! its baseline from the same process run with [`print_ratio`], and keeps the raw
//! distributions with [`write_hlog`] (HdrHistogram interval log, V2 deflate encoding,
//! readable by `HistogramLogAnalyzer` and hdrhistogram's `IntervalLogIterator`).
//! Streaming benchmarks report [`Throughput`]s with [`print_throughput_table`] and
//! [`print_throughput_ratio`]; [`print_target`] says whether a ratio meets the goal an
//! issue set.
//!
//! Values are nanoseconds. Time is read only through `tickwarp_runtime::Clock`. This
//! module must not assert on timings and must not pick a baseline: benchmarks decide
//! what to compare.

use std::fs::File;
use std::hint::black_box;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use tickwarp_runtime::Clock;

/// Largest value a histogram from [`new_histogram`] records exactly (one hour in ns).
pub const HIGHEST_TRACKABLE_NS: u64 = 3_600 * 1_000_000_000;
/// Significant decimal digits kept by [`new_histogram`].
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// A latency histogram in nanoseconds: 1 ns to one hour, 3 significant digits.
pub fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, HIGHEST_TRACKABLE_NS, SIGNIFICANT_DIGITS)
        .map_err(|e| anyhow!("creating histogram: {e}"))
}

/// One measured configuration: its name, latency distribution and wall time.
#[derive(Clone, Debug)]
pub struct Run {
    /// Row label (also the `.hlog` tag, with spaces and commas replaced).
    pub name: String,
    /// Per-operation latencies in nanoseconds.
    pub histogram: Histogram<u64>,
    /// Wall time of the measured loop (for the rate column and the `.hlog` interval).
    pub elapsed: Duration,
}

impl Run {
    /// Operations per second over the measured loop (0 when nothing was timed).
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.histogram.len() as f64 / secs
        } else {
            0.0
        }
    }

    /// The reported percentiles of this run.
    pub fn percentiles(&self) -> Percentiles {
        Percentiles::of(&self.histogram)
    }

    /// Adds the samples and wall time of `other` (another round of the same
    /// configuration) to this run, which keeps its name.
    pub fn merge(&mut self, other: &Run) -> anyhow::Result<()> {
        self.histogram
            .add(&other.histogram)
            .map_err(|e| anyhow!("merging {} into {}: {e:?}", other.name, self.name))?;
        self.elapsed += other.elapsed;
        Ok(())
    }
}

/// The share of `total` operations that round `round` of `rounds` runs: an even split,
/// the first `total % rounds` rounds taking one more (0 for no rounds).
pub fn round_share(total: u64, rounds: u64, round: u64) -> u64 {
    if rounds == 0 || round >= rounds {
        return 0;
    }
    total / rounds + u64::from(round < total % rounds)
}

/// The summary every table shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percentiles {
    /// Recorded values.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// 99.99th percentile.
    pub p99_99: u64,
    /// Largest value.
    pub max: u64,
}

impl Percentiles {
    /// Column labels, in the order of [`Percentiles::values`].
    pub const LABELS: [&'static str; 6] = ["p50", "p90", "p99", "p99.9", "p99.99", "max"];

    /// Summarises `h`.
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        Percentiles {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            p99_99: h.value_at_quantile(0.9999),
            max: h.max(),
        }
    }

    /// The percentile values, in the order of [`Percentiles::LABELS`].
    pub fn values(&self) -> [u64; 6] {
        [
            self.p50,
            self.p90,
            self.p99,
            self.p99_9,
            self.p99_99,
            self.max,
        ]
    }
}

/// How table cells show nanosecond values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Whole nanoseconds.
    Nanos,
    /// Microseconds with two decimals.
    Micros,
}

impl Unit {
    /// The unit's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Nanos => "ns",
            Unit::Micros => "µs",
        }
    }

    /// Formats `ns` right-aligned in `width` columns.
    fn cell(self, ns: u64, width: usize) -> String {
        match self {
            Unit::Nanos => format!("{ns:>width$}"),
            Unit::Micros => format!("{:>width$.2}", ns as f64 / 1_000.0),
        }
    }
}

/// Runs `op` `iterations` times untimed, so caches, page tables and branch predictors
/// reach their steady state before anything is recorded.
pub fn warm_up<T>(
    iterations: u64,
    mut op: impl FnMut(u64) -> anyhow::Result<T>,
) -> anyhow::Result<()> {
    for i in 0..iterations {
        black_box(op(i)?);
    }
    Ok(())
}

/// Times each of `iterations` calls of `op` with [`Clock::now`] into a new [`Run`].
///
/// `op` gets the iteration index and the time the call started (for code that takes
/// `now` as an argument). The clock read costs about 20 ns and is inside each sample.
pub fn measure<T>(
    name: impl Into<String>,
    iterations: u64,
    mut op: impl FnMut(u64, tickwarp_runtime::Nanos) -> anyhow::Result<T>,
) -> anyhow::Result<Run> {
    let clock = Clock::new();
    let mut histogram = new_histogram()?;
    let start = clock.now();
    let mut before = start;
    for i in 0..iterations {
        black_box(op(i, before)?);
        let after = clock.now();
        histogram.saturating_record(after.saturating_sub(before).get());
        before = after;
    }
    Ok(Run {
        name: name.into(),
        histogram,
        elapsed: before.saturating_sub(start).as_duration(),
    })
}

/// Writes a percentile table of `runs` (count, rate, p50 … max) under `title`.
pub fn write_table(out: &mut impl Write, title: &str, unit: Unit, runs: &[Run]) -> io::Result<()> {
    let name_width = runs
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    writeln!(out, "{title} (latency in {})", unit.symbol())?;
    write!(
        out,
        "{:<name_width$} {:>10} {:>12}",
        "run", "count", "ops/s"
    )?;
    for label in Percentiles::LABELS {
        write!(out, " {label:>10}")?;
    }
    writeln!(out)?;
    for run in runs {
        let p = run.percentiles();
        write!(
            out,
            "{:<name_width$} {:>10} {:>12.0}",
            run.name,
            p.count,
            run.rate()
        )?;
        for value in p.values() {
            write!(out, " {}", unit.cell(value, 10))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// [`write_table`] to standard output.
pub fn print_table(title: &str, unit: Unit, runs: &[Run]) -> io::Result<()> {
    write_table(&mut io::stdout().lock(), title, unit, runs)
}

/// `numerator / denominator`, or `None` when the denominator is zero.
pub fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator != 0).then(|| numerator as f64 / denominator as f64)
}

/// Writes one line comparing `run` with `baseline`, percentile by percentile and by rate:
/// `journal / write_all: p50 = 1.07× p90 = … rate = 0.93×`.
pub fn write_ratio(out: &mut impl Write, run: &Run, baseline: &Run) -> io::Result<()> {
    let (a, b) = (run.percentiles(), baseline.percentiles());
    write!(out, "{} / {}:", run.name, baseline.name)?;
    for ((label, x), y) in Percentiles::LABELS.iter().zip(a.values()).zip(b.values()) {
        write!(out, " {label} = {}", format_ratio(ratio(x, y)))?;
    }
    let rate = (baseline.rate() > 0.0).then(|| run.rate() / baseline.rate());
    writeln!(out, "  rate = {}", format_ratio(rate))
}

/// [`write_ratio`] to standard output.
pub fn print_ratio(run: &Run, baseline: &Run) -> io::Result<()> {
    write_ratio(&mut io::stdout().lock(), run, baseline)
}

/// A ratio as `1.07×`, or `n/a`.
fn format_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}×"))
}

/// One streaming run: bytes moved in a wall time.
#[derive(Clone, Debug, PartialEq)]
pub struct Throughput {
    /// Row label.
    pub name: String,
    /// Payload bytes moved.
    pub bytes: u64,
    /// Wall time from the first byte offered to the last byte delivered.
    pub elapsed: Duration,
}

impl Throughput {
    /// Megabytes (10⁶ bytes) per second (0 when nothing was timed).
    pub fn mb_per_s(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.bytes as f64 / secs / 1e6
        } else {
            0.0
        }
    }
}

/// Writes a throughput table of `runs` (bytes, seconds, MB/s) under `title`.
pub fn write_throughput_table(
    out: &mut impl Write,
    title: &str,
    runs: &[Throughput],
) -> io::Result<()> {
    let name_width = runs
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    writeln!(out, "{title} (MB = 10^6 bytes)")?;
    writeln!(
        out,
        "{:<name_width$} {:>14} {:>10} {:>10}",
        "run", "bytes", "seconds", "MB/s"
    )?;
    for run in runs {
        writeln!(
            out,
            "{:<name_width$} {:>14} {:>10.3} {:>10.1}",
            run.name,
            run.bytes,
            run.elapsed.as_secs_f64(),
            run.mb_per_s()
        )?;
    }
    Ok(())
}

/// [`write_throughput_table`] to standard output.
pub fn print_throughput_table(title: &str, runs: &[Throughput]) -> io::Result<()> {
    write_throughput_table(&mut io::stdout().lock(), title, runs)
}

/// Writes `run / baseline: MB/s = 0.93×`.
pub fn write_throughput_ratio(
    out: &mut impl Write,
    run: &Throughput,
    baseline: &Throughput,
) -> io::Result<()> {
    let base = baseline.mb_per_s();
    let r = (base > 0.0).then(|| run.mb_per_s() / base);
    writeln!(
        out,
        "{} / {}: MB/s = {}",
        run.name,
        baseline.name,
        format_ratio(r)
    )
}

/// [`write_throughput_ratio`] to standard output.
pub fn print_throughput_ratio(run: &Throughput, baseline: &Throughput) -> io::Result<()> {
    write_throughput_ratio(&mut io::stdout().lock(), run, baseline)
}

/// The median, smallest and largest of some per-round values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (all zero for none).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Spread {
        let mut v: Vec<f64> = values.into_iter().collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let at = |i: usize| v.get(i).copied().unwrap_or(0.0);
        let median = if n % 2 == 1 {
            at(n / 2)
        } else if n == 0 {
            0.0
        } else {
            (at(n / 2 - 1) + at(n / 2)) / 2.0
        };
        Spread {
            median,
            min: at(0),
            max: at(n.saturating_sub(1)),
        }
    }

    /// `median [min–max]` with `decimals` decimals and `suffix` after each value.
    pub fn show(self, decimals: usize, suffix: &str) -> String {
        format!(
            "{:.decimals$}{suffix} [{:.decimals$}–{:.decimals$}]",
            self.median, self.min, self.max
        )
    }
}

/// The goal a ratio is held to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// The ratio should be at most this (latencies: lower is better).
    AtMost(f64),
    /// The ratio should be at least this (throughputs: higher is better).
    AtLeast(f64),
}

impl Target {
    /// Whether `ratio` meets the goal (`None` for an unknown ratio).
    pub fn met_by(self, ratio: Option<f64>) -> Option<bool> {
        ratio.map(|r| match self {
            Target::AtMost(bound) => r <= bound,
            Target::AtLeast(bound) => r >= bound,
        })
    }
}

/// Writes `target: what ≤ 1.10×, measured 1.234× — missed` (or `met`, or `n/a`); the
/// measured ratio gets three decimals so a miss never prints as the bound itself.
pub fn write_target(
    out: &mut impl Write,
    what: &str,
    ratio: Option<f64>,
    target: Target,
) -> io::Result<()> {
    let goal = match target {
        Target::AtMost(bound) => format!("≤ {bound:.2}×"),
        Target::AtLeast(bound) => format!("≥ {bound:.2}×"),
    };
    let verdict = match target.met_by(ratio) {
        Some(true) => "met",
        Some(false) => "missed",
        None => "n/a",
    };
    let measured = ratio.map_or_else(|| "n/a".to_owned(), |r| format!("{r:.3}×"));
    writeln!(
        out,
        "target: {what} {goal}, measured {measured} — {verdict}"
    )
}

/// [`write_target`] to standard output.
pub fn print_target(what: &str, ratio: Option<f64>, target: Target) -> io::Result<()> {
    write_target(&mut io::stdout().lock(), what, ratio, target)
}

/// Writes `runs` to `path` as an HdrHistogram interval log, one tagged interval per run,
/// laid end to end from time zero, with `comment` as a header line.
pub fn write_hlog(path: &Path, comment: &str, runs: &[Run]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::new(file);
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(comment)
        .begin_log_with(&mut out, &mut serializer)
        .with_context(|| format!("writing {}", path.display()))?;
    let mut start = Duration::ZERO;
    for run in runs {
        let tag = hlog_tag(&run.name);
        log.write_histogram(&run.histogram, start, run.elapsed, Tag::new(&tag))
            .map_err(|e| anyhow!("writing {} to {}: {e}", run.name, path.display()))?;
        start += run.elapsed;
    }
    drop(log);
    out.flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// `name` with the characters an interval-log tag may not contain replaced by `_`.
fn hlog_tag(name: &str) -> String {
    name.chars()
        .map(|c| {
            if matches!(c, ',' | ' ' | '\r' | '\n') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    fn run(name: &str, values: impl IntoIterator<Item = u64>, elapsed_ms: u64) -> Run {
        let mut histogram = new_histogram().unwrap();
        for v in values {
            histogram.record(v).unwrap();
        }
        Run {
            name: name.to_owned(),
            histogram,
            elapsed: Duration::from_millis(elapsed_ms),
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let r = run("uniform", 1..=1000, 1);
        let p = r.percentiles();
        assert_eq!(p.count, 1000);
        assert_eq!(p.p50, 500);
        assert_eq!(p.p90, 900);
        assert_eq!(p.p99, 990);
        assert_eq!(p.max, 1000);
        assert_eq!(r.rate(), 1_000_000.0);
    }

    #[test]
    fn table_has_a_row_per_run_and_every_column() {
        let runs = [
            run("journal", [1_500, 2_500], 1),
            run("write_all", [1_000], 1),
        ];
        let mut out = Vec::new();
        write_table(&mut out, "append", Unit::Micros, &runs).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], "append (latency in µs)");
        for label in ["count", "ops/s", "p50", "p99.99", "max"] {
            assert!(lines[1].contains(label), "{text}");
        }
        assert!(
            lines[2].starts_with("journal")
                && lines[2].contains("1.50")
                && lines[2].contains("2.50")
        );
        assert!(lines[3].starts_with("write_all") && lines[3].contains("1.00"));
    }

    #[test]
    fn ratio_line_compares_each_percentile() {
        let a = run("soft", [107], 1);
        let b = run("tcp", [100], 2);
        let mut out = Vec::new();
        write_ratio(&mut out, &a, &b).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("soft / tcp: p50 = 1.07×"), "{text}");
        assert!(text.contains("rate = 2.00×"), "{text}");
        assert_eq!(ratio(1, 0), None);
        assert_eq!(format_ratio(None), "n/a");
    }

    #[test]
    fn hlog_holds_one_tagged_interval_per_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/runs.hlog");
        let runs = [run("journal, 64 B", [10, 20], 5), run("baseline", [5], 7)];
        write_hlog(&path, "test log", &runs).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("#test log"), "{text}");
        let intervals: Vec<_> = IntervalLogIterator::new(&bytes)
            .filter_map(|e| match e.unwrap() {
                LogEntry::Interval(h) => Some((
                    h.tag().map(|t| t.as_str().to_owned()),
                    h.start_timestamp(),
                    h.duration(),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            intervals,
            vec![
                (
                    Some("journal__64_B".to_owned()),
                    Duration::ZERO,
                    Duration::from_millis(5)
                ),
                (
                    Some("baseline".to_owned()),
                    Duration::from_millis(5),
                    Duration::from_millis(7)
                ),
            ]
        );
    }

    #[test]
    fn merged_rounds_hold_every_sample_and_the_summed_time() {
        let mut a = run("soft", [10, 20], 5);
        a.merge(&run("soft again", [30], 7)).unwrap();
        assert_eq!(a.name, "soft");
        assert_eq!(a.histogram.len(), 3);
        assert_eq!(a.histogram.max(), 30);
        assert_eq!(a.elapsed, Duration::from_millis(12));
    }

    #[test]
    fn round_shares_add_up_to_the_total() {
        for (total, rounds) in [(10, 3), (100_000, 5), (2, 5), (0, 4), (7, 1)] {
            let shares: Vec<u64> = (0..rounds).map(|r| round_share(total, rounds, r)).collect();
            assert_eq!(shares.iter().sum::<u64>(), total, "{total} in {rounds}");
            let (min, max) = (shares.iter().min(), shares.iter().max());
            assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1), "{shares:?}");
        }
        assert_eq!(round_share(10, 3, 0), 4);
        assert_eq!(round_share(10, 3, 2), 3);
        assert_eq!(round_share(10, 3, 3), 0);
        assert_eq!(round_share(10, 0, 0), 0);
    }

    #[test]
    fn throughput_table_and_ratio() {
        let soft = Throughput {
            name: "soft WRITE".to_owned(),
            bytes: 90_000_000,
            elapsed: Duration::from_millis(100),
        };
        let tcp = Throughput {
            name: "tcp".to_owned(),
            bytes: 50_000_000,
            elapsed: Duration::from_millis(50),
        };
        assert_eq!(soft.mb_per_s(), 900.0);
        assert_eq!(tcp.mb_per_s(), 1_000.0);
        let mut out = Vec::new();
        write_throughput_table(&mut out, "stream", &[soft.clone(), tcp.clone()]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[1].contains("MB/s"), "{text}");
        assert!(
            lines[2].starts_with("soft WRITE")
                && lines[2].contains("90000000")
                && lines[2].ends_with("900.0"),
            "{text}"
        );
        let mut out = Vec::new();
        write_throughput_ratio(&mut out, &soft, &tcp).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "soft WRITE / tcp: MB/s = 0.90×\n"
        );
        let idle = Throughput {
            elapsed: Duration::ZERO,
            ..tcp
        };
        assert_eq!(idle.mb_per_s(), 0.0);
        let mut out = Vec::new();
        write_throughput_ratio(&mut out, &soft, &idle).unwrap();
        assert!(String::from_utf8(out).unwrap().ends_with("n/a\n"));
    }

    #[test]
    fn targets_bound_ratios_from_the_right_side() {
        assert_eq!(Target::AtMost(1.10).met_by(Some(1.10)), Some(true));
        assert_eq!(Target::AtMost(1.10).met_by(Some(1.11)), Some(false));
        assert_eq!(Target::AtLeast(0.90).met_by(Some(0.95)), Some(true));
        assert_eq!(Target::AtLeast(0.90).met_by(Some(0.89)), Some(false));
        assert_eq!(Target::AtLeast(0.90).met_by(None), None);
        let mut out = Vec::new();
        write_target(
            &mut out,
            "soft p50 / tcp p50",
            Some(1.234),
            Target::AtMost(1.1),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "target: soft p50 / tcp p50 ≤ 1.10×, measured 1.234× — missed\n"
        );
        let mut out = Vec::new();
        write_target(&mut out, "MB/s", None, Target::AtLeast(0.9)).unwrap();
        assert!(String::from_utf8(out).unwrap().ends_with("n/a — n/a\n"));
    }

    #[test]
    fn measure_and_warm_up_run_the_operation() {
        let mut calls = 0u64;
        warm_up(3, |_| {
            calls += 1;
            Ok(())
        })
        .unwrap();
        let run = measure("op", 5, |i, _now| {
            calls += 1;
            Ok(i)
        })
        .unwrap();
        assert_eq!(calls, 8);
        assert_eq!(run.histogram.len(), 5);
        assert_eq!(run.name, "op");
    }
}
