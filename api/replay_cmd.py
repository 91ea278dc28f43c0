"""``ats replay``: run a Binance recording through the live feed's decoder and books.

``ats replay FILE [--venue binance-spot|binance-usdm|binance-coinm] [--json]``

The recording (``<recv_ts_ns> <raw frame>`` lines, gzip or plain; a line
without ``stream`` is a REST depth snapshot, as hftbacktest records them)
goes frame by frame through :class:`adapters.binance.BinanceMarketDataDecoder`,
the class the live feed uses, into one L2 book and trade ring per symbol. No
strategy, no venue: the output says whether the recording rebuilds a correct
book. It prints ``frames``, ``depth_updates_applied``,
``depth_updates_dropped``, ``gaps``, ``resyncs``, ``bad_frames``, ``trades``,
``final_best_bid``, ``final_best_ask``, the last ``bookTicker`` seen, and
``bookticker_checks`` / ``bookticker_mismatches``: how many in-sync book
states were compared with the venue's own top of book, and how many differed
(see :class:`TopOfBookCheck`). With several symbols the top-level values are
those of the first symbol in the recording; ``symbols`` has one block each.

Without ``--venue`` the market is detected from the recording
(:func:`adapters.binance.decoder.detect_market`: a depth diff with ``pu`` is
futures, a ``_PERP`` symbol or a ``ps`` field COIN-M). Symbols are the ones
the recording has streams for (one quick pass over it first). Books key
prices by ticks of 1e-8: Binance prints at most 8 decimals on every market,
so that step divides every real tick and the books are exact without
instrument metadata.
"""

from __future__ import annotations

import argparse
import bisect
import math
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from adapters.binance.decoder import BinanceMarketDataDecoder, detect_market
from adapters.replay import RecordingError, RecordingReader
from engine.book import BookOverflowError
from engine.instruments import Instrument
from engine.market import SymbolMarket

__all__ = ["VENUES", "TopOfBookCheck", "add_parser", "replay", "run"]

#: ``--venue`` → Binance market of the decoder.
VENUES = {"binance-spot": "spot", "binance-usdm": "usdm", "binance-coinm": "coinm"}

#: Price step of the replay books (see the module docstring).
REPLAY_TICK = 1e-8
_CHANNELS = ("depth", "trade", "aggTrade", "bookTicker")
_STREAM_PREFIX = b'{"stream":"'


class ReplayError(Exception):
    """A recording that cannot be replayed; the message names the path or the value."""


class _SymbolCheck:
    __slots__ = (
        "checks",
        "last_u",
        "mismatches",
        "pending",
        "qty_mismatches",
        "ticker_ids",
        "tickers",
    )

    def __init__(self) -> None:
        self.ticker_ids: list[int] = []
        self.tickers: list[tuple[float, float, float, float]] = []
        self.pending: list[tuple[int, tuple[float, float, float, float]]] = []
        self.last_u = -1
        self.checks = 0
        self.mismatches = 0
        self.qty_mismatches = 0


