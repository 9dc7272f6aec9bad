//! Interoperability with a FIX engine we did not write: QuickFIX C++ (Debian
//! `libquickfix-dev`, `libquickfix-doc`).
//!
//! - `quickfix_initiator_trades_through_our_acceptor`: `tests/quickfix/initiator.cpp`,
//!   compiled here with `g++ -std=c++14` once per run, logs on to tickwarp's acceptor
//!   ([`Session`] driven over loopback TCP by a small blocking loop in this file, which
//!   answers orders with ExecutionReports), sends NewOrderSingle, OrderCancelReplaceRequest
//!   and OrderCancelRequest, and logs out. QuickFIX validates every ExecutionReport
//!   against `tests/quickfix/FIX44-gateway.xml` and would answer a malformed one with a
//!   session Reject; the test checks that neither side rejected anything.
//! - `quickfix_initiator_trades_through_the_gateway_service`: the same initiator and
//!   script against the whole gateway service (`GatewayAgent`: the service's mio FIX
//!   acceptor, risk, order state, journal, venue simulator) stepped on the test thread,
//!   with the script's retail part on (`RetailScript=Y`): a resting order ORD4,
//!   OrderStatusRequest (H) for it and for an unknown ClOrdID, and OrderMassCancelRequest
//!   (q) answered by OrderMassCancelReport (r) and ORD4's cancel; QuickFIX validates the
//!   ExecType I reports and the OrderMassCancelReport against the same dictionary.
//! - `quickfix_rejects_an_execution_report_with_an_undefined_exec_type`: the control:
//!   one ExecutionReport tampered on its way out must be rejected by QuickFIX.
//! - `our_codec_trades_with_the_quickfix_executor`: the prebuilt QuickFIX `executor`
//!   example acceptor is the reference peer for our codec: a client written here with
//!   [`MessageWriter`] and [`Message::decode`] logs on, sends a NewOrderSingle, decodes
//!   the fill and logs out.
//!
//! Without `g++`, `pkg-config quickfix` or the executor the tests print why and pass,
//! unless the `CI` environment variable is set, where a missing QuickFIX is a failure.
//! Loopback only; every wait is bounded; nothing here asserts on timing.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use tickwarp_gateway::fix::codec::{Framing, Message, MessageWriter, scan_frame};
use tickwarp_gateway::fix::fields::tag;
use tickwarp_gateway::fix::{
    ExecType, ExecutionReport, MemoryStore, MsgType, Now, OrdStatus, Session, SessionEvent,
    SessionState,
};
use tickwarp_gateway::service::{GatewayAgent, GatewayConfig};
use tickwarp_runtime::Nanos;
use tickwarp_runtime::clock::{monotonic_now, unix_now};
use tickwarp_wire::{ClientOrderId, OrderSpec, OrderType, Price, Qty, Side, TimeInForce};

/// Upper bound of every wait in this file.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Sleep between polls of a child process or a listening socket.
const POLL: Duration = Duration::from_millis(10);
/// The prebuilt QuickFIX example acceptor shipped by `libquickfix-doc`.
const EXECUTOR_GZ: &str = "/usr/share/doc/libquickfix-doc/examples/executor/C++/.libs/executor.gz";
/// What CI installs for these tests.
const PACKAGES: &str = "g++ pkg-config libquickfix-dev libquickfix-doc";

/// Passes with a note when QuickFIX is missing, except under CI, where it must be there.
fn unavailable(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what}; CI is set, so QuickFIX interop must run (install {PACKAGES})");
    }
    eprintln!("skipping QuickFIX interop: {what} (install {PACKAGES})");
}

fn now() -> Now {
    Now {
        mono: monotonic_now(),
        wall: unix_now(),
    }
}

fn deadline() -> Nanos {
    monotonic_now().saturating_add(TIMEOUT)
}

fn quickfix_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/quickfix")
}

fn build_dir() -> anyhow::Result<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("quickfix");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// `pkg-config --cflags --libs quickfix`, or why QuickFIX cannot be built against.
fn quickfix_flags() -> Result<Vec<String>, String> {
    let gxx = Command::new("g++").arg("--version").output();
    if !gxx.is_ok_and(|o| o.status.success()) {
        return Err("g++ not found".to_owned());
    }
    match Command::new("pkg-config")
        .args(["--cflags", "--libs", "quickfix"])
        .output()
    {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()),
        Ok(_) => Err("pkg-config does not know quickfix".to_owned()),
        Err(_) => Err("pkg-config not found".to_owned()),
    }
}

/// Why the C++ initiator could not be built: QuickFIX missing, or a real build failure.
enum BuildError {
    Unavailable(String),
    Failed(String),
}

