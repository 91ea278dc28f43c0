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
from decimal import Decimal
from typing import Any

import pytest
import uvloop

from adapters.emulator import EmulatorRecording
from adapters.emulator.bybit_trading import InstrumentsInfo
from engine.orders import OrderType, Side
from tests.adapters.broker_support import check_drawn, drawn_orders, refused_locally
from tests.adapters.bybit_broker._support import INSTRUMENTS, order, trading_config, venue

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
            drawn = drawn_orders(venue_symbols, filters, span=7, steps_off=2)
            side = Side.BUY if linear else Side.SELL  # a spot sell locks the base only
            checked.update(
                await check_drawn(
                    broker,
                    emu.trading.received,
                    drawn,
                    filters,
                    order,
                    side=side,
                    endpoint="order/create",
                    qty_param="qty",
                    id_param="orderLinkId",
                )
            )

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
            assert emu.trading is not None
            sent = order("n-1", Side.BUY, OrderType.LIMIT, qty, price)
            refusal, sends = await refused_locally(
                broker, emu.trading.received, sent, "order/create"
            )
            assert refusal == message
            return sends

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
