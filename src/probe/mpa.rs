//! The probe's MPA side without I/O: the Request it sends (RFC 5044 §7.1 with the
//! RFC 6581 §9.1 IRD/ORD words), the sorting of whatever came back (a Reply, another
//! protocol, nothing), and the negotiation checks on a Reply. Everything here is built
//! on the soft stack's `wire::mpa` codec; this module must not open sockets.

use tickwarp_rdma::soft::wire::mpa::{self, EnhancedParams, FrameKind, HEADER_LEN, KEY_REPLY};
use tickwarp_rdma::soft::wire::{MpaFrame, MpaRepr};

/// IRD and ORD the probe offers (what `rping` offers: one Read each way).
const IRD_ORD: u16 = 1;
/// Bytes of a foreign answer shown in the report.
const SHOWN: usize = 48;

/// The probe's MPA Request: revision 2, enhanced (IRD/ORD 1, peer-to-peer offering a
/// zero-length RDMA Write or Read as ready-to-receive, as kernel `siw` offers), or
/// revision 1 (RFC 5044 alone: the fallback after a rejected revision 2); CRC as
/// asked, no markers, no private data.
pub(super) fn request(crc: bool, revision: u8) -> Vec<u8> {
    request_markers(crc, revision, false)
}

/// [`request`], asking for markers (M=1) when `markers`.
pub(super) fn request_markers(crc: bool, revision: u8, markers: bool) -> Vec<u8> {
    let enhanced = (revision >= 2).then_some(EnhancedParams {
        ird: IRD_ORD,
        ord: IRD_ORD,
        peer_to_peer: true,
        send_rtr: false,
        write_rtr: true,
        read_rtr: true,
    });
    let repr = MpaRepr {
        kind: FrameKind::Request,
        markers,
        crc,
        reject: false,
        res: 0,
        revision,
        enhanced,
        private_data: &[],
    };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut MpaFrame::new_unchecked(&mut out[..]));
    out
}

/// What the bytes received so far are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Received {
    /// Nothing yet, or the start of an MPA Reply: read on.
    Incomplete,
    /// A whole Reply frame (header and private data): its length.
    Reply(usize),
    /// A Reply header whose private data length exceeds RFC 5044's 512 bytes.
    OversizedReply(u16),
    /// Bytes that do not start with the Reply key: another protocol answered.
    Foreign,
}

/// Sorts the bytes received after our Request.
pub(super) fn sort(bytes: &[u8]) -> Received {
    sort_frame(bytes, &KEY_REPLY)
}

/// Sorts the first bytes a responder received (`Reply` then means a whole Request).
pub(super) fn sort_request(bytes: &[u8]) -> Received {
    sort_frame(bytes, &mpa::KEY_REQUEST)
}

/// Sorts bytes that should start with an MPA frame whose key is `key`.
fn sort_frame(bytes: &[u8], key: &[u8; 16]) -> Received {
    let key_part = bytes.len().min(key.len());
    if bytes[..key_part] != key[..key_part] {
        return Received::Foreign;
    }
    if bytes.len() < HEADER_LEN {
        return Received::Incomplete;
    }
    let frame = MpaFrame::new_unchecked(bytes);
    let pd_len = frame.pd_length();
    if usize::from(pd_len) > mpa::MAX_PD_LEN {
        return Received::OversizedReply(pd_len);
    }
    let len = HEADER_LEN + usize::from(pd_len);
    if bytes.len() >= len {
        Received::Reply(len)
    } else {
        Received::Incomplete
    }
}

/// What a foreign answer looks like, for the verdict ("an HTTP response").
pub(super) fn guess(bytes: &[u8]) -> &'static str {
    match bytes {
        [b'H', b'T', b'T', b'P', b'/', ..] => "an HTTP response",
        b if [&b"GET "[..], b"POST ", b"HEAD ", b"PUT "]
            .iter()
            .any(|m| b.starts_with(m)) =>
        {
            "an HTTP request"
        }
        [0x15 | 0x16, 0x03, ..] => "a TLS record",
        [b'S', b'S', b'H', b'-', ..] => "an SSH banner",
        b if b.starts_with(&mpa::KEY_REQUEST) => {
            "our own MPA Request echoed back (an echo service, or another initiator)"
        }
        b if b.starts_with(b"MPA ID ") => "a damaged MPA key (a box rewrote the payload?)",
        _ => "an unknown protocol",
    }
}

