//! Proof of the FIX order path's durable point under `every_record`: the real gateway
//! agent (mio acceptor, sessions with journal-backed stores, `OrderCore` with its order
//! journal) is stepped on the test thread with several sessions sending bursts at once.
//!
//! - Every ExecutionReport a client receives was durable when it left: after each duty
//!   cycle, each ER received has its ExecID (the order journal's record) at or below the
//!   order journal's durable sequence number and its MsgSeqNum at or below the highest
//!   outbound MsgSeqNum its session store has synced.
//! - A duty cycle runs at most one sync round, and one round covers the order journal and
//!   every session that had something to store with two syncs at once (the sessions share
//!   one store log): the log's sync counter moves by at most one per round with 16
//!   sessions sending at once.
//! - A failed logon costs no sync.

mod front;

use anyhow::{Result, bail, ensure};
use front::{Client, Lab, MAX_CYCLES, REAL, journal_dir};
use std::fmt::Write as _;
use std::time::Duration;
use tickwarp_gateway::fix::fields::tag;
use tickwarp_gateway::fix::session_log::SESSION_LOG_DIR;
use tickwarp_gateway::fix::store::SessionStore;
use tickwarp_gateway::fix::{MsgType, Now};
use tickwarp_gateway::service::{GatewayAgent, GatewayConfig};
use tickwarp_runtime::clock;
use tickwarp_wire::journal::SEGMENT_HEADER_LEN;

/// Sessions in the test.
const SESSIONS: u32 = 16;
/// Orders each session sends per burst.
const BURST: u64 = 3;
/// Bursts.
const BURSTS: u64 = 20;

/// A gateway with sessions C1..C`SESSIONS` (no password), `every_record`, and its
/// configuration.
fn start() -> Result<(Lab, GatewayConfig)> {
    let dir = journal_dir()?;
    let config = config(dir.path(), 1..=SESSIONS)?;
    let now = Now {
        mono: clock::monotonic_now(),
        wall: clock::unix_now(),
    };
    let agent = GatewayAgent::from_config(&config, now)?;
    let addr = agent.fix_addr();
    let lab = Lab {
        agent,
        now,
        addr,
        dir,
    };
    Ok((lab, config))
}

/// The configuration of a gateway in `dir` with sessions `ids` in that order (session
/// `id` is C`id`, account 100 + `id`).
fn config(dir: &std::path::Path, ids: impl Iterator<Item = u32>) -> Result<GatewayConfig> {
    let mut sessions = String::new();
    for id in ids {
        write!(
            sessions,
            r#"
            [[sessions]]
            id = {id}
            sender_comp_id = "GW"
            target_comp_id = "C{id}"
            allow_no_password = true
            account = {account}
            "#,
            account = 100 + id
        )?;
    }
    let text = format!(
        r#"
        listen = "127.0.0.1:0"
        [journal]
        dir = "{dir}"
        fsync = "every_record"
        [risk]
        max_order_qty = 1000
        max_notional = "1000000"
        collar_bps = 0
        credit_limit = "100000000"
        max_position = 100000
        max_orders_per_day = 100000
        [[instruments]]
        symbol = "ACME"
        id = 1
        {sessions}
        [[venue.liquidity]]
        symbol = "ACME"
        side = "sell"
        price = "101"
        qty = 100
        "#,
        dir = dir.display()
    );
    Ok(GatewayConfig::from_toml(&text, dir)?)
}

/// Each session's next outbound MsgSeqNum (what moves when it stores a message).
fn next_outs(agent: &GatewayAgent) -> Vec<u64> {
    (1..=SESSIONS)
        .map(|id| {
            agent
                .fix()
                .session_store(id)
                .map_or(0, |s| s.seq_nums().next_out)
        })
        .collect()
}

/// Syncs so far: the order journal's and the shared session log's.
fn syncs(agent: &GatewayAgent) -> u64 {
    agent.core().sync_count() + agent.fix().session_log_syncs()
}

