"""Order types, time in force, stop triggers, amends, client order ids and open orders."""

from __future__ import annotations

import math
from typing import Any

import pytest

from engine.orders import (
    ClientOrderIdGenerator,
    IllegalOrderTransitionError,
    OpenOrders,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)

S = OrderStatus
T = OrderType
TIF = TimeInForce
NAN = math.nan

# The documented table (independent of engine.orders._ALLOWED_TIF / _DEFAULT_TIF).
EXPECTED_DEFAULT_TIF = {T.MARKET: TIF.IOC, T.LIMIT: TIF.GTC, T.POST_ONLY: TIF.GTX,
                        T.STOP_MARKET: TIF.GTC}  # fmt: skip
EXPECTED_ALLOWED_TIF = {
    T.MARKET: {TIF.IOC, TIF.FOK},
    T.LIMIT: {TIF.GTC, TIF.IOC, TIF.FOK},
    T.POST_ONLY: {TIF.GTC, TIF.GTX},
    T.STOP_MARKET: {TIF.GTC},
}
# Valid (price, stop_price) per type.
PRICES = {T.MARKET: (NAN, NAN), T.LIMIT: (100.0, NAN), T.POST_ONLY: (100.0, NAN),
          T.STOP_MARKET: (NAN, 105.0)}  # fmt: skip


def make(
    order_type: OrderType = T.LIMIT,
    *,
    coid: str = "s-1",
    side: Side | str = Side.BUY,
    quantity: float = 1.0,
    symbol: str = "BTC/USDT",
    venue: str = "binance",
    **kwargs: Any,
) -> Order:
    price, stop = PRICES[OrderType(order_type)]
    kwargs.setdefault("price", price)
    kwargs.setdefault("stop_price", stop)
    return Order(
        client_order_id=coid,
        symbol=symbol,
        venue=venue,
        side=side,  # type: ignore[arg-type]
        order_type=order_type,
        quantity=quantity,
        ts_created=10,
        **kwargs,
    )


# -- types and time in force ---------------------------------------------------------------------


@pytest.mark.parametrize("order_type", list(OrderType))
def test_order_when_time_in_force_omitted_then_type_default(order_type: OrderType) -> None:
    order = make(order_type)
    assert order.time_in_force is EXPECTED_DEFAULT_TIF[order_type]
    assert order.status is S.NEW
    assert order.triggered is False
    assert order.reduce_only is False
    assert order.parent_client_order_id == ""


@pytest.mark.parametrize(
    ("order_type", "tif"),
    [(o, t) for o in OrderType for t in TimeInForce if t in EXPECTED_ALLOWED_TIF[o]],
    ids=str,
)
def test_order_when_time_in_force_allowed_for_type_then_kept(
    order_type: OrderType, tif: TimeInForce
) -> None:
    assert make(order_type, time_in_force=tif).time_in_force is tif


@pytest.mark.parametrize(
    ("order_type", "tif"),
    [(o, t) for o in OrderType for t in TimeInForce if t not in EXPECTED_ALLOWED_TIF[o]],
    ids=str,
)
def test_order_when_time_in_force_not_allowed_for_type_then_raises_naming_both(
    order_type: OrderType, tif: TimeInForce
) -> None:
    with pytest.raises(ValueError) as info:
        make(order_type, time_in_force=tif)
    message = str(info.value)
    assert f"time_in_force {tif}" in message
    assert f"order_type {order_type}" in message
    assert "s-1" in message


