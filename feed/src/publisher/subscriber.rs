//! The subscriber side: ring records in order, loss detection, snapshot resync.

use super::*;

/// How a subscriber starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Join {
    /// Before the publisher's first record: read the ring from feed sequence 1.
    FromStart,
    /// Mid-session: ask for a snapshot first.
    #[default]
    Snapshot,
}

/// Subscriber settings.
#[derive(Clone, Debug)]
pub struct SubscriberConfig {
    /// The ring (slots must hold [`MAX_RING_RECORD`] bytes).
    pub ring: RingConfig,
    /// The control channel (messages must hold [`MAX_CONTROL_FRAME`] bytes).
    pub channel: ChannelConfig,
    /// Instruments to keep books for and hand out (empty: all).
    pub instruments: Vec<InstrumentId>,
    /// Initial capacity of each book.
    pub book_capacity: BookCapacity,
    /// How to start.
    pub join: Join,
    /// Identifies the subscriber to the publisher (pairs ring and channel; unique per
    /// publisher).
    pub token: u64,
}

impl SubscriberConfig {
    /// 1024 slots of 192 bytes, the default control channel, every instrument, joining
    /// with a snapshot, identified by `token`.
    pub fn new(token: u64) -> SubscriberConfig {
        SubscriberConfig {
            ring: RingConfig {
                slot_size: 192,
                slot_count: 1024,
                placement: SeqPlacement::InWrite,
            },
            channel: default_channel_config(),
            instruments: Vec::new(),
            book_capacity: BookCapacity::default(),
            join: Join::default(),
            token,
        }
    }
}

/// What [`Subscriber::poll`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriberEvent<'a> {
    /// A live record (applied to the books when it is a book record).
    Record(&'a [u8]),
    /// Records after `last_applied` were lost: the books are stale until
    /// [`SubscriberEvent::Resynced`].
    Lost {
        /// The last feed sequence number applied.
        last_applied: SeqNo,
    },
    /// A record of the snapshot being applied (an order or a level chunk).
    Snapshot(&'a [u8]),
    /// The books were rebuilt as of `feed_seq`; live records continue after it.
    Resynced {
        /// The snapshot's feed sequence number.
        feed_seq: SeqNo,
    },
}

/// Counters of a [`Subscriber`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SubscriberStats {
    /// Live records handed out.
    pub records: u64,
    /// Ring gaps (lapped).
    pub ring_gaps: u64,
    /// Feed sequence jumps without a ring gap.
    pub seq_jumps: u64,
    /// Records dropped as older than the books.
    pub stale: u64,
    /// Records that did not decode or that the book refused.
    pub bad_records: u64,
    /// Snapshots applied.
    pub resyncs: u64,
    /// Snapshots rejected as torn (chunks disagree with the orders) and asked again.
    pub torn_snapshots: u64,
}

