//! RDMAP (RFC 5040 §4) byte layout: the control byte carried in DDP's `RsvdULP`, the
//! RDMA Read Request header (§4.4), the Terminate header (§4.8) and the error layers,
//! types and codes of RFC 5040 §7, RFC 5041 §7 and RFC 5044 §8 / RFC 6581 §9.
//!
//! [`Repr`] describes a whole RDMAP message header on top of a DDP segment: it checks
//! that opcode and DDP buffer model agree (RFC 5040 §4.3–4.8) and parses the Read
//! Request or Terminate header that follows. Byte layout only: access checks, queues
//! and the decision to terminate live in `soft::proto`. See the module doc of
//! `soft::wire` for the panic contract.

use super::ddp::{self, BufferModel};
use super::{Error, Field, Result, be, need};

/// The RDMAP control byte (RFC 5040 §4.2), second byte of every DDP header.
pub mod control {
    /// `RV` bits: RDMAP version.
    pub const VERSION_MASK: u8 = 0xc0;
    /// `Rsvd` bits (sent as zero, ignored on receipt).
    pub const RSVD_MASK: u8 = 0x30;
    /// `Opcode` bits.
    pub const OPCODE_MASK: u8 = 0x0f;
    /// The only RDMAP version, in place (`RV` = 1).
    pub const VERSION_1: u8 = 0x40;
}

/// Untagged queue of Send messages (RFC 5040 §5.1).
pub const QN_SEND: u32 = 0;
/// Untagged queue of RDMA Read Requests (RFC 5040 §5.1).
pub const QN_READ_REQUEST: u32 = 1;
/// Untagged queue of Terminate messages (RFC 5040 §5.1).
pub const QN_TERMINATE: u32 = 2;

/// RDMAP opcodes (RFC 5040 §4.2, Figure 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// RDMA Write (tagged).
    Write = 0,
    /// RDMA Read Request (untagged, QN 1).
    ReadRequest = 1,
    /// RDMA Read Response (tagged).
    ReadResponse = 2,
    /// Send (untagged, QN 0).
    Send = 3,
    /// Send with Invalidate (untagged, QN 0).
    SendInvalidate = 4,
    /// Send with Solicited Event (untagged, QN 0).
    SendSe = 5,
    /// Send with Solicited Event and Invalidate (untagged, QN 0).
    SendSeInvalidate = 6,
    /// Terminate (untagged, QN 2).
    Terminate = 7,
}

impl TryFrom<u8> for Opcode {
    type Error = Error;

    fn try_from(v: u8) -> Result<Opcode> {
        Ok(match v {
            0 => Opcode::Write,
            1 => Opcode::ReadRequest,
            2 => Opcode::ReadResponse,
            3 => Opcode::Send,
            4 => Opcode::SendInvalidate,
            5 => Opcode::SendSe,
            6 => Opcode::SendSeInvalidate,
            7 => Opcode::Terminate,
            _ => return Err(Error::Unsupported(Field::Opcode)),
        })
    }
}

/// Byte ranges of the RDMA Read Request header (RFC 5040 §4.4), in the DDP payload.
pub mod read_request_field {
    use crate::soft::wire::FieldRange;

    /// `Data Sink STag`.
    pub const SINK_STAG: FieldRange = 0..4;
    /// `Data Sink Tagged Offset`.
    pub const SINK_TO: FieldRange = 4..12;
    /// `RDMA Read Message Size`.
    pub const READ_SIZE: FieldRange = 12..16;
    /// `Data Source STag`.
    pub const SRC_STAG: FieldRange = 16..20;
    /// `Data Source Tagged Offset`.
    pub const SRC_TO: FieldRange = 20..28;
}

/// Size of the RDMA Read Request header (RFC 5040 §4.4).
pub const READ_REQUEST_LEN: usize = 28;

