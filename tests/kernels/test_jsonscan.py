"""The compiled JSON scanning primitives against Python's own parsers.

The rule they follow (kernels/jsonscan.py): accept only what a general JSON
decoder accepts, with the same value; anything unsure is ``PARSE_FALLBACK``.
So each test compares with ``json.loads`` / ``float`` / ``int``: whenever a
primitive accepts, Python must accept the same text with the same value.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernels.jsonscan import LONG_KEY, bool_at, int_at, key_at, key_code, skip_scalar, string_end
from kernels.parse import PARSE_ERROR, PARSE_FALLBACK, decimal_at


def _buf(text: bytes) -> np.ndarray:
    return np.frombuffer(text, dtype=np.uint8)


_DECIMAL = st.from_regex(r"\A-?[0-9]{0,20}(\.[0-9]{0,20})?([eE][+-]?[0-9]{1,3})?\Z", fullmatch=True)


@given(_DECIMAL, st.booleans())
def test_decimal_at_when_accepted_then_equals_float_of_the_text(text: str, quoted: bool) -> None:
    raw = (f'"{text}"' if quoted else text).encode() + b","
    value, end = decimal_at(_buf(raw), 0, len(raw))
    if end >= 0:
        assert end == len(raw) - 1
        assert value == float(text)
        if not quoted:
            assert json.loads(text) == value  # a bare number is valid JSON
    else:
        assert end in (PARSE_ERROR, PARSE_FALLBACK)


@given(st.integers(0, 10**15 - 1), st.integers(0, 18))
def test_decimal_at_when_venue_decimal_then_exact(mantissa: int, decimals: int) -> None:
    text = str(mantissa).rjust(decimals + 1, "0")
    text = text[: len(text) - decimals] + ("." + text[len(text) - decimals :] if decimals else "")
    raw = f'"{text}"'.encode()
    value, end = decimal_at(_buf(raw), 0, len(raw))
    if len(text.replace(".", "")) <= 18:
        assert end == len(raw)
        assert value == float(text)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (b'"."', PARSE_ERROR),
        (b'""', PARSE_ERROR),
        (b'"5."', PARSE_FALLBACK),
        (b'".5"', PARSE_FALLBACK),
        (b'"007"', PARSE_FALLBACK),
        (b'"1e5"', PARSE_FALLBACK),
        (b'"-1"', PARSE_ERROR),
        (b'"1234567890123456789"', PARSE_FALLBACK),
        (b'"1.5', PARSE_ERROR),
    ],
)
def test_decimal_at_when_not_plain_then_code(text: bytes, code: int) -> None:
    assert decimal_at(_buf(text), 0, len(text))[1] == code


@given(st.integers(-(10**18) + 1, 10**18 - 1))
def test_int_at_when_integer_then_value(value: int) -> None:
    raw = str(value).encode() + b"}"
    assert int_at(_buf(raw), 0, len(raw)) == (value, len(raw) - 1)


@pytest.mark.parametrize(
    "text", [b"1.0", b"1e3", b'"12"', b"0123", b"1234567890123456789", b"99999999999999999999"]
)
def test_int_at_when_not_a_plain_int64_then_fallback(text: bytes) -> None:
    assert int_at(_buf(text), 0, len(text))[1] == PARSE_FALLBACK


@pytest.mark.parametrize("text", [b"", b"-", b"x", b"-x"])
def test_int_at_when_no_digits_then_error(text: bytes) -> None:
    assert int_at(_buf(text), 0, len(text))[1] == PARSE_ERROR


_SCALAR = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=300), max_size=12).map(
        json.dumps
    ),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["true", "false", "null", "tru", "nul", "-", "01", "1.", "1e", "[1]", "{}"]),
)


@given(_SCALAR)
def test_skip_scalar_when_accepts_then_json_accepts_the_same_token(text: str) -> None:
    raw = text.encode("utf-8", "surrogatepass") + b","
    end = skip_scalar(_buf(raw), 0, len(raw))
    if end >= 0:
        json.loads(raw[:end])  # the token it skipped is a JSON value (raises if not)
    try:
        json.loads(text)
    except ValueError:
        return
    assert end in (len(raw) - 1, PARSE_FALLBACK)  # a whole valid scalar: skipped, or left alone


def test_string_end_when_escape_control_or_non_ascii_then_fallback() -> None:
    for text in (b'"a\\"b"', b'"a\x01"', '"é"'.encode()):
        assert string_end(_buf(text), 0, len(text)) == PARSE_FALLBACK
    assert string_end(_buf(b'"abc'), 0, 4) == PARSE_ERROR
    assert string_end(_buf(b'"abc",'), 0, 6) == 5


def test_bool_at_when_literal_then_value() -> None:
    assert bool_at(_buf(b"true,"), 0, 5) == (True, 4)
    assert bool_at(_buf(b"false}"), 0, 6) == (False, 5)
    assert bool_at(_buf(b"1"), 0, 1)[1] == PARSE_FALLBACK
    assert bool_at(_buf(b"tru"), 0, 3)[1] == PARSE_ERROR


@pytest.mark.parametrize(
    ("text", "code", "end"),
    [
        (b'"p":1', key_code("p"), 4),
        (b'"pu":1', key_code("pu"), 5),
        (b'"stream":"x"', key_code("stream"), 9),
        (b'"lastUpdateId":1', LONG_KEY, 15),
    ],
)
def test_key_at_when_key_then_code_and_value_index(text: bytes, code: int, end: int) -> None:
    assert key_at(_buf(text), 0, len(text)) == (code, end)


def test_key_at_when_not_a_key_then_negative() -> None:
    for text in (b'p":1', b'"p" :1', b'"p"1', b'"p'):
        assert key_at(_buf(text), 0, len(text))[1] < 0
    with pytest.raises(ValueError, match="1 to 7"):
        key_code("lastUpdateId")
