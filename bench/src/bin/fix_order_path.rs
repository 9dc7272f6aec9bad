//! NewOrderSingle → first ExecutionReport over FIX 4.4 on loopback: `tickwarp gateway`
//! (the release binary, one child process per fsync policy of its order journal) against
//! Debian's QuickFIX C++ `executor` example acceptor, in the same run (issue 11, item 7).
//!
//! Run: `cargo build --release && cargo build --release -p tickwarp-bench --bin
//! fix_order_path && target/release/fix_order_path [--rounds 5] [--orders 2000]`, or
//! `--quick` for a smoke test.
//!
//! The client is one thread driving every session over non-blocking sockets (mio, with
//! TCP_NODELAY; the acceptors set it too), so on a 2-core host it takes one core and the
//! acceptor the other. Each session logs on, then sends limit NewOrderSingles closed-loop:
//! a burst of 1 or 8 orders in one write, then it waits until each has its first
//! ExecutionReport (ExecType New from tickwarp, ExecType Trade from the executor, which
//! fills every order at once) before it sends the next burst. A sample is one order, from
//! just before its burst is encoded to the read that brought its first report; a
//! run's throughput is its orders over the wall time from the first send to the last
//! acknowledgement. Nothing is paced, so there is no coordinated omission to correct.
//!
//! Orders alternate buy at 101 and sell at 99, crossing the house liquidity tickwarp's
//! venue simulator is seeded with, so every order trades on both acceptors (same outcome,
//! a book that does not grow, positions that net out).
//!
//! Scenarios: 1 and 16 sessions, one order at a time and bursts of 8. Configurations:
//! tickwarp with `fsync = "never"`, `batched` (64 records / 500 µs) and `"every_record"`,
//! and the executor configured with the same sessions, the FIX 4.4 dictionary the interop
//! tests give it (`gateway/tests/quickfix/FIX44-gateway.xml`, validation on), a file
//! store, and its screen log of every message off (events only: tickwarp logs nothing per
//! message at its default level). Every (scenario, configuration) starts a fresh acceptor
//! with fresh stores in a temporary directory under `--dir` (on the disk to measure: the
//! benchmark prints its filesystem and warns for tmpfs), warms up, runs its timed orders,
//! is killed, its directory removed and the disk settled with `sync` (untimed) so the
//! next run pays for none of its write-back. Rounds interleave the configurations: round
//! r runs every scenario with never, batched, every_record, executor in turn, and first
//! measures one fsync on the same disk (4 KiB write + fdatasync to a growing file, as the
//! journal appends; the median of `--fsync-samples`).
//!
//! `--observed` adds, to every round, each policy again with issue 15's observability
//! on: `[metrics]` (the counters file and a `/metrics` listener, not scraped) and a
//! SQLite `[drop_copy]` whose thread tails the journal on the same 2 cores; it prints the
//! on/off p50 ratio per policy and scenario, paired per round.
//!
//! Prints per scenario the merged percentile table, the median and range over rounds of
//! p50, p99, p99.9, max and orders/s, the per-round ratios against the executor (median
//! and range), and the issue's targets judged on the medians; writes every merged
//! distribution to `--hlog`. Every wait is bounded (`--timeout-secs` without progress),
//! every child is killed when its guard drops, ports are free loopback ports. It asserts
//! nothing about timing: it reports.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use clap::Parser;
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use tempfile::TempDir;
use tickwarp_bench::report::{
    self, Percentiles, Run, Spread, Target, Unit, new_histogram, print_table, print_target,
    write_hlog,
};
use tickwarp_gateway::fix::MsgType;
use tickwarp_gateway::fix::codec::{Framing, Message, MessageWriter, parse_uint, scan_frame};
use tickwarp_gateway::fix::fields::tag;
use tickwarp_gateway::service::config::MAX_ORDERS as GATEWAY_MAX_ORDERS;
use tickwarp_runtime::clock::unix_now;
use tickwarp_runtime::{Clock, Nanos};

/// NewOrderSingle → first ExecutionReport: tickwarp gateway per fsync policy vs the
/// QuickFIX executor.
#[derive(Debug, Parser)]
struct Args {
    /// Rounds; each runs every scenario and configuration once, interleaved.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Timed orders per scenario, configuration and round (rounded up to whole bursts
    /// of every session).
    #[arg(long, default_value_t = 2_000)]
    orders: u64,
    /// Untimed orders before the timed ones, on the same sessions.
    #[arg(long, default_value_t = 200)]
    warm_up: u64,
    /// 4 KiB write + fdatasync samples per round for the fsync reference.
    #[arg(long, default_value_t = 200)]
    fsync_samples: u64,
    /// Smoke test: 2 rounds of 160 orders after 32, 20 fsync samples (overrides
    /// --rounds, --orders, --warm-up and --fsync-samples).
    #[arg(long)]
    quick: bool,
    /// Directory on the disk to measure; journals, stores and the fsync probe are
    /// created in temporary directories under it.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench/fix_order_path"))]
    dir: PathBuf,
    /// The `tickwarp` binary (build it with `cargo build --release`).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/tickwarp"))]
    tickwarp: PathBuf,
    /// Run the gateway with `--busy-spin` instead of its default backoff idle.
    #[arg(long)]
    gateway_busy_spin: bool,
    /// Give up when an acceptor makes no progress (a logon, an acknowledgement, being
    /// ready) for this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
    /// Also run each fsync policy with `[metrics]` (counters file and a `/metrics`
    /// listener) and a SQLite `[drop_copy]` on, in the same rounds, and print the
    /// on/off ratios (issue 15's overhead check).
    #[arg(long)]
    observed: bool,
    /// Where to write the merged distributions.
    #[arg(long, default_value = "target/bench/fix_order_path.hlog")]
    hlog: PathBuf,
}

