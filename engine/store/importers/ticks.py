"""Trade prints from recordings of Binance and Bybit WebSocket streams → ``price_ticks`` rows.

Line formats (gzip or plain, told apart by the magic bytes):

* ``<recv_ts_ns> <raw frame>``: the recording format of hftbacktest's
  collectors and of this repository (``adapters/replay``);
* cryptofeed's text recordings: ``<recv_ts_s.fraction>: <raw frame>`` for a
  frame received, ``<url> <-> <ts>`` (the connection; its URL tells the
  market) and ``<url> <- <ts>: <json>`` (a frame sent) are skipped.

Frames: Binance ``trade`` and ``aggTrade`` events, in the combined-stream
wrapper ``{"stream": ..., "data": {...}}`` or bare, and Bybit v5
``publicTrade.<symbol>`` messages (several trades each). Every other frame
(depth, bookTicker, kline, REST snapshots, subscription answers) is valid
but not a trade: it is *skipped* and counted. A frame that is not JSON, or a
trade with a missing or bad field, is *rejected* with the line number and
the field and value. Binance futures trades whose ``X`` is not ``MARKET``
(insurance fund, ADL) are skipped, as the live decoder does.

Columns: ``ts_event`` is the venue's trade time ``T`` (ms → ns), ``ts_recv``
the line's receive time, ``side`` the aggressor (Binance ``m`` true — the
buyer was the maker — is a sell, ``-1``; Bybit ``S``), ``trade_id`` the
venue's id (``t``; ``a`` for ``aggTrade``; a Bybit id that is not an
integer, such as a linear market's UUID, becomes the signed int64 of the
first 8 bytes of its SHA-1). When one symbol has both ``trade`` and
``aggTrade`` prints in a file, the aggregates are skipped (their ids are
another sequence, and they repeat the same volume).

Venue (``--venue`` overrides): the URL of a cryptofeed recording
(``stream.binance.com`` → ``binance``, ``fstream`` → ``binance-usdm``,
``dstream`` → ``binance-coinm``, ``.../v5/public/linear`` → ``bybit-linear``);
otherwise Binance is ``binance-coinm`` when a symbol has an ``_``
(``BTCUSD_PERP``), ``binance-usdm`` when a trade has ``X`` or a depth diff
has ``pu``, else ``binance``; Bybit is ``bybit-linear`` when a trade id is
not an integer, else ``bybit-spot``.

Symbol: ``symbol`` (``--symbol``) names every trade of the file (for a
one-symbol recording); otherwise ``symbol_map(venue, venue_symbol)`` gives
the ccxt unified symbol (the CLI passes the adapters' mapping; the engine
does not import adapters). A venue symbol it cannot map (``ValueError``)
rejects its trades with the reason. Without a map the venue symbol is kept.
"""

from __future__ import annotations

import hashlib
import math
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa

from engine.store.importers._common import ImportFileError, Parsed, Rejects
from engine.store.schema import arrow_schema

__all__ = ["TICK_VENUES", "SymbolMap", "read_ticks"]

#: Venue names written to ``price_ticks.venue`` (the names ``ats`` uses for venues).
TICK_VENUES = ("binance", "binance-usdm", "binance-coinm", "bybit-spot", "bybit-linear")

#: ``(venue, venue_symbol) -> unified symbol``; raises ``ValueError`` for an unknown one.
SymbolMap = Callable[[str, str], str]

_GZIP_MAGIC = b"\x1f\x8b"
_MS = 1_000_000
_BINANCE, _BYBIT = 0, 1
_KIND_TRADE, _KIND_AGG = 0, 1
_URL_VENUES = (
    (b"fstream.binance", "binance-usdm"),
    (b"dstream.binance", "binance-coinm"),
    (b"stream.binance", "binance"),
    (b"/v5/public/linear", "bybit-linear"),
    (b"/v5/public/spot", "bybit-spot"),
)


class _BinanceTrade(msgspec.Struct, gc=False):
    """``trade`` (id ``t``) and ``aggTrade`` (id ``a``) events; only the fields we keep."""

    e: str
    s: str
    p: float
    q: float
    T: int
    m: bool
    t: int = -1
    a: int = -1
    X: str = ""


class _Combined(msgspec.Struct, gc=False):
    stream: str
    data: _BinanceTrade


class _BybitTrade(msgspec.Struct, gc=False):
    T: int
    s: str
    S: str
    v: float
    p: float
    i: str


