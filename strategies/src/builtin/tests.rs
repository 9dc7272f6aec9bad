//! Example strategy tests: each strategy driven through an engine with hand-made ticks
//! and execution events; the registry with TOML configurations.

use tickwarp_wire::{
    AccountId, ClientOrderId, ExecMeta, Fill, InstrumentId, MdBboUpdate, MdMeta, MdTrade, Nanos,
    OrderAccepted, OrderFilled, OrderType, Qty, Quote, SeqNo, Side, TimeInForce, UnixNanos,
};

use super::*;
use crate::engine::{Engine, EngineConfig};
use crate::event::Execution;
use crate::order::OrderCommand;
use crate::strategy::Strategy;

fn bbo(seq: u64, bid: i64, ask: i64) -> MdBboUpdate {
    let meta = MdMeta {
        instrument: InstrumentId(1),
        feed_seq: SeqNo(seq),
        venue_ts: UnixNanos(seq),
        recv_ts: Nanos(seq),
    };
    let q = |px| Quote {
        px: Price::from_ticks(px),
        qty: Qty(500),
        orders: 1,
    };
    MdBboUpdate::new(meta, q(bid), q(ask))
}

fn engine_with(s: Builtin) -> Engine<Builtin> {
    let mut e = Engine::new(EngineConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    e.add(s).unwrap_or_else(|e| panic!("{e}"));
    e
}

fn meta_for(id: ClientOrderId) -> ExecMeta {
    ExecMeta {
        instrument: InstrumentId(1),
        account: AccountId(1),
        cl_ord_id: id,
        order_id: 1,
        transact_time: UnixNanos(1),
        gateway_ts: Nanos(1),
    }
}

fn accept(e: &mut Engine<Builtin>, cmd: &OrderCommand, sink: &mut Vec<OrderCommand>) {
    let OrderCommand::New(n) = cmd else {
        panic!("not a new order: {cmd}");
    };
    let acc = OrderAccepted::new(meta_for(n.cl_ord_id()), n.side(), n.ord_type(), n.tif());
    e.handle_execution(&Execution::Accepted(&acc), Nanos(1), sink);
}

fn fill_all(e: &mut Engine<Builtin>, cmd: &OrderCommand, sink: &mut Vec<OrderCommand>) {
    let OrderCommand::New(n) = cmd else {
        panic!("not a new order: {cmd}");
    };
    let f = OrderFilled::new(
        meta_for(n.cl_ord_id()),
        n.side(),
        Fill {
            exec_id: 1,
            last_px: n.price(),
            last_qty: n.qty(),
            cum_qty: n.qty(),
            leaves_qty: Qty::ZERO,
        },
    );
    e.handle_execution(&Execution::Filled(&f), Nanos(1), sink);
}

fn mm(config: MarketMakerConfig) -> Builtin {
    Builtin::MarketMaker(MarketMaker::new(config).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn market_maker_quotes_skews_and_requotes() {
    let config = MarketMakerConfig {
        max_position: 100,
        ..MarketMakerConfig::default()
    };
    let maker = MarketMaker::new(config.clone()).unwrap_or_else(|e| panic!("{e}"));
    // Mid 100.0050; bid 100.0050 - 0.02 floored to 99.98, ask ceiled to 100.03.
    assert_eq!(
        maker.quotes(Price::from_ticks(1_000_050), 0),
        (
            Some(Price::from_ticks(999_800)),
            Some(Price::from_ticks(1_000_300))
        )
    );
    // Long one lot: fair shifts down by 0.01, and no more bids at the limit.
    assert_eq!(
        maker.quotes(Price::from_ticks(1_000_000), 100),
        (None, Some(Price::from_ticks(1_000_100)))
    );

    let mut e = engine_with(mm(config));
    let mut sink: Vec<OrderCommand> = Vec::new();
    let b = bbo(1, 999_900, 1_000_100);
    e.handle_tick(&Tick::Bbo(&b), Nanos(1), &mut sink);
    assert_eq!(sink.len(), 2, "{sink:?}");
    let (bid, ask) = (sink[0], sink[1]);
    accept(&mut e, &bid, &mut sink);
    accept(&mut e, &ask, &mut sink);
    // Small move: nothing. Move by the threshold: both quotes replaced.
    let b = bbo(2, 999_950, 1_000_150);
    e.handle_tick(&Tick::Bbo(&b), Nanos(2), &mut sink);
    assert_eq!(sink.len(), 2);
    let b = bbo(3, 1_000_000, 1_000_200);
    e.handle_tick(&Tick::Bbo(&b), Nanos(3), &mut sink);
    assert!(
        matches!(
            sink[2..],
            [OrderCommand::Replace(_), OrderCommand::Replace(_)]
        ),
        "{sink:?}"
    );
    // The bid (first order) fills completely: long 100 = the limit.
    let mut sink2: Vec<OrderCommand> = Vec::new();
    let mut e = engine_with(mm(MarketMakerConfig {
        max_position: 100,
        ..MarketMakerConfig::default()
    }));
    let b = bbo(1, 999_900, 1_000_100);
    e.handle_tick(&Tick::Bbo(&b), Nanos(1), &mut sink2);
    let bid = sink2[0];
    fill_all(&mut e, &bid, &mut sink2);
    assert_eq!(e.positions(0).map(|p| p[0].qty()), Some(100));
    let before = sink2.len();
    let b = bbo(4, 999_900, 1_000_100);
    e.handle_tick(&Tick::Bbo(&b), Nanos(4), &mut sink2);
    // No new bid at the limit; the ask is still working (not yet accepted: untouched).
    assert_eq!(sink2.len(), before, "{sink2:?}");
}

#[test]
fn market_maker_config_is_validated() {
    let bad = MarketMakerConfig {
        tick_size: Price::ZERO,
        ..MarketMakerConfig::default()
    };
    assert_eq!(
        MarketMaker::new(bad).map(|_| ()).map_err(|e| e.field),
        Err("tick_size")
    );
}

#[test]
fn momentum_follows_the_crossover() {
    let config = MomentumConfig {
        fast_period: 2,
        slow_period: 4,
        qty: Qty(50),
        max_position: 100,
        ..MomentumConfig::default()
    };
    let mut e = engine_with(Builtin::Momentum(
        Momentum::new(config).unwrap_or_else(|e| panic!("{e}")),
    ));
    let mut sink: Vec<OrderCommand> = Vec::new();
    let mut seq = 0;
    let mut feed = |e: &mut Engine<Builtin>, sink: &mut Vec<OrderCommand>, mid: i64| {
        seq += 1;
        let b = bbo(seq, mid - 100, mid + 100);
        e.handle_tick(&Tick::Bbo(&b), Nanos(seq), sink);
    };
    for mid in [10_000, 10_000, 10_000] {
        feed(&mut e, &mut sink, mid);
    }
    assert!(sink.is_empty(), "warming up: {sink:?}");
    feed(&mut e, &mut sink, 10_500);
    let [OrderCommand::New(buy)] = sink[..] else {
        panic!("expected one buy: {sink:?}");
    };
    assert_eq!(
        (buy.side(), buy.tif(), buy.qty(), buy.price()),
        (
            Side::Buy,
            TimeInForce::Ioc,
            Qty(50),
            Price::from_ticks(10_600)
        )
    );
    assert_eq!(buy.ord_type(), OrderType::Limit);
    // While it works, no second order.
    feed(&mut e, &mut sink, 10_600);
    assert_eq!(sink.len(), 1);
    let cmd = sink[0];
    fill_all(&mut e, &cmd, &mut sink);
    feed(&mut e, &mut sink, 10_700);
    assert_eq!(sink.len(), 2, "{sink:?}");
    let cmd = sink[1];
    fill_all(&mut e, &cmd, &mut sink);
    assert_eq!(e.positions(0).map(|p| p[0].qty()), Some(100));
    // Prices fall: the target flips to short 100, sold in lots of 50.
    for mid in [9_000, 8_000, 7_000] {
        feed(&mut e, &mut sink, mid);
    }
    let OrderCommand::New(sell) = sink[2] else {
        panic!("expected a sell: {sink:?}");
    };
    assert_eq!(sell.side(), Side::Sell);
    if let Builtin::Momentum(m) = e.strategy(0).unwrap_or_else(|| panic!("gone")) {
        assert_eq!(m.target(), -100);
    }
}

#[test]
fn pinger_pings_every_nth_tick_and_cancels_on_accept() {
    let config = PingerConfig {
        every: 3,
        offset: Price::from_ticks(5_000),
        ..PingerConfig::default()
    };
    let mut e = engine_with(Builtin::Pinger(
        Pinger::new(config).unwrap_or_else(|e| panic!("{e}")),
    ));
    let mut sink: Vec<OrderCommand> = Vec::new();
    for seq in 1..=3 {
        let b = bbo(seq, 10_000, 10_100);
        e.handle_tick(&Tick::Bbo(&b), Nanos(seq), &mut sink);
    }
    let [OrderCommand::New(ping)] = sink[..] else {
        panic!("expected one ping: {sink:?}");
    };
    assert_eq!(ping.price(), Price::from_ticks(5_000));
    assert_eq!(ping.cause().feed_seq, SeqNo(3));
    let cmd = sink[0];
    accept(&mut e, &cmd, &mut sink);
    assert!(
        matches!(sink[1], OrderCommand::Cancel(c) if c.orig_cl_ord_id() == ping.cl_ord_id()),
        "{sink:?}"
    );
    // The 6th tick finds the ping still live (cancel unconfirmed): skipped.
    for seq in 4..=6 {
        let b = bbo(seq, 10_000, 10_100);
        e.handle_tick(&Tick::Bbo(&b), Nanos(seq), &mut sink);
    }
    assert_eq!(sink.len(), 2);
    if let Some(Builtin::Pinger(p)) = e.strategy(0) {
        assert_eq!(p.counts(), (1, 1));
    }
    // Trades also count as ticks and give a price.
    let t = MdTrade::new(
        MdMeta {
            instrument: InstrumentId(1),
            ..MdMeta::default()
        },
        0,
        None,
        Price::from_ticks(10_050),
        Qty(1),
    );
    e.handle_tick(&Tick::Trade(&t), Nanos(7), &mut sink);
}

#[test]
fn registry_builds_from_toml_and_reports_errors() {
    let table: toml::Table = toml::from_str(
        r#"
        instrument = 2
        half_spread = "0.0500"
        quote_qty = 10
        max_position = 50
        "#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let s = by_name("market_maker", table).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.name(), "market_maker");
    assert_eq!(s.instruments(), &[InstrumentId(2)]);
    for &name in NAMES {
        let s = by_name(name, toml::Table::new()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.name(), name);
        assert!(default_by_name(name).is_ok());
    }
    assert_eq!(
        by_name("nope", toml::Table::new()).map(|_| ()),
        Err(RegistryError::Unknown {
            name: "nope".into()
        })
    );
    let bad: toml::Table = toml::from_str("fast_period = 9\nslow_period = 3").unwrap_or_default();
    assert_eq!(
        by_name("momentum", bad).map(|_| ()),
        Err(RegistryError::Invalid {
            name: "momentum",
            error: ConfigError {
                field: "slow_period",
                reason: "must be greater than fast_period"
            }
        })
    );
    let typo: toml::Table = toml::from_str("evry = 3").unwrap_or_default();
    let err = by_name("pinger", typo).map(|_| ()).err();
    assert!(
        matches!(&err, Some(RegistryError::Parse { name: "pinger", message }) if message.contains("evry")),
        "{err:?}"
    );
    #[derive(serde::Deserialize)]
    struct File {
        strategy: Vec<BuiltinConfig>,
    }
    let file: File = toml::from_str(
        r#"
        [[strategy]]
        name = "pinger"
        every = 10
        side = "sell"

        [[strategy]]
        name = "momentum"
        source = "trades"
        entry = "limit"
        "#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let built: Vec<_> = file
        .strategy
        .into_iter()
        .map(|c| Builtin::from_config(c).map(|s| s.name().to_owned()))
        .collect();
    assert_eq!(
        built,
        vec![Ok("pinger".to_owned()), Ok("momentum".to_owned())]
    );
}

#[test]
fn registry_names_are_unique_and_agree_everywhere() {
    assert!(!BUILTIN.is_empty());
    let mut seen = std::collections::BTreeSet::new();
    for (i, entry) in BUILTIN.iter().enumerate() {
        assert!(seen.insert(entry.name), "{} registered twice", entry.name);
        assert_eq!(NAMES[i], entry.name);
        assert!(!entry.name.is_empty() && !entry.summary.is_empty());
        assert!(
            entry
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{}: registry names are snake_case",
            entry.name
        );
        assert!(lookup(entry.name).is_ok_and(|e| e.name == entry.name));
        let config = (entry.default_config)();
        assert_eq!(config.name(), entry.name);
        let built = Builtin::from_config(config).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(built.name(), entry.name);
    }
    assert_eq!(NAMES.len(), BUILTIN.len());
    assert_eq!(KnownNames.to_string(), NAMES.join(", "));
}

#[test]
fn every_entry_parses_its_own_default_config() {
    for entry in BUILTIN {
        let default = (entry.default_config)();
        // As one tagged value: `name = "..."` plus every field, in TOML.
        let text = toml::to_string(&default).unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        assert!(
            text.contains(&format!("name = \"{}\"", entry.name)),
            "{}: {text}",
            entry.name
        );
        let tagged: BuiltinConfig =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", entry.name));
        assert_eq!(tagged, default, "{}", entry.name);
        // As the fields of a table selected by name, the way a topology file gives them.
        let mut fields: toml::Table =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        fields.remove("name");
        let parsed = BuiltinConfig::parse(entry.name, fields.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        assert_eq!(parsed, default, "{}", entry.name);
        // An empty table is the default too, and builds.
        let empty = BuiltinConfig::parse(entry.name, toml::Table::new())
            .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        assert_eq!(empty, default, "{}", entry.name);
        let built = by_name(entry.name, fields).unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        assert_eq!(built.name(), entry.name);
        // An unknown field is refused, naming the strategy.
        let typo: toml::Table = toml::from_str("no_such_field = 1").unwrap_or_default();
        assert!(
            matches!(
                BuiltinConfig::parse(entry.name, typo),
                Err(RegistryError::Parse { name, .. }) if name == entry.name
            ),
            "{}",
            entry.name
        );
    }
}

#[test]
fn unknown_names_list_the_registry() {
    let err = by_name("nope", toml::Table::new()).map(|_| ()).err();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        text,
        format!("unknown strategy \"nope\" (known: {})", NAMES.join(", "))
    );
    assert!(default_by_name("nope").is_err());
    assert!(lookup("").is_err());
}
