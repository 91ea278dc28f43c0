"""Simulated venue: fills orders against the replayed L2 book and trades.

It sits in front of the engine as the market-data sink: every decoded frame
first reaches the venue (orders whose latency has elapsed arrive, resting
orders are matched), then the engine. It is deterministic: the same data and
configuration give the same fills.

Model (the walking-skeleton version; queue models arrive with the backtester):

- Order entry latency is constant (``paper.latency_us``). An order arrives at
  the first market event at or after ``submit time + latency``.
- A MARKET order takes liquidity from our book at arrival, level by level
  (one fill per level, taker fee). What the book cannot fill expires
  (``on_order_expired``). The recorded book is not modified (no market impact).
- Time in force: an IOC order (LIMIT or MARKET) takes what crosses at arrival
  and its remainder expires; a FOK order fills only if the displayed depth up
  to its limit (any price for MARKET) covers its full quantity, else it expires
  with nothing filled. A GTC LIMIT order rests (below).
- A POST_ONLY order that would cross the opposite touch at arrival is rejected
  ("post-only order would take liquidity ..."); otherwise it rests like a GTC
  LIMIT order. It never takes liquidity.
- A STOP_MARKET order is accepted and rests untriggered (it counts in
  ``open_order_count``). Every trade checks ``should_trigger(trade price)``;
  a triggered stop executes as a MARKET order against the book at that moment
  and its remainder expires.
- ``reduce_only`` is not enforced here (the venue does not know positions):
  the engine clips or refuses reduce-only orders before sending them.
- A GTC LIMIT order first takes what crosses at arrival (taker), then rests at its
  price behind the quantity already displayed there plus our own earlier
  orders at that price (risk-averse queue: only trades at our price, or a
  shrinking level, move us forward). A trade through our price fills resting
  orders in price-time priority up to the trade's quantity; the opposite
  touch *moving* to or through our price fills us in full (maker fee).
- Fees are charged in the quote currency: ``quantity * price * fee_rate``.
"""

from __future__ import annotations

import math
from collections import deque

from engine.clock import Clock
from engine.config import PaperConfig
from engine.market import SymbolMarket
from engine.orders import Order, OrderType, Side, TimeInForce
from engine.protocols import ExecutionReportSink, MarketDataSink
from kernels.book import ASK, BID
from kernels.dtypes import SIDE_BUY, SIDE_SELL

__all__ = ["SimulatedVenue"]

_MAX_LEVELS = 256
_QTY_RTOL = 1e-12
_PRICED = frozenset({OrderType.LIMIT, OrderType.POST_ONLY})


class _Resting:
    __slots__ = ("leaves", "order", "price", "queue_ahead", "sign", "touch_crossed")

    def __init__(
        self, order: Order, leaves: float, queue_ahead: float, touch_crossed: bool
    ) -> None:
        self.order = order
        self.price = order.price
        self.sign = order.side.sign
        self.leaves = leaves
        self.queue_ahead = queue_ahead
        #: Whether the opposite touch was at or through our price at the last look. A book
        #: fill needs the touch to *move* there: levels we already took at arrival are still
        #: displayed (the recorded book does not know about us) and must not fill us twice.
        self.touch_crossed = touch_crossed


