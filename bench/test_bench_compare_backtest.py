"""Smoke test of ``bench.compare_backtest``'s hftbacktest side on slices of the bundled recordings.

Real hftbacktest throughout; our side is stood in for by a fixed dict, so this
runs before (and independently of) our tick backtester. Most of its few
seconds are numba compiling hftbacktest's bindings, which cannot be cached.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from hftbacktest import (
    BUY_EVENT,
    DEPTH_CLEAR_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    EXCH_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
)

from bench import hbt_mm
from bench.compare_backtest import build_report, format_table, measure_hftbacktest

DATA = Path(__file__).resolve().parents[1] / "data"
USDM = DATA / "binance_usdm" / "btcusdt_20240808.gz"
SPOT = DATA / "binance_spot" / "btcusdt_20240808.gz"

REPORT_KEYS = {
    "events",
    "ours_events_per_s",
    "hftbacktest_events_per_s",
    "ratio",
    "ours_fills",
    "hftbacktest_fills",
    "fills_diff_pct",
    "ours_orders",
    "hftbacktest_orders",
    "ours_convert_rows_per_s",
    "hftbacktest_convert_rows_per_s",
}


def _head(src: Path, dst: Path, lines: int) -> Path:
    with gzip.open(src, "rb") as f, gzip.open(dst, "wb") as out:
        for n, line in enumerate(f):
            if n >= lines:
                break
            out.write(line)
    return dst


def test_hftbacktest_side_on_usdm_slice_quotes_fills_and_reports(tmp_path: Path) -> None:
    path = str(_head(USDM, tmp_path / "usdm.gz", 20_000))
    assert hbt_mm.detect_market(path) == "futures"
    tick, lot = hbt_mm.infer_tick_lot(path)
    assert (tick, lot) == (0.1, 0.001)
    params = hbt_mm.default_params(lot)
    assert (params.order_qty, params.max_position) == (0.01, 0.1)

    hbt = measure_hftbacktest(path, tick, lot, params, runs=1)

    assert hbt["rows"] > 20_000
    assert hbt["orders"] > 0
    assert 0 < hbt["fills"] <= hbt["orders"]
    # without partial fills hftbacktest's own position matches the strategy's lot count
    assert hbt["state_position"] == pytest.approx(hbt["position"], abs=1e-9)
    assert abs(hbt["position"]) <= params.max_position + 1e-12

    ours = dict(hbt, fills=hbt["fills"] + 1, rows=hbt["rows"] - 1)  # a stand-in for our side
    report = build_report(
        path=path,
        market="futures",
        tick=tick,
        lot=lot,
        params=params,
        runs=1,
        hbt=hbt,
        ours=ours,
    )
    assert REPORT_KEYS <= report.keys()
    assert report["events"] == hbt["rows"]
    assert report["ratio"] == pytest.approx(1.0)
    assert report["fills_diff_pct"] == pytest.approx(100.0 / hbt["fills"])
    assert json.loads(json.dumps(report))["hftbacktest_orders"] == hbt["orders"]
    assert "| fills |" in format_table(report)


def test_convert_spot_writes_one_exchange_row_per_level_and_trade(tmp_path: Path) -> None:
    path = _head(SPOT, tmp_path / "spot.gz", 2_000)
    with gzip.open(path, "rb") as f:
        lines = [line.split(b" ", 1) for line in f]
    frames = [json.loads(frame) for _, frame in lines]
    trades = [f["data"] for f in frames if f.get("data", {}).get("e") == "trade"]
    snapshot_at = next(n for n, f in enumerate(frames) if "lastUpdateId" in f)
    snapshot, snapshot_recv_ts = frames[snapshot_at], int(lines[snapshot_at][0])
    assert hbt_mm.detect_market(path) == "spot"
    assert hbt_mm.infer_tick_lot(path) == (0.01, 0.00001)

    data = hbt_mm.convert_spot(path)

    # correct_event_order may split a row into an exchange and a local copy; exactly one
    # copy of every row carries EXCH_EVENT.
    exch = data[(data["ev"] & EXCH_EVENT) != 0]
    kind = exch["ev"] & 0xFF
    trade_rows = exch[kind == TRADE_EVENT]
    assert len(trade_rows) == len(trades)
    sells = (trade_rows["ev"] & SELL_EVENT) != 0
    assert sells.sum() == sum(t["m"] for t in trades)
    assert sorted(trade_rows["exch_ts"]) == sorted(t["E"] * 1_000_000 for t in trades)
    for side, key in ((BUY_EVENT, "bids"), (SELL_EVENT, "asks")):
        on_side = (exch["ev"] & side) != 0
        clear = exch[(kind == DEPTH_CLEAR_EVENT) & on_side]
        assert len(clear) == 1
        assert clear["px"][0] == float(snapshot[key][-1][0])
        assert clear["exch_ts"][0] == snapshot_recv_ts  # no E on spot: the receive time
        rows = exch[(kind == DEPTH_SNAPSHOT_EVENT) & on_side]
        assert len(rows) == len(snapshot[key])
        assert np.all(rows["exch_ts"] == clear["exch_ts"][0])
