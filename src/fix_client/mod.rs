//! `tickwarp fix-client --config FILE [--raw] [--expect-fill|--expect-ack|--expect-reject]
//! [COMMAND ...]`: a terminal FIX 4.4 initiator for humans and scripts, QuickFIX's
//! `tradeclient` for tickwarp. It runs the gateway's own sans-IO session core
//! ([`Connection`] in the initiator role) with a small application layer (`app`), over
//! plain TCP or TLS (rustls), on one thread: the socket is read with a short timeout
//! (never a busy loop), the session's timers are run from `tickwarp_runtime::clock`, and a
//! second thread only reads stdin lines into a channel.
//!
//! Commands come from the arguments (joined, `;` separates several) or from stdin, one a
//! line; each message received becomes one readable line on stdout (`--raw` adds the FIX
//! text with `|` for SOH, the password masked). At the end of the input it waits (up to
//! `--timeout`) for the answers still due, logs out, waits for the Logout answer (bounded
//! by the session's logout timeout) and exits: 0, or 1 when the session failed or the last
//! order command's outcome is not the one `--expect-*` asked for.
//!
//! Sequence numbers live in a session journal under the configured `store` directory
//! (the gateway's `JournalStore`), so a second run continues where the first stopped, as
//! a real initiator must; `reset_on_logon = true` sends ResetSeqNumFlag=Y instead. The
//! same directory keeps a run counter from which ClOrdIDs get their prefix (`a1`, `a2`, …
//! in the first run, `b1`, … in the second), unique across runs of one store.
//!
//! What it must not do: print the password, hold an unbounded buffer of what the gateway
//! sends, or wait without a bound.

mod app;
mod command;
mod config;

use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig as TlsClientConfig, ClientConnection, RootCertStore, StreamOwned};
use tickwarp_gateway::fix::codec::{Framing, Message, scan_frame};
use tickwarp_gateway::fix::{
    Application, Connection, ConnectionConfig, ConnectionEvent, DisconnectReason, JournalStore,
    Now, Role, SessionState, ValidationOptions,
};
use tickwarp_gateway::service::acceptor::crypto_provider;
use tickwarp_runtime::clock;
use tickwarp_wire::journal::{FsyncPolicy, JournalConfig};

use app::{ClientApp, Expect, Output, Verdict, describe_admin};
use command::{Command, USAGE};
use config::ClientConfig;

/// Largest BodyLength accepted from the gateway.
const MAX_BODY: usize = 64 << 10;
/// Longest the socket is read before timers and stdin are looked at again.
const POLL: Duration = Duration::from_millis(50);
/// How long to wait for TCP connect and for a blocked write.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the gateway has to answer our Logon.
const LOGON_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the gateway has to answer our Logout.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// Options of `tickwarp fix-client`.
#[derive(Debug, Args)]
pub(crate) struct FixClientArgs {
    /// The client configuration (TOML; see deploy/fix-client.example.toml).
    #[arg(long, short)]
    config: PathBuf,
    /// Also print every FIX message sent and received, `|` for SOH (password masked).
    #[arg(long)]
    raw: bool,
    /// Exit 1 unless the last order command got at least one fill.
    #[arg(long, group = "expect")]
    expect_fill: bool,
    /// Exit 1 unless the last order command was accepted (new, canceled or replaced).
    #[arg(long, group = "expect")]
    expect_ack: bool,
    /// Exit 1 unless the last order command was rejected.
    #[arg(long, group = "expect")]
    expect_reject: bool,
    /// Seconds to wait at the end of the input for the answers still due.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    timeout: f64,
    /// A command (`buy 100 ACME @ 100.05`, `cancel a1; status all`, …); without one,
    /// commands are read from stdin, one a line. `help` lists them.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

fn now() -> Now {
    Now {
        mono: clock::monotonic_now(),
        wall: clock::unix_now(),
    }
}

/// The connection to the gateway, plain or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// The rustls client configuration: the CA to trust and an optional client certificate.
fn tls_config(tls: &config::TlsSettings) -> Result<Arc<TlsClientConfig>> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&tls.ca)
        .with_context(|| format!("tls.ca = {}", tls.ca.display()))?;
    for cert in certs {
        let cert = cert.with_context(|| format!("tls.ca = {}", tls.ca.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("tls.ca = {}", tls.ca.display()))?;
    }
    if roots.is_empty() {
        bail!("tls.ca = {}: no certificate", tls.ca.display());
    }
    let builder = TlsClientConfig::builder_with_provider(Arc::new(crypto_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match &tls.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("tls.cert = {}", cert.display()))?;
            let key_der = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("tls.key = {}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .with_context(|| format!("tls.cert/tls.key = {}", cert.display()))?
        }
    };
    Ok(Arc::new(config))
}

