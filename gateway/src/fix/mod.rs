//! FIX 4.4: codec, dictionary, the session core shared by the acceptor and the venue
//! initiator, the acceptor for retail clients, and the session store.
//!
//! - [`acceptor`]: the acceptor for retail clients: the session core in the acceptor
//!   role plus the application layer for NewOrderSingle, OrderCancelRequest and
//!   OrderCancelReplaceRequest.
//! - [`codec`]: framing by `8=`/`9=`/`10=`, BodyLength and CheckSum checks, zero-copy
//!   field index, frame writer.
//! - [`dictionary`]: the FIX 4.4 data dictionary (generated at build time from FIX
//!   Orchestra) and message validation against it, repeating groups included.
//! - [`drop_copy`]: the drop-copy session's rules: account scope, copies with
//!   CopyMsgIndicator (797), read-only refusals.
//! - [`fields`]: tag numbers, enumerated values, UTCTimestamp.
//! - [`messages`]: NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest in
//!   (mapped to `tickwarp-wire` commands); ExecutionReport, OrderCancelReject,
//!   BusinessMessageReject out.
//! - [`positions`]: RequestForPositions (AN) in; RequestForPositionsAck (AO) and
//!   PositionReport (AP) out.
//! - [`retail`]: OrderStatusRequest (H), OrderMassStatusRequest (AF) and
//!   OrderMassCancelRequest (q) in; status ExecutionReports and OrderMassCancelReport (r)
//!   out.
//! - [`session`]: the sans-IO session core for both roles (logon, heartbeats, test
//!   requests, resend and gap fill, sequence reset, reject, logout); it knows no order
//!   types (application messages leave it as `(seq, &Message)`).
//! - [`session_log`]: one shared store log for every session of an acceptor (one sync
//!   per round whatever the number of sessions).
//! - [`store`]: sequence numbers and sent messages, in memory or in a journal.
//!
//! What this module must not do: own a socket, read a clock, block, or make trading
//! decisions (risk and order state are the application's, behind the session events).

pub mod acceptor;
pub mod codec;
pub mod dictionary;
pub mod drop_copy;
pub mod fields;
pub mod messages;
pub mod positions;
pub mod retail;
pub mod session;
pub mod session_log;
pub mod store;

pub use acceptor::{AcceptorApp, Session, SessionConfig, SessionEvent};
pub use codec::{DecodeError, Framing, GarbleReason, Message, MessageWriter, scan_frame};
pub use dictionary::{Dictionary, Reject, ValidationOptions, validate};
pub use drop_copy::DropCopyScope;
pub use fields::{BusinessRejectReason, MsgType, SessionRejectReason};
pub use messages::{
    AppRejectError, BusinessMessageReject, ExecType, ExecutionReport, NewOrderSingle, OrdStatus,
    OrderCancelReject, OrderCancelReplaceRequest, OrderCancelRequest, ParseContext, Refusal,
    SessionId, refusal_msg_type, write_refusal,
};
pub use positions::{PosReqResult, PositionReport, PositionsAck, RequestForPositions};
pub use retail::{
    MassCancelRejectReason, MassCancelScope, MassStatusScope, OrderIdRef, OrderMassCancelReport,
    OrderMassCancelRequest, OrderMassStatusRequest, OrderStatusRequest, StatusFields, SymbolFilter,
    UnknownOrderStatus,
};
pub use session::{
    Application, Connection, ConnectionConfig, ConnectionEvent, Delivery, DisconnectReason,
    Endpoint, MessageCounts, Now, Role, SendError, SessionState,
};
pub use session_log::{SessionLog, SharedStore, session_key};
pub use store::{JournalStore, MemoryStore, SeqNums, SessionStore, StoreError};
