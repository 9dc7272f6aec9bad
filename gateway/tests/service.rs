//! Integration tests of the gateway service over real sockets on 127.0.0.1: FIX clients
//! (a minimal initiator written with the crate's codec) log on, trade against the
//! simulator's house liquidity, cancel, replace and get refused with reasons; two
//! sessions see their own executions; a restart recovers orders and sequence numbers
//! and answers a ResendRequest; the kill switch cancels working orders; an RDMA client
//! does the same over a soft-iWARP `MessageChannel`.
//!
//! The gateway agent runs on its own thread (backing off when idle); every wait is
//! bounded and fails with a message; nothing depends on timing.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_gateway::fix::codec::{Framing, Message, MessageWriter, scan_frame};
use tickwarp_gateway::fix::fields::tag;
use tickwarp_gateway::fix::{MsgType, Now};
use tickwarp_gateway::orders::{OrdStatus, OrderKey};
use tickwarp_gateway::risk::KillScope;
use tickwarp_gateway::service::acceptor::hash_password;
use tickwarp_gateway::service::rdma_auth::{Credential, hash_token};
use tickwarp_gateway::service::{GatewayAgent, GatewayConfig, client_connect_params};
use tickwarp_gateway::venue::VenueTime;
use tickwarp_rdma::channel::{ChannelConfig, MessageChannel};
use tickwarp_rdma::verbs::{Backend, Device, ProtectionDomain};
use tickwarp_runtime::clock;
use tickwarp_wire::{
    AccountId, CancelOrder, ClientOrderId, InstrumentId, IntoBytes, NewOrder, OrderSpec, OrderType,
    Price, Qty, RejectReason, ReplaceOrder, Side, TickCause, TimeInForce,
};

/// Longest wait for anything.
const WAIT: Duration = Duration::from_secs(10);

fn now() -> Now {
    Now {
        mono: clock::monotonic_now(),
        wall: clock::unix_now(),
    }
}

/// The token of RDMA account 201.
const RDMA_TOKEN: &[u8] = b"token-of-201";

fn config(dir: &Path) -> Result<GatewayConfig> {
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
        id = 1
        sender_comp_id = "GW"
        target_comp_id = "C1"
        password_hash = "{}"
        account = 101
        [[sessions]]
        id = 2
        sender_comp_id = "GW"
        target_comp_id = "C2"
        allow_no_password = true
        account = 102
        [rdma]
        listen = "127.0.0.1:0"
        accounts = [201]
        backend = "soft"
        tokens = [{{ account = 201, token_hash = "{hash}" }}]
        [[venue.liquidity]]
        symbol = "ACME"
        side = "sell"
        price = "101"
        qty = 100
        [[venue.liquidity]]
        symbol = "ACME"
        side = "buy"
        price = "99"
        qty = 100
        "#,
        dir.display(),
        hash_password(b"pw1")?,
        hash = hash_token(RDMA_TOKEN)?,
    );
    Ok(GatewayConfig::from_toml(&text, dir)?)
}

type Control = Box<dyn FnOnce(&mut GatewayAgent) + Send>;

/// The gateway agent on its own thread.
struct Running {
    thread: Option<JoinHandle<GatewayAgent>>,
    stop: Arc<AtomicBool>,
    control: Sender<Control>,
    fix: SocketAddr,
    rdma: Option<SocketAddr>,
}

impl Running {
    fn start(config: &GatewayConfig) -> Result<Running> {
        let mut agent = GatewayAgent::from_config(config, now())?;
        let fix = agent.fix_addr();
        let rdma = agent.rdma_addr();
        let stop = Arc::new(AtomicBool::new(false));
        let (control, commands) = channel::<Control>();
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("gateway-test".to_owned())
            .spawn(move || {
                let mut idle = 0u32;
                while !flag.load(Ordering::Acquire) {
                    while let Ok(command) = commands.try_recv() {
                        command(&mut agent);
                    }
                    let work = agent.step(now()).unwrap_or_else(|e| panic!("gateway: {e}"));
                    if work > 0 {
                        idle = 0;
                    } else {
                        idle = idle.saturating_add(1);
                        if idle < 16 {
                            thread::yield_now();
                        } else {
                            thread::sleep(Duration::from_micros(200));
                        }
                    }
                }
                agent
            })?;
        Ok(Running {
            thread: Some(thread),
            stop,
            control,
            fix,
            rdma,
        })
    }

