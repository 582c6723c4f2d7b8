"""The retry policy's CEL parts: `precondition` (on the request: false = this request is tried
once) and `condition` (on an answer: true = hold it back from the client and try again, as a
status in `codes` does)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastgw.cel.expression import Expression
from fastgw.cel.vars import vars_of
from fastgw.http.headers import Headers

if TYPE_CHECKING:
    from fastgw.context import RequestContext

#: (ctx, status, response fields) -> retry this answer
RetryWhen = Callable[["RequestContext", int, Headers], bool]


def allows(precondition: Expression, ctx: RequestContext) -> bool:
    """Whether the request may be retried at all (an error or a non-bool: no)."""
    return precondition.matches(vars_of(ctx))


def condition_check(condition: Expression) -> RetryWhen:
    """A check of `condition` over `response.code` / `response.headers` as an answer's head arrives."""

    def when(ctx: RequestContext, status: int, fields: Headers) -> bool:
        response = vars_of(ctx).response
        response.observe(status, fields)
        try:
            return condition.matches(vars_of(ctx))
        finally:
            response.observe(0, None)

    return when
