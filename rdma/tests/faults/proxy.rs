//! A fault-injecting TCP proxy for the soft-iWARP integration tests: the byte-stream
//! counterpart of smoltcp's `phy::FaultInjector`. It listens on 127.0.0.1:0, forwards
//! every accepted connection to the real listener, and per direction can
//!
//! * split the stream at every byte (each byte its own write, TCP_NODELAY on),
//! * coalesce it into large chunks,
//! * flip bits of exactly one byte at a chosen stream offset,
//! * stall (hold everything) until the test resumes it,
//! * close both sides after N bytes (the bytes after the cut are never read).
//!
//! Without a cut, a close or a reset is passed on one direction at a time, so bytes
//! already in flight the other way (a Terminate before a close) still arrive.
//!
//! Offsets count from the start of the TCP stream ([`At::Stream`]) or from the end of
//! the MPA Request/Reply ([`At::AfterHandshake`], the first FPDU byte), which the proxy
//! finds from the 20-byte MPA header (RFC 5044 §7.1: `PD_Length` at bytes 18–19).
//!
//! Each connection runs on two threads, one per direction, with blocking sockets and
//! short read/write timeouts, so every thread notices a stall, a resume or `stop`
//! within one poll interval: the proxy can never hang a test, and stopping is explicit
//! and bounded. It must not parse the stream beyond that MPA header, must not read a
//! clock, and keeps no state shared between directions except the sockets.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// How long a blocked socket call waits before its thread re-checks the controls.
const POLL: Duration = Duration::from_millis(2);
/// How long the accept thread waits per round before it re-checks `stop`.
const ACCEPT_POLL: Duration = Duration::from_millis(10);
/// Bound on connecting to the real listener.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most bytes a direction reads ahead while it may not forward (stalled, or
/// coalescing); past this it stops reading and TCP flow control pushes back.
const HOLD_MAX: usize = 8 << 20;
/// Largest single read.
const READ_CHUNK: usize = 64 << 10;
/// Forwarded bytes kept per direction for [`Proxy::captured`] (the stream's start).
const CAPTURE_MAX: usize = 1 << 20;
/// MPA Request/Reply header: key (16), flags, revision, `PD_Length` (RFC 5044 §7.1).
const MPA_HEADER_LEN: usize = 20;

/// One direction of the proxied connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Initiator (client) to responder (server).
    ToServer,
    /// Responder (server) to initiator (client).
    ToClient,
}

/// How bytes are handed on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Pacing {
    /// Each read is written on as it came.
    #[default]
    Passthrough,
    /// Each byte is its own write (TCP_NODELAY is on): the receiver sees a segment
    /// boundary after every byte.
    ByteByByte,
    /// Bytes are held until `chunk` are buffered or the sender goes quiet for one poll
    /// interval, then written at once.
    Coalesce {
        /// Bytes to gather before writing.
        chunk: usize,
    },
}

/// A position in one direction's byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum At {
    /// Bytes from the start of the TCP stream.
    Stream(u64),
    /// Bytes after the MPA Request/Reply, i.e. into the FPDU stream.
    AfterHandshake(u64),
}

/// Flip the bits of `mask` in the byte at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Corrupt {
    /// Which byte.
    pub(crate) at: At,
    /// Bits to flip (non-zero).
    pub(crate) mask: u8,
}

/// The faults of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Faults {
    /// How bytes are handed on.
    pub(crate) pacing: Pacing,
    /// One byte to corrupt.
    pub(crate) corrupt: Option<Corrupt>,
    /// Close both sides once this many bytes went through.
    pub(crate) cut_after: Option<At>,
}

impl Faults {
    /// Faults with `pacing` and nothing else.
    pub(crate) fn paced(pacing: Pacing) -> Faults {
        Faults {
            pacing,
            ..Faults::default()
        }
    }

    /// Faults that flip `mask` in the byte at `at`.
    pub(crate) fn corrupt(at: At, mask: u8) -> Faults {
        Faults {
            corrupt: Some(Corrupt { at, mask }),
            ..Faults::default()
        }
    }

    /// Faults that cut the connection after `at`.
    pub(crate) fn cut(at: At) -> Faults {
        Faults {
            cut_after: Some(at),
            ..Faults::default()
        }
    }

    /// True when an offset is counted from the end of the MPA handshake.
    fn anchored(&self) -> bool {
        let after = |at: At| matches!(at, At::AfterHandshake(_));
        self.corrupt.is_some_and(|c| after(c.at)) || self.cut_after.is_some_and(after)
    }
}

/// The faults of both directions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProxyConfig {
    /// Client to server.
    pub(crate) to_server: Faults,
    /// Server to client.
    pub(crate) to_client: Faults,
}

