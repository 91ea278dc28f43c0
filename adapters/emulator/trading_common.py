"""What the emulator's venue trading layers share: settings, faults, the request loop, HMAC.

:class:`EmulatedAccount` is the base of
:class:`~adapters.emulator.binance_trading.BinanceTrading` and
:class:`~adapters.emulator.bybit_trading.BybitTrading`: one emulated account,
its :class:`~adapters.emulator.matching.MatchingEngine`, the venue clock
(``clock_offset_ms`` ahead of the local one), the requests it received and the
deterministic faults (:class:`FaultSettings`: each counts the requests it
matches and acts on those from ``at`` on, ``times`` of them). Every request
goes through :meth:`EmulatedAccount._serve`:

1. it is counted and recorded (``received``);
2. a fault that does not let the request take effect answers at once;
3. the venue's checks (key, timestamp, signature) and the handler run; a
   refusal (:class:`ApiError`) is answered in the venue's format;
4. a ``timeout`` fault withholds the answer ``delay_s`` (the request took
   effect), another fault answers in place of the result.

A venue module adds its parameters' parsing, its checks and its answers' format.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

import msgspec
from aiohttp import WSMsgType, web

from adapters.emulator.book import DepthBook
from adapters.emulator.matching import (
    AccountChanged,
    ExecutionEvent,
    MarketKind,
    MarketSpec,
    MatchingEngine,
)

__all__ = [
    "NONE",
    "SIGNED",
    "USER_STREAM",
    "AccountSettings",
    "ApiError",
    "EmulatedAccount",
    "FaultSettings",
    "QueuedSocket",
    "TradingCounters",
    "hmac_hex",
    "same_text",
]

_log = logging.getLogger("ats.adapters.emulator")

#: An endpoint's security: public, API key only, API key and signature.
NONE, USER_STREAM, SIGNED = 0, 1, 2

Handler = Callable[[dict[str, Any]], Any]


class ApiError(Exception):
    """A venue's refusal: its error ``code`` and ``msg``, and the HTTP status (Binance's)."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


def hmac_hex(secret: str, text: str) -> str:
    """The hex HMAC-SHA256 of ``text`` keyed with ``secret`` (both venues sign so)."""
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def same_text(given: str, expected: str) -> bool:
    """``given == expected`` in constant time (keys and signatures)."""
    return hmac.compare_digest(given.encode(), expected.encode())


class FaultSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The keys every venue's trading fault has (the venue adds its own and its defaults).

    Keys
    ----
    action : str
        One of the venue's ``actions``.
    path : str
        The endpoint matched; ``""`` matches every one.
    at : int
        The first matching request acted on, 1-based (default 1).
    times : int
        Consecutive matching requests acted on (default 1; 0: every one from ``at``).
    delay_s : float
        ``timeout``: how long the answer is withheld (default 2.0).
    status : int
        ``5xx``: the HTTP status.
    applied : bool
        ``5xx``: the request takes effect before the error (default False).
    code, message :
        ``reject``: the venue's error.
    """

    #: The venue's fault actions, in the order its messages name them.
    actions: ClassVar[tuple[str, ...]] = ()

    action: str
    path: str = ""
    at: int = 1
    times: int = 1
    delay_s: float = 2.0
    status: int = 503
    applied: bool = False
    code: int = 0
    message: str = ""

    def __post_init__(self) -> None:
        if self.action not in self.actions:
            names = ", ".join(self.actions[:-1]) + " or " + self.actions[-1]
            raise ValueError(f"action must be {names}, was {self.action!r}")
        if self.at < 1 or self.times < 0:
            raise ValueError(f"at must be >= 1 and times >= 0, were {self.at} and {self.times}")
        if not 500 <= self.status <= 599:
            raise ValueError(f"status must be a 5xx status, was {self.status}")


def _no_balances() -> dict[str, str]:
    return {}


class AccountSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The keys every emulated account has (the venue adds its own and its defaults).

    Keys
    ----
    api_key, secret_key : str
        The credentials requests must carry (emulator-only values).
    balances : dict[str, str]
        Starting balances; default spot ``{"USDT": "100000", "BTC": "1"}``, linear
        ``{"USDT": "100000"}`` (wallet balance).
    maker_fee, taker_fee : str
        Commission rates; default ``""``: the venue's.
    symbols : tuple[str, ...]
        Trade only these symbols (default: all recorded ones).
    clock_offset_ms : int
        The venue's clock runs this far ahead of the local clock (default 0).
    """

    api_key: str = "emulator-api-key"
    secret_key: str = "emulator-secret-key"
    balances: dict[str, str] = msgspec.field(default_factory=_no_balances)
    maker_fee: str = ""
    taker_fee: str = ""
    symbols: tuple[str, ...] = ()
    clock_offset_ms: int = 0


class TradingCounters(msgspec.Struct, kw_only=True):
    """Counters every emulated account keeps (the venue adds its streams')."""

    requests: int = 0
    orders_placed: int = 0
    orders_rejected: int = 0
    cancels: int = 0
    auth_failures: int = 0
    faults: int = 0


class _Fired:
    __slots__ = ("fault", "seen")

    def __init__(self, fault: FaultSettings) -> None:
        self.fault = fault
        self.seen = 0

    def matches(self, method: str, path: str) -> bool:
        f = self.fault
        wanted = getattr(f, "method", "")
        if (wanted and wanted != method) or (f.path and f.path != path):
            return False
        self.seen += 1
        return self.seen >= f.at and (f.times == 0 or self.seen < f.at + f.times)


