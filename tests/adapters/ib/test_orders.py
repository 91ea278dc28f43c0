"""Our orders as ib_insync orders: types, time in force, exact rounding to minTick, statuses."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ib_insync import Forex, Future, Stock

from adapters.ib import IbContractSpec, build_ib_order, map_status
from adapters.ib.orders import round_price, round_quantity, wire_float
from engine.broker import InvalidOrderError
from engine.orders import Order, OrderStatus, OrderType, Side, TimeInForce

STOCK = IbContractSpec(
    symbol="AAPL/USD",
    contract=Stock("AAPL", "SMART", "USD", conId=265598),
    min_tick=Decimal("0.01"),
    size_increment=Decimal("1"),
)
FUTURE = IbContractSpec(
    symbol="ES/USD:USD-241220",
    contract=Future("ES", "20241220", "CME", multiplier="50", conId=495512563),
    min_tick=Decimal("0.25"),
    size_increment=Decimal("1"),
    multiplier=50.0,
)
FX = IbContractSpec(
    symbol="EUR/USD",
    contract=Forex("EURUSD"),
    min_tick=Decimal("0.00005"),
    size_increment=Decimal("1"),
)


def _order(
    order_type: OrderType = OrderType.LIMIT,
    *,
    side: Side = Side.BUY,
    quantity: float = 10.0,
    price: float = 187.25,
    stop_price: float = math.nan,
    tif: TimeInForce | None = None,
    symbol: str = "AAPL/USD",
) -> Order:
    if order_type is not OrderType.LIMIT and order_type is not OrderType.POST_ONLY:
        price = math.nan
    return Order(
        client_order_id="ats-42",
        symbol=symbol,
        venue="ib",
        side=side,
        order_type=order_type,
        quantity=quantity,
        price=price,
        stop_price=stop_price,
        time_in_force=tif,
        ts_created=0,
    )


def test_limit_order_maps_to_lmt_with_order_ref_account_and_tif() -> None:
    ib = build_ib_order(_order(side=Side.SELL), STOCK, account="DU1", outside_rth=True)
    assert ib.orderType == "LMT"
    assert (ib.action, ib.totalQuantity, ib.lmtPrice) == ("SELL", 10.0, 187.25)
    assert (ib.tif, ib.orderRef, ib.account, ib.outsideRth) == ("GTC", "ats-42", "DU1", True)
    assert ib.transmit is True


def test_market_order_maps_to_mkt_with_its_ioc_default() -> None:
    ib = build_ib_order(_order(OrderType.MARKET, quantity=3), STOCK)
    assert (ib.orderType, ib.action, ib.totalQuantity, ib.tif) == ("MKT", "BUY", 3.0, "IOC")
    assert ib.account == ""


def test_stop_market_maps_to_stp_with_aux_price_at_nearest_tick() -> None:
    order = _order(OrderType.STOP_MARKET, side=Side.SELL, stop_price=5012.6, symbol=FUTURE.symbol)
    ib = build_ib_order(order, FUTURE)
    assert (ib.orderType, ib.action, ib.auxPrice, ib.tif) == ("STP", "SELL", 5012.5, "GTC")


@pytest.mark.parametrize(
    ("tif", "expected"),
    [(TimeInForce.GTC, "GTC"), (TimeInForce.IOC, "IOC"), (TimeInForce.FOK, "FOK")],
)
def test_time_in_force_maps_to_ib_value(tif: TimeInForce, expected: str) -> None:
    assert build_ib_order(_order(tif=tif), STOCK).tif == expected


def test_post_only_is_refused_with_a_reason_rather_than_sent_as_taker() -> None:
    with pytest.raises(InvalidOrderError, match="POST_ONLY is not supported on IB"):
        build_ib_order(_order(OrderType.POST_ONLY), STOCK)


def test_outside_rth_applies_to_stocks_only() -> None:
    order = _order(symbol=FUTURE.symbol, price=5000.25)
    assert build_ib_order(order, FUTURE, outside_rth=True).outsideRth is False


def test_limit_price_rounds_passively_to_contract_min_tick() -> None:
    buy = build_ib_order(_order(price=5012.6, symbol=FUTURE.symbol), FUTURE)
    sell = build_ib_order(_order(side=Side.SELL, price=5012.6, symbol=FUTURE.symbol), FUTURE)
    assert (buy.lmtPrice, sell.lmtPrice) == (5012.5, 5012.75)


def test_price_between_ticks_and_float_residue_round_to_exact_decimals() -> None:
    price = 1.1 + 0.00002  # 1.10002: between two 0.00005 ticks
    ib = build_ib_order(_order(price=price, symbol="EUR/USD", quantity=20000), FX)
    assert repr(ib.lmtPrice) == "1.1"
    assert str(ib.lmtPrice) == "1.1"  # what ib_insync's client writes on the wire
    assert build_ib_order(_order(price=0.1 + 0.2), STOCK).lmtPrice == 0.3


def test_quantity_rounds_down_to_size_increment_and_zero_is_refused() -> None:
    assert build_ib_order(_order(quantity=17.9), STOCK).totalQuantity == 17.0
    with pytest.raises(InvalidOrderError) as info:
        build_ib_order(_order(quantity=0.4), STOCK)
    assert "quantity 0.4 for AAPL/USD rounds to 0 at size increment 1" in str(info.value)


def test_price_below_one_tick_is_refused_naming_value_and_tick() -> None:
    with pytest.raises(InvalidOrderError, match=r"price 0\.004 for AAPL/USD rounds to 0"):
        build_ib_order(_order(price=0.004), STOCK)


def test_decimal_too_long_for_a_double_is_refused_not_sent_inexact() -> None:
    with pytest.raises(InvalidOrderError, match="more digits than a double"):
        wire_float(Decimal("123456789.123456789"), "price", "AAPL/USD")


TICKS = [
    "0.00005",
    "0.0001",
    "0.005",
    "0.01",
    "0.03125",
    "0.05",
    "0.1",
    "0.25",
    "0.5",
    "1",
    "5",
    "0.00000001",
]


def _oracle(value: float, step: str, direction: str) -> Fraction:
    """The multiple of ``step`` next to the decimal ``value`` was written as, in exact rationals."""
    exact = Fraction(repr(value))
    tick = Fraction(step)
    steps = exact / tick
    if direction == "down":
        whole = math.floor(steps)
    elif direction == "up":
        whole = math.ceil(steps)
    else:
        whole = round(steps)  # Fraction rounds half to even, like ROUND_HALF_EVEN
    return whole * tick


@given(
    price=st.floats(min_value=1e-4, max_value=1e6, allow_nan=False, allow_infinity=False),
    tick=st.sampled_from(TICKS),
    side=st.sampled_from([Side.BUY, Side.SELL]),
)
def test_price_rounding_matches_exact_rational_arithmetic(
    price: float, tick: str, side: Side
) -> None:
    rounded = round_price(price, Decimal(tick), side)
    expected = _oracle(price, tick, "down" if side is Side.BUY else "up")
    assert Fraction(rounded) == expected
    # Never more aggressive than asked, never more than one tick away.
    assert (Fraction(rounded) <= Fraction(repr(price))) is (side is Side.BUY) or (
        Fraction(rounded) == Fraction(repr(price))
    )
    assert abs(Fraction(rounded) - Fraction(repr(price))) < Fraction(tick)
    nearest = round_price(price, Decimal(tick), side, passive=False)
    assert Fraction(nearest) == _oracle(price, tick, "nearest")


@given(
    price=st.floats(min_value=1e-2, max_value=1e6, allow_nan=False, allow_infinity=False),
    tick=st.sampled_from(TICKS[:-1]),
    side=st.sampled_from([Side.BUY, Side.SELL]),
)
def test_limit_price_on_the_wire_is_the_exact_rounded_decimal(
    price: float, tick: str, side: Side
) -> None:
    spec = IbContractSpec(
        symbol="AAPL/USD",
        contract=STOCK.contract,
        min_tick=Decimal(tick),
        size_increment=Decimal("1"),
    )
    expected = _oracle(price, tick, "down" if side is Side.BUY else "up")
    if expected <= 0:
        with pytest.raises(InvalidOrderError):
            build_ib_order(_order(side=side, price=price), spec)
        return
    ib = build_ib_order(_order(side=side, price=price), spec)
    # ib_insync writes str(float); it must parse back to exactly the rounded decimal.
    assert Fraction(Decimal(str(ib.lmtPrice))) == expected


@given(
    quantity=st.floats(min_value=1e-3, max_value=1e7, allow_nan=False, allow_infinity=False),
    step=st.sampled_from(["1", "0.001", "0.5", "100", "25000", "0.00000001"]),
)
def test_quantity_rounding_matches_exact_rational_floor(quantity: float, step: str) -> None:
    rounded = round_quantity(quantity, Decimal(step))
    assert Fraction(rounded) == _oracle(quantity, step, "down")
    assert Fraction(rounded) <= Fraction(repr(quantity))


@pytest.mark.parametrize(
    ("ib_status", "filled", "acknowledged", "cancel_requested", "immediate", "expected"),
    [
        ("PendingSubmit", 0.0, False, False, False, OrderStatus.NEW),
        ("ApiPending", 0.0, False, False, False, OrderStatus.NEW),
        ("PreSubmitted", 0.0, False, False, False, OrderStatus.ACCEPTED),
        ("Submitted", 0.0, False, False, False, OrderStatus.ACCEPTED),
        ("Submitted", 40.0, True, False, False, OrderStatus.PARTIALLY_FILLED),
        ("PendingCancel", 40.0, True, True, False, OrderStatus.PARTIALLY_FILLED),
        ("Filled", 100.0, True, False, False, OrderStatus.FILLED),
        ("Cancelled", 0.0, True, True, False, OrderStatus.CANCELLED),
        ("Cancelled", 0.0, True, False, False, OrderStatus.CANCELLED),
        ("Cancelled", 10.0, True, False, True, OrderStatus.EXPIRED),
        ("Cancelled", 10.0, True, True, True, OrderStatus.CANCELLED),
        ("ApiCancelled", 0.0, False, True, False, OrderStatus.CANCELLED),
        ("Inactive", 0.0, False, False, False, OrderStatus.REJECTED),
        ("Inactive", 0.0, True, False, False, OrderStatus.CANCELLED),
        ("Mystery", 0.0, True, False, False, None),
    ],
)
def test_ib_status_maps_to_ours(
    ib_status: str,
    filled: float,
    acknowledged: bool,
    cancel_requested: bool,
    immediate: bool,
    expected: OrderStatus | None,
) -> None:
    got = map_status(
        ib_status,
        filled=filled,
        acknowledged=acknowledged,
        cancel_requested=cancel_requested,
        immediate=immediate,
    )
    assert got is expected
