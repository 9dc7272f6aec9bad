//! Consistency checks of a parsed [`Topology`]: every error names the key and the
//! problem. Checks only; no I/O.
//!
//! Numeric keys are first checked on the TOML against [`RANGES`] (and each gateway's
//! `risk` table against the gateway's risk ranges), so a float, a negative number or a
//! huge count is refused naming the key and the allowed range before anything is sized
//! by it: ring slots (`feed.ring_slots` × 64-byte slots of registered memory), open-order
//! tables (`max_open_orders`) and thread cores.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;

use tickwarp_gateway::ranges::{self, KeyRange, RangeError};
use tickwarp_gateway::risk::LIMIT_RANGES;
use tickwarp_runtime::ThreadingMode;
use tickwarp_strategies::Strategy;
use tickwarp_strategies::builtin::by_name;
use tickwarp_strategies::order::check_id_tag;
use tickwarp_wire::{Price, Symbol};

use tickwarp_gateway::service::acceptor::check_phc;

use super::{NodeConfig, Topology};

/// An inconsistent topology: which key, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub(crate) struct ConfigError {
    /// The key, as a path (`node[0].engine[1].id_tag`).
    pub(crate) key: String,
    /// What is wrong.
    pub(crate) problem: String,
}

/// Builds a [`ConfigError`].
fn err(key: impl fmt::Display, problem: impl fmt::Display) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        problem: problem.to_string(),
    }
}

/// Most house events per second the venue simulator is asked for.
const MAX_RATE: u32 = 1_000_000;

/// The allowed range of every numeric key of a topology.
pub(crate) const RANGES: &[KeyRange] = &[
    KeyRange::new("node[].core", 0, 1_023),
    KeyRange::new("node[].venue.rate", 1, MAX_RATE as i64),
    KeyRange::new("node[].venue.seed", 0, i64::MAX),
    KeyRange::new("node[].venue.core", 0, 1_023),
    KeyRange::new("node[].feed.ring_slots", 2, 1 << 20),
    KeyRange::new("node[].feed.core", 0, 1_023),
    KeyRange::new("node[].gateway.core", 0, 1_023),
    KeyRange::new("node[].gateway.fix_session[].account", 0, u32::MAX as i64),
    KeyRange::new("node[].gateway.fix_session[].heartbeat_secs", 1, 3_600),
    KeyRange::new("node[].engine[].max_open_orders", 1, 1_000_000),
    KeyRange::new("node[].engine[].core", 0, 1_023),
    KeyRange::new(
        "node[].reconnect.max_backoff_ms",
        super::INITIAL_BACKOFF_MS as i64,
        600_000,
    ),
    KeyRange::new("node[].reconnect.give_up_after_s", 0, 31_536_000),
    KeyRange::new("node[].reconnect.peer_timeout_ms", 500, 600_000),
];

/// Checks the numeric keys of topology TOML (module docs).
pub(crate) fn check_ranges(table: &toml::Table) -> Result<(), ConfigError> {
    let range_err = |e: RangeError| err(e.key, format!("{} {} {}", e.value, e.problem, e.range));
    ranges::check(table, "", RANGES).map_err(range_err)?;
    let Some(toml::Value::Array(nodes)) = table.get("node") else {
        return Ok(());
    };
    for (i, node) in nodes.iter().enumerate() {
        let risk = node
            .get("gateway")
            .and_then(|g| g.get("risk"))
            .and_then(toml::Value::as_table);
        if let Some(risk) = risk {
            ranges::check(risk, &format!("node[{i}].gateway.risk."), LIMIT_RANGES)
                .map_err(range_err)?;
        }
    }
    Ok(())
}

