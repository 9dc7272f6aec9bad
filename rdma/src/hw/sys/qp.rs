//! RC queue pairs created through rdma_cm: `post_send` (SEND, SEND with SE, SEND with
//! Invalidate, RDMA WRITE, RDMA READ, inline data), `post_recv`, state and disconnect.
//!
//! Posting builds the `ibv_send_wr`/`ibv_recv_wr` and its SGE array on the stack and
//! makes one provider call: no allocation, no lock. The one exception is inline data
//! longer than the device's inline limit (kernel `siw` takes 80 bytes at most): it is
//! copied into a registered bounce slot under a mutex, keeping the API's "copied at post
//! time" promise. The bounce area has twice as many slots as the send queue has
//! entries and the slot index advances only on a successful post, so a slot is reused
//! only after the request that used it completed (send queues complete in order).
//!
//! Every send work request is signalled (`sq_sig_all`), as in the verbs API. This
//! module must not block or read a clock.

use std::fmt;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rdma_sys as ffi;

use super::cm::CmId;
use super::cq::Cq;
use super::mem::{Mr, Pd};
use crate::hw::QpConfig;
use crate::verbs::{
    Access, CmError, Payload, PostError, QpState, RecvWr, SendOp, SendWr, Sge, VerbsError,
};

/// SGEs per work request this backend builds on the stack at most.
const MAX_SGE: usize = 16;
/// Inline sizes tried at QP creation after the requested one (devices cap inline data).
const INLINE_FALLBACKS: [usize; 2] = [64, 0];

/// Registered memory for inline data the device cannot take inline.
struct Bounce {
    mr: Mr,
    slots: usize,
    slot_len: usize,
    /// Successful bounce posts so far (selects the next slot).
    next: Mutex<usize>,
}

struct QpShared {
    /// Destroyed first: the QP and its id, before the CQs and PD below.
    cm: CmId,
    qp: *mut ffi::ibv_qp,
    qp_num: u32,
    max_sge: usize,
    max_inline: usize,
    device_inline: usize,
    max_message_size: u64,
    bounce: Option<Bounce>,
    /// Set once this side disconnected or saw the peer disconnect: some providers
    /// (kernel `siw`) neither report the QP state nor flush work posted afterwards.
    in_error: AtomicBool,
    _send_cq: Cq,
    _recv_cq: Cq,
    _pd: Pd,
}

// SAFETY: an ibv_qp may be posted to from any thread (providers lock their queues); the
// bounce slots are behind a mutex and everything else is immutable after creation.
unsafe impl Send for QpShared {}
// SAFETY: as above.
unsafe impl Sync for QpShared {}

/// A connected RC queue pair (cloning shares it).
#[derive(Clone)]
pub struct Qp(Arc<QpShared>);

impl fmt::Debug for Qp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Qp")
            .field("qp_num", &self.0.qp_num)
            .field("device_inline", &self.0.device_inline)
            .finish()
    }
}

fn empty_sge() -> ffi::ibv_sge {
    ffi::ibv_sge {
        addr: 0,
        length: 0,
        lkey: 0,
    }
}

/// Copies `sgl` into a stack array of `ibv_sge`s.
fn build_sgl(sgl: &[Sge], max: usize) -> Result<([ffi::ibv_sge; MAX_SGE], u64), PostError> {
    if sgl.len() > max {
        return Err(PostError::TooManySge {
            have: sgl.len(),
            max,
        });
    }
    let mut out = [empty_sge(); MAX_SGE];
    let mut total = 0u64;
    for (dst, src) in out.iter_mut().zip(sgl) {
        *dst = ffi::ibv_sge {
            addr: src.addr,
            length: src.len,
            lkey: src.lkey,
        };
        total += u64::from(src.len);
    }
    Ok((out, total))
}

/// Maps a provider's post return code (a positive errno; some return -1 and set
/// `errno`, or a negated errno).
fn post_error(rc: i32) -> PostError {
    let errno = match rc {
        -1 => super::last_errno(),
        rc => rc.saturating_abs(),
    };
    match errno {
        libc::ENOMEM => PostError::QueueFull,
        errno => PostError::Rejected { errno },
    }
}

/// What posting to a QP known to be in the error state returns.
const IN_ERROR: PostError = PostError::Rejected {
    errno: libc::ENOTCONN,
};

