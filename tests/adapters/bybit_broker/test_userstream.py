"""The private stream (real aiohttp client) against the emulator's ``/v5/private``.

Oracle: the emulator's own fills (its ``/v5/execution/list`` rows and its
engine): every fill the venue made is booked exactly once, whether the stream
delivered it (twice, with ``duplicate_private_events``) or the REST poll found
it while the stream was down.
"""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from adapters.bybit.config import UserStreamConfig
from adapters.bybit.userstream import BybitUserStream, fill_number
from adapters.emulator import EmulatorRecording
from adapters.emulator.bybit_trading import InstrumentsInfo
from engine.orders import OrderStatus, OrderType, Side
from tests.adapters.broker_support import until
from tests.adapters.bybit_broker._support import (
    API_KEY,
    LINEAR_SYMBOL,
    SECRET,
    SPOT_SYMBOL,
    TIMEOUT_S,
    Sink,
    order,
    trading_config,
    venue,
)


@pytest.mark.parametrize("linear", [False, True], ids=["spot", "linear"])
def test_fill_when_streamed_twice_then_booked_once_with_the_venue_exec_id(
    linear: bool,
    spot_recording: EmulatorRecording,
    usdm_recording: EmulatorRecording,
    instruments: InstrumentsInfo,
) -> None:
    symbol = LINEAR_SYMBOL if linear else SPOT_SYMBOL

    async def scenario() -> tuple[Sink, list[dict[str, object]], BybitUserStream]:
        trading = trading_config(duplicate_private_events=True)
        async with venue(
            usdm_recording if linear else spot_recording,
            instruments,
            linear=linear,
            trading=trading,
        ) as (_emu, broker):
            sink, stop = Sink(), asyncio.Event()
            stream = BybitUserStream(broker, sink)
            task = asyncio.create_task(stream.run(stop))
            await asyncio.wait_for(stream.connected.wait(), TIMEOUT_S)
            await broker.place_order(order("u-1", Side.BUY, OrderType.MARKET, 0.3, symbol=symbol))
            await until(lambda: any(u.ack.status is OrderStatus.FILLED for u in sink.updates))
            await asyncio.sleep(0.05)  # let any late duplicate arrive
            rows = await broker.fetch_executions(symbol)
            stop.set()
            await task
            return sink, rows, stream

    sink, rows, stream = uvloop.run(scenario())
    assert len(rows) >= 1  # the emulator's fills of u-1 (newest first)
    assert sorted(f.trade_id for f in sink.fills) == sorted(str(r["execId"]) for r in rows)
    assert {f.fill_id for f in sink.fills} == {fill_number(str(r["execId"])) for r in rows}
    assert sum(f.quantity for f in sink.fills) == pytest.approx(0.3, abs=1e-12)
    assert all(f.client_order_id == "u-1" and f.symbol == symbol for f in sink.fills)
    # each fill carries the order's cumulative quantity (orderQty - leavesQty)
    assert max(f.cumulative_quantity or 0.0 for f in sink.fills) == pytest.approx(0.3, abs=1e-12)
    assert all(f.cumulative_quantity is not None for f in sink.fills)
    assert [u.ack.status for u in sink.updates] == [OrderStatus.ACCEPTED, OrderStatus.FILLED]
    assert stream.stats.duplicate_fills >= len(rows)  # every streamed copy was dropped
    assert sink.accounts, "wallet (and position) updates arrive too"


def test_fill_when_made_while_the_stream_was_down_then_booked_once_by_the_rest_poll(
    spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    async def scenario() -> tuple[Sink, list[dict[str, object]], BybitUserStream]:
        async with venue(spot_recording, instruments) as (emu, broker):
            assert emu.trading is not None
            sink, stop = Sink(), asyncio.Event()
            stream = BybitUserStream(broker, sink)
            task = asyncio.create_task(stream.run(stop))
            await asyncio.wait_for(stream.connected.wait(), TIMEOUT_S)
            await broker.place_order(order("d-1", Side.BUY, OrderType.MARKET, 0.01))
            await until(lambda: len(sink.fills) == 1)
            emu.trading.block_private_streams = True  # down, and it cannot come back
            await emu.trading.drop_private_streams()
            await until(lambda: not stream.connected.is_set())
            await broker.place_order(order("d-2", Side.SELL, OrderType.MARKET, 0.02))
            await until(lambda: stream.stats.poll_fills >= 1)
            emu.trading.block_private_streams = False
            await until(lambda: stream.stats.connects == 2)  # reconnected, caught up
            await asyncio.sleep(0.1)  # a poll on reconnect and any late frame
            rows = await broker.fetch_executions(SPOT_SYMBOL)
            stop.set()
            await task
            return sink, rows, stream

    sink, rows, stream = uvloop.run(scenario())
    assert sorted(f.trade_id for f in sink.fills) == sorted(str(r["execId"]) for r in rows)
    by_order = {f.client_order_id: f.quantity for f in sink.fills}
    assert by_order == {"d-1": 0.01, "d-2": 0.02}
    assert stream.stats.poll_fills == 1
    assert stream.stats.disconnects == 2  # the drop, then the stop
    assert stream.stats.polls >= 2  # while down, and again before reading after the reconnect


def test_auth_when_secret_wrong_then_refused_never_connected_and_retried(
    spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    async def scenario() -> tuple[BybitUserStream, int]:
        async with venue(spot_recording, instruments) as (emu, broker):
            assert emu.trading is not None
            sink, stop = Sink(), asyncio.Event()
            broker._credentials._secret = SECRET + "x"  # the stream signs with a bad secret
            stream = BybitUserStream(broker, sink)
            task = asyncio.create_task(stream.run(stop))
            await until(lambda: stream.stats.auth_failures >= 2)
            stop.set()
            await task
            return stream, emu.trading.stats.auth_failures

    stream, refused = uvloop.run(scenario())
    assert stream.stats.connects == 0 and not stream.connected.is_set()
    assert refused >= 2 and stream.stats.connect_failures >= 2
    assert API_KEY not in repr(stream.stats)


def test_ping_when_interval_passes_then_sent_and_the_venue_pongs(
    spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    async def scenario() -> BybitUserStream:
        async with venue(spot_recording, instruments) as (_emu, broker):
            sink, stop = Sink(), asyncio.Event()
            stream = BybitUserStream(broker, sink, UserStreamConfig(ping_interval_s=0.02))
            task = asyncio.create_task(stream.run(stop))
            await until(lambda: stream.stats.pongs >= 3)
            stop.set()
            await task
            return stream

    stream = uvloop.run(scenario())
    assert stream.stats.pings >= stream.stats.pongs >= 3
    assert stream.stats.bad_frames == 0


def test_pongs_when_they_stop_then_the_connection_is_made_again(
    spot_recording: EmulatorRecording, instruments: InstrumentsInfo
) -> None:
    async def scenario() -> BybitUserStream:
        async with venue(spot_recording, instruments) as (emu, broker):
            assert emu.trading is not None
            sink, stop = Sink(), asyncio.Event()
            config = UserStreamConfig(ping_interval_s=0.02, reconnect_base_s=0.01)
            stream = BybitUserStream(broker, sink, config)
            task = asyncio.create_task(stream.run(stop))
            await until(lambda: stream.stats.pongs >= 1)
            emu.trading.answer_pings = False  # the venue goes silent
            await until(lambda: stream.stats.connects >= 2)
            stop.set()
            await task
            return stream

    stream = uvloop.run(scenario())
    assert stream.stats.disconnects >= 2 and stream.stats.connects >= 2