fn connect(config: &ClientConfig) -> Result<Stream> {
    let addrs: Vec<_> = config
        .connect
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", config.connect))?
        .collect();
    let mut last = None;
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, IO_TIMEOUT) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = match (tcp, last) {
        (Some(s), _) => s,
        (None, Some(e)) => {
            return Err(e).with_context(|| format!("connecting to {}", config.connect));
        }
        (None, None) => bail!("{} resolves to no address", config.connect),
    };
    tcp.set_nodelay(true)?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(match &config.tls {
        None => Stream::Plain(tcp),
        Some(tls) => {
            let name = ServerName::try_from(tls.server_name.clone())
                .with_context(|| format!("tls.server_name = {}", tls.server_name))?;
            let conn = ClientConnection::new(tls_config(tls)?, name)?;
            Stream::Tls(Box::new(StreamOwned::new(conn, tcp)))
        }
    })
}

/// `1 → a`, `26 → z`, `27 → aa`: the ClOrdID prefix of run `n`.
fn run_prefix(mut n: u64) -> String {
    let mut letters = Vec::new();
    while n > 0 {
        n -= 1;
        letters.push(b'a' + (n % 26) as u8);
        n /= 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

/// Locks the store for this process (released when the returned file closes): two
/// clients on one store would interleave its session journal.
fn lock_store(store: &Path) -> Result<std::fs::File> {
    let path = store.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
        |e| {
            anyhow::anyhow!(
                "store {} is in use by another fix-client ({e})",
                store.display()
            )
        },
    )?;
    Ok(file)
}

/// Counts this run in `<store>/runs` (written durably before any order is sent) and
/// returns its ClOrdID prefix.
fn next_run(store: &Path) -> Result<String> {
    let path = store.join("runs");
    let previous = match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .with_context(|| format!("{}: not a run counter", path.display()))?,
        Err(e) if e.kind() == ErrorKind::NotFound => 0,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let run = previous + 1;
    let tmp = store.join("runs.tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    writeln!(f, "{run}")?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    std::fs::File::open(store)?.sync_all()?;
    Ok(run_prefix(run))
}

/// A frame for `--raw`: SOH as `|`, the password (554) masked.
fn raw(frame: &[u8]) -> String {
    let mut out = String::with_capacity(frame.len());
    for field in frame.split(|&b| b == 0x01).filter(|f| !f.is_empty()) {
        match field.strip_prefix(b"554=") {
            Some(_) => out.push_str("554=***"),
            None => out.push_str(&String::from_utf8_lossy(field)),
        }
        out.push('|');
    }
    out
}

/// Prints the frames at the start of `buf` (raw and/or as admin lines); returns how many
/// bytes they took. `from` names the sender.
fn show_frames(buf: &[u8], from: &str, arrow: &str, raw_too: bool) -> usize {
    let mut at = 0;
    loop {
        let rest = buf.get(at..).unwrap_or_default();
        match scan_frame(rest, MAX_BODY) {
            Framing::Complete(n) => {
                let frame = rest.get(..n).unwrap_or_default();
                if raw_too {
                    println!("{arrow} {}", raw(frame));
                }
                if let Ok(m) = Message::decode(frame) {
                    if m.msg_type().is_admin()
                        && m.msg_type() != tickwarp_gateway::fix::MsgType::REJECT
                    {
                        if let Some(line) = describe_admin(&m, from) {
                            println!("{line}");
                        }
                    }
                }
                at += n;
            }
            Framing::Garbled { skip, .. } => at += skip,
            Framing::Incomplete => return at,
        }
    }
}

/// Reads stdin lines into a channel (dropped at end of input).
fn stdin_lines() -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("fix-client-stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        })
        .map(|_| ())
        .unwrap_or_else(|e| tracing::error!(error = %e, "stdin reader not started"));
    rx
}

/// Runs the client; `Ok(false)` is exit status 1 (session failed or expectation unmet).
pub(crate) fn run(args: &FixClientArgs) -> Result<bool> {
    let config = ClientConfig::load(&args.config)
        .with_context(|| format!("loading {}", crate::shown(&args.config)))?;
    if !(args.timeout.is_finite() && args.timeout >= 0.0 && args.timeout <= 86_400.0) {
        bail!("--timeout must be between 0 and 86400 seconds");
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let expect = match (args.expect_fill, args.expect_ack, args.expect_reject) {
        (true, _, _) => Some(Expect::Fill),
        (_, true, _) => Some(Expect::Ack),
        (_, _, true) => Some(Expect::Reject),
        _ => None,
    };
    std::fs::create_dir_all(&config.store)
        .with_context(|| format!("creating store {}", config.store.display()))?;
    let _lock = lock_store(&config.store)?;
    let prefix = next_run(&config.store)?;
    let store = JournalStore::open(
        config.store.join("session"),
        JournalConfig {
            segment_bytes: 4 << 20,
            fsync: FsyncPolicy::EveryRecord,
        },
    )
    .with_context(|| format!("opening the session store in {}", config.store.display()))?;

    let input = if args.command.is_empty() {
        stdin_lines()
    } else {
        let (tx, rx) = mpsc::channel();
        let _ = tx.send(args.command.join(" "));
        rx
    };
    let mut stream = connect(&config)?;
    let session = ConnectionConfig {
        role: Role::Initiator {
            heartbeat: config.heartbeat,
            username: config.username.clone(),
            password: config.password.clone(),
        },
        sender_comp_id: config.sender_comp_id.clone(),
        target_comp_id: config.target_comp_id.clone(),
        logon_timeout: LOGON_TIMEOUT,
        logout_timeout: LOGOUT_TIMEOUT,
        max_body_len: MAX_BODY,
        sending_time_tolerance: Some(Duration::from_secs(120)),
        reset_on_logon: config.reset_on_logon,
        reset_on_logout: false,
        reset_on_disconnect: false,
        validation: ValidationOptions::default(),
    };
    let mut conn = Connection::new(session, store, now());
    let mut app = ClientApp::new(config.account, &config.sender_comp_id, prefix);
    let orders_path = config.store.join("orders");
    match std::fs::read_to_string(&orders_path) {
        Ok(text) => app
            .restore(&text)
            .with_context(|| format!("{} is damaged", orders_path.display()))?,
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", orders_path.display())),
    }
    let orders = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&orders_path)
        .with_context(|| format!("opening {}", orders_path.display()))?;
    let mut driver = Driver {
        input: Some(input),
        input_done: None,
        logged_on: false,
        logout_started: false,
        ended: None,
        closed: false,
        raw: args.raw,
        orders,
        interrupted: Arc::new(AtomicBool::new(false)),
    };
    // Ctrl-C ends the input: the client logs out rather than vanishing mid-session.
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&driver.interrupted))
        .context("installing the SIGINT handler")?;
    driver.run(&mut stream, &mut conn, &mut app, expect, timeout)?;
    if let Stream::Tls(tls) = &mut stream {
        // TLS ends with close_notify (RFC 8446 6.1), so the gateway sees a clean end.
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }
    let _ = stream.tcp().shutdown(std::net::Shutdown::Both);
    driver.finish(&app, expect)
}

