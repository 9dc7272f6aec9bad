//! MPA markers (RFC 5044 §4.3, §5): a 4-byte marker every 512 octets of the stream, as
//! a sans-IO inserter (send) and stripper (receive) around whole FPDUs.
//!
//! Positions count from the first octet after this direction's MPA Request/Reply
//! (stream offset 0), so the first FPDU starts with a marker. A marker is 16 reserved
//! bits (sent as 0) and the 16-bit `FPDUPTR`: the distance from the start of the FPDU
//! the marker sits in to the marker's first octet. A marker that falls exactly where an
//! FPDU begins is that FPDU's first field, so its `FPDUPTR` is 0 (this is how Wireshark's
//! `iwarp_mpa` dissector lays FPDUs out; Linux `siw` implements no markers, so no
//! marker-capable peer was available to compare with). The MPA CRC covers the FPDU as
//! sent, markers included (RFC 5044 §4.4; Wireshark checks it that way).
//!
//! [`MarkerInserter`] turns one unmarked FPDU (as `wire::mpa::FpduFrame` lays it out)
//! into its marked wire bytes and recomputes the CRC over them. [`MarkerStripper`]
//! takes wire bytes split at any point, checks every marker's `FPDUPTR` and the CRC over
//! the marked bytes, and writes unmarked FPDUs whose CRC field is recomputed over the
//! unmarked bytes (or left 0 without CRC), so the FPDU parser behind it works unchanged.
//!
//! Nothing here reads a clock, owns a socket or allocates.

use crate::soft::wire::crc;
use crate::soft::wire::mpa::{MARKER_INTERVAL, MARKER_LEN, fpdu_len};
use crate::soft::wire::rdmap::MpaErrorCode;

/// Bytes of the CRC field at the end of an FPDU.
const CRC_LEN: usize = 4;
/// Bytes of the ULPDU_Length field at the start of an FPDU.
const LEN_FIELD: usize = 2;
/// Marker spacing as a stream offset.
const INTERVAL: u64 = MARKER_INTERVAL as u64;

/// A marker problem (answered with MPA error code 0x03, marker error, RFC 5044 §8) or
/// a CRC mismatch (0x02), or a caller buffer that cannot hold the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MarkerError {
    /// A received marker does not point at the start of its FPDU.
    #[error("MPA marker at stream offset {offset} has FPDUPTR {found}, expected {expected}")]
    BadFpduPtr {
        /// Stream offset of the marker.
        offset: u64,
        /// FPDUPTR the FPDU layout implies.
        expected: u16,
        /// FPDUPTR received.
        found: u16,
    },
    /// A received FPDU's CRC32c over its marked bytes does not match.
    #[error("MPA CRC over marked FPDU: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc {
        /// CRC found in the FPDU.
        stored: u32,
        /// CRC computed over the marked bytes.
        computed: u32,
    },
    /// The input is not one whole, well-formed unmarked FPDU.
    #[error("input is not one whole FPDU")]
    NotAnFpdu,
    /// The output buffer is smaller than `MarkerInserter::marked_len`.
    #[error("output buffer too small: need {need} bytes, have {have}")]
    OutputTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// A marker would sit more than 65535 bytes after its FPDU's start.
    #[error("FPDU too long for a 16-bit FPDUPTR")]
    FpduTooLong,
}

impl MarkerError {
    /// The MPA error code a Terminate carries for this error (RFC 5044 §8): CRC error
    /// for a CRC mismatch, marker error for everything else that broke the framing.
    pub const fn mpa_error_code(&self) -> MpaErrorCode {
        match self {
            MarkerError::BadCrc { .. } => MpaErrorCode::CrcError,
            _ => MpaErrorCode::MarkerError,
        }
    }
}

/// Bytes from stream offset `pos` up to the next marker position (0 when at one).
fn to_next_marker(pos: u64) -> usize {
    // The remainder is below 512, so the cast cannot truncate.
    ((INTERVAL - pos % INTERVAL) % INTERVAL) as usize
}

/// Inserts markers into this side's outgoing FPDUs (RFC 5044 §4.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MarkerInserter {
    pos: u64,
}

impl MarkerInserter {
    /// An inserter at stream offset 0 (just after the MPA Request/Reply).
    pub const fn new() -> MarkerInserter {
        MarkerInserter { pos: 0 }
    }

    /// Stream offset of the next byte this direction sends.
    pub const fn stream_offset(&self) -> u64 {
        self.pos
    }

