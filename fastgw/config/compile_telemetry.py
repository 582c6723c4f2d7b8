"""Compile the telemetry settings: the access log's filter and fields, metric labels, tracing.

`config.logging` and `frontendPolicies.accessLog` (its alias `logging`) are two spellings of the
access-log shaping; the frontend one wins where both are set, as in agentgateway's migration.
"""

from __future__ import annotations

from fastgw.cel import CelSyntaxError, Expression
from fastgw.config import schema
from fastgw.config.schema_policysets import FrontendTracing
from fastgw.runtime import LogSettings
from fastgw.telemetry.fields import CelFields
from fastgw.telemetry.tracing import TraceSettings, sampling_rule


def log_settings(cfg: schema.Config, errors: list[str]) -> LogSettings:
    proc = cfg.config
    logging_cfg = proc.logging if proc is not None else None
    level: str | list[str] = "info"
    fmt = "text"
    filter_src: str | None = None
    filter_path = ""
    add: dict[str, str] = {}
    add_path = ""
    remove: list[str] = []
    if logging_cfg is not None:
        level = logging_cfg.level or "info"
        fmt = logging_cfg.format or "text"
        if logging_cfg.filter is not None:
            filter_src, filter_path = logging_cfg.filter, "config.logging.filter"
        if logging_cfg.fields is not None:
            add, add_path = dict(logging_cfg.fields.add), "config.logging.fields.add"
            remove = list(logging_cfg.fields.remove)
    front = cfg.frontend_policies
    if front is not None:
        for key, access in (("logging", front.logging), ("accessLog", front.access_log)):
            if access is None:
                continue
            if access.filter is not None:
                filter_src, filter_path = access.filter, f"frontendPolicies.{key}.filter"
            if access.add:
                add, add_path = dict(access.add), f"frontendPolicies.{key}.add"
            if access.remove:
                remove = list(access.remove)
    flt = None
    if filter_src is not None:
        try:
            flt = Expression.compile(filter_src)
        except CelSyntaxError as exc:
            errors.append(f"{filter_path}: {exc}")
    return LogSettings(
        level=level if isinstance(level, str) else ",".join(level),  # ["info", "x=debug"] as one spec
        format=fmt,
        filter=flt,
        fields=CelFields.compile(add, add_path, errors),
        remove=frozenset(remove),
    )


def metric_fields(cfg: schema.Config, errors: list[str]) -> CelFields | None:
    proc = cfg.config
    metrics = proc.metrics if proc is not None else None
    if metrics is None or metrics.fields is None:
        return None
    fields = CelFields.compile(metrics.fields.add, "config.metrics.fields.add", errors)
    if fields is not None:
        from fastgw.telemetry.metrics import reserved_label_problem

        for name in fields.names:
            problem = reserved_label_problem(name)
            if problem:
                errors.append(f"config.metrics.fields.add.{name}: {problem}")
    return fields


def metric_remove(cfg: schema.Config) -> frozenset[str]:
    proc = cfg.config
    metrics = proc.metrics if proc is not None else None
    return frozenset(metrics.remove) if metrics is not None else frozenset()


def trace_settings(cfg: schema.Config, errors: list[str]) -> TraceSettings | None:
    """`frontendPolicies.tracing` when set, else `config.tracing` (the older spelling)."""
    front = cfg.frontend_policies.tracing if cfg.frontend_policies is not None else None
    if front is not None:
        return _frontend_tracing(front, errors)
    proc = cfg.config
    spec = proc.tracing if proc is not None else None
    if spec is None:
        return None
    where = "config.tracing"
    if not spec.otlp_endpoint:
        errors.append(f"{where}.otlpEndpoint: required to export traces")
        return None
    fields: dict[str, str] = dict(spec.fields.add) if spec.fields is not None else {}
    remove = frozenset(spec.fields.remove) if spec.fields is not None else frozenset()
    return _settings(
        endpoint=spec.otlp_endpoint,
        protocol=spec.otlp_protocol or "grpc",
        path=spec.path or "/v1/traces",
        headers=spec.headers,
        random=spec.random_sampling,
        client=spec.client_sampling,
        fields=fields,
        fields_path=f"{where}.fields.add",
        remove=remove,
        flt=None,
        where=where,
        errors=errors,
    )


def _frontend_tracing(front: FrontendTracing, errors: list[str]) -> TraceSettings | None:
    where = "frontendPolicies.tracing"
    if not front.host:
        errors.append(f"{where}.host: required to export traces")
        return None
    host = front.host if "://" in front.host else f"http://{front.host}"
    return _settings(
        endpoint=host,
        protocol=front.protocol,
        path=front.path,
        headers={},
        random=front.random_sampling,
        client=front.client_sampling,
        fields=dict(front.attributes),
        fields_path=f"{where}.attributes",
        remove=frozenset(front.remove),
        flt=front.filter,
        where=where,
        errors=errors,
    )


def _settings(
    *,
    endpoint: str,
    protocol: str,
    path: str,
    headers: dict[str, str],
    random: bool | float | str | None,
    client: bool | float | str | None,
    fields: dict[str, str],
    fields_path: str,
    remove: frozenset[str],
    flt: str | None,
    where: str,
    errors: list[str],
) -> TraceSettings:
    if not endpoint.startswith(("http://", "https://")):
        errors.append(f"{where}: the collector must be an http:// or https:// URL, got {endpoint!r}")
    name_src = fields.pop("span.name", None)
    span_name = None
    if name_src is not None:
        try:
            span_name = Expression.compile(name_src)
        except CelSyntaxError as exc:
            errors.append(f"{fields_path}.span.name: {exc}")
    filter_expr = None
    if flt is not None:
        try:
            filter_expr = Expression.compile(flt)
        except CelSyntaxError as exc:
            errors.append(f"{where}.filter: {exc}")
    return TraceSettings(
        endpoint=endpoint,
        protocol=protocol,
        path=path if path.startswith("/") else "/" + path,
        headers=tuple(headers.items()),
        random_sampling=sampling_rule(random, False, f"{where}.randomSampling", errors),
        client_sampling=sampling_rule(client, True, f"{where}.clientSampling", errors),
        fields=CelFields.compile(fields, fields_path, errors),
        remove=remove,
        span_name=span_name,
        filter=filter_expr,
    )
