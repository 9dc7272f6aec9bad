//! [`Exporter`]: a thread that serves `GET /metrics` in the Prometheus text format
//! (0.0.4) from a counters file's read side, so scraping never touches the thread that
//! records. [`encode`] turns a [`Snapshot`] into that text (the `prometheus` crate's
//! `TextEncoder`; histograms in seconds, cumulative buckets).
//!
//! The HTTP side is a std `TcpListener` served one connection at a time on this one
//! thread, on purpose: `tiny_http` and its kin start a thread per waiting connection
//! with no cap, so a slow or hostile scraper opening connections grows threads and
//! memory without bound. Here a request is at most [`MAX_REQUEST_BYTES`] of head (no
//! body is read), must arrive within [`REQUEST_DEADLINE`], and the answer must be taken
//! within [`WRITE_TIMEOUT`]; then the connection is closed. A hostile scraper can delay
//! other scrapers by at most those bounds and never the recording thread. Only
//! `GET /metrics` (any query string) is served; another method on it gets 405, another
//! path 404, a malformed or oversized head 400/431/408.
//!
//! What this module must not do: write to the counters file, or block anything but its
//! own thread.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use prometheus::proto::{
    Bucket, Counter as PCounter, Gauge as PGauge, Histogram as PHistogram, LabelPair, Metric,
    MetricFamily, MetricType,
};
use prometheus::{Encoder, TextEncoder};
use tickwarp_runtime::clock;

use crate::MetricsError;
use crate::reader::{CountersReader, Snapshot, Value};

/// Largest request head read.
pub const MAX_REQUEST_BYTES: usize = 8 << 10;
/// Time a client has to send its request head.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// Time a client has to take each write of the answer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Most bytes discarded after an answer.
const MAX_DRAIN_BYTES: usize = 64 << 10;
/// Longest single blocking read (the deadline is checked between reads).
const READ_SLICE: Duration = Duration::from_millis(250);

