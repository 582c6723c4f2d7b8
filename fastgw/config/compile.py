"""schema.Config -> Runtime: the route table, per-route policy chains, backends and limits.

Runs in the supervisor (at start and on every reload) and does no network I/O. A policy that
fastgw parses but does not enforce yet is a compile error, never silently ignored: a gateway
that drops an auth policy it cannot run must not start.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import fastgw.config.schema as schema
from fastgw.backends.balanced import BalancedHttp
from fastgw.backends.http import HttpBackend
from fastgw.backends.llm.backend import AiBackend
from fastgw.backends.llm.build import binds_target, check_backend_policies, llm_target
from fastgw.backends.llm.failover import FailoverAi
from fastgw.backends.llm.router import LlmRouter, ModelPattern
from fastgw.backends.llm.target import Target
from fastgw.backends.mcp.build import build_mcp, mcp_rules, session_codec
from fastgw.backends.mcp.session import SessionCodec
from fastgw.backends.scrub import secret_forms
from fastgw.balance.build import health_rule
from fastgw.balance.select import Balancer, Endpoint
from fastgw.balance.table import HealthTable, SharedHealth
from fastgw.config import compile_telemetry
from fastgw.config.dump import redacted_dump
from fastgw.config.errors import ConfigError, Path
from fastgw.config.load import LoadedConfig, load
from fastgw.config.schema_base import listen_addr_problem
from fastgw.config.schema_process import LocalRateLimitTable
from fastgw.config.support import not_covered, unsupported_settings
from fastgw.config.upstream import backend_key, split_host_port
from fastgw.config.upstream import origin as upstream_origin
from fastgw.http.forwarded import DEFAULT as DEFAULT_FORWARDED
from fastgw.http.forwarded import ForwardedRule
from fastgw.http.headers import Headers
from fastgw.http.limits import HttpLimits
from fastgw.native import BucketTable
from fastgw.policies.headers import build_modifier, chain
from fastgw.policies.key_budgets import KeyServices
from fastgw.policies.kind import Site
from fastgw.policies.layers import ListenerLayer, request_policies
from fastgw.policies.ratelimit_local import SharedBuckets
from fastgw.policies.retry import condition_check
from fastgw.policies.transformations import compile_expression
from fastgw.policies.virtual_keys import virtual_key_store
from fastgw.redis_limits.prices import PriceTable
from fastgw.routing import (
    EXACT,
    PREFIX,
    REGEX,
    BindRoutes,
    Entry,
    HostPattern,
    ListenerRoutes,
    Match,
    StringMatcher,
)
from fastgw.runtime import (
    Addresses,
    Backend,
    BindRuntime,
    HeaderEdit,
    RetrySpec,
    RouteRuntime,
    Runtime,
)
from fastgw.telemetry.metrics import LabelLimits
from fastgw.tokens.tokenizer import Tokenizer
from fastgw.upstream.limits import PoolLimits


class CompileError(Exception):
    """Errors as "key.path: message" lines; `located()` turns them into ConfigErrors with lines."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors

    def located(self, loaded: LoadedConfig) -> ConfigError:
        issues = []
        for e in self.errors:
            path, _, message = e.partition(": ")
            issues.append(loaded.source.issue_at(path, message))
        return ConfigError(issues)


def load_runtime(
    source: str, text: str | None = None, buckets: SharedBuckets | None = None, health: SharedHealth | None = None
) -> Runtime:
    """Load, validate and compile a config file; every problem is a ConfigError with file:line."""
    loaded = load(source, text=text)
    try:
        return compile_config(loaded.config, loaded.source.file, buckets, from_env=loaded.source.secret, health=health)
    except CompileError as exc:
        raise exc.located(loaded) from None


