//! How much faster is tickwarp's FIX codec than QuickFIX C++ at the gateway's hot work:
//! decoding a NewOrderSingle and encoding an ExecutionReport?
//!
//! Run: `cargo run --release -p tickwarp-bench --bin fix_codec [-- --iterations N]`
//!
//! tickwarp: `Message::decode` + `NewOrderSingle::parse` (framing, BodyLength and
//! CheckSum checks, field index, typed ClOrdID/Account/Symbol/Side/OrderQty/OrdType/
//! Price/TimeInForce/TransactTime), and `MessageWriter` with the session's header and
//! `ExecutionReport::write_body` (23 fields, timestamps formatted each time).
//!
//! QuickFIX (baseline, same process run): `bench/quickfix/fix_codec.cpp`, compiled here
//! with `g++ -std=c++14 -O2` against Debian's `libquickfix-dev` into
//! `--build-dir`, does the same work on the same bytes: `FIX::Message::setString` plus
//! typed `getField` of the same nine fields, and a `FIX44::ExecutionReport` built from
//! the same typed values and serialized with `toString`. The benchmark checks that
//! QuickFIX decoded the same values and that its ExecutionReport carries the same fields
//! as ours before it compares times.
//!
//! Both sides warm up (a tenth of the iterations), then time batches of `--batch`
//! messages; each batch's mean ns per message is recorded once per message into an
//! HdrHistogram, so the rate column is messages per second and the percentiles are over
//! batch means. Prints the tables, the ratio QuickFIX / tickwarp per percentile, the
//! target (≥ 3×), and writes an `.hlog`. Without `g++` or QuickFIX the baseline is
//! skipped with a note (an error when the `CI` environment variable is set).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use clap::Parser;
use tickwarp_bench::report::{
    Run, Target, Unit, new_histogram, print_ratio, print_table, print_target, ratio, write_hlog,
};
use tickwarp_gateway::fix::codec::checksum;
use tickwarp_gateway::fix::fields::tag;
use tickwarp_gateway::fix::messages::{ExecType, ExecutionReport, OrdStatus};
use tickwarp_gateway::fix::{
    Message, MessageWriter, MsgType, NewOrderSingle, ParseContext, SessionId,
};
use tickwarp_runtime::{Clock, UnixNanos};
use tickwarp_wire::{
    AccountId, ClientOrderId, InstrumentId, InstrumentTable, OrderType, Price, Qty, Side,
    TimeInForce,
};

/// FIX codec throughput: tickwarp against QuickFIX C++ on the same messages.
#[derive(Debug, Parser)]
struct Args {
    /// Timed messages per run (after a tenth of that untimed).
    #[arg(long, default_value_t = 1_000_000)]
    iterations: u64,
    /// Messages per timed batch.
    #[arg(long, default_value_t = 100)]
    batch: u64,
    /// Where the QuickFIX program is compiled.
    #[arg(long, default_value = "target/bench/quickfix")]
    build_dir: PathBuf,
    /// Where to write the interval log of every run.
    #[arg(long, default_value = "target/bench/fix_codec.hlog")]
    hlog: PathBuf,
}

/// The QuickFIX benchmark program's source.
const QUICKFIX_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/quickfix/fix_codec.cpp");
/// Debian packages the baseline needs.
const PACKAGES: &str = "g++ pkg-config libquickfix-dev";
/// 2025-11-25 10:23:53.123 UTC: SendingTime and TransactTime of the ExecutionReport.
const WALL: UnixNanos = UnixNanos(1_764_066_233_123_000_000);
/// The speed-up over QuickFIX the codec is held to.
const TARGET: f64 = 3.0;

/// `|` to SOH.
fn soh(text: &str) -> Vec<u8> {
    text.bytes()
        .map(|b| if b == b'|' { 1 } else { b })
        .collect()
}

/// The NewOrderSingle both codecs decode, framed with BodyLength and CheckSum.
fn nos_frame() -> Vec<u8> {
    let body = soh(
        "35=D|34=2|49=CLIENT|52=20251125-10:23:53.123|56=GW|11=ORD1|1=42|55=ACME|54=1|\
         38=100|40=2|44=12.5|59=0|60=20251125-10:23:53.120|",
    );
    let mut out = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
    out.extend_from_slice(&body);
    let sum = checksum(&out);
    out.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    out
}

