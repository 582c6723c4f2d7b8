"""authorization: CEL rules deciding whether an (authenticated) request may proceed; 403 if not.

A rule is `allow` (a bare string is one), `deny` or `require`. Rules accumulate across the levels
they are written at (listener, route) as agentgateway's do (http/authorization.rs): any matching
deny denies; every require must hold; when there are allow rules, at least one must match. A rule
that has no value for the request (it reads a claim the request does not carry) does not match:
an allow or deny is then not taken, and a require fails. Rules run after authentication, so they
can read `jwt.*`, `apiKey.*`, `basicAuth.*` and `extauthz.*`; a rule that reads `request.body`
makes the policy buffer the body first.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from fastgw.cel import CelSyntaxError, Expression, vars_of
from fastgw.policies.body import buffer_body
from fastgw.policies.denial import forbidden
from fastgw.policies.kind import PolicyKind, Site

if TYPE_CHECKING:
    from fastgw.config.schema_policies import RuleSet
    from fastgw.context import RequestContext
    from fastgw.runtime import RequestPolicy

__all__ = ["KIND", "Authorization", "build", "compile_rules"]


@dataclass(frozen=True, slots=True)
class Rules:
    allow: tuple[Expression, ...] = ()
    deny: tuple[Expression, ...] = ()
    require: tuple[Expression, ...] = ()

    def __add__(self, other: Rules) -> Rules:
        return Rules(self.allow + other.allow, self.deny + other.deny, self.require + other.require)

    def __bool__(self) -> bool:
        return bool(self.allow or self.deny or self.require)

    def expressions(self) -> tuple[Expression, ...]:
        return self.allow + self.deny + self.require


@dataclass(frozen=True, slots=True)
class Authorization:
    name = "authorization"
    rules: Rules
    needs_body: bool
    llm: bool = False

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        if self.needs_body and ctx.body_bytes is None:
            return self._after_body(ctx)
        self._decide(ctx)
        return None

    async def _after_body(self, ctx: RequestContext) -> None:
        await buffer_body(ctx)
        self._decide(ctx)

    def _decide(self, ctx: RequestContext) -> None:
        v = vars_of(ctx)
        rules = self.rules
        for rule in rules.deny:
            if rule.matches(v):
                raise forbidden(ctx, self.llm)
        for rule in rules.require:
            if not rule.matches(v):
                raise forbidden(ctx, self.llm)
        if rules.allow:
            for rule in rules.allow:
                if rule.matches(v):
                    return
            raise forbidden(ctx, self.llm)


def compile_rules(spec: RuleSet | None, path: str, errors: list[str]) -> Rules:
    if spec is None:
        return Rules()
    allow: list[Expression] = []
    deny: list[Expression] = []
    require: list[Expression] = []
    for i, rule in enumerate(spec.rules):
        if isinstance(rule, str):
            kind, source, where = allow, rule, f"{path}.rules[{i}]"
        elif rule.allow is not None:
            kind, source, where = allow, rule.allow, f"{path}.rules[{i}].allow"
        elif rule.deny is not None:
            kind, source, where = deny, rule.deny, f"{path}.rules[{i}].deny"
        else:
            assert rule.require is not None
            kind, source, where = require, rule.require, f"{path}.rules[{i}].require"
        try:
            kind.append(Expression.compile(source))
        except CelSyntaxError as exc:
            errors.append(f"{where}: invalid CEL: {exc}")
    return Rules(tuple(allow), tuple(deny), tuple(require))


def of(rules: Rules, *, llm: bool) -> Authorization | None:
    if not rules:
        return None
    return Authorization(rules, any(e.needs_body for e in rules.expressions()), llm)


def build(spec: RuleSet, site: Site) -> Authorization | None:
    return of(compile_rules(spec, site.path, site.errors), llm=site.llm)


def combine(outer: RequestPolicy, inner: RequestPolicy) -> RequestPolicy:
    """A listener's rules and its route's, accumulated (http/authorization.rs)."""
    assert isinstance(outer, Authorization) and isinstance(inner, Authorization)
    combined = of(outer.rules + inner.rules, llm=inner.llm)
    assert combined is not None
    return combined


KIND: Final[PolicyKind[RuleSet]] = PolicyKind(
    "authorization", lambda p: p.authorization, build, listener=lambda p: p.authorization, combine=combine
)
