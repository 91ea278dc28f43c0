"""Engine configuration: one TOML file plus ``ATS_*`` environment overrides.

Every component has a frozen config Struct whose docstring lists each key and
its default; the TOML file maps onto these Structs section by section, and
every key is optional.  :func:`load_config` merges, in increasing order of
precedence, the built-in defaults, the TOML file and the environment.

Environment overrides are named ``ATS_`` followed by the TOML path in upper
case, with sections joined by ``__``::

    ATS_RISK__MAX_LEVERAGE=5
    ATS_VENUES__BINANCE__WS_URL=ws://127.0.0.1:9000
    ATS_ENGINE__SYMBOLS=BTC/USDT,ETH/USDT      # or '["BTC/USDT", "ETH/USDT"]'

An ``ATS_`` variable that maps onto no key is an error, except the names in
:data:`NON_CONFIG_ENV_VARS` and secret-looking names (see
:data:`SECRET_ENV_SUFFIXES`).  Secrets (``BINANCE_API_KEY``, ...) are read
from the environment by the adapters that need them and are never part of
:class:`Config`, so printing :meth:`Config.to_dict` is always safe.

Every problem raises :class:`ConfigError` with a one-line message naming the
dotted key, the offending value, the bound and where the value came from::

    risk.max_leverage must be > 0, was -1 (from ATS_RISK__MAX_LEVERAGE)
    unknown config key 'risk.max_levrage' in ats.toml (did you mean 'risk.max_leverage'?)
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = [
    "CONFIG_PATH_ENV_VAR",
    "ENV_PREFIX",
    "IB_CONTRACT_KINDS",
    "IB_MARKET_DATA_TYPES",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "MODES",
    "NON_CONFIG_ENV_VARS",
    "SECRET_ENV_SUFFIXES",
    "STORE_RESTORE_POLICIES",
    "UNKNOWN_ORDER_POLICIES",
    "VENUE_DATA_FORMATS",
    "Config",
    "ConfigError",
    "DataConfig",
    "EngineConfig",
    "IbContractVenueConfig",
    "IbVenueConfig",
    "LoggingConfig",
    "MarketDataConfig",
    "PaperConfig",
    "ReconcileConfig",
    "RiskConfig",
    "StoreConfig",
    "StrategyConfig",
    "VenueConfig",
    "VenuesConfig",
    "load_config",
]

#: Prefix of every environment override.
ENV_PREFIX = "ATS_"
#: Environment variable holding the path of the config file the CLI loads by default.
CONFIG_PATH_ENV_VAR = "ATS_CONFIG"
#: ``ATS_`` variables that are not config overrides and are therefore not rejected.
NON_CONFIG_ENV_VARS: frozenset[str] = frozenset(
    {CONFIG_PATH_ENV_VAR, "ATS_HYPOTHESIS_PROFILE", "ATS_TEST_CRASH_AT_FRAME", "ATS_PIDFILE"}
)
#: Name endings of environment variables that hold secrets.  Such variables are
#: never config overrides (even with the ``ATS_`` prefix) and their values are
#: redacted from logs (see ``engine.log``).
SECRET_ENV_SUFFIXES: tuple[str, ...] = (
    "_API_KEY",
    "_SECRET_KEY",
    "_SECRET",
    "_PASSWORD",
    "_TOKEN",
    "_PASSPHRASE",
    # account ids (IB_ACCOUNT): not a credential, but they identify a person's account
    "_ACCOUNT",
)
#: Allowed values of ``engine.mode``.
MODES: tuple[str, ...] = ("backtest", "paper", "live")
#: Allowed values of ``logging.level``.
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: Allowed values of ``logging.format``.
LOG_FORMATS: tuple[str, ...] = ("auto", "text", "json")
#: Recorded-data formats ``data.venue`` may name.
VENUE_DATA_FORMATS: tuple[str, ...] = ("binance-spot",)
#: Allowed values of ``reconcile.unknown_orders``.
UNKNOWN_ORDER_POLICIES: tuple[str, ...] = ("adopt", "cancel")
#: ``reqMarketDataType`` values of ``venues.ib.market_data_type``: live, frozen, delayed,
#: delayed frozen.
IB_MARKET_DATA_TYPES: tuple[int, ...] = (1, 2, 3, 4)
#: Allowed values of ``venues.ib.contracts.<symbol>.kind`` ("" infers it from the symbol).
IB_CONTRACT_KINDS: tuple[str, ...] = ("", "stock", "future", "forex", "commodity")

_STRUCT_OPTIONS: dict[str, Any] = {"frozen": True, "forbid_unknown_fields": True, "kw_only": True}


class ConfigError(ValueError):
    """A configuration problem, described in one line.

    Parameters
    ----------
    message
        The one-line description: key, offending value, bound and source.
    key
        The dotted TOML path of the offending key, when there is one.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class _InvalidFieldError(ConfigError):
    """Raised by ``__post_init__``; the loader re-renders it with the real path and source."""

    def __init__(
        self,
        section: str,
        field: str,
        requirement: str,
        value: object,
        related: tuple[str, ...] = (),
    ) -> None:
        self.field = field
        self.requirement = requirement
        self.value = value
        self.related = related
        super().__init__(self.render(section), key=f"{section}.{field}")

    def render(self, section: str, source: str = "") -> str:
        requirement = self.requirement.replace("{section}", section)
        suffix = f" (from {source})" if source else ""
        return f"{section}.{self.field} {requirement}, was {_show(self.value)}{suffix}"


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _require(
    ok: bool,
    section: str,
    field: str,
    requirement: str,
    value: object,
    related: tuple[str, ...] = (),
) -> None:
    if not ok:
        raise _InvalidFieldError(section, field, requirement, value, related)