/// Compiles `tests/quickfix/initiator.cpp` once per test run (reused while newer than
/// its source).
fn initiator() -> &'static Result<PathBuf, BuildError> {
    static INITIATOR: OnceLock<Result<PathBuf, BuildError>> = OnceLock::new();
    INITIATOR.get_or_init(|| {
        let flags = quickfix_flags().map_err(BuildError::Unavailable)?;
        compile_initiator(&flags).map_err(|e| BuildError::Failed(format!("{e:#}")))
    })
}

fn compile_initiator(flags: &[String]) -> anyhow::Result<PathBuf> {
    let source = quickfix_dir().join("initiator.cpp");
    let exe = build_dir()?.join("initiator");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(built), Some(written)) = (modified(&exe), modified(&source))
        && built >= written
    {
        return Ok(exe);
    }
    let partial = exe.with_extension(format!("{}.partial", std::process::id()));
    let out = Command::new("g++")
        .args(["-std=c++14", "-O1", "-w", "-pthread", "-o"])
        .arg(&partial)
        .arg(&source)
        .args(flags)
        .output()
        .context("running g++")?;
    ensure!(
        out.status.success(),
        "g++ failed on {}:\n{}",
        source.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&partial, &exe).with_context(|| format!("installing {}", exe.display()))?;
    Ok(exe)
}

/// `tests/quickfix/NAME` with each `${KEY}` replaced, written to `dir/NAME`.
fn settings(dir: &Path, name: &str, values: &[(&str, String)]) -> anyhow::Result<PathBuf> {
    let template = quickfix_dir().join(name);
    let mut text = std::fs::read_to_string(&template)
        .with_context(|| format!("reading {}", template.display()))?;
    for (key, value) in values {
        text = text.replace(&format!("${{{key}}}"), value);
    }
    let unfilled = text
        .lines()
        .any(|l| !l.starts_with('#') && l.contains("${"));
    ensure!(!unfilled, "unfilled placeholder in {name}");
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn dictionary() -> String {
    quickfix_dir()
        .join("FIX44-gateway.xml")
        .display()
        .to_string()
}

/// A child process whose stdout and stderr are collected by reader threads (so a
/// verbose child never blocks on a full pipe); killed on drop if still running.
struct Peer {
    child: Child,
    output: Option<[JoinHandle<String>; 2]>,
}

impl Peer {
    fn spawn(command: &mut Command) -> anyhow::Result<Peer> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {command:?}"))?;
        let collect = |mut r: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = r.read_to_end(&mut bytes);
                String::from_utf8_lossy(&bytes).into_owned()
            })
        };
        let stdout = child.stdout.take().context("child stdout")?;
        let stderr = child.stderr.take().context("child stderr")?;
        Ok(Peer {
            child,
            output: Some([collect(Box::new(stdout)), collect(Box::new(stderr))]),
        })
    }

    /// Whether the child has exited (then the caller stops waiting for it).
    fn exited(&mut self) -> bool {
        self.child.try_wait().is_ok_and(|s| s.is_some())
    }

    /// Waits for the child to exit until `deadline`, killing it then; returns its status
    /// (`None` if it had to be killed) and its stdout followed by its stderr.
    fn finish(mut self, deadline: Nanos) -> (Option<ExitStatus>, String) {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if monotonic_now() < deadline => std::thread::sleep(POLL),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        (status, self.output())
    }

    /// Kills the child (a server that never exits by itself) and returns its output.
    fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.output()
    }

    fn output(&mut self) -> String {
        let mut text = String::new();
        for handle in self.output.take().into_iter().flatten() {
            text.push_str(&handle.join().unwrap_or_default());
        }
        text
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if !self.exited() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Every frame of `bytes`, decoded with our codec; fails on garbage or a partial tail.
fn frames(bytes: &[u8]) -> anyhow::Result<Vec<Message<'_>>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        match scan_frame(rest, 1 << 20) {
            Framing::Complete(len) => {
                let (frame, tail) = rest.split_at(len);
                out.push(Message::decode(frame).map_err(|e| anyhow!("{e}"))?);
                rest = tail;
            }
            Framing::Incomplete => bail!("{} bytes of an unfinished frame", rest.len()),
            Framing::Garbled { reason, .. } => bail!("garbled frame: {reason}"),
        }
    }
    Ok(out)
}

fn msg_types(bytes: &[u8]) -> anyhow::Result<Vec<String>> {
    Ok(frames(bytes)?
        .iter()
        .map(|m| String::from_utf8_lossy(m.msg_type().as_bytes()).into_owned())
        .collect())
}

