"""Config errors: every problem found in a file, each with file, line and key path.

Loading never stops at the first problem: the loader collects a `ConfigIssue` per problem and raises
one `ConfigError` holding all of them, so a user fixes a file in one round trip. Rendered, one issue
per line::

    config.yaml:14: binds[0].listeners[0].routes[1].policies.localRateLimit[0].fillInterval: invalid ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import msgspec

PathPart = str | int
Path = tuple[PathPart, ...]

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")


def render_path(path: Sequence[PathPart]) -> str:
    """`("binds", 0, "listeners")` -> `binds[0].listeners`; odd map keys are quoted: `routes["/v1"]`."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _PLAIN_KEY.match(part):
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{_quote(part)}]")
    return "".join(out)


_PART = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_\-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


def parse_path(text: str) -> Path:
    """Inverse of render_path: `binds[0].listeners` -> `("binds", 0, "listeners")`.

    Text that is not a rendered path yields the parts read up to that point."""
    parts: list[PathPart] = []
    pos = 0
    while pos < len(text):
        m = _PART.match(text, pos)
        if m is None:
            break
        name, index, quoted = m.groups()
        if name is not None:
            parts.append(name)
        elif index is not None:
            parts.append(int(index))
        else:
            parts.append(re.sub(r"\\(.)", r"\1", quoted))
        pos = m.end()
    return tuple(parts)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ConfigIssue(msgspec.Struct, frozen=True, kw_only=True):
    """One problem in a config file. `line` is 1-based; None when no line is known (e.g. unreadable)."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """Raised by the loader (and by compile) with every problem found, sorted by line."""

    def __init__(self, errors: Iterable[ConfigIssue]) -> None:
        self.errors: list[ConfigIssue] = sorted(errors, key=lambda e: (e.file, e.line or 0))
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)
