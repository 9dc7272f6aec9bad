//! The topology file: which processes (nodes) run which components, where they listen,
//! on which backend, threads and cores, with which strategies, journals, FIX sessions
//! and risk limits. `tickwarp run --config FILE --node NAME` starts one node of it;
//! `tickwarp demo` runs [`Topology::demo`], the same pipeline as one node.
//!
//! ```toml
//! [[instrument]]                  # ids 1, 2, … in this order; the venue's ITCH locates
//! symbol = "TWRP"
//! start_price = "100.00"
//!
//! [[node]]
//! name = "exchange"
//! backend = "auto"                # auto | soft | hardware
//! threading = "dedicated"         # dedicated | shared | invoker
//! idle = { kind = "busy_spin" }   # busy_spin | yielding | backoff | sleeping | no_op
//! journal_dir = "/var/lib/tickwarp/exchange"
//! # When a peer dies: retry 100 ms, 200 ms, … up to max_backoff_ms between attempts;
//! # give up (exit, naming the cause) after give_up_after_s seconds, 0 = never; a feed
//! # silent (not even a heartbeat) for peer_timeout_ms counts as dead.
//! reconnect = { max_backoff_ms = 5000, give_up_after_s = 0, peer_timeout_ms = 5000 }
//!
//! [node.metrics]                  # this process's counters file (`tickwarp stat`)
//! dir = "/var/lib/tickwarp/exchange/metrics"  # default: <run dir>/metrics
//! listen = "127.0.0.1:9465"       # optional: Prometheus /metrics
//! allow_remote = false            # a non-loopback listen needs true
//!
//! [node.drop_copy]                # gateway nodes: executions and orders into databases
//! sqlite = "dropcopy.sqlite"      # relative paths: to the run directory
//! postgres = "postgresql://tickwarp@127.0.0.1:5432/backoffice"
//!
//! [node.venue]                    # the venue simulator and its synthetic flow
//! md_listen = "10.0.0.1:7401"     # ITCH out to the feed
//! orders_listen = "10.0.0.1:7402" # order entry from the gateway
//! rate = 20000                    # house order events per second
//! core = 2
//!
//! [node.feed]
//! listen = "10.0.0.1:7411"        # ring + control connections of the engines
//!
//! [node.gateway]
//! listen = "10.0.0.1:7421"        # RDMA order entry of the engines
//! fsync = "batched"               # every_record | batched | never
//! fix_listen = "10.0.0.1:9878"    # FIX 4.4 acceptor, when sessions are configured
//! [[node.gateway.fix_session]]
//! sender_comp_id = "CLIENT1"      # the client's CompID
//! target_comp_id = "TICKWARP"     # ours
//! account = 101
//! [node.gateway.risk]             # tickwarp_gateway::risk::RiskLimits
//! max_order_qty = 10000
//! # …
//!
//! [[node.engine]]
//! name = "alpha"
//! id_tag = "A"
//! [[node.engine.strategy]]
//! name = "market_maker"           # plus the strategy's own fields
//! ```
//!
//! Exactly one venue, one feed and one gateway; any number of engines (at least one).
//! Components connect to the listen addresses of the others, so a listen address must be
//! one the connecting node can reach; port 0 (any free port) is allowed only when every
//! component that connects to it runs on the same node. Loading checks all of this
//! ([`Topology::validate`]) and every error names the key (`node[1].engine[0].id_tag`)
//! and the problem.
//!
//! This module parses and checks; it must not open devices, sockets or files other than
//! the one it loads.

mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tickwarp_gateway::risk::{RiskLimits, ThrottleLimits};
use tickwarp_gateway::service::acceptor::TlsSettings;
use tickwarp_gateway::service::metrics::MetricsSection;
use tickwarp_rdma::Backend;
use tickwarp_runtime::{IdleConfig, ThreadingMode};
use tickwarp_wire::{Price, Qty};

pub(crate) use validate::ConfigError;

