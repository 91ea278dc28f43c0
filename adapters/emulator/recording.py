"""A Binance recording indexed for the emulator: frames by stream, and the book at the start.

A recording is ``<recv_ts_ns> <frame>`` lines (gzip or plain, read by
:class:`adapters.replay.RecordingReader`): combined-stream frames
``{"stream": "btcusdt@depth@100ms", "data": {...}}`` and one REST depth
snapshot line without ``stream``, written when it was received, after a few
diffs had already arrived (Binance's "buffer, then snapshot" procedure).

The emulator serves the recording from the line after the snapshot on: its
book starts as the snapshot plus the buffered diffs recorded before it (those
newer than the snapshot), which is the first point where a book built from the
recording is valid. Everything before the snapshot line is not served.

Stream names are matched by :func:`stream_key`: lower case, with the depth
update speed removed (``btcusdt@depth@100ms``, ``BTCUSDT@depth`` and
``btcusdt@depth@0ms`` are one stream), so a client gets the recording's depth
stream whatever speed it asks for.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from adapters.emulator.book import DepthBook, DepthSnapshot, WrappedDiff
from adapters.replay import RecordingError, RecordingReader

__all__ = ["EmulatorRecording", "load_recording", "stream_key"]

_STREAM_PREFIX = b'{"stream":"'
_DEPTH_SPEEDS = frozenset({"0ms", "100ms", "250ms", "500ms", "1000ms"})


class _Head(msgspec.Struct):
    stream: str = ""


def stream_key(name: str) -> str:
    """The key a stream name is matched on: ``BTCUSDT@depth@100ms`` → ``btcusdt@depth``."""
    parts = name.strip().lower().split("@")
    if len(parts) == 3 and parts[1] == "depth" and parts[2] in _DEPTH_SPEEDS:
        del parts[2]
    return "@".join(parts)


class EmulatorRecording:
    """The served part of a recording, indexed once; shareable by several emulators.

    Attributes
    ----------
    path : Path
        The file.
    frames : list[bytes]
        Frames to serve, exactly as recorded, starting at the line after the snapshot.
    recv_ts : list[int]
        The recorded receive time (ns) of each frame.
    stream_ids : list[int]
        Index into :attr:`streams` of each frame.
    streams : list[str]
        The recorded stream names (``btcusdt@depth@100ms``).
    depth_stream : int
        Index of the depth-diff stream.
    symbol : str
        The venue symbol of the book (``BTCUSDT``, ``BTCUSD_PERP``).
    snapshot_keys : list[str]
        Keys of the recorded snapshot, in order (futures add ``E``, ``T``, COIN-M ``symbol``,
        ``pair``), so answers have the recorded shape.
    snapshot_extra : dict
        Recorded snapshot fields other than ``lastUpdateId``, ``E``, ``T``, ``bids``, ``asks``.
    initial_book : DepthBook
        The snapshot plus the buffered diffs recorded before it: the book at the start.
    skipped_lines : int
        Lines before the snapshot line (not served).
    unknown_lines : int
        Lines after it with neither ``stream`` nor ``lastUpdateId`` (not served).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        reader = RecordingReader(self.path)
        lines = list(reader)
        head_decoder = msgspec.json.Decoder(_Head)
        names: list[str] = []
        ids: dict[str, int] = {}
        frame_ids: list[int] = []
        snapshot_at = -1
        for i, (_, frame) in enumerate(lines):
            name = _stream_of(frame, head_decoder)
            if name is None:
                frame_ids.append(-1)
                continue
            if not name:
                frame_ids.append(-2)
                if snapshot_at < 0 and b'"lastUpdateId"' in frame:
                    snapshot_at = i
                continue
            sid = ids.get(name)
            if sid is None:
                sid = ids[name] = len(names)
                names.append(name)
            frame_ids.append(sid)
        depth = [sid for sid, n in enumerate(names) if stream_key(n).endswith("@depth")]
        if snapshot_at < 0:
            raise RecordingError(
                f"recording {self.path} has no REST depth snapshot line "
                "(a line without 'stream' holding 'lastUpdateId'); the emulator needs one"
            )
        if len(depth) != 1:
            found = ", ".join(names[sid] for sid in depth) or "none"
            raise RecordingError(
                f"recording {self.path} must hold exactly one depth-diff stream, found {found}"
            )
        self.streams = names
        self.depth_stream = depth[0]
        self.symbol = names[self.depth_stream].split("@", 1)[0].upper()
        try:
            snapshot_raw = msgspec.json.decode(lines[snapshot_at][1])
            snapshot = msgspec.convert(snapshot_raw, DepthSnapshot)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise RecordingError(
                f"recording {self.path}: bad REST snapshot at line {snapshot_at + 1}: {exc}"
            ) from None
        self.snapshot_keys: list[str] = list(snapshot_raw)
        self.snapshot_extra = {
            k: v
            for k, v in snapshot_raw.items()
            if k not in ("lastUpdateId", "E", "T", "bids", "asks")
        }
        book = DepthBook.from_snapshot(snapshot)
        diff_decoder = msgspec.json.Decoder(WrappedDiff)
        for (_, frame), sid in zip(lines[:snapshot_at], frame_ids[:snapshot_at], strict=True):
            if sid == self.depth_stream:
                wrapped = _decode_diff(diff_decoder, frame)
                if wrapped is not None:
                    book.apply(wrapped.data)
        book.stale = 0  # the buffered diffs older than the snapshot are expected, not news
        self.initial_book = book
        after = snapshot_at + 1
        served = [(ts, f, s) for (ts, f), s in zip(lines[after:], frame_ids[after:], strict=True)]
        self.frames = [f for _, f, s in served if s >= 0]
        self.recv_ts = [ts for ts, _, s in served if s >= 0]
        self.stream_ids = [s for _, _, s in served if s >= 0]
        self.skipped_lines = snapshot_at
        self.unknown_lines = sum(1 for _, _, s in served if s < 0)
        self.bad_lines = reader.bad_lines
        self.truncated = reader.truncated
        self._diff_decoder = diff_decoder

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def depth_diffs(self) -> int:
        """Number of depth diffs served in one pass."""
        return self.stream_ids.count(self.depth_stream)

    def decode_diff(self, index: int) -> WrappedDiff | None:
        """Decode the depth diff at ``frames[index]`` (``None`` if it is malformed)."""
        return _decode_diff(self._diff_decoder, self.frames[index])


def _stream_of(frame: bytes, decoder: msgspec.json.Decoder[_Head]) -> str | None:
    """The stream name, ``""`` for a frame without one, ``None`` if it is not a JSON object."""
    if frame.startswith(_STREAM_PREFIX):  # the recorders' key order: no full decode needed
        end = frame.find(b'"', len(_STREAM_PREFIX))
        if end > 0:
            return frame[len(_STREAM_PREFIX) : end].decode()
    try:
        return decoder.decode(frame).stream
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _decode_diff(decoder: msgspec.json.Decoder[WrappedDiff], frame: bytes) -> WrappedDiff | None:
    try:
        return decoder.decode(frame)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def load_recording(path: str | os.PathLike[str]) -> EmulatorRecording:
    """Read and index a recording (see :class:`EmulatorRecording`).

    Raises
    ------
    RecordingError
        Missing or unreadable file, no snapshot line, not exactly one depth stream, or a
        snapshot that does not decode. (A malformed depth diff is served as recorded and
        skipped by the emulator's book.)
    """
    return EmulatorRecording(path)
