//! Compares candidate monotonic clock sources for `tickwarp_runtime::clock`: cost per read
//! and whether the value is `CLOCK_MONOTONIC` (so comparable across processes).
//!
//! Run: `cargo run --release -p tickwarp-runtime --example clock_sources`

use std::hint::black_box;
use std::time::Duration;

use tickwarp_runtime::clock::{Clock, monotonic_now};

/// Reads per measurement round.
const READS: u32 = 5_000_000;

/// Nanoseconds per call of `read`, best of three rounds, timed with the runtime clock.
fn ns_per_read<T>(mut read: impl FnMut() -> T) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = monotonic_now();
        for _ in 0..READS {
            black_box(read());
        }
        let elapsed = monotonic_now().saturating_sub(start);
        best = best.min(elapsed.get() as f64 / f64::from(READS));
    }
    best
}

/// Offset between quanta's scaled reading and `CLOCK_MONOTONIC`, in nanoseconds.
fn quanta_offset(q: &quanta::Clock, origin_q: quanta::Instant, origin_mono: u64) -> i128 {
    let mono = monotonic_now().get();
    #[allow(clippy::disallowed_methods)] // comparing clock sources is this example's purpose
    let now = q.now();
    let q_elapsed = now.duration_since(origin_q).as_nanos() as i128;
    q_elapsed - i128::from(mono - origin_mono)
}

fn main() {
    let clock = Clock::new();
    let q = quanta::Clock::new();
    println!(
        "clock_gettime(MONOTONIC) via Clock::now: {:6.1} ns/read",
        ns_per_read(|| clock.now())
    );
    println!(
        "clock_gettime(REALTIME) via Clock::unix_now: {:6.1} ns/read",
        ns_per_read(|| clock.unix_now())
    );
    #[allow(clippy::disallowed_methods)] // comparing clock sources is this example's purpose
    let quanta_ns = ns_per_read(|| q.now());
    println!("quanta::Clock::now: {quanta_ns:6.1} ns/read");
    println!(
        "quanta::Clock::raw (TSC, unscaled): {:6.1} ns/read",
        ns_per_read(|| q.raw())
    );
    #[allow(clippy::disallowed_methods)] // comparing clock sources is this example's purpose
    let std_ns = ns_per_read(std::time::Instant::now);
    println!("std::time::Instant::now: {std_ns:6.1} ns/read");

    // quanta scales the TSC with a per-process calibration anchored once; measure how far
    // it drifts from CLOCK_MONOTONIC, which another process would read.
    let origin_mono = monotonic_now().get();
    #[allow(clippy::disallowed_methods)] // comparing clock sources is this example's purpose
    let origin_q = q.now();
    for second in 1..=3 {
        std::thread::sleep(Duration::from_secs(1));
        println!(
            "quanta - CLOCK_MONOTONIC drift after {second} s: {:+} ns",
            quanta_offset(&q, origin_q, origin_mono)
        );
    }
}
