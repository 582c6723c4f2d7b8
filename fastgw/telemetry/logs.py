"""Process log lines (supervisor, workers, warnings), spelled like the access log.

Every line on stderr and stdout shares one level spelling (agentgateway's: `trace`, `debug`, `info`,
`warn`, `error`) and one time format (RFC 3339, UTC, microseconds: `2025-01-02T03:04:05.000006Z`):

    text:  2025-01-02T03:04:05.000006Z<TAB>warn<TAB>fastgw.supervisor<TAB>worker 1 (pid 7) exited with -9; replacing it
    json:  {"level":"warn","time":"2025-01-02T03:04:05.000006Z","scope":"fastgw.supervisor","message":"..."}

JSON is one object per line, always: a multi-line message or a traceback is escaped into the
object (`message`, `error`), so a log shipper never sees a fragment. In text, the extra lines of a
message or traceback are indented by a tab, so every record starts with its time stamp.

Levels come from `--log-level` or `config.logging.level`, agentgateway's form: `info`, or per
logger `info,fastgw.http=debug` (a string or a list of such entries).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from types import TracebackType

import orjson

from fastgw.config.log_levels import parse_levels


def level_word(levelno: int) -> str:
    """The one spelling of a Python level (CRITICAL is reported as `error`, as agentgateway has no higher level)."""
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


def utc_seconds(sec: int) -> str:
    """`2025-01-02T03:04:05` for a UNIX second (the access log caches this part per second)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))


def rfc3339(now: float) -> str:
    """`2025-01-02T03:04:05.000006Z`: the time format of every log line."""
    sec = int(now)
    return f"{utc_seconds(sec)}.{min(999_999, int((now - sec) * 1_000_000)):06d}Z"


class TextFormatter(logging.Formatter):
    """`time<TAB>level<TAB>scope<TAB>message`; extra lines (tracebacks) indented by a tab."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        extra = _exception_text(record)
        if extra:
            text = f"{text}\n{extra}"
        head = f"{rfc3339(record.created)}\t{level_word(record.levelno)}\t{record.name}\t"
        return head + text.replace("\n", "\n\t")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line, whatever the message holds."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, str] = {
            "level": level_word(record.levelno),
            "time": rfc3339(record.created),
            "scope": record.name,
            "message": record.getMessage(),
        }
        extra = _exception_text(record)
        if extra:
            doc["error"] = extra
        return orjson.dumps(doc).decode()


def _exception_text(record: logging.LogRecord) -> str:
    parts = []
    if record.exc_info and record.exc_info[0] is not None:
        parts.append(logging.Formatter().formatException(record.exc_info).rstrip("\n"))
    if record.stack_info:
        parts.append(record.stack_info.rstrip("\n"))
    return "\n".join(parts)


def setup(level: str | Iterable[str], fmt: str) -> None:
    """Configure the root logger (stderr) once per process; workers inherit it across fork.
    Uncaught exceptions and warnings go through it too, so JSON output stays JSON."""
    root_level, per_logger = parse_levels(level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(root_level)
    for name, lvl in per_logger.items():
        logging.getLogger(name).setLevel(lvl)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    logging.getLogger("fastgw").critical("uncaught exception", exc_info=(kind, exc, tb))
