//! Loopback integration tests of the soft backend over real TCP on 127.0.0.1: connection
//! management, SEND/RECV, RDMA WRITE and READ with data verification, many QPs, two
//! progressing threads, peer failure, and allocation-free steady state.

mod util;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use tickwarp_rdma::soft::lock_count;
use tickwarp_rdma::verbs::{
    Access, Backend, CmError, Completion, ConnectParams, Device, FrameTap, ListenParams, Listener,
    MarkerPolicy, MpaRevision, ProgressAgent, QpInit, QpState, RecvWr, SendWr, TapDirection,
    VerbsError, WcOpcode, WcStatus,
};
use tickwarp_runtime::AgentInvoker;
use tickwarp_runtime::clock::monotonic_now;
use tickwarp_testkit::{CountingAllocator, count_allocations};
use util::{Pair, Side, WAIT, any_port, connect_pair, pattern, poll_until, progress_until};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

const SIZES: [usize; 4] = [1, 4096, 1 << 20, 4 << 20];

fn pair() -> Result<Pair> {
    connect_pair(&ConnectParams::default(), b"")
}

#[test]
fn backends_resolve_at_run_time() -> Result<()> {
    assert!(matches!(
        Device::open(Backend::Hardware),
        Err(VerbsError::Unsupported(_))
    ));
    assert_eq!(Device::open(Backend::Auto)?.backend(), Backend::Soft);
    assert_eq!(Device::open(Backend::Soft)?.backend(), Backend::Soft);
    Ok(())
}

#[test]
fn private_data_flows_both_ways() -> Result<()> {
    let params = ConnectParams {
        private_data: b"hello from client".to_vec(),
        ..ConnectParams::default()
    };
    let client = Side::new(16)?;
    let server = Side::new(16)?;
    let listener = Listener::bind(&server.pd, any_port())?;
    let addr = listener.local_addr();
    let (client_info, server_info, seen) = thread::scope(|s| -> Result<_> {
        let srv = s.spawn(|| -> Result<_> {
            let req = listener.accept(WAIT)?;
            let seen = req.private_data().to_vec();
            ensure!(req.peer_addr().ip().is_loopback());
            let (qp, info) = req.accept(&server.init(), b"welcome")?;
            Ok((qp, info, seen))
        });
        let (cqp, client_info) = client.pd.connect(addr, &client.init(), &params)?;
        let (sqp, server_info, seen) = srv
            .join()
            .map_err(|_| anyhow::anyhow!("server panicked"))??;
        ensure!(cqp.state() == QpState::Rts && sqp.state() == QpState::Rts);
        Ok((client_info, server_info, seen))
    })?;
    assert_eq!(seen, b"hello from client");
    assert_eq!(client_info.private_data, b"welcome");
    assert_eq!(server_info.private_data, b"hello from client");
    assert_eq!(client_info.revision, 2);
    assert!(!client_info.crc && !client_info.markers_refused);
    assert_eq!(client_info.peer_addr, server_info.local_addr);
    Ok(())
}

#[test]
fn reject_carries_reason() -> Result<()> {
    let client = Side::new(16)?;
    let server = Side::new(16)?;
    let listener = Listener::bind(&server.pd, any_port())?;
    let addr = listener.local_addr();
    let result = thread::scope(|s| {
        let srv = s.spawn(|| -> Result<()> {
            let req = listener.accept(WAIT)?;
            req.reject(b"no capacity")?;
            Ok(())
        });
        let params = ConnectParams {
            private_data: b"please".to_vec(),
            ..ConnectParams::default()
        };
        let result = client.pd.connect(addr, &client.init(), &params);
        srv.join()
            .map_err(|_| anyhow::anyhow!("server panicked"))??;
        anyhow::Ok(result)
    })?;
    match result {
        Err(CmError::Rejected { reason }) => assert_eq!(reason, b"no capacity"),
        other => panic!("expected a reject, got {other:?}"),
    }
    Ok(())
}

#[test]
fn connect_times_out_when_peer_never_answers_mpa() -> Result<()> {
    // A plain TCP listener: the kernel completes the TCP handshake, nobody speaks MPA.
    let silent = TcpListener::bind(any_port())?;
    let client = Side::new(16)?;
    let params = ConnectParams {
        timeout: Duration::from_millis(300),
        ..ConnectParams::default()
    };
    let result = client
        .pd
        .connect(silent.local_addr()?, &client.init(), &params);
    assert!(matches!(result, Err(CmError::Timeout)), "{result:?}");
    Ok(())
}

