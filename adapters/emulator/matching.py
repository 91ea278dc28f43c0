"""A venue-neutral matching engine and trading account for the exchange emulators.

A venue layer (:mod:`adapters.emulator.binance_trading`,
:mod:`adapters.emulator.bybit_trading`) parses a request into an
:class:`OrderRequest`, calls :class:`MatchingEngine`, and
formats the :class:`SimOrder`/:class:`Fill` it gets back and the events it is
sent (:class:`ExecutionEvent`, :class:`AccountChanged`) in its own wire format.
Everything here is :class:`~decimal.Decimal`: the emulator must be exact, not
fast, and its answers are the oracle the adapters are tested against.

Filters
    An order is checked like a venue checks it, before anything happens:
    price on the tick and inside ``[min_price, max_price]``, quantity on the
    step and inside ``[min_qty, max_qty]`` (``MARKET`` orders against the
    market lot when the market has one), no more decimals than the market
    allows, notional ``price * quantity >= min_notional`` (a ``MARKET`` order
    is valued at the best opposite price), a client order id not in use, and
    funds: a spot account must hold what the order spends (a resting order
    locks it), a linear (USD-M style) account must have the initial margin
    ``notional / leverage`` available. A refusal raises :class:`OrderRejectedError`
    with a :class:`RejectReason`, the value and the bound.

Liquidity
    A marketable order takes liquidity from the emulator's replayed book (the
    one the venue serves on REST at the current replay position), level by
    level, as a taker, at each level's price. What orders took is remembered
    per price level until the book's update id changes, so two orders in a row
    do not take the same liquidity twice. A ``GTC`` limit order that is not
    filled at once rests, and fills as maker at its own price when the replay
    crosses it: a recorded trade at or through its price (up to the trade's
    quantity), or the replayed opposite side moving through its price (up to
    the quantity of the crossing levels). Queue position is not modelled.

Time in force
    ``IOC``: what does not fill at once expires. ``FOK``: fill in full at once
    or expire with nothing filled (``fok_rejects``: refuse instead). Post-only
    (``GTX``/``LIMIT_MAKER``): refused when it would take (``post_only_rejects``;
    else it expires). A ``MARKET`` order's unfilled remainder (the book ran
    out) expires.

Fees
    Spot: the commission is taken from what the order receives (base on a buy,
    quote on a sell), rounded to 8 decimals. Linear: in the margin asset, on the
    fill's notional. Maker and taker rates are settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

from adapters.emulator.book import DepthBook
from adapters.emulator.matching_types import (
    ZERO,
    AccountChanged,
    Event,
    ExecutionEvent,
    Fill,
    MarketKind,
    MarketSpec,
    OrderRejectedError,
    OrderRequest,
    Position,
    RejectReason,
    SimOrder,
    UnknownOrderError,
)

__all__ = [
    "AccountChanged",
    "ExecutionEvent",
    "Fill",
    "MarketKind",
    "MarketSpec",
    "MatchingEngine",
    "OrderRejectedError",
    "OrderRequest",
    "Position",
    "RejectReason",
    "SimOrder",
    "UnknownOrderError",
]

_COMMISSION_QUANTUM = Decimal("0.00000001")
#: A partial close releases the cost at this precision, so every sum stays exact.
_COST_QUANTUM = Decimal("1e-18")


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _on_grid(value: Decimal, step: Decimal, origin: Decimal = ZERO) -> bool:
    return step <= 0 or (value - origin) % step == 0


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


class MatchingEngine:
    """Orders, balances and positions of one emulated account; see the module docstring.

    Parameters
    ----------
    markets :
        Venue symbol → market.
    kind :
        Spot or linear: every market of one engine is of this kind.
    balances :
        Starting balances by asset (spot: free balances; linear: wallet balances).
    maker_fee, taker_fee :
        Commission rates (``Decimal("0.001")`` is 0.1 %).
    leverage :
        Linear: initial margin is ``notional / leverage``.
    book_of :
        The replayed book of a venue symbol, or ``None`` when that symbol is not
        replayed (its marketable orders find no liquidity).
    on_event :
        Called with every :class:`ExecutionEvent` and :class:`AccountChanged`, in order.
    clock_ms :
        Venue time in ms (the wall clock by default: signed requests carry it).
    post_only_rejects, fok_rejects :
        Refuse (True) rather than expire an order that would take / cannot fill in full.

    Examples
    --------
    >>> spec = MarketSpec(symbol="BTCUSDT", base="BTC", quote="USDT", kind=MarketKind.SPOT,
    ...                   tick_size=Decimal("0.01"), step_size=Decimal("0.001"))
    >>> engine = MatchingEngine({"BTCUSDT": spec}, kind=MarketKind.SPOT,
    ...                         balances={"USDT": Decimal(1000)})
    >>> order = engine.place(OrderRequest(symbol="BTCUSDT", side="BUY", order_type="LIMIT",
    ...                                   quantity=Decimal("0.01"), price=Decimal(100)))
    >>> order.status, engine.balance("USDT")
    ('NEW', (Decimal('999.00'), Decimal('1.00')))
    """

    def __init__(
        self,
        markets: dict[str, MarketSpec],
        *,
        kind: MarketKind,
        balances: dict[str, Decimal],
        maker_fee: Decimal = Decimal("0.001"),
        taker_fee: Decimal = Decimal("0.001"),
        leverage: int = 20,
        book_of: Callable[[str], DepthBook | None] | None = None,
        on_event: Callable[[Event], None] | None = None,
        clock_ms: Callable[[], int] = _wall_ms,
        post_only_rejects: bool = True,
        fok_rejects: bool = False,
        order_id_start: int = 1,
        trade_id_start: int = 1,
    ) -> None:
        if leverage < 1:
            raise ValueError(f"leverage must be >= 1, was {leverage}")
        self.markets = markets
        self.kind = kind
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.leverage = Decimal(leverage)
        self.post_only_rejects = post_only_rejects
        self.fok_rejects = fok_rejects
        self._book_of = book_of if book_of is not None else (lambda _symbol: None)
        self._on_event = on_event
        self._clock = clock_ms
        self._next_order_id = order_id_start
        self._next_trade_id = trade_id_start
        #: asset → [free, locked] (spot) or [wallet balance, 0] (linear).
        self._balances: dict[str, list[Decimal]] = {
            a: [Decimal(v), ZERO] for a, v in balances.items()
        }
        self.positions: dict[str, Position] = {}
        self.orders: list[SimOrder] = []
        self._by_client_id: dict[tuple[str, str], list[SimOrder]] = {}
        self._by_id: dict[tuple[str, int], SimOrder] = {}
        self._resting: dict[str, list[SimOrder]] = {}
        self.fills: list[Fill] = []
        #: (symbol, book side, price) → quantity taken since the book's update id changed.
        self._consumed: dict[tuple[str, str, float], Decimal] = {}
        self._consumed_at: dict[str, int] = {}
        self._pending: list[Event] = []
        self._changed_assets: set[str] = set()
        self._changed_symbols: set[str] = set()

    # -- queries -------------------------------------------------------------------------------

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        """``(free, locked)`` of ``asset`` (linear: ``(wallet balance, 0)``)."""
        row = self._balances.get(asset)
        return (row[0], row[1]) if row is not None else (ZERO, ZERO)

    def assets(self) -> list[str]:
        """Every asset the account has held."""
        return list(self._balances)

    def find(
        self, symbol: str, *, order_id: int | None = None, client_order_id: str | None = None
    ) -> SimOrder:
        """The order by venue id or client id (the latest one with that client id).

        Raises
        ------
        UnknownOrderError
        """
        if order_id is not None:
            order = self._by_id.get((symbol, order_id))
            if order is not None and (
                client_order_id is None or order.client_order_id == client_order_id
            ):
                return order
        elif client_order_id is not None:
            found = self._by_client_id.get((symbol, client_order_id))
            if found:
                return found[-1]
        raise UnknownOrderError(f"no order {order_id or client_order_id!r} on {symbol}")

    def open_orders(self, symbol: str | None = None) -> list[SimOrder]:
        """Open orders (of ``symbol``, or all), oldest first."""
        return [o for o in self.orders if o.is_open and (symbol is None or o.symbol == symbol)]

    def trades(self, symbol: str, *, order_id: int | None = None) -> list[Fill]:
        """Fills on ``symbol`` (of one order), oldest first."""
        return [
            f
            for f in self.fills
            if f.symbol == symbol and (order_id is None or f.order_id == order_id)
        ]

    def has_resting(self, symbol: str) -> bool:
        """Whether ``symbol`` has an order on the book (the replay must watch it)."""
        return bool(self._resting.get(symbol))

    def best_prices(self, symbol: str) -> tuple[Decimal, Decimal]:
        """Best bid and ask of the replayed book (0 when a side is empty or no book)."""
        book = self._book_of(symbol)
        if book is None:
            return ZERO, ZERO
        bid = Decimal(book.bids[max(book.bids)][0]) if book.bids else ZERO
        ask = Decimal(book.asks[min(book.asks)][0]) if book.asks else ZERO
        return bid, ask

    def mark_price(self, symbol: str) -> Decimal:
        """Mid of the replayed book (the one side, or the entry price, when a side is empty)."""
        bid, ask = self.best_prices(symbol)
        if bid and ask:
            return (bid + ask) / 2
        if bid or ask:
            return bid or ask
        position = self.positions.get(symbol)
        return position.entry_price if position is not None else ZERO

    def unrealized_pnl(self, symbol: str) -> Decimal:
        """Linear: ``(mark - entry) * quantity`` of the position."""
        position = self.positions.get(symbol)
        if position is None or not position.quantity:
            return ZERO
        return (self.mark_price(symbol) - position.entry_price) * position.quantity

    def margin_asset(self) -> str:
        """Linear: the quote asset the markets settle in."""
        return next(iter(self.markets.values())).quote if self.markets else "USDT"

    def initial_margin(self) -> tuple[Decimal, Decimal]:
        """Linear: initial margin of the positions and of the open orders."""
        positions = sum(
            (
                abs(p.quantity) * self.mark_price(s) / self.leverage
                for s, p in self.positions.items()
            ),
            ZERO,
        )
        orders = sum((o.leaves * o.price / self.leverage for o in self.orders if o.is_open), ZERO)
        return positions, orders

    def available_balance(self) -> Decimal:
        """Linear: wallet + unrealized P&L - initial margin of positions and open orders."""
        wallet = self.balance(self.margin_asset())[0]
        unrealized = sum((self.unrealized_pnl(s) for s in self.positions), ZERO)
        positions, orders = self.initial_margin()
        return wallet + unrealized - positions - orders

    # -- orders --------------------------------------------------------------------------------

    def place(self, request: OrderRequest) -> SimOrder:
        """Check, accept and match a new order; return it in its state after matching.

        Raises
        ------
        OrderRejectedError
            Nothing changed (no order id was used).
        """
        spec = self.markets.get(request.symbol)
        if spec is None or not spec.trading:
            raise OrderRejectedError(RejectReason.UNKNOWN_SYMBOL, f"symbol {request.symbol}")
        self._check_filters(spec, request)
        cid = request.client_order_id
        previous = self._by_client_id.get((request.symbol, cid)) if cid else None
        if previous and any(o.status != "FILLED" for o in previous):
            raise OrderRejectedError(
                RejectReason.DUPLICATE_CLIENT_ORDER_ID, f"client order id {cid} in use"
            )
        plan = self._plan_taker(spec, request)
        taken = sum((q for _, q in plan), ZERO)
        if request.post_only and plan and self.post_only_rejects:
            raise OrderRejectedError(RejectReason.WOULD_TAKE, f"{request.side} at {request.price}")
        if request.time_in_force == "FOK" and taken < request.quantity and self.fok_rejects:
            raise OrderRejectedError(
                RejectReason.FOK_NOT_FILLED, f"{taken} of {request.quantity} available"
            )
        self._check_funds(spec, request, plan)
        now = self._clock()
        order_id = self._next_order_id
        self._next_order_id += 1
        order = SimOrder(request, order_id, cid or f"emu-{order_id}", now)
        self.orders.append(order)
        self._by_id[(order.symbol, order_id)] = order
        self._by_client_id.setdefault((order.symbol, order.client_order_id), []).append(order)
        self._emit(ExecutionEvent(execution_type="NEW", order=order.snapshot(), time_ms=now))
        immediate = request.time_in_force in ("IOC", "FOK") or request.order_type == "MARKET"
        would_take = request.post_only and bool(plan)  # post_only_rejects is off: expire
        if would_take or (request.time_in_force == "FOK" and taken < request.quantity):
            self._finish(order, "EXPIRED", now)
        else:
            if spec.kind is MarketKind.SPOT and request.order_type == "LIMIT":
                self._lock(spec, order)
            for price, quantity in plan:
                self._execute(spec, order, price, quantity, maker=False, now=now)
            if order.is_open:
                if immediate:
                    self._finish(order, "EXPIRED", now)
                else:
                    order.working = True
                    self._resting.setdefault(order.symbol, []).append(order)
        self._flush(now)
        return order

    def cancel(
        self, symbol: str, *, order_id: int | None = None, client_order_id: str | None = None
    ) -> SimOrder:
        """Cancel an open order and return it.

        Raises
        ------
        UnknownOrderError
            No such order, or it is no longer open (as venues answer "unknown order").
        """
        order = self.find(symbol, order_id=order_id, client_order_id=client_order_id)
        if not order.is_open:
            raise UnknownOrderError(f"order {order.order_id} on {symbol} is {order.status}")
        now = self._clock()
        self._finish(order, "CANCELED", now)
        self._flush(now)
        return order

    def cancel_all(self, symbol: str) -> list[SimOrder]:
        """Cancel every open order of ``symbol``; return them."""
        now = self._clock()
        cancelled = self.open_orders(symbol)
        for order in cancelled:
            self._finish(order, "CANCELED", now)
        self._flush(now)
        return cancelled

    # -- the replay ----------------------------------------------------------------------------

    def on_trade(self, symbol: str, price: Decimal, quantity: Decimal) -> None:
        """A recorded trade printed: fill resting orders at or through ``price``."""
        resting = self._resting.get(symbol)
        if not resting:
            return
        spec = self.markets[symbol]
        now = self._clock()
        buys = sorted(
            (o for o in resting if o.side == "BUY" and o.price >= price),
            key=lambda o: (-o.price, o.order_id),
        )
        sells = sorted(
            (o for o in resting if o.side == "SELL" and o.price <= price),
            key=lambda o: (o.price, o.order_id),
        )
        for group in (buys, sells):
            left = quantity
            for order in group:
                if left <= 0:
                    break
                fill = min(order.leaves, left)
                left -= fill
                self._execute(spec, order, order.price, fill, maker=True, now=now)
        self._flush(now)

    def on_book(self, symbol: str) -> None:
        """The replayed book moved: fill resting orders the opposite side now crosses."""
        resting = self._resting.get(symbol)
        book = self._book_of(symbol)
        if not resting or book is None:
            return
        spec = self.markets[symbol]
        now = self._clock()
        for order in sorted(resting, key=lambda o: o.order_id):
            if not order.is_open:
                continue
            book_side = "ask" if order.side == "BUY" else "bid"
            for level_price, available in self._levels(symbol, book, book_side, order.price):
                if order.leaves <= 0:
                    break
                fill = min(order.leaves, available)
                self._take(symbol, book_side, level_price, fill)
                self._execute(spec, order, order.price, fill, maker=True, now=now)
        self._flush(now)

    # -- internals -----------------------------------------------------------------------------

    def _check_filters(self, spec: MarketSpec, request: OrderRequest) -> None:
        qty, price = request.quantity, request.price
        if _decimals(qty) > spec.quantity_decimals:
            raise OrderRejectedError(
                RejectReason.QUANTITY_PRECISION,
                f"quantity {qty} has more than {spec.quantity_decimals} decimals",
            )
        market = request.order_type == "MARKET"
        if market and spec.market_step_size > 0:
            step, low, high = spec.market_step_size, spec.market_min_qty, spec.market_max_qty
            lot = RejectReason.MARKET_LOT_SIZE
        else:
            step, low, high = spec.step_size, spec.min_qty, spec.max_qty
            lot = RejectReason.LOT_SIZE
        if qty <= 0 or qty < low or (high > 0 and qty > high) or not _on_grid(qty, step, low):
            raise OrderRejectedError(lot, f"quantity {qty} (min {low}, max {high}, step {step})")
        if not market:
            if _decimals(price) > spec.price_decimals:
                raise OrderRejectedError(
                    RejectReason.PRICE_PRECISION,
                    f"price {price} has more than {spec.price_decimals} decimals",
                )
            if (
                price <= 0
                or price < spec.min_price
                or (spec.max_price > 0 and price > spec.max_price)
                or not _on_grid(price, spec.tick_size, spec.min_price)
            ):
                raise OrderRejectedError(
                    RejectReason.PRICE_FILTER,
                    f"price {price} (min {spec.min_price}, max {spec.max_price}, "
                    f"tick {spec.tick_size})",
                )
            value = price
        else:
            bid, ask = self.best_prices(request.symbol)
            value = ask if request.side == "BUY" else bid
        exempt = request.reduce_only and spec.kind is MarketKind.LINEAR  # as Binance futures
        if spec.min_notional > 0 and value > 0 and value * qty < spec.min_notional and not exempt:
            raise OrderRejectedError(
                RejectReason.MIN_NOTIONAL,
                f"notional {value * qty} below {spec.min_notional}",
            )

    def _levels(
        self, symbol: str, book: DepthBook, book_side: str, limit: Decimal | None
    ) -> list[tuple[Decimal, Decimal]]:
        """Levels of ``book_side`` an order at ``limit`` may take, best first, net of takes."""
        if self._consumed_at.get(symbol) != book.last_update_id:
            self._consumed = {k: v for k, v in self._consumed.items() if k[0] != symbol}
            self._consumed_at[symbol] = book.last_update_id
        levels = book.asks if book_side == "ask" else book.bids
        keys = sorted(levels, reverse=book_side == "bid")
        out: list[tuple[Decimal, Decimal]] = []
        for key in keys:
            price_text, qty_text = levels[key]
            price = Decimal(price_text)
            if limit is not None and (price > limit if book_side == "ask" else price < limit):
                break
            available = Decimal(qty_text) - self._consumed.get((symbol, book_side, key), ZERO)
            if available > 0:
                out.append((price, available))
        return out

    def _take(self, symbol: str, book_side: str, price: Decimal, quantity: Decimal) -> None:
        key = (symbol, book_side, float(price))
        self._consumed[key] = self._consumed.get(key, ZERO) + quantity

    def _plan_taker(self, spec: MarketSpec, request: OrderRequest) -> list[tuple[Decimal, Decimal]]:
        """The fills a new order would get at once: ``[(price, quantity)]`` (nothing taken yet)."""
        book = self._book_of(request.symbol)
        if book is None:
            return []
        book_side = "ask" if request.side == "BUY" else "bid"
        limit = None if request.order_type == "MARKET" else request.price
        plan: list[tuple[Decimal, Decimal]] = []
        left = request.quantity
        for price, available in self._levels(request.symbol, book, book_side, limit):
            if left <= 0:
                break
            quantity = min(left, available)
            plan.append((price, quantity))
            left -= quantity
        return plan

    def _check_funds(
        self, spec: MarketSpec, request: OrderRequest, plan: list[tuple[Decimal, Decimal]]
    ) -> None:
        if spec.kind is MarketKind.SPOT:
            if request.side == "BUY":
                asset = spec.quote
                if request.order_type == "MARKET":
                    need = sum((p * q for p, q in plan), ZERO)
                else:
                    need = request.price * request.quantity
            else:
                asset, need = spec.base, request.quantity
            free = self.balance(asset)[0]
            if need > free:
                raise OrderRejectedError(
                    RejectReason.INSUFFICIENT_BALANCE, f"{asset} needed {need}, free {free}"
                )
            return
        position = self.positions.get(request.symbol)
        held = position.quantity if position is not None else ZERO
        sign = 1 if request.side == "BUY" else -1
        reduces = held * sign < 0
        if request.reduce_only and (not reduces or request.quantity > abs(held)):
            raise OrderRejectedError(
                RejectReason.REDUCE_ONLY,
                f"position {held}, order {request.side} {request.quantity}",
            )
        if reduces and request.quantity <= abs(held):
            return
        price = request.price if request.order_type == "LIMIT" else self.mark_price(request.symbol)
        need = request.quantity * price / self.leverage
        available = self.available_balance()
        if need > available:
            raise OrderRejectedError(
                RejectReason.INSUFFICIENT_MARGIN,
                f"initial margin {need} above available {available}",
            )

    def _lock(self, spec: MarketSpec, order: SimOrder) -> None:
        asset = spec.quote if order.side == "BUY" else spec.base
        amount = order.price * order.quantity if order.side == "BUY" else order.quantity
        row = self._balances.setdefault(asset, [ZERO, ZERO])
        row[0] -= amount
        row[1] += amount
        order.locked = amount
        self._changed_assets.add(asset)

    def _release(self, spec: MarketSpec, order: SimOrder) -> None:
        if order.locked:
            asset = spec.quote if order.side == "BUY" else spec.base
            row = self._balances[asset]
            row[0] += order.locked
            row[1] -= order.locked
            order.locked = ZERO
            self._changed_assets.add(asset)

    def _credit(self, asset: str, amount: Decimal) -> None:
        self._balances.setdefault(asset, [ZERO, ZERO])[0] += amount
        self._changed_assets.add(asset)

    def _execute(
        self,
        spec: MarketSpec,
        order: SimOrder,
        price: Decimal,
        quantity: Decimal,
        *,
        maker: bool,
        now: int,
    ) -> None:
        if not maker:
            self._take(order.symbol, "ask" if order.side == "BUY" else "bid", price, quantity)
        rate = self.maker_fee if maker else self.taker_fee
        quote = price * quantity
        realized = ZERO
        if spec.kind is MarketKind.SPOT:
            if order.side == "BUY":
                commission_asset = spec.base
                commission = (quantity * rate).quantize(_COMMISSION_QUANTUM, ROUND_HALF_UP)
                if order.order_type == "LIMIT":
                    locked = order.price * quantity
                    self._balances[spec.quote][1] -= locked
                    order.locked -= locked
                    self._credit(spec.quote, locked - quote)  # price improvement comes back
                else:
                    self._credit(spec.quote, -quote)
                self._credit(spec.base, quantity - commission)
            else:
                commission_asset = spec.quote
                commission = (quote * rate).quantize(_COMMISSION_QUANTUM, ROUND_HALF_UP)
                if order.order_type == "LIMIT":
                    self._balances[spec.base][1] -= quantity
                    order.locked -= quantity
                    self._changed_assets.add(spec.base)
                else:
                    self._credit(spec.base, -quantity)
                self._credit(spec.quote, quote - commission)
        else:
            commission_asset = spec.quote
            commission = (quote * rate).quantize(_COMMISSION_QUANTUM, ROUND_HALF_UP)
            realized = self._apply_position(order.symbol, order.side, price, quantity, now)
            self._credit(spec.quote, realized - commission)
            self._changed_symbols.add(order.symbol)
        fill = Fill(
            trade_id=self._next_trade_id,
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            price=price,
            quantity=quantity,
            quote_quantity=quote,
            commission=commission,
            commission_asset=commission_asset,
            time_ms=now,
            maker=maker,
            realized_pnl=realized,
        )
        self._next_trade_id += 1
        self.fills.append(fill)
        order.fills.append(fill)
        order.executed += quantity
        order.cum_quote += quote
        order.update_time_ms = now
        order.status = "FILLED" if order.executed >= order.quantity else "PARTIALLY_FILLED"
        self._emit(
            ExecutionEvent(execution_type="TRADE", order=order.snapshot(), fill=fill, time_ms=now)
        )
        if order.status == "FILLED":
            self._unrest(order)
            self._release(spec, order)  # dust of rounding, if any

    def _apply_position(
        self, symbol: str, side: str, price: Decimal, quantity: Decimal, now: int
    ) -> Decimal:
        position = self.positions.get(symbol)
        if position is None:
            position = self.positions[symbol] = Position(symbol=symbol)
        signed = quantity if side == "BUY" else -quantity
        held = position.quantity
        realized = ZERO
        if held == 0 or (held > 0) == (signed > 0):
            position.cost += quantity * price
            position.quantity = held + signed
        else:
            closed = min(abs(held), quantity)
            released = (
                position.cost
                if closed == abs(held)
                else (position.cost * closed / abs(held)).quantize(_COST_QUANTUM)
            )
            value = closed * price
            realized = value - released if held > 0 else released - value
            position.cost -= released
            position.quantity = held + signed
            rest = quantity - closed
            if rest:  # flipped: the rest opens at this price
                position.cost = rest * price
        position.realized_pnl += realized
        position.update_time_ms = now
        return realized

    def _unrest(self, order: SimOrder) -> None:
        if order.working:
            order.working = False
            resting = self._resting.get(order.symbol)
            if resting is not None and order in resting:
                resting.remove(order)

    def _finish(self, order: SimOrder, status: str, now: int) -> None:
        order.status = status
        order.update_time_ms = now
        self._unrest(order)
        self._release(self.markets[order.symbol], order)
        if self.kind is MarketKind.LINEAR:
            self._changed_assets.add(self.margin_asset())  # open-order margin released
        self._emit(ExecutionEvent(execution_type=status, order=order.snapshot(), time_ms=now))

    def _emit(self, event: Event) -> None:
        self._pending.append(event)

    def _flush(self, now: int) -> None:
        """Send the events of one operation, then one :class:`AccountChanged` if needed."""
        events, self._pending = self._pending, []
        if self._changed_assets or self._changed_symbols:
            events.append(
                AccountChanged(
                    assets=sorted(self._changed_assets),
                    symbols=sorted(self._changed_symbols),
                    time_ms=now,
                )
            )
            self._changed_assets = set()
            self._changed_symbols = set()
        if self._on_event is not None:
            for event in events:
                self._on_event(event)
