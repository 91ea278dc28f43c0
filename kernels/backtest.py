"""Long-only all-in signal backtests and parallel parameter sweeps.

Conventions
-----------
dtype
    ``close`` is 1-D float64, ``entries`` and ``exits`` are 1-D bool of the same
    length. Equity and stats are float64; trades are a `trade_record_dt` array.
Fills
    One instrument, long only. On an entry bar while flat, all cash buys at that
    bar's close: ``size = cash / (1 + fees) / close`` and the rest,
    ``cash - cash / (1 + fees)``, is the fee, so cash ends at exactly zero
    (vectorbt's ``size=np.inf`` path, fractional sizes allowed). On an exit bar
    while long, the whole position sells at the close and pays
    ``size * close * fees``. An entry while long and an exit while flat do
    nothing (``accumulate=False``); an entry and an exit on the same bar cancel
    each other (``upon_long_conflict="ignore"``); a buy of fewer than 1e-8 units
    is refused (``min_size=1e-8``). A position still open after the last bar
    stays open and is marked to the close.
NaN policy
    A NaN close means no price: a signal on that bar is dropped (not deferred)
    and the equity marks any position to the last finite close. Sweeps need
    every close finite. Every finite close must be > 0.
Oracle
    ``signals_backtest(close, entries, exits, fees, init_cash)`` equals
    ``vbt.Portfolio.from_signals(close, entries, exits, fees=fees,
    init_cash=init_cash, freq="1D")`` (vectorbt 1.2) within 1e-9: ``value()``,
    exit trades and the stats below. vectorbt's fill arithmetic, including its
    tolerant additions (a sum within 1e-9 relative / 1e-12 absolute of zero is
    zero), is reproduced step for step: equity and trades have matched bit for
    bit, the stats within a few ulps (vectorbt sums cash flows and compounds
    returns where we divide). One deviation: an open trade whose last close is
    NaN is marked to the last finite close, where vectorbt reports a NaN exit
    price, PnL and return.
Stats (offsets ``STAT_*`` in the stats array)
    Per-bar returns are ``r[i] = (equity[i] - equity[i-1]) / equity[i-1]`` with
    ``equity[-1] := init_cash``; ``periods_per_year`` (default 365, vectorbt's
    ``year_freq="365 days"`` over daily bars) annualises them.
    ``total_return = equity[-1] / init_cash - 1``;
    ``sharpe_ratio = mean(r) / std(r, ddof=1) * sqrt(periods_per_year)``;
    ``sortino_ratio = mean(r) * periods_per_year /
    (sqrt(mean(min(r, 0) ** 2)) * sqrt(periods_per_year))``; both are NaN for
    fewer than two bars and +inf when the denominator is zero (a flat curve
    included), as in vectorbt. ``max_drawdown = max(1 - equity / cummax(equity))``,
    a positive fraction (vectorbt's ``-pf.max_drawdown()``). ``win_rate`` is the
    share of closed trades with ``pnl > 0`` (NaN without closed trades), as
    vectorbt's stats "Win Rate"; ``trade_count`` counts open trades too
    ("Total Trades"), ``closed_trade_count`` does not.
Sweeps
    ``ma_crossover_sweep`` enters when the fast SMA crosses above the slow SMA
    (``fast > slow`` and previous ``fast <= slow``) and exits on the reverse
    cross; ``rsi_threshold_sweep`` enters when the RSI crosses below ``lower``
    (``rsi < lower`` and previous ``rsi >= lower``) and exits when it crosses
    above ``upper``. Each distinct window's indicator is computed once and
    shared; parameter sets run in parallel (``prange``), each independently, so
    results do not depend on the thread count. Grid points with
    ``fast >= slow`` or ``lower >= upper`` are NaN. The indicators are the
    project's `kernels.indicators.sma` and `kernels.indicators.rsi`
    (``talib.SMA`` / ``talib.RSI`` up to rounding, NaN during warm-up).
    vectorbt's ``MA`` subtracts a global running sum and ``vbt.RSI`` is
    Cutler's simple-average RSI, so the oracle takes vectorbt's ``MA`` (equal
    to ours within ~1e-9 on 100,000 bars) and its TA-Lib ``RSI``; a rounding
    difference flips a signal only on a near-exact tie.
"""

