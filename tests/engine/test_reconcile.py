"""Reconciliation (engine.reconcile) against a scripted venue and against IB's simulated TWS.

Oracles: the venue's own state (its orders' cumulative filled quantities and
average prices, its fills' trade ids, its positions), the engine order
lifecycle (a report the engine cannot accept raises), and the portfolio's
cash recomputed by hand from the fills the venue made: every fill booked
once, whatever the order in which reconciliation and the stream deliver it.
"""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any

import numpy as np
import pytest

from adapters.ib import IbAccount, IbBroker
from engine.broker import (
    Balance,
    NetworkError,
    OrderAck,
    OrderNotFoundError,
    VenueFill,
    VenueOrder,
    VenuePosition,
)
from engine.clock import SimulatedClock
from engine.config import Config, ConfigError, EngineConfig, ReconcileConfig, load_config
from engine.engine import TradingEngine
from engine.events import EventType, OrderCancelled, OrderFilled, RiskAlert
from engine.instruments import Instrument, InstrumentKind, InstrumentRegistry
from engine.orders import Order, OrderStatus, OrderType, Side
from engine.reconcile import (
    ADOPTED_STRATEGY,
    INFERRED_LIQUIDITY,
    PositionMismatch,
    Reconciler,
    inferred_trade_id,
)
from engine.retry import RetryPolicy, execute_order
from engine.strategies import EmaMomentumStrategy
from tests.adapters.ib.conftest import ACCOUNT, contract_details, ib_config, ib_instruments
from tests.adapters.ib.fake_ib import FakeTws

VENUE = "scripted"
SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"
T0 = 1_723_000_000_000_000_000
CASH = 1_000_000.0


def instruments() -> InstrumentRegistry:
    return InstrumentRegistry(
        [
            Instrument(
                symbol=SPOT,
                venue=VENUE,
                venue_symbol="BTCUSDT",
                base="BTC",
                quote="USDT",
                tick_size=0.01,
                lot_size=0.001,
            ),
            Instrument(
                symbol=PERP,
                venue=VENUE,
                venue_symbol="BTCUSDT",
                base="BTC",
                quote="USDT",
                tick_size=0.1,
                lot_size=0.001,
                kind=InstrumentKind.PERPETUAL,
            ),
        ]
    )


def make_engine(
    registry: InstrumentRegistry | None = None, quote: str = "USDT", symbol: str = SPOT
) -> TradingEngine:
    config = Config(engine=EngineConfig(symbols=(symbol,), quote_currency=quote, initial_cash=CASH))
    return TradingEngine(
        config,
        instruments() if registry is None else registry,
        SimulatedClock(T0),
        EmaMomentumStrategy(config.strategy, config.risk),
    )


def engine_order(
    engine: TradingEngine,
    quantity: float,
    price: float,
    *,
    symbol: str = SPOT,
    side: Side = Side.BUY,
    accepted: bool = True,
) -> Order:
    """An order as the engine makes and tracks them (rounded, id from its generator)."""
    order = engine.execution.build_order(
        instrument=engine.instruments.get(symbol),
        side=side,
        order_type=OrderType.LIMIT,
        quantity=quantity,
        price=price,
        ts=engine.clock.now_ns(),
        strategy="test",
    )
    engine.execution.track(order)
    if accepted:
        engine.on_order_accepted(order.client_order_id, engine.clock.now_ns())
    return order


def events(engine: TradingEngine, topic: EventType) -> list[Any]:
    return engine.bus.get_event_history(topic)


def fills_of(engine: TradingEngine) -> list[OrderFilled]:
    return [e for e in events(engine, EventType.ORDER_FILLED) if isinstance(e, OrderFilled)]


def alerts(engine: TradingEngine) -> list[str]:
    return [e.message for e in events(engine, EventType.RISK_ALERT) if isinstance(e, RiskAlert)]


# -- a scripted venue ----------------------------------------------------------------------------


class _VenueOrderState:
    def __init__(
        self, cid: str, symbol: str, side: Side, quantity: float, price: float, venue_id: str
    ) -> None:
        self.cid = cid
        self.symbol = symbol
        self.side = side
        self.quantity = quantity
        self.price = price
        self.venue_id = venue_id
        self.status = OrderStatus.ACCEPTED
        self.filled = 0.0
        self.value = 0.0

    def snapshot(self) -> VenueOrder:
        return VenueOrder(
            client_order_id=self.cid,
            venue_order_id=self.venue_id,
            status=self.status,
            filled_quantity=self.filled,
            average_price=self.value / self.filled if self.filled else 0.0,
            symbol=self.symbol,
            side=self.side,
            quantity=self.quantity,
            price=self.price,
        )


