"""``ats replay``: the bundled recordings through the live decoder, checked against their own data.

Oracles: the venue's ``bookTicker`` (the online check of
:class:`api.replay_cmd.TopOfBookCheck` must agree with the offline join of
``tests/adapters/test_binance_book_vs_bookticker.py``), the final best bid/ask
documented in ``data/SOURCES.md``, and the frame counts of each file.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.replay import load_frames
from api import replay_cmd
from tests.adapters.test_binance_book_vs_bookticker import CASES

ROOT = Path(__file__).resolve().parents[2]
SPOT = ROOT / "data" / "binance_spot" / "btcusdt_20240808.gz"
USDM = ROOT / "data" / "binance_usdm" / "btcusdt_20240808.gz"
COINM = ROOT / "data" / "binance_coinm" / "btcusd_perp_20240808.gz"


def ats_replay(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="ats")
    replay_cmd.add_parser(parser.add_subparsers(dest="command"))
    status = replay_cmd.run(parser.parse_args(["replay", *argv]), Path)
    out, err = capsys.readouterr()
    return status, out, err


def replay_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    status, out, err = ats_replay(capsys, *argv, "--json")
    assert status == 0, err
    return json.loads(out)


RECORDINGS = {
    "spot": (SPOT, "binance-spot", 41_249, 9_757, "hftbacktest_spot", "BTCUSDT"),
    "usdm": (USDM, "binance-usdm", 93_954, 21_313, "hftbacktest_usdm", "BTCUSDT"),
    "coinm": (COINM, "binance-coinm", 48_270, 2_286, "hftbacktest_coinm", "BTCUSD_PERP"),
}


@pytest.mark.parametrize("name", list(RECORDINGS))
def test_replay_when_bundled_recording_then_counts_final_top_and_zero_bookticker_mismatches(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path, venue, frames, trades, case, symbol = RECORDINGS[name]
    summary = replay_json(capsys, str(path))
    assert summary["venue"] == venue  # detected: no --venue given
    for key in (
        "frames", "depth_updates_applied", "depth_updates_dropped", "gaps", "resyncs",
        "bad_frames", "trades", "final_best_bid", "final_best_ask", "last_book_ticker",
        "bookticker_checks", "bookticker_mismatches",
    ):  # fmt: skip
        assert key in summary, key
    assert (summary["frames"], summary["trades"], summary["snapshots"]) == (frames, trades, 1)
    assert (summary["gaps"], summary["resyncs"], summary["bad_frames"]) == (0, 0, 0)
    bid, ask = CASES[case].final[symbol]
    assert (summary["final_best_bid"], summary["final_best_ask"]) == (bid, ask)
    ticker = summary["last_book_ticker"]
    assert (ticker["bid"], ticker["ask"]) == (bid, ask)
    # the online check agrees with the offline join of the book-vs-bookTicker test
    assert summary["bookticker_checks"] == CASES[case].checks[symbol]
    assert (summary["bookticker_mismatches"], summary["bookticker_qty_mismatches"]) == (0, 0)
    assert summary["symbols"][symbol]["in_sync"] is True


def test_replay_last_book_ticker_is_the_recordings_last(
    capsys: pytest.CaptureFixture[str],
) -> None:
    summary = replay_json(capsys, str(USDM))
    last = json.loads(next(f for _, f in reversed(load_frames(USDM)) if b"@bookTicker" in f))
    data = last["data"]
    assert summary["last_book_ticker"] == {
        "update_id": data["u"],
        "bid": float(data["b"]),
        "bid_qty": float(data["B"]),
        "ask": float(data["a"]),
        "ask_qty": float(data["A"]),
    }


def test_replay_when_venue_given_then_it_overrides_detection(
    capsys: pytest.CaptureFixture[str],
) -> None:
    summary = replay_json(capsys, str(COINM), "--venue", "binance-spot")
    assert summary["venue"] == "binance-spot"
    assert summary["gaps"] == 1  # the spot procedure does not fit COIN-M ids
    assert summary["final_best_bid"] is None
    assert summary["bookticker_mismatches"] == 0  # out-of-sync books are never compared


def test_replay_when_diff_removed_and_bad_lines_then_gap_and_bad_frames_counted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    frames = load_frames(SPOT)[:5_000]
    depth = [i for i, (_, f) in enumerate(frames) if b'"stream":"btcusdt@depth' in f]
    del frames[depth[200]]
    lines = b"".join(b"%d %s\n" % (ts, f) for ts, f in frames)
    path = tmp_path / "gap.gz"
    path.write_bytes(gzip.compress(lines + b"no timestamp here\n" + b"%d {trunc\n" % frames[-1][0]))
    summary = replay_json(capsys, str(path))
    assert (summary["gaps"], summary["resyncs"]) == (1, 1)
    assert summary["bad_frames"] == 2  # the line without a timestamp and the truncated frame
    assert summary["bad_frame_kinds"] == {"malformed_json": 1}
    assert summary["frames"] == len(frames) + 2
    assert summary["final_best_bid"] is None and summary["symbols"]["BTCUSDT"]["in_sync"] is False
    assert summary["bookticker_checks"] > 100 and summary["bookticker_mismatches"] == 0


def test_replay_without_json_prints_one_line_per_value(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = ats_replay(capsys, str(SPOT))
    assert status == 0
    values = dict(line.split(None, 1) for line in out.splitlines())
    assert values["frames"] == "41,249"
    assert values["gaps"] == "0"
    assert values["final_best_bid"] == "61685.99"
    assert values["bookticker_mismatches"] == "0"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "recording not found: "),
        (b"1 hello\n2 world\n", "no Binance depth, trade or bookTicker stream in "),
    ],
    ids=["missing", "not_binance"],
)
def test_replay_when_bad_input_then_exit_2_with_one_line_naming_the_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "rec.txt"
    if content is not None:
        path.write_bytes(content)
    status, out, err = ats_replay(capsys, str(path))
    assert status == 2
    assert out == ""
    assert err == f"ats replay: error: {message}{path}\n"


def test_replay_when_venue_unknown_then_argparse_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        ats_replay(capsys, str(SPOT), "--venue", "binance")
    assert exc.value.code == 2
    assert "invalid choice: 'binance'" in capsys.readouterr().err
