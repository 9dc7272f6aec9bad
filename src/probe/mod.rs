//! `tickwarp probe HOST:PORT`: which iWARP layer fails between here and a peer, and why
//! (the firewall question). A ladder of checks, each timed, stopping at the first layer
//! that fails: route (source address, interface, MTU), TCP (connected, refused, ICMP
//! unreachable, silence), MPA (our RFC 6581 Request on a raw TCP connection: a Reply
//! decoded, another protocol recognised, or silence told apart by `TCP_INFO` into "a
//! TCP stack acknowledged it" and "nothing did: a box drops this payload"), negotiation
//! (CRC, markers, revision, P2P), an RDMAP round trip (rping's protocol: SEND, RDMA
//! Read, RDMA Write, data compared) on a second connection over the soft stack, then the
//! path checks on a third ([`path`]: FPDUs split at odd boundaries, coalesced, as large
//! as the peer's buffer allows, CRC and data checked) and, with `--idle S`, one more
//! ping after S seconds of silence.
//!
//! The probe talks only to the address given, sends nothing but a TCP handshake, one
//! MPA Request, what `tickwarp rping --client` sends and rping pings, and waits at most
//! `--timeout` per step. It must not retry a failed step or guess past a failed layer.

mod host;
mod listen;
mod mpa;
mod path;
mod sys;

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use tickwarp_rdma::capture::PcapTap;
use tickwarp_rdma::verbs::{FrameTap, MpaRevision};
use tickwarp_runtime::clock::monotonic_now;
use tickwarp_runtime::time::Nanos;

use self::mpa::{Finding, Outcome, Received, Reply};

/// Options of `tickwarp probe`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["target", "listen"])))]
pub(crate) struct ProbeArgs {
    /// The iWARP peer to probe, HOST:PORT (`[v6addr]:PORT` for IPv6).
    #[arg(value_name = "HOST:PORT")]
    target: Option<String>,
    /// Be the far end instead: report what arrives on ADDR:PORT and answer MPA Requests
    /// and plain `HELLO` lines (no RDMAP; `tickwarp rping --server` does the round trip).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// With --listen: connections to serve before exiting (0: until interrupted).
    #[arg(long, default_value_t = 0, requires = "listen")]
    count: u64,
    /// Seconds each step (TCP connect, MPA Reply, each RDMAP step) may take.
    #[arg(long, default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Ask for CRC32c (MPA C bit) in the MPA check, the round trip and the path checks.
    #[arg(long)]
    crc: bool,
    /// Bytes of the peer's rping buffer (its `-S`): the path checks' largest FPDU.
    #[arg(long, default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(26..=65536))]
    size: u32,
    /// After the path checks, stay silent this many seconds, then ping once more (a
    /// stateful firewall that forgets idle flows shows here).
    #[arg(long, value_name = "S", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    idle: u64,
    /// Record the round trip's and the path checks' connections (MPA handshake and
    /// every FPDU) to this pcap file, for Wireshark.
    #[arg(long, value_name = "FILE.pcap")]
    capture: Option<PathBuf>,
    /// Also offer MPA markers (M=1) on one more connection and report whether the peer
    /// accepts or refuses them (the other checks run without markers).
    #[arg(long)]
    markers: bool,
}

/// An iWARP layer, as the report names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Layer {
    /// Name resolution, route, source address, interface.
    Route,
    /// The TCP connection.
    Tcp,
    /// The MPA Request/Reply exchange.
    Mpa,
    /// What the Reply agreed to.
    Negotiation,
    /// RDMAP operations over an established connection.
    Rdmap,
    /// What the path does to an established connection's FPDUs.
    Path,
    /// The connection after a quiet time (`--idle`).
    Idle,
}

impl Layer {
    fn name(self) -> &'static str {
        match self {
            Layer::Route => "route",
            Layer::Tcp => "tcp",
            Layer::Mpa => "mpa",
            Layer::Negotiation => "negotiation",
            Layer::Rdmap => "rdmap",
            Layer::Path => "path",
            Layer::Idle => "idle",
        }
    }
}

/// A check's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    /// Works.
    Pass,
    /// Broken: the ladder stops here.
    Fail,
    /// Works, with something worth knowing.
    Warn,
    /// Not run (a lower layer failed).
    Skip,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Warn => "warn",
            Status::Skip => "skip",
        }
    }
}

/// One row of the report.
#[derive(Clone, Debug, Serialize)]
struct Check {
    layer: Layer,
    name: &'static str,
    status: Status,
    detail: String,
    /// Milliseconds the check took (0 for derived checks).
    ms: f64,
}

/// The whole report (the `--json` object).
#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    failed_layer: Option<Layer>,
    verdict: String,
    checks: Vec<Check>,
}

