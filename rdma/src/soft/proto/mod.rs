//! Sans-IO protocol cores of the soft-iWARP stack: MPA connection setup
//! (`mpa_setup`, RFC 5044 §7 / RFC 6581), MPA markers (`markers`, RFC 5044 §5) and the
//! DDP/RDMAP data path of one connection (`conn`, RFC 5040/5041/5042).
//!
//! Bytes, events and `now` in; bytes to send, placements, completions and deadlines
//! out. Nothing here owns a socket, reads a clock, spawns a thread or allocates after
//! construction; the driver in `soft::driver` / `soft::qp` does the I/O.
pub mod conn;
pub mod markers;
pub mod mpa_setup;
