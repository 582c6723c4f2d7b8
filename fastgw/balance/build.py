"""Config -> `HealthRule` (compile time, supervisor)."""

from __future__ import annotations

from fastgw.balance.health import DEFAULT_RULE, HealthRule
from fastgw.config.schema_policies import Health
from fastgw.policies.transformations import compile_expression


def health_rule(spec: Health | None, path: str, errors: list[str]) -> HealthRule:
    """The rule of a `health` policy (the default rule when there is none)."""
    if spec is None:
        return DEFAULT_RULE
    expr = None
    if spec.unhealthy_expression is not None:
        expr = compile_expression(spec.unhealthy_expression, f"{path}.unhealthyExpression", errors)
    ev = spec.eviction
    if ev is None:
        return HealthRule(unhealthy=expr)
    failures = ev.consecutive_failures if ev.consecutive_failures is not None else 1
    if failures < 1:
        errors.append(f"{path}.eviction.consecutiveFailures: must be at least 1")
    for key, value in (("healthThreshold", ev.health_threshold), ("restoreHealth", ev.restore_health)):
        if value is not None and not 0.0 <= value <= 1.0:
            errors.append(f"{path}.eviction.{key}: must be between 0 and 1")
    if ev.duration is not None and ev.duration <= 0:
        errors.append(f"{path}.eviction.duration: must be positive")
    return HealthRule(
        unhealthy=expr,
        duration=ev.duration,
        consecutive_failures=max(1, failures),
        health_threshold=ev.health_threshold,
        restore_health=ev.restore_health if ev.restore_health is not None else DEFAULT_RULE.restore_health,
    )