/// A whole deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Topology {
    /// The instruments traded, ids 1, 2, … in this order.
    #[serde(rename = "instrument")]
    pub(crate) instruments: Vec<InstrumentConfig>,
    /// The processes.
    #[serde(rename = "node")]
    pub(crate) nodes: Vec<NodeConfig>,
}

/// One instrument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstrumentConfig {
    /// Ticker (1 to 8 characters).
    pub(crate) symbol: String,
    /// Where the venue's synthetic flow starts.
    pub(crate) start_price: Price,
    /// Price increment of the synthetic flow.
    #[serde(default = "default_tick_size")]
    pub(crate) tick_size: Price,
}

/// One process and the components it runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeConfig {
    /// Unique name (`--node`).
    pub(crate) name: String,
    /// Which verbs implementation serves this node's connections.
    #[serde(default)]
    pub(crate) backend: Backend,
    /// How the node's agents map onto threads.
    #[serde(default)]
    pub(crate) threading: ThreadingMode,
    /// What an agent's thread does when it found no work.
    #[serde(default)]
    pub(crate) idle: IdleConfig,
    /// The core of the shared thread (shared threading).
    #[serde(default)]
    pub(crate) core: Option<usize>,
    /// Where this node's journals live (relative paths: to the run directory).
    #[serde(default)]
    pub(crate) journal_dir: Option<PathBuf>,
    /// What the node does when a peer dies (`tickwarp run` only).
    #[serde(default)]
    pub(crate) reconnect: ReconnectConfig,
    /// This process's counters file and exporter (the gateway service's `[metrics]`
    /// keys); none: no counters file.
    #[serde(default)]
    pub(crate) metrics: Option<NodeMetricsConfig>,
    /// The drop copy of the gateway's order journal (the gateway service's
    /// `[drop_copy]` keys); only on the node that runs the gateway.
    #[serde(default)]
    pub(crate) drop_copy: Option<NodeDropCopyConfig>,
    /// The venue simulator, if this node runs it.
    #[serde(default)]
    pub(crate) venue: Option<VenueNodeConfig>,
    /// The market data feed, if this node runs it.
    #[serde(default)]
    pub(crate) feed: Option<FeedNodeConfig>,
    /// The order gateway, if this node runs it.
    #[serde(default)]
    pub(crate) gateway: Option<GatewayNodeConfig>,
    /// Strategy engines.
    #[serde(default, rename = "engine")]
    pub(crate) engines: Vec<EngineNodeConfig>,
}

/// A node's `[node.metrics]`: the keys and checks of the gateway service's
/// [`MetricsSection`] (whose `dir` defaults to `<run dir>/metrics` here).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeMetricsConfig {
    /// The run directory of the counters file.
    #[serde(default)]
    pub(crate) dir: Option<PathBuf>,
    /// Where the exporter serves `GET /metrics`; none: no exporter.
    #[serde(default)]
    pub(crate) listen: Option<SocketAddr>,
    /// Accept a non-loopback `listen`.
    #[serde(default)]
    pub(crate) allow_remote: bool,
}

impl NodeMetricsConfig {
    /// As the gateway service's section, relative `dir` resolved against `run_dir`.
    pub(crate) fn section(&self, run_dir: &Path) -> MetricsSection {
        MetricsSection {
            dir: Some(match &self.dir {
                Some(d) => run_dir.join(d),
                None => run_dir.join("metrics"),
            }),
            listen: self.listen,
            allow_remote: self.allow_remote,
        }
    }

    /// Checks `listen` against `allow_remote`.
    pub(crate) fn validate(&self) -> Result<(), String> {
        self.section(Path::new(".")).validate()
    }
}

/// A node's `[node.drop_copy]`: the keys of the gateway service's `[drop_copy]` (neither
/// key: no drop copy). The copy follows the journal's durable boundary, so under
/// `fsync = "never"` it sees records only when the journal rolls a segment or closes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeDropCopyConfig {
    /// SQLite database file (relative paths: to the run directory).
    #[serde(default)]
    pub(crate) sqlite: Option<PathBuf>,
    /// PostgreSQL connection URL (`postgresql://user@host:port/db`).
    #[serde(default)]
    pub(crate) postgres: Option<String>,
}

