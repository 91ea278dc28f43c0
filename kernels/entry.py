"""Calling one compiled signature of a numba kernel without numba's per-call dispatch."""

from __future__ import annotations

from typing import Any

__all__ = ["compiled_entry"]


def compiled_entry(dispatcher: Any, *example_args: Any) -> Any:
    """Return ``dispatcher``'s compiled entry point for the types of ``example_args``.

    Calling a numba dispatcher resolves the argument types on every call
    (about 45 ns per array argument); the entry point of one compiled
    signature skips that and unboxes directly. It is only safe with arguments
    of exactly these types, which the callers guarantee (their own arrays,
    and only ``bytes`` frames: the venue decoders route a frame by slicing
    it, which a ``str``, ``bytearray`` or ``memoryview`` cannot pass). Falls
    back to the dispatcher itself when this numba has no such attribute.
    """
    from numba import typeof

    signature = tuple(typeof(arg) for arg in example_args)
    dispatcher.compile(signature)
    overload = getattr(dispatcher, "overloads", {}).get(signature)
    entry = getattr(overload, "entry_point", None)
    return entry if entry is not None else dispatcher
