//! Packet capture of the soft stack's byte streams, as a pcap file that Wireshark and
//! tshark decode at MPA, DDP and RDMAP level (dissectors `iwarp_mpa`, `iwarp_ddp_rdmap`).
//!
//! The soft stack talks over kernel TCP, so the real Ethernet/IP/TCP headers are not
//! ours to see. This module wraps the exact bytes we send and receive in synthetic
//! headers: a TCP three-way handshake when a flow starts, one TCP segment per run of
//! whole MPA frames (so the dissectors see each FPDU start a segment, as they expect),
//! correct sequence and acknowledgement numbers, IPv4/IPv6 and TCP checksums, and a
//! FIN exchange when the flow closes. Wireshark's MPA heuristic needs the MPA
//! Request/Reply, so a flow must be captured from its first byte.
//!
//! [`PcapWriter`] is the format (timestamps are arguments); [`PcapTap`] plugs it into a
//! queue pair as its [`FrameTap`] and stamps bytes with the wall clock. Capturing is off
//! by default; this module must not change what goes on the wire.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Mutex;

use tickwarp_runtime::{UnixNanos, clock};

use crate::soft::driver::FrameTap;
pub use crate::soft::driver::TapDirection as Direction;

/// Largest TCP payload put in one synthetic segment (keeps IPv4 total length < 65536).
const MAX_SEGMENT_PAYLOAD: usize = 65_000;
/// Size of an MPA Request/Reply header before its private data (RFC 5044 §7.1).
const MPA_FRAME_HEADER: usize = 20;
/// TCP flags used in synthetic headers (RFC 9293 §3.1).
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
/// Initial sequence numbers of the synthetic handshake (arbitrary, fixed for diffs).
const ISN_LOCAL: u32 = 0x1000_0000;
const ISN_REMOTE: u32 = 0x2000_0000;

/// Splits one direction of a byte stream at MPA frame boundaries: first one MPA
/// Request or Reply (20 bytes + private data), then FPDUs (2-byte length, ULPDU, pad,
/// 4-byte CRC: RFC 5044 §4). Markers, when negotiated, break this framing; the
/// framer then cannot find boundaries and hands bytes on as they came.
#[derive(Debug)]
struct Framer {
    buf: Vec<u8>,
    handshake_done: bool,
    raw: bool,
}

impl Framer {
    fn new(raw: bool) -> Framer {
        Framer {
            buf: Vec::new(),
            handshake_done: false,
            raw,
        }
    }

    /// Length of the complete frame at the head of `buf`, if there is one.
    fn frame_len(&self, at: &[u8]) -> Option<usize> {
        if !self.handshake_done {
            let header = at.get(..MPA_FRAME_HEADER)?;
            let pd_len = usize::from(u16::from_be_bytes([header[18], header[19]]));
            let total = MPA_FRAME_HEADER + pd_len;
            return (at.len() >= total).then_some(total);
        }
        let len = usize::from(u16::from_be_bytes([*at.first()?, *at.get(1)?]));
        let padded = (2 + len).div_ceil(4) * 4;
        let total = padded + 4;
        (at.len() >= total).then_some(total)
    }

    /// Appends `bytes`; pushes the length of each whole frame now at the head of the
    /// buffer onto `frames` (in raw mode, everything buffered as one "frame").
    fn push(&mut self, bytes: &[u8], frames: &mut Vec<usize>) {
        self.buf.extend_from_slice(bytes);
        if self.raw {
            if !self.buf.is_empty() {
                frames.push(self.buf.len());
            }
            return;
        }
        let mut at = 0;
        while let Some(len) = self.frame_len(&self.buf[at..]) {
            frames.push(len);
            at += len;
            self.handshake_done = true;
        }
    }
}

/// One captured TCP connection.
#[derive(Debug)]
struct Flow {
    local: SocketAddr,
    remote: SocketAddr,
    /// Next sequence number of each side: `[local, remote]`.
    next_seq: [u32; 2],
    framers: [Framer; 2],
    closed: bool,
}

/// Handle of a flow inside a [`PcapWriter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowId(usize);

