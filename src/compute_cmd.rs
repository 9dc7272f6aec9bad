//! `tickwarp compute price (--local | --server ADDR:PORT) ...`: prices one option, on this
//! machine or on a compute server, and prints the price (and the Greeks or the standard
//! error the model gives), as text or as one JSON object with `--json`. Both ways build
//! the same job and price it through `tickwarp_compute::price`, so the same seed gives
//! the bit-identical output.
//!
//! `tickwarp compute serve --listen ADDR:PORT ...`: runs the compute server
//! (`tickwarp_compute::server`) until SIGINT or SIGTERM.
//!
//! Parsing and printing only. Exit status of `price`: 0 priced, 2 bad input (the message
//! names the flag), 1 a numerical method did not converge, the server could not be
//! reached or it refused the job (busy, expired). Never prints NaN or infinity.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};
use tickwarp_compute::server::{ServerSettings, load_credentials};
use tickwarp_compute::{ComputeClient, ComputeServer, Job, JobResult, Status};
use tickwarp_pricing::{Contract, HestonParams, Lattice, OptionType, PricingError};
use tickwarp_rdma::verbs::Backend;
use tickwarp_wire::AccountId;

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
    /// Run the compute server: accept RDMA connections and price the jobs clients send.
    Serve(ServeArgs),
}

/// RDMA backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    /// A verbs device when one serves the address, else soft iWARP.
    Auto,
    /// The userspace soft-iWARP stack.
    Soft,
    /// A hardware RNIC (build feature `hw`).
    Hardware,
}

impl BackendArg {
    fn backend(self) -> Backend {
        match self {
            BackendArg::Auto => Backend::Auto,
            BackendArg::Soft => Backend::Soft,
            BackendArg::Hardware => Backend::Hardware,
        }
    }
}

/// Options of `tickwarp compute serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (ADDR:PORT; port 0 picks one, printed at start).
    #[arg(long)]
    listen: SocketAddr,
    /// Worker threads (jobs computed at once; Monte Carlo parallelizes over them).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Clients connected at once at most.
    #[arg(long, default_value_t = 64)]
    max_clients: usize,
    /// The accounts clients authenticate as: a TOML file of `[[tokens]]` entries with
    /// `account` and `token_hash` (argon2id, from `tickwarp passwd`), as the gateway's
    /// `[[rdma.tokens]]`.
    #[arg(long)]
    credentials: PathBuf,
    /// RDMA backend.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// Jobs queued per client at most (beyond: busy).
    #[arg(long, default_value_t = 1024)]
    queue_per_client: usize,
    /// Largest job accepted in path-steps (tree nodes for american; beyond: invalid).
    #[arg(long, default_value_t = 10_000_000_000)]
    max_job_cost: u64,
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
#[command(group(ArgGroup::new("where").required(true).args(["local", "server"])))]
pub(crate) struct PriceArgs {
    /// Compute on this machine.
    #[arg(long)]
    local: bool,
    /// Compute on the compute server at ADDR:PORT (needs --account and --token-file).
    #[arg(long, value_name = "ADDR:PORT")]
    server: Option<SocketAddr>,
    /// The account to authenticate as on the server.
    #[arg(long, requires = "server")]
    account: Option<u32>,
    /// A file holding the account's token (one trailing newline is dropped).
    #[arg(long, requires = "server")]
    token_file: Option<PathBuf>,
    /// RDMA backend for --server.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto, requires = "server")]
    backend: BackendArg,
    /// Give up on the server's answer after this many milliseconds.
    #[arg(long, default_value_t = 60_000, requires = "server")]
    timeout_ms: u64,
    /// The job must start computing within this many milliseconds of reaching the
    /// server, else it expires (default: no deadline).
    #[arg(long, requires = "server")]
    deadline_ms: Option<u64>,
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

/// How often `serve` checks for a signal or a stopped server.
const SUPERVISE_PERIOD: Duration = Duration::from_millis(50);
/// Longest token file read.
const MAX_TOKEN_FILE: u64 = 4096;

/// Runs the subcommand; returns the process exit status.
pub(crate) fn run(args: &ComputeArgs) -> ExitCode {
    let p = match &args.command {
        ComputeCommand::Price(p) => p,
        ComputeCommand::Serve(s) => {
            return match serve(s) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tickwarp: {}", crate::causes(&e));
                    ExitCode::FAILURE
                }
            };
        }
    };
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

