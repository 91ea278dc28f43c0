"""Compiled tick-level backtest core: an exchange and a local view of one instrument.

The model follows hftbacktest's: the *exchange* processes market data at the
exchange timestamp and matches our orders against its own L2 book and trades;
the *local* side (what a strategy sees) processes the same data at the local
receive timestamp. Orders travel local → exchange with an entry latency and
responses travel back with a response latency, so a strategy never sees
anything before it could have known it.

Everything lives in a :class:`TBState` structref of numpy arrays, so njit
strategies call these functions directly and Python strategies call the same
functions through :mod:`adapters.paper.tickbt`. Market events between two
strategy wake-ups are processed here without returning to Python.

Data layout (made by :mod:`adapters.paper.tickdata`): two streams of rows,
``x_*`` sorted by exchange time and ``l_*`` sorted by local time, each row a
kind (``EV_*``), a timestamp (ns), a price index relative to the book's
lowest tick (``tick_base``) and a quantity. Books are float64 arrays indexed
by that price index, so a level update is one store.

Queue models (``QUEUE_*``), per resting order, ``front`` = quantity ahead:

* risk-averse: ``front`` starts at the level's quantity, a trade at our price
  reduces it by the trade quantity, a depth change sets it to
  ``min(front, new level qty)``; we fill only with what trades past zero.
* probabilistic (power ``n`` or log): a level decrease that is not explained
  by trades is split between the front and the back of the queue with
  probability ``f(back) / (f(back) + f(front))``, as in Rigtorp's model and
  hftbacktest's ``ProbQueueModel``.

A resting order also fills in full (as maker, at its price) when a trade
prints through its price or the opposite best crosses it. Crossing limit
orders take liquidity level by level (taker) up to their price; what is left
rests. Post-only (``TIF_GTX``) orders that would cross are rejected.
Taker fills do not remove liquidity from the recorded book (no market
impact), and the book is never crossed: a bid at or above the best ask
deletes the asks it crosses, and the reverse.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, types
from numba.experimental import structref

# --- event kinds (data rows) --------------------------------------------------------------
EV_BID = 1  #: bid level update (qty 0 deletes)
EV_ASK = 2  #: ask level update
EV_BUY_TRADE = 3  #: trade whose taker bought (lifted the ask)
EV_SELL_TRADE = 4  #: trade whose taker sold (hit the bid)
EV_BID_CLEAR = 5  #: delete every bid level at or above the row's price index
EV_ASK_CLEAR = 6  #: delete every ask level at or below the row's price index

# --- order fields -------------------------------------------------------------------------
BUY = 1
SELL = -1
TYPE_LIMIT = 0
TYPE_MARKET = 1
TIF_GTC = 0
TIF_GTX = 1  #: post-only
TIF_IOC = 2
TIF_FOK = 3

ST_NONE = 0
ST_PENDING = 1  #: sent, no answer yet (local only)
ST_NEW = 2  #: resting
ST_PARTIAL = 3
ST_FILLED = 4
ST_CANCELED = 5
ST_EXPIRED = 6  #: IOC/FOK remainder, post-only that would cross, market remainder
ST_REJECTED = 7

REQ_NONE = 0
REQ_NEW = 1
REQ_CANCEL = 2

QUEUE_RISK_AVERSE = 0
QUEUE_POWER = 1
QUEUE_LOG = 2

LAT_CONSTANT = 0
LAT_SERIES = 1

# --- elapse results -----------------------------------------------------------------------
RUN_TIMEOUT = 0  #: the requested time passed
RUN_END = 1  #: no more data
WAKE_FILL = 2  #: a fill (or a terminal order state) reached the local side
WAKE_BBO = 4  #: the local best bid/ask price or size changed
WAKE_TRADE = 8  #: a trade reached the local side
ERR_FILL_LOG_FULL = -1
ERR_ORDER_LOG_FULL = -2
ERR_MSG_QUEUE_FULL = -3

# --- submit/cancel errors -------------------------------------------------------------------
E_BAD_QTY = -1
E_BAD_PRICE = -2
E_OUT_OF_RANGE = -3
E_TOO_MANY_ORDERS = -4
E_UNKNOWN_ORDER = -5
E_NOT_CANCELABLE = -6
E_BAD_PARAM = -7
E_QUEUE_FULL = -8
E_VENUE_REFUSED = -9

# --- scalar slots: si (int64) -------------------------------------------------------------
SI_XCUR = 0
SI_LCUR = 1
SI_CUR_TS = 2
SI_XBB = 3
SI_XBA = 4
SI_LBB = 5
SI_LBA = 6
SI_NEXT_ID = 7
SI_N_XLIVE = 8
SI_N_REQ = 9
SI_N_RESP = 10
SI_N_FILLS = 11
SI_N_OLOG = 12
SI_N_EQ = 13
SI_ERROR = 14
SI_N_SUBMITTED = 15
SI_N_USED = 16
SI_LTRADES = 17  #: trades seen locally since the last wake-up
SI_X_ROWS = 18
SI_L_ROWS = 19
SI_NEXT_EQ_TS = 20
SI_EQ_INTERVAL = 21
SI_N_CANCELED = 22
SI_MAKER_FILLS = 23
SI_TAKER_FILLS = 24
SI_QUEUE_MODEL = 25
SI_LAT_MODEL = 26
SI_TICK_BASE = 27
SI_N_REJECTED = 28
SI_N_EXPIRED = 29
SI_NEXT_REQ_TS = 30
SI_NEXT_RESP_TS = 31
SI_MSG_SEQ = 32
SI_START_TS = 33
SI_POST_ONLY_REJECTS = 34
SI_JITTER_I = 35
SI_MIN_SELL = 36  #: lowest price index of our resting sells (huge when none)
SI_MAX_BUY = 37  #: highest price index of our resting buys (-huge when none)
SI_MIN_BUY = 39  #: lowest price index of our resting buys (huge when none)
SI_MAX_SELL = 40  #: highest price index of our resting sells (-huge when none)
SI_PARTIAL = 38  #: 1: queue fills execute what traded past us; 0: the whole order (hftbacktest's
#: no-partial-fill exchange)
SI_SIZE = 48

# --- scalar slots: sf (float64) -----------------------------------------------------------
SF_X_POS = 0
SF_X_CASH = 1
SF_X_FEE = 2
SF_X_VOLUME = 3
SF_X_NOTIONAL = 4
SF_L_POS = 5
SF_L_CASH = 6
SF_L_FEE = 7
SF_LAST_PX = 8
SF_LAST_QTY = 9
SF_TICK = 10
SF_LOT = 11
SF_MAKER_FEE = 12
SF_TAKER_FEE = 13
SF_ENTRY_LAT = 14
SF_RESP_LAT = 15
SF_QUEUE_N = 16
SF_X_AVG_PX = 17
SF_X_REALIZED = 18
SF_LTRADE_VOL = 19
SF_SIZE = 24

# --- order table columns ------------------------------------------------------------------
OI_ID = 0
OI_SIDE = 1
OI_TICK = 2
OI_TYPE = 3
OI_TIF = 4
OI_XST = 5
OI_LST = 6
OI_LREQ = 7
OI_SUBMIT_TS = 8
OI_XTS = 9
OI_LTS = 10
OI_USED = 11
OI_INFLIGHT = 12
OI_SIZE = 13

OF_QTY = 0
OF_X_LEAVES = 1
OF_L_LEAVES = 2
OF_FRONT = 3
OF_CUM_TRADE = 4
OF_X_FILLED = 5
OF_L_FILLED = 6
OF_X_NOTIONAL = 7
OF_L_NOTIONAL = 8
OF_SIZE = 9

# messages: mi (int64) / mf (float64)
MI_TS = 0
MI_SLOT = 1
MI_KIND = 2  #: requests: REQ_*; responses: the order status after the event
MI_SEQ = 3
MI_MAKER = 4
MI_SIZE = 5
MF_QTY = 0  #: fill quantity (responses)
MF_PX = 1
MF_LEAVES = 2
MF_SIZE = 3

# fill log
FI_TS = 0
FI_LOCAL_TS = 1
FI_ID = 2
FI_SIDE = 3
FI_MAKER = 4
FI_SIZE = 5
FF_PX = 0
FF_QTY = 1
FF_FEE = 2
FF_POS = 3
FF_CASH = 4
FF_SIZE = 5

# order log (one row per order when the local side sees it end)
LI_ID = 0
LI_SIDE = 1
LI_TYPE = 2
LI_TIF = 3
LI_SUBMIT_TS = 4
LI_END_TS = 5
LI_STATUS = 6
LI_SIZE = 7
LF_PX = 0
LF_QTY = 1
LF_FILLED = 2
LF_AVG_PX = 3
LF_SIZE = 4

# equity curve
EF_EQUITY = 0
EF_POS = 1
EF_CASH = 2
EF_MID = 3
EF_SIZE = 4

MAX_TS = np.iinfo(np.int64).max

#: Field names of :class:`TBState`, in constructor order.
STATE_FIELDS = (
    "x_ts", "x_kind", "x_idx", "x_qty",  # exchange stream
    "l_ts", "l_kind", "l_idx", "l_qty",  # local stream
    "xbid", "xask", "lbid", "lask",  # books by price index
    "si", "sf",  # scalars
    "oi", "of",  # order table
    "used", "xlive",  # slot lists: used by the local side, resting at the exchange
    "rq_i", "rq_f", "rs_i", "rs_f",  # messages in flight: requests, responses
    "fl_i", "fl_f",  # fill log
    "ol_i", "ol_f",  # order log
    "eq_ts", "eq_f",  # equity curve
    "lat_req", "lat_exch", "lat_resp",  # recorded order latency series
    "lat_rx", "lat_rl",  # its accepted rows by exchange time: response latency
    "jitter",  # extra entry latency per request, cycled (drawn from the seed)
)  # fmt: skip


@structref.register
class TBStateType(types.StructRef):
    """Numba type of :class:`TBState`."""

    def preprocess_fields(self, fields: Any) -> Any:
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class TBState(structref.StructRefProxy):
    """All arrays of one backtest, passed to compiled code as a single reference.

    A structref, not a tuple: numba passes a tuple of 34 arrays by value, which
    cost ~0.5 µs per call into the core; a structref is one pointer. From
    Python, ``state.si`` etc. are the same arrays (shared memory, not copies).
    """

    _arrays: dict[str, np.ndarray]

    def __new__(cls, *arrays: np.ndarray) -> TBState:
        return structref.StructRefProxy.__new__(cls, *arrays)

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__.get("_arrays")
        if arrays is None or name not in arrays:
            raise AttributeError(name)
        return arrays[name]


structref.define_constructor(TBState, TBStateType, list(STATE_FIELDS))
structref.define_boxing(TBStateType, TBState)


def make_state(**arrays: np.ndarray) -> TBState:
    """Build a :class:`TBState` from keyword arrays (every name of :data:`STATE_FIELDS`)."""
    missing = [n for n in STATE_FIELDS if n not in arrays]
    if missing:
        raise TypeError(f"make_state: missing arrays {missing}")
    state = TBState(*(arrays[n] for n in STATE_FIELDS))
    state.__dict__["_arrays"] = {n: arrays[n] for n in STATE_FIELDS}
    return state


# ================================================================== latency
@njit(cache=True)
def _interp(x: int, x1: int, y1: int, x2: int, y2: int) -> int:
    if x2 == x1:
        return y1
    return y1 + int((y2 - y1) * ((x - x1) / (x2 - x1)))


@njit(cache=True)
def entry_latency(s: TBState, ts: int) -> int:
    """Local → exchange latency for a request sent at ``ts`` (ns); negative = venue rejects."""
    lat = _entry_base(s, ts)
    if lat >= 0:
        n = s.jitter.shape[0]
        lat += s.jitter[s.si[SI_JITTER_I] % n]
        s.si[SI_JITTER_I] += 1
    return lat


@njit(cache=True)
def _entry_base(s: TBState, ts: int) -> int:
    if s.si[SI_LAT_MODEL] == LAT_CONSTANT:
        return int(s.sf[SF_ENTRY_LAT])
    req = s.lat_req
    n = req.shape[0]
    j = np.searchsorted(req, ts, side="right") - 1
    if j < 0:
        j = 0
    k = min(j + 1, n - 1)
    if s.lat_exch[j] <= 0 or s.lat_exch[k] <= 0:
        lat1 = s.lat_resp[j] - req[j]
        lat2 = s.lat_resp[k] - req[k]
        return -max(_interp(ts, req[j], lat1, req[k], lat2), 1)
    if ts <= req[0] or j == n - 1:
        return s.lat_exch[j] - req[j]
    return _interp(ts, req[j], s.lat_exch[j] - req[j], req[k], s.lat_exch[k] - req[k])


@njit(cache=True)
def response_latency(s: TBState, ts: int) -> int:
    """Exchange → local latency for a response the exchange sends at ``ts`` (ns).

    Interpolated over the series rows the venue accepted (``exch_ts > 0``),
    ordered by exchange time.
    """
    if s.si[SI_LAT_MODEL] == LAT_CONSTANT:
        return int(s.sf[SF_RESP_LAT])
    rx = s.lat_rx
    rl = s.lat_rl
    n = rx.shape[0]
    j = np.searchsorted(rx, ts, side="right") - 1
    if j < 0:
        return max(rl[0], 0)
    if j >= n - 1:
        return max(rl[n - 1], 0)
    return max(_interp(ts, rx[j], rl[j], rx[j + 1], rl[j + 1]), 0)


# ================================================================== messages
@njit(cache=True)
def _push(
    mi: np.ndarray,
    mf: np.ndarray,
    si: np.ndarray,
    n_slot: int,
    next_slot: int,
    ts: int,
    slot: int,
    kind: int,
    maker: int,
    qty: float,
    px: float,
    leaves: float,
) -> bool:
    n = si[n_slot]
    if n >= mi.shape[0]:
        si[SI_ERROR] = ERR_MSG_QUEUE_FULL
        return False
    mi[n, MI_TS] = ts
    mi[n, MI_SLOT] = slot
    mi[n, MI_KIND] = kind
    si[SI_MSG_SEQ] += 1
    mi[n, MI_SEQ] = si[SI_MSG_SEQ]
    mi[n, MI_MAKER] = maker
    mf[n, MF_QTY] = qty
    mf[n, MF_PX] = px
    mf[n, MF_LEAVES] = leaves
    si[n_slot] = n + 1
    if ts < si[next_slot]:
        si[next_slot] = ts
    return True


# ================================================================== book helpers
@njit(cache=True, inline="always")
def _bid_below(book: np.ndarray, start: int) -> int:
    i = start
    while i >= 0 and book[i] <= 0.0:
        i -= 1
    return i


@njit(cache=True, inline="always")
def _ask_above(book: np.ndarray, start: int) -> int:
    n = book.shape[0]
    i = start
    while i < n and book[i] <= 0.0:
        i += 1
    return i


@njit(cache=True, inline="always")
def _upd_bid(
    bid: np.ndarray, ask: np.ndarray, bb: int, ba: int, idx: int, qty: float
) -> tuple[int, int]:
    """Bid level update on locals; returns the new (best bid, best ask) indices, never crossed."""
    bid[idx] = qty
    if qty > 0.0:
        if idx > bb:
            bb = idx
            if idx >= ba:
                for j in range(ba, idx + 1):
                    ask[j] = 0.0
                ba = _ask_above(ask, idx + 1)
    elif idx == bb:
        bb = _bid_below(bid, idx - 1)
    return bb, ba


@njit(cache=True, inline="always")
def _upd_ask(
    bid: np.ndarray, ask: np.ndarray, bb: int, ba: int, idx: int, qty: float
) -> tuple[int, int]:
    ask[idx] = qty
    if qty > 0.0:
        if idx < ba:
            ba = idx
            if idx <= bb:
                for j in range(idx, bb + 1):
                    bid[j] = 0.0
                bb = _bid_below(bid, idx - 1)
    elif idx == ba:
        ba = _ask_above(ask, idx + 1)
    return bb, ba


@njit(cache=True, inline="always")
def _book_bid(bid: np.ndarray, ask: np.ndarray, si: np.ndarray, bb_slot: int, ba_slot: int,
              idx: int, qty: float) -> None:  # fmt: skip
    """Apply a bid level to a book whose bests live in ``si``; keeps the book uncrossed."""
    bid[idx] = qty
    bb = si[bb_slot]
    if qty > 0.0:
        if idx > bb:
            si[bb_slot] = idx
            ba = si[ba_slot]
            if idx >= ba:
                for j in range(ba, idx + 1):
                    ask[j] = 0.0
                si[ba_slot] = _ask_above(ask, idx + 1)
    elif idx == bb:
        si[bb_slot] = _bid_below(bid, idx - 1)


@njit(cache=True, inline="always")
def _book_ask(bid: np.ndarray, ask: np.ndarray, si: np.ndarray, bb_slot: int, ba_slot: int,
              idx: int, qty: float) -> None:  # fmt: skip
    ask[idx] = qty
    ba = si[ba_slot]
    if qty > 0.0:
        if idx < ba:
            si[ba_slot] = idx
            bb = si[bb_slot]
            if idx <= bb:
                for j in range(idx, bb + 1):
                    bid[j] = 0.0
                si[bb_slot] = _bid_below(bid, idx - 1)
    elif idx == ba:
        si[ba_slot] = _ask_above(ask, idx + 1)


@njit(cache=True)
def _book_clear(bid: np.ndarray, ask: np.ndarray, si: np.ndarray, bb_slot: int, ba_slot: int,
                kind: int, idx: int) -> None:  # fmt: skip
    n = bid.shape[0]
    if kind == EV_BID_CLEAR:
        bb = si[bb_slot]
        for j in range(max(idx, 0), bb + 1):
            bid[j] = 0.0
        si[bb_slot] = _bid_below(bid, min(max(idx - 1, -1), n - 1))
    else:
        ba = si[ba_slot]
        for j in range(ba, min(idx, n - 1) + 1):
            ask[j] = 0.0
        si[ba_slot] = _ask_above(ask, max(min(idx + 1, n), 0))


# ================================================================== exchange side
@njit(cache=True, inline="always")
def _price(s: TBState, idx: int) -> float:
    return (idx + s.si[SI_TICK_BASE]) * s.sf[SF_TICK]


@njit(cache=True)
def _is_done(st: int) -> bool:
    return st >= ST_FILLED


@njit(cache=True)
def _respond(
    s: TBState, slot: int, ts: int, status: int, maker: int, qty: float, px: float
) -> None:
    s.oi[slot, OI_INFLIGHT] += 1
    lat = response_latency(s, ts)
    _push(s.rs_i, s.rs_f, s.si, SI_N_RESP, SI_NEXT_RESP_TS, ts + lat, slot, status, maker, qty, px,
          s.of[slot, OF_X_LEAVES])  # fmt: skip


@njit(cache=True)
def _extremes(s: TBState) -> None:
    """Refresh the price range of our resting orders (the hot loop only calls out inside it)."""
    lo_s = MAX_TS
    hi_s = -MAX_TS
    lo_b = MAX_TS
    hi_b = -MAX_TS
    for j in range(s.si[SI_N_XLIVE]):
        slot = s.xlive[j]
        t = s.oi[slot, OI_TICK]
        if s.oi[slot, OI_SIDE] == SELL:
            lo_s = min(lo_s, t)
            hi_s = max(hi_s, t)
        else:
            lo_b = min(lo_b, t)
            hi_b = max(hi_b, t)
    s.si[SI_MIN_SELL] = lo_s
    s.si[SI_MAX_SELL] = hi_s
    s.si[SI_MIN_BUY] = lo_b
    s.si[SI_MAX_BUY] = hi_b


@njit(cache=True)
def _unrest(s: TBState, slot: int) -> None:
    """Remove a resting order from the exchange's lists."""
    si = s.si
    n = si[SI_N_XLIVE]
    for j in range(n):
        if s.xlive[j] == slot:
            s.xlive[j] = s.xlive[n - 1]
            si[SI_N_XLIVE] = n - 1
            break
    _extremes(s)


