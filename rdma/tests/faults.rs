//! Fault-injection integration tests of the soft-iWARP stack over real TCP on
//! 127.0.0.1. Every connection runs through a proxy (`faults/proxy.rs`) that splits the
//! stream at every byte, coalesces it, flips one byte, stalls it or cuts it, and each
//! test checks what both QPs make of it: the data intact, or a clean error (a
//! Terminate, both QPs in Error, every outstanding work request flushed) — never a
//! hang, never a panic, and with CRC on never a byte placed from a corrupted FPDU.
//!
//! Offsets of corruptions count from the first FPDU byte (after the MPA Request or
//! Reply): RFC 5044 §4.1 `ULPDU_Length` (bytes 0–1), then the RFC 5041 §4 DDP header
//! (control byte 2, RDMAP control byte 3, tagged STag bytes 4–7 and TO 8–15, untagged
//! QN/MSN/MO up to byte 19), then the payload.
//!
//! No test asserts a duration: every wait is a bounded, yielding loop on a condition
//! (`util::WAIT`), and "nothing completes during a stall" is checked over a count of
//! progress rounds while the proxy provably holds the bytes.

mod util;

#[path = "faults/proxy.rs"]
mod proxy;

use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, ensure};
use proxy::{At, Dir, End, Faults, Pacing, Proxy, ProxyConfig};
use tickwarp_rdma::soft::wire::mpa::{MARKER_INTERVAL, MARKER_LEN};
use tickwarp_rdma::soft::wire::rdmap::{DdpTaggedCode, MpaErrorCode};
use tickwarp_rdma::soft::wire::{
    DdpFrame, Error as WireError, MpaFpduFrame, MpaFrame, RdmapRepr, RdmapTerminateCause,
};
use tickwarp_rdma::verbs::{
    Access, CmError, Completion, CompletionQueue, ConnectInfo, ConnectParams, FrameTap,
    ListenParams, Listener, MarkerPolicy, MpaError, QpInit, QpState, QueuePair, RecvWr, RemoteAddr,
    SendWr, TapDirection, WcOpcode, WcStatus,
};
use util::{Deadline, Idle, Side, WAIT, any_port, pattern, poll_until, progress_until};

/// Message sizes of the data-path tests: one byte, an odd size that needs MPA pad, two
/// FPDUs on loopback (MULPDU ≈ 64 KiB), and five.
const SIZES: [usize; 4] = [1, 4093, 70_001, 256 << 10];

/// Low byte of `ULPDU_Length` of the first FPDU.
const ULPDU_LENGTH_LO: u64 = 1;
/// DDP control byte (`T`, `L`, `DV` in the low two bits; RFC 5041 §4.2).
const DDP_CONTROL: u64 = 2;
/// Low byte of the Data Sink STag of a tagged segment (RFC 5041 §4.3): its key.
const STAG_KEY: u64 = 7;
/// First payload byte of a tagged segment: length (2) + tagged DDP header (14).
const TAGGED_PAYLOAD: u64 = 16;
/// First payload byte of an untagged segment: length (2) + untagged DDP header (18).
const UNTAGGED_PAYLOAD: u64 = 20;

/// Progress rounds during a stall in which nothing may complete.
const STALL_ROUNDS: usize = 200;
/// How long a listener waits for a connection request that a corruption spoiled (the
/// listener drops bad requests and keeps waiting, so this always runs out).
const SPOILED_ACCEPT: Duration = Duration::from_millis(500);

/// A QP pair connected through a fault-injecting proxy.
struct Rig {
    client: Side,
    server: Side,
    cqp: QueuePair,
    sqp: QueuePair,
    proxy: Proxy,
    /// CRC32c was negotiated.
    crc: bool,
    /// Markers were negotiated both ways.
    markers: bool,
}

/// Connects a client and a server QP through a proxy with `config`, CRC on or off.
fn rig(crc: bool, config: ProxyConfig) -> Result<Rig> {
    let params = ConnectParams {
        crc,
        ..ConnectParams::default()
    };
    rig_with(&params, ListenParams::default(), config)
}

/// Connects with explicit initiator and responder options through a proxy.
fn rig_with(params: &ConnectParams, listen: ListenParams, config: ProxyConfig) -> Result<Rig> {
    let crc = params.crc;
    let client = Side::new(256)?;
    let server = Side::new(256)?;
    let listener = Listener::bind_with(&server.pd, any_port(), listen)?;
    let proxy = Proxy::start(listener.local_addr(), config)?;
    let (cqp, cinfo, sqp, sinfo) = thread::scope(|s| -> Result<_> {
        let srv = s.spawn(|| -> Result<_> {
            let req = listener.accept(WAIT).context("accept")?;
            Ok(req.accept(&server.init(), b"")?)
        });
        let connected = client
            .pd
            .connect(proxy.addr(), &client.init(), params)
            .context("connect through the proxy");
        let (sqp, sinfo) = srv
            .join()
            .map_err(|_| anyhow!("server thread panicked"))??;
        let (cqp, cinfo) = connected?;
        Ok((cqp, cinfo, sqp, sinfo))
    })?;
    ensure!(
        cinfo.crc == crc && sinfo.crc == crc,
        "CRC negotiated as {}/{}, wanted {crc}",
        cinfo.crc,
        sinfo.crc
    );
    let markers = params.markers && listen.markers == MarkerPolicy::Request;
    ensure!(
        [
            cinfo.markers_rx,
            cinfo.markers_tx,
            sinfo.markers_rx,
            sinfo.markers_tx
        ] == [markers; 4],
        "markers negotiated as {cinfo:?} / {sinfo:?}, wanted {markers}"
    );
    Ok(Rig {
        client,
        server,
        cqp,
        sqp,
        proxy,
        crc,
        markers,
    })
}

/// The same pacing both ways.
fn paced(pacing: Pacing) -> ProxyConfig {
    ProxyConfig {
        to_server: Faults::paced(pacing),
        to_client: Faults::paced(pacing),
    }
}

/// Faults on the client-to-server direction only.
fn to_server(faults: Faults) -> ProxyConfig {
    ProxyConfig {
        to_server: faults,
        ..ProxyConfig::default()
    }
}