    /// Wire bytes an unmarked FPDU of `fpdu_len` bytes takes at the current offset.
    pub fn marked_len(&self, fpdu_len: usize) -> usize {
        let mut pos = self.pos;
        let mut left = fpdu_len;
        while left > 0 {
            if pos % INTERVAL == 0 {
                pos += MARKER_LEN as u64;
            }
            let n = left.min(to_next_marker(pos));
            pos += n as u64;
            left -= n;
        }
        // At most 65535 + 9 bytes of FPDU plus its markers: fits usize.
        (pos - self.pos) as usize
    }

    /// Writes `fpdu` (length, ULPDU, pad, CRC field) with markers into `out`; the CRC
    /// is recomputed over the marked bytes when `crc_enabled`, else written as 0.
    /// Returns the bytes written ([`MarkerInserter::marked_len`]).
    pub fn insert(
        &mut self,
        fpdu: &[u8],
        crc_enabled: bool,
        out: &mut [u8],
    ) -> Result<usize, MarkerError> {
        let declared = match fpdu {
            [hi, lo, ..] => fpdu_len(usize::from(u16::from_be_bytes([*hi, *lo]))),
            _ => return Err(MarkerError::NotAnFpdu),
        };
        if declared != fpdu.len() {
            return Err(MarkerError::NotAnFpdu);
        }
        let need = self.marked_len(fpdu.len());
        if out.len() < need {
            return Err(MarkerError::OutputTooSmall {
                need,
                have: out.len(),
            });
        }
        let start = self.pos;
        let mut pos = start;
        let mut src = 0;
        let mut dst = 0;
        while src < fpdu.len() {
            if pos % INTERVAL == 0 {
                let ptr = u16::try_from(pos - start).map_err(|_| MarkerError::FpduTooLong)?;
                out[dst..dst + 2].fill(0);
                out[dst + 2..dst + MARKER_LEN].copy_from_slice(&ptr.to_be_bytes());
                dst += MARKER_LEN;
                pos += MARKER_LEN as u64;
            }
            let n = (fpdu.len() - src).min(to_next_marker(pos));
            out[dst..dst + n].copy_from_slice(&fpdu[src..src + n]);
            src += n;
            dst += n;
            pos += n as u64;
        }
        let crc_value = if crc_enabled {
            crc::crc32c(&out[..dst - CRC_LEN])
        } else {
            0
        };
        out[dst - CRC_LEN..dst].copy_from_slice(&crc_value.to_le_bytes());
        self.pos = pos;
        Ok(dst)
    }
}

/// The FPDU the stripper is in the middle of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct InFpdu {
    /// Stream offset of its first byte (a leading marker, or ULPDU_Length).
    wire_start: u64,
    /// Unmarked bytes seen so far.
    done: usize,
    /// Unmarked length once ULPDU_Length is known, else 0.
    total: usize,
    /// ULPDU_Length bytes.
    len_field: [u8; LEN_FIELD],
    /// Running CRC32c over the marked bytes before the CRC field.
    crc_marked: u32,
    /// Running CRC32c over the unmarked bytes before the CRC field.
    crc_unmarked: u32,
    /// The CRC field as received.
    stored: [u8; CRC_LEN],
}

/// Strips and checks markers in the peer's incoming stream (RFC 5044 §4.3, §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkerStripper {
    crc_enabled: bool,
    pos: u64,
    fpdu: Option<InFpdu>,
    marker: [u8; MARKER_LEN],
    marker_fill: usize,
}

impl MarkerStripper {
    /// A stripper at stream offset 0; `crc_enabled` as negotiated.
    pub const fn new(crc_enabled: bool) -> MarkerStripper {
        MarkerStripper {
            crc_enabled,
            pos: 0,
            fpdu: None,
            marker: [0; MARKER_LEN],
            marker_fill: 0,
        }
    }

    /// Stream offset of the next byte expected from the peer.
    pub const fn stream_offset(&self) -> u64 {
        self.pos
    }