class _BybitMessage(msgspec.Struct, gc=False):
    topic: str
    data: list[_BybitTrade]


class _Columns:
    __slots__ = (
        "family",
        "kind",
        "line",
        "price",
        "quantity",
        "side",
        "trade_id",
        "ts_event",
        "ts_recv",
        "vsym",
    )

    def __init__(self) -> None:
        self.vsym: list[str] = []
        self.ts_event: list[int] = []
        self.ts_recv: list[int] = []
        self.price: list[float] = []
        self.quantity: list[float] = []
        self.trade_id: list[int] = []
        self.side: list[int] = []
        self.line: list[int] = []
        self.kind: list[int] = []
        self.family: list[int] = []


class _Evidence:
    """What the frames say about the venue."""

    __slots__ = ("binance_futures", "bybit_uuid", "url_venue")

    def __init__(self) -> None:
        self.url_venue: str | None = None
        self.binance_futures = False
        self.bybit_uuid = False


def _open_lines(path: Path, chunk: int = 1 << 18) -> Iterator[bytes]:
    """The file's lines (without their ``\\n``), gzip or plain, read in blocks.

    Gzip is decompressed with :mod:`zlib` directly so that a stream cut short
    (a recorder killed mid-write) still gives every whole line before the
    cut; then :class:`_TruncatedError` is raised. Multi-member gzip files
    (concatenated recordings) are read through.
    """
    with path.open("rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        inflate = zlib.decompressobj(wbits=31) if compressed else None
        rest = b""
        while True:
            block = raw.read(chunk)
            if not block:
                break
            if inflate is not None:
                try:
                    data = inflate.decompress(block)
                    while inflate.eof and inflate.unused_data:
                        tail = inflate.unused_data
                        inflate = zlib.decompressobj(wbits=31)
                        data += inflate.decompress(tail)
                except zlib.error as exc:
                    raise _TruncatedError(f"corrupt gzip data: {exc}") from None
            else:
                data = block
            lines = (rest + data).split(b"\n")
            rest = lines.pop()
            yield from lines
        if inflate is not None and not inflate.eof:
            raise _TruncatedError("gzip stream ends early")
        if rest:
            yield rest


class _TruncatedError(Exception):
    pass


def _bybit_id(text: str) -> int:
    if text.isdigit() and len(text) < 19:
        return int(text)
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is not None and -(2**63) <= value < 2**63:
        return value
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "big", signed=True)


def read_ticks(
    path: str | os.PathLike[str],
    *,
    venue: str | None = None,
    symbol: str | None = None,
    symbol_map: SymbolMap | None = None,
) -> Parsed:
    """Read the trades of a recording into ``price_ticks`` rows (see the module docstring).

    Examples
    --------
    >>> parsed = read_ticks("data/binance_spot/btcusdt_20240808.gz", symbol="BTC/USDT")
    >>> parsed.rows.num_rows, parsed.info["venue"]
    (9757, 'binance')
    """
    if venue is not None and venue not in TICK_VENUES:
        raise ImportFileError(f"venue must be one of {', '.join(TICK_VENUES)}, was {venue!r}")
    file = Path(path)
    if not file.is_file():
        raise ImportFileError(f"file not found: {file}")
    cols = _Columns()
    rejects = Rejects()
    evidence = _Evidence()
    scanner = _Scanner(cols, rejects, evidence)
    truncated = False
    try:
        scanner.scan(_open_lines(file))
    except _TruncatedError:
        truncated = True
    except OSError as exc:
        raise ImportFileError(f"cannot read {file}: {exc.strerror or exc}") from None
    read, skipped = scanner.read, scanner.skipped
    info = {"format": "recording"}
    if truncated:
        info["truncated"] = "gzip stream ends early; read up to the last whole line"
    venues = (
        venue or _binance_venue(cols, evidence),
        venue or ("bybit-linear" if evidence.bybit_uuid else evidence.url_venue or "bybit-spot"),
    )
    skipped += _drop_aggregates_beside_trades(cols, info)
    table = _to_table(cols, venues, symbol, symbol_map, rejects)
    present = {venues[f] for f in set(cols.family)}
    if present:
        info["venue"] = ",".join(sorted(present))
    if table.num_rows:
        info["symbols"] = ",".join(sorted(set(table.column("symbol").to_pylist())))
    return Parsed("price_ticks", table, rejects, read, skipped, info)


