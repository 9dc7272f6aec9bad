//! One node of a [`Topology`]: connects its components to each other and to the
//! components of other nodes over RDMA, launches them as agents in the node's threading
//! mode, and stops them in order (house flow first, then a drain until the counters
//! settle, then the agents).
//!
//! Connections (each an RC queue pair; who listens, who connects):
//!
//! ```text
//!  feed ──connect──▶ venue.md_listen       ITCH, MessageChannel (venue sends)
//!  gateway ─connect─▶ venue.orders_listen  orders / executions, MessageChannel
//!  engine ──connect──▶ feed.listen         ring (RDMA WRITE) + control channel
//!  engine ──connect──▶ gateway.listen      orders / executions, MessageChannel
//!  FIX client ─TCP──▶ gateway.fix_listen    FIX 4.4 sessions (the gateway's acceptor)
//! ```
//!
//! Each component gets its own verbs device and protection domain, as it would in a
//! process of its own.
//!
//! Set-up blocks (bounded by [`SETUP_TIMEOUT`]); a connector retries while the peer's
//! listener is not up yet (another process still starting), pausing 100 ms, then twice
//! as long each time up to the node's `reconnect.max_backoff_ms`. A connection that
//! cannot be made or accepted in time fails the start with
//! [`PeerLost`](super::peer::PeerLost) naming the peer, which `tickwarp run` retries;
//! anything else (a device, a journal) fails it for good.
//!
//! Each start of an engine takes the next client order id epoch from
//! `<journal_dir>/engine/<name>.epoch` (written and synced before the engine connects),
//! so an engine restarted in the same run directory never sends an id the gateway has
//! seen. This module must not be on the hot path: it wires, launches and stops, and
//! holds no trading logic.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tickwarp_feed::book::FeedConfig;
use tickwarp_feed::publisher::{
    Join, Publisher, PublisherConfig, SetupError, Subscriber, SubscriberAcceptor, SubscriberConfig,
    default_channel_config,
};
use tickwarp_gateway::fix::SessionConfig;
use tickwarp_gateway::fix::SessionId;
use tickwarp_gateway::fix::session_log::{SESSION_LOG_DIR, SessionLog, session_key};
use tickwarp_gateway::service::{
    AcceptorSession, CoreConfig, Credential, FixAcceptor, FrontDoor, OrderCore,
};
use tickwarp_gateway::venue::VenueTime;
use tickwarp_rdma::channel::{ChannelConfig, MessageChannel};
use tickwarp_rdma::ring::{RingConfig, RingWriterConfig, SeqPlacement};
use tickwarp_rdma::verbs::{
    CmError, ConnectParams, ConnectRequest, Device, Listener, ProtectionDomain,
};
use tickwarp_runtime::clock::{monotonic_now, unix_now};
use tickwarp_runtime::{Launched, NamedAgent, Nanos, RunnerConfig, launch};
use tickwarp_strategies::builtin::by_name;
use tickwarp_strategies::rdma::RingMdSource;
use tickwarp_strategies::{Engine, EngineConfig};
use tickwarp_wire::journal::{FsyncPolicy, JournalConfig};
use tickwarp_wire::{AccountId, InstrumentId, InstrumentTable, Symbol};

use super::engine::{EngineAgent, EngineLinks};
use super::feed::{ChannelItch, FeedAgent};
use super::gateway::{GatewayAgent, RemoteVenue};
use super::peer::{Peer, peer_lost};
use super::stats::NodeStats;
use super::venue::{VenueAgent, VenueInstrument, VenueLinks, itch_stock};
use crate::config::{FsyncConfig, GatewayNodeConfig, NodeConfig, Topology};

/// Bound of every connection set-up step.
pub(crate) const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// First pause between connection attempts to a listener that is not up yet.
const RETRY: Duration = Duration::from_millis(crate::config::INITIAL_BACKOFF_MS);
/// Orders the gateway's order store holds (open and done).
const MAX_ORDERS: usize = 1 << 20;
/// Longest drain at the end of a run.
const DRAIN: Duration = Duration::from_secs(3);

/// The order channels' geometry: room for any wire record, deep enough for bursts.
fn order_channel_config() -> ChannelConfig {
    ChannelConfig {
        slots: 256,
        slot_size: 256,
        send_depth: 256,
    }
}