def _number(
    section: str,
    field: str,
    value: float,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    allow_inf: bool = False,
) -> None:
    """Check a finite number (or +inf, "no limit", when allowed) against bounds."""
    if isinstance(value, int):
        _require(-(2**63) <= value < 2**63, section, field, "must fit in 64 bits", value)
    elif not (allow_inf and value == math.inf):
        _require(math.isfinite(value), section, field, "must be a finite number", value)
    parts = []
    ok = True
    if gt is not None:
        parts.append(f"> {_show(gt)}")
        ok = ok and value > gt
    if ge is not None:
        parts.append(f">= {_show(ge)}")
        ok = ok and value >= ge
    if lt is not None:
        parts.append(f"< {_show(lt)}")
        ok = ok and value < lt
    if le is not None:
        parts.append(f"<= {_show(le)}")
        ok = ok and value <= le
    _require(ok, section, field, "must be " + " and ".join(parts), value)


def _one_of(section: str, field: str, value: str, allowed: tuple[str, ...]) -> None:
    _require(value in allowed, section, field, "must be one of " + ", ".join(allowed), value)


class EngineConfig(msgspec.Struct, **_STRUCT_OPTIONS):
    """``[engine]``: what to run and with how much.

    Keys
    ----
    mode : str, default ``"backtest"``
        One of ``backtest`` (recorded data, simulated venue and clock),
        ``paper`` (live or replayed data, simulated venue, wall clock) or
        ``live`` (real venue).
    initial_cash : float, default ``100_000.0``
        Starting cash in ``quote_currency`` for backtest and paper; > 0.
    quote_currency : str, default ``"USDT"``
        Currency the portfolio is valued in.
    symbols : tuple[str, ...], default ``("BTC/USDT",)``
        ccxt unified symbols to trade (``BTC/USDT`` spot, ``BTC/USDT:USDT``
        linear perpetual); non-empty, no duplicates.
    event_history : int, default ``1000``
        Events the bus keeps per event type for ``get_event_history``; >= 0.
    """

    mode: str = "backtest"
    initial_cash: float = 100_000.0
    quote_currency: str = "USDT"
    symbols: tuple[str, ...] = ("BTC/USDT",)
    event_history: int = 1000

    def __post_init__(self) -> None:
        s = "engine"
        _one_of(s, "mode", self.mode, MODES)
        _number(s, "initial_cash", self.initial_cash, gt=0)
        _require(bool(self.quote_currency.strip()), s, "quote_currency", "must not be empty", "")
        _require(len(self.symbols) > 0, s, "symbols", "must name at least one symbol", ())
        seen: set[str] = set()
        for symbol in self.symbols:
            base, slash, quote = symbol.partition("/")
            well_formed = bool(slash and base and quote) and not any(c.isspace() for c in symbol)
            _require(
                well_formed,
                s,
                "symbols",
                "must hold ccxt unified symbols like 'BTC/USDT'",
                symbol,
            )
            _require(symbol not in seen, s, "symbols", "must not repeat a symbol", symbol)
            seen.add(symbol)
        _number(s, "event_history", self.event_history, ge=0)


class DataConfig(msgspec.Struct, **_STRUCT_OPTIONS):
    """``[data]``: recorded market data for backtests and replays.

    Keys
    ----
    path : str, default ``"data/binance_spot/btcusdt_20240808.gz"``
        File of recorded venue messages, relative to the working directory.
    venue : str, default ``"binance-spot"``
        Wire format of the recording; only ``binance-spot`` is known.
    """

    path: str = "data/binance_spot/btcusdt_20240808.gz"
    venue: str = "binance-spot"

    def __post_init__(self) -> None:
        _one_of("data", "venue", self.venue, VENUE_DATA_FORMATS)


class MarketDataConfig(msgspec.Struct, **_STRUCT_OPTIONS):
    """``[market_data]``: preallocated market-data buffers.

    Keys
    ----
    book_capacity : int, default ``8192``
        Price levels per side of each L2 book; > 0.
    trade_ring_capacity : int, default ``65536``
        Trades kept per symbol in the trade ring buffer; > 0.
    """

    book_capacity: int = 8192
    trade_ring_capacity: int = 65536

    def __post_init__(self) -> None:
        _number("market_data", "book_capacity", self.book_capacity, gt=0)
        _number("market_data", "trade_ring_capacity", self.trade_ring_capacity, gt=0)


