//! Conformance of every verbs operation: devices, memory, connection management with
//! private data, SEND/RECV (SGL, inline, gather/scatter, with Invalidate, solicited),
//! RDMA WRITE and READ with data checks, post-time limits and shared CQs.

use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use tickwarp_rdma::verbs::{
    Access, Backend, CmError, Completion, CompletionQueue, Listener, MemError, PostError, QpInit,
    QpState, QueuePair, RecvWr, SendOp, SendWr, WcOpcode, WcStatus, list_devices,
};

use crate::env::{Env, pair, pair_with};
use crate::util::{WAIT, pattern, poll_until};

/// Message sizes every data-path case moves (1 MiB stays quick on a TCG guest).
const SIZES: [usize; 4] = [1, 4096, 65536, 1 << 20];

/// The next completion of `cq`, progressing `others` meanwhile.
fn one(cq: &CompletionQueue, others: &[&QueuePair]) -> Result<Completion> {
    let got = poll_until(cq, 1, WAIT, others)?;
    got.first().copied().context("no completion")
}

pub(crate) fn device_and_listing_name_the_backend(env: &Env) -> Result<()> {
    let side = env.side(4)?;
    ensure!(side.dev.backend() == env.backend);
    let devices = list_devices();
    let last = devices.last().context("list_devices is never empty")?;
    ensure!(
        last.backend == Backend::Soft && last.name == "soft-iwarp",
        "{devices:?}"
    );
    if env.is_hw() {
        let me = devices
            .iter()
            .find(|d| d.name == side.dev.name())
            .with_context(|| format!("{} not listed: {devices:?}", side.dev.name()))?;
        ensure!(me.backend == Backend::Hardware);
        ensure!(me.addresses.contains(&env.ip), "{me:?}");
        ensure!(
            me.ports
                .iter()
                .any(|p| p.state.to_ascii_lowercase().contains("active")),
            "no active port: {me:?}"
        );
    } else {
        ensure!(side.dev.name() == "soft-iwarp");
    }
    let mut out = [Completion::default(); 4];
    ensure!(side.cq.poll(&mut out) == 0, "a new CQ is empty");
    ensure!(side.cq.depth() == 4 && !side.cq.overrun());
    Ok(())
}

pub(crate) fn memory_region_accessors_and_bounds(env: &Env) -> Result<()> {
    let side = env.side(4)?;
    let mr = side.pd.register(b"abcdefghijklmnop", Access::REMOTE_READ)?;
    ensure!(mr.len() == 16 && !mr.is_empty() && mr.access() == Access::REMOTE_READ);
    ensure!(mr.stag() == mr.rkey());
    let mut out = [0u8; 4];
    mr.read(3, &mut out)?;
    ensure!(&out == b"defg");
    mr.write(0, b"WXYZ")?;
    mr.fill_with(4, 12, |at, chunk| {
        for (i, b) in chunk.iter_mut().enumerate() {
            *b = b'a' + (at + i) as u8;
        }
    })?;
    let mut all = [0u8; 16];
    mr.read(0, &mut all)?;
    ensure!(&all == b"WXYZabcdefghijkl", "{all:?}");
    mr.store_u64_release(8, 0x0102_0304_0506_0708)?;
    ensure!(mr.load_u64_acquire(8)? == 0x0102_0304_0506_0708);
    mr.read(8, &mut out)?;
    ensure!(
        out == [8, 7, 6, 5],
        "sequence words are little-endian: {out:?}"
    );
    ensure!(matches!(
        mr.read(14, &mut out),
        Err(MemError::OutOfBounds { .. })
    ));
    ensure!(matches!(
        mr.write(usize::MAX, b"x"),
        Err(MemError::OutOfBounds { .. })
    ));
    ensure!(matches!(
        mr.load_u64_acquire(4),
        Err(MemError::Misaligned { .. })
    ));
    ensure!(matches!(
        mr.load_u64_acquire(16),
        Err(MemError::OutOfBounds { .. })
    ));
    // Addresses: SGEs and remote addresses of one region are consistent offsets.
    let sge = mr.sge(5, 3);
    ensure!(sge.lkey == mr.lkey() && sge.len == 3);
    ensure!(sge.addr == mr.sge(0, 1).addr + 5);
    ensure!(mr.remote(8).offset == mr.remote(0).offset + 8 && mr.remote(0).stag == mr.rkey());
    let zeroed = side.pd.alloc_mr(4096, Access::LOCAL_WRITE)?;
    let mut page = vec![1u8; 4096];
    zeroed.read(0, &mut page)?;
    ensure!(page.iter().all(|b| *b == 0), "alloc_mr gives zeroed memory");
    Ok(())
}

