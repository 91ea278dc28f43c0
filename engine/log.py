"""Structured logging for the ``ats`` logger hierarchy.

Callers pass a constant message and the variable parts as fields; the text is
only rendered by a handler's formatter, after the level check, so a disabled
log call costs one ``isEnabledFor`` and nothing is formatted on the hot path::

    log = get_logger("execution")
    log_event(log, logging.INFO, "order placed", client_order_id=cid, qty=qty)
    log.info("order placed", extra={"fields": {"client_order_id": cid}})  # same thing

Never build the message with an f-string or ``%`` at the call site
(``log.info(f"order {cid} placed")``): that formats even when the level is
off, and it defeats structured search in the JSON logs.  Standard lazy
``%``-arguments (``log.info("order %s placed", cid)``) still work.

Output (see :func:`configure_logging`):

- text, for people: ``12:34:56.789 INFO ats.execution: order placed client_order_id=abc qty=0.5``
  (UTC time);
- JSON lines, for machines: ``{"ts": "2024-08-08T12:34:56.789Z", "level": "INFO",
  "logger": "ats.execution", "msg": "order placed", "client_order_id": "abc", "qty": 0.5}``.

The values of secret environment variables (names ending in one of
``engine.config.SECRET_ENV_SUFFIXES``, such as ``BINANCE_API_KEY``) are
replaced by ``***`` in every message, field and traceback that reaches a
handler installed here.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import orjson

from engine.config import LOG_FORMATS, LOG_LEVELS, SECRET_ENV_SUFFIXES

__all__ = [
    "REDACTED",
    "ROOT_LOGGER_NAME",
    "JsonFormatter",
    "SecretRedactionFilter",
    "TextFormatter",
    "configure_logging",
    "get_logger",
    "log_event",
    "reset_logging",
    "secret_values",
]

#: Name of the logger every engine logger descends from.
ROOT_LOGGER_NAME = "ats"
#: What a secret value is replaced with.
REDACTED = "***"
#: Secret values shorter than this are not redacted (they would mangle ordinary text).
_MIN_SECRET_LENGTH = 4
#: JSON keys the formatter writes; a field with one of these names becomes ``field_<name>``.
_RESERVED_KEYS = frozenset({"ts", "level", "logger", "msg", "exc", "stack"})
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def get_logger(name: str = "") -> logging.Logger:
    """Return the logger ``ats.<name>`` (or ``ats`` itself for ``""`` or ``"ats"``).

    Examples
    --------
    >>> get_logger("risk").name
    'ats.risk'
    """
    if name in ("", ROOT_LOGGER_NAME) or name.startswith(ROOT_LOGGER_NAME + "."):
        return logging.getLogger(name or ROOT_LOGGER_NAME)
    return logging.getLogger(f"{ROOT_LOGGER_NAME}.{name}")


def log_event(logger: logging.Logger, level: int, msg: str, /, **fields: Any) -> None:
    """Log the constant message ``msg`` with structured ``fields``, if ``level`` is enabled.

    Examples
    --------
    >>> log_event(get_logger("bus"), logging.WARNING, "handler failed", topic="ORDER_FILLED")
    """
    if logger.isEnabledFor(level):
        logger.log(level, msg, extra={"fields": fields}, stacklevel=2)


def secret_values(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Return the values of secret environment variables, longest first.

    A variable is secret when its name ends in one of ``SECRET_ENV_SUFFIXES``;
    values shorter than 4 characters are ignored.
    """
    if env is None:
        env = os.environ
    values = {
        value
        for name, value in env.items()
        if name.upper().endswith(SECRET_ENV_SUFFIXES) and len(value) >= _MIN_SECRET_LENGTH
    }
    # Longest first, so a secret containing another is replaced whole.
    return tuple(sorted(values, key=len, reverse=True))


class SecretRedactionFilter(logging.Filter):
    """Replace secret values by ``***`` in a record's message, fields and traceback.

    The record is rewritten in place (message rendered, ``args`` cleared), so
    every handler downstream sees the redacted text.

    Parameters
    ----------
    secrets
        The values to hide, e.g. :func:`secret_values`.
    """

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = tuple(sorted(set(secrets), key=len, reverse=True))

    def _redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def _redact_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, int | float | bool) or value is None:
            return value
        if isinstance(value, Mapping):
            return {self._redact(str(k)): self._redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._redact_value(v) for v in value]
        text = str(value)
        redacted = self._redact(text)
        return value if redacted == text else redacted

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # Bad %-arguments: logging would print them raw to stderr, so keep the line
            # but show the arguments redacted.
            message = f"{record.msg} (bad log arguments: {record.args!r})"
            record.args = None
            record.msg = message
        redacted = self._redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            record.fields = {self._redact(str(k)): self._redact_value(v) for k, v in fields.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True


def _fields(record: logging.LogRecord) -> Mapping[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, Mapping) else {}


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    return record.exc_text or ""


def _default(value: Any) -> str:
    return str(value)


class TextFormatter(logging.Formatter):
    """Render ``HH:MM:SS.mmm LEVEL logger: message key=value ...`` (UTC)."""

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.gmtime(record.created))
        parts = [f"{clock}.{int(record.msecs):03d} {record.levelname} {record.name}: "]
        parts.append(record.getMessage())
        for key, value in _fields(record).items():
            parts.append(f" {key}={self._value(value)}")
        exc_text = _exception_text(self, record)
        if exc_text:
            parts.append("\n" + exc_text)
        if record.stack_info:
            parts.append("\n" + self.formatStack(record.stack_info))
        return "".join(parts)

    @staticmethod
    def _value(value: Any) -> str:
        if isinstance(value, str):
            plain = value and not any(c.isspace() or c in "\"'=" for c in value)
            return value if plain else orjson.dumps(value).decode()
        if isinstance(value, bool | int | float) or value is None:
            return str(value)
        try:
            return orjson.dumps(value, default=_default, option=_JSON_OPTIONS).decode()
        except orjson.JSONEncodeError:
            return repr(value)