class TopOfBookCheck:
    """A market-data sink that compares our in-sync books with the venue's ``bookTicker``.

    The rule: ``bookTicker`` and depth diffs are separate streams with one
    update-id sequence. A ticker with id ``t`` is the top of book after update
    ``t``, and Binance sends one for every change of the best bid or ask
    (price or quantity), in id order. Our book after the diff ending at ``u``
    (or the snapshot at ``lastUpdateId``) is the venue's book after update
    ``u``, so its best bid/ask must equal the latest ticker with ``t <= u``. A
    ticker can arrive after the diff that contains its update, so a book
    state is compared once a ticker with ``t > u`` has arrived (all tickers up
    to ``u`` are then known); states after the last ticker, and states with
    no ticker at or before them, are not compared. ``checks`` counts the
    comparisons, ``mismatches`` those whose best bid or ask *price* differed
    (the issue's target: zero), ``qty_mismatches`` those with equal prices but
    a different best quantity.
    """

    #: Tickers kept per symbol to look back from a book state (trimmed in halves).
    history = 8192

    def __init__(self) -> None:
        self._symbols: dict[str, _SymbolCheck] = {}

    def symbol(self, symbol: str) -> _SymbolCheck:
        """The counters of one symbol."""
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = _SymbolCheck()
        return state

    def on_trade(self, market: SymbolMarket, ts_recv: int) -> None:
        """Trades do not move the book."""

    def on_book(self, market: SymbolMarket, ts_recv: int) -> None:
        """Record an in-sync book state; compare it now if a later ticker has arrived."""
        book = market.book
        if not book.in_sync:
            return
        state = self.symbol(market.symbol)
        u = book.last_update_id
        if u == state.last_u:
            return  # the snapshot's final on_book repeats the last applied diff's state
        state.last_u = u
        best = book.best()
        if state.ticker_ids and state.ticker_ids[-1] > u:
            self._compare(state, u, best)
        else:
            state.pending.append((u, best))

    def on_ticker(self, market: SymbolMarket, ts_recv: int) -> None:
        """Record the venue's top of book and settle the states it follows."""
        state = self.symbol(market.symbol)
        t = market.ticker_update_id
        ids = state.ticker_ids
        ids.append(t)
        state.tickers.append((market.bid_price, market.bid_qty, market.ask_price, market.ask_qty))
        if len(ids) > 2 * self.history:
            del ids[: self.history]
            del state.tickers[: self.history]
        pending = state.pending
        if pending and pending[0][0] < t:
            settled = 0
            for u, best in pending:
                if u >= t:
                    break
                self._compare(state, u, best)
                settled += 1
            del pending[:settled]

    @staticmethod
    def _compare(state: _SymbolCheck, u: int, best: tuple[float, float, float, float]) -> None:
        i = bisect.bisect_right(state.ticker_ids, u) - 1
        if i < 0:
            return
        bid, bid_qty, ask, ask_qty = state.tickers[i]
        state.checks += 1
        if best[0] != bid or best[2] != ask:
            state.mismatches += 1
        elif best[1] != bid_qty or best[3] != ask_qty:
            state.qty_mismatches += 1


def add_parser(sub: Any) -> None:
    """Register ``ats replay`` on the ``ats`` sub-command parser."""
    p = sub.add_parser(
        "replay", help="run a Binance recording through the live decoder and books (no strategy)"
    )
    p.add_argument("file", metavar="FILE", help="recording: <recv_ts_ns> <raw frame> lines")
    p.add_argument(
        "--venue",
        choices=sorted(VENUES),
        help="Binance market of the recording (default: detected from the frames)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--config", help="TOML configuration (logging only)")


def _symbols(frames: Iterable[tuple[int, bytes]]) -> list[str]:
    """Venue symbols with a market-data stream in ``frames``, in order of first appearance."""
    seen: dict[bytes, None] = {}
    streams: set[bytes] = set()
    at = len(_STREAM_PREFIX)
    for _, frame in frames:
        if not frame.startswith(_STREAM_PREFIX):
            continue
        stream = frame[at : frame.find(b'"', at)]
        if stream in streams:
            continue
        streams.add(stream)
        name, _, channel = stream.partition(b"@")
        channel = b"depth" if channel.startswith(b"depth@") else channel
        if channel.decode("utf-8", "replace") in _CHANNELS and name not in seen:
            seen[name] = None
    return [name.decode("utf-8", "replace").upper() for name in seen]


def _instrument(venue_symbol: str) -> Instrument:
    return Instrument(
        symbol=venue_symbol,
        venue="binance",
        venue_symbol=venue_symbol,
        base=venue_symbol,
        quote="",
        tick_size=REPLAY_TICK,
        lot_size=REPLAY_TICK,
    )


