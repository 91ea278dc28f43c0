"""A :class:`~engine.broker.BrokerConnector` on ccxt's async clients (the venue-neutral part).

:class:`CcxtBroker` wraps one ``ccxt.async_support`` client, built once by a
venue module (:mod:`adapters.binance.broker`; Bybit's later) that also sets
the venue's options, URLs and client-order-id fields. What it adds to ccxt:

Markets
    Loaded once, at :meth:`CcxtBroker.connect`; each market's tick, step and
    limits are turned into :class:`MarketRules` (``Decimal``) once.

Rounding at the edge (DESIGN.md)
    Prices go to the nearest tick (ties to even); quantities must be on the lot
    step: float noise is absorbed (``0.30000000000000004`` is ``0.3``), a
    quantity really off the step is refused (``strict_lot_size``, the default)
    or rounded down. Then the market's limits: a quantity below the minimum
    (or rounded to 0), above the maximum, a price outside the price limits, or
    a limit order below the minimum notional is refused locally with an
    :class:`~engine.broker.InvalidOrderError` naming the value and the limit
    (``"qty 0.0004 below min qty 0.001 for BTC/USDT"``); nothing is sent. The
    order goes to ccxt as exact decimal strings.

Errors
    Every ccxt exception becomes an :class:`~engine.broker.BrokerError`
    (:func:`map_ccxt_error`): network errors and timeouts, rate limits (with
    the ``Retry-After`` the venue sent), the venue being down, insufficient
    funds, invalid orders, authentication, unknown orders. A request that
    reached the venue and may have acted on it (a timeout, a 5xx, a dropped
    connection while placing) is a :class:`~engine.broker.RequestTimeoutError`
    (outcome unknown), so :func:`engine.retry.execute_order` queries the
    order before any resend. A venue module may map its own error codes first
    (:meth:`CcxtBroker.venue_error`).

Secrets
    Keys come from the environment (:meth:`Credentials.from_env`); they are
    never logged (ccxt's own debug log goes through a redacting logger), never
    in an exception message, and never in a ``repr``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

import ccxt.async_support as ccxt_async
import msgspec
from ccxt.base.decimal_to_precision import DECIMAL_PLACES
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

from engine.broker import (
    AuthenticationError,
    Balance,
    BrokerError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    NetworkError,
    OrderAck,
    OrderNotFoundError,
    RateLimitError,
    RequestTimeoutError,
    VenueFill,
    VenueOrder,
    VenuePosition,
)
from engine.orders import Order, OrderStatus, OrderType, Side

__all__ = [
    "CcxtBroker",
    "CcxtBrokerConfig",
    "Credentials",
    "MarketRules",
    "map_ccxt_error",
]

_log = logging.getLogger("ats.adapters.ccxt")

T = TypeVar("T")

#: ccxt's unified order status → ours (``open`` splits on the filled quantity).
_STATUS: dict[str, OrderStatus] = {
    "open": OrderStatus.ACCEPTED,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}
_HTTP_STATUS_RE = re.compile(r"\b(5\d\d)\b")
#: Steps a quantity may be off the lot grid and still count as float noise, plus per step.
_GRID_TOLERANCE = Decimal("1e-9")
_GRID_RELATIVE = Decimal("1e-12")


class Credentials:
    """An API key and secret, read from the environment and never shown.

    ``repr``/``str`` name the variables, not the values; :meth:`redact` blanks
    both values out of any text. Not picklable.

    Examples
    --------
    >>> c = Credentials.from_env("K", "S", env={"K": "key-123", "S": "secret-456"})
    >>> c
    Credentials(K=***, S=***)
    >>> c.redact("sent key-123 signed with secret-456")
    'sent *** signed with ***'
    """

    __slots__ = ("_api_key", "_secret", "key_variable", "secret_variable")

    def __init__(
        self,
        api_key: str,
        secret: str,
        *,
        key_variable: str = "api_key",
        secret_variable: str = "secret",
    ) -> None:
        self._api_key = api_key
        self._secret = secret
        self.key_variable = key_variable
        self.secret_variable = secret_variable

    @classmethod
    def from_env(
        cls, key_variable: str, secret_variable: str, env: Mapping[str, str] | None = None
    ) -> Credentials:
        """Read the pair from ``env`` (default ``os.environ``).

        Raises
        ------
        AuthenticationError
            A variable is unset or empty (the message names it, never a value).
        """
        env = os.environ if env is None else env
        missing = [v for v in (key_variable, secret_variable) if not env.get(v)]
        if missing:
            raise AuthenticationError(
                f"credentials missing: set {' and '.join(missing)} in the environment"
            )
        return cls(
            env[key_variable],
            env[secret_variable],
            key_variable=key_variable,
            secret_variable=secret_variable,
        )

    @property
    def api_key(self) -> str:
        """The API key (send it; never log it)."""
        return self._api_key

    @property
    def secret(self) -> str:
        """The secret (sign with it; never log it)."""
        return self._secret

    def redact(self, text: str) -> str:
        """``text`` with the key and the secret replaced by ``***``."""
        for value in (self._secret, self._api_key):
            if value and value in text:
                text = text.replace(value, "***")
        return text

    def __repr__(self) -> str:
        return f"Credentials({self.key_variable}=***, {self.secret_variable}=***)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Credentials cannot be pickled")


class _RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """ccxt's ``self.logger``: formats the record first, then blanks the credentials out."""

    def __init__(self, logger: logging.Logger, credentials: Credentials) -> None:
        super().__init__(logger, {})
        self._credentials = credentials

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            kwargs.pop("extra", None)
            self.logger.log(level, self._credentials.redact(text), **kwargs)


class CcxtBrokerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Settings of one :class:`CcxtBroker`.

    Keys
    ----
    venue : str
        Our venue name (``binance``, ``binance_usdm``), in messages.
    symbols : tuple[str, ...]
        Unified symbols traded (``BTC/USDT``); where an order unknown to this
        session is looked for, and what ``cancel_all()`` covers. Default: none.
    timeout_s : float
        Per-request timeout (default 10.0).
    rate_limit : bool
        ccxt's client-side request throttle (default True).
    sync_clock : bool
        Measure the venue's clock at connect and sign with it (default False).
    strict_lot_size : bool
        Refuse a quantity off the lot step (default True) instead of rounding it down.
    """

    venue: str
    symbols: tuple[str, ...] = ()
    timeout_s: float = 10.0
    rate_limit: bool = True
    sync_clock: bool = False
    strict_lot_size: bool = True

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"broker.timeout_s must be > 0, was {self.timeout_s}")


class MarketRules(msgspec.Struct, frozen=True, kw_only=True):
    """A market's precision and limits, as ``Decimal`` (``None``: no such limit)."""

    symbol: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal | None = None
    max_qty: Decimal | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    min_notional: Decimal | None = None
    contract: bool = False


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def _status(order: Mapping[str, Any]) -> OrderStatus:
    status = _STATUS.get(order.get("status") or "", OrderStatus.ACCEPTED)
    if status is OrderStatus.ACCEPTED and (order.get("filled") or 0.0) > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


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


