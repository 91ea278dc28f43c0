"""Tests for engine.config: defaults, TOML file, ATS_* overrides and one-line errors."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import (
    Config,
    ConfigError,
    EngineConfig,
    LoggingConfig,
    RiskConfig,
    StrategyConfig,
    VenueConfig,
    load_config,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "ats.example.toml"


def write(tmp_path: Path, text: str, name: str = "ats.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path | None = None, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={} if env is None else env)
    message = str(info.value)
    assert "\n" not in message, message
    return info.value


def leaf_paths(table: dict, prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, value in table.items():
        if isinstance(value, dict):
            paths |= leaf_paths(value, f"{prefix}{name}.")
        else:
            paths.add(prefix + name)
    return paths


# --- defaults, file, environment -------------------------------------------------------


def test_load_config_when_no_file_then_documented_defaults() -> None:
    cfg = load_config(env={})

    assert cfg == Config()
    assert cfg.engine.mode == "backtest"
    assert cfg.engine.initial_cash == 100_000.0
    assert cfg.engine.symbols == ("BTC/USDT",)
    assert cfg.engine.event_history == 1000
    assert cfg.data.venue == "binance-spot"
    assert cfg.market_data.book_capacity == 8192
    assert cfg.market_data.trade_ring_capacity == 65536
    assert (cfg.strategy.fast_period, cfg.strategy.slow_period) == (12, 26)
    assert cfg.strategy.position_fraction == 0.2
    assert cfg.risk.min_confidence == 0.55
    assert cfg.risk.max_var_pct == 0.02
    assert cfg.risk.max_cvar_pct == 0.05
    assert cfg.risk.max_leverage == 10.0
    assert cfg.risk.max_position_pct == 0.25
    assert cfg.risk.max_sector_pct == 0.30
    assert (cfg.risk.stop_loss_pct, cfg.risk.take_profit_pct) == (0.02, 0.05)
    assert (cfg.paper.maker_fee, cfg.paper.taker_fee, cfg.paper.latency_us) == (0.001, 0.001, 1000)
    assert cfg.logging == LoggingConfig(level="INFO", format="auto", file="")


def test_load_config_when_no_file_then_venue_urls_from_design() -> None:
    venues = load_config(env={}).venues

    assert venues.binance == VenueConfig(
        rest_url="https://api.binance.com", ws_url="wss://stream.binance.com:9443"
    )
    assert venues.binance_usdm == VenueConfig(
        rest_url="https://fapi.binance.com", ws_url="wss://fstream.binance.com"
    )
    assert venues.bybit == VenueConfig(
        rest_url="https://api.bybit.com", ws_url="wss://stream.bybit.com"
    )


def test_load_config_when_file_sets_keys_then_they_override_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [engine]
        mode = "paper"
        initial_cash = 5000          # an int is accepted for a float key
        symbols = ["BTC/USDT", "ETH/USDT:USDT"]

        [risk]
        max_leverage = 3.5

        [logging]
        level = "debug"
        format = "JSON"
        """,
    )

    cfg = load_config(path, env={})

    assert cfg.engine.mode == "paper"
    assert cfg.engine.initial_cash == 5000.0
    assert isinstance(cfg.engine.initial_cash, float)
    assert cfg.engine.symbols == ("BTC/USDT", "ETH/USDT:USDT")
    assert cfg.risk.max_leverage == 3.5
    assert cfg.risk.max_position_pct == 0.25  # untouched keys keep their defaults
    assert (cfg.logging.level, cfg.logging.format) == ("DEBUG", "json")


def test_load_config_when_file_sets_one_venue_url_then_other_url_keeps_that_venues_default(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, '[venues.bybit]\nws_url = "ws://127.0.0.1:9000"\n')

    bybit = load_config(path, env={}).venues.bybit

    assert bybit == VenueConfig(rest_url="https://api.bybit.com", ws_url="ws://127.0.0.1:9000")


