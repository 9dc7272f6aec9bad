//! `tickwarp probe --listen ADDR:PORT`: the far end of a probe. Per connection it prints
//! what actually arrived: the client's address as seen here (a NAT shows), the MSS, the
//! MPA Request's bytes and flags as received (a box that rewrites them shows), and it
//! answers the MPA Request with a Reply the probe recognises by its private data. A
//! plain `HELLO` line gets a plain answer, so a user can tell "this path drops MPA
//! payload" (a hello passes, a Request does not) from "the peer is not iWARP".
//!
//! Each connection gets its own thread (at most 64 at once; more are closed at once),
//! bounded by `--timeout`: a probe's hello must not wait behind its own stalled MPA
//! connection. It reads at most one MPA frame or one 256-byte line per connection and
//! must not do RDMAP (run `tickwarp rping --server` for the round trip).

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use tickwarp_rdma::soft::wire::mpa::{HEADER_LEN, MAX_PD_LEN};
use tickwarp_runtime::clock::monotonic_now;

use super::mpa::{self, Received, Reply};

/// The greeting line a plain client sends.
pub(super) const HELLO: &[u8] = b"HELLO";
/// Longest plain line read.
const LINE_MAX: usize = 256;
/// Connections served at once.
const MAX_ACTIVE: usize = 64;

/// Serves `count` connections (0: until interrupted) on `addr`.
pub(super) fn serve(addr: SocketAddr, timeout: Duration, count: u64) -> Result<()> {
    let listener = TcpListener::bind(addr).with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr()?;
    println!("probe responder: listening on {local}");
    let active = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    let mut served = 0u64;
    while count == 0 || served < count {
        let (stream, peer) = match listener.accept() {
            Ok(conn) => conn,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("accepting a connection"),
        };
        served += 1;
        if active.fetch_add(1, Ordering::AcqRel) >= MAX_ACTIVE {
            active.fetch_sub(1, Ordering::AcqRel);
            println!("probe responder: {peer}: closed, {MAX_ACTIVE} connections already open");
            continue;
        }
        let active = Arc::clone(&active);
        workers.retain(|w: &std::thread::JoinHandle<()>| !w.is_finished());
        workers.push(std::thread::spawn(move || {
            if let Err(e) = answer(stream, peer, timeout) {
                println!("probe responder: {peer}: {e}");
            }
            active.fetch_sub(1, Ordering::AcqRel);
        }));
    }
    // --count reached: let the last connections finish (each is bounded by the timeout).
    for worker in workers {
        let _ = worker.join();
    }
    Ok(())
}

/// What the first bytes of a connection were.
enum First {
    /// A whole MPA Request.
    Request(Vec<u8>),
    /// A plain line (or the bytes before the end, the timeout or the size bound).
    Plain(Vec<u8>),
}

/// Reads one MPA Request or one plain line, within `timeout`.
fn read_first(stream: &mut TcpStream, timeout: Duration) -> io::Result<First> {
    let deadline = monotonic_now().saturating_add(timeout);
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_sub(monotonic_now()).as_duration();
        if left.is_zero() {
            return Ok(First::Plain(got));
        }
        stream.set_read_timeout(Some(left))?;
        let n = match stream.read(&mut buf) {
            Ok(0) => return Ok(First::Plain(got)),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(First::Plain(got));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        got.extend_from_slice(&buf[..n]);
        match mpa::sort_request(&got) {
            Received::Reply(len) => {
                got.truncate(len);
                return Ok(First::Request(got));
            }
            Received::Incomplete if got.len() < HEADER_LEN + MAX_PD_LEN => {}
            Received::Incomplete | Received::OversizedReply(_) | Received::Foreign => {
                if got.contains(&b'\n') || got.len() >= LINE_MAX {
                    got.truncate(LINE_MAX);
                    return Ok(First::Plain(got));
                }
            }
        }
    }
}

/// Serves one connection: reports what arrived and answers it.
fn answer(mut stream: TcpStream, peer: SocketAddr, timeout: Duration) -> Result<()> {
    let local = stream.local_addr()?;
    let mss = socket2::SockRef::from(&stream)
        .tcp_mss()
        .map_or_else(|_| "unknown".into(), |m| m.to_string());
    println!("probe responder: connection from {peer} (as seen here) to {local}, MSS {mss}");
    stream.set_write_timeout(Some(timeout))?;
    match read_first(&mut stream, timeout)? {
        First::Request(frame) => {
            println!(
                "probe responder: {peer}: MPA Request ({} bytes): {}",
                frame.len(),
                hex(&frame)
            );
            let request = Reply::parse(&frame).context("decoding the MPA Request")?;
            println!("probe responder: {peer}: {}", request.summary());
            stream.write_all(&mpa::responder_reply(&request))?;
            println!("probe responder: {peer}: MPA Reply sent");
        }
        First::Plain(bytes) if bytes.starts_with(HELLO) => {
            println!("probe responder: {peer}: plain hello");
            // One write, so the line leaves in one segment.
            let line = format!("HELLO from tickwarp probe --listen: you are {peer}, MSS {mss}\n");
            stream.write_all(line.as_bytes())?;
        }
        First::Plain(bytes) if bytes.is_empty() => {
            println!("probe responder: {peer}: nothing arrived within {timeout:?}");
        }
        First::Plain(bytes) => {
            println!(
                "probe responder: {peer}: neither an MPA Request nor a hello ({}: \"{}\")",
                mpa::guess(&bytes),
                mpa::printable(&bytes)
            );
        }
    }
    Ok(())
}

/// Bytes as hex pairs separated by spaces.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
