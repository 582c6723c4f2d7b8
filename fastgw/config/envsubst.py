"""Shell-style environment expansion over the raw config text, before YAML parsing.

Forms (as agentgateway): `$VAR`, `${VAR}`, `${VAR:-default}` (default when unset or empty),
`${VAR-default}` (default when unset). fastgw adds `$$` for a literal `$`. A `$` not followed by a
name or `{` stays as it is, so regexes such as `^v1$` need no escaping. An unset variable without
a default is an error naming it, with its line.

Expansion skips whole-line comments: a commented-out `$OLD_KEY` must not break a load, and the
`# yaml-language-server: $schema=...` editor hint must stay untouched.

The result remembers which output characters came from the environment (`secret_spans`), so error
messages can avoid echoing values that may be secrets, and maps output offsets back to source lines
(`line_of`), since an expanded value may contain newlines.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping

import msgspec

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN = re.compile(r"\$(?:(?P<dollar>\$)|\{(?P<braced>[^}\n]*)\}|(?P<name>" + _NAME + r")|(?P<open>\{))")
_BRACED = re.compile(r"(?P<name>" + _NAME + r")(?:(?P<op>:-|-)(?P<default>.*))?\Z", re.DOTALL)
_COMMENT_LINE = re.compile(r"[ \t]*#")


class EnvProblem(msgspec.Struct, frozen=True):
    """An expansion problem at a 1-based source line."""

    line: int
    message: str


class Expansion(msgspec.Struct, frozen=True, kw_only=True):
    """Expanded text plus the bookkeeping needed to report errors against the original file."""

    text: str
    problems: list[EnvProblem]
    # Sorted, non-overlapping [start, end) offsets in `text` whose characters came from the environment.
    secret_spans: list[tuple[int, int]]
    # Offset in `text` where each source line's expansion starts; index i is source line i + 1.
    line_starts: list[int]

    def line_of(self, offset: int) -> int:
        """1-based source line of an offset into the expanded text."""
        return max(1, bisect.bisect_right(self.line_starts, offset))

    def is_secret(self, start: int, end: int) -> bool:
        """Whether [start, end) overlaps text that came from an environment variable."""
        i = bisect.bisect_right(self.secret_spans, (start, end))
        for j in (i - 1, i):
            if 0 <= j < len(self.secret_spans):
                s, e = self.secret_spans[j]
                if s < end and start < e:
                    return True
        return False


def expand(text: str, env: Mapping[str, str]) -> Expansion:
    """Expand every reference in `text`; never raises, problems are returned."""
    out: list[str] = []
    size = 0
    problems: list[EnvProblem] = []
    spans: list[tuple[int, int]] = []
    line_starts: list[int] = []
    for lineno, line in enumerate(text.splitlines(keepends=True), start=1):
        line_starts.append(size)
        if _COMMENT_LINE.match(line):
            out.append(line)
            size += len(line)
            continue
        pos = 0
        for m in _TOKEN.finditer(line):
            literal = line[pos : m.start()]
            out.append(literal)
            size += len(literal)
            pos = m.end()
            value, from_env, problem = _resolve(m, env)
            if problem is not None:
                problems.append(EnvProblem(lineno, problem))
                # Keep the reference in place so the YAML still parses and other errors surface.
                value, from_env = m.group(0), False
            if from_env and value:
                spans.append((size, size + len(value)))
            out.append(value)
            size += len(value)
        rest = line[pos:]
        out.append(rest)
        size += len(rest)
    return Expansion(text="".join(out), problems=problems, secret_spans=spans, line_starts=line_starts)


def _resolve(m: re.Match[str], env: Mapping[str, str]) -> tuple[str, bool, str | None]:
    """(replacement, came from the environment, problem)."""
    if m.group("dollar") is not None:
        return "$", False, None
    if m.group("open") is not None:
        return "", False, "unterminated ${...} reference (use $$ for a literal $)"
    name = m.group("name")
    if name is not None:
        return _lookup(name, env)
    inner = m.group("braced")
    bm = _BRACED.match(inner)
    if bm is None:
        return "", False, f"invalid variable reference ${{{inner}}}: expected ${{NAME}} or ${{NAME:-default}}"
    name = bm.group("name")
    op = bm.group("op")
    if op is None:
        return _lookup(name, env)
    value = env.get(name)
    if value is None or (op == ":-" and value == ""):
        return bm.group("default"), False, None
    return value, True, None


def _lookup(name: str, env: Mapping[str, str]) -> tuple[str, bool, str | None]:
    value = env.get(name)
    if value is None:
        return "", False, f"environment variable {name} is not set (give a default with ${{{name}:-...}})"
    return value, True, None