impl NodeDropCopyConfig {
    /// The databases, a relative `sqlite` resolved against `run_dir`.
    pub(crate) fn targets(&self, run_dir: &Path) -> crate::drop_copy::Targets {
        crate::drop_copy::Targets {
            sqlite: self.sqlite.as_ref().map(|p| run_dir.join(p)),
            postgres: self.postgres.clone(),
        }
    }
}

/// The first pause before a node reconnects to its peers, milliseconds.
pub(crate) const INITIAL_BACKOFF_MS: u64 = 100;

/// How a node of `tickwarp run` reconnects after a peer died: it tears its components
/// down and connects them again, pausing [`INITIAL_BACKOFF_MS`], then twice as long
/// after each failed attempt up to `max_backoff_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ReconnectConfig {
    /// Longest pause between two attempts, milliseconds.
    pub(crate) max_backoff_ms: u64,
    /// Seconds of failed attempts after which the node exits; 0: never give up.
    pub(crate) give_up_after_s: u64,
    /// A feed that sent nothing (not even a heartbeat) for this long is dead,
    /// milliseconds.
    pub(crate) peer_timeout_ms: u64,
}

impl Default for ReconnectConfig {
    /// Up to 5 s between attempts, never give up, 5 s of feed silence.
    fn default() -> ReconnectConfig {
        ReconnectConfig {
            max_backoff_ms: 5_000,
            give_up_after_s: 0,
            peer_timeout_ms: 5_000,
        }
    }
}

/// The venue simulator with its synthetic house flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VenueNodeConfig {
    /// Where the feed connects for the venue's ITCH.
    pub(crate) md_listen: SocketAddr,
    /// Where the gateway connects to send orders.
    pub(crate) orders_listen: SocketAddr,
    /// House order events per second (adds, cancels, marketable orders).
    #[serde(default = "default_rate")]
    pub(crate) rate: u32,
    /// Seed of the house flow.
    #[serde(default = "default_seed")]
    pub(crate) seed: u64,
    /// Core of the venue's thread (dedicated threading).
    #[serde(default)]
    pub(crate) core: Option<usize>,
}

/// The feed: ITCH from the venue, books, market data rings to the engines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FeedNodeConfig {
    /// Where engines connect their rings and control channels.
    pub(crate) listen: SocketAddr,
    /// Slots of each engine's ring (a power of two).
    #[serde(default = "default_ring_slots")]
    pub(crate) ring_slots: u32,
    /// Record the published market data under the node's journal directory.
    #[serde(default)]
    pub(crate) record: bool,
    /// Core of the feed's thread (dedicated threading).
    #[serde(default)]
    pub(crate) core: Option<usize>,
}

/// When the gateway syncs its journal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FsyncConfig {
    /// Before every order goes on (durable per order, slowest).
    EveryRecord,
    /// Every 256 records or 1 ms, whichever comes first.
    #[default]
    Batched,
    /// Never (the OS writes back).
    Never,
}

/// The order gateway.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewayNodeConfig {
    /// Where engines (and VM clients) connect for RDMA order entry.
    pub(crate) listen: SocketAddr,
    /// Journal sync policy.
    #[serde(default)]
    pub(crate) fsync: FsyncConfig,
    /// Pre-trade risk limits.
    #[serde(default = "default_risk")]
    pub(crate) risk: RiskLimits,
    /// Where FIX 4.4 clients connect, if any are configured.
    #[serde(default)]
    pub(crate) fix_listen: Option<SocketAddr>,
    /// TLS on `fix_listen` (PEM certificate, key, optional client CA; relative paths
    /// are relative to the working directory, as `journal_dir` is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fix_tls: Option<TlsSettings>,
    /// Accept a non-loopback `fix_listen` without `fix_tls` although FIX then travels
    /// in clear.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) allow_plaintext: bool,
    /// FIX sessions accepted on `fix_listen`.
    #[serde(default, rename = "fix_session")]
    pub(crate) fix_sessions: Vec<FixSessionConfig>,
    /// Core of the gateway's thread (dedicated threading).
    #[serde(default)]
    pub(crate) core: Option<usize>,
}

