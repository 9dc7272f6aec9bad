//! rdma_cm connection management: event channels, ids, listen/accept/reject, active
//! connect (resolve address, resolve route, connect), private data and disconnect
//! events.
//!
//! Every id gets its own event channel, non-blocking; setup waits for an event with
//! `poll(2)` on the channel fd until a deadline, so no call here blocks longer than its
//! timeout. Events are copied out and acknowledged at once (`rdma_destroy_id` waits for
//! unacknowledged events). The receive side of a connection is prepared (the caller's
//! `prepare` posts receives) after the QP exists and before `rdma_connect` /
//! `rdma_accept`, so the peer's first SEND always finds a buffer.
//!
//! This module must not be used on a hot path: it allocates and blocks.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use rdma_sys as ffi;
use tickwarp_runtime::Nanos;
use tickwarp_runtime::clock::monotonic_now;
use tracing::debug;

use super::addr;
use super::mem::Pd;
use super::qp::Qp;
use crate::hw::{Prepare, QpConfig};
use crate::verbs::{CmError, ConnectInfo, ConnectParams};

/// How long the passive side waits for `ESTABLISHED` after `rdma_accept`.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pending connection requests a listener queues.
const BACKLOG: i32 = 64;
/// rdma_cm carries at most this much private data (`rdma_conn_param` has a `u8` length).
const MAX_PRIVATE_DATA: usize = u8::MAX as usize;

/// An rdma_cm failure as an I/O error that names the call.
fn call_error(call: &'static str, errno: i32) -> CmError {
    let err = io::Error::from_raw_os_error(errno);
    match errno {
        libc::ETIMEDOUT => CmError::Timeout,
        _ => CmError::Io(io::Error::new(err.kind(), format!("{call}: {err}"))),
    }
}

/// The errno of a failed rdma_cm call (they return -1 and set errno).
fn failed(call: &'static str) -> CmError {
    call_error(call, super::last_errno())
}

/// One rdma_cm event, copied out of librdmacm's buffer.
#[derive(Debug)]
struct Event {
    kind: ffi::rdma_cm_event_type::Type,
    status: i32,
    /// The id the event is about (a new id for `CONNECT_REQUEST`).
    id: *mut ffi::rdma_cm_id,
    private_data: Vec<u8>,
}

impl Event {
    fn name(&self) -> String {
        // SAFETY: rdma_event_str returns a static string for any value.
        unsafe { std::ffi::CStr::from_ptr(ffi::rdma_event_str(self.kind)) }
            .to_string_lossy()
            .into_owned()
    }
}

/// An rdma_cm id with its own event channel; destroys both (and its QP) on drop.
#[derive(Debug)]
pub(super) struct CmId {
    id: *mut ffi::rdma_cm_id,
    chan: *mut ffi::rdma_event_channel,
}

// SAFETY: rdma_cm ids and channels may be used from any thread; this handle is the only
// owner and serialises nothing itself (librdmacm locks internally).
unsafe impl Send for CmId {}
// SAFETY: shared use only reads fields or calls thread-safe librdmacm functions.
unsafe impl Sync for CmId {}

fn new_channel() -> Result<*mut ffi::rdma_event_channel, CmError> {
    // SAFETY: no arguments; NULL is handled.
    let chan = unsafe { ffi::rdma_create_event_channel() };
    if chan.is_null() {
        return Err(failed("rdma_create_event_channel"));
    }
    // SAFETY: `chan` is live; making its fd non-blocking lets `next_event` poll it.
    unsafe {
        let fd = (*chan).fd;
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            let err = failed("fcntl(O_NONBLOCK) on the rdma_cm channel");
            ffi::rdma_destroy_event_channel(chan);
            return Err(err);
        }
    }
    Ok(chan)
}

