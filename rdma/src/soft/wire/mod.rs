//! Byte layout of the iWARP wire protocols: MPA (RFC 5044, RFC 6581), DDP (RFC 5041)
//! and RDMAP (RFC 5040).
//!
//! Each header type has a zero-copy `Frame<T: AsRef<[u8]>>` view, with a `mod field` of
//! byte ranges named as in the RFC, getters on `AsRef` and setters on `AsMut`, and a
//! `Repr` that parses from and emits into that view. The wire layer holds no state and
//! does no I/O; negotiation, placement and error handling live in `soft::proto`.
//!
//! # Panic contract
//!
//! smoltcp's contract, made precise for every setter:
//!
//! - `Frame::new_unchecked` never panics. On an unchecked frame a getter or a
//!   fixed-offset setter may panic when the buffer is too short.
//! - After `check_len()` returns `Ok` (or `Frame::new_checked` succeeds), no getter and
//!   no setter of that frame panics, **and no sequence of setter calls can make
//!   `check_len` fail**: a setter that would change the header's size or shape to one
//!   the buffer cannot hold, or write a field the frame's current shape does not have,
//!   returns an error and leaves the buffer unchanged. These are:
//!
//!   | view | fallible setter | why | error |
//!   |---|---|---|---|
//!   | [`DdpFrame`] | `set_control` | `T` switches the header between 14 (tagged) and 18 (untagged) bytes | [`Error::Truncated`] |
//!   | [`DdpFrame`] | `set_stag`, `set_to` | tagged fields | [`Error::Absent`] on an untagged frame |
//!   | [`DdpFrame`] | `set_rsvd_ulp_ext`, `set_qn`, `set_msn`, `set_mo` | untagged fields | [`Error::Absent`] on a tagged frame |
//!   | [`MpaFrame`] | `set_pd_length` | the private data length | [`Error::Truncated`] |
//!   | [`MpaFpduFrame`] | `set_ulpdu_len` | the FPDU length (ULPDU, pad, CRC) | [`Error::Truncated`] |
//!   | [`RdmapTerminateFrame`] | `set_hdrct` | `D` and `R` add the copied DDP (16 or 20 bytes) and Read Request (28 bytes) headers | [`Error::Truncated`] |
//!   | [`RdmapTerminateFrame`] | `set_ddp_segment_len` | present only with `D` | [`Error::Absent`] |
//!
//!   These fallible setters never panic, on a checked or an unchecked frame: they
//!   check the buffer themselves ([`Error::Absent`] when the frame's current shape
//!   lacks the field, [`Error::Truncated`] when the buffer is too short). Every other
//!   setter writes a field at a fixed offset inside the shortest header the view
//!   accepts, or inside the length the checked header announces (the RDMAP control
//!   byte `set_rsvd_ulp`; the MPA key, flags and `Rev`; the FPDU `set_crc` and
//!   `fill_trailer`; the Terminate `set_cause`; every Read Request field), so a
//!   successful `check_len` covers it. The writable payload
//!   slices (`payload_mut`, `private_data_mut`, `ulpdu_mut`) lie after the header and
//!   cannot change it.
//! - Getters of the other buffer model or of an absent Terminate part read the bytes
//!   that sit there, or 0 / an empty slice past the end; they never panic once checked.
//! - `Repr::parse` never panics on any input. `Repr::emit` writes into an unchecked
//!   view (checking a buffer before emitting into it is wrong: stale bytes would decide
//!   its length) and panics only when the caller breaks its own contract: a buffer
//!   shorter than `Repr::buffer_len()` (or `header_len()`).
//! - Changes made to the buffer behind the view's back (after `into_inner`, or through
//!   another view of the same bytes) void the check: call `check_len` again.
//!
//! `wire/contract.rs` property-tests this: arbitrary bytes that pass `check_len`, any
//! sequence of setters, then every getter.
//!
//! All multi-byte header fields are big-endian, except the MPA CRC, which is stored
//! least-significant byte first (RFC 5044 §4.1, as Linux `siw` and Wireshark agree).

