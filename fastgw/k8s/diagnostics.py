"""What a render found wrong or left out: errors stop it, warnings are printed beside the output.

Every diagnostic names the resource (`HTTPRoute gloo-system/claude`) and the field
(`spec.rules[0].filters[1]`), and where the manifest said it (`routes.yaml:14`), so nothing a
manifest asks for is dropped without a word.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    level: Level
    resource: str  # "HTTPRoute gloo-system/claude", or "" for the manifest set as a whole
    field: str  # "spec.rules[0].backendRefs[0]", or ""
    message: str
    where: str = ""  # "routes.yaml:14"

    def __str__(self) -> str:
        return self.text(with_level=True)

    def text(self, with_level: bool) -> str:
        parts = [p for p in (self.where, self.level if with_level else "", self.resource, self.field) if p]
        return ": ".join([*parts, self.message])


@dataclass
class Diagnostics:
    items: list[Diagnostic] = field(default_factory=list)

    def error(self, resource: str, fld: str, message: str, where: str = "") -> None:
        self._add(Diagnostic("error", resource, fld, message, where))

    def warning(self, resource: str, fld: str, message: str, where: str = "") -> None:
        self._add(Diagnostic("warning", resource, fld, message, where))

    def _add(self, d: Diagnostic) -> None:
        if d not in self.items:  # a backend used by two routes is converted twice
            self.items.append(d)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.level == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.level == "warning"]
