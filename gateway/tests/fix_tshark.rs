//! Wire check of the FIX acceptor with Wireshark's `fix` dissector (tshark).
//!
//! A scripted client runs a whole session against [`Session`] in process: Logon,
//! NewOrderSingle (answered by an ExecutionReport New and a Trade), OrderCancelReplaceRequest,
//! OrderCancelRequest, a cancel of an unknown order (OrderCancelReject), an order for an
//! unknown symbol (ExecutionReport reject), an order without Side (session Reject),
//! TestRequest/Heartbeat, Logout. Every byte each side sent goes into a pcap with
//! synthetic TCP headers ([`PcapWriter`]); one client message is split over two TCP
//! segments and several answers share one, so tshark has to reassemble and split.
//! tshark then decodes it, once with `-d tcp.port==PORT,fix` and once by the dissector's
//! heuristic, and the test checks: every FIX message is found, in order, with its
//! MsgType and BodyLength; every CheckSum is shown as good; no malformed packet and no
//! expert info of severity warning or error.
//!
//! Without tshark the test prints why and passes, unless `CI` is set.

mod util;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, anyhow, ensure};
use tickwarp_gateway::fix::codec::{Framing, Message, scan_frame};
use tickwarp_gateway::fix::{
    ExecType, ExecutionReport, MemoryStore, Now, OrdStatus, OrderCancelReject, Session,
    SessionEvent, SessionState,
};
use tickwarp_rdma::capture::{Direction, FlowId, PcapWriter};
use tickwarp_runtime::UnixNanos;
use tickwarp_wire::exec::CxlRejResponseTo;
use tickwarp_wire::{Qty, RejectReason};

/// The gateway's port in the capture (not FIX's registered 9878... nor any default).
const GATEWAY_PORT: u16 = 19_878;

/// Every FIX frame of a capture in order, as `(MsgType, BodyLength)`.
type Frames = Vec<(String, usize)>;

/// A session whose every byte is recorded into a pcap, plus the frames of each side.
struct Recorder {
    session: Session<MemoryStore>,
    now: Now,
    client_seq: u64,
    pcap: PcapWriter<Vec<u8>>,
    flow: FlowId,
    /// Every frame in capture order.
    frames: Frames,
    exec_id: u64,
}

impl Recorder {
    fn new() -> anyhow::Result<Recorder> {
        let now = Now {
            mono: util::START_MONO,
            wall: util::START_WALL,
        };
        let gateway: SocketAddr = ([127, 0, 0, 1], GATEWAY_PORT).into();
        let client: SocketAddr = ([127, 0, 0, 1], 50_123).into();
        let mut pcap = PcapWriter::new(Vec::new())?;
        let flow = pcap.open_flow(gateway, client, false, true, now.wall)?;
        Ok(Recorder {
            session: Session::new(util::config(), util::instruments(), MemoryStore::new(), now),
            now,
            client_seq: 1,
            pcap,
            flow,
            frames: Vec::new(),
            exec_id: 0,
        })
    }

    fn tick(&mut self) {
        self.now.mono = self.now.mono.saturating_add(Duration::from_millis(1));
        self.now.wall = UnixNanos(self.now.wall.0 + 1_000_000);
    }