/// The first bytes of `bytes` as printable text: ASCII as is, `\r` `\n` `\t` escaped,
/// anything else as `\xNN`; `…` when cut.
pub(super) fn printable(bytes: &[u8]) -> String {
    printable_up_to(bytes, SHOWN)
}

/// [`printable`] showing at most `max` bytes.
pub(super) fn printable_up_to(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(max) {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > max {
        out.push('…');
    }
    out
}

/// The private data of the Replies of `tickwarp probe --listen`, by which the probe
/// knows it talks to the responder rather than to an rping server.
pub(super) const RESPONDER_PD: &[u8] = b"tickwarp probe --listen";

/// The responder's Reply to a decoded Request: the same revision (2 with the RFC 6581
/// words when the Request had them), C as asked, no markers, IRD/ORD 1, and for a
/// peer-to-peer Request a zero-length Write as ready-to-receive when offered (else
/// Read, else Send), as kernel `siw` picks.
pub(super) fn responder_reply(request: &Reply) -> Vec<u8> {
    let enhanced = request.enhanced.map(|offer| {
        let p2p = offer.peer_to_peer;
        let write = p2p && offer.write_rtr;
        let read = p2p && !write && offer.read_rtr;
        EnhancedParams {
            ird: IRD_ORD,
            ord: IRD_ORD,
            peer_to_peer: p2p,
            send_rtr: p2p && !write && !read && offer.send_rtr,
            write_rtr: write,
            read_rtr: read,
        }
    });
    let repr = MpaRepr {
        kind: FrameKind::Reply,
        markers: false,
        crc: request.crc,
        reject: false,
        res: 0,
        revision: if enhanced.is_some() { 2 } else { 1 },
        enhanced,
        private_data: RESPONDER_PD,
    };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut MpaFrame::new_unchecked(&mut out[..]));
    out
}

/// A decoded MPA Request or Reply, as the report shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Reply {
    /// `Rev`.
    pub(super) revision: u8,
    /// `C`: CRC32c on every FPDU.
    pub(super) crc: bool,
    /// `M`: the responder wants markers in what it receives.
    pub(super) markers: bool,
    /// `R`: the Request was rejected.
    pub(super) reject: bool,
    /// RFC 6581 words, when the enhanced bit is set.
    pub(super) enhanced: Option<EnhancedParams>,
    /// `PD_Length`, the IRD/ORD words included.
    pub(super) pd_length: u16,
    /// ULP private data (after the IRD/ORD words).
    pub(super) private_data: Vec<u8>,
}

impl Reply {
    /// Decodes a whole frame (as [`sort`] or [`sort_request`] delimited it).
    pub(super) fn parse(frame: &[u8]) -> Result<Reply, tickwarp_rdma::soft::wire::Error> {
        let view = MpaFrame::new_checked(frame)?;
        let repr = MpaRepr::parse(&view)?;
        Ok(Reply {
            revision: repr.revision,
            crc: repr.crc,
            markers: repr.markers,
            reject: repr.reject,
            enhanced: repr.enhanced,
            pd_length: view.pd_length(),
            private_data: repr.private_data.to_vec(),
        })
    }

    /// One line for the report: `rev 2, C=0 M=0 R=0, IRD 1 ORD 1 P2P (RTR: write), 4 bytes of private data`.
    pub(super) fn summary(&self) -> String {
        let mut s = format!(
            "rev {}, C={} M={} R={}",
            self.revision,
            u8::from(self.crc),
            u8::from(self.markers),
            u8::from(self.reject)
        );
        match &self.enhanced {
            Some(e) => {
                s.push_str(&format!(", IRD {} ORD {}", e.ird, e.ord));
                if e.peer_to_peer {
                    s.push_str(&format!(" P2P (RTR: {})", rtr_names(e)));
                }
            }
            None => s.push_str(", no RFC 6581 IRD/ORD"),
        }
        s.push_str(&format!(", PD_Length {}", self.pd_length));
        if !self.private_data.is_empty() {
            s.push_str(&format!(
                " (private data \"{}\")",
                printable(&self.private_data)
            ));
        }
        s
    }
}