impl CmId {
    /// A new TCP-port-space id on a new channel.
    pub(super) fn new() -> Result<CmId, CmError> {
        let chan = new_channel()?;
        let mut id = std::ptr::null_mut();
        // SAFETY: `chan` is live, `id` a valid out-pointer.
        let rc = unsafe {
            ffi::rdma_create_id(
                chan,
                &mut id,
                std::ptr::null_mut(),
                ffi::rdma_port_space::RDMA_PS_TCP,
            )
        };
        if rc != 0 {
            let err = failed("rdma_create_id");
            // SAFETY: no id was created on the channel.
            unsafe { ffi::rdma_destroy_event_channel(chan) };
            return Err(err);
        }
        Ok(CmId { id, chan })
    }

    /// Takes ownership of the id of a connection request, moving it to its own channel.
    fn adopt(id: *mut ffi::rdma_cm_id) -> Result<CmId, CmError> {
        let chan = match new_channel() {
            Ok(chan) => chan,
            Err(e) => {
                // SAFETY: the request id is ours to refuse and destroy.
                unsafe {
                    ffi::rdma_reject(id, std::ptr::null(), 0);
                    ffi::rdma_destroy_id(id);
                }
                return Err(e);
            }
        };
        let cm = CmId { id, chan };
        // SAFETY: both are live; the request event was acknowledged already.
        if unsafe { ffi::rdma_migrate_id(id, chan) } != 0 {
            return Err(failed("rdma_migrate_id"));
        }
        Ok(cm)
    }

    pub(super) fn raw(&self) -> *mut ffi::rdma_cm_id {
        self.id
    }

    /// Binds to `addr` (port 0 lets rdma_cm pick).
    pub(super) fn bind(&self, addr: SocketAddr) -> Result<(), CmError> {
        let mut storage = addr::to_storage(addr);
        // SAFETY: the id is live and `storage` holds a valid socket address.
        let rc = unsafe { ffi::rdma_bind_addr(self.id, (&raw mut storage).cast()) };
        if rc != 0 {
            return Err(failed("rdma_bind_addr"));
        }
        Ok(())
    }

    /// The device context the id is bound to (NULL until bound to a device address).
    pub(super) fn verbs(&self) -> *mut ffi::ibv_context {
        // SAFETY: the id is live; `verbs` is a plain field librdmacm fills in.
        unsafe { (*self.id).verbs }
    }

    fn local_addr(&self, fallback: SocketAddr) -> SocketAddr {
        // SAFETY: the id is live; its route holds sockaddr_storage-sized addresses.
        unsafe { addr::from_sockaddr(ffi::rdma_get_local_addr(&*self.id)) }
            .unwrap_or_else(|| addr::unspecified_like(fallback))
    }

    fn peer_addr(&self, fallback: SocketAddr) -> SocketAddr {
        // SAFETY: as in `local_addr`.
        unsafe { addr::from_sockaddr(ffi::rdma_get_peer_addr(&*self.id)) }
            .unwrap_or_else(|| addr::unspecified_like(fallback))
    }

