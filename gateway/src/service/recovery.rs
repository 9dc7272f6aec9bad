//! The order journal's record format and the order state it rebuilds: what the gateway
//! writes before it acknowledges anything, and how a restart reads it back.
//!
//! # Record types
//!
//! Every payload starts with an 8-byte prefix naming who sent the request
//! (little-endian, like everything in the journal):
//!
//! ```text
//!  0        1       2           4               8
//! +--------+-------+-----------+---------------+
//! | origin | flags | reserved  | origin id u32 |   origin: 0 gateway, 1 FIX session, 2 RDMA client
//! +--------+-------+-----------+---------------+
//! ```
//!
//! | type | name | after the prefix |
//! |---|---|---|
//! | `0x4701` | [`RECORD_ORDER_NEW`] | reserve price `i64` (ticks), then the `NewOrder` wire record (128 bytes). Its journal sequence number is the gateway's OrderID (37). |
//! | `0x4702` | [`RECORD_CANCEL_REQUEST`] | the `CancelOrder` wire record; origin 0 for a cancel the kill switch issued |
//! | `0x4703` | [`RECORD_REPLACE_REQUEST`] | the successor's reserve price `i64`, then the `ReplaceOrder` wire record |
//! | `0x4704` | [`RECORD_EXECUTION`] | an execution wire record as the gateway reported it (`OrderAccepted`, `OrderRejected`, `OrderFilled`, `OrderCanceled`, `CancelRejected`, `OrderReplaced`, with the gateway's OrderID and quantities); the origin is whom it was reported to; flag bit 1: the gateway refused the request itself (validation or risk), bit 0: risk claimed the refused request's ClOrdID |
//! | `0x4705` | [`RECORD_KILL_SWITCH`] | action `u8` (1 engage, 0 revive), scope `u8` (0 global, 1 account), 2 reserved bytes, account `u32` |
//!
//! A request is journaled after validation and risk accepted it, before the venue sees
//! it; an execution after the order state took it, before the client sees it. Replaying
//! the records in order through [`State`] therefore rebuilds every order, every pending
//! cancel/replace, the risk usage (reservations, traded notional, positions, claimed
//! ClOrdIDs) and the kill switches as they were when the last record was written.
//!
//! This module reads journals and applies records; it writes nothing, reads no clock and
//! talks to no venue (the core resubmits open orders to the venue after replay).

use std::collections::HashMap;
use std::path::Path;

use tickwarp_wire::journal::JournalReader;
use tickwarp_wire::{
    AccountId, CancelOrder, ClientOrderId, CxlRejResponseTo, Message, NewOrder, Price, Qty,
    ReplaceOrder, SeqNo, Side, decode,
};

use super::core::{CoreError, Origin};
use crate::orders::{Order, OrderError, OrderEvent, OrderKey, OrderStore, Positions};
use crate::risk::{Exposure, KillScope, RiskEngine, RiskLimits};
use crate::venue::Execution;

/// Record type: an accepted new order.
pub const RECORD_ORDER_NEW: u16 = 0x4701;
/// Record type: an accepted cancel request.
pub const RECORD_CANCEL_REQUEST: u16 = 0x4702;
/// Record type: an accepted cancel/replace request.
pub const RECORD_REPLACE_REQUEST: u16 = 0x4703;
/// Record type: an execution reported to a client.
pub const RECORD_EXECUTION: u16 = 0x4704;
/// Record type: the kill switch engaged or revived.
pub const RECORD_KILL_SWITCH: u16 = 0x4705;

/// Bytes of the origin prefix of every payload.
pub(crate) const PREFIX_LEN: usize = 8;
/// Execution flag: risk claimed the ClOrdID of the rejected request.
pub(crate) const FLAG_RISK_CLAIMED: u8 = 1;
/// Execution flag: the gateway refused the request before it reached the order state
/// (replay changes nothing but the ClOrdID claim).
pub(crate) const FLAG_LOCAL_REJECT: u8 = 2;

