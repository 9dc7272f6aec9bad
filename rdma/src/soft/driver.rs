//! The socket driver of a soft QP: owns the non-blocking `TcpStream`, reads into a
//! preallocated buffer, writes out a preallocated transmit buffer (keeping an unsent
//! tail across partial writes), and feeds an optional capture tap.
//!
//! The driver is thin: it does not parse a byte. The QP hands received bytes to the
//! sans-IO connection and asks the connection to fill the transmit buffer. Nothing here
//! allocates after construction, blocks, or reads a clock.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;

use crate::soft::proto::markers::{MarkerError, MarkerInserter, MarkerStripper};
use crate::soft::wire::mpa;

/// Receive buffer size: one read takes at most this much from the socket.
pub(crate) const RX_BUFFER: usize = 256 * 1024;
/// Transmit buffer size: the connection emits FPDUs into at most this much at a time.
pub(crate) const TX_BUFFER: usize = 256 * 1024;

/// Which way bytes went, seen from the local endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TapDirection {
    /// Bytes this endpoint sent.
    Sent,
    /// Bytes this endpoint received.
    Received,
}

/// A capture tap on a connection's raw TCP byte stream (MPA handshake included), e.g. a
/// pcap writer. Called on the progressing thread; it must not block for long.
pub trait FrameTap: Send + Sync {
    /// A stream from `local` to `peer` starts (called before any bytes).
    fn on_open(&self, local: SocketAddr, peer: SocketAddr) {
        let _ = (local, peer);
    }

    /// `bytes` went out or came in, in stream order per direction.
    fn on_bytes(&self, direction: TapDirection, bytes: &[u8]);

    /// The stream ended.
    fn on_close(&self) {}
}

impl core::fmt::Debug for dyn FrameTap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FrameTap")
    }
}

/// Result of one read attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// `n` bytes are in [`Driver::received`].
    Bytes(usize),
    /// Nothing to read right now.
    WouldBlock,
    /// The peer closed its sending direction (FIN).
    Closed,
}

/// Optional socket tuning.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SocketOptions {
    /// `SO_BUSY_POLL` in microseconds (Linux; 0 = off).
    pub(crate) busy_poll_us: u32,
}

/// Owns the socket and the two I/O buffers of one connection.
#[derive(Debug)]
pub(crate) struct Driver {
    stream: TcpStream,
    rx: Box<[u8]>,
    rx_len: usize,
    tx: Box<[u8]>,
    tx_start: usize,
    tx_end: usize,
    tap: Option<Arc<dyn FrameTap>>,
    shut_down: bool,
    /// Bytes written to the socket.
    sent_bytes: u64,
    /// Bytes read from the socket.
    received_bytes: u64,
}

impl Driver {
    /// Takes over a connected stream: TCP_NODELAY on, non-blocking from now on.
    pub(crate) fn new(
        stream: TcpStream,
        tap: Option<Arc<dyn FrameTap>>,
        opts: SocketOptions,
    ) -> io::Result<Driver> {
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        if opts.busy_poll_us > 0 {
            set_busy_poll(&stream, opts.busy_poll_us)?;
        }
        Ok(Driver {
            stream,
            rx: vec![0; RX_BUFFER].into_boxed_slice(),
            rx_len: 0,
            tx: vec![0; TX_BUFFER].into_boxed_slice(),
            tx_start: 0,
            tx_end: 0,
            tap,
            shut_down: false,
            sent_bytes: 0,
            received_bytes: 0,
        })
    }

