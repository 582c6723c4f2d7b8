"""The config as `/config_dump` shows it: plain data, every secret replaced by "<redacted>".

Secrets are found by what a value means and by where it came from, not by a list of known fields:

- meaning: a field typed `Secret`, or a field or map key whose name reads as a credential — one of
  its words (`x-api-key` -> x, api, key; `clientSecret` -> client, secret) is authorization, auth,
  key, apikey, token, secret, password, passwd, cookie, credential(s), htpasswd or bearer. Header
  maps are covered this way (`requestHeaderModifier.set.authorization: "Bearer ..."`), and so are
  environment maps and JSON body fields.
- provenance: any value whose text came from an environment variable (`$VAR`, `${VAR}`; the
  loader records the character spans each expansion produced), whatever the field is called. A
  `${VAR:-default}` whose default was used is text from the file and stays visible.
- a `{file: path}` reference is dumped as the reference: the file's content is never part of the
  config, so it cannot reach the dump.

Durations are shown as written (`30s`), and fields left unset are left out (never `null`).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Collection
from typing import Any

import msgspec

from fastgw.config.duration import format_duration
from fastgw.config.errors import Path

REDACTED = "<redacted>"
_SECRET_WORDS = frozenset(
    {
        "authorization",
        "auth",
        "key",
        "apikey",
        "token",
        "secret",
        "password",
        "passwd",
        "cookie",
        "credential",
        "credentials",
        "htpasswd",
        "bearer",
    }
)
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")


def secret_name(name: str) -> bool:
    """Whether a field name, header name or map key reads as a credential."""
    return any(w.lower() in _SECRET_WORDS for w in _WORD.findall(name))


def redacted_dump(config: msgspec.Struct, from_env: Collection[Path] = ()) -> dict[str, Any]:
    """`config` as plain data for `/config_dump`; `from_env` holds the key paths whose values came
    from environment variables (`SourceMap.secret`)."""
    return _Dumper(frozenset(from_env)).struct(config, ())


class _Dumper:
    def __init__(self, from_env: frozenset[Path]) -> None:
        self._from_env = from_env
        self._hints: dict[type, dict[str, Any]] = {}

    def struct(self, obj: msgspec.Struct, path: Path) -> dict[str, Any]:
        hints = self._hints.get(type(obj))
        if hints is None:
            hints = self._hints[type(obj)] = typing.get_type_hints(type(obj), include_extras=True)
        out: dict[str, Any] = {}
        for f in msgspec.structs.fields(obj):
            value = getattr(obj, f.name)
            if value is None or (isinstance(value, list | dict) and not value and _empty_default(f)):
                continue  # unset: not dumped as null (nor an empty list nobody wrote)
            hint = hints.get(f.name, Any)
            secret = _is_secret_type(hint) or secret_name(f.encode_name)
            out[f.encode_name] = self.value(value, (*path, f.encode_name), secret, _is_duration(hint))
        return out

    def value(self, value: Any, path: Path, secret: bool, duration: bool = False) -> Any:
        if isinstance(value, msgspec.Struct):
            return self.struct(value, path)
        if isinstance(value, list):
            return [self.value(item, (*path, i), secret) for i, item in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.value(v, (*path, k), secret or secret_name(str(k))) for k, v in value.items()}
        if path in self._from_env or (secret and isinstance(value, str)):
            return REDACTED
        if duration and isinstance(value, float):
            return format_duration(value)
        return value


def _empty_default(f: msgspec.structs.FieldInfo) -> bool:
    if f.default_factory is not msgspec.NODEFAULT:
        return not f.default_factory()
    return f.default is not msgspec.NODEFAULT and not f.default


def _metas(hint: Any) -> list[dict[str, Any]]:
    """The `Meta.extra` dicts of every Annotated member of a (possibly optional/union) type."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        base, *extras = typing.get_args(hint)
        found = [m.extra for m in extras if isinstance(m, msgspec.Meta) and m.extra]
        return found + _metas(base)
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(hint) for m in _metas(arg)]
    return []


def _is_secret_type(hint: Any) -> bool:
    return any(m.get("fastgw") == "secret" for m in _metas(hint))


def _is_duration(hint: Any) -> bool:
    return any(m.get("fastgw") == "duration" for m in _metas(hint))