def compile_config(
    cfg: schema.Config,
    source: str = "<config>",
    buckets: SharedBuckets | None = None,
    *,
    from_env: Collection[Path] = (),
    health: SharedHealth | None = None,
) -> Runtime:
    """`buckets` holds the shared-memory table the supervisor makes on its first load, before it
    forks (a private one is made for validation); `from_env` are the key paths whose values came
    from environment variables (redacted in the dump whatever their field); `health` holds the
    shared provider-health table, made the same way."""
    errors: list[str] = []
    if not cfg.binds and cfg.llm is None and cfg.mcp is None:
        # valid YAML that would start a gateway listening on nothing (an empty file, a typo'd top key)
        errors.append("binds: nothing to serve: the config has no binds, no llm: block and no mcp: block")
    # Keys the schema marks as not implemented yet (the data the docs' support table shows).
    unsupported = unsupported_settings(cfg)
    proc = cfg.config
    table_spec = proc.local_rate_limit if proc is not None else LocalRateLimitTable()
    table = (buckets or SharedBuckets()).get(table_spec.max_buckets)
    virtual_keys = virtual_key_store(proc.virtual_keys) if proc is not None and proc.virtual_keys else None
    prices = virtual_keys.prices if virtual_keys is not None else PriceTable()
    ctx = _Compile(
        table,
        table_spec.failure_mode == "failOpen",
        errors,
        KeyServices(table, prices, virtual_keys),
        session_codec(proc, errors),
        (health or SharedHealth()).get(),
    )
    binds = tuple(_bind(b, i, ctx) for i, b in enumerate(cfg.binds))
    llm = cfg.llm
    if llm is not None:
        binds += (_llm_bind(llm, {b.port for b in binds}, ctx),)
    if cfg.mcp is not None:
        binds += (_mcp_bind(cfg.mcp, ctx),)
    tokenizer = _tokenizer(cfg.config, errors)
    log_settings = compile_telemetry.log_settings(cfg, errors)
    metric_fields = compile_telemetry.metric_fields(cfg, errors)
    tracing = compile_telemetry.trace_settings(cfg, errors)
    _check_listen_addrs(cfg.config, binds, errors)
    _partly_supported(cfg, errors)
    errors = unsupported + not_covered(errors, unsupported)
    if errors:
        raise CompileError(errors)
    return Runtime(
        binds=binds,
        limits=_limits(cfg),
        pool=_pool_limits(cfg.config),
        addresses=_addresses(proc),
        log=log_settings,
        drain_timeout=cfg.http_limits().drain_timeout,
        tokenizer=tokenizer,
        workers=_workers(cfg.config),
        source=source,
        dump=redacted_dump(cfg, from_env),
        buckets=table,
        metric_labels=_metric_labels(proc),
        metric_fields=metric_fields,
        metric_remove=compile_telemetry.metric_remove(cfg),
        tracing=tracing,
        virtual_keys=virtual_keys,
    )


def _partly_supported(cfg: schema.Config, errors: list[str]) -> None:
    """The values beyond a key's PARTLY_SUPPORTED limit (the schema states each limit)."""
    proc = cfg.config
    if proc is not None and proc.enable_ipv6:
        errors.append("config.enableIpv6: not supported yet: enableIpv6 true (binds listen on IPv4)")
    if proc is not None and proc.histograms not in (None, "classic"):
        errors.append(f"config.histograms: not supported yet: {proc.histograms} histograms (classic only)")


#: a policy block an ai backend inherits from (its own `policies`, then its route's)
_Layer = schema.BackendPolicies | schema.RoutePolicies | None


@dataclass
class _Compile:
    buckets: BucketTable
    fail_open: bool  # config.localRateLimit.failureMode
    errors: list[str]
    keys: KeyServices
    mcp_sessions: SessionCodec
    health: HealthTable
    #: the health slots this config uses (a full table reuses the others)
    health_slots: set[int] = field(default_factory=set)


