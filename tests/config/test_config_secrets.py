"""Values that came from the environment, and credential fields, never appear in error messages."""

from __future__ import annotations

from typing import Literal

import pytest

from fastgw.config.load import ConfigError, load_config
from fastgw.config.schema_base import Spec
from fastgw.config.validate import validate

SECRET = "sk-live-0123456789abcdef"


def messages(text: str, env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_config("config.yaml", text=text, env=env)
    rendered = str(info.value)
    assert rendered  # something was reported
    return rendered


def test_env_value_in_wrong_place_is_not_echoed() -> None:
    text = """\
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        localRateLimit: [{maxTokens: 1, tokensPerFill: 1, fillInterval: $TOKEN}]
        timeout: {requestTimeout: "${TOKEN}"}
      backends: [{host: $TOKEN}]
"""
    out = messages(text, {"TOKEN": SECRET})
    assert SECRET not in out
    assert out.count("(value hidden)") == 3
    assert "localRateLimit[0].fillInterval: invalid duration (value hidden)" in out


class _Creds(Spec, frozen=True, kw_only=True):
    api_token: Literal["a", "b"] = "a"
    region: Literal["a", "b"] = "a"


def test_credential_named_fields_are_not_echoed_even_inline() -> None:
    seen: list[str] = []
    result = validate(
        {"apiToken": "sk-inline-secret", "region": "eu"},
        _Creds,
        lambda path, message, at: seen.append(message),
        lambda path: False,
    )
    assert result is None
    assert seen == [
        "invalid value (value hidden): expected one of a, b",
        'invalid value "eu": expected one of a, b',
    ]


def test_literal_typo_from_env_not_echoed() -> None:
    text = "config:\n  logging: {format: $FMT}\n"
    out = messages(text, {"FMT": SECRET})
    assert SECRET not in out and "expected one of json, text" in out


def test_yaml_error_on_a_line_with_a_secret() -> None:
    # The expanded value breaks the YAML; the YAML error must not quote the line.
    text = "binds:\n- port: 3000\n  listeners: [{name: $NAME}]\n"
    out = messages(text, {"NAME": SECRET + "}: ]["})
    assert SECRET not in out
    assert out.startswith("config.yaml:3: invalid YAML")


def test_unknown_key_from_env_not_echoed() -> None:
    out = messages("config:\n  $KEYNAME: 1\n", {"KEYNAME": SECRET})
    assert SECRET not in out and "unknown field (name hidden" in out


def test_secret_still_loads_when_valid() -> None:
    text = """\
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - ai: {name: o, provider: {openAI: {}}}
        policies: {backendAuth: {key: $OPENAI_API_KEY}}
"""
    config = load_config("config.yaml", text=text, env={"OPENAI_API_KEY": SECRET})
    policies = config.binds[0].listeners[0].routes[0].backends[0].policies
    assert policies is not None and policies.backend_auth is not None
    assert policies.backend_auth.key == SECRET
