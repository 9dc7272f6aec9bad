//! MPA (RFC 5044) byte layout: the MPA Request/Reply frames of connection setup (§7.1,
//! with the RFC 6581 §9.1 enhanced IRD/ORD words) and the FPDU framing of the data
//! phase (§4: ULPDU_Length, ULPDU, pad, CRC32c).
//!
//! Byte layout only: which flags to send and what a peer's flags mean is decided by
//! `soft::proto::mpa_setup`. See the module doc of `soft::wire` for the panic contract.

use super::{Error, Field, Result, be, crc, need};

/// Byte ranges of the MPA Request/Reply frame (RFC 5044 §7.1, RFC 6581 §9.1).
pub mod field {
    use crate::soft::wire::FieldRange;

    /// `Key`: "MPA ID Req Frame" or "MPA ID Rep Frame".
    pub const KEY: FieldRange = 0..16;
    /// `M`, `C`, `R` and the five `Res` bits.
    pub const FLAGS: usize = 16;
    /// `Rev`.
    pub const REV: usize = 17;
    /// `PD_Length`.
    pub const PD_LENGTH: FieldRange = 18..20;
    /// Start of `Private Data`.
    pub const PRIVATE_DATA: usize = 20;
    /// RFC 6581 §9.1: `A`, `B` and the 14-bit IRD, first word of the private data.
    pub const IRD: FieldRange = 20..22;
    /// RFC 6581 §9.1: `C`, `D` and the 14-bit ORD, second word of the private data.
    pub const ORD: FieldRange = 22..24;
}

/// Byte ranges of an FPDU (RFC 5044 §4.1) before its variable-length ULPDU.
pub mod fpdu_field {
    use crate::soft::wire::FieldRange;

    /// `ULPDU_Length`: length of the ULPDU, excluding itself, pad and CRC.
    pub const ULPDU_LENGTH: FieldRange = 0..2;
    /// Start of the `ULPDU`.
    pub const ULPDU: usize = 2;
}

/// Key of an MPA Request frame (RFC 5044 §7.1).
pub const KEY_REQUEST: [u8; 16] = *b"MPA ID Req Frame";
/// Key of an MPA Reply frame (RFC 5044 §7.1).
pub const KEY_REPLY: [u8; 16] = *b"MPA ID Rep Frame";
/// Size of a Request/Reply frame without private data.
pub const HEADER_LEN: usize = 20;
/// Largest `PD_Length` allowed (RFC 5044 §7.1).
pub const MAX_PD_LEN: usize = 512;
/// Size of the RFC 6581 IRD/ORD words at the start of enhanced private data.
pub const ENHANCED_LEN: usize = 4;
/// Largest ULP private data next to the IRD/ORD words.
pub const MAX_ULP_PD_LEN: usize = MAX_PD_LEN - ENHANCED_LEN;

/// `M`: the sender wants markers in the FPDUs it receives (RFC 5044 §7.1).
pub const FLAG_MARKERS: u8 = 0x80;
/// `C`: CRC32c is used (RFC 5044 §7.1).
pub const FLAG_CRC: u8 = 0x40;
/// `R`: the connection is rejected; only valid in a Reply (RFC 5044 §7.1).
pub const FLAG_REJECT: u8 = 0x20;
/// First `Res` bit: RFC 6581 enhanced connection setup (IRD/ORD words follow).
pub const FLAG_ENHANCED: u8 = 0x10;
/// The remaining four `Res` bits (Linux `siw` uses 0x08 privately).
pub const RES_MASK: u8 = 0x0f;

/// RFC 6581 §9.1 `A` (IRD word): peer-to-peer connection model.
pub const IRD_PEER_TO_PEER: u16 = 0x8000;
/// RFC 6581 §9.1 `B` (IRD word): zero-length Send (FULPDU) RTR offered/chosen.
pub const IRD_SEND_RTR: u16 = 0x4000;
/// RFC 6581 §9.1 `C` (ORD word): zero-length RDMA Write RTR offered/chosen.
pub const ORD_WRITE_RTR: u16 = 0x8000;
/// RFC 6581 §9.1 `D` (ORD word): zero-length RDMA Read RTR offered/chosen.
pub const ORD_READ_RTR: u16 = 0x4000;
/// The 14-bit IRD/ORD value inside its word.
pub const IRD_ORD_MASK: u16 = 0x3fff;

