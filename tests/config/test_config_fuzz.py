"""Mutated configs never crash the loader: they load, or every problem comes back with a line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastgw.config.load import ConfigError, load_config
from fastgw.config.schema import Config

ROOT = Path(__file__).resolve().parents[2]
ENV = {"OPENAI_API_KEY": "sk-o", "ANTHROPIC_API_KEY": "sk-a"}
SEEDS = [yaml.safe_load(p.read_text().replace("$", "")) for p in sorted((ROOT / "configs").rglob("*.yaml"))]

ODD_VALUES: st.SearchStrategy[Any] = st.sampled_from(
    [
        None,
        0,
        -1,
        70000,
        1.5,
        True,
        "",
        "x",
        "5s",
        "100x",
        "a:1",
        "[",
        [],
        {},
        [{}],
        {"conditional": []},
        {"x": 1},
    ]
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


def replaced(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {k: (replaced(v, rest, value) if k == head else v) for k, v in node.items()}
    return [replaced(v, rest, value) if i == head else v for i, v in enumerate(node)]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutations_load_or_report_with_lines(data: st.DataObject) -> None:
    doc = data.draw(st.sampled_from(SEEDS))
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(paths(doc)))
        doc = replaced(doc, where, data.draw(ODD_VALUES))
    text = yaml.safe_dump(doc, sort_keys=False)
    try:
        config = load_config("m.yaml", text=text, env=ENV)
    except ConfigError as exc:
        assert exc.errors
        assert all(issue.line is not None and issue.message for issue in exc.errors), str(exc)
    else:
        assert isinstance(config, Config)


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append("binds: *a8")
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="document too large"):
        load_config("bomb.yaml", text="\n".join(lines) + "\n", env={})
    assert time.perf_counter() - start < 5
