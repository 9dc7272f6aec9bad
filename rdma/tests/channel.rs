//! Integration tests of the credit-flow-controlled message channel over the soft backend
//! on 127.0.0.1: lossless ordered delivery both ways with a slow receiver, credit
//! return on one-way traffic, two threads, typed errors, peer disconnect, bad setup,
//! and an allocation-free steady state.

mod util;

use std::thread;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_rdma::channel::{
    ChannelConfig, ChannelError, ChannelSetupError, MessageChannel, ParamsError,
};
use tickwarp_rdma::verbs::{CmError, ConnectParams, Listener};
use tickwarp_testkit::{CountingAllocator, count_allocations};
use util::{Deadline, Idle, Side, WAIT, any_port};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// Two connected channel ends and the sides (devices, PDs) they live on.
struct ChannelPair {
    client: MessageChannel,
    server: MessageChannel,
    _sides: (Side, Side),
}

fn channel_pair(client_cfg: ChannelConfig, server_cfg: ChannelConfig) -> Result<ChannelPair> {
    let cside = Side::new(4)?;
    let sside = Side::new(4)?;
    let listener = Listener::bind(&sside.pd, any_port())?;
    let addr = listener.local_addr();
    let (client, server) = thread::scope(|s| -> Result<_> {
        let srv = s.spawn(|| -> Result<MessageChannel> {
            let req = listener.accept(WAIT).context("accept")?;
            Ok(MessageChannel::accept(
                &sside.dev, &sside.pd, req, server_cfg,
            )?)
        });
        let client = MessageChannel::connect(
            &cside.dev,
            &cside.pd,
            addr,
            client_cfg,
            &ConnectParams::default(),
        )
        .context("connect");
        let server = srv
            .join()
            .map_err(|_| anyhow::anyhow!("server thread panicked"))??;
        Ok((client?, server))
    })?;
    Ok(ChannelPair {
        client,
        server,
        _sides: (cside, sside),
    })
}

/// Message `i` of a stream tagged `tag`: its index, then a pattern; 8 to 64 bytes.
fn message(tag: u8, i: u64, out: &mut [u8; 64]) -> &[u8] {
    let len = 8 + (i as usize * 13) % 57;
    out[..8].copy_from_slice(&i.to_le_bytes());
    for (k, b) in out[8..len].iter_mut().enumerate() {
        *b = tag ^ (i as u8).wrapping_add(k as u8);
    }
    &out[..len]
}

/// Checks that `got` is message `i` of stream `tag`.
fn verify(tag: u8, i: u64, got: &[u8]) -> Result<()> {
    let mut want = [0u8; 64];
    let want = message(tag, i, &mut want);
    ensure!(
        got == want,
        "stream {tag}: message {i} wrong or out of order: {got:?}"
    );
    Ok(())
}

/// One direction's bookkeeping in the single-threaded driver.
#[derive(Default)]
struct Stream {
    sent: u64,
    received: u64,
    would_block: u64,
}

