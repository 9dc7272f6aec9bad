//! tickwarp-strategies: the strategy engine, example strategies and deterministic replay.
//!
//! - [`Strategy`]: one trait for live trading and replay. A strategy sees market data
//!   ([`Tick`]), execution events for its own orders ([`ExecReport`]) and its timer, and
//!   acts through a [`Ctx`]: new/cancel/replace orders (wire records built for it, with
//!   the causing tick's [`TickCause`](tickwarp_wire::TickCause) and deterministic client
//!   order ids), the time, its positions, open orders and PnL.
//! - [`pricer`]: pricing jobs from strategy code without blocking ([`Pricer`], the
//!   [`LocalPricer`] backend; the compute server's client implements it elsewhere).
//! - [`Engine`]: N strategies, routing by instrument and by client order id, exact
//!   fixed-point position and PnL bookkeeping; sans-IO, orders go to an [`OrderSink`].
//! - [`agent::EngineAgent`]: the engine as a `tickwarp_runtime::Agent` polling generic
//!   market data and execution sources ([`agent::MdSource`], [`agent::ExecSource`]).
//! - [`builtin`]: example strategies ([`builtin::MarketMaker`], [`builtin::Momentum`],
//!   [`builtin::Pinger`]) and the registry the CLI selects them from
//!   ([`builtin::by_name`]).
//! - [`replay`]: recorded market data from a journal through the same engine against a
//!   [`replay::FillModel`], at full speed or recorded pace, with a summary and an order
//!   stream diff ([`replay::compare()`]).
//!
//! # What this crate must not do
//!
//! No transport (the RDMA ring and message channel are plugged in through the source and
//! sink traits), no clock reads (time is always an argument; in replay it is the recorded
//! time), no threads, and no allocation per tick in steady state. It does not depend on
//! the gateway: a full venue simulator plugs in as a [`replay::FillModel`].

pub mod agent;
pub mod builtin;
pub mod ctx;
pub mod engine;
pub mod event;
pub mod order;
pub mod pricer;
pub mod rdma;
pub mod replay;
pub mod state;
pub mod strategy;

pub use ctx::{Ctx, OrderError};
pub use engine::{
    Engine, EngineConfig, EngineError, EngineStats, Handled, Routed, StrategySummary,
};
pub use event::{Execution, OwnedExecution, Tick};
pub use order::{ClOrdIdGen, CommandDecodeError, OrderCommand, OrderSink, SinkError};
pub use pricer::{LocalPricer, Pricer, PricerError};
pub use state::{
    Money, OpenOrder, OpenOrders, OrderId, OrderStatus, PendingChange, Position, StrategyStats,
};
pub use strategy::{ExecReport, Strategy};