class ScriptedVenue:
    """An in-memory :class:`~engine.broker.BrokerConnector` whose state the test scripts.

    Fills are kept with their trade ids; :meth:`fill` also updates the order's
    cumulative quantity, average price and status, and the venue's position.
    """

    def __init__(self) -> None:
        self.orders: dict[str, _VenueOrderState] = {}
        self.fills: list[VenueFill] = []
        self.positions: dict[str, float] = {}
        self.cancels: list[str] = []
        self.queries: list[str] = []
        self._ids = 100
        self._trade_ids = 5000

    # script
    def add(
        self,
        cid: str,
        quantity: float,
        price: float,
        *,
        symbol: str = SPOT,
        side: Side = Side.BUY,
    ) -> _VenueOrderState:
        self._ids += 1
        state = _VenueOrderState(cid, symbol, side, quantity, price, str(self._ids))
        self.orders[cid] = state
        return state

    def fill(self, cid: str, quantity: float, price: float, fee: float = 0.0) -> VenueFill:
        state = self.orders[cid]
        self._trade_ids += 1
        state.filled += quantity
        state.value += quantity * price
        if state.filled >= state.quantity * (1 - 1e-12):
            state.status = OrderStatus.FILLED
        else:
            state.status = OrderStatus.PARTIALLY_FILLED
        self.positions[state.symbol] = (
            self.positions.get(state.symbol, 0.0) + state.side.sign * quantity
        )
        fill = VenueFill(
            trade_id=str(self._trade_ids),
            client_order_id=cid,
            symbol=state.symbol,
            side=state.side,
            quantity=quantity,
            price=price,
            fee=fee,
            fee_currency="USDT",
            liquidity="maker",
            ts=T0 + self._trade_ids,
            venue_order_id=state.venue_id,
        )
        self.fills.append(fill)
        return fill

    def end(self, cid: str, status: OrderStatus) -> None:
        self.orders[cid].status = status

    # the connector
    async def connect(self) -> None:
        return None

    async def place_order(self, order: Order) -> OrderAck:
        state = self.add(
            order.client_order_id,
            order.quantity,
            order.price,
            symbol=order.symbol,
            side=order.side,
        )
        return state.snapshot()

    async def cancel_order(self, client_order_id: str) -> OrderAck:
        self.cancels.append(client_order_id)
        state = self.orders.get(client_order_id)
        if state is None or state.status not in (
            OrderStatus.ACCEPTED,
            OrderStatus.PARTIALLY_FILLED,
        ):
            raise OrderNotFoundError(f"no open order {client_order_id}")
        state.status = OrderStatus.CANCELLED
        return state.snapshot()

    async def get_balance(self) -> list[Balance]:
        return [Balance(asset="USDT", free=CASH)]

    async def get_positions(self) -> list[VenuePosition]:
        return [VenuePosition(symbol=s, quantity=q) for s, q in self.positions.items() if q]

    async def get_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return [
            s.snapshot()
            for s in self.orders.values()
            if s.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)
            and (symbol is None or s.symbol == symbol)
        ]

    async def get_order(self, client_order_id: str) -> VenueOrder:
        self.queries.append(client_order_id)
        state = self.orders.get(client_order_id)
        if state is None:
            raise OrderNotFoundError(f"no order {client_order_id}")
        return state.snapshot()

    async def cancel_all(self, symbol: str | None = None) -> list[OrderAck]:
        return [await self.cancel_order(o.client_order_id) for o in await self.get_open_orders()]


class ScriptedVenueWithHistory(ScriptedVenue):
    """The same venue with the optional fill history (``get_recent_fills``)."""

    def __init__(self) -> None:
        super().__init__()
        self.history_requests: list[int] = []
        self.history_fails = False

    async def get_recent_fills(self, since_ns: int, symbol: str | None = None) -> list[VenueFill]:
        self.history_requests.append(since_ns)
        if self.history_fails:
            raise NetworkError("trade history endpoint unreachable")
        return [f for f in self.fills if f.ts >= since_ns and symbol in (None, f.symbol)]


def reconcile(reconciler: Reconciler) -> Any:
    return asyncio.run(reconciler.reconcile())


# -- unknown venue orders ------------------------------------------------------------------------


def test_reconcile_when_venue_has_unknown_order_and_policy_adopt_then_tracked_with_its_fills() -> (
    None
):
    engine = make_engine()
    venue = ScriptedVenueWithHistory()
    venue.add("manual-1", 1.0, 60_000.0)
    fill = venue.fill("manual-1", 0.25, 60_000.0, fee=6.0)

    report = reconcile(Reconciler(engine, venue, venue=VENUE))

    order = engine.execution.orders["manual-1"]
    assert (order.status, order.filled_quantity, order.strategy) == (
        OrderStatus.PARTIALLY_FILLED,
        0.25,
        ADOPTED_STRATEGY,
    )
    assert (order.order_type, order.side, order.quantity, order.price) == (
        OrderType.LIMIT,
        Side.BUY,
        1.0,
        60_000.0,
    )
    assert report.adopted == ("manual-1",) and report.cancelled == ()
    assert venue.cancels == []
    assert [(f.trade_id, f.quantity, f.price, f.fee) for f in fills_of(engine)] == [
        (fill.trade_id, 0.25, 60_000.0, 6.0)
    ]
    assert engine.portfolio.positions[SPOT].quantity == 0.25
    assert engine.portfolio.cash == CASH - 0.25 * 60_000.0 - 6.0
    assert any("manual-1" in a and "adopted" in a for a in alerts(engine))


