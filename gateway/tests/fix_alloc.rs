//! Allocation proof on the FIX production path: the real gateway agent (mio acceptor,
//! session layer with its journal-backed store, dictionary validation, `OrderCore` with
//! its order journal under `every_record`, the venue simulator) is stepped on the test
//! thread, and only the agent's steps are counted, never the test client's work. After a
//! warm-up, 5,000 NewOrderSingle/OrderCancelRequest pairs (10,000 ExecutionReports stored
//! and indexed for resend) go through one logged-on session and allocate nothing. By
//! design the store's resend index grows by doubling past
//! [`INDEX_PREALLOCATED`](tickwarp_gateway::fix::store::INDEX_PREALLOCATED) messages a
//! session: a few allocations a day, never one per message.

mod front;

use anyhow::{Result, bail, ensure};
use front::{Client, Lab, MAX_CYCLES, REAL};
use std::time::Duration;
use tickwarp_gateway::fix::MsgType;
use tickwarp_gateway::fix::fields::tag;
use tickwarp_testkit::{CountingAllocator, count_allocations};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// Sends order `n` (a bid below the house offer: it rests) and its cancel, and steps the
/// agent until both ExecutionReports arrive. Returns the allocations of the agent's steps.
fn pair(lab: &mut Lab, client: &mut Client, n: u64) -> Result<u64> {
    let new_id = format!("N{n}");
    let cxl_id = format!("C{n}");
    let mut allocations = 0;
    for (k, want) in [(0, b'0'), (1, b'4')] {
        // Under the default throttle of 1,000 messages a second.
        lab.advance(Duration::from_millis(2));
        let wall = lab.now.wall;
        if k == 0 {
            client.send(wall, MsgType::NEW_ORDER_SINGLE, |w| {
                w.str(tag::CL_ORD_ID, &new_id)
                    .str(tag::SYMBOL, "ACME")
                    .byte(tag::SIDE, b'1')
                    .timestamp(tag::TRANSACT_TIME, wall)
                    .uint(tag::ORDER_QTY, 10)
                    .byte(tag::ORD_TYPE, b'2')
                    .str(tag::PRICE, "97")
                    .byte(tag::TIME_IN_FORCE, b'0');
            })?;
        } else {
            client.send(wall, MsgType::ORDER_CANCEL_REQUEST, |w| {
                w.str(tag::ORIG_CL_ORD_ID, &new_id)
                    .str(tag::CL_ORD_ID, &cxl_id)
                    .str(tag::SYMBOL, "ACME")
                    .byte(tag::SIDE, b'1')
                    .timestamp(tag::TRANSACT_TIME, wall)
                    .uint(tag::ORDER_QTY, 10);
            })?;
        }
        let mut cycles = 0;
        loop {
            let (stepped, counted) = count_allocations(|| lab.step());
            stepped?;
            allocations += counted;
            if let Some(out) = client.poll()? {
                ensure!(
                    out.msg_type() == "8" && out.get(tag::EXEC_TYPE) == Some(&*char_str(want)),
                    "order {n}: expected ExecType {}, got {out:?}",
                    char::from(want)
                );
                break;
            }
            cycles += 1;
            if cycles > MAX_CYCLES {
                bail!("order {n}: no ExecutionReport after {MAX_CYCLES} duty cycles");
            }
        }
    }
    Ok(allocations)
}

fn char_str(b: u8) -> String {
    char::from(b).to_string()
}

#[test]
fn fix_order_path_steady_state_allocates_nothing() -> Result<()> {
    let mut lab = Lab::start("")?;
    let mut client = lab.connect(REAL, "C2")?;
    // The logon allocates (the session's connection state, the client's buffers): proof
    // that this thread's count is live.
    let (logon, allocated) = count_allocations(|| lab.logon(&mut client, None));
    logon?;
    ensure!(
        allocated > 0,
        "no allocation counted during the logon: is the counting allocator installed?"
    );
    for n in 0..500 {
        pair(&mut lab, &mut client, n)?;
    }
    let pairs = 5_000;
    let mut allocations = 0;
    for n in 500..500 + pairs {
        allocations += pair(&mut lab, &mut client, n)?;
    }
    ensure!(
        allocations == 0,
        "{allocations} allocations in the agent's steps over {pairs} order/cancel pairs"
    );
    Ok(())
}