/// Writes synthetic-header pcap (link type Ethernet) of soft-stack byte streams.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    flows: Vec<Flow>,
    packet: Vec<u8>,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the pcap global header (microsecond timestamps, Ethernet) to `out`.
    pub fn new(mut out: W) -> io::Result<PcapWriter<W>> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        header[16..20].copy_from_slice(&65_535u32.to_le_bytes());
        header[20..24].copy_from_slice(&1u32.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter {
            out,
            flows: Vec::new(),
            packet: Vec::with_capacity(MAX_SEGMENT_PAYLOAD + 128),
        })
    }

    /// Starts a flow: writes a TCP handshake initiated by the local endpoint when
    /// `local_initiated`, else by the remote one. `raw` skips MPA framing (use it when
    /// markers are negotiated).
    pub fn open_flow(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        local_initiated: bool,
        raw: bool,
        now: UnixNanos,
    ) -> io::Result<FlowId> {
        let id = FlowId(self.flows.len());
        self.flows.push(Flow {
            local,
            remote,
            next_seq: [ISN_LOCAL, ISN_REMOTE],
            framers: [Framer::new(raw), Framer::new(raw)],
            closed: false,
        });
        let (first, second) = if local_initiated {
            (Direction::Sent, Direction::Received)
        } else {
            (Direction::Received, Direction::Sent)
        };
        self.segment(id, first, TCP_SYN, &[], now)?;
        self.segment(id, second, TCP_SYN | TCP_ACK, &[], now)?;
        self.segment(id, first, TCP_ACK, &[], now)?;
        Ok(id)
    }

    /// Records bytes that went `dir` on `flow`. Bytes that do not yet complete an MPA
    /// frame are held until they do.
    pub fn record(
        &mut self,
        flow: FlowId,
        dir: Direction,
        bytes: &[u8],
        now: UnixNanos,
    ) -> io::Result<()> {
        let mut frames = Vec::new();
        let f = self.flow_mut(flow)?;
        let framer = &mut f.framers[side(dir)];
        framer.push(bytes, &mut frames);
        let ready: usize = frames.iter().sum();
        let held: Vec<u8> = framer.buf.drain(..ready).collect();
        let mut at = 0;
        let mut lens = frames.iter().copied().peekable();
        while let Some(first) = lens.next() {
            let mut take = first;
            while let Some(&next) = lens.peek() {
                if take + next > MAX_SEGMENT_PAYLOAD {
                    break;
                }
                take += next;
                lens.next();
            }
            for chunk in held[at..at + take].chunks(MAX_SEGMENT_PAYLOAD) {
                self.segment(flow, dir, TCP_PSH | TCP_ACK, chunk, now)?;
            }
            at += take;
        }
        Ok(())
    }

    /// Closes `flow` with a FIN from `closer` and the peer's FIN, flushing held bytes.
    pub fn close_flow(
        &mut self,
        flow: FlowId,
        closer: Direction,
        now: UnixNanos,
    ) -> io::Result<()> {
        let f = self.flow_mut(flow)?;
        if f.closed {
            return Ok(());
        }
        f.closed = true;
        for dir in [Direction::Sent, Direction::Received] {
            let held = std::mem::take(&mut self.flow_mut(flow)?.framers[side(dir)].buf);
            for chunk in held.chunks(MAX_SEGMENT_PAYLOAD) {
                self.segment(flow, dir, TCP_PSH | TCP_ACK, chunk, now)?;
            }
        }
        let other = match closer {
            Direction::Sent => Direction::Received,
            Direction::Received => Direction::Sent,
        };
        self.segment(flow, closer, TCP_FIN | TCP_ACK, &[], now)?;
        self.segment(flow, other, TCP_FIN | TCP_ACK, &[], now)?;
        self.segment(flow, closer, TCP_ACK, &[], now)
    }

    /// Pushes what is buffered to the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    fn flow_mut(&mut self, flow: FlowId) -> io::Result<&mut Flow> {
        self.flows
            .get_mut(flow.0)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "unknown capture flow"))
    }

    /// Writes one synthetic Ethernet/IP/TCP packet carrying `payload`.
    fn segment(
        &mut self,
        flow: FlowId,
        dir: Direction,
        flags: u8,
        payload: &[u8],
        now: UnixNanos,
    ) -> io::Result<()> {
        let f = self.flow_mut(flow)?;
        let (src, dst) = match dir {
            Direction::Sent => (f.local, f.remote),
            Direction::Received => (f.remote, f.local),
        };
        let me = side(dir);
        let seq = f.next_seq[me];
        let ack = if flags & TCP_SYN != 0 && flags & TCP_ACK == 0 {
            0
        } else {
            f.next_seq[1 - me]
        };
        let consumed = payload.len() as u32 + u32::from(flags & (TCP_SYN | TCP_FIN) != 0);
        f.next_seq[me] = seq.wrapping_add(consumed);

        let mut tcp = [0u8; 20];
        tcp[0..2].copy_from_slice(&src.port().to_be_bytes());
        tcp[2..4].copy_from_slice(&dst.port().to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&ack.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = flags;
        tcp[14..16].copy_from_slice(&65_535u16.to_be_bytes());

        let packet = &mut self.packet;
        packet.clear();
        // Ethernet II: locally administered MACs derived from the direction.
        packet.extend_from_slice(&[0x02, 0, 0, 0, 0, if me == 0 { 2 } else { 1 }]);
        packet.extend_from_slice(&[0x02, 0, 0, 0, 0, if me == 0 { 1 } else { 2 }]);
        let tcp_len = tcp.len() + payload.len();
        match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                packet.extend_from_slice(&0x0800u16.to_be_bytes());
                let mut ip = [0u8; 20];
                ip[0] = 0x45;
                ip[2..4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
                ip[6] = 0x40; // don't fragment
                ip[8] = 64;
                ip[9] = 6;
                ip[12..16].copy_from_slice(&s.octets());
                ip[16..20].copy_from_slice(&d.octets());
                let sum = checksum(&[&ip]);
                ip[10..12].copy_from_slice(&sum.to_be_bytes());
                let mut pseudo = [0u8; 12];
                pseudo[0..4].copy_from_slice(&s.octets());
                pseudo[4..8].copy_from_slice(&d.octets());
                pseudo[9] = 6;
                pseudo[10..12].copy_from_slice(&(tcp_len as u16).to_be_bytes());
                let sum = checksum(&[&pseudo, &tcp, payload]);
                tcp[16..18].copy_from_slice(&sum.to_be_bytes());
                packet.extend_from_slice(&ip);
            }
            (s, d) => {
                let (s, d) = (v6(s), v6(d));
                packet.extend_from_slice(&0x86ddu16.to_be_bytes());
                let mut ip = [0u8; 40];
                ip[0] = 0x60;
                ip[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
                ip[6] = 6;
                ip[7] = 64;
                ip[8..24].copy_from_slice(&s);
                ip[24..40].copy_from_slice(&d);
                let mut pseudo = [0u8; 40];
                pseudo[0..16].copy_from_slice(&s);
                pseudo[16..32].copy_from_slice(&d);
                pseudo[32..36].copy_from_slice(&(tcp_len as u32).to_be_bytes());
                pseudo[39] = 6;
                let sum = checksum(&[&pseudo, &tcp, payload]);
                tcp[16..18].copy_from_slice(&sum.to_be_bytes());
                packet.extend_from_slice(&ip);
            }
        }
        packet.extend_from_slice(&tcp);
        packet.extend_from_slice(payload);

        let micros = now.get() / 1_000;
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
        record[4..8].copy_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        record[8..12].copy_from_slice(&(packet.len() as u32).to_le_bytes());
        record[12..16].copy_from_slice(&(packet.len() as u32).to_le_bytes());
        self.out.write_all(&record)?;
        self.out.write_all(&self.packet)
    }
}

