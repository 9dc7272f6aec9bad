//! The FIX 4.4 acceptor for retail clients: codec, session layer and session store.
//!
//! - [`codec`]: framing by `8=`/`9=`/`10=`, BodyLength and CheckSum checks, zero-copy
//!   field index, frame writer.
//! - [`dictionary`]: the FIX 4.4 data dictionary (generated at build time from FIX
//!   Orchestra) and message validation against it, repeating groups included.
//! - [`fields`]: tag numbers, enumerated values, UTCTimestamp.
//! - [`messages`]: NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest in
//!   (mapped to `tickwarp-wire` commands); ExecutionReport, OrderCancelReject,
//!   BusinessMessageReject out.
//! - [`session`]: the sans-IO session state machine (logon, heartbeats, test requests,
//!   resend and gap fill, sequence reset, reject, logout).
//! - [`store`]: sequence numbers and sent messages, in memory or in a journal.
//!
//! What this module must not do: own a socket, read a clock, block, or make trading
//! decisions (risk and order state are the application's, behind the session events).

pub mod codec;
pub mod dictionary;
pub mod fields;
pub mod messages;
pub mod session;
pub mod store;

pub use codec::{DecodeError, Framing, GarbleReason, Message, MessageWriter, scan_frame};
pub use dictionary::{Dictionary, Reject, ValidationOptions, validate};
pub use fields::{BusinessRejectReason, MsgType, SessionRejectReason};
pub use messages::{
    AppRejectError, BusinessMessageReject, ExecType, ExecutionReport, NewOrderSingle, OrdStatus,
    OrderCancelReject, OrderCancelReplaceRequest, OrderCancelRequest, ParseContext, Refusal,
    SessionId, refusal_msg_type, write_refusal,
};
pub use session::{
    DisconnectReason, Now, SendError, Session, SessionConfig, SessionEvent, SessionState,
};
pub use store::{JournalStore, MemoryStore, SeqNums, SessionStore, StoreError};