def test_load_config_when_env_and_file_set_key_then_env_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "[risk]\nmax_leverage = 3.0\nstop_loss_pct = 0.01\n")
    env = {
        "ATS_RISK__MAX_LEVERAGE": "5",
        "ATS_VENUES__BINANCE__WS_URL": "ws://127.0.0.1:9000",
        "ATS_PAPER__LATENCY_US": "250",
        "ATS_ENGINE__MODE": "live",
    }

    cfg = load_config(path, env=env)

    assert cfg.risk.max_leverage == 5.0
    assert cfg.risk.stop_loss_pct == 0.01
    assert cfg.venues.binance.ws_url == "ws://127.0.0.1:9000"
    assert cfg.venues.binance.rest_url == "https://api.binance.com"
    assert cfg.paper.latency_us == 250
    assert cfg.engine.mode == "live"


def test_load_config_when_env_is_none_then_reads_os_environ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ATS_STRATEGY__COOLDOWN_S", "0")

    assert load_config().strategy.cooldown_s == 0.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BTC/USDT,ETH/USDT", ("BTC/USDT", "ETH/USDT")),
        (" BTC/USDT , ETH/USDT ,", ("BTC/USDT", "ETH/USDT")),
        ("SOL/USDT:USDT", ("SOL/USDT:USDT",)),
        ('["BTC/USDT", "ETH/BTC"]', ("BTC/USDT", "ETH/BTC")),
    ],
)
def test_load_config_when_env_sets_tuple_then_comma_list_or_json_array_parsed(
    text: str, expected: tuple[str, ...]
) -> None:
    assert load_config(env={"ATS_ENGINE__SYMBOLS": text}).engine.symbols == expected


def test_load_config_when_non_config_ats_vars_and_secrets_in_env_then_ignored() -> None:
    env = {
        "ATS_CONFIG": "somewhere/ats.toml",
        "ATS_HYPOTHESIS_PROFILE": "ci",
        "ATS_ADMIN_API_KEY": "not-a-config-key",
        "BINANCE_API_KEY": "k" * 16,
        "PATH": "/usr/bin",
    }

    assert load_config(env=env) == Config()