class StrategyConfig(msgspec.Struct, **_STRUCT_OPTIONS):
    """``[strategy]``: the strategy and its parameters.

    Keys
    ----
    name : str, default ``"ema_momentum"``
        Registered name of the strategy to run.
    fast_period : int, default ``12``
        Fast EMA period; >= 1.
    slow_period : int, default ``26``
        Slow EMA period; > ``fast_period``.
    rsi_period : int, default ``14``
        RSI period; >= 1.
    rsi_overbought : float, default ``70.0``
        RSI level above which longs are not opened; <= 100.
    rsi_oversold : float, default ``30.0``
        RSI level below which shorts are not opened; >= 0 and < ``rsi_overbought``.
    cooldown_s : float, default ``5.0``
        Seconds between two signals for one symbol; >= 0.
    position_fraction : float, default ``0.2``
        Fraction of equity a full-confidence signal targets; 0 < x <= 1.
    """

    name: str = "ema_momentum"
    fast_period: int = 12
    slow_period: int = 26
    rsi_period: int = 14
    rsi_overbought: float = 70.0
    rsi_oversold: float = 30.0
    cooldown_s: float = 5.0
    position_fraction: float = 0.2

    def __post_init__(self) -> None:
        s = "strategy"
        _require(bool(self.name.strip()), s, "name", "must not be empty", self.name)
        _number(s, "fast_period", self.fast_period, ge=1)
        _require(
            self.slow_period > self.fast_period,
            s,
            "slow_period",
            f"must be > {{section}}.fast_period ({self.fast_period})",
            self.slow_period,
            related=("fast_period",),
        )
        _number(s, "rsi_period", self.rsi_period, ge=1)
        _number(s, "rsi_overbought", self.rsi_overbought, le=100)
        _number(s, "rsi_oversold", self.rsi_oversold, ge=0)
        _require(
            self.rsi_oversold < self.rsi_overbought,
            s,
            "rsi_oversold",
            f"must be < {{section}}.rsi_overbought ({_show(self.rsi_overbought)})",
            self.rsi_oversold,
            related=("rsi_overbought",),
        )
        _number(s, "cooldown_s", self.cooldown_s, ge=0)
        _number(s, "position_fraction", self.position_fraction, gt=0, le=1)


class RiskConfig(msgspec.Struct, **_STRUCT_OPTIONS):
    """``[risk]``: pre-trade limits; percentages are fractions of equity.

    Keys
    ----
    min_confidence : float, default ``0.55``
        Signals below this confidence are rejected; between 0 and 1.
    max_position_pct : float, default ``0.25``
        Largest single position; > 0.
    max_leverage : float, default ``10.0``
        Gross exposure / equity; > 0.
    price_collar_pct : float, default ``0.05``
        Largest distance of a limit price from the reference price; > 0.
    max_var_pct : float, default ``0.02``
        Largest 95 %, 1-day VaR; > 0.
    max_cvar_pct : float, default ``0.05``
        Largest CVaR (expected shortfall); > 0.
    max_sector_pct : float, default ``0.30``
        Largest exposure to one sector; > 0.
    stop_loss_pct : float, default ``0.02``
        Loss from entry that closes a position; > 0.
    take_profit_pct : float, default ``0.05``
        Gain from entry that closes a position; > 0.
    max_drawdown_pct : float, default ``0.10``
        Drawdown from the equity peak that halts trading (cancel all, admin reset); > 0.
    max_order_quantity : float, default ``inf``
        Largest quantity of one order (``inf``: no limit; lot sizes differ per symbol); > 0.
    max_order_notional : float, default ``inf``
        Largest value of one order in the quote currency (``inf``: no limit); > 0.
    max_orders_per_window : int, default ``100``
        Order-rate throttle: orders accepted per ``order_window_s``; 1 to 1,000,000.
    order_window_s : float, default ``1.0``
        Throttle window in seconds of engine-clock time; > 0.
    """

    min_confidence: float = 0.55
    max_position_pct: float = 0.25
    max_leverage: float = 10.0
    price_collar_pct: float = 0.05
    max_var_pct: float = 0.02
    max_cvar_pct: float = 0.05
    max_sector_pct: float = 0.30
    stop_loss_pct: float = 0.02
    take_profit_pct: float = 0.05
    max_drawdown_pct: float = 0.10
    max_order_quantity: float = math.inf
    max_order_notional: float = math.inf
    max_orders_per_window: int = 100
    order_window_s: float = 1.0

    def __post_init__(self) -> None:
        s = "risk"
        _number(s, "max_order_quantity", self.max_order_quantity, gt=0, allow_inf=True)
        _number(s, "max_order_notional", self.max_order_notional, gt=0, allow_inf=True)
        _number(s, "max_orders_per_window", self.max_orders_per_window, ge=1, le=1_000_000)
        _number(s, "order_window_s", self.order_window_s, gt=0)
        _number(s, "min_confidence", self.min_confidence, ge=0, le=1)
        for field in (
            "max_position_pct",
            "max_leverage",
            "price_collar_pct",
            "max_var_pct",
            "max_cvar_pct",
            "max_sector_pct",
            "stop_loss_pct",
            "take_profit_pct",
            "max_drawdown_pct",
        ):
            _number(s, field, getattr(self, field), gt=0)


class PaperConfig(msgspec.Struct, **_STRUCT_OPTIONS):
    """``[paper]``: the simulated venue used by backtest and paper modes.

    Keys
    ----
    maker_fee : float, default ``0.001``
        Fee on passive fills as a fraction of notional; negative is a rebate;
        > -0.01 and < 0.1.
    taker_fee : float, default ``0.001``
        Fee on aggressive fills, same units and bounds as ``maker_fee``.
    latency_us : int, default ``1000``
        Order entry latency in microseconds; >= 0.
    seed : int, default ``0``
        Seed of the venue's random generator; >= 0.
    account_file : str, default ``"var/paper_account.json"``
        Where the operator commands (``ats order``, ``ats balance`` with
        ``--venue paper``) keep the simulated account between runs: balances,
        open and closed orders and fills, relative to the working directory.
        Empty keeps the account in memory for one command only.
    """

    maker_fee: float = 0.001
    taker_fee: float = 0.001
    latency_us: int = 1000
    seed: int = 0
    account_file: str = "var/paper_account.json"

    def __post_init__(self) -> None:
        s = "paper"
        _number(s, "maker_fee", self.maker_fee, gt=-0.01, lt=0.1)
        _number(s, "taker_fee", self.taker_fee, gt=-0.01, lt=0.1)
        _number(s, "latency_us", self.latency_us, ge=0)
        _number(s, "seed", self.seed, ge=0)