/// The prebuilt QuickFIX example acceptor shipped by Debian's `libquickfix-doc`.
const EXECUTOR_GZ: &str = "/usr/share/doc/libquickfix-doc/examples/executor/C++/.libs/executor.gz";
/// The FIX 4.4 dictionary the QuickFIX peers of the interop tests use (Debian ships none).
const DICTIONARY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../gateway/tests/quickfix/FIX44-gateway.xml"
);
/// The acceptor's CompID in tickwarp's session table.
const TICKWARP_COMP_ID: &str = "TICKWARP";
/// The acceptor's CompID in the executor's settings.
const EXECUTOR_COMP_ID: &str = "EXECUTOR";
/// Most orders a gateway configuration may hold (its `max_orders` range).
const MAX_ORDERS: u64 = GATEWAY_MAX_ORDERS as u64;
/// Largest FIX body the client accepts.
const MAX_BODY: usize = 1 << 16;
/// Sleep between checks while a child starts.
const START_POLL: Duration = Duration::from_millis(10);
/// Longest a `sync` of the disk may take between runs before the benchmark goes on.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The timed target: tickwarp `never` p50 at most this share of the executor's.
const NEVER_P50_TARGET: f64 = 0.5;
/// The timed target: tickwarp `every_record` p50 at most one fsync plus this, ns.
const EVERY_RECORD_SLACK_NS: f64 = 30_000.0;
/// The throughput target with 16 sessions and bursts: at least this many times the
/// executor's.
const THROUGHPUT_TARGET: f64 = 5.0;
/// Issue 15's target: p50 with metrics and drop copy on at most this times off.
const OBSERVED_P50_TARGET: f64 = 1.05;

/// When tickwarp's order journal (and the session stores following it) syncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fsync {
    Never,
    Batched,
    EveryRecord,
}

impl Fsync {
    /// The `fsync` value of the gateway configuration.
    fn toml(self) -> &'static str {
        match self {
            Fsync::Never => "\"never\"",
            Fsync::Batched => "{ batched = { max_records = 64, max_delay_us = 500 } }",
            Fsync::EveryRecord => "\"every_record\"",
        }
    }
}

/// One acceptor configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Acceptor {
    Tickwarp(Fsync),
    /// Tickwarp with the counters file, a `/metrics` listener and a SQLite drop copy.
    Observed(Fsync),
    Executor,
}

/// The configurations of a round, in the order they run; the executor (the baseline)
/// is last.
const ACCEPTORS: [Acceptor; 4] = [
    Acceptor::Tickwarp(Fsync::Never),
    Acceptor::Tickwarp(Fsync::Batched),
    Acceptor::Tickwarp(Fsync::EveryRecord),
    Acceptor::Executor,
];
/// [`ACCEPTORS`] with each policy also observed (`--observed`): the first three and the
/// last in the same places, so [`TICKWARP_NEVER`], [`TICKWARP_EVERY_RECORD`] and the
/// executor's last place hold for both.
const ACCEPTORS_OBSERVED: [Acceptor; 7] = [
    Acceptor::Tickwarp(Fsync::Never),
    Acceptor::Tickwarp(Fsync::Batched),
    Acceptor::Tickwarp(Fsync::EveryRecord),
    Acceptor::Observed(Fsync::Never),
    Acceptor::Observed(Fsync::Batched),
    Acceptor::Observed(Fsync::EveryRecord),
    Acceptor::Executor,
];
/// The index of tickwarp `never` in both lists.
const TICKWARP_NEVER: usize = 0;
/// The index of tickwarp `every_record` in both lists.
const TICKWARP_EVERY_RECORD: usize = 2;

/// The configurations of a round for `args`.
fn acceptors(args: &Args) -> &'static [Acceptor] {
    if args.observed {
        &ACCEPTORS_OBSERVED
    } else {
        &ACCEPTORS
    }
}

impl Acceptor {
    fn label(self) -> &'static str {
        match self {
            Acceptor::Tickwarp(Fsync::Never) => "tickwarp never",
            Acceptor::Tickwarp(Fsync::Batched) => "tickwarp batched",
            Acceptor::Tickwarp(Fsync::EveryRecord) => "tickwarp every_record",
            Acceptor::Observed(Fsync::Never) => "never +metrics+dc",
            Acceptor::Observed(Fsync::Batched) => "batched +metrics+dc",
            Acceptor::Observed(Fsync::EveryRecord) => "every_record +metrics+dc",
            Acceptor::Executor => "quickfix executor",
        }
    }
}

/// Sessions and orders per burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Scenario {
    sessions: usize,
    burst: usize,
}

/// The scenarios of a round, in the order they run.
const SCENARIOS: [Scenario; 4] = [
    Scenario {
        sessions: 1,
        burst: 1,
    },
    Scenario {
        sessions: 1,
        burst: 8,
    },
    Scenario {
        sessions: 16,
        burst: 1,
    },
    Scenario {
        sessions: 16,
        burst: 8,
    },
];
/// The scenario of the latency targets: one session, one order at a time.
const LATENCY_SCENARIO: usize = 0;
/// The scenario of the throughput target: 16 sessions, bursts of 8.
const THROUGHPUT_SCENARIO: usize = 3;

impl Scenario {
    fn label(self) -> String {
        let sessions = if self.sessions == 1 {
            "1 session".to_owned()
        } else {
            format!("{} sessions", self.sessions)
        };
        if self.burst == 1 {
            format!("{sessions}, one order at a time")
        } else {
            format!("{sessions}, bursts of {}", self.burst)
        }
    }

    /// Bursts each session sends so that all of them send at least `orders`.
    fn bursts_per_session(self, orders: u64) -> u64 {
        let per_round = (self.sessions * self.burst) as u64;
        orders.div_ceil(per_round).max(1)
    }
}

/// A child process killed (and reaped) when this guard drops.
struct ChildGuard {
    child: Child,
    name: String,
    log: PathBuf,
}

impl ChildGuard {
    /// Starts `command` with its stdout and stderr going to `log`.
    fn spawn(name: &str, mut command: Command, log: &Path) -> anyhow::Result<ChildGuard> {
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(ChildGuard {
            child,
            name: name.to_owned(),
            log: log.to_owned(),
        })
    }

