"""The user data stream against the emulator: fills once, REST fallback, keep-alive, replay fills.

Oracle: the emulator's account (its fills, with their trade ids and
quantities) — every fill it made is booked by the stream's sink exactly once,
whether the stream delivered it (twice, with duplicates on), the REST poll
found it while the stream was down, or both saw it.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
import pytest
import uvloop

from adapters.binance.config import UserStreamConfig
from adapters.binance.userstream import BinanceUserStream
from adapters.emulator import EmulatorRecording
from adapters.emulator.binance_trading import ExchangeInfo
from engine.orders import OrderStatus, OrderType, Side
from tests.adapters.binance_broker._support import (
    SPOT_SYMBOL,
    TIMEOUT_S,
    USDM_SYMBOL,
    Sink,
    order,
    trading_config,
    venue,
)
from tests.adapters.broker_support import until


@pytest.mark.parametrize("usdm", [False, True], ids=["spot", "usdm"])
def test_fill_when_every_event_is_sent_twice_then_booked_once_with_its_trade_id(
    usdm: bool,
    spot_recording: EmulatorRecording,
    usdm_recording: EmulatorRecording,
    spot_info: ExchangeInfo,
    usdm_info: ExchangeInfo,
) -> None:
    symbol = USDM_SYMBOL if usdm else SPOT_SYMBOL
    recording, info = (usdm_recording, usdm_info) if usdm else (spot_recording, spot_info)
    trading = trading_config(duplicate_user_events=True)

    async def scenario() -> tuple[Sink, BinanceUserStream, list[tuple[int, Decimal]]]:
        async with venue(recording, info, usdm=usdm, trading=trading) as (emu, broker):
            sink, stop = Sink(), asyncio.Event()
            stream = BinanceUserStream(broker, sink)
            task = asyncio.create_task(stream.run(stop))
            await asyncio.wait_for(stream.connected.wait(), TIMEOUT_S)
            await broker.place_order(order("d-1", Side.BUY, OrderType.MARKET, 0.3, symbol=symbol))
            # NEW, TRADE(s) and the account update, each twice
            await until(lambda: bool(sink.accounts) and stream.stats.frames >= 6, "the events")
            stop.set()
            await task
            assert emu.trading is not None
            fills = [(f.trade_id, f.quantity) for f in emu.trading.engine.fills]
            return sink, stream, fills

    sink, stream, venue_fills = uvloop.run(scenario())
    assert [(f.fill_id, Decimal(repr(f.quantity))) for f in sink.fills] == venue_fills
    assert [f.trade_id for f in sink.fills] == [str(t) for t, _ in venue_fills]
    assert {f.client_order_id for f in sink.fills} == {"d-1"}
    assert all(f.liquidity == "TAKER" and f.symbol == symbol for f in sink.fills)
    # each fill carries the order's cumulative quantity (the stream's "z"), the second key
    # that keeps a fill seen by reconciliation and again on the stream from being booked twice
    running = 0.0
    for f in sink.fills:
        running += f.quantity
        assert f.cumulative_quantity == pytest.approx(running, abs=1e-12)
    assert stream.stats.duplicate_fills == len(venue_fills)
    assert [u.ack.status for u in sink.updates] == [OrderStatus.ACCEPTED, OrderStatus.FILLED]
    assert sink.updates[-1].ack.filled_quantity == 0.3


def test_fill_while_stream_down_then_poll_books_it_once_and_the_reconnect_does_not_rebook(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    async def scenario() -> tuple[Sink, BinanceUserStream, list[int]]:
        async with venue(spot_recording, spot_info) as (emu, broker):
            assert emu.trading is not None
            sink, stop = Sink(), asyncio.Event()
            stream = BinanceUserStream(broker, sink)
            task = asyncio.create_task(stream.run(stop))
            await asyncio.wait_for(stream.connected.wait(), TIMEOUT_S)
            emu.trading.block_user_streams = True
            assert await emu.trading.drop_user_streams() == 1
            await until(lambda: not stream.connected.is_set(), "the stream to drop")
            await broker.place_order(order("w-1", Side.BUY, OrderType.MARKET, 0.01))
            await until(lambda: len(sink.fills) == 1, "the polled fill")
            emu.trading.block_user_streams = False
            await asyncio.wait_for(stream.connected.wait(), TIMEOUT_S)
            await broker.place_order(order("w-2", Side.BUY, OrderType.MARKET, 0.02))
            await until(lambda: len(sink.fills) == 2, "the streamed fill")
            polls = stream.stats.polls
            await until(lambda: stream.stats.frames >= 3, "the stream's events")
            stop.set()
            await task
            assert stream.stats.polls == polls  # no poll while the stream was up
            return sink, stream, [f.trade_id for f in emu.trading.engine.fills]

    sink, stream, trade_ids = uvloop.run(scenario())
    assert [f.fill_id for f in sink.fills] == trade_ids
    assert [(f.client_order_id, f.quantity) for f in sink.fills] == [("w-1", 0.01), ("w-2", 0.02)]
    # w-1 was booked by the poll; w-2 by the stream, or by the reconnect's catch-up poll when
    # that poll ran after w-2 filled (a race the test does not control): once either way
    assert stream.stats.poll_fills in (1, 2) and stream.stats.connects == 2
    assert stream.stats.fills == 2


def test_cancel_when_streamed_then_the_update_names_our_order_not_the_cancel_request(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    async def scenario() -> Sink:
        async with venue(spot_recording, spot_info) as (_emu, broker):
            sink, stop = Sink(), asyncio.Event()
            stream = BinanceUserStream(broker, sink)
            task = asyncio.create_task(stream.run(stop))
            await asyncio.wait_for(stream.connected.wait(), TIMEOUT_S)
            await broker.place_order(order("k-1", Side.BUY, OrderType.LIMIT, 0.01, 60000.0))
            await broker.cancel_order("k-1")
            await until(lambda: len(sink.updates) == 2, "the cancel")
            stop.set()
            await task
            return sink

    sink = uvloop.run(scenario())
    assert [(u.ack.client_order_id, u.ack.status) for u in sink.updates] == [
        ("k-1", OrderStatus.ACCEPTED),
        ("k-1", OrderStatus.CANCELLED),
    ]


def test_resting_order_when_the_replay_trades_through_it_then_maker_fills_arrive_on_the_stream(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    async def scenario() -> tuple[Sink, object, list[bytes], str]:
        async with (
            venue(spot_recording, spot_info) as (emu, broker),
            aiohttp.ClientSession() as http,
        ):
            sink, stop = Sink(), asyncio.Event()
            stream = BinanceUserStream(broker, sink)
            task = asyncio.create_task(stream.run(stop))
            await asyncio.wait_for(stream.connected.wait(), TIMEOUT_S)
            bid = emu.depth_snapshot(1)["bids"][0][0]
            await broker.place_order(order("r-1", Side.BUY, OrderType.LIMIT, 0.05, float(bid)))
            frames: list[bytes] = []
            # a raw market-data client makes the replay advance
            async with http.ws_connect(f"{emu.ws_url}/ws/btcusdt@trade") as md:

                async def read() -> None:
                    async for msg in md:
                        frames.append(msg.data.encode())

                reader = asyncio.create_task(read())
                await until(
                    lambda: (
                        bool(sink.updates) and sink.updates[-1].ack.status is OrderStatus.FILLED
                    ),
                    "the resting order to fill",
                )
                reader.cancel()
            final = await broker.get_order("r-1")
            stop.set()
            await task
            return sink, final, frames, bid

    sink, final, frames, bid = uvloop.run(scenario())
    assert final.status is OrderStatus.FILLED  # type: ignore[attr-defined]
    assert {(f.liquidity, f.price) for f in sink.fills} == {("MAKER", float(bid))}
    assert sum(Decimal(repr(f.quantity)) for f in sink.fills) == Decimal("0.05")
    first = json.loads(frames[0])
    assert first["e"] == "trade" and "stream" not in first  # raw stream: no wrapper


def test_keepalive_when_keys_live_shortly_then_one_key_kept_alive_without_it_a_new_key(
    spot_recording: EmulatorRecording, spot_info: ExchangeInfo
) -> None:
    short = trading_config(listen_key_ttl_s=0.8)  # kept alive every 0.1 s: 7 misses to lose it

    async def scenario(keepalive_s: float) -> tuple[BinanceUserStream, int, Sink]:
        async with venue(
            spot_recording,
            spot_info,
            trading=short,
            user_stream=UserStreamConfig(
                keepalive_s=keepalive_s, poll_interval_s=0.05, reconnect_base_s=0.02
            ),
        ) as (emu, broker):
            assert emu.trading is not None
            sink, stop = Sink(), asyncio.Event()
            stream = BinanceUserStream(broker, sink)
            task = asyncio.create_task(stream.run(stop))
            await asyncio.wait_for(stream.connected.wait(), TIMEOUT_S)
            if keepalive_s < 1:
                await until(lambda: stream.stats.keepalives >= 12, "1.5 TTLs of keep-alives")
            else:
                await until(lambda: stream.stats.listen_keys >= 2, "a new listen key")
                await asyncio.wait_for(stream.connected.wait(), TIMEOUT_S)
            await broker.place_order(order("a-1", Side.BUY, OrderType.MARKET, 0.01))
            await until(lambda: len(sink.fills) == 1, "the fill")
            stop.set()
            await task
            return stream, emu.trading.stats.listen_keys, sink

    kept, kept_keys, _ = uvloop.run(scenario(0.1))
    assert (kept.stats.listen_keys, kept.stats.connects, kept_keys) == (1, 1, 1)
    lapsed, lapsed_keys, sink = uvloop.run(scenario(60.0))
    assert lapsed.stats.listen_keys >= 2 and lapsed_keys >= 2 and lapsed.stats.connects >= 2
    assert [f.client_order_id for f in sink.fills] == ["a-1"]
