"""A :class:`~engine.broker.BrokerConnector` on ccxt's async clients (the venue-neutral part).

:class:`CcxtBroker` wraps one ``ccxt.async_support`` client, built once by a
venue module (:mod:`adapters.binance.broker`, :mod:`adapters.bybit.broker`)
that also sets the venue's options, URLs, client-order-id fields and error
codes. What it adds to ccxt:

Markets
    Loaded once, at :meth:`CcxtBroker.connect`; each market's tick, step and
    limits are turned into :class:`~adapters.ccxt_markets.MarketRules`
    (``Decimal``) once.

Rounding at the edge (DESIGN.md, :mod:`adapters.ccxt_markets`)
    Prices to the nearest tick, quantities on the lot step, then the market's
    limits: an order outside them is refused locally with an
    :class:`~engine.broker.InvalidOrderError` naming the value and the limit;
    nothing is sent. The order goes to ccxt as exact decimal strings.

Errors (:mod:`adapters.ccxt_errors`)
    Every ccxt exception becomes an :class:`~engine.broker.BrokerError`, the
    venue's own error code mapped first. A request that may have acted at the
    venue (a timeout, a 5xx, a dropped connection while placing) is a
    :class:`~engine.broker.RequestTimeoutError` (outcome unknown), so
    :func:`engine.retry.execute_order` queries the order before any resend.

Secrets (:mod:`adapters.credentials`)
    Keys come from the environment (:meth:`Credentials.from_env`); they are
    never logged (ccxt's own debug log goes through a redacting logger), never
    in an exception message or its chained cause, and never in a ``repr``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
import msgspec
from ccxt.base.decimal_to_precision import DECIMAL_PLACES
from ccxt.base.errors import BaseError

from adapters.ccxt_errors import VenueErrors, map_ccxt_error
from adapters.ccxt_markets import MarketRules, market_rules_of, wire_values
from adapters.credentials import Credentials, RedactingLogger
from engine.broker import (
    Balance,
    BrokerError,
    InvalidOrderError,
    OrderAck,
    OrderNotFoundError,
    VenueFill,
    VenueOrder,
    VenuePosition,
)
from engine.orders import Order, OrderStatus, OrderType, Side

if TYPE_CHECKING:
    from adapters.broker_config import AccountConfig

__all__ = [
    "CcxtBroker",
    "CcxtBrokerConfig",
    "Credentials",
    "MarketRules",
    "map_ccxt_error",
    "point_at",
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
    recv_window_ms : int or None
        The client's ``recvWindow`` option, the validity of a signed request (default
        None: ccxt's).
    """

    venue: str
    symbols: tuple[str, ...] = ()
    timeout_s: float = 10.0
    rate_limit: bool = True
    sync_clock: bool = False
    strict_lot_size: bool = True
    recv_window_ms: int | None = None

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"broker.timeout_s must be > 0, was {self.timeout_s}")

    @classmethod
    def of(cls, venue: str, account: AccountConfig) -> CcxtBrokerConfig:
        """The settings of a venue's account config, under our venue name ``venue``."""
        return cls(
            venue=venue,
            symbols=account.symbols,
            timeout_s=account.timeout_s,
            rate_limit=account.rate_limit,
            sync_clock=account.sync_clock,
            strict_lot_size=account.strict_lot_size,
            recv_window_ms=account.recv_window_ms,
        )


def _status(order: Mapping[str, Any]) -> OrderStatus:
    status = _STATUS.get(order.get("status") or "", OrderStatus.ACCEPTED)
    if status is OrderStatus.ACCEPTED and (order.get("filled") or 0.0) > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def point_at(client: ccxt_async.Exchange, rest_url: str, host: str | None = None) -> None:
    """Replace the host of every ccxt API URL of ``client`` (only those on ``host``, if given)
    by the base URL ``rest_url``, so the same adapter runs against the local emulator."""
    api = client.urls["api"]
    base = rest_url.rstrip("/")
    for name, url in list(api.items()):
        if isinstance(url, str) and (host is None or urlsplit(url).netloc == host):
            api[name] = base + urlsplit(url).path


