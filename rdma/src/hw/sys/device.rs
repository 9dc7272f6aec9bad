//! Verbs devices: the rdma_cm device list, opening a device (the first with an active
//! port, or the one rdma_cm binds a local address to), capability limits, asynchronous
//! events (CQ overrun), and the listing behind `tickwarp devices`.
//!
//! Devices come from `rdma_get_devices`, not `ibv_open_device`: rdma_cm ids are bound
//! to librdmacm's own `ibv_context`s, and a QP created through an id must belong to a PD
//! of that very context. This module must not allocate on any path a QP or CQ uses.

use std::ffi::CStr;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::ptr;
use std::sync::{Arc, Mutex, PoisonError};

use rdma_sys as ffi;
use tracing::debug;

use super::cm::CmId;
use super::cq::Cq;
use super::last_errno;
use super::mem::Pd;
use crate::verbs::{Backend, DeviceInfo, PortInfo, VerbsError};

/// GID table entries listed per port at most.
const MAX_LISTED_GIDS: i32 = 8;

/// The array `rdma_get_devices` returns; freed with `rdma_free_devices`.
struct DeviceList {
    list: *mut *mut ffi::ibv_context,
    len: usize,
}

// SAFETY: the array is written once by librdmacm and only read afterwards; the contexts
// it points to stay open for the life of the process (librdmacm keeps them) and
// libibverbs contexts are thread-safe.
unsafe impl Send for DeviceList {}
// SAFETY: as above, shared reads of an immutable array of thread-safe contexts.
unsafe impl Sync for DeviceList {}

impl DeviceList {
    fn get() -> Result<DeviceList, VerbsError> {
        let mut n = 0;
        // SAFETY: `n` is a valid out-pointer; a NULL result is handled below.
        let list = unsafe { ffi::rdma_get_devices(&mut n) };
        if list.is_null() {
            return match last_errno() {
                0 | libc::ENODEV | libc::ENOENT => {
                    Err(VerbsError::Unsupported("no verbs device found"))
                }
                errno => Err(VerbsError::Device {
                    call: "rdma_get_devices",
                    errno,
                }),
            };
        }
        Ok(DeviceList {
            list,
            len: usize::try_from(n).unwrap_or(0),
        })
    }

    fn contexts(&self) -> impl Iterator<Item = *mut ffi::ibv_context> + '_ {
        (0..self.len)
            // SAFETY: `list` holds `len` entries (rdma_get_devices' contract).
            .map(|i| unsafe { *self.list.add(i) })
            .filter(|ctx| !ctx.is_null())
    }
}

impl Drop for DeviceList {
    fn drop(&mut self) {
        // SAFETY: `list` came from rdma_get_devices and is freed exactly once.
        unsafe { ffi::rdma_free_devices(self.list) };
    }
}

/// Limits of a device (`ibv_query_device`), used to clamp creation parameters.
#[derive(Clone, Copy, Debug)]
pub(super) struct Caps {
    /// Work requests per queue.
    pub(super) max_qp_wr: usize,
    /// SGEs per work request.
    pub(super) max_sge: usize,
    /// Entries per CQ.
    pub(super) max_cqe: usize,
    /// Inbound RDMA READs per QP (responder resources).
    pub(super) max_rd_atom: u8,
    /// Outbound RDMA READs per QP (initiator depth).
    pub(super) max_init_rd_atom: u8,
    /// Physical ports.
    ports: u8,
}

struct Shared {
    /// Keeps the list (and so `ctx`) valid.
    _list: DeviceList,
    ctx: *mut ffi::ibv_context,
    name: String,
    caps: Caps,
    /// CQs the device reported in error (`IBV_EVENT_CQ_ERR`), by address.
    cq_errors: Mutex<Vec<usize>>,
}

// SAFETY: `ctx` is a libibverbs context, which is thread-safe; the rest is owned data.
unsafe impl Send for Shared {}
// SAFETY: as above; mutable state is behind the mutex.
unsafe impl Sync for Shared {}

/// An open verbs device (shared by every PD and CQ created from it).
#[derive(Clone)]
pub struct Device(Arc<Shared>);

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("name", &self.0.name)
            .field("caps", &self.0.caps)
            .finish()
    }
}

impl Device {
    /// Opens the first verbs device that has an active port.
    pub fn open() -> Result<Device, VerbsError> {
        let list = DeviceList::get()?;
        let ctx = list
            .contexts()
            .find(|&ctx| query_caps(ctx).is_ok_and(|caps| active_port(ctx, caps.ports)))
            .ok_or(VerbsError::Unsupported(
                "no verbs device with an active port",
            ))?;
        Device::from_list(list, ctx)
    }

