//! Order state: the FIX 4.4 order lifecycle ([`transition`]), one order's record
//! ([`Order`]), the gateway's collection of orders ([`OrderStore`]) and each account's
//! positions from its fills ([`Positions`]).
//!
//! Sans-IO: every function takes the event that happened and returns the new state or a
//! typed error. This module must not read clocks, perform I/O, or allocate after
//! construction (the store is sized once; [`Positions`] takes one entry per new account
//! and instrument); it makes no risk decisions (see
//! [`crate::risk`]) and does no matching (see [`crate::venue`]).

mod order;
mod positions;
mod state;
mod store;

pub use order::{Order, OrderError};
pub use positions::{Position, Positions};
pub use state::{InvalidTransition, Live, OrdStatus, OrderEvent, transition};
pub use store::{OrderKey, OrderStore, StoreError};