def test_reconcile_when_unknown_order_and_policy_cancel_then_fills_booked_rest_cancelled() -> None:
    engine = make_engine()
    venue = ScriptedVenueWithHistory()
    venue.add("manual-1", 1.0, 60_000.0)
    venue.fill("manual-1", 0.25, 60_000.0)

    report = reconcile(
        Reconciler(engine, venue, venue=VENUE, config=ReconcileConfig(unknown_orders="cancel"))
    )

    assert venue.cancels == ["manual-1"]
    assert venue.orders["manual-1"].status is OrderStatus.CANCELLED
    order = engine.execution.orders["manual-1"]
    assert (order.status, order.filled_quantity) == (OrderStatus.CANCELLED, 0.25)
    assert report.cancelled == ("manual-1",)
    assert engine.portfolio.positions[SPOT].quantity == 0.25
    cancelled = events(engine, EventType.ORDER_CANCELLED)
    assert [e.client_order_id for e in cancelled if isinstance(e, OrderCancelled)] == ["manual-1"]


def test_reconcile_when_unknown_order_on_untracked_symbol_then_reported_not_tracked() -> None:
    engine = make_engine()
    venue = ScriptedVenue()
    venue.add("manual-9", 3.0, 2_500.0, symbol="ETH/USDT")

    report = reconcile(Reconciler(engine, venue, venue=VENUE))

    assert report.untracked == ("manual-9",) and report.adopted == ()
    assert "manual-9" not in engine.execution.orders
    assert venue.cancels == []
    assert any("manual-9" in a and "not tracked" in a for a in alerts(engine))


def test_reconcile_when_unknown_market_order_without_client_id_then_adopted_under_venue_id() -> (
    None
):
    engine = make_engine()
    venue = ScriptedVenue()
    venue.add("", 0.5, math.nan)

    report = reconcile(Reconciler(engine, venue, venue=VENUE))

    cid = f"{VENUE}:{venue.orders[''].venue_id}"
    assert report.adopted == (cid,)
    assert engine.execution.orders[cid].order_type is OrderType.MARKET


# -- fills made while disconnected ---------------------------------------------------------------


def test_reconcile_when_filled_while_down_with_history_then_booked_once_by_trade_id() -> None:
    engine = make_engine()
    order = engine_order(engine, 1.0, 100.0)
    cid = order.client_order_id
    venue = ScriptedVenueWithHistory()
    venue.add(cid, 1.0, 100.0)
    first = venue.fill(cid, 0.4, 100.0, fee=0.04)
    second = venue.fill(cid, 0.6, 99.5, fee=0.06)

    report = reconcile(Reconciler(engine, venue, venue=VENUE))
    # the stream, back up, delivers the same executions again (with and without the
    # cumulative quantity: the trade id alone must be enough)
    for fill, cumulative in ((first, None), (second, 1.0)):
        engine.on_fill(
            cid,
            fill.quantity,
            fill.price,
            fill.fee,
            "maker",
            engine.clock.now_ns(),
            trade_id=fill.trade_id,
            cumulative_quantity=cumulative,
        )

    assert order.status is OrderStatus.FILLED and order.filled_quantity == 1.0
    assert (report.fills_booked, report.fills_inferred) == (2, 0)
    assert report.resolved == {cid: "FILLED"}
    assert [(f.trade_id, f.quantity, f.price) for f in fills_of(engine)] == [
        (first.trade_id, 0.4, 100.0),
        (second.trade_id, 0.6, 99.5),
    ]
    assert engine.counters.duplicate_fills == 2
    assert engine.portfolio.positions[SPOT].quantity == 1.0
    assert engine.portfolio.cash == pytest.approx(CASH - 0.4 * 100.0 - 0.6 * 99.5 - 0.1, abs=1e-9)


