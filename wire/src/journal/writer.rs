//! The appending side: assigns sequence numbers, frames records, rolls segments, syncs.
//!
//! One writer per directory (not enforced by a lock: the application must not open two).
//! Time is an argument (`now` on [`JournalWriter::append`] and [`JournalWriter::poll`]);
//! the writer never reads a clock and never spawns a thread. Appends reuse one encode
//! buffer and issue one positioned `write` per record, so the steady state allocates
//! nothing.
//!
//! # Syncs
//!
//! Every sync (by policy, [`JournalWriter::sync`], a roll, or [`JournalWriter::close`])
//! appends a commit mark for the last record, calls `fdatasync`, and then rewrites the
//! segment header's durable boundary in place (it reaches the disk with the next sync, so
//! on disk it may lag but never claims bytes that were not synced). A roll always syncs,
//! under every policy, and seals the old segment only after the new one is durable.
//!
//! # Errors
//!
//! A failed `write` (disk full, EIO) cuts the file back to the last record boundary and
//! returns the I/O error ([`JournalError::is_disk_full`]); the writer stays usable and a
//! later append succeeds when space returns. A failed append leaves no record behind.
//! If the commit mark of a sync cannot be written, every record after
//! [`JournalWriter::durable_seq`] is discarded (`next_seq` returns to `durable_seq + 1`),
//! so an owner that rejects those records never sees them again. A failed `fdatasync`
//! poisons the writer (after it the page cache's state is unknown):
//! [`JournalWriter::reopen`] cuts the unsynced bytes (keeping a copy) and reruns recovery.

use std::fs::{DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::error::{JournalError, io_err};
use super::identity::{FILE_MODE, begin_create, finish_create, sync_dir};
use super::record::{
    MARK_LEN, MAX_PAYLOAD, RecordRef, SEGMENT_HEADER_LEN, SegmentHeader, emit_mark, emit_record,
    encoded_len,
};
use super::recovery::{RecoveryReport, Tail, cut_with_copy, recover};
use super::segment::segment_path;
use crate::units::{Nanos, SeqNo, UnixNanos};

/// Mode of a journal directory the writer creates.
const DIR_MODE: u32 = 0o700;
/// When appended records are forced to stable storage (`fdatasync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Sync before every `append` returns: a returned sequence number survives a crash.
    EveryRecord,
    /// Sync once `max_records` are pending, or when the oldest pending record is older
    /// than `max_delay` at the next `append` or `poll`.
    Batched {
        /// Pending records that trigger a sync (at least 1).
        max_records: u32,
        /// Age of the oldest pending record that triggers a sync.
        max_delay: Duration,
    },
    /// Sync only on an explicit [`JournalWriter::sync`]/[`JournalWriter::close`] and at a
    /// segment roll (the operating system writes back when it likes); for market data.
    Never,
}

/// One journal's share of a sync round: the `fdatasync` that makes the records up to
/// [`SyncTicket::last`] durable, runnable on any thread (see
/// [`JournalWriter::begin_sync`]). Holds the segment open; allocates nothing.
#[derive(Debug, Clone)]
pub struct SyncTicket {
    file: Arc<File>,
    last: SeqNo,
}

impl SyncTicket {
    /// Runs the `fdatasync`; hand the outcome to [`JournalWriter::finish_sync`].
    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// The last record the sync covers.
    pub fn last(&self) -> SeqNo {
        self.last
    }
}

/// Journal writer settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    /// Segment size at which the writer rolls to a new file (a record never spans files;
    /// a record larger than this gets a segment of its own).
    pub segment_bytes: u64,
    /// When records are synced.
    pub fsync: FsyncPolicy,
}

impl Default for JournalConfig {
    /// 64 MiB segments, sync on every record.
    fn default() -> Self {
        JournalConfig {
            segment_bytes: 64 << 20,
            fsync: FsyncPolicy::EveryRecord,
        }
    }
}

