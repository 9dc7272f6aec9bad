//! Conformance of the layers above the verbs: the RDMA WRITE ring and the message
//! channel, end to end over the backend.

use std::thread;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_rdma::channel::{ChannelConfig, ChannelError, MessageChannel};
use tickwarp_rdma::ring::{
    RingConfig, RingPoll, RingReader, RingWriter, RingWriterConfig, SeqPlacement,
};
use tickwarp_rdma::verbs::Listener;

use crate::env::{Env, Side};
use crate::util::{Deadline, Idle, WAIT};

/// Writer, reader, and the sides they live on.
struct RingPair {
    writer: RingWriter,
    reader: RingReader,
    _sides: (Side, Side),
}

fn ring_pair(env: &Env, config: RingConfig) -> Result<RingPair> {
    let wside = env.side(16)?;
    let rside = env.side(16)?;
    let listener = Listener::bind(&wside.pd, env.any_port())?;
    let addr = listener.local_addr();
    let (writer, reader) = thread::scope(|s| -> Result<_> {
        let accepted = s.spawn(|| -> Result<RingWriter> {
            let req = listener.accept(WAIT).context("accept")?;
            Ok(RingWriter::accept(
                &wside.dev,
                &wside.pd,
                req,
                RingWriterConfig::default(),
            )?)
        });
        let reader = RingReader::connect(&rside.dev, &rside.pd, addr, config, &env.params())
            .context("reader connect");
        let writer = accepted
            .join()
            .map_err(|_| anyhow::anyhow!("writer thread panicked"))??;
        Ok((writer, reader?))
    })?;
    Ok(RingPair {
        writer,
        reader,
        _sides: (wside, rside),
    })
}

/// Payload of message `seq`: its number, then a pattern; 8 to 80 bytes.
fn payload(seq: u64, out: &mut [u8; 80]) -> &[u8] {
    let len = 8 + (seq as usize * 7) % 73;
    out[..8].copy_from_slice(&seq.to_le_bytes());
    for (k, b) in out[8..len].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_mul(13).wrapping_add(k as u8);
    }
    &out[..len]
}

/// Polls the reader until it reports something other than `Empty`.
fn next(pair: &mut RingPair, out: &mut [u8]) -> Result<RingPoll> {
    let deadline = Deadline::after(WAIT);
    let mut idle = Idle::new();
    loop {
        let got = pair.reader.poll(out)?;
        if got != RingPoll::Empty {
            return Ok(got);
        }
        let reaped = pair.writer.reap()?;
        if deadline.passed() {
            bail!("timed out waiting for the ring");
        }
        idle.idle(reaped);
    }
}

fn deliver_in_order(env: &Env, placement: SeqPlacement) -> Result<()> {
    let mut pair = ring_pair(
        env,
        RingConfig {
            slot_size: 128,
            slot_count: 64,
            placement,
        },
    )?;
    let mut buf = [0u8; 80];
    let mut out = [0u8; 128];
    for seq in 1..=300u64 {
        let sent = payload(seq, &mut buf).to_vec();
        ensure!(pair.writer.publish(&sent)? == seq);
        match next(&mut pair, &mut out)? {
            RingPoll::Message { seq: got, len } => {
                ensure!(got == seq, "expected {seq}, got {got}");
                ensure!(out[..len] == sent[..], "message {seq} differs");
            }
            other => bail!("message {seq}: {other:?}"),
        }
    }
    Ok(())
}

pub(crate) fn ring_delivers_in_order(env: &Env) -> Result<()> {
    deliver_in_order(env, SeqPlacement::InWrite)
}

pub(crate) fn ring_with_separate_tail_write(env: &Env) -> Result<()> {
    deliver_in_order(env, SeqPlacement::SeparateWrite)
}

pub(crate) fn lapped_ring_reader_sees_a_gap(env: &Env) -> Result<()> {
    let mut pair = ring_pair(
        env,
        RingConfig {
            slot_size: 128,
            slot_count: 4,
            placement: SeqPlacement::InWrite,
        },
    )?;
    let mut buf = [0u8; 80];
    for seq in 1..=10u64 {
        pair.writer.publish(payload(seq, &mut buf))?;
    }
    let mut out = [0u8; 128];
    let mut gaps = 0;
    loop {
        match next(&mut pair, &mut out)? {
            RingPoll::Gap { expected, found } => {
                ensure!(found > expected, "gap {expected}..{found}");
                gaps += 1;
            }
            RingPoll::Message { seq, len } => {
                ensure!(
                    out[..len] == *payload(seq, &mut buf),
                    "message {seq} torn or stale"
                );
                if seq == 10 {
                    break;
                }
            }
            RingPoll::Empty => bail!("next() never returns Empty"),
        }
    }
    ensure!(gaps >= 1, "a reader lapped by 6 messages must see a gap");
    Ok(())
}

