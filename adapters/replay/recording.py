"""Read recordings of the form ``<recv_ts_ns> <raw frame>``, one per line, gzip or plain.

This is the format hftbacktest's collectors write (and ours will): the local
receive time in ns, one space, then the frame exactly as it came off the
socket. Gzip is detected from the file's magic bytes, not its name.

A line that does not start with an integer timestamp and a space is counted
in :attr:`RecordingReader.bad_lines` and skipped; a gzip stream that ends early
(a recorder killed mid-write) ends the replay after the last whole line, and
:attr:`RecordingReader.truncated` says so.
"""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["RecordingError", "RecordingReader", "load_frames"]

_log = logging.getLogger("ats.adapters.replay")

_GZIP_MAGIC = b"\x1f\x8b"


class RecordingError(OSError):
    """A recording that cannot be read at all (missing, unreadable, not a recording)."""


class RecordingReader:
    """Iterate ``(recv_ts_ns, frame_bytes)`` over a recording file.

    Examples
    --------
    >>> reader = RecordingReader("data/binance_spot/btcusdt_20240808.gz")
    >>> ts, frame = next(iter(reader))
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise RecordingError(f"recording not found: {self.path}")
        try:
            with self.path.open("rb") as f:
                self.compressed = f.read(2) == _GZIP_MAGIC
        except OSError as exc:
            raise RecordingError(f"cannot read recording {self.path}: {exc.strerror}") from None
        #: Lines skipped because they are not ``<int> <frame>``.
        self.bad_lines = 0
        #: True when the gzip stream ended early (the last partial line is dropped).
        self.truncated = False
        self._raw: BinaryIO | None = None

    @property
    def bytes_read(self) -> int:
        """Bytes of the file (compressed, if gzip) consumed so far, for progress display."""
        raw = self._raw
        if raw is None or raw.closed:
            return self.path.stat().st_size if self._raw is not None else 0
        return raw.tell()

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        with self.path.open("rb") as raw:
            self._raw = raw
            f: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if self.compressed else raw
            try:
                for line in f:
                    parsed = self._parse(line)
                    if parsed is not None:
                        yield parsed
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                self.truncated = True
                _log.warning(
                    "recording ends early: replay stops at the last whole line",
                    extra={"fields": {"path": str(self.path), "error": str(exc)}},
                )

    def _parse(self, line: bytes) -> tuple[int, bytes] | None:
        space = line.find(b" ")
        if space <= 0:
            if line.strip():
                self._bad(line)
            return None
        try:
            ts = int(line[:space])
        except ValueError:
            self._bad(line)
            return None
        return ts, line[space + 1 :].rstrip(b"\r\n")

    def _bad(self, line: bytes) -> None:
        self.bad_lines += 1
        _log.warning(
            "recording line without a timestamp skipped",
            extra={
                "fields": {
                    "path": str(self.path),
                    "line_head": line[:80].decode("utf-8", "replace"),
                }
            },
        )


def load_frames(path: str | os.PathLike[str]) -> list[tuple[int, bytes]]:
    """Read a whole recording into memory (for benchmarks and tests)."""
    return list(RecordingReader(path))
