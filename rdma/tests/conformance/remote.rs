//! The two halves of a cross-backend run: one process per side, e.g. the hardware
//! backend on `siw0` inside the siw VM and the soft stack on the host, connected
//! through qemu's port forwards. Both are `#[ignore]`d tests driven by environment
//! variables (`deploy/siw/hw-conformance.sh` sets them):
//!
//! - `TICKWARP_REMOTE_BACKEND`: `soft` or `hardware`;
//! - `TICKWARP_REMOTE_LISTEN` (responder) / `TICKWARP_REMOTE_CONNECT` (initiator): the
//!   address to listen on or connect to;
//! - `TICKWARP_REMOTE_LOCAL` (optional): the local address that picks the device.
//!
//! The initiator reads a ring the responder fills with RDMA WRITEs, then runs a message
//! channel whose every message the responder echoes, then RDMA READs a region the
//! responder advertises in its private data (several segments' worth) and tells it
//! with a SEND that it is done. Each side checks every byte.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_rdma::channel::{ChannelConfig, ChannelError, MessageChannel};
use tickwarp_rdma::ring::{RingConfig, RingPoll, RingReader, RingWriter, RingWriterConfig};
use tickwarp_rdma::verbs::{
    Access, Backend, Completion, CompletionQueue, ConnectParams, Device, Listener, QpInit,
    QueuePair, RecvWr, RemoteAddr, SendWr, WcStatus,
};

use crate::util::{Deadline, Idle};

/// Messages through the ring and through the channel.
const MESSAGES: u64 = 500;
/// Bytes the initiator RDMA READs from the responder (more than one FPDU).
const READ_LEN: usize = 40_000;
/// Private data advertising the READ source: STag (4), tagged offset (8), length (4).
const READ_ADVERT: usize = 16;
/// Bound on each phase: a TCG guest is slow.
const PHASE: Duration = Duration::from_secs(120);

fn var(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set"))
}

fn backend() -> Result<Backend> {
    match var("TICKWARP_REMOTE_BACKEND")?.as_str() {
        "soft" => Ok(Backend::Soft),
        "hardware" => Ok(Backend::Hardware),
        other => bail!("TICKWARP_REMOTE_BACKEND={other}: expected soft or hardware"),
    }
}

fn addr(name: &str) -> Result<SocketAddr> {
    let text = var(name)?;
    text.parse()
        .with_context(|| format!("{name}={text} is not ip:port"))
}

fn device(fallback: IpAddr) -> Result<Device> {
    let local = match std::env::var("TICKWARP_REMOTE_LOCAL") {
        Ok(text) => text.parse().context("TICKWARP_REMOTE_LOCAL")?,
        Err(_) => fallback,
    };
    let backend = backend()?;
    let dev = Device::open_for(backend, local)?;
    ensure!(dev.backend() == backend, "got {:?}", dev.backend());
    println!(
        "REMOTE device {} ({:?}) for {local}",
        dev.name(),
        dev.backend()
    );
    Ok(dev)
}

/// Connect parameters: kernel siw as responder wants 50 ms after its MPA Reply.
fn params() -> ConnectParams {
    ConnectParams {
        settle: Duration::from_millis(50),
        timeout: Duration::from_secs(30),
        ..ConnectParams::default()
    }
}

/// Message `i`: its number, then a pattern; 8 to 96 bytes.
fn message(i: u64) -> Vec<u8> {
    let len = 8 + (i as usize * 11) % 89;
    let mut out = i.to_le_bytes().to_vec();
    out.extend((8..len).map(|k| (i as u8).wrapping_mul(29) ^ k as u8));
    out
}

fn ring_config() -> RingConfig {
    RingConfig {
        slot_size: 128,
        slot_count: 1024,
        ..RingConfig::default()
    }
}

fn channel_config() -> ChannelConfig {
    ChannelConfig {
        slots: 16,
        slot_size: 128,
        send_depth: 16,
    }
}

