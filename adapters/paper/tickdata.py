"""Recording → event rows for the compiled tick backtester (:mod:`kernels.tickbt`).

Reads a Binance recording (spot, USD-M or COIN-M; gzip or plain text, each
line ``<local_recv_ts_ns> <frame JSON>``) and writes one row per book level
and per trade: kind, exchange time, local time, price index, quantity. Then
it makes two copies ordered for the two sides of the simulation: by exchange
time (what the venue matches against) and by local time (what the strategy
sees), both stable so rows of one frame keep their order.

Book procedure (Binance's, for both spot and futures): depth diffs wait for
the REST snapshot; the snapshot clears the book down to its deepest level
and inserts its levels; diffs the snapshot already contains are dropped and
the buffered ones that are newer are applied at the snapshot's time.
Sequence gaps (``U != prev u + 1`` on spot, ``pu != prev u`` on futures) are
counted (``gaps``) and reported. A recording without a snapshot builds the
book from diffs alone (``synced`` is False).

Timestamps: futures use the transaction time ``T`` (as hftbacktest's
converter does), spot frames have no ``T`` on depth and use the event time
``E``; a snapshot without ``T``/``E`` uses its receive time. If any local
time is earlier than its exchange time (clock skew), every local time is
shifted by the largest such difference (``local_shift_ns``) so feed latency
is never negative.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from adapters.levels import parse_level_array as _levels
from adapters.replay.recording import RecordingReader
from kernels.parse import count_level_segments, parse_level_segments
from kernels.tickbt import EV_ASK, EV_ASK_CLEAR, EV_BID, EV_BID_CLEAR, EV_BUY_TRADE, EV_SELL_TRADE

__all__ = ["MAX_BOOK_TICKS", "TickData", "TickDataError", "convert_frames", "convert_recording"]

#: Widest price range (in ticks) the books cover; levels outside are dropped and counted.
MAX_BOOK_TICKS = 2_000_000


class TickDataError(ValueError):
    """A recording that cannot be turned into backtest rows (says which and why)."""


class _Wrapper(msgspec.Struct, gc=False):
    stream: str = ""
    data: msgspec.Raw = msgspec.Raw(b"")


class _Depth(msgspec.Struct, gc=False):
    e: str = ""
    E: int = 0
    T: int = 0
    s: str = ""
    U: int = 0
    u: int = 0
    pu: int = -1
    b: msgspec.Raw = msgspec.Raw(b"[]")
    a: msgspec.Raw = msgspec.Raw(b"[]")


class _Trade(msgspec.Struct, gc=False):
    e: str = ""
    E: int = 0
    T: int = 0
    s: str = ""
    p: float = 0.0
    q: float = 0.0
    m: bool = False
    #: Futures only ("MARKET", "INSURANCE_FUND", ...); spot trades have none.
    X: str = ""


class _Snapshot(msgspec.Struct, gc=False):
    lastUpdateId: int = -1
    E: int = 0
    T: int = 0
    bids: msgspec.Raw = msgspec.Raw(b"[]")
    asks: msgspec.Raw = msgspec.Raw(b"[]")


_WRAPPER = msgspec.json.Decoder(_Wrapper)
_DEPTH = msgspec.json.Decoder(_Depth)
_TRADE = msgspec.json.Decoder(_Trade, strict=False)
_SNAPSHOT = msgspec.json.Decoder(_Snapshot)


@dataclass
class TickData:
    """Rows ready for :class:`adapters.paper.tickbt.TickBacktester`.

    ``kind``/``exch_ts``/``local_ts``/``idx``/``qty`` are the rows in
    recording order; ``x_order``/``l_order`` sort them by exchange and by local
    time. ``idx`` counts ticks from ``tick_base`` (price = ``(idx + tick_base)
    * tick_size``). :meth:`streams` gives both sorted copies (made once).
    """

    kind: np.ndarray
    exch_ts: np.ndarray
    local_ts: np.ndarray
    idx: np.ndarray
    qty: np.ndarray
    x_order: np.ndarray
    l_order: np.ndarray
    tick_size: float
    lot_size: float
    tick_base: int
    n_ticks: int
    symbol: str
    market: str  # "spot" or "futures"
    stats: dict[str, Any] = field(default_factory=dict)

    _streams: dict[int | None, tuple[np.ndarray, ...]] = field(default_factory=dict, repr=False)

    @property
    def n_rows(self) -> int:
        return int(self.kind.shape[0])

    def streams(self, feed_latency_ns: int | None = None) -> tuple[np.ndarray, ...]:
        """``(x_ts, x_kind, x_idx, x_qty, l_ts, l_kind, l_idx, l_qty)``, contiguous, cached.

        With ``feed_latency_ns`` the local time of every row is its exchange
        time plus that constant instead of the recorded receive time.
        """
        cached = self._streams.get(feed_latency_ns)
        if cached is not None:
            return cached
        xo = self.x_order
        if feed_latency_ns is None:
            lo, local_ts = self.l_order, self.local_ts
        else:
            lo, local_ts = xo, self.exch_ts + feed_latency_ns
        out = tuple(
            np.ascontiguousarray(a[o])
            for a, o in (
                (self.exch_ts, xo),
                (self.kind, xo),
                (self.idx, xo),
                (self.qty, xo),
                (local_ts, lo),
                (self.kind, lo),
                (self.idx, lo),
                (self.qty, lo),
            )
        )
        self._streams[feed_latency_ns] = out
        return out


def _decimals_step(values: np.ndarray, max_decimals: int = 10) -> float:
    """The coarsest ``10**-k`` step every value sits on (what the venue's tick/lot must divide)."""
    v = values[np.isfinite(values) & (values > 0)]
    if v.size == 0:
        raise TickDataError("no prices or quantities to infer the tick and lot size from")
    v = np.unique(v)[:200_000]
    for k in range(max_decimals + 1):
        scaled = v * 10.0**k
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, scaled) * 1e-3):
            return 10.0**-k
    return 10.0**-max_decimals


