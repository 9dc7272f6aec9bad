//! One shared store log for the FIX sessions of an acceptor: a single `tickwarp-wire`
//! journal (`<journal.dir>/fix/sessions/` for order sessions, `fix/drop-copies/` for
//! drop copies) whose records name their session, so a duty cycle's sync round costs
//! one `fdatasync` per log however many sessions wrote (with the order journal's, at
//! most two per round, three when drop copies wrote too).
//!
//! [`SessionLog`] owns the journal writer; [`SharedStore`] is one session's
//! [`SessionStore`]: a handle onto the log that keeps its sequence numbers in memory and
//! an index from MsgSeqNum to journal record for ResendRequest (16 bytes per message).
//!
//! **Records.** A session is named once by a [`RECORD_SESSION`] record: a `u32` id the
//! log assigns and the stable session key (BeginString, SenderCompID, TargetCompID, see
//! [`session_key`]); every other record starts with that id, then carries what a
//! per-session [`JournalStore`](super::JournalStore) record carries (`next_in`,
//! `next_out`, and for an outbound message its MsgSeqNum and frame). Ids come from the
//! log, never from the configuration's order, so a reordered or edited configuration
//! cannot mix sessions up. A reset (ResetSeqNumFlag) is a [`RECORD_LOG_RESET`] record,
//! never a deletion: recovery forgets the messages before it.
//!
//! **Group commit.** Appends only write. [`SharedStore::flush`] returns at once when the
//! session's records are durable already (the duty cycle's sync round covered them),
//! else syncs the log (everything any session appended); a session that appended
//! nothing costs no sync (a failed logon writes nothing). The acceptor's round calls
//! [`SharedStore::prepare_sync`] on each session (which writes its coalesced sequence
//! numbers) and then takes one ticket from [`SessionLog::begin_sync`]. A failed sync
//! poisons the log: every session with records it did not cover fails its next flush,
//! drops what the sync did not cover and disconnects, as with a per-session store.
//!
//! **Recovery** is one scan at [`SessionLog::open`]: the journal layer drops a torn tail
//! (written after the last sync, never acknowledged) and stops on damage inside durable
//! data with a typed error naming the file and offset; this module adds the session of
//! the last intact record before the damage, and stops on a record it did not write
//! (unknown type, unknown session id, short payload) naming the file, journal sequence
//! number and session. Nothing is skipped or deleted. A session in the log that the
//! configuration no longer names is kept and reported ([`SessionLog::unclaimed`]).
//!
//! **Growth and retention.** The log grows by every outbound application message of
//! every session, as the per-session journals did, and rolls segments at
//! `journal.segment_mib` like any journal; nothing is deleted by the gateway (a reset
//! only stops indexing older messages). Retention is the operator's: archive or remove
//! whole segments only while the gateway is stopped and only below the last reset of
//! every session (`tickwarp journal verify` lists each session's state).
//!
//! What it must not do: read a clock (time is an argument), interpret message contents,
//! sync for a session that wrote nothing, or allocate per message once its buffers have
//! grown (a resend opens a reader, which allocates).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tickwarp_runtime::{Nanos, UnixNanos};
use tickwarp_wire::SeqNo;
use tickwarp_wire::journal::{
    FsyncPolicy, JournalConfig, JournalReader, JournalWriter, SyncTicket,
};

use super::store::{INDEX_PREALLOCATED, SeqNums, SessionStore, StoreError};

/// The order sessions' shared log, under the gateway's journal directory.
pub const SESSION_LOG_DIR: &str = "fix/sessions";
/// The drop-copy sessions' shared log, under the gateway's journal directory: apart, so
/// that a drop copy's failing store (its own full file system) never stops the order
/// path.
pub const DROP_COPY_LOG_DIR: &str = "fix/drop-copies";

/// Record type: names a session (`u32` id, then the session key in UTF-8).
pub const RECORD_SESSION: u16 = 0x4610;
/// Record type: an outbound message (id, `next_in`, `next_out`, MsgSeqNum, frame).
pub const RECORD_LOG_OUTBOUND: u16 = 0x4611;
/// Record type: sequence numbers (id, `next_in`, `next_out`).
pub const RECORD_LOG_SEQ_NUMS: u16 = 0x4612;
/// Record type: a reset to 1/1 that forgets the session's earlier messages (id, 1, 1).
pub const RECORD_LOG_RESET: u16 = 0x4613;

