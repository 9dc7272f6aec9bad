//! The `tickwarp` command line. CLI parsing and reporting only: every subcommand calls
//! into the library crates, which hold the logic.

mod capture_cmd;
mod replay_cmd;

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
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("tickwarp: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A path argument's display form for messages.
fn shown(path: &std::path::Path) -> String {
    PathBuf::from(path).display().to_string()
}
