//! Integration tests of the RDMA WRITE ring over the soft backend on 127.0.0.1: ordered
//! delivery with payload verification, a lapped reader, concurrent writer and reader
//! with every delivered message checked for tearing, typed errors, and an
//! allocation-free steady state.

mod util;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_rdma::ring::{
    DescriptorError, PollError, PublishError, RingConfig, RingDescriptor, RingError, RingPoll,
    RingReader, RingWriter, RingWriterConfig, SeqPlacement,
};
use tickwarp_rdma::verbs::{CmError, ConnectParams, Listener, QueuePair};
use tickwarp_testkit::{CountingAllocator, count_allocations};
use util::{Deadline, Idle, Side, WAIT, any_port, connect_pair, progress_until};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// Bytes of the self-check a test message carries: its sequence number and a CRC32c.
const CHECK: usize = 12;

/// Writer, reader, and the sides (devices, PDs) they live on.
struct RingPair {
    writer: RingWriter,
    reader: RingReader,
    _sides: (Side, Option<Side>),
}

/// A reader connected to a writer through a listener (the writer accepts).
fn ring_pair(config: RingConfig, wconfig: RingWriterConfig) -> Result<RingPair> {
    ring_pair_on(config, wconfig, false)
}

/// [`ring_pair`], with writer and reader on one device and PD when `one_device`.
fn ring_pair_on(
    config: RingConfig,
    wconfig: RingWriterConfig,
    one_device: bool,
) -> Result<RingPair> {
    let wside = Side::new(16)?;
    let other = if one_device {
        None
    } else {
        Some(Side::new(16)?)
    };
    let rside = other.as_ref().unwrap_or(&wside);
    let listener = Listener::bind(&wside.pd, any_port())?;
    let addr = listener.local_addr();
    let (writer, reader) = thread::scope(|s| -> Result<_> {
        let accepted = s.spawn(|| -> Result<RingWriter> {
            let req = listener.accept(WAIT).context("accept")?;
            Ok(RingWriter::accept(&wside.dev, &wside.pd, req, wconfig)?)
        });
        let reader = RingReader::connect(
            &rside.dev,
            &rside.pd,
            addr,
            config,
            &ConnectParams::default(),
        )
        .context("reader connect");
        let writer = accepted
            .join()
            .map_err(|_| anyhow::anyhow!("writer thread panicked"))??;
        Ok((writer, reader?))
    })?;
    Ok(RingPair {
        writer,
        reader,
        _sides: (wside, other),
    })
}

/// Builds message `seq` of `len` bytes: its sequence number, a body derived from it,
/// and a CRC32c of both.
fn message(seq: u64, len: usize, out: &mut [u8]) -> &[u8] {
    let msg = &mut out[..len];
    msg[..8].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in msg[8..len - 4].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_mul(7).wrapping_add(i as u8);
    }
    let crc = crc32c::crc32c(&msg[..len - 4]);
    msg[len - 4..].copy_from_slice(&crc.to_le_bytes());
    msg
}

/// Checks a delivered message: right sequence number, intact CRC.
fn verify(seq: u64, msg: &[u8]) -> Result<()> {
    ensure!(
        msg.len() >= CHECK,
        "message {seq}: only {} bytes",
        msg.len()
    );
    let (body, crc) = msg.split_at(msg.len() - 4);
    let carried = u64::from_le_bytes(body[..8].try_into()?);
    ensure!(carried == seq, "delivered as {seq} but carries {carried}");
    ensure!(
        crc32c::crc32c(body).to_le_bytes() == crc,
        "message {seq} is torn (CRC mismatch)"
    );
    Ok(())
}

/// A message length between `CHECK` and `capacity` that varies with `seq`.
fn length_of(seq: u64, capacity: usize) -> usize {
    CHECK + (seq as usize * 37) % (capacity - CHECK + 1)
}

/// Polls until a message or gap arrives (not Empty); bounded.
fn poll_next(reader: &mut RingReader, out: &mut [u8]) -> Result<RingPoll> {
    let deadline = Deadline::after(WAIT);
    let mut idle = Idle::new();
    loop {
        match reader.poll(out)? {
            RingPoll::Empty => {}
            found => return Ok(found),
        }
        if deadline.passed() {
            bail!(
                "nothing arrived within {WAIT:?} (next {})",
                reader.next_seq()
            );
        }
        idle.idle(0);
    }
}