def _workers(proc: schema.ProcessConfig | None) -> int | None:
    """`workerThreads`: a number, "N%" of the CPUs, or "auto"."""
    value = proc.worker_threads if proc is not None else None
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = value.strip()
    cpus = os.cpu_count() or 1
    if text == "auto":
        return cpus
    if text.endswith("%"):
        return max(1, cpus * int(text[:-1]) // 100)
    return int(text)


def _tokenizer(proc: schema.ProcessConfig | None, errors: list[str]) -> Tokenizer:
    spec = proc.tokenizer if proc is not None else None
    if spec is None or spec.vocabulary is None:
        return Tokenizer()
    try:
        return Tokenizer.load(spec.vocabulary, spec.encoding)
    except (OSError, ValueError) as exc:
        errors.append(f"config.tokenizer.vocabulary: cannot load {spec.vocabulary!r}: {exc}")
        return Tokenizer()


def _metric_labels(proc: schema.ProcessConfig | None) -> LabelLimits:
    metrics = proc.metrics if proc is not None else None
    if metrics is None:
        return LabelLimits()
    return LabelLimits(max_values=metrics.max_label_values, max_bytes=metrics.max_label_bytes)


def _pool_limits(proc: schema.ProcessConfig | None) -> PoolLimits:
    base = PoolLimits()
    pool = proc.backend if proc is not None else None
    if pool is None:
        return base
    per_origin = pool.max_connections_per_origin
    return PoolLimits(
        max_connections=max(base.max_connections, per_origin),
        max_per_origin=per_origin,
        max_idle_per_origin=per_origin if pool.pool_max_size is None else pool.pool_max_size,
        idle_timeout=pool.pool_idle_timeout,
        connect_timeout=pool.connect_timeout,
        max_pending_per_origin=pool.max_pending_per_origin,
        first_byte_timeout=pool.first_byte_timeout,
        max_head_bytes=pool.max_response_header_bytes,
        max_buffered_body=pool.max_buffered_body_bytes,
    )


# -- binds, listeners, routes ------------------------------------------------------------------
def _bind(bind: schema.Bind, index: int, cc: _Compile) -> BindRuntime:
    listeners = []
    for li, lst in enumerate(bind.listeners):
        lname = lst.name or f"listener{li}"
        fwd = lst.forwarded_headers
        rule = ForwardedRule(fwd.add, fwd.trust) if fwd is not None else DEFAULT_FORWARDED
        lpath = f"binds[{index}].listeners[{li}]"
        layer = None
        if lst.policies is not None:
            layer = ListenerLayer(lst.policies, f"{lpath}.policies", cc.errors, cc.keys)
        entries: list[Entry[RouteRuntime]] = []
        for ri, route in enumerate(lst.routes):
            path = f"binds[{index}].listeners[{li}].routes[{ri}]"
            rt = _route(route, ri, lname, f"bind/{bind.port}", path, cc, rule if rule.acts else None, layer)
            hosts = tuple(HostPattern.parse(h) for h in route.hostnames)
            if not route.matches:
                entries.append(Entry(rt, hosts, Match()))
            for m in route.matches:
                entries.append(Entry(rt, hosts, _match(m)))
        listeners.append(ListenerRoutes(HostPattern.parse(lst.hostname), entries))
    # one spelling per address (`::0` is `::`): the supervisor keys its sockets by it
    host = ipaddress.ip_address(bind.address).compressed if bind.address is not None else "0.0.0.0"
    return BindRuntime(port=bind.port, name=f"bind/{bind.port}", routes=BindRoutes(listeners), host=host)


def _match(m: schema.RouteMatch) -> Match:
    kind, value, rx = PREFIX, b"/", None
    if m.path is not None:
        if m.path.exact is not None:
            kind, value = EXACT, m.path.exact.encode()
        elif m.path.path_prefix is not None:
            kind, value = PREFIX, (m.path.path_prefix or "/").encode()
        elif m.path.regex is not None:
            kind, rx = REGEX, re.compile(m.path.regex.encode())
    headers = tuple((h.name.lower().encode(), _string_matcher(h.value)) for h in (m.headers or []))
    query = tuple((q.name, _string_matcher(q.value)) for q in (m.query or []))
    method = m.method.upper().encode() if m.method else None
    return Match(path_kind=kind, path=value, path_regex=rx, method=method, headers=headers, query=query)


def _string_matcher(v: schema.StringMatch) -> StringMatcher:
    if v.exact is not None:
        return StringMatcher(exact=v.exact.encode())
    assert v.regex is not None  # the schema's ONE_OF
    return StringMatcher(regex=re.compile(v.regex.encode()))


def _route(
    route: schema.Route,
    index: int,
    listener: str,
    gateway: str,
    path: str,
    cc: _Compile,
    forwarded: ForwardedRule | None = DEFAULT_FORWARDED,
    layer: ListenerLayer | None = None,
) -> RouteRuntime:
    errors = cc.errors
    name = route.name or f"route{index}"
    pol = route.policies
    llm = any(b.ai is not None for b in route.backends or [])
    passthrough = pol is not None and pol.backend_auth is not None and pol.backend_auth.passthrough is not None
    site = Site(
        f"{path}.policies",
        errors,
        llm=llm,
        passthrough=passthrough,
        identity=f"{gateway}/{listener}/{name}",
        buckets=cc.buckets,
        fail_open=cc.fail_open,
        keys=cc.keys,
        mcp=any(b.mcp is not None for b in route.backends or []),
    )
    policies = request_policies(pol, site, layer)
    req_mod: HeaderEdit | None = None
    resp_mod: HeaderEdit | None = None
    request_timeout = backend_timeout = None
    retry = None
    secrets: tuple[bytes, ...] = ()
    if pol is not None:
        if pol.request_header_modifier is not None:
            m = pol.request_header_modifier
            req_mod = build_modifier(m.add, m.set, m.remove)
        if pol.response_header_modifier is not None:
            m = pol.response_header_modifier
            resp_mod = build_modifier(m.add, m.set, m.remove)
        if pol.timeout is not None:
            request_timeout = pol.timeout.request_timeout
            backend_timeout = pol.timeout.backend_request_timeout
        if pol.retry is not None:
            r = pol.retry
            rpath = f"{path}.policies.retry"
            pre = compile_expression(r.precondition, f"{rpath}.precondition", errors) if r.precondition else None
            cond = compile_expression(r.condition, f"{rpath}.condition", errors) if r.condition else None
            retry = RetrySpec(
                attempts=r.attempts,
                codes=frozenset(r.codes),
                backoff=r.backoff or 0.0,
                precondition=pre,
                when=condition_check(cond) if cond is not None else None,
            )
        has_ai = any(b.ai is not None for b in route.backends or [])
        if pol.ai is not None and not has_ai:
            errors.append(f"{path}.policies.ai: only applies to routes with ai backends")
        # ai backends send the key in their provider's own header (backends/llm/build.py)
        if pol.backend_auth is not None and not has_ai:
            auth, secrets = _backend_auth(pol.backend_auth, f"{path}.policies.backendAuth", errors)
            req_mod = chain(req_mod, auth)
    backends: list[Backend] = []
    weights: list[float] = []
    has_mcp = any(b.mcp is not None for b in route.backends or [])
    if pol is not None and pol.mcp_authorization is not None and not has_mcp:
        errors.append(f"{path}.policies.mcpAuthorization: only applies to routes with mcp backends")
    for bi, b in enumerate(route.backends or []):
        if b.mcp is not None:
            rules = mcp_rules(pol, f"{path}.policies", errors)
            mcp = build_mcp(b.mcp, "mcp", f"{path}.backends[{bi}].mcp", errors, cc.mcp_sessions, rules)
            if mcp is not None:
                backends.append(mcp)
                weights.append(float(b.weight if b.weight is not None else 1))
            continue
        be = _backend(b, pol, f"{path}.backends[{bi}]", cc)
        if be is not None:
            backends.append(be)
            weights.append(float(b.weight if b.weight is not None else 1))
    if any(
        b.host is not None and b.policies is not None and b.policies.health is not None for b in route.backends or []
    ):
        balanced = _balanced_hosts(route.backends, backends, weights, path, cc)
        if balanced is not None:
            backends, weights = [balanced], [1.0]
    return RouteRuntime(
        name=name,
        rule=f"{name}/default",
        listener=listener,
        gateway=gateway,
        policies=policies,
        backends=tuple(backends),
        weights=tuple(accumulate(weights)),
        request_modifier=req_mod,
        response_modifier=resp_mod,
        request_timeout=request_timeout,
        backend_timeout=backend_timeout,
        retry=retry,
        forwarded=forwarded,
        secrets=secrets,
    )


def _slot(cc: _Compile, identity: str, path: str) -> int | None:
    """The endpoint's slot in the shared health table, or None with an error (the table is full)."""
    try:
        return cc.health.slot_for(identity, cc.health_slots)
    except ValueError as exc:
        cc.errors.append(f"{path}: {exc}")
        return None


def _balanced_hosts(
    specs: list[Any], backends: list[Backend], weights: list[float], path: str, cc: _Compile
) -> Backend | None:
    """A route's host backends, one of them with a `health` policy: one weighted tier on a
    balancer (each backend with its rule; the default rule for the others)."""
    if len(specs) != len(backends) or not all(isinstance(b, HttpBackend) for b in backends):
        cc.errors.append(f"{path}.backends: not supported yet: health on host backends mixed with other backend kinds")
        return None
    tier: list[Endpoint[HttpBackend]] = []
    for bi, (spec, be, weight) in enumerate(zip(specs, backends, weights, strict=True)):
        assert isinstance(be, HttpBackend)
        hpath = f"{path}.backends[{bi}].policies.health"
        rule = health_rule(spec.policies.health if spec.policies is not None else None, hpath, cc.errors)
        base = _slot(cc, f"{path}.backends[{bi}]/{be.origin.authority}", f"{path}.backends[{bi}]")
        if base is None:
            return None
        tier.append(Endpoint(be.name, be, base, weight, rule))
    return BalancedHttp(name=tier[0].name, balancer=Balancer([tier], cc.health))


_CLIENT_CREDENTIALS = frozenset({b"authorization", b"x-api-key", b"api-key"})


def _backend_auth(
    auth: schema.BackendAuth, path: str, errors: list[str]
) -> tuple[HeaderEdit | None, tuple[bytes, ...]]:
    """Inject the backend credential; whatever credential the client sent is never forwarded.
    Also: the forms of the credential to scrub from error answers."""
    if auth.passthrough is not None and auth.key is None:
        return None, ()  # the client's validated token goes upstream as it came (jwtAuth keeps it)
    key = backend_key(auth, path, errors)
    if key is None:
        errors.append(f"{path}: not supported yet: backendAuth other than `key`")
        return None, ()
    header, prefix = b"authorization", b"Bearer "
    if key.header is not None:
        header, prefix = key.header.name.lower().encode(), (key.header.prefix or "").encode()
    value = prefix + key.text.encode()
    pair = [(header, value)]

    def edit(headers: Headers) -> Headers:
        return [(n, v) for n, v in headers if n not in _CLIENT_CREDENTIALS and n != header] + pair

    return edit, secret_forms(value)


# -- backends ------------------------------------------------------------------------------------
def _backend(b: schema.RouteBackend, route_pol: schema.RoutePolicies | None, path: str, cc: _Compile) -> Backend | None:
    errors = cc.errors
    if b.host is not None:
        for key, value in (
            ("backendAuth", b.policies and b.policies.backend_auth),
            ("ai", b.policies and b.policies.ai),
        ):
            if value is not None:
                errors.append(
                    f"{path}.policies.{key}: not supported yet: {key} on a host backend (set it on the route)"
                )
        host, port = split_host_port(b.host)
        tls = b.policies.backend_tls if b.policies is not None else None
        if tls is None and route_pol is not None:
            tls = route_pol.backend_tls
        origin = upstream_origin(host, port, tls)
        return HttpBackend(name=b.host, origin=origin, host_header=origin.authority.encode())
    if b.ai is not None:
        check_backend_policies(b.policies, f"{path}.policies", errors)
        return _ai_backend(b.ai, [b.policies, route_pol], f"{path}.ai", cc)
    kind = "mcp" if b.mcp is not None else "backend"
    errors.append(f"{path}.{kind}: not supported yet: {kind} backends")
    return None


def _ai_backend(ai: schema.AiBackend, layers: list[_Layer], path: str, cc: _Compile) -> Backend | None:
    """One provider (the callback fast path), or `groups`: priority tiers of providers with
    failover and load balancing (`backends/llm/failover.py`)."""
    errors = cc.errors
    own = layers[0]  # the route backend's policies (a health policy there covers every provider)
    outer = own.health if isinstance(own, schema.BackendPolicies) else None
    entries: list[schema.AiBackend | schema.AiGroupProvider] = (
        [p for g in ai.groups for p in g.providers] if ai.groups else [ai]
    )
    if len(entries) == 1 and outer is None and entries[0].effective_policies().health is None:
        # one provider: nothing to choose, nothing to evict (and the callback fast path)
        where = f"{path}.groups[0].providers[0]" if ai.groups else path
        target = binds_target(entries[0], layers, where, errors)
        return AiBackend(name=target.name, target=target) if target is not None else None
    groups: list[tuple[str, list[schema.AiBackend | schema.AiGroupProvider]]] = (
        [(f"{path}.groups[{gi}]", list(g.providers)) for gi, g in enumerate(ai.groups)] if ai.groups else [(path, [ai])]
    )
    tiers: list[list[Endpoint[Target]]] = []
    for gpath, entries in groups:
        tier: list[Endpoint[Target]] = []
        for pi, entry in enumerate(entries):
            epath = f"{gpath}.providers[{pi}]" if ai.groups else gpath
            target = binds_target(entry, layers, epath, errors)
            if target is None:
                continue
            spec = entry.effective_policies().health or outer
            rule = health_rule(spec, f"{epath}.policies.health", errors)
            offset = _slot(cc, f"{epath}/{target.name}/{target.origin.authority}", epath)
            if offset is None:
                continue
            tier.append(Endpoint(target.name, target, offset, 1.0, rule))
        tiers.append(tier)
    if not any(tiers):
        return None
    first = next(ep for tier in tiers for ep in tier)
    return FailoverAi(name=first.name, balancer=Balancer(tiers, cc.health))


def _llm_bind(llm: schema.LlmConfig, taken: set[int], cc: _Compile) -> BindRuntime:
    """The `llm:` block: one port, one route, the model router as its backend."""
    errors = cc.errors
    if llm.port in taken:
        errors.append(f"llm.port: port {llm.port} is also used by binds")
    shared = {p.name: p for p in llm.providers}
    models = []
    rules = {}
    for i, model in enumerate(llm.models):
        target = llm_target(model, shared, f"llm.models[{i}]", errors)
        if target is not None:
            models.append((model.name, target))
            base = shared.get(getattr(model.provider, "reference", None) or "")
            spec = model.health or (base.defaults.health if base is not None and base.defaults is not None else None)
            rules[model.name] = health_rule(spec, f"llm.models[{i}].health", errors)
    internal = frozenset(m.name for m in llm.models if m.visibility == "internal")
    virtual = {}
    conditional = {}
    for i, vm in enumerate(llm.virtual_models):
        path = f"llm.virtualModels[{i}]"
        if vm.routing.conditional is not None:
            choices = _conditional_model(vm.routing.conditional, models, f"{path}.routing.conditional", errors)
            if choices:
                conditional[vm.name] = choices
            continue
        balancer = _virtual_model(vm, models, rules, path, cc)
        if balancer is not None:
            virtual[vm.name] = balancer
    router = LlmRouter(models, int(time.time()), virtual, internal, conditional)
    route = RouteRuntime(
        name="llm",
        rule="llm/default",
        listener="llm",
        gateway=f"bind/{llm.port}",
        policies=(),
        backends=(router,),
    )
    listener = ListenerRoutes(HostPattern.parse(None), [Entry(route, (), Match())])
    return BindRuntime(port=llm.port, name=f"bind/{llm.port}", routes=BindRoutes([listener]))


def _conditional_model(
    spec: Any, models: list[tuple[str, Target]], path: str, errors: list[str]
) -> tuple[tuple[Any, Target], ...]:
    """`conditional` targets in order: a CEL `when` over `llmRequest` each, the last may have none."""
    out = []
    targets = spec.targets
    for j, t in enumerate(targets):
        found = next((target for name, target in models if ModelPattern(name).matches(t.model)), None)
        if found is None:
            errors.append(f"{path}.targets[{j}].model: no llm.models[] entry serves {t.model!r}")
            continue
        if found.model is None:
            found = dataclasses.replace(found, model=t.model)
        when = None
        if t.when is not None:
            when = compile_expression(t.when, f"{path}.targets[{j}].when", errors)
        elif j != len(targets) - 1:
            errors.append(f"{path}.targets[{j}].when: only the last target may omit `when`")
        out.append((when, found))
    return tuple(out)


def _virtual_model(
    vm: Any, models: list[tuple[str, Target]], rules: dict[str, Any], path: str, cc: _Compile
) -> Balancer[Target] | None:
    """`failover` targets become tiers by priority (lowest first), `weighted` ones one tier."""
    routing = vm.routing
    if routing.failover is not None:
        picks = [(t.model, t.priority, 1.0) for t in routing.failover.targets]
    else:
        picks = [(t.model, 0, float(t.weight)) for t in routing.weighted.targets]
    tiers: dict[int, list[Endpoint[Target]]] = {}
    for j, (model, priority, weight) in enumerate(picks):
        found = next(((name, t) for name, t in models if ModelPattern(name).matches(model)), None)
        if found is None:
            cc.errors.append(f"{path}.routing.targets[{j}].model: no llm.models[] entry serves {model!r}")
            continue
        name, target = found
        if target.model is None:  # (a pattern entry: the target names the model to send)
            target = dataclasses.replace(target, model=model)
        if weight <= 0:
            cc.errors.append(f"{path}.routing.targets[{j}].weight: must be positive")
            continue
        offset = _slot(cc, f"llm/{vm.name}/{j}/{model}/{target.origin.authority}", f"{path}.routing")
        if offset is None:
            return None
        tiers.setdefault(priority, []).append(Endpoint(model, target, offset, weight, rules[name]))
    if not tiers:
        return None
    return Balancer([tiers[p] for p in sorted(tiers)], cc.health)


def _mcp_bind(mcp: schema.McpConfig, cc: _Compile) -> BindRuntime:
    """The `mcp:` block: one port, every path served by the multiplexer (`/mcp` and the others),
    behind the block's policies."""
    rules = mcp_rules(mcp.policies, "mcp.policies", cc.errors)
    backend = build_mcp(mcp, "mcp", "mcp", cc.errors, cc.mcp_sessions, rules)
    auth = mcp.policies.backend_auth if mcp.policies is not None else None
    site = Site(
        "mcp.policies",
        cc.errors,
        passthrough=auth is not None and auth.passthrough is not None,
        identity=f"bind/{mcp.port}/mcp/mcp",
        buckets=cc.buckets,
        fail_open=cc.fail_open,
        mcp=True,
    )
    route = RouteRuntime(
        name="mcp",
        rule="mcp/default",
        listener="mcp",
        gateway=f"bind/{mcp.port}",
        policies=request_policies(mcp.policies, site),
        backends=(backend,) if backend is not None else (),
    )
    listener = ListenerRoutes(HostPattern.parse(None), [Entry(route, (), Match())])
    return BindRuntime(port=mcp.port, name=f"bind/{mcp.port}", routes=BindRoutes([listener]))


# -- process-level settings ----------------------------------------------------------------------
def _limits(cfg: schema.Config) -> HttpLimits:
    spec = cfg.http_limits()
    return HttpLimits(**{name: getattr(spec, name) for name in HttpLimits.__slots__ if hasattr(spec, name)})


def _addresses(proc: schema.ProcessConfig | None) -> Addresses:
    if proc is None:
        return Addresses()
    base = Addresses()
    return Addresses(
        admin=_addr(proc.admin_addr, base.admin),
        stats=_addr(proc.stats_addr, base.stats),
        readiness=_addr(proc.readiness_addr, base.readiness),
    )


def _check_listen_addrs(proc: schema.ProcessConfig | None, binds: tuple[BindRuntime, ...], errors: list[str]) -> None:
    """The management addresses: well formed, and none where a bind or another one listens
    (the second listener would never see a connection)."""
    defaults = Addresses()
    taken = [(b.name, b.host, b.port) for b in binds]
    for key, value, default in (
        ("adminAddr", proc.admin_addr if proc is not None else None, defaults.admin),
        ("statsAddr", proc.stats_addr if proc is not None else None, defaults.stats),
        ("readinessAddr", proc.readiness_addr if proc is not None else None, defaults.readiness),
    ):
        text = _addr(value, default)
        if text is None:
            continue
        if problem := listen_addr_problem(text):
            errors.append(f"config.{key}: {problem}")
            continue
        host, _, port_text = text.rpartition(":")
        host = {"": "0.0.0.0", "localhost": "127.0.0.1"}.get(host.strip("[]"), host.strip("[]"))
        port = int(port_text)
        for what, other_host, other_port in taken:
            if port == other_port and (
                host == other_host or "0.0.0.0" in (host, other_host) or "::" in (host, other_host)
            ):
                errors.append(f"config.{key}: {text} is also where {what} listens")
        taken.append((f"config.{key}", host, port))


def _addr(value: str | None, default: str | None) -> str | None:
    if value is None:
        return default
    return None if value == "off" else value
