"""Positions, cash balances and account values as IB reports them, mapped to ours."""

from __future__ import annotations

import math

import pytest
from ib_insync import Contract

from engine.broker import Balance, NetworkError, VenuePosition
from tests.adapters.ib.conftest import ES, Harness

ACCOUNT_VALUES = [
    ("CashBalance", "25000.50", "USD"),
    ("CashBalance", "-1200.25", "EUR"),
    ("CashBalance", "23700.00", "BASE"),
    ("CashBalance", "", "JPY"),  # IB sends "" for values it has not computed yet
    ("NetLiquidation", "104250.75", "USD"),
    ("NetLiquidation-S", "90000.00", "USD"),  # segment variant: not the account total
    ("TotalCashValue", "23700.00", "USD"),
    ("AvailableFunds", "61000.00", "USD"),
    ("BuyingPower", "244000.00", "USD"),
    ("ExcessLiquidity", "65000.00", "USD"),
    ("InitMarginReq", "43250.75", "USD"),
    ("MaintMarginReq", "39000.00", "USD"),
    ("AccountCode", "DU7654321", ""),
]


def _positions(h: Harness) -> None:
    aapl = Contract.create(
        secType="STK", conId=265598, symbol="AAPL", currency="USD", localSymbol="AAPL"
    )
    es = Contract.create(
        secType="FUT",
        conId=495512563,
        symbol="ES",
        lastTradeDateOrContractMonth="20241220",
        multiplier="50",
        currency="USD",
        localSymbol="ESZ4",
    )
    eur = Contract.create(
        secType="CASH", conId=12087792, symbol="EUR", currency="USD", localSymbol="EUR.USD"
    )
    msft = Contract.create(
        secType="STK", conId=272093, symbol="MSFT", currency="USD", localSymbol="MSFT"
    )
    h.tws.positions = {
        265598: (aapl, 150.0, 187.3121),
        495512563: (es, -2.0, 250_125.0),  # IB: average cost times the multiplier
        12087792: (eur, 25_000.0, 1.09875),
        272093: (msft, 10.0, 410.5),
        1: (Contract.create(secType="STK", conId=1, symbol="GONE", currency="USD"), 0.0, 0.0),
    }


def test_positions_map_to_our_symbols_with_per_unit_average_price(harness: Harness) -> None:
    h = harness
    _positions(h)

    async def scenario() -> None:
        await h.broker.connect()
        positions = {p.symbol: p for p in await h.broker.get_positions()}
        assert positions == {
            "AAPL/USD": VenuePosition(symbol="AAPL/USD", quantity=150.0, average_price=187.3121),
            ES: VenuePosition(symbol=ES, quantity=-2.0, average_price=5002.5),
            "EUR/USD": VenuePosition(symbol="EUR/USD", quantity=25_000.0, average_price=1.09875),
            # No instrument for it: named so reconciliation still sees it.
            "ib:STK:MSFT": VenuePosition(symbol="ib:STK:MSFT", quantity=10.0, average_price=410.5),
        }

    h.run(scenario)


def test_positions_follow_fills_live(harness: Harness) -> None:
    h = harness

    async def scenario() -> None:
        await h.broker.connect()
        assert await h.broker.get_positions() == []
        order = h.order(symbol=ES, quantity=3, price=5000.25)
        await h.broker.place_order(order)
        h.tws.fill(order.client_order_id, 3, 5000.25)
        await h.tws.settle()
        assert await h.broker.get_positions() == [
            VenuePosition(symbol=ES, quantity=3.0, average_price=5000.25)
        ]

    h.run(scenario)
    h.assert_consistent()


def test_balance_is_cash_per_currency_without_base_or_blank_values(harness: Harness) -> None:
    h = harness
    h.tws.account_values = ACCOUNT_VALUES

    async def scenario() -> None:
        await h.broker.connect()
        balances = await h.broker.get_balance()
        assert balances == [
            Balance(asset="EUR", free=-1200.25),
            Balance(asset="USD", free=25000.50),
        ]
        assert all(b.locked == 0.0 for b in balances)

    h.run(scenario)


def test_account_summary_reads_net_liquidation_margin_and_funds(harness: Harness) -> None:
    h = harness
    h.tws.account_values = ACCOUNT_VALUES

    async def scenario() -> None:
        await h.broker.connect()
        summary = await h.broker.get_account_summary()
        assert summary.currency == "USD"
        assert summary.net_liquidation == 104250.75
        assert summary.total_cash_value == 23700.0
        assert summary.available_funds == 61000.0
        assert summary.buying_power == 244000.0
        assert summary.excess_liquidity == 65000.0
        assert summary.initial_margin == 43250.75
        assert summary.maintenance_margin == 39000.0
        assert math.isnan(summary.gross_position_value)  # not sent: NaN, not 0

    h.run(scenario)


def test_balance_of_other_accounts_is_not_mixed_in() -> None:
    h = Harness()
    h.tws.account_values = [("CashBalance", "100.0", "USD")]

    async def scenario() -> None:
        await h.broker.connect()
        # Another account's value arriving on the same session (an advisor login).
        h.ib.wrapper.updateAccountValue("CashBalance", "999999.0", "USD", "DU0000001")
        assert await h.broker.get_balance() == [Balance(asset="USD", free=100.0)]

    h.run(scenario)


@pytest.mark.parametrize("method", ["get_balance", "get_account_summary", "get_positions"])
def test_account_queries_need_a_connection(harness: Harness, method: str) -> None:
    async def scenario() -> None:
        with pytest.raises(NetworkError):
            await getattr(harness.broker, method)()

    harness.run(scenario)