def test_order_when_time_in_force_given_as_string_then_enum() -> None:
    assert make(T.LIMIT, time_in_force="IOC").time_in_force is TIF.IOC


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("side", {"side": "HOLD"}),
        ("order_type", {"order_type": "ICEBERG"}),
        ("time_in_force", {"time_in_force": "DAY"}),
    ],
)
def test_order_when_enum_field_unknown_then_raises_naming_field_and_value(
    field: str, kwargs: dict[str, Any]
) -> None:
    order_type = kwargs.pop("order_type", T.LIMIT)
    with pytest.raises(ValueError) as info:
        Order(client_order_id="s-1", symbol="BTC/USDT", venue="binance",
              side=kwargs.get("side", Side.BUY), order_type=order_type, quantity=1.0,
              price=100.0, ts_created=10,
              **{k: v for k, v in kwargs.items() if k != "side"})  # fmt: skip
    value = next(iter(kwargs.values()), order_type)
    assert f"{field} '{value}'" in str(info.value)


@pytest.mark.parametrize("order_type", [T.LIMIT, T.POST_ONLY])
@pytest.mark.parametrize("price", [0.0, -1.0, NAN, math.inf])
def test_order_when_priced_type_without_positive_finite_price_then_raises(
    order_type: OrderType, price: float
) -> None:
    with pytest.raises(ValueError) as info:
        make(order_type, price=price)
    message = str(info.value)
    assert f"was {price}" in message
    assert "price must be > 0" in message
    assert str(order_type) in message


@pytest.mark.parametrize("order_type", [T.MARKET, T.STOP_MARKET])
def test_order_when_unpriced_type_given_price_then_raises(order_type: OrderType) -> None:
    with pytest.raises(ValueError, match=rf"price must be NaN for order_type {order_type}, was 99"):
        make(order_type, price=99.0)


@pytest.mark.parametrize("stop", [0.0, -5.0, NAN, math.inf])
def test_order_when_stop_market_without_positive_finite_stop_then_raises(stop: float) -> None:
    with pytest.raises(ValueError) as info:
        make(T.STOP_MARKET, stop_price=stop)
    assert f"stop_price must be > 0 and finite for order_type STOP_MARKET, was {stop}" in str(
        info.value
    )


@pytest.mark.parametrize("order_type", [T.MARKET, T.LIMIT, T.POST_ONLY])
def test_order_when_stop_price_on_non_stop_type_then_raises(order_type: OrderType) -> None:
    with pytest.raises(ValueError, match=rf"stop_price must be NaN .* {order_type}, was 50"):
        make(order_type, stop_price=50.0)


@pytest.mark.parametrize("quantity", [math.inf, 0.0])
def test_order_when_quantity_not_positive_finite_then_raises_naming_value(quantity: float) -> None:
    with pytest.raises(ValueError, match=rf"quantity must be > 0 and finite, was {quantity}"):
        make(T.MARKET, quantity=quantity)


@pytest.mark.parametrize("coid", ["", None])
def test_order_when_client_order_id_empty_then_raises(coid: Any) -> None:
    with pytest.raises(ValueError, match="client_order_id must be a non-empty string"):
        make(coid=coid)


def test_order_when_reduce_only_not_bool_then_raises() -> None:
    with pytest.raises(ValueError, match="reduce_only must be a bool, was 1"):
        make(reduce_only=1)


def test_is_post_only_and_is_immediate_follow_type_and_time_in_force() -> None:
    assert make(T.POST_ONLY).is_post_only
    assert not make(T.LIMIT).is_post_only
    assert make(T.MARKET).is_immediate
    assert make(T.LIMIT, time_in_force=TIF.FOK).is_immediate
    assert not make(T.LIMIT).is_immediate
    assert not make(T.POST_ONLY).is_immediate
    stop = make(T.STOP_MARKET)
    assert not stop.is_immediate
    stop.trigger(11)
    assert stop.is_immediate


# -- stops ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "last", "expected"),
    [
        (Side.BUY, 104.99, False),
        (Side.BUY, 105.0, True),
        (Side.BUY, 106.0, True),
        (Side.SELL, 105.01, False),
        (Side.SELL, 105.0, True),
        (Side.SELL, 90.0, True),
        (Side.BUY, NAN, False),
        (Side.SELL, NAN, False),
    ],
)
def test_should_trigger_when_last_price_crosses_stop_then_true(
    side: Side, last: float, expected: bool
) -> None:
    order = make(T.STOP_MARKET, side=side)  # stop_price 105
    assert order.should_trigger(last) is expected
    assert order.triggered is False  # pure
    assert order.ts_updated == 10


