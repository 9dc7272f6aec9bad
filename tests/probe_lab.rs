//! The probe's lab: three network namespaces (client, router, server) joined by veth
//! pairs, an iWARP server (or an HTTP or a silent one) in the server namespace, faults
//! put on the router with nftables (or a small python3 relay there that re-chunks or
//! rewrites the stream, an MTU, conntrack settings), and `tickwarp probe --json` run in
//! the client namespace. Each case checks the layer the probe names and a key phrase of its verdict.
//!
//! Needs root, `ip` (iproute2), `nft` (nftables) and `python3` (the non-iWARP servers);
//! without them every case is skipped with a message, and fails under `CI=1`. Every
//! namespace is created and deleted by its own case (a Drop guard; names carry the
//! process id and a counter), so the host's namespace and rules are never touched. Every
//! wait is bounded; the probe's own `--timeout 2` is the only timeout in play.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

/// Longest a probe run may take (a loaded 2-core machine; the probe waits 2 s per step).
const RUN_BOUND: Duration = Duration::from_secs(60);
/// Longest a server may take to say it listens.
const READY_BOUND: Duration = Duration::from_secs(30);
/// Pause between checks of a running child.
const POLL: Duration = Duration::from_millis(50);
/// The server's address in the lab.
const SERVER: &str = "10.77.2.2";
/// The port every server listens on and every fault names.
const PORT: u16 = 7174;
/// The MPA Request key "MPA ID Req Frame" as the 128-bit number nft compares with the
/// first 16 bytes after the TCP header (`@ih,0,128`).
const MPA_REQ_KEY: &str = "0x4d504120494420526571204672616d65";

/// Tells why the lab cannot run here, if it cannot.
fn missing() -> Option<String> {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false);
    if !root {
        return Some("not root (network namespaces and nftables need it)".into());
    }
    for (tool, arg) in [("ip", "-V"), ("nft", "--version"), ("python3", "--version")] {
        let ok = Command::new(tool)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Some(format!(
                "`{tool}` is missing (install iproute2, nftables, python3)"
            ));
        }
    }
    None
}

/// True when the lab can run; otherwise says so (and fails under `CI=1`).
fn lab_ready(case: &str) -> bool {
    match missing() {
        None => true,
        Some(why) => {
            assert!(
                std::env::var_os("CI").is_none_or(|v| v != "1"),
                "probe lab case {case} cannot run under CI=1: {why}"
            );
            // Straight to stderr: the test harness captures `eprintln!` of passing tests.
            let _ = writeln!(std::io::stderr(), "SKIPPED probe lab case {case}: {why}");
            false
        }
    }
}

/// Runs `cmd`, failing with its output when it does not succeed.
fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    ensure!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Distinguishes the labs of one test process.
static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// Three namespaces, client 10.77.1.2 -- 10.77.1.1 router 10.77.2.1 -- 10.77.2.2 server,
/// and the children started in them; all removed on drop.
struct Lab {
    names: Vec<String>,
    children: Vec<Child>,
}

