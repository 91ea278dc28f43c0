"""ExecutionEngine.build_order: rounding to tick and lot, min notional, client order ids.

Oracle: exact decimal arithmetic on the exchange filters published for Binance
BTCUSDT (tick 0.01, step 0.00001, min notional 5).
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.execution import ExecutionEngine, OrderValidationError
from engine.instruments import Instrument, default_instruments
from engine.orders import Order, OrderStatus, OrderType, Side, TimeInForce

BTC = default_instruments().get("BTC/USDT")
LOT = Decimal("0.00001")
TICK = Decimal("0.01")


def build(
    engine: ExecutionEngine | None = None,
    *,
    instrument: Instrument = BTC,
    side: Side = Side.BUY,
    order_type: OrderType = OrderType.LIMIT,
    quantity: float = 0.1,
    price: float = 60_000.0,
    client_order_id: str | None = None,
    time_in_force: TimeInForce | None = None,
    stop_price: float = math.nan,
    reduce_only: bool = False,
) -> Order:
    engine = engine if engine is not None else ExecutionEngine()
    return engine.build_order(
        instrument=instrument,
        side=side,
        order_type=order_type,
        quantity=quantity,
        price=price,
        ts=123,
        strategy="s",
        client_order_id=client_order_id,
        time_in_force=time_in_force,
        stop_price=stop_price,
        reduce_only=reduce_only,
    )


def floor_to_lot(q: Decimal) -> float:
    return float((q / LOT).to_integral_value(rounding=ROUND_FLOOR) * LOT)


# -- rounding --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        (0.123456789, 0.12345),
        (0.000019, 0.00001),
        (0.00001, 0.00001),
        (0.3, 0.3),  # 0.3 / 1e-5 == 29999.999999999996 must not lose a lot
        (1.999999999, 1.99999),
        (2.0, 2.0),
    ],
)
def test_build_order_when_quantity_off_lot_then_rounded_down_to_lot(
    quantity: float, expected: float
) -> None:
    # A high price keeps one lot above the min notional.
    assert build(quantity=quantity, price=1_000_000.0).quantity == expected


@given(
    quantity=st.decimals(
        min_value=Decimal("0.0001"), max_value=Decimal("50"), places=8, allow_nan=False
    )
)
def test_build_order_when_random_quantity_then_equals_decimal_floor_to_lot(
    quantity: Decimal,
) -> None:
    order = build(quantity=float(quantity), order_type=OrderType.MARKET, price=60_000.0)
    assert order.quantity == floor_to_lot(quantity)
    assert order.quantity <= float(quantity)


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        (60_000.014, 60_000.01),
        (60_000.016, 60_000.02),
        (60_000.02, 60_000.02),
        (59_999.9949, 59_999.99),
        (100.0051, 100.01),
    ],
)
def test_build_order_when_limit_price_off_tick_then_rounded_to_nearest_tick(
    price: float, expected: float
) -> None:
    assert build(price=price).price == expected


@given(
    ticks=st.integers(min_value=1_000, max_value=20_000_000),
    offset=st.decimals(min_value=Decimal("-0.0049"), max_value=Decimal("0.0049"), places=4),
)
def test_build_order_when_random_limit_price_then_equals_decimal_nearest_tick(
    ticks: int, offset: Decimal
) -> None:
    exact = Decimal(ticks) * TICK + offset
    order = build(price=float(exact), quantity=1.0)
    assert order.price == float(Decimal(ticks) * TICK)


def test_build_order_when_market_order_then_price_is_nan_and_fields_set() -> None:
    order = build(order_type=OrderType.MARKET, side=Side.SELL, quantity=0.5, price=60_000.123)
    assert math.isnan(order.price)
    assert order.quantity == 0.5
    assert order.status is OrderStatus.NEW
    assert (order.symbol, order.venue, order.side, order.strategy, order.ts_created) == (
        "BTC/USDT",
        "binance",
        Side.SELL,
        "s",
        123,
    )


# -- validation ------------------------------------------------------------------------------------


def test_build_order_when_below_lot_size_then_raises_naming_value_lot_and_symbol() -> None:
    with pytest.raises(OrderValidationError) as info:
        build(quantity=0.000009)
    message = str(info.value)
    assert "lot size 1e-05" in message
    assert "9e-06" in message
    assert "BTC/USDT" in message


def test_build_order_when_below_min_notional_then_raises_naming_value_limit_and_symbol() -> None:
    with pytest.raises(OrderValidationError) as info:
        build(quantity=0.49999, price=10.0)
    message = str(info.value)
    assert "min notional 5.0" in message
    assert "4.9999" in message
    assert "BTC/USDT" in message


def test_build_order_when_notional_exactly_min_then_accepted() -> None:
    order = build(quantity=0.5, price=10.0)
    assert order.quantity * order.price == 5.0


def test_build_order_when_limit_price_rounds_up_to_min_notional_then_checked_on_rounded_price() -> (
    None
):
    assert build(quantity=0.5, price=9.996).price == 10.0
    with pytest.raises(OrderValidationError, match=r"min notional 5\.0"):
        build(quantity=0.5, price=9.994)  # rounds to 9.99 -> 4.995


def test_build_order_when_rounding_down_drops_below_min_notional_then_raises() -> None:
    # 0.000089999 * 60000 = 5.39994 before rounding, 0.00008 * 60000 = 4.8 after.
    with pytest.raises(OrderValidationError, match=r"min notional 5\.0"):
        build(quantity=0.000089999, price=60_000.0, order_type=OrderType.MARKET)


@pytest.mark.parametrize("price", [0.0, -1.0, math.nan, math.inf])
def test_build_order_when_limit_price_not_positive_finite_then_raises(price: float) -> None:
    with pytest.raises(OrderValidationError, match=r"limit price .* for BTC/USDT must be > 0"):
        build(price=price)


@pytest.mark.parametrize(
    "price",
    [
        0.0,
        math.nan,
        math.inf,  # regression: +inf used to pass the market branch's `price > 0`
    ],
)
def test_build_order_when_market_reference_price_invalid_then_raises(price: float) -> None:
    with pytest.raises(OrderValidationError, match="reference price"):
        build(order_type=OrderType.MARKET, price=price)


def test_build_order_when_limit_price_rounds_to_zero_then_raises() -> None:
    # Regression: 0.004 rounded to 0.0 and, with min_notional 0, an order priced 0 was built.
    no_min = Instrument(
        symbol="X/USDT",
        venue="v",
        venue_symbol="XUSDT",
        base="X",
        quote="USDT",
        tick_size=0.01,
        lot_size=0.001,
        min_notional=0.0,
    )
    with pytest.raises(OrderValidationError, match=r"limit price 0\.004 for X/USDT"):
        build(instrument=no_min, quantity=1.0, price=0.004)


@pytest.mark.parametrize("quantity", [math.nan, math.inf, -math.inf])
def test_build_order_when_quantity_not_finite_then_raises_order_validation_error(
    quantity: float,
) -> None:
    # Regression: NaN/inf reached math.floor and raised a bare ValueError/OverflowError.
    with pytest.raises(OrderValidationError) as info:
        build(quantity=quantity)
    assert "BTC/USDT" in str(info.value)
    assert f"qty {quantity}" in str(info.value)


# -- client order ids and tracking -----------------------------------------------------------------


def test_build_order_when_many_orders_then_client_ids_unique_and_sequential() -> None:
    engine = ExecutionEngine(session_id="sess")
    ids = [build(engine).client_order_id for _ in range(100)]
    assert ids == [f"sess-{n}" for n in range(1, 101)]
    assert len(set(ids)) == 100


def test_build_order_when_client_id_given_then_used_and_sequence_not_consumed() -> None:
    engine = ExecutionEngine()
    assert build(engine, client_order_id="mine").client_order_id == "mine"
    assert build(engine).client_order_id == "ats-1"


def test_build_order_when_validation_fails_then_no_client_id_consumed() -> None:
    engine = ExecutionEngine()
    with pytest.raises(OrderValidationError):
        build(engine, quantity=0.0)
    assert build(engine).client_order_id == "ats-1"


def test_track_when_duplicate_client_id_then_raises_naming_it() -> None:
    engine = ExecutionEngine()
    order = build(engine)
    engine.track(order)
    with pytest.raises(ValueError, match=r"duplicate client order id ats-1"):
        engine.track(build(engine, client_order_id="ats-1"))
    assert engine.orders == {"ats-1": order}


def test_open_orders_when_some_closed_then_lists_only_open_of_symbol() -> None:
    engine = ExecutionEngine()
    eth = default_instruments().get("ETH/USDT")
    a, b, c = build(engine), build(engine), build(engine, instrument=eth, price=3_000.0)
    for order in (a, b, c):
        engine.track(order)
    b.transition(OrderStatus.REJECTED, 1)
    assert engine.open_orders() == [a, c]
    assert engine.open_orders("BTC/USDT") == [a]


# -- order types, time in force, stop price, reduce-only -------------------------------------------


def test_execution_engine_when_ids_issued_then_uses_client_order_id_generator() -> None:
    engine = ExecutionEngine(session_id="run7")
    build(engine)
    assert engine.ids.issued == 1
    assert engine.next_client_order_id() == "run7-2"
    assert build(engine).client_order_id == "run7-3"


def test_build_order_when_post_only_price_off_tick_then_rounded_like_limit_with_gtx_default() -> (
    None
):
    order = build(order_type=OrderType.POST_ONLY, price=60_000.016)
    assert order.price == 60_000.02
    assert order.time_in_force is TimeInForce.GTX
    assert math.isnan(order.stop_price)


def test_build_order_when_post_only_price_invalid_then_raises_naming_limit_price() -> None:
    with pytest.raises(OrderValidationError, match=r"limit price nan for BTC/USDT"):
        build(order_type=OrderType.POST_ONLY, price=math.nan)


def test_build_order_when_stop_market_then_stop_price_rounded_price_nan_and_gtc() -> None:
    order = build(order_type=OrderType.STOP_MARKET, price=math.nan, stop_price=61_000.016)
    assert order.stop_price == 61_000.02
    assert math.isnan(order.price)
    assert order.time_in_force is TimeInForce.GTC
    assert not order.triggered


@pytest.mark.parametrize("stop_price", [math.nan, 0.0, -1.0, math.inf])
def test_build_order_when_stop_price_invalid_then_raises_naming_value(stop_price: float) -> None:
    with pytest.raises(OrderValidationError, match=rf"stop price {stop_price} for BTC/USDT"):
        build(order_type=OrderType.STOP_MARKET, stop_price=stop_price)


def test_build_order_when_stop_price_rounds_to_zero_then_raises_naming_tick() -> None:
    with pytest.raises(OrderValidationError, match=r"stop price 0\.004 .* tick size 0\.01"):
        build(order_type=OrderType.STOP_MARKET, stop_price=0.004)


def test_build_order_when_stop_notional_below_min_at_stop_price_then_raises_naming_both() -> None:
    # 0.0001 BTC is worth 6 at 60 000 (the reference) but 4.9 at the stop price.
    with pytest.raises(OrderValidationError) as info:
        build(
            order_type=OrderType.STOP_MARKET, quantity=0.0001, price=60_000.0, stop_price=49_000.0
        )
    message = str(info.value)
    assert "notional 4.9000 at stop price 49000.0 below min notional 5.0 for BTC/USDT" in message
    order = build(order_type=OrderType.STOP_MARKET, quantity=0.0001, stop_price=51_000.0)
    assert order.quantity == 0.0001


def test_build_order_when_stop_price_given_for_limit_then_raises_naming_type() -> None:
    with pytest.raises(OrderValidationError, match=r"stop price 59000\.0 .* order type LIMIT"):
        build(stop_price=59_000.0)


@pytest.mark.parametrize(
    ("order_type", "tif"),
    [
        (OrderType.MARKET, TimeInForce.GTC),
        (OrderType.LIMIT, TimeInForce.GTX),
        (OrderType.POST_ONLY, TimeInForce.IOC),
        (OrderType.STOP_MARKET, TimeInForce.FOK),
    ],
)
def test_build_order_when_time_in_force_not_allowed_then_raises_and_no_id_consumed(
    order_type: OrderType, tif: TimeInForce
) -> None:
    engine = ExecutionEngine()
    with pytest.raises(OrderValidationError, match=rf"time_in_force {tif} not allowed") as info:
        stop = 59_000.0 if order_type is OrderType.STOP_MARKET else math.nan
        build(engine, order_type=order_type, time_in_force=tif, stop_price=stop)
    assert "<pending>" not in str(info.value)
    assert "BTC/USDT" in str(info.value)
    assert build(engine).client_order_id == "ats-1"


@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK, TimeInForce.GTC])
def test_build_order_when_limit_time_in_force_given_then_kept(tif: TimeInForce) -> None:
    assert build(time_in_force=tif).time_in_force is tif


def test_build_order_when_reduce_only_then_set_on_order() -> None:
    assert build(order_type=OrderType.MARKET, reduce_only=True).reduce_only
    assert not build().reduce_only
