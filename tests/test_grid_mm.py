"""Grid market maker (``engine.strategies.grid_mm``) on the bundled Binance spot recording.

Oracles: the two implementations against each other (plain Python on the backtester's public
API and the compiled loop on its state must take the same decisions, so every fill, order and
statistic is identical), and the rules of the module docstring: quotes are post-only and never
through the local best bid/ask, ``order_qty`` each, no new buys at or above ``max_position``
(no new sells at or below ``-max_position``), invalid parameters name the field.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from adapters.paper.tickbt import BacktestConfig, TickBacktester
from adapters.paper.tickdata import TickData, convert_recording
from engine.strategies.grid_mm import GridMarketMaker, GridParams, run_grid_mm_njit
from kernels.tickbt import BUY, SELL
from tests.conftest import RECORDING_PATH
from tests.test_tickdata import SPOT_LOT, SPOT_TICK

PARAMS = {
    "default": GridParams(),
    # three levels each side, 2.5 ticks out, a tight position limit that binds
    "wide": GridParams(
        interval_ns=50_000_000,
        half_spread_ticks=2.5,
        order_qty=0.0005,
        max_position=0.001,
        levels=3,
        level_step_ticks=2,
    ),
}
CONFIGS = {
    "default": BacktestConfig(),
    "wide": BacktestConfig(queue_model="power", entry_latency_ns=5_000_000),
}


@pytest.fixture(scope="module")
def spot() -> TickData:
    return convert_recording(RECORDING_PATH, SPOT_TICK, SPOT_LOT)


class RecordingVenue:
    """Passes every call to the backtester and records what the strategy saw when it quoted."""

    def __init__(self, bt: TickBacktester) -> None:
        self.bt = bt
        self.quotes: list[dict[str, Any]] = []

    @property
    def best_bid(self) -> float:
        return self.bt.best_bid

    @property
    def best_ask(self) -> float:
        return self.bt.best_ask

    @property
    def tick_size(self) -> float:
        return self.bt.tick_size

    @property
    def lot_size(self) -> float:
        return self.bt.lot_size

    @property
    def position(self) -> float:
        return self.bt.position

    def elapse(self, duration_ns: int, wake: int = 0) -> int:
        return self.bt.elapse(duration_ns, wake)

    def submit(
        self, side: int, price: float, qty: float, *, tif: str = "gtc", market: bool = False
    ) -> int:
        self.quotes.append(
            {
                "side": side,
                "price": price,
                "qty": qty,
                "tif": tif,
                "market": market,
                "best_bid": self.bt.best_bid,
                "best_ask": self.bt.best_ask,
                "position": self.bt.position,
            }
        )
        return self.bt.submit(side, price, qty, tif=tif, market=market)

    def cancel(self, order_id: int) -> None:
        self.bt.cancel(order_id)

    def open_orders(self) -> list[dict[str, object]]:
        return self.bt.open_orders()  # type: ignore[return-value]


@pytest.fixture(scope="module", params=sorted(PARAMS))
def runs(request: pytest.FixtureRequest, spot: TickData) -> dict[str, Any]:
    name = request.param
    params, config = PARAMS[name], CONFIGS[name]
    py_bt = TickBacktester(spot, config)
    venue = RecordingVenue(py_bt)
    py_wakes = GridMarketMaker(params).run(venue)
    nb_bt = TickBacktester(spot, config)
    nb_wakes = run_grid_mm_njit(nb_bt, params)
    return {
        "name": name,
        "params": params.resolved(spot.lot_size),
        "py": py_bt,
        "nb": nb_bt,
        "venue": venue,
        "wakes": (py_wakes, nb_wakes),
    }


def test_grid_python_and_njit_when_same_data_then_identical_fills_orders_and_stats(
    runs: dict[str, Any],
) -> None:
    py, nb = runs["py"], runs["nb"]
    assert runs["wakes"][0] == runs["wakes"][1] > 1000
    f_py, f_nb = py.fills(), nb.fills()
    assert f_py.keys() == f_nb.keys()
    assert f_py["qty"].shape[0] > 50, "the comparison needs a run that trades"
    for key in f_py:
        np.testing.assert_array_equal(f_py[key], f_nb[key], err_msg=key)
    o_py, o_nb = py.orders(), nb.orders()
    assert o_py.keys() == o_nb.keys()
    for key in o_py:
        np.testing.assert_array_equal(o_py[key], o_nb[key], err_msg=key)
    assert py.stats() == nb.stats()
    for key, v in py.equity_curve().items():
        np.testing.assert_array_equal(v, nb.equity_curve()[key], err_msg=key)


def test_grid_when_quoting_then_post_only_passive_sized_and_every_fill_maker(
    runs: dict[str, Any],
) -> None:
    p: GridParams = runs["params"]
    quotes = runs["venue"].quotes
    assert len(quotes) > 100
    tick = SPOT_TICK
    for q in quotes:
        assert q["tif"] == "gtx" and q["market"] is False
        assert q["qty"] == p.order_qty
        mid = (q["best_bid"] + q["best_ask"]) / 2
        if q["side"] == BUY:
            assert q["price"] <= q["best_bid"] + 1e-9
            assert q["price"] <= mid - p.half_spread_ticks * tick + 1e-9
            assert q["position"] < p.max_position  # no new buys at the limit
        else:
            assert q["price"] >= q["best_ask"] - 1e-9
            assert q["price"] >= mid + p.half_spread_ticks * tick - 1e-9
            assert q["position"] > -p.max_position
        # quotes sit on the tick grid
        assert q["price"] / tick == pytest.approx(round(q["price"] / tick), abs=1e-6)
    for bt in (runs["py"], runs["nb"]):
        f = bt.fills()
        assert f["maker"].all()
        assert bt.stats()["taker_fills"] == 0
        o = bt.orders()
        assert set(o["tif"].tolist()) == {"post_only"}
        assert set(o["type"].tolist()) == {"limit"}


#: One quote a side and a position limit the run reaches (1 ms latencies, the default).
LIMIT_CASES = {
    "at_touch": GridParams(
        interval_ns=20_000_000, half_spread_ticks=0.0, order_qty=0.0005, max_position=0.001
    ),
    "one_tick_out": GridParams(half_spread_ticks=1.0, order_qty=0.001, max_position=0.001),
    "limit_not_a_multiple": GridParams(
        interval_ns=20_000_000, half_spread_ticks=1.0, order_qty=0.0003, max_position=0.001
    ),
}


def _max_abs_position(spot: TickData, params: GridParams, config: BacktestConfig) -> float:
    bt = TickBacktester(spot, config)
    run_grid_mm_njit(bt, params)
    pos = bt.fills()["position"]
    assert pos.shape[0] > 50
    return float(np.abs(pos).max())


@pytest.mark.parametrize("case", sorted(LIMIT_CASES))
def test_grid_when_one_level_then_position_within_max_position_plus_one_order(
    spot: TickData, case: str
) -> None:
    p = LIMIT_CASES[case].resolved(spot.lot_size)
    assert p.order_qty is not None and p.max_position is not None
    worst = _max_abs_position(spot, p, BacktestConfig())
    assert worst >= p.max_position - 1e-12, "the run must reach the limit to test it"
    assert worst <= p.max_position + p.order_qty + 1e-12


def test_grid_when_replaced_quotes_fill_in_flight_then_within_two_quotes_per_level_of_limit(
    spot: TickData,
) -> None:
    """One level, order_qty 0.0003, max_position 0.001, 20 ms entry and response latency.

    The limit applies to the position the strategy knows. A quote it replaces (cancel + new
    order in one step) can have filled already, its fill still on the way, and the new quote
    fill too: with these parameters the position reaches 0.0015 > max_position + order_qty.
    What holds is the documented bound: max_position + 2 x levels x order_qty.
    """
    p = GridParams(
        interval_ns=20_000_000,
        half_spread_ticks=0.0,
        order_qty=0.0003,
        max_position=0.001,
    ).resolved(spot.lot_size)
    assert p.order_qty is not None and p.max_position is not None
    config = BacktestConfig(entry_latency_ns=20_000_000, response_latency_ns=20_000_000)
    worst = _max_abs_position(spot, p, config)
    assert worst > p.max_position + p.order_qty - 1e-12  # the in-flight overshoot happens here
    assert worst <= p.max_position + 2 * p.levels * p.order_qty + 1e-12


def test_grid_when_both_sides_quote_then_both_sides_fill(runs: dict[str, Any]) -> None:
    f = runs["nb"].fills()
    assert set(np.unique(f["side"]).tolist()) == {BUY, SELL}


def test_grid_params_resolved_when_defaults_then_lot_based() -> None:
    p = GridParams().resolved(0.001)
    assert p.order_qty == pytest.approx(0.01)
    assert p.max_position == pytest.approx(0.1)
    q = GridParams(order_qty=0.5).resolved(0.001)
    assert q.max_position == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("interval_ns", 0),
        ("interval_ns", -100),
        ("half_spread_ticks", -1.0),
        ("half_spread_ticks", math.nan),
        ("half_spread_ticks", math.inf),
        ("order_qty", 0.0),
        ("order_qty", -0.01),
        ("max_position", 0.0),
        ("levels", 0),
        ("levels", 51),
        ("level_step_ticks", 0),
    ],
)
def test_grid_params_when_field_invalid_then_value_error_names_it_in_both_runners(
    field: str, value: Any, spot: TickData
) -> None:
    params = GridParams(**{field: value})
    with pytest.raises(ValueError, match=f"^{field} must"):
        params.resolved(SPOT_LOT)
    bt = TickBacktester(spot, BacktestConfig())
    with pytest.raises(ValueError, match=f"^{field} must"):
        GridMarketMaker(params).run(bt)
    with pytest.raises(ValueError, match=f"^{field} must"):
        run_grid_mm_njit(bt, params)
    assert bt.stats()["orders"] == 0
