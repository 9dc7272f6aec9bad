//! Where the publisher's ITCH comes from: a paced synthetic venue or a byte buffer.

use super::*;

/// Where the publisher's ITCH messages come from.
pub trait ItchInput {
    /// The next message due at `now`, `None` when none is due yet or the input ended.
    fn poll_message(&mut self, now: Nanos) -> Option<Result<Message, ItchError>>;

    /// Whether every message has been handed out.
    fn is_finished(&self) -> bool;
}

/// How a [`PacedSynth`] releases messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pacing {
    /// At the generator's schedule, counted from the first poll's `now`.
    #[default]
    Scheduled,
    /// As fast as the publisher asks.
    Max,
}

/// The synthetic venue as an [`ItchInput`].
#[derive(Clone, Debug)]
pub struct PacedSynth {
    feed: SynthFeed,
    pacing: Pacing,
    start: Option<Nanos>,
    next: Option<Scheduled>,
    finished: bool,
}

impl PacedSynth {
    /// Releases `feed`'s messages according to `pacing`.
    pub fn new(feed: SynthFeed, pacing: Pacing) -> PacedSynth {
        PacedSynth {
            feed,
            pacing,
            start: None,
            next: None,
            finished: false,
        }
    }
}

impl ItchInput for PacedSynth {
    fn poll_message(&mut self, now: Nanos) -> Option<Result<Message, ItchError>> {
        let start = *self.start.get_or_insert(now);
        if self.next.is_none() && !self.finished {
            self.next = self.feed.next_message();
            self.finished = self.next.is_none();
        }
        let next = self.next?;
        let due = match self.pacing {
            Pacing::Max => true,
            Pacing::Scheduled => start.get().saturating_add(next.at.get()) <= now.get(),
        };
        if !due {
            return None;
        }
        self.next = None;
        Some(Ok(next.message))
    }

    fn is_finished(&self) -> bool {
        self.finished && self.next.is_none()
    }
}

/// A buffer of length-prefixed ITCH messages (NASDAQ's sample file framing) as an
/// [`ItchInput`], released as fast as the publisher asks. Bad messages are reported and
/// skipped; a truncated message at the end is reported once.
#[derive(Clone, Debug)]
pub struct ItchBuffer {
    bytes: Vec<u8>,
    pos: usize,
    finished: bool,
}

impl ItchBuffer {
    /// Messages from `bytes`.
    pub fn new(bytes: Vec<u8>) -> ItchBuffer {
        ItchBuffer {
            bytes,
            pos: 0,
            finished: false,
        }
    }
}

impl ItchInput for ItchBuffer {
    fn poll_message(&mut self, _now: Nanos) -> Option<Result<Message, ItchError>> {
        if self.finished {
            return None;
        }
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let mut decoder = StreamDecoder::with_base_offset(rest, self.pos);
        match decoder.next() {
            Some(result) => {
                self.pos += decoder.position();
                Some(result)
            }
            None => {
                self.finished = true;
                decoder.finish().err().map(Err)
            }
        }
    }

    fn is_finished(&self) -> bool {
        self.finished
    }
}
