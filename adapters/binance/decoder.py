"""Binance spot market data: frames → L2 book, trade ring, top of book.

One :class:`SpotMarketDataDecoder` serves every symbol of a connection. It
decodes each combined-stream frame with the msgspec decoder of its channel
(built once, here), writes the fields into the symbol's
:class:`engine.market.SymbolMarket`, and calls the engine's
:class:`engine.protocols.MarketDataSink`. The live feed and ``ats replay``
use this same class, so a recording exercises exactly the live code.

Book procedure (Binance spot "How to manage a local order book correctly"):

1. Buffer the ``depthUpdate`` diffs that arrive before the REST snapshot.
2. On the snapshot (``lastUpdateId = L``), drop buffered diffs with ``u <= L``.
3. The first diff applied must straddle ``L + 1``: ``U <= L + 1 <= u``.
4. From then on every diff must have ``U == previous u + 1``.

Any break of 3 or 4 is a gap: the book is invalidated (it reports no prices),
the gap is counted, and the symbol waits for a new snapshot
(``needs_snapshot``). A diff with ``u`` at or below the last applied id is a
duplicate and is dropped. A crossed book after a diff, or a diff with an
invalid level (counted in ``bad_frames``), also forces a resync. A frame that
fails to decode is counted in ``bad_frames`` and skipped; since its diff (if
it was one) is missing, the next diff is seen as a gap. Frames of streams or
symbols this decoder was not built for are counted in ``unknown_streams``.
"""

from __future__ import annotations

import logging

import msgspec
import numpy as np

from adapters.binance.schemas import (
    DepthSnapshot,
    DepthUpdate,
    book_ticker_decoder,
    combined_stream_decoder,
    depth_snapshot_decoder,
    depth_update_decoder,
    levels_decoder,
    trade_decoder,
)
from engine.book import BOOK_BAD_LEVEL, BOOK_CROSSED
from engine.market import SymbolMarket
from engine.protocols import MarketDataSink
from kernels.dtypes import SIDE_BUY, SIDE_SELL
from kernels.parse import PARSE_FALLBACK, parse_levels

__all__ = ["DecoderStats", "SpotMarketDataDecoder"]

_log = logging.getLogger("ats.adapters.binance")

_MS = 1_000_000
_EMPTY = np.empty((0, 2), dtype=np.float64)

_KIND_DEPTH = 0
_KIND_TRADE = 1
_KIND_TICKER = 2


class DecoderStats(msgspec.Struct, kw_only=True):
    """Counters of one decoder (all symbols)."""

    frames: int = 0
    depth_updates_applied: int = 0
    depth_updates_dropped: int = 0
    depth_updates_buffered: int = 0
    snapshots: int = 0
    gaps: int = 0
    resyncs: int = 0
    crossed: int = 0
    bad_frames: int = 0
    unknown_streams: int = 0
    trades: int = 0
    tickers: int = 0


_FALLBACK_LEVELS = levels_decoder()