    /// The next event if one is pending (never blocks).
    fn try_event(&self) -> Result<Option<Event>, CmError> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: the channel is live and non-blocking; `raw` a valid out-pointer.
        if unsafe { ffi::rdma_get_cm_event(self.chan, &mut raw) } != 0 {
            return match super::last_errno() {
                libc::EAGAIN => Ok(None),
                errno => Err(call_error("rdma_get_cm_event", errno)),
            };
        }
        // SAFETY: rdma_get_cm_event returned a live event; the private data pointer is
        // valid for `private_data_len` bytes until the event is acknowledged below.
        let event = unsafe {
            let ev = &*raw;
            let conn = ev.param.conn;
            let private_data = if conn.private_data.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts(
                    conn.private_data.cast::<u8>(),
                    usize::from(conn.private_data_len),
                )
                .to_vec()
            };
            let event = Event {
                kind: ev.event,
                status: ev.status,
                id: ev.id,
                private_data,
            };
            ffi::rdma_ack_cm_event(raw);
            event
        };
        Ok(Some(event))
    }

    /// Waits for the next event until `deadline`.
    fn next_event(&self, deadline: Nanos) -> Result<Event, CmError> {
        loop {
            if let Some(event) = self.try_event()? {
                debug!(event = %event.name(), status = event.status, "rdma_cm event");
                return Ok(event);
            }
            let left = deadline.saturating_sub(monotonic_now()).as_duration();
            if left.is_zero() {
                return Err(CmError::Timeout);
            }
            let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
            let mut pfd = libc::pollfd {
                // SAFETY: the channel is live.
                fd: unsafe { (*self.chan).fd },
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, ms) } < 0 {
                let errno = super::last_errno();
                if errno != libc::EINTR {
                    return Err(call_error("poll on the rdma_cm channel", errno));
                }
            }
        }
    }

    /// Waits for `want`; any other event is an error that says what happened.
    fn expect(
        &self,
        want: ffi::rdma_cm_event_type::Type,
        deadline: Nanos,
    ) -> Result<Event, CmError> {
        let event = self.next_event(deadline)?;
        if event.kind == want {
            return Ok(event);
        }
        use ffi::rdma_cm_event_type as t;
        Err(match event.kind {
            t::RDMA_CM_EVENT_REJECTED => CmError::Rejected {
                reason: event.private_data,
            },
            t::RDMA_CM_EVENT_DISCONNECTED | t::RDMA_CM_EVENT_TIMEWAIT_EXIT => CmError::Closed,
            _ => CmError::Io(io::Error::new(
                io::Error::from_raw_os_error(event.status.saturating_abs()).kind(),
                format!("rdma_cm: {} (status {})", event.name(), event.status),
            )),
        })
    }

    /// Handles pending events of a connected id without blocking; true once the peer
    /// disconnected (the QP is then moved to the error state, flushing its queues).
    pub(super) fn poll_disconnected(&self) -> bool {
        let mut disconnected = false;
        while let Ok(Some(event)) = self.try_event() {
            if matches!(
                event.kind,
                ffi::rdma_cm_event_type::RDMA_CM_EVENT_DISCONNECTED
                    | ffi::rdma_cm_event_type::RDMA_CM_EVENT_DEVICE_REMOVAL
            ) {
                disconnected = true;
            }
        }
        if disconnected {
            self.disconnect();
        }
        disconnected
    }

    /// `rdma_disconnect`: moves the QP to the error state and tells the peer.
    pub(super) fn disconnect(&self) {
        // SAFETY: the id is live; disconnecting twice only returns an error.
        unsafe { ffi::rdma_disconnect(self.id) };
    }
}

impl Drop for CmId {
    fn drop(&mut self) {
        // SAFETY: the id and channel are owned here; the QP (if any) is destroyed before
        // its id, and the id before its channel; every event was acknowledged.
        unsafe {
            if !(*self.id).qp.is_null() {
                ffi::rdma_destroy_qp(self.id);
            }
            ffi::rdma_destroy_id(self.id);
            ffi::rdma_destroy_event_channel(self.chan);
        }
    }
}

/// Connection parameters for `rdma_connect` / `rdma_accept`.
fn conn_param(
    pd: &Pd,
    config: &QpConfig,
    private_data: &[u8],
) -> Result<ffi::rdma_conn_param, CmError> {
    if private_data.len() > MAX_PRIVATE_DATA {
        return Err(CmError::InvalidParameter(
            "rdma_cm private data is limited to 255 bytes",
        ));
    }
    let caps = pd.device().caps();
    Ok(ffi::rdma_conn_param {
        private_data: private_data.as_ptr().cast(),
        private_data_len: private_data.len() as u8,
        responder_resources: u8::try_from(config.ird)
            .unwrap_or(u8::MAX)
            .min(caps.max_rd_atom),
        initiator_depth: u8::try_from(config.ord)
            .unwrap_or(u8::MAX)
            .min(caps.max_init_rd_atom),
        flow_control: 0,
        retry_count: 7,
        rnr_retry_count: 7,
        srq: 0,
        qp_num: 0,
    })
}

