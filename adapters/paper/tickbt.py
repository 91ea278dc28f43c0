"""Tick-level backtester: the Python face of :mod:`kernels.tickbt`.

>>> data = convert_recording("data/binance_usdm/btcusdt_20240808.gz")
>>> bt = TickBacktester(data, BacktestConfig(queue_model="risk_averse"))
>>> while bt.elapse(100_000_000) != RUN_END:
...     bid, ask = bt.best_bid, bt.best_ask
...     ...
>>> bt.stats()

Market events between two calls are processed in compiled code; a Python
strategy pays the interpreter only at its own wake-ups (a timer, a fill, a
book or trade change it asked for), and an njit strategy (see
:mod:`engine.strategies.grid_mm`) runs the whole loop compiled on
``bt.state``. Runs are deterministic: the same data, configuration and seed
give the same fills, bit for bit.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from adapters.paper.tickdata import TickData
from kernels import tickbt as k

__all__ = [
    "RUN_END",
    "WAKE_BBO",
    "WAKE_FILL",
    "WAKE_TRADE",
    "BacktestConfig",
    "BacktestError",
    "TickBacktester",
]

RUN_END = k.RUN_END
RUN_TIMEOUT = k.RUN_TIMEOUT
WAKE_FILL = k.WAKE_FILL
WAKE_BBO = k.WAKE_BBO
WAKE_TRADE = k.WAKE_TRADE

_QUEUE = {"risk_averse": k.QUEUE_RISK_AVERSE, "power": k.QUEUE_POWER, "log": k.QUEUE_LOG}
_TIF = {
    "gtc": k.TIF_GTC,
    "gtx": k.TIF_GTX,
    "post_only": k.TIF_GTX,
    "ioc": k.TIF_IOC,
    "fok": k.TIF_FOK,
}
_STATUS = {
    k.ST_NONE: "none",
    k.ST_PENDING: "pending",
    k.ST_NEW: "new",
    k.ST_PARTIAL: "partially_filled",
    k.ST_FILLED: "filled",
    k.ST_CANCELED: "cancelled",
    k.ST_EXPIRED: "expired",
    k.ST_REJECTED: "rejected",
}
_ERRORS = {
    k.E_BAD_QTY: "quantity must be a positive multiple of the lot size",
    k.E_BAD_PRICE: "price must be positive and finite",
    k.E_OUT_OF_RANGE: "price is outside the book range of the recording",
    k.E_TOO_MANY_ORDERS: "too many open orders (raise max_orders)",
    k.E_UNKNOWN_ORDER: "unknown order id",
    k.E_NOT_CANCELABLE: "order is already finished or a cancel is pending",
    k.E_BAD_PARAM: "invalid side, order type or time in force",
    k.E_QUEUE_FULL: "too many requests in flight (raise max_orders)",
    k.E_VENUE_REFUSED: "the venue refused the request (the latency record has no exchange time)",
}
_RUN_ERRORS = {
    k.ERR_FILL_LOG_FULL: "fill log full: raise max_fills",
    k.ERR_ORDER_LOG_FULL: "order log full: raise max_fills",
    k.ERR_MSG_QUEUE_FULL: "message queue full: raise max_orders",
}


class BacktestError(RuntimeError):
    """A backtest that cannot go on (log capacity exhausted) or a rejected API call."""


class BacktestConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of one tick backtest. Latencies in nanoseconds, fees as fractions of notional."""

    maker_fee: float = 0.0002
    taker_fee: float = 0.0005
    entry_latency_ns: int = 1_000_000
    response_latency_ns: int = 1_000_000
    #: Order latency series, rows ``(req_ts, exch_ts, resp_ts)`` in ns, sorted by ``req_ts``;
    #: replaces the constants when set (interpolated like hftbacktest's ``IntpOrderLatency``).
    latency_series: str | None = None
    #: ``None``: the recorded receive times; otherwise local time = exchange time + this.
    feed_latency_ns: int | None = None
    queue_model: str = "risk_averse"
    #: False: an order whose queue position is reached fills in full (hftbacktest's
    #: ``no_partial_fill_exchange``); True: only what traded past it.
    partial_fills: bool = True
    #: Exponent of the power probability queue model.
    queue_power: float = 2.0
    initial_cash: float = 0.0
    max_orders: int = 1024
    max_fills: int = 1 << 18
    equity_interval_ns: int = 1_000_000_000
    #: Random extra entry latency, uniform in ``[0, entry_jitter_ns]``, drawn from ``seed``.
    entry_jitter_ns: int = 0
    seed: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if self.queue_model not in _QUEUE:
            raise ValueError(
                f"queue_model must be one of {sorted(_QUEUE)}, got {self.queue_model!r}"
            )
        for name in ("entry_latency_ns", "response_latency_ns", "entry_jitter_ns"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.feed_latency_ns is not None and self.feed_latency_ns < 0:
            raise ValueError(f"feed_latency_ns must be >= 0, got {self.feed_latency_ns}")
        for name in ("maker_fee", "taker_fee", "initial_cash"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)}")
        if not self.queue_power > 0:
            raise ValueError(f"queue_power must be > 0, got {self.queue_power}")
        for name in ("max_orders", "max_fills", "equity_interval_ns"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


def load_latency_series(path: str | os.PathLike[str]) -> np.ndarray:
    """Read ``req_ts,exch_ts,resp_ts`` rows (CSV with header, .npy, .npz) as int64 (n, 3)."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"latency series not found: {p}")
    if p.suffix == ".npz":
        with np.load(p) as z:
            arr = z[z.files[0]]
    elif p.suffix == ".npy":
        arr = np.load(p)
    else:
        arr = np.loadtxt(p, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    if arr.dtype.names:
        arr = np.column_stack([arr[n] for n in ("req_ts", "exch_ts", "resp_ts")])
    arr = np.asarray(arr, dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] < 3 or arr.shape[0] == 0:
        raise ValueError(f"latency series {p} must have rows of req_ts, exch_ts, resp_ts")
    arr = arr[:, :3]
    if np.any(np.diff(arr[:, 0]) < 0):
        raise ValueError(f"latency series {p}: req_ts must be sorted")
    return np.ascontiguousarray(arr)


class TickBacktester:
    """One instrument, one run. See the module docstring."""

    def __init__(self, data: TickData, config: BacktestConfig | None = None) -> None:
        cfg = config or BacktestConfig()
        cfg.validate()
        self.data = data
        self.config = cfg
        x_ts, x_kind, x_idx, x_qty, l_ts, l_kind, l_idx, l_qty = data.streams(cfg.feed_latency_ns)
        n_ticks = data.n_ticks
        cap = cfg.max_orders
        nf = cfg.max_fills
        if cfg.latency_series is not None:
            series = load_latency_series(cfg.latency_series)
            lat_model = k.LAT_SERIES
        else:
            series = np.zeros((1, 3), np.int64)
            lat_model = k.LAT_CONSTANT
        accepted = series[series[:, 1] > 0]
        if accepted.shape[0] == 0:
            accepted = np.zeros((1, 3), np.int64)
        accepted = accepted[np.argsort(accepted[:, 1], kind="stable")]
        if cfg.entry_jitter_ns > 0:
            rng = np.random.default_rng(cfg.seed)
            jitter = rng.integers(0, cfg.entry_jitter_ns + 1, size=4096, dtype=np.int64)
        else:
            jitter = np.zeros(1, np.int64)
        start = int(min(x_ts[0], l_ts[0])) if data.n_rows else 0
        span_s = (int(max(x_ts[-1], l_ts[-1])) - start) / 1e9 if data.n_rows else 0.0
        n_eq = int(span_s * 1e9 / cfg.equity_interval_ns) + 16
        self.state = k.make_state(
            x_ts=x_ts,
            x_kind=x_kind,
            x_idx=x_idx,
            x_qty=x_qty,
            l_ts=l_ts,
            l_kind=l_kind,
            l_idx=l_idx,
            l_qty=l_qty,
            xbid=np.zeros(n_ticks, np.float64),
            xask=np.zeros(n_ticks, np.float64),
            lbid=np.zeros(n_ticks, np.float64),
            lask=np.zeros(n_ticks, np.float64),
            si=np.zeros(k.SI_SIZE, np.int64),
            sf=np.zeros(k.SF_SIZE, np.float64),
            oi=np.zeros((cap, k.OI_SIZE), np.int64),
            of=np.zeros((cap, k.OF_SIZE), np.float64),
            used=np.zeros(cap, np.int64),
            xlive=np.zeros(cap, np.int64),
            rq_i=np.zeros((2 * cap, k.MI_SIZE), np.int64),
            rq_f=np.zeros((2 * cap, k.MF_SIZE), np.float64),
            rs_i=np.zeros((4 * cap, k.MI_SIZE), np.int64),
            rs_f=np.zeros((4 * cap, k.MF_SIZE), np.float64),
            fl_i=np.zeros((nf, k.FI_SIZE), np.int64),
            fl_f=np.zeros((nf, k.FF_SIZE), np.float64),
            ol_i=np.zeros((nf, k.LI_SIZE), np.int64),
            ol_f=np.zeros((nf, k.LF_SIZE), np.float64),
            eq_ts=np.zeros(n_eq, np.int64),
            eq_f=np.zeros((n_eq, k.EF_SIZE), np.float64),
            lat_req=np.ascontiguousarray(series[:, 0]),
            lat_exch=np.ascontiguousarray(series[:, 1]),
            lat_resp=np.ascontiguousarray(series[:, 2]),
            lat_rx=np.ascontiguousarray(accepted[:, 1]),
            lat_rl=np.ascontiguousarray(accepted[:, 2] - accepted[:, 1]),
            jitter=jitter,
        )
        si = self.state.si
        sf = self.state.sf
        si[k.SI_XBB] = -1
        si[k.SI_XBA] = n_ticks
        si[k.SI_LBB] = -1
        si[k.SI_LBA] = n_ticks
        si[k.SI_NEXT_ID] = 1
        si[k.SI_CUR_TS] = start
        si[k.SI_START_TS] = start
        si[k.SI_NEXT_REQ_TS] = k.MAX_TS
        si[k.SI_NEXT_RESP_TS] = k.MAX_TS
        si[k.SI_EQ_INTERVAL] = cfg.equity_interval_ns
        si[k.SI_NEXT_EQ_TS] = start
        si[k.SI_QUEUE_MODEL] = _QUEUE[cfg.queue_model]
        si[k.SI_LAT_MODEL] = lat_model
        si[k.SI_TICK_BASE] = data.tick_base
        si[k.SI_MIN_SELL] = k.MAX_TS
        si[k.SI_MAX_SELL] = -k.MAX_TS
        si[k.SI_MIN_BUY] = k.MAX_TS
        si[k.SI_PARTIAL] = 1 if cfg.partial_fills else 0
        si[k.SI_MAX_BUY] = -k.MAX_TS
        sf[k.SF_TICK] = data.tick_size
        sf[k.SF_LOT] = data.lot_size
        sf[k.SF_MAKER_FEE] = cfg.maker_fee
        sf[k.SF_TAKER_FEE] = cfg.taker_fee
        sf[k.SF_ENTRY_LAT] = cfg.entry_latency_ns
        sf[k.SF_RESP_LAT] = cfg.response_latency_ns
        sf[k.SF_QUEUE_N] = cfg.queue_power
        sf[k.SF_X_CASH] = cfg.initial_cash
        sf[k.SF_L_CASH] = cfg.initial_cash
        self._wall_s = 0.0

    # ------------------------------------------------------------------ running
    def elapse(self, duration_ns: int, wake: int = 0) -> int:
        """Advance by ``duration_ns`` or to the first ``wake`` event; returns a RUN_/WAKE_ code."""
        code = int(k.elapse(self.state, int(duration_ns), int(wake)))
        if code < 0:
            raise BacktestError(_RUN_ERRORS.get(code, f"backtest error {code}"))
        return code

    def run_to_end(self) -> None:
        """Process the rest of the data (orders keep working until the data ends)."""
        self.elapse(k.MAX_TS)

    # ------------------------------------------------------------------ market view (local)
    @property
    def now(self) -> int:
        return int(self.state.si[k.SI_CUR_TS])

    @property
    def best_bid(self) -> float:
        return float(k.best_bid(self.state))

    @property
    def best_ask(self) -> float:
        return float(k.best_ask(self.state))

    @property
    def best_bid_qty(self) -> float:
        return float(k.best_bid_qty(self.state))

    @property
    def best_ask_qty(self) -> float:
        return float(k.best_ask_qty(self.state))

    @property
    def mid(self) -> float:
        return float(k.mid_price(self.state, False))

    @property
    def tick_size(self) -> float:
        return self.data.tick_size

    @property
    def lot_size(self) -> float:
        return self.data.lot_size

    @property
    def position(self) -> float:
        """Position as the strategy knows it (after the response latency)."""
        return float(self.state.sf[k.SF_L_POS])

    @property
    def last_trade(self) -> tuple[float, float]:
        """Price and signed quantity (+ taker bought) of the last trade seen locally."""
        return float(self.state.sf[k.SF_LAST_PX]), float(self.state.sf[k.SF_LAST_QTY])

    def qty_at(self, side: int, price: float) -> float:
        return float(k.qty_at(self.state, side, price))

    # ------------------------------------------------------------------ orders
    def submit(
        self, side: int, price: float, qty: float, *, tif: str = "gtc", market: bool = False
    ) -> int:
        """Send an order; returns its id. Raises ``BacktestError`` naming what is wrong."""
        if tif not in _TIF:
            raise BacktestError(f"time in force must be one of {sorted(_TIF)}, got {tif!r}")
        oid = int(
            k.submit(
                self.state,
                int(side),
                float(price),
                float(qty),
                k.TYPE_MARKET if market else k.TYPE_LIMIT,
                _TIF[tif],
            )
        )
        if oid < 0:
            raise BacktestError(
                f"order rejected (side={side}, price={price}, qty={qty}): {_ERRORS[oid]}"
            )
        return oid

    def buy(self, price: float, qty: float, tif: str = "gtc") -> int:
        return self.submit(k.BUY, price, qty, tif=tif)

    def sell(self, price: float, qty: float, tif: str = "gtc") -> int:
        return self.submit(k.SELL, price, qty, tif=tif)

    def cancel(self, order_id: int) -> None:
        code = int(k.cancel(self.state, int(order_id)))
        if code < 0:
            raise BacktestError(f"cancel of order {order_id} refused: {_ERRORS[code]}")

    def open_orders(self) -> list[dict[str, Any]]:
        """Orders the local side tracks: id, side, price, qty, leaves, filled, status, cancel."""
        s = self.state
        out = []
        for j in range(int(s.si[k.SI_N_USED])):
            slot = int(s.used[j])
            out.append(
                {
                    "id": int(s.oi[slot, k.OI_ID]),
                    "side": int(s.oi[slot, k.OI_SIDE]),
                    "price": float(k.order_price(s, slot)),
                    "qty": float(s.of[slot, k.OF_QTY]),
                    "leaves": float(s.of[slot, k.OF_L_LEAVES]),
                    "filled": float(s.of[slot, k.OF_L_FILLED]),
                    "status": _STATUS[int(s.oi[slot, k.OI_LST])],
                    "cancel_pending": bool(s.oi[slot, k.OI_LREQ] == k.REQ_CANCEL),
                }
            )
        return out

    # ------------------------------------------------------------------ results
    def fills(self) -> dict[str, np.ndarray]:
        """Every fill, in exchange order (columns of equal length)."""
        s = self.state
        n = int(s.si[k.SI_N_FILLS])
        fi, ff = s.fl_i[:n], s.fl_f[:n]
        return {
            "exch_ts": fi[:, k.FI_TS].copy(),
            "local_ts": fi[:, k.FI_LOCAL_TS].copy(),
            "order_id": fi[:, k.FI_ID].copy(),
            "side": fi[:, k.FI_SIDE].astype(np.int8),
            "maker": fi[:, k.FI_MAKER].astype(bool),
            "price": ff[:, k.FF_PX].copy(),
            "qty": ff[:, k.FF_QTY].copy(),
            "fee": ff[:, k.FF_FEE].copy(),
            "position": ff[:, k.FF_POS].copy(),
            "cash": ff[:, k.FF_CASH].copy(),
        }

    def orders(self) -> dict[str, np.ndarray]:
        """Every order that ended (as the local side saw it), then the ones still open."""
        s = self.state
        n = int(s.si[k.SI_N_OLOG])
        li, lf = s.ol_i[:n], s.ol_f[:n]
        cols: dict[str, list[Any]] = {
            "order_id": list(li[:, k.LI_ID]),
            "side": list(li[:, k.LI_SIDE]),
            "type": ["market" if t == k.TYPE_MARKET else "limit" for t in li[:, k.LI_TYPE]],
            "tif": [_tif_name(int(t)) for t in li[:, k.LI_TIF]],
            "submit_ts": list(li[:, k.LI_SUBMIT_TS]),
            "end_ts": list(li[:, k.LI_END_TS]),
            "status": [_STATUS[int(x)] for x in li[:, k.LI_STATUS]],
            "price": list(lf[:, k.LF_PX]),
            "qty": list(lf[:, k.LF_QTY]),
            "filled": list(lf[:, k.LF_FILLED]),
            "avg_price": list(lf[:, k.LF_AVG_PX]),
        }
        for j in range(int(s.si[k.SI_N_USED])):
            slot = int(s.used[j])
            filled = float(s.of[slot, k.OF_L_FILLED])
            row = {
                "order_id": int(s.oi[slot, k.OI_ID]),
                "side": int(s.oi[slot, k.OI_SIDE]),
                "type": "market" if s.oi[slot, k.OI_TYPE] == k.TYPE_MARKET else "limit",
                "tif": _tif_name(int(s.oi[slot, k.OI_TIF])),
                "submit_ts": int(s.oi[slot, k.OI_SUBMIT_TS]),
                "end_ts": -1,
                "status": _STATUS[int(s.oi[slot, k.OI_LST])],
                "price": float(k.order_price(s, slot)),
                "qty": float(s.of[slot, k.OF_QTY]),
                "filled": filled,
                "avg_price": float(s.of[slot, k.OF_L_NOTIONAL] / filled)
                if filled > 0
                else math.nan,
            }
            for key, v in row.items():
                cols[key].append(v)
        out = {key: np.asarray(v) for key, v in cols.items()}
        order = np.argsort(out["order_id"], kind="stable")
        return {key: v[order] for key, v in out.items()}

    def equity_curve(self) -> dict[str, np.ndarray]:
        s = self.state
        n = int(s.si[k.SI_N_EQ])
        return {
            "ts": s.eq_ts[:n].copy(),
            "equity": s.eq_f[:n, k.EF_EQUITY].copy(),
            "position": s.eq_f[:n, k.EF_POS].copy(),
            "cash": s.eq_f[:n, k.EF_CASH].copy(),
            "mid": s.eq_f[:n, k.EF_MID].copy(),
        }

    def stats(self, wall_s: float | None = None) -> dict[str, Any]:
        """Run statistics; ``events`` counts data rows processed on the exchange side."""
        s = self.state
        si, sf = s.si, s.sf
        eq = self.equity_curve()
        equity = float(k.equity(s))
        curve = eq["equity"]
        max_dd = 0.0
        if curve.size:
            peak = np.maximum.accumulate(curve)
            max_dd = float((peak - curve).max())
        sharpe = _sharpe(curve, self.config.equity_interval_ns)
        out: dict[str, Any] = {
            "events": int(si[k.SI_X_ROWS]),
            "local_events": int(si[k.SI_L_ROWS]),
            "orders": int(si[k.SI_N_SUBMITTED]),
            "fills": int(si[k.SI_N_FILLS]),
            "maker_fills": int(si[k.SI_MAKER_FILLS]),
            "taker_fills": int(si[k.SI_TAKER_FILLS]),
            "cancelled": int(si[k.SI_N_CANCELED]),
            "expired": int(si[k.SI_N_EXPIRED]),
            "post_only_rejected": int(si[k.SI_POST_ONLY_REJECTS]),
            "rejected": int(si[k.SI_N_REJECTED]),
            "volume": float(sf[k.SF_X_VOLUME]),
            "notional": float(sf[k.SF_X_NOTIONAL]),
            "fees": float(sf[k.SF_X_FEE]),
            "realized_pnl": float(sf[k.SF_X_REALIZED]),
            "position": float(sf[k.SF_X_POS]),
            "cash": float(sf[k.SF_X_CASH]),
            "equity": equity,
            "pnl": equity - self.config.initial_cash,
            "max_drawdown": max_dd,
            "sharpe": sharpe,
            "queue_model": self.config.queue_model,
            "start_ts": int(si[k.SI_START_TS]),
            "end_ts": int(si[k.SI_CUR_TS]),
        }
        if wall_s is not None and wall_s > 0:
            out["wall_s"] = wall_s
            out["events_per_s"] = out["events"] / wall_s
        return out


def _tif_name(t: int) -> str:
    return {k.TIF_GTC: "gtc", k.TIF_GTX: "post_only", k.TIF_IOC: "ioc", k.TIF_FOK: "fok"}[t]


def _sharpe(curve: np.ndarray, interval_ns: int) -> float | None:
    """Annualised Sharpe of the per-interval equity changes (P&L units; None if undefined)."""
    if curve.size < 3:
        return None
    d = np.diff(curve)
    sd = float(d.std(ddof=1))
    if not sd > 0:
        return None
    per_year = 365.0 * 86_400e9 / interval_ns
    return float(d.mean() / sd * math.sqrt(per_year))