/// Which of the two setup frames (RFC 5044 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// "MPA ID Req Frame", sent by the initiator.
    Request,
    /// "MPA ID Rep Frame", sent by the responder.
    Reply,
}

impl FrameKind {
    /// The frame's 16-byte key.
    pub const fn key(self) -> &'static [u8; 16] {
        match self {
            FrameKind::Request => &KEY_REQUEST,
            FrameKind::Reply => &KEY_REPLY,
        }
    }
}

/// A read/write view of an MPA Request or Reply frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a buffer and checks that it holds the header and all private data.
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let frame = Frame::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks the buffer holds the 20-byte header and `PD_Length` bytes after it;
    /// afterwards no getter or setter panics, and no setter undoes the check
    /// (`set_pd_length` refuses a length the buffer cannot hold).
    pub fn check_len(&self) -> Result<()> {
        let have = self.buffer.as_ref().len();
        need(HEADER_LEN, have)?;
        need(HEADER_LEN + usize::from(self.pd_length()), have)
    }

    /// Unwraps the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The 16-byte key.
    pub fn key(&self) -> &[u8] {
        &self.buffer.as_ref()[field::KEY]
    }

    /// Request or Reply, from the key; `Err(BadKey)` for anything else.
    pub fn kind(&self) -> Result<FrameKind> {
        match self.key() {
            k if k == KEY_REQUEST => Ok(FrameKind::Request),
            k if k == KEY_REPLY => Ok(FrameKind::Reply),
            _ => Err(Error::BadKey),
        }
    }

    /// The raw flags byte (`M`, `C`, `R`, `Res`).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// `M`: markers wanted by the sender in the FPDUs it receives.
    pub fn markers(&self) -> bool {
        self.flags() & FLAG_MARKERS != 0
    }

    /// `C`: CRC32c in use.
    pub fn crc(&self) -> bool {
        self.flags() & FLAG_CRC != 0
    }

    /// `R`: connection rejected.
    pub fn reject(&self) -> bool {
        self.flags() & FLAG_REJECT != 0
    }

    /// RFC 6581 enhanced setup bit (IRD/ORD words open the private data).
    pub fn enhanced(&self) -> bool {
        self.flags() & FLAG_ENHANCED != 0
    }

    /// The four `Res` bits other than the enhanced bit.
    pub fn res(&self) -> u8 {
        self.flags() & RES_MASK
    }

    /// `Rev`.
    pub fn revision(&self) -> u8 {
        self.buffer.as_ref()[field::REV]
    }

    /// `PD_Length`.
    pub fn pd_length(&self) -> u16 {
        be::u16(self.buffer.as_ref(), field::PD_LENGTH)
    }

    /// Header plus private data: the whole frame's length.
    pub fn frame_len(&self) -> usize {
        HEADER_LEN + usize::from(self.pd_length())
    }

    /// All private data (including the IRD/ORD words when enhanced).
    pub fn private_data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PRIVATE_DATA..self.frame_len()]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Frame<&'a T> {
    /// All private data, borrowed for the buffer's lifetime.
    pub fn private_data_ref(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer.as_ref();
        &b[field::PRIVATE_DATA..self.frame_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Writes the key of `kind`.
    pub fn set_kind(&mut self, kind: FrameKind) {
        self.buffer.as_mut()[field::KEY].copy_from_slice(kind.key());
    }

    /// Writes the raw flags byte.
    pub fn set_flags(&mut self, flags: u8) {
        self.buffer.as_mut()[field::FLAGS] = flags;
    }

    /// Writes `Rev`.
    pub fn set_revision(&mut self, rev: u8) {
        self.buffer.as_mut()[field::REV] = rev;
    }

    /// Writes `PD_Length`, if the buffer holds the header and that much private data;
    /// else `Err(Truncated)` and the frame is unchanged. Never panics.
    pub fn set_pd_length(&mut self, len: u16) -> Result<()> {
        need(HEADER_LEN + usize::from(len), self.buffer.as_ref().len())?;
        be::set_u16(self.buffer.as_mut(), field::PD_LENGTH, len);
        Ok(())
    }

    /// The private data, writable (length from `PD_Length`).
    pub fn private_data_mut(&mut self) -> &mut [u8] {
        let end = self.frame_len();
        &mut self.buffer.as_mut()[field::PRIVATE_DATA..end]
    }
}

/// RFC 6581 §9.1 enhanced connection parameters: the IRD and ORD words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EnhancedParams {
    /// Inbound RDMA Read queue depth (14 bits).
    pub ird: u16,
    /// Outbound RDMA Read queue depth (14 bits).
    pub ord: u16,
    /// `A`: peer-to-peer model (an RTR frame follows the Reply).
    pub peer_to_peer: bool,
    /// `B`: zero-length Send RTR.
    pub send_rtr: bool,
    /// `C`: zero-length RDMA Write RTR.
    pub write_rtr: bool,
    /// `D`: zero-length RDMA Read RTR.
    pub read_rtr: bool,
}