pub(crate) fn private_data_flows_both_ways(env: &Env) -> Result<()> {
    let params = tickwarp_rdma::verbs::ConnectParams {
        private_data: b"hello from client".to_vec(),
        ..env.params()
    };
    let client = env.side(16)?;
    let server = env.side(16)?;
    let listener = Listener::bind(&server.pd, env.any_port())?;
    let addr = listener.local_addr();
    ensure!(addr.ip() == env.ip && addr.port() != 0, "{addr}");
    let (cqp, client_info, sqp, server_info, seen, peer) = thread::scope(|s| -> Result<_> {
        let srv = s.spawn(|| -> Result<_> {
            let req = listener.accept(WAIT)?;
            let seen = req.private_data().to_vec();
            let peer = req.peer_addr();
            let (qp, info) = req.accept(&server.init(), b"welcome")?;
            Ok((qp, info, seen, peer))
        });
        let connected = client.pd.connect(addr, &client.init(), &params);
        let (sqp, server_info, seen, peer) = srv
            .join()
            .map_err(|_| anyhow::anyhow!("server thread panicked"))??;
        let (cqp, client_info) = connected?;
        Ok((cqp, client_info, sqp, server_info, seen, peer))
    })?;
    ensure!(seen == b"hello from client", "{seen:?}");
    ensure!(server_info.private_data == b"hello from client");
    ensure!(client_info.private_data == b"welcome", "{client_info:?}");
    ensure!(peer.ip() == env.ip, "peer {peer}");
    ensure!(client_info.peer_addr == addr, "{client_info:?}");
    ensure!(cqp.state() == QpState::Rts && sqp.state() == QpState::Rts);
    Ok(())
}

pub(crate) fn reject_carries_reason(env: &Env) -> Result<()> {
    let client = env.side(16)?;
    let server = env.side(16)?;
    let listener = Listener::bind(&server.pd, env.any_port())?;
    let addr = listener.local_addr();
    let result = thread::scope(|s| -> Result<_> {
        let srv = s.spawn(|| -> Result<()> {
            listener.accept(WAIT)?.reject(b"go away")?;
            Ok(())
        });
        let result = client.pd.connect(addr, &client.init(), &env.params());
        srv.join()
            .map_err(|_| anyhow::anyhow!("server thread panicked"))??;
        Ok(result)
    })?;
    match result {
        Err(CmError::Rejected { reason }) => ensure!(reason == b"go away", "{reason:?}"),
        other => anyhow::bail!("expected a reject, got {other:?}"),
    }
    Ok(())
}

pub(crate) fn accept_times_out_without_a_peer(env: &Env) -> Result<()> {
    let server = env.side(4)?;
    let listener = Listener::bind(&server.pd, env.any_port())?;
    let got = listener.accept(Duration::from_millis(200));
    ensure!(matches!(got, Err(CmError::Timeout)), "{got:?}");
    Ok(())
}

pub(crate) fn send_recv_of_several_sizes(env: &Env) -> Result<()> {
    let p = pair(env)?;
    for (i, &len) in SIZES.iter().enumerate() {
        let data = pattern(len, i as u8);
        let src = p.client.pd.register(&data, Access::NONE)?;
        let dst = p.server.pd.alloc_mr(len, Access::LOCAL_WRITE)?;
        p.sqp.post_recv(&RecvWr {
            wr_id: 100 + i as u64,
            sgl: &[dst.sge(0, len as u32)],
        })?;
        p.cqp
            .post_send(&SendWr::send(200 + i as u64, &[src.sge(0, len as u32)]))?;
        let sent = one(&p.client.cq, &[&p.sqp])?;
        ensure!(
            (sent.wr_id, sent.opcode, sent.status)
                == (200 + i as u64, WcOpcode::Send, WcStatus::Success),
            "{sent:?}"
        );
        ensure!(sent.qp_num == p.cqp.qp_num(), "{sent:?}");
        let got = one(&p.server.cq, &[&p.cqp])?;
        ensure!(
            (got.wr_id, got.opcode, got.status, got.byte_len as usize)
                == (100 + i as u64, WcOpcode::Recv, WcStatus::Success, len),
            "{got:?}"
        );
        ensure!(got.qp_num == p.sqp.qp_num(), "{got:?}");
        let mut out = vec![0u8; len];
        dst.read(0, &mut out)?;
        ensure!(out == data, "payload of {len} bytes differs");
    }
    Ok(())
}