class LoggingConfig(msgspec.Struct, **_STRUCT_OPTIONS):
    """``[logging]``: see ``engine.log.configure_logging``.

    Keys
    ----
    level : str, default ``"INFO"``
        DEBUG, INFO, WARNING, ERROR or CRITICAL; any case, stored upper-case.
    format : str, default ``"auto"``
        Terminal format: ``text``, ``json``, or ``auto`` (text on a terminal,
        JSON otherwise); any case, stored lower-case.
    file : str, default ``""``
        Path of a JSON-lines log file; empty means no file.
    """

    level: str = "INFO"
    format: str = "auto"
    file: str = ""

    def __post_init__(self) -> None:
        _one_of("logging", "level", self.level.upper(), LOG_LEVELS)
        _one_of("logging", "format", self.format.lower(), LOG_FORMATS)
        msgspec.structs.force_setattr(self, "level", self.level.upper())
        msgspec.structs.force_setattr(self, "format", self.format.lower())


class ReconcileConfig(msgspec.Struct, **_STRUCT_OPTIONS):
    """``[reconcile]``: how the engine squares its orders with a venue (``engine.reconcile``).

    Reconciliation runs on start and after every reconnect of a live venue.

    Keys
    ----
    unknown_orders : str, default ``"adopt"``
        What to do with an open order the venue has and the engine does not
        know (placed by an earlier run, or by hand): ``adopt`` tracks it as an
        engine order (its fills are booked, its later reports apply), ``cancel``
        books what it filled and cancels the rest at the venue.
    fill_lookback_s : float, default ``86400.0``
        How far back the first reconciliation asks the venue for fills
        (later runs ask from the previous run on); > 0. Fills older than that
        are inferred from the orders' cumulative filled quantities.
    """

    unknown_orders: str = "adopt"
    fill_lookback_s: float = 86_400.0

    def __post_init__(self) -> None:
        _one_of("reconcile", "unknown_orders", self.unknown_orders, UNKNOWN_ORDER_POLICIES)
        _number("reconcile", "fill_lookback_s", self.fill_lookback_s, gt=0)


STORE_RESTORE_POLICIES = ("auto", "always", "never")


class StoreConfig(msgspec.Struct, **_STRUCT_OPTIONS):
    """``[store]``: where the engine keeps its records (``engine.store``).

    Keys
    ----
    db : str, default ``"data/ats.duckdb"``
        A DuckDB file (relative to the working directory), or a
        ``postgresql://user@host:port/db`` URL: the durable records (orders,
        trades, positions, signals, snapshots, state) then go to PostgreSQL and
        ticks and bars stay in ``ticks_db``. Every ``ats`` command's ``--db``
        overrides it. Empty records nothing.
    ticks_db : str, default ``"data/ats.duckdb"``
        The DuckDB file for ``price_ticks`` and ``prices`` when ``db`` is
        PostgreSQL.
    engine_id : str, default ``""``
        Names this engine's rows (several engines can share one PostgreSQL
        database); empty means the trading mode (``backtest``, ``paper``,
        ``live``).
    record_ticks : bool, default ``true``
        Write every trade received to ``price_ticks``.
    flush_rows : int, default ``65536``
        The writer flushes ticks once this many are pending; >= 1.
    flush_interval_s : float, default ``0.5``
        ... or once the oldest pending tick is this old; > 0. A crash loses at
        most the ticks of one flush (see ``engine.store.writer``).
    snapshot_interval_s : float, default ``60.0``
        How often a portfolio snapshot is written while running; > 0.
    restore : str, default ``"auto"``
        Restore positions, open orders, trading state and strategy state from
        the store on start: ``auto`` in paper and live mode (a backtest starts
        flat), ``always``, or ``never``.
    """

    db: str = "data/ats.duckdb"
    ticks_db: str = "data/ats.duckdb"
    engine_id: str = ""
    record_ticks: bool = True
    flush_rows: int = 65_536
    flush_interval_s: float = 0.5
    snapshot_interval_s: float = 60.0
    restore: str = "auto"

    def __post_init__(self) -> None:
        s = "store"
        _number(s, "flush_rows", self.flush_rows, ge=1)
        _number(s, "flush_interval_s", self.flush_interval_s, gt=0)
        _number(s, "snapshot_interval_s", self.snapshot_interval_s, gt=0)
        _one_of(s, "restore", self.restore, STORE_RESTORE_POLICIES)


_EXPIRY = re.compile(r"^\d{6}(\d{2})?$")