/// The origin prefix of a payload.
pub(crate) fn prefix(origin: Origin, flags: u8) -> [u8; PREFIX_LEN] {
    let (kind, id) = match origin {
        Origin::Gateway => (0u8, 0u32),
        Origin::Fix(id) => (1, id),
        Origin::Rdma(id) => (2, id),
    };
    let mut out = [0u8; PREFIX_LEN];
    out[0] = kind;
    out[1] = flags;
    out[4..8].copy_from_slice(&id.to_le_bytes());
    out
}

/// Splits a payload into origin, flags and the rest.
fn split_prefix(payload: &[u8]) -> Option<(Origin, u8, &[u8])> {
    let head = payload.get(..PREFIX_LEN)?;
    let id = u32::from_le_bytes(head.get(4..8)?.try_into().ok()?);
    let origin = match head.first()? {
        0 => Origin::Gateway,
        1 => Origin::Fix(id),
        2 => Origin::Rdma(id),
        _ => return None,
    };
    Some((origin, *head.get(1)?, payload.get(PREFIX_LEN..)?))
}

/// A little-endian `i64` price followed by the rest.
fn split_price(bytes: &[u8]) -> Option<(Price, &[u8])> {
    let px = i64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    Some((Price::from_ticks(px), bytes.get(8..)?))
}

/// The kill switch record body.
pub(crate) fn kill_body(engage: bool, scope: KillScope) -> [u8; 8] {
    let (kind, account) = match scope {
        KillScope::Global => (0u8, 0u32),
        KillScope::Account(a) => (1, a.get()),
    };
    let mut out = [0u8; 8];
    out[0] = u8::from(engage);
    out[1] = kind;
    out[4..8].copy_from_slice(&account.to_le_bytes());
    out
}

/// Why a record could not be applied to the order state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// No order under the key.
    #[error("unknown order {}/{}", .0.account, .0.cl_ord_id)]
    UnknownOrder(OrderKey),
    /// A venue answer without its request.
    #[error("no pending request {}/{}", .0.account, .0.cl_ord_id)]
    NoPending(OrderKey),
    /// The order refused the event.
    #[error(transparent)]
    Order(#[from] OrderError),
    /// The order store refused the order.
    #[error(transparent)]
    Store(#[from] crate::orders::StoreError),
}

/// What the gateway keeps beside each order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Who entered the order (executions go back there).
    pub(crate) origin: Origin,
    /// What risk holds against the order.
    pub(crate) exposure: Exposure,
    /// The gateway's OrderID (the journal sequence number of the order).
    pub(crate) order_id: u64,
}

/// A cancel or replace request the venue has not answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestKind {
    /// A cancel.
    Cancel(CancelOrder),
    /// A replace, with the successor's exposure.
    Replace(ReplaceOrder, Exposure),
}

/// A pending request, keyed by (account, the request's ClOrdID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    /// Who sent it ([`Origin::Gateway`] for the kill switch).
    pub(crate) origin: Origin,
    /// The order it is about.
    pub(crate) target: OrderKey,
    /// What it asks for.
    pub(crate) kind: RequestKind,
    /// Its journal sequence number (resubmission order after a restart).
    pub(crate) seq: u64,
}

/// The key of an order or request.
pub(crate) fn key(account: AccountId, cl_ord_id: ClientOrderId) -> OrderKey {
    OrderKey { account, cl_ord_id }
}

/// The order state the journal records describe: orders, their origins and exposures,
/// pending requests, risk usage.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) orders: OrderStore,
    pub(crate) risk: RiskEngine,
    pub(crate) entries: HashMap<OrderKey, Entry>,
    pub(crate) pending: HashMap<OrderKey, Pending>,
    /// Each account's positions from its fills.
    pub(crate) positions: Positions,
    /// The highest RDMA client id seen (new connections get higher ids).
    pub(crate) max_rdma_client: u32,
}