import math

import numpy as np
from numba import njit, prange

from kernels.dtypes import trade_record_dt
from kernels.indicators import rsi, sma

__all__ = [
    "STATS_SIZE",
    "STAT_CLOSED_TRADE_COUNT",
    "STAT_MAX_DRAWDOWN",
    "STAT_SHARPE_RATIO",
    "STAT_SORTINO_RATIO",
    "STAT_TOTAL_RETURN",
    "STAT_TRADE_COUNT",
    "STAT_WIN_RATE",
    "TRADE_CLOSED",
    "TRADE_OPEN",
    "ma_crossover_sweep",
    "rsi_threshold_sweep",
    "signals_backtest",
]

#: ``trade_record_dt.status`` of a trade still open after the last bar.
TRADE_OPEN = 0
#: ``trade_record_dt.status`` of a trade closed by an exit signal.
TRADE_CLOSED = 1

#: Offset of ``equity[-1] / init_cash - 1`` in the stats array.
STAT_TOTAL_RETURN = 0
#: Offset of the annualised Sharpe ratio of per-bar returns (risk-free rate 0).
STAT_SHARPE_RATIO = 1
#: Offset of the annualised Sortino ratio of per-bar returns (required return 0).
STAT_SORTINO_RATIO = 2
#: Offset of the maximum drawdown, a positive fraction of the running peak.
STAT_MAX_DRAWDOWN = 3
#: Offset of the share of closed trades with positive PnL (NaN without any).
STAT_WIN_RATE = 4
#: Offset of the number of trades, the open one included.
STAT_TRADE_COUNT = 5
#: Offset of the number of closed trades.
STAT_CLOSED_TRADE_COUNT = 6
#: Length of the stats array.
STATS_SIZE = 7

# vectorbt's float tolerances (utils/math_.py) and default min_size.
_REL_TOL = 1e-9
_ABS_TOL = 1e-12
_MIN_SIZE = 1e-8
_MAX_TIMEPERIOD = 100_000


# ----------------------------------------------------------------------- fills


@njit(cache=True)
def _is_close(a, b):
    if a == b:
        return True
    return abs(a - b) <= max(_REL_TOL * max(abs(a), abs(b)), _ABS_TOL)


@njit(cache=True)
def _add(a, b):
    # vectorbt's add_nb: a sum that is zero within tolerance is exactly zero, so
    # "sell everything" leaves no dust and cash after an all-in buy is 0.0.
    if np.sign(a) != np.sign(b):
        if _is_close(abs(a), abs(b)):
            return 0.0
    elif _is_close(a + b, 0.0):
        return 0.0
    return a + b


@njit(cache=True)
def _buy_all(cash, price, fees):
    """Return ``(size, fees_paid)`` of an all-cash buy; size 0.0 if refused."""
    if _is_close(cash, 0.0):
        return 0.0, 0.0
    spendable = cash / (1.0 + fees)
    size = spendable / price
    if size < _MIN_SIZE and not _is_close(size, _MIN_SIZE):
        return 0.0, 0.0
    return size, cash - spendable


@njit(cache=True)
def _sell_all(position, price, fees):
    """Return ``(proceeds, fees_paid)`` of selling the whole position."""
    gross = position * price
    fees_paid = gross * fees
    return _add(gross, -fees_paid), fees_paid


@njit(cache=True)
def _final_return(cash, position, last_close, init_cash):
    return (cash + position * last_close) / init_cash - 1.0


# ----------------------------------------------------------- signals backtest