#[test]
fn accept_times_out_without_a_peer() -> Result<()> {
    let server = Side::new(16)?;
    let listener = Listener::bind(&server.pd, any_port())?;
    let result = listener.accept(Duration::from_millis(100));
    assert!(matches!(result, Err(CmError::Timeout)), "{result:?}");
    Ok(())
}

#[test]
fn send_recv_of_every_size() -> Result<()> {
    let p = pair()?;
    for (i, &len) in SIZES.iter().enumerate() {
        let data = pattern(len, i as u8);
        let src = p.client.pd.register(&data, Access::NONE)?;
        let dst = p.server.pd.alloc_mr(len, Access::LOCAL_WRITE)?;
        let rsge = [dst.sge(0, len as u32)];
        p.sqp.post_recv(&RecvWr {
            wr_id: 100 + i as u64,
            sgl: &rsge,
        })?;
        let ssge = [src.sge(0, len as u32)];
        p.cqp.post_send(&SendWr::send(i as u64, &ssge))?;
        let sent = poll_until(&p.client.cq, 1, WAIT, &[&p.sqp])?;
        assert_eq!(
            (sent[0].wr_id, sent[0].opcode, sent[0].status),
            (i as u64, WcOpcode::Send, WcStatus::Success)
        );
        let got = poll_until(&p.server.cq, 1, WAIT, &[&p.cqp])?;
        assert_eq!(
            (got[0].wr_id, got[0].opcode, got[0].status),
            (100 + i as u64, WcOpcode::Recv, WcStatus::Success)
        );
        assert_eq!(got[0].byte_len as usize, len);
        assert_eq!(got[0].qp_num, p.sqp.qp_num());
        let mut out = vec![0u8; len];
        dst.read(0, &mut out)?;
        assert!(out == data, "SEND of {len} bytes arrived corrupted");
    }
    Ok(())
}

#[test]
fn rdma_write_of_every_size() -> Result<()> {
    let p = pair()?;
    for (i, &len) in SIZES.iter().enumerate() {
        let data = pattern(len, 7 + i as u8);
        let src = p.client.pd.register(&data, Access::NONE)?;
        let dst = p.server.pd.alloc_mr(len + 8, Access::REMOTE_WRITE)?;
        let sge = [src.sge(0, len as u32)];
        p.cqp
            .post_send(&SendWr::rdma_write(i as u64, &sge, dst.remote(8)))?;
        let done = poll_until(&p.client.cq, 1, WAIT, &[&p.sqp])?;
        assert_eq!(
            (done[0].opcode, done[0].status),
            (WcOpcode::RdmaWrite, WcStatus::Success)
        );
        // A passive target: nobody polls its CQ; progress it until the data is there.
        let mut out = vec![0u8; len];
        progress_until(&[&p.sqp], WAIT, "the WRITE landed", || {
            dst.read(8, &mut out).is_ok() && out == data
        })?;
    }
    Ok(())
}

#[test]
fn rdma_read_of_every_size() -> Result<()> {
    let p = pair()?;
    for (i, &len) in SIZES.iter().enumerate() {
        let data = pattern(len, 77 + i as u8);
        let src = p.server.pd.register(&data, Access::REMOTE_READ)?;
        let sink = p.client.pd.alloc_mr(len, Access::LOCAL_WRITE)?;
        let sge = [sink.sge(0, len as u32)];
        p.cqp
            .post_send(&SendWr::rdma_read(i as u64, &sge, src.remote(0)))?;
        let done = poll_until(&p.client.cq, 1, WAIT, &[&p.sqp])?;
        assert_eq!(
            (done[0].opcode, done[0].status),
            (WcOpcode::RdmaRead, WcStatus::Success)
        );
        assert_eq!(done[0].byte_len as usize, len);
        let mut out = vec![0u8; len];
        sink.read(0, &mut out)?;
        assert!(out == data, "READ of {len} bytes arrived corrupted");
    }
    Ok(())
}

