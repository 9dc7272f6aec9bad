//! End to end: the four nodes of a loopback copy of `deploy/single-host.toml` (venue,
//! feed, strategy engine, gateway) run as four `tickwarp run` processes on the soft
//! stack. Once trades flow, each node in turn is killed with SIGKILL and started again;
//! the pipeline must trade again (the gateway's progress lines show fills rising), every
//! direct peer of the dead node must have logged a WARN naming it, and at the end the
//! gateway must have rejected nothing (a restarted engine that reused a client order id
//! would be refused as a duplicate) and found its journal consistent.
//!
//! Shared threading and a backoff idle (2-core machines), loopback only, free ports,
//! temporary directories; every wait is bounded and fails with a message; the children
//! are killed by a guard whatever happens. No timing assertions.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_runtime::clock::monotonic_now;

/// Longest wait for trades to flow (first start, or after a restart), on a loaded
/// 2-core machine.
const TRADES_BOUND: Duration = Duration::from_secs(120);
/// Longest wait for a stopped node to exit.
const EXIT_BOUND: Duration = Duration::from_secs(30);
/// Pause between looks at the logs.
const POLL: Duration = Duration::from_millis(200);
/// The nodes, in the order they are killed.
const NODES: [&str; 4] = ["venue", "feed", "gateway", "strategies"];
/// Where the gateway is in [`NODES`].
const GATEWAY: usize = 2;

/// How each node's peers name it in a WARN, and who its direct peers are.
fn role_and_peers(node: &str) -> (&'static str, &'static [&'static str]) {
    match node {
        "venue" => ("venue", &["feed", "gateway"]),
        "feed" => ("feed", &["venue", "strategies"]),
        "strategies" => ("engine alpha", &["feed", "gateway"]),
        _ => ("gateway", &["venue", "strategies"]),
    }
}

/// `n` distinct free loopback ports (held together while picked).
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// The topology: `deploy/single-host.toml`'s shape on loopback ports, soft backend,
/// shared threading, backoff idle, a modest house flow, reconnect pauses up to 1 s.
fn topology(ports: &[u16]) -> Result<String> {
    let [md, orders, feed, gw] = ports else {
        bail!("four ports needed, got {ports:?}");
    };
    let node = "backend = \"soft\"\nthreading = \"shared\"\nidle = { kind = \"backoff\" }\n\
                reconnect = { max_backoff_ms = 1000, give_up_after_s = 0 }\n";
    Ok(format!(
        r#"
[[instrument]]
symbol = "TWRP"
start_price = "100.00"

[[node]]
name = "venue"
{node}
[node.venue]
md_listen = "127.0.0.1:{md}"
orders_listen = "127.0.0.1:{orders}"
rate = 2000

[[node]]
name = "feed"
{node}journal_dir = "feed"
[node.feed]
listen = "127.0.0.1:{feed}"
ring_slots = 4096
record = true

[[node]]
name = "strategies"
{node}
[[node.engine]]
name = "alpha"
id_tag = "A"
[[node.engine.strategy]]
name = "market_maker"
half_spread = "0.02"
max_position = 1000
[[node.engine.strategy]]
name = "pinger"
every = 50

[[node]]
name = "gateway"
{node}journal_dir = "gateway"
[node.gateway]
listen = "127.0.0.1:{gw}"
fsync = "batched"
"#
    ))
}

/// The running nodes; killed when dropped.
struct Cluster {
    config: PathBuf,
    root: PathBuf,
    children: Vec<(String, Child)>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Cluster {
    /// The stderr log of `node`.
    fn log(&self, node: &str) -> PathBuf {
        self.root.join(format!("{node}.err"))
    }

    /// Starts `node` (its logs appended to earlier ones).
    fn start(&mut self, node: &str) -> Result<()> {
        let dir = self.root.join(node);
        let open = |name: String| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.root.join(name))
        };
        let child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .args(["--node", node, "--dir"])
            .arg(&dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(open(format!("{node}.out"))?)
            .stderr(open(format!("{node}.err"))?)
            .spawn()
            .with_context(|| format!("starting node {node}"))?;
        self.children.push((node.to_owned(), child));
        Ok(())
    }

    /// Kills `node` with SIGKILL and reaps it.
    fn kill(&mut self, node: &str) -> Result<()> {
        let at = self
            .children
            .iter()
            .position(|(n, _)| n == node)
            .with_context(|| format!("node {node} is not running"))?;
        let (_, mut child) = self.children.remove(at);
        child.kill().with_context(|| format!("killing {node}"))?;
        child.wait()?;
        Ok(())
    }

    /// Fails if a node exited on its own, showing its log.
    fn all_alive(&mut self) -> Result<()> {
        for (node, child) in &mut self.children {
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(self.root.join(format!("{node}.err")))?;
                bail!(
                    "node {node} exited ({status}); its log ends:\n{}",
                    tail(&log)
                );
            }
        }
        Ok(())
    }

    /// Stops `node` with SIGTERM (a drained stop) and waits for it, bounded.
    fn terminate(&mut self, node: &str) -> Result<()> {
        let at = self
            .children
            .iter()
            .position(|(n, _)| n == node)
            .with_context(|| format!("node {node} is not running"))?;
        let (_, mut child) = self.children.remove(at);
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        ensure!(status.success(), "kill -TERM {node} failed");
        let deadline = monotonic_now().saturating_add(EXIT_BOUND);
        while child.try_wait()?.is_none() {
            if monotonic_now() >= deadline {
                let _ = child.kill();
                bail!("node {node} did not stop within {EXIT_BOUND:?} of SIGTERM");
            }
            thread::sleep(POLL);
        }
        Ok(())
    }
}

