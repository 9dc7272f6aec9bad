//! End to end: the real `tickwarp demo` binary runs the whole pipeline (venue
//! simulator → feed → strategies → gateway → venue over soft iWARP on loopback) for a
//! few seconds; its JSON summary must show orders sent, filled and journaled, fills never
//! above orders, and the engines' positions equal to the gateway's fills. Every wait is
//! bounded: a run that does not end in time is killed and the test fails.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

/// Longest a run may take (a loaded 2-core machine compiling other crates).
const RUN_BOUND: Duration = Duration::from_secs(180);
/// Pause between checks of a running child.
const POLL: Duration = Duration::from_millis(100);

/// Waits for `child` at most `bound`, killing it after that.
fn wait_bounded(mut child: Child, bound: Duration) -> Result<Output> {
    let rounds = bound.as_millis() / POLL.as_millis();
    for _ in 0..rounds {
        if child.try_wait()?.is_some() {
            return Ok(child.wait_with_output()?);
        }
        thread::sleep(POLL);
    }
    child.kill()?;
    let out = child.wait_with_output()?;
    bail!(
        "tickwarp did not finish within {bound:?}; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A number from the summary.
fn num(v: &Value, key: &str) -> Result<u64> {
    v.get(key)
        .and_then(Value::as_u64)
        .with_context(|| format!("summary has no number {key:?}: {v}"))
}

/// Checks a node summary that covers the whole pipeline.
fn check_summary(s: &Value) -> Result<()> {
    let orders = num(s, "orders_sent")?;
    let received = num(s, "orders_received")?;
    let fills = num(s, "fills")?;
    let to_venue = num(s, "commands_to_venue")?;
    let journaled = num(s, "orders_in_journal")?;
    let rejected = num(s, "rejected")?;
    ensure!(orders > 0, "no orders were sent: {s}");
    ensure!(fills > 0, "nothing was filled: {s}");
    ensure!(
        fills <= to_venue,
        "{fills} fills for {to_venue} commands to the venue"
    );
    ensure!(
        received == orders,
        "engines sent {orders}, the gateway received {received}"
    );
    ensure!(
        journaled > 0 && journaled <= received && journaled + rejected >= received,
        "{journaled} new orders in the journal, {received} received, {rejected} rejected"
    );
    ensure!(
        num(s, "fills_received")? == fills,
        "strategies received a different number of fills: {s}"
    );
    let positions = s
        .get("positions")
        .and_then(Value::as_array)
        .context("summary has no positions")?;
    ensure!(!positions.is_empty(), "no positions reported");
    for p in positions {
        ensure!(
            p.get("gateway") == p.get("engines"),
            "position differs between gateway and engines: {p}"
        );
    }
    let strategies = s
        .get("strategies")
        .and_then(Value::as_array)
        .context("summary has no strategies")?;
    let strategy_fills: u64 = strategies
        .iter()
        .filter_map(|st| st.get("fills").and_then(Value::as_u64))
        .sum();
    ensure!(
        strategy_fills == fills,
        "per-strategy fills {strategy_fills} != {fills}"
    );
    let problems = s
        .get("problems")
        .and_then(Value::as_array)
        .context("summary has no problems list")?;
    ensure!(
        problems.is_empty(),
        "the run reported problems: {problems:?}"
    );
    let t2t = s
        .pointer("/latency/tick_to_trade/count")
        .and_then(Value::as_u64)
        .context("no tick-to-trade count")?;
    ensure!(t2t > 0, "no order was timed tick-to-trade");
    Ok(())
}

/// Reads and parses a JSON file.
fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[test]
fn demo_sends_fills_and_journals_orders_consistently() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args(["demo", "--duration", "3", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting tickwarp demo")?;
    let out = wait_bounded(child, RUN_BOUND)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "tickwarp demo failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    ensure!(
        stdout.contains("tick-to-trade"),
        "no latency table:\n{stdout}"
    );
    ensure!(stderr.contains("ticks/s"), "no progress lines:\n{stderr}");
    let summary = read_json(&dir.path().join("summary-demo.json"))?;
    check_summary(&summary).with_context(|| format!("stdout:\n{stdout}"))?;
    for file in ["tick-to-trade-demo.hlog", "tick-to-trade-demo.svg"] {
        let path = dir.path().join(file);
        ensure!(path.is_file(), "{} missing", path.display());
        ensure!(
            std::fs::metadata(&path)?.len() > 0,
            "{} is empty",
            path.display()
        );
    }
    ensure!(
        dir.path().join("journal/gateway").is_dir(),
        "no gateway journal directory"
    );
    Ok(())
}

#[test]
fn demo_refuses_a_bad_option() -> Result<()> {
    let child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args(["demo", "--threading", "sideways"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = wait_bounded(child, RUN_BOUND)?;
    ensure!(!out.status.success(), "a bad --threading was accepted");
    ensure!(
        String::from_utf8_lossy(&out.stderr).contains("sideways"),
        "the error does not name the value"
    );
    Ok(())
}

/// A child process killed if the test ends before it was waited for.
struct Guard(Option<Child>);

impl Guard {
    fn take(&mut self) -> Result<Child> {
        self.0.take().context("child already taken")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A free TCP port on loopback (the kernel's pick; released at once).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Sends SIGTERM to `child` (the drain-and-summarize stop).
fn terminate(child: &Child) -> Result<()> {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .context("running kill")?;
    ensure!(status.success(), "kill -TERM {} failed", child.id());
    Ok(())
}

/// `deploy/single-host.toml` made fit for a test on a small machine: free ports, the
/// journals under `dir`, one backoff thread per process, no pinning, a gentle rate.
fn single_host_topology(dir: &Path) -> Result<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/single-host.toml");
    let mut text = std::fs::read_to_string(&path)?;
    for port in ["7401", "7402", "7411", "7421"] {
        text = text.replace(
            &format!("127.0.0.1:{port}"),
            &format!("127.0.0.1:{}", free_port()?),
        );
    }
    text = text
        .replace("/var/lib/tickwarp/", &format!("{}/", dir.display()))
        .replace("threading = \"dedicated\"", "threading = \"shared\"")
        .replace(
            "idle = { kind = \"busy_spin\" }",
            "idle = { kind = \"backoff\" }",
        )
        .replace("rate = 20000", "rate = 3000");
    Ok(text
        .lines()
        .filter(|l| !l.trim_start().starts_with("core = "))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The summary a node wrote into its directory.
fn node_summary(dir: &Path, node: &str) -> Result<Value> {
    read_json(&dir.join(node).join(format!("summary-{node}.json")))
}

#[test]
fn single_host_topology_runs_as_separate_processes() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("topology.toml");
    std::fs::write(&config, single_host_topology(dir.path())?)?;
    let start = |node: &str, extra: &[&str]| -> Result<Guard> {
        let node_dir = dir.path().join(node);
        std::fs::create_dir_all(&node_dir)?;
        let child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
            .args(["run", "--config"])
            .arg(&config)
            .args(["--node", node, "--dir"])
            .arg(&node_dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting node {node}"))?;
        Ok(Guard(Some(child)))
    };
    // The venue ends by itself; the others run until told to stop, in the order that
    // lets every execution reach its strategy (deploy/README.md).
    let mut venue = start("venue", &["--duration", "8"])?;
    let mut others = [
        ("strategies", start("strategies", &[])?),
        ("gateway", start("gateway", &[])?),
        ("feed", start("feed", &[])?),
    ];
    let mut outputs = vec![("venue", wait_bounded(venue.take()?, RUN_BOUND)?)];
    // Strategies first, then the gateway and the feed (guards kill what is left if a
    // step fails).
    for (name, guard) in &mut others {
        let child = guard.take()?;
        terminate(&child)?;
        outputs.push((*name, wait_bounded(child, RUN_BOUND)?));
    }
    for (name, out) in &outputs {
        ensure!(
            out.status.success(),
            "node {name} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let engines = node_summary(dir.path(), "strategies")?;
    let gw = node_summary(dir.path(), "gateway")?;
    let orders = num(&engines, "orders_sent")?;
    let fills = num(&gw, "fills")?;
    ensure!(orders > 0, "no orders were sent: {engines}");
    ensure!(fills > 0, "nothing was filled: {gw}");
    ensure!(
        num(&gw, "orders_received")? == orders,
        "orders lost between processes: {engines} / {gw}"
    );
    ensure!(
        fills <= num(&gw, "commands_to_venue")?,
        "more fills than orders: {gw}"
    );
    ensure!(
        num(&engines, "fills_received")? == fills,
        "fills lost between processes: {engines} / {gw}"
    );
    let journaled = num(&gw, "orders_in_journal")?;
    ensure!(
        journaled > 0 && journaled + num(&gw, "rejected")? >= orders,
        "{journaled} new orders in the journal for {orders} sent"
    );
    let position = |s: &Value, side: &str| -> Result<i64> {
        s.pointer("/positions/0")
            .and_then(|p| p.get(side))
            .and_then(Value::as_i64)
            .with_context(|| format!("no {side} position in {s}"))
    };
    ensure!(
        position(&gw, "gateway")? == position(&engines, "engines")?,
        "positions differ: gateway {gw} engines {engines}"
    );
    Ok(())
}

/// A FIX 4.4 message from `fields` with BeginString, BodyLength and CheckSum added.
fn fix_message(fields: &[(u32, &str)]) -> Vec<u8> {
    let body: String = fields
        .iter()
        .map(|(tag, v)| format!("{tag}={v}\x01"))
        .collect();
    let head = format!("8=FIX.4.4\x019={}\x01{body}", body.len());
    let sum = head.bytes().map(u32::from).sum::<u32>() % 256;
    format!("{head}10={sum:03}\x01").into_bytes()
}

/// The current UTC time as a FIX UTCTimestamp (`YYYYMMDD-HH:MM:SS.sss`).
fn fix_now() -> String {
    let ns = tickwarp_runtime::clock::unix_now().get();
    let secs = ns / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}:{:02}:{:02}.{:03}",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60,
        ns / 1_000_000 % 1_000
    )
}

/// Reads from `stream` until `want` appears in what arrived (bounded by the socket's
/// read timeout); returns everything read, `|` for SOH.
fn read_until(stream: &mut std::net::TcpStream, want: &str) -> Result<String> {
    use std::io::Read;
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains(want) {
        let n = stream
            .read(&mut buf)
            .with_context(|| format!("waiting for {want:?}; got {seen:?}"))?;
        ensure!(
            n > 0,
            "connection closed waiting for {want:?}; got {seen:?}"
        );
        seen.push_str(&String::from_utf8_lossy(&buf[..n]).replace('\x01', "|"));
    }
    Ok(seen)
}

#[test]
fn fix_sessions_of_a_topology_are_served() -> Result<()> {
    use std::io::Write;
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let demo =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/demo.toml"))?;
    let mut text = format!(
        "{}\n[[node.gateway.fix_session]]\nsender_comp_id = \"CLIENT1\"\n\
         target_comp_id = \"TICKWARP\"\naccount = 101\nallow_no_password = true\n",
        demo.replace(
            "[node.gateway]\n",
            &format!("[node.gateway]\nfix_listen = \"127.0.0.1:{port}\"\n"),
        )
    );
    for p in ["7401", "7402", "7411", "7421"] {
        text = text.replace(&format!("127.0.0.1:{p}"), "127.0.0.1:0");
    }
    let config = dir.path().join("fix.toml");
    std::fs::write(&config, text)?;
    let mut node = Guard(Some(
        Command::new(env!("CARGO_BIN_EXE_tickwarp"))
            .args(["run", "--config"])
            .arg(&config)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?,
    ));
    // The acceptor is up once the node's components have connected.
    let mut stream = None;
    for _ in 0..(RUN_BOUND.as_millis() / POLL.as_millis()) {
        if let Some(child) = node.0.as_mut() {
            if child.try_wait()?.is_some() {
                let out = node.take()?.wait_with_output()?;
                bail!(
                    "the node ended before listening:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            stream = Some(s);
            break;
        }
        thread::sleep(POLL);
    }
    let mut stream = stream.context("the FIX acceptor never listened")?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let now = fix_now();
    let now = now.as_str();
    stream.write_all(&fix_message(&[
        (35, "A"),
        (49, "CLIENT1"),
        (56, "TICKWARP"),
        (34, "1"),
        (52, now),
        (98, "0"),
        (108, "30"),
    ]))?;
    let logon = read_until(&mut stream, "35=A|")?;
    ensure!(
        logon.contains("49=TICKWARP|"),
        "unexpected logon answer {logon}"
    );
    stream.write_all(&fix_message(&[
        (35, "D"),
        (49, "CLIENT1"),
        (56, "TICKWARP"),
        (34, "2"),
        (52, now),
        (11, "FIX1"),
        (55, "TWRP"),
        (54, "1"),
        (60, now),
        (38, "100"),
        (40, "2"),
        (44, "90.00"),
        (59, "0"),
    ]))?;
    let report = read_until(&mut stream, "35=8|")?;
    ensure!(
        report.contains("11=FIX1|") && report.contains("39=0|"),
        "the order was not acknowledged: {report}"
    );
    let child = node.take()?;
    terminate(&child)?;
    let out = wait_bounded(child, RUN_BOUND)?;
    ensure!(
        out.status.success(),
        "the node failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
