"""A validator that walks msgspec type information against parsed YAML and reports EVERY problem.

msgspec's own `convert` stops at the first error and knows nothing about YAML lines, agentgateway
keys fastgw has not implemented, durations or secrets. This walker checks the raw data against
`msgspec.inspect.type_info(Config)`, collects one message per problem with its key path, and builds
the Structs bottom-up from the checked values (durations become float seconds). Semantic checks
(`Spec.problems()`) run on every object that built cleanly, so one typo elsewhere does not hide them.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import re
from collections.abc import Callable
from typing import Any

import msgspec
import msgspec.inspect as mi

from fastgw.config.duration import DurationError, parse_duration
from fastgw.config.errors import Path, PathPart
from fastgw.config.schema_base import Spec

Report = Callable[[Path, str, Path], None]
"""Receives (key path shown, message, key path whose line is reported) for every problem."""
IsSecret = Callable[[Path], bool]
"""Whether the value at a path must not be echoed (it came from the environment)."""

_INVALID: Any = object()
_SECRET_KEY_WORDS = ("key", "token", "secret", "password", "htpasswd", "authorization", "credential")


def validate(data: Any, cls: type[Spec], report: Report, is_secret: IsSecret) -> Any:
    """Check `data` against `cls`; return the built Struct, or None when any problem was reported."""
    walker = _Walker(report, is_secret)
    result = walker.check(data, _type_info(cls), ())
    if walker.failed or result is _INVALID:
        return None
    return result


@functools.cache
def _type_info(cls: type[Spec]) -> mi.Type:
    """msgspec's description of a schema class: ~0.2 s for Config, the same for every load (the
    walker only reads it), so a process computes it once."""
    return mi.type_info(cls)


class _Walker:
    def __init__(self, report: Report, is_secret: IsSecret) -> None:
        self._report = report
        self._is_secret = is_secret
        self.count = 0
        self.structural = 0  # problems that leave no well-typed value (all but problems() findings)

    @property
    def failed(self) -> bool:
        return self.count > 0

    def error(self, path: Path, message: str, at: Path | None = None, semantic: bool = False) -> None:
        self.count += 1
        if not semantic:
            self.structural += 1
        self._report(path, message, path if at is None else at)

    def show(self, value: Any, path: Path) -> str:
        """The value as it may appear in a message: quoted, or hidden when it may be a secret."""
        last = next((p for p in reversed(path) if isinstance(p, str)), "")
        if self._is_secret(path) or any(w in last.lower() for w in _SECRET_KEY_WORDS):
            return "(value hidden)"
        text = msgspec.json.encode(value).decode() if _jsonable(value) else repr(value)
        return text if len(text) <= 60 else text[:57] + "..."

    # -- dispatch -------------------------------------------------------------------------------

    def check(self, value: Any, t: mi.Type, path: Path) -> Any:
        if isinstance(t, mi.Metadata):
            return self._metadata(value, t, path)
        if isinstance(t, mi.UnionType):
            return self._union(value, t, path)
        if isinstance(t, mi.StructType):
            return self._struct(value, t, path)
        if isinstance(t, mi.ListType):
            return self._list(value, t, path)
        if isinstance(t, mi.DictType):
            return self._dict(value, t, path)
        if isinstance(t, mi.LiteralType):
            return self._literal(value, t, path)
        if isinstance(t, mi.AnyType):
            return value
        return self._scalar(value, t, path)

    # -- scalars --------------------------------------------------------------------------------

    def _scalar(self, value: Any, t: mi.Type, path: Path) -> Any:
        ok = (
            (isinstance(t, mi.StrType) and isinstance(value, str))
            or (isinstance(t, mi.BoolType) and isinstance(value, bool))
            or (isinstance(t, mi.IntType) and isinstance(value, int) and not isinstance(value, bool))
            or (isinstance(t, mi.FloatType) and isinstance(value, int | float) and not isinstance(value, bool))
            or (isinstance(t, mi.NoneType) and value is None)
        )
        if not ok:
            return self._type_error(value, t, path)
        if isinstance(t, mi.IntType | mi.FloatType):
            return self._bounds(value, t, path)
        if isinstance(t, mi.StrType) and t.min_length is not None and len(value) < t.min_length:
            self.error(path, f"must be at least {t.min_length} characters")
            return _INVALID
        return value

    def _bounds(self, value: float, t: mi.IntType | mi.FloatType, path: Path) -> Any:
        if (t.ge is not None and value < t.ge) or (t.le is not None and value > t.le):
            low = "" if t.ge is None else f"{t.ge}"
            high = "" if t.le is None else f"{t.le}"
            rng = f"between {low} and {high}" if low and high else (f">= {low}" if low else f"<= {high}")
            self.error(path, f"must be {rng}, got {value}")
            return _INVALID
        if (t.gt is not None and value <= t.gt) or (t.lt is not None and value >= t.lt):
            self.error(path, f"out of range: {value}")
            return _INVALID
        return value

    def _literal(self, value: Any, t: mi.LiteralType, path: Path) -> Any:
        if value in t.values and type(value) is type(next(v for v in t.values if v == value)):
            return value
        options = ", ".join(str(v) for v in t.values)
        hint = ""
        if isinstance(value, str):
            lowered = {str(v).lower(): v for v in t.values}
            near = lowered.get(value.lower()) or next(
                iter(difflib.get_close_matches(value, [str(v) for v in t.values], n=1, cutoff=0.75)), None
            )
            if near is not None:
                hint = f' (did you mean "{near}"?)'
        self.error(path, f"invalid value {self.show(value, path)}: expected one of {options}{hint}")
        return _INVALID

    def _metadata(self, value: Any, t: mi.Metadata, path: Path) -> Any:
        if value in (t.extra or {}).get("not_supported_values", ()):
            key = next((p for p in reversed(path) if isinstance(p, str)), "")
            self.error(path[:-1] if path else path, f"not supported yet: {key} {value}", path)
            return _INVALID
        kind = (t.extra or {}).get("fastgw")
        if kind == "duration":
            if not isinstance(value, str):
                hint = f' (write e.g. "{value}s" or "{value}ms")' if isinstance(value, int | float) else ""
                if isinstance(value, bool):
                    hint = ""
                self.error(path, f'expected a duration string like "5s", got {kind_of(value)}{hint}')
                return _INVALID
            try:
                return parse_duration(value)
            except DurationError as exc:
                self.error(path, f"invalid duration {self.show(value, path)}: {exc}")
                return _INVALID
        result = self.check(value, t.type, path)
        if result is _INVALID:
            return _INVALID
        if kind == "hostport":
            problem = host_port_problem(result)
            if problem:
                self.error(path, f"invalid host:port {self.show(value, path)}: {problem}")
                return _INVALID
        elif kind == "regex":
            try:
                re.compile(result)
            except re.error as exc:
                self.error(path, f"invalid regex {self.show(value, path)}: {exc}")
                return _INVALID
        return result

    # -- containers -----------------------------------------------------------------------------

    def _type_error(self, value: Any, t: mi.Type, path: Path) -> Any:
        members = t.types if isinstance(t, mi.UnionType) else (t,)
        if isinstance(value, dict) and "conditional" in value and any(isinstance(m, mi.ListType) for m in members):
            self.error(path, "not supported yet: conditional form (give a plain list)")
            return _INVALID
        hint = ""
        if any(isinstance(m, mi.StrType) for m in members) and isinstance(value, int | float | bool):
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            hint = f' (quote it: "{shown}")'
        self.error(path, f"expected {describe(t)}, got {kind_of(value)}{hint}")
        return _INVALID

    def _list(self, value: Any, t: mi.ListType, path: Path) -> Any:
        if not isinstance(value, list):
            return self._type_error(value, t, path)
        out = [self.check(item, t.item_type, (*path, i)) for i, item in enumerate(value)]
        return _INVALID if any(v is _INVALID for v in out) else out

    def _dict(self, value: Any, t: mi.DictType, path: Path) -> Any:
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {kind_of(value)}")
            return _INVALID
        out: dict[Any, Any] = {}
        bad = False
        for key, item in value.items():
            if not isinstance(key, str):
                self.error((*path, str(key)), f"keys must be strings, got {kind_of(key)} (quote it)")
                bad = True
                continue
            checked = self.check(item, t.value_type, (*path, key))
            bad = bad or checked is _INVALID
            out[key] = checked
        return _INVALID if bad else out

    def _union(self, value: Any, t: mi.UnionType, path: Path) -> Any:
        member = _pick_member(value, t.types)
        if member is None:
            return self._type_error(value, t, path)
        return self.check(value, member, path)

    def _struct(self, value: Any, t: mi.StructType, path: Path) -> Any:
        cls: Any = t.cls
        if isinstance(value, str) and value in getattr(cls, "NOT_SUPPORTED_SCALARS", ()):
            self.error(path, f"not supported yet: {value}")
            return _INVALID
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {kind_of(value)}")
            return _INVALID
        if "conditional" in value and "conditional" not in {f.encode_name for f in t.fields}:
            self.error(path, "not supported yet: conditional form")
            return _INVALID
        before = self.structural
        by_key = {f.encode_name: f for f in t.fields}
        unknown_keys = False
        not_supported: frozenset[str] = getattr(cls, "NOT_SUPPORTED", frozenset())
        for key in value:
            if key in by_key:
                continue
            at = (*path, str(key))
            if key in not_supported:
                self.error(path, f"not supported yet: {key}", at)
            else:
                unknown_keys = True
                self.error(path, _unknown(key, [*by_key, *not_supported], self._is_secret(at)), at)
        one_of = getattr(cls, "ONE_OF", ())
        for group in (*one_of, *getattr(cls, "AT_MOST_ONE", ())):
            present = [k for k in group if k in value and (value[k] is not None or _null_is_empty(by_key.get(k)))]
            if len(present) > 1:
                self.error(path, f"set only one of {', '.join(present)}")
            elif not present and not unknown_keys and group in one_of:  # a misspelt choice was reported
                offered = [k for k in group if k not in not_supported]
                self.error(path, f"missing one of: {', '.join(offered)}")
        choice_keys = {k for group in getattr(cls, "ONE_OF", ()) for k in group}
        kwargs: dict[str, Any] = {}
        for f in t.fields:
            if f.encode_name not in value:
                if f.required:
                    self.error(path, f"missing required field {f.encode_name}")
                continue
            raw = value[f.encode_name]
            if raw is None and f.encode_name in choice_keys and _null_is_empty(f):
                raw = {}  # `anthropic:` with nothing after it picks that kind with every field defaulted
            if raw is None and not _accepts_none(f.type):
                if f.required:
                    self.error((*path, f.encode_name), f"expected {describe(f.type)}, got null")
                continue  # `key: ` (null) on an optional field means "unset", as serde's Option does
            kwargs[f.name] = self.check(raw, f.type, (*path, f.encode_name))
        if self.structural > before or any(v is _INVALID for v in kwargs.values()):
            return _INVALID
        built = cls(**kwargs)
        for key, message in built.problems():
            where = (*path, *key) if isinstance(key, tuple) else ((*path, key) if key else path)
            self.error(where, message, semantic=True)
        # Semantic problems leave a well-typed object: parents still build and run their own checks.
        return built


def _null_is_empty(f: mi.Field | None) -> bool:
    """Whether a null value for this field reads best as `{}`: an object whose fields are all optional."""
    if f is None:
        return False
    members = f.type.types if isinstance(f.type, mi.UnionType) else (f.type,)
    structs = [m for m in members if isinstance(m, mi.StructType)]
    return len(structs) == 1 and all(not g.required for g in structs[0].fields)


def _unknown(key: Any, known: list[str], hidden: bool) -> str:
    if hidden:
        return "unknown field (name hidden: it came from the environment)"
    text = f'unknown field "{key}"'
    if isinstance(key, str):
        near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if not near:
            lowered = {k.lower(): k for k in known}
            hit = lowered.get(key.lower().replace("_", "").replace("-", ""))
            near = [hit] if hit else []
        if near:
            text += f' (did you mean "{near[0]}"?)'
    return text


def _accepts_none(t: mi.Type) -> bool:
    if isinstance(t, mi.Metadata):
        return _accepts_none(t.type)
    if isinstance(t, mi.UnionType):
        return any(isinstance(m, mi.NoneType) for m in t.types)
    return isinstance(t, mi.NoneType | mi.AnyType)


def _accepts(value: Any, t: mi.Type) -> bool:
    """Whether `t` is the union member meant for a value of this Python type."""
    if isinstance(t, mi.Metadata):
        if (t.extra or {}).get("fastgw") == "duration":
            # Numbers are routed here too, to get the "give a unit" hint rather than a type error.
            return isinstance(value, str | int | float) and not isinstance(value, bool)
        return _accepts(value, t.type)
    if isinstance(t, mi.AnyType):
        return True
    if value is None:
        return isinstance(t, mi.NoneType)
    if isinstance(value, bool):
        return isinstance(t, mi.BoolType) or (isinstance(t, mi.LiteralType) and value in t.values)
    if isinstance(value, int):
        return isinstance(t, mi.IntType | mi.FloatType) or (
            isinstance(t, mi.LiteralType) and any(isinstance(v, int) for v in t.values)
        )
    if isinstance(value, float):
        return isinstance(t, mi.FloatType)
    if isinstance(value, str):
        if isinstance(t, mi.StructType):
            return value in getattr(t.cls, "NOT_SUPPORTED_SCALARS", ())
        return isinstance(t, mi.StrType) or (
            isinstance(t, mi.LiteralType) and any(isinstance(v, str) for v in t.values)
        )
    if isinstance(value, list):
        return isinstance(t, mi.ListType)
    if isinstance(value, dict):
        return isinstance(t, mi.StructType | mi.DictType)
    return False


def _pick_member(value: Any, members: tuple[mi.Type, ...]) -> mi.Type | None:
    candidates = [m for m in members if _accepts(value, m)]
    if not candidates:
        return None
    # A string matching a Literal member goes there; otherwise a plain-string member (so a typo in a
    # Literal still gets the "did you mean" message when there is no plain-string alternative).
    if isinstance(value, str) and len(candidates) > 1:
        for m in candidates:
            inner = m.type if isinstance(m, mi.Metadata) else m
            if isinstance(inner, mi.LiteralType) and value in inner.values:
                return m
        for m in candidates:
            inner = m.type if isinstance(m, mi.Metadata) else m
            if not isinstance(inner, mi.LiteralType):
                return m
    return candidates[0]


def describe(t: mi.Type) -> str:
    """Human name of an expected type."""
    if isinstance(t, mi.Metadata):
        kind = (t.extra or {}).get("fastgw")
        if kind == "duration":
            return 'a duration string like "5s"'
        if kind == "hostport":
            return 'a "host:port" string'
        return describe(t.type)
    if isinstance(t, mi.UnionType):
        parts = [describe(m) for m in t.types if not isinstance(m, mi.NoneType)]
        return " or ".join(dict.fromkeys(parts))
    if isinstance(t, mi.StructType):
        return "a mapping"
    if isinstance(t, mi.LiteralType):
        return "one of " + ", ".join(str(v) for v in t.values)
    names: dict[type[Any], str] = {
        mi.StrType: "a string",
        mi.IntType: "an integer",
        mi.FloatType: "a number",
        mi.BoolType: "true or false",
        mi.ListType: "a list",
        mi.DictType: "a mapping",
        mi.NoneType: "null",
        mi.AnyType: "any value",
    }
    return names.get(type(t), type(t).__name__)


def kind_of(value: Any) -> str:
    """Human name of a parsed YAML value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def host_port_problem(text: str) -> str | None:
    """Why `text` is not "host:port", or None. IPv6 literals must be bracketed: "[::1]:8080"."""
    if text.startswith("unix:"):
        return "unix sockets are not supported yet"
    if "://" in text:
        return 'expected "host:port" without a scheme'
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            return 'expected "[ipv6]:port"'
        host, port = text[1:end], text[end + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "invalid IPv6 address"
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            return "missing port"
        if not host:
            return "missing host"
        if ":" in host:
            return 'bracket IPv6 addresses: "[::1]:8080"'
        if "/" in host or " " in host:
            return "invalid host"
    if not port.isdigit():
        return "port must be a number"
    if not 1 <= int(port) <= 65535:
        return "port must be between 1 and 65535"
    return None


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


__all__ = ["PathPart", "describe", "host_port_problem", "kind_of", "validate"]
