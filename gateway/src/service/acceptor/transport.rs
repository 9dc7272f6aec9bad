//! [`Stream`]: one accepted FIX connection's byte stream — plain TCP, or TLS through a
//! rustls `ServerConnection` over the same non-blocking socket.
//!
//! The acceptor sees plaintext either way: [`Stream::read`] returns application bytes
//! and how many bytes it took from the socket (handshake and record overhead included,
//! so the caller charges them to the connection's read budget and, before logon, to
//! its anonymous budget); [`Stream::write`] takes plaintext only while rustls holds
//! less than [`TLS_BUFFER_LIMIT`] of records, so what a slow reader has not taken stays
//! in the session's bounded outbound queue; [`Stream::flush`] pushes records rustls
//! holds (handshake messages, alerts, application data) to the socket.
//!
//! A TLS error (bad record, handshake failure, an alert from the peer, a client
//! certificate that does not verify) comes back as [`ReadOutcome::TlsFailed`] after
//! the alert rustls queued was written once, best effort.
//!
//! What this module must not do: block, loop on a socket without a bound, read a clock,
//! or log (the acceptor logs, rate-limited, with the peer address).

use std::io::{self, ErrorKind, Read, Write};

use mio::net::TcpStream;
use rustls::ServerConnection;

use super::tls::{TLS_BUFFER_LIMIT, TlsAcceptor};

/// An accepted connection's stream (see the module docs).
#[derive(Debug)]
pub(super) enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream>),
}

/// A rustls server connection and its socket.
#[derive(Debug)]
pub(super) struct TlsStream {
    tcp: TcpStream,
    tls: ServerConnection,
}

/// What one read found.
#[derive(Debug)]
pub(super) enum ReadOutcome {
    /// `plain` application bytes are in the buffer, after `wire` bytes were taken from
    /// the socket (both 0: nothing more now, and the socket said so).
    Data {
        /// Application bytes placed in the buffer.
        plain: usize,
        /// Bytes read from the socket.
        wire: usize,
    },
    /// The peer closed, or the socket failed.
    Closed,
    /// TLS failed; the connection must be closed.
    TlsFailed(rustls::Error),
}

impl Stream {
    /// Wraps an accepted socket; TLS when `tls` is given.
    pub(super) fn new(tcp: TcpStream, tls: Option<&TlsAcceptor>) -> Result<Stream, rustls::Error> {
        let Some(acceptor) = tls else {
            return Ok(Stream::Plain(tcp));
        };
        let mut conn = ServerConnection::new(acceptor.config())?;
        conn.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        Ok(Stream::Tls(Box::new(TlsStream { tcp, tls: conn })))
    }

    /// The socket (to register with the poll).
    pub(super) fn socket(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(s) => &mut s.tcp,
        }
    }

    /// Reads application bytes into `buf` (see [`ReadOutcome`]). A TLS stream reads
    /// the socket at most once per call.
    pub(super) fn read(&mut self, buf: &mut [u8]) -> ReadOutcome {
        match self {
            Stream::Plain(tcp) => match read_socket(tcp, buf) {
                Ok(0) => ReadOutcome::Closed,
                Ok(n) => ReadOutcome::Data { plain: n, wire: n },
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    ReadOutcome::Data { plain: 0, wire: 0 }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "FIX connection read failed");
                    ReadOutcome::Closed
                }
            },
            Stream::Tls(s) => s.read(buf),
        }
    }

    /// Hands application bytes to the stream; returns how many it took. `WouldBlock`
    /// when it can take none now (socket full, or rustls at its buffer limit).
    pub(super) fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(data),
            Stream::Tls(s) => s.write(data),
        }
    }

    /// Writes the TLS records rustls holds; `Ok(true)` when none are left.
    pub(super) fn flush(&mut self) -> io::Result<bool> {
        match self {
            Stream::Plain(_) => Ok(true),
            Stream::Tls(s) => s.flush_records(),
        }
    }

    /// Whether TLS records wait to be written.
    pub(super) fn wants_write(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(s) => s.tls.wants_write(),
        }
    }

    /// Before the socket closes: a TLS close_notify, written once, best effort.
    pub(super) fn close_notify(&mut self) {
        if let Stream::Tls(s) = self {
            s.tls.send_close_notify();
            if let Err(e) = s.flush_records() {
                tracing::debug!(error = %e, "TLS close_notify not written");
            }
        }
    }
}

impl TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> ReadOutcome {
        if let Some(outcome) = self.read_plain(buf) {
            return outcome;
        }
        let wire = loop {
            match self.tls.read_tls(&mut self.tcp) {
                Ok(0) => return ReadOutcome::Closed,
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    return ReadOutcome::Data { plain: 0, wire: 0 };
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::debug!(error = %e, "FIX TLS connection read failed");
                    return ReadOutcome::Closed;
                }
            }
        };
        if let Err(e) = self.tls.process_new_packets() {
            // rustls queued an alert for the peer: one try at writing it.
            if let Err(w) = self.flush_records() {
                tracing::debug!(error = %w, "TLS alert not written");
            }
            return ReadOutcome::TlsFailed(e);
        }
        // Handshake messages (or a key update) to answer.
        if let Err(e) = self.flush_records() {
            tracing::debug!(error = %e, "FIX TLS connection write failed");
            return ReadOutcome::Closed;
        }
        match self.read_plain(buf) {
            Some(ReadOutcome::Data { plain, .. }) => ReadOutcome::Data { plain, wire },
            Some(other) => other,
            None => ReadOutcome::Data { plain: 0, wire },
        }
    }

    /// Plaintext rustls already decrypted; `None` when it has none.
    fn read_plain(&mut self, buf: &mut [u8]) -> Option<ReadOutcome> {
        match self.tls.reader().read(buf) {
            // A close_notify from the peer.
            Ok(0) => Some(ReadOutcome::Closed),
            Ok(n) => Some(ReadOutcome::Data { plain: n, wire: 0 }),
            Err(e) if e.kind() == ErrorKind::WouldBlock => None,
            // UnexpectedEof: the socket closed without a close_notify.
            Err(_) => Some(ReadOutcome::Closed),
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // Make room first: records rustls holds count against its buffer limit.
        self.flush_records()?;
        let n = self.tls.writer().write(data)?;
        self.flush_records()?;
        if n == 0 && !data.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush_records(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// One read of a non-blocking socket, retried on `Interrupted`.
fn read_socket(tcp: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match tcp.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}
