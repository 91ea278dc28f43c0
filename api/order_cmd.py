"""``ats order`` and ``ats balance``: an operator's orders, through the risk engine, to a venue.

::

    ats order place  --venue V --symbol S --side buy|sell --type limit|market --qty Q
                     [--price P] [--json]
    ats order list   --venue V [--symbol S] [--json]
    ats order cancel --venue V --client-id ID [--symbol S] [--json]
    ats balance      --venue V [--json]

Venues: ``paper``, ``binance``, ``binance-usdm``, ``bybit-spot``, ``bybit-linear``,
``ib`` (see :mod:`api.brokers`; URLs from ``[venues.*]``, keys from the
environment only).

An operator's order takes a strategy order's path: it is built and rounded by
the engine's :class:`~engine.execution.ExecutionEngine` (its client order id
from the engine's generator, ``op<ms><rand>-1``), checked by the engine's
:class:`~engine.risk.RiskManager` with ``[risk]`` (position size, leverage,
sector, price collar, order size and notional, trading state), and sent with
:func:`engine.retry.execute_order` (retries that can never place it twice).
The checks see the account as the venue reports it: equity is the balance
of the symbol's quote (settlement) currency plus the value of the holding in
the symbol, the position is the venue's position (spot: the base asset's
balance), and orders are valued at the venue's reference price (the order
book mid; a limit order on a venue without one is valued at its limit price,
a market order there is refused). An operator's order has confidence 1.

Exit status: 0 done; 2 bad input or a refusal, reported on one line naming
the problem (unknown venue or symbol, a limit order without ``--price``, a
quantity that is not positive, below the lot size or the minimum notional,
a risk check with its reason, a venue's refusal, missing credentials); 1 the
venue could not be reached (the order's outcome is then stated).
"""

from __future__ import annotations

import argparse
import logging
import math
import secrets
import sys
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from adapters.replay import RecordingError
from api.brokers import VENUES, OperatorVenue, VenueNotAvailableError, build_venue
from engine.broker import (
    AuthenticationError,
    BrokerError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderAck,
    OrderNotFoundError,
    VenueOrder,
)
from engine.clock import WallClock
from engine.config import Config
from engine.execution import ExecutionEngine, OrderValidationError
from engine.instruments import Instrument, UnknownSymbolError
from engine.orders import Order, OrderStatus, OrderType, Side
from engine.retry import ExecutionFailedError, RetryPolicy, execute_order
from engine.risk import RiskManager

__all__ = ["COMMANDS", "OrderUsageError", "add_parser", "run"]

_log = logging.getLogger("ats.order")

#: ``build(name, config, symbols=...)`` → the venue (:func:`api.brokers.build_venue`).
VenueFactory = Callable[..., OperatorVenue]

#: The ``ats`` sub-commands this module runs.
COMMANDS: tuple[str, ...] = ("order", "balance")
#: ``Order.strategy`` of an operator's order.
OPERATOR = "operator"
_SIDES = {"buy": Side.BUY, "sell": Side.SELL}
_TYPES = {"limit": OrderType.LIMIT, "market": OrderType.MARKET}
#: Refusals that the same request meets again: bad input, exit 2.
_FINAL = (AuthenticationError, InvalidOrderError, InsufficientFundsError, OrderNotFoundError)
#: Known symbols listed in an "unknown symbol" message at most.
_LIST_SYMBOLS = 12


class OrderUsageError(ValueError):
    """Bad input or a refusal, reported on one line with exit status 2."""


def add_parser(sub: Any) -> None:
    """Register ``ats order place|list|cancel`` and ``ats balance`` on the ``ats`` parser."""

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--venue", required=True, help=f"one of: {', '.join(VENUES)}")
        p.add_argument("--json", action="store_true", help="print the result as one JSON object")
        p.add_argument("--config", help="TOML configuration (default: $ATS_CONFIG or built-in)")

    order = sub.add_parser("order", help="place, list or cancel orders on a venue (operator)")
    actions = order.add_subparsers(dest="order_command", required=True, metavar="ACTION")
    place = actions.add_parser("place", help="place an order (through the risk checks)")
    common(place)
    place.add_argument("--symbol", required=True, help="unified symbol, e.g. BTC/USDT")
    place.add_argument("--side", required=True, help="buy or sell")
    place.add_argument("--type", dest="order_type", required=True, help="limit or market")
    place.add_argument("--qty", required=True, help="quantity in the base asset (> 0)")
    place.add_argument("--price", help="limit price (limit orders only)")
    listing = actions.add_parser("list", help="list the venue's open orders")
    common(listing)
    listing.add_argument("--symbol", help="only this symbol")
    cancel = actions.add_parser("cancel", help="cancel an open order by its client order id")
    common(cancel)
    cancel.add_argument("--client-id", required=True, help="the order's client order id")
    cancel.add_argument("--symbol", help="where to look for it (ccxt venues)")
    balance = sub.add_parser("balance", help="show a venue's balances and positions")
    common(balance)