def test_should_trigger_when_already_triggered_or_closed_then_false() -> None:
    triggered = make(T.STOP_MARKET)
    triggered.trigger(11)
    assert not triggered.should_trigger(200.0)
    cancelled = make(T.STOP_MARKET, coid="s-2")
    cancelled.transition(S.CANCELLED, 11)
    assert not cancelled.should_trigger(200.0)


@pytest.mark.parametrize("order_type", [T.MARKET, T.LIMIT, T.POST_ONLY])
def test_should_trigger_when_not_a_stop_then_type_error(order_type: OrderType) -> None:
    with pytest.raises(TypeError, match=f"STOP_MARKET, was {order_type}"):
        make(order_type).should_trigger(100.0)


def test_trigger_when_stop_then_triggered_and_fills_allowed_remainder_expires() -> None:
    order = make(T.STOP_MARKET, side=Side.SELL, quantity=2.0)
    order.transition(S.ACCEPTED, 11)
    with pytest.raises(IllegalOrderTransitionError, match="untriggered STOP_MARKET"):
        order.record_fill(1.0, 104.0, 12)
    assert order.filled_quantity == 0.0
    order.trigger(13)
    assert order.triggered
    assert order.ts_updated == 13
    order.record_fill(1.5, 104.0, 14)
    order.transition(S.EXPIRED, 15)
    assert order.status is S.EXPIRED
    assert order.filled_quantity == 1.5


def test_trigger_when_twice_or_not_stop_or_closed_then_raises() -> None:
    order = make(T.STOP_MARKET)
    order.trigger(11)
    with pytest.raises(IllegalOrderTransitionError, match="already triggered"):
        order.trigger(12)
    with pytest.raises(IllegalOrderTransitionError, match="LIMIT"):
        make(T.LIMIT).trigger(11)
    closed = make(T.STOP_MARKET, coid="s-2")
    closed.transition(S.CANCELLED, 11)
    with pytest.raises(IllegalOrderTransitionError, match="CANCELLED"):
        closed.trigger(12)
    assert not closed.triggered


# -- amend (cancel-replace) ----------------------------------------------------------------------


def test_amend_when_partially_filled_then_replacement_carries_new_total_minus_filled() -> None:
    old = make(T.LIMIT, quantity=5.0, reduce_only=True, strategy="mm", time_in_force=TIF.GTC)
    old.transition(S.ACCEPTED, 11)
    old.record_fill(2.0, 100.0, 12)
    new = old.amend(client_order_id="s-2", ts=20, new_quantity=4.0, new_price=99.5)
    assert new.quantity == 2.0  # new total 4 minus the 2 already filled
    assert new.price == 99.5
    assert new.client_order_id == "s-2"
    assert new.parent_client_order_id == "s-1"
    assert new.status is S.NEW
    assert new.filled_quantity == 0.0
    assert new.ts_created == new.ts_updated == 20
    assert (new.symbol, new.venue, new.side, new.order_type, new.time_in_force) == (
        old.symbol, old.venue, old.side, old.order_type, old.time_in_force)  # fmt: skip
    assert new.reduce_only is True
    assert new.strategy == "mm"
    # The old order is untouched until the venue confirms the cancel.
    assert old.status is S.PARTIALLY_FILLED
    assert old.quantity == 5.0
    assert old.price == 100.0
    assert old.ts_updated == 12
    old.transition(S.CANCELLED, 21)
    assert old.filled_quantity + new.quantity == 4.0


def test_amend_when_price_only_then_replacement_carries_leaves_quantity() -> None:
    old = make(T.POST_ONLY, quantity=3.0)
    old.record_fill(1.25, 100.0, 12)
    new = old.amend(client_order_id="s-2", ts=20, new_price=101.0)
    assert new.quantity == 1.75
    assert new.price == 101.0
    assert new.time_in_force is TIF.GTX


