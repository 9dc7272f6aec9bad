//! The FIX front-door lab shared by the acceptor's integration tests (`hostile_fix`,
//! `fix_tls`): a [`Lab`] that runs the real gateway agent on the test thread with a
//! virtual clock, and a minimal FIX initiator ([`Client`]) over plain TCP or TLS
//! (rustls, non-blocking). Every wait is bounded in duty cycles and fails with a message.

#![allow(dead_code, unreachable_pub)]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use socket2::{Domain, Protocol, Socket, Type};
use tickwarp_gateway::fix::codec::{Framing, Message, MessageWriter, scan_frame};
use tickwarp_gateway::fix::fields::tag;
use tickwarp_gateway::fix::{MsgType, Now};
use tickwarp_gateway::service::acceptor::hash_password;
use tickwarp_gateway::service::{GatewayAgent, GatewayConfig};
use tickwarp_runtime::clock;

/// Most duty cycles any wait may take.
pub const MAX_CYCLES: usize = 20_000;
/// The real client's address.
pub const REAL: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
/// The attackers' address.
pub const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// The password of session C1.
pub const PW: &str = "c1-pass";

/// A journal directory on tmpfs when there is one (the session stores sync every
/// record; the tests are about the front door, not the disk).
pub fn journal_dir() -> Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return Ok(d);
        }
    }
    Ok(tempfile::tempdir()?)
}

/// The gateway, stepped here on a virtual clock.
pub struct Lab {
    pub agent: GatewayAgent,
    pub now: Now,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Lab {
    /// A gateway with sessions C1 (password [`PW`], account 101) and C2 (no password,
    /// account 102), resting liquidity, and `front` as its `[front_door]` table.
    pub fn start(front: &str) -> Result<Lab> {
        Lab::start_with("", front)
    }

    /// [`Lab::start`] with `top` added to the configuration's top level (e.g. `tls`).
    pub fn start_with(top: &str, front: &str) -> Result<Lab> {
        Lab::start_in(journal_dir()?, top, front)
    }

    /// [`Lab::start_with`] with its journals in `dir` (prepared by the caller).
    pub fn start_in(dir: tempfile::TempDir, top: &str, front: &str) -> Result<Lab> {
        let hash = hash_password(PW.as_bytes())?;
        let text = format!(
            r#"
            listen = "127.0.0.1:0"
            {top}
            [journal]
            dir = "{dir}"
            [risk]
            max_order_qty = 1000
            max_notional = "1000000"
            collar_bps = 0
            credit_limit = "100000000"
            max_position = 100000
            max_orders_per_day = 100000
            [[instruments]]
            symbol = "ACME"
            id = 1
            [[sessions]]
            id = 1
            sender_comp_id = "GW"
            target_comp_id = "C1"
            password_hash = "{hash}"
            account = 101
            [[sessions]]
            id = 2
            sender_comp_id = "GW"
            target_comp_id = "C2"
            allow_no_password = true
            account = 102
            [[venue.liquidity]]
            symbol = "ACME"
            side = "sell"
            price = "101"
            qty = 100
            [front_door]
            {front}
            "#,
            dir = dir.path().display()
        );
        let config = GatewayConfig::from_toml(&text, dir.path())?;
        let now = Now {
            mono: clock::monotonic_now(),
            wall: clock::unix_now(),
        };
        let agent = GatewayAgent::from_config(&config, now)?;
        let addr = agent.fix_addr();
        Ok(Lab {
            agent,
            now,
            addr,
            dir,
        })
    }

    /// One duty cycle at the current virtual time.
    pub fn step(&mut self) -> Result<usize> {
        Ok(self.agent.step(self.now)?)
    }

    /// Moves the virtual clock.
    pub fn advance(&mut self, d: Duration) {
        self.now.mono = self.now.mono.saturating_add(d);
        self.now.wall = tickwarp_runtime::UnixNanos(
            self.now
                .wall
                .get()
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        );
    }

    /// Steps until `done` holds; returns the cycles it took.
    pub fn until(
        &mut self,
        what: &str,
        mut done: impl FnMut(&mut Lab) -> Result<bool>,
    ) -> Result<usize> {
        for cycle in 1..=MAX_CYCLES {
            let work = self.step()?;
            if done(self)? {
                return Ok(cycle);
            }
            if work == 0 {
                // The verifier thread or the kernel may still be working: let them run.
                thread::sleep(Duration::from_micros(200));
            }
        }
        bail!("{what}: not after {MAX_CYCLES} duty cycles")
    }

    /// A client of session `sender` from `from`.
    pub fn connect(&mut self, from: IpAddr, sender: &str) -> Result<Client> {
        self.connect_with(from, sender, None)
    }

    /// A client with a receive buffer of `rcvbuf` bytes (the kernel's default if none).
    pub fn connect_with(
        &mut self,
        from: IpAddr,
        sender: &str,
        rcvbuf: Option<usize>,
    ) -> Result<Client> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        if let Some(size) = rcvbuf {
            socket.set_recv_buffer_size(size)?;
        }
        socket.bind(&SocketAddr::new(from, 0).into())?;
        socket.connect(&self.addr.into())?;
        let stream: TcpStream = socket.into();
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        Ok(Client {
            stream: Wire::Tcp(stream),
            sender: sender.to_owned(),
            rx: Vec::new(),
            next_out: 1,
            last_in: 0,
            closed: false,
        })
    }

