//! Pre-trade risk (SEC Rule 15c3-5 style), in line before anything reaches the venue:
//! [`RiskLimits`] (from TOML, reloadable), the [`RiskEngine`] that checks orders and keeps
//! per-account credit and position usage, and the per-session [`TokenBucket`] throttle.
//!
//! Every refusal is a [`RiskReject`]: a wire [`RejectReason`](tickwarp_wire::RejectReason)
//! code plus human text. This module must not read clocks (time is an argument), do I/O
//! (limits arrive as text), or track order lifecycles (that is [`crate::orders`]: the
//! caller reports fills and releases).

mod engine;
mod limits;
mod throttle;

pub use engine::{
    AccountUsage, Exposure, KillScope, Notional, PositionUsage, RiskEngine, RiskReject, SessionId,
};
pub use limits::{
    AccountLimits, InstrumentLimits, LimitsError, LoadLimitsError, MAX_ORDER_QTY,
    MAX_ORDERS_PER_DAY, MAX_POSITION, MAX_THROTTLE, RANGES as LIMIT_RANGES, RiskLimits,
    ThrottleLimits,
};
pub use throttle::TokenBucket;
