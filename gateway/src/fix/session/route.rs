//! Third-party routing of an inbound message (OnBehalfOf*/DeliverTo*), kept reversed so
//! the session's replies to it carry them back (FIX 4.4 Vol. 2 "Third party
//! addressing"). Fixed buffers: no allocation per message.
//!
//! What it must not do: route anything itself or outlive the message it was taken from
//! (the session clears it after each message).

use crate::fix::codec::{Message, MessageWriter};

/// Third-party routing fields (FIX 4.4 Vol. 2 "Third party addressing"): a reply goes
/// back with OnBehalfOf* and DeliverTo* swapped.
const ROUTE_PAIRS: [(u32, u32); 6] = [
    (115, 128),
    (116, 129),
    (144, 145),
    (128, 115),
    (129, 116),
    (145, 144),
];
/// Longest routing value reversed; longer ones are not echoed.
const ROUTE_VALUE_MAX: usize = 64;

/// The reversed routing fields of the inbound message being processed, in fixed
/// buffers (no allocation per message).
#[derive(Clone, Copy, Debug)]
pub(super) struct Route {
    fields: [(u32, [u8; ROUTE_VALUE_MAX], usize); 6],
    len: usize,
}

impl Default for Route {
    fn default() -> Self {
        Route {
            fields: [(0, [0; ROUTE_VALUE_MAX], 0); 6],
            len: 0,
        }
    }
}

impl Route {
    /// Takes the routing fields of `msg`, each under its reply tag.
    pub(super) fn capture(&mut self, msg: &Message<'_>) {
        self.len = 0;
        for (inbound, reply) in ROUTE_PAIRS {
            let Some(value) = msg.get(inbound) else {
                continue;
            };
            let Some(slot) = self.fields.get_mut(self.len) else {
                break;
            };
            let Some(dst) = slot.1.get_mut(..value.len()) else {
                continue;
            };
            dst.copy_from_slice(value);
            slot.0 = reply;
            slot.2 = value.len();
            self.len += 1;
        }
    }

    /// Forgets the fields (the message they came from is done).
    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// Writes the reversed fields (header fields, right after the standard ones).
    pub(super) fn write(&self, w: &mut MessageWriter<'_>) {
        for (t, value, len) in self.fields.iter().take(self.len) {
            w.bytes(*t, value.get(..*len).unwrap_or_default());
        }
    }
}
