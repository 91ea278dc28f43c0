"""SimulatedVenue: latency, book walking, resting limit orders with a queue, fees; and the
engine wired to it the way ``api/cli.py``'s Backtest does.

Oracles: hand-computed fills from the displayed book (one fill per level at the
level price, ``fee = q * p * rate``), the queue rule of the venue's docstring
(risk-averse: only trades at our price or a shrinking level move us forward),
and, for the engine, the portfolio conventions recomputed from the published
ORDER_FILLED events with math.fsum.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from adapters.paper import SimulatedVenue
from engine.clock import SimulatedClock
from engine.config import PaperConfig, load_config
from engine.engine import TradingEngine
from engine.events import EventType
from engine.instruments import default_instruments
from engine.market import SymbolMarket
from engine.orders import Order, OrderStatus, OrderType, Side
from engine.strategies import EmaMomentumStrategy
from engine.strategy import TradingSignal
from kernels.dtypes import SIDE_BUY, SIDE_SELL

SYMBOL = "BTC/USDT"
T0 = 1_700_000_000_000_000_000
LATENCY_US = 1_000
LATENCY_NS = LATENCY_US * 1_000
ARRIVAL = T0 + LATENCY_NS
MAKER = 0.0002
TAKER = 0.0007
CONFIG = PaperConfig(maker_fee=MAKER, taker_fee=TAKER, latency_us=LATENCY_US)

# Prices are chosen so that ticks * 0.01 is the same float as the decimal literal
# (see test_market_order_when_level_price_not_exact_in_float_then_fills_at_level_price).
BIDS = [(100.00, 2.0), (99.98, 3.0)]
ASKS = [(100.01, 0.5), (100.02, 1.0), (100.03, 2.0)]


# -- recording sinks -------------------------------------------------------------------------------


class Reports:
    """ExecutionReportSink that records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def on_order_accepted(self, client_order_id: str, ts: int) -> None:
        self.calls.append(("accepted", client_order_id, ts))

    def on_order_rejected(self, client_order_id: str, reason: str, ts: int) -> None:
        self.calls.append(("rejected", client_order_id, reason, ts))

    def on_order_cancelled(self, client_order_id: str, reason: str, ts: int) -> None:
        self.calls.append(("cancelled", client_order_id, reason, ts))

    def on_order_expired(self, client_order_id: str, reason: str, ts: int) -> None:
        self.calls.append(("expired", client_order_id, reason, ts))

    def on_fill(
        self,
        client_order_id: str,
        quantity: float,
        price: float,
        fee: float,
        liquidity: str,
        ts: int,
    ) -> None:
        self.calls.append(("fill", client_order_id, quantity, price, fee, liquidity, ts))

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == kind]

    @property
    def fills(self) -> list[tuple[float, float, str]]:
        """``(quantity, price, liquidity)`` of every fill."""
        return [(c[2], c[3], c[5]) for c in self.of("fill")]


