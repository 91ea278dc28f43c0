"""End to end on loopback: a WebSocket server sends a recorded frame, our feed applies it.

A picows server and our :class:`adapters.binance.feed.BinanceFeed` (picows
client, the decoder, the L2 book) run on one uvloop loop over 127.0.0.1.
The server sends one recorded frame (trades, ``bookTicker`` and depth diffs
after the recording's snapshot, which is applied first), the feed decodes it
into the book, and the market-data sink takes the time; the next frame goes
out only after that, so no frame waits in a queue. Latency = sink time − the
time just before ``transport.send`` (``perf_counter_ns``, same process).

Issue 6 target: p50 ≤ 50 µs.

Reproduce::

    .venv/bin/python -m pytest bench/test_bench_feed_latency.py -o addopts= \
        -o testpaths=bench --benchmark-only -q
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import uvloop
from picows import WSListener, WSMsgType, WSTransport, ws_create_server

from adapters.binance import SpotMarketDataDecoder
from adapters.binance.config import FeedConfig
from adapters.binance.feed import BinanceFeed
from adapters.replay import load_frames
from engine.instruments import default_instruments
from engine.market import SymbolMarket

DATA = Path(__file__).resolve().parents[1] / "data" / "binance_spot" / "btcusdt_20240808.gz"
N = 5_000


class _Sink:
    def __init__(self) -> None:
        self.t = 0
        self.seen = 0

    def _hit(self) -> None:
        self.t = time.perf_counter_ns()
        self.seen += 1

    def on_trade(self, market: SymbolMarket, ts_recv: int) -> None:
        self._hit()

    def on_book(self, market: SymbolMarket, ts_recv: int) -> None:
        self._hit()

    def on_ticker(self, market: SymbolMarket, ts_recv: int) -> None:
        self._hit()


class _Server(WSListener):  # type: ignore[misc]
    transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        _Server.transport = transport


def _split_at_snapshot() -> tuple[list[bytes], bytes, list[bytes]]:
    """Frames before the REST snapshot, the snapshot, and the frames after it that apply."""
    frames = load_frames(DATA)
    i = next(i for i, (_, f) in enumerate(frames) if b'"stream"' not in f[:20])
    snapshot = frames[i][1]
    last_id = orjson.loads(snapshot)["lastUpdateId"]
    out = []
    for _, f in frames[i + 1 :]:
        if b"depthUpdate" in f and orjson.loads(f)["data"]["u"] <= last_id:
            continue  # stale: the decoder drops it and calls no sink
        out.append(f)
    return [f for _, f in frames[:i]], snapshot, out


async def _measure(n: int) -> np.ndarray:
    before, snapshot, frames = _split_at_snapshot()
    frames = frames[:n]
    instrument = default_instruments().get("BTC/USDT")
    market = SymbolMarket(instrument, 8192, 1024)
    sink = _Sink()
    decoder = SpotMarketDataDecoder({"BTCUSDT": market}, sink)
    decoder.warm_up()
    for frame in before:  # buffered diffs newer than the snapshot apply on top of it
        decoder.on_frame(time.time_ns(), frame)
    decoder.on_snapshot("BTCUSDT", time.time_ns(), snapshot)
    assert market.book.in_sync
    server = await ws_create_server(lambda _request: _Server(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    cfg = FeedConfig(ws_url=f"ws://127.0.0.1:{port}", rest_url=f"http://127.0.0.1:{port}")
    feed = BinanceFeed(decoder, ["BTCUSDT"], cfg)
    stop = asyncio.Event()
    task = asyncio.create_task(feed.run(stop))
    while _Server.transport is None or not feed.stats.connected:
        await asyncio.sleep(0.001)
    transport = _Server.transport
    out = np.full(len(frames), -1, np.int64)
    for i, frame in enumerate(frames):
        seen = sink.seen
        t0 = time.perf_counter_ns()
        transport.send(WSMsgType.TEXT, frame)
        for _ in range(100_000):  # bounded: a frame that changes nothing is skipped
            if sink.seen != seen:
                out[i] = sink.t - t0
                break
            await asyncio.sleep(0)
    stop.set()
    await task
    server.close()
    await server.wait_closed()
    return out


def test_bench_feed_end_to_end_latency(bench: Any) -> None:
    samples: dict[str, np.ndarray] = {}

    def run() -> None:
        samples["ns"] = uvloop.run(_measure(N))

    bench.pedantic(run, rounds=1, iterations=1)
    ns = samples["ns"]
    assert np.count_nonzero(ns > 0) > 0.99 * ns.size, "frames the book never saw"
    ns = ns[ns > 0]
    for q in (50, 90, 99):
        bench.extra_info[f"latency_p{q}_ns"] = int(np.percentile(ns, q))
    bench.extra_info["frames"] = int(ns.size)
