"""Values that came from the environment, and credential fields, never appear in error messages
nor in the config dump (`/config_dump`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import orjson
import pytest

from fastgw.config.compile import load_runtime
from fastgw.config.dump import redacted_dump
from fastgw.config.load import ConfigError, load, load_config
from fastgw.config.schema_base import Secret, Spec
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


# -- /config_dump: secrets redacted by meaning and by provenance ------------------------------------
ENV_CANARY = "canary-env-7f3a9"
INLINE_CANARY = "canary-inline-5b2c1"
FILE_CANARY = "canary-file-0e4d8"


def _values(node: object) -> list[object]:
    if isinstance(node, dict):
        return [v for item in node.values() for v in _values(item)]
    if isinstance(node, list):
        return [v for item in node for v in _values(item)]
    return [node]


def test_dump_redacts_header_credentials_by_name_and_env_values_whatever_the_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = """\
binds:
- port: 3000
  listeners:
  - name: main
    routes:
    - name: api
      policies:
        requestHeaderModifier:
          set: {authorization: "Bearer $SECRET", x-team: blue}
          add: {x-api-key: "INLINE", cookie: "session=INLINE", X-Auth-Token: "INLINE", x-where: "$SECRET"}
        responseHeaderModifier: {set: {set-cookie: "INLINE"}}
        directResponse: {status: 200, body: "${UNSET_BODY:-default body}"}
        timeout: {requestTimeout: "${TIMEOUT}"}
"""
    monkeypatch.setenv("SECRET", ENV_CANARY)
    monkeypatch.setenv("TIMEOUT", "30s")
    monkeypatch.delenv("UNSET_BODY", raising=False)
    dump = load_runtime("c.yaml", text.replace("INLINE", INLINE_CANARY)).dump
    rendered = orjson.dumps(dump).decode()
    assert ENV_CANARY not in rendered and INLINE_CANARY not in rendered
    policies = dump["binds"][0]["listeners"][0]["routes"][0]["policies"]
    headers = policies["requestHeaderModifier"]
    assert headers["set"] == {"authorization": "<redacted>", "x-team": "blue"}  # only the credential
    assert set(headers["add"].values()) == {"<redacted>"}  # names: x-api-key, cookie, token; x-where: from env
    assert policies["responseHeaderModifier"]["set"] == {"set-cookie": "<redacted>"}
    assert policies["directResponse"]["body"] == "default body"  # a default written in the file
    assert policies["timeout"]["requestTimeout"] == "<redacted>"  # from the environment, whatever it is
    assert dump["binds"][0]["listeners"][0]["name"] == "main"


def test_dump_redacts_secret_typed_fields_and_credential_names_in_maps() -> None:
    text = """\
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - ai:
          provider: {openAI: {}}
          defaults: {api_key: INLINE, temperature: 0.5}
        policies:
          backendAuth: {key: {value: INLINE, location: {header: {name: x-goog-api-key}}}}
          ai: {routes: {/v1/messages/count_tokens: anthropicTokenCount}}
llm:
  models:
  - {name: m, provider: openAI, params: {apiKey: INLINE}}
"""
    loaded = load("c.yaml", text=text.replace("INLINE", INLINE_CANARY), env={})
    dump = redacted_dump(loaded.config, loaded.source.secret)
    assert INLINE_CANARY not in orjson.dumps(dump).decode()
    backend = dump["binds"][0]["listeners"][0]["routes"][0]["backends"][0]
    assert backend["ai"]["defaults"] == {"api_key": "<redacted>", "temperature": 0.5}
    key = backend["policies"]["backendAuth"]["key"]
    assert key == {"value": "<redacted>", "location": {"header": {"name": "x-goog-api-key"}}}
    assert backend["policies"]["ai"]["routes"] == {"/v1/messages/count_tokens": "anthropicTokenCount"}
    assert dump["llm"]["models"][0]["params"]["apiKey"] == "<redacted>"


class _Typed(Spec, frozen=True, kw_only=True):
    plain: str
    hidden: Secret
    either: Secret | None = None


def test_dump_redacts_by_type_even_under_an_innocent_name() -> None:
    dump = redacted_dump(_Typed(plain="p", hidden=INLINE_CANARY, either=INLINE_CANARY))
    assert dump == {"plain": "p", "hidden": "<redacted>", "either": "<redacted>"}


def test_dump_holds_file_references_never_file_content(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(FILE_CANARY)
    text = f"""\
binds:
- port: 3000
  listeners:
  - routes:
    - policies: {{backendAuth: {{key: {{file: {key_file}}}}}}}
      backends: [{{host: "127.0.0.1:9"}}]
"""
    dump = load_runtime("c.yaml", text).dump
    auth = dump["binds"][0]["listeners"][0]["routes"][0]["policies"]["backendAuth"]
    assert auth == {"key": {"file": str(key_file)}}
    assert FILE_CANARY not in orjson.dumps(dump).decode()


def test_dump_leaves_unset_fields_out() -> None:
    text = "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - backends: [{host: '127.0.0.1:9'}]\n"
    dump = load_runtime("c.yaml", "config:\n  http: {idleTimeout: 90s}\n" + text).dump
    assert None not in _values(dump)
    route = dump["binds"][0]["listeners"][0]["routes"][0]
    assert route == {"backends": [{"host": "127.0.0.1:9", "weight": 1}]}
    assert dump["config"]["http"]["idleTimeout"] == "1m30s"  # durations as written
    assert dump["config"]["http"]["maxHeaders"] == 100  # defaults of a written block stay


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