impl State {
    /// Empty state under `limits`, for at most `max_orders` orders.
    pub(crate) fn new(limits: RiskLimits, max_orders: usize) -> Result<State, CoreError> {
        Ok(State {
            orders: OrderStore::with_capacity(max_orders),
            risk: RiskEngine::new(limits)?,
            entries: HashMap::with_capacity(max_orders.min(1 << 20)),
            pending: HashMap::with_capacity(1024),
            positions: Positions::default(),
            max_rdma_client: 0,
        })
    }

    fn saw(&mut self, origin: Origin) {
        if let Origin::Rdma(id) = origin {
            self.max_rdma_client = self.max_rdma_client.max(id);
        }
    }

    /// Replays one journal record.
    pub(crate) fn replay(
        &mut self,
        seq: u64,
        record_type: u16,
        payload: &[u8],
    ) -> Result<(), CoreError> {
        let corrupt = |reason| CoreError::Corrupt { seq, reason };
        let (origin, flags, body) = split_prefix(payload).ok_or(corrupt("bad origin prefix"))?;
        self.saw(origin);
        let outcome = match record_type {
            RECORD_ORDER_NEW => {
                let (px, rest) = split_price(body).ok_or(corrupt("order record too short"))?;
                let Ok(Message::NewOrder(cmd)) = decode(rest) else {
                    return Err(corrupt("not a NewOrder"));
                };
                self.apply_new(seq, origin, px, cmd, true)
            }
            RECORD_CANCEL_REQUEST => {
                let Ok(Message::CancelOrder(cmd)) = decode(body) else {
                    return Err(corrupt("not a CancelOrder"));
                };
                self.apply_cancel_request(seq, origin, cmd)
            }
            RECORD_REPLACE_REQUEST => {
                let (px, rest) = split_price(body).ok_or(corrupt("replace record too short"))?;
                let Ok(Message::ReplaceOrder(cmd)) = decode(rest) else {
                    return Err(corrupt("not a ReplaceOrder"));
                };
                self.apply_replace_request(seq, origin, px, cmd, true)
            }
            RECORD_EXECUTION => {
                let exec = match decode(body) {
                    Ok(Message::OrderAccepted(r)) => Execution::Accepted(*r),
                    Ok(Message::OrderRejected(r)) => Execution::Rejected(*r),
                    Ok(Message::OrderFilled(r)) => Execution::Filled(*r),
                    Ok(Message::OrderCanceled(r)) => Execution::Canceled(*r),
                    Ok(Message::CancelRejected(r)) => Execution::CancelRejected(*r),
                    Ok(Message::OrderReplaced(r)) => Execution::Replaced(*r),
                    _ => return Err(corrupt("not an execution record")),
                };
                if flags & FLAG_LOCAL_REJECT == 0 {
                    self.apply_execution(&exec)
                } else {
                    if flags & FLAG_RISK_CLAIMED != 0 {
                        self.claim(&exec);
                    }
                    Ok(())
                }
            }
            RECORD_KILL_SWITCH => {
                let action = body
                    .first()
                    .copied()
                    .ok_or(corrupt("kill record too short"))?;
                let scope = match body.get(1) {
                    Some(0) => KillScope::Global,
                    Some(1) => {
                        let raw = body.get(4..8).ok_or(corrupt("kill record too short"))?;
                        let account = u32::from_le_bytes(
                            raw.try_into()
                                .map_err(|_| corrupt("kill record too short"))?,
                        );
                        KillScope::Account(AccountId(account))
                    }
                    _ => return Err(corrupt("bad kill switch scope")),
                };
                self.apply_kill(action == 1, scope);
                Ok(())
            }
            _ => return Err(corrupt("unknown record type")),
        };
        if let Err(e) = outcome {
            // The record was applied when it was written; a mismatch now means the journal
            // and this code disagree. Keep going: the other orders are still right.
            tracing::error!(seq, error = %e, "journal record does not apply");
        }
        Ok(())
    }