#[test]
fn every_execution_report_leaves_after_one_round_made_it_durable() -> Result<()> {
    let (mut lab, config) = start()?;
    let mut clients: Vec<Client> = Vec::new();
    for id in 1..=SESSIONS {
        let mut client = lab.connect(REAL, &format!("C{id}"))?;
        lab.logon(&mut client, None)?;
        clients.push(client);
    }

    // A failed logon (unknown CompIDs) costs no sync and no round.
    let (rounds, synced) = (lab.agent.fix().sync_rounds(), syncs(&lab.agent));
    let mut stranger = lab.connect(REAL, "NOBODY")?;
    stranger.send(lab.now.wall, MsgType::LOGON, |w| {
        w.uint(tag::ENCRYPT_METHOD, 0).uint(tag::HEART_BT_INT, 30);
    })?;
    lab.closed(&mut stranger, "failed logon closed")?;
    ensure!(
        lab.agent.fix().sync_rounds() == rounds && syncs(&lab.agent) == synced,
        "a failed logon synced: rounds {rounds} -> {}, syncs {synced} -> {}",
        lab.agent.fix().sync_rounds(),
        syncs(&lab.agent)
    );

    let mut acks = 0u64;
    let mut widest_round = 0u64;
    let mut widest_writers = 0usize;
    for burst in 0..BURSTS {
        // Under the default throttle of 1,000 messages a second.
        lab.advance(Duration::from_millis(10));
        let wall = lab.now.wall;
        for (k, client) in clients.iter_mut().enumerate() {
            for n in 0..BURST {
                let cl_ord_id = format!("B{burst}-{k}-{n}");
                client.send(wall, MsgType::NEW_ORDER_SINGLE, |w| {
                    w.str(tag::CL_ORD_ID, &cl_ord_id)
                        .str(tag::SYMBOL, "ACME")
                        .byte(tag::SIDE, b'1')
                        .timestamp(tag::TRANSACT_TIME, wall)
                        .uint(tag::ORDER_QTY, 10)
                        .byte(tag::ORD_TYPE, b'2')
                        .str(tag::PRICE, "97")
                        .byte(tag::TIME_IN_FORCE, b'0');
                })?;
            }
        }
        let want = u64::from(SESSIONS) * BURST;
        let mut got = 0;
        let mut cycles = 0;
        while got < want {
            let (rounds_before, syncs_before) = (lab.agent.fix().sync_rounds(), syncs(&lab.agent));
            let log_before = lab.agent.fix().session_log_syncs();
            let out_before = next_outs(&lab.agent);
            let work = lab.step()?;
            let rounds = lab.agent.fix().sync_rounds() - rounds_before;
            ensure!(rounds <= 1, "{rounds} sync rounds in one duty cycle");
            let log_syncs = lab.agent.fix().session_log_syncs() - log_before;
            let writers = next_outs(&lab.agent)
                .iter()
                .zip(&out_before)
                .filter(|(a, b)| a != b)
                .count();
            ensure!(
                log_syncs <= 1,
                "{log_syncs} session log syncs in one duty cycle ({writers} sessions wrote)"
            );
            if rounds == 1 {
                widest_round = widest_round.max(syncs(&lab.agent) - syncs_before);
                widest_writers = widest_writers.max(writers);
            }
            let journal_durable = lab.agent.core().durable_seq();
            for (k, client) in clients.iter_mut().enumerate() {
                let id = u32::try_from(k)? + 1;
                let store = lab
                    .agent
                    .fix()
                    .session_store(id)
                    .ok_or_else(|| anyhow::anyhow!("no store for session {id}"))?;
                let store_durable = store.durable_out_seq();
                while let Some(out) = client.poll()? {
                    ensure!(out.msg_type() == "8", "C{id}: expected an ER, got {out:?}");
                    let exec_id = out.num(tag::EXEC_ID)?;
                    let msg_seq = out.num(tag::MSG_SEQ_NUM)?;
                    ensure!(
                        exec_id <= journal_durable,
                        "C{id}: ER MsgSeqNum {msg_seq} with ExecID {exec_id} left before the order journal synced it (durable up to {journal_durable})"
                    );
                    ensure!(
                        msg_seq <= store_durable,
                        "C{id}: ER MsgSeqNum {msg_seq} (ExecID {exec_id}) left before the session store synced it (durable up to MsgSeqNum {store_durable})"
                    );
                    got += 1;
                    acks += 1;
                }
            }
            cycles += 1;
            if cycles > MAX_CYCLES {
                bail!("burst {burst}: {got} of {want} ERs after {MAX_CYCLES} duty cycles");
            }
            if work == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
    ensure!(acks == u64::from(SESSIONS) * BURST * BURSTS, "{acks} ERs");
    // The sessions' bursts arrive together: rounds covered many sessions' messages, and
    // no round synced more than the order journal and the one shared session log.
    ensure!(
        widest_round == 2,
        "the widest round synced {widest_round} journals, expected 2 (order journal + session log)"
    );
    ensure!(
        widest_writers > 1,
        "no round covered more than one session's messages ({widest_writers})"
    );

    // A power loss in a round can leave a store's reports synced and the journal's
    // records not: cut the order journal's last record (an execution) as such a loss
    // would, and the next start refuses, naming the store and the repair.
    let now = lab.now;
    let Lab { agent, dir, .. } = lab;
    let journal_last = agent.core().durable_seq();
    drop(agent);
    let cut = tickwarp_wire::journal::repair(
        config.journal.orders_dir(),
        tickwarp_wire::SeqNo(journal_last - 1),
    )?;
    ensure!(cut.last_seq.get() == journal_last - 1, "{cut:?}");
    let refused = match GatewayAgent::from_config(&config, now) {
        Ok(_) => bail!("the gateway started with stores ahead of the order journal"),
        Err(e) => e.to_string(),
    };
    ensure!(
        refused.contains(&format!(
            "ExecID {journal_last}, past the order journal's last record {}",
            journal_last - 1
        )) && refused.contains("journal repair"),
        "{refused}"
    );
    drop(dir);
    Ok(())
}

/// The on-disk state a power loss in the middle of a sync round can leave: the session
/// store's sync finished (its reports and commit mark are on disk, its segment header
/// still says the previous round), the order journal's did not (the round's records are
/// gone). The start cuts the store back to the previous round, keeping a copy, instead
/// of refusing: none of the round's messages left.
#[test]
fn a_store_ahead_by_its_last_round_only_is_cut_and_the_gateway_starts() -> Result<()> {
    let (mut lab, config) = start()?;
    let mut client = lab.connect(REAL, "C1")?;
    lab.logon(&mut client, None)?;
    let order = |lab: &mut Lab, client: &mut Client, cl_ord_id: &str| -> Result<u64> {
        let wall = lab.now.wall;
        client.send(wall, MsgType::NEW_ORDER_SINGLE, |w| {
            w.str(tag::CL_ORD_ID, cl_ord_id)
                .str(tag::SYMBOL, "ACME")
                .byte(tag::SIDE, b'1')
                .timestamp(tag::TRANSACT_TIME, wall)
                .uint(tag::ORDER_QTY, 10)
                .byte(tag::ORD_TYPE, b'2')
                .str(tag::PRICE, "97")
                .byte(tag::TIME_IN_FORCE, b'0');
        })?;
        for _ in 0..MAX_CYCLES {
            if lab.step()? == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
            if let Some(out) = client.poll()? {
                ensure!(out.msg_type() == "8", "expected an ER, got {out:?}");
                return out.num(tag::MSG_SEQ_NUM);
            }
        }
        bail!("no ER for {cl_ord_id} after {MAX_CYCLES} duty cycles")
    };
    order(&mut lab, &mut client, "first")?;
    let journal_before = lab.agent.core().durable_seq();
    let store_dir = config.journal.dir.join(SESSION_LOG_DIR);
    let segment = std::fs::read_dir(&store_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "twj"))
        .ok_or_else(|| anyhow::anyhow!("no segment in {}", store_dir.display()))?;
    // The header as the disk holds it once the next round's fdatasync flushed it.
    let header: Vec<u8> = std::fs::read(&segment)?[..SEGMENT_HEADER_LEN].to_vec();
    let lost_msg_seq = order(&mut lab, &mut client, "lost")?;
    let Lab {
        agent, dir, now, ..
    } = lab;
    drop(agent);
    let cut = tickwarp_wire::journal::repair(
        config.journal.orders_dir(),
        tickwarp_wire::SeqNo(journal_before),
    )?;
    ensure!(
        !cut.cut.is_empty(),
        "the lost round left no journal record to cut"
    );
    let mut bytes = std::fs::read(&segment)?;
    bytes[..SEGMENT_HEADER_LEN].copy_from_slice(&header);
    std::fs::write(&segment, bytes)?;

    let agent = GatewayAgent::from_config(&config, now)?;
    let store = agent
        .fix()
        .session_store(1)
        .ok_or_else(|| anyhow::anyhow!("no store for session 1"))?;
    ensure!(
        store.seq_nums().next_out == lost_msg_seq,
        "the store was not cut back to the round before: next outbound MsgSeqNum {}, the lost ER had {lost_msg_seq}",
        store.seq_nums().next_out
    );
    let copies = std::fs::read_dir(&store_dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".cut-"))
        .count();
    ensure!(copies == 1, "{copies} copies of the cut bytes kept");
    drop(dir);
    Ok(())
}

