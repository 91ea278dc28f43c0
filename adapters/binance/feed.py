"""Binance market data over WebSocket: picows client, REST snapshots, reconnects, staleness.

One :class:`BinanceFeed` is one combined-stream connection
(``<ws_url>/stream?streams=btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker``)
for any number of symbols, on the running event loop (uvloop in ``ats``).

Hot path: picows calls :meth:`_Listener.on_ws_frame` with the frame still in
its receive buffer; the payload goes straight to the decoder
(:class:`adapters.binance.decoder.SpotMarketDataDecoder` and its futures
flavours), which writes it into the symbol's book arrays and trade ring. No
asyncio task or future per message.

Around it, three coroutines:

* the connection loop: connect, wait for the disconnect, invalidate every
  book (a book that misses frames is wrong), back off with full jitter
  (``min(cap, base * 2**attempt)``, reset once a connection delivers frames)
  and reconnect; the streams are in the URL, so reconnecting resubscribes;
* the snapshot loop: whenever the decoder has a symbol waiting for a REST
  snapshot (start, sequence gap, crossed book, reconnect) and frames are
  flowing, fetch ``GET <rest_url>/api/v3/depth`` (``/fapi/v1``, ``/dapi/v1``
  on futures) and hand it to the decoder, which applies the buffered diffs
  on top (Binance's procedure);
* the watchdog: no frame for ``stale_after_s`` → a ``RISK_ALERT`` through
  ``on_alert``, every book invalidated (strategies do not quote from an
  out-of-sync book) and the connection dropped so it is rebuilt; a
  connection older than ``max_connection_age_s`` is replaced before Binance
  closes it at 24 h.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Protocol

import aiohttp
import msgspec

from adapters.binance.config import FeedConfig
from adapters.binance.errors import FeedConfigError, SnapshotError
from adapters.binance.symbols import depth_path, snapshot_limit, streams_for
from adapters.wsfeed import ReconnectingFeed, sleep_unless

__all__ = ["BinanceFeed", "FeedStats", "MarketDataDecoder"]

_log = logging.getLogger("ats.adapters.binance.feed")


class MarketDataDecoder(Protocol):
    """What the feed needs from a decoder (see :mod:`adapters.binance.decoder`)."""

    def on_frame(self, ts_recv: int, frame: bytes) -> None: ...
    def on_snapshot(self, venue_symbol: str, ts_recv: int, body: bytes) -> None: ...
    def symbols_needing_snapshot(self) -> list[str]: ...
    def invalidate_all(self, reason: str) -> None: ...


class FeedStats(msgspec.Struct, kw_only=True):
    """Counters of one feed (the decoder keeps the book-level ones)."""

    connects: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    frames: int = 0
    bytes: int = 0
    snapshots: int = 0
    snapshot_errors: int = 0
    stale: int = 0
    age_reconnects: int = 0
    connected: bool = False
    last_frame_ns: int = 0


class BinanceFeed(ReconnectingFeed):
    """One combined-stream connection feeding a decoder; see the module docstring.

    Parameters
    ----------
    decoder :
        Receives every frame and snapshot.
    venue_symbols :
        Venue names (``BTCUSDT``) to subscribe.
    config :
        URLs, market, timings.
    on_alert :
        ``on_alert(source, message)`` for operator-visible problems (stale feed).
    """

    alert_source = "binance-feed"

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
        self.stats = FeedStats()
        streams = [
            st
            for s in self.symbols
            for st in streams_for(s, config.market, config.depth_speed, config.trade_stream)
        ]
        self.url = f"{config.ws_url.rstrip('/')}/stream?streams={'/'.join(streams)}"

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the feed connected until ``stop`` is set; returns after a clean close."""
        timeout = aiohttp.ClientTimeout(total=self.config.snapshot_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            tasks = [
                asyncio.create_task(self._snapshots(http, stop), name="binance-snapshots"),
                asyncio.create_task(self._watchdog(stop), name="binance-watchdog"),
            ]
            try:
                await self._connections(stop)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    # -- snapshots -----------------------------------------------------------------------------

    async def _snapshots(self, http: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            # only while diffs flow on a live connection, so the decoder has them buffered
            need = (
                self._decoder.symbols_needing_snapshot()
                if self._transport is not None and self._frames_this_connection > 0
                else []
            )
            if not need:
                await asyncio.sleep(0.01)
                continue
            for symbol in need:
                try:
                    body = await self._fetch_snapshot(http, symbol)
                except (aiohttp.ClientError, TimeoutError, SnapshotError) as exc:
                    self.stats.snapshot_errors += 1
                    failures += 1
                    delay = self._backoff(failures)
                    _log.warning(
                        "depth snapshot failed: retrying",
                        extra={
                            "fields": {"symbol": symbol, "error": str(exc), "retry_in_s": delay}
                        },
                    )
                    await sleep_unless(stop, delay)
                    break
                self.stats.snapshots += 1
                failures = 0
                self._decoder.on_snapshot(symbol, time.time_ns(), body)
            else:
                # a snapshot older than the buffered diffs leaves the symbol waiting: pace retries
                await asyncio.sleep(0.05)

    async def _fetch_snapshot(self, http: aiohttp.ClientSession, symbol: str) -> bytes:
        market = self.config.market
        url = f"{self.config.rest_url.rstrip('/')}{depth_path(market)}"
        params = {
            "symbol": symbol,
            "limit": str(snapshot_limit(market, self.config.snapshot_limit)),
        }
        async with http.get(url, params=params) as resp:
            body = await resp.read()
            if resp.status != 200:
                head = body[:200].decode("utf-8", "replace")
                raise SnapshotError(f"GET {url}?symbol={symbol}: HTTP {resp.status} {head}")
            return body

    # -- watchdog ------------------------------------------------------------------------------

    async def _watchdog(self, stop: asyncio.Event) -> None:
        cfg = self.config
        period = min(1.0, cfg.stale_after_s / 4.0)
        while not stop.is_set():
            await sleep_unless(stop, period)
            transport = self._live_transport()
            if transport is None:
                continue
            if self._drop_if_stale(transport):
                continue
            if time.monotonic() - self._connected_mono > cfg.max_connection_age_s:
                self.stats.age_reconnects += 1
                _log.info(
                    "feed connection age limit: reconnecting", extra={"fields": {"url": self.url}}
                )
                transport.disconnect()
