//! tickwarp-testkit: support code for tickwarp's tests.
//!
//! - [`CountingAllocator`] counts heap allocations per thread, so a test can prove that a
//!   hot loop allocates nothing in steady state without being disturbed by the other
//!   test threads of the same binary.
//! - [`wait_until`] and [`run_bounded`] bound every wait a test makes: they fail with a
//!   message naming what was awaited instead of hanging.
//!
//! This crate is for tests, benchmarks and examples only. Production code must not
//! depend on it: it reads the wall clock directly, spawns unmanaged threads and reports
//! failures through `anyhow`.

mod alloc;
mod wait;

pub use alloc::{CountingAllocator, count_allocations, thread_allocations};
pub use wait::{run_bounded, wait_until};
