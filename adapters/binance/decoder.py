"""Binance market data (spot, USD-M and COIN-M futures): frames → L2 book, trade ring, top of book.

One :class:`BinanceMarketDataDecoder` serves every symbol of a connection to
one market (``market="spot"``, ``"usdm"`` or ``"coinm"``;
:data:`SpotMarketDataDecoder` is the same class, spot by default). It decodes
each combined-stream frame into the msgspec Struct of its channel (decoders
built once, here), writes the fields into the symbol's
:class:`engine.market.SymbolMarket`, and calls the engine's
:class:`engine.protocols.MarketDataSink`. The live feed and ``ats replay``
use this same class, so a recording exercises exactly the live code.

Book procedures ("How to manage a local order book correctly"):

* **Spot** (``U``/``u``): buffer the diffs that arrive before the REST
  snapshot (``lastUpdateId = L``); drop diffs with ``u <= L``; the first diff
  applied must straddle ``L + 1`` (``U <= L + 1 <= u``); from then on every
  diff must have ``U == previous u + 1``.
* **Futures**, USD-M and COIN-M (``pu``): buffer likewise; drop diffs with
  ``u < L``; the first diff applied must have ``U <= L <= u`` (a diff whose
  ``pu == L`` continues the snapshot exactly and is accepted too); from then
  on every diff must have ``pu == previous u``.

Any other diff is a gap: the book is invalidated (it reports no prices), the
gap is counted, and the symbol waits for a new snapshot (``needs_snapshot``),
keeping the diffs that follow. A diff at or below the last applied id is a
duplicate and is dropped. A crossed book after a diff, or a diff with an
invalid level (counted in ``bad_frames``), also forces a resync.

Trades: spot ``trade``, futures ``trade`` (only ``X == "MARKET"`` trades are
market trades; the others, insurance fund or ADL, are counted in
``non_market_trades`` and skipped) and ``aggTrade`` on every market.

Bad input: a frame that fails to decode (truncated JSON, wrong types), an
out-of-range price or quantity, an invalid level or an unwrapped frame that
is not a depth snapshot is counted in ``bad_frames`` (and by kind in
``bad_frame_kinds``) and skipped; the first frame of each kind is logged,
the rest only counted. Since a skipped diff is missing, the next diff is a
gap. Frames of streams or symbols this decoder was not built for are counted
in ``unknown_streams`` (logged once per stream).

Hot path: one msgspec decoder over a union of Structs tagged by stream name
(:func:`adapters.binance.schemas.stream_frame`) routes and decodes a frame of
a known stream in one call; anything else (snapshot lines, unknown streams,
bad frames) goes through the wrapper decoder, and a new stream name of a
known symbol and channel joins the union.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import numpy as np

from adapters.binance.fastpath import (
    DEPTH_DROP,
    FALLBACK,
    KIND_AGG_TRADE,
    KIND_FUTURES_TRADE,
    KIND_TRADE,
    MAX_TIME_MS,
    MODE_FIRST_AFTER_SNAPSHOT,
    MODE_FUTURES,
    NON_MARKET,
    agg_trade_frame,
    compiled_entry,
    depth_frame,
    futures_trade_frame,
    spot_trade_frame,
    work_arena,
)
from adapters.binance.schemas import (
    AggTrade,
    BookTicker,
    DepthSnapshot,
    DepthUpdate,
    FuturesDepthUpdate,
    FuturesTrade,
    Trade,
    agg_trade_decoder,
    book_ticker_decoder,
    combined_stream_decoder,
    depth_snapshot_decoder,
    depth_update_decoder,
    futures_depth_update_decoder,
    futures_trade_decoder,
    market_probe_decoder,
    stream_frame,
    stream_frames_decoder,
    trade_decoder,
)
from adapters.binance.symbols import MARKETS, Market
from adapters.levels import parse_level_array
from engine.book import BOOK_BAD_LEVEL, BOOK_CROSSED, BOOK_OK, L2Book
from engine.market import SymbolMarket, TradeRing
from engine.protocols import MarketDataSink
from kernels.dtypes import SIDE_BUY, SIDE_SELL

__all__ = [
    "BinanceMarketDataDecoder",
    "DecoderStats",
    "SpotMarketDataDecoder",
    "detect_market",
]

_log = logging.getLogger("ats.adapters.binance")

_MS = 1_000_000
_INF = math.inf
#: Trade ids are stored as int64.
_MIN_ID = -(2**63)
_MAX_ID = 2**63 - 1
_EMPTY = np.empty((0, 2), dtype=np.float64)
#: Streams in the one-call decoder from the start (others join it on first sight).
_PRESET_CHANNELS = (
    "depth",
    "depth@100ms",
    "depth@250ms",
    "depth@500ms",
    "depth@0ms",
    "trade",
    "aggTrade",
    "bookTicker",
)
#: Rows of the reusable level buffers (a diff side with more levels gets its own array).
_SCRATCH_ROWS = 1024
#: Fast-path route kind of depth diffs (trades use the fastpath KIND_* values).
_FAST_DEPTH = 3

# Outcomes of the sequence check of one diff.
_APPLY = 0
_DROP = 1
_GAP_FIRST = 2
_GAP_CHAIN = 3
_GAP_REASONS = {
    _GAP_FIRST: "first diff after the snapshot does not straddle lastUpdateId",
    _GAP_CHAIN: "depth update id gap",
}

# Kinds of bad frames (keys of DecoderStats.bad_frame_kinds).
_MALFORMED = "malformed_json"
_WRONG_TYPE = "wrong_type"
_OUT_OF_RANGE = "out_of_range"
_INVALID_LEVEL = "invalid_level"
_UNKNOWN_EVENT = "unknown_event"


@dataclasses.dataclass(slots=True, kw_only=True)
class DecoderStats:
    """Counters of one decoder (all symbols).

    A slotted dataclass rather than a msgspec Struct: an increment costs half
    as much, and the fast path does two per frame. ``msgspec.to_builtins``
    and ``msgspec.json.encode`` take it all the same.
    """

    frames: int = 0
    depth_updates_applied: int = 0
    depth_updates_dropped: int = 0
    depth_updates_buffered: int = 0
    snapshots: int = 0
    gaps: int = 0
    resyncs: int = 0
    crossed: int = 0
    bad_frames: int = 0
    #: ``bad_frames`` by kind: malformed_json, wrong_type, out_of_range, invalid_level,
    #: unknown_event.
    bad_frame_kinds: dict[str, int] = dataclasses.field(default_factory=dict)
    unknown_streams: int = 0
    trades: int = 0
    #: Futures trades that are not market trades (``X`` other than ``"MARKET"``), skipped.
    non_market_trades: int = 0
    tickers: int = 0


_levels = parse_level_array

_ENTRIES: tuple[dict[int, Any], Any] | None = None


def _entries() -> tuple[dict[int, Any], Any]:
    """The compiled entry points of the fast-path kernels (resolved once per process)."""
    global _ENTRIES
    if _ENTRIES is None:
        ring = TradeRing(1).data
        trade = {
            kind: compiled_entry(kernel, b"", 0, ring, 0)
            for kind, kernel in (
                (KIND_TRADE, spot_trade_frame),
                (KIND_FUTURES_TRADE, futures_trade_frame),
                (KIND_AGG_TRADE, agg_trade_frame),
            )
        }
        arena = L2Book("-", 0.01, 1).arena
        depth = compiled_entry(depth_frame, b"", arena, work_arena(1), 0.01, 0, 0)
        _ENTRIES = (trade, depth)
    return _ENTRIES


class _SymbolSync:
    """Per-symbol state of the book procedure."""

    __slots__ = ("buffer", "first_after_snapshot", "market", "needs_snapshot")

    def __init__(self, market: SymbolMarket) -> None:
        self.market = market
        self.buffer: list[DepthUpdate] = []
        self.first_after_snapshot = False
        self.needs_snapshot = True


_Handler = Callable[[_SymbolSync, int, Any], None]
#: A known stream: (handler, symbol state, decoder of its ``data``).
_Route = tuple[_Handler, _SymbolSync, Any]


class BinanceMarketDataDecoder:
    """Decode Binance combined-stream frames into the engine's market state.

    Parameters
    ----------
    markets : dict[str, SymbolMarket]
        Market state by *venue* symbol (``BTCUSDT``, ``BTCUSD_PERP``).
    sink : MarketDataSink
        Called after each trade, book change and ticker.
    max_buffered : int
        Diffs kept per symbol while waiting for a snapshot; the oldest are
        dropped beyond it (they would be older than any new snapshot anyway).
    market : {"spot", "usdm", "coinm"}
        Binance market of the connection: decides the book procedure
        (``U``/``u`` on spot, the ``pu`` chain on futures) and the wire
        format of depth diffs and trades.
    fast_path : bool
        Decode trades and depth diffs with the compiled kernels of
        :mod:`adapters.binance.fastpath` (the default). ``False`` sends every
        frame through msgspec; the results are the same (tested), only slower.

    Examples
    --------
    >>> decoder = BinanceMarketDataDecoder({"BTCUSDT": market}, engine, market="usdm")
    >>> decoder.on_snapshot("BTCUSDT", ts, rest_body)
    >>> decoder.on_frame(ts, frame)
    """

    def __init__(
        self,
        markets: dict[str, SymbolMarket],
        sink: MarketDataSink,
        max_buffered: int = 10_000,
        market: Market = "spot",
        fast_path: bool = True,
    ) -> None:
        if not markets:
            raise ValueError("BinanceMarketDataDecoder needs at least one symbol")
        if market not in MARKETS:
            raise ValueError(f"market must be one of {', '.join(MARKETS)}, was {market!r}")
        self.market: Market = market
        self.stats = DecoderStats()
        self._futures = market != "spot"
        self._sink = sink
        self._max_buffered = max_buffered
        self._use_fast_path = fast_path
        self._syncs = {venue_symbol: _SymbolSync(m) for venue_symbol, m in markets.items()}
        self._envelope = combined_stream_decoder()
        self._snapshot = depth_snapshot_decoder()
        depth: type[DepthUpdate] = FuturesDepthUpdate if self._futures else DepthUpdate
        trade: type[Trade] = FuturesTrade if self._futures else Trade
        # channel → (handler, message Struct, decoder of data alone), all built once, here
        self._channels: dict[str, tuple[_Handler, type, Any]] = {
            "depth": (
                self._on_depth,
                depth,
                futures_depth_update_decoder() if self._futures else depth_update_decoder(),
            ),
            "trade": (
                self._on_futures_trade if self._futures else self._on_trade,
                trade,
                futures_trade_decoder() if self._futures else trade_decoder(),
            ),
            "aggTrade": (self._on_agg_trade, AggTrade, agg_trade_decoder()),
            "bookTicker": (self._on_ticker, BookTicker, book_ticker_decoder()),
        }
        self._sequence = self._futures_sequence if self._futures else self._spot_sequence
        # stream name → route (None: not ours), for frames the one-call decoder does not know
        self._routes: dict[str, _Route | None] = {}
        # The hot path: one decoder over a union of Structs tagged by stream name, so a
        # frame is routed and decoded in one msgspec call; each Struct class carries its
        # route (handler, symbol state).
        self._frame_types: dict[str, type] = {}
        # stream name (bytes) → (trade kernel or None for diffs, symbol state, its
        # market, its trade ring and the ring's records): the compiled fast path's routes
        self._fast: dict[bytes, tuple[Any, _SymbolSync, SymbolMarket, TradeRing, np.ndarray]] = {}
        self._trade_entries, self._depth_entry = _entries()
        for venue_symbol in self._syncs:
            for channel in _PRESET_CHANNELS:
                self._route(f"{venue_symbol.lower()}@{channel}", log=False)
        self._frames = stream_frames_decoder(self._frame_types.values())
        self._scratch = np.empty((2, _SCRATCH_ROWS, 2), dtype=np.float64)
        # the fast path's scratch holds a whole side: a sweep diff merges in one pass too
        rows = max(_SCRATCH_ROWS, *(s.market.book.capacity for s in self._syncs.values()))
        self._work = work_arena(rows)
        self._scratch_bids = self._scratch[0]
        self._scratch_asks = self._scratch[1]
        self._depth_mode = MODE_FUTURES if self._futures else 0

    # -- public --------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the compiled book kernels on a scratch book (before the first frame)."""
        from engine.book import L2Book

        scratch = L2Book("warm-up", 0.01, 4)
        one = _levels(msgspec.Raw(b'[["1.0","1.0"]]'))
        two = _levels(msgspec.Raw(b"[[2, 1]]"), self._scratch_asks)
        assert one is not None and two is not None
        scratch.load_snapshot(one, two, 1)
        scratch.apply(one, _EMPTY, 2, 0)
        scratch.best()
        scratch.level_qty(0, 1.0)
        scratch.depth(0, 1)

    def symbols_needing_snapshot(self) -> list[str]:
        """Venue symbols whose book waits for a REST snapshot."""
        return [s for s, sync in self._syncs.items() if sync.needs_snapshot]

    def invalidate_all(self, reason: str) -> None:
        """Invalidate every book (disconnect, stale feed): each waits for a new snapshot.

        Buffered diffs are dropped too: the next connection's diffs do not
        chain to them.
        """
        _log.warning("order books invalidated: resync", extra={"fields": {"reason": reason}})
        for sync in self._syncs.values():
            self.stats.depth_updates_dropped += len(sync.buffer)
            sync.buffer = []
            self._invalidate(sync)

    def on_frame(self, ts_recv: int, frame: bytes) -> None:
        """Process one WebSocket frame of the combined stream (bytes or str).

        Trades and depth diffs of known streams go through the compiled fast
        path (:mod:`adapters.binance.fastpath`) first; whatever it does not
        take (and every other frame) goes through msgspec.
        """
        try:  # str, bytearray and memoryview frames fail here and take the msgspec path
            # the stream name: from after '{"stream":"' (11 bytes) to the next quote
            fast = self._fast.get(frame[11 : frame.find(b'"', 11)])
        except (TypeError, AttributeError):
            fast = None
        if fast is not None:
            entry, sync, market, ring, records = fast
            if entry is not None:
                price, ts_event = entry(frame, ts_recv, records, ring.count)
                if price > 0.0:
                    ring.count += 1
                    market.last_price = price
                    market.last_trade_ts = ts_event
                    stats = self.stats
                    stats.frames += 1
                    stats.trades += 1
                    self._sink.on_trade(market, ts_recv)
                    return
                if price == NON_MARKET:
                    self.stats.frames += 1
                    self.stats.non_market_trades += 1
                    return
            elif (book := market.book).in_sync:
                mode = self._depth_mode
                if sync.first_after_snapshot:
                    mode |= MODE_FIRST_AFTER_SNAPSHOT
                status, final, time_ms = self._depth_entry(
                    frame, book.arena, self._work, book.tick_size, book.last_update_id, mode
                )
                if status == BOOK_OK:
                    book.last_update_id = final
                    book.ts_event = time_ms * _MS
                    sync.first_after_snapshot = False
                    stats = self.stats
                    stats.frames += 1
                    stats.depth_updates_applied += 1
                    self._sink.on_book(market, ts_recv)
                    return
                if status != FALLBACK:
                    self._fast_depth_other(sync, ts_recv, frame, status, final, time_ms)
                    return
        self.stats.frames += 1
        try:
            msg = self._frames.decode(frame)
        except msgspec.ValidationError:
            # Not a frame of a stream the one-call decoder knows (a snapshot line, an
            # unknown or new stream), or a known stream's frame with bad fields.
            self._on_other_frame(ts_recv, frame)
            return
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # the latter: bad UTF-8
            self._bad_frame(_MALFORMED, frame, str(exc))
            return
        handler, sync = msg.route
        handler(sync, ts_recv, msg.data)

    def on_snapshot(self, venue_symbol: str, ts_recv: int, body: bytes) -> None:
        """Apply a REST depth snapshot (``/api/v3/depth``, ``/fapi/v1``, ``/dapi/v1``)."""
        sync = self._syncs.get(venue_symbol)
        if sync is None:
            self.stats.unknown_streams += 1
            _log.warning(
                "depth snapshot for unknown symbol", extra={"fields": {"symbol": venue_symbol}}
            )
            return
        try:
            snapshot = self._snapshot.decode(body)
        except msgspec.ValidationError as exc:
            self._bad_frame(_WRONG_TYPE, body, str(exc))
            return
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # the latter: bad UTF-8
            self._bad_frame(_MALFORMED, body, str(exc))
            return
        self._apply_snapshot(sync, ts_recv, snapshot)

    # -- channels ------------------------------------------------------------------------------

    def _on_ticker(self, sync: _SymbolSync, ts_recv: int, t: BookTicker) -> None:
        if not (0.0 < t.b < _INF and 0.0 < t.a < _INF and t.B >= 0.0 and t.A >= 0.0):
            self._bad_frame(_OUT_OF_RANGE, t, "bookTicker price or quantity out of range")
            return
        market = sync.market
        if t.u < market.ticker_update_id:
            return  # an older ticker overtaken by a newer one
        market.bid_price = t.b
        market.bid_qty = t.B
        market.ask_price = t.a
        market.ask_qty = t.A
        market.ticker_update_id = t.u
        market.ticker_ts = ts_recv
        self.stats.tickers += 1
        self._sink.on_ticker(market, ts_recv)

    def _on_trade(self, sync: _SymbolSync, ts_recv: int, t: Trade) -> None:
        self._trade(sync.market, ts_recv, t.T, t.p, t.q, t.t, t.m)

    def _on_futures_trade(self, sync: _SymbolSync, ts_recv: int, t: FuturesTrade) -> None:
        if t.X != "MARKET":
            self.stats.non_market_trades += 1
            return
        self._trade(sync.market, ts_recv, t.T, t.p, t.q, t.t, t.m)

    def _on_agg_trade(self, sync: _SymbolSync, ts_recv: int, t: AggTrade) -> None:
        self._trade(sync.market, ts_recv, t.T, t.p, t.q, t.a, t.m)

    def _trade(
        self,
        market: SymbolMarket,
        ts_recv: int,
        time_ms: int,
        price: float,
        qty: float,
        trade_id: int,
        buyer_is_maker: bool,
    ) -> None:
        if not (0.0 < price < _INF and 0.0 < qty < _INF):
            self._bad_frame(
                _OUT_OF_RANGE, (market.symbol, price, qty), "trade price or quantity out of range"
            )
            return
        if not (0 <= time_ms <= MAX_TIME_MS and _MIN_ID <= trade_id <= _MAX_ID):
            self._bad_frame(
                _OUT_OF_RANGE,
                (market.symbol, time_ms, trade_id),
                "trade time or id out of range",
            )
            return
        ts_event = time_ms * _MS
        market.trades.push(
            ts_event, ts_recv, price, qty, trade_id, SIDE_SELL if buyer_is_maker else SIDE_BUY
        )
        market.last_price = price
        market.last_trade_ts = ts_event
        self.stats.trades += 1
        self._sink.on_trade(market, ts_recv)

    def _on_depth(self, sync: _SymbolSync, ts_recv: int, diff: DepthUpdate) -> None:
        if not sync.market.book.in_sync:
            buffer = sync.buffer
            buffer.append(diff)
            self.stats.depth_updates_buffered += 1
            if len(buffer) > self._max_buffered:
                del buffer[0]
                self.stats.depth_updates_dropped += 1
            return
        status = self._sequence(sync, diff)
        if status == _APPLY:
            self._apply(sync, ts_recv, diff)
        elif status == _DROP:
            self.stats.depth_updates_dropped += 1
        else:
            self._gap(sync, diff, _GAP_REASONS[status])

    def _fast_depth_other(
        self, sync: _SymbolSync, ts_recv: int, frame: bytes, status: int, final: int, time_ms: int
    ) -> None:
        """The fast path's rarer outcomes: an old diff dropped, or one applied that crossed."""
        stats = self.stats
        stats.frames += 1
        if status == DEPTH_DROP:
            stats.depth_updates_dropped += 1
            return
        # applied, and the book overflowed (raises, like the msgspec path) or crossed
        sync.market.book.finish_apply(status, final, time_ms * _MS)
        self._after_apply(sync, ts_recv, status, frame)

    # -- book procedure ------------------------------------------------------------------------

    def _spot_sequence(self, sync: _SymbolSync, diff: DepthUpdate) -> int:
        last = sync.market.book.last_update_id
        if diff.u <= last:
            return _DROP
        if sync.first_after_snapshot:
            return _APPLY if diff.U <= last + 1 else _GAP_FIRST
        return _APPLY if diff.U == last + 1 else _GAP_CHAIN

    def _futures_sequence(self, sync: _SymbolSync, diff: FuturesDepthUpdate) -> int:
        last = sync.market.book.last_update_id
        if sync.first_after_snapshot:
            if diff.u < last:
                return _DROP
            return _APPLY if diff.U <= last or diff.pu == last else _GAP_FIRST
        if diff.u <= last:
            return _DROP
        return _APPLY if diff.pu == last else _GAP_CHAIN

    def _apply(self, sync: _SymbolSync, ts_recv: int, diff: DepthUpdate) -> bool:
        book = sync.market.book
        time_ms = diff.T if self._futures else diff.E  # type: ignore[attr-defined]
        buf_b = np.frombuffer(diff.b, dtype=np.uint8)
        buf_a = np.frombuffer(diff.a, dtype=np.uint8)
        sb = self._scratch_bids
        sa = self._scratch_asks
        status = -1
        if buf_b.shape[0] // 5 < sb.shape[0] and buf_a.shape[0] // 5 < sa.shape[0]:
            # the common case: parse both sides and apply them in one compiled call
            status = book.apply_raw(buf_b, buf_a, sb, sa, diff.u, time_ms * _MS)
        if status < 0:  # too big for the scratch rows, or needs the general JSON decoder
            bids = _levels(diff.b)
            asks = _levels(diff.a)
            if bids is None or asks is None:
                status = BOOK_BAD_LEVEL
            else:
                status = book.apply(bids, asks, diff.u, time_ms * _MS)
        return self._after_apply(sync, ts_recv, status, diff)

    def _after_apply(self, sync: _SymbolSync, ts_recv: int, status: int, diff: object) -> bool:
        """Count and resync after an apply with ``status``; True when the book took the diff."""
        if status == BOOK_BAD_LEVEL:
            self._bad_frame(_INVALID_LEVEL, diff, "depth update with an invalid level")
            self._resync(sync, "depth update with an invalid level")
            return False
        if status == BOOK_CROSSED:
            self.stats.crossed += 1
            self._resync(sync, "book crossed after depth update")
            return False
        sync.first_after_snapshot = False
        self.stats.depth_updates_applied += 1
        self._sink.on_book(sync.market, ts_recv)
        return True

    def _apply_snapshot(self, sync: _SymbolSync, ts_recv: int, snapshot: DepthSnapshot) -> None:
        stats = self.stats
        book = sync.market.book
        bids = _levels(snapshot.bids)
        asks = _levels(snapshot.asks)
        if bids is None or asks is None:
            status = BOOK_BAD_LEVEL
        else:
            ts_event = snapshot.T * _MS if snapshot.T > 0 else ts_recv
            status = book.load_snapshot(bids, asks, snapshot.lastUpdateId, ts_event)
        if status == BOOK_BAD_LEVEL:
            self._bad_frame(_INVALID_LEVEL, snapshot, "snapshot with an invalid level ignored")
            return
        stats.snapshots += 1
        sync.needs_snapshot = False
        sync.first_after_snapshot = True
        buffered, sync.buffer = sync.buffer, []
        for i, diff in enumerate(buffered):
            status = self._sequence(sync, diff)
            if status == _DROP:
                stats.depth_updates_dropped += 1
                continue
            if status != _APPLY:
                # The snapshot is older than the stream (or the stream has a hole):
                # keep what follows and wait for a newer snapshot.
                self._gap(sync, diff, "buffered depth diff does not follow the snapshot")
                sync.buffer.extend(buffered[i + 1 :])  # _gap kept `diff` itself
                return
            if not self._apply(sync, ts_recv, diff):
                sync.buffer.extend(buffered[i + 1 :])
                return
        self._sink.on_book(sync.market, ts_recv)

    # -- helpers -------------------------------------------------------------------------------

    def _on_unwrapped(self, ts_recv: int, frame: bytes) -> None:
        """A frame without the stream wrapper: in a recording, the REST depth snapshot."""
        try:
            snapshot = self._snapshot.decode(frame)
        except msgspec.ValidationError as exc:
            self._bad_frame(_UNKNOWN_EVENT, frame, f"not a depth snapshot: {exc}")
            return
        sync = self._syncs.get(snapshot.symbol) if snapshot.symbol else None
        if sync is None:
            if len(self._syncs) != 1:
                self._bad_frame(
                    _UNKNOWN_EVENT,
                    frame,
                    "depth snapshot without a known symbol in a multi-symbol stream",
                )
                return
            (sync,) = self._syncs.values()
        self._apply_snapshot(sync, ts_recv, snapshot)

    def _on_other_frame(self, ts_recv: int, frame: bytes) -> None:
        try:
            envelope = self._envelope.decode(frame)
            stream = envelope.stream
            if not stream:
                self._on_unwrapped(ts_recv, frame)
                return
            route = self._routes.get(stream, False)  # type: ignore[arg-type]
            if route is False:
                route = self._route(stream)
                if route is not None:  # a new stream name: the one-call decoder takes it
                    self._frames = stream_frames_decoder(self._frame_types.values())
            if route is None:
                self.stats.unknown_streams += 1
                return
            if not envelope.data:
                self._bad_frame(_WRONG_TYPE, frame, "frame without data")
                return
            route[0](route[1], ts_recv, route[2].decode(envelope.data))
        except msgspec.ValidationError as exc:
            self._bad_frame(_WRONG_TYPE, frame, str(exc))
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # the latter: bad UTF-8
            self._bad_frame(_MALFORMED, frame, str(exc))

    def _route(self, stream: str, log: bool = True) -> _Route | None:
        name, _, channel = stream.partition("@")
        sync = self._syncs.get(name.upper())
        # "depth" and "depth@100ms" are diffs; "depth20@100ms" (partial book) is not ours
        entry = self._channels.get("depth" if channel.startswith("depth@") else channel)
        route: _Route | None = None
        if sync is not None and entry is not None:
            handler, message, data_decoder = entry
            route = (handler, sync, data_decoder)
            self._frame_types[stream] = stream_frame(stream, message, (handler, sync))
            kind = self._fast_kind(channel) if self._use_fast_path else None
            if kind is not None:
                entry = None if kind == _FAST_DEPTH else self._trade_entries[kind]
                m = sync.market
                self._fast[stream.encode()] = (entry, sync, m, m.trades, m.trades.data)
        self._routes[stream] = route
        if route is None and log:
            _log.warning(
                "frames of an unknown stream are ignored", extra={"fields": {"stream": stream}}
            )
        return route

    def _fast_kind(self, channel: str) -> int | None:
        """The fast-path kind of a channel's frames (None: msgspec only)."""
        if channel.startswith("depth@") or channel == "depth":
            return _FAST_DEPTH
        if channel == "trade":
            return KIND_FUTURES_TRADE if self._futures else KIND_TRADE
        if channel == "aggTrade":
            return KIND_AGG_TRADE
        return None

    def _gap(self, sync: _SymbolSync, diff: DepthUpdate, why: str) -> None:
        self.stats.gaps += 1
        _log.warning(
            "order book gap: resync",
            extra={
                "fields": {
                    "symbol": sync.market.symbol,
                    "reason": why,
                    "last_update_id": sync.market.book.last_update_id,
                    "U": diff.U,
                    "u": diff.u,
                    "pu": getattr(diff, "pu", None),
                }
            },
        )
        self._invalidate(sync)
        sync.buffer.append(diff)

    def _resync(self, sync: _SymbolSync, why: str) -> None:
        _log.warning(
            "order book invalid: resync",
            extra={"fields": {"symbol": sync.market.symbol, "reason": why}},
        )
        self._invalidate(sync)

    def _invalidate(self, sync: _SymbolSync) -> None:
        was_in_sync = sync.market.book.in_sync
        sync.market.book.invalidate()
        if was_in_sync:
            self.stats.resyncs += 1
        sync.needs_snapshot = True
        sync.first_after_snapshot = False
        self._sink.on_book(sync.market, 0)

    def _bad_frame(self, kind: str, frame: object, why: str) -> None:
        """Count a bad frame; log the first of each kind only (a bad feed must not flood)."""
        stats = self.stats
        stats.bad_frames += 1
        kinds = stats.bad_frame_kinds
        seen = kinds.get(kind, 0)
        kinds[kind] = seen + 1
        if seen:
            return
        if isinstance(frame, bytes | bytearray | memoryview):
            head = bytes(frame[:120]).decode("utf-8", "replace")
        elif isinstance(frame, msgspec.Struct):
            head = msgspec.json.encode(frame).decode("utf-8", "replace")[:120]
        else:
            head = str(frame)[:120]
        _log.warning(
            "bad frame skipped (further frames of this kind are counted in bad_frames, not logged)",
            extra={"fields": {"kind": kind, "reason": why, "frame_head": head}},
        )