pub(crate) fn inline_sends_small_and_large(env: &Env) -> Result<()> {
    let p = pair(env)?;
    // 200 bytes exceed kernel siw's inline limit (80): the hardware backend bounces them.
    for (i, len) in [0usize, 16, 200, 256].into_iter().enumerate() {
        let data = pattern(len, 7 + i as u8);
        let dst = p.server.pd.alloc_mr(256, Access::LOCAL_WRITE)?;
        p.sqp.post_recv(&RecvWr {
            wr_id: i as u64,
            sgl: &[dst.sge(0, 256)],
        })?;
        p.cqp
            .post_send(&SendWr::send_inline(10 + i as u64, &data))?;
        let got = one(&p.server.cq, &[&p.cqp])?;
        ensure!(
            (got.status, got.byte_len as usize) == (WcStatus::Success, len),
            "inline {len}: {got:?}"
        );
        let sent = one(&p.client.cq, &[&p.sqp])?;
        ensure!(sent.status == WcStatus::Success, "{sent:?}");
        let mut out = vec![0u8; len];
        dst.read(0, &mut out)?;
        ensure!(out == data, "inline payload of {len} bytes differs");
    }
    Ok(())
}

pub(crate) fn gather_and_scatter_lists(env: &Env) -> Result<()> {
    let p = pair(env)?;
    let a = p.client.pd.register(b"0123456789", Access::NONE)?;
    let b = p.client.pd.register(b"abcdefghij", Access::NONE)?;
    let first = p.server.pd.alloc_mr(8, Access::LOCAL_WRITE)?;
    let second = p.server.pd.alloc_mr(32, Access::LOCAL_WRITE)?;
    p.sqp.post_recv(&RecvWr {
        wr_id: 1,
        sgl: &[first.sge(0, 8), second.sge(4, 28)],
    })?;
    p.cqp
        .post_send(&SendWr::send(2, &[a.sge(0, 4), b.sge(2, 5), a.sge(6, 4)]))?;
    let got = one(&p.server.cq, &[&p.cqp])?;
    ensure!(
        (got.status, got.byte_len) == (WcStatus::Success, 13),
        "{got:?}"
    );
    let mut head = [0u8; 8];
    first.read(0, &mut head)?;
    let mut tail = [0u8; 9];
    second.read(0, &mut tail)?;
    ensure!(&head == b"0123cdef", "{head:?}");
    ensure!(&tail == b"\0\0\0\0g6789", "{tail:?}");
    ensure!(one(&p.client.cq, &[&p.sqp])?.status == WcStatus::Success);
    Ok(())
}

