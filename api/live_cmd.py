"""``ats run --mode live``: the venue's live feed, a strategy and the venue's real connector.

``ats run --mode live --venue binance|binance-usdm|bybit-spot|bybit-linear
--symbols BTC/USDT[,...] [--duration S] [--json]``

The wiring of :class:`api.paper_cmd.PaperSession` (the market-data feed from
``[venues.*]`` → engine → strategy; ``--duration``, SIGINT/SIGTERM, the status
line, the summary) with the simulated venue replaced by the real one:

- **orders** leave through the engine's execution path (sized, rounded and
  risk-checked by the engine) to the venue's
  :class:`~engine.broker.BrokerConnector` built by :func:`api.brokers.build_venue`
  (keys from the environment only), sent with :func:`engine.retry.execute_order`
  (retries that never place an order twice) by a :class:`BrokerGateway`;
- **fills and order updates** come from the account's private stream
  (:class:`adapters.binance.userstream.BinanceUserStream`,
  :class:`adapters.bybit.userstream.BybitUserStream`) into the engine's
  execution-report methods (:class:`StreamBridge`); the engine books every
  fill once (trade ids are the idempotency keys);
- **reconciliation** (:class:`engine.reconcile.Reconciler`, ``[reconcile]``)
  runs once on start, before the engine starts and the strategy can trade
  (orders left open by an earlier run are adopted or cancelled per
  ``reconcile.unknown_orders``, fills made while no session ran are booked),
  and again after every reconnect of the private stream and after an order
  whose outcome is unknown (a placement that timed out and could not be
  settled).

The instruments are the venue's (tick, lot, minimum notional from its exchange
information); on a contract venue ``BTC/USDT`` means ``BTC/USDT:USDT``. The
portfolio starts from ``engine.initial_cash`` (not the venue's balance).

``--duration S`` (or SIGINT/SIGTERM) stops the session cleanly: the feed and
the private stream are closed and the placements in flight are awaited, but
**orders still open at the venue are left there** (not cancelled); the next
run's reconciliation adopts or cancels them. ``--json`` prints paper mode's
summary with ``mode: "live"``, the engine's ``orders`` and ``fills``, and a
``live`` block: ``reconciliations``, ``adopted``, ``cancelled``,
``fills_reconciled``, ``open_orders_left``, the private stream's counters.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any

import msgspec
import orjson

from adapters.userstream import AccountSnapshot, OrderUpdate
from api.brokers import OperatorVenue, build_venue
from api.paper_cmd import PaperSession, PaperUsageError
from engine.broker import BrokerError, OrderAck, OrderNotFoundError
from engine.clock import WallClock
from engine.config import Config
from engine.engine import TradingEngine
from engine.events import OrderFilled
from engine.instruments import InstrumentRegistry, UnknownSymbolError
from engine.orders import IllegalOrderTransitionError, Order, OrderStatus
from engine.reconcile import Reconciler
from engine.retry import ExecutionFailedError, RetryPolicy, execute_order
from engine.store.session import RecordingSession
from engine.strategies import STRATEGIES

__all__ = [
    "LIVE_VENUES",
    "BrokerGateway",
    "LiveSession",
    "LiveUsageError",
    "StreamBridge",
    "run_live",
]

_log = logging.getLogger("ats.live")

#: ``--venue`` → (config attribute of ``[venues]``, market: Binance's or Bybit's category).
LIVE_VENUES: dict[str, tuple[str, str]] = {
    "binance": ("binance", "spot"),
    "binance-usdm": ("binance_usdm", "usdm"),
    "bybit-spot": ("bybit", "spot"),
    "bybit-linear": ("bybit", "linear"),
}
_CONTRACT_VENUES = frozenset({"binance-usdm", "bybit-linear"})
_QTY_RTOL = 1e-9


class LiveUsageError(PaperUsageError):
    """Bad live-mode options; the message names the option and the value."""


def _symbols(venue: str, symbols: list[str]) -> tuple[str, ...]:
    """Unified symbols as the venue lists them (``BTC/USDT`` → ``BTC/USDT:USDT`` on contracts)."""
    out = []
    for s in symbols:
        if venue in _CONTRACT_VENUES and ":" not in s and "/" in s:
            s = f"{s}:{s.partition('/')[2]}"
        out.append(s)
    return tuple(dict.fromkeys(out))


class BrokerGateway:
    """The engine's :class:`~engine.protocols.OrderGateway` over an async ``BrokerConnector``.

    ``submit_order`` and ``cancel_order`` return at once; the venue's answer is
    applied to the engine when it arrives: an acknowledgement accepts the
    order, a refusal rejects it, a placement whose outcome stays unknown asks
    for a reconciliation (``on_unknown``). Fills are not taken from the
    acknowledgement: the private stream and reconciliation book them (once).

    Parameters
    ----------
    connector : BrokerConnector
        The venue's connector (connected).
    engine : TradingEngine
        Receives the execution reports.
    policy : RetryPolicy, optional
        Retries of a placement (default ``RetryPolicy()``).
    on_placed : callable, optional
        ``on_placed(ack, order)`` after each acknowledgement (the private
        stream follows the order from then on).
    on_unknown : callable, optional
        Called when an order's state can only be learnt by reconciling.
    """

    def __init__(
        self,
        connector: Any,
        engine: TradingEngine,
        policy: RetryPolicy | None = None,
        *,
        on_placed: Callable[[OrderAck, Order], object] | None = None,
        on_unknown: Callable[[], object] | None = None,
    ) -> None:
        self.connector = connector
        self.engine = engine
        self.policy = RetryPolicy() if policy is None else policy
        self.on_placed = on_placed
        self.on_unknown = on_unknown
        #: Placements and cancels sent, and those that failed.
        self.placed = 0
        self.cancels = 0
        self.failures = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def submit_order(self, order: Order, ts: int) -> None:
        """Send ``order`` (in a task); its outcome comes back as execution reports."""
        self._spawn(self._submit(order))

    def cancel_order(self, client_order_id: str, ts: int) -> None:
        """Ask the venue to cancel an open order (in a task)."""
        self._spawn(self._cancel(client_order_id))

    async def drain(self) -> None:
        """Wait for every placement and cancel in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _now(self) -> int:
        return self.engine.clock.now_ns()

    def _unknown(self) -> None:
        if self.on_unknown is not None:
            self.on_unknown()

    async def _submit(self, order: Order) -> None:
        cid = order.client_order_id
        try:
            ack = await execute_order(self.connector, order, self.policy)
        except ExecutionFailedError as exc:
            self.failures += 1
            if exc.outcome_unknown:
                _log.warning(
                    "order outcome unknown; reconciling",
                    extra={"fields": {"client_order_id": cid, "error": str(exc)}},
                )
                self._unknown()
            else:
                self._reject(order, str(exc))
            return
        except BrokerError as exc:  # final: refused (funds, invalid order, auth)
            self.failures += 1
            self._reject(order, f"{type(exc).__name__}: {exc}")
            return
        self.placed += 1
        if self.on_placed is not None:
            self.on_placed(ack, order)
        apply_ack(self.engine, order, ack, self._now(), self._unknown)

    def _reject(self, order: Order, reason: str) -> None:
        if order.status is OrderStatus.NEW:
            self.engine.on_order_rejected(order.client_order_id, reason, self._now())

    async def _cancel(self, client_order_id: str) -> None:
        self.cancels += 1
        order = self.engine.execution.orders.get(client_order_id)
        try:
            ack = await self.connector.cancel_order(client_order_id)
        except OrderNotFoundError:
            self._unknown()  # gone already: filled or cancelled; the venue knows which
            return
        except BrokerError as exc:
            self.failures += 1
            _log.warning(
                "cancel failed",
                extra={"fields": {"client_order_id": client_order_id, "error": str(exc)}},
            )
            return
        if order is not None:
            apply_ack(self.engine, order, ack, self._now(), self._unknown)


