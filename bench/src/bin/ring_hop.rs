//! What does one hop through the RDMA WRITE ring cost, against an in-process SPSC queue?
//!
//! Run: `cargo run --release -p tickwarp-bench --bin ring_hop [-- --count N]`
//!
//! A writer thread publishes a 64-byte message carrying its sequence number and the
//! monotonic time of the publish (`tickwarp_runtime::clock::monotonic_now`) through a
//! `RingWriter` into a `RingReader` on the soft-iWARP stack over 127.0.0.1; a reader
//! thread busy-polls the ring and records `now - stamp` (the one-way hop) into an
//! HdrHistogram. The writer sends the next message only once the reader has taken the
//! previous one, so no message waits behind another (no queueing, nothing to correct
//! for coordinated omission). The baseline in the same run is the same exchange
//! through an `rtrb` SPSC queue between the same two threads. Both threads busy-poll
//! (`--pin` pins them to cores 0 and 1; see the flag for why it is off by default);
//! every wait is bounded by a deadline. Prints
//! p50/p99/p99.9/max, the ratio ring / SPSC, and writes both distributions to an `.hlog`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Parser;
use hdrhistogram::Histogram;
use tickwarp_bench::report::{Run, Unit, new_histogram, print_ratio, print_table, write_hlog};
use tickwarp_bench::spin::{Deadline, Idle, Spin};
use tickwarp_rdma::ring::{
    PublishError, RingConfig, RingPoll, RingReader, RingWriter, RingWriterConfig, SeqPlacement,
};
use tickwarp_rdma::verbs::{Backend, ConnectParams, Device, Listener};
use tickwarp_runtime::clock::monotonic_now;

/// Bytes per message: sequence number, timestamp, padding.
const MSG: usize = 64;

/// One-way hop latency of the RDMA WRITE ring vs an in-process SPSC queue.
#[derive(Debug, Parser)]
struct Args {
    /// Measured messages per run.
    #[arg(long, default_value_t = 200_000)]
    count: u64,
    /// Unrecorded messages before each run.
    #[arg(long, default_value_t = 20_000)]
    warm_up: u64,
    /// Ring slots.
    #[arg(long, default_value_t = 1024)]
    slots: u32,
    /// Pin the writer and reader threads to cores 0 and 1 (off by default: on a 2-core
    /// host the two busy-polling threads then starve the kernel's loopback TCP processing
    /// that the soft stack needs, and the hop grows to milliseconds).
    #[arg(long)]
    pin: bool,
    /// Give up after this many seconds per run.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
    /// Where to write the interval log of both runs.
    #[arg(long, default_value = "target/bench/ring_hop.hlog")]
    hlog: PathBuf,
}

/// The message for `seq`, stamped now.
fn stamp(seq: u64, out: &mut [u8; MSG]) {
    out[..8].copy_from_slice(&seq.to_le_bytes());
    out[8..16].copy_from_slice(&monotonic_now().get().to_le_bytes());
}

/// The sequence number and stamp of a message.
fn unstamp(msg: &[u8]) -> anyhow::Result<(u64, u64)> {
    let seq = msg
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes);
    let ts = msg
        .get(8..16)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes);
    seq.zip(ts).context("short message")
}

/// Pins the current thread to core `index` (when pinning is on and the core exists).
fn pin(args: &Args, index: usize) {
    if !args.pin {
        return;
    }
    let core = core_affinity::get_core_ids().and_then(|ids| ids.get(index).copied());
    if !core.is_some_and(core_affinity::set_for_current) {
        eprintln!("ring_hop: could not pin a thread to core {index}; running unpinned");
    }
}

/// What one side of a run needs to share with the other.
struct Shared {
    /// Messages the reader has taken.
    taken: AtomicU64,
    stop: AtomicBool,
    deadline: Deadline,
}

