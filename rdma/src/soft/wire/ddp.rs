//! DDP (RFC 5041 §4) byte layout: the control byte, the tagged buffer header (STag, TO)
//! and the untagged buffer header (QN, MSN, MO), with the fields DDP reserves for its
//! upper layer (`RsvdULP`, which RDMAP uses for its control byte and Invalidate STag).
//!
//! Byte layout only: STag validation, placement and MSN tracking live in
//! `soft::proto`. See the module doc of `soft::wire` for the panic contract.

use super::{Error, Field, Result, be, need};

/// Byte ranges of a DDP header (RFC 5041 §4.2–4.4).
pub mod field {
    use crate::soft::wire::FieldRange;

    /// DDP control: `T`, `L`, `Rsvd`, `DV` (§4.2).
    pub const CONTROL: usize = 0;
    /// First eight `RsvdULP` bits, owned by the ULP (the RDMAP control byte).
    pub const RSVD_ULP: usize = 1;
    /// Tagged: `STag` (§4.3).
    pub const STAG: FieldRange = 2..6;
    /// Tagged: `TO`, the tagged offset (§4.3).
    pub const TO: FieldRange = 6..14;
    /// Untagged: the other 32 `RsvdULP` bits (RDMAP's Invalidate STag, §4.4).
    pub const RSVD_ULP_EXT: FieldRange = 2..6;
    /// Untagged: `QN`, the queue number (§4.4).
    pub const QN: FieldRange = 6..10;
    /// Untagged: `MSN`, the message sequence number (§4.4).
    pub const MSN: FieldRange = 10..14;
    /// Untagged: `MO`, the message offset (§4.4).
    pub const MO: FieldRange = 14..18;
}

/// Size of a tagged DDP header, RDMAP control byte included (RFC 5041 §4.3).
pub const TAGGED_HEADER_LEN: usize = 14;
/// Size of an untagged DDP header, RDMAP fields included (RFC 5041 §4.4).
pub const UNTAGGED_HEADER_LEN: usize = 18;
/// `T`: tagged buffer model.
pub const FLAG_TAGGED: u8 = 0x80;
/// `L`: last segment of a DDP message.
pub const FLAG_LAST: u8 = 0x40;
/// `Rsvd` bits of the control byte (sent as zero, ignored on receipt).
pub const RSVD_MASK: u8 = 0x3c;
/// `DV` bits of the control byte.
pub const VERSION_MASK: u8 = 0x03;
/// The only DDP version (RFC 5041 §4.2).
pub const VERSION: u8 = 1;

/// Header length for a segment whose control byte is `control`.
pub const fn header_len(control: u8) -> usize {
    if control & FLAG_TAGGED != 0 {
        TAGGED_HEADER_LEN
    } else {
        UNTAGGED_HEADER_LEN
    }
}