#[test]
fn ordered_delivery_of_many_messages() -> Result<()> {
    ordered_delivery(false)
}

#[test]
fn ordered_delivery_with_writer_and_reader_on_one_device() -> Result<()> {
    ordered_delivery(true)
}

fn ordered_delivery(one_device: bool) -> Result<()> {
    for placement in [SeqPlacement::InWrite, SeqPlacement::SeparateWrite] {
        let config = RingConfig {
            slot_size: 128,
            slot_count: 256,
            placement,
        };
        let RingPair {
            mut writer,
            mut reader,
            ..
        } = ring_pair_on(config, RingWriterConfig::default(), one_device)?;
        assert_eq!(writer.descriptor(), reader.descriptor());
        let capacity = reader.capacity();
        let (mut buf, mut out) = (vec![0u8; capacity], vec![0u8; capacity]);
        let mut next = 1u64;
        // Bursts shorter than the ring: the reader keeps up and sees every message.
        while next <= 10_000 {
            let burst_end = next + 100;
            for seq in next..burst_end {
                let len = length_of(seq, capacity);
                assert_eq!(writer.publish(message(seq, len, &mut buf))?, seq);
            }
            for seq in next..burst_end {
                match poll_next(&mut reader, &mut out)? {
                    RingPoll::Message { seq: got, len } => {
                        ensure!(got == seq, "{placement:?}: expected {seq}, got {got}");
                        ensure!(len == length_of(seq, capacity), "{placement:?}: length");
                        verify(seq, &out[..len])?;
                    }
                    other => bail!("{placement:?}: expected message {seq}, got {other:?}"),
                }
            }
            next = burst_end;
        }
        assert_eq!(reader.poll(&mut out)?, RingPoll::Empty);
    }
    Ok(())
}

#[test]
fn lapped_reader_sees_a_gap_then_intact_messages() -> Result<()> {
    // Built from the parts (no convenience constructors) to keep the reader's QP.
    let wside = Side::new(64)?;
    let rside = Side::new(16)?;
    let mut reader = RingReader::new(
        &rside.pd,
        RingConfig {
            slot_size: 64,
            slot_count: 16,
            placement: SeqPlacement::InWrite,
        },
    )?;
    let listener = Listener::bind(&rside.pd, any_port())?;
    let addr = listener.local_addr();
    let desc = reader.descriptor();
    let (wqp, rqp): (QueuePair, QueuePair) = thread::scope(|s| -> Result<_> {
        let srv = s.spawn(|| -> Result<QueuePair> {
            let req = listener.accept(WAIT)?;
            let (qp, _) = req.accept(&rside.init(), &desc.to_bytes())?;
            Ok(qp)
        });
        let (wqp, info) = wside
            .pd
            .connect(addr, &wside.init(), &ConnectParams::default())?;
        ensure!(RingDescriptor::from_bytes(&info.private_data)? == desc);
        let rqp = srv
            .join()
            .map_err(|_| anyhow::anyhow!("reader thread panicked"))??;
        Ok((wqp, rqp))
    })?;
    reader.attach(rqp.clone());
    let mut writer = RingWriter::new(
        &wside.pd,
        wqp,
        wside.cq.clone(),
        desc,
        RingWriterConfig::default(),
    )?;
    let capacity = reader.capacity();
    let (mut buf, mut out) = (vec![0u8; capacity], vec![0u8; capacity]);
    for seq in 1..=40 {
        writer.publish(message(seq, length_of(seq, capacity), &mut buf))?;
    }
    // Let all 40 land before the reader looks: it is then 24 messages behind a 16-slot ring.
    progress_until(&[&rqp], WAIT, "all 40 messages are placed", || {
        writer.reap().is_ok() && reader.newest_seq() == Ok(40)
    })?;
    assert_eq!(
        reader.poll(&mut out)?,
        RingPoll::Gap {
            expected: 1,
            found: 40
        }
    );
    assert_eq!(
        reader.poll(&mut out)?,
        RingPoll::Message {
            seq: 40,
            len: length_of(40, capacity)
        }
    );
    verify(40, &out[..length_of(40, capacity)])?;
    for seq in 41..=100 {
        writer.publish(message(seq, length_of(seq, capacity), &mut buf))?;
        match poll_next(&mut reader, &mut out)? {
            RingPoll::Message { seq: got, len } if got == seq => verify(seq, &out[..len])?,
            other => bail!("after the resync expected message {seq}, got {other:?}"),
        }
    }
    Ok(())
}

