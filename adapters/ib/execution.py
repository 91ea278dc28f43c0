"""The life of IB orders as our reports: statuses, fills and order errors, each reported once.

:class:`ExecutionTracker` holds what the broker knows of every order beyond
ib_insync's per-connection ``Trade`` objects (which a reconnect rebuilds), and
turns ib_insync's events into calls on an
:class:`~engine.protocols.ExecutionReportSink`:

- ``orderStatusEvent`` → accepted / cancelled / expired / rejected, only when
  the status moves the order forward
  (:class:`~engine.broker.ExecutionReportDeduplicator`);
- ``commissionReportEvent`` → one fill per IB ``execId``, whatever number of
  times TWS sends it (it replays the day's executions on every reconnect);
  the fee is known then. ``execDetailsEvent`` only marks the execution as
  awaiting its commission report;
- ``errorEvent`` codes about an order → a rejection (never acknowledged) or
  an end (acknowledged), or a refused cancel.

A cancel or an expiry is held back until the fills it counts were reported,
so the sink never sees a fill on an order it was told is closed. Orders
without an ``orderRef`` (entered in TWS by hand) are tracked for queries but
never reported. The tracker does no I/O.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import msgspec
from ib_insync import Fill, Trade

from adapters.ib._records import QTY_RTOL, Record, client_order_id_of
from adapters.ib.contracts import ContractIndex, foreign_symbol
from adapters.ib.errors import ORDER_NOT_FOUND_CODES, ORDER_REJECT_CODES
from adapters.ib.orders import map_status
from engine.broker import (
    BrokerError,
    ExecutionReportDeduplicator,
    InvalidOrderError,
    OrderNotFoundError,
)
from engine.clock import Clock
from engine.log import get_logger, log_event
from engine.orders import OrderStatus, Side
from engine.protocols import ExecutionReportSink

__all__ = ["ExecutionTracker", "IbFill"]

_log = get_logger("ib")
#: ib_insync's "unset" double (``sys.float_info.max``).
_UNSET = 1.7976931348623157e308
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class IbFill(msgspec.Struct, frozen=True, kw_only=True):
    """One execution as IB reported it, for listeners that keep IB's own ids.

    ``exec_id`` is IB's execution id (the idempotency key); ``ts_event`` the
    execution time in ns since the epoch; ``fee`` the commission in
    ``fee_currency``; ``quantity`` what this fill added to the order.
    """

    client_order_id: str
    exec_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    fee: float
    fee_currency: str
    liquidity: str
    realized_pnl: float
    ts_event: int


def finite(value: float) -> float:
    """Return ``value``, or 0.0 for NaN, infinities and ib_insync's unset double."""
    return value if math.isfinite(value) and abs(value) < _UNSET else 0.0