#[test]
fn crc_and_peer_to_peer_setup_carry_data() -> Result<()> {
    let params = ConnectParams {
        crc: true,
        p2p: true,
        ..ConnectParams::default()
    };
    let p = connect_pair(&params, b"")?;
    assert!(p.client_info.crc && p.server_info.crc);
    assert!(p.client_info.rtr.is_some());
    let dst = p.server.pd.alloc_mr(64, Access::LOCAL_WRITE)?;
    let rsge = [dst.sge(0, 64)];
    p.sqp.post_recv(&RecvWr {
        wr_id: 1,
        sgl: &rsge,
    })?;
    p.cqp
        .post_send(&SendWr::send_inline(2, b"checked by crc32c").solicited())?;
    let got = poll_until(&p.server.cq, 1, WAIT, &[&p.cqp])?;
    assert_eq!(got[0].status, WcStatus::Success);
    assert!(got[0].solicited);
    let mut out = [0u8; 17];
    dst.read(0, &mut out)?;
    assert_eq!(&out, b"checked by crc32c");
    Ok(())
}

#[test]
fn revision_1_connects() -> Result<()> {
    let params = ConnectParams {
        revision: MpaRevision::V1,
        ..ConnectParams::default()
    };
    let p = connect_pair(&params, b"v1")?;
    assert_eq!(p.client_info.revision, 1);
    assert_eq!(p.client_info.private_data, b"v1");
    Ok(())
}

#[test]
fn markers_request_falls_back_cleanly() -> Result<()> {
    let params = ConnectParams {
        markers: true,
        private_data: b"m".to_vec(),
        ..ConnectParams::default()
    };
    let p = connect_pair(&params, b"")?;
    assert!(p.client_info.markers_refused);
    let dst = p.server.pd.alloc_mr(8, Access::LOCAL_WRITE)?;
    let rsge = [dst.sge(0, 8)];
    p.sqp.post_recv(&RecvWr {
        wr_id: 1,
        sgl: &rsge,
    })?;
    p.cqp.post_send(&SendWr::send_inline(2, b"nomarker"))?;
    let got = poll_until(&p.server.cq, 1, WAIT, &[&p.cqp])?;
    assert_eq!(got[0].status, WcStatus::Success);
    Ok(())
}

#[test]
fn sixteen_qps_share_completion_queues() -> Result<()> {
    let client = Side::new(256)?;
    let server = Side::new(256)?;
    let listener = Listener::bind(&server.pd, any_port())?;
    let addr = listener.local_addr();
    let (cqps, sqps) = thread::scope(|s| -> Result<_> {
        let srv = s.spawn(|| -> Result<Vec<_>> {
            (0..16)
                .map(|_| Ok(listener.accept(WAIT)?.accept(&server.init(), b"")?.0))
                .collect()
        });
        let cqps: Vec<_> = (0..16)
            .map(|_| {
                Ok(client
                    .pd
                    .connect(addr, &client.init(), &ConnectParams::default())?
                    .0)
            })
            .collect::<Result<_>>()?;
        let sqps = srv
            .join()
            .map_err(|_| anyhow::anyhow!("server panicked"))??;
        Ok((cqps, sqps))
    })?;
    let mrs: Vec<_> = (0..16)
        .map(|_| server.pd.alloc_mr(4096, Access::LOCAL_WRITE))
        .collect::<Result<_, _>>()?;
    for (i, (qp, mr)) in sqps.iter().zip(&mrs).enumerate() {
        qp.post_recv(&RecvWr {
            wr_id: i as u64,
            sgl: &[mr.sge(0, 4096)],
        })?;
    }
    for (i, qp) in cqps.iter().enumerate() {
        let data = pattern(4096, i as u8);
        qp.post_send(&SendWr::send_inline(i as u64, &data[..200]))?;
    }
    let peers: Vec<_> = cqps.iter().collect();
    let got = poll_until(&server.cq, 16, WAIT, &peers)?;
    let mut ids: Vec<_> = got.iter().map(|c| c.wr_id).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..16).collect::<Vec<u64>>());
    for c in &got {
        let qp_index = sqps
            .iter()
            .position(|q| q.qp_num() == c.qp_num)
            .context("unknown qp_num")?;
        assert_eq!(qp_index as u64, c.wr_id);
        let mut out = [0u8; 200];
        mrs[qp_index].read(0, &mut out)?;
        assert_eq!(&out[..], &pattern(4096, qp_index as u8)[..200]);
    }
    let sent = poll_until(&client.cq, 16, WAIT, &[])?;
    assert!(sent.iter().all(|c| c.status == WcStatus::Success));
    Ok(())
}

