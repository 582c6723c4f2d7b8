"""What the registry knows of one request policy: its config key, where its spec sits in the
schema, how to build it, and how a route's policy meets its listener's. Each policy module
declares one `KIND`; `policies/__init__.py` lists them in the order they run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from fastgw.config.schema_policysets import ListenerPolicies, RoutePolicies
    from fastgw.native import BucketTable
    from fastgw.policies.key_budgets import KeyServices
    from fastgw.runtime import RequestPolicy

__all__ = ["PolicyKind", "Site"]

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Site:
    """Where a policy is built: its key path (`...policies.jwtAuth`), the compile's error list,
    and what the route it guards is (an LLM route answers in its client's dialect; a passthrough
    route forwards the token jwtAuth validated)."""

    path: str
    errors: list[str]
    llm: bool = False
    passthrough: bool = False
    #: "gateway/listener/route": keys state shared across reloads (rate-limit buckets)
    identity: str = ""
    #: the instance's shared rate-limit buckets (config.localRateLimit), and its failure mode
    buckets: BucketTable | None = None
    fail_open: bool = False
    #: what apiKey policies share: the bucket table, model prices, the virtual keys' Redis
    keys: KeyServices | None = None
    #: the route serves MCP (browser clients send and read the session id: cors adds it)
    mcp: bool = False

    def error(self, message: str, key: str = "") -> None:
        self.errors.append(f"{self.path}{'.' + key if key else ''}: {message}")


@dataclass(frozen=True, slots=True)
class PolicyKind(Generic[S]):
    #: the config key (`jwtAuth`), also the policy's name in logs
    name: str
    #: its spec in a route's `policies` (None: not set)
    route: Callable[[RoutePolicies], S | None]
    #: the compiled policy (None: nothing to enforce, or an error was reported at `site.path`)
    build: Callable[[S, Site], RequestPolicy | None]
    #: its spec in a listener's `policies`, when it may be set there
    listener: Callable[[ListenerPolicies], S | None] | None = None
    #: how a route's own policy meets its listener's: None, the route's replaces it (agentgateway
    #: store/policy.rs merge_with_inheritance); else the two combined (listener's first)
    combine: Callable[[RequestPolicy, RequestPolicy], RequestPolicy] | None = None