/// Runs the probe; exit status 0 when every check passed, 1 when one failed, 2 for a
/// target that is not HOST:PORT.
pub(crate) fn run(args: &ProbeArgs) -> ExitCode {
    let timeout = Duration::from_secs(args.timeout);
    let target = match (&args.listen, &args.target) {
        (Some(addr), _) => {
            return match listen::serve(*addr, timeout, args.count) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tickwarp probe: {}", crate::causes(&e));
                    ExitCode::FAILURE
                }
            };
        }
        (None, Some(target)) => target,
        (None, None) => {
            eprintln!("tickwarp probe: give HOST:PORT or --listen ADDR:PORT");
            return ExitCode::from(2);
        }
    };
    let Some((host, port)) = split_target(target) else {
        eprintln!("tickwarp probe: {target:?} is not HOST:PORT (write [ADDR]:PORT for IPv6)");
        return ExitCode::from(2);
    };
    let capture = match args.capture.as_deref().map(crate::capture_cmd::open_tap) {
        Some(Ok(tap)) => Some(tap),
        Some(Err(e)) => {
            eprintln!("tickwarp probe: {}", crate::causes(&e));
            return ExitCode::from(2);
        }
        None => None,
    };
    let opts = Options {
        timeout,
        crc: args.crc,
        size: args.size,
        idle: (args.idle > 0).then(|| Duration::from_secs(args.idle)),
        tap: capture.clone().map(|t| -> Arc<dyn FrameTap> { t }),
        markers: args.markers,
    };
    let report = probe(&host, port, &opts);
    drop(opts);
    let captured = finish_capture(capture, args.capture.as_deref());
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("tickwarp probe: cannot print the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", Table(&report));
    }
    if !captured {
        ExitCode::from(2)
    } else if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Completes the `--capture` file, if any; false (said on stderr) when it failed.
fn finish_capture(tap: Option<Arc<PcapTap>>, path: Option<&Path>) -> bool {
    let (Some(tap), Some(path)) = (tap, path) else {
        return true;
    };
    match crate::capture_cmd::finish_tap(tap, path) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("tickwarp probe: {}", crate::causes(&e));
            false
        }
    }
}

/// `HOST:PORT` or `[V6]:PORT` split into host and port.
fn split_target(target: &str) -> Option<(String, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|&p| p != 0)?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']')?,
        None if host.contains(':') => return None,
        None => host,
    };
    (!host.is_empty()).then(|| (host.to_string(), port))
}

/// What the ladder needs from the command line.
struct Options {
    timeout: Duration,
    crc: bool,
    /// The peer's rping buffer size.
    size: u32,
    /// Quiet time before the idle check, if asked.
    idle: Option<Duration>,
    /// The `--capture` file's tap.
    tap: Option<Arc<dyn FrameTap>>,
    /// Offer markers on an extra connection.
    markers: bool,
}

/// Builds the report row by row; the first failure sets the verdict.
struct Ladder {
    checks: Vec<Check>,
    failed: Option<(Layer, String)>,
}

impl Ladder {
    fn push(&mut self, layer: Layer, name: &'static str, status: Status, detail: String, ms: f64) {
        self.checks.push(Check {
            layer,
            name,
            status,
            detail,
            ms,
        });
    }

    /// Records a failing check and the verdict; the caller stops climbing.
    fn fail(&mut self, layer: Layer, name: &'static str, detail: String, ms: f64, verdict: String) {
        self.push(layer, name, Status::Fail, detail, ms);
        self.failed = Some((layer, verdict));
    }