    /// Runs `f` on the gateway's thread between two duty cycles.
    fn with_agent(&self, f: impl FnOnce(&mut GatewayAgent) + Send + 'static) -> Result<()> {
        self.control
            .send(Box::new(f))
            .map_err(|_| anyhow::anyhow!("gateway thread gone"))
    }

    fn stop(mut self) -> Result<GatewayAgent> {
        self.stop.store(true, Ordering::Release);
        let thread = self.thread.take().context("already stopped")?;
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("gateway thread panicked"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One received FIX message as `(tag, text)` pairs.
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

    fn msg_type(&self) -> &str {
        self.get(tag::MSG_TYPE).unwrap_or("")
    }

    fn num(&self, t: u32) -> Result<u64> {
        self.get(t)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("tag {t} missing or not a number in {self:?}"))
    }

    fn is(&self, t: u32, v: &str) -> bool {
        self.get(t) == Some(v)
    }
}

/// A minimal FIX 4.4 initiator: blocking socket with a read timeout, strict sequence
/// numbers.
struct FixClient {
    stream: TcpStream,
    sender: String,
    target: String,
    next_out: u64,
    next_in: u64,
    rx: Vec<u8>,
    inbox: VecDeque<Out>,
}

impl FixClient {
    fn connect(addr: SocketAddr, sender: &str, target: &str) -> Result<FixClient> {
        let stream = TcpStream::connect_timeout(&addr, WAIT)?;
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        stream.set_nodelay(true)?;
        Ok(FixClient {
            stream,
            sender: sender.to_owned(),
            target: target.to_owned(),
            next_out: 1,
            next_in: 1,
            rx: Vec::new(),
            inbox: VecDeque::new(),
        })
    }

