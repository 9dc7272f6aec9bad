//! [`RiskEngine`]: the in-line pre-trade checks every order passes before it reaches the
//! venue (SEC Rule 15c3-5 style), and the per-account usage they are checked against.
//!
//! Checks, in order, for a new order: session message rate, duplicate ClOrdID (and the
//! daily order count), kill switch, quantity, restricted instrument, price and price
//! collar against the reference price, order notional, account credit, position. A
//! replace passes the same checks with the order's new terms and its old reservation
//! taken out; a cancel passes only the message rate (cancels are always allowed, kill
//! switch or not).
//!
//! Credit usage of an account is the notional reserved by its working orders (each at
//! its [`Exposure::reserve_px`]: the limit price, or the collar's far bound for a market
//! order) plus the notional it traded, buys and sells alike (gross). A fill moves the fill's quantity from reserved to
//! traded (at the fill price); a cancel, expiry or reject releases what was reserved.
//! All amounts are exact `i128` counts of 1/10,000ths of the currency unit. The caller
//! reports every fill and every release exactly once, with the order's [`Exposure`].
//!
//! Hot path: checks and usage updates do not allocate once an account, instrument and
//! session have been seen (maps are presized for [`RiskEngine::PRESIZED_ACCOUNTS`] and
//! friends, and the ClOrdID set for `max_orders_per_day`). [`RiskEngine::reload`] and
//! the kill switch allocate. No clock (time is an argument), no I/O.

use std::collections::{HashMap, HashSet};
use std::fmt;

use tickwarp_runtime::Nanos;
use tickwarp_wire::{
    AccountId, ClientOrderId, InstrumentId, OrderSpec, OrderType, Price, Qty, RejectReason, Side,
};

use super::limits::{AccountLimits, InstrumentLimits, LimitsError, RiskLimits};
use super::throttle::TokenBucket;
use crate::orders::{OrderKey, OrderStore};

/// A client session (FIX session or RDMA connection), the unit of message throttling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u32);

/// An amount of money: an exact count of 1/10,000ths of the currency unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Notional(pub i128);

impl Notional {
    /// The amount of `price` as money.
    pub const fn of(price: Price) -> Notional {
        Notional(price.ticks() as i128)
    }
}

impl fmt::Display for Notional {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:04}", abs / 10_000, abs % 10_000)
    }
}

/// What the kill switch applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KillScope {
    /// Every account.
    Global,
    /// One account.
    Account(AccountId),
}

impl fmt::Display for KillScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KillScope::Global => f.write_str("global"),
            KillScope::Account(a) => write!(f, "account {a}"),
        }
    }
}

/// Why risk refused a message; [`RiskReject::reason`] is the wire code, `Display` the
/// human text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum RiskReject {
    /// The session sent messages faster than its throttle allows.
    #[error("message rate above {msgs_per_sec}/s (burst {burst})")]
    RateLimited {
        /// Sustained rate allowed.
        msgs_per_sec: u32,
        /// Burst allowed.
        burst: u32,
    },
    /// The ClOrdID was already used by this account today.
    #[error("duplicate ClOrdID {0}")]
    DuplicateClOrdId(ClientOrderId),
    /// The daily order count is exhausted.
    #[error("more than {limit} orders today")]
    TooManyOrders {
        /// The daily limit.
        limit: usize,
    },
    /// The kill switch is engaged.
    #[error("kill switch engaged ({0})")]
    KillSwitch(KillScope),
    /// Zero quantity.
    #[error("order quantity is zero")]
    ZeroQty,
    /// Above the maximum order quantity.
    #[error("order quantity {qty} above the limit of {limit}")]
    MaxQty {
        /// The order's quantity.
        qty: Qty,
        /// The limit.
        limit: Qty,
    },
    /// The instrument is restricted.
    #[error("instrument {0} is restricted")]
    Restricted(InstrumentId),
    /// A limit price of zero or below.
    #[error("limit price {0} is not positive")]
    InvalidPrice(Price),
    /// A market order with no reference price to collar it.
    #[error("no reference price for instrument {0}: market order refused")]
    NoReference(InstrumentId),
    /// The limit price is outside the collar around the reference price.
    #[error("price {price} outside the collar {low}..{high}")]
    OutsideCollar {
        /// The order's price.
        price: Price,
        /// Lowest price allowed.
        low: Price,
        /// Highest price allowed.
        high: Price,
    },
    /// Above the maximum order notional.
    #[error("order notional {notional} above the limit of {limit}")]
    MaxNotional {
        /// The order's notional.
        notional: Notional,
        /// The limit.
        limit: Notional,
    },
    /// Not enough credit left on the account.
    #[error("order notional {needed} above the {available} of credit left")]
    InsufficientCredit {
        /// The order's notional.
        needed: Notional,
        /// Credit left before the order.
        available: Notional,
    },
    /// The position, counting working orders, would pass the limit.
    #[error("worst-case position {worst} beyond the limit of {limit}")]
    PositionLimit {
        /// Position if every working order on this side traded.
        worst: i128,
        /// The absolute limit.
        limit: Qty,
    },
}