@njit(cache=True)
def _fill(s: TBState, slot: int, ts: int, idx: int, qty: float, maker: bool) -> None:
    """Execute ``qty`` of the order in ``slot`` at price index ``idx`` on the exchange."""
    si = s.si
    sf = s.sf
    oi = s.oi
    of = s.of
    px = _price(s, idx)
    side = oi[slot, OI_SIDE]
    rate = sf[SF_MAKER_FEE] if maker else sf[SF_TAKER_FEE]
    fee = rate * px * qty
    pos = sf[SF_X_POS]
    new_pos = pos + side * qty
    # realized P&L, average-cost method
    if pos == 0.0 or (pos > 0.0) == (side > 0):
        sf[SF_X_AVG_PX] = (sf[SF_X_AVG_PX] * abs(pos) + px * qty) / abs(new_pos)
    else:
        closed = min(qty, abs(pos))
        sf[SF_X_REALIZED] += (px - sf[SF_X_AVG_PX]) * closed * (1.0 if pos > 0.0 else -1.0)
        if abs(new_pos) < 0.5 * sf[SF_LOT]:
            new_pos = 0.0
            sf[SF_X_AVG_PX] = 0.0
        elif (new_pos > 0.0) != (pos > 0.0):
            sf[SF_X_AVG_PX] = px
    sf[SF_X_POS] = new_pos
    sf[SF_X_CASH] -= side * px * qty + fee
    sf[SF_X_FEE] += fee
    sf[SF_X_VOLUME] += qty
    sf[SF_X_NOTIONAL] += px * qty
    leaves = of[slot, OF_X_LEAVES] - qty
    if leaves < 0.5 * sf[SF_LOT]:
        leaves = 0.0
    of[slot, OF_X_LEAVES] = leaves
    of[slot, OF_X_FILLED] += qty
    of[slot, OF_X_NOTIONAL] += px * qty
    status = ST_FILLED if leaves == 0.0 else ST_PARTIAL
    oi[slot, OI_XST] = status
    oi[slot, OI_XTS] = ts
    if maker:
        si[SI_MAKER_FILLS] += 1
    else:
        si[SI_TAKER_FILLS] += 1
    n = si[SI_N_FILLS]
    lat = response_latency(s, ts)
    if n < s.fl_i.shape[0]:
        s.fl_i[n, FI_TS] = ts
        s.fl_i[n, FI_LOCAL_TS] = ts + lat
        s.fl_i[n, FI_ID] = oi[slot, OI_ID]
        s.fl_i[n, FI_SIDE] = side
        s.fl_i[n, FI_MAKER] = 1 if maker else 0
        s.fl_f[n, FF_PX] = px
        s.fl_f[n, FF_QTY] = qty
        s.fl_f[n, FF_FEE] = fee
        s.fl_f[n, FF_POS] = new_pos
        s.fl_f[n, FF_CASH] = sf[SF_X_CASH]
        si[SI_N_FILLS] = n + 1
    else:
        si[SI_ERROR] = ERR_FILL_LOG_FULL
    _respond(s, slot, ts, status, 1 if maker else 0, qty, px)


