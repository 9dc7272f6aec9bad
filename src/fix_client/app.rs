//! The application layer of `tickwarp fix-client` above the gateway's session core
//! (initiator role): it turns [`Command`]s into FIX 4.4 requests (D, F, G, H, AF, q, AN),
//! turns what the gateway sends (8, 9, j, 3, r, AO, AP) into one readable line each,
//! remembers the orders it saw (so `cancel ID` can name their symbol and side) and the
//! outcome of each request, for `--expect-*` and for the wait at end of input.
//!
//! It must not touch the socket, read a clock or print: lines leave through
//! [`Application::poll_event`], and the driver prints them.

use std::collections::{HashMap, VecDeque};

use tickwarp_gateway::fix::codec::Message;
use tickwarp_gateway::fix::fields::tag;
use tickwarp_gateway::fix::{
    Application, Connection, ConnectionEvent, Delivery, MessageWriter, MsgType, Now, SessionStore,
};
use tickwarp_runtime::UnixNanos;

use super::command::{Command, Instruction, Order};

/// Tags of the FIX 4.4 messages this client adds to the gateway's own set.
mod t {
    pub(super) const NO_PARTY_IDS: u32 = 453;
    pub(super) const PARTY_ID: u32 = 448;
    pub(super) const PARTY_ID_SOURCE: u32 = 447;
    pub(super) const PARTY_ROLE: u32 = 452;
    pub(super) const MASS_CANCEL_REQUEST_TYPE: u32 = 530;
    pub(super) const MASS_CANCEL_RESPONSE: u32 = 531;
    pub(super) const MASS_CANCEL_REJECT_REASON: u32 = 532;
    pub(super) const TOTAL_AFFECTED_ORDERS: u32 = 533;
    pub(super) const ACCOUNT_TYPE: u32 = 581;
    pub(super) const MASS_STATUS_REQ_ID: u32 = 584;
    pub(super) const MASS_STATUS_REQ_TYPE: u32 = 585;
    pub(super) const POS_TYPE: u32 = 703;
    pub(super) const LONG_QTY: u32 = 704;
    pub(super) const SHORT_QTY: u32 = 705;
    pub(super) const POS_REQ_ID: u32 = 710;
    pub(super) const CLEARING_BUSINESS_DATE: u32 = 715;
    pub(super) const POS_REQ_TYPE: u32 = 724;
    pub(super) const TOTAL_NUM_POS_REPORTS: u32 = 727;
    pub(super) const POS_REQ_RESULT: u32 = 728;
    pub(super) const POS_REQ_STATUS: u32 = 729;
    pub(super) const SETTL_PRICE: u32 = 730;
    pub(super) const TOT_NUM_REPORTS: u32 = 911;
    pub(super) const LAST_RPT_REQUESTED: u32 = 912;
}

/// A message type from its tag 35 value.
fn msg_type(v: &[u8]) -> MsgType {
    MsgType::from_bytes(v).unwrap_or(MsgType::UNKNOWN)
}

/// What the driver prints or acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Output {
    /// A session event of the core.
    Session(ConnectionEvent),
    /// A line for stdout.
    Line(String),
}

/// Which request a key names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    New,
    Cancel,
    Replace,
    Status,
    MassStatus,
    MassCancel,
    Positions,
}

/// What came back for one request.
#[derive(Clone, Copy, Debug, Default)]
struct Outcome {
    acked: bool,
    filled: bool,
    rejected: bool,
    /// The order reached a final state (canceled, expired, done for day).
    ended: bool,
    /// Nothing more is expected for it.
    complete: bool,
    /// Reports still expected (positions).
    reports_left: Option<u64>,
}

#[derive(Clone, Debug)]
struct Request {
    kind: Kind,
    outcome: Outcome,
}

/// What this client knows of an order.
#[derive(Clone, Debug, PartialEq, Eq)]
struct OrderInfo {
    symbol: String,
    side: u8,
    qty: String,
    ord_type: u8,
    price: Option<String>,
    tif: u8,
    order_id: Option<String>,
}

/// Which outcome of the last order command `--expect-*` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expect {
    /// At least one fill.
    Fill,
    /// Accepted (new, canceled or replaced, by the command).
    Ack,
    /// Rejected.
    Reject,
}

/// The verdict on an expectation so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The expected outcome came.
    Met,
    /// Another outcome came.
    Failed(String),
    /// Nothing decisive yet.
    Waiting,
}

