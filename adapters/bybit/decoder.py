"""Bybit v5 public market data (spot, linear): frames → L2 book, trade ring, top of book.

One :class:`BybitMarketDataDecoder` serves every symbol of one connection
(``<ws_url>/v5/public/spot`` or ``/v5/public/linear``). It decodes each frame
into the msgspec Struct of its topic (decoders built once, here), writes the
fields into the symbol's :class:`engine.market.SymbolMarket` and calls the
engine's :class:`engine.protocols.MarketDataSink`, like
:class:`adapters.binance.BinanceMarketDataDecoder`, with the same public API.

Book procedure (Bybit v5 "Orderbook", "Process snapshot/delta"): Bybit sends
the snapshot itself, on the WebSocket, right after the subscription; then
deltas (size ``0`` deletes the level). A ``snapshot`` replaces the book. The
update id ``u`` of a delta must be the previous message's ``u`` + 1. A
message with ``u == 1`` is a snapshot whatever its ``type`` ("Occasionally,
you'll receive "u"=1, which is a snapshot data due to the restart of the
service. So please overwrite your local orderbook"): it replaces the book
too (counted in ``u1_resets``). A delta at or below the last ``u`` applied
is a duplicate, or older than the snapshot that replaced it: it is dropped
(counted in ``duplicate_deltas``) and the book stays valid, as Binance's
procedure drops a diff at or below the last id. Any higher ``u`` is a gap:
the book is invalidated (it reports no prices), the gap is counted, and the
deltas that follow are dropped until the next snapshot. A crossed book after
a delta, or an invalid level, invalidates it too.

Resync: there is no REST snapshot to fetch. :meth:`symbols_needing_snapshot`
lists the symbols whose book is invalid; the feed resyncs them by
unsubscribing and subscribing their ``orderbook`` topic again (Bybit answers
a subscription with a fresh snapshot), or by reconnecting.

Trades: every item of ``publicTrade`` goes into the TradeRing (the taker
side ``S`` is the aggressor); block trades (``BT``, negotiated off the book)
are counted in ``block_trades`` and skipped, as Binance's non-market trades
are. Trade ids are digits on spot; linear ids are UUIDs, stored as their
first 15 hex digits (60 bits). A message whose last trade id is the last
trade id of the symbol's previous message (one with a trade pushed or a
block trade counted) is a repeat of it: skipped (counted in
``duplicate_trades``), so no trade enters the ring twice.

Tickers: ``bid1Price``/``bid1Size``/``ask1Price``/``ask1Size``, when present,
go into ``SymbolMarket.bid_price`` etc. (linear deltas carry only what
changed; spot tickers carry no best bid/ask and change nothing there).

Control frames: subscription acks (``"success": true``) are counted in
``acks``, pongs in ``pongs``; a refused request (``"success": false``) in
``rejected_requests`` and logged.

Bad input: a frame that fails to decode, a known topic's frame with wrong
types, an out-of-range price, size or trade time, an invalid level, or a
frame that is neither data nor control, is counted in ``bad_frames`` (and by
kind in ``bad_frame_kinds``) and skipped; the first frame of each kind is
logged.
Frames of topics this decoder was not built for are counted in
``unknown_topics`` (logged once per topic).

Hot path: a ``publicTrade`` message, or an ``orderbook`` delta of a book in
sync, goes through a compiled kernel (:mod:`adapters.bybit.fastpath`),
routed on the topic's first byte (the kernel checks the whole topic): one
pass from the raw bytes into the trade ring or the book. What the kernel
does not take (snapshots, ``u == 1``, gaps, block trades, bad items, any
frame it does not read) it hands back untouched, and the frame goes
through one msgspec decoder over a union of Structs tagged by topic, as
every other frame does; the two paths give the same results (tested).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np

from adapters.bybit.errors import FeedConfigError
from adapters.bybit.fastpath import (
    DUPLICATE,
    FALLBACK,
    MAX_TIME_MS,
    delta_frame,
    delta_work,
    get_last_id,
    new_route_state,
    set_last_id,
    trade_frame,
)
from adapters.bybit.schemas import (
    BookData,
    PublicTrade,
    TickerData,
    book_message,
    envelope_decoder,
    ticker_message,
    topic_frames_decoder,
    trade_message,
)
from adapters.bybit.symbols import CATEGORIES, Category, orderbook_topic, ticker_topic, trade_topic
from adapters.levels import parse_level_array
from engine.book import BOOK_BAD_LEVEL, BOOK_CROSSED, BOOK_OK, L2Book
from engine.market import SymbolMarket, TradeRing
from engine.protocols import MarketDataSink
from kernels.dtypes import SIDE_BUY, SIDE_SELL
from kernels.entry import compiled_entry

__all__ = ["BybitDecoderStats", "BybitMarketDataDecoder"]

_log = logging.getLogger("ats.adapters.bybit")

_MS = 1_000_000
_INF = math.inf
_INT64_MAX = (1 << 63) - 1
_EMPTY = np.empty((0, 2), dtype=np.float64)
_SCRATCH_ROWS = 1024
_SNAPSHOT = "snapshot"

# Kinds of bad frames (keys of BybitDecoderStats.bad_frame_kinds).
_MALFORMED = "malformed_json"
_WRONG_TYPE = "wrong_type"
_OUT_OF_RANGE = "out_of_range"
_INVALID_LEVEL = "invalid_level"
_UNKNOWN_EVENT = "unknown_event"


@dataclasses.dataclass(slots=True, kw_only=True)
class BybitDecoderStats:
    """Counters of one decoder (all symbols).

    A slotted dataclass rather than a msgspec Struct: an increment costs half
    as much, and the fast path does two per frame. ``msgspec.to_builtins``
    and ``msgspec.json.encode`` take it all the same.
    """

    frames: int = 0
    depth_updates_applied: int = 0
    #: Deltas dropped while the book waits for a snapshot.
    depth_updates_dropped: int = 0
    #: Deltas at or below the last ``u`` applied (a duplicate, or older than the snapshot
    #: that replaced them), dropped; the book stays valid.
    duplicate_deltas: int = 0
    snapshots: int = 0
    #: Deltas with ``u == 1`` taken as snapshots (Bybit service restart).
    u1_resets: int = 0
    gaps: int = 0
    resyncs: int = 0
    crossed: int = 0
    bad_frames: int = 0
    #: ``bad_frames`` by kind: malformed_json, wrong_type, out_of_range, invalid_level,
    #: unknown_event.
    bad_frame_kinds: dict[str, int] = dataclasses.field(default_factory=dict)
    unknown_topics: int = 0
    trades: int = 0
    #: Block trades (``BT``), skipped.
    block_trades: int = 0
    #: ``publicTrade`` messages repeating the symbol's previous one (same last trade id),
    #: skipped.
    duplicate_trades: int = 0
    tickers: int = 0
    #: Subscription acks (``"success": true``).
    acks: int = 0
    pongs: int = 0
    #: Requests the venue refused (``"success": false``).
    rejected_requests: int = 0


_levels = parse_level_array

_ENTRIES: tuple[Any, Any] | None = None


def _entries() -> tuple[Any, Any]:
    """The compiled entry points of the fast-path kernels (resolved once per process)."""
    global _ENTRIES
    if _ENTRIES is None:
        state = new_route_state("x")
        trade = compiled_entry(trade_frame, b"", 0, TradeRing(1).data, 0, state)
        arena = L2Book("x", 0.01, 1).arena
        delta = compiled_entry(delta_frame, b"", delta_work("x", 1), arena, 0.01, 0)
        _ENTRIES = (trade, delta)
    return _ENTRIES


def _trade_id(i: str) -> int:
    """Spot ids are digits; linear ids are UUIDs: keep their first 15 hex digits (60 bits)."""
    if "-" not in i:  # a UUID goes straight to hex: a failed int() costs ~1 µs a trade
        try:
            return int(i) & _INT64_MAX
        except ValueError:
            pass
    try:
        return int(i.replace("-", "")[:15], 16)
    except ValueError:
        return -1


_Handler = Callable[[SymbolMarket, int, Any], None]
#: A topic of the fast path: (trade kernel, or None for book deltas; the symbol's market;
#: its trade ring and the ring's records, or its book and the book's arena; the topic's
#: state array, for deltas with the kernel's scratch after it; the book's tick size).
_FastRoute = tuple[Any, SymbolMarket, TradeRing | L2Book, np.ndarray, np.ndarray, float]
#: In the table of fast routes by a topic's first byte: several topics start with it.
_BY_TOPIC: Any = ("several topics",)


class BybitMarketDataDecoder:
    """Decode Bybit v5 public WebSocket frames into the engine's market state.

    Parameters
    ----------
    markets : dict[str, SymbolMarket]
        Market state by *venue* symbol (``BTCUSDT``).
    sink : MarketDataSink
        Called after each trade, book change and ticker.
    category : {"spot", "linear"}
        Bybit category of the connection.
    depth : int
        Book depth subscribed (``orderbook.{depth}.{symbol}``): spot 1, 50 or
        200; linear 1, 50, 200 or 500. Other depths' topics are unknown.
    fast_path : bool
        Decode ``publicTrade`` messages and the deltas of a book in sync with
        the compiled kernels of :mod:`adapters.bybit.fastpath` (the default).
        ``False`` sends every frame through msgspec; the results are the same
        (tested), only slower.

    Examples
    --------
    >>> decoder = BybitMarketDataDecoder({"BTCUSDT": market}, engine, category="linear")
    >>> decoder.on_frame(ts, frame)
    """

    def __init__(
        self,
        markets: dict[str, SymbolMarket],
        sink: MarketDataSink,
        category: Category = "linear",
        depth: int = 50,
        fast_path: bool = True,
    ) -> None:
        if not markets:
            raise FeedConfigError("BybitMarketDataDecoder needs at least one symbol")
        if category not in CATEGORIES:
            raise FeedConfigError(
                f"category must be one of {', '.join(CATEGORIES)}, was {category!r}"
            )
        self.category: Category = category
        self.depth = depth
        self.stats = BybitDecoderStats()
        self._sink = sink
        self._sink_trade = sink.on_trade  # bound once: the fast path calls them per frame
        self._sink_book = sink.on_book
        self._markets = dict(markets)
        self._envelope = envelope_decoder()
        # topic → decoder of the whole frame alone (to name the bad field of a known topic)
        self._topic_decoders: dict[str, msgspec.json.Decoder[Any]] = {}
        self._unknown_seen: set[str] = set()
        # Per market: trade id ``i`` of the last item of its last ``publicTrade`` message
        # taken. With the fast path, in its topic's state array, which both paths read and
        # write (an id too long for it in _long_trade_ids); without, as a str.
        self._trade_states: dict[SymbolMarket, np.ndarray] = {}
        self._long_trade_ids: dict[SymbolMarket, str] = {}
        self._last_trade_i: dict[SymbolMarket, str] = {}
        # The fast path's routes: by topic, and by the topic's first byte (the kernels check
        # the rest), or _BY_TOPIC when several topics start with that byte.
        self._fast: dict[bytes, _FastRoute] = {}
        self._by_byte: list[_FastRoute | None] = [None] * 256
        self._trade_entry, self._delta_entry = _entries()
        frame_types = []
        for vsym, market in self._markets.items():
            for topic, make, handler in (
                (orderbook_topic(vsym, depth, category), book_message, self._on_book),
                (trade_topic(vsym), trade_message, self._on_trades),
                (ticker_topic(vsym), ticker_message, self._on_ticker),
            ):
                frame = make(topic, (handler, market))
                frame_types.append(frame)
                self._topic_decoders[topic] = msgspec.json.Decoder(frame, strict=False)
            if fast_path:
                self._add_fast_route(trade_topic(vsym), self._trade_entry, market)
                self._add_fast_route(orderbook_topic(vsym, depth, category), None, market)
        # The general path: one decoder over a union of Structs tagged by topic.
        self._frames = topic_frames_decoder(frame_types)
        self._scratch_bids = np.empty((_SCRATCH_ROWS, 2), dtype=np.float64)
        self._scratch_asks = np.empty((_SCRATCH_ROWS, 2), dtype=np.float64)

    def _add_fast_route(self, topic: str, entry: Any, market: SymbolMarket) -> None:
        book = market.book
        if entry is None:  # a book's deltas: the topic with the kernel's scratch after it
            state = delta_work(topic, _SCRATCH_ROWS)
            holder: TradeRing | L2Book = book
            array = book.arena
        else:
            state = new_route_state(topic)
            holder = market.trades
            array = market.trades.data
        if state is None:
            return  # a topic the kernels do not take
        if entry is not None:
            self._trade_states[market] = state
        route = (entry, market, holder, array, state, book.tick_size)
        raw = topic.encode()
        self._fast[raw] = route
        self._by_byte[raw[0]] = route if self._by_byte[raw[0]] is None else _BY_TOPIC

    # -- public --------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the compiled book kernels on a scratch book (before the first frame)."""
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
        """Venue symbols whose book is invalid until the next WebSocket snapshot.

        Bybit sends snapshots on the WebSocket only: the feed resyncs a listed
        symbol by subscribing its ``orderbook`` topic again (unsubscribe, then
        subscribe), which brings a fresh snapshot, or by reconnecting.
        """
        return [s for s, m in self._markets.items() if not m.book.in_sync]

    def invalidate_all(self, reason: str) -> None:
        """Invalidate every book (disconnect, stale feed): each waits for a new snapshot."""
        _log.warning("order books invalidated: resync", extra={"fields": {"reason": reason}})
        for market in self._markets.values():
            self._invalidate(market)

    def on_frame(self, ts_recv: int, frame: bytes) -> None:
        """Process one WebSocket frame (bytes or str).

        ``publicTrade`` messages and the deltas of a book in sync go through
        the compiled fast path (:mod:`adapters.bybit.fastpath`) first;
        whatever it does not take (and every other frame) goes through
        msgspec.
        """
        try:  # bytes only: str, bytearray and memoryview frames take the msgspec path
            # the topic's first byte (after '{"topic":"'); the kernels check the rest
            fast = self._by_byte[frame[10]] if type(frame) is bytes else None
        except IndexError:
            fast = None
        if fast is _BY_TOPIC:  # several topics start with that byte: the whole topic decides
            fast = self._fast.get(frame[10 : frame.find(b'"', 10)])
        if fast is not None:
            # holder, array: the trade ring and its records, or the book and its arena
            entry, market, holder, array, state, tick_size = fast
            if entry is not None:
                ring = holder
                try:
                    price, ts_event = entry(frame, ts_recv, array, ring.count, state)
                except OverflowError:  # ts_recv beyond int64: msgspec's path decides
                    price = FALLBACK
                if price > 0.0:  # one trade, written
                    ring.count += 1
                    market.last_price = price
                    market.last_trade_ts = ts_event
                    stats = self.stats
                    stats.frames += 1
                    stats.trades += 1
                    self._sink_trade(market, ts_recv)
                    return
                if price != FALLBACK:
                    self._fast_trades_other(market, ring, array, ts_recv, price, ts_event)
                    return
            elif (book := holder).in_sync:
                try:
                    status, u, ts_event = self._delta_entry(
                        frame, state, array, tick_size, book.last_update_id
                    )
                except OverflowError:  # a last u beyond int64: msgspec's path decides
                    status = FALLBACK
                if status == BOOK_OK:
                    book.last_update_id = u
                    book.ts_event = ts_event
                    stats = self.stats
                    stats.frames += 1
                    stats.depth_updates_applied += 1
                    self._sink_book(market, ts_recv)
                    return
                if status != FALLBACK:
                    self._fast_delta_other(market, ts_recv, status, u, ts_event)
                    return
        self.stats.frames += 1
        try:
            msg = self._frames.decode(frame)
        except msgspec.ValidationError:
            # Not a frame of a known topic (control frame, unknown topic), or a known
            # topic's frame with bad fields.
            self._on_other_frame(frame)
            return
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # the latter: bad UTF-8
            self._bad_frame(_MALFORMED, frame, str(exc))
            return
        handler, market = msg.route
        handler(market, ts_recv, msg)

    # -- the fast path's rarer outcomes --------------------------------------------------------

    def _fast_trades_other(
        self,
        market: SymbolMarket,
        ring: TradeRing,
        records: np.ndarray,
        ts_recv: int,
        status: float,
        trades: int,
    ) -> None:
        """A repeated message skipped, or a message of several trades written to the ring."""
        stats = self.stats
        stats.frames += 1
        if status == DUPLICATE:
            stats.duplicate_trades += 1
            return
        # the kernel wrote them all; the sink sees them one by one, as the msgspec path's
        start = ring.count
        capacity = ring.capacity
        sink = self._sink
        for k in range(trades):
            record = records[(start + k) % capacity]
            ring.count = start + k + 1
            market.last_price = float(record["price"])
            market.last_trade_ts = int(record["ts_event"])
            stats.trades += 1
            sink.on_trade(market, ts_recv)

    def _fast_delta_other(
        self, market: SymbolMarket, ts_recv: int, status: int, u: int, ts_event: int
    ) -> None:
        """A delta at or below the last ``u`` dropped, or one applied that crossed the book."""
        stats = self.stats
        stats.frames += 1
        if status == DUPLICATE:
            stats.duplicate_deltas += 1  # already in the book: nothing is missing
            return
        # applied: crossed (the kernel leaves an overflow to the msgspec path)
        market.book.finish_apply(status, u, ts_event)
        if status == BOOK_CROSSED:
            stats.crossed += 1
            self._resync(market, "book crossed after orderbook delta")
            return
        stats.depth_updates_applied += 1
        self._sink.on_book(market, ts_recv)

    # -- topics --------------------------------------------------------------------------------

    def _on_book(self, market: SymbolMarket, ts_recv: int, msg: Any) -> None:
        data: BookData = msg.data
        ts_event = (msg.cts or msg.ts) * _MS
        book = market.book
        if msg.type == _SNAPSHOT or data.u == 1:
            if msg.type != _SNAPSHOT:
                self.stats.u1_resets += 1
            self._snapshot(market, ts_recv, data, ts_event)
            return
        if not book.in_sync:
            self.stats.depth_updates_dropped += 1
            return
        if data.u != book.last_update_id + 1:
            if data.u <= book.last_update_id:
                self.stats.duplicate_deltas += 1  # already in the book: nothing is missing
                return
            self._gap(market, data.u)
            return
        bids = _levels(data.b, self._scratch_bids)
        asks = _levels(data.a, self._scratch_asks)
        if bids is None or asks is None:
            status = BOOK_BAD_LEVEL
        else:
            status = book.apply(bids, asks, data.u, ts_event)
        if status == BOOK_BAD_LEVEL:
            self._bad_frame(_INVALID_LEVEL, msg, "orderbook delta with an invalid level")
            self._resync(market, "orderbook delta with an invalid level")
            return
        if status == BOOK_CROSSED:
            self.stats.crossed += 1
            self._resync(market, "book crossed after orderbook delta")
            return
        self.stats.depth_updates_applied += 1
        self._sink.on_book(market, ts_recv)

    def _snapshot(self, market: SymbolMarket, ts_recv: int, data: BookData, ts_event: int) -> None:
        book = market.book
        bids = _levels(data.b)
        asks = _levels(data.a)
        if bids is None or asks is None:
            status = BOOK_BAD_LEVEL
        else:
            status = book.load_snapshot(bids, asks, data.u, ts_event)
        if status == BOOK_BAD_LEVEL:
            self._bad_frame(_INVALID_LEVEL, data, "orderbook snapshot with an invalid level")
            self._resync(market, "orderbook snapshot with an invalid level")
            return
        self.stats.snapshots += 1
        bid, _, ask, _ = book.best()
        if bid >= ask:  # NaN-safe: an empty side compares False
            self.stats.crossed += 1
            self._resync(market, "orderbook snapshot is crossed")
            return
        self._sink.on_book(market, ts_recv)

    def _on_trades(self, market: SymbolMarket, ts_recv: int, msg: Any) -> None:
        trades: list[PublicTrade] = msg.data
        stats = self.stats
        if not trades:
            return
        state = self._trade_states.get(market)
        last = self._last_trade_i.get(market) if state is None else self._last_trade_id(market)
        if last == trades[-1].i:
            stats.duplicate_trades += 1
            return
        accepted = stats.trades + stats.block_trades
        ring = market.trades
        for t in trades:
            price = t.p
            qty = t.v
            if not (0.0 < price < _INF and 0.0 < qty < _INF):
                self._bad_frame(_OUT_OF_RANGE, t, "trade price or size out of range")
                continue
            if not 0 <= t.T <= MAX_TIME_MS:  # its nanoseconds would not fit the ring's int64
                self._bad_frame(_OUT_OF_RANGE, t, "trade time out of range")
                continue
            side = t.S
            if side == "Buy":
                code = SIDE_BUY
            elif side == "Sell":
                code = SIDE_SELL
            else:
                self._bad_frame(_WRONG_TYPE, t, "trade side S is neither Buy nor Sell")
                continue
            if t.BT:
                stats.block_trades += 1
                continue
            ts_event = t.T * _MS
            ring.push(ts_event, ts_recv, price, qty, _trade_id(t.i), code)
            market.last_price = price
            market.last_trade_ts = ts_event
            stats.trades += 1
            self._sink.on_trade(market, ts_recv)
        if stats.trades + stats.block_trades != accepted:
            # remembered once some of it was taken (a message of bad items only is not)
            if state is None:
                self._last_trade_i[market] = trades[-1].i
            else:
                self._remember_trade_id(market, trades[-1].i)

    def _last_trade_id(self, market: SymbolMarket) -> str | None:
        """Trade id ``i`` of the last item of the market's last message taken (fast path on)."""
        try:
            raw = get_last_id(self._trade_states[market])
        except LookupError:
            return self._long_trade_ids[market]
        return None if raw is None else raw.decode("utf-8", "surrogatepass")

    def _remember_trade_id(self, market: SymbolMarket, trade_id: str) -> None:
        raw = trade_id.encode("utf-8", "surrogatepass")
        if not set_last_id(self._trade_states[market], raw):
            self._long_trade_ids[market] = trade_id

    def _on_ticker(self, market: SymbolMarket, ts_recv: int, msg: Any) -> None:
        t: TickerData = msg.data
        bid, bid_qty, ask, ask_qty = t.bid1Price, t.bid1Size, t.ask1Price, t.ask1Size
        # NaN: absent (unchanged); anything else must be a positive finite price, size >= 0
        if not (
            (bid != bid or 0.0 < bid < _INF)
            and (ask != ask or 0.0 < ask < _INF)
            and (bid_qty != bid_qty or 0.0 <= bid_qty < _INF)
            and (ask_qty != ask_qty or 0.0 <= ask_qty < _INF)
        ):
            self._bad_frame(_OUT_OF_RANGE, t, "ticker best bid/ask out of range")
            return
        if bid != bid and ask != ask and bid_qty != bid_qty and ask_qty != ask_qty:
            return  # no top-of-book field in this ticker (spot, or a delta of other fields)
        if bid == bid:
            market.bid_price = bid
        if bid_qty == bid_qty:
            market.bid_qty = bid_qty
        if ask == ask:
            market.ask_price = ask
        if ask_qty == ask_qty:
            market.ask_qty = ask_qty
        if msg.cs:
            market.ticker_update_id = msg.cs
        market.ticker_ts = ts_recv
        self.stats.tickers += 1
        self._sink.on_ticker(market, ts_recv)

    # -- helpers -------------------------------------------------------------------------------

    def _on_other_frame(self, frame: bytes) -> None:
        stats = self.stats
        try:
            env = self._envelope.decode(frame)
        except msgspec.ValidationError as exc:
            self._bad_frame(_UNKNOWN_EVENT, frame, str(exc))
            return
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # the latter: bad UTF-8
            self._bad_frame(_MALFORMED, frame, str(exc))
            return
        topic = env.topic
        if topic:
            decoder = self._topic_decoders.get(topic)
            if decoder is None:
                stats.unknown_topics += 1
                if topic not in self._unknown_seen:
                    self._unknown_seen.add(topic)
                    _log.warning(
                        "frames of an unknown topic are ignored", extra={"fields": {"topic": topic}}
                    )
                return
            try:
                decoder.decode(frame)
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # ValidationError included
                self._bad_frame(_WRONG_TYPE, frame, str(exc))
                return
            self._bad_frame(_WRONG_TYPE, frame, "frame does not match its topic's schema")
            return
        if env.success is False:
            stats.rejected_requests += 1
            _log.warning(
                "request refused by the venue",
                extra={"fields": {"op": env.op, "ret_msg": env.ret_msg}},
            )
            return
        if env.op == "pong" or env.ret_msg == "pong":
            stats.pongs += 1
            return
        if env.success is True:
            stats.acks += 1
            return
        self._bad_frame(_UNKNOWN_EVENT, frame, "neither a topic message nor a control frame")

    def _gap(self, market: SymbolMarket, u: int) -> None:
        self.stats.gaps += 1
        _log.warning(
            "order book gap: resync",
            extra={
                "fields": {
                    "symbol": market.symbol,
                    "last_update_id": market.book.last_update_id,
                    "u": u,
                }
            },
        )
        self._invalidate(market)

    def _resync(self, market: SymbolMarket, why: str) -> None:
        _log.warning(
            "order book invalid: resync",
            extra={"fields": {"symbol": market.symbol, "reason": why}},
        )
        self._invalidate(market)

    def _invalidate(self, market: SymbolMarket) -> None:
        was_in_sync = market.book.in_sync
        market.book.invalidate()
        if was_in_sync:
            self.stats.resyncs += 1
        self._sink.on_book(market, 0)

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
        elif isinstance(frame, str):
            head = frame[:120]
        elif isinstance(frame, msgspec.Struct):
            head = msgspec.json.encode(frame).decode("utf-8", "replace")[:120]
        else:
            head = str(frame)[:120]
        _log.warning(
            "bad frame skipped (further frames of this kind are counted in bad_frames, not logged)",
            extra={"fields": {"kind": kind, "reason": why, "frame_head": head}},
        )
