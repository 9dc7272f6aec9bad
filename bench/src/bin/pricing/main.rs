//! How fast are the pricing kernels, and what does rayon buy? Black–Scholes batch
//! throughput (scalar loop vs rayon over fixed chunks) and Monte Carlo path-steps per
//! second (arithmetic Asian with control variate, one thread vs the rayon pool), each with
//! its single-thread baseline in the same run. Then the remote part ([`remote`]): one
//! request to a compute server against the same job computed locally, with a soft-iWARP
//! SEND round trip as the baseline, and 4 clients at once.
//!
//! Run: `cargo run --release -p tickwarp-bench --bin pricing` (`--quick` for a smoke run
//! with small sizes). `RAYON_NUM_THREADS` sets the pool size.
//!
//! Every batch or job is timed into an HdrHistogram after a warm-up; the tables show
//! p50/p99/p99.9/max per batch and the ratio lines compare with the baseline. The Monte
//! Carlo prices of both runs are printed: they are bit-identical (same seed), which is
//! the point of the counter-based generator.

use std::hint::black_box;

use anyhow::{Context, Result};
use clap::Parser;
use rayon::prelude::*;
use tickwarp_bench::report::{Unit, measure, print_ratio, print_table, warm_up};
use tickwarp_pricing::philox::PathStream;
use tickwarp_pricing::{Contract, OptionType, asian_arithmetic_mc, black_scholes};

/// Options of the pricing benchmark.
#[derive(Debug, Parser)]
struct Args {
    /// Small sizes and few rounds: checks that the benchmark runs, measures little.
    #[arg(long)]
    quick: bool,
    /// Worker threads of the compute server in the remote part.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
}

mod remote;

/// Contracts per rayon task in the batch benchmark.
const BATCH_CHUNK: usize = 1024;

/// A batch of random contracts (fixed seed).
fn batch(n: usize) -> Vec<Contract> {
    let mut s = PathStream::new(2024, 0);
    (0..n)
        .map(|_| {
            let spot = 50.0 + 100.0 * s.uniform();
            Contract {
                kind: if s.uniform() < 0.5 {
                    OptionType::Call
                } else {
                    OptionType::Put
                },
                spot,
                strike: spot * (0.7 + 0.6 * s.uniform()),
                rate: 0.05 * s.uniform(),
                div: 0.03 * s.uniform(),
                vol: 0.1 + 0.5 * s.uniform(),
                expiry: 0.05 + 2.0 * s.uniform(),
            }
        })
        .collect()
}

/// Sum of the prices of a batch, one after another.
fn scalar(contracts: &[Contract]) -> Result<f64> {
    contracts
        .iter()
        .try_fold(0.0, |acc, c| Ok(acc + black_scholes(c)?.price))
}

/// Sum of the prices of a batch, fixed chunks on the rayon pool.
fn parallel(contracts: &[Contract]) -> Result<f64> {
    let sums: Result<Vec<f64>> = contracts.par_chunks(BATCH_CHUNK).map(scalar).collect();
    Ok(sums?.into_iter().sum())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let (batch_size, batches, paths, jobs) = if args.quick {
        (4_096, 20, 8_192, 3)
    } else {
        (100_000, 200, 200_000, 20)
    };
    let threads = rayon::current_num_threads();
    println!(
        "pricing benchmark: {threads} rayon threads{}",
        if args.quick { " (--quick)" } else { "" }
    );

    let contracts = batch(batch_size);
    warm_up(batches / 4 + 1, |_| scalar(&contracts))?;
    let base = measure(format!("bs scalar x{batch_size}"), batches, |_, _| {
        scalar(&contracts)
    })?;
    warm_up(batches / 4 + 1, |_| parallel(&contracts))?;
    let par = measure(format!("bs rayon x{batch_size}"), batches, |_, _| {
        parallel(&contracts)
    })?;
    print_table(
        "Black–Scholes batch (per batch)",
        Unit::Micros,
        &[base.clone(), par.clone()],
    )?;
    print_ratio(&par, &base)?;
    for run in [&base, &par] {
        let p50 = run.percentiles().p50.max(1) as f64;
        println!(
            "{}: {:.3e} options/s at p50",
            run.name,
            batch_size as f64 * 1e9 / p50
        );
    }

    let c = Contract {
        kind: OptionType::Call,
        spot: 100.0,
        strike: 100.0,
        rate: 0.05,
        div: 0.0,
        vol: 0.2,
        expiry: 1.0,
    };
    let steps = 12;
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .context("one-thread pool")?;
    let job = || asian_arithmetic_mc(&c, steps, paths, 7).context("asian mc");
    let single_price = one.install(job)?.price;
    let pool_price = job()?.price;
    let mc_base = one.install(|| {
        measure(
            format!("asian mc 1 thread {paths}x{steps}"),
            jobs,
            |_, _| job(),
        )
    })?;
    let mc_par = measure(
        format!("asian mc {threads} threads {paths}x{steps}"),
        jobs,
        |_, _| job(),
    )?;
    print_table(
        "Asian Monte Carlo (per job)",
        Unit::Micros,
        &[mc_base.clone(), mc_par.clone()],
    )?;
    print_ratio(&mc_par, &mc_base)?;
    for run in [&mc_base, &mc_par] {
        let p50 = run.percentiles().p50.max(1) as f64;
        println!(
            "{}: {:.3e} path-steps/s at p50",
            run.name,
            (paths * steps) as f64 * 1e9 / p50
        );
    }
    println!(
        "same seed, 1 thread vs {threads}: {single_price} vs {pool_price} ({})",
        if single_price.to_bits() == pool_price.to_bits() {
            "bit-identical"
        } else {
            "DIFFERENT"
        }
    );
    black_box((single_price, pool_price));
    remote::run(args.quick, args.server_threads)
}
