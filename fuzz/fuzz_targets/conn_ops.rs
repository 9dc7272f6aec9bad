//! Fuzz target: two soft-iWARP `Connection`s driven by an arbitrary sequence of posts,
//! partial transmits, partial and corrupted deliveries, RTRs, polls and closes. Nothing
//! may panic, and each side's send completions must come back in posting order.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tickwarp_rdma::soft::proto::conn::{
    ConnConfig, Connection, Payload, PdId, RecvRequest, RtrKind, SendOp, SendRequest, Sge,
    VecAccess, VecMemory, WcOpcode,
};

const PD: PdId = PdId(1);
const REGION: usize = 4096;

#[derive(Arbitrary, Debug)]
enum Op {
    Send {
        a: bool,
        kind: u8,
        off: u16,
        len: u16,
        remote_off: u16,
        bad_key: bool,
    },
    Inline {
        a: bool,
        len: u8,
    },
    Recv {
        a: bool,
        len: u16,
    },
    Transmit {
        a: bool,
        room: u16,
    },
    Deliver {
        a: bool,
        len: u16,
    },
    Corrupt {
        a: bool,
        at: u16,
        xor: u8,
    },
    Rtr {
        a: bool,
        read: bool,
    },
    Poll {
        a: bool,
    },
    Close {
        a: bool,
    },
}

struct Side {
    conn: Connection,
    mem: VecMemory,
    key: u32,
    /// Bytes sent to this side and not yet delivered.
    inbox: Vec<u8>,
    next_wr: u64,
    last_send_wr: Option<u64>,
}

impl Side {
    fn new(crc: bool, mulpdu: usize, ird: usize, ord: usize) -> Side {
        let cfg = ConnConfig {
            crc,
            mulpdu,
            sq_depth: 8,
            rq_depth: 8,
            ird,
            ord,
            ..ConnConfig::new(PD)
        };
        let mem = VecMemory::new();
        let key = mem.register(PD, 0x1000, REGION, VecAccess::ALL);
        Side {
            conn: Connection::new(cfg).unwrap(),
            mem,
            key,
            inbox: Vec::new(),
            next_wr: 0,
            last_send_wr: None,
        }
    }

    fn sge(&self, off: u16, len: u16) -> Sge {
        Sge {
            lkey: self.key,
            addr: 0x1000 + u64::from(off) % REGION as u64,
            len: u32::from(len) % 1024,
        }
    }

    fn poll(&mut self) {
        while let Some(c) = self.conn.poll_completion() {
            if matches!(c.opcode, WcOpcode::Send | WcOpcode::Write | WcOpcode::Read) {
                assert!(
                    self.last_send_wr.is_none_or(|w| w < c.wr_id),
                    "send completions out of order"
                );
                self.last_send_wr = Some(c.wr_id);
            }
        }
        while self.conn.poll_event().is_some() {}
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    crc: bool,
    mulpdu: u16,
    ird: u8,
    ord: u8,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let mulpdu = 72 + usize::from(input.mulpdu) % 2000;
    let (ird, ord) = (usize::from(input.ird % 4), usize::from(input.ord % 4));
    let mut sides = [
        Side::new(input.crc, mulpdu, ird, ord),
        Side::new(input.crc, mulpdu, ird, ord),
    ];
    let mut out = vec![0u8; 4 * 4096];
    for op in input.ops.iter().take(256) {
        match *op {
            Op::Send {
                a,
                kind,
                off,
                len,
                remote_off,
                bad_key,
            } => {
                let [s, peer] = pick(&mut sides, a);
                let remote_stag = if bad_key { peer.key ^ 0x100 } else { peer.key };
                let remote_to = 0x1000 + u64::from(remote_off);
                let op = match kind % 6 {
                    0 => SendOp::Send,
                    1 => SendOp::SendSe,
                    2 => SendOp::SendInv {
                        inv_stag: remote_stag,
                    },
                    3 => SendOp::SendSeInv {
                        inv_stag: remote_stag,
                    },
                    4 => SendOp::Write {
                        remote_stag,
                        remote_to,
                    },
                    _ => SendOp::Read {
                        remote_stag,
                        remote_to,
                    },
                };
                let sge = [s.sge(off, len)];
                s.next_wr += 1;
                let _ = s.conn.post_send(&SendRequest {
                    wr_id: s.next_wr,
                    op,
                    payload: Payload::Sgl(&sge),
                });
            }
            Op::Inline { a, len } => {
                let s = &mut sides[usize::from(!a)];
                let data = [0x5a; 255];
                s.next_wr += 1;
                let wr = SendRequest {
                    wr_id: s.next_wr,
                    op: SendOp::Send,
                    payload: Payload::Inline(&data[..usize::from(len)]),
                };
                let _ = s.conn.post_send(&wr);
            }
            Op::Recv { a, len } => {
                let s = &mut sides[usize::from(!a)];
                let sge = [s.sge(len, len)];
                let _ = s.conn.post_recv(&RecvRequest {
                    wr_id: 0,
                    sges: &sge,
                });
            }
            Op::Transmit { a, room } => {
                let [s, peer] = pick(&mut sides, a);
                let room = usize::from(room).min(out.len());
                let n = s.conn.poll_transmit(&s.mem, &mut out[..room]);
                peer.inbox.extend_from_slice(&out[..n]);
            }
            Op::Deliver { a, len } => {
                let s = &mut sides[usize::from(!a)];
                let n = usize::from(len).min(s.inbox.len());
                let _ = s.conn.handle_bytes(&s.mem, &s.inbox[..n]);
                s.inbox.drain(..n);
            }
            Op::Corrupt { a, at, xor } => {
                let s = &mut sides[usize::from(!a)];
                let len = s.inbox.len();
                if let Some(b) = s.inbox.get_mut(usize::from(at) % len.max(1)) {
                    *b ^= xor;
                }
            }
            Op::Rtr { a, read } => sides[usize::from(!a)].conn.send_rtr(if read {
                RtrKind::Read
            } else {
                RtrKind::Write
            }),
            Op::Poll { a } => sides[usize::from(!a)].poll(),
            Op::Close { a } => sides[usize::from(!a)].conn.handle_stream_closed(),
        }
    }
    for s in &mut sides {
        s.poll();
    }
});

/// The acting side and its peer.
fn pick(sides: &mut [Side; 2], a: bool) -> [&mut Side; 2] {
    let [x, y] = sides;
    if a { [x, y] } else { [y, x] }
}
