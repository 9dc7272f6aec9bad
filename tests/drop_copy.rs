//! The drop copy of `tickwarp gateway` against real databases, end to end over FIX:
//!
//! - SQLite: two accounts cross orders; the gateway is SIGKILLed with orders in flight,
//!   restarted on the same journal, and trades more; after a clean stop the `executions`
//!   table holds exactly the order journal's executions, once each, which are every
//!   execution the clients saw plus only executions of the orders in flight at the kill.
//! - PostgreSQL (a cluster the test starts with `initdb`/`pg_ctl`, as the `postgres`
//!   user when run as root): the database is stopped mid-run (`pg_ctl stop -m fast`),
//!   the gateway keeps acknowledging and filling orders, the database comes back, and the
//!   copy catches up to exactly one row per execution.
//!
//! Without PostgreSQL the second test is skipped with a message, except under CI (`CI`
//! set), where it fails. Every wait is bounded and polls; nothing is timed.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_gateway::fix::MsgType;
use tickwarp_gateway::fix::codec::{Framing, Message, MessageWriter, scan_frame};
use tickwarp_gateway::fix::fields::tag;
use tickwarp_gateway::service::recovery::RECORD_EXECUTION;
use tickwarp_runtime::clock;
use tickwarp_wire::SeqNo;
use tickwarp_wire::journal::JournalReader;

mod common;
use common::GatewayProcess;