/// The last lines of a log.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

/// The log of `path` from byte `from` on.
fn read_from(path: &Path, from: u64) -> Result<String> {
    let mut text = Vec::new();
    File::open(path)
        .with_context(|| format!("opening {}", path.display()))?
        .read_to_end(&mut text)?;
    let from = usize::try_from(from)?.min(text.len());
    Ok(String::from_utf8_lossy(&text[from..]).into_owned())
}

/// Bytes in the log of `path` now.
fn log_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The `orders` and `fills` counts of a progress line (`… | orders N fills M | …`).
fn counts(line: &str) -> Option<(u64, u64)> {
    let rest = line.split(" | orders ").nth(1)?;
    let mut words = rest.split_whitespace();
    let orders = words.next()?.parse().ok()?;
    let fills = words.nth(1)?.parse().ok()?;
    Some((orders, fills))
}

/// Waits until the gateway, after byte `from` of its log and after its first (re)start
/// line there, received new orders and passed on fills (its progress lines show both
/// counts rising): orders trade through the whole pipeline again. Fills alone would not
/// do: the venue fills resting orders without the engine.
fn wait_for_trades(cluster: &mut Cluster, from: u64, after: &str) -> Result<()> {
    let log = cluster.log("gateway");
    let deadline = monotonic_now().saturating_add(TRADES_BOUND);
    loop {
        let text = read_from(&log, from)?;
        let started = text.lines().position(|l| {
            l.starts_with("tickwarp run: node gateway reconnected")
                || l.starts_with("tickwarp run: node gateway of")
        });
        let progress: Vec<(u64, u64)> = text
            .lines()
            .skip(started.map_or(usize::MAX, |at| at + 1))
            .filter(|l| l.starts_with('['))
            .filter_map(counts)
            .collect();
        if let (Some(first), Some(last)) = (progress.first(), progress.last()) {
            if last.0 > first.0 && last.1 > first.1 {
                return Ok(());
            }
        }
        cluster.all_alive()?;
        if monotonic_now() >= deadline {
            bail!(
                "no trades within {TRADES_BOUND:?} {after}; the gateway's log since:\n{}",
                tail(&text)
            );
        }
        thread::sleep(POLL);
    }
}

#[test]
fn every_component_killed_and_restarted_trades_again() -> Result<()> {
    let root = tempfile::Builder::new()
        .prefix("tickwarp-heal-")
        .tempdir()?;
    let config = root.path().join("topology.toml");
    std::fs::write(&config, topology(&free_ports(4)?)?)?;
    let mut cluster = Cluster {
        config,
        root: root.path().to_owned(),
        children: Vec::new(),
    };
    for node in NODES {
        cluster.start(node)?;
    }
    wait_for_trades(&mut cluster, 0, "after the first start")?;

    for dead in NODES {
        let marks: Vec<u64> = NODES.iter().map(|n| log_len(&cluster.log(n))).collect();
        cluster.kill(dead)?;
        cluster.start(dead)?;
        let after = format!("after {dead} restarted");
        wait_for_trades(&mut cluster, marks[GATEWAY], &after)?;
        let (role, peers) = role_and_peers(dead);
        let named = format!("lost peer {role} (node {dead},");
        for peer in peers {
            let at = NODES
                .iter()
                .position(|n| n == peer)
                .context("a peer of the topology")?;
            let text = read_from(&cluster.log(peer), marks[at])?;
            ensure!(
                text.lines()
                    .any(|l| l.contains("WARN") && l.contains(&named)),
                "{peer} logged no WARN naming {dead} ({named:?}) after the kill; its log:\n{}",
                tail(&text)
            );
        }
        if dead == "gateway" {
            let text = read_from(&cluster.log("gateway"), marks[GATEWAY])?;
            let recovered = text
                .lines()
                .find_map(|l| l.strip_prefix("gateway: recovered "))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok());
            ensure!(
                recovered.is_some_and(|n| n > 0),
                "the restarted gateway recovered no journal records; its log:\n{}",
                tail(&text)
            );
        }
    }

    // A drained stop of the gateway (restarted before the engine was): its summary must
    // show no rejected order (a restarted engine reusing a client order id is refused
    // as a duplicate) and no inconsistency between what it received and journaled.
    cluster.terminate("gateway")?;
    let summary = std::fs::read_to_string(root.path().join("gateway/summary-gateway.json"))
        .context("the gateway's summary")?;
    let summary: serde_json::Value = serde_json::from_str(&summary)?;
    let rejected = summary.get("rejected").and_then(serde_json::Value::as_u64);
    ensure!(rejected == Some(0), "orders were rejected: {summary}");
    let problems = summary
        .get("problems")
        .and_then(serde_json::Value::as_array)
        .context("summary problems")?;
    ensure!(problems.is_empty(), "the gateway's summary: {summary}");
    Ok(())
}