impl RiskReject {
    /// The wire reject code.
    pub const fn reason(&self) -> RejectReason {
        match self {
            RiskReject::RateLimited { .. } => RejectReason::RateLimited,
            RiskReject::TooManyOrders { .. } => RejectReason::MaxOrdersPerDay,
            RiskReject::DuplicateClOrdId(_) => RejectReason::DuplicateClOrdId,
            RiskReject::KillSwitch(_) => RejectReason::KillSwitch,
            RiskReject::ZeroQty => RejectReason::InvalidQty,
            RiskReject::MaxQty { .. } => RejectReason::MaxQtyExceeded,
            RiskReject::Restricted(_) => RejectReason::RestrictedInstrument,
            RiskReject::InvalidPrice(_) => RejectReason::InvalidPrice,
            RiskReject::NoReference(_) => RejectReason::NoReferencePrice,
            RiskReject::OutsideCollar { .. } => RejectReason::PriceOutsideCollar,
            RiskReject::MaxNotional { .. } => RejectReason::MaxNotionalExceeded,
            RiskReject::InsufficientCredit { .. } => RejectReason::InsufficientCredit,
            RiskReject::PositionLimit { .. } => RejectReason::PositionLimit,
        }
    }
}

/// What an accepted order holds against its account: the caller keeps it with the order
/// and hands it back with every fill and release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Exposure {
    /// The account charged.
    pub account: AccountId,
    /// The instrument.
    pub instrument: InstrumentId,
    /// The order's side.
    pub side: Side,
    /// The price credit is reserved at, per unit of working quantity.
    pub reserve_px: Price,
}

impl Exposure {
    /// Credit reserved for `qty` working.
    pub fn reserved(&self, qty: Qty) -> i128 {
        self.reserve_px.notional_ticks(qty).abs()
    }
}

/// One account's credit usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AccountUsage {
    /// Notional reserved by working orders.
    pub working: Notional,
    /// Notional traded.
    pub filled: Notional,
}

impl AccountUsage {
    /// Working plus traded notional.
    pub fn total(&self) -> Notional {
        Notional(self.working.0.saturating_add(self.filled.0))
    }
}

/// One account's position in one instrument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PositionUsage {
    /// Net traded quantity: bought minus sold.
    pub net: i128,
    /// Quantity working on the buy side.
    pub open_buy: u64,
    /// Quantity working on the sell side.
    pub open_sell: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct AccountState {
    usage: AccountUsage,
    killed: bool,
}

/// Pre-trade risk: checks, usage, reference prices, throttles, kill switch.
#[derive(Debug)]
pub struct RiskEngine {
    limits: RiskLimits,
    restricted: HashSet<InstrumentId>,
    account_limits: HashMap<AccountId, AccountLimits>,
    instrument_limits: HashMap<InstrumentId, InstrumentLimits>,
    accounts: HashMap<AccountId, AccountState>,
    positions: HashMap<(AccountId, InstrumentId), PositionUsage>,
    references: HashMap<InstrumentId, Price>,
    sessions: HashMap<SessionId, TokenBucket>,
    seen: HashSet<OrderKey>,
    global_kill: bool,
}

