//! The drop copy of `tickwarp demo` and `tickwarp run` on the real binary: a short
//! bounded run with `--drop-copy-sqlite` (demo) or `[node.drop_copy]` (run), then, after
//! the process exited, the SQLite `executions` table holds exactly the executions the
//! run's summary JSON counts, by type (fills, rejects, cancels, cancel rejects,
//! replaces, acceptances), and `orders` one row per new order in the journal with as
//! many still working as the gateway had open. The demo journals with
//! `fsync = "never"`: its records become durable (and copied) when the journal closes,
//! so this also shows that a clean exit copies everything.
//!
//! Nothing is timed: the comparison happens after the process is gone; every run is
//! bounded and killed (failing the test) if it does not end.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

mod common;
use common::run_tickwarp;

/// Longest a run may take (a loaded 2-core machine compiling other crates).
const RUN_BOUND: Duration = Duration::from_secs(180);

/// A count of the summary JSON.
fn num(summary: &Value, key: &str) -> Result<u64> {
    summary
        .get(key)
        .and_then(Value::as_u64)
        .with_context(|| format!("summary has no {key}: {summary}"))
}

/// One `select count(*)` on the copy.
fn count(db: &rusqlite::Connection, sql: &str) -> Result<u64> {
    let n: i64 = db
        .query_row(sql, [], |r| r.get(0))
        .with_context(|| sql.to_owned())?;
    Ok(u64::try_from(n)?)
}

/// Checks the copy in `db` against the summary JSON in `summary`.
fn copy_matches_summary(db: &Path, summary: &Path) -> Result<()> {
    let text = std::fs::read_to_string(summary)
        .with_context(|| format!("reading {}", summary.display()))?;
    let summary: Value = serde_json::from_str(&text).context("parsing the summary")?;
    let problems = summary.get("problems").and_then(Value::as_array);
    ensure!(
        problems.is_some_and(Vec::is_empty),
        "the run found problems: {summary}"
    );
    let db = rusqlite::Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    let fills = num(&summary, "fills")?;
    ensure!(
        fills == num(&summary, "fills_received")?,
        "the strategies saw other fills than the gateway passed on: {summary}"
    );
    let by_type = [
        ("trade", "fills"),
        ("rejected", "rejected"),
        ("canceled", "canceled"),
        ("cancel_rejected", "cancel_rejected"),
        ("replaced", "replaced"),
        ("new", "accepted"),
    ];
    let mut total = 0;
    for (exec_type, key) in by_type {
        let want = num(&summary, key)?;
        let sql = format!("select count(*) from executions where exec_type = '{exec_type}'");
        let have = count(&db, &sql)?;
        ensure!(
            have == want,
            "{have} '{exec_type}' executions in the copy, the summary's {key} is {want}"
        );
        total += want;
    }
    ensure!(
        total > 0,
        "the run had no executions, the copy shows nothing: {summary}"
    );
    let all = count(&db, "select count(*) from executions")?;
    ensure!(
        all == total,
        "{all} executions in the copy, {total} in the summary"
    );
    let orders = count(&db, "select count(*) from orders")?;
    let journaled = num(&summary, "orders_in_journal")?;
    ensure!(
        orders == journaled,
        "{orders} orders in the copy, {journaled} new orders in the journal"
    );
    let working = count(
        &db,
        "select count(*) from orders where ord_status not in ('filled', 'canceled', 'rejected')",
    )?;
    let open = num(&summary, "open_orders")?;
    ensure!(
        working == open,
        "{working} working orders in the copy, the gateway had {open} open"
    );
    Ok(())
}

#[test]
fn demo_drop_copy_holds_every_execution_of_the_summary() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let run = dir.path().join("run");
    let db = dir.path().join("dropcopy.sqlite");
    let (run_s, db_s) = (run.to_str().context("path")?, db.to_str().context("path")?);
    run_tickwarp(
        &[
            "demo",
            "--duration",
            "2",
            "--threading",
            "shared",
            "--idle",
            "backoff",
            "--dir",
            run_s,
            "--drop-copy-sqlite",
            db_s,
        ],
        RUN_BOUND,
    )?;
    copy_matches_summary(&db, &run.join("summary-demo.json"))
}

#[test]
fn run_node_drop_copy_holds_every_execution_of_the_summary() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // The demo's pipeline as a one-node topology file, batched fsync, copy in the run dir.
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        r#"
[[instrument]]
symbol = "TWRP"
start_price = "100.00"

[[node]]
name = "solo"
backend = "soft"
threading = "shared"
idle = { kind = "backoff" }
[node.drop_copy]
sqlite = "dropcopy.sqlite"
[node.venue]
md_listen = "127.0.0.1:0"
orders_listen = "127.0.0.1:0"
rate = 5000
[node.feed]
listen = "127.0.0.1:0"
[node.gateway]
listen = "127.0.0.1:0"
fsync = "batched"
[[node.engine]]
name = "engine"
id_tag = "R"
[[node.engine.strategy]]
name = "market_maker"
[[node.engine.strategy]]
name = "pinger"
every = 20
"#,
    )?;
    let run = dir.path().join("run");
    run_tickwarp(
        &[
            "run",
            "--config",
            config.to_str().context("path")?,
            "--dir",
            run.to_str().context("path")?,
            "--duration",
            "2",
        ],
        RUN_BOUND,
    )?;
    copy_matches_summary(&run.join("dropcopy.sqlite"), &run.join("summary-solo.json"))
}