/// The client application (see the module docs).
#[derive(Debug)]
pub(super) struct ClientApp {
    account: Option<u32>,
    sender: String,
    prefix: String,
    next_id: u64,
    orders: HashMap<String, OrderInfo>,
    /// A ClOrdID replaced by another → the other.
    replaced_by: HashMap<String, String>,
    requests: HashMap<String, Request>,
    by_seq: HashMap<u64, String>,
    /// Key of the last order command (new, cancel, replace).
    last_order: Option<String>,
    out: VecDeque<String>,
    /// Lines for the store's `orders` file (see [`ClientApp::restore`]) not yet written.
    records: Vec<String>,
    /// Whether the note about [`MAX_KNOWN_ORDERS`] was printed.
    full_warned: bool,
}

/// Orders (and replace links) remembered at most.
const MAX_KNOWN_ORDERS: usize = 1_000_000;

/// Why the `orders` file of a store cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {what}")]
pub(super) struct RestoreError {
    /// 1-based line number.
    line: usize,
    /// What is wrong with it.
    what: &'static str,
}

/// `-` for an absent value in an `orders` record.
fn opt(v: Option<&str>) -> &str {
    v.unwrap_or("-")
}

fn parse_opt(v: &str) -> Option<String> {
    (v != "-").then(|| v.to_owned())
}

fn one_byte(v: &str) -> Option<u8> {
    match v.as_bytes() {
        [b] if b.is_ascii_graphic() => Some(*b),
        _ => None,
    }
}

fn text(v: Option<&[u8]>) -> String {
    v.map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

fn side_word(side: Option<&[u8]>) -> &'static str {
    match side {
        Some(b"1") => "buy",
        Some(b"2") => "sell",
        _ => "side?",
    }
}

fn status_word(s: Option<&[u8]>) -> &'static str {
    match s {
        Some(b"0") => "new",
        Some(b"1") => "partially-filled",
        Some(b"2") => "filled",
        Some(b"3") => "done-for-day",
        Some(b"4") => "canceled",
        Some(b"5") => "replaced",
        Some(b"6") => "pending-cancel",
        Some(b"8") => "rejected",
        Some(b"A") => "pending-new",
        Some(b"C") => "expired",
        Some(b"E") => "pending-replace",
        _ => "status?",
    }
}

/// `buy 100 ACME @ 100.05` (or `… market`) from an order's fields.
fn describe_order(m: &Message<'_>) -> String {
    let price = match (m.get(tag::ORD_TYPE), m.get(tag::PRICE)) {
        (Some(b"1"), _) | (_, None) => "market".to_owned(),
        (_, Some(p)) => format!("@ {}", String::from_utf8_lossy(p)),
    };
    format!(
        "{} {} {} {}",
        side_word(m.get(tag::SIDE)),
        text(m.get(tag::ORDER_QTY)),
        text(m.get(tag::SYMBOL)),
        price
    )
}

/// A price as FIX writes it: no trailing fractional zeros (`100.05`, `99.9`, `100`).
pub(super) fn price_text(p: tickwarp_wire::Price) -> String {
    let s = p.to_string();
    match s.contains('.') {
        true => s.trim_end_matches('0').trim_end_matches('.').to_owned(),
        false => s,
    }
}

/// Today's date (UTC) as a FIX LocalMktDate, `YYYYMMDD`.
fn date(wall: UnixNanos) -> String {
    let days = (wall.0 / 86_400_000_000_000) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}")
}

impl ClientApp {
    /// A client whose ClOrdIDs start with `prefix` (unique per run of this store).
    pub(super) fn new(account: Option<u32>, sender: &str, prefix: String) -> ClientApp {
        ClientApp {
            account,
            sender: sender.to_owned(),
            prefix,
            next_id: 1,
            orders: HashMap::new(),
            replaced_by: HashMap::new(),
            requests: HashMap::new(),
            by_seq: HashMap::new(),
            last_order: None,
            out: VecDeque::new(),
            records: Vec::new(),
            full_warned: false,
        }
    }

    /// Reads back what earlier runs of this store recorded (the `orders` file: one
    /// tab-separated record a line, `order ID SIDE SYMBOL QTY ORDTYPE PRICE TIF ORDERID`
    /// or `replaced OLD NEW`), so IDs printed in an earlier run still name their orders.
    /// A last line without its newline is a write cut short and is ignored; any other
    /// malformed line is an error naming it.
    pub(super) fn restore(&mut self, text: &str) -> Result<(), RestoreError> {
        let complete = match text.rfind('\n') {
            Some(end) => text.get(..end).unwrap_or_default(),
            None => "",
        };
        for (i, line) in complete.lines().enumerate() {
            let bad = |what| RestoreError { line: i + 1, what };
            let f: Vec<&str> = line.split('\t').collect();
            match f.as_slice() {
                [
                    "order",
                    id,
                    side,
                    symbol,
                    qty,
                    ord_type,
                    price,
                    tif,
                    order_id,
                ] => {
                    let info = OrderInfo {
                        symbol: (*symbol).to_owned(),
                        side: one_byte(side).ok_or(bad("bad side"))?,
                        qty: (*qty).to_owned(),
                        ord_type: one_byte(ord_type).ok_or(bad("bad order type"))?,
                        price: parse_opt(price),
                        tif: one_byte(tif).ok_or(bad("bad time in force"))?,
                        order_id: parse_opt(order_id),
                    };
                    if self.orders.len() < MAX_KNOWN_ORDERS || self.orders.contains_key(*id) {
                        self.orders.insert((*id).to_owned(), info);
                    }
                }
                ["replaced", _, _] if self.replaced_by.len() >= MAX_KNOWN_ORDERS => {}
                ["replaced", old, new] => {
                    self.replaced_by
                        .insert((*old).to_owned(), (*new).to_owned());
                }
                _ => return Err(bad("not an `order` or `replaced` record")),
            }
        }
        Ok(())
    }

