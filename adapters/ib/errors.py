"""IB message codes mapped onto the engine's broker errors, and the adapter's own errors.

TWS reports errors, warnings and notices alike through ``EWrapper.error``
(ib_insync's ``errorEvent(reqId, errorCode, errorString, contract)``); the
code alone says which is which. The tables below follow IB's "Message Codes"
page (https://interactivebrokers.github.io/tws-api/message_codes.html):

=====================================  ==========================================
codes                                  engine error
=====================================  ==========================================
100 (max message rate exceeded)        :class:`~engine.broker.RateLimitError`
502, 504, 507, 509, 1300, 10182        :class:`~engine.broker.NetworkError`
(cannot connect, not connected, socket
errors, port reset, live updates lost)
1100, 2110 (TWS lost IB's servers)     :class:`~engine.broker.ExchangeUnavailableError`
135, 161, 10147, 10148, 10149          :class:`~engine.broker.OrderNotFoundError`
(no such order / not cancellable)
326 (client id already in use)         :class:`IbClientIdInUseError` (final)
201 / 203 / 110 / 200 ... whose text   :class:`~engine.broker.InsufficientFundsError`
speaks of margin, equity or funds
103-134, 200, 201, 203, 321, 322, 388,  :class:`~engine.broker.InvalidOrderError`
434, 460, and any unknown code of an
order
=====================================  ==========================================

Notices (1101/1102 connectivity restored, 202 order cancelled, 399 order
message, 2100-2199 farm status except 2110, 10167 delayed data...) map to no
error: :func:`is_notice` tells them apart. An unknown code is never retried.
"""

from __future__ import annotations

import re

from engine.broker import (
    AuthenticationError,
    BrokerError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    NetworkError,
    OrderNotFoundError,
    RateLimitError,
)

__all__ = [
    "CONNECTION_LOST_CODES",
    "CONNECTION_RESTORED_CODES",
    "NETWORK_CODES",
    "NOTICE_CODES",
    "ORDER_NOT_FOUND_CODES",
    "ORDER_REJECT_CODES",
    "ContractMappingError",
    "IbClientIdInUseError",
    "IbConfigurationError",
    "IbReadOnlyError",
    "error_for_code",
    "is_notice",
]

#: Max rate of messages per second exceeded.
RATE_LIMIT_CODES = frozenset({100})
#: The API connection to TWS itself is down or failing.
NETWORK_CODES = frozenset({502, 504, 507, 509, 1300, 10182})
#: TWS is up but lost its connection to IB's servers; nothing reaches an exchange.
CONNECTION_LOST_CODES = frozenset({1100, 2110})
#: TWS got its connection to IB's servers back (1101: data lost, 1102: data kept).
CONNECTION_RESTORED_CODES = frozenset({1101, 1102})
#: The order to cancel does not exist or can no longer be cancelled.
ORDER_NOT_FOUND_CODES = frozenset({135, 161, 10147, 10148, 10149})
#: The client id is taken by another API session.
CLIENT_ID_IN_USE_CODES = frozenset({326})
#: Codes that refuse an order (price, size, type, contract, permissions...).
ORDER_REJECT_CODES = frozenset(
    {103, 104, 105, 106, 107, 109, 110, 111, 113, 116, 133, 134}
    | {200, 201, 203, 321, 322, 388, 434, 460}
)
#: Notices and warnings: nothing failed.
NOTICE_CODES = frozenset({202, 399, 404, 492, 2100, 2101, 2102, 10167}) | CONNECTION_RESTORED_CODES

_FUNDS = re.compile(
    r"insufficient|margin|equity with loan|buying power|available funds|cash available",
    re.IGNORECASE,
)


class IbClientIdInUseError(AuthenticationError):
    """TWS refused the session: another API client uses the same ``client_id`` (code 326).

    Final: retrying with the same id fails the same way; set another
    ``venues.ib.client_id`` or stop the other client.
    """


class IbConfigurationError(BrokerError):
    """The connection cannot work as configured (no account chosen among several...)."""


class IbReadOnlyError(InvalidOrderError):
    """An order or cancel on a read-only connection (``venues.ib.read_only = true``)."""


class ContractMappingError(InvalidOrderError, ValueError):
    """An instrument that cannot be turned into an IB contract; the message says what is missing."""


def is_notice(code: int) -> bool:
    """Return True when ``code`` is a notice or warning, not a failure.

    Examples
    --------
    >>> is_notice(2104), is_notice(2110), is_notice(201)
    (True, False, False)
    """
    if code in NOTICE_CODES:
        return True
    return 2100 <= code < 2200 and code not in CONNECTION_LOST_CODES


def error_for_code(code: int, message: str, *, order: bool = False) -> BrokerError | None:
    """Return the engine error for IB message ``code``, or None for a notice.

    Parameters
    ----------
    code : int
        IB's ``errorCode``.
    message : str
        IB's ``errorString``, already cleaned of anything sensitive; it ends
        up in the error's message.
    order : bool
        True when the message is about one of our orders: an unknown code is
        then an :class:`~engine.broker.InvalidOrderError` (final), otherwise a
        plain :class:`~engine.broker.BrokerError` (also final).

    Examples
    --------
    >>> type(error_for_code(1100, "Connectivity between IB and TWS has been lost")).__name__
    'ExchangeUnavailableError'
    >>> err = error_for_code(201, "Order rejected - reason: insufficient margin", order=True)
    >>> type(err).__name__, str(err)
    ('InsufficientFundsError', 'IB error 201: Order rejected - reason: insufficient margin')
    >>> error_for_code(2104, "Market data farm connection is OK:usfarm") is None
    True
    """
    if is_notice(code):
        return None
    text = f"IB error {code}: {message}"
    if code in RATE_LIMIT_CODES:
        return RateLimitError(text)
    if code in NETWORK_CODES:
        return NetworkError(text)
    if code in CONNECTION_LOST_CODES:
        return ExchangeUnavailableError(text)
    if code in ORDER_NOT_FOUND_CODES:
        return OrderNotFoundError(text)
    if code in CLIENT_ID_IN_USE_CODES:
        return IbClientIdInUseError(text)
    if code in ORDER_REJECT_CODES or order:
        if _FUNDS.search(message) is not None:
            return InsufficientFundsError(text)
        return InvalidOrderError(text)
    return BrokerError(text)
