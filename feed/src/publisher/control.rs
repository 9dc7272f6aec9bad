//! Control frames on a subscriber's message channel: hello, resync request, and the
//! snapshot that answers it. Byte layout only; no state and no I/O.

use super::*;

/// Why bytes are not a control frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ControlError {
    /// Fewer bytes than the frame needs.
    #[error("control frame truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes the frame needs.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// More bytes than the frame's kind has.
    #[error("control frame of kind {kind} has {have} bytes, expected {need}")]
    Length {
        /// The kind.
        kind: u8,
        /// Bytes the kind has.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// An unknown kind byte.
    #[error("unknown control frame kind {0}")]
    Kind(u8),
    /// Reserved bytes are not zero.
    #[error("reserved control frame bytes are not zero")]
    Reserved,
    /// A resync request naming more than [`MAX_REQUEST_INSTRUMENTS`] instruments.
    #[error("resync request names {0} instruments, at most 32 allowed")]
    TooManyInstruments(u16),
    /// A snapshot record that is not a valid wire record.
    #[error("snapshot record: {0}")]
    Record(DecodeError),
    /// The output buffer is too short for the frame.
    #[error("control frame of {need} bytes, buffer of {have}")]
    BufferTooSmall {
        /// Bytes the frame needs.
        need: usize,
        /// Bytes available.
        have: usize,
    },
}

/// The instruments a resync request names (empty: every instrument). Fixed-size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstrumentList {
    ids: [InstrumentId; MAX_REQUEST_INSTRUMENTS],
    len: usize,
}

impl InstrumentList {
    /// Every instrument.
    pub const ALL: InstrumentList = InstrumentList {
        ids: [InstrumentId::NONE; MAX_REQUEST_INSTRUMENTS],
        len: 0,
    };

    /// The list of `ids`, or `None` when there are more than [`MAX_REQUEST_INSTRUMENTS`].
    pub fn new(ids: &[InstrumentId]) -> Option<InstrumentList> {
        let mut list = InstrumentList::ALL;
        list.ids.get_mut(..ids.len())?.copy_from_slice(ids);
        list.len = ids.len();
        Some(list)
    }

    /// The named instruments (empty: every instrument).
    pub fn as_slice(&self) -> &[InstrumentId] {
        self.ids.get(..self.len).unwrap_or_default()
    }

    /// Whether the list names every instrument.
    pub fn is_all(&self) -> bool {
        self.len == 0
    }

    /// Whether `id` is covered by the list.
    pub fn covers(&self, id: InstrumentId) -> bool {
        self.is_all() || self.as_slice().contains(&id)
    }
}

/// One control-channel frame.
///
/// ```text
///  0      1          4                8
///  +------+----------+----------------+---------------------------------------------+
///  | kind | 0 0 0    | request_id u32 | body                                        |
///  +------+----------+----------------+---------------------------------------------+
///  kind 1 Hello          8 token u64                                       (16 bytes)
///  kind 2 ResyncRequest  8 count u16 | 10 0 0 | 12 instrument u32 × count  (12 + 4n)
///  kind 3 SnapshotBegin  8 feed_seq u64 | 16 venue_ts u64 | 24 instruments u32 | 28 0
///                                                                          (32 bytes)
///  kind 4 SnapshotRecord 8 one wire record, exactly             (8 + record length)
///  kind 5 SnapshotEnd    8 feed_seq u64 | 16 records u32 | 20 0 0 0 0     (24 bytes)
///  integers little-endian; request_id is 0 in Hello
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control<'a> {
    /// Subscriber → publisher, first on the channel: pairs it with the ring `token`.
    Hello {
        /// The token sent with the ring's connection request.
        token: u64,
    },
    /// Subscriber → publisher: send a snapshot of `instruments`.
    ResyncRequest {
        /// Echoed in the answer.
        request_id: u32,
        /// What to snapshot.
        instruments: InstrumentList,
    },
    /// Publisher → subscriber: a snapshot as of `feed_seq` follows.
    SnapshotBegin {
        /// The request answered.
        request_id: u32,
        /// The feed sequence number the snapshot is consistent with.
        feed_seq: SeqNo,
        /// Venue time of that record.
        venue_ts: UnixNanos,
        /// Instruments in the snapshot.
        instruments: u32,
    },
    /// Publisher → subscriber: one record of the snapshot (an order or a chunk).
    SnapshotRecord {
        /// The request answered.
        request_id: u32,
        /// The wire record's bytes.
        record: &'a [u8],
    },
    /// Publisher → subscriber: the snapshot is complete.
    SnapshotEnd {
        /// The request answered.
        request_id: u32,
        /// The feed sequence number the snapshot is consistent with.
        feed_seq: SeqNo,
        /// Snapshot records sent.
        records: u32,
    },
}