/// Longest session key accepted (BeginString and two CompIDs fit many times over).
const MAX_KEY_LEN: usize = 1024;

/// The stable key of a FIX 4.4 session between `sender` (the gateway's CompID) and
/// `target`: what the shared log names it by.
pub fn session_key(sender: &str, target: &str) -> String {
    format!("FIX.4.4:{sender}->{target}")
}

/// One session's state as the log holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    /// Its key ([`session_key`]).
    pub key: String,
    /// Its id in the log.
    pub id: u32,
    /// Its sequence numbers as last written.
    pub seq: SeqNums,
    /// Outbound messages stored since its last reset.
    pub messages: usize,
}

/// What one recovery scan found for a session.
#[derive(Debug)]
struct Recovered {
    id: u32,
    key: String,
    seq: SeqNums,
    index: Vec<(u64, SeqNo)>,
    /// A handle took it.
    claimed: bool,
}

/// The writer and the per-session state recovery rebuilt.
#[derive(Debug)]
struct Inner {
    writer: JournalWriter,
    dir: PathBuf,
    policy: FsyncPolicy,
    sessions: Vec<Recovered>,
    /// Position in `sessions` by key.
    by_key: HashMap<String, usize>,
    /// The id the next new session gets (ids are named in the log in the order sessions
    /// first write, so they need not be in order; never reused).
    next_id: u32,
    payload: Vec<u8>,
    syncs: u64,
}

/// The shared store log of an acceptor's sessions (cheap to clone: one log, shared).
#[derive(Clone, Debug)]
pub struct SessionLog {
    inner: Arc<Mutex<Inner>>,
}

/// The id at the start of a session record's payload, and the rest.
fn split_id(payload: &[u8]) -> Option<(u32, &[u8])> {
    let id = u32::from_le_bytes(payload.get(0..4)?.try_into().ok()?);
    Some((id, payload.get(4..)?))
}

/// `(next_in, next_out)` from the first 16 bytes of `body`.
fn read_seq(body: &[u8]) -> Option<SeqNums> {
    let next_in = u64::from_le_bytes(body.get(0..8)?.try_into().ok()?);
    let next_out = u64::from_le_bytes(body.get(8..16)?.try_into().ok()?);
    Some(SeqNums { next_in, next_out })
}

/// The MsgSeqNum and frame of an outbound record's body.
fn read_outbound(body: &[u8]) -> Option<(u64, &[u8])> {
    let msg_seq = u64::from_le_bytes(body.get(16..24)?.try_into().ok()?);
    Some((msg_seq, body.get(24..)?))
}

/// Replays the log in `dir` into per-session states (one scan).
fn scan(dir: &Path) -> Result<Vec<Recovered>, StoreError> {
    let mut sessions: Vec<Recovered> = Vec::new();
    let mut by_id: HashMap<u32, usize> = HashMap::new();
    let mut reader = JournalReader::open(dir, SeqNo(1))?;
    while let Some(record) = reader.next()? {
        let seq = record.seq.get();
        let corrupt = |session: String, reason| StoreError::LogCorrupt {
            dir: dir.to_path_buf(),
            seq,
            session,
            reason,
        };
        let Some((id, body)) = split_id(record.payload) else {
            return Err(corrupt(String::new(), "payload shorter than a session id"));
        };
        if record.record_type == RECORD_SESSION {
            let key = std::str::from_utf8(body)
                .map_err(|_| corrupt(String::new(), "session key is not UTF-8"))?;
            if key.is_empty() || key.len() > MAX_KEY_LEN {
                return Err(corrupt(key.to_string(), "session key empty or too long"));
            }
            if by_id.contains_key(&id) || sessions.iter().any(|s| s.key == key) {
                return Err(corrupt(key.to_string(), "session named twice"));
            }
            by_id.insert(id, sessions.len());
            sessions.push(Recovered {
                id,
                key: key.to_string(),
                seq: SeqNums::INITIAL,
                index: Vec::new(),
                claimed: false,
            });
            continue;
        }
        let Some(session) = by_id.get(&id).and_then(|&at| sessions.get_mut(at)) else {
            return Err(corrupt(
                format!("id {id}"),
                "record of a session never named",
            ));
        };
        let corrupt = |reason| corrupt(session.key.clone(), reason);
        let next = read_seq(body).ok_or_else(|| corrupt("payload shorter than 20 bytes"))?;
        match record.record_type {
            RECORD_LOG_OUTBOUND => {
                let (msg_seq, _) =
                    read_outbound(body).ok_or_else(|| corrupt("outbound record too short"))?;
                session.index.push((msg_seq, record.seq));
            }
            RECORD_LOG_RESET => session.index.clear(),
            RECORD_LOG_SEQ_NUMS => {}
            _ => return Err(corrupt("unknown record type")),
        }
        session.seq = next;
    }
    Ok(sessions)
}

