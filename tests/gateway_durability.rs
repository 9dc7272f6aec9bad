//! End-to-end durability of the gateway binary: 24 FIX sessions stream thousands of
//! orders into `tickwarp gateway`, which is SIGKILLed mid-stream and restarted on the
//! same journal directory. Then:
//!
//! - every order a client saw acknowledged is in the order journal, in the state the
//!   client last saw or further along (and exactly that state when it was final);
//! - every client logs on again with the sequence numbers it kept (the gateway neither
//!   lost nor invented any), and a ResendRequest from 1 is answered: each message the
//!   client received before the kill comes back at the same MsgSeqNum (PossDup), admin
//!   messages as gap fills;
//! - the inbound direction too: the gateway may ask the client to resend (a
//!   ResendRequest after the client's Logon) only messages it never acted on. A request
//!   that reaches back to a message the client saw answered (its ExecutionReport
//!   arrived) means the gateway lost inbound sequence numbers it had acknowledged, and
//!   fails the test; the client answers a legitimate one with a gap fill, since those
//!   orders were never acknowledged.
//! - the restarted gateway takes new orders.
//!
//! A second test damages the journals of a stopped gateway (a flipped byte in the order
//! journal or a session store, a deleted journal directory) and requires the restart to
//! refuse, naming the file, without changing anything on disk.
//!
//! Every wait is bounded; nothing is timed. Clients run on their own threads with
//! blocking sockets and read timeouts.

use std::collections::{BTreeMap, HashMap};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_gateway::fix::MsgType;
use tickwarp_gateway::fix::codec::{Framing, Message, MessageWriter, scan_frame};
use tickwarp_gateway::fix::fields::tag;
use tickwarp_gateway::orders::OrdStatus;
use tickwarp_gateway::service::{GatewayConfig, read_journal};
use tickwarp_runtime::clock;
use tickwarp_wire::{AccountId, ClientOrderId, Qty};

mod common;
use common::GatewayProcess;

/// FIX sessions.
const SESSIONS: usize = 24;
/// Orders (and cancels) each session sends at most before the kill.
const PER_SESSION: usize = 400;
/// Acknowledged new orders, all sessions together, after which the gateway is killed.
const KILL_AFTER_ACKS: usize = 2_000;
/// Longest wait for any one thing.
const WAIT: Duration = Duration::from_secs(15);

fn account(session: usize) -> u32 {
    1001 + session as u32
}

fn comp_id(session: usize) -> String {
    format!("C{session:02}")
}

fn write_config(dir: &Path) -> Result<std::path::PathBuf> {
    let mut text = format!(
        r#"
listen = "127.0.0.1:0"
[journal]
dir = "{}"
[risk]
max_order_qty = 1000
max_notional = "100000000"
collar_bps = 0
credit_limit = "1000000000"
max_position = 1000000
max_orders_per_day = 1000000
[risk.throttle]
msgs_per_sec = 100000
burst = 100000
[[instruments]]
symbol = "ACME"
id = 1
[[venue.liquidity]]
symbol = "ACME"
side = "sell"
price = "101"
qty = 1000000
[[venue.liquidity]]
symbol = "ACME"
side = "buy"
price = "97"
qty = 1000000
"#,
        dir.join("journal").display()
    );
    for s in 0..SESSIONS {
        text.push_str(&format!(
            "[[sessions]]\nid = {}\nsender_comp_id = \"GW\"\ntarget_comp_id = \"{}\"\naccount = {}\nallow_no_password = true\n",
            s + 1,
            comp_id(s),
            account(s)
        ));
    }
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// One received message.
#[derive(Clone, Debug)]
struct Out {
    fields: Vec<(u32, String)>,
}

impl Out {
    fn get(&self, t: u32) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, v)| v.as_str())
    }

    fn num(&self, t: u32) -> Result<u64> {
        self.get(t)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("tag {t} missing in {self:?}"))
    }

    fn msg_type(&self) -> &str {
        self.get(tag::MSG_TYPE).unwrap_or("")
    }
}

