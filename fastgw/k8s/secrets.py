"""Secrets a rendered config needs. They are never written into the config: each becomes a
reference, `$ENV` (the default) or `{file: DIR/<namespace>/<name>/<key>}`, and the render says
which variables or files it needs.

A Secret value that is exactly a shell reference (`$ANTHROPIC_API_KEY`, as the seeds' heredocs
hold before the shell expands them) is read from that variable; any other value is read from a
variable named after the Secret (`GLOO_SYSTEM_ANTHROPIC_SECRET_AUTHORIZATION`), or written to a
file with `--secrets-dir`.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fastgw.k8s.fields import Fields
from fastgw.k8s.manifests import ManifestSet

_SHELL_REF = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
# agentgateway: "A `Bearer ` prefix is stripped only from the default `Authorization` key"
DEFAULT_KEY = "Authorization"


@dataclass(frozen=True)
class SecretUse:
    """One secret value a config reads."""

    origin: str  # "Secret gloo-system/anthropic-secret, key Authorization"
    file_parts: tuple[str, ...]  # its file below a secrets dir: (namespace, name, key)
    value: str  # as the manifest holds it (decoded)
    strip_bearer: bool

    @property
    def shell_name(self) -> str | None:
        """The variable of a value that is one unexpanded shell reference."""
        m = _SHELL_REF.fullmatch(self.value.strip())
        return (m.group(1) or m.group(2)) if m else None

    @property
    def env_name(self) -> str:
        return self.shell_name or re.sub(r"[^A-Za-z0-9]", "_", "_".join(self.file_parts)).upper()

    def file_path(self, secrets_dir: str) -> str:
        return str(Path(secrets_dir, *self.file_parts))

    def resolved(self, env: Mapping[str, str], shell_refs: bool = True) -> str | None:
        """The value to write to a file (None: a shell reference to an unset variable). In a
        cluster (`shell_refs=False`) values are taken as they are: a Secret's author must not be
        able to make the controller send its own environment to a backend."""
        name = self.shell_name if shell_refs else None
        value = self.value if name is None else env.get(name)
        if value is None:
            return None
        value = value.strip()
        if self.strip_bearer and value[:7].lower() == "bearer ":
            value = value[7:].lstrip()
        return value


@dataclass(frozen=True)
class SecretRef:
    """Stands in the rendered config where a secret goes; output.py writes the reference."""

    use: SecretUse


class SecretBook:
    """Finds referenced Secrets in the manifest set and records every use."""

    def __init__(self, manifests: ManifestSet) -> None:
        self.manifests = manifests
        self.uses: dict[tuple[str, ...], SecretUse] = {}

    def from_secret(self, at: Fields, key_field: str, name: str, key: str | None, used_by: str) -> SecretRef | None:
        """A `secretRef` of `at.res` (secretRefs are namespace-local); errors name both sides."""
        ns = at.res.namespace
        secret = self.manifests.get("Secret", ns, name)
        the_key = key or DEFAULT_KEY
        suffix = f" (used by {used_by})" if used_by else ""
        if secret is None:
            at.error(key_field, f"Secret {ns}/{name} not found{suffix}")
            return None
        data = secret.obj.get("data") or {}
        string_data = secret.obj.get("stringData") or {}
        value: str | None = None
        if isinstance(string_data, dict) and the_key in string_data:  # stringData wins, as the API server merges it
            raw = string_data[the_key]
            value = raw if isinstance(raw, str) else str(raw)
        elif isinstance(data, dict) and the_key in data:
            value = _decode(data[the_key])
            if value is None:
                at.error(key_field, f"Secret {ns}/{name} key {the_key}: not valid base64-encoded UTF-8 text{suffix}")
                return None
        if value is None:
            keys = sorted(
                {*(data if isinstance(data, dict) else {}), *(string_data if isinstance(string_data, dict) else {})}
            )
            have = ", ".join(keys) if keys else "none"
            at.error(key_field, f"Secret {ns}/{name} has no key {the_key} (its keys: {have}){suffix}")
            return None
        use = SecretUse(
            origin=f"Secret {ns}/{name}, key {the_key}",
            file_parts=(ns, name, the_key),
            value=value,
            strip_bearer=key is None or key == DEFAULT_KEY,
        )
        self.uses.setdefault(use.file_parts, use)
        return SecretRef(use)

    def inline(self, at: Fields, key_field: str, value: str) -> SecretRef:
        """A key written inline in a backend manifest: still kept out of the rendered config."""
        res = at.res
        fld = at.name(key_field)
        use = SecretUse(
            origin=f"{res.ref} {fld} (inline)",
            file_parts=(res.namespace, f"{res.kind.lower()}-{res.name}", fld),
            value=value,
            strip_bearer=False,
        )
        self.uses.setdefault(use.file_parts, use)
        return SecretRef(use)


def write_files(uses: list[SecretUse], secrets_dir: str, env: Mapping[str, str], shell_refs: bool = True) -> list[str]:
    """Write each secret to its file (mode 0600, directories 0700); returns the problems."""
    problems = []
    for use in uses:
        value = use.resolved(env, shell_refs)
        if value is None:
            problems.append(f"{use.origin} holds the shell reference ${use.shell_name}, which is not set")
            continue
        path = Path(use.file_path(secrets_dir))
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(value)
        os.chmod(tmp, 0o600)  # an existing file keeps its mode through O_CREAT
        os.replace(tmp, path)
    return problems


def _decode(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
