//! The path checks of `tickwarp probe`, run once the RDMAP round trip passed: rping's
//! protocol again, on a third connection, with FPDUs this module frames itself so that
//! it chooses where the TCP byte stream is cut (FPDUs split at odd byte boundaries,
//! several FPDUs in one write, one FPDU as large as the peer's buffer allows), checks
//! every CRC, compares the data the peer echoes, and, with `--idle`, stays silent
//! before one more ping.
//!
//! This is an iWARP initiator reduced to what rping's client does: a Send of each
//! 16-byte advertisement, RDMA Read Responses for the peer's Read of our source, RDMA
//! Writes from the peer placed into our sink. It must not send anything rping's client
//! would not (every FPDU here is a valid RFC 5040/5041/5044 FPDU; only the DDP
//! segmentation and the write boundaries differ), must not wait longer than the step
//! timeout per step, and must not buffer more than one FPDU plus one read.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use tickwarp_rdma::soft::wire::rdmap::MpaErrorCode;
use tickwarp_rdma::soft::wire::{
    DdpFrame, MpaFpduFrame, RdmapReadRequestRepr, RdmapRepr, RdmapTerminateCause, ddp,
    mpa as wire_mpa,
};
use tickwarp_rdma::verbs::{FrameTap, TapDirection};
use tickwarp_runtime::clock::monotonic_now;

use super::mpa::{self, Reply};
use super::{Answer, Ladder, Layer, Options, Status, ms_since, read_answer};
use crate::rping_cmd::{INFO_LEN, RdmaInfo, fill_ping};

/// STag of the source buffer we advertise (any value: only this connection uses it).
const SOURCE_STAG: u32 = 0x7477_0100;
/// Tagged offset of the source buffer.
const SOURCE_TO: u64 = 0x0010_0000;
/// STag of the sink buffer we advertise.
const SINK_STAG: u32 = 0x7477_0200;
/// Tagged offset of the sink buffer.
const SINK_TO: u64 = 0x0020_0000;
/// Bytes the peer echoes per ping: our source has its NUL there, and rping's server
/// writes back `strlen + 1` bytes, so a large source still gets a small echo (the
/// large FPDUs then travel only our way).
const ECHO: usize = 64;
/// Largest payload of one tagged FPDU (16-bit `ULPDU_Length` minus the DDP header).
const MAX_TAGGED_PAYLOAD: usize = u16::MAX as usize - ddp::TAGGED_HEADER_LEN;
/// FPDU sizes the large-FPDU check climbs (each at most the peer's buffer).
const LADDER: [usize; 3] = [1024, 4096, 16384];
/// Write sizes of the split check, cycled: odd, so no FPDU boundary lines up.
const PIECES: [usize; 6] = [1, 3, 7, 5, 11, 13];
/// Largest Send message we reassemble (rping's are 16 bytes).
const MAX_SEND: usize = 4096;
/// Pause after the MPA Reply before our first FPDU (kernel `siw` as responder may stall
/// on an FPDU that follows its Reply at once; see `rping_cmd`'s `SETTLE`).
const SETTLE: Duration = Duration::from_millis(50);
/// First character of rping's ASCII ramp.
const RAMP_FIRST: u8 = b'A';
/// Characters in rping's ramp `'A'..='z'`.
const RAMP_LEN: u64 = 58;

/// How one message's FPDUs go into the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Writes {
    /// One write per FPDU (what every iWARP stack does).
    PerFpdu,
    /// The FPDUs' bytes in writes of 1-13 bytes: FPDUs cut at odd boundaries.
    Pieces,
    /// All FPDUs of the message in one write.
    Together,
}

/// How one ping frames its messages.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// DDP payload bytes per FPDU of a Send.
    send_segment: usize,
    /// DDP payload bytes per FPDU of the Read Response.
    read_segment: usize,
    /// How the FPDUs are written.
    writes: Writes,
}

