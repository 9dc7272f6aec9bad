//! The two halves of the power-loss durability test (`deploy/siw/power-loss.sh`), which
//! runs `tickwarp gateway` in a VM whose disk loses everything the guest had not flushed
//! when qemu is SIGKILLed.
//!
//! - `drive` (on the host): FIX 4.4 clients, one per session, each sending limit
//!   NewOrderSingles one at a time over the VM's port forward and appending every
//!   acknowledged order (ExecutionReport with ExecType New) to the `--acked` file as
//!   `ACCOUNT CLORDID`, flushed line by line, until the connection dies (the power cut)
//!   or `--per-session` orders are acknowledged.
//! - `check` (in the guest, after the next boot on the same disk): reads the gateway's
//!   order journal the way the gateway recovers it and reports which acknowledged orders
//!   are in it: one `POWERLOSS CHECK` line with the counts, one `POWERLOSS MISSING` line
//!   per missing order (the first 20), exit status 0 only when none is missing.
//!
//! It does not judge a policy: the script decides what a count means for `every_record`,
//! `batched` and `never`. It never writes to the journal.
//!
//! Run: `cargo run -p tickwarp-bench --bin power_loss -- drive --addr 127.0.0.1:17700
//! --sessions 4 --acked acked.txt` and, on the recovered disk,
//! `power_loss check --config gateway.toml --acked acked.txt`.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use clap::{Parser, Subcommand};
use tickwarp_gateway::fix::MsgType;
use tickwarp_gateway::fix::codec::{Framing, Message, MessageWriter, scan_frame};
use tickwarp_gateway::fix::fields::tag;
use tickwarp_gateway::service::{GatewayConfig, read_journal};
use tickwarp_runtime::clock::{monotonic_now, unix_now};
use tickwarp_wire::{AccountId, ClientOrderId};

/// Drives FIX clients into a gateway, or checks its recovered journal.
#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send orders over FIX and record every acknowledged one.
    Drive(DriveArgs),
    /// Report which recorded acknowledged orders the order journal holds.
    Check(CheckArgs),
}

/// `drive` options.
#[derive(Debug, clap::Args)]
struct DriveArgs {
    /// The gateway's FIX address.
    #[arg(long)]
    addr: SocketAddr,
    /// FIX sessions, one client thread each: CompIDs PL01.., account 1001.., talking to GW.
    #[arg(long, default_value_t = 4)]
    sessions: usize,
    /// Orders each session sends at most.
    #[arg(long, default_value_t = 100_000)]
    per_session: usize,
    /// File the acknowledged orders are appended to, one `ACCOUNT CLORDID` per line.
    #[arg(long)]
    acked: PathBuf,
    /// Seconds to keep trying to connect and log on (the gateway may still be starting).
    #[arg(long, default_value_t = 120)]
    connect_secs: u64,
    /// Seconds to wait for any one answer.
    #[arg(long, default_value_t = 60)]
    wait_secs: u64,
}

/// `check` options.
#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The gateway configuration (its journal directory and limits).
    #[arg(long)]
    config: PathBuf,
    /// The `drive` output: the acknowledged orders.
    #[arg(long)]
    acked: PathBuf,
}

/// The CompID of session `s` (0-based).
fn comp_id(s: usize) -> String {
    format!("PL{:02}", s + 1)
}

/// The account of session `s` (0-based).
fn account(s: usize) -> u32 {
    1001 + s as u32
}

/// One FIX client over a blocking socket with a short read timeout.
struct Client {
    stream: TcpStream,
    comp_id: String,
    next_out: u64,
    rx: Vec<u8>,
    wait: Duration,
}

/// One received message as `(tag, text)` pairs.
#[derive(Debug)]
struct Out {
    fields: Vec<(u32, String)>,
}

impl Out {
    fn get(&self, t: u32) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, v)| v.as_str())
    }
}

