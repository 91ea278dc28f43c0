"""The emulator's own depth book: a recorded REST snapshot plus the recorded diffs, as strings.

The emulator answers REST depth requests from this book, so it only needs to be
right, not fast: levels are kept in two dicts keyed by the price as a float
(equal decimal strings give equal floats), each holding the price and quantity
strings exactly as the venue sent them, and the answer is sorted when asked
for. It follows Binance's procedure (spot ``U``/``u``, futures ``pu``): a diff
whose ``u`` is not newer than the book is stale and skipped; a diff that does
not chain to the previous one is applied anyway (the emulator serves what the
recording has) and counted in :attr:`DepthBook.chain_breaks`.
"""

from __future__ import annotations

import heapq

import msgspec

__all__ = ["DepthBook", "DepthDiff", "DepthSnapshot", "WrappedDiff"]


class DepthDiff(msgspec.Struct):
    """The fields of a ``depthUpdate`` event the book needs (spot and futures)."""

    U: int
    u: int
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]
    pu: int | None = None
    E: int | None = None
    T: int | None = None


class WrappedDiff(msgspec.Struct):
    """A combined-stream frame holding a depth diff."""

    data: DepthDiff


class DepthSnapshot(msgspec.Struct):
    """A REST depth snapshot (``E``/``T`` on futures only)."""

    last_update_id: int = msgspec.field(name="lastUpdateId")
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]
    E: int | None = None
    T: int | None = None


def _apply_side(side: dict[float, tuple[str, str]], levels: list[tuple[str, str]]) -> None:
    for price, qty in levels:
        key = float(price)
        if float(qty) == 0.0:
            side.pop(key, None)
        else:
            side[key] = (price, qty)


class DepthBook:
    """Price levels as strings, with the id and times of the last update applied.

    Examples
    --------
    >>> snap = DepthSnapshot(last_update_id=10, bids=[("99.0", "1")], asks=[("101.0", "2")])
    >>> book = DepthBook.from_snapshot(snap)
    >>> book.apply(DepthDiff(U=11, u=12, b=[("99.0", "0")], a=[("100.5", "3")]))
    True
    >>> book.levels(5)
    ([], [['100.5', '3'], ['101.0', '2']])
    """

    __slots__ = (
        "applied",
        "asks",
        "bids",
        "chain_breaks",
        "event_time",
        "last_update_id",
        "stale",
        "transaction_time",
    )

    def __init__(self) -> None:
        self.bids: dict[float, tuple[str, str]] = {}
        self.asks: dict[float, tuple[str, str]] = {}
        #: ``lastUpdateId`` of the snapshot, then ``u`` of the last diff applied.
        self.last_update_id = 0
        #: ``E`` and ``T`` of the snapshot or of the last diff applied (futures; ``None`` on spot).
        self.event_time: int | None = None
        self.transaction_time: int | None = None
        #: Diffs applied, diffs skipped as stale, diffs that did not chain (applied anyway).
        self.applied = 0
        self.stale = 0
        self.chain_breaks = 0

    @classmethod
    def from_snapshot(cls, snapshot: DepthSnapshot) -> DepthBook:
        """Build the book of a REST snapshot."""
        book = cls()
        _apply_side(book.bids, snapshot.bids)
        _apply_side(book.asks, snapshot.asks)
        book.last_update_id = snapshot.last_update_id
        book.event_time = snapshot.E
        book.transaction_time = snapshot.T
        return book

    def copy(self) -> DepthBook:
        """An independent copy (levels are immutable tuples, so a shallow dict copy is enough)."""
        book = DepthBook()
        book.bids = dict(self.bids)
        book.asks = dict(self.asks)
        book.last_update_id = self.last_update_id
        book.event_time = self.event_time
        book.transaction_time = self.transaction_time
        book.applied = self.applied
        book.stale = self.stale
        book.chain_breaks = self.chain_breaks
        return book

    def apply(self, diff: DepthDiff) -> bool:
        """Apply one diff unless it is stale; return whether it was applied."""
        last = self.last_update_id
        if diff.u <= last:
            self.stale += 1
            return False
        if self.applied:
            chained = diff.pu == last if diff.pu is not None else diff.U == last + 1
        elif diff.pu is not None:  # futures: the first diff straddles the snapshot's id
            chained = diff.U <= last <= diff.u
        else:
            chained = diff.U <= last + 1 <= diff.u
        if not chained:
            self.chain_breaks += 1
        _apply_side(self.bids, diff.b)
        _apply_side(self.asks, diff.a)
        self.last_update_id = diff.u
        if diff.E is not None:
            self.event_time = diff.E
        if diff.T is not None:
            self.transaction_time = diff.T
        self.applied += 1
        return True

    def levels(self, limit: int) -> tuple[list[list[str]], list[list[str]]]:
        """The best ``limit`` bids (descending) and asks (ascending) as ``[price, qty]`` strings."""
        bids, asks = self.bids, self.asks
        return (
            [list(bids[p]) for p in heapq.nlargest(limit, bids)],
            [list(asks[p]) for p in heapq.nsmallest(limit, asks)],
        )
