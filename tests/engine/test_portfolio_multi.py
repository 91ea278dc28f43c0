"""Multi-venue, multi-asset portfolio accounting (issue 5, part 2).

Oracles: hand-computed cash flows (a margined position's realized P&L over a
round trip is minus the sum of its signed fill notionals), ``math.fsum``, and
``numpy.quantile`` for VaR. Conventions are in ``engine/portfolio.py``'s
docstring.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.instruments import (
    AssetClass,
    Instrument,
    InstrumentKind,
    InstrumentRegistry,
    UnknownSymbolError,
)
from engine.portfolio import (
    CLOSED,
    DEFAULT_VENUE,
    MIN_VAR_RETURNS,
    OPENED,
    UNKNOWN,
    UPDATED,
    Portfolio,
    PortfolioSummary,
)

INITIAL = 100_000.0
SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"
DAY_NS = 86_400 * 1_000_000_000
HOUR_NS = 3_600 * 1_000_000_000
DAY0 = 20_000 * DAY_NS  # a UTC midnight


def crypto_registry() -> InstrumentRegistry:
    return InstrumentRegistry(
        [
            Instrument(
                symbol=SPOT,
                venue="binance",
                venue_symbol="BTCUSDT",
                base="BTC",
                quote="USDT",
                sector="crypto-l1",
                tick_size=0.01,
                lot_size=0.00001,
            ),
            Instrument(
                symbol=PERP,
                venue="binance_usdm",
                venue_symbol="BTCUSDT",
                base="BTC",
                quote="USDT",
                sector="crypto-l1",
                tick_size=0.1,
                lot_size=0.001,
                kind=InstrumentKind.PERPETUAL,
                initial_margin=0.05,
                margin_rate=0.004,
            ),
            Instrument(
                symbol="ETH/USDT:USDT",
                venue="binance_usdm",
                venue_symbol="ETHUSDT",
                base="ETH",
                quote="USDT",
                sector="crypto-l1",
                tick_size=0.01,
                lot_size=0.001,
                kind=InstrumentKind.PERPETUAL,
                contract_multiplier=10.0,  # made-up multiplier to exercise the scaling
            ),
            Instrument(
                symbol="DOGE/USDT",
                venue="binance",
                venue_symbol="DOGEUSDT",
                base="DOGE",
                quote="USDT",
                sector="crypto-meme",
                tick_size=0.00001,
                lot_size=1.0,
            ),
        ]
    )


def usd_registry() -> InstrumentRegistry:
    def inst(symbol: str, **kw) -> Instrument:
        base, _, quote = symbol.partition("/")
        return Instrument(
            symbol=symbol,
            venue=kw.pop("venue", "ib"),
            venue_symbol=symbol,
            base=base,
            quote=quote or "USD",
            tick_size=0.01,
            lot_size=1.0,
            **kw,
        )

    return InstrumentRegistry(
        [
            inst(
                "AAPL/USD", kind=InstrumentKind.STOCK, asset_class=AssetClass.STOCK, sector="tech"
            ),
            inst(
                "MSFT/USD", kind=InstrumentKind.STOCK, asset_class=AssetClass.STOCK, sector="tech"
            ),
            inst(
                "ES/USD",
                kind=InstrumentKind.FUTURE,
                asset_class=AssetClass.FUTURE,
                sector="index",
                contract_multiplier=50.0,
                initial_margin=0.06,
            ),
            inst(
                "GC/USD",
                kind=InstrumentKind.FUTURE,
                asset_class=AssetClass.COMMODITY,
                sector="metals",
                contract_multiplier=100.0,
            ),
            inst("EUR/USD", kind=InstrumentKind.FOREX, asset_class=AssetClass.FOREX, sector="g10"),
            inst("BTC/USD", venue="coinbase", sector="crypto-l1"),
        ]
    )


def crypto_portfolio(**kw) -> Portfolio:
    return Portfolio(INITIAL, "USDT", instruments=crypto_registry(), **kw)


def identity_gap(p: Portfolio) -> float:
    return (p.equity - p.initial_cash) - (
        p.realized_pnl + p.unrealized_pnl - p.fees - p.funding_paid
    )


# -- instruments -----------------------------------------------------------------------------------


def test_instrument_when_defaults_then_spot_with_documented_margins_and_quote_settlement() -> None:
    inst = crypto_registry().get(SPOT)
    assert inst.kind == InstrumentKind.SPOT
    assert not inst.is_margined
    assert (inst.initial_margin, inst.margin_rate) == (0.1, 0.005)
    assert inst.settlement_currency == "USDT"
    assert crypto_registry().get(PERP).is_margined


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("initial_margin", 0.0, "initial_margin must be in"),
        ("initial_margin", 1.5, "initial_margin must be in"),
        ("margin_rate", 0.2, "margin_rate must be in"),
        ("margin_rate", -0.1, "margin_rate must be in"),
    ],
)
def test_instrument_when_margin_out_of_range_then_raises_naming_field(
    field: str, value: float, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        Instrument(
            symbol=PERP,
            venue="v",
            venue_symbol="X",
            base="BTC",
            quote="USDT",
            tick_size=0.1,
            lot_size=0.001,
            kind=InstrumentKind.PERPETUAL,
            **{field: value},
        )


# -- linear perpetual ------------------------------------------------------------------------------


def test_apply_fill_when_perp_opened_then_cash_moves_by_fee_only_and_margin_is_tied_up() -> None:
    p = crypto_portfolio()
    assert p.apply_fill(PERP, +1, 2.0, 50_000.0, 20.0) == OPENED
    assert p.cash == INITIAL - 20.0
    assert p.equity == INITIAL - 20.0
    assert p.margin_used == pytest.approx(2.0 * 50_000.0 * 0.05)
    assert p.maintenance_margin == pytest.approx(2.0 * 50_000.0 * 0.004)
    assert p.gross_exposure == pytest.approx(100_000.0)
    assert p.leverage == pytest.approx(100_000.0 / (INITIAL - 20.0))
    p.mark(PERP, 51_000.0)
    assert p.unrealized_pnl == pytest.approx(2_000.0)
    assert p.equity == pytest.approx(INITIAL - 20.0 + 2_000.0)
    assert p.margin_used == pytest.approx(2.0 * 51_000.0 * 0.05)  # at the mark
    assert p.cash == INITIAL - 20.0


def test_apply_fill_when_perp_partially_closed_then_cash_moves_by_realized_minus_fee() -> None:
    p = crypto_portfolio()
    p.apply_fill(PERP, +1, 2.0, 50_000.0, 20.0)
    assert p.apply_fill(PERP, -1, 0.5, 52_000.0, 5.0) == UPDATED
    assert p.realized_pnl == pytest.approx(1_000.0)
    assert p.cash == pytest.approx(INITIAL - 20.0 + 1_000.0 - 5.0)
    assert p.positions[PERP].quantity == pytest.approx(1.5)
    assert p.apply_fill(PERP, -1, 1.5, 49_000.0, 0.0) == CLOSED
    assert p.realized_pnl == pytest.approx(1_000.0 - 1_500.0)
    assert p.cash == pytest.approx(INITIAL - 25.0 - 500.0)
    assert p.margin_used == 0.0


def test_apply_fill_when_perp_with_multiplier_then_pnl_and_margin_scale() -> None:
    p = crypto_portfolio()
    p.apply_fill("ETH/USDT:USDT", -1, 3.0, 2_000.0, 0.0)  # short 3 contracts x 10 ETH
    p.mark("ETH/USDT:USDT", 1_900.0)
    assert p.unrealized_pnl == pytest.approx(3.0 * 100.0 * 10.0)
    assert p.margin_used == pytest.approx(3.0 * 1_900.0 * 10.0 * 0.1)
    assert p.cash == INITIAL


@pytest.mark.parametrize(
    ("side", "rate", "expected_cash_change"),
    [
        (+1, 0.0001, -0.5 * 60_000.0 * 0.0001),  # long pays a positive rate
        (-1, 0.0001, +0.5 * 60_000.0 * 0.0001),  # short receives it
        (+1, -0.0002, +0.5 * 60_000.0 * 0.0002),  # long receives a negative rate
        (-1, -0.0002, -0.5 * 60_000.0 * 0.0002),  # short pays it
    ],
)
def test_apply_funding_when_rate_signed_then_longs_pay_positive_rates(
    side: int, rate: float, expected_cash_change: float
) -> None:
    p = crypto_portfolio()
    p.apply_fill(PERP, side, 0.5, 59_000.0, 0.0)
    change = p.apply_funding(PERP, rate, 60_000.0, DAY0 + 8 * HOUR_NS)
    assert change == pytest.approx(expected_cash_change)
    assert p.cash == pytest.approx(INITIAL + expected_cash_change)
    assert p.funding_paid == pytest.approx(-expected_cash_change)
    assert p.positions[PERP].funding_paid == pytest.approx(-expected_cash_change)
    assert p.positions[PERP].last_funding_ts == DAY0 + 8 * HOUR_NS
    assert identity_gap(p) == pytest.approx(0.0, abs=1e-9)


def test_apply_funding_when_flat_or_never_traded_then_nothing_moves() -> None:
    p = crypto_portfolio()
    assert p.apply_funding(PERP, 0.001, 50_000.0, DAY0) == 0.0
    p.apply_fill(PERP, +1, 1.0, 50_000.0, 0.0)
    p.apply_fill(PERP, -1, 1.0, 50_000.0, 0.0)
    assert p.apply_funding(PERP, 0.001, 50_000.0, DAY0) == 0.0
    assert p.cash == INITIAL and p.funding_paid == 0.0


def test_apply_funding_when_spot_position_then_raises_naming_symbol() -> None:
    p = crypto_portfolio()
    p.apply_fill(SPOT, +1, 1.0, 50_000.0, 0.0)
    with pytest.raises(ValueError, match="BTC/USDT on default is not a perpetual"):
        p.apply_funding(SPOT, 0.0001, 50_000.0, DAY0)


def test_equity_when_spot_and_perp_mixed_then_identity_holds_and_cash_matches_oracle() -> None:
    p = crypto_portfolio()
    p.apply_fill(SPOT, +1, 1.0, 50_000.0, 50.0)
    p.apply_fill(PERP, -1, 1.0, 50_100.0, 20.0)  # basis trade
    p.apply_funding(PERP, 0.0001, 50_200.0, DAY0)  # short receives 5.02
    p.apply_fill(PERP, +1, 0.4, 49_000.0, 8.0)  # realizes 0.4 * 1_100 = 440
    p.mark(SPOT, 49_500.0)
    p.mark(PERP, 49_400.0)
    assert p.cash == pytest.approx(INITIAL - 50_000.0 - 50.0 - 20.0 + 5.02 + 440.0 - 8.0)
    assert p.realized_pnl == pytest.approx(440.0)
    assert p.unrealized_pnl == pytest.approx(-500.0 + 0.6 * 700.0)
    assert p.fees == pytest.approx(78.0)
    assert p.funding_paid == pytest.approx(-5.02)
    assert identity_gap(p) == pytest.approx(0.0, abs=1e-9)
    assert p.positions_value == pytest.approx(49_500.0 + 0.6 * 700.0)
    assert p.gross_exposure == pytest.approx(49_500.0 + 0.6 * 49_400.0)
    assert p.net_exposure == pytest.approx(49_500.0 - 0.6 * 49_400.0)


# -- fees in the fee currency ----------------------------------------------------------------------


def test_apply_fill_when_buy_fee_in_base_then_quantity_received_is_reduced() -> None:
    p = crypto_portfolio()
    p.apply_fill(SPOT, +1, 1.0, 50_000.0, 0.001, fee_currency="BTC")
    pos = p.positions[SPOT]
    assert pos.quantity == pytest.approx(0.999)
    assert pos.average_price == 50_000.0
    assert p.cash == INITIAL - 50_000.0  # the notional only
    assert p.fees == pytest.approx(50.0)  # 0.001 BTC at the fill price
    assert identity_gap(p) == pytest.approx(0.0, abs=1e-9)
    p.mark(SPOT, 51_000.0)
    assert p.equity == pytest.approx(INITIAL - 50_000.0 + 0.999 * 51_000.0)
    assert identity_gap(p) == pytest.approx(0.0, abs=1e-9)


def test_apply_fill_when_sell_fee_in_base_then_fee_units_are_given_up_too() -> None:
    p = crypto_portfolio()
    p.apply_fill(SPOT, +1, 2.0, 50_000.0, 0.0)
    p.apply_fill(SPOT, -1, 1.0, 51_000.0, 0.001, fee_currency="BTC")
    assert p.positions[SPOT].quantity == pytest.approx(0.999)
    assert p.cash == pytest.approx(INITIAL - 100_000.0 + 51_000.0)
    assert p.fees == pytest.approx(51.0)
    assert p.realized_pnl == pytest.approx(1.001 * 1_000.0)
    assert identity_gap(p) == pytest.approx(0.0, abs=1e-9)


def test_apply_fill_when_fee_in_quote_named_then_same_as_default() -> None:
    a = crypto_portfolio()
    b = crypto_portfolio()
    a.apply_fill(SPOT, +1, 1.0, 50_000.0, 50.0)
    b.apply_fill(SPOT, +1, 1.0, 50_000.0, 50.0, fee_currency="USDT")
    assert (a.cash, a.fees, a.positions[SPOT].quantity) == (
        b.cash,
        b.fees,
        b.positions[SPOT].quantity,
    )


def test_apply_fill_when_fee_in_third_currency_then_converter_prices_it_into_cash() -> None:
    p = crypto_portfolio(fee_converter=lambda currency, amount: amount * 600.0)
    p.apply_fill(SPOT, +1, 1.0, 50_000.0, 0.05, fee_currency="BNB")
    assert p.fees == pytest.approx(30.0)
    assert p.cash == pytest.approx(INITIAL - 50_000.0 - 30.0)
    assert p.positions[SPOT].quantity == 1.0


def test_apply_fill_when_fee_in_third_currency_without_converter_then_raises() -> None:
    p = crypto_portfolio()
    with pytest.raises(
        ValueError, match=r"fee_currency BNB for BTC/USDT .*Portfolio\(fee_converter=\.\.\.\)"
    ):
        p.apply_fill(SPOT, +1, 1.0, 50_000.0, 0.05, fee_currency="BNB")


def test_apply_fill_when_base_fee_on_perp_or_fee_above_quantity_then_raises() -> None:
    p = crypto_portfolio()
    with pytest.raises(ValueError, match="not supported for margined"):
        p.apply_fill(PERP, +1, 1.0, 50_000.0, 0.001, fee_currency="BTC")
    with pytest.raises(ValueError, match="must be below the bought quantity"):
        p.apply_fill(SPOT, +1, 0.001, 50_000.0, 0.001, fee_currency="BTC")


# -- registry and currency -------------------------------------------------------------------------


def test_apply_fill_when_symbol_not_in_registry_then_raises_unknown_symbol() -> None:
    p = crypto_portfolio()
    with pytest.raises(UnknownSymbolError, match="SOL/USDT"):
        p.apply_fill("SOL/USDT", +1, 1.0, 100.0, 0.0)


def test_apply_fill_when_settlement_currency_differs_then_raises_naming_both() -> None:
    p = Portfolio(INITIAL, "USDT", instruments=usd_registry())
    with pytest.raises(ValueError, match=r"settlement currency USD differs .* USDT"):
        p.apply_fill("AAPL/USD", +1, 1.0, 100.0, 0.0)


def test_portfolio_when_no_registry_then_positions_are_spot_of_unknown_class() -> None:
    p = Portfolio(INITIAL)
    p.apply_fill(PERP, +1, 1.0, 100.0, 0.0)
    assert p.cash == INITIAL - 100.0  # spot accounting without metadata
    assert p.exposure_by_asset_class() == {UNKNOWN: 100.0}
    assert p.exposure_by_sector() == {UNKNOWN: 100.0}


# -- exposure --------------------------------------------------------------------------------------


def test_exposure_when_multi_asset_then_gross_abs_notional_by_class_and_sector() -> None:
    p = Portfolio(1_000_000.0, "USD", instruments=usd_registry())
    p.apply_fill("AAPL/USD", +1, 100.0, 200.0, 1.0)  # 20_000 stock/tech
    p.apply_fill("MSFT/USD", -1, 10.0, 400.0, 1.0)  # 4_000 stock/tech (short)
    p.apply_fill("ES/USD", +1, 2.0, 5_000.0, 4.0)  # 2 * 5_000 * 50 = 500_000 future/index
    p.apply_fill("GC/USD", -1, 1.0, 2_000.0, 2.0)  # 200_000 commodity/metals
    p.apply_fill("EUR/USD", +1, 10_000.0, 1.1, 0.5)  # 11_000 forex/g10
    p.apply_fill("BTC/USD", +1, 1.0, 60_000.0, 6.0)  # 60_000 crypto/crypto-l1
    p.mark("ES/USD", 5_100.0)  # 510_000
    assert p.exposure_by_asset_class() == pytest.approx(
        {
            "stock": 24_000.0,
            "future": 510_000.0,
            "commodity": 200_000.0,
            "forex": 11_000.0,
            "crypto": 60_000.0,
        }
    )
    assert p.exposure_by_sector() == pytest.approx(
        {
            "tech": 24_000.0,
            "index": 510_000.0,
            "metals": 200_000.0,
            "g10": 11_000.0,
            "crypto-l1": 60_000.0,
        }
    )
    assert sum(p.exposure_by_sector().values()) == pytest.approx(p.gross_exposure)
    # Futures are margined: their notional never touched cash.
    assert p.cash == pytest.approx(1_000_000.0 - 20_000.0 + 4_000.0 - 11_000.0 - 60_000.0 - 14.5)
    assert p.margin_used == pytest.approx(510_000.0 * 0.06 + 200_000.0 * 0.1)
    assert p.unrealized_pnl == pytest.approx(2 * 100.0 * 50.0)
    assert identity_gap(p) == pytest.approx(0.0, abs=1e-6)


def test_exposure_when_position_closed_then_its_class_drops_out() -> None:
    p = crypto_portfolio()
    p.apply_fill("DOGE/USDT", +1, 1_000.0, 0.1, 0.0)
    p.apply_fill("DOGE/USDT", -1, 1_000.0, 0.1, 0.0)
    p.apply_fill(SPOT, +1, 1.0, 50_000.0, 0.0)
    assert p.exposure_by_sector() == {"crypto-l1": 50_000.0}


# -- venues ----------------------------------------------------------------------------------------


def test_apply_fill_when_same_symbol_on_two_venues_then_netted_separately() -> None:
    p = crypto_portfolio()
    p.apply_fill(PERP, +1, 1.0, 50_000.0, 0.0, venue="binance_usdm")
    p.apply_fill(PERP, -1, 1.0, 50_100.0, 0.0, venue="bybit")
    a = p.get_position(PERP, "binance_usdm")
    b = p.get_position(PERP, "bybit")
    assert a is not None and b is not None and a is not b
    assert (a.quantity, b.quantity) == (1.0, -1.0)
    assert (a.average_price, b.average_price) == (50_000.0, 50_100.0)
    assert p.realized_pnl == 0.0  # no cross-venue netting
    assert PERP not in p.positions  # the default venue's view
    assert set(p.venue_positions) == {("binance_usdm", PERP), ("bybit", PERP)}
    p.mark(PERP, 50_500.0, venue="binance_usdm")
    p.mark(PERP, 50_600.0, venue="bybit")
    assert p.unrealized_pnl == pytest.approx(500.0 - 500.0)
    assert p.gross_exposure == pytest.approx(50_500.0 + 50_600.0)
    assert p.exposure_by_venue() == pytest.approx({"binance_usdm": 50_500.0, "bybit": 50_600.0})
    assert p.margin_used == pytest.approx((50_500.0 + 50_600.0) * 0.05)
    p.apply_funding(PERP, 0.0001, 50_000.0, DAY0, venue="bybit")  # short receives
    assert p.funding_paid == pytest.approx(-5.0)
    assert identity_gap(p) == pytest.approx(0.0, abs=1e-9)


def test_apply_fill_when_default_venue_named_then_same_position_as_unnamed() -> None:
    p = crypto_portfolio(default_venue="binance")
    p.apply_fill(SPOT, +1, 1.0, 100.0, 0.0)
    p.apply_fill(SPOT, +1, 1.0, 102.0, 0.0, venue="binance")
    assert p.positions[SPOT] is p.venue_positions[("binance", SPOT)]
    assert p.position(SPOT).quantity == 2.0
    assert p.position(SPOT).average_price == 101.0
    assert Portfolio(INITIAL).default_venue == DEFAULT_VENUE


# -- daily P&L, VaR, summary -----------------------------------------------------------------------


def test_daily_pnl_when_crossing_utc_midnight_then_measured_from_last_equity_before_it() -> None:
    p = crypto_portfolio()
    p.apply_fill(SPOT, +1, 1.0, 50_000.0, 0.0)
    p.record_equity(DAY0 + 22 * HOUR_NS)  # 100_000
    p.mark(SPOT, 50_300.0)
    p.record_equity(DAY0 + 23 * HOUR_NS)  # 100_300: the last equity of day 0
    assert p.daily_pnl(DAY0 + 23 * HOUR_NS) == pytest.approx(300.0)  # day 0 starts at initial
    p.mark(SPOT, 50_100.0)
    p.record_equity(DAY0 + DAY_NS + HOUR_NS)  # 100_100 on day 1
    p.mark(SPOT, 49_900.0)
    assert p.daily_pnl(DAY0 + DAY_NS + 2 * HOUR_NS) == pytest.approx(99_900.0 - 100_300.0)
    assert p.summary(DAY0 + DAY_NS + 2 * HOUR_NS).daily_pnl == pytest.approx(-400.0)
    # A day with no records yet starts from the last equity recorded before it.
    assert p.daily_pnl(DAY0 + 2 * DAY_NS + HOUR_NS) == pytest.approx(99_900.0 - 100_100.0)


def test_daily_pnl_when_equity_recorded_exactly_at_midnight_then_that_is_the_day_start() -> None:
    p = crypto_portfolio()
    p.apply_fill(SPOT, +1, 1.0, 50_000.0, 0.0)
    p.mark(SPOT, 50_200.0)
    p.record_equity(DAY0)  # 100_200
    p.mark(SPOT, 50_250.0)
    assert p.daily_pnl(DAY0 + HOUR_NS) == pytest.approx(50.0)


def test_summary_when_few_returns_then_var_is_nan() -> None:
    p = crypto_portfolio()
    for i in range(MIN_VAR_RETURNS):  # MIN_VAR_RETURNS points = one return too few
        p.record_equity(DAY0 + i)
    assert math.isnan(p.summary(DAY0 + MIN_VAR_RETURNS).var_95)


def test_summary_when_curve_recorded_then_var_matches_numpy_quantile_oracle() -> None:
    rng = np.random.default_rng(5)
    p = crypto_portfolio()
    p.apply_fill(SPOT, +1, 1.0, 50_000.0, 0.0)
    for i, price in enumerate(50_000.0 * np.cumprod(1.0 + rng.normal(0.0, 0.01, 60))):
        p.mark(SPOT, float(price))
        p.record_equity(DAY0 + i * HOUR_NS)
    _, equity = p.equity_curve()
    returns = equity[1:] / equity[:-1] - 1.0
    summary = p.summary(DAY0 + 60 * HOUR_NS)
    assert summary.var_95 == pytest.approx(-np.quantile(returns, 0.05), rel=1e-12)
    assert summary.var_95 > 0.0


def test_summary_when_mixed_book_then_fields_are_consistent_with_the_portfolio() -> None:
    p = crypto_portfolio()
    p.apply_fill(SPOT, +1, 1.0, 50_000.0, 50.0)
    p.apply_fill(PERP, +1, 1.0, 50_000.0, 20.0)
    p.record_equity(DAY0 + HOUR_NS)
    p.mark(SPOT, 52_000.0)
    p.mark(PERP, 52_000.0)
    p.record_equity(DAY0 + 2 * HOUR_NS)  # peak
    p.mark(SPOT, 49_000.0)
    p.mark(PERP, 49_000.0)
    p.apply_funding(PERP, 0.0001, 49_000.0, DAY0 + 3 * HOUR_NS)
    ts = DAY0 + 3 * HOUR_NS
    s = p.summary(ts)
    assert isinstance(s, PortfolioSummary)
    assert s.timestamp == ts
    assert s.currency == "USDT"
    assert s.total_value == pytest.approx(p.equity)
    assert s.total_value == pytest.approx(s.cash + s.positions_value)
    assert s.cash == pytest.approx(INITIAL - 50_000.0 - 70.0 - 4.9)
    assert s.positions_value == pytest.approx(49_000.0 - 1_000.0)
    assert s.unrealized_pnl == pytest.approx(-2_000.0)
    assert s.realized_pnl == 0.0
    assert s.fees == pytest.approx(70.0)
    assert s.funding_paid == pytest.approx(4.9)
    assert s.margin_used == pytest.approx(49_000.0 * 0.05)
    assert s.gross_exposure == pytest.approx(98_000.0)
    assert s.leverage == pytest.approx(98_000.0 / s.total_value)
    assert s.daily_pnl == pytest.approx(s.total_value - INITIAL)
    peak = INITIAL - 70.0 + 4_000.0
    assert s.drawdown == pytest.approx((peak - s.total_value) / peak)
    assert s.max_drawdown == pytest.approx(s.drawdown)  # not yet recorded, still reported
    assert math.isnan(s.var_95)
    with pytest.raises(AttributeError):
        s.cash = 0.0  # type: ignore[misc]
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(s), type=PortfolioSummary)
    assert decoded.total_value == s.total_value
    assert math.isnan(decoded.var_95)
    assert msgspec.json.decode(msgspec.json.encode(s))["var_95"] is None  # JSON has no NaN


def test_summary_when_no_activity_then_flat_values() -> None:
    s = Portfolio(INITIAL).summary(DAY0)
    assert (s.total_value, s.cash, s.positions_value, s.daily_pnl) == (INITIAL, INITIAL, 0.0, 0.0)
    assert (s.leverage, s.drawdown, s.max_drawdown, s.margin_used) == (0.0, 0.0, 0.0, 0.0)


# -- invariants ------------------------------------------------------------------------------------

LEG = st.tuples(
    st.sampled_from(
        ((SPOT, None), (PERP, None), (PERP, "bybit"), ("ETH/USDT:USDT", None), (SPOT, "bybit"))
    ),
    st.sampled_from((1, -1)),
    st.integers(min_value=1, max_value=5_000).map(lambda n: n * 0.001),
    st.integers(min_value=100, max_value=10_000_000).map(lambda n: n * 0.01),
    st.integers(min_value=0, max_value=1_000).map(lambda n: n * 0.001),
    st.integers(min_value=-100, max_value=100).map(lambda n: n * 1e-5),  # funding rate
)


@given(legs=st.lists(LEG, min_size=1, max_size=30), exit_price=st.integers(100, 10_000_000))
def test_apply_fill_when_random_spot_and_perp_fills_then_identity_and_cash_oracle_hold(
    legs: list, exit_price: int
) -> None:
    registry = crypto_registry()
    p = Portfolio(INITIAL, instruments=registry)
    flows: list[float] = []  # signed notional flow of every fill, spot and margined alike
    fees: list[float] = []
    funding: list[float] = []
    held: dict[tuple[str, str | None], float] = {}
    gross = INITIAL
    for (symbol, venue), side, qty, price, fee, rate in legs:
        m = registry.get(symbol).contract_multiplier
        p.apply_fill(symbol, side, qty, price, fee, venue=venue)
        flows.append(-side * qty * price * m)
        fees.append(fee)
        key = (symbol, venue)
        held[key] = held.get(key, 0.0) + side * qty
        gross += qty * price * m
        if registry.get(symbol).is_margined:
            funding.append(held[key] * price * m * rate)
            p.apply_funding(symbol, rate, price, 0, venue=venue)
        p.mark(symbol, price, venue=venue)
        assert identity_gap(p) == pytest.approx(0.0, abs=1e-9 * gross)
    # Flatten everything at one exit price: then every position's P&L is realized and
    # cash is the initial cash plus all notional flows minus fees and funding.
    exit_p = exit_price * 0.01
    for (symbol, venue), quantity in held.items():
        pos = p.position(symbol, venue=venue)
        assert pos.quantity == pytest.approx(quantity, abs=1e-9 * 5 * len(legs))
        if pos.quantity != 0.0:
            side = 1 if pos.quantity < 0 else -1
            m = pos.multiplier
            flows.append(pos.quantity * exit_p * m)
            p.apply_fill(symbol, side, abs(pos.quantity), exit_p, 0.0, venue=venue)
            gross += abs(quantity) * exit_p * m
    assert all(pos.quantity == 0.0 for pos in p.venue_positions.values())
    expected = INITIAL + math.fsum(flows) - math.fsum(fees) - math.fsum(funding)
    assert p.cash == pytest.approx(expected, abs=1e-9 * gross)
    assert p.equity == pytest.approx(p.cash)
    assert p.margin_used == 0.0
    assert identity_gap(p) == pytest.approx(0.0, abs=1e-9 * gross)