impl Qp {
    /// Creates an RC QP on `cm`'s id (taking ownership of the id).
    pub(super) fn create(cm: CmId, pd: &Pd, config: &QpConfig) -> Result<Qp, CmError> {
        let caps = pd.device().caps();
        if config.sq_depth == 0 || config.rq_depth == 0 || config.max_sge == 0 {
            return Err(CmError::InvalidParameter(
                "queue depths and max_sge must be at least 1",
            ));
        }
        if config.sq_depth.max(config.rq_depth) > caps.max_qp_wr {
            return Err(CmError::InvalidParameter(
                "queue depth exceeds the device's max_qp_wr",
            ));
        }
        if config.max_sge > caps.max_sge.min(MAX_SGE) {
            return Err(CmError::InvalidParameter(
                "max_sge exceeds what the device (or this backend, 16) supports",
            ));
        }
        let mut last_errno = 0;
        let mut created = None;
        for inline in std::iter::once(config.max_inline).chain(
            INLINE_FALLBACKS
                .into_iter()
                .filter(|&i| i < config.max_inline),
        ) {
            let mut attr = ffi::ibv_qp_init_attr {
                qp_context: std::ptr::null_mut(),
                send_cq: config.send_cq.raw(),
                recv_cq: config.recv_cq.raw(),
                srq: std::ptr::null_mut(),
                cap: ffi::ibv_qp_cap {
                    max_send_wr: config.sq_depth as u32,
                    max_recv_wr: config.rq_depth as u32,
                    max_send_sge: config.max_sge as u32,
                    max_recv_sge: config.max_sge as u32,
                    max_inline_data: u32::try_from(inline).unwrap_or(u32::MAX),
                },
                qp_type: ffi::ibv_qp_type::IBV_QPT_RC,
                sq_sig_all: 1,
            };
            // SAFETY: the id is live and has no QP yet; PD and CQs belong to its device
            // (checked by the caller) and outlive the QP (held in QpShared).
            if unsafe { ffi::rdma_create_qp(cm.raw(), pd.raw(), &mut attr) } == 0 {
                created = Some(attr.cap);
                break;
            }
            last_errno = super::last_errno();
        }
        let Some(cap) = created else {
            return Err(CmError::Io(std::io::Error::other(format!(
                "rdma_create_qp: {}",
                std::io::Error::from_raw_os_error(last_errno)
            ))));
        };
        // SAFETY: rdma_create_qp succeeded, so the id's QP is live.
        let (qp, qp_num) = unsafe {
            let qp = (*cm.raw()).qp;
            (qp, (*qp).qp_num)
        };
        let device_inline = cap.max_inline_data as usize;
        let bounce = if config.max_inline > device_inline {
            let slots = 2 * (cap.max_send_wr as usize).max(config.sq_depth);
            let mr = pd
                .alloc_mr(slots * config.max_inline, Access::NONE)
                .map_err(|e: VerbsError| {
                    CmError::Io(std::io::Error::other(format!("inline bounce memory: {e}")))
                })?;
            Some(Bounce {
                mr,
                slots,
                slot_len: config.max_inline,
                next: Mutex::new(0),
            })
        } else {
            None
        };
        Ok(Qp(Arc::new(QpShared {
            cm,
            qp,
            qp_num,
            max_sge: config.max_sge,
            max_inline: config.max_inline,
            device_inline,
            max_message_size: config.max_message_size,
            bounce,
            in_error: AtomicBool::new(false),
            _send_cq: config.send_cq.clone(),
            _recv_cq: config.recv_cq.clone(),
            _pd: pd.clone(),
        })))
    }

    pub(super) fn cm(&self) -> &CmId {
        &self.0.cm
    }

    /// The QP number.
    pub fn qp_num(&self) -> u32 {
        self.0.qp_num
    }