/// A read/write view of a DDP segment (header and payload).
///
/// The buffer-model fields of the other model (`qn()` on a tagged segment, ...) read as
/// whatever bytes sit there, or 0 past the end of the buffer; they never panic. Their
/// setters refuse with [`Error::Absent`], and `set_control` refuses a `T` bit whose
/// header the buffer cannot hold, so a checked frame stays checked (module doc of
/// `soft::wire`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a buffer and checks it holds the whole header.
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let frame = Frame::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks the buffer holds the header its `T` bit announces; afterwards no getter
    /// or setter panics, and no setter undoes the check.
    pub fn check_len(&self) -> Result<()> {
        let have = self.buffer.as_ref().len();
        need(field::RSVD_ULP + 1, have)?;
        need(self.header_len(), have)
    }

    /// Unwraps the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The raw control byte.
    pub fn control(&self) -> u8 {
        self.buffer.as_ref()[field::CONTROL]
    }

    /// `T`: tagged buffer model.
    pub fn tagged(&self) -> bool {
        self.control() & FLAG_TAGGED != 0
    }

    /// `L`: last segment of the message.
    pub fn last(&self) -> bool {
        self.control() & FLAG_LAST != 0
    }

    /// `DV`: DDP version.
    pub fn version(&self) -> u8 {
        self.control() & VERSION_MASK
    }

    /// The ULP's control byte (RDMAP control, RFC 5040 §4.2).
    pub fn rsvd_ulp(&self) -> u8 {
        self.buffer.as_ref()[field::RSVD_ULP]
    }

    /// Header length for this segment's buffer model.
    pub fn header_len(&self) -> usize {
        header_len(self.control())
    }

    fn u32_at(&self, r: super::FieldRange) -> u32 {
        match self.buffer.as_ref().get(r) {
            Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            None => 0,
        }
    }

    /// Tagged: `STag`.
    pub fn stag(&self) -> u32 {
        self.u32_at(field::STAG)
    }

    /// Tagged: `TO`.
    pub fn to(&self) -> u64 {
        match self.buffer.as_ref().get(field::TO) {
            Some(b) => be::u64(b, 0..8),
            None => 0,
        }
    }

    /// Untagged: the 32-bit `RsvdULP` field (RDMAP Invalidate STag).
    pub fn rsvd_ulp_ext(&self) -> u32 {
        self.u32_at(field::RSVD_ULP_EXT)
    }

    /// Untagged: `QN`.
    pub fn qn(&self) -> u32 {
        self.u32_at(field::QN)
    }

    /// Untagged: `MSN`.
    pub fn msn(&self) -> u32 {
        self.u32_at(field::MSN)
    }

    /// Untagged: `MO`.
    pub fn mo(&self) -> u32 {
        self.u32_at(field::MO)
    }

    /// The payload after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Frame<&'a T> {
    /// The payload, borrowed for the buffer's lifetime.
    pub fn payload_ref(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer.as_ref();
        &b[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Writes the raw control byte, if the buffer holds the header its `T` bit
    /// announces; else `Err(Truncated)` and the frame is unchanged. Never panics.
    pub fn set_control(&mut self, control: u8) -> Result<()> {
        need(header_len(control), self.buffer.as_ref().len())?;
        self.buffer.as_mut()[field::CONTROL] = control;
        Ok(())
    }

    /// Writes the ULP's control byte.
    pub fn set_rsvd_ulp(&mut self, value: u8) {
        self.buffer.as_mut()[field::RSVD_ULP] = value;
    }

    /// `Ok` if the frame is of the model `tagged` and the buffer holds its header:
    /// `Err(Absent(field))` for the other model, `Err(Truncated)` for a short buffer.
    fn check_model(&self, tagged: bool, absent: Field) -> Result<()> {
        let b = self.buffer.as_ref();
        need(field::CONTROL + 1, b.len())?;
        if (b[field::CONTROL] & FLAG_TAGGED != 0) != tagged {
            return Err(Error::Absent(absent));
        }
        need(header_len(b[field::CONTROL]), b.len())
    }

    /// Tagged: writes `STag`; `Err(Absent)` on an untagged frame. Never panics.
    pub fn set_stag(&mut self, stag: u32) -> Result<()> {
        self.check_model(true, Field::Stag)?;
        be::set_u32(self.buffer.as_mut(), field::STAG, stag);
        Ok(())
    }

    /// Tagged: writes `TO`; `Err(Absent)` on an untagged frame. Never panics.
    pub fn set_to(&mut self, to: u64) -> Result<()> {
        self.check_model(true, Field::TaggedOffset)?;
        be::set_u64(self.buffer.as_mut(), field::TO, to);
        Ok(())
    }

    /// Untagged: writes the 32-bit `RsvdULP` field; `Err(Absent)` on a tagged frame.
    /// Never panics.
    pub fn set_rsvd_ulp_ext(&mut self, value: u32) -> Result<()> {
        self.check_model(false, Field::RsvdUlp)?;
        be::set_u32(self.buffer.as_mut(), field::RSVD_ULP_EXT, value);
        Ok(())
    }

    /// Untagged: writes `QN`; `Err(Absent)` on a tagged frame. Never panics.
    pub fn set_qn(&mut self, qn: u32) -> Result<()> {
        self.check_model(false, Field::QueueNumber)?;
        be::set_u32(self.buffer.as_mut(), field::QN, qn);
        Ok(())
    }

    /// Untagged: writes `MSN`; `Err(Absent)` on a tagged frame. Never panics.
    pub fn set_msn(&mut self, msn: u32) -> Result<()> {
        self.check_model(false, Field::MessageSequenceNumber)?;
        be::set_u32(self.buffer.as_mut(), field::MSN, msn);
        Ok(())
    }

    /// Untagged: writes `MO`; `Err(Absent)` on a tagged frame. Never panics.
    pub fn set_mo(&mut self, mo: u32) -> Result<()> {
        self.check_model(false, Field::MessageOffset)?;
        be::set_u32(self.buffer.as_mut(), field::MO, mo);
        Ok(())
    }

    /// The payload after the header, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

/// The buffer model of a segment and its model-specific fields (RFC 5041 §4.3, §4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BufferModel {
    /// Tagged: placed at `to` within the buffer named by `stag`.
    Tagged {
        /// `STag`.
        stag: u32,
        /// `TO`.
        to: u64,
    },
    /// Untagged: placed at `mo` within the `msn`-th buffer posted on queue `qn`.
    Untagged {
        /// The 32 `RsvdULP` bits (RDMAP Invalidate STag, else 0).
        rsvd_ulp: u32,
        /// `QN`.
        qn: u32,
        /// `MSN`.
        msn: u32,
        /// `MO`.
        mo: u32,
    },
}

/// A parsed DDP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    /// `L`: last segment of the message.
    pub last: bool,
    /// The ULP's control byte (RDMAP control).
    pub rsvd_ulp: u8,
    /// Buffer model and its fields.
    pub model: BufferModel,
}

