"""requestHeaderModifier / responseHeaderModifier: static header edits, compiled once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastgw.http.headers import Headers
from fastgw.runtime import HeaderEdit


def build_modifier(add: Mapping[str, str], set_: Mapping[str, str], remove: Sequence[str]) -> HeaderEdit | None:
    """A function applying `set`, then `add`, then `remove` (names compared case-insensitively)."""
    adds = [(k.lower().encode(), v.encode()) for k, v in add.items()]
    sets = [(k.lower().encode(), v.encode()) for k, v in set_.items()]
    drop = frozenset(k.lower().encode() for k in remove) | frozenset(n for n, _ in sets)
    if not adds and not sets and not remove:
        return None

    def edit(headers: Headers) -> Headers:
        out = [(n, v) for n, v in headers if n not in drop]
        out += sets
        out += adds
        return out

    return edit


def chain(*edits: HeaderEdit | None) -> HeaderEdit | None:
    """One HeaderEdit applying several in order (None when there are none)."""
    real = [e for e in edits if e is not None]
    if not real:
        return None
    if len(real) == 1:
        return real[0]

    def edit(headers: Headers) -> Headers:
        for e in real:
            headers = e(headers)
        return headers

    return edit