@njit(cache=True)
def _end_order(s: TBState, slot: int, ts: int, status: int) -> None:
    """Cancel / expire / reject at the exchange and tell the local side."""
    s.oi[slot, OI_XST] = status
    s.oi[slot, OI_XTS] = ts
    s.of[slot, OF_X_LEAVES] = 0.0
    if status == ST_EXPIRED:
        s.si[SI_N_EXPIRED] += 1
    elif status == ST_REJECTED:
        s.si[SI_N_REJECTED] += 1
    elif status == ST_CANCELED:
        s.si[SI_N_CANCELED] += 1
    _respond(s, slot, ts, status, 0, 0.0, 0.0)


@njit(cache=True)
def _q_prob(s: TBState, front: float, back: float) -> float:
    if s.si[SI_QUEUE_MODEL] == QUEUE_POWER:
        n = s.sf[SF_QUEUE_N]
        fb = max(back, 0.0) ** n
        ff = max(front, 0.0) ** n
    else:
        fb = np.log1p(max(back, 0.0))
        ff = np.log1p(max(front, 0.0))
    tot = fb + ff
    if tot <= 0.0 or not np.isfinite(tot):
        return 1.0
    return fb / tot


@njit(cache=True)
def _q_depth(s: TBState, slot: int, prev: float, new: float) -> None:
    of = s.of
    if s.si[SI_QUEUE_MODEL] == QUEUE_RISK_AVERSE:
        if new < of[slot, OF_FRONT]:
            of[slot, OF_FRONT] = new
        return
    chg = prev - new - of[slot, OF_CUM_TRADE]
    of[slot, OF_CUM_TRADE] = 0.0
    front = of[slot, OF_FRONT]
    if chg < 0.0:
        of[slot, OF_FRONT] = min(front, new)
        return
    back = prev - front
    p = _q_prob(s, front, back)
    est = front - (1.0 - p) * chg + min(back - p * chg, 0.0)
    of[slot, OF_FRONT] = min(est, new)


