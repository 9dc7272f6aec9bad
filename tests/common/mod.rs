//! Support shared by the binary's integration tests: `tickwarp gateway` as a child
//! process, a bounded run of any `tickwarp` command, and a Prometheus scrape with its
//! `promtool check metrics`. Each test binary compiles this module and uses part of it.
//!
//! What it must not do: wait without a bound, or leave a gateway running after a test.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_runtime::clock;

/// What the gateway prints on stdout before the FIX address.
const PREFIX: &str = "tickwarp gateway: ";
/// The start-up line with the FIX address, after [`PREFIX`].
pub(crate) const FIX_LISTENING: &str = "FIX listening on ";

/// `tickwarp gateway --config FILE` running as a child, with the start-up lines it
/// printed (`tickwarp gateway: KEY VALUE`); killed and reaped when dropped.
pub(crate) struct GatewayProcess {
    /// The child process.
    pub(crate) child: Child,
    /// The start-up lines asked for, by their key (e.g. [`FIX_LISTENING`]).
    lines: HashMap<String, String>,
}

impl GatewayProcess {
    /// Starts the gateway on `config` and waits up to `wait` until it has printed the FIX
    /// address and every line of `wanted` (each a key after "tickwarp gateway: ").
    pub(crate) fn start(config: &Path, wanted: &[&str], wait: Duration) -> Result<GatewayProcess> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
            .args(["gateway", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("spawning tickwarp gateway")?;
        let stdout = child.stdout.take().context("gateway stdout")?;
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some(rest) = line.strip_prefix(PREFIX) {
                    let _ = tx.send(rest.to_owned());
                }
            }
        });
        let wanted: Vec<&str> = std::iter::once(FIX_LISTENING)
            .chain(wanted.iter().copied())
            .collect();
        let mut lines = HashMap::new();
        let deadline = clock::monotonic_now().saturating_add(wait);
        while lines.len() < wanted.len() {
            let left = deadline.saturating_sub(clock::monotonic_now());
            let Ok(line) = rx.recv_timeout(Duration::from_nanos(left.0)) else {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the gateway did not print {wanted:?} within {wait:?}; got {lines:?}");
            };
            for w in &wanted {
                if let Some(v) = line.strip_prefix(w) {
                    lines.insert((*w).to_owned(), v.trim().to_owned());
                }
            }
        }
        Ok(GatewayProcess { child, lines })
    }

    /// The value of start-up line `key`.
    pub(crate) fn line(&self, key: &str) -> Result<&str> {
        self.lines
            .get(key)
            .map(String::as_str)
            .with_context(|| format!("no start-up line {key:?}"))
    }

    /// The FIX acceptor's address.
    pub(crate) fn fix_addr(&self) -> Result<SocketAddr> {
        self.line(FIX_LISTENING)?.parse().context("FIX address")
    }

    /// SIGKILL, and reap it.
    pub(crate) fn kill9(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, then up to `wait` for a clean exit (status 0).
    pub(crate) fn terminate(mut self, wait: Duration) -> Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        ensure!(status.success(), "kill -TERM failed");
        let deadline = clock::monotonic_now().saturating_add(wait);
        loop {
            if let Some(status) = self.child.try_wait()? {
                ensure!(status.success(), "the gateway exited with {status}");
                return Ok(());
            }
            ensure!(
                clock::monotonic_now() < deadline,
                "the gateway did not exit within {wait:?} of SIGTERM"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tickwarp ARGS` to its end, at most `bound` (then it is killed and this fails),
/// failing on a non-zero exit with its stderr.
pub(crate) fn run_tickwarp(args: &[&str], bound: Duration) -> Result<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting tickwarp")?;
    // Read while it runs: a full pipe would stall it.
    let stdout = child.stdout.take().context("stdout")?;
    let stderr = child.stderr.take().context("stderr")?;
    let read = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let (out, err) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let deadline = clock::monotonic_now().saturating_add(bound);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if clock::monotonic_now() >= deadline {
            child.kill()?;
            child.wait()?;
            let err = err.join().unwrap_or_default();
            bail!(
                "tickwarp {args:?} did not finish within {bound:?}; stderr:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        thread::sleep(Duration::from_millis(50));
    };
    let output = Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    ensure!(
        output.status.success(),
        "tickwarp {args:?} failed ({}); stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output)
}

/// `GET /metrics` on `addr` (each step bounded by `wait`): the body of a 200 answer.
pub(crate) fn scrape(addr: SocketAddr, wait: Duration) -> Result<String> {
    let mut s = std::net::TcpStream::connect_timeout(&addr, wait)?;
    s.set_read_timeout(Some(wait))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").context("no HTTP head")?;
    ensure!(head.starts_with("HTTP/1.1 200 "), "scrape answered {head}");
    Ok(body.to_owned())
}

/// The value of sample `series` (name with its `{labels}` as printed) in exposition text.
pub(crate) fn sample(text: &str, series: &str) -> Result<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .with_context(|| format!("no sample {series} in:\n{text}"))?
        .trim()
        .parse()
        .with_context(|| format!("sample {series}"))
}

/// Runs `promtool check metrics` on `text`; `Ok(false)` when promtool is missing (a
/// failure under CI, where `CI` is set).
pub(crate) fn promtool_check(text: &str) -> Result<bool> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(_) if std::env::var_os("CI").is_some() => {
            bail!("promtool is required under CI (apt-get install prometheus)")
        }
        Err(_) => {
            eprintln!("skipped: promtool not installed (apt-get install prometheus)");
            return Ok(false);
        }
    };
    child
        .stdin
        .take()
        .context("promtool stdin")?
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "promtool check metrics failed: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(true)
}

/// A running `tickwarp compute serve` on loopback (soft backend) accepting account 42
/// with one token, killed on drop.
pub(crate) struct ComputeServer {
    child: Child,
    /// The address it printed it listens on.
    pub(crate) addr: String,
    /// Its directory: `credentials.toml`, the token file, and room for the test's files.
    pub(crate) dir: tempfile::TempDir,
    /// The file holding account 42's token (`--compute-token-file`, `--token-file`).
    pub(crate) token_file: std::path::PathBuf,
}

impl ComputeServer {
    /// Starts it with `threads` compute threads, accepting account 42 with `token`;
    /// waits at most `bound` for its address.
    pub(crate) fn start(token: &str, threads: u32, bound: Duration) -> Result<ComputeServer> {
        let dir = tempfile::tempdir()?;
        let creds = dir.path().join("credentials.toml");
        let hash = tickwarp_gateway::service::rdma_auth::hash_token(token.as_bytes())?;
        std::fs::write(
            &creds,
            format!("[[tokens]]\naccount = 42\ntoken_hash = \"{hash}\"\n"),
        )?;
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, format!("{token}\n"))?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
            .args(["compute", "serve", "--listen", "127.0.0.1:0"])
            .args(["--backend", "soft", "--threads", &threads.to_string()])
            .arg("--credentials")
            .arg(&creds)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting tickwarp compute serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut server = ComputeServer {
            child,
            addr: String::new(),
            dir,
            token_file,
        };
        let line = rx
            .recv_timeout(bound)
            .context("the server printed no address")?;
        let Some(addr) = line
            .strip_prefix("tickwarp compute: listening on ")
            .and_then(|rest| rest.split_whitespace().next())
        else {
            bail!("unexpected first line: {line:?}");
        };
        server.addr = addr.to_owned();
        Ok(server)
    }
}

impl Drop for ComputeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