/// SEND/RECV, RDMA WRITE and RDMA READ of every size in [`SIZES`], data verified.
fn exercise(r: &Rig, seed: u8) -> Result<()> {
    for (i, &len) in SIZES.iter().enumerate() {
        let id = i as u64;
        let n = len as u32;
        let seed = seed.wrapping_add(3 * i as u8);

        let data = pattern(len, seed);
        let src = r.client.pd.register(&data, Access::NONE)?;
        let dst = r.server.pd.alloc_mr(len, Access::LOCAL_WRITE)?;
        r.sqp.post_recv(&RecvWr {
            wr_id: 100 + id,
            sgl: &[dst.sge(0, n)],
        })?;
        r.cqp.post_send(&SendWr::send(id, &[src.sge(0, n)]))?;
        let got = poll_until(&r.server.cq, 1, WAIT, &[&r.cqp])
            .with_context(|| format!("RECV of {len} bytes"))?;
        ensure!(
            (got[0].wr_id, got[0].opcode, got[0].status, got[0].byte_len)
                == (100 + id, WcOpcode::Recv, WcStatus::Success, n),
            "RECV of {len} bytes: {got:?}"
        );
        let sent = poll_until(&r.client.cq, 1, WAIT, &[&r.sqp])?;
        ensure!(
            (sent[0].wr_id, sent[0].opcode, sent[0].status)
                == (id, WcOpcode::Send, WcStatus::Success),
            "SEND of {len} bytes: {sent:?}"
        );
        ensure!(
            read_all(&dst)? == data,
            "SEND of {len} bytes arrived corrupted"
        );

        let data = pattern(len, seed.wrapping_add(1));
        let src = r.client.pd.register(&data, Access::NONE)?;
        let target = r.server.pd.alloc_mr(len, Access::REMOTE_WRITE)?;
        r.cqp
            .post_send(&SendWr::rdma_write(id, &[src.sge(0, n)], target.remote(0)))?;
        let done = poll_until(&r.client.cq, 1, WAIT, &[&r.sqp])?;
        ensure!(
            (done[0].opcode, done[0].status) == (WcOpcode::RdmaWrite, WcStatus::Success),
            "WRITE of {len} bytes: {done:?}"
        );
        // A passive target: progress it until the data is there.
        let mut out = vec![0u8; len];
        progress_until(&[&r.sqp, &r.cqp], WAIT, "the WRITE landed", || {
            target.read(0, &mut out).is_ok() && out == data
        })
        .with_context(|| format!("WRITE of {len} bytes"))?;

        let data = pattern(len, seed.wrapping_add(2));
        let source = r.server.pd.register(&data, Access::REMOTE_READ)?;
        let sink = r.client.pd.alloc_mr(len, Access::LOCAL_WRITE)?;
        r.cqp
            .post_send(&SendWr::rdma_read(id, &[sink.sge(0, n)], source.remote(0)))?;
        let done = poll_until(&r.client.cq, 1, WAIT, &[&r.sqp])
            .with_context(|| format!("READ of {len} bytes"))?;
        ensure!(
            (done[0].opcode, done[0].status, done[0].byte_len)
                == (WcOpcode::RdmaRead, WcStatus::Success, n),
            "READ of {len} bytes: {done:?}"
        );
        ensure!(
            read_all(&sink)? == data,
            "READ of {len} bytes arrived corrupted"
        );
    }
    ensure!(r.cqp.state() == QpState::Rts && r.sqp.state() == QpState::Rts);
    Ok(())
}

/// The whole content of a region.
fn read_all(mr: &tickwarp_rdma::MemoryRegion) -> Result<Vec<u8>> {
    let mut out = vec![0u8; mr.len()];
    mr.read(0, &mut out)?;
    Ok(out)
}

/// The causes of every Terminate the proxy passed on in `dir` (the MPA Request/Reply,
/// then FPDUs). Markers, when negotiated, are dropped first: RFC 5044 §4.3 puts one
/// every 512 octets counted from the first FPDU octet. With CRC, without markers (the
/// CRC then covers the marked bytes) and unless the proxy corrupted this direction,
/// every FPDU's CRC must match.
fn terminates(r: &Rig, dir: Dir) -> Result<Vec<RdmapTerminateCause>> {
    fn wire(what: &'static str, pos: usize) -> impl Fn(WireError) -> anyhow::Error {
        move |e| anyhow!("{what} at {pos}: {e}")
    }
    let captured = r.proxy.captured(dir);
    let handshake = MpaFrame::new_checked(&captured[..])
        .map_err(wire("MPA frame", 0))?
        .frame_len();
    let fpdus = captured.get(handshake..).unwrap_or_default();
    let stream: Vec<u8> = if r.markers {
        let marker = |i: usize| i % MARKER_INTERVAL < MARKER_LEN;
        (0..)
            .zip(fpdus)
            .filter(|(i, _)| !marker(*i))
            .map(|(_, &b)| b)
            .collect()
    } else {
        fpdus.to_vec()
    };
    let check_crc = r.crc && !r.markers && !r.proxy.stats(dir).corrupted;
    let mut pos = 0;
    let mut causes = Vec::new();
    while let Some(rest) = stream.get(pos..).filter(|r| !r.is_empty()) {
        let fpdu = MpaFpduFrame::new_checked(rest).map_err(wire("FPDU", pos))?;
        if check_crc {
            fpdu.check_crc().map_err(wire("FPDU CRC", pos))?;
        }
        let ddp = DdpFrame::new_checked(fpdu.ulpdu_ref()).map_err(wire("DDP header", pos))?;
        if let RdmapRepr::Terminate { terminate, .. } =
            RdmapRepr::parse(&ddp).map_err(wire("RDMAP message", pos))?
        {
            causes.push(terminate.cause);
        }
        pos += fpdu.total_len();
    }
    Ok(causes)
}

/// Progress rounds on both QPs and CQs (yielding idle); returns every completion seen.
fn settle(r: &Rig, rounds: usize) -> Vec<Completion> {
    let mut seen = Vec::new();
    let mut buf = [Completion::default(); 16];
    let mut idle = Idle::new();
    for _ in 0..rounds {
        let mut work = r.cqp.progress() + r.sqp.progress();
        for cq in [&r.client.cq, &r.server.cq] {
            let k = cq.poll(&mut buf);
            seen.extend_from_slice(&buf[..k]);
            work += k;
        }
        idle.idle(work);
    }
    seen
}

/// Polls `cq` until `n` completions, progressing both QPs.
fn poll_both(r: &Rig, cq: &CompletionQueue, n: usize, what: &str) -> Result<Vec<Completion>> {
    poll_until(cq, n, WAIT, &[&r.cqp, &r.sqp]).with_context(|| what.to_owned())
}

#[test]
fn byte_by_byte_stream_carries_every_operation_without_crc() -> Result<()> {
    let r = rig(false, paced(Pacing::ByteByByte))?;
    exercise(&r, 1)?;
    r.proxy.stop()
}

#[test]
fn byte_by_byte_stream_carries_every_operation_with_crc() -> Result<()> {
    let r = rig(true, paced(Pacing::ByteByByte))?;
    exercise(&r, 2)?;
    r.proxy.stop()
}

#[test]
fn coalesced_stream_carries_every_operation_without_crc() -> Result<()> {
    let r = rig(false, paced(Pacing::Coalesce { chunk: 192 << 10 }))?;
    exercise(&r, 3)?;
    r.proxy.stop()
}

#[test]
fn coalesced_stream_carries_every_operation_with_crc() -> Result<()> {
    let r = rig(true, paced(Pacing::Coalesce { chunk: 192 << 10 }))?;
    exercise(&r, 4)?;
    r.proxy.stop()
}

