//! `tickwarp rping`: rdma-core's `rping` ping-pong (`librdmacm/examples/rping.c` at
//! v44.0), client and server, speaking exactly the protocol of the real `rping`, so that
//! either side interoperates with `rping -s` / `rping -c` on kernel `siw` or an RNIC.
//!
//! One iteration (`shared/siw-vm/README.md`, "Wire spec"): the client Sends the 16-byte
//! `rping_rdma_info {buf be64, rkey be32, size be32}` of its source buffer; the server
//! RDMA Reads it and Sends a "go ahead" (16 zero bytes); the client Sends the info of
//! its sink buffer; the server RDMA Writes `strlen(data) + 1` bytes into it and Sends a
//! second go-ahead; with `--validate` the client compares source and sink (`rping -V`).
//!
//! The protocol (message layout, ping payload, per-iteration state) lives in the sans-IO
//! [`RdmaInfo`], [`ClientSession`] and [`ServerSession`]; the driver below them only
//! posts work requests and turns completions into `handle_*` calls. Every wait is
//! bounded by `--timeout` (the server's wait for a client by `--accept-timeout`).
//!
//! This module must not talk to any address but the one given, and must not change
//! what goes on the wire beyond what `rping` itself does.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use clap::{ArgGroup, Args};
use thiserror::Error;
use tickwarp_rdma::verbs::{
    Access, Backend, CmError, Completion, CompletionQueue, ConnectInfo, ConnectParams, CrcPolicy,
    Device, FrameTap, ListenParams, Listener, MemoryRegion, MpaRevision, PostError, QpInit,
    QpState, QueuePair, RecvWr, RemoteAddr, SendWr, WcOpcode, WcStatus,
};
use tickwarp_runtime::clock::monotonic_now;
use tickwarp_runtime::{Backoff, IdleStrategy};

/// Options of `tickwarp rping` (named after `rping`'s own where it has them).
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("role").required(true).args(["server", "client"])))]
pub(crate) struct RpingArgs {
    /// Serve rping clients on ADDR:PORT (`rping -s -a ADDR -p PORT`; port 0 picks one).
    #[arg(long, short = 's', value_name = "ADDR:PORT")]
    server: Option<SocketAddr>,
    /// Ping the rping server at ADDR:PORT (`rping -c -a ADDR -p PORT`).
    #[arg(long, short = 'c', value_name = "ADDR:PORT")]
    client: Option<SocketAddr>,
    /// Client: pings to run; 0 runs until interrupted (`rping -C`).
    #[arg(long, short = 'C', default_value_t = 0)]
    count: u64,
    /// Bytes of the ping buffers (`rping -S`, 26..=65536).
    #[arg(long, short = 'S', default_value_t = DEFAULT_SIZE,
          value_parser = clap::value_parser!(u32).range(MIN_SIZE..=MAX_SIZE))]
    size: u32,
    /// Print each ping's data (`rping -v`).
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Client: compare the sink with the source after each ping (`rping -V`).
    #[arg(long, short = 'V')]
    validate: bool,
    /// Ask for CRC32c on every FPDU (client: MPA C bit; server: always on). Soft backend.
    #[arg(long)]
    crc: bool,
    /// Server: keep serving clients one after another (`rping -P`); without it the
    /// server exits after its first client disconnects, as `rping -s` does.
    #[arg(long, short = 'P')]
    persistent: bool,
    /// Which verbs backend serves the connection.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// Seconds any one protocol step (connect, Read, Write, go-ahead) may take.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Server: seconds to wait for a client; 0 waits forever, like `rping -s`.
    #[arg(long, default_value_t = 0)]
    accept_timeout: u64,
    /// Record every connection's MPA handshake and FPDUs to this pcap file (soft
    /// backend; Wireshark decodes it). A server writes each connection as it closes.
    #[arg(long, value_name = "FILE.pcap")]
    capture: Option<PathBuf>,
}

/// `--backend` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum BackendArg {
    /// A verbs device that serves the address, else the soft stack.
    Auto,
    /// The userspace soft-iWARP stack.
    Soft,
    /// A verbs device (needs a build with the `hw` feature).
    Hardware,
}

impl From<BackendArg> for Backend {
    fn from(arg: BackendArg) -> Backend {
        match arg {
            BackendArg::Auto => Backend::Auto,
            BackendArg::Soft => Backend::Soft,
            BackendArg::Hardware => Backend::Hardware,
        }
    }
}

/// rping's default `-S`.
const DEFAULT_SIZE: u32 = 64;
/// rping's `RPING_MIN_BUFSIZE`: `sizeof(stringify(INT_MAX)) + sizeof(RPING_MSG_FMT)`.
const MIN_SIZE: i64 = 26;
/// rping's `RPING_BUFSIZE` (64 KiB), the largest `-S`.
const MAX_SIZE: i64 = 64 * 1024;

/// Receives kept posted (rping posts one and re-posts it; two leave slack).
const RECV_SLOTS: u64 = 2;
/// Send-queue slots: an iteration has at most three sends outstanding.
const SQ_DEPTH: usize = 8;
/// Completion-queue depth (send and receive completions of one QP).
const CQ_DEPTH: usize = 32;
/// Pause after the MPA Reply before the client's first FPDU: kernel `siw` as responder
/// may stall on an FPDU that follows its Reply at once (`shared/siw-vm/README.md`, "siw
/// passive-side race"); the kernel rping client itself sends 11-20 ms after the Reply.
const SETTLE: Duration = Duration::from_millis(50);
/// Chunk of one `accept` call when the server waits forever.
const ACCEPT_CHUNK: Duration = Duration::from_secs(60);