/// Why a ping failed.
#[derive(Debug)]
enum PathError {
    /// Nothing within the step timeout.
    Silence {
        /// What we waited for.
        waiting_for: &'static str,
        /// Bytes we sent that the peer's TCP had not acknowledged (`TCP_INFO`).
        unacked: Option<u32>,
    },
    /// The connection was reset.
    Reset(&'static str),
    /// The peer closed the connection.
    Closed(&'static str),
    /// The peer sent a Terminate.
    Terminated(RdmapTerminateCause),
    /// An FPDU from the peer failed its CRC32c.
    BadCrc {
        /// Its `ULPDU_Length`.
        ulpdu_len: u16,
    },
    /// The echo differs from what we sent.
    Mismatch {
        /// First differing byte.
        at: usize,
    },
    /// The peer broke rping's protocol or iWARP's framing.
    Protocol(String),
    /// Another socket error.
    Io(io::Error),
}

impl PathError {
    /// True for the errors that mean the bytes were changed on the way.
    fn modified(&self) -> bool {
        matches!(
            self,
            PathError::BadCrc { .. }
                | PathError::Mismatch { .. }
                | PathError::Terminated(RdmapTerminateCause::Mpa(MpaErrorCode::CrcError))
        )
    }

    /// One line for the report.
    fn describe(&self) -> String {
        match self {
            PathError::Silence {
                waiting_for,
                unacked,
            } => {
                let acked = match unacked {
                    Some(0) => "; every byte we sent was acknowledged".to_string(),
                    Some(n) => format!("; {n} bytes we sent were never acknowledged"),
                    None => String::new(),
                };
                format!("no answer while waiting for {waiting_for}{acked}")
            }
            PathError::Reset(what) => format!("connection reset while waiting for {what}"),
            PathError::Closed(what) => format!("the peer closed while we waited for {what}"),
            PathError::Terminated(cause) => format!(
                "the peer sent a Terminate: {} (layer {}, type {:#x}, code {:#04x})",
                cause.description(),
                cause.layer() as u8,
                cause.error_type(),
                cause.error_code()
            ),
            PathError::BadCrc { ulpdu_len } => {
                format!("an FPDU from the peer ({ulpdu_len}-byte ULPDU) failed its CRC32c check")
            }
            PathError::Mismatch { at } => {
                format!("the echoed data differs from what we sent at byte {at}")
            }
            PathError::Protocol(what) => format!("protocol error: {what}"),
            PathError::Io(e) => format!("socket error: {e}"),
        }
    }
}

/// What the peer sent that the ping waits for.
enum Event {
    /// A whole Send message.
    Send(Vec<u8>),
    /// An RDMA Read Request.
    ReadRequest(RdmapReadRequestRepr),
}

/// A raw iWARP connection speaking rping's client side.
struct Conn {
    stream: TcpStream,
    crc: bool,
    timeout: Duration,
    /// Received bytes not yet parsed (at most one FPDU plus one read).
    rx: Vec<u8>,
    /// MSN of our next Send (RFC 5041 §5.1: starts at 1).
    send_msn: u32,
    /// The Send message being reassembled.
    incoming: Vec<u8>,
    /// This ping's source buffer.
    source: Vec<u8>,
    /// This ping's sink buffer.
    sink: Vec<u8>,
    /// Writes made so far (the split check reports them).
    writes: usize,
    /// The `--capture` tap, told every byte sent and received.
    tap: Option<Arc<dyn FrameTap>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(tap) = &self.tap {
            tap.on_close();
        }
    }
}

impl Conn {
    /// TCP, our MPA Request (the revision the MPA check settled on), the Reply, the RTR.
    fn open(addr: SocketAddr, opts: &Options, revision: u8) -> Result<Conn, String> {
        let mut stream = TcpStream::connect_timeout(&addr, opts.timeout)
            .map_err(|e| format!("connecting: {e}"))?;
        let _ = stream.set_nodelay(true);
        let tap = opts.tap.clone();
        if let (Some(tap), Ok(local)) = (&tap, stream.local_addr()) {
            tap.on_open(local, addr);
        }
        // Closes the capture's flow on every way out, as `Conn`'s drop does later.
        let close = |e: String| {
            if let Some(tap) = &tap {
                tap.on_close();
            }
            e
        };
        let request = mpa::request(opts.crc, revision);
        stream
            .set_write_timeout(Some(opts.timeout))
            .and_then(|()| stream.write_all(&request))
            .map_err(|e| close(format!("sending the MPA Request: {e}")))?;
        if let Some(tap) = &tap {
            tap.on_bytes(TapDirection::Sent, &request);
        }
        let reply = match read_answer(&mut stream, opts.timeout) {
            Answer::Reply(frame) => {
                if let Some(tap) = &tap {
                    tap.on_bytes(TapDirection::Received, &frame);
                }
                Reply::parse(&frame).map_err(|e| close(format!("a malformed MPA Reply: {e}")))?
            }
            _ => return Err(close("no MPA Reply on the path checks' connection".into())),
        };
        if reply.reject {
            return Err(close(format!("MPA Request rejected ({})", reply.summary())));
        }
        if reply.markers {
            return Err(close(
                "the peer asks for markers, which the path checks do not frame".into(),
            ));
        }
        let mut conn = Conn {
            stream,
            crc: reply.crc,
            timeout: opts.timeout,
            rx: Vec::new(),
            send_msn: 1,
            incoming: Vec::new(),
            source: Vec::new(),
            sink: Vec::new(),
            writes: 0,
            tap,
        };
        std::thread::sleep(SETTLE);
        // RFC 6581 §4: in peer-to-peer mode the initiator's first FPDU is the RTR the
        // responder chose; a zero-length RDMA Read's response is ignored on arrival.
        let rtr = match reply.enhanced {
            Some(e) if e.peer_to_peer && e.write_rtr => Some(RdmapRepr::Write {
                stag: 0,
                to: 0,
                last: true,
            }),
            Some(e) if e.peer_to_peer && e.read_rtr => Some(RdmapRepr::ReadRequest {
                msn: 1,
                request: RdmapReadRequestRepr {
                    sink_stag: 0,
                    sink_to: 0,
                    size: 0,
                    src_stag: 0,
                    src_to: 0,
                },
            }),
            _ => None,
        };
        if let Some(rtr) = rtr {
            let frame = fpdu(&rtr, &[], conn.crc);
            conn.write(&[frame], Writes::PerFpdu)
                .map_err(|e| format!("sending the RTR: {}", e.describe()))?;
        }
        Ok(conn)
    }