impl RiskEngine {
    /// Accounts the engine holds without allocating.
    pub const PRESIZED_ACCOUNTS: usize = 1_024;
    /// (account, instrument) positions the engine holds without allocating.
    pub const PRESIZED_POSITIONS: usize = 8_192;
    /// Instruments with a reference price held without allocating.
    pub const PRESIZED_INSTRUMENTS: usize = 4_096;
    /// Sessions throttled without allocating.
    pub const PRESIZED_SESSIONS: usize = 256;

    /// An engine enforcing `limits`, with no usage yet.
    pub fn new(limits: RiskLimits) -> Result<RiskEngine, LimitsError> {
        limits.validate()?;
        Ok(RiskEngine {
            restricted: limits.restricted.iter().copied().collect(),
            account_limits: limits.accounts.iter().map(|a| (a.account, *a)).collect(),
            instrument_limits: limits
                .instruments
                .iter()
                .map(|i| (i.instrument, *i))
                .collect(),
            accounts: HashMap::with_capacity(Self::PRESIZED_ACCOUNTS),
            positions: HashMap::with_capacity(Self::PRESIZED_POSITIONS),
            references: HashMap::with_capacity(Self::PRESIZED_INSTRUMENTS),
            sessions: HashMap::with_capacity(Self::PRESIZED_SESSIONS),
            // Twice the limit, so hashbrown never grows (see `OrderStore`).
            seen: HashSet::with_capacity(limits.max_orders_per_day.saturating_mul(2)),
            global_kill: false,
            limits,
        })
    }

    /// Replaces the limits without a restart; usage, reference prices, kill switches and
    /// seen ClOrdIDs are kept, throttles take the new rate at `now`. Invalid limits are
    /// refused and the old ones stay.
    pub fn reload(&mut self, limits: RiskLimits, now: Nanos) -> Result<(), LimitsError> {
        limits.validate()?;
        // Reserve first: if the room is not there, nothing has changed yet.
        let want = limits.max_orders_per_day.saturating_mul(2);
        self.seen
            .try_reserve(want.saturating_sub(self.seen.len()))
            .map_err(|_| LimitsError::NoMemory { entries: want })?;
        self.restricted = limits.restricted.iter().copied().collect();
        self.account_limits = limits.accounts.iter().map(|a| (a.account, *a)).collect();
        self.instrument_limits = limits
            .instruments
            .iter()
            .map(|i| (i.instrument, *i))
            .collect();
        let t = limits.throttle;
        for bucket in self.sessions.values_mut() {
            bucket.reconfigure(t.msgs_per_sec, t.burst, now);
        }
        self.limits = limits;
        Ok(())
    }

    /// The limits in force.
    pub fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    /// Sets the reference price of `instrument` (last trade or BBO mid, from the feed).
    pub fn update_reference(&mut self, instrument: InstrumentId, price: Price) {
        self.references.insert(instrument, price);
    }

    /// The reference price of `instrument`, if any.
    pub fn reference(&self, instrument: InstrumentId) -> Option<Price> {
        self.references.get(&instrument).copied()
    }

    /// The credit usage of `account`.
    pub fn usage(&self, account: AccountId) -> AccountUsage {
        self.accounts
            .get(&account)
            .map(|a| a.usage)
            .unwrap_or_default()
    }

    /// The position of `account` in `instrument`.
    pub fn position(&self, account: AccountId, instrument: InstrumentId) -> PositionUsage {
        self.positions
            .get(&(account, instrument))
            .copied()
            .unwrap_or_default()
    }

    /// Checks a new order `cl_ord_id` for `spec` from `session` at `now`; on success the
    /// order's notional and quantity are reserved and its [`Exposure`] returned.
    pub fn check_new(
        &mut self,
        now: Nanos,
        session: SessionId,
        cl_ord_id: ClientOrderId,
        spec: &OrderSpec,
    ) -> Result<Exposure, RiskReject> {
        self.throttle(now, session)?;
        self.claim_id(spec.account, cl_ord_id)?;
        let exposure = self.check_terms(spec, Qty::ZERO, None)?;
        self.reserve(&exposure, spec.qty);
        Ok(exposure)
    }