/// `RPING_MSG_FMT`, before the ping number.
const MSG_PREFIX: &[u8] = b"rdma-ping-";
/// `RPING_MSG_FMT`, after the ping number.
const MSG_SUFFIX: &[u8] = b": ";
/// First character of rping's ASCII ramp (`65`).
const RAMP_FIRST: u8 = b'A';
/// Last character of rping's ASCII ramp (`122`).
const RAMP_LAST: u8 = b'z';

/// Runs the client or the server.
pub(crate) fn run(args: &RpingArgs) -> Result<()> {
    ensure!(args.timeout > 0, "--timeout must be at least 1 second");
    let tap = args
        .capture
        .as_deref()
        .map(crate::capture_cmd::open_tap)
        .transpose()?;
    let frame_tap = tap.clone().map(|t| -> Arc<dyn FrameTap> { t });
    let result = match (args.server, args.client) {
        (Some(addr), None) => serve(args, addr, frame_tap.as_ref()),
        (None, Some(addr)) => ping(args, addr, frame_tap.as_ref()),
        _ => bail!("give exactly one of --server and --client"),
    };
    drop(frame_tap);
    if let (Some(tap), Some(path)) = (tap, &args.capture) {
        crate::capture_cmd::finish_tap(tap, path)?;
    }
    result
}

// ---------------------------------------------------------------------------------------
// Protocol: message layout and per-iteration state (no I/O).
// ---------------------------------------------------------------------------------------

/// Byte ranges of `struct rping_rdma_info` (rping.c), all fields big-endian.
mod field {
    use std::ops::Range;

    /// `__be64 buf`: the tagged offset (virtual address) of the buffer.
    pub(super) const BUF: Range<usize> = 0..8;
    /// `__be32 rkey`: the buffer's STag.
    pub(super) const RKEY: Range<usize> = 8..12;
    /// `__be32 size`: the buffer's length in bytes.
    pub(super) const SIZE: Range<usize> = 12..16;
}

/// Length of `struct rping_rdma_info`; rping refuses a receive of any other length.
pub(crate) const INFO_LEN: usize = field::SIZE.end;

/// rping's only message, `struct rping_rdma_info { __be64 buf; __be32 rkey; __be32 size; }`:
/// a buffer advertisement (the server's "go ahead" Sends carry 16 zero bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RdmaInfo {
    /// Tagged offset of the buffer.
    pub(crate) buf: u64,
    /// STag of the buffer's region.
    pub(crate) rkey: u32,
    /// Length of the buffer.
    pub(crate) size: u32,
}

/// Why received bytes are not an `rping_rdma_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub(crate) enum InfoError {
    /// Not exactly 16 bytes (rping: "Received bogus data, size %d").
    #[error("received {have} bytes, rping's message is exactly {INFO_LEN}")]
    Length {
        /// Bytes received.
        have: usize,
    },
}

impl RdmaInfo {
    /// The advertisement of `len` bytes at `offset` of `mr`.
    fn of(mr: &MemoryRegion, offset: u64, len: u32) -> RdmaInfo {
        let remote = mr.remote(offset);
        RdmaInfo {
            buf: remote.offset,
            rkey: remote.stag,
            size: len,
        }
    }

    /// Parses the 16 bytes of one received message.
    pub(crate) fn parse(bytes: &[u8]) -> Result<RdmaInfo, InfoError> {
        let wrong = InfoError::Length { have: bytes.len() };
        let bytes: &[u8; INFO_LEN] = bytes.try_into().map_err(|_| wrong)?;
        let mut buf = [0u8; 8];
        let mut rkey = [0u8; 4];
        let mut size = [0u8; 4];
        buf.copy_from_slice(&bytes[field::BUF]);
        rkey.copy_from_slice(&bytes[field::RKEY]);
        size.copy_from_slice(&bytes[field::SIZE]);
        Ok(RdmaInfo {
            buf: u64::from_be_bytes(buf),
            rkey: u32::from_be_bytes(rkey),
            size: u32::from_be_bytes(size),
        })
    }

    /// The 16 wire bytes.
    pub(crate) fn emit(&self) -> [u8; INFO_LEN] {
        let mut out = [0u8; INFO_LEN];
        out[field::BUF].copy_from_slice(&self.buf.to_be_bytes());
        out[field::RKEY].copy_from_slice(&self.rkey.to_be_bytes());
        out[field::SIZE].copy_from_slice(&self.size.to_be_bytes());
        out
    }

    /// The advertised buffer as a verbs remote address.
    fn remote(&self) -> RemoteAddr {
        RemoteAddr {
            stag: self.rkey,
            offset: self.buf,
        }
    }
}

/// Writes rping's source string for ping `ping` into `out` (rping.c `rping_test_client`):
/// `snprintf(buf, size, "rdma-ping-%d: ", ping)`, then the ASCII ramp from `start`
/// (`'A'..='z'`, wrapping) up to the end, and a NUL in the last byte.
pub(crate) fn fill_ping(ping: u64, start: u8, out: &mut [u8]) {
    let mut number = [0u8; 20];
    let digits = decimal(ping, &mut number);
    let head = MSG_PREFIX.iter().chain(digits).chain(MSG_SUFFIX);
    let mut written = 0;
    for (dst, src) in out.iter_mut().zip(head) {
        *dst = *src;
        written += 1;
    }
    let mut c = start;
    for dst in out.iter_mut().skip(written) {
        *dst = c;
        c = next_start(c);
    }
    // rping's `start_buf[size - 1] = 0`; also snprintf's NUL after a truncated head.
    if let Some(nul) = out.last_mut() {
        *nul = 0;
    }
}

/// The decimal digits of `n` in `buf`, without leading zeros.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// The ramp character after `c` (rping: `c++; if (c > 122) c = 65;`), also the ramp
/// start of the ping after one that started at `c`.
pub(crate) fn next_start(c: u8) -> u8 {
    if c >= RAMP_LAST { RAMP_FIRST } else { c + 1 }
}

