//! Order books built from decoded ITCH 5.0: order by order (L3), price levels (L2) and
//! the best bid and offer, per instrument, and the wire records they publish.
//!
//! [`OrderBook`] is one instrument's book and can be driven directly; [`FeedHandler`]
//! maps ITCH messages onto books (stock locate → [`InstrumentId`](tickwarp_wire::InstrumentId)
//! through the Stock Directory) and returns `tickwarp-wire` records. Nothing here
//! performs I/O, reads a clock (receive times are arguments) or panics on any input.

mod feed;
mod ladder;
mod order_book;

pub use feed::{FeedConfig, FeedError, FeedHandler, FeedStats, MdRecord, Published};
pub use ladder::Level;
pub use order_book::{BookCapacity, BookError, Order, OrderBook, Reduced, Snapshot};
