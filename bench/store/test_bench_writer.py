"""Tick ingestion through our writer beside the ways a user would insert, and the hot path's cost.

Issue 8's targets: our writer ≥ 0.8x a bare DuckDB insert of the same
ready-made Arrow batches (≥ 2.5 M ticks/s here), and the hot path's p99 with
the writer running ≤ 1.2x its p99 without.

Ingestion, in the same run on the same 1,000,000 synthetic ticks (seeded,
generated once per session), each round into a fresh DuckDB file holding the
store's tables:

* ``ours``: the engine's path. The ticks are written into a
  :class:`engine.market.TradeRing` 4,096 at a time (a numpy slice copy,
  standing in for the feed, which pushes one trade per frame); after each,
  :meth:`TickRecorder.maybe_drain` hands full chunks to the
  :class:`StoreWriter`, whose thread flushes every ``flush_rows`` (65,536,
  the default) through DuckDB's Arrow scan. Timed until ``writer.flush()``
  returns, so the last commit is included.
* ``bare_arrow``: the same ticks as ready-made 100,000-row Arrow tables (all
  eight columns, ``venue``/``symbol`` as strings), each inserted with
  ``INSERT INTO price_ticks SELECT * FROM batch`` on a plain connection.
* ``row_by_row``: one ``INSERT ... VALUES (?, ...)`` per tick (2,000 ticks,
  the rate extrapolated).
* ``executemany``: ``executemany`` of the same statement (1,000 ticks).

Hot path: the spot recording's trade frames (9,757, replayed 30 times)
through :class:`adapters.binance.decoder.BinanceMarketDataDecoder` into a
:class:`SymbolMarket`'s ring, timed per frame with ``perf_counter_ns``; once
alone, once with a :class:`TickRecorder` (``maybe_drain`` after every frame,
inside the timed region) feeding a :class:`StoreWriter` that flushes to a
DuckDB file on its thread meanwhile. p50/p99 are per frame; per-1,000-frame
batch times are recorded too.

Reproduce::

    .venv/bin/python -m pytest bench/store -o addopts= -o testpaths=bench --benchmark-only -q
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from adapters.binance.decoder import BinanceMarketDataDecoder
from adapters.replay import load_frames
from bench._util import record_rate
from engine.instruments import Instrument
from engine.market import SymbolMarket
from engine.store.duckdb_store import DuckDBStore
from engine.store.ticks import TickRecorder
from engine.store.writer import StoreWriter
from kernels.dtypes import trade_dt

ROOT = Path(__file__).resolve().parents[2]
RECORDING = ROOT / "data" / "binance_spot" / "btcusdt_20240808.gz"
SEED = 20240808
N_TICKS = 1_000_000
N_TICKS_SMOKE = 50_000
ARROW_BATCH = 100_000
RING_CHUNK = 4096
N_ROW_BY_ROW = 2_000
N_EXECUTEMANY = 1_000
N_SMALL_SMOKE = 100
REPLAYS = 30
REPLAYS_SMOKE = 1
ROUNDS = 5
VENUE, SYMBOL = "binance", "BTC/USDT"
_COLUMNS = "venue, symbol, ts_event, ts_recv, price, quantity, trade_id, side"


@pytest.fixture(scope="session")
def ticks() -> np.ndarray:
    """1,000,000 trades: a random walk of prices, increasing ids and times."""
    rng = np.random.default_rng(SEED)
    r = np.zeros(N_TICKS, dtype=trade_dt)
    r["trade_id"] = 3_735_683_259 + np.arange(N_TICKS)
    r["ts_event"] = 1_723_161_255_342_000_000 + np.cumsum(rng.integers(0, 2_000_000, N_TICKS))
    r["ts_recv"] = r["ts_event"] + rng.integers(200_000, 900_000, N_TICKS)
    r["price"] = np.round(61_837.63 + np.cumsum(rng.normal(0, 0.5, N_TICKS)), 2)
    r["qty"] = np.round(rng.exponential(0.02, N_TICKS), 5) + 0.00001
    r["side"] = rng.choice(np.array([1, -1], dtype=np.int8), N_TICKS)
    return r


@pytest.fixture(scope="session")
def results() -> dict[str, float]:
    """Rates measured so far in this session (for the ratios)."""
    return {}


def _n(bench: Any, full: int, smoke: int) -> int:
    return smoke if bench.disabled else full


def _arrow_batches(ticks: np.ndarray) -> list[pa.Table]:
    out = []
    for i in range(0, len(ticks), ARROW_BATCH):
        r = ticks[i : i + ARROW_BATCH]
        n = len(r)
        out.append(
            pa.table(
                {
                    "venue": pa.array([VENUE] * n),
                    "symbol": pa.array([SYMBOL] * n),
                    "ts_event": r["ts_event"],
                    "ts_recv": r["ts_recv"],
                    "price": r["price"],
                    "quantity": r["qty"],
                    "trade_id": r["trade_id"],
                    "side": r["side"],
                }
            )
        )
    return out


class _Files:
    """A fresh store file per round; the previous one is closed and deleted."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.n = 0
        self.closers: list[Callable[[], object]] = []

    def new(self) -> Path:
        self.close()
        self.n += 1
        path = self.folder / f"round{self.n}.duckdb"
        DuckDBStore(path).close()  # the store's tables, migrated
        return path

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.closers.clear()
        for p in self.folder.glob("round*.duckdb*"):
            p.unlink()


