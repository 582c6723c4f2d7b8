"""The compiled route table: (host, method, path, headers, query) -> the best matching route.

Precedence follows the Gateway API rules agentgateway implements: listener hostname (exact before
wildcard before `*`), then route hostname (exact, wildcard, none), then path (Exact, then the
longest PathPrefix or regex, a prefix winning a tie), then a method match, then the most header matches,
then the most query matches, then configuration order. Entries are sorted once at compile time;
matching is a linear scan that stops at the first hit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import parse_qsl

from fastgw.http.headers import Headers

R = TypeVar("R")

EXACT, PREFIX, REGEX = 3, 2, 1


@dataclass(frozen=True, slots=True)
class StringMatcher:
    exact: bytes | None = None
    regex: re.Pattern[bytes] | None = None

    def __call__(self, value: bytes) -> bool:
        if self.exact is not None:
            return value == self.exact
        assert self.regex is not None
        return self.regex.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Match:
    """One `matches[]` entry: every part must hold."""

    path_kind: int = PREFIX
    path: bytes = b"/"
    path_regex: re.Pattern[bytes] | None = None
    method: bytes | None = None
    headers: tuple[tuple[bytes, StringMatcher], ...] = ()
    query: tuple[tuple[str, StringMatcher], ...] = ()

    def rank(self) -> tuple[int, int, int, int, int, int]:
        # Exact first; then the longer of prefix/regex (a prefix wins a tie); Gateway API leaves
        # regex precedence to implementations, and a long regex is more specific than "/"
        length = len(self.path_regex.pattern) if self.path_regex is not None else len(self.path)
        exact = 1 if self.path_kind == EXACT else 0
        prefix = 1 if self.path_kind == PREFIX else 0
        return (exact, length, prefix, 1 if self.method else 0, len(self.headers), len(self.query))

    def matches_path(self, path: bytes) -> bool:
        kind = self.path_kind
        if kind == PREFIX:
            p = self.path
            if p == b"/":
                return True
            if not path.startswith(p):
                return False
            # Gateway API PathPrefix matches whole path elements: /foo matches /foo and /foo/x,
            # never /foobar
            return len(path) == len(p) or p.endswith(b"/") or path[len(p)] == 0x2F
        if kind == EXACT:
            return path == self.path
        assert self.path_regex is not None
        return self.path_regex.fullmatch(path) is not None

    def matches_rest(self, method: bytes, headers: Headers, query: dict[str, list[str]] | None) -> bool:
        if self.method is not None and method != self.method:
            return False
        for name, matcher in self.headers:
            if not any(n == name and matcher(v) for n, v in headers):
                return False
        if self.query:
            if query is None:
                return False
            for qname, qmatcher in self.query:
                values = query.get(qname)
                if not values or not any(qmatcher(v.encode()) for v in values):
                    return False
        return True


@dataclass(frozen=True, slots=True)
class HostPattern:
    """A hostname pattern: exact, `*.suffix` wildcard, or any (`*` / absent)."""

    exact: bytes | None = None
    suffix: bytes | None = None  # for "*.example.com": b".example.com"

    @classmethod
    def parse(cls, text: str | None) -> HostPattern:
        if text is None or text == "*" or text == "":
            return cls()
        t = text.lower().encode()
        if t.startswith(b"*."):
            return cls(suffix=t[1:])
        return cls(exact=t)

    @property
    def specificity(self) -> int:
        if self.exact is not None:
            return 2
        return 1 if self.suffix is not None else 0

    def __call__(self, host: bytes) -> bool:
        if self.exact is not None:
            return host == self.exact
        if self.suffix is not None:
            return host.endswith(self.suffix) and len(host) > len(self.suffix)
        return True


@dataclass(frozen=True, slots=True)
class Entry(Generic[R]):
    route: R
    hosts: tuple[HostPattern, ...]  # empty = any host
    match: Match

    def host_rank(self, host: bytes) -> int:
        if not self.hosts:
            return 0
        best = -1
        for h in self.hosts:
            if h(host):
                best = max(best, h.specificity)
        return best


class ListenerRoutes(Generic[R]):
    """The routes of one listener, ordered by precedence."""

    __slots__ = ("entries", "hostname", "needs_query")

    def __init__(self, hostname: HostPattern, entries: list[Entry[R]]) -> None:
        self.hostname = hostname
        # stable sort: equal ranks keep configuration order
        self.entries = sorted(entries, key=lambda e: _entry_rank(e), reverse=True)
        self.needs_query = any(e.match.query for e in entries)

    def match(self, host: bytes, method: bytes, path: bytes, headers: Headers, query: bytes) -> Entry[R] | None:
        parsed: dict[str, list[str]] | None = None
        if self.needs_query and query:
            parsed = {}
            for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                parsed.setdefault(k, []).append(v)
        for e in self.entries:
            if e.host_rank(host) < 0:
                continue
            m = e.match
            if m.matches_path(path) and m.matches_rest(method, headers, parsed):
                return e
        return None


def _entry_rank(e: Entry[R]) -> tuple[int, ...]:
    host_spec = max((h.specificity for h in e.hosts), default=-1) + 1
    return (host_spec, *e.match.rank())


class BindRoutes(Generic[R]):
    """All listeners of one port; the listener is chosen by its hostname."""

    __slots__ = ("always", "listeners")

    def __init__(self, listeners: list[ListenerRoutes[R]]) -> None:
        self.listeners = sorted(listeners, key=lambda lst: lst.hostname.specificity, reverse=True)
        #: the entry every request matches, when there is one: a single any-host listener whose
        #: first entry (by precedence) has no hostnames and matches any path, method, header and
        #: query; `match` would return it for every request, so the pipeline skips matching
        self.always: Entry[R] | None = None
        if len(self.listeners) == 1 and self.listeners[0].hostname.specificity == 0:
            entries = self.listeners[0].entries
            if entries and not entries[0].hosts and entries[0].match == Match():
                self.always = entries[0]

    def match(self, host: bytes, method: bytes, path: bytes, headers: Headers, query: bytes) -> Entry[R] | None:
        for lst in self.listeners:
            if lst.hostname(host):
                return lst.match(host, method, path, headers, query)
        return None
