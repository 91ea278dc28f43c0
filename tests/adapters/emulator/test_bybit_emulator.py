"""BybitEmulator: Bybit v5 public messages made from the Binance USD-M recording.

Oracles: Bybit's documented v5 shapes (subscribe ack and pong with
``success``/``ret_msg``/``conn_id``/``op``; ``orderbook`` snapshot then deltas
with ``u`` +1 per message, size ``"0"`` deleting; ``publicTrade`` with the
taker side ``S``), applied by the project's own :class:`BybitMarketDataDecoder`;
and Binance's book procedure applied to the recording file with ``Decimal``
(:func:`reference_books`): after the delta made from Binance diff ``u = seq``,
the decoded book must be that book's top 50, level by level.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import uvloop

from adapters.bybit import BybitMarketDataDecoder
from adapters.emulator import BybitEmulator, EmulatorError, EmulatorRecording, FaultConfig
from adapters.emulator.bybit import FIRST_UPDATE_ID
from api.emulator_cmd import env_lines
from engine.config import load_config
from engine.instruments import default_instruments
from engine.market import SymbolMarket
from kernels.book import ASK, BID
from tests.adapters.emulator._support import TIMEOUT_S, RecordedLines, reference_books

DEPTH = 50
PATH = "/v5/public/linear"
SUBSCRIBE = '{"op":"subscribe","args":["orderbook.50.BTCUSDT","publicTrade.BTCUSDT"],"req_id":"r1"}'


class _Sink:
    def on_trade(self, market: SymbolMarket, ts_recv: int) -> None:
        pass

    def on_book(self, market: SymbolMarket, ts_recv: int) -> None:
        pass

    def on_ticker(self, market: SymbolMarket, ts_recv: int) -> None:
        pass


async def _session(
    emu: BybitEmulator, requests: list[str], *, path: str = PATH
) -> tuple[list[str], int | None]:
    """Send ``requests`` on one connection; return the text frames until the close, and its code."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            emu.ws_url + path, timeout=aiohttp.ClientWSTimeout(ws_receive=TIMEOUT_S)
        ) as ws,
    ):
        for text in requests:
            await ws.send_str(text)
        texts = [msg.data async for msg in ws if msg.type == aiohttp.WSMsgType.TEXT]
        return texts, ws.close_code


def _served(recording: EmulatorRecording, **faults: Any) -> tuple[list[str], Any, Any]:
    async def scenario() -> tuple[list[str], Any, Any]:
        cfg = FaultConfig(**faults) if faults else None
        async with BybitEmulator(recording, faults=cfg, fast=True, close_at_end=True) as emu:
            texts, _ = await _session(emu, [SUBSCRIBE])
            return texts, emu.stats, emu.levels()

    return uvloop.run(scenario())


def _decoder() -> tuple[BybitMarketDataDecoder, SymbolMarket]:
    market = SymbolMarket(default_instruments().get("BTC/USDT"), 8192, 131072)
    decoder = BybitMarketDataDecoder({"BTCUSDT": market}, _Sink(), category="linear", depth=DEPTH)
    return decoder, market


def _as_floats(levels: list[list[str]]) -> list[tuple[float, float]]:
    return [(float(Decimal(p)), float(Decimal(q))) for p, q in levels]


def _book(market: SymbolMarket) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    bp, bq = market.book.depth(BID, DEPTH)
    ap, aq = market.book.depth(ASK, DEPTH)
    return list(zip(bp.tolist(), bq.tolist(), strict=True)), list(
        zip(ap.tolist(), aq.tolist(), strict=True)
    )


