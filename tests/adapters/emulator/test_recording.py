"""Recording index and the emulator's book: what is served, the book at the start, stream names.

Oracles: the recording's own lines (the file is cut and rewritten here, frames
unchanged) and Binance's documented book procedure.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.emulator import DepthBook, load_recording, stream_key
from adapters.emulator.book import DepthDiff, DepthSnapshot
from adapters.replay import RecordingError, load_frames
from tests.adapters.emulator._support import SPOT


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("btcusdt@depth@100ms", "btcusdt@depth"),
        ("BTCUSDT@depth", "btcusdt@depth"),
        ("btcusdt@depth@0ms", "btcusdt@depth"),
        ("btcusdt@depth20@100ms", "btcusdt@depth20@100ms"),  # partial depth is another stream
        ("btcusdt@bookTicker", "btcusdt@bookticker"),
        ("btcusd_perp@aggTrade", "btcusd_perp@aggtrade"),
    ],
)
def test_stream_key_when_case_or_depth_speed_differ_then_same_stream(name: str, key: str) -> None:
    assert stream_key(name) == key


def write_lines(path: Path, frames: list[tuple[int, bytes]]) -> Path:
    path.write_bytes(b"".join(b"%d %s\n" % (ts, frame) for ts, frame in frames))
    return path


def test_load_when_plain_file_cut_from_the_recording_then_served_from_after_the_snapshot(
    tmp_path: Path,
) -> None:
    lines = load_frames(SPOT)[:40]
    snapshot_at = next(i for i, (_, f) in enumerate(lines) if b'"stream"' not in f)
    junk = (lines[-1][0], b"not json at all")
    rec = load_recording(write_lines(tmp_path / "cut.txt", [*lines, junk]))
    assert rec.frames == [f for _, f in lines[snapshot_at + 1 :]]
    assert rec.recv_ts == [ts for ts, _ in lines[snapshot_at + 1 :]]
    assert rec.skipped_lines == snapshot_at == 7
    assert rec.unknown_lines == 1
    assert rec.symbol == "BTCUSDT"
    assert rec.streams[rec.depth_stream] == "btcusdt@depth@100ms"
    # the book starts at the snapshot plus the buffered diff that straddles it
    snapshot = json.loads(lines[snapshot_at][1])
    buffered = [json.loads(f)["data"] for _, f in lines[:snapshot_at] if b"@depth" in f[:40]]
    newer = [d for d in buffered if d["u"] > snapshot["lastUpdateId"]]
    assert newer and newer[0]["U"] <= snapshot["lastUpdateId"] + 1 <= newer[0]["u"]
    assert rec.initial_book.last_update_id == newer[-1]["u"] == 50093239224


def test_load_when_no_snapshot_line_then_error_names_the_file(tmp_path: Path) -> None:
    lines = [(ts, f) for ts, f in load_frames(SPOT)[:40] if b'"stream"' in f]
    path = write_lines(tmp_path / "nosnap.txt", lines)
    with pytest.raises(RecordingError, match=r"nosnap\.txt has no REST depth snapshot line"):
        load_recording(path)


def test_load_when_two_depth_streams_then_error_names_them(tmp_path: Path) -> None:
    lines = load_frames(SPOT)[:40]
    other = [(ts, f.replace(b"btcusdt@depth@100ms", b"ethusdt@depth@100ms")) for ts, f in lines]
    path = write_lines(tmp_path / "two.txt", lines + other[8:])
    with pytest.raises(RecordingError, match="btcusdt@depth@100ms, ethusdt@depth@100ms"):
        load_recording(path)


def test_load_when_missing_file_then_recording_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="recording not found"):
        load_recording(tmp_path / "missing.gz")


def book_of(bids: list[tuple[str, str]], asks: list[tuple[str, str]], last: int) -> DepthBook:
    return DepthBook.from_snapshot(DepthSnapshot(last_update_id=last, bids=bids, asks=asks))


def test_book_when_stale_diff_then_skipped_and_counted() -> None:
    book = book_of([("100.0", "1")], [("101.0", "1")], last=10)
    assert not book.apply(DepthDiff(U=5, u=10, b=[("100.0", "0")], a=[]))
    assert book.stale == 1 and book.levels(5) == ([["100.0", "1"]], [["101.0", "1"]])


def test_book_when_zero_quantity_then_level_removed_and_levels_sorted_best_first() -> None:
    book = book_of([("100.0", "1"), ("99.5", "2")], [("101.0", "1")], last=10)
    assert book.apply(DepthDiff(U=11, u=12, b=[("100.0", "0.000"), ("99.9", "3")], a=[]))
    assert book.apply(DepthDiff(U=13, u=13, b=[], a=[("100.5", "4"), ("102", "5")]))
    assert book.levels(2) == ([["99.9", "3"], ["99.5", "2"]], [["100.5", "4"], ["101.0", "1"]])
    assert book.last_update_id == 13 and book.chain_breaks == 0


def test_book_when_diff_does_not_chain_then_applied_and_counted() -> None:
    spot = book_of([], [], last=10)
    spot.apply(DepthDiff(U=11, u=12, b=[], a=[]))
    spot.apply(DepthDiff(U=14, u=15, b=[("1", "1")], a=[]))  # 13 missing
    assert spot.chain_breaks == 1 and spot.last_update_id == 15
    futures = book_of([], [], last=10)
    futures.apply(DepthDiff(U=9, u=12, pu=8, b=[], a=[], E=1, T=2))
    futures.apply(DepthDiff(U=13, u=14, pu=11, b=[], a=[], E=3, T=4))  # pu != 12
    assert futures.chain_breaks == 1
    assert (futures.event_time, futures.transaction_time) == (3, 4)