/// What a client knows: its sequence numbers, the last state of each order it saw, and
/// what it received at each MsgSeqNum.
#[derive(Debug, Default)]
struct Knowledge {
    next_out: u64,
    next_in: u64,
    /// ClOrdID → (OrdStatus, CumQty) from the last ExecutionReport.
    orders: HashMap<String, (String, u64)>,
    /// ClOrdIDs acknowledged (ExecType New seen).
    acked: Vec<String>,
    /// MsgSeqNum → (MsgType, ClOrdID) of what arrived.
    received: HashMap<u64, (String, String)>,
    /// ClOrdID of each request sent → its MsgSeqNum.
    sent: HashMap<String, u64>,
    /// The highest MsgSeqNum of ours the gateway has visibly acted on: the orders and
    /// cancels it sent an ExecutionReport for. (A Logon answered after a restart proves
    /// nothing about the messages before it: a gap is then asked for.)
    processed_out: u64,
    /// ResendRequests the gateway sent: (BeginSeqNo, EndSeqNo).
    resend_requests: Vec<(u64, u64)>,
}

struct Client {
    stream: TcpStream,
    target: String,
    rx: Vec<u8>,
    k: Knowledge,
}

impl Client {
    fn connect(addr: SocketAddr, target: &str, k: Knowledge) -> Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, WAIT)?;
        stream.set_read_timeout(Some(Duration::from_millis(50)))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            target: target.to_owned(),
            rx: Vec::new(),
            k,
        })
    }

    fn send(&mut self, msg_type: MsgType, body: impl FnOnce(&mut MessageWriter<'_>)) -> Result<()> {
        self.send_at(self.k.next_out, msg_type, body)?;
        self.k.next_out += 1;
        Ok(())
    }

    fn send_at(
        &mut self,
        seq: u64,
        msg_type: MsgType,
        body: impl FnOnce(&mut MessageWriter<'_>),
    ) -> Result<()> {
        let mut buf = Vec::new();
        let mut w = MessageWriter::begin(&mut buf, msg_type);
        w.uint(tag::MSG_SEQ_NUM, seq)
            .str(tag::SENDER_COMP_ID, &self.target)
            .timestamp(tag::SENDING_TIME, clock::unix_now())
            .str(tag::TARGET_COMP_ID, "GW");
        body(&mut w);
        let _ = w.finish();
        self.stream.write_all(&buf)?;
        Ok(())
    }

    /// The next message within [`WAIT`], answering session traffic: TestRequest with a
    /// Heartbeat, a ResendRequest from the gateway with a gap fill (orders the gateway
    /// never processed were never acknowledged, so they are not sent again).
    fn recv(&mut self) -> Result<Out> {
        let deadline = clock::monotonic_now().saturating_add(WAIT);
        loop {
            if let Framing::Complete(len) = scan_frame(&self.rx, 1 << 16) {
                let frame: Vec<u8> = self.rx.drain(..len).collect();
                let msg = Message::decode(&frame)
                    .map_err(|e| anyhow::anyhow!("undecodable frame: {e:?}"))?;
                let out = Out {
                    fields: msg
                        .fields()
                        .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
                        .collect(),
                };
                match out.msg_type() {
                    "1" => {
                        let id = out.get(tag::TEST_REQ_ID).unwrap_or("").to_owned();
                        self.send(MsgType::HEARTBEAT, |w| {
                            w.str(tag::TEST_REQ_ID, &id);
                        })?;
                    }
                    "2" => {
                        let begin = out.num(tag::BEGIN_SEQ_NO)?;
                        let end = out.num(tag::END_SEQ_NO)?;
                        let next = self.k.next_out;
                        ensure!(
                            begin > self.k.processed_out,
                            "{}: the gateway asks again for our MsgSeqNum {begin}..{end}, \
                             but it had already answered up to {}: it lost inbound \
                             sequence numbers it acted on",
                            self.target,
                            self.k.processed_out
                        );
                        ensure!(
                            begin < next && (end == 0 || (begin..next).contains(&end)),
                            "{}: ResendRequest {begin}..{end} for messages we never sent \
                             (next is {next})",
                            self.target
                        );
                        self.k.resend_requests.push((begin, end));
                        self.send_at(begin, MsgType::SEQUENCE_RESET, |w| {
                            w.flag(tag::POSS_DUP_FLAG, true)
                                .timestamp(tag::ORIG_SENDING_TIME, clock::unix_now())
                                .flag(tag::GAP_FILL_FLAG, true)
                                .uint(tag::NEW_SEQ_NO, next);
                        })?;
                    }
                    _ => {}
                }
                return Ok(out);
            }
            if let Framing::Garbled { reason, .. } = scan_frame(&self.rx, 1 << 16) {
                bail!("garbled frame: {reason}");
            }
            ensure!(
                clock::monotonic_now() < deadline,
                "nothing from the gateway within {WAIT:?}"
            );
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => bail!("connection closed"),
                Ok(n) => self.rx.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Records a fresh (not resent) message in sequence.
    fn take_fresh(&mut self, out: &Out) -> Result<()> {
        let seq = out.num(tag::MSG_SEQ_NUM)?;
        ensure!(
            seq == self.k.next_in,
            "MsgSeqNum {seq}, expected {}: {out:?}",
            self.k.next_in
        );
        self.k.next_in += 1;
        let cl = out.get(tag::CL_ORD_ID).unwrap_or("").to_owned();
        self.k
            .received
            .insert(seq, (out.msg_type().to_owned(), cl.clone()));
        if out.msg_type() == "8" {
            let status = out.get(tag::ORD_STATUS).unwrap_or("").to_owned();
            let cum = out.num(tag::CUM_QTY)?;
            // A canceled order's report carries the cancel request's id; the order is
            // OrigClOrdID.
            let order = match out.get(tag::EXEC_TYPE) {
                Some("4") => out.get(tag::ORIG_CL_ORD_ID).unwrap_or(&cl).to_owned(),
                _ => cl.clone(),
            };
            if out.get(tag::EXEC_TYPE) == Some("0") {
                self.k.acked.push(cl.clone());
            }
            if let Some(&seq) = self.k.sent.get(&cl) {
                self.k.processed_out = self.k.processed_out.max(seq);
            }
            self.k.orders.insert(order, (status, cum));
        }
        Ok(())
    }

    /// The next fresh application message.
    fn next_app(&mut self) -> Result<Out> {
        loop {
            let out = self.recv()?;
            if out.get(tag::POSS_DUP_FLAG) == Some("Y") {
                bail!("unexpected resend: {out:?}");
            }
            self.take_fresh(&out)?;
            if !matches!(out.msg_type(), "0" | "1" | "2") {
                return Ok(out);
            }
        }
    }

    fn logon(&mut self) -> Result<Out> {
        self.send(MsgType::LOGON, |w| {
            w.uint(tag::ENCRYPT_METHOD, 0).uint(tag::HEART_BT_INT, 30);
        })?;
        let out = self.recv()?;
        ensure!(out.msg_type() == "A", "expected Logon, got {out:?}");
        Ok(out)
    }

    fn new_order(&mut self, cl: &str, px: &str, qty: u64) -> Result<()> {
        self.k.sent.insert(cl.to_owned(), self.k.next_out);
        self.send(MsgType::NEW_ORDER_SINGLE, |w| {
            w.str(tag::CL_ORD_ID, cl)
                .str(tag::SYMBOL, "ACME")
                .byte(tag::SIDE, b'1')
                .timestamp(tag::TRANSACT_TIME, clock::unix_now())
                .uint(tag::ORDER_QTY, qty)
                .byte(tag::ORD_TYPE, b'2')
                .str(tag::PRICE, px)
                .byte(tag::TIME_IN_FORCE, b'0');
        })
    }

    fn cancel(&mut self, cl: &str, orig: &str) -> Result<()> {
        self.k.sent.insert(cl.to_owned(), self.k.next_out);
        self.send(MsgType::ORDER_CANCEL_REQUEST, |w| {
            w.str(tag::ORIG_CL_ORD_ID, orig)
                .str(tag::CL_ORD_ID, cl)
                .str(tag::SYMBOL, "ACME")
                .byte(tag::SIDE, b'1')
                .timestamp(tag::TRANSACT_TIME, clock::unix_now());
        })
    }

    /// Waits for the ExecutionReport of `cl` with ExecType `exec_type`.
    fn expect(&mut self, cl: &str, exec_type: &str) -> Result<()> {
        let out = self.next_app()?;
        ensure!(
            out.msg_type() == "8"
                && out.get(tag::CL_ORD_ID) == Some(cl)
                && out.get(tag::EXEC_TYPE) == Some(exec_type),
            "expected 150={exec_type} for {cl}, got {out:?}"
        );
        Ok(())
    }
}

/// Phase 1 of one session: log on and stream orders until the gateway dies.
fn stream_orders(addr: SocketAddr, s: usize, acks: &AtomicUsize, stop: &AtomicBool) -> Knowledge {
    let fresh = Knowledge {
        next_out: 1,
        next_in: 1,
        ..Knowledge::default()
    };
    let mut c = match Client::connect(addr, &comp_id(s), fresh) {
        Ok(c) => c,
        Err(_) => return Knowledge::default(),
    };
    let result = (|| -> Result<()> {
        let logon = c.logon()?;
        c.take_fresh(&logon)?;
        for i in 0..PER_SESSION {
            if stop.load(Ordering::Acquire) {
                return Ok(());
            }
            let cl = format!("{}-{i:04}", comp_id(s));
            match i % 3 {
                // Crosses the house offer: New, then Trade.
                0 => {
                    c.new_order(&cl, "101", 1)?;
                    c.expect(&cl, "0")?;
                    acks.fetch_add(1, Ordering::AcqRel);
                    c.expect(&cl, "F")?;
                }
                // Rests.
                1 => {
                    c.new_order(&cl, "98", 2)?;
                    c.expect(&cl, "0")?;
                    acks.fetch_add(1, Ordering::AcqRel);
                }
                // Cancels the order just rested.
                _ => {
                    let orig = format!("{}-{:04}", comp_id(s), i - 1);
                    let x = format!("X{}", &cl[1..]);
                    c.cancel(&x, &orig)?;
                    c.expect(&x, "4")?;
                }
            }
        }
        Ok(())
    })();
    // Expected: the gateway was killed under us.
    if let Err(e) = result {
        if !stop.load(Ordering::Acquire) {
            eprintln!("session {s}: {e:#}");
        }
    }
    c.k
}

/// Phase 2 of one session: log on again, ask for everything again, check it, trade once.
fn reconnect(addr: SocketAddr, s: usize, k: Knowledge) -> Result<(Knowledge, u64)> {
    let before = k.received.clone();
    let next_in_before = k.next_in;
    let mut c = Client::connect(addr, &comp_id(s), k)?;
    let logon = c.logon()?;
    let logon_seq = logon.num(tag::MSG_SEQ_NUM)?;
    ensure!(
        logon_seq >= next_in_before,
        "session {s}: gateway's MsgSeqNum {logon_seq} went back below {next_in_before}"
    );
    // Everything from 1 again.
    c.send(MsgType::RESEND_REQUEST, |w| {
        w.uint(tag::BEGIN_SEQ_NO, 1).uint(tag::END_SEQ_NO, 0);
    })?;
    let mut covered = 1;
    let mut resent_count = 0;
    let mut last_fresh = logon_seq;
    c.k.next_in = logon_seq + 1;
    while covered <= last_fresh {
        let out = c.recv()?;
        let seq = out.num(tag::MSG_SEQ_NUM)?;
        let resent = out.get(tag::POSS_DUP_FLAG) == Some("Y");
        if out.msg_type() == "4" && out.get(tag::GAP_FILL_FLAG) == Some("Y") && resent {
            ensure!(
                seq == covered,
                "session {s}: gap fill at {seq}, expected {covered}"
            );
            covered = out.num(tag::NEW_SEQ_NO)?;
        } else if resent {
            ensure!(
                seq == covered,
                "session {s}: resend at {seq}, expected {covered}"
            );
            if let Some((ty, cl)) = before.get(&seq) {
                let got = (out.msg_type(), out.get(tag::CL_ORD_ID).unwrap_or(""));
                ensure!(
                    got == (ty.as_str(), cl.as_str()),
                    "session {s}: MsgSeqNum {seq} was {ty}/{cl} before the kill, resent as {got:?}"
                );
            }
            if seq >= next_in_before && out.msg_type() == "8" {
                // Sent before the kill, never received: learn it now.
                c.k.next_in = c.k.next_in.max(seq + 1);
            }
            resent_count += 1;
            covered += 1;
        } else {
            c.take_fresh(&out)?;
            // What the gateway sent before it read the ResendRequest (the backlog of
            // executions that happened while the session was away) is resent too.
            if covered == 1 {
                last_fresh = last_fresh.max(seq);
            }
        }
    }
    // Every message the client received before the kill was covered by the resend.
    ensure!(
        covered >= next_in_before,
        "session {s}: resend stopped at {covered} before {next_in_before}"
    );
    let cl = format!("{}-AFTER", comp_id(s));
    c.new_order(&cl, "98", 1)?;
    loop {
        let out = c.next_app()?;
        if out.get(tag::CL_ORD_ID) == Some(cl.as_str()) && out.get(tag::EXEC_TYPE) == Some("0") {
            break;
        }
    }
    Ok((c.k, resent_count))
}

/// The FIX OrdStatus character of a status.
fn fix_char(status: OrdStatus) -> &'static str {
    match status {
        OrdStatus::PendingNew => "A",
        OrdStatus::New => "0",
        OrdStatus::PartiallyFilled => "1",
        OrdStatus::Filled => "2",
        OrdStatus::PendingCancel => "6",
        OrdStatus::Canceled | OrdStatus::Replaced => "4",
        OrdStatus::PendingReplace => "E",
        OrdStatus::Rejected => "8",
        OrdStatus::Expired => "C",
        OrdStatus::DoneForDay => "3",
    }
}

#[test]
fn sigkill_mid_stream_loses_no_acknowledged_order_and_keeps_sequence_numbers() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config_path = write_config(dir.path())?;
    let config = GatewayConfig::load(&config_path)?;

    // Phase 1: stream, then SIGKILL.
    let gateway = GatewayProcess::start(&config_path, &[], WAIT)?;
    let acks = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for s in 0..SESSIONS {
        let (acks, stop, addr) = (Arc::clone(&acks), Arc::clone(&stop), gateway.fix_addr()?);
        clients.push(thread::spawn(move || stream_orders(addr, s, &acks, &stop)));
    }
    let deadline = clock::monotonic_now().saturating_add(Duration::from_secs(60));
    while acks.load(Ordering::Acquire) < KILL_AFTER_ACKS {
        if clients.iter().all(|c| c.is_finished()) {
            break;
        }
        ensure!(
            clock::monotonic_now() < deadline,
            "only {} acknowledgements before the deadline",
            acks.load(Ordering::Acquire)
        );
        thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Release);
    gateway.kill9()?;
    let mut known = Vec::new();
    for c in clients {
        known.push(c.join().map_err(|_| anyhow::anyhow!("client panicked"))?);
    }
    let acked: usize = known.iter().map(|k| k.acked.len()).sum();
    ensure!(
        acked >= KILL_AFTER_ACKS,
        "only {acked} acknowledged before the kill"
    );
    ensure!(
        known.iter().all(|k| k.next_out > 1),
        "a session never logged on"
    );

    // Phase 2: restart on the same journals; every client reconnects.
    let gateway = GatewayProcess::start(&config_path, &[], WAIT)?;
    let mut again = Vec::new();
    for (s, k) in known.into_iter().enumerate() {
        let addr = gateway.fix_addr()?;
        again.push(thread::spawn(move || reconnect(addr, s, k)));
    }
    let mut after = Vec::new();
    let mut resent = 0;
    for (s, c) in again.into_iter().enumerate() {
        let (k, n) = c
            .join()
            .map_err(|_| anyhow::anyhow!("client {s} panicked"))??;
        resent += n;
        after.push(k);
    }
    gateway.kill9()?;
    let asked: usize = after.iter().map(|k| k.resend_requests.len()).sum();
    let processed: u64 = after.iter().map(|k| k.processed_out).sum();
    ensure!(
        processed > 0,
        "no session saw any of its requests answered: the inbound check checked nothing"
    );

    // Phase 3: the journal against what the clients saw.
    let limits = config.risk_limits()?.clone();
    let recovered = read_journal(&config.journal.orders_dir(), limits, config.max_orders)?;
    let mut checked = 0;
    for (s, k) in after.iter().enumerate() {
        let acct = AccountId(account(s));
        for cl in &k.acked {
            let id = ClientOrderId::new(cl)?;
            let order = recovered
                .order(acct, id)
                .with_context(|| format!("acknowledged order {cl} missing from the journal"))?;
            let (status, cum) = k.orders.get(cl).context("acked order has a state")?;
            let journal_status = fix_char(order.status());
            if matches!(status.as_str(), "2" | "4" | "8") {
                ensure!(
                    journal_status == status && order.cum_qty() == Qty(*cum),
                    "{cl}: client saw {status}/{cum}, journal has {:?}/{}",
                    order.status(),
                    order.cum_qty()
                );
            } else {
                ensure!(
                    order.cum_qty() >= Qty(*cum),
                    "{cl}: client saw {cum} traded, journal has {}",
                    order.cum_qty()
                );
            }
            checked += 1;
        }
    }
    ensure!(checked >= KILL_AFTER_ACKS, "checked only {checked} orders");
    eprintln!(
        "{SESSIONS} sessions: {checked} acknowledged orders found in the journal ({} records); \
         {resent} ExecutionReports resent after the restart; the gateway asked {asked} \
         times for unanswered messages of ours, never for answered ones",
        recovered.records
    );
    Ok(())
}

/// Every file under `dir` with its bytes, by path relative to `dir`.
fn snapshot(dir: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("list {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let bytes = std::fs::read(&path)?;
                files.insert(path.strip_prefix(dir)?.to_path_buf(), bytes);
            }
        }
    }
    Ok(files)
}

