//! Interop smoke tests of the soft-iWARP initiator against the Linux kernel iWARP stack
//! (`siw`) running `rping -s -P -a 10.0.2.15 -p 7174` in the qemu VM of
//! `../shared/siw-vm/` (see its README, "Wire spec"), reached on `127.0.0.1`.
//!
//! The tests that talk to the VM are `#[ignore]`d, so a plain `cargo test` needs no VM
//! and reports them as ignored, not passed. `deploy/siw/interop-smoke.sh` boots the VM
//! and runs them with `--ignored` and `TICKWARP_SIW_PORT` naming the host port forwarded
//! to that rping server; run without the variable, each one fails. Run them with
//! `--test-threads=1`: they share one server.
//!
//! Every test drives real rping iterations through the public verbs API: Send the
//! 16-byte `{buf, rkey, size}` advertisement of a remotely readable source buffer, let
//! our stack answer the server's RDMA Read, take the server's "go ahead" Send, advertise
//! a remotely writable sink, take the server's RDMA Write and second "go ahead", and
//! compare sink and source. Every wait is bounded; a failure names the iteration and
//! step and dumps the first bytes of both stream directions.
//!
//! These tests must only talk to `127.0.0.1`, and never edit the stack under test.

mod util;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_rdma::verbs::{
    Access, Backend, Completion, CompletionQueue, ConnectInfo, ConnectParams, Device, FrameTap,
    MemoryRegion, MpaRevision, QpInit, QpState, QueuePair, RecvWr, SendWr, TapDirection, WcOpcode,
    WcStatus,
};
use util::{Deadline, Idle};

/// Names the host port forwarded to the VM's rping server.
const PORT_VAR: &str = "TICKWARP_SIW_PORT";

/// rping's default `-S` size: the bytes read from the source and written to the sink.
const RPING_SIZE: usize = 64;

/// `struct rping_rdma_info { __be64 buf; __be32 rkey; __be32 size; }`.
const ADV_LEN: usize = 16;

/// Registered size of the source and sink regions.
const REGION_LEN: usize = 4096;

/// Tagged offset advertised inside each region (non-zero, like rping's virtual address).
const BUF_OFFSET: u64 = 128;

/// Receive buffers kept posted for the server's "go ahead" Sends.
const RECV_SLOTS: usize = 4;

/// Bytes per receive slot (the server sends exactly `ADV_LEN`; more would be an error).
const RECV_SLOT_LEN: usize = 64;

/// rping iterations per connection.
const ITERATIONS: usize = 8;

/// Bound on each step of an iteration (the VM runs under TCG: milliseconds per FPDU).
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Bound on the connection setup (TCP + MPA, the markers fallback included).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause after the MPA Reply before our first FPDU (the siw passive-side race).
const SETTLE: Duration = Duration::from_millis(50);

/// Stream bytes kept per direction for the failure dump.
const TAP_KEEP: usize = 4096;

/// Stream bytes printed per direction on failure.
const TAP_SHOW: usize = 512;