/// How a direction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The sender closed; everything was forwarded and the close passed on.
    Eof,
    /// The configured cut: both sides were closed.
    Cut,
    /// A socket failed: the sender reset (its end was passed on) or the receiver is
    /// gone (the other direction notices on its own).
    SocketError,
    /// [`Proxy::stop`] ended it.
    Stopped,
}

impl End {
    fn code(self) -> u8 {
        match self {
            End::Eof => 1,
            End::Cut => 2,
            End::SocketError => 3,
            End::Stopped => 4,
        }
    }

    fn from_code(code: u8) -> Option<End> {
        match code {
            1 => Some(End::Eof),
            2 => Some(End::Cut),
            3 => Some(End::SocketError),
            4 => Some(End::Stopped),
            _ => None,
        }
    }
}

/// What one direction has done so far. Byte counts add up over every connection the
/// proxy served (each connection gets the same faults, offsets counted per connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DirStats {
    /// Bytes read from the sender.
    pub(crate) read: u64,
    /// Bytes handed to the receiver's socket.
    pub(crate) forwarded: u64,
    /// The corruption was applied (on some connection).
    pub(crate) corrupted: bool,
    /// How the direction of the most recently ended connection ended, if one did.
    pub(crate) end: Option<End>,
}

impl DirStats {
    /// Bytes read and not yet forwarded.
    pub(crate) fn held(&self) -> u64 {
        self.read.saturating_sub(self.forwarded)
    }
}

/// Controls and counters of one direction, shared with its threads.
#[derive(Debug, Default)]
struct DirState {
    stalled: AtomicBool,
    read: AtomicU64,
    forwarded: AtomicU64,
    corrupted: AtomicBool,
    end: AtomicU8,
    capture: Mutex<Vec<u8>>,
}

/// State shared by the proxy handle and its threads.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    to_server: DirState,
    to_client: DirState,
    pumps: Mutex<Vec<JoinHandle<()>>>,
    failures: Mutex<Vec<String>>,
}