/// A read/write view of an RDMA Read Request header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadRequestFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ReadRequestFrame<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> ReadRequestFrame<T> {
        ReadRequestFrame { buffer }
    }

    /// Wraps a buffer and checks it holds the 28-byte header.
    pub fn new_checked(buffer: T) -> Result<ReadRequestFrame<T>> {
        let f = ReadRequestFrame::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Checks the buffer holds 28 bytes; afterwards no accessor panics.
    pub fn check_len(&self) -> Result<()> {
        need(READ_REQUEST_LEN, self.buffer.as_ref().len())
    }

    /// Unwraps the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// `Data Sink STag`.
    pub fn sink_stag(&self) -> u32 {
        be::u32(self.buffer.as_ref(), read_request_field::SINK_STAG)
    }

    /// `Data Sink Tagged Offset`.
    pub fn sink_to(&self) -> u64 {
        be::u64(self.buffer.as_ref(), read_request_field::SINK_TO)
    }

    /// `RDMA Read Message Size`.
    pub fn read_size(&self) -> u32 {
        be::u32(self.buffer.as_ref(), read_request_field::READ_SIZE)
    }

    /// `Data Source STag`.
    pub fn src_stag(&self) -> u32 {
        be::u32(self.buffer.as_ref(), read_request_field::SRC_STAG)
    }

    /// `Data Source Tagged Offset`.
    pub fn src_to(&self) -> u64 {
        be::u64(self.buffer.as_ref(), read_request_field::SRC_TO)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ReadRequestFrame<T> {
    /// Writes `Data Sink STag`.
    pub fn set_sink_stag(&mut self, v: u32) {
        be::set_u32(self.buffer.as_mut(), read_request_field::SINK_STAG, v);
    }

    /// Writes `Data Sink Tagged Offset`.
    pub fn set_sink_to(&mut self, v: u64) {
        be::set_u64(self.buffer.as_mut(), read_request_field::SINK_TO, v);
    }

    /// Writes `RDMA Read Message Size`.
    pub fn set_read_size(&mut self, v: u32) {
        be::set_u32(self.buffer.as_mut(), read_request_field::READ_SIZE, v);
    }

    /// Writes `Data Source STag`.
    pub fn set_src_stag(&mut self, v: u32) {
        be::set_u32(self.buffer.as_mut(), read_request_field::SRC_STAG, v);
    }

    /// Writes `Data Source Tagged Offset`.
    pub fn set_src_to(&mut self, v: u64) {
        be::set_u64(self.buffer.as_mut(), read_request_field::SRC_TO, v);
    }
}

/// A parsed RDMA Read Request header (RFC 5040 §4.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReadRequestRepr {
    /// Where the requester wants the data: its STag.
    pub sink_stag: u32,
    /// Where the requester wants the data: its tagged offset.
    pub sink_to: u64,
    /// Bytes to read.
    pub size: u32,
    /// The responder's buffer to read from: STag.
    pub src_stag: u32,
    /// The responder's buffer to read from: tagged offset.
    pub src_to: u64,
}

impl ReadRequestRepr {
    /// Parses the 28-byte header.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &ReadRequestFrame<&T>) -> Result<Self> {
        frame.check_len()?;
        Ok(ReadRequestRepr {
            sink_stag: frame.sink_stag(),
            sink_to: frame.sink_to(),
            size: frame.read_size(),
            src_stag: frame.src_stag(),
            src_to: frame.src_to(),
        })
    }

    /// Bytes [`ReadRequestRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        READ_REQUEST_LEN
    }

    /// Writes the header.
    ///
    /// # Panics
    /// If the buffer is shorter than 28 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        frame: &mut ReadRequestFrame<&mut T>,
    ) {
        frame.set_sink_stag(self.sink_stag);
        frame.set_sink_to(self.sink_to);
        frame.set_read_size(self.size);
        frame.set_src_stag(self.src_stag);
        frame.set_src_to(self.src_to);
    }
}

/// Error layer of a Terminate message (RFC 5040 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Layer {
    /// 0x0: RDMA (RDMAP) layer error.
    Rdmap = 0x0,
    /// 0x1: DDP layer error.
    Ddp = 0x1,
    /// 0x2: LLP (MPA/TCP) layer error.
    Llp = 0x2,
}

/// RDMAP error types (RFC 5040 §7.1, layer 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RdmapErrorType {
    /// 0x0: "Local Catastrophic Error".
    LocalCatastrophic = 0x0,
    /// 0x1: "Remote Protection Error".
    RemoteProtection = 0x1,
    /// 0x2: "Remote Operation Error".
    RemoteOperation = 0x2,
}

/// RDMAP Remote Protection error codes (RFC 5040 §7.1, layer 0, type 0x1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RdmapProtectionCode {
    /// 0x00: "Invalid STag".
    InvalidStag = 0x00,
    /// 0x01: "Base or bounds violation".
    BaseOrBounds = 0x01,
    /// 0x02: "Access rights violation".
    AccessRights = 0x02,
    /// 0x03: "STag not associated with RDMAP Stream".
    StagNotAssociated = 0x03,
    /// 0x04: "TO wrap".
    ToWrap = 0x04,
    /// 0x09: "STag cannot be invalidated".
    CannotInvalidate = 0x09,
    /// 0xFF: "Unspecified Error".
    Unspecified = 0xff,
}

/// RDMAP Remote Operation error codes (RFC 5040 §7.1, layer 0, type 0x2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RdmapOperationCode {
    /// 0x05: "Invalid RDMAP version".
    InvalidVersion = 0x05,
    /// 0x06: "Unexpected OpCode".
    UnexpectedOpcode = 0x06,
    /// 0x07: "Catastrophic error, localized to RDMAP Stream".
    CatastrophicStream = 0x07,
    /// 0x08: "Catastrophic error, global".
    CatastrophicGlobal = 0x08,
    /// 0x09: "STag cannot be invalidated".
    CannotInvalidate = 0x09,
    /// 0xFF: "Unspecified Error".
    Unspecified = 0xff,
}

/// DDP error types (RFC 5041 §7.2, layer 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DdpErrorType {
    /// 0x0: "Local Catastrophic".
    LocalCatastrophic = 0x0,
    /// 0x1: "Tagged Buffer Error".
    TaggedBuffer = 0x1,
    /// 0x2: "Untagged Buffer Error".
    UntaggedBuffer = 0x2,
}

/// DDP tagged buffer error codes (RFC 5041 §7.2, layer 1, type 0x1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DdpTaggedCode {
    /// 0x00: "Invalid STag".
    InvalidStag = 0x00,
    /// 0x01: "Base or bounds violation".
    BaseOrBounds = 0x01,
    /// 0x02: "STag not associated with DDP Stream".
    StagNotAssociated = 0x02,
    /// 0x03: "TO wrap".
    ToWrap = 0x03,
    /// 0x04: "Invalid DDP version".
    InvalidVersion = 0x04,
}