    /// Records for the store's `orders` file since the last call, each a whole line.
    pub(super) fn take_records(&mut self) -> Vec<String> {
        std::mem::take(&mut self.records)
    }

    /// Knows `info` as order `id` (recorded when new or changed). Past
    /// [`MAX_KNOWN_ORDERS`] new orders are not remembered (they are still printed): a
    /// gateway flooding reports of unknown orders cannot grow this without bound.
    fn remember(&mut self, id: String, info: OrderInfo) {
        if self.orders.get(&id) == Some(&info) {
            return;
        }
        if !self.orders.contains_key(&id) && self.orders.len() >= MAX_KNOWN_ORDERS {
            if !self.full_warned {
                self.full_warned = true;
                self.out.push_back(format!(
                    "NOTE: {MAX_KNOWN_ORDERS} orders known; further new orders are not remembered"
                ));
            }
            return;
        }
        // What the gateway sent may hold anything; a record is graphic ASCII fields only.
        let graphic = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic());
        let fields = [
            Some(id.as_str()),
            Some(info.symbol.as_str()),
            Some(info.qty.as_str()),
            info.price.as_deref(),
            info.order_id.as_deref(),
        ];
        if !fields.into_iter().flatten().all(graphic) {
            self.orders.insert(id, info);
            return;
        }
        self.records.push(format!(
            "order\t{id}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            char::from(info.side),
            info.symbol,
            info.qty,
            char::from(info.ord_type),
            opt(info.price.as_deref()),
            char::from(info.tif),
            opt(info.order_id.as_deref())
        ));
        self.orders.insert(id, info);
    }

    fn new_id(&mut self) -> String {
        let id = format!("{}{}", self.prefix, self.next_id);
        self.next_id += 1;
        id
    }

    /// The current ClOrdID of the order first printed as `id` (after replaces).
    fn current(&self, id: &str) -> String {
        let mut id = id.to_owned();
        for _ in 0..1024 {
            match self.replaced_by.get(&id) {
                Some(next) if *next != id => id = next.clone(),
                _ => break,
            }
        }
        id
    }

    fn order(&self, id: &str) -> Result<(String, &OrderInfo), String> {
        let current = self.current(id);
        match self.orders.get(&current) {
            Some(info) => Ok((current, info)),
            None => Err(format!(
                "unknown order {id}: IDs are the ones printed for this store's orders (`status all` lists the account's orders)"
            )),
        }
    }

    fn account(&self, w: &mut MessageWriter<'_>) {
        if let Some(a) = self.account {
            w.uint(tag::ACCOUNT, u64::from(a));
        }
    }

    fn track(&mut self, key: String, seq: u64, kind: Kind) {
        self.by_seq.insert(seq, key.clone());
        if matches!(kind, Kind::New | Kind::Cancel | Kind::Replace) {
            self.last_order = Some(key.clone());
        }
        self.requests.insert(
            key,
            Request {
                kind,
                outcome: Outcome::default(),
            },
        );
    }

    /// Sends the request for `cmd`; `Err` is a message for stderr (nothing was sent).
    /// `Help` and `Quit` are the driver's.
    pub(super) fn send<S: SessionStore>(
        &mut self,
        conn: &mut Connection<S>,
        now: Now,
        cmd: &Command,
    ) -> Result<(), String> {
        match cmd {
            Command::New(order) => self.send_new(conn, now, order),
            Command::Cancel(id) => self.send_cancel(conn, now, id),
            Command::Replace { id, qty, price } => {
                self.send_replace(conn, now, id, qty.map(|q| q.get().to_string()), *price)
            }
            Command::Status(id) => self.send_status(conn, now, id),
            Command::StatusAll => {
                let id = self.new_id();
                let account = self.account;
                let seq = conn
                    .send_app(now, msg_type(b"AF"), |w| {
                        w.str(t::MASS_STATUS_REQ_ID, &id)
                            .uint(t::MASS_STATUS_REQ_TYPE, 7);
                        if let Some(a) = account {
                            w.uint(tag::ACCOUNT, u64::from(a));
                        }
                    })
                    .map_err(|e| e.to_string())?;
                self.out.push_back(format!("SENT {id} status all"));
                self.track(id, seq, Kind::MassStatus);
                Ok(())
            }
            Command::CancelAll(symbol) => {
                let id = self.new_id();
                let seq = conn
                    .send_app(now, msg_type(b"q"), |w| {
                        w.str(tag::CL_ORD_ID, &id);
                        match symbol {
                            Some(s) => w.uint(t::MASS_CANCEL_REQUEST_TYPE, 1).str(tag::SYMBOL, s),
                            None => w.uint(t::MASS_CANCEL_REQUEST_TYPE, 7),
                        };
                        w.timestamp(tag::TRANSACT_TIME, now.wall);
                    })
                    .map_err(|e| e.to_string())?;
                let what = symbol.as_deref().unwrap_or("(all symbols)");
                self.out.push_back(format!("SENT {id} cancel all {what}"));
                self.track(id, seq, Kind::MassCancel);
                Ok(())
            }
            Command::Positions => self.send_positions(conn, now),
            Command::Help | Command::Quit => Ok(()),
        }
    }

    fn send_new<S: SessionStore>(
        &mut self,
        conn: &mut Connection<S>,
        now: Now,
        o: &Order,
    ) -> Result<(), String> {
        let id = self.new_id();
        let account = self.account;
        let seq = conn
            .send_app(now, MsgType::NEW_ORDER_SINGLE, |w| {
                w.str(tag::CL_ORD_ID, &id);
                if let Some(a) = account {
                    w.uint(tag::ACCOUNT, u64::from(a));
                }
                w.str(tag::SYMBOL, &o.symbol)
                    .byte(tag::SIDE, o.side.to_wire())
                    .timestamp(tag::TRANSACT_TIME, now.wall)
                    .qty(tag::ORDER_QTY, o.qty);
                match o.price {
                    Some(p) => w.byte(tag::ORD_TYPE, b'2').price(tag::PRICE, p),
                    None => w.byte(tag::ORD_TYPE, b'1'),
                };
                w.byte(tag::TIME_IN_FORCE, o.instruction.tif());
                if o.instruction == Instruction::PostOnly {
                    w.byte(tag::EXEC_INST, b'6');
                }
            })
            .map_err(|e| e.to_string())?;
        let price = o.price.map(price_text);
        let shown = match &price {
            Some(p) => format!("@ {p}"),
            None => "market".to_owned(),
        };
        let instruction = match o.instruction {
            Instruction::Day => "",
            Instruction::Gtc => " gtc",
            Instruction::Ioc => " ioc",
            Instruction::Fok => " fok",
            Instruction::PostOnly => " post-only",
        };
        self.out.push_back(format!(
            "SENT {id} {} {} {} {shown}{instruction}",
            o.side.word(),
            o.qty.get(),
            o.symbol
        ));
        self.remember(
            id.clone(),
            OrderInfo {
                symbol: o.symbol.clone(),
                side: o.side.to_wire(),
                qty: o.qty.get().to_string(),
                ord_type: if price.is_some() { b'2' } else { b'1' },
                price,
                tif: o.instruction.tif(),
                order_id: None,
            },
        );
        self.track(id, seq, Kind::New);
        Ok(())
    }

    fn send_cancel<S: SessionStore>(
        &mut self,
        conn: &mut Connection<S>,
        now: Now,
        id: &str,
    ) -> Result<(), String> {
        let (orig, info) = self.order(id)?;
        let info = info.clone();
        let new = self.new_id();
        let seq = conn
            .send_app(now, MsgType::ORDER_CANCEL_REQUEST, |w| {
                w.str(tag::ORIG_CL_ORD_ID, &orig);
                if let Some(oid) = &info.order_id {
                    w.str(tag::ORDER_ID, oid);
                }
                w.str(tag::CL_ORD_ID, &new);
                self.account(w);
                w.str(tag::SYMBOL, &info.symbol)
                    .byte(tag::SIDE, info.side)
                    .timestamp(tag::TRANSACT_TIME, now.wall)
                    .str(tag::ORDER_QTY, &info.qty);
            })
            .map_err(|e| e.to_string())?;
        self.out.push_back(format!("SENT {new} cancel {orig}"));
        self.track(new, seq, Kind::Cancel);
        Ok(())
    }

    fn send_replace<S: SessionStore>(
        &mut self,
        conn: &mut Connection<S>,
        now: Now,
        id: &str,
        qty: Option<String>,
        price: Option<tickwarp_wire::Price>,
    ) -> Result<(), String> {
        let (orig, info) = self.order(id)?;
        let mut info = info.clone();
        if info.ord_type != b'2' {
            return Err(format!(
                "{id} is a market order: only limit orders can be replaced"
            ));
        }
        if let Some(q) = qty {
            info.qty = q;
        }
        if let Some(p) = price {
            info.price = Some(price_text(p));
        }
        let new = self.new_id();
        let seq = conn
            .send_app(now, MsgType::ORDER_CANCEL_REPLACE_REQUEST, |w| {
                w.str(tag::ORIG_CL_ORD_ID, &orig);
                if let Some(oid) = &info.order_id {
                    w.str(tag::ORDER_ID, oid);
                }
                w.str(tag::CL_ORD_ID, &new);
                self.account(w);
                w.str(tag::SYMBOL, &info.symbol)
                    .byte(tag::SIDE, info.side)
                    .timestamp(tag::TRANSACT_TIME, now.wall)
                    .str(tag::ORDER_QTY, &info.qty)
                    .byte(tag::ORD_TYPE, info.ord_type)
                    .str(tag::PRICE, info.price.as_deref().unwrap_or("0"))
                    .byte(tag::TIME_IN_FORCE, info.tif);
            })
            .map_err(|e| e.to_string())?;
        self.out.push_back(format!(
            "SENT {new} replace {orig}: {} @ {}",
            info.qty,
            info.price.as_deref().unwrap_or("")
        ));
        info.order_id = None;
        self.remember(new.clone(), info);
        self.track(new, seq, Kind::Replace);
        Ok(())
    }

    fn send_status<S: SessionStore>(
        &mut self,
        conn: &mut Connection<S>,
        now: Now,
        id: &str,
    ) -> Result<(), String> {
        let (current, info) = self.order(id)?;
        let info = info.clone();
        let seq = conn
            .send_app(now, msg_type(b"H"), |w| {
                if let Some(oid) = &info.order_id {
                    w.str(tag::ORDER_ID, oid);
                }
                w.str(tag::CL_ORD_ID, &current);
                self.account(w);
                w.str(tag::SYMBOL, &info.symbol).byte(tag::SIDE, info.side);
            })
            .map_err(|e| e.to_string())?;
        self.out.push_back(format!("SENT status {current}"));
        // The answer carries the order's ClOrdID: track it under a key of its own.
        self.track(format!("status:{current}"), seq, Kind::Status);
        Ok(())
    }

    fn send_positions<S: SessionStore>(
        &mut self,
        conn: &mut Connection<S>,
        now: Now,
    ) -> Result<(), String> {
        let Some(account) = self.account else {
            return Err("positions needs `account` in the configuration (Account (1) is required in RequestForPositions)".to_owned());
        };
        let id = self.new_id();
        let sender = self.sender.clone();
        let seq = conn
            .send_app(now, msg_type(b"AN"), |w| {
                w.str(t::POS_REQ_ID, &id)
                    .uint(t::POS_REQ_TYPE, 0)
                    .uint(t::NO_PARTY_IDS, 1)
                    .str(t::PARTY_ID, &sender)
                    .byte(t::PARTY_ID_SOURCE, b'D')
                    .uint(t::PARTY_ROLE, 3)
                    .uint(tag::ACCOUNT, u64::from(account))
                    .uint(t::ACCOUNT_TYPE, 1)
                    .str(t::CLEARING_BUSINESS_DATE, &date(now.wall))
                    .timestamp(tag::TRANSACT_TIME, now.wall);
            })
            .map_err(|e| e.to_string())?;
        self.out.push_back(format!("SENT {id} positions"));
        self.track(id, seq, Kind::Positions);
        Ok(())
    }

    /// Requests still waiting for (all of) their answer.
    pub(super) fn unanswered(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .requests
            .iter()
            .filter(|(_, r)| !r.outcome.complete)
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        v
    }

    /// Whether any order command was sent.
    pub(super) fn sent_order(&self) -> bool {
        self.last_order.is_some()
    }

    /// The verdict on `expect` for the last order command.
    pub(super) fn verdict(&self, expect: Expect) -> Verdict {
        let Some(key) = &self.last_order else {
            return Verdict::Failed("no order command was sent".to_owned());
        };
        let Some(r) = self.requests.get(key) else {
            return Verdict::Waiting;
        };
        let o = r.outcome;
        match expect {
            Expect::Fill if o.filled => Verdict::Met,
            Expect::Fill if o.rejected => Verdict::Failed(format!("{key} was rejected")),
            Expect::Fill if o.ended => Verdict::Failed(format!("{key} ended without a fill")),
            Expect::Fill if r.kind == Kind::Cancel && o.acked => Verdict::Failed(format!(
                "{key} is a cancel: it was accepted, nothing filled"
            )),
            Expect::Ack if o.acked => Verdict::Met,
            Expect::Ack if o.rejected => Verdict::Failed(format!("{key} was rejected")),
            Expect::Reject if o.rejected => Verdict::Met,
            Expect::Reject if o.acked => {
                Verdict::Failed(format!("{key} was accepted, not rejected"))
            }
            _ => Verdict::Waiting,
        }
    }

    fn outcome(&mut self, key: &[u8]) -> Option<&mut Outcome> {
        let key = std::str::from_utf8(key).ok()?;
        self.requests.get_mut(key).map(|r| &mut r.outcome)
    }

    /// Remembers what an ExecutionReport says of its order.
    fn learn(&mut self, m: &Message<'_>) {
        let (Some(id), Some(symbol), Some([side])) =
            (m.get(tag::CL_ORD_ID), m.get(tag::SYMBOL), m.get(tag::SIDE))
        else {
            return;
        };
        if m.get(tag::EXEC_TYPE) == Some(b"8") || m.get(tag::ORD_STATUS) == Some(b"8") {
            return;
        }
        let id = text(Some(id));
        let previous = self.orders.get(&id);
        let info = OrderInfo {
            symbol: text(Some(symbol)),
            side: *side,
            qty: m
                .get(tag::ORDER_QTY)
                .map(|q| text(Some(q)))
                .or_else(|| previous.map(|p| p.qty.clone()))
                .unwrap_or_default(),
            ord_type: match m.get(tag::ORD_TYPE) {
                Some([b]) => *b,
                _ => previous.map_or(b'2', |p| p.ord_type),
            },
            price: m
                .get(tag::PRICE)
                .map(|p| text(Some(p)))
                .or_else(|| previous.and_then(|p| p.price.clone())),
            tif: match m.get(tag::TIME_IN_FORCE) {
                Some([b]) => *b,
                _ => previous.map_or(b'0', |p| p.tif),
            },
            order_id: m
                .get(tag::ORDER_ID)
                .filter(|v| *v != b"NONE")
                .map(|v| text(Some(v))),
        };
        if m.get(tag::EXEC_TYPE) == Some(b"5") {
            if let Some(orig) = m.get(tag::ORIG_CL_ORD_ID) {
                let orig = text(Some(orig));
                let graphic = orig.bytes().chain(id.bytes()).all(|b| b.is_ascii_graphic());
                let room = self.replaced_by.len() < MAX_KNOWN_ORDERS;
                if graphic && room && self.replaced_by.get(&orig) != Some(&id) {
                    self.records.push(format!("replaced\t{orig}\t{id}\n"));
                    self.replaced_by.insert(orig, id.clone());
                }
            }
        }
        self.remember(id, info);
    }

    fn on_execution_report(&mut self, m: &Message<'_>) {
        self.learn(m);
        let id = text(m.get(tag::CL_ORD_ID));
        let cum = text(m.get(tag::CUM_QTY));
        let leaves = text(m.get(tag::LEAVES_QTY));
        let exec_type = m.get(tag::EXEC_TYPE).unwrap_or_default();
        let line = match exec_type {
            b"0" => format!(
                "ACK  {id} {} {}",
                describe_order(m),
                status_word(m.get(tag::ORD_STATUS))
            ),
            b"F" => format!(
                "FILL {id} {} @ {} (cum {cum}, leaves {leaves})",
                text(m.get(tag::LAST_QTY)),
                text(m.get(tag::LAST_PX))
            ),
            b"8" => format!(
                "REJECT {id}: {} (reason {})",
                text(m.get(tag::TEXT)),
                text(m.get(tag::ORD_REJ_REASON))
            ),
            b"4" => match m.get(tag::ORIG_CL_ORD_ID) {
                Some(orig) => format!(
                    "CANCELED {id} (order {}, cum {cum})",
                    String::from_utf8_lossy(orig)
                ),
                None => format!("CANCELED {id}: {} (cum {cum})", text(m.get(tag::TEXT))),
            },
            b"5" => format!(
                "REPLACED {id} (was {}) {} (cum {cum}, leaves {leaves})",
                text(m.get(tag::ORIG_CL_ORD_ID)),
                describe_order(m)
            ),
            b"C" | b"3" => format!(
                "{} {id} {} (cum {cum}, leaves {leaves})",
                if exec_type == b"C" {
                    "EXPIRED"
                } else {
                    "DONE-FOR-DAY"
                },
                describe_order(m)
            ),
            b"I" if m.get(t::TOT_NUM_REPORTS) == Some(b"0") => format!(
                "STATUS {}: no orders match",
                text(m.get(t::MASS_STATUS_REQ_ID))
            ),
            b"I" => {
                let mut line = format!(
                    "STATUS {id} {} {} (cum {cum}, leaves {leaves}, avg {})",
                    describe_order(m),
                    status_word(m.get(tag::ORD_STATUS)),
                    text(m.get(tag::AVG_PX))
                );
                if let Some(reason) = m.get(tag::ORD_REJ_REASON) {
                    line.push_str(&format!(" reason {}", text(Some(reason))));
                }
                if let Some(t) = m.get(tag::TEXT) {
                    line.push_str(&format!(": {}", text(Some(t))));
                }
                line
            }
            other => format!(
                "EXEC {id} {} {} (exec type {}, cum {cum}, leaves {leaves})",
                describe_order(m),
                status_word(m.get(tag::ORD_STATUS)),
                text(Some(other))
            ),
        };
        self.out.push_back(line);
        let final_status = matches!(m.get(tag::ORD_STATUS), Some(b"2" | b"3" | b"4" | b"C"));
        if exec_type == b"I" {
            if let Some(req) = m.get(t::MASS_STATUS_REQ_ID) {
                let last = m.get(t::LAST_RPT_REQUESTED) == Some(b"Y")
                    || m.get(t::TOT_NUM_REPORTS) == Some(b"0");
                if let Some(o) = self.outcome(req) {
                    o.acked = true;
                    o.complete |= last;
                }
            } else if let Some(o) = self.outcome(format!("status:{id}").as_bytes()) {
                o.acked = true;
                o.complete = true;
            }
            return;
        }
        let Some(o) = self.outcome(id.as_bytes()) else {
            return;
        };
        o.complete = true;
        match exec_type {
            b"8" => o.rejected = true,
            b"F" => {
                o.acked = true;
                o.filled = true;
            }
            b"0" | b"4" | b"5" => o.acked = true,
            _ => {}
        }
        if final_status || matches!(exec_type, b"4" | b"C" | b"3") {
            o.ended = true;
        }
    }

    fn on_cancel_reject(&mut self, m: &Message<'_>) {
        let id = text(m.get(tag::CL_ORD_ID));
        self.out.push_back(format!(
            "REJECT {id}: {} of {}: {} (reason {})",
            if m.get(tag::CXL_REJ_RESPONSE_TO) == Some(b"2") {
                "replace"
            } else {
                "cancel"
            },
            text(m.get(tag::ORIG_CL_ORD_ID)),
            text(m.get(tag::TEXT)),
            text(m.get(tag::CXL_REJ_REASON))
        ));
        if let Some(o) = self.outcome(id.as_bytes()) {
            o.rejected = true;
            o.complete = true;
        }
    }

    /// A reject that names our message by MsgSeqNum (45).
    fn rejected_seq(&mut self, m: &Message<'_>) -> String {
        let seq = m
            .get(tag::REF_SEQ_NUM)
            .and_then(tickwarp_gateway::fix::codec::parse_uint);
        let key = seq.and_then(|s| self.by_seq.get(&s).cloned());
        if let Some(o) = key.as_ref().and_then(|k| self.requests.get_mut(k)) {
            o.outcome.rejected = true;
            o.outcome.complete = true;
        }
        match (key, seq) {
            (Some(k), _) => k,
            (None, Some(s)) => format!("message {s}"),
            (None, None) => "a message".to_owned(),
        }
    }

    fn on_mass_cancel_report(&mut self, m: &Message<'_>) {
        let id = text(m.get(tag::CL_ORD_ID));
        let response = m.get(t::MASS_CANCEL_RESPONSE);
        let line = if response == Some(b"0") {
            format!(
                "REJECT {id}: mass cancel rejected: {} (reason {})",
                text(m.get(tag::TEXT)),
                text(m.get(t::MASS_CANCEL_REJECT_REASON))
            )
        } else {
            format!(
                "MASS-CANCEL {id} accepted (response {}), {} orders affected",
                text(response),
                text(m.get(t::TOTAL_AFFECTED_ORDERS))
            )
        };
        self.out.push_back(line);
        if let Some(o) = self.outcome(id.as_bytes()) {
            o.complete = true;
            if response == Some(b"0") {
                o.rejected = true;
            } else {
                o.acked = true;
            }
        }
    }

    fn on_positions_ack(&mut self, m: &Message<'_>) {
        let id = text(m.get(t::POS_REQ_ID));
        let result = m.get(t::POS_REQ_RESULT);
        let total = m
            .get(t::TOTAL_NUM_POS_REPORTS)
            .and_then(tickwarp_gateway::fix::codec::parse_uint);
        let mut line = format!(
            "POSITIONS {id}: {} reports (result {}, status {})",
            total.map_or("?".to_owned(), |n| n.to_string()),
            text(result),
            text(m.get(t::POS_REQ_STATUS))
        );
        if let Some(t) = m.get(tag::TEXT) {
            line.push_str(&format!(": {}", text(Some(t))));
        }
        self.out.push_back(line);
        if let Some(o) = self.outcome(id.as_bytes()) {
            o.acked = true;
            if result != Some(b"0") || total.unwrap_or(0) == 0 {
                o.complete = true;
                o.rejected = result != Some(b"0");
            } else {
                o.reports_left = total;
            }
        }
    }

    fn on_position_report(&mut self, m: &Message<'_>) {
        let id = text(m.get(t::POS_REQ_ID));
        let mut line = format!("POSITION {}", text(m.get(tag::SYMBOL)));
        let fields: Vec<(u32, String)> = m.fields().map(|(k, v)| (k, text(Some(v)))).collect();
        let mut i = 0;
        while let Some((k, v)) = fields.get(i) {
            match *k {
                t::POS_TYPE => line.push_str(&format!(" [{v}]")),
                t::LONG_QTY => line.push_str(&format!(" long {v}")),
                t::SHORT_QTY => line.push_str(&format!(" short {v}")),
                t::SETTL_PRICE => line.push_str(&format!(" price {v}")),
                tag::TEXT => line.push_str(&format!(": {v}")),
                _ => {}
            }
            i += 1;
        }
        self.out.push_back(line);
        if let Some(o) = self.outcome(id.as_bytes()) {
            let left = o.reports_left.unwrap_or(1).saturating_sub(1);
            o.reports_left = Some(left);
            o.complete = left == 0;
        }
    }
}

