//! `tickwarp compute price --local ...`: prices one option with the `tickwarp-pricing`
//! kernels on this machine and prints the price (and the Greeks or the standard error the
//! model gives), as text or as one JSON object with `--json`.
//!
//! Parsing and printing only; the computation is `tickwarp_pricing`. There is no
//! `--server`: the compute server is not built yet, so `--local` is required and says so.
//! Exit status: 0 priced, 2 bad input (the message names the flag), 1 a numerical method
//! did not converge. Never prints NaN or infinity.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};
use tickwarp_pricing::{
    Contract, Exercise, HestonParams, Lattice, OptionType, PricingError, asian_arithmetic_mc,
    binomial, black_scholes, heston_price,
};

/// Options of `tickwarp compute`.
#[derive(Debug, Args)]
pub(crate) struct ComputeArgs {
    #[command(subcommand)]
    command: ComputeCommand,
}

#[derive(Debug, Subcommand)]
enum ComputeCommand {
    /// Price one option. Rates, dividend yield and volatility are continuously
    /// compounded fractions per year (0.05 = 5 %), expiry in years. Greeks: vega per 1.00
    /// vol, rho per 1.00 rate, theta per year.
    Price(PriceArgs),
}

/// Pricing model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Model {
    /// European, Black–Scholes–Merton closed form with Greeks.
    BlackScholes,
    /// American, binomial tree (--tree crr|leisen-reimer, default crr; --steps, default
    /// 500).
    American,
    /// Arithmetic-average Asian, Monte Carlo with geometric control variate (--steps
    /// averaging dates, default 12; --paths, default 100000; --seed).
    AsianMc,
    /// European, Heston semi-closed form (--kappa --theta --xi --rho --v0; no --vol).
    Heston,
}

/// Binomial lattice for `american`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Tree {
    /// Cox–Ross–Rubinstein.
    Crr,
    /// Leisen–Reimer (an even --steps becomes the next odd count).
    LeisenReimer,
}

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// The right to buy.
    Call,
    /// The right to sell.
    Put,
}

/// Options of `tickwarp compute price`.
#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub(crate) struct PriceArgs {
    /// Compute on this machine (required: the compute server is not available yet).
    #[arg(long, required = true)]
    local: bool,
    /// Pricing model.
    #[arg(long, value_enum)]
    model: Model,
    /// Call or put.
    #[arg(long = "type", value_enum)]
    kind: Kind,
    /// Spot price of the underlying.
    #[arg(long)]
    spot: f64,
    /// Strike.
    #[arg(long)]
    strike: f64,
    /// Risk-free rate (continuously compounded, per year).
    #[arg(long)]
    rate: f64,
    /// Volatility per year (every model but heston).
    #[arg(long)]
    vol: Option<f64>,
    /// Time to expiry in years.
    #[arg(long)]
    expiry: f64,
    /// Continuous dividend yield per year.
    #[arg(long, default_value_t = 0.0)]
    div: f64,
    /// Binomial lattice (american).
    #[arg(long, value_enum)]
    tree: Option<Tree>,
    /// Tree steps (american) or averaging dates (asian-mc).
    #[arg(long)]
    steps: Option<u64>,
    /// Monte Carlo paths (asian-mc).
    #[arg(long)]
    paths: Option<u64>,
    /// Monte Carlo seed (asian-mc): the same seed gives the bit-identical price.
    #[arg(long)]
    seed: Option<u64>,
    /// Heston mean-reversion speed of the variance.
    #[arg(long)]
    kappa: Option<f64>,
    /// Heston long-run variance.
    #[arg(long)]
    theta: Option<f64>,
    /// Heston volatility of variance.
    #[arg(long)]
    xi: Option<f64>,
    /// Heston correlation of asset and variance.
    #[arg(long)]
    rho: Option<f64>,
    /// Heston initial variance.
    #[arg(long)]
    v0: Option<f64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Default tree steps for `american`.
const DEFAULT_TREE_STEPS: u64 = 500;
/// Default averaging dates for `asian-mc`.
const DEFAULT_ASIAN_STEPS: u64 = 12;
/// Default paths for `asian-mc`.
const DEFAULT_PATHS: u64 = 100_000;
/// Default seed for `asian-mc`.
const DEFAULT_SEED: u64 = 1;

/// The order of the lines of the text output (JSON objects are keyed, so unordered).
const TEXT_ORDER: [&str; 12] = [
    "model", "type", "price", "stderr", "delta", "gamma", "vega", "theta", "rho", "steps", "paths",
    "seed",
];

/// Why a price was not printed.
enum Failure {
    /// Bad input, naming the flag (exit 2).
    Usage(String),
    /// The computation failed (exit 1).
    Compute(String),
}