def _binance_venue(cols: _Columns, evidence: _Evidence) -> str:
    if evidence.url_venue is not None and evidence.url_venue.startswith("binance"):
        return evidence.url_venue
    if any("_" in s for s in set(cols.vsym)):
        return "binance-coinm"
    return "binance-usdm" if evidence.binance_futures else "binance"


_BATCH = 8192


class _Scanner:
    """Sorts lines by kind and decodes each kind in batches (one msgspec call per batch).

    A batch that does not decode as a whole (a bad frame in it) is decoded
    frame by frame, so only the bad frames are rejected.
    """

    def __init__(self, cols: _Columns, rejects: Rejects, evidence: _Evidence) -> None:
        self.cols = cols
        self.rejects = rejects
        self.evidence = evidence
        self.read = 0
        self.skipped = 0
        self._combined = msgspec.json.Decoder(list[_Combined], strict=False).decode
        self._combined_one = msgspec.json.Decoder(_Combined, strict=False).decode
        self._bare = msgspec.json.Decoder(list[_BinanceTrade], strict=False).decode
        self._bare_one = msgspec.json.Decoder(_BinanceTrade, strict=False).decode
        self._bybit = msgspec.json.Decoder(list[_BybitMessage], strict=False).decode
        self._bybit_one = msgspec.json.Decoder(_BybitMessage, strict=False).decode
        # (frames, (line, recv_ts) of each) per kind
        self._pending: dict[str, tuple[list[bytes], list[tuple[int, int]]]] = {
            k: ([], []) for k in ("combined", "bare", "bybit")
        }
        self._size = 0

    def scan(self, lines: Iterator[bytes]) -> None:
        """Read every line; sort it into a batch; decode the batches as they fill up."""
        pending = self._pending
        combined, bare, bybit = pending["combined"], pending["bare"], pending["bybit"]
        evidence = self.evidence
        size = self._size
        try:
            for n, line in enumerate(lines, 1):
                if not line or line == b"\r":
                    continue
                self.read += 1
                space = line.find(b" ", 0, 40)
                try:
                    recv = int(line[:space])
                except ValueError:
                    recv = self._other_timestamp(n, line, space)
                    if recv is None:
                        continue
                frame = line[space + 1 :]
                if frame[:11] == b'{"stream":"':
                    channel = frame[frame.find(b"@", 11, 80) + 1 : frame.find(b'"', 11, 80)]
                    if channel == b"trade" or channel == b"aggTrade":
                        target = combined
                    else:
                        if (
                            not evidence.binance_futures
                            and channel[:5] == b"depth"
                            and b'"pu":' in frame
                        ):
                            evidence.binance_futures = True
                        target = None
                elif frame[:9] == b'{"topic":':
                    target = bybit if frame.find(b"publicTrade.", 0, 40) >= 0 else None
                elif frame.find(b'"e":"trade"') >= 0 or frame.find(b'"e":"aggTrade"') >= 0:
                    target = bare
                else:
                    target = None
                if target is None:
                    # Not a trade. Only its outline is checked (a JSON object: starts with
                    # "{" and ends with "}", which catches lines cut short by a crash);
                    # parsing every skipped frame in full would cost a fifth of the import.
                    if frame[:1] == b"{" and frame.rstrip(b"\r")[-1:] == b"}":
                        self.skipped += 1
                    else:
                        self.rejects.add(n, "frame: not a JSON object", _head(frame))
                    continue
                target[0].append(frame)
                target[1].append((n, recv))
                size += 1
                if size >= _BATCH:
                    self._size = size
                    self.flush()
                    size = 0
        finally:
            self._size = size
            self.flush()

    def _other_timestamp(self, n: int, line: bytes, space: int) -> int | None:
        """The receive time of a cryptofeed line (``<s>.<fraction>: <frame>``), else None."""
        head = line[:space] if space > 0 else line
        if head[-1:] == b":":
            sec, _, frac = head[:-1].partition(b".")
            try:
                return int(sec) * 1_000_000_000 + int(frac.ljust(9, b"0")[:9] or b"0")
            except ValueError:
                pass
        self._no_timestamp(n, line, head)
        return None

    def _no_timestamp(self, n: int, line: bytes, head: bytes) -> None:
        if b"://" in head:  # cryptofeed's connection line, or a frame the client sent
            self.skipped += 1
            if self.evidence.url_venue is None and b" <-> " in line:
                self.evidence.url_venue = next((v for k, v in _URL_VENUES if k in head), None)
            return
        self.rejects.add(
            n, "line: no receive timestamp", f"expected '<recv_ts_ns> <frame>', got {_head(line)}"
        )

    def flush(self) -> None:
        """Decode the pending batches."""
        if not self._size:
            return
        self._size = 0
        for kind, (frames, where) in self._pending.items():
            if not frames:
                continue
            if kind == "bybit":
                self._flush_bybit(frames, where)
            else:
                self._flush_binance(frames, where, kind == "combined")
            frames.clear()
            where.clear()

    def _decode(
        self,
        many: Callable[[bytes], list],
        one: Callable[[bytes], object],
        frames: list[bytes],
        where: list[tuple[int, int]],
        on_error: Callable[[int, bytes, Exception], None],
    ) -> tuple[list, list[tuple[int, int]]]:
        try:
            return many(b"[" + b",".join(frames) + b"]"), where
        except (msgspec.DecodeError, UnicodeDecodeError):
            pass
        items = []
        good_where = []
        for frame, w in zip(frames, where, strict=True):
            try:
                items.append(one(frame))
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                on_error(w[0], frame, exc)
                continue
            good_where.append(w)
        return items, good_where

    def _flush_binance(
        self, frames: list[bytes], where: list[tuple[int, int]], wrapped: bool
    ) -> None:
        rejects = self.rejects

        def on_error(n: int, frame: bytes, exc: Exception) -> None:
            _reject_binance(n, frame, wrapped, exc, rejects)

        if wrapped:
            messages, where = self._decode(
                self._combined, self._combined_one, frames, where, on_error
            )
            events = [m.data for m in messages]
        else:
            events, where = self._decode(self._bare, self._bare_one, frames, where, on_error)
        if self._binance_clean(events, where):
            return
        cols = self.cols
        vsym, ts_event, ts_recv = cols.vsym.append, cols.ts_event.append, cols.ts_recv.append
        price, quantity, trade_id = cols.price.append, cols.quantity.append, cols.trade_id.append
        side, line_no, kind, family = (
            cols.side.append,
            cols.line.append,
            cols.kind.append,
            cols.family.append,
        )
        isfinite = math.isfinite
        for event, (n, recv) in zip(events, where, strict=True):
            if event.e == "trade":
                tid = event.t
                k = _KIND_TRADE
                if event.X:
                    self.evidence.binance_futures = True
                    if event.X != "MARKET":
                        self.skipped += 1
                        continue
            elif event.e == "aggTrade":
                tid = event.a
                k = _KIND_AGG
            else:
                self.skipped += 1
                continue
            reason = _check_trade(event.p, event.q, event.T, isfinite, "q")
            if reason is None and tid < 0:
                reason = ("t: missing" if k == _KIND_TRADE else "a: missing", str(tid))
            if reason is not None:
                rejects.add(n, reason[0], reason[1])
                continue
            vsym(event.s)
            ts_event(event.T * _MS)
            ts_recv(recv)
            price(event.p)
            quantity(event.q)
            trade_id(tid)
            side(-1 if event.m else 1)
            line_no(n)
            kind(k)
            family(_BINANCE)

    def _binance_clean(self, events: list[_BinanceTrade], where: list[tuple[int, int]]) -> bool:
        """Append a batch column by column when every event in it is good (the usual case)."""
        if not events:
            return True
        kinds = {e.e for e in events}
        if not kinds <= {"trade", "aggTrade"} or not {e.X for e in events} <= {"", "MARKET"}:
            return False
        prices = np.array([e.p for e in events], np.float64)
        quantities = np.array([e.q for e in events], np.float64)
        times = np.array([e.T for e in events], np.int64)
        if kinds == {"trade"}:
            ids = [e.t for e in events]
            kind = [_KIND_TRADE] * len(events)
        elif kinds == {"aggTrade"}:
            ids = [e.a for e in events]
            kind = [_KIND_AGG] * len(events)
        else:
            ids = [e.t if e.e == "trade" else e.a for e in events]
            kind = [_KIND_TRADE if e.e == "trade" else _KIND_AGG for e in events]
        if not (
            bool(np.all((prices > 0.0) & (prices < math.inf)))
            and bool(np.all((quantities > 0.0) & (quantities < math.inf)))
            and bool(np.all((times > 0) & (times < 10**13)))
            and min(ids) >= 0
        ):
            return False
        if not self.evidence.binance_futures and any(e.X for e in events):
            self.evidence.binance_futures = True
        cols = self.cols
        cols.vsym.extend([e.s for e in events])
        cols.ts_event.extend((times * _MS).tolist())
        cols.ts_recv.extend([w[1] for w in where])
        cols.price.extend(prices.tolist())
        cols.quantity.extend(quantities.tolist())
        cols.trade_id.extend(ids)
        cols.side.extend([-1 if e.m else 1 for e in events])
        cols.line.extend([w[0] for w in where])
        cols.kind.extend(kind)
        cols.family.extend([_BINANCE] * len(events))
        return True

    def _flush_bybit(self, frames: list[bytes], where: list[tuple[int, int]]) -> None:
        rejects = self.rejects

        def on_error(n: int, frame: bytes, exc: Exception) -> None:
            _reject_bybit(n, frame, exc, rejects)

        messages, where = self._decode(self._bybit, self._bybit_one, frames, where, on_error)
        cols = self.cols
        isfinite = math.isfinite
        for message, (n, recv) in zip(messages, where, strict=True):
            good = []
            for k, item in enumerate(message.data):
                reason = _check_trade(item.p, item.v, item.T, isfinite, "v")
                if reason is None and item.S not in ("Buy", "Sell"):
                    reason = ("S: not Buy or Sell", repr(item.S))
                if reason is not None:
                    rejects.add(n, reason[0], f"{reason[1]} (trade {k} of the message)")
                    continue
                good.append(item)
            for item in good:
                tid = item.i
                if not tid.isdigit():
                    self.evidence.bybit_uuid = True
                cols.vsym.append(item.s)
                cols.ts_event.append(item.T * _MS)
                cols.ts_recv.append(recv)
                cols.price.append(item.p)
                cols.quantity.append(item.v)
                cols.trade_id.append(_bybit_id(tid))
                cols.side.append(1 if item.S == "Buy" else -1)
                cols.line.append(n)
                cols.kind.append(_KIND_TRADE)
                cols.family.append(_BYBIT)