impl<S: SessionStore> Application<S> for ClientApp {
    type Event = Output;

    fn on_message(
        &mut self,
        _conn: &mut Connection<S>,
        _now: Now,
        _seq: u64,
        m: &Message<'_>,
    ) -> Delivery {
        match m.msg_type().as_bytes() {
            b"8" => self.on_execution_report(m),
            b"9" => self.on_cancel_reject(m),
            b"j" => {
                let key = match m.get(tag::BUSINESS_REJECT_REF_ID) {
                    Some(id) => {
                        let _ = self.rejected_seq(m);
                        text(Some(id))
                    }
                    None => self.rejected_seq(m),
                };
                self.out.push_back(format!(
                    "REJECT {key}: {} (business reason {}, MsgType {})",
                    text(m.get(tag::TEXT)),
                    text(m.get(tag::BUSINESS_REJECT_REASON)),
                    text(m.get(tag::REF_MSG_TYPE))
                ));
            }
            b"r" => self.on_mass_cancel_report(m),
            b"AO" => self.on_positions_ack(m),
            b"AP" => self.on_position_report(m),
            other => self.out.push_back(format!(
                "MESSAGE {} (not interpreted by this client)",
                String::from_utf8_lossy(other)
            )),
        }
        Delivery::Handled
    }