class CcxtBroker:
    """A :class:`~engine.broker.BrokerConnector` over one ccxt async client; see the module.

    Parameters
    ----------
    client :
        The ccxt client, configured by the venue module (options, URLs); its
        credentials, timeout, throttle and logger are set here. Closed by
        :meth:`close`.
    config :
        See :class:`CcxtBrokerConfig`.
    credentials :
        The key pair (from :meth:`Credentials.from_env`).
    derivatives :
        The client trades contracts (positions come from the venue).

    Examples
    --------
    >>> async with BinanceBroker(config) as broker:  # doctest: +SKIP
    ...     ack = await broker.place_order(order)
    """

    #: The venue's field for our client order id on a new order, and on a query/cancel.
    place_client_id_param: ClassVar[str] = "clientOrderId"
    query_client_id_param: ClassVar[str] = "clientOrderId"

    def __init__(
        self,
        client: ccxt_async.Exchange,
        config: CcxtBrokerConfig,
        credentials: Credentials,
        *,
        derivatives: bool = False,
    ) -> None:
        self.config = config
        self.derivatives = derivatives
        self._credentials = credentials
        client.apiKey = credentials.api_key
        client.secret = credentials.secret
        client.timeout = int(config.timeout_s * 1000)
        client.enableRateLimit = config.rate_limit
        client.logger = _RedactingLogger(
            logging.getLogger(f"ats.adapters.ccxt.{client.id}"), credentials
        )
        self.client = client
        self.rules: dict[str, MarketRules] = {}
        self._symbol_of: dict[str, str] = {}
        #: (symbol, venue order id) → client order id, from every order seen.
        self._client_id_of: dict[tuple[str, str], str] = {}
        self._connected = False

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(venue={self.config.venue!r}, exchange={self.client.id!r}, "
            f"markets={len(self.rules)}, connected={self._connected})"
        )

    # -- lifecycle -----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Load the markets (once) and, with ``sync_clock``, measure the venue's clock."""
        if not self._connected:
            await self._call("load markets", self.client.load_markets())
            self.rules = {s: self._rules_of(m) for s, m in self.client.markets.items()}
            unknown = [s for s in self.config.symbols if s not in self.rules]
            if unknown:
                raise InvalidOrderError(
                    f"{self.config.venue}: symbols {', '.join(unknown)} not listed by the venue"
                )
            self._connected = True
        if self.config.sync_clock:
            await self._call("sync clock", self.client.load_time_difference())

    async def close(self) -> None:
        """Close the client's HTTP session."""
        await self.client.close()

    async def __aenter__(self) -> Self:
        try:
            await self.connect()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- rounding ------------------------------------------------------------------------------

    def _rules_of(self, market: Mapping[str, Any]) -> MarketRules:
        precision = market.get("precision") or {}
        limits = market.get("limits") or {}

        def step(value: Any) -> Decimal:
            if value is None:
                return Decimal(0)
            if self.client.precisionMode == DECIMAL_PLACES:  # a count of decimals
                return Decimal(1).scaleb(-int(value))
            return _decimal(value) or Decimal(0)  # TICK_SIZE: the step itself

        def bound(group: str, side: str) -> Decimal | None:
            value = _decimal((limits.get(group) or {}).get(side))
            return value if value is not None and value > 0 else None

        return MarketRules(
            symbol=market["symbol"],
            tick_size=step(precision.get("price")),
            step_size=step(precision.get("amount")),
            min_qty=bound("amount", "min"),
            max_qty=bound("amount", "max"),
            min_price=bound("price", "min"),
            max_price=bound("price", "max"),
            min_notional=bound("cost", "min"),
            contract=bool(market.get("contract")),
        )

    def market_rules(self, symbol: str) -> MarketRules:
        """The rules of ``symbol`` (after :meth:`connect`).

        Raises
        ------
        InvalidOrderError
            The venue does not list ``symbol``.
        """
        rules = self.rules.get(symbol)
        if rules is None:
            raise InvalidOrderError(f"{self.config.venue}: unknown symbol {symbol}")
        return rules

    def wire_values(self, order: Order) -> tuple[str, str | None]:
        """The quantity and price strings sent for ``order``, rounded and checked.

        Raises
        ------
        InvalidOrderError
            Off the lot step (``strict_lot_size``), or outside the market's limits;
            the message names the value and the limit.
        """
        rules = self.market_rules(order.symbol)
        symbol = order.symbol
        qty = _decimal(order.quantity)
        assert qty is not None
        step = rules.step_size
        if step > 0:
            steps = qty / step
            whole = steps.to_integral_value(ROUND_HALF_EVEN)
            if abs(steps - whole) <= _GRID_TOLERANCE + abs(whole) * _GRID_RELATIVE:
                qty = whole * step
            elif rules.min_qty is not None and qty < rules.min_qty:
                pass  # refused below, naming the minimum
            elif self.config.strict_lot_size:
                raise InvalidOrderError(
                    f"qty {qty} not a multiple of lot size {_show(step)} for {symbol}"
                )
            else:
                qty = steps.to_integral_value(ROUND_DOWN) * step
            qty = qty.quantize(step)
        if qty <= 0 or (rules.min_qty is not None and qty < rules.min_qty):
            floor = rules.min_qty if rules.min_qty is not None else step
            raise InvalidOrderError(
                f"qty {order.quantity!r} below min qty {_show(floor)} for {symbol}"
            )
        if rules.max_qty is not None and qty > rules.max_qty:
            raise InvalidOrderError(
                f"qty {_show(qty)} above max qty {_show(rules.max_qty)} for {symbol}"
            )
        if math.isnan(order.price):
            return _plain(qty), None
        price = _decimal(order.price)
        assert price is not None
        tick = rules.tick_size
        if tick > 0:
            price = ((price / tick).to_integral_value(ROUND_HALF_EVEN) * tick).quantize(tick)
        if price <= 0 or (rules.min_price is not None and price < rules.min_price):
            floor = rules.min_price if rules.min_price is not None else tick
            raise InvalidOrderError(
                f"price {order.price!r} below min price {_show(floor)} for {symbol}"
            )
        if rules.max_price is not None and price > rules.max_price:
            raise InvalidOrderError(
                f"price {_show(price)} above max price {_show(rules.max_price)} for {symbol}"
            )
        notional = price * qty
        if rules.min_notional is not None and notional < rules.min_notional:
            raise InvalidOrderError(
                f"notional {_show(notional)} (qty {_show(qty)} x price "
                f"{_show(price)}) below min notional {_show(rules.min_notional)} "
                f"for {symbol}"
            )
        return _plain(qty), _plain(price)

    # -- the connector -------------------------------------------------------------------------

    def order_params(self, order: Order) -> tuple[str, dict[str, Any]]:
        """ccxt's order type and params for ``order`` (venues add their fields)."""
        params: dict[str, Any] = {self.place_client_id_param: order.client_order_id}
        kind = order.order_type
        if kind is OrderType.MARKET:
            ccxt_type = "market"
        elif kind is OrderType.LIMIT:
            ccxt_type = "limit"
            params["timeInForce"] = str(order.time_in_force)
        elif kind is OrderType.POST_ONLY:
            ccxt_type = "limit"
            params["postOnly"] = True
        else:
            raise InvalidOrderError(
                f"order {order.client_order_id}: {kind} is not sent to {self.config.venue} "
                "(stops are triggered by the engine)"
            )
        if order.reduce_only:
            if not self.market_rules(order.symbol).contract:
                raise InvalidOrderError(
                    f"order {order.client_order_id}: reduce_only on {order.symbol}, which is "
                    "not a contract market"
                )
            params["reduceOnly"] = True
        return ccxt_type, params

    async def place_order(self, order: Order) -> OrderAck:
        """Round, check and send ``order`` with its client order id; return the venue's ack."""
        qty, price = self.wire_values(order)
        ccxt_type, params = self.order_params(order)
        self._symbol_of[order.client_order_id] = order.symbol
        placed = await self._call(
            "place",
            self.client.create_order(
                order.symbol, ccxt_type, order.side.value.lower(), qty, price, params
            ),
        )
        return self._ack(placed, order.client_order_id)

    async def cancel_order(self, client_order_id: str) -> OrderAck:
        """Cancel the open order ``client_order_id``.

        Raises
        ------
        OrderNotFoundError
            The venue has no open order with this id on any symbol this broker knows.
        """
        cancelled = await self._on_symbols(
            client_order_id,
            "cancel",
            lambda symbol: self.client.cancel_order(
                "", symbol, {self.query_client_id_param: client_order_id}
            ),
        )
        return self._ack(cancelled, client_order_id)

    async def get_order(self, client_order_id: str) -> VenueOrder:
        """The order's state now.

        Raises
        ------
        OrderNotFoundError
            The venue does not know the id on any symbol this broker knows.
        """
        found = await self._on_symbols(
            client_order_id,
            "query",
            lambda symbol: self.client.fetch_order(
                "", symbol, {self.query_client_id_param: client_order_id}
            ),
        )
        return self._venue_order(found)

    async def get_order_by_id(self, symbol: str, venue_order_id: str) -> VenueOrder:
        """The order with the venue's id ``venue_order_id`` on ``symbol``."""
        found = await self._call("query", self.client.fetch_order(venue_order_id, symbol))
        return self._venue_order(found)

    async def get_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        """Open orders of ``symbol``, or of every symbol."""
        orders = await self._call("open orders", self.client.fetch_open_orders(symbol))
        return [self._venue_order(o) for o in orders]

    async def cancel_all(self, symbol: str | None = None) -> list[OrderAck]:
        """Cancel every open order (of ``symbol``, or all) and return those that ended cancelled.

        Venues that do not list what they cancelled (Binance USD-M) are asked for
        each order that was open before.
        """
        before = await self.get_open_orders(symbol)
        symbols = sorted({o.symbol for o in before})  # venues refuse a cancel-all of nothing
        acks: list[OrderAck] = []
        for sym in symbols:
            result = await self._call("cancel all", self.client.cancel_all_orders(sym))
            listed = [o for o in result if o.get("id")]
            if listed:
                acks.extend(self._ack(o) for o in listed)
                continue
            for order in before:
                if order.symbol == sym:
                    try:
                        now = await self.get_order(order.client_order_id)
                    except OrderNotFoundError:
                        continue
                    acks.append(now)
        return [a for a in acks if a.status is OrderStatus.CANCELLED]

    async def get_balance(self) -> list[Balance]:
        """Every asset with a non-zero balance."""
        balances = await self._call("balance", self.client.fetch_balance())
        free, used = balances.get("free") or {}, balances.get("used") or {}
        out = []
        for asset, total in (balances.get("total") or {}).items():
            f, u = float(free.get(asset) or 0.0), float(used.get(asset) or 0.0)
            if total or f or u:
                out.append(Balance(asset=asset, free=f, locked=u))
        return out

    async def get_positions(self) -> list[VenuePosition]:
        """Every non-zero position (none on a spot account: its holdings are balances)."""
        if not self.derivatives:
            return []
        symbols = list(self.config.symbols) or None
        positions = await self._call("positions", self.client.fetch_positions(symbols))
        out = []
        for p in positions:
            contracts = float(p.get("contracts") or 0.0)
            if not contracts:
                continue
            size = float(p.get("contractSize") or 1.0)
            sign = -1.0 if p.get("side") == "short" else 1.0
            out.append(
                VenuePosition(
                    symbol=p["symbol"],
                    quantity=sign * contracts * size,
                    average_price=float(p.get("entryPrice") or 0.0),
                )
            )
        return out

    async def get_recent_fills(self, since_ns: int, symbol: str | None = None) -> list[VenueFill]:
        """Our fills since ``since_ns`` (of ``symbol``, else of every symbol this broker knows).

        Implements :class:`engine.broker.FillHistory`. Each fill carries our client
        order id: from the orders seen in this session, else asked of the venue by
        its order id (once per order).
        """
        symbols = (
            [symbol]
            if symbol is not None
            else sorted(set(self.config.symbols) | set(self._symbol_of.values()))
        )
        out: list[VenueFill] = []
        for sym in symbols:
            trades = await self._call(
                "fills", self.client.fetch_my_trades(sym, since_ns // 1_000_000)
            )
            for t in trades:
                venue_order_id = str(t.get("order") or "")
                cid = self._client_id_of.get((sym, venue_order_id))
                if cid is None and venue_order_id:
                    cid = (await self.get_order_by_id(sym, venue_order_id)).client_order_id
                fee = t.get("fee") or {}
                out.append(
                    VenueFill(
                        trade_id=str(t["id"]),
                        client_order_id=cid or "",
                        symbol=sym,
                        side=Side.BUY if t.get("side") == "buy" else Side.SELL,
                        quantity=float(t.get("amount") or 0.0),
                        price=float(t.get("price") or 0.0),
                        fee=float(fee.get("cost") or 0.0),
                        fee_currency=str(fee.get("currency") or ""),
                        liquidity=str(t.get("takerOrMaker") or ""),
                        ts=int(t.get("timestamp") or 0) * 1_000_000,
                        venue_order_id=venue_order_id,
                    )
                )
        out.sort(key=lambda f: (f.ts, f.trade_id))
        return out

    # -- helpers -------------------------------------------------------------------------------

    def venue_error(self, exc: BaseException, action: str) -> BrokerError | None:
        """A venue module's own mapping of ``exc`` (by its error code), or None for the default."""
        return None

    def retry_after_s(self) -> float | None:
        """The ``Retry-After`` of the last answer, in seconds, when it had one."""
        headers = getattr(self.client, "last_response_headers", None) or {}
        for name, value in headers.items():
            if name.lower() == "retry-after":
                try:
                    return float(value)
                except (TypeError, ValueError):
                    return None
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

    async def _call(self, action: str, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except BrokerError:
            raise
        except (BaseError, OSError, TimeoutError) as exc:
            error = self.map_error(exc, action)
            _log.warning(
                "venue request failed",
                extra={
                    "fields": {
                        "venue": self.config.venue,
                        "action": action,
                        "error": type(error).__name__,
                    }
                },
            )
            raise error from exc

    async def _on_symbols(
        self, client_order_id: str, action: str, request: Callable[[str], Awaitable[Any]]
    ) -> Any:
        known = self._symbol_of.get(client_order_id)
        symbols = [known] if known is not None else list(self.config.symbols)
        if not symbols:
            raise OrderNotFoundError(
                f"{self.config.venue} {action}: order {client_order_id} was not placed in this "
                "session and no symbols are configured to look for it"
            )
        last: OrderNotFoundError | None = None
        for symbol in symbols:
            try:
                result = await self._call(action, request(symbol))
            except OrderNotFoundError as exc:
                last = exc
                continue
            self._symbol_of[client_order_id] = symbol
            return result
        assert last is not None
        raise last

    def client_order_id_of(self, order: Mapping[str, Any]) -> str:
        """Our client order id in a ccxt order (venues whose cancel answers carry another id
        override this)."""
        return str(order.get("clientOrderId") or "")

    def _remember(self, order: Mapping[str, Any], client_order_id: str) -> None:
        symbol, venue_order_id = order.get("symbol"), order.get("id")
        if symbol and venue_order_id and client_order_id:
            self._client_id_of[(symbol, str(venue_order_id))] = client_order_id

    def _ack(self, order: Mapping[str, Any], client_order_id: str = "") -> OrderAck:
        client_order_id = client_order_id or self.client_order_id_of(order)
        self._remember(order, client_order_id)
        return OrderAck(
            client_order_id=client_order_id,
            venue_order_id=str(order.get("id") or ""),
            status=_status(order),
            filled_quantity=float(order.get("filled") or 0.0),
            average_price=float(order.get("average") or 0.0),
        )

    def _venue_order(self, order: Mapping[str, Any]) -> VenueOrder:
        price = order.get("price")
        client_order_id = self.client_order_id_of(order)
        self._remember(order, client_order_id)
        return VenueOrder(
            client_order_id=client_order_id,
            venue_order_id=str(order.get("id") or ""),
            status=_status(order),
            filled_quantity=float(order.get("filled") or 0.0),
            average_price=float(order.get("average") or 0.0),
            symbol=order["symbol"],
            side=Side.BUY if order.get("side") == "buy" else Side.SELL,
            quantity=float(order.get("amount") or 0.0),
            price=float(price) if price and order.get("type") != "market" else math.nan,
        )


def _plain(value: Decimal) -> str:
    """A decimal as a plain string, never in exponent form (``1E-5`` → ``0.00001``)."""
    return format(value, "f")


def _show(value: Decimal) -> str:
    """A decimal for a message: plain, without trailing zeros (``6E+4`` → ``60000``)."""
    return format(value.normalize(), "f")
