"""``[venues.ib]`` settings: defaults, environment overrides, errors naming the key, the account."""

from __future__ import annotations

import msgspec
import pytest

from adapters.ib import IbAccount, IbConfig, IbContractConfig, load_ib_config
from engine.config import ConfigError


def test_load_without_table_or_env_gives_documented_defaults() -> None:
    config = load_ib_config(None, env={})
    assert config == IbConfig()
    assert (config.host, config.port, config.client_id) == ("127.0.0.1", 7497, 1)
    assert config.market_data_type == 1
    assert config.read_only is False
    assert config.contracts == {}


def test_table_and_environment_merge_with_environment_winning() -> None:
    table = {
        "port": 4001,
        "client_id": 3,
        "contracts": {"ES/USD:USD-241220": {"exchange": "CME"}},
    }
    env = {
        "ATS_VENUES__IB__PORT": "4002",
        "ATS_VENUES__IB__READ_ONLY": "yes",
        "ATS_VENUES__IB__MARKET_DATA_TYPE": "3",
        "ATS_RISK__MAX_LEVERAGE": "5",  # another section: not ours to judge
    }
    config = load_ib_config(table, env=env)
    assert (config.port, config.client_id, config.read_only) == (4002, 3, True)
    assert config.market_data_type == 3
    assert config.contracts == {"ES/USD:USD-241220": IbContractConfig(exchange="CME")}
    assert config.contract_config("ES/USD:USD-241220").exchange == "CME"
    assert config.contract_config("AAPL/USD") == IbContractConfig()


@pytest.mark.parametrize(
    ("table", "env", "message"),
    [
        ({"port": 0}, {}, "venues.ib.port must be between 1 and 65535, was 0"),
        ({"client_id": -1}, {}, "venues.ib.client_id must be between 0 and 2147483647, was -1"),
        ({"market_data_type": 5}, {}, "venues.ib.market_data_type must be 1, 2, 3 or 4, was 5"),
        ({"request_timeout_s": 0}, {}, "venues.ib.request_timeout_s must be > 0 and finite"),
        ({"prot": 1}, {}, "unknown config key 'venues.ib.prot'"),
        ({"port": "x"}, {}, "venues.ib.port must be of type int, was 'x'"),
        ({}, {"ATS_VENUES__IB__PORT": "abc"}, "venues.ib.port must be an integer, was 'abc'"),
        ({}, {"ATS_VENUES__IB__PROT": "1"}, "from environment variable ATS_VENUES__IB__PROT"),
        (
            {"contracts": {"ES/USD": {"last_trade_date_or_contract_month": "2024"}}},
            {},
            'venues.ib.contracts."ES/USD".last_trade_date_or_contract_month must be YYYYMM or '
            "YYYYMMDD, was '2024'",
        ),
        (
            {"contracts": {"ES/USD": {"exchnge": "CME"}}},
            {},
            "unknown config key 'venues.ib.contracts.\"ES/USD\".exchnge'",
        ),
        (
            {"reconnect_base_s": 60.0},
            {},
            "venues.ib.reconnect_base_s must be >= 0 and <= venues.ib.reconnect_cap_s (30.0)",
        ),
    ],
)
def test_bad_value_raises_config_error_naming_key_and_value(
    table: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_ib_config(table, env=env)
    assert message in str(info.value)


def test_config_holds_no_account_so_it_is_safe_to_print() -> None:
    names = {field.name for field in msgspec.structs.fields(IbConfig)}
    assert not any("account" in name and name != "redact_account" for name in names)


def test_account_comes_from_ib_account_env_var_and_never_shows_in_repr_or_str() -> None:
    account = IbAccount.from_env({"IB_ACCOUNT": " U1234567 "})
    assert account.value == "U1234567"
    assert bool(account)
    assert "U1234567" not in repr(account)
    assert "U1234567" not in str(account)
    assert "U1234567" not in f"{account} {account!r} {[account]}"
    empty = IbAccount.from_env({})
    assert not empty
    assert empty.value == ""
