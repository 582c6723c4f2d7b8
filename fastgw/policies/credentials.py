"""Where a client's credential sits on a request (`location:` of jwtAuth, apiKey, basicAuth):
a header with an optional value prefix, a query parameter, or a cookie. Read it, and remove it
before the request goes upstream (a gateway that authenticated a client does not hand the
client's credential to the backend unless told to)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

if TYPE_CHECKING:
    from fastgw.config.schema_base import KeyLocation
    from fastgw.http.request import Request

__all__ = ["BEARER", "Location", "location_of"]


@dataclass(frozen=True, slots=True)
class Location:
    kind: str  # "header" | "query" | "cookie"
    name: bytes  # lowercase for headers
    prefix: bytes = b""

    def read(self, req: Request) -> bytes | None:
        """The credential, or None when the request carries none here. A header whose value does
        not start with the prefix (compared case-insensitively, RFC 9110 §11.1 for the scheme)
        carries none."""
        if self.kind == "header":
            name = self.name
            for n, v in req.headers:
                if n == name:
                    prefix = self.prefix
                    if prefix:
                        if len(v) < len(prefix) or v[: len(prefix)].lower() != prefix.lower():
                            return None
                        v = v[len(prefix) :]
                    v = v.strip(b" \t")
                    return v or None
            return None
        if self.kind == "query":
            for part in req.query.split(b"&"):
                key, sep, value = part.partition(b"=")
                if sep and unquote_to_bytes(key.replace(b"+", b" ")) == self.name:
                    return unquote_to_bytes(value.replace(b"+", b" ")) or None
            return None
        for n, v in req.headers:
            if n == b"cookie":
                for item in v.split(b";"):
                    key, sep, value = item.strip().partition(b"=")
                    if sep and key == self.name:
                        return value.strip(b'"') or None
        return None

    def remove(self, req: Request) -> None:
        """Take the credential off the request."""
        if self.kind == "header":
            req.headers = [(n, v) for n, v in req.headers if n != self.name]
        elif self.kind == "query":
            kept = []
            for part in req.query.split(b"&"):
                key = part.partition(b"=")[0]
                if unquote_to_bytes(key.replace(b"+", b" ")) != self.name:
                    kept.append(part)
            req.query = b"&".join(kept)
        else:
            out = []
            for n, v in req.headers:
                if n == b"cookie":
                    items = [i for i in v.split(b";") if i.strip().partition(b"=")[0] != self.name]
                    if not items:
                        continue
                    v = b";".join(items).strip()
                out.append((n, v))
            req.headers = out


BEARER = Location("header", b"authorization", b"Bearer ")


def location_of(spec: KeyLocation | None, default: Location = BEARER) -> Location:
    """The configured location (`header`, `queryParameter`, `cookie`); `expression` is reported
    by the caller as not supported."""
    if spec is None:
        return default
    if spec.header is not None:
        return Location("header", spec.header.name.lower().encode(), (spec.header.prefix or "").encode())
    if spec.query_parameter is not None:
        return Location("query", spec.query_parameter.name.encode())
    if spec.cookie is not None:
        return Location("cookie", spec.cookie.name.encode())
    return default
