//! Byte layout of journal records and segment file headers: parse and emit, no I/O.
//!
//! The layouts are drawn in the [module documentation](super). Everything here is pure:
//! it takes bytes and returns views or errors, it never touches a file and never reads a
//! clock. Panic contract: no function in this module panics on any input; a short,
//! oversized or corrupt buffer is reported as a [`RecordError`].
//!
//! Under `cfg(fuzzing)` the CRC comparison is skipped so a fuzzer can reach the code
//! behind it; every other check still runs.

use thiserror::Error;
use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::units::{SeqNo, UnixNanos};

/// Magic bytes at offset 0 of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"TWJOURNL";
/// The segment format version this code writes and reads (version 1 had no durable
/// boundary and no commit marks; it is refused).
pub const SEGMENT_VERSION: u16 = 2;
/// Length of the segment file header in bytes.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Length of a record header (before the payload) in bytes.
pub const RECORD_HEADER_LEN: usize = 24;
/// Length of the CRC32c trailer after the payload in bytes.
pub const RECORD_TRAILER_LEN: usize = 4;
/// Framing bytes added to every payload (header and trailer).
pub const RECORD_OVERHEAD: usize = RECORD_HEADER_LEN + RECORD_TRAILER_LEN;
/// The largest payload a record may carry (16 MiB).
pub const MAX_PAYLOAD: usize = 1 << 24;
/// Bytes of a commit mark frame (a record frame with no payload).
pub const MARK_LEN: usize = RECORD_OVERHEAD;
/// Frame kind of an application record.
const KIND_RECORD: u16 = 0;
/// Frame kind of a commit mark.
const KIND_MARK: u16 = 1;
/// Header flag: the writer rolled to a successor segment; this one is complete.
const FLAG_ROLLED: u32 = 1;
/// Header flag: the writer closed the journal cleanly with this as its last segment.
const FLAG_CLOSED: u32 = 2;

/// Why a record or a segment header could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum RecordError {
    /// The buffer ends before the record (or header) does.
    #[error("truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes the complete item needs.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The stored CRC32c does not match the bytes it covers.
    #[error("CRC32c mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc {
        /// The CRC found in the trailer.
        stored: u32,
        /// The CRC computed over the covered bytes.
        computed: u32,
    },
    /// A length field is out of range (payload above [`MAX_PAYLOAD`], or a header length
    /// other than [`SEGMENT_HEADER_LEN`]).
    #[error("length field out of range: {len}")]
    BadLength {
        /// The length found.
        len: u32,
    },
    /// A reserved field is not zero.
    #[error("reserved field is {value:#x}, must be zero")]
    Reserved {
        /// The value found.
        value: u32,
    },
    /// The frame kind is neither a record nor a commit mark.
    #[error("unknown frame kind {0}")]
    BadKind(u16),
    /// A commit mark stands where an application record was required.
    #[error("commit mark where a record was expected")]
    UnexpectedMark,
    /// The segment header does not start with [`SEGMENT_MAGIC`].
    #[error("bad segment magic")]
    BadMagic,
    /// The segment header names a format version this code does not read.
    #[error("unsupported segment version {0}")]
    UnsupportedVersion(u16),
}

/// Record header as stored (little-endian, unaligned, 24 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RecordHeader {
    payload_len: U32,
    record_type: U16,
    kind: U16,
    seq: U64,
    timestamp: U64,
}

/// Segment file header as stored (little-endian, unaligned, 64 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct SegmentHeaderBytes {
    magic: [u8; 8],
    version: U16,
    header_len: U16,
    flags: U32,
    first_seq: U64,
    durable_seq: U64,
    durable_end: U64,
    reserved: [u8; 20],
    crc: U32,
}

const _: () = assert!(size_of::<RecordHeader>() == RECORD_HEADER_LEN);
const _: () = assert!(size_of::<SegmentHeaderBytes>() == SEGMENT_HEADER_LEN);