/// Both sides insert markers (RFC 5044 §5), and the initiator starts peer-to-peer with
/// an RTR (RFC 6581 §3): the stream is split at every byte, so markers, FPDU headers
/// and CRCs straddle every possible boundary.
fn markers_rig(crc: bool, config: ProxyConfig) -> Result<Rig> {
    let params = ConnectParams {
        crc,
        markers: true,
        p2p: true,
        ..ConnectParams::default()
    };
    let listen = ListenParams {
        markers: MarkerPolicy::Request,
        ..ListenParams::default()
    };
    rig_with(&params, listen, config)
}

#[test]
fn byte_by_byte_stream_with_markers_carries_every_operation_without_crc() -> Result<()> {
    let r = markers_rig(false, paced(Pacing::ByteByByte))?;
    exercise(&r, 5)?;
    r.proxy.stop()
}

#[test]
fn byte_by_byte_stream_with_markers_carries_every_operation_with_crc() -> Result<()> {
    let r = markers_rig(true, paced(Pacing::ByteByByte))?;
    exercise(&r, 6)?;
    r.proxy.stop()
}

/// What the corrupted message is.
#[derive(Clone, Copy, Debug)]
enum Op {
    Write,
    Send,
}

/// Sends one `op` of `len` bytes through `r`, whose proxy corrupts the client-to-server
/// stream, followed by a READ and a SEND; checks the connection ends cleanly: both QPs
/// in Error, every later request flushed on both sides, nothing placed in the target or
/// the READ sink. Returns the causes of the Terminates the server sent.
fn fails_cleanly(r: Rig, op: Op, len: usize) -> Result<Vec<RdmapTerminateCause>> {
    let n = len as u32;
    let data = pattern(len, 0x5c);
    let src = r.client.pd.register(&data, Access::NONE)?;
    // The WRITE target, and the receive buffer of the SEND.
    let target = r
        .server
        .pd
        .alloc_mr(len, Access::REMOTE_WRITE | Access::LOCAL_WRITE)?;
    let readable = r
        .server
        .pd
        .register(&pattern(64, 0x11), Access::REMOTE_READ)?;
    let sink = r.client.pd.alloc_mr(64, Access::LOCAL_WRITE)?;
    r.sqp.post_recv(&RecvWr {
        wr_id: 9,
        sgl: &[target.sge(0, n)],
    })?;
    let sgl = [src.sge(0, n)];
    let first = match op {
        Op::Write => SendWr::rdma_write(1, &sgl, target.remote(0)),
        Op::Send => SendWr::send(1, &sgl),
    };
    r.cqp.post_send(&first)?;
    r.cqp.post_send(&SendWr::rdma_read(
        2,
        &[sink.sge(0, 64)],
        readable.remote(0),
    ))?;
    r.cqp.post_send(&SendWr::send_inline(3, b"after"))?;

    let client = poll_both(&r, &r.client.cq, 3, "client completions")?;
    let server = poll_both(&r, &r.server.cq, 1, "server completions")?;
    progress_until(&[&r.cqp, &r.sqp], WAIT, "both QPs in Error", || {
        r.cqp.state() == QpState::Error && r.sqp.state() == QpState::Error
    })?;
    ensure!(
        r.proxy.stats(Dir::ToServer).corrupted,
        "the proxy never reached the byte to corrupt"
    );

    let ids: Vec<_> = client.iter().map(|c| c.wr_id).collect();
    ensure!(ids == [1, 2, 3], "client completions in order: {client:?}");
    // The corrupted message itself completed when it was handed to TCP (or was flushed).
    ensure!(
        matches!(client[0].status, WcStatus::Success | WcStatus::WrFlushError),
        "{client:?}"
    );
    // The READ was outstanding when the stream failed: the Terminate's status or a flush.
    ensure!(
        matches!(
            client[1].status,
            WcStatus::RemoteOperationError | WcStatus::RemoteAccessError | WcStatus::WrFlushError
        ),
        "{client:?}"
    );
    ensure!(client[2].status == WcStatus::WrFlushError, "{client:?}");
    ensure!(
        (server[0].wr_id, server[0].status) == (9, WcStatus::WrFlushError),
        "{server:?}"
    );
    ensure!(
        read_all(&target)?.iter().all(|&b| b == 0),
        "bytes of the refused FPDU were placed"
    );
    ensure!(
        read_all(&sink)?.iter().all(|&b| b == 0),
        "the READ after the refused FPDU was served"
    );
    let causes = terminates(&r, Dir::ToClient)?;
    r.proxy.stop()?;
    Ok(causes)
}

/// The Terminate of an RFC 5044 §8 CRC error: LLP layer, MPA, code 0x02.
const CRC_TERMINATE: RdmapTerminateCause = RdmapTerminateCause::Mpa(MpaErrorCode::CrcError);

#[test]
fn crc_catches_a_corrupted_write_payload_byte() -> Result<()> {
    let faults = Faults::corrupt(At::AfterHandshake(TAGGED_PAYLOAD + 1234), 0x01);
    let causes = fails_cleanly(rig(true, to_server(faults))?, Op::Write, 100_000)?;
    assert_eq!(causes, [CRC_TERMINATE]);
    Ok(())
}

#[test]
fn crc_catches_a_corrupted_stag_in_a_byte_by_byte_stream() -> Result<()> {
    let faults = Faults {
        pacing: Pacing::ByteByByte,
        ..Faults::corrupt(At::AfterHandshake(STAG_KEY), 0x80)
    };
    let causes = fails_cleanly(rig(true, to_server(faults))?, Op::Write, 3000)?;
    assert_eq!(causes, [CRC_TERMINATE]);
    Ok(())
}

#[test]
fn crc_catches_a_shortened_ulpdu_length() -> Result<()> {
    // A 1000-byte WRITE: ULPDU_Length 14 + 1000 = 0x03f6; flipping 0x04 makes it 0x03f2,
    // so the receiver checks the CRC of a shorter frame against payload bytes.
    let faults = Faults {
        pacing: Pacing::Coalesce { chunk: 64 << 10 },
        ..Faults::corrupt(At::AfterHandshake(ULPDU_LENGTH_LO), 0x04)
    };
    let causes = fails_cleanly(rig(true, to_server(faults))?, Op::Write, 1000)?;
    assert_eq!(causes, [CRC_TERMINATE]);
    Ok(())
}

#[test]
fn crc_catches_a_corrupted_crc_field() -> Result<()> {
    // A 1000-byte WRITE: 2 + 1014 bytes, no pad, then the CRC at 1016..1020.
    let faults = Faults::corrupt(At::AfterHandshake(1017), 0x08);
    let causes = fails_cleanly(rig(true, to_server(faults))?, Op::Write, 1000)?;
    assert_eq!(causes, [CRC_TERMINATE]);
    Ok(())
}