class QueuedSocket:
    """A server-side WebSocket fed from a queue by its own writer task, in order."""

    __slots__ = ("queue", "task", "ws")

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the writer."""
        self.task = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while True:
            payload = await self.queue.get()
            if payload is None:
                return
            try:
                await self.ws.send_frame(payload, WSMsgType.TEXT)
            except (ConnectionResetError, RuntimeError):  # the client is gone
                return

    async def finish(self) -> None:
        """Let the writer send what is queued, then end it."""
        self.queue.put_nowait(None)
        if self.task is not None:
            await self.task

    async def close(self, code: int) -> None:
        """Stop the writer and close the connection with ``code`` (within 1 s)."""
        self.queue.put_nowait(None)
        with contextlib.suppress(OSError, TimeoutError, RuntimeError):
            await asyncio.wait_for(self.ws.close(code=code), 1.0)


class EmulatedAccount:
    """The venue-neutral part of an emulated trading account; see the module.

    Parameters
    ----------
    config :
        The account's settings (an :class:`AccountSettings` with ``faults``).
    stats :
        Its counters (a :class:`TradingCounters`).
    """

    #: The codes of refused credentials, timestamps and signatures (``auth_failures``).
    auth_error_codes: ClassVar[frozenset[int]] = frozenset()
    #: Whether faults act on public endpoints too (else on signed ones only).
    faults_on_public: ClassVar[bool] = True
    #: Parameters left out of ``received`` (the signature and the timestamp).
    unrecorded: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: Any, stats: TradingCounters) -> None:
        self.config = config
        self.stats = stats
        self._faults = [_Fired(f) for f in config.faults]
        self._closing = asyncio.Event()
        #: The last requests' ``(method, endpoint, params)``, newest last (the exact
        #: strings clients sent, for tests).
        self.received: collections.deque[tuple[str, str, dict[str, Any]]] = collections.deque(
            maxlen=1000
        )

    def _engine(
        self,
        markets: dict[str, MarketSpec],
        *,
        linear: bool,
        linear_taker_fee: str,
        book_of: Callable[[str], DepthBook | None] | None,
        **rules: Any,
    ) -> MatchingEngine:
        """The account's matching engine, with the default balances and fees of the kind."""
        config = self.config
        balances = config.balances or (
            {"USDT": "100000"} if linear else {"USDT": "100000", "BTC": "1"}
        )
        maker = config.maker_fee or ("0.0002" if linear else "0.001")
        taker = config.taker_fee or (linear_taker_fee if linear else "0.001")
        return MatchingEngine(
            markets,
            kind=MarketKind.LINEAR if linear else MarketKind.SPOT,
            balances={a: Decimal(v) for a, v in balances.items()},
            maker_fee=Decimal(maker),
            taker_fee=Decimal(taker),
            leverage=config.leverage,
            book_of=book_of,
            on_event=self._on_event,
            clock_ms=self.now_ms,
            **rules,
        )

    # -- controls ------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The venue's clock in ms (the wall clock plus ``clock_offset_ms``)."""
        return time.time_ns() // 1_000_000 + self.config.clock_offset_ms

    def inject(self, fault: Any) -> None:
        """Add a fault from now on (its request count starts at 0)."""
        self._faults.append(_Fired(fault))

    def clear_faults(self) -> None:
        """Remove every fault."""
        self._faults.clear()

    # -- requests ------------------------------------------------------------------------------

    def _endpoint(self, name: str, security: int, handler: Handler) -> Any:
        async def serve(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, name, security, handler)

        return serve

    async def _serve(
        self, request: web.Request, name: str, security: int, handler: Handler
    ) -> web.StreamResponse:
        self.stats.requests += 1
        raw_query = request.rel_url.raw_query_string
        raw_body = await request.text() if request.can_read_body else ""
        params, refusal = self._params(request.method, raw_query, raw_body)
        recorded = {k: v for k, v in params.items() if k not in self.unrecorded}
        self.received.append((request.method, name, recorded))
        faulted = self.faults_on_public or security != NONE
        fault = self._fault(request.method, name) if faulted else None
        if fault is not None and fault.action != "timeout" and not fault.applied:
            return self._fault_response(fault)
        try:
            if refusal is not None:
                raise refusal
            self._check(request, params, raw_query, raw_body, security)
            result = handler(params)
        except ApiError as exc:
            if exc.code in self.auth_error_codes:
                self.stats.auth_failures += 1
            return self._error_response(exc)
        if fault is not None:
            if fault.action != "timeout":
                return self._fault_response(fault)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.delay_s)
        return self._response(result, security)

    def _fault(self, method: str, name: str) -> Any:
        found = None
        for fired in self._faults:
            if fired.matches(method, name) and found is None:
                found = fired.fault
        if found is not None:
            self.stats.faults += 1
            _log.info(
                "emulator trading fault",
                extra={"fields": {"action": found.action, "endpoint": name, "method": method}},
            )
        return found

    # -- what a venue adds ---------------------------------------------------------------------

    def _params(
        self, method: str, raw_query: str, raw_body: str
    ) -> tuple[dict[str, Any], ApiError | None]:
        """The request's parameters, and the refusal of a body that cannot be read."""
        raise NotImplementedError

    def _check(
        self,
        request: web.Request,
        params: dict[str, Any],
        raw_query: str,
        raw_body: str,
        security: int,
    ) -> None:
        """Raise the venue's :class:`ApiError` for bad credentials, timestamp or signature."""
        raise NotImplementedError

    def _error_response(self, exc: ApiError) -> web.Response:
        raise NotImplementedError

    def _fault_response(self, fault: Any) -> web.Response:
        raise NotImplementedError

    def _response(self, result: Any, security: int) -> web.Response:
        raise NotImplementedError

    def _on_event(self, event: ExecutionEvent | AccountChanged) -> None:
        """Push the matching engine's event to the account's private streams."""
        raise NotImplementedError
