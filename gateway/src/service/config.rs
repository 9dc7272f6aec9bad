//! [`GatewayConfig`]: the gateway's TOML configuration — where it listens (FIX over TCP,
//! optionally binary orders over RDMA), the FIX sessions it accepts, the risk limits (a
//! file or an inline table), the order journal and its fsync policy, and the instruments
//! and house liquidity of the built-in venue simulator.
//!
//! ```toml
//! listen = "127.0.0.1:9878"         # FIX acceptor; the default binds loopback only
//! tls = { cert = "fix.crt", key = "fix.key" }  # optional: FIX over TLS (+ client_ca = "ca.crt")
//! max_orders = 100000               # order store capacity (open and done orders)
//!
//! [journal]
//! dir = "/var/lib/tickwarp/gateway" # orders/ and fix/<session>/ live under it
//! fsync = "every_record"            # or "never", or { batched = { max_records = 64, max_delay_us = 500 } }
//!
//! risk_file = "risk.toml"           # relative to this file; or an inline [risk] table
//!
//! [[instruments]]
//! symbol = "ACME"
//! id = 1
//! reference_price = "100"           # optional: collars market orders before any trade
//!
//! [[sessions]]
//! id = 1                            # stable: the journal routes executions by it
//! sender_comp_id = "TICKWARP"       # our CompID
//! target_comp_id = "CLIENT1"        # the client's CompID
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."  # from `tickwarp passwd`
//! account = 101
//! cancel_on_disconnect = true       # optional: cancel open orders when the session drops
//! cancel_on_disconnect_grace_ms = 5000  # ... unless it logs on again within this time
//!
//! [[sessions]]                      # a read-only drop copy (see `crate::fix::drop_copy`)
//! id = 9
//! sender_comp_id = "TICKWARP"
//! target_comp_id = "BACKOFFICE"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."
//! role = "drop_copy"                # default "order"
//! accounts = [101, 102]             # optional: whose ExecutionReports; absent = all
//!
//! [front_door]                      # optional: limits before and after logon
//! max_logon_bytes = 4096
//! logon_timeout_ms = 2000
//!
//! [rdma]
//! listen = "127.0.0.1:9879"
//! accounts = [201]
//! max_connections = 64              # clients at once; more are rejected (MPA Reject)
//! max_slots = 64                    # receive slots per client, and the credits used
//! max_slot_bytes = 256              # bytes per slot; a client's larger proposal is clamped
//! memory_budget_mib = 16            # channel memory of all clients at most
//!
//! [[rdma.tokens]]                   # one per account: the client's credential
//! account = 201
//! token_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."
//!
//! [metrics]                         # optional: counters file for `tickwarp stat`
//! dir = "/var/lib/tickwarp/gateway/metrics"  # the default: <journal.dir>/metrics
//! listen = "127.0.0.1:9464"         # optional: Prometheus GET /metrics
//! [drop_copy]                       # optional: executions and orders into databases
//! sqlite = "dropcopy.sqlite"        # relative to this file
//! postgres = "postgresql://tickwarp@127.0.0.1:5432/backoffice"
//!
//! [[venue.liquidity]]               # resting orders of the house account, seeded at start
//! symbol = "ACME"
//! side = "sell"
//! price = "100.5"
//! qty = 1000
//! ```
//!
//! Passwords are stored only as argon2id PHC strings (`password_hash`, made by
//! `tickwarp passwd`); a plaintext `password` key is refused at load. A session without
//! a password needs `allow_no_password = true`. Without `tls` the FIX listener speaks
//! plain TCP, and a non-loopback `listen` address is refused unless
//! `allow_plaintext = true`; with `tls` (PEM files, relative paths relative to this
//! file; see [`TlsSettings`]) it speaks only TLS and may listen anywhere. The files are
//! loaded when the gateway starts ([`TlsSettings::acceptor`]), not here.
//!
//! Every numeric key has a documented range ([`RANGES`] here, [`crate::risk::LIMIT_RANGES`]
//! for `[risk]`), checked on the TOML before deserialization: the error names the key,
//! the value as written and the range. Nothing is sized by a configuration number
//! without one of these bounds.
//!
//! This module reads files (the configuration and the risk file) and nothing else; it
//! never opens sockets or journals.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tickwarp_rdma::verbs::Backend;
use tickwarp_wire::journal::{FsyncPolicy, JournalConfig};
use tickwarp_wire::{AccountId, InstrumentId, InstrumentTable, Price, Qty, Side};

use super::acceptor::{Credential, FrontDoor, TlsSettings, check_phc};
use super::metrics::MetricsSection;
use super::rdma_auth::{self, TokenTable};
use super::rdma_entry::RdmaEntrySettings;
use crate::fix::DropCopyScope;
use crate::ranges::{self, KeyRange, RangeError};
use crate::risk::{LoadLimitsError, RiskLimits};