#[test]
fn crc_catches_a_corrupted_pad_byte() -> Result<()> {
    // A 1001-byte WRITE: 2 + 1015 bytes, pad at 1017..1020 (RFC 5044 §4.1: the CRC
    // covers the pad).
    let faults = Faults::corrupt(At::AfterHandshake(1018), 0x20);
    let causes = fails_cleanly(rig(true, to_server(faults))?, Op::Write, 1001)?;
    assert_eq!(causes, [CRC_TERMINATE]);
    Ok(())
}

#[test]
fn crc_catches_a_corrupted_send_payload_byte() -> Result<()> {
    let faults = Faults::corrupt(At::AfterHandshake(UNTAGGED_PAYLOAD + 777), 0x40);
    let causes = fails_cleanly(rig(true, to_server(faults))?, Op::Send, 100_000)?;
    assert_eq!(causes, [CRC_TERMINATE]);
    Ok(())
}

#[test]
fn crc_catches_a_corrupted_byte_in_a_marked_stream() -> Result<()> {
    // Offset 2000 of the marked stream is payload of the first WRITE FPDU (markers sit
    // at multiples of 512; 2000 % 512 = 464).
    let r = markers_rig(
        true,
        to_server(Faults::corrupt(At::AfterHandshake(2000), 0x10)),
    )?;
    let causes = fails_cleanly(r, Op::Write, 100_000)?;
    assert_eq!(causes, [CRC_TERMINATE]);
    Ok(())
}

#[test]
fn a_corrupted_marker_is_answered_with_a_terminate() -> Result<()> {
    // The marker at 512: 16 reserved bits, then FPDUPTR (bytes 514-515), which no longer
    // points at the start of its FPDU (RFC 5044 §8 error 3, marker error).
    let r = markers_rig(
        false,
        to_server(Faults::corrupt(At::AfterHandshake(515), 0x01)),
    )?;
    let causes = fails_cleanly(r, Op::Write, 100_000)?;
    assert_eq!(
        causes,
        [RdmapTerminateCause::Mpa(MpaErrorCode::MarkerError)]
    );
    Ok(())
}

#[test]
fn crc_catches_a_corrupted_read_response_at_the_requester() -> Result<()> {
    let r = rig(
        true,
        ProxyConfig {
            to_client: Faults::corrupt(At::AfterHandshake(TAGGED_PAYLOAD + 500), 0x02),
            ..ProxyConfig::default()
        },
    )?;
    let len = 100_000;
    let source = r
        .server
        .pd
        .register(&pattern(len, 0x66), Access::REMOTE_READ)?;
    let sink = r.client.pd.alloc_mr(len, Access::LOCAL_WRITE)?;
    let inbox = r.server.pd.alloc_mr(16, Access::LOCAL_WRITE)?;
    r.sqp.post_recv(&RecvWr {
        wr_id: 9,
        sgl: &[inbox.sge(0, 16)],
    })?;
    r.cqp.post_send(&SendWr::rdma_read(
        1,
        &[sink.sge(0, len as u32)],
        source.remote(0),
    ))?;
    let client = poll_both(&r, &r.client.cq, 1, "the READ fails")?;
    let server = poll_both(&r, &r.server.cq, 1, "the server flushes")?;
    progress_until(&[&r.cqp, &r.sqp], WAIT, "both QPs in Error", || {
        r.cqp.state() == QpState::Error && r.sqp.state() == QpState::Error
    })?;
    ensure!(r.proxy.stats(Dir::ToClient).corrupted);
    ensure!(
        client[0].wr_id == 1 && client[0].status != WcStatus::Success,
        "{client:?}"
    );
    ensure!(
        (server[0].wr_id, server[0].status) == (9, WcStatus::WrFlushError),
        "{server:?}"
    );
    ensure!(
        read_all(&sink)?.iter().all(|&b| b == 0),
        "bytes of the refused Read Response were placed"
    );
    // The requester, not the responder, detected it and told the peer.
    ensure!(terminates(&r, Dir::ToServer)? == [CRC_TERMINATE]);
    ensure!(terminates(&r, Dir::ToClient)?.is_empty());
    r.proxy.stop()
}

#[test]
fn crc_catches_a_lengthened_ulpdu_once_the_bytes_it_claims_arrive() -> Result<()> {
    // A 1000-byte WRITE: ULPDU_Length 0x03f6 becomes 0x43f6 (17398). The receiver waits
    // for that many bytes, which the next WRITE supplies, then the CRC check fails.
    let r = rig(
        true,
        to_server(Faults::corrupt(At::AfterHandshake(0), 0x40)),
    )?;
    let first = r.client.pd.register(&pattern(1000, 0x71), Access::NONE)?;
    let second = r
        .client
        .pd
        .register(&pattern(64 << 10, 0x72), Access::NONE)?;
    let t1 = r.server.pd.alloc_mr(1000, Access::REMOTE_WRITE)?;
    let t2 = r.server.pd.alloc_mr(64 << 10, Access::REMOTE_WRITE)?;
    let inbox = r.server.pd.alloc_mr(16, Access::LOCAL_WRITE)?;
    r.sqp.post_recv(&RecvWr {
        wr_id: 9,
        sgl: &[inbox.sge(0, 16)],
    })?;
    r.cqp
        .post_send(&SendWr::rdma_write(1, &[first.sge(0, 1000)], t1.remote(0)))?;
    // The Error state is only reached once the second WRITE completes the bogus FPDU.
    let early = settle(&r, STALL_ROUNDS);
    ensure!(
        r.sqp.state() == QpState::Rts && !early.iter().any(|c| c.wr_id == 9),
        "the receiver cannot know before the claimed bytes arrived: {early:?}"
    );
    r.cqp.post_send(&SendWr::rdma_write(
        2,
        &[second.sge(0, 64 << 10)],
        t2.remote(0),
    ))?;
    let server = poll_both(&r, &r.server.cq, 1, "the server flushes")?;
    ensure!(
        (server[0].wr_id, server[0].status) == (9, WcStatus::WrFlushError),
        "{server:?}"
    );
    progress_until(&[&r.cqp, &r.sqp], WAIT, "both QPs in Error", || {
        r.cqp.state() == QpState::Error && r.sqp.state() == QpState::Error
    })?;
    ensure!(read_all(&t1)?.iter().all(|&b| b == 0), "first WRITE placed");
    ensure!(
        read_all(&t2)?.iter().all(|&b| b == 0),
        "second WRITE placed"
    );
    ensure!(terminates(&r, Dir::ToClient)? == [CRC_TERMINATE]);
    r.proxy.stop()
}