/// The single writer of a journal directory.
#[derive(Debug)]
pub struct JournalWriter {
    dir: PathBuf,
    config: JournalConfig,
    /// Shared with the [`SyncTicket`]s of a sync round (see [`JournalWriter::begin_sync`]).
    file: Arc<File>,
    path: PathBuf,
    /// The current segment's header as last written.
    header: SegmentHeader,
    /// Bytes of valid data in the current segment.
    segment_len: u64,
    /// Length of the current segment covered by the last successful sync.
    synced_len: u64,
    /// File offset just past the last record appended to the current segment.
    last_record_end: u64,
    next_seq: SeqNo,
    durable_seq: SeqNo,
    pending: u32,
    oldest_pending: Nanos,
    buf: Vec<u8>,
    poisoned: bool,
    sync_count: u64,
    /// File offset up to which the current segment's blocks are reserved (`fallocate`
    /// with KEEP_SIZE), so writes below it cannot fail for want of space.
    reserved_end: u64,
    /// The last reservation failed for want of space: see [`JournalWriter::has_headroom`].
    low_space: bool,
}

/// Space kept reserved past the end of the data: room for the venue's answers to work
/// already accepted and for commit marks, when the disk is otherwise full.
const HEADROOM: u64 = 16 << 10;
/// How far a reservation reaches when the disk has room.
const RESERVE_CHUNK: u64 = 1 << 20;

impl JournalWriter {
    /// Opens (creating if needed) the journal in `dir`, recovering it first.
    ///
    /// Sequence numbers continue after the last intact record, starting at 1 for a new
    /// journal. Everything recovered is synced before this returns, so it is durable.
    /// Damage that recovery may not repair is [`JournalError::Damaged`].
    pub fn open(
        dir: impl AsRef<Path>,
        config: JournalConfig,
    ) -> Result<(JournalWriter, RecoveryReport), JournalError> {
        if config.segment_bytes == 0 {
            return Err(JournalError::InvalidConfig(
                "segment_bytes must be positive",
            ));
        }
        if matches!(config.fsync, FsyncPolicy::Batched { max_records: 0, .. }) {
            return Err(JournalError::InvalidConfig(
                "Batched max_records must be at least 1",
            ));
        }
        let dir = dir.as_ref().to_path_buf();
        let dir_mode_too_open = prepare_dir(&dir)?;
        let recovered = recover(&dir)?;
        let mut report = recovered.report;
        report.dir_mode_too_open = dir_mode_too_open;
        let tail = match recovered.tail {
            Some(tail) => {
                if recovered.finish_identity {
                    finish_create(&dir)?;
                }
                tail
            }
            None => {
                begin_create(&dir)?;
                let first = SeqNo(1);
                let path = segment_path(&dir, first);
                drop(create_segment(&dir, &path, first)?);
                finish_create(&dir)?;
                report.segments += 1;
                Tail {
                    first_seq: first,
                    path,
                    len: SEGMENT_HEADER_LEN as u64,
                    last_seq: SeqNo::NONE,
                    last_record_end: SEGMENT_HEADER_LEN as u64,
                }
            }
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&tail.path)
            .map_err(io_err("open", &tail.path))?;
        let header = SegmentHeader {
            durable_seq: tail.last_seq,
            durable_end: tail.last_record_end,
            ..SegmentHeader::new(tail.first_seq)
        };
        file.write_all_at(&header.emit(), 0)
            .map_err(io_err("write segment header", &tail.path))?;
        file.sync_all().map_err(io_err("fsync", &tail.path))?;
        let writer = JournalWriter {
            dir,
            config,
            file: Arc::new(file),
            path: tail.path,
            header,
            segment_len: tail.len,
            synced_len: tail.len,
            last_record_end: tail.last_record_end,
            next_seq: recovered.next_seq,
            durable_seq: SeqNo(recovered.next_seq.get().saturating_sub(1)),
            pending: 0,
            oldest_pending: Nanos::ZERO,
            buf: Vec::with_capacity(4096),
            poisoned: false,
            sync_count: 0,
            reserved_end: 0,
            low_space: false,
        };
        let mut writer = writer;
        writer.reserve();
        Ok((writer, report))
    }