class Downstream:
    """MarketDataSink that records what the venue forwards."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []

    def on_trade(self, market: SymbolMarket, ts_recv: int) -> None:
        self.calls.append(("trade", market.symbol, ts_recv))

    def on_book(self, market: SymbolMarket, ts_recv: int) -> None:
        self.calls.append(("book", market.symbol, ts_recv))

    def on_ticker(self, market: SymbolMarket, ts_recv: int) -> None:
        self.calls.append(("ticker", market.symbol, ts_recv))


# -- harness ---------------------------------------------------------------------------------------


def levels(rows: list[tuple[float, float]]) -> np.ndarray:
    return np.array(rows, dtype=np.float64).reshape(-1, 2)


class Sim:
    """A real market, clock and venue with recording sinks."""

    def __init__(
        self,
        bids: list[tuple[float, float]] | None = BIDS,
        asks: list[tuple[float, float]] | None = ASKS,
    ) -> None:
        self.market = SymbolMarket(default_instruments().get(SYMBOL), 64, 1024)
        self._update_id = 0
        if bids is not None and asks is not None:
            self.load(bids, asks)
        self.clock = SimulatedClock(T0)
        self.reports = Reports()
        self.downstream = Downstream()
        self.venue = SimulatedVenue(
            {SYMBOL: self.market}, self.reports, self.downstream, CONFIG, self.clock
        )
        self._trade_id = 0
        self._seq = 0

    def load(self, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> None:
        self._update_id += 1
        status = self.market.book.load_snapshot(levels(bids), levels(asks), self._update_id)
        assert status == 0

    def submit(
        self,
        side: Side,
        quantity: float,
        price: float = math.nan,
        *,
        symbol: str = SYMBOL,
        ts: int = T0,
    ) -> str:
        self._seq += 1
        coid = f"o-{self._seq}"
        order = Order(
            client_order_id=coid,
            symbol=symbol,
            venue="binance",
            side=side,
            order_type=OrderType.MARKET if math.isnan(price) else OrderType.LIMIT,
            quantity=quantity,
            price=price,
            ts_created=ts,
        )
        self.clock.advance_to(ts)
        self.venue.submit_order(order, ts)
        return coid

    def book_event(self, ts: int) -> None:
        self.clock.advance_to(ts)
        self.venue.on_book(self.market, ts)

    def ticker_event(self, ts: int) -> None:
        self.clock.advance_to(ts)
        self.venue.on_ticker(self.market, ts)

    def trade(self, ts: int, price: float, qty: float, aggressor: int) -> None:
        self._trade_id += 1
        self.clock.advance_to(ts)
        self.market.trades.push(ts, ts, price, qty, self._trade_id, aggressor)
        self.market.last_price = price
        self.market.last_trade_ts = ts
        self.venue.on_trade(self.market, ts)

    def rest(self, side: Side, quantity: float, price: float) -> str:
        """Submit a limit order and let it arrive on a book event."""
        coid = self.submit(side, quantity, price)
        self.book_event(ARRIVAL)
        assert self.reports.of("accepted")[-1][1] == coid
        return coid


def fee(q: float, p: float, rate: float) -> float:
    return q * p * rate


def assert_fills(
    reports: Reports, expected: list[tuple[float, float, str]], fee_rates: dict[str, float]
) -> None:
    got = reports.of("fill")
    assert [(c[2], c[3], c[5]) for c in got] == expected
    for c in got:
        assert c[4] == pytest.approx(fee(c[2], c[3], fee_rates[c[5]]), rel=1e-12)


RATES = {"maker": MAKER, "taker": TAKER}


# -- market orders ---------------------------------------------------------------------------------


def test_market_buy_when_arrives_then_walks_asks_one_fill_per_level_with_taker_fee() -> None:
    sim = Sim()
    coid = sim.submit(Side.BUY, 2.0)
    sim.book_event(ARRIVAL)
    assert sim.reports.calls[0] == ("accepted", coid, ARRIVAL)
    assert_fills(
        sim.reports, [(0.5, 100.01, "taker"), (1.0, 100.02, "taker"), (0.5, 100.03, "taker")], RATES
    )
    assert all(c[1] == coid and c[6] == ARRIVAL for c in sim.reports.of("fill"))
    assert sim.reports.of("cancelled") == []
    assert math.fsum(q for q, _, _ in sim.reports.fills) == 2.0
    assert sim.venue.open_order_count == 0
    assert sim.venue.fills == 3


def test_market_sell_when_arrives_then_walks_bids_from_best_down() -> None:
    sim = Sim()
    sim.submit(Side.SELL, 4.0)
    sim.book_event(ARRIVAL)
    assert_fills(sim.reports, [(2.0, 100.00, "taker"), (2.0, 99.98, "taker")], RATES)


def test_market_order_when_filled_then_recorded_book_unchanged() -> None:
    sim = Sim()
    sim.submit(Side.BUY, 2.0)
    sim.book_event(ARRIVAL)
    assert sim.market.book.best() == (100.00, 2.0, 100.01, 0.5)


def test_market_order_when_larger_than_book_then_fills_all_levels_then_expired() -> None:
    sim = Sim()
    coid = sim.submit(Side.BUY, 5.0)
    sim.book_event(ARRIVAL)
    assert_fills(
        sim.reports, [(0.5, 100.01, "taker"), (1.0, 100.02, "taker"), (2.0, 100.03, "taker")], RATES
    )
    assert sim.reports.calls[-1][:2] == ("expired", coid)
    assert "no more liquidity" in sim.reports.calls[-1][2]
    assert sim.reports.of("cancelled") == []
    assert sim.venue.open_order_count == 0


def test_market_order_when_opposite_side_empty_then_expired_without_fill() -> None:
    sim = Sim(bids=[], asks=[(100.01, 1.0)])
    coid = sim.submit(Side.SELL, 1.0)
    sim.book_event(ARRIVAL)
    assert [c[0] for c in sim.reports.calls] == ["accepted", "expired"]
    assert sim.reports.calls[-1][1] == coid


def test_market_order_when_level_price_not_exact_in_float_then_fills_at_level_price() -> None:
    sim = Sim(bids=[(99.98, 1.0)], asks=[(99.99, 1.0), (60_000.02, 1.0)])
    sim.submit(Side.BUY, 2.0)
    sim.book_event(ARRIVAL)
    assert [p for _, p, _ in sim.reports.fills] == [99.99, 60_000.02]


def test_limit_buy_when_priced_at_ask_then_takes_at_arrival_as_taker() -> None:
    sim = Sim(bids=[(99.98, 1.0)], asks=[(99.99, 1.0)])
    sim.submit(Side.BUY, 1.0, 99.99)
    sim.book_event(ARRIVAL)
    assert sim.reports.fills == [(1.0, 99.99, "taker")]
    assert sim.venue.open_order_count == 0


# -- latency ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["book", "ticker", "trade"])
def test_order_when_event_before_latency_then_nothing_then_arrives_on_first_event_at_latency(
    kind: str,
) -> None:
    sim = Sim()
    coid = sim.submit(Side.BUY, 0.5)
    sim.book_event(ARRIVAL - 1)
    sim.ticker_event(ARRIVAL - 1)
    sim.trade(ARRIVAL - 1, 100.02, 0.1, SIDE_BUY)
    assert sim.reports.calls == []
    if kind == "book":
        sim.book_event(ARRIVAL)
    elif kind == "ticker":
        sim.ticker_event(ARRIVAL)
    else:
        sim.trade(ARRIVAL, 100.02, 0.1, SIDE_BUY)
    assert sim.reports.calls[0] == ("accepted", coid, ARRIVAL)
    assert sim.reports.fills == [(0.5, 100.01, "taker")]


def test_order_when_first_event_after_latency_is_late_then_arrives_at_that_event_time() -> None:
    sim = Sim()
    sim.submit(Side.BUY, 0.5)
    late = ARRIVAL + 7_654_321
    sim.book_event(late)
    assert sim.reports.calls[0][2] == late
    assert sim.reports.of("fill")[0][6] == late


def test_orders_when_submitted_in_sequence_then_arrive_in_submission_order() -> None:
    sim = Sim()
    first = sim.submit(Side.BUY, 0.1, ts=T0)
    second = sim.submit(Side.SELL, 0.1, ts=T0 + 10)
    sim.book_event(ARRIVAL + 5)
    assert [c[1] for c in sim.reports.calls] == [first, first]
    sim.book_event(ARRIVAL + 10)
    assert [c[1] for c in sim.reports.calls[2:]] == [second, second]


def test_venue_when_market_event_then_forwarded_downstream_after_processing() -> None:
    sim = Sim()
    sim.submit(Side.BUY, 0.5)
    sim.book_event(ARRIVAL - 1)
    sim.ticker_event(ARRIVAL)
    sim.trade(ARRIVAL + 1, 100.01, 0.2, SIDE_BUY)
    assert sim.downstream.calls == [
        ("book", SYMBOL, ARRIVAL - 1),
        ("ticker", SYMBOL, ARRIVAL),
        ("trade", SYMBOL, ARRIVAL + 1),
    ]


# -- rejects ---------------------------------------------------------------------------------------


def test_order_when_book_never_synced_then_rejected_naming_symbol() -> None:
    sim = Sim(bids=None, asks=None)
    coid = sim.submit(Side.BUY, 0.5)
    sim.ticker_event(ARRIVAL)
    assert len(sim.reports.calls) == 1
    kind, rejected, reason, ts = sim.reports.calls[0]
    assert (kind, rejected, ts) == ("rejected", coid, ARRIVAL)
    assert SYMBOL in reason
    assert "out of sync" in reason


def test_order_when_book_invalidated_then_rejected_and_limit_not_rested() -> None:
    sim = Sim()
    sim.market.book.invalidate()
    sim.submit(Side.BUY, 0.5, 100.00)
    sim.ticker_event(ARRIVAL)
    assert [c[0] for c in sim.reports.calls] == ["rejected"]
    assert SYMBOL in sim.reports.calls[0][2]
    assert sim.venue.open_order_count == 0


def test_order_when_symbol_unknown_to_venue_then_rejected_naming_symbol() -> None:
    sim = Sim()
    sim.submit(Side.BUY, 0.5, symbol="ETH/USDT")
    sim.book_event(ARRIVAL)
    assert sim.reports.calls[0][0] == "rejected"
    assert "ETH/USDT" in sim.reports.calls[0][2]


# -- resting limit orders --------------------------------------------------------------------------


def test_limit_buy_when_below_ask_then_accepted_and_rests_without_fill() -> None:
    sim = Sim()
    coid = sim.rest(Side.BUY, 1.0, 100.00)
    assert sim.reports.calls == [("accepted", coid, ARRIVAL)]
    assert sim.venue.open_order_count == 1


def test_limit_buy_when_crossing_then_takes_up_to_limit_and_rests_remainder() -> None:
    sim = Sim()
    sim.submit(Side.BUY, 2.0, 100.02)
    sim.ticker_event(ARRIVAL)
    assert_fills(sim.reports, [(0.5, 100.01, "taker"), (1.0, 100.02, "taker")], RATES)
    assert sim.reports.of("cancelled") == []
    assert sim.venue.open_order_count == 1


def test_limit_buy_when_crossing_and_book_unchanged_then_remainder_keeps_resting() -> None:
    sim = Sim()
    sim.submit(Side.BUY, 2.0, 100.02)
    sim.book_event(ARRIVAL)
    sim.book_event(ARRIVAL + 1)
    assert_fills(sim.reports, [(0.5, 100.01, "taker"), (1.0, 100.02, "taker")], RATES)
    assert sim.venue.open_order_count == 1


def test_resting_buy_when_sell_trade_through_price_then_fills_as_maker_at_limit_price() -> None:
    sim = Sim()
    coid = sim.rest(Side.BUY, 1.0, 100.00)
    sim.trade(ARRIVAL + 1, 99.98, 0.4, SIDE_SELL)
    assert_fills(sim.reports, [(0.4, 100.00, "maker")], RATES)
    assert sim.reports.of("fill")[0][1] == coid
    sim.trade(ARRIVAL + 2, 99.97, 5.0, SIDE_SELL)
    assert sim.reports.fills[1] == (0.6, 100.00, "maker")
    assert sim.venue.open_order_count == 0
    sim.trade(ARRIVAL + 3, 99.96, 5.0, SIDE_SELL)
    assert len(sim.reports.fills) == 2


def test_resting_sell_when_buy_trade_through_price_then_fills_as_maker_at_limit_price() -> None:
    sim = Sim()
    sim.rest(Side.SELL, 1.0, 100.03)
    sim.trade(ARRIVAL + 1, 100.05, 0.25, SIDE_BUY)
    assert_fills(sim.reports, [(0.25, 100.03, "maker")], RATES)


@pytest.mark.parametrize(
    ("price", "aggressor"),
    [(99.98, SIDE_BUY), (100.01, SIDE_SELL)],
    ids=["wrong_aggressor", "above_limit"],
)
def test_resting_buy_when_trade_not_a_sell_through_or_at_price_then_no_fill(
    price: float, aggressor: int
) -> None:
    sim = Sim()
    sim.rest(Side.BUY, 1.0, 100.00)
    sim.trade(ARRIVAL + 1, price, 10.0, aggressor)
    assert sim.reports.fills == []
    assert sim.venue.open_order_count == 1


def test_resting_buy_when_trades_at_price_then_fills_only_after_displayed_queue() -> None:
    sim = Sim()
    sim.rest(Side.BUY, 1.0, 100.00)  # 2.0 displayed ahead of us at arrival
    sim.trade(ARRIVAL + 1, 100.00, 1.5, SIDE_SELL)
    assert sim.reports.fills == []
    sim.trade(ARRIVAL + 2, 100.00, 1.0, SIDE_SELL)
    assert_fills(sim.reports, [(0.5, 100.00, "maker")], RATES)
    sim.trade(ARRIVAL + 3, 100.00, 0.2, SIDE_SELL)  # queue exhausted: fills directly
    assert sim.reports.fills[1] == (pytest.approx(0.2), 100.00, "maker")
    assert sim.venue.open_order_count == 1


def test_resting_buy_when_at_new_level_then_no_queue_ahead() -> None:
    sim = Sim()
    sim.rest(Side.BUY, 1.0, 99.99)  # nothing displayed at 99.99
    sim.trade(ARRIVAL + 1, 99.99, 0.3, SIDE_SELL)
    assert_fills(sim.reports, [(0.3, 99.99, "maker")], RATES)


def test_resting_buy_when_level_shrinks_then_queue_ahead_shrinks() -> None:
    sim = Sim()
    sim.rest(Side.BUY, 1.0, 100.00)  # queue 2.0
    sim.market.book.apply(levels([(100.00, 0.5)]), levels([]), 10, ARRIVAL + 1)
    sim.book_event(ARRIVAL + 1)
    assert sim.reports.fills == []
    sim.trade(ARRIVAL + 2, 100.00, 0.7, SIDE_SELL)
    assert sim.reports.fills == [(pytest.approx(0.2), 100.00, "maker")]


def test_resting_buy_when_level_grows_then_queue_ahead_unchanged() -> None:
    sim = Sim()
    sim.rest(Side.BUY, 1.0, 100.00)  # queue 2.0
    sim.market.book.apply(levels([(100.00, 9.0)]), levels([]), 10, ARRIVAL + 1)
    sim.book_event(ARRIVAL + 1)
    sim.trade(ARRIVAL + 2, 100.00, 2.5, SIDE_SELL)
    assert sim.reports.fills == [(0.5, 100.00, "maker")]


@pytest.mark.parametrize(
    ("bids", "asks"),
    [([(99.98, 3.0)], [(100.00, 1.0)]), ([(99.97, 3.0)], [(99.98, 1.0)])],
    ids=["ask_at_limit", "ask_through_limit"],
)
def test_resting_buy_when_ask_moves_to_or_through_limit_then_fills_all_at_limit_as_maker(
    bids: list[tuple[float, float]], asks: list[tuple[float, float]]
) -> None:
    sim = Sim()
    coid = sim.rest(Side.BUY, 1.5, 100.00)
    sim.load(bids, asks)
    sim.book_event(ARRIVAL + 1)
    assert_fills(sim.reports, [(1.5, 100.00, "maker")], RATES)
    assert sim.reports.of("fill")[0][1] == coid
    assert sim.venue.open_order_count == 0


def test_resting_sell_when_bid_moves_to_limit_then_fills_at_limit_as_maker() -> None:
    sim = Sim()
    sim.rest(Side.SELL, 0.7, 100.03)
    sim.load([(100.03, 1.0)], [(100.04, 1.0)])
    sim.book_event(ARRIVAL + 1)
    assert_fills(sim.reports, [(0.7, 100.03, "maker")], RATES)


def test_resting_orders_when_one_trade_through_then_total_fill_at_most_trade_qty() -> None:
    sim = Sim()
    sim.rest(Side.BUY, 1.0, 100.00)
    sim.submit(Side.BUY, 1.0, 100.00, ts=ARRIVAL)
    sim.book_event(ARRIVAL + LATENCY_NS)
    assert sim.venue.open_order_count == 2
    sim.trade(ARRIVAL + LATENCY_NS + 1, 99.98, 1.0, SIDE_SELL)
    assert math.fsum(q for q, _, _ in sim.reports.fills) <= 1.0


# -- cancels ---------------------------------------------------------------------------------------


def test_cancel_order_when_resting_then_removed_and_reported_cancelled() -> None:
    sim = Sim()
    coid = sim.rest(Side.BUY, 1.0, 100.00)
    sim.venue.cancel_order(coid, ARRIVAL + 5)
    assert sim.reports.calls[-1] == ("cancelled", coid, "cancelled by client", ARRIVAL + 5)
    assert sim.venue.open_order_count == 0
    sim.trade(ARRIVAL + 6, 99.0, 10.0, SIDE_SELL)
    sim.load([(99.0, 1.0)], [(99.5, 1.0)])
    sim.book_event(ARRIVAL + 7)
    assert sim.reports.fills == []


def test_cancel_order_when_still_in_flight_then_never_arrives() -> None:
    sim = Sim()
    coid = sim.submit(Side.BUY, 1.0)
    sim.venue.cancel_order(coid, T0 + 10)
    assert sim.reports.calls == [("cancelled", coid, "cancelled before arrival", T0 + 10)]
    sim.book_event(ARRIVAL)
    assert len(sim.reports.calls) == 1


def test_cancel_order_when_unknown_then_no_report() -> None:
    sim = Sim()
    sim.venue.cancel_order("nope", T0)
    assert sim.reports.calls == []


# -- determinism -----------------------------------------------------------------------------------


def scenario() -> list[tuple[Any, ...]]:
    sim = Sim()
    sim.submit(Side.BUY, 1.7, ts=T0)
    sim.submit(Side.BUY, 1.0, 100.00, ts=T0 + 3)
    sim.submit(Side.SELL, 0.8, 100.03, ts=T0 + 5)
    rng = np.random.default_rng(7)
    ts = ARRIVAL
    for _ in range(200):
        ts += int(rng.integers(1, 500_000))
        r = rng.random()
        if r < 0.6:
            price = float(np.round(100.0 + rng.normal(0.0, 0.03), 2))
            side = SIDE_BUY if rng.random() < 0.5 else SIDE_SELL
            sim.trade(ts, price, float(np.round(rng.random(), 3)) + 0.001, side)
        elif r < 0.9:
            sim.book_event(ts)
        else:
            sim.ticker_event(ts)
    return sim.reports.calls


def test_venue_when_same_sequence_run_twice_then_identical_reports() -> None:
    first, second = scenario(), scenario()
    assert first == second
    assert len([c for c in first if c[0] == "fill"]) >= 4


# -- engine wired to the venue (as api/cli.py's Backtest) ------------------------------------------

BTC_BIDS = [(59_999.99, 0.2), (59_999.98, 1.0)]
BTC_ASKS = [(60_000.01, 0.1), (60_000.03, 0.1), (60_000.04, 5.0)]


class Wired:
    def __init__(self) -> None:
        config = load_config(None, env={})
        self.config = config
        self.clock = SimulatedClock(T0)
        self.engine = TradingEngine(
            config,
            default_instruments(),
            self.clock,
            EmaMomentumStrategy(config.strategy, config.risk),
        )
        self.venue = SimulatedVenue(
            self.engine.markets, self.engine, self.engine, config.paper, self.clock
        )
        self.engine.set_gateway(self.venue)
        self.market = self.engine.markets[SYMBOL]
        self.market.book.load_snapshot(levels(BTC_BIDS), levels(BTC_ASKS), 1)
        self.engine.start()
        self.latency_ns = config.paper.latency_us * 1_000

    def history(self, topic: EventType) -> list[Any]:
        return self.engine.bus.get_event_history(topic)

    def signal(self, side: str, confidence: float, quantity: float = 0.0):
        return self.engine.submit_signal(
            TradingSignal(
                symbol=SYMBOL,
                side=side,
                confidence=confidence,
                price=60_000.0,
                quantity=quantity,
                strategy_name="test",
                timestamp=self.clock.now_ns(),
            )
        )

    def book_event(self, ts: int) -> None:
        self.clock.advance_to(ts)
        self.venue.on_book(self.market, ts)


def test_engine_submit_signal_when_confidence_below_055_then_risk_check_failed_names_limit() -> (
    None
):
    w = Wired()
    assert w.signal("BUY", 0.5499, quantity=0.1) is None
    (failed,) = w.history(EventType.RISK_CHECK_FAILED)
    assert failed.check == "min_confidence"
    assert "risk.min_confidence" in failed.reason
    assert "0.5499" in failed.reason
    assert failed.symbol == SYMBOL
    assert len(w.history(EventType.ORDER_REJECTED)) == 1
    assert len(w.history(EventType.SIGNAL_REJECTED)) == 1
    assert w.history(EventType.ORDER_PLACED) == []
    w.book_event(T0 + 10 * w.latency_ns)
    assert w.history(EventType.ORDER_FILLED) == []
    assert w.engine.portfolio.cash == w.config.engine.initial_cash


def test_engine_submit_signal_when_valid_then_placed_then_filled_after_latency_and_reconciles() -> (
    None
):
    w = Wired()
    initial = w.config.engine.initial_cash
    taker = w.config.paper.taker_fee
    order = w.signal("BUY", 0.8, quantity=0.15)
    assert order is not None
    (placed,) = w.history(EventType.ORDER_PLACED)
    assert (placed.client_order_id, placed.side, placed.order_type, placed.quantity) == (
        order.client_order_id,
        "BUY",
        "MARKET",
        0.15,
    )
    assert len(w.history(EventType.RISK_CHECK_PASSED)) == 1
    w.book_event(T0 + w.latency_ns - 1)
    assert w.history(EventType.ORDER_FILLED) == []
    w.book_event(T0 + w.latency_ns)
    fills = w.history(EventType.ORDER_FILLED)
    assert [(f.quantity, f.price, f.liquidity) for f in fills] == [
        (0.1, 60_000.01, "taker"),
        (pytest.approx(0.05), 60_000.03, "taker"),
    ]
    for f in fills:
        assert f.client_order_id == order.client_order_id
        assert f.fee == pytest.approx(f.quantity * f.price * taker, rel=1e-12)
    assert fills[-1].leaves_quantity == pytest.approx(0.0, abs=1e-12)
    assert order.status is OrderStatus.FILLED
    # The portfolio reconciles with the fills on the bus.
    p = w.engine.portfolio
    sign = {"BUY": 1, "SELL": -1}
    assert p.cash == pytest.approx(
        initial
        - math.fsum(sign[f.side] * f.quantity * f.price for f in fills)
        - math.fsum(f.fee for f in fills),
        rel=1e-12,
    )
    assert p.positions[SYMBOL].quantity == pytest.approx(
        math.fsum(sign[f.side] * f.quantity for f in fills), rel=1e-12
    )
    assert p.fees == pytest.approx(math.fsum(f.fee for f in fills), rel=1e-12)
    assert p.fills == len(fills)
    assert len(w.history(EventType.POSITION_OPENED)) == 1
    assert len(w.history(EventType.POSITION_UPDATED)) == 1


def test_engine_when_long_closed_by_sell_signal_then_position_closed_and_pnl_reconciles() -> None:
    w = Wired()
    w.signal("BUY", 0.8, quantity=0.15)
    w.book_event(T0 + w.latency_ns)
    t1 = T0 + 2 * w.latency_ns
    w.clock.advance_to(t1)
    sell = w.signal("SELL", 0.9)  # quantity 0: the strategy sizes it to the whole long
    assert sell is not None
    assert sell.quantity == pytest.approx(0.15)
    w.book_event(t1 + w.latency_ns)
    fills = w.history(EventType.ORDER_FILLED)
    sells = [f for f in fills if f.side == "SELL"]
    assert [(f.quantity, f.price) for f in sells] == [(pytest.approx(0.15), 59_999.99)]
    p = w.engine.portfolio
    assert p.positions[SYMBOL].quantity == 0.0
    assert len(w.history(EventType.POSITION_CLOSED)) == 1
    bought = math.fsum(f.quantity * f.price for f in fills if f.side == "BUY")
    sold = math.fsum(f.quantity * f.price for f in sells)
    fees = math.fsum(f.fee for f in fills)
    assert p.realized_pnl == pytest.approx(sold - bought, rel=1e-9)
    assert p.cash == pytest.approx(w.config.engine.initial_cash + sold - bought - fees, rel=1e-12)
    assert p.equity - p.initial_cash == pytest.approx(p.realized_pnl - p.fees, abs=1e-9)