/// DDP untagged buffer error codes (RFC 5041 §7.2, layer 1, type 0x2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DdpUntaggedCode {
    /// 0x01: "Invalid QN".
    InvalidQn = 0x01,
    /// 0x02: "Invalid MSN - no buffer available".
    InvalidMsnNoBuffer = 0x02,
    /// 0x03: "Invalid MSN - MSN range is not valid".
    InvalidMsnRange = 0x03,
    /// 0x04: "Invalid MO".
    InvalidMo = 0x04,
    /// 0x05: "DDP Message too long for available buffer".
    MessageTooLong = 0x05,
    /// 0x06: "Invalid DDP version".
    InvalidVersion = 0x06,
}

/// MPA error codes (RFC 5044 §8, layer 2, type 0x0 "MPA"; 5–7 from RFC 6581 §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MpaErrorCode {
    /// 0x01: "TCP connection closed, terminated or lost".
    TcpClosed = 0x01,
    /// 0x02: "MPA CRC Error".
    CrcError = 0x02,
    /// 0x03: "MPA Marker and ULPDU Length fields do not agree on the start of an FPDU".
    MarkerError = 0x03,
    /// 0x04: "Invalid MPA Request Frame or Response Frame received".
    InvalidRequestReply = 0x04,
    /// 0x05: "Local Catastrophic Error" (RFC 6581).
    LocalCatastrophic = 0x05,
    /// 0x06: "Insufficient IRD Resources" (RFC 6581).
    InsufficientIrd = 0x06,
    /// 0x07: "No Matching RTR Option" (RFC 6581).
    NoMatchingRtr = 0x07,
}

/// The layer, error type and error code of a Terminate message, as one typed value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TerminateCause {
    /// RDMAP 0x0/0x0/0x00: local catastrophic error.
    RdmapCatastrophic,
    /// RDMAP remote protection error (0x0/0x1/code).
    RdmapProtection(RdmapProtectionCode),
    /// RDMAP remote operation error (0x0/0x2/code).
    RdmapOperation(RdmapOperationCode),
    /// DDP 0x1/0x0/0x00: local catastrophic error.
    DdpCatastrophic,
    /// DDP tagged buffer error (0x1/0x1/code).
    DdpTagged(DdpTaggedCode),
    /// DDP untagged buffer error (0x1/0x2/code).
    DdpUntagged(DdpUntaggedCode),
    /// LLP error, MPA (0x2/0x0/code).
    Mpa(MpaErrorCode),
}

impl TerminateCause {
    /// The `Layer` field.
    pub const fn layer(self) -> Layer {
        match self {
            TerminateCause::RdmapCatastrophic
            | TerminateCause::RdmapProtection(_)
            | TerminateCause::RdmapOperation(_) => Layer::Rdmap,
            TerminateCause::DdpCatastrophic
            | TerminateCause::DdpTagged(_)
            | TerminateCause::DdpUntagged(_) => Layer::Ddp,
            TerminateCause::Mpa(_) => Layer::Llp,
        }
    }

    /// The `EType` field.
    pub const fn error_type(self) -> u8 {
        match self {
            TerminateCause::RdmapCatastrophic => RdmapErrorType::LocalCatastrophic as u8,
            TerminateCause::RdmapProtection(_) => RdmapErrorType::RemoteProtection as u8,
            TerminateCause::RdmapOperation(_) => RdmapErrorType::RemoteOperation as u8,
            TerminateCause::DdpCatastrophic => DdpErrorType::LocalCatastrophic as u8,
            TerminateCause::DdpTagged(_) => DdpErrorType::TaggedBuffer as u8,
            TerminateCause::DdpUntagged(_) => DdpErrorType::UntaggedBuffer as u8,
            TerminateCause::Mpa(_) => 0x0,
        }
    }

    /// The `Error Code` field.
    pub const fn error_code(self) -> u8 {
        match self {
            TerminateCause::RdmapCatastrophic | TerminateCause::DdpCatastrophic => 0,
            TerminateCause::RdmapProtection(c) => c as u8,
            TerminateCause::RdmapOperation(c) => c as u8,
            TerminateCause::DdpTagged(c) => c as u8,
            TerminateCause::DdpUntagged(c) => c as u8,
            TerminateCause::Mpa(c) => c as u8,
        }
    }

