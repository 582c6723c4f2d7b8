"""Buffering the request body for a policy that reads it (`request.body` in CEL, a transformed
body, a body sent to ext_authz). The whole body lands in `ctx.body_bytes`, which every backend
sends in place of the stream; it is bounded by the downstream body limit (413 above it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastgw.context import RequestContext

__all__ = ["buffer_body"]


async def buffer_body(ctx: RequestContext) -> bytes:
    body = ctx.body_bytes
    if body is None:
        body = ctx.body_bytes = await ctx.request.body.read_all()
    return body