def test_amend_when_stop_price_then_replacement_has_new_stop() -> None:
    old = make(T.STOP_MARKET, side=Side.SELL)
    new = old.amend(client_order_id="s-2", ts=20, new_stop_price=95.0)
    assert new.stop_price == 95.0
    assert math.isnan(new.price)
    assert not new.triggered
    assert new.should_trigger(95.0)
    assert not old.should_trigger(106.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "amend changes nothing"),
        ({"new_quantity": 2.0}, r"new_quantity 2.0 must be finite and above filled quantity 2.0"),
        ({"new_quantity": 1.5}, r"new_quantity 1.5 must be .* filled quantity 2.0"),
        ({"new_quantity": math.inf}, r"new_quantity inf"),
        ({"new_price": -1.0}, r"price must be > 0 and finite for order_type LIMIT, was -1.0"),
        ({"new_stop_price": 90.0}, r"new_stop_price 90.0 given for order_type LIMIT"),
        ({"new_price": 101.0, "client_order_id": "s-1"}, r"needs a new client_order_id"),
    ],
)
def test_amend_when_invalid_then_raises_naming_value_and_old_order_unchanged(
    kwargs: dict[str, Any], message: str
) -> None:
    old = make(T.LIMIT, quantity=5.0)
    old.record_fill(2.0, 100.0, 12)
    kwargs.setdefault("client_order_id", "s-2")
    with pytest.raises(ValueError, match=message):
        old.amend(ts=20, **kwargs)
    assert (old.quantity, old.price, old.status) == (5.0, 100.0, S.PARTIALLY_FILLED)


def test_amend_when_market_given_price_then_raises() -> None:
    with pytest.raises(ValueError, match=r"new_price 100\.0 given for order_type MARKET"):
        make(T.MARKET).amend(client_order_id="s-2", ts=20, new_price=100.0)


@pytest.mark.parametrize("closed", [S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED])
def test_amend_when_order_closed_then_illegal_transition(closed: OrderStatus) -> None:
    old = make(T.LIMIT)
    old.transition(closed, 11)
    with pytest.raises(IllegalOrderTransitionError, match=f"amend of a {closed} order"):
        old.amend(client_order_id="s-2", ts=20, new_price=99.0)


def test_amend_when_stop_triggered_then_illegal_transition() -> None:
    old = make(T.STOP_MARKET)
    old.trigger(11)
    with pytest.raises(IllegalOrderTransitionError, match="triggered stop"):
        old.amend(client_order_id="s-2", ts=20, new_stop_price=110.0)


# -- client order ids ----------------------------------------------------------------------------


def test_client_order_id_generator_when_called_then_session_prefixed_sequence() -> None:
    ids = ClientOrderIdGenerator("run7")
    issued = [ids.next_id() for _ in range(1000)]
    assert issued[:3] == ["run7-1", "run7-2", "run7-3"]
    assert len(set(issued)) == 1000
    assert ids.issued == 1000
    assert ClientOrderIdGenerator("other").next_id() not in issued


def test_client_order_id_when_order_retried_then_same_id_is_reused() -> None:
    # The id is assigned once at creation; a resend carries the order object, not a new id.
    ids = ClientOrderIdGenerator("run7")
    order = make(T.LIMIT, coid=ids.next_id())
    sent = [order.client_order_id for _ in range(3)]  # three resends of the same order
    assert sent == ["run7-1"] * 3
    replacement = order.amend(client_order_id=ids.next_id(), ts=20, new_price=99.0)
    assert replacement.client_order_id == "run7-2"


@pytest.mark.parametrize("session", ["", None])
def test_client_order_id_generator_when_session_empty_then_raises(session: Any) -> None:
    with pytest.raises(ValueError, match="session_id must be a non-empty string"):
        ClientOrderIdGenerator(session)


