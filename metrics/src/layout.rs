//! The byte layout of a counters file, as 64-bit little-endian words (Aeron's CnC file
//! and `CountersManager` are the model). Every field is one aligned `u64` word, so the
//! writer stores and the reader loads whole words and neither ever sees a torn field.
//!
//! ```text
//! header, 16 words (128 B)
//!   w0  magic "TWCNTRS1"             w1  version (1)
//!   w2  slot capacity                 w3  metadata bytes per slot (512)
//!   w4  value bytes per slot (64)     w5  writer PID
//!   w6  writer start, Unix ns         w7  slots registered (Release after the slot)
//!   w8  state: 1 running, 2 closed    w9..w15  process name, 56 B, NUL padded
//! metadata, capacity × 64 words (512 B each)
//!   m0  state: 0 free, 1 registered   m1  kind (see [`Kind`])
//!   m2  family id (slots of one metric family share it)
//!   m3  histogram bucket upper bound, ns (u64::MAX: +Inf); else 0
//!   m4  name length | labels length << 16 | help length << 32
//!   m5..m16 name (96 B)   m17..m32 labels (128 B, `k=v,k=v`)   m33..m63 help (248 B)
//! values, capacity × 8 words: one cache line (64 B) per slot, the value in its first word
//! ```
//!
//! What this module must not do: touch a file or a mapping. Its functions are pure and
//! never panic.

/// The magic word: "TWCNTRS1" as little-endian bytes.
pub const MAGIC: u64 = u64::from_le_bytes(*b"TWCNTRS1");
/// The layout version this crate writes and reads.
pub const VERSION: u64 = 1;
/// Header words.
pub const HEADER_WORDS: usize = 16;
/// Metadata bytes per slot.
pub const METADATA_BYTES: usize = 512;
/// Metadata words per slot.
pub const METADATA_WORDS: usize = METADATA_BYTES / 8;
/// Value bytes per slot: one cache line, so no two writers share a line.
pub const VALUE_BYTES: usize = 64;
/// Value words per slot.
pub const VALUE_WORDS: usize = VALUE_BYTES / 8;
/// The most slots a file may have (a reader refuses more: bounded memory).
pub const MAX_SLOTS: usize = 16_384;

/// Header word: magic.
pub const H_MAGIC: usize = 0;
/// Header word: version.
pub const H_VERSION: usize = 1;
/// Header word: capacity.
pub const H_CAPACITY: usize = 2;
/// Header word: metadata bytes per slot.
pub const H_METADATA_BYTES: usize = 3;
/// Header word: value bytes per slot.
pub const H_VALUE_BYTES: usize = 4;
/// Header word: writer PID.
pub const H_PID: usize = 5;
/// Header word: writer start time, Unix nanoseconds.
pub const H_START: usize = 6;
/// Header word: slots registered.
pub const H_REGISTERED: usize = 7;
/// Header word: state.
pub const H_STATE: usize = 8;
/// Header word: first word of the process name.
pub const H_NAME: usize = 9;
/// Process name bytes.
pub const NAME_BYTES: usize = (HEADER_WORDS - H_NAME) * 8;

/// Header state: the writer runs (or died without closing).
pub const STATE_RUNNING: u64 = 1;
/// Header state: the writer closed the file on its way out.
pub const STATE_CLOSED: u64 = 2;

/// Metadata word: state.
pub const M_STATE: usize = 0;
/// Metadata word: kind.
pub const M_KIND: usize = 1;
/// Metadata word: family id.
pub const M_FAMILY: usize = 2;
/// Metadata word: bucket bound.
pub const M_LE: usize = 3;
/// Metadata word: lengths.
pub const M_LENGTHS: usize = 4;
/// Metadata word: first name word.
pub const M_NAME: usize = 5;
/// Metadata: name bytes.
pub const M_NAME_BYTES: usize = 96;
/// Metadata word: first labels word.
pub const M_LABELS: usize = M_NAME + M_NAME_BYTES / 8;
/// Metadata: label bytes.
pub const M_LABELS_BYTES: usize = 128;
/// Metadata word: first help word.
pub const M_HELP: usize = M_LABELS + M_LABELS_BYTES / 8;
/// Metadata: help bytes.
pub const M_HELP_BYTES: usize = (METADATA_WORDS - M_HELP) * 8;

/// Slot metadata state: registered.
pub const SLOT_REGISTERED: u64 = 1;

/// What a slot's value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Only grows.
    Counter,
    /// Set to the current value.
    Gauge,
    /// Observations in one histogram bucket (not cumulative), bound in `M_LE`.
    HistogramBucket,
    /// Sum of a histogram's observations, nanoseconds.
    HistogramSum,
    /// Number of a histogram's observations.
    HistogramCount,
}

impl Kind {
    /// The word written for this kind.
    pub const fn code(self) -> u64 {
        match self {
            Kind::Counter => 1,
            Kind::Gauge => 2,
            Kind::HistogramBucket => 3,
            Kind::HistogramSum => 4,
            Kind::HistogramCount => 5,
        }
    }

    /// The kind of a word, if it names one.
    pub const fn from_code(code: u64) -> Option<Kind> {
        match code {
            1 => Some(Kind::Counter),
            2 => Some(Kind::Gauge),
            3 => Some(Kind::HistogramBucket),
            4 => Some(Kind::HistogramSum),
            5 => Some(Kind::HistogramCount),
            _ => None,
        }
    }
}