/// One FIX 4.4 session the gateway accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FixSessionConfig {
    /// The client's SenderCompID (49).
    pub(crate) sender_comp_id: String,
    /// The gateway's CompID, the client's TargetCompID (56).
    pub(crate) target_comp_id: String,
    /// The account the session's orders trade for.
    pub(crate) account: u32,
    /// argon2id PHC string the Logon's Password (554) must verify against (from
    /// `tickwarp passwd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) password_hash: Option<String>,
    /// Accept Logons without a password (anyone who knows the CompIDs can log on).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) allow_no_password: bool,
    /// A plaintext `password`: only read to be refused with a helpful message.
    #[serde(default, rename = "password", skip_serializing)]
    pub(crate) plaintext_password: Option<String>,
    /// Largest heartbeat interval (108) a client may ask for, seconds.
    #[serde(default = "default_heartbeat")]
    pub(crate) heartbeat_secs: u32,
}

/// A strategy engine and its strategies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EngineNodeConfig {
    /// Unique name.
    pub(crate) name: String,
    /// Client order id prefix (0 to 4 letters or digits), unique per engine.
    #[serde(default)]
    pub(crate) id_tag: String,
    /// Open orders per strategy.
    #[serde(default = "default_max_open")]
    pub(crate) max_open_orders: usize,
    /// The strategies.
    #[serde(rename = "strategy")]
    pub(crate) strategies: Vec<StrategyConfig>,
    /// Core of the engine's thread (dedicated threading).
    #[serde(default)]
    pub(crate) core: Option<usize>,
}

/// One strategy: a registry name and its fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct StrategyConfig {
    /// Registry name (one of `tickwarp_strategies::builtin::NAMES`).
    pub(crate) name: String,
    /// The strategy's own fields (its defaults for those left out).
    #[serde(flatten)]
    pub(crate) fields: toml::Table,
}

fn default_tick_size() -> Price {
    Price::from_ticks(100)
}

fn default_rate() -> u32 {
    20_000
}

fn default_seed() -> u64 {
    0x7ec4_4a6e
}

fn default_ring_slots() -> u32 {
    1_024
}

fn default_heartbeat() -> u32 {
    120
}

fn default_max_open() -> usize {
    64
}

/// Risk limits roomy enough for the demo's strategies and flow.
pub(crate) fn default_risk() -> RiskLimits {
    RiskLimits {
        max_order_qty: Qty(10_000),
        max_notional: Price::from_ticks(10_000_000 * Price::SCALE),
        collar_bps: 0,
        credit_limit: Price::from_ticks(1_000_000_000 * Price::SCALE),
        max_position: Qty(1_000_000),
        max_orders_per_day: 200_000,
        throttle: ThrottleLimits {
            msgs_per_sec: 200_000,
            burst: 20_000,
        },
        restricted: Vec::new(),
        accounts: Vec::new(),
        instruments: Vec::new(),
    }
}

/// Why a topology file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The text is not a topology (TOML syntax, a wrong type, an unknown key).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the key and line.
        message: String,
    },
    /// The topology parses but is inconsistent.
    #[error("{path}: {error}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Which key and what is wrong.
        error: ConfigError,
    },
}