    /// Writes `fpdus` the way `writes` says.
    fn write(&mut self, fpdus: &[Vec<u8>], writes: Writes) -> Result<(), PathError> {
        let all: Vec<u8>;
        let chunks: Vec<&[u8]> = match writes {
            Writes::PerFpdu => fpdus.iter().map(Vec::as_slice).collect(),
            Writes::Together => {
                all = fpdus.concat();
                vec![&all[..]]
            }
            Writes::Pieces => {
                all = fpdus.concat();
                let mut out = Vec::new();
                let mut rest = &all[..];
                for &n in PIECES.iter().cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    let (head, tail) = rest.split_at(n.min(rest.len()));
                    out.push(head);
                    rest = tail;
                }
                out
            }
        };
        for chunk in chunks {
            self.writes += 1;
            let written = self.stream.write_all(chunk);
            if let (Some(tap), Ok(())) = (&self.tap, &written) {
                tap.on_bytes(TapDirection::Sent, chunk);
            }
            if let Err(e) = written {
                return Err(match e.kind() {
                    ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
                        PathError::Reset("our next write to go out")
                    }
                    ErrorKind::WouldBlock | ErrorKind::TimedOut => PathError::Silence {
                        waiting_for: "room in the socket to send",
                        unacked: self.unacked(),
                    },
                    _ => PathError::Io(e),
                });
            }
        }
        Ok(())
    }

    /// Bytes sent and not acknowledged, from `TCP_INFO`.
    fn unacked(&self) -> Option<u32> {
        super::sys::tcp_info(&self.stream).ok().map(|i| i.unacked)
    }

    /// Sends `data` as one Send message cut into `segment`-byte FPDUs.
    fn send(&mut self, data: &[u8], segment: usize, writes: Writes) -> Result<(), PathError> {
        let msn = self.send_msn;
        self.send_msn = self.send_msn.wrapping_add(1);
        let fpdus = segments(data, segment, |mo, last| RdmapRepr::Send {
            solicited: false,
            invalidate: None,
            msn,
            mo: mo as u32,
            last,
        })
        .map(|(repr, chunk)| fpdu(&repr, chunk, self.crc))
        .collect::<Vec<_>>();
        self.write(&fpdus, writes)
    }

    /// Answers the peer's Read of our source.
    fn read_response(
        &mut self,
        request: &RdmapReadRequestRepr,
        plan: Plan,
    ) -> Result<(), PathError> {
        let start = request
            .src_to
            .checked_sub(SOURCE_TO)
            .and_then(|o| usize::try_from(o).ok());
        let range = start.and_then(|s| Some(s..s.checked_add(request.size as usize)?));
        let data = match range.and_then(|r| self.source.get(r)) {
            Some(data) if request.src_stag == SOURCE_STAG => data.to_vec(),
            _ => {
                return Err(PathError::Protocol(format!(
                    "the peer's RDMA Read asks for {} bytes at STag {:#x} offset {:#x}, \
                     outside the {}-byte source we advertised",
                    request.size,
                    request.src_stag,
                    request.src_to,
                    self.source.len()
                )));
            }
        };
        let (stag, base) = (request.sink_stag, request.sink_to);
        let fpdus = segments(&data, plan.read_segment, |offset, last| {
            RdmapRepr::ReadResponse {
                stag,
                to: base.wrapping_add(offset as u64),
                last,
            }
        })
        .map(|(repr, chunk)| fpdu(&repr, chunk, self.crc))
        .collect::<Vec<_>>();
        self.write(&fpdus, plan.writes)
    }

    /// The next Send or Read Request from the peer, placing RDMA Writes into the sink
    /// on the way.
    fn next_event(&mut self, waiting_for: &'static str) -> Result<Event, PathError> {
        let deadline = monotonic_now().saturating_add(self.timeout);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while let Some(len) = wire_mpa::peek_fpdu_len(&self.rx).filter(|&l| l <= self.rx.len())
            {
                let frame: Vec<u8> = self.rx.drain(..len).collect();
                if let Some(event) = self.handle_fpdu(&frame)? {
                    return Ok(event);
                }
            }
            let left = deadline.saturating_sub(monotonic_now()).as_duration();
            if left.is_zero() {
                return Err(PathError::Silence {
                    waiting_for,
                    unacked: self.unacked(),
                });
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(PathError::Io)?;
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(PathError::Closed(waiting_for)),
                Ok(n) => {
                    if let Some(tap) = &self.tap {
                        tap.on_bytes(TapDirection::Received, &buf[..n]);
                    }
                    self.rx.extend_from_slice(&buf[..n]);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    return Err(PathError::Reset(waiting_for));
                }
                Err(e) => return Err(PathError::Io(e)),
            }
        }
    }

    /// One whole FPDU from the peer.
    fn handle_fpdu(&mut self, frame: &[u8]) -> Result<Option<Event>, PathError> {
        let fpdu = MpaFpduFrame::new_checked(frame)
            .map_err(|e| PathError::Protocol(format!("an FPDU from the peer: {e}")))?;
        if self.crc && fpdu.check_crc().is_err() {
            return Err(PathError::BadCrc {
                ulpdu_len: fpdu.ulpdu_len(),
            });
        }
        let segment = DdpFrame::new_checked(fpdu.ulpdu_ref())
            .map_err(|e| PathError::Protocol(format!("a DDP segment from the peer: {e}")))?;
        let repr = RdmapRepr::parse(&segment)
            .map_err(|e| PathError::Protocol(format!("an RDMAP message from the peer: {e}")))?;
        let payload = segment.payload_ref();
        match repr {
            RdmapRepr::Write { stag, to, .. } => {
                let at = to
                    .checked_sub(SINK_TO)
                    .and_then(|o| usize::try_from(o).ok());
                let place = at
                    .and_then(|a| Some(a..a.checked_add(payload.len())?))
                    .and_then(|r| self.sink.get_mut(r));
                match place {
                    Some(dst) if stag == SINK_STAG => dst.copy_from_slice(payload),
                    _ => {
                        return Err(PathError::Protocol(format!(
                            "an RDMA Write of {} bytes to STag {stag:#x} offset {to:#x}, \
                             outside the {}-byte sink we advertised",
                            payload.len(),
                            self.sink.len()
                        )));
                    }
                }
                Ok(None)
            }
            // The answer to a zero-length Read RTR.
            RdmapRepr::ReadResponse { .. } if payload.is_empty() => Ok(None),
            RdmapRepr::ReadResponse { .. } => Err(PathError::Protocol(
                "an RDMA Read Response, though we read nothing".into(),
            )),
            RdmapRepr::ReadRequest { request, .. } => Ok(Some(Event::ReadRequest(request))),
            RdmapRepr::Send { mo, last, .. } => {
                if mo as usize != self.incoming.len()
                    || self.incoming.len() + payload.len() > MAX_SEND
                {
                    return Err(PathError::Protocol(format!(
                        "a Send segment at offset {mo} after {} bytes of its message",
                        self.incoming.len()
                    )));
                }
                self.incoming.extend_from_slice(payload);
                Ok(last.then(|| std::mem::take(&mut self.incoming))).map(|m| m.map(Event::Send))
            }
            RdmapRepr::Terminate { terminate, .. } => Err(PathError::Terminated(terminate.cause)),
        }
    }

    /// Waits for the peer's next Send: rping's 16-byte go-ahead.
    fn await_go_ahead(&mut self, waiting_for: &'static str) -> Result<(), PathError> {
        match self.next_event(waiting_for)? {
            Event::Send(m) if m.len() == INFO_LEN => Ok(()),
            Event::Send(m) => Err(PathError::Protocol(format!(
                "a {}-byte Send where rping sends {INFO_LEN} bytes",
                m.len()
            ))),
            Event::ReadRequest(_) => Err(PathError::Protocol(format!(
                "an RDMA Read Request while waiting for {waiting_for}"
            ))),
        }
    }

    /// One rping iteration with a `size`-byte source, framed as `plan` says; the echo
    /// is compared with the source.
    fn ping(&mut self, n: u64, size: usize, plan: Plan) -> Result<(), PathError> {
        let echo = size.min(ECHO);
        let start = RAMP_FIRST + (n % RAMP_LEN) as u8;
        self.source = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        fill_ping(n, start, &mut self.source[..echo]);
        self.sink = vec![0; echo];
        let source = RdmaInfo {
            buf: SOURCE_TO,
            rkey: SOURCE_STAG,
            size: size as u32,
        };
        self.send(&source.emit(), plan.send_segment, plan.writes)?;
        let request = match self.next_event("the peer's RDMA Read Request")? {
            Event::ReadRequest(r) => r,
            Event::Send(m) => {
                return Err(PathError::Protocol(format!(
                    "a {}-byte Send where rping reads our source",
                    m.len()
                )));
            }
        };
        self.read_response(&request, plan)?;
        self.await_go_ahead("the go-ahead after the peer's Read")?;
        let sink = RdmaInfo {
            buf: SINK_TO,
            rkey: SINK_STAG,
            size: echo as u32,
        };
        self.send(&sink.emit(), plan.send_segment, plan.writes)?;
        self.await_go_ahead("the peer's RDMA Write and go-ahead")?;
        match self.sink.iter().zip(&self.source).position(|(a, b)| a != b) {
            Some(at) => Err(PathError::Mismatch { at }),
            None => Ok(()),
        }
    }
}

