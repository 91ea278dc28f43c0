"""Order lifecycle: allowed and illegal transitions, fills, VWAP and overfills."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.orders import (
    IllegalOrderTransitionError,
    Order,
    OrderStatus,
    OrderType,
    Side,
)

S = OrderStatus

# The lifecycle as specified (independent of engine.orders._ALLOWED): NEW may be acked,
# filled before the ack arrives, or refused; an acked order can only fill or end open;
# terminal states go nowhere.
EXPECTED_ALLOWED: dict[OrderStatus, set[OrderStatus]] = {
    S.NEW: {S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.REJECTED, S.CANCELLED, S.EXPIRED},
    S.ACCEPTED: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED},
    S.PARTIALLY_FILLED: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED},
    S.FILLED: set(),
    S.CANCELLED: set(),
    S.REJECTED: set(),
    S.EXPIRED: set(),
}

# A legal path from NEW to each state.
PATH_TO: dict[OrderStatus, tuple[OrderStatus, ...]] = {
    S.NEW: (),
    S.ACCEPTED: (S.ACCEPTED,),
    S.PARTIALLY_FILLED: (S.ACCEPTED, S.PARTIALLY_FILLED),
    S.FILLED: (S.ACCEPTED, S.FILLED),
    S.CANCELLED: (S.ACCEPTED, S.CANCELLED),
    S.REJECTED: (S.REJECTED,),
    S.EXPIRED: (S.ACCEPTED, S.EXPIRED),
}

PAIRS = [(a, b) for a in OrderStatus for b in OrderStatus]


def make_order(quantity: float = 1.0, coid: str = "t-1") -> Order:
    return Order(
        client_order_id=coid,
        symbol="BTC/USDT",
        venue="binance",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=quantity,
        price=100.0,
        ts_created=10,
    )


def order_in(state: OrderStatus) -> Order:
    order = make_order()
    for i, step in enumerate(PATH_TO[state]):
        order.transition(step, 11 + i)
    assert order.status is state
    return order


@pytest.mark.parametrize(
    ("source", "target"),
    [p for p in PAIRS if p[1] in EXPECTED_ALLOWED[p[0]]],
    ids=lambda s: str(s),
)
def test_transition_when_allowed_then_status_and_ts_updated(
    source: OrderStatus, target: OrderStatus
) -> None:
    order = order_in(source)
    order.transition(target, 99)
    assert order.status is target
    assert order.ts_updated == 99
    assert order.is_open == (target in {S.NEW, S.ACCEPTED, S.PARTIALLY_FILLED})


@pytest.mark.parametrize(
    ("source", "target"),
    [p for p in PAIRS if p[1] not in EXPECTED_ALLOWED[p[0]]],
    ids=lambda s: str(s),
)
def test_transition_when_illegal_then_raises_naming_both_states_and_keeps_status(
    source: OrderStatus, target: OrderStatus
) -> None:
    order = order_in(source)
    ts_before = order.ts_updated
    with pytest.raises(IllegalOrderTransitionError) as info:
        order.transition(target, 99)
    message = str(info.value)
    assert f"{source} -> {target}" in message
    assert "t-1" in message
    assert order.status is source
    assert order.ts_updated == ts_before


def test_record_fill_when_partial_then_partially_filled_then_filled_with_vwap() -> None:
    order = make_order(quantity=1.0)
    order.transition(S.ACCEPTED, 11)
    fills = ((0.25, 100.0), (0.5, 102.0), (0.25, 101.5))
    order.record_fill(*fills[0], 12)
    assert order.status is S.PARTIALLY_FILLED
    assert order.leaves_quantity == pytest.approx(0.75)
    order.record_fill(*fills[1], 13)
    assert order.status is S.PARTIALLY_FILLED
    order.record_fill(*fills[2], 14)
    assert order.status is S.FILLED
    assert not order.is_open
    assert order.ts_updated == 14
    assert order.filled_quantity == pytest.approx(1.0)
    vwap = math.fsum(q * p for q, p in fills) / math.fsum(q for q, _ in fills)
    assert order.average_fill_price == pytest.approx(vwap, rel=1e-12)


def test_record_fill_when_single_full_fill_from_new_then_filled_at_price() -> None:
    order = make_order(quantity=0.3)
    order.record_fill(0.3, 60_000.01, 12)
    assert order.status is S.FILLED
    assert order.average_fill_price == 60_000.01


def test_record_fill_when_float_residue_in_sum_then_still_filled() -> None:
    order = make_order(quantity=0.3)
    order.record_fill(0.1, 100.0, 12)
    order.record_fill(0.2, 100.0, 13)  # 0.1 + 0.2 == 0.30000000000000004
    assert order.status is S.FILLED


@pytest.mark.parametrize("quantity", [0.75 + 1e-6, 1.0, 5.0])
def test_record_fill_when_overfill_then_raises_and_order_unchanged(quantity: float) -> None:
    order = make_order(quantity=1.0)
    order.record_fill(0.25, 100.0, 12)
    with pytest.raises(ValueError, match=r"outside \(0, 0\.75\]") as info:
        order.record_fill(quantity, 101.0, 13)
    assert f"{quantity}" in str(info.value)
    assert order.filled_quantity == 0.25
    assert order.average_fill_price == 100.0
    assert order.status is S.PARTIALLY_FILLED


@pytest.mark.parametrize("quantity", [0.0, -0.1, math.nan])
def test_record_fill_when_quantity_not_positive_then_raises(quantity: float) -> None:
    order = make_order()
    with pytest.raises(ValueError, match="fill quantity"):
        order.record_fill(quantity, 100.0, 12)
    assert order.filled_quantity == 0.0


def test_record_fill_when_already_filled_then_raises_and_order_unchanged() -> None:
    order = make_order(quantity=1.0)
    order.record_fill(1.0, 100.0, 12)
    with pytest.raises(IllegalOrderTransitionError, match="FILLED"):
        order.record_fill(0.1, 100.0, 13)
    assert order.filled_quantity == 1.0
    assert order.average_fill_price == 100.0
    assert order.ts_updated == 12


@pytest.mark.parametrize("closed", [S.CANCELLED, S.EXPIRED, S.REJECTED])
def test_record_fill_when_order_closed_then_raises_naming_state_and_order_unchanged(
    closed: OrderStatus,
) -> None:
    # Regression: the fill used to be booked into the order before the transition raised.
    order = make_order(quantity=1.0)
    order.transition(closed, 11)
    with pytest.raises(IllegalOrderTransitionError, match=str(closed)):
        order.record_fill(0.5, 100.0, 12)
    assert order.filled_quantity == 0.0
    assert order.average_fill_price == 0.0
    assert order.status is closed


@pytest.mark.parametrize("quantity", [0.0, -1.0, math.nan])
def test_order_when_quantity_not_positive_then_raises_naming_order(quantity: float) -> None:
    with pytest.raises(ValueError, match=r"order t-1: quantity must be > 0"):
        make_order(quantity=quantity)


def test_side_sign_when_buy_or_sell_then_plus_or_minus_one() -> None:
    assert Side.BUY.sign == 1
    assert Side.SELL.sign == -1
    assert Side("SELL") is Side.SELL


def test_record_fill_when_float_residue_completes_order_then_filled_quantity_equals_quantity() -> (
    None
):
    order = make_order(quantity=0.3)
    order.record_fill(0.1, 100.0, 12)
    order.record_fill(0.2, 100.0, 13)
    assert order.filled_quantity == 0.3
    assert order.leaves_quantity == 0.0


@pytest.mark.parametrize(
    ("tif", "closed"),
    [("IOC", S.EXPIRED), ("FOK", S.EXPIRED)],
)
def test_transition_when_immediate_order_remainder_then_expired_after_partial_fill(
    tif: str, closed: OrderStatus
) -> None:
    order = Order(
        client_order_id="t-1",
        symbol="BTC/USDT",
        venue="binance",
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        quantity=1.0,
        price=100.0,
        ts_created=10,
        time_in_force=tif,
    )
    order.transition(S.ACCEPTED, 11)
    if tif == "IOC":
        order.record_fill(0.4, 100.0, 12)
    order.transition(closed, 13)
    assert order.status is S.EXPIRED
    assert not order.is_open
    assert order.is_immediate


# Fills as fractions of the order's remaining quantity; a fraction above 1 is an overfill
# attempt that must be refused without changing the order.
_fill_steps = st.lists(
    st.tuples(
        st.one_of(
            st.floats(min_value=1e-6, max_value=1.0),
            st.just(1.0),
            st.floats(min_value=1.001, max_value=1.5),
        ),
        st.floats(min_value=0.01, max_value=1e6, allow_nan=False),
    ),
    min_size=1,
    max_size=20,
)


@given(
    quantity=st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False),
    steps=_fill_steps,
)
def test_record_fill_property_filled_never_exceeds_quantity_and_average_is_vwap(
    quantity: float, steps: list[tuple[float, float]]
) -> None:
    order = make_order(quantity=quantity)
    accepted: list[tuple[float, float]] = []
    for i, (fraction, price) in enumerate(steps):
        if not order.is_open:
            with pytest.raises(IllegalOrderTransitionError):
                order.record_fill(quantity * 1e-3, price, 100 + i)
            continue
        fill = order.leaves_quantity * fraction
        before = (order.filled_quantity, order.average_fill_price, order.status)
        if fraction > 1.0:
            with pytest.raises(ValueError, match="fill quantity"):
                order.record_fill(fill, price, 100 + i)
            assert (order.filled_quantity, order.average_fill_price, order.status) == before
            continue
        if not fill > 0:
            continue
        order.record_fill(fill, price, 100 + i)
        accepted.append((fill, price))
        assert order.filled_quantity <= order.quantity
        assert order.leaves_quantity >= 0.0
    if accepted:
        filled = math.fsum(q for q, _ in accepted)
        vwap = math.fsum(q * p for q, p in accepted) / filled
        assert order.average_fill_price == pytest.approx(vwap, rel=1e-9)
        assert order.filled_quantity == pytest.approx(filled, rel=1e-9)
        expected = S.FILLED if filled >= quantity * (1 - 1e-12) else S.PARTIALLY_FILLED
        assert order.status is expected
    else:
        assert order.status is S.NEW
        assert order.filled_quantity == 0.0