impl EnhancedParams {
    /// Decodes the IRD and ORD words.
    pub const fn from_words(ird: u16, ord: u16) -> EnhancedParams {
        EnhancedParams {
            ird: ird & IRD_ORD_MASK,
            ord: ord & IRD_ORD_MASK,
            peer_to_peer: ird & IRD_PEER_TO_PEER != 0,
            send_rtr: ird & IRD_SEND_RTR != 0,
            write_rtr: ord & ORD_WRITE_RTR != 0,
            read_rtr: ord & ORD_READ_RTR != 0,
        }
    }

    /// Encodes the IRD and ORD words (values above 14 bits are masked).
    pub const fn to_words(&self) -> (u16, u16) {
        let mut ird = self.ird & IRD_ORD_MASK;
        let mut ord = self.ord & IRD_ORD_MASK;
        if self.peer_to_peer {
            ird |= IRD_PEER_TO_PEER;
        }
        if self.send_rtr {
            ird |= IRD_SEND_RTR;
        }
        if self.write_rtr {
            ord |= ORD_WRITE_RTR;
        }
        if self.read_rtr {
            ord |= ORD_READ_RTR;
        }
        (ird, ord)
    }
}

/// A parsed MPA Request or Reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr<'a> {
    /// Request or Reply.
    pub kind: FrameKind,
    /// `M`.
    pub markers: bool,
    /// `C`.
    pub crc: bool,
    /// `R`.
    pub reject: bool,
    /// The four `Res` bits besides the enhanced bit (zero when we send).
    pub res: u8,
    /// `Rev`.
    pub revision: u8,
    /// RFC 6581 IRD/ORD words; `Some` iff the enhanced bit is set.
    pub enhanced: Option<EnhancedParams>,
    /// ULP private data (after the IRD/ORD words when enhanced).
    pub private_data: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Parses a Request or Reply (RFC 5044 §7.1, RFC 6581 §9.1).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &Frame<&'a T>) -> Result<Repr<'a>> {
        let have = frame.buffer.as_ref().len();
        need(HEADER_LEN, have)?;
        let kind = frame.kind()?;
        if usize::from(frame.pd_length()) > MAX_PD_LEN {
            return Err(Error::Malformed(Field::PdLength));
        }
        frame.check_len()?;
        let pd = frame.private_data_ref();
        let (enhanced, private_data) = if frame.enhanced() {
            let (words, ulp) = pd
                .split_first_chunk::<ENHANCED_LEN>()
                .ok_or(Error::Malformed(Field::EnhancedParams))?;
            let ird = u16::from_be_bytes([words[0], words[1]]);
            let ord = u16::from_be_bytes([words[2], words[3]]);
            (Some(EnhancedParams::from_words(ird, ord)), ulp)
        } else {
            (None, pd)
        };
        Ok(Repr {
            kind,
            markers: frame.markers(),
            crc: frame.crc(),
            reject: frame.reject(),
            res: frame.res(),
            revision: frame.revision(),
            enhanced,
            private_data,
        })
    }

    /// `PD_Length` this Repr emits.
    pub fn pd_length(&self) -> usize {
        let words = if self.enhanced.is_some() {
            ENHANCED_LEN
        } else {
            0
        };
        words + self.private_data.len()
    }

    /// Bytes [`Repr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.pd_length()
    }

    /// Writes the frame.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Repr::buffer_len`] or the private data exceeds
    /// [`MAX_PD_LEN`] (callers validate lengths when they build the Repr).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, frame: &mut Frame<&mut T>) {
        let pd_len = self.pd_length();
        assert!(
            pd_len <= MAX_PD_LEN,
            "MPA private data longer than 512 bytes"
        );
        let mut flags = self.res & RES_MASK;
        if self.markers {
            flags |= FLAG_MARKERS;
        }
        if self.crc {
            flags |= FLAG_CRC;
        }
        if self.reject {
            flags |= FLAG_REJECT;
        }
        if self.enhanced.is_some() {
            flags |= FLAG_ENHANCED;
        }
        frame.set_kind(self.kind);
        frame.set_flags(flags);
        frame.set_revision(self.revision);
        // A raw write: the view is unchecked (module doc of `soft::wire`). Cannot
        // truncate: pd_len <= 512 was asserted above.
        be::set_u16(frame.buffer.as_mut(), field::PD_LENGTH, pd_len as u16);
        let pd = frame.private_data_mut();
        let ulp = match self.enhanced {
            Some(params) => {
                let (ird, ord) = params.to_words();
                pd[0..2].copy_from_slice(&ird.to_be_bytes());
                pd[2..4].copy_from_slice(&ord.to_be_bytes());
                &mut pd[ENHANCED_LEN..]
            }
            None => pd,
        };
        ulp.copy_from_slice(self.private_data);
    }
}

