//! The read side: [`CountersReader`] maps a counters file read-only (from another
//! process, or the exporter thread of the writing one) and takes [`Snapshot`]s; [`find`]
//! locates the file of a run directory or a PID; [`liveness`] tells whether its writer
//! still runs.
//!
//! The file is input from outside: [`parse`] checks every header field, length and
//! name before use, and a file of the wrong size, magic, version or shape gives a
//! [`MetricsError::Corrupt`] saying what is wrong, never a panic. It copies the words
//! first, so a snapshot is one pass over the mapping and its parsing never touches the
//! mapping again.
//!
//! What this module must not do: write to a counters file, or trust a length it read.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use serde::Serialize;

use crate::layout::{self, Kind};
use crate::map::Region;
use crate::{COUNTERS_FILE, MetricsError};

/// Whether a file's writer still runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Liveness {
    /// The writer's PID exists and (as far as /proc tells) maps this file.
    Running,
    /// No such process, or it no longer maps this file: the values are its last ones.
    NotRunning,
}

/// The header of a counters file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Header {
    /// The writer's PID.
    pub pid: u32,
    /// When the writer started, Unix nanoseconds.
    pub start_unix_nanos: u64,
    /// The writer's name.
    pub process: String,
    /// Whether the writer closed the file on its way out.
    pub closed: bool,
    /// Slot capacity.
    pub capacity: usize,
    /// Slots registered.
    pub registered: usize,
}

/// One metric of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Metric {
    /// Prometheus name.
    pub name: String,
    /// Label pairs.
    pub labels: Vec<(String, String)>,
    /// Help text.
    pub help: String,
    /// The value.
    pub value: Value,
}

impl Metric {
    /// The labels as `k=v,k=v` (empty without labels).
    pub fn label_text(&self) -> String {
        let pairs: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        pairs.join(",")
    }
}

/// A metric's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// A counter.
    Counter(u64),
    /// A gauge.
    Gauge(u64),
    /// A latency histogram, nanoseconds.
    Histogram(HistogramValue),
}

/// A histogram as read: per-bucket (not cumulative) counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistogramValue {
    /// `(upper bound ns, observations in this bucket)`, bounds increasing; the last
    /// bound is `u64::MAX` (+Inf).
    pub buckets: Vec<(u64, u64)>,
    /// Sum of the observations, ns.
    pub sum_nanos: u64,
    /// Observations, as the writer counted them.
    pub count: u64,
}

impl HistogramValue {
    /// Observations, as the buckets add up (consistent with the buckets even while the
    /// writer records).
    pub fn bucket_total(&self) -> u64 {
        self.buckets
            .iter()
            .fold(0u64, |t, (_, n)| t.saturating_add(*n))
    }

    /// The smallest bucket bound at or below which a fraction `q` (0..=1) of the
    /// observations fall: a quantile's upper bound, ns (`None` when empty).
    pub fn quantile_bound(&self, q: f64) -> Option<u64> {
        let total = self.bucket_total();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (le, n) in &self.buckets {
            seen = seen.saturating_add(*n);
            if seen >= rank {
                return Some(*le);
            }
        }
        self.buckets.last().map(|(le, _)| *le)
    }
}

/// Everything a counters file held at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// The header.
    pub header: Header,
    /// The metrics, in registration order.
    pub metrics: Vec<Metric>,
}

/// A counters file mapped read-only.
#[derive(Debug)]
pub struct CountersReader {
    region: Region,
    path: PathBuf,
}

