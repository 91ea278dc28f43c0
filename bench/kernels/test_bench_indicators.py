"""Indicator kernels beside TA-Lib (or numpy/pandas, where TA-Lib lacks one) on the same data.

Every group times our batch kernel and the alternative on the same 1,000,000
points, generated once per session; the per-tick groups time one Python call
of the fused update against the equivalent ``talib.stream`` objects.

Reproduce with::

    .venv/bin/python -m pytest bench/kernels/test_bench_indicators.py -q \\
        -o addopts= -o testpaths=bench --benchmark-only
"""

import numpy as np
import pandas as pd
import pytest
import talib

from kernels.indicators import (
    IS_ATR,
    IS_BB_UPPER,
    IS_EMA_FAST,
    IS_EMA_SLOW,
    IS_RSI,
    IS_SIZE,
    MOM_EMA_FAST,
    MOM_EMA_SLOW,
    MOM_RSI,
    atr,
    bbands,
    ema,
    indicator_set_state,
    indicator_set_update,
    log_returns,
    macd,
    momentum_state,
    momentum_update,
    natr,
    obv,
    rolling_volatility,
    rsi,
    sma,
    stddev,
    vwap,
    zscore,
)

SEED = 20_240_808
N_PRICES = 1_000_000
STREAM_WINDOW = 1_000  # prices consumed before timing a streaming tick


@pytest.fixture(scope="session")
def bars() -> dict[str, np.ndarray]:
    """A geometric random walk with OHLCV bars around it, shared by every benchmark."""
    # glibc serves an 8 MB array from mmap (fresh, page-faulting memory on every call)
    # until a large block has been freed once; freeing one lifts its mmap threshold
    # to 32 MB, so all later outputs, ours and TA-Lib's alike, reuse heap memory.
    # Without this the first benchmarks of a run pay page faults the later ones do
    # not (TA-Lib's MACD doubles), whatever the library.
    del_me = np.empty(3_900_000)
    del del_me
    rng = np.random.default_rng(SEED)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, N_PRICES)))
    return {
        "close": close,
        "high": close * (1.0 + np.abs(rng.normal(0.0, 5e-4, N_PRICES))),
        "low": close * (1.0 - np.abs(rng.normal(0.0, 5e-4, N_PRICES))),
        "volume": np.round(rng.lognormal(8.0, 1.0, N_PRICES)),
    }


@pytest.fixture(scope="session")
def prices(bars: dict[str, np.ndarray]) -> np.ndarray:
    return bars["close"]


@pytest.fixture
def bench(bench):
    """The shared ``bench`` fixture (bench/conftest.py) plus TA-Lib's versions and the data."""
    bench.extra_info.update(
        {
            "talib": talib.__version__,
            "ta_lib_c": talib.__ta_version__.decode(),
            "pandas": pd.__version__,
            "n_prices": N_PRICES,
            "seed": SEED,
        }
    )
    return bench