def test_subscribe_when_orderbook_and_trades_then_ack_snapshot_and_deltas_rebuild_the_book(
    usdm: EmulatorRecording, usdm_lines: RecordedLines
) -> None:
    texts, stats, final_levels = _served(usdm)
    ack = json.loads(texts[0])
    assert ack == {
        "success": True,
        "ret_msg": "",  # linear: the docs' Linear/Inverse example (spot says "subscribe")
        "conn_id": ack["conn_id"],
        "req_id": "r1",
        "op": "subscribe",
    }
    assert isinstance(ack["conn_id"], str) and ack["conn_id"]
    snapshot = json.loads(texts[1])
    assert snapshot["topic"] == "orderbook.50.BTCUSDT" and snapshot["type"] == "snapshot"
    assert snapshot["data"]["u"] == FIRST_UPDATE_ID and snapshot["data"]["s"] == "BTCUSDT"
    assert len(snapshot["data"]["b"]) == len(snapshot["data"]["a"]) == DEPTH
    books = [json.loads(t) for t in texts[2:] if t.startswith('{"topic":"orderbook')]
    assert all(m["type"] == "delta" for m in books)
    # u is +1 per delta, from the snapshot's on
    assert [m["data"]["u"] for m in books] == list(
        range(FIRST_UPDATE_ID + 1, FIRST_UPDATE_ID + 1 + len(books))
    )
    assert all(m["cts"] > 0 and m["ts"] > 0 and m["data"]["seq"] > 0 for m in books)

    # the oracle: the recording's book (Decimal, Binance's procedure) after diff u == seq
    seqs = [snapshot["data"]["seq"]] + [m["data"]["seq"] for m in books]
    wanted = set(seqs[:: len(seqs) // 40]) | {seqs[-1], seqs[0]}
    reference = reference_books(usdm_lines, wanted, DEPTH)
    assert set(reference) == wanted

    decoder, market = _decoder()
    checked = 0
    for text in texts[1:]:
        decoder.on_frame(1, text.encode())
        if text.startswith('{"topic":"orderbook'):
            seq = json.loads(text)["data"]["seq"]
            if seq in wanted:
                bids, asks = reference[seq]
                assert _book(market) == (_as_floats(bids), _as_floats(asks)), seq
                checked += 1
    assert checked == len(wanted)
    s = decoder.stats
    assert s.gaps == 0 and s.bad_frames == 0 and s.unknown_topics == 0
    assert s.snapshots == 1 and s.depth_updates_applied == len(books) > 5_000
    assert market.book.in_sync and market.book.last_update_id == FIRST_UPDATE_ID + len(books)
    # ...which is the emulator's own top 50 at the end
    assert _book(market) == (_as_floats(final_levels[0]), _as_floats(final_levels[1]))
    assert stats.frames_sent == len(texts) - 2

    # every MARKET trade of the recording, the taker side from Binance's m
    recorded = [
        json.loads(f)["data"]
        for f in usdm_lines.served
        if f.startswith(b'{"stream":"btcusdt@trade"')
    ]
    market_trades = [t for t in recorded if t.get("X", "MARKET") == "MARKET"]
    trades = [json.loads(t) for t in texts if t.startswith('{"topic":"publicTrade')]
    assert len(trades) == len(market_trades) == s.trades
    first = trades[0]["data"][0]
    assert first["S"] == ("Sell" if market_trades[0]["m"] else "Buy")
    assert (first["p"], first["v"], first["T"]) == (
        market_trades[0]["p"],
        market_trades[0]["q"],
        market_trades[0]["T"],
    )
    assert sum(t["data"][0]["S"] == "Buy" for t in trades) == sum(not t["m"] for t in market_trades)


def test_requests_when_ping_unknown_topic_duplicate_unsubscribe_bad_json_then_bybit_answers(
    usdm: EmulatorRecording,
) -> None:
    async def scenario() -> tuple[list[str], int | None]:
        async with BybitEmulator(usdm, fast=True, close_at_end=True) as emu:
            return await _session(
                emu,
                [
                    '{"op":"ping","req_id":"p1"}',
                    '{"op":"subscribe","args":["orderbook.1.BTCUSDT","publicTrade.BTCUSDT",'
                    '"publicTrade.ETHUSDT"]}',
                    '{"op":"subscribe","args":["publicTrade.BTCUSDT"]}',
                    '{"op":"unsubscribe","args":["orderbook.50.BTCUSDT"]}',
                    "not json",
                ],
            )

    texts, code = uvloop.run(scenario())
    replies = [json.loads(t) for t in texts if not t.startswith('{"topic"')]
    pong, sub, dup, unsub, bad = replies
    assert pong == {
        "success": True,
        "ret_msg": "pong",
        "conn_id": pong["conn_id"],
        "req_id": "p1",
        "op": "ping",
    }
    assert sub["success"] is False and sub["op"] == "subscribe"
    assert "topic:orderbook.1.BTCUSDT" in sub["ret_msg"]
    assert "topic:publicTrade.ETHUSDT" in sub["ret_msg"]
    assert "publicTrade.BTCUSDT" not in sub["ret_msg"]
    assert dup["success"] is False and "already subscribed" in dup["ret_msg"]
    assert unsub["success"] is False and unsub["op"] == "unsubscribe"
    assert bad["success"] is False
    # the valid topic of the refused request is served; nothing else
    data = [json.loads(t) for t in texts if t.startswith('{"topic"')]
    assert data and {m["topic"] for m in data} == {"publicTrade.BTCUSDT"}
    assert code == 1000


def test_requests_when_resubscribed_then_fresh_snapshot_at_the_current_update_id(
    usdm: EmulatorRecording,
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with (
            BybitEmulator(usdm, fast=True, close_at_end=True) as emu,
            aiohttp.ClientSession() as http,
            http.ws_connect(
                emu.ws_url + PATH, timeout=aiohttp.ClientWSTimeout(ws_receive=TIMEOUT_S)
            ) as ws,
        ):
            # trades and tickers too: more than the socket buffers hold, so the replay is
            # still going when the orderbook is subscribed again
            await ws.send_str(
                '{"op":"subscribe","args":["orderbook.50.BTCUSDT","publicTrade.BTCUSDT",'
                '"tickers.BTCUSDT"]}'
            )
            got: list[dict[str, Any]] = []
            while len(got) < 500:
                got.append(json.loads(await ws.receive_str()))
            await ws.send_str('{"op":"unsubscribe","args":["orderbook.50.BTCUSDT"]}')
            await ws.send_str('{"op":"subscribe","args":["orderbook.50.BTCUSDT"]}')
            got.extend([json.loads(m.data) async for m in ws if m.type == aiohttp.WSMsgType.TEXT])
            return got

    got = uvloop.run(scenario())
    books = [m for m in got if m.get("topic") == "orderbook.50.BTCUSDT"]
    assert [m["type"] for m in books].count("snapshot") == 2
    second = max(i for i, m in enumerate(books) if m["type"] == "snapshot")
    u = books[second]["data"]["u"]
    assert u >= books[second - 1]["data"]["u"]  # the current u, whatever the client read
    after = [m["data"]["u"] for m in books[second + 1 :]]
    assert len(after) > 100
    assert after == list(range(u + 1, u + 1 + len(after)))
    acks = [m for m in got if "success" in m]
    assert [(m["success"], m["op"]) for m in acks] == [
        (True, "subscribe"),
        (True, "unsubscribe"),
        (True, "subscribe"),
    ]


@pytest.mark.parametrize(
    ("faults", "check"),
    [
        ({"drop_every": 101}, lambda s: s.dropped >= 10),
        ({"disconnect_after": 2_000}, lambda s: s.disconnects == 1),
        ({"gap_at": 100}, lambda s: s.gaps == 1),
    ],
)
def test_faults_when_bybit_frames_then_decoder_sees_the_gap_or_close(
    usdm: EmulatorRecording, faults: dict[str, Any], check: Any
) -> None:
    texts, stats, _ = _served(usdm, **faults)
    assert check(stats), stats
    decoder, _ = _decoder()
    for text in texts[1:]:
        decoder.on_frame(1, text.encode())
    assert decoder.stats.bad_frames == 0
    if "disconnect_after" in faults:
        assert len(texts) == 2 + faults["disconnect_after"]
    else:
        assert decoder.stats.gaps >= 1


def test_emulator_when_bad_venue_or_depth_then_error_names_it(usdm: EmulatorRecording) -> None:
    with pytest.raises(EmulatorError, match="venue must be one of bybit-linear, bybit-spot"):
        BybitEmulator(usdm, venue="bybit-inverse")
    with pytest.raises(EmulatorError, match="depth must be one of 1, 50, 200 for bybit-spot"):
        BybitEmulator(usdm, venue="bybit-spot", depth=500)


def test_cli_env_lines_when_bybit_then_config_points_the_bybit_urls_at_the_emulator() -> None:
    lines = env_lines("bybit-linear", "ws://127.0.0.1:9000", "http://127.0.0.1:9000")
    env = dict(
        line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export ")
    )
    # the public stream, and the signed v5 REST trading API the emulator now serves too
    assert env == {
        "ATS_VENUES__BYBIT__WS_URL": "ws://127.0.0.1:9000",
        "ATS_VENUES__BYBIT__REST_URL": "http://127.0.0.1:9000",
    }
    venues = load_config(env=env).venues
    assert (venues.bybit.ws_url, venues.bybit.rest_url) == (
        "ws://127.0.0.1:9000",
        "http://127.0.0.1:9000",
    )