/// The ExecutionReport both codecs encode (the QuickFIX program hard-codes the same).
fn report() -> anyhow::Result<ExecutionReport<'static>> {
    Ok(ExecutionReport {
        order_id: 9001,
        exec_id: 77,
        exec_type: ExecType::Trade,
        ord_status: OrdStatus::PartiallyFilled,
        cl_ord_id: ClientOrderId::new("ORD1")?,
        orig_cl_ord_id: None,
        instrument: InstrumentId(1),
        side: Side::Buy,
        ord_type: Some(OrderType::Limit),
        price: Some(Price::from_ticks(125_000)),
        tif: Some(TimeInForce::Day),
        order_qty: Qty(100),
        last_qty: Some(Qty(40)),
        last_px: Some(Price::from_ticks(124_000)),
        leaves_qty: Qty(60),
        cum_qty: Qty(40),
        avg_px: Price::from_ticks(124_000),
        transact_time: WALL,
        reject_reason: None,
        text: None,
    })
}

/// Encodes `report` as the session does: header, then body.
fn encode(buf: &mut Vec<u8>, report: &ExecutionReport<'_>) {
    buf.clear();
    let mut w = MessageWriter::begin(buf, MsgType::EXECUTION_REPORT);
    w.uint(tag::MSG_SEQ_NUM, 12345)
        .str(tag::SENDER_COMP_ID, "GW")
        .timestamp(tag::SENDING_TIME, WALL)
        .str(tag::TARGET_COMP_ID, "CLIENT");
    report.write_body(&mut w, AccountId(42), b"ACME");
    black_box(w.finish());
}

/// Decodes and parses `frame` as the session does.
fn decode(frame: &[u8], ctx: &ParseContext<'_>) -> anyhow::Result<NewOrderSingle> {
    let msg = Message::decode(frame).map_err(|e| anyhow!("decode: {e}"))?;
    NewOrderSingle::parse(&msg, 2, ctx).map_err(|e| anyhow!("parse: {e}"))
}

/// A run from batch timings: each batch's mean ns per message, recorded once per message.
fn run_from_batches(
    name: &str,
    batch: u64,
    batches: impl IntoIterator<Item = u64>,
) -> anyhow::Result<Run> {
    let mut histogram = new_histogram()?;
    let mut total = 0u64;
    for ns in batches {
        total += ns;
        histogram
            .record_n((ns / batch.max(1)).max(1), batch)
            .map_err(|e| anyhow!("recording {name}: {e}"))?;
    }
    Ok(Run {
        name: name.to_owned(),
        histogram,
        elapsed: Duration::from_nanos(total),
    })
}

/// Warms `op` up, then times it in batches.
fn batched(
    name: &str,
    args: &Args,
    mut op: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Run> {
    let clock = Clock::new();
    for _ in 0..args.iterations / 10 {
        op()?;
    }
    let batch = args.batch.max(1);
    let mut batches = Vec::with_capacity(usize::try_from(args.iterations / batch)?);
    for _ in 0..args.iterations / batch {
        let start = clock.now();
        for _ in 0..batch {
            op()?;
        }
        batches.push(clock.now().saturating_sub(start).get());
    }
    run_from_batches(name, batch, batches)
}

/// Why the QuickFIX baseline cannot run here, if it cannot.
fn quickfix_flags() -> Result<Vec<String>, String> {
    if !Command::new("g++")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Err("g++ not found".to_owned());
    }
    match Command::new("pkg-config")
        .args(["--cflags", "--libs", "quickfix"])
        .output()
    {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()),
        Ok(_) => Err("pkg-config does not know quickfix".to_owned()),
        Err(_) => Err("pkg-config not found".to_owned()),
    }
}

/// Compiles the QuickFIX program into `dir` unless an up-to-date build is there.
fn build_quickfix(dir: &Path, flags: &[String]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let exe = dir.join("fix_codec");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(built), Some(written)) = (modified(&exe), modified(Path::new(QUICKFIX_SOURCE)))
        && built >= written
    {
        return Ok(exe);
    }
    println!("compiling {QUICKFIX_SOURCE} with g++ -std=c++14 -O2");
    let out = Command::new("g++")
        .args(["-std=c++14", "-O2", "-w", "-o"])
        .arg(&exe)
        .arg(QUICKFIX_SOURCE)
        .args(flags)
        .output()
        .context("running g++")?;
    ensure!(
        out.status.success(),
        "g++ failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(exe)
}