    /// Marks the layers above a failure as not run.
    fn skip_from(&mut self, layers: &[(Layer, &'static str)]) {
        for &(layer, name) in layers {
            self.push(
                layer,
                name,
                Status::Skip,
                "a lower layer failed".into(),
                0.0,
            );
        }
    }
}

/// Layers after each one, for the skipped rows.
const AFTER_ROUTE: &[(Layer, &str)] = &[
    (Layer::Tcp, "connect"),
    (Layer::Mpa, "request/reply"),
    (Layer::Negotiation, "parameters"),
    (Layer::Rdmap, "round trip"),
    (Layer::Path, "path checks"),
];

/// Milliseconds since `start`, to 0.01 ms.
fn ms_since(start: Nanos) -> f64 {
    let ns = monotonic_now().saturating_sub(start).0;
    (ns as f64 / 10_000.0).round() / 100.0
}

/// Climbs the ladder against `host:port`.
fn probe(host: &str, port: u16, opts: &Options) -> Report {
    let mut ladder = Ladder {
        checks: Vec::new(),
        failed: None,
    };
    let ok_verdict = climb(&mut ladder, host, port, opts);
    let (failed_layer, verdict) = match ladder.failed.take() {
        Some((layer, verdict)) => (Some(layer), verdict),
        None => (None, ok_verdict),
    };
    Report {
        ok: failed_layer.is_none(),
        failed_layer,
        verdict,
        checks: ladder.checks,
    }
}

/// Runs the checks in order; returns the verdict when all pass.
fn climb(ladder: &mut Ladder, host: &str, port: u16, opts: &Options) -> String {
    let Some(addr) = route(ladder, host, port) else {
        ladder.skip_from(AFTER_ROUTE);
        return String::new();
    };
    let Some(stream) = tcp(ladder, addr, opts) else {
        ladder.skip_from(&AFTER_ROUTE[1..]);
        return String::new();
    };
    let Some(reply) = mpa_exchange(ladder, stream, addr, opts) else {
        ladder.skip_from(&AFTER_ROUTE[2..]);
        return String::new();
    };
    if !negotiation(ladder, &reply, addr, opts) {
        ladder.skip_from(&AFTER_ROUTE[3..]);
        return String::new();
    }
    if opts.markers {
        markers_offer(ladder, addr, opts, reply.revision);
    }
    if reply.private_data == mpa::RESPONDER_PD {
        ladder.push(
            Layer::Rdmap,
            "round trip",
            Status::Skip,
            "the peer is `tickwarp probe --listen`, which answers MPA only".into(),
            0.0,
        );
        ladder.push(
            Layer::Path,
            "path checks",
            Status::Skip,
            "they need the RDMAP round trip".into(),
            0.0,
        );
        return format!(
            "TCP, MPA and negotiation to {addr} work (the peer is `tickwarp probe --listen`); \
             for the RDMAP round trip run `tickwarp rping --server ADDR:PORT -P` there"
        );
    }
    let revision = if reply.revision == 1 {
        MpaRevision::V1
    } else {
        MpaRevision::V2
    };
    let Some(verdict) = rdmap(ladder, addr, opts, revision) else {
        ladder.skip_from(&AFTER_ROUTE[4..]);
        return String::new();
    };
    match path::run(ladder, addr, opts, reply.revision) {
        Some(more) => format!("{verdict}{more}"),
        None => String::new(),
    }
}

/// Route and local configuration: resolution, the source address the kernel picks
/// (a connected UDP socket sends nothing), its interface and MTU.
fn route(ladder: &mut Ladder, host: &str, port: u16) -> Option<SocketAddr> {
    let start = monotonic_now();
    let addr = match (host, port).to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(addr)) => addr,
        Ok(None) | Err(_) => {
            ladder.fail(
                Layer::Route,
                "resolve",
                format!("{host} does not resolve"),
                ms_since(start),
                format!("{host} does not resolve to an address: fix the name or use the address"),
            );
            return None;
        }
    };
    let local = match local_ip_towards(addr) {
        Ok(ip) => ip,
        Err(e) => {
            ladder.fail(
                Layer::Route,
                "source",
                format!("no route to {}: {e}", addr.ip()),
                ms_since(start),
                format!(
                    "this host has no route to {}: add one (or fix the address) \
                     before looking at any firewall",
                    addr.ip()
                ),
            );
            return None;
        }
    };
    let (status, detail) = match sys::interface_of(local) {
        Ok(Some(name)) => {
            let mtu = std::fs::read_to_string(format!("/sys/class/net/{name}/mtu"))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into());
            (
                Status::Pass,
                format!(
                    "{} resolves to {}; source {local} on {name}, MTU {mtu}",
                    host,
                    addr.ip()
                ),
            )
        }
        Ok(None) | Err(_) => (
            Status::Warn,
            format!("source {local}, on no interface this host lists"),
        ),
    };
    ladder.push(Layer::Route, "source", status, detail, ms_since(start));
    let start = monotonic_now();
    let devices = host::summary(Path::new("/"));
    ladder.push(
        Layer::Route,
        "iwarp devices",
        Status::Pass,
        devices,
        ms_since(start),
    );
    Some(addr)
}

/// The local address the kernel would use to reach `peer`.
fn local_ip_towards(peer: SocketAddr) -> io::Result<IpAddr> {
    let any = match peer {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = UdpSocket::bind(any)?;
    socket.connect(peer)?;
    Ok(socket.local_addr()?.ip())
}

/// The TCP connection: connected (with the MSS), refused, unreachable or silent.
fn tcp(ladder: &mut Ladder, addr: SocketAddr, opts: &Options) -> Option<TcpStream> {
    let start = monotonic_now();
    let result = TcpStream::connect_timeout(&addr, opts.timeout);
    let ms = ms_since(start);
    let port = addr.port();
    let e = match result {
        Ok(stream) => {
            let mss = socket2::SockRef::from(&stream)
                .tcp_mss()
                .map_or_else(|_| "unknown".into(), |m| m.to_string());
            let local = stream
                .local_addr()
                .map_or_else(|_| "?".into(), |a| a.to_string());
            ladder.push(
                Layer::Tcp,
                "connect",
                Status::Pass,
                format!("connected from {local}, MSS {mss}"),
                ms,
            );
            return Some(stream);
        }
        Err(e) => e,
    };
    let (detail, verdict) = match e.raw_os_error() {
        _ if e.kind() == ErrorKind::ConnectionRefused => (
            format!("refused (TCP RST or ICMP port unreachable): {e}"),
            format!(
                "{addr} refused the TCP connection: nothing listens on port {port}, or a \
                 firewall rejects it with a reset; start the iWARP server there or open TCP \
                 port {port} (iWARP is plain TCP on the application's port)"
            ),
        ),
        Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EHOSTDOWN) => (
            format!("ICMP unreachable: {e}"),
            format!(
                "an ICMP unreachable came back for {addr}: a router or firewall between here \
                 and {} rejects the connection (or has no route); allow TCP to port {port}",
                addr.ip()
            ),
        ),
        _ if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock => (
            format!("no answer to our SYN within {}s", opts.timeout.as_secs()),
            format!(
                "the TCP connection to {addr} got no answer within {}s: a firewall between \
                 here and {} silently drops it (or the host is down); allow TCP to port {port}",
                opts.timeout.as_secs(),
                addr.ip()
            ),
        ),
        _ => (
            format!("failed: {e}"),
            format!("the TCP connection to {addr} failed: {e}"),
        ),
    };
    ladder.fail(Layer::Tcp, "connect", detail, ms, verdict);
    None
}