def _hlc(bars: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return bars["high"], bars["low"], bars["close"]


# ------------------------------------------------------------ TA-Lib's nine


@pytest.mark.benchmark(group="sma(close, 30) 1e6 float64")
def test_bench_sma_kernel(bench, prices: np.ndarray) -> None:
    sma(prices[:100], 30)  # compile or load the cache outside the timing
    out = bench(sma, prices, 30)
    np.testing.assert_allclose(out[29:], talib.SMA(prices, 30)[29:], rtol=1e-9)


@pytest.mark.benchmark(group="sma(close, 30) 1e6 float64")
def test_bench_sma_talib(bench, prices: np.ndarray) -> None:
    bench(talib.SMA, prices, 30)


@pytest.mark.benchmark(group="ema(close, 30) 1e6 float64")
def test_bench_ema_kernel(bench, prices: np.ndarray) -> None:
    ema(prices[:100], 30)
    out = bench(ema, prices, 30)
    np.testing.assert_allclose(out[29:], talib.EMA(prices, 30)[29:], rtol=1e-9)


@pytest.mark.benchmark(group="ema(close, 30) 1e6 float64")
def test_bench_ema_talib(bench, prices: np.ndarray) -> None:
    bench(talib.EMA, prices, 30)


@pytest.mark.benchmark(group="rsi(close, 14) 1e6 float64")
def test_bench_rsi_kernel(bench, prices: np.ndarray) -> None:
    rsi(prices[:100], 14)
    out = bench(rsi, prices, 14)
    np.testing.assert_allclose(out[14:], talib.RSI(prices, 14)[14:], rtol=1e-9)


@pytest.mark.benchmark(group="rsi(close, 14) 1e6 float64")
def test_bench_rsi_talib(bench, prices: np.ndarray) -> None:
    bench(talib.RSI, prices, 14)


@pytest.mark.benchmark(group="macd(close, 12, 26, 9) 1e6 float64")
def test_bench_macd_kernel(bench, prices: np.ndarray) -> None:
    macd(prices[:100])
    line, signal, hist = bench(macd, prices)
    expected = talib.MACD(prices)
    for ours, theirs in zip((line, signal, hist), expected, strict=True):
        np.testing.assert_allclose(ours[33:], theirs[33:], rtol=1e-9, atol=1e-10)


@pytest.mark.benchmark(group="macd(close, 12, 26, 9) 1e6 float64")
def test_bench_macd_talib(bench, prices: np.ndarray) -> None:
    bench(talib.MACD, prices)


@pytest.mark.benchmark(group="bbands(close, 20, 2, 2) 1e6 float64")
def test_bench_bbands_kernel(bench, prices: np.ndarray) -> None:
    bbands(prices[:100])
    upper, middle, lower = bench(bbands, prices, 20, 2.0, 2.0)
    for ours, theirs in zip((upper, middle, lower), talib.BBANDS(prices, 20), strict=True):
        np.testing.assert_allclose(ours[19:], theirs[19:], rtol=1e-9)


@pytest.mark.benchmark(group="bbands(close, 20, 2, 2) 1e6 float64")
def test_bench_bbands_talib(bench, prices: np.ndarray) -> None:
    bench(talib.BBANDS, prices, 20, 2.0, 2.0)


@pytest.mark.benchmark(group="stddev(close, 5) 1e6 float64")
def test_bench_stddev_kernel(bench, prices: np.ndarray) -> None:
    stddev(prices[:100])
    out = bench(stddev, prices, 5)
    np.testing.assert_array_equal(out, talib.STDDEV(prices, 5))


@pytest.mark.benchmark(group="stddev(close, 5) 1e6 float64")
def test_bench_stddev_talib(bench, prices: np.ndarray) -> None:
    bench(talib.STDDEV, prices, 5)


@pytest.mark.benchmark(group="atr(high, low, close, 14) 1e6 float64")
def test_bench_atr_kernel(bench, bars: dict[str, np.ndarray]) -> None:
    high, low, close = _hlc(bars)
    atr(high[:100], low[:100], close[:100], 14)
    out = bench(atr, high, low, close, 14)
    np.testing.assert_allclose(out[14:], talib.ATR(high, low, close, 14)[14:], rtol=1e-9)


@pytest.mark.benchmark(group="atr(high, low, close, 14) 1e6 float64")
def test_bench_atr_talib(bench, bars: dict[str, np.ndarray]) -> None:
    bench(talib.ATR, *_hlc(bars), 14)


@pytest.mark.benchmark(group="natr(high, low, close, 14) 1e6 float64")
def test_bench_natr_kernel(bench, bars: dict[str, np.ndarray]) -> None:
    high, low, close = _hlc(bars)
    natr(high[:100], low[:100], close[:100], 14)
    out = bench(natr, high, low, close, 14)
    np.testing.assert_allclose(out[14:], talib.NATR(high, low, close, 14)[14:], rtol=1e-9)


@pytest.mark.benchmark(group="natr(high, low, close, 14) 1e6 float64")
def test_bench_natr_talib(bench, bars: dict[str, np.ndarray]) -> None:
    bench(talib.NATR, *_hlc(bars), 14)


@pytest.mark.benchmark(group="obv(close, volume) 1e6 float64")
def test_bench_obv_kernel(bench, bars: dict[str, np.ndarray]) -> None:
    obv(bars["close"][:100], bars["volume"][:100])
    out = bench(obv, bars["close"], bars["volume"])
    np.testing.assert_array_equal(out, talib.OBV(bars["close"], bars["volume"]))


@pytest.mark.benchmark(group="obv(close, volume) 1e6 float64")
def test_bench_obv_talib(bench, bars: dict[str, np.ndarray]) -> None:
    bench(talib.OBV, bars["close"], bars["volume"])


# -------------------------------------------- the ones TA-Lib does not have


@pytest.mark.benchmark(group="vwap(price, volume) 1e6 float64")
def test_bench_vwap_kernel(bench, bars: dict[str, np.ndarray]) -> None:
    vwap(bars["close"][:100], bars["volume"][:100])
    bench(vwap, bars["close"], bars["volume"])


@pytest.mark.benchmark(group="vwap(price, volume) 1e6 float64")
def test_bench_vwap_numpy(bench, bars: dict[str, np.ndarray]) -> None:
    def numpy_vwap(price: np.ndarray, volume: np.ndarray) -> np.ndarray:
        return np.cumsum(price * volume) / np.cumsum(volume)

    bench(numpy_vwap, bars["close"], bars["volume"])


@pytest.mark.benchmark(group="log_returns(close) 1e6 float64")
def test_bench_log_returns_kernel(bench, prices: np.ndarray) -> None:
    log_returns(prices[:100])
    bench(log_returns, prices)


@pytest.mark.benchmark(group="log_returns(close) 1e6 float64")
def test_bench_log_returns_numpy(bench, prices: np.ndarray) -> None:
    bench(lambda x: np.log(x[1:] / x[:-1]), prices)


@pytest.mark.benchmark(group="rolling_volatility(close, 20, ddof=1) 1e6 float64")
def test_bench_rolling_volatility_kernel(bench, prices: np.ndarray) -> None:
    rolling_volatility(prices[:100])
    out = bench(rolling_volatility, prices, 20, 1)
    series = pd.Series(prices)
    expected = np.log(series).diff().rolling(20).std().to_numpy()
    np.testing.assert_allclose(out[20:], expected[20:], rtol=1e-7)


@pytest.mark.benchmark(group="rolling_volatility(close, 20, ddof=1) 1e6 float64")
def test_bench_rolling_volatility_pandas(bench, prices: np.ndarray) -> None:
    series = pd.Series(prices)
    bench(lambda s: np.log(s).diff().rolling(20).std().to_numpy(), series)


@pytest.mark.benchmark(group="zscore(close, 20) 1e6 float64")
def test_bench_zscore_kernel(bench, prices: np.ndarray) -> None:
    zscore(prices[:100])
    bench(zscore, prices, 20)


@pytest.mark.benchmark(group="zscore(close, 20) 1e6 float64")
def test_bench_zscore_talib(bench, prices: np.ndarray) -> None:
    bench(lambda x: (x - talib.SMA(x, 20)) / talib.STDDEV(x, 20), prices)


# ----------------------------------------------------------- per-tick calls


@pytest.mark.benchmark(group="momentum tick: ema 12 + ema 26 + rsi 14")
def test_bench_momentum_update_one_tick(bench, prices: np.ndarray) -> None:
    state = momentum_state(12, 26, 14)
    for price in prices[:STREAM_WINDOW]:
        momentum_update(state, price)
    price = float(prices[STREAM_WINDOW])
    bench(momentum_update, state, price)
    assert not np.isnan(state[[MOM_EMA_FAST, MOM_EMA_SLOW, MOM_RSI]]).any()


@pytest.mark.benchmark(group="momentum tick: ema 12 + ema 26 + rsi 14")
def test_bench_talib_stream_one_tick(bench, prices: np.ndarray) -> None:
    # The TA-Lib alternative: one stateful talib.stream object per indicator.
    window = prices[:STREAM_WINDOW]
    ema_fast = talib.stream.EMA(window, 12)
    ema_slow = talib.stream.EMA(window, 26)
    rsi_14 = talib.stream.RSI(window, 14)
    price = float(prices[STREAM_WINDOW])

    def tick(price: float) -> tuple[float, float, float]:
        return ema_fast.update(price), ema_slow.update(price), rsi_14.update(price)

    fast, slow, strength = bench(tick, price)
    assert not np.isnan([fast, slow, strength]).any()


@pytest.mark.benchmark(group="indicator-set tick: ema 12/26, rsi 14, bb 20, atr 14, vwap, vol 20")
def test_bench_indicator_set_update_one_tick(bench, bars: dict[str, np.ndarray]) -> None:
    state = indicator_set_state()
    close, high, low, volume = bars["close"], bars["high"], bars["low"], bars["volume"]
    for i in range(STREAM_WINDOW):
        indicator_set_update(state, close[i], high[i], low[i], close[i], volume[i])
    i = STREAM_WINDOW
    tick = (float(close[i]), float(high[i]), float(low[i]), float(close[i]), float(volume[i]))
    bench(indicator_set_update, state, *tick)
    assert not np.isnan(state[:IS_SIZE]).any()
    bench.extra_info["target_ns"] = 1_000


@pytest.mark.benchmark(group="indicator-set tick: ema 12/26, rsi 14, bb 20, atr 14, vwap, vol 20")
def test_bench_talib_stream_indicator_set_one_tick(bench, bars: dict[str, np.ndarray]) -> None:
    # The TA-Lib part of the set (no VWAP or volatility there): five stream objects.
    w = slice(0, STREAM_WINDOW)
    close, high, low = bars["close"], bars["high"], bars["low"]
    ema_fast = talib.stream.EMA(close[w], 12)
    ema_slow = talib.stream.EMA(close[w], 26)
    rsi_14 = talib.stream.RSI(close[w], 14)
    bb_20 = talib.stream.BBANDS(close[w], 20, 2.0, 2.0)
    atr_14 = talib.stream.ATR(high[w], low[w], close[w], 14)
    i = STREAM_WINDOW
    price, h, lo = float(close[i]), float(high[i]), float(low[i])

    def tick() -> tuple:
        return (
            ema_fast.update(price),
            ema_slow.update(price),
            rsi_14.update(price),
            bb_20.update(price),
            atr_14.update(h, lo, price),
        )

    out = bench(tick)
    assert len(out) == 5
    assert {IS_EMA_FAST, IS_EMA_SLOW, IS_RSI, IS_BB_UPPER, IS_ATR} <= set(range(IS_SIZE))
