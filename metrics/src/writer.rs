//! [`CountersFile`]: creates a counters file and registers metrics in it at start;
//! [`Counter`], [`Gauge`] and [`Histogram`] record into it.
//!
//! Registration may allocate and fail (the file is full, a name is invalid). Recording
//! is a load and a store of the slot's own word (`Release`, Aeron's ordered put): no
//! lock, no allocation, no read-modify-write instruction. Each handle is the only writer
//! of its slots: handles are neither `Clone` nor shared, and record through `&mut self`,
//! so each value has exactly one writing thread.
//!
//! What this module must not do: read a clock (the caller passes times), or allocate or
//! lock when recording.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::layout::{self, Kind};
use crate::map::Region;
use crate::reader::{Liveness, liveness, read_header_pid};
use crate::{COUNTERS_FILE, MetricsError};

/// Who writes a counters file (stored in its header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// The writer's PID.
    pub pid: u32,
    /// When it started, Unix nanoseconds.
    pub start_unix_nanos: u64,
    /// A short name (at most 56 bytes are kept), e.g. "tickwarp gateway".
    pub name: String,
}

/// A counters file being written (see the module docs).
#[derive(Debug)]
pub struct CountersFile {
    region: Arc<Region>,
    path: PathBuf,
    capacity: usize,
    next: usize,
    families: Vec<String>,
}

