//! Every topology example in `deploy/` loads and validates (`tickwarp run --check`),
//! every systemd unit starts a node its example defines, and a broken topology is refused
//! with an error that names the key. Runs the real binary; every wait is bounded.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

/// Longest a `--check` may take.
const BOUND: Duration = Duration::from_secs(60);
/// Pause between checks of a running child.
const POLL: Duration = Duration::from_millis(50);

/// The topology examples (deploy/gateway.example.toml is the gateway's own format).
const EXAMPLES: [&str; 4] = [
    "demo.toml",
    "single-host.toml",
    "three-hosts.toml",
    "retail.toml",
];

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Runs `tickwarp args…`, killing it after [`BOUND`].
fn tickwarp(args: &[&str]) -> Result<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    for _ in 0..BOUND.as_millis() / POLL.as_millis() {
        if child.try_wait()?.is_some() {
            return Ok(child.wait_with_output()?);
        }
        thread::sleep(POLL);
    }
    child.kill()?;
    bail!("tickwarp {args:?} did not finish within {BOUND:?}")
}

/// `run --check` of `path`: its stdout, or the failure.
fn check(path: &Path) -> Result<String> {
    let shown = path.display().to_string();
    let out = tickwarp(&["run", "--config", &shown, "--check"])?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ensure!(out.status.success(), "{shown} refused:\n{stderr}");
    Ok(stdout)
}

#[test]
fn every_example_topology_validates() -> Result<()> {
    for name in EXAMPLES {
        let stdout = check(&deploy().join(name))?;
        ensure!(stdout.starts_with("topology ok"), "{name}: {stdout}");
    }
    Ok(())
}

#[test]
fn every_systemd_unit_names_an_example_node() -> Result<()> {
    let dir = deploy().join("systemd");
    let mut units = 0;
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "service") {
            continue;
        }
        units += 1;
        let text = std::fs::read_to_string(&path)?;
        let exec = text
            .lines()
            .find(|l| l.starts_with("ExecStart="))
            .with_context(|| format!("{}: no ExecStart", path.display()))?;
        ensure!(
            exec.contains(" run "),
            "{}: does not run a node",
            path.display()
        );
        for key in ["LimitMEMLOCK=infinity", "CPUAffinity=", "Restart="] {
            ensure!(text.contains(key), "{}: no {key}", path.display());
        }
        // A unit for a fixed node names it; the template takes it from the instance.
        if let Some(node) = exec
            .split("--node ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
        {
            if node != "%i" {
                let topology = std::fs::read_to_string(deploy().join("single-host.toml"))?;
                ensure!(
                    topology.contains(&format!("name = \"{node}\"")),
                    "{}: node {node} is not in single-host.toml",
                    path.display()
                );
            }
        }
    }
    ensure!(units >= 4, "expected a unit per role, found {units}");
    Ok(())
}

#[test]
fn a_broken_topology_is_refused_naming_the_key() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let good = std::fs::read_to_string(deploy().join("demo.toml"))?;
    let cases = [
        (
            good.replace("id_tag = \"D\"", "id_tag = \"NOT-OK\""),
            "node[0].engine[0].id_tag",
        ),
        (
            good.replace("every = 20", "every = 0"),
            "node[0].engine[0].strategy[1]",
        ),
        (
            good.replace("127.0.0.1:7411", "127.0.0.1:7421"),
            "node[0].gateway.listen",
        ),
        (
            good.replace("rate = 5000", "rate = 0"),
            "node[0].venue.rate",
        ),
        (
            good.replace("threading = \"shared\"", "threading = \"fast\""),
            "threading",
        ),
    ];
    for (i, (text, key)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("bad-{i}.toml"));
        std::fs::write(&path, text)?;
        let shown = path.display().to_string();
        let out = tickwarp(&["run", "--config", &shown, "--check"])?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(!out.status.success(), "case {i} was accepted");
        ensure!(stderr.contains(key), "case {i}: want {key:?} in {stderr:?}");
    }
    Ok(())
}