    /// A new order accepted by risk, journaled as `seq` (its OrderID).
    pub(crate) fn apply_new(
        &mut self,
        seq: u64,
        origin: Origin,
        reserve_px: Price,
        cmd: &NewOrder,
        replay: bool,
    ) -> Result<(), ApplyError> {
        let order = Order::from_command(cmd, reserve_px);
        let exposure = Exposure {
            account: cmd.account(),
            instrument: cmd.instrument(),
            side: cmd.side(),
            reserve_px,
        };
        self.orders.insert(order)?;
        if replay {
            self.risk.restore(cmd.cl_ord_id(), &exposure, cmd.qty());
        }
        self.entries.insert(
            OrderKey::of(&order),
            Entry {
                origin,
                exposure,
                order_id: seq,
            },
        );
        Ok(())
    }

    /// A cancel request, journaled as `seq`.
    pub(crate) fn apply_cancel_request(
        &mut self,
        seq: u64,
        origin: Origin,
        cmd: &CancelOrder,
    ) -> Result<(), ApplyError> {
        let target = key(cmd.account(), cmd.orig_cl_ord_id());
        // The kill switch cancels underneath whatever the client has pending: no
        // CancelRequested for it.
        if origin != Origin::Gateway {
            let order = self
                .orders
                .get_mut(&target)
                .ok_or(ApplyError::UnknownOrder(target))?;
            order.apply(OrderEvent::CancelRequested)?;
        }
        self.pending.insert(
            key(cmd.account(), cmd.cl_ord_id()),
            Pending {
                origin,
                target,
                kind: RequestKind::Cancel(*cmd),
                seq,
            },
        );
        Ok(())
    }

    /// A replace request whose successor reserves at `reserve_px`, journaled as `seq`.
    pub(crate) fn apply_replace_request(
        &mut self,
        seq: u64,
        origin: Origin,
        reserve_px: Price,
        cmd: &ReplaceOrder,
        replay: bool,
    ) -> Result<(), ApplyError> {
        let target = key(cmd.account(), cmd.orig_cl_ord_id());
        let exposure = Exposure {
            account: cmd.account(),
            instrument: cmd.instrument(),
            side: cmd.side(),
            reserve_px,
        };
        let order = self
            .orders
            .get_mut(&target)
            .ok_or(ApplyError::UnknownOrder(target))?;
        order.apply(OrderEvent::ReplaceRequested)?;
        if replay {
            self.risk.restore(cmd.cl_ord_id(), &exposure, Qty::ZERO);
        }
        self.pending.insert(
            key(cmd.account(), cmd.cl_ord_id()),
            Pending {
                origin,
                target,
                kind: RequestKind::Replace(*cmd, exposure),
                seq,
            },
        );
        Ok(())
    }

    /// The kill switch engaged or revived (the cancels it issued are journaled apart).
    pub(crate) fn apply_kill(&mut self, engage: bool, scope: KillScope) {
        if engage {
            let _ = self.risk.engage_kill_switch(scope, &self.orders);
        } else {
            self.risk.revive(scope);
        }
    }

    /// Claims the ClOrdID of a request the gateway refused after risk had claimed it.
    fn claim(&mut self, exec: &Execution) {
        let meta = match exec {
            Execution::Rejected(r) => r.meta(),
            Execution::CancelRejected(r) => r.meta(),
            _ => return,
        };
        let exposure = Exposure {
            account: meta.account,
            instrument: meta.instrument,
            side: Side::Buy,
            reserve_px: Price::ZERO,
        };
        self.risk.restore(meta.cl_ord_id, &exposure, Qty::ZERO);
    }