@njit(cache=True)
def _level_changed(s: TBState, side: int, idx: int, prev: float, new: float) -> None:
    si = s.si
    for j in range(si[SI_N_XLIVE]):
        slot = s.xlive[j]
        if s.oi[slot, OI_SIDE] == side and s.oi[slot, OI_TICK] == idx:
            _q_depth(s, slot, prev, new)


@njit(cache=True)
def _fill_crossed(s: TBState, side: int, limit: int, ts: int) -> None:
    """Fill (in full, as maker) our resting ``side`` orders the opposite best has crossed."""
    si = s.si
    j = 0
    while j < si[SI_N_XLIVE]:
        slot = s.xlive[j]
        t = s.oi[slot, OI_TICK]
        if s.oi[slot, OI_SIDE] == side and (
            (side == SELL and t <= limit) or (side == BUY and t >= limit)
        ):
            _fill(s, slot, ts, t, s.of[slot, OF_X_LEAVES], True)
            _unrest(s, slot)  # swaps the last live order into j: look at j again
        else:
            j += 1


@njit(cache=True)
def _trade_vs_resting(s: TBState, side: int, idx: int, qty: float, ts: int) -> None:
    """A trade at ``idx``: our ``side`` orders priced through it fill, at it they queue."""
    si = s.si
    lot = s.sf[SF_LOT]
    j = 0
    while j < si[SI_N_XLIVE]:
        slot = s.xlive[j]
        t = s.oi[slot, OI_TICK]
        removed = False
        if s.oi[slot, OI_SIDE] == side:
            through = (t > idx) if side == BUY else (t < idx)
            if through:
                _fill(s, slot, ts, t, s.of[slot, OF_X_LEAVES], True)
                _unrest(s, slot)
                removed = True
            elif t == idx:
                s.of[slot, OF_FRONT] -= qty
                s.of[slot, OF_CUM_TRADE] += qty
                front = s.of[slot, OF_FRONT]
                if front < 0.0:
                    lots = np.floor(-front / lot + 0.5)
                    if lots > 0.0:
                        s.of[slot, OF_FRONT] = 0.0
                        ex = s.of[slot, OF_X_LEAVES]
                        if si[SI_PARTIAL] == 1:
                            ex = min(lots * lot, ex)
                        _fill(s, slot, ts, t, ex, True)
                        if s.oi[slot, OI_XST] == ST_FILLED:
                            _unrest(s, slot)
                            removed = True
        if not removed:
            j += 1


