//! tickwarp-rdma: a verbs-shaped RDMA API with a userspace soft-iWARP backend.
//!
//! Code written against [`verbs`] reads like code written against libibverbs: a
//! [`Device`], protection domains, memory regions with a local key and a remote STag,
//! completion queues, RC queue pairs and rdma_cm-style connection management with
//! private data. The backend is picked at run time ([`Backend`]): the userspace iWARP
//! stack in [`soft`] (MPA/DDP/RDMAP over plain TCP, wire compatible with kernel `siw`)
//! or a hardware RNIC in [`hw`] (cargo feature `hw`).
//!
//! This crate knows nothing of trading applications and must not depend on them.
pub mod capture;
pub mod channel;
pub mod hw;
pub mod ring;
pub mod soft;
pub mod stats;
pub mod verbs;

pub use stats::{TerminateCounts, TransportStats};
pub use verbs::{
    Access, Backend, CmError, Completion, CompletionQueue, ConnectInfo, ConnectParams,
    ConnectRequest, Device, ListenParams, Listener, MemoryRegion, PostError, ProgressAgent,
    ProtectionDomain, QpInit, QpState, QueuePair, RecvWr, RemoteAddr, SendOp, SendWr, Sge,
    VerbsError, WcOpcode, WcStatus,
};
