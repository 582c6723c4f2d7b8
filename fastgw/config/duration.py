"""Durations as written in agentgateway configs: "100ms", "5s", "1m", "1h", "1m30s", "1.5s".

A duration always carries a unit. agentgateway only accepts strings, and a bare number is ambiguous
(seconds? milliseconds?), so fastgw rejects it with a hint instead of guessing. Parsed values are
float seconds.
"""

from __future__ import annotations

import re

_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
# Longest units first so "ms" is not read as "m" followed by garbage.
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")


class DurationError(ValueError):
    """The text is not a duration; str() is a short reason suitable after `invalid duration`."""


def parse_duration(text: str) -> float:
    """Return the duration in seconds, or raise DurationError.

    Compound forms add up ("1m30s" = 90.0); whitespace is not allowed inside, as in Go and Rust parsers.
    """
    if not text:
        raise DurationError("empty duration")
    pos = 0
    total = 0.0
    while pos < len(text):
        m = _PART.match(text, pos)
        if m is None:
            if text[pos:].replace(".", "", 1).isdigit():
                raise DurationError("missing unit (use e.g. ms, s, m, h)")
            raise DurationError("expected <number><unit> with unit one of ns, us, ms, s, m, h, d")
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    return total


def format_duration(seconds: float) -> str:
    """Shortest exact-ish rendering, used in docs and defaults: 90.0 -> "1m30s", 0.1 -> "100ms"."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        ms = seconds * 1000
        return f"{ms:g}ms" if ms >= 1 else f"{seconds * 1e6:g}us"
    out = []
    rest = seconds
    for unit, size in (("h", 3600.0), ("m", 60.0)):
        if rest >= size:
            count = int(rest // size)
            out.append(f"{count}{unit}")
            rest -= count * size
    if rest or not out:
        out.append(f"{rest:g}s")
    return "".join(out)
