"""State shared by one render's converters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastgw.k8s.diagnostics import Diagnostics
from fastgw.k8s.manifests import ManifestSet
from fastgw.k8s.secrets import SecretBook

RouteBackends = list[dict[str, Any]]


@dataclass
class RenderContext:
    manifests: ManifestSet
    diags: Diagnostics
    secrets: SecretBook
    # each backend resource is converted once (its problems reported once); None = unusable
    backends: dict[tuple[str, str, str], RouteBackends | None] = field(default_factory=dict)
    policies: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)

    @classmethod
    def of(cls, manifests: ManifestSet) -> RenderContext:
        return cls(manifests, manifests.diagnostics, SecretBook(manifests))

    def error_count(self) -> int:
        return len(self.diags.errors)