/// The default FIX listen address: loopback only, port 9878.
pub const DEFAULT_FIX_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9878);
/// The default order store capacity.
pub const DEFAULT_MAX_ORDERS: usize = 100_000;
/// The default house account of the simulator's seeded liquidity.
pub const DEFAULT_HOUSE_ACCOUNT: AccountId = AccountId(0);

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The text is not a valid gateway configuration.
    #[error("gateway config: {0}")]
    Toml(#[from] toml::de::Error),
    /// The risk limits are unusable.
    #[error(transparent)]
    Risk(#[from] LoadLimitsError),
    /// The configuration is well formed but inconsistent.
    #[error("gateway config: {0}")]
    Invalid(String),
    /// A numeric key is out of its range.
    #[error("gateway config: {0}")]
    Range(#[from] RangeError),
}

/// Most orders the order store may be sized for.
pub const MAX_ORDERS: i64 = 10_000_000;
/// Largest journal segment, MiB.
pub const MAX_SEGMENT_MIB: i64 = 4_096;

/// The allowed range of every numeric key of the gateway configuration (the `[risk]`
/// table has its own, [`crate::risk::LIMIT_RANGES`]).
pub const RANGES: &[KeyRange] = &[
    KeyRange::new("max_orders", 1, MAX_ORDERS),
    KeyRange::new("journal.segment_mib", 1, MAX_SEGMENT_MIB),
    KeyRange::new("journal.fsync.batched.max_records", 1, 1_000_000),
    KeyRange::new("journal.fsync.batched.max_delay_us", 0, 10_000_000),
    KeyRange::new("instruments[].id", 0, u32::MAX as i64),
    KeyRange::new("sessions[].id", 0, (1 << 31) - 1),
    KeyRange::new("sessions[].account", 0, u32::MAX as i64),
    KeyRange::new("sessions[].accounts[]", 0, u32::MAX as i64),
    KeyRange::new("sessions[].min_heartbeat_secs", 1, 3_600),
    KeyRange::new("sessions[].max_heartbeat_secs", 1, 3_600),
    KeyRange::new("sessions[].cancel_on_disconnect_grace_ms", 0, 3_600_000),
    KeyRange::new("rdma.accounts[]", 0, u32::MAX as i64),
    KeyRange::new("rdma.tokens[].account", 0, u32::MAX as i64),
    KeyRange::new("rdma.max_connections", 1, 1_024),
    KeyRange::new("rdma.max_slots", 4, 4_096),
    KeyRange::new("rdma.max_slot_bytes", 136, 65_536),
    KeyRange::new("rdma.memory_budget_mib", 1, 4_096),
    KeyRange::new("rdma.handshake_timeout_ms", 100, 60_000),
    KeyRange::new("rdma.max_half_open", 1, 4_096),
    KeyRange::new("venue.house_account", 0, u32::MAX as i64),
    KeyRange::new("venue.max_resting_orders", 1, MAX_ORDERS),
    KeyRange::new("venue.liquidity[].qty", 1, 1_000_000_000),
];

/// When the order journal syncs, as written in TOML.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FsyncSetting {
    /// Sync every record before it is acknowledged (the default).
    #[default]
    EveryRecord,
    /// Group commit: acknowledgements wait for a sync, which happens once per duty cycle
    /// or when a limit is reached.
    Batched {
        /// Records that trigger a sync.
        max_records: u32,
        /// Age in microseconds of the oldest unsynced record that triggers a sync.
        max_delay_us: u64,
    },
    /// Never sync (the OS writes back when it likes): acknowledged orders may be lost
    /// by a host crash, not by a process crash.
    Never,
}

impl FsyncSetting {
    /// The journal policy.
    pub fn policy(self) -> FsyncPolicy {
        match self {
            FsyncSetting::EveryRecord => FsyncPolicy::EveryRecord,
            FsyncSetting::Batched {
                max_records,
                max_delay_us,
            } => FsyncPolicy::Batched {
                max_records,
                max_delay: Duration::from_micros(max_delay_us),
            },
            FsyncSetting::Never => FsyncPolicy::Never,
        }
    }
}

/// The journal section.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSection {
    /// Root directory: the order journal is `orders/`, each FIX session's store
    /// `fix/<sender>-<target>/`.
    pub dir: PathBuf,
    /// Sync policy of the order journal and of every FIX session store (each syncs once
    /// per duty cycle under `every_record`, before the messages it covers leave).
    #[serde(default)]
    pub fsync: FsyncSetting,
    /// Segment file size in MiB.
    #[serde(default = "default_segment_mib")]
    pub segment_mib: u64,
}

fn default_segment_mib() -> u64 {
    64
}

impl JournalSection {
    /// The journal writer settings.
    pub fn journal_config(&self) -> JournalConfig {
        JournalConfig {
            segment_bytes: self.segment_mib.max(1) << 20,
            fsync: self.fsync.policy(),
        }
    }

    /// The order journal directory.
    pub fn orders_dir(&self) -> PathBuf {
        self.dir.join(ORDERS_JOURNAL)
    }

    /// The store directory of the FIX session between `sender` (us) and `target`.
    pub fn session_dir(&self, sender: &str, target: &str) -> PathBuf {
        self.dir.join(session_journal(sender, target))
    }
}

/// The order journal's directory name under the journal directory.
pub const ORDERS_JOURNAL: &str = "orders";

/// The store directory of the FIX session between `sender` (us) and `target`, relative
/// to the journal directory.
pub fn session_journal(sender: &str, target: &str) -> String {
    format!("fix/{sender}-{target}")
}

/// One tradable instrument.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentConfig {
    /// FIX Symbol (55), at most 8 ASCII characters.
    pub symbol: String,
    /// The instrument id on the wire.
    pub id: InstrumentId,
    /// Reference price for collars until the venue trades.
    #[serde(default)]
    pub reference_price: Option<Price>,
}