class IbContractVenueConfig(msgspec.Struct, **_STRUCT_OPTIONS):
    """``[venues.ib.contracts."<symbol>"]``: one instrument traded at Interactive Brokers.

    The first six keys are what the instrument alone cannot say about its IB
    contract (see ``adapters.ib.contracts.build_contract``: a future needs
    ``exchange`` and an expiry); the last four describe the instrument itself
    for the composition root, which builds the engine's instruments of venue
    ``ib`` from these entries (IB's own ``minTick`` and ``sizeIncrement`` still
    round every order at the edge). Every key is optional.

    Keys
    ----
    exchange : str, default ``""``
        Destination exchange; empty means ``SMART`` for stocks and commodities
        and ``IDEALPRO`` for forex. Futures must name theirs (``CME``, ``EUREX``...).
    primary_exchange : str, default ``""``
        A stock's listing exchange (``NASDAQ``, ``NYSE``...).
    last_trade_date_or_contract_month : str, default ``""``
        A future's ``YYYYMM`` or ``YYYYMMDD``; empty takes it from a ``-YYMMDD``
        suffix of the unified symbol.
    local_symbol : str, default ``""``
        The exchange's own name of the contract (``ESZ4``).
    trading_class : str, default ``""``
        IB trading class (``ES``, ``FGBL``...).
    con_id : int, default ``0``
        IB contract id; when set it identifies the contract by itself; >= 0.
    kind : str, default ``""``
        ``stock``, ``future``, ``forex`` or ``commodity``; empty infers it from
        the symbol: a ``-YYMMDD`` suffix is a future, two currency codes
        (``EUR/USD``) forex, ``XAU``/``XAG``/``XPT``/``XPD`` a spot metal, anything
        else a stock.
    tick_size : float, default ``0.01``
        Price increment of the instrument; > 0.
    lot_size : float, default ``1.0``
        Quantity increment; > 0.
    multiplier : float, default ``1.0``
        Contract multiplier (a future's point value, 50 for ES); > 0.
    """

    exchange: str = ""
    primary_exchange: str = ""
    last_trade_date_or_contract_month: str = ""
    local_symbol: str = ""
    trading_class: str = ""
    con_id: int = 0
    kind: str = ""
    tick_size: float = 0.01
    lot_size: float = 1.0
    multiplier: float = 1.0

    def __post_init__(self) -> None:
        s = "contract"
        expiry = self.last_trade_date_or_contract_month
        _require(
            not expiry or _EXPIRY.match(expiry) is not None,
            s,
            "last_trade_date_or_contract_month",
            "must be YYYYMM or YYYYMMDD",
            expiry,
        )
        _number(s, "con_id", self.con_id, ge=0)
        _one_of(s, "kind", self.kind, IB_CONTRACT_KINDS)
        for field in ("tick_size", "lot_size", "multiplier"):
            _number(s, field, getattr(self, field), gt=0)


class IbVenueConfig(msgspec.Struct, **_STRUCT_OPTIONS):
    """``[venues.ib]``: where TWS / IB Gateway listens and how the IB adapter behaves.

    The same keys as ``adapters.ib.IbConfig`` (whose ``load_ib_config`` reads
    the same table); the account id is not here: it comes from the
    ``IB_ACCOUNT`` environment variable only, and is redacted from logs.

    Keys
    ----
    venue : str, default ``"ib"``
        The ``Instrument.venue`` of the instruments this connection trades.
    host : str, default ``"127.0.0.1"``
        Host of TWS or IB Gateway.
    port : int, default ``7497``
        API port: TWS 7497 paper / 7496 live, IB Gateway 4002 paper / 4001 live;
        1 to 65535.
    client_id : int, default ``1``
        API client id, unique per connection to the same TWS; 0 to 2**31 - 1.
    connect_timeout_s : float, default ``10.0``
        Time allowed for the API handshake and the initial synchronisation; > 0.
    request_timeout_s : float, default ``10.0``
        Time to wait for an acknowledgement, a cancel confirmation or contract
        details before the outcome counts as unknown; > 0.
    read_only : bool, default ``false``
        Connect read-only: placing or cancelling raises.
    market_data_type : int, default ``1``
        ``reqMarketDataType``: 1 live, 2 frozen, 3 delayed, 4 delayed frozen.
    reconnect : bool, default ``true``
        Reconnect by itself after the connection to TWS drops.
    reconnect_base_s, reconnect_cap_s : float, defaults ``1.0``, ``30.0``
        Reconnect backoff (full jitter over ``min(cap, base * 2**attempt)``);
        ``0 <= base <= cap``, cap > 0.
    reconnect_max_attempts : int, default ``0``
        Give up after this many failed reconnects in a row; 0 never gives up.
    outside_rth : bool, default ``false``
        Let stock orders work outside regular trading hours.
    redact_account : bool, default ``true``
        Scrub the account id from ib_insync's own log records too.
    qualify_on_connect : bool, default ``true``
        Fetch contract details of every instrument of ``venue`` on connect.
    contracts : dict[str, IbContractVenueConfig], default ``{}``
        Per unified symbol (``[venues.ib.contracts."AAPL/USD"]``); see
        :class:`IbContractVenueConfig`. Set in the TOML file only (no
        environment override).
    """

    venue: str = "ib"
    host: str = "127.0.0.1"
    port: int = 7497
    client_id: int = 1
    connect_timeout_s: float = 10.0
    request_timeout_s: float = 10.0
    read_only: bool = False
    market_data_type: int = 1
    reconnect: bool = True
    reconnect_base_s: float = 1.0
    reconnect_cap_s: float = 30.0
    reconnect_max_attempts: int = 0
    outside_rth: bool = False
    redact_account: bool = True
    qualify_on_connect: bool = True
    contracts: dict[str, IbContractVenueConfig] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        s = "venue"
        _require(bool(self.venue.strip()), s, "venue", "must not be empty", self.venue)
        _require(bool(self.host.strip()), s, "host", "must not be empty", self.host)
        _number(s, "port", self.port, ge=1, le=65535)
        _number(s, "client_id", self.client_id, ge=0, le=2**31 - 1)
        _number(s, "connect_timeout_s", self.connect_timeout_s, gt=0)
        _number(s, "request_timeout_s", self.request_timeout_s, gt=0)
        _number(s, "reconnect_cap_s", self.reconnect_cap_s, gt=0)
        _number(s, "reconnect_base_s", self.reconnect_base_s, ge=0)
        _require(
            self.reconnect_base_s <= self.reconnect_cap_s,
            s,
            "reconnect_base_s",
            f"must be <= {{section}}.reconnect_cap_s ({_show(self.reconnect_cap_s)})",
            self.reconnect_base_s,
            related=("reconnect_cap_s",),
        )
        _number(s, "reconnect_max_attempts", self.reconnect_max_attempts, ge=0)
        _require(
            self.market_data_type in IB_MARKET_DATA_TYPES,
            s,
            "market_data_type",
            "must be 1, 2, 3 or 4",
            self.market_data_type,
        )