    /// The current state: `Error` once this side disconnected, the peer disconnected
    /// (a pending rdma_cm event, handled here) or the device reports the QP in error;
    /// `Rts` otherwise. (Kernel `siw` does not report QP states in `ibv_query_qp`.)
    pub fn state(&self) -> QpState {
        if self.0.cm.poll_disconnected() {
            self.0.in_error.store(true, Ordering::Relaxed);
        }
        if self.0.in_error.load(Ordering::Relaxed) {
            return QpState::Error;
        }
        let mut attr = MaybeUninit::<ffi::ibv_qp_attr>::zeroed();
        let mut init = MaybeUninit::<ffi::ibv_qp_init_attr>::zeroed();
        // SAFETY: the QP is live; both out-structs are writable and zeroed.
        let rc = unsafe {
            ffi::ibv_query_qp(
                self.0.qp,
                attr.as_mut_ptr(),
                ffi::ibv_qp_attr_mask::IBV_QP_STATE.0 as i32,
                init.as_mut_ptr(),
            )
        };
        // SAFETY: zeroed plain data, filled (or left zero) by the query.
        let reported = unsafe { attr.assume_init() }.qp_state;
        if rc == 0
            && matches!(
                reported,
                ffi::ibv_qp_state::IBV_QPS_ERR | ffi::ibv_qp_state::IBV_QPS_SQE
            )
        {
            self.0.in_error.store(true, Ordering::Relaxed);
            return QpState::Error;
        }
        QpState::Rts
    }

    /// Posts a send work request.
    pub fn post_send(&self, wr: &SendWr<'_>) -> Result<(), PostError> {
        let s = &*self.0;
        if s.in_error.load(Ordering::Relaxed) {
            return Err(IN_ERROR);
        }
        let mut flags = ffi::ibv_send_flags::IBV_SEND_SIGNALED.0;
        if wr.solicited && matches!(wr.op, SendOp::Send | SendOp::SendWithInvalidate { .. }) {
            flags |= ffi::ibv_send_flags::IBV_SEND_SOLICITED.0;
        }
        match wr.payload {
            Payload::Sgl(sgl) => {
                let (mut sges, total) = build_sgl(sgl, s.max_sge)?;
                self.check_len(total)?;
                self.post(wr, &mut sges, sgl.len(), flags)
            }
            Payload::Inline(data) => {
                if matches!(wr.op, SendOp::RdmaRead { .. }) {
                    return Err(PostError::Unsupported("inline data as an RDMA READ sink"));
                }
                if data.len() > s.max_inline {
                    return Err(PostError::InlineTooLong {
                        len: data.len(),
                        max: s.max_inline,
                    });
                }
                self.check_len(data.len() as u64)?;
                let mut sges = [empty_sge(); MAX_SGE];
                match &s.bounce {
                    Some(bounce) if data.len() > s.device_inline => {
                        let mut next = bounce.next.lock().unwrap_or_else(PoisonError::into_inner);
                        let at = (*next % bounce.slots) * bounce.slot_len;
                        bounce.mr.write(at, data).map_err(|_| {
                            PostError::Unsupported("inline bounce slot out of range")
                        })?;
                        sges[0] = ffi::ibv_sge {
                            addr: bounce.mr.tagged(at as u64),
                            length: data.len() as u32,
                            lkey: bounce.mr.lkey(),
                        };
                        self.post(wr, &mut sges, 1, flags)?;
                        *next += 1;
                        Ok(())
                    }
                    _ => {
                        sges[0] = ffi::ibv_sge {
                            addr: data.as_ptr() as u64,
                            length: data.len() as u32,
                            lkey: 0,
                        };
                        let flags = flags | ffi::ibv_send_flags::IBV_SEND_INLINE.0;
                        self.post(wr, &mut sges, usize::from(!data.is_empty()), flags)
                    }
                }
            }
        }
    }

    fn check_len(&self, len: u64) -> Result<(), PostError> {
        if len > self.0.max_message_size {
            return Err(PostError::MessageTooLong {
                len,
                max: self.0.max_message_size,
            });
        }
        Ok(())
    }