/// Runs the compute server until SIGINT or SIGTERM.
fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let tokens = load_credentials(&args.credentials)?;
    let mut settings = ServerSettings::new(args.listen, args.threads, tokens);
    settings.backend = args.backend.backend();
    settings.max_clients = args.max_clients;
    settings.queue_per_client = args.queue_per_client;
    settings.queue_total = args.queue_per_client.saturating_mul(16);
    settings.max_job_cost = args.max_job_cost;
    // The budget follows the cap: the server commits what it decided, never more.
    settings.memory_budget_bytes = args.max_clients.saturating_mul(settings.connection_bytes());
    // Handlers before the address is printed: whoever waits for it may signal at once.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let server = ComputeServer::bind(settings).context("starting the compute server")?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "tickwarp compute: listening on {} ({} threads, at most {} clients)",
        server.local_addr(),
        args.threads,
        args.max_clients
    )?;
    out.flush()?;
    drop(out);
    while server.is_running() && !stop.load(Ordering::Acquire) {
        std::thread::sleep(SUPERVISE_PERIOD);
    }
    let stats = server.stats();
    let stopped_itself = !server.is_running();
    drop(server);
    eprintln!(
        "tickwarp compute: {} jobs computed, {} busy, {} expired, {} invalid, {} cancelled",
        stats.computed, stats.busy, stats.expired, stats.invalid, stats.cancelled
    );
    anyhow::ensure!(
        !stopped_itself,
        "a compute server thread stopped unexpectedly"
    );
    Ok(())
}

/// Validates the flags for the model, prices locally or remotely, and returns the
/// fields to print.
fn price(p: &PriceArgs) -> Result<Map<String, Value>, Failure> {
    let job = job(p)?;
    let result = match p.server {
        None => tickwarp_compute::price(&job).map_err(failure)?,
        Some(addr) => remote(p, addr, &job)?,
    };
    fields(&job, &result)
}

