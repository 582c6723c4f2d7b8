"""mcpAuthorization: CEL rules over `mcp.tool.name`, `mcp.prompt.name`, `mcp.resource.name` (and
`jwt.*`, `apiKey.*`, ... set by the authentication policies before) deciding, per item, what a
client may see in a list and call. Rules combine as `authorization`'s do: a matching deny
denies, every require must hold, and when there are allow rules one must match."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastgw.cel import vars_of
from fastgw.policies.authorization import Rules

if TYPE_CHECKING:
    from fastgw.context import RequestContext


@dataclass(frozen=True, slots=True)
class McpRules:
    rules: Rules

    def __call__(self, ctx: RequestContext, kind: str, name: str) -> bool:
        v = vars_of(ctx)
        v.set("mcp", {kind: {"name": name}})
        rules = self.rules
        for rule in rules.deny:
            if rule.matches(v):
                return False
        for rule in rules.require:
            if not rule.matches(v):
                return False
        if rules.allow:
            return any(rule.matches(v) for rule in rules.allow)
        return True
