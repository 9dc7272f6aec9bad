//! The PostgreSQL sink (the synchronous `postgres` client, no TLS: use a Unix socket or
//! loopback, or a TLS-terminating proxy). Each batch is one transaction: binary `COPY`
//! of the rows into temporary staging tables (`ON COMMIT DELETE ROWS`), `INSERT ... SELECT`
//! into `executions` and an upsert into `orders`, then the position update. Prices are
//! `NUMERIC(24,4)`, times Unix nanoseconds (`BIGINT`).
//!
//! A refused connection, a dropped connection or a failed statement counts as an outage
//! (retried with backoff from the stored position); a unique violation means the tables
//! hold rows past the stored position (another writer), which stops the drop copy.

use std::time::Duration;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{Client, Config, NoTls};
use tickwarp_wire::Price;

use crate::rows::{Batch, OrdStatus, OrderRow};
use crate::sqlite::{OrderText, check_version};
use crate::{DropCopyError, Sink, SinkError, Stored};

/// Connect timeout when the URL gives none (`connect_timeout=`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The tables, created at first start (schema version [`crate::SCHEMA_VERSION`]).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS drop_copy_position (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version INTEGER NOT NULL,
    journal_seq BIGINT NOT NULL,
    journal_ns BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    exec_id BIGINT PRIMARY KEY,
    order_id BIGINT,
    cl_ord_id TEXT NOT NULL,
    orig_cl_ord_id TEXT,
    account BIGINT NOT NULL,
    instrument BIGINT NOT NULL,
    symbol TEXT,
    side TEXT,
    price NUMERIC(24, 4),
    qty BIGINT,
    exec_type TEXT NOT NULL,
    ord_status TEXT,
    last_px NUMERIC(24, 4),
    last_qty BIGINT,
    cum_qty BIGINT,
    leaves_qty BIGINT,
    venue_exec_id BIGINT,
    reject_code INTEGER,
    reject_reason TEXT,
    refused_by_gateway BOOLEAN NOT NULL,
    reported_to TEXT NOT NULL,
    transact_time_ns BIGINT NOT NULL,
    journal_ns BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_order ON executions (order_id);
CREATE INDEX IF NOT EXISTS executions_account ON executions (account, exec_id);
CREATE TABLE IF NOT EXISTS orders (
    order_id BIGINT PRIMARY KEY,
    cl_ord_id TEXT NOT NULL,
    account BIGINT NOT NULL,
    instrument BIGINT NOT NULL,
    symbol TEXT,
    side TEXT NOT NULL,
    ord_type TEXT NOT NULL,
    price NUMERIC(24, 4) NOT NULL,
    qty BIGINT NOT NULL,
    tif TEXT NOT NULL,
    ord_status TEXT NOT NULL,
    cum_qty BIGINT NOT NULL,
    leaves_qty BIGINT NOT NULL,
    origin TEXT NOT NULL,
    created_ns BIGINT NOT NULL,
    updated_seq BIGINT NOT NULL,
    updated_ns BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_account ON orders (account, cl_ord_id);
CREATE INDEX IF NOT EXISTS orders_working ON orders (ord_status);
INSERT INTO drop_copy_position (id, schema_version, journal_seq, journal_ns)
    VALUES (1, 1, 0, 0) ON CONFLICT (id) DO NOTHING;
";

/// Staging tables of this connection (prices in ticks: binary COPY needs no NUMERIC).
const STAGING: &str = "
CREATE TEMP TABLE IF NOT EXISTS dc_exec_stage (
    exec_id BIGINT, order_id BIGINT, cl_ord_id TEXT, orig_cl_ord_id TEXT, account BIGINT,
    instrument BIGINT, symbol TEXT, side TEXT, price_ticks BIGINT, qty BIGINT,
    exec_type TEXT, ord_status TEXT, last_px_ticks BIGINT, last_qty BIGINT, cum_qty BIGINT,
    leaves_qty BIGINT, venue_exec_id BIGINT, reject_code INTEGER, reject_reason TEXT,
    refused_by_gateway BOOLEAN, reported_to TEXT, transact_time_ns BIGINT, journal_ns BIGINT
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS dc_order_stage (
    order_id BIGINT, cl_ord_id TEXT, account BIGINT, instrument BIGINT, symbol TEXT,
    side TEXT, ord_type TEXT, price_ticks BIGINT, qty BIGINT, tif TEXT, ord_status TEXT,
    cum_qty BIGINT, leaves_qty BIGINT, origin TEXT, created_ns BIGINT, updated_seq BIGINT,
    updated_ns BIGINT
) ON COMMIT DELETE ROWS;
";

const EXEC_TYPES: [Type; 23] = [
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT4,
    Type::TEXT,
    Type::BOOL,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
];

const ORDER_TYPES: [Type; 17] = [
    Type::INT8,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::INT8,
];

/// The drop copy into one PostgreSQL database.
pub struct PostgresSink {
    config: Config,
    shown: String,
    client: Option<Client>,
}

impl std::fmt::Debug for PostgresSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSink")
            .field("db", &self.shown)
            .finish()
    }
}