    /// A client of session `sender` from `from` over TLS with `tls` (server name
    /// `localhost`); the handshake runs as the client writes and reads.
    pub fn connect_tls(
        &mut self,
        from: IpAddr,
        sender: &str,
        tls: Arc<ClientConfig>,
    ) -> Result<Client> {
        self.connect_tls_with(from, sender, tls, None)
    }

    /// [`Lab::connect_tls`] with a receive buffer of `rcvbuf` bytes.
    pub fn connect_tls_with(
        &mut self,
        from: IpAddr,
        sender: &str,
        tls: Arc<ClientConfig>,
        rcvbuf: Option<usize>,
    ) -> Result<Client> {
        let mut client = self.connect_with(from, sender, rcvbuf)?;
        let Wire::Tcp(tcp) = client.stream else {
            bail!("a new client is plain TCP");
        };
        let conn = ClientConnection::new(tls, ServerName::try_from("localhost")?)?;
        client.stream = Wire::Tls(Box::new(TlsClient { tcp, conn }));
        Ok(client)
    }

    /// Logs `client` on with `password` and waits for the Logon answer.
    pub fn logon(&mut self, client: &mut Client, password: Option<&str>) -> Result<Out> {
        let wall = self.now.wall;
        client.send(wall, MsgType::LOGON, |w| {
            w.uint(tag::ENCRYPT_METHOD, 0).uint(tag::HEART_BT_INT, 30);
            if let Some(p) = password {
                w.str(tag::PASSWORD, p);
            }
        })?;
        let out = self.recv(client, "Logon answer")?;
        ensure!(out.msg_type() == "A", "expected a Logon, got {out:?}");
        Ok(out)
    }

    /// Steps until `client` receives a message.
    pub fn recv(&mut self, client: &mut Client, what: &str) -> Result<Out> {
        let mut got = None;
        self.until(what, |_| {
            got = client.poll()?;
            Ok(got.is_some())
        })?;
        got.context(what.to_owned())
    }

    /// Steps until `client`'s connection is closed by the gateway; returns what it
    /// received before.
    pub fn closed(&mut self, client: &mut Client, what: &str) -> Result<Vec<Out>> {
        let mut seen = Vec::new();
        self.until(what, |_| {
            while let Some(out) = client.poll()? {
                seen.push(out);
            }
            Ok(client.closed)
        })?;
        Ok(seen)
    }

    /// A digest of every file of the order sessions' shared store log (every session's
    /// records).
    pub fn session_log_digest(&self) -> Result<u64> {
        let dir = self.dir.path().join("fix").join("sessions");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("{}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        files.sort();
        let mut h = DefaultHasher::new();
        for f in files {
            f.hash(&mut h);
            std::fs::read(&f)?.hash(&mut h);
        }
        Ok(h.finish())
    }
}

/// One message received, as `(tag, value)` text pairs.
#[derive(Clone, Debug)]
pub struct Out {
    pub fields: Vec<(u32, String)>,
}

impl Out {
    pub fn get(&self, t: u32) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, v)| v.as_str())
    }

    pub fn msg_type(&self) -> &str {
        self.get(tag::MSG_TYPE).unwrap_or("")
    }

    pub fn num(&self, t: u32) -> Result<u64> {
        self.get(t)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("tag {t} in {self:?}"))
    }
}

/// A client's byte stream: plain TCP, or rustls over it (both non-blocking).
#[derive(Debug)]
pub enum Wire {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS.
    Tls(Box<TlsClient>),
}

/// A rustls client connection over a non-blocking socket.
#[derive(Debug)]
pub struct TlsClient {
    /// The socket.
    pub tcp: TcpStream,
    /// The TLS state.
    pub conn: ClientConnection,
}

impl Wire {
    /// The socket.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Wire::Tcp(tcp) => tcp,
            Wire::Tls(t) => &t.tcp,
        }
    }
}

impl TlsClient {
    /// Writes the records rustls holds until done or the socket is full.
    fn flush_records(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.tcp) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let t = match self {
            Wire::Tcp(tcp) => return tcp.read(buf),
            Wire::Tls(t) => t,
        };
        loop {
            match t.conn.reader().read(buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                other => return other,
            }
            if t.conn.read_tls(&mut t.tcp)? == 0 {
                return Ok(0);
            }
            // A TLS failure (an alert from the gateway) surfaces as an error here.
            t.conn
                .process_new_packets()
                .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
            t.flush_records()?;
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Wire::Tcp(tcp) => tcp.write(buf),
            Wire::Tls(t) => {
                let n = t.conn.writer().write(buf)?;
                t.flush_records()?;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Wire::Tcp(tcp) => tcp.flush(),
            Wire::Tls(t) => t.flush_records(),
        }
    }
}

