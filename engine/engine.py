"""The trading engine: market data → strategy → risk → execution → portfolio.

:class:`TradingEngine` is the :class:`engine.protocols.MarketDataSink` of the
market-data adapters and the :class:`engine.protocols.ExecutionReportSink` of
the order gateway. It runs synchronously on the event-loop thread: per trade,
one indicator kernel call inside the strategy, and (rarely) a signal, a risk
kernel call and an order. Events go on the bus only for those rare outcomes;
per-tick work builds no events, dicts or log lines.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from engine.broker import ExecutionReportDeduplicator
from engine.bus import EventBus
from engine.clock import Clock
from engine.config import Config
from engine.events import (
    EmergencyExit,
    EngineStarted,
    EngineStopped,
    OrderCancelled,
    OrderFilled,
    OrderPlaced,
    OrderRejected,
    PositionClosed,
    PositionOpened,
    PositionUpdated,
    RiskAlert,
    RiskCheckFailed,
    RiskCheckPassed,
    SignalExecuted,
    SignalGenerated,
    SignalRejected,
)
from engine.execution import ExecutionEngine, OrderValidationError
from engine.instruments import InstrumentRegistry
from engine.market import SymbolMarket
from engine.orders import Order, OrderStatus, OrderType, Side, new_run_id
from engine.portfolio import CLOSED, OPENED, Portfolio
from engine.protocols import OrderGateway
from engine.risk import RiskAction, RiskDecision, RiskManager
from engine.state import EngineState, EngineStateMachine, TradingMode
from engine.strategy import BaseStrategy, TradingSignal

__all__ = ["EngineCounters", "TradingEngine"]

_log = logging.getLogger("ats.engine")

_NS = 1_000_000_000


class EngineCounters:
    """Outcome counters of one engine run."""

    __slots__ = ("duplicate_fills", "fills", "orders", "rejected", "signals", "signals_rejected")

    def __init__(self) -> None:
        self.signals = 0
        self.signals_rejected = 0
        self.orders = 0
        self.fills = 0
        self.rejected = 0
        #: Fill reports dropped as repeats (same trade id, or no new cumulative quantity).
        self.duplicate_fills = 0


class TradingEngine:
    """Single-process engine for one account.

    Parameters
    ----------
    config : Config
        The loaded configuration.
    instruments : InstrumentRegistry
        Tradable instruments; ``engine.symbols`` must all be in it.
    clock : Clock
        Simulated clock in backtests, wall clock otherwise.
    strategy : BaseStrategy
        The strategy fed with every trade.
    bus : EventBus, optional
        Created with ``engine.event_history`` when omitted.
    run_id : str, optional
        Names this run and prefixes its client order ids (``<run id>-<n>``);
        a new :func:`engine.orders.new_run_id` when omitted.
    """

    def __init__(
        self,
        config: Config,
        instruments: InstrumentRegistry,
        clock: Clock,
        strategy: BaseStrategy,
        bus: EventBus | None = None,
        run_id: str | None = None,
    ) -> None:
        self.config = config
        self.run_id = run_id or new_run_id()
        self.mode = TradingMode(config.engine.mode)
        self.instruments = instruments
        self.clock = clock
        self.strategy = strategy
        self.bus = bus if bus is not None else EventBus(config.engine.event_history)
        self.state = EngineStateMachine()
        self.portfolio = Portfolio(
            config.engine.initial_cash, config.engine.quote_currency, instruments=instruments
        )
        self.risk = RiskManager(config.risk)
        self.execution = ExecutionEngine(self.run_id)
        #: Every fill passes it: trade ids and cumulative quantities make fills idempotent.
        self.fill_dedup = ExecutionReportDeduplicator()
        self.counters = EngineCounters()
        self.markets: dict[str, SymbolMarket] = {}
        for symbol in config.engine.symbols:
            self.markets[symbol] = SymbolMarket(
                instruments.get(symbol),
                config.market_data.book_capacity,
                config.market_data.trade_ring_capacity,
            )
        self._gateway: OrderGateway | None = None
        self._trading = False
        self._equity_interval_ns = _NS
        self._next_equity_ts = 0
        #: Symbols with a risk exit (stop loss, take profit, flatten) in flight.
        self._exits_pending: set[str] = set()

    # -- lifecycle -----------------------------------------------------------------------------

    def set_gateway(self, gateway: OrderGateway) -> None:
        """Route orders to ``gateway`` (done by the composition root before start)."""
        self._gateway = gateway

    def start(self) -> None:
        """Initialize and enter RUNNING."""
        self.state.transition(EngineState.INITIALIZING)
        if self._gateway is None:
            self.state.transition(EngineState.ERROR)
            raise RuntimeError("engine has no order gateway; call set_gateway() before start()")
        self.strategy.warm_up()
        self.risk.warm_up()
        self.state.transition(EngineState.RUNNING)
        self._trading = True
        self.bus.publish(EngineStarted(ts=self.clock.now_ns(), mode=str(self.mode)))

    def pause(self) -> None:
        """Stop generating signals (market data keeps flowing)."""
        self.state.transition(EngineState.PAUSED)
        self._trading = False

    def resume(self) -> None:
        """Resume generating signals."""
        self.state.transition(EngineState.RUNNING)
        self._trading = True

    def stop(self, reason: str = "stopped") -> None:
        """Leave RUNNING/PAUSED/ERROR and reach STOPPED."""
        self.state.transition(EngineState.STOPPING)
        self._trading = False
        ts = self.clock.now_ns()
        self.portfolio.record_equity(ts)
        self.state.transition(EngineState.STOPPED)
        self.bus.publish(EngineStopped(ts=ts, reason=reason))

    # -- market data (MarketDataSink) ----------------------------------------------------------

    def on_trade(self, market: SymbolMarket, ts_recv: int) -> None:
        """Feed the trade to the strategy; act on a signal; mark to market."""
        ts = self.clock.now_ns()
        portfolio = self.portfolio
        position = portfolio.positions.get(market.symbol)
        if self._trading:
            signal = self.strategy.generate_signal(
                market, ts, 0.0 if position is None else position.quantity
            )
            if signal is not None:
                self.submit_signal(signal)
                position = portfolio.positions.get(market.symbol)
        if position is not None:
            position.mark_price = market.last_price
            if position.quantity != 0.0:
                action = self.risk.on_mark(
                    market.symbol, market.last_price, position.quantity, position.average_price, ts
                )
                if action is not None and market.symbol not in self._exits_pending:
                    self._exit_position(action.symbol, action.quantity, action.kind)
        if ts >= self._next_equity_ts:
            equity = portfolio.record_equity(ts)
            self._next_equity_ts = ts + self._equity_interval_ns
            halt = self.risk.on_equity(equity, portfolio.peak_equity, ts)
            if halt is not None:
                self._carry_out(halt)

    def on_book(self, market: SymbolMarket, ts_recv: int) -> None:
        """Nothing to do per book update yet (the venue reads the book directly)."""

    def on_ticker(self, market: SymbolMarket, ts_recv: int) -> None:
        """Nothing to do per ticker yet."""

    # -- signals → orders ----------------------------------------------------------------------

    def submit_signal(self, signal: TradingSignal) -> Order | None:
        """Size, validate, risk-check and send ``signal``; return the order sent, if any."""
        bus = self.bus
        ts = self.clock.now_ns()
        counters = self.counters
        counters.signals += 1
        signal_id = counters.signals
        bus.publish(
            SignalGenerated(
                ts=ts,
                signal_id=signal_id,
                symbol=signal.symbol,
                side=signal.side,
                confidence=signal.confidence,
                price=signal.price,
                quantity=signal.quantity,
                strategy=signal.strategy_name,
            )
        )
        market = self.markets.get(signal.symbol)
        if market is None:
            return self._reject_signal(signal_id, signal.symbol, f"unknown symbol {signal.symbol}")
        if not self.strategy.validate_signal(signal):
            return self._reject_signal(signal_id, signal.symbol, "signal failed validation")
        portfolio = self.portfolio
        position = portfolio.positions.get(signal.symbol)
        position_qty = 0.0 if position is None else position.quantity
        quantity = signal.quantity
        if quantity <= 0.0:
            quantity = self.strategy.calculate_position_size(signal, portfolio.equity, position_qty)
        if quantity <= 0.0:
            return self._reject_signal(
                signal_id, signal.symbol, f"nothing to {signal.side.lower()} (position 0)"
            )
        side = Side(signal.side)
        instrument = market.instrument
        # Market orders execute at the touch; value and collar-check them there.
        ticker = market.ask_price if side is Side.BUY else market.bid_price
        touch = self._touch(market, side, signal.price if math.isnan(ticker) else ticker)
        try:
            order = self.execution.build_order(
                instrument=instrument,
                side=side,
                order_type=OrderType.MARKET,
                quantity=quantity,
                price=touch,
                ts=ts,
                strategy=signal.strategy_name,
            )
        except OrderValidationError as exc:
            return self._reject_signal(signal_id, signal.symbol, str(exc))
        decision = self.risk.check(
            symbol=signal.symbol,
            side_sign=side.sign,
            quantity=order.quantity,
            price=touch,
            reference_price=market.reference_price(),
            confidence=signal.confidence,
            position_qty=position_qty,
            gross_exposure=portfolio.gross_exposure,
            equity=portfolio.equity,
            multiplier=instrument.contract_multiplier,
            sector=instrument.sector,
            sector_exposure=portfolio.exposure_by_sector().get(instrument.sector, 0.0),
            ts=ts,
        )
        coid = order.client_order_id
        if not decision.passed:
            self._publish_risk_failed(order, decision, ts)
            counters.rejected += 1
            bus.publish(OrderRejected(ts=ts, client_order_id=coid, symbol=signal.symbol,
                                      reason=decision.reason))  # fmt: skip
            return self._reject_signal(signal_id, signal.symbol, decision.reason)
        bus.publish(RiskCheckPassed(ts=ts, client_order_id=coid, symbol=signal.symbol))
        self._place(order, touch, ts)
        bus.publish(SignalExecuted(ts=ts, signal_id=signal_id, client_order_id=coid))
        assert self._gateway is not None  # start() guarantees it
        self._gateway.submit_order(order, ts)
        return order

    def _reject_signal(self, signal_id: int, symbol: str, reason: str) -> None:
        self.counters.signals_rejected += 1
        self.bus.publish(
            SignalRejected(
                ts=self.clock.now_ns(), signal_id=signal_id, symbol=symbol, reason=reason
            )
        )
        return None

    # -- risk actions: stops, kill switch, drawdown halt ----------------------------------------

    def emergency_exit(self, reason: str) -> None:
        """Kill switch: halt, cancel every open order, flatten every position.

        New orders are rejected until :meth:`reset_trading` is called by an admin.
        """
        self._carry_out(self.risk.kill_switch(reason, self.clock.now_ns()))

    def reset_trading(self, *, role: str) -> None:
        """Leave HALTED/REDUCING for ACTIVE; only ``role="admin"`` may (PermissionError).

        Publishes a ``RISK_ALERT`` saying so (the audit trail, and the store
        records the new trading state on it).
        """
        previous = self.risk.trading_state.name
        self.risk.reset(role=role)
        self.bus.publish(
            RiskAlert(
                ts=self.clock.now_ns(),
                source="risk",
                message=f"trading reset from {previous} to ACTIVE by {role}",
            )
        )

    def _carry_out(self, action: RiskAction) -> None:
        ts = self.clock.now_ns()
        bus = self.bus
        if action.kind == "kill_switch":
            bus.publish(EmergencyExit(ts=ts, reason=action.reason))
        else:
            bus.publish(RiskAlert(ts=ts, source="risk", message=action.reason))
        if action.cancel_all and self._gateway is not None:
            for order in self.execution.open_orders():
                self._gateway.cancel_order(order.client_order_id, ts)
        if action.flatten_all:
            for symbol, position in list(self.portfolio.positions.items()):
                if position.quantity != 0.0 and symbol not in self._exits_pending:
                    self._exit_position(symbol, -position.quantity, action.kind)

    def _exit_position(self, symbol: str, signed_quantity: float, why: str) -> Order | None:
        """Send a reduce-only market order of ``signed_quantity`` (risk exits skip confidence)."""
        market = self.markets.get(symbol)
        if market is None or self._gateway is None or signed_quantity == 0.0:
            return None
        ts = self.clock.now_ns()
        side = Side.BUY if signed_quantity > 0 else Side.SELL
        touch = self._touch(market, side, market.last_price)
        position = self.portfolio.positions.get(symbol)
        position_qty = 0.0 if position is None else position.quantity
        try:
            order = self.execution.build_order(
                instrument=market.instrument,
                side=side,
                order_type=OrderType.MARKET,
                quantity=abs(signed_quantity),
                price=touch,
                ts=ts,
                strategy=f"risk:{why}",
                reduce_only=True,
            )
            self._enforce_reduce_only(order, position_qty)
        except OrderValidationError as exc:
            self.bus.publish(RiskAlert(ts=ts, source="risk", message=f"{why} exit: {exc}"))
            return None
        decision = self.risk.check(
            symbol=symbol,
            side_sign=side.sign,
            quantity=order.quantity,
            price=touch,
            reference_price=market.reference_price(),
            confidence=1.0,
            position_qty=position_qty,
            gross_exposure=self.portfolio.gross_exposure,
            equity=self.portfolio.equity,
            multiplier=market.instrument.contract_multiplier,
            ts=ts,
            reduce_only=True,
        )
        if not decision.passed:
            self._publish_risk_failed(order, decision, ts)
            return None
        self._exits_pending.add(symbol)
        self._place(order, touch, ts)
        self._gateway.submit_order(order, ts)
        return order

    @staticmethod
    def _touch(market: SymbolMarket, side: Side, fallback: float) -> float:
        """Price a market order of ``side`` executes at: our book's touch, else ``fallback``."""
        bid, _, ask, _ = market.book.best()
        touch = ask if side is Side.BUY else bid
        return fallback if math.isnan(touch) else touch

    def _publish_risk_failed(self, order: Order, decision: RiskDecision, ts: int) -> None:
        self.bus.publish(
            RiskCheckFailed(
                ts=ts,
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                check=decision.check,
                reason=decision.reason,
            )
        )

    def _place(self, order: Order, price: float, ts: int) -> None:
        """Track ``order``, count it and publish ORDER_PLACED (the caller then submits it)."""
        self.execution.track(order)
        self.counters.orders += 1
        self.bus.publish(
            OrderPlaced(
                ts=ts,
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                venue=order.venue,
                side=str(order.side),
                order_type=str(order.order_type),
                quantity=order.quantity,
                price=price,
            )
        )

    def _enforce_reduce_only(self, order: Order, position_qty: float) -> None:
        """Clip a reduce-only order to the position it reduces, or refuse it.

        The venue does not know positions, so reduce-only is enforced here
        before the order is tracked and sent: a reduce-only order may trade at
        most the opposite of ``position_qty`` (a sell reduces a long, a buy a
        short). A larger order is clipped (down to the lot); one that would
        only open or increase a position raises :class:`OrderValidationError`
        naming the order, the side and the position.
        """
        if not order.reduce_only:
            return
        allowed = max(0.0, -order.side.sign * position_qty)
        if order.quantity <= allowed:
            return
        instrument = self.instruments.get(order.symbol)
        clipped = instrument.round_quantity(allowed) if allowed > 0.0 else 0.0
        if not clipped > 0.0:
            raise OrderValidationError(
                f"reduce-only {order.side.lower()} of {order.quantity} {order.symbol} would "
                f"increase position {position_qty}"
            )
        order.quantity = clipped

    def _order_done(self, order: Order) -> None:
        if order.strategy.startswith("risk:") and not order.is_open:
            self._exits_pending.discard(order.symbol)

    # -- execution reports (ExecutionReportSink) -----------------------------------------------

    def _order(self, client_order_id: str) -> Order | None:
        order = self.execution.orders.get(client_order_id)
        if order is None:
            _log.warning(
                "execution report for an unknown order ignored",
                extra={"fields": {"client_order_id": client_order_id}},
            )
        return order

    def on_order_accepted(self, client_order_id: str, ts: int) -> None:
        """Mark the order ACCEPTED."""
        order = self._order(client_order_id)
        if order is not None and order.status is OrderStatus.NEW:
            order.transition(OrderStatus.ACCEPTED, ts)

    def on_order_rejected(self, client_order_id: str, reason: str, ts: int) -> None:
        """Mark the order REJECTED and publish ORDER_REJECTED."""
        order = self._order(client_order_id)
        if order is None:
            return
        order.transition(OrderStatus.REJECTED, ts)
        order.reject_reason = reason
        self._order_done(order)
        self.counters.rejected += 1
        self.bus.publish(
            OrderRejected(
                ts=ts, client_order_id=client_order_id, symbol=order.symbol, reason=reason
            )
        )

    def on_order_cancelled(self, client_order_id: str, reason: str, ts: int) -> None:
        """Mark the order CANCELLED and publish ORDER_CANCELLED."""
        order = self._order(client_order_id)
        if order is None:
            return
        order.transition(OrderStatus.CANCELLED, ts)
        self._order_done(order)
        self.bus.publish(
            OrderCancelled(
                ts=ts, client_order_id=client_order_id, symbol=order.symbol, reason=reason
            )
        )

    def on_order_expired(self, client_order_id: str, reason: str, ts: int) -> None:
        """Mark the order EXPIRED and publish ORDER_CANCELLED with reason ``"expired: ..."``.

        There is no ORDER_EXPIRED event type: subscribers see an expiry as a
        cancel whose reason starts with ``"expired: "``.
        """
        order = self._order(client_order_id)
        if order is None:
            return
        order.transition(OrderStatus.EXPIRED, ts)
        self._order_done(order)
        self.bus.publish(
            OrderCancelled(
                ts=ts,
                client_order_id=client_order_id,
                symbol=order.symbol,
                reason=f"expired: {reason}",
            )
        )

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
        """Book a fill into the order and the portfolio; publish fill and position events.

        Every fill passes :attr:`fill_dedup`: a fill whose ``trade_id`` was
        booked already, or whose ``cumulative_quantity`` (the order's filled
        quantity after it) does not exceed what was booked, is dropped and
        counted in ``counters.duplicate_fills``; when the cumulative quantity
        rose by less than ``quantity`` only the increase is booked (the fee
        pro rata). ``fee_currency`` "" means the account currency; a fee in a
        currency the portfolio cannot value (no ``fee_converter``) is left out
        and reported as a ``RISK_ALERT``, the fill itself is booked.
        """
        order = self._order(client_order_id)
        if order is None:
            return
        applied = self.fill_dedup.fill_quantity(
            client_order_id,
            trade_id or None,
            quantity,
            cumulative_quantity=cumulative_quantity,
        )
        if not applied > 0.0:
            self.counters.duplicate_fills += 1
            _log.info(
                "repeated fill dropped",
                extra={"fields": {"client_order_id": client_order_id, "trade_id": trade_id}},
            )
            return
        if applied != quantity and abs(applied - quantity) > 1e-12 * quantity:
            # the cumulative quantity rose by less than this fill: book only the increase
            fee = fee * applied / quantity
            quantity = applied
        portfolio = self.portfolio
        if fee_currency and not self._fee_bookable(order.symbol, fee_currency):
            # never lose the fill over its fee: book it without, and say so
            self.bus.publish(
                RiskAlert(
                    ts=ts,
                    source="portfolio",
                    message=(
                        f"fee {fee} {fee_currency} of fill on {client_order_id} ({order.symbol}) "
                        f"not booked: no conversion of {fee_currency} to {portfolio.currency}"
                    ),
                )
            )
            fee, fee_currency = 0.0, ""
        order.record_fill(quantity, price, ts)
        self._order_done(order)
        self.counters.fills += 1
        result = portfolio.apply_fill(
            order.symbol, order.side.sign, quantity, price, fee, fee_currency or None
        )
        bus = self.bus
        bus.publish(
            OrderFilled(
                ts=ts,
                client_order_id=client_order_id,
                fill_id=portfolio.fills,
                symbol=order.symbol,
                venue=order.venue,
                side=str(order.side),
                quantity=quantity,
                price=price,
                fee=fee,
                fee_currency=fee_currency or portfolio.currency,
                liquidity=liquidity,
                leaves_quantity=order.leaves_quantity,
                trade_id=trade_id,
            )
        )
        position = portfolio.positions[order.symbol]
        if result == OPENED:
            bus.publish(
                PositionOpened(
                    ts=ts,
                    symbol=order.symbol,
                    quantity=position.quantity,
                    average_price=position.average_price,
                )
            )
        elif result == CLOSED:
            bus.publish(
                PositionClosed(ts=ts, symbol=order.symbol, realized_pnl=position.realized_pnl)
            )
        else:
            bus.publish(
                PositionUpdated(
                    ts=ts,
                    symbol=order.symbol,
                    quantity=position.quantity,
                    average_price=position.average_price,
                    realized_pnl=position.realized_pnl,
                )
            )
        portfolio.record_equity(ts)

    def _fee_bookable(self, symbol: str, fee_currency: str) -> bool:
        """Whether the portfolio can book a fee in ``fee_currency`` for ``symbol``."""
        portfolio = self.portfolio
        if fee_currency == portfolio.currency or portfolio.fee_converter is not None:
            return True
        instrument = self.instruments.get(symbol)
        if fee_currency in (instrument.quote, instrument.settlement_currency):
            return True
        return fee_currency == instrument.base and not instrument.is_margined

    # -- queries -------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Return the run's outcome counters and account values (plain Python types)."""
        p = self.portfolio
        c = self.counters
        return {
            "signals": c.signals,
            "signals_rejected": c.signals_rejected,
            "orders": c.orders,
            "fills": c.fills,
            "rejected": c.rejected,
            "realized_pnl": p.realized_pnl,
            "unrealized_pnl": p.unrealized_pnl,
            "fees": p.fees,
            "cash": p.cash,
            "positions": {s: pos.quantity for s, pos in p.positions.items()},
            "equity": p.equity,
            "max_drawdown": p.max_drawdown,
            "risk_denials": dict(self.risk.failed),
            "trading_state": self.risk.trading_state.name,
            "handler_errors": self.bus.total_handler_errors,
        }
