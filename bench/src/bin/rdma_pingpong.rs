//! What does the soft-iWARP stack cost against raw TCP on the same host: 64 B round
//! trips by SEND/RECV and by memory-polled RDMA WRITE, and 64 KiB streaming WRITEs?
//!
//! Run: `cargo run --release -p tickwarp-bench --bin rdma_pingpong [-- --pin]`
//!
//! Aeron's `Ping` shape: a pinger and a ponger thread (each pinned to its own core with
//! `--pin`) over 127.0.0.1, both busy-polling; the pinger sends a 64 B message carrying
//! a sequence number in its last 8 bytes, the ponger answers with the same number, and
//! the pinger records each round trip after an untimed warm-up. The loop is closed (the
//! next ping leaves when the pong arrived, no pacing), so there is no coordinated
//! omission to correct. The same run measures:
//!
//! - `soft SEND`: SEND/RECV, receives pre-posted and reposted as consumed, inline sends,
//!   each side busy-polling its CQ (which progresses its QP);
//! - `soft WRITE`: each side RDMA-WRITEs the message into the peer's registered inbox and
//!   busy-polls its own inbox's sequence word (`load_u64_acquire`) while driving its QP
//!   with `progress()`, as tickwarp's rings do; send completions are reaped outside the
//!   timed window so the send queue never fills;
//! - `tcp`: the baseline, non-blocking sockets with the soft stack's socket options
//!   (`TCP_NODELAY`, `SO_BUSY_POLL` with `--busy-poll-us`), busy-polled `read` until the
//!   64 bytes arrived;
//! - streaming: 64 KiB RDMA WRITEs back to back (`--stream-outstanding` in flight) against
//!   raw TCP writing the same bytes in the same 64 KiB chunks, timed from the first byte
//!   offered to the receiver seeing the last one.
//!
//! The ping-pongs run in `--rounds` rounds (tcp, SEND, WRITE, each on new connections
//! with its own warm-up) and the streams in `--stream-rounds` alternating rounds, so on
//! a shared host the benchmarks and their baseline see the same background load; the
//! rounds are merged before printing. Every wait is bounded by one deadline for the whole
//! run (`--timeout-secs`); a failing thread stops its peer. The latency runs go to an
//! `.hlog` (`--hlog`).

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, ScopedJoinHandle};
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use clap::{Parser, ValueEnum};
use core_affinity::CoreId;
use tickwarp_bench::report::{
    Run, Target, Throughput, Unit, new_histogram, print_ratio, print_table, print_target,
    print_throughput_ratio, print_throughput_table, ratio, round_share, warm_up, write_hlog,
};
use tickwarp_bench::spin::{Deadline, Idle, Spin, SpinError};
use tickwarp_bench::tcp::{self, TcpError};
use tickwarp_rdma::soft::lock_count;
use tickwarp_rdma::verbs::{
    Access, Backend, Completion, CompletionQueue, ConnectParams, Device, Listener, MemoryRegion,
    ProtectionDomain, QpInit, QueuePair, RecvWr, RemoteAddr, SendWr, WcOpcode, WcStatus,
};
use tickwarp_runtime::{Clock, Nanos};

/// Bytes of one ping or pong.
const MSG_LEN: usize = 64;
/// Where the sequence word sits in a message (its last 8 bytes, 8-aligned).
const SEQ_OFFSET: usize = MSG_LEN - 8;
/// Filler of the bytes before the sequence word.
const FILL: u8 = 0xA5;
/// Bytes per streamed message.
const CHUNK: usize = 64 << 10;
/// Receive buffer of the TCP stream reader: the soft driver's per-read buffer.
const TCP_READ_BUFFER: usize = 256 << 10;
/// Receives each SEND endpoint keeps posted.
const RQ_SLOTS: usize = 16;
/// Send-queue slots of a ping-pong QP.
const SQ_DEPTH: usize = 64;
/// Completion-queue slots (send and receive completions share one CQ per side).
const CQ_DEPTH: usize = 256;
/// Unreaped WRITE completions after which a WRITE endpoint reaps (well below SQ_DEPTH).
const REAP_AT: usize = 16;
/// Completions taken per CQ poll.
const POLL_BATCH: usize = 16;
/// Bound on connection setup.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// One benchmark to run alone (for profiling).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Only {
    /// 64 B SEND/RECV ping-pong over the soft stack.
    Send,
    /// 64 B memory-polled RDMA WRITE ping-pong over the soft stack.
    Write,
    /// 64 B raw TCP ping-pong.
    Tcp,
    /// 64 KiB streaming, soft RDMA WRITE and raw TCP.
    Stream,
}