    /// Checks a replace `cl_ord_id` of an order held as `old` with `old_leaves` working and
    /// `cum_qty` traded, to `spec`. Nothing is reserved until the venue confirms
    /// ([`RiskEngine::on_replaced`]); the returned [`Exposure`] is the successor's.
    pub fn check_replace(
        &mut self,
        now: Nanos,
        session: SessionId,
        cl_ord_id: ClientOrderId,
        old: (&Exposure, Qty),
        cum_qty: Qty,
        spec: &OrderSpec,
    ) -> Result<Exposure, RiskReject> {
        self.throttle(now, session)?;
        self.claim_id(spec.account, cl_ord_id)?;
        self.check_terms(spec, cum_qty, Some(old))
    }

    /// Checks a cancel from `session` at `now` (message rate only).
    pub fn check_cancel(&mut self, now: Nanos, session: SessionId) -> Result<(), RiskReject> {
        self.throttle(now, session)
    }

    /// Restores an order accepted before a restart (journal replay, no checks): claims
    /// its ClOrdID and reserves `qty` at `exposure` (zero for a replace request, whose
    /// reservation moves only when the venue confirms it).
    pub fn restore(&mut self, cl_ord_id: ClientOrderId, exposure: &Exposure, qty: Qty) {
        self.seen.insert(OrderKey {
            account: exposure.account,
            cl_ord_id,
        });
        self.reserve(exposure, qty);
    }

    /// `last_qty` of the order held as `exposure` traded at `last_px`.
    pub fn on_fill(&mut self, exposure: &Exposure, last_px: Price, last_qty: Qty) {
        let account = self.accounts.entry(exposure.account).or_default();
        let usage = &mut account.usage;
        usage.working = Notional(
            usage
                .working
                .0
                .saturating_sub(exposure.reserved(last_qty))
                .max(0),
        );
        usage.filled = Notional(
            usage
                .filled
                .0
                .saturating_add(last_px.notional_ticks(last_qty).abs()),
        );
        let pos = self
            .positions
            .entry((exposure.account, exposure.instrument))
            .or_default();
        let q = i128::from(last_qty.0);
        match exposure.side {
            Side::Buy => {
                pos.open_buy = pos.open_buy.saturating_sub(last_qty.0);
                pos.net += q;
            }
            Side::Sell => {
                pos.open_sell = pos.open_sell.saturating_sub(last_qty.0);
                pos.net -= q;
            }
        }
    }

    /// The order held as `exposure` stopped working with `leaves_qty` untraded (canceled,
    /// expired, rejected by the venue, done for the day): its reservation is released.
    pub fn release(&mut self, exposure: &Exposure, leaves_qty: Qty) {
        let account = self.accounts.entry(exposure.account).or_default();
        account.usage.working = Notional(
            account
                .usage
                .working
                .0
                .saturating_sub(exposure.reserved(leaves_qty))
                .max(0),
        );
        let pos = self
            .positions
            .entry((exposure.account, exposure.instrument))
            .or_default();
        match exposure.side {
            Side::Buy => pos.open_buy = pos.open_buy.saturating_sub(leaves_qty.0),
            Side::Sell => pos.open_sell = pos.open_sell.saturating_sub(leaves_qty.0),
        }
    }

    /// The venue replaced the order held as `old` (with `old_leaves` working at that
    /// moment) by one held as `new` with `new_leaves` working: the reservation moves.
    pub fn on_replaced(
        &mut self,
        old: &Exposure,
        old_leaves: Qty,
        new: &Exposure,
        new_leaves: Qty,
    ) {
        self.release(old, old_leaves);
        self.reserve(new, new_leaves);
    }

    /// Engages the kill switch for `scope`: new orders and replaces are refused until
    /// [`RiskEngine::revive`]. Returns the keys of the open orders in `orders` to cancel.
    pub fn engage_kill_switch(&mut self, scope: KillScope, orders: &OrderStore) -> Vec<OrderKey> {
        let account = match scope {
            KillScope::Global => {
                self.global_kill = true;
                None
            }
            KillScope::Account(a) => {
                self.accounts.entry(a).or_default().killed = true;
                Some(a)
            }
        };
        orders.open_orders(account).map(OrderKey::of).collect()
    }

