//! `tickwarp devices`: lists the verbs devices this build can use (name, transport,
//! port state, GIDs, the addresses rdma_cm binds to them) and the soft-iWARP stack,
//! which is always there.
//!
//! Without the `hw` feature only the soft stack is listed, with a note saying why. This
//! module only reports what [`tickwarp_rdma::verbs::list_devices`] finds; it must not
//! open, configure or otherwise touch a device.

use std::fmt::Write as _;

use anyhow::Result;
use clap::Args;
use tickwarp_rdma::verbs::{Backend, DeviceInfo, list_devices};

/// Options of `tickwarp devices` (none yet: it always lists everything).
#[derive(Debug, Args)]
pub(crate) struct DevicesArgs {}

/// Prints the device list.
pub(crate) fn run(_args: &DevicesArgs) -> Result<()> {
    let devices = list_devices();
    let note = if devices.iter().any(|d| d.backend == Backend::Hardware) {
        None
    } else {
        Some(match tickwarp_rdma::hw::list_devices() {
            Err(e) => format!("no verbs devices: {e}"),
            Ok(_) => String::from("no verbs devices found (is an RDMA driver loaded?)"),
        })
    };
    print!("{}", render(&devices, note.as_deref()));
    Ok(())
}

/// The listing, one block per device, then the note if any.
fn render(devices: &[DeviceInfo], note: Option<&str>) -> String {
    let mut out = String::new();
    for dev in devices {
        let backend = match dev.backend {
            Backend::Soft => "soft",
            Backend::Hardware => "hardware",
            Backend::Auto => "auto",
        };
        let _ = writeln!(out, "{}  (backend {backend})", dev.name);
        let _ = writeln!(out, "  transport: {}", dev.transport);
        for port in &dev.ports {
            let _ = writeln!(out, "  port {}: {}", port.port, port.state);
            for gid in &port.gids {
                let _ = writeln!(out, "    gid {gid}");
            }
        }
        if dev.addresses.is_empty() {
            let any = if dev.backend == Backend::Soft {
                "any local address (kernel TCP)"
            } else {
                "none"
            };
            let _ = writeln!(out, "  addresses: {any}");
        } else {
            let list: Vec<String> = dev.addresses.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "  addresses: {}", list.join(", "));
        }
    }
    if let Some(note) = note {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use tickwarp_rdma::verbs::PortInfo;

    use super::*;

    #[test]
    fn renders_hardware_and_soft_devices() {
        let siw = DeviceInfo {
            name: String::from("siw0"),
            backend: Backend::Hardware,
            transport: String::from("iWARP"),
            ports: vec![PortInfo {
                port: 1,
                state: String::from("PORT_ACTIVE"),
                gids: vec![Ipv6Addr::new(0xfe80, 0, 0, 0, 0x5054, 0xff, 0xfe12, 0x3456)],
            }],
            addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 2, 15))],
        };
        let soft = DeviceInfo {
            name: String::from("soft-iwarp"),
            backend: Backend::Soft,
            transport: String::from("iWARP (userspace)"),
            ports: Vec::new(),
            addresses: Vec::new(),
        };
        let text = render(&[siw, soft], None);
        assert_eq!(
            text,
            "siw0  (backend hardware)\n  transport: iWARP\n  port 1: PORT_ACTIVE\n    \
             gid fe80::5054:ff:fe12:3456\n  addresses: 10.0.2.15\nsoft-iwarp  (backend soft)\n  \
             transport: iWARP (userspace)\n  addresses: any local address (kernel TCP)\n"
        );
    }

    #[test]
    fn this_build_lists_the_soft_stack_last() {
        let devices = list_devices();
        let last = devices.last().map(|d| (d.name.as_str(), d.backend));
        assert_eq!(last, Some(("soft-iwarp", Backend::Soft)));
        let text = render(&devices, Some("why"));
        assert!(text.ends_with("note: why\n"), "{text}");
    }
}