def test_reconcile_when_filled_while_down_without_history_then_one_inferred_fill() -> None:
    engine = make_engine()
    order = engine_order(engine, 1.0, 100.0)
    cid = order.client_order_id
    venue = ScriptedVenue()
    venue.add(cid, 1.0, 100.0)
    first = venue.fill(cid, 0.4, 100.0)
    second = venue.fill(cid, 0.6, 99.5)

    report = reconcile(Reconciler(engine, venue, venue=VENUE))
    for fill, cumulative in ((first, 0.4), (second, 1.0)):  # the stream repeats them later
        engine.on_fill(
            cid,
            fill.quantity,
            fill.price,
            0.0,
            "maker",
            engine.clock.now_ns(),
            trade_id=fill.trade_id,
            cumulative_quantity=cumulative,
        )

    average = (0.4 * 100.0 + 0.6 * 99.5) / 1.0
    booked = fills_of(engine)
    assert (report.fills_booked, report.fills_inferred, report.fill_history) == (0, 1, False)
    assert [(f.trade_id, f.quantity, f.liquidity) for f in booked] == [
        (inferred_trade_id(cid, 1.0), 1.0, INFERRED_LIQUIDITY)
    ]
    assert booked[0].price == pytest.approx(average, rel=1e-12)
    assert order.status is OrderStatus.FILLED
    assert engine.counters.duplicate_fills == 2
    assert engine.portfolio.cash == pytest.approx(CASH - 0.4 * 100.0 - 0.6 * 99.5, abs=1e-9)


def test_reconcile_when_part_booked_before_the_drop_then_only_the_rest_is_booked() -> None:
    engine = make_engine()
    order = engine_order(engine, 1.0, 100.0)
    cid = order.client_order_id
    venue = ScriptedVenue()
    venue.add(cid, 1.0, 100.0)
    first = venue.fill(cid, 0.4, 100.0)
    engine.on_fill(  # booked from the stream before it dropped
        cid, 0.4, 100.0, 0.0, "maker", T0, trade_id=first.trade_id, cumulative_quantity=0.4
    )
    venue.fill(cid, 0.6, 101.0)  # while down

    report = reconcile(Reconciler(engine, venue, venue=VENUE))

    booked = fills_of(engine)
    assert report.fills_inferred == 1
    assert [f.quantity for f in booked] == [0.4, 0.6]
    # the gap's price makes the engine's average the venue's: (0.4*100 + 0.6*101) / 1.0
    assert booked[1].price == pytest.approx(101.0, rel=1e-12)
    assert order.average_fill_price == pytest.approx(100.6, rel=1e-12)


def test_reconcile_when_history_fails_then_fills_inferred() -> None:
    engine = make_engine()
    order = engine_order(engine, 1.0, 100.0)
    venue = ScriptedVenueWithHistory()
    venue.history_fails = True
    venue.add(order.client_order_id, 1.0, 100.0)
    venue.fill(order.client_order_id, 1.0, 100.0)

    report = reconcile(Reconciler(engine, venue, venue=VENUE))

    assert (report.fill_history, report.fills_inferred, report.fills_booked) == (False, 1, 0)
    assert order.status is OrderStatus.FILLED


def test_reconcile_when_history_fill_lacks_client_id_then_matched_by_venue_order_id() -> None:
    engine = make_engine()
    order = engine_order(engine, 1.0, 100.0)
    venue = ScriptedVenueWithHistory()
    state = venue.add(order.client_order_id, 1.0, 100.0)
    fill = venue.fill(order.client_order_id, 1.0, 100.0)
    venue.fills[-1] = VenueFill(
        trade_id=fill.trade_id,
        client_order_id="",
        symbol=SPOT,
        side=Side.BUY,
        quantity=1.0,
        price=100.0,
        ts=fill.ts,
        venue_order_id=state.venue_id,
    )

    report = reconcile(Reconciler(engine, venue, venue=VENUE))

    assert (report.fills_booked, report.fills_inferred) == (1, 0)
    assert [f.trade_id for f in fills_of(engine)] == [fill.trade_id]


def test_reconcile_when_history_has_fills_of_unknown_closed_orders_then_not_booked() -> None:
    engine = make_engine()
    venue = ScriptedVenueWithHistory()
    venue.add("earlier-run-3", 0.2, 100.0)
    venue.fill("earlier-run-3", 0.2, 100.0)

    report = reconcile(Reconciler(engine, venue, venue=VENUE))

    assert report.unmatched_fills == 1
    assert fills_of(engine) == []
    assert "earlier-run-3" not in engine.execution.orders


def test_reconcile_first_run_asks_for_the_lookback_window_then_from_the_previous_run() -> None:
    engine = make_engine()
    venue = ScriptedVenueWithHistory()
    reconciler = Reconciler(engine, venue, venue=VENUE, config=ReconcileConfig(fill_lookback_s=60))

    reconcile(reconciler)
    assert isinstance(engine.clock, SimulatedClock)
    engine.clock.advance_to(T0 + 3_600 * 1_000_000_000)
    reconcile(reconciler)

    assert venue.history_requests == [T0 - 60 * 1_000_000_000, T0 - 60 * 1_000_000_000]