/// One FIX session the acceptor accepts.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixSessionConfig {
    /// Stable session id (executions are routed by it across restarts).
    pub id: u32,
    /// Our CompID.
    pub sender_comp_id: String,
    /// The client's CompID.
    pub target_comp_id: String,
    /// Username (553) the Logon must carry.
    #[serde(default)]
    pub username: Option<String>,
    /// The argon2id PHC string the Logon's Password (554) must verify against (make it
    /// with `tickwarp passwd`).
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Accept Logons without a password (anyone who knows the CompIDs can log on).
    #[serde(default)]
    pub allow_no_password: bool,
    /// A plaintext `password` key: only read to be refused with a helpful message.
    #[serde(default, rename = "password")]
    plaintext_password: Option<String>,
    /// The account every order of the session trades for (an order session's; a drop
    /// copy has none).
    #[serde(default)]
    pub account: Option<AccountId>,
    /// What the session is for: orders (the default) or a read-only drop copy.
    #[serde(default)]
    pub role: SessionRole,
    /// A drop copy's accounts: it receives the ExecutionReports of these; absent, of
    /// every account.
    #[serde(default)]
    pub accounts: Option<Vec<AccountId>>,
    /// Smallest HeartBtInt accepted, seconds.
    #[serde(default)]
    pub min_heartbeat_secs: Option<u64>,
    /// Largest HeartBtInt accepted, seconds.
    #[serde(default)]
    pub max_heartbeat_secs: Option<u64>,
    /// Reset both sequence numbers to 1 on every Logon (QuickFIX ResetOnLogon).
    #[serde(default)]
    pub reset_on_logon: bool,
    /// Reset both sequence numbers to 1 after a Logout (QuickFIX ResetOnLogout).
    #[serde(default)]
    pub reset_on_logout: bool,
    /// Reset both sequence numbers to 1 when a logged-on connection ends (QuickFIX
    /// ResetOnDisconnect).
    #[serde(default)]
    pub reset_on_disconnect: bool,
    /// Cancel the session's open orders when its logged-on connection ends (Logout or
    /// disconnect) and it does not log on again within the grace period; after a
    /// restart the grace period runs from the start.
    #[serde(default)]
    pub cancel_on_disconnect: bool,
    /// The grace period of `cancel_on_disconnect`, milliseconds (0..=3,600,000; default
    /// 0: at once).
    #[serde(default)]
    pub cancel_on_disconnect_grace_ms: Option<u64>,
}

/// What a FIX session is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionRole {
    /// Orders in, their reports out.
    #[default]
    Order,
    /// Read-only: copies of the ExecutionReports of its accounts out, every application
    /// message refused ([`crate::fix::drop_copy`]).
    DropCopy,
}

impl FixSessionConfig {
    /// The account the session trades for (none for a drop copy, which never trades:
    /// the default account then stands in).
    pub fn trading_account(&self) -> AccountId {
        self.account.unwrap_or_default()
    }

    /// The accounts a drop-copy session covers; `None` for an order session.
    pub fn drop_copy_scope(&self) -> Option<DropCopyScope> {
        (self.role == SessionRole::DropCopy).then(|| DropCopyScope::new(self.accounts.as_deref()))
    }

    /// Checks the keys that depend on the role.
    fn check_role(&self) -> Result<(), ConfigError> {
        let id = self.id;
        match self.role {
            SessionRole::Order => {
                if self.account.is_none() {
                    return Err(invalid(format!("session {id}: account missing")));
                }
                if self.accounts.is_some() {
                    return Err(invalid(format!(
                        "session {id}: accounts is for role = \"drop_copy\"; an order \
                         session trades for its one account"
                    )));
                }
            }
            SessionRole::DropCopy => {
                if self.account.is_some() {
                    return Err(invalid(format!(
                        "session {id}: a drop copy trades for no account; list the accounts \
                         it copies in accounts = [...] (or leave it out for all)"
                    )));
                }
                if self.accounts.as_ref().is_some_and(Vec::is_empty) {
                    return Err(invalid(format!(
                        "session {id}: accounts = [] copies nothing; leave it out for all \
                         accounts"
                    )));
                }
                if self.cancel_on_disconnect {
                    return Err(invalid(format!(
                        "session {id}: a drop copy has no orders to cancel on disconnect"
                    )));
                }
                if self.reset_on_logon || self.reset_on_logout || self.reset_on_disconnect {
                    return Err(invalid(format!(
                        "session {id}: reset_on_* would drop the copies a drop-copy client \
                         has not received yet"
                    )));
                }
            }
        }
        Ok(())
    }

    /// How the session's Logon is authenticated (the configuration was validated).
    pub fn credential(&self) -> Credential {
        match &self.password_hash {
            Some(phc) => Credential::Hash(phc.clone()),
            None => Credential::NoPassword,
        }
    }

    /// Checks the credentials: a usable argon2id hash, or an explicit
    /// `allow_no_password`; never a plaintext password.
    fn check_credentials(&self) -> Result<(), ConfigError> {
        let id = self.id;
        if self.plaintext_password.is_some() {
            return Err(invalid(format!(
                "session {id}: plaintext `password` is not accepted; put an argon2id hash in \
                 `password_hash` instead (make one with `tickwarp passwd`)"
            )));
        }
        match (&self.password_hash, self.allow_no_password) {
            (Some(phc), false) => check_phc(phc).map_err(|e| invalid(format!("session {id}: {e}"))),
            (Some(_), true) => Err(invalid(format!(
                "session {id}: give password_hash or allow_no_password = true, not both"
            ))),
            (None, true) => Ok(()),
            (None, false) => Err(invalid(format!(
                "session {id}: no password_hash (make one with `tickwarp passwd`); a session \
                 without a password needs allow_no_password = true"
            ))),
        }
    }
}

