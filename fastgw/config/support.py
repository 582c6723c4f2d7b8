"""What the compiler enforces: a policy or setting that parses but is not implemented is an error
("not supported yet"), never silently dropped.

The data is the schema's: each class's `NOT_SUPPORTED_CHECKED` keys (see `schema_base.Spec`). The
same data renders the reference's marks and README's "supported / not supported yet" table
(`reference.py`), so what the docs promise and what the compiler refuses cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import msgspec

from fastgw.config.errors import Path, parse_path, render_path
from fastgw.config.schema_base import Spec


def unsupported_settings(config: Spec) -> list[str]:
    """`key.path: not supported yet: key` for every `NOT_SUPPORTED_CHECKED` key set anywhere in
    `config`, in file order (a key is set when its value differs from its default)."""
    found: list[str] = []
    _walk(config, (), found)
    return found


def not_covered(errors: list[str], unsupported: list[str]) -> list[str]:
    """`errors` without the "not supported yet" ones that restate an `unsupported` finding at the
    same place or above it (a builder's own check of the same key, in its own words)."""
    marked = [parse_path(e.partition(": ")[0]) for e in unsupported]
    kept = []
    for error in errors:
        where, _, message = error.partition(": ")
        path = parse_path(where)
        if path and "not supported yet" in message and any(path == m[: len(path)] for m in marked):
            continue
        kept.append(error)
    return kept


def _walk(value: Any, path: Path, found: list[str]) -> None:
    if isinstance(value, Spec):
        marked = type(value).NOT_SUPPORTED_CHECKED
        for f in msgspec.structs.fields(value):
            item = getattr(value, f.name)
            if not _is_set(item, f):
                continue
            here = (*path, f.encode_name)
            if f.encode_name in marked:
                found.append(f"{render_path(here)}: not supported yet: {f.encode_name}")
            else:
                _walk(item, here, found)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, (*path, i), found)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(item, (*path, str(key)), found)


def _is_set(value: Any, f: msgspec.structs.FieldInfo) -> bool:
    if value is None:
        return False
    if f.default is not msgspec.NODEFAULT:
        return bool(value != f.default)
    if f.default_factory is not msgspec.NODEFAULT:
        return bool(value != f.default_factory())
    return True


def reject_unsupported(spec: Any, supported: frozenset[str], path: str, errors: list[str], where: str = "") -> None:
    """An error for every field set on `spec` (a config Struct) that is not in `supported`."""
    if spec is None:
        return
    for f in msgspec.structs.fields(spec):
        if f.name not in supported and getattr(spec, f.name) is not None:
            errors.append(f"{path}.{f.encode_name}: not supported yet{where}: {f.encode_name}")
