//! The soft listener under hostile connections (issue 10): idle TCP connections and a
//! stalled MPA Request do not stop a real client from connecting, a stalled handshake
//! is dropped after its timeout, the half-open cap evicts the oldest handshake, and a
//! malformed Request is refused without blocking anyone. Assertions are on counts
//! ([`Listener::stats`]) and outcomes, never on timings; every wait is bounded.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_rdma::channel::{ChannelConfig, MessageChannel};
use tickwarp_rdma::verbs::{CmError, ConnectParams, ListenParams, Listener};
use util::{Deadline, Idle, Side, WAIT, any_port};

/// The first bytes of an MPA Request (RFC 5044 §7.1 key), never completed.
const HALF_REQUEST: &[u8] = b"MPA ID Req Fr";

/// `n` TCP connections to `addr` that never send anything.
fn idle_connections(addr: SocketAddr, n: usize) -> Result<Vec<TcpStream>> {
    (0..n)
        .map(|i| TcpStream::connect(addr).with_context(|| format!("idle connection {i}")))
        .collect()
}

/// A connection that sends half an MPA Request and then nothing.
fn stalled_connection(addr: SocketAddr) -> Result<TcpStream> {
    let mut s = TcpStream::connect(addr).context("stalled connection")?;
    s.write_all(HALF_REQUEST)?;
    Ok(s)
}

/// Connects a message channel from another thread while the listener accepts; sends
/// one message each way.
/// `server_side` is the side whose PD the listener belongs to.
fn real_client_connects(server_side: &Side, listener: &Listener) -> Result<()> {
    let addr = listener.local_addr();
    thread::scope(|s| -> Result<()> {
        let client = s.spawn(move || -> Result<()> {
            let side = Side::new(4)?;
            let params = ConnectParams {
                timeout: WAIT,
                ..ConnectParams::default()
            };
            let mut ch = MessageChannel::connect(
                &side.dev,
                &side.pd,
                addr,
                ChannelConfig::default(),
                &params,
            )
            .context("real client connect")?;
            ch.try_send(b"ping").context("client send")?;
            let mut buf = [0u8; 64];
            let deadline = Deadline::after(WAIT);
            let mut idle = Idle::new();
            loop {
                if let Some(n) = ch.try_recv(&mut buf)? {
                    ensure!(
                        buf.get(..n) == Some(&b"pong"[..]),
                        "client got the wrong reply"
                    );
                    return Ok(());
                }
                if deadline.passed() {
                    bail!("client: no reply within {WAIT:?}");
                }
                idle.idle(0);
            }
        });
        let req = listener
            .accept(WAIT)
            .context("listener never produced the real client")?;
        let mut ch = MessageChannel::accept(
            &server_side.dev,
            &server_side.pd,
            req,
            ChannelConfig::default(),
        )?;
        let mut buf = [0u8; 64];
        let deadline = Deadline::after(WAIT);
        let mut idle = Idle::new();
        loop {
            if let Some(n) = ch.try_recv(&mut buf)? {
                ensure!(
                    buf.get(..n) == Some(&b"ping"[..]),
                    "server got the wrong message"
                );
                break;
            }
            if deadline.passed() {
                bail!("server: no message within {WAIT:?}");
            }
            idle.idle(0);
        }
        ch.try_send(b"pong")?;
        let result = client
            .join()
            .map_err(|_| anyhow::anyhow!("client thread panicked"))?;
        // Keep the server end alive until the client has its reply.
        drop(ch);
        result
    })
}

#[test]
fn idle_and_stalled_peers_do_not_stop_a_real_client() -> Result<()> {
    let side = Side::new(4)?;
    let params = ListenParams {
        handshake_timeout: Duration::from_secs(600),
        ..ListenParams::default()
    };
    let listener = Listener::bind_with(&side.pd, any_port(), params)?;
    let addr = listener.local_addr();
    let _idle = idle_connections(addr, 100)?;
    let _stalled = stalled_connection(addr)?;
    real_client_connects(&side, &listener)?;
    let stats = listener.stats();
    ensure!(
        stats.half_open == 101,
        "expected the 100 idle and the stalled handshake still open: {stats:?}"
    );
    ensure!(stats.timed_out == 0 && stats.evicted == 0, "{stats:?}");
    Ok(())
}

