"""ADX, STOCH, WILLR, CCI and MFI kernels against TA-Lib, and streaming against batch."""

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import talib
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kernels._oscillators import (
    _adx_nb,
    _cci_nb,
    _mfi_nb,
    _stoch_nb,
    _willr_nb,
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

LEAN_DIR = Path(__file__).parents[1] / "data" / "lean"
#: Lean equity prices are integers in deci-cents (1/10,000 of a dollar).
LEAN_EQUITY_SCALE = 10_000.0

HLC = ("high", "low", "close")
HLCV = ("high", "low", "close", "volume")
INPUTS = {"adx": HLC, "stoch": HLC, "willr": HLC, "cci": HLC, "mfi": HLCV}
BATCH = {"adx": adx, "stoch": stoch, "willr": willr, "cci": cci, "mfi": mfi}
ORACLE = {
    "adx": talib.ADX,
    "stoch": talib.STOCH,
    "willr": talib.WILLR,
    "cci": talib.CCI,
    "mfi": talib.MFI,
}
STATE = {
    "adx": adx_state,
    "stoch": stoch_state,
    "willr": willr_state,
    "cci": cci_state,
    "mfi": mfi_state,
}
UPDATE = {
    "adx": adx_update,
    "stoch": stoch_update,
    "willr": willr_update,
    "cci": cci_update,
    "mfi": mfi_update,
}
#: Parameter sets per indicator, TA-Lib's defaults ({}) included.
PARAMS = {
    "adx": [{}, {"timeperiod": 2}, {"timeperiod": 5}, {"timeperiod": 30}],
    "stoch": [
        {},
        {"fastk_period": 1, "slowk_period": 1, "slowd_period": 1},
        {"fastk_period": 14, "slowk_period": 1, "slowd_period": 5},
        {"fastk_period": 21, "slowk_period": 7, "slowd_period": 4},
    ],
    "willr": [{}, {"timeperiod": 2}, {"timeperiod": 9}, {"timeperiod": 200}],
    "cci": [{}, {"timeperiod": 2}, {"timeperiod": 20}, {"timeperiod": 50}],
    "mfi": [{}, {"timeperiod": 2}, {"timeperiod": 9}, {"timeperiod": 60}],
}
CASES = [(name, params) for name, sets in PARAMS.items() for params in sets]
CASE_IDS = [
    name + "-" + ("default" if not p else "-".join(str(v) for v in p.values())) for name, p in CASES
]
#: TA-Lib's lookback: the index of the first defined output.
LOOKBACK: dict[str, Callable[..., int]] = {
    "adx": lambda timeperiod=14: 2 * timeperiod - 1,
    "stoch": lambda fastk_period=5, slowk_period=3, slowd_period=3: (
        fastk_period + slowk_period + slowd_period - 3
    ),
    "willr": lambda timeperiod=14: timeperiod - 1,
    "cci": lambda timeperiod=14: timeperiod - 1,
    "mfi": lambda timeperiod=14: timeperiod,
}
RANDOM_SERIES = ("walk-seed0", "walk-seed1", "ticks-seed2", "tiny-seed3")
REAL_SERIES = ("spy", "aapl", "btcusd_trade")

Bars = dict[str, np.ndarray]


# ------------------------------------------------------------------ fixtures


def random_bars(
    seed: int, n: int = 2_000, start: float = 100.0, volatility: float = 0.01, tick: float = 0.0
) -> Bars:
    """Seeded OHLCV bars with ``high >= max(open, close)`` and ``low <= min(open, close)``.

    A nonzero `tick` rounds prices to it (ties, unchanged typical prices, flat
    bars); a tenth of the volumes are zero either way.
    """
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0, volatility, n)))
    open_ = np.concatenate(([start], close[:-1])) * np.exp(rng.normal(0.0, volatility / 4, n))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, volatility / 2, n)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, volatility / 2, n)))
    if tick:
        open_, high, low, close = (np.round(x / tick) * tick for x in (open_, high, low, close))
    volume = np.round(rng.lognormal(8.0, 1.0, n))
    volume[rng.random(n) < 0.1] = 0.0
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