/// How the MPA exchange ended.
enum Answer {
    /// A whole Reply frame.
    Reply(Vec<u8>),
    /// A Reply header announcing more than 512 bytes of private data.
    Oversized(u16),
    /// Another protocol's bytes.
    Foreign(Vec<u8>),
    /// The peer closed (FIN) with these bytes received.
    Closed(Vec<u8>),
    /// The connection was reset.
    Reset,
    /// Nothing (or a partial Reply) until the timeout.
    Silence(Vec<u8>),
    /// Another socket error.
    Failed(io::Error),
}

/// Reads until the bytes received are a Reply, a foreign answer, the end, or the
/// deadline passes.
fn read_answer(stream: &mut TcpStream, timeout: Duration) -> Answer {
    let deadline = monotonic_now().saturating_add(timeout);
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_sub(monotonic_now()).as_duration();
        if left.is_zero() {
            return Answer::Silence(got);
        }
        if let Err(e) = stream.set_read_timeout(Some(left)) {
            return Answer::Failed(e);
        }
        match stream.read(&mut buf) {
            Ok(0) => return Answer::Closed(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Answer::Silence(got);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Answer::Reset,
            Err(e) => return Answer::Failed(e),
        }
        match mpa::sort(&got) {
            Received::Incomplete => {}
            Received::Reply(len) => {
                got.truncate(len);
                return Answer::Reply(got);
            }
            Received::OversizedReply(pd) => return Answer::Oversized(pd),
            Received::Foreign => return Answer::Foreign(got),
        }
    }
}

/// How long a connection stays open after a Reply arrived, before the probe closes it.
/// Linux 6.1's `iw_cm` hits `BUG()` in `cm_work_handler` (iwcm.c:969) when a kernel
/// `siw` responder's connection closes right after its Reply, before its established
/// event was processed (seen in ../shared/siw-vm with `rping -s -P`: a 15 ms close
/// crashed the guest, a 125 ms one did not).
const HOLD_AFTER_REPLY: Duration = Duration::from_millis(200);

/// Waits [`HOLD_AFTER_REPLY`] when `answer` is a Reply.
fn hold_after_reply(answer: &Answer) {
    if matches!(answer, Answer::Reply(_)) {
        std::thread::sleep(HOLD_AFTER_REPLY);
    }
}

/// Whether the peer's TCP stack acknowledged our Request, from `TCP_INFO`, with the
/// counters for the report.
struct Acked {
    acked: Option<bool>,
    detail: String,
}

impl Acked {
    fn read(stream: &TcpStream, request_len: usize) -> Acked {
        match sys::tcp_info(stream) {
            // bytes_acked counts the SYN as one byte, so the Request is acknowledged
            // once it reaches 1 + its length.
            Ok(info) => Acked {
                acked: Some(info.bytes_acked > request_len as u64),
                detail: format!(
                    "TCP_INFO: bytes_acked {} (SYN + {request_len}-byte Request = {}), \
                     unacked {}, retransmits {}, total_retrans {}",
                    info.bytes_acked,
                    request_len + 1,
                    info.unacked,
                    info.retransmits,
                    info.total_retrans
                ),
            },
            Err(e) => Acked {
                acked: None,
                detail: format!("TCP_INFO unreadable: {e}"),
            },
        }
    }
}