@njit(cache=True)
def _x_bid_orders(s: TBState, idx: int, prev: float, qty: float, ts: int) -> None:
    """A bid level changed where our orders may care: queue position, crossed sells."""
    if s.si[SI_MIN_BUY] <= idx <= s.si[SI_MAX_BUY]:
        _level_changed(s, BUY, idx, prev, qty)
    if qty > 0.0 and idx == s.si[SI_XBB] and idx >= s.si[SI_MIN_SELL]:
        _fill_crossed(s, SELL, idx, ts)


@njit(cache=True)
def _x_ask_orders(s: TBState, idx: int, prev: float, qty: float, ts: int) -> None:
    if s.si[SI_MIN_SELL] <= idx <= s.si[SI_MAX_SELL]:
        _level_changed(s, SELL, idx, prev, qty)
    if qty > 0.0 and idx == s.si[SI_XBA] and idx <= s.si[SI_MAX_BUY]:
        _fill_crossed(s, BUY, idx, ts)


@njit(cache=True)
def _take(s: TBState, slot: int, ts: int, limit: int, dry: bool) -> float:
    """Walk the opposite side up to price index ``limit``; returns the quantity available/taken."""
    side = s.oi[slot, OI_SIDE]
    want = s.of[slot, OF_X_LEAVES]
    got = 0.0
    lot = s.sf[SF_LOT]
    if side == BUY:
        book = s.xask
        i = s.si[SI_XBA]
        while i <= limit and i < book.shape[0] and want - got >= 0.5 * lot:
            q = book[i]
            if q > 0.0:
                ex = min(q, want - got)
                if not dry:
                    _fill(s, slot, ts, i, ex, False)
                got += ex
            i += 1
    else:
        book = s.xbid
        i = s.si[SI_XBB]
        while i >= limit and i >= 0 and want - got >= 0.5 * lot:
            q = book[i]
            if q > 0.0:
                ex = min(q, want - got)
                if not dry:
                    _fill(s, slot, ts, i, ex, False)
                got += ex
            i -= 1
    return got


@njit(cache=True)
def _rest(s: TBState, slot: int, ts: int) -> None:
    si = s.si
    idx = s.oi[slot, OI_TICK]
    if s.oi[slot, OI_SIDE] == BUY:
        s.of[slot, OF_FRONT] = s.xbid[idx]
    else:
        s.of[slot, OF_FRONT] = s.xask[idx]
    s.of[slot, OF_CUM_TRADE] = 0.0
    s.xlive[si[SI_N_XLIVE]] = slot
    si[SI_N_XLIVE] += 1
    _extremes(s)
    if s.oi[slot, OI_XST] != ST_PARTIAL:
        s.oi[slot, OI_XST] = ST_NEW
    s.oi[slot, OI_XTS] = ts
    _respond(s, slot, ts, s.oi[slot, OI_XST], 0, 0.0, 0.0)


@njit(cache=True)
def _x_new(s: TBState, slot: int, ts: int) -> None:
    """A new order arrives at the exchange."""
    si = s.si
    oi = s.oi
    side = oi[slot, OI_SIDE]
    idx = oi[slot, OI_TICK]
    n_book = s.xbid.shape[0]
    if oi[slot, OI_TYPE] == TYPE_MARKET:
        limit = n_book - 1 if side == BUY else 0
        _take(s, slot, ts, limit, False)
        if oi[slot, OI_XST] != ST_FILLED:
            _end_order(s, slot, ts, ST_EXPIRED)
        return
    crosses = (side == BUY and idx >= si[SI_XBA]) or (side == SELL and idx <= si[SI_XBB])
    tif = oi[slot, OI_TIF]
    if not crosses:
        if tif == TIF_IOC or tif == TIF_FOK:
            _end_order(s, slot, ts, ST_EXPIRED)
        else:
            _rest(s, slot, ts)
        return
    if tif == TIF_GTX:
        si[SI_POST_ONLY_REJECTS] += 1
        _end_order(s, slot, ts, ST_EXPIRED)
        return
    if tif == TIF_FOK:
        avail = _take(s, slot, ts, idx, True)
        if avail < s.of[slot, OF_X_LEAVES] - 0.5 * s.sf[SF_LOT]:
            _end_order(s, slot, ts, ST_EXPIRED)
            return
    _take(s, slot, ts, idx, False)
    if oi[slot, OI_XST] == ST_FILLED:
        return
    if tif == TIF_GTC:
        _rest(s, slot, ts)
    else:
        _end_order(s, slot, ts, ST_EXPIRED)


@njit(cache=True)
def _x_cancel(s: TBState, slot: int, ts: int) -> None:
    st = s.oi[slot, OI_XST]
    if st == ST_NEW or st == ST_PARTIAL:
        _unrest(s, slot)
        _end_order(s, slot, ts, ST_CANCELED)
    else:
        # too late: already filled/ended; tell the local side the current state
        _respond(s, slot, ts, st, 0, 0.0, 0.0)


# ================================================================== local side
@njit(cache=True, inline="always")
def _l_row(
    lbid: np.ndarray,
    lask: np.ndarray,
    si: np.ndarray,
    sf: np.ndarray,
    kind: int,
    idx: int,
    qty: float,
) -> None:
    if kind == EV_BID:
        _book_bid(lbid, lask, si, SI_LBB, SI_LBA, idx, qty)
    elif kind == EV_ASK:
        _book_ask(lbid, lask, si, SI_LBB, SI_LBA, idx, qty)
    elif kind == EV_BUY_TRADE or kind == EV_SELL_TRADE:
        si[SI_LTRADES] += 1
        sf[SF_LAST_PX] = (idx + si[SI_TICK_BASE]) * sf[SF_TICK]
        sf[SF_LAST_QTY] = qty if kind == EV_BUY_TRADE else -qty
        sf[SF_LTRADE_VOL] += qty
    else:
        _book_clear(lbid, lask, si, SI_LBB, SI_LBA, kind, idx)


@njit(cache=True)
def _log_order(s: TBState, slot: int, ts: int) -> None:
    si = s.si
    n = si[SI_N_OLOG]
    if n >= s.ol_i.shape[0]:
        si[SI_ERROR] = ERR_ORDER_LOG_FULL
        return
    oi = s.oi
    of = s.of
    s.ol_i[n, LI_ID] = oi[slot, OI_ID]
    s.ol_i[n, LI_SIDE] = oi[slot, OI_SIDE]
    s.ol_i[n, LI_TYPE] = oi[slot, OI_TYPE]
    s.ol_i[n, LI_TIF] = oi[slot, OI_TIF]
    s.ol_i[n, LI_SUBMIT_TS] = oi[slot, OI_SUBMIT_TS]
    s.ol_i[n, LI_END_TS] = ts
    s.ol_i[n, LI_STATUS] = oi[slot, OI_LST]
    s.ol_f[n, LF_PX] = _price(s, oi[slot, OI_TICK])
    s.ol_f[n, LF_QTY] = of[slot, OF_QTY]
    s.ol_f[n, LF_FILLED] = of[slot, OF_L_FILLED]
    s.ol_f[n, LF_AVG_PX] = (
        of[slot, OF_L_NOTIONAL] / of[slot, OF_L_FILLED] if of[slot, OF_L_FILLED] > 0 else np.nan
    )
    si[SI_N_OLOG] = n + 1


