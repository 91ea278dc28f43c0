"""Each fault does what it says, counted, deterministic given the seed; REST stays correct.

The expected stream is built from the recording file by the rule stated in
:class:`adapters.emulator.FaultConfig` (the k-th frame of the connection's
stream, 1-based). Most tests subscribe to the depth stream only (3,448 diffs)
to stay fast.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import uvloop

from adapters.emulator import BinanceEmulator, EmulatorRecording, FaultConfig, FaultConfigError
from adapters.emulator.server import EmulatorStats
from tests.adapters.emulator._support import (
    SPOT_STREAMS,
    TIMEOUT_S,
    Collector,
    RecordedLines,
    collect,
    connect,
    diff_of,
    reference_books,
)

DEPTH = "btcusdt@depth@100ms"


def serve(
    rec: EmulatorRecording, faults: FaultConfig, streams: str = DEPTH
) -> tuple[Collector, EmulatorStats]:
    async def scenario() -> tuple[Collector, EmulatorStats]:
        async with BinanceEmulator(rec, faults=faults, fast=True, close_at_end=True) as emu:
            got = await collect(f"{emu.ws_url}/stream?streams={streams}")
            return got, emu.stats

    return uvloop.run(scenario())


def is_json(frame: bytes) -> bool:
    try:
        json.loads(frame)
    except ValueError:
        return False
    return True


def chain_breaks(frames: list[bytes]) -> list[int]:
    """Positions where a spot diff does not continue the previous one (``U != prev u + 1``)."""
    diffs = [diff_of(f) for f in frames]
    return [i for i in range(1, len(diffs)) if diffs[i]["U"] != diffs[i - 1]["u"] + 1]


def test_drop_every_when_10_then_every_tenth_frame_missing_and_counted(
    spot: EmulatorRecording, spot_lines: RecordedLines
) -> None:
    got, stats = serve(spot, FaultConfig(drop_every=10))
    depth = spot_lines.depth
    assert got.frames == [f for k, f in enumerate(depth, 1) if k % 10 != 0]
    assert len(depth) == 3448  # the 3,451 diffs of the file less the 3 before the snapshot
    assert stats.dropped == len(depth) // 10
    assert stats.frames_sent == len(got.frames)


def test_drop_prob_when_same_seed_then_same_drops_and_about_p_of_the_frames(
    spot: EmulatorRecording, spot_lines: RecordedLines
) -> None:
    first, stats = serve(spot, FaultConfig(drop_prob=0.1, seed=7))
    again, _ = serve(spot, FaultConfig(drop_prob=0.1, seed=7))
    other, _ = serve(spot, FaultConfig(drop_prob=0.1, seed=8))
    depth = spot_lines.depth
    assert first.frames == again.frames != other.frames
    assert len(first.frames) + stats.dropped == len(depth)
    assert 0.07 * len(depth) < stats.dropped < 0.13 * len(depth)  # ±4 standard deviations
    kept = iter(depth)  # what arrives is the recording with frames left out, in order
    assert all(any(f == g for g in kept) for f in first.frames)


def test_duplicate_every_when_100_then_each_hundredth_frame_sent_twice(
    spot: EmulatorRecording, spot_lines: RecordedLines
) -> None:
    got, stats = serve(spot, FaultConfig(duplicate_every=100))
    expected = []
    for k, frame in enumerate(spot_lines.depth, 1):
        expected += [frame, frame] if k % 100 == 0 else [frame]
    assert got.frames == expected
    assert stats.duplicated == len(spot_lines.depth) // 100 == 34
    assert stats.frames_sent == len(spot_lines.depth) + 34


def test_reorder_every_when_50_then_frame_50_swapped_with_51(
    spot: EmulatorRecording, spot_lines: RecordedLines
) -> None:
    got, stats = serve(spot, FaultConfig(reorder_every=50))
    expected = list(spot_lines.depth)
    for k in range(50, len(expected), 50):
        expected[k - 1], expected[k] = expected[k], expected[k - 1]
    assert got.frames == expected
    assert stats.reordered == (len(expected) - 1) // 50 == 68


def test_corrupt_every_when_25_then_those_frames_are_not_json_and_the_rest_unchanged(
    spot: EmulatorRecording, spot_lines: RecordedLines
) -> None:
    got, stats = serve(spot, FaultConfig(corrupt_every=25, seed=3))
    depth = spot_lines.depth
    assert len(got.frames) == len(depth)
    kinds = set()
    for k, (sent, original) in enumerate(zip(got.frames, depth, strict=True), 1):
        if k % 25:
            assert sent == original
            continue
        assert not is_json(sent)
        if len(sent) < len(original):
            assert original.startswith(sent)
            kinds.add("truncated")
        else:
            changed = [i for i in range(len(sent)) if sent[i] != original[i]]
            assert len(changed) == 1 and original[changed[0]] == ord('"')
            kinds.add("garbled")
    assert kinds == {"truncated", "garbled"}
    assert stats.corrupted == len(depth) // 25


def test_gap_at_when_10_then_exactly_the_tenth_diff_missing_one_chain_break(
    spot: EmulatorRecording, spot_lines: RecordedLines
) -> None:
    got, stats = serve(spot, FaultConfig(gap_at=10), streams=SPOT_STREAMS)
    served = spot_lines.served
    tenth = served.index(spot_lines.depth[9])
    assert got.frames == served[:tenth] + served[tenth + 1 :]
    depth_got = [f for f in got.frames if f.startswith(b'{"stream":"btcusdt@depth')]
    assert chain_breaks(depth_got) == [9]
    assert stats.gaps == 1 and stats.dropped == 0


def test_disconnect_after_when_100_then_closed_after_100_and_reconnect_continues(
    spot: EmulatorRecording, spot_lines: RecordedLines
) -> None:
    async def scenario() -> tuple[Collector, Collector, EmulatorStats]:
        faults = FaultConfig(disconnect_after=100)
        async with BinanceEmulator(spot, faults=faults, fast=True, close_at_end=True) as emu:
            url = f"{emu.ws_url}/stream?streams={SPOT_STREAMS}"
            first = await collect(url)
            second = await collect(url)
            return first, second, emu.stats

    first, second, stats = uvloop.run(scenario())
    served = spot_lines.served
    assert first.close_code == 1001
    assert first.frames == served[:100]
    assert second.frames == served[100:]  # fresh stream from the current position, once
    assert second.close_code == 1000
    assert stats.disconnects == 1 and stats.connections == 2


def test_stall_after_when_set_then_silent_for_stall_s_connection_open_rest_correct(
    spot: EmulatorRecording, spot_lines: RecordedLines
) -> None:
    stall_s = 0.3

    async def scenario() -> tuple[Collector, Any, EmulatorStats, bool]:
        faults = FaultConfig(stall_after=3000, stall_s=stall_s)
        async with (
            BinanceEmulator(spot, faults=faults, fast=True, close_at_end=True) as emu,
            aiohttp.ClientSession() as http,
        ):
            transport, got = await connect(f"{emu.ws_url}/stream?streams={SPOT_STREAMS}")
            try:
                async with asyncio.timeout(TIMEOUT_S):
                    while len(got.frames) < 3000:
                        await asyncio.sleep(0.002)
                url = f"{emu.rest_url}/api/v3/depth?symbol=BTCUSDT&limit=1000"
                async with http.get(url) as resp:
                    body = await resp.json()
                open_during_stall = not transport.is_disconnected
                await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT_S)
            finally:
                transport.disconnect()
            return got, body, emu.stats, open_during_stall

    got, body, stats, open_during_stall = uvloop.run(scenario())
    served = spot_lines.served
    assert got.frames == served  # nothing lost: the only client paused the replay
    assert open_during_stall and stats.stalls == 1
    pause = got.arrivals[3000] - got.arrivals[2999]
    assert stall_s * 0.9 <= pause < stall_s + 2.0
    assert max(b - a for a, b in zip(got.arrivals[3000:], got.arrivals[3001:], strict=False)) < 0.2
    # the REST book is the one after the diffs among the 3,000 frames served
    depth_served = [f for f in served[:3000] if f.startswith(b'{"stream":"btcusdt@depth')]
    last = diff_of(depth_served[-1])["u"]
    assert body["lastUpdateId"] == last
    nxt = next(f for f in served[3000:] if f.startswith(b'{"stream":"btcusdt@depth'))
    assert diff_of(nxt)["U"] == last + 1
    assert (body["bids"], body["asks"]) == reference_books(spot_lines, {last}, 1000)[last]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("drop_every", -1, "drop_every must be >= 0 (0 = off), was -1"),
        ("drop_prob", 1.5, "drop_prob must be in [0, 1], was 1.5"),
        ("stall_s", -0.1, "stall_s must be >= 0, was -0.1"),
    ],
)
def test_fault_config_when_out_of_range_then_error_names_field_and_value(
    field: str, value: float, message: str
) -> None:
    with pytest.raises(FaultConfigError) as info:
        FaultConfig(**{field: value})
    assert str(info.value) == message