/// `data` cut into `segment`-byte pieces (one empty piece for empty data), each with the
/// RDMAP header `header(offset, last)`.
fn segments<'a>(
    data: &'a [u8],
    segment: usize,
    header: impl Fn(usize, bool) -> RdmapRepr + 'a,
) -> impl Iterator<Item = (RdmapRepr, &'a [u8])> + 'a {
    let segment = segment.clamp(1, MAX_TAGGED_PAYLOAD - ddp::UNTAGGED_HEADER_LEN);
    let count = data.len().div_ceil(segment).max(1);
    (0..count).map(move |i| {
        let at = i * segment;
        let chunk = &data[at.min(data.len())..(at + segment).min(data.len())];
        (header(at, i + 1 == count), chunk)
    })
}

/// One FPDU: length, DDP/RDMAP header, payload, pad, CRC (or zero).
fn fpdu(repr: &RdmapRepr, payload: &[u8], crc: bool) -> Vec<u8> {
    let header = repr.header_len();
    let ulpdu_len = header + payload.len();
    let mut out = vec![0u8; wire_mpa::fpdu_len(ulpdu_len)];
    // `segments` keeps every ULPDU within the 16-bit length field.
    let len = u16::try_from(ulpdu_len).unwrap_or(u16::MAX);
    out[..2].copy_from_slice(&len.to_be_bytes());
    let mut frame = MpaFpduFrame::new_unchecked(&mut out[..]);
    let ulpdu = frame.ulpdu_mut();
    repr.emit(&mut DdpFrame::new_unchecked(&mut ulpdu[..header]));
    ulpdu[header..].copy_from_slice(payload);
    frame.fill_trailer(crc);
    out
}

/// A failed path check, for the ladder.
struct Failure {
    layer: Layer,
    name: &'static str,
    detail: String,
    verdict: String,
}

/// Runs the path checks (and the idle check) after a passing round trip; pushes their
/// rows and returns the all-passed addition to the verdict, or records the failure.
pub(super) fn run(
    ladder: &mut Ladder,
    addr: SocketAddr,
    opts: &Options,
    revision: u8,
) -> Option<String> {
    let start = monotonic_now();
    let mut conn = match Conn::open(addr, opts, revision) {
        Ok(conn) => conn,
        Err(e) => {
            ladder.fail(
                Layer::Path,
                "connect",
                format!("the path checks' connection failed: {e}"),
                ms_since(start),
                format!(
                    "the RDMAP round trip to {addr} worked, but a third connection for the \
                     path checks failed ({e}): the peer accepts too few connections, or a \
                     box limits connections per client"
                ),
            );
            return None;
        }
    };
    match checks(ladder, &mut conn, addr, opts) {
        Ok(summary) => Some(summary),
        Err(f) => {
            ladder.fail(f.layer, f.name, f.detail, 0.0, f.verdict);
            None
        }
    }
}

/// The checks in order, each one row; the first failure ends them.
fn checks(
    ladder: &mut Ladder,
    conn: &mut Conn,
    addr: SocketAddr,
    opts: &Options,
) -> Result<String, Failure> {
    let size = (opts.size as usize).max(INFO_LEN);
    let small = size.min(ECHO);
    let mut n = 0;
    let mut ping = |conn: &mut Conn, size: usize, plan: Plan, name: &'static str| {
        let result = conn.ping(n, size, plan);
        n += 1;
        result.map_err(|e| classify(&e, name, addr, conn.crc))
    };

    let start = monotonic_now();
    let before = conn.writes;
    let split = Plan {
        send_segment: 4,
        read_segment: 7,
        writes: Writes::Pieces,
    };
    ping(conn, small, split, "split FPDUs")?;
    ladder.push(
        Layer::Path,
        "split FPDUs",
        Status::Pass,
        format!(
            "advertisements as 4 FPDUs of 4 bytes and a {small}-byte Read Response as FPDUs \
             of 7 bytes, written in {} pieces of 1-13 bytes: the peer reassembled them and \
             answered correctly",
            conn.writes - before
        ),
        ms_since(start),
    );

    let start = monotonic_now();
    let coalesced = Plan {
        send_segment: 4,
        read_segment: 16,
        writes: Writes::Together,
    };
    ping(conn, small, coalesced, "coalesced FPDUs")?;
    ladder.push(
        Layer::Path,
        "coalesced FPDUs",
        Status::Pass,
        format!(
            "each message's FPDUs in one write (4 per advertisement, {} in the Read \
             Response): the peer answered correctly",
            small.div_ceil(16)
        ),
        ms_since(start),
    );

    let start = monotonic_now();
    let top = size.min(MAX_TAGGED_PAYLOAD);
    let mut sizes: Vec<usize> = LADDER.iter().copied().filter(|&s| s < top).collect();
    sizes.push(top);
    let mut through = small;
    for s in sizes {
        let whole = Plan {
            send_segment: INFO_LEN,
            read_segment: s,
            writes: Writes::PerFpdu,
        };
        if let Err(f) = ping(conn, s, whole, "large FPDUs") {
            return Err(large_failure(f, s, through, addr));
        }
        through = s;
    }
    let detail = if size <= ECHO {
        format!(
            "one {through}-byte FPDU, the largest the peer's {size}-byte buffer allows: too \
             small to test the path MTU (serve with `rping -s -S 65536` or `tickwarp rping \
             --server ADDR:PORT -S 65536` and probe with --size 65536)"
        )
    } else {
        format!("Read Responses as single FPDUs of up to {through} bytes arrived and were echoed")
    };
    ladder.push(
        Layer::Path,
        "large FPDUs",
        if size <= ECHO {
            Status::Warn
        } else {
            Status::Pass
        },
        detail,
        ms_since(start),
    );

    let (status, detail) = if conn.crc {
        (
            Status::Pass,
            format!(
                "CRC32c on: every FPDU of {n} pings checked both ways, every echo compared equal"
            ),
        )
    } else {
        (
            Status::Warn,
            format!(
                "CRC off: {n} echoes compared equal, but nothing checks each FPDU (probe with \
                 --crc to have every FPDU checked)"
            ),
        )
    };
    ladder.push(Layer::Path, "payload integrity", status, detail, 0.0);

    let mut summary = String::from(
        "; FPDUs split at odd boundaries, coalesced and as large as the peer allows arrive intact",
    );
    if let Some(idle) = opts.idle {
        let start = monotonic_now();
        std::thread::sleep(idle);
        let plan = Plan {
            send_segment: INFO_LEN,
            read_segment: small,
            writes: Writes::PerFpdu,
        };
        if let Err(e) = conn.ping(n, small, plan) {
            return Err(idle_failure(&e, idle, addr, conn.crc));
        }
        ladder.push(
            Layer::Idle,
            "after idle",
            Status::Pass,
            format!("silent for {}s, then a ping: answered", idle.as_secs()),
            ms_since(start),
        );
        summary.push_str(&format!(
            ", and the connection survives {}s of silence",
            idle.as_secs()
        ));
    }
    Ok(summary)
}

