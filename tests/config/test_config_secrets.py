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


def test_auth_credentials_are_redacted_in_the_dump() -> None:
    """An inline JWKS (it may hold an HMAC secret), API keys and htpasswd never reach /config_dump."""
    from fastgw.config.compile import load_runtime

    hmac_k = "aG1hYy1jYW5hcnktc2VjcmV0LTUxNTA1MTUwNTE1MDUxNTA"
    text = f"""\
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        jwtAuth: {{issuer: i, jwks: '{{"keys": [{{"kty": "oct", "k": "{hmac_k}", "alg": "HS256"}}]}}'}}
        apiKey: {{keys: [{{key: {SECRET}, metadata: {{team: a}}}}]}}
        basicAuth: {{htpasswd: "u:{{SHA}}qUqP5cyxm6YcTAhz05Hph5gvu9M="}}
      backends: [{{host: "127.0.0.1:1"}}]
"""
    dump = str(load_runtime("config.yaml", text=text).dump)
    for secret in (hmac_k, SECRET, "qUqP5cyxm6YcTAhz05Hph5gvu9M="):
        assert secret not in dump
    assert "'team': 'a'" in dump  # the rest is still there
