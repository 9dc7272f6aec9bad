//! How much does one clock read cost? Compares `Clock::now` (`CLOCK_MONOTONIC`),
//! `Clock::unix_now` (`CLOCK_REALTIME`) and `std::time::Instant::now`.
//!
//! Run: `cargo run --release -p tickwarp-bench --bin clock_read`
//!
//! Each clock is read in a tight loop after a warm-up; the loop is timed with
//! `Clock::now` and the best of several rounds is reported as ns per read (the minimum
//! filters out preemption by other work on a shared host). The figures feed the
//! `tickwarp_runtime::clock` module doc.

use std::hint::black_box;

use tickwarp_runtime::Clock;

/// Reads per timed round.
const READS: u32 = 2_000_000;
/// Timed rounds per clock; the fastest is reported.
const ROUNDS: u32 = 7;
/// Untimed reads before the first round (page faults, vDSO data, frequency ramp-up).
const WARM_UP: u32 = 1_000_000;

/// Mean and best ns per call of `read`.
fn measure<T>(clock: &Clock, mut read: impl FnMut() -> T) -> (f64, f64) {
    for _ in 0..WARM_UP {
        black_box(read());
    }
    let mut best = f64::MAX;
    let mut total = 0.0;
    for _ in 0..ROUNDS {
        let start = clock.now();
        for _ in 0..READS {
            black_box(read());
        }
        let per_read = clock.now().saturating_sub(start).get() as f64 / f64::from(READS);
        best = best.min(per_read);
        total += per_read;
    }
    (total / f64::from(ROUNDS), best)
}

fn main() {
    let clock = Clock::new();
    println!("clock read cost, {ROUNDS} rounds x {READS} reads after {WARM_UP} warm-up reads");
    println!("{:<36} {:>10} {:>10}", "read", "mean ns", "best ns");
    let (mean, best) = measure(&clock, || clock.now());
    println!(
        "{:<36} {mean:>10.1} {best:>10.1}",
        "Clock::now (CLOCK_MONOTONIC)"
    );
    let (mean, best) = measure(&clock, || clock.unix_now());
    println!(
        "{:<36} {mean:>10.1} {best:>10.1}",
        "Clock::unix_now (CLOCK_REALTIME)"
    );
    // The baseline the runtime clock must beat or match; reading it here is the point.
    #[allow(clippy::disallowed_methods)]
    let (mean, best) = measure(&clock, std::time::Instant::now);
    println!(
        "{:<36} {mean:>10.1} {best:>10.1}",
        "std::time::Instant::now"
    );
}