pub(crate) fn rdma_write_of_several_sizes(env: &Env) -> Result<()> {
    let p = pair(env)?;
    let max = *SIZES.last().context("sizes")?;
    let target = p.server.pd.alloc_mr(max + 64, Access::REMOTE_WRITE)?;
    let inbox = p.server.pd.alloc_mr(16, Access::LOCAL_WRITE)?;
    for (i, &len) in SIZES.iter().enumerate() {
        let data = pattern(len, 40 + i as u8);
        let src = p.client.pd.register(&data, Access::NONE)?;
        p.sqp.post_recv(&RecvWr {
            wr_id: i as u64,
            sgl: &[inbox.sge(0, 16)],
        })?;
        // WRITE at offset 64, then a SEND: RFC 5040 §5.5 places the WRITE before the
        // SEND is delivered, so the target may check its memory on the Recv.
        p.cqp.post_send(&SendWr::rdma_write(
            10 + i as u64,
            &[src.sge(0, len as u32)],
            target.remote(64),
        ))?;
        p.cqp
            .post_send(&SendWr::send_inline(20 + i as u64, b"fence"))?;
        let sent = poll_until(&p.client.cq, 2, WAIT, &[&p.sqp])?;
        ensure!(
            sent.iter()
                .map(|c| (c.wr_id, c.opcode, c.status))
                .collect::<Vec<_>>()
                == [
                    (10 + i as u64, WcOpcode::RdmaWrite, WcStatus::Success),
                    (20 + i as u64, WcOpcode::Send, WcStatus::Success)
                ],
            "{sent:?}"
        );
        ensure!(one(&p.server.cq, &[&p.cqp])?.status == WcStatus::Success);
        let mut out = vec![0u8; len];
        target.read(64, &mut out)?;
        ensure!(out == data, "WRITE of {len} bytes differs");
        let mut before = [1u8; 64];
        target.read(0, &mut before)?;
        ensure!(
            before == [0u8; 64],
            "bytes before the target offset were touched"
        );
    }
    Ok(())
}

pub(crate) fn rdma_read_of_several_sizes(env: &Env) -> Result<()> {
    let p = pair(env)?;
    for (i, &len) in SIZES.iter().enumerate() {
        let data = pattern(len + 8, 80 + i as u8);
        let source = p.server.pd.register(&data, Access::REMOTE_READ)?;
        let sink = p.client.pd.alloc_mr(len, Access::LOCAL_WRITE)?;
        p.cqp.post_send(&SendWr::rdma_read(
            i as u64,
            &[sink.sge(0, len as u32)],
            source.remote(8),
        ))?;
        let got = one(&p.client.cq, &[&p.sqp])?;
        ensure!(
            (got.wr_id, got.opcode, got.status)
                == (i as u64, WcOpcode::RdmaRead, WcStatus::Success),
            "{got:?}"
        );
        let mut out = vec![0u8; len];
        sink.read(0, &mut out)?;
        ensure!(out[..] == data[8..], "READ of {len} bytes differs");
    }
    Ok(())
}

pub(crate) fn send_with_invalidate_names_the_stag(env: &Env) -> Result<()> {
    let p = pair(env)?;
    let advertised = p.server.pd.alloc_mr(64, Access::REMOTE_WRITE)?;
    let dst = p.server.pd.alloc_mr(16, Access::LOCAL_WRITE)?;
    p.sqp.post_recv(&RecvWr {
        wr_id: 1,
        sgl: &[dst.sge(0, 16)],
    })?;
    let src = p.client.pd.register(b"done", Access::NONE)?;
    let sgl = [src.sge(0, 4)];
    let wr = SendWr {
        op: SendOp::SendWithInvalidate {
            stag: advertised.rkey(),
        },
        ..SendWr::send(2, &sgl)
    };
    p.cqp.post_send(&wr)?;
    let got = one(&p.server.cq, &[&p.cqp])?;
    ensure!(
        (got.status, got.opcode, got.byte_len) == (WcStatus::Success, WcOpcode::Recv, 4),
        "{got:?}"
    );
    // libsiw (rdma-core 44) clears wc_flags, so siw never reports IBV_WC_WITH_INV.
    let unreported = env.is_hw() && p.server.dev.name().starts_with("siw");
    ensure!(
        got.invalidated_stag == Some(advertised.rkey())
            || (unreported && got.invalidated_stag.is_none()),
        "{got:?}"
    );
    ensure!(one(&p.client.cq, &[&p.sqp])?.status == WcStatus::Success);
    Ok(())
}