/// Responder: fills the initiator's ring, then echoes its channel messages.
pub(crate) fn responder() -> Result<()> {
    let listen = addr("TICKWARP_REMOTE_LISTEN")?;
    let dev = device(listen.ip())?;
    let pd = dev.try_alloc_pd()?;
    let listener = Listener::bind(&pd, listen)?;
    println!("REMOTE listening on {}", listener.local_addr());
    let req = listener.accept(PHASE).context("ring connection")?;
    let mut writer = RingWriter::accept(&dev, &pd, req, RingWriterConfig::default())?;
    for i in 1..=MESSAGES {
        ensure!(writer.publish(&message(i))? == i);
    }
    let deadline = Deadline::after(PHASE);
    let mut idle = Idle::new();
    while writer.in_flight() > 0 {
        let n = writer.reap()?;
        ensure!(!deadline.passed(), "ring WRITEs never completed");
        idle.idle(n);
    }
    println!("REMOTE ring published {MESSAGES}");
    let req = listener.accept(PHASE).context("channel connection")?;
    let mut ch = MessageChannel::accept(&dev, &pd, req, channel_config())?;
    let mut buf = [0u8; 128];
    let mut pending: Option<Vec<u8>> = None;
    let mut echoed = 0;
    let deadline = Deadline::after(PHASE);
    let mut idle = Idle::new();
    loop {
        let mut work = 0;
        if pending.is_none() {
            match ch.try_recv(&mut buf) {
                Ok(Some(len)) => {
                    pending = Some(buf[..len].to_vec());
                    work += 1;
                }
                Ok(None) => {}
                // The initiator closes once it has every echo; how the close surfaces
                // (a flush, or the status of a Terminate) is the transport's business.
                Err(e) if echoed == MESSAGES => {
                    println!("REMOTE peer closed the channel: {e}");
                    break;
                }
                Err(e) => return Err(e).context("channel receive"),
            }
        }
        if let Some(msg) = &pending {
            match ch.try_send(msg) {
                Ok(()) => {
                    pending = None;
                    echoed += 1;
                    work += 1;
                }
                Err(ChannelError::WouldBlock) => {}
                Err(e) => return Err(e).context("channel echo"),
            }
        }
        ensure!(!deadline.passed(), "channel: echoed {echoed} of {MESSAGES}");
        idle.idle(work);
    }
    serve_read(&dev, &pd, &listener)?;
    println!("REMOTE PASS responder ring={MESSAGES} channel={echoed} read={READ_LEN}");
    Ok(())
}

/// The READ source's bytes.
fn read_pattern() -> Vec<u8> {
    (0..READ_LEN)
        .map(|i| (i as u8).wrapping_mul(7) ^ (i >> 8) as u8)
        .collect()
}

/// Polls `cq` for one completion, progressing `qp` (soft), within [`PHASE`].
fn one_completion(cq: &CompletionQueue, qp: &QueuePair, what: &str) -> Result<Completion> {
    let deadline = Deadline::after(PHASE);
    let mut idle = Idle::new();
    let mut out = [Completion::default(); 1];
    loop {
        let work = qp.progress();
        if cq.poll(&mut out) == 1 {
            ensure!(out[0].status == WcStatus::Success, "{what}: {:?}", out[0]);
            return Ok(out[0]);
        }
        ensure!(!deadline.passed(), "{what}: no completion within {PHASE:?}");
        idle.idle(work);
    }
}

/// Responder side of the READ phase: advertises a remotely readable region in its
/// private data and serves the READ until the initiator's "done" SEND arrives.
fn serve_read(
    dev: &Device,
    pd: &tickwarp_rdma::verbs::ProtectionDomain,
    listener: &Listener,
) -> Result<()> {
    let source = pd.register(&read_pattern(), Access::REMOTE_READ)?;
    let inbox = pd.alloc_mr(8, Access::LOCAL_WRITE)?;
    let cq = dev.create_cq(8)?;
    let init = QpInit::new(&cq, &cq);
    let remote = source.remote(0);
    let mut advert = Vec::with_capacity(READ_ADVERT);
    advert.extend_from_slice(&remote.stag.to_be_bytes());
    advert.extend_from_slice(&remote.offset.to_be_bytes());
    advert.extend_from_slice(&(READ_LEN as u32).to_be_bytes());
    let req = listener.accept(PHASE).context("read connection")?;
    let (qp, _) = req.accept_prepared(&init, &advert, |qp| {
        qp.post_recv(&RecvWr {
            wr_id: 1,
            sgl: &[inbox.sge(0, 8)],
        })
    })?;
    let done = one_completion(&cq, &qp, "the initiator's done SEND")?;
    ensure!(done.byte_len == 4, "done SEND of {} bytes", done.byte_len);
    println!("REMOTE read served {READ_LEN}");
    Ok(())
}

