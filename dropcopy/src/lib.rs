//! The drop copy: every execution and order state change of the gateway's order journal,
//! in journal order, exactly once, into SQLite and/or PostgreSQL, for the back office.
//!
//! One thread per database ([`DropCopy::start`]) tails the order journal
//! (`journal.dir/orders`) with a [`JournalReader`] — it reads the files, the gateway thread
//! does nothing for it — turns records into rows ([`rows`]) and writes them in batches,
//! one transaction each (at most one every [`COMMIT_INTERVAL`] unless it is catching up),
//! together with the `drop_copy_position` row (the last journal
//! seq copied). A crash of either side therefore leaves rows and position consistent, and
//! the next start continues after the stored position: exactly once.
//!
//! Only durable records are copied: the tailer stops at the journal's durable boundary
//! ([`tickwarp_wire::journal::durable_seq`], the last seq the writer synced), so the
//! database never holds an execution a power loss could take from the journal. Under
//! `fsync = "never"` the journal is durable only when it rolls a segment, closes, or is
//! opened again, and the drop copy follows at those points.
//!
//! A database that is down, refuses connections, is locked or unwritable is retried with
//! backoff (WARN, at most one every [`WARN_EVERY`]); the copy catches up from the stored
//! position. A database whose position is ahead of the journal, or whose last copied
//! record is not the journal's record at that seq (another journal), stops the drop copy
//! with an ERROR naming both; nothing is ever deleted.
//!
//! What this crate must not do: write the journal, run on or block the gateway thread,
//! or copy a record past the durable boundary.

pub mod postgres;
pub mod rows;
pub mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tickwarp_runtime::clock;
use tickwarp_wire::journal::{JournalError, JournalReader, durable_seq};
use tickwarp_wire::{InstrumentTable, Nanos, SeqNo};

use rows::{Batch, DecodeError, OrderRow, Projector};

/// Schema version the tables are created with (stored in `drop_copy_position`).
pub const SCHEMA_VERSION: i64 = 1;
/// Most journal records per transaction.
pub const MAX_BATCH: usize = 4096;
/// Shortest wait before reconnecting to a database that failed.
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait before reconnecting.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Nap when the journal has nothing new that is durable.
pub const IDLE: Duration = Duration::from_millis(5);
/// Least time between two transactions that are not full batches. Each commit syncs the
/// database (SQLite `synchronous = FULL`, PostgreSQL's WAL flush), often on the journal's
/// own disk: committing every few orders put one database sync beside nearly every
/// journal sync and cost the gateway's `every_record` p50 about 1.24× in
/// `fix_order_path --observed --quick`; at most 20 commits a second leave the order path
/// alone, and the copy lags the journal by at most this plus [`IDLE`].
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(50);
/// At most one WARN per database outage this often.
pub const WARN_EVERY: Duration = Duration::from_secs(30);

/// Why the drop copy stopped (it never stops for a database outage).
#[derive(Debug, thiserror::Error)]
pub enum DropCopyError {
    /// The database's position is ahead of the journal.
    #[error(
        "{db}: the database holds journal records through seq {position}, but the order journal \
         in {journal} is durable only through seq {durable}: it was filled from another journal, \
         or this journal lost records; the drop copy stops and deletes nothing"
    )]
    Ahead {
        /// Which database.
        db: String,
        /// Its stored position.
        position: u64,
        /// The journal directory.
        journal: PathBuf,
        /// The journal's durable boundary.
        durable: u64,
    },
    /// The record at the stored position is not the one the database copied.
    #[error(
        "{db}: the database's last copied record is seq {position} written at {db_ns} ns, but \
         the order journal in {journal} holds {found} there: the database was filled from \
         another journal; the drop copy stops and deletes nothing"
    )]
    OtherJournal {
        /// Which database.
        db: String,
        /// Its stored position.
        position: u64,
        /// The journal timestamp stored with it.
        db_ns: i64,
        /// The journal directory.
        journal: PathBuf,
        /// What the journal has at that seq.
        found: String,
    },
    /// The order journal cannot be read.
    #[error("drop copy: {0}")]
    Journal(#[from] JournalError),
    /// A record cannot be turned into rows.
    #[error("drop copy: {0}")]
    Decode(#[from] DecodeError),
    /// The database refuses for a reason retrying cannot fix (its schema version).
    #[error("{0}")]
    Database(String),
    /// A setting is unusable (e.g. the PostgreSQL URL).
    #[error("drop copy configuration: {0}")]
    Config(String),
}

/// What a database write can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Retry later: the database is down, locked, full or refused the statement.
    #[error("{0}")]
    Unavailable(String),
    /// Stop the drop copy.
    #[error("{0}")]
    Fatal(String),
}

