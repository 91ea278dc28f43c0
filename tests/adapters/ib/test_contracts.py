"""Contracts built from instruments, per asset class, and the errors for unmappable ones."""

from __future__ import annotations

from decimal import Decimal

import pytest
from ib_insync import Commodity, Contract, ContractDetails, Forex, Future, Stock

from adapters.ib import ContractIndex, ContractMappingError, IbContractConfig, build_contract
from adapters.ib.contracts import foreign_symbol, spec_from_details, spec_from_instrument
from engine.broker import InvalidOrderError
from engine.instruments import AssetClass, Instrument, InstrumentKind
from tests.adapters.ib.conftest import ES, ib_instruments

INSTRUMENTS = ib_instruments()


def _instrument(**changes: object) -> Instrument:
    fields: dict[str, object] = {
        "symbol": "X/USD",
        "venue": "ib",
        "venue_symbol": "X",
        "base": "X",
        "quote": "USD",
        "tick_size": 0.01,
        "lot_size": 1.0,
    }
    fields.update(changes)
    return Instrument(**fields)  # type: ignore[arg-type]


def test_stock_is_smart_routed_in_its_quote_currency() -> None:
    contract = build_contract(INSTRUMENTS.get("AAPL/USD"))
    assert isinstance(contract, Stock)
    assert (contract.secType, contract.symbol, contract.exchange, contract.currency) == (
        "STK",
        "AAPL",
        "SMART",
        "USD",
    )
    assert contract.primaryExchange == ""


def test_stock_takes_primary_exchange_and_exchange_from_its_contract_entry() -> None:
    override = IbContractConfig(exchange="ISLAND", primary_exchange="NASDAQ")
    contract = build_contract(INSTRUMENTS.get("AAPL/USD"), override)
    assert (contract.exchange, contract.primaryExchange) == ("ISLAND", "NASDAQ")


def test_forex_pair_is_cash_on_idealpro_with_base_and_quote() -> None:
    contract = build_contract(INSTRUMENTS.get("EUR/USD"))
    assert isinstance(contract, Forex)
    assert (contract.secType, contract.symbol, contract.currency, contract.exchange) == (
        "CASH",
        "EUR",
        "USD",
        "IDEALPRO",
    )
    assert contract.pair() == "EURUSD"


def test_future_takes_expiry_from_dated_symbol_and_multiplier_from_instrument() -> None:
    contract = build_contract(INSTRUMENTS.get(ES), IbContractConfig(exchange="CME"))
    assert isinstance(contract, Future)
    assert contract.secType == "FUT"
    assert contract.symbol == "ES"
    assert contract.lastTradeDateOrContractMonth == "20241220"
    assert contract.exchange == "CME"
    assert contract.multiplier == "50"
    assert contract.currency == "USD"


def test_future_expiry_in_contract_entry_wins_over_symbol() -> None:
    override = IbContractConfig(exchange="CME", last_trade_date_or_contract_month="202503")
    contract = build_contract(INSTRUMENTS.get(ES), override)
    assert contract.lastTradeDateOrContractMonth == "202503"


def test_gold_future_is_a_future_although_its_asset_class_is_commodity() -> None:
    gold = _instrument(
        symbol="GC/USD:USD-241227",
        base="GC",
        asset_class=AssetClass.COMMODITY,
        kind=InstrumentKind.FUTURE,
        contract_multiplier=100.0,
    )
    contract = build_contract(gold, IbContractConfig(exchange="COMEX"))
    assert (contract.secType, contract.symbol, contract.multiplier) == ("FUT", "GC", "100")
    assert contract.lastTradeDateOrContractMonth == "20241227"


def test_spot_metal_is_a_cmdty_contract() -> None:
    contract = build_contract(INSTRUMENTS.get("XAU/USD"))
    assert isinstance(contract, Commodity)
    assert (contract.secType, contract.symbol, contract.exchange, contract.currency) == (
        "CMDTY",
        "XAUUSD",
        "SMART",
        "USD",
    )


def test_instrument_left_at_spot_kind_is_read_by_its_asset_class() -> None:
    stock = _instrument(asset_class=AssetClass.STOCK)
    assert build_contract(stock).secType == "STK"
    pair = _instrument(symbol="GBP/JPY", base="GBP", quote="JPY", asset_class=AssetClass.FOREX)
    assert build_contract(pair).secType == "CASH"


def test_con_id_and_trading_class_are_passed_through() -> None:
    contract = build_contract(
        INSTRUMENTS.get("AAPL/USD"), IbContractConfig(con_id=265598, trading_class="NMS")
    )
    assert (contract.conId, contract.tradingClass) == (265598, "NMS")