/// The failure of ping check `name`.
fn classify(e: &PathError, name: &'static str, addr: SocketAddr, crc: bool) -> Failure {
    let detail = e.describe();
    if e.modified() {
        let how = match e {
            PathError::Terminated(_) => format!(
                "{addr}'s CRC32c check failed on an FPDU we sent, and it answered with a \
                 Terminate (MPA CRC Error)"
            ),
            PathError::BadCrc { .. } => {
                format!("an FPDU from {addr} failed our CRC32c check")
            }
            _ if crc => "the echoed data differs from what we sent".to_string(),
            _ => "the echoed data differs from what we sent, and with CRC off nothing else \
                  noticed (probe with --crc to have every FPDU checked)"
                .to_string(),
        };
        return Failure {
            layer: Layer::Path,
            name: "payload integrity",
            detail: format!("during the {name} check: {detail}"),
            verdict: format!(
                "payload was modified in transit: {how}; a box between here and {addr} \
                 rewrites TCP payload (a proxy, a normalizer, an ALG, a broken offload): \
                 exempt this port from it"
            ),
        };
    }
    let verdict = match (name, e) {
        ("split FPDUs", PathError::Terminated(_) | PathError::Protocol(_)) => format!(
            "{addr} failed when our FPDUs arrived cut at odd byte boundaries ({detail}): \
             iWARP without markers must survive TCP resegmentation, so the peer's iWARP \
             stack is broken (or a box re-frames the stream wrongly)"
        ),
        ("coalesced FPDUs", PathError::Terminated(_) | PathError::Protocol(_)) => format!(
            "{addr} failed when several FPDUs arrived in one segment ({detail}): the peer's \
             iWARP stack mishandles coalesced FPDUs"
        ),
        _ => {
            format!("the RDMAP round trip to {addr} worked, but the {name} check failed: {detail}")
        }
    };
    Failure {
        layer: Layer::Path,
        name,
        detail,
        verdict,
    }
}