/// What a database holds on open: its position and the orders still working there.
#[derive(Debug, Default)]
pub struct Stored {
    /// The last journal seq copied (0: none).
    pub position: u64,
    /// That record's journal timestamp (Unix ns).
    pub position_ns: i64,
    /// Orders not done, as stored.
    pub open_orders: Vec<OrderRow>,
}

/// A database the drop copy writes to.
pub trait Sink {
    /// A name for logs (the file, or the URL without its password).
    fn describe(&self) -> String;
    /// Connects (again), creates the schema if missing and reads the position.
    fn open(&mut self) -> Result<Stored, SinkError>;
    /// Writes `batch` and its position in one transaction.
    fn write(&mut self, batch: &Batch) -> Result<(), SinkError>;
}

/// Where the drop copy reads and writes.
#[derive(Clone, Debug)]
pub struct DropCopySettings {
    /// The order journal directory (`journal.dir/orders`).
    pub journal_dir: PathBuf,
    /// Symbols for the instrument ids.
    pub instruments: InstrumentTable,
    /// SQLite database file.
    pub sqlite: Option<PathBuf>,
    /// PostgreSQL connection URL (`postgresql://user@host:port/db`).
    pub postgres: Option<String>,
}

/// One running tailer.
struct Tailer {
    name: String,
    copied: Arc<AtomicU64>,
    outages: Arc<AtomicU64>,
    thread: JoinHandle<Result<(), DropCopyError>>,
}

/// The running drop copy: one thread per configured database.
pub struct DropCopy {
    stop: Arc<AtomicBool>,
    tailers: Vec<Tailer>,
}

impl std::fmt::Debug for DropCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DropCopy")
            .field(
                "databases",
                &self.tailers.iter().map(|t| &t.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl DropCopy {
    /// Starts a thread for each configured database (none configured: no thread). The
    /// databases need not be reachable yet.
    pub fn start(settings: &DropCopySettings) -> Result<DropCopy, DropCopyError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tailers = Vec::new();
        if let Some(path) = &settings.sqlite {
            let sink = sqlite::SqliteSink::new(path);
            tailers.push(spawn(sink, settings, &stop)?);
        }
        if let Some(url) = &settings.postgres {
            let sink = postgres::PostgresSink::new(url)?;
            tailers.push(spawn(sink, settings, &stop)?);
        }
        Ok(DropCopy { stop, tailers })
    }

    /// The last journal seq copied into each database, by name.
    pub fn positions(&self) -> Vec<(String, u64)> {
        self.tailers
            .iter()
            .map(|t| (t.name.clone(), t.copied.load(Ordering::Acquire)))
            .collect()
    }

    /// Failed attempts to reach or write each database since start, by name.
    pub fn failures(&self) -> Vec<(String, u64)> {
        self.tailers
            .iter()
            .map(|t| (t.name.clone(), t.outages.load(Ordering::Acquire)))
            .collect()
    }

    /// Copies what is durable once more (a database that is down is not waited for),
    /// then stops the threads; returns why any of them had stopped before.
    pub fn stop(self) -> Vec<DropCopyError> {
        self.stop.store(true, Ordering::Release);
        for t in &self.tailers {
            t.thread.thread().unpark();
        }
        let mut errors = Vec::new();
        for t in self.tailers {
            match t.thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(_) => errors.push(DropCopyError::Database(format!(
                    "{}: the drop copy thread panicked",
                    t.name
                ))),
            }
        }
        errors
    }
}

fn spawn<S: Sink + Send + 'static>(
    sink: S,
    settings: &DropCopySettings,
    stop: &Arc<AtomicBool>,
) -> Result<Tailer, DropCopyError> {
    let name = sink.describe();
    let copied = Arc::new(AtomicU64::new(0));
    let outages = Arc::new(AtomicU64::new(0));
    let mut run = Run {
        sink,
        name: name.clone(),
        dir: settings.journal_dir.clone(),
        instruments: settings.instruments.clone(),
        stop: Arc::clone(stop),
        copied: Arc::clone(&copied),
        outages: Arc::clone(&outages),
        warned_at: None,
        failures: 0,
        backoff: MIN_BACKOFF,
    };
    let thread = thread::Builder::new()
        .name("drop-copy".to_owned())
        .spawn(move || {
            let result = run.run();
            if let Err(e) = &result {
                tracing::error!(db = %run.name, error = %e, "drop copy stopped");
            }
            result
        })
        .map_err(|e| DropCopyError::Config(format!("cannot start the drop copy thread: {e}")))?;
    Ok(Tailer {
        name,
        copied,
        outages,
        thread,
    })
}

/// One tailer's loop state.
struct Run<S> {
    sink: S,
    name: String,
    dir: PathBuf,
    instruments: InstrumentTable,
    stop: Arc<AtomicBool>,
    copied: Arc<AtomicU64>,
    /// Failures since start (for [`DropCopy::failures`]).
    outages: Arc<AtomicU64>,
    /// When the last WARN went out (monotonic).
    warned_at: Option<Nanos>,
    /// Failures since the last success.
    failures: u64,
    backoff: Duration,
}

