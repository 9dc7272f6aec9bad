//! The remote part of the pricing benchmark: one request's latency on a compute server
//! (in this process, soft iWARP over loopback) against the same job computed locally on
//! one thread, for job sizes from one option to 10^6 path-steps, so the break-even size
//! shows; the baseline is a soft-iWARP SEND round trip of the same message sizes (a
//! 136-byte job out, an 88-byte result back) through a `MessageChannel` echo; then 4
//! clients at once (each client's p99, and fairness as the slowest client's p50 over the
//! fastest's).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_bench::report::{Run, Unit, measure, print_ratio, print_table, warm_up};
use tickwarp_compute::job::{JOB_LEN, RESULT_LEN};
use tickwarp_compute::server::ServerSettings;
use tickwarp_compute::{ComputeClient, ComputeServer, Job, Model, Status, execute};
use tickwarp_gateway::service::rdma_auth::{TokenTable, hash_token};
use tickwarp_pricing::{Contract, HestonParams, Lattice, OptionType};
use tickwarp_rdma::channel::{ChannelConfig, ChannelError, MessageChannel};
use tickwarp_rdma::verbs::{Backend, ConnectParams, Device, Listener, ProtectionDomain};
use tickwarp_wire::AccountId;

const TOKEN: &[u8] = b"bench-token";
const ACCOUNT: AccountId = AccountId(1);
/// Bound on any single wait (setup, one answer).
const WAIT: Duration = Duration::from_secs(120);

/// A job of `paths × steps` path-steps (Black–Scholes when `paths` is 0).
fn job(id: u64, paths: u64, steps: u64) -> Job {
    Job {
        id,
        model: if paths == 0 {
            Model::BlackScholes
        } else {
            Model::AsianMc
        },
        contract: Contract {
            kind: OptionType::Call,
            spot: 100.0,
            strike: 100.0,
            rate: 0.05,
            div: 0.0,
            vol: 0.2,
            expiry: 1.0,
        },
        tree: Lattice::CoxRossRubinstein,
        steps,
        paths,
        seed: 7,
        heston: HestonParams {
            kappa: 0.0,
            theta: 0.0,
            xi: 0.0,
            rho: 0.0,
            v0: 0.0,
        },
        deadline_ns: 0,
    }
}

/// One remote round trip; fails unless the job was priced.
fn call(client: &mut ComputeClient, job: &Job) -> Result<f64> {
    let r = client.call(job, WAIT)?;
    ensure!(r.status == Status::Done, "job {}: {:?}", job.id, r.status);
    Ok(r.price)
}