fn connect_info(
    cm: &CmId,
    event: Event,
    param: &ffi::rdma_conn_param,
    fallback: SocketAddr,
) -> ConnectInfo {
    ConnectInfo {
        private_data: event.private_data,
        local_addr: cm.local_addr(fallback),
        peer_addr: cm.peer_addr(fallback),
        // The device negotiates MPA (or the IB CM) itself and does not report it.
        revision: 0,
        crc: false,
        markers_refused: false,
        markers_rx: false,
        markers_tx: false,
        rtr: None,
        ird: u16::from(param.responder_resources),
        ord: u16::from(param.initiator_depth),
    }
}

fn prepare_error(e: crate::verbs::PostError) -> CmError {
    CmError::Io(io::Error::other(format!(
        "posting before connect failed: {e}"
    )))
}

/// Active side: resolve, create the QP, prepare, connect, wait for `ESTABLISHED`.
pub(super) fn connect(
    pd: &Pd,
    addr: SocketAddr,
    config: &QpConfig,
    params: &ConnectParams,
    prepare: Prepare<'_>,
) -> Result<(Qp, ConnectInfo), CmError> {
    let deadline = monotonic_now().saturating_add(params.timeout);
    let ms = i32::try_from(params.timeout.as_millis().max(1)).unwrap_or(i32::MAX);
    let cm = CmId::new()?;
    let mut dst = addr::to_storage(addr);
    // SAFETY: the id is live, `dst` a valid address; NULL source = any local address.
    if unsafe { ffi::rdma_resolve_addr(cm.raw(), std::ptr::null_mut(), (&raw mut dst).cast(), ms) }
        != 0
    {
        return Err(failed("rdma_resolve_addr"));
    }
    cm.expect(
        ffi::rdma_cm_event_type::RDMA_CM_EVENT_ADDR_RESOLVED,
        deadline,
    )?;
    if cm.verbs() != pd.device().ctx() {
        return Err(CmError::InvalidParameter(
            "the peer is reached through another verbs device than this PD's",
        ));
    }
    // SAFETY: the id is live and its address resolved.
    if unsafe { ffi::rdma_resolve_route(cm.raw(), ms) } != 0 {
        return Err(failed("rdma_resolve_route"));
    }
    cm.expect(
        ffi::rdma_cm_event_type::RDMA_CM_EVENT_ROUTE_RESOLVED,
        deadline,
    )?;
    let qp = Qp::create(cm, pd, config)?;
    prepare(&qp).map_err(prepare_error)?;
    let mut param = conn_param(pd, config, &params.private_data)?;
    // SAFETY: the id is live with a QP; `param` and its private data outlive the call.
    if unsafe { ffi::rdma_connect(qp.cm().raw(), &mut param) } != 0 {
        return Err(failed("rdma_connect"));
    }
    let event = qp
        .cm()
        .expect(ffi::rdma_cm_event_type::RDMA_CM_EVENT_ESTABLISHED, deadline)?;
    let info = connect_info(qp.cm(), event, &param, addr);
    // Kernel `siw` as responder can miss an FPDU that follows its MPA Reply at once
    // (see shared/siw-vm/README.md): give the peer `settle` before the first send.
    if !params.settle.is_zero() {
        std::thread::sleep(params.settle);
    }
    Ok((qp, info))
}

/// A listening rdma_cm id.
#[derive(Debug)]
pub struct Listener {
    cm: CmId,
    pd: Pd,
    local: SocketAddr,
}

impl Listener {
    pub(super) fn bind(pd: &Pd, addr: SocketAddr) -> Result<Listener, CmError> {
        let cm = CmId::new()?;
        cm.bind(addr)?;
        let verbs = cm.verbs();
        if !verbs.is_null() && verbs != pd.device().ctx() {
            return Err(CmError::InvalidParameter(
                "the address belongs to another verbs device than this PD's",
            ));
        }
        // SAFETY: the id is live and bound.
        if unsafe { ffi::rdma_listen(cm.raw(), BACKLOG) } != 0 {
            return Err(failed("rdma_listen"));
        }
        let local = cm.local_addr(addr);
        Ok(Listener {
            cm,
            pd: pd.clone(),
            local,
        })
    }