@njit(cache=True)
def _maybe_free(s: TBState, slot: int, ts: int) -> None:
    if _is_done(s.oi[slot, OI_LST]) and s.oi[slot, OI_INFLIGHT] == 0 and s.oi[slot, OI_USED] == 1:
        _log_order(s, slot, ts)
        s.oi[slot, OI_USED] = 0
        n = s.si[SI_N_USED]
        for j in range(n):
            if s.used[j] == slot:
                s.used[j] = s.used[n - 1]
                s.si[SI_N_USED] = n - 1
                break


@njit(cache=True)
def _l_response(
    s: TBState, slot: int, ts: int, st: int, maker: int, qty: float, px: float, leaves: float
) -> bool:
    """Apply a response at the local side; True when it carries a fill or ends the order."""
    oi = s.oi
    of = s.of
    sf = s.sf
    oi[slot, OI_INFLIGHT] -= 1
    if qty > 0.0:
        side = oi[slot, OI_SIDE]
        rate = sf[SF_MAKER_FEE] if maker == 1 else sf[SF_TAKER_FEE]
        fee = rate * px * qty
        sf[SF_L_POS] += side * qty
        if abs(sf[SF_L_POS]) < 0.5 * sf[SF_LOT]:
            sf[SF_L_POS] = 0.0
        sf[SF_L_CASH] -= side * px * qty + fee
        sf[SF_L_FEE] += fee
        of[slot, OF_L_FILLED] += qty
        of[slot, OF_L_NOTIONAL] += px * qty
    # responses can only move an order forward (a late "resting" ack never undoes a fill)
    cur = oi[slot, OI_LST]
    if st > cur or (st == ST_PARTIAL and cur == ST_PARTIAL):
        oi[slot, OI_LST] = st
        of[slot, OF_L_LEAVES] = leaves
    if oi[slot, OI_LREQ] == REQ_NEW and (
        _is_done(oi[slot, OI_LST]) or st == ST_NEW or st == ST_PARTIAL
    ):
        oi[slot, OI_LREQ] = REQ_NONE
    if _is_done(oi[slot, OI_LST]):
        oi[slot, OI_LREQ] = REQ_NONE
    elif oi[slot, OI_LREQ] == REQ_CANCEL and oi[slot, OI_INFLIGHT] == 0:
        oi[slot, OI_LREQ] = REQ_NONE  # the cancel came back without ending the order
    oi[slot, OI_LTS] = ts
    done = _is_done(oi[slot, OI_LST])
    _maybe_free(s, slot, ts)
    return qty > 0.0 or done


# ================================================================== main loop
@njit(cache=True)
def _equity_sample(s: TBState, ts: int) -> None:
    si = s.si
    n = si[SI_N_EQ]
    if n >= s.eq_ts.shape[0]:
        return
    mid = mid_price(s, True)
    pos = s.sf[SF_X_POS]
    cash = s.sf[SF_X_CASH]
    s.eq_ts[n] = ts
    s.eq_f[n, EF_EQUITY] = cash + (pos * mid if pos != 0.0 else 0.0)
    s.eq_f[n, EF_POS] = pos
    s.eq_f[n, EF_CASH] = cash
    s.eq_f[n, EF_MID] = mid
    si[SI_N_EQ] = n + 1
    si[SI_NEXT_EQ_TS] = ts + si[SI_EQ_INTERVAL]


@njit(cache=True)
def _next_msg(mi: np.ndarray, n: int) -> int:
    """Index of the earliest message (ties: the first sent)."""
    best = 0
    for j in range(1, n):
        if mi[j, MI_TS] < mi[best, MI_TS] or (
            mi[j, MI_TS] == mi[best, MI_TS] and mi[j, MI_SEQ] < mi[best, MI_SEQ]
        ):
            best = j
    return best


@njit(cache=True)
def _drop_msg(
    mi: np.ndarray, mf: np.ndarray, si: np.ndarray, n_slot: int, next_slot: int, j: int
) -> None:
    last = si[n_slot] - 1
    if j != last:
        mi[j] = mi[last]
        mf[j] = mf[last]
    si[n_slot] = last
    nxt = MAX_TS
    for i in range(last):
        if mi[i, MI_TS] < nxt:
            nxt = mi[i, MI_TS]
    si[next_slot] = nxt


@njit(cache=True)
def _local_response(s: TBState) -> bool:
    """Deliver the earliest response to the local side; True on a fill or a final state."""
    j = _next_msg(s.rs_i, s.si[SI_N_RESP])
    slot = s.rs_i[j, MI_SLOT]
    ts = s.rs_i[j, MI_TS]
    status = s.rs_i[j, MI_KIND]
    maker = s.rs_i[j, MI_MAKER]
    qty = s.rs_f[j, MF_QTY]
    px = s.rs_f[j, MF_PX]
    leaves = s.rs_f[j, MF_LEAVES]
    _drop_msg(s.rs_i, s.rs_f, s.si, SI_N_RESP, SI_NEXT_RESP_TS, j)
    return _l_response(s, slot, ts, status, maker, qty, px, leaves)


@njit(cache=True)
def _exchange_request(s: TBState, t: int) -> None:
    """Deliver the earliest request to the exchange."""
    j = _next_msg(s.rq_i, s.si[SI_N_REQ])
    slot = s.rq_i[j, MI_SLOT]
    kind = s.rq_i[j, MI_KIND]
    _drop_msg(s.rq_i, s.rq_f, s.si, SI_N_REQ, SI_NEXT_REQ_TS, j)
    s.oi[slot, OI_INFLIGHT] -= 1
    if kind == REQ_NEW:
        _x_new(s, slot, t)
    else:
        _x_cancel(s, slot, t)