/// The one order the toy venue of the acceptor loop holds.
struct Order {
    cl_ord_id: ClientOrderId,
    spec: OrderSpec,
    cum_qty: Qty,
    avg_px: Price,
}

/// A toy venue behind the acceptor: acknowledges a new order and fills 40 of it at its
/// limit, replaces and cancels on request; one ExecutionReport per step.
#[derive(Default)]
struct Venue {
    order: Option<Order>,
    exec_id: u64,
}

impl Venue {
    const ORDER_ID: u64 = 9001;
    const FILL: Qty = Qty(40);

    fn report(
        &mut self,
        exec_type: ExecType,
        ord_status: OrdStatus,
        cl_ord_id: ClientOrderId,
        orig_cl_ord_id: Option<ClientOrderId>,
        last: Option<(Qty, Price)>,
    ) -> anyhow::Result<ExecutionReport<'static>> {
        let order = self.order.as_ref().context("no order")?;
        self.exec_id += 1;
        let leaves = match ord_status {
            OrdStatus::Canceled => Qty(0),
            _ => Qty(order.spec.qty.0.saturating_sub(order.cum_qty.0)),
        };
        Ok(ExecutionReport {
            order_id: Self::ORDER_ID,
            exec_id: self.exec_id,
            exec_type,
            ord_status,
            cl_ord_id,
            orig_cl_ord_id,
            instrument: order.spec.instrument,
            side: order.spec.side,
            ord_type: Some(order.spec.ord_type),
            price: (order.spec.ord_type == OrderType::Limit).then_some(order.spec.price),
            tif: Some(order.spec.tif),
            order_qty: order.spec.qty,
            last_qty: last.map(|(q, _)| q),
            last_px: last.map(|(_, p)| p),
            leaves_qty: leaves,
            cum_qty: order.cum_qty,
            avg_px: order.avg_px,
            transact_time: unix_now(),
            reject_reason: None,
            text: None,
        })
    }

    /// The ExecutionReports answering `event`.
    fn on_event(&mut self, event: &SessionEvent) -> anyhow::Result<Vec<ExecutionReport<'static>>> {
        match event {
            SessionEvent::NewOrderSingle(nos) => {
                self.order = Some(Order {
                    cl_ord_id: nos.cl_ord_id,
                    spec: nos.spec,
                    cum_qty: Qty(0),
                    avg_px: Price::ZERO,
                });
                let ack = self.report(ExecType::New, OrdStatus::New, nos.cl_ord_id, None, None)?;
                let price = nos.spec.price;
                if let Some(order) = self.order.as_mut() {
                    order.cum_qty = Self::FILL;
                    order.avg_px = price;
                }
                let fill = self.report(
                    ExecType::Trade,
                    OrdStatus::PartiallyFilled,
                    nos.cl_ord_id,
                    None,
                    Some((Self::FILL, price)),
                )?;
                Ok(vec![ack, fill])
            }
            SessionEvent::OrderCancelReplaceRequest(r) => {
                let order = self.order.as_mut().context("replace without an order")?;
                ensure!(
                    order.cl_ord_id == r.orig_cl_ord_id,
                    "replace of an unknown order"
                );
                order.spec = r.spec;
                order.cl_ord_id = r.cl_ord_id;
                let replaced = self.report(
                    ExecType::Replaced,
                    OrdStatus::PartiallyFilled,
                    r.cl_ord_id,
                    Some(r.orig_cl_ord_id),
                    None,
                )?;
                Ok(vec![replaced])
            }
            SessionEvent::OrderCancelRequest(c) => {
                let order = self.order.as_mut().context("cancel without an order")?;
                ensure!(
                    order.cl_ord_id == c.orig_cl_ord_id,
                    "cancel of an unknown order"
                );
                order.cl_ord_id = c.cl_ord_id;
                let canceled = self.report(
                    ExecType::Canceled,
                    OrdStatus::Canceled,
                    c.cl_ord_id,
                    Some(c.orig_cl_ord_id),
                    None,
                )?;
                Ok(vec![canceled])
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// What the acceptor loop saw.
struct Served {
    inbound: Vec<u8>,
    outbound: Vec<u8>,
    events: Vec<SessionEvent>,
}

/// A change made to the first ExecutionReport on its way out: `tag` gets `value`.
#[derive(Clone, Copy)]
struct Tamper {
    tag: u32,
    value: &'static [u8],
}

/// `frame` re-encoded with `tamper` applied (BodyLength and CheckSum recomputed).
fn tampered(frame: &[u8], tamper: Tamper) -> anyhow::Result<Vec<u8>> {
    let msg = Message::decode(frame).map_err(|e| anyhow!("{e}"))?;
    let mut out = Vec::new();
    let mut w = MessageWriter::begin(&mut out, msg.msg_type());
    for (t, value) in msg.fields().filter(|(t, _)| *t != tag::MSG_TYPE) {
        w.bytes(t, if t == tamper.tag { tamper.value } else { value });
    }
    let _ = w.finish();
    Ok(out)
}

/// `pending` outbound bytes as they go on the wire: with the first ExecutionReport
/// tampered if `tamper` is still set (then cleared).
fn on_the_wire(pending: &[u8], tamper: &mut Option<Tamper>) -> anyhow::Result<Vec<u8>> {
    let Some(change) = *tamper else {
        return Ok(pending.to_vec());
    };
    let mut out = Vec::with_capacity(pending.len());
    for msg in frames(pending)? {
        if tamper.is_some() && msg.msg_type() == MsgType::EXECUTION_REPORT {
            out.extend_from_slice(&tampered(msg.frame(), change)?);
            *tamper = None;
        } else {
            out.extend_from_slice(msg.frame());
        }
    }
    Ok(out)
}

/// Accepts one connection on `listener` (giving up if `peer` exits first) and runs a
/// [`Session`] on it until the session disconnects or the peer closes.
fn serve(
    listener: &TcpListener,
    peer: &mut Peer,
    mut tamper: Option<Tamper>,
) -> anyhow::Result<Served> {
    let deadline = deadline();
    listener.set_nonblocking(true)?;
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                ensure!(!peer.exited(), "the initiator exited without connecting");
                ensure!(
                    monotonic_now() < deadline,
                    "no connection within {TIMEOUT:?}"
                );
                std::thread::sleep(POLL);
            }
            Err(e) => return Err(e).context("accept"),
        }
    };
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(20)))?;

    let mut session = Session::new(
        util::config(),
        util::instruments(),
        MemoryStore::new(),
        now(),
    );
    let mut venue = Venue::default();
    let mut served = Served {
        inbound: Vec::new(),
        outbound: Vec::new(),
        events: Vec::new(),
    };
    let mut buf = vec![0u8; 64 << 10];
    let mut peer_closed = false;
    loop {
        ensure!(
            monotonic_now() < deadline,
            "session still {:?} after {TIMEOUT:?}",
            session.state()
        );
        match stream.read(&mut buf) {
            Ok(0) => peer_closed = true,
            Ok(n) => {
                let bytes = buf.get(..n).context("read past buffer")?;
                served.inbound.extend_from_slice(bytes);
                session.handle_bytes(now(), bytes);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => peer_closed = true,
            Err(e) => return Err(e).context("read"),
        }
        let t = now();
        if session.poll_timeout().is_some_and(|at| at <= t.mono) {
            session.handle_timeout(t);
        }
        while let Some(event) = session.poll_event() {
            for report in venue.on_event(&event)? {
                session
                    .send_execution_report(now(), &report)
                    .map_err(|e| anyhow!("sending {report:?}: {e}"))?;
            }
            served.events.push(event);
        }
        session.flush();
        let pending = session.transmit_queue();
        if !pending.is_empty() && !peer_closed {
            let bytes = on_the_wire(pending, &mut tamper)?;
            stream.write_all(&bytes).context("write")?;
            served.outbound.extend_from_slice(&bytes);
        }
        let sent = pending.len();
        session.consume_transmit(sent);
        if peer_closed || session.state() == SessionState::Disconnected {
            return Ok(served);
        }
    }
}