def _levels(raw: msgspec.Raw) -> np.ndarray | None:
    """Parse a raw ``[[price, qty], ...]`` array; None when it is not one."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    out = np.empty((buf.shape[0] // 5 + 1, 2), dtype=np.float64)
    n = parse_levels(buf, out)
    if n >= 0:
        return out[:n]
    if n == PARSE_FALLBACK:
        try:
            levels = _FALLBACK_LEVELS.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        return np.array(levels, dtype=np.float64).reshape(-1, 2)
    return None


class _SymbolSync:
    """Per-symbol state of the book procedure."""

    __slots__ = ("buffer", "first_after_snapshot", "market", "needs_snapshot")

    def __init__(self, market: SymbolMarket) -> None:
        self.market = market
        self.buffer: list[DepthUpdate] = []
        self.first_after_snapshot = False
        self.needs_snapshot = True


class SpotMarketDataDecoder:
    """Decode Binance spot combined-stream frames into the engine's market state.

    Parameters
    ----------
    markets : dict[str, SymbolMarket]
        Market state by *venue* symbol (``BTCUSDT``).
    sink : MarketDataSink
        Called after each trade, book change and ticker.
    max_buffered : int
        Diffs kept per symbol while waiting for a snapshot; the oldest are
        dropped beyond it (they would be older than any new snapshot anyway).
    """

    def __init__(
        self,
        markets: dict[str, SymbolMarket],
        sink: MarketDataSink,
        max_buffered: int = 10_000,
    ) -> None:
        if not markets:
            raise ValueError("SpotMarketDataDecoder needs at least one symbol")
        self.stats = DecoderStats()
        self._sink = sink
        self._max_buffered = max_buffered
        self._syncs = {venue_symbol: _SymbolSync(m) for venue_symbol, m in markets.items()}
        self._envelope = combined_stream_decoder()
        self._depth = depth_update_decoder()
        self._trade = trade_decoder()
        self._ticker = book_ticker_decoder()
        self._snapshot = depth_snapshot_decoder()
        # stream name → (kind, sync); filled on first sight of each stream.
        self._routes: dict[str, tuple[int, _SymbolSync] | None] = {}

    # -- public --------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the compiled book kernels on a scratch book (before the first frame)."""
        from engine.book import L2Book

        scratch = L2Book("warm-up", 0.01, 4)
        one = _levels(msgspec.Raw(b'[["1.0","1.0"]]'))
        two = _levels(msgspec.Raw(b"[[2, 1]]"))
        assert one is not None and two is not None
        scratch.load_snapshot(one, two, 1)
        scratch.apply(one, _EMPTY, 2, 0)
        scratch.best()
        scratch.level_qty(0, 1.0)
        scratch.depth(0, 1)

    def symbols_needing_snapshot(self) -> list[str]:
        """Venue symbols whose book waits for a REST snapshot."""
        return [s for s, sync in self._syncs.items() if sync.needs_snapshot]

    def on_frame(self, ts_recv: int, frame: bytes) -> None:
        """Process one WebSocket frame of the combined stream (bytes or str)."""
        stats = self.stats
        stats.frames += 1
        try:
            envelope = self._envelope.decode(frame)
            stream = envelope.stream
            if not stream:
                self._on_unwrapped(ts_recv, frame)
                return
            route = self._routes.get(stream, False)
            if route is False:
                route = self._route(stream)
            if route is None:
                stats.unknown_streams += 1
                return
            kind, sync = route
            if kind == _KIND_TICKER:
                self._on_ticker(sync.market, ts_recv, envelope.data)
            elif kind == _KIND_TRADE:
                self._on_trade(sync.market, ts_recv, envelope.data)
            else:
                self._on_depth(sync, ts_recv, self._depth.decode(envelope.data))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._bad_frame(frame, str(exc))

    def on_snapshot(self, venue_symbol: str, ts_recv: int, body: bytes) -> None:
        """Apply a REST ``/api/v3/depth`` response for ``venue_symbol``."""
        sync = self._syncs.get(venue_symbol)
        if sync is None:
            self.stats.unknown_streams += 1
            _log.warning(
                "depth snapshot for unknown symbol", extra={"fields": {"symbol": venue_symbol}}
            )
            return
        try:
            snapshot = self._snapshot.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._bad_frame(body, str(exc))
            return
        self._apply_snapshot(sync, ts_recv, snapshot)

    # -- channels ------------------------------------------------------------------------------

    def _on_ticker(self, market: SymbolMarket, ts_recv: int, data: bytes) -> None:
        t = self._ticker.decode(data)
        if not (0.0 < t.b < np.inf and 0.0 < t.a < np.inf and t.B >= 0.0 and t.A >= 0.0):
            self._bad_frame(data, "bookTicker price or quantity out of range")
            return
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

    def _on_trade(self, market: SymbolMarket, ts_recv: int, data: bytes) -> None:
        t = self._trade.decode(data)
        price = t.p
        qty = t.q
        if not (0.0 < price < np.inf and 0.0 < qty < np.inf):
            self._bad_frame(data, "trade price or quantity out of range")
            return
        ts_event = t.T * _MS
        market.trades.push(ts_event, ts_recv, price, qty, t.t, SIDE_SELL if t.m else SIDE_BUY)
        market.last_price = price
        market.last_trade_ts = ts_event
        self.stats.trades += 1
        self._sink.on_trade(market, ts_recv)

    def _on_depth(self, sync: _SymbolSync, ts_recv: int, diff: DepthUpdate) -> None:
        stats = self.stats
        book = sync.market.book
        if not book.in_sync:
            buffer = sync.buffer
            buffer.append(diff)
            stats.depth_updates_buffered += 1
            if len(buffer) > self._max_buffered:
                del buffer[0]
                stats.depth_updates_dropped += 1
            return
        last = book.last_update_id
        if diff.u <= last:
            stats.depth_updates_dropped += 1
            return
        if sync.first_after_snapshot:
            if diff.U > last + 1:
                self._gap(sync, diff, "first diff after snapshot does not straddle lastUpdateId+1")
                return
        elif diff.U != last + 1:
            self._gap(sync, diff, "depth update id gap")
            return
        self._apply(sync, ts_recv, diff)

    def _apply(self, sync: _SymbolSync, ts_recv: int, diff: DepthUpdate) -> bool:
        book = sync.market.book
        bids = _levels(diff.b)
        asks = _levels(diff.a)
        if bids is None or asks is None:
            status = BOOK_BAD_LEVEL
        else:
            status = book.apply(bids, asks, diff.u, diff.E * _MS)
        if status == BOOK_BAD_LEVEL:
            self.stats.bad_frames += 1
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
            status = book.load_snapshot(bids, asks, snapshot.lastUpdateId, ts_recv)
        if status == BOOK_BAD_LEVEL:
            stats.bad_frames += 1
            _log.warning(
                "depth snapshot with an invalid level ignored",
                extra={"fields": {"symbol": sync.market.symbol}},
            )
            return
        stats.snapshots += 1
        sync.needs_snapshot = False
        sync.first_after_snapshot = True
        buffered, sync.buffer = sync.buffer, []
        for i, diff in enumerate(buffered):
            if diff.u <= book.last_update_id:
                stats.depth_updates_dropped += 1
                continue
            last = book.last_update_id
            ok = diff.U <= last + 1 if sync.first_after_snapshot else diff.U == last + 1
            if not ok:
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
        snapshot = self._snapshot.decode(frame)
        if len(self._syncs) != 1:
            self.stats.bad_frames += 1
            _log.warning(
                "depth snapshot without a symbol in a multi-symbol stream ignored",
                extra={"fields": {"symbols": sorted(self._syncs)}},
            )
            return
        (sync,) = self._syncs.values()
        self._apply_snapshot(sync, ts_recv, snapshot)

    def _route(self, stream: str) -> tuple[int, _SymbolSync] | None:
        name, _, channel = stream.partition("@")
        sync = self._syncs.get(name.upper())
        if channel.startswith("depth"):
            kind = _KIND_DEPTH
        elif channel == "trade":
            kind = _KIND_TRADE
        elif channel == "bookTicker":
            kind = _KIND_TICKER
        else:
            sync = None
        route = None if sync is None else (kind, sync)
        self._routes[stream] = route
        if route is None:
            _log.warning(
                "frames of an unknown stream are ignored", extra={"fields": {"stream": stream}}
            )
        return route

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

    def _bad_frame(self, frame: bytes | str, why: str) -> None:
        self.stats.bad_frames += 1
        head = frame[:120] if isinstance(frame, bytes | str) else b""
        _log.warning(
            "bad frame skipped",
            extra={"fields": {"reason": why, "frame_head": bytes(head).decode("utf-8", "replace")}},
        )