/// The session of the last intact record before damage in `dir` (best effort, for the
/// error message): its key and journal sequence number.
fn last_intact(dir: &Path) -> Option<(String, u64)> {
    let mut keys: HashMap<u32, String> = HashMap::new();
    let mut last = None;
    let mut reader = JournalReader::open(dir, SeqNo(1)).ok()?;
    while let Ok(Some(record)) = reader.next() {
        let Some((id, body)) = split_id(record.payload) else {
            break;
        };
        if record.record_type == RECORD_SESSION {
            keys.insert(id, String::from_utf8_lossy(body).into_owned());
        }
        let key = keys.get(&id).cloned().unwrap_or_else(|| format!("id {id}"));
        last = Some((key, record.seq.get()));
    }
    last
}

/// Reads the log in `dir` without writing: each session's key, sequence numbers and
/// stored messages (for `tickwarp journal verify`). Errors as [`SessionLog::open`] does.
pub fn inspect(dir: impl AsRef<Path>) -> Result<Vec<SessionSummary>, StoreError> {
    let dir = dir.as_ref();
    let sessions = scan(dir).map_err(|e| with_damage_context(dir, e))?;
    Ok(sessions
        .into_iter()
        .map(|s| SessionSummary {
            key: s.key,
            id: s.id,
            seq: s.seq,
            messages: s.index.len(),
        })
        .collect())
}

/// Adds the session of the last intact record to a journal-layer damage error.
fn with_damage_context(dir: &Path, e: StoreError) -> StoreError {
    match e {
        StoreError::Journal(source) => {
            let (session, seq) = last_intact(dir).unwrap_or_default();
            StoreError::LogDamaged {
                dir: dir.to_path_buf(),
                session,
                seq,
                source,
            }
        }
        other => other,
    }
}

