"""Settings of the Interactive Brokers connection (``[venues.ib]``) and the account id.

:class:`IbConfig` is the ``[venues.ib]`` TOML table; :func:`load_ib_config`
builds it from that table plus ``ATS_VENUES__IB__<KEY>`` environment
overrides, with the same one-line error messages as ``engine.config``. The
account id is not part of it: it identifies a person's brokerage account, so
it is read from the environment only (``IB_ACCOUNT``) into an
:class:`IbAccount`, whose ``repr`` and ``str`` never show it.

Example ``ats.toml``::

    [venues.ib]
    host = "127.0.0.1"
    port = 4002               # IB Gateway paper; 4001 live, TWS 7497 paper / 7496 live
    client_id = 7
    market_data_type = 3      # delayed

    [venues.ib.contracts."ES/USD:USD-241220"]
    exchange = "CME"

    [venues.ib.contracts."AAPL/USD"]
    primary_exchange = "NASDAQ"
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import msgspec

from engine.config import ConfigError

__all__ = [
    "ACCOUNT_ENV_VAR",
    "ENV_PREFIX",
    "MARKET_DATA_TYPES",
    "IbAccount",
    "IbConfig",
    "IbContractConfig",
    "load_ib_config",
]

#: Environment variable holding the IB account id (``U1234567``, ``DU1234567``...).
ACCOUNT_ENV_VAR = "IB_ACCOUNT"
#: Prefix of the environment overrides of ``[venues.ib]`` keys.
ENV_PREFIX = "ATS_VENUES__IB__"
#: ``reqMarketDataType`` values: 1 live, 2 frozen, 3 delayed, 4 delayed frozen.
MARKET_DATA_TYPES: dict[int, str] = {1: "live", 2: "frozen", 3: "delayed", 4: "delayed-frozen"}

_SECTION = "venues.ib"
_STRUCT_OPTIONS: dict[str, Any] = {"frozen": True, "forbid_unknown_fields": True, "kw_only": True}
_EXPIRY = re.compile(r"^\d{6}(\d{2})?$")


def _fail(field: str, requirement: str, value: object) -> ConfigError:
    key = f"{_SECTION}.{field}"
    return ConfigError(f"{key} {requirement}, was {value!r}", key=key)


class IbContractConfig(msgspec.Struct, **_STRUCT_OPTIONS):
    """``[venues.ib.contracts."<symbol>"]``: what an instrument alone cannot say about its contract.

    Every key is optional; :func:`adapters.ib.contracts.build_contract` says
    which ones a given instrument needs (a future needs ``exchange`` and an
    expiry).

    Keys
    ----
    exchange : str, default ``""``
        Destination exchange; empty means ``SMART`` for stocks and commodities
        and ``IDEALPRO`` for forex. Futures must name theirs (``CME``, ``EUREX``...).
    primary_exchange : str, default ``""``
        A stock's listing exchange (``NASDAQ``, ``NYSE``...), which settles
        SMART-routed symbols listed in several places.
    last_trade_date_or_contract_month : str, default ``""``
        A future's ``YYYYMM`` contract month or ``YYYYMMDD`` last trading day;
        empty takes it from a ``-YYMMDD`` suffix of the unified symbol.
    local_symbol : str, default ``""``
        The exchange's own name of the contract (``ESZ4``).
    trading_class : str, default ``""``
        IB trading class (``ES``, ``FGBL``...), when the symbol is ambiguous.
    con_id : int, default ``0``
        IB contract id; when set it identifies the contract by itself.
    """

    exchange: str = ""
    primary_exchange: str = ""
    last_trade_date_or_contract_month: str = ""
    local_symbol: str = ""
    trading_class: str = ""
    con_id: int = 0

    def __post_init__(self) -> None:
        expiry = self.last_trade_date_or_contract_month
        if expiry and _EXPIRY.match(expiry) is None:
            key = f"{_SECTION}.contracts.*.last_trade_date_or_contract_month"
            raise ConfigError(f"{key} must be YYYYMM or YYYYMMDD, was {expiry!r}", key=key)
        if self.con_id < 0:
            key = f"{_SECTION}.contracts.*.con_id"
            raise ConfigError(f"{key} must be >= 0, was {self.con_id}", key=key)


class IbConfig(msgspec.Struct, **_STRUCT_OPTIONS):
    """``[venues.ib]``: where TWS / IB Gateway listens and how the adapter behaves.

    Holds nothing sensitive (the account id comes from ``IB_ACCOUNT``, see
    :class:`IbAccount`), so it is safe to print or serve.

    Keys
    ----
    venue : str, default ``"ib"``
        The ``Instrument.venue`` of the instruments this connection trades.
    host : str, default ``"127.0.0.1"``
        Host of TWS or IB Gateway.
    port : int, default ``7497``
        API port: TWS 7497 paper / 7496 live, IB Gateway 4002 paper / 4001 live.
    client_id : int, default ``1``
        API client id, unique per connection to the same TWS; 0 to 2**31 - 1.
    connect_timeout_s : float, default ``10.0``
        Time allowed for the API handshake and the initial synchronisation; > 0.
    request_timeout_s : float, default ``10.0``
        Time to wait for an order acknowledgement, a cancel confirmation or
        contract details; after it the outcome is unknown
        (``RequestTimeoutError``); > 0.
    read_only : bool, default ``false``
        Connect read-only (TWS "Read-Only API"): placing or cancelling raises.
    market_data_type : int, default ``1``
        ``reqMarketDataType``: 1 live, 2 frozen, 3 delayed, 4 delayed frozen.
    reconnect : bool, default ``true``
        Reconnect by itself after the connection to TWS drops.
    reconnect_base_s, reconnect_cap_s : float, defaults ``1.0``, ``30.0``
        Reconnect backoff: full jitter over ``min(cap, base * 2**attempt)``.
    reconnect_max_attempts : int, default ``0``
        Give up after this many failed reconnects in a row; 0 never gives up.
    outside_rth : bool, default ``false``
        Let stock orders work outside regular trading hours.
    redact_account : bool, default ``true``
        Replace the account id by ``***`` in ib_insync's and eventkit's log
        records too (the adapter's own logs never contain it).
    qualify_on_connect : bool, default ``true``
        Fetch contract details (contract id, min tick, size increment) of every
        instrument of ``venue`` on connect, so the first order does not wait.
    contracts : dict[str, IbContractConfig], default ``{}``
        Per unified symbol, what the instrument alone cannot say about its contract.
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
    contracts: dict[str, IbContractConfig] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.venue.strip():
            raise _fail("venue", "must not be empty", self.venue)
        if not self.host.strip():
            raise _fail("host", "must not be empty", self.host)
        if not 1 <= self.port <= 65535:
            raise _fail("port", "must be between 1 and 65535", self.port)
        if not 0 <= self.client_id < 2**31:
            raise _fail("client_id", "must be between 0 and 2147483647", self.client_id)
        for name in ("connect_timeout_s", "request_timeout_s", "reconnect_cap_s"):
            value = getattr(self, name)
            if not (value > 0 and value < float("inf")):
                raise _fail(name, "must be > 0 and finite", value)
        if not 0 <= self.reconnect_base_s <= self.reconnect_cap_s:
            raise _fail(
                "reconnect_base_s",
                f"must be >= 0 and <= {_SECTION}.reconnect_cap_s ({self.reconnect_cap_s})",
                self.reconnect_base_s,
            )
        if self.reconnect_max_attempts < 0:
            raise _fail("reconnect_max_attempts", "must be >= 0", self.reconnect_max_attempts)
        if self.market_data_type not in MARKET_DATA_TYPES:
            raise _fail("market_data_type", "must be 1, 2, 3 or 4", self.market_data_type)

    def contract_config(self, symbol: str) -> IbContractConfig:
        """Return the ``contracts`` entry of ``symbol``, or an empty one."""
        found = self.contracts.get(symbol)
        return IbContractConfig() if found is None else found


class IbAccount:
    """The IB account id, kept out of every ``repr``, ``str`` and log line.

    Parameters
    ----------
    value : str
        The account id; empty means "the only account the login manages".

    Examples
    --------
    >>> account = IbAccount("DU1234567")
    >>> account, str(account), account.value
    (IbAccount(***), '***', 'DU1234567')
    >>> IbAccount.from_env({"IB_ACCOUNT": " DU7 "}).value
    'DU7'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str = "") -> None:
        self._value = value.strip()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IbAccount:
        """Read the account id from ``IB_ACCOUNT`` (empty when unset)."""
        source = os.environ if env is None else env
        return cls(source.get(ACCOUNT_ENV_VAR, ""))

    @property
    def value(self) -> str:
        """The account id itself (never log it)."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "IbAccount(***)" if self._value else "IbAccount('')"

    def __str__(self) -> str:
        return "***" if self._value else ""


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _env_value(name: str, text: str, field_type: Any) -> Any:
    key = f"{_SECTION}.{name[len(ENV_PREFIX) :].lower()}"
    stripped = text.strip()
    if field_type is str:
        return text
    if field_type is bool:
        if stripped.lower() in _TRUE:
            return True
        if stripped.lower() in _FALSE:
            return False
        kind = "a boolean (true/false, 1/0, yes/no)"
    elif field_type is int:
        try:
            return int(stripped)
        except ValueError:
            kind = "an integer"
    else:
        try:
            return float(stripped)
        except ValueError:
            kind = "a number"
    raise ConfigError(f"{key} must be {kind}, was {text!r} (from {name})", key=key)


def load_ib_config(
    table: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> IbConfig:
    """Build the IB settings from the ``[venues.ib]`` table and ``ATS_VENUES__IB__*`` overrides.

    Parameters
    ----------
    table : mapping, optional
        The parsed ``[venues.ib]`` TOML table (``contracts`` included).
    env : mapping, optional
        Environment to read overrides from; defaults to ``os.environ``. Only
        scalar keys can be overridden (``ATS_VENUES__IB__PORT=4002``).

    Raises
    ------
    ConfigError
        Naming the key, the value and the bound, for an unknown key or a bad value.

    Examples
    --------
    >>> load_ib_config({"port": 4002}, env={"ATS_VENUES__IB__CLIENT_ID": "9"}).client_id
    9
    """
    source = os.environ if env is None else env
    merged: dict[str, Any] = dict(table or {})
    types = {f.name: f.type for f in msgspec.structs.fields(IbConfig) if f.name != "contracts"}
    by_env = {ENV_PREFIX + name.upper(): name for name in types}
    for name in sorted(source):
        if not name.startswith(ENV_PREFIX):
            continue
        field = by_env.get(name)
        if field is None:
            raise ConfigError(
                f"unknown config key '{_SECTION}.{name[len(ENV_PREFIX) :].lower()}' "
                f"from environment variable {name}",
                key=f"{_SECTION}.{name[len(ENV_PREFIX) :].lower()}",
            )
        merged[field] = _env_value(name, source[name], types[field])
    known = {f.name for f in msgspec.structs.fields(IbConfig)}
    for name in merged:
        if name not in known:
            raise ConfigError(f"unknown config key '{_SECTION}.{name}'", key=f"{_SECTION}.{name}")
    contracts: dict[str, IbContractConfig] = {}
    raw_contracts = merged.pop("contracts", {})
    if not isinstance(raw_contracts, Mapping):
        raise _fail("contracts", "must be a table of tables", raw_contracts)
    for symbol, entry in raw_contracts.items():
        contracts[str(symbol)] = _convert(entry, IbContractConfig, f'contracts."{symbol}"')
    config = _convert(merged, IbConfig, "")
    return msgspec.structs.replace(config, contracts=contracts)


_ERROR_AT = re.compile(r"^(?P<message>.*) - at `\$(?P<path>[^`]*)`$")
_EXPECTED = re.compile(r"^Expected `(?P<type>[^`]+)`, got `[^`]+`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`$")


def _convert(data: Any, struct: type[Any], prefix: str) -> Any:
    """Convert ``data`` into ``struct``, rewriting msgspec's errors as one-line ConfigErrors."""
    section = f"{_SECTION}.{prefix}" if prefix else _SECTION
    try:
        return msgspec.convert(data, struct)
    except msgspec.ValidationError as exc:
        cause = exc.__cause__
        if isinstance(cause, ConfigError):
            here = f"{_SECTION}.contracts.*"
            key = None if cause.key is None else cause.key.replace(here, section)
            raise ConfigError(str(cause).replace(here, section), key=key) from None
        match = _ERROR_AT.match(str(exc))
        message, path = (match["message"], match["path"]) if match else (str(exc), "")
        key = section + path
        unknown = _UNKNOWN.match(message)
        if unknown is not None:
            key = f"{key}.{unknown['field']}"
            raise ConfigError(f"unknown config key '{key}'", key=key) from None
        expected = _EXPECTED.match(message)
        value: Any = data
        for part in path.lstrip(".").split("."):
            if part and isinstance(value, Mapping):
                value = value.get(part)
        if expected is not None:
            raise ConfigError(
                f"{key} must be of type {expected['type']}, was {value!r}", key=key
            ) from None
        raise ConfigError(f"{key} is invalid ({message})", key=key) from None
