//! Order lookups for status requests, positions, and the mass cancel, on [`OrderCore`].
//!
//! A mass cancel journals one cancel per open order in scope, exactly as the kill switch
//! does (a `Gateway`-origin cancel under the order's own ClOrdID, so its report goes to
//! the order's origin and recovery replays it like any cancel); nothing reaches the venue
//! or the client before the journal holds it. Orders with a cancel or replace already
//! pending are left to that request and not counted as affected.
//!
//! What this module must not do: read a clock, touch a socket, or cancel an order of
//! another account.

use tickwarp_wire::{
    AccountId, CancelOrder, ClientOrderId, InstrumentId, RejectReason, Side, TickCause,
};

use super::{CoreError, OrderCore, Origin};
use crate::orders::{OrdStatus, Order, OrderKey, Position};
use crate::service::recovery::{RECORD_CANCEL_REQUEST, key};
use crate::venue::{VenueSession, VenueTime};

/// Which open orders of an account a mass cancel takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MassCancel {
    /// The account.
    pub account: AccountId,
    /// Only this instrument, if given.
    pub instrument: Option<InstrumentId>,
    /// Only this side, if given.
    pub side: Option<Side>,
}

/// What a mass cancel did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MassCanceled {
    /// Cancels journaled (TotalAffectedOrders).
    pub affected: u64,
    /// The journal sequence number of the first cancel, 0 when none was needed.
    pub first_seq: u64,
}

/// Why a mass cancel was refused: the reject reason and a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MassCancelRefused {
    /// Why.
    pub reason: RejectReason,
    /// Text (58).
    pub text: String,
}

impl<V: VenueSession> OrderCore<V> {
    /// The current order of `account` named by OrderID (when given) or ClOrdID; a
    /// replaced ClOrdID leads to its successor (same OrderID). Scans the orders for an
    /// OrderID (O(orders held)).
    pub fn find_order(
        &self,
        account: AccountId,
        order_id: Option<u64>,
        cl_ord_id: ClientOrderId,
    ) -> Option<Order> {
        let order_id = match order_id {
            Some(id) => id,
            None => {
                let k = key(account, cl_ord_id);
                let order = self.state.orders.get(&k)?;
                if order.status() != OrdStatus::Replaced {
                    return Some(*order);
                }
                self.state.entries.get(&k)?.order_id
            }
        };
        self.state
            .entries
            .iter()
            .filter(|(k, e)| k.account == account && e.order_id == order_id)
            .filter_map(|(k, _)| self.state.orders.get(k))
            .find(|o| o.status() != OrdStatus::Replaced)
            .copied()
    }

    /// The open orders of `account`, in OrderID order.
    pub fn open_orders_of(&self, account: AccountId) -> Vec<(u64, Order)> {
        let mut open: Vec<(u64, Order)> = self
            .state
            .orders
            .open_orders(Some(account))
            .filter_map(|o| {
                let e = self.state.entries.get(&OrderKey::of(o))?;
                Some((e.order_id, *o))
            })
            .collect();
        open.sort_unstable_by_key(|&(id, _)| id);
        open
    }

    /// The positions of `account` from its journaled fills, by instrument id.
    pub fn positions_of(&self, account: AccountId) -> Vec<(InstrumentId, Position)> {
        self.state.positions.of_account(account)
    }

    /// The OrderID of the order under `key`.
    pub fn order_id_of(&self, key: &OrderKey) -> Option<u64> {
        self.state.entries.get(key).map(|e| e.order_id)
    }

    /// Cancels every open order of `scope` for `origin` (see the module docs): counted
    /// against `origin`'s message rate as one request (the gateway's own, such as
    /// cancel-on-disconnect, are not throttled); refused when the rate limit or the
    /// journal refuses.
    pub fn mass_cancel(
        &mut self,
        now: VenueTime,
        origin: Origin,
        scope: MassCancel,
    ) -> Result<Result<MassCanceled, MassCancelRefused>, CoreError> {
        let throttled = match origin {
            Origin::Gateway => Ok(()),
            _ => self
                .state
                .risk
                .check_cancel(now.mono, origin.risk_session()),
        };
        if let Err(reject) = throttled {
            return Ok(Err(MassCancelRefused {
                reason: reject.reason(),
                text: reject.to_string(),
            }));
        }
        let targets: Vec<Order> = self
            .state
            .orders
            .open_orders(Some(scope.account))
            .filter(|o| scope.instrument.is_none_or(|i| i == o.instrument()))
            .filter(|o| scope.side.is_none_or(|s| s == o.side()))
            .filter(|o| !self.state.pending.contains_key(&OrderKey::of(o)))
            .copied()
            .collect();
        let mut done = MassCanceled {
            affected: 0,
            first_seq: 0,
        };
        for order in targets {
            let k = OrderKey::of(&order);
            let cmd = CancelOrder::new(
                k.cl_ord_id,
                k.cl_ord_id,
                order.instrument(),
                k.account,
                order.side(),
                TickCause::NONE,
            );
            let appended = self.try_append(
                RECORD_CANCEL_REQUEST,
                now,
                Origin::Gateway,
                0,
                &[tickwarp_wire::IntoBytes::as_bytes(&cmd)],
            )?;
            let seq = match appended {
                Ok(seq) => seq,
                Err(text) if done.affected == 0 => {
                    return Ok(Err(MassCancelRefused {
                        reason: super::JOURNAL_UNAVAILABLE,
                        text,
                    }));
                }
                // The cancels journaled so far stand; the report counts only them.
                Err(_) => break,
            };
            self.state
                .apply_cancel_request(seq, Origin::Gateway, &cmd)?;
            self.to_venue.push_back(super::VenueCmd::Cancel(cmd));
            if done.first_seq == 0 {
                done.first_seq = seq;
            }
            done.affected += 1;
        }
        Ok(Ok(done))
    }
}
