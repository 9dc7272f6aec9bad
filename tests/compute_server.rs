//! `tickwarp compute serve` and `tickwarp compute price --server` end to end over the
//! soft-iWARP backend on loopback, running the real binary: for every model the remote
//! `--json` output equals the local one byte for byte (serde_json prints the shortest
//! string that round-trips an f64, so equal text is equal bits), and a bad parameter
//! exits 2 naming the flag. Every wait is bounded.

use std::process::Command;
use std::time::Duration;

mod common;

use anyhow::{Result, ensure};
use common::ComputeServer;

const TOKEN: &str = "e2e-compute-token";
const WAIT: Duration = Duration::from_secs(60);

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
    let srv = ComputeServer::start(TOKEN, 2, WAIT)?;
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
    let bad = srv.dir.path().join("bad-token");
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