/// The bytes of a C string in `buf`: up to the first NUL, or all of `buf`.
fn c_str(buf: &[u8]) -> &[u8] {
    buf.iter()
        .position(|&b| b == 0)
        .map_or(buf, |nul| &buf[..nul])
}

/// The rping server's Write length, `strlen(rdma_buf) + 1`, bounded by the bytes read.
pub(crate) fn echo_len(read: &[u8]) -> usize {
    (c_str(read).len() + 1).min(read.len())
}

/// A message that does not fit where the protocol is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub(crate) enum ProtocolError {
    /// The received message is not an `rping_rdma_info`.
    #[error(transparent)]
    Info(#[from] InfoError),
    /// The client advertised an empty source.
    #[error("the client advertised a source of 0 bytes")]
    EmptySource,
    /// The client's source is larger than the server's buffer (`-S`).
    #[error("the client advertised a {size}-byte source, the server's buffer holds {max}")]
    SourceTooLarge {
        /// Advertised size.
        size: u32,
        /// The server's buffer size.
        max: u32,
    },
    /// The client's sink cannot hold the echo.
    #[error("the client advertised a {size}-byte sink for a {need}-byte echo")]
    SinkTooSmall {
        /// Advertised size.
        size: u32,
        /// Bytes the server writes.
        need: u32,
    },
    /// An event the current step does not expect (rping: "wait for ... state").
    #[error("{event} while {step}")]
    Unexpected {
        /// What happened.
        event: &'static str,
        /// What the session was waiting for.
        step: &'static str,
    },
}

/// Where a server connection is in the current iteration (rping.c `enum test_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerStep {
    /// Waiting for the source advertisement (`RDMA_READ_ADV`).
    AwaitSource,
    /// The RDMA Read of the source is outstanding.
    Reading {
        /// Bytes read.
        len: u32,
    },
    /// Go-ahead sent; waiting for the sink advertisement (`RDMA_WRITE_ADV`).
    AwaitSink {
        /// Bytes to write back.
        echo: u32,
    },
    /// The RDMA Write into the sink is outstanding.
    Writing,
}

impl ServerStep {
    fn name(self) -> &'static str {
        match self {
            ServerStep::AwaitSource => "waiting for the source advertisement",
            ServerStep::Reading { .. } => "reading the client's source",
            ServerStep::AwaitSink { .. } => "waiting for the sink advertisement",
            ServerStep::Writing => "writing into the client's sink",
        }
    }
}

/// What the server's driver must do next.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ServerAction {
    /// RDMA Read `len` bytes of `source` into the start of the server's buffer.
    Read {
        /// The client's source.
        source: RdmaInfo,
        /// Bytes to read.
        len: u32,
    },
    /// RDMA Write the first `len` bytes of the server's buffer into `sink`.
    Write {
        /// The client's sink.
        sink: RdmaInfo,
        /// Bytes to write.
        len: u32,
    },
    /// Send the 16-byte go-ahead (all zero: rping never fills its send buffer).
    GoAhead,
}

/// The server side of one rping connection (rping.c `rping_test_server`), sans I/O.
#[derive(Clone, Debug)]
pub(crate) struct ServerSession {
    step: ServerStep,
    buffer: u32,
    pings: u64,
}

impl ServerSession {
    /// A session whose buffer (`-S`) holds `buffer` bytes.
    pub(crate) fn new(buffer: u32) -> ServerSession {
        ServerSession {
            step: ServerStep::AwaitSource,
            buffer,
            pings: 0,
        }
    }

    /// Completed pings.
    pub(crate) fn pings(&self) -> u64 {
        self.pings
    }

    /// A client's Send arrived with these bytes (rping.c `server_recv`).
    pub(crate) fn handle_message(&mut self, bytes: &[u8]) -> Result<ServerAction, ProtocolError> {
        let info = RdmaInfo::parse(bytes)?;
        match self.step {
            ServerStep::AwaitSource => {
                if info.size == 0 {
                    return Err(ProtocolError::EmptySource);
                }
                if info.size > self.buffer {
                    return Err(ProtocolError::SourceTooLarge {
                        size: info.size,
                        max: self.buffer,
                    });
                }
                self.step = ServerStep::Reading { len: info.size };
                Ok(ServerAction::Read {
                    source: info,
                    len: info.size,
                })
            }
            ServerStep::AwaitSink { echo } => {
                if info.size < echo {
                    return Err(ProtocolError::SinkTooSmall {
                        size: info.size,
                        need: echo,
                    });
                }
                self.step = ServerStep::Writing;
                Ok(ServerAction::Write {
                    sink: info,
                    len: echo,
                })
            }
            step => Err(ProtocolError::Unexpected {
                event: "an advertisement arrived",
                step: step.name(),
            }),
        }
    }

    /// The Read completed; `read` holds the bytes read (rping prints them with `-v`).
    pub(crate) fn handle_read_done(&mut self, read: &[u8]) -> Result<ServerAction, ProtocolError> {
        match self.step {
            ServerStep::Reading { len } => {
                let got = read.get(..len as usize).unwrap_or(read);
                // `echo_len` is at most `len`, a u32.
                let echo = u32::try_from(echo_len(got)).unwrap_or(len);
                self.step = ServerStep::AwaitSink { echo };
                Ok(ServerAction::GoAhead)
            }
            step => Err(ProtocolError::Unexpected {
                event: "an RDMA Read completed",
                step: step.name(),
            }),
        }
    }

    /// The Write completed: tell the client to begin again.
    pub(crate) fn handle_write_done(&mut self) -> Result<ServerAction, ProtocolError> {
        match self.step {
            ServerStep::Writing => {
                self.step = ServerStep::AwaitSource;
                self.pings += 1;
                Ok(ServerAction::GoAhead)
            }
            step => Err(ProtocolError::Unexpected {
                event: "an RDMA Write completed",
                step: step.name(),
            }),
        }
    }