#[test]
fn both_sides_progress_on_their_own_threads() -> Result<()> {
    let p = pair()?;
    const N: u64 = 200;
    let stop = AtomicBool::new(false);
    // Credits: iWARP has no receiver-not-ready retry, so the client sends message i only
    // once the server has posted receive i (what MessageChannel does with credits).
    let posted = AtomicU64::new(0);
    let dst = p.server.pd.alloc_mr(64 * N as usize, Access::LOCAL_WRITE)?;
    // The receive queue holds 64; the server thread reposts the rest as receives complete.
    for i in 0..64 {
        p.sqp.post_recv(&RecvWr {
            wr_id: i,
            sgl: &[dst.sge(i * 64, 64)],
        })?;
    }
    posted.store(64, Ordering::Release);
    thread::scope(|s| -> Result<()> {
        let server = s.spawn(|| -> Result<Vec<Completion>> {
            let mut all = Vec::new();
            let mut next = 64;
            let mut idle = util::Idle::new();
            let deadline = util::Deadline::after(WAIT);
            let mut buf = [Completion::default(); 16];
            while (all.len() as u64) < N {
                ensure!(
                    !deadline.passed(),
                    "server saw {} of {N} receives",
                    all.len()
                );
                let k = p.server.cq.poll(&mut buf);
                for c in &buf[..k] {
                    all.push(*c);
                    if next < N {
                        p.sqp.post_recv(&RecvWr {
                            wr_id: next,
                            sgl: &[dst.sge(next * 64, 64)],
                        })?;
                        next += 1;
                        posted.store(next, Ordering::Release);
                    }
                }
                idle.idle(k);
            }
            stop.store(true, Ordering::Relaxed);
            Ok(all)
        });
        let mut sent = 0;
        let mut completed = 0;
        let mut idle = util::Idle::new();
        let deadline = util::Deadline::after(WAIT);
        let mut buf = [Completion::default(); 16];
        while completed < N && !stop.load(Ordering::Relaxed) {
            ensure!(!deadline.passed(), "client completed {completed} of {N}");
            if sent < N && sent < posted.load(Ordering::Acquire) {
                let msg = sent.to_le_bytes();
                p.cqp.post_send(&SendWr::send_inline(sent, &msg))?;
                sent += 1;
            }
            let k = p.client.cq.poll(&mut buf);
            completed += k as u64;
            idle.idle(k + usize::from(sent < N));
        }
        let all = server
            .join()
            .map_err(|_| anyhow::anyhow!("server panicked"))??;
        ensure!(all.iter().all(|c| c.status == WcStatus::Success));
        for (i, c) in all.iter().enumerate() {
            ensure!(c.wr_id == i as u64, "receives complete in order");
            let mut out = [0u8; 8];
            dst.read(i * 64, &mut out)?;
            ensure!(
                u64::from_le_bytes(out) == i as u64,
                "message {i} carries its number"
            );
        }
        Ok(())
    })
}

#[test]
fn peer_close_mid_message_flushes_both_sides() -> Result<()> {
    let p = pair()?;
    // Larger than the loopback socket buffers, so the close always cuts the message.
    let len = 16 << 20;
    let src = p.client.pd.alloc_mr(len, Access::NONE)?;
    let dst = p.server.pd.alloc_mr(len, Access::LOCAL_WRITE)?;
    p.sqp.post_recv(&RecvWr {
        wr_id: 1,
        sgl: &[dst.sge(0, len as u32)],
    })?;
    p.sqp.post_recv(&RecvWr {
        wr_id: 2,
        sgl: &[dst.sge(0, 16)],
    })?;
    p.cqp
        .post_send(&SendWr::send(10, &[src.sge(0, len as u32)]))?;
    p.cqp.post_send(&SendWr::send(11, &[src.sge(0, 16)]))?;
    // Push out part of the message, then close the client.
    p.cqp.progress();
    p.sqp.progress();
    p.cqp.disconnect();
    assert_eq!(p.cqp.state(), QpState::Error);
    let client = poll_until(&p.client.cq, 2, WAIT, &[])?;
    assert_eq!(client.iter().map(|c| c.wr_id).collect::<Vec<_>>(), [10, 11]);
    assert!(
        client.iter().all(|c| c.status == WcStatus::WrFlushError),
        "{client:?}"
    );
    let server = poll_until(&p.server.cq, 2, WAIT, &[])?;
    assert_eq!(server.iter().map(|c| c.wr_id).collect::<Vec<_>>(), [1, 2]);
    assert!(
        server.iter().all(|c| c.status == WcStatus::WrFlushError),
        "{server:?}"
    );
    assert_eq!(p.sqp.state(), QpState::Error);
    // Work posted in Error completes flushed at once.
    p.sqp.post_recv(&RecvWr {
        wr_id: 3,
        sgl: &[dst.sge(0, 16)],
    })?;
    let late = poll_until(&p.server.cq, 1, WAIT, &[])?;
    assert_eq!((late[0].wr_id, late[0].status), (3, WcStatus::WrFlushError));
    Ok(())
}

