//! The hardware backend seam: libibverbs + librdmacm through `rdma-sys` (cargo feature
//! `hw`), in the style of mio's `sys` module with a "shell" when the feature is off.
//!
//! Every backend provides, behind the `enum`s of [`crate::verbs`]:
//! - [`Device`]: `open` (first device with an active port), `open_for` (the device
//!   rdma_cm binds a local address to), `alloc_pd`, `create_cq`;
//! - [`Pd`]: `alloc_mr`/`register` (real registered memory), `listen`, `connect`;
//! - [`Mr`]: keys, the tagged address of an offset, and the local memory accessors with
//!   the concurrency contract of [`crate::verbs::MemoryRegion`];
//! - [`Cq`]: `poll` (never blocks, never allocates), `depth`, `overrun`;
//! - [`Listener`] / [`Request`]: rdma_cm listen, connection requests with private data,
//!   accept (after the caller's `prepare` posted its receives) and reject;
//! - [`Qp`]: RC `post_send` (SEND, SEND with SE, SEND with Invalidate, RDMA WRITE,
//!   RDMA READ, inline data), `post_recv`, `state`, `disconnect`;
//! - [`list_devices`]: what `tickwarp devices` prints.
//!
//! Without the feature this module is the shell: its types are uninhabited, so the
//! hardware arms of the dispatch `match`es compile to nothing, and opening a device fails
//! with [`VerbsError::Unsupported`]. The shell links no system library: a machine with
//! only Rust builds and runs the soft backend. With the feature, all `unsafe` of the
//! crate's verbs path lives under `sys/`, each block with a `// SAFETY:` comment.
//!
//! This module must not hold protocol logic: the device does MPA/DDP/RDMAP (or
//! InfiniBand transport) itself; the backend only translates the verbs API.

use crate::verbs::{PostError, VerbsError};

#[cfg(not(feature = "hw"))]
mod shell;
#[cfg(not(feature = "hw"))]
pub use shell::*;

#[cfg(feature = "hw")]
mod sys;
#[cfg(feature = "hw")]
pub use sys::*;

/// Why the hardware backend is unavailable in this build.
#[cfg(not(feature = "hw"))]
const REASON: &str =
    "built without the `hw` feature (rebuild with --features hw for libibverbs devices)";

/// The error a hardware entry point returns when the backend cannot serve it.
pub fn unsupported() -> VerbsError {
    #[cfg(not(feature = "hw"))]
    {
        VerbsError::Unsupported(REASON)
    }
    #[cfg(feature = "hw")]
    {
        VerbsError::Unsupported("no verbs device with an active port")
    }
}

/// Creation parameters of a hardware RC QP (translated from [`crate::verbs::QpInit`]).
#[derive(Clone, Debug)]
pub struct QpConfig {
    /// Where send-queue completions go.
    pub send_cq: Cq,
    /// Where receive-queue completions go.
    pub recv_cq: Cq,
    /// Send-queue slots.
    pub sq_depth: usize,
    /// Receive-queue slots.
    pub rq_depth: usize,
    /// SGEs per work request at most.
    pub max_sge: usize,
    /// Inline bytes per send work request at most.
    pub max_inline: usize,
    /// Bytes per message at most.
    pub max_message_size: u64,
    /// Inbound RDMA READs served concurrently (responder resources).
    pub ird: u16,
    /// Outbound RDMA READs issued concurrently (initiator depth).
    pub ord: u16,
}

/// Runs once the QP exists and before the connection is established: the place to post
/// the receives the peer's first SENDs will consume.
pub type Prepare<'a> = &'a mut dyn FnMut(&Qp) -> Result<(), PostError>;

#[cfg(all(test, not(feature = "hw")))]
mod tests {
    use super::*;

    #[test]
    fn shell_reports_unsupported() {
        assert!(matches!(Device::open(), Err(VerbsError::Unsupported(_))));
        assert!(matches!(
            Device::open_for(std::net::IpAddr::from([127, 0, 0, 1])),
            Err(VerbsError::Unsupported(_))
        ));
        assert!(matches!(list_devices(), Err(VerbsError::Unsupported(_))));
    }
}
