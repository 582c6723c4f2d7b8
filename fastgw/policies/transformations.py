"""transformations: request and response edits computed with CEL (agentgateway's
`transformations: {request: {set, add, remove, body, metadata}, response: {set, add, remove}}`).

The request half runs in the policy order (after authentication and rate limits, before the
static request edits); its `metadata` values are kept as `metadata.*` for later expressions, and
a new `body` replaces the one forwarded. The response half runs as the response head is written
(upstream answers, errors and direct responses alike), where `response.code`, `response.headers`
and `llm.*` are known. A value with no value for the request (a claim it does not carry) sets
nothing; a value that would break the header (CR, LF, NUL) is dropped; maps and lists are sent
as JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson

from fastgw.cel import NO_VALUE, CelSyntaxError, Expression, vars_of
from fastgw.http.headers import Headers
from fastgw.policies.body import buffer_body
from fastgw.policies.kind import PolicyKind, Site

if TYPE_CHECKING:
    from fastgw.config.schema_policies import Transform
    from fastgw.config.schema_policies import Transformations as TransformationsSpec
    from fastgw.context import RequestContext

__all__ = ["HeaderEdits", "Transformations", "build", "compile_expression", "value_bytes"]

_BAD_FIELD = frozenset(b"\r\n\0")


def value_bytes(value: Any) -> bytes | None:
    """An expression's value as header or body bytes (None: no value)."""
    if value is NO_VALUE or value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int | float):
        return str(value).encode()
    try:
        return orjson.dumps(value, default=str)
    except TypeError:
        return None


@dataclass(frozen=True, slots=True)
class HeaderEdits:
    set: tuple[tuple[bytes, Expression], ...] = ()
    add: tuple[tuple[bytes, Expression], ...] = ()
    remove: frozenset[bytes] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.set or self.add or self.remove)

    def apply(self, ctx: RequestContext, headers: Headers) -> Headers:
        v = vars_of(ctx)
        sets: Headers = []
        for name, expr in self.set:
            value = value_bytes(expr.eval(v))
            if value is not None and _BAD_FIELD.isdisjoint(value):
                sets.append((name, value))
        drop = self.remove | {n for n, _ in sets}
        out = [(n, val) for n, val in headers if n not in drop] if drop else list(headers)
        out += sets
        for name, expr in self.add:
            value = value_bytes(expr.eval(v))
            if value is not None and _BAD_FIELD.isdisjoint(value):
                out.append((name, value))
        return out

    def expressions(self) -> list[Expression]:
        return [e for _, e in self.set] + [e for _, e in self.add]


@dataclass(frozen=True, slots=True)
class Transformations:
    name = "transformations"
    request: HeaderEdits
    body: Expression | None
    metadata: tuple[tuple[str, Expression], ...]
    response: HeaderEdits | None
    needs_body: bool

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        if self.response is not None:
            ctx.response_edit = self.response.apply
        if self.needs_body:
            return self._after_body(ctx)
        self._edit(ctx)
        return None

    async def _after_body(self, ctx: RequestContext) -> None:
        await buffer_body(ctx)
        self._edit(ctx)

    def _edit(self, ctx: RequestContext) -> None:
        v = vars_of(ctx)
        if self.metadata:
            meta: dict[str, Any] = dict(v.get("metadata"))
            for key, expr in self.metadata:
                value = expr.eval(v)
                if value is not NO_VALUE:
                    meta[key] = value
                v.set("metadata", meta)
        req = ctx.request
        if self.request:
            req.headers = self.request.apply(ctx, req.headers)
            v.changed("request")
        if self.body is not None:
            body = value_bytes(self.body.eval(v))
            if body is not None:
                ctx.body_bytes = body
                v.changed("request")


def build(spec: TransformationsSpec, site: Site) -> Transformations:
    path, errors = site.path, site.errors
    request = spec.request
    response = spec.response
    req_edits = _edits(request, f"{path}.request", errors) if request is not None else HeaderEdits()
    body = metadata = None
    if request is not None:
        if request.replace is not None:
            errors.append(f"{path}.request.replace: not supported yet: replace")
        if request.body is not None:
            body = compile_expression(request.body, f"{path}.request.body", errors)
        metadata = tuple(
            (k, e)
            for k, src in request.metadata.items()
            if (e := compile_expression(src, f"{path}.request.metadata.{k}", errors)) is not None
        )
    resp_edits = None
    if response is not None:
        for key in ("replace", "body"):
            if getattr(response, key) is not None:
                errors.append(f"{path}.response.{key}: not supported yet: response {key}")
        if response.metadata:
            errors.append(f"{path}.response.metadata: not supported yet: response metadata")
        resp_edits = _edits(response, f"{path}.response", errors) or None
    exprs: list[Expression] = req_edits.expressions() + [e for _, e in metadata or ()]
    if body is not None:
        exprs.append(body)
    return Transformations(
        request=req_edits,
        body=body,
        metadata=metadata or (),
        response=resp_edits,
        needs_body=any(e.needs_body for e in exprs) or body is not None,
    )


def _edits(t: Transform, path: str, errors: list[str]) -> HeaderEdits:
    return HeaderEdits(
        set=_pairs(t.set, f"{path}.set", errors),
        add=_pairs(t.add, f"{path}.add", errors),
        remove=frozenset(n.lower().encode() for n in t.remove),
    )


def _pairs(values: Mapping[str, str], path: str, errors: list[str]) -> tuple[tuple[bytes, Expression], ...]:
    out = []
    for name, src in values.items():
        expr = compile_expression(src, f"{path}.{name}", errors)
        if expr is not None:
            out.append((name.lower().encode(), expr))
    return tuple(out)


def compile_expression(source: str, path: str, errors: list[str]) -> Expression | None:
    """The compiled expression, or None with "path: invalid CEL: <the engine's message>"."""
    try:
        return Expression.compile(source)
    except CelSyntaxError as exc:
        errors.append(f"{path}: invalid CEL: {exc}")
        return None


KIND: Final[PolicyKind[TransformationsSpec]] = PolicyKind(
    "transformations", lambda p: p.transformations, build, listener=lambda p: p.transformations
)