@njit(cache=True)
def _fill_trade(trade, size, entry_gross, entry_fees, exit_idx, exit_price, exit_fees, status):
    # Same order of operations as vectorbt's get_exit_trades_nb / get_trade_stats_nb.
    entry_price = entry_gross / size
    entry_value = size * entry_price
    pnl = _add(size * exit_price, -entry_value) - entry_fees - exit_fees
    trade["exit_idx"] = exit_idx
    trade["size"] = size
    trade["entry_price"] = entry_price
    trade["entry_fees"] = entry_fees
    trade["exit_price"] = exit_price
    trade["exit_fees"] = exit_fees
    trade["pnl"] = pnl
    trade["return"] = pnl / entry_value
    trade["status"] = status


@njit(cache=True)
def _simulate(close, entries, exits, fees, init_cash, equity, trades):
    """Fill ``equity`` and ``trades`` in place; return the number of trades."""
    cash = init_cash
    position = 0.0
    mark = np.nan  # last finite close
    n_trades = 0
    entry_gross = 0.0
    entry_fees = 0.0
    for i in range(close.shape[0]):
        price = close[i]
        has_price = not math.isnan(price)
        if has_price:
            mark = price
        entry = entries[i] and not exits[i]
        exit_ = exits[i] and not entries[i]
        if has_price and position == 0.0 and entry:
            size, paid = _buy_all(cash, price, fees)
            if size > 0.0:
                cash = _add(cash, -cash)
                position = size
                entry_gross = size * price
                entry_fees = paid
                trades[n_trades]["entry_idx"] = i
        elif has_price and position > 0.0 and exit_:
            proceeds, paid = _sell_all(position, price, fees)
            _fill_trade(
                trades[n_trades], position, entry_gross, entry_fees, i, price, paid, TRADE_CLOSED
            )
            n_trades += 1
            cash += proceeds
            position = 0.0
        equity[i] = cash if position == 0.0 else cash + position * mark
    if position > 0.0:
        last = close.shape[0] - 1
        _fill_trade(
            trades[n_trades], position, entry_gross, entry_fees, last, mark, 0.0, TRADE_OPEN
        )
        n_trades += 1
    return n_trades


@njit(cache=True)
def _stats(equity, init_cash, trades, periods_per_year, out):
    n = equity.shape[0]
    out[STAT_TOTAL_RETURN] = equity[n - 1] / init_cash - 1.0
    prev = init_cash
    peak = equity[0]
    max_drawdown = 0.0
    total = 0.0
    downside = 0.0
    returns = np.empty(n, dtype=np.float64)
    for i in range(n):
        r = (equity[i] - prev) / prev
        returns[i] = r
        total += r
        if r < 0.0:
            downside += r * r
        prev = equity[i]
        peak = max(peak, equity[i])
        max_drawdown = max(max_drawdown, 1.0 - equity[i] / peak)
    mean = total / n
    squares = 0.0
    for i in range(n):
        squares += (returns[i] - mean) ** 2
    if n < 2:
        out[STAT_SHARPE_RATIO] = np.nan
        out[STAT_SORTINO_RATIO] = np.nan
    else:
        std = math.sqrt(squares / (n - 1))
        out[STAT_SHARPE_RATIO] = np.inf if std == 0.0 else mean / std * math.sqrt(periods_per_year)
        downside_risk = math.sqrt(downside / n) * math.sqrt(periods_per_year)
        out[STAT_SORTINO_RATIO] = (
            np.inf if downside_risk == 0.0 else mean * periods_per_year / downside_risk
        )
    out[STAT_MAX_DRAWDOWN] = max_drawdown
    closed = 0
    wins = 0
    for k in range(trades.shape[0]):
        if trades[k]["status"] == TRADE_CLOSED:
            closed += 1
            if trades[k]["pnl"] > 0.0:
                wins += 1
    out[STAT_WIN_RATE] = wins / closed if closed > 0 else np.nan
    out[STAT_TRADE_COUNT] = trades.shape[0]
    out[STAT_CLOSED_TRADE_COUNT] = closed


# ---------------------------------------------------------------------- sweeps