class JsonFormatter(logging.Formatter):
    """Render one JSON object per line: ``ts`` (ISO 8601 UTC, ms), ``level``, ``logger``, ``msg``,
    then the fields (``exc`` / ``stack`` carry a traceback when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        payload: dict[str, Any] = {
            "ts": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _fields(record).items():
            payload[f"field_{key}" if key in _RESERVED_KEYS else str(key)] = value
        exc_text = _exception_text(self, record)
        if exc_text:
            payload["exc"] = exc_text
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        try:
            return orjson.dumps(payload, default=_default, option=_JSON_OPTIONS).decode()
        except orjson.JSONEncodeError:
            # e.g. an int beyond 64 bits: fall back to strings rather than lose the line.
            safe = {k: v if isinstance(v, str) else repr(v) for k, v in payload.items()}
            return orjson.dumps(safe).decode()


class _AtsHandlerMixin:
    """Marks the handlers configure_logging installed, so a second call can replace them."""


class _StreamHandler(_AtsHandlerMixin, logging.StreamHandler):
    pass


class _FileHandler(_AtsHandlerMixin, logging.FileHandler):
    pass


def _level_number(level: str) -> int:
    name = level.upper()
    if name not in LOG_LEVELS:
        raise ValueError(f"logging.level must be one of {', '.join(LOG_LEVELS)}, was {level!r}")
    return logging.getLevelNamesMapping()[name]


def reset_logging() -> None:
    """Remove and close the handlers :func:`configure_logging` installed and restore defaults.

    The ``ats`` logger then propagates to the root logger again at level
    ``NOTSET``.  Tests call this after configuring; the CLI calls it at exit
    to flush and close the log file.
    """
    logger = logging.getLogger(ROOT_LOGGER_NAME)
    for handler in list(logger.handlers):
        if isinstance(handler, _AtsHandlerMixin):
            logger.removeHandler(handler)
            handler.close()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def configure_logging(
    level: str = "INFO",
    fmt: str = "auto",
    file: str | os.PathLike[str] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Install the terminal (and optional file) handlers on the ``ats`` logger.

    Calling it again replaces the handlers it installed before (no duplicated
    lines).  The root logger and its handlers are left alone; the ``ats``
    logger stops propagating to it so that lines are not printed twice.
    Secret values are read from the environment at this call.

    Parameters
    ----------
    level
        DEBUG, INFO, WARNING, ERROR or CRITICAL (any case).
    fmt
        Terminal format: ``text``, ``json``, or ``auto`` (text when the stream
        is a terminal, JSON lines otherwise).
    file
        Path of a JSON-lines log file, appended to; parent directories are
        created.  ``None`` or ``""`` for no file.
    stream
        Terminal stream; defaults to ``sys.stderr`` at call time.

    Raises
    ------
    ValueError
        If ``level`` or ``fmt`` is not one of the allowed values.

    Examples
    --------
    >>> cfg = load_config()  # doctest: +SKIP
    >>> configure_logging(cfg.logging.level, cfg.logging.format, cfg.logging.file)  # doctest: +SKIP
    """
    level_number = _level_number(level)
    fmt_name = fmt.lower()
    if fmt_name not in LOG_FORMATS:
        raise ValueError(f"logging.format must be one of {', '.join(LOG_FORMATS)}, was {fmt!r}")
    if stream is None:
        stream = sys.stderr
    if fmt_name == "auto":
        isatty = getattr(stream, "isatty", None)
        fmt_name = "text" if isatty is not None and isatty() else "json"

    redaction = SecretRedactionFilter(secret_values())
    handlers: list[logging.Handler] = []
    terminal = _StreamHandler(stream)
    terminal.setFormatter(TextFormatter() if fmt_name == "text" else JsonFormatter())
    handlers.append(terminal)
    if file is not None and os.fspath(file) != "":
        path = Path(file)
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = _FileHandler(path, encoding="utf-8")
        file_handler.setFormatter(JsonFormatter())
        handlers.append(file_handler)

    reset_logging()
    logger = logging.getLogger(ROOT_LOGGER_NAME)
    for handler in handlers:
        handler.addFilter(redaction)
        logger.addHandler(handler)
    logger.setLevel(level_number)
    logger.propagate = False