/// `url` without the password, for logs.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "postgres (key=value connection string)".to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_owned(),
    }
}

/// `e` with its causes (`postgres::Error` alone says only "db error").
fn chain(e: &postgres::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn classify(db: &str, e: &postgres::Error) -> SinkError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        SinkError::Fatal(format!(
            "{db}: rows past the stored drop copy position exist ({e}); another writer or a \
             restored copy? the drop copy stops and deletes nothing",
            e = chain(e)
        ))
    } else {
        SinkError::Unavailable(format!("{db}: {}", chain(e)))
    }
}

impl PostgresSink {
    /// A sink for the connection URL `url` (`postgresql://user@host:port/db`, or a
    /// `key=value` string); connects at the first [`Sink::open`].
    pub fn new(url: &str) -> Result<PostgresSink, DropCopyError> {
        let mut config: Config = url.parse().map_err(|e| {
            DropCopyError::Config(format!("postgres URL {}: {e}", without_password(url)))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        Ok(PostgresSink {
            config,
            shown: format!("postgres:{}", without_password(url)),
            client: None,
        })
    }

    fn load(&self, client: &mut Client) -> Result<Stored, SinkError> {
        let db = &self.shown;
        let err = |e: postgres::Error| classify(db, &e);
        let row = client
            .query_opt(
                "SELECT schema_version, journal_seq, journal_ns FROM drop_copy_position WHERE id = 1",
                &[],
            )
            .map_err(err)?
            .ok_or_else(|| SinkError::Fatal(format!("{db}: no drop_copy_position row")))?;
        let version: i32 = row.try_get(0).map_err(err)?;
        check_version(db, i64::from(version))?;
        let position: i64 = row.try_get(1).map_err(err)?;
        let position_ns: i64 = row.try_get(2).map_err(err)?;
        let query = format!(
            "SELECT order_id, cl_ord_id, account, instrument, symbol, side, ord_type, \
             (price * {scale})::bigint, qty, tif, ord_status, cum_qty, leaves_qty, origin, \
             created_ns, updated_seq, updated_ns FROM orders \
             WHERE ord_status NOT IN ('filled', 'canceled', 'rejected')",
            scale = Price::SCALE
        );
        let mut open_orders = Vec::new();
        for r in client.query(&query, &[]).map_err(err)? {
            let order_id: i64 = r.try_get(0).map_err(err)?;
            let order_id = order_id as u64;
            let text = OrderText {
                side: r.try_get(5).map_err(err)?,
                ord_type: r.try_get(6).map_err(err)?,
                tif: r.try_get(9).map_err(err)?,
                status: r.try_get(10).map_err(err)?,
            };
            let (side, ord_type, tif, status) = text.parse(order_id)?;
            let account: i64 = r.try_get(2).map_err(err)?;
            let instrument: i64 = r.try_get(3).map_err(err)?;
            let updated_seq: i64 = r.try_get(15).map_err(err)?;
            open_orders.push(OrderRow {
                order_id,
                cl_ord_id: r.try_get(1).map_err(err)?,
                account: account as u32,
                instrument: instrument as u32,
                symbol: r.try_get(4).map_err(err)?,
                side,
                ord_type,
                price_ticks: r.try_get(7).map_err(err)?,
                qty: r.try_get(8).map_err(err)?,
                tif,
                status,
                cum_qty: r.try_get(11).map_err(err)?,
                leaves_qty: r.try_get(12).map_err(err)?,
                origin: r.try_get(13).map_err(err)?,
                created_ns: r.try_get(14).map_err(err)?,
                updated_seq: updated_seq as u64,
                updated_ns: r.try_get(16).map_err(err)?,
            });
        }
        Ok(Stored {
            position: position as u64,
            position_ns,
            open_orders,
        })
    }
}

impl Sink for PostgresSink {
    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn open(&mut self) -> Result<Stored, SinkError> {
        self.client = None;
        let db = &self.shown;
        let mut client = self
            .config
            .connect(NoTls)
            .map_err(|e| SinkError::Unavailable(format!("{db}: {}", chain(&e))))?;
        client
            .batch_execute(&format!("BEGIN;{SCHEMA}COMMIT;{STAGING}"))
            .map_err(|e| classify(db, &e))?;
        let stored = self.load(&mut client)?;
        self.client = Some(client);
        Ok(stored)
    }

    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        let Some(client) = self.client.as_mut() else {
            return Err(SinkError::Unavailable("not connected".to_owned()));
        };
        let result = write_batch(client, batch).map_err(|e| classify(&self.shown, &e));
        if result.is_err() {
            self.client = None;
        }
        result
    }
}

fn write_batch(client: &mut Client, batch: &Batch) -> Result<(), postgres::Error> {
    let scale = Price::SCALE;
    let mut tx = client.transaction()?;
    if !batch.executions.is_empty() {
        let sink = tx.copy_in("COPY dc_exec_stage FROM STDIN BINARY")?;
        let mut w = BinaryCopyInWriter::new(sink, &EXEC_TYPES);
        for e in &batch.executions {
            let row: [&(dyn ToSql + Sync); 23] = [
                &(e.exec_id as i64),
                &e.order_id.map(|v| v as i64),
                &e.cl_ord_id,
                &e.orig_cl_ord_id,
                &i64::from(e.account),
                &i64::from(e.instrument),
                &e.symbol,
                &e.side,
                &e.price_ticks,
                &e.qty,
                &e.exec_type.as_str(),
                &e.ord_status.map(OrdStatus::as_str),
                &e.last_px_ticks,
                &e.last_qty,
                &e.cum_qty,
                &e.leaves_qty,
                &e.venue_exec_id.map(|v| v as i64),
                &e.reject_code.map(i32::from),
                &e.reject_reason,
                &e.refused_by_gateway,
                &e.reported_to,
                &e.transact_time_ns,
                &e.journal_ns,
            ];
            w.write(&row)?;
        }
        w.finish()?;
        tx.execute(
            &format!(
                "INSERT INTO executions SELECT exec_id, order_id, cl_ord_id, orig_cl_ord_id, \
                 account, instrument, symbol, side, price_ticks::numeric / {scale}, qty, \
                 exec_type, ord_status, last_px_ticks::numeric / {scale}, last_qty, cum_qty, \
                 leaves_qty, venue_exec_id, reject_code, reject_reason, refused_by_gateway, \
                 reported_to, transact_time_ns, journal_ns FROM dc_exec_stage"
            ),
            &[],
        )?;
    }
    if !batch.orders.is_empty() {
        let sink = tx.copy_in("COPY dc_order_stage FROM STDIN BINARY")?;
        let mut w = BinaryCopyInWriter::new(sink, &ORDER_TYPES);
        for o in &batch.orders {
            let row: [&(dyn ToSql + Sync); 17] = [
                &(o.order_id as i64),
                &o.cl_ord_id,
                &i64::from(o.account),
                &i64::from(o.instrument),
                &o.symbol,
                &o.side,
                &o.ord_type,
                &o.price_ticks,
                &o.qty,
                &o.tif,
                &o.status.as_str(),
                &o.cum_qty,
                &o.leaves_qty,
                &o.origin,
                &o.created_ns,
                &(o.updated_seq as i64),
                &o.updated_ns,
            ];
            w.write(&row)?;
        }
        w.finish()?;
        tx.execute(
            &format!(
                "INSERT INTO orders SELECT order_id, cl_ord_id, account, instrument, symbol, \
                 side, ord_type, price_ticks::numeric / {scale}, qty, tif, ord_status, cum_qty, \
                 leaves_qty, origin, created_ns, updated_seq, updated_ns FROM dc_order_stage \
                 ON CONFLICT (order_id) DO UPDATE SET cl_ord_id = excluded.cl_ord_id, \
                 price = excluded.price, qty = excluded.qty, ord_status = excluded.ord_status, \
                 cum_qty = excluded.cum_qty, leaves_qty = excluded.leaves_qty, \
                 updated_seq = excluded.updated_seq, updated_ns = excluded.updated_ns"
            ),
            &[],
        )?;
    }
    tx.execute(
        "UPDATE drop_copy_position SET journal_seq = $1, journal_ns = $2 WHERE id = 1",
        &[&(batch.last_seq as i64), &batch.last_ns],
    )?;
    tx.commit()
}
