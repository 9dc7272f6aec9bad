//! The raw-TCP baseline of the transport benchmarks: loopback stream pairs with the
//! socket options a soft-iWARP QP puts on its own socket, and busy-polled non-blocking
//! reads and writes in the loop shape the soft stack's progress uses.
//!
//! The options mirror `tickwarp_rdma`'s socket driver (`rdma/src/soft/driver.rs`):
//! `TCP_NODELAY`, non-blocking, and `SO_BUSY_POLL` when asked for. Keep them in step
//! with it, or the baseline stops being a baseline. Every wait goes through a
//! [`Spin`], so nothing here can hang. This module must not time anything; the
//! benchmarks do.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};

use thiserror::Error;

use crate::spin::{Spin, SpinError};

/// Why a polled TCP transfer failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum TcpError {
    /// A `read` or `write` system call failed.
    #[error("{op} failed: {kind}")]
    Io {
        /// `"read"` or `"write"`.
        op: &'static str,
        /// What the kernel reported.
        kind: ErrorKind,
    },
    /// The peer closed the stream before the transfer was complete.
    #[error("the peer closed the stream after {done} of {want} bytes")]
    Closed {
        /// Bytes transferred before the close.
        done: usize,
        /// Bytes the transfer needed.
        want: usize,
    },
    /// The socket accepted no bytes of a non-empty write.
    #[error("the socket accepted no bytes")]
    WriteZero,
    /// The run ended (deadline or a failed peer thread) first.
    #[error(transparent)]
    Spin(#[from] SpinError),
}

/// Puts the soft stack's socket options on `stream`: `TCP_NODELAY`, non-blocking, and
/// `SO_BUSY_POLL` of `busy_poll_us` microseconds when non-zero (Linux only).
pub fn tune(stream: &TcpStream, busy_poll_us: u32) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    if busy_poll_us > 0 {
        set_busy_poll(stream, busy_poll_us)?;
    }
    Ok(())
}

/// A connected, [`tune`]d pair of streams over 127.0.0.1: (connecting side, accepting
/// side).
pub fn connected_pair(busy_poll_us: u32) -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    // The kernel finished the handshake inside `connect`: this accept returns at once.
    let (server, _) = listener.accept()?;
    tune(&client, busy_poll_us)?;
    tune(&server, busy_poll_us)?;
    Ok((client, server))
}

/// Writes all of `bytes` to a non-blocking `stream`, retrying at once on `WouldBlock`.
pub fn write_all_polling(
    stream: &mut TcpStream,
    bytes: &[u8],
    spin: &mut Spin<'_>,
) -> Result<(), TcpError> {
    let mut rest = bytes;
    while !rest.is_empty() {
        match stream.write(rest) {
            Ok(0) => return Err(TcpError::WriteZero),
            Ok(n) => rest = rest.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == ErrorKind::WouldBlock => spin.check("the socket to drain")?,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(TcpError::Io {
                    op: "write",
                    kind: e.kind(),
                });
            }
        }
    }
    Ok(())
}

/// Reads at least one byte into `buf` from a non-blocking `stream`, polling on
/// `WouldBlock`; returns how many were read (0 only for an empty `buf`).
pub fn read_some_polling(
    stream: &mut TcpStream,
    buf: &mut [u8],
    spin: &mut Spin<'_>,
) -> Result<usize, TcpError> {
    if buf.is_empty() {
        return Ok(0);
    }
    loop {
        match stream.read(buf) {
            Ok(0) => {
                return Err(TcpError::Closed {
                    done: 0,
                    want: buf.len(),
                });
            }
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => spin.check("bytes from the peer")?,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(TcpError::Io {
                    op: "read",
                    kind: e.kind(),
                });
            }
        }
    }
}

/// Fills `buf` from a non-blocking `stream`, polling `read` until every byte arrived.
pub fn read_exact_polling(
    stream: &mut TcpStream,
    buf: &mut [u8],
    spin: &mut Spin<'_>,
) -> Result<(), TcpError> {
    let want = buf.len();
    let mut done = 0;
    while let Some(rest) = buf.get_mut(done..).filter(|r| !r.is_empty()) {
        done += read_some_polling(stream, rest, spin).map_err(|e| match e {
            TcpError::Closed { .. } => TcpError::Closed { done, want },
            other => other,
        })?;
    }
    Ok(())
}

/// `SO_BUSY_POLL` (Linux), as the soft stack's driver sets it.
#[cfg(target_os = "linux")]
fn set_busy_poll(stream: &TcpStream, micros: u32) -> io::Result<()> {
    socket2::SockRef::from(stream).set_busy_poll(micros)
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
    use std::sync::atomic::AtomicBool;
    use std::thread;
    use std::time::Duration;

    use super::*;
    use crate::spin::{Deadline, Idle};

    fn spin(stop: &AtomicBool) -> Spin<'_> {
        Spin::new(Deadline::after(Duration::from_secs(20)), stop, Idle::Yield)
    }

    #[test]
    fn pair_is_tuned_and_carries_bytes_both_ways() {
        let (mut a, mut b) = connected_pair(0).unwrap();
        assert!(a.nodelay().unwrap() && b.nodelay().unwrap());
        let stop = AtomicBool::new(false);
        let mut s = spin(&stop);
        let mut buf = [0u8; 5];
        // Non-blocking: nothing there yet means WouldBlock, not a wait.
        assert_eq!(
            a.read(&mut buf).map_err(|e| e.kind()),
            Err(ErrorKind::WouldBlock)
        );
        write_all_polling(&mut a, b"hello", &mut s).unwrap();
        read_exact_polling(&mut b, &mut buf, &mut s).unwrap();
        assert_eq!(&buf, b"hello");
        write_all_polling(&mut b, b"world", &mut s).unwrap();
        read_exact_polling(&mut a, &mut buf, &mut s).unwrap();
        assert_eq!(&buf, b"world");
    }

    #[test]
    fn large_transfer_survives_partial_reads_and_writes() {
        let (mut a, mut b) = connected_pair(0).unwrap();
        let data: Vec<u8> = (0..4usize << 20).map(|i| (i * 7 + i / 251) as u8).collect();
        let stop = AtomicBool::new(false);
        let got = thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut spin = spin(&stop);
                let mut got = vec![0u8; data.len()];
                read_exact_polling(&mut b, &mut got, &mut spin).map(|()| got)
            });
            let mut spin = spin(&stop);
            write_all_polling(&mut a, &data, &mut spin).unwrap();
            reader.join().unwrap()
        })
        .unwrap();
        assert!(got == data, "4 MiB arrived corrupted");
    }

    #[test]
    fn close_and_stop_end_a_read() {
        let (a, mut b) = connected_pair(0).unwrap();
        let stop = AtomicBool::new(false);
        let mut s = spin(&stop);
        let mut buf = [0u8; 8];
        drop(a);
        assert_eq!(
            read_exact_polling(&mut b, &mut buf, &mut s),
            Err(TcpError::Closed { done: 0, want: 8 })
        );
        let (_c, mut d) = connected_pair(0).unwrap();
        s.stop_all();
        assert_eq!(
            read_exact_polling(&mut d, &mut buf, &mut s),
            Err(TcpError::Spin(SpinError::Stopped("bytes from the peer")))
        );
    }
}
