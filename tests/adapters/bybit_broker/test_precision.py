"""Prices and quantities on the wire are exact decimals at each market's tick and step.

Hypothesis draws markets from the recorded Bybit instruments (every spot and
linear instrument of ``data/ccxt/bybit_instruments_info.json``) and random
float prices and quantities, and sends them through the real ccxt client to
the emulator. The oracle is plain ``Decimal`` arithmetic on the filter strings
as Bybit sent them, read here from the file (not through ccxt, not through the
emulator's parser): the nearest tick for the price, the lot grid for the
quantity, then the limits. The emulator checks the filters again on what it
receives, and the strings it received must be the oracle's values exactly.
"""

from __future__ import annotations

import json
import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
import uvloop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.emulator import EmulatorRecording
from adapters.emulator.bybit_trading import InstrumentsInfo
from engine.broker import InvalidOrderError
from engine.orders import OrderType, Side
from tests.adapters.bybit_broker._support import INSTRUMENTS, order, trading_config, venue

_LOOP_SETTINGS = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_ZERO = Decimal(0)


def _read_filters(category: str) -> dict[str, dict[str, Any]]:
    """Venue symbol → tick, step, price and quantity bounds, min notional (0 = none)."""
    body = json.loads(INSTRUMENTS.read_text())[category]
    out = {}
    for entry in body["result"]["list"]:
        lot, price = entry["lotSizeFilter"], entry["priceFilter"]
        spot = category == "spot"
        out[entry["symbol"]] = {
            "tick": Decimal(price["tickSize"]),
            "min_price": _ZERO if spot else Decimal(price["minPrice"]),
            "max_price": _ZERO if spot else Decimal(price["maxPrice"]),
            "step": Decimal(lot["basePrecision"] if spot else lot["qtyStep"]),
            "min_qty": Decimal(lot["minOrderQty"]),
            "max_qty": Decimal(lot["maxOrderQty"]),
            "min_notional": Decimal(lot["minOrderAmt"] if spot else lot["minNotionalValue"]),
            "base": entry["baseCoin"],
        }
    return out


def _expected(f: dict[str, Any], price: float, qty: float) -> tuple[Decimal, Decimal] | str:
    """The exact wire values, or the start of the local refusal's message."""
    tick, step = f["tick"], f["step"]
    q = Decimal(repr(qty))
    k = (q / step).to_integral_value(ROUND_HALF_EVEN)
    if abs(q / step - k) > Decimal("1e-9") + k * Decimal("1e-12"):
        return "below min qty" if q < f["min_qty"] else "not a multiple of lot size"
    q = k * step
    if q < f["min_qty"] or q <= 0:
        return "below min qty"
    if f["max_qty"] > 0 and q > f["max_qty"]:
        return "above max qty"
    p = (Decimal(repr(price)) / tick).to_integral_value(ROUND_HALF_EVEN) * tick
    if p < f["min_price"] or p <= 0:
        return "below min price"
    if f["max_price"] > 0 and p > f["max_price"]:
        return "above max price"
    if p * q < f["min_notional"]:
        return "below min notional"
    return p, q


def _values(data: st.DataObject, f: dict[str, Any]) -> tuple[float, float]:
    """A float price anywhere in a wide range and a quantity on (or off) the lot grid."""
    tick, step = f["tick"], f["step"]
    low = max(f["min_price"], tick)
    high = f["max_price"] if f["max_price"] > 0 else low * 10**7
    high = min(high, low + tick * 10**9)
    price = data.draw(st.floats(float(low), float(high), allow_nan=False), label="price")
    k_low = max(1, int((f["min_qty"] / step).to_integral_value(ROUND_CEILING)) - 2)
    k_high = int((f["max_qty"] / step).to_integral_value(ROUND_FLOOR)) + 2
    k = data.draw(st.integers(k_low, max(k_low, min(k_high, k_low + 10**7))), label="steps")
    off = data.draw(st.sampled_from([0, 0, 0, 0, 3, 5]), label="tenths_off_grid")
    return price, float((k + Decimal(off) / 10) * step)


def _plain_at(value: str, unit: Decimal) -> bool:
    """The wire string is a plain decimal with no more decimals than ``unit`` has."""
    if "e" in value.lower() or value.startswith(("+", " ")):
        return False
    decimals = len(value.split(".", 1)[1]) if "." in value else 0
    return decimals <= max(0, -unit.normalize().as_tuple().exponent)  # type: ignore[operator]


