"""The simulated venue as a :class:`~engine.broker.BrokerConnector`: a paper account.

:class:`PaperBroker` puts a spot account (balances, orders, fills) in front of
:class:`~adapters.paper.venue.SimulatedVenue`, so everything that talks to a
live venue through the connector interface (the operator commands,
:func:`engine.retry.execute_order`, :mod:`engine.reconcile`) can trade on
paper too. Market data reaches the venue as usual: whoever owns the broker
feeds :attr:`PaperBroker.venue` (a ``MarketDataSink``) and advances
:attr:`PaperBroker.clock`, from a recording or a live feed; the venue's
matching rules are :mod:`adapters.paper.venue`'s.

Account rules
-------------
- Spot only: a buy of ``q`` at ``p`` moves ``q`` of the base asset in and
  ``q * p + fee`` of the quote asset out (fees in the quote asset, as the
  simulated venue charges them); a sell the reverse.
- A new order must be covered: a buy by the free quote balance
  (``quantity * limit price``, or for a market order the cost of walking the
  displayed book plus the taker fee), a sell by the free base balance;
  otherwise :class:`~engine.broker.InsufficientFundsError` names the asset,
  what is needed and what is free. Open orders lock what they may spend
  (``Balance.locked``).
- A client order id is unique for the account's lifetime: a second order
  with the same id is refused (:class:`~engine.broker.InvalidOrderError`).
- Fills get trade ids ``P<n>``, listed by :meth:`PaperBroker.get_recent_fills`
  and reported (with the id and the cumulative quantity) to the optional
  :class:`~engine.protocols.ExecutionReportSink`.

Persistence
-----------
With ``account_file`` set, :meth:`PaperBroker.connect` loads the account
(balances, every order, every fill) and puts the resting orders back on the
venue's book, and every change is written back at once (to a temporary file
renamed over the old one), so successive ``ats order`` commands see one
account. Without it the account lives as long as the object.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import msgspec

from adapters.paper.venue import SimulatedVenue
from engine.broker import (
    Balance,
    InsufficientFundsError,
    InvalidOrderError,
    OrderAck,
    OrderNotFoundError,
    VenueFill,
    VenueOrder,
    VenuePosition,
)
from engine.clock import SimulatedClock
from engine.config import PaperConfig
from engine.instruments import InstrumentKind
from engine.market import SymbolMarket
from engine.orders import OPEN_STATUSES, Order, OrderStatus, OrderType, Side, TimeInForce
from engine.protocols import ExecutionReportSink
from kernels.book import ASK, BID

__all__ = ["PaperAccount", "PaperBroker", "PaperOrderRecord"]

#: Price levels walked to cost a market order.
_DEPTH_LEVELS = 256
_QTY_RTOL = 1e-12
_PRICED = frozenset({OrderType.LIMIT, OrderType.POST_ONLY})


class PaperOrderRecord(msgspec.Struct, kw_only=True):
    """One order of the paper account (as kept in the account file).

    ``price`` is the limit price, 0.0 for orders without one (JSON has no NaN).
    """

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: float
    price: float
    status: OrderStatus = OrderStatus.NEW
    filled: float = 0.0
    average_price: float = 0.0
    reason: str = ""
    ts: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def leaves(self) -> float:
        return max(0.0, self.quantity - self.filled)

    def ack(self) -> OrderAck:
        return OrderAck(
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            status=self.status,
            filled_quantity=self.filled,
            average_price=self.average_price,
        )

    def venue_order(self) -> VenueOrder:
        return VenueOrder(
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            status=self.status,
            filled_quantity=self.filled,
            average_price=self.average_price,
            symbol=self.symbol,
            side=self.side,
            quantity=self.quantity,
            price=self.price if self.order_type in _PRICED else math.nan,
        )


class PaperAccount(msgspec.Struct, kw_only=True):
    """The whole paper account: what the account file holds."""

    balances: dict[str, float]
    orders: list[PaperOrderRecord] = msgspec.field(default_factory=list)
    fills: list[VenueFill] = msgspec.field(default_factory=list)
    next_order: int = 1
    next_trade: int = 1
    ts: int = 0


class _NoMarketData:
    """Where the venue forwards market events: nowhere (the broker has no strategy)."""

    def on_trade(self, market: SymbolMarket, ts_recv: int) -> None:
        return None

    def on_book(self, market: SymbolMarket, ts_recv: int) -> None:
        return None

    def on_ticker(self, market: SymbolMarket, ts_recv: int) -> None:
        return None


class PaperBroker:
    """A paper spot account on the simulated venue (see the module docstring).

    Parameters
    ----------
    markets : dict[str, SymbolMarket]
        Market state by unified symbol, fed by the owner (spot instruments only).
    config : PaperConfig
        Fees and latency of the simulated venue.
    initial_balances : dict[str, float]
        Balances of a new account (``{"USDT": 100000.0}``); ignored when the
        account file exists.
    clock : SimulatedClock, optional
        The venue's clock, advanced by the owner with the market data.
    account_file : str or Path, optional
        Where the account is kept between runs (see Persistence).
    reports : ExecutionReportSink, optional
        Receives accepts, rejects, cancels, expiries and fills (with trade ids).
    name : str, default ``"paper"``
        The venue's name in messages.

    Examples
    --------
    >>> broker = PaperBroker(markets, PaperConfig(), {"USDT": 100_000.0})  # doctest: +SKIP
    >>> ack = await broker.place_order(order)  # doctest: +SKIP
    """

    def __init__(
        self,
        markets: dict[str, SymbolMarket],
        config: PaperConfig,
        initial_balances: dict[str, float],
        *,
        clock: SimulatedClock | None = None,
        account_file: str | os.PathLike[str] | None = None,
        reports: ExecutionReportSink | None = None,
        name: str = "paper",
    ) -> None:
        for symbol, market in markets.items():
            if market.instrument.kind is not InstrumentKind.SPOT:
                raise ValueError(
                    f"the paper account trades spot instruments only, {symbol} is "
                    f"{market.instrument.kind}"
                )
        self.name = name
        self.markets = markets
        self.config = config
        self.clock = SimulatedClock() if clock is None else clock
        self.account_file = None if account_file is None else Path(account_file)
        self.account = PaperAccount(balances=dict(initial_balances))
        self._reports = reports
        self._orders: dict[str, PaperOrderRecord] = {}
        self.venue = SimulatedVenue(markets, self, _NoMarketData(), config, self.clock)

    def __repr__(self) -> str:
        return f"PaperBroker(name={self.name!r}, markets={sorted(self.markets)})"

    # -- lifecycle -----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Load the account file (if any) and put its resting orders back on the book."""
        path = self.account_file
        if path is None or not path.is_file():
            return
        try:
            account = msgspec.json.decode(path.read_bytes(), type=PaperAccount)
        except (OSError, msgspec.DecodeError) as exc:
            raise InvalidOrderError(
                f"paper account file {path} cannot be read ({exc}); move it away to start afresh"
            ) from None
        self.account = account
        self._orders = {o.client_order_id: o for o in account.orders}
        self.clock.advance_to(account.ts)
        for record in account.orders:
            if record.is_open and record.order_type in _PRICED:
                # against the same book it rests again; if the book moved, it matches now
                self._submit(record, record.leaves)
        self._save()

    async def close(self) -> None:
        """Write the account file (nothing else to release)."""
        self._save()

    def _save(self) -> None:
        path = self.account_file
        if path is None:
            return
        account = self.account
        account.orders = list(self._orders.values())
        account.ts = self.clock.now_ns()
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(msgspec.json.encode(account))
        os.replace(temporary, path)

    # -- orders ----------------------------------------------------------------------------------

    def _market(self, symbol: str) -> SymbolMarket:
        market = self.markets.get(symbol)
        if market is None:
            known = ", ".join(sorted(self.markets)) or "none"
            raise InvalidOrderError(
                f"unknown symbol {symbol} on venue {self.name} (known: {known})"
            )
        return market

    async def place_order(self, order: Order) -> OrderAck:
        """Check the funds, send ``order`` to the simulated venue and return its state.

        Raises
        ------
        InvalidOrderError
            Unknown symbol, a client order id used before, or the venue
            rejected it (no book, a post-only order that would take...).
        InsufficientFundsError
            The free balance does not cover the order.
        """
        cid = order.client_order_id
        if cid in self._orders:
            raise InvalidOrderError(f"duplicate client order id {cid} on venue {self.name}")
        market = self._market(order.symbol)
        self._check_funds(order, market)
        record = PaperOrderRecord(
            client_order_id=cid,
            venue_order_id=f"P{self.account.next_order}",
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            time_in_force=order.time_in_force,
            quantity=order.quantity,
            price=order.price if order.order_type in _PRICED else 0.0,
            ts=self.clock.now_ns(),
        )
        self.account.next_order += 1
        self._orders[cid] = record
        self._submit(record, order.quantity, order.stop_price)
        self._save()
        if record.status is OrderStatus.REJECTED:
            raise InvalidOrderError(f"order {cid} rejected by venue {self.name}: {record.reason}")
        return record.ack()

    def _submit(self, record: PaperOrderRecord, quantity: float, stop: float = math.nan) -> None:
        """Hand ``quantity`` of the order to the venue and let it arrive (match) at once."""
        market = self._market(record.symbol)
        order = Order(
            client_order_id=record.client_order_id,
            symbol=record.symbol,
            venue=self.name,
            side=record.side,
            order_type=record.order_type,
            quantity=quantity,
            price=record.price if record.order_type in _PRICED else math.nan,
            ts_created=record.ts,
            time_in_force=record.time_in_force,
            stop_price=stop,
        )
        now = self.clock.now_ns()
        self.venue.submit_order(order, now)
        self.clock.advance_to(now + self.venue.latency_ns)
        self.venue.on_ticker(market, self.clock.now_ns())

    def _check_funds(self, order: Order, market: SymbolMarket) -> None:
        instrument = market.instrument
        if order.side is Side.BUY:
            asset = instrument.quote
            if order.order_type in _PRICED:
                needed = order.quantity * order.price
            else:
                needed = _walk_cost(market, order.quantity) * (1.0 + self.venue.taker_fee)
        else:
            asset = instrument.base
            needed = order.quantity
        free = self._free(asset)
        if needed > free * (1 + _QTY_RTOL):
            raise InsufficientFundsError(
                f"insufficient {asset} for order {order.client_order_id}: needs {needed:.8g}, "
                f"free {free:.8g} on venue {self.name}"
            )

    async def cancel_order(self, client_order_id: str) -> OrderAck:
        """Cancel an open order; :class:`OrderNotFoundError` when there is none."""
        record = self._orders.get(client_order_id)
        if record is None or not record.is_open:
            state = "" if record is None else f" (it is {record.status})"
            raise OrderNotFoundError(
                f"no open order with client order id {client_order_id} on venue {self.name}{state}"
            )
        self.venue.cancel_order(client_order_id, self.clock.now_ns())
        if record.is_open:  # not on the venue's book (a pending stop...): cancel it here
            self.on_order_cancelled(client_order_id, "cancelled by client", self.clock.now_ns())
        self._save()
        return record.ack()

    async def get_order(self, client_order_id: str) -> VenueOrder:
        """Return the order's state; :class:`OrderNotFoundError` when the account has none."""
        record = self._orders.get(client_order_id)
        if record is None:
            raise OrderNotFoundError(
                f"no order with client order id {client_order_id} on venue {self.name}"
            )
        return record.venue_order()

    async def get_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        """Return the open orders (of ``symbol``, or all), oldest first."""
        return [
            r.venue_order()
            for r in self._orders.values()
            if r.is_open and (symbol is None or r.symbol == symbol)
        ]

    async def cancel_all(self, symbol: str | None = None) -> list[OrderAck]:
        """Cancel every open order (of ``symbol``, or all)."""
        return [
            await self.cancel_order(o.client_order_id) for o in await self.get_open_orders(symbol)
        ]

    # -- account ---------------------------------------------------------------------------------

    def _locked(self) -> dict[str, float]:
        locked: dict[str, float] = {}
        for record in self._orders.values():
            if not record.is_open or record.order_type not in _PRICED:
                continue
            instrument = self._market(record.symbol).instrument
            if record.side is Side.BUY:
                asset, amount = instrument.quote, record.leaves * record.price
            else:
                asset, amount = instrument.base, record.leaves
            locked[asset] = locked.get(asset, 0.0) + amount
        return locked

    def _free(self, asset: str) -> float:
        return self.account.balances.get(asset, 0.0) - self._locked().get(asset, 0.0)

    async def get_balance(self) -> list[Balance]:
        """Return every asset held: ``free`` to spend, ``locked`` by open orders."""
        locked = self._locked()
        return [
            Balance(asset=asset, free=total - locked.get(asset, 0.0), locked=locked.get(asset, 0.0))
            for asset, total in sorted(self.account.balances.items())
            if total != 0.0 or locked.get(asset, 0.0) != 0.0
        ]

    async def get_positions(self) -> list[VenuePosition]:
        """Return no positions: a spot account's holdings are its balances."""
        return []

    async def get_recent_fills(self, since_ns: int, symbol: str | None = None) -> list[VenueFill]:
        """Return the account's fills since ``since_ns`` (of ``symbol``, or all), oldest first."""
        return [
            f
            for f in self.account.fills
            if f.ts >= since_ns and (symbol is None or f.symbol == symbol)
        ]

    # -- the simulated venue's reports -----------------------------------------------------------

    def on_order_accepted(self, client_order_id: str, ts: int) -> None:
        """Venue report: the order rests or is about to fill."""
        record = self._orders[client_order_id]
        if record.status is OrderStatus.NEW:
            record.status = OrderStatus.ACCEPTED
            if self._reports is not None:
                self._reports.on_order_accepted(client_order_id, ts)

    def on_order_rejected(self, client_order_id: str, reason: str, ts: int) -> None:
        """Venue report: the order was refused."""
        record = self._orders[client_order_id]
        if record.status is not OrderStatus.NEW:  # a restored order the moved book refuses
            self.on_order_cancelled(client_order_id, reason, ts)
            return
        record.status = OrderStatus.REJECTED
        record.reason = reason
        if self._reports is not None:
            self._reports.on_order_rejected(client_order_id, reason, ts)

    def on_order_cancelled(self, client_order_id: str, reason: str, ts: int) -> None:
        """Venue report: the order was cancelled."""
        record = self._orders[client_order_id]
        if not record.is_open:
            return
        record.status = OrderStatus.CANCELLED
        record.reason = reason
        if self._reports is not None:
            self._reports.on_order_cancelled(client_order_id, reason, ts)

    def on_order_expired(self, client_order_id: str, reason: str, ts: int) -> None:
        """Venue report: the unfilled rest of an immediate order ended."""
        record = self._orders[client_order_id]
        if not record.is_open:
            return
        record.status = OrderStatus.EXPIRED
        record.reason = reason
        if self._reports is not None:
            self._reports.on_order_expired(client_order_id, reason, ts)

    def on_fill(
        self,
        client_order_id: str,
        quantity: float,
        price: float,
        fee: float,
        liquidity: str,
        ts: int,
        *,
        trade_id: str = "",
        fee_currency: str = "",
        cumulative_quantity: float | None = None,
    ) -> None:
        """Venue report: book a fill into the order and the balances, under a new trade id."""
        record = self._orders[client_order_id]
        instrument = self._market(record.symbol).instrument
        account = self.account
        total = record.filled + quantity
        # one fill keeps its exact price; several average as the venue does
        record.average_price = (
            price
            if record.filled == 0.0
            else (record.average_price * record.filled + price * quantity) / total
        )
        record.filled = total
        if record.filled >= record.quantity * (1 - _QTY_RTOL):
            record.filled = record.quantity
            record.status = OrderStatus.FILLED
        else:
            record.status = OrderStatus.PARTIALLY_FILLED
        sign = record.side.sign
        balances = account.balances
        balances[instrument.base] = balances.get(instrument.base, 0.0) + sign * quantity
        balances[instrument.quote] = (
            balances.get(instrument.quote, 0.0) - sign * quantity * price - fee
        )
        fill = VenueFill(
            trade_id=f"P{account.next_trade}",
            client_order_id=client_order_id,
            symbol=record.symbol,
            side=record.side,
            quantity=quantity,
            price=price,
            fee=fee,
            fee_currency=instrument.quote,
            liquidity=liquidity,
            ts=ts,
            venue_order_id=record.venue_order_id,
        )
        account.next_trade += 1
        account.fills.append(fill)
        if self._reports is not None:
            self._reports.on_fill(
                client_order_id,
                quantity,
                price,
                fee,
                liquidity,
                ts,
                trade_id=fill.trade_id,
                fee_currency=fill.fee_currency,
                cumulative_quantity=record.filled,
            )


def _walk_cost(market: SymbolMarket, quantity: float) -> float:
    """Quote cost of buying ``quantity`` at the displayed asks (the last level for the rest)."""
    prices, sizes = market.book.depth(ASK, _DEPTH_LEVELS)
    cost = 0.0
    left = quantity
    last = math.nan
    for price, size in zip(prices.tolist(), sizes.tolist(), strict=True):
        take = min(left, size)
        cost += take * price
        left -= take
        last = price
        if left <= 0.0:
            return cost
    if math.isnan(last):
        bid = market.book.depth(BID, 1)[0]
        last = float(bid[0]) if len(bid) else math.nan
    return cost + left * last
