//! Philox 4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw, "Parallel
//! random numbers: as easy as 1, 2, 3" (SC 2011), as in the Random123 distribution.
//!
//! A block of four 32-bit words is a pure function of a 128-bit counter and a 64-bit key,
//! so any path's numbers can be produced on any thread, in any order, with the same result.

use crate::normal;

/// Round multipliers (Random123 `PHILOX_M4x32_0`, `PHILOX_M4x32_1`).
const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
/// Key schedule increments (Random123 `PHILOX_W32_0`, `PHILOX_W32_1`).
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// One Philox 4x32 block with 10 rounds.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let p0 = u64::from(M0) * u64::from(c[0]);
        let p1 = u64::from(M1) * u64::from(c[2]);
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// A stream of uniforms and normals for one Monte Carlo path: key = seed, counter =
/// (block index, path index). Streams of different paths never overlap (2^64 blocks each).
#[derive(Debug, Clone)]
pub struct PathStream {
    key: [u32; 2],
    path: u64,
    block: u64,
    buffer: [f64; 2],
    next: usize,
}

impl PathStream {
    /// The stream of path `path` under `seed`.
    pub fn new(seed: u64, path: u64) -> Self {
        PathStream {
            key: [seed as u32, (seed >> 32) as u32],
            path,
            block: 0,
            buffer: [0.0; 2],
            next: 2,
        }
    }

    /// The next uniform in the open interval (0, 1), with 52 random bits.
    pub fn uniform(&mut self) -> f64 {
        if self.next == 2 {
            let w = philox4x32_10(
                [
                    self.block as u32,
                    (self.block >> 32) as u32,
                    self.path as u32,
                    (self.path >> 32) as u32,
                ],
                self.key,
            );
            self.block = self.block.wrapping_add(1);
            self.buffer = [to_open_unit(w[0], w[1]), to_open_unit(w[2], w[3])];
            self.next = 0;
        }
        let u = self.buffer[self.next];
        self.next += 1;
        u
    }

    /// The next standard normal (inverse transform of [`PathStream::uniform`]).
    pub fn normal(&mut self) -> f64 {
        normal::inv_cdf(self.uniform())
    }
}

/// Two 32-bit words to a uniform in (0, 1): the top 52 bits, centred in their cell (so the
/// result is exact and never 0 or 1).
fn to_open_unit(lo: u32, hi: u32) -> f64 {
    let bits = (u64::from(hi) << 32 | u64::from(lo)) >> 12;
    (bits as f64 + 0.5) * (1.0 / (1u64 << 52) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer vectors from Random123's `examples/kat_vectors` (philox4x32 10).
    #[test]
    fn random123_known_answers() {
        assert_eq!(
            philox4x32_10([0, 0, 0, 0], [0, 0]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    #[test]
    fn uniforms_are_open_and_streams_differ() {
        assert!(to_open_unit(0, 0) > 0.0 && to_open_unit(u32::MAX, u32::MAX) < 1.0);
        let mut a = PathStream::new(7, 0);
        let mut b = PathStream::new(7, 1);
        let xa: Vec<f64> = (0..8).map(|_| a.uniform()).collect();
        let xb: Vec<f64> = (0..8).map(|_| b.uniform()).collect();
        assert_ne!(xa, xb);
        let mut again = PathStream::new(7, 0);
        assert_eq!(xa, (0..8).map(|_| again.uniform()).collect::<Vec<_>>());
    }

    /// Sample mean and variance of 200k normals are those of N(0, 1) within 5 standard
    /// errors (a fixed seed, so this is deterministic).
    #[test]
    fn normals_have_unit_moments() {
        let n = 200_000;
        let mut s = PathStream::new(42, 0);
        let (mut sum, mut sq) = (0.0, 0.0);
        for _ in 0..n {
            let z = s.normal();
            sum += z;
            sq += z * z;
        }
        let mean = sum / n as f64;
        let var = sq / n as f64 - mean * mean;
        assert!(mean.abs() < 5.0 / (n as f64).sqrt(), "mean {mean}");
        assert!(
            (var - 1.0).abs() < 5.0 * (2.0 / n as f64).sqrt(),
            "var {var}"
        );
    }
}
