"""The replay hot path beside a ``json.loads``-only baseline, same frames, same run.

Full path per frame: msgspec decode → L2 book / trade ring / top of book →
indicator kernel → strategy → (rarely) risk kernel and simulated venue →
portfolio. The baseline only parses each frame with the standard library's
``json.loads`` and does nothing with it: the floor of any pure-Python
pipeline that uses the usual JSON parser. The frames are read into memory
once per session, so file I/O and gunzip are excluded from both.

Reproduce::

    make bench        # or: .venv/bin/python -m pytest bench/test_bench_replay.py \
                      #       -o addopts= -o testpaths=bench --benchmark-only
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from adapters.replay import load_frames
from api.cli import Backtest, build_backtest
from bench._util import record_rate
from engine.config import load_config

DATA = Path(__file__).resolve().parents[1] / "data" / "binance_spot" / "btcusdt_20240808.gz"
GROUP = "replay: frames of the bundled recording (41,249)"


@pytest.fixture(scope="session")
def frames() -> list[tuple[int, bytes]]:
    return load_frames(DATA)


def _new_backtest() -> tuple[tuple[Backtest], dict[str, Any]]:
    return (build_backtest(load_config(None, env={})),), {}


def _record(bench: Any, frames: list[tuple[int, bytes]]) -> None:
    bench.extra_info["frames"] = len(frames)


@pytest.mark.benchmark(group=GROUP)
def test_full_path_decode_book_indicators_strategy(bench: Any, frames: list) -> None:
    _record(bench, frames)
    warm = build_backtest(load_config(None, env={}))
    warm.run(frames)  # load every compiled kernel and msgspec decoder once

    def run(backtest: Backtest) -> Backtest:
        backtest.run(frames)
        return backtest

    result = bench.pedantic(run, setup=_new_backtest, rounds=15, iterations=1, warmup_rounds=1)
    summary = result.summary()
    assert summary["gaps"] == 0 and summary["frames"] == len(frames)
    record_rate(bench, len(frames))


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("loads", [json.loads, orjson.loads], ids=["json", "orjson"])
def test_baseline_loads_only(bench: Any, frames: list, loads: Any) -> None:
    _record(bench, frames)
    payloads = [frame for _, frame in frames]

    def run() -> int:
        n = 0
        for payload in payloads:
            loads(payload)
            n += 1
        return n

    assert bench.pedantic(run, rounds=15, iterations=1, warmup_rounds=1) == len(frames)
    record_rate(bench, len(frames))


@pytest.mark.benchmark(group="replay: per-frame latency of the full path")
def test_full_path_per_frame_latency(bench: Any, frames: list) -> None:
    """Time each frame separately: median and p99 per frame, by channel (timer cost included)."""
    _record(bench, frames)
    backtest = build_backtest(load_config(None, env={}))
    backtest.run(frames[:2000])  # warm
    backtest = build_backtest(load_config(None, env={}))
    backtest.decoder.warm_up()
    backtest.engine.start()
    on_frame = backtest.decoder.on_frame
    clock = backtest.clock
    perf = time.perf_counter_ns
    samples = np.empty(len(frames), dtype=np.int64)

    def run() -> None:
        for i, (ts, frame) in enumerate(frames):
            t0 = perf()
            clock.advance_to(ts)
            on_frame(ts, frame)
            samples[i] = perf() - t0

    bench.pedantic(run, rounds=1, iterations=1)
    timer = min(perf() - perf() for _ in range(1000)) * -1
    kinds = {
        "depth": b"@depth",
        "trade": b"@trade",
        "bookTicker": b"@bookTicker",
    }
    for name, marker in kinds.items():
        mask = np.array([marker in f[:60] for _, f in frames])
        sel = samples[mask]
        bench.extra_info[f"{name}_p50_ns"] = int(np.percentile(sel, 50))
        bench.extra_info[f"{name}_p99_ns"] = int(np.percentile(sel, 99))
    bench.extra_info["all_p50_ns"] = int(np.percentile(samples, 50))
    bench.extra_info["all_p99_ns"] = int(np.percentile(samples, 99))
    bench.extra_info["timer_overhead_ns"] = int(timer)