#[test]
fn dropping_a_peer_qp_fails_the_other_side() -> Result<()> {
    let Pair {
        client,
        server,
        cqp,
        sqp,
        ..
    } = pair()?;
    let dst = server.pd.alloc_mr(16, Access::LOCAL_WRITE)?;
    sqp.post_recv(&RecvWr {
        wr_id: 5,
        sgl: &[dst.sge(0, 16)],
    })?;
    drop(cqp);
    drop(client);
    let got = poll_until(&server.cq, 1, WAIT, &[])?;
    assert_eq!((got[0].wr_id, got[0].status), (5, WcStatus::WrFlushError));
    Ok(())
}

#[test]
fn remote_access_violation_terminates() -> Result<()> {
    let p = pair()?;
    let src = p.client.pd.register(b"intruder", Access::NONE)?;
    // Read-only on the server: a WRITE must be refused before a byte is placed.
    let target = p.server.pd.alloc_mr(64, Access::REMOTE_READ)?;
    p.cqp
        .post_send(&SendWr::rdma_write(1, &[src.sge(0, 8)], target.remote(0)))?;
    let got = poll_until(&p.client.cq, 1, WAIT, &[&p.sqp])?;
    // The WRITE itself completes when handed to TCP; the Terminate then fails the QP.
    assert!(
        matches!(
            got[0].status,
            WcStatus::Success | WcStatus::RemoteAccessError
        ),
        "{got:?}"
    );
    progress_until(&[&p.cqp, &p.sqp], WAIT, "both QPs in Error", || {
        p.cqp.state() == QpState::Error && p.sqp.state() == QpState::Error
    })?;
    let mut out = [0u8; 8];
    target.read(0, &mut out)?;
    assert_eq!(out, [0; 8], "nothing was placed");
    Ok(())
}

#[test]
fn send_with_invalidate_invalidates_the_peer_region() -> Result<()> {
    let p = pair()?;
    let advertised = p.server.pd.alloc_mr(64, Access::REMOTE_WRITE)?;
    let dst = p.server.pd.alloc_mr(16, Access::LOCAL_WRITE)?;
    p.sqp.post_recv(&RecvWr {
        wr_id: 1,
        sgl: &[dst.sge(0, 16)],
    })?;
    let wr = SendWr {
        op: tickwarp_rdma::verbs::SendOp::SendWithInvalidate {
            stag: advertised.rkey(),
        },
        ..SendWr::send_inline(2, b"done")
    };
    p.cqp.post_send(&wr)?;
    let got = poll_until(&p.server.cq, 1, WAIT, &[&p.cqp])?;
    assert_eq!(got[0].status, WcStatus::Success);
    assert_eq!(got[0].invalidated_stag, Some(advertised.rkey()));
    assert!(!advertised.is_valid());
    Ok(())
}

#[test]
fn steady_state_post_and_poll_do_not_allocate() -> Result<()> {
    let p = pair()?;
    let src = p.client.pd.alloc_mr(256, Access::NONE)?;
    let dst = p.server.pd.alloc_mr(256, Access::LOCAL_WRITE)?;
    let mut buf = [Completion::default(); 4];
    let mut round = |i: u64| -> Result<()> {
        p.sqp.post_recv(&RecvWr {
            wr_id: i,
            sgl: &[dst.sge(0, 256)],
        })?;
        p.cqp.post_send(&SendWr::send(i, &[src.sge(0, 256)]))?;
        let deadline = util::Deadline::after(WAIT);
        let (mut sent, mut recvd) = (0, 0);
        while sent == 0 || recvd == 0 {
            ensure!(!deadline.passed(), "round {i} did not complete");
            sent += p.client.cq.poll(&mut buf);
            recvd += p.server.cq.poll(&mut buf);
            if sent == 0 || recvd == 0 {
                thread::yield_now();
            }
        }
        Ok(())
    };
    for i in 0..10 {
        round(i)?;
    }
    let (result, allocations) = count_allocations(|| (10..110).try_for_each(&mut round));
    result?;
    assert_eq!(
        allocations, 0,
        "post/poll/progress allocated in steady state"
    );
    Ok(())
}