    /// Opens the device rdma_cm binds `ip` to (the device that serves that address).
    pub fn open_for(ip: IpAddr) -> Result<Device, VerbsError> {
        let list = DeviceList::get()?;
        let bound = bound_context(ip).ok_or(VerbsError::Unsupported(
            "no verbs device serves the local address",
        ))?;
        let ctx = list
            .contexts()
            .find(|&ctx| ctx == bound)
            .ok_or(VerbsError::Unsupported(
                "no verbs device serves the local address",
            ))?;
        Device::from_list(list, ctx)
    }

    fn from_list(list: DeviceList, ctx: *mut ffi::ibv_context) -> Result<Device, VerbsError> {
        let caps = query_caps(ctx)?;
        let name = context_name(ctx);
        // Overrun detection reads asynchronous events without blocking.
        // SAFETY: `ctx` is a live context; fcntl on its async fd changes only its flags.
        unsafe {
            let fd = (*ctx).async_fd;
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
        debug!(device = %name, ?caps, "opened verbs device");
        Ok(Device(Arc::new(Shared {
            _list: list,
            ctx,
            name,
            caps,
            cq_errors: Mutex::new(Vec::new()),
        })))
    }

    /// The device name (`siw0`, `mlx5_0`, ...).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Allocates a protection domain.
    pub fn alloc_pd(&self) -> Result<Pd, VerbsError> {
        Pd::new(self)
    }

    /// Creates a completion queue of at least `depth` entries.
    pub fn create_cq(&self, depth: usize) -> Result<Cq, VerbsError> {
        Cq::new(self, depth)
    }

    pub(super) fn ctx(&self) -> *mut ffi::ibv_context {
        self.0.ctx
    }

    pub(super) fn caps(&self) -> Caps {
        self.0.caps
    }

    /// Reads pending asynchronous events; true if `cq` was reported in error.
    pub(super) fn cq_in_error(&self, cq: *mut ffi::ibv_cq) -> bool {
        let mut errors = self
            .0
            .cq_errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            let mut event = std::mem::MaybeUninit::<ffi::ibv_async_event>::uninit();
            // SAFETY: the context is live and its async fd non-blocking (set at open);
            // on success the event is initialised and acknowledged below.
            let rc = unsafe { ffi::ibv_get_async_event(self.0.ctx, event.as_mut_ptr()) };
            if rc != 0 {
                break;
            }
            // SAFETY: ibv_get_async_event returned 0, so it wrote the event.
            let mut event = unsafe { event.assume_init() };
            if matches!(event.event_type, ffi::ibv_event_type::IBV_EVENT_CQ_ERR) {
                // SAFETY: for IBV_EVENT_CQ_ERR the element is the CQ.
                errors.push(unsafe { event.element.cq } as usize);
            }
            debug!(device = %self.0.name, event = ?event.event_type, "verbs async event");
            // SAFETY: every event returned by ibv_get_async_event is acked exactly once.
            unsafe { ffi::ibv_ack_async_event(&mut event) };
        }
        errors.contains(&(cq as usize))
    }
}

/// The context rdma_cm binds `ip` to, if any device serves it.
fn bound_context(ip: IpAddr) -> Option<*mut ffi::ibv_context> {
    let id = CmId::new().ok()?;
    id.bind(SocketAddr::new(ip, 0)).ok()?;
    let ctx = id.verbs();
    (!ctx.is_null()).then_some(ctx)
}

fn context_name(ctx: *mut ffi::ibv_context) -> String {
    // SAFETY: `ctx` is a live context; its device and the NUL-terminated name outlive it.
    unsafe {
        let name = ffi::ibv_get_device_name((*ctx).device);
        if name.is_null() {
            String::from("?")
        } else {
            CStr::from_ptr(name).to_string_lossy().into_owned()
        }
    }
}

fn query_caps(ctx: *mut ffi::ibv_context) -> Result<Caps, VerbsError> {
    let mut attr = std::mem::MaybeUninit::<ffi::ibv_device_attr>::zeroed();
    // SAFETY: `ctx` is live and `attr` a writable ibv_device_attr.
    let rc = unsafe { ffi::ibv_query_device(ctx, attr.as_mut_ptr()) };
    if rc != 0 {
        return Err(VerbsError::Device {
            call: "ibv_query_device",
            errno: rc,
        });
    }
    // SAFETY: zero-initialised plain data, filled by a successful query.
    let attr = unsafe { attr.assume_init() };
    let count = |v: i32| usize::try_from(v).unwrap_or(0);
    Ok(Caps {
        max_qp_wr: count(attr.max_qp_wr),
        max_sge: count(attr.max_sge),
        max_cqe: count(attr.max_cqe),
        max_rd_atom: u8::try_from(attr.max_qp_rd_atom).unwrap_or(u8::MAX),
        max_init_rd_atom: u8::try_from(attr.max_qp_init_rd_atom).unwrap_or(u8::MAX),
        ports: attr.phys_port_cnt,
    })
}

