//! `tickwarp compute serve` and `tickwarp compute price --server` end to end over the
//! soft-iWARP backend on loopback, running the real binary: for every model the remote
//! `--json` output equals the local one byte for byte (serde_json prints the shortest
//! string that round-trips an f64, so equal text is equal bits), and a bad parameter
//! exits 2 naming the flag. Every wait is bounded.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_gateway::service::rdma_auth::hash_token;

const TOKEN: &str = "e2e-compute-token";
const WAIT: Duration = Duration::from_secs(60);

/// A running `tickwarp compute serve`, killed on drop.
struct Server {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
    token_file: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Result<Server> {
    let dir = tempfile::tempdir()?;
    let creds = dir.path().join("credentials.toml");
    let mut f = std::fs::File::create(&creds)?;
    writeln!(
        f,
        "[[tokens]]\naccount = 42\ntoken_hash = \"{}\"",
        hash_token(TOKEN.as_bytes())?
    )?;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n"))?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args([
            "compute",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--backend",
            "soft",
        ])
        .args(["--threads", "2", "--credentials"])
        .arg(&creds)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting tickwarp compute serve")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let mut server = Server {
        child,
        addr: String::new(),
        _dir: dir,
        token_file,
    };
    let line = rx
        .recv_timeout(WAIT)
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

/// Runs `tickwarp compute price` with `args`, bounded by `--timeout-ms` for remote
/// calls; returns (exit code, stdout, stderr).
fn price(args: &[&str]) -> Result<(Option<i32>, String, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args(["compute", "price"])
        .args(args)
        .output()?;
    Ok((
        out.status.code(),
        String::from_utf8(out.stdout)?,
        String::from_utf8(out.stderr)?,
    ))
}

const COMMON: [&str; 12] = [
    "--spot", "100", "--strike", "97.5", "--rate", "0.04", "--div", "0.015", "--expiry", "0.8",
    "--json", "--type",
];

fn models() -> Vec<Vec<&'static str>> {
    let heston = [
        "--model", "heston", "--kappa", "1.2", "--theta", "0.05", "--xi", "0.4", "--rho", "-0.65",
        "--v0", "0.045",
    ];
    vec![
        vec!["--model", "black-scholes", "--vol", "0.3"],
        vec!["--model", "american", "--vol", "0.3", "--steps", "300"],
        vec![
            "--model",
            "american",
            "--vol",
            "0.3",
            "--steps",
            "300",
            "--tree",
            "leisen-reimer",
        ],
        vec![
            "--model", "asian-mc", "--vol", "0.3", "--paths", "30000", "--seed", "17",
        ],
        vec![
            "--model", "asian-mc", "--vol", "0.3", "--paths", "30000", "--seed", "18", "--steps",
            "52",
        ],
        heston.to_vec(),
    ]
}

#[test]
fn remote_prices_equal_local_prices_bit_for_bit() -> Result<()> {
    let srv = start()?;
    let token_file = srv.token_file.to_string_lossy().into_owned();
    let remote = [
        "--server",
        srv.addr.as_str(),
        "--account",
        "42",
        "--token-file",
        token_file.as_str(),
        "--backend",
        "soft",
        "--timeout-ms",
        "60000",
    ];
    for model in models() {
        for kind in ["call", "put"] {
            let mut args: Vec<&str> = COMMON.to_vec();
            args.push(kind);
            args.extend(&model);
            let mut local = vec!["--local"];
            local.extend(&args);
            let mut far = remote.to_vec();
            far.extend(&args);
            let (lc, lout, lerr) = price(&local)?;
            let (rc, rout, rerr) = price(&far)?;
            ensure!(lc == Some(0), "{local:?}: exit {lc:?}: {lerr}");
            ensure!(rc == Some(0), "{far:?}: exit {rc:?}: {rerr}");
            ensure!(lout.contains("\"price\""), "{lout}");
            ensure!(lout == rout, "{model:?} {kind}: local {lout} remote {rout}");
        }
    }
    // A bad parameter: the server refuses it, the client exits 2 naming the flag.
    let mut args: Vec<&str> = remote.to_vec();
    args.extend(COMMON);
    args.extend(["call", "--model", "black-scholes", "--vol", "-0.3"]);
    let (code, out, err) = price(&args)?;
    ensure!(
        code == Some(2) && out.is_empty(),
        "exit {code:?}: {out} {err}"
    );
    ensure!(err.contains("--vol"), "{err}");
    // A wrong token: refused at connection, exit 1 with the server's reason.
    let bad = srv._dir.path().join("bad-token");
    std::fs::write(&bad, "wrong")?;
    let bad = bad.to_string_lossy().into_owned();
    let mut args = vec![
        "--server",
        srv.addr.as_str(),
        "--account",
        "42",
        "--token-file",
        bad.as_str(),
        "--backend",
        "soft",
    ];
    args.extend(COMMON);
    args.extend(["call", "--model", "black-scholes", "--vol", "0.3"]);
    let (code, _, err) = price(&args)?;
    ensure!(code == Some(1), "exit {code:?}: {err}");
    ensure!(err.contains("authentication failed"), "{err}");
    Ok(())
}
