//! `tickwarp demo --options` end to end, running the real binary: the options market
//! maker quotes its chain from the engine's local pricer and, with `--compute`, from a
//! `tickwarp compute serve` over soft iWARP on loopback (the summary counts its orders);
//! replaying the demo's recording through `options_mm` twice gives the same orders (the
//! local pricer is deterministic). Every wait is bounded.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::Duration;

mod common;

use anyhow::{Context, Result, bail, ensure};
use common::ComputeServer;
use serde_json::Value;

/// Longest one command may take (a loaded 2-core machine).
const RUN_BOUND: Duration = Duration::from_secs(180);
/// Pause between checks of a running child.
const POLL: Duration = Duration::from_millis(100);
const TOKEN: &str = "options-demo-token";

/// Waits for `child` at most [`RUN_BOUND`], killing it after.
fn finish(mut child: Child, what: &str) -> Result<Output> {
    for _ in 0..RUN_BOUND.as_millis() / POLL.as_millis() {
        if child.try_wait()?.is_some() {
            return Ok(child.wait_with_output()?);
        }
        thread::sleep(POLL);
    }
    child.kill()?;
    let out = child.wait_with_output()?;
    bail!(
        "{what} did not finish within {RUN_BOUND:?}; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `tickwarp ARGS` to completion.
fn tickwarp(args: &[&str]) -> Result<Output> {
    let child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting tickwarp")?;
    finish(child, &format!("tickwarp {args:?}"))
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn path(p: &Path) -> Result<&str> {
    p.to_str().context("temporary path is not UTF-8")
}

/// The new orders `options_mm` sent, from the demo's `summary-demo.json` in `run`.
fn options_orders(run: &Path, out: &Output) -> Result<u64> {
    let file = run.join("summary-demo.json");
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?,
    )?;
    let line = summary["strategies"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["name"] == "options_mm"))
        .with_context(|| format!("no options_mm in the summary: {}", text(out)))?;
    line["orders"]
        .as_u64()
        .context("options_mm has no order count")
}

/// The number between `before` and `after` in the first line of `text` holding both.
fn number_between(text: &str, before: &str, after: &str) -> Result<u64> {
    text.lines()
        .find_map(|line| {
            let rest = &line[line.find(before)? + before.len()..];
            rest[..rest.find(after)?].trim().parse().ok()
        })
        .with_context(|| format!("no '{before}<n>{after}' in:\n{text}"))
}

#[test]
fn demo_options_quotes_from_the_local_pricer_and_replays_deterministically() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let run = dir.path().join("run");
    let demo = tickwarp(&["demo", "--options", "--duration", "2", "--dir", path(&run)?])?;
    ensure!(demo.status.success(), "demo failed: {}", text(&demo));
    ensure!(
        String::from_utf8_lossy(&demo.stdout).contains("options_mm"),
        "no options_mm line in the summary: {}",
        text(&demo)
    );
    // Six options, two sides each, on the first underlying tick at least.
    let sent = options_orders(&run, &demo)?;
    ensure!(sent >= 12, "options_mm sent {sent} orders: {}", text(&demo));

    let md = run.join("journal").join("md");
    let orders = dir.path().join("orders");
    let first = tickwarp(&[
        "replay",
        "--journal",
        path(&md)?,
        "--strategy",
        "options_mm",
        "--orders-out",
        path(&orders)?,
    ])?;
    ensure!(first.status.success(), "replay failed: {}", text(&first));
    let written = number_between(&String::from_utf8_lossy(&first.stdout), "wrote ", " orders")?;
    ensure!(
        written >= 12,
        "replay sent {written} orders: {}",
        text(&first)
    );
    let again = tickwarp(&[
        "replay",
        "--journal",
        path(&md)?,
        "--strategy",
        "options_mm",
        "--compare",
        path(&orders)?,
    ])?;
    let stdout = String::from_utf8_lossy(&again.stdout);
    ensure!(
        again.status.success() && stdout.contains("identical"),
        "a second replay differs: {}",
        text(&again)
    );
    let compared = number_between(&stdout, "identical to the ", " recorded")?;
    ensure!(
        compared == written,
        "compared {compared} of {written} orders"
    );
    Ok(())
}

#[test]
fn demo_options_quotes_from_a_compute_server() -> Result<()> {
    let server = ComputeServer::start(TOKEN, 1, RUN_BOUND)?;
    let run = server.dir.path().join("run");
    let token = server.token_file.clone();
    let demo = tickwarp(&[
        "demo",
        "--options",
        "--compute",
        &server.addr,
        "--compute-account",
        "42",
        "--compute-token-file",
        path(&token)?,
        "--duration",
        "2",
        "--dir",
        path(&run)?,
    ])?;
    ensure!(demo.status.success(), "demo failed: {}", text(&demo));
    ensure!(
        String::from_utf8_lossy(&demo.stderr).contains("priced on the compute server"),
        "the demo did not use the server: {}",
        text(&demo)
    );
    let sent = options_orders(&run, &demo)?;
    ensure!(sent >= 12, "options_mm sent {sent} orders: {}", text(&demo));

    // A wrong token is refused before anything starts.
    std::fs::write(&token, "wrong\n")?;
    let refused = tickwarp(&[
        "demo",
        "--options",
        "--compute",
        &server.addr,
        "--compute-account",
        "42",
        "--compute-token-file",
        path(&token)?,
        "--duration",
        "1",
        "--dir",
        path(&server.dir.path().join("run2"))?,
    ])?;
    ensure!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr).contains("compute server"),
        "a wrong token was not refused: {}",
        text(&refused)
    );
    Ok(())
}

#[test]
fn compute_needs_options_and_credentials() -> Result<()> {
    let out = tickwarp(&["demo", "--compute", "127.0.0.1:1"])?;
    ensure!(
        out.status.code() == Some(2),
        "accepted --compute alone: {}",
        text(&out)
    );
    Ok(())
}