/// Runs the subcommand; returns the process exit status.
pub(crate) fn run(args: &ComputeArgs) -> ExitCode {
    let ComputeCommand::Price(p) = &args.command;
    match price(p) {
        Ok(fields) => {
            if p.json {
                println!("{}", Value::Object(fields));
            } else {
                for key in TEXT_ORDER {
                    if let Some(v) = fields.get(key) {
                        println!(
                            "{key:<8} {}",
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                        );
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("tickwarp: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Compute(msg)) => {
            eprintln!("tickwarp: {msg}");
            ExitCode::from(1)
        }
    }
}

/// Validates the flags for the model, prices, and returns the fields to print in order.
fn price(p: &PriceArgs) -> Result<Map<String, Value>, Failure> {
    let kind = match p.kind {
        Kind::Call => OptionType::Call,
        Kind::Put => OptionType::Put,
    };
    let model_name = p
        .model
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    // A flag the model does not use is not an error (scripts pass one parameter set to
    // every model), but it is never silently dropped: a note says it is ignored.
    let unused = |flag: &str, given: bool| -> Result<(), Failure> {
        if given {
            eprintln!("tickwarp: note: --{flag} is not used by --model {model_name}; ignored");
        }
        Ok(())
    };
    let heston_given = [p.kappa, p.theta, p.xi, p.rho, p.v0];
    if p.model != Model::Heston {
        for (flag, v) in ["kappa", "theta", "xi", "rho", "v0"]
            .iter()
            .zip(heston_given)
        {
            unused(flag, v.is_some())?;
        }
    }
    if p.model != Model::AsianMc {
        unused("paths", p.paths.is_some())?;
        unused("seed", p.seed.is_some())?;
    }
    if matches!(p.model, Model::BlackScholes | Model::Heston) {
        unused("steps", p.steps.is_some())?;
    }
    if p.model != Model::American {
        unused("tree", p.tree.is_some())?;
    }
    let vol = match (p.model, p.vol) {
        (Model::Heston, given) => {
            if given.is_some() {
                eprintln!(
                    "tickwarp: note: --vol is not used by --model heston (its volatility \
                     comes from --v0 and --theta); ignored"
                );
            }
            0.2 // unused by the Heston kernel; any valid value
        }
        (_, Some(v)) => v,
        (_, None) => {
            return Err(Failure::Usage(format!(
                "--vol is required by --model {model_name}"
            )));
        }
    };
    let c = Contract {
        kind,
        spot: p.spot,
        strike: p.strike,
        rate: p.rate,
        div: p.div,
        vol,
        expiry: p.expiry,
    };
    let mut out = Map::new();
    out.insert("model".into(), json!(model_name));
    out.insert(
        "type".into(),
        json!(if kind == OptionType::Call {
            "call"
        } else {
            "put"
        }),
    );
    match p.model {
        Model::BlackScholes => {
            let r = black_scholes(&c).map_err(failure)?;
            out.insert("price".into(), finite("price", r.price)?);
            out.insert("delta".into(), finite("delta", r.greeks.delta)?);
            out.insert("gamma".into(), finite("gamma", r.greeks.gamma)?);
            out.insert("vega".into(), finite("vega", r.greeks.vega)?);
            out.insert("theta".into(), finite("theta", r.greeks.theta)?);
            out.insert("rho".into(), finite("rho", r.greeks.rho)?);
        }
        Model::American => {
            let steps = p.steps.unwrap_or(DEFAULT_TREE_STEPS);
            let (lattice, name) = match p.tree.unwrap_or(Tree::Crr) {
                Tree::Crr => (Lattice::CoxRossRubinstein, "crr"),
                Tree::LeisenReimer => (Lattice::LeisenReimer, "leisen-reimer"),
            };
            let r = binomial(&c, lattice, Exercise::American, steps).map_err(failure)?;
            out.insert("price".into(), finite("price", r.price)?);
            out.insert("delta".into(), finite("delta", r.delta)?);
            out.insert("gamma".into(), finite("gamma", r.gamma)?);
            out.insert("theta".into(), finite("theta", r.theta)?);
            out.insert("steps".into(), json!(r.steps));
            out.insert("tree".into(), json!(name));
        }
        Model::AsianMc => {
            let steps = p.steps.unwrap_or(DEFAULT_ASIAN_STEPS);
            let paths = p.paths.unwrap_or(DEFAULT_PATHS);
            let seed = p.seed.unwrap_or(DEFAULT_SEED);
            let r = asian_arithmetic_mc(&c, steps, paths, seed).map_err(failure)?;
            out.insert("price".into(), finite("price", r.price)?);
            out.insert("stderr".into(), finite("stderr", r.std_error)?);
            out.insert("paths".into(), json!(paths));
            out.insert("steps".into(), json!(steps));
            out.insert("seed".into(), json!(seed));
        }
        Model::Heston => {
            let mut missing = Vec::new();
            let mut get = |flag: &'static str, v: Option<f64>| {
                v.unwrap_or_else(|| {
                    missing.push(format!("--{flag}"));
                    0.0
                })
            };
            let h = HestonParams {
                kappa: get("kappa", p.kappa),
                theta: get("theta", p.theta),
                xi: get("xi", p.xi),
                rho: get("rho", p.rho),
                v0: get("v0", p.v0),
            };
            if !missing.is_empty() {
                return Err(Failure::Usage(format!(
                    "--model heston needs {} (missing)",
                    missing.join(", ")
                )));
            }
            let price = heston_price(&c, &h).map_err(failure)?;
            out.insert("price".into(), finite("price", price)?);
        }
    }
    Ok(out)
}

/// A JSON number, or a computation failure for NaN or infinity (never printed).
fn finite(what: &str, x: f64) -> Result<Value, Failure> {
    if x.is_finite() {
        Ok(json!(x))
    } else {
        Err(Failure::Compute(format!(
            "the {what} came out as {x}; nothing printed"
        )))
    }
}

/// Maps a pricing error to a message naming the flag.
fn failure(e: PricingError) -> Failure {
    match e {
        PricingError::InvalidInput {
            field,
            value,
            reason,
        } => Failure::Usage(format!("invalid --{field}: {reason} (got {value})")),
        PricingError::OutOfRange {
            field,
            value,
            min,
            max,
        } => Failure::Usage(format!(
            "invalid --{field}: must be between {min} and {max} (got {value})"
        )),
        PricingError::TreeProbability { probability } => Failure::Usage(format!(
            "invalid --steps: the tree's up probability would be {probability}, outside (0, 1); use more steps"
        )),
        e @ (PricingError::PriceOutsideBounds { .. }
        | PricingError::VolatilityTooHigh { .. }
        | PricingError::NoConvergence { .. }) => Failure::Compute(e.to_string()),
    }
}
