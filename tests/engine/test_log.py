"""Tests for engine.log: JSON lines, text lines, levels, secret redaction, idempotence."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from engine.log import (
    REDACTED,
    configure_logging,
    get_logger,
    log_event,
    reset_logging,
    secret_values,
)

SECRET = "s3cr3t-api-key-value"
TEXT_LINE = re.compile(
    r"^\d{2}:\d{2}:\d{2}\.\d{3} (?P<level>[A-Z]+) (?P<logger>[\w.]+): (?P<rest>.*)$"
)


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    # The ats logger is process-wide: leave it as other tests expect it.
    yield
    reset_logging()


def json_lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_get_logger_when_name_given_then_child_of_ats() -> None:
    assert get_logger("risk").name == "ats.risk"
    assert get_logger("engine.bus").name == "ats.engine.bus"
    assert get_logger("ats.risk").name == "ats.risk"
    assert get_logger().name == "ats"
    assert get_logger("ats") is logging.getLogger("ats")


def test_configure_logging_when_file_given_then_json_lines_carry_level_logger_msg_fields(
    tmp_path: Path,
) -> None:
    path = tmp_path / "logs" / "nested" / "ats.jsonl"  # parent directories are created
    configure_logging("DEBUG", "text", file=str(path), stream=io.StringIO())
    log = get_logger("execution")

    log_event(log, logging.INFO, "order placed", client_order_id="abc-1", qty=0.5, ok=True)
    log.warning("venue slow", extra={"fields": {"venue": "binance", "latency_ms": 250}})
    reset_logging()  # flush and close the file

    first, second = json_lines(path)
    assert {k: first[k] for k in ("level", "logger", "msg")} == {
        "level": "INFO",
        "logger": "ats.execution",
        "msg": "order placed",
    }
    assert (first["client_order_id"], first["qty"], first["ok"]) == ("abc-1", 0.5, True)
    assert (second["level"], second["venue"], second["latency_ms"]) == ("WARNING", "binance", 250)
    stamp = datetime.strptime(first["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])


def test_configure_logging_when_field_named_like_reserved_key_then_kept_under_prefixed_name(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ats.jsonl"
    configure_logging("INFO", "json", file=path, stream=io.StringIO())

    log_event(get_logger("x"), logging.INFO, "real message", msg="field value", level=3)
    reset_logging()

    (line,) = json_lines(path)
    assert (line["msg"], line["level"]) == ("real message", "INFO")
    assert (line["field_msg"], line["field_level"]) == ("field value", 3)


def test_configure_logging_when_text_format_then_readable_line_with_key_values() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "text", stream=stream)

    log_event(get_logger("risk"), logging.WARNING, "limit hit", limit="max_leverage", value=12.5)

    (line,) = stream.getvalue().splitlines()
    match = TEXT_LINE.match(line)
    assert match is not None, line
    assert (match["level"], match["logger"]) == ("WARNING", "ats.risk")
    assert match["rest"] == "limit hit limit=max_leverage value=12.5"


def test_configure_logging_when_text_value_has_spaces_then_value_quoted() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "text", stream=stream)

    log_event(get_logger("api"), logging.INFO, "request", path="/api/orders", note="two words")

    assert stream.getvalue().rstrip("\n").endswith('path=/api/orders note="two words"')


def test_configure_logging_when_auto_and_stream_not_tty_then_json() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "auto", stream=stream)

    get_logger("bus").info("started")

    line = orjson.loads(stream.getvalue())
    assert (line["logger"], line["msg"]) == ("ats.bus", "started")


def test_configure_logging_when_auto_and_stream_is_tty_then_text() -> None:
    stream = TtyStream()
    configure_logging("INFO", "auto", stream=stream)

    get_logger("bus").info("started")

    assert TEXT_LINE.match(stream.getvalue().rstrip("\n")) is not None


def test_configure_logging_when_level_warning_then_info_and_debug_dropped(tmp_path: Path) -> None:
    stream = io.StringIO()
    path = tmp_path / "ats.jsonl"
    configure_logging("warning", "json", file=path, stream=stream)
    log = get_logger("strategy")

    log.debug("debug line")
    log_event(log, logging.INFO, "info line", n=1)
    log.warning("warning line")
    log_event(log, logging.ERROR, "error line", n=2)
    reset_logging()

    assert [line["msg"] for line in json_lines(path)] == ["warning line", "error line"]
    assert [orjson.loads(s)["msg"] for s in stream.getvalue().splitlines()] == [
        "warning line",
        "error line",
    ]


def test_configure_logging_when_called_twice_then_no_duplicated_lines(tmp_path: Path) -> None:
    path = tmp_path / "ats.jsonl"
    first = io.StringIO()
    second = io.StringIO()
    configure_logging("INFO", "json", file=path, stream=first)
    configure_logging("INFO", "json", file=path, stream=second)

    get_logger("engine").info("once")
    reset_logging()

    assert first.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 1
    assert [line["msg"] for line in json_lines(path)] == ["once"]


def test_configure_logging_when_root_has_handler_then_root_left_alone_and_no_double_lines() -> None:
    root_stream = io.StringIO()
    root_handler = logging.StreamHandler(root_stream)
    root = logging.getLogger()
    root.addHandler(root_handler)
    try:
        stream = io.StringIO()
        configure_logging("INFO", "json", stream=stream)

        get_logger("engine").info("hello")

        assert root_handler in root.handlers
        assert root_stream.getvalue() == ""
        assert len(stream.getvalue().splitlines()) == 1
    finally:
        root.removeHandler(root_handler)


def test_reset_logging_when_called_then_ats_propagates_again() -> None:
    configure_logging("ERROR", "json", stream=io.StringIO())

    reset_logging()

    logger = logging.getLogger("ats")
    assert logger.propagate is True
    assert logger.level == logging.NOTSET
    assert logger.handlers == []


@pytest.mark.parametrize(("level", "fmt"), [("LOUD", "json"), ("INFO", "yaml")])
def test_configure_logging_when_bad_level_or_format_then_value_error(level: str, fmt: str) -> None:
    with pytest.raises(ValueError, match="must be one of"):
        configure_logging(level, fmt, stream=io.StringIO())


def test_secret_values_when_env_has_secret_names_then_values_longest_first() -> None:
    env = {
        "BINANCE_API_KEY": "abcd",
        "BYBIT_SECRET_KEY": "abcdefgh",
        "IB_PASSWORD": "xyz",  # too short to redact safely
        "ATS_RISK__MAX_LEVERAGE": "5",
        "GITHUB_TOKEN": "tok-123",
        "OKX_PASSPHRASE": "phrase",
        "SOME_SECRET": "hushhush",
    }

    values = secret_values(env)

    assert set(values) == {"abcdefgh", "hushhush", "tok-123", "phrase", "abcd"}
    assert [len(v) for v in values] == sorted((len(v) for v in values), reverse=True)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_configure_logging_when_secret_logged_explicitly_then_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", SECRET)
    path = tmp_path / "ats.jsonl"
    stream = io.StringIO()
    configure_logging("DEBUG", fmt, file=path, stream=stream)
    log = get_logger("adapters.binance")

    log.info(f"connecting with key {SECRET}")  # the very thing callers must not do
    log.info("connecting with key %s", SECRET)
    log_event(log, logging.INFO, "signed", api_key=SECRET, headers={"X-MBX-APIKEY": SECRET})
    log_event(log, logging.INFO, "url", url=f"wss://x?key={SECRET}", parts=[SECRET, 1])
    try:
        raise RuntimeError(f"venue rejected key {SECRET}")
    except RuntimeError:
        log.exception("request failed", extra={"fields": {SECRET: "as a key"}})
    reset_logging()

    file_text = path.read_text(encoding="utf-8")
    terminal_text = stream.getvalue()
    for text in (file_text, terminal_text):
        assert SECRET not in text
        assert text.count(REDACTED) >= 7
    lines = json_lines(path)
    assert lines[0]["msg"] == f"connecting with key {REDACTED}"
    assert lines[2]["api_key"] == REDACTED
    assert lines[2]["headers"] == {"X-MBX-APIKEY": REDACTED}
    assert lines[3]["url"] == f"wss://x?key={REDACTED}"
    assert "RuntimeError: venue rejected key ***" in lines[4]["exc"]


def test_configure_logging_when_secret_set_after_configure_then_read_at_configure_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ats.jsonl"
    configure_logging("INFO", "json", file=path, stream=io.StringIO())
    monkeypatch.setenv("BYBIT_API_KEY", SECRET)
    configure_logging("INFO", "json", file=path, stream=io.StringIO())

    get_logger("adapters.bybit").info("key %s", SECRET)
    reset_logging()

    assert SECRET not in path.read_text(encoding="utf-8")


def test_log_event_when_level_disabled_then_nothing_rendered() -> None:
    stream = io.StringIO()
    configure_logging("ERROR", "json", stream=stream)

    class Exploding:
        def __str__(self) -> str:
            raise AssertionError("rendered although the level is off")

    log_event(get_logger("hot"), logging.DEBUG, "tick", value=Exploding())

    assert stream.getvalue() == ""


def test_log_event_when_called_then_record_points_at_caller() -> None:
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = get_logger("caller")
    handler = Capture()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log_event(logger, logging.INFO, "here", a=1)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)

    (record,) = records
    assert record.funcName == "test_log_event_when_called_then_record_points_at_caller"
    assert record.fields == {"a": 1}  # type: ignore[attr-defined]