    /// An execution of an order in the state, as the gateway reports it.
    pub(crate) fn apply_execution(&mut self, exec: &Execution) -> Result<(), ApplyError> {
        match exec {
            Execution::Accepted(a) => {
                let k = key(a.account(), a.cl_ord_id());
                let order = self.orders.get_mut(&k).ok_or(ApplyError::UnknownOrder(k))?;
                order.on_accepted(a.order_id())?;
            }
            Execution::Rejected(r) => {
                let k = key(r.account(), r.cl_ord_id());
                let (Some(order), Some(entry)) = (self.orders.get_mut(&k), self.entries.get(&k))
                else {
                    return Err(ApplyError::UnknownOrder(k));
                };
                let leaves = order.leaves_qty();
                order.apply(OrderEvent::OrderRejected)?;
                self.risk.release(&entry.exposure, leaves);
            }
            Execution::Filled(f) => {
                let k = key(f.account(), f.cl_ord_id());
                let (Some(order), Some(entry)) = (self.orders.get_mut(&k), self.entries.get(&k))
                else {
                    return Err(ApplyError::UnknownOrder(k));
                };
                let fill = f.fill();
                order.on_filled(fill.last_px, fill.last_qty)?;
                self.positions.on_fill(
                    order.account(),
                    order.instrument(),
                    order.side(),
                    fill.last_px,
                    fill.last_qty,
                );
                self.risk
                    .on_fill(&entry.exposure, fill.last_px, fill.last_qty);
            }
            Execution::Canceled(c) => {
                let target = key(c.account(), c.orig_cl_ord_id().unwrap_or(c.cl_ord_id()));
                let (Some(order), Some(entry)) =
                    (self.orders.get_mut(&target), self.entries.get(&target))
                else {
                    return Err(ApplyError::UnknownOrder(target));
                };
                let leaves = order.leaves_qty();
                order.apply(OrderEvent::OrderCanceled)?;
                self.risk.release(&entry.exposure, leaves);
                let request = key(c.account(), c.cl_ord_id());
                if self
                    .pending
                    .get(&request)
                    .is_some_and(|p| p.target == target)
                {
                    self.pending.remove(&request);
                }
            }
            Execution::CancelRejected(cr) => {
                let request = key(cr.account(), cr.cl_ord_id());
                let Some(p) = self.pending.get(&request).copied() else {
                    return Err(ApplyError::NoPending(request));
                };
                if p.origin != Origin::Gateway {
                    let event = match cr.response_to() {
                        CxlRejResponseTo::Cancel => OrderEvent::CancelRejected,
                        CxlRejResponseTo::Replace => OrderEvent::ReplaceRejected,
                    };
                    if let Some(order) = self.orders.get_mut(&p.target) {
                        order.apply(event)?;
                    }
                }
                self.pending.remove(&request);
            }
            Execution::Replaced(rp) => {
                let new_key = key(rp.account(), rp.cl_ord_id());
                let old_key = key(rp.account(), rp.orig_cl_ord_id());
                let Some(Pending {
                    kind: RequestKind::Replace(_, new_exposure),
                    ..
                }) = self.pending.get(&new_key).copied()
                else {
                    return Err(ApplyError::NoPending(new_key));
                };
                let (Some(order), Some(entry)) = (
                    self.orders.get_mut(&old_key),
                    self.entries.get(&old_key).copied(),
                ) else {
                    return Err(ApplyError::UnknownOrder(old_key));
                };
                let replaced = rp.replaced();
                let old_leaves = order.leaves_qty();
                let mut trial = *order;
                let successor = trial.on_replaced(
                    rp.cl_ord_id(),
                    replaced.price,
                    replaced.qty,
                    entry.order_id,
                )?;
                self.orders.insert(successor)?;
                if let Some(order) = self.orders.get_mut(&old_key) {
                    *order = trial;
                }
                self.risk.on_replaced(
                    &entry.exposure,
                    old_leaves,
                    &new_exposure,
                    successor.leaves_qty(),
                );
                self.entries.insert(
                    new_key,
                    Entry {
                        exposure: new_exposure,
                        ..entry
                    },
                );
                self.pending.remove(&new_key);
            }
        }
        Ok(())
    }
}