class _Builder:
    """Rows as segments: a raw JSON level array (parsed later, all in one compiled call)
    or one row whose values are known now (trades, book clears)."""

    def __init__(self) -> None:
        self.raw: list[bytes | msgspec.Raw] = []
        self.kind: list[int] = []
        self.exch: list[int] = []
        self.local: list[int] = []
        self.px: list[float] = []
        self.qty: list[float] = []
        self.frame: list[int] = []  # segments of one frame stand or fall together

    def levels(
        self, kind: int, exch: int, local: int, raw: bytes | msgspec.Raw, frame: int
    ) -> None:
        self.frame.append(frame)
        self.raw.append(raw)
        self.kind.append(kind)
        self.exch.append(exch)
        self.local.append(local)
        self.px.append(0.0)
        self.qty.append(0.0)

    def one(self, kind: int, exch: int, local: int, px: float, qty: float) -> None:
        self.frame.append(-1)
        self.raw.append(b"")
        self.kind.append(kind)
        self.exch.append(exch)
        self.local.append(local)
        self.px.append(px)
        self.qty.append(qty)

    def build(self, stats: dict[str, Any]) -> tuple[np.ndarray, ...]:
        """``(kind, exch_ts, local_ts, px, qty)`` of every row, in segment order."""
        n_seg = len(self.raw)
        lengths = np.fromiter((len(r) for r in self.raw), np.int64, n_seg)
        ends = np.cumsum(lengths)
        starts = ends - lengths
        buf = np.frombuffer(b"".join(self.raw), np.uint8)
        counts = np.empty(n_seg, np.int64)
        total = count_level_segments(buf, starts, ends, counts)
        out = np.zeros((total, 2), np.float64)
        status = np.empty(n_seg, np.int64)
        parse_level_segments(buf, starts, ends, counts, out, status)
        first = np.cumsum(counts) - counts
        one = lengths == 0
        out[first[one], 0] = np.asarray(self.px)[one]
        out[first[one], 1] = np.asarray(self.qty)[one]
        bad_frames: set[int] = set()
        for s in np.flatnonzero(status != 0):
            levels = _levels(msgspec.Raw(bytes(self.raw[s])))
            if levels is not None and levels.shape[0] == counts[s]:
                out[first[s] : first[s] + counts[s]] = levels
            else:
                bad_frames.add(self.frame[s])
        if bad_frames:
            # a frame with one malformed side is skipped whole (rows NaN: dropped as invalid)
            frame = np.asarray(self.frame)
            for s in np.flatnonzero(np.isin(frame, list(bad_frames))):
                out[first[s] : first[s] + counts[s]] = np.nan
            stats["bad_frames"] += len(bad_frames)
        return (
            np.repeat(np.asarray(self.kind, np.uint8), counts),
            np.repeat(np.asarray(self.exch, np.int64), counts),
            np.repeat(np.asarray(self.local, np.int64), counts),
            out[:, 0].copy(),
            out[:, 1].copy(),
        )


