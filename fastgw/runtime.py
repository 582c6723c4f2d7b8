"""The compiled, immutable form of a config. Built once per (re)load in the supervisor, inherited
by the workers it forks; holds no sockets, threads or other per-process resources."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from fastgw.http.forwarded import DEFAULT as DEFAULT_FORWARDED
from fastgw.http.forwarded import ForwardedRule
from fastgw.http.headers import Headers
from fastgw.http.limits import HttpLimits
from fastgw.native import BucketTable
from fastgw.routing import BindRoutes
from fastgw.telemetry.metrics import LabelLimits
from fastgw.tokens.tokenizer import Tokenizer
from fastgw.upstream.limits import PoolLimits

if TYPE_CHECKING:
    from fastgw.cel import Expression
    from fastgw.context import RequestContext
    from fastgw.policies.retry import RetryWhen
    from fastgw.redis_limits.vkeys import VirtualKeyStore
    from fastgw.telemetry.fields import CelFields
    from fastgw.telemetry.tracing import TraceSettings


class Backend(Protocol):
    """What a route sends its requests to. A backend ends a request only through the context's
    completion contract (`RequestContext.complete/fail/abandon/continue_as_task`; ARCHITECTURE.md,
    "Who ends a request"): on the task path `serve` returns (or raises a GatewayError) and the
    pipeline completes; on the fast path the exchange's callbacks complete it themselves."""

    @property
    def name(self) -> str: ...

    async def serve(self, ctx: RequestContext) -> None:
        """One try, as the request's task: answer through ctx.writer, or raise a GatewayError
        (before the head: rendered; retryable ones are tried again by the route's retry policy).
        A try that must not reach the client (a status the route retries) sets `ctx.held`."""
        ...

    def start_fast(self, ctx: RequestContext) -> bool:
        """Start the request without a task (an idle upstream connection is ready and nothing
        needs awaiting) and let the exchange's callbacks end it; False (having done nothing) when
        the request must take the task path instead."""
        ...


class RequestPolicy(Protocol):
    """A request-phase policy. Returns None when done, or an awaitable to wait for."""

    @property
    def name(self) -> str: ...

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None: ...


HeaderEdit = Callable[[Headers], Headers]


@dataclass(frozen=True, slots=True)
class RetrySpec:
    attempts: int  # retries after the first try (agentgateway meaning)
    codes: frozenset[int]
    backoff: float = 0.0
    #: CEL on the request (false: tried once), and a check of CEL `condition` on an answer
    precondition: Expression | None = None
    when: RetryWhen | None = None


@dataclass(frozen=True, slots=True)
class RouteRuntime:
    name: str
    rule: str
    listener: str
    gateway: str
    policies: tuple[RequestPolicy, ...]
    backends: tuple[Backend, ...]
    weights: tuple[float, ...] = ()
    response_modifier: HeaderEdit | None = None
    request_modifier: HeaderEdit | None = None
    request_timeout: float | None = None
    backend_timeout: float | None = None
    retry: RetrySpec | None = None
    #: the listener's X-Forwarded-* rule (None when it changes nothing)
    forwarded: ForwardedRule | None = DEFAULT_FORWARDED
    #: the forms of the backendAuth credential (`host:` backends), scrubbed from error answers
    secrets: tuple[bytes, ...] = ()
    #: whether a request may be served on callbacks alone (nothing to await around it)
    fast: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fast", self.retry is None and self.request_timeout is None)

    def pick(self) -> Backend | None:
        backends = self.backends
        if len(backends) == 1:
            return backends[0]
        if not backends:
            return None
        return random.choices(backends, cum_weights=self.weights)[0]


@dataclass(frozen=True, slots=True)
class BindRuntime:
    port: int
    name: str  # "bind/<port>", the gateway label in logs and metrics
    routes: BindRoutes[RouteRuntime]
    host: str = "0.0.0.0"  # the IP address listened on (`binds[].address`)


@dataclass(frozen=True, slots=True)
class Addresses:
    admin: str | None = "127.0.0.1:15000"
    stats: str | None = "0.0.0.0:15020"
    readiness: str | None = "0.0.0.0:15021"


@dataclass(frozen=True, slots=True)
class LogSettings:
    level: str = "info"
    format: str = "text"
    access_log: bool = True
    #: `config.logging` / `frontendPolicies.accessLog`: which requests are logged, fields added
    #: (CEL) and removed
    filter: Expression | None = None
    fields: CelFields | None = None
    remove: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Runtime:
    binds: tuple[BindRuntime, ...]
    limits: HttpLimits = field(default_factory=HttpLimits)
    pool: PoolLimits = field(default_factory=PoolLimits)
    addresses: Addresses = field(default_factory=Addresses)
    log: LogSettings = field(default_factory=LogSettings)
    drain_timeout: float = 30.0
    tokenizer: Tokenizer = field(default_factory=Tokenizer)
    #: `config.workerThreads` resolved to a process count (None: the CLI decides)
    workers: int | None = None
    source: str = "<config>"
    dump: dict[str, object] = field(default_factory=dict)
    #: the instance's shared rate-limit buckets (workers sweep it; None: no table)
    buckets: BucketTable | None = None
    metric_labels: LabelLimits = field(default_factory=LabelLimits)
    #: `config.metrics.fields.add`: extra labels on the request, LLM and MCP families
    metric_fields: CelFields | None = None
    #: `config.metrics.remove`: families not exported
    metric_remove: frozenset[str] = frozenset()
    #: `config.tracing` / `frontendPolicies.tracing` (None: tracing off)
    tracing: TraceSettings | None = None
    #: `config.virtualKeys`: where keys created at run time live (the admin API's `/keys`)
    virtual_keys: VirtualKeyStore | None = None

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(b.port for b in self.binds)
