"""SimulatedVenue order types and time in force: POST_ONLY, IOC, FOK, STOP_MARKET, and the
MARKET remainder expiring; plus the engine's handling of expiries and reduce-only exits.

Oracles: hand-computed fills from the displayed book (one fill per level at the
level price), the semantics table of ``engine.orders`` (what expires, what is
rejected), and, for the hypothesis tests, the invariants of the issue: a
post-only order never takes liquidity; a limit buy never fills above its price
(a limit sell never below); a FOK order fills in full or not at all.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.events import EventType
from engine.orders import Order, OrderStatus, OrderType, Side, TimeInForce
from kernels.dtypes import SIDE_BUY, SIDE_SELL
from tests.adapters.test_paper_venue import (
    ARRIVAL,
    RATES,
    SYMBOL,
    T0,
    Sim,
    Wired,
    assert_fills,
    levels,
)

TICK = 0.01


def px(tick: int) -> float:
    """Price of ``tick`` as the book reports it (the nearest two-decimal float)."""
    return round(tick * TICK, 2)


def send(
    sim: Sim,
    side: Side,
    quantity: float,
    order_type: OrderType,
    *,
    price: float = math.nan,
    stop_price: float = math.nan,
    tif: TimeInForce | None = None,
    ts: int = T0,
) -> Order:
    """Submit an order of any type; return it (the venue mutates it when a stop triggers)."""
    sim._seq += 1
    order = Order(
        client_order_id=f"o-{sim._seq}",
        symbol=SYMBOL,
        venue="binance",
        side=side,
        order_type=order_type,
        quantity=quantity,
        price=price,
        ts_created=ts,
        time_in_force=tif,
        stop_price=stop_price,
    )
    sim.clock.advance_to(ts)
    sim.venue.submit_order(order, ts)
    return order


def kinds(sim: Sim) -> list[str]:
    return [c[0] for c in sim.reports.calls]


# -- POST_ONLY -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "price", "touch"),
    [(Side.BUY, 100.01, "ask"), (Side.BUY, 100.03, "ask"), (Side.SELL, 100.00, "bid")],
)
def test_post_only_when_would_cross_at_arrival_then_rejected_without_taking(
    side: Side, price: float, touch: str
) -> None:
    sim = Sim()
    order = send(sim, side, 0.3, OrderType.POST_ONLY, price=price)
    sim.book_event(ARRIVAL)
    ((kind, coid, reason, ts),) = sim.reports.calls
    assert (kind, coid, ts) == ("rejected", order.client_order_id, ARRIVAL)
    assert reason.startswith("post-only order would take liquidity")
    assert f"best {touch}" in reason and str(price) in reason
    assert sim.venue.fills == 0
    assert sim.venue.open_order_count == 0


def test_post_only_when_not_crossing_then_rests_and_fills_as_maker_on_trade_through() -> None:
    sim = Sim()
    order = send(sim, Side.BUY, 0.3, OrderType.POST_ONLY, price=100.00)
    sim.book_event(ARRIVAL)
    assert kinds(sim) == ["accepted"]
    assert sim.venue.open_order_count == 1
    sim.trade(ARRIVAL + 10, 99.99, 1.0, SIDE_SELL)
    assert_fills(sim.reports, [(0.3, 100.00, "maker")], RATES)
    assert sim.reports.of("fill")[0][1] == order.client_order_id
    assert sim.venue.open_order_count == 0


def test_post_only_when_opposite_side_empty_then_rests() -> None:
    sim = Sim(bids=[(100.00, 1.0)], asks=[])
    send(sim, Side.BUY, 0.3, OrderType.POST_ONLY, price=100.05)
    sim.book_event(ARRIVAL)
    assert kinds(sim) == ["accepted"]
    assert sim.venue.open_order_count == 1


# -- IOC -------------------------------------------------------------------------------------------


def test_ioc_limit_buy_when_partly_crossing_then_takes_up_to_limit_and_remainder_expires() -> None:
    sim = Sim()
    order = send(sim, Side.BUY, 2.0, OrderType.LIMIT, price=100.02, tif=TimeInForce.IOC)
    sim.book_event(ARRIVAL)
    assert_fills(sim.reports, [(0.5, 100.01, "taker"), (1.0, 100.02, "taker")], RATES)
    assert kinds(sim) == ["accepted", "fill", "fill", "expired"]
    assert sim.reports.calls[-1][1] == order.client_order_id
    assert "0.5 left unfilled" in sim.reports.calls[-1][2]
    assert sim.venue.open_order_count == 0


def test_ioc_limit_when_not_crossing_then_expires_without_fill_and_never_rests() -> None:
    sim = Sim()
    send(sim, Side.SELL, 1.0, OrderType.LIMIT, price=100.01, tif=TimeInForce.IOC)
    sim.book_event(ARRIVAL)
    assert kinds(sim) == ["accepted", "expired"]
    sim.trade(ARRIVAL + 10, 100.05, 5.0, SIDE_BUY)
    assert sim.venue.fills == 0
    assert sim.venue.open_order_count == 0


def test_ioc_limit_when_fully_filled_then_no_expiry() -> None:
    sim = Sim()
    send(sim, Side.BUY, 1.5, OrderType.LIMIT, price=100.02, tif=TimeInForce.IOC)
    sim.book_event(ARRIVAL)
    assert kinds(sim) == ["accepted", "fill", "fill"]


# -- FOK -------------------------------------------------------------------------------------------


def test_fok_limit_when_depth_up_to_limit_covers_quantity_then_fills_in_full() -> None:
    sim = Sim()
    send(sim, Side.BUY, 1.5, OrderType.LIMIT, price=100.02, tif=TimeInForce.FOK)
    sim.book_event(ARRIVAL)
    assert_fills(sim.reports, [(0.5, 100.01, "taker"), (1.0, 100.02, "taker")], RATES)
    assert kinds(sim) == ["accepted", "fill", "fill"]


def test_fok_limit_when_depth_up_to_limit_short_then_expires_with_nothing_filled() -> None:
    sim = Sim()
    order = send(sim, Side.BUY, 1.6, OrderType.LIMIT, price=100.02, tif=TimeInForce.FOK)
    sim.book_event(ARRIVAL)
    assert kinds(sim) == ["accepted", "expired"]
    assert sim.reports.calls[-1][1] == order.client_order_id
    assert "fill-or-kill: only 1.5 of 1.6" in sim.reports.calls[-1][2]
    assert sim.venue.fills == 0
    assert sim.venue.open_order_count == 0


@pytest.mark.parametrize(("quantity", "filled"), [(3.5, True), (3.6, False)])
def test_fok_market_when_whole_side_covers_or_not_then_fills_all_or_nothing(
    quantity: float, filled: bool
) -> None:
    sim = Sim()
    send(sim, Side.BUY, quantity, OrderType.MARKET, tif=TimeInForce.FOK)
    sim.book_event(ARRIVAL)
    total = math.fsum(q for q, _, _ in sim.reports.fills)
    assert total == (quantity if filled else 0.0)
    assert ("expired" in kinds(sim)) is not filled


# -- STOP_MARKET -----------------------------------------------------------------------------------


def test_stop_buy_when_trades_below_stop_then_rests_untriggered_without_fill() -> None:
    sim = Sim()
    order = send(sim, Side.BUY, 1.0, OrderType.STOP_MARKET, stop_price=100.05)
    sim.book_event(ARRIVAL)
    assert kinds(sim) == ["accepted"]
    assert sim.venue.open_order_count == 1
    sim.trade(ARRIVAL + 10, 100.04, 1.0, SIDE_BUY)
    sim.book_event(ARRIVAL + 20)
    assert not order.triggered
    assert kinds(sim) == ["accepted"]


def test_stop_buy_when_trade_at_stop_then_triggers_and_walks_asks_as_taker() -> None:
    sim = Sim()
    order = send(sim, Side.BUY, 1.2, OrderType.STOP_MARKET, stop_price=100.05)
    sim.book_event(ARRIVAL)
    sim.trade(ARRIVAL + 10, 100.05, 0.1, SIDE_BUY)
    assert order.triggered
    assert_fills(sim.reports, [(0.5, 100.01, "taker"), (0.7, 100.02, "taker")], RATES)
    assert all(c[6] == ARRIVAL + 10 for c in sim.reports.of("fill"))
    assert sim.venue.open_order_count == 0
    sim.trade(ARRIVAL + 20, 100.06, 0.1, SIDE_BUY)
    assert sim.venue.fills == 2


def test_stop_sell_when_trade_through_stop_then_triggers_and_remainder_expires() -> None:
    sim = Sim()
    order = send(sim, Side.SELL, 6.0, OrderType.STOP_MARKET, stop_price=99.95)
    sim.book_event(ARRIVAL)
    sim.trade(ARRIVAL + 10, 99.96, 0.1, SIDE_SELL)
    assert not order.triggered
    sim.trade(ARRIVAL + 20, 99.90, 0.1, SIDE_SELL)
    assert order.triggered
    assert_fills(sim.reports, [(2.0, 100.00, "taker"), (3.0, 99.98, "taker")], RATES)
    assert sim.reports.calls[-1][:2] == ("expired", order.client_order_id)
    assert "triggered stop" in sim.reports.calls[-1][2]
    assert sim.venue.open_order_count == 0


def test_stop_when_cancelled_before_trigger_then_cancelled_and_never_triggers() -> None:
    sim = Sim()
    order = send(sim, Side.BUY, 1.0, OrderType.STOP_MARKET, stop_price=100.05)
    sim.book_event(ARRIVAL)
    sim.venue.cancel_order(order.client_order_id, ARRIVAL + 5)
    assert sim.reports.calls[-1] == (
        "cancelled",
        order.client_order_id,
        "cancelled by client",
        ARRIVAL + 5,
    )
    assert sim.venue.open_order_count == 0
    sim.trade(ARRIVAL + 10, 100.10, 1.0, SIDE_BUY)
    assert not order.triggered
    assert sim.venue.fills == 0


# -- hypothesis invariants -------------------------------------------------------------------------

qty_st = st.integers(min_value=1, max_value=300).map(lambda n: n / 100)


@st.composite
def books(draw: st.DrawFn) -> tuple[int, list[tuple[float, float]], list[tuple[float, float]]]:
    """A valid book: (best bid tick, bids best first, asks best first)."""
    bid_tick = draw(st.integers(min_value=9_950, max_value=10_050))
    spread = draw(st.integers(min_value=1, max_value=5))
    bid_offsets = draw(st.lists(st.integers(0, 20), min_size=1, max_size=6, unique=True))
    ask_offsets = draw(st.lists(st.integers(0, 20), min_size=1, max_size=6, unique=True))
    bids = [(px(bid_tick - k), draw(qty_st)) for k in sorted({0, *bid_offsets})]
    asks = [(px(bid_tick + spread + k), draw(qty_st)) for k in sorted({0, *ask_offsets})]
    return bid_tick, bids, asks


@st.composite
def events(draw: st.DrawFn, centre: int) -> list[tuple[str, float, float, int]]:
    """Trades and book reloads around ``centre`` (ticks) after arrival."""
    out = []
    for _ in range(draw(st.integers(0, 12))):
        price = px(centre + draw(st.integers(-15, 15)))
        aggressor = draw(st.sampled_from([SIDE_BUY, SIDE_SELL]))
        out.append((draw(st.sampled_from(["trade", "book"])), price, draw(qty_st), aggressor))
    return out


def play(sim: Sim, evts: list[tuple[str, float, float, int]], bid_tick: int) -> None:
    ts = ARRIVAL
    for kind, price, qty, aggressor in evts:
        ts += 1_000
        if kind == "trade":
            sim.trade(ts, price, qty, aggressor)
        else:
            # Move the whole book so that its touch sits around the event's price.
            tick = round(price / TICK)
            sim.load([(px(tick), qty), (px(tick - 1), 1.0)], [(px(tick + 1), qty)])
            sim.book_event(ts)


@given(
    book=books(),
    side=st.sampled_from([Side.BUY, Side.SELL]),
    offset=st.integers(-10, 10),
    quantity=qty_st,
    data=st.data(),
)
def test_post_only_when_random_book_and_events_then_never_takes_liquidity(
    book: tuple[int, list[tuple[float, float]], list[tuple[float, float]]],
    side: Side,
    offset: int,
    quantity: float,
    data: st.DataObject,
) -> None:
    bid_tick, bids, asks = book
    sim = Sim(bids=bids, asks=asks)
    price = px(bid_tick + offset)
    order = send(sim, side, quantity, OrderType.POST_ONLY, price=price)
    sim.book_event(ARRIVAL)
    crosses = price >= asks[0][0] if side is Side.BUY else price <= bids[0][0]
    assert kinds(sim)[0] == ("rejected" if crosses else "accepted")
    play(sim, data.draw(events(bid_tick)), bid_tick)
    fills = [c for c in sim.reports.of("fill") if c[1] == order.client_order_id]
    assert all(c[5] == "maker" for c in fills)
    assert all(c[3] == price for c in fills)
    if crosses:
        assert fills == []
    assert math.fsum(c[2] for c in fills) <= quantity * (1 + 1e-12)


@given(
    book=books(),
    side=st.sampled_from([Side.BUY, Side.SELL]),
    offset=st.integers(-10, 15),
    quantity=qty_st,
    tif=st.sampled_from([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]),
    data=st.data(),
)
def test_limit_order_when_random_book_and_events_then_buy_never_above_sell_never_below_price(
    book: tuple[int, list[tuple[float, float]], list[tuple[float, float]]],
    side: Side,
    offset: int,
    quantity: float,
    tif: TimeInForce,
    data: st.DataObject,
) -> None:
    bid_tick, bids, asks = book
    sim = Sim(bids=bids, asks=asks)
    price = px(bid_tick + offset if side is Side.BUY else bid_tick - offset)
    order = send(sim, side, quantity, OrderType.LIMIT, price=price, tif=tif)
    sim.book_event(ARRIVAL)
    play(sim, data.draw(events(bid_tick)), bid_tick)
    fills = [c for c in sim.reports.of("fill") if c[1] == order.client_order_id]
    if side is Side.BUY:
        assert all(c[3] <= price for c in fills)
    else:
        assert all(c[3] >= price for c in fills)
    total = math.fsum(c[2] for c in fills)
    assert total <= quantity * (1 + 1e-12)
    if tif is TimeInForce.FOK:
        assert total == 0.0 or total == pytest.approx(quantity, rel=1e-12)
    if tif is not TimeInForce.GTC:
        assert sim.venue.open_order_count == 0


# -- the engine wired to the venue -----------------------------------------------------------------


def test_engine_market_order_when_book_too_thin_then_expired_and_order_cancelled_event() -> None:
    w = Wired()
    order = w.signal("BUY", 0.9, quantity=0.1)
    assert order is not None
    # The book thins out while the order is in flight.
    w.market.book.load_snapshot(levels([(59_999.99, 0.2)]), levels([(60_000.01, 0.04)]), 2)
    w.book_event(w.clock.now_ns() + w.latency_ns)
    assert order.status is OrderStatus.EXPIRED
    assert order.filled_quantity == pytest.approx(0.04)
    (cancelled,) = w.history(EventType.ORDER_CANCELLED)
    assert cancelled.client_order_id == order.client_order_id
    assert cancelled.reason.startswith("expired: ")
    assert "no more liquidity" in cancelled.reason


def test_engine_on_order_expired_when_unknown_order_then_ignored() -> None:
    w = Wired()
    w.engine.on_order_expired("nope", "x", T0)
    assert w.history(EventType.ORDER_CANCELLED) == []


def test_engine_risk_exit_when_larger_than_position_then_reduce_only_clipped_to_position() -> None:
    w = Wired()
    w.signal("BUY", 0.9, quantity=0.1)
    w.book_event(w.clock.now_ns() + w.latency_ns)
    assert w.engine.portfolio.positions[SYMBOL].quantity == pytest.approx(0.1)
    exit_order = w.engine._exit_position(SYMBOL, -0.5, "stop_loss")
    assert exit_order is not None
    assert exit_order.reduce_only
    assert exit_order.side is Side.SELL
    assert exit_order.quantity == pytest.approx(0.1)


def test_engine_risk_exit_when_it_would_increase_position_then_refused_with_risk_alert() -> None:
    w = Wired()
    assert w.engine._exit_position(SYMBOL, 0.5, "stop_loss") is None
    (alert,) = w.history(EventType.RISK_ALERT)
    assert "reduce-only buy of 0.5 BTC/USDT would increase position 0.0" in alert.message
    assert w.engine.execution.orders == {}