def convert_frames(
    frames: list[tuple[int, bytes]] | Any,
    tick_size: float | None = None,
    lot_size: float | None = None,
    symbol: str | None = None,
    book_margin: float = 0.02,
    sync: str = "binance",
) -> TickData:
    """Convert ``(recv_ts_ns, frame)`` pairs; see the module docstring.

    ``sync="binance"`` follows Binance's book procedure (diffs wait for the
    snapshot, stale ones are dropped); ``sync="replay"`` applies every frame
    in recording order as it came, the snapshot included (what hftbacktest's
    converter does; for like-for-like comparisons).

    The books span the traded price range widened by ``book_margin`` (a
    fraction of price) on each side, at most :data:`MAX_BOOK_TICKS` ticks.
    """
    if sync not in ("binance", "replay"):
        raise TickDataError(f"sync must be 'binance' or 'replay', got {sync!r}")
    replay = sync == "replay"
    if not book_margin > 0:
        raise TickDataError(f"book_margin must be > 0, got {book_margin}")
    b = _Builder()
    stats = {
        "frames": 0,
        "depth_frames": 0,
        "trades": 0,
        "snapshots": 0,
        "gaps": 0,
        "dropped_stale_diffs": 0,
        "skipped_frames": 0,
        "bad_frames": 0,
        "other_symbols": 0,
    }
    market = ""
    sym = symbol.upper() if symbol else ""
    synced = False
    last_id = -1  # snapshot lastUpdateId
    prev_u = -1
    pending: list[tuple[int, int, _Depth]] = []  # diffs received before the snapshot
    trade_px: list[float] = []

    def apply_diff(exch: int, local: int, d: _Depth) -> None:
        nonlocal prev_u
        if prev_u >= 0:
            if (d.pu != prev_u) if d.pu >= 0 else (d.U != prev_u + 1):
                stats["gaps"] += 1
        elif last_id >= 0 and not replay and d.U > (last_id if d.pu >= 0 else last_id + 1):
            # the first diff after the snapshot must straddle it (Binance's procedure)
            stats["gaps"] += 1
        prev_u = d.u
        n = len(b.raw)
        b.levels(EV_BID, exch, local, d.b, n)
        b.levels(EV_ASK, exch, local, d.a, n)

    for recv, frame in frames:
        stats["frames"] += 1
        try:
            w = _WRAPPER.decode(frame)
        except msgspec.DecodeError:
            stats["bad_frames"] += 1
            continue
        if not w.stream:
            try:
                snap = _SNAPSHOT.decode(frame)
            except msgspec.DecodeError:
                stats["bad_frames"] += 1
                continue
            if snap.lastUpdateId < 0:
                stats["skipped_frames"] += 1
                continue
            bids = _levels(snap.bids)
            asks = _levels(snap.asks)
            if bids is None or asks is None:
                stats["bad_frames"] += 1
                continue
            stats["snapshots"] += 1
            exch = (snap.T or snap.E) * 1_000_000 if (snap.T or snap.E) else recv
            if bids.shape[0]:
                b.one(EV_BID_CLEAR, exch, recv, float(bids[:, 0].min()), 0.0)
                b.levels(EV_BID, exch, recv, snap.bids, len(b.raw))
            if asks.shape[0]:
                b.one(EV_ASK_CLEAR, exch, recv, float(asks[:, 0].max()), 0.0)
                b.levels(EV_ASK, exch, recv, snap.asks, len(b.raw))
            synced = True
            last_id = snap.lastUpdateId
            prev_u = -1
            for _, _, d in pending:
                if d.u <= last_id:
                    stats["dropped_stale_diffs"] += 1
                else:
                    apply_diff(exch, recv, d)
            pending.clear()
            continue
        data = bytes(w.data)
        stream = w.stream
        at = stream.find("@")
        kind = stream[at + 1 :] if at >= 0 else ""
        if kind.startswith("depth"):
            try:
                d = _DEPTH.decode(data)
            except msgspec.DecodeError:
                stats["bad_frames"] += 1
                continue
            if sym and d.s and d.s != sym:
                stats["other_symbols"] += 1
                continue
            if not sym:
                sym = d.s
            stats["depth_frames"] += 1
            if not market:
                market = "futures" if d.pu >= 0 or d.T else "spot"
            exch = (d.T or d.E) * 1_000_000
            if replay:
                apply_diff(exch, recv, d)
                continue
            if last_id >= 0 and d.u <= last_id:
                stats["dropped_stale_diffs"] += 1
                continue
            if not synced:
                pending.append((exch, recv, d))
                continue
            apply_diff(exch, recv, d)
        elif kind in ("trade", "aggTrade"):
            try:
                t = _TRADE.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                stats["bad_frames"] += 1
                continue
            if sym and t.s and t.s != sym:
                stats["other_symbols"] += 1
                continue
            if t.X not in ("", "MARKET") or not (t.p > 0.0 and t.q > 0.0):
                stats["skipped_frames"] += 1
                continue
            stats["trades"] += 1
            # spot trades carry no X: they use E, like spot depth; futures use T
            ms = t.E if not t.X else (t.T or t.E)
            b.one(EV_SELL_TRADE if t.m else EV_BUY_TRADE, ms * 1_000_000, recv, t.p, t.q)
            trade_px.append(t.p)
        else:
            stats["skipped_frames"] += 1
    if not synced:
        # no snapshot: build the book from the diffs alone
        for exch, recv, d in pending:
            apply_diff(exch, recv, d)
    if not b.kind:
        raise TickDataError("the recording holds no depth or trade rows for a symbol")
    kind_a, exch_a, local_a, px_a, qty_a = b.build(stats)

    valid = np.isfinite(px_a) & np.isfinite(qty_a) & (qty_a >= 0) & (px_a > 0)
    stats["bad_levels"] = int((~valid).sum())
    if tick_size is None:
        tick_size = _decimals_step(px_a[valid & (kind_a <= EV_SELL_TRADE)])
    if lot_size is None:
        q = qty_a[valid & (qty_a > 0) & (kind_a <= EV_SELL_TRADE)]
        lot_size = _decimals_step(q)
    if not (tick_size > 0) or not (lot_size > 0):
        raise TickDataError(
            f"tick_size and lot_size must be positive, got {tick_size} and {lot_size}"
        )
    ticks = np.floor(px_a / tick_size + 0.5)
    ticks[~valid] = 0
    # The books cover the traded range plus ``book_margin`` on each side (like a
    # region-of-interest depth); levels further out cannot meet an order near the
    # market, cost cache misses and page faults, and are dropped (counted).
    ref_src = np.asarray(trade_px) if trade_px else px_a[valid & (kind_a <= EV_ASK)]
    ref = int(np.floor(np.median(ref_src) / tick_size + 0.5))
    lo_px = float(ref_src.min()) * (1.0 - book_margin)
    hi_px = float(ref_src.max()) * (1.0 + book_margin)
    lo = max(int(ticks[valid].min()), int(lo_px / tick_size), ref - MAX_BOOK_TICKS // 2)
    hi = min(int(ticks[valid].max()), int(hi_px / tick_size) + 1, ref + MAX_BOOK_TICKS // 2 - 1)
    clears = (kind_a == EV_BID_CLEAR) | (kind_a == EV_ASK_CLEAR)
    inside = valid & (((ticks >= lo) & (ticks <= hi)) | clears)
    stats["dropped_out_of_range"] = int((valid & ~inside).sum())
    keep = inside
    idx = np.clip(ticks[keep] - lo, -1, hi - lo + 1).astype(np.int32)
    kind_a = kind_a[keep]
    exch_a = exch_a[keep]
    local_a = local_a[keep]
    qty_a = np.where(qty_a[keep] < 0.5 * lot_size, 0.0, qty_a[keep])

    skew = int((local_a - exch_a).min()) if local_a.size else 0
    shift = -skew if skew < 0 else 0
    if shift:
        local_a = local_a + shift
    stats["local_shift_ns"] = shift
    stats["synced"] = synced
    x_order = np.argsort(exch_a, kind="stable")
    l_order = np.argsort(local_a, kind="stable")
    data = TickData(
        kind=kind_a,
        exch_ts=exch_a,
        local_ts=local_a,
        idx=idx,
        qty=qty_a,
        x_order=x_order,
        l_order=l_order,
        tick_size=float(tick_size),
        lot_size=float(lot_size),
        tick_base=lo,
        n_ticks=hi - lo + 1,
        symbol=sym,
        market=market or "spot",
        stats=stats,
    )
    data.streams()
    return data


def convert_recording(
    path: str | os.PathLike[str],
    tick_size: float | None = None,
    lot_size: float | None = None,
    symbol: str | None = None,
    book_margin: float = 0.02,
    sync: str = "binance",
) -> TickData:
    """Read and convert a recording file; see :func:`convert_frames`."""
    reader = RecordingReader(path)
    data = convert_frames(reader, tick_size, lot_size, symbol, book_margin, sync)
    data.stats["bad_lines"] = reader.bad_lines
    data.stats["truncated"] = reader.truncated
    return data