/// A component's verbs device and protection domain.
#[derive(Debug)]
pub(crate) struct Verbs {
    dev: Device,
    pd: ProtectionDomain,
}

/// A node with its components connected and its agents running.
pub(crate) struct RunningNode {
    launched: Launched,
    /// Shared counters and results.
    pub(crate) stats: Arc<NodeStats>,
    /// Where the gateway journals, if this node runs the gateway.
    pub(crate) journal_dir: Option<PathBuf>,
    /// When the agents started.
    pub(crate) started: Nanos,
    /// Keeps the devices alive as long as their resources.
    _verbs: Vec<Verbs>,
}

impl std::fmt::Debug for RunningNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningNode")
            .field("journal_dir", &self.journal_dir)
            .finish_non_exhaustive()
    }
}

/// How long set-up waits between connection attempts, and the flag that cuts every
/// wait short (a signal asked the node to stop).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Patience<'a> {
    /// Longest pause between two attempts.
    pub(crate) max_pause: Duration,
    /// Set when the node must stop.
    pub(crate) stop: &'a AtomicBool,
}

/// Longest single wait of set-up before it looks at the stop flag again.
const STEP: Duration = Duration::from_millis(250);

impl Patience<'_> {
    /// Fails if the node must stop.
    fn check(&self) -> anyhow::Result<()> {
        if self.stop.load(Ordering::Relaxed) {
            bail!("stopped by a signal while connecting");
        }
        Ok(())
    }

    /// Sleeps `pause` in steps, failing early if the node must stop.
    fn sleep(&self, pause: Duration) -> anyhow::Result<()> {
        let until = monotonic_now().saturating_add(pause);
        loop {
            self.check()?;
            let left = until.saturating_sub(monotonic_now()).as_duration();
            if left.is_zero() {
                return Ok(());
            }
            thread::sleep(left.min(STEP));
        }
    }
}

/// Calls `f` until it succeeds or `SETUP_TIMEOUT` passes, pausing [`RETRY`], then
/// twice as long each time up to the patience's `max_pause`; then fails naming `peer`
/// and the last error.
fn retry<T, E: std::fmt::Display>(
    peer: &Peer,
    patience: Patience<'_>,
    mut f: impl FnMut() -> Result<T, E>,
) -> anyhow::Result<T> {
    let deadline = monotonic_now().saturating_add(SETUP_TIMEOUT);
    let mut pause = RETRY;
    loop {
        patience.check()?;
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if monotonic_now() >= deadline => {
                let secs = SETUP_TIMEOUT.as_secs();
                return Err(peer
                    .lost(format!("cannot connect for {secs} s: {e}"))
                    .into());
            }
            Err(_) => {
                patience.sleep(pause)?;
                pause = (pause * 2).min(patience.max_pause.max(RETRY));
            }
        }
    }
}

/// Waits for a connection request from `peer` on `listener`, at most `SETUP_TIMEOUT`.
fn accept_request(
    listener: &Listener,
    peer: &Peer,
    patience: Patience<'_>,
) -> anyhow::Result<ConnectRequest> {
    let deadline = monotonic_now().saturating_add(SETUP_TIMEOUT);
    loop {
        patience.check()?;
        match listener.accept(STEP) {
            Ok(request) => return Ok(request),
            Err(CmError::Timeout) if monotonic_now() < deadline => {}
            Err(e) => return Err(peer.lost(format!("not accepted: {e}")).into()),
        }
    }
}

/// Binds `addr` if this node listens there.
fn bind(pd: &ProtectionDomain, addr: SocketAddr, what: &str) -> anyhow::Result<Listener> {
    Listener::bind(pd, addr).with_context(|| format!("listening for {what} on {addr}"))
}

/// Accepts one order-style channel from `peer` on `listener`.
fn accept_channel(
    dev: &Device,
    pd: &ProtectionDomain,
    listener: &Listener,
    config: ChannelConfig,
    peer: &Peer,
    patience: Patience<'_>,
) -> anyhow::Result<MessageChannel> {
    let req = accept_request(listener, peer, patience)?;
    Ok(MessageChannel::accept(dev, pd, req, config)
        .map_err(|e| peer.lost(format!("not accepted: {e}")))?)
}

/// Connects an order-style channel to `peer`, retrying while nobody listens yet.
fn connect_channel(
    dev: &Device,
    pd: &ProtectionDomain,
    peer: &Peer,
    config: ChannelConfig,
    patience: Patience<'_>,
) -> anyhow::Result<MessageChannel> {
    retry(peer, patience, || {
        MessageChannel::connect(dev, pd, peer.addr, config, &ConnectParams::default())
    })
}