    fn send(&mut self, msg_type: MsgType, body: impl FnOnce(&mut MessageWriter<'_>)) -> Result<()> {
        let mut buf = Vec::new();
        let mut w = MessageWriter::begin(&mut buf, msg_type);
        w.uint(tag::MSG_SEQ_NUM, self.next_out)
            .str(tag::SENDER_COMP_ID, &self.sender)
            .timestamp(tag::SENDING_TIME, clock::unix_now())
            .str(tag::TARGET_COMP_ID, &self.target);
        body(&mut w);
        let _ = w.finish();
        self.next_out += 1;
        self.stream.write_all(&buf)?;
        Ok(())
    }

    /// The next message (any type), within [`WAIT`].
    fn recv(&mut self) -> Result<Out> {
        let deadline = clock::monotonic_now().saturating_add(WAIT);
        loop {
            if let Some(out) = self.inbox.pop_front() {
                return Ok(out);
            }
            match scan_frame(&self.rx, 1 << 16) {
                Framing::Complete(len) => {
                    let frame: Vec<u8> = self.rx.drain(..len).collect();
                    let msg = Message::decode(&frame)
                        .map_err(|e| anyhow::anyhow!("undecodable frame: {e:?}"))?;
                    let fields = msg
                        .fields()
                        .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
                        .collect();
                    self.inbox.push_back(Out { fields });
                    continue;
                }
                Framing::Garbled { reason, .. } => bail!("garbled frame from gateway: {reason}"),
                Framing::Incomplete => {}
            }
            if clock::monotonic_now() >= deadline {
                bail!("no message from the gateway within {WAIT:?}");
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => bail!("gateway closed the connection"),
                Ok(n) => self.rx.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits for the gateway to close the connection without sending a byte: a message
    /// or silence for [`WAIT`] is a failure (a timeout must not pass for a close).
    fn expect_closed_silently(&mut self) -> Result<()> {
        let deadline = clock::monotonic_now().saturating_add(WAIT);
        loop {
            ensure!(
                self.rx.is_empty() && self.inbox.is_empty(),
                "the gateway answered: {:?} {:?}",
                self.inbox,
                String::from_utf8_lossy(&self.rx)
            );
            if clock::monotonic_now() >= deadline {
                bail!("the gateway neither answered nor closed the connection within {WAIT:?}");
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => self.rx.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next application message, answering TestRequests and checking MsgSeqNum.
    fn recv_app(&mut self) -> Result<Out> {
        loop {
            let out = self.recv()?;
            let seq = out.num(tag::MSG_SEQ_NUM)?;
            ensure!(
                seq == self.next_in,
                "MsgSeqNum {seq}, expected {}: {out:?}",
                self.next_in
            );
            self.next_in += 1;
            match out.msg_type() {
                "0" => {}
                "1" => {
                    let id = out.get(tag::TEST_REQ_ID).unwrap_or("").to_owned();
                    self.send(MsgType::HEARTBEAT, |w| {
                        w.str(tag::TEST_REQ_ID, &id);
                    })?;
                }
                _ => return Ok(out),
            }
        }
    }

    fn logon(&mut self, password: Option<&str>) -> Result<Out> {
        self.send(MsgType::LOGON, |w| {
            w.uint(tag::ENCRYPT_METHOD, 0).uint(tag::HEART_BT_INT, 30);
            if let Some(p) = password {
                w.str(tag::PASSWORD, p);
            }
        })?;
        let out = self.recv_app()?;
        ensure!(out.msg_type() == "A", "expected Logon, got {out:?}");
        Ok(out)
    }

    fn new_order(
        &mut self,
        cl: &str,
        side: Side,
        px: &str,
        qty: u64,
        tif: TimeInForce,
    ) -> Result<()> {
        self.send(MsgType::NEW_ORDER_SINGLE, |w| {
            w.str(tag::CL_ORD_ID, cl)
                .str(tag::SYMBOL, "ACME")
                .byte(tag::SIDE, side.to_wire())
                .timestamp(tag::TRANSACT_TIME, clock::unix_now())
                .uint(tag::ORDER_QTY, qty)
                .byte(tag::ORD_TYPE, OrderType::Limit.to_wire())
                .str(tag::PRICE, px)
                .byte(tag::TIME_IN_FORCE, tif.to_wire());
        })
    }

    fn cancel(&mut self, cl: &str, orig: &str, side: Side) -> Result<()> {
        self.send(MsgType::ORDER_CANCEL_REQUEST, |w| {
            w.str(tag::ORIG_CL_ORD_ID, orig)
                .str(tag::CL_ORD_ID, cl)
                .str(tag::SYMBOL, "ACME")
                .byte(tag::SIDE, side.to_wire())
                .timestamp(tag::TRANSACT_TIME, clock::unix_now());
        })
    }

    fn replace(&mut self, cl: &str, orig: &str, side: Side, px: &str, qty: u64) -> Result<()> {
        self.send(MsgType::ORDER_CANCEL_REPLACE_REQUEST, |w| {
            w.str(tag::ORIG_CL_ORD_ID, orig)
                .str(tag::CL_ORD_ID, cl)
                .str(tag::SYMBOL, "ACME")
                .byte(tag::SIDE, side.to_wire())
                .timestamp(tag::TRANSACT_TIME, clock::unix_now())
                .uint(tag::ORDER_QTY, qty)
                .byte(tag::ORD_TYPE, OrderType::Limit.to_wire())
                .str(tag::PRICE, px)
                .byte(tag::TIME_IN_FORCE, TimeInForce::Day.to_wire());
        })
    }

    /// The next ExecutionReport with ExecType `exec_type` for `cl`.
    fn expect_er(&mut self, cl: &str, exec_type: &str) -> Result<Out> {
        let out = self.recv_app()?;
        ensure!(
            out.msg_type() == "8"
                && out.is(tag::CL_ORD_ID, cl)
                && out.is(tag::EXEC_TYPE, exec_type),
            "expected ExecutionReport 150={exec_type} for {cl}, got {out:?}"
        );
        Ok(out)
    }
}

fn key(account: u32, cl: &str) -> Result<OrderKey> {
    Ok(OrderKey {
        account: AccountId(account),
        cl_ord_id: ClientOrderId::new(cl)?,
    })
}

fn status(agent: &GatewayAgent, account: u32, cl: &str) -> Result<Option<OrdStatus>> {
    Ok(agent
        .core()
        .orders()
        .get(&key(account, cl)?)
        .map(|o| o.status()))
}

#[test]
fn fix_session_trades_cancels_replaces_and_is_refused_with_reasons() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gw = Running::start(&config(dir.path())?)?;
    let mut c1 = FixClient::connect(gw.fix, "C1", "GW")?;
    c1.logon(Some("pw1"))?;

    // Crosses the house offer of 100 @ 101.
    c1.new_order("B1", Side::Buy, "101", 5, TimeInForce::Day)?;
    let ack = c1.expect_er("B1", "0")?;
    ensure!(ack.is(tag::ORD_STATUS, "0"), "{ack:?}");
    let fill = c1.expect_er("B1", "F")?;
    ensure!(
        fill.is(tag::ORD_STATUS, "2") && fill.is(tag::LAST_QTY, "5"),
        "{fill:?}"
    );
    ensure!(
        fill.is(tag::LAST_PX, "101") && fill.is(tag::LEAVES_QTY, "0"),
        "{fill:?}"
    );
    ensure!(
        fill.get(tag::ORDER_ID) == ack.get(tag::ORDER_ID),
        "OrderID changed"
    );

    // Rests, is replaced, then canceled.
    c1.new_order("B2", Side::Buy, "98", 10, TimeInForce::Day)?;
    c1.expect_er("B2", "0")?;
    c1.replace("B2R", "B2", Side::Buy, "98.5", 12)?;
    let rep = c1.expect_er("B2R", "5")?;
    ensure!(
        rep.is(tag::ORIG_CL_ORD_ID, "B2")
            && rep.is(tag::ORDER_QTY, "12")
            && rep.is(tag::PRICE, "98.5"),
        "{rep:?}"
    );
    c1.cancel("X2", "B2R", Side::Buy)?;
    let can = c1.expect_er("X2", "4")?;
    ensure!(
        can.is(tag::ORIG_CL_ORD_ID, "B2R") && can.is(tag::ORD_STATUS, "4"),
        "{can:?}"
    );

    // Refusals: risk (quantity), duplicate ClOrdID, unknown order, too late.
    c1.new_order("BIG", Side::Buy, "100", 5000, TimeInForce::Day)?;
    let rej = c1.expect_er("BIG", "8")?;
    ensure!(rej.is(tag::ORD_REJ_REASON, "3"), "{rej:?}");
    ensure!(
        rej.get(tag::TEXT) == Some("order quantity 5000 above the limit of 1000"),
        "{rej:?}"
    );
    c1.new_order("B1", Side::Buy, "100", 1, TimeInForce::Day)?;
    let dup = c1.expect_er("B1", "8")?;
    ensure!(dup.is(tag::ORD_REJ_REASON, "6"), "{dup:?}");
    c1.cancel("X3", "NOPE", Side::Buy)?;
    let cxl = c1.recv_app()?;
    ensure!(
        cxl.msg_type() == "9" && cxl.is(tag::CXL_REJ_REASON, "1"),
        "{cxl:?}"
    );
    ensure!(cxl.get(tag::TEXT) == Some("unknown order NOPE"), "{cxl:?}");
    c1.cancel("X4", "B1", Side::Buy)?;
    let late = c1.recv_app()?;
    ensure!(
        late.msg_type() == "9" && late.is(tag::CXL_REJ_REASON, "0"),
        "{late:?}"
    );
    ensure!(late.is(tag::ORD_STATUS, "2"), "{late:?}");

    let agent = gw.stop()?;
    ensure!(status(&agent, 101, "B1")? == Some(OrdStatus::Filled));
    ensure!(status(&agent, 101, "B2")? == Some(OrdStatus::Replaced));
    ensure!(status(&agent, 101, "B2R")? == Some(OrdStatus::Canceled));
    ensure!(
        agent
            .core()
            .risk()
            .position(AccountId(101), InstrumentId(1))
            .net
            == 5
    );
    Ok(())
}

#[test]
fn a_trade_between_two_sessions_reaches_both_and_bad_logons_are_turned_away() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gw = Running::start(&config(dir.path())?)?;

    // Unknown CompID: closed without a word.
    let mut stranger = FixClient::connect(gw.fix, "NOBODY", "GW")?;
    stranger.send(MsgType::LOGON, |w| {
        w.uint(tag::ENCRYPT_METHOD, 0).uint(tag::HEART_BT_INT, 30);
    })?;
    stranger.expect_closed_silently()?;
    // Wrong password: a Logout with Text.
    let mut bad = FixClient::connect(gw.fix, "C1", "GW")?;
    bad.send(MsgType::LOGON, |w| {
        w.uint(tag::ENCRYPT_METHOD, 0)
            .uint(tag::HEART_BT_INT, 30)
            .str(tag::PASSWORD, "wrong");
    })?;
    let out = bad.recv_app()?;
    ensure!(out.msg_type() == "5", "{out:?}");
    ensure!(
        out.get(tag::TEXT) == Some("invalid username or password"),
        "{out:?}"
    );
    drop(bad);

    let mut c1 = FixClient::connect(gw.fix, "C1", "GW")?;
    // The refused Logon cost the session nothing: the Logout that answered it carried
    // MsgSeqNum 1 without consuming it, so the real Logon is answered with 1 too.
    c1.logon(Some("pw1"))?;
    let mut c2 = FixClient::connect(gw.fix, "C2", "GW")?;
    c2.logon(None)?;

    c1.new_order("S1", Side::Sell, "100", 10, TimeInForce::Day)?;
    c1.expect_er("S1", "0")?;
    c2.new_order("P1", Side::Buy, "100", 4, TimeInForce::Ioc)?;
    c2.expect_er("P1", "0")?;
    let taker = c2.expect_er("P1", "F")?;
    ensure!(
        taker.is(tag::LAST_PX, "100") && taker.is(tag::ACCOUNT, "102"),
        "{taker:?}"
    );
    let maker = c1.expect_er("S1", "F")?;
    ensure!(
        maker.is(tag::ORD_STATUS, "1")
            && maker.is(tag::LEAVES_QTY, "6")
            && maker.is(tag::CUM_QTY, "4"),
        "{maker:?}"
    );
    ensure!(maker.is(tag::ACCOUNT, "101"), "{maker:?}");
    Ok(())
}

#[test]
fn restart_recovers_orders_sequence_numbers_and_answers_a_resend() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = config(dir.path())?;
    let (next_out, next_in) = {
        let gw = Running::start(&config)?;
        let mut c1 = FixClient::connect(gw.fix, "C1", "GW")?;
        c1.logon(Some("pw1"))?;
        c1.new_order("R1", Side::Buy, "98", 10, TimeInForce::Day)?;
        c1.expect_er("R1", "0")?;
        c1.new_order("R2", Side::Buy, "101", 3, TimeInForce::Day)?;
        c1.expect_er("R2", "0")?;
        c1.expect_er("R2", "F")?;
        // Gone without a Logout, as after a crash of either side.
        let c1_seq = (c1.next_out, c1.next_in);
        ensure!(c1_seq == (4, 5), "{c1_seq:?}");
        drop(c1);
        let agent = gw.stop()?;
        ensure!(status(&agent, 101, "R1")? == Some(OrdStatus::New));
        (c1_seq.0, c1_seq.1)
    };
    let gw = Running::start(&config)?;
    let mut c1 = FixClient::connect(gw.fix, "C1", "GW")?;
    c1.next_out = next_out;
    c1.next_in = next_in;
    let logon = c1.logon(Some("pw1"))?;
    ensure!(logon.num(tag::MSG_SEQ_NUM)? == 5, "{logon:?}");
    // Everything from 1 again: ExecutionReports come back as PossDup, admin messages as
    // gap fills.
    c1.send(MsgType::RESEND_REQUEST, |w| {
        w.uint(tag::BEGIN_SEQ_NO, 1).uint(tag::END_SEQ_NO, 0);
    })?;
    let mut resent = Vec::new();
    let mut covered = 1;
    while covered < c1.next_in {
        let out = c1.recv()?;
        let seq = out.num(tag::MSG_SEQ_NUM)?;
        ensure!(seq == covered, "resend out of order: {out:?}");
        if out.msg_type() == "4" {
            ensure!(out.is(tag::GAP_FILL_FLAG, "Y"), "{out:?}");
            covered = out.num(tag::NEW_SEQ_NO)?;
        } else {
            ensure!(out.is(tag::POSS_DUP_FLAG, "Y"), "{out:?}");
            resent.push(out);
            covered += 1;
        }
    }
    ensure!(
        resent.len() == 3,
        "three ExecutionReports resent: {resent:?}"
    );
    // The recovered order rests at the restarted venue and cancels normally.
    c1.cancel("X1", "R1", Side::Buy)?;
    let can = c1.expect_er("X1", "4")?;
    ensure!(
        can.is(tag::ORD_STATUS, "4") && can.is(tag::CUM_QTY, "0"),
        "{can:?}"
    );
    c1.new_order("R2", Side::Buy, "98", 1, TimeInForce::Day)?;
    let dup = c1.expect_er("R2", "8")?;
    ensure!(dup.is(tag::ORD_REJ_REASON, "6"), "{dup:?}");
    let agent = gw.stop()?;
    ensure!(agent.recovery().open_orders == 1, "{:?}", agent.recovery());
    ensure!(status(&agent, 101, "R2")? == Some(OrdStatus::Filled));
    ensure!(
        agent
            .core()
            .risk()
            .position(AccountId(101), InstrumentId(1))
            .net
            == 3
    );
    Ok(())
}

#[test]
fn kill_switch_cancels_working_orders_and_refuses_new_ones() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gw = Running::start(&config(dir.path())?)?;
    let mut c2 = FixClient::connect(gw.fix, "C2", "GW")?;
    c2.logon(None)?;
    c2.new_order("K1", Side::Buy, "97", 10, TimeInForce::Day)?;
    c2.expect_er("K1", "0")?;
    gw.with_agent(|agent| {
        let t = now();
        let vt = VenueTime {
            wall: t.wall,
            mono: t.mono,
        };
        agent
            .core_mut()
            .engage_kill_switch(vt, KillScope::Account(AccountId(102)))
            .unwrap_or_else(|e| panic!("kill switch: {e}"));
    })?;
    let can = c2.expect_er("K1", "4")?;
    ensure!(
        can.get(tag::TEXT)
            == Some("canceled by the gateway (kill switch, mass cancel or cancel on disconnect)"),
        "{can:?}"
    );
    c2.new_order("K2", Side::Buy, "97", 10, TimeInForce::Day)?;
    let rej = c2.expect_er("K2", "8")?;
    ensure!(
        rej.get(tag::TEXT) == Some("kill switch engaged (account 102)"),
        "{rej:?}"
    );
    Ok(())
}

#[test]
fn risk_limits_reload_while_running() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = config(dir.path())?;
    let gw = Running::start(&config)?;
    let (tx, rx) = channel();
    gw.with_agent(move |agent| {
        let _ = tx.send(agent.limits_reload());
    })?;
    let reload = rx.recv_timeout(WAIT).context("no reload handle")?;
    let mut c2 = FixClient::connect(gw.fix, "C2", "GW")?;
    c2.logon(None)?;
    c2.new_order("R1", Side::Buy, "97", 500, TimeInForce::Day)?;
    c2.expect_er("R1", "0")?;
    // From another thread, as the CLI does on SIGHUP: a tighter maximum quantity.
    let mut tighter = config.risk_limits()?.clone();
    tighter.max_order_qty = tickwarp_wire::Qty(100);
    reload.request(tighter);
    c2.new_order("R2", Side::Buy, "97", 500, TimeInForce::Day)?;
    let rej = c2.expect_er("R2", "8")?;
    ensure!(
        rej.get(tag::TEXT) == Some("order quantity 500 above the limit of 100"),
        "{rej:?}"
    );
    c2.new_order("R3", Side::Buy, "97", 100, TimeInForce::Day)?;
    c2.expect_er("R3", "0")?;
    Ok(())
}

/// An RDMA order-entry client.
struct RdmaClient {
    channel: MessageChannel,
    _dev: Device,
    _pd: ProtectionDomain,
}

impl RdmaClient {
    fn connect(addr: SocketAddr) -> Result<RdmaClient> {
        let dev = Device::open(Backend::Soft)?;
        let pd = dev.alloc_pd();
        let credential = Credential {
            account: AccountId(201),
            token: RDMA_TOKEN,
        };
        let channel = MessageChannel::connect(
            &dev,
            &pd,
            addr,
            ChannelConfig::default(),
            &client_connect_params(&credential)?,
        )?;
        Ok(RdmaClient {
            channel,
            _dev: dev,
            _pd: pd,
        })
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let deadline = clock::monotonic_now().saturating_add(WAIT);
        loop {
            match self.channel.try_send(bytes) {
                Ok(()) => return Ok(()),
                Err(tickwarp_rdma::channel::ChannelError::WouldBlock)
                    if clock::monotonic_now() < deadline =>
                {
                    thread::yield_now();
                }
                Err(e) => bail!("send: {e}"),
            }
        }
    }

    fn recv(&mut self) -> Result<Vec<u8>> {
        let deadline = clock::monotonic_now().saturating_add(WAIT);
        let mut buf = [0u8; 256];
        loop {
            if let Some(len) = self.channel.try_recv(&mut buf)? {
                return Ok(buf[..len].to_vec());
            }
            ensure!(
                clock::monotonic_now() < deadline,
                "no execution within {WAIT:?}"
            );
            thread::sleep(Duration::from_micros(100));
        }
    }

    fn expect(&mut self, want: &str) -> Result<Vec<u8>> {
        let bytes = self.recv()?;
        let msg = tickwarp_wire::decode(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        let got = format!("{:?}", msg.msg_type());
        ensure!(got == want, "expected {want}, got {msg:?}");
        Ok(bytes)
    }
}

fn spec(account: u32, side: Side, px: i64, qty: u64) -> OrderSpec {
    OrderSpec {
        instrument: InstrumentId(1),
        account: AccountId(account),
        side,
        ord_type: OrderType::Limit,
        tif: TimeInForce::Day,
        price: Price::from_ticks(px * Price::SCALE),
        qty: Qty(qty),
    }
}

#[test]
fn rdma_client_trades_cancels_replaces_and_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gw = Running::start(&config(dir.path())?)?;
    let mut client = RdmaClient::connect(gw.rdma.context("RDMA entry is on")?)?;
    let id = |s: &str| ClientOrderId::new(s);

    let buy = NewOrder::new(id("Q1")?, &spec(201, Side::Buy, 101, 7), TickCause::NONE);
    client.send(buy.as_bytes())?;
    client.expect("OrderAccepted")?;
    let fill = client.expect("OrderFilled")?;
    let Ok(tickwarp_wire::Message::OrderFilled(f)) = tickwarp_wire::decode(&fill) else {
        bail!("not a fill");
    };
    ensure!(
        f.fill().last_qty == Qty(7) && f.fill().leaves_qty == Qty(0),
        "{f:?}"
    );

    let rest = NewOrder::new(id("Q2")?, &spec(201, Side::Sell, 105, 5), TickCause::NONE);
    client.send(rest.as_bytes())?;
    client.expect("OrderAccepted")?;
    let replace = ReplaceOrder::new(
        id("Q2R")?,
        id("Q2")?,
        &spec(201, Side::Sell, 104, 6),
        TickCause::NONE,
    );
    client.send(replace.as_bytes())?;
    client.expect("OrderReplaced")?;
    let cancel = CancelOrder::new(
        id("Q3")?,
        id("Q2R")?,
        InstrumentId(1),
        AccountId(201),
        Side::Sell,
        TickCause::NONE,
    );
    client.send(cancel.as_bytes())?;
    client.expect("OrderCanceled")?;

    let stranger = NewOrder::new(id("Q4")?, &spec(999, Side::Buy, 100, 1), TickCause::NONE);
    client.send(stranger.as_bytes())?;
    let rej = client.expect("OrderRejected")?;
    let Ok(tickwarp_wire::Message::OrderRejected(r)) = tickwarp_wire::decode(&rej) else {
        bail!("not a reject");
    };
    ensure!(r.reason() == RejectReason::UnknownAccount, "{r:?}");
    let big = NewOrder::new(id("Q5")?, &spec(201, Side::Buy, 100, 5000), TickCause::NONE);
    client.send(big.as_bytes())?;
    let rej = client.expect("OrderRejected")?;
    let Ok(tickwarp_wire::Message::OrderRejected(r)) = tickwarp_wire::decode(&rej) else {
        bail!("not a reject");
    };
    ensure!(r.reason() == RejectReason::MaxQtyExceeded, "{r:?}");

    let agent = gw.stop()?;
    ensure!(status(&agent, 201, "Q1")? == Some(OrdStatus::Filled));
    ensure!(status(&agent, 201, "Q2R")? == Some(OrdStatus::Canceled));
    let (origin, _) = agent
        .core()
        .origin_of(&key(201, "Q1")?)
        .context("Q1 has an origin")?;
    ensure!(matches!(origin, tickwarp_gateway::service::Origin::Rdma(_)));
    ensure!(
        agent.core().venue().resting_count() == 2,
        "house bid and offer"
    );
    Ok(())
}
