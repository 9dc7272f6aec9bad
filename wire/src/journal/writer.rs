//! The appending side: assigns sequence numbers, frames records, rolls segments, syncs.
//!
//! One writer per directory (not enforced by a lock: the application must not open two).
//! Time is an argument (`now` on [`JournalWriter::append`] and [`JournalWriter::poll`]);
//! the writer never reads a clock and never spawns a thread. Appends reuse one encode
//! buffer and issue one `write` call per record, so the steady state allocates nothing.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{JournalError, io_err};
use super::record::{
    MAX_PAYLOAD, RecordRef, SEGMENT_HEADER_LEN, SegmentHeader, emit_record, encoded_len,
};
use super::recovery::{RecoveryReport, recover};
use super::segment::segment_path;
use crate::units::{Nanos, SeqNo, UnixNanos};

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
    /// Never sync (the operating system writes back when it likes); for market data.
    Never,
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
    file: File,
    path: PathBuf,
    segment_first: SeqNo,
    segment_len: u64,
    next_seq: SeqNo,
    durable_seq: SeqNo,
    pending: u32,
    oldest_pending: Nanos,
    buf: Vec<u8>,
    poisoned: bool,
}

impl JournalWriter {
    /// Opens (creating if needed) the journal in `dir`, recovering its tail first.
    ///
    /// Sequence numbers continue after the last intact record, starting at 1 for a new
    /// journal. Everything recovered is synced before this returns, so it is durable.
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
        std::fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        let recovered = recover(&dir)?;
        let mut report = recovered.report;
        let (segment_first, path, file, segment_len) = match recovered.tail {
            Some((first, path, len)) => {
                let file = OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(io_err("open", &path))?;
                file.sync_all().map_err(io_err("fsync", &path))?;
                (first, path, file, len)
            }
            None => {
                let path = segment_path(&dir, recovered.next_seq);
                let file = create_segment(&dir, &path, recovered.next_seq, true)?;
                report.segments += 1;
                (recovered.next_seq, path, file, SEGMENT_HEADER_LEN as u64)
            }
        };
        let writer = JournalWriter {
            dir,
            config,
            file,
            path,
            segment_first,
            segment_len,
            next_seq: recovered.next_seq,
            durable_seq: SeqNo(recovered.next_seq.get().saturating_sub(1)),
            pending: 0,
            oldest_pending: Nanos::ZERO,
            buf: Vec::with_capacity(4096),
            poisoned: false,
        };
        Ok((writer, report))
    }

    /// Appends one record; returns its sequence number.
    ///
    /// Under [`FsyncPolicy::EveryRecord`] the record is on stable storage when this
    /// returns. Any I/O error poisons the writer (see [`JournalError::Poisoned`]).
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
        let has_records = self.segment_len > SEGMENT_HEADER_LEN as u64;
        if has_records && self.segment_len + record_len > self.config.segment_bytes {
            self.guard(Self::roll)?;
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
        let (file, buf, path) = (&mut self.file, &self.buf, &self.path);
        if let Err(e) = file.write_all(buf) {
            self.poisoned = true;
            return Err(io_err("write", path)(e));
        }
        self.segment_len += record_len;
        self.next_seq = seq.next();
        match self.config.fsync {
            FsyncPolicy::EveryRecord => self.sync()?,
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
    pub fn sync(&mut self) -> Result<(), JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned);
        }
        let last = SeqNo(self.next_seq.get().saturating_sub(1));
        if self.durable_seq == last {
            return Ok(());
        }
        self.guard(|w| w.file.sync_data().map_err(io_err("fsync", &w.path)))?;
        self.durable_seq = last;
        self.pending = 0;
        Ok(())
    }

    /// The highest sequence number known to be on stable storage.
    pub fn durable_seq(&self) -> SeqNo {
        self.durable_seq
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
        (&self.path, self.segment_first)
    }

    /// True when a sync due at `now` (older than `max_delay`) is pending.
    fn batch_expired(&self, now: Nanos, max_delay: Duration) -> bool {
        now.saturating_sub(self.oldest_pending) >= Nanos::from(max_delay)
    }

    /// Closes the current segment (synced unless the policy is `Never`) and starts the next.
    fn roll(&mut self) -> Result<(), JournalError> {
        let durable = self.config.fsync != FsyncPolicy::Never;
        if durable {
            self.sync()?;
        }
        let path = segment_path(&self.dir, self.next_seq);
        self.file = create_segment(&self.dir, &path, self.next_seq, durable)?;
        self.path = path;
        self.segment_first = self.next_seq;
        self.segment_len = SEGMENT_HEADER_LEN as u64;
        Ok(())
    }

    /// Runs `op`, poisoning the writer if it fails.
    fn guard(
        &mut self,
        op: impl FnOnce(&mut Self) -> Result<(), JournalError>,
    ) -> Result<(), JournalError> {
        let result = op(self);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }
}

/// Creates a new segment file with its header; with `durable`, syncs it and the directory.
fn create_segment(
    dir: &Path,
    path: &Path,
    first_seq: SeqNo,
    durable: bool,
) -> Result<File, JournalError> {
    let mut file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(path)
        .map_err(io_err("create segment", path))?;
    file.write_all(&SegmentHeader { first_seq }.emit())
        .map_err(io_err("write segment header", path))?;
    if durable {
        file.sync_all().map_err(io_err("fsync", path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync directory", dir))?;
    }
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
    }
}