/// Why a subscriber failed.
#[derive(Debug, Error)]
pub enum SubscriberError {
    /// The ring memory failed (a bug: offsets are checked at setup).
    #[error("ring: {0}")]
    Ring(#[from] PollError),
    /// The control channel failed (the publisher went away).
    #[error("control channel: {0}")]
    Control(#[from] ChannelError),
    /// The ring's connection closed or failed (the publisher went away); records it
    /// placed before were handed out first.
    #[error("the ring connection to the publisher closed")]
    RingClosed,
}

/// Where a subscriber is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SyncState {
    /// Reading the ring.
    Live,
    /// A resync request must be sent.
    NeedRequest,
    /// Waiting for the snapshot answering `request_id`.
    Awaiting { request_id: u32 },
    /// Applying the snapshot answering `request_id`, as of `feed_seq`.
    Applying {
        request_id: u32,
        feed_seq: SeqNo,
        records: u32,
        torn: bool,
    },
}

/// The subscribing side: ring reader, control channel and the rebuilt books.
#[derive(Debug)]
pub struct Subscriber {
    reader: RingReader,
    ring_qp: QueuePair,
    control: MessageChannel,
    instruments: InstrumentList,
    capacity: BookCapacity,
    books: Vec<(InstrumentId, OrderBook)>,
    state: SyncState,
    last_applied: SeqNo,
    next_request: u32,
    buf: Vec<u8>,
    stats: SubscriberStats,
}

impl Subscriber {
    /// Connects a ring and a control channel to the publisher's listener at `addr`.
    /// Blocks until the publisher accepts both (bounded by the connect timeout).
    pub fn connect(
        dev: &Device,
        pd: &ProtectionDomain,
        addr: SocketAddr,
        config: &SubscriberConfig,
    ) -> Result<Subscriber, SetupError> {
        let instruments = InstrumentList::new(&config.instruments)
            .ok_or(SetupError::TooManyInstruments(config.instruments.len()))?;
        let mut reader = RingReader::new(pd, config.ring)?;
        if reader.capacity() < MAX_RING_RECORD {
            return Err(SetupError::RingTooSmall {
                capacity: reader.capacity(),
                need: MAX_RING_RECORD,
            });
        }
        let cq = dev.create_cq(1)?;
        let init = QpInit {
            sq_depth: 1,
            rq_depth: 1,
            ..QpInit::new(&cq, &cq)
        };
        let mut private_data = reader.descriptor().to_bytes().to_vec();
        private_data.extend_from_slice(&config.token.to_le_bytes());
        // Peer-to-peer setup (RFC 6581): the publisher, as responder, writes first, and
        // this side never sends; the RTR is the initiator's first FPDU RFC 5044 asks for.
        let params = ConnectParams {
            private_data,
            p2p: true,
            ..ConnectParams::default()
        };
        let (ring_qp, _) = pd.connect(addr, &init, &params)?;
        reader.attach(ring_qp.clone());
        let mut control =
            MessageChannel::connect(dev, pd, addr, config.channel, &ConnectParams::default())?;
        if control.max_message() < MAX_CONTROL_FRAME {
            return Err(SetupError::ChannelTooSmall {
                max: control.max_message(),
                need: MAX_CONTROL_FRAME,
            });
        }
        let mut hello = [0u8; HELLO_LEN];
        let len = Control::Hello {
            token: config.token,
        }
        .emit(&mut hello)
        .map_err(|_| SetupError::NoHello)?;
        control.try_send(hello.get(..len).unwrap_or_default())?;
        let buf_len = reader.capacity().max(MAX_CONTROL_FRAME);
        Ok(Subscriber {
            reader,
            ring_qp,
            control,
            instruments,
            capacity: config.book_capacity,
            books: Vec::new(),
            state: match config.join {
                Join::FromStart => SyncState::Live,
                Join::Snapshot => SyncState::NeedRequest,
            },
            last_applied: SeqNo::NONE,
            next_request: 1,
            buf: vec![0; buf_len],
            stats: SubscriberStats::default(),
        })
    }

    /// Whether the books are current (not waiting for a snapshot).
    pub fn is_live(&self) -> bool {
        self.state == SyncState::Live
    }

    /// The last feed sequence number applied.
    pub fn last_applied(&self) -> SeqNo {
        self.last_applied
    }

    /// The book of `instrument`.
    pub fn book(&self, instrument: InstrumentId) -> Option<&OrderBook> {
        self.books
            .iter()
            .find(|(id, _)| *id == instrument)
            .map(|(_, b)| b)
    }

    /// Every book with its instrument.
    pub fn books(&self) -> impl ExactSizeIterator<Item = (InstrumentId, &OrderBook)> + '_ {
        self.books.iter().map(|(id, b)| (*id, b))
    }

    /// Counters.
    pub fn stats(&self) -> SubscriberStats {
        self.stats
    }

