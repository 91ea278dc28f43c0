"""BinanceEmulator without faults: the WebSocket stream, subscriptions, the REST snapshot, timing.

Oracles: the recording file's lines (frames must arrive byte for byte, in file
order) and Binance's documented book procedure applied to the file
(:func:`reference_books`): the REST answer must equal the book after the
diffs served so far, and the next diff served must straddle its
``lastUpdateId`` (spot ``U == lastUpdateId + 1``, futures ``pu == lastUpdateId``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import uvloop

from adapters.emulator import BinanceEmulator, EmulatorError, EmulatorRecording, FaultConfig
from tests.adapters.emulator._support import (
    COINM,
    SPOT_STREAMS,
    TIMEOUT_S,
    RecordedLines,
    collect,
    connect,
    diff_of,
    is_depth,
    reference_books,
)


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as resp:
        return resp.status, await resp.json()


def test_stream_when_streams_in_url_then_every_recorded_frame_arrives_unchanged_in_order(
    spot: EmulatorRecording, spot_lines: RecordedLines
) -> None:
    async def scenario() -> tuple[list[bytes], Any]:
        async with BinanceEmulator(spot, fast=True, close_at_end=True) as emu:
            got = await collect(f"{emu.ws_url}/stream?streams={SPOT_STREAMS}")
            return got.frames, emu.stats

    frames, stats = uvloop.run(scenario())
    assert len(frames) == len(spot_lines.served) == 41_241
    assert frames == spot_lines.served
    assert stats.frames_served == stats.frames_sent == len(frames)
    assert stats.done
    assert stats.dropped == stats.gaps == stats.disconnects == 0


def test_stream_when_subscribe_message_then_result_null_and_only_those_streams_in_order(
    spot: EmulatorRecording, spot_lines: RecordedLines
) -> None:
    async def scenario() -> list[str]:
        async with (
            BinanceEmulator(spot, fast=True, close_at_end=True) as emu,
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{emu.ws_url}/stream") as ws,
        ):
            # other speeds and an upper-case symbol still name the recording's streams
            await ws.send_str(
                '{"method":"SUBSCRIBE","params":["BTCUSDT@depth@0ms","btcusdt@trade"],"id":1}'
            )
            return [msg.data async for msg in ws if msg.type == aiohttp.WSMsgType.TEXT]

    texts = uvloop.run(scenario())
    assert json.loads(texts[0]) == {"result": None, "id": 1}
    wanted = [
        f for f in spot_lines.served if is_depth(f) or f.startswith(b'{"stream":"btcusdt@trade"')
    ]
    assert [t.encode() for t in texts[1:]] == wanted


def test_requests_when_unknown_stream_list_unsubscribe_bad_json_then_answered_and_silent(
    spot: EmulatorRecording,
) -> None:
    async def scenario() -> tuple[list[Any], int]:
        async with (
            BinanceEmulator(spot, fast=True) as emu,
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{emu.ws_url}/stream?streams=ethusdt@trade") as ws,
        ):
            answers = []
            for text in (
                '{"method":"LIST_SUBSCRIPTIONS","id":7}',
                '{"method":"UNSUBSCRIBE","params":["ETHUSDT@trade"],"id":8}',
                '{"method":"LIST_SUBSCRIPTIONS","id":9}',
                '{"method":"SUBSCRIBE","params":[',
                '{"method":"FLY","id":10}',
            ):
                await ws.send_str(text)
                answers.append(json.loads(await ws.receive_str(timeout=TIMEOUT_S)))
            return answers, emu.stats.frames_served

    answers, served = uvloop.run(scenario())
    assert answers[0] == {"result": ["ethusdt@trade"], "id": 7}
    assert answers[1] == {"result": None, "id": 8}
    assert answers[2] == {"result": [], "id": 9}
    assert answers[3]["error"]["code"] == 3
    assert answers[4]["error"]["code"] == 2 and answers[4]["id"] == 10
    assert served == 0  # a stream the recording lacks does not start the replay


def test_rest_when_no_client_yet_then_replay_waits_and_snapshot_is_the_start_book(
    spot: EmulatorRecording, spot_lines: RecordedLines
) -> None:
    async def scenario() -> tuple[int, Any, int]:
        async with BinanceEmulator(spot, fast=True) as emu, aiohttp.ClientSession() as http:
            await asyncio.sleep(0.1)
            status, body = await get_json(
                http, f"{emu.rest_url}/api/v3/depth?symbol=BTCUSDT&limit=1000"
            )
            return status, body, emu.stats.frames_served

    status, body, served = uvloop.run(scenario())
    assert status == 200 and served == 0
    assert list(body) == ["lastUpdateId", "bids", "asks"]
    last = body["lastUpdateId"]
    first = diff_of(spot_lines.depth[0])
    assert first["U"] == last + 1  # the first diff served continues the book
    bids, asks = reference_books(spot_lines, {last}, 1000)[last]
    assert body["bids"] == bids and body["asks"] == asks
    assert len(asks) == 1000  # (the diff buffered before the snapshot removed a bid)


def test_rest_when_requested_mid_replay_then_book_of_the_served_diffs_and_next_diff_straddles(
    spot: EmulatorRecording, spot_lines: RecordedLines
) -> None:
    async def scenario() -> tuple[list[Any], list[bytes]]:
        async with (
            BinanceEmulator(spot, fast=True, close_at_end=True) as emu,
            aiohttp.ClientSession() as http,
        ):
            transport, got = await connect(f"{emu.ws_url}/stream?streams={SPOT_STREAMS}")
            try:
                bodies = []
                for _ in range(6):
                    url = f"{emu.rest_url}/api/v3/depth?symbol=btcusdt&limit=200"
                    bodies.append((await get_json(http, url))[1])
                    await asyncio.sleep(0.005)
                await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT_S)
            finally:
                transport.disconnect()
            return bodies, got.frames

    bodies, frames = uvloop.run(scenario())
    assert frames == spot_lines.served
    ids = [b["lastUpdateId"] for b in bodies]
    assert ids == sorted(ids)
    refs = reference_books(spot_lines, set(ids), 200)
    served = [(d["U"], d["u"]) for d in map(diff_of, spot_lines.depth)]
    for body in bodies:
        last = body["lastUpdateId"]
        assert (body["bids"], body["asks"]) == refs[last]
        assert last in {u for _, u in served} or last < served[0][1]
        later = [U for U, u in served if u > last][:1]
        if later:  # the next diff served after the snapshot straddles it
            assert later[0] == last + 1


def test_rest_when_usdm_then_fapi_path_e_t_of_last_diff_and_pu_chains(
    usdm: EmulatorRecording, usdm_lines: RecordedLines
) -> None:
    async def scenario() -> tuple[Any, list[bytes]]:
        faults = FaultConfig(stall_after=2000, stall_s=0.2)
        async with (
            BinanceEmulator(
                usdm, venue="binance-usdm", faults=faults, fast=True, close_at_end=True
            ) as emu,
            aiohttp.ClientSession() as http,
        ):
            transport, got = await connect(f"{emu.ws_url}/stream?streams=btcusdt@depth@100ms")
            try:
                while len(got.frames) < 2000:
                    await asyncio.sleep(0.002)
                _, body = await get_json(http, f"{emu.rest_url}/fapi/v1/depth?symbol=BTCUSDT")
                await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT_S)
            finally:
                transport.disconnect()
            return body, got.frames

    body, frames = uvloop.run(scenario())
    assert frames == usdm_lines.depth
    assert list(body) == ["lastUpdateId", "E", "T", "bids", "asks"]
    last_served = diff_of(frames[1999])
    nxt = diff_of(frames[2000])
    assert body["lastUpdateId"] == last_served["u"] == nxt["pu"]
    assert (body["E"], body["T"]) == (last_served["E"], last_served["T"])
    assert len(body["bids"]) == 500  # Binance's default limit on futures
    ref = reference_books(usdm_lines, {last_served["u"]}, 500)[last_served["u"]]
    assert (body["bids"], body["asks"]) == ref


@pytest.mark.parametrize(
    ("query", "code"),
    [("symbol=ETHUSDT", -1121), ("limit=5", -1102), ("symbol=BTCUSDT&limit=x", -1100)],
    ids=["unknown_symbol", "no_symbol", "bad_limit"],
)
def test_rest_when_bad_request_then_400_with_binance_error_json(
    spot: EmulatorRecording, query: str, code: int
) -> None:
    async def scenario() -> tuple[int, Any, int]:
        async with BinanceEmulator(spot) as emu, aiohttp.ClientSession() as http:
            status, body = await get_json(http, f"{emu.rest_url}/api/v3/depth?{query}")
            return status, body, emu.stats.rest_errors

    status, body, errors = uvloop.run(scenario())
    assert status == 400 and errors == 1
    assert body["code"] == code
    if code == -1121:
        assert body == {"code": -1121, "msg": "Invalid symbol."}


def test_rest_when_coinm_venue_then_dapi_path_keeps_recorded_keys_and_other_paths_404(
    usdm: EmulatorRecording,
) -> None:
    async def scenario() -> tuple[int, Any, int]:
        async with (
            BinanceEmulator(usdm, venue="binance-coinm") as emu,
            aiohttp.ClientSession() as http,
        ):
            status, body = await get_json(
                http, f"{emu.rest_url}/dapi/v1/depth?symbol=BTCUSDT&limit=5"
            )
            async with http.get(f"{emu.rest_url}/api/v3/depth?symbol=BTCUSDT") as resp:
                return status, body, resp.status

    status, body, other = uvloop.run(scenario())
    assert status == 200 and other == 404
    assert list(body) == ["lastUpdateId", "E", "T", "bids", "asks"]
    assert len(body["bids"]) == len(body["asks"]) == 5


@pytest.mark.skipif(not COINM.is_file(), reason=f"no COIN-M recording at {COINM}")
def test_rest_when_coinm_recording_then_recorded_shape_and_first_diff_chains_by_pu() -> None:
    lines = RecordedLines(COINM)

    async def scenario() -> tuple[int, Any, Any]:
        async with (
            BinanceEmulator(COINM, venue="binance-coinm") as emu,
            aiohttp.ClientSession() as http,
        ):
            url = f"{emu.rest_url}/dapi/v1/depth?symbol=BTCUSD_PERP&limit=1000"
            status, body = await get_json(http, url)
            _, unknown = await get_json(http, f"{emu.rest_url}/dapi/v1/depth?symbol=BTCUSDT")
            return status, body, unknown

    status, body, unknown = uvloop.run(scenario())
    assert status == 200 and unknown == {"code": -1121, "msg": "Invalid symbol."}
    assert list(body) == ["lastUpdateId", "E", "T", "symbol", "pair", "bids", "asks"]
    assert (body["symbol"], body["pair"]) == ("BTCUSD_PERP", "BTCUSD")
    last = body["lastUpdateId"]
    first = diff_of(lines.depth[0])
    assert first["pu"] == last  # the first diff served continues the book
    assert (body["bids"], body["asks"]) == reference_books(lines, {last}, 1000)[last]


def test_replay_when_speed_then_recorded_inter_arrival_times_scaled(
    spot: EmulatorRecording, spot_lines: RecordedLines
) -> None:
    speed = 1000.0

    async def scenario() -> list[float]:
        async with BinanceEmulator(spot, speed=speed, close_at_end=True) as emu:
            got = await collect(f"{emu.ws_url}/stream?streams=btcusdt@depth")
            assert got.frames == spot_lines.depth
            return got.arrivals

    arrivals = uvloop.run(scenario())
    ts = [t for t, f in zip(spot.recv_ts, spot.frames, strict=True) if is_depth(f)]
    recorded_s = (ts[-1] - ts[0]) / 1e9 / speed
    assert recorded_s == pytest.approx(0.346, abs=0.01)
    assert recorded_s * 0.9 <= arrivals[-1] - arrivals[0] <= recorded_s + 1.0
    half = len(ts) // 2  # paced all along, not in one burst at the end
    expected_half = (ts[half] - ts[0]) / 1e9 / speed
    assert arrivals[half] - arrivals[0] >= expected_half * 0.9


def test_replay_when_repeat_then_recording_served_again_from_the_start(
    spot: EmulatorRecording, spot_lines: RecordedLines
) -> None:
    want = 2 * len(spot_lines.depth) + 10

    async def scenario() -> tuple[list[bytes], int]:
        async with BinanceEmulator(spot, fast=True, repeat=True) as emu:
            transport, got = await connect(f"{emu.ws_url}/stream?streams=btcusdt@depth")
            try:
                async with asyncio.timeout(TIMEOUT_S):
                    while len(got.frames) < want:
                        await asyncio.sleep(0.002)
            finally:
                transport.disconnect()
            return got.frames[:want], emu.stats.loops

    frames, loops = uvloop.run(scenario())
    n = len(spot_lines.depth)
    assert loops >= 2
    assert frames[:n] == frames[n : 2 * n] == spot_lines.depth
    assert frames[2 * n :] == spot_lines.depth[:10]


def test_stop_when_clients_connected_then_closed_with_going_away(spot: EmulatorRecording) -> None:
    async def scenario() -> int | None:
        emu = BinanceEmulator(spot)  # real time: far from the end when stopped
        await emu.start()
        transport, got = await connect(f"{emu.ws_url}/stream?streams={SPOT_STREAMS}")
        try:
            async with asyncio.timeout(TIMEOUT_S):
                while not got.frames:
                    await asyncio.sleep(0.005)
            await emu.stop()
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT_S)
        finally:
            transport.disconnect()
        return got.close_code

    assert uvloop.run(scenario()) == 1001


def test_emulator_when_bad_arguments_then_error_names_them(spot: EmulatorRecording) -> None:
    with pytest.raises(EmulatorError, match="venue must be one of binance, binance-usdm"):
        BinanceEmulator(spot, venue="kraken")
    with pytest.raises(EmulatorError, match="speed must be > 0, was 0"):
        BinanceEmulator(spot, speed=0)
