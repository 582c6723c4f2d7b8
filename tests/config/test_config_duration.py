"""Duration strings."""

from __future__ import annotations

import pytest

from fastgw.config.duration import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("100ms", 0.1),
        ("5s", 5.0),
        ("1m", 60.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("1.5s", 1.5),
        ("250us", 0.00025),
        ("2d", 172800.0),
        ("0s", 0.0),
        ("1h0m0s", 3600.0),
    ],
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("100", "missing unit"),
        ("100x", "expected"),
        ("", "empty"),
        ("-1s", "expected"),
        ("1 s", "expected"),
        ("s", "expected"),
    ],
)
def test_reject(text: str, reason: str) -> None:
    with pytest.raises(DurationError, match=reason):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [0.1, 1.0, 90.0, 3600.0, 5400.0, 86400.0, 0.0])
def test_format_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)