#[test]
fn without_crc_a_corrupted_payload_byte_is_placed_silently() -> Result<()> {
    // RFC 5044 §4.4: without CRC, MPA relies on the TCP checksum alone; a byte changed
    // in flight past TCP is indistinguishable from data and is placed as received.
    let len = 100_000;
    let at = 4321;
    let r = rig(
        false,
        to_server(Faults::corrupt(
            At::AfterHandshake(TAGGED_PAYLOAD + at as u64),
            0x5a,
        )),
    )?;
    let data = pattern(len, 0x33);
    let src = r.client.pd.register(&data, Access::NONE)?;
    let target = r.server.pd.alloc_mr(len, Access::REMOTE_WRITE)?;
    r.cqp.post_send(&SendWr::rdma_write(
        1,
        &[src.sge(0, len as u32)],
        target.remote(0),
    ))?;
    // A SEND behind it proves the WRITE was processed and the QP is still up.
    let inbox = r.server.pd.alloc_mr(16, Access::LOCAL_WRITE)?;
    r.sqp.post_recv(&RecvWr {
        wr_id: 7,
        sgl: &[inbox.sge(0, 16)],
    })?;
    r.cqp.post_send(&SendWr::send_inline(2, b"still up"))?;
    let got = poll_both(&r, &r.server.cq, 1, "the SEND behind the WRITE")?;
    ensure!(
        (got[0].wr_id, got[0].status) == (7, WcStatus::Success),
        "{got:?}"
    );
    let sent = poll_both(&r, &r.client.cq, 2, "client completions")?;
    ensure!(
        sent.iter().all(|c| c.status == WcStatus::Success),
        "{sent:?}"
    );
    ensure!(r.proxy.stats(Dir::ToServer).corrupted);
    let mut expected = data;
    expected[at] ^= 0x5a;
    let placed = read_all(&target)?;
    ensure!(
        placed == expected,
        "the WRITE was placed with exactly the one byte changed"
    );
    ensure!(r.cqp.state() == QpState::Rts && r.sqp.state() == QpState::Rts);
    ensure!(terminates(&r, Dir::ToClient)?.is_empty(), "no Terminate");
    r.proxy.stop()
}

#[test]
fn without_crc_a_corrupted_pad_byte_is_ignored() -> Result<()> {
    // A 1001-byte WRITE: pad at 1017..1020. Pad carries nothing (RFC 5044 §4.1): the
    // data lands intact and the connection stays up.
    let len = 1001;
    let r = rig(
        false,
        to_server(Faults::corrupt(At::AfterHandshake(1018), 0x20)),
    )?;
    let data = pattern(len, 0x35);
    let src = r.client.pd.register(&data, Access::NONE)?;
    let target = r.server.pd.alloc_mr(len, Access::REMOTE_WRITE)?;
    let inbox = r.server.pd.alloc_mr(16, Access::LOCAL_WRITE)?;
    r.sqp.post_recv(&RecvWr {
        wr_id: 7,
        sgl: &[inbox.sge(0, 16)],
    })?;
    r.cqp.post_send(&SendWr::rdma_write(
        1,
        &[src.sge(0, len as u32)],
        target.remote(0),
    ))?;
    r.cqp.post_send(&SendWr::send_inline(2, b"still up"))?;
    let got = poll_both(&r, &r.server.cq, 1, "the SEND behind the WRITE")?;
    ensure!(
        (got[0].wr_id, got[0].status) == (7, WcStatus::Success),
        "{got:?}"
    );
    ensure!(r.proxy.stats(Dir::ToServer).corrupted);
    ensure!(read_all(&target)? == data, "the WRITE was placed intact");
    ensure!(r.cqp.state() == QpState::Rts && r.sqp.state() == QpState::Rts);
    r.proxy.stop()
}

#[test]
fn without_crc_a_corrupted_stag_is_refused_with_a_terminate() -> Result<()> {
    // The STag key changes: RFC 5041 §7.2 invalid STag, answered by a Terminate.
    let faults = Faults::corrupt(At::AfterHandshake(STAG_KEY), 0x01);
    let causes = fails_cleanly(rig(false, to_server(faults))?, Op::Write, 100_000)?;
    assert_eq!(
        causes,
        [RdmapTerminateCause::DdpTagged(DdpTaggedCode::InvalidStag)]
    );
    Ok(())
}

#[test]
fn without_crc_a_corrupted_ddp_version_ends_the_connection_cleanly() -> Result<()> {
    // DV 1 becomes 0 (RFC 5041 §4.2): a Terminate or a bare close, never a panic.
    let faults = Faults::corrupt(At::AfterHandshake(DDP_CONTROL), 0x01);
    let causes = fails_cleanly(rig(false, to_server(faults))?, Op::Send, 3000)?;
    assert!(causes.len() <= 1, "at most one Terminate: {causes:?}");
    Ok(())
}

/// How a connection attempt through a corrupting proxy ended on both sides.
struct Attempt {
    server: Side,
    connected: Result<(QueuePair, ConnectInfo), CmError>,
    accepted: Result<(QueuePair, ConnectInfo), CmError>,
    proxy: Proxy,
}

/// Connects through a proxy with `config`; the listener waits `accept_timeout`.
fn attempt(config: ProxyConfig, accept_timeout: Duration) -> Result<Attempt> {
    let client = Side::new(16)?;
    let server = Side::new(16)?;
    let listener = Listener::bind(&server.pd, any_port())?;
    let proxy = Proxy::start(listener.local_addr(), config)?;
    let (connected, accepted) = thread::scope(|s| -> Result<_> {
        let srv = s.spawn(|| {
            listener
                .accept(accept_timeout)
                .and_then(|req| req.accept(&server.init(), b"reply"))
        });
        let connected = client.pd.connect(
            proxy.addr(),
            &client.init(),
            &ConnectParams {
                private_data: b"request".to_vec(),
                ..ConnectParams::default()
            },
        );
        let accepted = srv.join().map_err(|_| anyhow!("server thread panicked"))?;
        Ok((connected, accepted))
    })?;
    Ok(Attempt {
        server,
        connected,
        accepted,
        proxy,
    })
}

/// The server accepted a connection whose client gave up: its QP must fail cleanly.
fn server_side_fails(a: &Attempt) -> Result<()> {
    let (sqp, _) = a
        .accepted
        .as_ref()
        .map_err(|e| anyhow!("the server saw a good request but failed: {e}"))?;
    let inbox = a.server.pd.alloc_mr(16, Access::LOCAL_WRITE)?;
    sqp.post_recv(&RecvWr {
        wr_id: 4,
        sgl: &[inbox.sge(0, 16)],
    })?;
    let got = poll_until(&a.server.cq, 1, WAIT, &[]).context("the server QP flushes")?;
    ensure!(
        (got[0].wr_id, got[0].status) == (4, WcStatus::WrFlushError),
        "{got:?}"
    );
    ensure!(sqp.state() == QpState::Error);
    Ok(())
}

#[test]
fn corrupted_request_key_fails_connect() -> Result<()> {
    // "MPA ID Req Frame": byte 5 'I' becomes 'i'. The listener drops the stream.
    let a = attempt(
        to_server(Faults::corrupt(At::Stream(5), 0x20)),
        SPOILED_ACCEPT,
    )?;
    assert!(
        matches!(a.connected, Err(CmError::Closed)),
        "{:?}",
        a.connected
    );
    assert!(
        matches!(a.accepted, Err(CmError::Timeout)),
        "a spoiled request never reaches the application: {:?}",
        a.accepted
    );
    ensure!(a.proxy.stats(Dir::ToServer).corrupted);
    a.proxy.stop()
}