/// `EXEC ...` lines of the initiator as `(cl, type, status)`.
fn exec_lines(output: &str) -> Vec<(String, String, String)> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("EXEC "))
        .map(|rest| {
            let value = |key: &str| {
                rest.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(key))
                    .unwrap_or_default()
                    .to_owned()
            };
            (value("cl="), value("type="), value("status="))
        })
        .collect()
}

/// The initiator's `EXEC` and `MASSCANCEL` lines, in order.
fn report_lines(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter(|l| l.starts_with("EXEC ") || l.starts_with("MASSCANCEL "))
        .collect()
}

/// Whether `line` is a `kind` line (`EXEC`, `MASSCANCEL`) whose `key=value` pairs include
/// every one of `want`.
fn line_matches(line: &str, kind: &str, want: &[(&str, &str)]) -> bool {
    let mut words = line.split_whitespace();
    if words.next() != Some(kind) {
        return false;
    }
    let pairs: Vec<(&str, &str)> = words.filter_map(|kv| kv.split_once('=')).collect();
    want.iter().all(|w| pairs.contains(w))
}

/// A line the gateway-service test waits for: its kind and `key=value` pairs.
type Wanted = (&'static str, &'static [(&'static str, &'static str)]);

/// What one run of the QuickFIX initiator against our acceptor produced.
struct Interop {
    served: Served,
    status: Option<ExitStatus>,
    output: String,
}