#[test]
fn progress_agent_serves_a_passive_write_target() -> Result<()> {
    let p = pair()?;
    let data = pattern(256 << 10, 3);
    let src = p.client.pd.register(&data, Access::NONE)?;
    let dst = p.server.pd.alloc_mr(data.len() + 8, Access::REMOTE_WRITE)?;
    let mut agent = ProgressAgent::new("rdma-progress");
    agent.add(p.sqp.clone());
    let mut invoker = AgentInvoker::new(agent);
    invoker
        .start()
        .map_err(|e| anyhow::anyhow!("{}", e.as_error()))?;
    let done = AtomicBool::new(false);
    thread::scope(|s| -> Result<()> {
        // The target's agent runs on its own thread; nobody polls the target's CQ.
        let target = s.spawn(|| -> Result<()> {
            let mut idle = util::Idle::new();
            let deadline = util::Deadline::after(WAIT);
            while !done.load(Ordering::Acquire) {
                ensure!(!deadline.passed(), "the writer never finished");
                let work = invoker
                    .invoke(monotonic_now())
                    .map_err(|e| anyhow::anyhow!("{}", e.as_error()))?;
                idle.idle(work);
            }
            invoker.close();
            Ok(())
        });
        let result = (|| -> Result<()> {
            let sge = [src.sge(0, data.len() as u32)];
            p.cqp
                .post_send(&SendWr::rdma_write(1, &sge, dst.remote(0)))?;
            let seq = 0xfeed_u64.to_le_bytes();
            // The sequence word goes last, in its own WRITE (ring style).
            p.cqp.post_send(&SendWr::rdma_write_inline(
                2,
                &seq,
                dst.remote(data.len() as u64),
            ))?;
            let sent = poll_until(&p.client.cq, 2, WAIT, &[])?;
            ensure!(
                sent.iter().all(|c| c.status == WcStatus::Success),
                "{sent:?}"
            );
            // The owner busy-polls its memory (with a yielding idle), like a ring reader.
            let deadline = util::Deadline::after(WAIT);
            let mut idle = util::Idle::new();
            while dst.load_u64_acquire(data.len())? != 0xfeed {
                ensure!(!deadline.passed(), "the sequence word never arrived");
                idle.idle(0);
            }
            let mut out = vec![0u8; data.len()];
            dst.read(0, &mut out)?;
            ensure!(out == data, "payload visible before its sequence word");
            Ok(())
        })();
        done.store(true, Ordering::Release);
        target
            .join()
            .map_err(|_| anyhow::anyhow!("agent thread panicked"))??;
        result
    })
}

/// Records every tap call.
#[derive(Default)]
struct Recorder {
    opened: Mutex<Vec<(SocketAddr, SocketAddr)>>,
    bytes: Mutex<Vec<(TapDirection, Vec<u8>)>>,
}

impl FrameTap for Recorder {
    fn on_open(&self, local: SocketAddr, peer: SocketAddr) {
        self.opened.lock().unwrap().push((local, peer));
    }

    fn on_bytes(&self, direction: TapDirection, bytes: &[u8]) {
        self.bytes.lock().unwrap().push((direction, bytes.to_vec()));
    }
}

impl Recorder {
    fn stream(&self, direction: TapDirection) -> Vec<u8> {
        self.bytes
            .lock()
            .unwrap()
            .iter()
            .filter(|(d, _)| *d == direction)
            .flat_map(|(_, b)| b.clone())
            .collect()
    }
}