/// Makes `dir` hold exactly `files`.
fn restore(dir: &Path, files: &BTreeMap<PathBuf, Vec<u8>>) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    for (rel, bytes) in files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().context("file has a parent")?)?;
        std::fs::write(&path, bytes)?;
    }
    Ok(())
}

/// Flips one bit in the middle of `path`.
fn flip_middle(path: &Path) -> Result<()> {
    let mut bytes = std::fs::read(path)?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(path, bytes)?;
    Ok(())
}

/// Starts `tickwarp gateway` and expects it to refuse: its stderr, or an error if it
/// started (printed its FIX address) or did not exit within [`WAIT`].
fn refused_start(config: &Path) -> Result<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args(["gateway", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning tickwarp gateway")?;
    let deadline = clock::monotonic_now().saturating_add(WAIT);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if clock::monotonic_now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the gateway did not refuse to start within {WAIT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .context("stdout")?
        .read_to_string(&mut stdout)?;
    child
        .stderr
        .take()
        .context("stderr")?
        .read_to_string(&mut stderr)?;
    ensure!(
        !status.success() && !stdout.contains("FIX listening on"),
        "the gateway started: {stdout}{stderr}"
    );
    Ok(stderr)
}

/// `tickwarp journal verify DIR`: its exit code and stdout.
fn verify(dir: &Path) -> Result<(Option<i32>, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args(["journal", "verify"])
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .context("running tickwarp journal verify")?;
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// Issue 10, the binary: a flipped byte in the order journal or in a FIX session store,
/// or a deleted journal directory, stops `tickwarp gateway` at start with a message that
/// names the file; the gateway changes nothing on disk (no truncation, no fresh empty
/// journal in place of a deleted one); `tickwarp journal verify` on the journal
/// directory exits 1. The undamaged copy starts and the client logs on again.
#[test]
fn damaged_or_deleted_journals_stop_the_start_naming_them_and_change_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = write_config(dir.path())?;
    let root = dir.path().join("journal");
    let gateway = GatewayProcess::start(&config, &[], WAIT)?;
    let fresh = Knowledge {
        next_out: 1,
        next_in: 1,
        ..Knowledge::default()
    };
    let mut client = Client::connect(gateway.fix_addr()?, &comp_id(0), fresh)?;
    let logon = client.logon()?;
    client.take_fresh(&logon)?;
    for i in 0..40 {
        let cl = format!("d{i}");
        client.new_order(&cl, "99", 5)?;
        client.expect(&cl, "0")?;
    }
    gateway.kill9()?;
    let pristine = snapshot(&root)?;
    let orders = root.join("orders");
    let store = root.join("fix").join("sessions");
    let segment = |d: &Path| d.join("00000000000000000001.twj");

    type Damage<'a> = Box<dyn Fn(&Path) -> Result<()> + 'a>;
    let cases: Vec<(&str, Damage<'_>, String)> = vec![
        (
            "a flipped byte in the order journal",
            Box::new(|_| flip_middle(&segment(&orders))),
            segment(&orders).display().to_string(),
        ),
        (
            "a flipped byte in the FIX session log",
            Box::new(|_| flip_middle(&segment(&store))),
            segment(&store).display().to_string(),
        ),
        (
            "the order journal deleted",
            Box::new(|_| Ok(std::fs::remove_dir_all(&orders)?)),
            format!("journal {} is missing", orders.display()),
        ),
        (
            "the FIX session log deleted",
            Box::new(|_| Ok(std::fs::remove_dir_all(&store)?)),
            format!("journal {} is missing", store.display()),
        ),
        (
            "the order journal and the manifest deleted",
            Box::new(|root| {
                std::fs::remove_dir_all(&orders)?;
                Ok(std::fs::remove_file(root.join("GATEWAY"))?)
            }),
            format!("the order journal {} is missing", orders.display()),
        ),
    ];
    for (name, damage, expected) in &cases {
        restore(&root, &pristine)?;
        damage(&root)?;
        let damaged = snapshot(&root)?;
        let stderr = refused_start(&config).with_context(|| name.to_string())?;
        ensure!(
            stderr.contains(expected.as_str()),
            "{name}: the refusal does not name {expected:?}: {stderr}"
        );
        ensure!(
            snapshot(&root)? == damaged,
            "{name}: the refused start changed the journal directory"
        );
        let (code, report) = verify(&root)?;
        ensure!(
            code == Some(1),
            "{name}: journal verify exited {code:?}: {report}"
        );
    }

    restore(&root, &pristine)?;
    let (code, report) = verify(&root)?;
    ensure!(
        code == Some(0),
        "pristine copy: verify exited {code:?}: {report}"
    );
    let gateway = GatewayProcess::start(&config, &[], WAIT)?;
    let mut again = Client::connect(gateway.fix_addr()?, &comp_id(0), client.k)?;
    let logon = again.logon()?;
    again.take_fresh(&logon)?;
    again.new_order("after", "99", 5)?;
    again.expect("after", "0")?;
    Ok(())
}