    /// The next event, or `None` when nothing is ready. Never blocks; looks at a
    /// bounded number of ring records per call; allocates only when a book grows.
    pub fn poll(&mut self) -> Result<Option<SubscriberEvent<'_>>, SubscriberError> {
        match self.state {
            SyncState::Live => self.poll_ring(),
            _ => self.poll_sync(),
        }
    }

    /// Reads the ring while live.
    fn poll_ring(&mut self) -> Result<Option<SubscriberEvent<'_>>, SubscriberError> {
        for _ in 0..POLL_BUDGET {
            let len = match self.reader.poll(&mut self.buf)? {
                // Only once the ring is drained: what was placed is still delivered.
                RingPoll::Empty if !self.reader.is_connected() => {
                    return Err(SubscriberError::RingClosed);
                }
                RingPoll::Empty => return Ok(None),
                RingPoll::Gap { .. } => {
                    self.stats.ring_gaps += 1;
                    return Ok(Some(self.lose()));
                }
                RingPoll::Message { len, .. } => len,
            };
            match self.apply_live(len) {
                Applied::Deliver => {
                    self.stats.records += 1;
                    let record = self.buf.get(..len).unwrap_or_default();
                    return Ok(Some(SubscriberEvent::Record(record)));
                }
                Applied::Skip => {}
                Applied::Lost => return Ok(Some(self.lose())),
            }
        }
        Ok(None)
    }

    /// Checks and applies the live record in `buf[..len]`.
    fn apply_live(&mut self, len: usize) -> Applied {
        let Ok(msg) = decode(self.buf.get(..len).unwrap_or_default()) else {
            self.stats.bad_records += 1;
            return Applied::Skip;
        };
        let Some(meta) = md_meta(&msg) else {
            self.stats.bad_records += 1;
            return Applied::Skip;
        };
        let last = self.last_applied;
        if let WireMessage::MdHeartbeat(_) = msg {
            if meta.feed_seq > last {
                self.stats.seq_jumps += 1;
                return Applied::Lost;
            }
            return Applied::Deliver;
        }
        if meta.feed_seq <= last {
            self.stats.stale += 1;
            return Applied::Skip;
        }
        if meta.feed_seq != last.next() {
            self.stats.seq_jumps += 1;
            return Applied::Lost;
        }
        self.last_applied = meta.feed_seq;
        if !self.instruments.covers(meta.instrument) {
            return Applied::Skip;
        }
        let capacity = self.capacity;
        let applied = book_mut(&mut self.books, meta.instrument, capacity)
            .ok_or(Inconsistent)
            .and_then(|book| apply_to_book(book, &msg));
        if applied.is_err() {
            self.stats.bad_records += 1;
            return Applied::Lost;
        }
        Applied::Deliver
    }

    /// The books are stale: stop reading the ring and ask for a snapshot.
    fn lose(&mut self) -> SubscriberEvent<'static> {
        self.state = SyncState::NeedRequest;
        // Best effort now; `poll_sync` retries.
        let _ = self.send_request();
        SubscriberEvent::Lost {
            last_applied: self.last_applied,
        }
    }

    /// Sends a resync request if one is due.
    fn send_request(&mut self) -> Result<(), ChannelError> {
        if self.state != SyncState::NeedRequest {
            return Ok(());
        }
        let request_id = self.next_request;
        let frame = Control::ResyncRequest {
            request_id,
            instruments: self.instruments,
        };
        let mut out = [0u8; MAX_CONTROL_FRAME];
        let len = frame.emit(&mut out).unwrap_or(0);
        match self.control.try_send(out.get(..len).unwrap_or_default()) {
            Ok(()) => {
                self.next_request = self.next_request.wrapping_add(1).max(1);
                self.state = SyncState::Awaiting { request_id };
                Ok(())
            }
            Err(ChannelError::WouldBlock) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Waits for and applies a snapshot; keeps the ring's connection progressing.
    fn poll_sync(&mut self) -> Result<Option<SubscriberEvent<'_>>, SubscriberError> {
        self.send_request()?;
        let Some(len) = self.control.try_recv(&mut self.buf)? else {
            // Not reading the ring: its records wait there for after the snapshot.
            self.ring_qp.progress();
            return Ok(None);
        };
        let frame = match Control::parse(self.buf.get(..len).unwrap_or_default()) {
            Ok(frame) => frame,
            Err(_) => {
                self.stats.bad_records += 1;
                return Ok(None);
            }
        };
        let wanted = match self.state {
            SyncState::Awaiting { request_id } | SyncState::Applying { request_id, .. } => {
                request_id
            }
            _ => return Ok(None),
        };
        if frame.request_id() != wanted {
            // An answer to an earlier request.
            return Ok(None);
        }
        match frame {
            Control::SnapshotBegin { feed_seq, .. } => {
                for (id, book) in &mut self.books {
                    if self.instruments.covers(*id) {
                        book.clear();
                    }
                }
                self.state = SyncState::Applying {
                    request_id: wanted,
                    feed_seq,
                    records: 0,
                    torn: false,
                };
                Ok(None)
            }
            Control::SnapshotRecord { record, .. } => {
                let SyncState::Applying {
                    feed_seq,
                    records,
                    torn,
                    ..
                } = &mut self.state
                else {
                    return Ok(None);
                };
                *records += 1;
                let ok = apply_snapshot_record(
                    &mut self.books,
                    self.capacity,
                    &self.instruments,
                    *feed_seq,
                    record,
                );
                if !ok {
                    *torn = true;
                }
                Ok(Some(SubscriberEvent::Snapshot(record)))
            }
            Control::SnapshotEnd {
                feed_seq, records, ..
            } => {
                let SyncState::Applying {
                    feed_seq: began,
                    records: got,
                    torn,
                    ..
                } = self.state
                else {
                    return Ok(None);
                };
                if torn || got != records || began != feed_seq {
                    self.stats.torn_snapshots += 1;
                    // The next poll sends the new request.
                    self.state = SyncState::NeedRequest;
                    return Ok(None);
                }
                self.last_applied = feed_seq;
                self.state = SyncState::Live;
                self.stats.resyncs += 1;
                Ok(Some(SubscriberEvent::Resynced { feed_seq }))
            }
            Control::Hello { .. } | Control::ResyncRequest { .. } => {
                self.stats.bad_records += 1;
                Ok(None)
            }
        }
    }
}