    /// The client went away: clean between iterations (rping's `DISCONNECTED`), an
    /// error in the middle of one.
    pub(crate) fn handle_disconnect(&self) -> Result<u64, ProtocolError> {
        match self.step {
            ServerStep::AwaitSource => Ok(self.pings),
            step => Err(ProtocolError::Unexpected {
                event: "the client disconnected",
                step: step.name(),
            }),
        }
    }

    /// What the session waits for, for messages.
    fn step_name(&self) -> &'static str {
        self.step.name()
    }
}

/// Where a client is in the current ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientStep {
    /// Between pings.
    Idle,
    /// Source advertised; waiting for the go-ahead after the server's Read.
    AwaitRead,
    /// Sink advertised; waiting for the go-ahead after the server's Write.
    AwaitWrite,
}

impl ClientStep {
    fn name(self) -> &'static str {
        match self {
            ClientStep::Idle => "between pings",
            ClientStep::AwaitRead => "waiting for the go-ahead after the server's RDMA Read",
            ClientStep::AwaitWrite => "waiting for the go-ahead after the server's RDMA Write",
        }
    }
}

/// What the client's driver must do next.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientAction {
    /// Send the advertisement of the sink buffer.
    AdvertiseSink,
    /// The ping is complete: validate and print the sink.
    PingDone,
}

/// The client side of one rping connection (rping.c `rping_test_client`), sans I/O.
#[derive(Clone, Debug)]
pub(crate) struct ClientSession {
    step: ClientStep,
    ping: u64,
    start: u8,
    count: u64,
}

impl ClientSession {
    /// A session running `count` pings (0: until stopped).
    pub(crate) fn new(count: u64) -> ClientSession {
        ClientSession {
            step: ClientStep::Idle,
            ping: 0,
            start: RAMP_FIRST,
            count,
        }
    }

    /// Completed pings.
    pub(crate) fn pings(&self) -> u64 {
        self.ping
    }

    /// True once `count` pings completed.
    pub(crate) fn finished(&self) -> bool {
        self.count != 0 && self.ping >= self.count
    }

    /// Starts the next ping: writes its payload into `source`; the driver then Sends
    /// the source advertisement.
    pub(crate) fn begin_ping(&mut self, source: &mut [u8]) -> Result<(), ProtocolError> {
        if self.step != ClientStep::Idle {
            return Err(ProtocolError::Unexpected {
                event: "a new ping was started",
                step: self.step.name(),
            });
        }
        fill_ping(self.ping, self.start, source);
        self.step = ClientStep::AwaitRead;
        Ok(())
    }

    /// The server's go-ahead arrived (rping.c `client_recv`: any 16 bytes).
    pub(crate) fn handle_message(&mut self, bytes: &[u8]) -> Result<ClientAction, ProtocolError> {
        RdmaInfo::parse(bytes)?;
        match self.step {
            ClientStep::AwaitRead => {
                self.step = ClientStep::AwaitWrite;
                Ok(ClientAction::AdvertiseSink)
            }
            ClientStep::AwaitWrite => {
                self.step = ClientStep::Idle;
                self.ping += 1;
                self.start = next_start(self.start);
                Ok(ClientAction::PingDone)
            }
            ClientStep::Idle => Err(ProtocolError::Unexpected {
                event: "a go-ahead arrived",
                step: ClientStep::Idle.name(),
            }),
        }
    }

    /// What the session waits for, for messages.
    fn step_name(&self) -> &'static str {
        self.step.name()
    }
}

// ---------------------------------------------------------------------------------------
// Driver: verbs objects, work requests and bounded waits.
// ---------------------------------------------------------------------------------------

/// One completion, sorted for the sessions.
#[derive(Clone, Copy, Debug)]
enum Event {
    /// A Send from the peer arrived: its first `len` bytes (at most 16) are in `data`.
    Received { data: [u8; INFO_LEN], len: usize },
    /// One of our work requests completed.
    Done(WcOpcode),
    /// The peer closed the connection (flushed work or the QP in Error).
    Disconnected,
}

/// The received message of a `len`-byte Send copied into `data`.
fn message(data: &[u8; INFO_LEN], len: usize) -> Result<&[u8], InfoError> {
    data.get(..len).ok_or(InfoError::Length { have: len })
}

/// A connected QP with its CQ and receive slots.
struct Endpoint {
    cq: CompletionQueue,
    qp: QueuePair,
    recv: MemoryRegion,
    step_timeout: Duration,
    next_wr: u64,
}

impl Endpoint {
    /// Posts receive slot `slot` (16 bytes, as rping's `recv_buf`).
    fn post_recv(qp: &QueuePair, recv: &MemoryRegion, slot: u64) -> Result<(), PostError> {
        let sge = [recv.sge(slot * INFO_LEN as u64, INFO_LEN as u32)];
        qp.post_recv(&RecvWr {
            wr_id: slot,
            sgl: &sge,
        })
    }

    /// A fresh work-request id for the send queue (receives use their slot numbers).
    fn wr_id(&mut self) -> u64 {
        self.next_wr += 1;
        RECV_SLOTS + self.next_wr
    }

    /// Posts a send-queue work request built for a fresh id.
    fn post(&mut self, what: &str, build: impl FnOnce(u64) -> Result<()>) -> Result<()> {
        let id = self.wr_id();
        build(id).with_context(|| format!("posting {what}"))
    }