    /// Decodes the three fields; an unknown combination is `Err(Unsupported(..))`.
    pub fn from_fields(layer: u8, etype: u8, ecode: u8) -> Result<TerminateCause> {
        use DdpTaggedCode as T;
        use DdpUntaggedCode as U;
        use RdmapOperationCode as O;
        use RdmapProtectionCode as P;
        let bad_code = Err(Error::Unsupported(Field::TerminateErrorCode));
        let bad_type = Err(Error::Unsupported(Field::TerminateErrorType));
        Ok(match (layer, etype) {
            (0, 0) | (1, 0) if ecode != 0 => return bad_code,
            (0, 0) => TerminateCause::RdmapCatastrophic,
            (0, 1) => TerminateCause::RdmapProtection(match ecode {
                0x00 => P::InvalidStag,
                0x01 => P::BaseOrBounds,
                0x02 => P::AccessRights,
                0x03 => P::StagNotAssociated,
                0x04 => P::ToWrap,
                0x09 => P::CannotInvalidate,
                0xff => P::Unspecified,
                _ => return bad_code,
            }),
            (0, 2) => TerminateCause::RdmapOperation(match ecode {
                0x05 => O::InvalidVersion,
                0x06 => O::UnexpectedOpcode,
                0x07 => O::CatastrophicStream,
                0x08 => O::CatastrophicGlobal,
                0x09 => O::CannotInvalidate,
                0xff => O::Unspecified,
                _ => return bad_code,
            }),
            (1, 0) => TerminateCause::DdpCatastrophic,
            (1, 1) => TerminateCause::DdpTagged(match ecode {
                0x00 => T::InvalidStag,
                0x01 => T::BaseOrBounds,
                0x02 => T::StagNotAssociated,
                0x03 => T::ToWrap,
                0x04 => T::InvalidVersion,
                _ => return bad_code,
            }),
            (1, 2) => TerminateCause::DdpUntagged(match ecode {
                0x01 => U::InvalidQn,
                0x02 => U::InvalidMsnNoBuffer,
                0x03 => U::InvalidMsnRange,
                0x04 => U::InvalidMo,
                0x05 => U::MessageTooLong,
                0x06 => U::InvalidVersion,
                _ => return bad_code,
            }),
            (2, 0) => TerminateCause::Mpa(match ecode {
                0x01 => MpaErrorCode::TcpClosed,
                0x02 => MpaErrorCode::CrcError,
                0x03 => MpaErrorCode::MarkerError,
                0x04 => MpaErrorCode::InvalidRequestReply,
                0x05 => MpaErrorCode::LocalCatastrophic,
                0x06 => MpaErrorCode::InsufficientIrd,
                0x07 => MpaErrorCode::NoMatchingRtr,
                _ => return bad_code,
            }),
            (0..=2, _) => return bad_type,
            _ => return Err(Error::Unsupported(Field::TerminateLayer)),
        })
    }

    /// The Terminate answer to a wire parse error of an incoming segment whose DDP
    /// `T` bit was `tagged` (RFC 5040 §7.1, RFC 5041 §7.2, RFC 5044 §8).
    pub const fn for_parse_error(err: Error, tagged: bool) -> TerminateCause {
        match err {
            Error::BadCrc { .. } => TerminateCause::Mpa(MpaErrorCode::CrcError),
            Error::BadKey => TerminateCause::Mpa(MpaErrorCode::InvalidRequestReply),
            Error::Unsupported(Field::DdpVersion) | Error::Malformed(Field::DdpVersion) => {
                if tagged {
                    TerminateCause::DdpTagged(DdpTaggedCode::InvalidVersion)
                } else {
                    TerminateCause::DdpUntagged(DdpUntaggedCode::InvalidVersion)
                }
            }
            Error::Unsupported(Field::RdmapVersion) => {
                TerminateCause::RdmapOperation(RdmapOperationCode::InvalidVersion)
            }
            Error::Unsupported(Field::Opcode) | Error::Malformed(Field::Opcode) => {
                TerminateCause::RdmapOperation(RdmapOperationCode::UnexpectedOpcode)
            }
            Error::Malformed(Field::QueueNumber) => {
                TerminateCause::DdpUntagged(DdpUntaggedCode::InvalidQn)
            }
            Error::Malformed(Field::MessageOffset) => {
                TerminateCause::DdpUntagged(DdpUntaggedCode::InvalidMo)
            }
            Error::Malformed(Field::MpaRevision | Field::PdLength | Field::EnhancedParams)
            | Error::Unsupported(Field::MpaRevision | Field::PdLength | Field::EnhancedParams) => {
                TerminateCause::Mpa(MpaErrorCode::InvalidRequestReply)
            }
            Error::Truncated { .. }
            | Error::Unsupported(_)
            | Error::Malformed(_)
            | Error::Absent(_) => {
                TerminateCause::RdmapOperation(RdmapOperationCode::CatastrophicStream)
            }
        }
    }
}

impl TerminateCause {
    /// The RFC's wording of this error.
    pub const fn description(self) -> &'static str {
        use DdpTaggedCode as T;
        use DdpUntaggedCode as U;
        use RdmapOperationCode as O;
        use RdmapProtectionCode as P;
        match self {
            TerminateCause::RdmapCatastrophic => "RDMAP local catastrophic error",
            TerminateCause::RdmapProtection(c) => match c {
                P::InvalidStag => "RDMAP remote protection error: invalid STag",
                P::BaseOrBounds => "RDMAP remote protection error: base or bounds violation",
                P::AccessRights => "RDMAP remote protection error: access rights violation",
                P::StagNotAssociated => {
                    "RDMAP remote protection error: STag not associated with RDMAP stream"
                }
                P::ToWrap => "RDMAP remote protection error: TO wrap",
                P::CannotInvalidate => "RDMAP remote protection error: STag cannot be invalidated",
                P::Unspecified => "RDMAP remote protection error: unspecified",
            },
            TerminateCause::RdmapOperation(c) => match c {
                O::InvalidVersion => "RDMAP remote operation error: invalid RDMAP version",
                O::UnexpectedOpcode => "RDMAP remote operation error: unexpected opcode",
                O::CatastrophicStream => {
                    "RDMAP remote operation error: catastrophic, localized to RDMAP stream"
                }
                O::CatastrophicGlobal => "RDMAP remote operation error: catastrophic, global",
                O::CannotInvalidate => "RDMAP remote operation error: STag cannot be invalidated",
                O::Unspecified => "RDMAP remote operation error: unspecified",
            },
            TerminateCause::DdpCatastrophic => "DDP local catastrophic error",
            TerminateCause::DdpTagged(c) => match c {
                T::InvalidStag => "DDP tagged buffer error: invalid STag",
                T::BaseOrBounds => "DDP tagged buffer error: base or bounds violation",
                T::StagNotAssociated => {
                    "DDP tagged buffer error: STag not associated with DDP stream"
                }
                T::ToWrap => "DDP tagged buffer error: TO wrap",
                T::InvalidVersion => "DDP tagged buffer error: invalid DDP version",
            },
            TerminateCause::DdpUntagged(c) => match c {
                U::InvalidQn => "DDP untagged buffer error: invalid QN",
                U::InvalidMsnNoBuffer => "DDP untagged buffer error: invalid MSN, no buffer",
                U::InvalidMsnRange => "DDP untagged buffer error: invalid MSN, out of range",
                U::InvalidMo => "DDP untagged buffer error: invalid MO",
                U::MessageTooLong => "DDP untagged buffer error: message too long for buffer",
                U::InvalidVersion => "DDP untagged buffer error: invalid DDP version",
            },
            TerminateCause::Mpa(c) => match c {
                MpaErrorCode::TcpClosed => "MPA error: TCP connection closed, terminated or lost",
                MpaErrorCode::CrcError => "MPA error: CRC error",
                MpaErrorCode::MarkerError => "MPA error: marker and ULPDU length disagree",
                MpaErrorCode::InvalidRequestReply => "MPA error: invalid Request or Reply frame",
                MpaErrorCode::LocalCatastrophic => "MPA error: local catastrophic error",
                MpaErrorCode::InsufficientIrd => "MPA error: insufficient IRD resources",
                MpaErrorCode::NoMatchingRtr => "MPA error: no matching RTR option",
            },
        }
    }
}

