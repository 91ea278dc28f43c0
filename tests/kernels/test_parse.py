"""kernels.parse.parse_levels: raw JSON level arrays → float64, exactly as float(text)."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernels.parse import PARSE_ERROR, PARSE_FALLBACK, levels_keys_at, parse_levels, tick_scale


def _parse(text: bytes, rows: int = 64) -> tuple[int, np.ndarray]:
    out = np.full((rows, 2), -7.0)
    n = parse_levels(np.frombuffer(text, dtype=np.uint8), out)
    return n, out


def test_parse_levels_when_binance_strings_then_equal_python_float() -> None:
    text = b'[["61837.63000000","0.32332000"],["61839.85000000","0.00000000"]]'
    n, out = _parse(text)
    assert n == 2
    expected = [[float(p), float(q)] for p, q in json.loads(text)]
    assert out[:2].tolist() == expected


def test_parse_levels_when_empty_array_or_whitespace_then_zero_rows() -> None:
    assert _parse(b"[]")[0] == 0
    assert _parse(b" [ ] ")[0] == 0
    n, out = _parse(b'[ [ "1.5" , "2" ] ,\n ["3", 4.25] ]')
    assert n == 2
    assert out[:2].tolist() == [[1.5, 2.0], [3.0, 4.25]]


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"{}",
        b'[["1","2"]',
        b'[["1","2"],]',
        b'[["abc","2"]]',
        b'[["-1","2"]]',
        b'[["nan","2"]]',
        b'[["1"]]',
        b'[["1","2","3"]]',
        b'[["1","2"]] x',
        b'[["1,"2"]]',
        b'[[".","2"]]',
    ],
)
def test_parse_levels_when_malformed_then_error(text: bytes) -> None:
    assert _parse(text)[0] == PARSE_ERROR


@pytest.mark.parametrize(
    "text", [b'[["1e5","2"]]', b'[["12345678901234567","1"]]', b'[["0.12345678901234567","1"]]']
)
def test_parse_levels_when_not_exactly_representable_here_then_fallback(text: bytes) -> None:
    assert _parse(text)[0] == PARSE_FALLBACK


def test_parse_levels_when_out_too_small_then_error_not_overrun() -> None:
    n, _ = _parse(b'[["1","2"],["3","4"]]', rows=1)
    assert n == PARSE_ERROR


_decimal = st.builds(
    lambda whole, frac, places: (
        f"{whole}.{str(frac).zfill(places)[:places]}" if places else str(whole)
    ),
    st.integers(0, 10**7),
    st.integers(0, 10**8),
    st.integers(0, 8),
)


@given(st.lists(st.tuples(_decimal, _decimal), max_size=40))
def test_parse_levels_when_random_decimals_then_bitwise_equal_float(
    levels: list[tuple[str, str]],
) -> None:
    text = json.dumps([list(level) for level in levels]).encode()
    n, out = _parse(text, rows=len(levels) + 1)
    if n == PARSE_FALLBACK:
        digits = max(len(s.replace(".", "").lstrip("0")) for level in levels for s in level)
        assert digits > 15
        return
    assert n == len(levels)
    expected = np.array([[float(p), float(q)] for p, q in levels]).reshape(-1, 2)
    assert np.array_equal(out[:n], expected)


@given(
    st.lists(st.tuples(_decimal, _decimal, st.booleans(), st.booleans()), max_size=30),
    st.lists(st.sampled_from(["", "", "", " ", "\n", "\t "]), min_size=200, max_size=200),
)
def test_parse_levels_when_compact_and_spaced_levels_mixed_then_same_values_as_json(
    levels: list[tuple[str, str, bool, bool]], spaces: list[str]
) -> None:
    # The compact form ('["1.5","2"],' without whitespace) takes a tight loop, anything else
    # the general one, from any level on: random whitespace and quoting exercise both.
    pad = iter(spaces)
    parts = []
    for price, qty, quote_price, quote_qty in levels:
        p = f'"{price}"' if quote_price else price
        q = f'"{qty}"' if quote_qty else qty
        parts.append(f"{next(pad)}[{next(pad)}{p}{next(pad)},{next(pad)}{q}{next(pad)}]")
    text = f"[{','.join(parts)}{next(pad)}]".encode()
    n, out = _parse(text, rows=len(levels) + 1)
    expected = [[float(p), float(q)] for p, q in json.loads(text)]
    assert n == len(expected)
    assert out[:n].tolist() == expected


# -- levels_keys_at: prices straight to ticks ----------------------------------------------------


def test_tick_scale_when_power_of_ten_then_its_exponent_else_minus_one() -> None:
    assert [tick_scale(10.0**-k) for k in range(9)] == list(range(9))
    assert tick_scale(0.01) == 2
    for tick in (0.5, 0.25, 0.1 * 3, 0.1 * 0.1, 10.0, 5e-5):
        assert tick_scale(tick) == -1


def _keys(text: bytes, scale: int, sign: int = 1, rows: int = 64) -> tuple[int, int, list, list]:
    buf = np.frombuffer(text, dtype=np.uint8)
    keys = np.full(rows, -7, dtype=np.int64)
    qtys = np.full(rows, -7.0)
    n, end = levels_keys_at(buf, 0, len(buf), scale, sign, keys, qtys)
    return n, end, keys[: max(n, 0)].tolist(), qtys[: max(n, 0)].tolist()


def test_levels_keys_at_when_binance_levels_then_ticks_and_float_qtys() -> None:
    text = b'[["61837.63000000","0.32332000"],["61839.8","0"],["7","12.5"]]'
    assert _keys(text, 2) == (3, len(text), [6183763, 6183980, 700], [0.32332, 0.0, 12.5])
    assert _keys(text, 2, sign=-1)[2] == [-6183763, -6183980, -700]
    assert _keys(b"[]", 2)[:2] == (0, 2)


@pytest.mark.parametrize(
    "text",
    [
        b'[["1.005","1"]]',  # off the 0.01 grid: round() decides, in levels_at
        b'[["0.00","1"]]',  # price 0: not a valid level
        b'[["01.5","1"]]',  # leading zero
        b'[["5.","1"]]',
        b'[[".5","1"]]',
        b'[["1e5","1"]]',
        b'[[1.5,"1"]]',  # a bare number
        b'[["1.5", "1"]]',  # whitespace
        b'[["1.5","1"] ]',
        b'[["1.5","-1"]]',
        b'[["1.5","1.0e1"]]',
        b'[["12345678901234.5","1"]]',  # 16 digits with the scale (15 at most)
        b'[["1.5","1"],]',
        b'[["1.5","1"]',
        b'[["1.5","1"],["1.4","1"],["1.3","1"]]',  # more levels than rows (2)
    ],
)
def test_levels_keys_at_when_not_compact_or_not_on_grid_then_fallback(text: bytes) -> None:
    assert _keys(text, 2, rows=2)[1] == PARSE_FALLBACK


def test_levels_keys_at_when_fifteen_digits_then_accepted_sixteen_fallback() -> None:
    assert _keys(b'[["123456789012.34","1"]]', 2)[2] == [12345678901234]
    assert _keys(b'[["12345678901.3400","1"]]', 2)[2] == [1234567890134]
    assert _keys(b'[["123456789012.3400","1"]]', 2)[1] == PARSE_FALLBACK  # 16 digits
    assert _keys(b'[["12345678901234.5","1"]]', 1)[2] == [123456789012345]


_grid_decimal = st.builds(
    lambda whole, frac, places, zeros: (
        f"{whole}.{str(frac).zfill(places)[:places]}{'0' * zeros}" if places else str(whole)
    ),
    st.integers(0, 10**9),
    st.integers(0, 10**8),
    st.integers(0, 8),
    st.integers(0, 3),
)


@given(st.lists(st.tuples(_grid_decimal, _decimal), max_size=30), st.integers(0, 8))
def test_levels_keys_at_when_random_decimals_then_round_price_over_tick_and_float_qty(
    levels: list[tuple[str, str]], scale: int
) -> None:
    # the book's own conversion, round(float(price) / tick_size), and Decimal agree with it
    text = json.dumps([list(level) for level in levels], separators=(",", ":")).encode()
    n, end, keys, qtys = _keys(text, scale, rows=len(levels) + 1)
    tick_size = 10.0**-scale
    exact = [Decimal(p) * 10**scale for p, _ in levels]
    fits = all(
        t == t.to_integral_value()
        and t > 0
        and len(p.split(".")[0]) + scale <= 15
        and len(p.replace(".", "")) <= 15
        and not (len(p.split(".")[0]) > 1 and p[0] == "0")
        for t, (p, _) in zip(exact, levels, strict=True)
    ) and all(
        len(q.replace(".", "")) <= 18 and not (len(q.split(".")[0]) > 1 and q[0] == "0")
        for _, q in levels
    )
    if not fits:
        assert end == PARSE_FALLBACK
        return
    assert (n, end) == (len(levels), len(text))
    assert keys == [round(float(p) / tick_size) for p, _ in levels]
    assert keys == [int(t) for t in exact]
    assert qtys == [float(q) for _, q in levels]