impl Topology {
    /// Reads, parses and validates the topology in `path`.
    pub(crate) fn load(path: &Path) -> Result<Topology, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        Topology::parse(&text).map_err(|e| match e {
            ParseError::Toml(message) => LoadError::Parse {
                path: path.to_owned(),
                message,
            },
            ParseError::Invalid(error) => LoadError::Invalid {
                path: path.to_owned(),
                error,
            },
        })
    }

    /// Parses and validates topology text.
    pub(crate) fn parse(text: &str) -> Result<Topology, ParseError> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| ParseError::Toml(e.to_string()))?;
        validate::check_ranges(&table).map_err(ParseError::Invalid)?;
        let topology: Topology =
            toml::from_str(text).map_err(|e| ParseError::Toml(e.to_string()))?;
        topology.validate().map_err(ParseError::Invalid)?;
        Ok(topology)
    }

    /// The node called `name`.
    pub(crate) fn node(&self, name: &str) -> Option<&NodeConfig> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The venue and the node running it.
    pub(crate) fn venue(&self) -> Option<(&NodeConfig, &VenueNodeConfig)> {
        self.nodes
            .iter()
            .find_map(|n| n.venue.as_ref().map(|v| (n, v)))
    }

    /// The feed and the node running it.
    pub(crate) fn feed(&self) -> Option<(&NodeConfig, &FeedNodeConfig)> {
        self.nodes
            .iter()
            .find_map(|n| n.feed.as_ref().map(|f| (n, f)))
    }

    /// The gateway and the node running it.
    pub(crate) fn gateway(&self) -> Option<(&NodeConfig, &GatewayNodeConfig)> {
        self.nodes
            .iter()
            .find_map(|n| n.gateway.as_ref().map(|g| (n, g)))
    }

    /// Every engine with the node running it, in file order.
    pub(crate) fn engines(&self) -> impl Iterator<Item = (&NodeConfig, &EngineNodeConfig)> + '_ {
        self.nodes
            .iter()
            .flat_map(|n| n.engines.iter().map(move |e| (n, e)))
    }

    /// The embedded default: everything on one node over the soft stack on loopback
    /// (ephemeral ports), one instrument, an engine with a market maker and a pinger.
    pub(crate) fn demo(threading: ThreadingMode, idle: IdleConfig, rate: u32) -> Topology {
        let loopback = |_: ()| SocketAddr::from(([127, 0, 0, 1], 0));
        let strategy = |name: &str, fields: &[(&str, toml::Value)]| StrategyConfig {
            name: name.to_owned(),
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        };
        Topology {
            instruments: vec![InstrumentConfig {
                symbol: "TWRP".to_owned(),
                start_price: Price::from_ticks(100 * Price::SCALE),
                tick_size: default_tick_size(),
            }],
            nodes: vec![NodeConfig {
                name: "demo".to_owned(),
                backend: Backend::Soft,
                threading,
                idle,
                core: None,
                journal_dir: Some(PathBuf::from("journal")),
                reconnect: ReconnectConfig::default(),
                metrics: None,
                drop_copy: None,
                venue: Some(VenueNodeConfig {
                    md_listen: loopback(()),
                    orders_listen: loopback(()),
                    rate,
                    seed: default_seed(),
                    core: None,
                }),
                feed: Some(FeedNodeConfig {
                    listen: loopback(()),
                    ring_slots: default_ring_slots(),
                    // Recorded so that `tickwarp replay` can run on what the demo saw.
                    record: true,
                    core: None,
                }),
                gateway: Some(GatewayNodeConfig {
                    listen: loopback(()),
                    // The demo measures the order path, not the disk: records are
                    // written before an order goes on, the OS syncs them.
                    fsync: FsyncConfig::Never,
                    risk: default_risk(),
                    fix_listen: None,
                    fix_tls: None,
                    allow_plaintext: false,
                    fix_sessions: Vec::new(),
                    core: None,
                }),
                engines: vec![EngineNodeConfig {
                    name: "engine".to_owned(),
                    id_tag: "D".to_owned(),
                    max_open_orders: default_max_open(),
                    strategies: vec![
                        strategy("market_maker", &[]),
                        strategy("pinger", &[("every", toml::Value::Integer(20))]),
                    ],
                    core: None,
                }],
            }],
        }
    }
}

/// Why topology text was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParseError {
    /// Not TOML, or not the topology's shape (the message names key and line).
    #[error("{0}")]
    Toml(String),
    /// Inconsistent.
    #[error("{0}")]
    Invalid(ConfigError),
}