/// Runs the remote section.
pub(crate) fn run(quick: bool, server_threads: usize) -> Result<()> {
    let hash = hash_token(TOKEN)?;
    let tokens = TokenTable::new([(ACCOUNT, hash.as_str())])?;
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let mut settings = ServerSettings::new(listen, server_threads, tokens);
    settings.backend = Backend::Soft;
    let server = ComputeServer::bind(settings)?;
    let addr = server.local_addr();
    println!(
        "\nremote pricing: compute server with {server_threads} threads on {addr} (soft iWARP)"
    );

    let rounds = |cost: u64| -> u64 {
        let full = (2_000_000 / cost.max(1_000)).clamp(30, 2_000);
        if quick { full.min(20) } else { full }
    };

    // Baseline: a SEND round trip of the same sizes.
    let echo = Echo::start()?;
    let (mut ch, _pd, _dev) = echo.connect()?;
    let out = [0u8; JOB_LEN];
    let mut back = [0u8; RESULT_LEN];
    let n = rounds(1);
    warm_up(n / 4 + 1, |_| echo_once(&mut ch, &out, &mut back))?;
    let base = measure("send rtt 136/88 B", n, |_, _| {
        echo_once(&mut ch, &out, &mut back)
    })?;
    drop(ch);
    drop(echo);

    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let mut client = ComputeClient::connect(Backend::Soft, addr, ACCOUNT, TOKEN)?;
    let sizes: [(u64, u64); 5] = [(0, 0), (100, 10), (1_000, 10), (10_000, 10), (100_000, 10)];
    let mut rows = vec![base.clone()];
    let mut break_even = None;
    for (paths, steps) in sizes {
        let size = if paths == 0 { 1 } else { paths * steps };
        let label = if paths == 0 {
            "1 option (black-scholes)".to_owned()
        } else {
            format!("{size} path-steps")
        };
        let j = job(size, paths, steps);
        let n = rounds(size);
        let local_job = || {
            let r = execute(&j);
            ensure!(r.status == Status::Done, "{:?}", r.status);
            Ok(r.price)
        };
        one.install(|| warm_up(n / 4 + 1, |_| local_job()))?;
        let local =
            one.install(|| measure(format!("local 1 thread, {label}"), n, |_, _| local_job()))?;
        warm_up(n / 4 + 1, |_| call(&mut client, &j))?;
        let remote = measure(format!("remote, {label}"), n, |_, _| call(&mut client, &j))?;
        let (l, r) = (local.percentiles().p50, remote.percentiles().p50);
        println!(
            "{label}: remote p50 {:.1} us = {:.2}x (send rtt p50 + local p50)",
            r as f64 / 1e3,
            r as f64 / (base.percentiles().p50 + l).max(1) as f64
        );
        if break_even.is_none() && r < l {
            break_even = Some(label.clone());
        }
        rows.push(local);
        rows.push(remote);
    }
    print_table(
        "Remote vs local, one request (per job)",
        Unit::Micros,
        &rows,
    )?;
    match break_even {
        Some(label) => println!("break-even: remote beats local single-thread from {label}"),
        None => println!("break-even: not reached up to 10^6 path-steps"),
    }
    drop(client);

    // Four clients at once.
    let (paths, steps) = (1_000, 10);
    let n = rounds(paths * steps);
    let runs = thread::scope(|s| -> Result<Vec<Run>> {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                s.spawn(move || -> Result<Run> {
                    let mut c = ComputeClient::connect(Backend::Soft, addr, ACCOUNT, TOKEN)?;
                    let j = job(i, paths, steps);
                    warm_up(n / 4 + 1, |_| call(&mut c, &j))?;
                    measure(
                        format!("client {i}, {} path-steps", paths * steps),
                        n,
                        |_, _| call(&mut c, &j),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("client thread panicked"))?
            })
            .collect()
    })?;
    print_table("4 clients at once (per job)", Unit::Micros, &runs)?;
    let p50s: Vec<u64> = runs.iter().map(|r| r.percentiles().p50).collect();
    let (min, max) = (
        p50s.iter().copied().min().unwrap_or(0),
        p50s.iter().copied().max().unwrap_or(0),
    );
    println!(
        "fairness: fastest client p50 / slowest client p50 = {:.2} (1.00 is perfectly fair)",
        min as f64 / max.max(1) as f64
    );
    if let (Some(first), Some(last)) = (runs.first(), runs.last()) {
        print_ratio(last, first)?;
    }
    let stats = server.stats();
    ensure!(
        stats.busy == 0 && stats.invalid == 0,
        "the server refused jobs: {stats:?}"
    );
    Ok(())
}

/// One SEND of `out` and the wait for the echo into `back`.
fn echo_once(ch: &mut MessageChannel, out: &[u8], back: &mut [u8]) -> Result<()> {
    loop {
        match ch.try_send(out) {
            Ok(()) => break,
            Err(ChannelError::WouldBlock) => {
                ch.progress()?;
            }
            Err(e) => bail!("echo send: {e}"),
        }
    }
    loop {
        if ch.try_recv(back)?.is_some() {
            return Ok(());
        }
    }
}

/// A `MessageChannel` echo server on its own thread: answers each message with
/// [`RESULT_LEN`] bytes.
struct Echo {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<Result<()>>>,
}

impl Echo {
    fn start() -> Result<Echo> {
        let dev = Device::open(Backend::Soft)?;
        let pd = dev.alloc_pd();
        let listener = Listener::bind(&pd, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        let addr = listener.local_addr();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || -> Result<()> {
            let request = listener.accept(WAIT).context("echo accept")?;
            let mut ch = MessageChannel::accept(&dev, &pd, request, ChannelConfig::default())?;
            let mut buf = [0u8; JOB_LEN];
            let reply = [0u8; RESULT_LEN];
            while !flag.load(Ordering::Acquire) {
                match ch.try_recv(&mut buf) {
                    Ok(Some(_)) => loop {
                        match ch.try_send(&reply) {
                            Ok(()) => break,
                            Err(ChannelError::WouldBlock) => {
                                ch.progress()?;
                            }
                            Err(e) => return Err(e.into()),
                        }
                    },
                    Ok(None) => {}
                    Err(ChannelError::Disconnected) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        });
        Ok(Echo {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// A client channel, with the device and PD it was made from (kept alive with it).
    fn connect(&self) -> Result<(MessageChannel, ProtectionDomain, Device)> {
        let dev = Device::open(Backend::Soft)?;
        let pd = dev.alloc_pd();
        let ch = MessageChannel::connect(
            &dev,
            &pd,
            self.addr,
            ChannelConfig::default(),
            &ConnectParams::default(),
        )?;
        Ok((ch, pd, dev))
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("echo server: {e}"),
                Err(_) => eprintln!("echo server panicked"),
            }
        }
    }
}
