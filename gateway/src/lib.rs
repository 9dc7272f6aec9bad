//! tickwarp-gateway: the order gateway. Orders arrive from retail clients over FIX 4.4
//! or from strategies over RDMA, pass pre-trade risk ([`risk`]), are tracked through the
//! FIX order lifecycle ([`orders`]) and go to a venue session ([`venue`]: the built-in
//! price-time matching simulator, or an external venue); executions flow back the same way.
//!
//! # What this crate must not do
//!
//! Read clocks outside `tickwarp_runtime::clock` (every protocol core takes `now` as an
//! argument), or block on I/O in its protocol cores (risk, order state, venue matching and
//! the FIX session are sans-IO; only thin drivers own sockets).

pub mod fix;
pub mod orders;
pub mod ranges;
pub mod risk;
pub mod service;
pub mod venue;