def apply_ack(
    engine: TradingEngine,
    order: Order,
    ack: OrderAck,
    ts: int,
    on_gap: Callable[[], object],
) -> None:
    """Apply a venue's order state to the engine's order, never its fills.

    An accepting state accepts a NEW order; REJECTED rejects a NEW one;
    CANCELLED and EXPIRED end an open one, but only once the engine has booked
    every fill the venue reports (else ``on_gap``: reconciliation books the
    fills and then applies the end).
    """
    status = ack.status
    cid = order.client_order_id
    if status is OrderStatus.REJECTED:
        if order.status is OrderStatus.NEW:
            engine.on_order_rejected(cid, "rejected by the venue", ts)
        return
    if order.status is OrderStatus.NEW:
        engine.on_order_accepted(cid, ts)
    if status not in (OrderStatus.CANCELLED, OrderStatus.EXPIRED) or not order.is_open:
        return
    if ack.filled_quantity > order.filled_quantity * (1.0 + _QTY_RTOL) + 1e-15:
        on_gap()
        return
    if status is OrderStatus.CANCELLED:
        engine.on_order_cancelled(cid, "cancelled at the venue", ts)
    else:
        engine.on_order_expired(cid, "ended by the venue", ts)


class StreamBridge:
    """The private stream's sink (:class:`adapters.userstream.UserStreamSink`) → the engine.

    Fills go to :meth:`~engine.engine.TradingEngine.on_fill` with the venue's
    trade id and fee currency (so a fill that reconciliation booked, or the
    stream repeats, is booked once); order updates move the engine's order
    (:func:`apply_ack`). Reports for orders the engine does not know (another
    client's, or an earlier run's not yet reconciled) are counted and left to
    reconciliation.

    Parameters
    ----------
    engine : TradingEngine
        Receives the reports.
    on_gap : callable
        Called when only a reconciliation can square a report with the engine.
    """

    def __init__(self, engine: TradingEngine, on_gap: Callable[[], object]) -> None:
        self.engine = engine
        self.on_gap = on_gap
        #: Fills received, and those the engine booked (not a repeat).
        self.fills = 0
        self.booked = 0
        self.updates = 0
        self.unknown = 0
        self.accounts = 0

    def on_fill(self, fill: OrderFilled) -> None:
        """Book ``fill`` (once: the engine drops a trade id it has booked)."""
        engine = self.engine
        order = engine.execution.orders.get(fill.client_order_id)
        if order is None:
            self.unknown += 1
            self.on_gap()
            return
        self.fills += 1
        cumulative = fill.cumulative_quantity
        if not order.is_open:
            if engine.fill_dedup.has_trade(fill.client_order_id, fill.trade_id):
                engine.counters.duplicate_fills += 1
            else:  # the order was closed before this fill arrived: let reconciliation judge
                self.on_gap()
            return
        before = engine.counters.fills
        try:
            engine.on_fill(
                fill.client_order_id,
                fill.quantity,
                fill.price,
                fill.fee,
                fill.liquidity.lower(),
                fill.ts,
                trade_id=fill.trade_id,
                fee_currency=fill.fee_currency,
                cumulative_quantity=cumulative,
            )
        except (IllegalOrderTransitionError, ValueError) as exc:
            # more than the engine's order has left: its state is not the venue's
            _log.warning(
                "fill does not fit the engine's order; reconciling",
                extra={"fields": {"client_order_id": fill.client_order_id, "error": str(exc)}},
            )
            self.on_gap()
            return
        self.booked += engine.counters.fills - before

    def on_order_update(self, update: OrderUpdate) -> None:
        """Move the engine's order to the venue's state (fills excepted)."""
        order = self.engine.execution.orders.get(update.ack.client_order_id)
        if order is None:
            self.unknown += 1
            return
        self.updates += 1
        apply_ack(self.engine, order, update.ack, update.ts, self.on_gap)

    def on_account(self, snapshot: AccountSnapshot) -> None:
        """Balances and positions: counted (reconciliation compares positions)."""
        self.accounts += 1