# -- engine orders the venue ended while we were away ---------------------------------------------


def test_reconcile_when_engine_order_cancelled_at_venue_while_down_then_cancelled_in_engine() -> (
    None
):
    engine = make_engine()
    order = engine_order(engine, 1.0, 100.0)
    cid = order.client_order_id
    venue = ScriptedVenue()
    venue.add(cid, 1.0, 100.0)
    venue.fill(cid, 0.3, 100.0)
    venue.end(cid, OrderStatus.CANCELLED)

    report = reconcile(Reconciler(engine, venue, venue=VENUE))

    assert venue.queries == [cid]
    assert (order.status, order.filled_quantity) == (OrderStatus.CANCELLED, 0.3)
    assert report.resolved == {cid: "CANCELLED"}
    cancelled = [e for e in events(engine, EventType.ORDER_CANCELLED)]
    assert [e.client_order_id for e in cancelled] == [cid]
    assert [f.quantity for f in fills_of(engine)] == [0.3]


@pytest.mark.parametrize(
    ("acknowledged", "expected"),
    [(False, OrderStatus.REJECTED), (True, OrderStatus.CANCELLED)],
)
def test_reconcile_when_venue_does_not_know_engine_order_then_rejected_or_cancelled(
    acknowledged: bool, expected: OrderStatus
) -> None:
    engine = make_engine()
    order = engine_order(engine, 1.0, 100.0, accepted=acknowledged)

    report = reconcile(Reconciler(engine, ScriptedVenue(), venue=VENUE))

    assert order.status is expected
    assert report.resolved == {order.client_order_id: str(expected)}


def test_reconcile_when_venue_expired_order_then_expired_in_engine() -> None:
    engine = make_engine()
    order = engine_order(engine, 1.0, 100.0)
    venue = ScriptedVenue()
    venue.add(order.client_order_id, 1.0, 100.0)
    venue.end(order.client_order_id, OrderStatus.EXPIRED)

    reconcile(Reconciler(engine, venue, venue=VENUE))

    assert order.status is OrderStatus.EXPIRED


def test_reconcile_when_engine_order_still_open_at_venue_then_acknowledged_and_left_open() -> None:
    engine = make_engine()
    order = engine_order(engine, 1.0, 100.0, accepted=False)
    venue = ScriptedVenue()
    venue.add(order.client_order_id, 1.0, 100.0)

    report = reconcile(Reconciler(engine, venue, venue=VENUE))

    assert order.status is OrderStatus.ACCEPTED
    assert report.resolved == {} and report.adopted == ()
    assert venue.queries == []


# -- positions and idempotency -------------------------------------------------------------------


def test_reconcile_when_positions_differ_then_risk_alert_names_symbol_ours_and_venues() -> None:
    engine = make_engine()
    venue = ScriptedVenue()
    venue.positions[PERP] = 0.5

    report = reconcile(Reconciler(engine, venue, venue=VENUE))

    assert report.position_mismatches == (PositionMismatch(symbol=PERP, ours=0.0, venue=0.5),)
    assert f"position mismatch {PERP} at venue {VENUE}: ours 0, venue 0.5" in alerts(engine)


def test_reconcile_when_spot_position_not_reported_by_venue_then_not_a_mismatch() -> None:
    engine = make_engine()
    order = engine_order(engine, 1.0, 100.0)
    venue = ScriptedVenue()
    venue.add(order.client_order_id, 1.0, 100.0)
    venue.fill(order.client_order_id, 1.0, 100.0)
    venue.positions.clear()  # a spot account reports balances, not positions

    report = reconcile(Reconciler(engine, venue, venue=VENUE))

    assert engine.portfolio.positions[SPOT].quantity == 1.0
    assert report.position_mismatches == ()


def test_reconcile_when_run_twice_then_second_run_books_and_adopts_nothing() -> None:
    engine = make_engine()
    known = engine_order(engine, 1.0, 100.0, symbol=PERP)
    venue = ScriptedVenueWithHistory()
    venue.add(known.client_order_id, 1.0, 100.0, symbol=PERP)
    venue.fill(known.client_order_id, 0.5, 100.0)
    venue.add("manual-1", 2.0, 90.0, symbol=PERP)
    venue.fill("manual-1", 1.0, 90.0)
    reconciler = Reconciler(engine, venue, venue=VENUE)

    first = reconcile(reconciler)
    fills_after_first = len(fills_of(engine))
    second = reconcile(reconciler)

    assert (first.adopted, first.fills_booked) == (("manual-1",), 2)
    assert first.position_mismatches == ()
    assert (second.adopted, second.fills_booked, second.fills_inferred) == ((), 0, 0)
    assert second.fills_already_booked == 2
    assert len(fills_of(engine)) == fills_after_first == 2
    assert engine.portfolio.positions[PERP].quantity == 1.5 == venue.positions[PERP]
    assert reconciler.runs == 2 and reconciler.last_report == second


