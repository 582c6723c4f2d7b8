"""Multiplexing several MCP servers behind one: names, merged lists, cursors, merged capabilities.

Pure functions over JSON-RPC payloads (no I/O). A multiplexed name is `<target>_<name>` for tools
and prompts, and a resource URI becomes `<target>+<uri>`; whether names carry the prefix is the
backend's `prefixMode` (`conditional`: only with more than one target).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import orjson

DELIMITER: Final = "_"
URI_DELIMITER: Final = "+"

#: list method -> (the result's array key, how an item is named)
LISTS: Final = {
    "tools/list": ("tools", "name"),
    "prompts/list": ("prompts", "name"),
    "resources/list": ("resources", "uri"),
    "resources/templates/list": ("resourceTemplates", "uriTemplate"),
}


class Names:
    """Turns a target's names into the client's and back."""

    __slots__ = ("_by_length", "prefix")

    def __init__(self, targets: Sequence[str], prefix: bool) -> None:
        self.prefix = prefix
        # longest first: with targets `a` and `a_b`, `a_b_tool` belongs to `a_b`
        self._by_length = sorted(targets, key=len, reverse=True)

    def outward(self, target: str, name: str, uri: bool = False) -> str:
        if not self.prefix:
            return name
        return f"{target}{URI_DELIMITER if uri else DELIMITER}{name}"

    def inward(self, name: str, uri: bool = False) -> tuple[str, str] | None:
        """(target, the target's own name) for a prefixed name; None when no target owns it."""
        sep = URI_DELIMITER if uri else DELIMITER
        for target in self._by_length:
            if name.startswith(target) and name[len(target) : len(target) + 1] == sep:
                return target, name[len(target) + 1 :]
        return None


def rename_items(method: str, target: str, result: Mapping[str, Any], names: Names) -> list[dict[str, Any]]:
    key, field = LISTS[method]
    uri = field != "name"
    items = []
    for item in result.get(key) or []:
        if not isinstance(item, dict) or not isinstance(item.get(field), str):
            continue
        items.append({**item, field: names.outward(target, item[field], uri)})
    return items


def encode_cursor(cursors: Mapping[str, str]) -> str | None:
    """The client's cursor for the targets that have more pages (None: the listing is complete)."""
    if not cursors:
        return None
    return base64.urlsafe_b64encode(orjson.dumps(dict(cursors))).decode("ascii")


def decode_cursor(cursor: str) -> dict[str, str] | None:
    """target -> that target's cursor; None for a cursor we did not issue."""
    try:
        value = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return None
    return value


def merge_initialize(
    results: Iterable[tuple[str, Mapping[str, Any]]], version: str, server_version: str
) -> dict[str, Any]:
    """One initialize result for the client: every target's capabilities, instructions in order."""
    caps: dict[str, Any] = {}
    instructions = []
    for target, res in results:
        for name, value in (res.get("capabilities") or {}).items():
            if name in ("tools", "prompts", "resources") and isinstance(value, dict):
                merged = caps.setdefault(name, {})
                for flag in ("listChanged", "subscribe"):
                    if value.get(flag):
                        merged[flag] = True
            elif name in ("logging", "completions"):
                caps[name] = {}
        text = res.get("instructions")
        if isinstance(text, str) and text:
            instructions.append(f"{target}: {text}")
    out: dict[str, Any] = {
        "protocolVersion": version,
        "capabilities": caps,
        "serverInfo": {"name": "fastgw", "version": server_version},
    }
    if instructions:
        out["instructions"] = "\n\n".join(instructions)
    return out
