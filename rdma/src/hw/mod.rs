//! The hardware backend seam (libibverbs + librdmacm through `rdma-sys`, cargo feature
//! `hw`), in the style of mio's "shell" backend.
//!
//! Every backend must provide, behind the `enum`s of [`crate::verbs`]: device open,
//! protection domains, memory registration (lkey/rkey), completion queues, RC QPs with
//! `post_send` (SEND, SEND with solicited event, SEND with invalidate, RDMA WRITE, RDMA
//! READ), `post_recv`, `poll`, and rdma_cm listen/accept/connect with private data.
//!
//! This build carries only the shell: the types are uninhabited, so the hardware arms of
//! the dispatch `match`es compile to nothing, and opening a hardware device fails with
//! [`VerbsError::Unsupported`]. The shell must not link any system library: a machine
//! with only Rust builds and runs the soft backend.

use crate::verbs::VerbsError;

/// Why the hardware backend is unavailable in this build.
#[cfg(not(feature = "hw"))]
const REASON: &str =
    "built without the `hw` feature (rebuild with --features hw for libibverbs devices)";

/// Why the hardware backend is unavailable in this build.
#[cfg(feature = "hw")]
const REASON: &str = "the `hw` feature is enabled but this build carries no libibverbs binding";

/// The error every hardware entry point returns in the shell.
pub fn unsupported() -> VerbsError {
    VerbsError::Unsupported(REASON)
}

/// A hardware verbs device; uninhabited in the shell (it can never be opened).
#[derive(Clone, Copy, Debug)]
pub enum Device {}

impl Device {
    /// Opens the first verbs device; the shell always fails with `Unsupported`.
    pub fn open() -> Result<Device, VerbsError> {
        Err(unsupported())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_reports_unsupported() {
        assert!(matches!(Device::open(), Err(VerbsError::Unsupported(_))));
    }
}