def replay(path: Path, venue: str | None = None) -> dict[str, Any]:
    """Replay the recording at ``path``; return the summary (the keys of ``--json``).

    Raises :class:`ReplayError` (or :class:`adapters.replay.RecordingError`)
    for a recording that cannot be replayed.
    """
    if not path.is_file():
        raise RecordingError(f"recording not found: {path}")
    market = VENUES[venue] if venue is not None else detect_market(RecordingReader(path))
    symbols = _symbols(RecordingReader(path))
    if not symbols:
        raise ReplayError(f"no Binance depth, trade or bookTicker stream in {path}")
    markets = {s: SymbolMarket(_instrument(s), trade_capacity=1024) for s in symbols}
    check = TopOfBookCheck()
    decoder = BinanceMarketDataDecoder(markets, check, market=market)  # type: ignore[arg-type]
    decoder.warm_up()
    reader = RecordingReader(path)
    on_frame = decoder.on_frame
    started = time.perf_counter()
    for ts, frame in reader:
        on_frame(ts, frame)
    elapsed = time.perf_counter() - started
    stats = decoder.stats
    blocks: dict[str, Any] = {}
    for symbol, m in markets.items():
        bid, _, ask, _ = m.book.best()
        state = check.symbol(symbol)
        blocks[symbol] = {
            "in_sync": m.book.in_sync,
            "final_best_bid": _num(bid),
            "final_best_ask": _num(ask),
            "last_book_ticker": _ticker(m),
            "trades": m.trades.count,
            "bookticker_checks": state.checks,
            "bookticker_mismatches": state.mismatches,
            "bookticker_qty_mismatches": state.qty_mismatches,
        }
    first = blocks[symbols[0]]
    frames = stats.frames + reader.bad_lines
    return {
        "data": str(path),
        "venue": f"binance-{market}",
        "frames": frames,
        "depth_updates_applied": stats.depth_updates_applied,
        "depth_updates_dropped": stats.depth_updates_dropped,
        "snapshots": stats.snapshots,
        "gaps": stats.gaps,
        "resyncs": stats.resyncs,
        "crossed": stats.crossed,
        "bad_frames": stats.bad_frames + reader.bad_lines,
        "bad_frame_kinds": dict(stats.bad_frame_kinds),
        "unknown_streams": stats.unknown_streams,
        "trades": stats.trades,
        "non_market_trades": stats.non_market_trades,
        "tickers": stats.tickers,
        "final_best_bid": first["final_best_bid"],
        "final_best_ask": first["final_best_ask"],
        "last_book_ticker": first["last_book_ticker"],
        "bookticker_checks": sum(b["bookticker_checks"] for b in blocks.values()),
        "bookticker_mismatches": sum(b["bookticker_mismatches"] for b in blocks.values()),
        "bookticker_qty_mismatches": sum(b["bookticker_qty_mismatches"] for b in blocks.values()),
        "symbols": blocks,
        "truncated": reader.truncated,
        "elapsed_s": round(elapsed, 6),
        "frames_per_s": round(frames / elapsed) if elapsed > 0 else None,
    }


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _ticker(market: SymbolMarket) -> dict[str, Any] | None:
    if market.ticker_update_id < 0:
        return None
    return {
        "update_id": market.ticker_update_id,
        "bid": market.bid_price,
        "bid_qty": market.bid_qty,
        "ask": market.ask_price,
        "ask_qty": market.ask_qty,
    }


def run(args: argparse.Namespace, resolve_data: Callable[[str], Path]) -> int:
    """Entry point of ``ats replay``; returns the exit status (2 with one line on bad input)."""
    try:
        summary = replay(Path(resolve_data(args.file)), args.venue)
    except (RecordingError, ReplayError, BookOverflowError) as exc:
        sys.stderr.write(f"ats replay: error: {exc}\n")
        return 2
    out = sys.stdout
    if args.json:
        out.write(orjson.dumps(summary).decode() + "\n")
        return 0
    for key, value in summary.items():
        if key == "symbols":
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
        elif isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:,}"
        out.write(f"  {key:<28} {value}\n")
    if len(summary["symbols"]) > 1:
        for symbol, block in summary["symbols"].items():
            ticker = block["last_book_ticker"] or {}
            out.write(
                f"{symbol}: book {'in sync' if block['in_sync'] else 'OUT OF SYNC'}, "
                f"best {block['final_best_bid']} / {block['final_best_ask']}, "
                f"venue bookTicker {ticker.get('bid')} / {ticker.get('ask')}, "
                f"{block['bookticker_mismatches']} mismatches in "
                f"{block['bookticker_checks']} checks\n"
            )
    return 0