/// Reads a little-endian `u32` at `at` of a frame whose length was checked.
pub(super) fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(src) = b.get(at..at + 4) {
        w.copy_from_slice(src);
    }
    u32::from_le_bytes(w)
}

/// Reads a little-endian `u64` at `at` of a frame whose length was checked.
pub(super) fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(src) = b.get(at..at + 8) {
        w.copy_from_slice(src);
    }
    u64::from_le_bytes(w)
}

/// Checks that `bytes` is exactly `need` long for `kind`.
fn exact(kind: u8, bytes: &[u8], need: usize) -> Result<(), ControlError> {
    match bytes.len() {
        have if have < need => Err(ControlError::Truncated { need, have }),
        have if have > need => Err(ControlError::Length { kind, need, have }),
        _ => Ok(()),
    }
}

/// Checks that `bytes[range]` is zero.
fn zero(bytes: &[u8], range: core::ops::Range<usize>) -> Result<(), ControlError> {
    match bytes.get(range) {
        Some(r) if r.iter().all(|b| *b == 0) => Ok(()),
        _ => Err(ControlError::Reserved),
    }
}

impl<'a> Control<'a> {
    /// The request id (0 for a hello).
    pub fn request_id(&self) -> u32 {
        match self {
            Control::Hello { .. } => 0,
            Control::ResyncRequest { request_id, .. }
            | Control::SnapshotBegin { request_id, .. }
            | Control::SnapshotRecord { request_id, .. }
            | Control::SnapshotEnd { request_id, .. } => *request_id,
        }
    }

