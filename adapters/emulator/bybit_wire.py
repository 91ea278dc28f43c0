"""Bybit v5's JSON shapes for the emulator's trading answers and private-stream messages.

:class:`BybitWire` turns :mod:`adapters.emulator.matching` objects into the
rows Bybit sends, with Bybit's field names and formats: every number a string
with the instrument's decimals (a price with the tick's, or more when the
replayed book's has more), ids as Bybit makes them (digits on spot, UUIDs on
linear), order states Bybit's (``New``, ``PartiallyFilled``, ``Filled``,
``Cancelled`` with its ``cancelType`` and ``rejectReason``, and spot's
``PartiallyFilledCanceled``). The shapes follow Bybit's v5 REST and private
stream documentation, checked against ccxt's recorded responses (the tests
compare the key sets). :class:`~adapters.emulator.bybit_trading.BybitTrading`
is a :class:`BybitWire`.
"""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal
from typing import Any

from adapters.emulator.bybit_trading_config import decimals
from adapters.emulator.matching import Fill, MarketSpec, MatchingEngine, SimOrder

__all__ = ["BybitWire"]

_ZERO = Decimal(0)


class BybitWire:
    """The answer shapes of one emulated Bybit account (its category, markets and engine)."""

    spot: bool
    markets: dict[str, MarketSpec]
    engine: MatchingEngine

    def __init__(self) -> None:
        #: Orders placed without an ``orderLinkId`` (the engine names them ``emu-<id>``).
        self._unlinked: set[int] = set()
        #: Orders cancelled by a request (``cancelType`` ``CancelByUser``).
        self._cancelled_by_user: set[int] = set()
        #: The sequence number of executions, positions and private messages.
        self._seq = 0

    def order_id(self, order: SimOrder) -> str:
        """Bybit's ``orderId`` of ``order``: digits on spot, a UUID on linear."""
        if self.spot:
            return str(order.order_id)
        return str(uuid.UUID(bytes=hashlib.md5(b"order-%d" % order.order_id).digest(), version=4))

    def exec_id(self, fill: Fill) -> str:
        """Bybit's ``execId`` of ``fill``: digits on spot, a UUID on linear."""
        if self.spot:
            return str(fill.trade_id)
        return str(uuid.UUID(bytes=hashlib.md5(b"exec-%d" % fill.trade_id).digest(), version=4))

    def link_id(self, order: SimOrder) -> str:
        """The order's ``orderLinkId`` (``""`` when it was placed without one)."""
        return "" if order.order_id in self._unlinked else order.client_order_id

    def _q(self, order: SimOrder, value: Decimal) -> str:
        return f"{value:.{self.markets[order.symbol].quantity_decimals}f}"

    def _p(self, order: SimOrder, value: Decimal) -> str:
        """A price with the tick's decimals, or more when it has more (the replayed book's)."""
        places = max(self.markets[order.symbol].price_decimals, decimals(value))
        return f"{value:.{places}f}"

    def _status(self, order: SimOrder) -> tuple[str, str, str]:
        """``orderStatus``, ``cancelType``, ``rejectReason`` of ``order``."""
        status = order.status
        if status in ("NEW", "PARTIALLY_FILLED", "FILLED"):
            return (
                {"NEW": "New", "PARTIALLY_FILLED": "PartiallyFilled"}.get(status, "Filled"),
                "UNKNOWN",
                "EC_NoError",
            )
        by_user = order.order_id in self._cancelled_by_user
        name = "PartiallyFilledCanceled" if self.spot and order.executed > 0 else "Cancelled"
        if by_user:
            return name, "CancelByUser", "EC_PerCancelRequest"
        if order.post_only:
            return name, "UNKNOWN", "EC_PostOnlyWillTakeLiquidity"
        return name, "UNKNOWN", "EC_CancelForNoFullFill"

    def order_json(self, order: SimOrder) -> dict[str, Any]:
        """``order`` as ``/v5/order/realtime`` lists it (and the ``order`` topic, plus category)."""
        status, cancel_type, reason = self._status(order)
        spec = self.markets[order.symbol]
        market = order.order_type == "MARKET"
        leaves = order.leaves if order.is_open else _ZERO
        fee = sum((f.commission for f in order.fills), _ZERO)
        average = order.average_price.quantize(Decimal("1e-8")).normalize()
        body: dict[str, Any] = {
            "orderId": self.order_id(order),
            "orderLinkId": self.link_id(order),
            "blockTradeId": "",
            "symbol": order.symbol,
            "price": "0" if market else f"{order.price:.{spec.price_decimals}f}",
            "qty": self._q(order, order.quantity),
            "side": "Buy" if order.side == "BUY" else "Sell",
            "isLeverage": "0" if self.spot else "",
            "positionIdx": 0,
            "orderStatus": status,
            "createType": "CreateByUser",
            "cancelType": cancel_type,
            "rejectReason": reason,
            "avgPrice": self._p(order, average) if order.executed else "",
            "leavesQty": self._q(order, leaves),
            "leavesValue": f"{leaves * order.price:f}" if not market else "0",
            "cumExecQty": self._q(order, order.executed),
            "cumExecValue": f"{order.cum_quote.normalize():f}",
            "cumExecFee": f"{fee:f}",
            "timeInForce": "PostOnly" if order.post_only else order.time_in_force,
            "orderType": "Market" if market else "Limit",
            "stopOrderType": "",
            "orderIv": "",
            "marketUnit": "baseCoin" if self.spot and market else "",
            "triggerPrice": "0",
            "takeProfit": "0",
            "stopLoss": "0",
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "tpLimitPrice": "0",
            "slLimitPrice": "0",
            "triggerDirection": 0,
            "triggerBy": "",
            "lastPriceOnCreated": "",
            "reduceOnly": order.reduce_only,
            "closeOnTrigger": False,
            "placeType": "",
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "createdTime": str(order.time_ms),
            "updatedTime": str(order.update_time_ms),
        }
        body["cumFeeDetail"] = {order.fills[0].commission_asset: f"{fee:f}"} if order.fills else {}
        if not self.spot:
            body["tpslMode"] = ""
        return body

    def execution_json(self, order: SimOrder, fill: Fill) -> dict[str, Any]:
        """One fill as ``/v5/execution/list`` lists it (and the ``execution`` topic)."""
        spec = self.markets[order.symbol]
        executed = _ZERO
        for f in order.fills:
            executed += f.quantity
            if f.trade_id == fill.trade_id:
                break
        rate = self.engine.maker_fee if fill.maker else self.engine.taker_fee
        self._seq += 1
        return {
            "symbol": order.symbol,
            "orderType": "Market" if order.order_type == "MARKET" else "Limit",
            "underlyingPrice": "",
            "orderLinkId": self.link_id(order),
            "orderId": self.order_id(order),
            "stopOrderType": "",
            "execTime": str(fill.time_ms),
            "feeRate": f"{rate:f}",
            "tradeIv": "",
            "blockTradeId": "",
            "markPrice": "" if self.spot else f"{self.engine.mark_price(order.symbol):f}",
            "execPrice": self._p(order, fill.price),
            "markIv": "",
            "orderQty": self._q(order, order.quantity),
            "orderPrice": "0" if order.order_type == "MARKET" else f"{order.price:f}",
            "execValue": f"{fill.quote_quantity.normalize():f}",
            "closedSize": "" if self.spot else "0",
            "execType": "Trade",
            "seq": self._seq,
            "side": "Buy" if fill.side == "BUY" else "Sell",
            "indexPrice": "",
            "leavesQty": self._q(order, order.quantity - executed),
            "isMaker": fill.maker,
            "execFee": f"{fill.commission:f}",
            "feeCurrency": fill.commission_asset,
            "execId": self.exec_id(fill),
            "execQty": f"{fill.quantity:.{spec.quantity_decimals}f}",
            "execPnl": f"{fill.realized_pnl:f}",
            "marketUnit": "",
            "createType": "CreateByUser",
        }

    def position_json(self, symbol: str, *, stream: bool = False) -> dict[str, Any]:
        """``symbol``'s position as ``/v5/position/list`` (or the ``position`` topic) has it."""
        engine = self.engine
        position = engine.positions.get(symbol)
        quantity = position.quantity if position is not None else _ZERO
        entry = position.entry_price if position is not None else _ZERO
        mark = engine.mark_price(symbol)
        value = abs(quantity) * entry
        im = abs(quantity) * mark / engine.leverage
        created = position.update_time_ms if position is not None else 0
        body: dict[str, Any] = {
            "positionIdx": 0,
            "riskId": 1,
            "riskLimitValue": "2000000",
            "symbol": symbol,
            "side": "" if not quantity else ("Buy" if quantity > 0 else "Sell"),
            "size": f"{abs(quantity):.{self.markets[symbol].quantity_decimals}f}",
            "avgPrice" if not stream else "entryPrice": f"{entry:f}",
            "positionValue": f"{value:f}",
            "tradeMode": 0,
            "autoAddMargin": 0,
            "positionStatus": "Normal",
            "leverage": str(engine.leverage),
            "markPrice": f"{mark:f}",
            "liqPrice": "",
            "bustPrice": "",
            "positionIM": f"{im:f}",
            "positionMM": "0",
            "positionBalance": f"{im:f}",
            "takeProfit": "",
            "stopLoss": "",
            "trailingStop": "0",
            "unrealisedPnl": f"{engine.unrealized_pnl(symbol):f}",
            "curRealisedPnl": f"{position.realized_pnl if position is not None else _ZERO:f}",
            "cumRealisedPnl": f"{position.realized_pnl if position is not None else _ZERO:f}",
            "adlRankIndicator": 0,
            "isReduceOnly": False,
            "mmrSysUpdatedTime": "",
            "leverageSysUpdatedTime": "",
            "tpslMode": "Full",
            "createdTime": str(created),
            "updatedTime": str(created),
            "seq": self._seq,
        }
        if stream:
            body["category"] = "linear"
        return body

    def wallet_json(self, assets: set[str] | None = None) -> dict[str, Any]:
        """The account as ``/v5/account/wallet-balance`` (and the ``wallet`` topic) has it."""
        engine = self.engine
        coins = []
        total_im = total_upl = total_wallet = _ZERO
        for asset in engine.assets():
            if assets is not None and asset not in assets:
                continue
            free, locked = engine.balance(asset)
            wallet = free + locked
            position_im = order_im = upl = _ZERO
            if not self.spot and asset == engine.margin_asset():
                position_im, order_im = engine.initial_margin()
                upl = sum((engine.unrealized_pnl(s) for s in engine.positions), _ZERO)
                total_im, total_upl, total_wallet = position_im + order_im, upl, wallet
            coins.append(
                {
                    "availableToBorrow": "",
                    "bonus": "0",
                    "accruedInterest": "0",
                    "availableToWithdraw": "",
                    "totalOrderIM": f"{order_im:f}",
                    "equity": f"{wallet + upl:f}",
                    "totalPositionMM": "0",
                    "usdValue": "",
                    "unrealisedPnl": f"{upl:f}",
                    "collateralSwitch": True,
                    "spotHedgingQty": "0",
                    "borrowAmount": "0",
                    "totalPositionIM": f"{position_im:f}",
                    "walletBalance": f"{wallet:f}",
                    "cumRealisedPnl": "0",
                    "locked": f"{locked:f}",
                    "marginCollateral": True,
                    "coin": asset,
                }
            )
        return {
            "totalEquity": f"{total_wallet + total_upl:f}",
            "accountIMRate": "0",
            "totalMarginBalance": f"{total_wallet + total_upl:f}",
            "totalInitialMargin": f"{total_im:f}",
            "accountType": "UNIFIED",
            "totalAvailableBalance": f"{total_wallet + total_upl - total_im:f}",
            "accountMMRate": "0",
            "totalPerpUPL": f"{total_upl:f}",
            "totalWalletBalance": f"{total_wallet:f}",
            "accountLTV": "0",
            "totalMaintenanceMargin": "0",
            "coin": coins,
        }