impl Repr {
    /// Parses a DDP header; `DV` must be 1 (RFC 5041 §4.2). `Rsvd` is ignored.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &Frame<&T>) -> Result<Repr> {
        frame.check_len()?;
        if frame.version() != VERSION {
            return Err(Error::Unsupported(Field::DdpVersion));
        }
        let model = if frame.tagged() {
            BufferModel::Tagged {
                stag: frame.stag(),
                to: frame.to(),
            }
        } else {
            BufferModel::Untagged {
                rsvd_ulp: frame.rsvd_ulp_ext(),
                qn: frame.qn(),
                msn: frame.msn(),
                mo: frame.mo(),
            }
        };
        Ok(Repr {
            last: frame.last(),
            rsvd_ulp: frame.rsvd_ulp(),
            model,
        })
    }

    /// `T` as this Repr emits it.
    pub const fn tagged(&self) -> bool {
        matches!(self.model, BufferModel::Tagged { .. })
    }

    /// Header bytes [`Repr::emit`] writes (the payload follows).
    pub const fn header_len(&self) -> usize {
        if self.tagged() {
            TAGGED_HEADER_LEN
        } else {
            UNTAGGED_HEADER_LEN
        }
    }

    /// Same as [`Repr::header_len`]: a DDP Repr emits only the header.
    pub const fn buffer_len(&self) -> usize {
        self.header_len()
    }

    /// Writes the header.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Repr::header_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, frame: &mut Frame<&mut T>) {
        let mut control = VERSION;
        if self.tagged() {
            control |= FLAG_TAGGED;
        }
        if self.last {
            control |= FLAG_LAST;
        }
        // Raw writes: the view is unchecked and the model is decided here, not by
        // whatever bytes the buffer held before (module doc, panic contract).
        let b = frame.buffer.as_mut();
        b[field::CONTROL] = control;
        b[field::RSVD_ULP] = self.rsvd_ulp;
        match self.model {
            BufferModel::Tagged { stag, to } => {
                be::set_u32(b, field::STAG, stag);
                be::set_u64(b, field::TO, to);
            }
            BufferModel::Untagged {
                rsvd_ulp,
                qn,
                msn,
                mo,
            } => {
                be::set_u32(b, field::RSVD_ULP_EXT, rsvd_ulp);
                be::set_u32(b, field::QN, qn);
                be::set_u32(b, field::MSN, msn);
                be::set_u32(b, field::MO, mo);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soft::wire::hex;
    use proptest::prelude::*;

    /// Kernel siw Send, QN 0, MSN 1 (ULPDU of golden-rping-trace.tsv frame 192).
    static SIW_SEND_ULPDU: &str =
        "4143 00000000 00000000 00000001 00000000 0000558e6f99c37020751d0000000040";
    /// Kernel siw zero-length RDMA Write RTR (siw-vm README, SIWVARIANT=p2p).
    static SIW_WRITE_RTR_ULPDU: &str = "c140 00000001 0000000000000000";

    #[test]
    fn untagged_send_header() {
        let b = hex(SIW_SEND_ULPDU);
        let f = Frame::new_checked(&b[..]).unwrap();
        let r = Repr::parse(&f).unwrap();
        assert_eq!(
            r,
            Repr {
                last: true,
                rsvd_ulp: 0x43,
                model: BufferModel::Untagged {
                    rsvd_ulp: 0,
                    qn: 0,
                    msn: 1,
                    mo: 0
                }
            }
        );
        assert_eq!(f.payload().len(), 16);
        let mut out = vec![0u8; r.header_len()];
        r.emit(&mut Frame::new_unchecked(&mut out[..]));
        assert_eq!(out[..], b[..UNTAGGED_HEADER_LEN]);
    }

    #[test]
    fn tagged_zero_length_header() {
        let b = hex(SIW_WRITE_RTR_ULPDU);
        let f = Frame::new_checked(&b[..]).unwrap();
        let r = Repr::parse(&f).unwrap();
        assert_eq!(r.model, BufferModel::Tagged { stag: 1, to: 0 });
        assert!(r.last);
        assert!(f.payload().is_empty());
        // Untagged accessors on a 14-byte tagged segment do not panic.
        assert_eq!(f.mo(), 0);
        let mut out = vec![0u8; r.header_len()];
        r.emit(&mut Frame::new_unchecked(&mut out[..]));
        assert_eq!(out, b);
    }

    #[test]
    fn errors() {
        assert_eq!(
            Frame::new_checked(&[0x41u8][..]).unwrap_err(),
            Error::Truncated { need: 2, have: 1 }
        );
        assert_eq!(
            Frame::new_checked(&[0xc1u8; 13][..]).unwrap_err(),
            Error::Truncated { need: 14, have: 13 }
        );
        let mut b = hex(SIW_WRITE_RTR_ULPDU);
        b[0] = 0xc2;
        assert_eq!(
            Repr::parse(&Frame::new_unchecked(&b[..])),
            Err(Error::Unsupported(Field::DdpVersion))
        );
    }

    #[test]
    fn setters_keep_a_checked_tagged_frame_checked() {
        // Issue 16: `set_mo` on a checked 14-byte tagged segment used to panic.
        let mut b = hex(SIW_WRITE_RTR_ULPDU);
        let before = b.clone();
        let mut f = Frame::new_checked(&mut b[..]).unwrap();
        assert_eq!(f.set_mo(7), Err(Error::Absent(Field::MessageOffset)));
        assert_eq!(f.set_qn(1), Err(Error::Absent(Field::QueueNumber)));
        assert_eq!(
            f.set_msn(1),
            Err(Error::Absent(Field::MessageSequenceNumber))
        );
        assert_eq!(f.set_rsvd_ulp_ext(1), Err(Error::Absent(Field::RsvdUlp)));
        // Clearing `T` would need the 18-byte untagged header.
        assert_eq!(
            f.set_control(0x41),
            Err(Error::Truncated { need: 18, have: 14 })
        );
        assert_eq!(f.check_len(), Ok(()));
        assert_eq!(f.into_inner(), &before[..]);
        let mut f = Frame::new_checked(&mut b[..]).unwrap();
        assert_eq!(f.set_stag(9), Ok(()));
        assert_eq!(f.set_to(10), Ok(()));
        assert_eq!(f.set_control(0xc1), Ok(()));
        assert_eq!((f.stag(), f.to(), f.last()), (9, 10, true));
    }

    #[test]
    fn setters_on_an_untagged_frame() {
        let mut b = hex(SIW_SEND_ULPDU);
        let mut f = Frame::new_checked(&mut b[..]).unwrap();
        assert_eq!(f.set_stag(1), Err(Error::Absent(Field::Stag)));
        assert_eq!(f.set_to(1), Err(Error::Absent(Field::TaggedOffset)));
        assert_eq!(f.set_mo(5), Ok(()));
        assert_eq!(f.mo(), 5);
        // Setting `T` shrinks the header to 14 bytes: allowed, the buffer holds it.
        assert_eq!(f.set_control(0xc1), Ok(()));
        assert_eq!(f.payload().len(), b.len() - TAGGED_HEADER_LEN);
        // Unchecked short buffers: the fallible setters refuse instead of panicking.
        let mut short = [0u8; 3];
        let mut f = Frame::new_unchecked(&mut short[..]);
        assert_eq!(f.set_mo(1), Err(Error::Truncated { need: 18, have: 3 }));
        assert_eq!(f.set_to(1), Err(Error::Absent(Field::TaggedOffset)));
        assert_eq!(
            f.set_control(0xc1),
            Err(Error::Truncated { need: 14, have: 3 })
        );
        let mut empty = [0u8; 0];
        assert!(Frame::new_unchecked(&mut empty[..]).set_qn(0).is_err());
    }

    fn arb_repr() -> impl Strategy<Value = Repr> {
        let model = prop_oneof![
            (any::<u32>(), any::<u64>()).prop_map(|(stag, to)| BufferModel::Tagged { stag, to }),
            (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
                |(rsvd_ulp, qn, msn, mo)| BufferModel::Untagged {
                    rsvd_ulp,
                    qn,
                    msn,
                    mo
                }
            ),
        ];
        (any::<bool>(), any::<u8>(), model).prop_map(|(last, rsvd_ulp, model)| Repr {
            last,
            rsvd_ulp,
            model,
        })
    }

    proptest! {
        #[test]
        fn round_trip(r in arb_repr(), payload in proptest::collection::vec(any::<u8>(), 0..8)) {
            let mut b = vec![0u8; r.header_len()];
            r.emit(&mut Frame::new_unchecked(&mut b[..]));
            b.extend_from_slice(&payload);
            let f = Frame::new_checked(&b[..]).unwrap();
            prop_assert_eq!(Repr::parse(&f), Ok(r));
            prop_assert_eq!(f.payload(), &payload[..]);
        }

        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            let f = Frame::new_unchecked(&b[..]);
            if let Ok(r) = Repr::parse(&f) {
                prop_assert_eq!(r.header_len(), f.header_len());
                let _ = (f.stag(), f.to(), f.qn(), f.msn(), f.mo(), f.payload());
            }
        }
    }
}