def _check_trade(
    price: float, quantity: float, ts_ms: int, isfinite: Callable[[float], bool], qty_name: str
) -> tuple[str, str] | None:
    if not (price > 0.0 and isfinite(price)):
        return "p: not a positive number", repr(price)
    if not (quantity > 0.0 and isfinite(quantity)):
        return f"{qty_name}: not a positive number", repr(quantity)
    if not 0 < ts_ms < 10**13:  # milliseconds before the year 2286
        return "T: trade time out of range (epoch ms)", str(ts_ms)
    return None


def _head(data: bytes, size: int = 60) -> str:
    text = data[:size].decode("utf-8", "replace")
    return repr(text + ("..." if len(data) > size else ""))


_BINANCE_FIELDS = (
    ("e", str),
    ("s", str),
    ("p", "number"),
    ("q", "number"),
    ("T", int),
    ("m", bool),
)


def _reject_binance(n: int, frame: bytes, wrapped: bool, exc: Exception, rejects: Rejects) -> None:
    """Name the field and value of a trade frame that did not decode (the slow path)."""
    try:
        obj = msgspec.json.decode(frame)
    except (msgspec.DecodeError, UnicodeDecodeError) as err:
        rejects.add(n, "frame: not valid JSON", f"{err}; frame {_head(frame)}")
        return
    data = obj.get("data") if wrapped and isinstance(obj, dict) else obj
    if not isinstance(data, dict):
        rejects.add(n, "data: not an object", _head(frame))
        return
    fields: tuple[tuple[str, object], ...] = _BINANCE_FIELDS + (
        (("t", int),) if data.get("e") == "trade" else (("a", int),)
    )
    for name, kind in fields:
        if name not in data:
            rejects.add(n, f"{name}: missing", f"frame {_head(frame)}")
            return
        bad = _bad_value(data[name], kind)
        if bad is not None:
            rejects.add(n, f"{name}: {bad}", repr(data[name]))
            return
    rejects.add(n, "frame: invalid trade", str(exc))