/// The large-FPDU check failed at `size` after `through`-byte FPDUs arrived.
fn large_failure(mut f: Failure, size: usize, through: usize, addr: SocketAddr) -> Failure {
    if f.name == "large FPDUs" && f.detail.starts_with("the peer closed") {
        f.verdict = format!(
            "{addr} closed the connection when we advertised a {size}-byte source after \
             {through}-byte ones worked: its rping buffer is probably smaller than {size} \
             bytes (rping gives up on a larger source); probe with --size at most its -S"
        );
    } else if f.name == "large FPDUs" && f.detail.starts_with("no answer") {
        f.detail = format!("a {size}-byte FPDU: {}", f.detail);
        f.verdict = format!(
            "path-MTU black hole: a {size}-byte FPDU never arrived at {addr} while FPDUs of \
             up to {through} bytes did; a link between here and there has a smaller MTU and \
             its ICMP \"fragmentation needed\" (ICMPv6 \"packet too big\") is dropped: allow \
             that ICMP through, or clamp the TCP MSS on the router"
        );
    }
    f
}

/// The ping after `idle` of silence failed.
fn idle_failure(e: &PathError, idle: Duration, addr: SocketAddr, crc: bool) -> Failure {
    let secs = idle.as_secs();
    let detail = format!("after {secs}s of silence: {}", e.describe());
    let verdict = match e {
        PathError::Reset(_) => format!(
            "the connection to {addr} was reset after {secs}s idle: a stateful firewall or NAT \
             between here and there forgot the flow; raise its TCP established timeout above \
             the longest quiet time, or keep the connection busy (TCP keepalive)"
        ),
        PathError::Silence { .. } => format!(
            "no answer from {addr} after {secs}s idle, though it answered before: a stateful \
             firewall or NAT between here and there forgot the flow and now drops it; raise \
             its TCP established timeout above the longest quiet time, or keep the \
             connection busy (TCP keepalive)"
        ),
        _ => {
            return Failure {
                layer: Layer::Idle,
                ..classify(e, "after idle", addr, crc)
            };
        }
    };
    Failure {
        layer: Layer::Idle,
        name: "after idle",
        detail,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cover_the_data_once() {
        let data: Vec<u8> = (0..23).collect();
        let pieces: Vec<_> = segments(&data, 7, |at, last| RdmapRepr::ReadResponse {
            stag: 1,
            to: at as u64,
            last,
        })
        .collect();
        assert_eq!(pieces.len(), 4);
        assert_eq!(pieces.iter().map(|(_, c)| c.len()).sum::<usize>(), 23);
        assert!(matches!(
            pieces[3].0,
            RdmapRepr::ReadResponse {
                to: 21,
                last: true,
                ..
            }
        ));
        assert!(matches!(
            pieces[0].0,
            RdmapRepr::ReadResponse { last: false, .. }
        ));
        assert_eq!(
            segments(&[], 7, |_, last| RdmapRepr::Write {
                stag: 0,
                to: 0,
                last
            })
            .count(),
            1
        );
    }

    #[test]
    fn fpdus_parse_back_with_their_crc() {
        let repr = RdmapRepr::Send {
            solicited: false,
            invalidate: None,
            msn: 3,
            mo: 8,
            last: true,
        };
        let bytes = fpdu(&repr, b"hello", true);
        let frame = MpaFpduFrame::new_checked(&bytes[..]).expect("fpdu");
        assert_eq!(frame.total_len(), bytes.len());
        frame.check_crc().expect("crc");
        let segment = DdpFrame::new_checked(frame.ulpdu_ref()).expect("ddp");
        assert_eq!(RdmapRepr::parse(&segment).expect("rdmap"), repr);
        assert_eq!(segment.payload_ref(), b"hello");
    }
}