/// Concurrent writer, placer (progressing the reader's QP) and reader threads on a
/// short ring of large slots: every delivered message is verified; gaps are allowed
/// (lossy), torn or out-of-order messages are not. The writer stays at most one lap
/// plus two messages ahead of the reader, so slots are constantly overwritten while
/// the reader copies them.
///
/// What the run proves, whatever the scheduling: messages arrive in order with no
/// silent skip (each is the successor of the previous message or of a gap's resync
/// point); every sequence number is either delivered intact or inside exactly one
/// reported gap (delivered + lost == COUNT); no gap is larger than the writer's lead
/// allows (at most `SLOTS + 1` messages); the last message is always delivered (nothing
/// can lap it); and nothing follows it.
fn no_torn_message_under_concurrency(placement: SeqPlacement) -> Result<()> {
    const COUNT: u64 = 20_000;
    const SLOTS: u32 = 4;
    let config = RingConfig {
        slot_size: 2048,
        slot_count: SLOTS,
        placement,
    };
    let RingPair {
        mut writer,
        mut reader,
        ..
    } = ring_pair(config, RingWriterConfig::default())?;
    let capacity = reader.capacity();
    // Placement runs on its own thread, racing the reader's copies.
    let placer_qp = reader
        .detach()
        .context("RingReader::connect attaches its QP")?;
    let done = AtomicBool::new(false);
    let read_up_to = AtomicU64::new(0);
    let (done, read_up_to) = (&done, &read_up_to);
    let (delivered, gaps, lost) = thread::scope(|s| -> Result<(u64, u64, u64)> {
        let placer = s.spawn(move || {
            let deadline = Deadline::after(WAIT);
            let mut idle = Idle::new();
            while !done.load(Ordering::Acquire) && !deadline.passed() {
                idle.idle(placer_qp.progress());
            }
            // Handed back so the connection outlives the writer.
            placer_qp
        });
        let w = s.spawn(move || -> Result<()> {
            let mut buf = vec![0u8; capacity];
            let deadline = Deadline::after(WAIT);
            let mut idle = Idle::new();
            let mut seq = 1;
            while seq <= COUNT {
                ensure!(!deadline.passed(), "writer stuck at {seq}");
                if seq > read_up_to.load(Ordering::Acquire) + u64::from(SLOTS) + 2 {
                    idle.idle(writer.reap()?);
                    continue;
                }
                match writer.publish(message(seq, length_of(seq, capacity), &mut buf)) {
                    Ok(published) => {
                        ensure!(published == seq);
                        seq += 1;
                        idle.idle(1);
                    }
                    Err(PublishError::SendQueueFull { .. }) => idle.idle(0),
                    Err(e) => return Err(e.into()),
                }
            }
            // Keep transmitting until the reader saw the end.
            while !done.load(Ordering::Acquire) {
                ensure!(!deadline.passed(), "reader never finished");
                idle.idle(writer.reap()?);
            }
            Ok(())
        });
        let mut out = vec![0u8; capacity];
        let deadline = Deadline::after(WAIT);
        let mut idle = Idle::new();
        let (mut delivered, mut gaps, mut lost, mut last) = (0u64, 0u64, 0u64, 0u64);
        let mut last_delivered = 0u64;
        let result = (|| -> Result<()> {
            while last < COUNT {
                ensure!(!deadline.passed(), "reader stuck after {last}");
                match reader.poll(&mut out)? {
                    RingPoll::Empty => idle.idle(0),
                    RingPoll::Message { seq, len } => {
                        ensure!(
                            seq == last + 1,
                            "message {seq} after {last}: skipped without a gap"
                        );
                        ensure!(len == length_of(seq, capacity), "length of {seq}");
                        verify(seq, &out[..len])?;
                        delivered += 1;
                        last = seq;
                        last_delivered = seq;
                        read_up_to.store(last, Ordering::Release);
                        idle.idle(1);
                    }
                    RingPoll::Gap { expected, found } => {
                        ensure!(
                            expected == last + 1 && found > expected,
                            "gap {expected}..{found} after {last}"
                        );
                        // The writer publishes at most SLOTS + 2 past what the reader
                        // had reached, so the newest message is at most that far ahead.
                        ensure!(
                            found - expected <= u64::from(SLOTS) + 1,
                            "gap {expected}..{found} is wider than the writer's lead allows"
                        );
                        ensure!(found <= COUNT, "gap to {found}, past the last message");
                        gaps += 1;
                        lost += found - expected;
                        last = found - 1;
                        read_up_to.store(last, Ordering::Release);
                        idle.idle(1);
                    }
                }
            }
            Ok(())
        })();
        done.store(true, Ordering::Release);
        let writer_result = w
            .join()
            .map_err(|_| anyhow::anyhow!("writer thread panicked"))?;
        let _qp = placer
            .join()
            .map_err(|_| anyhow::anyhow!("placer thread panicked"))?;
        result?;
        writer_result?;
        ensure!(
            last_delivered == COUNT,
            "{placement:?}: the last message {COUNT} was not delivered (last was {last_delivered})"
        );
        Ok((delivered, gaps, lost))
    })?;
    ensure!(
        delivered + lost == COUNT,
        "{placement:?}: {delivered} delivered + {lost} lost in {gaps} gaps != {COUNT} published"
    );
    ensure!(
        (lost == 0) == (gaps == 0),
        "{placement:?}: {lost} lost in {gaps} gaps"
    );
    let mut out = vec![0u8; reader.capacity()];
    ensure!(
        reader.poll(&mut out)? == RingPoll::Empty,
        "{placement:?}: something after the last message"
    );
    println!("{placement:?}: {delivered} of {COUNT} delivered intact, {lost} lost in {gaps} gaps");
    Ok(())
}

