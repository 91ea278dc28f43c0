"""Compiled kernels: Numba ``@njit(cache=True)`` functions over numpy arrays and scalars.

Import only numpy, numba and math; know nothing of events, orders or I/O, so a
quant can use every kernel on plain arrays. Each module's docstring states its
dtype, NaN policy, warm-up and oracle.

Modules
-------
``kernels.indicators``
    TA-Lib-compatible indicators (``sma``, ``ema``, ``rsi``, ``macd``,
    ``bbands``, ``atr``, ``natr``, ``adx``, ``stoch``, ``willr``, ``obv``,
    ``stddev``, ``cci``, ``mfi``, ``vwap``, ``log_returns``,
    ``rolling_volatility``, ``zscore``), each in batch and streaming form, and
    the one-call per-tick ``indicator_set_update``. Re-exported here.
``kernels.risk``
    VaR/CVaR (historical, parametric, Monte Carlo, rolling and streaming),
    drawdown, Sharpe, Sortino, Calmar, beta. Re-exported here.
``kernels.scenarios``
    Multi-asset Monte Carlo scenarios (Cholesky) and incremental VaR over a
    cached scenario set, for the pre-trade check.
``kernels.montecarlo``
    Take-profit before stop-loss probabilities and exit times from GBM paths.
``kernels.backtest``
    Vectorized signal backtests and parallel parameter sweeps (vectorbt's
    ``from_signals`` semantics).
``kernels.book``, ``kernels.parse``, ``kernels.pretrade``, ``kernels.codes``, ``kernels.dtypes``
    The engine's hot path: L2 book over integer ticks, exchange level parsing,
    pre-trade checks with reason codes, record dtypes.
"""

from kernels import indicators, risk
from kernels.indicators import *  # noqa: F403 - the public indicator set, see indicators.__all__
from kernels.risk import *  # noqa: F403 - the public risk set, see risk.__all__

__all__ = [*indicators.__all__, *risk.__all__]
