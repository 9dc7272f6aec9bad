//! Choosing a Terminate: which RFC 5040 §7 / RFC 5041 §7 / RFC 5044 §8 cause answers a
//! protection fault or a malformed segment, which headers of the offending segment it
//! copies (RFC 5040 §4.8 `HdrCt`), and what a received Terminate means for the work
//! request it fails. The byte layout itself is `wire::rdmap`'s; this module holds no
//! state and sends nothing.

use crate::soft::wire::ddp;
use crate::soft::wire::rdmap::{
    DdpTaggedCode, RdmapOperationCode, RdmapProtectionCode, ReadRequestRepr, TerminateCause,
    TerminateRepr, TerminatedDdp, TerminatedDdpHeader,
};

use super::CompletionStatus;
use super::memory::ProtectionFault;

/// Layer, error type and error code of a Terminate (RFC 5040 §4.8, §7).
pub type TermCause = TerminateCause;

/// A Terminate waiting to be sent: the header `poll_transmit` emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TermOut {
    /// Layer / EType / Error Code.
    pub(super) cause: TermCause,
    /// The full Terminate header, with any copied DDP/RDMAP header.
    pub(super) repr: TerminateRepr,
}

impl TermOut {
    /// A Terminate for a local failure that no received segment caused (no headers).
    pub(super) fn local(cause: TermCause) -> TermOut {
        TermOut {
            cause,
            repr: TerminateRepr {
                cause,
                segment_len_valid: false,
                ddp: None,
                rdma: None,
            },
        }
    }

    /// A Terminate for the segment `ulpdu` (DDP header first) whose MPA length field
    /// was `segment_len`: copies its DDP header (`M` and `D`, RFC 5040 §4.8) when the
    /// segment holds a whole one, and the Read Request header (`R`) when given.
    pub(super) fn for_segment(
        cause: TermCause,
        segment_len: u16,
        ulpdu: &[u8],
        read_request: Option<ReadRequestRepr>,
    ) -> TermOut {
        let ddp = TerminatedDdpHeader::copy_from(ulpdu)
            .ok()
            .map(|header| TerminatedDdp {
                segment_len,
                header,
            });
        TermOut {
            cause,
            repr: TerminateRepr {
                cause,
                segment_len_valid: ddp.is_some(),
                ddp,
                rdma: read_request,
            },
        }
    }
}

/// The Terminate cause for a refused RDMA Write placement (RFC 5041 §7.2 tagged buffer
/// errors, which DDP checks; DDP has no access-rights code, so that one is RDMAP's
/// Remote Protection Error, RFC 5040 §7.2).
pub(super) fn write_fault_cause(fault: ProtectionFault) -> TermCause {
    match fault {
        ProtectionFault::InvalidStag | ProtectionFault::Invalidated => {
            TermCause::DdpTagged(DdpTaggedCode::InvalidStag)
        }
        ProtectionFault::BaseOrBounds => TermCause::DdpTagged(DdpTaggedCode::BaseOrBounds),
        ProtectionFault::PdMismatch => TermCause::DdpTagged(DdpTaggedCode::StagNotAssociated),
        ProtectionFault::ToWrap => TermCause::DdpTagged(DdpTaggedCode::ToWrap),
        ProtectionFault::AccessRights => {
            TermCause::RdmapProtection(RdmapProtectionCode::AccessRights)
        }
    }
}

/// The Terminate cause for a refused RDMA Read Request (RFC 5040 §7.2 Remote Protection
/// Error: RDMAP validates the Data Source STag, §4.4).
pub(super) fn read_fault_cause(fault: ProtectionFault) -> TermCause {
    TermCause::RdmapProtection(match fault {
        ProtectionFault::InvalidStag | ProtectionFault::Invalidated => {
            RdmapProtectionCode::InvalidStag
        }
        ProtectionFault::BaseOrBounds => RdmapProtectionCode::BaseOrBounds,
        ProtectionFault::AccessRights => RdmapProtectionCode::AccessRights,
        ProtectionFault::PdMismatch => RdmapProtectionCode::StagNotAssociated,
        ProtectionFault::ToWrap => RdmapProtectionCode::ToWrap,
    })
}