    fn post(
        &self,
        wr: &SendWr<'_>,
        sges: &mut [ffi::ibv_sge; MAX_SGE],
        n: usize,
        flags: u32,
    ) -> Result<(), PostError> {
        // SAFETY: ibv_send_wr is plain data (integers, pointers, unions of them); the
        // all-zero value is valid (NULL pointers, no flags).
        let mut swr: ffi::ibv_send_wr = unsafe { MaybeUninit::zeroed().assume_init() };
        swr.wr_id = wr.wr_id;
        swr.sg_list = sges.as_mut_ptr();
        swr.num_sge = n as i32;
        swr.send_flags = flags;
        match wr.op {
            SendOp::Send => swr.opcode = ffi::ibv_wr_opcode::IBV_WR_SEND,
            SendOp::SendWithInvalidate { stag } => {
                swr.opcode = ffi::ibv_wr_opcode::IBV_WR_SEND_WITH_INV;
                swr.imm_data_invalidated_rkey_union.invalidated_rkey = stag;
                // libsiw (rdma-core 44, providers/siw) takes the STag to invalidate from
                // `wr.rdma.rkey`; other providers ignore that field for a SEND.
                swr.wr.rdma = ffi::rdma_t {
                    remote_addr: 0,
                    rkey: stag,
                };
            }
            SendOp::RdmaWrite { remote } => {
                swr.opcode = ffi::ibv_wr_opcode::IBV_WR_RDMA_WRITE;
                swr.wr.rdma = ffi::rdma_t {
                    remote_addr: remote.offset,
                    rkey: remote.stag,
                };
            }
            SendOp::RdmaRead { remote } => {
                swr.opcode = ffi::ibv_wr_opcode::IBV_WR_RDMA_READ;
                swr.wr.rdma = ffi::rdma_t {
                    remote_addr: remote.offset,
                    rkey: remote.stag,
                };
            }
        }
        let mut bad = std::ptr::null_mut();
        // SAFETY: the QP is live; `swr` and the SGEs it points to live across the call
        // (providers copy the request, or the inline bytes, before returning).
        let rc = unsafe { ffi::ibv_post_send(self.0.qp, &mut swr, &mut bad) };
        if rc != 0 {
            return Err(post_error(rc));
        }
        Ok(())
    }

    /// Posts a receive work request.
    pub fn post_recv(&self, wr: &RecvWr<'_>) -> Result<(), PostError> {
        if self.0.in_error.load(Ordering::Relaxed) {
            return Err(IN_ERROR);
        }
        let (mut sges, _) = build_sgl(wr.sgl, self.0.max_sge)?;
        let mut rwr = ffi::ibv_recv_wr {
            wr_id: wr.wr_id,
            next: std::ptr::null_mut(),
            sg_list: sges.as_mut_ptr(),
            num_sge: wr.sgl.len() as i32,
        };
        let mut bad = std::ptr::null_mut();
        // SAFETY: the QP is live; the request and its SGEs live across the call.
        let rc = unsafe { ffi::ibv_post_recv(self.0.qp, &mut rwr, &mut bad) };
        if rc != 0 {
            return Err(post_error(rc));
        }
        Ok(())
    }

    /// Disconnects (`rdma_disconnect`): the QP moves to the error state and everything
    /// outstanding completes flushed.
    pub fn disconnect(&self) {
        self.0.in_error.store(true, Ordering::Relaxed);
        self.0.cm.disconnect();
    }

    /// True when the device promises to place each RDMA WRITE in address order
    /// (`ibv_query_qp_data_in_order(qp, IBV_WR_RDMA_WRITE, 0)`, rdma-core ≥ 38).
    pub fn write_placed_in_order(&self) -> bool {
        // SAFETY: the QP is live; flags 0 asks for the whole-message answer.
        unsafe {
            ffi::ibv_query_qp_data_in_order(self.0.qp, ffi::ibv_wr_opcode::IBV_WR_RDMA_WRITE, 0)
                == 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_errors_map_to_typed_post_errors() {
        assert_eq!(post_error(libc::ENOMEM), PostError::QueueFull);
        assert_eq!(post_error(-libc::ENOMEM), PostError::QueueFull);
        assert_eq!(
            post_error(-libc::EINVAL),
            PostError::Rejected {
                errno: libc::EINVAL
            }
        );
        assert_eq!(
            post_error(libc::EINVAL),
            PostError::Rejected {
                errno: libc::EINVAL
            }
        );
    }

    #[test]
    fn sgls_are_copied_and_bounded() {
        let sgl = [
            Sge {
                lkey: 1,
                addr: 0x1000,
                len: 8,
            },
            Sge {
                lkey: 2,
                addr: 0x2000,
                len: 16,
            },
        ];
        let (out, total) = build_sgl(&sgl, 2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(total, 24);
        assert_eq!((out[1].addr, out[1].length, out[1].lkey), (0x2000, 16, 2));
        assert_eq!(
            build_sgl(&sgl, 1).err(),
            Some(PostError::TooManySge { have: 2, max: 1 })
        );
    }
}