def test_request_while_running_then_runs_once_more_and_never_concurrently() -> None:
    engine = make_engine()

    class SlowVenue(ScriptedVenue):
        def __init__(self) -> None:
            super().__init__()
            self.active = 0
            self.most_active = 0

        async def get_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            await asyncio.sleep(0)
            self.active -= 1
            return await super().get_open_orders(symbol)

    venue = SlowVenue()
    reconciler = Reconciler(engine, venue, venue=VENUE)

    async def scenario() -> None:
        first = reconciler.request()
        await asyncio.sleep(0)
        second = reconciler.request()  # a reconnect while the first run is in progress
        assert second is first
        await first
        third = reconciler.request()
        assert third is not first
        await third

    asyncio.run(scenario())

    assert reconciler.runs == 3
    assert venue.most_active == 1


# -- the real IB connector over its simulated TWS -------------------------------------------------


class IbSession:
    """A simulated TWS, a real IbBroker reporting to a real engine, and a reconciler."""

    def __init__(self, tws: FakeTws | None = None, config: ReconcileConfig | None = None) -> None:
        if tws is None:
            tws = FakeTws(accounts=(ACCOUNT,))
            tws.contract_details = contract_details()
        self.tws = tws
        self.engine = make_engine(ib_instruments(), quote="USD", symbol="AAPL/USD")
        self.broker = IbBroker(
            ib_config(),
            ib_instruments(),
            account=IbAccount(ACCOUNT),
            ib=tws.make_ib(),
            reports=self.engine,
            clock=self.engine.clock,
            sleep=self._sleep,
            rng=random.Random(7),
        )
        self.reconciler = Reconciler(self.engine, self.broker, venue="ib", config=config)

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)

    async def connect(self) -> None:
        await self.broker.connect()
        await self.tws.settle()

    async def reconnect(self) -> None:
        self.tws.drop()
        await self.broker.wait_connected(timeout_s=2.0)
        await self.tws.settle()

    async def place(self, quantity: float, price: float, symbol: str = "AAPL/USD") -> Order:
        order = self.engine.execution.build_order(
            instrument=self.engine.instruments.get(symbol),
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=quantity,
            price=price,
            ts=self.engine.clock.now_ns(),
        )
        self.engine.execution.track(order)
        await execute_order(self.broker, order, RetryPolicy(base_delay_s=0.0, max_delay_s=0.0))
        await self.tws.settle()
        return order


def run_ib(scenario: Any, *sessions: IbSession) -> None:
    async def main() -> None:
        try:
            await scenario()
        finally:
            for session in sessions:
                await session.broker.close()

    asyncio.run(main())


def test_ib_when_order_fills_while_disconnected_then_booked_once_across_reconnects() -> None:
    s = IbSession()
    reports: list[Any] = []

    async def scenario() -> None:
        await s.connect()
        reports.append(await s.reconciler.reconcile())  # on start
        order = await s.place(100, 187.25)
        cid = order.client_order_id
        s.tws.fill(cid, 40, 187.20)
        await s.tws.settle()
        s.tws.drop()
        s.tws.fill(cid, 60, 187.25)  # while the connection is down
        await s.broker.wait_connected(timeout_s=2.0)
        await s.tws.settle()
        reports.append(await s.reconciler.reconcile())  # after the reconnect
        await s.reconnect()  # TWS replays both executions once more
        reports.append(await s.reconciler.reconcile())
        assert order.status is OrderStatus.FILLED

    run_ib(scenario, s)

    assert [f.quantity for f in fills_of(s.engine)] == [40.0, 60.0]
    assert [r.fills_inferred + r.fills_booked for r in reports] == [0, 0, 0]
    assert all(r.position_mismatches == () for r in reports)
    assert s.engine.portfolio.positions["AAPL/USD"].quantity == 100.0
    assert s.engine.portfolio.cash == pytest.approx(CASH - 40 * 187.20 - 60 * 187.25 - 2.0)


def test_ib_when_order_cancelled_at_tws_while_down_then_engine_order_cancelled_once() -> None:
    s = IbSession()

    async def scenario() -> None:
        await s.connect()
        order = await s.place(100, 187.25)
        s.tws.drop()
        s.tws.fill(order.client_order_id, 25, 187.25)
        s.tws.cancel_at_tws(order.client_order_id)
        await s.broker.wait_connected(timeout_s=2.0)
        await s.tws.settle()
        report = await s.reconciler.reconcile()
        assert (order.status, order.filled_quantity) == (OrderStatus.CANCELLED, 25.0)
        assert report.resolved == {} and report.fills_inferred == 0

    run_ib(scenario, s)

    assert [e.client_order_id for e in events(s.engine, EventType.ORDER_CANCELLED)] == [
        s.engine.execution.ids.session_id + "-1"
    ]