    fn on_reject(&mut self, _conn: &mut Connection<S>, _now: Now, m: &Message<'_>) {
        let key = self.rejected_seq(m);
        self.out.push_back(format!(
            "REJECT {key}: {} (session reason {}, tag {}, MsgType {})",
            text(m.get(tag::TEXT)),
            text(m.get(tag::SESSION_REJECT_REASON)),
            text(m.get(tag::REF_TAG_ID)),
            text(m.get(tag::REF_MSG_TYPE))
        ));
    }

    fn poll_event(&mut self, conn: &mut Connection<S>) -> Option<Output> {
        if let Some(e) = conn.poll_event() {
            return Some(Output::Session(e));
        }
        self.out.pop_front().map(Output::Line)
    }
}

/// A readable line for a session-level message (`None` for heartbeats), `from` naming
/// who sent it.
pub(super) fn describe_admin(m: &Message<'_>, from: &str) -> Option<String> {
    let seq = text(m.get(tag::MSG_SEQ_NUM));
    let line = match m.msg_type() {
        MsgType::LOGON => {
            let reset = if m.get(tag::RESET_SEQ_NUM_FLAG) == Some(b"Y") {
                ", reset"
            } else {
                ""
            };
            format!(
                "LOGON {from} (MsgSeqNum {seq}, HeartBtInt {}{reset})",
                text(m.get(tag::HEART_BT_INT))
            )
        }
        MsgType::LOGOUT => match m.get(tag::TEXT) {
            Some(t) => format!("LOGOUT {from}: {}", text(Some(t))),
            None => format!("LOGOUT {from}"),
        },
        MsgType::RESEND_REQUEST => format!(
            "RESEND-REQUEST {from}: {}..{}",
            text(m.get(tag::BEGIN_SEQ_NO)),
            text(m.get(tag::END_SEQ_NO))
        ),
        MsgType::SEQUENCE_RESET => format!(
            "SEQUENCE-RESET {from}: {} to {}",
            if m.get(tag::GAP_FILL_FLAG) == Some(b"Y") {
                "gap fill"
            } else {
                "reset"
            },
            text(m.get(tag::NEW_SEQ_NO))
        ),
        MsgType::TEST_REQUEST => format!("TEST-REQUEST {from}"),
        _ => return None,
    };
    Some(line)
}

#[cfg(test)]
mod tests;