_BINANCE_REST_URL = "https://api.binance.com"
_BINANCE_WS_URL = "wss://stream.binance.com:9443"


class VenueConfig(msgspec.Struct, **_STRUCT_OPTIONS):
    """``[venues.<venue>]``: base URLs of one venue, overridable for the local emulator.

    Keys
    ----
    rest_url : str
        REST base URL (``http://`` or ``https://``).
    ws_url : str
        WebSocket base URL (``ws://`` or ``wss://``).

    The class defaults are Binance spot's; :class:`VenuesConfig` gives every
    venue its own defaults, and :func:`load_config` fills the keys a partial
    ``[venues.<venue>]`` table leaves out from that venue's defaults.
    """

    rest_url: str = _BINANCE_REST_URL
    ws_url: str = _BINANCE_WS_URL

    def __post_init__(self) -> None:
        s = "venue"
        _require(
            self.rest_url.startswith(("http://", "https://")),
            s,
            "rest_url",
            "must start with http:// or https://",
            self.rest_url,
        )
        _require(
            self.ws_url.startswith(("ws://", "wss://")),
            s,
            "ws_url",
            "must start with ws:// or wss://",
            self.ws_url,
        )


def _binance_spot() -> VenueConfig:
    return VenueConfig(rest_url=_BINANCE_REST_URL, ws_url=_BINANCE_WS_URL)


def _binance_usdm() -> VenueConfig:
    return VenueConfig(rest_url="https://fapi.binance.com", ws_url="wss://fstream.binance.com")


def _binance_coinm() -> VenueConfig:
    return VenueConfig(rest_url="https://dapi.binance.com", ws_url="wss://dstream.binance.com")


def _bybit() -> VenueConfig:
    return VenueConfig(rest_url="https://api.bybit.com", ws_url="wss://stream.bybit.com")


class VenuesConfig(msgspec.Struct, **_STRUCT_OPTIONS):
    """``[venues]``: per-venue base URLs.

    Keys
    ----
    binance : VenueConfig
        Spot; defaults ``https://api.binance.com`` and
        ``wss://stream.binance.com:9443``.
    binance_usdm : VenueConfig
        USD-M futures; defaults ``https://fapi.binance.com`` and
        ``wss://fstream.binance.com``.
    binance_coinm : VenueConfig
        COIN-M futures; defaults ``https://dapi.binance.com`` and
        ``wss://dstream.binance.com``.
    bybit : VenueConfig
        v5; defaults ``https://api.bybit.com`` and ``wss://stream.bybit.com``
        (the adapter appends ``/v5/public/spot`` etc. to ``ws_url``).
    ib : IbVenueConfig
        Interactive Brokers through TWS / IB Gateway; see :class:`IbVenueConfig`.
    """

    binance: VenueConfig = msgspec.field(default_factory=_binance_spot)
    binance_usdm: VenueConfig = msgspec.field(default_factory=_binance_usdm)
    binance_coinm: VenueConfig = msgspec.field(default_factory=_binance_coinm)
    bybit: VenueConfig = msgspec.field(default_factory=_bybit)
    ib: IbVenueConfig = msgspec.field(default_factory=IbVenueConfig)


