"""IB positions and account values as the engine's positions, balances and an account summary.

- Positions (``ib.positions(account)``): quantity signed as IB reports it;
  IB's ``avgCost`` of a future is the price times the multiplier, so it is
  divided back to a per-unit price. A contract no instrument matches keeps a
  name of its own (``ib:STK:MSFT``) so reconciliation still sees it.
- Balances: the ``CashBalance`` account value per currency (``BASE``, the
  base-currency total, is left out). Nothing is reported as ``locked``: a
  margin account ties up equity, not the cash of each order.
- Account summary: net liquidation, total cash, available funds, buying
  power, excess liquidity and margins in the base currency, NaN where IB
  sent nothing (never 0, which would read as "no equity").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import msgspec
from ib_insync import AccountValue, Position

from adapters.ib.contracts import ContractIndex, IbContractSpec, foreign_symbol, multiplier_of
from adapters.ib.execution import finite
from engine.broker import Balance, VenuePosition

__all__ = ["SUMMARY_TAGS", "IbAccountSummary", "balances_from", "positions_from", "summary_from"]

#: Account tags of :class:`IbAccountSummary`, as ``reqAccountUpdates`` names them.
SUMMARY_TAGS: dict[str, str] = {
    "NetLiquidation": "net_liquidation",
    "TotalCashValue": "total_cash_value",
    "AvailableFunds": "available_funds",
    "BuyingPower": "buying_power",
    "ExcessLiquidity": "excess_liquidity",
    "InitMarginReq": "initial_margin",
    "MaintMarginReq": "maintenance_margin",
    "GrossPositionValue": "gross_position_value",
}


class IbAccountSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Account-wide values in the account's base currency (NaN where IB sent none)."""

    currency: str
    net_liquidation: float
    total_cash_value: float
    available_funds: float
    buying_power: float
    excess_liquidity: float
    initial_margin: float
    maintenance_margin: float
    gross_position_value: float


def positions_from(
    positions: Iterable[Position],
    index: ContractIndex,
    specs: Mapping[str, IbContractSpec],
) -> list[VenuePosition]:
    """Return the non-zero positions with our symbols and per-unit average prices."""
    result = []
    for position in positions:
        if position.position == 0:
            continue
        contract = position.contract
        symbol = index.symbol_for(contract)
        multiplier = 1.0
        if contract.secType == "FUT":
            spec = None if symbol is None else specs.get(symbol)
            multiplier = multiplier_of(contract, 1.0 if spec is None else spec.multiplier)
        result.append(
            VenuePosition(
                symbol=symbol if symbol is not None else foreign_symbol(contract),
                quantity=float(position.position),
                average_price=finite(position.avgCost) / multiplier,
            )
        )
    return result


def _numbers(
    values: Iterable[AccountValue], tags: Iterable[str]
) -> Iterable[tuple[str, str, float]]:
    wanted = set(tags)
    for value in values:
        if value.tag not in wanted or value.currency in ("", "BASE"):
            continue
        try:
            number = float(value.value)
        except ValueError:
            continue  # IB sends "" for values it has not computed yet
        yield value.tag, value.currency, number


def balances_from(values: Iterable[AccountValue]) -> list[Balance]:
    """Return one :class:`Balance` per currency from the ``CashBalance`` values, sorted."""
    cash = {currency: amount for _, currency, amount in _numbers(values, ("CashBalance",))}
    return [Balance(asset=currency, free=amount) for currency, amount in sorted(cash.items())]


def summary_from(values: Iterable[AccountValue]) -> IbAccountSummary:
    """Return the :class:`IbAccountSummary` of the account values."""
    found: dict[str, float] = {}
    currency = ""
    for tag, value_currency, number in _numbers(values, SUMMARY_TAGS):
        found[SUMMARY_TAGS[tag]] = number
        currency = value_currency
    return IbAccountSummary(
        currency=currency, **{f: found.get(f, math.nan) for f in SUMMARY_TAGS.values()}
    )