/// Soft-iWARP against raw TCP: 64 B ping-pong latency and 64 KiB streaming throughput.
#[derive(Debug, Parser)]
struct Args {
    /// Timed round trips per ping-pong benchmark (split over the rounds).
    #[arg(long, default_value_t = 100_000)]
    iterations: u64,
    /// Untimed round trips on each new connection, before its timed round.
    #[arg(long, default_value_t = 5_000)]
    warmup: u64,
    /// Rounds: each runs every selected ping-pong once on new connections, so the
    /// benchmarks and their baseline see the same background load.
    #[arg(long, default_value_t = 5)]
    rounds: u64,
    /// Pin the pinger (writer) and the ponger (reader) to the first two cores.
    #[arg(long)]
    pin: bool,
    /// `SO_BUSY_POLL` in microseconds on every socket, soft and TCP (0 = off).
    #[arg(long, default_value_t = 0)]
    busy_poll_us: u32,
    /// Ask for CRC32c on every FPDU of the soft connections (RFC 5044 §4.4).
    #[arg(long)]
    crc: bool,
    /// Run only this benchmark.
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// MiB streamed per timed streaming round (after an untimed eighth as warm-up).
    #[arg(long, default_value_t = 256)]
    stream_mib: u64,
    /// Streaming rounds, alternating soft and TCP; bytes and times are summed.
    #[arg(long, default_value_t = 3)]
    stream_rounds: u64,
    /// RDMA WRITEs in flight while streaming.
    #[arg(long, default_value_t = 8)]
    stream_outstanding: usize,
    /// The whole run fails (never hangs) once this many seconds passed.
    #[arg(long, default_value_t = 180)]
    timeout_secs: u64,
    /// Where to write the interval log of the latency runs.
    #[arg(long, default_value = "target/bench/rdma_pingpong.hlog")]
    hlog: PathBuf,
}

impl Args {
    /// True when `what` is selected by `--only` (or nothing is).
    fn runs(&self, what: Only) -> bool {
        self.only.is_none_or(|only| only == what)
    }
}

/// What every run shares.
#[derive(Clone, Copy, Debug)]
struct Setup {
    deadline: Deadline,
    /// Cores of the pinger (writer) and the ponger (reader), with `--pin`.
    cores: Option<(CoreId, CoreId)>,
    busy_poll_us: u32,
    crc: bool,
    warmup: u64,
    iterations: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        args.iterations >= args.rounds && args.rounds > 0,
        "--rounds must be at least 1 and at most --iterations"
    );
    ensure!(args.stream_rounds > 0, "--stream-rounds must be at least 1");
    ensure!(
        args.stream_outstanding > 0,
        "--stream-outstanding must be at least 1"
    );
    let cores = if args.pin {
        let ids = core_affinity::get_core_ids().unwrap_or_default();
        match ids.as_slice() {
            [a, b, ..] => Some((*a, *b)),
            _ => bail!("--pin needs two cores, this host shows {}", ids.len()),
        }
    } else {
        None
    };
    let setup = Setup {
        deadline: Deadline::after(Duration::from_secs(args.timeout_secs)),
        cores,
        busy_poll_us: args.busy_poll_us,
        crc: args.crc,
        warmup: args.warmup,
        iterations: args.iterations,
    };
    let online = thread::available_parallelism().map_or(1, usize::from);
    println!(
        "rdma_pingpong: {} B messages, {} round trips in {} rounds (each after {} warm-up), \
         {}, SO_BUSY_POLL {} µs, CRC {}, {} cores online",
        MSG_LEN,
        args.iterations,
        args.rounds,
        args.warmup,
        match cores {
            Some((a, b)) => format!("pinger on core {}, ponger on core {}", a.id, b.id),
            None => "threads not pinned".to_owned(),
        },
        args.busy_poll_us,
        if args.crc { "on" } else { "off" },
        online,
    );
    println!(
        "note: both ends busy-poll; with {online} cores the OS schedules other work on the \
         same cores, so absolute numbers move from run to run: the soft / tcp ratios \
         are the meaningful figures."
    );

    let modes: Vec<Only> = [Only::Tcp, Only::Send, Only::Write]
        .into_iter()
        .filter(|&m| args.runs(m))
        .collect();
    let mut runs: Vec<Run> = Vec::new();
    let mut poll_locks: Vec<(String, PollLocks)> = Vec::new();
    for round in 0..args.rounds {
        let round_setup = Setup {
            iterations: round_share(args.iterations, args.rounds, round),
            ..setup
        };
        for (i, &mode) in modes.iter().enumerate() {
            let (run, locks) = ping_pong_round(mode, &round_setup)?;
            if let Some(locks) = locks {
                match poll_locks.iter_mut().find(|(name, _)| *name == run.name) {
                    Some((_, total)) => total.add(locks),
                    None => poll_locks.push((run.name.clone(), locks)),
                }
            }
            match runs.get_mut(i) {
                Some(total) => total.merge(&run)?,
                None => runs.push(run),
            }
        }
    }
    if !runs.is_empty() {
        println!();
        print_table(
            &format!("{MSG_LEN} B ping-pong round trip"),
            Unit::Micros,
            &runs,
        )?;
        if let Some(tcp) = runs.iter().find(|r| r.name == "tcp") {
            for soft in runs.iter().filter(|r| r.name != "tcp") {
                print_ratio(soft, tcp)?;
            }
            for soft in runs.iter().filter(|r| r.name != "tcp") {
                let (s, t) = (soft.percentiles(), tcp.percentiles());
                print_target(
                    &format!("{} / tcp p50", soft.name),
                    ratio(s.p50, t.p50),
                    Target::AtMost(1.10),
                )?;
            }
        }
        for (name, locks) in &poll_locks {
            println!(
                "{name}: {:.2} soft-backend locks per CQ poll on the pinger thread ({} polls; \
                 the QP's state lock, plus an STag-table read per message gathered or placed)",
                locks.locks as f64 / locks.polls.max(1) as f64,
                locks.polls
            );
        }
        write_hlog(
            &args.hlog,
            "tickwarp rdma_pingpong 64 B round trips (ns)",
            &runs,
        )?;
        println!("wrote {}", args.hlog.display());
    }

    if args.runs(Only::Stream) {
        let bytes = args.stream_mib.saturating_mul(1 << 20);
        let timed = bytes.div_ceil(CHUNK as u64).max(1);
        let plan = StreamPlan {
            warmup: (timed / 8).max(16),
            timed,
            outstanding: args.stream_outstanding,
        };
        let mut soft = soft_stream(&setup, &plan)?;
        let mut tcp = tcp_stream(&setup, &plan)?;
        for _ in 1..args.stream_rounds {
            let (s, t) = (soft_stream(&setup, &plan)?, tcp_stream(&setup, &plan)?);
            soft.bytes += s.bytes;
            soft.elapsed += s.elapsed;
            tcp.bytes += t.bytes;
            tcp.elapsed += t.elapsed;
        }
        println!();
        print_throughput_table(
            &format!(
                "{} KiB streaming, {} rounds of {} messages, {} WRITEs in flight",
                CHUNK >> 10,
                args.stream_rounds,
                plan.timed,
                plan.outstanding
            ),
            &[soft.clone(), tcp.clone()],
        )?;
        print_throughput_ratio(&soft, &tcp)?;
        let base = tcp.mb_per_s();
        print_target(
            "soft WRITE / tcp MB/s",
            (base > 0.0).then(|| soft.mb_per_s() / base),
            Target::AtLeast(0.90),
        )?;
    }
    Ok(())
}