def test_crypto_instrument_cannot_be_mapped_and_error_names_symbol_and_kind() -> None:
    with pytest.raises(ContractMappingError) as info:
        build_contract(INSTRUMENTS.get("BTC/USDT"))
    message = str(info.value)
    assert "BTC/USDT" in message
    assert "kind spot" in message
    assert "asset class crypto" in message
    assert "stock, future, forex, commodity" in message
    # A final broker error (never retried) and a ValueError for callers outside the broker.
    assert isinstance(info.value, InvalidOrderError)
    assert isinstance(info.value, ValueError)


def test_perpetual_cannot_be_mapped() -> None:
    perp = _instrument(symbol="BTC/USDT:USDT", kind=InstrumentKind.PERPETUAL)
    with pytest.raises(ContractMappingError, match="kind perpetual"):
        build_contract(perp)


def test_future_without_exchange_or_expiry_names_both_missing_keys() -> None:
    undated = _instrument(symbol="ES/USD", base="ES", kind=InstrumentKind.FUTURE)
    with pytest.raises(ContractMappingError) as info:
        build_contract(undated)
    message = str(info.value)
    assert "ES/USD" in message
    assert "exchange" in message
    assert "last_trade_date_or_contract_month" in message
    assert '[venues.ib.contracts."ES/USD"]' in message


def test_future_with_expiry_but_no_exchange_names_only_exchange() -> None:
    with pytest.raises(ContractMappingError) as info:
        build_contract(INSTRUMENTS.get(ES))
    assert "exchange" in str(info.value)
    assert "last_trade_date_or_contract_month" not in str(info.value)


def test_future_identified_by_local_symbol_needs_no_expiry() -> None:
    undated = _instrument(symbol="ES/USD", base="ES", kind=InstrumentKind.FUTURE)
    contract = build_contract(undated, IbContractConfig(exchange="CME", local_symbol="ESZ4"))
    assert (contract.localSymbol, contract.lastTradeDateOrContractMonth) == ("ESZ4", "")


def test_forex_with_non_currency_base_is_refused() -> None:
    bad = _instrument(symbol="EURO/USD", base="EURO", kind=InstrumentKind.FOREX)
    with pytest.raises(ContractMappingError, match="base 'EURO' is not a 3-letter currency"):
        build_contract(bad)


def test_spec_uses_instrument_increments_until_contract_details_replace_them() -> None:
    spec = spec_from_instrument(INSTRUMENTS.get("EUR/USD"))
    assert (spec.min_tick, spec.size_increment, spec.qualified) == (
        Decimal("0.00005"),
        Decimal("1.0"),
        False,
    )
    details = ContractDetails(
        contract=Contract.create(secType="CASH", conId=12087792, symbol="EUR", currency="USD"),
        minTick=0.0001,
        sizeIncrement=1000.0,
    )
    qualified = spec_from_details(spec, details)
    assert qualified.qualified
    assert qualified.contract.conId == 12087792
    assert (qualified.min_tick, qualified.size_increment) == (Decimal("0.0001"), Decimal("1000.0"))


def test_spec_keeps_instrument_size_increment_when_ib_sends_none() -> None:
    spec = spec_from_instrument(INSTRUMENTS.get(ES), IbContractConfig(exchange="CME"))
    details = ContractDetails(
        contract=Future("ES", "20241220", "CME", multiplier="50", conId=495512563), minTick=0.25
    )
    qualified = spec_from_details(spec, details)
    assert (qualified.min_tick, qualified.size_increment, qualified.multiplier) == (
        Decimal("0.25"),
        Decimal("1.0"),
        50.0,
    )


def test_index_matches_by_con_id_then_by_identity_per_sec_type() -> None:
    index = ContractIndex()
    index.add("AAPL/USD", Stock("AAPL", "SMART", "USD", conId=265598))
    index.add("EUR/USD", Forex("EURUSD"))
    index.add(ES, Future("ES", "202412", "CME", currency="USD"))
    # As TWS reports them in positions: no exchange, full dates, conIds.
    assert index.symbol_for(Contract.create(secType="STK", conId=265598)) == "AAPL/USD"
    assert index.symbol_for(Stock("AAPL", "", "USD")) == "AAPL/USD"
    assert index.symbol_for(Forex("EURUSD", exchange="")) == "EUR/USD"
    reported = Future("ES", "20241220", "", currency="USD", localSymbol="ESZ4")
    assert index.symbol_for(reported) == ES
    assert index.symbol_for(Future("ES", "20250321", "", currency="USD")) is None
    assert index.symbol_for(Stock("AAPL", "", "EUR")) is None


def test_unknown_contract_gets_an_ib_prefixed_name() -> None:
    assert foreign_symbol(Stock("MSFT", "SMART", "USD")) == "ib:STK:MSFT"
    future = Future("NQ", "20241220", "CME", localSymbol="NQZ4")
    assert foreign_symbol(future) == "ib:FUT:NQZ4"