pub(crate) fn solicited_send_is_delivered(env: &Env) -> Result<()> {
    let p = pair(env)?;
    let dst = p.server.pd.alloc_mr(16, Access::LOCAL_WRITE)?;
    for (wr_id, solicited) in [(1u64, true), (2, false)] {
        p.sqp.post_recv(&RecvWr {
            wr_id,
            sgl: &[dst.sge(0, 16)],
        })?;
        let wr = SendWr::send_inline(wr_id, b"se");
        p.cqp
            .post_send(&if solicited { wr.solicited() } else { wr })?;
        let got = one(&p.server.cq, &[&p.cqp])?;
        ensure!(
            got.status == WcStatus::Success && got.wr_id == wr_id,
            "{got:?}"
        );
        // libibverbs' ibv_wc has no solicited flag: only the soft stack reports it.
        if !env.is_hw() {
            ensure!(got.solicited == solicited, "{got:?}");
        }
        ensure!(one(&p.client.cq, &[&p.sqp])?.status == WcStatus::Success);
    }
    Ok(())
}

pub(crate) fn post_limits_are_typed_errors(env: &Env) -> Result<()> {
    let p = pair_with(env, &env.params(), b"", |init| QpInit {
        max_sge: 2,
        max_inline: 64,
        max_message_size: 1024,
        ..init
    })?;
    let mr = p.client.pd.alloc_mr(4096, Access::LOCAL_WRITE)?;
    let three = [mr.sge(0, 8), mr.sge(8, 8), mr.sge(16, 8)];
    ensure!(
        p.cqp.post_send(&SendWr::send(1, &three)) == Err(PostError::TooManySge { have: 3, max: 2 })
    );
    ensure!(
        p.cqp.post_recv(&RecvWr {
            wr_id: 1,
            sgl: &three
        }) == Err(PostError::TooManySge { have: 3, max: 2 })
    );
    ensure!(
        p.cqp.post_send(&SendWr::send_inline(2, &[0u8; 65]))
            == Err(PostError::InlineTooLong { len: 65, max: 64 })
    );
    ensure!(
        p.cqp.post_send(&SendWr::send(3, &[mr.sge(0, 2048)]))
            == Err(PostError::MessageTooLong {
                len: 2048,
                max: 1024
            })
    );
    // Nothing was queued: the CQ stays empty and the QP connected.
    let mut out = [Completion::default(); 4];
    ensure!(p.client.cq.poll(&mut out) == 0);
    ensure!(p.cqp.state() == QpState::Rts);
    Ok(())
}

pub(crate) fn qps_share_completion_queues(env: &Env) -> Result<()> {
    let client = env.side(64)?;
    let server = env.side(64)?;
    let listener = Listener::bind(&server.pd, env.any_port())?;
    let addr = listener.local_addr();
    let mut pairs = Vec::new();
    for _ in 0..4 {
        let pair = thread::scope(|s| -> Result<_> {
            let srv = s.spawn(|| -> Result<_> {
                let (qp, _) = listener.accept(WAIT)?.accept(&server.init(), b"")?;
                Ok(qp)
            });
            let connected = client.pd.connect(addr, &client.init(), &env.params());
            let sqp = srv
                .join()
                .map_err(|_| anyhow::anyhow!("server thread panicked"))??;
            Ok((connected?.0, sqp))
        })?;
        pairs.push(pair);
    }
    let dst = server.pd.alloc_mr(4 * 16, Access::LOCAL_WRITE)?;
    for (i, (cqp, sqp)) in pairs.iter().enumerate() {
        sqp.post_recv(&RecvWr {
            wr_id: i as u64,
            sgl: &[dst.sge(16 * i as u64, 16)],
        })?;
        cqp.post_send(&SendWr::send_inline(i as u64, &[i as u8; 16]))?;
    }
    let cqps: Vec<_> = pairs.iter().map(|(c, _)| c).collect();
    let got = poll_until(&server.cq, 4, WAIT, &cqps)?;
    for c in &got {
        let (_, sqp) = pairs.get(c.wr_id as usize).context("unknown wr_id")?;
        ensure!(
            c.status == WcStatus::Success && c.qp_num == sqp.qp_num(),
            "{c:?}"
        );
        let mut out = [0u8; 16];
        dst.read(16 * c.wr_id as usize, &mut out)?;
        ensure!(out == [c.wr_id as u8; 16]);
    }
    let sqps: Vec<_> = pairs.iter().map(|(_, s)| s).collect();
    let sent = poll_until(&client.cq, 4, WAIT, &sqps)?;
    ensure!(
        sent.iter().all(|c| c.status == WcStatus::Success),
        "{sent:?}"
    );
    Ok(())
}
