"""CEL telemetry fields: bounded values, no value left out, credentials scrubbed."""

from __future__ import annotations

from fastgw.telemetry.fields import CelFields, bounded, label_text
from tests.cel.test_cel_vars import make_ctx


def _fields(**exprs: str) -> CelFields:
    errors: list[str] = []
    fields = CelFields.compile(exprs, "config.logging.fields.add", errors)
    assert errors == [] and fields is not None
    return fields


def test_values_are_bounded_and_absent_ones_left_out() -> None:
    ctx = make_ctx([(b"x-big", b"y" * 10000), (b"x-team", b"blue")])
    out = _fields(big='request.headers["x-big"]', team='request.headers["x-team"]', user="jwt.sub").present(ctx)
    assert out == {"big": "y" * 4096, "team": "blue"}
    assert bounded({"a": [1, 2]}) == '{"a":[1,2]}' and bounded(True) is True
    assert label_text(True) == "true" and label_text(None) == "" and label_text(3) == "3"


def test_credentials_never_reach_telemetry_through_an_expression() -> None:
    ctx = make_ctx([(b"authorization", b"Bearer sk-canary-123456"), (b"x-api-key", b"key-canary-9"), (b"x-a", b"1")])
    fields = _fields(auth='request.headers["authorization"]', all="request.headers", method="request.method")
    out = fields.present(ctx)
    assert out["auth"] == "<redacted>" and out["method"] == "POST"
    assert "canary" not in repr(out) and '"x-a":"1"' in out["all"]
    assert "canary" not in repr(fields.values(ctx))