impl Lab {
    fn new() -> Result<Lab> {
        let tag = format!(
            "twprobe{}x{}",
            std::process::id(),
            NEXT_LAB.fetch_add(1, Ordering::Relaxed)
        );
        let mut lab = Lab {
            names: Vec::new(),
            children: Vec::new(),
        };
        for role in ["c", "r", "s"] {
            let name = format!("{tag}{role}");
            run(
                Command::new("ip").args(["netns", "add", &name]),
                "ip netns add",
            )?;
            lab.names.push(name);
        }
        let (c, r, s) = (lab.ns("c"), lab.ns("r"), lab.ns("s"));
        let steps: Vec<Vec<&str>> = vec![
            vec![
                "link", "add", "c0", "netns", c, "type", "veth", "peer", "name", "r0", "netns", r,
            ],
            vec![
                "link", "add", "s0", "netns", s, "type", "veth", "peer", "name", "r1", "netns", r,
            ],
            vec!["-n", c, "addr", "add", "10.77.1.2/24", "dev", "c0"],
            vec!["-n", r, "addr", "add", "10.77.1.1/24", "dev", "r0"],
            vec!["-n", r, "addr", "add", "10.77.2.1/24", "dev", "r1"],
            vec!["-n", s, "addr", "add", "10.77.2.2/24", "dev", "s0"],
            vec!["-n", c, "link", "set", "lo", "up"],
            vec!["-n", r, "link", "set", "lo", "up"],
            vec!["-n", s, "link", "set", "lo", "up"],
            vec!["-n", c, "link", "set", "c0", "up"],
            vec!["-n", r, "link", "set", "r0", "up"],
            vec!["-n", r, "link", "set", "r1", "up"],
            vec!["-n", s, "link", "set", "s0", "up"],
            vec!["-n", c, "route", "add", "default", "via", "10.77.1.1"],
            vec!["-n", s, "route", "add", "default", "via", "10.77.2.1"],
        ];
        for step in &steps {
            run(
                Command::new("ip").args(step),
                &format!("ip {}", step.join(" ")),
            )?;
        }
        run(
            lab.exec("r")
                .args(["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
            "enabling forwarding on the router",
        )?;
        Ok(lab)
    }

    /// The namespace of role `c`, `r` or `s`.
    fn ns(&self, role: &str) -> &str {
        let at = ["c", "r", "s"].iter().position(|r| *r == role).unwrap_or(0);
        &self.names[at]
    }

    /// `ip netns exec NS` for role `role`.
    fn exec(&self, role: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.ns(role)]);
        cmd
    }

    /// Puts `rule` in the router's forward hook.
    fn fault(&self, rule: &str) -> Result<()> {
        self.ruleset(&format!(
            "table ip probe_lab {{\n chain guard {{\n  type filter hook forward priority 0; \
             policy accept;\n  {rule}\n }}\n}}\n"
        ))
    }