impl Shared {
    fn dir(&self, dir: Dir) -> &DirState {
        match dir {
            Dir::ToServer => &self.to_server,
            Dir::ToClient => &self.to_client,
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn fail(&self, what: String) {
        lock(&self.failures).push(what);
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running proxy; dropping it stops it (bounded: every thread checks `stop` at least
/// once per poll interval).
#[derive(Debug)]
pub(crate) struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and forwards each connection to `upstream` with `config`.
    pub(crate) fn start(upstream: SocketAddr, config: ProxyConfig) -> Result<Proxy> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .context("binding the proxy")?;
        // Linux honours SO_RCVTIMEO on accept (socket(7)): the accept thread wakes up
        // to check `stop`.
        socket2::SockRef::from(&listener)
            .set_read_timeout(Some(ACCEPT_POLL))
            .context("accept timeout")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("proxy-accept".into())
                .spawn(move || accept_loop(&listener, upstream, config, &shared))
                .context("spawning the accept thread")?
        };
        Ok(Proxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// Where clients connect.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops forwarding `dir` (bytes keep being read and held, up to a bound).
    pub(crate) fn stall(&self, dir: Dir) {
        self.shared.dir(dir).stalled.store(true, Ordering::Release);
    }

    /// Resumes forwarding `dir`.
    pub(crate) fn resume(&self, dir: Dir) {
        self.shared.dir(dir).stalled.store(false, Ordering::Release);
    }

    /// Counters of `dir`.
    pub(crate) fn stats(&self, dir: Dir) -> DirStats {
        let d = self.shared.dir(dir);
        // Forwarded first: bytes are counted as read before they are forwarded, so the
        // snapshot never has more forwarded than read.
        let forwarded = d.forwarded.load(Ordering::Acquire);
        DirStats {
            read: d.read.load(Ordering::Acquire),
            forwarded,
            corrupted: d.corrupted.load(Ordering::Acquire),
            end: End::from_code(d.end.load(Ordering::Acquire)),
        }
    }

    /// The first forwarded bytes of `dir` (at most 1 MiB), as the receiver got them.
    pub(crate) fn captured(&self, dir: Dir) -> Vec<u8> {
        lock(&self.shared.dir(dir).capture).clone()
    }

    /// Stops every thread and waits for them; fails if a thread panicked or a
    /// connection could not be proxied.
    pub(crate) fn stop(mut self) -> Result<()> {
        let failures = self.shutdown();
        if failures.is_empty() {
            Ok(())
        } else {
            bail!("proxy failures: {failures:?}")
        }
    }

    /// Sets `stop`, joins the accept thread, then every pump; returns what went wrong.
    fn shutdown(&mut self) -> Vec<String> {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(acceptor) = self.acceptor.take()
            && acceptor.join().is_err()
        {
            self.shared.fail("the accept thread panicked".into());
        }
        let pumps: Vec<_> = lock(&self.shared.pumps).drain(..).collect();
        for pump in pumps {
            if pump.join().is_err() {
                self.shared.fail("a forwarding thread panicked".into());
            }
        }
        lock(&self.shared.failures).drain(..).collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Failures were either reported by `stop` or belong to a test already failing.
        let _ = self.shutdown();
    }
}

/// Accepts connections until `stop`, serving each with two pumps.
fn accept_loop(
    listener: &TcpListener,
    upstream: SocketAddr,
    config: ProxyConfig,
    shared: &Arc<Shared>,
) {
    while !shared.stopping() {
        match listener.accept() {
            Ok((client, _)) => {
                if let Err(e) = serve(client, upstream, config, shared) {
                    shared.fail(format!("{e:#}"));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                shared.fail(format!("accept: {e}"));
                return;
            }
        }
    }
}

/// Connects to the real listener and starts one pump per direction.
fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    config: ProxyConfig,
    shared: &Arc<Shared>,
) -> Result<()> {
    let server =
        TcpStream::connect_timeout(&upstream, CONNECT_TIMEOUT).context("connecting upstream")?;
    for s in [&client, &server] {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(POLL))?;
        s.set_write_timeout(Some(POLL))?;
    }
    let pumps = [
        (
            Dir::ToServer,
            client.try_clone()?,
            server.try_clone()?,
            config.to_server,
        ),
        (Dir::ToClient, server, client, config.to_client),
    ];
    for (dir, src, dst, faults) in pumps {
        let pump = Pump::new(dir, src, dst, faults, Arc::clone(shared));
        let handle = thread::Builder::new()
            .name(format!("proxy-{dir:?}"))
            .spawn(move || pump.run())
            .context("spawning a forwarding thread")?;
        lock(&shared.pumps).push(handle);
    }
    Ok(())
}

/// Forwards one direction of one connection, applying its faults.
struct Pump {
    dir: Dir,
    src: TcpStream,
    dst: TcpStream,
    faults: Faults,
    shared: Arc<Shared>,
    /// The first bytes of the stream, to find where the MPA handshake ends.
    head: [u8; MPA_HEADER_LEN],
    read: u64,
    forwarded: u64,
    corrupt_done: bool,
    /// Bytes read and not yet forwarded: `held[start..]`.
    held: Vec<u8>,
    start: usize,
}

impl Pump {
    fn new(dir: Dir, src: TcpStream, dst: TcpStream, faults: Faults, shared: Arc<Shared>) -> Pump {
        Pump {
            dir,
            src,
            dst,
            faults,
            shared,
            head: [0; MPA_HEADER_LEN],
            read: 0,
            forwarded: 0,
            corrupt_done: false,
            held: Vec::new(),
            start: 0,
        }
    }

    fn state(&self) -> &DirState {
        self.shared.dir(self.dir)
    }

    /// Runs until the stream ends, is cut, fails or the proxy stops; records how.
    fn run(mut self) {
        let end = self.pump();
        // Recorded first: once a peer sees the stream end, the test may look.
        self.state().end.store(end.code(), Ordering::Release);
        if end == End::Cut {
            // Close both sides: each peer sees the stream end (a reset when bytes it
            // sent are left unread).
            let _ = self.src.shutdown(Shutdown::Both);
            let _ = self.dst.shutdown(Shutdown::Both);
        }
    }

    fn pump(&mut self) -> End {
        let mut buf = vec![0u8; READ_CHUNK];
        let mut src_done = false;
        loop {
            if self.shared.stopping() {
                return End::Stopped;
            }
            let stalled = self.state().stalled.load(Ordering::Acquire);
            let budget = self.read_budget();
            // The sender was quiet for a poll interval (or is gone): time to flush.
            let mut quiet = src_done;
            if !src_done && budget > 0 {
                let chunk = buf.get_mut(..budget).unwrap_or_default();
                match self.src.read(chunk) {
                    Ok(0) => {
                        src_done = true;
                        quiet = true;
                    }
                    Ok(n) => self.take(chunk.get_mut(..n).unwrap_or_default()),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        quiet = true;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        // The sender reset: pass the end on. The other direction is
                        // left to drain, so bytes already on their way (a Terminate)
                        // still arrive.
                        let _ = self.dst.shutdown(Shutdown::Write);
                        return End::SocketError;
                    }
                }
            } else if stalled || self.held_len() == 0 {
                // Nothing may be read or forwarded right now.
                thread::sleep(POLL);
            }
            // Loaded again after the read: bytes sent after `stall` returned are
            // always held.
            let stalled = self.state().stalled.load(Ordering::Acquire);
            if !stalled && let Err(end) = self.forward(quiet) {
                return end;
            }
            if self
                .cut_at()
                .is_some_and(|cut| self.forwarded >= cut && self.held_len() == 0)
            {
                return End::Cut;
            }
            if src_done && self.held_len() == 0 {
                // Pass the close on; the other direction goes on until its own end.
                let _ = self.dst.shutdown(Shutdown::Write);
                return End::Eof;
            }
        }
    }

    /// Where the MPA Request/Reply ends, once its header went by.
    fn handshake_len(&self) -> Option<u64> {
        if self.read < MPA_HEADER_LEN as u64 {
            return None;
        }
        let [.., hi, lo] = self.head;
        Some(MPA_HEADER_LEN as u64 + u64::from(u16::from_be_bytes([hi, lo])))
    }

    fn resolve(&self, at: At) -> Option<u64> {
        match at {
            At::Stream(n) => Some(n),
            At::AfterHandshake(n) => self.handshake_len().map(|h| h + n),
        }
    }

    fn cut_at(&self) -> Option<u64> {
        self.faults.cut_after.and_then(|at| self.resolve(at))
    }

    fn held_len(&self) -> usize {
        self.held.len() - self.start
    }

    /// How many bytes the next read may take: nothing past the cut, nothing while the
    /// hold is full, and only the MPA header until offsets after it are known.
    fn read_budget(&self) -> usize {
        if self.held_len() >= HOLD_MAX {
            return 0;
        }
        let mut budget = READ_CHUNK as u64;
        if self.faults.anchored() && self.read < MPA_HEADER_LEN as u64 {
            budget = budget.min(MPA_HEADER_LEN as u64 - self.read);
        }
        if let Some(cut) = self.cut_at() {
            budget = budget.min(cut.saturating_sub(self.read));
        }
        usize::try_from(budget).unwrap_or(READ_CHUNK)
    }

    /// Takes freshly read bytes: remembers the MPA header, applies the corruption,
    /// holds them for forwarding.
    fn take(&mut self, chunk: &mut [u8]) {
        let first = self.read;
        for (pos, &b) in (first..).zip(chunk.iter()) {
            match usize::try_from(pos).ok().and_then(|p| self.head.get_mut(p)) {
                Some(slot) => *slot = b,
                None => break,
            }
        }
        self.read += chunk.len() as u64;
        if let Some(c) = self.faults.corrupt.filter(|_| !self.corrupt_done)
            && let Some(at) = self.resolve(c.at)
            && let Some(byte) = at
                .checked_sub(first)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| chunk.get_mut(i))
        {
            *byte ^= c.mask;
            self.corrupt_done = true;
            self.state().corrupted.store(true, Ordering::Release);
        }
        self.held.extend_from_slice(chunk);
        self.state()
            .read
            .fetch_add(chunk.len() as u64, Ordering::AcqRel);
    }

    /// Forwards held bytes as the pacing says; `quiet`: the sender has nothing more now.
    fn forward(&mut self, quiet: bool) -> Result<(), End> {
        match self.faults.pacing {
            Pacing::Passthrough => self.forward_held(self.held_len()),
            Pacing::Coalesce { chunk } if quiet || self.held_len() >= chunk => {
                self.forward_held(self.held_len())
            }
            Pacing::Coalesce { .. } => Ok(()),
            Pacing::ByteByByte => {
                while self.held_len() > 0 {
                    if self.shared.stopping() || self.state().stalled.load(Ordering::Acquire) {
                        break;
                    }
                    self.forward_held(1)?;
                }
                Ok(())
            }
        }
    }

    /// Writes the next `n` held bytes (as one write where the socket takes them).
    /// They are counted and captured first: once the receiver has them, the test may
    /// look (a failed write ends the direction anyway).
    fn forward_held(&mut self, n: usize) -> Result<(), End> {
        let end = self.start + n;
        let Some(bytes) = self.held.get(self.start..end) else {
            return Ok(());
        };
        {
            let state = self.shared.dir(self.dir);
            let mut capture = lock(&state.capture);
            let room = CAPTURE_MAX.saturating_sub(capture.len()).min(bytes.len());
            capture.extend_from_slice(bytes.get(..room).unwrap_or_default());
            self.forwarded += n as u64;
            state.forwarded.fetch_add(n as u64, Ordering::AcqRel);
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.shared.stopping() {
                return Err(End::Stopped);
            }
            match self.dst.write(rest) {
                Ok(0) => return Err(End::SocketError),
                Ok(k) => rest = rest.get(k..).unwrap_or_default(),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(End::SocketError),
            }
        }
        self.start = end;
        if self.start == self.held.len() {
            self.held.clear();
            self.start = 0;
        } else if self.start >= READ_CHUNK {
            self.held.drain(..self.start);
            self.start = 0;
        }
        Ok(())
    }
}
