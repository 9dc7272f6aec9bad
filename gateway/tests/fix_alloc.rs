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

use anyhow::{Result, ensure};
use front::{Client, Lab, REAL};
use tickwarp_testkit::{CountingAllocator, count_allocations};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// Sends order `n` and its cancel through `Lab::step`; the allocations of the steps.
fn pair(lab: &mut Lab, client: &mut Client, n: u64) -> Result<u64> {
    front::order_cancel_pair(lab, client, n, |lab| {
        let (stepped, counted) = count_allocations(|| lab.step());
        stepped?;
        Ok(counted)
    })
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
