"""Settings every ccxt trading account and private stream has (the venues' configs add theirs).

:class:`AccountConfig` is the base of :class:`adapters.binance.config.BrokerConfig`
and :class:`adapters.bybit.config.BrokerConfig`; :class:`StreamConfig` of their
``UserStreamConfig``. Each venue sets its defaults (the keys' environment
variables) and the error its settings raise (``config_error``, the venue's
``FeedConfigError``).
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

__all__ = ["AccountConfig", "StreamConfig"]


class AccountConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One trading account through ccxt: the keys every venue has.

    Keys
    ----
    rest_url, ws_url : str
        Base URLs (``https://...``, ``wss://...``); ``""`` (default) keeps ccxt's URL and
        the venue's stream URL (of the testnet with ``testnet``).
    testnet : bool
        The venue's test environment (default False).
    symbols : tuple[str, ...]
        Unified symbols traded (``BTC/USDT``, ``BTC/USDT:USDT``), default none.
    timeout_s : float
        Per-request timeout (default 10.0).
    recv_window_ms : int
        How long after its timestamp the venue accepts a signed request (default 5000,
        at most 60000).
    rate_limit : bool
        ccxt's client-side throttle (default True).
    sync_clock : bool
        Measure the venue's clock at connect and sign with it (default False).
    strict_lot_size : bool
        Refuse a quantity off the lot step instead of rounding it down (default True).
    api_key_env, secret_key_env : str
        The environment variables holding the keys (each venue names its own); keys are
        never read from a file.
    """

    #: The error a bad setting raises (the venue's ``FeedConfigError``).
    config_error: ClassVar[type[ValueError]] = ValueError

    rest_url: str = ""
    ws_url: str = ""
    testnet: bool = False
    symbols: tuple[str, ...] = ()
    timeout_s: float = 10.0
    recv_window_ms: int = 5000
    rate_limit: bool = True
    sync_clock: bool = False
    strict_lot_size: bool = True
    api_key_env: str = ""
    secret_key_env: str = ""

    def __post_init__(self) -> None:
        error = self.config_error
        if self.rest_url and not self.rest_url.startswith(("http://", "https://")):
            raise error(
                f"broker.rest_url must start with http:// or https://, was {self.rest_url!r}"
            )
        if self.ws_url and not self.ws_url.startswith(("ws://", "wss://")):
            raise error(f"broker.ws_url must start with ws:// or wss://, was {self.ws_url!r}")
        if not 0 < self.recv_window_ms <= 60_000:
            raise error(f"broker.recv_window_ms must be in (0, 60000], was {self.recv_window_ms}")
        if not self.timeout_s > 0:
            raise error(f"broker.timeout_s must be > 0, was {self.timeout_s}")


class StreamConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A private stream's reconnect and poll settings, in seconds; every key must be > 0.

    Keys
    ----
    reconnect_base_s, reconnect_cap_s : float
        Reconnect backoff, full jitter over ``min(cap, base * 2**attempt)`` (0.25, 30.0).
    poll_interval_s : float
        REST poll of orders and fills while the stream is down (default 2.0).
    handshake_timeout_s : float
        Connect (and a venue's auth and subscribe) must answer within this (default 10.0).
    """

    #: The error a bad setting raises (the venue's ``FeedConfigError``).
    config_error: ClassVar[type[ValueError]] = ValueError

    reconnect_base_s: float = 0.25
    reconnect_cap_s: float = 30.0
    poll_interval_s: float = 2.0
    handshake_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            if not getattr(self, name) > 0:
                raise self.config_error(
                    f"user_stream.{name} must be > 0, was {getattr(self, name)}"
                )
