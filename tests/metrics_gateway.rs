//! Metrics end to end on the real binary: `tickwarp gateway` with `[metrics]` takes FIX
//! orders on loopback (some rest, some are rejected by risk, some fill, two resting ones
//! are canceled); then `GET /metrics` shows exactly those counts, its text passes
//! `promtool check metrics` (Debian `prometheus`; skipped with a line without it, a
//! failure under `CI=1`), `tickwarp stat --json --dir` shows the same numbers, and
//! `tickwarp stat --once --pid` finds the running process. After a SIGKILL, `stat`
//! says the writer is not running and still shows its last values.
//!
//! RDMA order entry and the transport: clients connect over soft iWARP, one with a
//! wrong token, one that sends an RDMA WRITE to an STag the gateway never registered;
//! `/metrics` shows the connections by result, the messages, the Terminate under its
//! RFC 5041 cause, and stream bytes equal to what the clients' ends counted.
//!
//! Every wait is bounded and fails with a message; nothing is timed.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_gateway::fix::MsgType;
use tickwarp_gateway::fix::codec::{Framing, Message, MessageWriter, scan_frame};
use tickwarp_gateway::fix::fields::tag;
use tickwarp_gateway::service::client_connect_params;
use tickwarp_gateway::service::rdma_auth::{Credential, hash_token};
use tickwarp_rdma::channel::{ChannelConfig, ChannelParams, ChannelSetupError, MessageChannel};
use tickwarp_rdma::stats::{TERMINATE_LABELS, terminate_index};
use tickwarp_rdma::verbs::{Backend, CmError, ConnectParams, Device, QpInit, RemoteAddr, SendWr};
use tickwarp_rdma::{QpState, TransportStats};
use tickwarp_runtime::clock;
use tickwarp_wire::{
    AccountId, ClientOrderId, InstrumentId, IntoBytes, NewOrder, OrderSpec, OrderType, Price, Qty,
    Side, TickCause, TimeInForce,
};

mod common;
use common::{GatewayProcess, promtool_check, sample, scrape};

/// Longest wait for any one thing.
const WAIT: Duration = Duration::from_secs(20);
/// Orders that rest (bids below the house offer).
const RESTING: usize = 12;
/// Orders risk rejects (above max_order_qty).
const REJECTED: usize = 5;
/// Orders that fill against the house offer.
const FILLED: usize = 3;
/// Resting orders then canceled.
const CANCELED: usize = 2;

