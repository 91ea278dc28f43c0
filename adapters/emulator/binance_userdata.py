"""The emulator's Binance listen keys and private user-data-stream connections.

:class:`UserDataStreams` holds the account's listen keys (one active key at a
time: creating a key while one is active returns it again and extends it, as
Binance does), serves ``/ws/<listenKey>`` and pushes each event, already
encoded, to every connection of a live key in order (one writer task per
connection). A key lives ``ttl_s`` after its creation or last keep-alive; when
it expires the connections get ``{"e": "listenKeyExpired", ...}`` and are
closed. See :mod:`adapters.emulator.binance_trading` for the endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from adapters.emulator.trading_common import QueuedSocket

__all__ = ["ListenKeyUnknownError", "UserDataStreams"]

_log = logging.getLogger("ats.adapters.emulator")
_encode = msgspec.json.encode


class ListenKeyUnknownError(KeyError):
    """No live listen key of that name (Binance's ``-1125``)."""


class _ListenKey:
    __slots__ = ("expires", "key", "sockets")

    def __init__(self, key: str, expires: float) -> None:
        self.key = key
        self.expires = expires
        self.sockets: list[QueuedSocket] = []


class UserDataStreams:
    """Listen keys and the connections of one emulated account.

    Parameters
    ----------
    name :
        Seeds the keys (``sha256(name-listen-key-N)``, 60 hex characters): the same
        run gives the same keys.
    ttl_s :
        Validity after creation or keep-alive.
    now_ms :
        The venue clock, for the ``E`` of ``listenKeyExpired``.
    copies :
        How many times each event is sent (2 to test client-side deduplication).
    """

    def __init__(self, name: str, ttl_s: float, now_ms: Callable[[], int], copies: int = 1) -> None:
        self.name = name
        self.ttl_s = ttl_s
        self.copies = copies
        #: While True, new connections are refused (HTTP 503).
        self.blocked = False
        #: Keys created and connections accepted so far.
        self.created = 0
        self.connections = 0
        self._now_ms = now_ms
        self._keys: dict[str, _ListenKey] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the expiry watchdog."""
        self._watchdog = asyncio.create_task(self._expire_loop(), name="emulator-listen-keys")

    async def close(self) -> None:
        """Stop the watchdog and close every connection (code 1001)."""
        task, self._watchdog = self._watchdog, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for key in list(self._keys.values()):
            await self._close_key(key, WSCloseCode.GOING_AWAY)
        self._keys.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks)

    # -- keys ----------------------------------------------------------------------------------

    def create(self) -> str:
        """A new key, or the active one extended."""
        now = time.monotonic()
        for key in self._keys.values():
            if key.expires > now:
                key.expires = now + self.ttl_s
                return key.key
        self.created += 1
        name = hashlib.sha256(f"{self.name}-listen-key-{self.created}".encode()).hexdigest()[:60]
        self._keys[name] = _ListenKey(name, now + self.ttl_s)
        return name

    def live(self, name: str) -> str:
        """The live key ``name`` (``""``: the account's only key).

        Raises
        ------
        ListenKeyUnknownError
        """
        if not name:
            name = next(iter(self._keys), "")
        key = self._keys.get(name)
        if key is None or key.expires <= time.monotonic():
            raise ListenKeyUnknownError(name)
        return key.key

    def is_live(self, name: str) -> bool:
        """Whether ``name`` is a live key."""
        key = self._keys.get(name)
        return key is not None and key.expires > time.monotonic()

    def keep_alive(self, name: str) -> str:
        """Extend the key; return its name (:class:`ListenKeyUnknownError` if not live)."""
        key = self._keys[self.live(name)]
        key.expires = time.monotonic() + self.ttl_s
        return key.key

    def delete(self, name: str) -> None:
        """Invalidate the key and close its connections (:class:`ListenKeyUnknownError`)."""
        key = self._keys.pop(self.live(name))
        task = asyncio.get_running_loop().create_task(self._close_key(key, WSCloseCode.OK))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- connections ---------------------------------------------------------------------------

    @property
    def listening(self) -> bool:
        """Whether any connection would receive an event (cheap check before formatting)."""
        return any(k.sockets for k in self._keys.values())

    def push(self, payload: bytes) -> None:
        """Queue ``payload`` (``copies`` times) on every connection of every live key."""
        for key in self._keys.values():
            for sock in key.sockets:
                for _ in range(self.copies):
                    sock.queue.put_nowait(payload)

    async def serve(self, request: web.Request, name: str) -> web.StreamResponse:
        """Serve ``/ws/<listenKey>`` until the client or the emulator closes it."""
        key = self._keys.get(name)
        if self.blocked or key is None:
            return web.Response(status=503, text="user data stream unavailable")
        ws = web.WebSocketResponse(compress=False, autoping=True)
        await ws.prepare(request)
        sock = QueuedSocket(ws)
        sock.start()
        key.sockets.append(sock)
        self.connections += 1
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            if sock in key.sockets:
                key.sockets.remove(sock)
            await sock.finish()
        return ws

    async def drop(self) -> int:
        """Close every connection (the keys stay valid); return how many."""
        dropped = 0
        for key in self._keys.values():
            sockets, key.sockets = key.sockets, []
            for sock in sockets:
                await sock.close(WSCloseCode.GOING_AWAY)
                dropped += 1
        return dropped

    async def _close_key(self, key: _ListenKey, code: int, payload: bytes | None = None) -> None:
        sockets, key.sockets = key.sockets, []
        for sock in sockets:
            if payload is not None:
                sock.queue.put_nowait(payload)
            await sock.close(code)

    async def _expire_loop(self) -> None:
        period = max(0.01, min(1.0, self.ttl_s / 10))
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for key in [k for k in self._keys.values() if k.expires <= now]:
                del self._keys[key.key]
                event = {"e": "listenKeyExpired", "E": self._now_ms(), "listenKey": key.key}
                _log.info(
                    "emulator listen key expired", extra={"fields": {"sockets": len(key.sockets)}}
                )
                await self._close_key(key, WSCloseCode.OK, _encode(event))