impl core::fmt::Display for TerminateCause {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} (layer {:#x}, type {:#x}, code {:#04x})",
            self.description(),
            self.layer() as u8,
            self.error_type(),
            self.error_code()
        )
    }
}

/// Byte ranges of the Terminate header (RFC 5040 §4.8), in the DDP payload.
///
/// After the control word: with `D`, the 2-byte DDP Segment Length and the copied
/// 14- or 18-byte DDP header; with `R`, the copied 28-byte Read Request header. This is
/// the layout Linux `siw_send_terminate()` sends and Wireshark's dissector reads.
pub mod terminate_field {
    use crate::soft::wire::FieldRange;

    /// `Layer` (high nibble) and `EType` (low nibble).
    pub const LAYER_ETYPE: usize = 0;
    /// `Error Code`.
    pub const ERROR_CODE: usize = 1;
    /// `HdrCt` (`M`, `D`, `R`) and the first `Reserved` bits.
    pub const HDRCT: usize = 2;
    /// The whole `Terminate Control` word.
    pub const CONTROL: FieldRange = 0..4;
    /// `DDP Segment Length`, present when `D` is set.
    pub const DDP_SEGMENT_LEN: FieldRange = 4..6;
    /// Start of the `Terminated DDP Header`, present when `D` is set.
    pub const DDP_HEADER: usize = 6;
}

/// `HdrCt` `M`: the DDP Segment Length field is valid.
pub const HDRCT_M: u8 = 0x80;
/// `HdrCt` `D`: the DDP Segment Length and the terminated DDP header are included.
pub const HDRCT_D: u8 = 0x40;
/// `HdrCt` `R`: the terminated RDMA (Read Request) header is included.
pub const HDRCT_R: u8 = 0x20;
/// Size of the `Terminate Control` word.
pub const TERMINATE_CONTROL_LEN: usize = 4;