    /// Reads once into the receive buffer.
    pub(crate) fn read(&mut self) -> io::Result<Received> {
        loop {
            match self.stream.read(&mut self.rx) {
                Ok(0) => {
                    self.rx_len = 0;
                    return Ok(Received::Closed);
                }
                Ok(n) => {
                    self.rx_len = n;
                    self.received_bytes += n as u64;
                    if let (Some(tap), Some(bytes)) = (&self.tap, self.rx.get(..n)) {
                        tap.on_bytes(TapDirection::Received, bytes);
                    }
                    return Ok(Received::Bytes(n));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Received::WouldBlock),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Bytes written to and read from the socket so far.
    pub(crate) fn byte_counts(&self) -> (u64, u64) {
        (self.sent_bytes, self.received_bytes)
    }

    /// Size of the receive buffer: a read that fills it may have left more behind.
    pub(crate) fn capacity(&self) -> usize {
        self.rx.len()
    }

    /// The bytes of the last successful [`Driver::read`].
    pub(crate) fn received(&self) -> &[u8] {
        self.rx.get(..self.rx_len).unwrap_or_default()
    }

    /// True when unsent bytes are waiting in the transmit buffer.
    pub(crate) fn has_pending(&self) -> bool {
        self.tx_start < self.tx_end
    }

    /// The free space after the pending bytes, to be filled then [`Driver::commit`]ted.
    /// Unsent bytes are moved to the front first, so the space is as large as it can be.
    pub(crate) fn tx_space(&mut self) -> &mut [u8] {
        if self.tx_start > 0 {
            // After a partial write: move the unsent tail to the front.
            self.tx.copy_within(self.tx_start..self.tx_end, 0);
            self.tx_end -= self.tx_start;
            self.tx_start = 0;
        }
        self.tx.get_mut(self.tx_end..).unwrap_or_default()
    }

    /// Marks `n` bytes of [`Driver::tx_space`] as ready to send.
    pub(crate) fn commit(&mut self, n: usize) {
        self.tx_end = (self.tx_end + n).min(self.tx.len());
    }

    /// Writes pending bytes until the socket would block; returns how many went out.
    pub(crate) fn flush(&mut self) -> io::Result<usize> {
        let mut sent = 0;
        while self.tx_start < self.tx_end {
            let pending = self.tx.get(self.tx_start..self.tx_end).unwrap_or_default();
            match self.stream.write(pending) {
                Ok(0) => {
                    return Err(io::Error::new(
                        ErrorKind::WriteZero,
                        "socket accepted no bytes",
                    ));
                }
                Ok(n) => {
                    if let (Some(tap), Some(bytes)) = (&self.tap, pending.get(..n)) {
                        tap.on_bytes(TapDirection::Sent, bytes);
                    }
                    self.tx_start += n;
                    self.sent_bytes += n as u64;
                    sent += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if self.tx_start == self.tx_end {
            self.tx_start = 0;
            self.tx_end = 0;
        }
        Ok(sent)
    }

    /// Shuts both directions down once (idempotent) and tells the tap.
    pub(crate) fn shutdown(&mut self) {
        if !self.shut_down {
            self.shut_down = true;
            // The peer may already be gone; there is nothing left to report then.
            let _ = self.stream.shutdown(Shutdown::Both);
            if let Some(tap) = &self.tap {
                tap.on_close();
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// MPA marker framing (RFC 5044 §4.3) between the socket and the connection, for the
/// directions that negotiated markers: received bytes are stripped before the
/// connection sees them; FPDUs the connection emits are staged and marked into the
/// driver's transmit buffer. Buffers are allocated once, when markers are negotiated.
#[derive(Debug)]
pub(crate) struct MarkerFraming {
    crc: bool,
    inserter: Option<MarkerInserter>,
    stripper: Option<MarkerStripper>,
    rx_plain: Box<[u8]>,
    tx_plain: Box<[u8]>,
    tx_start: usize,
    tx_end: usize,
}

impl MarkerFraming {
    /// Framing for a stream with CRC `crc`; `rx`/`tx`: markers in received/sent bytes.
    pub(crate) fn new(crc: bool, rx: bool, tx: bool) -> MarkerFraming {
        let plain = |on: bool| vec![0u8; if on { TX_BUFFER / 2 } else { 0 }].into_boxed_slice();
        MarkerFraming {
            crc,
            inserter: tx.then(MarkerInserter::new),
            stripper: rx.then(|| MarkerStripper::new(crc)),
            rx_plain: plain(rx),
            tx_plain: plain(tx),
            tx_start: 0,
            tx_end: 0,
        }
    }

    /// True when sent bytes get markers.
    pub(crate) fn inserts(&self) -> bool {
        self.inserter.is_some()
    }

    /// Strips markers from `input`, handing each run of unmarked bytes to `sink`, which
    /// returns false to stop early (the connection failed).
    pub(crate) fn strip(
        &mut self,
        input: &[u8],
        mut sink: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), MarkerError> {
        let Some(stripper) = self.stripper.as_mut() else {
            sink(input);
            return Ok(());
        };
        let mut rest = input;
        while !rest.is_empty() {
            let (used, made) = stripper.handle_bytes(rest, &mut self.rx_plain)?;
            if made > 0 && !sink(self.rx_plain.get(..made).unwrap_or_default()) {
                return Ok(());
            }
            if used == 0 && made == 0 {
                return Err(MarkerError::NotAnFpdu);
            }
            rest = rest.get(used..).unwrap_or_default();
        }
        Ok(())
    }

    /// True when unmarked FPDUs wait to be marked.
    pub(crate) fn has_staged(&self) -> bool {
        self.tx_start < self.tx_end
    }

    /// The staging buffer, empty, for the connection's `poll_transmit`.
    pub(crate) fn stage(&mut self) -> &mut [u8] {
        self.tx_start = 0;
        self.tx_end = 0;
        &mut self.tx_plain
    }

    /// Records that `n` bytes of whole FPDUs were staged.
    pub(crate) fn staged(&mut self, n: usize) {
        self.tx_end = n.min(self.tx_plain.len());
    }

    /// Marks staged FPDUs into `out` while whole ones fit; returns the bytes written.
    pub(crate) fn mark_into(&mut self, out: &mut [u8]) -> Result<usize, MarkerError> {
        let Some(inserter) = self.inserter.as_mut() else {
            return Ok(0);
        };
        let mut written = 0;
        while self.tx_start < self.tx_end {
            let staged = self
                .tx_plain
                .get(self.tx_start..self.tx_end)
                .unwrap_or_default();
            let len = match staged {
                [hi, lo, ..] => mpa::fpdu_len(usize::from(u16::from_be_bytes([*hi, *lo]))),
                _ => return Err(MarkerError::NotAnFpdu),
            };
            let fpdu = staged.get(..len).ok_or(MarkerError::NotAnFpdu)?;
            let room = out.get_mut(written..).unwrap_or_default();
            match inserter.insert(fpdu, self.crc, room) {
                Ok(n) => written += n,
                Err(MarkerError::OutputTooSmall { .. }) => break,
                Err(e) => return Err(e),
            }
            self.tx_start += len;
        }
        Ok(written)
    }
}

/// `SO_BUSY_POLL` (Linux): the kernel busy-polls the device queue on blocking reads.
#[cfg(target_os = "linux")]
fn set_busy_poll(stream: &TcpStream, micros: u32) -> io::Result<()> {
    let sock = socket2::SockRef::from(stream);
    sock.set_busy_poll(micros)
}

/// `SO_BUSY_POLL` does not exist on this OS.
#[cfg(not(target_os = "linux"))]
fn set_busy_poll(_stream: &TcpStream, _micros: u32) -> io::Result<()> {
    Err(io::Error::new(
        ErrorKind::Unsupported,
        "SO_BUSY_POLL is Linux-only",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder {
        events: Mutex<Vec<(TapDirection, Vec<u8>)>>,
    }

    impl FrameTap for Recorder {
        fn on_bytes(&self, direction: TapDirection, bytes: &[u8]) {
            self.events
                .lock()
                .unwrap()
                .push((direction, bytes.to_vec()));
        }
    }

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (b, _) = listener.accept().unwrap();
        (a, b)
    }

    #[test]
    fn bytes_flow_through_buffers_and_tap() {
        let (a, mut b) = pair();
        let tap = Arc::new(Recorder::default());
        let mut driver = Driver::new(a, Some(tap.clone()), SocketOptions::default()).unwrap();
        assert_eq!(driver.read().unwrap(), Received::WouldBlock);
        driver.tx_space()[..5].copy_from_slice(b"hello");
        driver.commit(5);
        assert!(driver.has_pending());
        assert_eq!(driver.flush().unwrap(), 5);
        assert!(!driver.has_pending());
        let mut got = [0u8; 5];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");

        b.write_all(b"world").unwrap();
        b.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        // Make the driver's read deterministic: block on the socket once, then read.
        driver.stream.set_nonblocking(false).unwrap();
        driver
            .stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        assert_eq!(driver.read().unwrap(), Received::Bytes(5));
        assert_eq!(driver.received(), b"world");
        drop(b);
        assert_eq!(driver.read().unwrap(), Received::Closed);

        let events = tap.events.lock().unwrap();
        assert_eq!(events[0], (TapDirection::Sent, b"hello".to_vec()));
        assert_eq!(events[1], (TapDirection::Received, b"world".to_vec()));
    }
}