fn query_port(ctx: *mut ffi::ibv_context, port: u8) -> Option<ffi::ibv_port_attr> {
    let mut attr = std::mem::MaybeUninit::<ffi::ibv_port_attr>::zeroed();
    // SAFETY: `ctx` is live and `attr` a writable, zeroed ibv_port_attr.
    let rc = unsafe { ffi::___ibv_query_port(ctx, port, attr.as_mut_ptr()) };
    // SAFETY: zeroed plain data, filled by the query when rc == 0.
    (rc == 0).then(|| unsafe { attr.assume_init() })
}

fn active_port(ctx: *mut ffi::ibv_context, ports: u8) -> bool {
    (1..=ports).any(|p| {
        query_port(ctx, p).is_some_and(|a| a.state == ffi::ibv_port_state::IBV_PORT_ACTIVE)
    })
}

fn transport_name(ctx: *mut ffi::ibv_context) -> &'static str {
    // SAFETY: `ctx` and its device are live.
    match unsafe { (*(*ctx).device).transport_type } {
        ffi::ibv_transport_type::IBV_TRANSPORT_IB => "InfiniBand/RoCE",
        ffi::ibv_transport_type::IBV_TRANSPORT_IWARP => "iWARP",
        ffi::ibv_transport_type::IBV_TRANSPORT_USNIC => "usNIC",
        ffi::ibv_transport_type::IBV_TRANSPORT_USNIC_UDP => "usNIC/UDP",
        _ => "unknown",
    }
}

fn port_info(ctx: *mut ffi::ibv_context, port: u8) -> PortInfo {
    let Some(attr) = query_port(ctx, port) else {
        return PortInfo {
            port,
            state: String::from("unknown (ibv_query_port failed)"),
            gids: Vec::new(),
        };
    };
    // SAFETY: ibv_port_state_str returns a static NUL-terminated string for any value.
    let state = unsafe { CStr::from_ptr(ffi::ibv_port_state_str(attr.state)) }
        .to_string_lossy()
        .into_owned();
    let gids = (0..attr.gid_tbl_len.min(MAX_LISTED_GIDS))
        .filter_map(|index| {
            let mut gid = std::mem::MaybeUninit::<ffi::ibv_gid>::zeroed();
            // SAFETY: `ctx` is live, `gid` a writable 16-byte union.
            let rc = unsafe { ffi::ibv_query_gid(ctx, port, index, gid.as_mut_ptr()) };
            // SAFETY: zeroed plain data; every bit pattern of `raw` is valid.
            let raw = unsafe { gid.assume_init().raw };
            (rc == 0 && raw != [0; 16]).then(|| Ipv6Addr::from(raw))
        })
        .collect();
    PortInfo { port, state, gids }
}

/// Lists every verbs device with its ports, GIDs and the local addresses rdma_cm binds
/// to it.
pub fn list_devices() -> Result<Vec<DeviceInfo>, VerbsError> {
    let list = match DeviceList::get() {
        Ok(list) => list,
        Err(VerbsError::Unsupported(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let served: Vec<(IpAddr, *mut ffi::ibv_context)> = local_addresses()
        .into_iter()
        .filter_map(|ip| bound_context(ip).map(|ctx| (ip, ctx)))
        .collect();
    Ok(list
        .contexts()
        .map(|ctx| {
            let ports = query_caps(ctx).map_or(0, |c| c.ports);
            DeviceInfo {
                name: context_name(ctx),
                backend: Backend::Hardware,
                transport: String::from(transport_name(ctx)),
                ports: (1..=ports).map(|p| port_info(ctx, p)).collect(),
                addresses: served
                    .iter()
                    .filter(|(_, c)| *c == ctx)
                    .map(|(ip, _)| *ip)
                    .collect(),
            }
        })
        .collect())
}

/// Every IPv4 and IPv6 address of the host's interfaces (`getifaddrs`).
fn local_addresses() -> Vec<IpAddr> {
    let mut head: *mut libc::ifaddrs = ptr::null_mut();
    // SAFETY: `head` is a valid out-pointer; the list is freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` walks the list getifaddrs built; entries stay valid until freed.
        let entry = unsafe { &*cur };
        if !entry.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr sized for its family.
            if let Some(addr) = unsafe { super::addr::from_sockaddr(entry.ifa_addr) } {
                out.push(addr.ip());
            }
        }
        cur = entry.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}