/// Longest wait for any one thing.
const WAIT: Duration = Duration::from_secs(30);
/// The PostgreSQL binaries (Debian's `postgresql` package).
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn write_config(dir: &Path, drop_copy: &str) -> Result<PathBuf> {
    let mut text = format!(
        r#"
listen = "127.0.0.1:0"
[journal]
dir = "{}"
fsync = {{ batched = {{ max_records = 64, max_delay_us = 200 }} }}
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
[[instruments]]
symbol = "BETA"
id = 2
[drop_copy]
{drop_copy}
"#,
        dir.join("journal").display()
    );
    // Sessions 1, 2 trade before the kill (accounts 1001 and 1002); 3, 4 after it.
    for s in 1..=4u32 {
        text.push_str(&format!(
            "[[sessions]]\nid = {s}\nsender_comp_id = \"GW\"\ntarget_comp_id = \"C{s}\"\naccount = {}\nallow_no_password = true\n",
            1000 + 2 - s % 2
        ));
    }
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// A FIX client that logs on and counts the ExecIDs it receives.
struct Client {
    stream: TcpStream,
    target: String,
    rx: Vec<u8>,
    next_out: u64,
    /// ExecIDs (tag 17) of the ExecutionReports received.
    seen: BTreeSet<u64>,
}

impl Client {
    fn logon(addr: SocketAddr, session: u32) -> Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, WAIT)?;
        stream.set_read_timeout(Some(Duration::from_millis(50)))?;
        stream.set_nodelay(true)?;
        let mut c = Client {
            stream,
            target: format!("C{session}"),
            rx: Vec::new(),
            next_out: 1,
            seen: BTreeSet::new(),
        };
        c.send(MsgType::LOGON, |w| {
            w.uint(tag::ENCRYPT_METHOD, 0).uint(tag::HEART_BT_INT, 30);
        })?;
        let (msg_type, _) = c.recv()?;
        ensure!(
            msg_type == "A",
            "{}: expected Logon, got {msg_type}",
            c.target
        );
        Ok(c)
    }

    fn send(&mut self, msg_type: MsgType, body: impl FnOnce(&mut MessageWriter<'_>)) -> Result<()> {
        let mut buf = Vec::new();
        let mut w = MessageWriter::begin(&mut buf, msg_type);
        w.uint(tag::MSG_SEQ_NUM, self.next_out)
            .str(tag::SENDER_COMP_ID, &self.target)
            .timestamp(tag::SENDING_TIME, clock::unix_now())
            .str(tag::TARGET_COMP_ID, "GW");
        body(&mut w);
        let _ = w.finish();
        self.next_out += 1;
        self.stream.write_all(&buf)?;
        Ok(())
    }

    fn order(&mut self, symbol: &str, cl: &str, side: u8) -> Result<()> {
        self.send(MsgType::NEW_ORDER_SINGLE, |w| {
            w.str(tag::CL_ORD_ID, cl)
                .str(tag::SYMBOL, symbol)
                .byte(tag::SIDE, side)
                .timestamp(tag::TRANSACT_TIME, clock::unix_now())
                .uint(tag::ORDER_QTY, 5)
                .byte(tag::ORD_TYPE, b'2')
                .str(tag::PRICE, "100")
                .byte(tag::TIME_IN_FORCE, b'0');
        })
    }

    /// The next message (MsgType, ExecType), answering TestRequests; records ExecIDs.
    fn recv(&mut self) -> Result<(String, String)> {
        let deadline = clock::monotonic_now().saturating_add(WAIT);
        loop {
            if let Framing::Complete(len) = scan_frame(&self.rx, 1 << 16) {
                let frame: Vec<u8> = self.rx.drain(..len).collect();
                let msg = Message::decode(&frame)
                    .map_err(|e| anyhow::anyhow!("undecodable frame: {e:?}"))?;
                let get = |t| msg.get(t).map(|v| String::from_utf8_lossy(v).into_owned());
                let msg_type = get(tag::MSG_TYPE).unwrap_or_default();
                if msg_type == "1" {
                    let id = get(tag::TEST_REQ_ID).unwrap_or_default();
                    self.send(MsgType::HEARTBEAT, |w| {
                        w.str(tag::TEST_REQ_ID, &id);
                    })?;
                }
                if msg_type == "8" {
                    let exec_id = get(tag::EXEC_ID).unwrap_or_default();
                    let id: u64 = exec_id
                        .parse()
                        .with_context(|| format!("ExecID {exec_id:?} is not a journal seq"))?;
                    ensure!(self.seen.insert(id), "ExecID {id} received twice");
                }
                return Ok((msg_type, get(tag::EXEC_TYPE).unwrap_or_default()));
            }
            if let Framing::Garbled { reason, .. } = scan_frame(&self.rx, 1 << 16) {
                bail!("garbled frame: {reason}");
            }
            ensure!(
                clock::monotonic_now() < deadline,
                "{}: nothing from the gateway within {WAIT:?}",
                self.target
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

    /// Waits for ExecutionReports until `want` of ExecType `exec_type` arrived.
    fn expect(&mut self, exec_type: &str, want: usize) -> Result<()> {
        let mut got = 0;
        while got < want {
            let (mt, et) = self.recv()?;
            if mt == "8" {
                ensure!(
                    et == "0" || et == "F",
                    "{}: unexpected ExecType {et}",
                    self.target
                );
                if et == exec_type {
                    got += 1;
                }
            }
        }
        Ok(())
    }

    /// Reads what still arrives until the connection closes (the gateway was killed).
    fn drain(&mut self) {
        while self.recv().is_ok() {}
    }
}

/// A buy and a sell of 5 @ 100 in `symbol` that cross: four ExecutionReports (two acks,
/// two fills).
fn cross(a: &mut Client, b: &mut Client, symbol: &str, tag_: &str) -> Result<()> {
    a.order(symbol, &format!("{tag_}A"), b'1')?;
    a.expect("0", 1)?;
    b.order(symbol, &format!("{tag_}B"), b'2')?;
    b.expect("0", 1)?;
    b.expect("F", 1)?;
    a.expect("F", 1)?;
    Ok(())
}

/// The ExecIDs (journal seqs) of every execution record in the order journal.
fn journal_executions(dir: &Path) -> Result<BTreeSet<u64>> {
    let mut reader = JournalReader::open(dir.join("journal").join("orders"), SeqNo(1))?;
    let mut out = BTreeSet::new();
    while let Some(r) = reader.next()? {
        if r.record_type == RECORD_EXECUTION {
            out.insert(r.seq.get());
        }
    }
    Ok(out)
}

/// Polls `f` until it returns true, failing with `what` after [`WAIT`].
fn poll(what: &str, mut f: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = clock::monotonic_now().saturating_add(WAIT);
    loop {
        if f()? {
            return Ok(());
        }
        ensure!(clock::monotonic_now() < deadline, "{what} within {WAIT:?}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// Checks the copied ExecIDs: exactly the journal's, covering everything seen.
fn check_copy(copied: &BTreeSet<u64>, journal: &BTreeSet<u64>, seen: &BTreeSet<u64>) -> Result<()> {
    ensure!(
        copied == journal,
        "the database holds {} executions, the journal {}; missing {:?}, extra {:?}",
        copied.len(),
        journal.len(),
        journal.difference(copied).take(10).collect::<Vec<_>>(),
        copied.difference(journal).take(10).collect::<Vec<_>>()
    );
    let unseen: Vec<_> = seen.difference(copied).collect();
    ensure!(
        unseen.is_empty(),
        "executions clients saw but not copied: {unseen:?}"
    );
    Ok(())
}

#[test]
fn sqlite_copy_survives_kill_9_exactly_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db_path = dir.path().join("dropcopy.sqlite");
    let config = write_config(
        dir.path(),
        &format!("sqlite = {:?}", db_path.display().to_string()),
    )?;
    let gw = GatewayProcess::start(&config, &[], WAIT)?;
    let (mut a, mut b) = (
        Client::logon(gw.fix_addr()?, 1)?,
        Client::logon(gw.fix_addr()?, 2)?,
    );
    for i in 0..40 {
        cross(&mut a, &mut b, "ACME", &format!("P{i}"))?;
    }
    // Orders in flight, then SIGKILL: these may or may not reach the journal.
    for i in 0..5 {
        a.order("ACME", &format!("F{i}A"), b'1')?;
        b.order("ACME", &format!("F{i}B"), b'2')?;
    }
    gw.kill9()?;
    a.drain();
    b.drain();
    let mut seen: BTreeSet<u64> = a.seen.union(&b.seen).copied().collect();
    ensure!(
        seen.len() >= 160,
        "expected the 40 rounds' reports, saw {}",
        seen.len()
    );

    let gw = GatewayProcess::start(&config, &[], WAIT)?;
    let (mut a, mut b) = (
        Client::logon(gw.fix_addr()?, 3)?,
        Client::logon(gw.fix_addr()?, 4)?,
    );
    for i in 0..20 {
        cross(&mut a, &mut b, "BETA", &format!("Q{i}"))?;
    }
    seen.extend(a.seen.iter().chain(&b.seen));
    gw.terminate(WAIT)?;

    let db = rusqlite::Connection::open(&db_path)?;
    let copied: BTreeSet<u64> = db
        .prepare("SELECT exec_id FROM executions")?
        .query_map([], |r| r.get::<_, i64>(0))?
        .map(|r| r.map(|v| v as u64))
        .collect::<rusqlite::Result<_>>()?;
    let rows: i64 = db.query_row("SELECT count(*) FROM executions", [], |r| r.get(0))?;
    ensure!(
        rows as usize == copied.len(),
        "{rows} rows, {} distinct",
        copied.len()
    );
    check_copy(&copied, &journal_executions(dir.path())?, &seen)?;
    // What clients did not see is only the in-flight orders' executions.
    let mut stmt = db.prepare("SELECT exec_id, cl_ord_id FROM executions")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
        let (id, cl) = row?;
        ensure!(
            seen.contains(&(id as u64)) || cl.starts_with('F'),
            "execution {id} ({cl}) was copied but no client saw it"
        );
    }
    let position: i64 = db.query_row("SELECT journal_seq FROM drop_copy_position", [], |r| {
        r.get(0)
    })?;
    ensure!(position > 0, "no position stored");
    Ok(())
}

/// A PostgreSQL cluster in a temporary directory, stopped on drop.
struct Cluster {
    data: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    fn pg(&self, tool: &str) -> Command {
        let path = format!("{PG_BIN}/{tool}");
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", &path]);
            c
        } else {
            Command::new(path)
        }
    }

    fn init(root: &Path) -> Result<Cluster> {
        let as_postgres = Command::new("id").arg("-u").output()?.stdout == b"0\n";
        let data = root.join("data");
        let socket_dir = root.join("sock");
        std::fs::create_dir_all(&socket_dir)?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let cluster = Cluster {
            data,
            socket_dir,
            port,
            as_postgres,
        };
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(root)
                .status()?;
            ensure!(status.success(), "chown to postgres failed");
        }
        let out = cluster
            .pg("initdb")
            .args(["-U", "postgres", "--auth=trust", "-D"])
            .arg(&cluster.data)
            .output()?;
        ensure!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.start()?;
        Ok(cluster)
    }

    fn start(&self) -> Result<()> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.socket_dir.display()
        );
        let out = self
            .pg("pg_ctl")
            .args(["-w", "-t", "60", "-D"])
            .arg(&self.data)
            .args(["-o", &opts, "-l"])
            .arg(self.data.join("log"))
            .arg("start")
            .output()?;
        ensure!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    fn stop(&self) -> Result<()> {
        let out = self
            .pg("pg_ctl")
            .args(["-w", "-t", "60", "-m", "fast", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output()?;
        ensure!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn client(&self) -> Result<postgres::Client> {
        Ok(postgres::Client::connect(&self.url(), postgres::NoTls)?)
    }

    fn executions(&self) -> Result<BTreeSet<u64>> {
        let mut c = self.client()?;
        let exists: bool = c
            .query_one("SELECT to_regclass('executions') IS NOT NULL", &[])?
            .get(0);
        if !exists {
            return Ok(BTreeSet::new());
        }
        Ok(c.query("SELECT exec_id FROM executions", &[])?
            .iter()
            .map(|r| r.get::<_, i64>(0) as u64)
            .collect())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[test]
fn postgres_copy_catches_up_after_an_outage_exactly_once() -> Result<()> {
    if !Path::new(PG_BIN).join("initdb").exists() {
        if std::env::var_os("CI").is_some() {
            bail!("PostgreSQL ({PG_BIN}) is required under CI");
        }
        println!("skipped: PostgreSQL is not installed ({PG_BIN}/initdb missing)");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    // The postgres user must reach its directory inside ours.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let pg_root = dir.path().join("pg");
    std::fs::create_dir_all(&pg_root)?;
    let cluster = Cluster::init(&pg_root)?;
    let config = write_config(dir.path(), &format!("postgres = {:?}", cluster.url()))?;
    let gw = GatewayProcess::start(&config, &[], WAIT)?;
    let (mut a, mut b) = (
        Client::logon(gw.fix_addr()?, 1)?,
        Client::logon(gw.fix_addr()?, 2)?,
    );
    for i in 0..20 {
        cross(&mut a, &mut b, "ACME", &format!("P{i}"))?;
    }
    let before: BTreeSet<u64> = a.seen.union(&b.seen).copied().collect();
    poll("the first executions reached PostgreSQL", || {
        Ok(cluster.executions()?.is_superset(&before))
    })?;

    cluster.stop()?;
    // The gateway keeps acknowledging and filling while the database is down.
    for i in 0..20 {
        cross(&mut a, &mut b, "ACME", &format!("D{i}"))?;
    }
    cluster.start()?;
    for i in 0..10 {
        cross(&mut a, &mut b, "ACME", &format!("U{i}"))?;
    }
    let seen: BTreeSet<u64> = a.seen.union(&b.seen).copied().collect();
    ensure!(
        seen.len() == 200,
        "50 rounds of 4 reports, saw {}",
        seen.len()
    );
    // Caught up while the gateway runs (backoff at most 5 s), not only at its stop.
    poll("the drop copy caught up after the outage", || {
        Ok(cluster.executions()? == journal_executions(dir.path())?)
    })?;
    gw.terminate(WAIT)?;

    let copied = cluster.executions()?;
    check_copy(&copied, &journal_executions(dir.path())?, &seen)?;
    ensure!(copied == seen, "every execution was seen by a client here");
    let mut c = cluster.client()?;
    let rows: i64 = c.query_one("SELECT count(*) FROM executions", &[])?.get(0);
    ensure!(rows == 200, "{rows} rows for 200 executions");
    let filled: i64 = c
        .query_one(
            "SELECT count(*) FROM orders WHERE ord_status = 'filled'",
            &[],
        )?
        .get(0);
    ensure!(filled == 100, "{filled} filled orders, expected 100");
    let notional: String = c
        .query_one(
            "SELECT sum(last_px * last_qty)::text FROM executions WHERE exec_type = 'trade'",
            &[],
        )?
        .get(0);
    ensure!(notional == "50000.0000", "traded notional {notional}");
    Ok(())
}