/// The state of one run of the loop.
struct Driver {
    /// Commands still to come (`None` once the input ended or `quit` was given).
    input: Option<Receiver<String>>,
    /// When the input ended.
    input_done: Option<tickwarp_runtime::Nanos>,
    logged_on: bool,
    logout_started: bool,
    /// Why the session ended.
    ended: Option<DisconnectReason>,
    /// The gateway closed the connection without a session ending.
    closed: bool,
    raw: bool,
    /// The store's `orders` file (what `ClientApp::restore` reads back).
    orders: std::fs::File,
    /// Set by SIGINT: end the input and log out without waiting for answers.
    interrupted: Arc<AtomicBool>,
}

impl Driver {
    fn run(
        &mut self,
        stream: &mut Stream,
        conn: &mut Connection<JournalStore>,
        app: &mut ClientApp,
        expect: Option<Expect>,
        timeout: Duration,
    ) -> Result<()> {
        let mut buf = vec![0u8; 16 << 10];
        let mut seen: Vec<u8> = Vec::new();
        loop {
            let t = now();
            if conn.poll_timeout().is_some_and(|d| d <= t.mono) {
                conn.handle_timeout(t);
            }
            self.transmit(stream, conn)?;
            self.print_events(conn, app)?;
            if self.interrupted.load(Ordering::Relaxed) && self.input.is_some() {
                self.end_input(t);
                if conn.state() == SessionState::AwaitingLogon {
                    println!("INTERRUPTED before the logon was answered");
                    return Ok(());
                }
                println!("INTERRUPTED: logging out");
            }
            if conn.state() == SessionState::Active {
                self.take_commands(conn, app, t);
                self.maybe_logout(conn, app, expect, timeout, t);
            }
            self.transmit(stream, conn)?;
            self.print_events(conn, app)?;
            std::io::stdout().flush()?;
            if self.ended.is_some() {
                return Ok(());
            }
            let t = now();
            let wait = conn
                .poll_timeout()
                .map_or(POLL, |d| d.saturating_sub(t.mono).as_duration())
                .clamp(Duration::from_millis(1), POLL);
            stream.tcp().set_read_timeout(Some(wait))?;
            match stream.read(&mut buf) {
                Ok(0) => {
                    println!("DISCONNECTED: the gateway closed the connection");
                    self.closed = true;
                    return Ok(());
                }
                Ok(n) => {
                    let bytes = buf.get(..n).unwrap_or_default();
                    seen.extend_from_slice(bytes);
                    let used = show_frames(&seen, "from gateway", "<<", self.raw);
                    seen.drain(..used);
                    if seen.len() > 2 * MAX_BODY {
                        seen.clear();
                    }
                    conn.handle_bytes(now(), bytes, app);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e).context("reading from the gateway"),
            }
        }
    }

