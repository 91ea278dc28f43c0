"""Prices and quantities on the wire are exact decimals at each market's tick and step.

Hypothesis draws markets from the recorded exchange information (every trading
spot and USD-M symbol of ``data/cryptofeed/BINANCE*.0.gz``) and random float
prices and quantities, and sends them through the real ccxt client to the
emulator. The oracle is plain ``Decimal`` arithmetic on the filter strings as
Binance recorded them, read here from the file (not through ccxt, not through
the emulator's parser): the nearest tick for the price, the lot grid for the
quantity, then the limits. The emulator checks the filters again on what it
receives, and the strings it received must be the oracle's values exactly.
"""

from __future__ import annotations

import gzip
import json
import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest
import uvloop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.emulator import EmulatorRecording
from adapters.emulator.binance_trading import ExchangeInfo
from engine.broker import InvalidOrderError
from engine.orders import OrderType, Side
from tests.adapters.binance_broker._support import (
    SPOT_INFO,
    USDM_INFO,
    order,
    trading_config,
    venue,
)

_LOOP_SETTINGS = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _read_filters(path: Path, futures: bool) -> dict[str, dict[str, Decimal]]:
    """Venue symbol → tick, step, min/max price and quantity, min notional (0 = none)."""
    line = gzip.decompress(path.read_bytes()).split(b"\n", 1)[0]
    body = json.loads(line.split(b": ", 1)[1])
    out = {}
    for entry in body["symbols"]:
        if entry["status"] != "TRADING":
            continue
        f = {x["filterType"]: x for x in entry["filters"]}
        if futures:
            notional = f.get("MIN_NOTIONAL", {}).get("notional", "0")
        else:
            notional = (f.get("MIN_NOTIONAL") or f.get("NOTIONAL") or {}).get("minNotional", "0")
        out[entry["symbol"]] = {
            "tick": Decimal(f["PRICE_FILTER"]["tickSize"]),
            "min_price": Decimal(f["PRICE_FILTER"]["minPrice"]),
            "max_price": Decimal(f["PRICE_FILTER"]["maxPrice"]),
            "step": Decimal(f["LOT_SIZE"]["stepSize"]),
            "min_qty": Decimal(f["LOT_SIZE"]["minQty"]),
            "max_qty": Decimal(f["LOT_SIZE"]["maxQty"]),
            "min_notional": Decimal(notional),
            "base": entry["baseAsset"],
            "quote": entry["quoteAsset"],
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
    """A float price anywhere in the price range and a quantity on (or off) the lot grid."""
    tick, step = f["tick"], f["step"]
    low = max(f["min_price"], tick)
    high = f["max_price"] if f["max_price"] > 0 else low * 10**6
    high = min(high, low + tick * 10**8)
    price = data.draw(st.floats(float(low), float(high), allow_nan=False), label="price")
    k_low = max(1, int((f["min_qty"] / step).to_integral_value(ROUND_CEILING)))
    k_high = int((f["max_qty"] / step).to_integral_value(ROUND_FLOOR)) if f["max_qty"] else k_low
    k = data.draw(st.integers(k_low, max(k_low, min(k_high, k_low + 10**6))), label="steps")
    off = data.draw(st.sampled_from([0, 0, 0, 0, 3, 5]), label="tenths_off_grid")
    qty = float((k + Decimal(off) / 10) * step)
    return price, qty


def _plain_at(value: str, unit: Decimal) -> bool:
    """The wire string is a plain decimal with no more decimals than ``unit`` has."""
    if "e" in value.lower() or value.startswith(("+", " ")):
        return False
    decimals = len(value.split(".", 1)[1]) if "." in value else 0
    return decimals <= max(0, -unit.normalize().as_tuple().exponent)  # type: ignore[operator]


@pytest.mark.parametrize("usdm", [False, True], ids=["spot", "usdm"])
def test_wire_values_when_random_prices_and_quantities_then_exact_decimals_at_tick_and_step(
    usdm: bool,
    spot_recording: EmulatorRecording,
    usdm_recording: EmulatorRecording,
    spot_info_full: ExchangeInfo,
    usdm_info_full: ExchangeInfo,
) -> None:
    filters = _read_filters(USDM_INFO if usdm else SPOT_INFO, futures=usdm)
    recording, info = (usdm_recording, usdm_info_full) if usdm else (spot_recording, spot_info_full)
    assets = {f[k] for f in filters.values() for k in ("base", "quote")}
    balances = {a: "1000000000000000" for a in sorted(assets)}
    checked = {"sent": 0, "refused": 0}

    async def scenario() -> None:
        trading = trading_config(balances=balances)
        async with venue(recording, info, usdm=usdm, trading=trading, symbols=()) as (
            emu,
            broker,
        ):
            assert emu.trading is not None
            by_id = {m["id"]: s for s, m in broker.client.markets.items()}
            venue_symbols = sorted(s for s in filters if s in by_id)
            assert len(venue_symbols) > (100 if usdm else 1000)
            loop_results: list[tuple[str, dict[str, Any], float, float]] = []

            @_LOOP_SETTINGS
            @given(data=st.data())
            def draw(data: st.DataObject) -> None:
                vsym = data.draw(st.sampled_from(venue_symbols), label="market")
                price, qty = _values(data, filters[vsym])
                loop_results.append((vsym, filters[vsym], price, qty))

            draw()
            for n, (vsym, f, price, qty) in enumerate(loop_results):
                expected = _expected(f, price, qty)
                side = Side.BUY if usdm else Side.SELL  # a spot sell locks the base only
                sent = order(f"p-{n}", side, OrderType.LIMIT, qty, price, symbol=by_id[vsym])
                before = len(emu.trading.received)
                if isinstance(expected, str):
                    with pytest.raises(InvalidOrderError, match=expected):
                        await broker.place_order(sent)
                    assert len(emu.trading.received) == before  # nothing reached the venue
                    checked["refused"] += 1
                    continue
                await broker.place_order(sent)  # the emulator's own filter check passes
                method, endpoint, params = emu.trading.received[-1]
                assert (method, endpoint, params["symbol"]) == ("POST", "order", vsym)
                assert Decimal(params["price"]) == expected[0], (vsym, price, params["price"])
                assert Decimal(params["quantity"]) == expected[1], (vsym, qty, params["quantity"])
                assert _plain_at(params["price"], f["tick"]), params["price"]
                assert _plain_at(params["quantity"], f["step"]), params["quantity"]
                checked["sent"] += 1

    uvloop.run(scenario())
    assert checked["sent"] > 0 and checked["refused"] > 0


@pytest.mark.parametrize(
    ("qty", "price", "message"),
    [
        (
            0.0001,
            60000.0,
            "notional 6 (qty 0.0001 x price 60000) below min notional 10 for BTC/USDT",
        ),
        (0.000001, 60000.0, "qty 1e-06 below min qty 0.00001 for BTC/USDT"),
        (0.000015, 60000.0, "qty 0.000015 not a multiple of lot size 0.00001 for BTC/USDT"),
        (10000.0, 60000.0, "qty 10000 above max qty 9000 for BTC/USDT"),
        (0.01, 0.001, "price 0.001 below min price 0.01 for BTC/USDT"),
    ],
    ids=["min_notional", "min_qty", "lot_size", "max_qty", "min_price"],
)
def test_place_when_outside_the_market_limits_then_refused_locally_naming_value_and_limit(
    qty: float,
    price: float,
    message: str,
    spot_recording: EmulatorRecording,
    spot_info: ExchangeInfo,
) -> None:
    async def scenario() -> int:
        async with venue(spot_recording, spot_info) as (emu, broker):
            with pytest.raises(InvalidOrderError) as refused:
                await broker.place_order(order("n-1", Side.BUY, OrderType.LIMIT, qty, price))
            assert str(refused.value) == message
            assert emu.trading is not None
            return sum(1 for m, name, _ in emu.trading.received if name == "order")

    assert uvloop.run(scenario()) == 0


def test_wire_values_when_float_noise_then_the_intended_decimal_is_sent(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    qty = 0.1 + 0.2  # 0.30000000000000004
    price = 61000.1 + 0.2  # 61000.299999999996

    async def scenario() -> dict[str, str]:
        async with venue(spot_recording, spot_info) as (emu, broker):
            await broker.place_order(order("z-1", Side.SELL, OrderType.LIMIT, qty, price))
            assert emu.trading is not None
            return emu.trading.received[-1][2]

    params = uvloop.run(scenario())
    assert not math.isclose(qty, 0.3, rel_tol=0.0)
    assert (params["quantity"], params["price"]) == ("0.3", "61000.3")