/// Builds the job the flags describe (defaults resolved), with notes for flags the model
/// does not use.
fn job(p: &PriceArgs) -> Result<Job, Failure> {
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
    let unused = |flag: &str, given: bool| {
        if given {
            eprintln!("tickwarp: note: --{flag} is not used by --model {model_name}; ignored");
        }
    };
    let heston_given = [p.kappa, p.theta, p.xi, p.rho, p.v0];
    if p.model != Model::Heston {
        for (flag, v) in ["kappa", "theta", "xi", "rho", "v0"]
            .iter()
            .zip(heston_given)
        {
            unused(flag, v.is_some());
        }
    }
    if p.model != Model::AsianMc {
        unused("paths", p.paths.is_some());
        unused("seed", p.seed.is_some());
    }
    if matches!(p.model, Model::BlackScholes | Model::Heston) {
        unused("steps", p.steps.is_some());
    }
    if p.model != Model::American {
        unused("tree", p.tree.is_some());
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
    let heston = if p.model == Model::Heston {
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
        h
    } else {
        // Unused by the other models; zeros on the wire.
        HestonParams {
            kappa: 0.0,
            theta: 0.0,
            xi: 0.0,
            rho: 0.0,
            v0: 0.0,
        }
    };
    let (model, steps) = match p.model {
        Model::BlackScholes => (tickwarp_compute::Model::BlackScholes, 0),
        Model::American => (
            tickwarp_compute::Model::American,
            p.steps.unwrap_or(DEFAULT_TREE_STEPS),
        ),
        Model::AsianMc => (
            tickwarp_compute::Model::AsianMc,
            p.steps.unwrap_or(DEFAULT_ASIAN_STEPS),
        ),
        Model::Heston => (tickwarp_compute::Model::Heston, 0),
    };
    let is_mc = p.model == Model::AsianMc;
    Ok(Job {
        id: 1,
        model,
        contract: Contract {
            kind,
            spot: p.spot,
            strike: p.strike,
            rate: p.rate,
            div: p.div,
            vol,
            expiry: p.expiry,
        },
        tree: match p.tree.unwrap_or(Tree::Crr) {
            Tree::Crr => Lattice::CoxRossRubinstein,
            Tree::LeisenReimer => Lattice::LeisenReimer,
        },
        steps,
        paths: if is_mc {
            p.paths.unwrap_or(DEFAULT_PATHS)
        } else {
            0
        },
        seed: if is_mc {
            p.seed.unwrap_or(DEFAULT_SEED)
        } else {
            0
        },
        heston,
        deadline_ns: p
            .deadline_ms
            .map_or(0, |ms| ms.saturating_mul(1_000_000).max(1)),
    })
}

/// Prices `job` on the server at `addr`.
fn remote(p: &PriceArgs, addr: SocketAddr, job: &Job) -> Result<JobResult, Failure> {
    let (Some(account), Some(token_file)) = (p.account, p.token_file.as_ref()) else {
        return Err(Failure::Usage(
            "--server needs --account and --token-file".into(),
        ));
    };
    let token = read_token(token_file)?;
    let mut client = ComputeClient::connect(p.backend.backend(), addr, AccountId(account), &token)
        .map_err(|e| Failure::Compute(format!("compute server {addr}: {e}")))?;
    let r = client
        .call(job, Duration::from_millis(p.timeout_ms))
        .map_err(|e| Failure::Compute(format!("compute server {addr}: {e}")))?;
    match r.status {
        Status::Done => Ok(r),
        Status::Invalid => {
            let flag = r.field.map_or("unknown", |f| f.name());
            Err(Failure::Usage(format!(
                "invalid --{flag}: refused by the compute server (got {})",
                r.value
            )))
        }
        Status::Busy => Err(Failure::Compute(format!(
            "compute server {addr} is busy (its queue is full); retry later"
        ))),
        Status::Expired => Err(Failure::Compute(format!(
            "the job's deadline passed before the compute server {addr} could start it"
        ))),
        Status::Cancelled => Err(Failure::Compute(format!(
            "the compute server {addr} cancelled the job"
        ))),
        Status::Failed => Err(Failure::Compute(format!(
            "the computation failed on the compute server {addr} (no convergence or a non-finite result)"
        ))),
    }
}

/// Reads a token file (bounded), dropping one trailing newline.
fn read_token(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    read_token_file(path)
        .map_err(|e| Failure::Usage(format!("--token-file {}: {e}", path.display())))
}

/// The token in the file at `path` (at most 4 KiB read; one trailing newline dropped).
pub(crate) fn read_token_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut raw = Vec::new();
    std::fs::File::open(path).and_then(|f| f.take(MAX_TOKEN_FILE).read_to_end(&mut raw))?;
    if raw.last() == Some(&b'\n') {
        raw.pop();
        if raw.last() == Some(&b'\r') {
            raw.pop();
        }
    }
    Ok(raw)
}

/// The fields to print for a priced job.
fn fields(job: &Job, r: &JobResult) -> Result<Map<String, Value>, Failure> {
    let mut out = Map::new();
    out.insert("model".into(), json!(job.model.name()));
    out.insert(
        "type".into(),
        json!(if job.contract.kind == OptionType::Call {
            "call"
        } else {
            "put"
        }),
    );
    out.insert("price".into(), finite("price", r.price)?);
    for (key, v) in [
        ("stderr", r.stderr),
        ("delta", r.delta),
        ("gamma", r.gamma),
        ("vega", r.vega),
        ("theta", r.theta),
        ("rho", r.rho),
    ] {
        if let Some(v) = v {
            out.insert(key.into(), finite(key, v)?);
        }
    }
    if let Some(steps) = r.steps {
        out.insert("steps".into(), json!(steps));
    }
    match job.model {
        tickwarp_compute::Model::American => {
            let name = match job.tree {
                Lattice::CoxRossRubinstein => "crr",
                Lattice::LeisenReimer => "leisen-reimer",
            };
            out.insert("tree".into(), json!(name));
        }
        tickwarp_compute::Model::AsianMc => {
            out.insert("paths".into(), json!(job.paths));
            out.insert("seed".into(), json!(job.seed));
        }
        tickwarp_compute::Model::BlackScholes | tickwarp_compute::Model::Heston => {}
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