/// Initiator: reads the responder's ring, then sends channel messages and checks the
/// echoes.
pub(crate) fn initiator() -> Result<()> {
    let peer = addr("TICKWARP_REMOTE_CONNECT")?;
    let dev = device(IpAddr::from([127, 0, 0, 1]))?;
    let pd = dev.try_alloc_pd()?;
    let mut reader = RingReader::connect(&dev, &pd, peer, ring_config(), &params())?;
    let mut out = [0u8; 128];
    let mut next = 1;
    let deadline = Deadline::after(PHASE);
    let mut idle = Idle::new();
    while next <= MESSAGES {
        match reader.poll(&mut out)? {
            RingPoll::Message { seq, len } => {
                ensure!(seq == next, "ring: expected {next}, got {seq}");
                ensure!(out[..len] == message(seq)[..], "ring message {seq} differs");
                next += 1;
                idle.idle(1);
            }
            RingPoll::Gap { expected, found } => bail!("ring gap {expected}..{found}"),
            RingPoll::Empty => {
                ensure!(!deadline.passed(), "ring: got {} of {MESSAGES}", next - 1);
                idle.idle(0);
            }
        }
    }
    println!("REMOTE ring read {MESSAGES}");
    let mut ch = MessageChannel::connect(&dev, &pd, peer, channel_config(), &params())?;
    let (mut sent, mut got) = (0u64, 0u64);
    let mut buf = [0u8; 128];
    let deadline = Deadline::after(PHASE);
    let mut idle = Idle::new();
    while got < MESSAGES {
        let mut work = 0;
        if sent < MESSAGES {
            match ch.try_send(&message(sent + 1)) {
                Ok(()) => {
                    sent += 1;
                    work += 1;
                }
                Err(ChannelError::WouldBlock) => {}
                Err(e) => return Err(e).context("channel send"),
            }
        }
        if let Some(len) = ch.try_recv(&mut buf)? {
            got += 1;
            ensure!(buf[..len] == message(got)[..], "echo {got} differs");
            work += 1;
        }
        ensure!(!deadline.passed(), "channel: {got} of {MESSAGES} echoes");
        idle.idle(work);
    }
    ch.disconnect();
    read_remote(&dev, &pd, peer)?;
    println!("REMOTE PASS initiator ring={MESSAGES} channel={got} read={READ_LEN}");
    Ok(())
}

/// Initiator side of the READ phase: RDMA READ of the advertised region, byte check,
/// then a 4-byte SEND that tells the responder it may go.
fn read_remote(
    dev: &Device,
    pd: &tickwarp_rdma::verbs::ProtectionDomain,
    peer: SocketAddr,
) -> Result<()> {
    let cq = dev.create_cq(8)?;
    let init = QpInit::new(&cq, &cq);
    let (qp, info) = pd.connect(peer, &init, &params())?;
    let advert = info
        .private_data
        .get(..READ_ADVERT)
        .context("no READ advert")?;
    let field = |range: std::ops::Range<usize>| advert.get(range).unwrap_or_default();
    let stag = u32::from_be_bytes(field(0..4).try_into()?);
    let offset = u64::from_be_bytes(field(4..12).try_into()?);
    let len = u32::from_be_bytes(field(12..16).try_into()?);
    ensure!(len as usize == READ_LEN, "advertised {len} bytes");
    let sink = pd.alloc_mr(READ_LEN, Access::LOCAL_WRITE)?;
    qp.post_send(&SendWr::rdma_read(
        1,
        &[sink.sge(0, len)],
        RemoteAddr { stag, offset },
    ))?;
    let read = one_completion(&cq, &qp, "the RDMA READ")?;
    ensure!(
        read.byte_len == len,
        "READ completed {} bytes",
        read.byte_len
    );
    let mut got = vec![0u8; READ_LEN];
    sink.read(0, &mut got)?;
    ensure!(
        got == read_pattern(),
        "READ data differs from the responder's region"
    );
    println!("REMOTE read {READ_LEN}");
    qp.post_send(&SendWr::send_inline(2, b"done"))?;
    one_completion(&cq, &qp, "the done SEND")?;
    qp.disconnect();
    Ok(())
}
