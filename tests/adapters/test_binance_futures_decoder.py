"""BinanceMarketDataDecoder on USD-M / COIN-M futures, and bad frames on every market.

Oracle: Binance's futures procedure ("How to manage a local order book
correctly", USD-M and COIN-M): buffer the diffs, take the snapshot
(``lastUpdateId = L``), drop diffs with ``u < L``, apply the first diff with
``U <= L <= u``, then every diff must have ``pu == previous u``; anything
else is a gap (no prices until a new snapshot). On real data: the bundled
USD-M recording, with a diff removed and a later snapshot taken from the
untouched replay.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.binance.decoder import (
    BinanceMarketDataDecoder,
    SpotMarketDataDecoder,
    detect_market,
)
from adapters.replay import load_frames
from engine.instruments import Instrument
from engine.market import SymbolMarket
from kernels.book import ASK, BID
from kernels.dtypes import SIDE_BUY, SIDE_SELL

ROOT = Path(__file__).resolve().parents[2]
USDM = ROOT / "data" / "binance_usdm" / "btcusdt_20240808.gz"


class CountingSink:
    def __init__(self) -> None:
        self.trades = 0
        self.tickers = 0
        self.books: list[tuple[bool, int, tuple[float, float, float, float]]] = []

    def on_trade(self, market: SymbolMarket, ts_recv: int) -> None:
        self.trades += 1

    def on_book(self, market: SymbolMarket, ts_recv: int) -> None:
        book = market.book
        self.books.append((book.in_sync, book.last_update_id, book.best()))

    def on_ticker(self, market: SymbolMarket, ts_recv: int) -> None:
        self.tickers += 1


@dataclass
class Run:
    decoder: BinanceMarketDataDecoder
    markets: dict[str, SymbolMarket]
    sink: CountingSink

    @property
    def stats(self) -> Any:
        return self.decoder.stats

    def market(self, symbol: str = "BTCUSDT") -> SymbolMarket:
        return self.markets[symbol]

    def depth(self, symbol: str = "BTCUSDT") -> tuple[list[float], ...]:
        book = self.markets[symbol].book
        bid_p, bid_q = book.depth(BID, book.capacity)
        ask_p, ask_q = book.depth(ASK, book.capacity)
        return bid_p.tolist(), bid_q.tolist(), ask_p.tolist(), ask_q.tolist()

    def feed(self, *frames: bytes) -> None:
        for frame in frames:
            self.decoder.on_frame(0, frame)


def instrument(symbol: str, tick: float = 0.1) -> Instrument:
    return Instrument(
        symbol=symbol,
        venue="binance",
        venue_symbol=symbol,
        base=symbol,
        quote="",
        tick_size=tick,
        lot_size=0.001,
    )


def new_run(market: str = "usdm", symbols: tuple[str, ...] = ("BTCUSDT",)) -> Run:
    markets = {s: SymbolMarket(instrument(s), 8192, 1024) for s in symbols}
    sink = CountingSink()
    return Run(BinanceMarketDataDecoder(markets, sink, market=market), markets, sink)  # type: ignore[arg-type]


def dumps(msg: Any) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode()


def fdepth(
    U: int, u: int, pu: int, bids: tuple = (), asks: tuple = (), symbol: str = "BTCUSDT"
) -> bytes:
    data = {
        "e": "depthUpdate",
        "E": 1_723_161_256_000 + u,
        "T": 1_723_161_255_000 + u,
        "s": symbol,
        "U": U,
        "u": u,
        "pu": pu,
        "b": [list(level) for level in bids],
        "a": [list(level) for level in asks],
    }
    return dumps({"stream": f"{symbol.lower()}@depth@0ms", "data": data})


def fsnapshot(last_id: int, bids: tuple = (("100.0", "1"),), asks: tuple = (("101.0", "1"),)):
    return dumps(
        {
            "lastUpdateId": last_id,
            "E": 1_723_161_256_900,
            "T": 1_723_161_256_800,
            "bids": [list(level) for level in bids],
            "asks": [list(level) for level in asks],
        }
    )


def assert_no_prices(run: Run, symbol: str = "BTCUSDT") -> None:
    bid, _, ask, _ = run.market(symbol).book.best()
    assert math.isnan(bid) and math.isnan(ask)
    assert not run.market(symbol).book.in_sync


# Update ids are shared by all symbols on futures: a symbol's ids jump, and pu links them.
D1 = fdepth(95, 104, 90, bids=(("100.5", "2"),))
D2 = fdepth(110, 120, 104, asks=(("101.5", "3"),))
D3 = fdepth(131, 140, 120, bids=(("100.0", "0"),))


# -- the book procedure on synthetic frames --------------------------------------------------


def test_futures_snapshot_when_buffered_diffs_straddle_then_applied_by_pu_chain() -> None:
    run = new_run()
    run.feed(fdepth(80, 89, 70, bids=(("99.0", "5"),)), D1, D2)
    assert run.stats.depth_updates_buffered == 3
    run.decoder.on_snapshot("BTCUSDT", 1, fsnapshot(100))  # D1: 95 <= 100 <= 104
    run.feed(D3)
    stats = run.stats
    assert (stats.gaps, stats.snapshots, stats.depth_updates_dropped) == (0, 1, 1)
    assert stats.depth_updates_applied == 3
    book = run.market().book
    assert book.in_sync and book.last_update_id == 140
    assert book.ts_event == (1_723_161_255_000 + 140) * 1_000_000  # futures diffs carry T
    assert run.depth() == ([100.5], [2.0], [101.0, 101.5], [1.0, 3.0])


def test_futures_snapshot_when_diff_ends_exactly_at_last_update_id_then_it_is_kept() -> None:
    # Futures drop u < L only (spot drops u <= L): the diff ending at L straddles it.
    run = new_run()
    run.feed(D1, D2)
    run.decoder.on_snapshot("BTCUSDT", 1, fsnapshot(104, bids=(("100.5", "2"), ("100.0", "1"))))
    assert (run.stats.gaps, run.stats.depth_updates_dropped) == (0, 0)
    assert run.stats.depth_updates_applied == 2
    assert run.market().book.last_update_id == 120
    assert run.depth() == ([100.5, 100.0], [2.0, 1.0], [101.0, 101.5], [1.0, 3.0])


def test_futures_snapshot_when_first_live_diff_continues_it_by_pu_then_applied() -> None:
    run = new_run()
    run.decoder.on_snapshot("BTCUSDT", 1, fsnapshot(104))  # live D2 has pu == 104, U > 104
    assert run.market().book.ts_event == 1_723_161_256_800 * 1_000_000  # the snapshot's T
    run.feed(D2, D3)
    assert run.stats.gaps == 0
    assert run.market().book.last_update_id == 140
    assert run.depth() == ([], [], [101.0, 101.5], [1.0, 3.0])


def test_futures_snapshot_when_older_than_first_diff_then_gap_and_out_of_sync() -> None:
    run = new_run()
    run.feed(D2, D3)
    run.feed(fsnapshot(100))  # a recording's snapshot line; D2: U 110 > 100, pu 104 != 100
    assert run.stats.gaps == 1
    assert run.stats.depth_updates_applied == 0
    assert_no_prices(run)
    assert run.decoder.symbols_needing_snapshot() == ["BTCUSDT"]
    run.decoder.on_snapshot("BTCUSDT", 2, fsnapshot(115))  # D2 straddles 115: rebuilt
    assert run.stats.gaps == 1
    assert run.market().book.in_sync
    assert run.market().book.last_update_id == 140


def test_futures_live_diff_when_pu_breaks_the_chain_then_gap_no_prices_and_waits() -> None:
    run = new_run()
    run.decoder.on_snapshot("BTCUSDT", 1, fsnapshot(100))
    run.feed(D1, D3)  # D2 missing: D3.pu 120 != 104
    stats = run.stats
    assert (stats.gaps, stats.resyncs, stats.depth_updates_applied) == (1, 1, 1)
    assert_no_prices(run)
    assert run.decoder.symbols_needing_snapshot() == ["BTCUSDT"]
    run.feed(fdepth(141, 150, 140, asks=(("102.0", "1"),)))  # buffered, not applied
    assert_no_prices(run)
    run.decoder.on_snapshot("BTCUSDT", 2, fsnapshot(135))  # D3 (131..140) straddles 135
    assert run.market().book.in_sync
    assert run.market().book.last_update_id == 150
    assert run.stats.gaps == 1


def test_futures_live_diff_when_contiguous_ids_but_pu_wrong_then_gap() -> None:
    # On spot U == previous u + 1 would do; futures must check pu.
    run = new_run()
    run.decoder.on_snapshot("BTCUSDT", 1, fsnapshot(100))
    run.feed(D1, fdepth(105, 120, 99, asks=(("101.5", "3"),)))
    assert run.stats.gaps == 1
    assert_no_prices(run)


def test_futures_live_diff_when_repeated_then_dropped_as_duplicate() -> None:
    run = new_run()
    run.decoder.on_snapshot("BTCUSDT", 1, fsnapshot(100))
    run.feed(D1, D2, D1, D2, D3)
    assert (run.stats.gaps, run.stats.depth_updates_dropped) == (0, 2)
    assert run.stats.depth_updates_applied == 3
    assert run.market().book.last_update_id == 140


def test_spot_decoder_when_futures_first_diff_rule_then_it_is_a_gap() -> None:
    # The same frames under the spot rule: D2 does not straddle 105 (U 110 > 105).
    run = new_run("spot")
    run.feed(D2)
    run.decoder.on_snapshot("BTCUSDT", 1, fsnapshot(104))
    assert run.stats.gaps == 1


# -- trades, tickers, snapshots ----------------------------------------------------------------


def ftrade(trade_id: int, price: str, qty: str, x: str = "MARKET", maker: bool = False) -> bytes:
    data = {
        "e": "trade",
        "E": 1_723_161_256_322,
        "T": 1_723_161_256_321,
        "s": "BTCUSDT",
        "t": trade_id,
        "p": price,
        "q": qty,
        "X": x,
        "m": maker,
    }
    return dumps({"stream": "btcusdt@trade", "data": data})


def agg_trade(agg_id: int, price: str, qty: str, maker: bool) -> bytes:
    data = {
        "e": "aggTrade",
        "E": 1_723_161_256_322,
        "a": agg_id,
        "s": "BTCUSDT",
        "p": price,
        "q": qty,
        "f": 100,
        "l": 105,
        "T": 1_723_161_256_320,
        "m": maker,
    }
    return dumps({"stream": "btcusdt@aggTrade", "data": data})


def test_futures_trade_when_not_a_market_trade_then_counted_and_skipped() -> None:
    run = new_run()
    run.feed(
        ftrade(1, "61800.30", "0.006"),
        ftrade(2, "61000.00", "1.5", x="INSURANCE_FUND"),
        ftrade(3, "61800.20", "0.010", maker=True),
        ftrade(4, "61000.00", "0.5", x="ADL"),
    )
    assert (run.stats.trades, run.stats.non_market_trades, run.sink.trades) == (2, 2, 2)
    got = run.market().trades.last(10)
    assert got["trade_id"].tolist() == [1, 3]
    assert got["price"].tolist() == [61800.30, 61800.20]
    assert got["side"].tolist() == [SIDE_BUY, SIDE_SELL]
    assert got["ts_event"].tolist() == [1_723_161_256_321 * 1_000_000] * 2
    assert run.market().last_price == 61800.20


@pytest.mark.parametrize("market", ["spot", "usdm", "coinm"])
def test_agg_trade_when_decoded_then_pushed_with_aggregate_id_side_and_trade_time(
    market: str,
) -> None:
    run = new_run(market)
    run.feed(agg_trade(7, "61800.30", "0.25", maker=True), agg_trade(8, "61800.40", "2", False))
    got = run.market().trades.last(10)
    assert got["trade_id"].tolist() == [7, 8]
    assert got["qty"].tolist() == [0.25, 2.0]
    assert got["side"].tolist() == [SIDE_SELL, SIDE_BUY]
    assert got["ts_event"].tolist() == [1_723_161_256_320 * 1_000_000] * 2
    assert run.stats.trades == 2


def test_futures_book_ticker_when_decoded_then_top_of_book_set() -> None:
    run = new_run("coinm", ("BTCUSD_PERP",))
    frame = (
        b'{"stream":"btcusd_perp@bookTicker","data":{"u":1007198632021,"e":"bookTicker",'
        b'"s":"BTCUSD_PERP","ps":"BTCUSD","b":"61804.7","B":"35","a":"61804.8","A":"1645",'
        b'"T":1723161257465,"E":1723161257476}}'
    )
    run.decoder.on_frame(5, frame)
    m = run.market("BTCUSD_PERP")
    assert (m.bid_price, m.bid_qty, m.ask_price, m.ask_qty) == (61804.7, 35.0, 61804.8, 1645.0)
    assert (m.ticker_update_id, m.ticker_ts, run.stats.tickers) == (1007198632021, 5, 1)


def test_snapshot_line_when_it_names_its_symbol_then_routed_in_a_multi_symbol_stream() -> None:
    run = new_run("coinm", ("BTCUSD_PERP", "ETHUSD_PERP"))
    body = json.loads(fsnapshot(100))
    body.update(symbol="ETHUSD_PERP", pair="ETHUSD")
    run.feed(dumps(body))
    assert run.decoder.symbols_needing_snapshot() == ["BTCUSD_PERP"]
    assert run.market("ETHUSD_PERP").book.best() == (100.0, 1.0, 101.0, 1.0)
    run.feed(fsnapshot(100))  # no symbol, two books: cannot be placed
    assert run.stats.bad_frames == 1
    assert run.stats.bad_frame_kinds == {"unknown_event": 1}


def test_decoder_when_market_unknown_then_value_error_names_it() -> None:
    with pytest.raises(ValueError, match="market must be one of spot, usdm, coinm, was 'cm'"):
        new_run("cm")


def test_spot_market_data_decoder_is_the_spot_flavour() -> None:
    market = SymbolMarket(instrument("BTCUSDT"))
    assert SpotMarketDataDecoder({"BTCUSDT": market}, CountingSink()).market == "spot"


def test_invalidate_all_when_called_then_every_book_waits_for_a_snapshot() -> None:
    run = new_run("usdm", ("BTCUSDT", "ETHUSDT"))
    run.decoder.on_snapshot("BTCUSDT", 1, fsnapshot(100))
    run.feed(D1, fdepth(1, 2, 0, symbol="ETHUSDT"))
    run.decoder.invalidate_all("feed disconnected")
    assert_no_prices(run)
    assert run.decoder.symbols_needing_snapshot() == ["BTCUSDT", "ETHUSDT"]
    assert (run.stats.resyncs, run.stats.gaps, run.stats.depth_updates_dropped) == (1, 0, 1)
    run.decoder.on_snapshot("ETHUSDT", 2, fsnapshot(10))  # the old diff is gone: clean book
    assert run.depth("ETHUSDT") == ([100.0], [1.0], [101.0], [1.0])


def test_partial_depth_stream_when_received_then_unknown_stream_not_bad_frame() -> None:
    run = new_run()
    run.feed(b'{"stream":"btcusdt@depth20@100ms","data":{"lastUpdateId":1,"bids":[],"asks":[]}}')
    assert (run.stats.unknown_streams, run.stats.bad_frames) == (1, 0)


# -- bad frames: counted, skipped, logged once per kind ----------------------------------------


GOOD_TRADE = ftrade(1, "61800.30", "0.006")
BAD = {
    "malformed_json": [GOOD_TRADE[:40], GOOD_TRADE[:-3], b"{", b'{"stream":"btcusdt@trade",}'],
    "wrong_type": [
        GOOD_TRADE.replace(b'"p":"61800.30"', b'"p":"abc"'),
        GOOD_TRADE.replace(b'"t":1', b'"t":"one"'),
        b'{"stream":"btcusdt@trade"}',
        b"[1,2,3]",
    ],
    "out_of_range": [
        GOOD_TRADE.replace(b'"p":"61800.30"', b'"p":"0"'),
        GOOD_TRADE.replace(b'"q":"0.006"', b'"q":"-1"'),
    ],
    "unknown_event": [b'{"result":null,"id":1}', b'{"e":"listenKeyExpired"}'],
}


@pytest.mark.parametrize("market", ["spot", "usdm"])
def test_bad_frames_when_many_of_each_kind_then_counted_by_kind_and_logged_once_per_kind(
    caplog: pytest.LogCaptureFixture, market: str
) -> None:
    run = new_run(market)
    frames = [frame for _ in range(3) for kind in BAD.values() for frame in kind]
    with caplog.at_level(logging.WARNING, logger="ats.adapters.binance"):
        for frame in frames:
            run.decoder.on_frame(0, frame)
        run.decoder.on_frame(0, frames[1].decode("utf-8", "replace"))  # str frames too
    assert run.stats.trades == 0
    expected = {kind: 3 * len(frames_) for kind, frames_ in BAD.items()}
    expected["malformed_json"] += 1
    assert run.stats.bad_frame_kinds == expected
    assert run.stats.bad_frames == len(frames) + 1
    logged = [r for r in caplog.records if r.getMessage().startswith("bad frame skipped")]
    assert sorted(r.fields["kind"] for r in logged) == sorted(BAD)  # type: ignore[attr-defined]
    run.feed(GOOD_TRADE)  # and the decoder carries on
    assert run.stats.trades == 1


def test_bad_level_when_repeated_then_counted_each_time_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = new_run()
    with caplog.at_level(logging.WARNING, logger="ats.adapters.binance"):
        for i in range(3):
            run.decoder.on_snapshot("BTCUSDT", 1, fsnapshot(100 * (i + 1)))
            last = 100 * (i + 1)
            run.feed(fdepth(last + 1, last + 5, last, bids=(("nan", "1"),)))
    assert run.stats.bad_frame_kinds == {"invalid_level": 3}
    assert run.stats.resyncs == 3
    logged = [r for r in caplog.records if r.getMessage().startswith("bad frame skipped")]
    assert len(logged) == 1


# -- detection of the market of a recording ----------------------------------------------------


@pytest.mark.parametrize(
    ("frames", "market"),
    [
        ([fdepth(1, 2, 0)], "usdm"),
        ([fdepth(1, 2, 0, symbol="BTCUSD_PERP")], "coinm"),
        (
            [
                b'{"stream":"btcusd_240927@bookTicker","data":{"u":1,"s":"BTCUSD_240927","ps":"BTCUSD"}}'
            ],
            "coinm",
        ),
        ([b'{"stream":"btcusdt@depth@100ms","data":{"U":1,"u":2,"s":"BTCUSDT"}}'], "spot"),
        ([GOOD_TRADE, b"not json", fdepth(1, 2, 0)], "usdm"),
        ([b'{"lastUpdateId":1,"symbol":"BTCUSD_PERP","pair":"BTCUSD"}'], "coinm"),
        ([GOOD_TRADE], "spot"),
        ([], "spot"),
    ],
    ids=[
        "pu",
        "perp_symbol",
        "ps_field",
        "no_pu",
        "after_other_frames",
        "snapshot_pair",
        "no_depth",
        "empty",
    ],
)
def test_detect_market_when_frames_given_then_binance_market(
    frames: list[bytes], market: str
) -> None:
    assert detect_market((0, f) for f in frames) == market


# -- real data: a removed diff on USD-M ----------------------------------------------------------

PREFIX = 30_000


@pytest.fixture(scope="module")
def usdm_frames() -> list[tuple[int, bytes]]:
    return load_frames(USDM)[:PREFIX]


def replay(frames: list[tuple[int, bytes]]) -> Run:
    run = new_run("usdm")
    for ts, frame in frames:
        run.decoder.on_frame(ts, frame)
    return run


def test_usdm_recording_when_diff_removed_then_gap_and_rebuilt_by_a_later_snapshot(
    usdm_frames: list[tuple[int, bytes]],
) -> None:
    depth = [i for i, (_, f) in enumerate(usdm_frames) if f.startswith(b'{"stream":"btcusdt@depth')]
    removed, resnap_at = depth[300], depth[600] + 1
    # The venue's snapshot at resnap_at: the untouched replay's book there.
    clean = replay(usdm_frames[:resnap_at])
    bid_p, bid_q, ask_p, ask_q = clean.depth()
    snapshot = dumps(
        {
            "lastUpdateId": clean.market().book.last_update_id,
            "bids": [[repr(p), repr(q)] for p, q in zip(bid_p, bid_q, strict=True)],
            "asks": [[repr(p), repr(q)] for p, q in zip(ask_p, ask_q, strict=True)],
        }
    )
    ts = usdm_frames[resnap_at][0]
    frames = [
        *usdm_frames[:removed],
        *usdm_frames[removed + 1 : resnap_at],
        (ts, snapshot),
        *usdm_frames[resnap_at:],
    ]
    run = replay(frames)
    full = replay(usdm_frames)
    stats = run.stats
    assert (stats.gaps, stats.resyncs, stats.snapshots, stats.bad_frames) == (1, 1, 2, 0)
    # out of sync from the gap to the new snapshot, then the same book as the clean replay
    states = run.sink.books
    first_out = next(i for i, s in enumerate(states) if not s[0])
    back_in = next(i for i, s in enumerate(states) if i > first_out and s[0])
    assert states[first_out - 1][1] == json.loads(usdm_frames[depth[299]][1])["data"]["u"]
    correct = {u: best for in_sync, u, best in full.sink.books if in_sync}
    assert all(best == correct[u] for in_sync, u, best in states if in_sync)
    assert all(not s[0] for s in states[first_out:back_in])
    assert run.depth() == full.depth()
    assert run.stats.trades == full.stats.trades
