//! Completion queues: `ibv_create_cq`, polled with `ibv_poll_cq` into a stack batch and
//! translated into [`Completion`]s.
//!
//! The device progresses QPs on its own, so polling is the whole job: no allocation, one
//! provider call per batch of up to [`POLL_BATCH`] completions. Per libibverbs, only
//! `wr_id`, `status` and `qp_num` are valid in an unsuccessful completion: its opcode is
//! reported as [`WcOpcode::Send`] and its length as 0. `ibv_wc` has no solicited-event
//! flag, so [`Completion::solicited`] is always false here; some providers (libsiw)
//! also never set `IBV_WC_WITH_INV`, leaving [`Completion::invalidated_stag`] empty. This module must not block.

use std::fmt;
use std::mem::MaybeUninit;
use std::sync::Arc;

use rdma_sys as ffi;

use super::device::Device;
use super::last_errno;
use crate::verbs::{Completion, VerbsError, WcOpcode, WcStatus};

/// Completions fetched per `ibv_poll_cq` call.
const POLL_BATCH: usize = 16;

struct CqShared {
    cq: *mut ffi::ibv_cq,
    depth: usize,
    dev: Device,
}

// SAFETY: an ibv_cq may be polled from any thread; providers lock internally.
unsafe impl Send for CqShared {}
// SAFETY: as above.
unsafe impl Sync for CqShared {}

impl Drop for CqShared {
    fn drop(&mut self) {
        // SAFETY: every QP using this CQ holds a clone of the Arc, so none is left.
        unsafe { ffi::ibv_destroy_cq(self.cq) };
    }
}

/// A hardware completion queue (cloning shares it).
#[derive(Clone)]
pub struct Cq(Arc<CqShared>);

impl fmt::Debug for Cq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cq").field("depth", &self.0.depth).finish()
    }
}

impl Cq {
    pub(super) fn new(dev: &Device, depth: usize) -> Result<Cq, VerbsError> {
        let max = dev.caps().max_cqe;
        if depth > max {
            return Err(VerbsError::InvalidParameter(
                "cq depth exceeds the device's max_cqe",
            ));
        }
        let cqe =
            i32::try_from(depth).map_err(|_| VerbsError::InvalidParameter("cq depth too large"))?;
        // SAFETY: the context is live; no completion channel, no user context.
        let cq = unsafe {
            ffi::ibv_create_cq(
                dev.ctx(),
                cqe,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            )
        };
        if cq.is_null() {
            return Err(VerbsError::Device {
                call: "ibv_create_cq",
                errno: last_errno(),
            });
        }
        Ok(Cq(Arc::new(CqShared {
            cq,
            depth,
            dev: dev.clone(),
        })))
    }

    pub(super) fn raw(&self) -> *mut ffi::ibv_cq {
        self.0.cq
    }

    /// Moves up to `out.len()` completions into `out`; returns how many.
    pub fn poll(&self, out: &mut [Completion]) -> usize {
        let mut done = 0;
        while done < out.len() {
            let want = (out.len() - done).min(POLL_BATCH);
            let mut wcs = MaybeUninit::<[ffi::ibv_wc; POLL_BATCH]>::uninit();
            // SAFETY: the CQ is live and `wcs` has room for `want <= POLL_BATCH` entries.
            let n = unsafe { ffi::ibv_poll_cq(self.0.cq, want as i32, wcs.as_mut_ptr().cast()) };
            let Ok(n) = usize::try_from(n) else {
                // A negative return is a provider error; nothing was written.
                break;
            };
            let n = n.min(want);
            let base = wcs.as_ptr().cast::<ffi::ibv_wc>();
            for (i, slot) in out.iter_mut().skip(done).take(n).enumerate() {
                // SAFETY: ibv_poll_cq initialised the first `n` entries.
                *slot = translate(unsafe { &*base.add(i) });
            }
            done += n;
            if n < want {
                break;
            }
        }
        done
    }