#[test]
fn no_torn_message_with_seq_in_the_write() -> Result<()> {
    no_torn_message_under_concurrency(SeqPlacement::InWrite)
}

#[test]
fn no_torn_message_with_seq_in_a_separate_write() -> Result<()> {
    no_torn_message_under_concurrency(SeqPlacement::SeparateWrite)
}

#[test]
fn oversized_messages_and_small_buffers_are_typed_errors() -> Result<()> {
    let RingPair {
        mut writer,
        mut reader,
        ..
    } = ring_pair(
        RingConfig {
            slot_size: 64,
            slot_count: 4,
            placement: SeqPlacement::InWrite,
        },
        RingWriterConfig::default(),
    )?;
    assert_eq!(reader.capacity(), 40);
    assert_eq!(
        writer.publish(&[0; 41]),
        Err(PublishError::TooLarge { len: 41, max: 40 })
    );
    assert_eq!(writer.publish(&[5; 40])?, 1);
    let mut small = [0u8; 16];
    let deadline = Deadline::after(WAIT);
    let mut idle = Idle::new();
    loop {
        match reader.poll(&mut small) {
            Err(PollError::BufferTooSmall { need: 40, have: 16 }) => break,
            Ok(RingPoll::Empty) => idle.idle(0),
            other => bail!("expected BufferTooSmall, got {other:?}"),
        }
        ensure!(!deadline.passed(), "message 1 never arrived");
    }
    let mut out = [0u8; 40];
    assert_eq!(
        reader.poll(&mut out)?,
        RingPoll::Message { seq: 1, len: 40 }
    );
    assert_eq!(out, [5; 40]);
    Ok(())
}