impl Topology {
    /// Checks the topology (module docs of [`crate::config`]).
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.check_instruments()?;
        self.check_nodes()?;
        self.check_roles()?;
        self.check_engines()?;
        self.check_addresses()?;
        Ok(())
    }

    fn check_instruments(&self) -> Result<(), ConfigError> {
        if self.instruments.is_empty() {
            return Err(err("instrument", "at least one instrument is needed"));
        }
        let mut seen = HashSet::new();
        for (i, inst) in self.instruments.iter().enumerate() {
            let key = |field: &str| format!("instrument[{i}].{field}");
            Symbol::new(&inst.symbol).map_err(|e| err(key("symbol"), e))?;
            if !seen.insert(inst.symbol.as_str()) {
                return Err(err(key("symbol"), format!("{} listed twice", inst.symbol)));
            }
            if inst.tick_size <= Price::ZERO {
                return Err(err(key("tick_size"), "must be positive"));
            }
            if inst.start_price.ticks() <= inst.tick_size.ticks().saturating_mul(10) {
                return Err(err(key("start_price"), "must be above ten ticks"));
            }
        }
        Ok(())
    }

    fn check_nodes(&self) -> Result<(), ConfigError> {
        if self.nodes.is_empty() {
            return Err(err("node", "at least one node is needed"));
        }
        let mut names = HashSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.name.is_empty() {
                return Err(err(format!("node[{i}].name"), "must not be empty"));
            }
            if !names.insert(node.name.as_str()) {
                return Err(err(
                    format!("node[{i}].name"),
                    format!("{:?} is used by another node", node.name),
                ));
            }
            check_cores(i, node)?;
            if let Some(m) = &node.metrics {
                m.validate()
                    .map_err(|e| err(format!("node[{i}].metrics.listen"), e))?;
            }
            if let Some(d) = &node.drop_copy {
                if node.gateway.is_none() {
                    return Err(err(
                        format!("node[{i}].drop_copy"),
                        "only a node that runs the gateway has a drop copy",
                    ));
                }
                if let Some(url) = &d.postgres {
                    tickwarp_dropcopy::postgres::PostgresSink::new(url)
                        .map_err(|e| err(format!("node[{i}].drop_copy.postgres"), e.to_string()))?;
                }
            }
            if let Some(venue) = &node.venue {
                if venue.rate == 0 || venue.rate > MAX_RATE {
                    return Err(err(
                        format!("node[{i}].venue.rate"),
                        format!("must be 1 to {MAX_RATE} events per second"),
                    ));
                }
            }
            if let Some(feed) = &node.feed {
                if feed.ring_slots < 2 || !feed.ring_slots.is_power_of_two() {
                    return Err(err(
                        format!("node[{i}].feed.ring_slots"),
                        "must be a power of two, at least 2",
                    ));
                }
            }
            if let Some(gw) = &node.gateway {
                gw.risk
                    .validate()
                    .map_err(|e| err(format!("node[{i}].gateway.risk"), e))?;
                check_fix(i, gw)?;
            }
        }
        Ok(())
    }

    fn check_roles(&self) -> Result<(), ConfigError> {
        for (role, count) in [
            (
                "venue",
                self.nodes.iter().filter(|n| n.venue.is_some()).count(),
            ),
            (
                "feed",
                self.nodes.iter().filter(|n| n.feed.is_some()).count(),
            ),
            (
                "gateway",
                self.nodes.iter().filter(|n| n.gateway.is_some()).count(),
            ),
        ] {
            if count != 1 {
                return Err(err(
                    format!("node.{role}"),
                    format!("exactly one node must run the {role}, found {count}"),
                ));
            }
        }
        if self.engines().next().is_none() {
            return Err(err("node.engine", "at least one strategy engine is needed"));
        }
        Ok(())
    }

    fn check_engines(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        let mut tags = HashSet::new();
        let instruments = self.instruments.len() as u32;
        for (i, node) in self.nodes.iter().enumerate() {
            for (j, engine) in node.engines.iter().enumerate() {
                let key = |field: &str| format!("node[{i}].engine[{j}].{field}");
                if engine.name.is_empty() || !names.insert(engine.name.as_str()) {
                    return Err(err(key("name"), "must be non-empty and unique"));
                }
                check_id_tag(&engine.id_tag).map_err(|e| err(key("id_tag"), e))?;
                if !tags.insert(engine.id_tag.as_str()) {
                    return Err(err(
                        key("id_tag"),
                        "must differ between engines (client order ids would collide)",
                    ));
                }
                if engine.max_open_orders == 0 {
                    return Err(err(key("max_open_orders"), "must be at least 1"));
                }
                if engine.strategies.is_empty() {
                    return Err(err(key("strategy"), "at least one strategy is needed"));
                }
                for (k, s) in engine.strategies.iter().enumerate() {
                    let skey = format!("node[{i}].engine[{j}].strategy[{k}]");
                    let built = by_name(&s.name, toml::Value::Table(s.fields.clone()))
                        .map_err(|e| err(&skey, e))?;
                    if let Some(bad) = built
                        .instruments()
                        .iter()
                        .find(|id| id.0 == 0 || id.0 > instruments)
                    {
                        return Err(err(
                            format!("{skey}.instrument"),
                            format!(
                                "instrument {} is not configured (1 to {instruments})",
                                bad.0
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn check_addresses(&self) -> Result<(), ConfigError> {
        let mut seen: HashSet<SocketAddr> = HashSet::new();
        let engine_nodes: Vec<&str> = self.engines().map(|(n, _)| n.name.as_str()).collect();
        let (venue_node, venue) = self.venue().ok_or_else(|| err("node.venue", "missing"))?;
        let (feed_node, feed) = self.feed().ok_or_else(|| err("node.feed", "missing"))?;
        let (gw_node, gw) = self
            .gateway()
            .ok_or_else(|| err("node.gateway", "missing"))?;
        let listens: [(&str, &NodeConfig, SocketAddr, Vec<&str>); 4] = [
            (
                "venue.md_listen",
                venue_node,
                venue.md_listen,
                vec![feed_node.name.as_str()],
            ),
            (
                "venue.orders_listen",
                venue_node,
                venue.orders_listen,
                vec![gw_node.name.as_str()],
            ),
            ("feed.listen", feed_node, feed.listen, engine_nodes.clone()),
            ("gateway.listen", gw_node, gw.listen, engine_nodes),
        ];
        for (what, node, addr, clients) in listens {
            let key = format!("node[{}].{what}", node_index(self, node));
            if addr.ip().is_unspecified() {
                return Err(err(
                    key,
                    "must be an address the connecting nodes can reach, not a wildcard",
                ));
            }
            if addr.port() == 0 {
                if let Some(other) = clients.iter().find(|c| **c != node.name) {
                    return Err(err(
                        key,
                        format!("port 0 (any free port) cannot be reached from node {other:?}"),
                    ));
                }
            } else if !seen.insert(addr) {
                return Err(err(
                    key,
                    format!("{addr} is already used by another listener"),
                ));
            }
        }
        if let Some(fix) = gw.fix_listen {
            if fix.port() != 0 && !seen.insert(fix) {
                return Err(err(
                    format!("node[{}].gateway.fix_listen", node_index(self, gw_node)),
                    format!("{fix} is already used by another listener"),
                ));
            }
        }
        Ok(())
    }
}

/// The index of `node` in the file.
fn node_index(topology: &Topology, node: &NodeConfig) -> usize {
    topology
        .nodes
        .iter()
        .position(|n| n.name == node.name)
        .unwrap_or(0)
}

/// In dedicated threading, no two agents of a node may share a pinned core.
fn check_cores(i: usize, node: &NodeConfig) -> Result<(), ConfigError> {
    if node.threading != ThreadingMode::Dedicated {
        return Ok(());
    }
    let mut used = HashSet::new();
    let cores = [
        ("venue.core", node.venue.as_ref().and_then(|v| v.core)),
        ("feed.core", node.feed.as_ref().and_then(|f| f.core)),
        ("gateway.core", node.gateway.as_ref().and_then(|g| g.core)),
    ]
    .into_iter()
    .map(|(k, c)| (k.to_owned(), c))
    .chain(
        node.engines
            .iter()
            .enumerate()
            .map(|(j, e)| (format!("engine[{j}].core"), e.core)),
    );
    for (key, core) in cores {
        if let Some(core) = core {
            if !used.insert(core) {
                return Err(err(
                    format!("node[{i}].{key}"),
                    format!("core {core} is already pinned to another agent of this node"),
                ));
            }
        }
    }
    Ok(())
}

/// FIX sessions need a listener, distinct non-empty CompIDs and an argon2id password hash
/// (or an explicit `allow_no_password`); a routable listener needs `fix_tls` or
/// `allow_plaintext`.
fn check_fix(i: usize, gw: &super::GatewayNodeConfig) -> Result<(), ConfigError> {
    if !gw.fix_sessions.is_empty() && gw.fix_listen.is_none() {
        return Err(err(
            format!("node[{i}].gateway.fix_listen"),
            "required when FIX sessions are configured",
        ));
    }
    let mut senders = HashSet::new();
    for (k, s) in gw.fix_sessions.iter().enumerate() {
        let key = |f: &str| format!("node[{i}].gateway.fix_session[{k}].{f}");
        for (field, value) in [
            ("sender_comp_id", &s.sender_comp_id),
            ("target_comp_id", &s.target_comp_id),
        ] {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(err(key(field), "must be non-empty printable ASCII"));
            }
        }
        if !senders.insert(s.sender_comp_id.as_str()) {
            return Err(err(key("sender_comp_id"), "used by another session"));
        }
        if s.account == 0 {
            return Err(err(key("account"), "must not be 0"));
        }
        if s.heartbeat_secs == 0 {
            return Err(err(key("heartbeat_secs"), "must be positive"));
        }
        if s.plaintext_password.is_some() {
            return Err(err(
                key("password"),
                "plaintext passwords are not accepted; put an argon2id hash in password_hash \
                 instead (make one with `tickwarp passwd`)",
            ));
        }
        match (&s.password_hash, s.allow_no_password) {
            (Some(phc), false) => {
                check_phc(phc).map_err(|e| err(key("password_hash"), e))?;
            }
            (Some(_), true) => {
                return Err(err(
                    key("allow_no_password"),
                    "give password_hash or allow_no_password = true, not both",
                ));
            }
            (None, true) => {}
            (None, false) => {
                return Err(err(
                    key("password_hash"),
                    "required (make one with `tickwarp passwd`); a session without a password \
                     needs allow_no_password = true",
                ));
            }
        }
    }
    if let Some(addr) = gw.fix_listen {
        if !addr.ip().is_loopback() && gw.fix_tls.is_none() && !gw.allow_plaintext {
            return Err(err(
                format!("node[{i}].gateway.fix_listen"),
                format!(
                    "{addr} is not a loopback address and the FIX listener has no TLS: \
                     passwords and orders would cross the network in clear; configure \
                     fix_tls = {{ cert = ..., key = ... }} in [node.gateway], or set \
                     allow_plaintext = true there to accept that (behind a VPN or a \
                     TLS-terminating proxy)"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{ParseError, Topology};
    use tickwarp_runtime::{IdleConfig, ThreadingMode};

    const GOOD: &str = r#"
        [[instrument]]
        symbol = "TWRP"
        start_price = "100.00"

        [[node]]
        name = "a"
        threading = "shared"
        idle = { kind = "backoff" }
        [node.venue]
        md_listen = "127.0.0.1:7401"
        orders_listen = "127.0.0.1:7402"
        [node.feed]
        listen = "127.0.0.1:7411"
        [node.gateway]
        listen = "127.0.0.1:7421"
        [[node.engine]]
        name = "e"
        id_tag = "A"
        [[node.engine.strategy]]
        name = "market_maker"
        half_spread = "0.03"
        [[node.engine.strategy]]
        name = "pinger"
    "#;

    fn problem(text: &str) -> String {
        match Topology::parse(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_complete_topology_loads() -> Result<(), ParseError> {
        let t = Topology::parse(GOOD)?;
        assert_eq!(t.nodes.len(), 1);
        assert_eq!(t.engines().count(), 1);
        assert_eq!(t.nodes[0].threading, ThreadingMode::Shared);
        assert_eq!(t.engines().next().map(|(_, e)| e.strategies.len()), Some(2));
        Ok(())
    }

    #[test]
    fn the_demo_topology_is_valid() {
        let t = Topology::demo(ThreadingMode::Shared, IdleConfig::default_backoff(), 5_000);
        assert_eq!(t.validate(), Ok(()));
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (GOOD.replace("\"TWRP\"", "\"TOO-LONG-SYMBOL\""), "instrument[0].symbol"),
            (GOOD.replace("name = \"pinger\"", "name = \"pinger\"\nevery = 0"), "node[0].engine[0].strategy[1]"),
            (GOOD.replace("name = \"pinger\"", "name = \"nope\""), "unknown strategy"),
            (GOOD.replace("id_tag = \"A\"", "id_tag = \"A-B\""), "node[0].engine[0].id_tag"),
            (GOOD.replace("127.0.0.1:7411", "127.0.0.1:7401"), "already used"),
            (GOOD.replace("127.0.0.1:7421", "0.0.0.0:7421"), "node[0].gateway.listen"),
            (GOOD.replace("[node.feed]\n        listen = \"127.0.0.1:7411\"", ""), "exactly one node must run the feed"),
            (GOOD.replace("threading = \"shared\"", "threading = \"fast\""), "threading"),
            (GOOD.replace("name = \"e\"", "name = \"e\"\ncolour = 1"), "colour"),
            (GOOD.replace("[node.gateway]", "[node.gateway]\nrisk = { max_order_qty = 1, max_notional = \"-1\", collar_bps = 0, credit_limit = \"1\", max_position = 1, max_orders_per_day = 1 }"), "node[0].gateway.risk"),
        ];
        for (text, want) in cases {
            let got = problem(&text);
            assert!(got.contains(want), "want {want:?} in {got:?}");
        }
    }

    #[test]
    fn numeric_keys_out_of_range_name_the_key_and_range() {
        let feed = "listen = \"127.0.0.1:7411\"";
        let cases = [
            (
                GOOD.replace(feed, &format!("{feed}\nring_slots = 1e13")),
                "node[0].feed.ring_slots: 1e13 is out of range 2..=1_048_576",
            ),
            (
                GOOD.replace(feed, &format!("{feed}\nring_slots = -4")),
                "node[0].feed.ring_slots: -4 is out of range 2..=1_048_576",
            ),
            (
                GOOD.replace(feed, &format!("{feed}\nring_slots = 4096.0")),
                "node[0].feed.ring_slots: 4096 must be an integer in 2..=1_048_576",
            ),
            (
                GOOD.replace("id_tag = \"A\"", "id_tag = \"A\"\nmax_open_orders = 0"),
                "node[0].engine[0].max_open_orders: 0 is out of range 1..=1_000_000",
            ),
            (
                GOOD.replace("[node.gateway]", "[node.gateway]\nrisk = { max_order_qty = 1, max_notional = \"1\", collar_bps = 0, credit_limit = \"1\", max_position = 1, max_orders_per_day = 1e13 }"),
                "node[0].gateway.risk.max_orders_per_day: 1e13 is out of range 1..=10_000_000",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(problem(&text), want);
        }
    }

    #[test]
    fn reconnect_keys_are_read_and_checked() -> Result<(), ParseError> {
        let idle = "idle = { kind = \"backoff\" }";
        let with = |table: &str| GOOD.replace(idle, &format!("{idle}\nreconnect = {table}"));
        let t = Topology::parse(GOOD)?;
        assert_eq!(
            t.nodes[0].reconnect,
            super::super::ReconnectConfig::default()
        );
        assert_eq!(
            t.nodes[0].reconnect.give_up_after_s, 0,
            "never give up by default"
        );
        let t = Topology::parse(&with("{ max_backoff_ms = 250, give_up_after_s = 60 }"))?;
        assert_eq!(
            (
                t.nodes[0].reconnect.max_backoff_ms,
                t.nodes[0].reconnect.give_up_after_s
            ),
            (250, 60)
        );
        let cases = [
            (
                with("{ max_backoff_ms = 10 }"),
                "node[0].reconnect.max_backoff_ms: 10 is out of range 100..=600_000",
            ),
            (
                with("{ give_up_after_s = -1 }"),
                "node[0].reconnect.give_up_after_s: -1 is out of range 0..=31_536_000",
            ),
            (
                with("{ peer_timeout_ms = 1e12 }"),
                "node[0].reconnect.peer_timeout_ms: 1e12 is out of range 500..=600_000",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(problem(&text), want);
        }
        assert!(problem(&with("{ max_backof_ms = 1000 }")).contains("max_backof_ms"));
        Ok(())
    }

    #[test]
    fn drop_copy_keys_are_read_and_checked() -> Result<(), ParseError> {
        let idle = "idle = { kind = \"backoff\" }";
        let with = |table: &str| GOOD.replace(idle, &format!("{idle}\ndrop_copy = {table}"));
        assert_eq!(Topology::parse(GOOD)?.nodes[0].drop_copy, None);
        let t = Topology::parse(&with(
            "{ sqlite = \"dc.sqlite\", postgres = \"postgresql://tw@127.0.0.1:5432/bo\" }",
        ))?;
        let targets = t.nodes[0]
            .drop_copy
            .as_ref()
            .map(|d| d.targets(std::path::Path::new("/run")));
        assert_eq!(
            targets.as_ref().and_then(|t| t.sqlite.clone()),
            Some(std::path::PathBuf::from("/run/dc.sqlite"))
        );
        assert!(targets.is_some_and(|t| t.postgres.is_some()));
        let bad_url = with("{ postgres = \"postgresql://tw@127.0.0.1:notaport/bo\" }");
        assert!(problem(&bad_url).starts_with("node[0].drop_copy.postgres: "));
        assert!(problem(&with("{ sqlit = \"dc.sqlite\" }")).contains("sqlit"));
        // Only the gateway's node: a second node without one refuses the section.
        let engine_node = "[[node.engine]]";
        let two = with("{ sqlite = \"dc.sqlite\" }").replace(
            engine_node,
            &format!("[[node]]\nname = \"b\"\ndrop_copy = {{ sqlite = \"x\" }}\n{engine_node}"),
        );
        assert!(
            problem(&two).starts_with("node[1].drop_copy: "),
            "{}",
            problem(&two)
        );
        Ok(())
    }

    #[test]
    fn metrics_keys_are_read_and_checked() -> Result<(), ParseError> {
        let idle = "idle = { kind = \"backoff\" }";
        let with = |table: &str| GOOD.replace(idle, &format!("{idle}\nmetrics = {table}"));
        assert_eq!(Topology::parse(GOOD)?.nodes[0].metrics, None);
        let t = Topology::parse(&with("{ dir = \"m\", listen = \"127.0.0.1:9465\" }"))?;
        let section = t.nodes[0]
            .metrics
            .as_ref()
            .map(|m| m.section(std::path::Path::new("/run")));
        assert_eq!(
            section.and_then(|s| s.dir),
            Some(std::path::PathBuf::from("/run/m"))
        );
        let remote = with("{ listen = \"0.0.0.0:9465\" }");
        assert!(problem(&remote).starts_with("node[0].metrics.listen: "));
        assert!(problem(&remote).contains("allow_remote"));
        Topology::parse(&with("{ listen = \"0.0.0.0:9465\", allow_remote = true }"))?;
        assert!(problem(&with("{ dri = \"m\" }")).contains("dri"));
        Ok(())
    }

    #[test]
    fn port_zero_needs_every_client_on_the_same_node() {
        let text = GOOD.replace("127.0.0.1:7411", "127.0.0.1:0");
        assert!(Topology::parse(&text).is_ok());
        let split = text.replace(
            "[[node.engine]]",
            "[[node]]\n        name = \"b\"\n        [[node.engine]]",
        );
        assert!(problem(&split).contains("node[0].feed.listen: port 0"));
    }

    #[test]
    fn dedicated_cores_are_not_shared() {
        let text = GOOD
            .replace("threading = \"shared\"", "threading = \"dedicated\"")
            .replace(
                "listen = \"127.0.0.1:7411\"",
                "listen = \"127.0.0.1:7411\"\ncore = 1",
            )
            .replace(
                "listen = \"127.0.0.1:7421\"",
                "listen = \"127.0.0.1:7421\"\ncore = 1",
            );
        assert!(problem(&text).contains("node[0].gateway.core: core 1"));
    }
}