    /// Disengages the kill switch for `scope` (a global revive leaves account switches
    /// engaged).
    pub fn revive(&mut self, scope: KillScope) {
        match scope {
            KillScope::Global => self.global_kill = false,
            KillScope::Account(a) => {
                if let Some(state) = self.accounts.get_mut(&a) {
                    state.killed = false;
                }
            }
        }
    }

    /// Whether new orders of `account` are refused by a kill switch.
    pub fn is_killed(&self, account: AccountId) -> bool {
        self.global_kill || self.accounts.get(&account).is_some_and(|a| a.killed)
    }

    /// Forgets the day's ClOrdIDs (start of a new trading day).
    pub fn start_day(&mut self) {
        self.seen.clear();
    }

    fn throttle(&mut self, now: Nanos, session: SessionId) -> Result<(), RiskReject> {
        let t = self.limits.throttle;
        let bucket = self
            .sessions
            .entry(session)
            .or_insert_with(|| TokenBucket::new(t.msgs_per_sec, t.burst, now));
        if bucket.try_take(now) {
            Ok(())
        } else {
            Err(RiskReject::RateLimited {
                msgs_per_sec: t.msgs_per_sec,
                burst: t.burst,
            })
        }
    }

    fn claim_id(&mut self, account: AccountId, cl_ord_id: ClientOrderId) -> Result<(), RiskReject> {
        let key = OrderKey { account, cl_ord_id };
        if self.seen.contains(&key) {
            return Err(RiskReject::DuplicateClOrdId(cl_ord_id));
        }
        if self.seen.len() >= self.limits.max_orders_per_day {
            return Err(RiskReject::TooManyOrders {
                limit: self.limits.max_orders_per_day,
            });
        }
        self.seen.insert(key);
        Ok(())
    }

    /// Every check on the order's terms; `old` is the reservation a replace takes out.
    fn check_terms(
        &self,
        spec: &OrderSpec,
        cum_qty: Qty,
        old: Option<(&Exposure, Qty)>,
    ) -> Result<Exposure, RiskReject> {
        if self.global_kill {
            return Err(RiskReject::KillSwitch(KillScope::Global));
        }
        let account = self
            .accounts
            .get(&spec.account)
            .copied()
            .unwrap_or_default();
        if account.killed {
            return Err(RiskReject::KillSwitch(KillScope::Account(spec.account)));
        }
        if spec.qty.is_zero() {
            return Err(RiskReject::ZeroQty);
        }
        let inst = self.instrument_limits.get(&spec.instrument);
        let max_qty = inst
            .and_then(|i| i.max_order_qty)
            .unwrap_or(self.limits.max_order_qty);
        if spec.qty > max_qty {
            return Err(RiskReject::MaxQty {
                qty: spec.qty,
                limit: max_qty,
            });
        }
        if self.restricted.contains(&spec.instrument) {
            return Err(RiskReject::Restricted(spec.instrument));
        }
        let collar_bps = inst
            .and_then(|i| i.collar_bps)
            .unwrap_or(self.limits.collar_bps);
        let reference = self.references.get(&spec.instrument).copied();
        let reserve_px = match spec.ord_type {
            OrderType::Limit => {
                if spec.price <= Price::ZERO {
                    return Err(RiskReject::InvalidPrice(spec.price));
                }
                if let (Some(r), true) = (reference, collar_bps > 0) {
                    let (low, high) = collar(r, collar_bps);
                    if spec.price < low || spec.price > high {
                        return Err(RiskReject::OutsideCollar {
                            price: spec.price,
                            low,
                            high,
                        });
                    }
                }
                spec.price
            }
            // A market order is charged at the collar's far bound: the worst price the
            // collar lets it be reserved at.
            OrderType::Market => match reference {
                Some(r) => collar(r, collar_bps).1,
                None => return Err(RiskReject::NoReference(spec.instrument)),
            },
        };
        let exposure = Exposure {
            account: spec.account,
            instrument: spec.instrument,
            side: spec.side,
            reserve_px,
        };
        let order_notional = Notional(exposure.reserved(spec.qty));
        let max_notional = Notional::of(
            inst.and_then(|i| i.max_notional)
                .unwrap_or(self.limits.max_notional),
        );
        if order_notional > max_notional {
            return Err(RiskReject::MaxNotional {
                notional: order_notional,
                limit: max_notional,
            });
        }

        let new_leaves = spec.qty.saturating_sub(cum_qty);
        let (old_reserved, old_buy, old_sell) = match old {
            Some((e, leaves)) => (
                e.reserved(leaves),
                if e.side == Side::Buy { leaves.0 } else { 0 },
                if e.side == Side::Sell { leaves.0 } else { 0 },
            ),
            None => (0, 0, 0),
        };
        let acct_limits = self.account_limits.get(&spec.account);
        let credit_limit = Notional::of(
            acct_limits
                .and_then(|a| a.credit_limit)
                .unwrap_or(self.limits.credit_limit),
        );
        let used = account.usage.total().0.saturating_sub(old_reserved);
        let needed = Notional(exposure.reserved(new_leaves));
        if used.saturating_add(needed.0) > credit_limit.0 {
            return Err(RiskReject::InsufficientCredit {
                needed,
                available: Notional(credit_limit.0.saturating_sub(used).max(0)),
            });
        }

        let max_position = acct_limits
            .and_then(|a| a.max_position)
            .unwrap_or(self.limits.max_position);
        let pos = self.position(spec.account, spec.instrument);
        let leaves = i128::from(new_leaves.0);
        let worst = match spec.side {
            Side::Buy => pos.net + i128::from(pos.open_buy.saturating_sub(old_buy)) + leaves,
            Side::Sell => pos.net - i128::from(pos.open_sell.saturating_sub(old_sell)) - leaves,
        };
        if worst.abs() > i128::from(max_position.0) {
            return Err(RiskReject::PositionLimit {
                worst,
                limit: max_position,
            });
        }
        Ok(exposure)
    }