    /// Prints the lines and session events that came out of the session, and appends
    /// what the application learned of orders to the store's `orders` file.
    fn print_events(
        &mut self,
        conn: &mut Connection<JournalStore>,
        app: &mut ClientApp,
    ) -> Result<()> {
        while let Some(out) = app.poll_event(conn) {
            match out {
                Output::Line(line) => println!("{line}"),
                Output::Session(e) => self.on_session_event(conn, e),
            }
        }
        let records = app.take_records();
        if !records.is_empty() {
            self.orders
                .write_all(records.concat().as_bytes())
                .context("writing the store's orders file")?;
        }
        Ok(())
    }

    /// Flushes the store, then writes what the session queued.
    fn transmit(&mut self, stream: &mut Stream, conn: &mut Connection<JournalStore>) -> Result<()> {
        conn.flush();
        let queued = conn.transmit_queue();
        if queued.is_empty() {
            return Ok(());
        }
        show_frames(queued, "sent", ">>", self.raw);
        stream.write_all(queued).context("writing to the gateway")?;
        stream.flush().context("writing to the gateway")?;
        let n = queued.len();
        conn.consume_transmit(n);
        Ok(())
    }

    fn on_session_event(&mut self, conn: &Connection<JournalStore>, e: ConnectionEvent) {
        match e {
            ConnectionEvent::LoggedOn { reset } => {
                self.logged_on = true;
                let seq = conn.seq_nums();
                let reset = if reset {
                    ", sequence numbers reset"
                } else {
                    ""
                };
                println!(
                    "LOGGED ON as {} to {} (next MsgSeqNum in {}, out {}{reset})",
                    conn.config().sender_comp_id,
                    conn.config().target_comp_id,
                    seq.next_in,
                    seq.next_out
                );
            }
            ConnectionEvent::LogonRefused => println!("LOGON REFUSED by the gateway"),
            ConnectionEvent::LoggedOut => println!("LOGGED OUT"),
            ConnectionEvent::Disconnect { reason } => {
                if !matches!(reason, DisconnectReason::LogoutComplete) {
                    println!("DISCONNECTED: {reason}");
                }
                self.ended = Some(reason);
            }
        }
    }

