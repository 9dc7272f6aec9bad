//! [`Ctx`]: what a strategy may do and see while it handles an event: send, cancel and
//! replace orders (the engine builds the wire records, fills in the causing tick and
//! generates the client order ids), submit pricing jobs ([`Ctx::price`]: the engine
//! numbers them and routes each result back to [`Strategy::on_pricing`]), read the
//! current time, its positions, open orders and counters, and arm a timer.
//!
//! [`Strategy::on_pricing`]: crate::Strategy::on_pricing
//!
//! The time is the `now` the engine was given (the duty cycle's clock reading live, the
//! recorded time in replay): a strategy cannot tell replay from live. Nothing here reads
//! a clock or allocates.

use tickwarp_wire::{
    CancelOrder, InstrumentId, Nanos, NewOrder, OrderSpec, Price, Qty, ReplaceOrder, TickCause,
};

use tickwarp_pricing::Job;

use crate::order::{ClOrdIdGen, OrderCommand, OrderSink, SinkError};
use crate::pricer::{Pricer, PricerError};
use crate::state::{OpenOrder, OpenOrders, OrderId, PendingChange, Position, StrategyStats};

/// Why an order request was not sent. Nothing was sent and nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// The strategy did not subscribe to the instrument.
    #[error("instrument {0} is not among the strategy's instruments")]
    NotSubscribed(InstrumentId),
    /// Zero quantity.
    #[error("zero quantity")]
    ZeroQty,
    /// The open order table is full.
    #[error("already {max} open orders")]
    TooManyOpenOrders {
        /// The table's capacity.
        max: usize,
    },
    /// No open order has this handle (it finished, or never existed).
    #[error("no open order {0}")]
    UnknownOrder(OrderId),
    /// A cancel or replace of the order is already in flight.
    #[error("order {0} already has a cancel or replace in flight")]
    ChangePending(OrderId),
    /// The strategy used up its client order ids.
    #[error("client order ids exhausted")]
    IdsExhausted,
    /// The order sink refused the request.
    #[error("order sink: {0}")]
    Sink(#[from] SinkError),
}

/// The engine's state for one strategy.
#[derive(Clone, Debug)]
pub(crate) struct StrategyState {
    pub(crate) ids: ClOrdIdGen,
    pub(crate) orders: OpenOrders,
    pub(crate) positions: Vec<Position>,
    pub(crate) stats: StrategyStats,
    pub(crate) timer: Option<Nanos>,
    /// The strategy's index in its engine (the top bits of its pricing job ids).
    pub(crate) index: usize,
    /// Pricing jobs submitted (the low bits of the next job id).
    pub(crate) pricing_seq: u64,
}

/// Bits of a pricing job id below the strategy's index.
pub(crate) const JOB_SEQ_BITS: u32 = 48;

impl StrategyState {
    /// State for a strategy trading `instruments`.
    pub(crate) fn new(ids: ClOrdIdGen, instruments: &[InstrumentId], max_orders: usize) -> Self {
        let mut positions: Vec<Position> = Vec::with_capacity(instruments.len());
        for &i in instruments {
            if !positions.iter().any(|p| p.instrument() == i) {
                positions.push(Position::new(i));
            }
        }
        StrategyState {
            ids,
            orders: OpenOrders::new(max_orders),
            positions,
            stats: StrategyStats::default(),
            timer: None,
            index: 0,
            pricing_seq: 0,
        }
    }

    /// The position in `instrument`, mutably.
    pub(crate) fn position_mut(&mut self, instrument: InstrumentId) -> Option<&mut Position> {
        self.positions
            .iter_mut()
            .find(|p| p.instrument() == instrument)
    }
}

/// A strategy's handle on the engine while it handles one event.
pub struct Ctx<'a> {
    now: Nanos,
    cause: TickCause,
    state: &'a mut StrategyState,
    sink: &'a mut dyn OrderSink,
    pricer: Option<&'a mut dyn Pricer>,
}

