//! The counters file end to end: written through the handles, read back through a
//! read-only mapping, refused when garbled (property tests over hostile bytes), served
//! over HTTP by the exporter.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use proptest::prelude::*;
use tickwarp_metrics::{
    COUNTERS_FILE, CountersFile, CountersReader, Exporter, Liveness, MetricsError, ProcessInfo,
    Value, find, layout, liveness, parse,
};

fn info(pid: u32) -> ProcessInfo {
    ProcessInfo {
        pid,
        start_unix_nanos: 1_700_000_000_000_000_000,
        name: "tickwarp test".to_owned(),
    }
}

fn words_of(path: &Path) -> Result<Vec<u64>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect())
}

#[test]
fn values_written_are_read_back() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut file = CountersFile::create(dir.path(), &info(std::process::id()), 64)?;
    let mut accepted = file.counter("tw_orders_total", &[("result", "accepted")], "Orders.")?;
    let mut rejected = file.counter("tw_orders_total", &[("result", "rejected_x")], "Orders.")?;
    let mut gauge = file.gauge("tw_sessions", &[], "Sessions.")?;
    let mut hist = file.histogram("tw_latency_seconds", &[], "Latency.")?;
    accepted.add(41);
    accepted.inc();
    rejected.inc();
    gauge.set(3);
    hist.record(1_500);
    hist.record(1_500);
    hist.record_n(20_000_000_000, 2);
    hist.record(0);
    assert_eq!(hist.count(), 5);
    assert_eq!(file.registered(), 3 + layout::BUCKETS + 2);

    let path = find(Some(dir.path()), None)?;
    assert_eq!(path, dir.path().join(COUNTERS_FILE));
    let reader = CountersReader::open(&path)?;
    let snap = reader.snapshot()?;
    assert_eq!(snap.header.pid, std::process::id());
    assert_eq!(snap.header.process, "tickwarp test");
    assert!(!snap.header.closed);
    assert_eq!(snap.metrics.len(), 4);
    assert_eq!(snap.metrics[0].value, Value::Counter(42));
    assert_eq!(snap.metrics[0].label_text(), "result=accepted");
    assert_eq!(snap.metrics[1].value, Value::Counter(1));
    assert_eq!(snap.metrics[2].value, Value::Gauge(3));
    let Value::Histogram(h) = &snap.metrics[3].value else {
        anyhow::bail!("not a histogram: {:?}", snap.metrics[3]);
    };
    assert_eq!(h.count, 5);
    assert_eq!(h.bucket_total(), 5);
    assert_eq!(h.sum_nanos, 3_000 + 40_000_000_000);
    assert_eq!(h.buckets[0], (1_000, 1), "0 ns falls in the first bucket");
    assert_eq!(h.buckets[1], (2_000, 2));
    assert_eq!(h.buckets[layout::BUCKETS - 1], (u64::MAX, 2));

    // Live: the reader sees later stores through its mapping.
    accepted.inc();
    assert_eq!(reader.snapshot()?.metrics[0].value, Value::Counter(43));
    // This process maps it: running (finding it by PID is in tests/find_pid.rs, a
    // process of its own: the tests here map several files at once).
    assert_eq!(liveness(std::process::id(), &path), Liveness::Running);

    // Closed on drop; values stay.
    drop((accepted, rejected, gauge, hist, file));
    let snap = reader.snapshot()?;
    assert!(snap.header.closed);
    assert_eq!(snap.metrics[0].value, Value::Counter(43));
    Ok(())
}

#[test]
fn a_dead_writers_file_is_recognised_and_replaced() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // A PID that cannot exist (above the kernel's pid_max limit of 2^22).
    let dead = 4_194_304 + 17;
    let file = CountersFile::create(dir.path(), &info(dead), 8)?;
    let path = file.path().to_path_buf();
    std::mem::forget(file); // as if killed: never closed
    assert_eq!(liveness(dead, &path), Liveness::NotRunning);
    assert!(!CountersReader::open(&path)?.snapshot()?.header.closed);
    // A new process takes the directory over.
    let file = CountersFile::create(dir.path(), &info(std::process::id()), 8)?;
    assert_eq!(
        CountersReader::open(file.path())?.snapshot()?.header.pid,
        std::process::id()
    );
    Ok(())
}

#[test]
fn a_running_writers_file_is_not_taken_over() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let _ours = CountersFile::create(dir.path(), &info(std::process::id()), 8)?;
    // This process writes and maps it; a claimant with another PID is refused.
    let claimant = ProcessInfo {
        pid: std::process::id().wrapping_add(1),
        ..info(0)
    };
    let refused = CountersFile::create(dir.path(), &claimant, 8);
    ensure!(
        matches!(refused, Err(MetricsError::InUse { .. })),
        "a live writer's file was taken over: {refused:?}"
    );
    Ok(())
}

#[test]
fn registration_errors_are_typed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut file = CountersFile::create(dir.path(), &info(std::process::id()), 4)?;
    assert!(matches!(
        file.counter("9bad", &[], ""),
        Err(MetricsError::Name(_))
    ));
    assert!(matches!(
        file.counter("ok", &[("le", "1")], ""),
        Err(MetricsError::Label(_))
    ));
    assert!(matches!(
        file.counter("ok", &[("k", "a,b")], ""),
        Err(MetricsError::Label(_))
    ));
    assert!(matches!(
        file.histogram("h", &[], ""),
        Err(MetricsError::Full { .. })
    ));
    for i in 0..4 {
        file.counter("c", &[("i", &i.to_string())], "")?;
    }
    assert!(matches!(
        file.counter("c", &[], ""),
        Err(MetricsError::Full { capacity: 4 })
    ));
    assert!(matches!(
        CountersFile::create(dir.path(), &info(1), 0),
        Err(MetricsError::Capacity(0))
    ));
    Ok(())
}