    /// The bound address (with the port rdma_cm picked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Waits up to `timeout` for a connection request.
    pub fn accept(&self, timeout: Duration) -> Result<Request, CmError> {
        let deadline = monotonic_now().saturating_add(timeout);
        loop {
            let event = self.cm.next_event(deadline)?;
            if event.kind != ffi::rdma_cm_event_type::RDMA_CM_EVENT_CONNECT_REQUEST {
                debug!(event = %event.name(), "listener ignores event");
                continue;
            }
            let cm = CmId::adopt(event.id)?;
            let peer = cm.peer_addr(self.local);
            return Ok(Request {
                cm: Some(cm),
                pd: self.pd.clone(),
                private_data: event.private_data,
                peer,
                local: self.local,
            });
        }
    }
}

/// A pending connection request; dropping it rejects it.
#[derive(Debug)]
pub struct Request {
    cm: Option<CmId>,
    pd: Pd,
    private_data: Vec<u8>,
    peer: SocketAddr,
    local: SocketAddr,
}

impl Request {
    /// The private data the peer sent.
    pub fn private_data(&self) -> &[u8] {
        &self.private_data
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Creates the QP, lets `prepare` post receives, accepts with `private_data` and
    /// waits for the connection to be established.
    pub fn accept(
        mut self,
        config: &QpConfig,
        private_data: &[u8],
        prepare: Prepare<'_>,
    ) -> Result<(Qp, ConnectInfo), CmError> {
        let cm = self.cm.take().ok_or(CmError::Closed)?;
        if cm.verbs() != self.pd.device().ctx() {
            // SAFETY: the id is live; refusing a request we cannot serve.
            unsafe { ffi::rdma_reject(cm.raw(), std::ptr::null(), 0) };
            return Err(CmError::InvalidParameter(
                "the request arrived on another verbs device than this PD's",
            ));
        }
        let deadline = monotonic_now().saturating_add(ACCEPT_TIMEOUT);
        let mut param = conn_param(&self.pd, config, private_data)?;
        let qp = Qp::create(cm, &self.pd, config)?;
        prepare(&qp).map_err(prepare_error)?;
        // SAFETY: the id is live with a QP; `param` and its data outlive the call.
        if unsafe { ffi::rdma_accept(qp.cm().raw(), &mut param) } != 0 {
            return Err(failed("rdma_accept"));
        }
        let event = qp
            .cm()
            .expect(ffi::rdma_cm_event_type::RDMA_CM_EVENT_ESTABLISHED, deadline)?;
        let mut info = connect_info(qp.cm(), event, &param, self.local);
        // ESTABLISHED on the passive side carries no private data: the peer's was in
        // the request.
        info.private_data = std::mem::take(&mut self.private_data);
        Ok((qp, info))
    }

    /// Rejects with `reason` as the private data of the reject.
    pub fn reject(mut self, reason: &[u8]) -> Result<(), CmError> {
        if reason.len() > MAX_PRIVATE_DATA {
            return Err(CmError::InvalidParameter(
                "rdma_cm private data is limited to 255 bytes",
            ));
        }
        let cm = self.cm.take().ok_or(CmError::Closed)?;
        // SAFETY: the id is live; `reason` outlives the call.
        if unsafe { ffi::rdma_reject(cm.raw(), reason.as_ptr().cast(), reason.len() as u8) } != 0 {
            return Err(failed("rdma_reject"));
        }
        Ok(())
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        if let Some(cm) = self.cm.take() {
            // SAFETY: the id is live; a request nobody answered is refused.
            unsafe { ffi::rdma_reject(cm.raw(), std::ptr::null(), 0) };
        }
    }
}