/// A parsed record borrowing its payload from the buffer it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Application-defined record type.
    pub record_type: u16,
    /// Sequence number assigned by the writer.
    pub seq: SeqNo,
    /// Timestamp supplied by the application at append time.
    pub timestamp: UnixNanos,
    /// The payload bytes.
    pub payload: &'a [u8],
}

/// An owned record (a [`RecordRef`] with its payload copied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Application-defined record type.
    pub record_type: u16,
    /// Sequence number assigned by the writer.
    pub seq: SeqNo,
    /// Timestamp supplied by the application at append time.
    pub timestamp: UnixNanos,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

impl RecordRef<'_> {
    /// Copies the payload into an owned [`Record`].
    pub fn to_record(&self) -> Record {
        Record {
            record_type: self.record_type,
            seq: self.seq,
            timestamp: self.timestamp,
            payload: self.payload.to_vec(),
        }
    }

    /// Bytes this record occupies when encoded.
    pub fn encoded_len(&self) -> usize {
        encoded_len(self.payload.len())
    }
}

impl Record {
    /// A borrowed view of this record.
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            record_type: self.record_type,
            seq: self.seq,
            timestamp: self.timestamp,
            payload: &self.payload,
        }
    }
}

/// Bytes a record with a payload of `payload_len` bytes occupies when encoded.
pub const fn encoded_len(payload_len: usize) -> usize {
    payload_len.saturating_add(RECORD_OVERHEAD)
}

/// One frame of a segment: an application record or a commit mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// An application record.
    Record(RecordRef<'a>),
    /// A commit mark: every record through this sequence number was written completely
    /// before the sync that follows the mark. It consumes no sequence number.
    Mark(SeqNo),
}

/// Parses one record at the start of `buf`; returns it and the bytes it occupies.
///
/// `Truncated` means the buffer holds only a prefix of a record (for a tail follower:
/// "not yet"); every other error means the bytes are not a valid record. A commit mark
/// is `UnexpectedMark` (use [`parse_frame`] to accept both).
pub fn parse_record(buf: &[u8]) -> Result<(RecordRef<'_>, usize), RecordError> {
    match parse_frame(buf)? {
        (Frame::Record(record), used) => Ok((record, used)),
        (Frame::Mark(_), _) => Err(RecordError::UnexpectedMark),
    }
}

/// Parses one frame (record or commit mark) at the start of `buf`.
///
/// `Truncated` means the buffer holds only a prefix of a frame; every other error means
/// the bytes are not a valid frame.
pub fn parse_frame(buf: &[u8]) -> Result<(Frame<'_>, usize), RecordError> {
    let (header, _) = RecordHeader::ref_from_prefix(buf).map_err(|_| RecordError::Truncated {
        need: RECORD_HEADER_LEN,
        have: buf.len(),
    })?;
    let kind = header.kind.get();
    if kind != KIND_RECORD && kind != KIND_MARK {
        return Err(RecordError::BadKind(kind));
    }
    let payload_len = header.payload_len.get();
    let payload_usize =
        usize::try_from(payload_len).map_err(|_| RecordError::BadLength { len: payload_len })?;
    if payload_usize > MAX_PAYLOAD || (kind == KIND_MARK && payload_len != 0) {
        return Err(RecordError::BadLength { len: payload_len });
    }
    let covered = RECORD_HEADER_LEN + payload_usize;
    let total = covered + RECORD_TRAILER_LEN;
    let (Some(covered_bytes), Some(crc_bytes)) = (buf.get(..covered), buf.get(covered..total))
    else {
        return Err(RecordError::Truncated {
            need: total,
            have: buf.len(),
        });
    };
    let stored = u32::from_le_bytes(to_array(crc_bytes));
    check_crc(stored, crc32c::crc32c(covered_bytes))?;
    let seq = SeqNo(header.seq.get());
    if kind == KIND_MARK {
        let extra = u64::from(header.record_type.get()) | header.timestamp.get();
        if extra != 0 {
            return Err(RecordError::Reserved {
                value: u32::try_from(extra).unwrap_or(u32::MAX),
            });
        }
        return Ok((Frame::Mark(seq), total));
    }
    let payload = covered_bytes.get(RECORD_HEADER_LEN..).unwrap_or_default();
    Ok((
        Frame::Record(RecordRef {
            record_type: header.record_type.get(),
            seq,
            timestamp: UnixNanos(header.timestamp.get()),
            payload,
        }),
        total,
    ))
}