/// QuickFIX's decode and encode runs, after checking it did the same work as ours.
fn quickfix(args: &Args, exe: &Path, nos: &[u8], ours_report: &[u8]) -> anyhow::Result<[Run; 2]> {
    let input = args.build_dir.join("nos.fix");
    std::fs::write(&input, nos).with_context(|| format!("writing {}", input.display()))?;
    let out = Command::new(exe)
        .arg(&input)
        .arg(args.iterations.to_string())
        .arg(args.batch.max(1).to_string())
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    ensure!(
        out.status.success(),
        "{} failed: {}",
        exe.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .with_context(|| format!("no `{key}` line from QuickFIX"))
    };
    let decoded = line("nos ")?;
    let want = "ORD1|42|ACME|1|100|2|12.5|0|20251125-10:23:53.120";
    ensure!(
        decoded == want,
        "QuickFIX decoded {decoded:?}, expected {want:?}"
    );
    let theirs = soh(line("report ")?);
    let fields = |frame: &[u8]| -> anyhow::Result<Vec<(u32, Vec<u8>)>> {
        let msg = Message::decode(frame).map_err(|e| anyhow!("decoding a report: {e}"))?;
        let mut f: Vec<(u32, Vec<u8>)> = msg.fields().map(|(t, v)| (t, v.to_vec())).collect();
        f.sort();
        Ok(f)
    };
    let (a, b) = (fields(ours_report)?, fields(&theirs)?);
    if a != b {
        bail!(
            "the ExecutionReports differ:\n  tickwarp {}\n  QuickFIX {}",
            String::from_utf8_lossy(ours_report).replace('\x01', "|"),
            String::from_utf8_lossy(&theirs).replace('\x01', "|")
        );
    }
    let batches = |key: &str| -> anyhow::Result<(u64, Vec<u64>)> {
        let mut numbers = line(key)?.split_whitespace().map(str::parse::<u64>);
        let batch = numbers.next().context("no batch size")??;
        let times = numbers.collect::<Result<Vec<u64>, _>>()?;
        Ok((batch, times))
    };
    let (batch, decode) = batches("decode ")?;
    let decode = run_from_batches("QuickFIX NOS decode", batch, decode)?;
    let (batch, encode) = batches("encode ")?;
    let encode = run_from_batches("QuickFIX ER encode", batch, encode)?;
    Ok([decode, encode])
}

fn mean_ns(run: &Run) -> f64 {
    run.elapsed.as_nanos() as f64 / run.histogram.len().max(1) as f64
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let nos = nos_frame();
    let mut instruments = InstrumentTable::new();
    instruments.insert_str("ACME", InstrumentId(1))?;
    let ctx = ParseContext {
        session: SessionId(1),
        account: AccountId(42),
        instruments: &instruments,
    };
    let report = report()?;
    let parsed = decode(&nos, &ctx)?;
    ensure!(
        parsed.cl_ord_id.as_str() == "ORD1" && parsed.spec.qty == Qty(100),
        "{parsed:?}"
    );
    let mut buf = Vec::with_capacity(1024);
    encode(&mut buf, &report);
    let ours_report = buf.clone();

    println!(
        "fix_codec: {} messages per run in batches of {}, {} warm-up",
        args.iterations,
        args.batch,
        args.iterations / 10
    );
    let ours_decode = batched("tickwarp NOS decode", &args, || {
        black_box(decode(black_box(&nos), &ctx)?);
        Ok(())
    })?;
    let ours_encode = batched("tickwarp ER encode", &args, || {
        encode(&mut buf, black_box(&report));
        Ok(())
    })?;

    let baseline = match quickfix_flags() {
        Ok(flags) => {
            let exe = build_quickfix(&args.build_dir, &flags)?;
            Some(quickfix(&args, &exe, &nos, &ours_report)?)
        }
        Err(why) if std::env::var_os("CI").is_some() => {
            bail!("QuickFIX baseline unavailable ({why}); CI is set (install {PACKAGES})")
        }
        Err(why) => {
            println!("QuickFIX baseline skipped: {why} (install {PACKAGES})");
            None
        }
    };

    let mut runs = vec![ours_decode, ours_encode];
    runs.extend(baseline.into_iter().flatten());
    println!();
    print_table(
        "FIX codec, ns per message (batch means)",
        Unit::Nanos,
        &runs,
    )?;
    println!();
    for run in &runs {
        println!(
            "{:<22} mean {:>7.1} ns/msg  {:>12.0} msgs/s",
            run.name,
            mean_ns(run),
            run.rate()
        );
    }
    if let [ours_decode, ours_encode, qf_decode, qf_encode] = runs.as_slice() {
        println!();
        print_ratio(qf_decode, ours_decode)?;
        print_ratio(qf_encode, ours_encode)?;
        println!(
            "throughput tickwarp / QuickFIX: NOS decode {:.2}×, ER encode {:.2}×",
            ours_decode.rate() / qf_decode.rate().max(f64::MIN_POSITIVE),
            ours_encode.rate() / qf_encode.rate().max(f64::MIN_POSITIVE)
        );
        for (what, theirs, ours) in [
            (
                "QuickFIX / tickwarp NOS decode, p50",
                qf_decode,
                ours_decode,
            ),
            ("QuickFIX / tickwarp ER encode, p50", qf_encode, ours_encode),
        ] {
            let r = ratio(theirs.percentiles().p50, ours.percentiles().p50);
            print_target(what, r, Target::AtLeast(TARGET))?;
        }
    }
    write_hlog(&args.hlog, "tickwarp fix_codec ns per message", &runs)?;
    println!("\nwrote {}", args.hlog.display());
    Ok(())
}
