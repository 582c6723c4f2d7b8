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