@njit(cache=True)
def _crossover_return(fast, slow, close, fees, init_cash):
    cash = init_cash
    position = 0.0
    fast_before = fast[0]
    slow_before = slow[0]
    for i in range(1, close.shape[0]):
        fast_now = fast[i]
        slow_now = slow[i]
        if position == 0.0:
            if fast_now > slow_now and fast_before <= slow_before:
                size, _ = _buy_all(cash, close[i], fees)
                if size > 0.0:
                    cash = _add(cash, -cash)
                    position = size
        elif fast_now < slow_now and fast_before >= slow_before:
            proceeds, _ = _sell_all(position, close[i], fees)
            cash += proceeds
            position = 0.0
        fast_before = fast_now
        slow_before = slow_now
    return _final_return(cash, position, close[close.shape[0] - 1], init_cash)


@njit(cache=True)
def _threshold_return(oscillator, lower, upper, close, fees, init_cash):
    cash = init_cash
    position = 0.0
    for i in range(1, close.shape[0]):
        now = oscillator[i]
        before = oscillator[i - 1]
        if position == 0.0:
            if now < lower and before >= lower:
                size, _ = _buy_all(cash, close[i], fees)
                if size > 0.0:
                    cash = _add(cash, -cash)
                    position = size
        elif now > upper and before <= upper:
            proceeds, _ = _sell_all(position, close[i], fees)
            cash += proceeds
            position = 0.0
    return _final_return(cash, position, close[close.shape[0] - 1], init_cash)