/// How a pass over the journal ended.
enum Pass {
    /// Stop requested and everything durable is copied.
    Done,
    /// The database failed: reconnect after the backoff.
    Retry(String),
}

impl<S: Sink> Run<S> {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn run(&mut self) -> Result<(), DropCopyError> {
        loop {
            let stopping = self.stopping();
            let reason = match self.sink.open() {
                Ok(stored) => match self.pass(stored)? {
                    Pass::Done => return Ok(()),
                    Pass::Retry(reason) => reason,
                },
                Err(SinkError::Fatal(e)) => return Err(DropCopyError::Database(e)),
                Err(SinkError::Unavailable(e)) => e,
            };
            self.failed(&reason);
            if stopping || self.stopping() {
                tracing::warn!(
                    db = %self.name,
                    copied_through = self.copied.load(Ordering::Acquire),
                    "drop copy stopping with the database unavailable; it catches up at the next start"
                );
                return Ok(());
            }
            thread::park_timeout(self.backoff);
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Logs a database failure: the first one, then at most one per [`WARN_EVERY`].
    fn failed(&mut self, reason: &str) {
        self.failures += 1;
        self.outages.fetch_add(1, Ordering::AcqRel);
        let now = clock::monotonic_now();
        let due = self
            .warned_at
            .is_none_or(|at| now.saturating_sub(at) >= Nanos::from(WARN_EVERY));
        if due {
            tracing::warn!(
                db = %self.name,
                failures = self.failures,
                copied_through = self.copied.load(Ordering::Acquire),
                error = reason,
                "drop copy: database unavailable; retrying with backoff, the gateway keeps trading"
            );
            self.warned_at = Some(now);
        }
    }

    /// Checks the stored position against the journal and copies until stopped or the
    /// database fails.
    fn pass(&mut self, stored: Stored) -> Result<Pass, DropCopyError> {
        let durable = durable_seq(&self.dir)?.get();
        if stored.position > durable {
            return Err(DropCopyError::Ahead {
                db: self.name.clone(),
                position: stored.position,
                journal: self.dir.clone(),
                durable,
            });
        }
        let mut reader = JournalReader::open(&self.dir, SeqNo(stored.position.max(1)))?;
        if stored.position > 0 {
            let found = match reader.next()? {
                Some(r)
                    if r.seq.get() == stored.position && ts(r.timestamp) == stored.position_ns =>
                {
                    None
                }
                Some(r) => Some(format!(
                    "seq {} written at {} ns",
                    r.seq.get(),
                    ts(r.timestamp)
                )),
                None => Some("nothing".to_owned()),
            };
            if let Some(found) = found {
                return Err(DropCopyError::OtherJournal {
                    db: self.name.clone(),
                    position: stored.position,
                    db_ns: stored.position_ns,
                    journal: self.dir.clone(),
                    found,
                });
            }
        }
        if self.failures > 0 {
            tracing::info!(
                db = %self.name,
                failures = self.failures,
                from = stored.position,
                "drop copy: database reachable again, catching up"
            );
        }
        self.failures = 0;
        self.warned_at = None;
        self.backoff = MIN_BACKOFF;
        self.copied.store(stored.position, Ordering::Release);
        let mut projector = Projector::with_open_orders(&self.instruments, stored.open_orders);
        let mut batch = Batch::default();
        loop {
            let stopping = self.stopping();
            let durable = durable_seq(&self.dir)?.get();
            batch.clear();
            while batch.records < MAX_BATCH && reader.next_seq().get() <= durable {
                let Some(r) = reader.next()? else { break };
                projector.apply(
                    r.seq.get(),
                    r.record_type,
                    ts(r.timestamp),
                    r.payload,
                    &mut batch,
                )?;
            }
            if batch.is_empty() {
                if stopping {
                    return Ok(Pass::Done);
                }
                thread::park_timeout(IDLE);
                continue;
            }
            match self.sink.write(&batch) {
                Ok(()) => {
                    self.copied.store(batch.last_seq, Ordering::Release);
                    // A full batch means the copy is behind: the next one goes at once.
                    if batch.records < MAX_BATCH && !stopping {
                        thread::park_timeout(COMMIT_INTERVAL);
                    }
                }
                Err(SinkError::Unavailable(e)) => return Ok(Pass::Retry(e)),
                Err(SinkError::Fatal(e)) => return Err(DropCopyError::Database(e)),
            }
        }
    }
}

fn ts(t: tickwarp_wire::UnixNanos) -> i64 {
    i64::try_from(t.0).unwrap_or(i64::MAX)
}
