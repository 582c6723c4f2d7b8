"""JSON Schema of the config, with the schema's field docstrings as descriptions.

msgspec generates the structure; field docs are the string literals written under each field in
`schema_*.py`, read here with `ast` (only when a schema is asked for, never at import).
"""

from __future__ import annotations

import ast
import inspect
import itertools
from typing import Any

import msgspec

from fastgw.config.duration import format_duration


def field_docs(cls: type) -> dict[str, str]:
    """{python attribute name: docstring} for a class and its bases (nearest definition wins)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass in (object, msgspec.Struct):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        tree = ast.parse(inspect.cleandoc("\n" + source) if source.startswith((" ", "\t")) else source)
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, nxt in itertools.pairwise(body):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[stmt.target.id] = inspect.cleandoc(nxt.value.value)
    return docs


def _struct_types(root: type) -> dict[str, type]:
    """msgspec's $defs name -> Struct class, for every Struct reachable from `root`."""
    import msgspec.inspect as mi

    found: dict[str, type] = {}
    seen: set[int] = set()

    def walk(t: Any) -> None:
        if id(t) in seen:
            return
        seen.add(id(t))
        if isinstance(t, mi.StructType):
            found[t.cls.__name__] = t.cls
            for f in t.fields:
                walk(f.type)
        elif isinstance(t, mi.Metadata):
            walk(t.type)
        elif isinstance(t, mi.UnionType):
            for m in t.types:
                walk(m)
        elif isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
            walk(t.item_type)
        elif isinstance(t, mi.DictType):
            walk(t.value_type)

    walk(mi.type_info(root))
    return found


def _fix_durations(node: Any) -> None:
    # Durations are float seconds in Python but strings in the file.
    if isinstance(node, dict):
        if node.get("format") == "duration":
            node["type"] = "string"
            if isinstance(node.get("default"), int | float):
                node["default"] = format_duration(node["default"])
        for value in node.values():
            _fix_durations(value)
    elif isinstance(node, list):
        for value in node:
            _fix_durations(value)


def build_schema(root: type) -> dict[str, Any]:
    """The JSON Schema document for `root` (a Struct type)."""
    schema: dict[str, Any] = msgspec.json.schema(root)
    defs: dict[str, Any] = schema.get("$defs", {})
    for name, cls in _struct_types(root).items():
        definition = defs.get(name)
        if definition is None:
            continue
        docs = field_docs(cls)
        encode = {f.name: f.encode_name for f in msgspec.structs.fields(cls)}
        for attr, text in docs.items():
            prop = definition.get("properties", {}).get(encode.get(attr, attr))
            if prop is not None:
                prop.setdefault("description", text)
    _fix_durations(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "fastgw config (agentgateway standalone format)"
    return schema