    fn note_frames(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let Framing::Complete(len) = scan_frame(rest, 1 << 20) else {
                return Err(anyhow!(
                    "not whole frames: {:?}",
                    String::from_utf8_lossy(rest)
                ));
            };
            let (frame, tail) = rest.split_at(len);
            let msg = Message::decode(frame).map_err(|e| anyhow!("{e}"))?;
            let msg_type = String::from_utf8_lossy(msg.msg_type().as_bytes()).into_owned();
            self.frames.push((msg_type, body_length(frame)?));
            rest = tail;
        }
        Ok(())
    }

    /// The client sends `msg_type` with `body` (`|` for SOH), in `pieces` TCP segments.
    fn client(&mut self, msg_type: &str, body: &str, pieces: usize) -> anyhow::Result<()> {
        self.tick();
        let sending_time = String::from_utf8_lossy(
            &tickwarp_gateway::fix::fields::format_timestamp(self.now.wall),
        )
        .into_owned();
        let bytes = util::frame(&format!(
            "35={msg_type}|34={}|49=CLIENT|52={sending_time}|56=GW|{body}",
            self.client_seq
        ));
        self.client_seq += 1;
        self.note_frames(&bytes)?;
        let piece = bytes.len().div_ceil(pieces.max(1));
        for chunk in bytes.chunks(piece) {
            self.pcap
                .record(self.flow, Direction::Received, chunk, self.now.wall)?;
            self.session.handle_bytes(self.now, chunk);
        }
        Ok(())
    }

    /// Everything the session has to send, as one TCP segment.
    fn flush(&mut self) -> anyhow::Result<()> {
        self.session.flush();
        let pending = self.session.transmit_queue().to_vec();
        self.session.consume_transmit(pending.len());
        if !pending.is_empty() {
            self.note_frames(&pending)?;
            self.pcap
                .record(self.flow, Direction::Sent, &pending, self.now.wall)?;
        }
        Ok(())
    }

    fn events(&mut self) -> Vec<SessionEvent> {
        std::iter::from_fn(|| self.session.poll_event()).collect()
    }

    fn report(
        &mut self,
        base: &ExecutionReport<'static>,
        exec_type: ExecType,
        ord_status: OrdStatus,
    ) -> anyhow::Result<()> {
        self.exec_id += 1;
        let report = ExecutionReport {
            exec_id: self.exec_id,
            exec_type,
            ord_status,
            transact_time: self.now.wall,
            ..*base
        };
        self.session
            .send_execution_report(self.now, &report)
            .map_err(|e| anyhow!("{e}"))?;
        Ok(())
    }
}

/// BodyLength (9) of a frame, as written.
fn body_length(frame: &[u8]) -> anyhow::Result<usize> {
    let text = String::from_utf8_lossy(frame);
    let value = text
        .split('\u{1}')
        .find_map(|f| f.strip_prefix("9="))
        .context("no BodyLength")?;
    value.parse().context("BodyLength not a number")
}