@njit(cache=True)
def goto(s: TBState, target: int, wake: int) -> int:
    """Process everything up to ``target`` (ns) or until a ``wake`` condition; see ``RUN_*``.

    Ties at one timestamp go: responses to the local side, local market data,
    exchange market data, requests arriving at the exchange. Runs of market
    data are applied in loops that touch only the book arrays; the order logic
    runs only when one of our resting orders can be affected.
    """
    si = s.si
    sf = s.sf
    x_ts = s.x_ts
    x_kind = s.x_kind
    x_idx = s.x_idx
    x_qty = s.x_qty
    l_ts = s.l_ts
    l_kind = s.l_kind
    l_idx = s.l_idx
    l_qty = s.l_qty
    xbid = s.xbid
    xask = s.xask
    lbid = s.lbid
    lask = s.lask
    xn = x_ts.shape[0]
    ln = l_ts.shape[0]
    n_book = lask.shape[0]
    per_ts = (wake & (WAKE_BBO | WAKE_TRADE)) != 0
    si[SI_LTRADES] = 0
    sf[SF_LTRADE_VOL] = 0.0
    result = RUN_TIMEOUT
    while True:
        if si[SI_ERROR] != 0:
            return si[SI_ERROR]
        xc = si[SI_XCUR]
        lc = si[SI_LCUR]
        tx = x_ts[xc] if xc < xn else MAX_TS
        tl = l_ts[lc] if lc < ln else MAX_TS
        treq = si[SI_NEXT_REQ_TS]
        tresp = si[SI_NEXT_RESP_TS]
        t = min(min(tx, tl), min(treq, tresp))
        if t > target or t == MAX_TS:
            if t == MAX_TS:
                result = RUN_END
                if target == MAX_TS:
                    target = max(
                        si[SI_CUR_TS], max(x_ts[xn - 1] if xn else 0, l_ts[ln - 1] if ln else 0)
                    )
            if target > si[SI_CUR_TS]:
                si[SI_CUR_TS] = target
            break
        if tresp == t:
            si[SI_CUR_TS] = t
            if _local_response(s) and (wake & WAKE_FILL):
                result = WAKE_FILL
                break
        elif tl == t:
            # local rows up to the next event of higher or equal priority (one
            # timestamp at a time when the strategy wakes on book or trade changes)
            lim = t if per_ts else min(min(tx, treq), target)
            hi = tresp
            bb = si[SI_LBB]
            ba = si[SI_LBA]
            bbq = lbid[bb] if bb >= 0 else 0.0
            baq = lask[ba] if ba < n_book else 0.0
            trades = si[SI_LTRADES]
            last = t
            while lc < ln:
                tt = l_ts[lc]
                if tt >= hi or tt > lim:
                    break
                kind = l_kind[lc]
                if kind == EV_BID:
                    bb, ba = _upd_bid(lbid, lask, bb, ba, l_idx[lc], l_qty[lc])
                elif kind == EV_ASK:
                    bb, ba = _upd_ask(lbid, lask, bb, ba, l_idx[lc], l_qty[lc])
                else:
                    si[SI_LBB] = bb
                    si[SI_LBA] = ba
                    _l_row(lbid, lask, si, sf, kind, l_idx[lc], l_qty[lc])
                    bb = si[SI_LBB]
                    ba = si[SI_LBA]
                last = tt
                lc += 1
            si[SI_LBB] = bb
            si[SI_LBA] = ba
            si[SI_L_ROWS] += lc - si[SI_LCUR]
            si[SI_LCUR] = lc
            si[SI_CUR_TS] = last
            if per_ts:
                if (wake & WAKE_BBO) and (
                    (lbid[bb] if bb >= 0 else 0.0) != bbq
                    or (lask[ba] if ba < n_book else 0.0) != baq
                ):
                    result = WAKE_BBO
                    break
                if (wake & WAKE_TRADE) and si[SI_LTRADES] != trades:
                    result = WAKE_TRADE
                    break
        elif tx == t:
            # exchange rows up to the next event of higher or equal priority
            lim = min(treq, target)
            hi = min(tresp, tl)
            bb = si[SI_XBB]
            ba = si[SI_XBA]
            last = t
            while xc < xn:
                tt = x_ts[xc]
                if tt >= hi or tt > lim:
                    break
                kind = x_kind[xc]
                idx = x_idx[xc]
                q = x_qty[xc]
                xc += 1
                last = tt
                if kind == EV_BID:
                    prev = xbid[idx]
                    bb, ba = _upd_bid(xbid, xask, bb, ba, idx, q)
                    if si[SI_N_XLIVE] > 0 and (
                        si[SI_MIN_BUY] <= idx <= si[SI_MAX_BUY] or idx >= si[SI_MIN_SELL]
                    ):
                        si[SI_XBB] = bb
                        si[SI_XBA] = ba
                        _x_bid_orders(s, idx, prev, q, tt)
                        hi = min(si[SI_NEXT_RESP_TS], tl)
                elif kind == EV_ASK:
                    prev = xask[idx]
                    bb, ba = _upd_ask(xbid, xask, bb, ba, idx, q)
                    if si[SI_N_XLIVE] > 0 and (
                        si[SI_MIN_SELL] <= idx <= si[SI_MAX_SELL] or idx <= si[SI_MAX_BUY]
                    ):
                        si[SI_XBB] = bb
                        si[SI_XBA] = ba
                        _x_ask_orders(s, idx, prev, q, tt)
                        hi = min(si[SI_NEXT_RESP_TS], tl)
                elif kind == EV_BUY_TRADE:
                    if si[SI_N_XLIVE] > 0 and idx >= si[SI_MIN_SELL]:
                        _trade_vs_resting(s, SELL, idx, q, tt)
                        hi = min(si[SI_NEXT_RESP_TS], tl)
                elif kind == EV_SELL_TRADE:
                    if si[SI_N_XLIVE] > 0 and idx <= si[SI_MAX_BUY]:
                        _trade_vs_resting(s, BUY, idx, q, tt)
                        hi = min(si[SI_NEXT_RESP_TS], tl)
                else:
                    si[SI_XBB] = bb
                    si[SI_XBA] = ba
                    _book_clear(xbid, xask, si, SI_XBB, SI_XBA, kind, idx)
                    bb = si[SI_XBB]
                    ba = si[SI_XBA]
            si[SI_XBB] = bb
            si[SI_XBA] = ba
            si[SI_X_ROWS] += xc - si[SI_XCUR]
            si[SI_XCUR] = xc
            si[SI_CUR_TS] = last
        else:
            si[SI_CUR_TS] = t
            _exchange_request(s, t)
    if si[SI_CUR_TS] >= si[SI_NEXT_EQ_TS] or result == RUN_END:
        _equity_sample(s, si[SI_CUR_TS])
    if si[SI_ERROR] != 0:
        return si[SI_ERROR]
    return result


@njit(cache=True)
def elapse(s: TBState, duration: int, wake: int) -> int:
    """Advance the local clock by ``duration`` ns (or until a ``wake`` event); see :func:`goto`."""
    cur = s.si[SI_CUR_TS]
    target = MAX_TS if duration >= MAX_TS - cur else cur + duration
    return goto(s, target, wake)


# ================================================================== strategy API
@njit(cache=True)
def now(s: TBState) -> int:
    return s.si[SI_CUR_TS]


@njit(cache=True)
def best_bid(s: TBState) -> float:
    """The local best bid price, NaN when the side is empty."""
    bb = s.si[SI_LBB]
    return _price(s, bb) if bb >= 0 else np.nan


@njit(cache=True)
def best_ask(s: TBState) -> float:
    ba = s.si[SI_LBA]
    return _price(s, ba) if ba < s.lask.shape[0] else np.nan


@njit(cache=True)
def best_bid_qty(s: TBState) -> float:
    bb = s.si[SI_LBB]
    return s.lbid[bb] if bb >= 0 else 0.0