/// The order state read back from an order journal, for inspection (audits, tests,
/// tools); the gateway itself recovers through [`super::OrderCore::open`].
#[derive(Debug)]
pub struct Recovered {
    /// Every order, with the origin that entered it.
    pub orders: Vec<(Order, Origin)>,
    /// Risk usage as rebuilt.
    pub risk: RiskEngine,
    /// Journal records read.
    pub records: u64,
}

impl Recovered {
    /// The order under `account`/`cl_ord_id`.
    pub fn order(&self, account: AccountId, cl_ord_id: ClientOrderId) -> Option<&Order> {
        self.orders
            .iter()
            .map(|(o, _)| o)
            .find(|o| o.account() == account && o.cl_ord_id() == cl_ord_id)
    }
}

/// Reads the order journal in `dir` without writing to it.
pub fn read_journal(
    dir: &Path,
    limits: RiskLimits,
    max_orders: usize,
) -> Result<Recovered, CoreError> {
    let mut state = State::new(limits, max_orders)?;
    let mut reader = JournalReader::open(dir, SeqNo(1))?;
    let mut records = 0;
    while let Some(record) = reader.next()? {
        state.replay(record.seq.get(), record.record_type, record.payload)?;
        records += 1;
    }
    let orders = state
        .orders
        .iter()
        .map(|o| {
            let origin = state
                .entries
                .get(&OrderKey::of(o))
                .map_or(Origin::Gateway, |e| e.origin);
            (*o, origin)
        })
        .collect();
    Ok(Recovered {
        orders,
        risk: state.risk,
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_round_trips_every_origin() {
        for origin in [Origin::Gateway, Origin::Fix(7), Origin::Rdma(u32::MAX)] {
            let mut payload = prefix(origin, FLAG_RISK_CLAIMED).to_vec();
            payload.extend_from_slice(b"rest");
            assert_eq!(
                split_prefix(&payload),
                Some((origin, FLAG_RISK_CLAIMED, &b"rest"[..]))
            );
        }
    }

    #[test]
    fn truncated_or_unknown_prefixes_are_refused() {
        assert_eq!(split_prefix(&[1, 0, 0]), None);
        assert_eq!(split_prefix(&[9, 0, 0, 0, 0, 0, 0, 0]), None);
    }

    fn limits() -> RiskLimits {
        let text = r#"
            max_order_qty = 1000
            max_notional = "1000000"
            collar_bps = 0
            credit_limit = "10000000"
            max_position = 100000
            max_orders_per_day = 1000
        "#;
        RiskLimits::from_toml(text).unwrap_or_else(|e| panic!("{e}"))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Replaying arbitrary bytes as any record type never panics.
        #[test]
        fn replay_of_arbitrary_bytes_never_panics(
            record_type in 0x4700u16..0x4708,
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let mut state = State::new(limits(), 16).unwrap_or_else(|e| panic!("{e}"));
            let _ = state.replay(1, record_type, &payload);
            // The same bytes behind a valid origin prefix reach the record decoders.
            let mut framed = prefix(Origin::Fix(1), 0).to_vec();
            framed.extend_from_slice(&payload);
            let _ = state.replay(2, record_type, &framed);
        }

        /// The origin prefix round-trips.
        #[test]
        fn prefix_round_trips(kind in 0u8..3, id in proptest::prelude::any::<u32>(), flags in 0u8..4) {
            let origin = match kind {
                0 => Origin::Gateway,
                1 => Origin::Fix(id),
                _ => Origin::Rdma(id),
            };
            let bytes = prefix(origin, flags);
            let (back, back_flags, rest) = split_prefix(&bytes).unwrap_or_else(|| panic!("parse"));
            proptest::prop_assert_eq!(back_flags, flags);
            proptest::prop_assert!(rest.is_empty());
            proptest::prop_assert_eq!(back, origin);
        }
    }

    #[test]
    fn kill_body_layout() {
        assert_eq!(
            kill_body(true, KillScope::Account(AccountId(0x0102_0304))),
            [1, 1, 0, 0, 4, 3, 2, 1]
        );
        assert_eq!(kill_body(false, KillScope::Global), [0; 8]);
    }
}