class LiveSession(PaperSession):
    """Engine + the venue's connector and private stream + live feed; :meth:`run` drives them.

    Build it with :meth:`open` (it connects to the venue to learn the
    instruments); :meth:`run` reconciles, starts the engine and runs until the
    duration ends or a signal arrives, then closes the venue.

    Parameters
    ----------
    config : Config
        The configuration (``[venues.*]`` URLs, ``[reconcile]``, ``[risk]``...).
    venue : OperatorVenue
        The connected venue (:func:`api.brokers.build_venue`).
    name : str
        The ``--venue`` name.
    symbols : tuple of str
        The symbols traded (as the venue lists them).
    stream_config : object, optional
        The private stream's settings (default the connector's).
    """

    mode = "live"

    def __init__(
        self,
        config: Config,
        venue: OperatorVenue,
        name: str,
        symbols: tuple[str, ...],
        *,
        stream_config: Any = None,
    ) -> None:
        strategy_cls = STRATEGIES[config.strategy.name]
        attr, market = LIVE_VENUES[name]
        try:
            instruments = InstrumentRegistry([venue.instruments.get(s) for s in symbols])
        except UnknownSymbolError as exc:
            raise LiveUsageError(f"--symbols: {exc} on venue {name}") from None
        config = msgspec.structs.replace(
            config, engine=msgspec.structs.replace(config.engine, symbols=symbols, mode=self.mode)
        )
        self.config = config
        self.operator_venue = venue
        self.connector: Any = venue.connector
        self.venue_name = name
        self.clock = WallClock()
        self.instruments = instruments
        self.engine = TradingEngine(
            config, instruments, self.clock, strategy_cls(config.strategy, config.risk)
        )
        reconcile_venue = next(iter(instruments)).venue
        self.reconciler = Reconciler(
            self.engine, self.connector, venue=reconcile_venue, config=config.reconcile
        )
        self.bridge = StreamBridge(self.engine, self._reconcile_soon)
        self.stream = self._make_stream(name, stream_config)
        self.stream_reconnects = 0
        self.gateway = BrokerGateway(
            self.connector,
            self.engine,
            on_placed=self._placed,
            on_unknown=self._reconcile_soon,
        )
        self.engine.set_gateway(self.gateway)
        self.recording = RecordingSession(self.engine, None)  # opened by run()
        self.reconcile_errors = 0
        self._make_feed(name, getattr(config.venues, attr), market, self.engine)
        self.started = 0.0
        self.elapsed_s = 0.0
        self._final: dict[str, tuple[bool, float, float]] = {}
        self._final_stats: Any = None
        self._stream_task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._pending: set[asyncio.Task[Any]] = set()

    @classmethod
    async def open(
        cls,
        config: Config,
        name: str,
        symbols: list[str],
        *,
        env: Any = None,
        stream_config: Any = None,
    ) -> LiveSession:
        """Validate the options, build and connect the venue, and wire the session.

        Raises
        ------
        LiveUsageError
            An unknown venue or strategy, no or unknown symbols.
        BrokerError
            The venue cannot be reached, or refuses the keys.
        """
        if name not in LIVE_VENUES:
            raise LiveUsageError(f"--venue must be one of {', '.join(LIVE_VENUES)}, got {name!r}")
        if not symbols:
            raise LiveUsageError("--symbols is required in live mode (e.g. --symbols BTC/USDT)")
        if config.strategy.name not in STRATEGIES:
            raise LiveUsageError(f"strategy.name must be one of {', '.join(sorted(STRATEGIES))}")
        wanted = _symbols(name, symbols)
        venue = build_venue(name, config, env, symbols=wanted)
        try:
            await venue.connect()
            return cls(config, venue, name, wanted, stream_config=stream_config)
        except BaseException:
            await venue.close()
            raise

    def _make_stream(self, name: str, stream_config: Any) -> Any:
        if name.startswith("bybit"):
            from adapters.bybit.userstream import BybitUserStream

            stream: Any = BybitUserStream(
                self.connector, self.bridge, stream_config, clock=self.clock.now_ns
            )
        else:
            from adapters.binance.userstream import BinanceUserStream

            stream = BinanceUserStream(
                self.connector, self.bridge, stream_config, clock=self.clock.now_ns
            )
        # after every reconnect (and its REST catch-up) the stream asks for a reconciliation
        stream.on_reconnected = self._stream_reconnected
        return stream

    def _stream_reconnected(self) -> None:
        self.stream_reconnects += 1
        self._reconcile_soon()

    def _placed(self, ack: OrderAck, order: Order) -> None:
        if self.venue_name.startswith("binance"):
            self.stream.track(ack, order.symbol, order.quantity)
        else:
            self.stream.track(ack, order.symbol)

    def _reconcile_soon(self) -> None:
        """Schedule a reconciliation (coalesced; never two at once)."""
        if self._stop is None or self._stop.is_set():
            return
        task = self.reconciler.request()
        if task not in self._pending:
            self._pending.add(task)
            task.add_done_callback(self._reconciled)

    def _reconciled(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.reconcile_errors += 1
            _log.warning(
                "reconciliation failed", extra={"fields": {"error": f"{type(exc).__name__}: {exc}"}}
            )

    async def _before_feed(self, stop: asyncio.Event) -> None:
        """Reconcile with the venue, then start the private stream (before the engine starts)."""
        self._stop = stop
        await self.reconciler.reconcile()
        self._stream_task = asyncio.create_task(self.stream.run(stop), name="live-private-stream")

    async def _after_feed(self) -> None:
        """Stop the stream, let the orders in flight finish, close the venue (orders stay)."""
        try:
            if self._stream_task is not None:
                await self._stream_task
            await self.gateway.drain()
            if self._pending:
                await asyncio.gather(*list(self._pending), return_exceptions=True)
        finally:
            await self.operator_venue.close()

    def summary(self) -> dict[str, Any]:
        """Return paper mode's summary with the venue's side (module docstring)."""
        out = super().summary()
        report = self.reconciler.last_report
        reports = self.reconciler.runs
        stats = self.stream.stats
        out["venue"] = self.venue_name
        out["live"] = {
            "reconciliations": reports,
            "reconcile_errors": self.reconcile_errors,
            "adopted": list(report.adopted) if report is not None else [],
            "cancelled": list(report.cancelled) if report is not None else [],
            "fills_reconciled": self.engine.counters.fills - self.bridge.booked,
            "orders_placed": self.gateway.placed,
            "order_failures": self.gateway.failures,
            "open_orders_left": sum(1 for o in self.engine.execution.orders.values() if o.is_open),
            "duplicate_fills": self.engine.counters.duplicate_fills,
            "stream": {
                "connects": stats.connects,
                "disconnects": stats.disconnects,
                "reconnects": self.stream_reconnects,
                "fills": stats.fills,
                "polls": stats.polls,
            },
        }
        return out


def run_live(config: Config, args: argparse.Namespace) -> int:
    """Entry point of ``ats run --mode live``; return the exit status."""
    import uvloop

    symbols = [s.strip() for s in (args.symbols or "").split(",") if s.strip()]
    if args.duration is not None and not args.duration > 0:
        raise LiveUsageError(f"--duration must be > 0, got {args.duration}")
    status = sys.stderr if sys.stderr.isatty() and not args.json else None

    async def main() -> LiveSession:
        session = await LiveSession.open(config, args.venue, symbols)
        await session.run(args.duration, status)
        return session

    try:
        session = uvloop.run(main())
    except BrokerError as exc:
        sys.stderr.write(
            f"ats: error: venue {args.venue} unreachable or refused ({type(exc).__name__}): {exc}\n"
        )
        return 1
    summary = session.summary()
    if args.json:
        sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    else:
        for symbol, block in summary["symbols"].items():
            sys.stdout.write(f"{symbol}\n")
            for key, value in block.items():
                sys.stdout.write(f"  {key:<16} {value}\n")
        sys.stdout.write("live\n")
        for key in ("orders", "fills"):
            sys.stdout.write(f"  {key:<16} {summary[key]}\n")
        for key, value in summary["live"].items():
            sys.stdout.write(f"  {key:<16} {value}\n")
        sys.stdout.write("open orders are left at the venue (the next run reconciles them)\n")
    return 0
