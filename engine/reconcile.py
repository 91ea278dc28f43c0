"""Reconciliation: square the engine's orders, fills and positions with a venue's.

DESIGN.md: "on start-up the engine reconciles its open orders and positions
with the venue"; issue 7 adds "and after every reconnect". A
:class:`Reconciler` does it over any :class:`~engine.broker.BrokerConnector`,
in this order:

1. **Venue open orders** (``get_open_orders``). One the engine knows is
   brought up to the venue's state (accepted, missed fills). One it does not
   know is handled per ``reconcile.unknown_orders``: ``adopt`` tracks it as an
   engine order (strategy ``"adopted"``, LIMIT when it has a price, else
   MARKET), accepted, with what it already filled booked; ``cancel`` does the
   same and then cancels it at the venue. An order on a symbol the engine has
   no instrument for cannot be tracked: it is reported (and, under
   ``cancel``, cancelled).
2. **Engine open orders the venue no longer lists**: each is queried by its
   client order id (``get_order``); its missed fills are booked and its final
   state applied (FILLED through the fills, CANCELLED, EXPIRED, REJECTED; a
   REJECTED report for an order the venue had accepted becomes a cancel). An
   order the venue does not know at all ends REJECTED when it was never
   acknowledged, CANCELLED otherwise.
3. **Positions** (``get_positions``), after the fills above: every symbol
   where the engine's position and the venue's differ by more than half a lot
   is published as a ``RISK_ALERT`` naming the symbol, ours and the venue's.
   Spot instruments are compared only when the venue reports a position for
   them (spot holdings are balances, which hold more than the engine traded).

Fills, exactly once
-------------------
Every fill is booked through :meth:`engine.engine.TradingEngine.on_fill`,
whose :class:`~engine.broker.ExecutionReportDeduplicator` keys fills by the
venue's trade id and by the order's cumulative filled quantity. When the
connector implements the optional :class:`~engine.broker.FillHistory`
(``get_recent_fills``), the venue's fills of an order are booked under their
own trade ids (oldest first, never past the venue's cumulative quantity), so
the same fill arriving later on the stream is dropped by its id. What the
history does not cover (no such method, or fills older than the window) is
inferred from the order's cumulative filled quantity: one fill for the gap,
at the price that makes the order's average price the venue's, fee 0
(unknown), liquidity ``"unknown"``, trade id
``reconcile:<client order id>:<cumulative quantity>`` and the cumulative
quantity attached, so a stream report that carries the cumulative quantity
(Binance ``z``, Bybit ``cumExecQty``, IB ``cumQty``) is dropped too. Running
:meth:`Reconciler.reconcile` twice books nothing the second time.

Fills of orders that are neither open at the venue nor known to the engine
(history of earlier sessions) are not booked; they are counted in
:attr:`ReconcileReport.unmatched_fills`, and any effect they had shows up
as a position mismatch.

Examples
--------
>>> reconciler = Reconciler(engine, broker, venue="binance")  # doctest: +SKIP
>>> report = await reconciler.reconcile()  # doctest: +SKIP
>>> reconciler.request()  # from a connector's reconnect hook  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import math

import msgspec

from engine.broker import (
    BrokerConnector,
    BrokerError,
    OrderAck,
    OrderNotFoundError,
    VenueFill,
    VenueOrder,
    VenuePosition,
    has_fill_history,
)
from engine.config import ReconcileConfig
from engine.engine import TradingEngine
from engine.events import RiskAlert
from engine.instruments import InstrumentKind
from engine.orders import OPEN_STATUSES, Order, OrderStatus, OrderType

__all__ = [
    "ADOPTED_STRATEGY",
    "INFERRED_LIQUIDITY",
    "PositionMismatch",
    "ReconcileReport",
    "Reconciler",
    "inferred_trade_id",
]

_log = logging.getLogger("ats.reconcile")

#: ``Order.strategy`` of an order adopted from the venue.
ADOPTED_STRATEGY = "adopted"
#: ``liquidity`` of a fill inferred from a cumulative quantity (the venue did not say).
INFERRED_LIQUIDITY = "unknown"
#: Later runs ask for fills from the previous run's start minus this margin (ns): a
#: venue's trade history can lag its order state by a moment.
_HISTORY_MARGIN_NS = 60 * 1_000_000_000
_NS = 1_000_000_000
_NOT_ACCEPTED = frozenset({OrderStatus.NEW, OrderStatus.REJECTED})
#: Relative tolerance on quantities (venues send decimal strings, we sum floats).
_QTY_RTOL = 1e-9
_SOURCE = "reconcile"


def inferred_trade_id(client_order_id: str, cumulative_quantity: float) -> str:
    """Return the trade id of a fill inferred from the order's cumulative quantity.

    Examples
    --------
    >>> inferred_trade_id("ats-7", 0.5)
    'reconcile:ats-7:0.5'
    """
    return f"reconcile:{client_order_id}:{cumulative_quantity!r}"


class PositionMismatch(msgspec.Struct, frozen=True, kw_only=True):
    """A symbol whose position differs between the engine (``ours``) and the venue."""

    symbol: str
    ours: float
    venue: float


class ReconcileReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one :meth:`Reconciler.reconcile` found and did.

    Attributes
    ----------
    venue : str
        The venue reconciled.
    ts : int
        Engine-clock time the run started (ns).
    venue_open_orders : int
        Open orders the venue listed.
    adopted : tuple[str, ...]
        Client order ids of unknown venue orders now tracked by the engine
        (under either policy: a cancelled one is adopted first).
    cancelled : tuple[str, ...]
        Unknown venue orders cancelled at the venue (policy ``cancel``).
    untracked : tuple[str, ...]
        Unknown venue orders on symbols the engine has no instrument for.
    resolved : dict[str, str]
        Engine orders the venue no longer had open, with the final status applied.
    fills_booked : int
        Missed fills booked from the venue's fill history, under their trade ids.
    fills_inferred : int
        Missed fills inferred from cumulative filled quantities.
    fills_already_booked : int
        History fills of tracked orders whose trade id the engine had booked.
    unmatched_fills : int
        History fills of orders neither open at the venue nor known to the engine.
    fill_history : bool
        Whether the venue's fill history was used (the connector has
        ``get_recent_fills`` and it answered).
    position_mismatches : tuple[PositionMismatch, ...]
        Positions that differ after the fills were booked.
    """

    venue: str
    ts: int
    venue_open_orders: int
    adopted: tuple[str, ...]
    cancelled: tuple[str, ...]
    untracked: tuple[str, ...]
    resolved: dict[str, str]
    fills_booked: int
    fills_inferred: int
    fills_already_booked: int
    unmatched_fills: int
    fill_history: bool
    position_mismatches: tuple[PositionMismatch, ...]