    /// Loads an nftables `ruleset` in the router.
    fn ruleset(&self, ruleset: &str) -> Result<()> {
        let mut child = self
            .exec("r")
            .args(["nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting nft")?;
        child
            .stdin
            .take()
            .context("nft stdin")?
            .write_all(ruleset.as_bytes())?;
        let out = wait_bounded(child, RUN_BOUND, "nft")?;
        ensure!(
            out.status.success(),
            "nft refused {ruleset:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// A TCP relay in the router that the client's connections to the server are
    /// redirected to (DNAT to 10.77.1.1:7175): `chunk` forwards both ways in 7-byte
    /// writes (tiny TCP segments), `flip` flips one bit in the middle of every
    /// client-to-server read of 512 bytes or more (a box that rewrites payload).
    fn relay(&mut self, mode: &str) -> Result<()> {
        let script = "import socket,sys,threading\n\
            s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
            s.bind((sys.argv[1],int(sys.argv[2])));s.listen(8)\n\
            up=(sys.argv[3],int(sys.argv[4]));mode=sys.argv[5]\n\
            def pump(a,b,flip):\n\
            \x20try:\n\
            \x20\x20while True:\n\
            \x20\x20\x20d=a.recv(65536)\n\
            \x20\x20\x20if not d: break\n\
            \x20\x20\x20if flip and len(d)>=512:\n\
            \x20\x20\x20\x20d=bytearray(d);d[len(d)//2]^=0x20;d=bytes(d)\n\
            \x20\x20\x20if mode=='chunk':\n\
            \x20\x20\x20\x20for i in range(0,len(d),7): b.sendall(d[i:i+7])\n\
            \x20\x20\x20else: b.sendall(d)\n\
            \x20except OSError: pass\n\
            \x20for x in (a,b):\n\
            \x20\x20try: x.shutdown(socket.SHUT_RDWR)\n\
            \x20\x20except OSError: pass\n\
            print('listening',flush=True)\n\
            while True:\n\
            \x20c,_=s.accept();u=socket.create_connection(up)\n\
            \x20for x in (c,u): x.setsockopt(socket.IPPROTO_TCP,socket.TCP_NODELAY,1)\n\
            \x20threading.Thread(target=pump,args=(c,u,mode=='flip'),daemon=True).start()\n\
            \x20threading.Thread(target=pump,args=(u,c,False),daemon=True).start()\n";
        let port = PORT.to_string();
        self.serve_in(
            "r",
            &[
                "python3",
                "-c",
                script,
                "10.77.1.1",
                "7175",
                SERVER,
                &port,
                mode,
            ],
            "listening",
        )?;
        self.ruleset(&format!(
            "table ip probe_relay {{\n chain pre {{\n  type nat hook prerouting priority -100; \
             policy accept;\n  ip daddr {SERVER} tcp dport {PORT} dnat to 10.77.1.1:7175\n \
             }}\n}}\n"
        ))
    }

    /// Starts `cmd` in the server namespace and waits for a stdout line containing
    /// `ready`.
    fn serve(&mut self, args: &[&str], ready: &str) -> Result<()> {
        self.serve_in("s", args, ready)
    }

    /// Starts `cmd` in the namespace of `role` and waits for a stdout line containing
    /// `ready`.
    fn serve_in(&mut self, role: &str, args: &[&str], ready: &str) -> Result<()> {
        let mut child = self
            .exec(role)
            .args(args)
            .stdout(Stdio::piped())
            // The server's complaints (a handshake that never came) show beside a failure.
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {args:?}"))?;
        let stdout = child.stdout.take().context("server stdout")?;
        self.children.push(child);
        let (tx, rx) = mpsc::channel();
        // Drains the server's stdout for its whole life (a closed pipe would kill it at
        // its next line), passing lines on while someone listens.
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        loop {
            match rx.recv_timeout(READY_BOUND) {
                Ok(line) if line.contains(ready) => return Ok(()),
                Ok(_) => {}
                Err(_) => bail!("{args:?} did not print {ready:?} within {READY_BOUND:?}"),
            }
        }
    }

    /// `tickwarp rping --server` in the server namespace (persistent: the probe
    /// connects three times), with a 64-byte buffer.
    fn rping_server(&mut self) -> Result<()> {
        self.rping_server_sized(64)
    }

    /// `tickwarp rping --server -S size`: the largest FPDU the path checks send.
    fn rping_server_sized(&mut self, size: u32) -> Result<()> {
        let addr = format!("{SERVER}:{PORT}");
        let bin = env!("CARGO_BIN_EXE_tickwarp");
        let size = size.to_string();
        self.serve(
            &[
                bin,
                "rping",
                "--server",
                &addr,
                "--backend",
                "soft",
                "-P",
                "-S",
                &size,
            ],
            "listening on",
        )
    }

    /// `tickwarp probe --listen` in the server namespace.
    fn responder(&mut self) -> Result<()> {
        let addr = format!("{SERVER}:{PORT}");
        let bin = env!("CARGO_BIN_EXE_tickwarp");
        self.serve(&[bin, "probe", "--listen", &addr], "listening on")
    }

    /// A non-iWARP server: `http` answers anything with an HTTP 400, `silent` accepts
    /// and never answers.
    fn python_server(&mut self, mode: &str) -> Result<()> {
        let script = "import socket,sys\n\
            s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
            s.bind((sys.argv[1],int(sys.argv[2])));s.listen(8)\n\
            print('listening',flush=True)\n\
            held=[]\n\
            while True:\n\
            \x20c,_=s.accept()\n\
            \x20if sys.argv[3]=='http':\n\
            \x20\x20c.recv(4096);c.sendall(b'HTTP/1.1 400 Bad Request\\r\\nContent-Length: 0\\r\\n\\r\\n');c.close()\n\
            \x20else:\n\
            \x20\x20held.append(c)\n";
        let port = PORT.to_string();
        self.serve(&["python3", "-c", script, SERVER, &port, mode], "listening")
    }

    /// Runs the probe in the client namespace; returns its JSON and exit status.
    fn probe(&self) -> Result<(Value, Option<i32>)> {
        self.probe_with(&[])
    }

    /// Runs the probe with `extra` arguments; returns its JSON and exit status.
    fn probe_with(&self, extra: &[&str]) -> Result<(Value, Option<i32>)> {
        let child = self
            .exec("c")
            .arg(env!("CARGO_BIN_EXE_tickwarp"))
            .args([
                "probe",
                &format!("{SERVER}:{PORT}"),
                "--timeout",
                "2",
                "--json",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the probe")?;
        let out = wait_bounded(child, RUN_BOUND, "tickwarp probe")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let json: Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "probe output is not JSON:\n{text}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        Ok((json, out.status.code()))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for name in &self.names {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
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

/// Checks that the probe failed at `layer` with `phrase` in its verdict, exit status 1,
/// and every check of the layers above skipped.
fn expect_failure(json: &Value, code: Option<i32>, layer: &str, phrase: &str) -> Result<()> {
    let shown = serde_json::to_string_pretty(json)?;
    ensure!(
        json["ok"] == Value::Bool(false),
        "ok is not false:\n{shown}"
    );
    ensure!(
        json["failed_layer"] == Value::String(layer.into()),
        "failed_layer is not {layer:?}:\n{shown}"
    );
    let verdict = json["verdict"].as_str().unwrap_or_default();
    // Shown with --nocapture: the docs quote these.
    println!("{layer}: {verdict}");
    ensure!(
        verdict.contains(phrase),
        "verdict lacks {phrase:?}:\n{shown}"
    );
    ensure!(code == Some(1), "exit status {code:?}, not 1:\n{shown}");
    let checks = json["checks"].as_array().context("no checks")?;
    let failed = checks
        .iter()
        .position(|c| c["status"] == "fail")
        .with_context(|| format!("no failed check:\n{shown}"))?;
    ensure!(
        checks[failed]["layer"] == Value::String(layer.into()),
        "the first failed check is not at {layer}:\n{shown}"
    );
    ensure!(
        checks[failed + 1..]
            .iter()
            .all(|c| c["layer"] == layer || c["status"] == "skip"),
        "checks of a higher layer ran after the failure:\n{shown}"
    );
    Ok(())
}

/// An rping server behind a router with `rule`; the probe must fail at `layer`.
fn fault_case(case: &str, rule: &str, layer: &str, phrase: &str) -> Result<()> {
    if !lab_ready(case) {
        return Ok(());
    }
    let mut lab = Lab::new()?;
    lab.rping_server()?;
    lab.fault(rule)?;
    let (json, code) = lab.probe()?;
    expect_failure(&json, code, layer, phrase)
}

#[test]
fn clean_path_passes_every_layer() -> Result<()> {
    if !lab_ready("clean path") {
        return Ok(());
    }
    let mut lab = Lab::new()?;
    lab.rping_server_sized(4096)?;
    let (json, code) = lab.probe_with(&["--crc", "--size", "4096"])?;
    expect_all_pass(&json, code)
}

/// Checks that every check of every layer up to the path checks passed, exit status 0.
fn expect_all_pass(json: &Value, code: Option<i32>) -> Result<()> {
    let shown = serde_json::to_string_pretty(json)?;
    ensure!(json["ok"] == Value::Bool(true), "not ok:\n{shown}");
    ensure!(json["failed_layer"].is_null(), "a layer failed:\n{shown}");
    ensure!(code == Some(0), "exit status {code:?}:\n{shown}");
    let checks = json["checks"].as_array().context("no checks")?;
    for layer in ["route", "tcp", "mpa", "negotiation", "rdmap", "path"] {
        ensure!(
            checks
                .iter()
                .any(|c| c["layer"] == layer && c["status"] == "pass"),
            "no passing {layer} check:\n{shown}"
        );
    }
    ensure!(
        checks.iter().all(|c| c["status"] == "pass"),
        "a check did not pass:\n{shown}"
    );
    let verdict = json["verdict"].as_str().unwrap_or_default();
    println!("{shown}");
    ensure!(verdict.contains("every iWARP layer"), "{shown}");
    Ok(())
}

#[test]
fn no_route_fails_at_route() -> Result<()> {
    if !lab_ready("no route") {
        return Ok(());
    }
    let lab = Lab::new()?;
    run(
        Command::new("ip").args(["-n", lab.ns("c"), "route", "del", "default"]),
        "removing the client's default route",
    )?;
    let (json, code) = lab.probe()?;
    expect_failure(&json, code, "route", "has no route to 10.77.2.2")
}

#[test]
fn tcp_reset_fails_at_tcp() -> Result<()> {
    fault_case(
        "reject with tcp reset",
        &format!("tcp dport {PORT} reject with tcp reset"),
        "tcp",
        "refused the TCP connection",
    )
}

#[test]
fn icmp_reject_fails_at_tcp() -> Result<()> {
    fault_case(
        "reject with ICMP",
        &format!("tcp dport {PORT} reject with icmp type host-unreachable"),
        "tcp",
        "an ICMP unreachable came back",
    )
}

#[test]
fn dropped_syn_fails_at_tcp() -> Result<()> {
    fault_case(
        "drop",
        &format!("tcp dport {PORT} drop"),
        "tcp",
        "got no answer within 2s",
    )
}

#[test]
fn dropped_mpa_payload_fails_at_mpa() -> Result<()> {
    fault_case(
        "drop MPA payload",
        &format!("tcp dport {PORT} @ih,0,128 {MPA_REQ_KEY} drop"),
        "mpa",
        "the MPA Request reached no TCP stack",
    )
}

#[test]
fn reset_mpa_payload_fails_at_mpa() -> Result<()> {
    fault_case(
        "reset MPA payload",
        &format!("tcp dport {PORT} @ih,0,128 {MPA_REQ_KEY} reject with tcp reset"),
        "mpa",
        "resets connections carrying `MPA ID Req Frame`",
    )
}

#[test]
fn http_server_fails_at_mpa() -> Result<()> {
    if !lab_ready("HTTP server") {
        return Ok(());
    }
    let mut lab = Lab::new()?;
    lab.python_server("http")?;
    let (json, code) = lab.probe()?;
    expect_failure(&json, code, "mpa", "with an HTTP response")
}

#[test]
fn silent_server_fails_at_mpa() -> Result<()> {
    if !lab_ready("silent server") {
        return Ok(());
    }
    let mut lab = Lab::new()?;
    lab.python_server("silent")?;
    let (json, code) = lab.probe()?;
    expect_failure(&json, code, "mpa", "acknowledged by a TCP stack")
}

#[test]
fn responder_passes_up_to_negotiation() -> Result<()> {
    if !lab_ready("probe responder") {
        return Ok(());
    }
    let mut lab = Lab::new()?;
    lab.responder()?;
    let (json, code) = lab.probe()?;
    let shown = serde_json::to_string_pretty(&json)?;
    ensure!(json["ok"] == Value::Bool(true), "not ok:\n{shown}");
    ensure!(code == Some(0), "exit status {code:?}:\n{shown}");
    let checks = json["checks"].as_array().context("no checks")?;
    let rdmap = checks
        .iter()
        .find(|c| c["layer"] == "rdmap")
        .with_context(|| format!("no rdmap row:\n{shown}"))?;
    ensure!(rdmap["status"] == "skip", "{shown}");
    let verdict = json["verdict"].as_str().unwrap_or_default();
    ensure!(
        verdict.contains("the peer is `tickwarp probe --listen`"),
        "{shown}"
    );
    Ok(())
}

#[test]
fn responder_tells_dropped_mpa_from_a_closed_path() -> Result<()> {
    if !lab_ready("probe responder, MPA payload dropped") {
        return Ok(());
    }
    let mut lab = Lab::new()?;
    lab.responder()?;
    lab.fault(&format!("tcp dport {PORT} @ih,0,128 {MPA_REQ_KEY} drop"))?;
    let (json, code) = lab.probe()?;
    expect_failure(&json, code, "mpa", "only the MPA payload is dropped")?;
    let checks = json["checks"].as_array().context("no checks")?;
    ensure!(
        checks
            .iter()
            .any(|c| c["name"] == "plain hello" && c["status"] == "pass"),
        "no passing plain hello: {json}"
    );
    Ok(())
}

#[test]
fn tiny_segments_pass_the_path_checks() -> Result<()> {
    if !lab_ready("tiny segments") {
        return Ok(());
    }
    let mut lab = Lab::new()?;
    lab.rping_server_sized(4096)?;
    lab.relay("chunk")?;
    let (json, code) = lab.probe_with(&["--crc", "--size", "4096"])?;
    expect_all_pass(&json, code)
}

#[test]
fn rewritten_payload_fails_at_path() -> Result<()> {
    if !lab_ready("payload rewrite") {
        return Ok(());
    }
    let mut lab = Lab::new()?;
    lab.rping_server_sized(4096)?;
    lab.relay("flip")?;
    let (json, code) = lab.probe_with(&["--crc", "--size", "4096"])?;
    expect_failure(&json, code, "path", "payload was modified in transit")?;
    let verdict = json["verdict"].as_str().unwrap_or_default();
    ensure!(
        verdict.contains("answered with a Terminate (MPA CRC Error)"),
        "the verdict does not decode the peer's Terminate: {json}"
    );
    let checks = json["checks"].as_array().context("no checks")?;
    ensure!(
        checks
            .iter()
            .any(|c| c["name"] == "payload integrity" && c["status"] == "fail"),
        "no failed payload integrity check: {json}"
    );
    Ok(())
}

#[test]
fn path_mtu_black_hole_fails_at_path() -> Result<()> {
    if !lab_ready("path-MTU black hole") {
        return Ok(());
    }
    let mut lab = Lab::new()?;
    lab.rping_server_sized(4096)?;
    run(
        Command::new("ip").args(["-n", lab.ns("r"), "link", "set", "r1", "mtu", "1280"]),
        "lowering the MTU of the router's far side",
    )?;
    lab.ruleset(
        "table ip probe_lab {\n chain out {\n  type filter hook output priority 0; \
         policy accept;\n  icmp type destination-unreachable icmp code frag-needed drop\n \
         }\n}\n",
    )?;
    let (json, code) = lab.probe_with(&["--size", "4096"])?;
    expect_failure(&json, code, "path", "path-MTU black hole")?;
    let verdict = json["verdict"].as_str().unwrap_or_default();
    ensure!(
        verdict.contains("a 4096-byte FPDU never arrived") && verdict.contains("up to 1024 bytes"),
        "the verdict does not say which sizes got through: {json}"
    );
    Ok(())
}

#[test]
fn conntrack_idle_timeout_fails_at_idle() -> Result<()> {
    if !lab_ready("conntrack idle timeout") {
        return Ok(());
    }
    let mut lab = Lab::new()?;
    lab.rping_server()?;
    // A mid-stream packet of a flow conntrack forgot is invalid (no loose pickup), and
    // invalid packets are dropped: a stateful firewall with a 2 s established timeout.
    lab.fault("ct state invalid drop")?;
    for setting in [
        "net.netfilter.nf_conntrack_tcp_loose=0",
        "net.netfilter.nf_conntrack_tcp_timeout_established=2",
    ] {
        run(
            lab.exec("r").args(["sysctl", "-qw", setting]),
            &format!("setting {setting} in the router"),
        )?;
    }
    let (json, code) = lab.probe_with(&["--idle", "5"])?;
    expect_failure(&json, code, "idle", "forgot the flow")
}
