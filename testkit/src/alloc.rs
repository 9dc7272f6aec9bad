//! A global allocator that counts allocations per thread.
//!
//! Install it in a test binary with
//! `#[global_allocator] static A: CountingAllocator = CountingAllocator;`, then wrap the
//! code under test in [`count_allocations`]. Only the calling thread's allocations are
//! counted, so concurrent tests in the same binary do not disturb the figure.
//!
//! The counter is a const-initialised thread-local `Cell`, so counting itself never
//! allocates (and never recurses into the allocator). This module must not be used as
//! the allocator of a production binary: it adds a thread-local access to every
//! allocation.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Allocations (alloc, alloc_zeroed, realloc) made by this thread so far.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// A [`GlobalAlloc`] over [`System`] that counts allocations made by each thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountingAllocator;

/// Adds one to this thread's counter; a no-op while the thread-local is being torn down.
fn note_allocation() {
    // `try_with` fails only during thread teardown; an allocation made then is not one
    // a test can observe, so it is fine to leave it uncounted.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get().wrapping_add(1)));
}

// SAFETY: every method forwards to `System`, which upholds the `GlobalAlloc` contract;
// the only extra work is a thread-local counter update, which does not allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract (non-zero size),
        // which is exactly what `System.alloc` requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as `alloc`, forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `System`, with `layout`,
        // as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: `ptr`/`layout` came from `System` through this allocator and the caller
        // guarantees `new_size` is valid for `layout`'s alignment.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations made by the calling thread since it started (0 unless [`CountingAllocator`]
/// is the global allocator).
pub fn thread_allocations() -> u64 {
    ALLOCATIONS.try_with(Cell::get).unwrap_or(0)
}

/// Runs `f` on the calling thread and returns its result with the number of allocations
/// it made on this thread.
pub fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = thread_allocations();
    let result = f();
    let after = thread_allocations();
    (result, after.wrapping_sub(before))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    #[global_allocator]
    static COUNTING: CountingAllocator = CountingAllocator;

    #[test]
    fn vec_push_allocates() {
        let ((), allocations) = count_allocations(|| {
            let mut v: Vec<u64> = Vec::new();
            for i in 0..100 {
                v.push(black_box(i));
            }
            black_box(&v);
        });
        assert!(allocations >= 1, "pushing into an empty Vec must allocate");
    }

    #[test]
    fn zeroed_and_realloc_are_counted() {
        let ((), allocations) = count_allocations(|| {
            let mut v = black_box(vec![0u8; 64]);
            v.reserve(black_box(4096));
            black_box(&v);
        });
        assert!(
            allocations >= 2,
            "vec![0; n] and a growing reserve allocate: {allocations}"
        );
    }

    #[test]
    fn loop_over_preallocated_buffer_does_not_allocate() {
        let mut buffer = vec![0u64; 1024];
        let (sum, allocations) = count_allocations(|| {
            let mut sum = 0u64;
            for round in 0..100u64 {
                for (i, slot) in buffer.iter_mut().enumerate() {
                    *slot = black_box(round ^ i as u64);
                    sum = sum.wrapping_add(*slot);
                }
            }
            sum
        });
        black_box(sum);
        assert_eq!(allocations, 0);
    }

    #[test]
    fn other_threads_are_not_counted() {
        use std::sync::{Arc, Barrier};
        let started = Arc::new(Barrier::new(2));
        let finished = Arc::new(Barrier::new(2));
        let child = {
            let (started, finished) = (Arc::clone(&started), Arc::clone(&finished));
            std::thread::spawn(move || {
                started.wait();
                let (kept, allocations) = count_allocations(|| {
                    (0..1000).map(|i| black_box(vec![i; 4])).collect::<Vec<_>>()
                });
                black_box(kept);
                finished.wait();
                allocations
            })
        };
        // The child allocates between the two barriers, while this thread only waits.
        let ((), here) = count_allocations(|| {
            started.wait();
            finished.wait();
        });
        let there = child.join();
        assert_eq!(here, 0, "allocations of another thread were counted here");
        assert!(
            matches!(there, Ok(n) if n >= 1000),
            "child count: {there:?}"
        );
    }
}
