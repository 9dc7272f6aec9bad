//! The shell backend (feature `hw` off): every type is uninhabited, every constructor
//! fails with [`VerbsError::Unsupported`]. It mirrors the API of `sys/` exactly so
//! that [`crate::verbs`] dispatches to either without `cfg`.
//!
//! It must not link a system library or do anything at run time.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{Prepare, QpConfig, unsupported};
use crate::verbs::{
    Access, CmError, Completion, ConnectInfo, ConnectParams, DeviceInfo, MemError, PostError,
    QpState, RecvWr, SendWr, VerbsError,
};

/// Lists the verbs devices; the shell has none to offer.
pub fn list_devices() -> Result<Vec<DeviceInfo>, VerbsError> {
    Err(unsupported())
}

/// A hardware verbs device; uninhabited in the shell.
#[derive(Clone, Debug)]
pub enum Device {}

impl Device {
    /// Opens the first verbs device; the shell always fails with `Unsupported`.
    pub fn open() -> Result<Device, VerbsError> {
        Err(unsupported())
    }

    /// Opens the device serving `ip`; the shell always fails with `Unsupported`.
    pub fn open_for(_ip: IpAddr) -> Result<Device, VerbsError> {
        Err(unsupported())
    }

    /// The device name.
    pub fn name(&self) -> &str {
        match *self {}
    }

    /// Allocates a protection domain.
    pub fn alloc_pd(&self) -> Result<Pd, VerbsError> {
        match *self {}
    }

    /// Creates a completion queue.
    pub fn create_cq(&self, _depth: usize) -> Result<Cq, VerbsError> {
        match *self {}
    }
}

/// A protection domain; uninhabited in the shell.
#[derive(Clone, Debug)]
pub enum Pd {}

impl Pd {
    /// Registers `len` zeroed bytes.
    pub fn alloc_mr(&self, _len: usize, _access: Access) -> Result<Mr, VerbsError> {
        match *self {}
    }

    /// Registers a copy of `bytes`.
    pub fn register(&self, _bytes: &[u8], _access: Access) -> Result<Mr, VerbsError> {
        match *self {}
    }

    /// Listens on `addr`.
    pub fn listen(&self, _addr: SocketAddr) -> Result<Listener, CmError> {
        match *self {}
    }

    /// Connects an RC QP to `addr`.
    pub fn connect(
        &self,
        _addr: SocketAddr,
        _config: &QpConfig,
        _params: &ConnectParams,
        _prepare: Prepare<'_>,
    ) -> Result<(Qp, ConnectInfo), CmError> {
        match *self {}
    }
}

/// A registered memory region; uninhabited in the shell.
#[derive(Debug)]
pub enum Mr {}

impl Mr {
    /// The local key.
    pub fn lkey(&self) -> u32 {
        match *self {}
    }

    /// The remote key.
    pub fn rkey(&self) -> u32 {
        match *self {}
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        match *self {}
    }

    /// True for a zero-length region (never: hardware regions have at least one byte).
    pub fn is_empty(&self) -> bool {
        match *self {}
    }

    /// The rights granted at registration.
    pub fn access(&self) -> Access {
        match *self {}
    }

    /// The tagged address of `offset`.
    pub fn tagged(&self, _offset: u64) -> u64 {
        match *self {}
    }

    /// Copies bytes at `offset` into `dst`.
    pub fn read(&self, _offset: usize, _dst: &mut [u8]) -> Result<(), MemError> {
        match *self {}
    }

    /// Copies `src` into the region at `offset`.
    pub fn write(&self, _offset: usize, _src: &[u8]) -> Result<(), MemError> {
        match *self {}
    }

    /// Builds `len` bytes at `offset` in place, at most 8 bytes per chunk.
    pub fn fill_with(
        &self,
        _offset: usize,
        _len: usize,
        _fill: impl FnMut(usize, &mut [u8]),
    ) -> Result<(), MemError> {
        match *self {}
    }

    /// Loads a little-endian word (`Acquire`).
    pub fn load_u64_acquire(&self, _offset: usize) -> Result<u64, MemError> {
        match *self {}
    }

    /// Stores a little-endian word (`Release`).
    pub fn store_u64_release(&self, _offset: usize, _value: u64) -> Result<(), MemError> {
        match *self {}
    }
}

/// A completion queue; uninhabited in the shell.
#[derive(Clone, Debug)]
pub enum Cq {}

impl Cq {
    /// Moves completions into `out`.
    pub fn poll(&self, _out: &mut [Completion]) -> usize {
        match *self {}
    }

    /// Completions held at most.
    pub fn depth(&self) -> usize {
        match *self {}
    }

    /// True once the device reported an overrun.
    pub fn overrun(&self) -> bool {
        match *self {}
    }
}

/// A listening rdma_cm id; uninhabited in the shell.
#[derive(Debug)]
pub enum Listener {}

impl Listener {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        match *self {}
    }

    /// Waits for a connection request.
    pub fn accept(&self, _timeout: Duration) -> Result<Request, CmError> {
        match *self {}
    }
}

/// A pending connection request; uninhabited in the shell.
#[derive(Debug)]
pub enum Request {}

impl Request {
    /// The peer's private data.
    pub fn private_data(&self) -> &[u8] {
        match *self {}
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        match *self {}
    }

    /// Accepts with `private_data`.
    pub fn accept(
        self,
        _config: &QpConfig,
        _private_data: &[u8],
        _prepare: Prepare<'_>,
    ) -> Result<(Qp, ConnectInfo), CmError> {
        match self {}
    }

    /// Rejects with `reason`.
    pub fn reject(self, _reason: &[u8]) -> Result<(), CmError> {
        match self {}
    }
}

/// A connected RC QP; uninhabited in the shell.
#[derive(Clone, Debug)]
pub enum Qp {}

impl Qp {
    /// The QP number.
    pub fn qp_num(&self) -> u32 {
        match *self {}
    }

    /// The current state.
    pub fn state(&self) -> QpState {
        match *self {}
    }

    /// Posts a send work request.
    pub fn post_send(&self, _wr: &SendWr<'_>) -> Result<(), PostError> {
        match *self {}
    }

    /// Posts a receive work request.
    pub fn post_recv(&self, _wr: &RecvWr<'_>) -> Result<(), PostError> {
        match *self {}
    }

    /// Disconnects.
    pub fn disconnect(&self) {
        match *self {}
    }

    /// True when the device places each RDMA WRITE in address order.
    pub fn write_placed_in_order(&self) -> bool {
        match *self {}
    }
}