/// Pad bytes after a ULPDU so that length field + ULPDU + pad is a multiple of 4
/// (RFC 5044 §4.1).
pub const fn pad_len(ulpdu_len: usize) -> usize {
    (4 - (2 + ulpdu_len) % 4) % 4
}

/// Bytes on the wire for one FPDU without markers: length, ULPDU, pad and CRC
/// (RFC 5044 §4.1).
pub const fn fpdu_len(ulpdu_len: usize) -> usize {
    2 + ulpdu_len + pad_len(ulpdu_len) + 4
}

/// Size of a marker (RFC 5044 §4.3).
pub const MARKER_LEN: usize = 4;
/// Distance between markers in TCP sequence space (RFC 5044 §4.3).
pub const MARKER_INTERVAL: usize = 512;
/// FPDU framing overhead besides pad and markers: ULPDU_Length (2) + CRC (4).
pub const FPDU_OVERHEAD: usize = 6;

/// MULPDU, the largest ULPDU that fits one TCP segment of `emss` bytes
/// (RFC 5044 §4.3: `EMSS - (6 + 4 * ceil(EMSS / 512) + EMSS mod 4)` with markers,
/// `EMSS - (6 + EMSS mod 4)` without). Saturates at 0 and at the 16-bit length field.
pub const fn mulpdu(emss: usize, markers: bool) -> usize {
    let marker_bytes = if markers {
        MARKER_LEN * emss.div_ceil(MARKER_INTERVAL)
    } else {
        0
    };
    let m = emss.saturating_sub(FPDU_OVERHEAD + marker_bytes + emss % 4);
    if m > u16::MAX as usize {
        u16::MAX as usize
    } else {
        m
    }
}