    /// The number of completions the queue holds at most (as requested).
    pub fn depth(&self) -> usize {
        self.0.depth
    }

    /// True once the device reported this CQ in error (`IBV_EVENT_CQ_ERR`, an overrun).
    pub fn overrun(&self) -> bool {
        self.0.dev.cq_in_error(self.0.cq)
    }
}

/// Translates one `ibv_wc` (libibverbs `ibv_poll_cq(3)`).
fn translate(wc: &ffi::ibv_wc) -> Completion {
    let status = status(wc.status);
    if status != WcStatus::Success {
        return Completion {
            wr_id: wc.wr_id,
            status,
            qp_num: wc.qp_num,
            ..Completion::default()
        };
    }
    let opcode = match wc.opcode {
        ffi::ibv_wc_opcode::IBV_WC_RDMA_WRITE => WcOpcode::RdmaWrite,
        ffi::ibv_wc_opcode::IBV_WC_RDMA_READ => WcOpcode::RdmaRead,
        ffi::ibv_wc_opcode::IBV_WC_RECV | ffi::ibv_wc_opcode::IBV_WC_RECV_RDMA_WITH_IMM => {
            WcOpcode::Recv
        }
        _ => WcOpcode::Send,
    };
    let flags = ffi::ibv_wc_flags(wc.wc_flags);
    let invalidated = (flags & ffi::ibv_wc_flags::IBV_WC_WITH_INV) != ffi::ibv_wc_flags(0);
    Completion {
        wr_id: wc.wr_id,
        opcode,
        status,
        byte_len: wc.byte_len,
        qp_num: wc.qp_num,
        // `ibv_wc` carries no solicited-event flag (SE only drives solicited-only CQ
        // notification), so the hardware backend cannot report it.
        solicited: false,
        invalidated_stag: if invalidated {
            // SAFETY: with IBV_WC_WITH_INV the union holds the invalidated rkey.
            Some(unsafe { wc.imm_data_invalidated_rkey_union.invalidated_rkey })
        } else {
            None
        },
    }
}

/// Maps an `ibv_wc_status` onto our statuses (`ibv_wc_status_str(3)`).
fn status(status: ffi::ibv_wc_status::Type) -> WcStatus {
    use ffi::ibv_wc_status as s;
    match status {
        s::IBV_WC_SUCCESS => WcStatus::Success,
        s::IBV_WC_LOC_LEN_ERR => WcStatus::LocalLengthError,
        s::IBV_WC_LOC_PROT_ERR | s::IBV_WC_MW_BIND_ERR => WcStatus::LocalProtectionError,
        s::IBV_WC_REM_ACCESS_ERR => WcStatus::RemoteAccessError,
        s::IBV_WC_REM_INV_REQ_ERR => WcStatus::RemoteInvalidRequest,
        s::IBV_WC_WR_FLUSH_ERR => WcStatus::WrFlushError,
        _ => WcStatus::RemoteOperationError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_onto_the_verbs_statuses() {
        use ffi::ibv_wc_status as s;
        for (raw, want) in [
            (s::IBV_WC_SUCCESS, WcStatus::Success),
            (s::IBV_WC_LOC_LEN_ERR, WcStatus::LocalLengthError),
            (s::IBV_WC_LOC_PROT_ERR, WcStatus::LocalProtectionError),
            (s::IBV_WC_REM_ACCESS_ERR, WcStatus::RemoteAccessError),
            (s::IBV_WC_REM_INV_REQ_ERR, WcStatus::RemoteInvalidRequest),
            (s::IBV_WC_WR_FLUSH_ERR, WcStatus::WrFlushError),
            (s::IBV_WC_REM_OP_ERR, WcStatus::RemoteOperationError),
            (s::IBV_WC_GENERAL_ERR, WcStatus::RemoteOperationError),
        ] {
            assert_eq!(status(raw), want, "status {raw}");
        }
    }
}
