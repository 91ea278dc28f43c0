"""Protocols the engine defines and adapters implement (the engine never imports a venue)."""

from __future__ import annotations

from typing import Protocol

from engine.market import SymbolMarket
from engine.orders import Order

__all__ = ["ExecutionReportSink", "MarketDataSink", "OrderGateway"]


class MarketDataSink(Protocol):
    """What a market-data adapter calls after it has written a frame into a :class:`SymbolMarket`.

    The adapter owns decoding and book maintenance; the sink (the engine) runs
    indicators, strategies and the simulated venue. All calls are synchronous
    and happen on the event loop thread, one per frame.
    """

    def on_trade(self, market: SymbolMarket, ts_recv: int) -> None:
        """A trade was appended to ``market.trades`` (``market.last_price`` is set)."""
        ...

    def on_book(self, market: SymbolMarket, ts_recv: int) -> None:
        """``market.book`` changed (a diff or a snapshot was applied)."""
        ...

    def on_ticker(self, market: SymbolMarket, ts_recv: int) -> None:
        """The venue's top of book (``market.bid_price`` ...) changed."""
        ...


class OrderGateway(Protocol):
    """Where the execution engine sends orders (the simulated venue, or a broker adapter).

    Calls return immediately; the outcome comes back through the
    :class:`ExecutionReportSink` the gateway was given.
    """

    def submit_order(self, order: Order, ts: int) -> None:
        """Send ``order`` (its ``client_order_id`` identifies it from now on)."""
        ...

    def cancel_order(self, client_order_id: str, ts: int) -> None:
        """Ask to cancel an open order."""
        ...


class ExecutionReportSink(Protocol):
    """What a gateway calls to report the life of an order."""

    def on_order_accepted(self, client_order_id: str, ts: int) -> None:
        """The venue accepted the order (it rests or is about to fill)."""
        ...

    def on_order_rejected(self, client_order_id: str, reason: str, ts: int) -> None:
        """The venue refused the order; ``reason`` says why."""
        ...

    def on_order_cancelled(self, client_order_id: str, reason: str, ts: int) -> None:
        """The order is cancelled (a cancel the client asked for)."""
        ...

    def on_order_expired(self, client_order_id: str, reason: str, ts: int) -> None:
        """The venue ended the order for its time in force; ``reason`` says why.

        The unfilled remainder of a MARKET, IOC or FOK order, or of a triggered
        stop (a FOK order that cannot fill in full expires with nothing filled).
        """
        ...

    def on_fill(
        self,
        client_order_id: str,
        quantity: float,
        price: float,
        fee: float,
        liquidity: str,
        ts: int,
        *,
        trade_id: str = "",
        fee_currency: str = "",
        cumulative_quantity: float | None = None,
    ) -> None:
        """The order (partially) filled; ``liquidity`` is ``"maker"`` or ``"taker"``.

        Gateways of live venues pass what the venue gives so that a fill
        delivered twice (a stream resend, the stream and reconciliation) is
        booked once: ``trade_id``, the venue's id of the fill; ``fee_currency``,
        the currency of ``fee`` ("" is the account currency); and
        ``cumulative_quantity``, the order's filled quantity after this fill.
        """
        ...