/// A read/write view of one FPDU (RFC 5044 §4.1): `ULPDU_Length`, ULPDU, pad, CRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FpduFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FpduFrame<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> FpduFrame<T> {
        FpduFrame { buffer }
    }

    /// Wraps a buffer and checks it holds the whole FPDU.
    pub fn new_checked(buffer: T) -> Result<FpduFrame<T>> {
        let frame = FpduFrame::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks the buffer holds the length field and the whole FPDU it announces;
    /// afterwards no getter or setter panics, and no setter undoes the check
    /// (`set_ulpdu_len` refuses a length the buffer cannot hold). Bytes after the FPDU
    /// are allowed.
    pub fn check_len(&self) -> Result<()> {
        let have = self.buffer.as_ref().len();
        need(fpdu_field::ULPDU, have)?;
        need(self.total_len(), have)
    }

    /// Unwraps the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// `ULPDU_Length`.
    pub fn ulpdu_len(&self) -> u16 {
        be::u16(self.buffer.as_ref(), fpdu_field::ULPDU_LENGTH)
    }

    /// Pad bytes after the ULPDU.
    pub fn pad_len(&self) -> usize {
        pad_len(usize::from(self.ulpdu_len()))
    }

    /// Bytes of the whole FPDU, CRC included.
    pub fn total_len(&self) -> usize {
        fpdu_len(usize::from(self.ulpdu_len()))
    }

    /// The ULPDU (DDP segment).
    pub fn ulpdu(&self) -> &[u8] {
        let end = fpdu_field::ULPDU + usize::from(self.ulpdu_len());
        &self.buffer.as_ref()[fpdu_field::ULPDU..end]
    }

    /// The CRC field as stored (least-significant byte first); 0 when CRC is off.
    pub fn crc(&self) -> u32 {
        let end = self.total_len();
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.buffer.as_ref()[end - 4..end]);
        u32::from_le_bytes(b)
    }

    /// CRC32c over length, ULPDU and pad (RFC 5044 §4.4).
    pub fn compute_crc(&self) -> u32 {
        crc::crc32c(&self.buffer.as_ref()[..self.total_len() - 4])
    }

    /// Checks the stored CRC against the contents (call only when CRC was negotiated).
    pub fn check_crc(&self) -> Result<()> {
        crc::verify(self.crc(), self.compute_crc())
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> FpduFrame<&'a T> {
    /// The ULPDU, borrowed for the buffer's lifetime.
    pub fn ulpdu_ref(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer.as_ref();
        let end = fpdu_field::ULPDU + usize::from(self.ulpdu_len());
        &b[fpdu_field::ULPDU..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FpduFrame<T> {
    /// Writes `ULPDU_Length`, if the buffer holds the whole FPDU it announces (length,
    /// ULPDU, pad, CRC); else `Err(Truncated)` and the frame is unchanged. Never panics.
    pub fn set_ulpdu_len(&mut self, len: u16) -> Result<()> {
        need(fpdu_len(usize::from(len)), self.buffer.as_ref().len())?;
        be::set_u16(self.buffer.as_mut(), fpdu_field::ULPDU_LENGTH, len);
        Ok(())
    }

    /// The ULPDU, writable.
    pub fn ulpdu_mut(&mut self) -> &mut [u8] {
        let end = fpdu_field::ULPDU + usize::from(self.ulpdu_len());
        &mut self.buffer.as_mut()[fpdu_field::ULPDU..end]
    }

    /// Writes the CRC field (least-significant byte first).
    pub fn set_crc(&mut self, crc: u32) {
        let end = self.total_len();
        self.buffer.as_mut()[end - 4..end].copy_from_slice(&crc.to_le_bytes());
    }

    /// Zeroes the pad and writes the CRC: CRC32c if `crc_enabled`, else 0 (RFC 5044 §4).
    pub fn fill_trailer(&mut self, crc_enabled: bool) {
        let start = fpdu_field::ULPDU + usize::from(self.ulpdu_len());
        let pad = self.pad_len();
        self.buffer.as_mut()[start..start + pad].fill(0);
        let crc = if crc_enabled { self.compute_crc() } else { 0 };
        self.set_crc(crc);
    }
}

/// Total length of the FPDU starting at `bytes[0]`, once its length field is in.
pub fn peek_fpdu_len(bytes: &[u8]) -> Option<usize> {
    match bytes {
        [hi, lo, ..] => Some(fpdu_len(usize::from(u16::from_be_bytes([*hi, *lo])))),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
