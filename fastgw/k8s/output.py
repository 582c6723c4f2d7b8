"""Writing a rendered config: YAML with the secrets as references, and checking it with the same
loader and compiler `fastgw validate` uses.

The config loader expands `$VAR` over the whole file, so every `$` the manifests wrote (a regex
`^/v1$`, a header value) is written as `$$`; only the secret references are real `$VAR`s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import yaml

from fastgw.k8s.render import Rendered
from fastgw.k8s.secrets import SecretRef, SecretUse

SecretsForm = Literal["env", "files", "placeholder"]
PLACEHOLDER = "fastgw-render-placeholder"


def secret_value(use: SecretUse, form: SecretsForm, secrets_dir: str | None) -> Any:
    if form == "env":
        return f"${use.env_name}"
    if form == "files":
        assert secrets_dir is not None
        return {"file": use.file_path(secrets_dir)}
    return PLACEHOLDER


def to_yaml(config: Mapping[str, Any], form: SecretsForm, secrets_dir: str | None = None, header: str = "") -> str:
    def walk(value: Any) -> Any:
        if isinstance(value, SecretRef):
            return secret_value(value.use, form, secrets_dir)
        if isinstance(value, str):
            return value.replace("$", "$$")
        if isinstance(value, Mapping):
            return {walk(k): walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        return value

    body = yaml.safe_dump(walk(config), sort_keys=False, allow_unicode=True, width=120)
    return header + body


def header(rendered: Rendered, form: SecretsForm, secrets_dir: str | None, sources: list[str]) -> str:
    gw = rendered.gateway
    lines = [f"# fastgw config rendered by `fastgw k8s render` from {gw.ref if gw else 'no Gateway'}"]
    if sources:
        lines.append(f"# manifests: {', '.join(sources)}")
    lines.extend(f"# {line}" for line in needs(rendered.secrets, form, secrets_dir))
    return "\n".join(lines) + "\n"


def needs(uses: list[SecretUse], form: SecretsForm, secrets_dir: str | None) -> list[str]:
    """What a run of the config needs, one line per secret (names and origins, never values)."""
    out = []
    for use in uses:
        if form == "env":
            out.append(f"needs env {use.env_name} <- {use.origin}")
        elif form == "files":
            out.append(f"needs file {secret_value(use, form, secrets_dir)['file']} <- {use.origin}")
    return out


def validation_errors(config: Mapping[str, Any]) -> list[str]:
    """Problems `fastgw validate` would report for the rendered config (secrets as placeholders)."""
    from fastgw.config.compile import CompileError, compile_config
    from fastgw.config.load import ConfigError
    from fastgw.config.load import load as load_config

    text = to_yaml(config, "placeholder")
    try:
        loaded = load_config("<rendered>", text=text, env={})
        try:
            compile_config(loaded.config, loaded.source.file)
        except CompileError as exc:
            raise exc.located(loaded) from None
    except ConfigError as exc:
        return str(exc).splitlines()
    return []
