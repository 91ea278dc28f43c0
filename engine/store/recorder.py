"""Engine events → store rows, written off the hot path by :class:`StoreWriter`.

:class:`EventRecorder` subscribes to the engine's bus. It turns an event into
plain row dicts (a microsecond or two on the engine thread) and hands them to
the writer, whose thread converts them to Arrow and commits them; the engine
never waits on disk.

What is written, and how durable it is:

- ``ORDER_PLACED``, ``ORDER_CANCELLED``, ``ORDER_REJECTED``: the order's row
  (upserted, the engine's own ``Order`` as it is now).
- ``ORDER_FILLED``: the fill (``trades``), the order, the position and the
  account (cash, fees, realized P&L, fill count) in **one transaction**, so a
  restart never sees a fill without its position change.
- signals (``SIGNAL_GENERATED`` then ``SIGNAL_EXECUTED``/``SIGNAL_REJECTED``);
  the trading state on ``RISK_ALERT``, ``EMERGENCY_EXIT`` and on start/stop;
  a portfolio snapshot every ``store.snapshot_interval_s`` of engine time
  (:meth:`EventRecorder.on_clock`) and at stop; the strategy's state at stop
  and with every snapshot.

**Acknowledgement.** A record is *acknowledged to the operator* only once it
is committed: the writer calls back after the commit and the recorder then
logs ``order durable`` / ``fill durable`` (INFO, with the client order id,
status, trade id and position), and counts it in :attr:`EventRecorder.acked`.
Nothing is logged as acknowledged that a crash could lose. Orders reach the
venue before they are on disk (the hot path never waits); an order the venue
has and the store lost in a crash is found by reconciliation at the next start
(adopted or cancelled per ``[reconcile] unknown_orders``).
"""

from __future__ import annotations

import logging
import math
import threading
from typing import TYPE_CHECKING, Any

import orjson

from engine.events import (
    EmergencyExit,
    EngineStarted,
    EngineStopped,
    EventType,
    OrderCancelled,
    OrderFilled,
    OrderPlaced,
    OrderRejected,
    RiskAlert,
    SignalExecuted,
    SignalGenerated,
    SignalRejected,
)

if TYPE_CHECKING:
    from engine.engine import TradingEngine
    from engine.orders import Order
    from engine.store.writer import StoreWriter, Write

__all__ = ["EventRecorder", "account_state", "order_row"]

_log = logging.getLogger("ats.store")

_NS = 1_000_000_000


