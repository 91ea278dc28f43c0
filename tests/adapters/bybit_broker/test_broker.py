"""BybitBroker (real ccxt) against the emulator: place, fill, balances, positions, cancel, query.

Oracle: the emulator's book at the moment of the order (its levels as strings)
walked level by level with ``Decimal`` here, and the emulator's fee rates; the
connector's answers must match to the last digit Bybit sends.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import pytest
import uvloop

from adapters.bybit.broker import BybitBroker
from adapters.bybit.config import BrokerConfig
from adapters.emulator import EmulatorRecording
from adapters.emulator.bybit_trading import InstrumentsInfo
from engine.broker import InsufficientFundsError, InvalidOrderError, OrderNotFoundError
from engine.orders import OrderStatus, OrderType, Side
from tests.adapters.broker_support import (
    assert_all_cancelled,
    assert_found_after_restart,
    cancel_all_three,
    restarted_lookup,
    walk,
)
from tests.adapters.bybit_broker._support import (
    ENV,
    LINEAR_SYMBOL,
    SPOT_SYMBOL,
    order,
    trading_config,
    venue,
)


def test_market_buy_when_spot_then_acked_filled_level_by_level_and_balances_exact(
    spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    qty = Decimal("1.7")  # more than the best ask level holds

    async def scenario() -> dict[str, object]:
        trading = trading_config(balances={"USDT": "1000000", "BTC": "1"})
        async with venue(spot_recording, instruments, trading=trading) as (emu, broker):
            out: dict[str, object] = {"asks": emu.book.levels(200)[1]}
            out["ack"] = await broker.place_order(
                order("m-1", Side.BUY, OrderType.MARKET, float(qty))
            )
            out["order"] = await broker.get_order("m-1")
            out["balances"] = {b.asset: (b.free, b.locked) for b in await broker.get_balance()}
            out["positions"] = await broker.get_positions()
            return out

    out = uvloop.run(scenario())
    fills = walk(out["asks"], qty)  # type: ignore[arg-type]
    assert len(fills) >= 2
    cost = sum(p * q for p, q in fills)
    fee = sum((q * Decimal("0.001")).quantize(Decimal("1e-8"), ROUND_HALF_UP) for _, q in fills)
    ack = out["ack"]
    # Bybit acknowledges with the ids only: the fill is read back (or streamed)
    assert (ack.status, ack.filled_quantity, ack.client_order_id) == (  # type: ignore[attr-defined]
        OrderStatus.ACCEPTED,
        0.0,
        "m-1",
    )
    placed = out["order"]
    assert placed.status is OrderStatus.FILLED and placed.filled_quantity == float(qty)  # type: ignore[attr-defined]
    assert math.isclose(placed.average_price, float(cost / qty), rel_tol=1e-9)  # type: ignore[attr-defined]
    assert out["balances"] == {
        "USDT": (float(Decimal(1_000_000) - cost), 0.0),
        "BTC": (float(Decimal(1) + qty - fee), 0.0),
    }
    assert out["positions"] == []  # spot holdings are balances


def test_linear_when_bought_then_long_at_vwap_a_sale_reduces_it_and_reduce_only_is_checked(
    usdm_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    async def scenario() -> dict[str, object]:
        async with venue(usdm_recording, instruments, linear=True) as (emu, broker):
            out: dict[str, object] = {"asks": emu.book.levels(200)[1]}
            await broker.place_order(
                order("f-1", Side.BUY, OrderType.MARKET, 0.5, symbol=LINEAR_SYMBOL)
            )
            out["long"] = await broker.get_positions()
            await broker.place_order(
                order("f-2", Side.SELL, OrderType.MARKET, 0.2, symbol=LINEAR_SYMBOL)
            )
            out["reduced"] = await broker.get_positions()
            with pytest.raises(InvalidOrderError, match="110017"):
                await broker.place_order(
                    order(
                        "f-3",
                        Side.SELL,
                        OrderType.MARKET,
                        0.5,
                        symbol=LINEAR_SYMBOL,
                        reduce_only=True,
                    )
                )
            out["usdt"] = {b.asset: b for b in await broker.get_balance()}["USDT"]
            return out

    out = uvloop.run(scenario())
    buys = walk(out["asks"], Decimal("0.5"))  # type: ignore[arg-type]
    entry = sum(p * q for p, q in buys) / Decimal("0.5")
    [long] = out["long"]  # type: ignore[misc]
    assert (long.symbol, long.quantity) == (LINEAR_SYMBOL, 0.5)
    assert math.isclose(long.average_price, float(entry), rel_tol=1e-12)
    [reduced] = out["reduced"]  # type: ignore[misc]
    assert reduced.quantity == pytest.approx(0.3, abs=1e-12)
    assert math.isclose(reduced.average_price, float(entry), rel_tol=1e-12)
    usdt = out["usdt"]
    assert usdt.locked > 0 and usdt.total < 100_000.0  # margin used, fees paid  # type: ignore[attr-defined]


@pytest.mark.parametrize("linear", [False, True], ids=["spot", "linear"])
def test_limit_when_below_market_then_rests_open_and_cancel_ends_it(
    linear: bool,
    spot_recording: EmulatorRecording,
    usdm_recording: EmulatorRecording,
    instruments: InstrumentsInfo,
) -> None:
    symbol = LINEAR_SYMBOL if linear else SPOT_SYMBOL
    recording = usdm_recording if linear else spot_recording

    async def scenario() -> dict[str, object]:
        async with venue(recording, instruments, linear=linear) as (_emu, broker):
            out: dict[str, object] = {}
            out["ack"] = await broker.place_order(
                order("l-1", Side.BUY, OrderType.LIMIT, 0.01, 60000.0, symbol=symbol)
            )
            out["open"] = await broker.get_open_orders()
            out["locked"] = {b.asset: b.locked for b in await broker.get_balance()}["USDT"]
            out["cancel"] = await broker.cancel_order("l-1")
            out["after"] = await broker.get_open_orders(symbol)
            out["state"] = await broker.get_order("l-1")
            out["usdt"] = {b.asset: b for b in await broker.get_balance()}["USDT"]
            with pytest.raises(OrderNotFoundError, match="110001" if linear else "170213"):
                await broker.cancel_order("l-1")
            return out

    out = uvloop.run(scenario())
    assert out["ack"].status is OrderStatus.ACCEPTED  # type: ignore[attr-defined]
    [resting] = out["open"]  # type: ignore[misc]
    assert (resting.client_order_id, resting.symbol, resting.side) == ("l-1", symbol, Side.BUY)
    assert (resting.quantity, resting.price, resting.status) == (
        0.01,
        60000.0,
        OrderStatus.ACCEPTED,
    )
    # spot locks the cost, linear the initial margin (cost / leverage 10)
    assert out["locked"] == (60.0 if linear else 600.0)
    cancel = out["cancel"]
    assert (cancel.status, cancel.client_order_id, cancel.venue_order_id) == (  # type: ignore[attr-defined]
        OrderStatus.CANCELLED,
        "l-1",
        resting.venue_order_id,
    )
    assert out["after"] == []
    assert out["state"].status is OrderStatus.CANCELLED  # type: ignore[attr-defined]
    assert (out["usdt"].free, out["usdt"].locked) == (100000.0, 0.0)  # type: ignore[attr-defined]


def test_get_order_when_placed_by_an_earlier_session_then_found_by_client_id(
    spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    async def scenario() -> tuple[object, list[object]]:
        async with venue(spot_recording, instruments) as (emu, first):
            config = BrokerConfig(
                rest_url=emu.rest_url, symbols=("ETH/USDT", SPOT_SYMBOL), rate_limit=False
            )
            placed = order("s-1", Side.SELL, OrderType.LIMIT, 0.02, 70000.0)
            return await restarted_lookup(first, BybitBroker(config, env=ENV), placed)

    assert_found_after_restart(*uvloop.run(scenario()))


@pytest.mark.parametrize("linear", [False, True], ids=["spot", "linear"])
def test_cancel_all_when_orders_rest_then_each_listed_cancelled_and_none_left(
    linear: bool,
    spot_recording: EmulatorRecording,
    usdm_recording: EmulatorRecording,
    instruments: InstrumentsInfo,
) -> None:
    symbol = LINEAR_SYMBOL if linear else SPOT_SYMBOL
    recording = usdm_recording if linear else spot_recording

    async def scenario() -> tuple[list[object], list[object], int]:
        async with venue(recording, instruments, linear=linear) as (emu, broker):
            cancelled, left = await cancel_all_three(broker, order, symbol)
            assert emu.trading is not None
            return cancelled, left, len(emu.trading.engine.orders)

    assert_all_cancelled(*uvloop.run(scenario()))


def test_place_when_below_minimum_then_refused_locally_naming_value_and_limit(
    spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    async def scenario() -> int:
        async with venue(spot_recording, instruments) as (emu, broker):
            with pytest.raises(InvalidOrderError, match=r"qty 1e-05 below min qty 0\.000011"):
                await broker.place_order(order("q-1", Side.BUY, OrderType.MARKET, 0.00001))
            with pytest.raises(
                InvalidOrderError,
                match=r"notional 3 \(qty 0\.00005 x price 60000\) below min notional 5 "
                r"for BTC/USDT",
            ):
                await broker.place_order(order("q-2", Side.BUY, OrderType.LIMIT, 0.00005, 60000.0))
            with pytest.raises(InvalidOrderError, match=r"not a multiple of lot size 0\.000001"):
                await broker.place_order(
                    order("q-3", Side.BUY, OrderType.LIMIT, 0.0012345, 60000.0)
                )
            assert emu.trading is not None
            return sum(1 for _, path, _ in emu.trading.received if path == "order/create")

    assert uvloop.run(scenario()) == 0  # nothing reached the venue


def test_place_when_funds_short_or_link_id_reused_then_final_errors_and_one_order(
    spot_recording: EmulatorRecording,
    usdm_recording: EmulatorRecording,
    instruments: InstrumentsInfo,
) -> None:
    async def scenario() -> tuple[int, int]:
        async with venue(spot_recording, instruments) as (emu, broker):
            with pytest.raises(InsufficientFundsError, match="170131"):
                await broker.place_order(order("big", Side.BUY, OrderType.MARKET, 5.0))
            await broker.place_order(order("dup", Side.BUY, OrderType.MARKET, 0.01))
            with pytest.raises(InvalidOrderError, match="170141"):  # even once filled
                await broker.place_order(order("dup", Side.BUY, OrderType.LIMIT, 0.01, 6e4))
            assert emu.trading is not None
            spot_orders = len(emu.trading.engine.orders)
        async with venue(usdm_recording, instruments, linear=True) as (emu, broker):
            with pytest.raises(InsufficientFundsError, match="110007"):
                await broker.place_order(
                    order("big", Side.BUY, OrderType.LIMIT, 100.0, 60000.0, symbol=LINEAR_SYMBOL)
                )
            await broker.place_order(
                order("dup", Side.BUY, OrderType.LIMIT, 0.01, 60000.0, symbol=LINEAR_SYMBOL)
            )
            with pytest.raises(InvalidOrderError, match="110072"):
                await broker.place_order(
                    order("dup", Side.BUY, OrderType.LIMIT, 0.01, 60000.0, symbol=LINEAR_SYMBOL)
                )
            assert emu.trading is not None
            return spot_orders, len(emu.trading.engine.orders)

    assert uvloop.run(scenario()) == (1, 1)


def test_config_when_testnet_or_rest_url_set_then_every_api_url_points_there() -> None:
    async def scenario() -> tuple[dict[str, str], str, dict[str, str], str, bool]:
        testnet = BybitBroker(BrokerConfig(testnet=True), env=ENV)
        local = BybitBroker(
            BrokerConfig(category="linear", rest_url="http://127.0.0.1:9/"), env=ENV
        )
        try:
            return (
                dict(testnet.client.urls["api"]),
                testnet.ws_url,
                dict(local.client.urls["api"]),
                local.ws_url,
                local.client.has["fetchCurrencies"],
            )
        finally:
            await testnet.close()
            await local.close()

    testnet_api, testnet_ws, local_api, local_ws, currencies = uvloop.run(scenario())
    assert set(testnet_api.values()) == {"https://api-testnet.{hostname}"}
    assert testnet_ws == "wss://stream-testnet.bybit.com"
    assert set(local_api.values()) == {"http://127.0.0.1:9"}
    assert local_ws == "wss://stream.bybit.com"
    assert currencies is False  # no private /v5/asset/coin/query-info at load_markets
    with pytest.raises(ValueError, match=r"broker\.category must be one of spot, linear"):
        BrokerConfig(category="inverse")  # type: ignore[arg-type]
