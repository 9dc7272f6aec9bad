//! Persistence of a FIX session: its next inbound/outbound MsgSeqNum and the outbound
//! application messages a ResendRequest may ask for (FIX 4.4 Vol. 2 "Message Recovery").
//!
//! [`SessionStore`] is the seam; [`MemoryStore`] keeps everything in memory (tests, or a
//! session that resets every logon), [`JournalStore`] writes it to a `tickwarp-wire`
//! journal directory of its own (one session, e.g. `tickwarp fix-client`) so a restarted
//! process continues the sequence numbers and answers resends; the gateway's acceptor
//! keeps all its sessions in one shared log instead ([`super::session_log`]). Stores never read a clock (time is an argument) and never interpret message contents.
//!
//! Durability is group commit: appends only write, and [`SessionStore::flush`] makes
//! everything appended since the last flush durable with one sync (under the journal's
//! fsync policy). A session calls it once per duty cycle, before any byte that a record
//! covers goes to the socket; sequence-number updates are coalesced into one record per
//! flush. The gateway's acceptor splits that sync in two
//! ([`JournalStore::begin_sync`], [`JournalStore::finish_sync`]) to run it in one round
//! with the order journal's and every other session's; the flush after the round then
//! only releases what the round covered.
//!
//! Allocation: both stores reuse their buffers, so appending allocates only when an
//! arena or index `Vec` doubles (amortized, no allocation per message once grown);
//! [`JournalStore`] opens a `JournalReader` (which allocates) only to answer a resend.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tickwarp_runtime::{Nanos, UnixNanos};
use tickwarp_wire::SeqNo;
use tickwarp_wire::journal::{
    FsyncPolicy, JournalConfig, JournalError, JournalReader, JournalWriter, SyncTicket,
};

/// The sequence numbers a session persists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqNums {
    /// MsgSeqNum expected on the next inbound message.
    pub next_in: u64,
    /// MsgSeqNum of the next outbound message.
    pub next_out: u64,
}

impl SeqNums {
    /// A fresh session: both at 1.
    pub const INITIAL: SeqNums = SeqNums {
        next_in: 1,
        next_out: 1,
    };
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The journal failed.
    #[error("session journal: {0}")]
    Journal(#[from] JournalError),
    /// A journal record is not one this store wrote.
    #[error("session journal record {seq} is corrupt: {reason}")]
    Corrupt {
        /// Journal sequence number of the record.
        seq: u64,
        /// What was wrong.
        reason: &'static str,
    },
    /// A record of the shared session log is not one the log wrote.
    #[error(
        "FIX session log {}: record {seq} (session {session}) is corrupt: {reason}; nothing was skipped: restore the log from a backup or cut it with `tickwarp journal repair`",
        .dir.display()
    )]
    LogCorrupt {
        /// The log's directory.
        dir: PathBuf,
        /// Journal sequence number of the record.
        seq: u64,
        /// The session it names (its key, or its id when unnamed).
        session: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// The shared session log is damaged where the journal layer can tell (a bad CRC,
    /// a missing segment, ...): the error names the file and offset.
    #[error(
        "FIX session log {}: {source} (the last intact record, {seq}, belongs to session {session}); nothing was skipped: restore the log from a backup or cut it with `tickwarp journal repair`",
        .dir.display()
    )]
    LogDamaged {
        /// The log's directory.
        dir: PathBuf,
        /// Session of the last intact record before the damage (empty if none).
        session: String,
        /// Journal sequence number of that record (0 if none).
        seq: u64,
        /// The journal layer's error, naming file and offset.
        source: JournalError,
    },
    /// A session key that is empty or too long.
    #[error("bad FIX session key {0:?}")]
    BadSessionKey(String),
    /// Two stores asked for the same session of a shared log.
    #[error("FIX session {0} is configured twice")]
    SessionTaken(String),
}

/// Where a session keeps its sequence numbers and outbound messages.
pub trait SessionStore {
    /// The sequence numbers as last saved (or [`SeqNums::INITIAL`]).
    fn seq_nums(&self) -> SeqNums;