/// The VM's forwarded address; an error naming what to set when the variable is unset.
fn vm_addr(test: &str) -> Result<SocketAddr> {
    let Some(raw) = std::env::var_os(PORT_VAR) else {
        bail!(
            "{test}: set {PORT_VAR}=<host port forwarded to a siw VM running \
             `rping -s -P -a 10.0.2.15 -p 7174`> (deploy/siw/interop-smoke.sh does)"
        );
    };
    let text = raw
        .to_str()
        .with_context(|| format!("{PORT_VAR} is not valid UTF-8"))?;
    let port: u16 = text
        .trim()
        .parse()
        .with_context(|| format!("{PORT_VAR}={text:?} is not a TCP port"))?;
    ensure!(port != 0, "{PORT_VAR}=0 is not a usable port");
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Keeps the first `TAP_KEEP` bytes of each stream direction (MPA handshake included).
#[derive(Default)]
struct RecordingTap {
    streams: Mutex<Streams>,
}

#[derive(Default)]
struct Streams {
    sent: Vec<u8>,
    received: Vec<u8>,
    opened: usize,
}

impl FrameTap for RecordingTap {
    fn on_open(&self, local: SocketAddr, peer: SocketAddr) {
        let mut s = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        s.opened += 1;
        // A markers fallback opens a second stream: keep the one that carries data.
        s.sent.clear();
        s.received.clear();
        let _ = (local, peer);
    }

    fn on_bytes(&self, direction: TapDirection, bytes: &[u8]) {
        let mut s = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let buf = match direction {
            TapDirection::Sent => &mut s.sent,
            TapDirection::Received => &mut s.received,
        };
        let room = TAP_KEEP.saturating_sub(buf.len());
        buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl RecordingTap {
    /// Copies of both directions of the last stream (sent, received).
    fn streams(&self) -> (Vec<u8>, Vec<u8>) {
        let s = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        (s.sent.clone(), s.received.clone())
    }

    /// Streams opened so far (two after a markers fallback).
    fn opened(&self) -> usize {
        self.streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .opened
    }

    /// Hex dump of the start of both directions of the last stream.
    fn dump(&self) -> String {
        let s = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = format!("streams opened: {}\n", s.opened);
        for (name, bytes) in [("sent", &s.sent), ("received", &s.received)] {
            let _ = writeln!(
                out,
                "{name} ({} bytes kept, first {} shown):",
                bytes.len(),
                bytes.len().min(TAP_SHOW)
            );
            for line in bytes[..bytes.len().min(TAP_SHOW)].chunks(32) {
                let _ = writeln!(out, "  {}", hex(line));
            }
        }
        out
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// rping's source string for iteration `ping` (rping.c `rping_test_client`):
/// `"rdma-ping-%d: "`, then an ASCII ramp `A..z` starting at `start`, NUL-terminated.
fn rping_message(ping: usize, start: u8) -> [u8; RPING_SIZE] {
    let mut msg = [0u8; RPING_SIZE];
    let head = format!("rdma-ping-{ping}: ");
    let head = &head.as_bytes()[..head.len().min(RPING_SIZE)];
    msg[..head.len()].copy_from_slice(head);
    let mut c = start;
    for b in &mut msg[head.len()..] {
        *b = c;
        c = if c >= b'z' { b'A' } else { c + 1 };
    }
    msg[RPING_SIZE - 1] = 0;
    msg
}

/// The ramp start of the iteration after one that started at `start`.
fn next_start(start: u8) -> u8 {
    if start >= b'z' { b'A' } else { start + 1 }
}

/// The 16-byte `rping_rdma_info` advertisement, all fields big-endian.
fn advertisement(mr: &MemoryRegion, offset: u64, size: usize) -> [u8; ADV_LEN] {
    let mut adv = [0u8; ADV_LEN];
    adv[..8].copy_from_slice(&offset.to_be_bytes());
    adv[8..12].copy_from_slice(&mr.rkey().to_be_bytes());
    adv[12..].copy_from_slice(&(size as u32).to_be_bytes());
    adv
}

/// One connected rping client: QP, CQ, regions, and the tap for diagnostics.
struct Client {
    _dev: Device,
    cq: CompletionQueue,
    qp: QueuePair,
    info: ConnectInfo,
    source: MemoryRegion,
    sink: MemoryRegion,
    recv: MemoryRegion,
    tap: Arc<RecordingTap>,
    next_wr: u64,
}

impl Client {
    /// Connects to the rping server at `addr` with `params` (settle and timeout are set
    /// here) and posts the receive buffers.
    fn connect(addr: SocketAddr, params: ConnectParams) -> Result<Client> {
        let dev = Device::open(Backend::Soft)?;
        let pd = dev.alloc_pd();
        let cq = dev.create_cq(64)?;
        let source = pd.alloc_mr(REGION_LEN, Access::REMOTE_READ)?;
        let sink = pd.alloc_mr(REGION_LEN, Access::REMOTE_WRITE | Access::LOCAL_WRITE)?;
        let recv = pd.alloc_mr(RECV_SLOTS * RECV_SLOT_LEN, Access::LOCAL_WRITE)?;
        let tap = Arc::new(RecordingTap::default());
        let dyn_tap: Arc<dyn FrameTap> = tap.clone();
        let init = QpInit {
            ird: 4,
            ord: 4,
            tap: Some(&dyn_tap),
            ..QpInit::new(&cq, &cq)
        };
        let params = ConnectParams {
            settle: SETTLE,
            timeout: CONNECT_TIMEOUT,
            ..params
        };
        let (qp, info) = match pd.connect(addr, &init, &params) {
            Ok(done) => done,
            Err(e) => bail!("connect to {addr} ({params:?}) failed: {e}\n{}", tap.dump()),
        };
        println!("connected: {info:?}");
        let client = Client {
            _dev: dev,
            cq,
            qp,
            info,
            source,
            sink,
            recv,
            tap,
            next_wr: 1,
        };
        for slot in 0..RECV_SLOTS {
            client.post_recv(slot)?;
        }
        Ok(client)
    }

    fn post_recv(&self, slot: usize) -> Result<()> {
        let sge = [self
            .recv
            .sge((slot * RECV_SLOT_LEN) as u64, RECV_SLOT_LEN as u32)];
        self.qp
            .post_recv(&RecvWr {
                wr_id: slot as u64,
                sgl: &sge,
            })
            .with_context(|| format!("post_recv slot {slot}"))
    }

    /// Sends `adv` and waits for its completion and for the server's next "go ahead"
    /// Send; re-posts the receive that took it.
    fn send_and_await_go_ahead(&mut self, adv: &[u8; ADV_LEN], step: &str) -> Result<()> {
        let wr_id = 1000 + self.next_wr;
        self.next_wr += 1;
        self.qp
            .post_send(&SendWr::send_inline(wr_id, adv))
            .with_context(|| format!("{step}: post_send"))?;
        let mut sent = false;
        let mut go_ahead: Option<Completion> = None;
        let deadline = Deadline::after(STEP_TIMEOUT);
        let mut idle = Idle::new();
        let mut wcs = [Completion::default(); 8];
        while !(sent && go_ahead.is_some()) {
            let n = self.cq.poll(&mut wcs);
            for wc in &wcs[..n] {
                ensure!(
                    wc.status == WcStatus::Success,
                    "{step}: completion failed: {wc:?}\n{}",
                    self.tap.dump()
                );
                match wc.opcode {
                    WcOpcode::Send if wc.wr_id == wr_id => sent = true,
                    WcOpcode::Recv if go_ahead.is_none() => go_ahead = Some(*wc),
                    _ => bail!("{step}: unexpected completion {wc:?}"),
                }
            }
            if self.qp.state() == QpState::Error {
                bail!(
                    "{step}: QP entered the Error state (peer closed or Terminate); \
                     send completed: {sent}, go-ahead: {go_ahead:?}\n{}",
                    self.tap.dump()
                );
            }
            if deadline.passed() {
                bail!(
                    "{step}: timed out after {STEP_TIMEOUT:?} (send completed: {sent}, \
                     go-ahead received: {})\n{}",
                    go_ahead.is_some(),
                    self.tap.dump()
                );
            }
            idle.idle(n);
        }
        let Some(wc) = go_ahead else {
            bail!("{step}: no go-ahead completion")
        };
        ensure!(
            wc.byte_len as usize == ADV_LEN,
            "{step}: the server's go-ahead Send carried {} bytes, rping sends {ADV_LEN}",
            wc.byte_len
        );
        let slot = usize::try_from(wc.wr_id)?;
        let mut payload = [0u8; ADV_LEN];
        self.recv.read(slot * RECV_SLOT_LEN, &mut payload)?;
        ensure!(
            payload == [0u8; ADV_LEN],
            "{step}: rping's go-ahead is 16 zero bytes, got {}",
            hex(&payload)
        );
        self.post_recv(slot)
    }

    /// One rping iteration (README "Wire spec", steps 2-8) and the data check.
    fn iteration(&mut self, ping: usize, start: u8) -> Result<()> {
        let msg = rping_message(ping, start);
        self.source.write(BUF_OFFSET as usize, &msg)?;
        self.sink
            .write(BUF_OFFSET as usize, &[0u8; RPING_SIZE])
            .context("clear the sink")?;
        let read_adv = advertisement(&self.source, BUF_OFFSET, RPING_SIZE);
        self.send_and_await_go_ahead(
            &read_adv,
            &format!("iteration {ping}: source advertisement -> server RDMA Read -> go-ahead"),
        )?;
        let write_adv = advertisement(&self.sink, BUF_OFFSET, RPING_SIZE);
        self.send_and_await_go_ahead(
            &write_adv,
            &format!("iteration {ping}: sink advertisement -> server RDMA Write -> go-ahead"),
        )?;
        let mut got = [0u8; RPING_SIZE];
        self.sink.read(BUF_OFFSET as usize, &mut got)?;
        ensure!(
            got == msg,
            "iteration {ping}: sink differs from source\n  source {}\n  sink   {}",
            hex(&msg),
            hex(&got)
        );
        Ok(())
    }

    /// Runs `ITERATIONS` rping iterations.
    fn run_pings(&mut self) -> Result<()> {
        let mut start = b'A';
        for ping in 0..ITERATIONS {
            self.iteration(ping, start)?;
            start = next_start(start);
        }
        ensure!(
            self.qp.state() == QpState::Rts,
            "QP left RTS after {ITERATIONS} iterations"
        );
        println!("{ITERATIONS} rping iterations verified ({:?})", self.info);
        Ok(())
    }

    /// Checks the CRC field of the first FPDU in each direction: a valid CRC32c when
    /// CRC was negotiated, zero otherwise (README "Wire spec", Encodings).
    fn check_first_fpdus(&self) -> Result<()> {
        let (sent, received) = self.tap.streams();
        for (name, stream) in [("sent", &sent), ("received", &received)] {
            let (covered, crc) = first_fpdu(stream)
                .with_context(|| format!("no complete FPDU in the {name} stream"))?;
            if self.info.crc {
                let want = crc32c::crc32c(covered);
                ensure!(
                    crc == want,
                    "{name}: first FPDU CRC {crc:#010x}, want {want:#010x} over {}",
                    hex(covered)
                );
            } else {
                ensure!(crc == 0, "{name}: CRC off but the CRC field is {crc:#010x}");
            }
        }
        Ok(())
    }

    /// Closes the connection (FIN; rping expects no Terminate in a clean run).
    fn disconnect(&self) {
        self.qp.disconnect();
    }
}

/// MPA Request/Reply key (RFC 5044 §7.1) and header length (key + flags, rev, PD len).
const MPA_REQ_KEY: &[u8; 16] = b"MPA ID Req Frame";
const MPA_REP_KEY: &[u8; 16] = b"MPA ID Rep Frame";
const MPA_HEADER_LEN: usize = 20;

/// Length of the MPA Request or Reply that opens `stream`.
fn setup_frame_len(stream: &[u8]) -> Option<usize> {
    let pd_len = u16::from_be_bytes([*stream.get(18)?, *stream.get(19)?]);
    Some(MPA_HEADER_LEN + usize::from(pd_len))
}

/// The first FPDU after the setup frame: the bytes its CRC covers (length, ULPDU, pad)
/// and the CRC field, read least-significant byte first (RFC 5044 §4.4, as siw stores it).
fn first_fpdu(stream: &[u8]) -> Option<(&[u8], u32)> {
    let fpdu = stream.get(setup_frame_len(stream)?..)?;
    let ulpdu_len = usize::from(u16::from_be_bytes([*fpdu.first()?, *fpdu.get(1)?]));
    let covered = (2 + ulpdu_len).next_multiple_of(4);
    let crc = fpdu.get(covered..covered + 4)?;
    Some((
        fpdu.get(..covered)?,
        u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]),
    ))
}

/// The untagged Send FPDU (QN 0, MSN `msn`, MO 0, L=1, CRC field zero) carrying a
/// 16-byte advertisement: RFC 5041 §4.3/§4.4, RFC 5040 §4.3, as in the golden trace.
fn send_fpdu_without_crc(msn: u32, adv: &[u8; ADV_LEN]) -> Vec<u8> {
    let mut f = Vec::with_capacity(40);
    f.extend_from_slice(&34u16.to_be_bytes()); // 18-byte untagged header + 16 bytes
    f.extend_from_slice(&[0x41, 0x43]); // DDP: L, version 1; RDMAP: version 1, Send
    f.extend_from_slice(&0u32.to_be_bytes()); // reserved (no invalidate)
    f.extend_from_slice(&0u32.to_be_bytes()); // QN 0: Send queue
    f.extend_from_slice(&msn.to_be_bytes());
    f.extend_from_slice(&0u32.to_be_bytes()); // MO
    f.extend_from_slice(adv);
    f.extend_from_slice(&0u32.to_be_bytes()); // CRC field: present, zero when off
    f
}

/// Checks what every accepted siw connection negotiates.
fn check_common(info: &ConnectInfo) -> Result<()> {
    ensure!(
        !info.markers_rx && !info.markers_tx,
        "markers in use: {info:?}"
    );
    ensure!(info.rtr.is_none(), "unexpected peer-to-peer mode: {info:?}");
    ensure!(
        info.peer_addr.ip().is_loopback(),
        "not a loopback peer: {info:?}"
    );
    Ok(())
}

/// Runs the pings, checks the first FPDU of each direction, disconnects.
fn pings_then_disconnect(mut client: Client) -> Result<()> {
    client.run_pings()?;
    client.check_first_fpdus()?;
    client.disconnect();
    Ok(())
}

#[test]
#[ignore = "needs the siw VM: deploy/siw/interop-smoke.sh runs it with --ignored"]
fn rping_mpa_v2_without_crc() -> Result<()> {
    let addr = vm_addr("rping_mpa_v2_without_crc")?;
    let client = Client::connect(addr, ConnectParams::default())?;
    let info = &client.info;
    check_common(info)?;
    ensure!(
        info.revision == 2,
        "revision {} (want 2): {info:?}",
        info.revision
    );
    ensure!(!info.crc, "CRC on although not requested: {info:?}");
    ensure!(!info.markers_refused, "{info:?}");
    ensure!(
        info.ird >= 1 && info.ord >= 1,
        "IRD/ORD not negotiated: {info:?}"
    );
    pings_then_disconnect(client)
}

/// RFC 6581 peer-to-peer setup with us as the initiator: siw answers with the RTR type
/// it picked and waits for our zero-length RTR before it sends anything.
#[test]
#[ignore = "needs the siw VM: deploy/siw/interop-smoke.sh runs it with --ignored"]
fn rping_peer_to_peer_rtr() -> Result<()> {
    let addr = vm_addr("rping_peer_to_peer_rtr")?;
    let params = ConnectParams {
        p2p: true,
        ..ConnectParams::default()
    };
    let mut client = Client::connect(addr, params)?;
    let info = &client.info;
    ensure!(
        info.rtr.is_some(),
        "peer-to-peer mode not negotiated: {info:?}"
    );
    ensure!(info.revision == 2, "revision {}: {info:?}", info.revision);
    client.run_pings()?;
    client.disconnect();
    Ok(())
}

#[test]
#[ignore = "needs the siw VM: deploy/siw/interop-smoke.sh runs it with --ignored"]
fn rping_mpa_v2_with_crc() -> Result<()> {
    let addr = vm_addr("rping_mpa_v2_with_crc")?;
    let params = ConnectParams {
        crc: true,
        ..ConnectParams::default()
    };
    let client = Client::connect(addr, params)?;
    let info = &client.info;
    check_common(info)?;
    ensure!(
        info.revision == 2,
        "revision {} (want 2): {info:?}",
        info.revision
    );
    ensure!(info.crc, "siw did not echo the C bit: {info:?}");
    ensure!(
        info.ird >= 1 && info.ord >= 1,
        "IRD/ORD not negotiated: {info:?}"
    );
    pings_then_disconnect(client)
}

/// MPA revision 1 carries no IRD/ORD (RFC 6581 §9 needs revision 2), so siw hands IRD =
/// ORD = 0 to rping's `rdma_accept(id, NULL)`, which takes those values: the server's
/// QP has ORD 0 (`siw_qp_readq_init: ORD 0, IRD 0` with `SIWDEBUG=1`), its RDMA Read
/// post fails (`post send error -1` on the guest console) and it disconnects. Against
/// rping the iterations therefore cannot run with revision 1; this test checks what
/// can be checked (the v1 exchange and our first Send FPDU, byte for byte, and that
/// the server closed without a Terminate) and runs the full iterations should a
/// future server issue the Read.
#[test]
#[ignore = "needs the siw VM: deploy/siw/interop-smoke.sh runs it with --ignored"]
fn rping_mpa_v1() -> Result<()> {
    let addr = vm_addr("rping_mpa_v1")?;
    let params = ConnectParams {
        revision: MpaRevision::V1,
        ..ConnectParams::default()
    };
    let mut client = Client::connect(addr, params)?;
    let info = &client.info;
    check_common(info)?;
    ensure!(
        info.revision == 1,
        "revision {} (want 1): {info:?}",
        info.revision
    );
    ensure!(!info.crc, "CRC on although not requested: {info:?}");
    let pings = client.run_pings();
    let Err(e) = pings else {
        return pings_then_disconnect(client);
    };
    let (sent, received) = client.tap.streams();
    let mut want_sent = MPA_REQ_KEY.to_vec();
    want_sent.extend_from_slice(&[0x00, 0x01, 0x00, 0x00]);
    want_sent.extend(send_fpdu_without_crc(
        1,
        &advertisement(&client.source, BUF_OFFSET, RPING_SIZE),
    ));
    let mut want_received = MPA_REP_KEY.to_vec();
    want_received.extend_from_slice(&[0x00, 0x01, 0x00, 0x00]);
    ensure!(
        client.qp.state() == QpState::Error && sent == want_sent && received == want_received,
        "MPA v1 against rping: {e:#}\nexpected exactly this exchange before the server's \
         disconnect:\n  sent     {}\n  received {}",
        hex(&want_sent),
        hex(&want_received)
    );
    println!(
        "rping_mpa_v1: v1 Request/Reply and our first Send FPDU are byte-exact; the rping \
         server then disconnected without a Terminate (siw passes IRD/ORD 0 for MPA v1, so \
         rping cannot post its RDMA Read): known limitation of the peer, not a wire error"
    );
    Ok(())
}

#[test]
#[ignore = "needs the siw VM: deploy/siw/interop-smoke.sh runs it with --ignored"]
fn markers_request_falls_back_cleanly() -> Result<()> {
    let addr = vm_addr("markers_request_falls_back_cleanly")?;
    let params = ConnectParams {
        markers: true,
        ..ConnectParams::default()
    };
    let client = Client::connect(addr, params)?;
    let info = &client.info;
    check_common(info)?;
    ensure!(
        info.markers_refused,
        "siw refuses markers, the fallback must be reported: {info:?}"
    );
    ensure!(
        client.tap.opened() == 2,
        "a markers fallback takes two TCP connections, saw {}",
        client.tap.opened()
    );
    ensure!(
        info.revision == 2,
        "revision {} (want 2): {info:?}",
        info.revision
    );
    pings_then_disconnect(client)
}

#[test]
fn first_fpdu_finds_length_and_crc() {
    let mut stream = MPA_REP_KEY.to_vec();
    stream.extend_from_slice(&[0x10, 0x02, 0x00, 0x04, 0x00, 0x01, 0x00, 0x01]);
    let fpdu = send_fpdu_without_crc(1, &[0u8; ADV_LEN]);
    stream.extend_from_slice(&fpdu);
    let (covered, crc) = first_fpdu(&stream).unwrap();
    assert_eq!(covered, &fpdu[..36]);
    assert_eq!(crc, 0);
    assert!(first_fpdu(&stream[..stream.len() - 1]).is_none());
    assert!(first_fpdu(&stream[..10]).is_none());
}

#[test]
fn rping_message_matches_rping_c() {
    let msg = rping_message(0, b'A');
    assert_eq!(&msg[..16], b"rdma-ping-0: ABC");
    assert_eq!(msg[RPING_SIZE - 1], 0);
    assert_eq!(msg[RPING_SIZE - 2], b'A' + (RPING_SIZE - 2 - 13) as u8);
    let wrapped = rping_message(11, b'z');
    assert_eq!(&wrapped[..17], b"rdma-ping-11: zAB");
    assert_eq!(next_start(b'z'), b'A');
    assert_eq!(next_start(b'A'), b'B');
}
