"""directResponse: answer with a fixed status and body instead of forwarding."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastgw.cel import Expression, vars_of
from fastgw.http.headers import Headers
from fastgw.policies.body import buffer_body
from fastgw.policies.transformations import value_bytes

if TYPE_CHECKING:
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
        ctx.reason = "direct_response"
        body = self.body
        expr = self.body_expression
        if expr is not None:
            value = value_bytes(expr.eval(vars_of(ctx)))
            if value is not None:
                body = value
        ctx.respond(self.status, self.headers, body)