/// The Prometheus exposition thread (see the module docs). Dropping it stops the thread.
#[derive(Debug)]
pub struct Exporter {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Exporter {
    /// Binds `listen` and serves the counters file at `path` from a thread named
    /// `metrics-http`.
    pub fn start(listen: SocketAddr, path: &Path) -> Result<Exporter, MetricsError> {
        let reader = CountersReader::open(path)?;
        let listener = TcpListener::bind(listen).map_err(|source| MetricsError::Listen {
            addr: listen,
            source,
        })?;
        let addr = listener
            .local_addr()
            .map_err(|source| MetricsError::Listen {
                addr: listen,
                source,
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("metrics-http".to_owned())
            .spawn(move || serve(&listener, &reader, &stopping))
            .map_err(|source| MetricsError::Listen {
                addr: listen,
                source,
            })?;
        Ok(Exporter {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the blocking accept; failing to connect means it is gone already.
        drop(TcpStream::connect_timeout(&self.addr, WRITE_TIMEOUT));
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("metrics exporter thread panicked");
            }
        }
    }
}

fn serve(listener: &TcpListener, reader: &CountersReader, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            return;
        }
        match conn {
            Ok(stream) => {
                if let Err(e) = answer(stream, reader) {
                    tracing::debug!(error = %e, "metrics scrape failed");
                }
            }
            Err(e) => {
                // Out of descriptors or similar: do not spin on it.
                tracing::warn!(error = %e, "metrics exporter accept failed");
                thread::sleep(READ_SLICE);
            }
        }
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics,
    WrongMethod,
    NotFound,
    Malformed,
}

/// Routes a complete request head.
fn route(head: &[u8]) -> Route {
    let line = head
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::Malformed;
    };
    if !version.starts_with(b"HTTP/1.") || method.is_empty() {
        return Route::Malformed;
    }
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    match (method, path) {
        (b"GET", b"/metrics") => Route::Metrics,
        (_, b"/metrics") => Route::WrongMethod,
        _ => Route::NotFound,
    }
}

/// Reads one request head within the bounds and answers it.
fn answer(mut stream: TcpStream, reader: &CountersReader) -> io::Result<()> {
    stream.set_read_timeout(Some(READ_SLICE))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let deadline = clock::monotonic_now().saturating_add(REQUEST_DEADLINE);
    let mut head = [0u8; MAX_REQUEST_BYTES];
    let mut len = 0;
    let complete = loop {
        if head
            .get(..len)
            .is_some_and(|h| h.windows(4).any(|w| w == b"\r\n\r\n"))
        {
            break true;
        }
        if len == head.len() {
            return respond(&mut stream, "431 Request Header Fields Too Large", "", b"");
        }
        if clock::monotonic_now() >= deadline {
            break false;
        }
        match stream.read(head.get_mut(len..).unwrap_or_default()) {
            Ok(0) => return Ok(()),
            Ok(n) => len += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    if !complete {
        return respond(&mut stream, "408 Request Timeout", "", b"");
    }
    match route(head.get(..len).unwrap_or_default()) {
        Route::Metrics => match reader.snapshot().and_then(|s| encode(&s)) {
            Ok(body) => respond(
                &mut stream,
                "200 OK",
                prometheus::TEXT_FORMAT,
                body.as_bytes(),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "metrics snapshot failed");
                respond(&mut stream, "500 Internal Server Error", "", b"")
            }
        },
        Route::WrongMethod => respond(&mut stream, "405 Method Not Allowed", "", b""),
        Route::NotFound => respond(&mut stream, "404 Not Found", "", b""),
        Route::Malformed => respond(&mut stream, "400 Bad Request", "", b""),
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if !content_type.is_empty() {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    if status.starts_with("405") {
        head.push_str("Allow: GET\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    // Closing with unread bytes would reset the connection and could discard the
    // answer: end our side, then discard what the client still sends, within bounds.
    stream.shutdown(Shutdown::Write)?;
    let deadline = clock::monotonic_now().saturating_add(REQUEST_DEADLINE);
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < MAX_DRAIN_BYTES && clock::monotonic_now() < deadline {
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    Ok(())
}

/// Nanoseconds as seconds.
fn seconds(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

/// The Prometheus text (0.0.4) of a snapshot: one family per metric name, in first
/// registration order; histograms in seconds.
pub fn encode(snapshot: &Snapshot) -> Result<String, MetricsError> {
    let mut families: Vec<MetricFamily> = Vec::new();
    for m in &snapshot.metrics {
        let kind = match m.value {
            Value::Counter(_) => MetricType::COUNTER,
            Value::Gauge(_) => MetricType::GAUGE,
            Value::Histogram(_) => MetricType::HISTOGRAM,
        };
        let ix = match families.iter().position(|f| f.name() == m.name) {
            Some(ix) => ix,
            None => {
                let mut f = MetricFamily::default();
                f.set_name(m.name.clone());
                f.set_help(m.help.clone());
                f.set_field_type(kind);
                families.push(f);
                families.len() - 1
            }
        };
        let Some(family) = families.get_mut(ix) else {
            continue;
        };
        if family.get_field_type() != kind {
            return Err(MetricsError::Encode(format!(
                "{} is registered with two types",
                m.name
            )));
        }
        let mut metric = Metric::default();
        metric.set_label(
            m.labels
                .iter()
                .map(|(k, v)| {
                    let mut pair = LabelPair::default();
                    pair.set_name(k.clone());
                    pair.set_value(v.clone());
                    pair
                })
                .collect(),
        );
        match &m.value {
            Value::Counter(v) => {
                let mut c = PCounter::default();
                c.set_value(*v as f64);
                metric.set_counter(c);
            }
            Value::Gauge(v) => {
                let mut g = PGauge::default();
                g.set_value(*v as f64);
                metric.set_gauge(g);
            }
            Value::Histogram(h) => {
                let mut ph = PHistogram::default();
                let mut cumulative = 0u64;
                let mut buckets = Vec::with_capacity(h.buckets.len());
                for &(le, n) in &h.buckets {
                    cumulative = cumulative.saturating_add(n);
                    // The encoder writes +Inf itself, with the sample count.
                    if le != u64::MAX {
                        let mut b = Bucket::default();
                        b.set_upper_bound(seconds(le));
                        b.set_cumulative_count(cumulative);
                        buckets.push(b);
                    }
                }
                ph.set_bucket(buckets);
                // The count the buckets add up to, so +Inf equals _count even while
                // the writer records.
                ph.set_sample_count(cumulative);
                ph.set_sample_sum(seconds(h.sum_nanos));
                metric.set_histogram(ph);
            }
        }
        family.mut_metric().push(metric);
    }
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&families, &mut out)
        .map_err(|e| MetricsError::Encode(e.to_string()))?;
    String::from_utf8(out).map_err(|e| MetricsError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route(b"GET /metrics HTTP/1.1\r\n\r\n"), Route::Metrics);
        assert_eq!(route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"), Route::Metrics);
        assert_eq!(route(b"HEAD /metrics HTTP/1.1\r\n\r\n"), Route::WrongMethod);
        assert_eq!(route(b"POST /metrics HTTP/1.1\r\n\r\n"), Route::WrongMethod);
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"GET /metricsx HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"GET /metrics\r\n\r\n"), Route::Malformed);
        assert_eq!(route(b"GET /metrics SPDY/3\r\n\r\n"), Route::Malformed);
        assert_eq!(route(b"\r\n\r\n"), Route::Malformed);
    }
}
