//! The `tickwarp gateway` binary and configuration typos (issue 10): a start with
//! `max_orders_per_day = 1e13` fails naming the key and its range; the same typo written
//! into the file of a running gateway followed by SIGHUP keeps the old limits, says why,
//! and the gateway keeps running. Every wait is bounded; nothing depends on timing.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

/// Longest wait for anything.
const WAIT: Duration = Duration::from_secs(30);

fn config_text(dir: &Path, max_orders_per_day: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
[journal]
dir = "{}"
[risk]
max_order_qty = 1000
max_notional = "1000000"
collar_bps = 0
credit_limit = "10000000"
max_position = 100000
max_orders_per_day = {max_orders_per_day}
[[instruments]]
symbol = "ACME"
id = 1
"#,
        dir.join("journal").display()
    )
}

const RANGE_ERROR: &str = "risk.max_orders_per_day = 1e13 is out of range 1..=10_000_000";

#[test]
fn a_start_with_an_out_of_range_key_names_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, config_text(dir.path(), "1e13"))?;
    let out = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args(["gateway", "--config"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .context("running tickwarp gateway")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "started with 1e13: {stderr}");
    ensure!(stderr.contains(RANGE_ERROR), "{stderr}");
    Ok(())
}

/// Lines of a child's stream, forwarded to a channel.
fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for a line containing `want`; returns every line seen.
fn wait_for(rx: &mpsc::Receiver<String>, want: &str) -> Result<Vec<String>> {
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(WAIT) {
            Ok(line) => {
                let hit = line.contains(want);
                seen.push(line);
                if hit {
                    return Ok(seen);
                }
            }
            Err(_) => bail!("no line with {want:?} within {WAIT:?}; saw {seen:#?}"),
        }
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_bad_reload_keeps_the_old_limits_and_the_gateway_running() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, config_text(dir.path(), "1000"))?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args(["gateway", "--config"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning tickwarp gateway")?;
    let stdout = lines(child.stdout.take().context("stdout")?);
    let stderr = lines(child.stderr.take().context("stderr")?);
    let mut child = Killed(child);
    wait_for(&stdout, "FIX listening on")?;
    std::fs::write(&path, config_text(dir.path(), "1e13"))?;
    let status = Command::new("kill")
        .args(["-HUP", &child.0.id().to_string()])
        .status()
        .context("kill -HUP")?;
    ensure!(status.success(), "kill -HUP failed");
    let seen = wait_for(&stderr, "keeping the old risk limits")?;
    let last = seen.last().map(String::as_str).unwrap_or_default();
    ensure!(last.contains(RANGE_ERROR), "{last}");
    ensure!(
        !seen.iter().any(|l| l.contains("passed validation")),
        "{seen:#?}"
    );
    ensure!(
        child.0.try_wait()?.is_none(),
        "the gateway exited after a bad reload"
    );
    Ok(())
}