impl SessionLog {
    /// Opens (creating if needed) the shared log in `dir` and replays it once.
    ///
    /// `config.fsync` is the durability policy: `EveryRecord` becomes group commit (the
    /// writer never syncs on append; a flush or the acceptor's round syncs), `Batched`
    /// and `Never` keep their meaning.
    pub fn open(dir: impl AsRef<Path>, config: JournalConfig) -> Result<SessionLog, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let policy = config.fsync;
        let writer_config = match policy {
            FsyncPolicy::EveryRecord => JournalConfig {
                fsync: FsyncPolicy::Batched {
                    max_records: u32::MAX,
                    max_delay: Duration::MAX,
                },
                ..config
            },
            FsyncPolicy::Batched { .. } | FsyncPolicy::Never => config,
        };
        let (writer, report) = JournalWriter::open(&dir, writer_config)
            .map_err(|e| with_damage_context(&dir, e.into()))?;
        if report.dropped.is_some() {
            tracing::warn!(dir = %dir.display(), ?report, "FIX session log had a torn tail (written after its last sync, never acknowledged): dropped");
        }
        let sessions = scan(&dir).map_err(|e| with_damage_context(&dir, e))?;
        let by_key = sessions
            .iter()
            .enumerate()
            .map(|(at, s)| (s.key.clone(), at))
            .collect();
        let next_id = sessions
            .iter()
            .map(|s| s.id.saturating_add(1))
            .max()
            .unwrap_or(0);
        Ok(SessionLog {
            inner: Arc::new(Mutex::new(Inner {
                writer,
                dir,
                policy,
                sessions,
                by_key,
                next_id,
                payload: Vec::with_capacity(4096),
                syncs: 0,
            })),
        })
    }

    /// Locks the log (never contended for long: one duty-cycle thread writes).
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The store of the session named `key` ([`session_key`]): its recovered state, or a
    /// fresh session (named in the log with its first record). A key can be taken once.
    pub fn session(&self, key: &str) -> Result<SharedStore, StoreError> {
        let mut inner = self.lock();
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(StoreError::BadSessionKey(key.to_string()));
        }
        let (id, registered, seq, index) = match inner.by_key.get(key).copied() {
            Some(at) => {
                let Some(s) = inner.sessions.get_mut(at) else {
                    return Err(StoreError::BadSessionKey(key.to_string()));
                };
                let id = s.id;
                if s.claimed {
                    return Err(StoreError::SessionTaken(key.to_string()));
                }
                s.claimed = true;
                let mut index = Vec::with_capacity(INDEX_PREALLOCATED.max(s.index.len()));
                index.append(&mut s.index);
                (id, true, s.seq, index)
            }
            None => {
                let id = inner.next_id;
                inner.next_id = id
                    .checked_add(1)
                    .ok_or_else(|| StoreError::BadSessionKey(key.to_string()))?;
                let at = inner.sessions.len();
                inner.by_key.insert(key.to_string(), at);
                inner.sessions.push(Recovered {
                    id,
                    key: key.to_string(),
                    seq: SeqNums::INITIAL,
                    index: Vec::new(),
                    claimed: true,
                });
                (
                    id,
                    false,
                    SeqNums::INITIAL,
                    Vec::with_capacity(INDEX_PREALLOCATED),
                )
            }
        };
        Ok(SharedStore {
            log: self.clone(),
            id,
            key: key.to_string(),
            registered,
            written: seq,
            seq,
            seq_time: (UnixNanos(0), Nanos(0)),
            last_written: SeqNo(0),
            counted: SeqNo(0),
            syncs: 0,
            round_error: None,
            index,
        })
    }

    /// Sessions in the log that no handle took (no longer configured): kept, never
    /// deleted; the caller reports them.
    pub fn unclaimed(&self) -> Vec<SessionSummary> {
        self.lock()
            .sessions
            .iter()
            .filter(|s| !s.claimed)
            .map(|s| SessionSummary {
                key: s.key.clone(),
                id: s.id,
                seq: s.seq,
                messages: s.index.len(),
            })
            .collect()
    }

    /// The log's directory.
    pub fn dir(&self) -> PathBuf {
        self.lock().dir.clone()
    }

    /// Syncs of the log so far (a round's, or a session flush's own): the seam that
    /// shows one store sync per round however many sessions wrote.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// The highest journal record on stable storage.
    pub fn durable_seq(&self) -> SeqNo {
        self.lock().writer.durable_seq()
    }

    /// Whether two handles share one log.
    pub fn same(&self, other: &SessionLog) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The log's share of a sync round, after every session's
    /// [`SharedStore::prepare_sync`]: the ticket whose sync makes every record durable;
    /// `None` when nothing is pending, the policy is [`FsyncPolicy::Never`], or the log
    /// failed (then the sessions' flushes return the failure).
    pub fn begin_sync(&self) -> Option<SyncTicket> {
        let mut inner = self.lock();
        if inner.policy == FsyncPolicy::Never {
            return None;
        }
        match inner.writer.begin_sync() {
            Ok(ticket) => ticket,
            Err(e) => {
                tracing::error!(dir = %inner.dir.display(), error = %e, "FIX session log: sync round could not start");
                None
            }
        }
    }

    /// Takes the outcome of the ticket [`SessionLog::begin_sync`] returned (a failure
    /// poisons the log; each session with records it did not cover fails its next flush).
    pub fn finish_sync(&self, ticket: &SyncTicket, synced: std::io::Result<()>) {
        let mut inner = self.lock();
        match inner.writer.finish_sync(ticket, synced) {
            Ok(()) => inner.syncs += 1,
            Err(e) => {
                tracing::error!(dir = %inner.dir.display(), error = %e, "FIX session log: sync failed");
            }
        }
    }
}

/// One session's store on the shared [`SessionLog`].
#[derive(Debug)]
pub struct SharedStore {
    log: SessionLog,
    id: u32,
    key: String,
    /// Its [`RECORD_SESSION`] record is in the log.
    registered: bool,
    /// Sequence numbers as last written to the log.
    written: SeqNums,
    /// Sequence numbers as last saved (written at the next flush when they differ).
    seq: SeqNums,
    /// Wall and monotonic time of the last save, the times of the record a flush writes.
    seq_time: (UnixNanos, Nanos),
    /// The last record this session wrote (0: none since open).
    last_written: SeqNo,
    /// The last record counted in [`SessionStore::syncs`].
    counted: SeqNo,
    syncs: u64,
    /// A failed write in [`SharedStore::prepare_sync`], for the next flush.
    round_error: Option<StoreError>,
    index: Vec<(u64, SeqNo)>,
}