/// Sends the MPA Request on the probe's TCP connection and sorts the answer.
fn mpa_exchange(
    ladder: &mut Ladder,
    mut stream: TcpStream,
    addr: SocketAddr,
    opts: &Options,
) -> Option<Reply> {
    let start = monotonic_now();
    let request = mpa::request(opts.crc, 2);
    let _ = stream.set_nodelay(true);
    if let Err(e) = stream
        .set_write_timeout(Some(opts.timeout))
        .and_then(|()| stream.write_all(&request))
    {
        ladder.fail(
            Layer::Mpa,
            "request",
            format!("sending the {}-byte MPA Request failed: {e}", request.len()),
            ms_since(start),
            format!("the TCP connection to {addr} broke as the MPA Request was sent: {e}"),
        );
        return None;
    }
    let answer = read_answer(&mut stream, opts.timeout);
    let acked = Acked::read(&stream, request.len());
    hold_after_reply(&answer);
    drop(stream);
    let ms = ms_since(start);
    let secs = opts.timeout.as_secs();
    let (detail, verdict) = match answer {
        Answer::Reply(frame) => match Reply::parse(&frame) {
            Ok(reply) if reply.reject => match retry_v1(addr, opts) {
                Ok(v1) => {
                    let detail = format!(
                        "revision 2 rejected ({}); revision 1 accepted: {}",
                        reply.summary(),
                        v1.summary()
                    );
                    ladder.push(Layer::Mpa, "request/reply", Status::Warn, detail, ms);
                    return Some(v1);
                }
                Err(why) => rejected(addr, &reply, &why),
            },
            Ok(reply) => {
                ladder.push(
                    Layer::Mpa,
                    "request/reply",
                    Status::Pass,
                    reply.summary(),
                    ms,
                );
                return Some(reply);
            }
            Err(e) => (
                format!("malformed MPA Reply ({e}): {}", mpa::printable(&frame)),
                format!("{addr} sent a malformed MPA Reply ({e})"),
            ),
        },
        Answer::Oversized(pd) => (
            format!("MPA Reply with PD_Length {pd} (at most 512)"),
            format!("{addr} sent an MPA Reply with PD_Length {pd}, beyond RFC 5044's 512"),
        ),
        Answer::Foreign(bytes) => {
            let what = mpa::guess(&bytes);
            (
                format!("not MPA: {what}: \"{}\"", mpa::printable(&bytes)),
                format!(
                    "{addr} answered our MPA Request with {what} (\"{}\"): the peer is not \
                     iWARP; something else listens on port {} (or a proxy answers for it)",
                    mpa::printable(&bytes[..bytes.len().min(16)]),
                    addr.port()
                ),
            )
        }
        Answer::Reset => reset_verdict(addr, &acked),
        Answer::Closed(bytes) => (
            format!(
                "closed (FIN) without an MPA Reply{}; {}",
                partial(&bytes),
                acked.detail
            ),
            format!(
                "{addr} closed the connection after our MPA Request without an MPA Reply: \
                 the peer is not an iWARP responder (or refuses clients it does not know)"
            ),
        ),
        Answer::Silence(bytes) => silence_verdict(addr, secs, &bytes, &acked),
        Answer::Failed(e) => (
            format!("reading the MPA Reply failed: {e}; {}", acked.detail),
            format!("reading the MPA Reply from {addr} failed: {e}"),
        ),
    };
    ladder.fail(Layer::Mpa, "request/reply", detail, ms, verdict);
    if acked.acked == Some(false) {
        plain_hello(ladder, addr, opts);
    }
    None
}

/// After an MPA Request that no TCP stack acknowledged: does a plain `HELLO` line to
/// the same port get through? Only `tickwarp probe --listen` answers it; when it does,
/// the path provably drops MPA payload and nothing else.
fn plain_hello(ladder: &mut Ladder, addr: SocketAddr, opts: &Options) {
    let start = monotonic_now();
    let answer = TcpStream::connect_timeout(&addr, opts.timeout).and_then(|mut stream| {
        stream.set_write_timeout(Some(opts.timeout))?;
        stream.write_all(listen::HELLO)?;
        stream.write_all(b"\n")?;
        Ok(read_answer(&mut stream, opts.timeout))
    });
    let ms = ms_since(start);
    let (status, detail) = match answer {
        Ok(Answer::Foreign(bytes)) if bytes.starts_with(listen::HELLO) => {
            if let Some((_, verdict)) = ladder.failed.as_mut() {
                verdict.push_str(
                    " (a plain HELLO on the same port got through and `tickwarp probe \
                     --listen` answered it: only the MPA payload is dropped)",
                );
            }
            let line = mpa::printable_up_to(&bytes, 160);
            (Status::Pass, format!("answered: \"{line}\""))
        }
        Ok(Answer::Foreign(bytes)) => (
            Status::Warn,
            format!("another answer: \"{}\"", mpa::printable(&bytes)),
        ),
        Ok(_) => (
            Status::Warn,
            "no answer (only `tickwarp probe --listen` answers a hello)".into(),
        ),
        Err(e) => (Status::Warn, format!("could not send a hello: {e}")),
    };
    ladder.push(Layer::Mpa, "plain hello", status, detail, ms);
}

