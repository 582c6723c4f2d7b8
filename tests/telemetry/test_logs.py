"""Process log records: one level spelling, one time format, one JSON object per line whatever the
message or traceback holds; agentgateway's level specs."""

from __future__ import annotations

import json
import logging
import re
import sys

import pytest

from fastgw.config.log_levels import LevelSpecError, parse_levels
from fastgw.telemetry.access_log import AccessLog
from fastgw.telemetry.logs import JsonFormatter, TextFormatter, level_word, rfc3339

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")
LEVELS = {"trace", "debug", "info", "warn", "error"}


def _record(message: str, level: int = logging.ERROR, with_traceback: bool = False) -> logging.LogRecord:
    exc_info = None
    if with_traceback:
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("fastgw.worker", level, __file__, 1, message, (), exc_info)


def test_json_is_one_object_per_line_with_tracebacks_and_newlines() -> None:
    line = JsonFormatter().format(_record('reload failed:\nc.yaml:3: x: "bad"', with_traceback=True))
    assert "\n" not in line
    doc = json.loads(line)
    assert list(doc) == ["level", "time", "scope", "message", "error"]
    assert doc["level"] == "error" and doc["scope"] == "fastgw.worker"
    assert doc["message"] == 'reload failed:\nc.yaml:3: x: "bad"'
    assert doc["error"].startswith("Traceback (most recent call last):")
    assert doc["error"].endswith("ValueError: boom\nsecond line")
    assert TIME.match(doc["time"])


def test_text_record_starts_each_line_with_time_or_a_tab() -> None:
    text = TextFormatter().format(_record("two\nlines", level=logging.WARNING, with_traceback=True))
    first, *rest = text.split("\n")
    stamp, level, scope, message = first.split("\t")
    assert TIME.match(stamp) and (level, scope, message) == ("warn", "fastgw.worker", "two")
    assert rest and all(line.startswith("\t") for line in rest)
    assert rest[0] == "\tlines" and rest[-1] == "\tsecond line"


def test_one_level_spelling() -> None:
    spelled = {level_word(n) for n in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)}
    assert spelled == {"debug", "info", "warn", "error"} <= LEVELS


def test_process_lines_and_access_lines_share_the_time_format() -> None:
    access = AccessLog(enabled=True, fmt="json")
    assert TIME.match(access._time()) and TIME.match(rfc3339(1_700_000_000.000123))
    assert rfc3339(1_700_000_000.5) == "2023-11-14T22:13:20.500000Z"


def test_level_specs_as_agentgateway_writes_them() -> None:
    assert parse_levels("info") == (logging.INFO, {})
    assert parse_levels("warn,fastgw.http=debug") == (logging.WARNING, {"fastgw.http": logging.DEBUG})
    assert parse_levels(["error", "fastgw.pipeline=trace"]) == (logging.ERROR, {"fastgw.pipeline": logging.DEBUG})
    for bad in ("loud", "info,=debug", "info,x=verbose"):
        with pytest.raises(LevelSpecError):
            parse_levels(bad)
