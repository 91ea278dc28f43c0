"""Bybit v5's request parsing and error answers, for the emulator's trading endpoints.

:func:`parse_order_request` reads an ``order/create`` request the way Bybit does
(mandatory parameters, enums, decimal syntax, ``orderLinkId`` pattern) and
:func:`reject_error` gives a matching-engine refusal Bybit's ``retCode`` and
``retMsg``: the UTA spot codes (``1701xx``) or the linear ones (``110xxx``,
``10001``), as :mod:`adapters.emulator.bybit_trading` documents.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.emulator.matching_types import (
    MarketSpec,
    OrderRejectedError,
    OrderRequest,
    RejectReason,
)
from adapters.emulator.trading_common import ApiError

__all__ = ["decimal_param", "int_param", "parse_order_request", "reject_error"]

_DECIMAL_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
_LINK_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_ZERO = Decimal(0)


def decimal_param(params: dict[str, Any], name: str) -> Decimal:
    """A mandatory decimal parameter (``10001`` when absent or not a plain decimal)."""
    text = str(params.get(name) or "")
    if not _DECIMAL_RE.match(text):
        raise ApiError(10001, f"params error: {name} invalid: {text!r}")
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ApiError(10001, f"params error: {name} invalid") from None


def int_param(params: dict[str, Any], name: str, default: int) -> int:
    """An optional non-negative integer parameter (``10001`` when not one)."""
    text = str(params.get(name) or "")
    if not text:
        return default
    if not text.isdigit():
        raise ApiError(10001, f"params error: {name} invalid")
    return int(text)


def parse_order_request(params: dict[str, Any], symbol: str, *, spot: bool) -> OrderRequest:
    """A ``POST order/create`` as the matching engine's request (``symbol`` checked already)."""
    side = str(params.get("side", ""))
    if side not in ("Buy", "Sell"):
        raise ApiError(10001, f"params error: side invalid: {side!r}")
    order_type = str(params.get("orderType", ""))
    if order_type not in ("Limit", "Market"):
        raise ApiError(10001, f"params error: orderType invalid: {order_type!r}")
    link_id = str(params.get("orderLinkId") or "")
    if link_id and not _LINK_ID_RE.match(link_id):
        raise ApiError(10001, "params error: orderLinkId invalid")
    quantity = decimal_param(params, "qty")
    tif = str(params.get("timeInForce") or ("GTC" if order_type == "Limit" else "IOC"))
    if tif not in ("GTC", "IOC", "FOK", "PostOnly"):
        raise ApiError(10001, f"params error: timeInForce invalid: {tif!r}")
    reduce_only = params.get("reduceOnly") in (True, "true", "True")
    if reduce_only and spot:
        raise ApiError(10001, "params error: reduceOnly is not supported on spot")
    if order_type == "Market":
        unit = str(params.get("marketUnit") or ("quoteCoin" if side == "Buy" else "baseCoin"))
        if spot and unit != "baseCoin":
            raise ApiError(10001, "params error: the emulator takes marketUnit=baseCoin only")
        price, tif = _ZERO, "IOC"
    else:
        price = decimal_param(params, "price")
    return OrderRequest(
        symbol=symbol,
        side=side.upper(),
        order_type=order_type.upper(),
        quantity=quantity,
        price=price,
        time_in_force="GTC" if tif == "PostOnly" else tif,
        post_only=tif == "PostOnly",
        reduce_only=reduce_only,
        client_order_id=link_id,
    )


def reject_error(
    request: OrderRequest, exc: OrderRejectedError, spec: MarketSpec | None, *, spot: bool
) -> ApiError:
    """Bybit's ``retCode`` and ``retMsg`` of a matching-engine refusal (spot or linear codes)."""
    reason = exc.reason
    if reason is RejectReason.UNKNOWN_SYMBOL or spec is None:
        return ApiError(10001, f"params error: symbol invalid {request.symbol}")
    qty = request.quantity
    if reason in (RejectReason.LOT_SIZE, RejectReason.MARKET_LOT_SIZE):
        market = reason is RejectReason.MARKET_LOT_SIZE
        high = spec.market_max_qty if market else spec.max_qty
        if qty < spec.min_qty or qty <= 0:
            if spot:
                return ApiError(170136, "Order quantity lower than the minimum.")
            return ApiError(10001, "The number of contracts exceeds minimum limit allowed")
        if high > 0 and qty > high:
            if spot:
                return ApiError(170135, "Order quantity exceeded upper limit.")
            return ApiError(10001, "The number of contracts exceeds maximum limit allowed")
        return (
            ApiError(170137, "Order quantity has too many decimals.")
            if spot
            else (ApiError(10001, "Qty invalid"))
        )
    if reason is RejectReason.QUANTITY_PRECISION:
        if spot:
            return ApiError(170137, "Order quantity has too many decimals.")
        return ApiError(10001, "Qty invalid")
    if reason in (RejectReason.PRICE_FILTER, RejectReason.PRICE_PRECISION):
        price = request.price
        out_of_range = (
            price <= 0 or price < spec.min_price or (spec.max_price > 0 and price > spec.max_price)
        )
        if spot:
            return ApiError(170134, "Order price has too many decimals.")
        if out_of_range:
            return ApiError(110003, "Order price is out of permissible range")
        return ApiError(10001, "params error: price invalid, not a multiple of tickSize")
    if reason is RejectReason.MIN_NOTIONAL:
        if spot:
            return ApiError(170140, "Order value exceeded lower limit.")
        return ApiError(
            110094,
            f"Order does not meet minimum order value {spec.min_notional.normalize()}USDT",
        )
    if reason is RejectReason.INSUFFICIENT_BALANCE:
        return ApiError(170131, "Insufficient balance.")
    if reason is RejectReason.INSUFFICIENT_MARGIN:
        return ApiError(110007, "Insufficient available balance")
    if reason is RejectReason.REDUCE_ONLY:
        return ApiError(110017, "Reduce-only rule not satisfied")
    if reason is RejectReason.DUPLICATE_CLIENT_ORDER_ID:
        if spot:
            return ApiError(170141, "Duplicate clientOrderId.")
        return ApiError(110072, "OrderLinkedID is duplicate")
    return ApiError(10001, f"params error: {exc.detail}")