#[test]
fn tap_sees_the_whole_byte_stream_including_mpa_setup() -> Result<()> {
    let client = Side::new(16)?;
    let server = Side::new(16)?;
    let ctap_rec = Arc::new(Recorder::default());
    let stap_rec = Arc::new(Recorder::default());
    let ctap: Arc<dyn FrameTap> = ctap_rec.clone();
    let stap: Arc<dyn FrameTap> = stap_rec.clone();
    let listener = Listener::bind(&server.pd, any_port())?;
    let addr = listener.local_addr();
    let (cqp, sqp) = thread::scope(|s| -> Result<_> {
        let srv = s.spawn(|| -> Result<_> {
            let init = QpInit {
                tap: Some(&stap),
                ..server.init()
            };
            Ok(listener.accept(WAIT)?.accept(&init, b"rep")?.0)
        });
        let init = QpInit {
            tap: Some(&ctap),
            ..client.init()
        };
        let (cqp, _) = client.pd.connect(
            addr,
            &init,
            &ConnectParams {
                private_data: b"req".to_vec(),
                ..ConnectParams::default()
            },
        )?;
        let sqp = srv
            .join()
            .map_err(|_| anyhow::anyhow!("server panicked"))??;
        Ok((cqp, sqp))
    })?;
    let dst = server.pd.alloc_mr(16, Access::LOCAL_WRITE)?;
    sqp.post_recv(&RecvWr {
        wr_id: 1,
        sgl: &[dst.sge(0, 16)],
    })?;
    cqp.post_send(&SendWr::send_inline(1, b"tapped"))?;
    poll_until(&server.cq, 1, WAIT, &[&cqp])?;

    let c_sent = ctap_rec.stream(TapDirection::Sent);
    let c_recv = ctap_rec.stream(TapDirection::Received);
    let s_sent = stap_rec.stream(TapDirection::Sent);
    let s_recv = stap_rec.stream(TapDirection::Received);
    assert!(c_sent.starts_with(b"MPA ID Req Frame"));
    assert!(c_recv.starts_with(b"MPA ID Rep Frame"));
    assert_eq!(
        c_sent, s_recv,
        "both taps saw the same client-to-server stream"
    );
    assert_eq!(
        c_recv, s_sent,
        "both taps saw the same server-to-client stream"
    );
    assert!(
        c_sent.windows(6).any(|w| w == b"tapped"),
        "the FPDU follows the handshake"
    );
    let c_open = ctap_rec.opened.lock().unwrap().clone();
    let s_open = stap_rec.opened.lock().unwrap().clone();
    assert_eq!(c_open.len(), 1);
    assert_eq!(c_open[0], (s_open[0].1, s_open[0].0));
    Ok(())
}

#[test]
fn markers_run_both_ways_when_the_responder_takes_them() -> Result<()> {
    let client = Side::new(64)?;
    let server = Side::new(64)?;
    let params = ListenParams {
        markers: MarkerPolicy::Request,
        ..ListenParams::default()
    };
    let listener = Listener::bind_with(&server.pd, any_port(), params)?;
    let addr = listener.local_addr();
    for crc in [false, true] {
        let (cqp, cinfo, sqp, sinfo) = thread::scope(|s| -> Result<_> {
            let srv = s
                .spawn(|| -> Result<_> { Ok(listener.accept(WAIT)?.accept(&server.init(), b"")?) });
            let connect = ConnectParams {
                markers: true,
                crc,
                ..ConnectParams::default()
            };
            let (cqp, cinfo) = client.pd.connect(addr, &client.init(), &connect)?;
            let (sqp, sinfo) = srv
                .join()
                .map_err(|_| anyhow::anyhow!("server panicked"))??;
            Ok((cqp, cinfo, sqp, sinfo))
        })?;
        assert!(!cinfo.markers_refused);
        assert!(cinfo.markers_rx && cinfo.markers_tx && sinfo.markers_rx && sinfo.markers_tx);
        assert_eq!((cinfo.crc, sinfo.crc), (crc, crc));
        // Both directions, several FPDUs each: WRITE client→server, READ back.
        let len = 300_000;
        let data = pattern(len, 42 + u8::from(crc));
        let src = client.pd.register(&data, Access::NONE)?;
        let mid = server
            .pd
            .alloc_mr(len, Access::REMOTE_WRITE | Access::REMOTE_READ)?;
        let back = client.pd.alloc_mr(len, Access::LOCAL_WRITE)?;
        cqp.post_send(&SendWr::rdma_write(
            1,
            &[src.sge(0, len as u32)],
            mid.remote(0),
        ))?;
        cqp.post_send(&SendWr::rdma_read(
            2,
            &[back.sge(0, len as u32)],
            mid.remote(0),
        ))?;
        let done = poll_until(&client.cq, 2, WAIT, &[&sqp])?;
        assert!(
            done.iter().all(|c| c.status == WcStatus::Success),
            "{done:?}"
        );
        let mut out = vec![0u8; len];
        back.read(0, &mut out)?;
        assert!(out == data, "data through marked streams arrived corrupted");
    }
    Ok(())
}

