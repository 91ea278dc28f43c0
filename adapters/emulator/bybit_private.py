"""The emulator's Bybit v5 private stream (``/v5/private``) of one account.

:class:`PrivateStreams` serves the connections: a client authenticates
(``{"op":"auth","args":[apiKey, expires, signature]}``, the signature the hex
HMAC-SHA256 of ``"GET/realtime" + expires`` keyed with the secret, ``expires``
in the future), subscribes topics (``order``, ``execution``, ``position``,
``wallet``) and pings (``{"op":"ping"}``, answered ``pong``); each message is
pushed, already encoded, to every connection subscribed to its topic, in order
(one writer task per connection). Answers are Bybit's: ``success``,
``ret_msg``, ``op``, ``conn_id`` and the request's ``req_id``. See
:mod:`adapters.emulator.bybit_trading` for the account.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from adapters.emulator.bybit_trading_config import BybitTradingStats
from adapters.emulator.trading_common import QueuedSocket, hmac_hex, same_text

__all__ = ["PRIVATE_TOPICS", "PrivateStreams"]

#: The private topics the emulator serves.
PRIVATE_TOPICS = ("order", "execution", "position", "wallet")
_encode = msgspec.json.encode


class _PrivateSocket(QueuedSocket):
    __slots__ = ("authed", "conn_id", "topics")

    def __init__(self, ws: web.WebSocketResponse, conn_id: str) -> None:
        super().__init__(ws)
        self.conn_id = conn_id
        self.authed = False
        self.topics: set[str] = set()


class PrivateStreams:
    """The private-stream connections of one emulated account.

    Parameters
    ----------
    api_key, secret_key :
        The credentials the ``auth`` must be signed with.
    now_ms :
        The venue clock (``expires``, the ``pong``'s time).
    next_seq :
        The account's next sequence number (a message's ``id``).
    stats :
        The account's counters (connections, messages, refused auths).
    copies :
        How many times each message is sent (2 to test client-side deduplication).
    """

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        now_ms: Callable[[], int],
        next_seq: Callable[[], int],
        stats: BybitTradingStats,
        copies: int = 1,
    ) -> None:
        self._api_key = api_key
        self._secret_key = secret_key
        self._now_ms = now_ms
        self._next_seq = next_seq
        self.stats = stats
        self.copies = copies
        #: While True, new connections are refused (HTTP 503).
        self.blocked = False
        #: While False, pings go unanswered (a silent venue).
        self.answer_pings = True
        self._sockets: list[_PrivateSocket] = []
        self._conn_count = 0

    @property
    def listening(self) -> bool:
        """Whether any connection subscribed to anything (cheap check before formatting)."""
        return any(s.topics for s in self._sockets)

    async def drop(self, code: int = WSCloseCode.GOING_AWAY) -> int:
        """Close every connection; return how many."""
        sockets, self._sockets = self._sockets, []
        for sock in sockets:
            await sock.close(code)
        return len(sockets)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """Serve ``/v5/private``: auth, subscribe, ping, then this account's messages."""
        if self.blocked:
            return web.Response(status=503, text="private stream unavailable")
        ws = web.WebSocketResponse(compress=False, autoping=True)
        await ws.prepare(request)
        self._conn_count += 1
        sock = _PrivateSocket(ws, f"emulator-private-{self._conn_count}")
        sock.start()
        self._sockets.append(sock)
        self.stats.private_connections += 1
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    reply = self._request(sock, msg.data)
                    if reply is not None:
                        sock.queue.put_nowait(reply)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            if sock in self._sockets:
                self._sockets.remove(sock)
            await sock.finish()
        return ws

    def push(self, topic: str, data: list[dict[str, Any]], now: int) -> None:
        """Send ``data`` as one ``topic`` message to its subscribers (``copies`` times)."""
        sockets = [s for s in self._sockets if topic in s.topics]
        if not sockets or not data:
            return
        seq = self._next_seq()
        body = {"id": f"{seq}_{topic}", "topic": topic, "creationTime": now, "data": data}
        payload = _encode(body)
        for sock in sockets:
            for _ in range(self.copies):
                sock.queue.put_nowait(payload)
        self.stats.private_messages += 1

    def _request(self, sock: _PrivateSocket, text: str) -> bytes | None:
        try:
            req = json.loads(text)
            op, args = str(req.get("op", "")), list(req.get("args") or [])
        except (ValueError, AttributeError):
            return _encode({"success": False, "ret_msg": "Params Error", "conn_id": sock.conn_id})
        reply: dict[str, Any] = {}
        if "req_id" in req:
            reply["req_id"] = req["req_id"]
        if op == "ping":
            if not self.answer_pings:
                return None
            reply.update(op="pong", args=[str(self._now_ms())], conn_id=sock.conn_id)
            return _encode(reply)
        ok, message = True, ""
        if op == "auth":
            ok, message = self._auth(args)
            sock.authed = sock.authed or ok
            if not ok:
                self.stats.auth_failures += 1
        elif op in ("subscribe", "unsubscribe"):
            if not sock.authed:
                ok, message = False, "Request not authorized"
            else:
                bad = [t for t in args if str(t).split(".")[0] not in PRIVATE_TOPICS]
                if bad:
                    ok, message = False, f"error:handler not found,topic:{bad[0]}"
                for topic in args:
                    name = str(topic).split(".")[0]
                    if name in PRIVATE_TOPICS:
                        if op == "subscribe":
                            sock.topics.add(name)
                        else:
                            sock.topics.discard(name)
        else:
            ok, message = False, f"error:unknown op {op!r}"
        reply.update(success=ok, ret_msg=message, op=op, conn_id=sock.conn_id)
        return _encode(reply)

    def _auth(self, args: list[Any]) -> tuple[bool, str]:
        if len(args) != 3:
            return False, "Params Error"
        key, expires, signature = str(args[0]), str(args[1]), str(args[2])
        if not expires.isdigit() or int(expires) <= self._now_ms():
            return False, "Params Error"
        if not same_text(key, self._api_key):
            return False, "Request not authorized"
        if not same_text(signature.lower(), hmac_hex(self._secret_key, f"GET/realtime{expires}")):
            return False, "Request not authorized"
        return True, ""
