"""Replay of recorded market data through the live decoders."""

from __future__ import annotations

from adapters.replay.recording import RecordingError, RecordingReader, load_frames

__all__ = ["RecordingError", "RecordingReader", "load_frames"]