#[test]
fn a_peer_breaking_ddp_rules_gets_a_terminate_and_the_qp_flushes() -> Result<()> {
    use std::io::{Read, Write};
    use tickwarp_rdma::soft::proto::mpa_setup::{CrcPolicy, MpaConfig, MpaEvent, MpaSetup};

    let server = Side::new(16)?;
    let listener = Listener::bind(&server.pd, any_port())?;
    let addr = listener.local_addr();
    thread::scope(|s| -> Result<()> {
        let srv = s.spawn(|| -> Result<Vec<Completion>> {
            let (qp, _) = listener.accept(WAIT)?.accept(&server.init(), b"")?;
            let dst = server.pd.alloc_mr(64, Access::LOCAL_WRITE)?;
            qp.post_recv(&RecvWr {
                wr_id: 9,
                sgl: &[dst.sge(0, 64)],
            })?;
            let got = poll_until(&server.cq, 1, WAIT, &[])?;
            ensure!(qp.state() == QpState::Error);
            Ok(got)
        });
        // A hand-driven initiator: a correct MPA exchange, then a malformed FPDU.
        let mut raw = std::net::TcpStream::connect(addr)?;
        raw.set_read_timeout(Some(WAIT))?;
        let config = MpaConfig {
            crc: CrcPolicy::Accept,
            ..MpaConfig::default()
        };
        let mut setup = MpaSetup::initiator(config, monotonic_now())?;
        let mut buf = [0u8; 1024];
        let n = setup.poll_transmit(&mut buf);
        raw.write_all(&buf[..n])?;
        loop {
            let n = raw.read(&mut buf)?;
            ensure!(n > 0, "server closed during setup");
            let _ = setup.handle_bytes(monotonic_now(), &buf[..n]);
            match setup.poll_event() {
                Some(MpaEvent::Negotiated(_)) => break,
                Some(other) => anyhow::bail!("setup ended with {other:?}"),
                None => {}
            }
        }
        // ULPDU of 18 bytes whose DDP control byte carries version 3 (RFC 5041 §4.2: 1).
        let mut fpdu = vec![0x00, 0x12, 0x43, 0x43];
        fpdu.extend_from_slice(&[0; 16]);
        fpdu.extend_from_slice(&[0; 4]); // CRC field: 0, CRC was not negotiated
        raw.write_all(&fpdu)?;
        let mut answer = Vec::new();
        raw.read_to_end(&mut answer)
            .context("the server closes after its Terminate")?;
        ensure!(
            answer.len() > 6,
            "expected a Terminate FPDU, got {answer:02x?}"
        );
        ensure!(
            answer[3] & 0x0f == 7,
            "RDMAP opcode 7 (Terminate), got {answer:02x?}"
        );
        let got = srv
            .join()
            .map_err(|_| anyhow::anyhow!("server panicked"))??;
        ensure!(
            got[0].wr_id == 9 && got[0].status == WcStatus::WrFlushError,
            "{got:?}"
        );
        Ok(())
    })
}

#[test]
fn a_poll_takes_one_lock_per_attached_qp() -> Result<()> {
    let p = pair()?;
    let mut buf = [Completion::default(); 4];
    // Idle polls: one QP is attached to the client's CQ; a poll takes its state lock
    // and no lock of the CQ's own.
    let before = lock_count();
    for _ in 0..100 {
        assert_eq!(p.client.cq.poll(&mut buf), 0);
    }
    assert_eq!(lock_count() - before, 100, "locks taken by 100 idle polls");

    // Busy polls: SEND round trips of 256 B. Beyond the QP lock, a poll takes one
    // STag-table read per SGE it gathers (sender) or places (receiver).
    let src = p.client.pd.alloc_mr(256, Access::NONE)?;
    let dst = p.server.pd.alloc_mr(256, Access::LOCAL_WRITE)?;
    let (mut polls, mut locks, mut moved) = (0u64, 0u64, 0u64);
    for i in 0..50 {
        p.sqp.post_recv(&RecvWr {
            wr_id: i,
            sgl: &[dst.sge(0, 256)],
        })?;
        p.cqp.post_send(&SendWr::send(i, &[src.sge(0, 256)]))?;
        let deadline = util::Deadline::after(WAIT);
        let (mut sent, mut recvd) = (0, 0);
        while sent == 0 || recvd == 0 {
            ensure!(!deadline.passed(), "round {i} did not complete");
            let before = lock_count();
            sent += p.client.cq.poll(&mut buf);
            recvd += p.server.cq.poll(&mut buf);
            locks += lock_count() - before;
            polls += 2;
            if sent == 0 || recvd == 0 {
                thread::yield_now();
            }
        }
        moved += 2;
    }
    assert!(
        locks <= polls + moved,
        "{locks} locks in {polls} polls moving {moved} SGEs: more than one QP lock per poll \
         plus one STag-table lock per SGE"
    );
    Ok(())
}
