"""Config -> `McpBackend`: targets, their links, the session codec, authorization rules."""

from __future__ import annotations

import ssl
from functools import partial
from typing import Any

from fastgw.backends.mcp.authorize import McpRules
from fastgw.backends.mcp.backend import McpBackend, TargetSpec
from fastgw.backends.mcp.links import HttpLink, HttpSpec, Link, SseLink, StdioLink, StdioSpec
from fastgw.backends.mcp.session import INSTANCE_KEY, SessionCodec, parse_key
from fastgw.config.support import reject_unsupported
from fastgw.policies.authorization import Rules, compile_rules


def session_codec(proc: Any, errors: list[str]) -> SessionCodec:
    """`config.session.key` (or the instance's own key) and `config.mcp.sessionTtl`."""
    key = INSTANCE_KEY
    session = getattr(proc, "session", None) if proc is not None else None
    if session is not None:
        try:
            key = parse_key(str(session.key))
        except ValueError as exc:
            errors.append(f"config.session.key: {exc}")
    mcp = getattr(proc, "mcp", None) if proc is not None else None
    ttl = mcp.session_ttl if mcp is not None and mcp.session_ttl is not None else 1800.0
    return SessionCodec(key, ttl)


def build_mcp(
    spec: Any, name: str, path: str, errors: list[str], codec: SessionCodec, rules: Rules | None = None
) -> McpBackend | None:
    """An `mcp` backend (binds) or the `mcp:` block; `path` is its config path for errors."""
    targets = []
    for i, t in enumerate(spec.targets):
        target = _target(t, f"{path}.targets[{i}]", errors)
        if target is not None:
            targets.append(target)
    if not targets:
        if not spec.targets:
            errors.append(f"{path}.targets: at least one target is required")
        return None
    mode = spec.prefix_mode or "conditional"
    prefix = mode == "always" or (mode == "conditional" and len(targets) > 1)
    return McpBackend(
        name=name,
        targets=tuple(targets),
        prefix=prefix,
        fail_open=spec.failure_mode == "failOpen",
        codec=codec,
        dns_rebinding_protection=spec.dns_rebinding_protection,
        authorize=McpRules(rules) if rules else None,
        scope=path,
        stateless=spec.stateful_mode == "stateless",
    )


def mcp_rules(pol: Any, path: str, errors: list[str]) -> Rules | None:
    spec = getattr(pol, "mcp_authorization", None) if pol is not None else None
    if spec is None:
        return None
    return compile_rules(spec, f"{path}.mcpAuthorization", errors) or None


def _target(t: Any, path: str, errors: list[str]) -> TargetSpec | None:
    tools = getattr(t, "tools", None)
    include = frozenset(tools.include) if tools is not None and tools.include is not None else None
    exclude = frozenset(tools.exclude or ()) if tools is not None else frozenset()
    make: Any
    if t.stdio is not None:
        s = t.stdio
        stdio = StdioSpec(cmd=s.cmd, args=tuple(s.args), env=tuple(s.env.items()), clear_env=s.clear_env)
        make = partial(StdioLink, t.name, stdio)
    elif t.mcp is not None:
        http = _http_spec(t.mcp, t.policies, f"{path}.mcp", errors)
        if http is None:
            return None
        make = partial(HttpLink, t.name, http)
    elif t.sse is not None:
        sse = _http_spec(t.sse, t.policies, f"{path}.sse", errors, "/sse")
        if sse is None:
            return None
        make = partial(SseLink, t.name, sse)
    else:
        errors.append(f"{path}.openapi: not supported yet: openapi targets")
        return None
    return TargetSpec(name=t.name, make=make, include=include, exclude=exclude)


def _http_spec(r: Any, pol: Any, path: str, errors: list[str], default_path: str = "/mcp") -> HttpSpec | None:
    if r.backend is not None:
        errors.append(f"{path}.backend: not supported yet: targets naming a top-level backend (give host)")
        return None
    host = r.host
    if "://" in host:
        url = host
    else:
        default_port = 443 if pol is not None and pol.backend_tls is not None else 80
        scheme = "https" if default_port == 443 else "http"
        url = f"{scheme}://{host}:{r.port or default_port}{r.path or default_path}"
    headers: list[tuple[str, str]] = []
    ssl_ctx: Any = None
    if pol is not None:
        reject_unsupported(
            pol, frozenset({"backend_auth", "backend_tls"}), path.rsplit(".", 1)[0] + ".policies", errors
        )
        auth = pol.backend_auth
        if auth is not None:
            if not isinstance(auth.key, str):
                errors.append(
                    f"{path.rsplit('.', 1)[0]}.policies.backendAuth: not supported yet: other than a key string"
                )
            else:
                headers.append(("authorization", f"Bearer {auth.key}"))
        tls = pol.backend_tls
        if tls is not None:
            ssl_ctx = ssl.create_default_context(cafile=tls.root) if tls.root else ssl.create_default_context()
            if tls.cert is not None and tls.key is not None:
                ssl_ctx.load_cert_chain(tls.cert, tls.key)
            if tls.insecure or tls.insecure_host:
                ssl_ctx.check_hostname = False
            if tls.insecure:
                ssl_ctx.verify_mode = ssl.CERT_NONE
    return HttpSpec(url=url, headers=tuple(headers), ssl=ssl_ctx)


__all__ = ["Link", "build_mcp", "mcp_rules", "session_codec"]
