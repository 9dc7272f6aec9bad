//! The two socket facts the probe needs that no safe wrapper offers (socket2 and rustix
//! have neither): a TCP socket's `TCP_INFO` and the interface that holds a local address
//! (`getifaddrs`). Read-only calls on our own socket and the host's address list; this
//! module must not change any socket or interface.

#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpStream};
use std::os::fd::AsRawFd;

/// What `TCP_INFO` says about our side of a connection (Linux `struct tcp_info`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct TcpInfo {
    /// Segments sent and not yet acknowledged (`tcpi_unacked`).
    pub(super) unacked: u32,
    /// Retransmissions of the current unacknowledged data (`tcpi_retransmits`).
    pub(super) retransmits: u8,
    /// Retransmissions over the connection's life (`tcpi_total_retrans`).
    pub(super) total_retrans: u32,
    /// Bytes the peer acknowledged, the SYN counting as one (`tcpi_bytes_acked`).
    pub(super) bytes_acked: u64,
}

/// Reads `TCP_INFO` of `stream`.
pub(super) fn tcp_info(stream: &TcpStream) -> io::Result<TcpInfo> {
    // SAFETY: tcp_info is plain old data (integers only); all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the fd is open for the borrow of `stream`; `info` and `len` are valid for
    // writes of `len` bytes, and the kernel writes at most `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpInfo {
        unacked: info.tcpi_unacked,
        retransmits: info.tcpi_retransmits,
        total_retrans: info.tcpi_total_retrans,
        bytes_acked: info.tcpi_bytes_acked,
    })
}

/// The name of the interface that holds local address `ip`, if any does.
pub(super) fn interface_of(ip: IpAddr) -> io::Result<Option<String>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `head` is valid for one pointer write; on success it owns a list freed below.
    if unsafe { libc::getifaddrs(&raw mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut found = None;
    let mut cur = head;
    while !cur.is_null() && found.is_none() {
        // SAFETY: `cur` walks the list getifaddrs built; entries stay valid until freed.
        let entry = unsafe { &*cur };
        // SAFETY: a non-null ifa_addr points at a sockaddr of the family it names, and
        // ifa_name at a NUL-terminated name, both owned by the list.
        if !entry.ifa_addr.is_null() && unsafe { address(entry.ifa_addr) } == Some(ip) {
            // SAFETY: see above: ifa_name is a NUL-terminated string of the list.
            let name = unsafe { CStr::from_ptr(entry.ifa_name) };
            found = Some(name.to_string_lossy().into_owned());
        }
        cur = entry.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once; nothing borrows it now.
    unsafe { libc::freeifaddrs(head) };
    Ok(found)
}

/// The IP address in a socket address of family `AF_INET` or `AF_INET6`.
///
/// # Safety
/// `sa` must point at a valid socket address of at least the size its family implies.
unsafe fn address(sa: *const libc::sockaddr) -> Option<IpAddr> {
    // SAFETY: the caller guarantees `sa` points at a valid sockaddr.
    match i32::from(unsafe { (*sa).sa_family }) {
        libc::AF_INET => {
            // SAFETY: family AF_INET means the storage is a sockaddr_in.
            let v4 = unsafe { &*sa.cast::<libc::sockaddr_in>() };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))))
        }
        libc::AF_INET6 => {
            // SAFETY: family AF_INET6 means the storage is a sockaddr_in6.
            let v6 = unsafe { &*sa.cast::<libc::sockaddr_in6>() };
            Some(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn loopback_belongs_to_lo() {
        let name = interface_of(IpAddr::V4(Ipv4Addr::LOCALHOST)).expect("getifaddrs");
        assert_eq!(name.as_deref(), Some("lo"));
    }

    #[test]
    fn tcp_info_of_a_fresh_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let info = tcp_info(&client).expect("TCP_INFO");
        // Only the SYN was sent, and the SYN-ACK acknowledged it.
        assert_eq!(info.bytes_acked, 1, "{info:?}");
        assert_eq!(info.unacked, 0, "{info:?}");
        assert_eq!(info.retransmits, 0, "{info:?}");
    }
}