def load_lean_bars(name: str) -> Bars:
    """Daily bars from ``tests/data/lean/<name>.zip`` (one header-less Lean CSV).

    Rows are ``YYYYMMDD HH:MM,open,high,low,close,volume``; equity prices are in
    deci-cents and converted to dollars, crypto prices are already in quote units.
    """
    with zipfile.ZipFile(LEAN_DIR / f"{name}.zip") as archive:
        (member,) = archive.namelist()
        table = np.loadtxt(io.BytesIO(archive.read(member)), delimiter=",", usecols=(1, 2, 3, 4, 5))
    scale = 1.0 if name.endswith("_trade") else LEAN_EQUITY_SCALE
    prices = table[:, :4] / scale
    return {
        "open": prices[:, 0].copy(),
        "high": prices[:, 1].copy(),
        "low": prices[:, 2].copy(),
        "close": prices[:, 3].copy(),
        "volume": table[:, 4].copy(),
    }


def make_series(name: str) -> Bars:
    if name in REAL_SERIES:
        return load_lean_bars(name)
    kind, _, seed = name.partition("-seed")
    if kind == "ticks":
        return random_bars(int(seed), tick=0.05)
    if kind == "tiny":
        return random_bars(int(seed), start=1e-8, volatility=1e-3)
    return random_bars(int(seed))


@pytest.fixture(scope="module", params=RANDOM_SERIES + REAL_SERIES)
def series(request: pytest.FixtureRequest) -> tuple[str, Bars]:
    return request.param, make_series(request.param)


# ------------------------------------------------------------------- helpers


def ours(name: str, bars: Bars, **params: int) -> tuple[np.ndarray, ...]:
    result = BATCH[name](*(bars[k] for k in INPUTS[name]), **params)
    return result if isinstance(result, tuple) else (result,)


def theirs(name: str, bars: Bars, **params: int) -> tuple[np.ndarray, ...]:
    result = ORACLE[name](*(bars[k] for k in INPUTS[name]), **params)
    return result if isinstance(result, tuple) else (result,)


def stream(name: str, bars: Bars, **params: int) -> tuple[np.ndarray, ...]:
    state = STATE[name](**params)
    update = UPDATE[name]
    rows = zip(*(bars[k] for k in INPUTS[name]), strict=True)
    values = np.array([update(state, *row) for row in rows], dtype=np.float64)
    width = 2 if name == "stoch" else 1
    return tuple(values.reshape(-1, width).T.copy())


def theirs_skipping_nan_bars(name: str, bars: Bars, **params: int) -> tuple[np.ndarray, ...]:
    """TA-Lib on the finite bars only, NaN bars holding the previous output."""
    finite = np.logical_and.reduce([~np.isnan(bars[k]) for k in INPUTS[name]])
    outputs = []
    for partial in theirs(name, {k: bars[k][finite] for k in INPUTS[name]}, **params):
        full = np.full(finite.shape[0], np.nan)
        full[finite] = partial
        for i in np.flatnonzero(~finite):
            if i > 0:
                full[i] = full[i - 1]
        outputs.append(full)
    return tuple(outputs)


def assert_matches_talib(
    actual: tuple[np.ndarray, ...], expected: tuple[np.ndarray, ...], context: str = ""
) -> None:
    """NaN exactly where TA-Lib is NaN; elsewhere within 1e-9 relative, or 1e-9 absolute.

    Every output here lives on a 0-100 scale (CCI a few hundred), so 1e-9
    absolute is the "near zero" band.
    """
    assert len(actual) == len(expected)
    for ours_out, talib_out in zip(actual, expected, strict=True):
        assert ours_out.dtype == np.float64
        assert ours_out.shape == talib_out.shape
        np.testing.assert_array_equal(
            np.isnan(ours_out), np.isnan(talib_out), err_msg=f"NaN mask {context}"
        )
        defined = ~np.isnan(talib_out)
        np.testing.assert_allclose(
            ours_out[defined], talib_out[defined], rtol=1e-9, atol=1e-9, err_msg=context
        )


