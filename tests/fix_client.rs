//! `tickwarp fix-client` against `tickwarp gateway`, both the built binary, on loopback:
//! the example configurations as shipped (only paths and ports changed) trade with each
//! other (a buy rests, a second session's sell fills it, the first session learns of the
//! fill on its next logon through the stored sequence numbers and cancels the rest by the
//! ID printed in its first run), an interactive session
//! replaces and cancels, an unknown symbol is rejected under `--expect-reject` (and fails
//! `--expect-fill`), a bad command leaves the session up, end of input logs out, and a
//! TLS gateway (certificates made by rcgen) is reached with a CA and a client
//! certificate.
//!
//! Every wait is bounded and fails with a message; nothing is timed.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

/// Longest wait for any one thing.
const WAIT: Duration = Duration::from_secs(30);

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The gateway binary on a temporary journal, and its FIX address.
struct Gateway {
    child: Child,
    addr: String,
}

impl Gateway {
    /// deploy/gateway.example.toml with its journal in `dir`, both listeners on port 0
    /// and `tls` (a TOML line) added when given.
    fn start(dir: &Path, tls: Option<&str>) -> Result<Gateway> {
        let text = std::fs::read_to_string(repo("deploy/gateway.example.toml"))?;
        let mut text = text
            .replace(
                "dir = \"/var/lib/tickwarp/gateway\"",
                &format!("dir = \"{}\"", dir.join("gateway").display()),
            )
            .replace("\"127.0.0.1:9878\"", "\"127.0.0.1:0\"")
            .replace("\"127.0.0.1:9879\"", "\"127.0.0.1:0\"");
        if let Some(tls) = tls {
            text = format!("{tls}\n{text}");
        }
        let config = dir.join("gateway.toml");
        std::fs::write(&config, text)?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
            .args(["gateway", "--config"])
            .arg(&config)
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
                if let Some(addr) = line.strip_prefix("tickwarp gateway: FIX listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(WAIT) {
            Ok(addr) => Ok(Gateway { child, addr }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("gateway printed no FIX address within {WAIT:?}")
            }
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// deploy/fix-client.example.toml for `addr`, storing in `store`; `session` 2 switches
/// to the example gateway's second session. `extra` lines are appended.
fn client_config(dir: &Path, addr: &str, session: u8, store: &str, extra: &str) -> Result<PathBuf> {
    let text = std::fs::read_to_string(repo("deploy/fix-client.example.toml"))?;
    let mut text = text
        .replace("\"127.0.0.1:9878\"", &format!("\"{addr}\""))
        .replace(
            "\"/tmp/tickwarp-fix-client/CLIENT1\"",
            &format!("\"{}\"", dir.join(store).display()),
        );
    if session == 2 {
        text = text
            .replace("\"CLIENT1\"", "\"CLIENT2\"")
            .replace("username = \"client1\"\n", "")
            .replace("\"change-me\"", "\"change-me-too\"")
            .replace("account = 101", "account = 102");
    }
    text.push_str(extra);
    let path = dir.join(format!("{store}.toml"));
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Runs the client to its end with `args` and `stdin`; bounded.
fn run_client(config: &Path, args: &[&str], stdin: &str) -> Result<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .arg("fix-client")
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning tickwarp fix-client")?;
    let mut input = child.stdin.take().context("client stdin")?;
    input.write_all(stdin.as_bytes())?;
    drop(input);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(WAIT) {
        Ok(out) => Ok(out?),
        Err(_) => bail!("fix-client did not exit within {WAIT:?}"),
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Fails unless `out` exited 0 and printed each of `lines` (prefixes of whole lines).
fn check(out: &Output, lines: &[&str]) -> Result<()> {
    let text = stdout(out);
    ensure!(
        out.status.success(),
        "fix-client failed ({}):\n{text}\nstderr:\n{}",
        out.status,
        stderr(out)
    );
    for want in lines {
        ensure!(
            text.lines().any(|l| l.starts_with(want)),
            "no line starting `{want}` in:\n{text}\nstderr:\n{}",
            stderr(out)
        );
    }
    Ok(())
}

/// A client driven line by line (stdin open), its stdout read on a thread.
struct Interactive {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Interactive {
    fn start(config: &Path) -> Result<Interactive> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
            .arg("fix-client")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("spawning tickwarp fix-client")?;
        let stdin = child.stdin.take();
        let out = child.stdout.take().context("client stdout")?;
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Interactive {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        })
    }

    fn send(&mut self, line: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().context("stdin closed")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    /// Waits for a line starting with `prefix`; returns it.
    fn expect(&mut self, prefix: &str) -> Result<String> {
        loop {
            match self.lines.recv_timeout(WAIT) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return Ok(line);
                    }
                }
                Err(_) => bail!(
                    "no line starting `{prefix}` within {WAIT:?}; saw {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Closes stdin and waits for the exit status.
    fn finish(mut self) -> Result<std::process::ExitStatus> {
        drop(self.stdin.take());
        self.expect("LOGGED OUT")?;
        for _ in 0..(WAIT.as_millis() / 50) {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        bail!("fix-client did not exit within {WAIT:?} after its input ended")
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_example_configs_trade_and_sequence_numbers_persist_across_runs() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gw = Gateway::start(dir.path(), None)?;
    let c1 = client_config(dir.path(), &gw.addr, 1, "c1", "")?;
    let c2 = client_config(dir.path(), &gw.addr, 2, "c2", "")?;

    // A buy above the house bid rests; the example liquidity does not cross it.
    let out = run_client(
        &c1,
        &["--expect-ack", "buy", "100", "ACME", "@", "99.97"],
        "",
    )?;
    check(
        &out,
        &[
            "LOGON sent (MsgSeqNum 1,",
            "LOGGED ON as CLIENT1 to TICKWARP",
            "SENT a1 buy 100 ACME @ 99.97",
            "ACK  a1 buy 100 ACME @ 99.97 new",
            "LOGOUT sent",
            "LOGGED OUT",
        ],
    )?;
    ensure!(
        !stdout(&out).contains("FILL"),
        "the buy filled:\n{}",
        stdout(&out)
    );

    // The second session's sell fills it.
    let out = run_client(&c2, &["--expect-fill"], "sell 40 ACME @ 99.97\n")?;
    check(
        &out,
        &[
            "ACK  a1 sell 40 ACME @ 99.97",
            "FILL a1 40 @ 99.97 (cum 40, leaves 0)",
        ],
    )?;

    // The first session's second run continues its sequence numbers, gets the fill that
    // happened while it was away, and numbers its orders b1, b2, …
    // and still knows its orders by the IDs printed in the first run.
    let out = run_client(&c1, &[], "status all\ncancel a1\n")?;
    let text = stdout(&out);
    check(
        &out,
        &[
            "LOGGED ON as CLIENT1",
            "FILL a1 40 @ 99.97 (cum 40, leaves 60)",
            "SENT b2 cancel a1",
            "CANCELED b2 (order a1, cum 40)",
        ],
    )?;
    ensure!(
        !text.contains("LOGON sent (MsgSeqNum 1,"),
        "second run started again at MsgSeqNum 1:\n{text}"
    );
    ensure!(
        text.contains("SENT b1 status all"),
        "run prefix not b:\n{text}"
    );
    Ok(())
}

#[test]
fn an_interactive_session_replaces_and_cancels() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gw = Gateway::start(dir.path(), None)?;
    let c1 = client_config(dir.path(), &gw.addr, 1, "c1", "")?;
    let mut client = Interactive::start(&c1)?;
    client.expect("LOGGED ON")?;
    client.send("buy 10 ACME @ 99.5")?;
    client.expect("ACK  a1 buy 10 ACME @ 99.5 new")?;
    client.send("replace a1 qty 20 @ 99.6")?;
    client.expect("REPLACED a2 (was a1) buy 20 ACME @ 99.6 (cum 0, leaves 20)")?;
    // The user still names the order by the ID first printed for it.
    client.send("cancel a1")?;
    let line = client.expect("CANCELED a3")?;
    ensure!(
        line.contains("order a2"),
        "cancel went to the old ClOrdID: {line}"
    );
    client.send("cancel a1")?;
    client.expect("REJECT a4: cancel of a2")?;
    let status = client.finish()?;
    ensure!(status.success(), "exit status {status}");
    Ok(())
}

#[test]
fn an_unknown_symbol_is_rejected_and_expectations_set_the_exit_status() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gw = Gateway::start(dir.path(), None)?;
    let c1 = client_config(dir.path(), &gw.addr, 1, "c1", "")?;
    let out = run_client(&c1, &["--expect-reject", "buy 5 NOPE @ 1"], "")?;
    check(&out, &["REJECT a1: unknown Symbol (55)"])?;
    ensure!(stdout(&out).contains("(reason 1)"), "{}", stdout(&out));

    let out = run_client(&c1, &["--expect-fill", "buy 5 NOPE @ 1"], "")?;
    ensure!(!out.status.success(), "--expect-fill passed on a reject");
    ensure!(
        stderr(&out).contains("expected a fill: b1 was rejected"),
        "stderr: {}",
        stderr(&out)
    );

    // No answer in time is a failure too: an order resting below the best bid never fills.
    let out = run_client(
        &c1,
        &["--expect-fill", "--timeout", "0.5", "buy 1 ACME @ 99"],
        "",
    )?;
    ensure!(!out.status.success(), "--expect-fill passed without a fill");
    ensure!(
        stderr(&out).contains("no answer in time"),
        "stderr: {}",
        stderr(&out)
    );
    Ok(())
}

#[test]
fn a_bad_command_leaves_the_session_up_and_end_of_input_logs_out() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gw = Gateway::start(dir.path(), None)?;
    let c1 = client_config(dir.path(), &gw.addr, 1, "c1", "")?;
    let out = run_client(
        &c1,
        &["--raw"],
        "frobnicate 3\nbuy 0 ACME @ 1\ncancel nosuch\nbuy 3 ACME @ 99\n",
    )?;
    check(
        &out,
        &[
            "ACK  a1 buy 3 ACME @ 99 new",
            "LOGOUT sent",
            "LOGOUT from gateway",
            "LOGGED OUT",
        ],
    )?;
    let err = stderr(&out);
    for want in [
        "unknown command `frobnicate`",
        "bad quantity `0`",
        "unknown order nosuch",
        "usage:",
    ] {
        ensure!(err.contains(want), "no `{want}` on stderr:\n{err}");
    }
    let text = stdout(&out);
    ensure!(
        text.contains(">> 8=FIX.4.4|"),
        "--raw printed no frame:\n{text}"
    );
    ensure!(text.contains("554=***|"), "password not masked:\n{text}");
    ensure!(!text.contains("change-me"), "password printed:\n{text}");
    Ok(())
}

#[test]
fn ctrl_c_logs_out() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gw = Gateway::start(dir.path(), None)?;
    let c1 = client_config(dir.path(), &gw.addr, 1, "c1", "")?;
    let mut client = Interactive::start(&c1)?;
    client.expect("LOGGED ON")?;
    client.send("buy 1 ACME @ 99")?;
    client.expect("ACK  a1")?;
    let pid = client.child.id().to_string();
    let killed = Command::new("kill").args(["-INT", &pid]).status()?;
    ensure!(killed.success(), "kill -INT {pid} failed");
    client.expect("INTERRUPTED: logging out")?;
    let status = client.finish()?;
    ensure!(status.success(), "exit status {status}");
    Ok(())
}

#[test]
fn status_mass_cancel_and_positions() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gw = Gateway::start(dir.path(), None)?;
    let c1 = client_config(dir.path(), &gw.addr, 1, "c1", "")?;
    let mut client = Interactive::start(&c1)?;
    client.expect("LOGGED ON")?;
    client.send("buy 10 ACME @ 99.5")?;
    client.expect("ACK  a1")?;
    client.send("buy 5 ACME @ 100.05")?;
    client.expect("FILL a2 5 @ 100.05")?;
    client.send("status a1")?;
    client.expect("STATUS a1 buy 10 ACME @ 99.5 new (cum 0, leaves 10")?;
    client.send("status all")?;
    client.expect("STATUS a1")?;
    client.send("positions")?;
    client.expect("POSITIONS a4:")?;
    client.expect("POSITION ACME")?;
    client.send("cancel all ACME")?;
    client.expect("MASS-CANCEL a5 accepted")?;
    client.expect("CANCELED")?;
    let status = client.finish()?;
    ensure!(status.success(), "exit status {status}");
    Ok(())
}

mod tls {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };

    /// Writes ca.crt, server.crt/key and client.crt/key into `dir`.
    fn make_pki(dir: &Path) -> Result<()> {
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(DnType::CommonName, "tickwarp test CA");
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate()?;
        let ca = p.self_signed(&ca_key)?;
        let leaf = |cn: &str, names: Vec<String>, usage| -> Result<(String, String)> {
            let mut p = CertificateParams::new(names)?;
            p.distinguished_name.push(DnType::CommonName, cn);
            p.extended_key_usages = vec![usage];
            let key = KeyPair::generate()?;
            let cert = p.signed_by(&key, &ca, &ca_key)?;
            Ok((cert.pem(), key.serialize_pem()))
        };
        let (server, server_key) = leaf(
            "localhost",
            vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let (client, client_key) =
            leaf("CLIENT1", Vec::new(), ExtendedKeyUsagePurpose::ClientAuth)?;
        std::fs::write(dir.join("ca.crt"), ca.pem())?;
        std::fs::write(dir.join("server.crt"), server)?;
        std::fs::write(dir.join("server.key"), server_key)?;
        std::fs::write(dir.join("client.crt"), client)?;
        std::fs::write(dir.join("client.key"), client_key)?;
        Ok(())
    }

    #[test]
    fn a_tls_gateway_with_client_certificates_is_reached() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        make_pki(d)?;
        let tls = format!(
            "tls = {{ cert = \"{}\", key = \"{}\", client_ca = \"{}\" }}",
            d.join("server.crt").display(),
            d.join("server.key").display(),
            d.join("ca.crt").display()
        );
        let gw = Gateway::start(d, Some(&tls))?;
        let with_cert = "tls = { ca = \"ca.crt\", cert = \"client.crt\", key = \"client.key\", server_name = \"localhost\" }\n";
        let c1 = client_config(d, &gw.addr, 1, "c1", with_cert)?;
        let out = run_client(&c1, &["--expect-ack", "buy 1 ACME @ 99"], "")?;
        check(
            &out,
            &["LOGGED ON as CLIENT1", "ACK  a1 buy 1 ACME @ 99 new"],
        )?;

        // Without the client certificate the gateway refuses the handshake.
        let no_cert = "tls = { ca = \"ca.crt\", server_name = \"localhost\" }\n";
        let c2 = client_config(d, &gw.addr, 1, "c1-nocert", no_cert)?;
        let out = run_client(&c2, &["buy 1 ACME @ 99"], "")?;
        ensure!(
            !out.status.success(),
            "logged on without a client certificate"
        );
        ensure!(!stdout(&out).contains("LOGGED ON"), "{}", stdout(&out));
        Ok(())
    }
}