/// A read/write view of a Terminate header (RFC 5040 §4.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TerminateFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TerminateFrame<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> TerminateFrame<T> {
        TerminateFrame { buffer }
    }

    /// Wraps a buffer and checks it holds every part `HdrCt` announces.
    pub fn new_checked(buffer: T) -> Result<TerminateFrame<T>> {
        let f = TerminateFrame::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Checks the buffer holds every part `HdrCt` announces; afterwards no getter or
    /// setter panics, and no setter undoes the check (`set_hdrct` refuses parts the
    /// buffer cannot hold).
    pub fn check_len(&self) -> Result<()> {
        let have = self.buffer.as_ref().len();
        need(TERMINATE_CONTROL_LEN, have)?;
        if self.hdrct() & HDRCT_D != 0 {
            need(terminate_field::DDP_HEADER + 1, have)?;
        }
        need(self.header_len(), have)
    }

    /// Unwraps the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// `Layer`.
    pub fn layer(&self) -> u8 {
        self.buffer.as_ref()[terminate_field::LAYER_ETYPE] >> 4
    }

    /// `EType`.
    pub fn error_type(&self) -> u8 {
        self.buffer.as_ref()[terminate_field::LAYER_ETYPE] & 0x0f
    }

    /// `Error Code`.
    pub fn error_code(&self) -> u8 {
        self.buffer.as_ref()[terminate_field::ERROR_CODE]
    }

    /// `HdrCt` bits (`M` 0x80, `D` 0x40, `R` 0x20).
    pub fn hdrct(&self) -> u8 {
        self.buffer.as_ref()[terminate_field::HDRCT] & (HDRCT_M | HDRCT_D | HDRCT_R)
    }

    /// Length of the terminated DDP header (0 without `D`).
    pub fn ddp_header_len(&self) -> usize {
        if self.hdrct() & HDRCT_D == 0 {
            return 0;
        }
        match self.buffer.as_ref().get(terminate_field::DDP_HEADER) {
            Some(c) => ddp::header_len(*c),
            None => 0,
        }
    }

    /// Total Terminate header length given `HdrCt` (and the copied DDP header's `T`).
    pub fn header_len(&self) -> usize {
        terminate_len(self.hdrct(), self.ddp_header_len())
    }

    /// `DDP Segment Length` (only meaningful with `D`; 0 when absent).
    pub fn ddp_segment_len(&self) -> u16 {
        match self.buffer.as_ref().get(terminate_field::DDP_SEGMENT_LEN) {
            Some(b) if self.hdrct() & HDRCT_D != 0 => u16::from_be_bytes([b[0], b[1]]),
            _ => 0,
        }
    }

    /// The terminated DDP header (empty without `D`).
    pub fn ddp_header(&self) -> &[u8] {
        let start = terminate_field::DDP_HEADER;
        let len = self.ddp_header_len();
        self.buffer.as_ref().get(start..start + len).unwrap_or(&[])
    }

    /// The terminated RDMA Read Request header (empty without `R`).
    pub fn rdma_header(&self) -> &[u8] {
        if self.hdrct() & HDRCT_R == 0 {
            return &[];
        }
        let end = self.header_len();
        self.buffer
            .as_ref()
            .get(end - READ_REQUEST_LEN..end)
            .unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TerminateFrame<T> {
    /// Writes `Layer`, `EType` and `Error Code` of `cause`.
    pub fn set_cause(&mut self, cause: TerminateCause) {
        let b = self.buffer.as_mut();
        b[terminate_field::LAYER_ETYPE] = ((cause.layer() as u8) << 4) | cause.error_type();
        b[terminate_field::ERROR_CODE] = cause.error_code();
    }

    /// Writes `HdrCt` and zeroes the `Reserved` bits, if the buffer holds every part
    /// the new bits announce (with `D`, the copied DDP header whose `T` bit sits at
    /// offset 6 decides its length: write it first); else `Err(Truncated)` and the frame
    /// is unchanged. Never panics.
    pub fn set_hdrct(&mut self, hdrct: u8) -> Result<()> {
        let hdrct = hdrct & (HDRCT_M | HDRCT_D | HDRCT_R);
        let b = self.buffer.as_ref();
        need(TERMINATE_CONTROL_LEN, b.len())?;
        let ddp_len = if hdrct & HDRCT_D != 0 {
            need(terminate_field::DDP_HEADER + 1, b.len())?;
            ddp::header_len(b[terminate_field::DDP_HEADER])
        } else {
            0
        };
        need(terminate_len(hdrct, ddp_len), b.len())?;
        write_hdrct(self.buffer.as_mut(), hdrct);
        Ok(())
    }

    /// Writes `DDP Segment Length`; `Err(Absent)` without `D`. Never panics.
    pub fn set_ddp_segment_len(&mut self, len: u16) -> Result<()> {
        let have = self.buffer.as_ref().len();
        need(TERMINATE_CONTROL_LEN, have)?;
        if self.hdrct() & HDRCT_D == 0 {
            return Err(Error::Absent(Field::DdpSegmentLength));
        }
        need(terminate_field::DDP_SEGMENT_LEN.end, have)?;
        be::set_u16(self.buffer.as_mut(), terminate_field::DDP_SEGMENT_LEN, len);
        Ok(())
    }
}

/// Terminate header length for `HdrCt` bits `hdrct` and a copied DDP header of
/// `ddp_header_len` bytes (RFC 5040 §4.8).
const fn terminate_len(hdrct: u8, ddp_header_len: usize) -> usize {
    let d = if hdrct & HDRCT_D != 0 {
        2 + ddp_header_len
    } else {
        0
    };
    let r = if hdrct & HDRCT_R != 0 {
        READ_REQUEST_LEN
    } else {
        0
    };
    TERMINATE_CONTROL_LEN + d + r
}

/// Writes `HdrCt` (already masked) and zeroes the `Reserved` bits, unchecked.
fn write_hdrct(b: &mut [u8], hdrct: u8) {
    b[terminate_field::HDRCT] = hdrct;
    b[terminate_field::HDRCT + 1] = 0;
}

/// A copy of the DDP header of the segment that caused a Terminate (RFC 5040 §4.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TerminatedDdpHeader {
    /// A tagged header (control byte has `T` set).
    Tagged([u8; ddp::TAGGED_HEADER_LEN]),
    /// An untagged header (control byte has `T` clear).
    Untagged([u8; ddp::UNTAGGED_HEADER_LEN]),
}

impl TerminatedDdpHeader {
    /// Copies the header at the start of `segment` (a DDP segment, perhaps invalid).
    pub fn copy_from(segment: &[u8]) -> Result<TerminatedDdpHeader> {
        let control = *segment
            .first()
            .ok_or(Error::Truncated { need: 1, have: 0 })?;
        if control & ddp::FLAG_TAGGED != 0 {
            let (h, _) = segment
                .split_first_chunk::<{ ddp::TAGGED_HEADER_LEN }>()
                .ok_or(Error::Truncated {
                    need: ddp::TAGGED_HEADER_LEN,
                    have: segment.len(),
                })?;
            Ok(TerminatedDdpHeader::Tagged(*h))
        } else {
            let (h, _) = segment
                .split_first_chunk::<{ ddp::UNTAGGED_HEADER_LEN }>()
                .ok_or(Error::Truncated {
                    need: ddp::UNTAGGED_HEADER_LEN,
                    have: segment.len(),
                })?;
            Ok(TerminatedDdpHeader::Untagged(*h))
        }
    }

    /// The header bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            TerminatedDdpHeader::Tagged(h) => h,
            TerminatedDdpHeader::Untagged(h) => h,
        }
    }
}

