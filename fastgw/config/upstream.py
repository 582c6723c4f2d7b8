"""What the config says about reaching an upstream, read one way for every backend kind (plain
`host:` backends, LLM providers, the ext_authz service): its origin (host, port, TLS settings from
`backendTLS`) and the credential sent to it (`backendAuth.key`, an inline secret or a file).

Runs at compile time only; problems are appended to `errors` as `key.path: message`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastgw.config.schema_base import FileRef, HeaderLocation, SecretOrFile
from fastgw.config.schema_policies import BackendAuth, BackendTls
from fastgw.upstream.origin import Origin

__all__ = ["BackendKey", "backend_key", "origin", "read_secret_file", "secret_text", "split_host_port"]


def split_host_port(text: str) -> tuple[str, int]:
    """ "host:port" (IPv6 as "[::1]:8080"; the schema has checked the port is there)."""
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def origin(host: str, port: int, tls: BackendTls | None, *, secure: bool | None = None) -> Origin:
    """An upstream origin. `tls` is the backendTLS spec in force (None: the defaults, system CAs
    and full checks); `secure` says whether to speak TLS at all (default: when `tls` is set)."""
    if secure is None:
        secure = tls is not None
    if tls is None:
        return Origin(host=host, port=port, tls=secure)
    return Origin(
        host=host,
        port=port,
        tls=secure,
        sni=tls.hostname,
        verify=not tls.insecure,
        verify_host=not tls.insecure_host,
        ca=tls.root,
        cert=tls.cert,
        key=tls.key,
    )


def read_secret_file(file: str, path: str, errors: list[str]) -> str:
    try:
        with open(file, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError as exc:
        errors.append(f"{path}: cannot read key file: {exc.strerror}")
        return ""


def secret_text(value: SecretOrFile, path: str, errors: list[str]) -> str:
    """An inline secret, or the stripped content of a `{file: path}` reference."""
    if isinstance(value, FileRef):
        return read_secret_file(value.file, path, errors)
    return value


@dataclass(frozen=True, slots=True)
class BackendKey:
    """`backendAuth.key` read: the credential, and the header it goes in when the config names
    one (None: the backend kind's usual header, `authorization: Bearer` or the provider's)."""

    text: str
    header: HeaderLocation | None = None


def backend_key(auth: BackendAuth, path: str, errors: list[str]) -> BackendKey | None:
    """The key of a `backendAuth` (None when it has none: passthrough, or a kind not supported,
    which the caller reports in its own words)."""
    key = auth.key
    if key is None:
        return None
    if isinstance(key, str):
        return BackendKey(key)
    if key.value is not None:
        text = secret_text(key.value, f"{path}.key.value", errors)
    else:
        assert key.file is not None  # the schema's ONE_OF
        text = read_secret_file(key.file, f"{path}.key.file", errors)
    location = key.location
    if location is not None and location.header is None:
        errors.append(f"{path}.key.location: not supported yet: non-header key locations")
    return BackendKey(text, location.header if location is not None else None)