/// Words in a file of `capacity` slots.
pub const fn file_words(capacity: usize) -> usize {
    HEADER_WORDS + capacity * (METADATA_WORDS + VALUE_WORDS)
}

/// The first metadata word of `slot`.
pub const fn metadata_word(slot: usize) -> usize {
    HEADER_WORDS + slot * METADATA_WORDS
}

/// The value word of `slot` in a file of `capacity` slots.
pub const fn value_word(capacity: usize, slot: usize) -> usize {
    HEADER_WORDS + capacity * METADATA_WORDS + slot * VALUE_WORDS
}

/// Histogram bucket upper bounds in nanoseconds (1-2-5 steps from 1 µs to 10 s, the
/// Prometheus style); a last bucket, +Inf, takes everything above.
pub const BUCKET_BOUNDS_NS: [u64; 22] = [
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
    2_000_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Buckets of a histogram, +Inf included.
pub const BUCKETS: usize = BUCKET_BOUNDS_NS.len() + 1;

/// The bucket an observation of `nanos` falls in: the first whose bound is at least
/// `nanos` (`le`, as Prometheus counts), or the +Inf bucket.
pub fn bucket_of(nanos: u64) -> usize {
    BUCKET_BOUNDS_NS.partition_point(|&bound| bound < nanos)
}

/// The bound of bucket `i` (u64::MAX for +Inf).
pub fn bucket_bound(i: usize) -> u64 {
    BUCKET_BOUNDS_NS.get(i).copied().unwrap_or(u64::MAX)
}

/// Packs `bytes` into little-endian words (the last one zero padded).
pub fn pack(bytes: &[u8], out: &mut [u64]) {
    for (i, word) in out.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        for (k, byte) in b.iter_mut().enumerate() {
            *byte = bytes.get(i * 8 + k).copied().unwrap_or(0);
        }
        *word = u64::from_le_bytes(b);
    }
}

/// The first `len` bytes of little-endian `words` (fewer if the words are shorter).
pub fn unpack(words: &[u64], len: usize) -> Vec<u8> {
    words
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .take(len)
        .collect()
}

/// Whether `name` is a valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Whether `key` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not `__` reserved, not
/// `le`, which histograms use).
pub fn valid_label_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !key.starts_with("__")
        && key != "le"
}

/// Whether `value` is a label value this layout stores: `[a-zA-Z0-9_.:/-]*` (no `,`
/// or `=`, which separate pairs, and nothing that needs escaping in the exposition).
pub fn valid_label_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'/' | b'-'))
}

/// Parses `k=v,k=v` label text; `None` if any pair is invalid or a key repeats.
pub fn parse_labels(text: &str) -> Option<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    if text.is_empty() {
        return Some(out);
    }
    for pair in text.split(',') {
        let (k, v) = pair.split_once('=')?;
        if !valid_label_key(k) || !valid_label_value(v) || out.iter().any(|(key, _)| key == k) {
            return None;
        }
        out.push((k.to_owned(), v.to_owned()));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_le() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(
            bucket_of(1_000),
            0,
            "le: a value on the bound is in that bucket"
        );
        assert_eq!(bucket_of(1_001), 1);
        assert_eq!(bucket_of(2_000), 1);
        assert_eq!(bucket_of(999_999), 9);
        assert_eq!(bucket_of(1_000_000), 9);
        assert_eq!(bucket_of(10_000_000_000), 21);
        assert_eq!(bucket_of(10_000_000_001), 22);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_bound(BUCKETS - 1), u64::MAX);
        assert!(BUCKET_BOUNDS_NS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn layout_sizes_add_up() {
        assert_eq!(M_HELP + M_HELP_BYTES / 8, METADATA_WORDS);
        assert_eq!(M_HELP_BYTES, 248);
        assert_eq!(NAME_BYTES, 56);
        assert_eq!(file_words(2) * 8, 128 + 2 * (512 + 64));
        assert_eq!(
            value_word(2, 1) - value_word(2, 0),
            8,
            "one cache line per value"
        );
        assert_eq!(
            (value_word(2, 0) * 8) % 64,
            0,
            "values start on a cache line"
        );
        assert_eq!((value_word(3, 0) * 8) % 64, 0);
    }

    #[test]
    fn pack_round_trips() {
        let mut words = [0u64; 3];
        pack(b"tickwarp_gateway", &mut words);
        assert_eq!(unpack(&words, 16), b"tickwarp_gateway");
        assert_eq!(unpack(&words, 100).len(), 24);
    }

    #[test]
    fn names_and_labels() {
        assert!(valid_name("tickwarp_gateway_orders_total"));
        assert!(!valid_name("9x"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert_eq!(
            parse_labels("result=accepted,direction=in"),
            Some(vec![
                ("result".into(), "accepted".into()),
                ("direction".into(), "in".into())
            ])
        );
        assert_eq!(parse_labels(""), Some(vec![]));
        assert_eq!(parse_labels("a=1,a=2"), None, "repeated key");
        assert_eq!(parse_labels("le=1"), None, "le is the histogram's");
        assert_eq!(parse_labels("a=\"x\""), None, "quotes need escaping");
        assert_eq!(parse_labels("a"), None);
    }
}