#: The spot decoder: :class:`BinanceMarketDataDecoder` with its default ``market="spot"``.
SpotMarketDataDecoder = BinanceMarketDataDecoder


def detect_market(frames: Iterable[tuple[int, bytes]], max_frames: int = 100_000) -> Market:
    """Tell which Binance market a recording comes from, from its first frames.

    COIN-M when a symbol ends in ``_PERP`` or a frame carries ``ps``/``pair``;
    USD-M when a depth diff carries ``pu`` (and nothing says COIN-M); spot
    otherwise (also when no depth diff appears in ``max_frames`` frames).
    """
    envelope = combined_stream_decoder()
    probe = market_probe_decoder()
    for n, (_, frame) in enumerate(frames):
        if n >= max_frames:
            break
        try:
            wrapped = envelope.decode(frame)
            fields = probe.decode(wrapped.data if wrapped.stream else frame)
        except (msgspec.DecodeError, UnicodeDecodeError):
            continue
        symbol = fields.s or fields.symbol
        if (
            wrapped.stream.partition("@")[0].endswith("_perp")
            or symbol.endswith("_PERP")
            or fields.ps is not None
            or fields.pair is not None
        ):
            return "coinm"
        if "@depth@" in wrapped.stream or wrapped.stream.endswith("@depth"):
            return "spot" if fields.pu is None else "usdm"
    return "spot"
