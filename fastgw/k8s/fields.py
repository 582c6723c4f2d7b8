"""Reading a manifest's fields while remembering which were read, so that a field fastgw does not
convert is reported (a warning naming the resource and the field) instead of dropped in silence."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastgw.k8s.diagnostics import Diagnostics
from fastgw.k8s.manifests import FieldPath, Resource, render_path


class Fields:
    """One mapping of a resource being converted."""

    def __init__(self, res: Resource, data: Any, path: FieldPath, diags: Diagnostics) -> None:
        self.res = res
        self.path = path
        self.diags = diags
        self._read: set[str] = set()
        if isinstance(data, dict):
            self.data: dict[str, Any] = data
        else:
            self.data = {}
            if data is not None:
                self.error("", f"expected a mapping, got {_type_name(data)}")

    @classmethod
    def spec(cls, res: Resource, diags: Diagnostics) -> Fields:
        return cls(res, res.obj.get("spec"), ("spec",), diags)

    # -- naming and reporting ----------------------------------------------------------------------
    def name(self, key: str | int = "") -> str:
        path = (*self.path, key) if key != "" else self.path
        return render_path(path)

    def where(self, key: str | int = "") -> str:
        return self.res.where((*self.path, key) if key != "" else self.path)

    def error(self, key: str | int, message: str) -> None:
        self.diags.error(self.res.ref, self.name(key), message, self.where(key))

    def warn(self, key: str | int, message: str) -> None:
        self.diags.warning(self.res.ref, self.name(key), message, self.where(key))

    # -- reading -----------------------------------------------------------------------------------
    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def get(self, key: str) -> Any:
        self._read.add(key)
        return self.data.get(key)

    def ignore(self, *keys: str) -> None:
        """Fields that change nothing in a rendered config (printer columns, comments...)."""
        self._read.update(keys)

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.error(key, f"expected a string, got {_type_name(value)}")
            return default
        return str(value)

    def integer(self, key: str, default: int | None = None) -> int | None:
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.isdigit():
                return int(value)
            self.error(key, f"expected an integer, got {_type_name(value)}")
            return default
        return value

    def boolean(self, key: str, default: bool | None = None) -> bool | None:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(key, f"expected true or false, got {_type_name(value)}")
            return default
        return value

    def mapping(self, key: str) -> Fields | None:
        value = self.get(key)
        if value is None:
            return None
        return Fields(self.res, value, (*self.path, key), self.diags)

    def sequence(self, key: str) -> list[Any]:
        value = self.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(key, f"expected a list, got {_type_name(value)}")
            return []
        return value

    def mappings(self, key: str) -> list[Fields]:
        return [Fields(self.res, v, (*self.path, key, i), self.diags) for i, v in enumerate(self.sequence(key))]

    def strings(self, key: str) -> list[str]:
        out = []
        for i, v in enumerate(self.sequence(key)):
            if isinstance(v, str):
                out.append(v)
            else:
                self.diags.error(self.res.ref, self.name(key) + f"[{i}]", "expected a string", self.where(key))
        return out

    def unread(self) -> list[str]:
        return [k for k in self.data if k not in self._read]

    def finish(self, reason: str = "not supported by fastgw; ignored") -> None:
        """Warn about every field of this mapping nothing read."""
        for key in self.unread():
            self.warn(key, reason)

    def reject(self, keys: Iterable[str], reason: str) -> None:
        """Fields fastgw cannot enforce and must not drop (an auth policy left out would open a
        route): each present one is an error."""
        for key in keys:
            if self.get(key) is not None:
                self.error(key, reason)


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string" if isinstance(value, str) else type(value).__name__
