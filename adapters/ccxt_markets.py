"""A market's precision and limits as ``Decimal``, and orders rounded to them at the edge.

:func:`market_rules_of` turns a ccxt market into :class:`MarketRules` (once, at
connect); :func:`wire_values` gives an order's quantity and price strings:
prices go to the nearest tick (ties to even); quantities must be on the lot
step: float noise is absorbed (``0.30000000000000004`` is ``0.3``), a quantity
really off the step is refused (``strict_lot_size``) or rounded down. Then the
market's limits: a quantity below the minimum (or rounded to 0), above the
maximum, a price outside the price limits, or a limit order below the minimum
notional is refused with an :class:`~engine.broker.InvalidOrderError` naming
the value and the limit (``"qty 0.0004 below min qty 0.001 for BTC/USDT"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

import msgspec

from engine.broker import InvalidOrderError
from engine.orders import Order

__all__ = ["MarketRules", "market_rules_of", "wire_values"]

#: Steps a quantity may be off the lot grid and still count as float noise, plus per step.
_GRID_TOLERANCE = Decimal("1e-9")
_GRID_RELATIVE = Decimal("1e-12")


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


def market_rules_of(market: Mapping[str, Any], *, decimal_places: bool) -> MarketRules:
    """The :class:`MarketRules` of a ccxt market (``decimal_places``: the client's precision
    mode counts decimals, else the precision is the step itself)."""
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}

    def step(value: Any) -> Decimal:
        if value is None:
            return Decimal(0)
        if decimal_places:  # a count of decimals
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


def wire_values(
    order: Order, rules: MarketRules, *, strict_lot_size: bool = True
) -> tuple[str, str | None]:
    """The quantity and price strings sent for ``order`` on the market of ``rules``, rounded
    and checked; ``strict_lot_size``: refuse a quantity off the lot step (else round it down).

    Raises
    ------
    InvalidOrderError
        Off the lot step (``strict_lot_size``), or outside the market's limits;
        the message names the value and the limit.
    """
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
        elif strict_lot_size:
            raise InvalidOrderError(
                f"qty {qty} not a multiple of lot size {_show(step)} for {symbol}"
            )
        else:
            qty = steps.to_integral_value(ROUND_DOWN) * step
        qty = qty.quantize(step)
    if qty <= 0 or (rules.min_qty is not None and qty < rules.min_qty):
        floor = rules.min_qty if rules.min_qty is not None else step
        raise InvalidOrderError(f"qty {order.quantity!r} below min qty {_show(floor)} for {symbol}")
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


def _plain(value: Decimal) -> str:
    """A decimal as a plain string, never in exponent form (``1E-5`` → ``0.00001``)."""
    return format(value, "f")


def _show(value: Decimal) -> str:
    """A decimal for a message: plain, without trailing zeros (``6E+4`` → ``60000``)."""
    return format(value.normalize(), "f")