    /// The exit status, if the child has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Fails (with the end of the child's output) when the child has exited.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.exited() {
            None => Ok(()),
            Some(status) => bail!(
                "{} exited ({status}); its output ends:\n{}",
                self.name,
                self.output_tail()
            ),
        }
    }

    /// The last 2,000 characters the child printed.
    fn output_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.char_indices().rev().nth(2_000).map_or(0, |(i, _)| i);
        text.get(start..).unwrap_or_default().to_owned()
    }

    /// Waits for the child to exit by itself, at most `timeout`.
    fn wait(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Clock::new().now().saturating_add(timeout);
        loop {
            if let Some(status) = self.exited() {
                return Ok(status);
            }
            ensure!(
                Clock::new().now() < deadline,
                "{} did not finish within {timeout:?}",
                self.name
            );
            thread::sleep(START_POLL);
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A running acceptor and the directory holding its configuration, stores and log.
struct Server {
    /// Declared before `dir`: the child dies before its directory is removed.
    child: ChildGuard,
    addr: SocketAddr,
    comp_id: &'static str,
    dir: TempDir,
}

impl Server {
    /// Starts `tickwarp gateway` with `sessions` password-less sessions, `fsync` and
    /// room for `max_orders`, and waits until it prints its FIX address.
    fn tickwarp(
        args: &Args,
        fsync: Fsync,
        observed: bool,
        sessions: usize,
        max_orders: u64,
        timeout: Duration,
    ) -> anyhow::Result<Server> {
        let dir = tempfile::Builder::new()
            .prefix("tickwarp-")
            .tempdir_in(&args.dir)
            .with_context(|| format!("creating a directory in {}", args.dir.display()))?;
        let config = dir.path().join("gateway.toml");
        let journal = dir.path().join("journal");
        std::fs::write(
            &config,
            gateway_config(&journal, fsync, observed, sessions, max_orders),
        )
        .with_context(|| format!("writing {}", config.display()))?;
        let mut command = Command::new(&args.tickwarp);
        command.arg("gateway").arg("--config").arg(&config);
        if args.gateway_busy_spin {
            command.arg("--busy-spin");
        }
        let log = dir.path().join("gateway.log");
        let mut child = ChildGuard::spawn("tickwarp gateway", command, &log)?;
        let deadline = Clock::new().now().saturating_add(timeout);
        let addr = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(addr) = listen_addr(&text) {
                break addr?;
            }
            child.check_alive()?;
            ensure!(
                Clock::new().now() < deadline,
                "tickwarp gateway printed no FIX address within {timeout:?}; its output:\n{}",
                child.output_tail()
            );
            thread::sleep(START_POLL);
        };
        Ok(Server {
            child,
            addr,
            comp_id: TICKWARP_COMP_ID,
            dir,
        })
    }

    /// Starts the executor with `sessions` sessions on a free loopback port.
    fn executor(args: &Args, exe: &Path, sessions: usize) -> anyhow::Result<Server> {
        let dir = tempfile::Builder::new()
            .prefix("executor-")
            .tempdir_in(&args.dir)
            .with_context(|| format!("creating a directory in {}", args.dir.display()))?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("picking a free loopback port")?
            .port();
        let settings = dir.path().join("executor.cfg");
        std::fs::write(
            &settings,
            executor_settings(port, &dir.path().join("store"), sessions),
        )
        .with_context(|| format!("writing {}", settings.display()))?;
        let mut command = Command::new(exe);
        command.arg(&settings);
        let log = dir.path().join("executor.log");
        let child = ChildGuard::spawn("QuickFIX executor", command, &log)?;
        Ok(Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            comp_id: EXECUTOR_COMP_ID,
            dir,
        })
    }

    /// Kills the acceptor, removes its directory and settles the disk.
    fn stop(self, timeout: Duration) -> anyhow::Result<()> {
        let Server { child, dir, .. } = self;
        drop(child);
        let path = dir.path().to_owned();
        dir.close()
            .with_context(|| format!("removing {}", path.display()))?;
        settle(path.parent().unwrap_or(Path::new(".")), timeout)
    }
}

/// `FIX listening on ADDR` from the gateway's start-up lines, if printed yet.
fn listen_addr(text: &str) -> Option<anyhow::Result<SocketAddr>> {
    const MARK: &str = "FIX listening on ";
    let line = text.lines().find(|l| l.contains(MARK))?;
    let addr = line.split(MARK).nth(1)?.trim();
    Some(
        addr.parse()
            .with_context(|| format!("the gateway printed {line:?}")),
    )
}

/// Runs `sync` so no write-back of one run lands in the next (at most `timeout`); its
/// output goes to a file in `dir`.
fn settle(dir: &Path, timeout: Duration) -> anyhow::Result<()> {
    let log = dir.join("sync.log");
    let mut sync = ChildGuard::spawn("sync", Command::new("sync"), &log)?;
    let status = sync.wait(timeout.max(SETTLE_TIMEOUT));
    let _ = std::fs::remove_file(&log);
    let status = status?;
    ensure!(status.success(), "sync failed: {status}");
    Ok(())
}

/// The client CompID of session `s` (0-based).
fn client_comp_id(s: usize) -> String {
    format!("C{:02}", s + 1)
}

/// The gateway configuration: loopback on a free port, room for `max_orders` orders
/// (the gateway allocates its order store for them at start), `sessions` password-less
/// sessions (each its own account), the journal under `journal` with `fsync`, limits
/// no benchmark order reaches, and house liquidity at 99 / 101; `observed` adds the
/// counters file, a `/metrics` listener on a free port and a SQLite drop copy beside
/// the configuration.
fn gateway_config(
    journal: &Path,
    fsync: Fsync,
    observed: bool,
    sessions: usize,
    max_orders: u64,
) -> String {
    let mut text = format!(
        r#"listen = "127.0.0.1:0"
max_orders = {max_orders}

[journal]
dir = "{journal}"
fsync = {fsync}

[risk]
max_order_qty = 1000
max_notional = "10000000"
collar_bps = 0
credit_limit = "1000000000"
max_position = 100000000
max_orders_per_day = 10000000

[risk.throttle]
msgs_per_sec = 1000000000
burst = 1000000000

[[instruments]]
symbol = "ACME"
id = 1

[[venue.liquidity]]
symbol = "ACME"
side = "buy"
price = "99"
qty = 1000000000

[[venue.liquidity]]
symbol = "ACME"
side = "sell"
price = "101"
qty = 1000000000
"#,
        journal = journal.display(),
        fsync = fsync.toml(),
    );
    for s in 0..sessions {
        let _ = write!(
            text,
            r#"
[[sessions]]
id = {id}
sender_comp_id = "{TICKWARP_COMP_ID}"
target_comp_id = "{client}"
allow_no_password = true
account = {account}
"#,
            id = s + 1,
            client = client_comp_id(s),
            account = 1001 + s,
        );
    }
    if observed {
        text.push_str(
            "\n[metrics]\nlisten = \"127.0.0.1:0\"\n\n[drop_copy]\nsqlite = \"dropcopy.sqlite\"\n",
        );
    }
    text
}

/// The executor's QuickFIX settings: `sessions` sessions on `port`, a file store under
/// `store`, dictionary validation on, the screen log showing events only.
fn executor_settings(port: u16, store: &Path, sessions: usize) -> String {
    let mut text = format!(
        "[DEFAULT]
ConnectionType=acceptor
StartTime=00:00:00
EndTime=00:00:00
SocketAcceptPort={port}
SocketReuseAddress=Y
SocketNodelay=Y
FileStorePath={store}
UseDataDictionary=Y
DataDictionary={DICTIONARY}
ValidateFieldsOutOfOrder=Y
ValidateFieldsHaveValues=Y
ValidateUserDefinedFields=Y
AllowUnknownMsgFields=N
CheckLatency=Y
MaxLatency=120
ScreenLogShowIncoming=N
ScreenLogShowOutgoing=N
ScreenLogShowEvents=Y
",
        store = store.display(),
    );
    for s in 0..sessions {
        let _ = write!(
            text,
            "
[SESSION]
BeginString=FIX.4.4
SenderCompID={EXECUTOR_COMP_ID}
TargetCompID={}
",
            client_comp_id(s)
        );
    }
    text
}

