"""schema.Config -> Runtime: the route table, per-route policy chains, backends and limits.

Runs in the supervisor (at start and on every reload) and does no network I/O. A policy that
fastgw parses but does not enforce yet is a compile error, never silently ignored: a gateway
that drops an auth policy it cannot run must not start.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import msgspec

import fastgw.config.schema as schema
from fastgw.backends.http import HttpBackend
from fastgw.backends.llm.backend import AiBackend
from fastgw.backends.llm.build import binds_target, check_backend_policies, llm_target
from fastgw.backends.llm.router import LlmRouter
from fastgw.config.errors import ConfigError
from fastgw.config.load import LoadedConfig, load
from fastgw.config.support import reject_unsupported
from fastgw.http.connection import HttpLimits
from fastgw.http.forwarded import DEFAULT as DEFAULT_FORWARDED
from fastgw.http.forwarded import ForwardedRule
from fastgw.http.headers import Headers
from fastgw.native import BucketTable, bucket_key
from fastgw.native_errors import BucketTableFull
from fastgw.policies import ORDER, api_key, authorization, basic_auth, ext_authz, jwt_auth, transformations
from fastgw.policies.cors import Cors
from fastgw.policies.direct import DirectResponse
from fastgw.policies.headers import build_modifier, chain
from fastgw.policies.layers import SUPPORTED as LISTENER_POLICIES
from fastgw.policies.layers import ListenerLayer
from fastgw.policies.ratelimit_local import Bucket, LocalRateLimit
from fastgw.policies.rewrite import UrlRewrite
from fastgw.policies.transformations import compile_expression
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
    LogSettings,
    RequestPolicy,
    RetrySpec,
    RouteRuntime,
    Runtime,
)
from fastgw.tokenizer import Tokenizer
from fastgw.upstream.pool import Origin, PoolLimits

# route-level policy keys enforced by the gateway today
_SUPPORTED_ROUTE_POLICIES = frozenset(
    {
        "cors",
        "request_header_modifier",
        "response_header_modifier",
        "url_rewrite",
        "direct_response",
        "timeout",
        "retry",
        "backend_auth",
        "backend_tls",
        "ai",
        "local_rate_limit",
        "jwt_auth",
        "api_key",
        "basic_auth",
        "authorization",
        "transformations",
        "ext_authz",
    }
)
# (`jwks`: an inline key set can hold HMAC secrets; its {url}/{file} forms are kept)
_SECRET_KEYS = frozenset({"key", "apiKey", "token", "secret", "password", "clientSecret", "value", "htpasswd", "jwks"})


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


def load_runtime(source: str, text: str | None = None, buckets: BucketTable | None = None) -> Runtime:
    """Load, validate and compile a config file; every problem is a ConfigError with file:line."""
    loaded = load(source, text=text)
    try:
        return compile_config(loaded.config, loaded.source.file, buckets)
    except CompileError as exc:
        raise exc.located(loaded) from None


def compile_config(cfg: schema.Config, source: str = "<config>", buckets: BucketTable | None = None) -> Runtime:
    """`buckets` is the shared-memory table created by the supervisor before it forks (a private
    one is made for validation)."""
    errors: list[str] = []
    ctx = _Compile(buckets if buckets is not None else BucketTable.create(1024), errors)
    binds = tuple(_bind(b, i, ctx) for i, b in enumerate(cfg.binds))
    _unsupported_blocks(cfg, errors)
    _unsupported_process(cfg, errors)
    llm = getattr(cfg, "llm", None)
    if llm is not None:
        binds += (_llm_bind(llm, {b.port for b in binds}, errors),)
    tokenizer = _tokenizer(cfg.config, errors)
    if errors:
        raise CompileError(errors)
    proc = cfg.config
    return Runtime(
        binds=binds,
        limits=_limits(cfg),
        pool=_pool_limits(cfg.config),
        addresses=_addresses(proc),
        log=_log_settings(proc),
        drain_timeout=cfg.http_limits().drain_timeout,
        tokenizer=tokenizer,
        workers=_workers(cfg.config),
        source=source,
        dump=redacted_dump(cfg),
    )


def _unsupported_blocks(cfg: schema.Config, errors: list[str]) -> None:
    if getattr(cfg, "mcp", None) is not None:
        errors.append("mcp: not supported yet: the `mcp:` block")


@dataclass
class _Compile:
    buckets: BucketTable
    errors: list[str]


def _unsupported_process(cfg: schema.Config, errors: list[str]) -> None:
    """Process and frontend settings that would change behaviour but are not implemented yet."""
    proc = cfg.config
    if proc is not None:
        if proc.tracing is not None:
            errors.append("config.tracing: not supported yet: tracing")
        if proc.metrics is not None and (proc.metrics.fields is not None or proc.metrics.remove):
            errors.append("config.metrics: not supported yet: custom metric labels and removal")
        if proc.logging is not None and (proc.logging.fields is not None or proc.logging.filter is not None):
            errors.append("config.logging: not supported yet: access-log fields and filter")
        if proc.backend is not None and proc.backend.keepalives is not None:
            errors.append("config.backend.keepalives: not supported yet: keepalives")
    reject_unsupported(cfg.frontend_policies, frozenset({"http"}), "frontendPolicies", errors)
    if cfg.policies:
        errors.append("policies: not supported yet: detached policies")
    if cfg.backends:
        errors.append("backends: not supported yet: named backends")


def _workers(proc: Any) -> int | None:
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


def _tokenizer(proc: Any, errors: list[str]) -> Tokenizer:
    spec = proc.tokenizer if proc is not None else None
    if spec is None or spec.vocabulary is None:
        return Tokenizer()
    try:
        return Tokenizer.load(spec.vocabulary, spec.encoding)
    except (OSError, ValueError) as exc:
        errors.append(f"config.tokenizer.vocabulary: cannot load {spec.vocabulary!r}: {exc}")
        return Tokenizer()


def _pool_limits(proc: Any) -> PoolLimits:
    base = PoolLimits()
    pool = proc.backend if proc is not None else None
    if pool is None:
        return base
    return PoolLimits(
        max_connections=base.max_connections,
        max_per_origin=pool.pool_max_size or base.max_per_origin,
        idle_timeout=pool.pool_idle_timeout,
        connect_timeout=pool.connect_timeout,
    )


# -- binds, listeners, routes ------------------------------------------------------------------
def _bind(bind: Any, index: int, cc: _Compile) -> BindRuntime:
    listeners = []
    for li, lst in enumerate(bind.listeners):
        lname = lst.name or f"listener{li}"
        fwd = lst.forwarded_headers
        rule = ForwardedRule(fwd.add, fwd.trust) if fwd is not None else DEFAULT_FORWARDED
        lpath = f"binds[{index}].listeners[{li}]"
        reject_unsupported(lst.policies, LISTENER_POLICIES, f"{lpath}.policies", cc.errors)
        layer = ListenerLayer(lst.policies, f"{lpath}.policies", cc.errors) if lst.policies is not None else None
        entries: list[Entry[RouteRuntime]] = []
        for ri, route in enumerate(lst.routes):
            path = f"binds[{index}].listeners[{li}].routes[{ri}]"
            rt = _route(route, ri, lname, f"bind/{bind.port}", path, cc, rule if rule.acts else None, layer)
            hosts = tuple(HostPattern.parse(h) for h in (route.hostnames or []))
            for m in route.matches or [None]:
                entries.append(Entry(rt, hosts, _match(m)))
        listeners.append(ListenerRoutes(HostPattern.parse(lst.hostname), entries))
    return BindRuntime(port=bind.port, name=f"bind/{bind.port}", routes=BindRoutes(listeners))


def _match(m: Any) -> Match:
    if m is None:
        return Match()
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


def _string_matcher(v: Any) -> StringMatcher:
    if v.exact is not None:
        return StringMatcher(exact=v.exact.encode())
    return StringMatcher(regex=re.compile(v.regex.encode()))


def _route(
    route: Any,
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
    reject_unsupported(pol, _SUPPORTED_ROUTE_POLICIES, f"{path}.policies", errors)
    llm = any(b.ai is not None for b in route.backends or [])
    policies = _request_policies(pol, cc, f"{gateway}/{listener}/{name}", f"{path}.policies", llm, layer)
    req_mod: HeaderEdit | None = None
    resp_mod: HeaderEdit | None = None
    request_timeout = backend_timeout = None
    retry = None
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
            retry = RetrySpec(attempts=r.attempts, codes=frozenset(r.codes), backoff=r.backoff or 0.0)
        has_ai = any(b.ai is not None for b in route.backends or [])
        if pol.ai is not None and not has_ai:
            errors.append(f"{path}.policies.ai: only applies to routes with ai backends")
        # ai backends send the key in their provider's own header (backends/llm/build.py)
        if pol.backend_auth is not None and not has_ai:
            req_mod = chain(req_mod, _backend_auth(pol.backend_auth, f"{path}.policies.backendAuth", errors))
    backends: list[Backend] = []
    weights: list[float] = []
    for bi, b in enumerate(route.backends or []):
        be = _backend(b, pol, f"{path}.backends[{bi}]", errors)
        if be is not None:
            backends.append(be)
            weights.append(float(b.weight if b.weight is not None else 1))
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
    )


def _request_policies(
    pol: Any, cc: _Compile, identity: str, path: str, llm: bool = False, listener: ListenerLayer | None = None
) -> tuple[RequestPolicy, ...]:
    if pol is None:
        if listener is None:
            return ()
        pol = schema.RoutePolicies()
    found: dict[str, RequestPolicy] = {}
    passthrough = pol.backend_auth is not None and pol.backend_auth.passthrough is not None
    if pol.jwt_auth is not None:
        jwt = jwt_auth.build(pol.jwt_auth, f"{path}.jwtAuth", cc.errors, llm=llm, passthrough=passthrough)
        if jwt is not None:
            found["jwtAuth"] = jwt
    if pol.basic_auth is not None:
        basic = basic_auth.build(pol.basic_auth, f"{path}.basicAuth", cc.errors, llm=llm)
        if basic is not None:
            found["basicAuth"] = basic
    if pol.api_key is not None:
        keys = api_key.build(pol.api_key, f"{path}.apiKey", cc.errors, llm=llm)
        if keys is not None:
            found["apiKey"] = keys
    if pol.ext_authz is not None:
        ext = ext_authz.build(pol.ext_authz, f"{path}.extAuthz", cc.errors, llm=llm)
        if ext is not None:
            found["extAuthz"] = ext
    rules = authorization.compile_rules(pol.authorization, f"{path}.authorization", cc.errors)
    if listener is not None:
        # the listener's policies apply where the route has none of the same kind; their
        # authorization rules accumulate with the route's (policies/layers.py)
        for name, inherited in listener.policies(llm=llm, passthrough=passthrough).items():
            found.setdefault(name, inherited)
        rules = listener.rules + rules
    authz = authorization.build([rules], llm=llm)
    if authz is not None:
        found["authorization"] = authz
    if pol.local_rate_limit:
        found["localRateLimit"] = _local_rate_limit(pol.local_rate_limit, cc, identity, f"{path}.localRateLimit")
    if pol.cors is not None:
        c = pol.cors
        found["cors"] = Cors.build(
            c.allow_origins,
            c.allow_methods,
            c.allow_headers,
            c.expose_headers,
            c.allow_credentials,
            c.max_age,
        )
    if pol.url_rewrite is not None:
        found["urlRewrite"] = _url_rewrite(pol.url_rewrite)
    if pol.direct_response is not None:
        d = pol.direct_response
        hdrs = [(k.lower().encode(), v.encode()) for k, v in d.headers.items()]
        body_expr = None
        if d.body_expression is not None:
            body_expr = compile_expression(d.body_expression, f"{path}.directResponse.bodyExpression", cc.errors)
        found["directResponse"] = DirectResponse(d.status, d.body.encode(), hdrs, body_expr)
    if pol.transformations is not None:
        found["transformations"] = transformations.build(pol.transformations, f"{path}.transformations", cc.errors)
    return tuple(found[k] for k in ORDER if k in found)


def _local_rate_limit(specs: Any, cc: _Compile, identity: str, path: str) -> LocalRateLimit:
    buckets = []
    for i, spec in enumerate(specs):
        key = bucket_key(b"localRateLimit", identity.encode(), str(i).encode())
        try:
            h = cc.buckets.bucket(key, spec.max_tokens, spec.tokens_per_fill, spec.fill_interval)
        except BucketTableFull:
            cc.errors.append(f"{path}[{i}]: too many rate-limit buckets (shared table full)")
            h = 0
        buckets.append(Bucket(handle=h, max_tokens=spec.max_tokens, tokens=spec.type == "tokens"))
    return LocalRateLimit(cc.buckets, tuple(buckets))


_CLIENT_CREDENTIALS = frozenset({b"authorization", b"x-api-key", b"api-key"})


def _backend_auth(auth: Any, path: str, errors: list[str]) -> HeaderEdit | None:
    """Inject the backend credential; whatever credential the client sent is never forwarded."""
    if auth.passthrough is not None and auth.key is None:
        return None  # the client's validated token goes upstream as it came (jwtAuth keeps it)
    if auth.key is None:
        errors.append(f"{path}: not supported yet: backendAuth other than `key`")
        return None
    key = auth.key
    header, prefix = b"authorization", b"Bearer "
    if not isinstance(key, str):
        loc = getattr(key, "location", None)
        hdr = getattr(loc, "header", None) if loc is not None else None
        if hdr is not None:
            header, prefix = hdr.name.lower().encode(), (hdr.prefix or "").encode()
        elif loc is not None:
            errors.append(f"{path}.key.location: not supported yet: non-header key locations")
        key = _secret_value(key.file if getattr(key, "file", None) else key.value, f"{path}.key", errors)
    value = prefix + key.encode()
    pair = [(header, value)]

    def edit(headers: Headers) -> Headers:
        return [(n, v) for n, v in headers if n not in _CLIENT_CREDENTIALS and n != header] + pair

    return edit


def _secret_value(v: Any, path: str, errors: list[str]) -> str:
    if isinstance(v, str):
        return v
    file = getattr(v, "file", None)
    try:
        with open(file if file is not None else v, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError as exc:
        errors.append(f"{path}: cannot read key file: {exc.strerror}")
        return ""


def _url_rewrite(u: Any) -> UrlRewrite:
    prefix = full = authority = port = None
    keep = False
    if u.path is not None:
        if u.path.full is not None:
            full = u.path.full.encode()
        elif u.path.prefix is not None:
            prefix = u.path.prefix.encode()
    a = u.authority
    if a == "none":
        keep = True
    elif a is not None and a != "auto":
        if a.full is not None:
            authority = a.full.encode()
        elif a.host is not None:
            authority = a.host.encode()
        elif a.port is not None:
            port = str(a.port).encode()
    return UrlRewrite(prefix=prefix, full=full, authority=authority, keep_authority=keep, port=port)


# -- backends ------------------------------------------------------------------------------------
def _backend(b: Any, route_pol: Any, path: str, errors: list[str]) -> Backend | None:
    if b.host is not None:
        host, port = split_host_port(b.host)
        t = _tls_spec(b.policies) or _tls_spec(route_pol)
        origin = _origin(host, port, t, f"{path}.policies.backendTLS", errors)
        return HttpBackend(name=b.host, origin=origin, host_header=origin.authority.encode())
    if b.ai is not None:
        check_backend_policies(b.policies, f"{path}.policies", errors)
        return _ai_backend(b.ai, [b.policies, route_pol], f"{path}.ai", errors)
    kind = next((k for k in ("mcp", "backend") if getattr(b, k, None) is not None), "backend")
    errors.append(f"{path}.{kind}: not supported yet: {kind} backends")
    return None


def _ai_backend(ai: Any, layers: list[Any], path: str, errors: list[str]) -> Backend | None:
    """One provider, or failover groups: every entry is checked; the first group's first serves
    (failover between groups belongs to the resilience work)."""
    if ai.groups is None:
        target = binds_target(ai, layers, path, errors)
        return AiBackend(name=target.name, target=target) if target is not None else None
    first = None
    for gi, group in enumerate(ai.groups):
        for pi, entry in enumerate(group.providers):
            target = binds_target(entry, layers, f"{path}.groups[{gi}].providers[{pi}]", errors)
            first = first or target
    return AiBackend(name=first.name, target=first) if first is not None else None


def _llm_bind(llm: Any, taken: set[int], errors: list[str]) -> BindRuntime:
    """The `llm:` block: one port, one route, the model router as its backend."""
    if llm.port in taken:
        errors.append(f"llm.port: port {llm.port} is also used by binds")
    if llm.virtual_models:
        errors.append("llm.virtualModels: not supported yet: virtualModels")
    if llm.policies is not None:
        errors.append("llm.policies: not supported yet: llm policies")
    shared = {p.name: p for p in llm.providers}
    models = []
    for i, model in enumerate(llm.models):
        target = llm_target(model, shared, f"llm.models[{i}]", errors)
        if target is not None:
            models.append((model.name, target))
    router = LlmRouter(models, int(time.time()))
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


def _tls_spec(pol: Any) -> Any:
    return getattr(pol, "backend_tls", None) if pol is not None else None


def _origin(host: str, port: int, tls: Any, path: str, errors: list[str]) -> Origin:
    """An upstream origin; `tls` is a backendTLS spec (None: plain HTTP)."""
    if tls is None:
        return Origin(host=host, port=port)
    for unsupported in ("alpn", "subject_alt_names"):
        if getattr(tls, unsupported, None):
            errors.append(f"{path}: not supported yet: {unsupported}")
    return Origin(
        host=host,
        port=port,
        tls=True,
        sni=tls.hostname,
        verify=not tls.insecure,
        verify_host=not tls.insecure_host,
        ca=tls.root,
        cert=tls.cert,
        key=tls.key,
    )


def split_host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


# -- process-level settings ----------------------------------------------------------------------
def _limits(cfg: schema.Config) -> HttpLimits:
    spec = cfg.http_limits()
    return HttpLimits(**{name: getattr(spec, name) for name in HttpLimits.__slots__ if hasattr(spec, name)})


def _addresses(proc: Any) -> Addresses:
    if proc is None:
        return Addresses()
    base = Addresses()
    return Addresses(
        admin=_addr(getattr(proc, "admin_addr", None), base.admin),
        stats=_addr(getattr(proc, "stats_addr", None), base.stats),
        readiness=_addr(getattr(proc, "readiness_addr", None), base.readiness),
    )


def _addr(value: str | None, default: str | None) -> str | None:
    if value is None:
        return default
    return None if value == "off" else value


def _log_settings(proc: Any) -> LogSettings:
    logging_cfg = getattr(proc, "logging", None) if proc is not None else None
    if logging_cfg is None:
        return LogSettings()
    return LogSettings(
        level=getattr(logging_cfg, "level", None) or "info",
        format=getattr(logging_cfg, "format", None) or "text",
    )


def redacted_dump(cfg: Any) -> dict[str, Any]:
    """The config as plain data with every secret replaced by "<redacted>" (for /config_dump)."""
    data = msgspec.to_builtins(cfg)
    return _redact(data) if isinstance(data, dict) else {}


def _redact(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: ("<redacted>" if k in _SECRET_KEYS and isinstance(v, str) else _redact(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_redact(v) for v in obj]
    return obj