/// Index of a direction in per-side arrays: 0 = local sender, 1 = remote sender.
fn side(dir: Direction) -> usize {
    match dir {
        Direction::Sent => 0,
        Direction::Received => 1,
    }
}

/// An address as 16 IPv6 bytes (IPv4 mapped when needed).
fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts`.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &b in part.iter() {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A [`FrameTap`] that writes the connection it is attached to into a pcap file.
///
/// One tap serves one connection at a time (the tap interface carries no connection
/// id); a connection opened after the previous one closed becomes a new flow in the
/// same file. I/O errors are kept and reported by [`PcapTap::finish`]
/// (a tap cannot fail the connection it observes).
#[derive(Debug)]
pub struct PcapTap {
    inner: Mutex<TapState>,
}

#[derive(Debug)]
struct TapState {
    writer: PcapWriter<BufWriter<File>>,
    /// The flow of the connection currently open on this tap.
    flow: Option<FlowId>,
    error: Option<io::Error>,
}

impl PcapTap {
    /// Creates (truncates) the pcap file at `path`.
    pub fn create(path: impl AsRef<Path>) -> io::Result<PcapTap> {
        let writer = PcapWriter::new(BufWriter::new(File::create(path)?))?;
        Ok(PcapTap {
            inner: Mutex::new(TapState {
                writer,
                flow: None,
                error: None,
            }),
        })
    }

    /// Flushes the file and returns the first I/O error seen while capturing, if any.
    pub fn finish(self) -> io::Result<()> {
        let state = self
            .inner
            .into_inner()
            .map_err(|_| io::Error::other("capture tap poisoned"))?;
        if let Some(e) = state.error {
            return Err(e);
        }
        state.writer.into_inner().map(drop)
    }

    fn with(&self, f: impl FnOnce(&mut TapState) -> io::Result<()>) {
        if let Ok(mut state) = self.inner.lock() {
            if state.error.is_none() {
                if let Err(e) = f(&mut state) {
                    state.error = Some(e);
                }
            }
        }
    }
}

impl FrameTap for PcapTap {
    fn on_open(&self, local: SocketAddr, peer: SocketAddr) {
        self.with(|s| {
            // Whoever connected, the capture shows the local side opening: the MPA
            // dissector keys on the Request/Reply frames, not on who sent the SYN.
            s.flow = Some(
                s.writer
                    .open_flow(local, peer, true, false, clock::unix_now())?,
            );
            Ok(())
        });
    }

    fn on_bytes(&self, direction: Direction, bytes: &[u8]) {
        self.with(|s| match s.flow {
            Some(flow) => s.writer.record(flow, direction, bytes, clock::unix_now()),
            None => Ok(()),
        });
    }

    /// Ends the flow and flushes the file, so that every closed connection is on disk
    /// even if the process is killed later (a persistent server).
    fn on_close(&self) {
        self.with(|s| match s.flow.take() {
            Some(flow) => {
                s.writer
                    .close_flow(flow, Direction::Sent, clock::unix_now())?;
                s.writer.flush()
            }
            None => Ok(()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 §3 worked example: the sum of 0001 f203 f4f5 f6f7 is ddf2 (checksum 220d).
    #[test]
    fn internet_checksum_rfc1071_example() {
        assert_eq!(
            checksum(&[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]]),
            !0xddf2
        );
        assert_eq!(
            checksum(&[&[0x00, 0x01, 0xf2], &[0x03, 0xf4, 0xf5, 0xf6, 0xf7]]),
            !0xddf2
        );
    }

    #[test]
    fn framer_holds_partial_frames_and_releases_whole_ones() {
        let mut framer = Framer::new(false);
        let mut request = b"MPA ID Req Frame".to_vec();
        request.extend_from_slice(&[0x10, 0x02, 0x00, 0x04, 0x00, 0x01, 0x00, 0x01]);
        let mut frames = Vec::new();
        framer.push(&request[..10], &mut frames);
        assert!(frames.is_empty());
        framer.push(&request[10..], &mut frames);
        assert_eq!(frames, [request.len()]);
        framer.buf.clear();
        frames.clear();
        // A Send FPDU of 34 ULPDU bytes: 2 + 34 = 36, no pad, + 4 CRC = 40 bytes.
        let fpdu = [0u8; 40];
        let mut first = fpdu;
        first[1] = 34;
        framer.push(&first[..39], &mut frames);
        assert!(frames.is_empty());
        framer.push(&first[39..], &mut frames);
        assert_eq!(frames, [40]);
        framer.buf.clear();
        frames.clear();
        let two = [first, first].concat();
        framer.push(&two, &mut frames);
        assert_eq!(frames, [40, 40]);
    }

    #[test]
    fn pcap_has_global_header_and_handshake() {
        let mut w = PcapWriter::new(Vec::new()).expect("in-memory writer");
        let local: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        let remote: SocketAddr = "127.0.0.1:7174".parse().expect("addr");
        let flow = w
            .open_flow(
                local,
                remote,
                true,
                false,
                UnixNanos(1_700_000_000_000_000_000),
            )
            .expect("flow");
        w.close_flow(flow, Direction::Sent, UnixNanos(1_700_000_000_000_001_000))
            .expect("close");
        let bytes = w.into_inner().expect("inner");
        assert_eq!(&bytes[0..4], &0xa1b2_c3d4u32.to_le_bytes());
        // 6 packets of 14 + 20 + 20 bytes, each with a 16-byte record header.
        assert_eq!(bytes.len(), 24 + 6 * (16 + 54));
    }
}
