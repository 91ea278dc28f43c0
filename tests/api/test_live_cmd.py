"""Live mode (:mod:`api.live_cmd`) against the emulators' trading side, real ccxt on 127.0.0.1.

Each test runs :class:`api.live_cmd.LiveSession` — the venue's feed, the default
strategy, the real connector (ccxt), the private stream and reconciliation —
against :class:`adapters.emulator.BinanceEmulator` or
:class:`adapters.emulator.BybitEmulator` with trading enabled, in one event loop.

Oracles: the emulator's matching engine (its orders and its fills, with its
trade ids and client order ids), never the session's own bookkeeping.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import uvloop

from adapters.binance.config import UserStreamConfig as BinanceStreamConfig
from adapters.bybit.config import UserStreamConfig as BybitStreamConfig
from adapters.emulator import BinanceEmulator, BybitEmulator, EmulatorRecording, load_recording
from adapters.emulator.binance_trading import BinanceTradingConfig
from adapters.emulator.bybit_trading import BybitTradingConfig
from api.brokers import build_venue
from api.live_cmd import LiveSession, LiveUsageError
from engine.config import Config, ReconcileConfig, load_config
from engine.events import EventType, OrderFilled
from engine.orders import Order, OrderStatus, OrderType, Side, TimeInForce
from engine.reconcile import ADOPTED_STRATEGY
from tests.conftest import store_env

ROOT = Path(__file__).resolve().parents[2]
SPOT = ROOT / "data" / "binance_spot" / "btcusdt_20240808.gz"
BINANCE_ENV = {"BINANCE_API_KEY": "live-key-2d9e4c", "BINANCE_SECRET_KEY": "live-secret-8a1f3b7c"}
BYBIT_ENV = {"BYBIT_API_KEY": "live-bybit-key-5e2a", "BYBIT_SECRET_KEY": "live-bybit-secret-c3"}
BALANCES = {"USDT": "1000000", "BTC": "10"}
SYMBOL = "BTC/USDT"


@pytest.fixture(scope="module")
def recording() -> EmulatorRecording:
    return load_recording(SPOT)


def _emulator(venue: str, recording: EmulatorRecording) -> Any:
    if venue == "binance":
        trading = BinanceTradingConfig(
            api_key=BINANCE_ENV["BINANCE_API_KEY"],
            secret_key=BINANCE_ENV["BINANCE_SECRET_KEY"],
            balances=BALANCES,
        )
        return BinanceEmulator(recording, venue="binance", speed=100.0, trading=trading)
    trading_bybit = BybitTradingConfig(
        api_key=BYBIT_ENV["BYBIT_API_KEY"],
        secret_key=BYBIT_ENV["BYBIT_SECRET_KEY"],
        balances=BALANCES,
    )
    return BybitEmulator(recording, venue="bybit-spot", speed=100.0, trading=trading_bybit)


def _config(venue: str, emu: Any, unknown_orders: str = "adopt") -> Config:
    config = load_config(None, env=store_env())
    attr = "binance" if venue == "binance" else "bybit"
    urls = msgspec.structs.replace(
        getattr(config.venues, attr), ws_url=emu.ws_url, rest_url=emu.rest_url
    )
    return msgspec.structs.replace(
        config,
        venues=msgspec.structs.replace(config.venues, **{attr: urls}),
        reconcile=ReconcileConfig(unknown_orders=unknown_orders),
    )


async def _session(venue: str, emu: Any, unknown_orders: str = "adopt") -> LiveSession:
    name, env, stream = (
        ("binance", BINANCE_ENV, BinanceStreamConfig(poll_interval_s=0.05, reconnect_base_s=0.02))
        if venue == "binance"
        else (
            "bybit-spot",
            BYBIT_ENV,
            BybitStreamConfig(poll_interval_s=0.05, reconnect_base_s=0.02),
        )
    )
    return await LiveSession.open(
        _config(venue, emu, unknown_orders), name, [SYMBOL], env=env, stream_config=stream
    )


def _order(cid: str, quantity: float, price: float) -> Order:
    """A GTC limit buy as a strategy's order (the emulator's lot is 0.00001 BTC)."""
    return Order(
        client_order_id=cid,
        symbol=SYMBOL,
        venue="binance",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=quantity,
        price=price,
        time_in_force=TimeInForce.GTC,
        ts_created=0,
        strategy="previous-run",
    )


async def _previous_run_places(venue: str, emu: Any, order: Order) -> None:
    """An earlier process placed ``order`` and ended before hearing anything more of it."""
    name, env = ("binance", BINANCE_ENV) if venue == "binance" else ("bybit-spot", BYBIT_ENV)
    operator = build_venue(name, _config(venue, emu), env, symbols=(SYMBOL,))
    await operator.connect()
    try:
        await operator.connector.place_order(order)
    finally:
        await operator.close()


def _emulator_fills(emu: Any, cids: set[str] | None = None) -> dict[tuple[str, str], Decimal]:
    fills = emu.trading.engine.fills
    return {
        (f.client_order_id, str(f.trade_id)): f.quantity
        for f in fills
        if cids is None or f.client_order_id in cids
    }


def _booked(session: LiveSession) -> list[OrderFilled]:
    return list(session.engine.bus.get_event_history(EventType.ORDER_FILLED))


@pytest.mark.parametrize("venue", ["binance", "bybit"])
def test_live_run_when_strategy_trades_then_every_venue_fill_booked_once(
    venue: str, recording: EmulatorRecording
) -> None:
    async def go() -> tuple[LiveSession, dict[tuple[str, str], Decimal]]:
        async with _emulator(venue, recording) as emu:
            session = await _session(venue, emu)
            if venue == "binance":  # drop the private stream once: it reconnects, we reconcile
                loop = asyncio.get_running_loop()
                loop.call_later(1.5, lambda: loop.create_task(emu.trading.drop_user_streams()))
            await session.run(4.0)
            ours = set(session.engine.execution.orders)
            return session, _emulator_fills(emu, ours)

    session, venue_fills = uvloop.run(go())
    summary = session.summary()
    assert summary["mode"] == "live" and summary["live"]["reconciliations"] >= 1
    assert summary["orders"] > 0, "the strategy placed no order: nothing was checked"
    assert venue_fills, "no order of the session filled at the venue: nothing was checked"
    booked = _booked(session)
    keys = [(f.client_order_id, f.trade_id) for f in booked]
    assert len(keys) == len(set(keys))  # each fill once
    assert set(keys) == set(venue_fills)  # and every fill the venue made
    for fill in booked:
        assert Decimal(repr(fill.quantity)) == venue_fills[(fill.client_order_id, fill.trade_id)]
    assert summary["fills"] == len(venue_fills)
    if venue == "binance":
        assert summary["live"]["stream"]["reconnects"] >= 1
        assert summary["live"]["reconciliations"] >= 2  # on start, and after the reconnect


@pytest.mark.parametrize("policy", ["adopt", "cancel"])
def test_restart_when_previous_session_left_an_order_open_then_adopted_or_cancelled(
    policy: str, recording: EmulatorRecording
) -> None:
    async def go() -> tuple[LiveSession, LiveSession, str, bool]:
        async with _emulator("binance", recording) as emu:
            first = await _session("binance", emu)
            resting: list[str] = []

            def place_resting() -> None:  # the engine's path: tracked, then its gateway
                engine = first.engine
                order = engine.execution.build_order(
                    instrument=engine.instruments.get(SYMBOL),
                    side=Side.BUY,
                    order_type=OrderType.LIMIT,
                    quantity=0.01,
                    price=50000.0,  # far below the market: it rests
                    ts=engine.clock.now_ns(),
                    strategy="test",
                )
                engine.execution.track(order)
                first.gateway.submit_order(order, engine.clock.now_ns())
                resting.append(order.client_order_id)

            asyncio.get_running_loop().call_later(0.3, place_resting)
            await first.run(1.5)
            [cid] = resting
            assert emu.trading is not None
            left_open = any(o.client_order_id == cid for o in emu.trading.engine.open_orders())
            second = await _session("binance", emu, unknown_orders=policy)
            await second.run(1.0)
            still_open = any(o.client_order_id == cid for o in emu.trading.engine.open_orders())
            assert left_open, "the first session's --duration must leave its orders open"
            return first, second, cid, still_open

    first, second, cid, still_open = uvloop.run(go())
    assert first.engine.execution.orders[cid].status is OrderStatus.ACCEPTED
    live = second.summary()["live"]
    order = second.engine.execution.orders[cid]
    assert cid in live["adopted"] and order.strategy == ADOPTED_STRATEGY
    if policy == "adopt":
        assert still_open and order.status is OrderStatus.ACCEPTED
        assert live["cancelled"] == []
    else:
        assert not still_open and order.status is OrderStatus.CANCELLED
        assert cid in live["cancelled"]


@pytest.mark.parametrize("venue", ["binance", "bybit"])
def test_restart_when_a_fill_was_made_while_down_then_booked_once(
    venue: str, recording: EmulatorRecording
) -> None:
    async def go() -> tuple[LiveSession, dict[tuple[str, str], Decimal], Decimal]:
        async with _emulator(venue, recording) as emu:
            await asyncio.sleep(0.3)  # let the replay build a book
            asks = emu.depth_snapshot(5)["asks"] if venue == "binance" else emu.levels()[1]
            # the best ask on the venue's tick (Bybit's 0.1 is coarser than the recording's),
            # for more than the book holds up to it: part fills now, the rest rests
            tick = Decimal("0.01") if venue == "binance" else Decimal("0.1")
            limit = (Decimal(asks[0][0]) / tick).to_integral_value(rounding="ROUND_CEILING") * tick
            size = sum((Decimal(q) for p, q in asks if Decimal(p) <= limit), Decimal(0))
            await _previous_run_places(
                venue, emu, _order("prev-2", float(size + Decimal("0.5")), float(limit))
            )
            for _ in range(100):  # Bybit matches after it answers: wait for the fill
                if down_fills := _emulator_fills(emu, {"prev-2"}):
                    break
                await asyncio.sleep(0.02)
            session = await _session(venue, emu)
            await session.run(1.5)
            # the rest may fill during the session too (the replay crosses it): also booked
            return session, down_fills, _emulator_fills(emu, {"prev-2"})

    session, down_fills, all_fills = uvloop.run(go())
    assert down_fills, "the order did not fill while the session was down: nothing was checked"
    booked = [f for f in _booked(session) if f.client_order_id == "prev-2"]
    keys = [(f.client_order_id, f.trade_id) for f in booked]
    assert len(keys) == len(set(keys))  # each once, under the venue's trade id
    assert set(down_fills) <= set(keys)
    # a later fill may be inferred by a reconciliation that ran before the venue listed it
    # (trade id ``reconcile:...``): what counts is that nothing is booked twice
    filled = sum(all_fills.values(), Decimal(0))
    assert Decimal(repr(sum(f.quantity for f in booked))) == filled
    order = session.engine.execution.orders["prev-2"]
    assert order.strategy == ADOPTED_STRATEGY
    assert Decimal(repr(order.filled_quantity)) == filled


def test_live_open_when_venue_or_symbols_bad_then_usage_error_naming_them() -> None:
    config = load_config(None, env=store_env())

    async def go(venue: str, symbols: list[str]) -> None:
        await LiveSession.open(config, venue, symbols, env=BINANCE_ENV)

    with pytest.raises(LiveUsageError, match="--venue must be one of"):
        uvloop.run(go("kraken", [SYMBOL]))
    with pytest.raises(LiveUsageError, match="--symbols is required"):
        uvloop.run(go("binance", []))


def test_restart_with_the_store_restores_the_open_order_then_reconciles_it(
    recording: EmulatorRecording,
) -> None:
    """The second session finds the first one's resting order in the store, not as unknown."""

    async def go() -> tuple[LiveSession, LiveSession, str, bool]:
        async with _emulator("binance", recording) as emu:
            first = await _session("binance", emu)
            resting: list[str] = []

            def place_resting() -> None:  # the engine's own path: recorded, then sent
                engine = first.engine
                ts = engine.clock.now_ns()
                order = engine.execution.build_order(
                    instrument=engine.instruments.get(SYMBOL),
                    side=Side.BUY,
                    order_type=OrderType.LIMIT,
                    quantity=0.01,
                    price=50000.0,  # far below the market: it rests
                    ts=ts,
                    strategy="test",
                )
                engine._place(order, order.price, ts)
                first.gateway.submit_order(order, ts)
                resting.append(order.client_order_id)

            asyncio.get_running_loop().call_later(0.3, place_resting)
            await first.run(1.5)
            [cid] = resting
            second = await _session("binance", emu)
            await second.run(1.0)
            assert emu.trading is not None
            still_open = any(o.client_order_id == cid for o in emu.trading.engine.open_orders())
            return first, second, cid, still_open

    first, second, cid, still_open = uvloop.run(go())
    summary = second.summary()
    restored = summary["store"]["restored"]
    assert restored["open_orders"] == [cid]
    assert restored["previous_run"] == first.engine.run_id
    assert restored["positions"] == pytest.approx(
        {s: p.quantity for s, p in first.engine.portfolio.positions.items() if p.quantity}
    )
    order = second.engine.execution.orders[cid]
    assert order.strategy == "test" and order.is_open and still_open  # restored, not adopted
    assert cid not in summary["live"]["adopted"] and cid not in summary["live"]["cancelled"]
    assert second.engine.run_id != first.engine.run_id
    assert not any(c.startswith(first.engine.run_id) for c in summary["live"]["adopted"])