@given(st.floats(min_value=1e-9, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_load_config_when_env_sets_float_then_value_round_trips(value: float) -> None:
    cfg = load_config(env={"ATS_RISK__MAX_LEVERAGE": repr(value)})

    assert cfg.risk.max_leverage == value


# --- the example file --------------------------------------------------------------------

_COMMENTED_KEY = re.compile(r"^# ([a-z_]+ = .+)$")


def test_example_config_when_loaded_as_is_then_defaults() -> None:
    assert load_config(EXAMPLE, env={}) == Config()


def test_example_config_when_every_key_uncommented_then_lists_every_key_with_its_default(
    tmp_path: Path,
) -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    uncommented = "\n".join(
        m[1] if (m := _COMMENTED_KEY.match(line)) is not None else line for line in lines
    )
    path = write(tmp_path, uncommented)

    assert leaf_paths(tomllib.loads(uncommented)) == leaf_paths(Config().to_dict())
    assert load_config(path, env={}) == Config()


# --- errors: one line naming key, value and source -------------------------------------


def test_load_config_when_unknown_top_level_key_then_error_names_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[riskk]\nmax_leverage = 2\n")

    error = error_of(path)

    assert "unknown config key 'riskk'" in str(error)
    assert str(path) in str(error)
    assert "did you mean 'risk'" in str(error)


def test_load_config_when_unknown_nested_key_then_error_names_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[risk]\nmax_levrage = 2\n")

    error = error_of(path)

    assert str(error) == (
        f"unknown config key 'risk.max_levrage' in {path} (did you mean 'risk.max_leverage'?)"
    )
    assert error.key == "risk.max_levrage"


def test_load_config_when_unknown_venue_key_then_error_names_full_path(tmp_path: Path) -> None:
    path = write(tmp_path, '[venues.bybit]\nwebsocket = "ws://x"\n')

    assert "unknown config key 'venues.bybit.websocket'" in str(error_of(path))


def test_load_config_when_section_is_not_a_table_then_error_names_section(tmp_path: Path) -> None:
    path = write(tmp_path, "risk = 5\n")

    assert str(error_of(path)) == f"risk must be a table, was 5 (from {path})"


def test_load_config_when_wrong_type_in_file_then_error_names_key_value_and_file(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, '[risk]\nmax_leverage = "abc"\n')

    error = error_of(path)

    assert str(error) == f"risk.max_leverage must be a number, was 'abc' (from {path})"
    assert error.key == "risk.max_leverage"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[paper]\nseed = 1.5\n", "paper.seed must be an integer, was 1.5"),
        ("[paper]\nseed = true\n", "paper.seed must be an integer, was true"),
        ('[engine]\nsymbols = "BTC/USDT"\n', "engine.symbols must be a list, was 'BTC/USDT'"),
        ('[engine]\nsymbols = ["BTC/USDT", 7]\n', "engine.symbols[1] must be a string, was 7"),
        ("[logging]\nlevel = 10\n", "logging.level must be a string, was 10"),
    ],
)
def test_load_config_when_value_has_wrong_type_then_error_names_key_and_value(
    tmp_path: Path, toml: str, expected: str
) -> None:
    path = write(tmp_path, toml)

    assert str(error_of(path)) == f"{expected} (from {path})"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"ATS_RISK__MAX_LEVERAGE": "-1"}, "risk.max_leverage must be > 0, was -1"),
        ({"ATS_RISK__MIN_CONFIDENCE": "1.5"}, "risk.min_confidence must be >= 0 and <= 1, was 1.5"),
        ({"ATS_RISK__PRICE_COLLAR_PCT": "0"}, "risk.price_collar_pct must be > 0, was 0"),
        ({"ATS_RISK__MAX_LEVERAGE": "nan"}, "risk.max_leverage must be a finite number, was nan"),
        ({"ATS_ENGINE__INITIAL_CASH": "0"}, "engine.initial_cash must be > 0, was 0"),
        ({"ATS_ENGINE__EVENT_HISTORY": "-1"}, "engine.event_history must be >= 0, was -1"),
        ({"ATS_MARKET_DATA__BOOK_CAPACITY": "0"}, "market_data.book_capacity must be > 0, was 0"),
        (
            {"ATS_STRATEGY__POSITION_FRACTION": "1.5"},
            "strategy.position_fraction must be > 0 and <= 1, was 1.5",
        ),
        ({"ATS_STRATEGY__COOLDOWN_S": "-0.5"}, "strategy.cooldown_s must be >= 0, was -0.5"),
        ({"ATS_PAPER__MAKER_FEE": "-0.02"}, "paper.maker_fee must be > -0.01 and < 0.1, was -0.02"),
        ({"ATS_PAPER__TAKER_FEE": "0.1"}, "paper.taker_fee must be > -0.01 and < 0.1, was 0.1"),
        ({"ATS_PAPER__LATENCY_US": "-5"}, "paper.latency_us must be >= 0, was -5"),
        (
            {"ATS_ENGINE__SYMBOLS": "BTCUSDT"},
            "engine.symbols must hold ccxt unified symbols like 'BTC/USDT', was 'BTCUSDT'",
        ),
        ({"ATS_ENGINE__SYMBOLS": ""}, "engine.symbols must name at least one symbol, was ()"),
        (
            {"ATS_VENUES__BYBIT__WS_URL": "https://stream.bybit.com"},
            "venues.bybit.ws_url must start with ws:// or wss://, was 'https://stream.bybit.com'",
        ),
        (
            {"ATS_DATA__VENUE": "kraken"},
            "data.venue must be one of binance-spot, was 'kraken'",
        ),
    ],
)
def test_load_config_when_value_out_of_range_then_error_names_key_value_bound_and_var(
    env: dict[str, str], expected: str
) -> None:
    (name,) = env

    assert str(error_of(env=env)) == f"{expected} (from {name})"


def test_load_config_when_bad_enum_in_file_then_error_lists_allowed_values(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, '[engine]\nmode = "fast"\n')

    error = error_of(path)

    assert (
        str(error) == f"engine.mode must be one of backtest, paper, live, was 'fast' (from {path})"
    )
    assert error.key == "engine.mode"


def test_load_config_when_bad_log_level_then_error_lists_levels() -> None:
    error = error_of(env={"ATS_LOGGING__LEVEL": "verbose"})

    assert str(error).startswith("logging.level must be one of DEBUG, INFO, WARNING")
    assert "'VERBOSE'" in str(error)


def test_load_config_when_slow_period_not_above_fast_period_then_error_names_both(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "[strategy]\nfast_period = 20\nslow_period = 20\n")

    assert str(error_of(path)) == (
        f"strategy.slow_period must be > strategy.fast_period (20), was 20 (from {path})"
    )


