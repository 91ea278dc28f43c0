"""Engine events: one frozen msgspec Struct per event type, one topic constant each.

Events are immutable (``frozen=True``) and opt out of the cyclic garbage
collector (``gc=False``): they hold only scalars and strings, so they can never
be part of a reference cycle, and allocating millions of them during a replay
does not trigger GC passes.

Timestamps are int64 nanoseconds since the Unix epoch (UTC), taken from the
engine clock, never from the wall clock directly.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

import msgspec

__all__ = [
    "EVENT_TYPES",
    "EmergencyExit",
    "EngineError",
    "EngineStarted",
    "EngineStopped",
    "Event",
    "EventType",
    "MarketData",
    "OrderCancelled",
    "OrderFilled",
    "OrderPlaced",
    "OrderRejected",
    "PositionClosed",
    "PositionOpened",
    "PositionUpdated",
    "RiskAlert",
    "RiskCheckFailed",
    "RiskCheckPassed",
    "SignalExecuted",
    "SignalGenerated",
    "SignalRejected",
    "StateSaved",
    "TickerUpdate",
]


class EventType(StrEnum):
    """Topics on the bus; one per event class."""

    MARKET_DATA = "MARKET_DATA"
    TICKER_UPDATE = "TICKER_UPDATE"
    SIGNAL_GENERATED = "SIGNAL_GENERATED"
    SIGNAL_EXECUTED = "SIGNAL_EXECUTED"
    SIGNAL_REJECTED = "SIGNAL_REJECTED"
    ORDER_PLACED = "ORDER_PLACED"
    ORDER_FILLED = "ORDER_FILLED"
    ORDER_CANCELLED = "ORDER_CANCELLED"
    ORDER_REJECTED = "ORDER_REJECTED"
    POSITION_OPENED = "POSITION_OPENED"
    POSITION_CLOSED = "POSITION_CLOSED"
    POSITION_UPDATED = "POSITION_UPDATED"
    RISK_CHECK_PASSED = "RISK_CHECK_PASSED"
    RISK_CHECK_FAILED = "RISK_CHECK_FAILED"
    RISK_ALERT = "RISK_ALERT"
    EMERGENCY_EXIT = "EMERGENCY_EXIT"
    ENGINE_STARTED = "ENGINE_STARTED"
    ENGINE_STOPPED = "ENGINE_STOPPED"
    ENGINE_ERROR = "ENGINE_ERROR"
    STATE_SAVED = "STATE_SAVED"


class Event(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """Base of every event. ``ts`` is the engine-clock time in int64 ns."""

    ts: int

    #: The topic this event is published on (set on each subclass).
    TYPE: ClassVar[EventType]


class MarketData(Event, frozen=True, gc=False, kw_only=True):
    """A trade print seen on a venue (the market-data tick strategies consume)."""

    TYPE = EventType.MARKET_DATA
    symbol: str
    venue: str
    price: float
    quantity: float
    #: True when the buyer was the maker, i.e. the aggressor sold.
    is_buyer_maker: bool
    trade_id: int
    ts_event: int


class TickerUpdate(Event, frozen=True, gc=False, kw_only=True):
    """Best bid/offer as published by the venue (e.g. Binance ``bookTicker``)."""

    TYPE = EventType.TICKER_UPDATE
    symbol: str
    venue: str
    bid_price: float
    bid_quantity: float
    ask_price: float
    ask_quantity: float
    update_id: int


class SignalGenerated(Event, frozen=True, gc=False, kw_only=True):
    """A strategy produced a trading signal (before risk)."""

    TYPE = EventType.SIGNAL_GENERATED
    signal_id: int
    symbol: str
    side: str
    confidence: float
    price: float
    quantity: float
    strategy: str


class SignalExecuted(Event, frozen=True, gc=False, kw_only=True):
    """A signal passed risk and became an order."""

    TYPE = EventType.SIGNAL_EXECUTED
    signal_id: int
    client_order_id: str


class SignalRejected(Event, frozen=True, gc=False, kw_only=True):
    """A signal was not turned into an order; ``reason`` says why."""

    TYPE = EventType.SIGNAL_REJECTED
    signal_id: int
    symbol: str
    reason: str


class OrderPlaced(Event, frozen=True, gc=False, kw_only=True):
    """An order was handed to a venue."""

    TYPE = EventType.ORDER_PLACED
    client_order_id: str
    symbol: str
    venue: str
    side: str
    order_type: str
    quantity: float
    price: float


class OrderFilled(Event, frozen=True, gc=False, kw_only=True):
    """An order (partially) filled. One event per fill.

    ``fill_id`` numbers the engine's fills; ``trade_id`` is the venue's id of
    the fill (its idempotency key), "" when the venue gave none. Fills that
    reconciliation infers from an order's cumulative quantity carry
    ``reconcile:<client order id>:<cumulative quantity>``.
    """

    TYPE = EventType.ORDER_FILLED
    client_order_id: str
    fill_id: int
    symbol: str
    venue: str
    side: str
    quantity: float
    price: float
    fee: float
    fee_currency: str
    liquidity: str
    leaves_quantity: float
    trade_id: str = ""
    #: The order's filled quantity after this fill, when the venue says it (a venue stream);
    #: with ``trade_id`` the key that keeps a fill seen twice from being booked twice.
    cumulative_quantity: float | None = None


class OrderCancelled(Event, frozen=True, gc=False, kw_only=True):
    """An order was cancelled; ``reason`` says by whom or why."""

    TYPE = EventType.ORDER_CANCELLED
    client_order_id: str
    symbol: str
    reason: str


class OrderRejected(Event, frozen=True, gc=False, kw_only=True):
    """An order was refused (by our risk engine or by the venue)."""

    TYPE = EventType.ORDER_REJECTED
    client_order_id: str
    symbol: str
    reason: str


class PositionOpened(Event, frozen=True, gc=False, kw_only=True):
    """A position went from flat to non-flat."""

    TYPE = EventType.POSITION_OPENED
    symbol: str
    quantity: float
    average_price: float


class PositionUpdated(Event, frozen=True, gc=False, kw_only=True):
    """A non-flat position changed size."""

    TYPE = EventType.POSITION_UPDATED
    symbol: str
    quantity: float
    average_price: float
    realized_pnl: float


class PositionClosed(Event, frozen=True, gc=False, kw_only=True):
    """A position went back to flat."""

    TYPE = EventType.POSITION_CLOSED
    symbol: str
    realized_pnl: float


class RiskCheckPassed(Event, frozen=True, gc=False, kw_only=True):
    """An order passed every pre-trade check."""

    TYPE = EventType.RISK_CHECK_PASSED
    client_order_id: str
    symbol: str


class RiskCheckFailed(Event, frozen=True, gc=False, kw_only=True):
    """An order failed a pre-trade check; ``check`` names it, ``reason`` has the values."""

    TYPE = EventType.RISK_CHECK_FAILED
    client_order_id: str
    symbol: str
    check: str
    reason: str


class RiskAlert(Event, frozen=True, gc=False, kw_only=True):
    """Something the operator should see (stale feed, drawdown, resync...)."""

    TYPE = EventType.RISK_ALERT
    source: str
    message: str


class EmergencyExit(Event, frozen=True, gc=False, kw_only=True):
    """Kill switch: cancel all, flatten, halt."""

    TYPE = EventType.EMERGENCY_EXIT
    reason: str


class EngineStarted(Event, frozen=True, gc=False, kw_only=True):
    """The engine entered RUNNING."""

    TYPE = EventType.ENGINE_STARTED
    mode: str


class EngineStopped(Event, frozen=True, gc=False, kw_only=True):
    """The engine reached STOPPED."""

    TYPE = EventType.ENGINE_STOPPED
    reason: str


class EngineError(Event, frozen=True, gc=False, kw_only=True):
    """A component failed; ``source`` names it."""

    TYPE = EventType.ENGINE_ERROR
    source: str
    message: str


class StateSaved(Event, frozen=True, gc=False, kw_only=True):
    """Engine state was persisted."""

    TYPE = EventType.STATE_SAVED
    location: str


#: Event class per topic.
EVENT_TYPES: dict[EventType, type[Event]] = {
    cls.TYPE: cls
    for cls in (
        MarketData,
        TickerUpdate,
        SignalGenerated,
        SignalExecuted,
        SignalRejected,
        OrderPlaced,
        OrderFilled,
        OrderCancelled,
        OrderRejected,
        PositionOpened,
        PositionUpdated,
        PositionClosed,
        RiskCheckPassed,
        RiskCheckFailed,
        RiskAlert,
        EmergencyExit,
        EngineStarted,
        EngineStopped,
        EngineError,
        StateSaved,
    )
}