def _count(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return int(con.execute("SELECT count(*) FROM price_ticks").fetchall()[0][0])


def _report_ratio(request: pytest.FixtureRequest, text: str) -> None:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(text)


# -- ingestion ---------------------------------------------------------------------------------


def test_bench_ticks_bare_arrow_insert(
    bench: Any, ticks: np.ndarray, results: dict[str, float], tmp_path: Path
) -> None:
    n = _n(bench, N_TICKS, N_TICKS_SMOKE)
    batches = _arrow_batches(ticks[:n])
    bench.group = "tick ingestion into DuckDB (rows/s)"
    files = _Files(tmp_path)
    paths: list[Path] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        path = files.new()
        paths.append(path)
        con = duckdb.connect(str(path))
        files.closers.append(con.close)
        return (con,), {}

    def run(con: duckdb.DuckDBPyConnection) -> None:
        for batch in batches:
            con.register("batch", batch)
            con.execute(f"INSERT INTO price_ticks ({_COLUMNS}) SELECT {_COLUMNS} FROM batch")
            con.unregister("batch")

    bench.pedantic(run, setup=setup, rounds=_n(bench, ROUNDS, 1), iterations=1)
    files.closers.pop()()
    assert _count(paths[-1]) == n
    files.close()
    bench.extra_info.update(rows=n, batch_rows=ARROW_BATCH, duckdb=duckdb.__version__)
    record_rate(bench, n, "rows_per_s_median")
    if not bench.disabled:
        results["bare_arrow"] = n / bench.stats.stats.median


def _market() -> SymbolMarket:
    instrument = Instrument(
        symbol=SYMBOL,
        venue=VENUE,
        venue_symbol="BTCUSDT",
        base="BTC",
        quote="USDT",
        tick_size=0.01,
        lot_size=0.00001,
    )
    return SymbolMarket(instrument, book_capacity=8192, trade_capacity=65536)


def test_bench_ticks_through_our_writer(
    bench: Any,
    ticks: np.ndarray,
    results: dict[str, float],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    n = _n(bench, N_TICKS, N_TICKS_SMOKE)
    data = ticks[:n]
    bench.group = "tick ingestion into DuckDB (rows/s)"
    files = _Files(tmp_path)
    paths: list[Path] = []
    writers: list[StoreWriter] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        path = files.new()
        paths.append(path)
        store = DuckDBStore(path)
        writer = StoreWriter(store)
        writers.append(writer)
        files.closers += [store.close, writer.close]
        market = _market()
        recorder = TickRecorder(writer, VENUE, {"BTCUSDT": market}, chunk=RING_CHUNK)
        return (market.trades, recorder, writer), {}

    def run(ring: Any, recorder: TickRecorder, writer: StoreWriter) -> None:
        buf = ring.data
        cap = ring.capacity
        for i in range(0, n, RING_CHUNK):
            chunk = data[i : i + RING_CHUNK]
            at = ring.count % cap
            buf[at : at + len(chunk)] = chunk  # the feed's pushes, one copy per chunk
            ring.count += len(chunk)
            recorder.maybe_drain()
        recorder.drain()
        assert writer.flush(timeout=120)

    bench.pedantic(run, setup=setup, rounds=_n(bench, ROUNDS, 1), iterations=1)
    stats = writers[-1].stats
    files.close()
    assert stats.rows_written["price_ticks"] == n and stats.ticks_dropped == 0
    bench.extra_info.update(
        rows=n,
        ring_chunk=RING_CHUNK,
        flush_rows=writers[-1].flush_rows,
        flushes=stats.batches,
        duckdb=duckdb.__version__,
    )
    record_rate(bench, n, "rows_per_s_median")
    if not bench.disabled:
        ours = n / bench.stats.stats.median
        results["ours"] = ours
        if "bare_arrow" in results:
            ratio = ours / results["bare_arrow"]
            bench.extra_info["ratio_to_bare_arrow"] = round(ratio, 3)
            _report_ratio(
                request,
                f"\nticks into DuckDB: ours {ours:,.0f} rows/s, bare Arrow insert "
                f"{results['bare_arrow']:,.0f} rows/s, ratio {ratio:.2f}x (target >= 0.8x)",
            )


def _rows(ticks: np.ndarray) -> list[tuple[Any, ...]]:
    return [
        (VENUE, SYMBOL, int(ts_event), int(ts_recv), float(price), float(qty), int(tid), int(side))
        for ts_event, ts_recv, price, qty, tid, side in ticks.tolist()
    ]


def _small_bench(
    bench: Any,
    ticks: np.ndarray,
    tmp_path: Path,
    full: int,
    key: str,
    results: dict[str, float],
    insert: Callable[[duckdb.DuckDBPyConnection, list[tuple[Any, ...]]], None],
) -> None:
    n = _n(bench, full, N_SMALL_SMOKE)
    rows = _rows(ticks[:n])
    bench.group = "tick ingestion into DuckDB (rows/s)"
    files = _Files(tmp_path)

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        con = duckdb.connect(str(files.new()))
        files.closers.append(con.close)
        return (con,), {}

    def run(con: duckdb.DuckDBPyConnection) -> None:
        insert(con, rows)

    bench.pedantic(run, setup=setup, rounds=_n(bench, 3, 1), iterations=1)
    files.close()
    bench.extra_info.update(rows=n, extrapolated=True, duckdb=duckdb.__version__)
    record_rate(bench, n, "rows_per_s_median")
    if not bench.disabled:
        results[key] = n / bench.stats.stats.median
        if "ours" in results:
            bench.extra_info["ours_speedup"] = round(results["ours"] / results[key], 1)


_INSERT = f"INSERT INTO price_ticks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


def test_bench_ticks_row_by_row_insert(
    bench: Any, ticks: np.ndarray, results: dict[str, float], tmp_path: Path
) -> None:
    def insert(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> None:
        for row in rows:
            con.execute(_INSERT, row)

    _small_bench(bench, ticks, tmp_path, N_ROW_BY_ROW, "row_by_row", results, insert)


def test_bench_ticks_executemany(
    bench: Any, ticks: np.ndarray, results: dict[str, float], tmp_path: Path
) -> None:
    def insert(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> None:
        con.executemany(_INSERT, rows)

    _small_bench(bench, ticks, tmp_path, N_EXECUTEMANY, "executemany", results, insert)


# -- the hot path with and without the writer --------------------------------------------------


class _NullSink:
    def on_trade(self, market: SymbolMarket, ts_recv: int) -> None:
        pass

    def on_book(self, market: SymbolMarket, ts_recv: int) -> None:
        pass

    def on_ticker(self, market: SymbolMarket, ts_recv: int) -> None:
        pass


@pytest.fixture(scope="session")
def trade_frames() -> list[tuple[int, bytes]]:
    marker = b'{"stream":"btcusdt@trade"'
    return [(ts, f) for ts, f in load_frames(RECORDING) if f.startswith(marker)]


def _hot_path(
    frames: list[tuple[int, bytes]], replays: int, store_path: Path | None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Per-frame nanoseconds of decode + ring push (+ maybe_drain with a writer running)."""
    market = _market()
    decoder = BinanceMarketDataDecoder({"BTCUSDT": market}, _NullSink(), market="spot")
    decoder.warm_up()
    on_frame = decoder.on_frame
    clock = time.perf_counter_ns
    out = np.zeros(len(frames) * replays, dtype=np.int64)
    info: dict[str, Any] = {}
    store = writer = None
    if store_path is not None:
        store = DuckDBStore(store_path)
        writer = StoreWriter(store)
        recorder = TickRecorder(writer, VENUE, {"BTCUSDT": market})
        maybe_drain = recorder.maybe_drain
    k = 0
    try:
        for _ in range(replays):
            for ts, frame in frames:
                t0 = clock()
                on_frame(ts, frame)
                if writer is not None:
                    maybe_drain()
                out[k] = clock() - t0
                k += 1
        if writer is not None:
            recorder.drain()
            assert writer.flush(timeout=60)
            info = {"flushes": writer.stats.batches, "ticks": writer.stats.rows_written}
    finally:
        if writer is not None:
            writer.close()
        if store is not None:
            store.close()
    return out, info


def test_bench_hot_path_p99_with_and_without_the_writer(
    bench: Any,
    trade_frames: list[tuple[int, bytes]],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    replays = _n(bench, REPLAYS, REPLAYS_SMOKE)
    bench.group = "hot path: Binance trade frame -> ring (ns per frame)"
    samples: dict[str, np.ndarray] = {}
    infos: dict[str, Any] = {}
    runs = {"without": 0, "with": 0}

    def run() -> None:
        # alternate, so both see the same machine state; keep every round's samples
        for name in ("without", "with"):
            runs[name] += 1
            path = tmp_path / f"hot{runs[name]}.duckdb" if name == "with" else None
            ns, info = _hot_path(trade_frames, replays, path)
            samples[name] = np.concatenate([samples.get(name, np.zeros(0, np.int64)), ns])
            infos.update(info)

    bench.pedantic(run, rounds=_n(bench, 3, 1), iterations=1)
    for name, ns in samples.items():
        batches = ns[: ns.size // 1000 * 1000].reshape(-1, 1000).sum(axis=1)
        for q in (50, 99):
            bench.extra_info[f"{name}_writer_p{q}_ns"] = int(np.percentile(ns, q))
            bench.extra_info[f"{name}_writer_batch1000_p{q}_us"] = round(
                float(np.percentile(batches, q)) / 1000, 1
            )
    ratio = np.percentile(samples["with"], 99) / np.percentile(samples["without"], 99)
    batch_ratio = bench.extra_info["with_writer_batch1000_p99_us"] / max(
        bench.extra_info["without_writer_batch1000_p99_us"], 1e-9
    )
    bench.extra_info.update(
        p99_ratio=round(float(ratio), 3),
        batch1000_p99_ratio=round(float(batch_ratio), 3),
        frames_per_run=len(trade_frames) * replays,
        writer=str(infos),
    )
    if not bench.disabled:
        e = bench.extra_info
        _report_ratio(
            request,
            f"\nhot path per frame: without writer p50 {e['without_writer_p50_ns']} ns "
            f"p99 {e['without_writer_p99_ns']} ns; with writer p50 {e['with_writer_p50_ns']} ns "
            f"p99 {e['with_writer_p99_ns']} ns; p99 ratio {ratio:.2f}x (target <= 1.2x); "
            f"per 1,000 frames p99 ratio {batch_ratio:.2f}x",
        )
