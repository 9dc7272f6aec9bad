//! `find` by PID: the counters file a process maps is found in /proc/PID/maps (this test
//! binary maps exactly one, so it runs alone in its own process).

use anyhow::{Result, ensure};
use tickwarp_metrics::{CountersFile, Liveness, MetricsError, ProcessInfo, find, liveness};

#[test]
fn a_process_counters_file_is_found_by_its_pid() -> Result<()> {
    let pid = std::process::id();
    let before = find(None, Some(pid));
    ensure!(
        matches!(before, Err(MetricsError::NotFound(_))),
        "found a counters file before creating one: {before:?}"
    );
    let dir = tempfile::tempdir()?;
    let info = ProcessInfo {
        pid,
        start_unix_nanos: 0,
        name: "find".to_owned(),
    };
    let file = CountersFile::create(dir.path(), &info, 4)?;
    let found = find(None, Some(pid))?;
    ensure!(
        found == file.path().canonicalize()?,
        "found {}",
        found.display()
    );
    ensure!(liveness(pid, &found) == Liveness::Running);
    drop(file);
    // Unmapped now: the file is there, its writer (this process) no longer maps it.
    ensure!(liveness(pid, &dir.path().join("tickwarp.counters")) == Liveness::NotRunning);
    Ok(())
}
