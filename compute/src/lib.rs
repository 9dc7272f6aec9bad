//! Remote pricing for tickwarp: strategies that run where cores are scarce (a VM on the
//! soft iWARP stack) ship pricing *jobs*, not API calls, to a compute server that owns
//! the cores.
//!
//! - [`job`]: the versioned fixed-layout records (job, result, cancel), and [`exec`]: a
//!   job through the kernels, the one path both the server and local pricing take, so
//!   the same seed gives the bit-identical price. Both live in the pure
//!   `tickwarp-pricing` crate (re-exported here) so that strategies can build jobs and
//!   price locally without linking the server;
//! - [`sched`]: the server's bounded, fair job queue (sans-IO, time is an argument);
//! - [`server`]: `tickwarp compute serve`: RDMA accept thread with the gateway's trust
//!   rules, a duty cycle that only calls non-blocking channel operations, a worker pool;
//! - [`client`]: the client transport (submit and poll without blocking);
//! - [`pricing_client`]: [`PricingClient`], one submit/poll API over the remote client
//!   and a local backend (replay, tests).
//!
//! What this crate must not do: read a clock outside `tickwarp_runtime::clock`, let a
//! client make the server commit memory it did not decide, or let one client's flood
//! starve another.

pub mod client;
pub mod pricing_client;
pub mod sched;
pub mod server;

pub use client::{ClientError, ComputeClient};
pub use pricing_client::PricingClient;
pub use server::{ComputeServer, ServerError, ServerSettings};
pub use tickwarp_pricing::exec::{self, execute, price};
pub use tickwarp_pricing::job::{
    self, Cancel, DecodeError, Field, Job, JobResult, Model, Request, Status,
};
