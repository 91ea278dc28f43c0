"""Bybit v5 public market data over WebSocket: picows client, heartbeats, resubscribes, staleness.

One :class:`BybitFeed` is one connection to ``<ws_url>/v5/public/<category>``
(``spot`` or ``linear``) for any number of symbols, on the running event loop
(uvloop in ``ats``). On connect it sends the subscribe requests
(``orderbook.{depth}.{symbol}``, ``publicTrade.{symbol}`` and, unless turned
off, ``tickers.{symbol}``); Bybit answers each ``orderbook`` subscription with a
snapshot on the WebSocket, then deltas.

Hot path: picows calls :meth:`_Listener.on_ws_frame` with the frame still in
its receive buffer; the payload goes straight to
:class:`adapters.bybit.decoder.BybitMarketDataDecoder`, which writes it into
the symbol's book arrays and trade ring. No asyncio task or future per message.

Around it, four coroutines:

* the connection loop: connect, subscribe, wait for the disconnect,
  invalidate every book (a book that misses frames is wrong), back off with
  full jitter (``min(cap, base * 2**attempt)``, reset once a connection
  delivers frames) and reconnect; the subscriptions are sent again on every
  connection;
* the heartbeat: ``{"op":"ping"}`` every ``ping_interval_s`` (Bybit drops a
  connection that sends none for a while); the pong is counted by the decoder;
* the resync loop: Bybit has no REST snapshot that chains to the stream, so
  a symbol whose book is invalid while connected (a ``u`` gap, a crossed
  book, a bad level) has its ``orderbook`` topic unsubscribed and subscribed
  again, which brings a fresh snapshot; at most once per
  ``resubscribe_after_s`` per symbol, and not before that long after the
  connection (its first snapshot is on the way);
* the watchdog: no frame for ``stale_after_s`` → a ``RISK_ALERT`` through
  ``on_alert``, every book invalidated and the connection dropped so it is
  rebuilt.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Protocol

import msgspec
from picows import WSMsgType, WSTransport

from adapters.bybit.config import FeedConfig
from adapters.bybit.errors import FeedConfigError
from adapters.bybit.symbols import (
    PING_MESSAGE,
    orderbook_topic,
    subscribe_messages,
    ticker_topic,
    trade_topic,
    ws_endpoint,
)
from adapters.wsfeed import ReconnectingFeed, sleep_unless

__all__ = ["BybitFeed", "BybitFeedStats", "MarketDataDecoder"]

_log = logging.getLogger("ats.adapters.bybit.feed")
_encode = msgspec.json.Encoder().encode


class MarketDataDecoder(Protocol):
    """What the feed needs from a decoder (see :mod:`adapters.bybit.decoder`)."""

    def on_frame(self, ts_recv: int, frame: bytes) -> None: ...
    def symbols_needing_snapshot(self) -> list[str]: ...
    def invalidate_all(self, reason: str) -> None: ...


class BybitFeedStats(msgspec.Struct, kw_only=True):
    """Counters of one feed (the decoder keeps the book-level ones)."""

    connects: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    frames: int = 0
    bytes: int = 0
    #: ``{"op":"ping"}`` heartbeats sent.
    pings: int = 0
    #: ``orderbook`` topics unsubscribed and subscribed again to get a fresh snapshot.
    resubscribes: int = 0
    stale: int = 0
    connected: bool = False
    last_frame_ns: int = 0


class BybitFeed(ReconnectingFeed):
    """One v5 public connection feeding a decoder; see the module docstring.

    Parameters
    ----------
    decoder :
        Receives every frame (a :class:`~adapters.bybit.decoder.BybitMarketDataDecoder` built
        for the same category and depth).
    venue_symbols :
        Venue names (``BTCUSDT``) to subscribe.
    config :
        URL, category, depth, timings.
    on_alert :
        ``on_alert(source, message)`` for operator-visible problems (stale feed).
    rng :
        Source of the backoff jitter (seed it in tests).

    Examples
    --------
    >>> feed = BybitFeed(decoder, ["BTCUSDT"], FeedConfig(ws_url="wss://stream.bybit.com"))
    >>> await feed.run(stop)  # doctest: +SKIP
    """

    alert_source = "bybit-feed"

    def __init__(
        self,
        decoder: MarketDataDecoder,
        venue_symbols: list[str],
        config: FeedConfig,
        *,
        on_alert: Callable[[str, str], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        config.validate()
        if not venue_symbols:
            raise FeedConfigError("a feed needs at least one symbol")
        self.config = config
        self.symbols = [s.upper() for s in venue_symbols]
        super().__init__(decoder, on_alert, rng)
        self.stats = BybitFeedStats()
        self.url = ws_endpoint(config.ws_url, config.category)
        self._book_topics = {
            s: orderbook_topic(s, config.depth, config.category) for s in self.symbols
        }
        topics: list[str] = []
        for s in self.symbols:
            topics.append(self._book_topics[s])
            topics.append(trade_topic(s))
            if config.tickers:
                topics.append(ticker_topic(s))
        self._subscribe = subscribe_messages(topics)
        #: Per symbol: when its orderbook was last (re)subscribed (monotonic seconds).
        self._subscribed_mono: dict[str, float] = dict.fromkeys(self.symbols, 0.0)

    # -- connection ----------------------------------------------------------------------------

    def _on_connected(self, transport: WSTransport) -> None:
        super()._on_connected(transport)
        now = self._connected_mono
        for message in self._subscribe:
            transport.send(WSMsgType.TEXT, message)
        for symbol in self.symbols:
            self._subscribed_mono[symbol] = now

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the feed connected until ``stop`` is set; returns after a clean close."""
        tasks = [
            asyncio.create_task(self._heartbeat(stop), name="bybit-heartbeat"),
            asyncio.create_task(self._resyncs(stop), name="bybit-resyncs"),
            asyncio.create_task(self._watchdog(stop), name="bybit-watchdog"),
        ]
        try:
            await self._connections(stop)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- heartbeat -----------------------------------------------------------------------------

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        interval = self.config.ping_interval_s
        while not stop.is_set():
            await sleep_unless(stop, interval)
            transport = self._live_transport()
            if transport is not None and not stop.is_set():
                transport.send(WSMsgType.TEXT, PING_MESSAGE)
                self.stats.pings += 1

    # -- resync --------------------------------------------------------------------------------

    async def _resyncs(self, stop: asyncio.Event) -> None:
        wait = self.config.resubscribe_after_s
        period = min(0.05, wait / 4.0)
        while not stop.is_set():
            await sleep_unless(stop, period)
            transport = self._live_transport()
            if transport is None:
                continue
            now = time.monotonic()
            for symbol in self._decoder.symbols_needing_snapshot():
                last = self._subscribed_mono.get(symbol)
                if last is None or now - last < wait:
                    continue
                topic = self._book_topics[symbol]
                _log.warning(
                    "order book waits for a snapshot: resubscribing",
                    extra={"fields": {"symbol": symbol, "topic": topic}},
                )
                transport.send(WSMsgType.TEXT, _encode({"op": "unsubscribe", "args": [topic]}))
                transport.send(WSMsgType.TEXT, _encode({"op": "subscribe", "args": [topic]}))
                self._subscribed_mono[symbol] = now
                self.stats.resubscribes += 1

    # -- watchdog ------------------------------------------------------------------------------

    async def _watchdog(self, stop: asyncio.Event) -> None:
        cfg = self.config
        period = min(1.0, cfg.stale_after_s / 4.0)
        while not stop.is_set():
            await sleep_unless(stop, period)
            transport = self._live_transport()
            if transport is None:
                continue
            self._drop_if_stale(transport)
