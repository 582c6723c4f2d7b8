"""The config reference is complete and the committed copy is current."""

from __future__ import annotations

from pathlib import Path

import msgspec

from fastgw.config.jsonschema import _struct_types, field_docs
from fastgw.config.reference import (
    config_reference_markdown,
    main,
    readme_with_table,
    reference_document,
    support_table_markdown,
)
from fastgw.config.schema import Config

REFERENCE = Path(__file__).resolve().parents[2] / "fastgw" / "config" / "REFERENCE.md"
README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_object_and_key_is_documented() -> None:
    undocumented = []
    for name, cls in _struct_types(Config).items():
        docs = field_docs(cls)
        if not (cls.__doc__ or "").strip():
            undocumented.append(name)
        undocumented += [f"{name}.{f.encode_name}" for f in msgspec.structs.fields(cls) if not docs.get(f.name)]
    assert undocumented == []


def test_reference_lists_every_object_once() -> None:
    md = config_reference_markdown()
    for name in _struct_types(Config):
        assert md.count(f"### {name}\n") == 1, name
    assert "| `fillInterval` | duration | required |" in md
    assert "| `idleTimeout` | duration | `1m` |" in md


def test_committed_reference_and_readme_table_are_current() -> None:
    current = REFERENCE.read_text(encoding="utf-8")
    assert current == reference_document(), "stale: run python -m fastgw.config.reference"
    readme = README.read_text(encoding="utf-8")
    assert readme == readme_with_table(readme), "README's support table is stale: run python -m fastgw.config.reference"
    assert main(["--check"]) == 0


def test_refused_keys_are_marked_where_they_are_documented() -> None:
    md = reference_document()
    for row in ("| `requestMirror` | RequestMirror |",):
        line = next(ln for ln in md.splitlines() if ln.startswith(row))
        assert "**Not supported yet.**" in line, line
    line = next(ln for ln in md.splitlines() if ln.startswith("| `remoteRateLimit` | RemoteRateLimit |"))
    assert "**Supported:** limits kept in one Redis server" in line, line
    for row in ("| `jwtAuth` | JwtAuth |", "| `basicAuth` | BasicAuth |"):  # enforced now
        line = next(ln for ln in md.splitlines() if ln.startswith(row))
        assert "Not supported yet" not in line, line
    assert "| `tracing` | Tracing |  | **Not supported yet.**" in md
    assert "| `openapi` | OpenApiTarget |  | **Not supported yet.**" in md
    assert "**Supported:** one group with one provider" in md  # groups
    assert "**Supported:** the HTTP protocol" in md  # extAuthz, partly
    table = support_table_markdown()
    route_row = next(ln for ln in table.splitlines() if ln.startswith("| route `policies` |"))
    supported, refused = route_row.split(" | ")[1:3]
    for key in ("requestMirror", "mcpAuthentication"):
        assert f"`{key}`" in refused and f"`{key}`" not in supported
    for key in ("jwtAuth", "basicAuth", "authorization", "extAuthz", "apiKey", "transformations"):
        assert f"`{key}`" in supported, key
    assert "`cors`" in supported and "`localRateLimit`" in supported