/// The writer's half of an exchange: send message `seq`, then wait until the reader
/// took it (calling `progress` while waiting). Returns the measured wall time.
fn write_side(
    args: &Args,
    shared: &Shared,
    mut send: impl FnMut(&[u8; MSG]) -> anyhow::Result<()>,
    mut progress: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Duration> {
    pin(args, 0);
    let total = args.warm_up + args.count;
    let mut msg = [0u8; MSG];
    let mut spin = Spin::new(shared.deadline, &shared.stop, Idle::BusySpin);
    let mut start = monotonic_now();
    for seq in 1..=total {
        if seq == args.warm_up + 1 {
            start = monotonic_now();
        }
        stamp(seq, &mut msg);
        send(&msg)?;
        while shared.taken.load(Ordering::Acquire) < seq {
            progress()?;
            spin.check("the reader to take the message")?;
        }
    }
    Ok(monotonic_now().saturating_sub(start).as_duration())
}

/// The reader's half: poll for message after message, recording the hop of the
/// measured ones.
fn read_side(
    args: &Args,
    shared: &Shared,
    mut poll: impl FnMut(&mut [u8; MSG]) -> anyhow::Result<bool>,
) -> anyhow::Result<Histogram<u64>> {
    pin(args, 1);
    let mut histogram = new_histogram()?;
    let mut spin = Spin::new(shared.deadline, &shared.stop, Idle::BusySpin);
    let mut buf = [0u8; MSG];
    let total = args.warm_up + args.count;
    let mut next = 1;
    while next <= total {
        if !poll(&mut buf)? {
            spin.check("the next message")?;
            continue;
        }
        let now = monotonic_now().get();
        let (seq, ts) = unstamp(&buf)?;
        anyhow::ensure!(seq == next, "message {seq} when {next} was due");
        if seq > args.warm_up {
            histogram.saturating_record(now.saturating_sub(ts));
        }
        shared.taken.store(seq, Ordering::Release);
        next += 1;
    }
    Ok(histogram)
}

/// Runs both halves on two threads; raises the stop flag when either fails.
fn exchange(
    name: &str,
    args: &Args,
    write: impl FnOnce(&Shared) -> anyhow::Result<Duration>,
    read: impl FnOnce(&Shared) -> anyhow::Result<Histogram<u64>> + Send,
) -> anyhow::Result<Run> {
    let shared = Shared {
        taken: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        deadline: Deadline::after(Duration::from_secs(args.timeout_secs)),
    };
    let shared = &shared;
    let (elapsed, histogram) = thread::scope(|s| {
        let reader = s.spawn(move || {
            let r = read(shared);
            if r.is_err() {
                shared.stop.store(true, Ordering::Relaxed);
            }
            r
        });
        let w = write(shared);
        if w.is_err() {
            shared.stop.store(true, Ordering::Relaxed);
        }
        let r = reader.join().map_err(|_| anyhow!("reader panicked"));
        (w, r)
    });
    Ok(Run {
        name: name.to_owned(),
        histogram: histogram??,
        elapsed: elapsed?,
    })
}

/// The ring run: writer and reader connected over the soft stack on 127.0.0.1.
fn ring_run(args: &Args) -> anyhow::Result<Run> {
    let wdev = Device::open(Backend::Soft)?;
    let wpd = wdev.alloc_pd();
    let rdev = Device::open(Backend::Soft)?;
    let rpd = rdev.alloc_pd();
    let listener = Listener::bind(&wpd, SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let addr = listener.local_addr();
    let config = RingConfig {
        slot_size: 128,
        slot_count: args.slots,
        placement: SeqPlacement::InWrite,
    };
    let (mut writer, mut reader) = thread::scope(|s| -> anyhow::Result<_> {
        let accepted = s.spawn(|| -> anyhow::Result<RingWriter> {
            let req = listener.accept(Duration::from_secs(10))?;
            Ok(RingWriter::accept(
                &wdev,
                &wpd,
                req,
                RingWriterConfig::default(),
            )?)
        });
        let reader = RingReader::connect(&rdev, &rpd, addr, config, &ConnectParams::default());
        let writer = accepted
            .join()
            .map_err(|_| anyhow!("accept thread panicked"))??;
        Ok((writer, reader?))
    })?;
    let writer = &mut writer;
    let reader = &mut reader;
    let mut out = vec![0u8; reader.capacity()];
    let wcell = std::cell::RefCell::new(writer);
    exchange(
        "rdma ring (soft iWARP)",
        args,
        |shared| {
            write_side(
                args,
                shared,
                |msg| loop {
                    match wcell.borrow_mut().publish(msg) {
                        Ok(_) => return Ok(()),
                        Err(PublishError::SendQueueFull { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    }
                },
                || {
                    wcell.borrow_mut().reap()?;
                    Ok(())
                },
            )
        },
        move |shared| {
            read_side(args, shared, |buf| match reader.poll(&mut out)? {
                RingPoll::Message { len, .. } => {
                    let n = len.min(MSG);
                    buf[..n].copy_from_slice(&out[..n]);
                    Ok(true)
                }
                RingPoll::Empty => Ok(false),
                RingPoll::Gap { expected, found } => {
                    Err(anyhow!("gap {expected}..{found}: the reader was lapped"))
                }
            })
        },
    )
}

/// The baseline: the same exchange through an `rtrb` SPSC queue.
fn spsc_run(args: &Args) -> anyhow::Result<Run> {
    let (mut tx, mut rx) = rtrb::RingBuffer::<[u8; MSG]>::new(args.slots as usize);
    exchange(
        "rtrb spsc (in-process)",
        args,
        |shared| {
            write_side(
                args,
                shared,
                |msg| tx.push(*msg).map_err(|_| anyhow!("the SPSC queue is full")),
                || Ok(()),
            )
        },
        move |shared| {
            read_side(args, shared, |buf| match rx.pop() {
                Ok(msg) => {
                    *buf = msg;
                    Ok(true)
                }
                Err(_) => Ok(false),
            })
        },
    )
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "ring_hop: {} messages of {MSG} bytes after {} warm-up, {} slots, {}",
        args.count,
        args.warm_up,
        args.slots,
        if args.pin {
            "pinned to cores 0 and 1"
        } else {
            "not pinned"
        }
    );
    let spsc = spsc_run(&args).context("SPSC run")?;
    let ring = ring_run(&args).context("ring run")?;
    let runs = [ring, spsc];
    print_table("one-way hop, 64-byte message", Unit::Nanos, &runs)?;
    print_ratio(&runs[0], &runs[1])?;
    write_hlog(&args.hlog, "tickwarp ring_hop", &runs)?;
    println!("wrote {}", args.hlog.display());
    Ok(())
}
