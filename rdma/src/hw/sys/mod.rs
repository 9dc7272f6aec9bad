//! The libibverbs + librdmacm backend (`rdma-sys`): devices, protection domains,
//! registered memory, completion queues, RC QPs and rdma_cm connection management.
//!
//! Ownership mirrors the verbs object tree: a [`Qp`] keeps its CQs, PD and rdma_cm id
//! alive, an [`Mr`] and a [`Cq`] keep their PD or device alive, and each object is
//! destroyed after everything that refers to it (`Arc` handles). Connection setup blocks
//! with a deadline on the rdma_cm event channel (`poll(2)`); posting and polling never
//! block, never allocate and make exactly one provider call.
//!
//! Everything `unsafe` of the hardware path is here; each block states why it is sound.
//! This module must not read a clock except through `tickwarp_runtime::clock` for
//! setup deadlines, and must not touch the soft backend.

#![allow(unsafe_code)]

mod addr;
mod cm;
mod cq;
mod device;
mod mem;
mod qp;

pub use cm::{Listener, Request};
pub use cq::Cq;
pub use device::{Device, list_devices};
pub use mem::{Mr, Pd};
pub use qp::Qp;

use std::io;

/// The `errno` of the last failed libc/libibverbs call on this thread.
fn last_errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}