use core::fmt;

pub mod crc;
pub mod ddp;
pub mod mpa;
pub mod rdmap;

#[cfg(test)]
mod contract;

pub use ddp::{Frame as DdpFrame, Repr as DdpRepr};
pub use mpa::{
    EnhancedParams as MpaEnhancedParams, FpduFrame as MpaFpduFrame, Frame as MpaFrame,
    FrameKind as MpaFrameKind, Repr as MpaRepr,
};
pub use rdmap::{
    Opcode as RdmapOpcode, ReadRequestFrame as RdmapReadRequestFrame,
    ReadRequestRepr as RdmapReadRequestRepr, Repr as RdmapRepr,
    TerminateCause as RdmapTerminateCause, TerminateFrame as RdmapTerminateFrame,
    TerminateRepr as RdmapTerminateRepr,
};

/// Why a frame could not be parsed. Small and `Copy`; each variant says what failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer ends before the frame does.
    #[error("truncated frame: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes the frame needs.
        need: usize,
        /// Bytes the buffer holds.
        have: usize,
    },
    /// The 16-byte MPA key is neither "MPA ID Req Frame" nor "MPA ID Rep Frame".
    #[error("bad MPA key (not \"MPA ID Req Frame\" / \"MPA ID Rep Frame\")")]
    BadKey,
    /// The FPDU's stored CRC32c does not match its contents (RFC 5044 §4.4).
    #[error("bad MPA CRC: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc {
        /// CRC found in the frame.
        stored: u32,
        /// CRC computed over the frame.
        computed: u32,
    },
    /// A version or revision field holds a value this stack does not speak.
    #[error("unsupported value in {0}")]
    Unsupported(Field),
    /// A field holds a value the RFC forbids, or one inconsistent with another field.
    #[error("malformed {0}")]
    Malformed(Field),
    /// A setter named a field the frame's current shape does not have (a tagged DDP
    /// field on an untagged segment, the DDP Segment Length of a Terminate without `D`).
    #[error("{0} is not present in this frame")]
    Absent(Field),
}

/// A header field, named as in the RFCs; carried by [`Error`] to say what failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// MPA Request/Reply `Rev` (RFC 5044 §7.1).
    MpaRevision,
    /// MPA Request/Reply `PD_Length` (RFC 5044 §7.1, at most 512).
    PdLength,
    /// RFC 6581 enhanced IRD/ORD words (RFC 6581 §9.1).
    EnhancedParams,
    /// DDP control `DV`, the DDP version (RFC 5041 §4.2).
    DdpVersion,
    /// DDP control `T`, tagged or untagged (RFC 5041 §4.2).
    TaggedFlag,
    /// DDP control `L`, last segment (RFC 5041 §4.2).
    LastFlag,
    /// Untagged DDP `QN`, the queue number (RFC 5041 §4.4).
    QueueNumber,
    /// Untagged DDP `MO`, the message offset (RFC 5041 §4.4).
    MessageOffset,
    /// Untagged DDP `MSN`, the message sequence number (RFC 5041 §4.4).
    MessageSequenceNumber,
    /// Untagged DDP `RsvdULP` word (RDMAP Invalidate STag, RFC 5041 §4.4).
    RsvdUlp,
    /// Tagged DDP `STag` (RFC 5041 §4.3).
    Stag,
    /// Tagged DDP `TO`, the tagged offset (RFC 5041 §4.3).
    TaggedOffset,

    /// RDMAP control `RV`, the RDMAP version (RFC 5040 §4.2).
    RdmapVersion,
    /// RDMAP control `Opcode` (RFC 5040 §4.2).
    Opcode,
    /// Terminate `Layer` (RFC 5040 §4.8).
    TerminateLayer,
    /// Terminate `EType` (RFC 5040 §4.8).
    TerminateErrorType,
    /// Terminate `Error Code` (RFC 5040 §4.8).
    TerminateErrorCode,
    /// Terminate `DDP Segment Length` (RFC 5040 §4.8).
    DdpSegmentLength,
}