/// The executor binary, unpacked from `libquickfix-doc` into `dir`.
fn unpack_executor(dir: &Path) -> anyhow::Result<PathBuf> {
    ensure!(
        Path::new(EXECUTOR_GZ).exists(),
        "{EXECUTOR_GZ} not found: install Debian's libquickfix-doc (the baseline of this benchmark)"
    );
    ensure!(
        Path::new(DICTIONARY).exists(),
        "{DICTIONARY} not found (the executor's FIX 4.4 dictionary)"
    );
    let exe = dir.join("executor");
    let partial = dir.join(format!("executor.{}.partial", std::process::id()));
    let file = File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let status = Command::new("gzip")
        .args(["-dc", EXECUTOR_GZ])
        .stdout(file)
        .status()
        .context("running gzip")?;
    ensure!(status.success(), "gzip -dc {EXECUTOR_GZ} failed: {status}");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))?;
    }
    std::fs::rename(&partial, &exe).with_context(|| format!("creating {}", exe.display()))?;
    Ok(exe)
}

/// The mount holding `dir` as `TYPE on DEVICE at MOUNTPOINT` (from /proc/mounts).
fn filesystem_of(dir: &Path) -> anyhow::Result<(String, String)> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let mounts = std::fs::read_to_string("/proc/mounts").context("reading /proc/mounts")?;
    let mut best: Option<(usize, String, String)> = None;
    for line in mounts.lines() {
        let mut fields = line.split_whitespace();
        let (Some(device), Some(point), Some(kind)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let point = point.replace("\\040", " ");
        if dir.starts_with(&point) && best.as_ref().is_none_or(|(len, ..)| point.len() >= *len) {
            best = Some((
                point.len(),
                kind.to_owned(),
                format!("{kind} on {device} at {point}"),
            ));
        }
    }
    best.map(|(_, kind, text)| (kind, text))
        .ok_or_else(|| anyhow!("no mount holds {}", dir.display()))
}

/// One write of 4 KiB + fdatasync, `samples` times, appending to a new file in `dir`.
fn measure_fsync(dir: &Path, samples: u64) -> anyhow::Result<Run> {
    let probe = tempfile::Builder::new()
        .prefix("fsync-probe-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    let mut file = probe.as_file();
    let block = [0xA5u8; 4096];
    report::warm_up(5, |_| {
        file.write_all(&block)?;
        file.sync_data()?;
        Ok(())
    })?;
    let run = report::measure("write 4 KiB + fdatasync", samples, |_, _| {
        file.write_all(&block)?;
        file.sync_data()?;
        Ok(())
    })?;
    let path = probe.path().to_owned();
    probe
        .close()
        .with_context(|| format!("removing {}", path.display()))?;
    settle(dir, SETTLE_TIMEOUT)?;
    Ok(run)
}

/// One FIX session of the client over a non-blocking socket.
struct Session {
    stream: TcpStream,
    sender: String,
    target: &'static str,
    next_seq: u64,
    rx: Vec<u8>,
    tx: Vec<u8>,
    tx_at: usize,
    /// Orders sent and not yet acknowledged: (order number, burst start).
    outstanding: Vec<(u64, Nanos)>,
    bursts_left: u64,
    /// Orders per burst.
    burst: usize,
    /// Number of the next order (its ClOrdID is `N<number>`).
    next_order: u64,
    /// When the last acknowledgement arrived.
    last_ack: Nanos,
    logged_on: bool,
}

impl Session {
    /// Appends one message with the standard header to the send buffer.
    fn queue(&mut self, msg_type: MsgType, body: impl FnOnce(&mut MessageWriter<'_>)) {
        let mut w = MessageWriter::begin(&mut self.tx, msg_type);
        w.uint(tag::MSG_SEQ_NUM, self.next_seq)
            .str(tag::SENDER_COMP_ID, &self.sender)
            .timestamp(tag::SENDING_TIME, unix_now())
            .str(tag::TARGET_COMP_ID, self.target);
        body(&mut w);
        let _ = w.finish();
        self.next_seq += 1;
    }

    /// Writes what the socket takes of the send buffer.
    fn flush(&mut self) -> anyhow::Result<()> {
        while self.tx_at < self.tx.len() {
            let pending = self.tx.get(self.tx_at..).unwrap_or_default();
            match self.stream.write(pending) {
                Ok(0) => bail!("{}: the acceptor closed the connection", self.sender),
                Ok(n) => self.tx_at += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e).with_context(|| format!("{}: write", self.sender)),
            }
        }
        self.tx.clear();
        self.tx_at = 0;
        Ok(())
    }

    /// Sends the next burst of orders, stamped `at`.
    fn send_burst(&mut self, at: Nanos) -> anyhow::Result<()> {
        let wall = unix_now();
        for _ in 0..self.burst {
            let n = self.next_order;
            self.next_order += 1;
            let (side, price) = if n % 2 == 0 {
                (b'1', "101")
            } else {
                (b'2', "99")
            };
            let mut cl = [0u8; 24];
            let cl = cl_ord_id(&mut cl, n);
            self.queue(MsgType::NEW_ORDER_SINGLE, |w| {
                w.bytes(tag::CL_ORD_ID, cl)
                    .str(tag::SYMBOL, "ACME")
                    .byte(tag::SIDE, side)
                    .timestamp(tag::TRANSACT_TIME, wall)
                    .uint(tag::ORDER_QTY, 1)
                    .byte(tag::ORD_TYPE, b'2')
                    .str(tag::PRICE, price)
                    .byte(tag::TIME_IN_FORCE, b'0');
            });
            self.outstanding.push((n, at));
        }
        self.bursts_left = self.bursts_left.saturating_sub(1);
        self.flush()
    }

    /// Handles one frame that arrived at `at`; returns whether it was progress (a
    /// Logon or an acknowledgement).
    fn handle(
        &mut self,
        frame: &[u8],
        at: Nanos,
        histogram: &mut Option<Histogram<u64>>,
    ) -> anyhow::Result<bool> {
        let msg = Message::decode(frame)
            .map_err(|e| anyhow!("{}: undecodable frame {}: {e:?}", self.sender, shown(frame)))?;
        match msg.msg_type() {
            MsgType::EXECUTION_REPORT => self.execution_report(&msg, at, histogram),
            MsgType::LOGON => {
                self.logged_on = true;
                Ok(true)
            }
            MsgType::HEARTBEAT => Ok(false),
            MsgType::TEST_REQUEST => {
                let id = msg.get(tag::TEST_REQ_ID).unwrap_or_default().to_owned();
                self.queue(MsgType::HEARTBEAT, |w| {
                    w.bytes(tag::TEST_REQ_ID, &id);
                });
                self.flush()?;
                Ok(false)
            }
            _ => bail!(
                "{}: unexpected message from the acceptor: {}",
                self.sender,
                shown(frame)
            ),
        }
    }

    /// An ExecutionReport: the acknowledgement of an outstanding order (recorded), or a
    /// later report of an order already acknowledged (its fill).
    fn execution_report(
        &mut self,
        msg: &Message<'_>,
        at: Nanos,
        histogram: &mut Option<Histogram<u64>>,
    ) -> anyhow::Result<bool> {
        let frame = msg.frame();
        let n = msg
            .get(tag::CL_ORD_ID)
            .and_then(|cl| cl.strip_prefix(b"N"))
            .and_then(parse_uint)
            .with_context(|| {
                format!(
                    "{}: report without our ClOrdID: {}",
                    self.sender,
                    shown(frame)
                )
            })?;
        ensure!(
            n < self.next_order,
            "{}: report for an order never sent: {}",
            self.sender,
            shown(frame)
        );
        let Some(i) = self.outstanding.iter().position(|(id, _)| *id == n) else {
            return Ok(false);
        };
        let exec_type = msg.get(tag::EXEC_TYPE).unwrap_or_default();
        ensure!(
            matches!(exec_type, b"0" | b"F"),
            "{}: order N{n} answered first with ExecType {} (not New or Trade): {}",
            self.sender,
            String::from_utf8_lossy(exec_type),
            shown(frame)
        );
        let (_, sent) = self.outstanding.swap_remove(i);
        self.last_ack = at;
        if let Some(h) = histogram {
            h.saturating_record(at.saturating_sub(sent).get());
        }
        Ok(true)
    }
}

/// `N<n>` written into `buf`.
fn cl_ord_id(buf: &mut [u8; 24], n: u64) -> &[u8] {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut v = n;
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || at == 0 {
            break;
        }
    }
    let len = digits.len() - at + 1;
    buf[0] = b'N';
    if let (Some(dst), Some(src)) = (buf.get_mut(1..len), digits.get(at..)) {
        dst.copy_from_slice(src);
    }
    buf.get(..len).unwrap_or_default()
}

