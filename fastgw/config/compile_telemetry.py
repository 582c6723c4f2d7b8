"""Compile the telemetry settings: the access log's filter and fields, metric labels, tracing.

`config.logging` and `frontendPolicies.accessLog` (its alias `logging`) are two spellings of the
access-log shaping; the frontend one wins where both are set, as in agentgateway's migration.
"""

from __future__ import annotations

from fastgw.cel import CelSyntaxError, Expression
from fastgw.config import schema
from fastgw.runtime import LogSettings
from fastgw.telemetry.fields import CelFields


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
