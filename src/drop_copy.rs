//! The drop copy beside a running gateway, shared by `tickwarp gateway`, `tickwarp demo`
//! and `tickwarp run`: started after the gateway recovered its order journal (so the
//! copy checks its databases against what recovery kept), stopped after the gateway's
//! agent stopped and closed the journal (so a clean exit copies everything durable).
//!
//! What it must not do: run on an agent thread, or decide what the copy holds (the
//! `tickwarp-dropcopy` crate does).

use std::path::PathBuf;

use anyhow::Context;
use tickwarp_dropcopy::{DropCopy, DropCopySettings};
use tickwarp_wire::InstrumentTable;

/// Where a gateway's drop copy writes (neither: no drop copy).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Targets {
    /// SQLite database file.
    pub(crate) sqlite: Option<PathBuf>,
    /// PostgreSQL connection URL.
    pub(crate) postgres: Option<String>,
}

impl Targets {
    /// Whether any database is configured.
    pub(crate) fn any(&self) -> bool {
        self.sqlite.is_some() || self.postgres.is_some()
    }
}

/// Starts the drop copy of the order journal in `journal_dir` into `targets` (no thread
/// when none is configured); call it after the gateway opened (recovered) the journal.
pub(crate) fn start(
    journal_dir: PathBuf,
    instruments: InstrumentTable,
    targets: &Targets,
) -> anyhow::Result<DropCopy> {
    DropCopy::start(&DropCopySettings {
        journal_dir,
        instruments,
        sqlite: targets.sqlite.clone(),
        postgres: targets.postgres.clone(),
    })
    .context("starting the drop copy")
}

/// Stops the drop copy after the gateway stopped: it copies what is durable once more,
/// then ends. Prints, prefixed with `who`, why any database's copy had stopped, and
/// returns those reasons (empty: every database holds everything durable, or was down
/// and catches up at the next start).
pub(crate) fn stop(copy: DropCopy, who: &str) -> Vec<String> {
    copy.stop()
        .into_iter()
        .map(|e| {
            let text = format!("drop copy: {e}");
            eprintln!("{who}: {text}");
            text
        })
        .collect()
}
