"""The config reference is complete and the committed copy is current."""

from __future__ import annotations

from pathlib import Path

import msgspec

from fastgw.config.jsonschema import _struct_types, field_docs
from fastgw.config.reference import config_reference_markdown, reference_document
from fastgw.config.schema import Config

REFERENCE = Path(__file__).resolve().parents[2] / "fastgw" / "config" / "REFERENCE.md"


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


def test_committed_reference_is_current() -> None:
    current = REFERENCE.read_text(encoding="utf-8")
    assert current == reference_document(), "python -m fastgw.config.reference > fastgw/config/REFERENCE.md"