/// The client order id epoch for this start of engine `name` (0 the first time), after
/// recording the next one durably in `dir` (module docs).
fn next_epoch(dir: &Path, name: &str) -> anyhow::Result<u32> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{name}.epoch"));
    let epoch = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<u32>().with_context(|| {
            format!(
                "{}: {:?} is not an epoch number (delete the file only if no \
                 order of this engine is in the gateway's journal)",
                path.display(),
                text.trim()
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let next = epoch
        .checked_add(1)
        .ok_or_else(|| anyhow!("{}: the epochs are exhausted", path.display()))?;
    let tmp = dir.join(format!("{name}.epoch.tmp"));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut file, format!("{next}\n").as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().with_context(|| format!("writing {}", path.display()))?;
    Ok(epoch)
}

/// The journal directory of `node` under `run_dir`.
fn journal_root(node: &NodeConfig, run_dir: &Path) -> PathBuf {
    match &node.journal_dir {
        Some(dir) if dir.is_absolute() => dir.clone(),
        Some(dir) => run_dir.join(dir),
        None => run_dir.join("journal"),
    }
}

/// Connects and launches node `name` of `topology`, journaling under `run_dir` and
/// counting into `stats`; gives up early when `stop` is set.
pub(crate) fn start(
    topology: &Topology,
    name: &str,
    run_dir: &Path,
    stats: Arc<NodeStats>,
    stop: &AtomicBool,
) -> anyhow::Result<RunningNode> {
    let node = topology
        .node(name)
        .ok_or_else(|| anyhow!("the topology has no node {name:?}"))?;
    let local_ip = [
        node.venue.as_ref().map(|v| v.md_listen.ip()),
        node.feed.as_ref().map(|f| f.listen.ip()),
        node.gateway.as_ref().map(|g| g.listen.ip()),
    ]
    .into_iter()
    .flatten()
    .next();
    // One device and PD per component, as if each ran alone (and because the soft
    // stack places a ring WRITE between two QPs of one device wrongly; see the report).
    let open = || -> anyhow::Result<Verbs> {
        let dev = match local_ip {
            Some(ip) => Device::open_for(node.backend, ip),
            None => Device::open(node.backend),
        }
        .with_context(|| format!("opening the {:?} verbs device", node.backend))?;
        let pd = dev
            .try_alloc_pd()
            .context("allocating a protection domain")?;
        Ok(Verbs { dev, pd })
    };
    let venue_v = open()?;
    let feed_v = open()?;
    let gw_v = open()?;
    let engine_v = node
        .engines
        .iter()
        .map(|_| open())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (venue_node, venue_cfg) = topology.venue().ok_or_else(|| anyhow!("no venue"))?;
    let (feed_node, feed_cfg) = topology.feed().ok_or_else(|| anyhow!("no feed"))?;
    let (gw_node, gw_cfg) = topology.gateway().ok_or_else(|| anyhow!("no gateway"))?;
    let patience = Patience {
        max_pause: Duration::from_millis(node.reconnect.max_backoff_ms),
        stop,
    };
    let feed_timeout = Nanos::from(Duration::from_millis(node.reconnect.peer_timeout_ms));
    let engine_count = topology.engines().count();

    // Listeners of this node's components, then the addresses everybody connects to
    // (ports 0 only ever reach components of this node: validated).
    let venue_l = match &node.venue {
        Some(v) => Some((
            bind(&venue_v.pd, v.md_listen, "the feed")?,
            bind(&venue_v.pd, v.orders_listen, "the gateway")?,
        )),
        None => None,
    };
    let feed_l = match &node.feed {
        Some(f) => Some(bind(&feed_v.pd, f.listen, "engines")?),
        None => None,
    };
    let gw_l = match &node.gateway {
        Some(g) => Some(bind(&gw_v.pd, g.listen, "engines")?),
        None => None,
    };
    let md_addr = venue_l
        .as_ref()
        .map_or(venue_cfg.md_listen, |(md, _)| md.local_addr());
    let orders_addr = venue_l
        .as_ref()
        .map_or(venue_cfg.orders_listen, |(_, o)| o.local_addr());
    let feed_addr = feed_l
        .as_ref()
        .map_or(feed_cfg.listen, Listener::local_addr);
    let gw_addr = gw_l.as_ref().map_or(gw_cfg.listen, Listener::local_addr);
    // Who is at the other end of each connection.
    let venue_md = Peer::new("venue", &venue_node.name, md_addr);
    let venue_orders = Peer::new("venue", &venue_node.name, orders_addr);
    let feed_of_venue = Peer::new("feed", &feed_node.name, md_addr);
    let gw_of_venue = Peer::new("gateway", &gw_node.name, orders_addr);
    let feed_peer = Peer::new("feed", &feed_node.name, feed_addr);
    let gw_peer = Peer::new("gateway", &gw_node.name, gw_addr);
    let engines_of_feed: Vec<Peer> = topology
        .engines()
        .map(|(n, e)| Peer::new(format!("engine {}", e.name), &n.name, feed_addr))
        .collect();
    let engines_of_gw = {
        let (mut names, mut nodes): (Vec<&str>, Vec<&str>) = topology
            .engines()
            .map(|(n, e)| (e.name.as_str(), n.name.as_str()))
            .unzip();
        nodes.dedup();
        let role = if names.len() == 1 {
            "engine"
        } else {
            "engines"
        };
        names.insert(0, role);
        Peer::new(names.join(" "), &nodes.join(", "), gw_addr)
    };
    let engine_epochs = node
        .engines
        .iter()
        .map(|e| next_epoch(&journal_root(node, run_dir).join("engine"), &e.name))
        .collect::<anyhow::Result<Vec<u32>>>()?;

    let instruments = topology
        .instruments
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            let symbol = Symbol::new(&inst.symbol)?;
            Ok(VenueInstrument {
                id: InstrumentId(i as u32 + 1),
                stock: itch_stock(i, symbol),
                start: inst.start_price,
                tick: inst.tick_size,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let journal_dir = node
        .gateway
        .as_ref()
        .map(|_| journal_root(node, run_dir).join("gateway"));
    let engine_offset = topology
        .engines()
        .position(|(n, _)| n.name == node.name)
        .unwrap_or(0);

    let mut agents: Vec<NamedAgent> = Vec::new();
    let (venue_r, feed_r, gw_r) = (&venue_v, &feed_v, &gw_v);
    thread::scope(|s| -> anyhow::Result<()> {
        // Accepting sides.
        let (feed_of_venue, gw_of_venue) = (&feed_of_venue, &gw_of_venue);
        let venue_acc = venue_l.as_ref().map(|(md_l, orders_l)| {
            (
                s.spawn(move || {
                    let Verbs { dev, pd } = venue_r;
                    accept_channel(
                        dev,
                        pd,
                        md_l,
                        order_channel_config(),
                        feed_of_venue,
                        patience,
                    )
                }),
                s.spawn(move || {
                    let Verbs { dev, pd } = venue_r;
                    accept_channel(
                        dev,
                        pd,
                        orders_l,
                        order_channel_config(),
                        gw_of_venue,
                        patience,
                    )
                }),
            )
        });
        let ring_slots = feed_cfg.ring_slots;
        let engines_of_feed = &engines_of_feed;
        let engines_of_gw = &engines_of_gw;
        let (venue_md, venue_orders) = (&venue_md, &venue_orders);
        // The feed and the gateway take their engines only once connected to the venue:
        // an engine accepted by a feed that cannot publish yet would time out.
        let feed_acc = feed_l.as_ref().map(|l| {
            s.spawn(move || -> anyhow::Result<(MessageChannel, Vec<_>)> {
                let input = connect_channel(
                    &feed_r.dev,
                    &feed_r.pd,
                    venue_md,
                    order_channel_config(),
                    patience,
                )?;
                let mut acceptor = SubscriberAcceptor::new(
                    l,
                    &feed_r.dev,
                    &feed_r.pd,
                    RingWriterConfig::default(),
                    default_channel_config(),
                );
                let links = (0..engine_count)
                    .map(|i| {
                        let peer = engines_of_feed.get(i).unwrap_or(engines_of_gw);
                        let deadline = monotonic_now().saturating_add(SETUP_TIMEOUT);
                        loop {
                            patience.check()?;
                            match acceptor.accept(STEP) {
                                Ok(link) => break Ok(link),
                                Err(SetupError::Timeout(_)) if monotonic_now() < deadline => {}
                                Err(e) => {
                                    break Err(peer.lost(format!("not accepted: {e}")).into());
                                }
                            }
                        }
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                Ok((input, links))
            })
        });
        let gw_acc = gw_l.as_ref().map(|l| {
            s.spawn(move || -> anyhow::Result<(MessageChannel, Vec<_>)> {
                let Verbs { dev, pd } = gw_r;
                let venue =
                    connect_channel(dev, pd, venue_orders, order_channel_config(), patience)?;
                let sessions = (0..engine_count)
                    .map(|_| {
                        let config = order_channel_config();
                        accept_channel(dev, pd, l, config, engines_of_gw, patience)
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                Ok((venue, sessions))
            })
        });
        // Connecting sides.
        let (feed_peer, gw_peer) = (&feed_peer, &gw_peer);
        let engine_conns: Vec<_> = node
            .engines
            .iter()
            .zip(&engine_v)
            .enumerate()
            .map(|(j, (_, Verbs { dev, pd }))| {
                let token = (engine_offset + j + 1) as u64;
                s.spawn(move || -> anyhow::Result<(Subscriber, MessageChannel)> {
                    let config = SubscriberConfig {
                        ring: RingConfig {
                            slot_size: 192,
                            slot_count: ring_slots,
                            placement: SeqPlacement::InWrite,
                        },
                        // The feed may have published for a while (this engine
                        // restarted, or started late): books from a snapshot first.
                        join: Join::Snapshot,
                        ..SubscriberConfig::new(token)
                    };
                    let sub = retry(feed_peer, patience, || {
                        Subscriber::connect(dev, pd, feed_addr, &config)
                    })?;
                    let config = order_channel_config();
                    let ch = connect_channel(dev, pd, gw_peer, config, patience)?;
                    Ok((sub, ch))
                })
            })
            .collect();

        let join = |what: &str| anyhow!("{what} set-up thread panicked");
        // Engines first: their connections complete the feed's and gateway's accepts.
        let mut engines = Vec::new();
        for h in engine_conns {
            engines.push(h.join().map_err(|_| join("engine"))??);
        }
        if let Some((md, orders)) = venue_acc {
            let md = md.join().map_err(|_| join("venue"))??;
            let orders = orders.join().map_err(|_| join("venue"))??;
            let v = node.venue.as_ref().ok_or_else(|| anyhow!("venue"))?;
            let links = VenueLinks {
                md,
                feed: feed_of_venue.clone(),
                orders,
                gateway: gw_of_venue.clone(),
            };
            let agent = VenueAgent::new(&instruments, links, v.rate, v.seed, stats.clone());
            agents.push(with_core(NamedAgent::new("tw-venue", agent), v.core));
        }
        if let Some(feed) = feed_acc {
            let (input, links) = feed.join().map_err(|_| join("feed"))??;
            let f = node.feed.as_ref().ok_or_else(|| anyhow!("feed"))?;
            let config = PublisherConfig {
                name: "feed".to_owned(),
                feed: FeedConfig::default(),
                batch: 32,
                ..PublisherConfig::default()
            };
            let mut publisher = Publisher::new(config, ChannelItch::new(input));
            if f.record {
                let dir = journal_root(node, run_dir).join("md");
                let recorder = tickwarp_feed::recorder::Recorder::open(
                    &dir,
                    FsyncPolicy::Never,
                    JournalConfig::default().segment_bytes,
                )
                .with_context(|| {
                    format!("opening the market data recording in {}", dir.display())
                })?;
                publisher = publisher.with_recorder(recorder);
            }
            for link in links {
                publisher.add_subscriber(link);
            }
            let agent = FeedAgent::new(
                publisher,
                venue_md.clone(),
                engines_of_feed.clone(),
                feed_addr,
                stats.clone(),
            );
            agents.push(with_core(NamedAgent::new("tw-feed", agent), f.core));
        }
        for (((sub, ch), cfg), epoch) in engines.into_iter().zip(&node.engines).zip(&engine_epochs)
        {
            let mut engine = Engine::new(EngineConfig {
                id_tag: cfg.id_tag.clone(),
                max_open_orders: cfg.max_open_orders,
            })?
            .with_id_epoch(*epoch);
            for st in &cfg.strategies {
                engine.add(by_name(&st.name, toml::Value::Table(st.fields.clone()))?)?;
            }
            let links = EngineLinks {
                md: RingMdSource::new(sub),
                feed: feed_peer.clone(),
                channel: ch,
                gateway: gw_peer.clone(),
                feed_timeout,
            };
            let agent = EngineAgent::new(&cfg.name, engine, links, stats.clone());
            agents.push(with_core(
                NamedAgent::new(format!("tw-{}", cfg.name), agent),
                cfg.core,
            ));
        }
        if let Some(gw) = gw_acc {
            let (venue, sessions) = gw.join().map_err(|_| join("gateway"))??;
            let g = node.gateway.as_ref().ok_or_else(|| anyhow!("gateway"))?;
            let dir = journal_dir.clone().ok_or_else(|| anyhow!("journal"))?;
            let fsync = match g.fsync {
                FsyncConfig::EveryRecord => FsyncPolicy::EveryRecord,
                FsyncConfig::Batched => FsyncPolicy::Batched {
                    max_records: 256,
                    max_delay: Duration::from_millis(1),
                },
                FsyncConfig::Never => FsyncPolicy::Never,
            };
            let core_config = CoreConfig {
                journal_dir: dir.clone(),
                journal: JournalConfig {
                    fsync,
                    ..JournalConfig::default()
                },
                max_orders: MAX_ORDERS,
                limits: g.risk.clone(),
                instruments: instruments.iter().map(|i| i.id).collect(),
                references: instruments.iter().map(|i| (i.id, i.start)).collect(),
            };
            let now = VenueTime {
                wall: unix_now(),
                mono: monotonic_now(),
            };
            let (core, recovered) = OrderCore::open(core_config, RemoteVenue::new(venue)?, now)
                .with_context(|| {
                    format!("opening the gateway's order journal in {}", dir.display())
                })?;
            // Only the first start of this process: later ones reopen what it wrote.
            let _ = stats.journal_before.set(recovered.records);
            if recovered.records > 0 {
                eprintln!(
                    "gateway: recovered {} journal records, {} open orders resubmitted",
                    recovered.records, recovered.open_orders
                );
            }
            let fix = fix_acceptor(topology, node, g, run_dir)?;
            let agent = GatewayAgent::new(
                core,
                venue_orders.clone(),
                fix,
                sessions,
                engines_of_gw.clone(),
                stats.clone(),
            );
            agents.push(with_core(NamedAgent::new("tw-gateway", agent), g.core));
        }
        Ok(())
    })?;

    let mut template = RunnerConfig::new(format!("tw-{}", node.name)).with_idle(node.idle);
    if let Some(core) = node.core {
        template = template.with_core(core, false);
    }
    let launched = launch(node.threading, &template, agents).context("starting the agents")?;
    Ok(RunningNode {
        launched,
        stats,
        journal_dir,
        started: monotonic_now(),
        _verbs: [venue_v, feed_v, gw_v]
            .into_iter()
            .chain(engine_v)
            .collect(),
    })
}

/// The topology's instruments by symbol, ids 1, 2, … in file order.
pub(crate) fn instrument_table(topology: &Topology) -> anyhow::Result<InstrumentTable> {
    let mut table = InstrumentTable::new();
    for (i, inst) in topology.instruments.iter().enumerate() {
        table
            .insert_str(&inst.symbol, InstrumentId(i as u32 + 1))
            .with_context(|| format!("instrument {}", inst.symbol))?;
    }
    Ok(table)
}

/// The FIX acceptor for the gateway's configured sessions (none when there are none).
/// Every session's sequence numbers live in one shared session log under the node's
/// journal directory (`fix/sessions`), synced every round whatever the order journal does.
fn fix_acceptor(
    topology: &Topology,
    node: &NodeConfig,
    gateway: &GatewayNodeConfig,
    run_dir: &Path,
) -> anyhow::Result<Option<FixAcceptor>> {
    let Some(addr) = gateway.fix_listen else {
        return Ok(None);
    };
    let table = instrument_table(topology)?;
    let mut sessions = Vec::with_capacity(gateway.fix_sessions.len());
    // Every session's store is a handle onto one shared log, synced on every round.
    let log_dir = journal_root(node, run_dir).join(SESSION_LOG_DIR);
    let log = SessionLog::open(
        &log_dir,
        JournalConfig {
            fsync: FsyncPolicy::EveryRecord,
            ..JournalConfig::default()
        },
    )
    .with_context(|| format!("opening the FIX session log in {}", log_dir.display()))?;
    for (k, s) in gateway.fix_sessions.iter().enumerate() {
        // The session config speaks from the gateway's side: our CompID first.
        let mut config = SessionConfig::new(
            SessionId(k as u32 + 1),
            &s.target_comp_id,
            &s.sender_comp_id,
            AccountId(s.account),
        );
        config.max_heartbeat = Duration::from_secs(u64::from(s.heartbeat_secs));
        config.min_heartbeat = config.min_heartbeat.min(config.max_heartbeat);
        let store = log
            .session(&session_key(&s.target_comp_id, &s.sender_comp_id))
            .with_context(|| format!("opening the FIX session store in {}", log_dir.display()))?;
        let credential = match &s.password_hash {
            Some(phc) => Credential::Hash(phc.clone()),
            None => Credential::NoPassword,
        };
        sessions.push(AcceptorSession {
            config,
            credential,
            store,
        });
    }
    let tls = match &gateway.fix_tls {
        Some(settings) => {
            let ix = topology
                .nodes
                .iter()
                .position(|n| std::ptr::eq(n, node))
                .unwrap_or_default();
            Some(settings.acceptor(&format!("node[{ix}].gateway.fix_tls"))?)
        }
        None => None,
    };
    let acceptor = FixAcceptor::bind(addr, sessions, table, FrontDoor::default(), tls)
        .with_context(|| format!("listening for FIX clients on {addr}"))?;
    Ok(Some(acceptor))
}

/// `agent` pinned to `core` when one is configured.
fn with_core(agent: NamedAgent, core: Option<usize>) -> NamedAgent {
    match core {
        Some(c) => agent.on_core(c),
        None => agent,
    }
}

impl RunningNode {
    /// Whether every agent thread still runs.
    pub(crate) fn is_running(&self) -> bool {
        self.launched.is_running()
    }

    /// Whether the agents run on the caller's thread ([`RunningNode::invoke`]).
    pub(crate) fn is_invoker(&self) -> bool {
        matches!(self.launched, Launched::Invoker(_))
    }

    /// Drives the agents when the node runs in invoker mode (a no-op otherwise).
    pub(crate) fn invoke(&mut self) -> anyhow::Result<usize> {
        match &mut self.launched {
            Launched::Invoker(invoker) => {
                invoker.invoke(monotonic_now()).map_err(|e| anyhow!("{e}"))
            }
            _ => Ok(0),
        }
    }

    /// Stops the house flow, waits (at most [`DRAIN`]) until orders and executions in
    /// flight have arrived, then stops the agents.
    pub(crate) fn stop(mut self) -> anyhow::Result<Arc<NodeStats>> {
        self.stats.quiesce.store(true, Ordering::Relaxed);
        let deadline = monotonic_now().saturating_add(DRAIN);
        let mut last = None;
        let mut stable = 0;
        while monotonic_now() < deadline && self.is_running() {
            for _ in 0..1_000 {
                self.invoke()?;
            }
            let s = &self.stats;
            let now = [
                s.gw_to_venue.load(Ordering::Relaxed),
                s.venue_orders.load(Ordering::Relaxed),
                s.gw_execs_out.load(Ordering::Relaxed),
                s.engine_execs.load(Ordering::Relaxed),
                s.engine_orders.load(Ordering::Relaxed),
            ];
            stable = if last == Some(now) { stable + 1 } else { 0 };
            last = Some(now);
            if stable >= 5 {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let stats = self.stats.clone();
        if let Err(error) = self.launched.stop() {
            let error = anyhow::Error::from(error);
            match peer_lost(&error) {
                // A peer that stopped first (or died) while this node drained: the run
                // is over anyway, and what was counted stands.
                Some(lost) => tracing::warn!("{lost} while stopping"),
                None => return Err(error),
            }
        }
        Ok(stats)
    }

    /// Stops the agents at once, without a drain (a peer is gone); returns why they
    /// stopped, if one failed.
    pub(crate) fn abort(self) -> Result<(), anyhow::Error> {
        self.launched.stop()?;
        Ok(())
    }
}

/// A flag set by SIGINT and SIGTERM (the first asks for a drained stop).
pub(crate) fn interrupt_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while draining ends the process at once (exit status 1).
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&flag))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&flag)))
            .with_context(|| format!("installing the handler of signal {signal}"))?;
    }
    Ok(flag)
}
