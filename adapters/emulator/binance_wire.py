"""Binance's JSON shapes for the emulator's trading answers and user-data-stream events.

Each function turns a :mod:`adapters.emulator.matching` object into the body
Binance sends, with Binance's field names, order and number formats: spot
prices and quantities as strings with 8 decimals, futures ones with the
symbol's ``pricePrecision``/``quantityPrecision`` decimals, ids and times as
JSON integers. The shapes follow the Binance spot REST and user-data-stream
documentation and the USDⓈ-M futures documentation, checked against the
recorded responses in ``data/ccxt/binance_rest_responses_subset.json`` (the
tests compare the key sets).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.emulator.matching import Fill, MarketSpec, MatchingEngine, SimOrder

__all__ = [
    "futures_account",
    "futures_account_update",
    "futures_balance",
    "futures_order",
    "futures_order_update",
    "futures_position_risk",
    "futures_user_trade",
    "spot_account",
    "spot_account_position",
    "spot_cancel",
    "spot_execution_report",
    "spot_new_order",
    "spot_order",
    "spot_trade",
]

_SPOT_DECIMALS = 8
_ZERO = Decimal(0)


def fixed(value: Decimal, decimals: int) -> str:
    """``value`` with exactly ``decimals`` decimals (``fixed(Decimal("1.5"), 3) == "1.500"``)."""
    return f"{value:.{decimals}f}"


def _s(value: Decimal) -> str:
    return fixed(value, _SPOT_DECIMALS)


def _spot_type(order: SimOrder) -> str:
    return "LIMIT_MAKER" if order.post_only else order.order_type


def _spot_tif(order: SimOrder) -> str:
    return "GTC" if order.post_only or order.order_type == "MARKET" else order.time_in_force


# -- spot ---------------------------------------------------------------------------------------


def spot_order(order: SimOrder) -> dict[str, Any]:
    """``GET /api/v3/order`` / ``openOrders`` / ``allOrders`` item."""
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": _s(order.price),
        "origQty": _s(order.quantity),
        "executedQty": _s(order.executed),
        "cummulativeQuoteQty": _s(order.cum_quote),
        "status": order.status,
        "timeInForce": _spot_tif(order),
        "type": _spot_type(order),
        "side": order.side,
        "stopPrice": _s(_ZERO),
        "icebergQty": _s(_ZERO),
        "time": order.time_ms,
        "updateTime": order.update_time_ms,
        "isWorking": True,
        "workingTime": order.time_ms,
        "origQuoteOrderQty": _s(_ZERO),
        "selfTradePreventionMode": "NONE",
    }


def spot_new_order(order: SimOrder, response_type: str) -> dict[str, Any]:
    """``POST /api/v3/order`` answer: ``ACK``, ``RESULT`` or ``FULL`` (with the fills)."""
    body: dict[str, Any] = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": order.time_ms,
    }
    if response_type == "ACK":
        return body
    body.update(
        {
            "price": _s(order.price),
            "origQty": _s(order.quantity),
            "executedQty": _s(order.executed),
            "origQuoteOrderQty": _s(_ZERO),
            "cummulativeQuoteQty": _s(order.cum_quote),
            "status": order.status,
            "timeInForce": _spot_tif(order),
            "type": _spot_type(order),
            "side": order.side,
            "workingTime": order.time_ms if order.working else -1,
            "selfTradePreventionMode": "NONE",
        }
    )
    if response_type == "FULL":
        body["fills"] = [
            {
                "price": _s(f.price),
                "qty": _s(f.quantity),
                "commission": _s(f.commission),
                "commissionAsset": f.commission_asset,
                "tradeId": f.trade_id,
            }
            for f in order.fills
        ]
    return body


def spot_cancel(order: SimOrder, cancel_client_order_id: str, now: int) -> dict[str, Any]:
    """``DELETE /api/v3/order`` answer (and each item of ``DELETE /api/v3/openOrders``)."""
    return {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_client_order_id,
        "transactTime": now,
        "price": _s(order.price),
        "origQty": _s(order.quantity),
        "executedQty": _s(order.executed),
        "origQuoteOrderQty": _s(_ZERO),
        "cummulativeQuoteQty": _s(order.cum_quote),
        "status": order.status,
        "timeInForce": _spot_tif(order),
        "type": _spot_type(order),
        "side": order.side,
        "selfTradePreventionMode": "NONE",
    }


def spot_trade(fill: Fill) -> dict[str, Any]:
    """``GET /api/v3/myTrades`` item."""
    return {
        "symbol": fill.symbol,
        "id": fill.trade_id,
        "orderId": fill.order_id,
        "orderListId": -1,
        "price": _s(fill.price),
        "qty": _s(fill.quantity),
        "quoteQty": _s(fill.quote_quantity),
        "commission": _s(fill.commission),
        "commissionAsset": fill.commission_asset,
        "time": fill.time_ms,
        "isBuyer": fill.side == "BUY",
        "isMaker": fill.maker,
        "isBestMatch": True,
    }


def spot_account(engine: MatchingEngine, now: int) -> dict[str, Any]:
    """``GET /api/v3/account`` answer (commissions in basis points, as Binance sends them)."""
    maker_bps = int(engine.maker_fee * 10_000)
    taker_bps = int(engine.taker_fee * 10_000)
    balances = []
    for asset in engine.assets():
        free, locked = engine.balance(asset)
        balances.append({"asset": asset, "free": _s(free), "locked": _s(locked)})
    return {
        "makerCommission": maker_bps,
        "takerCommission": taker_bps,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": _s(engine.maker_fee),
            "taker": _s(engine.taker_fee),
            "buyer": _s(_ZERO),
            "seller": _s(_ZERO),
        },
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": now,
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": 1,
    }


def spot_execution_report(
    order: SimOrder,
    execution_type: str,
    fill: Fill | None,
    now: int,
    cancel_client_order_id: str = "",
) -> dict[str, Any]:
    """The ``executionReport`` user-data-stream event.

    On a cancel, ``c`` is the cancel request's own client id and ``C`` the
    order's (Binance's convention); otherwise ``C`` is empty.
    """
    cancelled = execution_type == "CANCELED"
    return {
        "e": "executionReport",
        "E": now,
        "s": order.symbol,
        "c": cancel_client_order_id if cancelled else order.client_order_id,
        "S": order.side,
        "o": _spot_type(order),
        "f": _spot_tif(order),
        "q": _s(order.quantity),
        "p": _s(order.price),
        "P": _s(_ZERO),
        "F": _s(_ZERO),
        "g": -1,
        "C": order.client_order_id if cancelled else "",
        "x": execution_type,
        "X": order.status,
        "r": "NONE",
        "i": order.order_id,
        "l": _s(fill.quantity if fill else _ZERO),
        "z": _s(order.executed),
        "L": _s(fill.price if fill else _ZERO),
        "n": _s(fill.commission if fill else _ZERO),
        "N": fill.commission_asset if fill else None,
        "T": fill.time_ms if fill else now,
        "t": fill.trade_id if fill else -1,
        "I": 0,
        "w": order.is_open and order.working,
        "m": fill.maker if fill else False,
        "M": False,
        "O": order.time_ms,
        "Z": _s(order.cum_quote),
        "Y": _s(fill.quote_quantity if fill else _ZERO),
        "Q": _s(_ZERO),
        "W": order.time_ms,
        "V": "NONE",
    }


def spot_account_position(engine: MatchingEngine, assets: list[str], now: int) -> dict[str, Any]:
    """The ``outboundAccountPosition`` user-data-stream event for ``assets``."""
    rows = []
    for asset in assets:
        free, locked = engine.balance(asset)
        rows.append({"a": asset, "f": _s(free), "l": _s(locked)})
    return {"e": "outboundAccountPosition", "E": now, "u": now, "B": rows}


# -- USD-M futures ------------------------------------------------------------------------------


def _prices(spec: MarketSpec) -> tuple[int, int, int]:
    return spec.price_decimals, spec.quantity_decimals, spec.price_decimals + spec.quantity_decimals


def _average(order: SimOrder, decimals: int) -> str:
    return fixed(order.average_price.quantize(Decimal(10) ** -decimals), decimals)


def futures_order(order: SimOrder, spec: MarketSpec, *, with_time: bool) -> dict[str, Any]:
    """``/fapi/v1/order`` answer (POST, GET, DELETE) and ``openOrders`` item.

    ``with_time`` adds ``time`` (the queries have it, the placement does not).
    """
    pd, qd, cd = _prices(spec)
    body: dict[str, Any] = {
        "orderId": order.order_id,
        "symbol": order.symbol,
        "status": order.status,
        "clientOrderId": order.client_order_id,
        "price": fixed(order.price, pd),
        "avgPrice": _average(order, max(pd, 5)),
        "origQty": fixed(order.quantity, qd),
        "executedQty": fixed(order.executed, qd),
        "cumQty": fixed(order.executed, qd),
        "cumQuote": fixed(order.cum_quote, cd),
        "timeInForce": "GTX" if order.post_only else order.time_in_force,
        "type": order.order_type,
        "reduceOnly": order.reduce_only,
        "closePosition": False,
        "side": order.side,
        "positionSide": "BOTH",
        "stopPrice": fixed(_ZERO, pd),
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": order.order_type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE",
        "goodTillDate": 0,
    }
    if with_time:
        body["time"] = order.time_ms
    body["updateTime"] = order.update_time_ms
    return body


def futures_user_trade(fill: Fill, spec: MarketSpec) -> dict[str, Any]:
    """``GET /fapi/v1/userTrades`` item."""
    pd, qd, cd = _prices(spec)
    return {
        "symbol": fill.symbol,
        "id": fill.trade_id,
        "orderId": fill.order_id,
        "side": fill.side,
        "price": fixed(fill.price, pd),
        "qty": fixed(fill.quantity, qd),
        "realizedPnl": fixed(fill.realized_pnl, 8),
        "marginAsset": spec.quote,
        "quoteQty": fixed(fill.quote_quantity, cd),
        "commission": fixed(fill.commission, 8),
        "commissionAsset": fill.commission_asset,
        "time": fill.time_ms,
        "positionSide": "BOTH",
        "maker": fill.maker,
        "buyer": fill.side == "BUY",
    }


def _asset_rows(engine: MatchingEngine, now: int) -> list[dict[str, Any]]:
    margin = engine.margin_asset()
    unrealized = sum((engine.unrealized_pnl(s) for s in engine.positions), _ZERO)
    positions_im, orders_im = engine.initial_margin()
    available = engine.available_balance()
    rows = []
    for asset in engine.assets():
        wallet = engine.balance(asset)[0]
        mine = asset == margin
        upnl = unrealized if mine else _ZERO
        rows.append(
            {
                "asset": asset,
                "walletBalance": fixed(wallet, 8),
                "unrealizedProfit": fixed(upnl, 8),
                "marginBalance": fixed(wallet + upnl, 8),
                "maintMargin": fixed(_ZERO, 8),
                "initialMargin": fixed(positions_im + orders_im if mine else _ZERO, 8),
                "positionInitialMargin": fixed(positions_im if mine else _ZERO, 8),
                "openOrderInitialMargin": fixed(orders_im if mine else _ZERO, 8),
                "crossWalletBalance": fixed(wallet, 8),
                "crossUnPnl": fixed(upnl, 8),
                "availableBalance": fixed(available if mine else wallet, 8),
                "maxWithdrawAmount": fixed(min(available, wallet) if mine else wallet, 8),
                "marginAvailable": True,
                "updateTime": now,
            }
        )
    return rows


def futures_balance(engine: MatchingEngine, now: int) -> list[dict[str, Any]]:
    """``GET /fapi/v2/balance`` (and v3) answer."""
    return [
        {
            "accountAlias": "emulator",
            "asset": row["asset"],
            "balance": row["walletBalance"],
            "crossWalletBalance": row["crossWalletBalance"],
            "crossUnPnl": row["crossUnPnl"],
            "availableBalance": row["availableBalance"],
            "maxWithdrawAmount": row["maxWithdrawAmount"],
            "marginAvailable": True,
            "updateTime": now,
        }
        for row in _asset_rows(engine, now)
    ]


def futures_position_risk(engine: MatchingEngine, spec: MarketSpec, *, v2: bool) -> dict[str, Any]:
    """``GET /fapi/v2/positionRisk`` or ``/fapi/v3/positionRisk`` item of one symbol."""
    pd, qd, _ = _prices(spec)
    position = engine.positions.get(spec.symbol)
    qty = position.quantity if position is not None else _ZERO
    entry = position.entry_price if position is not None else _ZERO
    mark = engine.mark_price(spec.symbol)
    notional = qty * mark
    margin = abs(notional) / engine.leverage
    body: dict[str, Any] = {
        "symbol": spec.symbol,
        "positionSide": "BOTH",
        "positionAmt": fixed(qty, qd),
        "entryPrice": fixed(entry, max(pd, 1)),
        "breakEvenPrice": fixed(entry, max(pd, 1)),
        "markPrice": fixed(mark, 8),
        "unRealizedProfit": fixed(engine.unrealized_pnl(spec.symbol), 8),
        "liquidationPrice": "0",
        "isolatedMargin": "0",
        "notional": fixed(notional, 8),
        "marginAsset": spec.quote,
        "isolatedWallet": "0",
        "initialMargin": fixed(margin, 8),
        "maintMargin": fixed(_ZERO, 8),
        "positionInitialMargin": fixed(margin, 8),
        "openOrderInitialMargin": "0",
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": position.update_time_ms if position is not None else 0,
    }
    if v2:
        body.update(
            {
                "leverage": str(int(engine.leverage)),
                "maxNotionalValue": "1000000",
                "marginType": "cross",
                "isAutoAddMargin": "false",
            }
        )
    return body


def futures_account(
    engine: MatchingEngine, specs: dict[str, MarketSpec], now: int
) -> dict[str, Any]:
    """``GET /fapi/v2/account`` / ``/fapi/v3/account`` answer (positions held only)."""
    rows = _asset_rows(engine, now)
    margin = engine.margin_asset()
    total = next((r for r in rows if r["asset"] == margin), None)
    wallet = engine.balance(margin)[0]
    unrealized = sum((engine.unrealized_pnl(s) for s in engine.positions), _ZERO)
    positions_im, orders_im = engine.initial_margin()
    available = engine.available_balance()
    positions = []
    for symbol, position in engine.positions.items():
        if not position.quantity:
            continue
        spec = specs[symbol]
        mark = engine.mark_price(symbol)
        positions.append(
            {
                "symbol": symbol,
                "positionSide": "BOTH",
                "positionAmt": fixed(position.quantity, spec.quantity_decimals),
                "entryPrice": fixed(position.entry_price, max(spec.price_decimals, 1)),
                "unrealizedProfit": fixed(engine.unrealized_pnl(symbol), 8),
                "isolatedMargin": "0",
                "notional": fixed(position.quantity * mark, 8),
                "isolatedWallet": "0",
                "initialMargin": fixed(abs(position.quantity) * mark / engine.leverage, 8),
                "maintMargin": "0",
                "updateTime": position.update_time_ms,
            }
        )
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "updateTime": 0,
        "multiAssetsMargin": False,
        "tradeGroupId": -1,
        "totalInitialMargin": fixed(positions_im + orders_im, 8),
        "totalMaintMargin": fixed(_ZERO, 8),
        "totalWalletBalance": fixed(wallet, 8),
        "totalUnrealizedProfit": fixed(unrealized, 8),
        "totalMarginBalance": fixed(wallet + unrealized, 8),
        "totalPositionInitialMargin": fixed(positions_im, 8),
        "totalOpenOrderInitialMargin": fixed(orders_im, 8),
        "totalCrossWalletBalance": fixed(wallet, 8),
        "totalCrossUnPnl": fixed(unrealized, 8),
        "availableBalance": fixed(available, 8),
        "maxWithdrawAmount": total["maxWithdrawAmount"] if total else "0",
        "assets": rows,
        "positions": positions,
    }


def futures_order_update(
    order: SimOrder, spec: MarketSpec, execution_type: str, fill: Fill | None, now: int
) -> dict[str, Any]:
    """The ``ORDER_TRADE_UPDATE`` user-data-stream event."""
    pd, qd, _ = _prices(spec)
    o: dict[str, Any] = {
        "s": order.symbol,
        "c": order.client_order_id,
        "S": order.side,
        "o": order.order_type,
        "f": "GTX" if order.post_only else order.time_in_force,
        "q": fixed(order.quantity, qd),
        "p": fixed(order.price, pd),
        "ap": _average(order, max(pd, 5)),
        "sp": fixed(_ZERO, pd),
        "x": execution_type,
        "X": order.status,
        "i": order.order_id,
        "l": fixed(fill.quantity if fill else _ZERO, qd),
        "z": fixed(order.executed, qd),
        "L": fixed(fill.price if fill else _ZERO, pd),
    }
    if fill is not None:
        o["N"] = fill.commission_asset
        o["n"] = fixed(fill.commission, 8)
    o.update(
        {
            "T": fill.time_ms if fill else now,
            "t": fill.trade_id if fill else 0,
            "b": "0",
            "a": "0",
            "m": fill.maker if fill else False,
            "R": order.reduce_only,
            "wt": "CONTRACT_PRICE",
            "ot": order.order_type,
            "ps": "BOTH",
            "cp": False,
            "rp": fixed(fill.realized_pnl if fill else _ZERO, 8),
            "pP": False,
            "si": 0,
            "ss": 0,
            "V": "NONE",
            "pm": "NONE",
            "gtd": 0,
        }
    )
    return {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": o}


def futures_account_update(
    engine: MatchingEngine,
    specs: dict[str, MarketSpec],
    assets: list[str],
    symbols: list[str],
    now: int,
    reason: str = "ORDER",
) -> dict[str, Any]:
    """The ``ACCOUNT_UPDATE`` user-data-stream event for ``assets`` and ``symbols``."""
    balances = []
    for asset in assets:
        wallet = engine.balance(asset)[0]
        balances.append({"a": asset, "wb": fixed(wallet, 8), "cw": fixed(wallet, 8), "bc": "0"})
    positions = []
    for symbol in symbols:
        spec = specs[symbol]
        position = engine.positions.get(symbol)
        qty = position.quantity if position is not None else _ZERO
        entry = position.entry_price if position is not None else _ZERO
        realized = position.realized_pnl if position is not None else _ZERO
        positions.append(
            {
                "s": symbol,
                "pa": fixed(qty, spec.quantity_decimals),
                "ep": fixed(entry, max(spec.price_decimals, 1)),
                "bep": fixed(entry, max(spec.price_decimals, 1)),
                "cr": fixed(realized, 8),
                "up": fixed(engine.unrealized_pnl(symbol), 8),
                "mt": "cross",
                "iw": "0",
                "ps": "BOTH",
            }
        )
    return {
        "e": "ACCOUNT_UPDATE",
        "E": now,
        "T": now,
        "a": {"m": reason, "B": balances, "P": positions},
    }