@pytest.mark.parametrize("linear", [False, True], ids=["spot", "linear"])
def test_wire_values_when_random_prices_and_quantities_then_exact_decimals_at_tick_and_step(
    linear: bool,
    spot_recording: EmulatorRecording,
    usdm_recording: EmulatorRecording,
    instruments: InstrumentsInfo,
) -> None:
    category = "linear" if linear else "spot"
    filters = _read_filters(category)
    balances = {f["base"]: "1000000000000000" for f in filters.values()}
    balances["USDT"] = "1000000000000000"
    checked = {"sent": 0, "refused": 0}

    async def scenario() -> None:
        trading = trading_config(balances=balances, leverage=100)
        async with venue(
            usdm_recording if linear else spot_recording,
            instruments,
            linear=linear,
            trading=trading,
            symbols=(),
        ) as (emu, broker):
            assert emu.trading is not None
            by_id = {m["id"]: s for s, m in broker.client.markets.items()}
            venue_symbols = sorted(filters)
            assert set(venue_symbols) <= set(by_id) and len(venue_symbols) >= 7
            drawn: list[tuple[str, float, float]] = []

            @_LOOP_SETTINGS
            @given(data=st.data())
            def draw(data: st.DataObject) -> None:
                vsym = data.draw(st.sampled_from(venue_symbols), label="market")
                price, qty = _values(data, filters[vsym])
                drawn.append((vsym, price, qty))

            draw()
            for n, (vsym, price, qty) in enumerate(drawn):
                f = filters[vsym]
                expected = _expected(f, price, qty)
                side = Side.BUY if linear else Side.SELL  # a spot sell locks the base only
                sent = order(f"p-{n}", side, OrderType.LIMIT, qty, price, symbol=by_id[vsym])
                before = len(emu.trading.received)
                if isinstance(expected, str):
                    with pytest.raises(InvalidOrderError, match=expected):
                        await broker.place_order(sent)
                    assert len(emu.trading.received) == before  # nothing reached the venue
                    checked["refused"] += 1
                    continue
                ack = await broker.place_order(sent)  # the emulator's own filter check passes
                assert ack.client_order_id == f"p-{n}"
                method, endpoint, params = emu.trading.received[-1]
                assert (method, endpoint, params["symbol"]) == ("POST", "order/create", vsym)
                assert params["orderLinkId"] == f"p-{n}"
                assert Decimal(params["price"]) == expected[0], (vsym, price, params["price"])
                assert Decimal(params["qty"]) == expected[1], (vsym, qty, params["qty"])
                assert _plain_at(params["price"], f["tick"]), params["price"]
                assert _plain_at(params["qty"], f["step"]), params["qty"]
                checked["sent"] += 1

    uvloop.run(scenario())
    assert checked["sent"] > 0 and checked["refused"] > 0


@pytest.mark.parametrize(
    ("qty", "price", "message"),
    [
        (
            0.00005,
            60000.0,
            "notional 3 (qty 0.00005 x price 60000) below min notional 5 for BTC/USDT",
        ),
        (0.00001, 60000.0, "qty 1e-05 below min qty 0.000011 for BTC/USDT"),
        (0.0000155, 60000.0, "qty 0.0000155 not a multiple of lot size 0.000001 for BTC/USDT"),
        (84.0, 60000.0, "qty 84 above max qty 83 for BTC/USDT"),
        (0.01, 0.04, "price 0.04 below min price 0.1 for BTC/USDT"),
    ],
    ids=["min_notional", "min_qty", "lot_size", "max_qty", "tick"],
)
def test_place_when_outside_the_market_limits_then_refused_locally_naming_value_and_limit(
    qty: float,
    price: float,
    message: str,
    spot_recording: EmulatorRecording,
    instruments: InstrumentsInfo,
) -> None:
    async def scenario() -> int:
        async with venue(spot_recording, instruments) as (emu, broker):
            with pytest.raises(InvalidOrderError) as refused:
                await broker.place_order(order("n-1", Side.BUY, OrderType.LIMIT, qty, price))
            assert str(refused.value) == message
            assert emu.trading is not None
            return sum(1 for _, path, _ in emu.trading.received if path == "order/create")

    assert uvloop.run(scenario()) == 0


def test_wire_values_when_float_noise_then_the_intended_decimal_is_sent(
    usdm_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    qty = 0.1 + 0.2  # 0.30000000000000004
    price = 61000.1 + 0.2  # 61000.299999999996

    async def scenario() -> dict[str, str]:
        async with venue(usdm_recording, instruments, linear=True) as (emu, broker):
            await broker.place_order(
                order("z-1", Side.SELL, OrderType.LIMIT, qty, price, symbol="BTC/USDT:USDT")
            )
            assert emu.trading is not None
            return emu.trading.received[-1][2]

    params = uvloop.run(scenario())
    assert not math.isclose(qty, 0.3, rel_tol=0.0)
    assert (params["qty"], params["price"]) == ("0.3", "61000.3")
