"""Restart from the store: positions, open orders, account, trading state, strategy state.

:func:`load_state` reads what :class:`engine.store.recorder.EventRecorder`
wrote for one ``engine_id``; :func:`restore_engine` puts it into a
:class:`~engine.engine.TradingEngine` before ``start()``. The venue is then
reconciled as usual (live mode: ``engine.reconcile``), which settles what the
store could not know: fills made while the engine was down, orders the venue
cancelled, an order sent just before a crash and never recorded.

A HALTED trading state survives the restart: the engine comes back halted,
with the original reason, until an admin resets it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from engine.orders import OPEN_STATUSES, Order, OrderStatus, OrderType, Side, TimeInForce
from engine.risk import TradingState

if TYPE_CHECKING:
    from engine.engine import TradingEngine
    from engine.store.base import Store

__all__ = ["RestoredState", "load_state", "restore_engine"]

_log = logging.getLogger("ats.store")

_OPEN = tuple(sorted(s.value for s in OPEN_STATUSES))
_IN_OPEN = "(" + ", ".join("?" * len(_OPEN)) + ")"


@dataclass(slots=True)
class RestoredState:
    """What the store holds for one engine."""

    engine_id: str
    #: symbol → (quantity, average_price, realized_pnl)
    positions: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    #: open orders' rows (dicts with the ``orders`` columns)
    open_orders: list[dict[str, Any]] = field(default_factory=list)
    #: trade ids booked per open order (so a fill reported again is not booked twice)
    fills_by_order: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    account: dict[str, Any] | None = None
    trading: dict[str, Any] | None = None
    strategy: dict[str, Any] | None = None
    run: dict[str, Any] | None = None

    @property
    def empty(self) -> bool:
        """True when the store has nothing for this engine (a first start)."""
        return not (self.positions or self.open_orders or self.account or self.trading)

    def summary(self) -> dict[str, Any]:
        """Plain values for a run's summary and the log."""
        return {
            "engine_id": self.engine_id,
            "positions": {s: q for s, (q, _, _) in self.positions.items() if q != 0.0},
            "open_orders": [r["client_order_id"] for r in self.open_orders],
            "trading_state": (self.trading or {}).get("state", "ACTIVE"),
            "previous_run": (self.run or {}).get("run_id"),
        }


def _rows(table: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def load_state(store: Store, engine_id: str) -> RestoredState:
    """Read ``engine_id``'s positions, open orders, account and saved states."""
    state = RestoredState(engine_id)
    for row in _rows(
        store.query(
            "SELECT symbol, quantity, average_price, realized_pnl FROM positions "
            "WHERE engine_id = ? ORDER BY symbol",
            [engine_id],
        )
    ):
        state.positions[row["symbol"]] = (
            row["quantity"],
            row["average_price"],
            row["realized_pnl"],
        )
    state.open_orders = _rows(
        store.query(
            f"SELECT * FROM orders WHERE engine_id = ? AND status IN {_IN_OPEN} "
            "ORDER BY created_ts, client_order_id",
            [engine_id, *_OPEN],
        )
    )
    if state.open_orders:
        for row in _rows(
            store.query(
                "SELECT t.client_order_id, t.trade_id, t.quantity FROM trades t "
                "JOIN orders o ON o.client_order_id = t.client_order_id "
                f"WHERE o.engine_id = ? AND o.status IN {_IN_OPEN} ORDER BY t.ts",
                [engine_id, *_OPEN],
            )
        ):
            state.fills_by_order.setdefault(row["client_order_id"], []).append(
                (row["trade_id"], row["quantity"])
            )
    for row in _rows(
        store.query("SELECT key, value FROM engine_state WHERE engine_id = ?", [engine_id])
    ):
        value = orjson.loads(row["value"])
        if row["key"] in ("account", "trading", "strategy", "run"):
            setattr(state, row["key"], value)
    return state


def _order(row: dict[str, Any]) -> Order:
    price = row["price"]
    stop = row["stop_price"]
    order = Order(
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        venue=row["venue"],
        side=Side(row["side"]),
        order_type=OrderType(row["order_type"]),
        quantity=row["quantity"],
        price=math.nan if price is None else price,
        ts_created=row["created_ts"],
        strategy=row["strategy"],
        time_in_force=TimeInForce(row["time_in_force"]),
        stop_price=math.nan if stop is None else stop,
        reduce_only=row["reduce_only"],
    )
    order.status = OrderStatus(row["status"])
    order.filled_quantity = row["filled_quantity"]
    order.average_fill_price = row["average_price"] or 0.0
    order.ts_updated = row["updated_ts"]
    return order


def restore_engine(engine: TradingEngine, state: RestoredState) -> None:
    """Put ``state`` into ``engine`` (before ``engine.start()``).

    Raises ``ValueError`` naming the symbol when the store has a position or
    an open order in a symbol the engine does not trade (the operator must
    add it or close it; silently dropping a position would be worse).
    """
    portfolio = engine.portfolio
    unknown = sorted(
        {s for s, (q, _, _) in state.positions.items() if q != 0.0 and s not in engine.markets}
        | {r["symbol"] for r in state.open_orders if r["symbol"] not in engine.markets}
    )
    if unknown:
        raise ValueError(
            f"store {state.engine_id!r} has positions or open orders in {', '.join(unknown)}, "
            f"which engine.symbols does not trade; add them or use another store.engine_id"
        )
    account = state.account
    if account is not None:
        portfolio.cash = float(account["cash"])
        portfolio.fees = float(account["fees"])
        portfolio.funding_paid = float(account.get("funding_paid", 0.0))
        portfolio.realized_pnl = float(account["realized_pnl"])
        portfolio.fills = int(account["fills"])
        portfolio.peak_equity = float(account["peak_equity"])
        portfolio.max_drawdown = float(account["max_drawdown"])
    for symbol, (quantity, average_price, realized) in state.positions.items():
        if symbol not in engine.markets:
            continue  # flat in a symbol no longer traded
        position = portfolio.position(symbol)
        position.quantity = quantity
        position.average_price = average_price
        position.realized_pnl = realized
        position.mark_price = average_price if quantity != 0.0 else math.nan
    for row in state.open_orders:
        order = _order(row)
        engine.execution.track(order)
        fills = state.fills_by_order.get(order.client_order_id, [])
        cumulative = 0.0
        for trade_id, quantity in fills:
            cumulative += quantity
            engine.fill_dedup.fill_quantity(
                order.client_order_id,
                None if trade_id.startswith("#") else trade_id,
                quantity,
                cumulative_quantity=cumulative,
            )
    trading = state.trading
    if trading is not None and trading.get("state") == TradingState.HALTED.name:
        engine.risk.set_state(
            TradingState.HALTED, trading.get("halt_reason", ""), trading.get("halt_ts", 0)
        )
    elif trading is not None and trading.get("state") == TradingState.REDUCING.name:
        engine.risk.set_state(TradingState.REDUCING)
    if state.strategy:
        engine.strategy.set_state(state.strategy)
    _log.info("engine state restored", extra={"fields": state.summary()})