/// Binary order entry over RDMA.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdmaConfig {
    /// Listen address of the soft-iWARP listener.
    #[serde(default = "default_rdma_listen")]
    pub listen: SocketAddr,
    /// Accounts RDMA clients may trade for.
    pub accounts: Vec<AccountId>,
    /// `auto` (a verbs device serving the address, else soft iWARP), `soft` or
    /// `hardware`.
    #[serde(default)]
    pub backend: Backend,
    /// The credential of each account (every account in `accounts` needs one).
    #[serde(default)]
    pub tokens: Vec<RdmaToken>,
    /// Clients connected at once at most (1..=1024).
    #[serde(default = "default_rdma_max_connections")]
    pub max_connections: usize,
    /// Receive slots per client and the most credits a client's proposal gives (4..=4096).
    #[serde(default = "default_rdma_max_slots")]
    pub max_slots: u32,
    /// Bytes per receive slot, header included, and the largest client slot used
    /// (136..=65536).
    #[serde(default = "default_rdma_max_slot_bytes")]
    pub max_slot_bytes: u32,
    /// Channel memory of all clients together at most, MiB (1..=4096); must hold
    /// `max_connections` clients.
    #[serde(default = "default_rdma_memory_budget_mib")]
    pub memory_budget_mib: u64,
    /// A connection must send its MPA Request within this, ms (100..=60000).
    #[serde(default = "default_rdma_handshake_timeout_ms")]
    pub handshake_timeout_ms: u64,
    /// MPA handshakes in progress at most (1..=4096).
    #[serde(default = "default_rdma_max_half_open")]
    pub max_half_open: usize,
}

/// The credential of one RDMA account.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdmaToken {
    /// The account.
    pub account: AccountId,
    /// Its token as an argon2id PHC string.
    pub token_hash: String,
}

fn default_rdma_listen() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9879)
}

fn default_rdma_max_connections() -> usize {
    64
}

fn default_rdma_max_slots() -> u32 {
    64
}

fn default_rdma_max_slot_bytes() -> u32 {
    256
}

fn default_rdma_memory_budget_mib() -> u64 {
    16
}

fn default_rdma_handshake_timeout_ms() -> u64 {
    5_000
}

fn default_rdma_max_half_open() -> usize {
    256
}

impl RdmaConfig {
    /// The token table (hashes checked: argon2id, bounded costs).
    pub fn token_table(&self) -> Result<TokenTable, ConfigError> {
        TokenTable::new(
            self.tokens
                .iter()
                .map(|t| (t.account, t.token_hash.as_str())),
        )
        .map_err(|e| invalid(format!("rdma.tokens: {e}")))
    }

    /// The settings of RDMA order entry.
    pub fn settings(&self) -> Result<RdmaEntrySettings, ConfigError> {
        Ok(RdmaEntrySettings {
            backend: self.backend,
            listen: self.listen,
            tokens: self.token_table()?,
            max_connections: self.max_connections,
            max_slots: self.max_slots,
            max_slot_bytes: self.max_slot_bytes,
            memory_budget_bytes: usize::try_from(self.memory_budget_mib.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX),
            handshake_timeout: Duration::from_millis(self.handshake_timeout_ms),
            max_half_open: self.max_half_open,
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let mut with_token = HashSet::new();
        for t in &self.tokens {
            if !self.accounts.contains(&t.account) {
                return Err(invalid(format!(
                    "rdma.tokens: account {} is not in rdma.accounts",
                    t.account
                )));
            }
            if !with_token.insert(t.account) {
                return Err(invalid(format!(
                    "rdma.tokens: account {} listed twice",
                    t.account
                )));
            }
            rdma_auth::check_hash(&t.token_hash).map_err(|e| {
                invalid(format!(
                    "rdma.tokens: account {}: token_hash: {e}",
                    t.account
                ))
            })?;
        }
        if let Some(a) = self.accounts.iter().find(|a| !with_token.contains(a)) {
            return Err(invalid(format!(
                "rdma: account {a} has no [[rdma.tokens]] entry; RDMA clients must authenticate (hash a token with `tickwarp passwd`)"
            )));
        }
        let settings = self.settings()?;
        let per = settings.connection_bytes();
        let worst = self.max_connections.saturating_mul(per);
        if worst > settings.memory_budget_bytes {
            return Err(invalid(format!(
                "rdma: max_connections × per-connection memory = {} × {per} B = {worst} B exceeds memory_budget_mib = {}",
                self.max_connections, self.memory_budget_mib
            )));
        }
        Ok(())
    }
}

/// A resting order of the house account, seeded into the simulator at start.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HouseOrder {
    /// The instrument's symbol.
    pub symbol: String,
    /// Buy or sell.
    pub side: SideSetting,
    /// Limit price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
}

/// A side, as written in TOML.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SideSetting {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

impl SideSetting {
    /// The wire side.
    pub fn side(self) -> Side {
        match self {
            SideSetting::Buy => Side::Buy,
            SideSetting::Sell => Side::Sell,
        }
    }
}

/// The venue simulator section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueSection {
    /// The account of the seeded liquidity (its executions go nowhere).
    #[serde(default)]
    pub house_account: Option<AccountId>,
    /// Most orders resting at once.
    #[serde(default)]
    pub max_resting_orders: Option<usize>,
    /// Resting orders seeded at start (and again at every restart: the simulator keeps
    /// no state of its own).
    #[serde(default)]
    pub liquidity: Vec<HouseOrder>,
}

