"""Build ib_insync contracts from our instruments, and find the instrument of an IB contract.

========================  ==========  ===============================================
instrument kind           IB secType  contract
========================  ==========  ===============================================
``STOCK``                 ``STK``     ``Stock(venue_symbol, exchange or "SMART",
                                      quote, primaryExchange=...)``
``FUTURE``                ``FUT``     ``Future(base, expiry, exchange, localSymbol,
                                      multiplier=contract_multiplier, currency=quote)``;
                                      needs ``exchange`` and an expiry (or local symbol)
``FOREX``                 ``CASH``    ``Forex(symbol=base, currency=quote,
                                      exchange=exchange or "IDEALPRO")``
``COMMODITY``             ``CMDTY``   ``Commodity(venue_symbol, exchange or "SMART",
                                      quote)`` (spot metals: ``XAUUSD``)
``SPOT`` (asset class     as above    an instrument left at the default ``SPOT`` kind
stock/forex/commodity)                is read by its asset class
========================  ==========  ===============================================

A future's expiry comes from ``last_trade_date_or_contract_month`` in its
``[venues.ib.contracts."<symbol>"]`` entry, or from the ``-YYMMDD`` suffix of a
ccxt-style dated symbol (``ES/USD:USD-241220`` → ``20241220``). Crypto spot and
perpetuals are not traded through this adapter; such an instrument, or one
missing a field, raises :class:`~adapters.ib.errors.ContractMappingError`
naming the symbol and what is missing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import Decimal

import msgspec
from ib_insync import Commodity, Contract, ContractDetails, Forex, Future, Stock

from adapters.ib.config import IbContractConfig
from adapters.ib.errors import ContractMappingError
from engine.instruments import AssetClass, Instrument, InstrumentKind

__all__ = [
    "ContractIndex",
    "IbContractSpec",
    "build_contract",
    "contract_kind",
    "decimal_of",
    "foreign_symbol",
    "multiplier_of",
    "qualified_spec",
    "spec_from_details",
    "spec_from_instrument",
]

_DATED = re.compile(r"-(\d{6})$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")

#: IB secType per instrument kind.
_SEC_TYPES: dict[InstrumentKind, str] = {
    InstrumentKind.STOCK: "STK",
    InstrumentKind.FUTURE: "FUT",
    InstrumentKind.FOREX: "CASH",
    InstrumentKind.COMMODITY: "CMDTY",
}
#: How an instrument left at kind SPOT is read, by asset class.
_SPOT_BY_ASSET_CLASS: dict[AssetClass, InstrumentKind] = {
    AssetClass.STOCK: InstrumentKind.STOCK,
    AssetClass.FOREX: InstrumentKind.FOREX,
    AssetClass.COMMODITY: InstrumentKind.COMMODITY,
}


def decimal_of(value: float) -> Decimal:
    """Return the decimal ``value`` was written as (its shortest repr), not its binary expansion.

    Examples
    --------
    >>> decimal_of(0.1), decimal_of(5e-05), decimal_of(25.0)
    (Decimal('0.1'), Decimal('0.00005'), Decimal('25.0'))
    """
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value}")
    return Decimal(repr(float(value)))


class IbContractSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One instrument's IB contract and the increments orders are rounded to.

    Attributes
    ----------
    symbol : str
        Our unified symbol.
    contract : ib_insync.Contract
        The contract sent with orders (qualified: with its ``conId``, once
        contract details were fetched).
    min_tick : Decimal
        Price increment: IB's ``minTick`` once known, else the instrument's tick size.
    size_increment : Decimal
        Quantity increment: IB's ``sizeIncrement`` once known, else the lot size.
    multiplier : float
        Contract multiplier (IB reports a future's average cost times it).
    qualified : bool
        True when ``contract`` and the increments come from IB's contract details.
    """

    symbol: str
    contract: Contract
    min_tick: Decimal
    size_increment: Decimal
    multiplier: float = 1.0
    qualified: bool = False


def contract_kind(instrument: Instrument) -> InstrumentKind:
    """Return the kind the instrument is traded as at IB, or raise :class:`ContractMappingError`."""
    kind = instrument.kind
    if kind is InstrumentKind.SPOT:
        kind = _SPOT_BY_ASSET_CLASS.get(instrument.asset_class, kind)
    if kind not in _SEC_TYPES:
        raise ContractMappingError(
            f"cannot map {instrument.symbol} to an IB contract: kind {instrument.kind.value} "
            f"(asset class {instrument.asset_class.value}) is not traded through IB; "
            f"supported kinds: stock, future, forex, commodity"
        )
    return kind


