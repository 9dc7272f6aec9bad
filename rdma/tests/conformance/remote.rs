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
//! channel whose every message the responder echoes. Each side checks every byte.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_rdma::channel::{ChannelConfig, ChannelError, MessageChannel};
use tickwarp_rdma::ring::{RingConfig, RingPoll, RingReader, RingWriter, RingWriterConfig};
use tickwarp_rdma::verbs::{Backend, ConnectParams, Device, Listener};

use crate::util::{Deadline, Idle};

/// Messages through the ring and through the channel.
const MESSAGES: u64 = 500;
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
    println!("REMOTE PASS responder ring={MESSAGES} channel={echoed}");
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
    println!("REMOTE PASS initiator ring={MESSAGES} channel={got}");
    Ok(())
}
