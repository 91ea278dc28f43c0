"""RecordingReader: ``<recv_ts_ns> <frame>`` lines, gzip (by magic bytes) or plain.

Oracles: the frames we wrote ourselves, and for a cut gzip file the whole lines
that ``zlib`` itself can still decompress from the cut bytes.
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

import pytest

from adapters.replay import RecordingError, RecordingReader, load_frames

RECORDING = Path(__file__).resolve().parents[2] / "data" / "binance_spot" / "btcusdt_20240808.gz"

FRAMES = [
    (1723161254087891268, b'{"stream":"btcusdt@bookTicker","data":{"u":1,"b":"61837.63"}}'),
    (1723161254087896568, b'{"stream":"btcusdt@trade","data":{"p":"61837.63","q":"0.02"}}'),
    (1723161254206652067, b'{"lastUpdateId":50093239218,"bids":[],"asks":[]}'),
    (1723161254208809267, b"a frame with spaces inside"),
]


def lines_of(frames: list[tuple[int, bytes]]) -> bytes:
    return b"".join(b"%d %s\n" % (ts, frame) for ts, frame in frames)


@pytest.mark.parametrize(
    ("name", "compress"),
    [("rec.gz", True), ("rec.txt", False), ("rec.jsonl.gz", False), ("rec.txt", True)],
    ids=["gzip", "plain", "plain_named_gz", "gzip_named_txt"],
)
def test_reader_when_gzip_or_plain_then_detected_by_magic_bytes_and_frames_equal(
    tmp_path: Path, name: str, compress: bool
) -> None:
    data = lines_of(FRAMES)
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if compress else data)
    reader = RecordingReader(path)
    assert reader.compressed is compress
    assert reader.bytes_read == 0
    assert list(reader) == FRAMES
    assert (reader.bad_lines, reader.truncated) == (0, False)
    assert reader.bytes_read == path.stat().st_size
    assert load_frames(path) == FRAMES


def test_reader_when_lines_without_timestamp_then_counted_and_skipped(tmp_path: Path) -> None:
    good = lines_of(FRAMES[:2])
    bad = [
        b'{"stream":"btcusdt@trade"}\n',  # no timestamp at all
        b"garbage\n",  # no space
        b"12x3 {}\n",  # not an integer
        b' 1723161254087891268 {"u":1}\n',  # space first
        b"1723161254.5 {}\n",  # not an integer either
    ]
    blank = [b"\n", b"\r\n", b"   \n"]
    crlf = lines_of(FRAMES[2:]).replace(b"\n", b"\r\n")
    path = tmp_path / "mixed.txt"
    path.write_bytes(bad[0] + good + b"".join(bad[1:]) + b"".join(blank) + crlf)
    reader = RecordingReader(path)
    assert list(reader) == FRAMES
    assert reader.bad_lines == len(bad)
    assert reader.truncated is False


@pytest.mark.parametrize("keep", [0.25, 0.5, 0.97], ids=["quarter", "half", "almost_all"])
def test_reader_when_gzip_cut_then_truncated_and_every_whole_line_before_the_cut(
    tmp_path: Path, recording_frames: list[tuple[int, bytes]], keep: float
) -> None:
    frames = recording_frames[:3000]
    data = gzip.compress(lines_of(frames))
    cut = data[: int(len(data) * keep)]
    path = tmp_path / "cut.gz"
    path.write_bytes(cut)
    # What zlib can recover from the cut bytes, up to the last newline.
    recoverable = zlib.decompressobj(wbits=31).decompress(cut)
    whole = recoverable[: recoverable.rfind(b"\n") + 1].count(b"\n")
    assert 0 < whole < len(frames)

    reader = RecordingReader(path)
    got = list(reader)
    assert reader.truncated is True
    assert reader.bad_lines == 0
    assert got == frames[:whole]


@pytest.mark.parametrize("size", [2, 5, 10], ids=["magic_only", "in_header", "header_only"])
def test_reader_when_gzip_cut_inside_header_then_truncated_and_nothing(
    tmp_path: Path, size: int
) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(lines_of(FRAMES))[:size])
    reader = RecordingReader(path)
    assert reader.compressed is True
    assert list(reader) == []
    assert reader.truncated is True


def test_reader_when_file_missing_then_recording_error_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such_recording.gz"
    with pytest.raises(RecordingError, match=r"such_recording\.gz") as info:
        RecordingReader(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, OSError)
    with pytest.raises(RecordingError, match=re.escape(str(tmp_path))):
        load_frames(tmp_path)  # a directory is not a recording


def test_reader_bundled_recording_then_every_line_is_a_frame() -> None:
    reader = RecordingReader(RECORDING)
    count = 0
    last_ts = 0
    snapshots = 0
    for ts, frame in reader:
        count += 1
        assert ts >= last_ts
        last_ts = ts
        snapshots += not frame.startswith(b'{"stream":')
    assert reader.compressed is True
    assert (count, snapshots) == (41_249, 1)
    assert (reader.bad_lines, reader.truncated) == (0, False)
