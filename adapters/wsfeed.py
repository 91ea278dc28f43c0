"""What every venue's WebSocket market-data feed shares: the picows listener, the
reconnect loop with full-jitter backoff, the stale-feed check and the hot-path frame
hand-off. :class:`adapters.binance.feed.BinanceFeed` and
:class:`adapters.bybit.feed.BybitFeed` add their venue's subscriptions and resyncs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import msgspec
from picows import WSError, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

__all__ = ["FeedDecoder", "ReconnectingFeed", "sleep_unless"]

_log = logging.getLogger("ats.adapters.feed")


class FeedDecoder(Protocol):
    """What a feed needs from its venue's decoder."""

    def on_frame(self, ts_recv: int, frame: bytes) -> None: ...
    def symbols_needing_snapshot(self) -> list[str]: ...
    def invalidate_all(self, reason: str) -> None: ...


class _Listener(WSListener):  # type: ignore[misc]
    __slots__ = ("_feed",)

    def __init__(self, feed: ReconnectingFeed) -> None:
        self._feed = feed

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._feed._on_connected(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type == WSMsgType.TEXT or msg_type == WSMsgType.BINARY:
            self._feed._on_payload(frame.get_payload_as_bytes())
        elif msg_type == WSMsgType.CLOSE:
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._feed._on_disconnected()


class ReconnectingFeed:
    """One WebSocket connection kept alive for a decoder.

    Subclasses set ``url`` and ``stats`` (a Struct with ``connects``,
    ``reconnects``, ``connect_failures``, ``frames``, ``bytes``,
    ``last_frame_ns``, ``connected``, ``stale``) and ``config`` (with
    ``reconnect_base_s``, ``reconnect_cap_s``, ``handshake_timeout_s``,
    ``stale_after_s``), and run :meth:`_connections` beside their own tasks.
    """

    #: ``source`` of the stale-feed alert.
    alert_source: ClassVar[str] = "feed"
    url: str
    stats: Any
    config: Any

    def __init__(
        self,
        decoder: FeedDecoder,
        on_alert: Callable[[str, str], None] | None,
        rng: random.Random | None,
    ) -> None:
        self._decoder = decoder
        self._on_alert = on_alert
        self._rng = rng or random.Random()
        self._transport: WSTransport | None = None
        self._frames_this_connection = 0
        self._connected_mono = 0.0
        self._last_frame_mono = 0.0

    # -- hot path ------------------------------------------------------------------------------

    def _on_payload(self, payload: bytes) -> None:
        ts = time.time_ns()
        stats = self.stats
        stats.frames += 1
        stats.bytes += len(payload)
        stats.last_frame_ns = ts
        self._frames_this_connection += 1
        self._last_frame_mono = time.monotonic()
        self._decoder.on_frame(ts, payload)

    # -- connection ----------------------------------------------------------------------------

    def _on_connected(self, transport: WSTransport) -> None:
        self.stats.connected = True
        self._connected_mono = self._last_frame_mono = time.monotonic()
        self._frames_this_connection = 0

    def _on_disconnected(self) -> None:
        self.stats.connected = False
        # whatever arrives on the next connection does not chain to what we have
        self._decoder.invalidate_all("feed disconnected")

    def _backoff(self, attempt: int) -> float:
        cap = min(self.config.reconnect_cap_s, self.config.reconnect_base_s * 2.0**attempt)
        return self._rng.uniform(0.0, cap)

    def _live_transport(self) -> WSTransport | None:
        transport = self._transport
        return transport if transport is not None and self.stats.connected else None

    async def _connections(self, stop: asyncio.Event) -> None:
        """Connect, wait for the disconnect, back off, reconnect; until ``stop`` is set."""
        attempt = 0
        while not stop.is_set():
            try:
                transport, _ = await ws_connect(
                    lambda: _Listener(self),
                    self.url,
                    websocket_handshake_timeout=self.config.handshake_timeout_s,
                    enable_auto_pong=True,
                )
            except (OSError, TimeoutError, WSError) as exc:
                self.stats.connect_failures += 1
                delay = self._backoff(attempt)
                attempt += 1
                _log.warning(
                    "feed connect failed: retrying",
                    extra={"fields": {"url": self.url, "error": str(exc), "retry_in_s": delay}},
                )
                await sleep_unless(stop, delay)
                continue
            self._transport = transport
            self.stats.connects += 1
            if self.stats.connects > 1:
                self.stats.reconnects += 1
            _log.info("feed connected", extra={"fields": {"url": self.url}})
            disconnected = asyncio.ensure_future(transport.wait_disconnected())
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({disconnected, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if stop.is_set():
                transport.send_close()
                transport.disconnect()
                await disconnected
                self._transport = None
                break
            self._transport = None
            if self._frames_this_connection > 0:
                attempt = 0
            delay = self._backoff(attempt)
            attempt += 1
            _log.warning(
                "feed disconnected: reconnecting",
                extra={"fields": {"url": self.url, "retry_in_s": round(delay, 3)}},
            )
            await sleep_unless(stop, delay)

    def _drop_if_stale(self, transport: WSTransport) -> bool:
        """No frame for ``stale_after_s``: alert, invalidate the books, reconnect. True if so."""
        silent = time.monotonic() - self._last_frame_mono
        if silent <= self.config.stale_after_s:
            return False
        self.stats.stale += 1
        message = (
            f"no market data for {silent:.1f} s on {self.url}: books invalidated, reconnecting"
        )
        _log.warning("stale feed", extra={"fields": {"url": self.url, "silent_s": silent}})
        if self._on_alert is not None:
            self._on_alert(self.alert_source, message)
        self._decoder.invalidate_all("stale feed")
        transport.disconnect()
        return True

    def summary(self) -> dict[str, Any]:
        """Feed counters as plain values."""
        return msgspec.to_builtins(self.stats)


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``stop`` is set, whichever comes first."""
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