class CcxtBroker(VenueErrors):
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
        if config.recv_window_ms is not None:
            client.options["recvWindow"] = config.recv_window_ms
        client.logger = RedactingLogger(
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
            decimal_places = self.client.precisionMode == DECIMAL_PLACES
            self.rules = {
                s: market_rules_of(m, decimal_places=decimal_places)
                for s, m in self.client.markets.items()
            }
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
        """The quantity and price strings sent for ``order``, rounded and checked
        (:func:`adapters.ccxt_markets.wire_values`).

        Raises
        ------
        InvalidOrderError
            Off the lot step (``strict_lot_size``), or outside the market's limits;
            the message names the value and the limit.
        """
        return wire_values(
            order, self.market_rules(order.symbol), strict_lot_size=self.config.strict_lot_size
        )

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

        A venue whose answer names the order only (no status) has it ``CANCELLED``,
        with the filled quantity read back by :meth:`get_order`.

        Raises
        ------
        OrderNotFoundError
            The venue has no open order with this id on any symbol this broker knows.
        """
        cancelled = await self._on_symbols(
            client_order_id,
            "cancel",
            lambda symbol: self.client.cancel_order(
                None, symbol, {self.query_client_id_param: client_order_id}
            ),
        )
        if cancelled.get("status") is not None:
            return self._ack(cancelled, client_order_id)
        # an answer with the ids only (Bybit): the cancel stood; what had filled is read back
        # (0 if that query fails)
        filled, average = 0.0, 0.0
        try:
            now = await self.get_order(client_order_id)
        except BrokerError:
            now = None
        if now is not None:
            filled, average = now.filled_quantity, now.average_price
        return OrderAck(
            client_order_id=client_order_id,
            venue_order_id=str(cancelled.get("id") or ""),
            status=OrderStatus.CANCELLED,
            filled_quantity=filled,
            average_price=average,
        )

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
            lambda symbol: self.fetch_order(symbol, client_order_id=client_order_id),
        )
        return self._venue_order(found)

    async def get_order_by_id(self, symbol: str, venue_order_id: str) -> VenueOrder:
        """The order with the venue's id ``venue_order_id`` on ``symbol``."""
        found = await self._call("query", self.fetch_order(symbol, venue_order_id=venue_order_id))
        return self._venue_order(found)

    async def fetch_order(
        self,
        symbol: str,
        *,
        venue_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> dict[str, Any]:
        """ccxt's order on ``symbol`` by one of its ids (venues that look orders up otherwise
        override this)."""
        params = {} if client_order_id is None else {self.query_client_id_param: client_order_id}
        order: dict[str, Any] = await self.client.fetch_order(venue_order_id, symbol, params)
        return order

    async def get_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        """Open orders of ``symbol``, or of every symbol."""
        orders = await self._call("open orders", self.client.fetch_open_orders(symbol))
        return [self._venue_order(o) for o in orders]

    async def cancel_all(self, symbol: str | None = None) -> list[OrderAck]:
        """Cancel every open order (of ``symbol``, or all) and return those that ended cancelled.

        Venues that do not list what they cancelled (Binance USD-M) are asked for
        each order that was open before; an order listed without a status (Bybit
        lists the ids only) is ``CANCELLED`` with what it had filled when it was
        listed open.
        """
        before = await self.get_open_orders(symbol)
        known = {o.venue_order_id: o for o in before}
        symbols = sorted({o.symbol for o in before})  # venues refuse a cancel-all of nothing
        acks: list[OrderAck] = []
        for sym in symbols:
            result = await self._call("cancel all", self.client.cancel_all_orders(sym))
            listed = [o for o in result if o.get("id")]
            if listed:
                acks.extend(self._cancelled_ack(o, known) for o in listed)
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
        """Every non-zero position (of the configured symbols, when any are; none on a spot
        account: its holdings are balances)."""
        if not self.derivatives:
            return []
        wanted = self.config.symbols
        # one symbol is asked for; several are filtered here (Bybit takes at most one)
        asked = list(wanted) if len(wanted) == 1 else None
        positions = await self._call("positions", self.client.fetch_positions(asked))
        out = []
        for p in positions:
            contracts = float(p.get("contracts") or 0.0)
            if not contracts or (len(wanted) > 1 and p["symbol"] not in wanted):
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
        out: list[VenueFill] = []
        for sym in self.fill_symbols(symbol):
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

    def fill_symbols(self, symbol: str | None) -> list[str]:
        """``[symbol]``, or every symbol this broker knows (configured, or ordered on)."""
        if symbol is not None:
            return [symbol]
        return sorted(set(self.config.symbols) | set(self._symbol_of.values()))

    async def _call(self, action: str, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except BrokerError:
            raise
        except (BaseError, OSError, TimeoutError) as exc:
            # the venue's answer, in ccxt's exception, may echo the key (Bybit's 10004 does):
            # redact it in place, since that exception becomes our error's __cause__
            redact = self._credentials.redact
            exc.args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)
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

    def _cancelled_ack(self, item: Mapping[str, Any], known: Mapping[str, VenueOrder]) -> OrderAck:
        if item.get("status") is not None:
            return self._ack(item)
        venue_order_id = str(item.get("id") or "")
        order = known.get(venue_order_id)
        return OrderAck(
            client_order_id=self.client_order_id_of(item)
            or (order.client_order_id if order is not None else ""),
            venue_order_id=venue_order_id,
            status=OrderStatus.CANCELLED,
            filled_quantity=order.filled_quantity if order is not None else 0.0,
            average_price=order.average_price if order is not None else 0.0,
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