    /// Saves the sequence numbers (durable at the next [`SessionStore::flush`]).
    fn save_seq_nums(
        &mut self,
        seq: SeqNums,
        wall: UnixNanos,
        now: Nanos,
    ) -> Result<(), StoreError>;

    /// Stores outbound application message `msg_seq` (the whole frame) and `seq`.
    fn append_outbound(
        &mut self,
        msg_seq: u64,
        frame: &[u8],
        seq: SeqNums,
        wall: UnixNanos,
        now: Nanos,
    ) -> Result<(), StoreError>;

    /// Calls `f(msg_seq, frame)` for each stored message in `begin..=end`, in order.
    fn for_each_outbound(
        &mut self,
        begin: u64,
        end: u64,
        f: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<(), StoreError>;

    /// Forgets every message and sets both sequence numbers to 1 (ResetSeqNumFlag).
    fn reset(&mut self, wall: UnixNanos, now: Nanos) -> Result<(), StoreError>;

    /// Makes every change since the last flush durable (one sync, by the fsync policy);
    /// costs nothing when nothing changed.
    fn flush(&mut self) -> Result<(), StoreError>;

    /// Syncs performed so far (for tests and counters).
    fn syncs(&self) -> u64;
}

/// A store in memory: one byte arena and an index of `(msg_seq, start, end)`.
#[derive(Clone, Debug)]
pub struct MemoryStore {
    seq: SeqNums,
    arena: Vec<u8>,
    index: Vec<(u64, usize, usize)>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store at [`SeqNums::INITIAL`].
    pub fn new() -> MemoryStore {
        MemoryStore {
            seq: SeqNums::INITIAL,
            arena: Vec::with_capacity(64 << 10),
            index: Vec::with_capacity(1024),
        }
    }

    /// Number of stored outbound messages.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no outbound message is stored.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

impl SessionStore for MemoryStore {
    fn seq_nums(&self) -> SeqNums {
        self.seq
    }

    fn save_seq_nums(&mut self, seq: SeqNums, _: UnixNanos, _: Nanos) -> Result<(), StoreError> {
        self.seq = seq;
        Ok(())
    }

    fn append_outbound(
        &mut self,
        msg_seq: u64,
        frame: &[u8],
        seq: SeqNums,
        _: UnixNanos,
        _: Nanos,
    ) -> Result<(), StoreError> {
        let start = self.arena.len();
        self.arena.extend_from_slice(frame);
        self.index.push((msg_seq, start, self.arena.len()));
        self.seq = seq;
        Ok(())
    }