def _opt(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def order_row(order: Order, engine_id: str) -> dict[str, Any]:
    """The ``orders`` row of ``order`` as it is now."""
    return {
        "client_order_id": order.client_order_id,
        "engine_id": engine_id,
        "venue": order.venue,
        "symbol": order.symbol,
        "side": str(order.side),
        "order_type": str(order.order_type),
        "time_in_force": str(order.time_in_force),
        "quantity": order.quantity,
        "price": _opt(order.price),
        "stop_price": _opt(order.stop_price),
        "status": str(order.status),
        "filled_quantity": order.filled_quantity,
        "average_price": order.average_fill_price if order.filled_quantity > 0 else None,
        "strategy": order.strategy,
        "reduce_only": order.reduce_only,
        "venue_order_id": None,
        "reason": order.reject_reason or None,
        "created_ts": order.ts_created,
        "updated_ts": order.ts_updated,
    }


def account_state(engine: TradingEngine) -> dict[str, Any]:
    """What a restart needs of the portfolio besides positions (JSON-able)."""
    p = engine.portfolio
    return {
        "cash": p.cash,
        "fees": p.fees,
        "funding_paid": p.funding_paid,
        "realized_pnl": p.realized_pnl,
        "fills": p.fills,
        "peak_equity": p.peak_equity,
        "max_drawdown": p.max_drawdown,
        "currency": p.currency,
    }


def _trading_state(engine: TradingEngine) -> dict[str, Any]:
    risk = engine.risk
    return {
        "state": risk.trading_state.name,
        "halt_reason": risk.halt_reason,
        "halt_ts": risk.halt_ts,
    }


class EventRecorder:
    """Write the engine's records through ``writer``; see the module docstring.

    Parameters
    ----------
    engine : TradingEngine
        Its bus is subscribed to; its orders, portfolio, risk state and
        strategy are read when an event arrives.
    writer : StoreWriter
        Commits the rows on its own thread.
    engine_id : str
        Written into every durable row (several engines can share a database).
    run_id : str
        Names this run's signals.
    snapshot_interval_s : float
        Engine-clock period of portfolio snapshots (:meth:`on_clock`).
    """

    def __init__(
        self,
        engine: TradingEngine,
        writer: StoreWriter,
        *,
        engine_id: str,
        run_id: str,
        snapshot_interval_s: float = 60.0,
    ) -> None:
        self.engine = engine
        self.writer = writer
        self.engine_id = engine_id
        self.run_id = run_id
        self._snapshot_ns = max(1, int(snapshot_interval_s * _NS))
        self._next_snapshot = 0
        #: seq → (kind, fields) waiting for their commit
        self._pending_acks: dict[int, tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        #: signal id → its row, until the signal is executed or rejected
        self._signals: dict[int, dict[str, Any]] = {}
        #: Records acknowledged (committed) so far, by kind.
        self.acked: dict[str, int] = {"order": 0, "fill": 0}
        writer.add_listener(self._committed)
        bus = engine.bus
        bus.subscribe(EventType.ORDER_PLACED, self._order_event)
        bus.subscribe(EventType.ORDER_CANCELLED, self._order_event)
        bus.subscribe(EventType.ORDER_REJECTED, self._order_event)
        bus.subscribe(EventType.ORDER_FILLED, self._fill)
        bus.subscribe(EventType.SIGNAL_GENERATED, self._signal_generated)
        bus.subscribe(EventType.SIGNAL_EXECUTED, self._signal_done)
        bus.subscribe(EventType.SIGNAL_REJECTED, self._signal_done)
        bus.subscribe(EventType.RISK_ALERT, self._risk_event)
        bus.subscribe(EventType.EMERGENCY_EXIT, self._risk_event)
        bus.subscribe(EventType.ENGINE_STARTED, self._started)
        bus.subscribe(EventType.ENGINE_STOPPED, self._stopped)

    # -- writer thread ------------------------------------------------------------------------

    def _committed(self, seq: int) -> None:
        # the writer commits in submit order: everything up to seq is durable now
        pending = self._pending_acks
        if not pending:
            return
        with self._lock:
            done = [pending.pop(k) for k in sorted(k for k in pending if k <= seq)]
        for kind, fields in done:
            self.acked[kind] += 1
            _log.info(f"{kind} durable", extra={"fields": fields})

    def _submit(self, writes: list[Write], ack: tuple[str, dict[str, Any]] | None) -> int:
        seq = self.writer.submit(writes)
        if ack is not None:
            with self._lock:
                self._pending_acks[seq] = ack
            if seq <= self.writer.durable_seq:  # committed before we registered it
                self._committed(self.writer.durable_seq)
        return seq

    # -- bus handlers (engine thread) ---------------------------------------------------------

    def _order_event(self, event: OrderPlaced | OrderCancelled | OrderRejected) -> None:
        order = self.engine.execution.orders.get(event.client_order_id)
        if order is None:  # refused by risk before it was tracked: the signal row says why
            return
        row = order_row(order, self.engine_id)
        if isinstance(event, OrderCancelled | OrderRejected):
            row["reason"] = event.reason
        self._submit(
            [("orders", [row], "upsert")],
            ("order", {"client_order_id": order.client_order_id, "status": row["status"]}),
        )

    def _fill(self, event: OrderFilled) -> None:
        engine = self.engine
        order = engine.execution.orders.get(event.client_order_id)
        position = engine.portfolio.positions.get(event.symbol)
        trade_id = event.trade_id or f"#{event.fill_id}"
        writes: list[Write] = [
            (
                "trades",
                [
                    {
                        "client_order_id": event.client_order_id,
                        "trade_id": trade_id,
                        "engine_id": self.engine_id,
                        "venue": event.venue,
                        "symbol": event.symbol,
                        "side": event.side,
                        "quantity": event.quantity,
                        "price": event.price,
                        "fee": event.fee,
                        "fee_currency": event.fee_currency,
                        "liquidity": event.liquidity,
                        "ts": event.ts,
                    }
                ],
                "ignore",
            ),
            (
                "engine_state",
                [self._state_row("account", account_state(engine), event.ts)],
                "upsert",
            ),
        ]
        if order is not None:
            writes.append(("orders", [order_row(order, self.engine_id)], "upsert"))
        quantity = 0.0
        if position is not None:
            quantity = position.quantity
            writes.append(
                (
                    "positions",
                    [
                        {
                            "engine_id": self.engine_id,
                            "symbol": event.symbol,
                            "quantity": position.quantity,
                            "average_price": position.average_price,
                            "realized_pnl": position.realized_pnl,
                            "updated_ts": event.ts,
                        }
                    ],
                    "upsert",
                )
            )
        self._submit(
            writes,
            (
                "fill",
                {
                    "client_order_id": event.client_order_id,
                    "trade_id": trade_id,
                    "symbol": event.symbol,
                    "side": event.side,
                    "quantity": event.quantity,
                    "price": event.price,
                    "position": quantity,
                },
            ),
        )

    def _signal_generated(self, event: SignalGenerated) -> None:
        self._signals[event.signal_id] = {
            "run_id": self.run_id,
            "signal_id": event.signal_id,
            "engine_id": self.engine_id,
            "ts": event.ts,
            "symbol": event.symbol,
            "side": event.side,
            "confidence": event.confidence,
            "price": event.price,
            "quantity": event.quantity,
            "strategy": event.strategy,
            "status": "generated",
            "client_order_id": None,
            "reason": None,
        }

    def _signal_done(self, event: SignalExecuted | SignalRejected) -> None:
        row = self._signals.pop(event.signal_id, None)
        if row is None:
            return
        if isinstance(event, SignalExecuted):
            row["status"] = "executed"
            row["client_order_id"] = event.client_order_id
        else:
            row["status"] = "rejected"
            row["reason"] = event.reason
        self.writer.append("signals", [row])

    def _risk_event(self, event: RiskAlert | EmergencyExit) -> None:
        self.save_trading_state(event.ts)

    def _started(self, event: EngineStarted) -> None:
        run = {"run_id": self.run_id, "mode": event.mode, "started_ts": event.ts}
        rows = [
            self._state_row("run", run, event.ts),
            self._state_row("trading", _trading_state(self.engine), event.ts),
        ]
        self._submit([("engine_state", rows, "upsert")], None)
        self._next_snapshot = event.ts + self._snapshot_ns

    def _stopped(self, event: EngineStopped) -> None:
        if self._signals:  # generated but never executed or rejected
            self.writer.append("signals", list(self._signals.values()))
            self._signals.clear()
        self.snapshot(event.ts)

    # -- periodic -----------------------------------------------------------------------------

    def on_clock(self, ts: int) -> None:
        """Write a snapshot when one is due (call it now and then from the run loop)."""
        if ts >= self._next_snapshot:
            self.snapshot(ts)

    def snapshot(self, ts: int) -> None:
        """Write a portfolio snapshot, the trading state and the strategy's state now."""
        self._next_snapshot = ts + self._snapshot_ns
        engine = self.engine
        p = engine.portfolio
        self.writer.append(
            "portfolio_snapshots",
            [
                {
                    "engine_id": self.engine_id,
                    "ts": ts,
                    "cash": p.cash,
                    "equity": p.equity,
                    "gross_exposure": p.gross_exposure,
                    "realized_pnl": p.realized_pnl,
                    "unrealized_pnl": p.unrealized_pnl,
                    "fees": p.fees,
                    "max_drawdown": p.max_drawdown,
                    "trading_state": engine.risk.trading_state.name,
                }
            ],
        )
        rows = [
            self._state_row("trading", _trading_state(engine), ts),
            self._state_row("account", account_state(engine), ts),
            self._state_row("strategy", engine.strategy.get_state(), ts),
        ]
        self._submit([("engine_state", rows, "upsert")], None)

    def save_trading_state(self, ts: int) -> int:
        """Write the trading state (ACTIVE / REDUCING / HALTED and why) durably; return its seq."""
        return self._submit(
            [
                (
                    "engine_state",
                    [self._state_row("trading", _trading_state(self.engine), ts)],
                    "upsert",
                )
            ],
            None,
        )

    def _state_row(self, key: str, value: dict[str, Any], ts: int) -> dict[str, Any]:
        return {
            "engine_id": self.engine_id,
            "key": key,
            "value": orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
            "updated_ts": ts,
        }
