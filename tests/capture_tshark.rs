//! End to end: `tickwarp capture` writes a pcap of a real soft-iWARP session, and
//! Wireshark's own dissectors (`iwarp_mpa`, `iwarp_ddp_rdmap`) decode every frame of
//! it without a malformed packet, a bad CRC or an expert error.
//!
//! Needs `tshark` (CI installs it). Without it the test is skipped with a message,
//! except under CI (`CI` set), where a missing tshark fails the test.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};

/// Expert warnings tshark 4.0 raises on valid RFC 6581 (MPA revision 2) frames: its
/// dissector only knows RFC 5044 (see shared/siw-vm/README.md, "tshark").
const RFC6581_UNKNOWN_TO_TSHARK: [&str; 2] = [
    "Res field is NOT set to zero as required by RFC 5044",
    "Rev field is NOT set to one as required by RFC 5044",
];

fn tshark_available() -> Result<bool> {
    match Command::new("tshark").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(true),
        _ if std::env::var_os("CI").is_some() => bail!("tshark is required under CI"),
        _ => {
            eprintln!("skipped: tshark not installed (apt-get install tshark)");
            Ok(false)
        }
    }
}

/// Runs tshark on `pcap`. The application protocols that tshark guesses from SEND
/// payloads (RPC-over-RDMA, SMB Direct) are turned off: our test payloads are neither,
/// and a guess that fails is reported as a malformed packet of that protocol.
fn tshark(pcap: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("tshark")
        .args([
            "--disable-protocol",
            "rpcordma",
            "--disable-protocol",
            "smb_direct",
        ])
        .arg("-r")
        .arg(pcap)
        .args(args)
        .output()
        .context("running tshark")?;
    ensure!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `tickwarp capture` with `args` and checks the capture with tshark.
fn capture_decodes_cleanly(args: &[&str], crc: bool) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pcap = dir.path().join("session.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .arg("capture")
        .arg("--out")
        .arg(&pcap)
        .args(args)
        .output()
        .context("running tickwarp capture")?;
    ensure!(
        out.status.success(),
        "tickwarp capture {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let expert = tshark(&pcap, &["-q", "-z", "expert"])?;
    // Sections look like "Warns (4)", a rule, a column header, then one row per kind.
    let mut section = "";
    for line in expert.lines() {
        if let Some((name, _)) = line.split_once(" (") {
            if !name.starts_with(' ') && !name.is_empty() {
                section = name;
                continue;
            }
        }
        let is_row = line.trim_start().starts_with(|c: char| c.is_ascii_digit());
        match section {
            "Errors" => bail!("tshark reports expert errors for {args:?}:\n{expert}"),
            "Warns" if is_row => ensure!(
                RFC6581_UNKNOWN_TO_TSHARK.iter().any(|ok| line.contains(ok)),
                "unexpected tshark warning for {args:?}: {line}\n{expert}"
            ),
            _ => {}
        }
    }

    let verbose = tshark(&pcap, &["-V"])?;
    ensure!(
        !verbose.contains("Malformed") && !verbose.contains("Bad CRC"),
        "malformed frame or bad CRC in the capture of {args:?}"
    );
    let summary = tshark(&pcap, &[])?;
    for expected in [
        "MPA Request Frame",
        "MPA Reply Frame",
        "Send",
        "Write",
        "Read Request",
        "Read Response",
    ] {
        ensure!(
            summary.contains(expected),
            "no '{expected}' frame decoded in the capture of {args:?}:\n{summary}"
        );
    }
    let fpdus = verbose.matches("ULPDU length:").count();
    let good_crc = verbose.matches("(Good CRC32)").count();
    if crc {
        ensure!(
            good_crc == fpdus && fpdus > 0,
            "{good_crc} good CRCs for {fpdus} FPDUs with CRC on ({args:?})"
        );
    } else {
        ensure!(
            good_crc == 0,
            "CRC checked on {good_crc} FPDUs with CRC off ({args:?})"
        );
    }
    Ok(())
}

#[test]
fn capture_decodes_with_crc_on_and_off_v2_and_v1() -> Result<()> {
    if !tshark_available()? {
        return Ok(());
    }
    capture_decodes_cleanly(&["--crc"], true)?;
    capture_decodes_cleanly(&[], false)?;
    capture_decodes_cleanly(&["--mpa-v1", "--crc", "--size", "1"], true)?;
    capture_decodes_cleanly(&["--mpa-v1", "--size", "1"], false)
}

#[test]
fn multi_segment_messages_decode() -> Result<()> {
    if !tshark_available()? {
        return Ok(());
    }
    // 200 KB per message: several FPDUs each, DDP MO / TO advancing per segment.
    capture_decodes_cleanly(&["--crc", "--size", "200000", "--rounds", "2"], true)
}

/// A `tickwarp rping --server` on a loopback port the kernel picks, killed on drop.
struct RpingServer {
    child: std::process::Child,
    addr: String,
}

impl RpingServer {
    /// Starts the server with `extra` arguments; waits (bounded) for its address.
    fn start(extra: &[&str]) -> Result<RpingServer> {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;
        let mut child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
            .args([
                "rping",
                "--server",
                "127.0.0.1:0",
                "--backend",
                "soft",
                "-P",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting tickwarp rping --server")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Drains the server's stdout for its whole life (a closed pipe would kill it).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut server = RpingServer {
            child,
            addr: String::new(),
        };
        loop {
            let line = rx
                .recv_timeout(std::time::Duration::from_secs(30))
                .context("the rping server did not say where it listens within 30 s")?;
            if let Some(rest) = line.strip_prefix("rping server: listening on ") {
                server.addr = rest.split_whitespace().next().unwrap_or_default().into();
                return Ok(server);
            }
        }
    }

    fn port(&self) -> &str {
        self.addr.rsplit_once(':').map_or("", |(_, p)| p)
    }
}

impl Drop for RpingServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tickwarp probe` against `server` with `args` and `--capture pcap`; returns its
/// exit code.
fn probe_captured(server: &RpingServer, pcap: &Path, args: &[&str]) -> Result<Option<i32>> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args([
            "probe",
            &server.addr,
            "--timeout",
            "5",
            "--json",
            "--capture",
        ])
        .arg(pcap)
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting tickwarp probe")?;
    // The probe bounds every step by --timeout; this bounds the whole run.
    for _ in 0..1200 {
        if let Some(status) = child.try_wait()? {
            return Ok(status.code());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    bail!("tickwarp probe {args:?} did not finish within 60 s")
}

/// Decodes `pcap` (tshark's MPA dissector is heuristic only, it cannot be bound to a
/// port with `-d`: it finds each flow by its MPA Request/Reply) and checks every frame
/// kind of rping's protocol is there, on the server's `port`.
fn decodes_rping(pcap: &Path, port: &str) -> Result<String> {
    let summary = tshark(pcap, &[])?;
    ensure!(
        summary.contains(&format!("{port} ")) || summary.contains(&format!(" {port}")),
        "no frame of port {port} in {}:\n{summary}",
        pcap.display()
    );
    for expected in [
        "MPA Request Frame",
        "MPA Reply Frame",
        "Send",
        "Write",
        "Read Request",
        "Read Response",
    ] {
        ensure!(
            summary.contains(expected),
            "no '{expected}' frame decoded in {}:\n{summary}",
            pcap.display()
        );
    }
    let verbose = tshark(pcap, &["-V"])?;
    ensure!(
        !verbose.contains("Malformed") && !verbose.contains("Bad CRC"),
        "malformed frame or bad CRC in {}",
        pcap.display()
    );
    Ok(summary)
}

#[test]
fn probe_and_rping_server_captures_decode() -> Result<()> {
    if !tshark_available()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let server_pcap = dir.path().join("server.pcap");
    let server_arg = server_pcap.to_string_lossy().into_owned();
    let server = RpingServer::start(&["-S", "4096", "--capture", &server_arg])?;

    let pcap = dir.path().join("probe.pcap");
    let code = probe_captured(&server, &pcap, &["--crc", "--size", "4096"])?;
    ensure!(code == Some(0), "the probe failed ({code:?})");
    decodes_rping(&pcap, server.port())?;

    // A failing run: a source larger than the server's buffer; its capture decodes too.
    let small = RpingServer::start(&["-S", "64"])?;
    let failed = dir.path().join("failed.pcap");
    let code = probe_captured(&small, &failed, &["--size", "4096"])?;
    ensure!(code == Some(1), "the probe did not fail ({code:?})");
    decodes_rping(&failed, small.port())?;

    // The server flushes each connection as it closes: its file decodes though the
    // server is killed.
    let port = server.port().to_string();
    drop(server);
    decodes_rping(&server_pcap, &port)?;
    Ok(())
}