    /// Sends the commands that arrived.
    fn take_commands(&mut self, conn: &mut Connection<JournalStore>, app: &mut ClientApp, t: Now) {
        while let Some(rx) = &self.input {
            let line = match rx.try_recv() {
                Ok(line) => line,
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.end_input(t);
                    return;
                }
            };
            for part in line.split(';') {
                match command::parse(part) {
                    Ok(None) => {}
                    Ok(Some(Command::Help)) => println!("{USAGE}"),
                    Ok(Some(Command::Quit)) => {
                        self.end_input(t);
                        return;
                    }
                    Ok(Some(cmd)) => {
                        if let Err(e) = app.send(conn, t, &cmd) {
                            eprintln!("fix-client: {}: {e}", part.trim());
                        }
                    }
                    Err(e) => eprintln!("fix-client: {}: {e}\nusage: {USAGE}", part.trim()),
                }
            }
        }
    }

    fn end_input(&mut self, t: Now) {
        self.input = None;
        self.input_done = Some(t.mono);
    }

    /// After the input ended: logs out once the answers due came or the timeout passed.
    fn maybe_logout(
        &mut self,
        conn: &mut Connection<JournalStore>,
        app: &ClientApp,
        expect: Option<Expect>,
        timeout: Duration,
        t: Now,
    ) {
        let Some(done_at) = self.input_done else {
            return;
        };
        if self.logout_started {
            return;
        }
        let answered = match expect {
            Some(e) if app.sent_order() => app.verdict(e) != Verdict::Waiting,
            _ => app.unanswered().is_empty(),
        };
        let late =
            self.interrupted.load(Ordering::Relaxed) || t.mono >= done_at.saturating_add(timeout);
        if answered || late {
            if !answered {
                eprintln!(
                    "fix-client: no (complete) answer within {timeout:?} to: {}",
                    app.unanswered().join(", ")
                );
            }
            conn.initiate_logout(t, None);
            self.logout_started = true;
        }
    }

    /// The exit status.
    fn finish(&self, app: &ClientApp, expect: Option<Expect>) -> Result<bool> {
        if !self.logged_on && !self.logout_started {
            match self.ended {
                Some(reason) => bail!("no session with the gateway: {reason}"),
                None => bail!("no session with the gateway: the connection was closed"),
            }
        }
        let clean = self.logout_started
            && matches!(
                self.ended,
                Some(DisconnectReason::LogoutComplete | DisconnectReason::LogoutTimeout)
            );
        if !clean {
            match (self.closed, self.ended) {
                (true, _) | (false, None) => {
                    eprintln!("fix-client: the gateway closed the connection");
                }
                (false, Some(reason)) => eprintln!("fix-client: the session ended: {reason}"),
            }
        }
        if let Some(e) = expect {
            let want = match e {
                Expect::Fill => "a fill",
                Expect::Ack => "an acknowledgement",
                Expect::Reject => "a reject",
            };
            match app.verdict(e) {
                Verdict::Met => {}
                Verdict::Failed(why) => {
                    eprintln!("fix-client: expected {want}: {why}");
                    return Ok(false);
                }
                Verdict::Waiting => {
                    eprintln!("fix-client: expected {want}: no answer in time");
                    return Ok(false);
                }
            }
        }
        Ok(clean)
    }
}

#[cfg(test)]
mod tests {
    use super::{lock_store, raw, run_prefix};

    #[test]
    fn a_store_serves_one_client_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_store(dir.path()).unwrap();
        let err = lock_store(dir.path()).unwrap_err().to_string();
        assert!(err.contains("in use by another fix-client"), "{err}");
        drop(held);
        lock_store(dir.path()).unwrap();
    }

    #[test]
    fn run_prefixes_are_bijective_base_26() {
        assert_eq!(run_prefix(1), "a");
        assert_eq!(run_prefix(26), "z");
        assert_eq!(run_prefix(27), "aa");
        assert_eq!(run_prefix(28), "ab");
        assert_eq!(run_prefix(702), "zz");
        assert_eq!(run_prefix(703), "aaa");
    }

    #[test]
    fn raw_output_masks_the_password() {
        let frame = b"8=FIX.4.4\x019=20\x0135=A\x01553=u\x01554=secret\x0110=000\x01";
        assert_eq!(raw(frame), "8=FIX.4.4|9=20|35=A|553=u|554=***|10=000|");
    }
}
