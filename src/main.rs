//! The `tickwarp` command line. CLI parsing and reporting only: every subcommand calls
//! into the library crates, which hold the logic.

mod capture_cmd;
mod compute_cmd;
mod config;
mod demo;
mod devices_cmd;
mod doctor;
mod drop_copy;
mod fix_client;
mod gateway_cmd;
mod journal_cmd;
mod passwd_cmd;
mod probe;
mod replay_cmd;
mod rping_cmd;
mod run_cmd;
mod stat_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// tickwarp: a low-latency trading gateway over RDMA (hardware RNIC or userspace
/// soft iWARP).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a soft-iWARP session over loopback (SEND, RDMA WRITE, RDMA READ) and write
    /// every byte of it, MPA handshake included, to a pcap that Wireshark/tshark decode.
    Capture(capture_cmd::CaptureArgs),
    /// Replay a recorded market-data journal through strategies (the same engine that
    /// runs live) against a fill model; optionally diff the orders against a recording.
    Replay(replay_cmd::ReplayArgs),
    /// Run the order gateway (FIX acceptor, RDMA order entry, risk, write-ahead order
    /// journal, venue simulator) from a configuration file until SIGINT/SIGTERM.
    Gateway(gateway_cmd::GatewayArgs),
    /// Run the whole pipeline in one process (venue simulator, feed, strategies,
    /// gateway) over soft iWARP on loopback, with live progress and a tick-to-trade
    /// summary.
    Demo(demo::DemoArgs),
    /// Hash a FIX session password (read from stdin; prompted without echo on a
    /// terminal) into the argon2id PHC string for a session's `password_hash`.
    Passwd(passwd_cmd::PasswdArgs),
    /// Start one node of a topology file (`--check` only validates the file).
    Run(run_cmd::RunArgs),
    /// Check this host for low-latency RDMA work (devices, memlock, isolated cores,
    /// governor, clock source, NIC IRQ affinity, transparent huge pages).
    Doctor(doctor::DoctorArgs),
    /// Ping over RDMA with rdma-core's `rping` protocol, as client or server; talks to
    /// the real `rping` on kernel siw or an RNIC.
    Rping(rping_cmd::RpingArgs),
    /// List the verbs devices this build can use and the soft-iWARP stack.
    Devices(devices_cmd::DevicesArgs),
    /// A terminal FIX 4.4 client: log on to a gateway and send orders, cancels,
    /// replaces, status and position requests from stdin or the arguments.
    FixClient(fix_client::FixClientArgs),
    /// Check (`verify`) or explicitly truncate (`repair`) a journal directory.
    Journal(journal_cmd::JournalArgs),
    /// Price options locally or on a compute server (`price`), or run one (`serve`).
    Compute(compute_cmd::ComputeArgs),
    /// Diagnose an iWARP connection layer by layer (route, TCP, MPA, negotiation, RDMAP
    /// round trip) and say which layer fails and why: the firewall question.
    Probe(probe::ProbeArgs),
    /// Print a process's counters live from its counters file (like AeronStat), or once
    /// as JSON.
    Stat(stat_cmd::StatArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Capture(args) => capture_cmd::run(&args).map(|()| true),
        Command::Replay(args) => replay_cmd::run(&args),
        Command::Gateway(args) => gateway_cmd::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Passwd(args) => passwd_cmd::run(&args),
        Command::Run(args) => run_cmd::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Rping(args) => rping_cmd::run(&args).map(|()| true),
        Command::Devices(args) => devices_cmd::run(&args).map(|()| true),
        Command::FixClient(args) => fix_client::run(&args),
        Command::Journal(args) => return journal_cmd::run(&args),
        Command::Compute(args) => return compute_cmd::run(&args),
        Command::Probe(args) => return probe::run(&args),
        Command::Stat(args) => stat_cmd::run(&args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("tickwarp: {}", causes(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes, each stated once. Error types that print their source in
/// their own message would otherwise repeat it (`{:#}` prints every layer): a cause whose
/// text the message already contains is left out.
pub(crate) fn causes(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// A path argument's display form for messages.
fn shown(path: &std::path::Path) -> String {
    PathBuf::from(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::causes;

    /// An error that prints its source in its own message, as many `thiserror` types do.
    #[derive(Debug, thiserror::Error)]
    #[error("create directory /x: {source}")]
    struct Create {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn each_cause_is_stated_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::new(Create { source: io }).context("starting the gateway");
        assert_eq!(
            causes(&e),
            "starting the gateway: create directory /x: no such file"
        );
    }

    #[test]
    fn causes_not_in_the_message_are_kept() {
        let e = anyhow::anyhow!("inner").context("middle").context("outer");
        assert_eq!(causes(&e), "outer: middle: inner");
    }
}
