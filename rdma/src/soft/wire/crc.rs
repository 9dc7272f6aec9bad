//! CRC32c (Castagnoli) as MPA uses it (RFC 5044 §4.4, the iSCSI polynomial of RFC 3720
//! §12.1 / Appendix B.4): reflected, init and final XOR `0xFFFF_FFFF`.
//!
//! The value is stored in an FPDU least-significant byte first (what Linux `siw` sends
//! and Wireshark validates). This module computes and compares checksums only; it
//! decides nothing about whether CRC is in use.

use super::{Error, Result};

/// CRC32c of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// CRC32c of `data` continued from an earlier `crc` (for data in several pieces).
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, data)
}

/// Compares a stored CRC with the computed one (RFC 5044 §4.4).
///
/// Under `cfg(fuzzing)` a mismatch is accepted, so fuzzers reach the layers behind it.
pub fn verify(stored: u32, computed: u32) -> Result<()> {
    if stored == computed || cfg!(fuzzing) {
        Ok(())
    } else {
        Err(Error::BadCrc { stored, computed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3720 Appendix B.4 CRC examples. The RFC lists the CRC bytes in transmission
    /// order, least-significant byte first, which is also MPA's order.
    static RFC3720_ZEROS_CRC: [u8; 4] = [0xaa, 0x36, 0x91, 0x8a];
    static RFC3720_ONES_CRC: [u8; 4] = [0x43, 0xab, 0xa8, 0x62];
    static RFC3720_INCREMENTING_CRC: [u8; 4] = [0x4e, 0x79, 0xdd, 0x46];
    static RFC3720_DECREMENTING_CRC: [u8; 4] = [0x5c, 0xdb, 0x3f, 0x11];
    /// RFC 3720 B.4: an iSCSI Read (10) command PDU, 48 bytes.
    static RFC3720_ISCSI_READ_PDU: [u8; 48] = [
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00,
        0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00,
    ];
    static RFC3720_ISCSI_READ_CRC: [u8; 4] = [0x56, 0x3a, 0x96, 0xd9];

    #[test]
    fn rfc3720_b4_vectors() {
        let le = u32::from_le_bytes;
        assert_eq!(crc32c(&[0u8; 32]), le(RFC3720_ZEROS_CRC));
        assert_eq!(crc32c(&[0xffu8; 32]), le(RFC3720_ONES_CRC));
        let inc: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&inc), le(RFC3720_INCREMENTING_CRC));
        let dec: Vec<u8> = (0u8..32).rev().collect();
        assert_eq!(crc32c(&dec), le(RFC3720_DECREMENTING_CRC));
        assert_eq!(crc32c(&RFC3720_ISCSI_READ_PDU), le(RFC3720_ISCSI_READ_CRC));
    }

    #[test]
    fn check_value() {
        // The standard CRC-32C check value (also quoted in ../shared/siw-vm/README.md).
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn append_equals_whole() {
        let data = b"split at any point gives the same crc";
        for cut in 0..=data.len() {
            let (a, b) = data.split_at(cut);
            assert_eq!(crc32c_append(crc32c(a), b), crc32c(data));
        }
    }

    #[test]
    fn verify_reports_both_values() {
        assert_eq!(verify(7, 7), Ok(()));
        if !cfg!(fuzzing) {
            assert_eq!(
                verify(1, 2),
                Err(Error::BadCrc {
                    stored: 1,
                    computed: 2
                })
            );
        }
    }
}