/// A frame with `|` for SOH, for error messages.
fn shown(frame: &[u8]) -> String {
    String::from_utf8_lossy(frame).replace('\x01', "|")
}

/// The client: every session of one scenario on this thread, driven by one poll.
struct Client {
    poll: Poll,
    events: Events,
    sessions: Vec<Session>,
    clock: Clock,
    timeout: Duration,
    buf: Vec<u8>,
}

impl Client {
    /// Connects `sessions` sessions to `server` (retrying while it starts) and logs
    /// them on.
    fn log_on(server: &mut Server, sessions: usize, timeout: Duration) -> anyhow::Result<Client> {
        let poll = Poll::new().context("creating the poll")?;
        let clock = Clock::new();
        let mut client = Client {
            poll,
            events: Events::with_capacity(64),
            sessions: Vec::with_capacity(sessions),
            clock,
            timeout,
            buf: vec![0; 64 << 10],
        };
        for s in 0..sessions {
            let stream = connect(server, timeout)?;
            stream.set_nodelay(true)?;
            stream.set_nonblocking(true)?;
            let mut stream = TcpStream::from_std(stream);
            client
                .poll
                .registry()
                .register(
                    &mut stream,
                    Token(s),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .context("registering a socket")?;
            let mut session = Session {
                stream,
                sender: client_comp_id(s),
                target: server.comp_id,
                next_seq: 1,
                rx: Vec::with_capacity(64 << 10),
                tx: Vec::with_capacity(16 << 10),
                tx_at: 0,
                outstanding: Vec::with_capacity(8),
                bursts_left: 0,
                burst: 1,
                next_order: 0,
                last_ack: Nanos::ZERO,
                logged_on: false,
            };
            session.queue(MsgType::LOGON, |w| {
                w.uint(tag::ENCRYPT_METHOD, 0).uint(tag::HEART_BT_INT, 30);
            });
            session.flush()?;
            client.sessions.push(session);
        }
        let mut none = None;
        client.drive(server, &mut none, |c| {
            c.sessions.iter().all(|s| s.logged_on)
        })?;
        Ok(client)
    }

    /// Runs `bursts` bursts of `burst` orders on every session; returns the wall time
    /// from the first send to the last acknowledgement.
    fn orders(
        &mut self,
        server: &mut Server,
        bursts: u64,
        burst: usize,
        histogram: &mut Option<Histogram<u64>>,
    ) -> anyhow::Result<Duration> {
        let start = self.clock.now();
        for s in &mut self.sessions {
            s.bursts_left = bursts;
            s.burst = burst;
            s.send_burst(self.clock.now())?;
        }
        self.drive(server, histogram, |c| {
            c.sessions
                .iter()
                .all(|s| s.outstanding.is_empty() && s.bursts_left == 0)
        })?;
        let last = self
            .sessions
            .iter()
            .map(|s| s.last_ack)
            .max()
            .unwrap_or(start);
        Ok(last.saturating_sub(start).as_duration())
    }

    /// Polls and handles what arrives until `done`; a session whose burst is fully
    /// acknowledged sends its next one. Fails after `timeout` without progress.
    fn drive(
        &mut self,
        server: &mut Server,
        histogram: &mut Option<Histogram<u64>>,
        done: impl Fn(&Client) -> bool,
    ) -> anyhow::Result<()> {
        let mut deadline = self.clock.now().saturating_add(self.timeout);
        while !done(self) {
            let now = self.clock.now();
            if now >= deadline {
                server.child.check_alive()?;
                bail!(
                    "no progress from the acceptor within {:?}: {}",
                    self.timeout,
                    self.waiting()
                );
            }
            let wait = deadline.saturating_sub(now).as_duration();
            match self.poll.poll(&mut self.events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("poll"),
            }
            let Client {
                events,
                sessions,
                buf,
                clock,
                ..
            } = self;
            for event in events.iter() {
                let Some(session) = sessions.get_mut(event.token().0) else {
                    continue;
                };
                if pump(session, buf, *clock, histogram)? {
                    deadline = clock.now().saturating_add(self.timeout);
                }
            }
        }
        Ok(())
    }

    /// What each session still waits for.
    fn waiting(&self) -> String {
        self.sessions
            .iter()
            .map(|s| {
                format!(
                    "{}: {} (logged on: {}, {} orders unacknowledged, {} bursts to send)",
                    s.sender,
                    s.target,
                    s.logged_on,
                    s.outstanding.len(),
                    s.bursts_left
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Connects to `server`, retrying while it is not listening yet.
fn connect(server: &mut Server, timeout: Duration) -> anyhow::Result<std::net::TcpStream> {
    let deadline = Clock::new().now().saturating_add(timeout);
    loop {
        match std::net::TcpStream::connect_timeout(&server.addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                server.child.check_alive()?;
                ensure!(
                    Clock::new().now() < deadline,
                    "{} not accepting on {} within {timeout:?}: {e}",
                    server.child.name,
                    server.addr
                );
                thread::sleep(START_POLL);
            }
        }
    }
}

/// Reads `session`'s socket dry, handles every complete frame, flushes, and sends the
/// next burst when the last one is acknowledged; returns whether anything progressed.
fn pump(
    session: &mut Session,
    buf: &mut [u8],
    clock: Clock,
    histogram: &mut Option<Histogram<u64>>,
) -> anyhow::Result<bool> {
    let mut progress = false;
    loop {
        match session.stream.read(buf) {
            Ok(0) => bail!(
                "{}: the acceptor closed the connection{}",
                session.sender,
                if session.rx.is_empty() {
                    String::new()
                } else {
                    format!(" after {}", shown(&session.rx))
                }
            ),
            Ok(n) => {
                let at = clock.now();
                session
                    .rx
                    .extend_from_slice(buf.get(..n).unwrap_or_default());
                progress |= frames(session, at, histogram)?;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).with_context(|| format!("{}: read", session.sender)),
        }
    }
    session.flush()?;
    if progress && session.outstanding.is_empty() && session.bursts_left > 0 {
        session.send_burst(clock.now())?;
    }
    Ok(progress)
}

/// Handles the complete frames at the start of `session.rx` (arrived at `at`).
fn frames(
    session: &mut Session,
    at: Nanos,
    histogram: &mut Option<Histogram<u64>>,
) -> anyhow::Result<bool> {
    let rx = std::mem::take(&mut session.rx);
    let mut used = 0;
    let mut progress = false;
    let result = loop {
        let rest = rx.get(used..).unwrap_or_default();
        match scan_frame(rest, MAX_BODY) {
            Framing::Complete(len) => {
                let frame = rest.get(..len).unwrap_or_default();
                match session.handle(frame, at, histogram) {
                    Ok(p) => progress |= p,
                    Err(e) => break Err(e),
                }
                used += len;
            }
            Framing::Incomplete => break Ok(progress),
            Framing::Garbled { reason, .. } => {
                break Err(anyhow!(
                    "{}: garbled frame from the acceptor ({reason:?}): {}",
                    session.sender,
                    shown(rest)
                ));
            }
        }
    };
    session.rx = rx;
    session.rx.drain(..used);
    result
}

/// The effective run sizes (after `--quick`).
#[derive(Clone, Copy, Debug)]
struct Sizes {
    rounds: u32,
    orders: u64,
    warm_up: u64,
    fsync_samples: u64,
}

impl Sizes {
    fn of(args: &Args) -> Sizes {
        if args.quick {
            Sizes {
                rounds: 2,
                orders: 160,
                warm_up: 32,
                fsync_samples: 20,
            }
        } else {
            Sizes {
                rounds: args.rounds,
                orders: args.orders,
                warm_up: args.warm_up,
                fsync_samples: args.fsync_samples,
            }
        }
    }
}

/// One (scenario, configuration) run: a fresh acceptor, logon, warm-up, timed orders.
fn run_one(
    args: &Args,
    executor: &Path,
    acceptor: Acceptor,
    scenario: Scenario,
    sizes: Sizes,
) -> anyhow::Result<Run> {
    let timeout = Duration::from_secs(args.timeout_secs);
    // Every order of the run, with room to spare (the gateway keeps done orders too).
    let per_burst = (scenario.sessions * scenario.burst) as u64;
    let max_orders = (scenario.bursts_per_session(sizes.warm_up)
        + scenario.bursts_per_session(sizes.orders))
    .saturating_mul(per_burst)
    .saturating_mul(2)
    .clamp(10_000, MAX_ORDERS);
    let mut server = match acceptor {
        Acceptor::Tickwarp(fsync) => {
            Server::tickwarp(args, fsync, false, scenario.sessions, max_orders, timeout)?
        }
        Acceptor::Observed(fsync) => {
            Server::tickwarp(args, fsync, true, scenario.sessions, max_orders, timeout)?
        }
        Acceptor::Executor => Server::executor(args, executor, scenario.sessions)?,
    };
    let result = (|| -> anyhow::Result<Run> {
        let mut client = Client::log_on(&mut server, scenario.sessions, timeout)?;
        if sizes.warm_up > 0 {
            let bursts = scenario.bursts_per_session(sizes.warm_up);
            client.orders(&mut server, bursts, scenario.burst, &mut None)?;
        }
        let mut histogram = Some(new_histogram()?);
        let bursts = scenario.bursts_per_session(sizes.orders);
        let elapsed = client.orders(&mut server, bursts, scenario.burst, &mut histogram)?;
        Ok(Run {
            name: acceptor.label().to_owned(),
            histogram: histogram.context("the histogram went missing")?,
            elapsed,
        })
    })();
    let result = result.with_context(|| {
        format!(
            "{} with {} (its directory {}); its output ends:\n{}",
            acceptor.label(),
            scenario.label(),
            server.dir.path().display(),
            server.child.output_tail()
        )
    });
    server.stop(timeout)?;
    result
}

/// The per-round metrics of a run: p50, p99, p99.9, max (µs) and orders/s.
fn metrics(run: &Run) -> [f64; 5] {
    let p = Percentiles::of(&run.histogram);
    let us = |ns: u64| ns as f64 / 1_000.0;
    [us(p.p50), us(p.p99), us(p.p99_9), us(p.max), run.rate()]
}

/// Labels of [`metrics`].
const METRICS: [&str; 5] = ["p50 µs", "p99 µs", "p99.9 µs", "max µs", "orders/s"];

/// Prints one scenario: merged table, per-round spreads, ratios to the executor.
fn print_scenario(
    scenario: Scenario,
    acceptors: &[Acceptor],
    per_acceptor: &[Vec<Run>],
) -> anyhow::Result<Vec<Run>> {
    let executor = acceptors.len() - 1;
    let mut merged = Vec::new();
    for rounds in per_acceptor {
        let mut all = rounds.first().context("no rounds")?.clone();
        for r in rounds.iter().skip(1) {
            all.merge(r)?;
        }
        merged.push(all);
    }
    let orders = merged.first().map_or(0, |r| {
        r.histogram.len() / per_acceptor[0].len().max(1) as u64
    });
    println!();
    println!("== {}: {orders} timed orders per run ==", scenario.label());
    print_table(
        &format!("all {} rounds merged", per_acceptor[0].len()),
        Unit::Micros,
        &merged,
    )?;
    println!("per round, median [min–max]:");
    print!("{:<24}", "run");
    for label in METRICS {
        print!(" {label:>26}");
    }
    println!();
    for (acceptor, rounds) in acceptors.iter().zip(per_acceptor) {
        print!("{:<24}", acceptor.label());
        for m in 0..METRICS.len() {
            let spread = Spread::of(rounds.iter().map(|r| metrics(r)[m]));
            let decimals = if m == 4 { 0 } else { 1 };
            print!(" {:>26}", spread.show(decimals, ""));
        }
        println!();
    }
    println!(
        "ratio to the {} in the same round, median [min–max]:",
        acceptors[executor].label()
    );
    for (acceptor, rounds) in acceptors.iter().zip(per_acceptor).take(executor) {
        print!("{:<24}", acceptor.label());
        for (m, label) in METRICS.iter().enumerate() {
            let spread = Spread::of(ratios(rounds, &per_acceptor[executor], m));
            print!(
                " {:>26}",
                format!("{} {}", label.trim_end_matches(" µs"), spread.show(2, "×"))
            );
        }
        println!();
    }
    Ok(merged)
}

/// Metric `m` of each round of `runs` divided by the same round's `baseline`.
fn ratios<'a>(runs: &'a [Run], baseline: &'a [Run], m: usize) -> impl Iterator<Item = f64> + 'a {
    runs.iter().zip(baseline).filter_map(move |(a, b)| {
        let (x, y) = (metrics(a)[m], metrics(b)[m]);
        (y > 0.0).then(|| x / y)
    })
}

/// The issue's targets, judged on medians over rounds.
fn print_targets(
    acceptors: &[Acceptor],
    runs: &[Vec<Vec<Run>>],
    fsync: &[Run],
) -> anyhow::Result<()> {
    let executor = acceptors.len() - 1;
    let latency = &runs[LATENCY_SCENARIO];
    let throughput = &runs[THROUGHPUT_SCENARIO];
    let label = |i: usize| SCENARIOS[i].label();
    let fsync_p50 = Spread::of(fsync.iter().map(|r| metrics(r)[0]));
    println!();
    println!("targets of issue 11, judged on the medians over rounds (ratios paired per round):");
    let never = Spread::of(ratios(&latency[TICKWARP_NEVER], &latency[executor], 0));
    print_target(
        &format!(
            "tickwarp never p50 / executor p50 ({})",
            label(LATENCY_SCENARIO)
        ),
        Some(never.median),
        Target::AtMost(NEVER_P50_TARGET),
    )?;
    let every = Spread::of(latency[TICKWARP_EVERY_RECORD].iter().map(|r| metrics(r)[0]));
    let bound = fsync_p50.median + EVERY_RECORD_SLACK_NS / 1_000.0;
    println!(
        "target: tickwarp every_record p50 ({}) ≤ one fsync + 30 µs = {:.1} + 30 = {bound:.1} µs, measured {:.1} µs — {}",
        label(LATENCY_SCENARIO),
        fsync_p50.median,
        every.median,
        if every.median <= bound {
            "met"
        } else {
            "missed"
        }
    );
    for (i, acceptor) in acceptors.iter().enumerate().take(executor).rev() {
        let ratio = Spread::of(ratios(&throughput[i], &throughput[executor], 4));
        print_target(
            &format!(
                "{} orders/s / executor orders/s ({})",
                acceptor.label(),
                label(THROUGHPUT_SCENARIO)
            ),
            Some(ratio.median),
            Target::AtLeast(THROUGHPUT_TARGET),
        )?;
    }
    print_observed_targets(acceptors, runs)
}

/// Issue 15's overhead check: each observed configuration's p50 over the same policy's
/// plain p50 in the same round, per scenario (nothing without `--observed`).
fn print_observed_targets(acceptors: &[Acceptor], runs: &[Vec<Vec<Run>>]) -> anyhow::Result<()> {
    let pairs: Vec<(usize, usize)> = acceptors
        .iter()
        .enumerate()
        .filter_map(|(o, a)| match a {
            Acceptor::Observed(fsync) => acceptors
                .iter()
                .position(|p| *p == Acceptor::Tickwarp(*fsync))
                .map(|p| (o, p)),
            _ => None,
        })
        .collect();
    if pairs.is_empty() {
        return Ok(());
    }
    println!();
    println!(
        "targets of issue 15: p50 with metrics and drop copy on / off, the same policy in the \
         same round, median [min–max] over rounds:"
    );
    for (s, scenario) in SCENARIOS.iter().enumerate() {
        for &(o, p) in &pairs {
            let ratio = Spread::of(ratios(&runs[s][o], &runs[s][p], 0));
            print_target(
                &format!(
                    "{} p50 / {} p50 ({}), spread {}",
                    acceptors[o].label(),
                    acceptors[p].label(),
                    scenario.label(),
                    ratio.show(3, "×")
                ),
                Some(ratio.median),
                Target::AtMost(OBSERVED_P50_TARGET),
            )?;
        }
    }
    Ok(())
}

/// The system's load average line, for the header.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sizes = Sizes::of(&args);
    ensure!(sizes.rounds >= 1, "--rounds must be at least 1");
    ensure!(sizes.orders >= 1, "--orders must be at least 1");
    ensure!(
        sizes.fsync_samples >= 1,
        "--fsync-samples must be at least 1"
    );
    ensure!(
        args.tickwarp.exists(),
        "{} not found: build it with `cargo build --release` (or pass --tickwarp)",
        args.tickwarp.display()
    );
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let tickwarp = args.tickwarp.canonicalize()?;
    let executor = unpack_executor(&args.dir)?;
    let (fs_kind, fs) = filesystem_of(&args.dir)?;

    println!(
        "fix_order_path: NewOrderSingle → first ExecutionReport, FIX 4.4 over loopback TCP \
         (TCP_NODELAY on both sides), one client thread driving every session"
    );
    println!(
        "{} rounds; per run {} timed orders (at least) after {} warm-up, a fresh acceptor per run; \
         rounds interleave {}",
        sizes.rounds,
        sizes.orders,
        sizes.warm_up,
        acceptors(&args)
            .iter()
            .map(|a| a.label())
            .collect::<Vec<_>>()
            .join(" / ")
    );
    println!(
        "journals, stores and fsync probe under {} ({fs})",
        args.dir.canonicalize()?.display()
    );
    if fs_kind == "tmpfs" || fs_kind == "ramfs" {
        println!("WARNING: {fs_kind} is memory, not a disk: fsync costs nothing there");
    }
    println!(
        "tickwarp: {} gateway, idle {}, batched = 64 records / 500 µs; executor: {EXECUTOR_GZ} \
         (QuickFIX SocketAcceptor, FileStore, dictionary validation on, screen log events only)",
        tickwarp.display(),
        if args.gateway_busy_spin {
            "busy-spin"
        } else {
            "backoff (the default)"
        }
    );
    println!(
        "host: {} cores online, load average {} at start",
        thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );

    // runs[scenario][acceptor][round]
    let acceptors = acceptors(&args);
    let mut runs: Vec<Vec<Vec<Run>>> = vec![vec![Vec::new(); acceptors.len()]; SCENARIOS.len()];
    let mut fsync = Vec::new();
    for round in 0..sizes.rounds {
        let f = measure_fsync(&args.dir, sizes.fsync_samples)?;
        eprintln!(
            "round {}/{}: fsync p50 {:.1} µs",
            round + 1,
            sizes.rounds,
            metrics(&f)[0]
        );
        fsync.push(f);
        for (s, scenario) in SCENARIOS.iter().enumerate() {
            for (a, acceptor) in acceptors.iter().enumerate() {
                let run = run_one(&args, &executor, *acceptor, *scenario, sizes)?;
                let m = metrics(&run);
                eprintln!(
                    "round {}/{}: {}: {}: p50 {:.1} µs, p99 {:.1} µs, {:.0} orders/s",
                    round + 1,
                    sizes.rounds,
                    scenario.label(),
                    acceptor.label(),
                    m[0],
                    m[1],
                    m[4]
                );
                runs[s][a].push(run);
            }
        }
    }

    let mut hlog_runs = Vec::new();
    for (scenario, per_acceptor) in SCENARIOS.iter().zip(&runs) {
        for mut run in print_scenario(*scenario, acceptors, per_acceptor)? {
            run.name = format!("{}: {}", scenario.label(), run.name);
            hlog_runs.push(run);
        }
    }
    let fsync_spread = Spread::of(fsync.iter().map(|r| metrics(r)[0]));
    println!();
    println!(
        "fsync reference: write 4 KiB + fdatasync (appending) on {fs}: p50 of {} per round, \
         median [min–max] over rounds: {} µs",
        sizes.fsync_samples,
        fsync_spread.show(1, "")
    );
    print_targets(acceptors, &runs, &fsync)?;
    if sizes.rounds < 5 {
        println!("note: fewer than 5 rounds: a smoke test, not a measurement");
    }
    let mut all_fsync = fsync.first().context("no fsync rounds")?.clone();
    for f in fsync.iter().skip(1) {
        all_fsync.merge(f)?;
    }
    hlog_runs.push(all_fsync);
    write_hlog(
        &args.hlog,
        "fix_order_path: NewOrderSingle to first ExecutionReport, ns",
        &hlog_runs,
    )?;
    println!("wrote {}", args.hlog.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwarp_gateway::service::GatewayConfig;

    #[test]
    fn the_generated_gateway_config_loads_for_every_policy() {
        let dir = tempfile::tempdir().unwrap();
        for fsync in [Fsync::Never, Fsync::Batched, Fsync::EveryRecord] {
            for observed in [false, true] {
                let text = gateway_config(&dir.path().join("journal"), fsync, observed, 16, 10_000);
                let config = GatewayConfig::from_toml(&text, dir.path())
                    .unwrap_or_else(|e| panic!("{fsync:?}, observed {observed}: {e}\n{text}"));
                assert_eq!(config.sessions.len(), 16);
                assert_eq!(config.sessions[15].target_comp_id, "C16");
                assert_eq!(config.metrics.is_some(), observed);
                assert_eq!(config.drop_copy.sqlite.is_some(), observed);
            }
        }
    }

    #[test]
    fn executor_settings_have_a_session_per_client() {
        let text = executor_settings(7001, Path::new("/s"), 3);
        assert_eq!(text.matches("[SESSION]").count(), 3);
        assert!(text.contains("SocketAcceptPort=7001"));
        assert!(text.contains("TargetCompID=C03"));
        assert!(text.contains("ScreenLogShowIncoming=N"));
    }

    #[test]
    fn cl_ord_ids_are_n_and_the_number() {
        let mut buf = [0u8; 24];
        assert_eq!(cl_ord_id(&mut buf, 0), b"N0");
        assert_eq!(cl_ord_id(&mut buf, 1234), b"N1234");
        assert_eq!(
            cl_ord_id(&mut buf, u64::MAX),
            format!("N{}", u64::MAX).as_bytes()
        );
    }

    #[test]
    fn the_listen_line_gives_the_address() {
        assert!(listen_addr("tickwarp gateway: recovered 0 orders\n").is_none());
        let text = "x\ntickwarp gateway: FIX listening on 127.0.0.1:4321\n";
        assert_eq!(
            listen_addr(text).unwrap().unwrap(),
            "127.0.0.1:4321".parse::<SocketAddr>().unwrap()
        );
        assert!(listen_addr("FIX listening on nowhere\n").unwrap().is_err());
    }

    #[test]
    fn spreads_give_median_and_range() {
        let s = Spread::of([3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of([4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert_eq!(Spread::of([]).median, 0.0);
        assert_eq!(s.show(1, "×"), "2.0× [1.0–3.0]");
    }

    #[test]
    fn bursts_cover_the_orders() {
        let s = Scenario {
            sessions: 16,
            burst: 8,
        };
        assert_eq!(s.bursts_per_session(2_000), 16);
        assert_eq!(s.bursts_per_session(1), 1);
        let one = Scenario {
            sessions: 1,
            burst: 1,
        };
        assert_eq!(one.bursts_per_session(2_000), 2_000);
    }
}
