"""ccxt's exceptions and the venues' error codes as the engine's errors.

:func:`map_ccxt_error` maps a ccxt (or bare network) exception by its class:
network errors and timeouts, rate limits (with the wait the venue asked for),
the venue being down, insufficient funds, invalid orders, authentication,
unknown orders. On a placement, anything that may have reached the venue (a
timeout, a 5xx, a dropped connection, an "outcome unknown" answer) is a
:class:`~engine.broker.RequestTimeoutError`, so the order is looked up before
it is sent again.

:class:`VenueErrors` (a base of :class:`adapters.ccxt_broker.CcxtBroker`) maps
the venue's own error code first: the venue module declares the pattern of its
code and message in ccxt's exception text and its codes by meaning (clock,
credentials, rate limit, outcome unknown, venue failure, unknown order, funds,
refusal), and adds its special cases in :meth:`VenueErrors.code_error`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any, ClassVar

from ccxt.base.errors import (
    AuthenticationError as CcxtAuthenticationError,
)
from ccxt.base.errors import (
    BadRequest,
    BadSymbol,
    BaseError,
    DDoSProtection,
    ExchangeError,
    ExchangeNotAvailable,
    InsufficientFunds,
    InvalidNonce,
    InvalidOrder,
    OperationFailed,
    OrderNotFound,
    RateLimitExceeded,
    RequestTimeout,
)
from ccxt.base.errors import (
    NetworkError as CcxtNetworkError,
)

from adapters.credentials import Credentials
from engine.broker import (
    AuthenticationError,
    BrokerError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    NetworkError,
    OrderNotFoundError,
    RateLimitError,
    RequestTimeoutError,
)

__all__ = ["VenueErrors", "map_ccxt_error"]


def map_ccxt_error(
    exc: BaseException,
    *,
    action: str,
    venue: str,
    redact: Callable[[str], str] = lambda text: text,
    retry_after_s: float | None = None,
) -> BrokerError:
    """The :class:`~engine.broker.BrokerError` for a ccxt (or bare network) exception.

    ``action`` is what was attempted (``place``, ``cancel``, ``query``...); on
    ``place``, anything that may have reached the venue (a timeout, a 5xx, a
    connection dropped, an "outcome unknown" answer) is a
    :class:`~engine.broker.RequestTimeoutError`, so the order is looked up
    before it is sent again.

    Examples
    --------
    >>> import ccxt
    >>> type(map_ccxt_error(ccxt.InsufficientFunds("x"), action="place", venue="v")).__name__
    'InsufficientFundsError'
    >>> type(map_ccxt_error(ccxt.ExchangeNotAvailable("502"), action="place", venue="v")).__name__
    'RequestTimeoutError'
    """
    text = redact(f"{venue} {action}: {type(exc).__name__}: {exc}")
    placing = action == "place"
    if isinstance(exc, InvalidNonce):
        return AuthenticationError(
            f"{text} (the venue refused the request timestamp: the local clock is off "
            "the venue's; sync it or enable sync_clock)"
        )
    if isinstance(exc, RequestTimeout | asyncio.TimeoutError | TimeoutError):
        return RequestTimeoutError(text)
    if isinstance(exc, DDoSProtection | RateLimitExceeded):
        return RateLimitError(text, retry_after_s=retry_after_s)
    if isinstance(exc, ExchangeNotAvailable):
        return RequestTimeoutError(text) if placing else ExchangeUnavailableError(text)
    if isinstance(exc, CcxtNetworkError):
        return RequestTimeoutError(text) if placing else NetworkError(text)
    if isinstance(exc, OperationFailed):  # internal error, bad response: execution unknown
        return RequestTimeoutError(text) if placing else ExchangeUnavailableError(text)
    if isinstance(exc, InsufficientFunds):
        return InsufficientFundsError(text)
    if isinstance(exc, OrderNotFound):
        return OrderNotFoundError(text)
    if isinstance(exc, InvalidOrder | BadSymbol):
        return InvalidOrderError(text)
    if isinstance(exc, CcxtAuthenticationError):
        return AuthenticationError(text)
    if isinstance(exc, BadRequest) and placing:
        return InvalidOrderError(text)
    if isinstance(exc, ExchangeError | BaseError):
        return BrokerError(text)
    if isinstance(exc, OSError):
        return RequestTimeoutError(text) if placing else NetworkError(text)
    return BrokerError(text)


class VenueErrors:
    """The mapping of a venue's error codes, and of ccxt's exceptions after it (see the module).

    Needs ``config`` (``venue``, ``recv_window_ms``), ``client`` (its last answer's
    headers) and ``_credentials`` (to redact messages) of the broker it is a base of.
    """

    #: The venue's error answers (:meth:`venue_error`): the patterns of its code and its
    #: message in ccxt's exception text, and its name in our messages (None: ccxt's mapping).
    error_code_re: ClassVar[re.Pattern[str] | None] = None
    error_msg_re: ClassVar[re.Pattern[str] | None] = None
    error_label: ClassVar[str] = ""
    #: The name of the venue's recv window, in the message of a stale timestamp.
    recv_window_name: ClassVar[str] = "the recv window"
    #: The venue's error codes, by what they mean (:meth:`code_error`).
    clock_codes: ClassVar[frozenset[int]] = frozenset()
    auth_codes: ClassVar[frozenset[int]] = frozenset()
    rate_codes: ClassVar[frozenset[int]] = frozenset()
    #: The request may have been executed (on any request: the venue says so).
    unknown_outcome_codes: ClassVar[frozenset[int]] = frozenset()
    #: The venue failed (outcome unknown on a placement).
    server_codes: ClassVar[frozenset[int]] = frozenset()
    not_found_codes: ClassVar[frozenset[int]] = frozenset()
    funds_codes: ClassVar[frozenset[int]] = frozenset()
    #: Refusals of the request's content, never retried (codes, and ranges of codes).
    invalid_codes: ClassVar[frozenset[int]] = frozenset()
    invalid_ranges: ClassVar[tuple[range, ...]] = ()

    config: Any
    client: Any
    _credentials: Credentials

    def venue_error(self, exc: BaseException, action: str) -> BrokerError | None:
        """The venue's own mapping of ``exc`` by its error code, or None for ccxt's mapping.

        The code and the message are read from ccxt's exception text with
        ``error_code_re``/``error_msg_re`` and mapped by :meth:`code_error`; a code of
        0 (success) or an answer without a code is left to :meth:`uncoded_error`.
        """
        if self.error_code_re is None or not isinstance(exc, BaseError):
            return None
        raw = str(exc)
        found = self.error_code_re.search(raw)
        if found is None:
            return self.uncoded_error(raw, action)
        code = int(found.group(1))
        if code == 0:
            return None
        msg_match = self.error_msg_re.search(raw) if self.error_msg_re is not None else None
        msg = msg_match.group(1) if msg_match else ""
        text = self._credentials.redact(
            f"{self.config.venue} {action}: {self.error_label} {code} {msg}"
        )
        return self.code_error(code, msg, text, action)

    def uncoded_error(self, raw: str, action: str) -> BrokerError | None:
        """The mapping of a venue error without a code (default None: ccxt's)."""
        return None

    def code_error(self, code: int, msg: str, text: str, action: str) -> BrokerError | None:
        """The error of the venue's ``code`` (``text``: the redacted message), from the code
        sets; None when the code is in none of them. Venues add their special cases."""
        placing = action == "place"
        if code in self.clock_codes:
            return AuthenticationError(
                f"{text} (the local clock is off the venue's by more than "
                f"{self.recv_window_name} {self.config.recv_window_ms} ms: sync it, or set "
                "sync_clock)"
            )
        if code in self.auth_codes:
            return AuthenticationError(text)
        if code in self.rate_codes:
            return RateLimitError(text, retry_after_s=self.retry_after_s())
        if code in self.unknown_outcome_codes:
            return RequestTimeoutError(text)
        if code in self.server_codes:
            return RequestTimeoutError(text) if placing else ExchangeUnavailableError(text)
        if code in self.not_found_codes:
            return OrderNotFoundError(text)
        if code in self.funds_codes:
            return InsufficientFundsError(text)
        if code in self.invalid_codes or any(code in r for r in self.invalid_ranges):
            return InvalidOrderError(text)
        return None

    def response_header(self, name: str) -> str | None:
        """The header ``name`` (any case) of the last answer, when it had one."""
        headers = getattr(self.client, "last_response_headers", None) or {}
        wanted = name.lower()
        for key, value in headers.items():
            if key.lower() == wanted:
                return str(value) if value is not None else None
        return None

    def retry_after_s(self) -> float | None:
        """The ``Retry-After`` of the last answer, in seconds, when it had one."""
        value = self.response_header("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    def map_error(self, exc: BaseException, action: str) -> BrokerError:
        """``exc`` as a :class:`~engine.broker.BrokerError` (venue mapping first), redacted."""
        mapped = self.venue_error(exc, action)
        if mapped is not None:
            return mapped
        retry_after = (
            self.retry_after_s() if isinstance(exc, DDoSProtection | RateLimitExceeded) else None
        )
        return map_ccxt_error(
            exc,
            action=action,
            venue=self.config.venue,
            redact=self._credentials.redact,
            retry_after_s=retry_after,
        )
