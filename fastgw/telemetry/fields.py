"""CEL fields of the telemetry config: log fields, metric labels and span attributes.

`config.logging.fields.add` / `frontendPolicies.accessLog.add`, `config.metrics.fields.add` and
`config.tracing.fields.add` / `frontendPolicies.tracing.attributes` map a name to an expression,
compiled once at load (`CelFields.compile`) and evaluated when the request is recorded. An
expression with no value (`jwt.sub` on a request without a token, an error) leaves a log field or
span attribute out and makes a metric label empty: telemetry never fails a request.

Values are bounded: a string (a prompt, a header) is cut to `max_bytes` of UTF-8, a list or map
becomes its JSON text, cut the same way, so one request cannot write a megabyte log line, label or
attribute. Credentials never get through: when an expression reads the request's headers, the
values of the request's credential-named fields (`authorization`, `x-api-key`, `cookie`, ...)
are replaced by `<redacted>` wherever they appear in its value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import orjson

from fastgw.cel import NO_VALUE, Expression, vars_of

if TYPE_CHECKING:
    from fastgw.context import RequestContext

#: longest value kept, in UTF-8 bytes (a log field or span attribute); metric labels use
#: config.metrics.maxLabelBytes
MAX_VALUE_BYTES: Final = 4096


def bounded(value: Any, max_bytes: int = MAX_VALUE_BYTES) -> Any:
    """`value` as a log field or attribute value: scalars as they are (strings cut to
    `max_bytes`), anything else as its JSON text, cut."""
    if isinstance(value, bool | int | float):
        return value
    if not isinstance(value, str):
        try:
            value = orjson.dumps(value, default=str).decode()
        except (TypeError, orjson.JSONEncodeError):
            value = str(value)
    if len(value) * 4 > max_bytes:  # maybe longer than max_bytes of UTF-8
        data = value.encode()
        if len(data) > max_bytes:
            value = data[:max_bytes].decode("utf-8", "ignore")
    return value


def label_text(value: Any) -> str:
    """A value as a metric label: "" for no value, `true`/`false` for booleans (CEL's spelling)."""
    if value is NO_VALUE or value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    text = bounded(value)
    return text if isinstance(text, str) else str(text)


REDACTED: Final = "<redacted>"


def _reads_headers(expr: Expression) -> bool:
    refs = expr.references
    if "request" not in refs:
        return False
    parts = refs["request"]
    return parts is None or "headers" in parts


def _secrets(ctx: RequestContext) -> list[str]:
    from fastgw.config.dump import secret_name

    out = []
    for name, value in ctx.request.headers:
        if len(value) >= 4 and secret_name(name.decode("latin-1")):
            out.append(value.decode("utf-8", "replace"))
            _, _, token = out[-1].partition(" ")  # "Bearer <token>": the token alone too
            if len(token) >= 4:
                out.append(token)
    return out


def _scrub(value: Any, secrets: list[str]) -> Any:
    if not secrets or value is NO_VALUE or isinstance(value, bool | int | float) or value is None:
        return value
    text = value if isinstance(value, str) else bounded(value)
    if not isinstance(text, str):
        return value
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text if text is not value else value


class CelFields:
    """Named expressions, in config order."""

    __slots__ = ("_headers", "expressions", "names")

    def __init__(self, names: tuple[str, ...], expressions: tuple[Expression, ...]) -> None:
        self.names = names
        self.expressions = expressions
        #: which expressions read request headers (their values are scrubbed of credentials)
        self._headers = tuple(_reads_headers(e) for e in expressions)

    @classmethod
    def compile(cls, fields: Mapping[str, str], path: str, errors: list[str]) -> CelFields | None:
        """None when there are none; a syntax error is reported at `path.<name>`."""
        from fastgw.cel import CelSyntaxError

        names: list[str] = []
        exprs: list[Expression] = []
        for name, source in fields.items():
            try:
                exprs.append(Expression.compile(str(source)))
            except CelSyntaxError as exc:
                errors.append(f"{path}.{name}: {exc}")
                continue
            names.append(name)
        return cls(tuple(names), tuple(exprs)) if names else None

    def __len__(self) -> int:
        return len(self.names)

    def values(self, ctx: RequestContext) -> list[Any]:
        """Each expression's value for this request (NO_VALUE where it has none)."""
        v = vars_of(ctx)
        values = [e.eval(v) for e in self.expressions]
        if any(self._headers):
            secrets = _secrets(ctx)
            values = [_scrub(x, secrets) if h else x for x, h in zip(values, self._headers, strict=True)]
        return values

    def present(self, ctx: RequestContext) -> dict[str, Any]:
        """name -> bounded value, for the expressions that have one."""
        v = vars_of(ctx)
        out: dict[str, Any] = {}
        secrets = _secrets(ctx) if any(self._headers) else None
        for name, expr, headers in zip(self.names, self.expressions, self._headers, strict=True):
            value = expr.eval(v)
            if value is not NO_VALUE and value is not None:
                if headers and secrets:
                    value = _scrub(value, secrets)
                out[name] = bounded(value)
        return out

    @property
    def reads_llm(self) -> bool:
        return any("llm" in e.references for e in self.expressions)
