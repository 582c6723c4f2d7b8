"""FASTGW_NO_NATIVE=1 selects the twins at import; otherwise the C extension is required."""

import os
import subprocess
import sys

import pytest

PROBE = (
    "from fastgw import native\n"
    "print(native.IMPLEMENTATION, native.BucketTable.__module__, native.SSEScanner.__module__,"
    " native.SSEEvent.__module__)\n"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", "python fastgw._twins.buckets fastgw._twins.sse fastgw._twins.sse"),
        ("", "native fastgw._native fastgw._native fastgw._native"),
        ("0", "native fastgw._native fastgw._native fastgw._native"),
    ],
)
def test_env_var_picks_the_implementation(value: str, expected: str) -> None:
    env = {**os.environ, "FASTGW_NO_NATIVE": value}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == expected.split()


def test_errors_are_shared_by_both_implementations() -> None:
    from fastgw import native, native_errors

    assert native.BucketTableFull is native_errors.BucketTableFull
    assert native.SSEEventTooLarge is native_errors.SSEEventTooLarge
    with pytest.raises(native_errors.SSEEventTooLarge):
        native.implementation("native").SSEScanner(1).feed(b"data: x\n")
