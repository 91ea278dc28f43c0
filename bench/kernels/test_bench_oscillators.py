"""Oscillator kernels beside TA-Lib on the same bars in the same run.

Each indicator has a batch group (ours and ``talib.<NAME>`` on the same
1,000,000 seeded bars) and a streaming group (one ``*_update`` tick and one
``talib.stream.<NAME>.update`` tick after the same 1,000 bars, both called from
Python, so interpreter and dispatch overhead dominate). One more group replays
1,000 ticks of each ``*_update`` inside compiled code, as the engine calls them.

Reproduce with::

    .venv/bin/python -m pytest bench/kernels/test_bench_oscillators.py -q \\
        -o addopts= -o testpaths=bench --benchmark-only
"""

from collections.abc import Callable

import numpy as np
import pytest
import talib
from numba import njit
from talib import stream as talib_stream

from kernels._oscillators import (
    adx,
    adx_state,
    adx_update,
    cci,
    cci_state,
    cci_update,
    mfi,
    mfi_state,
    mfi_update,
    stoch,
    stoch_state,
    stoch_update,
    willr,
    willr_state,
    willr_update,
)

SEED = 20_240_808
N_BARS = 1_000_000
STREAM_WINDOW = 1_000  # bars consumed before timing a streaming tick

Bars = dict[str, np.ndarray]

HLC = ("high", "low", "close")
HLCV = ("high", "low", "close", "volume")
#: name -> (our batch, TA-Lib batch, input columns, label of the default call)
BATCH: dict[str, tuple[Callable, Callable, tuple[str, ...], str]] = {
    "adx": (adx, talib.ADX, HLC, "adx(high, low, close, 14)"),
    "stoch": (stoch, talib.STOCH, HLC, "stoch(high, low, close, 5, 3, 0, 3, 0)"),
    "willr": (willr, talib.WILLR, HLC, "willr(high, low, close, 14)"),
    "cci": (cci, talib.CCI, HLC, "cci(high, low, close, 14)"),
    "mfi": (mfi, talib.MFI, HLCV, "mfi(high, low, close, volume, 14)"),
}
#: name -> (our state constructor, our update, TA-Lib stream class)
STREAMING: dict[str, tuple[Callable, Callable, type]] = {
    "adx": (adx_state, adx_update, talib_stream.ADX),
    "stoch": (stoch_state, stoch_update, talib_stream.STOCH),
    "willr": (willr_state, willr_update, talib_stream.WILLR),
    "cci": (cci_state, cci_update, talib_stream.CCI),
    "mfi": (mfi_state, mfi_update, talib_stream.MFI),
}


@pytest.fixture(scope="session")
def bars() -> Bars:
    """Seeded OHLCV bars: a log random walk with ``low <= open, close <= high``."""
    rng = np.random.default_rng(SEED)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, N_BARS)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 5e-4, N_BARS)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 5e-4, N_BARS)))
    volume = np.round(rng.lognormal(8.0, 1.0, N_BARS))
    return {"high": high, "low": low, "close": close, "volume": volume}


@pytest.fixture
def bench(bench):
    """The shared ``bench`` fixture (bench/conftest.py) plus TA-Lib's versions and the data."""
    bench.extra_info.update(
        {
            "talib": talib.__version__,
            "ta_lib_c": talib.__ta_version__.decode(),
            "n_bars": N_BARS,
            "seed": SEED,
        }
    )
    return bench


@njit
def replay_hlc(update, state, high, low, close):
    """Feed the bars to `update` from compiled code; return the last output."""
    result = update(state, high[0], low[0], close[0])
    for i in range(1, close.shape[0]):
        result = update(state, high[i], low[i], close[i])
    return result


@njit
def replay_hlcv(update, state, high, low, close, volume):
    """Feed the bars to `update` from compiled code; return the last output."""
    result = update(state, high[0], low[0], close[0], volume[0])
    for i in range(1, close.shape[0]):
        result = update(state, high[i], low[i], close[i], volume[i])
    return result


def columns(bars: Bars, name: str) -> list[np.ndarray]:
    return [bars[key] for key in BATCH[name][2]]


def as_tuple(result: np.ndarray | tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.parametrize("name", list(BATCH))
def test_bench_batch_ours(bench, bars: Bars, name: str) -> None:
    ours, oracle, _, label = BATCH[name]
    inputs = columns(bars, name)
    ours(*(x[:100] for x in inputs))  # compile or load the cache outside the timing
    bench.group = f"{label} 1e6 bars"
    result = as_tuple(bench(ours, *inputs))
    for out, expected in zip(result, as_tuple(oracle(*inputs)), strict=True):
        defined = ~np.isnan(expected)
        np.testing.assert_array_equal(np.isnan(out), ~defined)
        np.testing.assert_allclose(out[defined], expected[defined], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", list(BATCH))
def test_bench_batch_talib(bench, bars: Bars, name: str) -> None:
    _, oracle, _, label = BATCH[name]
    bench.group = f"{label} 1e6 bars"
    bench(oracle, *columns(bars, name))


@pytest.mark.parametrize("name", list(STREAMING))
def test_bench_update_one_tick_ours(bench, bars: Bars, name: str) -> None:
    make_state, update, _ = STREAMING[name]
    state = make_state()
    inputs = columns(bars, name)
    for row in zip(*(x[:STREAM_WINDOW] for x in inputs), strict=True):
        update(state, *row)
    tick = [float(x[STREAM_WINDOW]) for x in inputs]
    bench.group = f"{name} streaming: one tick after {STREAM_WINDOW} bars"
    result = bench(update, state, *tick)
    assert not np.isnan(result).any()


@pytest.mark.parametrize("name", list(STREAMING))
def test_bench_update_one_tick_talib_stream(bench, bars: Bars, name: str) -> None:
    # The TA-Lib alternative: its stateful stream object, primed on the same bars.
    _, _, stream_type = STREAMING[name]
    inputs = columns(bars, name)
    handle = stream_type(*(x[:STREAM_WINDOW] for x in inputs))
    tick = [float(x[STREAM_WINDOW]) for x in inputs]
    bench.group = f"{name} streaming: one tick after {STREAM_WINDOW} bars"
    result = bench(handle.update, *tick)
    assert not np.isnan(result).any()


@pytest.mark.parametrize("name", list(STREAMING))
def test_bench_update_1000_ticks_in_compiled_code(bench, bars: Bars, name: str) -> None:
    make_state, update, _ = STREAMING[name]
    state = make_state()
    window = [x[STREAM_WINDOW : 2 * STREAM_WINDOW] for x in columns(bars, name)]
    replay = replay_hlcv if len(window) == 4 else replay_hlc
    replay(update, state, *window)  # compile and warm up outside the timing
    bench.group = f"streaming inside compiled code: {STREAM_WINDOW} ticks"
    result = bench(replay, update, state, *window)
    assert not np.isnan(result).any()