#[test]
fn a_stalled_handshake_is_dropped_after_its_timeout() -> Result<()> {
    let side = Side::new(4)?;
    let params = ListenParams {
        handshake_timeout: Duration::from_millis(100),
        ..ListenParams::default()
    };
    let listener = Listener::bind_with(&side.pd, any_port(), params)?;
    let mut stalled = stalled_connection(listener.local_addr())?;
    let deadline = Deadline::after(WAIT);
    while listener.stats().timed_out == 0 {
        match listener.accept(Duration::from_millis(50)) {
            Err(CmError::Timeout) => {}
            Ok(_) => bail!("a half Request was accepted"),
            Err(e) => bail!("accept failed: {e}"),
        }
        if deadline.passed() {
            bail!(
                "the stalled handshake was not dropped within {WAIT:?}: {:?}",
                listener.stats()
            );
        }
    }
    ensure!(listener.stats().half_open == 0, "{:?}", listener.stats());
    stalled.set_read_timeout(Some(WAIT))?;
    let mut buf = [0u8; 16];
    match stalled.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => bail!("the stalled peer got {n} bytes instead of a close"),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => bail!("the stalled peer was not closed: {e}"),
    }
    // The listener still serves real clients afterwards.
    real_client_connects(&side, &listener)
}

#[test]
fn the_half_open_cap_evicts_the_oldest() -> Result<()> {
    let side = Side::new(4)?;
    let params = ListenParams {
        handshake_timeout: Duration::from_secs(600),
        max_half_open: 8,
        ..ListenParams::default()
    };
    let listener = Listener::bind_with(&side.pd, any_port(), params)?;
    let addr = listener.local_addr();
    let _idle = idle_connections(addr, 20)?;
    real_client_connects(&side, &listener)?;
    let stats = listener.stats();
    // 20 idle: 12 evicted to keep 8; the client's connection evicted one more and then
    // completed its handshake.
    ensure!(stats.evicted == 13, "{stats:?}");
    ensure!(stats.half_open == 7, "{stats:?}");
    Ok(())
}

#[test]
fn a_malformed_request_is_refused_without_blocking_others() -> Result<()> {
    let side = Side::new(4)?;
    let listener = Listener::bind_with(&side.pd, any_port(), ListenParams::default())?;
    let mut bad = TcpStream::connect(listener.local_addr())?;
    bad.write_all(&[0xAB; 64])?;
    real_client_connects(&side, &listener)?;
    let deadline = Deadline::after(WAIT);
    while listener.stats().refused == 0 {
        match listener.accept(Duration::from_millis(50)) {
            Err(CmError::Timeout) => {}
            Ok(_) => bail!("garbage was accepted as a Request"),
            Err(e) => bail!("accept failed: {e}"),
        }
        if deadline.passed() {
            bail!("garbage not refused within {WAIT:?}");
        }
    }
    Ok(())
}

#[test]
fn listen_params_are_checked() -> Result<()> {
    let side = Side::new(4)?;
    let zero_cap = ListenParams {
        max_half_open: 0,
        ..ListenParams::default()
    };
    ensure!(matches!(
        Listener::bind_with(&side.pd, any_port(), zero_cap),
        Err(CmError::InvalidParameter(_))
    ));
    let zero_timeout = ListenParams {
        handshake_timeout: Duration::ZERO,
        ..ListenParams::default()
    };
    ensure!(matches!(
        Listener::bind_with(&side.pd, any_port(), zero_timeout),
        Err(CmError::InvalidParameter(_))
    ));
    Ok(())
}
