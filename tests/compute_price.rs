//! `tickwarp compute price --local` end to end: the built binary prices textbook cases
//! (Hull's European call, Hull's American put, Fang–Oosterlee's Heston case), `--json`
//! prints one object with the price (and Greeks or the Monte Carlo standard error), the
//! same seed gives the same Monte Carlo price, and every bad input exits 2 with a message
//! naming the flag and nothing on stdout.

use std::process::{Command, Output};

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use tickwarp_pricing::{Contract, OptionType, black_scholes};

fn tickwarp(args: &[&str]) -> Result<Output> {
    let mut all = vec!["compute", "price"];
    all.extend_from_slice(args);
    Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args(&all)
        .output()
        .context("running tickwarp")
}

/// Runs with `--json` and `--local`, expects success, returns the object.
fn priced(args: &[&str]) -> Result<Value> {
    let mut all = vec!["--local", "--json"];
    all.extend_from_slice(args);
    let out = tickwarp(&all)?;
    ensure!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    ensure!(
        text.lines().count() == 1,
        "one JSON line expected: {text:?}"
    );
    Ok(serde_json::from_str(&text)?)
}

fn num(v: &Value, key: &str) -> Result<f64> {
    v[key].as_f64().with_context(|| format!("no {key} in {v}"))
}

const HULL_CALL: [&str; 14] = [
    "--model",
    "black-scholes",
    "--type",
    "call",
    "--spot",
    "42",
    "--strike",
    "40",
    "--rate",
    "0.1",
    "--vol",
    "0.2",
    "--expiry",
    "0.5",
];

/// Hull (8th ed.) Example 15.6: c = 4.76; the Greeks are the library's.
#[test]
fn black_scholes_json_has_price_and_greeks() -> Result<()> {
    let v = priced(&HULL_CALL)?;
    let price = num(&v, "price")?;
    ensure!((price - 4.76).abs() < 0.005, "{v}");
    let lib = black_scholes(&Contract {
        kind: OptionType::Call,
        spot: 42.0,
        strike: 40.0,
        rate: 0.1,
        div: 0.0,
        vol: 0.2,
        expiry: 0.5,
    })?;
    let g = lib.greeks;
    for (key, want) in [
        ("price", lib.price),
        ("delta", g.delta),
        ("gamma", g.gamma),
        ("vega", g.vega),
        ("theta", g.theta),
        ("rho", g.rho),
    ] {
        let got = num(&v, key)?;
        ensure!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{key}: {got} vs {want}"
        );
    }
    Ok(())
}

/// Text output (no --json) names the price.
#[test]
fn text_output_shows_the_price() -> Result<()> {
    let mut args = vec!["--local"];
    args.extend_from_slice(&HULL_CALL);
    let out = tickwarp(&args)?;
    ensure!(out.status.success());
    let text = String::from_utf8(out.stdout)?;
    ensure!(
        text.lines()
            .any(|l| l.starts_with("price") && l.contains("4.759")),
        "{text}"
    );
    Ok(())
}

/// Hull (8th ed.) §20.1: American put S=50, K=50, r=10%, σ=40%, T=5 months: 4.283 with
/// 500 steps.
#[test]
fn american_put_on_a_tree() -> Result<()> {
    let v = priced(&[
        "--model",
        "american",
        "--type",
        "put",
        "--spot",
        "50",
        "--strike",
        "50",
        "--rate",
        "0.1",
        "--vol",
        "0.4",
        "--expiry",
        "0.4166666666666667",
        "--steps",
        "500",
    ])?;
    ensure!((num(&v, "price")? - 4.283).abs() < 1e-3, "{v}");
    ensure!(num(&v, "delta")? < 0.0, "{v}");
    ensure!(v["tree"] == "crr", "{v}");
    let lr = priced(&[
        "--model",
        "american",
        "--type",
        "put",
        "--spot",
        "50",
        "--strike",
        "50",
        "--rate",
        "0.1",
        "--vol",
        "0.4",
        "--expiry",
        "0.4166666666666667",
        "--steps",
        "500",
        "--tree",
        "leisen-reimer",
    ])?;
    ensure!((num(&lr, "price")? - 4.283).abs() < 2e-3, "{lr}");
    ensure!(lr["steps"] == 501 && lr["tree"] == "leisen-reimer", "{lr}");
    Ok(())
}