    fn reserve(&mut self, exposure: &Exposure, qty: Qty) {
        let account = self.accounts.entry(exposure.account).or_default();
        account.usage.working = Notional(
            account
                .usage
                .working
                .0
                .saturating_add(exposure.reserved(qty)),
        );
        let pos = self
            .positions
            .entry((exposure.account, exposure.instrument))
            .or_default();
        match exposure.side {
            Side::Buy => pos.open_buy = pos.open_buy.saturating_add(qty.0),
            Side::Sell => pos.open_sell = pos.open_sell.saturating_add(qty.0),
        }
    }
}

/// The collar `[reference - w, reference + w]` with `w = |reference| × bps / 10,000`,
/// rounded outwards to whole ticks and clamped to the price range.
fn collar(reference: Price, bps: u32) -> (Price, Price) {
    let r = i128::from(reference.ticks());
    let w = (r.abs() * i128::from(bps) + 9_999) / 10_000;
    let clamp =
        |v: i128| Price::from_ticks(v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64);
    (clamp(r - w), clamp(r + w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collar_bounds() {
        let p = Price::from_ticks(100_0000);
        assert_eq!(
            collar(p, 500),
            (Price::from_ticks(95_0000), Price::from_ticks(105_0000))
        );
        assert_eq!(collar(p, 0), (p, p));
        // 1 bp of 0.0001 rounds outwards to a whole tick.
        assert_eq!(
            collar(Price::from_ticks(1), 1),
            (Price::from_ticks(0), Price::from_ticks(2))
        );
        assert_eq!(collar(Price::MAX, 9_999).1, Price::MAX);
    }

    #[test]
    fn notional_display() {
        assert_eq!(Notional(12_345).to_string(), "1.2345");
        assert_eq!(Notional(-5).to_string(), "-0.0005");
    }

    #[test]
    fn every_reject_has_a_code_and_text() {
        let all = [
            RiskReject::RateLimited {
                msgs_per_sec: 1,
                burst: 1,
            },
            RiskReject::TooManyOrders { limit: 1 },
            RiskReject::KillSwitch(KillScope::Global),
            RiskReject::ZeroQty,
            RiskReject::Restricted(InstrumentId(1)),
            RiskReject::NoReference(InstrumentId(1)),
            RiskReject::PositionLimit {
                worst: 3,
                limit: Qty(2),
            },
        ];
        for r in all {
            assert!(!r.to_string().is_empty());
            assert_ne!(r.reason(), RejectReason::Unspecified);
        }
    }
}
