//! `tickwarp doctor`: checks a host for low-latency RDMA work and says what to fix:
//! verbs devices and their port state, the memlock limit, isolated and nohz_full cores,
//! the CPU frequency governor, the clock source, the IRQ affinity of the NICs and
//! transparent huge pages. Each check passes, warns or fails with the reason and, when
//! it does not pass, the fix.
//!
//! Everything is read from `/sys` and `/proc` through a [`Host`] rooted at `/` (tests
//! root it in a temporary directory), so the checks are plain functions of file
//! contents. This module reads files only: it changes nothing on the host.

use std::fmt;
use std::path::PathBuf;

use clap::Args;

/// `tickwarp doctor` options.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// Root of the file system to inspect (for containers that mount the host's).
    #[arg(long, default_value = "/")]
    pub(crate) root: PathBuf,
}

/// A check's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verdict {
    /// Ready.
    Pass,
    /// Works, but latency will suffer (or the check could not tell).
    Warn,
    /// Will not work as configured.
    Fail,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        })
    }
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Check {
    /// What was checked.
    pub(crate) name: &'static str,
    /// The verdict.
    pub(crate) verdict: Verdict,
    /// What was found.
    pub(crate) reason: String,
    /// What to do about it (empty when it passes).
    pub(crate) fix: String,
}

fn check(
    name: &'static str,
    verdict: Verdict,
    reason: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    Check {
        name,
        verdict,
        reason: reason.into(),
        fix: fix.into(),
    }
}

/// The file system the checks read, rooted somewhere.
#[derive(Clone, Debug)]
pub(crate) struct Host {
    root: PathBuf,
}

impl Host {
    /// The host whose `/` is at `root`.
    pub(crate) fn new(root: impl Into<PathBuf>) -> Host {
        Host { root: root.into() }
    }

    fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    /// A file's trimmed contents, `None` if it cannot be read.
    fn read(&self, abs: &str) -> Option<String> {
        std::fs::read_to_string(self.path(abs))
            .ok()
            .map(|s| s.trim().to_owned())
    }

    /// The sorted entry names of a directory (empty if it cannot be read).
    fn list(&self, abs: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(abs))
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// Parses a CPU list (`0-3,8,10-11`) into core numbers; `None` if malformed.
pub(crate) fn parse_cpu_list(text: &str) -> Option<Vec<usize>> {
    let mut cores = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if b < a || b - a > 4_096 {
                    return None;
                }
                cores.extend(a..=b);
            }
            None => cores.push(part.trim().parse().ok()?),
        }
    }
    Some(cores)
}

/// Verbs devices (`/sys/class/infiniband`) and their port states.
pub(crate) fn check_devices(host: &Host) -> Check {
    let devices = host.list("/sys/class/infiniband");
    if devices.is_empty() {
        return check(
            "verbs devices",
            Verdict::Warn,
            "no verbs device: `backend = \"auto\"` uses tickwarp's userspace soft iWARP",
            "for an RNIC, load its driver; for kernel soft iWARP: `modprobe siw && rdma link add siw0 type siw netdev <nic>` (see deploy/host/rdma-links.sh)",
        );
    }
    let mut active = Vec::new();
    let mut down = Vec::new();
    for dev in &devices {
        for port in host.list(&format!("/sys/class/infiniband/{dev}/ports")) {
            let state = host
                .read(&format!("/sys/class/infiniband/{dev}/ports/{port}/state"))
                .unwrap_or_default();
            let label = format!("{dev}/{port} ({state})");
            if state.contains("ACTIVE") {
                active.push(label);
            } else {
                down.push(label);
            }
        }
    }
    match (active.is_empty(), down.is_empty()) {
        (false, true) => check("verbs devices", Verdict::Pass, active.join(", "), ""),
        (false, false) => check(
            "verbs devices",
            Verdict::Warn,
            format!(
                "active: {}; not active: {}",
                active.join(", "),
                down.join(", ")
            ),
            "bring the link up (`ip link set <nic> up`) or remove the unused device",
        ),
        (true, _) => check(
            "verbs devices",
            Verdict::Fail,
            format!("no active port: {}", down.join(", ")),
            "check cabling and `ip link`; `rdma link show` names the netdev of each port",
        ),
    }
}

/// Bytes that make the memlock limit comfortable (rings, channels, journals' buffers).
const MEMLOCK_GOOD: u64 = 256 << 20;