def to_ns(moment: datetime) -> int:
    """Epoch nanoseconds of an IB time (naive times are UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


class ExecutionTracker:
    """Order records, deduplicated status and fill reports (see the module docstring).

    Parameters
    ----------
    client_id : int
        The session's API client id (IB's order ids are per client).
    index : ContractIndex
        Finds our symbol for a contract.
    clock : Clock
        Time of the reports.
    scrub : callable
        Removes sensitive values (the account id) from IB's texts.
    reports : ExecutionReportSink, optional
        Receives the reports.
    fill_listener : callable, optional
        Called with an :class:`IbFill` for every fill reported.
    known_exec_ids : iterable of str
        Execution ids already booked: never reported.
    """

    def __init__(
        self,
        client_id: int,
        index: ContractIndex,
        clock: Clock,
        scrub: Callable[[str], str],
        reports: ExecutionReportSink | None = None,
        fill_listener: Callable[[IbFill], object] | None = None,
        known_exec_ids: Iterable[str] = (),
    ) -> None:
        self.client_id = client_id
        self._index = index
        self._clock = clock
        self._scrub = scrub
        self._reports = reports
        self._fill_listener = fill_listener
        self._known_exec_ids = set(known_exec_ids)
        self._dedup = ExecutionReportDeduplicator()
        self.records: dict[str, Record] = {}
        self.by_order_id: dict[int, Record] = {}
        self.awaiting_commission: set[str] = set()
        #: Fills reported / dropped as already seen / without orderRef (not reported).
        self.fills_reported = 0
        self.duplicate_fills = 0
        self.foreign_fills = 0
        #: Exceptions raised by the sink or the fill listener (logged, then carried on).
        self.report_failures = 0

    # -- records ---------------------------------------------------------------------------------

    def add(self, record: Record) -> None:
        """Track a record of an order about to be placed."""
        self.records[record.client_order_id] = record

    def bind_order_id(self, record: Record, order_id: int) -> None:
        """Remember the IB order id ``record``'s order was placed with."""
        record.order_id = order_id
        self.by_order_id[order_id] = record

    def record_for_trade(self, trade: Trade) -> Record:
        """Return the record of ``trade``'s order, adopting an order placed elsewhere."""
        order = trade.order
        cid = client_order_id_of(order.orderRef, order.permId)
        record = self.records.get(cid)
        if record is None:
            symbol = self._index.symbol_for(trade.contract) or foreign_symbol(trade.contract)
            record = Record.from_trade(trade, symbol)
            self.records[cid] = record
        if order.orderId and order.clientId == self.client_id:
            self.by_order_id[order.orderId] = record
        return record

    def fail_waiters(self, error: Callable[[str], BrokerError]) -> None:
        """Fail every pending acknowledgement and cancel with ``error(what)``."""
        for record in self.records.values():
            record.fail_waiters(error)

    # -- statuses --------------------------------------------------------------------------------

    def on_order_status(self, trade: Trade) -> None:
        """``orderStatusEvent`` handler."""
        try:
            if trade.order.orderRef:
                self.apply_trade(self.record_for_trade(trade), trade)
        except Exception as exc:  # an event handler must not raise into ib_insync
            self._failed("order status", exc)

    def apply_trade(self, record: Record, trade: Trade) -> None:
        """Bring ``record`` up to ``trade``'s state, reporting what moved forward."""
        log = trade.log
        if trade.orderStatus.status == "Cancelled" and log and log[-1].errorCode:
            # ib_insync marks an order Cancelled on any error message about it, even a
            # refused cancel (10147, 10148): on_order_error decides what the code means.
            record.update_from_trade(trade)
            return
        filled = record.update_from_trade(trade)
        status = map_status(
            trade.orderStatus.status,
            filled=filled,
            acknowledged=record.acknowledged,
            cancel_requested=record.cancel_requested,
            immediate=record.immediate,
        )
        if status is None:
            log_event(
                _log,
                logging.WARNING,
                "unknown IB order status",
                client_order_id=record.client_order_id,
                status=trade.orderStatus.status,
            )
            return
        if status is OrderStatus.REJECTED and record.last_error is None:
            record.last_error = InvalidOrderError(
                f"order {record.client_order_id}: IB set it Inactive (rejected or not accepted)"
            )
        self._advance(record, status, filled, self._reason(record, status))

    def _reason(self, record: Record, status: OrderStatus) -> str:
        if status is OrderStatus.EXPIRED:
            return "IOC/FOK remainder cancelled by IB"
        if status is OrderStatus.REJECTED:
            return str(record.last_error) if record.last_error is not None else "rejected by IB"
        if status is OrderStatus.CANCELLED:
            if record.cancel_requested:
                return "cancelled on request"
            if record.last_error is not None:
                return str(record.last_error)
            return record.cancel_reason or "cancelled at IB"
        return ""

    def _advance(self, record: Record, status: OrderStatus, filled: float, reason: str) -> None:
        if status is OrderStatus.NEW:
            return
        if status is not OrderStatus.REJECTED:
            record.acknowledged = True
        if self._dedup.accept_status(record.client_order_id, status, filled):
            record.status = status
            behind = record.reported_fill < filled * (1 - QTY_RTOL)
            if status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED) and behind:
                record.pending_report = (status, reason, filled)
            else:
                self._report_status(record, status, reason)
        record.resolve_waiters()

    def _report_status(self, record: Record, status: OrderStatus, reason: str) -> None:
        sink = self._reports
        if sink is None or not record.reportable:
            return
        cid = record.client_order_id
        ts = self._clock.now_ns()
        try:
            if status is OrderStatus.ACCEPTED:
                sink.on_order_accepted(cid, ts)
            elif status is OrderStatus.REJECTED:
                sink.on_order_rejected(cid, reason, ts)
            elif status is OrderStatus.CANCELLED:
                sink.on_order_cancelled(cid, reason, ts)
            elif status is OrderStatus.EXPIRED:
                sink.on_order_expired(cid, reason, ts)
        except Exception as exc:  # the sink's bug must not stop the bookkeeping
            self._failed(str(status), exc)

    def _failed(self, what: str, exc: Exception) -> None:
        self.report_failures += 1
        log_event(
            _log,
            logging.ERROR,
            "IB report handler failed",
            report=what,
            error=type(exc).__name__,
            message=self._scrub(str(exc)),
        )

    # -- fills -----------------------------------------------------------------------------------

    def on_exec_details(self, trade: Trade, fill: Fill) -> None:
        """``execDetailsEvent`` handler: the fill waits for its commission report."""
        try:
            if fill.commissionReport.execId:
                self.book_fill(fill)
            else:
                self.awaiting_commission.add(fill.execution.execId)
        except Exception as exc:
            self._failed("execution", exc)

    def on_commission_report(self, trade: Trade, fill: Fill, report: object) -> None:
        """``commissionReportEvent`` handler: report the fill (once per ``execId``)."""
        try:
            self.book_fill(fill)
        except Exception as exc:
            self._failed("fill", exc)

    def book_fill(self, fill: Fill) -> None:
        """Report ``fill`` unless its ``execId`` was reported before."""
        execution = fill.execution
        exec_id = execution.execId
        self.awaiting_commission.discard(exec_id)
        cid = execution.orderRef
        if not cid:
            self.foreign_fills += 1
            return
        cumulative = execution.cumQty if execution.cumQty > 0 else None
        quantity = self._dedup.fill_quantity(
            cid, exec_id, float(execution.shares), cumulative_quantity=cumulative
        )
        if not quantity > 0:
            self.duplicate_fills += 1
            return
        record = self.records.get(cid)
        if record is None:
            symbol = self._index.symbol_for(fill.contract) or foreign_symbol(fill.contract)
            side = Side.BUY if execution.side == "BOT" else Side.SELL
            record = Record(cid, symbol, side, 0.0, math.nan, False)
            self.records[cid] = record
        if exec_id in self._known_exec_ids:
            # Booked by an earlier run: it counts towards the order's cumulative quantity
            # (the deduplicator saw it) but is not reported again.
            self.duplicate_fills += 1
            record.reported_fill += quantity
            self._after_fill(record, execution.cumQty, execution.avgPrice)
            return
        report = fill.commissionReport
        fee = finite(report.commission)
        liquidity = "maker" if execution.lastLiquidity == 1 else "taker"
        record.reported_fill += quantity
        self.fills_reported += 1
        if self._reports is not None:
            try:
                self._reports.on_fill(
                    cid,
                    quantity,
                    execution.price,
                    fee,
                    liquidity,
                    self._clock.now_ns(),
                    trade_id=exec_id,
                    fee_currency=report.currency or "",
                    cumulative_quantity=cumulative,
                )
            except Exception as exc:
                self._failed("fill", exc)
        if self._fill_listener is not None:
            try:
                self._fill_listener(
                    IbFill(
                        client_order_id=cid,
                        exec_id=exec_id,
                        symbol=record.symbol,
                        side=record.side,
                        quantity=quantity,
                        price=execution.price,
                        fee=fee,
                        fee_currency=report.currency,
                        liquidity=liquidity,
                        realized_pnl=finite(report.realizedPNL),
                        ts_event=to_ns(execution.time),
                    )
                )
            except Exception as exc:
                self._failed("fill listener", exc)
        self._after_fill(record, execution.cumQty, execution.avgPrice)

    def _after_fill(self, record: Record, cumulative_quantity: float, average: float) -> None:
        filled = max(record.reported_fill, cumulative_quantity)
        if filled >= record.filled:
            record.filled = filled
            if average > 0:
                record.average_price = average
        done = record.quantity > 0 and filled >= record.quantity * (1 - QTY_RTOL)
        status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
        if self._dedup.accept_status(record.client_order_id, status, filled):
            record.status = status
            record.acknowledged = True
        pending = record.pending_report
        if pending is not None and record.reported_fill >= pending[2] * (1 - QTY_RTOL):
            record.pending_report = None
            self._report_status(record, pending[0], pending[1])
        record.resolve_waiters()

    # -- errors and resynchronisation ------------------------------------------------------------

    def on_order_error(
        self, record: Record, code: int, error: BrokerError | None, text: str
    ) -> None:
        """Apply IB message ``code`` (mapped to ``error``; None for a notice) about an order."""
        cid = record.client_order_id
        if error is None:
            if code == 202:
                record.cancel_reason = text
            log_event(_log, logging.INFO, "IB order notice", client_order_id=cid, code=code)
            return
        log_event(
            _log, logging.WARNING, "IB order error", client_order_id=cid, code=code, message=text
        )
        if code in ORDER_NOT_FOUND_CODES:
            waiter = record.cancel_waiter
            if waiter is not None and not waiter.done():
                waiter.set_exception(OrderNotFoundError(f"cancel of {cid} refused: {error}"))
            return
        if not record.is_open:
            return
        if record.acknowledged and code not in ORDER_REJECT_CODES:
            return  # an unknown message about a working order: TWS's next status decides
        record.last_error = error
        status = OrderStatus.CANCELLED if record.acknowledged else OrderStatus.REJECTED
        self._advance(record, status, record.filled, str(error))

    def sync(self, fills: Iterable[Fill], trades: Iterable[Trade]) -> None:
        """Report what a fresh session state shows: fills first, then order states.

        Orders that ended before we knew of them (earlier sessions' history)
        are not reported; their fills are, unless in ``known_exec_ids``.
        """
        for fill in fills:
            if fill.commissionReport.execId:
                self.book_fill(fill)
            else:
                self.awaiting_commission.add(fill.execution.execId)
        for trade in trades:
            order = trade.order
            cid = client_order_id_of(order.orderRef, order.permId)
            if order.orderRef and (cid in self.records or not trade.isDone()):
                self.apply_trade(self.record_for_trade(trade), trade)