impl Client {
    fn connect(addr: SocketAddr, comp_id: String, wait: Duration) -> anyhow::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, wait)?;
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            comp_id,
            next_out: 1,
            rx: Vec::new(),
            wait,
        })
    }

    fn send(
        &mut self,
        msg_type: MsgType,
        body: impl FnOnce(&mut MessageWriter<'_>),
    ) -> anyhow::Result<()> {
        let mut buf = Vec::new();
        let mut w = MessageWriter::begin(&mut buf, msg_type);
        w.uint(tag::MSG_SEQ_NUM, self.next_out)
            .str(tag::SENDER_COMP_ID, &self.comp_id)
            .timestamp(tag::SENDING_TIME, unix_now())
            .str(tag::TARGET_COMP_ID, "GW");
        body(&mut w);
        let _ = w.finish();
        self.next_out += 1;
        self.stream.write_all(&buf)?;
        Ok(())
    }

    /// The next message other than Heartbeat and TestRequest (answered), within `wait`.
    fn recv(&mut self) -> anyhow::Result<Out> {
        let deadline = monotonic_now().saturating_add(self.wait);
        loop {
            match scan_frame(&self.rx, 1 << 16) {
                Framing::Complete(len) => {
                    let frame: Vec<u8> = self.rx.drain(..len).collect();
                    let msg =
                        Message::decode(&frame).map_err(|e| anyhow!("undecodable frame: {e:?}"))?;
                    let out = Out {
                        fields: msg
                            .fields()
                            .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
                            .collect(),
                    };
                    match out.get(tag::MSG_TYPE) {
                        Some("0") => continue,
                        Some("1") => {
                            let id = out.get(tag::TEST_REQ_ID).unwrap_or("").to_owned();
                            self.send(MsgType::HEARTBEAT, |w| {
                                w.str(tag::TEST_REQ_ID, &id);
                            })?;
                            continue;
                        }
                        _ => return Ok(out),
                    }
                }
                Framing::Garbled { reason, .. } => bail!("garbled frame: {reason}"),
                Framing::Incomplete => {}
            }
            ensure!(
                monotonic_now() < deadline,
                "nothing from the gateway within {:?}",
                self.wait
            );
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => bail!("connection closed"),
                Ok(n) => self.rx.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Connects and logs on session `s`, retrying until `connect` has passed.
fn log_on(args: &DriveArgs, s: usize) -> anyhow::Result<Client> {
    let wait = Duration::from_secs(args.wait_secs);
    let deadline = monotonic_now().saturating_add(Duration::from_secs(args.connect_secs));
    loop {
        let attempt = (|| -> anyhow::Result<Client> {
            let mut c = Client::connect(args.addr, comp_id(s), wait)?;
            c.send(MsgType::LOGON, |w| {
                w.uint(tag::ENCRYPT_METHOD, 0).uint(tag::HEART_BT_INT, 30);
            })?;
            let out = c.recv()?;
            ensure!(
                out.get(tag::MSG_TYPE) == Some("A"),
                "expected a Logon, got {out:?}"
            );
            Ok(c)
        })();
        match attempt {
            Ok(c) => return Ok(c),
            Err(e) if monotonic_now() < deadline => {
                eprintln!(
                    "power-loss drive: {}: logon failed ({e:#}); retrying",
                    comp_id(s)
                );
                thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e.context(format!("{}: no logon", comp_id(s)))),
        }
    }
}

/// How one session's stream ended.
enum End {
    /// Every order was acknowledged.
    Completed,
    /// The connection failed (expected: the power cut).
    Cut(anyhow::Error),
}

/// One session: log on, then send orders one at a time and report each ack on `acks`.
fn session(args: &DriveArgs, s: usize, acks: &mpsc::Sender<String>) -> anyhow::Result<End> {
    let mut c = log_on(args, s)?;
    for i in 1..=args.per_session {
        let cl = format!("{}-{i:06}", comp_id(s));
        let result = (|| -> anyhow::Result<()> {
            c.send(MsgType::NEW_ORDER_SINGLE, |w| {
                w.str(tag::CL_ORD_ID, &cl)
                    .str(tag::SYMBOL, "ACME")
                    .byte(tag::SIDE, b'1')
                    .timestamp(tag::TRANSACT_TIME, unix_now())
                    .uint(tag::ORDER_QTY, 1)
                    .byte(tag::ORD_TYPE, b'2')
                    .str(tag::PRICE, "98")
                    .byte(tag::TIME_IN_FORCE, b'0');
            })?;
            let out = c.recv()?;
            ensure!(
                out.get(tag::MSG_TYPE) == Some("8")
                    && out.get(tag::CL_ORD_ID) == Some(cl.as_str())
                    && out.get(tag::EXEC_TYPE) == Some("0"),
                "{cl}: expected an ExecutionReport 150=0, got {out:?}"
            );
            Ok(())
        })();
        match result {
            Ok(()) => acks
                .send(format!("{} {cl}", account(s)))
                .map_err(|_| anyhow!("the recorder is gone"))?,
            Err(e) if e.downcast_ref::<std::io::Error>().is_some() || is_cut(&e) => {
                return Ok(End::Cut(e));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(End::Completed)
}

/// True for the errors a dying connection produces (closed, reset, silent).
fn is_cut(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    text.contains("connection closed") || text.contains("nothing from the gateway")
}

fn drive(args: &DriveArgs) -> anyhow::Result<()> {
    ensure!(args.sessions >= 1, "--sessions must be at least 1");
    let mut file =
        File::create(&args.acked).with_context(|| format!("creating {}", args.acked.display()))?;
    let (tx, rx) = mpsc::channel::<String>();
    let mut acked = 0u64;
    let ends = thread::scope(|scope| -> anyhow::Result<Vec<anyhow::Result<End>>> {
        let handles: Vec<_> = (0..args.sessions)
            .map(|s| {
                let tx = tx.clone();
                scope.spawn(move || session(args, s, &tx))
            })
            .collect();
        drop(tx);
        // Every ack is on disk (host page cache) before the next is looked at: the
        // script counts these lines to decide when to cut the power.
        for line in rx {
            writeln!(file, "{line}")?;
            file.flush()?;
            acked += 1;
        }
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow!("a session thread panicked")))
            .collect()
    })?;
    file.sync_all()?;
    let mut completed = 0;
    for (s, end) in ends.into_iter().enumerate() {
        match end.with_context(|| format!("session {}", comp_id(s)))? {
            End::Completed => completed += 1,
            End::Cut(e) => eprintln!("power-loss drive: {}: cut: {e:#}", comp_id(s)),
        }
    }
    println!(
        "power-loss drive: {acked} orders acknowledged over {} sessions ({completed} completed)",
        args.sessions
    );
    Ok(())
}

/// The acknowledged orders recorded by `drive`.
fn read_acked(path: &Path) -> anyhow::Result<Vec<(AccountId, String)>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut acked = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        let (account, cl) = line
            .split_once(' ')
            .with_context(|| format!("{}:{}: not 'ACCOUNT CLORDID'", path.display(), n + 1))?;
        let account = account
            .parse()
            .with_context(|| format!("{}:{}: account", path.display(), n + 1))?;
        acked.push((AccountId(account), cl.to_owned()));
    }
    Ok(acked)
}

fn check(args: &CheckArgs) -> anyhow::Result<bool> {
    let config = GatewayConfig::load(&args.config)
        .with_context(|| format!("loading {}", args.config.display()))?;
    let acked = read_acked(&args.acked)?;
    let limits = config.risk_limits()?.clone();
    let dir = config.journal.orders_dir();
    let recovered = match read_journal(&dir, limits, config.max_orders) {
        Ok(recovered) => recovered,
        Err(e) => {
            println!("POWERLOSS JOURNAL-ERROR {}: {e}", dir.display());
            println!(
                "POWERLOSS CHECK acked={} recovered=0 missing={} records=0",
                acked.len(),
                acked.len()
            );
            return Ok(acked.is_empty());
        }
    };
    let mut missing = Vec::new();
    for (account, cl) in &acked {
        let id = ClientOrderId::new(cl).map_err(|e| anyhow!("ClOrdID {cl}: {e:?}"))?;
        if recovered.order(*account, id).is_none() {
            missing.push((*account, cl));
        }
    }
    for (account, cl) in missing.iter().take(20) {
        println!("POWERLOSS MISSING {} {cl}", account.0);
    }
    println!(
        "POWERLOSS CHECK acked={} recovered={} missing={} records={}",
        acked.len(),
        acked.len() - missing.len(),
        missing.len(),
        recovered.records
    );
    Ok(missing.is_empty())
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    match &args.command {
        Command::Drive(a) => drive(a)?,
        Command::Check(a) => {
            if !check(a)? {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
