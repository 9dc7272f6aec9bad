//! The SQLite sink (bundled `rusqlite`): WAL mode, `synchronous = FULL`, one transaction
//! per batch with the position update. Prices are decimal text (exact; `100.5`), times
//! Unix nanoseconds. A locked database waits [`BUSY_TIMEOUT`] and then counts as an
//! outage (retried); so does a file that cannot be opened or written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::rows::{Batch, OrdStatus, OrderRow, price_text};
use crate::{SCHEMA_VERSION, Sink, SinkError, Stored};

/// How long a statement waits for another writer's lock before it fails.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// The tables, created at first start (schema version [`SCHEMA_VERSION`]).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS drop_copy_position (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version INTEGER NOT NULL,
    journal_seq INTEGER NOT NULL,
    journal_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    exec_id INTEGER PRIMARY KEY,
    order_id INTEGER,
    cl_ord_id TEXT NOT NULL,
    orig_cl_ord_id TEXT,
    account INTEGER NOT NULL,
    instrument INTEGER NOT NULL,
    symbol TEXT,
    side TEXT,
    price TEXT,
    qty INTEGER,
    exec_type TEXT NOT NULL,
    ord_status TEXT,
    last_px TEXT,
    last_qty INTEGER,
    cum_qty INTEGER,
    leaves_qty INTEGER,
    venue_exec_id INTEGER,
    reject_code INTEGER,
    reject_reason TEXT,
    refused_by_gateway INTEGER NOT NULL,
    reported_to TEXT NOT NULL,
    transact_time_ns INTEGER NOT NULL,
    journal_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_order ON executions (order_id);
CREATE INDEX IF NOT EXISTS executions_account ON executions (account, exec_id);
CREATE TABLE IF NOT EXISTS orders (
    order_id INTEGER PRIMARY KEY,
    cl_ord_id TEXT NOT NULL,
    account INTEGER NOT NULL,
    instrument INTEGER NOT NULL,
    symbol TEXT,
    side TEXT NOT NULL,
    ord_type TEXT NOT NULL,
    price TEXT NOT NULL,
    qty INTEGER NOT NULL,
    tif TEXT NOT NULL,
    ord_status TEXT NOT NULL,
    cum_qty INTEGER NOT NULL,
    leaves_qty INTEGER NOT NULL,
    origin TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    updated_seq INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_account ON orders (account, cl_ord_id);
CREATE INDEX IF NOT EXISTS orders_working ON orders (ord_status);
INSERT OR IGNORE INTO drop_copy_position (id, schema_version, journal_seq, journal_ns)
    VALUES (1, 1, 0, 0);
";

/// The drop copy into one SQLite file.
#[derive(Debug)]
pub struct SqliteSink {
    path: PathBuf,
    conn: Option<Connection>,
}

fn unavailable(path: &Path) -> impl Fn(rusqlite::Error) -> SinkError + '_ {
    move |e| SinkError::Unavailable(format!("SQLite {}: {e}", path.display()))
}

impl SqliteSink {
    /// A sink writing to the database file `path` (created at first open).
    pub fn new(path: &Path) -> SqliteSink {
        SqliteSink {
            path: path.to_path_buf(),
            conn: None,
        }
    }