/// The "v1 fallback if refused": after a rejected revision 2 Request, one
/// revision 1 Request (RFC 5044 alone) on a new connection. The accepted Reply, or
/// what happened instead.
fn retry_v1(addr: SocketAddr, opts: &Options) -> Result<Reply, String> {
    let request = mpa::request(opts.crc, 1);
    let mut stream = TcpStream::connect_timeout(&addr, opts.timeout)
        .map_err(|e| format!("the revision 1 retry could not connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    stream
        .set_write_timeout(Some(opts.timeout))
        .and_then(|()| stream.write_all(&request))
        .map_err(|e| format!("the revision 1 retry could not send: {e}"))?;
    let answer = read_answer(&mut stream, opts.timeout);
    hold_after_reply(&answer);
    match answer {
        Answer::Reply(frame) => match Reply::parse(&frame) {
            Ok(reply) if reply.reject => {
                Err(format!("revision 1 rejected too ({})", reply.summary()))
            }
            Ok(reply) => Ok(reply),
            Err(e) => Err(format!("the revision 1 Reply is malformed ({e})")),
        },
        _ => Err("no revision 1 Reply".into()),
    }
}

/// Detail and verdict for a Request rejected in both revisions.
fn rejected(addr: SocketAddr, reply: &Reply, retry: &str) -> (String, String) {
    let reason = if reply.private_data.is_empty() {
        String::new()
    } else {
        format!(", saying \"{}\"", mpa::printable(&reply.private_data))
    };
    (
        format!("rejected: {}; {retry}", reply.summary()),
        format!(
            "{addr} is an iWARP responder and rejected our MPA Request (R=1){reason}: it \
             refuses this connection's parameters or this client; see its log"
        ),
    )
}

/// ` (N bytes of a Reply: "…")` when something partial arrived.
fn partial(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        String::new()
    } else {
        format!(" ({} bytes: \"{}\")", bytes.len(), mpa::printable(bytes))
    }
}

/// Detail and verdict for a reset after our Request.
fn reset_verdict(addr: SocketAddr, acked: &Acked) -> (String, String) {
    let detail = format!("connection reset after our MPA Request; {}", acked.detail);
    let verdict = match acked.acked {
        Some(false) => format!(
            "the connection was reset right after our MPA Request, which no TCP stack had \
             acknowledged: a firewall or IPS between here and {addr} resets connections \
             carrying `MPA ID Req Frame`; allow iWARP on this port, or turn off DPI/IPS for it"
        ),
        Some(true) => format!(
            "{addr} acknowledged our MPA Request, then reset the connection: the peer is not \
             an iWARP responder (or an IPS reset it after inspecting the payload)"
        ),
        None => format!(
            "the connection to {addr} was reset after our MPA Request: an IPS, or a peer \
             that is not iWARP"
        ),
    };
    (detail, verdict)
}

/// Detail and verdict for no Reply within the timeout.
fn silence_verdict(addr: SocketAddr, secs: u64, bytes: &[u8], acked: &Acked) -> (String, String) {
    let detail = format!(
        "no MPA Reply within {secs}s{}; {}",
        partial(bytes),
        acked.detail
    );
    let verdict = match acked.acked {
        Some(false) => format!(
            "the MPA Request reached no TCP stack: something between here and {addr} drops \
             TCP payload that starts with `MPA ID Req Frame`; allow it, or turn off DPI for \
             this port"
        ),
        Some(true) if !bytes.is_empty() => format!(
            "{addr} sent the start of an MPA Reply and then nothing for {secs}s: the peer \
             stalled, or a box between here and there truncates its answer"
        ),
        Some(true) => format!(
            "our MPA Request was acknowledged by a TCP stack at {addr}, but no MPA Reply came \
             within {secs}s: the peer is not an iWARP responder (or an application-layer \
             proxy swallowed the Request); check what listens on port {}",
            addr.port()
        ),
        None => format!("no MPA Reply from {addr} within {secs}s"),
    };
    (detail, verdict)
}

/// The negotiation rows; false when one fails.
fn negotiation(ladder: &mut Ladder, reply: &Reply, addr: SocketAddr, opts: &Options) -> bool {
    let findings = mpa::negotiate(reply, opts.crc);
    let mut ok = true;
    for Finding {
        name,
        outcome,
        detail,
    } in findings
    {
        match outcome {
            Outcome::Pass => ladder.push(Layer::Negotiation, name, Status::Pass, detail, 0.0),
            Outcome::Warn => ladder.push(Layer::Negotiation, name, Status::Warn, detail, 0.0),
            Outcome::Fail if ok => {
                let verdict = format!(
                    "{addr} answered our MPA Request with parameters that cannot work ({name}: \
                     {detail}): the peer's iWARP stack is broken, or a box between here and \
                     there rewrote the MPA header"
                );
                ladder.fail(Layer::Negotiation, name, detail, 0.0, verdict);
                ok = false;
            }
            Outcome::Fail => ladder.push(Layer::Negotiation, name, Status::Fail, detail, 0.0),
        }
    }
    ok
}

/// `--markers`: one more connection whose MPA Request asks for markers (M=1); the row
/// says whether the peer accepts or refuses them. Never a failure: iWARP works without
/// markers, and most stacks (Linux siw among them) refuse them.
fn markers_offer(ladder: &mut Ladder, addr: SocketAddr, opts: &Options, revision: u8) {
    let start = monotonic_now();
    let request = mpa::request_markers(opts.crc, revision, true);
    let answer = TcpStream::connect_timeout(&addr, opts.timeout).and_then(|mut stream| {
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(opts.timeout))?;
        stream.write_all(&request)?;
        let answer = read_answer(&mut stream, opts.timeout);
        hold_after_reply(&answer);
        Ok(answer)
    });
    let (status, detail) = match answer {
        Ok(Answer::Reply(frame)) => match Reply::parse(&frame) {
            Ok(reply) if reply.reject && !reply.markers => (
                Status::Warn,
                format!(
                    "markers refused: our M=1 Request was rejected ({}); this peer does not \
                     do MPA markers (Linux siw and most RNICs refuse them), and works without \
                     them",
                    reply.summary()
                ),
            ),
            Ok(reply) if reply.reject => (
                Status::Warn,
                format!("our M=1 Request was rejected ({})", reply.summary()),
            ),
            Ok(reply) => (
                Status::Pass,
                format!("markers accepted ({})", reply.summary()),
            ),
            Err(e) => (Status::Warn, format!("a malformed Reply to M=1: {e}")),
        },
        Ok(Answer::Closed(_) | Answer::Reset) => (
            Status::Warn,
            "the peer closed the connection on our M=1 Request without a Reply".into(),
        ),
        Ok(_) => (Status::Warn, "no MPA Reply to our M=1 Request".into()),
        Err(e) => (
            Status::Warn,
            format!("the M=1 Request could not be sent: {e}"),
        ),
    };
    ladder.push(
        Layer::Negotiation,
        "markers offer",
        status,
        detail,
        ms_since(start),
    );
}

