//! End to end: the real binary's `tickwarp rping --client` against `tickwarp rping
//! --server` over the soft-iWARP stack on loopback (rping's protocol, `--validate`), and
//! `tickwarp devices` listing the soft backend. Every wait is bounded: a child that does
//! not finish in time is killed and the test fails with its output.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

/// Longest a run may take (a loaded 2-core machine compiling other crates).
const RUN_BOUND: Duration = Duration::from_secs(60);
/// Pause between checks of a running child.
const POLL: Duration = Duration::from_millis(50);

fn tickwarp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tickwarp"))
}

/// Waits for `child` at most `bound`, killing it after that.
fn wait_bounded(mut child: Child, bound: Duration, what: &str) -> Result<Output> {
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
        "{what} did not finish within {bound:?}; stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A server child and the lines it printed so far (read on a helper thread).
struct Server {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    /// Starts `tickwarp rping --server 127.0.0.1:0 EXTRA...` and returns it with the
    /// address it reports listening on.
    fn start(extra: &[&str]) -> Result<(Server, SocketAddr)> {
        let mut child = tickwarp()
            .args([
                "rping",
                "--server",
                "127.0.0.1:0",
                "--backend",
                "soft",
                "--accept-timeout",
                "30",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the rping server")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || forward_lines(stdout, tx));
        let mut server = Server {
            child: Some(child),
            lines,
            seen: Vec::new(),
        };
        let line = server.line_containing("listening on")?;
        let addr = line
            .split_whitespace()
            .nth(4)
            .with_context(|| format!("no address in {line:?}"))?
            .parse()
            .with_context(|| format!("bad address in {line:?}"))?;
        Ok((server, addr))
    }

    /// The next line containing `needle`, waiting at most `RUN_BOUND`.
    fn line_containing(&mut self, needle: &str) -> Result<String> {
        loop {
            match self.lines.recv_timeout(RUN_BOUND) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return Ok(line);
                    }
                }
                Err(e) => bail!(
                    "server printed no line with {needle:?} ({e}); so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for the server to exit; its exit status and stderr.
    fn finish(mut self) -> Result<Output> {
        let child = self.child.take().context("server already finished")?;
        wait_bounded(child, RUN_BOUND, "the rping server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn forward_lines(stdout: ChildStdout, tx: mpsc::Sender<String>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { return };
        if tx.send(line).is_err() {
            return;
        }
    }
}

/// Runs a client with `args` against `addr` and returns its output.
fn client(addr: SocketAddr, args: &[&str]) -> Result<Output> {
    let child = tickwarp()
        .args(["rping", "--client", &addr.to_string(), "--backend", "soft"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the rping client")?;
    wait_bounded(child, RUN_BOUND, "the rping client")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Client and server over soft iWARP; both must report `pings` completed pings.
fn ping_pong(server_args: &[&str], client_args: &[&str], pings: u64) -> Result<(String, String)> {
    let (mut server, addr) = Server::start(server_args)?;
    let out = client(addr, client_args)?;
    let stdout = text(&out.stdout);
    ensure!(
        out.status.success(),
        "client failed ({}):\n{stdout}\n{}",
        out.status,
        text(&out.stderr)
    );
    ensure!(
        stdout.contains(&format!("{pings} pings of")),
        "client output:\n{stdout}"
    );
    let done = server.line_containing("disconnected after")?;
    ensure!(
        done.contains(&format!("after {pings} pings")),
        "server: {done}"
    );
    let server_out = server.finish()?;
    ensure!(
        server_out.status.success(),
        "server failed ({}): {}",
        server_out.status,
        text(&server_out.stderr)
    );
    Ok((stdout, done))
}

#[test]
fn client_and_server_ping_ten_times_validated() -> Result<()> {
    let (stdout, _) = ping_pong(&[], &["--count", "10", "--validate", "--verbose"], 10)?;
    ensure!(stdout.contains("all validated"), "{stdout}");
    ensure!(
        stdout.contains(
            "ping data: rdma-ping-0: ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqr"
        ),
        "{stdout}"
    );
    ensure!(stdout.contains("ping data: rdma-ping-9: JKLMN"), "{stdout}");
    Ok(())
}

#[test]
fn crc_and_a_larger_buffer() -> Result<()> {
    let (stdout, _) = ping_pong(
        &["--crc", "--size", "4096"],
        &["--count", "3", "--validate", "--crc", "--size", "4096"],
        3,
    )?;
    ensure!(stdout.contains("CRC on"), "{stdout}");
    Ok(())
}

#[test]
fn a_source_larger_than_the_server_buffer_is_refused() -> Result<()> {
    let (server, addr) = Server::start(&["--size", "64", "--timeout", "5"])?;
    let out = client(addr, &["--count", "1", "--size", "128", "--timeout", "5"])?;
    ensure!(!out.status.success(), "client: {}", text(&out.stdout));
    let seen = server.seen.clone();
    let server_out = server.finish()?;
    let stderr = text(&server_out.stderr);
    ensure!(!server_out.status.success(), "server succeeded: {stderr}");
    ensure!(
        stderr.contains("128-byte source"),
        "server stderr: {stderr}\nstdout: {seen:?}"
    );
    Ok(())
}

#[test]
fn client_without_a_server_fails_in_time() -> Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let out = client(port, &["--count", "1", "--timeout", "2"])?;
    ensure!(!out.status.success(), "client succeeded without a server");
    ensure!(
        text(&out.stderr).contains("connecting to the rping server"),
        "{}",
        text(&out.stderr)
    );
    Ok(())
}

#[test]
fn devices_lists_the_soft_backend() -> Result<()> {
    let child = tickwarp()
        .arg("devices")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting tickwarp devices")?;
    let out = wait_bounded(child, RUN_BOUND, "tickwarp devices")?;
    let stdout = text(&out.stdout);
    ensure!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    ensure!(
        stdout.contains("soft-iwarp  (backend soft)"),
        "no soft backend listed:\n{stdout}"
    );
    ensure!(stdout.contains("transport: iWARP"), "{stdout}");
    Ok(())
}