impl CountersReader {
    /// Maps `path` read-only after checking its size against its header.
    pub fn open(path: &Path) -> Result<CountersReader, MetricsError> {
        let io = |source| MetricsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let corrupt = |what: String| MetricsError::Corrupt {
            path: path.to_path_buf(),
            what,
        };
        let max = (layout::file_words(layout::MAX_SLOTS) * 8) as u64;
        if len < (layout::HEADER_WORDS * 8) as u64 || len > max || len % 8 != 0 {
            return Err(corrupt(format!(
                "{len} bytes is not the size of a counters file"
            )));
        }
        let region = Region::read_only(&file, (len / 8) as usize).map_err(io)?;
        let reader = CountersReader {
            region,
            path: path.to_path_buf(),
        };
        // The header must hold now, so a wrong file is refused at open.
        reader.snapshot()?;
        Ok(reader)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Copies the words and parses them.
    pub fn snapshot(&self) -> Result<Snapshot, MetricsError> {
        let words: Vec<u64> = self
            .region
            .words()
            .iter()
            .map(|w| w.load(Ordering::Acquire))
            .collect();
        parse(&words).map_err(|what| MetricsError::Corrupt {
            path: self.path.clone(),
            what,
        })
    }
}

/// Parses the words of a counters file (see the module docs); the error says what is
/// wrong.
pub fn parse(words: &[u64]) -> Result<Snapshot, String> {
    let word = |ix: usize| {
        words
            .get(ix)
            .copied()
            .ok_or_else(|| format!("file ends at word {} (needs word {ix})", words.len()))
    };
    if word(layout::H_MAGIC)? != layout::MAGIC {
        return Err("not a tickwarp counters file (bad magic)".to_owned());
    }
    let version = word(layout::H_VERSION)?;
    if version != layout::VERSION {
        return Err(format!(
            "layout version {version}; this reader knows version {}",
            layout::VERSION
        ));
    }
    let capacity = word(layout::H_CAPACITY)?;
    if capacity == 0 || capacity > layout::MAX_SLOTS as u64 {
        return Err(format!(
            "capacity {capacity} slots is outside 1..={}",
            layout::MAX_SLOTS
        ));
    }
    let capacity = capacity as usize;
    let (meta, value) = (
        word(layout::H_METADATA_BYTES)?,
        word(layout::H_VALUE_BYTES)?,
    );
    if meta != layout::METADATA_BYTES as u64 || value != layout::VALUE_BYTES as u64 {
        return Err(format!(
            "slot sizes {meta}/{value} bytes; this reader knows {}/{}",
            layout::METADATA_BYTES,
            layout::VALUE_BYTES
        ));
    }
    if words.len() != layout::file_words(capacity) {
        return Err(format!(
            "file is {} bytes; {capacity} slots need {}",
            words.len() * 8,
            layout::file_words(capacity) * 8
        ));
    }
    let registered = word(layout::H_REGISTERED)?;
    if registered > capacity as u64 {
        return Err(format!(
            "{registered} slots registered in a file of {capacity}"
        ));
    }
    let registered = registered as usize;
    let pid = u32::try_from(word(layout::H_PID)?).map_err(|_| "PID out of range".to_owned())?;
    let state = word(layout::H_STATE)?;
    if state != layout::STATE_RUNNING && state != layout::STATE_CLOSED {
        return Err(format!("unknown file state {state}"));
    }
    let name_words = words
        .get(layout::H_NAME..layout::HEADER_WORDS)
        .unwrap_or_default();
    let mut process = layout::unpack(name_words, layout::NAME_BYTES);
    process.retain(|&b| b != 0);
    let header = Header {
        pid,
        start_unix_nanos: word(layout::H_START)?,
        process: String::from_utf8(process).map_err(|_| "process name is not UTF-8")?,
        closed: state == layout::STATE_CLOSED,
        capacity,
        registered,
    };
    let mut metrics = Vec::new();
    let mut open: Option<(Metric, HistogramValue, u64)> = None;
    for slot in 0..registered {
        let s = read_slot(words, capacity, slot).map_err(|e| format!("slot {slot}: {e}"))?;
        let Some(s) = s else {
            // Published out of order: a writer still registering. Stop here.
            break;
        };
        let same = |m: &Metric| m.name == s.metric.name && m.labels == s.metric.labels;
        match s.kind {
            Kind::Counter | Kind::Gauge => {
                if let Some((m, ..)) = &open {
                    return Err(format!("slot {slot}: histogram {} is incomplete", m.name));
                }
                let mut m = s.metric;
                m.value = match s.kind {
                    Kind::Counter => Value::Counter(s.value),
                    _ => Value::Gauge(s.value),
                };
                metrics.push(m);
            }
            Kind::HistogramBucket => match &mut open {
                Some((m, h, _)) if same(m) => {
                    if h.buckets.last().is_some_and(|&(le, _)| le >= s.le) {
                        return Err(format!("slot {slot}: bucket bounds do not increase"));
                    }
                    h.buckets.push((s.le, s.value));
                }
                Some((m, ..)) => {
                    return Err(format!("slot {slot}: histogram {} is incomplete", m.name));
                }
                None => {
                    let h = HistogramValue {
                        buckets: vec![(s.le, s.value)],
                        sum_nanos: 0,
                        count: 0,
                    };
                    open = Some((s.metric, h, 0));
                }
            },
            Kind::HistogramSum => match &mut open {
                Some((m, h, seen))
                    if same(m)
                        && *seen == 0
                        && h.buckets.last().is_some_and(|&(le, _)| le == u64::MAX) =>
                {
                    h.sum_nanos = s.value;
                    *seen = 1;
                }
                _ => return Err(format!("slot {slot}: histogram sum out of place")),
            },
            Kind::HistogramCount => match open.take() {
                Some((mut m, mut h, 1)) if same(&m) => {
                    h.count = s.value;
                    m.value = Value::Histogram(h);
                    metrics.push(m);
                }
                _ => return Err(format!("slot {slot}: histogram count out of place")),
            },
        }
    }
    Ok(Snapshot { header, metrics })
}

/// One registered slot as read.
struct RawSlot {
    kind: Kind,
    le: u64,
    value: u64,
    metric: Metric,
}

/// Reads slot `slot`; `None` if it is not published yet.
fn read_slot(words: &[u64], capacity: usize, slot: usize) -> Result<Option<RawSlot>, String> {
    let base = layout::metadata_word(slot);
    let meta = words
        .get(base..base + layout::METADATA_WORDS)
        .ok_or("metadata past the end")?;
    let at = |ix: usize| meta.get(ix).copied().unwrap_or(0);
    if at(layout::M_STATE) != layout::SLOT_REGISTERED {
        return Ok(None);
    }
    let kind = Kind::from_code(at(layout::M_KIND)).ok_or("unknown kind")?;
    let lengths = at(layout::M_LENGTHS);
    let (name_len, labels_len, help_len) = (
        (lengths & 0xffff) as usize,
        (lengths >> 16 & 0xffff) as usize,
        (lengths >> 32 & 0xffff) as usize,
    );
    if lengths >> 48 != 0
        || name_len > layout::M_NAME_BYTES
        || labels_len > layout::M_LABELS_BYTES
        || help_len > layout::M_HELP_BYTES
    {
        return Err("field lengths out of range".to_owned());
    }
    let text = |from: usize, to: usize, len: usize, what: &str| {
        String::from_utf8(layout::unpack(meta.get(from..to).unwrap_or_default(), len))
            .map_err(|_| format!("{what} is not UTF-8"))
    };
    let name = text(layout::M_NAME, layout::M_LABELS, name_len, "name")?;
    if !layout::valid_name(&name) {
        return Err(format!("invalid metric name {name:?}"));
    }
    let labels = text(layout::M_LABELS, layout::M_HELP, labels_len, "labels")?;
    let labels =
        layout::parse_labels(&labels).ok_or_else(|| format!("invalid labels {labels:?}"))?;
    let help = text(layout::M_HELP, layout::METADATA_WORDS, help_len, "help")?;
    let le = at(layout::M_LE);
    if kind == Kind::HistogramBucket && le == 0 {
        return Err("histogram bucket without a bound".to_owned());
    }
    let value = words
        .get(layout::value_word(capacity, slot))
        .copied()
        .ok_or("value past the end")?;
    Ok(Some(RawSlot {
        kind,
        le,
        value,
        metric: Metric {
            name,
            labels,
            help,
            value: Value::Counter(0),
        },
    }))
}

/// The PID in the header of the counters file at `path`, if it is one.
pub(crate) fn read_header_pid(path: &Path) -> Option<u32> {
    let bytes = std::fs::read(path).ok()?;
    let word = |ix: usize| -> Option<u64> {
        Some(u64::from_le_bytes(
            bytes.get(ix * 8..ix * 8 + 8)?.try_into().ok()?,
        ))
    };
    if word(layout::H_MAGIC)? != layout::MAGIC {
        return None;
    }
    u32::try_from(word(layout::H_PID)?).ok()
}

/// Whether process `pid` runs and maps the counters file at `path` (Linux /proc; when
/// its maps cannot be read, e.g. another user's process, a live PID counts as running).
pub fn liveness(pid: u32, path: &Path) -> Liveness {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if pid == 0 || !proc_dir.exists() {
        return Liveness::NotRunning;
    }
    let Ok(maps) = std::fs::read_to_string(proc_dir.join("maps")) else {
        return Liveness::Running;
    };
    let want = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let maps_it = maps
        .lines()
        .filter_map(|l| l.split_once('/').map(|(_, p)| format!("/{p}")))
        .any(|p| Path::new(&p) == want);
    if maps_it {
        Liveness::Running
    } else {
        Liveness::NotRunning
    }
}

/// The counters file of a run directory (`dir/tickwarp.counters`; `dir` may also name
/// the file itself) or of a running process (the counters file it maps, from
/// /proc/PID/maps).
pub fn find(dir: Option<&Path>, pid: Option<u32>) -> Result<PathBuf, MetricsError> {
    match (dir, pid) {
        (Some(dir), _) => {
            let path = if dir.is_dir() {
                dir.join(COUNTERS_FILE)
            } else {
                dir.to_path_buf()
            };
            if path.is_file() {
                Ok(path)
            } else {
                Err(MetricsError::NotFound(format!(
                    "no counters file at {}",
                    path.display()
                )))
            }
        }
        (None, Some(pid)) => {
            let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|e| {
                MetricsError::NotFound(format!("cannot read /proc/{pid}/maps: {e}"))
            })?;
            let suffix = format!("/{COUNTERS_FILE}");
            maps.lines()
                .filter_map(|l| l.split_once('/').map(|(_, p)| format!("/{p}")))
                .find(|p| p.ends_with(&suffix))
                .map(PathBuf::from)
                .ok_or_else(|| {
                    MetricsError::NotFound(format!(
                        "process {pid} maps no {COUNTERS_FILE} (is [metrics] configured?)"
                    ))
                })
        }
        (None, None) => Err(MetricsError::NotFound(
            "give a run directory or a PID".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_bounds() {
        let h = HistogramValue {
            buckets: vec![(1_000, 50), (2_000, 49), (u64::MAX, 1)],
            sum_nanos: 0,
            count: 100,
        };
        assert_eq!(h.quantile_bound(0.5), Some(1_000));
        assert_eq!(h.quantile_bound(0.99), Some(2_000));
        assert_eq!(h.quantile_bound(1.0), Some(u64::MAX));
        let empty = HistogramValue {
            buckets: vec![(u64::MAX, 0)],
            sum_nanos: 0,
            count: 0,
        };
        assert_eq!(empty.quantile_bound(0.5), None);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(parse(&[]).is_err_and(|e| e.contains("ends")));
        assert!(parse(&[1, 2, 3]).is_err_and(|e| e.contains("magic")));
        let mut header = vec![0u64; layout::HEADER_WORDS];
        header[layout::H_MAGIC] = layout::MAGIC;
        header[layout::H_VERSION] = 9;
        assert!(parse(&header).is_err_and(|e| e.contains("version 9")));
    }
}