    /// Parses one frame (layout on [`Control`]); never panics.
    pub fn parse(bytes: &'a [u8]) -> Result<Control<'a>, ControlError> {
        if bytes.len() < CONTROL_PREFIX {
            return Err(ControlError::Truncated {
                need: CONTROL_PREFIX,
                have: bytes.len(),
            });
        }
        zero(bytes, 1..4)?;
        let kind = bytes.first().copied().unwrap_or(0);
        let request_id = le_u32(bytes, 4);
        match kind {
            KIND_HELLO => {
                exact(kind, bytes, HELLO_LEN)?;
                if request_id != 0 {
                    return Err(ControlError::Reserved);
                }
                Ok(Control::Hello {
                    token: le_u64(bytes, 8),
                })
            }
            KIND_RESYNC => {
                if bytes.len() < 12 {
                    return Err(ControlError::Truncated {
                        need: 12,
                        have: bytes.len(),
                    });
                }
                let count = u16::from_le_bytes([
                    bytes.get(8).copied().unwrap_or(0),
                    bytes.get(9).copied().unwrap_or(0),
                ]);
                zero(bytes, 10..12)?;
                if usize::from(count) > MAX_REQUEST_INSTRUMENTS {
                    return Err(ControlError::TooManyInstruments(count));
                }
                exact(kind, bytes, 12 + 4 * usize::from(count))?;
                let mut instruments = InstrumentList::ALL;
                for (i, slot) in instruments
                    .ids
                    .iter_mut()
                    .take(usize::from(count))
                    .enumerate()
                {
                    *slot = InstrumentId(le_u32(bytes, 12 + 4 * i));
                }
                instruments.len = usize::from(count);
                Ok(Control::ResyncRequest {
                    request_id,
                    instruments,
                })
            }
            KIND_BEGIN => {
                exact(kind, bytes, BEGIN_LEN)?;
                zero(bytes, 28..32)?;
                Ok(Control::SnapshotBegin {
                    request_id,
                    feed_seq: SeqNo(le_u64(bytes, 8)),
                    venue_ts: UnixNanos(le_u64(bytes, 16)),
                    instruments: le_u32(bytes, 24),
                })
            }
            KIND_RECORD => {
                let record = bytes.get(CONTROL_PREFIX..).unwrap_or_default();
                let msg = decode(record).map_err(ControlError::Record)?;
                exact(kind, bytes, CONTROL_PREFIX + msg.len())?;
                Ok(Control::SnapshotRecord { request_id, record })
            }
            KIND_END => {
                exact(kind, bytes, END_LEN)?;
                zero(bytes, 20..24)?;
                Ok(Control::SnapshotEnd {
                    request_id,
                    feed_seq: SeqNo(le_u64(bytes, 8)),
                    records: le_u32(bytes, 16),
                })
            }
            other => Err(ControlError::Kind(other)),
        }
    }

    /// Bytes [`Control::emit`] writes.
    pub fn len(&self) -> usize {
        match self {
            Control::Hello { .. } => HELLO_LEN,
            Control::ResyncRequest { instruments, .. } => 12 + 4 * instruments.len,
            Control::SnapshotBegin { .. } => BEGIN_LEN,
            Control::SnapshotRecord { record, .. } => CONTROL_PREFIX + record.len(),
            Control::SnapshotEnd { .. } => END_LEN,
        }
    }

    /// Always false: every frame has at least its prefix.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the frame at the start of `out`; returns its length.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, ControlError> {
        let need = self.len();
        let have = out.len();
        let Some(out) = out.get_mut(..need) else {
            return Err(ControlError::BufferTooSmall { need, have });
        };
        out.fill(0);
        let (kind, request_id) = match self {
            Control::Hello { .. } => (KIND_HELLO, 0),
            Control::ResyncRequest { request_id, .. } => (KIND_RESYNC, *request_id),
            Control::SnapshotBegin { request_id, .. } => (KIND_BEGIN, *request_id),
            Control::SnapshotRecord { request_id, .. } => (KIND_RECORD, *request_id),
            Control::SnapshotEnd { request_id, .. } => (KIND_END, *request_id),
        };
        let mut put = |at: usize, src: &[u8]| {
            if let Some(dst) = out.get_mut(at..at + src.len()) {
                dst.copy_from_slice(src);
            }
        };
        put(0, &[kind]);
        put(4, &request_id.to_le_bytes());
        match self {
            Control::Hello { token } => put(8, &token.to_le_bytes()),
            Control::ResyncRequest { instruments, .. } => {
                put(8, &(instruments.len as u16).to_le_bytes());
                for (i, id) in instruments.as_slice().iter().enumerate() {
                    put(12 + 4 * i, &id.get().to_le_bytes());
                }
            }
            Control::SnapshotBegin {
                feed_seq,
                venue_ts,
                instruments,
                ..
            } => {
                put(8, &feed_seq.get().to_le_bytes());
                put(16, &venue_ts.get().to_le_bytes());
                put(24, &instruments.to_le_bytes());
            }
            Control::SnapshotRecord { record, .. } => put(CONTROL_PREFIX, record),
            Control::SnapshotEnd {
                feed_seq, records, ..
            } => {
                put(8, &feed_seq.get().to_le_bytes());
                put(16, &records.to_le_bytes());
            }
        }
        Ok(need)
    }
}
