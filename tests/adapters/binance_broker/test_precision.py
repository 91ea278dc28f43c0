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
from decimal import Decimal
from pathlib import Path

import pytest
import uvloop

from adapters.emulator import EmulatorRecording
from adapters.emulator.binance_trading import ExchangeInfo
from engine.orders import OrderType, Side
from tests.adapters.binance_broker._support import (
    SPOT_INFO,
    USDM_INFO,
    order,
    trading_config,
    venue,
)
from tests.adapters.broker_support import check_drawn, drawn_orders, refused_locally


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
            drawn = drawn_orders(venue_symbols, filters, span=6, steps_off=0)
            side = Side.BUY if usdm else Side.SELL  # a spot sell locks the base only
            checked.update(
                await check_drawn(
                    broker,
                    emu.trading.received,
                    drawn,
                    filters,
                    order,
                    side=side,
                    endpoint="order",
                    qty_param="quantity",
                )
            )

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
            assert emu.trading is not None
            sent = order("n-1", Side.BUY, OrderType.LIMIT, qty, price)
            refusal, sends = await refused_locally(broker, emu.trading.received, sent, "order")
            assert refusal == message
            return sends

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
