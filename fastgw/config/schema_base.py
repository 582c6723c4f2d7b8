"""Schema building blocks shared by every section: the base Struct, value kinds, small shared shapes.

Conventions (compile.py relies on them):
- Every config object derives from `Spec`: frozen, keyword-only, unknown keys rejected, camelCase on
  the wire; a Python attribute is the snake_case of the YAML key (`path_prefix` <- `pathPrefix`), and
  keys camel-renaming cannot reproduce are spelled with `msgspec.field(name=...)` (`openAI`).
- Class-level markers read by the loader's validator (`fastgw/config/validate.py`), not by msgspec:
  `NOT_SUPPORTED` — agentgateway keys that are valid there but not parsed by fastgw yet (reported as
  "not supported yet: <key>" instead of "unknown field"); `NOT_SUPPORTED_CHECKED` — keys fastgw parses
  and type-checks but does not implement yet: setting one is a compile error "not supported yet: <key>"
  (`config/support.py`); `PARTLY_SUPPORTED` — key -> what is not supported yet about it (the compiler
  enforces the limit, the reference and README's table show the text); `NOT_SUPPORTED_SCALARS` — string shorthands
  agentgateway allows where fastgw expects an object; `ONE_OF` — groups of keys of which exactly one
  must be set; `AT_MOST_ONE` — groups of keys of which at most one may be set; `problems()` —
  semantic checks, run once the object parsed cleanly.
- Value kinds are `Annotated` markers: `Duration` (float seconds, written "100ms"/"1m30s"),
  `HostPort` ("host:port", port 1..65535), `Regex` (must compile), `Secret` (never echoed in errors).
- Field docstrings (a string literal after the field) are the config reference; `config_json_schema()`
  copies them into the JSON Schema.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Literal

import msgspec

Duration = Annotated[
    float,
    msgspec.Meta(
        extra={"fastgw": "duration"},
        extra_json_schema={"format": "duration", "examples": ["100ms", "5s", "1m30s"]},
    ),
]
"""A duration written as a string with units ("100ms", "5s", "1m", "1h", "1m30s"); stored as float seconds."""

HostPort = Annotated[str, msgspec.Meta(extra={"fastgw": "hostport"}, extra_json_schema={"format": "host-port"})]
"""An upstream address "host:port" (IPv6 as "[::1]:8080"); the port is required."""

Regex = Annotated[str, msgspec.Meta(extra={"fastgw": "regex"}, extra_json_schema={"format": "regex"})]
"""A regular expression (Python `re` syntax, compatible with the RE2 subset agentgateway uses)."""

Secret = Annotated[str, msgspec.Meta(extra={"fastgw": "secret"}, extra_json_schema={"writeOnly": True})]
"""A credential; its value never appears in error messages, logs or config dumps."""

HttpStatus = Annotated[int, msgspec.Meta(ge=100, le=599)]
"""An HTTP status code."""

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
"""A TCP port."""

Problems = Iterator[tuple[str | tuple[str | int, ...], str]]
"""(YAML key of the offending field, "" for the object itself, or a relative key path; message)."""


def ip_problem(host: str) -> str | None:
    """Why `host` is not an IP address to listen on (None when it is)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return f"expected an IP address such as 127.0.0.1, 0.0.0.0 or ::1, not {host!r}"
    return None


def listen_addr_problem(text: str) -> str | None:
    """Why `text` is not a listening address "ip:port" ("[v6]:port", "localhost:port"), or None."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        return f'expected "ip:port" (port 1..65535) or "off", not {text!r}'
    host = host.strip("[]")
    return None if host in ("", "localhost") else ip_problem(host)


class Spec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Base of every config object."""

    NOT_SUPPORTED: ClassVar[frozenset[str]] = frozenset()
    NOT_SUPPORTED_CHECKED: ClassVar[frozenset[str]] = frozenset()
    PARTLY_SUPPORTED: ClassVar[dict[str, str]] = {}
    NOT_SUPPORTED_SCALARS: ClassVar[frozenset[str]] = frozenset()
    ONE_OF: ClassVar[tuple[tuple[str, ...], ...]] = ()
    AT_MOST_ONE: ClassVar[tuple[tuple[str, ...], ...]] = ()

    def problems(self) -> Problems:
        """Semantic checks beyond types; overridden where a section has cross-field rules."""
        return iter(())