    /// Waits at most the step timeout for the next completion, while `waiting_for`; a
    /// received Send's slot is posted again before it is returned.
    fn next_event(&self, waiting_for: &str) -> Result<Event> {
        let bound = self.step_timeout;
        let deadline = monotonic_now().saturating_add(bound);
        let mut idle = Backoff::default();
        let mut wc = [Completion::default(); 1];
        loop {
            if self.cq.poll(&mut wc) == 1 {
                return self.sort(&wc[0], waiting_for);
            }
            if self.cq.overrun() {
                bail!("completion queue overrun while {waiting_for}");
            }
            if self.qp.state() == QpState::Error {
                return Ok(Event::Disconnected);
            }
            if monotonic_now() >= deadline {
                bail!("timed out after {bound:?} {waiting_for}");
            }
            idle.idle(0);
        }
    }

    /// Turns a completion into an [`Event`]; failed work requests are errors.
    fn sort(&self, wc: &Completion, waiting_for: &str) -> Result<Event> {
        match wc.status {
            WcStatus::Success => {}
            WcStatus::WrFlushError => return Ok(Event::Disconnected),
            status => bail!(
                "{:?} work request failed with {status:?} while {waiting_for}{}",
                wc.opcode,
                if status == WcStatus::LocalLengthError {
                    " (the peer sent more than rping's 16-byte message)"
                } else {
                    ""
                }
            ),
        }
        if wc.opcode == WcOpcode::Recv {
            // Copy the message out before the slot is posted again.
            let mut data = [0u8; INFO_LEN];
            let at = usize::try_from(wc.wr_id)
                .ok()
                .and_then(|slot| slot.checked_mul(INFO_LEN))
                .with_context(|| format!("receive completion for unknown slot {}", wc.wr_id))?;
            self.recv.read(at, &mut data)?;
            Endpoint::post_recv(&self.qp, &self.recv, wc.wr_id).context("re-posting a receive")?;
            return Ok(Event::Received {
                data,
                len: wc.byte_len as usize,
            });
        }
        Ok(Event::Done(wc.opcode))
    }
}

/// Queue-pair creation parameters shared by client and server: rping's
/// `responder_resources = initiator_depth = 1`; `tap` records the connection.
fn qp_init<'a>(cq: &'a CompletionQueue, tap: Option<&'a Arc<dyn FrameTap>>) -> QpInit<'a> {
    QpInit {
        tap,
        sq_depth: SQ_DEPTH,
        rq_depth: RECV_SLOTS as usize,
        max_sge: 1,
        max_inline: INFO_LEN,
        max_message_size: MAX_SIZE as u64,
        ird: 1,
        ord: 1,
        ..QpInit::new(cq, cq)
    }
}

/// Posts every receive slot (before the connection exists: a hardware peer may send
/// as soon as it is connected).
fn post_all_recvs(qp: &QueuePair, recv: &MemoryRegion) -> Result<(), PostError> {
    (0..RECV_SLOTS).try_for_each(|slot| Endpoint::post_recv(qp, recv, slot))
}

/// A short description of what a connection negotiated.
struct Negotiated<'a>(&'a ConnectInfo);

impl fmt::Display for Negotiated<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.0;
        write!(
            f,
            "MPA v{}, CRC {}, IRD {} ORD {}",
            i.revision,
            if i.crc { "on" } else { "off" },
            i.ird,
            i.ord
        )
    }
}

