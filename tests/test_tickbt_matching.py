"""Matching, queues, latency and the strategy API of the tick backtester, scenario by scenario.

Every scenario is a handful of Binance frames built here (a snapshot, depth diffs and trades at
chosen exchange times, received ``FEED_NS`` later), and every expected outcome is worked out by
hand from the rules in ``kernels/tickbt.py``'s docstring: post-only orders that would cross
expire; crossing limit orders take level by level (taker fee) and rest the remainder; a resting
order queues behind the level it joined (risk-averse: only trades at its price or a level
shrinking below it move it forward) and fills in full on a trade through its price or when the
opposite best crosses it; an order reaches the exchange ``entry latency`` after it is sent and
its fills reach the strategy ``response latency`` after they happen. Prices and quantities are
binary fractions (tick 0.5, lot 0.25) so cash and positions compare exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.paper.tickbt import (
    RUN_END,
    RUN_TIMEOUT,
    WAKE_BBO,
    WAKE_FILL,
    WAKE_TRADE,
    BacktestConfig,
    BacktestError,
    TickBacktester,
)
from adapters.paper.tickdata import convert_frames
from kernels.tickbt import BUY, SELL
from tests.test_tickdata import FEED_NS, MS, FrameBuilder

TICK = 0.5
LOT = 0.25
ENTRY = 5 * MS
RESP = 3 * MS
MAKER = 0.0002
TAKER = 0.0005
BIDS = [(99.5, 5.0), (99.0, 5.0), (97.0, 1.0)]
ASKS = [(100.0, 1.0), (100.5, 2.0), (101.0, 5.0), (103.0, 1.0)]
#: A second in ns: long enough to reach the end of every scenario.
LONG = 1_000 * MS


def base_frames() -> FrameBuilder:
    """The snapshot every scenario starts from (at exchange time 0)."""
    fb = FrameBuilder()
    fb.snapshot(0, BIDS, ASKS)
    return fb


def backtester(fb: FrameBuilder, **config: Any) -> TickBacktester:
    cfg = {
        "entry_latency_ns": ENTRY,
        "response_latency_ns": RESP,
        "maker_fee": MAKER,
        "taker_fee": TAKER,
        **config,
    }
    return TickBacktester(convert_frames(fb.frames, TICK, LOT), BacktestConfig(**cfg))


def go_to(bt: TickBacktester, t_ms: float, wake: int = 0) -> int:
    """Advance the local clock to ``t_ms`` (ms after exchange time 0)."""
    target = round(t_ms * MS)
    assert target >= bt.now
    return bt.elapse(target - bt.now, wake)


def fill_rows(bt: TickBacktester) -> list[tuple[int, int, int, bool, float, float]]:
    """(exchange ts, order id, side, maker, price, qty) of every fill."""
    f = bt.fills()
    return [
        (
            int(f["exch_ts"][i]),
            int(f["order_id"][i]),
            int(f["side"][i]),
            bool(f["maker"][i]),
            float(f["price"][i]),
            float(f["qty"][i]),
        )
        for i in range(f["qty"].shape[0])
    ]


def order_row(bt: TickBacktester, order_id: int) -> dict[str, Any]:
    o = bt.orders()
    (i,) = np.flatnonzero(o["order_id"] == order_id)
    return {key: v[i].item() for key, v in o.items()}


def expected_cash(fills: list[tuple[int, int, int, bool, float, float]]) -> float:
    return sum(
        -side * px * q - (MAKER if mk else TAKER) * px * q for _, _, side, mk, px, q in fills
    )


# -- order types -------------------------------------------------------------------------------


def test_post_only_when_it_would_cross_then_expired_and_never_fills_or_takes() -> None:
    fb = base_frames()
    fb.trade(30, 99.0, 0.25, True)  # trades through 99.5: a resting buy there fills in full
    bt = backtester(fb)
    go_to(bt, 10)
    crossing = bt.buy(100.0, 1.0, tif="gtx")  # the best ask is 100.0
    passive = bt.buy(99.5, 1.0, tif="gtx")
    go_to(bt, 100)
    assert order_row(bt, crossing)["status"] == "expired"
    assert order_row(bt, crossing)["filled"] == 0.0
    assert fill_rows(bt) == [(30 * MS, passive, BUY, True, 99.5, 1.0)]
    stats = bt.stats()
    assert stats["post_only_rejected"] == 1
    assert stats["taker_fills"] == 0
    assert stats["position"] == 1.0


@pytest.mark.parametrize("side", [BUY, SELL])
def test_gtc_limit_when_crossing_then_takes_level_by_level_as_taker_and_rests_remainder(
    side: int,
) -> None:
    bt = backtester(base_frames())
    go_to(bt, 10)
    if side == BUY:
        oid = bt.buy(100.5, 4.0)
        takes = [(100.0, 1.0), (100.5, 2.0)]
        price = 100.5
    else:
        oid = bt.sell(99.0, 11.0)
        takes = [(99.5, 5.0), (99.0, 5.0)]
        price = 99.0
    go_to(bt, 15 + 3)  # arrival + response latency: the strategy knows
    expected = [(15 * MS, oid, side, False, px, q) for px, q in takes]
    assert fill_rows(bt) == expected
    f = bt.fills()
    np.testing.assert_allclose(f["fee"], [TAKER * px * q for px, q in takes], rtol=1e-12)
    (o,) = bt.open_orders()
    assert o["id"] == oid and o["price"] == price
    assert o["status"] == "partially_filled"
    assert o["leaves"] == 1.0 and o["filled"] == sum(q for _, q in takes)
    assert bt.position == side * sum(q for _, q in takes)
    assert bt.stats()["cash"] == pytest.approx(expected_cash(expected), rel=1e-12)


def test_ioc_when_partly_available_then_takes_it_and_expires_the_rest() -> None:
    bt = backtester(base_frames())
    go_to(bt, 10)
    partial = bt.buy(100.5, 4.0, tif="ioc")
    passive = bt.buy(99.5, 1.0, tif="ioc")  # does not cross: nothing to take
    go_to(bt, 100)
    assert fill_rows(bt) == [
        (15 * MS, partial, BUY, False, 100.0, 1.0),
        (15 * MS, partial, BUY, False, 100.5, 2.0),
    ]
    assert order_row(bt, partial)["status"] == "expired"
    assert order_row(bt, partial)["filled"] == 3.0
    assert order_row(bt, passive)["status"] == "expired"
    assert bt.open_orders() == []
    assert bt.stats()["expired"] == 2


def test_fok_when_not_all_available_then_expires_untouched_else_fills_in_full() -> None:
    bt = backtester(base_frames())
    go_to(bt, 10)
    too_big = bt.buy(100.5, 3.25, tif="fok")  # 3.0 available up to 100.5
    exact = bt.sell(99.0, 10.0, tif="fok")  # 5 + 5 available down to 99.0
    go_to(bt, 100)
    assert order_row(bt, too_big)["status"] == "expired"
    assert order_row(bt, too_big)["filled"] == 0.0
    assert order_row(bt, exact)["status"] == "filled"
    assert fill_rows(bt) == [
        (15 * MS, exact, SELL, False, 99.5, 5.0),
        (15 * MS, exact, SELL, False, 99.0, 5.0),
    ]


def test_market_order_when_book_deep_enough_then_walks_levels_else_expires_remainder() -> None:
    bt = backtester(base_frames())
    go_to(bt, 10)
    buy = bt.submit(BUY, 0.0, 7.0, market=True)
    sell = bt.submit(SELL, 0.0, 12.0, market=True)  # only 11 bid
    go_to(bt, 100)
    assert fill_rows(bt) == [
        (15 * MS, buy, BUY, False, 100.0, 1.0),
        (15 * MS, buy, BUY, False, 100.5, 2.0),
        (15 * MS, buy, BUY, False, 101.0, 4.0),
        (15 * MS, sell, SELL, False, 99.5, 5.0),
        (15 * MS, sell, SELL, False, 99.0, 5.0),
        (15 * MS, sell, SELL, False, 97.0, 1.0),
    ]
    assert order_row(bt, buy)["status"] == "filled"
    assert order_row(bt, sell)["status"] == "expired"
    assert order_row(bt, sell)["filled"] == 11.0
    assert bt.position == 7.0 - 11.0


# -- resting orders ----------------------------------------------------------------------------


def test_resting_buy_risk_averse_when_trades_pass_the_level_ahead_then_fills_what_passes() -> None:
    fb = base_frames()
    fb.trade(12, 99.5, 4.0, True)  # before our order reaches the exchange (15 ms): no effect
    fb.trade(20, 99.5, 2.0, True)  # 5 ahead -> 3
    fb.trade(25, 99.5, 10.0, False)  # the taker bought: does not move a buy queue
    fb.trade(30, 99.5, 2.0, True)  # 3 -> 1
    fb.trade(40, 99.5, 2.0, True)  # 1 -> -1: one lot-multiple (1.0) passes us
    fb.trade(50, 99.5, 1.0, True)  # the front is ours now: 1.0 more
    bt = backtester(fb)
    go_to(bt, 10)
    oid = bt.buy(99.5, 3.0)
    go_to(bt, 42)
    assert fill_rows(bt) == [(40 * MS, oid, BUY, True, 99.5, 1.0)]
    go_to(bt, 100)
    assert fill_rows(bt) == [
        (40 * MS, oid, BUY, True, 99.5, 1.0),
        (50 * MS, oid, BUY, True, 99.5, 1.0),
    ]
    np.testing.assert_allclose(bt.fills()["fee"], [MAKER * 99.5, MAKER * 99.5], rtol=1e-12)
    (o,) = bt.open_orders()
    assert (o["status"], o["filled"], o["leaves"]) == ("partially_filled", 2.0, 1.0)


def test_resting_buy_without_partial_fills_when_queue_reached_then_whole_order_fills() -> None:
    fb = base_frames()
    fb.trade(20, 99.5, 4.0, True)  # 5 ahead -> 1
    fb.trade(30, 99.5, 2.0, True)  # 1 passes us: hftbacktest's no-partial-fill fills it all
    bt = backtester(fb, partial_fills=False)
    go_to(bt, 10)
    oid = bt.buy(99.5, 3.0)
    go_to(bt, 100)
    assert fill_rows(bt) == [(30 * MS, oid, BUY, True, 99.5, 3.0)]


def test_resting_order_when_trade_passes_by_a_fraction_of_a_lot_then_rounds_to_lots() -> None:
    fb = base_frames()
    fb.trade(20, 99.5, 5.25, True)  # 0.25 (one lot) past the 5.0 ahead
    fb.trade(30, 99.5, 0.5, True)
    bt = backtester(fb)
    go_to(bt, 10)
    oid = bt.buy(99.5, 3.0)
    go_to(bt, 100)
    assert [(ts, q) for ts, i, *_, q in fill_rows(bt) if i == oid] == [
        (20 * MS, 0.25),
        (30 * MS, 0.5),
    ]


def test_resting_sell_when_level_shrinks_then_queue_moves_up_to_the_new_size() -> None:
    fb = base_frames()
    fb.depth(20, asks=[(100.5, 0.5)])  # 2.0 ahead -> at most 0.5 ahead
    fb.trade(30, 100.5, 1.0, False)  # the taker bought at 100.5: 0.5 passes us
    bt = backtester(fb)
    go_to(bt, 10)
    oid = bt.sell(100.5, 2.0)
    go_to(bt, 100)
    assert fill_rows(bt) == [(30 * MS, oid, SELL, True, 100.5, 0.5)]


@pytest.mark.parametrize("side", [BUY, SELL])
def test_resting_order_when_trade_prints_through_its_price_then_fills_in_full_as_maker(
    side: int,
) -> None:
    fb = base_frames()
    if side == BUY:
        fb.trade(20, 99.0, 0.25, True)  # sold below our bid
        price = 99.5
    else:
        fb.trade(20, 101.0, 0.25, False)  # bought above our ask
        price = 100.5
    bt = backtester(fb)
    go_to(bt, 10)
    oid = bt.submit(side, price, 3.0)
    go_to(bt, 100)
    assert fill_rows(bt) == [(20 * MS, oid, side, True, price, 3.0)]
    assert order_row(bt, oid)["status"] == "filled"


@pytest.mark.parametrize("side", [BUY, SELL])
def test_resting_order_when_opposite_best_crosses_it_then_fills_in_full_at_its_price(
    side: int,
) -> None:
    fb = base_frames()
    if side == BUY:
        fb.depth(20, asks=[(99.0, 1.0)])  # the best ask drops through our 99.5 bid
        price = 99.5
    else:
        fb.depth(20, bids=[(101.0, 1.0)])  # the best bid rises through our 100.5 ask
        price = 100.5
    bt = backtester(fb)
    go_to(bt, 10)
    oid = bt.submit(side, price, 3.0)
    go_to(bt, 100)
    assert fill_rows(bt) == [(20 * MS, oid, side, True, price, 3.0)]
    f = bt.fills()
    assert f["fee"][0] == pytest.approx(MAKER * price * 3.0, rel=1e-12)


def _queue_scenario() -> FrameBuilder:
    """5 ahead of us at 99.5, 5 more join behind, 4 of the 10 cancel, then sells trade."""
    fb = base_frames()
    fb.depth(20, bids=[(99.5, 10.0)])
    fb.depth(30, bids=[(99.5, 6.0)])
    fb.trade(40, 99.5, 4.0, True)
    fb.trade(50, 99.5, 2.0, True)
    return fb


@pytest.mark.parametrize(
    ("queue_model", "fill_ms"),
    [
        # risk-averse: a cancel only moves us up to the level's new size: min(5, 6) = 5 ahead;
        # 4 trade -> 1 ahead; 2 trade -> we fill at 50 ms
        ("risk_averse", 50),
        # probabilistic, f(front) = f(back) (5 and 5): half of the 4 cancelled were ahead,
        # est = 5 - 0.5 * 4 + min(5 - 0.5 * 4, 0) = 3; 4 trade -> we fill at 40 ms
        ("power", 40),
        ("log", 40),
    ],
)
def test_queue_models_when_level_shrinks_without_trades_then_probabilistic_fill_earlier(
    queue_model: str, fill_ms: int
) -> None:
    bt = backtester(_queue_scenario(), queue_model=queue_model)
    go_to(bt, 10)
    oid = bt.buy(99.5, 1.0)
    go_to(bt, 100)
    assert fill_rows(bt) == [(fill_ms * MS, oid, BUY, True, 99.5, 1.0)]


# -- latency -----------------------------------------------------------------------------------


def test_latency_when_market_moves_before_arrival_then_order_not_there_yet() -> None:
    fb = base_frames()
    fb.trade(14, 99.0, 0.25, True)  # the order is still on its way (arrives at 15 ms)
    fb.trade(15, 99.0, 0.25, True)  # same time as the arrival: market data goes first
    fb.trade(16, 99.0, 0.25, True)  # the order is there: fills
    bt = backtester(fb)
    go_to(bt, 10)
    oid = bt.buy(99.5, 3.0)
    assert bt.open_orders()[0]["status"] == "pending"
    go_to(bt, 18 - 1e-6)
    assert bt.open_orders()[0]["status"] == "pending"  # the ack is due at 15 + 3 ms
    go_to(bt, 18)
    assert bt.open_orders()[0]["status"] == "new"
    go_to(bt, 19 - 1e-6)  # filled at 16 ms at the exchange, known at 19 ms
    assert fill_rows(bt) == [(16 * MS, oid, BUY, True, 99.5, 3.0)]
    assert bt.position == 0.0
    assert bt.open_orders()[0]["status"] == "new"
    go_to(bt, 19)
    assert bt.position == 3.0
    assert bt.open_orders() == []
    assert bt.fills()["local_ts"].tolist() == [19 * MS]


def test_cancel_when_it_arrives_after_the_fill_then_order_ends_filled_once() -> None:
    fb = base_frames()
    fb.trade(22, 99.0, 0.25, True)  # fills our bid at 22 ms; the cancel arrives at 25 ms
    fb.trade(30, 99.0, 0.25, True)
    bt = backtester(fb)
    go_to(bt, 10)
    oid = bt.buy(99.5, 3.0)
    go_to(bt, 20)
    bt.cancel(oid)
    assert bt.open_orders()[0]["cancel_pending"] is True
    go_to(bt, 100)
    assert fill_rows(bt) == [(22 * MS, oid, BUY, True, 99.5, 3.0)]
    o = order_row(bt, oid)
    assert (o["status"], o["filled"]) == ("filled", 3.0)
    stats = bt.stats()
    assert stats["cancelled"] == 0
    assert stats["position"] == bt.position == 3.0
    assert stats["cash"] == pytest.approx(-99.5 * 3.0 * (1 + MAKER), rel=1e-12)
    assert bt.open_orders() == []
    with pytest.raises(BacktestError, match="unknown order id"):
        bt.cancel(oid)


def test_cancel_when_it_arrives_before_the_fill_then_cancelled_and_no_fill() -> None:
    fb = base_frames()
    fb.trade(26, 99.0, 0.25, True)  # after the cancel reached the exchange (25 ms)
    bt = backtester(fb)
    go_to(bt, 10)
    oid = bt.buy(99.5, 3.0)
    go_to(bt, 20)
    bt.cancel(oid)
    with pytest.raises(BacktestError, match="cancel is pending"):
        bt.cancel(oid)
    go_to(bt, 100)
    assert fill_rows(bt) == []
    o = order_row(bt, oid)
    assert (o["status"], o["end_ts"]) == ("cancelled", 25 * MS + RESP)
    assert bt.stats()["cancelled"] == 1


def _write_latency_csv(path: Path, rows: list[tuple[float, float, float]]) -> str:
    """Rows in ms after exchange time 0 (an ``exch`` <= 0 is written as is: a rejection)."""
    lines = ["req_ts,exch_ts,resp_ts"]
    for req, exch, resp in rows:
        exch_ns = round(exch * MS) if exch > 0 else int(exch)
        lines.append(f"{round(req * MS)},{exch_ns},{round(resp * MS)}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_latency_series_when_between_rows_then_entry_and_response_interpolated(
    tmp_path: Path,
) -> None:
    # entry latency 2 ms at 0 ms, 6 ms at 20 ms; response latency 1 ms at 2 ms, 2 ms at 26 ms
    csv = _write_latency_csv(tmp_path / "lat.csv", [(0, 2, 3), (20, 26, 28)])
    bt = backtester(base_frames(), latency_series=csv)
    go_to(bt, 10)
    mid = bt.buy(100.0, 0.25, tif="ioc")  # entry 2 + 4 * 10/20 = 4 ms
    go_to(bt, 50)
    late = bt.buy(100.0, 0.25, tif="ioc")  # after the last row: its 6 ms
    go_to(bt, 100)
    f = bt.fills()
    assert f["order_id"].tolist() == [mid, late]
    assert f["exch_ts"].tolist() == [14 * MS, 56 * MS]
    # response at 14 ms: 1 + 1 * (14 - 2) / (26 - 2) = 1.5 ms; after the last row: its 2 ms
    assert f["local_ts"].tolist() == [15_500_000, 58 * MS]


@pytest.mark.parametrize("bad_exch", [0, -1])
def test_latency_series_when_exchange_ts_not_positive_then_order_rejected_locally(
    tmp_path: Path, bad_exch: int
) -> None:
    csv = _write_latency_csv(tmp_path / "lat.csv", [(0, 2, 3), (20, bad_exch, 21), (40, 42, 43)])
    bt = backtester(base_frames(), latency_series=csv)
    go_to(bt, 10)
    rejected = bt.buy(100.0, 0.25, tif="ioc")  # would cross, but the venue refuses it
    # the answer comes back after the interpolated round trip: 3 + (1 - 3) * 10/20 = 2 ms
    go_to(bt, 12 - 1e-6)
    assert bt.open_orders()[0]["status"] == "pending"
    go_to(bt, 12)
    assert bt.open_orders() == []
    o = order_row(bt, rejected)
    assert (o["status"], o["end_ts"], o["filled"]) == ("rejected", 12 * MS, 0.0)
    go_to(bt, 45)
    accepted = bt.buy(100.0, 0.25, tif="ioc")  # after the last row: 2 ms
    go_to(bt, 100)
    assert fill_rows(bt) == [(47 * MS, accepted, BUY, False, 100.0, 0.25)]
    assert bt.stats()["rejected"] == 1


def test_latency_series_when_rejection_row_between_then_response_interpolates_valid_rows(
    tmp_path: Path,
) -> None:
    """Response latency at an exchange time between two valid rows with a rejection row after.

    Rows (ms): exch 12 -> response latency 1; exch 0 (rejection); exch 42 -> latency 5. A fill
    at exchange time 27 ms should come back after 1 + (5 - 1) * (27 - 12) / (42 - 12) = 3 ms,
    i.e. at 30 ms. ``response_latency`` binary-searches the unsorted ``exch_ts`` column (the 0
    sits in the middle), lands after the rejection row and returns the 5 ms of the next row:
    the fill arrives at 32 ms. The same happens to every response before the rejection row
    (e.g. the ack of this order at 7 ms gets 5 ms instead of 1 ms).
    """
    rows = [(0, 2, 3), (10, 12, 13), (20, 0, 21), (40, 42, 47)]
    csv = _write_latency_csv(tmp_path / "lat.csv", rows)
    fb = base_frames()
    fb.trade(27, 99.0, 0.25, True)  # through our bid
    bt = backtester(fb, latency_series=csv)
    go_to(bt, 5)
    oid = bt.buy(99.5, 1.0)  # entry latency 2 ms: at the exchange at 7 ms
    go_to(bt, 100)
    assert fill_rows(bt) == [(27 * MS, oid, BUY, True, 99.5, 1.0)]
    assert bt.fills()["local_ts"].tolist() == [30 * MS]


def test_cancel_when_latency_series_refuses_it_then_error_does_not_say_order_finished(
    tmp_path: Path,
) -> None:
    """A cancel sent while the latency series says the venue refuses requests.

    Rows (ms): exch 22 at 20, exch 0 at 30 (refused), exch 42 at 40. The order is resting
    ("new", no cancel pending) when the strategy cancels at 25 ms. ``cancel`` gets a negative
    entry latency and returns ``E_NOT_CANCELABLE``, whose text is "order is already finished or
    a cancel is pending": neither is true. Expected: an error that says the venue refused the
    request (a distinct code/message), like the rejection a submit gets in the same window.
    """
    csv = _write_latency_csv(
        tmp_path / "lat.csv", [(0, 2, 3), (20, 22, 23), (30, 0, 31), (40, 42, 43)]
    )
    bt = backtester(base_frames(), latency_series=csv)
    go_to(bt, 5)
    oid = bt.buy(99.5, 1.0)
    go_to(bt, 25)
    assert bt.open_orders()[0]["status"] == "new"
    with pytest.raises(BacktestError) as refused:
        bt.cancel(oid)
    (o,) = bt.open_orders()
    assert (o["status"], o["cancel_pending"]) == ("new", False)
    go_to(bt, 45)
    bt.cancel(oid)  # outside the refused window the cancel goes through
    go_to(bt, 100)
    assert order_row(bt, oid)["status"] == "cancelled"
    assert "already finished" not in str(refused.value), str(refused.value)


# -- determinism -------------------------------------------------------------------------------


def _jitter_run(seed: int) -> TickBacktester:
    fb = base_frames()
    for t in range(20, 200, 10):
        fb.trade(t, 99.0, 0.25, True)
    bt = backtester(fb, entry_jitter_ns=2 * MS, seed=seed)
    for t in range(10, 150, 7):
        go_to(bt, t)
        bt.buy(100.0, 0.25, tif="ioc")
        bt.buy(99.5, 0.25)
    go_to(bt, 300)
    return bt


def test_jitter_when_same_seed_then_identical_fills_else_arrival_times_differ() -> None:
    a, b, c = _jitter_run(7), _jitter_run(7), _jitter_run(8)
    fa, fb, fc = a.fills(), b.fills(), c.fills()
    assert fa.keys() == fb.keys()
    for key in fa:
        np.testing.assert_array_equal(fa[key], fb[key])
    for key in ("order_id", "status", "end_ts"):
        np.testing.assert_array_equal(a.orders()[key], b.orders()[key])
    assert not np.array_equal(fa["exch_ts"], fc["exch_ts"])
    # the jitter only ever adds to the entry latency, at most entry_jitter_ns
    o = a.orders()
    submit = dict(zip(o["order_id"].tolist(), o["submit_ts"].tolist(), strict=True))
    taker = ~fa["maker"]
    delay = fa["exch_ts"][taker] - np.array([submit[i] for i in fa["order_id"][taker]])
    assert delay.size > 10
    assert delay.min() >= ENTRY and delay.max() <= ENTRY + 2 * MS
    assert np.unique(delay).size > 1


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "price", "qty", "tif", "message"),
    [
        (BUY, 99.5, 0.0, "gtc", "quantity must be a positive multiple of the lot size"),
        (BUY, 99.5, -1.0, "gtc", "quantity"),
        (BUY, 99.5, 0.1, "gtc", "lot size"),
        (SELL, 100.0, float("nan"), "gtc", "quantity"),
        (BUY, 0.0, 1.0, "gtc", "price must be positive"),
        (BUY, float("nan"), 1.0, "gtc", "price"),
        (SELL, 1e6, 1.0, "gtc", "outside the book range"),
        (BUY, 99.5, 1.0, "day", "time in force"),
        (0, 99.5, 1.0, "gtc", "side"),
    ],
)
def test_submit_when_input_invalid_then_backtest_error_names_it_and_run_continues(
    side: int, price: float, qty: float, tif: str, message: str
) -> None:
    fb = base_frames()
    fb.trade(30, 99.0, 0.25, True)
    bt = backtester(fb)
    go_to(bt, 10)
    with pytest.raises(BacktestError, match=message):
        bt.submit(side, price, qty, tif=tif)
    assert bt.open_orders() == []
    oid = bt.buy(99.5, 1.0)
    assert go_to(bt, 100) in (RUN_TIMEOUT, RUN_END)
    assert fill_rows(bt) == [(30 * MS, oid, BUY, True, 99.5, 1.0)]
    assert bt.stats()["orders"] == 1


def test_cancel_when_order_unknown_then_backtest_error() -> None:
    bt = backtester(base_frames())
    with pytest.raises(BacktestError, match="unknown order id"):
        bt.cancel(12345)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("queue_model", "fifo"),
        ("entry_latency_ns", -1),
        ("response_latency_ns", -5),
        ("entry_jitter_ns", -1),
        ("maker_fee", float("nan")),
        ("queue_power", 0.0),
        ("max_orders", 0),
        ("max_fills", 0),
    ],
)
def test_config_when_field_invalid_then_value_error_names_it(field: str, value: Any) -> None:
    data = convert_frames(base_frames().frames, TICK, LOT)
    with pytest.raises(ValueError, match=f"^{field} "):
        TickBacktester(data, BacktestConfig(**{field: value}))


def test_submit_when_too_many_orders_then_backtest_error_names_the_setting() -> None:
    bt = backtester(base_frames(), max_orders=2)
    go_to(bt, 10)
    bt.buy(99.0, 1.0)
    bt.buy(99.5, 1.0)
    with pytest.raises(BacktestError, match="max_orders"):
        bt.sell(100.5, 1.0)
    assert [o["id"] for o in bt.open_orders()] == [1, 2]


def test_elapse_when_fill_log_full_then_backtest_error_names_the_setting() -> None:
    bt = backtester(base_frames(), max_fills=1)
    go_to(bt, 10)
    bt.buy(100.5, 3.0, tif="ioc")  # two fills
    with pytest.raises(BacktestError, match="max_fills"):
        go_to(bt, 100)


# -- wake-ups ----------------------------------------------------------------------------------


def _wake_frames() -> FrameBuilder:
    fb = base_frames()
    fb.depth(20, bids=[(99.0, 7.0)])  # below the best: not a BBO change
    fb.trade(25, 99.5, 0.5, True)
    fb.depth(30, bids=[(99.5, 6.0)])  # best bid size changes
    fb.trade(40, 99.0, 0.25, True)  # through a resting bid at 99.5
    fb.depth(60, asks=[(100.0, 2.0)])
    return fb


def test_elapse_with_wake_fill_then_returns_when_the_fill_is_known_locally() -> None:
    bt = backtester(_wake_frames())
    go_to(bt, 10)
    bt.buy(99.5, 1.0)
    # the ack (18 ms) is not a fill: the first wake-up is the fill, 40 + 3 ms
    assert bt.elapse(LONG, WAKE_FILL) == WAKE_FILL
    assert bt.now == 43 * MS
    assert bt.position == 1.0
    assert bt.elapse(LONG, WAKE_FILL) == RUN_END


def test_elapse_with_wake_fill_when_order_expires_unfilled_then_returns_at_the_answer() -> None:
    bt = backtester(_wake_frames())
    go_to(bt, 10)
    oid = bt.buy(99.5, 1.0, tif="ioc")  # nothing to take: expires at the exchange at 15 ms
    assert bt.elapse(LONG, WAKE_FILL) == WAKE_FILL
    assert bt.now == 18 * MS
    assert order_row(bt, oid)["status"] == "expired"
    assert bt.position == 0.0


def test_elapse_with_wake_bbo_then_returns_when_the_local_best_changes() -> None:
    bt = backtester(_wake_frames())
    go_to(bt, 10)
    assert bt.elapse(LONG, WAKE_BBO) == WAKE_BBO
    assert bt.now == 30 * MS + FEED_NS
    assert (bt.best_bid, bt.best_bid_qty) == (99.5, 6.0)
    assert bt.elapse(LONG, WAKE_BBO) == WAKE_BBO
    assert bt.now == 60 * MS + FEED_NS
    assert bt.best_ask_qty == 2.0
    assert bt.elapse(LONG, WAKE_BBO) == RUN_END


def test_elapse_with_wake_trade_then_returns_at_each_local_trade() -> None:
    bt = backtester(_wake_frames())
    go_to(bt, 10)
    assert bt.elapse(LONG, WAKE_TRADE) == WAKE_TRADE
    assert bt.now == 25 * MS + FEED_NS
    assert bt.last_trade == (99.5, -0.5)
    assert bt.elapse(LONG, WAKE_TRADE | WAKE_BBO) == WAKE_BBO
    assert bt.now == 30 * MS + FEED_NS
    assert bt.elapse(LONG, WAKE_TRADE) == WAKE_TRADE
    assert bt.now == 40 * MS + FEED_NS
    assert bt.last_trade == (99.0, -0.25)


def test_elapse_without_wake_then_runs_to_the_target_or_the_end() -> None:
    bt = backtester(_wake_frames())
    assert go_to(bt, 35) == RUN_TIMEOUT
    assert bt.now == 35 * MS
    assert bt.best_bid_qty == 6.0
    assert bt.elapse(LONG) == RUN_END


def test_feed_latency_config_when_set_then_local_side_sees_every_row_that_much_later() -> None:
    bt = backtester(_wake_frames(), feed_latency_ns=7 * MS)
    go_to(bt, 10)
    assert bt.elapse(LONG, WAKE_TRADE) == WAKE_TRADE
    assert bt.now == 25 * MS + 7 * MS
    assert bt.elapse(LONG, WAKE_BBO) == WAKE_BBO
    assert bt.now == 30 * MS + 7 * MS