/// Runs the scripted session; returns the pcap bytes and the frames in capture order.
fn capture() -> anyhow::Result<(Vec<u8>, Frames)> {
    let mut r = Recorder::new()?;
    r.client("A", "98=0|108=30|553=alice|554=secret|", 1)?;
    r.flush()?;
    ensure!(r.session.state() == SessionState::Active, "not logged on");
    r.events();

    // NewOrderSingle split over two segments; New and Trade reports in one segment.
    r.client(
        "D",
        "11=ORD1|1=42|55=ACME|54=1|38=100|40=2|44=12.5|59=0|60=20251125-10:00:00.000|",
        2,
    )?;
    let nos = match r.events().as_slice() {
        [SessionEvent::NewOrderSingle(nos)] => *nos,
        other => return Err(anyhow!("expected a NewOrderSingle, got {other:?}")),
    };
    let base = ExecutionReport {
        order_id: 9001,
        exec_id: 0,
        exec_type: ExecType::New,
        ord_status: OrdStatus::New,
        cl_ord_id: nos.cl_ord_id,
        orig_cl_ord_id: None,
        instrument: nos.spec.instrument,
        side: nos.spec.side,
        ord_type: Some(nos.spec.ord_type),
        price: Some(nos.spec.price),
        tif: Some(nos.spec.tif),
        order_qty: nos.spec.qty,
        last_qty: None,
        last_px: None,
        leaves_qty: nos.spec.qty,
        cum_qty: Qty(0),
        avg_px: tickwarp_wire::Price::ZERO,
        transact_time: r.now.wall,
        reject_reason: None,
        text: None,
    };
    r.report(&base, ExecType::New, OrdStatus::New)?;
    let filled = ExecutionReport {
        last_qty: Some(Qty(40)),
        last_px: Some(nos.spec.price),
        leaves_qty: Qty(60),
        cum_qty: Qty(40),
        avg_px: nos.spec.price,
        ..base
    };
    r.report(&filled, ExecType::Trade, OrdStatus::PartiallyFilled)?;
    r.flush()?;

    r.client(
        "G",
        "11=ORD2|41=ORD1|1=42|55=ACME|54=1|38=150|40=2|44=12.75|59=0|60=20251125-10:00:00.000|",
        1,
    )?;
    let replace = match r.events().as_slice() {
        [SessionEvent::OrderCancelReplaceRequest(g)] => *g,
        other => return Err(anyhow!("expected a replace, got {other:?}")),
    };
    let replaced = ExecutionReport {
        cl_ord_id: replace.cl_ord_id,
        orig_cl_ord_id: Some(replace.orig_cl_ord_id),
        price: Some(replace.spec.price),
        order_qty: replace.spec.qty,
        leaves_qty: Qty(110),
        last_qty: None,
        last_px: None,
        ..filled
    };
    r.report(&replaced, ExecType::Replaced, OrdStatus::PartiallyFilled)?;
    r.flush()?;

    r.client(
        "F",
        "11=ORD3|41=ORD2|1=42|55=ACME|54=1|60=20251125-10:00:00.000|",
        1,
    )?;
    let cancel = match r.events().as_slice() {
        [SessionEvent::OrderCancelRequest(f)] => *f,
        other => return Err(anyhow!("expected a cancel, got {other:?}")),
    };
    let canceled = ExecutionReport {
        cl_ord_id: cancel.cl_ord_id,
        orig_cl_ord_id: Some(cancel.orig_cl_ord_id),
        leaves_qty: Qty(0),
        ..replaced
    };
    r.report(&canceled, ExecType::Canceled, OrdStatus::Canceled)?;
    r.flush()?;

    // A cancel of an unknown order: OrderCancelReject.
    r.client(
        "F",
        "11=ORD4|41=NOPE|1=42|55=ACME|54=2|60=20251125-10:00:00.000|",
        1,
    )?;
    let unknown = match r.events().as_slice() {
        [SessionEvent::OrderCancelRequest(f)] => *f,
        other => return Err(anyhow!("expected a cancel, got {other:?}")),
    };
    let reject = OrderCancelReject {
        order_id: 0,
        cl_ord_id: unknown.cl_ord_id,
        orig_cl_ord_id: unknown.orig_cl_ord_id,
        ord_status: OrdStatus::Rejected,
        response_to: CxlRejResponseTo::Cancel,
        reason: RejectReason::UnknownOrder,
        text: Some("unknown order"),
    };
    r.session
        .send_order_cancel_reject(r.now, &reject)
        .map_err(|e| anyhow!("{e}"))?;
    r.flush()?;

    // The session's own answers: ExecutionReport reject (unknown symbol), Reject (no Side).
    r.client(
        "D",
        "11=ORD5|55=NOPE|54=1|38=1|40=1|60=20251125-10:00:00.000|",
        1,
    )?;
    r.client(
        "D",
        "11=ORD6|55=ACME|38=1|40=1|60=20251125-10:00:00.000|",
        1,
    )?;
    r.flush()?;
    ensure!(
        r.events().is_empty(),
        "rejected orders reached the application"
    );

    // TestRequest/Heartbeat, then Logout both ways, then FIN.
    r.client("1", "112=PING|", 1)?;
    r.flush()?;
    r.client("5", "", 1)?;
    r.flush()?;
    ensure!(
        r.events().iter().any(|e| matches!(
            e,
            SessionEvent::LoggedOut { .. } | SessionEvent::Disconnect { .. }
        )),
        "no logout"
    );
    let (flow, wall) = (r.flow, r.now.wall);
    r.pcap.close_flow(flow, Direction::Received, wall)?;
    let frames = r.frames;
    let pcap = r.pcap.into_inner()?;
    Ok((pcap, frames))
}

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn tshark(pcap: &Path, decode_as: bool, args: &[&str]) -> anyhow::Result<String> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(pcap);
    if decode_as {
        cmd.args(["-d", &format!("tcp.port=={GATEWAY_PORT},fix")]);
    }
    cmd.args(["-o", "fix.desegment:TRUE"]).args(args);
    let out = cmd.output().context("running tshark")?;
    ensure!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One decoding pass: every frame found with the right MsgType, BodyLength and a good