/// One round of the ping-pong `mode` on new connections (and the pinger's CQ-poll locks).
fn ping_pong_round(mode: Only, setup: &Setup) -> anyhow::Result<(Run, Option<PollLocks>)> {
    match mode {
        Only::Tcp => {
            let (a, b) = tcp::connected_pair(setup.busy_poll_us).context("connecting TCP")?;
            ping_pong("tcp", TcpEnd::new(a), TcpEnd::new(b), setup)
        }
        Only::Send => {
            let (a, b) = soft_pair(setup, SQ_DEPTH)?;
            let (a, b) = (SendEnd::new(a)?, SendEnd::new(b)?);
            ping_pong("soft SEND", a, b, setup)
        }
        Only::Write => {
            let (a, b) = soft_pair(setup, SQ_DEPTH)?;
            let (a, b) = WriteEnd::pair(a, b)?;
            ping_pong("soft WRITE", a, b, setup)
        }
        Only::Stream => bail!("streaming is not a ping-pong"),
    }
}

/// A ping with sequence number `seq`: filler, then `seq` little-endian in the last 8 bytes.
fn message(seq: u64) -> [u8; MSG_LEN] {
    let mut msg = [FILL; MSG_LEN];
    if let Some(word) = msg.last_chunk_mut::<8>() {
        *word = seq.to_le_bytes();
    }
    msg
}

/// The sequence number in the last 8 bytes of `bytes` (0 when shorter).
fn seq_of(bytes: &[u8]) -> u64 {
    bytes
        .last_chunk::<8>()
        .map_or(0, |w| u64::from_le_bytes(*w))
}

/// Pins the calling thread to `core`, if given.
fn pin(core: Option<CoreId>) -> anyhow::Result<()> {
    match core {
        Some(core) if !core_affinity::set_for_current(core) => {
            bail!("pinning to core {} failed", core.id)
        }
        _ => Ok(()),
    }
}

/// True when `e` only reports that another thread of the run failed first.
fn is_stopped(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<SpinError>(),
            Some(SpinError::Stopped(_))
        ) || matches!(
            cause.downcast_ref::<TcpError>(),
            Some(TcpError::Spin(SpinError::Stopped(_)))
        )
    })
}

/// Joins two threads of one run; on failure returns the root cause rather than the
/// "stopped" error of the thread that gave up because of it.
fn join_pair<A, B>(
    a: ScopedJoinHandle<'_, anyhow::Result<A>>,
    b: ScopedJoinHandle<'_, anyhow::Result<B>>,
) -> anyhow::Result<(A, B)> {
    let a = a
        .join()
        .map_err(|_| anyhow!("a benchmark thread panicked"))?;
    let b = b
        .join()
        .map_err(|_| anyhow!("a benchmark thread panicked"))?;
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Err(x), Err(y)) => Err(if is_stopped(&x) { y } else { x }),
    }
}

/// Runs `body` on the calling thread pinned to `core`; raises `stop` if it fails so the
/// other thread of the run gives up too.
fn guarded<T>(
    core: Option<CoreId>,
    stop: &AtomicBool,
    body: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let result = pin(core).and_then(|()| body());
    if result.is_err() {
        stop.store(true, Ordering::Relaxed);
    }
    result
}