/// Appends a commit mark for "records through `through` are complete"; returns its length.
pub fn emit_mark(out: &mut Vec<u8>, through: SeqNo) -> usize {
    let start = out.len();
    let header = RecordHeader {
        payload_len: U32::ZERO,
        record_type: U16::ZERO,
        kind: U16::new(KIND_MARK),
        seq: U64::new(through.get()),
        timestamp: U64::ZERO,
    };
    out.extend_from_slice(header.as_bytes());
    let crc = crc32c::crc32c(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&crc.to_le_bytes());
    out.len() - start
}

/// Appends the encoding of one record to `out`; returns the bytes appended.
///
/// Fails with `BadLength` (and appends nothing) when the payload exceeds [`MAX_PAYLOAD`].
/// `out` is only grown when its spare capacity is too small.
pub fn emit_record(out: &mut Vec<u8>, record: &RecordRef<'_>) -> Result<usize, RecordError> {
    let len = record.payload.len();
    let payload_len = match u32::try_from(len) {
        Ok(payload_len) if len <= MAX_PAYLOAD => payload_len,
        _ => {
            return Err(RecordError::BadLength {
                len: u32::try_from(len).unwrap_or(u32::MAX),
            });
        }
    };
    let start = out.len();
    let header = RecordHeader {
        payload_len: U32::new(payload_len),
        record_type: U16::new(record.record_type),
        kind: U16::new(KIND_RECORD),
        seq: U64::new(record.seq.get()),
        timestamp: U64::new(record.timestamp.get()),
    };
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(record.payload);
    let crc = crc32c::crc32c(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out.len() - start)
}

/// A parsed segment file header.
///
/// `durable_seq`/`durable_end` are the durable boundary: every record through
/// `durable_seq` ends at or before file offset `durable_end` and was on stable storage
/// when the header was written. The writer rewrites the header in place after each sync,
/// so the boundary on disk may lag the real one but never runs ahead of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Sequence number of the first record the segment holds (or will hold).
    pub first_seq: SeqNo,
    /// The last record known durable (`first_seq - 1` when none is).
    pub durable_seq: SeqNo,
    /// File offset just past record `durable_seq` ([`SEGMENT_HEADER_LEN`] when none).
    pub durable_end: u64,
    /// The writer rolled to a successor: the segment ends exactly at `durable_end` with
    /// record `durable_seq`, and segment `durable_seq + 1` must exist.
    pub rolled: bool,
    /// The writer closed the journal cleanly while this was its last segment.
    pub closed: bool,
}

impl SegmentHeader {
    /// The header of a new, empty segment starting at `first_seq`.
    pub fn new(first_seq: SeqNo) -> SegmentHeader {
        SegmentHeader {
            first_seq,
            durable_seq: SeqNo(first_seq.get().saturating_sub(1)),
            durable_end: SEGMENT_HEADER_LEN as u64,
            rolled: false,
            closed: false,
        }
    }

    /// Encodes this header into its [`SEGMENT_HEADER_LEN`] bytes.
    pub fn emit(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let flags =
            if self.rolled { FLAG_ROLLED } else { 0 } | if self.closed { FLAG_CLOSED } else { 0 };
        let mut header = SegmentHeaderBytes {
            magic: SEGMENT_MAGIC,
            version: U16::new(SEGMENT_VERSION),
            header_len: U16::new(SEGMENT_HEADER_LEN as u16),
            flags: U32::new(flags),
            first_seq: U64::new(self.first_seq.get()),
            durable_seq: U64::new(self.durable_seq.get()),
            durable_end: U64::new(self.durable_end),
            reserved: [0; 20],
            crc: U32::ZERO,
        };
        let crc = crc32c::crc32c(
            header
                .as_bytes()
                .get(..SEGMENT_HEADER_LEN - 4)
                .unwrap_or_default(),
        );
        header.crc = U32::new(crc);
        let mut out = [0u8; SEGMENT_HEADER_LEN];
        out.copy_from_slice(header.as_bytes());
        out
    }

