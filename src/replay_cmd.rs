//! `tickwarp replay`: recorded market data through the live strategy engine, against a
//! fill model, with a progress bar, a summary, and an optional diff of the orders
//! against a recorded order journal.

use std::path::PathBuf;
use std::thread;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use tickwarp_runtime::Nanos;
use tickwarp_runtime::clock::monotonic_now;
use tickwarp_strategies::agent::{MdSource, SourceError};
use tickwarp_strategies::builtin::{self, Builtin};
use tickwarp_strategies::replay::{
    AtTouch, FillModel, JournalMdSource, JournalOrderSink, Replay, ReplayConfig, Speed,
    TradeThrough, compare, read_commands,
};
use tickwarp_strategies::{Engine, EngineConfig, OrderCommand, OrderSink};
use tickwarp_wire::SeqNo;
use tickwarp_wire::journal::{FsyncPolicy, JournalConfig, JournalReader, JournalWriter};

/// Options of `tickwarp replay`.
#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// Journal directory of recorded market data (`tickwarp record`, or a feed's recorder).
    #[arg(long)]
    journal: PathBuf,
    // Help text from the strategy registry.
    #[arg(long = "strategy", required = true, help = strategy_help(), long_help = strategy_long_help())]
    strategies: Vec<String>,
    /// Pace: `max` (as fast as possible) or the recorded pace times a factor (`1x`, `10x`).
    #[arg(long, default_value = "max")]
    speed: Speed,
    /// How resting orders fill against the recorded market.
    #[arg(long, value_enum, default_value_t = Fill::TradeThrough)]
    fill: Fill,
    /// Write the replayed order stream to this journal directory (for a later --compare).
    #[arg(long)]
    orders_out: Option<PathBuf>,
    /// Compare the replayed orders with the order journal in this directory and report
    /// the first divergence (exit status 1 when they differ).
    #[arg(long)]
    compare: Option<PathBuf>,
}

/// Fill models selectable on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Fill {
    /// A resting order fills only when the market trades or quotes through its price.
    TradeThrough,
    /// A trade or quote at the order's price is enough.
    AtTouch,
}

/// Counts records for the progress bar while handing them on.
struct Counted<'a> {
    inner: JournalMdSource,
    bar: &'a ProgressBar,
    seen: u64,
}

impl MdSource for Counted<'_> {
    fn poll_md(&mut self) -> Result<Option<&[u8]>, SourceError> {
        self.seen += 1;
        if self.seen % 4096 == 0 {
            self.bar.set_position(self.seen);
        }
        self.inner.poll_md()
    }
}

/// `--strategy` help: the registry's names.
fn strategy_help() -> String {
    format!(
        "Strategy to run ({}) with its default settings; repeat the option to run several \
         side by side",
        builtin::KnownNames
    )
}

/// `--strategy` long help (`--help`): each registered strategy with its summary.
fn strategy_long_help() -> String {
    let mut text = strategy_help();
    text.push(':');
    for entry in builtin::BUILTIN {
        text.push_str(&format!("\n  {}: {}", entry.name, entry.summary));
    }
    text
}

/// Runs the replay and prints its summary.
pub(crate) fn run(args: &ReplayArgs) -> Result<bool> {
    let journal = crate::shown(&args.journal);
    let total = count_records(&args.journal)?;
    let mut engine = Engine::new(EngineConfig::default())?;
    for name in &args.strategies {
        let strategy: Builtin =
            builtin::default_by_name(name).with_context(|| format!("--strategy {name}"))?;
        engine.add(strategy)?;
    }
    let (summary, orders) = match args.fill {
        Fill::TradeThrough => replay(args, engine, TradeThrough::new(), total)?,
        Fill::AtTouch => replay(args, engine, AtTouch::new(), total)?,
    };
    println!("journal {journal}: {total} records");
    print!("{summary}");

    if let Some(dir) = &args.orders_out {
        let (writer, _) = JournalWriter::open(
            dir,
            JournalConfig {
                fsync: FsyncPolicy::Never,
                ..JournalConfig::default()
            },
        )
        .with_context(|| format!("opening order journal {}", crate::shown(dir)))?;
        let mut sink = JournalOrderSink::new(writer);
        for order in &orders {
            sink.send(order)?;
        }
        let mut writer = sink.finish()?;
        writer.sync()?;
        println!("wrote {} orders to {}", orders.len(), crate::shown(dir));
    }
    if let Some(dir) = &args.compare {
        let recorded = read_commands(dir)
            .with_context(|| format!("reading recorded orders in {}", crate::shown(dir)))?;
        match compare(&recorded, &orders) {
            None => println!(
                "orders identical to the {} recorded in {}",
                recorded.len(),
                crate::shown(dir)
            ),
            Some(divergence) => {
                println!("{divergence}");
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Replays the journal through `engine` against `fill`, pacing as asked.
fn replay<F: FillModel>(
    args: &ReplayArgs,
    engine: Engine<Builtin>,
    fill: F,
    total: u64,
) -> Result<(
    tickwarp_strategies::replay::ReplaySummary,
    Vec<OrderCommand>,
)> {
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records {per_sec} eta {eta}")
            .context("progress bar template")?,
    );
    let mut source = Counted {
        inner: JournalMdSource::open(&args.journal)
            .with_context(|| format!("opening {}", crate::shown(&args.journal)))?,
        bar: &bar,
        seen: 0,
    };
    let mut replay = Replay::new(
        engine,
        fill,
        ReplayConfig {
            speed: args.speed,
            ..ReplayConfig::default()
        },
    )?;
    let mut orders: Vec<OrderCommand> = Vec::new();
    let start = monotonic_now();
    let mut wait = |due: Nanos| {
        let until = start.saturating_add(due.as_duration());
        let now = monotonic_now();
        if until > now {
            thread::sleep(until.saturating_sub(now).as_duration());
        }
    };
    replay.run(&mut source, &mut orders, &mut wait)?;
    bar.finish_and_clear();
    let mut summary = replay.summary();
    summary.stats.other_records += source.inner.skipped();
    Ok((summary, orders))
}

/// Number of records in a journal (for the progress bar).
fn count_records(dir: &std::path::Path) -> Result<u64> {
    let mut reader = JournalReader::open(dir, SeqNo(1))
        .with_context(|| format!("opening journal {}", crate::shown(dir)))?;
    let mut n = 0;
    while reader.next()?.is_some() {
        n += 1;
    }
    if n == 0 {
        bail!("journal {} holds no records", crate::shown(dir));
    }
    Ok(n)
}