/// The shared session log names sessions by key, not by their place in the
/// configuration: a restart with the sessions listed in reverse order gives every
/// session its own sequence numbers back. A per-session store of an older version is
/// refused, naming it, and left as it was.
#[test]
fn sessions_keep_their_sequence_numbers_when_the_configuration_is_reordered() -> Result<()> {
    let (mut lab, _) = start()?;
    for id in [2, 5] {
        let mut client = lab.connect(REAL, &format!("C{id}"))?;
        lab.logon(&mut client, None)?;
    }
    lab.step()?;
    let before = next_outs(&lab.agent);
    ensure!(
        before.iter().filter(|&&n| n > 1).count() == 2,
        "two sessions logged on: {before:?}"
    );
    let Lab {
        agent, dir, now, ..
    } = lab;
    drop(agent);
    let reversed = config(dir.path(), (1..=SESSIONS).rev())?;
    let agent = GatewayAgent::from_config(&reversed, now)?;
    let after = next_outs(&agent);
    ensure!(after == before, "reordered: {after:?}, before: {before:?}");
    drop(agent);

    let old = reversed.journal.session_dir("GW", "C3");
    drop(tickwarp_gateway::fix::JournalStore::open(
        &old,
        tickwarp_wire::journal::JournalConfig::default(),
    )?);
    let refused = match GatewayAgent::from_config(&reversed, now) {
        Ok(_) => bail!("the gateway started beside a per-session store of an older version"),
        Err(e) => e.to_string(),
    };
    ensure!(
        refused.contains(&old.display().to_string()) && refused.contains("not migrated"),
        "{refused}"
    );
    ensure!(old.exists(), "the old store was touched");
    drop(dir);
    Ok(())
}