/// The local address the kernel would use to reach `peer` (a route lookup: connecting
/// a UDP socket sends nothing).
fn local_ip_towards(peer: SocketAddr) -> Option<IpAddr> {
    let any = match peer {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = UdpSocket::bind(any).ok()?;
    socket.connect(peer).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

/// Opens the device that serves local address `local` (any device when unknown).
fn open_device(backend: BackendArg, local: Option<IpAddr>) -> Result<Device> {
    let backend = Backend::from(backend);
    let dev = match local.filter(|ip| !ip.is_unspecified()) {
        Some(ip) => Device::open_for(backend, ip),
        None => Device::open(backend),
    };
    dev.with_context(|| format!("opening a {backend:?} verbs device"))
}

/// The printable part of a ping buffer (up to its NUL), as rping's `%s` shows it.
fn shown(buf: &[u8]) -> String {
    String::from_utf8_lossy(c_str(buf)).into_owned()
}

/// `tickwarp rping --client`.
fn ping(args: &RpingArgs, addr: SocketAddr, tap: Option<&Arc<dyn FrameTap>>) -> Result<()> {
    let mut client = Client::connect(args, addr, MpaRevision::V2, tap)?;
    println!(
        "rping client: connected to {addr} via {} ({})",
        client.device,
        Negotiated(&client.info)
    );
    let pings = client.run(args)?;
    println!(
        "rping client: {pings} pings of {} bytes with {addr} done{}",
        args.size,
        if args.validate { ", all validated" } else { "" }
    );
    Ok(())
}

/// `tickwarp probe`'s RDMAP round trip: one validated ping of rping's protocol with the
/// rping server at `addr` over the soft stack (a SEND each way, the server's RDMA Read
/// of our source and RDMA Write into our sink, then the sink compared with the source).
/// Returns what the connection negotiated; `tap` records the connection.
pub(crate) fn probe_round_trip(
    addr: SocketAddr,
    crc: bool,
    revision: MpaRevision,
    step_timeout: Duration,
    tap: Option<&Arc<dyn FrameTap>>,
) -> Result<ConnectInfo> {
    let args = RpingArgs {
        server: None,
        client: Some(addr),
        count: 1,
        size: DEFAULT_SIZE,
        verbose: false,
        validate: true,
        crc,
        persistent: false,
        backend: BackendArg::Soft,
        timeout: step_timeout.as_secs().max(1),
        accept_timeout: 0,
        capture: None,
    };
    let mut client = Client::connect(&args, addr, revision, tap)?;
    client.run(&args)?;
    Ok(client.info)
}

/// A connected rping client: its queue pair and buffers.
struct Client {
    device: String,
    info: ConnectInfo,
    ep: Endpoint,
    source: MemoryRegion,
    sink: MemoryRegion,
}

impl Client {
    /// Connects to the rping server at `addr` with the buffers `args` asks for, asking
    /// for MPA `revision`; `tap` records the connection.
    fn connect(
        args: &RpingArgs,
        addr: SocketAddr,
        revision: MpaRevision,
        tap: Option<&Arc<dyn FrameTap>>,
    ) -> Result<Client> {
        let size = args.size;
        let step_timeout = Duration::from_secs(args.timeout);
        let dev = open_device(args.backend, local_ip_towards(addr))?;
        let pd = dev.alloc_pd();
        let cq = dev.create_cq(CQ_DEPTH)?;
        let source = pd.alloc_mr(size as usize, Access::REMOTE_READ | Access::LOCAL_WRITE)?;
        let sink = pd.alloc_mr(size as usize, Access::REMOTE_WRITE | Access::LOCAL_WRITE)?;
        let recv = pd.alloc_mr(RECV_SLOTS as usize * INFO_LEN, Access::LOCAL_WRITE)?;
        let params = ConnectParams {
            crc: args.crc,
            revision,
            settle: SETTLE,
            timeout: step_timeout,
            ..ConnectParams::default()
        };
        let (qp, info) = pd
            .connect_prepared(addr, &qp_init(&cq, tap), &params, |qp| {
                post_all_recvs(qp, &recv)
            })
            .map_err(|e| connect_error(e, addr))?;
        Ok(Client {
            device: dev.name().to_string(),
            info,
            ep: Endpoint {
                cq,
                qp,
                recv,
                step_timeout,
                next_wr: 0,
            },
            source,
            sink,
        })
    }

    /// Runs the pings, then disconnects; returns how many completed.
    fn run(&mut self, args: &RpingArgs) -> Result<u64> {
        let result = ping_loop(args, &mut self.ep, &self.source, &self.sink);
        self.ep.qp.disconnect();
        result
    }
}

/// Explains a failed connect.
fn connect_error(e: CmError, addr: SocketAddr) -> anyhow::Error {
    let hint = match &e {
        CmError::Timeout => " (is an rping server listening there?)",
        CmError::Rejected { .. } => " (the server refused the MPA request)",
        _ => "",
    };
    anyhow::Error::new(e).context(format!("connecting to the rping server at {addr}{hint}"))
}

/// Runs the pings of one client connection; returns how many completed.
fn ping_loop(
    args: &RpingArgs,
    ep: &mut Endpoint,
    source: &MemoryRegion,
    sink: &MemoryRegion,
) -> Result<u64> {
    let size = args.size as usize;
    let mut session = ClientSession::new(args.count);
    let mut start_buf = vec![0u8; size];
    let mut sink_buf = vec![0u8; size];
    let source_info = RdmaInfo::of(source, 0, args.size).emit();
    let sink_info = RdmaInfo::of(sink, 0, args.size).emit();
    while !session.finished() {
        let n = session.pings();
        session.begin_ping(&mut start_buf)?;
        source.write(0, &start_buf)?;
        send_info(ep, &source_info, "the source advertisement")?;
        loop {
            let what = format!("ping {n}: {}", session.step_name());
            match ep.next_event(&what)? {
                Event::Received { data, len } => {
                    match session
                        .handle_message(message(&data, len)?)
                        .with_context(|| format!("ping {n}"))?
                    {
                        ClientAction::AdvertiseSink => {
                            send_info(ep, &sink_info, "the sink advertisement")?;
                        }
                        ClientAction::PingDone => break,
                    }
                }
                Event::Done(_) => {}
                Event::Disconnected => bail!("ping {n}: the server disconnected while {what}"),
            }
        }
        sink.read(0, &mut sink_buf)?;
        if args.validate && sink_buf != start_buf {
            bail!(
                "ping {n}: data mismatch!\n  source {:?}\n  sink   {:?}",
                shown(&start_buf),
                shown(&sink_buf)
            );
        }
        if args.verbose {
            println!("ping data: {}", shown(&sink_buf));
        }
    }
    Ok(session.pings())
}

/// Sends one 16-byte message (inline: it is copied at post time).
fn send_info(ep: &mut Endpoint, info: &[u8; INFO_LEN], what: &str) -> Result<()> {
    let qp = ep.qp.clone();
    ep.post(what, |id| Ok(qp.post_send(&SendWr::send_inline(id, info))?))
}

/// `tickwarp rping --server`.
fn serve(args: &RpingArgs, addr: SocketAddr, tap: Option<&Arc<dyn FrameTap>>) -> Result<()> {
    let dev = open_device(args.backend, Some(addr.ip()))?;
    let pd = dev.alloc_pd();
    let params = ListenParams {
        crc: if args.crc {
            CrcPolicy::Request
        } else {
            CrcPolicy::Accept
        },
        ..ListenParams::default()
    };
    let listener = pd
        .listen_with(addr, params)
        .with_context(|| format!("listening on {addr}"))?;
    println!(
        "rping server: listening on {} via {}",
        listener.local_addr(),
        dev.name()
    );
    loop {
        let outcome = serve_one(args, &dev, &pd, &listener, tap);
        if !args.persistent {
            return outcome;
        }
        if let Err(e) = outcome {
            eprintln!("rping server: {}", crate::causes(&e));
        }
    }
}

/// Waits for one client and serves it until it disconnects.
fn serve_one(
    args: &RpingArgs,
    dev: &Device,
    pd: &tickwarp_rdma::verbs::ProtectionDomain,
    listener: &Listener,
    tap: Option<&Arc<dyn FrameTap>>,
) -> Result<()> {
    let request = accept_request(args, listener)?;
    let peer = request.peer_addr();
    let cq = dev.create_cq(CQ_DEPTH)?;
    let buf = pd.alloc_mr(args.size as usize, Access::LOCAL_WRITE)?;
    let recv = pd.alloc_mr(RECV_SLOTS as usize * INFO_LEN, Access::LOCAL_WRITE)?;
    let (qp, info) = request
        .accept_prepared(&qp_init(&cq, tap), &[], |qp| post_all_recvs(qp, &recv))
        .with_context(|| format!("accepting {peer}"))?;
    println!("rping server: {peer} connected ({})", Negotiated(&info));
    let mut ep = Endpoint {
        cq,
        qp,
        recv,
        step_timeout: Duration::from_secs(args.timeout),
        next_wr: 0,
    };
    let result = serve_loop(args, &mut ep, &buf);
    ep.qp.disconnect();
    let pings = result.with_context(|| format!("serving {peer}"))?;
    println!("rping server: {peer} disconnected after {pings} pings");
    Ok(())
}

/// The next connection request, within `--accept-timeout` (forever when 0).
fn accept_request(
    args: &RpingArgs,
    listener: &Listener,
) -> Result<tickwarp_rdma::verbs::ConnectRequest> {
    if args.accept_timeout > 0 {
        let bound = Duration::from_secs(args.accept_timeout);
        return listener.accept(bound).map_err(|e| match e {
            CmError::Timeout => anyhow::anyhow!("no rping client connected within {bound:?}"),
            e => anyhow::Error::new(e).context("waiting for an rping client"),
        });
    }
    loop {
        match listener.accept(ACCEPT_CHUNK) {
            Err(CmError::Timeout) => {}
            other => return other.context("waiting for an rping client"),
        }
    }
}

/// Serves one connection's pings (rping.c `rping_test_server`); returns how many.
fn serve_loop(args: &RpingArgs, ep: &mut Endpoint, buf: &MemoryRegion) -> Result<u64> {
    let mut session = ServerSession::new(args.size);
    let mut read_buf = vec![0u8; args.size as usize];
    let zeros = [0u8; INFO_LEN];
    loop {
        let what = format!("ping {}: {}", session.pings(), session.step_name());
        let action = match ep.next_event(&what)? {
            Event::Received { data, len } => session.handle_message(message(&data, len)?)?,
            Event::Done(WcOpcode::RdmaRead) => {
                buf.read(0, &mut read_buf)?;
                let action = session.handle_read_done(&read_buf)?;
                if args.verbose {
                    println!("server ping data: {}", shown(&read_buf));
                }
                action
            }
            Event::Done(WcOpcode::RdmaWrite) => session.handle_write_done()?,
            Event::Done(_) => continue,
            Event::Disconnected => return Ok(session.handle_disconnect()?),
        };
        let qp = ep.qp.clone();
        match action {
            ServerAction::Read { source, len } => ep.post("the RDMA Read", |id| {
                let sge = [buf.sge(0, len)];
                Ok(qp.post_send(&SendWr::rdma_read(id, &sge, source.remote()))?)
            })?,
            ServerAction::Write { sink, len } => ep.post("the RDMA Write", |id| {
                let sge = [buf.sge(0, len)];
                Ok(qp.post_send(&SendWr::rdma_write(id, &sge, sink.remote()))?)
            })?,
            ServerAction::GoAhead => ep.post("the go-ahead", |id| {
                Ok(qp.post_send(&SendWr::send_inline(id, &zeros))?)
            })?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden trace frame 192, the client's first Send (README "Wire spec", step 2):
    /// `buf = 0x0000558e6f99c370`, `rkey = 0x20751d00`, `size = 64`.
    static SOURCE_ADV: [u8; 16] = [
        0x00, 0x00, 0x55, 0x8e, 0x6f, 0x99, 0xc3, 0x70, 0x20, 0x75, 0x1d, 0x00, 0x00, 0x00, 0x00,
        0x40,
    ];

    /// Golden trace frame 196, the sink advertisement (step 6).
    static SINK_ADV: [u8; 16] = [
        0x00, 0x00, 0x55, 0x8e, 0x6f, 0x99, 0xc5, 0x50, 0x0a, 0x68, 0xae, 0x00, 0x00, 0x00, 0x00,
        0x40,
    ];

    /// Golden trace frame 194, the Read Response payload of ping 0 (64 bytes).
    static PING_0: &[u8; 64] =
        b"rdma-ping-0: ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqr\0";

    /// Golden trace frame 202, ping 1: the ramp starts one later.
    static PING_1: &[u8; 64] =
        b"rdma-ping-1: BCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrs\0";

    #[test]
    fn info_layout_matches_golden_trace() {
        let source = RdmaInfo::parse(&SOURCE_ADV).unwrap();
        assert_eq!(
            source,
            RdmaInfo {
                buf: 0x0000_558e_6f99_c370,
                rkey: 0x2075_1d00,
                size: 64
            }
        );
        assert_eq!(source.emit(), SOURCE_ADV);
        let sink = RdmaInfo::parse(&SINK_ADV).unwrap();
        assert_eq!(
            (sink.buf, sink.rkey, sink.size),
            (0x558e_6f99_c550, 0x0a68_ae00, 64)
        );
        assert_eq!(
            source.remote(),
            RemoteAddr {
                stag: 0x2075_1d00,
                offset: 0x558e_6f99_c370
            }
        );
    }

    #[test]
    fn info_of_any_other_length_is_bogus() {
        for len in [0, 1, 15, 17, 64] {
            assert_eq!(
                RdmaInfo::parse(&vec![0u8; len]),
                Err(InfoError::Length { have: len })
            );
        }
        assert_eq!(RdmaInfo::parse(&[0u8; 16]), Ok(RdmaInfo::default()));
    }

    #[test]
    fn payload_matches_golden_trace() {
        let mut buf = [0xffu8; 64];
        fill_ping(0, b'A', &mut buf);
        assert_eq!(&buf, PING_0);
        fill_ping(1, next_start(b'A'), &mut buf);
        assert_eq!(&buf, PING_1);
        assert_eq!(echo_len(&buf), 64);
    }

    #[test]
    fn payload_ramp_wraps_and_head_truncates() {
        let mut buf = [0u8; 20];
        fill_ping(11, b'z', &mut buf);
        assert_eq!(&buf, b"rdma-ping-11: zABCD\0");
        assert_eq!(next_start(b'z'), b'A');
        // A buffer shorter than the head: snprintf truncates and NUL-terminates.
        let mut short = [0xffu8; 8];
        fill_ping(123, b'A', &mut short);
        assert_eq!(&short, b"rdma-pi\0");
        let mut big = [0u8; 40];
        fill_ping(u64::MAX, b'A', &mut big);
        assert_eq!(&big[..32], b"rdma-ping-18446744073709551615: ");
        assert_eq!(&big[32..], b"ABCDEFG\0");
        fill_ping(0, b'A', &mut []);
    }

    #[test]
    fn echo_len_is_strlen_plus_one_within_the_read() {
        assert_eq!(echo_len(b"ab\0cd"), 3);
        assert_eq!(echo_len(b"abcd"), 4);
        assert_eq!(echo_len(b"\0"), 1);
        assert_eq!(echo_len(b""), 0);
    }

    /// Server session fed the golden trace's iteration: Read, go-ahead, Write, go-ahead.
    #[test]
    fn server_session_runs_an_iteration() {
        let mut s = ServerSession::new(64);
        let source = RdmaInfo::parse(&SOURCE_ADV).unwrap();
        assert_eq!(
            s.handle_message(&SOURCE_ADV),
            Ok(ServerAction::Read { source, len: 64 })
        );
        assert!(s.handle_message(&SINK_ADV).is_err(), "sink before go-ahead");
        assert_eq!(s.handle_read_done(PING_0), Ok(ServerAction::GoAhead));
        let sink = RdmaInfo::parse(&SINK_ADV).unwrap();
        assert_eq!(
            s.handle_message(&SINK_ADV),
            Ok(ServerAction::Write { sink, len: 64 })
        );
        assert!(s.handle_disconnect().is_err(), "mid-iteration");
        assert_eq!(s.handle_write_done(), Ok(ServerAction::GoAhead));
        assert_eq!(s.pings(), 1);
        assert_eq!(s.handle_disconnect(), Ok(1));
    }

    #[test]
    fn server_session_refuses_what_rping_cannot_serve() {
        let mut s = ServerSession::new(32);
        let big = RdmaInfo {
            size: 64,
            ..RdmaInfo::default()
        };
        assert_eq!(
            s.handle_message(&big.emit()),
            Err(ProtocolError::SourceTooLarge { size: 64, max: 32 })
        );
        assert_eq!(
            s.handle_message(&RdmaInfo::default().emit()),
            Err(ProtocolError::EmptySource)
        );
        assert_eq!(
            s.handle_message(&[0u8; 15]),
            Err(ProtocolError::Info(InfoError::Length { have: 15 }))
        );
        assert!(s.handle_read_done(&[]).is_err());
        assert!(s.handle_write_done().is_err());
        let small = RdmaInfo {
            size: 8,
            ..RdmaInfo::default()
        };
        assert!(s.handle_message(&small.emit()).is_ok());
        assert_eq!(s.handle_read_done(b"0123456789"), Ok(ServerAction::GoAhead));
        let tiny = RdmaInfo {
            size: 4,
            ..RdmaInfo::default()
        };
        assert_eq!(
            s.handle_message(&tiny.emit()),
            Err(ProtocolError::SinkTooSmall { size: 4, need: 8 })
        );
    }

    #[test]
    fn client_session_counts_pings_and_ramps() {
        let mut c = ClientSession::new(2);
        let mut buf = [0u8; 64];
        assert!(
            c.handle_message(&[0u8; 16]).is_err(),
            "go-ahead between pings"
        );
        c.begin_ping(&mut buf).unwrap();
        assert_eq!(&buf, PING_0);
        assert!(c.begin_ping(&mut buf).is_err(), "ping in progress");
        assert_eq!(
            c.handle_message(&[0u8; 16]),
            Ok(ClientAction::AdvertiseSink)
        );
        assert_eq!(c.handle_message(&[7u8; 16]), Ok(ClientAction::PingDone));
        assert!(!c.finished());
        c.begin_ping(&mut buf).unwrap();
        assert_eq!(&buf, PING_1);
        assert!(c.handle_message(&[0u8; 17]).is_err());
        assert_eq!(
            c.handle_message(&[0u8; 16]),
            Ok(ClientAction::AdvertiseSink)
        );
        assert_eq!(c.handle_message(&[0u8; 16]), Ok(ClientAction::PingDone));
        assert!(c.finished());
        assert_eq!(c.pings(), 2);
        assert!(!ClientSession::new(0).finished(), "count 0 runs forever");
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn info_round_trips(buf: u64, rkey: u32, size: u32) {
                let info = RdmaInfo { buf, rkey, size };
                prop_assert_eq!(RdmaInfo::parse(&info.emit()), Ok(info));
            }

            #[test]
            fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
                let _ = RdmaInfo::parse(&bytes);
            }

            #[test]
            fn payload_is_nul_terminated(ping: u64, start in b'A'..=b'z', len in 1usize..200) {
                let mut buf = vec![0xffu8; len];
                fill_ping(ping, start, &mut buf);
                prop_assert_eq!(buf[len - 1], 0);
                prop_assert!(echo_len(&buf) <= len);
            }
        }
    }
}