#[test]
fn corrupted_reply_key_fails_connect() -> Result<()> {
    // "MPA ID Rep Frame": byte 5 'I' becomes 'i'.
    let a = attempt(
        ProxyConfig {
            to_client: Faults::corrupt(At::Stream(5), 0x20),
            ..ProxyConfig::default()
        },
        WAIT,
    )?;
    assert!(
        matches!(
            a.connected,
            Err(CmError::Mpa(MpaError::Malformed(WireError::BadKey)))
        ),
        "{:?}",
        a.connected
    );
    server_side_fails(&a)?;
    a.proxy.stop()
}

#[test]
fn corrupted_request_revision_fails_connect() -> Result<()> {
    // Rev 2 becomes 0 (RFC 5044 §7.1: revision 0 is not a valid MPA revision).
    let a = attempt(
        to_server(Faults::corrupt(At::Stream(17), 0x02)),
        SPOILED_ACCEPT,
    )?;
    // The responder answers an unusable revision with a Reject (RFC 5044 §7.1).
    assert!(
        matches!(&a.connected, Err(CmError::Rejected { .. })),
        "{:?}",
        a.connected
    );
    assert!(
        matches!(a.accepted, Err(CmError::Timeout)),
        "{:?}",
        a.accepted
    );
    ensure!(a.proxy.stats(Dir::ToServer).corrupted);
    a.proxy.stop()
}

#[test]
fn corrupted_reply_revision_fails_connect() -> Result<()> {
    // Rev 2 becomes 3: above what the initiator offered (RFC 5044 §7.1).
    let a = attempt(
        ProxyConfig {
            to_client: Faults::corrupt(At::Stream(17), 0x01),
            ..ProxyConfig::default()
        },
        WAIT,
    )?;
    assert!(
        matches!(a.connected, Err(CmError::Mpa(MpaError::Revision(3)))),
        "{:?}",
        a.connected
    );
    server_side_fails(&a)?;
    a.proxy.stop()
}

/// The stream ended under a connect: the proxy shuts its end down (FIN) and drops it
/// with bytes unread (RST), and the initiator sees whichever it reads first.
fn closed_or_reset<T>(connected: &Result<T, CmError>) -> bool {
    match connected {
        Err(CmError::Closed) => true,
        Err(CmError::Io(e)) => e.kind() == std::io::ErrorKind::ConnectionReset,
        _ => false,
    }
}

#[test]
fn cut_inside_the_mpa_request_fails_connect() -> Result<()> {
    let a = attempt(to_server(Faults::cut(At::Stream(10))), SPOILED_ACCEPT)?;
    assert!(closed_or_reset(&a.connected), "{:?}", a.connected);
    assert!(
        matches!(a.accepted, Err(CmError::Timeout)),
        "a truncated request never reaches the application: {:?}",
        a.accepted
    );
    ensure!(a.proxy.stats(Dir::ToServer).end == Some(End::Cut));
    a.proxy.stop()
}

#[test]
fn cut_inside_the_mpa_reply_fails_connect() -> Result<()> {
    let a = attempt(
        ProxyConfig {
            to_client: Faults::cut(At::Stream(10)),
            ..ProxyConfig::default()
        },
        WAIT,
    )?;
    assert!(closed_or_reset(&a.connected), "{:?}", a.connected);
    ensure!(a.proxy.stats(Dir::ToClient).end == Some(End::Cut));
    // The cut closes the server's side too, possibly while its accept is finishing (it
    // reads its stream's addresses after writing the Reply): a clean typed error there
    // is as good as a QP that fails afterwards.
    match &a.accepted {
        Err(e) => ensure!(
            matches!(e, CmError::Io(_) | CmError::Closed),
            "server accept failed with {e:?}"
        ),
        Ok(_) => server_side_fails(&a)?,
    }
    a.proxy.stop()
}

#[test]
fn stalled_mpa_reply_connects_after_resume() -> Result<()> {
    let client = Side::new(16)?;
    let server = Side::new(16)?;
    let listener = Listener::bind(&server.pd, any_port())?;
    let proxy = Proxy::start(listener.local_addr(), ProxyConfig::default())?;
    proxy.stall(Dir::ToClient);
    let (cqp, sqp) = thread::scope(|s| -> Result<_> {
        let srv = s.spawn(|| listener.accept(WAIT)?.accept(&server.init(), b"held"));
        let cli = s.spawn(|| {
            client
                .pd
                .connect(proxy.addr(), &client.init(), &ConnectParams::default())
        });
        // The Reply is in the proxy: the initiator cannot have finished.
        let deadline = Deadline::after(WAIT);
        let mut idle = Idle::new();
        while proxy.stats(Dir::ToClient).held() == 0 {
            ensure!(!deadline.passed(), "the Reply never reached the proxy");
            idle.idle(0);
        }
        ensure!(!cli.is_finished(), "connect finished without the Reply");
        proxy.resume(Dir::ToClient);
        let (cqp, info) = cli
            .join()
            .map_err(|_| anyhow!("client thread panicked"))??;
        ensure!(info.private_data == b"held");
        let (sqp, _) = srv
            .join()
            .map_err(|_| anyhow!("server thread panicked"))??;
        Ok((cqp, sqp))
    })?;
    let inbox = server.pd.alloc_mr(16, Access::LOCAL_WRITE)?;
    sqp.post_recv(&RecvWr {
        wr_id: 1,
        sgl: &[inbox.sge(0, 16)],
    })?;
    cqp.post_send(&SendWr::send_inline(2, b"resumed"))?;
    let got = poll_until(&server.cq, 1, WAIT, &[&cqp])?;
    ensure!(got[0].status == WcStatus::Success, "{got:?}");
    proxy.stop()
}

/// Records the size of the first read of the stream (a capture tap on the initiator).
#[derive(Debug, Default)]
struct FirstRead(Mutex<Option<usize>>);

impl FrameTap for FirstRead {
    fn on_bytes(&self, direction: TapDirection, bytes: &[u8]) {
        let mut first = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if direction == TapDirection::Received && first.is_none() {
            *first = Some(bytes.len());
        }
    }
}

