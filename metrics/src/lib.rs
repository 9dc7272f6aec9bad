//! tickwarp's metrics: counters, gauges and latency histograms in a memory-mapped
//! counters file (Aeron's CnC counters file is the model), read live by `tickwarp stat`
//! from another process and served to Prometheus by an exporter thread.
//!
//! - [`layout`]: the file's byte layout (header, per-slot metadata, one cache line per
//!   value), the histogram buckets, name and label rules.
//! - [`CountersFile`] (writer): created at start in a run directory, where metrics are
//!   registered (this may allocate); [`Counter`], [`Gauge`] and [`Histogram`] then record
//!   with one load and one store of their own word: no lock, no allocation, each value
//!   written by one thread only.
//! - [`CountersReader`] / [`parse`] (reader): a read-only mapping and a checked parse
//!   into a [`Snapshot`]; [`find`] locates the file by run directory or PID and
//!   [`liveness`] tells a running writer from a dead one's last values.
//! - [`Exporter`]: `GET /metrics` on its own thread, from the read side.
//!
//! **Where the file lives.** `DIR/tickwarp.counters`, one per process; the directory is
//! the component's `[metrics] dir` (the gateway's default: `<journal.dir>/metrics`).
//! `tickwarp stat --dir DIR` reads it; `tickwarp stat --pid PID` finds it in
//! `/proc/PID/maps` (the writer keeps it mapped, so no PID file or symlink is needed).
//! A file whose writer is gone stays readable: its header's PID no longer maps it (or
//! its header says it was closed), and readers say "not running, last values".
//!
//! What this crate must not do: read a clock on the recording side (times are
//! arguments), lock or allocate when recording, or trust a file it reads.

pub mod exporter;
pub mod layout;
mod map;
pub mod reader;
pub mod writer;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use exporter::{Exporter, encode};
pub use reader::{
    CountersReader, Header, HistogramValue, Liveness, Metric, Snapshot, Value, find, liveness,
    parse,
};
pub use writer::{Counter, CountersFile, Gauge, Histogram, ProcessInfo};

/// The counters file's name in its run directory.
pub const COUNTERS_FILE: &str = "tickwarp.counters";

/// What went wrong with a counters file or the exporter.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A file operation failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A capacity outside 1..=[`layout::MAX_SLOTS`].
    #[error("counters file capacity {0} is outside 1..={max}", max = layout::MAX_SLOTS)]
    Capacity(usize),
    /// Every slot is taken.
    #[error("counters file full ({capacity} slots)")]
    Full {
        /// The capacity.
        capacity: usize,
    },
    /// Not a valid metric name (or longer than 96 bytes).
    #[error("invalid metric name {0:?}")]
    Name(String),
    /// A label key or value this layout cannot hold.
    #[error("invalid label {0:?}")]
    Label(String),
    /// A running process writes this file.
    #[error("{} is in use by running process {pid}: give each process its own [metrics] dir", .path.display())]
    InUse {
        /// The file.
        path: PathBuf,
        /// The process.
        pid: u32,
    },
    /// The file is not a counters file this version reads.
    #[error("{}: {what}", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// No counters file where it was looked for.
    #[error("{0}")]
    NotFound(String),
    /// The exporter could not listen.
    #[error("metrics exporter on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The exposition text could not be made.
    #[error("metrics encoding: {0}")]
    Encode(String),
}