/// The RDMAP round trip with rping's protocol; returns the all-passed verdict, or None
/// after recording the failure.
fn rdmap(
    ladder: &mut Ladder,
    addr: SocketAddr,
    opts: &Options,
    revision: MpaRevision,
) -> Option<String> {
    let start = monotonic_now();
    match crate::rping_cmd::probe_round_trip(
        addr,
        opts.crc,
        revision,
        opts.timeout,
        opts.tap.as_ref(),
    ) {
        Ok(info) => {
            ladder.push(
                Layer::Rdmap,
                "round trip",
                Status::Pass,
                format!(
                    "rping protocol: SEND, RDMA READ, RDMA WRITE, 64 bytes compared equal \
                     (MPA v{}, CRC {}, IRD {} ORD {})",
                    info.revision,
                    if info.crc { "on" } else { "off" },
                    info.ird,
                    info.ord
                ),
                ms_since(start),
            );
            Some(format!(
                "every iWARP layer to {addr} works (TCP, MPA, negotiation, an RDMAP SEND/RDMA \
                 WRITE/RDMA READ round trip with its data checked): no firewall or middlebox \
                 stands in the way"
            ))
        }
        Err(e) => {
            let text = crate::causes(&e);
            ladder.fail(
                Layer::Rdmap,
                "round trip",
                format!("rping protocol: {text}"),
                ms_since(start),
                format!(
                    "TCP and MPA to {addr} work, but the RDMAP round trip (rping's protocol) \
                     failed: {text}; the peer must be `rping -s -P` or `tickwarp rping \
                     --server ADDR:PORT -P` (the probe connects twice, so a one-shot server \
                     is gone after the MPA check), or a box damages established iWARP traffic"
                ),
            );
            None
        }
    }
}

/// The human form of a report: a table, then the verdict.
struct Table<'a>(&'a Report);