class Config(msgspec.Struct, **_STRUCT_OPTIONS):
    """The whole configuration: one field per TOML section, each with its defaults.

    See each section's Struct for its keys, and :func:`load_config` to build
    one from a file and the environment.  ``Config()`` is the default config.
    """

    engine: EngineConfig = msgspec.field(default_factory=EngineConfig)
    data: DataConfig = msgspec.field(default_factory=DataConfig)
    market_data: MarketDataConfig = msgspec.field(default_factory=MarketDataConfig)
    strategy: StrategyConfig = msgspec.field(default_factory=StrategyConfig)
    risk: RiskConfig = msgspec.field(default_factory=RiskConfig)
    paper: PaperConfig = msgspec.field(default_factory=PaperConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    venues: VenuesConfig = msgspec.field(default_factory=VenuesConfig)
    reconcile: ReconcileConfig = msgspec.field(default_factory=ReconcileConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)

    def to_dict(self) -> dict[str, Any]:
        """Return the effective configuration as nested dicts of builtins (tuples become lists).

        Config holds no secrets, so the result is safe to print or serve. "No
        limit" values stay ``inf`` (JSON encoders write them as ``null``).

        Examples
        --------
        >>> Config().to_dict()["risk"]["max_leverage"]
        10.0
        """
        result: dict[str, Any] = _lists(msgspec.to_builtins(self))
        return result


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value


# ---------------------------------------------------------------------------
# Loading


def _is_section(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _entry_struct(tp: object) -> type[msgspec.Struct] | None:
    """The Struct of a ``dict[str, Struct]`` field (a table of named tables), else None."""
    if typing.get_origin(tp) is not dict:
        return None
    args = typing.get_args(tp)
    return args[1] if len(args) == 2 and _is_section(args[1]) else None


def _entry_key(prefix: str, name: str) -> str:
    return f'{prefix}"{name}"'


def _field_types(struct: type[msgspec.Struct]) -> dict[str, Any]:
    return {f.name: f.type for f in msgspec.structs.fields(struct)}


def _leaf_types(struct: type[msgspec.Struct] = Config, prefix: str = "") -> dict[str, Any]:
    """Map every dotted leaf key (``risk.max_leverage``) to its Python type."""
    leaves: dict[str, Any] = {}
    for name, tp in _field_types(struct).items():
        if _is_section(tp):
            leaves.update(_leaf_types(tp, f"{prefix}{name}."))
        else:
            leaves[prefix + name] = tp
    return leaves


def _env_name(key: str) -> str:
    return ENV_PREFIX + key.replace(".", "__").upper()


def _suggest(key: str, candidates: list[str], render: Any = repr) -> str:
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.75)
    return f" (did you mean {render(close[0])}?)" if close else ""


def _check_keys(
    table: Mapping[str, Any], struct: type[msgspec.Struct], prefix: str, origin: str
) -> None:
    """Reject keys that name no field, recursively, before msgspec sees the data."""
    types = _field_types(struct)
    for name, value in table.items():
        key = prefix + name
        if name not in types:
            hint = _suggest(key, list(_leaf_types()) + _section_keys())
            raise ConfigError(f"unknown config key {key!r} in {origin}{hint}", key=key)
        tp = types[name]
        if _is_section(tp):
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"{key} must be a table, was {_show(value)} (from {origin})", key=key
                )
            _check_keys(value, tp, key + ".", origin)
            continue
        entry = _entry_struct(tp)
        if entry is None:
            continue
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"{key} must be a table of tables, was {_show(value)} (from {origin})", key=key
            )
        for entry_name, entry_value in value.items():
            entry_key = _entry_key(f"{key}.", str(entry_name))
            if not isinstance(entry_value, Mapping):
                raise ConfigError(
                    f"{entry_key} must be a table, was {_show(entry_value)} (from {origin})",
                    key=entry_key,
                )
            _check_keys(entry_value, entry, entry_key + ".", origin)


def _section_keys(struct: type[msgspec.Struct] = Config, prefix: str = "") -> list[str]:
    keys = []
    for name, tp in _field_types(struct).items():
        if _is_section(tp):
            keys.append(prefix + name)
            keys.extend(_section_keys(tp, f"{prefix}{name}."))
    return keys


def _read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    shown = os.fspath(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {shown} does not exist") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {shown}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {shown} is not valid UTF-8: {e.reason}") from None
    except tomllib.TOMLDecodeError as e:
        # tomllib's message ends with "(at line N, column M)".
        raise ConfigError(f"cannot parse config file {shown}: {e}") from None


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _parse_env_value(key: str, name: str, text: str, tp: Any) -> Any:
    """Turn an environment string into a value of the field's type."""

    def fail(kind: str) -> ConfigError:
        return ConfigError(f"{key} must be {kind}, was {text!r} (from {name})", key=key)

    if tp is str:
        return text
    stripped = text.strip()
    if tp is bool:
        if stripped.lower() in _TRUE:
            return True
        if stripped.lower() in _FALSE:
            return False
        raise fail("a boolean (true/false, 1/0, yes/no)")
    if tp is int:
        try:
            return int(stripped)
        except ValueError:
            raise fail("an integer") from None
    if tp is float:
        try:
            return float(stripped)
        except ValueError:
            raise fail("a number") from None
    # tuple[str, ...]: a JSON array, or comma-separated items.
    if stripped.startswith("["):
        try:
            items = msgspec.json.decode(stripped)
        except msgspec.DecodeError:
            raise fail("a JSON array or comma-separated list") from None
        if not isinstance(items, list):
            raise fail("a JSON array or comma-separated list")
        return items
    return [item.strip() for item in stripped.split(",") if item.strip()]