/// The compiled initiator, `None` when QuickFIX is unavailable (and that is allowed).
fn initiator_exe() -> anyhow::Result<Option<&'static Path>> {
    match initiator() {
        Ok(exe) => Ok(Some(exe.as_path())),
        Err(BuildError::Unavailable(why)) => {
            unavailable(why);
            Ok(None)
        }
        Err(BuildError::Failed(why)) => bail!("building the QuickFIX initiator: {why}"),
    }
}

/// Starts the initiator against 127.0.0.1:`port`, its settings written under `dir`;
/// `retail` switches on the second part of its script (`RetailScript`).
fn spawn_initiator(exe: &Path, dir: &Path, port: u16, retail: bool) -> anyhow::Result<Peer> {
    let cfg = settings(
        dir,
        "initiator.cfg",
        &[
            ("PORT", port.to_string()),
            ("DICTIONARY", dictionary()),
            ("RETAIL", if retail { "Y" } else { "N" }.to_owned()),
        ],
    )?;
    Peer::spawn(Command::new(exe).arg(&cfg))
}

/// Runs the QuickFIX initiator against the acceptor loop; `None` when QuickFIX is
/// unavailable (and that is allowed).
fn run_initiator(tamper: Option<Tamper>) -> anyhow::Result<Option<Interop>> {
    let Some(exe) = initiator_exe()? else {
        return Ok(None);
    };
    let dir = tempfile::tempdir()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let mut peer = spawn_initiator(exe, dir.path(), port, false)?;
    let served = serve(&listener, &mut peer, tamper);
    let (status, output) = peer.finish(deadline());
    let served =
        served.with_context(|| format!("acceptor loop failed; initiator said:\n{output}"))?;
    Ok(Some(Interop {
        served,
        status,
        output,
    }))
}

#[test]
fn quickfix_initiator_trades_through_our_acceptor() -> anyhow::Result<()> {
    let Some(Interop {
        served,
        status,
        output,
    }) = run_initiator(None)?
    else {
        return Ok(());
    };

    ensure!(
        status.is_some_and(|s| s.success()) && output.contains("RESULT ok"),
        "initiator failed ({status:?}):\n{output}"
    );
    let execs = exec_lines(&output);
    let expected = [
        ("ORD1", "0", "0"),
        ("ORD1", "F", "1"),
        ("ORD2", "5", "1"),
        ("ORD3", "4", "4"),
    ];
    let got: Vec<(&str, &str, &str)> = execs
        .iter()
        .map(|(c, t, s)| (c.as_str(), t.as_str(), s.as_str()))
        .collect();
    ensure!(
        got == expected,
        "ExecutionReports seen by QuickFIX: {got:?}\n{output}"
    );

    // What our session made of QuickFIX's messages.
    let nos = served.events.iter().find_map(|e| match e {
        SessionEvent::NewOrderSingle(n) => Some(*n),
        _ => None,
    });
    let nos = nos.context("no NewOrderSingle event")?;
    ensure!(nos.cl_ord_id.as_str() == "ORD1", "{nos:?}");
    ensure!(
        nos.spec.side == Side::Buy && nos.spec.ord_type == OrderType::Limit,
        "{nos:?}"
    );
    ensure!(
        nos.spec.tif == TimeInForce::Day && nos.spec.qty == Qty(100),
        "{nos:?}"
    );
    ensure!(nos.spec.price == Price::from_ticks(125_000), "{nos:?}");
    let replace = served.events.iter().find_map(|e| match e {
        SessionEvent::OrderCancelReplaceRequest(r) => Some(*r),
        _ => None,
    });
    let replace = replace.context("no OrderCancelReplaceRequest event")?;
    ensure!(replace.orig_cl_ord_id.as_str() == "ORD1", "{replace:?}");
    ensure!(replace.spec.qty == Qty(150), "{replace:?}");
    ensure!(
        replace.spec.price == Price::from_ticks(127_500),
        "{replace:?}"
    );
    ensure!(
        served
            .events
            .iter()
            .any(|e| matches!(e, SessionEvent::OrderCancelRequest(c) if c.orig_cl_ord_id.as_str() == "ORD2")),
        "no OrderCancelRequest event: {:?}",
        served.events
    );
    ensure!(
        matches!(served.events.first(), Some(SessionEvent::LoggedOn { .. })),
        "{:?}",
        served.events
    );

    // No session-level or business rejects in either direction; a clean Logout exchange.
    let inbound = msg_types(&served.inbound).context("decoding QuickFIX's bytes")?;
    let outbound = msg_types(&served.outbound).context("decoding our bytes")?;
    for (who, types) in [("QuickFIX", &inbound), ("we", &outbound)] {
        ensure!(
            !types.iter().any(|t| t == "3" || t == "j"),
            "{who} sent a reject: {types:?}\n{output}"
        );
        ensure!(
            types.first().map(String::as_str) == Some("A"),
            "{who}: {types:?}"
        );
        ensure!(
            types.last().map(String::as_str) == Some("5"),
            "{who}: {types:?}"
        );
    }
    ensure!(
        !output.contains("Rejected") && !output.contains("Invalid"),
        "QuickFIX logged a rejection:\n{output}"
    );
    Ok(())
}