class FileRef(Spec, frozen=True, kw_only=True):
    """`{file: path}`: read the value from a file at load/compile time instead of inlining it."""

    file: str
    """Path of the file, relative to the working directory of the gateway."""


FileOrInline = str | FileRef
"""An inline string or `{file: path}`."""

SecretOrFile = Secret | FileRef
"""An inline secret or `{file: path}`."""


class FileOrUrl(Spec, frozen=True, kw_only=True):
    """`{file: path}` or `{url: https://...}` (used for JWKS, OpenAPI documents)."""

    ONE_OF = (("file", "url"),)
    file: str | None = None
    """Path of a local file."""
    url: str | None = None
    """URL fetched by the gateway."""


FileInlineOrRemote = str | FileOrUrl
"""An inline document, `{file: path}` or `{url: ...}`."""

SecretInlineOrRemote = Secret | FileOrUrl
"""An inline document that may hold key material (a JWKS with an HMAC key: redacted in dumps),
`{file: path}` or `{url: ...}`."""


class StringMatch(Spec, frozen=True, kw_only=True):
    """Exactly one of `exact` or `regex`."""

    ONE_OF = (("exact", "regex"),)
    exact: str | None = None
    """The value must equal this string."""
    regex: Regex | None = None
    """The whole value must match this regular expression."""


class HeaderMatch(Spec, frozen=True, kw_only=True):
    """A request header condition, e.g. `{name: x-team, value: {exact: blue}}`."""

    name: str
    """Header name (case-insensitive) or pseudo-header such as `:authority`."""
    value: StringMatch
    """How the header value must match."""


class HeaderModifier(Spec, frozen=True, kw_only=True):
    """Static header edits: `{add: {k: v}, set: {k: v}, remove: [k]}`."""

    add: dict[str, str] = {}
    """Headers appended, keeping existing values."""
    set: dict[str, str] = {}
    """Headers set, replacing existing values."""
    remove: list[str] = []
    """Header names removed."""


class HeaderLocation(Spec, frozen=True, kw_only=True):
    """A header carrying a credential, with an optional value prefix such as "Bearer "."""

    name: str
    """Header name."""
    prefix: str | None = None
    """Text before the credential in the header value (e.g. "Bearer ")."""


class NameOnly(Spec, frozen=True, kw_only=True):
    """`{name: ...}` (query parameter or cookie locations)."""

    name: str
    """Parameter or cookie name."""


class KeyLocation(Spec, frozen=True, kw_only=True):
    """Where a credential is read from (inbound) or written to (backend): exactly one of the kinds."""

    NOT_SUPPORTED_CHECKED = frozenset({"queryParameter", "cookie", "expression"})
    ONE_OF = (("header", "queryParameter", "cookie", "expression"),)
    header: HeaderLocation | None = None
    """An HTTP header."""
    query_parameter: NameOnly | None = None
    """A URL query parameter."""
    cookie: NameOnly | None = None
    """A cookie."""
    expression: str | None = None
    """A CEL expression returning the credential (read side only)."""


class BackendRef(Spec, frozen=True, kw_only=True):
    """A side service address: `{host: "h:p"}` or `{backend: <name of a top-level backend>}`."""

    NOT_SUPPORTED = frozenset({"service"})
    ONE_OF = (("host", "backend", "service"),)
    host: HostPort | None = None
    """Static "host:port"."""
    backend: str | None = None
    """Name of an entry in the top-level `backends` list."""


RouteType = Literal[
    "completions",
    "messages",
    "models",
    "passthrough",
    "detect",
    "responses",
    "embeddings",
    "realtime",
    "anthropicTokenCount",
    "generateContent",
    "geminiCountTokens",
    "rerank",
]
"""How an LLM request path is handled (see `policies.ai.routes`)."""

JsonObject = dict[str, Any]
"""Free-form JSON object (request body fields, metadata)."""
