"""A compiled provider target: where one ``ai`` provider lives and how its requests are shaped.

Built once per config load (``build.py``), shared read-only by every request of a worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from fastgw.backends.llm.providers import ProviderSpec, upstream_path
from fastgw.backends.llm.route_plan import RoutePlan, route_plan
from fastgw.backends.llm.routes import RouteTable, RouteType
from fastgw.backends.llm.translate.edits import (
    ModelAliases,
    apply_defaults,
    apply_overrides,
    apply_prompts,
)
from fastgw.backends.scrub import secret_forms
from fastgw.errors import Dialect
from fastgw.upstream.origin import Origin

# The part of each provider's paths that `pathPrefix` replaces.
_BASE_PATHS: Final[Mapping[str, str]] = MappingProxyType(
    {"openAI": "/v1", "anthropic": "/v1", "gemini": "/v1beta/openai", "azureOpenAI": "/openai/v1", "custom": "/v1"}
)


@dataclass(frozen=True, slots=True)
class Shaping:
    """``policies.ai`` body edits: model aliases, defaults, overrides, prompts (config order of agentgateway)."""

    aliases: ModelAliases | None = None
    defaults: Mapping[str, Any] | None = None
    overrides: Mapping[str, Any] | None = None
    prepend: tuple[Mapping[str, Any], ...] = ()
    append: tuple[Mapping[str, Any], ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.aliases or self.defaults or self.overrides or self.prepend or self.append)

    def apply(self, body: dict[str, Any], dialect: Dialect, chat: bool) -> None:
        """Edit a decoded client body in place (prompts only on chat routes)."""
        if self.defaults:
            apply_defaults(body, self.defaults)
        if self.overrides:
            apply_overrides(body, self.overrides)
        if self.aliases is not None:
            self.aliases.apply(body)
        if chat and (self.prepend or self.append):
            apply_prompts(body, dialect, self.prepend, self.append)


NO_SHAPING: Final = Shaping()


@dataclass(frozen=True, slots=True)
class Target:
    """One provider endpoint with its credential, route table and request shaping."""

    name: str
    spec: ProviderSpec
    origin: Origin
    host_header: bytes
    model: str | None
    #: (header, value) carrying the provider credential; None sends no credential
    auth: tuple[bytes, bytes] | None
    routes: RouteTable
    path_override: bytes | None = None
    path_prefix: str | None = None
    shaping: Shaping = NO_SHAPING
    #: count prompt tokens locally before sending, so token rate limits reserve them up front
    tokenize: bool = False
    #: derived: the access log's endpoint, whether request bodies are always edited, and the plan
    #: (dialects, action, upstream path, log fields) per route type
    endpoint: str = field(init=False)
    edits: bool = field(init=False)
    plans: Mapping[RouteType, RoutePlan] = field(init=False)
    #: the request head's provider fields: the credential (a list, for the native head writer),
    #: and the provider's defaults (e.g. anthropic-version), sent unless the client's request has them
    credential: list[tuple[bytes, bytes]] = field(init=False)
    default_fields: list[tuple[bytes, bytes]] = field(init=False)
    #: the forms of the credential scrubbed from the provider's error answers
    secrets: tuple[bytes, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "endpoint", self.origin.authority)
        object.__setattr__(self, "edits", self.shaping.active)
        object.__setattr__(self, "credential", [self.auth] if self.auth is not None else [])
        object.__setattr__(self, "secrets", secret_forms(self.auth[1]) if self.auth is not None else ())
        object.__setattr__(self, "default_fields", list(self.spec.extra_headers))
        plans = {}
        for route_type in RouteType:
            path = upstream_path(self.spec, route_type)
            if self.path_override is not None:
                encoded: bytes | None = self.path_override
            else:
                encoded = self._rebase(path).encode() if path is not None else None
            plans[route_type] = route_plan(self.spec, route_type, encoded)
        object.__setattr__(self, "plans", MappingProxyType(plans))

    def _rebase(self, path: str) -> str:
        if self.path_prefix is not None:
            base = _BASE_PATHS.get(self.spec.key, "")
            if base and path.startswith(base):
                return self.path_prefix.rstrip("/") + path[len(base) :]
        return path

    def path_for(self, route_type: RouteType, client_path: bytes) -> bytes:
        """The upstream path: pathOverride, else the provider's path (re-based by pathPrefix), else the client's."""
        path = self.plans[route_type].path
        return client_path if path is None else path