/// Two connected channel ends and the sides they live on.
struct ChannelPair {
    client: MessageChannel,
    server: MessageChannel,
    _sides: (Side, Side),
}

fn channel_pair(env: &Env, config: ChannelConfig) -> Result<ChannelPair> {
    let cside = env.side(4)?;
    let sside = env.side(4)?;
    let listener = Listener::bind(&sside.pd, env.any_port())?;
    let addr = listener.local_addr();
    let (client, server) = thread::scope(|s| -> Result<_> {
        let srv = s.spawn(|| -> Result<MessageChannel> {
            let req = listener.accept(WAIT).context("accept")?;
            Ok(MessageChannel::accept(&sside.dev, &sside.pd, req, config)?)
        });
        let client = MessageChannel::connect(&cside.dev, &cside.pd, addr, config, &env.params())
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

/// Sends message `next` on `ch` if a credit allows; true when it went out.
fn try_send_next(ch: &mut MessageChannel, tag: u8, next: u64) -> Result<bool> {
    let mut buf = [0u8; 80];
    let msg = payload(next, &mut buf);
    let msg = &msg.iter().map(|b| b ^ tag).collect::<Vec<_>>();
    match ch.try_send(msg) {
        Ok(()) => Ok(true),
        Err(ChannelError::WouldBlock) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Receives at most one message on `ch` and checks it is message `want`.
fn try_recv_check(ch: &mut MessageChannel, tag: u8, want: u64) -> Result<bool> {
    let mut out = [0u8; 256];
    let Some(len) = ch.try_recv(&mut out)? else {
        return Ok(false);
    };
    let mut buf = [0u8; 80];
    let expected: Vec<u8> = payload(want, &mut buf).iter().map(|b| b ^ tag).collect();
    ensure!(
        out[..len] == expected[..],
        "message {want} lost, reordered or torn"
    );
    Ok(true)
}

pub(crate) fn channel_round_trips_both_ways(env: &Env) -> Result<()> {
    let mut p = channel_pair(
        env,
        ChannelConfig {
            slots: 8,
            slot_size: 128,
            send_depth: 8,
        },
    )?;
    const N: u64 = 400;
    let (mut c_sent, mut s_sent, mut c_got, mut s_got) = (0u64, 0u64, 0u64, 0u64);
    let deadline = Deadline::after(WAIT);
    let mut idle = Idle::new();
    while c_got < N || s_got < N {
        let mut work = 0;
        if c_sent < N && try_send_next(&mut p.client, 0x11, c_sent + 1)? {
            c_sent += 1;
            work += 1;
        }
        if s_sent < N && try_send_next(&mut p.server, 0x22, s_sent + 1)? {
            s_sent += 1;
            work += 1;
        }
        if s_got < N && try_recv_check(&mut p.server, 0x11, s_got + 1)? {
            s_got += 1;
            work += 1;
        }
        if c_got < N && try_recv_check(&mut p.client, 0x22, c_got + 1)? {
            c_got += 1;
            work += 1;
        }
        if deadline.passed() {
            bail!("timed out: client got {c_got}, server got {s_got} of {N}");
        }
        idle.idle(work);
    }
    Ok(())
}

pub(crate) fn channel_disconnect_reaches_the_peer(env: &Env) -> Result<()> {
    let mut p = channel_pair(env, ChannelConfig::default())?;
    ensure!(try_send_next(&mut p.client, 0, 1)?);
    p.client.disconnect();
    let deadline = Deadline::after(WAIT);
    let mut idle = Idle::new();
    let mut out = [0u8; 256];
    let mut delivered = 0;
    loop {
        match p.server.try_recv(&mut out) {
            Ok(Some(_)) => delivered += 1,
            Ok(None) => {}
            Err(ChannelError::Disconnected) => break,
            Err(e) => bail!("expected Disconnected, got {e}"),
        }
        if deadline.passed() {
            bail!("the server never saw the disconnect");
        }
        idle.idle(0);
    }
    // The message sent before the disconnect may or may not have made it; never twice.
    ensure!(delivered <= 1);
    Ok(())
}