def _expiry(instrument: Instrument, override: IbContractConfig) -> str:
    if override.last_trade_date_or_contract_month:
        return override.last_trade_date_or_contract_month
    dated = _DATED.search(instrument.symbol)
    return "" if dated is None else "20" + dated.group(1)


def _multiplier_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _currency(instrument: Instrument, field: str, value: str) -> str:
    if _CURRENCY.match(value) is None:
        raise ContractMappingError(
            f"cannot map {instrument.symbol} to an IB contract: {field} {value!r} "
            f"is not a 3-letter currency code"
        )
    return value


def build_contract(instrument: Instrument, override: IbContractConfig | None = None) -> Contract:
    """Return the ib_insync contract of ``instrument`` (not yet qualified).

    Parameters
    ----------
    instrument : Instrument
        A stock, future, forex or commodity instrument.
    override : IbContractConfig, optional
        The instrument's ``[venues.ib.contracts."<symbol>"]`` entry.

    Raises
    ------
    ContractMappingError
        When the kind is not traded through IB, or a field the contract needs
        is missing; the message names the symbol and the missing key.

    Examples
    --------
    >>> from engine.instruments import Instrument, AssetClass, InstrumentKind
    >>> aapl = Instrument(symbol="AAPL/USD", venue="ib", venue_symbol="AAPL", base="AAPL",
    ...     quote="USD", asset_class=AssetClass.STOCK, kind=InstrumentKind.STOCK,
    ...     tick_size=0.01, lot_size=1.0)
    >>> build_contract(aapl)
    Stock(symbol='AAPL', exchange='SMART', currency='USD')
    """
    cfg = IbContractConfig() if override is None else override
    kind = contract_kind(instrument)
    symbol = instrument.symbol
    con_id = cfg.con_id
    extra: dict[str, object] = {}
    if con_id:
        extra["conId"] = con_id
    if cfg.trading_class:
        extra["tradingClass"] = cfg.trading_class
    if kind is InstrumentKind.STOCK:
        currency = _currency(instrument, "quote", instrument.quote)
        if cfg.primary_exchange:
            extra["primaryExchange"] = cfg.primary_exchange
        if cfg.local_symbol:
            extra["localSymbol"] = cfg.local_symbol
        return Stock(instrument.venue_symbol, cfg.exchange or "SMART", currency, **extra)
    if kind is InstrumentKind.FOREX:
        base = _currency(instrument, "base", instrument.base)
        quote = _currency(instrument, "quote", instrument.quote)
        return Forex(symbol=base, currency=quote, exchange=cfg.exchange or "IDEALPRO", **extra)
    if kind is InstrumentKind.COMMODITY:
        currency = _currency(instrument, "quote", instrument.quote)
        return Commodity(instrument.venue_symbol, cfg.exchange or "SMART", currency, **extra)
    # FUTURE
    expiry = _expiry(instrument, cfg)
    missing = []
    if not cfg.exchange:
        missing.append("exchange (e.g. CME, EUREX)")
    if not (expiry or cfg.local_symbol or con_id):
        missing.append(
            "last_trade_date_or_contract_month (YYYYMM or YYYYMMDD; or a '-YYMMDD' symbol "
            "suffix, or local_symbol)"
        )
    if missing:
        raise ContractMappingError(
            f"cannot map future {symbol} to an IB contract: set "
            + " and ".join(missing)
            + f' in [venues.ib.contracts."{symbol}"]'
        )
    return Future(
        instrument.base,
        expiry,
        cfg.exchange,
        localSymbol=cfg.local_symbol,
        multiplier=_multiplier_text(instrument.contract_multiplier),
        currency=_currency(instrument, "quote", instrument.quote),
        **extra,
    )


def spec_from_instrument(
    instrument: Instrument, override: IbContractConfig | None = None
) -> IbContractSpec:
    """Return the spec of ``instrument`` with its own tick and lot size (before qualification)."""
    return IbContractSpec(
        symbol=instrument.symbol,
        contract=build_contract(instrument, override),
        min_tick=decimal_of(instrument.tick_size),
        size_increment=decimal_of(instrument.lot_size),
        multiplier=instrument.contract_multiplier,
    )