    /// Parses a segment header from the start of `buf`.
    ///
    /// A header of another format version is `UnsupportedVersion` even when it is
    /// shorter than this version's header.
    pub fn parse(buf: &[u8]) -> Result<SegmentHeader, RecordError> {
        if let (Some(magic), Some(version)) = (buf.get(..8), buf.get(8..10)) {
            if magic != SEGMENT_MAGIC {
                return Err(RecordError::BadMagic);
            }
            let version = u16::from_le_bytes([version[0], version[1]]);
            if version != SEGMENT_VERSION {
                return Err(RecordError::UnsupportedVersion(version));
            }
        }
        let (header, _) =
            SegmentHeaderBytes::ref_from_prefix(buf).map_err(|_| RecordError::Truncated {
                need: SEGMENT_HEADER_LEN,
                have: buf.len(),
            })?;
        let computed = crc32c::crc32c(
            header
                .as_bytes()
                .get(..SEGMENT_HEADER_LEN - 4)
                .unwrap_or_default(),
        );
        check_crc(header.crc.get(), computed)?;
        if usize::from(header.header_len.get()) != SEGMENT_HEADER_LEN {
            return Err(RecordError::BadLength {
                len: u32::from(header.header_len.get()),
            });
        }
        let flags = header.flags.get();
        if flags & !(FLAG_ROLLED | FLAG_CLOSED) != 0 || header.reserved.iter().any(|b| *b != 0) {
            return Err(RecordError::Reserved { value: flags });
        }
        Ok(SegmentHeader {
            first_seq: SeqNo(header.first_seq.get()),
            durable_seq: SeqNo(header.durable_seq.get()),
            durable_end: header.durable_end.get(),
            rolled: flags & FLAG_ROLLED != 0,
            closed: flags & FLAG_CLOSED != 0,
        })
    }
}

/// Compares a stored CRC with a computed one (always passes under `cfg(fuzzing)`).
fn check_crc(stored: u32, computed: u32) -> Result<(), RecordError> {
    if cfg!(fuzzing) || stored == computed {
        Ok(())
    } else {
        Err(RecordError::BadCrc { stored, computed })
    }
}