/// The memlock limit (`ulimit -l`) of this process, from `/proc/self/limits`.
pub(crate) fn check_memlock(host: &Host) -> Check {
    let fix = "raise it: `LimitMEMLOCK=infinity` in the systemd unit, or `* - memlock unlimited` in /etc/security/limits.d/";
    let limits = host.read("/proc/self/limits").unwrap_or_default();
    let Some(line) = limits.lines().find(|l| l.starts_with("Max locked memory")) else {
        return check(
            "memlock limit",
            Verdict::Warn,
            "cannot read /proc/self/limits",
            fix,
        );
    };
    let soft = line
        .trim_start_matches("Max locked memory")
        .split_whitespace()
        .next()
        .unwrap_or("");
    if soft == "unlimited" {
        return check("memlock limit", Verdict::Pass, "unlimited", "");
    }
    match soft.parse::<u64>() {
        Ok(bytes) if bytes >= MEMLOCK_GOOD => check(
            "memlock limit",
            Verdict::Pass,
            format!("{} MiB", bytes >> 20),
            "",
        ),
        Ok(bytes) => {
            let hw = !host.list("/sys/class/infiniband").is_empty();
            check(
                "memlock limit",
                if hw { Verdict::Fail } else { Verdict::Warn },
                format!(
                    "{} KiB: hardware memory registration pins pages and needs more{}",
                    bytes >> 10,
                    if hw { "" } else { " (the soft stack does not)" }
                ),
                fix,
            )
        }
        Err(_) => check(
            "memlock limit",
            Verdict::Warn,
            format!("unreadable value {soft:?}"),
            fix,
        ),
    }
}

/// Isolated (`isolcpus`) and tickless (`nohz_full`) cores.
pub(crate) fn check_isolation(host: &Host) -> Check {
    let read = |p: &str| {
        host.read(p)
            .and_then(|t| parse_cpu_list(&t))
            .unwrap_or_default()
    };
    let isolated = read("/sys/devices/system/cpu/isolated");
    let nohz = read("/sys/devices/system/cpu/nohz_full");
    let fix = "boot with `isolcpus=managed_irq,domain,2-5 nohz_full=2-5 rcu_nocbs=2-5` (the cores the agents pin to; see deploy/host/cpu-isolation.md)";
    match (isolated.is_empty(), nohz.is_empty()) {
        (false, false) => {
            let missing: Vec<usize> = isolated
                .iter()
                .filter(|c| !nohz.contains(c))
                .copied()
                .collect();
            if missing.is_empty() {
                check(
                    "isolated cores",
                    Verdict::Pass,
                    format!("isolated and nohz_full: {isolated:?}"),
                    "",
                )
            } else {
                check(
                    "isolated cores",
                    Verdict::Warn,
                    format!("isolated {isolated:?} but not tickless: {missing:?}"),
                    fix,
                )
            }
        }
        (false, true) => check(
            "isolated cores",
            Verdict::Warn,
            format!(
                "isolated {isolated:?}, none nohz_full: the scheduler tick still interrupts them"
            ),
            fix,
        ),
        (true, _) => check(
            "isolated cores",
            Verdict::Warn,
            "no isolated cores: pinned busy-polling threads share cores with everything else",
            fix,
        ),
    }
}