/// The `D` part of a Terminate: the failed segment's length and DDP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TerminatedDdp {
    /// `DDP Segment Length` of the segment that caused the error.
    pub segment_len: u16,
    /// Its DDP header, copied.
    pub header: TerminatedDdpHeader,
}

/// A parsed Terminate header (RFC 5040 §4.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TerminateRepr {
    /// Layer, error type and error code.
    pub cause: TerminateCause,
    /// `M`: the DDP Segment Length is valid.
    pub segment_len_valid: bool,
    /// `D`: segment length and copied DDP header.
    pub ddp: Option<TerminatedDdp>,
    /// `R`: copied RDMA Read Request header.
    pub rdma: Option<ReadRequestRepr>,
}

impl TerminateRepr {
    /// Parses a Terminate header.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &TerminateFrame<&T>) -> Result<Self> {
        frame.check_len()?;
        let cause =
            TerminateCause::from_fields(frame.layer(), frame.error_type(), frame.error_code())?;
        let hdrct = frame.hdrct();
        let ddp = if hdrct & HDRCT_D != 0 {
            Some(TerminatedDdp {
                segment_len: frame.ddp_segment_len(),
                header: TerminatedDdpHeader::copy_from(frame.ddp_header())?,
            })
        } else {
            None
        };
        let rdma = if hdrct & HDRCT_R != 0 {
            let f = ReadRequestFrame::new_unchecked(frame.rdma_header());
            Some(ReadRequestRepr::parse(&f)?)
        } else {
            None
        };
        Ok(TerminateRepr {
            cause,
            segment_len_valid: hdrct & HDRCT_M != 0,
            ddp,
            rdma,
        })
    }

    /// Bytes [`TerminateRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        let d = self.ddp.map_or(0, |d| 2 + d.header.as_bytes().len());
        let r = if self.rdma.is_some() {
            READ_REQUEST_LEN
        } else {
            0
        };
        TERMINATE_CONTROL_LEN + d + r
    }

    /// Writes the header.
    ///
    /// # Panics
    /// If the buffer is shorter than [`TerminateRepr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, frame: &mut TerminateFrame<&mut T>) {
        let mut hdrct = 0;
        if self.segment_len_valid {
            hdrct |= HDRCT_M;
        }
        if self.ddp.is_some() {
            hdrct |= HDRCT_D;
        }
        if self.rdma.is_some() {
            hdrct |= HDRCT_R;
        }
        frame.set_cause(self.cause);
        // Raw writes: the view is unchecked (module doc of `soft::wire`).
        let b = frame.buffer.as_mut();
        write_hdrct(b, hdrct);
        let mut at = TERMINATE_CONTROL_LEN;
        if let Some(d) = self.ddp {
            be::set_u16(b, terminate_field::DDP_SEGMENT_LEN, d.segment_len);
            let h = d.header.as_bytes();
            at = terminate_field::DDP_HEADER + h.len();
            b[terminate_field::DDP_HEADER..at].copy_from_slice(h);
        }
        if let Some(r) = self.rdma {
            r.emit(&mut ReadRequestFrame::new_unchecked(
                &mut b[at..at + READ_REQUEST_LEN],
            ));
        }
    }
}

/// A whole RDMAP message header: DDP header, RDMAP control and, for Read Requests and
/// Terminates, the RDMAP header in the DDP payload (RFC 5040 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Repr {
    /// RDMA Write segment (tagged, RFC 5040 §4.3).
    Write {
        /// Data Sink STag.
        stag: u32,
        /// Data Sink Tagged Offset of this segment.
        to: u64,
        /// `L`: last segment of the message.
        last: bool,
    },
    /// RDMA Read Request (untagged, QN 1, MO 0, single segment; RFC 5040 §4.4).
    ReadRequest {
        /// `MSN` on the Read Request queue.
        msn: u32,
        /// The Read Request header.
        request: ReadRequestRepr,
    },
    /// RDMA Read Response segment (tagged, RFC 5040 §4.5).
    ReadResponse {
        /// Data Sink STag of the matching request.
        stag: u32,
        /// Data Sink Tagged Offset of this segment.
        to: u64,
        /// `L`: last segment of the message.
        last: bool,
    },
    /// Send, Send with Invalidate, with Solicited Event, or both (untagged, QN 0;
    /// RFC 5040 §4.6).
    Send {
        /// Solicited Event variant.
        solicited: bool,
        /// Invalidate variant: the STag to invalidate.
        invalidate: Option<u32>,
        /// `MSN` on the Send queue.
        msn: u32,
        /// `MO` of this segment.
        mo: u32,
        /// `L`: last segment of the message.
        last: bool,
    },
    /// Terminate (untagged, QN 2, MO 0, single segment; RFC 5040 §4.8).
    Terminate {
        /// `MSN` on the Terminate queue.
        msn: u32,
        /// The Terminate header.
        terminate: TerminateRepr,
    },
}

