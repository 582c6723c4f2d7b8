"""How a connection answers an error found before any route decides the request (413 from
Content-Length, 431, 408...): the renderers a `ServerState` is given."""

from __future__ import annotations

from fastgw.errors import GatewayError, dialect_for_path, render
from fastgw.http.headers import Headers


def plain_error(path: bytes, err: GatewayError) -> tuple[Headers, bytes]:
    return [(b"content-type", b"text/plain")], err.message.encode()


def api_error(path: bytes, err: GatewayError) -> tuple[Headers, bytes]:
    """Errors found before routing (413 from Content-Length, 431, 408...) on a traffic port, in
    the dialect the request path implies (an Anthropic client gets an Anthropic error object)."""
    ctype, body = render(err, dialect_for_path(path))
    return [(b"content-type", ctype), *err.extra_headers], body