fn write_config(dir: &Path) -> Result<PathBuf> {
    let text = format!(
        r#"
listen = "127.0.0.1:0"
[journal]
dir = "{dir}"
[risk]
max_order_qty = 100
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
[[sessions]]
id = 1
sender_comp_id = "GW"
target_comp_id = "C1"
allow_no_password = true
account = 101
[[venue.liquidity]]
symbol = "ACME"
side = "sell"
price = "101"
qty = 1000
[metrics]
listen = "127.0.0.1:0"
"#,
        dir = dir.join("journal").display()
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The start-up line of a gateway with `[metrics]` that names its counters file.
const COUNTERS_IN: &str = "counters in ";
/// The start-up line with the `/metrics` address.
const METRICS_LISTENING: &str = "metrics listening on ";

/// Starts the gateway on `config` and waits for its FIX, counters and metrics lines.
fn start(config: &Path) -> Result<GatewayProcess> {
    GatewayProcess::start(config, &[COUNTERS_IN, METRICS_LISTENING], WAIT)
}

/// A minimal FIX client that counts what it sends and receives.
struct Client {
    stream: TcpStream,
    rx: Vec<u8>,
    next_out: u64,
    sent: u64,
    received: u64,
}

impl Client {
    fn connect(addr: SocketAddr) -> Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, WAIT)?;
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        Ok(Client {
            stream,
            rx: Vec::new(),
            next_out: 1,
            sent: 0,
            received: 0,
        })
    }

    fn send(&mut self, msg_type: MsgType, body: impl FnOnce(&mut MessageWriter<'_>)) -> Result<()> {
        let mut buf = Vec::new();
        let mut w = MessageWriter::begin(&mut buf, msg_type);
        w.uint(tag::MSG_SEQ_NUM, self.next_out)
            .str(tag::SENDER_COMP_ID, "C1")
            .timestamp(tag::SENDING_TIME, clock::unix_now())
            .str(tag::TARGET_COMP_ID, "GW");
        body(&mut w);
        let _ = w.finish();
        self.stream.write_all(&buf)?;
        self.next_out += 1;
        self.sent += 1;
        Ok(())
    }

    /// The next message's fields, answering a TestRequest.
    fn recv(&mut self) -> Result<HashMap<u32, String>> {
        let deadline = clock::monotonic_now().saturating_add(WAIT);
        loop {
            match scan_frame(&self.rx, 1 << 16) {
                Framing::Complete(len) => {
                    let frame: Vec<u8> = self.rx.drain(..len).collect();
                    let msg = Message::decode(&frame)
                        .map_err(|e| anyhow::anyhow!("undecodable frame: {e:?}"))?;
                    self.received += 1;
                    let fields: HashMap<u32, String> = msg
                        .fields()
                        .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
                        .collect();
                    if fields.get(&tag::MSG_TYPE).map(String::as_str) == Some("1") {
                        let id = fields.get(&tag::TEST_REQ_ID).cloned().unwrap_or_default();
                        self.send(MsgType::HEARTBEAT, |w| {
                            w.str(tag::TEST_REQ_ID, &id);
                        })?;
                    }
                    return Ok(fields);
                }
                Framing::Garbled { reason, .. } => bail!("garbled frame: {reason}"),
                Framing::Incomplete => {}
            }
            ensure!(
                clock::monotonic_now() < deadline,
                "nothing from the gateway within {WAIT:?}"
            );
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => bail!("connection closed"),
                Ok(n) => self
                    .rx
                    .extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits for `n` ExecutionReports (skipping heartbeats); returns their ExecTypes.
    fn reports(&mut self, n: usize) -> Result<Vec<String>> {
        let mut out = Vec::new();
        while out.len() < n {
            let m = self.recv()?;
            if m.get(&tag::MSG_TYPE).map(String::as_str) == Some("8") {
                out.push(m.get(&tag::EXEC_TYPE).cloned().unwrap_or_default());
            }
        }
        Ok(out)
    }

    fn order(&mut self, cl: &str, px: &str, qty: u64) -> Result<()> {
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
}

/// `tickwarp stat ARGS`: stdout, which must succeed.
fn stat(args: &[&str]) -> Result<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .arg("stat")
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    ensure!(
        out.status.success(),
        "tickwarp stat {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// A metric's value in `tickwarp stat --json` output (histograms by count).
fn json_value(json: &serde_json::Value, name: &str, labels: &[(&str, &str)]) -> Result<u64> {
    let metrics = json["metrics"].as_array().context("metrics array")?;
    let m = metrics
        .iter()
        .find(|m| {
            m["name"] == name
                && labels.iter().all(|(k, v)| m["labels"][*k] == *v)
                && m["labels"].as_object().map_or(0, |o| o.len()) == labels.len()
        })
        .with_context(|| format!("no {name} {labels:?} in stat --json"))?;
    m.get("value")
        .or_else(|| m.get("count"))
        .and_then(serde_json::Value::as_u64)
        .with_context(|| format!("{name}: no value"))
}

#[test]
fn counts_match_the_orders_sent_over_metrics_stat_and_promtool() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gw = start(&write_config(dir.path())?)?;
    let counters = PathBuf::from(gw.line(COUNTERS_IN)?);
    ensure!(
        counters == dir.path().join("journal/metrics/tickwarp.counters"),
        "counters file at {} (expected the default <journal.dir>/metrics)",
        counters.display()
    );
    let metrics: SocketAddr = gw.line(METRICS_LISTENING)?.parse()?;
    let mut c = Client::connect(gw.fix_addr()?)?;
    c.send(MsgType::LOGON, |w| {
        w.uint(tag::ENCRYPT_METHOD, 0).uint(tag::HEART_BT_INT, 30);
    })?;
    let logon = c.recv()?;
    ensure!(
        logon.get(&tag::MSG_TYPE).map(String::as_str) == Some("A"),
        "{logon:?}"
    );

    for i in 0..RESTING {
        c.order(&format!("R{i}"), "99", 10)?;
    }
    for i in 0..REJECTED {
        c.order(&format!("X{i}"), "99", 500)?;
    }
    for i in 0..FILLED {
        c.order(&format!("F{i}"), "101", 10)?;
    }
    let types = c.reports(RESTING + REJECTED + 2 * FILLED)?;
    let count = |t: &str| types.iter().filter(|x| *x == t).count();
    ensure!(count("0") == RESTING + FILLED, "ExecTypes {types:?}");
    ensure!(count("8") == REJECTED, "ExecTypes {types:?}");
    ensure!(count("F") == FILLED, "ExecTypes {types:?}");
    for i in 0..CANCELED {
        c.send(MsgType::ORDER_CANCEL_REQUEST, |w| {
            w.str(tag::ORIG_CL_ORD_ID, &format!("R{i}"))
                .str(tag::CL_ORD_ID, &format!("K{i}"))
                .str(tag::SYMBOL, "ACME")
                .byte(tag::SIDE, b'1')
                .timestamp(tag::TRANSACT_TIME, clock::unix_now());
        })?;
    }
    let types = c.reports(CANCELED)?;
    ensure!(types.iter().all(|t| t == "4"), "cancel ExecTypes {types:?}");

    // Every report the client got was counted before it left; the FIX message counts
    // and the gauge are taken at the end of the cycle that wrote them, so scrape until
    // they catch up (bounded).
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(metrics, WAIT)?;
        let out = sample(&text, "tickwarp_fix_messages_total{direction=\"out\"}")?;
        if out >= c.received as f64 {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let accepted = (RESTING + FILLED) as f64;
    let orders = "tickwarp_gateway_orders_total";
    ensure!(sample(&text, &format!("{orders}{{result=\"accepted\"}}"))? == accepted);
    ensure!(
        sample(
            &text,
            &format!("{orders}{{result=\"rejected_max_qty_exceeded\"}}")
        )? == REJECTED as f64
    );
    ensure!(
        sample(
            &text,
            &format!("{orders}{{result=\"rejected_kill_switch\"}}")
        )? == 0.0
    );
    ensure!(sample(&text, "tickwarp_gateway_executions_total")? == FILLED as f64);
    ensure!(sample(&text, "tickwarp_gateway_cancels_total")? == CANCELED as f64);
    ensure!(sample(&text, "tickwarp_fix_sessions_logged_on")? == 1.0);
    ensure!(
        sample(&text, "tickwarp_fix_messages_total{direction=\"in\"}")? == c.sent as f64,
        "in: the client sent {}\n{text}",
        c.sent
    );
    ensure!(
        sample(&text, "tickwarp_fix_messages_total{direction=\"out\"}")? == c.received as f64,
        "out: the client received {}\n{text}",
        c.received
    );
    ensure!(sample(&text, "tickwarp_fix_resends_total")? == 0.0);
    let new_orders = (RESTING + REJECTED + FILLED) as f64;
    ensure!(sample(&text, "tickwarp_order_ack_latency_seconds_count")? == new_orders);
    ensure!(
        sample(
            &text,
            "tickwarp_order_ack_latency_seconds_bucket{le=\"+Inf\"}"
        )? == new_orders
    );
    ensure!(sample(&text, "tickwarp_journal_syncs_total")? > 0.0);
    ensure!(sample(&text, "tickwarp_journal_sync_seconds_count")? > 0.0);
    ensure!(sample(&text, "tickwarp_gateway_duty_cycles_total")? > 0.0);
    ensure!(text.contains("# TYPE tickwarp_order_ack_latency_seconds histogram"));
    promtool_check(&text)?;

    let dir_arg = dir.path().join("journal/metrics");
    let json: serde_json::Value =
        serde_json::from_str(&stat(&["--json", "--dir", &dir_arg.display().to_string()])?)?;
    ensure!(json["running"] == true, "{json}");
    ensure!(json["pid"] == gw.child.id(), "{json}");
    ensure!(json_value(&json, orders, &[("result", "accepted")])? == accepted as u64);
    ensure!(
        json_value(&json, orders, &[("result", "rejected_max_qty_exceeded")])? == REJECTED as u64
    );
    ensure!(json_value(&json, "tickwarp_gateway_executions_total", &[])? == FILLED as u64);
    ensure!(json_value(&json, "tickwarp_gateway_cancels_total", &[])? == CANCELED as u64);
    ensure!(json_value(&json, "tickwarp_fix_sessions_logged_on", &[])? == 1);
    ensure!(json_value(&json, "tickwarp_order_ack_latency_seconds", &[])? == new_orders as u64);

    let table = stat(&["--once", "--pid", &gw.child.id().to_string()])?;
    ensure!(table.contains(": running;"), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with(orders) && l.contains("result=accepted"))
        .with_context(|| format!("no accepted row in\n{table}"))?;
    ensure!(
        row.split_whitespace().nth(2) == Some(&*(accepted as u64).to_string()),
        "{row}"
    );

    // Killed: the file stays, with its last values, and says so.
    gw.kill9()?;
    let json: serde_json::Value =
        serde_json::from_str(&stat(&["--json", "--dir", &dir_arg.display().to_string()])?)?;
    ensure!(json["running"] == false, "{json}");
    ensure!(json["closed"] == false, "killed, not closed: {json}");
    ensure!(json_value(&json, orders, &[("result", "accepted")])? == accepted as u64);
    let table = stat(&["--once", "--dir", &dir_arg.display().to_string()])?;
    ensure!(table.contains("not running, last values"), "{table}");

    // A restart takes the dead process's file over; its counters start from zero.
    let again = start(&dir.path().join("gateway.toml"))?;
    let json: serde_json::Value =
        serde_json::from_str(&stat(&["--json", "--dir", &dir_arg.display().to_string()])?)?;
    ensure!(
        json["running"] == true && json["pid"] == again.child.id(),
        "{json}"
    );
    ensure!(json_value(&json, orders, &[("result", "accepted")])? == 0);
    Ok(())
}

/// The token of RDMA account 201.
const TOKEN: &[u8] = b"token-of-201";
/// RDMA order-entry clients that trade.
const RDMA_CLIENTS: usize = 2;
/// The start-up line with the RDMA order-entry address.
const RDMA_LISTENING: &str = "RDMA listening on ";

/// A gateway with FIX off to the side, RDMA order entry on (soft iWARP) and metrics.
fn write_rdma_config(dir: &Path) -> Result<PathBuf> {
    let text = format!(
        r#"
listen = "127.0.0.1:0"
[journal]
dir = "{dir}"
fsync = "never"
[risk]
max_order_qty = 1000
max_notional = "1000000"
collar_bps = 0
credit_limit = "10000000"
max_position = 100000
max_orders_per_day = 1000
[[instruments]]
symbol = "ACME"
id = 1
[rdma]
listen = "127.0.0.1:0"
accounts = [201]
backend = "soft"
[[rdma.tokens]]
account = 201
token_hash = "{hash}"
[metrics]
listen = "127.0.0.1:0"
"#,
        dir = dir.join("journal").display(),
        hash = hash_token(TOKEN)?,
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Connects an order-entry channel as account 201 with `token` (the outer error: no
/// credential could be made).
fn rdma_connect(
    dev: &Device,
    pd: &tickwarp_rdma::ProtectionDomain,
    addr: SocketAddr,
    token: &[u8],
) -> Result<Result<MessageChannel, ChannelSetupError>> {
    let credential = Credential {
        account: AccountId(201),
        token,
    };
    let params = client_connect_params(&credential)?;
    Ok(MessageChannel::connect(
        dev,
        pd,
        addr,
        ChannelConfig::default(),
        &params,
    ))
}

/// Sends `order` on `ch` and returns the type of the record that answers it.
fn rdma_round_trip(ch: &mut MessageChannel, order: &NewOrder) -> Result<String> {
    let deadline = clock::monotonic_now().saturating_add(WAIT);
    loop {
        match ch.try_send(order.as_bytes()) {
            Ok(()) => break,
            Err(tickwarp_rdma::channel::ChannelError::WouldBlock)
                if clock::monotonic_now() < deadline =>
            {
                thread::yield_now();
            }
            Err(e) => bail!("send: {e}"),
        }
    }
    let mut buf = [0u8; 256];
    loop {
        if let Some(n) = ch.try_recv(&mut buf)? {
            let msg = tickwarp_wire::decode(&buf[..n]).map_err(|e| anyhow::anyhow!("{e}"))?;
            return Ok(format!("{:?}", msg.msg_type()));
        }
        ensure!(
            clock::monotonic_now() < deadline,
            "no answer within {WAIT:?}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn rdma_entry_and_transport_counts_match_what_the_clients_did() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gw = GatewayProcess::start(
        &write_rdma_config(dir.path())?,
        &[COUNTERS_IN, METRICS_LISTENING, RDMA_LISTENING],
        WAIT,
    )?;
    let metrics: SocketAddr = gw.line(METRICS_LISTENING)?.parse()?;
    let rdma: SocketAddr = gw.line(RDMA_LISTENING)?.parse()?;
    let dev = Device::open(Backend::Soft)?;
    let pd = dev.alloc_pd();

    // Two clients each enter one order that rests.
    let mut clients = Vec::new();
    for i in 0..RDMA_CLIENTS {
        let mut ch = rdma_connect(&dev, &pd, rdma, TOKEN)??;
        let spec = OrderSpec {
            instrument: InstrumentId(1),
            account: AccountId(201),
            side: Side::Buy,
            ord_type: OrderType::Limit,
            tif: TimeInForce::Day,
            price: Price::from_ticks(100 * Price::SCALE),
            qty: Qty(1),
        };
        let order = NewOrder::new(
            ClientOrderId::new(&format!("B{i}"))?,
            &spec,
            TickCause::NONE,
        );
        let answer = rdma_round_trip(&mut ch, &order)?;
        ensure!(answer == "OrderAccepted", "client {i}: {answer}");
        clients.push(ch);
    }
    // A hostile peer, authenticated, writes to an STag the gateway never registered:
    // RFC 5041 §7.2 tagged buffer error, Invalid STag, and the stream closes.
    let cq = dev.create_cq(16)?;
    let init = QpInit::new(&cq, &cq);
    let mut private_data = ChannelParams {
        slots: 64,
        slot_size: 256,
    }
    .to_bytes()
    .to_vec();
    private_data.extend_from_slice(
        &Credential {
            account: AccountId(201),
            token: TOKEN,
        }
        .to_bytes()?,
    );
    let params = ConnectParams {
        private_data,
        p2p: true,
        timeout: WAIT,
        ..ConnectParams::default()
    };
    let (hostile, _) = pd.connect(rdma, &init, &params)?;
    let remote = RemoteAddr {
        stag: 0x7a7a_7a00,
        offset: 0,
    };
    hostile.post_send(&SendWr::rdma_write_inline(1, b"hostile", remote))?;
    let invalid_stag = terminate_index(1, 1, 0x00);
    let deadline = clock::monotonic_now().saturating_add(WAIT);
    loop {
        hostile.progress();
        let got = hostile.transport_stats().context("soft stats")?;
        if got.terminates_received.get(invalid_stag) == 1 {
            break;
        }
        ensure!(
            clock::monotonic_now() < deadline,
            "no Terminate for the hostile write: {got:?}, QP {:?}",
            hostile.state()
        );
        thread::sleep(Duration::from_millis(1));
    }
    ensure!(hostile.state() == QpState::Error);

    // A wrong token: an MPA Reject (last: it locks the address out for a while).
    match rdma_connect(&dev, &pd, rdma, b"not-the-token")? {
        Err(ChannelSetupError::Cm(CmError::Rejected { .. })) => {}
        Err(e) => bail!("wrong token: expected an MPA Reject, got {e}"),
        Ok(_) => bail!("wrong token: connected"),
    }
    // The metrics catch up at the end of the duty cycle that saw the refusal; then
    // bytes agree with what the clients' ends counted.
    let series = |dir: &str, l: &tickwarp_rdma::stats::TerminateLabel| {
        format!(
            "tickwarp_transport_terminates_total{{direction=\"{dir}\",layer=\"{}\",code=\"{}\"}}",
            l.layer, l.code
        )
    };
    let accepted = "tickwarp_rdma_entry_connections_total{result=\"accepted\"}";
    let closed_peer = "tickwarp_rdma_entry_closes_total{reason=\"peer\"}";
    let mut text = String::new();
    let mut ends = TransportStats::default();
    let mut agreed = false;
    for _ in 0..200 {
        ends = TransportStats::default();
        for ch in &mut clients {
            ch.progress()?;
            ends.add(&ch.transport_stats().context("soft stats")?);
        }
        hostile.progress();
        ends.add(&hostile.transport_stats().context("soft stats")?);
        text = scrape(metrics, WAIT)?;
        let sent = sample(&text, "tickwarp_transport_bytes_total{direction=\"sent\"}")?;
        let received = sample(
            &text,
            "tickwarp_transport_bytes_total{direction=\"received\"}",
        )?;
        if sample(&text, accepted)? == 3.0
            && sample(&text, closed_peer)? == 1.0
            && sent == ends.bytes_received as f64
            && received == ends.bytes_sent as f64
        {
            agreed = true;
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    ensure!(
        agreed,
        "the gateway's counts never matched the clients' ends {ends:?}:\n{text}"
    );
    ensure!(ends.bytes_sent > 0 && ends.bytes_received > 0, "{ends:?}");
    let conn = "tickwarp_rdma_entry_connections_total";
    ensure!(sample(&text, &format!("{conn}{{result=\"rejected_auth\"}}"))? == 1.0);
    ensure!(sample(&text, &format!("{conn}{{result=\"rejected_locked_out\"}}"))? == 0.0);
    ensure!(sample(&text, &format!("{conn}{{result=\"rejected_capacity\"}}"))? == 0.0);
    ensure!(sample(&text, "tickwarp_rdma_entry_connections")? == RDMA_CLIENTS as f64);
    let msgs = "tickwarp_rdma_entry_messages_total";
    ensure!(sample(&text, &format!("{msgs}{{direction=\"in\"}}"))? == RDMA_CLIENTS as f64);
    ensure!(sample(&text, &format!("{msgs}{{direction=\"out\"}}"))? == RDMA_CLIENTS as f64);
    ensure!(sample(&text, "tickwarp_rdma_entry_account_mismatches_total")? == 0.0);
    ensure!(sample(&text, "tickwarp_transport_connections")? == RDMA_CLIENTS as f64);
    ensure!(sample(&text, "tickwarp_transport_connections_opened_total")? == 3.0);
    ensure!(sample(&text, "tickwarp_transport_connections_closed_total")? == 1.0);
    ensure!(sample(&text, "tickwarp_transport_credit_stalls_total")? == 0.0);
    // Exactly one Terminate, sent, under its cause; every cause has a series.
    for (i, l) in TERMINATE_LABELS.iter().enumerate() {
        let sent = sample(&text, &series("sent", l))?;
        let want = if i == invalid_stag { 1.0 } else { 0.0 };
        ensure!(sent == want, "{} = {sent}", series("sent", l));
        ensure!(sample(&text, &series("received", l))? == 0.0);
    }
    ensure!(
        sample(&text, "tickwarp_gateway_orders_total{result=\"accepted\"}")? == RDMA_CLIENTS as f64
    );
    promtool_check(&text)?;
    drop(clients);
    drop(hostile);
    gw.terminate(WAIT)?;
    Ok(())
}

/// The families the gateway (gateway/src/service/metrics.rs) and the demo/run nodes
/// (src/demo/metrics.rs) register that the dashboard shows, by the names queries use
/// (histograms with their `_bucket` series).
const FAMILIES: [&str; 26] = [
    "tickwarp_gateway_orders_total",
    "tickwarp_gateway_cancels_total",
    "tickwarp_gateway_executions_total",
    "tickwarp_fix_sessions_logged_on",
    "tickwarp_fix_messages_total",
    "tickwarp_fix_resends_total",
    "tickwarp_journal_syncs_total",
    "tickwarp_journal_sync_seconds_bucket",
    "tickwarp_order_ack_latency_seconds_bucket",
    "tickwarp_gateway_duty_cycles_total",
    "tickwarp_gateway_work_total",
    "tickwarp_gateway_cycle_seconds_bucket",
    "tickwarp_rdma_entry_connections",
    "tickwarp_rdma_entry_connections_total",
    "tickwarp_rdma_entry_closes_total",
    "tickwarp_rdma_entry_messages_total",
    "tickwarp_rdma_entry_account_mismatches_total",
    "tickwarp_rdma_entry_outbox",
    "tickwarp_transport_connections",
    "tickwarp_transport_connections_opened_total",
    "tickwarp_transport_connections_closed_total",
    "tickwarp_transport_bytes_total",
    "tickwarp_transport_terminates_total",
    "tickwarp_transport_credit_stalls_total",
    "tickwarp_feed_gaps_total",
    "tickwarp_feed_resyncs_total",
];

/// deploy/grafana-tickwarp.json: valid JSON whose every query parses as PromQL
/// (`promtool check rules` on them as recording rules, Grafana's variables replaced)
/// and names only families tickwarp exports.
#[test]
fn grafana_dashboard_queries_are_valid_promql() -> Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana-tickwarp.json");
    let dash: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let mut exprs = Vec::new();
    for panel in dash["panels"].as_array().context("panels")? {
        for target in panel["targets"].as_array().context("targets")? {
            exprs.push(target["expr"].as_str().context("expr")?.to_owned());
        }
    }
    ensure!(exprs.len() >= 8, "{} queries", exprs.len());
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        let names: Vec<&str> = e
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("tickwarp_"))
            .collect();
        ensure!(!names.is_empty(), "query names no tickwarp family: {e}");
        for n in names {
            ensure!(
                FAMILIES.contains(&n),
                "query uses {n}, which tickwarp does not export"
            );
        }
        let e = e.replace("$__rate_interval", "1m").replace("$job", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:q{i}\n        expr: '{}'\n",
            e.replace('\'', "''")
        ));
    }
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), rules)?;
    let out = match Command::new("promtool")
        .args(["check", "rules"])
        .arg(file.path())
        .output()
    {
        Ok(out) => out,
        Err(_) if std::env::var_os("CI").is_some() => {
            bail!("promtool is required under CI (apt-get install prometheus)")
        }
        Err(_) => {
            eprintln!("skipped: promtool not installed (apt-get install prometheus)");
            return Ok(());
        }
    };
    ensure!(
        out.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
