//! What this host brings to an iWARP connection besides the route: iWARP RNICs (verbs
//! devices whose `node_type` is RNIC, kernel `siw` included) and whether the iWARP port
//! mapper daemon `iwpmd` runs, through which some RNIC drivers reserve their TCP ports. Reads
//! sysfs and procfs under a root given by the caller (tests use a temporary tree); must
//! not open a device.

use std::fs;
use std::path::Path;

/// Names of the iWARP verbs devices under `sys/class/infiniband` of `root`, sorted.
pub(super) fn iwarp_devices(root: &Path) -> Vec<String> {
    let class = root.join("sys/class/infiniband");
    let Ok(entries) = fs::read_dir(&class) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            fs::read_to_string(e.path().join("node_type")).is_ok_and(|t| t.contains("RNIC"))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// True when a process named `iwpmd` runs (its `/proc/PID/comm` under `root`).
pub(super) fn iwpmd_running(root: &Path) -> bool {
    let Ok(entries) = fs::read_dir(root.join("proc")) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        e.file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
            && fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "iwpmd")
    })
}

/// The report's line on iWARP devices and the port mapper.
pub(super) fn summary(root: &Path) -> String {
    let devices = iwarp_devices(root);
    if devices.is_empty() {
        return "no iWARP RNIC on this host (the soft stack serves; no port mapper involved)"
            .into();
    }
    format!(
        "iWARP RNIC(s) {}; port mapper iwpmd {}",
        devices.join(", "),
        if iwpmd_running(root) {
            "running (drivers that use it reserve their TCP ports through it)"
        } else {
            "not running"
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }

    #[test]
    fn finds_rnics_and_the_port_mapper() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        assert!(summary(root).starts_with("no iWARP RNIC"));
        write(root, "sys/class/infiniband/mlx5_0/node_type", "1: CA\n");
        write(root, "sys/class/infiniband/siw0/node_type", "4: RNIC\n");
        write(root, "sys/class/infiniband/iwp1s0/node_type", "4: RNIC\n");
        write(root, "proc/1/comm", "init\n");
        assert_eq!(iwarp_devices(root), ["iwp1s0", "siw0"]);
        assert!(summary(root).contains("iwpmd not running"));
        write(root, "proc/812/comm", "iwpmd\n");
        write(root, "proc/self/comm", "iwpmd\n");
        assert!(iwpmd_running(root));
        assert!(summary(root).contains("iwpmd running"));
    }
}
