//! Per-connection transport statistics: bytes on the stream and Terminates by cause,
//! plain counters that the connection's owner reads ([`crate::QueuePair::transport_stats`],
//! [`crate::channel::MessageChannel::transport_stats`]) and copies wherever it reports
//! them (the gateway and the demo nodes copy them into their counters files).
//!
//! Terminates are keyed by their wire fields (RFC 5040 §4.8 Layer / EType / Error Code),
//! not by a backend's types, over a fixed table ([`TERMINATE_LABELS`]) of every cause
//! RFC 5040 §7, RFC 5041 §7 and RFC 5044 §8 (with RFC 6581's additions) define, plus
//! `other` for anything else: the label set an exporter builds from it is bounded.
//!
//! What this module must not do: allocate, share anything between threads, or know
//! about any metrics system.

/// Labels of one Terminate cause: the layer (`rdmap`, `ddp`, `mpa`) and a snake-case
/// code named after the RFC's wording, error type first where a layer has several.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TerminateLabel {
    /// `rdmap` (RFC 5040), `ddp` (RFC 5041), `mpa` (RFC 5044, the LLP) or `other`.
    pub layer: &'static str,
    /// The error, e.g. `tagged_invalid_stag` (DDP tagged buffer error, Invalid STag).
    pub code: &'static str,
    /// Layer, EType and Error Code on the wire (`other`: none).
    fields: Option<(u8, u8, u8)>,
}

const fn label(layer: &'static str, code: &'static str, fields: (u8, u8, u8)) -> TerminateLabel {
    TerminateLabel {
        layer,
        code,
        fields: Some(fields),
    }
}

/// Every Terminate cause the RFCs define, then `other` (last).
pub const TERMINATE_LABELS: [TerminateLabel; 34] = [
    label("rdmap", "catastrophic", (0, 0, 0x00)),
    label("rdmap", "protection_invalid_stag", (0, 1, 0x00)),
    label("rdmap", "protection_base_or_bounds", (0, 1, 0x01)),
    label("rdmap", "protection_access_rights", (0, 1, 0x02)),
    label("rdmap", "protection_stag_not_associated", (0, 1, 0x03)),
    label("rdmap", "protection_to_wrap", (0, 1, 0x04)),
    label("rdmap", "protection_cannot_invalidate", (0, 1, 0x09)),
    label("rdmap", "protection_unspecified", (0, 1, 0xff)),
    label("rdmap", "operation_invalid_version", (0, 2, 0x05)),
    label("rdmap", "operation_unexpected_opcode", (0, 2, 0x06)),
    label("rdmap", "operation_catastrophic_stream", (0, 2, 0x07)),
    label("rdmap", "operation_catastrophic_global", (0, 2, 0x08)),
    label("rdmap", "operation_cannot_invalidate", (0, 2, 0x09)),
    label("rdmap", "operation_unspecified", (0, 2, 0xff)),
    label("ddp", "catastrophic", (1, 0, 0x00)),
    label("ddp", "tagged_invalid_stag", (1, 1, 0x00)),
    label("ddp", "tagged_base_or_bounds", (1, 1, 0x01)),
    label("ddp", "tagged_stag_not_associated", (1, 1, 0x02)),
    label("ddp", "tagged_to_wrap", (1, 1, 0x03)),
    label("ddp", "tagged_invalid_version", (1, 1, 0x04)),
    label("ddp", "untagged_invalid_qn", (1, 2, 0x01)),
    label("ddp", "untagged_invalid_msn_no_buffer", (1, 2, 0x02)),
    label("ddp", "untagged_invalid_msn_range", (1, 2, 0x03)),
    label("ddp", "untagged_invalid_mo", (1, 2, 0x04)),
    label("ddp", "untagged_message_too_long", (1, 2, 0x05)),
    label("ddp", "untagged_invalid_version", (1, 2, 0x06)),
    label("mpa", "tcp_closed", (2, 0, 0x01)),
    label("mpa", "crc_error", (2, 0, 0x02)),
    label("mpa", "marker_error", (2, 0, 0x03)),
    label("mpa", "invalid_request_reply", (2, 0, 0x04)),
    label("mpa", "local_catastrophic", (2, 0, 0x05)),
    label("mpa", "insufficient_ird", (2, 0, 0x06)),
    label("mpa", "no_matching_rtr", (2, 0, 0x07)),
    TerminateLabel {
        layer: "other",
        code: "other",
        fields: None,
    },
];