impl Repr {
    /// Parses DDP header, RDMAP control and RDMAP header, checking opcode, buffer
    /// model, `QN`, `MO` and `L` agree (RFC 5040 §4.2–4.8, §5.1).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &ddp::Frame<&T>) -> Result<Repr> {
        let d = ddp::Repr::parse(frame)?;
        if d.rsvd_ulp & control::VERSION_MASK != control::VERSION_1 {
            return Err(Error::Unsupported(Field::RdmapVersion));
        }
        let opcode = Opcode::try_from(d.rsvd_ulp & control::OPCODE_MASK)?;
        let payload = frame.payload_ref();
        match (opcode, d.model) {
            (Opcode::Write, BufferModel::Tagged { stag, to }) => Ok(Repr::Write {
                stag,
                to,
                last: d.last,
            }),
            (Opcode::ReadResponse, BufferModel::Tagged { stag, to }) => Ok(Repr::ReadResponse {
                stag,
                to,
                last: d.last,
            }),
            (_, BufferModel::Tagged { .. }) => Err(Error::Malformed(Field::Opcode)),
            (Opcode::Write | Opcode::ReadResponse, BufferModel::Untagged { .. }) => {
                Err(Error::Malformed(Field::Opcode))
            }
            (
                Opcode::Send | Opcode::SendInvalidate | Opcode::SendSe | Opcode::SendSeInvalidate,
                BufferModel::Untagged {
                    rsvd_ulp,
                    qn,
                    msn,
                    mo,
                },
            ) => {
                if qn != QN_SEND {
                    return Err(Error::Malformed(Field::QueueNumber));
                }
                let invalidate =
                    matches!(opcode, Opcode::SendInvalidate | Opcode::SendSeInvalidate)
                        .then_some(rsvd_ulp);
                Ok(Repr::Send {
                    solicited: matches!(opcode, Opcode::SendSe | Opcode::SendSeInvalidate),
                    invalidate,
                    msn,
                    mo,
                    last: d.last,
                })
            }
            (Opcode::ReadRequest, BufferModel::Untagged { qn, msn, mo, .. }) => {
                check_single_segment(qn, QN_READ_REQUEST, mo, d.last)?;
                let f = ReadRequestFrame::new_unchecked(payload);
                Ok(Repr::ReadRequest {
                    msn,
                    request: ReadRequestRepr::parse(&f)?,
                })
            }
            (Opcode::Terminate, BufferModel::Untagged { qn, msn, mo, .. }) => {
                check_single_segment(qn, QN_TERMINATE, mo, d.last)?;
                let f = TerminateFrame::new_unchecked(payload);
                Ok(Repr::Terminate {
                    msn,
                    terminate: TerminateRepr::parse(&f)?,
                })
            }
        }
    }

    /// The RDMAP opcode.
    pub const fn opcode(&self) -> Opcode {
        match self {
            Repr::Write { .. } => Opcode::Write,
            Repr::ReadRequest { .. } => Opcode::ReadRequest,
            Repr::ReadResponse { .. } => Opcode::ReadResponse,
            Repr::Send {
                solicited,
                invalidate,
                ..
            } => match (*solicited, invalidate.is_some()) {
                (false, false) => Opcode::Send,
                (false, true) => Opcode::SendInvalidate,
                (true, false) => Opcode::SendSe,
                (true, true) => Opcode::SendSeInvalidate,
            },
            Repr::Terminate { .. } => Opcode::Terminate,
        }
    }

    /// The DDP header this message uses.
    pub fn ddp_repr(&self) -> ddp::Repr {
        let rsvd_ulp = control::VERSION_1 | self.opcode() as u8;
        let untagged = |rsvd_ulp_ext, qn, msn, mo| BufferModel::Untagged {
            rsvd_ulp: rsvd_ulp_ext,
            qn,
            msn,
            mo,
        };
        let (last, model) = match *self {
            Repr::Write { stag, to, last } | Repr::ReadResponse { stag, to, last } => {
                (last, BufferModel::Tagged { stag, to })
            }
            Repr::ReadRequest { msn, .. } => (true, untagged(0, QN_READ_REQUEST, msn, 0)),
            Repr::Send {
                invalidate,
                msn,
                mo,
                last,
                ..
            } => (last, untagged(invalidate.unwrap_or(0), QN_SEND, msn, mo)),
            Repr::Terminate { msn, .. } => (true, untagged(0, QN_TERMINATE, msn, 0)),
        };
        ddp::Repr {
            last,
            rsvd_ulp,
            model,
        }
    }

    /// Bytes [`Repr::emit`] writes: DDP header plus Read Request or Terminate header;
    /// the ULP payload (Write, Read Response and Send data) follows at this offset.
    pub fn header_len(&self) -> usize {
        let body = match self {
            Repr::ReadRequest { .. } => READ_REQUEST_LEN,
            Repr::Terminate { terminate, .. } => terminate.buffer_len(),
            _ => 0,
        };
        self.ddp_repr().header_len() + body
    }

    /// Same as [`Repr::header_len`].
    pub fn buffer_len(&self) -> usize {
        self.header_len()
    }

    /// Writes the headers.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Repr::header_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, frame: &mut ddp::Frame<&mut T>) {
        self.ddp_repr().emit(frame);
        match self {
            Repr::ReadRequest { request, .. } => {
                request.emit(&mut ReadRequestFrame::new_unchecked(frame.payload_mut()));
            }
            Repr::Terminate { terminate, .. } => {
                terminate.emit(&mut TerminateFrame::new_unchecked(frame.payload_mut()));
            }
            _ => {}
        }
    }
}

/// Read Requests and Terminates are single untagged segments on their own queue.
fn check_single_segment(qn: u32, want_qn: u32, mo: u32, last: bool) -> Result<()> {
    if qn != want_qn {
        Err(Error::Malformed(Field::QueueNumber))
    } else if mo != 0 {
        Err(Error::Malformed(Field::MessageOffset))
    } else if !last {
        Err(Error::Malformed(Field::LastFlag))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