    /// Reopens the journal after an error: cuts the bytes written since the last
    /// successful sync (never acknowledged; a copy is kept beside the segment) and reruns
    /// recovery. The way out of [`JournalError::Poisoned`].
    pub fn reopen(&mut self) -> Result<RecoveryReport, JournalError> {
        cut_with_copy(&self.path, self.synced_len, self.durable_seq.next())?;
        let (writer, report) = JournalWriter::open(&self.dir, self.config)?;
        *self = writer;
        Ok(report)
    }

    /// Appends one record; returns its sequence number.
    ///
    /// Under [`FsyncPolicy::EveryRecord`] the record is on stable storage when this
    /// returns. On error no record is left behind (see the module docs for what a failed
    /// sync inside an append discards).
    pub fn append(
        &mut self,
        record_type: u16,
        ts: UnixNanos,
        payload: &[u8],
        now: Nanos,
    ) -> Result<SeqNo, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned);
        }
        if payload.len() > MAX_PAYLOAD {
            return Err(JournalError::PayloadTooLarge {
                len: payload.len(),
                max: MAX_PAYLOAD,
            });
        }
        let seq = self.next_seq;
        let record_len = encoded_len(payload.len()) as u64;
        let has_records = self.last_record_end > SEGMENT_HEADER_LEN as u64;
        // Room for the record and the commit mark that will follow it.
        let needed = record_len + MARK_LEN as u64;
        if has_records && self.segment_len + needed > self.config.segment_bytes {
            self.roll()?;
        }
        self.buf.clear();
        let record = RecordRef {
            record_type,
            seq,
            timestamp: ts,
            payload,
        };
        emit_record(&mut self.buf, &record).map_err(|_| JournalError::PayloadTooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD,
        })?;
        let every_record = self.config.fsync == FsyncPolicy::EveryRecord;
        if every_record {
            emit_mark(&mut self.buf, seq);
        }
        let at = self.segment_len;
        if let Err(e) = self.file.write_all_at(&self.buf, at) {
            self.cut_back(at)?;
            return Err(io_err("write", &self.path)(e));
        }
        self.segment_len = at + self.buf.len() as u64;
        self.last_record_end = at + record_len;
        self.next_seq = seq.next();
        if self.reserved_end < self.segment_len + HEADROOM {
            self.reserve();
        }
        match self.config.fsync {
            FsyncPolicy::EveryRecord => self.commit(seq)?,
            FsyncPolicy::Batched {
                max_records,
                max_delay,
            } => {
                if self.pending == 0 {
                    self.oldest_pending = now;
                }
                self.pending += 1;
                if self.pending >= max_records || self.batch_expired(now, max_delay) {
                    self.sync()?;
                }
            }
            FsyncPolicy::Never => {}
        }
        Ok(seq)
    }

    /// Syncs pending records if the `Batched` delay has passed at `now`; true if it synced.
    pub fn poll(&mut self, now: Nanos) -> Result<bool, JournalError> {
        match self.config.fsync {
            FsyncPolicy::Batched { max_delay, .. }
                if self.pending > 0 && self.batch_expired(now, max_delay) =>
            {
                self.sync()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// When `poll` will next have work: the deadline of the oldest pending record.
    pub fn poll_timeout(&self) -> Option<Nanos> {
        match self.config.fsync {
            FsyncPolicy::Batched { max_delay, .. } if self.pending > 0 => {
                Some(self.oldest_pending.saturating_add(max_delay))
            }
            _ => None,
        }
    }

    /// Forces every appended record to stable storage (under any policy).
    ///
    /// Writes a commit mark, syncs, then records the durable boundary in the header.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        match self.begin_sync()? {
            Some(ticket) => {
                let synced = ticket.sync();
                self.finish_sync(&ticket, synced)
            }
            None => Ok(()),
        }
    }

    /// The first half of [`sync`](Self::sync), for a caller that syncs several journals
    /// at once: writes the commit mark and returns the ticket whose
    /// [`SyncTicket::sync`] (on any thread) makes the records durable; `None` when every
    /// record is durable already. Append nothing until [`finish_sync`](Self::finish_sync)
    /// got the outcome. A failed mark write discards the records after
    /// [`durable_seq`](Self::durable_seq), as a failed [`sync`](Self::sync) does.
    pub fn begin_sync(&mut self) -> Result<Option<SyncTicket>, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned);
        }
        let last = SeqNo(self.next_seq.get().saturating_sub(1));
        if self.durable_seq == last {
            return Ok(None);
        }
        self.buf.clear();
        emit_mark(&mut self.buf, last);
        let at = self.segment_len;
        if let Err(e) = self.file.write_all_at(&self.buf, at) {
            self.cut_back(self.synced_len)?;
            self.segment_len = self.synced_len;
            self.last_record_end = self.header.durable_end;
            self.next_seq = self.durable_seq.next();
            self.pending = 0;
            return Err(io_err("write", &self.path)(e));
        }
        self.segment_len = at + MARK_LEN as u64;
        Ok(Some(SyncTicket {
            file: Arc::clone(&self.file),
            last,
        }))
    }

    /// The second half of [`sync`](Self::sync): takes the outcome of `ticket`'s
    /// [`SyncTicket::sync`]. Success records the durable boundary; a failure poisons the
    /// writer (see [`reopen`](Self::reopen)) and is returned.
    pub fn finish_sync(
        &mut self,
        ticket: &SyncTicket,
        synced: std::io::Result<()>,
    ) -> Result<(), JournalError> {
        if !Arc::ptr_eq(&ticket.file, &self.file) || ticket.last.next() != self.next_seq {
            self.poisoned = true;
            return Err(JournalError::StaleTicket);
        }
        if let Err(e) = synced {
            self.poisoned = true;
            return Err(io_err("fsync", &self.path)(e));
        }
        self.committed(ticket.last)
    }

    /// Syncs, then marks the segment header as cleanly closed. The writer stays usable
    /// (a later sync clears the mark); call this on shutdown.
    pub fn close(&mut self) -> Result<(), JournalError> {
        self.sync()?;
        let closed = SegmentHeader {
            closed: true,
            ..self.header
        };
        self.write_header(&closed)?;
        self.file
            .sync_data()
            .map_err(io_err("fsync", &self.path))
            .inspect_err(|_| self.poisoned = true)?;
        self.header = closed;
        Ok(())
    }

    /// The highest sequence number known to be on stable storage.
    pub fn durable_seq(&self) -> SeqNo {
        self.durable_seq
    }

    /// Completed syncs (`fdatasync` calls that covered new records) since open: with
    /// [`durable_seq`](Self::durable_seq), lets tests check that nothing is released
    /// before the sync that covers it.
    pub fn sync_count(&self) -> u64 {
        self.sync_count
    }

    /// True after a failed sync; see [`reopen`](Self::reopen).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// The sequence number the next append will get.
    pub fn next_seq(&self) -> SeqNo {
        self.next_seq
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segment file currently appended to, and the sequence number it starts at.
    pub fn current_segment(&self) -> (&Path, SeqNo) {
        (&self.path, self.header.first_seq)
    }

    /// True when a sync due at `now` (older than `max_delay`) is pending.
    fn batch_expired(&self, now: Nanos, max_delay: Duration) -> bool {
        now.saturating_sub(self.oldest_pending) >= Nanos::from(max_delay)
    }

    /// `fdatasync`s the mark just written for `last`, then records the boundary.
    fn commit(&mut self, last: SeqNo) -> Result<(), JournalError> {
        if let Err(e) = self.file.sync_data() {
            self.poisoned = true;
            return Err(io_err("fsync", &self.path)(e));
        }
        self.committed(last)
    }

    /// Records that everything up to `last` (and its mark) is on stable storage.
    fn committed(&mut self, last: SeqNo) -> Result<(), JournalError> {
        self.durable_seq = last;
        self.synced_len = self.segment_len;
        self.pending = 0;
        self.sync_count += 1;
        let header = SegmentHeader {
            durable_seq: last,
            durable_end: self.last_record_end,
            closed: false,
            ..self.header
        };
        self.write_header(&header)?;
        self.header = header;
        Ok(())
    }

    /// Writes `header` at offset 0 (not synced); a failure poisons the writer.
    fn write_header(&mut self, header: &SegmentHeader) -> Result<(), JournalError> {
        self.file
            .write_all_at(&header.emit(), 0)
            .map_err(io_err("write segment header", &self.path))
            .inspect_err(|_| self.poisoned = true)
    }

    /// Cuts the current segment back to `len` after a failed write; poisons if it cannot.
    fn cut_back(&mut self, len: u64) -> Result<(), JournalError> {
        self.file
            .set_len(len)
            .map_err(io_err("truncate", &self.path))
            .inspect_err(|_| self.poisoned = true)
    }

    /// Syncs the current segment, creates the next one, then seals the current one.
    fn roll(&mut self) -> Result<(), JournalError> {
        self.sync()?;
        let first = self.next_seq;
        let path = segment_path(&self.dir, first);
        let file = match create_segment(&self.dir, &path, first) {
            Ok(file) => file,
            Err(e) => {
                // A half-created successor would contradict the records still to come here
                // (a file that already existed is not ours to remove).
                if e.io_kind() != Some(std::io::ErrorKind::AlreadyExists) && path.exists() {
                    std::fs::remove_file(&path)
                        .map_err(io_err("remove", &path))
                        .inspect_err(|_| self.poisoned = true)?;
                }
                return Err(e);
            }
        };
        let sealed = SegmentHeader {
            rolled: true,
            closed: false,
            ..self.header
        };
        self.write_header(&sealed)?;
        if let Err(e) = self.file.sync_data() {
            self.poisoned = true;
            return Err(io_err("fsync", &self.path)(e));
        }
        self.file = Arc::new(file);
        self.path = path;
        self.header = SegmentHeader::new(first);
        self.segment_len = SEGMENT_HEADER_LEN as u64;
        self.synced_len = self.segment_len;
        self.last_record_end = self.segment_len;
        self.reserved_end = 0;
        self.reserve();
        Ok(())
    }

    /// Reserves the current segment's blocks up to [`RESERVE_CHUNK`] past the data
    /// (capped at the segment's size plus [`HEADROOM`]), or at least [`HEADROOM`] past it
    /// when the disk is nearly full; sets `low_space` when even that fails. A file system
    /// without `fallocate` gets no reservation (writes may then fail as before).
    fn reserve(&mut self) {
        let limit = self.config.segment_bytes.saturating_add(HEADROOM);
        let want = self.segment_len.saturating_add(RESERVE_CHUNK).min(limit);
        let least = self.segment_len.saturating_add(HEADROOM);
        for end in [want.max(least), least] {
            let from = self.reserved_end.max(self.segment_len);
            if end <= from {
                self.low_space = false;
                return;
            }
            match rustix::fs::fallocate(
                &*self.file,
                rustix::fs::FallocateFlags::KEEP_SIZE,
                from,
                end - from,
            ) {
                Ok(()) => {
                    self.reserved_end = end;
                    if self.low_space {
                        tracing::info!(segment = %self.path.display(), "journal headroom reserved again");
                    }
                    self.low_space = false;
                    return;
                }
                Err(rustix::io::Errno::NOSPC | rustix::io::Errno::DQUOT) => {}
                Err(e) => {
                    tracing::debug!(segment = %self.path.display(), error = %e, "no space reservation on this file system");
                    self.reserved_end = u64::MAX;
                    self.low_space = false;
                    return;
                }
            }
        }
        if !self.low_space {
            tracing::warn!(
                segment = %self.path.display(),
                headroom = HEADROOM,
                "journal cannot reserve headroom: the disk is nearly full"
            );
        }
        self.low_space = true;
    }

    /// Whether the journal holds 16 KiB ([`HEADROOM`]) of reserved space past its data, trying
    /// to reserve it again if it did not. Take new work (orders) only while this is true:
    /// the headroom is for the records that work already accepted will still need (the
    /// venue's answers, commit marks), so they never meet a full disk.
    pub fn has_headroom(&mut self) -> bool {
        if self.poisoned {
            return false;
        }
        if self.reserved_end < self.segment_len.saturating_add(HEADROOM) {
            self.reserve();
        }
        !self.low_space
    }
}

