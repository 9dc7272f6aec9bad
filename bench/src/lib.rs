//! tickwarp-bench: the benchmarks that answer tickwarp's latency and throughput
//! questions, one binary per question (`journal_append`, `clock_read`, …), and the
//! code they share: reporting ([`report`]), tick-to-trade hop histograms and plots
//! ([`pipeline`], also used by `tickwarp demo`), bounded polling ([`spin`]) and the
//! raw-TCP baseline ([`tcp`]).
//!
//! Every benchmark warms up, records into an HdrHistogram, prints percentiles, runs its
//! baseline in the same process run and prints the ratio. Benchmarks live here and never
//! in timed tests; this crate must not be a dependency of any production crate.

pub mod pipeline;
pub mod report;
pub mod spin;
pub mod tcp;