    /// Consumes wire bytes from `input` and writes unmarked FPDU bytes to `out`;
    /// returns `(consumed, produced)`. Stops early when `out` is full (keep at least
    /// 4 bytes free to get past a CRC field). After an error the stream is unusable.
    pub fn handle_bytes(
        &mut self,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<(usize, usize), MarkerError> {
        let mut inp = 0;
        let mut outp = 0;
        while inp < input.len() {
            if self.marker_fill > 0 || self.pos % INTERVAL == 0 {
                inp += self.take_marker(&input[inp..])?;
                continue;
            }
            let fpdu = self.fpdu.get_or_insert(InFpdu {
                wire_start: self.pos,
                crc_marked: crc::crc32c(&[]),
                crc_unmarked: crc::crc32c(&[]),
                ..InFpdu::default()
            });
            let crc_at = if fpdu.total == 0 {
                usize::MAX
            } else {
                fpdu.total - CRC_LEN
            };
            if fpdu.done >= crc_at {
                // CRC field: held back until whole, then written as recomputed.
                let k = (fpdu.total - fpdu.done)
                    .min(input.len() - inp)
                    .min(to_next_marker(self.pos));
                let complete = fpdu.done + k == fpdu.total;
                if complete && out.len() - outp < CRC_LEN {
                    break;
                }
                let at = fpdu.done - crc_at;
                fpdu.stored[at..at + k].copy_from_slice(&input[inp..inp + k]);
                fpdu.done += k;
                inp += k;
                self.pos += k as u64;
                if complete {
                    let value = self.finish_fpdu()?;
                    out[outp..outp + CRC_LEN].copy_from_slice(&value.to_le_bytes());
                    outp += CRC_LEN;
                }
                continue;
            }
            let section_end = if fpdu.done < LEN_FIELD {
                LEN_FIELD
            } else {
                crc_at
            };
            let n = (section_end - fpdu.done)
                .min(input.len() - inp)
                .min(out.len() - outp)
                .min(to_next_marker(self.pos));
            if n == 0 {
                break;
            }
            let chunk = &input[inp..inp + n];
            out[outp..outp + n].copy_from_slice(chunk);
            fpdu.crc_marked = crc::crc32c_append(fpdu.crc_marked, chunk);
            fpdu.crc_unmarked = crc::crc32c_append(fpdu.crc_unmarked, chunk);
            if fpdu.done < LEN_FIELD {
                fpdu.len_field[fpdu.done..fpdu.done + n].copy_from_slice(chunk);
            }
            fpdu.done += n;
            if fpdu.done == LEN_FIELD {
                fpdu.total = fpdu_len(usize::from(u16::from_be_bytes(fpdu.len_field)));
            }
            inp += n;
            outp += n;
            self.pos += n as u64;
        }
        Ok((inp, outp))
    }

    /// Collects marker bytes at the current position; checks FPDUPTR when complete.
    fn take_marker(&mut self, input: &[u8]) -> Result<usize, MarkerError> {
        let marker_pos = self.pos - self.marker_fill as u64;
        if self.marker_fill == 0 && self.fpdu.is_none() {
            // A marker where an FPDU begins is that FPDU's first field.
            self.fpdu = Some(InFpdu {
                wire_start: marker_pos,
                crc_marked: crc::crc32c(&[]),
                crc_unmarked: crc::crc32c(&[]),
                ..InFpdu::default()
            });
        }
        let k = (MARKER_LEN - self.marker_fill).min(input.len());
        self.marker[self.marker_fill..self.marker_fill + k].copy_from_slice(&input[..k]);
        self.marker_fill += k;
        self.pos += k as u64;
        if self.marker_fill < MARKER_LEN {
            return Ok(k);
        }
        self.marker_fill = 0;
        let found = u16::from_be_bytes([self.marker[2], self.marker[3]]);
        let Some(fpdu) = self.fpdu.as_mut() else {
            return Err(MarkerError::NotAnFpdu);
        };
        let expected = u16::try_from(marker_pos - fpdu.wire_start).unwrap_or(u16::MAX);
        if found != expected {
            return Err(MarkerError::BadFpduPtr {
                offset: marker_pos,
                expected,
                found,
            });
        }
        // A marker between pad and CRC field precedes the CRC and is covered by it.
        fpdu.crc_marked = crc::crc32c_append(fpdu.crc_marked, &self.marker);
        Ok(k)
    }

    /// Ends the current FPDU: checks its CRC and returns the CRC field to emit.
    fn finish_fpdu(&mut self) -> Result<u32, MarkerError> {
        let Some(fpdu) = self.fpdu.take() else {
            return Err(MarkerError::NotAnFpdu);
        };
        if !self.crc_enabled {
            return Ok(u32::from_le_bytes(fpdu.stored));
        }
        let stored = u32::from_le_bytes(fpdu.stored);
        match crc::verify(stored, fpdu.crc_marked) {
            Ok(()) => Ok(fpdu.crc_unmarked),
            Err(_) => Err(MarkerError::BadCrc {
                stored,
                computed: fpdu.crc_marked,
            }),
        }
    }
}

#[cfg(test)]
mod tests;
