"""Settings of the Bybit v5 adapters: public market data, trading and the private stream.

Built by the composition root; every URL is configurable so the same adapters
run against the local emulator.
"""

from __future__ import annotations

import msgspec

from adapters.broker_config import AccountConfig, StreamConfig
from adapters.bybit.errors import FeedConfigError
from adapters.bybit.symbols import BOOK_DEPTHS, CATEGORIES, PING_INTERVAL_S, Category

__all__ = ["BrokerConfig", "FeedConfig", "UserStreamConfig"]


class FeedConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One WebSocket connection (``<ws_url>/v5/public/<category>``) and its topics.

    ``ws_url`` is the base URL (``wss://stream.bybit.com``), so the same code
    runs against the local emulator. Times in seconds.

    Keys
    ----
    ws_url : str
        Base WebSocket URL; ``/v5/public/spot`` or ``/v5/public/linear`` is appended.
    category : {"spot", "linear"}
        Default ``linear``.
    depth : int
        ``orderbook.{depth}.{symbol}``: spot 1, 50, 200; linear 1, 50, 200, 500. Default 50.
    tickers : bool
        Subscribe ``tickers.{symbol}`` too (the venue's best bid/ask on linear). Default True.
    ping_interval_s : float
        Seconds between two ``{"op":"ping"}`` (Bybit asks for 20). Default 20.0.
    resubscribe_after_s : float
        A symbol whose book waits for a snapshot is resubscribed (unsubscribe, subscribe:
        Bybit sends a fresh snapshot) at most once per this many seconds, the first time
        this long after the connection (or the last resubscribe). Default 1.0.
    reconnect_base_s, reconnect_cap_s : float
        Reconnect backoff: full jitter over ``min(cap, base * 2**attempt)``. Defaults 0.25, 30.0.
    stale_after_s : float
        No frame for this long → RISK_ALERT, books invalidated, reconnect. Default 10.0.
        Pongs count as frames: keep ``ping_interval_s`` above it, or a venue that answers
        pings but sends no data is never found stale.
    handshake_timeout_s : float
        WebSocket handshake timeout. Default 10.0.
    """

    ws_url: str
    category: Category = "linear"
    depth: int = 50
    tickers: bool = True
    ping_interval_s: float = PING_INTERVAL_S
    resubscribe_after_s: float = 1.0
    reconnect_base_s: float = 0.25
    reconnect_cap_s: float = 30.0
    stale_after_s: float = 10.0
    handshake_timeout_s: float = 10.0

    def validate(self) -> None:
        """Raise :class:`FeedConfigError` naming the first bad field."""
        if not self.ws_url.startswith(("ws://", "wss://")):
            raise FeedConfigError(
                f"venues.bybit.ws_url must start with ws:// or wss://, was {self.ws_url!r}"
            )
        if self.category not in CATEGORIES:
            raise FeedConfigError(
                f"category must be one of {', '.join(CATEGORIES)}, was {self.category!r}"
            )
        depths = BOOK_DEPTHS[self.category]
        if self.depth not in depths:
            raise FeedConfigError(
                f"{self.category} book depth must be one of {', '.join(map(str, depths))}, "
                f"was {self.depth}"
            )
        for name in (
            "ping_interval_s",
            "resubscribe_after_s",
            "reconnect_base_s",
            "reconnect_cap_s",
            "stale_after_s",
            "handshake_timeout_s",
        ):
            if not getattr(self, name) > 0:
                raise FeedConfigError(f"{name} must be > 0, was {getattr(self, name)}")


class UserStreamConfig(StreamConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The private stream (``<ws_url>/v5/private``, :mod:`adapters.bybit.userstream`). Seconds.

    Keys
    ----
    ping_interval_s : float
        Seconds between two ``{"op":"ping"}`` (Bybit asks for 20). Default 20.0.
    auth_expires_s : float
        How far ahead of now the ``expires`` of the auth request is. Default 10.0.
    reconnect_base_s, reconnect_cap_s, poll_interval_s, handshake_timeout_s : float
        As in :class:`~adapters.broker_config.StreamConfig` (0.25, 30.0, 2.0, 10.0); the
        handshake includes the auth and the subscribe.
    """

    config_error = FeedConfigError

    ping_interval_s: float = PING_INTERVAL_S
    auth_expires_s: float = 10.0


class BrokerConfig(AccountConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One Bybit v5 unified trading account, spot or linear, through ccxt.

    Keys
    ----
    category : {"spot", "linear"}
        What this connector trades (default ``spot``).
    rest_url, ws_url : str
        Base URLs (``https://api.bybit.com``, ``wss://stream.bybit.com``; ``/v5/private`` is
        appended to ``ws_url``); ``""`` (default) keeps Bybit's, of the testnet with ``testnet``.
    testnet : bool
        Bybit's testnet (default False).
    recv_window_ms : int
        ``X-BAPI-RECV-WINDOW`` of signed requests (default 5000).
    api_key_env, secret_key_env : str
        The environment variables holding the keys (``BYBIT_API_KEY``,
        ``BYBIT_SECRET_KEY``); keys are never read from a file.
    user_stream : UserStreamConfig
        The private stream's settings.
    symbols, timeout_s, rate_limit, sync_clock, strict_lot_size :
        As in :class:`~adapters.broker_config.AccountConfig` (none, 10.0, True, False, True).
    """

    config_error = FeedConfigError

    category: Category = "spot"
    api_key_env: str = "BYBIT_API_KEY"
    secret_key_env: str = "BYBIT_SECRET_KEY"
    user_stream: UserStreamConfig = msgspec.field(default_factory=UserStreamConfig)

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise FeedConfigError(
                f"broker.category must be one of {', '.join(CATEGORIES)}, was {self.category!r}"
            )
        super().__post_init__()
