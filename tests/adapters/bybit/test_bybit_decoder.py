"""BybitMarketDataDecoder: the v5 public order book, trades, tickers and control frames.

Oracles: the Bybit v5 WebSocket docs (their own example messages are the
fixtures below, each with its page) and their book procedure ("Process
snapshot/delta": a snapshot replaces the book, size 0 deletes, ``u`` is +1
per message, ``u == 1`` is a snapshot after a service restart); and our
Binance decoder: a Bybit-format stream generated here from the bundled
Binance USD-M recording must build the very same book, level by level, and
the same trade ring.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import pytest

from adapters.binance import BinanceMarketDataDecoder
from adapters.bybit import BybitMarketDataDecoder
from adapters.bybit.errors import FeedConfigError
from adapters.bybit.symbols import (
    PING_INTERVAL_S,
    PING_MESSAGE,
    orderbook_topic,
    subscribe_messages,
    topics_for,
    unified_symbol,
    venue_symbol,
    ws_endpoint,
)
from adapters.replay import load_frames
from engine.instruments import Instrument
from engine.market import SymbolMarket
from kernels.book import ASK, BID
from kernels.dtypes import SIDE_BUY, SIDE_SELL

ROOT = Path(__file__).resolve().parents[3]
USDM = ROOT / "data" / "binance_usdm" / "btcusdt_20240808.gz"

# -- the docs' own example messages ------------------------------------------------------------

#: https://bybit-exchange.github.io/docs/derivatives/ws-public/orderbook (same example on
#: https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook). The docs elide the
#: middle levels with "..."; the levels shown are kept.
DOC_BOOK_SNAPSHOT = b"""{
    "topic": "orderbook.50.BTCUSDT",
    "type": "snapshot",
    "ts": 1671179923028,
    "data": {
        "s": "BTCUSDT",
        "b": [["17440.00", "40.833"], ["17439.50", "0.513"],
              ["17416.00", "6.156"], ["17415.50", "32.268"]],
        "a": [["17440.50", "78.815"], ["17441.00", "8.858"],
              ["17464.50", "4.901"], ["17465.00", "5.744"]],
        "u": 13079592,
        "seq": 22520573250
    }
}"""
#: The delta that follows it on the same page (its ``u``/``seq`` lie past the excerpt we
#: have stored: ``u`` is the next id by the docs' rule, ``seq`` is left out).
DOC_BOOK_DELTA = b"""{
    "topic": "orderbook.50.BTCUSDT",
    "type": "delta",
    "ts": 1671179923046,
    "data": {
        "s": "BTCUSDT",
        "b": [],
        "a": [["17440.50", "78.857"], ["17442.00", "1.510"]],
        "u": 13079593
    }
}"""
#: https://bybit-exchange.github.io/docs/v5/spread/websocket/public/orderbook (a spread
#: instrument: a topic a BTCUSDT decoder does not know).
DOC_SPREAD_BOOK_DELTA = b"""{
    "topic": "orderbook.25.SOLUSDT_SOL/USDT",
    "ts": 1744165512257,
    "type": "delta",
    "data": {"s": "SOLUSDT_SOL/USDT", "b": [], "a": [["22.3755", "4.7"]],
             "u": 64892, "seq": 299084},
    "cts": 1744165512234
}"""
#: https://bybit-exchange.github.io/docs/v5/websocket/public/trade (linear: ``i`` is a UUID).
DOC_TRADE = b"""{
    "topic": "publicTrade.BTCUSDT",
    "type": "snapshot",
    "ts": 1672304486868,
    "data": [{"T": 1672304486865, "s": "BTCUSDT", "S": "Buy", "v": "0.001",
              "p": "16578.50", "L": "PlusTick",
              "i": "20f43950-d8dd-5b31-9112-a178eb6023af", "BT": false}]
}"""
#: https://bybit-exchange.github.io/docs/v5/websocket/public/ticker, the Linear response
#: example, every field as on the page (checked against its source, bybit-exchange/docs
#: ``docs/v5/websocket/public/ticker.mdx``).
DOC_LINEAR_TICKER = b"""{
    "topic": "tickers.BTCUSDT",
    "type": "snapshot",
    "data": {
        "symbol": "BTCUSDT",
        "tickDirection": "PlusTick",
        "price24hPcnt": "0.017103",
        "lastPrice": "17216.00",
        "prevPrice24h": "16926.50",
        "highPrice24h": "17281.50",
        "lowPrice24h": "16915.00",
        "prevPrice1h": "17238.00",
        "markPrice": "17217.33",
        "indexPrice": "17227.36",
        "openInterest": "68744.761",
        "openInterestValue": "1183601235.91",
        "turnover24h": "1570383121.943499",
        "volume24h": "91705.276",
        "nextFundingTime": "1673280000000",
        "fundingRate": "-0.000212",
        "bid1Price": "17215.50",
        "bid1Size": "84.489",
        "ask1Price": "17216.00",
        "ask1Size": "83.020"
    },
    "cs": 24987956059,
    "ts": 1673272861686
}"""
#: https://bybit-exchange.github.io/docs/v5/ws/connect ("Understanding the Subscription
#: Response" and "How to Send the Heartbeat Packet", checked against the page's source,
#: bybit-exchange/docs ``docs/v5/websocket/wss-authentication.mdx``): the Public Spot ack, the
#: Linear/Inverse ack (``ret_msg`` empty), and the pong of private channels (``op`` "pong");
#: DOC_PONG is also on https://bybit-exchange.github.io/docs/v5/sbe/level-50/sbe-level-50.
DOC_ACK = (
    b'{"success": true, "ret_msg": "subscribe", "conn_id": "2324d924-aa4d-45b0-a858-'
    b'7b8be29ab52b", "req_id": "10001", "op": "subscribe"}'
)
DOC_LINEAR_ACK = (
    b'{"success": true, "ret_msg": "", "conn_id": "3cd84cb1-4d06-4a05-930a-2efe5fc70f0f", '
    b'"req_id": "", "op": "subscribe"}'
)
DOC_PONG = b'{"success": true,"ret_msg": "pong","conn_id": "xxxxx-xx","req_id": "","op": "ping"}'
DOC_PRIVATE_PONG = (
    b'{"req_id": "test", "op": "pong", "args": ["1675418560633"], '
    b'"conn_id": "cfcb4ocsvfriu23r3er0-1b"}'
)


# -- helpers -----------------------------------------------------------------------------------


class RecordingSink:
    def __init__(self) -> None:
        self.trades = 0
        self.tickers = 0
        self.books: list[bool] = []

    def on_trade(self, market: SymbolMarket, ts_recv: int) -> None:
        self.trades += 1

    def on_book(self, market: SymbolMarket, ts_recv: int) -> None:
        self.books.append(market.book.in_sync)

    def on_ticker(self, market: SymbolMarket, ts_recv: int) -> None:
        self.tickers += 1


def instrument(symbol: str = "BTCUSDT", tick: float = 0.1) -> Instrument:
    return Instrument(
        symbol=symbol,
        venue="bybit",
        venue_symbol=symbol,
        base=symbol,
        quote="",
        tick_size=tick,
        lot_size=0.001,
    )


def new_decoder(
    category: str = "linear", depth: int = 50, trade_capacity: int = 1024
) -> tuple[BybitMarketDataDecoder, SymbolMarket, RecordingSink]:
    market = SymbolMarket(instrument(), 8192, trade_capacity)
    sink = RecordingSink()
    decoder = BybitMarketDataDecoder({"BTCUSDT": market}, sink, category=category, depth=depth)  # type: ignore[arg-type]
    return decoder, market, sink


def dumps(msg: Any) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode()


def book(kind: str, u: int, bids: tuple = (), asks: tuple = (), depth: int = 50) -> bytes:
    return dumps(
        {
            "topic": f"orderbook.{depth}.BTCUSDT",
            "type": kind,
            "ts": 1_700_000_000_000 + u,
            "data": {
                "s": "BTCUSDT",
                "b": [list(level) for level in bids],
                "a": [list(level) for level in asks],
                "u": u,
                "seq": 1000 + u,
            },
            "cts": 1_699_999_999_000 + u,
        }
    )


def levels(market: SymbolMarket) -> tuple[list[float], ...]:
    b = market.book
    bid_p, bid_q = b.depth(BID, b.capacity)
    ask_p, ask_q = b.depth(ASK, b.capacity)
    return bid_p.tolist(), bid_q.tolist(), ask_p.tolist(), ask_q.tolist()


SNAP = book("snapshot", 10, bids=(("100.0", "1"), ("99.5", "2")), asks=(("101.0", "3"),))


def assert_invalid(decoder: BybitMarketDataDecoder, market: SymbolMarket) -> None:
    bid, _, ask, _ = market.book.best()
    assert math.isnan(bid) and math.isnan(ask)
    assert not market.book.in_sync
    assert decoder.symbols_needing_snapshot() == ["BTCUSDT"]


# -- docs examples -----------------------------------------------------------------------------


def test_docs_orderbook_snapshot_then_delta_builds_the_documented_book() -> None:
    decoder, market, sink = new_decoder()
    assert decoder.symbols_needing_snapshot() == ["BTCUSDT"]  # nothing until the WS snapshot
    decoder.on_frame(1, DOC_BOOK_SNAPSHOT)
    assert decoder.symbols_needing_snapshot() == []
    assert market.book.last_update_id == 13079592
    assert market.book.ts_event == 1671179923028 * 1_000_000  # no cts: the message ts
    decoder.on_frame(2, DOC_BOOK_DELTA)
    assert levels(market) == (
        [17440.0, 17439.5, 17416.0, 17415.5],
        [40.833, 0.513, 6.156, 32.268],
        [17440.5, 17441.0, 17442.0, 17464.5, 17465.0],
        [78.857, 8.858, 1.510, 4.901, 5.744],
    )
    stats = decoder.stats
    assert (stats.snapshots, stats.depth_updates_applied, stats.gaps, stats.bad_frames) == (
        1,
        1,
        0,
        0,
    )
    assert sink.books == [True, True]


def test_docs_public_trade_when_linear_uuid_id_then_pushed_with_taker_side() -> None:
    decoder, market, sink = new_decoder()
    decoder.on_frame(7, DOC_TRADE)
    (trade,) = market.trades.last(10)
    assert trade["ts_event"] == 1672304486865 * 1_000_000
    assert trade["ts_recv"] == 7
    assert (trade["price"], trade["qty"], trade["side"]) == (16578.5, 0.001, SIDE_BUY)
    assert trade["trade_id"] == int("20f43950d8dd5b3", 16)  # first 15 hex digits of the UUID
    assert market.last_price == 16578.5
    assert (decoder.stats.trades, sink.trades) == (1, 1)


def test_docs_linear_ticker_sets_top_of_book_and_delta_changes_only_its_fields() -> None:
    decoder, market, sink = new_decoder()
    decoder.on_frame(3, DOC_LINEAR_TICKER)
    assert (market.bid_price, market.bid_qty, market.ask_price, market.ask_qty) == (
        17215.5,
        84.489,
        17216.0,
        83.02,
    )
    assert market.ticker_update_id == 24987956059
    delta = {"topic": "tickers.BTCUSDT", "type": "delta", "cs": 24987956060, "ts": 1}
    decoder.on_frame(4, dumps({**delta, "data": {"symbol": "BTCUSDT", "bid1Size": "1.5"}}))
    assert (market.bid_price, market.bid_qty, market.ask_price, market.ask_qty) == (
        17215.5,
        1.5,
        17216.0,
        83.02,
    )
    # a delta without any top-of-book field (e.g. only markPrice) changes nothing
    decoder.on_frame(5, dumps({**delta, "data": {"symbol": "BTCUSDT", "markPrice": "1"}}))
    assert (decoder.stats.tickers, sink.tickers, market.ticker_ts) == (2, 2, 4)


def test_spot_ticker_without_best_bid_ask_leaves_top_of_book_unknown() -> None:
    decoder, market, sink = new_decoder("spot")
    frame = {"topic": "tickers.BTCUSDT", "ts": 1, "type": "snapshot", "cs": 5}
    decoder.on_frame(1, dumps({**frame, "data": {"symbol": "BTCUSDT", "lastPrice": "2.0"}}))
    assert math.isnan(market.bid_price) and math.isnan(market.ask_price)
    assert (decoder.stats.tickers, decoder.stats.bad_frames, sink.tickers) == (0, 0, 0)


def test_docs_ack_and_pongs_are_counted_not_bad_frames() -> None:
    decoder, _, _ = new_decoder()
    for frame in (DOC_ACK, DOC_LINEAR_ACK, DOC_PONG, DOC_PRIVATE_PONG):
        decoder.on_frame(1, frame)
    # not in the docs (they show no error reply): the live venue's text as clients log it
    refused = (
        b'{"success":false,"ret_msg":"error:handler not found,topic:orderbook.500.BTCUSDT",'
        b'"conn_id":"c","req_id":"","op":"subscribe"}'
    )
    decoder.on_frame(1, refused)
    stats = decoder.stats
    assert (stats.acks, stats.pongs, stats.rejected_requests, stats.bad_frames) == (2, 2, 1, 0)


def test_docs_spread_topic_when_not_subscribed_then_unknown_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    decoder, market, _ = new_decoder()
    other_depth = book("snapshot", 1, bids=(("1", "1"),), depth=200)  # not our depth
    with caplog.at_level(logging.WARNING, logger="ats.adapters.bybit"):
        for frame in (DOC_SPREAD_BOOK_DELTA, DOC_SPREAD_BOOK_DELTA, other_depth):
            decoder.on_frame(1, frame)
    assert decoder.stats.unknown_topics == 3
    assert decoder.stats.bad_frames == 0
    logged = [r for r in caplog.records if r.getMessage().startswith("frames of an unknown")]
    assert len(logged) == 2  # once per topic
    assert not market.book.in_sync


# -- book procedure ----------------------------------------------------------------------------


def test_delta_when_u_skips_then_gap_invalidates_drops_until_next_snapshot() -> None:
    decoder, market, sink = new_decoder()
    decoder.on_frame(1, SNAP)
    decoder.on_frame(2, book("delta", 11, bids=(("100.0", "0"),)))  # size 0 deletes
    assert levels(market)[0] == [99.5]
    decoder.on_frame(3, book("delta", 13, bids=(("100.5", "1"),)))  # 12 missing
    assert_invalid(decoder, market)
    decoder.on_frame(4, book("delta", 14, asks=(("102.0", "1"),)))
    stats = decoder.stats
    assert (stats.gaps, stats.resyncs, stats.depth_updates_dropped) == (1, 1, 1)
    assert stats.depth_updates_applied == 1
    # the feed resubscribes; Bybit answers with a snapshot, and deltas chain from it
    decoder.on_frame(5, book("snapshot", 40, bids=(("98.0", "1"),), asks=(("99.0", "1"),)))
    decoder.on_frame(6, book("delta", 41, asks=(("99.0", "4"),)))
    assert decoder.symbols_needing_snapshot() == []
    assert levels(market) == ([98.0], [1.0], [99.0], [4.0])
    assert market.book.ts_event == (1_699_999_999_000 + 41) * 1_000_000  # cts
    assert sink.books == [True, True, False, True, True]


def test_delta_when_u_repeats_or_is_older_then_dropped_and_book_stays_valid() -> None:
    decoder, market, sink = new_decoder()
    decoder.on_frame(1, SNAP)
    delta = book("delta", 11, bids=(("100.0", "5"),))
    decoder.on_frame(2, delta)
    before = levels(market)
    decoder.on_frame(3, delta)  # the same message again (a duplicate)
    decoder.on_frame(4, book("delta", 9, bids=(("100.0", "7"),)))  # older than the snapshot
    assert levels(market) == before == ([100.0, 99.5], [5.0, 2.0], [101.0], [3.0])
    stats = decoder.stats
    assert (stats.duplicate_deltas, stats.gaps, stats.resyncs) == (2, 0, 0)
    assert stats.depth_updates_applied == 1 and sink.books == [True, True]
    assert market.book.in_sync and market.book.last_update_id == 11
    decoder.on_frame(5, book("delta", 12, asks=(("101.0", "0"),)))  # the chain goes on
    assert levels(market)[2:] == ([], [])
    assert decoder.stats.depth_updates_applied == 2 and decoder.stats.gaps == 0


def test_message_with_u_1_when_typed_delta_then_resets_book_as_snapshot() -> None:
    decoder, market, _ = new_decoder()
    decoder.on_frame(1, SNAP)
    decoder.on_frame(2, book("delta", 1, bids=(("50.0", "1"),), asks=(("51.0", "2"),)))
    assert levels(market) == ([50.0], [1.0], [51.0], [2.0])
    decoder.on_frame(3, book("delta", 2, bids=(("50.5", "1"),)))
    stats = decoder.stats
    assert (stats.u1_resets, stats.snapshots, stats.gaps, stats.depth_updates_applied) == (
        1,
        2,
        0,
        1,
    )
    assert market.book.in_sync and market.book.last_update_id == 2
    assert levels(market)[0] == [50.5, 50.0]


def test_delta_when_it_crosses_the_book_then_invalidated() -> None:
    decoder, market, _ = new_decoder()
    decoder.on_frame(1, SNAP)
    decoder.on_frame(2, book("delta", 11, bids=(("101.0", "1"),)))  # bid == best ask
    assert decoder.stats.crossed == 1
    assert decoder.stats.resyncs == 1
    assert_invalid(decoder, market)


def test_snapshot_when_crossed_then_invalid() -> None:
    decoder, market, _ = new_decoder()
    decoder.on_frame(1, book("snapshot", 5, bids=(("102.0", "1"),), asks=(("101.0", "1"),)))
    assert decoder.stats.crossed == 1
    assert_invalid(decoder, market)


def test_invalidate_all_then_every_book_waits_for_a_snapshot() -> None:
    decoder, market, _ = new_decoder()
    decoder.on_frame(1, SNAP)
    decoder.invalidate_all("disconnected")
    assert_invalid(decoder, market)
    decoder.on_frame(2, book("delta", 11, bids=(("100.0", "2"),)))
    assert decoder.stats.depth_updates_dropped == 1
    decoder.warm_up()  # compiled kernels loaded; the book is untouched
    assert not market.book.in_sync


# -- trades ------------------------------------------------------------------------------------


def trade_frame(*items: dict[str, Any]) -> bytes:
    return dumps({"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 5, "data": items})


def trade_item(i: str = "2290000000061666327", **fields: Any) -> dict[str, Any]:
    item = {"T": 1000, "s": "BTCUSDT", "S": "Sell", "v": "0.5", "p": "100.5", "i": i, "BT": False}
    item.update(fields)
    return item


def test_trades_when_one_item_is_bad_then_the_others_are_pushed() -> None:
    decoder, market, _ = new_decoder("spot")
    decoder.on_frame(
        1,
        trade_frame(
            trade_item("1"), trade_item("2", p="0"), trade_item("3", BT=True), trade_item()
        ),
    )
    ring = market.trades.last(10)
    assert ring["trade_id"].tolist() == [1, 2290000000061666327]  # spot ids are digits
    assert ring["side"].tolist() == [SIDE_SELL, SIDE_SELL]
    stats = decoder.stats
    assert (stats.trades, stats.block_trades, stats.bad_frame_kinds) == (2, 1, {"out_of_range": 1})


def test_trades_when_message_repeated_then_skipped_not_pushed_twice() -> None:
    decoder, market, sink = new_decoder()
    first = trade_frame(trade_item("a-1"), trade_item("a-2"))
    decoder.on_frame(1, first)
    decoder.on_frame(2, first)  # the same message again
    decoder.on_frame(3, trade_frame(trade_item("a-3", BT=True)))
    decoder.on_frame(4, trade_frame(trade_item("a-3", BT=True)))  # a repeat, block trade last
    decoder.on_frame(5, trade_frame(trade_item("a-4"), trade_item("a-2")))  # ends like `first`
    stats = decoder.stats
    assert (stats.trades, stats.duplicate_trades, stats.block_trades) == (4, 2, 1)
    assert sink.trades == 4 and len(market.trades.last(10)) == 4


# -- bad frames --------------------------------------------------------------------------------

BAD_FRAMES = {
    "malformed_json": b'{"topic":"publicTrade.BTCUSDT","data":[{"T":1',
    "wrong_type": dumps({"topic": "publicTrade.BTCUSDT", "ts": 1, "data": {"T": "x"}}),
    "out_of_range": trade_frame(trade_item(v="-1")),
    "invalid_level": book("delta", 11, bids=(("abc", "1"),)),
    "unknown_event": b'{"hello":"world"}',
}


@pytest.mark.parametrize("kind", sorted(BAD_FRAMES))
def test_bad_frame_of_each_kind_counted_every_time_and_logged_once(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    decoder, market, _ = new_decoder()
    with caplog.at_level(logging.WARNING, logger="ats.adapters.bybit"):
        decoder.on_frame(0, SNAP)
        for _ in range(3):
            decoder.on_frame(1, BAD_FRAMES[kind])
            if kind == "invalid_level":
                decoder.on_frame(1, SNAP)  # back in sync, so the next bad delta is read
    assert decoder.stats.bad_frames == 3
    assert decoder.stats.bad_frame_kinds == {kind: 3}
    logged = [r for r in caplog.records if r.getMessage().startswith("bad frame skipped")]
    assert len(logged) == 1
    assert market.trades.count == 0


def test_ticker_when_price_out_of_range_then_bad_frame_and_unchanged() -> None:
    decoder, market, _ = new_decoder()
    frame = {"topic": "tickers.BTCUSDT", "ts": 1, "type": "delta"}
    decoder.on_frame(1, dumps({**frame, "data": {"symbol": "BTCUSDT", "bid1Price": "-5"}}))
    assert decoder.stats.bad_frame_kinds == {"out_of_range": 1}
    assert math.isnan(market.bid_price)


# -- a Bybit stream generated from the Binance USD-M recording ---------------------------------


def bybit_stream_from_binance(
    frames: list[tuple[int, bytes]],
) -> tuple[list[tuple[int, bytes]], int]:
    """Rewrite the recording as Bybit v5 linear frames; return them and the delta count.

    The REST snapshot becomes an ``orderbook`` snapshot with ``u = 1``; the diffs
    Binance's procedure applies (``u >= lastUpdateId``, including those buffered before
    the snapshot) become deltas ``u = 2, 3, ...``; each trade a ``publicTrade`` item
    (``m`` → taker side ``S``). bookTicker frames are left out.
    """
    out: list[tuple[int, bytes]] = []
    buffered: list[dict[str, Any]] = []
    last_id: int | None = None
    u = 0

    def delta(ts: int, d: dict[str, Any], kind: str = "delta") -> None:
        nonlocal u
        u += 1
        data = {"s": "BTCUSDT", "b": d["b"], "a": d["a"], "u": u, "seq": d["u"]}
        msg = {"topic": "orderbook.500.BTCUSDT", "type": kind, "ts": d["E"], "data": data}
        out.append((ts, dumps({**msg, "cts": d["T"]})))

    for ts, raw in frames:
        msg = json.loads(raw)
        if "lastUpdateId" in msg:
            last_id = msg["lastUpdateId"]
            snapshot = {"b": msg["bids"], "a": msg["asks"], "E": msg["E"], "T": msg["T"]}
            snapshot["u"] = last_id
            delta(ts, snapshot, "snapshot")
            for d in buffered:
                if d["u"] >= last_id:
                    delta(ts, d)
            continue
        stream, data = msg["stream"], msg["data"]
        if stream.endswith("@trade"):
            item = {
                "T": data["T"],
                "s": "BTCUSDT",
                "S": "Sell" if data["m"] else "Buy",
                "v": data["q"],
                "p": data["p"],
                "L": "ZeroPlusTick",
                "i": str(data["t"]),
                "BT": False,
            }
            trade = {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": data["E"]}
            out.append((ts, dumps({**trade, "data": [item]})))
        elif "@depth" in stream:
            if last_id is None:
                buffered.append(data)
            elif data["u"] >= last_id:
                delta(ts, data)
    return out, u - 1


def test_generated_bybit_stream_from_binance_recording_builds_the_binance_book() -> None:
    frames = load_frames(USDM)
    binance_market = SymbolMarket(instrument(), 8192, 32768)
    binance = BinanceMarketDataDecoder({"BTCUSDT": binance_market}, RecordingSink(), market="usdm")
    for ts, frame in frames:
        binance.on_frame(ts, frame)
    assert binance.stats.gaps == 0 and binance_market.book.in_sync

    stream, deltas = bybit_stream_from_binance(frames)
    decoder, market, _ = new_decoder("linear", depth=500, trade_capacity=32768)
    for ts, frame in stream:
        decoder.on_frame(ts, frame)
    stats = decoder.stats
    assert (stats.snapshots, stats.gaps, stats.bad_frames, stats.crossed) == (1, 0, 0, 0)
    assert stats.depth_updates_applied == deltas == binance.stats.depth_updates_applied
    assert market.book.in_sync
    assert market.book.ts_event == binance_market.book.ts_event  # cts carries Binance's T
    ours, theirs = levels(market), levels(binance_market)
    assert len(ours[0]) > 100 and len(ours[2]) > 100
    assert ours == theirs  # level by level: prices and sizes

    assert stats.trades == binance.stats.trades == 21_313
    fields = ["ts_event", "ts_recv", "price", "qty", "trade_id", "side"]
    assert (market.trades.last(32768)[fields] == binance_market.trades.last(32768)[fields]).all()


# -- symbols -----------------------------------------------------------------------------------


def test_symbols_topics_paths_and_control_messages() -> None:
    assert venue_symbol("BTC/USDT") == venue_symbol("btc/usdt:USDT") == "BTCUSDT"
    assert venue_symbol("ETHUSDT") == "ETHUSDT"
    assert unified_symbol("BTCUSDT", "spot") == "BTC/USDT"
    assert unified_symbol("BTCUSDT", "linear") == "BTC/USDT:USDT"
    assert topics_for("BTCUSDT", "linear", 500) == [
        "orderbook.500.BTCUSDT",
        "publicTrade.BTCUSDT",
        "tickers.BTCUSDT",
    ]
    assert ws_endpoint("wss://stream.bybit.com/", "spot") == "wss://stream.bybit.com/v5/public/spot"
    assert ws_endpoint("ws://127.0.0.1:9000", "linear") == "ws://127.0.0.1:9000/v5/public/linear"
    topics = [f"publicTrade.S{i}" for i in range(12)]
    first, second = (json.loads(m) for m in subscribe_messages(topics))
    assert first == {"op": "subscribe", "args": topics[:10]}
    assert second["args"] == topics[10:]
    assert json.loads(PING_MESSAGE) == {"op": "ping"}
    assert PING_INTERVAL_S == 20.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: orderbook_topic("BTCUSDT", 500, "spot"), "spot book depth must be one of"),
        (lambda: orderbook_topic("BTCUSDT", 50, "inverse"), "category must be one of"),
        (lambda: venue_symbol("BTC/USDT:BTC"), "expected BASE/QUOTE"),
        (lambda: unified_symbol("BTCXYZ", "spot"), "quote currency not one of"),
        (lambda: ws_endpoint("https://x", "spot"), "venues.bybit.ws_url must start with"),
        (lambda: subscribe_messages([]), "no topics"),
        (lambda: new_decoder(depth=25), "linear book depth must be one of"),
    ],
)
def test_bad_settings_raise_an_error_naming_the_value(call: Any, message: str) -> None:
    with pytest.raises(FeedConfigError, match=message):
        call()