/// Sends up to `burst` messages of stream `tag`, counting WouldBlock.
fn send_burst(
    ch: &mut MessageChannel,
    st: &mut Stream,
    tag: u8,
    total: u64,
    burst: usize,
) -> Result<usize> {
    let mut buf = [0u8; 64];
    let mut work = 0;
    for _ in 0..burst {
        if st.sent == total {
            break;
        }
        match ch.try_send(message(tag, st.sent, &mut buf)) {
            Ok(()) => {
                st.sent += 1;
                work += 1;
            }
            Err(ChannelError::WouldBlock) => {
                st.would_block += 1;
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(work)
}

/// Receives up to `burst` messages of stream `tag`, verifying order and content.
fn recv_burst(ch: &mut MessageChannel, st: &mut Stream, tag: u8, burst: usize) -> Result<usize> {
    let mut out = [0u8; 64];
    let mut work = 0;
    for _ in 0..burst {
        match ch.try_recv(&mut out)? {
            Some(len) => {
                verify(tag, st.received, &out[..len])?;
                st.received += 1;
                work += 1;
            }
            None => break,
        }
    }
    Ok(work)
}

#[test]
fn lossless_both_ways_with_a_slow_receiver() -> Result<()> {
    const TOTAL: u64 = 100_000;
    let config = ChannelConfig {
        slots: 16,
        slot_size: 128,
        send_depth: 16,
    };
    let ChannelPair {
        mut client,
        mut server,
        ..
    } = channel_pair(config, config)?;
    let (mut c2s, mut s2c) = (Stream::default(), Stream::default());
    let deadline = Deadline::after(WAIT);
    let mut idle = Idle::new();
    while c2s.received < TOTAL || s2c.received < TOTAL {
        ensure!(
            !deadline.passed(),
            "stalled: client→server {}/{} received, server→client {}/{}",
            c2s.received,
            c2s.sent,
            s2c.received,
            s2c.sent
        );
        // The client sends fast and reads everything; the server reads one message a
        // round, so the client keeps running out of credits.
        let mut work = send_burst(&mut client, &mut c2s, 1, TOTAL, 8)?;
        work += send_burst(&mut server, &mut s2c, 2, TOTAL, 2)?;
        work += recv_burst(&mut server, &mut c2s, 1, 1)?;
        work += recv_burst(&mut client, &mut s2c, 2, 64)?;
        idle.idle(work);
    }
    assert_eq!((c2s.sent, s2c.sent), (TOTAL, TOTAL));
    assert!(
        c2s.would_block > 0,
        "the fast sender never saw backpressure"
    );
    // Nothing extra arrives.
    let mut out = [0u8; 64];
    assert_eq!(client.try_recv(&mut out)?, None);
    assert_eq!(server.try_recv(&mut out)?, None);
    Ok(())
}

#[test]
fn credits_return_on_one_way_traffic() -> Result<()> {
    const TOTAL: u64 = 20_000;
    let config = ChannelConfig {
        slots: 4,
        slot_size: 72,
        send_depth: 4,
    };
    let ChannelPair {
        mut client,
        mut server,
        ..
    } = channel_pair(config, config)?;
    assert_eq!(client.credits(), 4);
    let mut st = Stream::default();
    let deadline = Deadline::after(WAIT);
    let mut idle = Idle::new();
    while st.received < TOTAL {
        ensure!(
            !deadline.passed(),
            "stalled at {}/{} with {} credits",
            st.received,
            st.sent,
            client.credits()
        );
        // The server never sends data: every credit comes back in a credit return.
        let mut work = send_burst(&mut client, &mut st, 7, TOTAL, 4)?;
        work += recv_burst(&mut server, &mut st, 7, 4)?;
        idle.idle(work);
    }
    ensure!(st.sent == TOTAL && st.would_block > 0);
    // Everything consumed: credit returns bring the client back to at least K - K/2.
    let deadline = Deadline::after(WAIT);
    while client.credits() < 2 {
        ensure!(!deadline.passed(), "credits never came back");
        client.progress()?;
        server.progress()?;
        idle.idle(0);
    }
    Ok(())
}

#[test]
fn credit_stalls_and_stream_bytes_are_counted() -> Result<()> {
    let config = ChannelConfig {
        slots: 4,
        slot_size: 72,
        send_depth: 4,
    };
    let ChannelPair {
        mut client,
        mut server,
        ..
    } = channel_pair(config, config)?;
    let mut buf = [0u8; 64];
    // 4 credits, the last kept for credit returns: 3 sends, then a stall that retries
    // do not count again.
    for i in 0..3 {
        client.try_send(message(1, i, &mut buf))?;
    }
    for _ in 0..3 {
        ensure!(matches!(
            client.try_send(message(1, 3, &mut buf)),
            Err(ChannelError::WouldBlock)
        ));
    }
    ensure!(client.credit_stalls() == 1, "{}", client.credit_stalls());
    // The server consumes all three; credits come back and the next send goes out.
    let mut st = Stream::default();
    let deadline = Deadline::after(WAIT);
    let mut idle = Idle::new();
    while st.received < 3 {
        ensure!(!deadline.passed(), "messages never arrived");
        let work = recv_burst(&mut server, &mut st, 1, 4)?;
        idle.idle(work);
    }
    let deadline = Deadline::after(WAIT);
    loop {
        match client.try_send(message(1, 3, &mut buf)) {
            Ok(()) => break,
            Err(ChannelError::WouldBlock) => {
                ensure!(!deadline.passed(), "credits never came back");
                server.progress()?;
                idle.idle(0);
            }
            Err(e) => return Err(e.into()),
        }
    }
    ensure!(client.credit_stalls() == 1, "{}", client.credit_stalls());
    while st.received < 4 {
        ensure!(!deadline.passed(), "the fourth message never arrived");
        let work = recv_burst(&mut server, &mut st, 1, 4)? + client.progress()?;
        idle.idle(work);
    }
    // What one side wrote the other read (the stream is quiet once both are drained).
    let deadline = Deadline::after(WAIT);
    loop {
        client.progress()?;
        server.progress()?;
        let (c, s) = (
            client.transport_stats().context("soft stats")?,
            server.transport_stats().context("soft stats")?,
        );
        if c.bytes_sent == s.bytes_received && s.bytes_sent == c.bytes_received {
            ensure!(c.bytes_sent > 4 * 8, "{c:?}");
            ensure!(c.terminates_sent.total() + s.terminates_sent.total() == 0);
            break;
        }
        ensure!(!deadline.passed(), "byte counts never agreed: {c:?} {s:?}");
        idle.idle(0);
    }
    Ok(())
}

#[test]
fn two_threads_exchange_losslessly() -> Result<()> {
    const TOTAL: u64 = 20_000;
    let config = ChannelConfig {
        slots: 8,
        slot_size: 128,
        send_depth: 8,
    };
    let ChannelPair { client, server, .. } = channel_pair(config, config)?;
    let run = |mut ch: MessageChannel, tx_tag: u8, rx_tag: u8| -> Result<MessageChannel> {
        let (mut tx, mut rx) = (Stream::default(), Stream::default());
        let deadline = Deadline::after(WAIT);
        let mut idle = Idle::new();
        while tx.sent < TOTAL || rx.received < TOTAL {
            ensure!(
                !deadline.passed(),
                "stream {tx_tag}: sent {}, received {}",
                tx.sent,
                rx.received
            );
            let mut work = send_burst(&mut ch, &mut tx, tx_tag, TOTAL, 16)?;
            work += recv_burst(&mut ch, &mut rx, rx_tag, 16)?;
            idle.idle(work);
        }
        Ok(ch)
    };
    // Both ends stay alive until both finished, so neither sees the other close.
    let (client, server) = thread::scope(|s| {
        let a = s.spawn(|| run(client, 3, 4));
        let b = s.spawn(|| run(server, 4, 3));
        (a.join(), b.join())
    });
    let (Ok(client), Ok(server)) = (client, server) else {
        bail!("a channel thread panicked");
    };
    let (_client, _server) = (client?, server?);
    Ok(())
}

#[test]
fn oversized_messages_and_small_buffers_are_typed_errors() -> Result<()> {
    let ChannelPair {
        mut client,
        mut server,
        ..
    } = channel_pair(
        ChannelConfig {
            slot_size: 1024,
            ..ChannelConfig::default()
        },
        ChannelConfig {
            slot_size: 64,
            ..ChannelConfig::default()
        },
    )?;
    // The client may send what fits the server's slots, and vice versa.
    assert_eq!(client.max_message(), 56);
    assert_eq!(server.max_message(), 1016);
    assert_eq!(
        client.try_send(&[0; 57]),
        Err(ChannelError::TooLarge { len: 57, max: 56 })
    );
    client.try_send(&[9; 56])?;
    let deadline = Deadline::after(WAIT);
    let mut idle = Idle::new();
    let mut small = [0u8; 10];
    loop {
        match server.try_recv(&mut small) {
            Err(ChannelError::BufferTooSmall { need: 56, have: 10 }) => break,
            Ok(None) => idle.idle(0),
            other => bail!("expected BufferTooSmall, got {other:?}"),
        }
        ensure!(!deadline.passed(), "the message never arrived");
    }
    let mut out = [0u8; 56];
    assert_eq!(server.try_recv(&mut out)?, Some(56));
    assert_eq!(out, [9; 56]);
    Ok(())
}

#[test]
fn peer_disconnect_is_a_typed_error_on_both_sides() -> Result<()> {
    let ChannelPair {
        mut client,
        mut server,
        ..
    } = channel_pair(ChannelConfig::default(), ChannelConfig::default())?;
    let mut buf = [0u8; 64];
    for i in 0..3 {
        client.try_send(message(5, i, &mut buf))?;
    }
    // Received before the close: still delivered, then the error.
    let mut rx = Stream::default();
    let deadline = Deadline::after(WAIT);
    let mut idle = Idle::new();
    while rx.received < 3 {
        ensure!(!deadline.passed(), "the three messages never arrived");
        let work = recv_burst(&mut server, &mut rx, 5, 3)?;
        idle.idle(work);
    }
    client.disconnect();
    assert_eq!(client.try_send(b"late"), Err(ChannelError::Disconnected));
    let mut out = [0u8; 64];
    let deadline = Deadline::after(WAIT);
    loop {
        match server.try_recv(&mut out) {
            Err(ChannelError::Disconnected) => break,
            Ok(None) => idle.idle(0),
            other => bail!("expected Disconnected, got {other:?}"),
        }
        ensure!(!deadline.passed(), "the server never saw the disconnect");
    }
    assert_eq!(server.try_send(b"hello?"), Err(ChannelError::Disconnected));
    assert_eq!(server.progress(), Err(ChannelError::Disconnected));
    Ok(())
}

#[test]
fn dropping_one_end_fails_the_other() -> Result<()> {
    let ChannelPair {
        client, mut server, ..
    } = channel_pair(ChannelConfig::default(), ChannelConfig::default())?;
    drop(client);
    let mut out = [0u8; 64];
    let deadline = Deadline::after(WAIT);
    let mut idle = Idle::new();
    loop {
        match server.try_recv(&mut out) {
            Err(ChannelError::Disconnected) => return Ok(()),
            Ok(None) => idle.idle(0),
            other => bail!("expected Disconnected, got {other:?}"),
        }
        ensure!(!deadline.passed(), "the server never saw the drop");
    }
}

#[test]
fn bad_parameters_are_refused_at_setup() -> Result<()> {
    let cside = Side::new(4)?;
    let sside = Side::new(4)?;
    let bad = ChannelConfig {
        slots: 2,
        ..ChannelConfig::default()
    };
    let local = MessageChannel::connect(
        &cside.dev,
        &cside.pd,
        any_port(),
        bad,
        &ConnectParams::default(),
    );
    assert!(matches!(
        local,
        Err(ChannelSetupError::Params(ParamsError::Slots(2)))
    ));
    // A peer that does not speak the channel protocol is rejected with a reason.
    let listener = Listener::bind(&sside.pd, any_port())?;
    let addr = listener.local_addr();
    thread::scope(|s| -> Result<()> {
        let srv = s.spawn(|| -> Result<()> {
            let req = listener.accept(WAIT)?;
            let refused =
                MessageChannel::accept(&sside.dev, &sside.pd, req, ChannelConfig::default());
            ensure!(
                matches!(
                    refused,
                    Err(ChannelSetupError::Params(ParamsError::Truncated {
                        need: 12,
                        have: 3
                    }))
                ),
                "{refused:?}"
            );
            Ok(())
        });
        let params = ConnectParams {
            private_data: b"hi!".to_vec(),
            ..ConnectParams::default()
        };
        let result = cside.pd.connect(addr, &cside.init(), &params);
        srv.join()
            .map_err(|_| anyhow::anyhow!("server thread panicked"))??;
        match result {
            Err(CmError::Rejected { reason }) => {
                ensure!(reason == b"invalid message channel parameters");
                Ok(())
            }
            other => bail!("expected a reject, got {other:?}"),
        }
    })?;
    Ok(())
}

#[test]
fn steady_state_send_and_recv_do_not_allocate() -> Result<()> {
    let ChannelPair {
        mut client,
        mut server,
        ..
    } = channel_pair(ChannelConfig::default(), ChannelConfig::default())?;
    let mut buf = [0u8; 64];
    let mut out = [0u8; 64];
    let mut round = |i: u64| -> Result<()> {
        let deadline = Deadline::after(WAIT);
        client.try_send(message(1, i, &mut buf))?;
        loop {
            if let Some(len) = server.try_recv(&mut out)? {
                verify(1, i, &out[..len])?;
                break;
            }
            ensure!(!deadline.passed(), "round {i}: request lost");
            thread::yield_now();
        }
        server.try_send(message(2, i, &mut buf))?;
        loop {
            if let Some(len) = client.try_recv(&mut out)? {
                verify(2, i, &out[..len])?;
                return Ok(());
            }
            ensure!(!deadline.passed(), "round {i}: reply lost");
            thread::yield_now();
        }
    };
    for i in 0..200 {
        round(i)?;
    }
    let (result, allocations) = count_allocations(|| (200..2200).try_for_each(&mut round));
    result?;
    assert_eq!(allocations, 0, "send/recv allocated in steady state");
    Ok(())
}
