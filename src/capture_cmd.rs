//! `tickwarp capture`: a loopback soft-iWARP session recorded to a pcap file.
//!
//! Both ends run in this process on one thread (no busy-spinning: idle rounds yield);
//! the initiator's queue pair carries a [`PcapTap`], so the file holds the MPA
//! handshake and every FPDU exactly as they crossed the socket.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use tickwarp_rdma::capture::PcapTap;
use tickwarp_rdma::verbs::{
    Access, Backend, Completion, CompletionQueue, ConnectParams, Device, FrameTap, Listener,
    MpaRevision, QpInit, QueuePair, RecvWr, SendWr, WcStatus,
};
use tickwarp_runtime::clock::monotonic_now;

/// Options of `tickwarp capture`.
#[derive(Debug, Args)]
pub(crate) struct CaptureArgs {
    /// Where to write the pcap file.
    #[arg(long, short, default_value = "tickwarp.pcap")]
    out: PathBuf,
    /// Negotiate CRC32c on every FPDU.
    #[arg(long)]
    crc: bool,
    /// Use MPA revision 1 (RFC 5044) instead of 2 (RFC 6581).
    #[arg(long)]
    mpa_v1: bool,
    /// Bytes per SEND, RDMA WRITE and RDMA READ (larger than one FPDU: segmented).
    #[arg(long, default_value_t = 4096)]
    size: u32,
    /// How many SEND/WRITE/READ rounds to run.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
}

/// How long any step of the session may take before the command gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the session and writes the capture.
pub(crate) fn run(args: &CaptureArgs) -> Result<()> {
    ensure!(args.size > 0, "--size must be at least 1");
    let tap = open_tap(&args.out)?;
    session(args, tap.clone())?;
    finish_tap(tap, &args.out)?;
    println!(
        "wrote {}: {} rounds of SEND, RDMA WRITE and RDMA READ of {} bytes (MPA v{}, CRC {})",
        crate::shown(&args.out),
        args.rounds,
        args.size,
        if args.mpa_v1 { 1 } else { 2 },
        if args.crc { "on" } else { "off" }
    );
    Ok(())
}

/// Creates the pcap file of `tickwarp capture` or of a `--capture FILE` option.
pub(crate) fn open_tap(path: &Path) -> Result<Arc<PcapTap>> {
    let tap = PcapTap::create(path)
        .with_context(|| format!("cannot create capture file {}", crate::shown(path)))?;
    Ok(Arc::new(tap))
}

/// Completes the pcap file once every queue pair that used `tap` is gone.
pub(crate) fn finish_tap(tap: Arc<PcapTap>, path: &Path) -> Result<()> {
    let tap = Arc::try_unwrap(tap)
        .map_err(|_| anyhow::anyhow!("capture tap still in use after the session"))?;
    tap.finish()
        .with_context(|| format!("writing {}", crate::shown(path)))
}

/// Connects two soft QPs over loopback (the initiator tapped) and runs the rounds.
/// Every verbs object, and so every clone of the tap, is dropped when this returns.
fn session(args: &CaptureArgs, tap: Arc<PcapTap>) -> Result<()> {
    let dyn_tap: Arc<dyn FrameTap> = tap;
    let len = args.size as usize;

    let dev = Device::open(Backend::Soft)?;
    let pd = dev.alloc_pd();
    let cq_client = dev.create_cq(256)?;
    let cq_server = dev.create_cq(256)?;
    let listener = Listener::bind(&pd, SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let addr = listener.local_addr();

    let mut client_init = QpInit::new(&cq_client, &cq_client);
    client_init.tap = Some(&dyn_tap);
    client_init.max_message_size = u64::from(args.size).max(4096);
    let mut server_init = QpInit::new(&cq_server, &cq_server);
    server_init.max_message_size = client_init.max_message_size;
    let params = ConnectParams {
        private_data: b"tickwarp capture".to_vec(),
        crc: args.crc,
        revision: if args.mpa_v1 {
            MpaRevision::V1
        } else {
            MpaRevision::V2
        },
        ..ConnectParams::default()
    };

    let (client, server) = thread::scope(|s| -> Result<(QueuePair, QueuePair)> {
        let accepting = s.spawn(|| -> Result<QueuePair> {
            let request = listener.accept(STEP_TIMEOUT).context("accept")?;
            let (qp, _) = request
                .accept(&server_init, b"ok")
                .context("accept request")?;
            Ok(qp)
        });
        let connected = pd.connect(addr, &client_init, &params).context("connect");
        let server = accepting
            .join()
            .map_err(|_| anyhow::anyhow!("accepting thread panicked"))??;
        Ok((connected?.0, server))
    })?;

    let src = pd.alloc_mr(len, Access::LOCAL_WRITE | Access::REMOTE_READ)?;
    let dst = pd.alloc_mr(len, Access::LOCAL_WRITE | Access::REMOTE_WRITE)?;
    let recv = pd.alloc_mr(len, Access::LOCAL_WRITE)?;
    let sink = pd.alloc_mr(len, Access::LOCAL_WRITE)?;
    let qps = [&client, &server];

    for round in 0..args.rounds {
        src.fill_with(0, len, |at, chunk| {
            for (i, b) in chunk.iter_mut().enumerate() {
                *b = ((at + i) as u8).wrapping_add(round as u8);
            }
        })?;
        server.post_recv(&RecvWr {
            wr_id: 1,
            sgl: &[recv.sge(0, args.size)],
        })?;
        client.post_send(&SendWr::send(2, &[src.sge(0, args.size)]))?;
        expect(&cq_server, &qps, "the SEND to arrive")?;
        expect(&cq_client, &qps, "the SEND to complete")?;
        client.post_send(&SendWr::rdma_write(
            3,
            &[src.sge(0, args.size)],
            dst.remote(0),
        ))?;
        expect(&cq_client, &qps, "the RDMA WRITE to complete")?;
        client.post_send(&SendWr::rdma_read(
            4,
            &[sink.sge(0, args.size)],
            src.remote(0),
        ))?;
        expect(&cq_client, &qps, "the RDMA READ to complete")?;
        let (mut a, mut b) = (vec![0; len], vec![0; len]);
        src.read(0, &mut a)?;
        for (mr, what) in [(&recv, "received"), (&sink, "read back")] {
            mr.read(0, &mut b)?;
            ensure!(a == b, "round {round}: {what} bytes differ from the source");
        }
    }
    client.disconnect();
    Ok(())
}

/// Waits for one successful completion on `cq`, progressing `qps`, yielding when idle.
fn expect(cq: &CompletionQueue, qps: &[&QueuePair], what: &str) -> Result<()> {
    let deadline = monotonic_now().saturating_add(STEP_TIMEOUT);
    let mut out = [Completion::default(); 1];
    loop {
        for qp in qps {
            qp.progress();
        }
        if cq.poll(&mut out) == 1 {
            if out[0].status != WcStatus::Success {
                bail!("waiting for {what}: completion failed: {:?}", out[0]);
            }
            return Ok(());
        }
        if monotonic_now() >= deadline {
            bail!("timed out after {STEP_TIMEOUT:?} waiting for {what}");
        }
        thread::yield_now();
    }
}