#[test]
fn wrong_files_are_refused_at_open() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("x.counters");
    for bytes in [
        Vec::new(),
        vec![0u8; 7],
        vec![0u8; 128],
        b"not a counters file at all, just text........................................................................................".to_vec(),
    ] {
        std::fs::write(&path, &bytes)?;
        let err = CountersReader::open(&path);
        ensure!(
            matches!(err, Err(MetricsError::Corrupt { .. })),
            "{} bytes: {err:?}",
            bytes.len()
        );
    }
    let missing = find(Some(&dir.path().join("nope")), None);
    ensure!(matches!(missing, Err(MetricsError::NotFound(_))));
    Ok(())
}

/// A real file's words, for mutation.
fn sample_words() -> Result<Vec<u64>> {
    let dir = tempfile::tempdir()?;
    let mut file = CountersFile::create(dir.path(), &info(7), 40)?;
    let mut c = file.counter("tw_c_total", &[("result", "accepted")], "C.")?;
    let mut h = file.histogram("tw_h_seconds", &[], "H.")?;
    c.add(5);
    h.record(3_000);
    let words = words_of(file.path())?;
    drop((c, h, file));
    Ok(words)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary words never panic the parser.
    #[test]
    fn arbitrary_words_never_panic(words in proptest::collection::vec(any::<u64>(), 0..2_000)) {
        let _ = parse(&words);
    }

    /// A valid file with arbitrary words changed (header, metadata or values) parses or
    /// is refused with a reason, never panics; a parsed one has only valid names.
    #[test]
    fn mutated_files_never_panic(
        edits in proptest::collection::vec((0usize..3_000, any::<u64>()), 1..8),
        cut in proptest::option::of(0usize..3_000),
    ) {
        let mut words = sample_words().map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (ix, v) in edits {
            let n = words.len();
            if let Some(w) = words.get_mut(ix % n) {
                *w = v;
            }
        }
        if let Some(cut) = cut {
            words.truncate(cut);
        }
        match parse(&words) {
            Ok(snap) => {
                for m in &snap.metrics {
                    prop_assert!(layout::valid_name(&m.name));
                }
                prop_assert!(snap.header.registered <= snap.header.capacity);
            }
            Err(what) => prop_assert!(!what.is_empty()),
        }
    }
}

#[test]
fn unmodified_sample_parses() -> Result<()> {
    let snap = parse(&sample_words()?).map_err(anyhow::Error::msg)?;
    assert_eq!(snap.metrics.len(), 2);
    assert_eq!(snap.metrics[0].value, Value::Counter(5));
    Ok(())
}

/// Sends `request` and returns the whole answer.
fn http(addr: SocketAddr, request: &[u8]) -> Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(request)?;
    let mut out = String::new();
    s.read_to_string(&mut out).context("reading the answer")?;
    Ok(out)
}

#[test]
fn exporter_serves_get_metrics_only() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut file = CountersFile::create(dir.path(), &info(std::process::id()), 64)?;
    let mut c = file.counter(
        "tw_orders_total",
        &[("result", "accepted")],
        "Orders by result.",
    )?;
    let mut h = file.histogram("tw_ack_latency_seconds", &[], "Ack latency.")?;
    c.add(7);
    h.record(1_500_000);
    let exporter = Exporter::start("127.0.0.1:0".parse()?, file.path())?;
    let addr = exporter.local_addr();

    let ok = http(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")?;
    ensure!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    ensure!(
        ok.contains("Content-Type: text/plain; version=0.0.4"),
        "{ok}"
    );
    ensure!(ok.contains("# TYPE tw_orders_total counter"), "{ok}");
    ensure!(
        ok.contains("tw_orders_total{result=\"accepted\"} 7"),
        "{ok}"
    );
    ensure!(
        ok.contains("tw_ack_latency_seconds_bucket{le=\"0.001\"} 0"),
        "{ok}"
    );
    ensure!(
        ok.contains("tw_ack_latency_seconds_bucket{le=\"0.002\"} 1"),
        "{ok}"
    );
    ensure!(
        ok.contains("tw_ack_latency_seconds_bucket{le=\"+Inf\"} 1"),
        "{ok}"
    );
    ensure!(ok.contains("tw_ack_latency_seconds_sum 0.0015"), "{ok}");
    ensure!(ok.contains("tw_ack_latency_seconds_count 1"), "{ok}");

    let head = http(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n")?;
    ensure!(head.starts_with("HTTP/1.1 405"), "{head}");
    ensure!(head.contains("Allow: GET"), "{head}");
    let other = http(addr, b"GET /other HTTP/1.1\r\n\r\n")?;
    ensure!(other.starts_with("HTTP/1.1 404"), "{other}");
    let bad = http(addr, b"nonsense\r\n\r\n")?;
    ensure!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    // An endless head is cut at the bound, not buffered.
    let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    big.resize(tickwarp_metrics::exporter::MAX_REQUEST_BYTES + 100, b'a');
    let too_big = http(addr, &big)?;
    ensure!(too_big.starts_with("HTTP/1.1 431"), "{too_big}");
    // A scraper that says nothing is answered 408 after the deadline and the next one
    // is served.
    let mut silent = TcpStream::connect(addr)?;
    silent.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut answer = String::new();
    silent.read_to_string(&mut answer)?;
    ensure!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    c.inc();
    let again = http(addr, b"GET /metrics HTTP/1.0\r\n\r\n")?;
    ensure!(
        again.contains("tw_orders_total{result=\"accepted\"} 8"),
        "{again}"
    );
    drop(exporter);
    Ok(())
}