/// The Terminate cause for a Send with Invalidate whose STag could not be invalidated
/// (RFC 5040 §7.2 Remote Operation Error 0x09).
pub(super) const CANNOT_INVALIDATE: TermCause =
    TermCause::RdmapOperation(RdmapOperationCode::CannotInvalidate);

/// The Terminate cause for a well-formed but wrong RDMAP message (a Read Response with
/// no matching request, a short Read Response, a Read Request of the wrong size).
pub(super) const UNSPECIFIED_OPERATION: TermCause =
    TermCause::RdmapOperation(RdmapOperationCode::Unspecified);

/// The status a received Terminate gives the oldest outstanding send work request:
/// protection errors refuse an access, everything else failed the operation.
pub(super) fn status_for_received(cause: TermCause) -> CompletionStatus {
    match cause {
        TermCause::RdmapProtection(_) | TermCause::DdpTagged(_) => {
            CompletionStatus::RemoteAccessError
        }
        _ => CompletionStatus::RemoteOperationError,
    }
}

/// True when the ULPDU's first byte has DDP's `T` flag (for choosing tagged or untagged
/// version errors).
pub(super) fn is_tagged(ulpdu: &[u8]) -> bool {
    ulpdu.first().is_some_and(|c| c & ddp::FLAG_TAGGED != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soft::wire::rdmap::{DdpUntaggedCode, Layer};

    #[test]
    fn protection_faults_map_to_rfc_codes() {
        use ProtectionFault as F;
        let codes = |c: TermCause| (c.layer() as u8, c.error_type(), c.error_code());
        assert_eq!(codes(write_fault_cause(F::InvalidStag)), (1, 1, 0x00));
        assert_eq!(codes(write_fault_cause(F::Invalidated)), (1, 1, 0x00));
        assert_eq!(codes(write_fault_cause(F::BaseOrBounds)), (1, 1, 0x01));
        assert_eq!(codes(write_fault_cause(F::PdMismatch)), (1, 1, 0x02));
        assert_eq!(codes(write_fault_cause(F::ToWrap)), (1, 1, 0x03));
        assert_eq!(codes(write_fault_cause(F::AccessRights)), (0, 1, 0x02));
        assert_eq!(codes(read_fault_cause(F::InvalidStag)), (0, 1, 0x00));
        assert_eq!(codes(read_fault_cause(F::BaseOrBounds)), (0, 1, 0x01));
        assert_eq!(codes(read_fault_cause(F::AccessRights)), (0, 1, 0x02));
        assert_eq!(codes(read_fault_cause(F::PdMismatch)), (0, 1, 0x03));
        assert_eq!(codes(read_fault_cause(F::ToWrap)), (0, 1, 0x04));
        assert_eq!(codes(CANNOT_INVALIDATE), (0, 2, 0x09));
    }

    #[test]
    fn segment_terminate_copies_headers_it_can() {
        let untagged = [
            0x41u8, 0x43, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 9, 9,
        ];
        let cause = TermCause::DdpUntagged(DdpUntaggedCode::InvalidMsnNoBuffer);
        let t = TermOut::for_segment(cause, 20, &untagged, None);
        assert!(t.repr.segment_len_valid);
        let copied = t
            .repr
            .ddp
            .map(|d| (d.segment_len, d.header.as_bytes().to_vec()));
        assert_eq!(copied, Some((20, untagged[..18].to_vec())));
        let short = TermOut::for_segment(cause, 3, &untagged[..3], None);
        assert_eq!(short.repr.ddp, None);
        assert!(!short.repr.segment_len_valid);
        assert_eq!(TermOut::local(cause).cause.layer(), Layer::Ddp);
    }
}
