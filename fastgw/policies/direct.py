"""directResponse: answer with a fixed status and body instead of forwarding."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastgw.http.headers import Headers

if TYPE_CHECKING:
    from fastgw.context import RequestContext


@dataclass(frozen=True, slots=True)
class DirectResponse:
    name = "directResponse"
    status: int
    body: bytes
    headers: Headers

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        ctx.reason = "direct_response"
        ctx.respond(self.status, self.headers, self.body)
        return None