    fn for_each_outbound(
        &mut self,
        begin: u64,
        end: u64,
        f: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<(), StoreError> {
        let first = self.index.partition_point(|&(s, _, _)| s < begin);
        for &(msg_seq, start, stop) in self.index.iter().skip(first) {
            if msg_seq > end {
                break;
            }
            f(msg_seq, self.arena.get(start..stop).unwrap_or_default());
        }
        Ok(())
    }

    fn reset(&mut self, _: UnixNanos, _: Nanos) -> Result<(), StoreError> {
        self.arena.clear();
        self.index.clear();
        self.seq = SeqNums::INITIAL;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn syncs(&self) -> u64 {
        0
    }
}

/// Journal record type: an outbound message (`next_in`, `next_out`, `msg_seq`, frame).
pub const RECORD_OUTBOUND: u16 = 0x4601;
/// Journal record type: sequence numbers (`next_in`, `next_out`).
pub const RECORD_SEQ_NUMS: u16 = 0x4602;
/// Journal record type: a reset to 1/1 that forgets earlier messages.
pub const RECORD_RESET: u16 = 0x4603;

/// A store backed by a `tickwarp-wire` journal directory (one directory per session).
///
/// Every outbound message, and every flush that changed the sequence numbers, is one
/// journal record carrying the sequence numbers after it. Records are synced at
/// [`SessionStore::flush`] unless the policy is [`FsyncPolicy::Never`] (`Batched` may also
/// sync on its own when its batch fills, as for the order journal). Opening replays the journal to rebuild
/// the sequence numbers and an index from MsgSeqNum to journal record (16 bytes per
/// stored message); a resend reads the frames back from the files.
#[derive(Debug)]
pub struct JournalStore {
    writer: JournalWriter,
    dir: PathBuf,
    policy: FsyncPolicy,
    /// Sequence numbers as last written to the journal.
    written: SeqNums,
    /// Sequence numbers as last saved (written at the next flush when they differ).
    seq: SeqNums,
    /// Wall and monotonic time of the last save, the times of the record the flush
    /// writes.
    seq_time: (UnixNanos, Nanos),
    syncs: u64,
    /// What went wrong in this store's share of a sync round, for the next flush.
    round_error: Option<StoreError>,
    index: Vec<(u64, SeqNo)>,
    payload: Vec<u8>,
}

/// Outbound messages a [`JournalStore`] indexes before its index first grows (16 bytes
/// each: 1 MiB of address space, touched only as messages are sent). Past it the index
/// doubles, one allocation at 65,536 messages, 131,072, …: a day's traffic of a busy
/// session allocates a handful of times, never per message.
pub const INDEX_PREALLOCATED: usize = 65_536;

/// `(next_in, next_out)` from the first 16 bytes of a record payload.
fn read_seq(payload: &[u8]) -> Option<SeqNums> {
    let next_in = u64::from_le_bytes(payload.get(0..8)?.try_into().ok()?);
    let next_out = u64::from_le_bytes(payload.get(8..16)?.try_into().ok()?);
    Some(SeqNums { next_in, next_out })
}

/// The MsgSeqNum and frame of an outbound record payload.
fn read_outbound(payload: &[u8]) -> Option<(u64, &[u8])> {
    let msg_seq = u64::from_le_bytes(payload.get(16..24)?.try_into().ok()?);
    Some((msg_seq, payload.get(24..)?))
}

impl JournalStore {
    /// Opens (creating if needed) the session journal in `dir` and replays it.
    ///
    /// `config.fsync` is the durability policy: `EveryRecord` becomes group commit (the
    /// writer never syncs on append; every [`SessionStore::flush`] syncs), `Batched` and
    /// `Never` keep their meaning.
    pub fn open(dir: impl AsRef<Path>, config: JournalConfig) -> Result<JournalStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let policy = config.fsync;
        let writer_config = match policy {
            // Sync only when asked (and when a segment rolls, which stays durable).
            FsyncPolicy::EveryRecord => JournalConfig {
                fsync: FsyncPolicy::Batched {
                    max_records: u32::MAX,
                    max_delay: Duration::MAX,
                },
                ..config
            },
            FsyncPolicy::Batched { .. } | FsyncPolicy::Never => config,
        };
        let (writer, report) = JournalWriter::open(&dir, writer_config)?;
        if report.dropped.is_some() {
            tracing::warn!(dir = %dir.display(), ?report, "session journal had a torn tail");
        }
        let mut seq = SeqNums::INITIAL;
        let mut index = Vec::with_capacity(INDEX_PREALLOCATED);
        let mut reader = JournalReader::open(&dir, SeqNo(1))?;
        while let Some(record) = reader.next()? {
            let corrupt = |reason| StoreError::Corrupt {
                seq: record.seq.get(),
                reason,
            };
            seq = read_seq(record.payload).ok_or(corrupt("payload shorter than 16 bytes"))?;
            match record.record_type {
                RECORD_OUTBOUND => {
                    let (msg_seq, _) = read_outbound(record.payload)
                        .ok_or(corrupt("outbound record too short"))?;
                    index.push((msg_seq, record.seq));
                }
                RECORD_RESET => index.clear(),
                RECORD_SEQ_NUMS => {}
                _ => return Err(corrupt("unknown record type")),
            }
        }
        Ok(JournalStore {
            writer,
            dir,
            policy,
            written: seq,
            seq,
            seq_time: (UnixNanos(0), Nanos(0)),
            syncs: 0,
            round_error: None,
            index,
            payload: Vec::with_capacity(4096),
        })
    }

    /// Appends one record of `record_type` with the sequence numbers and `extra`.
    fn write(
        &mut self,
        record_type: u16,
        seq: SeqNums,
        extra: &[&[u8]],
        wall: UnixNanos,
        now: Nanos,
    ) -> Result<SeqNo, StoreError> {
        self.payload.clear();
        self.payload.extend_from_slice(&seq.next_in.to_le_bytes());
        self.payload.extend_from_slice(&seq.next_out.to_le_bytes());
        for part in extra {
            self.payload.extend_from_slice(part);
        }
        let at = self.writer.append(record_type, wall, &self.payload, now)?;
        self.seq = seq;
        self.written = seq;
        Ok(at)
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This store's share of a sync round (the first half of [`SessionStore::flush`]):
    /// writes the coalesced sequence numbers and the commit mark and returns the ticket
    /// whose sync makes them durable; `None` when nothing needs a sync (nothing changed,
    /// the policy is [`FsyncPolicy::Never`], or the write failed). Append nothing until
    /// [`JournalStore::finish_sync`] got the outcome. The next [`SessionStore::flush`]
    /// then syncs nothing and releases what the round covered, or returns the round's
    /// error (a failed write or sync), so the session drops what it did not cover and
    /// disconnects, as when its own sync fails.
    pub fn begin_sync(&mut self) -> Option<SyncTicket> {
        if self.round_error.is_some() {
            return None;
        }
        let began = self.write_seq_nums().and_then(|()| {
            if self.policy == FsyncPolicy::Never {
                return Ok(None);
            }
            Ok(self.writer.begin_sync()?)
        });
        began.unwrap_or_else(|e| {
            self.round_error = Some(e);
            None
        })
    }

    /// Takes the outcome of the ticket [`JournalStore::begin_sync`] returned (a failure
    /// poisons the store's journal and is kept for the next flush).
    pub fn finish_sync(&mut self, ticket: &SyncTicket, synced: std::io::Result<()>) {
        match self.writer.finish_sync(ticket, synced) {
            Ok(()) => self.syncs += 1,
            Err(e) => self.round_error = Some(e.into()),
        }
    }

    /// The first stored outbound message (since the last reset) for which `ahead(frame)`
    /// holds: its MsgSeqNum and the journal record just before it (what
    /// `tickwarp journal repair --truncate-after` keeps). Reads the whole store; for a
    /// check at start (see `GatewayAgent::from_config`).
    pub fn first_outbound_where(
        &mut self,
        ahead: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Option<(u64, SeqNo)>, StoreError> {
        let mut found = None;
        self.for_each_outbound(1, u64::MAX, &mut |msg_seq, frame| {
            if found.is_none() && ahead(frame) {
                found = Some(msg_seq);
            }
        })?;
        Ok(found.and_then(|msg_seq| {
            let at = self.index.iter().find(|&&(m, _)| m == msg_seq)?.1;
            Some((msg_seq, SeqNo(at.get().saturating_sub(1))))
        }))
    }

    /// Writes the sequence numbers saved since the last write, if they changed.
    fn write_seq_nums(&mut self) -> Result<(), StoreError> {
        if self.seq != self.written {
            let (seq, (wall, now)) = (self.seq, self.seq_time);
            self.write(RECORD_SEQ_NUMS, seq, &[], wall, now)?;
        }
        Ok(())
    }

    /// The highest outbound MsgSeqNum whose record is on stable storage (0 if none):
    /// with [`SessionStore::syncs`], lets tests check that no message left before the
    /// sync that covers it.
    pub fn durable_out_seq(&self) -> u64 {
        let durable = self.writer.durable_seq();
        let synced = self.index.partition_point(|&(_, at)| at <= durable);
        synced
            .checked_sub(1)
            .and_then(|i| self.index.get(i))
            .map_or(0, |&(msg_seq, _)| msg_seq)
    }
}

impl SessionStore for JournalStore {
    fn seq_nums(&self) -> SeqNums {
        self.seq
    }

    fn save_seq_nums(
        &mut self,
        seq: SeqNums,
        wall: UnixNanos,
        now: Nanos,
    ) -> Result<(), StoreError> {
        self.seq = seq;
        self.seq_time = (wall, now);
        Ok(())
    }

    fn append_outbound(
        &mut self,
        msg_seq: u64,
        frame: &[u8],
        seq: SeqNums,
        wall: UnixNanos,
        now: Nanos,
    ) -> Result<(), StoreError> {
        let at = self.write(
            RECORD_OUTBOUND,
            seq,
            &[&msg_seq.to_le_bytes(), frame],
            wall,
            now,
        )?;
        self.index.push((msg_seq, at));
        Ok(())
    }

    fn for_each_outbound(
        &mut self,
        begin: u64,
        end: u64,
        f: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<(), StoreError> {
        let first = self.index.partition_point(|&(s, _)| s < begin);
        let Some(&(_, from)) = self.index.get(first) else {
            return Ok(());
        };
        let mut reader = JournalReader::open(&self.dir, from)?;
        while let Some(record) = reader.next()? {
            if record.record_type != RECORD_OUTBOUND {
                continue;
            }
            let (msg_seq, frame) = read_outbound(record.payload).ok_or(StoreError::Corrupt {
                seq: record.seq.get(),
                reason: "outbound record too short",
            })?;
            if msg_seq > end {
                break;
            }
            if msg_seq >= begin {
                f(msg_seq, frame);
            }
        }
        Ok(())
    }

    fn reset(&mut self, wall: UnixNanos, now: Nanos) -> Result<(), StoreError> {
        self.write(RECORD_RESET, SeqNums::INITIAL, &[], wall, now)?;
        self.index.clear();
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if let Some(e) = self.round_error.take() {
            return Err(e);
        }
        self.write_seq_nums()?;
        if self.policy != FsyncPolicy::Never
            && self.writer.durable_seq().get() + 1 < self.writer.next_seq().get()
        {
            self.writer.sync()?;
            self.syncs += 1;
        }
        Ok(())
    }

    fn syncs(&self) -> u64 {
        self.syncs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: UnixNanos = UnixNanos(1);
    const N: Nanos = Nanos(1);

    fn collect(store: &mut impl SessionStore, begin: u64, end: u64) -> Vec<(u64, Vec<u8>)> {
        let mut got = Vec::new();
        store
            .for_each_outbound(begin, end, &mut |s, f| got.push((s, f.to_vec())))
            .unwrap_or_else(|e| panic!("{e}"));
        got
    }

    fn exercise(store: &mut impl SessionStore) {
        assert_eq!(store.seq_nums(), SeqNums::INITIAL);
        let seq = |next_in, next_out| SeqNums { next_in, next_out };
        store
            .save_seq_nums(seq(2, 2), T, N)
            .unwrap_or_else(|e| panic!("{e}"));
        for msg_seq in [2, 3, 5] {
            let frame = format!("frame {msg_seq}");
            store
                .append_outbound(msg_seq, frame.as_bytes(), seq(2, msg_seq + 1), T, N)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(store.seq_nums(), seq(2, 6));
        let got = collect(store, 3, 5);
        assert_eq!(got, [(3, b"frame 3".to_vec()), (5, b"frame 5".to_vec())]);
        assert_eq!(collect(store, 1, 2).len(), 1);
        assert!(collect(store, 6, 9).is_empty());
    }

    #[test]
    fn memory_store_keeps_messages_and_resets() {
        let mut store = MemoryStore::new();
        exercise(&mut store);
        assert_eq!(store.len(), 3);
        store.reset(T, N).unwrap_or_else(|e| panic!("{e}"));
        assert!(store.is_empty());
        assert_eq!(store.seq_nums(), SeqNums::INITIAL);
    }

    #[test]
    fn journal_store_survives_reopen_and_reset() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut store = JournalStore::open(dir.path(), JournalConfig::default())?;
        exercise(&mut store);
        drop(store);
        let mut store = JournalStore::open(dir.path(), JournalConfig::default())?;
        assert_eq!(
            store.seq_nums(),
            SeqNums {
                next_in: 2,
                next_out: 6
            }
        );
        assert_eq!(collect(&mut store, 1, 10).len(), 3);
        store.reset(T, N)?;
        store.append_outbound(
            1,
            b"after",
            SeqNums {
                next_in: 1,
                next_out: 2,
            },
            T,
            N,
        )?;
        drop(store);
        let mut store = JournalStore::open(dir.path(), JournalConfig::default())?;
        assert_eq!(collect(&mut store, 1, 10), [(1, b"after".to_vec())]);
        assert_eq!(store.dir(), dir.path());
        Ok(())
    }
}
