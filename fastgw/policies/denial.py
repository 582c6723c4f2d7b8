"""The answers of the authentication and authorization policies: 401 with a challenge, 403, in
the client's dialect (an LLM route's clients get OpenAI or Anthropic error objects). Messages
say what failed, never what the client sent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastgw.errors import Dialect, Forbidden, Unauthorized, dialect_for_path

if TYPE_CHECKING:
    from fastgw.context import RequestContext

__all__ = ["forbidden", "llm_dialect", "unauthorized"]


def llm_dialect(ctx: RequestContext, llm: bool) -> None:
    """Before an LLM route's backend ran, its clients' dialect from the path (an OpenAI, Anthropic
    or Responses client gets its own error object)."""
    _dialect(ctx, llm)


def _dialect(ctx: RequestContext, llm: bool) -> None:
    # the LLM backend sets the dialect when it runs; a policy before it decides from the path
    if llm and ctx.dialect is Dialect.PLAIN:
        ctx.dialect = dialect_for_path(ctx.request.path)


def unauthorized(ctx: RequestContext, llm: bool, message: str, challenge: bytes) -> Unauthorized:
    """401 with `WWW-Authenticate: <challenge>` (RFC 9110 §11.6.1)."""
    _dialect(ctx, llm)
    return Unauthorized(f"authentication failure: {message}", headers=[(b"www-authenticate", challenge)])


def forbidden(ctx: RequestContext, llm: bool, message: str = "authorization failed", status: int = 403) -> Forbidden:
    _dialect(ctx, llm)
    err = Forbidden(message)
    err.status = status  # ext_authz's failureMode {denyWithStatus: N}
    return err
