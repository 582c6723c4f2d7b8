"""Log level specs as agentgateway writes them: `info`, or per logger `info,fastgw.http=debug`
(a string, or a list of such entries). Pure: the schema checks them at load, `telemetry/logs.py`
applies them."""

from __future__ import annotations

import logging
from collections.abc import Iterable

LEVEL_WORDS = ("trace", "debug", "info", "warn", "warning", "error", "off")
"""Level names accepted in `--log-level` and `config.logging.level` (`warning` = `warn`)."""

_PY_LEVEL = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "off": logging.CRITICAL + 10,
}


class LevelSpecError(ValueError):
    """A `logging.level` entry that is not a level or `logger=level`."""


def parse_levels(spec: str | Iterable[str]) -> tuple[int, dict[str, int]]:
    """(root level, {logger: level}) from `info,fastgw.http=debug` or a list of such entries.
    Raises LevelSpecError naming the first bad entry."""
    entries = [spec] if isinstance(spec, str) else list(spec)
    root = logging.INFO
    per_logger: dict[str, int] = {}
    for entry in entries:
        for item in entry.split(","):
            item = item.strip()
            if not item:
                continue
            name, eq, word = item.rpartition("=")
            level = _PY_LEVEL.get(word.strip().lower())
            if level is None:
                raise LevelSpecError(
                    f"invalid log level {word.strip()!r}: expected one of {', '.join(LEVEL_WORDS)}"
                    " (optionally per logger: info,fastgw.http=debug)"
                )
            if eq:
                if not name.strip():
                    raise LevelSpecError(f"invalid log level entry {item!r}: expected logger=level")
                per_logger[name.strip()] = level
            else:
                root = level
    return root, per_logger