def _reject_bybit(n: int, frame: bytes, exc: Exception, rejects: Rejects) -> None:
    try:
        obj = msgspec.json.decode(frame)
    except (msgspec.DecodeError, UnicodeDecodeError) as err:
        rejects.add(n, "frame: not valid JSON", f"{err}; frame {_head(frame)}")
        return
    items = obj.get("data") if isinstance(obj, dict) else None
    if not isinstance(items, list):
        rejects.add(n, "data: not a list of trades", _head(frame))
        return
    fields = (("T", int), ("s", str), ("S", str), ("v", "number"), ("p", "number"), ("i", str))
    for k, item in enumerate(items):
        if not isinstance(item, dict):
            rejects.add(n, "data: trade not an object", f"{item!r} (trade {k} of the message)")
            return
        for name, kind in fields:
            if name not in item:
                rejects.add(n, f"{name}: missing", f"trade {k} of the message")
                return
            bad = _bad_value(item[name], kind)
            if bad is not None:
                rejects.add(n, f"{name}: {bad}", f"{item[name]!r} (trade {k} of the message)")
                return
    rejects.add(n, "frame: invalid publicTrade message", str(exc))


def _bad_value(value: object, kind: object) -> str | None:
    if kind == "number":
        if isinstance(value, bool):
            return "not a number"
        if isinstance(value, int | float):
            return None
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                return "not a number"
            return None
        return "not a number"
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.lstrip("-").isdigit():
                return None
            return "not an integer"
        return None
    if kind is bool:
        return None if isinstance(value, bool) else "not true or false"
    return None if isinstance(value, str) else "not a string"