@njit(cache=True)
def best_ask_qty(s: TBState) -> float:
    ba = s.si[SI_LBA]
    return s.lask[ba] if ba < s.lask.shape[0] else 0.0


@njit(cache=True)
def mid_price(s: TBState, exchange: bool) -> float:
    si = s.si
    bb = si[SI_XBB] if exchange else si[SI_LBB]
    ba = si[SI_XBA] if exchange else si[SI_LBA]
    if bb < 0 or ba >= s.lask.shape[0]:
        return s.sf[SF_LAST_PX] if s.sf[SF_LAST_PX] > 0 else np.nan
    return 0.5 * (_price(s, bb) + _price(s, ba))


@njit(cache=True)
def qty_at(s: TBState, side: int, price: float) -> float:
    """Local book quantity at ``price`` on ``side`` (0 outside the book's range)."""
    idx = int(np.floor(price / s.sf[SF_TICK] + 0.5)) - s.si[SI_TICK_BASE]
    if idx < 0 or idx >= s.lbid.shape[0]:
        return 0.0
    return s.lbid[idx] if side == BUY else s.lask[idx]


@njit(cache=True)
def position(s: TBState) -> float:
    """Position as the local side knows it (fills arrive after the response latency)."""
    return s.sf[SF_L_POS]


@njit(cache=True)
def submit(s: TBState, side: int, price: float, qty: float, order_type: int, tif: int) -> int:
    """Send an order; returns its id (> 0) or an ``E_*`` code. Price snaps to the nearest tick."""
    si = s.si
    sf = s.sf
    lot = sf[SF_LOT]
    if side != BUY and side != SELL:
        return E_BAD_PARAM
    if order_type != TYPE_LIMIT and order_type != TYPE_MARKET:
        return E_BAD_PARAM
    if tif < TIF_GTC or tif > TIF_FOK:
        return E_BAD_PARAM
    if not (qty > 0.0) or not np.isfinite(qty):
        return E_BAD_QTY
    lots = np.floor(qty / lot + 0.5)
    if lots < 1.0 or abs(lots * lot - qty) > 1e-9 * max(qty, 1.0):
        return E_BAD_QTY
    if order_type == TYPE_LIMIT:
        if not (price > 0.0) or not np.isfinite(price):
            return E_BAD_PRICE
        idx = int(np.floor(price / sf[SF_TICK] + 0.5)) - si[SI_TICK_BASE]
        if idx < 0 or idx >= s.xbid.shape[0]:
            return E_OUT_OF_RANGE
    else:
        idx = 0
    if si[SI_N_USED] >= s.oi.shape[0]:
        return E_TOO_MANY_ORDERS
    if si[SI_N_REQ] >= s.rq_i.shape[0]:
        return E_QUEUE_FULL
    slot = -1
    for k in range(s.oi.shape[0]):
        if s.oi[k, OI_USED] == 0:
            slot = k
            break
    oi = s.oi
    of = s.of
    ts = si[SI_CUR_TS]
    oid = si[SI_NEXT_ID]
    si[SI_NEXT_ID] = oid + 1
    oi[slot, :] = 0
    of[slot, :] = 0.0
    oi[slot, OI_ID] = oid
    oi[slot, OI_SIDE] = side
    oi[slot, OI_TICK] = idx
    oi[slot, OI_TYPE] = order_type
    oi[slot, OI_TIF] = tif
    oi[slot, OI_XST] = ST_NONE
    oi[slot, OI_LST] = ST_PENDING
    oi[slot, OI_LREQ] = REQ_NEW
    oi[slot, OI_SUBMIT_TS] = ts
    oi[slot, OI_LTS] = ts
    oi[slot, OI_USED] = 1
    of[slot, OF_QTY] = lots * lot
    of[slot, OF_X_LEAVES] = lots * lot
    of[slot, OF_L_LEAVES] = lots * lot
    s.used[si[SI_N_USED]] = slot
    si[SI_N_USED] += 1
    si[SI_N_SUBMITTED] += 1
    lat = entry_latency(s, ts)
    oi[slot, OI_INFLIGHT] += 1
    if lat < 0:
        # the venue refused the request (a gap in the latency record): answer with a rejection
        oi[slot, OI_XST] = ST_REJECTED
        si[SI_N_REJECTED] += 1
        of[slot, OF_X_LEAVES] = 0.0
        _push(
            s.rs_i,
            s.rs_f,
            si,
            SI_N_RESP,
            SI_NEXT_RESP_TS,
            ts - lat,
            slot,
            ST_REJECTED,
            0,
            0.0,
            0.0,
            0.0,
        )
    else:
        _push(
            s.rq_i, s.rq_f, si, SI_N_REQ, SI_NEXT_REQ_TS, ts + lat, slot, REQ_NEW, 0, 0.0, 0.0, 0.0
        )
    return oid


@njit(cache=True)
def find_order(s: TBState, order_id: int) -> int:
    """The slot of a live (locally known) order, or -1."""
    for j in range(s.si[SI_N_USED]):
        slot = s.used[j]
        if s.oi[slot, OI_ID] == order_id:
            return slot
    return -1


@njit(cache=True)
def cancel(s: TBState, order_id: int) -> int:
    """Request a cancel; 0 when sent, ``E_UNKNOWN_ORDER`` / ``E_NOT_CANCELABLE`` otherwise."""
    slot = find_order(s, order_id)
    if slot < 0:
        return E_UNKNOWN_ORDER
    oi = s.oi
    if _is_done(oi[slot, OI_LST]) or oi[slot, OI_LREQ] == REQ_CANCEL:
        return E_NOT_CANCELABLE
    si = s.si
    if si[SI_N_REQ] >= s.rq_i.shape[0]:
        return E_QUEUE_FULL
    ts = si[SI_CUR_TS]
    lat = entry_latency(s, ts)
    if lat < 0:
        return E_VENUE_REFUSED
    oi[slot, OI_LREQ] = REQ_CANCEL
    oi[slot, OI_INFLIGHT] += 1
    _push(
        s.rq_i, s.rq_f, si, SI_N_REQ, SI_NEXT_REQ_TS, ts + lat, slot, REQ_CANCEL, 0, 0.0, 0.0, 0.0
    )
    return 0


@njit(cache=True)
def n_orders(s: TBState) -> int:
    """How many orders the local side tracks (working, pending, or awaiting a final answer)."""
    return s.si[SI_N_USED]


@njit(cache=True)
def order_slot(s: TBState, j: int) -> int:
    return s.used[j]


@njit(cache=True)
def order_price(s: TBState, slot: int) -> float:
    return _price(s, s.oi[slot, OI_TICK])


@njit(cache=True)
def equity(s: TBState) -> float:
    """Exchange-side cash plus position at the exchange mid."""
    pos = s.sf[SF_X_POS]
    return s.sf[SF_X_CASH] + (pos * mid_price(s, True) if pos != 0.0 else 0.0)