/// CheckSum; nothing malformed; no warning or error expert info.
fn check(pcap: &Path, decode_as: bool, frames: &[(String, usize)]) -> anyhow::Result<()> {
    let fields = tshark(
        pcap,
        decode_as,
        &[
            "-T",
            "fields",
            "-E",
            "aggregator=;",
            "-e",
            "fix.MsgType",
            "-e",
            "fix.BodyLength",
            "-e",
            "fix.checksum_good",
        ],
    )?;
    let mut seen = Vec::new();
    for line in fields.lines().filter(|l| !l.trim().is_empty()) {
        let columns: Vec<&str> = line.split('\t').collect();
        let [types, lengths, good] = columns.as_slice() else {
            return Err(anyhow!("unexpected tshark line {line:?}"));
        };
        let split = |s: &str| -> Vec<String> {
            s.split(';')
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let (types, lengths, good) = (split(types), split(lengths), split(good));
        ensure!(
            types.len() == lengths.len() && types.len() == good.len(),
            "tshark line {line:?}: one MsgType, BodyLength and checksum status per message"
        );
        for ((t, len), ok) in types.into_iter().zip(lengths).zip(good) {
            ensure!(
                ok == "1" || ok.eq_ignore_ascii_case("true"),
                "checksum of a {t} not shown as good: {line:?}"
            );
            seen.push((t, len.parse::<usize>().context("BodyLength")?));
        }
    }
    ensure!(seen == frames, "tshark saw {seen:?}\nwe sent {frames:?}");

    let verbose = tshark(pcap, decode_as, &["-V"])?;
    for bad in [
        "Malformed",
        "Expert Info (Error",
        "Expert Info (Warning",
        "Bad checksum",
        "Missing mandatory",
        "Invalid",
    ] {
        ensure!(
            !verbose.contains(bad),
            "tshark -V shows {bad:?}:\n{verbose}"
        );
    }
    ensure!(
        verbose.contains("Financial Information eXchange Protocol"),
        "{verbose}"
    );

    let flagged = tshark(
        pcap,
        decode_as,
        &[
            "-Y",
            "_ws.malformed || _ws.expert.severity >= \"Warning\" || fix.checksum_bad == 1",
        ],
    )?;
    ensure!(flagged.trim().is_empty(), "flagged packets:\n{flagged}");
    Ok(())
}

/// Whether tshark can run; without it the tests pass with a note, except under CI.
fn require_tshark() -> bool {
    if tshark_available() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("tshark not found; CI is set, so the FIX wire check must run (install tshark)");
    }
    eprintln!("skipping the tshark check: tshark not found (install tshark)");
    false
}

#[test]
fn tshark_decodes_a_whole_session_without_errors() -> anyhow::Result<()> {
    let (pcap, frames) = capture()?;
    let types: Vec<&str> = frames.iter().map(|(t, _)| t.as_str()).collect();
    ensure!(
        types
            == [
                "A", "A", "D", "8", "8", "G", "8", "F", "8", "F", "9", "D", "D", "8", "3", "1",
                "0", "5", "5"
            ],
        "{types:?}"
    );
    if !require_tshark() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("fix_session.pcap");
    std::fs::write(&path, &pcap)?;
    check(&path, true, &frames).context("tshark -d tcp.port==PORT,fix")?;
    check(&path, false, &frames).context("tshark, heuristic dissector")?;
    Ok(())
}

/// The control for the check above: a Logon whose CheckSum is off by one must fail it,
/// which shows that tshark's checksum verification is on and that `check` reads it.
#[test]
fn tshark_check_catches_a_bad_checksum() -> anyhow::Result<()> {
    if !require_tshark() {
        return Ok(());
    }
    let mut frame = util::frame("35=A|34=1|49=CLIENT|52=20251125-10:00:00.000|56=GW|98=0|108=30|");
    let sum_at = frame.len() - 4;
    let sum: u8 = String::from_utf8_lossy(&frame[sum_at..sum_at + 3]).parse()?;
    frame.splice(
        sum_at..sum_at + 3,
        format!("{:03}", sum.wrapping_add(1)).into_bytes(),
    );
    let gateway: SocketAddr = ([127, 0, 0, 1], GATEWAY_PORT).into();
    let client: SocketAddr = ([127, 0, 0, 1], 50_124).into();
    let mut pcap = PcapWriter::new(Vec::new())?;
    let flow = pcap.open_flow(gateway, client, false, true, util::START_WALL)?;
    pcap.record(flow, Direction::Received, &frame, util::START_WALL)?;
    pcap.close_flow(flow, Direction::Received, util::START_WALL)?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bad_checksum.pcap");
    std::fs::write(&path, pcap.into_inner()?)?;
    let frames = [("A".to_owned(), body_length(&frame)?)];
    let verdict = check(&path, true, &frames);
    let error = verdict
        .err()
        .context("a bad CheckSum passed the tshark check")?;
    ensure!(format!("{error:#}").contains("checksum"), "{error:#}");
    Ok(())
}
