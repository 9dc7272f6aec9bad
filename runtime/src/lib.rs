//! tickwarp-runtime: agents, idle strategies, pinned runners and clocks.
//!
//! Time units live in [`time`].
pub mod time;

pub use time::{Nanos, UnixNanos};