    fn connect(&self) -> Result<Connection, SinkError> {
        let err = unavailable(&self.path);
        let conn = Connection::open(&self.path).map_err(&err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(&err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(&err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(&err)?;
        conn.execute_batch(&format!("BEGIN IMMEDIATE;{SCHEMA}COMMIT;"))
            .map_err(&err)?;
        Ok(conn)
    }
}

/// The `&'static str` among `known` equal to `s`.
pub(crate) fn known(s: &str, set: &[&'static str]) -> Option<&'static str> {
    set.iter().copied().find(|k| *k == s)
}

/// Checks the stored schema version and builds an order read back from text columns.
pub(crate) fn check_version(db: &str, version: i64) -> Result<(), SinkError> {
    if version == SCHEMA_VERSION {
        Ok(())
    } else {
        Err(SinkError::Fatal(format!(
            "{db}: drop copy schema version {version}, this gateway writes version \
             {SCHEMA_VERSION}; migrate or point the drop copy at a new database"
        )))
    }
}

/// The text columns of a stored order, checked.
pub(crate) struct OrderText {
    pub(crate) side: String,
    pub(crate) ord_type: String,
    pub(crate) tif: String,
    pub(crate) status: String,
}

impl OrderText {
    /// The enum-like fields, or why the row is not one this code wrote.
    pub(crate) fn parse(
        &self,
        order_id: u64,
    ) -> Result<(&'static str, &'static str, &'static str, OrdStatus), SinkError> {
        let bad = |what: &str, v: &str| {
            SinkError::Fatal(format!(
                "order {order_id} in the database has {what} {v:?}, which the drop copy never writes"
            ))
        };
        Ok((
            known(&self.side, &["buy", "sell"]).ok_or_else(|| bad("side", &self.side))?,
            known(&self.ord_type, &["limit", "market"])
                .ok_or_else(|| bad("ord_type", &self.ord_type))?,
            known(&self.tif, &["day", "gtc", "ioc", "fok"]).ok_or_else(|| bad("tif", &self.tif))?,
            OrdStatus::parse(&self.status).ok_or_else(|| bad("ord_status", &self.status))?,
        ))
    }
}

impl Sink for SqliteSink {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn open(&mut self) -> Result<Stored, SinkError> {
        self.conn = None;
        let conn = self.connect()?;
        let err = unavailable(&self.path);
        let (version, position, position_ns): (i64, i64, i64) = conn
            .query_row(
                "SELECT schema_version, journal_seq, journal_ns FROM drop_copy_position WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(&err)?
            .ok_or_else(|| SinkError::Fatal(format!("{}: no drop_copy_position row", self.describe())))?;
        check_version(&self.describe(), version)?;
        let mut open_orders = Vec::new();
        {
            let mut stmt = conn
                .prepare(
                    "SELECT order_id, cl_ord_id, account, instrument, symbol, side, ord_type, price, \
                     qty, tif, ord_status, cum_qty, leaves_qty, origin, created_ns, updated_seq, \
                     updated_ns FROM orders \
                     WHERE ord_status NOT IN ('filled', 'canceled', 'rejected')",
                )
                .map_err(&err)?;
            let mut rows = stmt.query([]).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                let order_id: i64 = r.get(0).map_err(&err)?;
                let order_id = order_id as u64;
                let text = OrderText {
                    side: r.get(5).map_err(&err)?,
                    ord_type: r.get(6).map_err(&err)?,
                    tif: r.get(9).map_err(&err)?,
                    status: r.get(10).map_err(&err)?,
                };
                let (side, ord_type, tif, status) = text.parse(order_id)?;
                let price: String = r.get(7).map_err(&err)?;
                let price = price.parse::<tickwarp_wire::Price>().map_err(|e| {
                    SinkError::Fatal(format!("order {order_id}: price {price:?}: {e}"))
                })?;
                let updated_seq: i64 = r.get(15).map_err(&err)?;
                open_orders.push(OrderRow {
                    order_id,
                    cl_ord_id: r.get(1).map_err(&err)?,
                    account: r.get(2).map_err(&err)?,
                    instrument: r.get(3).map_err(&err)?,
                    symbol: r.get(4).map_err(&err)?,
                    side,
                    ord_type,
                    price_ticks: price.ticks(),
                    qty: r.get(8).map_err(&err)?,
                    tif,
                    status,
                    cum_qty: r.get(11).map_err(&err)?,
                    leaves_qty: r.get(12).map_err(&err)?,
                    origin: r.get(13).map_err(&err)?,
                    created_ns: r.get(14).map_err(&err)?,
                    updated_seq: updated_seq as u64,
                    updated_ns: r.get(16).map_err(&err)?,
                });
            }
        }
        self.conn = Some(conn);
        Ok(Stored {
            position: position as u64,
            position_ns,
            open_orders,
        })
    }

    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        let path = self.path.clone();
        let err = unavailable(&path);
        let Some(conn) = self.conn.as_mut() else {
            return Err(SinkError::Unavailable("not connected".to_owned()));
        };
        let result = write_batch(conn, batch).map_err(|e| {
            if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) {
                SinkError::Fatal(format!(
                    "SQLite {}: rows past the stored drop copy position exist ({e}); another \
                     writer or a restored copy? the drop copy stops and deletes nothing",
                    path.display()
                ))
            } else {
                err(e)
            }
        });
        if result.is_err() {
            self.conn = None;
        }
        result
    }
}

fn write_batch(conn: &mut Connection, batch: &Batch) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut exec = tx.prepare_cached(
            "INSERT INTO executions (exec_id, order_id, cl_ord_id, orig_cl_ord_id, account, \
             instrument, symbol, side, price, qty, exec_type, ord_status, last_px, last_qty, \
             cum_qty, leaves_qty, venue_exec_id, reject_code, reject_reason, refused_by_gateway, \
             reported_to, transact_time_ns, journal_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, \
             ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
        )?;
        for e in &batch.executions {
            exec.execute(params![
                e.exec_id as i64,
                e.order_id.map(|v| v as i64),
                e.cl_ord_id,
                e.orig_cl_ord_id,
                e.account,
                e.instrument,
                e.symbol,
                e.side,
                e.price_ticks.map(price_text),
                e.qty,
                e.exec_type.as_str(),
                e.ord_status.map(OrdStatus::as_str),
                e.last_px_ticks.map(price_text),
                e.last_qty,
                e.cum_qty,
                e.leaves_qty,
                e.venue_exec_id.map(|v| v as i64),
                e.reject_code,
                e.reject_reason,
                e.refused_by_gateway,
                e.reported_to,
                e.transact_time_ns,
                e.journal_ns,
            ])?;
        }
        let mut order = tx.prepare_cached(
            "INSERT INTO orders (order_id, cl_ord_id, account, instrument, symbol, side, ord_type, \
             price, qty, tif, ord_status, cum_qty, leaves_qty, origin, created_ns, updated_seq, \
             updated_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
             ?15, ?16, ?17) ON CONFLICT (order_id) DO UPDATE SET cl_ord_id = excluded.cl_ord_id, \
             price = excluded.price, qty = excluded.qty, ord_status = excluded.ord_status, \
             cum_qty = excluded.cum_qty, leaves_qty = excluded.leaves_qty, \
             updated_seq = excluded.updated_seq, updated_ns = excluded.updated_ns",
        )?;
        for o in &batch.orders {
            order.execute(params![
                o.order_id as i64,
                o.cl_ord_id,
                o.account,
                o.instrument,
                o.symbol,
                o.side,
                o.ord_type,
                price_text(o.price_ticks),
                o.qty,
                o.tif,
                o.status.as_str(),
                o.cum_qty,
                o.leaves_qty,
                o.origin,
                o.created_ns,
                o.updated_seq as i64,
                o.updated_ns,
            ])?;
        }
        tx.execute(
            "UPDATE drop_copy_position SET journal_seq = ?1, journal_ns = ?2 WHERE id = 1",
            params![batch.last_seq as i64, batch.last_ns],
        )?;
    }
    tx.commit()
}