/// The gateway service's configuration for the QuickFIX client: its session (CompIDs,
/// credentials, account 42 as in `tests/util`), ACME, and 40 ACME offered at 12.5 by
/// the house, so the client's buy of 100 at 12.5 fills 40 and rests 60 (and the retail
/// part's buy of 10 at 12.0 rests).
fn gateway_config(dir: &Path) -> anyhow::Result<GatewayConfig> {
    let hash = tickwarp_gateway::service::acceptor::hash_password(b"secret")?;
    let text = format!(
        r#"
        listen = "127.0.0.1:0"
        [journal]
        dir = "{}"
        [risk]
        max_order_qty = 1000
        max_notional = "1000000"
        collar_bps = 0
        credit_limit = "100000000"
        max_position = 100000
        max_orders_per_day = 100000
        [[instruments]]
        symbol = "ACME"
        id = 1
        [[sessions]]
        id = 7
        sender_comp_id = "GW"
        target_comp_id = "CLIENT"
        username = "alice"
        password_hash = "{hash}"
        account = 42
        [[venue.liquidity]]
        symbol = "ACME"
        side = "sell"
        price = "12.5"
        qty = 40
        "#,
        dir.display()
    );
    Ok(GatewayConfig::from_toml(&text, dir)?)
}

/// The same QuickFIX script, with its retail part (status requests, mass cancel), against
/// the whole gateway service ([`GatewayAgent`]: the service's mio FIX acceptor, risk,
/// order state, journal and the venue simulator), stepped on this thread until the
/// initiator exits.
#[test]
fn quickfix_initiator_trades_through_the_gateway_service() -> anyhow::Result<()> {
    let Some(exe) = initiator_exe()? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let mut agent = GatewayAgent::from_config(&gateway_config(dir.path())?, now())?;
    let mut peer = spawn_initiator(exe, dir.path(), agent.fix_addr().port(), true)?;
    let deadline = deadline();
    let mut idle = 0u32;
    let stepped = loop {
        if peer.exited() {
            break Ok(());
        }
        if monotonic_now() >= deadline {
            break Err(anyhow!("the initiator still runs after {TIMEOUT:?}"));
        }
        match agent.step(now()) {
            Ok(0) => {
                // Back off when idle: yield first, then sleep briefly (never spin).
                idle = idle.saturating_add(1);
                if idle < 16 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            Ok(_) => idle = 0,
            Err(e) => break Err(anyhow!("gateway step: {e}")),
        }
    };
    let (status, output) = peer.finish(deadline);
    stepped.with_context(|| format!("initiator said:\n{output}"))?;
    ensure!(
        status.is_some_and(|s| s.success()) && output.contains("RESULT ok"),
        "initiator failed ({status:?}):\n{output}"
    );
    // The service may send more reports (pending states); these must come, in order.
    let wanted: [Wanted; 9] = [
        ("EXEC", &[("cl", "ORD1"), ("type", "0"), ("status", "0")]),
        ("EXEC", &[("cl", "ORD1"), ("type", "F"), ("status", "1")]),
        ("EXEC", &[("cl", "ORD2"), ("type", "5"), ("status", "1")]),
        ("EXEC", &[("cl", "ORD3"), ("type", "4"), ("status", "4")]),
        ("EXEC", &[("cl", "ORD4"), ("type", "0"), ("status", "0")]),
        (
            "EXEC",
            &[
                ("cl", "ORD4"),
                ("type", "I"),
                ("status", "0"),
                ("leaves", "10"),
                ("cum", "0"),
                ("req", "STAT1"),
            ],
        ),
        (
            "EXEC",
            &[
                ("cl", "ORD99"),
                ("type", "I"),
                ("status", "8"),
                ("rej", "5"),
                ("req", "STAT2"),
            ],
        ),
        (
            "MASSCANCEL",
            &[("cl", "MC1"), ("response", "7"), ("affected", "1")],
        ),
        ("EXEC", &[("cl", "ORD4"), ("type", "4"), ("status", "4")]),
    ];
    let lines = report_lines(&output);
    let mut wanted = wanted.iter().peekable();
    for line in &lines {
        if wanted
            .peek()
            .is_some_and(|(kind, want)| line_matches(line, kind, want))
        {
            wanted.next();
        }
    }
    ensure!(
        wanted.peek().is_none(),
        "missing {:?} among the reports QuickFIX saw: {lines:#?}\n{output}",
        wanted.peek()
    );
    // QuickFIX neither sent nor received a Reject (35=3) or BusinessMessageReject (35=j):
    // an undefined field or enumeration value in a gateway message would have made it
    // send one.
    ensure!(
        output.contains("RESULT ok rejects_sent=0 rejects_received=0"),
        "QuickFIX counted rejects:\n{output}"
    );
    ensure!(
        !output.contains("Rejected") && !output.contains("Invalid"),
        "QuickFIX logged a rejection:\n{output}"
    );
    Ok(())
}

/// The control for `quickfix_initiator_trades_through_our_acceptor`: the same run with
/// ExecType (150) of the first ExecutionReport set to a value FIX 4.4 does not define.
/// QuickFIX must answer it with a session Reject (373=5 "value is incorrect", 371=150), which shows that the dictionary
/// validation the test above relies on is live.
#[test]
fn quickfix_rejects_an_execution_report_with_an_undefined_exec_type() -> anyhow::Result<()> {
    let tamper = Tamper {
        tag: tag::EXEC_TYPE,
        value: b"Z",
    };
    let Some(run) = run_initiator(Some(tamper))? else {
        return Ok(());
    };
    let output = &run.output;
    ensure!(
        run.status.is_some_and(|s| !s.success()) && output.contains("RESULT fail"),
        "the initiator accepted ExecType Z ({:?}):\n{output}",
        run.status
    );
    let inbound = frames(&run.served.inbound).context("decoding QuickFIX's bytes")?;
    let reject = inbound
        .iter()
        .find(|m| m.msg_type() == MsgType::REJECT)
        .with_context(|| format!("QuickFIX sent no Reject:\n{output}"))?;
    ensure!(
        reject.get(tag::REF_TAG_ID) == Some(b"150".as_slice())
            && reject.get(tag::SESSION_REJECT_REASON) == Some(b"5".as_slice()),
        "unexpected Reject {:?}",
        String::from_utf8_lossy(reject.frame())
    );
    ensure!(
        !output.contains("type=Z"),
        "the tampered report reached the application:\n{output}"
    );
    Ok(())
}

/// Reads until one whole frame is buffered in `rx` (bounded by `deadline`), returns it.
fn next_frame(
    stream: &mut TcpStream,
    rx: &mut Vec<u8>,
    deadline: Nanos,
) -> anyhow::Result<Vec<u8>> {
    let mut buf = [0u8; 4096];
    loop {
        match scan_frame(rx, 1 << 20) {
            Framing::Complete(len) => return Ok(rx.drain(..len).collect()),
            Framing::Garbled { reason, .. } => bail!("executor sent garbage: {reason}"),
            Framing::Incomplete => {}
        }
        ensure!(
            monotonic_now() < deadline,
            "no frame from the executor within {TIMEOUT:?}"
        );
        match stream.read(&mut buf) {
            Ok(0) => bail!("executor closed the connection"),
            Ok(n) => rx.extend_from_slice(buf.get(..n).context("read past buffer")?),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e).context("read"),
        }
    }
}