def test_load_config_when_env_fast_period_above_default_slow_then_error_names_env_var() -> None:
    error = error_of(env={"ATS_STRATEGY__FAST_PERIOD": "30"})

    assert str(error) == (
        "strategy.slow_period must be > strategy.fast_period (30), was 26 "
        "(from ATS_STRATEGY__FAST_PERIOD)"
    )


def test_load_config_when_rsi_levels_inverted_then_error() -> None:
    env = {"ATS_STRATEGY__RSI_OVERSOLD": "80"}

    assert "strategy.rsi_oversold must be < strategy.rsi_overbought (70), was 80" in str(
        error_of(env=env)
    )


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("ATS_RISK__MAX_LEVRAGE", "unknown config key 'risk.max_levrage'"),
        ("ATS_RISK_MAX_LEVERAGE", "did you mean ATS_RISK__MAX_LEVERAGE?"),
        ("ATS_NOPE", "unknown config key 'nope'"),
        ("ATS_RISK", "names the section 'risk'"),
    ],
)
def test_load_config_when_env_var_maps_to_no_key_then_error_names_variable(
    name: str, fragment: str
) -> None:
    error = error_of(env={name: "1"})

    assert name in str(error)
    assert fragment in str(error)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"ATS_RISK__MAX_LEVERAGE": "abc"},
            "risk.max_leverage must be a number, was 'abc' (from ATS_RISK__MAX_LEVERAGE)",
        ),
        (
            {"ATS_PAPER__SEED": "1.5"},
            "paper.seed must be an integer, was '1.5' (from ATS_PAPER__SEED)",
        ),
        (
            {"ATS_ENGINE__SYMBOLS": '["BTC/USDT", 1]'},
            "engine.symbols[1] must be a string, was 1 (from ATS_ENGINE__SYMBOLS)",
        ),
        (
            {"ATS_ENGINE__SYMBOLS": '["BTC/USDT"'},
            "engine.symbols must be a JSON array or comma-separated list, was '[\"BTC/USDT\"' "
            "(from ATS_ENGINE__SYMBOLS)",
        ),
    ],
)
def test_load_config_when_env_value_unparsable_then_error_names_key_value_and_var(
    env: dict[str, str], expected: str
) -> None:
    assert str(error_of(env=env)) == expected


def test_load_config_when_file_missing_then_error_names_path(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"

    assert str(error_of(path)) == f"config file {path} does not exist"


def test_load_config_when_toml_syntax_error_then_error_names_path_and_line(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "[risk]\nmax_leverage = = 2\n")

    message = str(error_of(path))

    assert message.startswith(f"cannot parse config file {path}: ")
    assert "line 2" in message


def test_load_config_when_path_is_directory_then_config_error(tmp_path: Path) -> None:
    assert str(tmp_path) in str(error_of(tmp_path))


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


# --- the Structs ---------------------------------------------------------------------------


def test_config_when_field_assigned_then_raises() -> None:
    cfg = load_config(env={})

    with pytest.raises(AttributeError):
        cfg.risk.max_leverage = 2.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        cfg.risk = RiskConfig()  # type: ignore[misc]


def test_struct_when_constructed_directly_with_bad_value_then_config_error() -> None:
    with pytest.raises(ConfigError, match=r"risk\.max_leverage must be > 0, was -1"):
        RiskConfig(max_leverage=-1.0)
    with pytest.raises(ConfigError, match=r"strategy\.slow_period must be > strategy\.fast"):
        StrategyConfig(fast_period=30)
    with pytest.raises(ConfigError, match=r"engine\.mode must be one of"):
        EngineConfig(mode="fast")


def test_struct_when_unknown_field_converted_then_rejected() -> None:
    with pytest.raises(msgspec.ValidationError, match="max_levrage"):
        msgspec.convert({"max_levrage": 1.0}, RiskConfig)


def test_to_dict_when_default_config_then_plain_json_ready_values() -> None:
    table = Config().to_dict()

    assert table["risk"]["max_leverage"] == 10.0
    assert table["engine"]["symbols"] == ["BTC/USDT"]
    assert table["venues"]["bybit"]["ws_url"] == "wss://stream.bybit.com"
    assert msgspec.convert(table, Config) == Config()