class _Run:
    """The tallies of one run (mutable while it lasts, frozen into a report at the end)."""

    def __init__(self, ts: int) -> None:
        self.ts = ts
        self.adopted: list[str] = []
        self.cancelled: list[str] = []
        self.untracked: list[str] = []
        self.resolved: dict[str, str] = {}
        self.fills_booked = 0
        self.fills_inferred = 0
        self.fills_already_booked = 0
        self.unmatched_fills = 0
        self.fill_history = False


class Reconciler:
    """Reconcile one engine with one venue (see the module docstring).

    Parameters
    ----------
    engine : TradingEngine
        The engine whose orders and portfolio are squared with the venue; its
        clock, bus, execution engine and :meth:`~TradingEngine.on_fill` are used.
    broker : BrokerConnector
        The venue's connector (connected); ``get_recent_fills`` is used when
        it has one.
    venue : str
        The venue's name as the engine's instruments and orders carry it
        (``Instrument.venue``): only engine orders and positions of this venue
        are reconciled.
    config : ReconcileConfig, optional
        ``[reconcile]``; defaults to ``ReconcileConfig()`` (adopt, 1-day fill window).
    """

    def __init__(
        self,
        engine: TradingEngine,
        broker: BrokerConnector,
        *,
        venue: str,
        config: ReconcileConfig | None = None,
    ) -> None:
        self.engine = engine
        self.broker = broker
        self.venue = venue
        self.config = ReconcileConfig() if config is None else config
        #: The last run's report (None before the first).
        self.last_report: ReconcileReport | None = None
        #: Completed runs.
        self.runs = 0
        self._last_start_ns: int | None = None
        self._task: asyncio.Task[ReconcileReport] | None = None
        self._again = False
        self._lock = asyncio.Lock()

    # -- scheduling ------------------------------------------------------------------------------

    def request(self) -> asyncio.Task[ReconcileReport]:
        """Schedule a run (a connector's "connected again" hook); coalesce concurrent requests.

        A request while a run is in progress makes that task run once more when
        it ends, so a reconnect during a reconciliation is never missed, and
        two reconciliations never interleave. Must be called on the event loop.
        """
        task = self._task
        if task is not None and not task.done():
            self._again = True
            return task
        self._task = asyncio.get_running_loop().create_task(self._run_requested())
        return self._task

    async def _run_requested(self) -> ReconcileReport:
        while True:
            self._again = False
            report = await self.reconcile()
            if not self._again:
                return report

    # -- the run ---------------------------------------------------------------------------------

    async def reconcile(self) -> ReconcileReport:
        """Run one reconciliation and return its report (also kept in :attr:`last_report`).

        Raises
        ------
        BrokerError
            When the venue's open orders, an order query or the positions
            cannot be read (nothing after that point was applied; run again).
            A failing fill history is not an error: fills are then inferred.

        Concurrent calls run one after the other, never interleaved.
        """
        async with self._lock:
            return await self._reconcile()

    async def _reconcile(self) -> ReconcileReport:
        engine = self.engine
        ts = engine.clock.now_ns()
        run = _Run(ts)
        since = self._since(ts)
        venue_open = await self.broker.get_open_orders()
        history = await self._history(since, run)
        by_cid, by_venue_id = _group(history)
        listed: set[str] = set()
        for venue_order in venue_open:
            cid = self._cid(venue_order)
            listed.add(cid)
            fills = by_cid.get(cid, []) + by_venue_id.get(venue_order.venue_order_id, [])
            await self._venue_open_order(cid, venue_order, fills, run)
        for order in self._engine_open_orders():
            if order.client_order_id in listed:
                continue
            await self._vanished_order(order, by_cid, by_venue_id, run)
        run.unmatched_fills = sum(
            1 for cid, fills in by_cid.items() if cid not in engine.execution.orders for _ in fills
        )
        mismatches = self._compare_positions(await self.broker.get_positions())
        report = ReconcileReport(
            venue=self.venue,
            ts=ts,
            venue_open_orders=len(venue_open),
            adopted=tuple(run.adopted),
            cancelled=tuple(run.cancelled),
            untracked=tuple(run.untracked),
            resolved=run.resolved,
            fills_booked=run.fills_booked,
            fills_inferred=run.fills_inferred,
            fills_already_booked=run.fills_already_booked,
            unmatched_fills=run.unmatched_fills,
            fill_history=run.fill_history,
            position_mismatches=mismatches,
        )
        self._last_start_ns = ts
        self.runs += 1
        self.last_report = report
        _log.info(
            "reconciled with venue",
            extra={
                "fields": {
                    "venue": self.venue,
                    "venue_open_orders": report.venue_open_orders,
                    "adopted": len(report.adopted),
                    "cancelled": len(report.cancelled),
                    "resolved": len(report.resolved),
                    "fills_booked": report.fills_booked,
                    "fills_inferred": report.fills_inferred,
                    "position_mismatches": len(mismatches),
                }
            },
        )
        return report

    def _since(self, ts: int) -> int:
        if self._last_start_ns is None:
            since = ts - int(self.config.fill_lookback_s * _NS)
        else:
            since = self._last_start_ns - _HISTORY_MARGIN_NS
        # an engine order's fills are all after it was created
        created = [o.ts_created for o in self._engine_open_orders()]
        return min([since, *created]) if created else since

    async def _history(self, since_ns: int, run: _Run) -> list[VenueFill] | None:
        if not has_fill_history(self.broker):
            return None
        try:
            fills: list[VenueFill] = await self.broker.get_recent_fills(since_ns)  # type: ignore[attr-defined]
        except BrokerError as exc:
            _log.warning(
                "fill history unavailable, inferring missed fills from cumulative quantities",
                extra={"fields": {"venue": self.venue, "error": type(exc).__name__}},
            )
            return None
        run.fill_history = True
        return fills

    def _engine_open_orders(self) -> list[Order]:
        return [o for o in self.engine.execution.open_orders() if o.venue == self.venue]

    def _cid(self, venue_order: OrderAck) -> str:
        # an order entered without a client id gets one from the venue's id
        return venue_order.client_order_id or f"{self.venue}:{venue_order.venue_order_id}"

    def _alert(self, message: str) -> None:
        self.engine.bus.publish(
            RiskAlert(ts=self.engine.clock.now_ns(), source=_SOURCE, message=message)
        )

    # -- orders the venue lists as open ----------------------------------------------------------

    async def _venue_open_order(
        self, cid: str, venue_order: VenueOrder, fills: list[VenueFill], run: _Run
    ) -> None:
        order = self.engine.execution.orders.get(cid)
        if order is None:
            await self._unknown_order(cid, venue_order, fills, run)
            return
        if not order.is_open:
            self._alert(
                f"venue {self.venue} lists order {cid} ({order.symbol}) as open, "
                f"the engine has it {order.status}"
            )
            return
        self._accept(order, venue_order)
        self._book_fills(order, venue_order, fills, run)

    def _accept(self, order: Order, state: OrderAck) -> None:
        # an order the venue cancelled or expired had been accepted; a rejected one had not
        if order.status is OrderStatus.NEW and state.status not in _NOT_ACCEPTED:
            self.engine.on_order_accepted(order.client_order_id, self.engine.clock.now_ns())

    async def _unknown_order(
        self, cid: str, venue_order: VenueOrder, fills: list[VenueFill], run: _Run
    ) -> None:
        cancel = self.config.unknown_orders == "cancel"
        described = (
            f"{venue_order.side} {venue_order.quantity:g} {venue_order.symbol}"
            + ("" if math.isnan(venue_order.price) else f" @ {venue_order.price:g}")
            + f" (filled {venue_order.filled_quantity:g})"
        )
        order = self._adopt(cid, venue_order)
        if order is None:
            run.untracked.append(cid)
            self._alert(
                f"unknown order {cid} at venue {self.venue}: {described}, symbol not "
                f"tracked by the engine" + (", cancelling it" if cancel else ", left alone")
            )
            if cancel:
                await self._cancel_unknown(cid, None, run)
            return
        run.adopted.append(cid)
        self._accept(order, venue_order)
        self._book_fills(order, venue_order, fills, run)
        self._alert(
            f"unknown order {cid} at venue {self.venue} adopted: {described}"
            + (", cancelling it (reconcile.unknown_orders = cancel)" if cancel else "")
        )
        if cancel and order.is_open:
            await self._cancel_unknown(cid, order, run)

    def _adopt(self, cid: str, venue_order: VenueOrder) -> Order | None:
        engine = self.engine
        if venue_order.symbol not in engine.instruments or not venue_order.quantity > 0:
            return None
        priced = venue_order.price > 0 and math.isfinite(venue_order.price)
        order = Order(
            client_order_id=cid,
            symbol=venue_order.symbol,
            venue=self.venue,
            side=venue_order.side,
            order_type=OrderType.LIMIT if priced else OrderType.MARKET,
            quantity=venue_order.quantity,
            price=venue_order.price if priced else math.nan,
            ts_created=engine.clock.now_ns(),
            strategy=ADOPTED_STRATEGY,
        )
        engine.execution.track(order)
        return order

    async def _cancel_unknown(self, cid: str, order: Order | None, run: _Run) -> None:
        try:
            ack = await self.broker.cancel_order(cid)
        except OrderNotFoundError:
            # it ended meanwhile (filled, or cancelled by someone else): settle it by query
            if order is not None:
                venue_order = await self._query(cid)
                if order.is_open:
                    self._settle(order, venue_order, [], run)
            return
        except BrokerError as exc:
            self._alert(f"could not cancel unknown order {cid} at venue {self.venue}: {exc}")
            return
        run.cancelled.append(cid)
        if order is not None and order.is_open:
            self._book_fills(order, ack, [], run)
            self._apply_final(order, ack.status, "cancelled by reconciliation (unknown order)")

    # -- engine orders the venue no longer lists -------------------------------------------------

    async def _vanished_order(
        self,
        order: Order,
        by_cid: dict[str, list[VenueFill]],
        by_venue_id: dict[str, list[VenueFill]],
        run: _Run,
    ) -> None:
        cid = order.client_order_id
        venue_order = await self._query(cid)
        fills = by_cid.get(cid, [])
        if venue_order is not None:
            fills = fills + by_venue_id.get(venue_order.venue_order_id, [])
        if order.is_open:  # the stream may have settled it while we asked
            self._settle(order, venue_order, fills, run)

    async def _query(self, client_order_id: str) -> VenueOrder | None:
        try:
            return await self.broker.get_order(client_order_id)
        except OrderNotFoundError:
            return None

    def _settle(
        self,
        order: Order,
        venue_order: VenueOrder | None,
        fills: list[VenueFill],
        run: _Run,
    ) -> None:
        """Apply the venue's state of an engine order it no longer lists as open."""
        cid = order.client_order_id
        if venue_order is None:
            if order.status is OrderStatus.NEW:
                reason = f"venue {self.venue} has no order {cid} (found by reconciliation)"
                self.engine.on_order_rejected(cid, reason, self.engine.clock.now_ns())
                run.resolved[cid] = str(OrderStatus.REJECTED)
            else:
                reason = f"venue {self.venue} no longer knows order {cid} (reconciliation)"
                self.engine.on_order_cancelled(cid, reason, self.engine.clock.now_ns())
                run.resolved[cid] = str(OrderStatus.CANCELLED)
            self._alert(reason)
            return
        self._accept(order, venue_order)
        self._book_fills(order, venue_order, fills, run)
        if venue_order.status in OPEN_STATUSES:
            return  # opened between our two requests: nothing more to apply
        self._apply_final(order, venue_order.status, f"{venue_order.status} at venue {self.venue}")
        run.resolved[cid] = str(order.status if not order.is_open else venue_order.status)

    def _apply_final(self, order: Order, status: OrderStatus, reason: str) -> None:
        if not order.is_open:
            return
        engine = self.engine
        cid = order.client_order_id
        now = engine.clock.now_ns()
        if status is OrderStatus.CANCELLED:
            engine.on_order_cancelled(cid, f"{reason} (reconciliation)", now)
        elif status is OrderStatus.EXPIRED:
            engine.on_order_expired(cid, f"{reason} (reconciliation)", now)
        elif status is OrderStatus.REJECTED:
            if order.status is OrderStatus.NEW:
                engine.on_order_rejected(cid, f"{reason} (reconciliation)", now)
            else:  # a venue cannot reject what it accepted: it ended the order
                engine.on_order_cancelled(cid, f"{reason} (reconciliation)", now)
        elif status is OrderStatus.FILLED:
            _log.warning(
                "venue reports the order filled, its fills do not cover it",
                extra={
                    "fields": {
                        "client_order_id": cid,
                        "filled": order.filled_quantity,
                        "quantity": order.quantity,
                    }
                },
            )

    # -- fills -----------------------------------------------------------------------------------

    def _book_fills(self, order: Order, state: OrderAck, fills: list[VenueFill], run: _Run) -> None:
        """Book what the venue filled beyond what the engine booked: history first, then a gap."""
        engine = self.engine
        cid = order.client_order_id
        dedup = engine.fill_dedup
        target = min(state.filled_quantity, order.quantity)
        tolerance = order.quantity * _QTY_RTOL
        for fill in sorted(fills, key=lambda f: (f.ts, f.trade_id)):
            if dedup.has_trade(cid, fill.trade_id):
                run.fills_already_booked += 1
                continue
            missing = target - order.filled_quantity
            if missing <= tolerance or not order.is_open:
                break
            quantity = min(fill.quantity, missing)
            if not quantity > 0:
                continue
            fee = fill.fee * quantity / fill.quantity if fill.quantity > 0 else 0.0
            before = order.filled_quantity
            engine.on_fill(
                cid,
                quantity,
                fill.price,
                fee,
                fill.liquidity or INFERRED_LIQUIDITY,
                engine.clock.now_ns(),
                trade_id=fill.trade_id,
                fee_currency=fill.fee_currency,
                cumulative_quantity=dedup.filled(cid) + quantity,
            )
            if order.filled_quantity > before:
                run.fills_booked += 1
        missing = target - order.filled_quantity
        if missing <= tolerance or not order.is_open:
            return
        price = _gap_price(order, state, missing)
        if math.isnan(price):
            self._alert(
                f"order {cid} ({order.symbol}) filled {state.filled_quantity:g} at venue "
                f"{self.venue}, engine {order.filled_quantity:g}: no price to book the gap"
            )
            return
        engine.on_fill(
            cid,
            missing,
            price,
            0.0,
            INFERRED_LIQUIDITY,
            engine.clock.now_ns(),
            trade_id=inferred_trade_id(cid, state.filled_quantity),
            cumulative_quantity=dedup.filled(cid) + missing,
        )
        run.fills_inferred += 1

    # -- positions -------------------------------------------------------------------------------

    def _compare_positions(
        self, venue_positions: list[VenuePosition]
    ) -> tuple[PositionMismatch, ...]:
        engine = self.engine
        instruments = engine.instruments
        theirs: dict[str, float] = {}
        for position in venue_positions:
            theirs[position.symbol] = theirs.get(position.symbol, 0.0) + position.quantity
        ours: dict[str, float] = {}
        for symbol, position in engine.portfolio.positions.items():
            if symbol not in instruments:
                continue
            instrument = instruments.get(symbol)
            if instrument.venue != self.venue:
                continue
            if instrument.kind is InstrumentKind.SPOT and symbol not in theirs:
                continue  # spot holdings are balances: nothing to compare with
            ours[symbol] = position.quantity
        mismatches = []
        for symbol in sorted(set(ours) | set(theirs)):
            mine = ours.get(symbol, 0.0)
            venue = theirs.get(symbol, 0.0)
            lot = instruments.get(symbol).lot_size if symbol in instruments else 0.0
            tolerance = max(lot * 0.5, 1e-9 * max(abs(mine), abs(venue)))
            if abs(mine - venue) <= tolerance:
                continue
            mismatch = PositionMismatch(symbol=symbol, ours=mine, venue=venue)
            mismatches.append(mismatch)
            self._alert(
                f"position mismatch {symbol} at venue {self.venue}: ours {mine:g}, venue {venue:g}"
            )
        return tuple(mismatches)


def _group(
    history: list[VenueFill] | None,
) -> tuple[dict[str, list[VenueFill]], dict[str, list[VenueFill]]]:
    """Fills by client order id, and (those without one) by the venue's order id."""
    by_cid: dict[str, list[VenueFill]] = {}
    by_venue_id: dict[str, list[VenueFill]] = {}
    for fill in history or ():
        if fill.client_order_id:
            by_cid.setdefault(fill.client_order_id, []).append(fill)
        elif fill.venue_order_id:
            by_venue_id.setdefault(fill.venue_order_id, []).append(fill)
    return by_cid, by_venue_id


def _gap_price(order: Order, state: OrderAck, missing: float) -> float:
    """The price that makes the engine's average the venue's, else a sane fallback, else NaN."""
    venue_average = state.average_price
    if venue_average > 0 and math.isfinite(venue_average):
        value = venue_average * min(state.filled_quantity, order.quantity)
        price = (value - order.average_fill_price * order.filled_quantity) / missing
        if price > 0 and math.isfinite(price):
            return price
        return venue_average
    if order.price > 0 and math.isfinite(order.price):
        return order.price
    return math.nan