/// Creates `dir` (mode 0700) if missing; returns its mode if it exists and is open to
/// group or others (logged, left as is: the operator may share it on purpose).
fn prepare_dir(dir: &Path) -> Result<Option<u32>, JournalError> {
    match std::fs::metadata(dir) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    dir = %dir.display(),
                    mode = format_args!("{mode:o}"),
                    "journal directory is accessible to group or others (expected 0700)"
                );
                return Ok(Some(mode));
            }
            Ok(None)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)
                .map_err(io_err("create directory", dir))?;
            Ok(None)
        }
        Err(e) => Err(io_err("stat", dir)(e)),
    }
}

/// Creates a new segment file (mode 0600) with its header; syncs it and the directory.
fn create_segment(dir: &Path, path: &Path, first_seq: SeqNo) -> Result<File, JournalError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(io_err("create segment", path))?;
    file.write_all_at(&SegmentHeader::new(first_seq).emit(), 0)
        .map_err(io_err("write segment header", path))?;
    file.sync_all().map_err(io_err("fsync", path))?;
    sync_dir(dir)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batched_writer(dir: &Path) -> JournalWriter {
        let policy = FsyncPolicy::Batched {
            max_records: 100,
            max_delay: Duration::from_micros(10),
        };
        let config = JournalConfig {
            segment_bytes: 1 << 20,
            fsync: policy,
        };
        JournalWriter::open(dir, config).unwrap().0
    }

    #[test]
    fn batch_deadline_follows_the_oldest_pending_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = batched_writer(dir.path());
        assert_eq!(w.poll_timeout(), None);
        w.append(1, UnixNanos(0), b"a", Nanos(1_000)).unwrap();
        w.append(1, UnixNanos(0), b"b", Nanos(5_000)).unwrap();
        assert_eq!(w.poll_timeout(), Some(Nanos(11_000)));
        assert!(!w.batch_expired(Nanos(10_999), Duration::from_micros(10)));
        assert!(w.batch_expired(Nanos(11_000), Duration::from_micros(10)));
        assert!(w.poll(Nanos(11_000)).unwrap());
        assert_eq!(
            (w.durable_seq(), w.pending, w.poll_timeout()),
            (SeqNo(2), 0, None)
        );
    }

    #[test]
    fn roll_starts_a_segment_named_for_the_next_seq() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = batched_writer(dir.path());
        w.append(1, UnixNanos(0), b"x", Nanos(0)).unwrap();
        w.roll().unwrap();
        assert_eq!(w.durable_seq(), SeqNo(1), "a roll syncs the closed segment");
        assert_eq!(
            w.current_segment(),
            (segment_path(dir.path(), SeqNo(2)).as_path(), SeqNo(2))
        );
        assert_eq!(w.segment_len, SEGMENT_HEADER_LEN as u64);
        assert_eq!(w.sync_count(), 1);
    }
}
