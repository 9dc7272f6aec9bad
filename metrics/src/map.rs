//! The one place that turns a file mapping into memory: a [`Region`] is a shared
//! mapping of a counters file seen as a slice of `AtomicU64` words. Every access to the
//! file's contents, by the writer or by a reader in another process, is an atomic load or
//! store of one aligned word, so concurrent access across processes is never a data race.
//!
//! What this module must not do: hand out anything but `&[AtomicU64]` (no `&mut [u8]`,
//! which would alias the other side's atomics), or map a file shorter than asked.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::sync::atomic::AtomicU64;

use memmap2::{MmapOptions, MmapRaw};

/// A shared mapping of `words` 64-bit words.
#[derive(Debug)]
pub(crate) struct Region {
    map: MmapRaw,
    words: usize,
}

impl Region {
    /// Maps the first `words` words of `file` for reading and writing (shared: other
    /// processes mapping the file see the stores).
    pub(crate) fn writable(file: &File, words: usize) -> io::Result<Region> {
        let map = MmapOptions::new().len(words * 8).map_raw(file)?;
        Region::checked(map, words)
    }

    /// Maps the first `words` words of `file` read-only.
    pub(crate) fn read_only(file: &File, words: usize) -> io::Result<Region> {
        let map = MmapOptions::new().len(words * 8).map_raw_read_only(file)?;
        Region::checked(map, words)
    }

    fn checked(map: MmapRaw, words: usize) -> io::Result<Region> {
        let aligned = (map.as_ptr() as usize) % align_of::<AtomicU64>() == 0;
        if words == 0 || map.len() < words * 8 || !aligned {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "counters mapping is empty, short or misaligned",
            ));
        }
        Ok(Region { map, words })
    }

    /// The mapping as words.
    pub(crate) fn words(&self) -> &[AtomicU64] {
        // SAFETY: `checked` made sure the mapping is at least `words * 8` bytes long and
        // 8-byte aligned (mappings are page aligned); it lives as long as `self`, which the
        // slice borrows. The memory is only ever accessed through atomics (here and in
        // every other process, which use this same type), so shared mutation is not a
        // data race; `AtomicU64` has the size and alignment of `u64` and every bit
        // pattern is valid. A read-only mapping is only loaded from: atomic loads of a
        // lock-free 8-byte atomic from read-only memory are allowed (std::sync::atomic,
        // "Atomic accesses to read-only memory"). The writer never shrinks the file; a
        // third party truncating it would raise SIGBUS (a crash, not a wrong value).
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<AtomicU64>(), self.words) }
    }
}