def _env_overrides(
    env: Mapping[str, str], leaves: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the ``ATS_*`` overrides as a nested table and the variable behind each key."""
    table: dict[str, Any] = {}
    sources: dict[str, str] = {}
    # tables of named tables ([venues.ib.contracts."<symbol>"]) are set in the file only
    tables = {_env_name(key): key for key, tp in leaves.items() if _entry_struct(tp) is not None}
    by_env_name = {_env_name(key): key for key in leaves if _env_name(key) not in tables}
    sections = {_env_name(key): key for key in _section_keys()}
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in NON_CONFIG_ENV_VARS:
            continue
        if name.endswith(SECRET_ENV_SUFFIXES):
            continue
        key = by_env_name.get(name)
        if key is None:
            prefix = next((t for t in tables if name == t or name.startswith(t + "__")), None)
            if prefix is not None:
                raise ConfigError(
                    f"{tables[prefix]} cannot be set from the environment ({name}); "
                    f"set it in the TOML file",
                    key=tables[prefix],
                )
            if name in sections:
                raise ConfigError(
                    f"environment variable {name} names the section {sections[name]!r}, "
                    f"not a key; set {name}__<KEY> instead",
                    key=sections[name],
                )
            path = name[len(ENV_PREFIX) :].lower().replace("__", ".")
            hint = _suggest(name, list(by_env_name), render=str)
            raise ConfigError(
                f"unknown config key {path!r} from environment variable {name}{hint}; "
                f"sections are joined by '__' (ATS_RISK__MAX_LEVERAGE)",
                key=path,
            )
        value = _parse_env_value(key, name, env[name], leaves[key])
        *parents, leaf = key.split(".")
        node = table
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        sources[key] = name
    return table, sources


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in table.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{name}."))
        else:
            flat[prefix + name] = value
    return flat


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> None:
    for name, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(name), dict):
            _merge(base[name], value)
        else:
            base[name] = value


_ERROR_AT = re.compile(r"^(?P<message>.*) - at `\$(?P<path>[^`]*)`$")
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_EXPECTED = re.compile(r"^Expected `(?P<type>[^`]+)`, got `[^`]+`$")
_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "a boolean",
    "array": "a list",
    "object": "a table",
}


def _translate(
    error: msgspec.ValidationError, merged: Mapping[str, Any], sources: Mapping[str, str]
) -> ConfigError:
    """Rewrite a msgspec error (``... - at `$.risk.max_leverage```) as a one-line ConfigError."""
    match = _ERROR_AT.match(str(error))
    message, path = (match["message"], match["path"]) if match else (str(error), "")
    parts = _PATH_PART.findall(path)
    dotted = ".".join(name for name, _ in parts if name)
    cause = error.__cause__
    if isinstance(cause, _InvalidFieldError):
        key = f"{dotted}.{cause.field}"
        origins = [sources.get(k) for k in (key, *(f"{dotted}.{r}" for r in cause.related))]
        source = ", ".join(dict.fromkeys(o for o in origins if o is not None))
        return ConfigError(cause.render(dotted, source), key=key)

    value: Any = merged
    shown_key = ""
    for name, index in parts:
        value = value[name] if name else value[int(index)]
        shown_key += f".{name}" if name else f"[{index}]"
    shown_key = shown_key.lstrip(".")
    source = sources.get(dotted)
    suffix = f" (from {source})" if source is not None else ""
    expected = _EXPECTED.match(message)
    if expected is not None:
        kind = _TYPE_WORDS.get(expected["type"], expected["type"])
        text = f"{shown_key} must be {kind}, was {_show(value)}{suffix}"
    else:
        text = f"{shown_key} is invalid ({message}), was {_show(value)}{suffix}"
    return ConfigError(text, key=dotted or None)


def _convert_entries(
    table: Mapping[str, Any],
    struct: type[msgspec.Struct],
    prefix: str,
    sources: Mapping[str, str],
) -> None:
    """Validate each entry of every table of named tables, naming the entry in errors.

    msgspec reports a bad entry of a ``dict[str, Struct]`` at ``contracts[...]``,
    without its name; converting the entries one by one first gives
    ``venues.ib.contracts."ES/USD:USD-241220".con_id must be >= 0, was -1``.
    """
    for name, tp in _field_types(struct).items():
        value = table.get(name)
        if not isinstance(value, Mapping):
            continue
        if _is_section(tp):
            _convert_entries(value, tp, f"{prefix}{name}.", sources)
            continue
        entry = _entry_struct(tp)
        if entry is None:
            continue
        for entry_name, entry_value in value.items():
            where = _entry_key(f"{prefix}{name}.", str(entry_name))
            try:
                msgspec.convert(entry_value, entry)
            except msgspec.ValidationError as e:
                origin = next(
                    (src for key, src in sources.items() if key.startswith(f"{prefix}{name}.")),
                    None,
                )
                raise _translate_entry(e, where, entry_value, origin) from None


def _translate_entry(
    error: msgspec.ValidationError, where: str, value: Any, origin: str | None
) -> ConfigError:
    suffix = f" (from {origin})" if origin is not None else ""
    cause = error.__cause__
    if isinstance(cause, _InvalidFieldError):
        return ConfigError(cause.render(where, origin or ""), key=f"{where}.{cause.field}")
    match = _ERROR_AT.match(str(error))
    message, path = (match["message"], match["path"]) if match else (str(error), "")
    field = path.lstrip(".")
    key = f"{where}.{field}" if field else where
    expected = _EXPECTED.match(message)
    if expected is not None and isinstance(value, Mapping) and field in value:
        kind = _TYPE_WORDS.get(expected["type"], expected["type"])
        return ConfigError(f"{key} must be {kind}, was {_show(value[field])}{suffix}", key=key)
    return ConfigError(f"{key} is invalid ({message}){suffix}", key=key)


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Build the configuration from defaults, an optional TOML file and the environment.

    Parameters
    ----------
    path
        TOML file to read; ``None`` uses the defaults only (plus ``env``).
        The CLI passes ``os.environ.get(CONFIG_PATH_ENV_VAR)`` or its own flag.
    env
        Environment to read ``ATS_*`` overrides from; defaults to ``os.environ``.

    Returns
    -------
    Config
        The validated, frozen configuration.

    Raises
    ------
    ConfigError
        With a one-line message naming the key, the value, the bound and its
        source, if the file is missing or malformed, a key or ``ATS_*``
        variable is unknown, or a value has the wrong type or is out of range.

    Examples
    --------
    >>> load_config(env={"ATS_RISK__MAX_LEVERAGE": "5"}).risk.max_leverage
    5.0
    """
    if env is None:
        env = os.environ
    leaves = _leaf_types()
    merged: dict[str, Any] = Config().to_dict()
    sources: dict[str, str] = {}
    if path is not None:
        origin = os.fspath(path)
        table = _read_toml(path)
        _check_keys(table, Config, "", origin)
        _merge(merged, table)
        sources.update(dict.fromkeys(_flatten(table), origin))
    overrides, env_sources = _env_overrides(env, leaves)
    _merge(merged, overrides)
    sources.update(env_sources)
    _convert_entries(merged, Config, "", sources)
    try:
        return msgspec.convert(merged, Config)
    except msgspec.ValidationError as e:
        raise _translate(e, merged, sources) from None
