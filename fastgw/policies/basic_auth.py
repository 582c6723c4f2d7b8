"""basicAuth: HTTP Basic authentication (RFC 7617) against an htpasswd database.

A rejected or unauthenticated (strict) request gets 401 with `WWW-Authenticate: Basic
realm="…"`. The user becomes `basicAuth.username` for CEL, and the Authorization field is taken
off the request before it goes upstream. bcrypt is slow on purpose, so a bcrypt check runs off
the event loop, and a password that verified is remembered per worker (by a salted digest, never
the password) so a client sending the same credentials again costs a hash, not a bcrypt round.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import os
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from fastgw.cel import vars_of
from fastgw.config.schema_base import FileRef
from fastgw.policies.credentials import Location, location_of
from fastgw.policies.denial import unauthorized
from fastgw.policies.htpasswd import Entry, HtpasswdError, parse
from fastgw.policies.kind import PolicyKind, Site

if TYPE_CHECKING:
    from fastgw.config.schema_policies import BasicAuth as BasicAuthSpec
    from fastgw.context import RequestContext

__all__ = ["BasicAuth", "build"]

_BASIC: Final = Location("header", b"authorization", b"Basic ")
_CACHE_MAX: Final = 1024


@dataclass(slots=True)
class BasicAuth:
    name = "basicAuth"
    users: dict[str, Entry]
    realm: str
    mode: str
    location: Location = _BASIC
    llm: bool = False
    _salt: bytes = field(default_factory=lambda: os.urandom(16))
    _verified: dict[bytes, str] = field(default_factory=dict)

    @property
    def challenge(self) -> bytes:
        realm = self.realm.replace("\\", "\\\\").replace('"', '\\"')
        return f'Basic realm="{realm}"'.encode()

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        raw = self.location.read(ctx.request)
        if raw is None:
            if self.mode == "strict":
                raise unauthorized(ctx, self.llm, "no credentials", self.challenge)
            return None
        try:
            user_b, sep, password = base64.b64decode(raw, validate=True).partition(b":")
            user = user_b.decode("utf-8")
        except (binascii.Error, ValueError):
            raise unauthorized(ctx, self.llm, "malformed credentials", self.challenge) from None
        entry = self.users.get(user) if sep else None
        if entry is None:
            raise unauthorized(ctx, self.llm, "invalid credentials", self.challenge)
        memo = hashlib.sha256(self._salt + raw).digest()
        if self._verified.get(memo) == user:
            self._accept(ctx, user)
            return None
        if entry.slow:
            return self._check_off_loop(ctx, user, entry, password, memo)
        self._settle(ctx, user, entry.check(password), memo)
        return None

    async def _check_off_loop(self, ctx: RequestContext, user: str, entry: Entry, password: bytes, memo: bytes) -> None:
        ok = await asyncio.get_running_loop().run_in_executor(None, entry.check, password)
        self._settle(ctx, user, ok, memo)

    def _settle(self, ctx: RequestContext, user: str, ok: bool, memo: bytes) -> None:
        if not ok:
            raise unauthorized(ctx, self.llm, "invalid credentials", self.challenge)
        verified = self._verified
        if len(verified) >= _CACHE_MAX:
            del verified[next(iter(verified))]
        verified[memo] = user
        self._accept(ctx, user)

    def _accept(self, ctx: RequestContext, user: str) -> None:
        vars_of(ctx).set("basicAuth", {"username": user})
        self.location.remove(ctx.request)


def build(spec: BasicAuthSpec, site: Site) -> BasicAuth | None:
    path, errors = site.path, site.errors
    llm = site.llm
    loc = spec.authorization_location
    if loc is not None and loc.expression is not None:
        errors.append(f"{path}.authorizationLocation.expression: not supported yet: expression locations")
        return None
    source = spec.htpasswd
    try:
        if isinstance(source, FileRef):
            with open(source.file, encoding="utf-8") as fh:
                text = fh.read()
        else:
            text = source
        users = parse(text)
    except OSError as exc:
        errors.append(f"{path}.htpasswd.file: cannot read: {exc.strerror}")
        return None
    except (HtpasswdError, UnicodeDecodeError) as exc:
        errors.append(f"{path}.htpasswd: {exc}")
        return None
    return BasicAuth(users, spec.realm or "fastgw", spec.mode, location_of(loc, _BASIC), llm)


KIND: Final[PolicyKind[BasicAuthSpec]] = PolicyKind(
    "basicAuth", lambda p: p.basic_auth, build, listener=lambda p: p.basic_auth
)