/// The CPU frequency governor of every core.
pub(crate) fn check_governor(host: &Host) -> Check {
    let cpus: Vec<String> = host
        .list("/sys/devices/system/cpu")
        .into_iter()
        .filter(|n| {
            n.strip_prefix("cpu")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    let mut slow = Vec::new();
    let mut seen = 0;
    for cpu in &cpus {
        if let Some(g) = host.read(&format!(
            "/sys/devices/system/cpu/{cpu}/cpufreq/scaling_governor"
        )) {
            seen += 1;
            if g != "performance" {
                slow.push(format!("{cpu}={g}"));
            }
        }
    }
    let fix = "`cpupower frequency-set -g performance` (or tuned's latency-performance profile)";
    if seen == 0 {
        return check(
            "cpu governor",
            Verdict::Warn,
            "no cpufreq interface (a VM, or frequency fixed by firmware): check the BIOS power profile",
            "set the firmware to maximum performance, C-states off",
        );
    }
    if slow.is_empty() {
        check(
            "cpu governor",
            Verdict::Pass,
            format!("performance on all {seen} cores"),
            "",
        )
    } else {
        check(
            "cpu governor",
            Verdict::Warn,
            format!("not performance: {}", slow.join(", ")),
            fix,
        )
    }
}

/// The clock source behind `CLOCK_MONOTONIC`.
pub(crate) fn check_clocksource(host: &Host) -> Check {
    let Some(source) =
        host.read("/sys/devices/system/clocksource/clocksource0/current_clocksource")
    else {
        return check(
            "clock source",
            Verdict::Warn,
            "cannot read the clock source",
            "",
        );
    };
    let fix = "boot with `tsc=reliable clocksource=tsc` on hardware with an invariant TSC";
    match source.as_str() {
        "tsc" => check(
            "clock source",
            Verdict::Pass,
            "tsc (vDSO, ~20 ns per read)",
            "",
        ),
        "kvm-clock" | "hyperv_clocksource_tsc_page" | "arch_sys_counter" => check(
            "clock source",
            Verdict::Pass,
            format!("{source} (vDSO-capable)"),
            "",
        ),
        other => check(
            "clock source",
            Verdict::Fail,
            format!("{other}: no vDSO, every clock read is a system call (µs, not ns)"),
            fix,
        ),
    }
}

/// Where the interrupts of the NICs go, against the isolated cores.
pub(crate) fn check_irq_affinity(host: &Host) -> Check {
    let isolated = host
        .read("/sys/devices/system/cpu/isolated")
        .and_then(|t| parse_cpu_list(&t))
        .unwrap_or_default();
    let mut on_isolated = Vec::new();
    let mut irqs = 0;
    for nic in host.list("/sys/class/net") {
        for irq in host.list(&format!("/sys/class/net/{nic}/device/msi_irqs")) {
            irqs += 1;
            let cores = host
                .read(&format!("/proc/irq/{irq}/smp_affinity_list"))
                .and_then(|t| parse_cpu_list(&t))
                .unwrap_or_default();
            if cores.iter().any(|c| isolated.contains(c)) {
                on_isolated.push(format!("{nic} irq {irq} -> {cores:?}"));
            }
        }
    }
    let fix = "steer NIC interrupts to housekeeping cores (deploy/host/irq-affinity.sh), and stop irqbalance or ban the isolated cores in it";
    if irqs == 0 {
        return check(
            "nic irq affinity",
            Verdict::Warn,
            "no MSI interrupts found for any NIC (virtio or legacy interrupts?)",
            "",
        );
    }
    if isolated.is_empty() {
        return check(
            "nic irq affinity",
            Verdict::Warn,
            format!("{irqs} NIC interrupts, but no isolated cores to keep them away from"),
            fix,
        );
    }
    if on_isolated.is_empty() {
        check(
            "nic irq affinity",
            Verdict::Pass,
            format!("{irqs} NIC interrupts, none on isolated cores"),
            "",
        )
    } else {
        check(
            "nic irq affinity",
            Verdict::Warn,
            on_isolated.join("; "),
            fix,
        )
    }
}

/// Transparent huge pages (`always` lets khugepaged stall the hot path).
pub(crate) fn check_thp(host: &Host) -> Check {
    let Some(text) = host.read("/sys/kernel/mm/transparent_hugepage/enabled") else {
        return check("transparent huge pages", Verdict::Pass, "not available", "");
    };
    let mode = text
        .split_whitespace()
        .find(|w| w.starts_with('['))
        .map(|w| w.trim_matches(['[', ']']).to_owned())
        .unwrap_or_default();
    match mode.as_str() {
        "always" => check(
            "transparent huge pages",
            Verdict::Warn,
            "always: compaction and khugepaged can stall busy-polling threads",
            "`echo madvise > /sys/kernel/mm/transparent_hugepage/enabled` (or boot with transparent_hugepage=madvise)",
        ),
        "madvise" | "never" => check("transparent huge pages", Verdict::Pass, mode, ""),
        other => check(
            "transparent huge pages",
            Verdict::Warn,
            format!("unknown mode {other:?}"),
            "",
        ),
    }
}

/// Every check, in report order.
pub(crate) fn run_checks(host: &Host) -> Vec<Check> {
    vec![
        check_devices(host),
        check_memlock(host),
        check_isolation(host),
        check_governor(host),
        check_clocksource(host),
        check_irq_affinity(host),
        check_thp(host),
    ]
}

/// Runs the checks and prints them; `Ok(false)` if any failed.
pub(crate) fn run(args: &DoctorArgs) -> anyhow::Result<bool> {
    let checks = run_checks(&Host::new(&args.root));
    for c in &checks {
        println!("{:<4} {:<24} {}", c.verdict, c.name, c.reason);
        if c.verdict != Verdict::Pass && !c.fix.is_empty() {
            println!("     {:<24} fix: {}", "", c.fix);
        }
    }
    let worst = checks
        .iter()
        .map(|c| c.verdict)
        .max()
        .unwrap_or(Verdict::Pass);
    println!(
        "\n{} pass, {} warn, {} fail",
        checks.iter().filter(|c| c.verdict == Verdict::Pass).count(),
        checks.iter().filter(|c| c.verdict == Verdict::Warn).count(),
        checks.iter().filter(|c| c.verdict == Verdict::Fail).count(),
    );
    Ok(worst != Verdict::Fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Writes `text` at `abs` under `root`, creating directories.
    fn write(root: &Path, abs: &str, text: &str) -> std::io::Result<()> {
        let path = root.join(abs.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)
    }

    type R = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn an_empty_host_warns_but_does_not_fail() -> R {
        let dir = tempfile::tempdir()?;
        let checks = run_checks(&Host::new(dir.path()));
        assert_eq!(checks.len(), 7);
        assert!(
            checks.iter().all(|c| c.verdict != Verdict::Fail),
            "{checks:#?}"
        );
        assert!(
            checks
                .iter()
                .filter(|c| c.verdict == Verdict::Warn)
                .all(|c| !c.reason.is_empty())
        );
        Ok(())
    }

    #[test]
    fn a_tuned_host_passes() -> R {
        let dir = tempfile::tempdir()?;
        let r = dir.path();
        write(r, "/sys/class/infiniband/siw0/ports/1/state", "4: ACTIVE\n")?;
        write(
            r,
            "/proc/self/limits",
            "Limit Soft Hard Units\nMax locked memory         unlimited            unlimited            bytes\n",
        )?;
        write(r, "/sys/devices/system/cpu/isolated", "2-3\n")?;
        write(r, "/sys/devices/system/cpu/nohz_full", "2-3\n")?;
        write(
            r,
            "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
            "performance\n",
        )?;
        write(
            r,
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            "tsc\n",
        )?;
        write(r, "/sys/class/net/eth0/device/msi_irqs/40", "msix\n")?;
        write(r, "/proc/irq/40/smp_affinity_list", "0-1\n")?;
        write(
            r,
            "/sys/kernel/mm/transparent_hugepage/enabled",
            "always [madvise] never\n",
        )?;
        let checks = run_checks(&Host::new(r));
        assert!(
            checks.iter().all(|c| c.verdict == Verdict::Pass),
            "{checks:#?}"
        );
        Ok(())
    }

    #[test]
    fn problems_are_named_with_a_fix() -> R {
        let dir = tempfile::tempdir()?;
        let r = dir.path();
        write(r, "/sys/class/infiniband/mlx5_0/ports/1/state", "1: DOWN\n")?;
        write(
            r,
            "/proc/self/limits",
            "Max locked memory         65536                65536                bytes\n",
        )?;
        write(r, "/sys/devices/system/cpu/isolated", "2-3\n")?;
        write(
            r,
            "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
            "powersave\n",
        )?;
        write(
            r,
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            "hpet\n",
        )?;
        write(r, "/sys/class/net/eth0/device/msi_irqs/41", "msix\n")?;
        write(r, "/proc/irq/41/smp_affinity_list", "2\n")?;
        write(
            r,
            "/sys/kernel/mm/transparent_hugepage/enabled",
            "[always] madvise never\n",
        )?;
        let host = Host::new(r);
        assert_eq!(check_devices(&host).verdict, Verdict::Fail);
        assert_eq!(check_memlock(&host).verdict, Verdict::Fail);
        assert_eq!(check_isolation(&host).verdict, Verdict::Warn);
        assert!(check_governor(&host).reason.contains("cpu0=powersave"));
        assert_eq!(check_clocksource(&host).verdict, Verdict::Fail);
        assert!(check_irq_affinity(&host).reason.contains("eth0 irq 41"));
        assert_eq!(check_thp(&host).verdict, Verdict::Warn);
        for c in run_checks(&host) {
            if c.verdict != Verdict::Pass {
                assert!(!c.reason.is_empty(), "{c:?}");
            }
        }
        Ok(())
    }
}