def _drop_aggregates_beside_trades(cols: _Columns, info: dict[str, str]) -> int:
    if _KIND_AGG not in cols.kind or _KIND_TRADE not in cols.kind:
        return 0
    with_trades = {
        (f, s) for f, s, k in zip(cols.family, cols.vsym, cols.kind, strict=True) if k == 0
    }
    keep = [
        i
        for i, (f, s, k) in enumerate(zip(cols.family, cols.vsym, cols.kind, strict=True))
        if k == _KIND_TRADE or (f, s) not in with_trades
    ]
    dropped = len(cols.kind) - len(keep)
    if dropped:
        for name in _Columns.__slots__:
            values = getattr(cols, name)
            setattr(cols, name, [values[i] for i in keep])
        info["aggregates_skipped"] = (
            f"{dropped} aggTrade prints skipped: the same symbols have trade prints"
        )
    return dropped


def _to_table(
    cols: _Columns,
    venues: tuple[str, str],
    symbol: str | None,
    symbol_map: SymbolMap | None,
    rejects: Rejects,
) -> pa.Table:
    schema = arrow_schema("price_ticks")
    count = len(cols.vsym)
    if count == 0:
        return schema.empty_table()
    single_family = len(set(cols.family)) == 1
    names: dict[tuple[int, str], str] = {}
    unmapped: dict[tuple[int, str], str] = {}
    for key in set(zip(cols.family, cols.vsym, strict=True)):
        if symbol is not None:
            names[key] = symbol
        elif symbol_map is None:
            names[key] = key[1]
        else:
            try:
                names[key] = symbol_map(venues[key[0]], key[1])
            except ValueError as exc:
                unmapped[key] = f"{key[1]!r} on {venues[key[0]]}: {exc}; pass --symbol"
    if unmapped:
        keep = [
            i
            for i, key in enumerate(zip(cols.family, cols.vsym, strict=True))
            if key not in unmapped
        ]
        for i, key in enumerate(zip(cols.family, cols.vsym, strict=True)):
            if key in unmapped:
                rejects.add(cols.line[i], "s: no unified symbol", unmapped[key])
        for name in _Columns.__slots__:
            values = getattr(cols, name)
            setattr(cols, name, [values[i] for i in keep])
        count = len(cols.vsym)
        if count == 0:
            return schema.empty_table()
    vsyms = pa.array(cols.vsym, pa.string()).dictionary_encode()
    families = cols.family
    if single_family:
        fam = families[0]
        dictionary = [names[(fam, s)] for s in vsyms.dictionary.to_pylist()]
        symbol_col = pa.DictionaryArray.from_arrays(
            vsyms.indices, pa.array(dictionary, pa.string())
        ).cast(pa.string())
        venue_col = pa.repeat(venues[fam], count).cast(pa.string())
    else:
        symbol_col = pa.array(
            [names[k] for k in zip(families, cols.vsym, strict=True)], pa.string()
        )
        venue_col = pa.array([venues[f] for f in families], pa.string())
    return pa.Table.from_arrays(
        [
            venue_col,
            symbol_col,
            pa.array(cols.ts_event, pa.int64()),
            pa.array(cols.ts_recv, pa.int64()),
            pa.array(cols.price, pa.float64()),
            pa.array(cols.quantity, pa.float64()),
            pa.array(cols.trade_id, pa.int64()),
            pa.array(cols.side, pa.int8()),
        ],
        schema=schema,
    )