/// What a live record did.
pub(super) enum Applied {
    /// Hand it out.
    Deliver,
    /// Drop it silently (stale, another instrument, or undecodable).
    Skip,
    /// The books are stale.
    Lost,
}

/// The book of `instrument`, created empty if needed.
pub(super) fn book_mut(
    books: &mut Vec<(InstrumentId, OrderBook)>,
    instrument: InstrumentId,
    capacity: BookCapacity,
) -> Option<&mut OrderBook> {
    let at = match books.iter().position(|(id, _)| *id == instrument) {
        Some(at) => at,
        None => {
            books.push((instrument, OrderBook::new(capacity)));
            books.len() - 1
        }
    };
    books.get_mut(at).map(|(_, book)| book)
}

/// Why a record did not apply to a book.
#[derive(Clone, Copy, Debug)]
pub(super) struct Inconsistent;

/// Applies a book record (add, cancel, trade) to `book`; others do not change it.
pub(super) fn apply_to_book(
    book: &mut OrderBook,
    msg: &WireMessage<'_>,
) -> Result<(), Inconsistent> {
    match msg {
        WireMessage::MdAddOrder(a) => book
            .add(a.order_ref(), a.side(), a.price(), a.qty())
            .map_err(|_| Inconsistent),
        WireMessage::MdCancelOrder(c) => book
            .cancel(c.order_ref(), c.canceled_qty())
            .map_err(|_| Inconsistent)
            .and_then(|r| {
                if r.remaining == c.remaining_qty() {
                    Ok(())
                } else {
                    Err(Inconsistent)
                }
            }),
        WireMessage::MdTrade(t) if t.order_ref() != 0 => book
            .execute(t.order_ref(), t.qty())
            .map(|_| ())
            .map_err(|_| Inconsistent),
        WireMessage::MdBboUpdate(b) => {
            if book.bbo() == (b.bid(), b.ask()) {
                Ok(())
            } else {
                Err(Inconsistent)
            }
        }
        _ => Ok(()),
    }
}

/// Applies one snapshot record; false when it is torn (wrong sequence, a chunk that
/// disagrees with the orders, an order the book refuses).
pub(super) fn apply_snapshot_record(
    books: &mut Vec<(InstrumentId, OrderBook)>,
    capacity: BookCapacity,
    instruments: &InstrumentList,
    feed_seq: SeqNo,
    record: &[u8],
) -> bool {
    let Ok(msg) = decode(record) else {
        return false;
    };
    let Some(meta) = md_meta(&msg) else {
        return false;
    };
    if meta.feed_seq != feed_seq {
        return false;
    }
    if !instruments.covers(meta.instrument) {
        return true;
    }
    let Some(book) = book_mut(books, meta.instrument, capacity) else {
        return false;
    };
    match msg {
        WireMessage::MdAddOrder(a) => book
            .add(a.order_ref(), a.side(), a.price(), a.qty())
            .is_ok(),
        WireMessage::MdBookSnapshotChunk(c) => chunk_matches(book, c),
        _ => false,
    }
}

/// Whether a chunk's levels equal the book's at the same depths.
pub(super) fn chunk_matches(book: &OrderBook, chunk: &MdBookSnapshotChunk) -> bool {
    let first = usize::from(chunk.first_level());
    chunk.levels().iter().enumerate().all(|(i, level)| {
        let bid = book.bids().nth(first + i);
        let ask = book.asks().nth(first + i);
        let want = BookLevel::new(
            bid.map_or(Default::default(), |l| l.price),
            bid.map_or(Qty::ZERO, |l| l.qty),
            ask.map_or(Default::default(), |l| l.price),
            ask.map_or(Qty::ZERO, |l| l.qty),
        );
        *level == want
    })
}

/// The market data fields of a record, `None` for other records.
pub fn md_meta(msg: &WireMessage<'_>) -> Option<MdMeta> {
    Some(match msg {
        WireMessage::MdHeartbeat(r) => r.meta(),
        WireMessage::MdSequenceReset(r) => r.meta(),
        WireMessage::MdAddOrder(r) => r.meta(),
        WireMessage::MdModifyOrder(r) => r.meta(),
        WireMessage::MdCancelOrder(r) => r.meta(),
        WireMessage::MdTrade(r) => r.meta(),
        WireMessage::MdBboUpdate(r) => r.meta(),
        WireMessage::MdBookSnapshotChunk(r) => r.meta(),
        _ => return None,
    })
}