/// RFC 5044 §7.1.4 ("Responder mode" waits for the initiator's first FPDU): the server
/// posts an RDMA WRITE into a region the client advertised in its private data as soon
/// as it accepted, but the WRITE must not follow the Reply until the client's first FPDU
/// arrived (Linux `siw` as initiator fails the connection when it does). The proxy
/// holds what the server sends; after many server progress rounds it holds the Reply
/// and nothing else; the client's first SEND then releases the WRITE, which lands.
fn responder_waits_for_the_first_fpdu(
    mut params: ConnectParams,
    listen: ListenParams,
) -> Result<()> {
    const LEN: usize = 64;
    let client = Side::new(16)?;
    let server = Side::new(16)?;
    let listener = Listener::bind_with(&server.pd, any_port(), listen)?;
    let proxy = Proxy::start(listener.local_addr(), ProxyConfig::default())?;
    let landing = client.pd.alloc_mr(LEN, Access::REMOTE_WRITE)?;
    let data = pattern(LEN, 0x77);
    params.private_data = landing.rkey().to_be_bytes().to_vec();
    // The Reply: header and the RFC 6581 IRD/ORD words.
    let reply = 20 + 4;
    let first_read = Arc::new(FirstRead::default());
    let tap: Arc<dyn FrameTap> = first_read.clone();
    let init = QpInit {
        tap: Some(&tap),
        ..client.init()
    };
    proxy.stall(Dir::ToClient);
    let src = server.pd.register(&data, Access::NONE)?;
    let inbox = server.pd.alloc_mr(8, Access::LOCAL_WRITE)?;
    let hello = client.pd.register(b"hello!!!", Access::NONE)?;
    let (cqp, sqp) = thread::scope(|s| -> Result<_> {
        let srv = s.spawn(|| -> Result<QueuePair> {
            let req = listener.accept(WAIT)?;
            let rkey = <[u8; 4]>::try_from(req.private_data()).context("rkey")?;
            let (sqp, _) = req.accept(&server.init(), b"")?;
            sqp.post_recv(&RecvWr {
                wr_id: 7,
                sgl: &[inbox.sge(0, 8)],
            })?;
            let remote = RemoteAddr {
                stag: u32::from_be_bytes(rkey),
                offset: 0,
            };
            sqp.post_send(&SendWr::rdma_write(1, &[src.sge(0, LEN as u32)], remote))?;
            for _ in 0..STALL_ROUNDS {
                sqp.progress();
                thread::yield_now();
            }
            Ok(sqp)
        });
        let cli = s.spawn(|| client.pd.connect(proxy.addr(), &init, &params));
        let sqp = srv
            .join()
            .map_err(|_| anyhow!("server thread panicked"))??;
        let deadline = Deadline::after(WAIT);
        let mut idle = Idle::new();
        while proxy.stats(Dir::ToClient).held() < reply as u64 {
            ensure!(!deadline.passed(), "the proxy never held the Reply");
            idle.idle(0);
        }
        let held = proxy.stats(Dir::ToClient).held();
        ensure!(
            held == reply as u64,
            "the responder sent {} bytes after its Reply before the initiator's first FPDU",
            held - reply as u64
        );
        proxy.resume(Dir::ToClient);
        let (cqp, _) = cli
            .join()
            .map_err(|_| anyhow!("client thread panicked"))??;
        Ok((cqp, sqp))
    })?;
    let first = *first_read.0.lock().unwrap_or_else(PoisonError::into_inner);
    ensure!(
        first == Some(reply),
        "the initiator read {first:?} bytes first, not just the Reply ({reply})"
    );
    cqp.post_send(&SendWr::send(2, &[hello.sge(0, 8)]))?;
    let mut out = [0u8; LEN];
    progress_until(
        &[&cqp, &sqp],
        WAIT,
        "the WRITE landed after the first SEND",
        || landing.read(0, &mut out).is_ok() && out[..] == data[..],
    )?;
    ensure!(cqp.state() == QpState::Rts && sqp.state() == QpState::Rts);
    proxy.stop()
}

#[test]
fn the_responder_sends_nothing_before_the_first_fpdu() -> Result<()> {
    let params = ConnectParams {
        crc: true,
        ..ConnectParams::default()
    };
    responder_waits_for_the_first_fpdu(params, ListenParams::default())
}

#[test]
fn a_marked_responder_sends_nothing_before_the_first_fpdu() -> Result<()> {
    let params = ConnectParams {
        crc: true,
        markers: true,
        ..ConnectParams::default()
    };
    let listen = ListenParams {
        markers: MarkerPolicy::Request,
        ..ListenParams::default()
    };
    responder_waits_for_the_first_fpdu(params, listen)
}

#[test]
fn stalled_stream_completes_after_resume() -> Result<()> {
    let r = rig(true, ProxyConfig::default())?;
    let len = 200_000;
    let n = len as u32;

    // Client to server held: a SEND, a WRITE and a READ request wait in the proxy.
    r.proxy.stall(Dir::ToServer);
    let before = r.proxy.stats(Dir::ToServer);
    let msg = pattern(len, 0x21);
    let written = pattern(len, 0x22);
    let remote = pattern(len, 0x23);
    let src = r.client.pd.register(&msg, Access::NONE)?;
    let wsrc = r.client.pd.register(&written, Access::NONE)?;
    let inbox = r.server.pd.alloc_mr(len, Access::LOCAL_WRITE)?;
    let target = r.server.pd.alloc_mr(len, Access::REMOTE_WRITE)?;
    let source = r.server.pd.register(&remote, Access::REMOTE_READ)?;
    let sink = r.client.pd.alloc_mr(len, Access::LOCAL_WRITE)?;
    r.sqp.post_recv(&RecvWr {
        wr_id: 10,
        sgl: &[inbox.sge(0, n)],
    })?;
    r.cqp.post_send(&SendWr::send(1, &[src.sge(0, n)]))?;
    r.cqp
        .post_send(&SendWr::rdma_write(2, &[wsrc.sge(0, n)], target.remote(0)))?;
    r.cqp
        .post_send(&SendWr::rdma_read(3, &[sink.sge(0, n)], source.remote(0)))?;
    // Every byte of the three messages has reached the proxy, and none went on.
    progress_until(&[&r.cqp, &r.sqp], WAIT, "the proxy holds all three", || {
        r.proxy.stats(Dir::ToServer).held() >= 2 * u64::from(n)
    })
    .with_context(|| format!("{:?}", r.proxy.stats(Dir::ToServer)))?;
    let during = settle(&r, STALL_ROUNDS);
    // SEND and WRITE complete once TCP owns them; nothing may reach the server.
    ensure!(
        during
            .iter()
            .all(|c| c.opcode != WcOpcode::Recv && c.opcode != WcOpcode::RdmaRead),
        "completed during the stall: {during:?}"
    );
    ensure!(r.proxy.stats(Dir::ToServer).forwarded == before.forwarded);
    ensure!(
        read_all(&target)?.iter().all(|&b| b == 0),
        "WRITE placed during the stall"
    );

    r.proxy.resume(Dir::ToServer);
    let got = poll_both(&r, &r.server.cq, 1, "RECV after resume")?;
    ensure!(
        (got[0].wr_id, got[0].status, got[0].byte_len) == (10, WcStatus::Success, n),
        "{got:?}"
    );
    let mut sent = during;
    let want = 3 - sent.len();
    sent.extend(poll_both(
        &r,
        &r.client.cq,
        want,
        "client completions after resume",
    )?);
    sent.sort_by_key(|c| c.wr_id);
    ensure!(
        sent.iter().map(|c| (c.wr_id, c.status)).collect::<Vec<_>>()
            == [
                (1, WcStatus::Success),
                (2, WcStatus::Success),
                (3, WcStatus::Success)
            ],
        "{sent:?}"
    );
    ensure!(read_all(&inbox)? == msg, "SEND corrupted by the stall");
    ensure!(read_all(&sink)? == remote, "READ corrupted by the stall");
    let mut out = vec![0u8; len];
    progress_until(&[&r.sqp], WAIT, "the WRITE landed", || {
        target.read(0, &mut out).is_ok() && out == written
    })?;

    // Server to client held: a READ response waits in the proxy.
    r.proxy.stall(Dir::ToClient);
    let sink2 = r.client.pd.alloc_mr(len, Access::LOCAL_WRITE)?;
    r.cqp
        .post_send(&SendWr::rdma_read(4, &[sink2.sge(0, n)], source.remote(0)))?;
    progress_until(
        &[&r.cqp, &r.sqp],
        WAIT,
        "the proxy holds the response",
        || r.proxy.stats(Dir::ToClient).held() >= u64::from(n),
    )?;
    let during = settle(&r, STALL_ROUNDS);
    ensure!(during.is_empty(), "completed during the stall: {during:?}");
    r.proxy.resume(Dir::ToClient);
    let done = poll_both(&r, &r.client.cq, 1, "READ after resume")?;
    ensure!(
        (done[0].wr_id, done[0].status, done[0].byte_len) == (4, WcStatus::Success, n),
        "{done:?}"
    );
    ensure!(
        read_all(&sink2)? == remote,
        "READ response corrupted by the stall"
    );
    ensure!(r.cqp.state() == QpState::Rts && r.sqp.state() == QpState::Rts);
    r.proxy.stop()
}