@pytest.mark.parametrize("policy", ["adopt", "cancel"])
def test_ib_when_restarted_with_an_open_order_of_the_previous_run_then_adopted_or_cancelled(
    policy: str,
) -> None:
    first = IbSession()
    second = IbSession(first.tws, ReconcileConfig(unknown_orders=policy))
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        await first.connect()
        order = await first.place(100, 187.25)
        first.tws.fill(order.client_order_id, 40, 187.20)
        await first.tws.settle()
        await first.broker.close()  # the process ends; TWS keeps the order
        await second.connect()  # a new engine that knows nothing
        seen["report"] = await second.reconciler.reconcile()
        await second.tws.settle()
        seen["again"] = await second.reconciler.reconcile()
        seen["cid"] = order.client_order_id
        seen["tws_status"] = second.tws.find(order.client_order_id).status

    run_ib(scenario, second)

    cid = seen["cid"]
    report = seen["report"]
    adopted = second.engine.execution.orders[cid]
    assert report.adopted == (cid,)
    # the previous run booked the fill, this engine had not: booked from IB's executions,
    # under IB's execId (not inferred)
    assert report.fill_history and (report.fills_booked, report.fills_inferred) == (1, 0)
    assert [f.trade_id for f in fills_of(second.engine)] == [
        execution.execId for _, execution, _ in second.tws.executions
    ]
    assert adopted.filled_quantity == 40.0 and adopted.strategy == ADOPTED_STRATEGY
    assert second.engine.portfolio.positions["AAPL/USD"].quantity == 40.0
    assert report.position_mismatches == ()
    again = seen["again"]
    assert (again.adopted, again.fills_inferred, again.fills_booked) == ((), 0, 0)
    assert len(fills_of(second.engine)) == 1
    if policy == "adopt":
        assert adopted.status is OrderStatus.PARTIALLY_FILLED
        assert seen["tws_status"] == "Submitted"
    else:
        assert report.cancelled == (cid,)
        assert adopted.status is OrderStatus.CANCELLED
        assert seen["tws_status"] == "Cancelled"


def test_ib_when_tws_holds_a_position_the_engine_never_booked_then_mismatch_alert() -> None:
    first = IbSession()
    second = IbSession(first.tws)
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        await first.connect()
        order = await first.place(10, 187.25)
        first.tws.fill(order.client_order_id, 10, 187.25)  # filled and closed: history
        await first.tws.settle()
        await first.broker.close()
        await second.connect()
        seen["report"] = await second.reconciler.reconcile()

    run_ib(scenario, second)

    report = seen["report"]
    assert report.adopted == ()
    assert report.position_mismatches == (
        PositionMismatch(symbol="AAPL/USD", ours=0.0, venue=10.0),
    )
    assert "position mismatch AAPL/USD at venue ib: ours 0, venue 10" in alerts(second.engine)


# -- the paper venue's connector (fill history with trade ids) ------------------------------------


def test_paper_broker_when_fills_missed_while_reports_were_down_then_booked_by_trade_id() -> None:
    from adapters.paper.broker import PaperBroker
    from engine.config import PaperConfig
    from engine.market import SymbolMarket

    registry = instruments()
    engine = make_engine(registry)
    market = SymbolMarket(registry.get(SPOT), 64, 64)
    market.book.load_snapshot(np.array([[99.0, 5.0]]), np.array([[100.0, 0.3], [100.5, 5.0]]), 1)
    assert isinstance(engine.clock, SimulatedClock)
    broker = PaperBroker(
        {SPOT: market}, PaperConfig(latency_us=0), {"USDT": 10_000.0}, clock=engine.clock
    )
    order = engine.execution.build_order(
        instrument=registry.get(SPOT),
        side=Side.BUY,
        order_type=OrderType.MARKET,
        quantity=0.5,
        price=100.0,
        ts=T0,
    )
    engine.execution.track(order)

    async def scenario() -> Any:
        await broker.place_order(order)  # fills 0.3 @ 100 and 0.2 @ 100.5; no report reached us
        return await Reconciler(engine, broker, venue=VENUE).reconcile()

    report = asyncio.run(scenario())

    assert (report.fill_history, report.fills_booked, report.fills_inferred) == (True, 2, 0)
    assert [(f.trade_id, f.quantity, f.price) for f in fills_of(engine)] == [
        ("P1", 0.3, 100.0),
        ("P2", 0.2, 100.5),
    ]
    assert order.status is OrderStatus.FILLED
    fees = 0.3 * 100.0 * 0.001 + 0.2 * 100.5 * 0.001
    assert engine.portfolio.cash == pytest.approx(CASH - 0.3 * 100.0 - 0.2 * 100.5 - fees)