impl Field {
    /// The field's name as the RFC writes it.
    pub const fn name(self) -> &'static str {
        match self {
            Field::MpaRevision => "MPA Rev",
            Field::PdLength => "MPA PD_Length",
            Field::EnhancedParams => "MPA enhanced IRD/ORD",
            Field::DdpVersion => "DDP DV",
            Field::TaggedFlag => "DDP T flag",
            Field::LastFlag => "DDP L flag",
            Field::QueueNumber => "DDP QN",
            Field::MessageOffset => "DDP MO",
            Field::MessageSequenceNumber => "DDP MSN",
            Field::RsvdUlp => "DDP RsvdULP",
            Field::Stag => "DDP STag",
            Field::TaggedOffset => "DDP TO",
            Field::RdmapVersion => "RDMAP RV",
            Field::Opcode => "RDMAP Opcode",
            Field::TerminateLayer => "Terminate Layer",
            Field::TerminateErrorType => "Terminate EType",
            Field::TerminateErrorCode => "Terminate Error Code",
            Field::DdpSegmentLength => "Terminate DDP Segment Length",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Result of a wire-layer parse.
pub type Result<T> = core::result::Result<T, Error>;

/// A byte range within a header (start inclusive, end exclusive).
pub(crate) type FieldRange = core::ops::Range<usize>;

/// `Err(Truncated)` unless `have >= need`.
pub(crate) fn need(need: usize, have: usize) -> Result<()> {
    if have < need {
        Err(Error::Truncated { need, have })
    } else {
        Ok(())
    }
}

/// Big-endian field access on fixed ranges; callers guarantee the range is in bounds.
pub(crate) mod be {
    use super::FieldRange;

    pub(crate) fn u16(b: &[u8], r: FieldRange) -> u16 {
        let mut a = [0u8; 2];
        a.copy_from_slice(&b[r]);
        u16::from_be_bytes(a)
    }

    pub(crate) fn u32(b: &[u8], r: FieldRange) -> u32 {
        let mut a = [0u8; 4];
        a.copy_from_slice(&b[r]);
        u32::from_be_bytes(a)
    }

    pub(crate) fn u64(b: &[u8], r: FieldRange) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[r]);
        u64::from_be_bytes(a)
    }

    pub(crate) fn set_u16(b: &mut [u8], r: FieldRange, v: u16) {
        b[r].copy_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn set_u32(b: &mut [u8], r: FieldRange, v: u32) {
        b[r].copy_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn set_u64(b: &mut [u8], r: FieldRange, v: u64) {
        b[r].copy_from_slice(&v.to_be_bytes());
    }
}

/// Decodes a hex string (whitespace ignored) in tests; panics on bad input.
#[cfg(test)]
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|p| {
            let s = core::str::from_utf8(p).expect("ascii");
            u8::from_str_radix(s, 16).expect("hex digit")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_failed() {
        let e = Error::Truncated { need: 18, have: 3 };
        assert_eq!(e.to_string(), "truncated frame: need 18 bytes, have 3");
        let e = Error::BadCrc {
            stored: 1,
            computed: 0x2fea_cc75,
        };
        assert_eq!(
            e.to_string(),
            "bad MPA CRC: stored 0x00000001, computed 0x2feacc75"
        );
        assert_eq!(
            Error::Unsupported(Field::DdpVersion).to_string(),
            "unsupported value in DDP DV"
        );
        assert_eq!(
            Error::Absent(Field::MessageOffset).to_string(),
            "DDP MO is not present in this frame"
        );
        assert!(core::mem::size_of::<Error>() <= 24);
    }

    #[test]
    fn need_reports_sizes() {
        assert_eq!(need(4, 4), Ok(()));
        assert_eq!(need(5, 4), Err(Error::Truncated { need: 5, have: 4 }));
    }
}