# -- open orders ---------------------------------------------------------------------------------


def _book() -> tuple[OpenOrders, list[Order]]:
    orders = [
        make(T.LIMIT, coid="a-1", symbol="BTC/USDT", venue="binance"),
        make(T.POST_ONLY, coid="a-2", symbol="ETH/USDT", venue="binance"),
        make(T.LIMIT, coid="a-3", symbol="BTC/USDT", venue="bybit"),
        make(T.STOP_MARKET, coid="a-4", symbol="BTC/USDT", venue="binance"),
        make(T.LIMIT, coid="a-5", symbol="BTC/USDT", venue="binance", side=Side.SELL),
    ]
    book = OpenOrders()
    for order in orders:
        book.add(order)
    return book, orders


def test_open_orders_when_many_per_symbol_and_venue_then_views_in_creation_order() -> None:
    book, orders = _book()
    ids = [o.client_order_id for o in book.by_symbol("BTC/USDT")]
    assert ids == ["a-1", "a-3", "a-4", "a-5"]
    assert [o.client_order_id for o in book.by_venue("binance")] == ["a-1", "a-2", "a-4", "a-5"]
    assert [o.client_order_id for o in book.by_venue("bybit")] == ["a-3"]
    assert list(book) == orders
    assert len(book) == 5
    assert "a-2" in book
    assert book.get("a-3") is orders[2]
    assert book.get("zz") is None
    assert book.by_symbol("SOL/USDT") == []
    assert book.by_venue("ib") == []


def test_open_orders_when_duplicate_id_then_raises_naming_it_and_keeps_first() -> None:
    book, orders = _book()
    with pytest.raises(ValueError, match="duplicate client order id a-3"):
        book.add(make(T.MARKET, coid="a-3", symbol="ETH/USDT"))
    assert book.get("a-3") is orders[2]
    assert [o.client_order_id for o in book.by_symbol("ETH/USDT")] == ["a-2"]


def test_open_orders_when_removed_then_gone_from_every_view() -> None:
    book, orders = _book()
    assert book.remove("a-3") is orders[2]
    assert "a-3" not in book
    assert book.by_venue("bybit") == []
    assert [o.client_order_id for o in book.by_symbol("BTC/USDT")] == ["a-1", "a-4", "a-5"]
    with pytest.raises(KeyError, match="unknown client order id a-3"):
        book.remove("a-3")
    book.add(make(T.LIMIT, coid="a-3", venue="bybit"))  # re-add after removal goes last
    assert [o.client_order_id for o in book][-1] == "a-3"


def test_open_orders_when_order_closes_then_views_skip_it_until_pruned() -> None:
    book, orders = _book()
    orders[0].record_fill(1.0, 100.0, 12)
    orders[3].transition(S.CANCELLED, 12)
    assert [o.client_order_id for o in book.by_symbol("BTC/USDT")] == ["a-3", "a-5"]
    assert len(book) == 5
    assert book.prune() == [orders[0], orders[3]]
    assert [o.client_order_id for o in book] == ["a-2", "a-3", "a-5"]


def test_open_orders_when_adding_closed_order_then_raises() -> None:
    order = make(T.LIMIT, coid="c-1")
    order.transition(S.REJECTED, 11)
    with pytest.raises(ValueError, match="cannot add a REJECTED order"):
        OpenOrders().add(order)


def test_open_orders_when_amended_then_parent_and_replacement_both_held_until_cancel() -> None:
    book = OpenOrders()
    parent = make(T.LIMIT, coid="m-1")
    book.add(parent)
    child = parent.amend(client_order_id="m-2", ts=20, new_price=101.0)
    book.add(child)
    assert book.by_symbol("BTC/USDT") == [parent, child]
    parent.transition(S.CANCELLED, 21)  # the venue confirmed the cancel half
    assert book.by_symbol("BTC/USDT") == [child]
    assert book.prune() == [parent]