/// The ready-to-receive types a peer-to-peer word pair names.
fn rtr_names(e: &EnhancedParams) -> String {
    let names: Vec<&str> = [
        (e.send_rtr, "send"),
        (e.write_rtr, "write"),
        (e.read_rtr, "read"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join("+")
    }
}

/// One negotiation finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Finding {
    /// Check name.
    pub(super) name: &'static str,
    /// Whether it passes, is worth a warning, or breaks the connection.
    pub(super) outcome: Outcome,
    /// What was offered and agreed.
    pub(super) detail: String,
}

/// The weight of a [`Finding`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// As expected.
    Pass,
    /// Works, but the user should know.
    Warn,
    /// The connection cannot work this way.
    Fail,
}

/// Compares a Reply with the Request the probe sent (CRC as `crc_offered`).
pub(super) fn negotiate(reply: &Reply, crc_offered: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    // RFC 5044 §7.1: CRC is used when either side asks; a responder answering an
    // initiator's C=1 with C=0 breaks the rule (or a box rewrote the flags).
    let crc = if crc_offered && !reply.crc {
        Finding {
            name: "CRC",
            outcome: Outcome::Fail,
            detail: "offered C=1, the Reply says C=0 (RFC 5044 §7.1 requires C=1)".into(),
        }
    } else {
        Finding {
            name: "CRC",
            outcome: Outcome::Pass,
            detail: format!(
                "offered C={}, agreed {}",
                u8::from(crc_offered),
                if reply.crc { "CRC32c on" } else { "off" }
            ),
        }
    };
    out.push(crc);
    out.push(Finding {
        name: "markers",
        outcome: if reply.markers {
            Outcome::Warn
        } else {
            Outcome::Pass
        },
        detail: if reply.markers {
            "offered M=0; the peer wants markers in what it receives (M=1): \
             the soft stack inserts them, few RNICs do"
                .into()
        } else {
            "offered M=0, agreed none".into()
        },
    });
    let revision = match (&reply.enhanced, reply.revision) {
        (Some(e), 2) => Finding {
            name: "revision",
            outcome: Outcome::Pass,
            detail: format!(
                "offered rev 2 IRD {IRD_ORD} ORD {IRD_ORD} P2P (write+read); \
                 peer IRD {} ORD {}{}",
                e.ird,
                e.ord,
                if e.peer_to_peer {
                    format!(", P2P with RTR {}", rtr_names(e))
                } else {
                    ", no P2P".to_string()
                }
            ),
        },
        (None, 1) => Finding {
            name: "revision",
            outcome: Outcome::Warn,
            detail: "offered rev 2; the peer answered rev 1 (no RFC 6581 IRD/ORD)".into(),
        },
        (enhanced, rev) => Finding {
            name: "revision",
            outcome: Outcome::Fail,
            detail: format!(
                "offered rev 2; the Reply has rev {rev} {} the RFC 6581 words",
                if enhanced.is_some() {
                    "with"
                } else {
                    "without"
                }
            ),
        },
    };
    out.push(revision);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5044 §7.1 key, flags (enhanced), rev 2, PD_Length 4; RFC 6581 §9.1:
    /// IRD 0x8001 (P2P, IRD 1), ORD 0xc001 (write and read RTR, ORD 1).
    static REQUEST: [u8; 24] = [
        b'M', b'P', b'A', b' ', b'I', b'D', b' ', b'R', b'e', b'q', b' ', b'F', b'r', b'a', b'm',
        b'e', 0x10, 2, 0, 4, 0x80, 0x01, 0xc0, 0x01,
    ];

    /// A Reply as the soft stack and `siw` send it to that Request: C=0, rev 2, P2P
    /// with a zero-length Write as RTR.
    static REPLY: [u8; 24] = [
        b'M', b'P', b'A', b' ', b'I', b'D', b' ', b'R', b'e', b'p', b' ', b'F', b'r', b'a', b'm',
        b'e', 0x10, 2, 0, 4, 0x80, 0x01, 0x80, 0x01,
    ];

    #[test]
    fn request_bytes() {
        assert_eq!(request(false, 2), REQUEST);
        let with_crc = request(true, 2);
        assert_eq!(with_crc[16], 0x50);
        // RFC 5044 §7.1 revision 1: no enhanced bit, no private data.
        let v1 = request(true, 1);
        assert_eq!(v1[..16], REQUEST[..16]);
        assert_eq!(v1[16..], [0x40, 1, 0, 0]);
    }

    #[test]
    fn sorts_a_reply_in_pieces() {
        for cut in 0..REPLY.len() {
            assert_eq!(sort(&REPLY[..cut]), Received::Incomplete, "cut at {cut}");
        }
        assert_eq!(sort(&REPLY), Received::Reply(24));
        let mut long = REPLY.to_vec();
        long.extend_from_slice(b"early FPDU");
        assert_eq!(sort(&long), Received::Reply(24));
    }

    #[test]
    fn sorts_foreign_and_oversized() {
        assert_eq!(sort(b"HTTP/1.1 400 Bad Request\r\n"), Received::Foreign);
        assert_eq!(sort(b"M"), Received::Incomplete);
        assert_eq!(sort(b"MPA ID Req Frame"), Received::Foreign);
        let mut big = REPLY;
        big[18] = 0x02;
        big[19] = 0x01;
        assert_eq!(sort(&big), Received::OversizedReply(513));
    }

    #[test]
    fn guesses() {
        assert_eq!(guess(b"HTTP/1.0 400 Bad"), "an HTTP response");
        assert_eq!(guess(b"GET / HTTP/1.0\r\n"), "an HTTP request");
        assert_eq!(guess(&[0x15, 0x03, 0x03, 0x00, 0x02]), "a TLS record");
        assert_eq!(guess(b"SSH-2.0-OpenSSH_9.2"), "an SSH banner");
        assert!(guess(&REQUEST).starts_with("our own MPA Request"));
        assert_eq!(guess(b"\x00\x01"), "an unknown protocol");
    }

    #[test]
    fn printable_escapes_and_cuts() {
        assert_eq!(printable(b"HTTP/1.0\r\n\x00"), "HTTP/1.0\\r\\n\\x00");
        assert!(printable(&[b'a'; 60]).ends_with('…'));
    }

    #[test]
    fn decodes_and_negotiates() {
        let reply = Reply::parse(&REPLY).expect("reply");
        assert_eq!(
            reply.summary(),
            "rev 2, C=0 M=0 R=0, IRD 1 ORD 1 P2P (RTR: write), PD_Length 4"
        );
        let found = negotiate(&reply, false);
        assert!(
            found.iter().all(|f| f.outcome == Outcome::Pass),
            "{found:?}"
        );
        // Asked for CRC, got C=0: the responder broke RFC 5044 §7.1.
        let found = negotiate(&reply, true);
        assert_eq!(found[0].outcome, Outcome::Fail);
    }

    #[test]
    fn responder_answers_the_probe_request() {
        let request = Reply::parse(&REQUEST).expect("request");
        assert_eq!(sort_request(&REQUEST), Received::Reply(24));
        let reply = responder_reply(&request);
        assert_eq!(sort(&reply), Received::Reply(reply.len()));
        let decoded = Reply::parse(&reply).expect("reply");
        assert_eq!(decoded.private_data, RESPONDER_PD);
        // As the soft stack answers (REPLY), but with the responder's private data.
        let mut expected = REPLY.to_vec();
        expected[19] = 4 + RESPONDER_PD.len() as u8;
        expected.extend_from_slice(RESPONDER_PD);
        assert_eq!(reply, expected);
        assert!(
            negotiate(&decoded, false)
                .iter()
                .all(|f| f.outcome == Outcome::Pass)
        );
    }

    #[test]
    fn revision_one_reply_warns() {
        let mut v1 = REPLY[..20].to_vec();
        v1[16] = 0x00;
        v1[17] = 1;
        v1[19] = 0;
        let reply = Reply::parse(&v1).expect("reply");
        let found = negotiate(&reply, false);
        assert_eq!(found[2].outcome, Outcome::Warn);
    }
}
