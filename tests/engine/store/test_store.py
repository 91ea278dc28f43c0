"""The Store contract, run on both backends (DuckDB file and PostgreSQL database)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.store.base import Store, StoreError
from engine.store.schema import TABLES, arrow_schema
from tests.engine.store._rows_factory import normalise, sample_rows, sample_table


def _stored(store: Store, table: str) -> list[dict]:
    key = ", ".join(f'"{k}"' for k in TABLES[table].key)
    return normalise(store.query(f"SELECT * FROM {table} ORDER BY {key}").to_pylist())


@pytest.mark.parametrize("table", sorted(TABLES))
def test_insert_then_query_round_trips_typed_rows_of_every_table(store: Store, table: str) -> None:
    rows = sample_rows(table, 7)
    mode = "ignore"
    assert store.insert(table, sample_table(table, 7), mode=mode) == 7
    assert _stored(store, table) == normalise(rows)


def test_insert_selects_columns_by_name_and_fills_missing_nullable_columns(store: Store) -> None:
    rows = sample_rows("news", 3)
    data = pa.table(
        {
            "headline": [r["headline"] for r in rows],
            "ts": [r["ts"] for r in rows],
            "source": [r["source"] for r in rows],
            "id": [r["id"] for r in rows],
        }
    )
    assert store.insert("news", data) == 3
    expected = [{**r, "body": None, "symbols": None, "sentiment": None, "url": None} for r in rows]
    assert _stored(store, "news") == normalise(expected)


def test_insert_accepts_record_batches_and_lists_of_dicts(store: Store) -> None:
    batch = sample_table("trades", 2).to_batches()[0]
    assert store.insert("trades", batch) == 2
    assert store.insert("trades", sample_rows("trades", 2, start=2)) == 2
    assert _stored(store, "trades") == normalise(sample_rows("trades", 4))


def test_insert_casts_compatible_types(store: Store) -> None:
    data = pa.table(
        {
            "series_id": ["s"],
            "ts": pa.array([5], pa.int32()),
            "value": pa.array([3], pa.int64()),
        }
    )
    assert store.insert("energy_records", data) == 1
    assert store.query("SELECT ts, value FROM energy_records").to_pylist() == [
        {"ts": 5, "value": 3.0}
    ]


def test_ignore_keeps_stored_rows_and_counts_only_new_keys(store: Store) -> None:
    assert store.insert("positions", sample_table("positions", 3)) == 3
    changed = sample_table("positions", 5).set_column(
        2, "quantity", pa.array([9.0] * 5, pa.float64())
    )
    assert store.insert("positions", changed, mode="ignore") == 2
    stored = store.query("SELECT quantity FROM positions ORDER BY engine_id").column(0)
    old = [r["quantity"] for r in sample_rows("positions", 3)]
    assert stored.to_pylist() == [*old, 9.0, 9.0]


def test_upsert_replaces_stored_rows_and_counts_only_new_keys(store: Store) -> None:
    assert store.insert("positions", sample_table("positions", 3)) == 3
    changed = sample_table("positions", 5).set_column(
        2, "quantity", pa.array([9.0] * 5, pa.float64())
    )
    assert store.insert("positions", changed, mode="upsert") == 2
    stored = store.query("SELECT quantity FROM positions").column(0).to_pylist()
    assert stored == [9.0] * 5


def test_duplicate_keys_within_a_batch_keep_first_on_ignore_last_on_upsert(store: Store) -> None:
    rows = [{"engine_id": "e", "key": "k", "value": str(v), "updated_ts": v} for v in (1, 2, 3)]
    assert store.insert("engine_state", rows, mode="ignore") == 1
    assert store.query("SELECT value FROM engine_state").to_pylist() == [{"value": "1"}]
    rows2 = [{**r, "key": "k2"} for r in rows]
    assert store.insert("engine_state", rows2, mode="upsert") == 1
    assert store.insert("engine_state", rows, mode="upsert") == 0
    got = store.query("SELECT key, value FROM engine_state ORDER BY key").to_pylist()
    assert got == [{"key": "k", "value": "3"}, {"key": "k2", "value": "3"}]


def test_reinserting_the_same_rows_inserts_nothing(store: Store) -> None:
    for table in ("orders", "signals", "price_ticks", "prices"):
        data = sample_table(table, 4)
        assert store.insert(table, data) == 4
        assert store.insert(table, data) == 0
        assert store.insert(table, data, mode="upsert") == 0
        assert store.query(f"SELECT count(*) AS n FROM {table}").column(0)[0].as_py() == 4


def test_price_ticks_ignore_is_an_anti_join_on_venue_symbol_trade_id(store: Store) -> None:
    ticks = sample_table("price_ticks", 4)
    assert store.insert("price_ticks", ticks, mode="append") == 4
    # same trade ids under another symbol are new; a repeated row within the batch counts once
    other = ticks.set_column(1, ticks.schema.field(1).with_type(pa.string()), pa.array(["E"] * 4))
    both = pa.concat_tables([ticks, other, other.slice(0, 1)])
    assert store.insert("price_ticks", both, mode="ignore") == 4
    assert store.insert("price_ticks", both, mode="ignore") == 0
    assert store.query("SELECT count(*) FROM price_ticks").column(0)[0].as_py() == 8


def test_price_ticks_append_writes_every_row(store: Store) -> None:
    ticks = sample_table("price_ticks", 3)
    assert store.insert("price_ticks", ticks, mode="append") == 3
    assert store.insert("price_ticks", ticks, mode="append") == 3
    assert store.query("SELECT count(*) FROM price_ticks").column(0)[0].as_py() == 6


def test_price_ticks_upsert_replaces_rows_with_the_same_natural_key(store: Store) -> None:
    ticks = sample_table("price_ticks", 3)
    store.insert("price_ticks", ticks, mode="append")
    repriced = ticks.set_column(4, "price", pa.array([1.5, 2.5, 3.5]))
    assert store.insert("price_ticks", repriced.slice(1), mode="upsert") == 0
    prices = store.query("SELECT price FROM price_ticks ORDER BY trade_id").column(0)
    assert prices.to_pylist()[1:] == [2.5, 3.5]


def test_insert_many_is_all_or_nothing(store: Store) -> None:
    bad = pa.table({"id": ["x"], "ts": ["not a number"], "source": ["s"], "headline": ["h"]})
    with pytest.raises(StoreError, match=r"news\.ts"):
        store.insert_many(
            [("trades", sample_table("trades", 2), "ignore"), ("news", bad, "ignore")]
        )
    assert store.query("SELECT count(*) FROM trades").column(0)[0].as_py() == 0
    total = store.insert_many(
        [
            ("trades", sample_table("trades", 2), "ignore"),
            ("news", sample_table("news", 3), "ignore"),
        ]
    )
    assert total == 5


@pytest.mark.parametrize(
    ("table", "data", "mode", "message"),
    [
        ("nope", pa.table({"a": [1]}), "ignore", r"unknown table 'nope'"),
        ("news", pa.table({"id": ["x"]}), "ignore", r"news\.ts: missing column \(NOT NULL\)"),
        (
            "news",
            pa.table({"id": ["x"], "ts": ["abc"], "source": ["s"], "headline": ["h"]}),
            "ignore",
            r"news\.ts: cannot cast string to int64",
        ),
        (
            "news",
            pa.table({"id": ["x"], "ts": [1.5], "source": ["s"], "headline": ["h"]}),
            "ignore",
            r"news\.ts: cannot cast double to int64",
        ),
        (
            "news",
            pa.table(
                {"id": [None, "y"], "ts": [1, 2], "source": ["s", "s"], "headline": ["h", "h"]}
            ),
            "ignore",
            r"news\.id: 1 NULL value\(s\) in a NOT NULL column",
        ),
        (
            "news",
            pa.table({"id": [1], "ts": [1], "source": ["s"], "headline": ["h"]}),
            "ignore",
            r"news\.id: expected text, got int64",
        ),
        (
            "news",
            pa.table({"id": ["x"], "ts": [1], "source": ["s"], "headline": ["h"], "extra": [1]}),
            "ignore",
            r"unknown column\(s\) extra for table news",
        ),
        ("news", sample_table("news", 1), "append", r"mode 'append' is only for .*news"),
        ("news", sample_table("news", 1), "merge", r"mode for news must be one of"),
    ],
)
def test_bad_input_raises_store_error_naming_table_and_column(
    store: Store, table: str, data: pa.Table, mode: str, message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        store.insert(table, data, mode=mode)  # type: ignore[arg-type]


def test_query_takes_question_mark_placeholders_outside_literals(store: Store) -> None:
    store.insert("news", sample_table("news", 3))
    got = store.query(
        "SELECT id, '?' AS q FROM news WHERE id <> ? AND id <> ? ORDER BY id", ["id-0", "x"]
    )
    assert got.to_pylist() == [{"id": "id-1", "q": "?"}, {"id": "id-2", "q": "?"}]


def test_query_errors_name_the_statement(store: Store) -> None:
    with pytest.raises(StoreError, match="SELECT nope FROM news"):
        store.query("SELECT nope FROM news")


def test_query_without_result_rows_returns_a_table(store: Store) -> None:
    assert isinstance(store.query("DELETE FROM news"), pa.Table)


def test_schema_version_is_the_code_version(store: Store) -> None:
    from engine.store.schema import SCHEMA_VERSION

    assert store.schema_version() == SCHEMA_VERSION


_keys = st.tuples(st.sampled_from(["e1", "e2"]), st.sampled_from(["A", "B", "C", "D"]))


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stored=st.lists(_keys, max_size=6, unique=True),
    batch=st.lists(st.tuples(_keys, st.floats(-1e6, 1e6)), min_size=1, max_size=12),
    mode=st.sampled_from(["ignore", "upsert"]),
)
def test_inserted_count_is_the_number_of_distinct_new_keys(
    store: Store,
    stored: list[tuple[str, str]],
    batch: list[tuple[tuple[str, str], float]],
    mode: str,
) -> None:
    store.query("DELETE FROM positions")

    def table(rows: list[tuple[tuple[str, str], float]]) -> pa.Table:
        return pa.Table.from_pylist(
            [
                {
                    "engine_id": e,
                    "symbol": s,
                    "quantity": q,
                    "average_price": 1.0,
                    "realized_pnl": 0.0,
                    "updated_ts": 0,
                }
                for (e, s), q in rows
            ],
            schema=arrow_schema("positions"),
        )

    store.insert("positions", table([(k, -7.0) for k in stored]))
    new_keys = {k for k, _ in batch} - set(stored)
    assert store.insert("positions", table(batch), mode=mode) == len(new_keys)  # type: ignore[arg-type]
    # oracle: a dict applying the rule row by row (upsert: last row wins; ignore: first)
    expected = {k: -7.0 for k in stored}
    for k, q in batch:
        if mode == "upsert":
            expected[k] = q
        else:
            expected.setdefault(k, q)
    got = store.query("SELECT engine_id, symbol, quantity FROM positions").to_pylist()
    assert {(r["engine_id"], r["symbol"]): r["quantity"] for r in got} == expected