@njit(cache=True, parallel=True)
def _ma_crossover_grid(close, smas, windows, fast_rows, slow_rows, fees, init_cash):
    n_fast = fast_rows.shape[0]
    n_slow = slow_rows.shape[0]
    out = np.empty((n_fast, n_slow), dtype=np.float64)
    for p in prange(n_fast * n_slow):
        f = fast_rows[p // n_slow]
        s = slow_rows[p % n_slow]
        if windows[f] >= windows[s]:
            out[p // n_slow, p % n_slow] = np.nan
        else:
            out[p // n_slow, p % n_slow] = _crossover_return(
                smas[f], smas[s], close, fees, init_cash
            )
    return out


@njit(cache=True, parallel=True)
def _rsi_threshold_grid(close, rsis, period_rows, lowers, uppers, fees, init_cash):
    n_lower = lowers.shape[0]
    n_upper = uppers.shape[0]
    per_period = n_lower * n_upper
    out = np.empty((period_rows.shape[0], n_lower, n_upper), dtype=np.float64)
    for p in prange(period_rows.shape[0] * per_period):
        k = p // per_period
        lo = (p % per_period) // n_upper
        up = p % n_upper
        if lowers[lo] >= uppers[up]:
            out[k, lo, up] = np.nan
        else:
            out[k, lo, up] = _threshold_return(
                rsis[period_rows[k]], lowers[lo], uppers[up], close, fees, init_cash
            )
    return out


# ------------------------------------------------------------ Python wrappers


def _indicator_rows(indicator, close, periods):
    # The project's indicator, once per distinct period, shared by every grid
    # point that uses it (a few ms next to the grid itself).
    rows = np.empty((periods.shape[0], close.shape[0]), dtype=np.float64)
    for k in range(periods.shape[0]):
        rows[k] = indicator(close, int(periods[k]))
    return rows


def _check_close(close, allow_nan):
    close = np.ascontiguousarray(close, dtype=np.float64)
    if close.ndim != 1 or close.shape[0] == 0:
        raise ValueError(f"close must be a non-empty 1-D array, was shape {close.shape}")
    finite = np.isfinite(close)
    bad = ~(finite & (close > 0.0))
    if allow_nan:
        bad &= ~np.isnan(close)
    if bad.any():
        i = int(np.argmax(bad))
        need = "finite and > 0, or NaN" if allow_nan else "finite and > 0"
        raise ValueError(f"close must be {need}; close[{i}] was {close[i]}")
    return close


def _check_signals(name, signals, n):
    signals = np.ascontiguousarray(signals)
    if signals.dtype != np.bool_:
        raise ValueError(f"{name} must be a bool array, was {signals.dtype}")
    if signals.shape != (n,):
        raise ValueError(f"{name} must have the shape of close {(n,)}, was {signals.shape}")
    return signals


def _check_costs(fees, init_cash):
    if not 0.0 <= fees < 1.0:
        raise ValueError(f"fees must be in [0, 1), was {fees}")
    if not (math.isfinite(init_cash) and init_cash > 0.0):
        raise ValueError(f"init_cash must be finite and > 0, was {init_cash}")


def _check_ints(name, values, low):
    values = np.ascontiguousarray(values)
    if values.ndim != 1 or values.shape[0] == 0 or values.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a non-empty 1-D integer array, was {values!r}")
    bad = (values < low) | (values > _MAX_TIMEPERIOD)
    if bad.any():
        value = values[np.argmax(bad)]
        raise ValueError(f"{name} must be in [{low}, {_MAX_TIMEPERIOD}], was {value}")
    return values.astype(np.int64)


def _check_thresholds(name, values):
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.ndim != 1 or values.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, was shape {values.shape}")
    bad = ~((values >= 0.0) & (values <= 100.0))
    if bad.any():
        raise ValueError(f"{name} must be in [0, 100], was {values[np.argmax(bad)]}")
    return values


def signals_backtest(
    close: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    fees: float = 0.0,
    init_cash: float = 100.0,
    periods_per_year: float = 365.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backtest long-only, all-in entry and exit signals filled at the close.

    Parameters
    ----------
    close : numpy.ndarray
        1-D close prices; finite values must be > 0, NaN means no price.
    entries, exits : numpy.ndarray
        1-D bool signals, one per bar.
    fees : float, default 0.0
        Proportional fee per fill, in [0, 1).
    init_cash : float, default 100.0
        Starting cash, finite and > 0.
    periods_per_year : float, default 365.0
        Bars per year for the Sharpe and Sortino ratios (vectorbt's default
        ``year_freq`` of 365 days over daily bars).

    Returns
    -------
    equity : numpy.ndarray
        float64 portfolio value at each close.
    trades : numpy.ndarray
        `kernels.dtypes.trade_record_dt` records in entry order; the last one
        may be open (``status == TRADE_OPEN``).
    stats : numpy.ndarray
        float64[STATS_SIZE], read with the ``STAT_*`` offsets.

    Raises
    ------
    ValueError
        If an argument has the wrong shape, dtype or range; the message names it.

    Examples
    --------
    >>> import numpy as np
    >>> close = np.array([10.0, 11.0, 12.0, 9.0])
    >>> equity, trades, stats = signals_backtest(
    ...     close, np.array([True, False, False, False]), np.array([False, False, True, False])
    ... )
    >>> equity.tolist()
    [100.0, 110.0, 120.0, 120.0]
    >>> int(trades["exit_idx"][0]), round(float(stats[STAT_TOTAL_RETURN]), 12)
    (2, 0.2)
    """
    close = _check_close(close, allow_nan=True)
    n = close.shape[0]
    entries = _check_signals("entries", entries, n)
    exits = _check_signals("exits", exits, n)
    _check_costs(fees, init_cash)
    if not (math.isfinite(periods_per_year) and periods_per_year > 0.0):
        raise ValueError(f"periods_per_year must be finite and > 0, was {periods_per_year}")
    equity = np.empty(n, dtype=np.float64)
    # A trade needs an entry bar and a later exit bar, except the open one.
    trades = np.empty((n + 1) // 2 + 1, dtype=trade_record_dt)
    n_trades = _simulate(close, entries, exits, float(fees), float(init_cash), equity, trades)
    trades = trades[:n_trades].copy()
    stats = np.empty(STATS_SIZE, dtype=np.float64)
    _stats(equity, float(init_cash), trades, float(periods_per_year), stats)
    return equity, trades, stats


def ma_crossover_sweep(
    close: np.ndarray,
    fast_windows: np.ndarray,
    slow_windows: np.ndarray,
    fees: float = 0.001,
    init_cash: float = 10_000.0,
) -> np.ndarray:
    """Total return of an SMA crossover backtest for every (fast, slow) window pair.

    Parameters
    ----------
    close : numpy.ndarray
        1-D close prices, all finite and > 0.
    fast_windows, slow_windows : numpy.ndarray
        1-D integer SMA windows, each in [1, 100000]; duplicates allowed.
    fees : float, default 0.001
        Proportional fee per fill, in [0, 1).
    init_cash : float, default 10000.0
        Starting cash, finite and > 0 (total return does not depend on it
        unless a buy would fall under vectorbt's 1e-8 minimum size).

    Returns
    -------
    numpy.ndarray
        float64 ``[len(fast_windows), len(slow_windows)]`` of
        ``final_value / init_cash - 1``, as `signals_backtest` on the crossover
        signals; NaN where ``fast >= slow``.

    Raises
    ------
    ValueError
        If an argument has the wrong shape, dtype or range; the message names it.

    Examples
    --------
    >>> import numpy as np
    >>> close = 100.0 + np.sin(np.arange(200) / 10.0)
    >>> ma_crossover_sweep(close, [5, 10], [10, 20]).shape
    (2, 2)
    """
    close = _check_close(close, allow_nan=False)
    fast = _check_ints("fast_windows", fast_windows, 1)
    slow = _check_ints("slow_windows", slow_windows, 1)
    _check_costs(fees, init_cash)
    windows, rows = np.unique(np.concatenate((fast, slow)), return_inverse=True)
    smas = _indicator_rows(sma, close, windows)
    fast_rows, slow_rows = rows[: fast.shape[0]], rows[fast.shape[0] :]
    return _ma_crossover_grid(
        close, smas, windows, fast_rows, slow_rows, float(fees), float(init_cash)
    )


def rsi_threshold_sweep(
    close: np.ndarray,
    rsi_periods: np.ndarray,
    lower_thresholds: np.ndarray,
    upper_thresholds: np.ndarray,
    fees: float = 0.001,
    init_cash: float = 10_000.0,
) -> np.ndarray:
    """Total return of an RSI mean-reversion backtest over a (period, lower, upper) grid.

    Enter when the RSI crosses below ``lower`` (``rsi < lower`` after
    ``rsi >= lower``), exit when it crosses above ``upper`` (``rsi > upper``
    after ``rsi <= upper``). The RSI is Wilder's, `kernels.indicators.rsi`
    (``talib.RSI``), computed once per distinct period.

    Parameters
    ----------
    close : numpy.ndarray
        1-D close prices, all finite and > 0.
    rsi_periods : numpy.ndarray
        1-D integer RSI periods, each in [2, 100000].
    lower_thresholds, upper_thresholds : numpy.ndarray
        1-D entry and exit levels, each in [0, 100].
    fees : float, default 0.001
        Proportional fee per fill, in [0, 1).
    init_cash : float, default 10000.0
        Starting cash, finite and > 0.

    Returns
    -------
    numpy.ndarray
        float64 ``[len(rsi_periods), len(lower_thresholds), len(upper_thresholds)]``
        of ``final_value / init_cash - 1``; NaN where ``lower >= upper``.

    Raises
    ------
    ValueError
        If an argument has the wrong shape, dtype or range; the message names it.
    """
    close = _check_close(close, allow_nan=False)
    periods = _check_ints("rsi_periods", rsi_periods, 2)
    lowers = _check_thresholds("lower_thresholds", lower_thresholds)
    uppers = _check_thresholds("upper_thresholds", upper_thresholds)
    _check_costs(fees, init_cash)
    distinct, rows = np.unique(periods, return_inverse=True)
    rsis = _indicator_rows(rsi, close, distinct)
    return _rsi_threshold_grid(close, rsis, rows, lowers, uppers, float(fees), float(init_cash))
