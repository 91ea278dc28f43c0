"""Settings of one Bybit v5 public market-data connection (built by the composition root)."""

from __future__ import annotations

import msgspec

from adapters.bybit.errors import FeedConfigError
from adapters.bybit.symbols import BOOK_DEPTHS, CATEGORIES, PING_INTERVAL_S, Category

__all__ = ["FeedConfig"]


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