/// Fang & Oosterlee (2008) Heston case; QuantLib 1.44 gives 5.785155434376193.
#[test]
fn heston_fang_oosterlee() -> Result<()> {
    let v = priced(&[
        "--model", "heston", "--type", "call", "--spot", "100", "--strike", "100", "--rate", "0",
        "--expiry", "1", "--kappa", "1.5768", "--theta", "0.0398", "--xi", "0.5751", "--rho",
        "-0.5711", "--v0", "0.0175",
    ])?;
    ensure!(
        (num(&v, "price")? - 5.785_155_434_376_193).abs() < 1e-9,
        "{v}"
    );
    Ok(())
}

/// The Asian Monte Carlo reports its standard error, and a seed fixes the result.
#[test]
fn asian_mc_is_reproducible_by_seed() -> Result<()> {
    let args = |seed: &'static str| {
        [
            "--model", "asian-mc", "--type", "call", "--spot", "100", "--strike", "100", "--rate",
            "0.05", "--vol", "0.2", "--expiry", "1", "--paths", "20000", "--seed", seed,
        ]
    };
    let a = priced(&args("7"))?;
    let b = priced(&args("7"))?;
    let c = priced(&args("8"))?;
    ensure!(a == b, "{a} vs {b}");
    ensure!(
        num(&a, "price")? != num(&c, "price")?,
        "seeds 7 and 8 agree: {a} {c}"
    );
    let se = num(&a, "stderr")?;
    ensure!(se > 0.0 && se < 0.01, "{a}");
    ensure!(
        (num(&a, "price")? - num(&c, "price")?).abs() < 6.0 * se,
        "{a} vs {c}"
    );
    Ok(())
}

/// Bad input exits 2, names the flag on stderr and prints nothing on stdout.
#[test]
fn bad_input_exits_2_naming_the_flag() -> Result<()> {
    let bs = |replace: (&str, &str)| -> Vec<String> {
        let mut v: Vec<String> = ["--local"]
            .iter()
            .chain(HULL_CALL.iter())
            .map(|s| s.to_string())
            .collect();
        if let Some(i) = v.iter().position(|a| a == replace.0) {
            v[i + 1] = replace.1.to_string();
        }
        v
    };
    let heston = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "--local", "--model", "heston", "--type", "put", "--spot", "100", "--strike", "100",
            "--rate", "0", "--expiry", "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let mut no_local = bs(("--vol", "0.2"));
    no_local.remove(0);
    let mut with_paths = bs(("--vol", "0.2"));
    with_paths.extend(["--paths".to_string(), "1000".to_string()]);
    let full_heston = [
        "--kappa", "1.5", "--theta", "0.04", "--xi", "0.5", "--rho", "-0.5", "--v0", "0.04",
    ];
    let mut heston_vol = full_heston.to_vec();
    heston_vol.extend(["--vol", "0.2"]);
    let mut heston_rho = full_heston.to_vec();
    heston_rho[7] = "1.5";
    let mut bs_tree = bs(("--vol", "0.2"));
    bs_tree.extend(["--tree".to_string(), "crr".to_string()]);
    let mut american_steps = bs(("--model", "american"));
    american_steps.extend(["--steps".to_string(), "0".to_string()]);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (bs(("--vol", "-0.2")), "--vol"),
        (bs(("--vol", "nan")), "--vol"),
        (bs(("--vol", "inf")), "--vol"),
        (bs(("--expiry", "0")), "--expiry"),
        (bs(("--spot", "-42")), "--spot"),
        (bs(("--strike", "abc")), "--strike"),
        (bs(("--type", "straddle")), "--type"),
        (no_local, "--local"),
        (heston(&["--kappa", "1.5"]), "--theta"),
        (heston(&heston_rho), "--rho"),
        (american_steps, "--steps"),
    ];
    // Flags the model does not use: a note on stderr, and the price all the same.
    for (args, flag) in [
        (with_paths, "--paths"),
        (heston(&heston_vol), "--vol"),
        (bs_tree, "--tree"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
            .args(["compute", "price"])
            .args(&args)
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.success(),
            "{args:?}: exit {:?}, stderr {stderr}",
            out.status
        );
        ensure!(
            stderr.contains(flag) && stderr.contains("ignored"),
            "{args:?}: no note about {flag}: {stderr}"
        );
        ensure!(!out.stdout.is_empty(), "{args:?}: no price printed");
    }
    for (args, flag) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
            .args(["compute", "price"])
            .args(&args)
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.code() == Some(2),
            "{args:?}: exit {:?}, stderr {stderr}",
            out.status
        );
        ensure!(
            stderr.contains(flag),
            "{args:?}: stderr does not name {flag}: {stderr}"
        );
        ensure!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        ensure!(
            out.stdout.is_empty(),
            "{args:?}: printed {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(())
}