#[test]
fn writer_reports_a_closed_reader() -> Result<()> {
    let RingPair {
        mut writer, reader, ..
    } = ring_pair(RingConfig::default(), RingWriterConfig::default())?;
    drop(reader);
    let deadline = Deadline::after(WAIT);
    let mut idle = Idle::new();
    loop {
        match writer.publish(b"anyone?") {
            Err(PublishError::Disconnected) => break,
            Ok(_) | Err(PublishError::SendQueueFull { .. }) => idle.idle(0),
            Err(other) => bail!("expected Disconnected, got {other:?}"),
        }
        ensure!(
            !deadline.passed(),
            "the writer never noticed the closed reader"
        );
    }
    assert_eq!(writer.publish(b"again"), Err(PublishError::Disconnected));
    Ok(())
}

#[test]
fn steady_state_publish_and_poll_do_not_allocate() -> Result<()> {
    let RingPair {
        mut writer,
        mut reader,
        ..
    } = ring_pair(
        RingConfig {
            slot_size: 128,
            slot_count: 64,
            placement: SeqPlacement::InWrite,
        },
        RingWriterConfig::default(),
    )?;
    let capacity = reader.capacity();
    let (mut buf, mut out) = (vec![0u8; capacity], vec![0u8; capacity]);
    let mut round = |seq: u64| -> Result<()> {
        writer.publish(message(seq, length_of(seq, capacity), &mut buf))?;
        let deadline = Deadline::after(WAIT);
        loop {
            match reader.poll(&mut out)? {
                RingPoll::Message { seq: got, .. } if got == seq => return Ok(()),
                RingPoll::Empty => thread::yield_now(),
                other => bail!("round {seq}: {other:?}"),
            }
            ensure!(!deadline.passed(), "round {seq} did not complete");
        }
    };
    for seq in 1..=100 {
        round(seq)?;
    }
    let (result, allocations) = count_allocations(|| (101..=1100).try_for_each(&mut round));
    result?;
    assert_eq!(allocations, 0, "publish/poll allocated in steady state");
    Ok(())
}

#[test]
fn setup_parameters_are_checked() -> Result<()> {
    let side = Side::new(4)?;
    let reader = RingReader::new(&side.pd, RingConfig::default())?;
    assert_eq!(reader.descriptor().capacity(), 104);
    assert_eq!(reader.newest_seq()?, 0);
    assert!(matches!(
        RingReader::new(
            &side.pd,
            RingConfig {
                slot_size: 100,
                ..RingConfig::default()
            }
        ),
        Err(RingError::Descriptor(DescriptorError::SlotSize(100)))
    ));
    let pair = connect_pair(&ConnectParams::default(), b"")?;
    let separate = RingDescriptor {
        placement: SeqPlacement::SeparateWrite,
        ..reader.descriptor()
    };
    let writer = |desc, sq_depth, full_polls| {
        RingWriter::new(
            &pair.client.pd,
            pair.cqp.clone(),
            pair.client.cq.clone(),
            desc,
            RingWriterConfig {
                sq_depth,
                full_polls,
            },
        )
    };
    assert!(matches!(
        writer(separate, 1, 10),
        Err(RingError::InvalidParameter(_))
    ));
    assert!(matches!(
        writer(separate, 2, 0),
        Err(RingError::InvalidParameter(_))
    ));
    assert!(writer(separate, 2, 10).is_ok());
    // A peer without a valid descriptor is rejected with a reason.
    let wside = Side::new(4)?;
    let listener = Listener::bind(&wside.pd, any_port())?;
    let addr = listener.local_addr();
    thread::scope(|s| -> Result<()> {
        let srv = s.spawn(|| -> Result<()> {
            let req = listener.accept(WAIT)?;
            let refused =
                RingWriter::accept(&wside.dev, &wside.pd, req, RingWriterConfig::default());
            ensure!(
                matches!(
                    refused,
                    Err(RingError::Descriptor(DescriptorError::Truncated {
                        need: 24,
                        have: 4
                    }))
                ),
                "{refused:?}"
            );
            Ok(())
        });
        let params = ConnectParams {
            private_data: b"ring".to_vec(),
            ..ConnectParams::default()
        };
        let result = side.pd.connect(addr, &side.init(), &params);
        srv.join()
            .map_err(|_| anyhow::anyhow!("writer thread panicked"))??;
        match result {
            Err(CmError::Rejected { reason }) => {
                ensure!(reason == b"invalid ring descriptor");
                Ok(())
            }
            other => bail!("expected a reject, got {other:?}"),
        }
    })
}