class SimulatedVenue:
    """Paper-trading venue implementing ``OrderGateway`` and ``MarketDataSink``.

    Parameters
    ----------
    markets : dict[str, SymbolMarket]
        Market state by unified symbol (the same objects the decoder writes).
    reports : ExecutionReportSink
        Receives accepts, rejects, cancels and fills (the engine).
    downstream : MarketDataSink
        Receives every market event after the venue has processed it (the engine).
    config : PaperConfig
        Fees and latency.
    clock : Clock
        The engine clock (simulated in backtests).
    """

    name = "paper"

    def __init__(
        self,
        markets: dict[str, SymbolMarket],
        reports: ExecutionReportSink,
        downstream: MarketDataSink,
        config: PaperConfig,
        clock: Clock,
    ) -> None:
        self._markets = markets
        self._reports = reports
        self._downstream = downstream
        self._clock = clock
        self.maker_fee = config.maker_fee
        self.taker_fee = config.taker_fee
        self.latency_ns = config.latency_us * 1_000
        self._pending: deque[tuple[int, Order]] = deque()
        self._resting: dict[str, list[_Resting]] = {s: [] for s in markets}
        #: Untriggered STOP_MARKET orders by symbol, in arrival order.
        self._stops: dict[str, list[Order]] = {s: [] for s in markets}
        self._open = 0
        self.fills = 0

    # -- OrderGateway --------------------------------------------------------------------------

    def submit_order(self, order: Order, ts: int) -> None:
        """Queue ``order`` to arrive after the configured latency."""
        self._pending.append((ts + self.latency_ns, order))

    def cancel_order(self, client_order_id: str, ts: int) -> None:
        """Cancel a resting order (a no-op report if it already completed)."""
        for resting in self._resting.values():
            for i, r in enumerate(resting):
                if r.order.client_order_id == client_order_id:
                    del resting[i]
                    self._open -= 1
                    self._reports.on_order_cancelled(client_order_id, "cancelled by client", ts)
                    return
        for stops in self._stops.values():
            for i, order in enumerate(stops):
                if order.client_order_id == client_order_id:
                    del stops[i]
                    self._open -= 1
                    self._reports.on_order_cancelled(client_order_id, "cancelled by client", ts)
                    return
        for i, (_, order) in enumerate(self._pending):
            if order.client_order_id == client_order_id:
                del self._pending[i]
                self._reports.on_order_cancelled(client_order_id, "cancelled before arrival", ts)
                return

    @property
    def open_order_count(self) -> int:
        """Orders resting at the venue (resting limits and untriggered stops)."""
        return self._open

    # -- MarketDataSink ------------------------------------------------------------------------

    def on_trade(self, market: SymbolMarket, ts_recv: int) -> None:
        """Arrive due orders, match resting ones against the trade, then forward."""
        if self._pending:
            self._arrive(self._clock.now_ns())
        if self._open:
            if self._stops[market.symbol]:
                self._trigger_stops(market)
            self._match_trade(market)
        self._downstream.on_trade(market, ts_recv)

    def on_book(self, market: SymbolMarket, ts_recv: int) -> None:
        """Arrive due orders, match resting ones against the new touch, then forward."""
        if self._pending:
            self._arrive(self._clock.now_ns())
        if self._open:
            self._match_book(market)
        self._downstream.on_book(market, ts_recv)

    def on_ticker(self, market: SymbolMarket, ts_recv: int) -> None:
        """Arrive due orders, then forward."""
        if self._pending:
            self._arrive(self._clock.now_ns())
        self._downstream.on_ticker(market, ts_recv)

    # -- matching ------------------------------------------------------------------------------

    def _arrive(self, now: int) -> None:
        pending = self._pending
        while pending and pending[0][0] <= now:
            _, order = pending.popleft()
            self._on_arrival(order, now)

    def _on_arrival(self, order: Order, now: int) -> None:
        reports = self._reports
        coid = order.client_order_id
        market = self._markets.get(order.symbol)
        if market is None:
            reports.on_order_rejected(coid, f"unknown symbol {order.symbol} on venue paper", now)
            return
        book = market.book
        if not book.in_sync:
            reports.on_order_rejected(coid, f"no order book for {order.symbol} (out of sync)", now)
            return
        order_type = order.order_type
        buy = order.side is Side.BUY
        bid, _, ask, _ = book.best()
        if order_type is OrderType.POST_ONLY:
            touch = ask if buy else bid
            if touch <= order.price if buy else touch >= order.price:
                reports.on_order_rejected(
                    coid,
                    f"post-only order would take liquidity: {order.side.lower()} at "
                    f"{order.price} crosses best {'ask' if buy else 'bid'} {touch}",
                    now,
                )
                return
        reports.on_order_accepted(coid, now)
        if order_type is OrderType.STOP_MARKET and not order.triggered:
            self._stops[order.symbol].append(order)
            self._open += 1
            return
        limit = order.price if order_type in _PRICED else math.nan
        tif = order.time_in_force
        if tif is TimeInForce.FOK:
            available = self._available(market, order, limit)
            if available < order.quantity * (1 - _QTY_RTOL):
                reports.on_order_expired(
                    coid,
                    f"fill-or-kill: only {available:.10g} of {order.quantity:.10g} available "
                    f"up to {'market' if limit != limit else limit}",
                    now,
                )
                return
        if order_type is OrderType.POST_ONLY:
            leaves = order.quantity  # never takes: it did not cross above
        else:
            leaves = self._take(market, order, limit, now)
            if leaves <= 0.0:
                return
        if order_type is OrderType.MARKET or order_type is OrderType.STOP_MARKET:
            reports.on_order_expired(coid, "market order: no more liquidity in the book", now)
            return
        if order.is_immediate:
            reports.on_order_expired(
                coid, f"immediate-or-cancel: {leaves:.10g} left unfilled at limit {limit}", now
            )
            return
        side = BID if buy else ASK
        resting = self._resting[order.symbol]
        own_ahead = sum(r.leaves for r in resting if r.sign == order.side.sign and r.price == limit)
        queue = book.level_qty(side, limit) + own_ahead
        crossed = ask <= limit if buy else bid >= limit
        resting.append(_Resting(order, leaves, queue, crossed))
        self._open += 1

    def _available(self, market: SymbolMarket, order: Order, limit: float) -> float:
        """Displayed opposite-side quantity up to ``limit`` (NaN: the whole side)."""
        buy = order.side is Side.BUY
        prices, qtys = market.book.depth(ASK if buy else BID, _MAX_LEVELS)
        total = 0.0
        for price, qty in zip(prices.tolist(), qtys.tolist(), strict=True):
            if limit == limit and (price > limit if buy else price < limit):
                break
            total += qty
        return total

    def _trigger_stops(self, market: SymbolMarket) -> None:
        """Trigger the stops the last trade crossed; execute them as market orders."""
        stops = self._stops[market.symbol]
        trades = market.trades
        price = float(trades.data[(trades.count - 1) % trades.capacity]["price"])
        now = self._clock.now_ns()
        for order in [o for o in stops if o.should_trigger(price)]:
            stops.remove(order)
            self._open -= 1
            order.trigger(now)
            if not market.book.in_sync:
                self._reports.on_order_expired(
                    order.client_order_id,
                    f"stop triggered at {price} but no order book for {order.symbol}",
                    now,
                )
                continue
            if self._take(market, order, math.nan, now) > 0.0:
                self._reports.on_order_expired(
                    order.client_order_id, "triggered stop: no more liquidity in the book", now
                )

    def _take(self, market: SymbolMarket, order: Order, limit: float, now: int) -> float:
        """Fill against the opposite side up to ``limit`` (NaN: no limit); return leaves."""
        buy = order.side is Side.BUY
        prices, qtys = market.book.depth(ASK if buy else BID, _MAX_LEVELS)
        leaves = order.quantity
        for price, available in zip(prices.tolist(), qtys.tolist(), strict=True):
            if limit == limit and (price > limit if buy else price < limit):
                break
            qty = min(leaves, available)
            self._fill(order, qty, price, self.taker_fee, "taker", now)
            leaves -= qty
            if leaves <= order.quantity * 1e-12:
                return 0.0
        return leaves

    def _match_trade(self, market: SymbolMarket) -> None:
        resting = self._resting[market.symbol]
        if not resting:
            return
        trade = market.trades.data[(market.trades.count - 1) % market.trades.capacity]
        price = float(trade["price"])
        qty = float(trade["qty"])
        aggressor = int(trade["side"])
        # A resting buy is hit by sell aggressors, a resting sell by buy aggressors.
        sign = 1 if aggressor == SIDE_SELL else -1 if aggressor == SIDE_BUY else 0
        now = self._clock.now_ns()
        # Price-time priority: best price first, then arrival order (the list is in arrival order).
        hit = sorted((r for r in resting if r.sign == sign), key=lambda r: -sign * r.price)
        available = qty
        for r in hit:
            through = price < r.price if sign > 0 else price > r.price
            if through:
                # The trade printed beyond our price: every level up to ours traded first.
                if available <= 0.0:
                    break
                filled = min(r.leaves, available)
                available -= filled
                self._fill_resting(resting, r, filled, now)
            elif price == r.price:
                # Our queue (displayed size ahead + our earlier orders) absorbs the trade first.
                r.queue_ahead -= qty
                if r.queue_ahead < 0.0:
                    self._fill_resting(resting, r, min(r.leaves, -r.queue_ahead), now)
                    r.queue_ahead = 0.0

    def _match_book(self, market: SymbolMarket) -> None:
        resting = self._resting[market.symbol]
        if not resting:
            return
        book = market.book
        if not book.in_sync:
            return
        bid, _, ask, _ = book.best()
        now = self._clock.now_ns()
        for r in list(resting):
            crossed = ask <= r.price if r.sign > 0 else bid >= r.price
            if crossed and not r.touch_crossed:
                self._fill_resting(resting, r, r.leaves, now)
                continue
            r.touch_crossed = crossed
            level = book.level_qty(BID if r.sign > 0 else ASK, r.price)
            if level < r.queue_ahead:
                r.queue_ahead = level

    def _fill_resting(self, resting: list[_Resting], r: _Resting, qty: float, now: int) -> None:
        self._fill(r.order, qty, r.price, self.maker_fee, "maker", now)
        r.leaves -= qty
        if r.leaves <= r.order.quantity * 1e-12:
            resting.remove(r)
            self._open -= 1

    def _fill(
        self, order: Order, qty: float, price: float, fee_rate: float, liquidity: str, now: int
    ) -> None:
        self.fills += 1
        fee = qty * price * fee_rate
        self._reports.on_fill(order.client_order_id, qty, price, fee, liquidity, now)