/// One end of a 64 B ping-pong.
trait Endpoint: Send {
    /// Pinger: sends ping `seq` and waits for its pong.
    fn round_trip(&mut self, seq: u64, spin: &mut Spin<'_>) -> anyhow::Result<()>;

    /// Ponger: waits for ping `seq` and answers it.
    fn echo(&mut self, seq: u64, spin: &mut Spin<'_>) -> anyhow::Result<()>;

    /// Housekeeping between round trips, outside the timed window.
    fn maintain(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    /// Waits until everything posted went out and completed.
    fn finish(&mut self, spin: &mut Spin<'_>) -> anyhow::Result<()> {
        let _ = spin;
        Ok(())
    }

    /// CQ polls this end made and the soft-backend locks they took, when it polls a CQ.
    fn poll_locks(&self) -> Option<PollLocks> {
        None
    }
}

/// CQ polls and the locks they took ([`tickwarp_rdma::soft::lock_count`] differences).
#[derive(Clone, Copy, Debug, Default)]
struct PollLocks {
    polls: u64,
    locks: u64,
}

impl PollLocks {
    fn add(&mut self, other: PollLocks) {
        self.polls += other.polls;
        self.locks += other.locks;
    }
}

/// Warm-up, then `setup.iterations` timed round trips between `pinger` and `ponger` on
/// two threads.
fn ping_pong<E: Endpoint>(
    name: &str,
    mut pinger: E,
    mut ponger: E,
    setup: &Setup,
) -> anyhow::Result<(Run, Option<PollLocks>)> {
    let stop = AtomicBool::new(false);
    let stop = &stop;
    let total = setup.warmup + setup.iterations;
    let (pong_core, ping_core) = match setup.cores {
        Some((ping, pong)) => (Some(pong), Some(ping)),
        None => (None, None),
    };
    // Borrowed, not moved: neither end is dropped (closing its stream) before both
    // threads are done.
    let (pinger, ponger) = (&mut pinger, &mut ponger);
    let (run, ()) = thread::scope(|s| {
        let pong = s.spawn(move || {
            guarded(pong_core, stop, || {
                let mut spin = Spin::new(setup.deadline, stop, Idle::BusySpin);
                for seq in 1..=total {
                    ponger
                        .echo(seq, &mut spin)
                        .with_context(|| format!("{name}: echoing ping {seq}"))?;
                    ponger.maintain()?;
                }
                ponger.finish(&mut spin)
            })
        });
        let ping = s.spawn(move || {
            guarded(ping_core, stop, || {
                let mut spin = Spin::new(setup.deadline, stop, Idle::BusySpin);
                warm_up(setup.warmup, |i| {
                    pinger
                        .round_trip(i + 1, &mut spin)
                        .with_context(|| format!("{name}: warm-up round trip {}", i + 1))?;
                    pinger.maintain()
                })?;
                let clock = Clock::new();
                let mut histogram = new_histogram()?;
                let start = clock.now();
                for seq in setup.warmup + 1..=total {
                    let before = clock.now();
                    pinger
                        .round_trip(seq, &mut spin)
                        .with_context(|| format!("{name}: round trip {seq}"))?;
                    let after = clock.now();
                    histogram.saturating_record(after.saturating_sub(before).get());
                    pinger.maintain()?;
                }
                let elapsed = clock.now().saturating_sub(start).as_duration();
                pinger.finish(&mut spin)?;
                let run = Run {
                    name: name.to_owned(),
                    histogram,
                    elapsed,
                };
                Ok((run, pinger.poll_locks()))
            })
        });
        join_pair(ping, pong)
    })?;
    Ok(run)
}

/// One side of a soft connection: device, PD, one CQ for both queues, the QP.
struct SoftEnd {
    /// Kept so the device outlives everything created from it.
    _dev: Device,
    pd: ProtectionDomain,
    cq: CompletionQueue,
    qp: QueuePair,
    /// The QP's `max_inline`.
    max_inline: usize,
}

/// Creation parameters of a benchmark QP on `cq`.
fn qp_init<'a>(cq: &'a CompletionQueue, sq_depth: usize, setup: &Setup) -> QpInit<'a> {
    QpInit {
        sq_depth,
        rq_depth: RQ_SLOTS,
        busy_poll_us: setup.busy_poll_us,
        ..QpInit::new(cq, cq)
    }
}

/// A connected soft RC pair over 127.0.0.1: (initiator, responder).
fn soft_pair(setup: &Setup, sq_depth: usize) -> anyhow::Result<(SoftEnd, SoftEnd)> {
    let open = || -> anyhow::Result<(Device, ProtectionDomain, CompletionQueue)> {
        let dev = Device::open(Backend::Soft)?;
        let pd = dev.alloc_pd();
        let cq = dev.create_cq(CQ_DEPTH)?;
        Ok((dev, pd, cq))
    };
    let (cdev, cpd, ccq) = open()?;
    let (sdev, spd, scq) = open()?;
    let listener = Listener::bind(&spd, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let addr = listener.local_addr();
    let params = ConnectParams {
        crc: setup.crc,
        timeout: SETUP_TIMEOUT,
        ..ConnectParams::default()
    };
    let server_init = qp_init(&scq, sq_depth, setup);
    let client_init = qp_init(&ccq, sq_depth, setup);
    let max_inline = client_init.max_inline;
    let ((cqp, info), sqp) = thread::scope(|s| {
        let server = s.spawn(|| -> anyhow::Result<QueuePair> {
            let request = listener.accept(SETUP_TIMEOUT).context("accepting")?;
            let (qp, _) = request
                .accept(&server_init, b"")
                .context("accepting the request")?;
            Ok(qp)
        });
        let client = s.spawn(|| {
            cpd.connect(addr, &client_init, &params)
                .context("connecting the soft QP")
        });
        join_pair(client, server)
    })?;
    ensure!(
        info.crc == setup.crc,
        "CRC negotiated {} but {} was asked for",
        info.crc,
        setup.crc
    );
    let end = |dev, pd, cq, qp| SoftEnd {
        _dev: dev,
        pd,
        cq,
        qp,
        max_inline,
    };
    Ok((end(cdev, cpd, ccq, cqp), end(sdev, spd, scq, sqp)))
}

/// Checks a completion's status and returns its opcode.
fn succeeded(wc: &Completion) -> anyhow::Result<WcOpcode> {
    ensure!(
        wc.status == WcStatus::Success,
        "work request failed: {wc:?}"
    );
    Ok(wc.opcode)
}

/// A SEND/RECV ping-pong end: receives pre-posted into a registered ring of slots.
struct SendEnd {
    end: SoftEnd,
    /// `RQ_SLOTS` receive slots of `MSG_LEN` bytes; a receive's `wr_id` is its slot.
    recv: MemoryRegion,
    /// The source of non-inline sends.
    src: MemoryRegion,
    inline: bool,
    /// Sends posted whose completion was not reaped yet.
    unreaped: usize,
    wcs: [Completion; POLL_BATCH],
    /// The CQ polls made and the locks they took.
    locks: PollLocks,
}

impl SendEnd {
    /// Registers the buffers and posts every receive.
    fn new(end: SoftEnd) -> anyhow::Result<SendEnd> {
        let recv = end.pd.alloc_mr(RQ_SLOTS * MSG_LEN, Access::LOCAL_WRITE)?;
        let src = end.pd.alloc_mr(MSG_LEN, Access::NONE)?;
        let inline = MSG_LEN <= end.max_inline;
        let this = SendEnd {
            end,
            recv,
            src,
            inline,
            unreaped: 0,
            wcs: [Completion::default(); POLL_BATCH],
            locks: PollLocks::default(),
        };
        for slot in 0..RQ_SLOTS as u64 {
            this.post_recv(slot)?;
        }
        Ok(this)
    }

    fn post_recv(&self, slot: u64) -> anyhow::Result<()> {
        let sge = [self.recv.sge(slot * MSG_LEN as u64, MSG_LEN as u32)];
        self.end.qp.post_recv(&RecvWr {
            wr_id: slot,
            sgl: &sge,
        })?;
        Ok(())
    }

    fn send(&mut self, seq: u64) -> anyhow::Result<()> {
        let msg = message(seq);
        if self.inline {
            self.end.qp.post_send(&SendWr::send_inline(seq, &msg))?;
        } else {
            self.src.write(0, &msg)?;
            let sge = [self.src.sge(0, MSG_LEN as u32)];
            self.end.qp.post_send(&SendWr::send(seq, &sge))?;
        }
        self.unreaped += 1;
        Ok(())
    }

    /// One CQ poll into `wcs`, counting the locks it takes.
    fn poll_cq(&mut self) -> usize {
        let before = lock_count();
        let n = self.end.cq.poll(&mut self.wcs);
        self.locks.add(PollLocks {
            polls: 1,
            locks: lock_count().wrapping_sub(before),
        });
        n
    }

    /// Polls the CQ until the message `seq` arrived (reaping send completions on the way)
    /// and reposts its receive.
    fn receive(&mut self, seq: u64, spin: &mut Spin<'_>) -> anyhow::Result<()> {
        loop {
            let n = self.poll_cq();
            let mut arrived = false;
            for wc in self.wcs.iter().take(n) {
                match succeeded(wc)? {
                    WcOpcode::Send => self.unreaped = self.unreaped.saturating_sub(1),
                    WcOpcode::Recv => {
                        ensure!(
                            wc.byte_len as usize == MSG_LEN,
                            "received {} bytes",
                            wc.byte_len
                        );
                        let at = wc.wr_id as usize * MSG_LEN + SEQ_OFFSET;
                        let got = self.recv.load_u64_acquire(at)?;
                        ensure!(got == seq, "received message {got}, expected {seq}");
                        self.post_recv(wc.wr_id)?;
                        arrived = true;
                    }
                    other => bail!("unexpected {other:?} completion"),
                }
            }
            if arrived {
                return Ok(());
            }
            spin.check("a SEND from the peer")?;
        }
    }
}

impl Endpoint for SendEnd {
    fn round_trip(&mut self, seq: u64, spin: &mut Spin<'_>) -> anyhow::Result<()> {
        self.send(seq)?;
        self.receive(seq, spin)
    }

    fn echo(&mut self, seq: u64, spin: &mut Spin<'_>) -> anyhow::Result<()> {
        self.receive(seq, spin)?;
        self.send(seq)?;
        // Transmit now rather than at the next poll.
        self.end.qp.progress();
        Ok(())
    }

    fn finish(&mut self, spin: &mut Spin<'_>) -> anyhow::Result<()> {
        while self.unreaped > 0 {
            let n = self.poll_cq();
            for wc in self.wcs.iter().take(n) {
                if succeeded(wc)? == WcOpcode::Send {
                    self.unreaped = self.unreaped.saturating_sub(1);
                }
            }
            if n == 0 {
                spin.check("the last SEND completions")?;
            }
        }
        Ok(())
    }

    fn poll_locks(&self) -> Option<PollLocks> {
        Some(self.locks)
    }
}

/// A memory-polled RDMA WRITE ping-pong end: the peer writes into `inbox`.
struct WriteEnd {
    end: SoftEnd,
    /// `MSG_LEN` bytes the peer writes into; its last word is the sequence word.
    inbox: MemoryRegion,
    /// The peer's inbox.
    peer: RemoteAddr,
    /// The source of non-inline writes.
    src: MemoryRegion,
    inline: bool,
    /// WRITEs posted whose completion was not reaped yet.
    unreaped: usize,
    wcs: [Completion; POLL_BATCH],
}

impl WriteEnd {
    /// Registers an inbox on each side and points each at the other's (the addresses
    /// would travel in the connection's private data between processes).
    fn pair(a: SoftEnd, b: SoftEnd) -> anyhow::Result<(WriteEnd, WriteEnd)> {
        let a_inbox = a.pd.alloc_mr(MSG_LEN, Access::REMOTE_WRITE)?;
        let b_inbox = b.pd.alloc_mr(MSG_LEN, Access::REMOTE_WRITE)?;
        let (a_addr, b_addr) = (a_inbox.remote(0), b_inbox.remote(0));
        Ok((
            WriteEnd::new(a, a_inbox, b_addr)?,
            WriteEnd::new(b, b_inbox, a_addr)?,
        ))
    }

    fn new(end: SoftEnd, inbox: MemoryRegion, peer: RemoteAddr) -> anyhow::Result<WriteEnd> {
        let src = end.pd.alloc_mr(MSG_LEN, Access::NONE)?;
        let inline = MSG_LEN <= end.max_inline;
        Ok(WriteEnd {
            end,
            inbox,
            peer,
            src,
            inline,
            unreaped: 0,
            wcs: [Completion::default(); POLL_BATCH],
        })
    }

    fn write(&mut self, seq: u64) -> anyhow::Result<()> {
        let msg = message(seq);
        if self.inline {
            self.end
                .qp
                .post_send(&SendWr::rdma_write_inline(seq, &msg, self.peer))?;
        } else {
            self.src.write(0, &msg)?;
            let sge = [self.src.sge(0, MSG_LEN as u32)];
            self.end
                .qp
                .post_send(&SendWr::rdma_write(seq, &sge, self.peer))?;
        }
        self.unreaped += 1;
        Ok(())
    }

    /// Drives the QP and polls the inbox's sequence word until it reads `seq`.
    fn await_seq(&self, seq: u64, spin: &mut Spin<'_>) -> anyhow::Result<()> {
        loop {
            self.end.qp.progress();
            let got = self.inbox.load_u64_acquire(SEQ_OFFSET)?;
            if got == seq {
                return Ok(());
            }
            ensure!(got < seq, "inbox holds message {got}, expected {seq}");
            spin.check("an RDMA WRITE from the peer")?;
        }
    }

    /// Takes the WRITE completions the CQ holds (the poll also progresses the QP).
    fn reap(&mut self) -> anyhow::Result<usize> {
        let n = self.end.cq.poll(&mut self.wcs);
        for wc in self.wcs.iter().take(n) {
            let op = succeeded(wc)?;
            ensure!(op == WcOpcode::RdmaWrite, "unexpected {op:?} completion");
        }
        self.unreaped = self.unreaped.saturating_sub(n);
        Ok(n)
    }
}

impl Endpoint for WriteEnd {
    fn round_trip(&mut self, seq: u64, spin: &mut Spin<'_>) -> anyhow::Result<()> {
        self.write(seq)?;
        self.await_seq(seq, spin)
    }

    fn echo(&mut self, seq: u64, spin: &mut Spin<'_>) -> anyhow::Result<()> {
        self.await_seq(seq, spin)?;
        self.write(seq)?;
        // Transmit now rather than at the next poll.
        self.end.qp.progress();
        Ok(())
    }

    fn maintain(&mut self) -> anyhow::Result<()> {
        if self.unreaped >= REAP_AT {
            self.reap()?;
        }
        Ok(())
    }

    fn finish(&mut self, spin: &mut Spin<'_>) -> anyhow::Result<()> {
        while self.unreaped > 0 {
            if self.reap()? == 0 {
                spin.check("the last WRITE completions")?;
            }
        }
        Ok(())
    }
}

/// A raw TCP ping-pong end.
struct TcpEnd {
    stream: TcpStream,
    buf: [u8; MSG_LEN],
}

impl TcpEnd {
    fn new(stream: TcpStream) -> TcpEnd {
        TcpEnd {
            stream,
            buf: [0; MSG_LEN],
        }
    }

    fn receive(&mut self, seq: u64, spin: &mut Spin<'_>) -> anyhow::Result<()> {
        tcp::read_exact_polling(&mut self.stream, &mut self.buf, spin)?;
        let got = seq_of(&self.buf);
        ensure!(got == seq, "received message {got}, expected {seq}");
        Ok(())
    }
}

impl Endpoint for TcpEnd {
    fn round_trip(&mut self, seq: u64, spin: &mut Spin<'_>) -> anyhow::Result<()> {
        tcp::write_all_polling(&mut self.stream, &message(seq), spin)?;
        self.receive(seq, spin)
    }

    fn echo(&mut self, seq: u64, spin: &mut Spin<'_>) -> anyhow::Result<()> {
        self.receive(seq, spin)?;
        tcp::write_all_polling(&mut self.stream, &message(seq), spin)?;
        Ok(())
    }
}

/// Messages of a streaming comparison.
#[derive(Clone, Copy, Debug)]
struct StreamPlan {
    /// Untimed messages first.
    warmup: u64,
    /// Timed messages.
    timed: u64,
    /// RDMA WRITEs in flight at most.
    outstanding: usize,
}

impl StreamPlan {
    /// (first sequence number, messages) of the warm-up phase, then the timed phase.
    fn phases(&self) -> [(u64, u64); 2] {
        [(1, self.warmup), (1 + self.warmup, self.timed)]
    }
}

/// What the reader of a stream tells the writer: the last sequence number it saw at a
/// phase end and when.
#[derive(Debug, Default)]
struct StreamProgress {
    reached: AtomicU64,
    at: AtomicU64,
}

impl StreamProgress {
    fn publish(&self, seq: u64, now: Nanos) {
        self.at.store(now.get(), Ordering::Relaxed);
        self.reached.store(seq, Ordering::Release);
    }

    /// Waits until the reader saw `seq` (calling `idle` between looks); returns when.
    fn await_seq(
        &self,
        seq: u64,
        spin: &mut Spin<'_>,
        mut idle: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<Nanos> {
        while self.reached.load(Ordering::Acquire) < seq {
            idle()?;
            spin.check("the reader to see the last message")?;
        }
        Ok(Nanos(self.at.load(Ordering::Relaxed)))
    }
}

/// Throughput of a timed phase that started at `start` and ended at `end`.
fn throughput(name: &str, plan: &StreamPlan, start: Nanos, end: Nanos) -> Throughput {
    Throughput {
        name: name.to_owned(),
        bytes: plan.timed * CHUNK as u64,
        elapsed: end.saturating_sub(start).as_duration(),
    }
}

/// Streams 64 KiB RDMA WRITEs into a ring of `plan.outstanding` slots at the peer; the
/// reader progresses its QP and polls the sequence word of the phase's last message.
fn soft_stream(setup: &Setup, plan: &StreamPlan) -> anyhow::Result<Throughput> {
    let (writer, reader) = soft_pair(setup, plan.outstanding)?;
    let ring = plan.outstanding * CHUNK;
    let src = writer.pd.alloc_mr(ring, Access::NONE)?;
    let dst = reader.pd.alloc_mr(ring, Access::REMOTE_WRITE)?;
    let slot = |seq: u64| ((seq - 1) % plan.outstanding as u64) as usize * CHUNK;
    let seq_word = |seq: u64| slot(seq) + CHUNK - 8;
    let stop = AtomicBool::new(false);
    let stop = &stop;
    let progress = StreamProgress::default();
    let progress = &progress;
    let (write_core, read_core) = match setup.cores {
        Some((w, r)) => (Some(w), Some(r)),
        None => (None, None),
    };
    let remote = dst.remote(0);
    let (result, ()) = thread::scope(|s| {
        let read = s.spawn(|| {
            guarded(read_core, stop, || {
                let clock = Clock::new();
                let mut spin = Spin::new(setup.deadline, stop, Idle::BusySpin);
                for (first, count) in plan.phases() {
                    let last = first + count - 1;
                    loop {
                        reader.qp.progress();
                        if dst.load_u64_acquire(seq_word(last))? >= last {
                            break;
                        }
                        spin.check("streamed RDMA WRITEs")?;
                    }
                    progress.publish(last, clock.now());
                }
                Ok(())
            })
        });
        let write = s.spawn(|| {
            guarded(write_core, stop, || {
                let clock = Clock::new();
                let mut spin = Spin::new(setup.deadline, stop, Idle::BusySpin);
                let mut wcs = [Completion::default(); POLL_BATCH];
                let mut unreaped = 0usize;
                let mut reap = |unreaped: &mut usize| -> anyhow::Result<usize> {
                    let n = writer.cq.poll(&mut wcs);
                    for wc in wcs.iter().take(n) {
                        let op = succeeded(wc)?;
                        ensure!(op == WcOpcode::RdmaWrite, "unexpected {op:?} completion");
                    }
                    *unreaped = unreaped.saturating_sub(n);
                    Ok(n)
                };
                let mut timed = None;
                for (phase, (first, count)) in plan.phases().into_iter().enumerate() {
                    let end = first + count;
                    let start = clock.now();
                    let mut next = first;
                    while next < end {
                        while unreaped < plan.outstanding && next < end {
                            // The slot is free: its previous WRITE completed.
                            src.store_u64_release(seq_word(next), next)?;
                            let sge = [src.sge(slot(next) as u64, CHUNK as u32)];
                            let to = RemoteAddr {
                                offset: remote.offset + slot(next) as u64,
                                ..remote
                            };
                            writer.qp.post_send(&SendWr::rdma_write(next, &sge, to))?;
                            unreaped += 1;
                            next += 1;
                        }
                        if reap(&mut unreaped)? == 0 {
                            spin.check("WRITE completions")?;
                        }
                    }
                    // Keep progressing: bytes may still wait in the transmit buffer.
                    let done = progress
                        .await_seq(end - 1, &mut spin, || reap(&mut unreaped).map(|_| ()))?;
                    if phase == 1 {
                        timed = Some(throughput("soft WRITE", plan, start, done));
                    }
                }
                while unreaped > 0 {
                    if reap(&mut unreaped)? == 0 {
                        spin.check("the last WRITE completions")?;
                    }
                }
                timed.context("no timed phase ran")
            })
        });
        join_pair(write, read)
    })?;
    Ok(result)
}

/// Keeps the last 8 bytes of a byte stream read in pieces.
fn roll_tail(tail: &mut [u8; 8], bytes: &[u8]) {
    if let Some(last) = bytes.last_chunk::<8>() {
        *tail = *last;
    } else {
        tail.rotate_left(bytes.len());
        if let Some(end) = tail.get_mut(8 - bytes.len()..) {
            end.copy_from_slice(bytes);
        }
    }
}

/// Streams the same 64 KiB messages over raw TCP; the reader reads with the soft driver's
/// buffer size and checks the phase's last sequence number.
fn tcp_stream(setup: &Setup, plan: &StreamPlan) -> anyhow::Result<Throughput> {
    let (mut tx, mut rx) = tcp::connected_pair(setup.busy_poll_us).context("connecting TCP")?;
    let stop = AtomicBool::new(false);
    let stop = &stop;
    let progress = StreamProgress::default();
    let progress = &progress;
    let (write_core, read_core) = match setup.cores {
        Some((w, r)) => (Some(w), Some(r)),
        None => (None, None),
    };
    let (result, ()) = thread::scope(|s| {
        let read = s.spawn(move || {
            guarded(read_core, stop, || {
                let clock = Clock::new();
                let mut spin = Spin::new(setup.deadline, stop, Idle::BusySpin);
                let mut buf = vec![0u8; TCP_READ_BUFFER];
                for (first, count) in plan.phases() {
                    let want = count * CHUNK as u64;
                    let mut got = 0u64;
                    let mut tail = [0u8; 8];
                    while got < want {
                        let room = usize::try_from(want - got).unwrap_or(usize::MAX);
                        let window = buf.get_mut(..room.min(TCP_READ_BUFFER)).unwrap_or_default();
                        let n = tcp::read_some_polling(&mut rx, window, &mut spin)?;
                        roll_tail(&mut tail, window.get(..n).unwrap_or_default());
                        got += n as u64;
                    }
                    let last = first + count - 1;
                    let seen = u64::from_le_bytes(tail);
                    ensure!(
                        seen == last,
                        "stream ended with message {seen}, expected {last}"
                    );
                    progress.publish(last, clock.now());
                }
                Ok(())
            })
        });
        let write = s.spawn(move || {
            guarded(write_core, stop, || {
                let clock = Clock::new();
                let mut spin = Spin::new(setup.deadline, stop, Idle::BusySpin);
                let mut chunk = vec![FILL; CHUNK];
                let mut timed = None;
                for (phase, (first, count)) in plan.phases().into_iter().enumerate() {
                    let end = first + count;
                    let start = clock.now();
                    for seq in first..end {
                        if let Some(word) = chunk.last_chunk_mut::<8>() {
                            *word = seq.to_le_bytes();
                        }
                        tcp::write_all_polling(&mut tx, &chunk, &mut spin)?;
                    }
                    let done = progress.await_seq(end - 1, &mut spin, || Ok(()))?;
                    if phase == 1 {
                        timed = Some(throughput("tcp", plan, start, done));
                    }
                }
                timed.context("no timed phase ran")
            })
        });
        join_pair(write, read)
    })?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_their_sequence_number_last() {
        let msg = message(0x0102_0304_0506_0708);
        assert_eq!(seq_of(&msg), 0x0102_0304_0506_0708);
        assert_eq!(msg[SEQ_OFFSET], 0x08, "little-endian");
        assert!(msg[..SEQ_OFFSET].iter().all(|&b| b == FILL));
        assert_eq!(seq_of(&[1, 2, 3]), 0);
    }

    #[test]
    fn tail_of_a_stream_read_in_pieces() {
        let stream: Vec<u8> = (0..40u8).collect();
        for split in [1usize, 3, 7, 8, 9, 40] {
            let mut tail = [0u8; 8];
            for piece in stream.chunks(split) {
                roll_tail(&mut tail, piece);
            }
            assert_eq!(&tail[..], &stream[32..], "pieces of {split}");
        }
        let mut tail = [9u8; 8];
        roll_tail(&mut tail, &[]);
        assert_eq!(tail, [9u8; 8]);
    }

    #[test]
    fn stream_phases_follow_each_other() {
        let plan = StreamPlan {
            warmup: 16,
            timed: 100,
            outstanding: 8,
        };
        assert_eq!(plan.phases(), [(1, 16), (17, 100)]);
    }
}
