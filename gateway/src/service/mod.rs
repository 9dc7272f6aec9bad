//! The gateway service: the order-flow core and the drivers around it.
//!
//! - [`core`]: [`OrderCore`], sans-IO: validation → risk → order state → write-ahead
//!   journal → venue, and executions back, as [`Report`]s for each origin.
//! - [`recovery`]: the journal record types and the replay that rebuilds orders,
//!   pending requests, risk usage and kill switches after a restart.
//! - [`acceptor`]: [`FixAcceptor`], many FIX sessions over non-blocking mio sockets on
//!   one thread; a connection is anonymous (small budget) until its Logon authenticated
//!   (argon2id, on a verifier thread), then bound to its session.
//! - [`rdma_entry`]: [`RdmaEntry`], binary wire orders from `MessageChannel` clients;
//!   [`rdma_auth`]: their credentials, token hashes and the failure throttle;
//!   [`rdma_admission`]: who may connect and what a connection commits (shared with the
//!   compute server).
//! - [`gateway`]: [`GatewayAgent`], the [`tickwarp_runtime::Agent`] that runs the core,
//!   the venue simulator and both front ends in one duty cycle.
//! - [`config`]: [`GatewayConfig`], the TOML configuration.
//! - [`metrics`]: [`metrics::GatewayMetrics`], the counters file and `/metrics`.
//! - [`manifest`]: the list of journals under the journal directory, so a deleted one
//!   is refused at start instead of recreated empty.
//!
//! What this module must not do: read a clock except once per duty cycle in the agent
//! (through `tickwarp_runtime::clock`), block in a duty cycle, or acknowledge anything the
//! journal does not hold.

pub mod acceptor;
pub mod config;
pub mod core;
pub mod gateway;
pub mod manifest;
pub mod metrics;
pub mod rdma_admission;
pub mod rdma_auth;
pub mod rdma_entry;
pub mod recovery;

pub use acceptor::{AcceptorSession, Credential, FixAcceptor, FrontDoor};
pub use config::{ConfigError, GatewayConfig};
pub use core::{CoreConfig, CoreError, OrderCore, Origin, RecoveryReport, Report};
pub use gateway::{GatewayAgent, LimitsReload, ServiceError};
pub use rdma_entry::{
    RdmaEntry, RdmaEntrySettings, RdmaEntryStats, RdmaStatsHandle, client_connect_params,
};
pub use recovery::{Recovered, read_journal};