def spec_from_details(spec: IbContractSpec, details: ContractDetails) -> IbContractSpec:
    """Return ``spec`` with the contract, ``minTick`` and ``sizeIncrement`` IB reported.

    An increment IB leaves at 0 (older servers send no ``sizeIncrement``)
    keeps the instrument's value.
    """
    contract = details.contract if details.contract is not None else spec.contract
    min_tick = decimal_of(details.minTick) if details.minTick > 0 else spec.min_tick
    size = details.sizeIncrement
    size_increment = decimal_of(size) if 0 < size < float("inf") else spec.size_increment
    return msgspec.structs.replace(
        spec,
        contract=contract,
        min_tick=min_tick,
        size_increment=size_increment,
        multiplier=multiplier_of(contract, spec.multiplier),
        qualified=True,
    )


def qualified_spec(spec: IbContractSpec, details: Sequence[ContractDetails]) -> IbContractSpec:
    """Return ``spec`` qualified by IB's answer to ``reqContractDetails``: exactly one contract.

    Raises
    ------
    ContractMappingError
        IB knows no such contract, or the description matches several; the
        message names the symbol and the keys that would settle it.
    """
    symbol = spec.symbol
    entry = f'[venues.ib.contracts."{symbol}"]'
    if not details:
        raise ContractMappingError(
            f"IB knows no contract for {symbol} ({spec.contract!r}); check the instrument's "
            f"venue_symbol and quote currency, and exchange in {entry}"
        )
    if len(details) > 1:
        names = sorted(
            {
                f"{d.contract.localSymbol or d.contract.symbol}@"
                f"{d.contract.primaryExchange or d.contract.exchange}"
                for d in details
                if d.contract is not None
            }
        )
        raise ContractMappingError(
            f"{symbol} matches {len(details)} IB contracts ({', '.join(names)}); set "
            f"primary_exchange, local_symbol or con_id in {entry}"
        )
    return spec_from_details(spec, details[0])


def multiplier_of(contract: Contract, default: float) -> float:
    """Return the contract's numeric multiplier, or ``default`` when IB left it empty or odd.

    Examples
    --------
    >>> multiplier_of(Future("ES", multiplier="50"), 1.0), multiplier_of(Stock("AAPL"), 1.0)
    (50.0, 1.0)
    """
    try:
        value = float(contract.multiplier) if contract.multiplier else default
    except ValueError:
        return default
    return value if value > 0 and math.isfinite(value) else default


def _keys(contract: Contract) -> list[tuple[object, ...]]:
    keys: list[tuple[object, ...]] = []
    if contract.conId:
        keys.append(("conId", contract.conId))
    sec = contract.secType
    if sec == "FUT":
        if contract.localSymbol:
            keys.append(("FUT-local", contract.localSymbol))
        expiry = contract.lastTradeDateOrContractMonth
        if expiry:
            keys.append(("FUT", contract.symbol, expiry, contract.currency))
            if len(expiry) == 8:
                keys.append(("FUT", contract.symbol, expiry[:6], contract.currency))
    elif sec in ("STK", "CASH", "CMDTY"):
        keys.append((sec, contract.symbol, contract.currency))
    return keys


class ContractIndex:
    """Find our unified symbol for a contract IB reports (positions, executions, open orders).

    A contract matches by ``conId`` when known, else by what identifies it
    per secType: symbol and currency (stocks, forex, commodities), local
    symbol or symbol, expiry and currency (futures; a ``YYYYMM`` contract
    month matches a ``YYYYMMDD`` last trading day in that month).
    """

    __slots__ = ("_by_key",)

    def __init__(self) -> None:
        self._by_key: dict[tuple[object, ...], str] = {}

    def add(self, symbol: str, contract: Contract) -> None:
        """Register ``contract`` (built or qualified) as ``symbol``'s."""
        for key in _keys(contract):
            self._by_key[key] = symbol

    def symbol_for(self, contract: Contract) -> str | None:
        """Return our symbol for ``contract``, or None when no instrument matches."""
        for key in _keys(contract):
            found = self._by_key.get(key)
            if found is not None:
                return found
        return None


def foreign_symbol(contract: Contract) -> str:
    """Return the name used for a contract no instrument matches: ``ib:<secType>:<local symbol>``.

    Examples
    --------
    >>> foreign_symbol(Stock("MSFT", "SMART", "USD"))
    'ib:STK:MSFT'
    """
    return f"ib:{contract.secType}:{contract.localSymbol or contract.symbol}"
