"""The config reference as Markdown, generated from the schema and its field docstrings.

One section per object, in the order a reader meets them from the root; one table row per key.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import msgspec
import msgspec.inspect as mi

from fastgw.config.duration import format_duration
from fastgw.config.jsonschema import field_docs

HEADER = (
    "# fastgw config reference\n\n"
    "Generated from `fastgw/config/schema*.py`:\n"
    "`python -m fastgw.config.reference > fastgw/config/REFERENCE.md`.\n\n"
)


def reference_document() -> str:
    """The whole REFERENCE.md text."""
    return HEADER + config_reference_markdown()


def config_reference_markdown(root: type | None = None) -> str:
    """Markdown tables for every object reachable from `root` (default: the whole Config)."""
    if root is None:
        from fastgw.config.schema import Config

        root = Config
    out: list[str] = []
    queue: deque[type] = deque([root])
    seen: set[type] = {root}
    while queue:
        cls = queue.popleft()
        info = mi.type_info(cls)
        assert isinstance(info, mi.StructType)
        out.extend(_section(cls, info))
        for f in info.fields:
            for nested in _structs_in(f.type):
                if nested not in seen:
                    seen.add(nested)
                    queue.append(nested)
    return "\n".join(out)


def _section(cls: type, info: mi.StructType) -> list[str]:
    docs = field_docs(cls)
    lines = [f"### {cls.__name__}", "", (cls.__doc__ or "").strip().splitlines()[0], ""]
    not_supported = sorted(getattr(cls, "NOT_SUPPORTED", ()))
    one_of = getattr(cls, "ONE_OF", ())
    for group in one_of:
        lines += [f"Exactly one of: {', '.join(f'`{k}`' for k in group if k not in not_supported)}.", ""]
    lines += ["| key | type | default | description |", "|---|---|---|---|"]
    for f in info.fields:
        default = "required" if f.required else _default(f)
        text = " ".join(docs.get(f.name, "").split()).replace("|", "\\|")
        lines.append(f"| `{f.encode_name}` | {_type(f.type)} | {default} | {text} |")
    if not_supported:
        lines += ["", f"Not supported yet: {', '.join(f'`{k}`' for k in not_supported)}."]
    lines.append("")
    return lines


def _default(f: mi.Field) -> str:
    value: Any = f.default
    if value is msgspec.NODEFAULT:
        value = f.default_factory() if f.default_factory is not msgspec.NODEFAULT else None
    if value is None:
        return ""
    if isinstance(value, msgspec.Struct):
        return "(see below)"
    if _is_duration(f.type) and isinstance(value, int | float):
        return f"`{format_duration(value)}`"
    return f"`{msgspec.json.encode(value).decode()}`"


def _is_duration(t: mi.Type) -> bool:
    if isinstance(t, mi.UnionType):
        return any(_is_duration(m) for m in t.types)
    return isinstance(t, mi.Metadata) and (t.extra or {}).get("fastgw") == "duration"


def _type(t: mi.Type) -> str:
    if isinstance(t, mi.Metadata):
        kind = (t.extra or {}).get("fastgw")
        names = {"duration": "duration", "hostport": "host:port", "regex": "regex", "secret": "secret"}
        return names[kind] if kind in names else _type(t.type)
    if isinstance(t, mi.UnionType):
        return " \\| ".join(_type(m) for m in t.types if not isinstance(m, mi.NoneType))
    if isinstance(t, mi.StructType):
        return t.cls.__name__
    if isinstance(t, mi.ListType):
        return f"list of {_type(t.item_type)}"
    if isinstance(t, mi.DictType):
        return f"map of {_type(t.value_type)}"
    if isinstance(t, mi.LiteralType):
        return " \\| ".join(f"`{v}`" for v in t.values)
    simple = {mi.StrType: "string", mi.IntType: "integer", mi.FloatType: "number", mi.BoolType: "boolean"}
    return simple.get(type(t), "any")


def _structs_in(t: mi.Type) -> list[type]:
    if isinstance(t, mi.Metadata):
        return _structs_in(t.type)
    if isinstance(t, mi.StructType):
        return [t.cls]
    if isinstance(t, mi.UnionType):
        return [c for m in t.types for c in _structs_in(m)]
    if isinstance(t, mi.ListType):
        return _structs_in(t.item_type)
    if isinstance(t, mi.DictType):
        return _structs_in(t.value_type)
    return []


if __name__ == "__main__":
    import sys

    sys.stdout.write(reference_document())
