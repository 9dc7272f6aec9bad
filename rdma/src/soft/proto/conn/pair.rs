//! Test harness: two [`Connection`]s joined by in-memory byte streams that are
//! delivered in chunks of chosen sizes (quinn-proto's `Pair` pattern), plus helpers to
//! decode what a connection sent. No sockets, no clocks, every loop bounded.

use crate::soft::wire::ddp;
use crate::soft::wire::mpa::FpduFrame;
use crate::soft::wire::rdmap;

use super::{
    Completion, ConnConfig, ConnError, ConnEvent, Connection, MemoryAccess, PdId, VecMemory,
};

/// The protection domain both test connections use.
pub(super) const PD: PdId = PdId(3);

/// One direction's delivery state.
#[derive(Debug, Default)]
pub(super) struct Wire {
    /// Bytes sent and not yet delivered.
    pub(super) in_flight: Vec<u8>,
    /// Every byte ever sent, for inspection.
    pub(super) log: Vec<u8>,
    /// First error the receiver reported.
    pub(super) error: Option<ConnError>,
}

/// Two connections, their memories and the streams between them.
pub(super) struct Pair {
    pub(super) a: Connection,
    pub(super) b: Connection,
    pub(super) mem_a: VecMemory,
    pub(super) mem_b: VecMemory,
    /// a → b.
    pub(super) ab: Wire,
    /// b → a.
    pub(super) ba: Wire,
    /// Delivery chunk sizes, cycled (0 is read as 1).
    pub(super) splits: Vec<usize>,
    split_at: usize,
    /// Size of each `poll_transmit` buffer.
    pub(super) tx_buf: usize,
}

impl Pair {
    /// Two connections with the same configuration, whole-chunk delivery.
    pub(super) fn new(cfg: ConnConfig) -> Pair {
        Pair::with(cfg, cfg)
    }

    /// Two connections with their own configurations.
    pub(super) fn with(cfg_a: ConnConfig, cfg_b: ConnConfig) -> Pair {
        let a = Connection::new(cfg_a).expect("valid config a");
        let b = Connection::new(cfg_b).expect("valid config b");
        let tx_buf = a.max_fpdu_len().max(b.max_fpdu_len());
        Pair {
            a,
            b,
            mem_a: VecMemory::new(),
            mem_b: VecMemory::new(),
            ab: Wire::default(),
            ba: Wire::default(),
            splits: vec![usize::MAX],
            split_at: 0,
            tx_buf,
        }
    }

    /// Default test configuration: small MULPDU so messages span segments.
    pub(super) fn cfg() -> ConnConfig {
        ConnConfig {
            mulpdu: 128,
            sq_depth: 16,
            rq_depth: 16,
            ..ConnConfig::new(PD)
        }
    }

    /// The next delivery chunk size.
    fn next_split(&mut self) -> usize {
        let n = self
            .splits
            .get(self.split_at % self.splits.len().max(1))
            .copied();
        self.split_at = self.split_at.wrapping_add(1);
        n.unwrap_or(usize::MAX).max(1)
    }

    /// Moves everything either side can send to the other until nothing moves.
    /// Panics (test failure) if that takes more than 100 000 steps.
    pub(super) fn drive(&mut self) {
        let mut out = vec![0u8; self.tx_buf];
        for _ in 0..100_000 {
            let mut moved = false;
            let n = self.a.poll_transmit(&self.mem_a, &mut out);
            self.ab.in_flight.extend_from_slice(&out[..n]);
            self.ab.log.extend_from_slice(&out[..n]);
            let n2 = self.b.poll_transmit(&self.mem_b, &mut out);
            self.ba.in_flight.extend_from_slice(&out[..n2]);
            self.ba.log.extend_from_slice(&out[..n2]);
            moved |= n > 0 || n2 > 0;
            moved |= self.deliver_ab();
            moved |= self.deliver_ba();
            if !moved {
                return;
            }
        }
        panic!("pair did not go quiet within 100000 steps");
    }

    /// Delivers one chunk a → b; true if bytes moved.
    fn deliver_ab(&mut self) -> bool {
        let chunk = self.next_split();
        deliver(&mut self.b, &self.mem_b, &mut self.ab, chunk)
    }

    /// Delivers one chunk b → a; true if bytes moved.
    fn deliver_ba(&mut self) -> bool {
        let chunk = self.next_split();
        deliver(&mut self.a, &self.mem_a, &mut self.ba, chunk)
    }

    /// All completions of `a`.
    pub(super) fn completions_a(&mut self) -> Vec<Completion> {
        std::iter::from_fn(|| self.a.poll_completion()).collect()
    }

    /// All completions of `b`.
    pub(super) fn completions_b(&mut self) -> Vec<Completion> {
        std::iter::from_fn(|| self.b.poll_completion()).collect()
    }

    /// All events of `a`.
    pub(super) fn events_a(&mut self) -> Vec<ConnEvent> {
        std::iter::from_fn(|| self.a.poll_event()).collect()
    }

    /// All events of `b`.
    pub(super) fn events_b(&mut self) -> Vec<ConnEvent> {
        std::iter::from_fn(|| self.b.poll_event()).collect()
    }
}

/// Feeds up to `chunk` in-flight bytes of `wire` to `conn`; true if any moved.
fn deliver<M: MemoryAccess>(conn: &mut Connection, mem: &M, wire: &mut Wire, chunk: usize) -> bool {
    if wire.in_flight.is_empty() {
        return false;
    }
    let n = chunk.min(wire.in_flight.len());
    if wire.error.is_none() {
        if let Err(e) = conn.handle_bytes(mem, &wire.in_flight[..n]) {
            wire.error = Some(e);
        }
    }
    wire.in_flight.drain(..n);
    true
}

/// Splits a byte stream into its FPDUs' ULPDUs (DDP segments).
pub(super) fn segments(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let frame = FpduFrame::new_checked(rest).expect("whole FPDU");
        out.push(frame.ulpdu().to_vec());
        rest = &rest[frame.total_len()..];
    }
    out
}

/// Parses every RDMAP message of a byte stream.
pub(super) fn messages(stream: &[u8]) -> Vec<rdmap::Repr> {
    segments(stream)
        .iter()
        .map(|s| rdmap::Repr::parse(&ddp::Frame::new_unchecked(&s[..])).expect("valid RDMAP"))
        .collect()
}

/// The Terminate in a byte stream, if any.
pub(super) fn terminate_in(stream: &[u8]) -> Option<rdmap::TerminateRepr> {
    messages(stream).into_iter().find_map(|m| match m {
        rdmap::Repr::Terminate { terminate, .. } => Some(terminate),
        _ => None,
    })
}

/// Decodes a hex string, whitespace and `|` ignored.
pub(super) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|c| c.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).expect("ascii"), 16).expect("hex"))
        .collect()
}