/// Bytes after which the proxy cuts a large message.
const CUT: u64 = 100_000;
/// Larger than the loopback socket buffers on both hops, so the cut always falls
/// inside the message.
const LARGE: usize = 16 << 20;

/// Checks both QPs ended in Error with `client` and `server` flushed in order.
fn flushed(r: &Rig, client: &[u64], server: &[u64]) -> Result<()> {
    let c = poll_until(&r.client.cq, client.len(), WAIT, &[]).context("client flushes")?;
    ensure!(
        c.iter().map(|c| c.wr_id).collect::<Vec<_>>() == client,
        "client completions in order: {c:?}"
    );
    ensure!(
        c.iter().all(|c| c.status == WcStatus::WrFlushError),
        "{c:?}"
    );
    let s = poll_until(&r.server.cq, server.len(), WAIT, &[]).context("server flushes")?;
    ensure!(
        s.iter().map(|c| c.wr_id).collect::<Vec<_>>() == server,
        "server completions in order: {s:?}"
    );
    ensure!(
        s.iter().all(|c| c.status == WcStatus::WrFlushError),
        "{s:?}"
    );
    ensure!(r.cqp.state() == QpState::Error && r.sqp.state() == QpState::Error);
    Ok(())
}

#[test]
fn cut_inside_a_send_flushes_both_sides() -> Result<()> {
    let r = rig(true, to_server(Faults::cut(At::AfterHandshake(CUT))))?;
    let src = r.client.pd.alloc_mr(LARGE, Access::NONE)?;
    let dst = r.server.pd.alloc_mr(LARGE, Access::LOCAL_WRITE)?;
    r.sqp.post_recv(&RecvWr {
        wr_id: 1,
        sgl: &[dst.sge(0, LARGE as u32)],
    })?;
    r.sqp.post_recv(&RecvWr {
        wr_id: 2,
        sgl: &[dst.sge(0, 16)],
    })?;
    r.cqp
        .post_send(&SendWr::send(10, &[src.sge(0, LARGE as u32)]))?;
    r.cqp.post_send(&SendWr::send(11, &[src.sge(0, 16)]))?;
    progress_until(&[&r.cqp, &r.sqp], WAIT, "both QPs in Error", || {
        r.cqp.state() == QpState::Error && r.sqp.state() == QpState::Error
    })?;
    flushed(&r, &[10, 11], &[1, 2])?;
    ensure!(r.proxy.stats(Dir::ToServer).end == Some(End::Cut));
    r.proxy.stop()
}

#[test]
fn cut_inside_a_write_flushes_both_sides_and_places_nothing_past_the_cut() -> Result<()> {
    let r = rig(false, to_server(Faults::cut(At::AfterHandshake(CUT))))?;
    let src = r.client.pd.register(&pattern(LARGE, 0x44), Access::NONE)?;
    let target = r.server.pd.alloc_mr(LARGE, Access::REMOTE_WRITE)?;
    let inbox = r.server.pd.alloc_mr(16, Access::LOCAL_WRITE)?;
    r.sqp.post_recv(&RecvWr {
        wr_id: 1,
        sgl: &[inbox.sge(0, 16)],
    })?;
    r.cqp.post_send(&SendWr::rdma_write(
        10,
        &[src.sge(0, LARGE as u32)],
        target.remote(0),
    ))?;
    r.cqp.post_send(&SendWr::send_inline(11, b"never"))?;
    progress_until(&[&r.cqp, &r.sqp], WAIT, "both QPs in Error", || {
        r.cqp.state() == QpState::Error && r.sqp.state() == QpState::Error
    })?;
    flushed(&r, &[10, 11], &[1])?;
    let placed = read_all(&target)?;
    ensure!(
        placed[CUT as usize..].iter().all(|&b| b == 0),
        "bytes past the cut were placed"
    );
    ensure!(r.proxy.stats(Dir::ToServer).end == Some(End::Cut));
    r.proxy.stop()
}

#[test]
fn cut_inside_a_read_response_flushes_both_sides() -> Result<()> {
    let r = rig(
        true,
        ProxyConfig {
            to_client: Faults::cut(At::AfterHandshake(CUT)),
            ..ProxyConfig::default()
        },
    )?;
    let len = 1 << 20;
    let source = r
        .server
        .pd
        .register(&pattern(len, 0x55), Access::REMOTE_READ)?;
    let sink = r.client.pd.alloc_mr(len, Access::LOCAL_WRITE)?;
    let inbox = r.server.pd.alloc_mr(16, Access::LOCAL_WRITE)?;
    r.sqp.post_recv(&RecvWr {
        wr_id: 1,
        sgl: &[inbox.sge(0, 16)],
    })?;
    r.cqp.post_send(&SendWr::rdma_read(
        10,
        &[sink.sge(0, len as u32)],
        source.remote(0),
    ))?;
    progress_until(&[&r.cqp, &r.sqp], WAIT, "both QPs in Error", || {
        r.cqp.state() == QpState::Error && r.sqp.state() == QpState::Error
    })?;
    flushed(&r, &[10], &[1])?;
    ensure!(r.proxy.stats(Dir::ToClient).end == Some(End::Cut));
    r.proxy.stop()
}