impl<'a> Ctx<'a> {
    /// A context at `now` whose orders carry `cause` (its `send_ts` is set to `now`).
    pub(crate) fn new(
        now: Nanos,
        cause: TickCause,
        state: &'a mut StrategyState,
        sink: &'a mut dyn OrderSink,
    ) -> Ctx<'a> {
        Ctx {
            now,
            cause: TickCause {
                send_ts: now,
                ..cause
            },
            state,
            sink,
            pricer: None,
        }
    }

    /// The same context with `pricer` behind [`Ctx::price`].
    pub(crate) fn with_pricer(self, pricer: &'a mut dyn Pricer) -> Ctx<'a> {
        Ctx {
            pricer: Some(pricer),
            ..self
        }
    }

    /// Submits a pricing job (its `id` is replaced) without blocking; returns the id its
    /// result will carry when the engine hands it to
    /// [`Strategy::on_pricing`](crate::Strategy::on_pricing). Results of one pricer come
    /// back in any order. [`PricerError::WouldBlock`]: the pricer cannot take it now (no
    /// credit); nothing was submitted, retry on a later event.
    pub fn price(&mut self, job: &Job) -> Result<u64, PricerError> {
        let Some(pricer) = self.pricer.as_deref_mut() else {
            return Err(PricerError::Failed("this context has no pricer".to_owned()));
        };
        let seq = self.state.pricing_seq & ((1 << JOB_SEQ_BITS) - 1);
        let id = ((self.state.index as u64) << JOB_SEQ_BITS) | seq;
        match pricer.try_submit(&Job { id, ..*job }) {
            Ok(()) => {
                self.state.pricing_seq = self.state.pricing_seq.wrapping_add(1);
                self.state.stats.pricing_jobs += 1;
                Ok(id)
            }
            Err(e) => {
                self.state.stats.pricing_refusals += 1;
                Err(e)
            }
        }
    }

    /// Asks the pricer to cancel job `id` (one [`Ctx::price`] returned); a job already
    /// computing still completes.
    pub fn cancel_pricing(&mut self, id: u64) -> Result<(), PricerError> {
        match self.pricer.as_deref_mut() {
            Some(p) => p.try_cancel(id),
            None => Err(PricerError::Failed("this context has no pricer".to_owned())),
        }
    }

    /// The current time (recorded time in replay).
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// The tick cause orders sent now will carry (zero apart from `send_ts` outside
    /// `on_tick`).
    pub fn cause(&self) -> TickCause {
        self.cause
    }

    /// Sends a new order; returns its handle.
    pub fn new_order(&mut self, spec: &OrderSpec) -> Result<OrderId, OrderError> {
        if !self
            .state
            .positions
            .iter()
            .any(|p| p.instrument() == spec.instrument)
        {
            return Err(OrderError::NotSubscribed(spec.instrument));
        }
        if spec.qty.is_zero() {
            return Err(OrderError::ZeroQty);
        }
        if self.state.orders.is_full() {
            return Err(OrderError::TooManyOpenOrders {
                max: self.state.orders.max(),
            });
        }
        let (cl_ord_id, n) = self.state.ids.next_id().ok_or(OrderError::IdsExhausted)?;
        let cmd = OrderCommand::New(NewOrder::new(cl_ord_id, spec, self.cause));
        self.send(&cmd)?;
        let id = OrderId(n);
        self.state
            .orders
            .insert(OpenOrder::new(id, cl_ord_id, spec));
        self.state.stats.new_orders += 1;
        Ok(id)
    }

    /// Requests the cancel of order `id`.
    pub fn cancel(&mut self, id: OrderId) -> Result<(), OrderError> {
        let order = *self.quiet_order(id)?;
        let (cl_ord_id, _) = self.state.ids.next_id().ok_or(OrderError::IdsExhausted)?;
        let cmd = OrderCommand::Cancel(CancelOrder::new(
            cl_ord_id,
            order.cl_ord_id,
            order.instrument,
            order.account,
            order.side,
            self.cause,
        ));
        self.send(&cmd)?;
        if let Some(o) = self.state.orders.get_mut(id) {
            o.pending = Some(PendingChange::Cancel { cl_ord_id });
        }
        self.state.stats.cancels += 1;
        Ok(())
    }

    /// Requests that order `id` be replaced by one at `price` for total quantity `qty`.
    pub fn replace(&mut self, id: OrderId, price: Price, qty: Qty) -> Result<(), OrderError> {
        if qty.is_zero() {
            return Err(OrderError::ZeroQty);
        }
        let order = *self.quiet_order(id)?;
        let (cl_ord_id, _) = self.state.ids.next_id().ok_or(OrderError::IdsExhausted)?;
        let spec = OrderSpec {
            instrument: order.instrument,
            account: order.account,
            side: order.side,
            ord_type: order.ord_type,
            tif: order.tif,
            price,
            qty,
        };
        let cmd = OrderCommand::Replace(ReplaceOrder::new(
            cl_ord_id,
            order.cl_ord_id,
            &spec,
            self.cause,
        ));
        self.send(&cmd)?;
        if let Some(o) = self.state.orders.get_mut(id) {
            o.pending = Some(PendingChange::Replace {
                cl_ord_id,
                price,
                qty,
            });
        }
        self.state.stats.replaces += 1;
        Ok(())
    }

    /// Requests the cancel of every open order in `instrument` (all instruments for
    /// `None`) that has no change in flight; returns how many cancels were sent.
    pub fn cancel_all(&mut self, instrument: Option<InstrumentId>) -> Result<usize, OrderError> {
        let mut sent = 0;
        let mut i = 0;
        while let Some(o) = self.state.orders.as_slice().get(i) {
            i += 1;
            if o.pending.is_none() && instrument.is_none_or(|inst| inst == o.instrument) {
                self.cancel(o.id)?;
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// The open order with handle `id`.
    pub fn order(&self, id: OrderId) -> Option<&OpenOrder> {
        self.state.orders.get(id)
    }

    /// All open orders, oldest first.
    pub fn open_orders(&self) -> &[OpenOrder] {
        self.state.orders.as_slice()
    }

    /// The position in `instrument`, if subscribed.
    pub fn position(&self, instrument: InstrumentId) -> Option<&Position> {
        self.state
            .positions
            .iter()
            .find(|p| p.instrument() == instrument)
    }

    /// Signed position in `instrument` (0 if not subscribed).
    pub fn position_qty(&self, instrument: InstrumentId) -> i64 {
        self.position(instrument).map_or(0, Position::qty)
    }

    /// All positions, one per subscribed instrument.
    pub fn positions(&self) -> &[Position] {
        &self.state.positions
    }

    /// This strategy's counters.
    pub fn stats(&self) -> &StrategyStats {
        &self.state.stats
    }

    /// Arms the strategy's timer for `at` (replacing any earlier one).
    pub fn set_timer(&mut self, at: Nanos) {
        self.state.timer = Some(at);
    }

    /// Disarms the timer.
    pub fn clear_timer(&mut self) {
        self.state.timer = None;
    }

    /// The armed timer, if any.
    pub fn timer(&self) -> Option<Nanos> {
        self.state.timer
    }

    /// The open order `id` if it has no change in flight.
    fn quiet_order(&self, id: OrderId) -> Result<&OpenOrder, OrderError> {
        let order = self
            .state
            .orders
            .get(id)
            .ok_or(OrderError::UnknownOrder(id))?;
        if order.pending.is_some() {
            return Err(OrderError::ChangePending(id));
        }
        Ok(order)
    }

    /// Sends through the sink, counting refusals.
    fn send(&mut self, cmd: &OrderCommand) -> Result<(), OrderError> {
        self.sink.send(cmd).map_err(|e| {
            self.state.stats.sink_refusals += 1;
            OrderError::Sink(e)
        })
    }
}