impl CountersFile {
    /// Creates `dir/tickwarp.counters` with room for `capacity` slots, replacing a file
    /// left by a process that is gone. A file that a running process still maps is
    /// refused ([`MetricsError::InUse`]): two processes must not share a run directory.
    pub fn create(dir: &Path, info: &ProcessInfo, capacity: usize) -> Result<Self, MetricsError> {
        if capacity == 0 || capacity > layout::MAX_SLOTS {
            return Err(MetricsError::Capacity(capacity));
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| MetricsError::Io { path, source }
        };
        fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(COUNTERS_FILE);
        if let Some(pid) = read_header_pid(&path) {
            if pid != info.pid && liveness(pid, &path) == Liveness::Running {
                return Err(MetricsError::InUse { path, pid });
            }
        }
        // A new file renamed over the old one: a reader of the old one keeps a
        // consistent (stale) view instead of seeing it change under it.
        let tmp = dir.join(format!("{COUNTERS_FILE}.{}.tmp", info.pid));
        let words = layout::file_words(capacity);
        let file: File = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        file.set_len((words * 8) as u64).map_err(io(&tmp))?;
        let region = Region::writable(&file, words).map_err(io(&tmp))?;
        let w = region.words();
        let set = |ix: usize, v: u64| {
            if let Some(word) = w.get(ix) {
                word.store(v, Ordering::Relaxed);
            }
        };
        set(layout::H_VERSION, layout::VERSION);
        set(layout::H_CAPACITY, capacity as u64);
        set(layout::H_METADATA_BYTES, layout::METADATA_BYTES as u64);
        set(layout::H_VALUE_BYTES, layout::VALUE_BYTES as u64);
        set(layout::H_PID, u64::from(info.pid));
        set(layout::H_START, info.start_unix_nanos);
        set(layout::H_REGISTERED, 0);
        set(layout::H_STATE, layout::STATE_RUNNING);
        let mut name = [0u64; layout::HEADER_WORDS - layout::H_NAME];
        layout::pack(truncated(&info.name, layout::NAME_BYTES), &mut name);
        for (i, v) in name.iter().enumerate() {
            set(layout::H_NAME + i, *v);
        }
        if let Some(magic) = w.get(layout::H_MAGIC) {
            magic.store(layout::MAGIC, Ordering::Release);
        }
        fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(CountersFile {
            region: Arc::new(region),
            path,
            capacity,
            next: 0,
            families: Vec::new(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Slots registered so far.
    pub fn registered(&self) -> usize {
        self.next
    }

    /// Registers a counter `name{labels}` (labels as `[("key", "value")]`).
    pub fn counter(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        help: &str,
    ) -> Result<Counter, MetricsError> {
        let family = self.family(name)?;
        let slot = self.register(Kind::Counter, family, 0, name, labels, help)?;
        Ok(Counter(Slot::new(&self.region, self.capacity, slot)))
    }

    /// Registers a gauge `name{labels}`.
    pub fn gauge(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        help: &str,
    ) -> Result<Gauge, MetricsError> {
        let family = self.family(name)?;
        let slot = self.register(Kind::Gauge, family, 0, name, labels, help)?;
        Ok(Gauge(Slot::new(&self.region, self.capacity, slot)))
    }

    /// Registers a latency histogram `name{labels}` over [`layout::BUCKET_BOUNDS_NS`]:
    /// one slot per bucket, then the sum (ns) and the count. `name` is what the exporter
    /// shows, in seconds (e.g. `tickwarp_journal_sync_seconds`).
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        help: &str,
    ) -> Result<Histogram, MetricsError> {
        if self.next + layout::BUCKETS + 2 > self.capacity {
            return Err(MetricsError::Full {
                capacity: self.capacity,
            });
        }
        let family = self.family(name)?;
        let mut buckets = [0usize; layout::BUCKETS];
        for (i, b) in buckets.iter_mut().enumerate() {
            let le = layout::bucket_bound(i);
            let slot = self.register(Kind::HistogramBucket, family, le, name, labels, help)?;
            *b = layout::value_word(self.capacity, slot);
        }
        let sum = self.register(Kind::HistogramSum, family, 0, name, labels, help)?;
        let count = self.register(Kind::HistogramCount, family, 0, name, labels, help)?;
        Ok(Histogram {
            region: Arc::clone(&self.region),
            buckets,
            sum: layout::value_word(self.capacity, sum),
            count: layout::value_word(self.capacity, count),
        })
    }

    /// Marks the file closed (its writer is done); readers then say so. Values stay.
    pub fn close(&self) {
        if let Some(state) = self.region.words().get(layout::H_STATE) {
            state.store(layout::STATE_CLOSED, Ordering::Release);
        }
    }

    /// The family id of `name` (slots of one family share it).
    fn family(&mut self, name: &str) -> Result<u64, MetricsError> {
        if !layout::valid_name(name) || name.len() > layout::M_NAME_BYTES {
            return Err(MetricsError::Name(name.to_owned()));
        }
        let ix = match self.families.iter().position(|f| f == name) {
            Some(ix) => ix,
            None => {
                self.families.push(name.to_owned());
                self.families.len() - 1
            }
        };
        Ok(ix as u64)
    }

    /// Writes one slot's metadata and publishes it; returns the slot.
    fn register(
        &mut self,
        kind: Kind,
        family: u64,
        le: u64,
        name: &str,
        labels: &[(&str, &str)],
        help: &str,
    ) -> Result<usize, MetricsError> {
        let slot = self.next;
        if slot >= self.capacity {
            return Err(MetricsError::Full {
                capacity: self.capacity,
            });
        }
        let mut text = String::new();
        for (k, v) in labels {
            if !layout::valid_label_key(k) || !layout::valid_label_value(v) {
                return Err(MetricsError::Label(format!("{k}={v}")));
            }
            if !text.is_empty() {
                text.push(',');
            }
            text.push_str(k);
            text.push('=');
            text.push_str(v);
        }
        if text.len() > layout::M_LABELS_BYTES {
            return Err(MetricsError::Label(text));
        }
        let help = truncated(help, layout::M_HELP_BYTES);
        let base = layout::metadata_word(slot);
        let mut meta = [0u64; layout::METADATA_WORDS];
        meta[layout::M_STATE] = 0;
        meta[layout::M_KIND] = kind.code();
        meta[layout::M_FAMILY] = family;
        meta[layout::M_LE] = le;
        meta[layout::M_LENGTHS] =
            name.len() as u64 | (text.len() as u64) << 16 | (help.len() as u64) << 32;
        layout::pack(name.as_bytes(), &mut meta[layout::M_NAME..layout::M_LABELS]);
        layout::pack(text.as_bytes(), &mut meta[layout::M_LABELS..layout::M_HELP]);
        layout::pack(help, &mut meta[layout::M_HELP..]);
        let words = self.region.words();
        for (i, v) in meta.iter().enumerate() {
            if let Some(w) = words.get(base + i) {
                w.store(*v, Ordering::Relaxed);
            }
        }
        if let Some(w) = words.get(layout::value_word(self.capacity, slot)) {
            w.store(0, Ordering::Relaxed);
        }
        if let Some(state) = words.get(base + layout::M_STATE) {
            state.store(layout::SLOT_REGISTERED, Ordering::Release);
        }
        self.next += 1;
        if let Some(n) = words.get(layout::H_REGISTERED) {
            n.store(self.next as u64, Ordering::Release);
        }
        Ok(slot)
    }
}

impl Drop for CountersFile {
    fn drop(&mut self) {
        self.close();
    }
}

/// At most `max` bytes of `s`, cut on a character boundary.
fn truncated(s: &str, max: usize) -> &[u8] {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.as_bytes().get(..end).unwrap_or_default()
}

/// One value word, owned by one handle.
#[derive(Debug)]
struct Slot {
    region: Arc<Region>,
    word: usize,
}

impl Slot {
    fn new(region: &Arc<Region>, capacity: usize, slot: usize) -> Slot {
        Slot {
            region: Arc::clone(region),
            word: layout::value_word(capacity, slot),
        }
    }

    fn word(&self) -> Option<&AtomicU64> {
        self.region.words().get(self.word)
    }
}

/// Adds `n` to the word at `ix` (single writer: a load and a `Release` store).
fn add_at(region: &Region, ix: usize, n: u64) {
    if let Some(w) = region.words().get(ix) {
        w.store(w.load(Ordering::Relaxed).wrapping_add(n), Ordering::Release);
    }
}

/// A counter: only grows.
#[derive(Debug)]
pub struct Counter(Slot);

impl Counter {
    /// Adds one.
    pub fn inc(&mut self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&mut self, n: u64) {
        add_at(&self.0.region, self.0.word, n);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.word().map_or(0, |w| w.load(Ordering::Relaxed))
    }
}

/// A gauge: the current value of something.
#[derive(Debug)]
pub struct Gauge(Slot);

impl Gauge {
    /// Sets the value.
    pub fn set(&mut self, v: u64) {
        if let Some(w) = self.0.word() {
            w.store(v, Ordering::Release);
        }
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.word().map_or(0, |w| w.load(Ordering::Relaxed))
    }
}

/// A latency histogram over fixed buckets (see [`CountersFile::histogram`]).
#[derive(Debug)]
pub struct Histogram {
    region: Arc<Region>,
    buckets: [usize; layout::BUCKETS],
    sum: usize,
    count: usize,
}

impl Histogram {
    /// Records one observation of `nanos`.
    pub fn record(&mut self, nanos: u64) {
        self.record_n(nanos, 1);
    }

    /// Records `n` observations of `nanos` each.
    pub fn record_n(&mut self, nanos: u64, n: u64) {
        if n == 0 {
            return;
        }
        let bucket = self.buckets.get(layout::bucket_of(nanos)).copied();
        if let Some(ix) = bucket {
            add_at(&self.region, ix, n);
        }
        add_at(&self.region, self.sum, nanos.saturating_mul(n));
        add_at(&self.region, self.count, n);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.region
            .words()
            .get(self.count)
            .map_or(0, |w| w.load(Ordering::Relaxed))
    }
}