# -- input ---------------------------------------------------------------------------------------


def _number(option: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise OrderUsageError(f"{option} must be a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise OrderUsageError(f"{option} must be > 0, got {text}")
    return value


class _PlaceRequest:
    """The validated options of ``ats order place``."""

    def __init__(self, args: argparse.Namespace) -> None:
        side = _SIDES.get(args.side.lower())
        if side is None:
            raise OrderUsageError(f"--side must be buy or sell, got {args.side!r}")
        order_type = _TYPES.get(args.order_type.lower())
        if order_type is None:
            raise OrderUsageError(f"--type must be limit or market, got {args.order_type!r}")
        self.side = side
        self.order_type = order_type
        self.symbol: str = args.symbol
        self.quantity = _number("--qty", args.qty)
        if order_type is OrderType.LIMIT:
            if args.price is None:
                raise OrderUsageError("--price is required for --type limit")
            self.price = _number("--price", args.price)
        else:
            if args.price is not None:
                raise OrderUsageError("--price is only for --type limit (a market order has none)")
            self.price = math.nan


def _check_venue(name: str) -> None:
    if name not in VENUES:
        raise OrderUsageError(f"unknown venue {name!r} (one of: {', '.join(VENUES)})")


# -- output --------------------------------------------------------------------------------------


def _num(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _order_row(venue: str, order: OrderAck) -> dict[str, Any]:
    row: dict[str, Any] = {
        "venue": venue,
        "client_order_id": order.client_order_id,
        "venue_order_id": order.venue_order_id,
    }
    if isinstance(order, VenueOrder):
        row.update(
            symbol=order.symbol,
            side=str(order.side),
            quantity=order.quantity,
            price=_num(order.price),
        )
    row.update(
        status=str(order.status),
        filled_quantity=order.filled_quantity,
        average_price=order.average_price if order.filled_quantity > 0 else None,
    )
    return row


def _emit(payload: Mapping[str, Any], as_json: bool, text: str) -> None:
    sys.stdout.write((orjson.dumps(payload).decode() if as_json else text) + "\n")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.10g}"


# -- commands ------------------------------------------------------------------------------------


def _instrument(venue: OperatorVenue, symbol: str) -> Instrument:
    try:
        return venue.instruments.get(symbol)
    except UnknownSymbolError:
        known = sorted(i.symbol for i in venue.instruments)
        shown = ", ".join(known[:_LIST_SYMBOLS]) + (", ..." if len(known) > _LIST_SYMBOLS else "")
        raise OrderUsageError(
            f"unknown symbol {symbol!r} on venue {venue.name} (known: {shown or 'none'})"
        ) from None


async def _account_view(
    venue: OperatorVenue, instrument: Instrument, reference: float
) -> tuple[float, float, float]:
    """``(position, equity, gross exposure)`` of the symbol as the venue reports the account."""
    balances = {b.asset: b.total for b in await venue.connector.get_balance()}
    held = [
        p.quantity for p in await venue.connector.get_positions() if p.symbol == instrument.symbol
    ]
    if held:
        position = sum(held)
    elif instrument.is_margined:
        position = 0.0
    else:  # spot: the holding is the base asset's balance
        position = balances.get(instrument.base, 0.0)
    value = position * reference * instrument.contract_multiplier
    cash = balances.get(instrument.settlement_currency, 0.0)
    # margined: the wallet is the equity (unrealized P&L left out); funded: cash + holding
    equity = cash if instrument.is_margined else cash + value
    return position, equity, abs(value)


async def _place(venue: OperatorVenue, config: Config, args: argparse.Namespace) -> int:
    request = _PlaceRequest(args)
    instrument = _instrument(venue, request.symbol)
    reference = await venue.reference_price(instrument.symbol)
    if math.isnan(reference):
        if request.order_type is OrderType.MARKET:
            raise OrderUsageError(
                f"no reference price for {instrument.symbol} on venue {venue.name}: a market "
                "order cannot be valued there (use --type limit)"
            )
        reference = request.price
    clock = WallClock()
    now = clock.now_ns()
    execution = ExecutionEngine(f"op{now // 1_000_000:x}{secrets.token_hex(2)}")
    try:
        order = execution.build_order(
            instrument=instrument,
            side=request.side,
            order_type=request.order_type,
            quantity=request.quantity,
            price=request.price if request.order_type is OrderType.LIMIT else reference,
            ts=now,
            strategy=OPERATOR,
        )
    except OrderValidationError as exc:
        raise OrderUsageError(str(exc)) from None
    position, equity, gross = await _account_view(venue, instrument, reference)
    risk = RiskManager(config.risk)
    price = order.price if order.order_type is OrderType.LIMIT else reference
    decision = risk.check(
        symbol=instrument.symbol,
        side_sign=order.side.sign,
        quantity=order.quantity,
        price=price,
        reference_price=reference,
        confidence=1.0,
        position_qty=position,
        gross_exposure=gross,
        equity=equity,
        multiplier=instrument.contract_multiplier,
        allow_short=instrument.is_margined,
        sector=instrument.sector,
        sector_exposure=gross,
        ts=now,
    )
    if not decision.passed:
        raise OrderUsageError(f"risk check {decision.check} failed: {decision.reason}")
    execution.track(order)
    journal = _OrderJournal.open(config)
    try:
        journal.write(order, None)  # write-ahead: a crash while sending leaves the intent
        try:
            ack = await execute_order(venue.connector, order, RetryPolicy())
        except BaseException as exc:
            order.reject_reason = f"outcome unknown: {type(exc).__name__}: {exc}"[:500]
            journal.write(order, None)
            raise
        ack = await _final_ack(venue, order, ack)
        journal.write(order, ack)  # durable before the operator sees the acknowledgement
    finally:
        journal.close()
    row = _placed_row(venue.name, order, ack)
    at = "" if order.order_type is OrderType.MARKET else f" @ {order.price:.10g}"
    _emit(
        row,
        args.json,
        f"{order.client_order_id}: {order.side} {order.quantity:.10g} {order.symbol} "
        f"{order.order_type}{at} on {venue.name}: {ack.status} "
        f"(filled {ack.filled_quantity:.10g} at {_fmt(row['average_price'])})",
    )
    return 0


async def _final_ack(venue: OperatorVenue, order: Order, ack: OrderAck) -> OrderAck:
    """Some venues acknowledge a market order before matching it (Bybit): get its fill."""
    if order.order_type is OrderType.MARKET and ack.status in (
        OrderStatus.NEW,
        OrderStatus.ACCEPTED,
    ):
        try:
            return await venue.connector.get_order(order.client_order_id)
        except BrokerError as exc:  # the acknowledgement stands; `ats order list` shows more
            _log.warning(
                "market order placed, its fill not yet visible",
                extra={"fields": {"client_order_id": order.client_order_id, "error": str(exc)}},
            )
    return ack


class _OrderJournal:
    """The operator's orders in the store (``orders``, ``engine_id`` "operator").

    The order is written before it is sent and again with the venue's answer,
    each time committed before going on: an acknowledgement printed to the
    operator is on disk. With ``store.db`` empty nothing is written.
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    @classmethod
    def open(cls, config: Config) -> _OrderJournal:
        if not config.store.db:
            return cls(None)
        from engine.store import open_store

        return cls(open_store(config.store.db, ticks_path=config.store.ticks_db))

    def write(self, order: Order, ack: OrderAck | None) -> None:
        if self.store is None:
            return
        from engine.store.recorder import order_row

        row = order_row(order, OPERATOR)
        if ack is not None:
            row.update(
                status=str(ack.status),
                filled_quantity=ack.filled_quantity,
                average_price=ack.average_price if ack.filled_quantity > 0 else None,
                venue_order_id=ack.venue_order_id or None,
            )
        self.store.insert("orders", [row], mode="upsert")

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def _placed_row(venue: str, order: Order, ack: OrderAck) -> dict[str, Any]:
    return {
        "venue": venue,
        "client_order_id": order.client_order_id,
        "venue_order_id": ack.venue_order_id,
        "symbol": order.symbol,
        "side": str(order.side),
        "type": str(order.order_type),
        "quantity": order.quantity,
        "price": _num(order.price),
        "status": str(ack.status),
        "filled_quantity": ack.filled_quantity,
        "average_price": ack.average_price if ack.filled_quantity > 0 else None,
    }


async def _list(venue: OperatorVenue, args: argparse.Namespace) -> int:
    orders = await venue.connector.get_open_orders(args.symbol)
    rows = [_order_row(venue.name, o) for o in orders]
    lines = [
        f"{r['client_order_id']:<24} {r['symbol']:<16} {r['side']:<4} {r['quantity']:>14.10g} "
        f"@ {_fmt(r['price']):<12} {r['status']:<16} filled {r['filled_quantity']:.10g}"
        for r in rows
    ]
    text = "\n".join(lines) if lines else f"no open orders on venue {venue.name}"
    _emit({"venue": venue.name, "orders": rows}, args.json, text)
    return 0


async def _cancel(venue: OperatorVenue, args: argparse.Namespace) -> int:
    cid = args.client_id
    try:
        ack = await venue.connector.cancel_order(cid)
    except OrderNotFoundError:
        raise OrderUsageError(
            f"no open order with client id {cid!r} on venue {venue.name}"
        ) from None
    row = _order_row(venue.name, ack)
    _emit(
        row,
        args.json,
        f"{cid} on {venue.name}: {ack.status} (filled {ack.filled_quantity:.10g})",
    )
    return 0


async def _balance(venue: OperatorVenue, args: argparse.Namespace) -> int:
    balances = await venue.connector.get_balance()
    positions = await venue.connector.get_positions()
    payload = {
        "venue": venue.name,
        "balances": [
            {"asset": b.asset, "free": b.free, "locked": b.locked, "total": b.total}
            for b in balances
        ],
        "positions": [
            {"symbol": p.symbol, "quantity": p.quantity, "average_price": p.average_price}
            for p in positions
        ],
    }
    lines = [f"{b.asset:<8} free {b.free:.10g}  locked {b.locked:.10g}" for b in balances]
    lines += [
        f"{p.symbol:<16} position {p.quantity:.10g} @ {p.average_price:.10g}" for p in positions
    ]
    _emit(payload, args.json, "\n".join(lines) or f"nothing held on venue {venue.name}")
    return 0


async def _main(args: argparse.Namespace, config: Config, build: VenueFactory) -> int:
    symbols = (args.symbol,) if getattr(args, "symbol", None) else ()
    venue = build(args.venue, config, symbols=symbols)
    try:
        await venue.connect()
        if args.command == "balance":
            return await _balance(venue, args)
        if args.order_command == "place":
            return await _place(venue, config, args)
        if args.order_command == "list":
            return await _list(venue, args)
        return await _cancel(venue, args)
    finally:
        await venue.close()


def run(args: argparse.Namespace, config: Config, build: VenueFactory = build_venue) -> int:
    """Run ``ats order ...`` or ``ats balance``; return the exit status (module docstring).

    ``build`` makes the venue (:func:`api.brokers.build_venue`; tests pass one
    whose IB session talks to a simulated TWS).
    """
    import uvloop

    try:
        _check_venue(args.venue)
        if args.command == "order" and args.order_command == "place":
            _PlaceRequest(args)  # bad options are reported before any connection
        return uvloop.run(_main(args, config, build))
    except (OrderUsageError, VenueNotAvailableError) as exc:
        return _fail(str(exc), 2)
    except ExecutionFailedError as exc:
        return _fail(f"venue {args.venue}: {exc}", 1)
    except _FINAL as exc:
        return _fail(f"venue {args.venue} refused: {exc}", 2)
    except BrokerError as exc:
        return _fail(f"venue {args.venue} unreachable ({type(exc).__name__}): {exc}", 1)
    except RecordingError as exc:  # the paper venue's market data
        return _fail(f"venue {args.venue}: {exc}", 2)


def _fail(message: str, status: int) -> int:
    sys.stderr.write(f"ats: error: {message}\n")
    return status
