"""directResponse: answer with a fixed status and body instead of forwarding."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from fastgw.cel import Expression, vars_of
from fastgw.errors import DIRECT_RESPONSE
from fastgw.http.headers import Headers
from fastgw.policies.body import buffer_body
from fastgw.policies.kind import PolicyKind, Site
from fastgw.policies.transformations import compile_expression, value_bytes

if TYPE_CHECKING:
    from fastgw.config.schema_policies import DirectResponse as DirectResponseSpec
    from fastgw.context import RequestContext


@dataclass(frozen=True, slots=True)
class DirectResponse:
    """`bodyExpression` (CEL) gives the body per request; no value falls back to `body`."""

    name = "directResponse"
    status: int
    body: bytes
    headers: Headers
    body_expression: Expression | None = None

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        expr = self.body_expression
        if expr is not None and expr.needs_body and ctx.body_bytes is None:
            return self._after_body(ctx)
        self._respond(ctx)
        return None

    async def _after_body(self, ctx: RequestContext) -> None:
        await buffer_body(ctx)
        self._respond(ctx)

    def _respond(self, ctx: RequestContext) -> None:
        ctx.reason = DIRECT_RESPONSE
        body = self.body
        expr = self.body_expression
        if expr is not None:
            value = value_bytes(expr.eval(vars_of(ctx)))
            if value is not None:
                body = value
        ctx.respond(self.status, self.headers, body)


def build(spec: DirectResponseSpec, site: Site) -> DirectResponse:
    headers = [(k.lower().encode(), v.encode()) for k, v in spec.headers.items()]
    body_expression = None
    if spec.body_expression is not None:
        body_expression = compile_expression(spec.body_expression, f"{site.path}.bodyExpression", site.errors)
    return DirectResponse(spec.status, spec.body.encode(), headers, body_expression)


KIND: Final[PolicyKind[DirectResponseSpec]] = PolicyKind("directResponse", lambda p: p.direct_response, build)