/// The first four bytes of `bytes` as an array (zeros where `bytes` is shorter).
fn to_array(bytes: &[u8]) -> [u8; 4] {
    let mut out = [0u8; 4];
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = *b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A record of type 7, seq 1, timestamp 2, payload "ab", as laid out in the module doc.
    static RECORD_AB: [u8; 30] = [
        0x02, 0x00, 0x00, 0x00, // payload_len = 2
        0x07, 0x00, // record_type = 7
        0x00, 0x00, // kind = record
        0x01, 0, 0, 0, 0, 0, 0, 0, // seq = 1
        0x02, 0, 0, 0, 0, 0, 0, 0, // timestamp = 2
        b'a', b'b', // payload
        0x00, 0x00, 0x00, 0x00, // crc32c, filled in by `record_ab()`
    ];

    fn record_ab() -> Vec<u8> {
        let mut bytes = RECORD_AB.to_vec();
        let crc = crc32c::crc32c(&bytes[..26]);
        bytes[26..].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    #[test]
    fn parses_the_documented_layout() {
        let bytes = record_ab();
        let (rec, used) = parse_record(&bytes).unwrap();
        assert_eq!(used, 30);
        assert_eq!(rec.record_type, 7);
        assert_eq!(rec.seq, SeqNo(1));
        assert_eq!(rec.timestamp, UnixNanos(2));
        assert_eq!(rec.payload, b"ab");
        let mut out = Vec::new();
        assert_eq!(emit_record(&mut out, &rec), Ok(30));
        assert_eq!(out, bytes);
    }

    #[test]
    fn every_prefix_is_truncated() {
        let bytes = record_ab();
        for cut in 0..bytes.len() {
            let err = parse_record(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(err, RecordError::Truncated { have, .. } if have == cut),
                "cut {cut}: {err:?}"
            );
        }
    }

    #[test]
    fn detects_bad_crc_reserved_and_length() {
        let mut bytes = record_ab();
        bytes[24] ^= 1;
        assert!(matches!(
            parse_record(&bytes),
            Err(RecordError::BadCrc { .. })
        ));
        let mut bytes = record_ab();
        bytes[6] = 2;
        assert_eq!(parse_record(&bytes), Err(RecordError::BadKind(2)));
        let mut bytes = record_ab();
        bytes[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            parse_record(&bytes),
            Err(RecordError::BadLength { len: u32::MAX })
        );
    }

    #[test]
    fn marks_parse_as_marks_and_are_not_records() {
        let mut out = Vec::new();
        assert_eq!(emit_mark(&mut out, SeqNo(77)), MARK_LEN);
        assert_eq!(parse_frame(&out), Ok((Frame::Mark(SeqNo(77)), MARK_LEN)));
        assert_eq!(parse_record(&out), Err(RecordError::UnexpectedMark));
        for i in 0..out.len() {
            let mut bad = out.clone();
            bad[i] ^= 0x10;
            assert!(parse_frame(&bad).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn refuses_oversized_payload() {
        let payload = vec![0u8; MAX_PAYLOAD + 1];
        let rec = RecordRef {
            record_type: 0,
            seq: SeqNo(1),
            timestamp: UnixNanos(0),
            payload: &payload,
        };
        let mut out = Vec::new();
        assert!(matches!(
            emit_record(&mut out, &rec),
            Err(RecordError::BadLength { .. })
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn segment_header_round_trip_and_errors() {
        let header = SegmentHeader {
            durable_seq: SeqNo(50),
            durable_end: 4096,
            rolled: true,
            ..SegmentHeader::new(SeqNo(42))
        };
        let bytes = header.emit();
        assert_eq!(&bytes[..8], b"TWJOURNL");
        assert_eq!(SegmentHeader::parse(&bytes), Ok(header));
        assert!(matches!(
            SegmentHeader::parse(&bytes[..63]),
            Err(RecordError::Truncated { need: 64, have: 63 })
        ));
        let mut v1 = bytes;
        v1[8] = 1;
        assert_eq!(
            SegmentHeader::parse(&v1[..32]),
            Err(RecordError::UnsupportedVersion(1))
        );
        let mut bad = bytes;
        bad[0] = b'X';
        assert_eq!(SegmentHeader::parse(&bad), Err(RecordError::BadMagic));
        let mut bad = bytes;
        bad[16] ^= 0x80;
        assert!(matches!(
            SegmentHeader::parse(&bad),
            Err(RecordError::BadCrc { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn parse_of_emit_round_trips(
            record_type: u16,
            seq: u64,
            ts: u64,
            payload in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let rec = Record { record_type, seq: SeqNo(seq), timestamp: UnixNanos(ts), payload };
            let mut out = vec![0xEE; 3];
            let n = emit_record(&mut out, &rec.as_ref()).unwrap();
            prop_assert_eq!(n, encoded_len(rec.payload.len()));
            let (parsed, used) = parse_record(&out[3..]).unwrap();
            prop_assert_eq!(used, n);
            prop_assert_eq!(parsed.to_record(), rec);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok((rec, used)) = parse_record(&bytes) {
                prop_assert!(used <= bytes.len());
                prop_assert_eq!(used, rec.encoded_len());
            }
            let _ = SegmentHeader::parse(&bytes);
        }

        #[test]
        fn any_single_byte_flip_is_detected(
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            pos: prop::sample::Index,
            bit in 0u8..8,
        ) {
            let rec = RecordRef { record_type: 3, seq: SeqNo(9), timestamp: UnixNanos(1), payload: &payload };
            let mut out = Vec::new();
            emit_record(&mut out, &rec).unwrap();
            let i = pos.index(out.len());
            out[i] ^= 1 << bit;
            prop_assert!(parse_record(&out).map(|(r, _)| r.to_record()) != Ok(rec.to_record()));
        }
    }
}