/// The whole gateway configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// FIX listen address.
    #[serde(default = "default_fix_listen")]
    pub listen: SocketAddr,
    /// TLS on the FIX listener (certificate, key, optional client CA).
    #[serde(default)]
    pub tls: Option<TlsSettings>,
    /// Accept a non-loopback `listen` address without `tls` although FIX then travels
    /// in clear (behind a VPN or a TLS-terminating proxy).
    #[serde(default)]
    pub allow_plaintext: bool,
    /// The FIX acceptor's front-door limits.
    #[serde(default)]
    pub front_door: FrontDoor,
    /// Order store capacity.
    #[serde(default = "default_max_orders")]
    pub max_orders: usize,
    /// Journals.
    pub journal: JournalSection,
    /// Risk limits file (relative paths are relative to the configuration file).
    #[serde(default)]
    pub risk_file: Option<PathBuf>,
    /// Inline risk limits (after loading, also the limits read from `risk_file`).
    #[serde(default)]
    pub risk: Option<RiskLimits>,
    /// Instruments.
    pub instruments: Vec<InstrumentConfig>,
    /// FIX sessions.
    #[serde(default)]
    pub sessions: Vec<FixSessionConfig>,
    /// RDMA order entry, if enabled.
    #[serde(default)]
    pub rdma: Option<RdmaConfig>,
    /// The venue simulator.
    #[serde(default)]
    pub venue: VenueSection,
    /// Counters file and Prometheus exporter, if enabled.
    #[serde(default)]
    pub metrics: Option<MetricsSection>,
    /// The drop copy of executions and order states into databases (crate
    /// `tickwarp-dropcopy`; started by `tickwarp gateway`).
    #[serde(default)]
    pub drop_copy: DropCopySection,
}

/// The `[drop_copy]` section: where the drop copy writes (neither key: no drop copy).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropCopySection {
    /// SQLite database file (relative paths are relative to the configuration file).
    #[serde(default)]
    pub sqlite: Option<PathBuf>,
    /// PostgreSQL connection URL (`postgresql://user@host:port/db`).
    #[serde(default)]
    pub postgres: Option<String>,
}

fn default_fix_listen() -> SocketAddr {
    DEFAULT_FIX_LISTEN
}

fn default_max_orders() -> usize {
    DEFAULT_MAX_ORDERS
}

impl GatewayConfig {
    /// Reads and validates the configuration file at `path` (and its risk file).
    pub fn load(path: &Path) -> Result<GatewayConfig, ConfigError> {
        let text = read(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        GatewayConfig::from_toml(&text, base)
    }

    /// Parses and validates configuration text; `base` resolves a relative `risk_file`.
    pub fn from_toml(text: &str, base: &Path) -> Result<GatewayConfig, ConfigError> {
        let table: toml::Table = toml::from_str(text)?;
        ranges::check(&table, "", RANGES)?;
        if let Some(toml::Value::Table(risk)) = table.get("risk") {
            ranges::check(risk, "risk.", crate::risk::LIMIT_RANGES)?;
        }
        let mut config: GatewayConfig = toml::from_str(text)?;
        if let Some(tls) = config.tls.as_mut() {
            tls.resolve(base);
        }
        if let Some(path) = config.drop_copy.sqlite.as_mut() {
            *path = base.join(&*path);
        }
        match (&config.risk_file, &config.risk) {
            (Some(file), None) => {
                let path = base.join(file);
                config.risk = Some(RiskLimits::from_toml(&read(&path)?)?);
            }
            (None, Some(limits)) => {
                limits
                    .validate()
                    .map_err(|e| ConfigError::Risk(LoadLimitsError::Invalid(e)))?;
            }
            (Some(_), Some(_)) => {
                return Err(invalid("give either risk_file or [risk], not both"));
            }
            (None, None) => return Err(invalid("risk limits missing: give risk_file or [risk]")),
        }
        config.validate()?;
        Ok(config)
    }

    /// The risk limits (always present after loading).
    pub fn risk_limits(&self) -> Result<&RiskLimits, ConfigError> {
        self.risk
            .as_ref()
            .ok_or_else(|| invalid("risk limits missing"))
    }

    /// The instrument table (symbol ↔ id).
    pub fn instrument_table(&self) -> Result<InstrumentTable, ConfigError> {
        let mut table = InstrumentTable::new();
        for i in &self.instruments {
            table
                .insert_str(&i.symbol, i.id)
                .map_err(|e| invalid(format!("instrument {}: {e}", i.symbol)))?;
        }
        Ok(table)
    }

    /// The house account of the seeded liquidity.
    pub fn house_account(&self) -> AccountId {
        self.venue.house_account.unwrap_or(DEFAULT_HOUSE_ACCOUNT)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_orders == 0 {
            return Err(invalid("max_orders must be at least 1"));
        }
        if !self.listen.ip().is_loopback() && self.tls.is_none() && !self.allow_plaintext {
            return Err(invalid(format!(
                "listen = {} is not a loopback address and the FIX listener has no TLS: \
                 passwords and orders would cross the network in clear; configure \
                 tls = {{ cert = ..., key = ... }}, or set allow_plaintext = true to accept \
                 that (behind a VPN or a TLS-terminating proxy)",
                self.listen
            )));
        }
        self.front_door
            .validate()
            .map_err(|e| invalid(e.to_string()))?;
        if let Some(m) = &self.metrics {
            m.validate().map_err(invalid)?;
        }
        let table = self.instrument_table()?;
        let mut ids = HashSet::new();
        let mut comps = HashSet::new();
        let house = self.house_account();
        for s in &self.sessions {
            if s.id >= 1 << 31 {
                return Err(invalid(format!("session id {} must be below 2^31", s.id)));
            }
            if !ids.insert(s.id) {
                return Err(invalid(format!("session id {} listed twice", s.id)));
            }
            if !comps.insert((s.sender_comp_id.as_str(), s.target_comp_id.as_str())) {
                return Err(invalid(format!(
                    "session {}-{} listed twice",
                    s.sender_comp_id, s.target_comp_id
                )));
            }
            if s.sender_comp_id.is_empty() || s.target_comp_id.is_empty() {
                return Err(invalid(format!("session {}: empty CompID", s.id)));
            }
            let safe = |c: &str| c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !safe(&s.sender_comp_id) || !safe(&s.target_comp_id) {
                return Err(invalid(format!(
                    "session {}: CompIDs must be ASCII letters, digits or _",
                    s.id
                )));
            }
            s.check_credentials()?;
            s.check_role()?;
            if s.cancel_on_disconnect_grace_ms.is_some() && !s.cancel_on_disconnect {
                return Err(invalid(format!(
                    "session {}: cancel_on_disconnect_grace_ms needs cancel_on_disconnect = true",
                    s.id
                )));
            }
            if s.account == Some(house) && !self.venue.liquidity.is_empty() {
                return Err(invalid(format!(
                    "session {} trades for the house account {house}",
                    s.id
                )));
            }
        }
        if let Some(rdma) = &self.rdma {
            if rdma.accounts.contains(&house) && !self.venue.liquidity.is_empty() {
                return Err(invalid("an RDMA account is the house account"));
            }
            rdma.validate()?;
        }
        for h in &self.venue.liquidity {
            if table.id_of_str(&h.symbol).is_none() {
                return Err(invalid(format!(
                    "liquidity for unknown symbol {}",
                    h.symbol
                )));
            }
            if h.price <= Price::ZERO || h.qty.is_zero() {
                return Err(invalid(format!(
                    "liquidity for {} needs a positive price and quantity",
                    h.symbol
                )));
            }
        }
        Ok(())
    }
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RISK: &str = r#"
        [risk]
        max_order_qty = 1000
        max_notional = "1000000"
        collar_bps = 0
        credit_limit = "10000000"
        max_position = 100000
        max_orders_per_day = 100000
    "#;

    fn parse_with(extra: &str, session: &str) -> Result<GatewayConfig, ConfigError> {
        let text = format!(
            r#"
            [journal]
            dir = "/tmp/j"
            {extra}
            [[instruments]]
            symbol = "ACME"
            id = 1
            [[sessions]]
            id = 1
            sender_comp_id = "GW"
            target_comp_id = "C1"
            account = 7
            {session}
            {RISK}
            "#
        );
        GatewayConfig::from_toml(&text, Path::new("."))
    }

    fn parse(extra: &str) -> Result<GatewayConfig, ConfigError> {
        parse_with(extra, "allow_no_password = true")
    }

    #[test]
    fn defaults_bind_loopback_and_sync_every_record() {
        let c = parse("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen, DEFAULT_FIX_LISTEN);
        assert!(c.listen.ip().is_loopback());
        assert_eq!(c.journal.fsync, FsyncSetting::EveryRecord);
        assert_eq!(c.journal.journal_config().fsync, FsyncPolicy::EveryRecord);
        assert_eq!(c.max_orders, DEFAULT_MAX_ORDERS);
        assert_eq!(
            c.journal.session_dir("GW", "C1"),
            PathBuf::from("/tmp/j/fix/GW-C1")
        );
    }

    #[test]
    fn batched_fsync_parses() {
        let c = parse("fsync = { batched = { max_records = 8, max_delay_us = 250 } }")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.journal.fsync.policy(),
            FsyncPolicy::Batched {
                max_records: 8,
                max_delay: Duration::from_micros(250)
            }
        );
    }

    #[test]
    fn missing_risk_is_refused() {
        let text = r#"
            instruments = []
            [journal]
            dir = "/tmp/j"
        "#;
        let err = GatewayConfig::from_toml(text, Path::new("."))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("gateway config: risk limits missing: give risk_file or [risk]")
        );
    }