impl SharedStore {
    /// Its session key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The log it writes to.
    pub fn log(&self) -> &SessionLog {
        &self.log
    }

    /// The log's directory.
    pub fn dir(&self) -> PathBuf {
        self.log.dir()
    }

    /// Appends one record of `record_type` (naming the session first if it is new).
    fn write(
        &mut self,
        record_type: u16,
        seq: SeqNums,
        extra: &[&[u8]],
        wall: UnixNanos,
        now: Nanos,
    ) -> Result<SeqNo, StoreError> {
        let mut guard = self.log.lock();
        let inner = &mut *guard;
        if !self.registered {
            inner.payload.clear();
            inner.payload.extend_from_slice(&self.id.to_le_bytes());
            inner.payload.extend_from_slice(self.key.as_bytes());
            inner
                .writer
                .append(RECORD_SESSION, wall, &inner.payload, now)?;
            self.registered = true;
        }
        inner.payload.clear();
        inner.payload.extend_from_slice(&self.id.to_le_bytes());
        inner.payload.extend_from_slice(&seq.next_in.to_le_bytes());
        inner.payload.extend_from_slice(&seq.next_out.to_le_bytes());
        for part in extra {
            inner.payload.extend_from_slice(part);
        }
        let at = inner
            .writer
            .append(record_type, wall, &inner.payload, now)?;
        drop(guard);
        self.seq = seq;
        self.written = seq;
        self.last_written = at;
        Ok(at)
    }

    /// Writes the sequence numbers saved since the last write, if they changed.
    fn write_seq_nums(&mut self) -> Result<(), StoreError> {
        if self.seq != self.written {
            let (seq, (wall, now)) = (self.seq, self.seq_time);
            self.write(RECORD_LOG_SEQ_NUMS, seq, &[], wall, now)?;
        }
        Ok(())
    }

    /// This session's part of a sync round, before [`SessionLog::begin_sync`]: writes
    /// the coalesced sequence numbers. A failed write is kept for the next flush.
    pub fn prepare_sync(&mut self) {
        if self.round_error.is_none()
            && let Err(e) = self.write_seq_nums()
        {
            self.round_error = Some(e);
        }
    }

    /// The first stored outbound message (since the last reset) for which `ahead(frame)`
    /// holds: its MsgSeqNum and the log record just before it (what a cut keeps). Reads
    /// the whole session; for a check at start.
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

    /// The highest outbound MsgSeqNum whose record is on stable storage (0 if none).
    pub fn durable_out_seq(&self) -> u64 {
        let durable = self.log.durable_seq();
        let synced = self.index.partition_point(|&(_, at)| at <= durable);
        synced
            .checked_sub(1)
            .and_then(|i| self.index.get(i))
            .map_or(0, |&(msg_seq, _)| msg_seq)
    }
}

impl SessionStore for SharedStore {
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
            RECORD_LOG_OUTBOUND,
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
        // The last record this session stored: nothing of it lies past.
        let Some(&(_, until)) = self.index.last() else {
            return Ok(());
        };
        let dir = self.log.dir();
        let mut reader = JournalReader::open(&dir, from)?;
        while let Some(record) = reader.next()? {
            if record.seq > until {
                break;
            }
            if record.record_type != RECORD_LOG_OUTBOUND {
                continue;
            }
            let corrupt = |reason| StoreError::LogCorrupt {
                dir: dir.clone(),
                seq: record.seq.get(),
                session: self.key.clone(),
                reason,
            };
            let (id, body) = split_id(record.payload).ok_or_else(|| corrupt("no session id"))?;
            if id != self.id {
                continue;
            }
            let (msg_seq, frame) =
                read_outbound(body).ok_or_else(|| corrupt("outbound record too short"))?;
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
        self.write(RECORD_LOG_RESET, SeqNums::INITIAL, &[], wall, now)?;
        self.index.clear();
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if let Some(e) = self.round_error.take() {
            return Err(e);
        }
        self.write_seq_nums()?;
        let mut inner = self.log.lock();
        if inner.policy == FsyncPolicy::Never {
            return Ok(());
        }
        if self.last_written > inner.writer.durable_seq() {
            inner.writer.sync()?;
            inner.syncs += 1;
        }
        drop(inner);
        if self.last_written > self.counted {
            self.counted = self.last_written;
            self.syncs += 1;
        }
        Ok(())
    }

    fn syncs(&self) -> u64 {
        self.syncs
    }
}

#[cfg(test)]
mod tests;