# -- configuration ---------------------------------------------------------------------------------


def test_reconcile_config_when_policy_unknown_then_error_names_key_value_and_choices() -> None:
    with pytest.raises(ConfigError) as error:
        load_config(env={"ATS_RECONCILE__UNKNOWN_ORDERS": "ignore"})

    assert str(error.value) == (
        "reconcile.unknown_orders must be one of adopt, cancel, was 'ignore' "
        "(from ATS_RECONCILE__UNKNOWN_ORDERS)"
    )
    assert load_config(env={}).reconcile == ReconcileConfig(
        unknown_orders="adopt", fill_lookback_s=86_400.0
    )


def test_ib_venue_config_when_same_table_then_engine_and_adapter_loaders_agree(
    tmp_path: Any,
) -> None:
    from adapters.ib import IbContractConfig, load_ib_config

    path = tmp_path / "ats.toml"
    path.write_text(
        "[venues.ib]\nport = 4002\nclient_id = 7\nmarket_data_type = 3\n"
        '[venues.ib.contracts."ES/USD:USD-241220"]\nexchange = "CME"\n',
        encoding="utf-8",
    )
    env = {"ATS_VENUES__IB__CLIENT_ID": "9", "IB_ACCOUNT": "DU1234567"}

    ours = load_config(path, env=env).venues.ib
    theirs = load_ib_config(
        {"port": 4002, "client_id": 7, "market_data_type": 3,
         "contracts": {"ES/USD:USD-241220": {"exchange": "CME"}}},
        env=env,
    )  # fmt: skip

    assert (ours.port, ours.client_id, ours.market_data_type) == (4002, 9, 3)
    for field in theirs.__struct_fields__:
        if field != "contracts":
            assert getattr(ours, field) == getattr(theirs, field), field
    assert theirs.contracts == {"ES/USD:USD-241220": IbContractConfig(exchange="CME")}
    assert ours.contracts["ES/USD:USD-241220"].exchange == "CME"


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        (
            '[venues.ib.contracts."AAPL/USD"]\ncon_id = -1\n',
            {},
            'venues.ib.contracts."AAPL/USD".con_id must be >= 0, was -1',
        ),
        (
            '[venues.ib.contracts."AAPL/USD"]\nexchnge = "SMART"\n',
            {},
            "unknown config key 'venues.ib.contracts.\"AAPL/USD\".exchnge'",
        ),
        (
            "",
            {"ATS_VENUES__IB__CONTRACTS": "{}"},
            "venues.ib.contracts cannot be set from the environment",
        ),
        ("", {"ATS_VENUES__IB__PORT": "70000"}, "venues.ib.port must be >= 1 and <= 65535"),
    ],
)
def test_ib_venue_config_when_bad_then_one_line_naming_the_key(
    tmp_path: Any, toml: str, env: dict[str, str], message: str
) -> None:
    path = tmp_path / "ats.toml"
    path.write_text(toml, encoding="utf-8")

    with pytest.raises(ConfigError) as error:
        load_config(path, env=env)

    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_ib_account_when_in_env_then_secret_not_a_config_key_and_redacted() -> None:
    from engine.config import SECRET_ENV_SUFFIXES
    from engine.log import secret_values

    env = {"IB_ACCOUNT": "DU1234567", "ATS_IB_ACCOUNT": "DU7654321"}

    assert "_ACCOUNT" in SECRET_ENV_SUFFIXES
    assert load_config(env=env) == Config()
    assert set(secret_values(env)) == {"DU1234567", "DU7654321"}


# -- the fill report path (trade id, fee currency) ------------------------------------------------


def test_on_fill_when_fee_in_a_currency_without_conversion_then_fill_booked_and_alert() -> None:
    engine = make_engine()
    order = engine_order(engine, 1.0, 100.0)

    engine.on_fill(
        order.client_order_id, 1.0, 100.0, 0.02, "taker", T0, trade_id="77", fee_currency="BNB"
    )

    [fill] = fills_of(engine)
    assert (fill.trade_id, fill.quantity, fill.fee, fill.fee_currency) == ("77", 1.0, 0.0, "USDT")
    assert engine.portfolio.cash == CASH - 100.0
    assert any("0.02 BNB" in a and "not booked" in a for a in alerts(engine))


def test_on_fill_when_fee_in_the_base_asset_then_quantity_received_is_net_of_it() -> None:
    engine = make_engine()
    order = engine_order(engine, 1.0, 100.0)

    engine.on_fill(
        order.client_order_id, 1.0, 100.0, 0.001, "taker", T0, trade_id="78", fee_currency="BTC"
    )

    assert order.filled_quantity == 1.0
    assert engine.portfolio.positions[SPOT].quantity == pytest.approx(0.999)
    assert fills_of(engine)[0].fee_currency == "BTC"