    #[test]
    fn risk_file_is_read_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let risk = RISK.replace("[risk]", "");
        std::fs::write(dir.path().join("risk.toml"), risk).unwrap_or_else(|e| panic!("{e}"));
        let text = r#"
            risk_file = "risk.toml"
            instruments = []
            [journal]
            dir = "/tmp/j"
        "#;
        let c = GatewayConfig::from_toml(text, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.risk_limits().map(|r| r.max_order_qty).ok(),
            Some(Qty(1000))
        );
    }

    #[test]
    fn unsafe_comp_ids_are_refused() {
        let text = format!(
            r#"
            instruments = []
            [journal]
            dir = "/tmp/j"
            [[sessions]]
            id = 1
            sender_comp_id = "../x"
            target_comp_id = "C1"
            account = 7
            allow_no_password = true
            {RISK}
            "#
        );
        assert!(matches!(
            GatewayConfig::from_toml(&text, Path::new(".")),
            Err(ConfigError::Invalid(_))
        ));
    }

    #[test]
    fn the_deploy_example_is_valid() {
        let text = include_str!("../../../deploy/gateway.example.toml");
        let c = GatewayConfig::from_toml(text, Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.sessions.len(), 3);
        assert_eq!(
            c.sessions[2].drop_copy_scope(),
            Some(DropCopyScope::Accounts(vec![
                AccountId(101),
                AccountId(102)
            ]))
        );
        assert!(c.listen.ip().is_loopback());
        assert_eq!(c.venue.liquidity.len(), 2);
        assert!(c.rdma.is_some());
    }

    fn error_of(extra: &str) -> String {
        parse(extra)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn numeric_keys_out_of_range_name_the_key_and_range() {
        let cases = [
            (
                "max_orders = 1e13",
                "gateway config: max_orders = 1e13 is out of range 1..=10_000_000",
            ),
            (
                "max_orders = 0",
                "gateway config: max_orders = 0 is out of range 1..=10_000_000",
            ),
            (
                "max_orders = -3",
                "gateway config: max_orders = -3 is out of range 1..=10_000_000",
            ),
            (
                "max_orders = 100.0",
                "gateway config: max_orders = 100 must be an integer in 1..=10_000_000",
            ),
            (
                "max_orders = 9223372036854775807",
                "gateway config: max_orders = 9223372036854775807 is out of range 1..=10_000_000",
            ),
        ];
        for (extra, want) in cases {
            // `parse` puts `extra` inside [journal]: top-level keys go first.
            let text = format!("{extra}\n[journal]\ndir = \"/tmp/j\"\ninstruments = []\n{RISK}");
            let got = GatewayConfig::from_toml(&text, Path::new("."))
                .err()
                .map(|e| e.to_string());
            assert_eq!(got.as_deref(), Some(want), "{extra}");
        }
        assert_eq!(
            error_of("segment_mib = 1e6"),
            "gateway config: journal.segment_mib = 1e6 is out of range 1..=4096"
        );
        assert_eq!(
            error_of("fsync = { batched = { max_records = 0, max_delay_us = 5 } }"),
            "gateway config: journal.fsync.batched.max_records = 0 is out of range 1..=1_000_000"
        );
    }

    #[test]
    fn risk_keys_out_of_range_name_the_key() {
        let text = RISK.replace("max_orders_per_day = 100000", "max_orders_per_day = 1e13");
        let text = format!("instruments = []\n[journal]\ndir = \"/tmp/j\"\n{text}");
        assert_eq!(
            GatewayConfig::from_toml(&text, Path::new("."))
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("gateway config: risk.max_orders_per_day = 1e13 is out of range 1..=10_000_000")
        );
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let risk = RISK
            .replace("[risk]", "")
            .replace("max_position = 100000", "max_position = -1");
        std::fs::write(dir.path().join("risk.toml"), risk).unwrap_or_else(|e| panic!("{e}"));
        let text = "risk_file = \"risk.toml\"\ninstruments = []\n[journal]\ndir = \"/tmp/j\"\n";
        assert_eq!(
            GatewayConfig::from_toml(text, dir.path())
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("risk limits: risk.max_position = -1 is out of range 0..=1_000_000_000_000")
        );
    }

    fn rdma_config(extra: &str) -> Result<GatewayConfig, ConfigError> {
        let hash = rdma_auth::hash_token(b"t").unwrap_or_default();
        let text = format!(
            r#"
            instruments = []
            [journal]
            dir = "/tmp/j"
            [rdma]
            accounts = [201]
            {extra}
            [[rdma.tokens]]
            account = 201
            token_hash = "{hash}"
            {RISK}
            "#
        );
        GatewayConfig::from_toml(&text, Path::new("."))
    }

    #[test]
    fn rdma_settings_are_checked() {
        let c = rdma_config("").unwrap_or_else(|e| panic!("{e}"));
        let settings = c
            .rdma
            .as_ref()
            .map(|r| r.settings())
            .transpose()
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("rdma missing"));
        assert_eq!(settings.connection_bytes(), 33_280);
        assert_eq!(settings.max_connections, 64);
        let err = |extra: &str| {
            rdma_config(extra)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            err("max_connections = 0"),
            "gateway config: rdma.max_connections = 0 is out of range 1..=1024"
        );
        assert_eq!(
            err("max_slot_bytes = 1048576"),
            "gateway config: rdma.max_slot_bytes = 1048576 is out of range 136..=65_536"
        );
        assert!(
            err("max_connections = 1024\nmax_slots = 4096\nmax_slot_bytes = 65536")
                .contains("exceeds memory_budget_mib = 16"),
        );
        let no_token = GatewayConfig::from_toml(
            &format!(
                "instruments = []\n[journal]\ndir = \"/tmp/j\"\n[rdma]\naccounts = [201]\n{RISK}"
            ),
            Path::new("."),
        );
        assert!(
            matches!(&no_token, Err(ConfigError::Invalid(m)) if m.contains("account 201 has no [[rdma.tokens]]")),
            "{no_token:?}"
        );
        let plain = rdma_config("").map(|_| ());
        assert!(plain.is_ok());
        let bad_hash = GatewayConfig::from_toml(
            &format!(
                "instruments = []\n[journal]\ndir = \"/tmp/j\"\n[rdma]\naccounts = [201]\n\
                 [[rdma.tokens]]\naccount = 201\ntoken_hash = \"secret\"\n{RISK}"
            ),
            Path::new("."),
        );
        assert!(
            matches!(&bad_hash, Err(ConfigError::Invalid(m)) if m.contains("token_hash")),
            "{bad_hash:?}"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(matches!(parse("colour = 1"), Err(ConfigError::Toml(_))));
    }

    fn invalid_text(r: Result<GatewayConfig, ConfigError>) -> String {
        match r {
            Err(ConfigError::Invalid(text)) => text,
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    #[test]
    fn a_plaintext_password_is_refused_naming_tickwarp_passwd() {
        let text = invalid_text(parse_with("", r#"password = "secret""#));
        assert!(text.contains("plaintext `password`"), "{text}");
        assert!(text.contains("tickwarp passwd"), "{text}");
    }

    #[test]
    fn a_session_needs_a_hash_or_an_explicit_no_password() {
        let text = invalid_text(parse_with("", ""));
        assert!(text.contains("allow_no_password"), "{text}");
        assert!(text.contains("tickwarp passwd"), "{text}");
        let text = invalid_text(parse_with("", r#"password_hash = "secret""#));
        assert!(text.contains("PHC"), "{text}");
        let phc = crate::service::acceptor::hash_password(b"pw").unwrap_or_else(|e| panic!("{e}"));
        let c =
            parse_with("", &format!("password_hash = \"{phc}\"")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.sessions[0].credential(), Credential::Hash(phc.clone()));
        let both = format!("password_hash = \"{phc}\"\nallow_no_password = true");
        assert!(invalid_text(parse_with("", &both)).contains("not both"));
    }

    #[test]
    fn cancel_on_disconnect_keys_are_checked() {
        let ok = parse_with(
            "",
            "allow_no_password = true\ncancel_on_disconnect = true\ncancel_on_disconnect_grace_ms = 2500",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(ok.sessions[0].cancel_on_disconnect);
        assert_eq!(ok.sessions[0].cancel_on_disconnect_grace_ms, Some(2500));
        let range = parse_with(
            "",
            "allow_no_password = true\ncancel_on_disconnect = true\ncancel_on_disconnect_grace_ms = 3600001",
        );
        assert!(
            matches!(&range, Err(ConfigError::Range(e)) if e.key == "sessions[0].cancel_on_disconnect_grace_ms"),
            "{range:?}"
        );
        let text = invalid_text(parse_with(
            "",
            "allow_no_password = true\ncancel_on_disconnect_grace_ms = 10",
        ));
        assert!(text.contains("needs cancel_on_disconnect = true"), "{text}");
    }

    fn parse_top(top: &str) -> Result<GatewayConfig, ConfigError> {
        let text = format!(
            r#"
            {top}
            instruments = []
            [journal]
            dir = "/tmp/j"
            {RISK}
            "#
        );
        GatewayConfig::from_toml(&text, Path::new("."))
    }

    #[test]
    fn a_routable_listener_needs_allow_plaintext() {
        let text = invalid_text(parse_top(r#"listen = "0.0.0.0:9878""#));
        assert!(text.contains("allow_plaintext = true"), "{text}");
        let c = parse_top("listen = \"0.0.0.0:9878\"\nallow_plaintext = true")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(c.allow_plaintext);
    }

    #[test]
    fn a_routable_tls_listener_needs_no_allow_plaintext() {
        let text = format!(
            "listen = \"0.0.0.0:9878\"\n\
             tls = {{ cert = \"fix.crt\", key = \"/etc/fix.key\", client_ca = \"ca.crt\" }}\n\
             instruments = []\n[journal]\ndir = \"/tmp/j\"\n{RISK}"
        );
        let c = GatewayConfig::from_toml(&text, Path::new("/etc/tickwarp"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.allow_plaintext);
        assert_eq!(
            c.tls,
            Some(TlsSettings {
                cert: PathBuf::from("/etc/tickwarp/fix.crt"),
                key: PathBuf::from("/etc/fix.key"),
                client_ca: Some(PathBuf::from("/etc/tickwarp/ca.crt")),
            })
        );
        let typo = parse_top(r#"tls = { cert = "a", key = "b", ca = "c" }"#);
        assert!(matches!(typo, Err(ConfigError::Toml(_))), "{typo:?}");
    }

    #[test]
    fn front_door_ranges_are_checked() {
        let text = invalid_text(parse_top("front_door = { max_logon_bytes = 100 }"));
        assert!(text.contains("front_door.max_logon_bytes = 100"), "{text}");
        let text = invalid_text(parse_top("front_door = { max_handshake_bytes = 512 }"));
        assert!(
            text.contains("front_door.max_handshake_bytes = 512"),
            "{text}"
        );
        let c =
            parse_top("front_door = { logon_timeout_ms = 500 }").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.front_door.logon_timeout_ms, 500);
        assert_eq!(
            c.front_door.max_logon_bytes,
            FrontDoor::default().max_logon_bytes
        );
    }

    /// A configuration whose only session is `keys` (after id and CompIDs).
    fn parse_session(keys: &str) -> Result<GatewayConfig, ConfigError> {
        let text = format!(
            r#"
            [journal]
            dir = "/tmp/j"
            [[instruments]]
            symbol = "ACME"
            id = 1
            [[sessions]]
            id = 9
            sender_comp_id = "GW"
            target_comp_id = "DC"
            allow_no_password = true
            {keys}
            {RISK}
            "#
        );
        GatewayConfig::from_toml(&text, Path::new("."))
    }

    #[test]
    fn drop_copy_sessions_parse_with_their_accounts_or_all() {
        let c = parse_session("role = \"drop_copy\"\naccounts = [102, 101, 102]")
            .unwrap_or_else(|e| panic!("{e}"));
        let s = &c.sessions[0];
        assert_eq!(s.role, SessionRole::DropCopy);
        assert_eq!(
            s.drop_copy_scope(),
            Some(DropCopyScope::Accounts(vec![
                AccountId(101),
                AccountId(102)
            ]))
        );
        let all = parse_session("role = \"drop_copy\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all.sessions[0].drop_copy_scope(), Some(DropCopyScope::All));
        let order = parse_session("account = 7").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(order.sessions[0].role, SessionRole::Order);
        assert_eq!(order.sessions[0].drop_copy_scope(), None);
        assert_eq!(order.sessions[0].trading_account(), AccountId(7));
        let typo = parse_session("role = \"dropcopy\"");
        assert!(matches!(typo, Err(ConfigError::Toml(_))), "{typo:?}");
    }

    #[test]
    fn role_keys_that_do_not_fit_are_refused() {
        for (keys, says) in [
            ("", "account missing"),
            ("account = 7\naccounts = [7]", "accounts is for role"),
            ("role = \"drop_copy\"\naccount = 7", "trades for no account"),
            ("role = \"drop_copy\"\naccounts = []", "copies nothing"),
            (
                "role = \"drop_copy\"\ncancel_on_disconnect = true",
                "no orders to cancel",
            ),
            ("role = \"drop_copy\"\nreset_on_logon = true", "reset_on_*"),
            (
                "role = \"drop_copy\"\nreset_on_disconnect = true",
                "reset_on_*",
            ),
        ] {
            let text = invalid_text(parse_session(keys));
            assert!(text.contains(says), "{keys}: {text}");
        }
        let range = parse_session("role = \"drop_copy\"\naccounts = [-1]");
        assert!(
            matches!(&range, Err(ConfigError::Range(e)) if e.key == "sessions[0].accounts[0]"),
            "{range:?}"
        );
    }
}