/// A minimal FIX initiator on a non-blocking socket.
pub struct Client {
    pub stream: Wire,
    pub sender: String,
    pub rx: Vec<u8>,
    pub next_out: u64,
    /// MsgSeqNum of the last message received.
    pub last_in: u64,
    pub closed: bool,
}

impl Client {
    /// Sends a message with the next MsgSeqNum.
    pub fn send(
        &mut self,
        wall: tickwarp_runtime::UnixNanos,
        msg_type: MsgType,
        body: impl FnOnce(&mut MessageWriter<'_>),
    ) -> Result<()> {
        let mut buf = Vec::new();
        let mut w = MessageWriter::begin(&mut buf, msg_type);
        w.uint(tag::MSG_SEQ_NUM, self.next_out)
            .str(tag::SENDER_COMP_ID, &self.sender)
            .timestamp(tag::SENDING_TIME, wall)
            .str(tag::TARGET_COMP_ID, "GW");
        body(&mut w);
        let range = w.finish();
        self.next_out += 1;
        self.write_all(buf.get(range).unwrap_or_default())
    }

    /// Writes raw bytes (bounded retries while the socket is full).
    pub fn write_all(&mut self, mut bytes: &[u8]) -> Result<()> {
        let mut stalls = 0;
        while !bytes.is_empty() {
            match self.stream.write(bytes) {
                Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    stalls += 1;
                    ensure!(stalls < 10_000, "client write stalled");
                    thread::sleep(Duration::from_micros(100));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The next complete message, if one arrived.
    pub fn poll(&mut self) -> Result<Option<Out>> {
        loop {
            if let Framing::Complete(len) = scan_frame(&self.rx, 1 << 20) {
                let frame: Vec<u8> = self.rx.drain(..len).collect();
                let msg = Message::decode(&frame).map_err(|e| anyhow::anyhow!("{e:?}"))?;
                let fields = msg
                    .fields()
                    .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
                    .collect();
                let out = Out { fields };
                self.last_in = out.num(tag::MSG_SEQ_NUM)?;
                return Ok(Some(out));
            }
            if self.closed {
                return Ok(None);
            }
            let mut buf = [0u8; 64 << 10];
            match self.stream.read(&mut buf) {
                Ok(0) => self.closed = true,
                Ok(n) => self.rx.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
                // A reset, an alert from the gateway (TLS), or an end without close_notify.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionReset
                            | ErrorKind::InvalidData
                            | ErrorKind::UnexpectedEof
                    ) =>
                {
                    self.closed = true;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Sends order `n` (a bid below the house offer: it rests) and its cancel, running duty
/// cycles with `cycle` (which returns the allocations it counted) until both
/// ExecutionReports arrive. Returns the allocations of its cycles.
pub fn order_cancel_pair(
    lab: &mut Lab,
    client: &mut Client,
    n: u64,
    mut cycle: impl FnMut(&mut Lab) -> Result<u64>,
) -> Result<u64> {
    let new_id = format!("N{n}");
    let cxl_id = format!("C{n}");
    let mut allocations = 0;
    for (k, want) in [(0, "0"), (1, "4")] {
        // Under the default throttle of 1,000 messages a second.
        lab.advance(Duration::from_millis(2));
        let wall = lab.now.wall;
        if k == 0 {
            client.send(wall, MsgType::NEW_ORDER_SINGLE, |w| {
                w.str(tag::CL_ORD_ID, &new_id)
                    .str(tag::SYMBOL, "ACME")
                    .byte(tag::SIDE, b'1')
                    .timestamp(tag::TRANSACT_TIME, wall)
                    .uint(tag::ORDER_QTY, 10)
                    .byte(tag::ORD_TYPE, b'2')
                    .str(tag::PRICE, "97")
                    .byte(tag::TIME_IN_FORCE, b'0');
            })?;
        } else {
            client.send(wall, MsgType::ORDER_CANCEL_REQUEST, |w| {
                w.str(tag::ORIG_CL_ORD_ID, &new_id)
                    .str(tag::CL_ORD_ID, &cxl_id)
                    .str(tag::SYMBOL, "ACME")
                    .byte(tag::SIDE, b'1')
                    .timestamp(tag::TRANSACT_TIME, wall)
                    .uint(tag::ORDER_QTY, 10);
            })?;
        }
        let mut cycles = 0;
        loop {
            allocations += cycle(lab)?;
            if let Some(out) = client.poll()? {
                ensure!(
                    out.msg_type() == "8" && out.get(tag::EXEC_TYPE) == Some(want),
                    "order {n}: expected ExecType {want}, got {out:?}"
                );
                break;
            }
            cycles += 1;
            if cycles > MAX_CYCLES {
                bail!("order {n}: no ExecutionReport after {MAX_CYCLES} duty cycles");
            }
        }
    }
    Ok(allocations)
}
