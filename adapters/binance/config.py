"""Settings of the Binance adapters: market data, trading and the user data stream (built by
the composition root)."""

from __future__ import annotations

import msgspec

from adapters.binance.errors import FeedConfigError
from adapters.binance.symbols import MARKETS, Market
from adapters.broker_config import AccountConfig, StreamConfig

__all__ = ["BrokerConfig", "FeedConfig", "UserStreamConfig"]


class FeedConfig(msgspec.Struct, frozen=True, kw_only=True):
    """One WebSocket connection (combined streams) and its REST snapshots.

    ``ws_url``/``rest_url`` are base URLs (``wss://stream.binance.com:9443``,
    ``https://api.binance.com``), so the same code runs against the local
    emulator. Times in seconds.
    """

    ws_url: str
    rest_url: str
    market: Market = "spot"
    #: ``100ms`` (spot and futures), ``0ms``/``250ms``/``500ms`` (futures) or ``""`` (1 s).
    depth_speed: str = "100ms"
    #: ``trade`` (every trade; what the recordings hold, spot and futures) or ``aggTrade``.
    trade_stream: str = "trade"
    snapshot_limit: int = 1000
    #: Reconnect backoff: full jitter over ``min(cap, base * 2**attempt)``.
    reconnect_base_s: float = 0.25
    reconnect_cap_s: float = 30.0
    #: No frame for this long → RISK_ALERT, books invalidated, reconnect.
    stale_after_s: float = 10.0
    #: Binance closes connections after 24 h; reconnect before it does.
    max_connection_age_s: float = 23.5 * 3600
    snapshot_timeout_s: float = 10.0
    handshake_timeout_s: float = 10.0

    def validate(self) -> None:
        """Raise :class:`FeedConfigError` naming the first bad field."""
        if not self.ws_url.startswith(("ws://", "wss://")):
            raise FeedConfigError(f"ws_url must start with ws:// or wss://, got {self.ws_url!r}")
        if not self.rest_url.startswith(("http://", "https://")):
            raise FeedConfigError(
                f"rest_url must start with http:// or https://, got {self.rest_url!r}"
            )
        if self.trade_stream not in ("trade", "aggTrade"):
            raise FeedConfigError(
                f"trade_stream must be 'trade' or 'aggTrade', got {self.trade_stream!r}"
            )
        if self.market not in MARKETS:
            raise FeedConfigError(f"market must be one of {MARKETS}, got {self.market!r}")
        for name in ("reconnect_base_s", "reconnect_cap_s", "stale_after_s", "snapshot_timeout_s"):
            if not getattr(self, name) > 0:
                raise FeedConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.max_connection_age_s <= self.stale_after_s:
            raise FeedConfigError("max_connection_age_s must exceed stale_after_s")


class UserStreamConfig(StreamConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The private user data stream (:mod:`adapters.binance.userstream`). Times in seconds.

    Keys
    ----
    keepalive_s : float
        Listen-key keep-alive period (default 1800: Binance's keys live 60 min).
    reconnect_base_s, reconnect_cap_s, poll_interval_s, handshake_timeout_s : float
        As in :class:`~adapters.broker_config.StreamConfig` (0.25, 30.0, 2.0, 10.0).
    """

    config_error = FeedConfigError

    keepalive_s: float = 1800.0


class BrokerConfig(AccountConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One Binance trading account (spot or USD-M) through ccxt (:mod:`adapters.binance.broker`).

    Keys
    ----
    market : str
        ``spot`` or ``usdm`` (default ``spot``).
    rest_url, ws_url : str
        Base URLs (``https://api.binance.com``, ``wss://stream.binance.com:9443``);
        ``""`` (default) keeps ccxt's URL and Binance's stream URL (of the testnet with
        ``testnet``).
    testnet : bool
        Binance's spot testnet, or USD-M demo trading (default False).
    recv_window_ms : int
        ``recvWindow`` of signed requests (default 5000; Binance allows up to 60000).
    api_key_env, secret_key_env : str
        The environment variables holding the keys (``BINANCE_API_KEY``,
        ``BINANCE_SECRET_KEY``); keys are never read from a file.
    user_stream : UserStreamConfig
        The private stream's settings.
    symbols, timeout_s, rate_limit, sync_clock, strict_lot_size :
        As in :class:`~adapters.broker_config.AccountConfig` (none, 10.0, True, False, True).
    """

    config_error = FeedConfigError

    market: Market = "spot"
    api_key_env: str = "BINANCE_API_KEY"
    secret_key_env: str = "BINANCE_SECRET_KEY"
    user_stream: UserStreamConfig = msgspec.field(default_factory=UserStreamConfig)

    def __post_init__(self) -> None:
        if self.market not in ("spot", "usdm"):
            raise FeedConfigError(f"broker.market must be 'spot' or 'usdm', was {self.market!r}")
        super().__post_init__()
