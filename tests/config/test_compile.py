"""Config -> Runtime: process-level settings the compiler resolves."""

from __future__ import annotations

import os

import pytest

from fastgw.config.compile import compile_config
from fastgw.config.load import load_config


@pytest.mark.parametrize(("value", "expected"), [("2", 2), (3, 3), ("100%", None), ("auto", None)])
def test_worker_threads_resolve_to_a_process_count(value: object, expected: int | None) -> None:

    bind = "binds: [{port: 3000, listeners: [{routes: [{backends: [{host: 'a:1'}]}]}]}]\n"
    cfg = load_config("w.yaml", text=f"config: {{workerThreads: {value!r}}}\n{bind}".replace("'", '"'))
    workers = compile_config(cfg).workers
    assert workers == (expected if expected is not None else os.cpu_count())


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("{maxTokens: 100000000000000000, tokensPerFill: 1, fillInterval: 1s}", "max_tokens must be in"),
        ("{maxTokens: 10000, tokensPerFill: 10000, fillInterval: 1us}", "one token per nanosecond"),
    ],
)
def test_a_bucket_the_shared_table_cannot_hold_is_a_config_error(limit: str, message: str) -> None:
    """Found by the table's checks (amounts within 2^53, at most a token per nanosecond): an error
    with file, line and key path, not an exception out of the compiler."""
    from fastgw.config.compile import load_runtime
    from fastgw.config.errors import ConfigError

    text = (
        "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - policies:\n"
        f"        localRateLimit: [{limit}]\n      backends: [{{host: 127.0.0.1:1}}]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_runtime("rl.yaml", text)
    assert "rl.yaml:6: binds[0].listeners[0].routes[0].policies.localRateLimit[0]: " in str(info.value)
    assert message in str(info.value)
