"""Helpers of the emulator tests: the recordings as lines, a picows client, a reference book.

The oracle of every test is the recording file itself, read line by line with
:func:`adapters.replay.load_frames` (not the emulator's index of it), and
Binance's documented book procedure applied to it here with ``Decimal`` prices.
"""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from adapters.replay import load_frames

DATA = Path(__file__).resolve().parents[3] / "data"
SPOT = DATA / "binance_spot" / "btcusdt_20240808.gz"
USDM = DATA / "binance_usdm" / "btcusdt_20240808.gz"
COINM = DATA / "binance_coinm" / "btcusd_perp_20240808.gz"
SPOT_STREAMS = "btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker"
#: Seconds any single wait in these tests may take before the test fails.
TIMEOUT_S = 10.0

Levels = list[list[str]]


class RecordedLines:
    """A recording as lines: the snapshot line, and what follows it (what the emulator serves)."""

    def __init__(self, path: Path) -> None:
        lines = [frame for _, frame in load_frames(path)]
        self.snapshot_index = next(i for i, f in enumerate(lines) if b'"stream"' not in f)
        self.lines = lines
        self.served = lines[self.snapshot_index + 1 :]
        self.depth = [f for f in self.served if is_depth(f)]


def is_depth(frame: bytes) -> bool:
    return frame.startswith(b'{"stream":"') and b"@depth" in frame[:48]


def diff_of(frame: bytes) -> dict[str, Any]:
    data = json.loads(frame)["data"]
    assert data["e"] == "depthUpdate"
    return data


def reference_books(
    rec: RecordedLines, wanted: set[int], limit: int
) -> dict[int, tuple[Levels, Levels]]:
    """The top ``limit`` levels of the book right after the update id of each ``wanted``.

    Binance's procedure on the file: the snapshot line, then every depth diff
    in file order whose ``u`` is newer than the book (this includes the diffs
    buffered before the snapshot line).
    """
    snapshot = json.loads(rec.lines[rec.snapshot_index])
    last = snapshot["lastUpdateId"]
    bids: dict[Decimal, list[str]] = {}
    asks: dict[Decimal, list[str]] = {}

    def apply(side: dict[Decimal, list[str]], levels: list[list[str]]) -> None:
        for price, qty in levels:
            if Decimal(qty) == 0:
                side.pop(Decimal(price), None)
            else:
                side[Decimal(price)] = [price, qty]

    out: dict[int, tuple[Levels, Levels]] = {}

    def record() -> None:
        if last in wanted:
            out[last] = (
                [bids[p] for p in sorted(bids, reverse=True)[:limit]],
                [asks[p] for p in sorted(asks)[:limit]],
            )

    apply(bids, snapshot["bids"])
    apply(asks, snapshot["asks"])
    for frame in rec.lines:
        if not is_depth(frame):
            continue
        diff = diff_of(frame)
        if diff["u"] <= last:
            continue
        apply(bids, diff["b"])
        apply(asks, diff["a"])
        last = diff["u"]
        record()
    return out


class Collector(WSListener):  # type: ignore[misc]
    """A picows client that keeps every text frame, its arrival time and the close code."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.arrivals: list[float] = []
        self.close_code: int | None = None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.frames.append(frame.get_payload_as_bytes())
            self.arrivals.append(time.monotonic())
        elif frame.msg_type == WSMsgType.CLOSE:
            self.close_code = int(frame.get_close_code())
            transport.send_close(frame.get_close_code())
            transport.disconnect()


async def connect(url: str) -> tuple[WSTransport, Collector]:
    transport, listener = await ws_connect(Collector, url)
    assert isinstance(listener, Collector)
    return transport, listener


async def collect(url: str) -> Collector:
    """Connect with picows and return what arrived once the server closed the connection."""
    transport, listener = await connect(url)
    try:
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT_S)
    finally:
        transport.disconnect()
    return listener
