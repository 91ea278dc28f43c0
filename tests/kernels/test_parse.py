"""kernels.parse.parse_levels: raw JSON level arrays → float64, exactly as float(text)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernels.parse import PARSE_ERROR, PARSE_FALLBACK, parse_levels


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
