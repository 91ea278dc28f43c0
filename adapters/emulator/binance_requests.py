"""Binance's request parsing and error answers, for the emulator's trading endpoints.

:func:`parse_new_order` reads a ``POST order`` request the way Binance does
(mandatory parameters, enums, decimal syntax, client order id pattern) and
:func:`reject_error` gives a matching-engine refusal Binance's code and
message; :func:`strip_signature` splits the signed text from the signature.
The codes and messages are those of Binance's spot error list (``errors.md``)
and of its USDⓈ-M futures error list, as :mod:`adapters.emulator.binance_trading`
documents.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from adapters.emulator.binance_trading_config import ExchangeInfo
from adapters.emulator.matching_types import OrderRejectedError, OrderRequest, RejectReason
from adapters.emulator.trading_common import ApiError

__all__ = [
    "ApiError",
    "decimal_param",
    "int_param",
    "missing",
    "parse_new_order",
    "reject_error",
    "strip_signature",
]

_DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_SPOT_CID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_FUTURES_CID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def missing(name: str) -> ApiError:
    """Binance's ``-1102`` for a mandatory parameter not sent."""
    return ApiError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def decimal_param(params: dict[str, str], name: str) -> Decimal:
    """A mandatory decimal parameter (``-1102`` when absent, ``-1100`` when not a decimal)."""
    text = params.get(name, "")
    if not text:
        raise missing(name)
    if not _DECIMAL_RE.match(text):
        raise ApiError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is "
            "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        )
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise missing(name) from None


def int_param(params: dict[str, str], name: str) -> int | None:
    """An optional integer parameter (``-1100`` when not an integer)."""
    text = params.get(name)
    if text is None or text == "":
        return None
    if not text.lstrip("-").isdigit():
        raise ApiError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(text)


def strip_signature(raw: str) -> tuple[str, str | None]:
    """Split ``a=1&signature=ff&b=2`` into the signed text ``a=1&b=2`` and ``ff``.

    Examples
    --------
    >>> strip_signature("symbol=BTCUSDT&timestamp=1&signature=ab")
    ('symbol=BTCUSDT&timestamp=1', 'ab')
    """
    if "signature=" not in raw:
        return raw, None
    kept, signature = [], None
    for part in raw.split("&"):
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def parse_new_order(params: dict[str, str], symbol: str, *, futures: bool) -> OrderRequest:
    """The :class:`OrderRequest` of a new order; the Binance error of its first bad field."""
    side = params.get("side", "").upper()
    if not side:
        raise missing("side")
    if side not in ("BUY", "SELL"):
        raise ApiError(-1117, "Invalid side.")
    order_type = params.get("type", "").upper()
    if not order_type:
        raise missing("type")
    allowed = ("LIMIT", "MARKET") if futures else ("LIMIT", "MARKET", "LIMIT_MAKER")
    if order_type not in allowed:
        raise ApiError(-1116, "Invalid orderType.")
    cid = params.get("newClientOrderId", "")
    pattern = _FUTURES_CID_RE if futures else _SPOT_CID_RE
    if cid and not pattern.match(cid):
        if futures:
            raise ApiError(-4015, "Client order id is not valid.")
        raise ApiError(
            -1100,
            "Illegal characters found in parameter 'newClientOrderId'; legal range is "
            "'^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
        )
    quantity = decimal_param(params, "quantity")
    post_only = order_type == "LIMIT_MAKER"
    tif = params.get("timeInForce", "").upper()
    if order_type == "LIMIT":
        if not tif:
            raise missing("timeInForce")
        if tif not in (("GTC", "IOC", "FOK", "GTX") if futures else ("GTC", "IOC", "FOK")):
            raise ApiError(-1115, "Invalid timeInForce.")
        price = decimal_param(params, "price")
        post_only = tif == "GTX"
    elif order_type == "LIMIT_MAKER":
        price = decimal_param(params, "price")
        tif = "GTC"
    else:
        if params.get("price"):
            raise ApiError(-1106, "Parameter 'price' sent when not required.")
        price, tif = Decimal(0), "IOC" if futures else "GTC"
    return OrderRequest(
        symbol=symbol,
        side=side,
        order_type="LIMIT" if order_type == "LIMIT_MAKER" else order_type,
        quantity=quantity,
        price=price,
        time_in_force="GTC" if tif == "GTX" else tif,
        post_only=post_only,
        reduce_only=params.get("reduceOnly", "false").lower() == "true",
        client_order_id=cid,
    )


def reject_error(
    request: OrderRequest, exc: OrderRejectedError, info: ExchangeInfo, *, futures: bool
) -> ApiError:
    """Binance's code and message for a refusal of the matching engine."""
    reason = exc.reason
    spec = info.markets.get(request.symbol)
    if reason is RejectReason.UNKNOWN_SYMBOL:
        return ApiError(-1121, "Invalid symbol.")
    if reason in (RejectReason.PRICE_PRECISION, RejectReason.QUANTITY_PRECISION):
        if futures:
            return ApiError(-1111, "Precision is over the maximum defined for this asset.")
        name = "price" if reason is RejectReason.PRICE_PRECISION else "quantity"
        return ApiError(-1111, f"Parameter '{name}' has too much precision.")
    if reason is RejectReason.DUPLICATE_CLIENT_ORDER_ID:
        if futures:
            return ApiError(-4116, "ClientOrderId is duplicated.")
        return ApiError(-2010, "Duplicate order sent.")
    if reason is RejectReason.INSUFFICIENT_BALANCE:
        return ApiError(-2010, "Account has insufficient balance for requested action.")
    if reason is RejectReason.INSUFFICIENT_MARGIN:
        return ApiError(-2019, "Margin is insufficient.")
    if reason is RejectReason.WOULD_TAKE:
        if futures:
            return ApiError(
                -5022,
                "Due to the order could not be executed as maker, the Post Only order "
                "will be rejected.",
            )
        return ApiError(-2010, "Order would immediately match and take.")
    if reason is RejectReason.FOK_NOT_FILLED:
        return ApiError(
            -5021,
            "Due to the order could not be filled immediately, the FOK order has been rejected.",
        )
    if reason is RejectReason.REDUCE_ONLY:
        return ApiError(-2022, "ReduceOnly Order is rejected.")
    if futures and spec is not None:
        if reason is RejectReason.MIN_NOTIONAL:
            return ApiError(
                -4164,
                f"Order's notional must be no smaller than {_plain(spec.min_notional)} "
                "(unless you choose reduce only).",
            )
        if reason is RejectReason.PRICE_FILTER:
            if request.price < spec.min_price:
                return ApiError(-4013, "Price less than min price.")
            if spec.max_price > 0 and request.price > spec.max_price:
                return ApiError(
                    -4016, f"Limit price can't be higher than {_plain(spec.max_price)}."
                )
            return ApiError(-4014, "Price not increased by tick size.")
    name = reason.value
    if reason is RejectReason.MIN_NOTIONAL and not futures:
        name = info.notional_filter.get(request.symbol, "MIN_NOTIONAL")
    return ApiError(-1013, f"Filter failure: {name}")
