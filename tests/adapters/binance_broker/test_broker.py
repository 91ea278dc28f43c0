"""BinanceBroker (real ccxt) against the emulator: place, fill, balances, positions, cancel, query.

Oracle: the emulator's book at the moment of the order (its REST depth answer,
levels as strings) walked level by level with ``Decimal`` here, and the
emulator's fee rates; the connector's answers must match to the last digit
Binance sends.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
import uvloop

from adapters.binance.broker import BinanceBroker
from adapters.binance.config import BrokerConfig
from adapters.emulator import EmulatorRecording
from adapters.emulator.binance_trading import ExchangeInfo
from engine.broker import (
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
    has_fill_history,
)
from engine.orders import OrderStatus, OrderType, Side, TimeInForce
from tests.adapters.binance_broker._support import (
    ENV,
    SPOT_SYMBOL,
    USDM_SYMBOL,
    order,
    trading_config,
    venue,
)
from tests.adapters.broker_support import (
    assert_all_cancelled,
    assert_found_after_restart,
    cancel_all_three,
    restarted_lookup,
    walk,
)


def test_place_market_buy_when_spot_then_filled_level_by_level_and_balances_exact(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    qty = Decimal("1.7")  # more than the best ask level holds

    async def scenario() -> tuple[list[list[str]], object, dict[str, tuple[float, float]]]:
        trading = trading_config(balances={"USDT": "1000000", "BTC": "1"})
        async with venue(spot_recording, spot_info, trading=trading) as (emu, broker):
            asks = emu.depth_snapshot(50)["asks"]
            ack = await broker.place_order(order("m-1", Side.BUY, OrderType.MARKET, float(qty)))
            balances = {b.asset: (b.free, b.locked) for b in await broker.get_balance()}
            return asks, ack, balances

    asks, ack, balances = uvloop.run(scenario())
    fills = walk(asks, qty)
    assert len(fills) >= 2
    cost = sum(p * q for p, q in fills)
    commission = sum((q * Decimal("0.001")).quantize(Decimal("1e-8")) for _, q in fills)
    assert ack.status is OrderStatus.FILLED and ack.client_order_id == "m-1"
    assert ack.filled_quantity == float(qty)
    assert math.isclose(ack.average_price, float(cost / qty), rel_tol=1e-12)
    assert balances["USDT"] == (float(Decimal(1_000_000) - cost), 0.0)
    assert balances["BTC"] == (float(Decimal(1) + qty - commission), 0.0)


def test_limit_when_below_market_then_rests_locks_funds_and_cancel_releases_them(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    async def scenario() -> dict[str, object]:
        async with venue(spot_recording, spot_info) as (_emu, broker):
            out: dict[str, object] = {}
            out["ack"] = await broker.place_order(
                order("l-1", Side.BUY, OrderType.LIMIT, 0.01, 60000.0)
            )
            out["open"] = await broker.get_open_orders()
            out["locked"] = {b.asset: b.locked for b in await broker.get_balance()}["USDT"]
            out["cancel"] = await broker.cancel_order("l-1")
            out["after"] = await broker.get_open_orders(SPOT_SYMBOL)
            out["usdt"] = {b.asset: b for b in await broker.get_balance()}["USDT"]
            with pytest.raises(OrderNotFoundError, match="Unknown order sent"):
                await broker.cancel_order("l-1")
            return out

    out = uvloop.run(scenario())
    ack = out["ack"]
    assert ack.status is OrderStatus.ACCEPTED and ack.filled_quantity == 0.0  # type: ignore[attr-defined]
    [resting] = out["open"]  # type: ignore[misc]
    assert (resting.client_order_id, resting.symbol, resting.side) == ("l-1", SPOT_SYMBOL, Side.BUY)
    assert (resting.quantity, resting.price, resting.status) == (
        0.01,
        60000.0,
        OrderStatus.ACCEPTED,
    )
    assert out["locked"] == 600.0
    assert out["cancel"].status is OrderStatus.CANCELLED  # type: ignore[attr-defined]
    assert out["cancel"].client_order_id == "l-1"  # type: ignore[attr-defined]
    assert out["after"] == []
    assert (out["usdt"].free, out["usdt"].locked) == (100000.0, 0.0)  # type: ignore[attr-defined]


def test_get_order_when_placed_by_an_earlier_session_then_found_by_client_id(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    async def scenario() -> tuple[object, list[object]]:
        async with venue(spot_recording, spot_info) as (emu, first):
            config = BrokerConfig(
                rest_url=emu.rest_url, symbols=("ETH/USDT", SPOT_SYMBOL), rate_limit=False
            )
            placed = order("s-1", Side.SELL, OrderType.LIMIT, 0.02, 70000.0)
            return await restarted_lookup(first, BinanceBroker(config, env=ENV), placed)

    assert_found_after_restart(*uvloop.run(scenario()))


@pytest.mark.parametrize("usdm", [False, True], ids=["spot", "usdm"])
def test_cancel_all_when_orders_rest_then_each_listed_cancelled_and_none_left(
    usdm: bool,
    spot_recording: EmulatorRecording,
    usdm_recording: EmulatorRecording,
    spot_info: ExchangeInfo,
    usdm_info: ExchangeInfo,
) -> None:
    symbol = USDM_SYMBOL if usdm else SPOT_SYMBOL
    recording, info = (usdm_recording, usdm_info) if usdm else (spot_recording, spot_info)

    async def scenario() -> tuple[list[object], list[object], int]:
        async with venue(recording, info, usdm=usdm) as (emu, broker):
            cancelled, left = await cancel_all_three(broker, order, symbol)
            assert emu.trading is not None
            return cancelled, left, len(emu.trading.engine.orders)

    assert_all_cancelled(*uvloop.run(scenario()))


def test_usdm_when_bought_then_long_position_at_vwap_and_a_sale_reduces_it(
    usdm_recording: EmulatorRecording, usdm_info: ExchangeInfo
) -> None:
    async def scenario() -> dict[str, object]:
        async with venue(usdm_recording, usdm_info, usdm=True) as (emu, broker):
            out: dict[str, object] = {"asks": emu.depth_snapshot(50)["asks"]}
            out["buy"] = await broker.place_order(
                order("f-1", Side.BUY, OrderType.MARKET, 0.5, symbol=USDM_SYMBOL)
            )
            out["long"] = await broker.get_positions()
            out["bids"] = emu.depth_snapshot(50)["bids"]
            out["sell"] = await broker.place_order(
                order("f-2", Side.SELL, OrderType.MARKET, 0.2, symbol=USDM_SYMBOL)
            )
            out["reduced"] = await broker.get_positions()
            with pytest.raises(InvalidOrderError, match="ReduceOnly"):
                await broker.place_order(
                    order(
                        "f-3",
                        Side.SELL,
                        OrderType.MARKET,
                        0.5,
                        symbol=USDM_SYMBOL,
                        reduce_only=True,
                    )
                )
            return out

    out = uvloop.run(scenario())
    buys = walk(out["asks"], Decimal("0.5"))  # type: ignore[arg-type]
    entry = sum(p * q for p, q in buys) / Decimal("0.5")
    [long] = out["long"]  # type: ignore[misc]
    assert long.symbol == USDM_SYMBOL and long.quantity == 0.5
    assert math.isclose(long.average_price, float(entry), rel_tol=1e-12)
    assert out["sell"].status is OrderStatus.FILLED  # type: ignore[attr-defined]
    [reduced] = out["reduced"]  # type: ignore[misc]
    assert reduced.quantity == pytest.approx(0.3, abs=1e-12)
    assert math.isclose(reduced.average_price, float(entry), rel_tol=1e-12)


@pytest.mark.parametrize("usdm", [False, True], ids=["spot", "usdm"])
def test_post_only_when_it_would_take_then_refused_as_invalid_order(
    usdm: bool,
    spot_recording: EmulatorRecording,
    usdm_recording: EmulatorRecording,
    spot_info: ExchangeInfo,
    usdm_info: ExchangeInfo,
) -> None:
    symbol = USDM_SYMBOL if usdm else SPOT_SYMBOL
    recording, info = (usdm_recording, usdm_info) if usdm else (spot_recording, spot_info)

    async def scenario() -> int:
        async with venue(recording, info, usdm=usdm) as (emu, broker):
            best_ask = float(emu.depth_snapshot(1)["asks"][0][0])
            with pytest.raises(InvalidOrderError) as refused:
                await broker.place_order(
                    order("p-1", Side.BUY, OrderType.POST_ONLY, 0.01, best_ask, symbol=symbol)
                )
            assert ("-5022" if usdm else "immediately match") in str(refused.value)
            resting = await broker.place_order(
                order("p-2", Side.BUY, OrderType.POST_ONLY, 0.01, best_ask - 100, symbol=symbol)
            )
            assert resting.status is OrderStatus.ACCEPTED
            assert emu.trading is not None
            return len(emu.trading.engine.orders)

    assert uvloop.run(scenario()) == 1


def test_ioc_limit_when_book_holds_less_then_partial_fill_and_expired(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    async def scenario() -> tuple[list[list[str]], object]:
        trading = trading_config(balances={"USDT": "1000000"})
        async with venue(spot_recording, spot_info, trading=trading) as (emu, broker):
            asks = emu.depth_snapshot(5)["asks"]
            more = float(Decimal(asks[0][1]) + Decimal("0.5"))  # than the best level holds
            ack = await broker.place_order(
                order(
                    "i-1",
                    Side.BUY,
                    OrderType.LIMIT,
                    more,
                    float(asks[0][0]),
                    time_in_force=TimeInForce.IOC,
                )
            )
            return asks, ack

    asks, ack = uvloop.run(scenario())
    best_size = float(asks[0][1])
    assert Decimal(asks[1][0]) > Decimal(asks[0][0])  # the next level is out of the limit
    assert ack.status is OrderStatus.EXPIRED  # type: ignore[attr-defined]
    assert ack.filled_quantity == best_size  # type: ignore[attr-defined]
    assert ack.average_price == float(asks[0][0])  # type: ignore[attr-defined]


def test_place_when_funds_short_or_client_id_in_use_then_final_errors_and_one_order(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    async def scenario() -> int:
        async with venue(spot_recording, spot_info) as (emu, broker):
            with pytest.raises(InsufficientFundsError, match="insufficient balance"):
                await broker.place_order(order("big", Side.BUY, OrderType.MARKET, 5.0))
            await broker.place_order(order("dup", Side.BUY, OrderType.LIMIT, 0.01, 60000.0))
            with pytest.raises(InvalidOrderError, match="Duplicate order sent"):
                await broker.place_order(order("dup", Side.BUY, OrderType.LIMIT, 0.01, 60000.0))
            assert emu.trading is not None
            return len(emu.trading.engine.orders)

    assert uvloop.run(scenario()) == 1


def test_recent_fills_when_a_new_session_asks_then_each_fill_has_its_trade_id_and_client_id(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    async def scenario() -> tuple[list[object], list[tuple[int, str]], bool]:
        async with venue(spot_recording, spot_info) as (emu, first):
            await first.place_order(order("h-1", Side.BUY, OrderType.MARKET, 0.01))
            await first.place_order(order("h-2", Side.SELL, OrderType.MARKET, 0.02))
            config = BrokerConfig(rest_url=emu.rest_url, symbols=(SPOT_SYMBOL,), rate_limit=False)
            async with BinanceBroker(config, env=ENV) as restarted:  # knows no order
                fills = await restarted.get_recent_fills(0)
                capable = has_fill_history(restarted)
            assert emu.trading is not None
            venue_fills = [(f.trade_id, f.client_order_id) for f in emu.trading.engine.fills]
            return fills, venue_fills, capable

    fills, venue_fills, capable = uvloop.run(scenario())
    assert capable
    assert [(int(f.trade_id), f.client_order_id) for f in fills] == venue_fills  # type: ignore[attr-defined]
    assert [(f.side, f.quantity, f.liquidity) for f in fills] == [  # type: ignore[attr-defined]
        (Side.BUY, 0.01, "taker"),
        (Side.SELL, 0.02, "taker"),
    ]
    assert all(f.ts > 0 and f.symbol == SPOT_SYMBOL for f in fills)  # type: ignore[attr-defined]
