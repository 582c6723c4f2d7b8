"""Tracing's pure parts: W3C traceparent parsing and the sampling rules of the config."""

from __future__ import annotations

from fastgw.cel import Expression
from fastgw.telemetry.tracing import parse_traceparent, sampling_rule

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_traceparent_version_00() -> None:
    assert parse_traceparent(f"00-{TRACE}-00f067aa0ba902b7-01".encode()) == (
        int(TRACE, 16),
        0x00F067AA0BA902B7,
        True,
    )
    assert parse_traceparent(f"00-{TRACE}-00f067aa0ba902b7-00".encode()) == (int(TRACE, 16), 0xF067AA0BA902B7, False)


def test_traceparent_malformed_or_invalid_is_none() -> None:
    for bad in (
        b"",
        b"00-zz-not-a-trace",
        f"00-{'0' * 32}-00f067aa0ba902b7-01".encode(),  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01".encode(),  # all-zero parent
        f"ff-{TRACE}-00f067aa0ba902b7-01".encode(),  # version ff is invalid
        f"00-{TRACE.upper()}-00f067aa0ba902b7-01".encode(),  # upper-case hex
        f"00-{TRACE}-00f067aa0ba902b7-01-extra".encode(),  # version 00 has exactly four fields
        f"00_{TRACE}-00f067aa0ba902b7-01".encode(),
    ):
        assert parse_traceparent(bad) is None, bad


def test_traceparent_later_version_read_by_its_first_fields() -> None:
    assert parse_traceparent(f"01-{TRACE}-00f067aa0ba902b7-01-what-ever".encode()) is not None


def test_sampling_rules() -> None:
    errors: list[str] = []
    assert sampling_rule(None, False, "p", errors) == 0.0
    assert sampling_rule(None, True, "p", errors) == 1.0
    assert sampling_rule(True, False, "p", errors) == 1.0
    assert sampling_rule("true", False, "p", errors) == 1.0  # the seed's spelling
    assert sampling_rule("false", True, "p", errors) == 0.0
    assert sampling_rule(0.25, False, "p", errors) == 0.25
    assert sampling_rule("0.01", False, "p", errors) == 0.01
    rule = sampling_rule('request.headers["x-trace"] == "1"', False, "p", errors)
    assert isinstance(rule, Expression)
    assert errors == []
    sampling_rule(1.5, False, "config.tracing.randomSampling", errors)
    sampling_rule("request.path ==", False, "config.tracing.randomSampling", errors)
    assert errors[0] == "config.tracing.randomSampling: a ratio must be between 0 and 1, got 1.5"
    assert errors[1].startswith("config.tracing.randomSampling: ")


def test_frontend_tracing_compiles_to_the_same_settings() -> None:
    from fastgw.config.compile import load_runtime

    text = (
        "frontendPolicies:\n  tracing:\n    host: otel:4317\n    protocol: grpc\n    randomSampling: 0.25\n"
        "    attributes: {gen_ai.user: 'jwt.sub', span.name: '\"x\"'}\n    remove: [client.address]\n"
        "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - backends:\n      - host: 127.0.0.1:9\n"
    )
    tracing = load_runtime("c.yaml", text).tracing
    assert tracing is not None
    assert (tracing.endpoint, tracing.protocol, tracing.random_sampling, tracing.client_sampling) == (
        "http://otel:4317",
        "grpc",
        0.25,
        1.0,
    )
    assert tracing.fields is not None and tracing.fields.names == ("gen_ai.user",)
    assert tracing.span_name is not None and tracing.remove == frozenset({"client.address"})
