"""fastgw/_native.pyi matches the compiled extension (mypy's stubtest imports it and compares)."""

import subprocess
import sys


def test_stub_matches_the_extension() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "fastgw._native"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
