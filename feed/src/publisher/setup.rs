//! Connection setup: pairing a subscriber's ring and control channel on one listener.

use super::*;

/// Why a subscriber could not be connected or accepted.
#[derive(Debug, Error)]
pub enum SetupError {
    /// The ring could not be set up.
    #[error("ring: {0}")]
    Ring(#[from] RingError),
    /// The control channel could not be set up.
    #[error("control channel: {0}")]
    Channel(#[from] ChannelSetupError),
    /// Connection management failed.
    #[error("connection: {0}")]
    Cm(#[from] CmError),
    /// A verbs resource could not be created.
    #[error("verbs: {0}")]
    Verbs(#[from] VerbsError),
    /// The control channel failed during setup.
    #[error("control channel: {0}")]
    Control(#[from] ChannelError),
    /// The ring's slots cannot hold the largest record.
    #[error("ring slot capacity {capacity} is below the largest record ({need} bytes)")]
    RingTooSmall {
        /// The ring's payload capacity.
        capacity: usize,
        /// [`MAX_RING_RECORD`].
        need: usize,
    },
    /// The control channel's messages cannot hold the largest control frame.
    #[error("control channel messages of {max} bytes, need {need}")]
    ChannelTooSmall {
        /// The channel's largest message.
        max: usize,
        /// [`MAX_CONTROL_FRAME`].
        need: usize,
    },
    /// A subscriber names more than [`MAX_REQUEST_INSTRUMENTS`] instruments.
    #[error("a subscriber names {0} instruments, at most 32 allowed")]
    TooManyInstruments(usize),
    /// A connection request that is neither a ring nor a control channel.
    #[error("connection request with {0} bytes of private data is not a subscriber's")]
    UnknownRequest(usize),
    /// A control channel whose first frame is not a hello.
    #[error("control channel did not start with a hello")]
    NoHello,
    /// The subscriber did not complete within the timeout.
    #[error("no complete subscriber within {0:?}")]
    Timeout(Duration),
}

/// The control channel configuration both sides use unless told otherwise: 64 slots of
/// 320 bytes (room for [`MAX_CONTROL_FRAME`]).
pub fn default_channel_config() -> ChannelConfig {
    ChannelConfig {
        slots: 64,
        slot_size: 320,
        send_depth: 64,
    }
}

/// Accepts subscribers' ring and control connections on the publisher's listener and
/// pairs them by token (module docs).
#[derive(Debug)]
pub struct SubscriberAcceptor<'a> {
    listener: &'a Listener,
    dev: &'a Device,
    pd: &'a ProtectionDomain,
    writer_config: RingWriterConfig,
    channel_config: ChannelConfig,
    rings: Vec<(u64, RingWriter)>,
    channels: Vec<MessageChannel>,
    hellos: Vec<(u64, MessageChannel)>,
}

impl<'a> SubscriberAcceptor<'a> {
    /// An acceptor on `listener` creating resources on `dev`/`pd`.
    pub fn new(
        listener: &'a Listener,
        dev: &'a Device,
        pd: &'a ProtectionDomain,
        writer_config: RingWriterConfig,
        channel_config: ChannelConfig,
    ) -> SubscriberAcceptor<'a> {
        SubscriberAcceptor {
            listener,
            dev,
            pd,
            writer_config,
            channel_config,
            rings: Vec::new(),
            channels: Vec::new(),
            hellos: Vec::new(),
        }
    }

    /// Accepts connection requests until one subscriber has both halves; fails after
    /// `timeout`.
    pub fn accept(&mut self, timeout: Duration) -> Result<SubscriberLink, SetupError> {
        let deadline = monotonic_now().saturating_add(timeout);
        loop {
            if let Some(link) = self.try_pair() {
                return Ok(link);
            }
            self.read_hellos()?;
            if let Some(link) = self.try_pair() {
                return Ok(link);
            }
            let now = monotonic_now();
            if now >= deadline {
                return Err(SetupError::Timeout(timeout));
            }
            let wait = if self.channels.is_empty() {
                deadline.saturating_sub(now).as_duration()
            } else {
                Duration::from_millis(1)
            };
            match self.listener.accept(wait) {
                Ok(request) => self.take(request)?,
                Err(CmError::Timeout) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Accepts one request as a ring or a control channel.
    fn take(&mut self, request: ConnectRequest) -> Result<(), SetupError> {
        let pdata_len = request.private_data().len();
        if pdata_len == RING_REQUEST_LEN {
            let token = le_u64(request.private_data(), RingDescriptor::LEN);
            let writer = RingWriter::accept(self.dev, self.pd, request, self.writer_config)?;
            let capacity = writer.descriptor().capacity();
            if capacity < MAX_RING_RECORD {
                return Err(SetupError::RingTooSmall {
                    capacity,
                    need: MAX_RING_RECORD,
                });
            }
            self.rings.push((token, writer));
            Ok(())
        } else if pdata_len == tickwarp_rdma::channel::ChannelParams::LEN {
            let channel = MessageChannel::accept(self.dev, self.pd, request, self.channel_config)?;
            if channel.max_message() < MAX_CONTROL_FRAME {
                return Err(SetupError::ChannelTooSmall {
                    max: channel.max_message(),
                    need: MAX_CONTROL_FRAME,
                });
            }
            self.channels.push(channel);
            Ok(())
        } else {
            request.reject(b"not a tickwarp feed subscriber")?;
            Err(SetupError::UnknownRequest(pdata_len))
        }
    }

    /// Moves channels whose hello arrived to `hellos`.
    fn read_hellos(&mut self) -> Result<(), SetupError> {
        let mut buf = [0u8; MAX_CONTROL_FRAME];
        let mut i = 0;
        while i < self.channels.len() {
            let got = match self.channels.get_mut(i) {
                Some(ch) => ch.try_recv(&mut buf)?,
                None => break,
            };
            match got {
                Some(len) => {
                    let channel = self.channels.swap_remove(i);
                    match Control::parse(buf.get(..len).unwrap_or_default()) {
                        Ok(Control::Hello { token }) => self.hellos.push((token, channel)),
                        _ => return Err(SetupError::NoHello),
                    }
                }
                None => i += 1,
            }
        }
        Ok(())
    }

    /// A ring and a hello with the same token, as a link.
    fn try_pair(&mut self) -> Option<SubscriberLink> {
        let (ci, ri) = self
            .hellos
            .iter()
            .enumerate()
            .find_map(|(ci, (token, _))| {
                self.rings
                    .iter()
                    .position(|(t, _)| t == token)
                    .map(|ri| (ci, ri))
            })?;
        let (token, control) = self.hellos.swap_remove(ci);
        let (_, writer) = self.rings.swap_remove(ri);
        Some(SubscriberLink {
            token,
            writer,
            control,
            outbox: Vec::new(),
            sent: 0,
            serving: None,
            closed: false,
            stats: LinkStats::default(),
            recv: [0; MAX_CONTROL_FRAME],
        })
    }
}