impl fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = &self.0.checks;
        let w_layer = rows
            .iter()
            .map(|c| c.layer.name().len())
            .max()
            .unwrap_or(5)
            .max(5);
        let w_name = rows.iter().map(|c| c.name.len()).max().unwrap_or(5).max(5);
        writeln!(
            f,
            "{:<w_layer$}  {:<w_name$}  {:<6}  {:>9}  detail",
            "layer", "check", "status", "ms"
        )?;
        for c in rows {
            writeln!(
                f,
                "{:<w_layer$}  {:<w_name$}  {:<6}  {:>9.2}  {}",
                c.layer.name(),
                c.name,
                c.status.name(),
                c.ms,
                c.detail
            )?;
        }
        writeln!(f)?;
        writeln!(f, "verdict: {}", self.0.verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(split_target("h:7174"), Some(("h".into(), 7174)));
        assert_eq!(split_target("[::1]:7174"), Some(("::1".into(), 7174)));
        assert_eq!(split_target("::1:7174"), None);
        assert_eq!(split_target("h"), None);
        assert_eq!(split_target("h:0"), None);
        assert_eq!(split_target(":7174"), None);
        assert_eq!(split_target("h:99999"), None);
    }

    fn acked(acked: Option<bool>) -> Acked {
        Acked {
            acked,
            detail: String::new(),
        }
    }

    #[test]
    fn silence_is_told_apart_by_acknowledgement() {
        let addr: SocketAddr = "10.0.2.2:7174".parse().expect("addr");
        let (_, dropped) = silence_verdict(addr, 2, &[], &acked(Some(false)));
        assert!(dropped.contains("reached no TCP stack"), "{dropped}");
        let (_, ignored) = silence_verdict(addr, 2, &[], &acked(Some(true)));
        assert!(ignored.contains("not an iWARP responder"), "{ignored}");
        let (_, reset) = reset_verdict(addr, &acked(Some(false)));
        assert!(reset.contains("resets connections"), "{reset}");
        let (_, peer) = reset_verdict(addr, &acked(Some(true)));
        assert!(peer.contains("acknowledged our MPA Request"), "{peer}");
    }

    /// A responder that rejects revision 2 (R=1) and accepts revision 1, then closes
    /// each connection: serves `connections` of them.
    fn v1_only_peer(connections: usize) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for _ in 0..connections {
                let Ok((mut conn, _)) = listener.accept() else {
                    return;
                };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let mut got = Vec::new();
                let mut buf = [0u8; 600];
                let frame = loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break None,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                    if let Received::Reply(len) = mpa::sort_request(&got) {
                        break Some(got[..len].to_vec());
                    }
                };
                let Some(request) = frame.and_then(|f| Reply::parse(&f).ok()) else {
                    continue;
                };
                // RFC 5044 §7.1 Reply without private data: R=1 to revision 2, else
                // revision 1 with C as asked.
                let mut answer = tickwarp_rdma::soft::wire::mpa::KEY_REPLY.to_vec();
                let flags = if request.revision == 2 {
                    tickwarp_rdma::soft::wire::mpa::FLAG_REJECT
                } else if request.crc {
                    tickwarp_rdma::soft::wire::mpa::FLAG_CRC
                } else {
                    0
                };
                answer.extend_from_slice(&[flags, 1, 0, 0]);
                let _ = conn.write_all(&answer);
            }
        });
        addr
    }

    #[test]
    fn rejected_revision_two_falls_back_to_one() {
        // The MPA check, its revision 1 retry, and the round trip's connection.
        let addr = v1_only_peer(3);
        let report = probe(
            "127.0.0.1",
            addr.port(),
            &Options {
                timeout: Duration::from_secs(5),
                crc: false,
                size: 64,
                idle: None,
                tap: None,
                markers: false,
            },
        );
        let mpa_row = report
            .checks
            .iter()
            .find(|c| c.layer == Layer::Mpa)
            .expect("an mpa row");
        assert_eq!(mpa_row.status, Status::Warn, "{report:?}");
        assert!(mpa_row.detail.contains("revision 1 accepted"), "{report:?}");
        let revision = report
            .checks
            .iter()
            .find(|c| c.name == "revision")
            .expect("a revision row");
        assert_eq!(revision.status, Status::Warn, "{report:?}");
        // The peer is no rping server: the round trip fails, at the RDMAP layer.
        assert_eq!(report.failed_layer, Some(Layer::Rdmap), "{report:?}");
    }

    #[test]
    fn json_shape() {
        let report = Report {
            ok: false,
            failed_layer: Some(Layer::Mpa),
            verdict: "v".into(),
            checks: vec![Check {
                layer: Layer::Negotiation,
                name: "CRC",
                status: Status::Warn,
                detail: "d".into(),
                ms: 1.5,
            }],
        };
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "ok": false,
                "failed_layer": "mpa",
                "verdict": "v",
                "checks": [{"layer": "negotiation", "name": "CRC", "status": "warn",
                            "detail": "d", "ms": 1.5}]
            })
        );
        let ok = Report {
            ok: true,
            failed_layer: None,
            verdict: String::new(),
            checks: Vec::new(),
        };
        assert!(serde_json::to_value(&ok).expect("json")["failed_layer"].is_null());
    }

    #[test]
    fn refused_port_fails_at_tcp() {
        // A port that was just free: bind, learn it, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let report = probe(
            "127.0.0.1",
            port,
            &Options {
                timeout: Duration::from_secs(2),
                crc: false,
                size: 64,
                idle: None,
                tap: None,
                markers: false,
            },
        );
        assert_eq!(report.failed_layer, Some(Layer::Tcp));
        assert!(report.verdict.contains("refused"), "{}", report.verdict);
        let tcp = report
            .checks
            .iter()
            .position(|c| c.layer == Layer::Tcp)
            .expect("a tcp row");
        assert!(
            report.checks[..tcp]
                .iter()
                .all(|c| c.status == Status::Pass)
        );
        assert_eq!(report.checks[tcp].status, Status::Fail);
        assert!(
            report.checks[tcp + 1..]
                .iter()
                .all(|c| c.status == Status::Skip)
        );
    }
}
