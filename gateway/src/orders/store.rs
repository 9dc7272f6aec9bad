//! [`OrderStore`]: every order of the gateway keyed by (account, ClOrdID), in a slab of
//! fixed capacity allocated once, with duplicate ClOrdID detection.
//!
//! Done orders stay in the store (so their ClOrdIDs stay taken, FIX requires ClOrdID
//! uniqueness for the trading day) until [`OrderStore::purge_done`] or
//! [`OrderStore::remove`] frees their slots. Inserting, looking up and removing never
//! allocate: the slab and the index are sized at construction (the index at twice the
//! slab, so that hashbrown always rehashes in place instead of growing). This module
//! reads no clock and does no I/O.

use std::collections::HashMap;

use tickwarp_wire::{AccountId, ClientOrderId};

use super::order::Order;

/// The key of an order: the account it trades for and its client order id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderKey {
    /// The account (ClOrdIDs are unique per account).
    pub account: AccountId,
    /// The client order id.
    pub cl_ord_id: ClientOrderId,
}

impl OrderKey {
    /// The key of `order`.
    pub fn of(order: &Order) -> OrderKey {
        OrderKey {
            account: order.account(),
            cl_ord_id: order.cl_ord_id(),
        }
    }
}

/// Why an order could not be stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum StoreError {
    /// The (account, ClOrdID) is already taken.
    #[error("duplicate ClOrdID {} for account {}", .0.cl_ord_id, .0.account)]
    Duplicate(OrderKey),
    /// Every slot holds an order.
    #[error("order store full ({capacity} orders)")]
    Full {
        /// The store's capacity.
        capacity: usize,
    },
}

/// Orders keyed by [`OrderKey`], with a fixed capacity.
#[derive(Debug)]
pub struct OrderStore {
    slots: Vec<Option<Order>>,
    free: Vec<u32>,
    index: HashMap<OrderKey, u32>,
}

impl OrderStore {
    /// An empty store for at most `capacity` orders (clamped to `u32::MAX`).
    pub fn with_capacity(capacity: usize) -> OrderStore {
        let capacity = capacity.min(u32::MAX as usize);
        let mut slots = Vec::with_capacity(capacity);
        slots.resize(capacity, None);
        // Pop order: slot 0 first.
        let free = (0..capacity as u32).rev().collect();
        OrderStore {
            slots,
            free,
            index: HashMap::with_capacity(capacity.saturating_mul(2)),
        }
    }

    /// The most orders the store holds.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Orders held (open and done).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no order is held.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether `key` is taken.
    pub fn contains(&self, key: &OrderKey) -> bool {
        self.index.contains_key(key)
    }

    /// Stores `order`; fails on a duplicate key or a full store.
    pub fn insert(&mut self, order: Order) -> Result<(), StoreError> {
        let key = OrderKey::of(&order);
        if self.index.contains_key(&key) {
            return Err(StoreError::Duplicate(key));
        }
        let Some(slot) = self.free.pop() else {
            return Err(StoreError::Full {
                capacity: self.capacity(),
            });
        };
        if let Some(cell) = self.slots.get_mut(slot as usize) {
            *cell = Some(order);
        }
        self.index.insert(key, slot);
        Ok(())
    }

    /// The order under `key`.
    pub fn get(&self, key: &OrderKey) -> Option<&Order> {
        let slot = *self.index.get(key)?;
        self.slots.get(slot as usize)?.as_ref()
    }

    /// The order under `key`, to apply an event to.
    pub fn get_mut(&mut self, key: &OrderKey) -> Option<&mut Order> {
        let slot = *self.index.get(key)?;
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    /// Removes and returns the order under `key`, freeing its ClOrdID.
    pub fn remove(&mut self, key: &OrderKey) -> Option<Order> {
        let slot = self.index.remove(key)?;
        let order = self.slots.get_mut(slot as usize)?.take();
        self.free.push(slot);
        order
    }

    /// Removes every done order; returns how many.
    pub fn purge_done(&mut self) -> usize {
        let before = self.index.len();
        let OrderStore { slots, free, index } = self;
        index.retain(|_, &mut slot| {
            let Some(cell) = slots.get_mut(slot as usize) else {
                return false;
            };
            if cell.is_some_and(|o| o.status().is_done()) {
                *cell = None;
                free.push(slot);
                false
            } else {
                true
            }
        });
        before - self.index.len()
    }

    /// Every order held, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Order> + '_ {
        self.slots.iter().flatten()
    }

    /// The open orders of `account` (all accounts when `None`).
    pub fn open_orders(&self, account: Option<AccountId>) -> impl Iterator<Item = &Order> + '_ {
        self.iter()
            .filter(move |o| o.status().is_open() && account.is_none_or(|a| o.account() == a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::OrderEvent;
    use tickwarp_wire::{InstrumentId, OrderSpec, OrderType, Price, Qty, Side, TimeInForce};

    fn order(account: u32, id: &str) -> Order {
        let spec = OrderSpec {
            instrument: InstrumentId(1),
            account: AccountId(account),
            side: Side::Sell,
            ord_type: OrderType::Limit,
            tif: TimeInForce::Gtc,
            price: Price::from_ticks(10),
            qty: Qty(5),
        };
        let id = ClientOrderId::new(id).unwrap_or_else(|e| panic!("{e}"));
        Order::new(id, &spec, spec.price)
    }

    #[test]
    fn duplicate_full_remove_purge() {
        let mut s = OrderStore::with_capacity(2);
        assert_eq!(s.insert(order(1, "A")), Ok(()));
        let dup = OrderKey::of(&order(1, "A"));
        assert_eq!(s.insert(order(1, "A")), Err(StoreError::Duplicate(dup)));
        assert_eq!(s.insert(order(2, "A")), Ok(()), "other account, same id");
        assert_eq!(
            s.insert(order(3, "A")),
            Err(StoreError::Full { capacity: 2 })
        );
        assert_eq!(s.open_orders(Some(AccountId(1))).count(), 1);
        assert_eq!(s.open_orders(None).count(), 2);
        if let Some(o) = s.get_mut(&dup) {
            assert!(o.apply(OrderEvent::OrderRejected).is_ok());
        }
        assert_eq!(s.open_orders(None).count(), 1);
        assert_eq!(s.purge_done(), 1);
        assert!(!s.contains(&dup));
        assert_eq!(s.insert(order(3, "A")), Ok(()));
        let k3 = OrderKey::of(&order(3, "A"));
        assert_eq!(s.remove(&k3).map(|o| o.account()), Some(AccountId(3)));
        assert_eq!(s.len(), 1);
        assert_eq!(s.remove(&k3), None);
    }
}