def assert_bitwise_equal(actual: tuple[np.ndarray, ...], expected: tuple[np.ndarray, ...]) -> None:
    assert len(actual) == len(expected)
    for a, b in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(a.view(np.uint64), b.view(np.uint64))


def flat_bars(n: int = 120, price: float = 61_837.63) -> Bars:
    x = np.full(n, price)
    return {"high": x, "low": x.copy(), "close": x.copy(), "volume": np.full(n, 3.0)}


# ------------------------------------------------------------------- vs TA-Lib


@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_indicator_when_series_given_then_matches_talib(
    series: tuple[str, Bars], name: str, params: dict[str, int]
) -> None:
    label, bars = series
    assert_matches_talib(
        ours(name, bars, **params), theirs(name, bars, **params), f"{name}{params} on {label}"
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_indicator_when_random_bars_then_bitwise_equal_to_pinned_talib(seed: int) -> None:
    # The module follows TA-Lib 0.8's order of operations. If a TA-Lib upgrade
    # breaks this, check that the 1e-9 test above still holds, then decide
    # whether to follow the new arithmetic.
    bars = random_bars(seed, n=5_000, tick=0.05 * seed)
    for name in BATCH:
        assert_bitwise_equal(ours(name, bars), theirs(name, bars))


@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_indicator_first_output_at_talib_lookback(name: str, params: dict[str, int]) -> None:
    bars = random_bars(seed=5, n=600)
    for out in ours(name, bars, **params):
        assert np.flatnonzero(~np.isnan(out))[0] == LOOKBACK[name](**params)


@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_indicator_when_input_shorter_than_warm_up_then_all_nan_like_talib(
    name: str, params: dict[str, int]
) -> None:
    bars = random_bars(seed=6, n=LOOKBACK[name](**params))
    result = ours(name, bars, **params)
    assert all(np.isnan(out).all() for out in result)
    assert_matches_talib(result, theirs(name, bars, **params))


@pytest.mark.parametrize("name", BATCH)
def test_indicator_when_input_empty_then_returns_empty(name: str) -> None:
    empty = np.empty(0, dtype=np.float64)
    for out in ours(name, dict.fromkeys(HLCV, empty)):
        assert out.shape == (0,)
        assert out.dtype == np.float64


# --------------------------------------------------- flat series, zero tests


@pytest.mark.parametrize("name", BATCH)
def test_indicator_when_series_flat_then_zero_like_talib(name: str) -> None:
    bars = flat_bars()
    result = ours(name, bars)
    assert_matches_talib(result, theirs(name, bars))
    lookback = LOOKBACK[name]()
    for out in result:
        np.testing.assert_array_equal(out[lookback:], 0.0)


@pytest.mark.parametrize("name", ["stoch", "willr"])
@pytest.mark.parametrize("price", [1e-6, 1.0, 3.7, 61_837.63])
@pytest.mark.parametrize("relative_range", [0.0, 5e-15, 1.5e-14, 1.9e-14, 2.1e-14, 3e-14, 1e-12])
def test_stoch_and_willr_when_range_near_zero_then_follow_talib_scaled_zero_test(
    name: str, price: float, relative_range: float
) -> None:
    # TA-Lib treats a range within 1e-14 of |highest| + |lowest| as zero (output 0).
    bars = flat_bars(n=40, price=price)
    bars["high"][20] = price * (1.0 + relative_range)
    bars["close"][20:] = bars["high"][20]
    params = {"fastk_period": 3, "slowk_period": 1, "slowd_period": 1}
    kwargs = params if name == "stoch" else {"timeperiod": 3}
    assert_bitwise_equal(ours(name, bars, **kwargs), theirs(name, bars, **kwargs))


def test_willr_when_close_outside_the_range_then_clamped_like_talib() -> None:
    bars = random_bars(seed=7, n=300)
    bars["close"][[100, 200]] = bars["high"].max() + 5.0, bars["low"].min() - 5.0
    result = ours("willr", bars)
    assert_bitwise_equal(result, theirs("willr", bars))
    assert result[0][100] == 0.0
    assert result[0][200] == -100.0


def test_willr_when_close_at_highest_high_then_negative_zero_like_talib() -> None:
    bars = {
        "high": np.array([3.0, 4.0, 5.0]),
        "low": np.ones(3),
        "close": np.array([2.0, 4.0, 5.0]),
    }
    (result,) = ours("willr", bars, timeperiod=2)
    assert_bitwise_equal((result,), theirs("willr", bars, timeperiod=2))
    assert np.signbit(result[1:]).all()


@pytest.mark.parametrize("price", [1e-9, 1.0, 61_837.63])
@pytest.mark.parametrize("jitter", [1e-16, 1e-15, 1e-14, 1e-13])
def test_cci_when_prices_flat_within_rounding_then_zero_test_matches_talib(
    price: float, jitter: float
) -> None:
    # Typical prices a few ulps apart: TA-Lib's scaled dead zone decides 0 or not.
    rng = np.random.default_rng(8)
    x = price * (1.0 + jitter * rng.integers(-2, 3, 200))
    bars = {"high": x, "low": x.copy(), "close": x.copy()}
    for timeperiod in (2, 3, 14):
        assert_bitwise_equal(
            ours("cci", bars, timeperiod=timeperiod), theirs("cci", bars, timeperiod=timeperiod)
        )


@pytest.mark.parametrize("jitter", [0.0, 1e-16, 1e-15, 1e-13])
def test_mfi_when_typical_price_flat_or_volume_zero_then_matches_talib(jitter: float) -> None:
    # Long stretches without money flow reset TA-Lib's sums to exactly zero.
    bars = random_bars(seed=9, n=400)
    bars["volume"][100:140] = 0.0
    flat = slice(200, 260)
    bars["high"][flat] = bars["low"][flat] = bars["close"][flat] = 50.0
    bars["close"][flat] *= 1.0 + jitter * (np.arange(60) % 3)
    for timeperiod in (2, 14, 30):
        assert_bitwise_equal(
            ours("mfi", bars, timeperiod=timeperiod), theirs("mfi", bars, timeperiod=timeperiod)
        )


def test_adx_when_directional_movement_is_a_rounding_residue_then_dx_skipped_like_talib() -> None:
    # +DI of ~1e-18: below TA-Lib's 1e-14 band, so the DX is skipped, not 100.
    n = 100
    bars = {"high": np.full(n, 1.0), "low": np.full(n, -1000.0), "close": np.zeros(n)}
    bars["high"][60] = np.nextafter(1.0, 2.0)
    (result,) = ours("adx", bars)
    assert_matches_talib((result,), theirs("adx", bars))
    np.testing.assert_array_equal(result[27:], 0.0)


@pytest.mark.parametrize("timeperiod", [2, 5, 14])
def test_adx_when_true_range_underflows_after_a_flat_stretch_then_bitwise_equal_to_talib(
    timeperiod: int,
) -> None:
    # 4,700 flat bars drive the Wilder sums into subnormals (for periods 2 and 5),
    # where any last-bit difference from TA-Lib's divisions becomes whole points.
    bars = random_bars(seed=24, n=5_000)
    for key in HLC:
        bars[key][300:] = bars["close"][299]
    assert_bitwise_equal(
        ours("adx", bars, timeperiod=timeperiod), theirs("adx", bars, timeperiod=timeperiod)
    )


@pytest.mark.parametrize("relative_move", [1e-15, 1e-9])
def test_adx_when_true_range_tiny_but_nonzero_then_dx_counted_like_talib(
    relative_move: float,
) -> None:
    bars = flat_bars(n=60, price=1.0)
    bars["high"][30] = 1.0 + relative_move
    assert_matches_talib(ours("adx", bars, timeperiod=3), theirs("adx", bars, timeperiod=3))


# ---------------------------------------------------------------- NaN policy


@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_indicator_when_leading_nans_then_matches_talib(name: str, params: dict[str, int]) -> None:
    bars = random_bars(seed=10, n=500)
    for key, count in zip(HLCV, (3, 7, 5, 9), strict=True):
        bars[key][:count] = np.nan
    assert_matches_talib(ours(name, bars, **params), theirs(name, bars, **params))


@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_indicator_when_interior_nans_then_skips_the_bar_and_holds_the_output(
    name: str, params: dict[str, int]
) -> None:
    bars = random_bars(seed=11, n=1_200)
    rng = np.random.default_rng(11)
    for key in HLCV:
        bars[key][rng.random(1_200) < 0.03] = np.nan
    bars["close"][600:700] = np.nan  # a run of NaN bars across a chunk boundary
    assert_matches_talib(ours(name, bars, **params), theirs_skipping_nan_bars(name, bars, **params))


@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_update_when_nan_bars_then_bitwise_equal_to_batch(
    name: str, params: dict[str, int]
) -> None:
    bars = random_bars(seed=12, n=1_500)
    rng = np.random.default_rng(12)
    for key in HLCV:
        bars[key][rng.random(1_500) < 0.05] = np.nan
    assert_bitwise_equal(stream(name, bars, **params), ours(name, bars, **params))


def test_update_when_bar_has_nan_then_state_unchanged() -> None:
    state = willr_state(3)
    for bar in [(2.0, 1.0, 1.5), (3.0, 2.0, 2.5), (4.0, 3.0, 3.5)]:
        willr_update(state, *bar)
    before = state.copy()
    assert willr_update(state, np.nan, 1.0, 1.0) == willr_update(state, 4.0, 3.0, np.nan)
    assert_bitwise_equal((state,), (before,))


# ------------------------------------------------------- streaming vs batch

finite_prices = st.floats(
    min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False
)


@st.composite
def bar_series(draw: st.DrawFn) -> Bars:
    """Either arbitrary finite floats or a seeded random walk, ticks and all."""
    n = draw(st.integers(min_value=0, max_value=90))
    if draw(st.booleans()):
        return {key: draw(arrays(np.float64, n, elements=finite_prices)) for key in HLCV}
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    return random_bars(seed, n=n, tick=draw(st.sampled_from([0.0, 0.01, 1.0])))


@st.composite
def indicator_params(draw: st.DrawFn) -> tuple[str, dict[str, int]]:
    name = draw(st.sampled_from(sorted(BATCH)))
    if name == "stoch":
        keys = ("fastk_period", "slowk_period", "slowd_period")
        return name, {key: draw(st.integers(min_value=1, max_value=9)) for key in keys}
    return name, {"timeperiod": draw(st.integers(min_value=2, max_value=12))}


@given(bars=bar_series(), case=indicator_params())
def test_update_when_nan_free_bars_then_bitwise_equal_to_batch(
    bars: Bars, case: tuple[str, dict[str, int]]
) -> None:
    name, params = case
    assert_bitwise_equal(stream(name, bars, **params), ours(name, bars, **params))


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", BATCH)
@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_batch_when_dtype_not_float64_then_raises_naming_the_input(name: str, dtype: type) -> None:
    bars = random_bars(seed=13, n=50)
    bars["low"] = bars["low"].astype(dtype)
    with pytest.raises(ValueError, match=f"^{name} low must have dtype float64, was "):
        ours(name, bars)


@pytest.mark.parametrize("name", BATCH)
def test_batch_when_input_2d_then_raises_naming_the_input(name: str) -> None:
    bars = random_bars(seed=14, n=50)
    bars["close"] = bars["close"].reshape(5, 10)
    with pytest.raises(
        ValueError, match=rf"^{name} close must be 1-D, was 2-D with shape \(5, 10\)$"
    ):
        ours(name, bars)


@pytest.mark.parametrize("name", BATCH)
def test_batch_when_lengths_differ_then_raises_naming_the_input(name: str) -> None:
    bars = random_bars(seed=15, n=50)
    last = INPUTS[name][-1]
    bars[last] = bars[last][:49]
    with pytest.raises(
        ValueError, match=rf"^{name} {last} has length 49, expected 50 \(the length of high\)$"
    ):
        ours(name, bars)


@pytest.mark.parametrize("name", BATCH)
def test_batch_when_input_not_an_array_then_raises_naming_the_input(name: str) -> None:
    bars = random_bars(seed=16, n=50)
    bars["high"] = bars["high"].tolist()
    with pytest.raises(
        ValueError, match=f"^{name} high must be a numpy.ndarray of float64, was list$"
    ):
        ours(name, bars)


PERIOD_ARGS = [
    ("adx", "timeperiod", 2),
    ("willr", "timeperiod", 2),
    ("cci", "timeperiod", 2),
    ("mfi", "timeperiod", 2),
    ("stoch", "fastk_period", 1),
    ("stoch", "slowk_period", 1),
    ("stoch", "slowd_period", 1),
]


@pytest.mark.parametrize(("name", "argument", "minimum"), PERIOD_ARGS)
@pytest.mark.parametrize("offset", ["below", "above"])
def test_batch_and_state_when_period_out_of_range_then_raise_naming_it(
    name: str, argument: str, minimum: int, offset: str
) -> None:
    bad = minimum - 1 if offset == "below" else 100_001
    message = rf"^{name} {argument} must be in \[{minimum}, 100000\], was {bad}$"
    with pytest.raises(ValueError, match=message):
        ours(name, random_bars(seed=17, n=50), **{argument: bad})
    with pytest.raises(ValueError, match=message):
        STATE[name](**{argument: bad})
    # TA-Lib refuses the same value.
    with pytest.raises(Exception, match="Bad Parameter"):
        theirs(name, random_bars(seed=17, n=50), **{argument: bad})


@pytest.mark.parametrize(("name", "argument", "minimum"), PERIOD_ARGS)
@pytest.mark.parametrize("bad", [14.0, "14", True, None])
def test_batch_when_period_not_an_integer_then_raises_naming_it(
    name: str, argument: str, minimum: int, bad: object
) -> None:
    with pytest.raises(ValueError, match=f"^{name} {argument} must be an integer in"):
        ours(name, random_bars(seed=18, n=50), **{argument: bad})


@pytest.mark.parametrize("argument", ["slowk_matype", "slowd_matype"])
def test_stoch_when_matype_not_sma_then_raises_naming_it(argument: str) -> None:
    with pytest.raises(ValueError, match=f"^stoch {argument} must be 0 \\(SMA"):
        ours("stoch", random_bars(seed=19, n=50), **{argument: 1})
    with pytest.raises(ValueError, match=f"^stoch {argument} must be 0 \\(SMA"):
        stoch_state(**{argument: 1})


def test_stoch_when_called_positionally_like_talib_then_same_parameters() -> None:
    bars = random_bars(seed=20, n=300)
    args = (bars["high"], bars["low"], bars["close"], 9, 4, 0, 2, 0)
    assert_matches_talib(stoch(*args), talib.STOCH(*args))


def test_batch_when_input_not_contiguous_then_matches_contiguous() -> None:
    bars = random_bars(seed=21, n=600)
    strided = {key: np.repeat(x, 2)[::2] for key, x in bars.items()}
    assert not strided["high"].flags.c_contiguous
    for name in BATCH:
        assert_bitwise_equal(ours(name, strided), ours(name, bars))


@pytest.mark.parametrize(
    ("kernel", "args"),
    [(_adx_nb, (1,)), (_willr_nb, (0,)), (_cci_nb, (1,)), (_stoch_nb, (5, 0, 3))],
    ids=["adx", "willr", "cci", "stoch"],
)
def test_compiled_kernel_when_period_invalid_then_all_nan_not_raise(kernel, args) -> None:
    bars = random_bars(seed=22, n=30)
    outputs = [np.zeros(30) for _ in range(2 if kernel is _stoch_nb else 1)]
    kernel(bars["high"], bars["low"], bars["close"], *args, *outputs)
    for out in outputs:
        assert np.isnan(out).all()


def test_compiled_mfi_kernel_when_period_invalid_then_all_nan_not_raise() -> None:
    bars = random_bars(seed=23, n=30)
    out = np.zeros(30)
    _mfi_nb(bars["high"], bars["low"], bars["close"], bars["volume"], 1, out)
    assert np.isnan(out).all()