/// One client message with our writer: header as the acceptor writes it, then `body`.
fn client_message(
    seq: u64,
    msg_type: MsgType,
    body: impl FnOnce(&mut MessageWriter<'_>),
) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut w = MessageWriter::begin(&mut buf, msg_type);
    w.uint(tag::MSG_SEQ_NUM, seq)
        .str(tag::SENDER_COMP_ID, "CLIENT")
        .timestamp(tag::SENDING_TIME, unix_now())
        .str(tag::TARGET_COMP_ID, "EXECUTOR");
    body(&mut w);
    let _ = w.finish();
    buf
}

/// A field of `frame` as text, for assertions.
fn text(frame: &[u8], t: u32) -> anyhow::Result<String> {
    let msg = Message::decode(frame).map_err(|e| anyhow!("{e}"))?;
    Ok(String::from_utf8_lossy(msg.get(t).unwrap_or_default()).into_owned())
}

fn connect(port: u16, peer: &mut Peer, deadline: Nanos) -> anyhow::Result<TcpStream> {
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                ensure!(!peer.exited(), "the executor exited: {e}");
                ensure!(monotonic_now() < deadline, "executor not listening: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
}

/// The executor binary, unpacked from `libquickfix-doc`, or why it is unavailable.
fn executor() -> Result<PathBuf, String> {
    if !Path::new(EXECUTOR_GZ).exists() {
        return Err(format!("{EXECUTOR_GZ} not found"));
    }
    let dir = build_dir().map_err(|e| format!("{e:#}"))?;
    let exe = dir.join("executor");
    let partial = exe.with_extension(format!("{}.partial", std::process::id()));
    let file = std::fs::File::create(&partial).map_err(|e| format!("{e}"))?;
    let status = Command::new("gzip")
        .args(["-dc", EXECUTOR_GZ])
        .stdout(file)
        .status()
        .map_err(|e| format!("gzip: {e}"))?;
    if !status.success() {
        return Err(format!("gzip -dc {EXECUTOR_GZ} failed"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("{e}"))?;
    }
    std::fs::rename(&partial, &exe).map_err(|e| format!("{e}"))?;
    Ok(exe)
}

#[test]
fn our_codec_trades_with_the_quickfix_executor() -> anyhow::Result<()> {
    let exe = match executor() {
        Ok(exe) => exe,
        Err(why) => {
            unavailable(&why);
            return Ok(());
        }
    };
    let dir = tempfile::tempdir()?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let store = dir.path().join("store");
    let cfg = settings(
        dir.path(),
        "executor.cfg",
        &[
            ("PORT", port.to_string()),
            ("DICTIONARY", dictionary()),
            ("STORE", store.display().to_string()),
        ],
    )?;
    let mut peer = Peer::spawn(Command::new(exe).arg(&cfg))?;
    let deadline = deadline();
    let result = (|| -> anyhow::Result<Vec<Vec<u8>>> {
        let mut stream = connect(port, &mut peer, deadline)?;
        stream.set_read_timeout(Some(Duration::from_millis(20)))?;
        stream.set_nodelay(true)?;
        let mut rx = Vec::new();
        let mut received = Vec::new();

        stream.write_all(&client_message(1, MsgType::LOGON, |w| {
            w.uint(tag::ENCRYPT_METHOD, 0).uint(tag::HEART_BT_INT, 30);
        }))?;
        let logon = next_frame(&mut stream, &mut rx, deadline)?;
        ensure!(
            text(&logon, 35)? == "A",
            "expected Logon, got {}",
            text(&logon, 35)?
        );
        received.push(logon);

        stream.write_all(&client_message(2, MsgType::NEW_ORDER_SINGLE, |w| {
            w.str(tag::CL_ORD_ID, "ORD1")
                .uint(tag::ACCOUNT, 42)
                .str(tag::SYMBOL, "ACME")
                .byte(tag::SIDE, b'1')
                .timestamp(tag::TRANSACT_TIME, unix_now())
                .qty(tag::ORDER_QTY, Qty(100))
                .byte(tag::ORD_TYPE, b'2')
                .price(tag::PRICE, Price::from_ticks(125_000))
                .byte(tag::TIME_IN_FORCE, b'0');
        }))?;
        let fill = next_frame(&mut stream, &mut rx, deadline)?;
        received.push(fill.clone());
        ensure!(
            text(&fill, 35)? == "8",
            "expected ExecutionReport, got {}",
            text(&fill, 35)?
        );
        for (t, want) in [
            (11, "ORD1"),
            (150, "F"),
            (39, "2"),
            (55, "ACME"),
            (54, "1"),
            (151, "0"),
        ] {
            ensure!(
                text(&fill, t)? == want,
                "tag {t}: {:?} in the fill",
                text(&fill, t)?
            );
        }
        for (t, want) in [(14, 100.0), (32, 100.0), (31, 12.5), (6, 12.5), (38, 100.0)] {
            let value: f64 = text(&fill, t)?.parse().context("numeric field")?;
            ensure!((value - want).abs() < 1e-9, "tag {t}: {value} in the fill");
        }

        stream.write_all(&client_message(3, MsgType::LOGOUT, |_| {}))?;
        let logout = next_frame(&mut stream, &mut rx, deadline)?;
        ensure!(
            text(&logout, 35)? == "5",
            "expected Logout, got {}",
            text(&logout, 35)?
        );
        received.push(logout);
        Ok(received)
    })();
    let output = peer.kill();
    let received = result.with_context(|| format!("executor said:\n{output}"))?;
    ensure!(received.len() == 3, "{received:?}");
    ensure!(
        !output.contains("Rejected") && !output.contains("35=3\u{1}"),
        "the executor rejected a message of ours:\n{output}"
    );
    Ok(())
}