/// Index of `other` in [`TERMINATE_LABELS`].
const OTHER: usize = TERMINATE_LABELS.len() - 1;

/// The index in [`TERMINATE_LABELS`] of a Terminate with these wire fields (`other`
/// when the RFCs define no such cause).
pub fn terminate_index(layer: u8, etype: u8, code: u8) -> usize {
    TERMINATE_LABELS
        .iter()
        .position(|l| l.fields == Some((layer, etype, code)))
        .unwrap_or(OTHER)
}

/// Terminates counted by cause, indexed like [`TERMINATE_LABELS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TerminateCounts([u64; TERMINATE_LABELS.len()]);

impl Default for TerminateCounts {
    fn default() -> Self {
        TerminateCounts([0; TERMINATE_LABELS.len()])
    }
}

impl TerminateCounts {
    /// Counts one Terminate with these wire fields.
    pub fn record(&mut self, layer: u8, etype: u8, code: u8) {
        if let Some(n) = self.0.get_mut(terminate_index(layer, etype, code)) {
            *n += 1;
        }
    }

    /// The count of the cause at `index` of [`TERMINATE_LABELS`] (0 past its end).
    pub fn get(&self, index: usize) -> u64 {
        self.0.get(index).copied().unwrap_or(0)
    }

    /// All Terminates counted.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &TerminateCounts) {
        for (n, m) in self.0.iter_mut().zip(other.0.iter()) {
            *n += m;
        }
    }
}

/// What one connection (or a sum of connections) moved and how it ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Bytes written to the stream after connection setup (MPA FPDUs, markers and CRCs
    /// included; the MPA Request/Reply exchange not).
    pub bytes_sent: u64,
    /// Bytes read from the stream after connection setup.
    pub bytes_received: u64,
    /// Terminates this side sent.
    pub terminates_sent: TerminateCounts,
    /// Terminates the peer sent.
    pub terminates_received: TerminateCounts,
}

impl TransportStats {
    /// Adds `other` (e.g. a closed connection's last stats into a total).
    pub fn add(&mut self, other: &TransportStats) {
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.terminates_sent.add(&other.terminates_sent);
        self.terminates_received.add(&other.terminates_received);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_has_one_label_and_unknown_ones_are_other() {
        for (i, l) in TERMINATE_LABELS.iter().enumerate() {
            if let Some((layer, etype, code)) = l.fields {
                assert_eq!(terminate_index(layer, etype, code), i, "{l:?}");
            }
            let same = TERMINATE_LABELS
                .iter()
                .filter(|m| m.layer == l.layer && m.code == l.code)
                .count();
            assert_eq!(same, 1, "{l:?} labelled twice");
        }
        assert_eq!(terminate_index(1, 1, 0x00), 15);
        assert_eq!(TERMINATE_LABELS[15].code, "tagged_invalid_stag");
        assert_eq!(terminate_index(0, 1, 0x07), OTHER);
        assert_eq!(terminate_index(3, 0, 0), OTHER);
        let mut a = TransportStats::default();
        a.terminates_sent.record(2, 0, 0x02);
        a.terminates_sent.record(9, 9, 9);
        a.bytes_sent = 10;
        let mut total = TransportStats::default();
        total.add(&a);
        total.add(&a);
        assert_eq!(total.bytes_sent, 20);
        assert_eq!(total.terminates_sent.get(27), 2);
        assert_eq!(total.terminates_sent.get(OTHER), 2);
        assert_eq!(total.terminates_sent.total(), 4);
        assert_eq!(total.terminates_received.total(), 0);
    }
}
